"""The pure simulation model: timings, readings, EV behaviour and exact energy integration."""

from __future__ import annotations

import pytest

from backends.sim import SimModel, SimOptions
from chargepoint.controller import Authorize, Controller, ControllerSettings, SetLimit
from chargepoint.harness.sim_rig import SimRig
from hal.types import (
    ContactorFeedback,
    DiodeReading,
    LockFeedback,
    LockState,
    MeterReading,
    PilotLevel,
    PilotMode,
    PilotReading,
    ProximityReading,
    SetContactors,
    SetLock,
    SetPilot,
)


def _events(model: SimModel, t: float) -> list[object]:
    return model.advance(t)


def test_initial_readings() -> None:
    m = SimModel(SimOptions())
    evs = m.advance(0.0)
    kinds = [type(e).__name__ for e in evs]
    assert kinds[:2] == ["ProximityReading", "PilotReading"]
    assert PilotReading(1, PilotLevel.V12) in evs
    assert ContactorFeedback(1, False, False) in evs
    assert any(isinstance(e, MeterReading) and e.energy_import_wh == 0.0 for e in evs)


def test_relay_and_lock_delays() -> None:
    m = SimModel(SimOptions(meter_interval_s=100.0))
    m.advance(0.0)
    m.apply(SetContactors(1, True, True), 1.0)
    assert m.next_event_time() == pytest.approx(1.03)
    assert not [e for e in m.advance(1.029) if isinstance(e, ContactorFeedback)]
    assert ContactorFeedback(1, True, True) in m.advance(1.03)
    m.apply(SetLock(1, True), 2.0)
    assert not [e for e in m.advance(2.59) if isinstance(e, LockFeedback)]
    assert LockFeedback(1, LockState.LOCKED) in m.advance(2.6)


def test_plug_reports_pp_then_pilot_and_diode_on_pwm() -> None:
    m = SimModel(SimOptions())
    m.advance(0.0)
    m.plug(1, cable_a=20.0, now=1.0)
    evs = [e for e in m.advance(1.0) if not isinstance(e, MeterReading)]
    assert evs == [ProximityReading(1, 680.0), PilotReading(1, PilotLevel.V9)]
    m.apply(SetPilot(1, PilotMode.PWM, 266, 16.0), 2.0)
    assert DiodeReading(1, True) in m.advance(2.0)
    # the EV asks for energy after ev_request_delay_s
    assert PilotReading(1, PilotLevel.V6) in m.advance(3.0)


def test_diode_fault_and_pilot_short() -> None:
    m = SimModel(SimOptions())
    m.advance(0.0)
    m.plug(1, now=0.5)
    m.inject_fault(1, "diode", True, now=0.6)
    m.apply(SetPilot(1, PilotMode.PWM, 266, 16.0), 1.0)
    assert DiodeReading(1, False) in m.advance(1.0)
    m.inject_fault(1, "pilot_short", True, now=1.1)
    assert PilotReading(1, PilotLevel.SHORT) in m.advance(1.1)
    with pytest.raises(ValueError, match="unknown fault 'smoke'"):
        m.inject_fault(1, "smoke", True)


def test_weld_keeps_contactor_closed() -> None:
    m = SimModel(SimOptions())
    m.advance(0.0)
    m.apply(SetContactors(1, True, True), 1.0)
    m.advance(1.1)
    m.inject_fault(1, "weld", True, now=1.2)
    m.apply(SetContactors(1, False, False), 1.3)
    m.advance(2.0)
    assert (m.connector(1).act_c1, m.connector(1).act_c2) == (True, True)


def _session(**opts: object) -> tuple[SimRig, SimModel]:
    model = SimModel(SimOptions(**opts))  # type: ignore[arg-type]
    ctrl = Controller(ControllerSettings(max_current_a=16.0), model.capabilities)
    rig = SimRig(ctrl, model)
    rig.run_until(1.0)
    model.plug(1, 32.0, now=rig.now)
    rig.feed(Authorize(1, True))
    return rig, model


