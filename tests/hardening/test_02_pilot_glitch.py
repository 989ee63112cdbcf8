"""Issue 12, point 2: a pilot glitch -- a reading of the pilot as shorted (0 V) or at no valid level
(NOK) -- shorter than the firmware's debounce (> 50 ticks of 10 ms = 500 ms, reference §2.4/§2.5)
does not drop the session; a sustained one does, after the debounce: Fault.PILOT, state E,
contactors open in that step."""

from __future__ import annotations

import pytest

from backends.sim import SimModel, SimOptions
from chargepoint.controller import Authorize, Controller, ControllerSettings, Fault, FaultChanged, SubState
from chargepoint.harness.sim_rig import SimRig
from hal.types import PilotLevel, PilotReading, SetContactors
from tests.controller.helpers import Drive, contactors, states

GLITCH_LEVELS = [PilotLevel.SHORT, PilotLevel.NOK]


@pytest.mark.parametrize("level", GLITCH_LEVELS)
@pytest.mark.parametrize("length", [0.01, 0.3, 0.49, 0.5])
def test_a_glitch_up_to_500_ms_during_c_keeps_charging(level: PilotLevel, length: float) -> None:
    d = Drive()
    d.to_charging()
    seen = len(d.log)
    d(PilotReading(1, level), 20.0)
    d.until(20.0 + length)
    outs = d(PilotReading(1, PilotLevel.V6), 20.0 + length)
    assert contactors(outs) == [] and d.snap().substate == SubState.C2 and d.snap().contactor_c1
    assert not any(isinstance(o, FaultChanged | SetContactors) for _, o in d.log[seen:])
    assert states([o for _, o in d.log[seen:]]) == []


@pytest.mark.parametrize("level", GLITCH_LEVELS)
def test_a_sustained_invalid_pilot_opens_after_the_debounce(level: PilotLevel) -> None:
    d = Drive()
    d.to_charging()
    d(PilotReading(1, level), 20.0)
    assert d.c.next_deadline() == pytest.approx(20.501)
    d.tick(20.5)
    assert d.snap().substate == SubState.C2 and not d.snap().faults  # exactly 500 ms: not yet
    outs = d.tick(20.501)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.E
    assert Fault.PILOT in d.snap().faults
    fc = [o for o in outs if isinstance(o, FaultChanged)]
    assert fc and "for more than 0.5 s" in fc[0].detail
    d(PilotReading(1, PilotLevel.V9), 22.0)  # a valid reading clears it; recovery through B1
    assert not d.snap().faults and d.snap().substate == SubState.B1


def test_unplugging_during_c_is_not_debounced() -> None:
    d = Drive()
    d.to_charging()
    outs = d(PilotReading(1, PilotLevel.V12), 20.0)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.A


def test_repeated_glitches_each_restart_the_debounce() -> None:
    d = Drive()
    d.to_charging()
    t = 20.0
    for _ in range(10):  # 10 x (400 ms shorted, 50 ms valid): never 500 ms in a row
        d(PilotReading(1, PilotLevel.SHORT), t)
        d.until(t + 0.4)
        d(PilotReading(1, PilotLevel.V6), t + 0.4)
        t += 0.45
    assert d.snap().substate == SubState.C2 and not d.snap().faults


def test_a_glitch_in_b_does_not_start_charging_meanwhile() -> None:
    d = Drive()
    d.to_b2(1.0)
    d(PilotReading(1, PilotLevel.V6), 2.0)
    d(PilotReading(1, PilotLevel.NOK), 2.3)
    d.tick(2.6)  # 6 V seen > 500 ms ago, but the pilot reads invalid now: no B -> C
    assert d.snap().substate == SubState.B2 and not d.snap().contactor_c1
    d(PilotReading(1, PilotLevel.V6), 2.7)
    assert d.snap().substate == SubState.C2  # the 6 V episode was not reset by the glitch


# --------------------------------------------------------------------------- with the simulated EV
def _charging_rig() -> tuple[SimRig, SimModel]:
    model = SimModel(SimOptions())
    rig = SimRig(Controller(ControllerSettings(), model.capabilities), model)
    model.plug(1, 32.0, now=rig.now)
    rig.feed(Authorize(1, True))
    rig.run_for(20.0)
    assert rig.controller.snapshot(1).substate == SubState.C2
    return rig, model


def _short(rig: SimRig, model: SimModel, seconds: float) -> None:
    model.inject_fault(1, "pilot_short", True, now=rig.now)
    rig.run_for(seconds)
    model.inject_fault(1, "pilot_short", False, now=rig.now)
    rig.run_for(0.0)


def test_sim_300_ms_short_keeps_the_session_and_the_energy_flowing() -> None:
    rig, model = _charging_rig()
    before = model.energy_wh(1)
    _short(rig, model, 0.3)
    rig.run_for(10.0)
    s = rig.controller.snapshot(1)
    assert s.substate == SubState.C2 and not s.faults and s.contactor_c1
    assert model.energy_wh(1) > before and max(model.ev_current(1)) > 0


def test_sim_sustained_short_drops_to_e_after_501_ms() -> None:
    rig, model = _charging_rig()
    t0 = rig.now
    opened: list[float] = []
    rig.on_step = lambda inp, outs, now: opened.extend(now for o in outs if isinstance(o, SetContactors) and not o.c1)
    _short(rig, model, 2.0)
    s = rig.controller.snapshot(1)
    assert Fault.PILOT not in s.faults  # the short is gone: a valid reading cleared it
    assert opened and opened[0] - t0 == pytest.approx(0.501, abs=1e-6)
