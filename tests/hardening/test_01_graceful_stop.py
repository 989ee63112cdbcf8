"""Issue 12, point 1: over-temperature and EV-meter loss are *power unavailable* conditions, as in the
firmware (TEMP_HIGH / EV_NOCOMM -> setStatePowerUnavailable, reference §2.3-§2.4, §3.4): C -> C1 (PWM
withdrawn, the contactors stay closed until the EV stops drawing, at most 6 s) -> B1.  Hard faults
(RCD, weld, pilot, diode, board) still open the contactors in the same step.  Over-temperature
recovers below maxTemp - 10 C."""

from __future__ import annotations

from typing import Any

import pytest

from backends.sim import SimModel, SimOptions
from chargepoint.controller import Authorize, Controller, ControllerSettings, Fault, SubState
from chargepoint.harness.sim_rig import SimRig
from hal.types import (
    BoardCapabilities,
    BoardFault,
    BoardStateReport,
    MeterStatus,
    PilotLevel,
    PilotMode,
    PilotReading,
    RcdReading,
    RequestBoardState,
    SetContactors,
    TemperatureReading,
)
from scenarios.runner import replay
from scenarios.schema import load_scenario
from tests.controller.helpers import Drive, contactors, pilots, states

POWER_UNAVAILABLE = [
    pytest.param(TemperatureReading(1, 70.0), Fault.OVER_TEMPERATURE, id="overtemp"),
    pytest.param(MeterStatus(1, False, "EV meter: no reading for 64 s"), Fault.METER, id="ev-meter-lost"),
]


@pytest.mark.parametrize(("cause", "fault"), POWER_UNAVAILABLE)
def test_power_unavailable_withdraws_pwm_and_opens_when_the_ev_stops(cause: Any, fault: Fault) -> None:
    d = Drive()
    d.to_charging()
    outs = d(cause, 20.0)
    s = d.snap()
    assert fault in s.faults and s.substate == SubState.C1 and s.contactor_c1
    assert contactors(outs) == []  # not opened under load
    assert [p.mode for p in pilots(outs)] == [PilotMode.CONSTANT]  # +12 V: PWM withdrawn at once
    assert s.offered_current_a == 0.0
    outs = d(PilotReading(1, PilotLevel.V9), 20.8)  # the EV stops drawing: S2 open
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.B1
    assert ("C2", "C1") in states([o for _, o in d.log]) and ("C1", "B1") in states(outs)


@pytest.mark.parametrize(("cause", "fault"), POWER_UNAVAILABLE)
def test_an_ev_that_keeps_drawing_is_cut_off_after_6_s(cause: Any, fault: Fault) -> None:
    d = Drive()
    d.to_charging()
    d(cause, 20.0)
    d.tick(25.99)
    assert d.snap().substate == SubState.C1 and d.snap().contactor_c1
    outs = d.tick(26.0)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.B1
    assert fault in d.snap().faults


def test_overtemperature_recovers_below_max_minus_10_and_charges_again() -> None:
    d = Drive(max_temperature_c=65.0)
    d.to_charging()
    d(TemperatureReading(1, 66.0), 20.0)
    d(PilotReading(1, PilotLevel.V9), 21.0)
    assert d.snap().substate == SubState.B1
    d(TemperatureReading(1, 55.0), 40.0)  # not below 55: still too hot (strict, as the firmware)
    d.until(60.0)
    assert Fault.OVER_TEMPERATURE in d.snap().faults and d.snap().substate == SubState.B1
    d(TemperatureReading(1, 54.9), 60.0)
    assert not d.snap().faults
    d(PilotReading(1, PilotLevel.V9), 60.0)
    assert d.snap().substate == SubState.B2  # ChargeDelay and the pilot re-plug are long over


def test_overtemperature_in_b_and_at_plug_in_never_offers_pwm() -> None:
    d = Drive()
    d(TemperatureReading(1, 80.0), 0.5)
    assert d.snap().substate == SubState.A  # nothing plugged: A stays A (firmware)
    d.plug(1.0)
    d(Authorize(1, True), 1.1)
    assert d.snap().substate == SubState.B1 and d.snap().offered_current_a == 0.0
    d(TemperatureReading(1, 30.0), 2.0)
    d(TemperatureReading(1, 80.0), 6.0)
    assert d.snap().substate == SubState.B1 and not d.snap().contactor_c1


@pytest.mark.parametrize(
    "cause",
    [
        pytest.param(RcdReading(1, True), id="rcd"),
        pytest.param(BoardFault(1, "panic", True), id="board"),
    ],
)
def test_hard_faults_still_open_at_once(cause: Any) -> None:
    d = Drive()
    d.to_charging()
    outs = d(cause, 20.0)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.F


