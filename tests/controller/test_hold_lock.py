"""HoldLock: the cable stays locked without a session (OCPP errata 3.17, DeAuthorized) until released,
and the hold never authorises or energises anything."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.controller import Authorize, HoldLock, RequestUnlock, SubState
from hal.types import (
    DiodeReading,
    LockFeedback,
    LockState,
    PilotLevel,
    PilotReading,
    SetAuthorization,
    SetContactors,
    SetLock,
)
from tests.controller.helpers import Drive, contactors


def unlocks(d: Drive, since: float) -> list[float]:
    return [t for t, o in d.log if isinstance(o, SetLock) and not o.locked and t >= since]


def test_hold_keeps_the_lock_after_deauthorisation() -> None:
    d = Drive()
    d.to_charging()
    assert d(HoldLock(1, True), 19.9) == []  # already locked: nothing to command
    outs = d(Authorize(1, False), 20.0)
    assert d.snap().substate == SubState.C1 and SetLock(1, False) not in outs
    outs = d(PilotReading(1, PilotLevel.V9), 21.0)
    assert contactors(outs) == [(False, False)]  # the session ended: contactors open ...
    d.until(120.0)
    assert unlocks(d, 20.0) == [] and d.snap().locked  # ... but the cable stays locked
    outs = d(HoldLock(1, False), 121.0)
    assert SetLock(1, False) in outs  # released: unlock_on_session_end applies now


def test_hold_survives_unplug_and_released_later() -> None:
    d = Drive()
    d.to_charging()
    d(HoldLock(1, True), 19.9)
    d(Authorize(1, False), 20.0)
    d(PilotReading(1, PilotLevel.V12), 21.0)  # the EV leaves; the cable stays in the socket
    d.until(60.0)
    assert unlocks(d, 20.0) == [] and d.snap().substate == SubState.A
    assert SetLock(1, False) in d(HoldLock(1, False), 61.0)


def test_hold_locks_a_plugged_unauthorised_connector_but_never_energises() -> None:
    d = Drive()
    d.plug(1.0)
    outs = d(HoldLock(1, True), 2.0)
    assert SetLock(1, True) in outs
    d(LockFeedback(1, LockState.LOCKED), 2.7)
    d(DiodeReading(1, True), 2.8)
    d(PilotReading(1, PilotLevel.V6), 3.0)
    d.until(30.0)
    snap = d.snap()
    assert snap.locked and not snap.authorized and not snap.contactor_c1
    assert snap.substate not in (SubState.C1, SubState.C2)
    assert not any(isinstance(o, SetAuthorization) and o.allowed for _, o in d.log)
    assert not any(isinstance(o, SetContactors) and o.c1 for _, o in d.log)


def test_request_unlock_releases_the_hold() -> None:
    d = Drive()
    d.to_charging()
    d(HoldLock(1, True), 19.9)
    d(Authorize(1, False), 20.0)
    d(PilotReading(1, PilotLevel.V9), 21.0)
    outs = d(RequestUnlock(1), 30.0)
    assert SetLock(1, False) in outs
    d(LockFeedback(1, LockState.UNLOCKED), 30.7)
    d.until(60.0)
    assert not d.snap().locked
    assert not any(isinstance(o, SetLock) and o.locked for t, o in d.log if t >= 30.0)


def test_hold_released_while_a_new_session_runs_keeps_it_locked() -> None:
    d = Drive()
    d.to_charging()
    d(HoldLock(1, True), 10.0)
    outs = d(HoldLock(1, False), 11.0)
    assert SetLock(1, False) not in outs and d.snap().contactor_c1  # charging: still locked


def test_hold_connector_zero_and_validation() -> None:
    d = Drive(caps={"connectors": 2}, connectors=2)
    d.plug(1.0, n=1)
    d.plug(1.0, n=2)
    outs = d(HoldLock(0, True), 2.0)
    assert SetLock(1, True) in outs and SetLock(2, True) in outs
    with pytest.raises(ValueError, match=r"HoldLock\.connector"):
        d.c.handle(HoldLock(3, True), 3.0)


def test_hold_without_a_lock_does_nothing() -> None:
    d = Drive(fixed_cable=True, has_lock=False)
    d.plug(1.0)
    outs = d(HoldLock(1, True), 2.0)
    assert not any(isinstance(o, SetLock) for o in outs)


_ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("hold"), st.booleans()),
        st.tuples(st.just("auth"), st.booleans()),
        st.tuples(st.just("pilot"), st.sampled_from([PilotLevel.V12, PilotLevel.V9, PilotLevel.V6])),
        st.tuples(st.just("lockfb"), st.sampled_from([LockState.LOCKED, LockState.UNLOCKED])),
        st.tuples(st.just("unlock"), st.none()),
        st.tuples(st.just("wait"), st.floats(0.1, 20.0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(_ACTIONS)
def test_hold_never_energises_or_unlocks_under_load(actions) -> None:
    """Random sequences with HoldLock mixed in: the controller's invariants hold at every step
    (checked by Drive), contactors close only while authorised, and a held lock is never opened
    except by RequestUnlock."""
    d = Drive()
    held = False
    authorised = False
    t = 1.0
    seen = len(d.log)
    for kind, arg in actions:
        t += 0.05
        if kind == "hold":
            d(HoldLock(1, arg), t)
            held = arg
        elif kind == "auth":
            d(Authorize(1, arg), t)
            authorised = arg
        elif kind == "pilot":
            d(PilotReading(1, arg), t)
            if arg is PilotLevel.V12:
                authorised = False
            else:
                d(DiodeReading(1, True), t)
        elif kind == "lockfb":
            d(LockFeedback(1, arg), t)
        elif kind == "unlock":
            d(RequestUnlock(1), t)
            held = authorised = False
        else:
            t += arg
            d.until(t)
        for _, o in d.log[seen:]:
            if isinstance(o, SetContactors) and o.c1:
                assert authorised, "contactors closed without authorisation"
            if isinstance(o, SetLock) and not o.locked:
                assert not held, "a held lock was opened"
        seen = len(d.log)