def test_energy_is_the_exact_integral_of_the_drawn_current() -> None:
    rig, model = _session(ev_soc=20.0)
    rig.run_until(10.0)
    # the EV draws 16 A on three phases from the moment its reaction delay passed
    assert model.ev_current(1) == (16.0, 16.0, 16.0)
    e0, t0 = model.energy_wh(1), rig.now
    rig.feed(SetLimit(1, "ocpp", 10.0))  # PWM 10 A; the EV follows after ev_reaction_s = 2 s
    rig.run_until(t0 + 1.99)
    assert model.ev_current(1) == (16.0, 16.0, 16.0)
    rig.run_until(t0 + 2.0)
    assert model.ev_current(1) == (10.0, 10.0, 10.0)
    rig.run_until(t0 + 100.0)
    expected = 230.0 * 3 * (16.0 * 2.0 + 10.0 * 98.0) / 3600.0
    assert model.energy_wh(1) - e0 == pytest.approx(expected, rel=1e-9)


def test_pwm_withdrawn_stops_the_ev() -> None:
    rig, model = _session()
    rig.run_until(10.0)
    rig.feed(SetLimit(1, "ocpp", 0.0))
    rig.run_until(10.99)
    assert model.ev_current(1) != (0.0, 0.0, 0.0)
    rig.run_until(11.0)
    assert model.ev_current(1) == (0.0, 0.0, 0.0)
    assert model.connector(1).ev.level is PilotLevel.V9
    assert rig.controller.snapshot(1).substate == "B1"
    assert model.connector(1).pilot_mode is PilotMode.OFF  # the 5 s "virtual re-plug"


def test_taper_and_full_battery() -> None:
    rig, model = _session(ev_soc=99.0, ev_capacity_kwh=10.0, ev_update_s=5.0)
    rig.run_until(10.0)
    i = model.ev_current(1)[0]
    assert 32.0 * 0.1 < i < 32.0 * 0.2  # near full: 10-20 % of the EV's 32 A maximum
    rig.run_until(4000.0)
    assert model.soc(1) == pytest.approx(100.0)
    assert model.ev_current(1) == (0.0, 0.0, 0.0)
    assert model.connector(1).measured_level() is PilotLevel.V9
    assert rig.controller.snapshot(1).substate == "B2"


def test_options_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="'phases'"):
        SimOptions.from_mapping({"phases": 2})
    with pytest.raises(ValueError, match="'ev_reaction_s'"):
        SimOptions.from_mapping({"ev_reaction_s": 9})
    with pytest.raises(ValueError, match="'has_lock'"):
        SimOptions.from_mapping({"has_lock": "maybe"})
    o = SimOptions.from_mapping({"connectors": "2", "port": "/dev/null", "has_lock": "false"})
    assert o.connectors == 2 and not o.has_lock


def _wakes(model: SimModel, start: float, until: float) -> list[float]:
    """The instants the model wants to be woken at between ``start`` and ``until`` (steady charging)."""
    model.advance(start)
    wakes: list[float] = []
    while (t := model.next_event_time()) is not None and t <= until:
        wakes.append(t)
        model.advance(t)
    return wakes


@pytest.mark.parametrize("aligned", [False, True])
def test_ev_update_with_meter_shares_the_meter_wakeup(aligned: bool) -> None:
    """A fleet member's EV re-evaluates its SoC at its meter readings: one wake-up per meter period
    instead of two (the SoC re-evaluation and the reading, each on its own phase)."""
    rig, model = _session(ev_soc=20.0, meter_interval_s=10.0, ev_update_s=10.0, ev_update_with_meter=aligned)
    rig.run_until(30.0)
    assert model.ev_current(1) == (16.0, 16.0, 16.0)
    wakes = _wakes(model, rig.now, rig.now + 100.0)
    assert len(wakes) == (10 if aligned else 20)
    meter_times = {round(t, 6) for t in wakes}
    assert len(meter_times) == len(wakes)


def test_ev_update_with_meter_still_tapers_and_stops_when_full() -> None:
    rig, model = _session(ev_soc=99.0, ev_capacity_kwh=10.0, ev_update_s=5.0, ev_update_with_meter=True)
    rig.run_until(10.0)
    i = model.ev_current(1)[0]
    assert 32.0 * 0.1 < i < 32.0 * 0.2
    rig.run_until(4000.0)
    assert model.soc(1) == pytest.approx(100.0)
    assert model.ev_current(1) == (0.0, 0.0, 0.0)
    assert rig.controller.snapshot(1).substate == "B2"
