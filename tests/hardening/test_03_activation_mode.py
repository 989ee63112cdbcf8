"""Issue 12, point 3: activation mode (the firmware's ACTSTART, reference §2.3-§2.5).  An EV still at
9 V 30 s after the PWM appeared in state B gets the pilot at -12 V (0 % duty) for 3 s, then PWM
again; once per B episode, not evaluated meanwhile; configurable (``[controller] activation_mode``),
on by default.  The simulated EV reacts like a real sleeping one: it ignores the PWM until the
pulse wakes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.sim import SimModel, SimOptions
from chargepoint.config import load_config
from chargepoint.controller import Authorize, Controller, ControllerSettings, SubState
from chargepoint.harness.sim_rig import SimRig
from chargepoint.runtime import controller_settings
from hal.types import PilotLevel, PilotMode, PilotReading, SetPilot
from scenarios.runner import replay
from scenarios.schema import load_scenario
from tests.controller.helpers import Drive, contactors, pilots


def _b2(d: Drive, t: float = 1.0) -> float:
    """Plug, authorise and lock: B2; returns when the PWM appeared (the lock's feedback)."""
    d.to_b2(t)
    return next(tt for tt, o in d.log if isinstance(o, SetPilot) and o.mode is PilotMode.PWM)


def _pilot_log(d: Drive) -> list[tuple[float, PilotMode, int]]:
    return [(round(t, 3), o.mode, o.duty_permille) for t, o in d.log if isinstance(o, SetPilot)]


def test_an_ev_at_9v_for_30_s_gets_3_s_at_minus_12v_then_pwm_once() -> None:
    d = Drive()
    t_pwm = _b2(d)
    d.until(t_pwm + 29.99)
    assert all(m is not PilotMode.ACTIVATE for _, m, _ in _pilot_log(d))
    d.until(t_pwm + 120.0)
    log = [e for e in _pilot_log(d) if e[0] >= t_pwm + 1.0]
    assert log == [(round(t_pwm + 30.0, 3), PilotMode.ACTIVATE, 0), (round(t_pwm + 33.0, 3), PilotMode.PWM, 100)]
    assert d.snap().substate == SubState.B2 and not d.snap().contactor_c1


def test_the_pulse_keeps_state_b_and_offers_nothing_meanwhile() -> None:
    d = Drive()
    t_pwm = _b2(d)
    d.until(t_pwm + 31.0)
    s = d.snap()
    assert s.substate == SubState.B2 and s.iec_state == "B" and s.offered_current_a == 0.0
    assert s.pwm_duty_permille == 0 and not s.contactor_c1


def test_an_ev_that_answers_in_time_gets_no_pulse() -> None:
    d = Drive()
    t_pwm = _b2(d)
    d(PilotReading(1, PilotLevel.V6), t_pwm + 5.0)
    d.until(t_pwm + 60.0)
    assert d.snap().substate == SubState.C2
    assert all(m is not PilotMode.ACTIVATE for _, m, _ in _pilot_log(d))


def test_activation_mode_off() -> None:
    d = Drive(activation_mode=False)
    t_pwm = _b2(d)
    d.until(t_pwm + 120.0)
    assert all(m is not PilotMode.ACTIVATE for _, m, _ in _pilot_log(d))


def test_readings_during_the_pulse_count_only_after_it() -> None:
    d = Drive()
    t_pwm = _b2(d)
    d.until(t_pwm + 30.0)
    t_on = t_pwm + 30.0
    d(PilotReading(1, PilotLevel.NOK), t_on + 0.5)  # the -12 V level is no valid reading: ignored
    d(PilotReading(1, PilotLevel.V6), t_on + 1.0)  # the EV woke up
    d.until(t_on + 2.9)
    assert not d.snap().faults and d.snap().substate == SubState.B2 and not d.snap().contactor_c1
    d.until(t_on + 3.0)  # the pulse ends; the 6 V counts from now: > 500 ms debounce, then C
    assert d.snap().substate == SubState.B2
    d.until(t_on + 3.6)
    assert d.snap().substate == SubState.C2 and d.snap().contactor_c1


def test_unplugging_during_the_pulse_ends_in_a_after_it() -> None:
    d = Drive()
    t_pwm = _b2(d)
    d.until(t_pwm + 30.5)
    d(PilotReading(1, PilotLevel.V12), t_pwm + 31.0)
    d.until(t_pwm + 33.0)
    assert d.snap().substate == SubState.A
    assert _pilot_log(d)[-1][1] is PilotMode.CONSTANT and not d.snap().contactor_c1


def test_deauthorising_during_the_pulse_stops_it() -> None:
    d = Drive()
    t_pwm = _b2(d)
    d.until(t_pwm + 31.0)
    outs = d(Authorize(1, False), t_pwm + 31.0)
    assert d.snap().substate == SubState.B1 and [p.mode for p in pilots(outs)] == [PilotMode.CONSTANT]
    assert contactors(outs) == []


def test_a_new_b_episode_arms_it_again_but_not_c_to_b() -> None:
    d = Drive()
    t_pwm = _b2(d)
    d(PilotReading(1, PilotLevel.V6), t_pwm + 1.0)
    d.until(t_pwm + 2.0)
    assert d.snap().substate == SubState.C2
    d(PilotReading(1, PilotLevel.V9), t_pwm + 10.0)  # the EV pauses by itself: C -> B
    assert d.snap().substate == SubState.B2
    d.until(t_pwm + 100.0)
    assert all(m is not PilotMode.ACTIVATE for _, m, _ in _pilot_log(d))  # C -> B: no re-arm (firmware)
    d(Authorize(1, False), t_pwm + 100.0)
    d(Authorize(1, True), t_pwm + 101.0)  # B1 -> B2: a new B episode
    d.until(t_pwm + 200.0)
    assert any(m is PilotMode.ACTIVATE for _, m, _ in _pilot_log(d))


def test_config_key(tmp_path: Path) -> None:
    assert controller_settings(load_config(None)).activation_mode is True  # on by default
    f = tmp_path / "c.toml"
    f.write_text("[controller]\nactivation_mode = false\n", encoding="utf-8")
    assert controller_settings(load_config(f)).activation_mode is False


# --------------------------------------------------------------------------- with the simulated EV
@pytest.mark.parametrize("enabled", [True, False])
def test_sim_sleeping_ev_is_woken_by_the_pulse(enabled: bool) -> None:
    model = SimModel(SimOptions(ev_asleep=True))
    rig = SimRig(Controller(ControllerSettings(activation_mode=enabled), model.capabilities), model)
    model.plug(1, 32.0, now=rig.now)
    rig.feed(Authorize(1, True))
    rig.run_for(29.0)
    assert rig.controller.snapshot(1).substate == SubState.B2 and model.state(1)["ev_asleep"] is True
    rig.run_for(2.0)
    if enabled:
        assert model.state(1)["pilot_mode"] == "activate" and model.state(1)["ev_asleep"] is False
    rig.run_for(30.0)
    s = rig.controller.snapshot(1)
    if enabled:
        assert s.substate == SubState.C2 and max(model.ev_current(1)) == 16.0
    else:
        assert s.substate == SubState.B2 and model.energy_wh(1) == 0.0  # it sleeps on


def test_library_scenario_sleeping_ev() -> None:
    run = replay(load_scenario("scenarios/library/ev_asleep_activation.yaml"))
    assert run.passed, [f"{r.summary}: {r.actual}" for r in run.results if not r.passed]
