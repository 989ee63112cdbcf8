"""Scenario tests of the pure controller with exact numbers."""

from __future__ import annotations

import pytest

from chargepoint.controller import (
    Authorize,
    Fault,
    FaultChanged,
    OfferedCurrentChanged,
    RequestUnlock,
    ResetFault,
    SetAvailability,
    SetLimit,
    SetPhases,
    SubState,
)
from hal.types import (
    BoardFault,
    ContactorFeedback,
    DiodeReading,
    LockFeedback,
    LockState,
    MeterStatus,
    PilotLevel,
    PilotMode,
    PilotReading,
    ProximityReading,
    RcdReading,
    SetAuthorization,
    SetLock,
    TemperatureReading,
)
from tests.controller.helpers import Drive, contactors, pilots, states


def _ready_b2(d: Drive, t: float = 1.0) -> None:
    d.plug(t)
    d(Authorize(1, True), t + 0.1)
    d(LockFeedback(1, LockState.LOCKED), t + 0.7)
    d(DiodeReading(1, True), t + 0.75)
    assert d.snap().substate == SubState.B2


def test_start_is_safe() -> None:
    d = Drive()
    assert contactors(d.outs) == [(False, False)]
    assert [p.mode for p in pilots(d.outs)] == [PilotMode.CONSTANT]
    assert SetAuthorization(1, False) in d.outs
    assert d.snap().substate == SubState.A


def test_b_to_c_needs_more_than_500ms_of_6v() -> None:
    d = Drive()
    _ready_b2(d)
    d(PilotReading(1, PilotLevel.V6), 10.0)
    assert d.c.next_deadline() == pytest.approx(10.501)
    outs = d.tick(10.49)
    assert d.snap().substate == SubState.B2 and contactors(outs) == []
    outs = d.tick(10.51)
    assert d.snap().substate == SubState.C2
    assert contactors(outs) == [(True, True)]
    assert states(outs) == [("B2", "C2")]


def test_debounce_completes_by_tick_at_deadline() -> None:
    d = Drive()
    _ready_b2(d)
    d(PilotReading(1, PilotLevel.V6), 10.0)
    d.tick(d.c.next_deadline())
    assert d.snap().substate == SubState.C2


def test_9v_resets_debounce() -> None:
    d = Drive()
    _ready_b2(d)
    d(PilotReading(1, PilotLevel.V6), 10.0)
    d(PilotReading(1, PilotLevel.V9), 10.3)
    d(PilotReading(1, PilotLevel.V6), 10.4)
    d.tick(10.85)
    assert d.snap().substate == SubState.B2
    d.tick(10.91)
    assert d.snap().substate == SubState.C2


def test_no_c_without_diode_and_fault_until_unplug() -> None:
    d = Drive()
    d.plug(1.0)
    d(Authorize(1, True), 1.1)
    d(LockFeedback(1, LockState.LOCKED), 1.7)
    d(DiodeReading(1, False), 1.75)
    d(PilotReading(1, PilotLevel.V6), 2.0)
    outs = d.tick(2.51)
    assert FaultChanged(1, Fault.DIODE, True, "6 V without EV diode") in outs
    assert d.snap().substate == SubState.F
    assert not d.snap().contactor_c1
    assert all(p.mode is not PilotMode.PWM for p in pilots(outs))
    d(DiodeReading(1, True), 3.0)  # too late: latched for this plug-in
    d.until(30.0)
    assert d.snap().substate == SubState.F and Fault.DIODE in d.snap().faults
    outs = d(PilotReading(1, PilotLevel.V12), 31.0)
    assert Fault.DIODE not in d.snap().faults
    assert d.snap().substate == SubState.A


def test_duty_for_16_and_32_amps() -> None:
    # the full target already in B (the firmware's MinCurrent in B: tests/hardening/test_04_pwm_in_b.py)
    d = Drive(caps={"max_current_a": 32.0}, max_current_a=32.0, firmware_b_current=False)
    _ready_b2(d)
    assert d.snap().pwm_duty_permille == 533 and d.snap().offered_current_a == 32.0
    outs = d(SetLimit(1, "ocpp", 16.0), 3.0)
    assert [(p.mode, p.duty_permille, p.current_a) for p in pilots(outs)] == [(PilotMode.PWM, 266, 16.0)]
    assert OfferedCurrentChanged(1, 16.0, "ocpp") in outs