def test_hard_fault_during_the_graceful_window_opens_at_once() -> None:
    d = Drive()
    d.to_charging()
    d(TemperatureReading(1, 80.0), 20.0)
    assert d.snap().substate == SubState.C1 and d.snap().contactor_c1
    outs = d(RcdReading(1, True), 21.0)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.F


def test_follower_mode_asks_the_board_for_c1_not_b1() -> None:
    """A board that runs its own state machine (SmartEVSE v4) is asked for C1 (its
    setStatePowerUnavailable) on over-temperature, and for B1 on a hard fault."""
    c = Controller(ControllerSettings(), BoardCapabilities(owns_state_machine=True, has_lock=False))
    c.start(0.0)
    c.handle(BoardStateReport(1, "B1"), 1.0)
    c.handle(Authorize(1, True), 1.1)
    c.handle(BoardStateReport(1, "C"), 3.0)
    outs = c.handle(TemperatureReading(1, 80.0), 10.0)
    c.check_invariants()
    assert [o.state for o in outs if isinstance(o, RequestBoardState)] == ["C1"]
    outs = c.handle(RcdReading(1, True), 10.5)
    c.check_invariants()
    assert [o.state for o in outs if isinstance(o, RequestBoardState)] == ["B1"]


# --------------------------------------------------------------------------- with the simulated EV
def _rig(**opts: Any) -> tuple[SimRig, SimModel, list[tuple[float, Any]]]:
    model = SimModel(SimOptions(**opts))
    ctrl = Controller(ControllerSettings(max_current_a=16.0), model.capabilities)
    log: list[tuple[float, Any]] = []

    def on_step(inp: Any, outs: list[Any], now: float) -> None:
        for o in outs:
            if isinstance(o, SetContactors) and not o.c1:
                log.append((now, ("open", model.ev_current(1))))
        log.extend((now, o) for o in outs)

    rig = SimRig(ctrl, model, on_step=on_step)
    model.plug(1, 32.0, now=rig.now)
    rig.feed(Authorize(1, True))
    rig.run_for(20.0)
    assert ctrl.snapshot(1).substate == SubState.C2 and max(model.ev_current(1)) == 16.0
    return rig, model, log


def test_sim_overtemp_contactors_open_only_after_the_ev_stopped_drawing() -> None:
    rig, model, log = _rig()
    t0 = rig.now
    model.inject_fault(1, "overtemp", True, now=t0)
    rig.run_for(10.0)
    entered = {str(o.new): t for t, o in log if hasattr(o, "new")}
    opened = [(t, o[1]) for t, o in log if isinstance(o, tuple)]
    assert entered["C1"] == pytest.approx(t0) and entered["B1"] > entered["C1"]
    c1_s = entered["B1"] - entered["C1"]
    assert c1_s == pytest.approx(SimOptions().ev_stop_delay_s)  # the sim EV stops 1 s after PWM is gone
    assert c1_s < 6.0
    assert opened and opened[-1][0] == entered["B1"] and opened[-1][1] == (0.0, 0.0, 0.0)
    assert rig.controller.snapshot(1).faults == frozenset({Fault.OVER_TEMPERATURE})


def test_sim_rcd_opens_under_load_at_once() -> None:
    rig, model, log = _rig()
    t0 = rig.now
    model.inject_fault(1, "rcd", True, now=t0)
    rig.run_for(1.0)
    opened = [(t, o[1]) for t, o in log if isinstance(o, tuple)]
    assert opened[-1][0] == pytest.approx(t0) and max(opened[-1][1]) == 16.0  # a hard fault: at once


def test_library_scenario_overtemp_shows_c1_then_b1() -> None:
    run = replay(load_scenario("scenarios/library/fault_overtemp.yaml"))
    assert run.passed, [f"{r.summary}: {r.actual}" for r in run.results if not r.passed]
    changes = [(e.t, e.text) for e in run.events if e.kind == "state"]
    c1 = next(t for t, text in changes if "C2 -> C1" in text and "contactors closed" in text)
    b1 = next(t for t, text in changes if "C1 -> B1" in text and "contactors open" in text)
    assert c1 == pytest.approx(60.0) and 0.0 < b1 - c1 < 6.0
    drawing = [s for s in run.samples if c1 <= s.t < b1 and s.connector == 1]
    assert all(s.offered_a == 0.0 for s in drawing)  # PWM withdrawn during C1
    assert not any(f.action == "StatusNotification" and f.payload.get("errorCode") == "HighTemperature"
                   and f.t < 60.0 for f in run.frames)