def test_limit_below_min_goes_c1_then_b1_and_resumes_at_8a() -> None:
    d = Drive()
    t_c = d.to_charging()
    outs = d(SetLimit(0, "ocpp", 5.0), 20.0)
    assert d.snap().substate == SubState.C1
    assert [p.mode for p in pilots(outs)] == [PilotMode.CONSTANT]
    assert contactors(outs) == []  # still closed in C1
    assert d.snap().contactor_c1 and d.snap().target_current_a == 0.0
    assert d.snap().binding_limit == "ocpp"
    # the EV keeps 6 V: forced opening at exactly 6 s
    d.tick(25.99)
    assert d.snap().substate == SubState.C1
    outs = d.tick(26.0)
    assert d.snap().substate == SubState.B1 and contactors(outs) == [(False, False)]
    assert t_c < 20.0
    d(ContactorFeedback(1, False, False), 26.03)
    # the limit rises: PWM comes back after ChargeDelay (15 s from C1 entry) and the pilot re-plug
    d(SetLimit(0, "ocpp", 8.0), 27.0)
    assert d.snap().substate == SubState.B1
    d.until(34.99)
    assert d.snap().substate == SubState.B1
    d.until(35.0)
    d(PilotReading(1, PilotLevel.V9), 35.0)  # the pilot is reconnected; the EV reads 9 V
    assert d.snap().substate == SubState.B2
    # B before the EV asks for power: MinCurrent, as the firmware (8 A follows in C)
    assert d.snap().pwm_duty_permille == 100 and d.snap().offered_current_a == 6.0
    assert d.snap().target_current_a == 8.0
    d(DiodeReading(1, True), 35.01)
    d(PilotReading(1, PilotLevel.V6), 36.0)
    d.tick(36.51)
    assert d.snap().substate == SubState.C2 and d.snap().pwm_duty_permille == 133


def test_c1_ends_when_ev_leaves_c() -> None:
    d = Drive()
    d.to_charging()
    d(Authorize(1, False), 20.0)
    assert d.snap().substate == SubState.C1
    outs = d(PilotReading(1, PilotLevel.V9), 21.0)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.B1


def test_pp_220_caps_40a_configuration_to_32a() -> None:
    d = Drive(caps={"max_current_a": 63.0}, max_current_a=40.0)
    d(ProximityReading(1, 220.0), 1.0)
    d(PilotReading(1, PilotLevel.V9), 1.0)
    d(Authorize(1, True), 1.1)
    s = d.snap()
    assert s.cable_ampacity_a == 32.0 and s.offered_current_a == 32.0 and s.binding_limit == "cable"
    assert s.pwm_duty_permille == 533


@pytest.mark.parametrize(
    ("ohms", "iec", "firmware"),
    [(680.0, 20.0, 16.0), (None, 13.0, 13.0), (100.0, 63.0, 63.0), (1500.0, 13.0, 13.0), (250.0, 32.0, 32.0)],
)
def test_pp_table(ohms: float | None, iec: float, firmware: float) -> None:
    for table, expected in ((False, iec), (True, firmware)):
        d = Drive(caps={"max_current_a": 80.0}, max_current_a=80.0, firmware_pp_table=table)
        d(ProximityReading(1, ohms), 1.0)
        d(PilotReading(1, PilotLevel.V9), 1.0)
        assert d.snap().cable_ampacity_a == expected


def test_fixed_cable_capacity_is_max_current() -> None:
    d = Drive(fixed_cable=True, has_lock=False, max_current_a=16.0)
    d(PilotReading(1, PilotLevel.V9), 1.0)
    s = d.snap()
    assert s.cable_ampacity_a == 16.0 and s.binding_limit == "max"


def test_weld_detected_and_never_reclosed() -> None:
    d = Drive()
    d.to_charging()
    d.auto_feedback = False
    outs = d(PilotReading(1, PilotLevel.V9), 20.0)
    assert contactors(outs) == [(False, False)]
    d(ContactorFeedback(1, True, True), 20.03)  # welded: still closed
    outs = d.tick(20.5)
    assert FaultChanged(1, Fault.CONTACTOR_WELDED, True, "feedback closed while commanded open (c1=True, c2=True)") in outs
    assert d.snap().substate == SubState.F
    # the EV asks again: never energised
    d(DiodeReading(1, True), 21.0)
    d(PilotReading(1, PilotLevel.V6), 22.0)
    d.until(60.0)
    assert not any(c1 for t, o in d.log if t > 20.0 and hasattr(o, "c1") for c1 in [o.c1])
    d(ResetFault(1, Fault.CONTACTOR_WELDED), 61.0)  # refused: feedback still closed
    assert Fault.CONTACTOR_WELDED in d.snap().faults


def test_contactor_failed_to_close() -> None:
    d = Drive()
    _ready_b2(d)
    d.auto_feedback = False
    d(ContactorFeedback(1, False, False), 1.0)
    d(PilotReading(1, PilotLevel.V6), 2.0)
    d.tick(2.51)
    assert d.snap().contactor_c1
    outs = d.tick(3.01)
    assert any(isinstance(o, FaultChanged) and o.fault is Fault.CONTACTOR_FAILED for o in outs)
    assert contactors(outs) == [(False, False)]


def test_over_temperature_hysteresis() -> None:
    d = Drive()
    d.to_charging()
    d(TemperatureReading(1, 65.0), 20.0)
    assert not d.snap().faults
    outs = d(TemperatureReading(1, 65.5), 21.0)
    # power unavailable: PWM withdrawn at once, contactors open when the EV stops drawing (C1 -> B1)
    assert Fault.OVER_TEMPERATURE in d.snap().faults and d.snap().substate == SubState.C1
    assert contactors(outs) == [] and [p.mode for p in pilots(outs)] == [PilotMode.CONSTANT]
    outs = d(PilotReading(1, PilotLevel.V9), 21.8)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.B1
    d(TemperatureReading(1, 60.0), 22.0)
    d(TemperatureReading(1, 55.0), 23.0)
    assert Fault.OVER_TEMPERATURE in d.snap().faults
    outs = d(TemperatureReading(1, 54.9), 24.0)
    assert FaultChanged(1, Fault.OVER_TEMPERATURE, False, "54.9 C") in outs
    assert d.snap().substate == SubState.B1  # back, ChargeDelay running


def test_lock_before_energise() -> None:
    d = Drive()
    d.plug(1.0)
    outs = d(Authorize(1, True), 1.1)
    assert SetLock(1, True) in outs
    d(DiodeReading(1, True), 1.2)
    d(PilotReading(1, PilotLevel.V6), 1.3)
    d.tick(1.9)
    assert d.snap().substate == SubState.B2 and not d.snap().contactor_c1  # waiting for the lock
    outs = d(LockFeedback(1, LockState.LOCKED), 1.95)
    assert contactors(outs) == [(True, True)] and d.snap().substate == SubState.C2


def test_lock_failure_after_retries() -> None:
    d = Drive(lock_retries=3)
    d.plug(1.0)
    d(Authorize(1, True), 1.0)
    d.until(30.0)
    locks = [(t, o) for t, o in d.log if isinstance(o, SetLock) and o.locked]
    assert [round(t, 3) for t, _ in locks] == [1.0, 6.0, 11.0]
    assert Fault.LOCK in d.snap().faults and d.snap().substate == SubState.F


def test_unplug_opens_immediately_and_ends_session() -> None:
    d = Drive()
    d.to_charging()
    outs = d(PilotReading(1, PilotLevel.V12), 20.0)
    assert contactors(outs) == [(False, False)]
    assert d.snap().substate == SubState.A and not d.snap().authorized
    assert SetLock(1, False) in outs


def test_rcd_latched_until_reset_and_released() -> None:
    d = Drive()
    d.to_charging()
    outs = d(RcdReading(1, True), 20.0)
    assert contactors(outs)[0] == (False, False) and d.snap().substate == SubState.F
    d(ResetFault(1, Fault.RCD), 21.0)
    assert Fault.RCD in d.snap().faults  # still tripped
    d(RcdReading(1, False), 22.0)
    assert Fault.RCD in d.snap().faults  # latched
    d(ResetFault(1, Fault.RCD), 23.0)
    assert not d.snap().faults


def test_state_d_refused_without_ventilation() -> None:
    d = Drive()
    _ready_b2(d)
    d(PilotReading(1, PilotLevel.V3), 5.0)
    d.until(10.0)
    assert d.snap().substate == SubState.D and not d.snap().contactor_c1
    v = Drive(ventilation_allowed=True)
    _ready_b2(v)
    v(PilotReading(1, PilotLevel.V3), 5.0)
    v.until(10.0)
    assert v.snap().substate == SubState.C2 and v.snap().iec_state == "D"


def test_unavailable_goes_through_c1_to_state_f() -> None:
    d = Drive()
    d.to_charging()
    d(SetAvailability(1, False), 20.0)
    assert d.snap().substate == SubState.C1 and d.snap().contactor_c1
    outs = d(PilotReading(1, PilotLevel.V9), 21.0)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.F
    assert pilots(outs)[-1].mode is PilotMode.STATE_F
    d(SetAvailability(1, True), 30.0)
    d.until(40.0)
    assert d.snap().substate == SubState.B2


def test_phase_switch_goes_through_b1() -> None:
    d = Drive()
    d.to_charging()
    assert d.snap().contactor_c2
    d(SetPhases(1, 1), 20.0)
    assert d.snap().substate == SubState.C1 and d.snap().contactor_c2  # C2 unchanged while C1 closed
    d(PilotReading(1, PilotLevel.V9), 21.0)
    assert not d.snap().contactor_c1
    d.until(35.0)
    d(PilotReading(1, PilotLevel.V9), 35.0)
    d(DiodeReading(1, True), 35.0)
    d(PilotReading(1, PilotLevel.V6), 36.0)
    outs = d.tick(36.6)
    assert contactors(outs) == [(True, False)] and d.snap().phases == 1


def test_request_unlock_opens_and_unlocks() -> None:
    d = Drive()
    d.to_charging()
    outs = d(RequestUnlock(1), 20.0)
    assert contactors(outs) == [(False, False)]
    assert SetLock(1, False) in outs
    assert outs.index(SetLock(1, False)) > next(i for i, o in enumerate(outs) if hasattr(o, "c1"))


def test_meter_loss_and_board_fault_open() -> None:
    d = Drive()
    d.to_charging()
    outs = d(MeterStatus(1, False, "timeout"), 20.0)
    assert contactors(outs) == [] and d.snap().substate == SubState.C1  # power unavailable: C1 first
    outs = d(PilotReading(1, PilotLevel.V12), 20.5)
    assert contactors(outs) == [(False, False)]
    d(MeterStatus(1, True), 21.0)
    assert not d.snap().faults and d.snap().substate == SubState.A
    d(BoardFault(0, "panic", True), 41.0)
    assert Fault.BOARD in d.snap().faults
    d(BoardFault(0, "panic", False), 42.0)
    assert not d.snap().faults
    d.to_charging(60.0)
    outs = d(BoardFault(0, "panic", True), 70.0)  # a hard fault opens at once, under load
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.F


def test_pilot_short_is_state_e() -> None:
    d = Drive()
    d.to_charging()
    outs = d(PilotReading(1, PilotLevel.SHORT), 20.0)
    assert contactors(outs) == [] and d.snap().substate == SubState.C2  # debounced (> 500 ms)
    outs = d.tick(20.501)
    assert contactors(outs) == [(False, False)] and d.snap().substate == SubState.E


@pytest.mark.parametrize(
    ("inp", "field"),
    [
        (SetLimit(7, "ocpp", 10.0), "SetLimit.connector"),
        (SetLimit(1, "", 10.0), "SetLimit.name"),
        (SetLimit(1, "ocpp", -1.0), "SetLimit.amps"),
        (SetPhases(1, 2), "SetPhases.phases"),
        (PilotReading(0, PilotLevel.V9), "PilotReading.connector"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(inp: object, field: str) -> None:
    d = Drive()
    d.to_charging()
    before = d.snap()
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        d(inp, 20.0)
    assert d.snap() == before


def test_board_owned_state_machine() -> None:
    from hal.types import BoardStateReport, RequestBoardState

    d = Drive(caps={"owns_state_machine": True})
    d(ProximityReading(1, 220.0), 1.0)
    d(PilotReading(1, PilotLevel.V9), 1.0)
    outs = d(Authorize(1, True), 1.1)
    assert SetAuthorization(1, True) in outs
    assert [(p.mode, p.duty_permille) for p in pilots(outs)] == [(PilotMode.PWM, 266)]
    d(BoardStateReport(1, "B"), 1.2)
    d(BoardStateReport(1, "C"), 3.0)
    assert d.snap().substate == SubState.C2 and d.snap().contactor_c1
    outs = d(SetLimit(0, "ocpp", 3.0), 4.0)
    assert RequestBoardState(1, "C1") in outs and SetAuthorization(1, False) in outs
    d(BoardStateReport(1, "C1"), 4.1)
    d(BoardStateReport(1, "B1"), 6.0)
    assert not d.snap().contactor_c1
    outs = d(SetLimit(0, "ocpp", None), 7.0)
    assert SetAuthorization(1, True) in outs
    outs = d(RcdReading(1, True), 8.0)
    assert Fault.RCD in d.snap().faults and SetAuthorization(1, False) in outs


def test_unlock_on_session_end_waits_for_open_contactors() -> None:
    d = Drive()
    d.to_charging()
    outs = d(Authorize(1, False), 20.0)
    assert d.snap().substate == SubState.C1 and SetLock(1, False) not in outs  # never unlock under load
    outs = d(PilotReading(1, PilotLevel.V9), 21.0)
    assert contactors(outs) == [(False, False)] and SetLock(1, False) in outs


def test_lock_kept_when_unlock_on_session_end_is_off() -> None:
    d = Drive(unlock_on_session_end=False)
    d.to_charging()
    d(Authorize(1, False), 20.0)
    d(PilotReading(1, PilotLevel.V9), 21.0)
    d.until(40.0)
    assert not any(isinstance(o, SetLock) and not o.locked for t, o in d.log if t >= 20.0)
    outs = d(PilotReading(1, PilotLevel.V12), 41.0)  # unplug_on_unplug (default) releases it
    assert SetLock(1, False) in outs


def test_offered_current_follows_named_limits_and_binding() -> None:
    d = Drive(caps={"max_current_a": 32.0}, max_current_a=32.0, firmware_b_current=False)
    _ready_b2(d)
    d(SetLimit(0, "mains", 20.0), 2.0)
    d(SetLimit(1, "solar", 11.5), 3.0)
    s = d.snap()
    assert (s.offered_current_a, s.binding_limit, s.pwm_duty_permille) == (11.5, "solar", 191)
    d(SetLimit(1, "solar", None), 4.0)
    assert (d.snap().offered_current_a, d.snap().binding_limit) == (20.0, "mains")
    d(SetLimit(0, "mains", None), 5.0)
    assert (d.snap().offered_current_a, d.snap().binding_limit) == (32.0, "max")


def test_pilot_fault_clears_only_with_a_valid_reading() -> None:
    d = Drive()
    d.to_charging()
    d(PilotReading(1, PilotLevel.NOK), 20.0)
    d(ResetFault(1, Fault.PILOT), 21.0)
    assert Fault.PILOT in d.snap().faults  # still shorted: a reset does not hide it
    d(PilotReading(1, PilotLevel.V9), 22.0)
    assert Fault.PILOT not in d.snap().faults and d.snap().substate == SubState.B1


def test_commands_come_before_notifications() -> None:
    d = Drive()
    d.to_charging()
    outs = d(RcdReading(1, True), 20.0)
    kinds = [type(o).__name__ for o in outs]
    assert kinds[0] == "SetContactors"
    last_cmd = max(i for i, k in enumerate(kinds) if k.startswith("Set"))
    assert kinds.index("FaultChanged") > last_cmd and kinds.index("StateChanged") > last_cmd
