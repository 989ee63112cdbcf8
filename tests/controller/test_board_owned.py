"""Boards that own the IEC state machine (SmartEVSE v4): the controller follows their reports."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chargepoint.controller import (
    Authorize,
    Controller,
    ControllerSettings,
    SetAvailability,
    SetLimit,
    SubState,
)
from hal.types import (
    BoardCapabilities,
    BoardStateReport,
    PilotLevel,
    PilotReading,
    RcdReading,
    RequestBoardState,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
    TemperatureReading,
)

STEP = st.one_of(
    st.builds(BoardStateReport, st.just(1), st.sampled_from(["A", "B", "B1", "C", "C1", "D", "E", "F"])),
    st.builds(Authorize, st.just(1), st.booleans()),
    st.builds(SetLimit, st.just(0), st.sampled_from(["ocpp", "solar"]),
              st.one_of(st.none(), st.sampled_from([0.0, 4.0, 6.0, 10.0, 32.0]))),
    st.builds(SetAvailability, st.just(1), st.booleans()),
    st.builds(RcdReading, st.just(1), st.booleans()),
    st.builds(TemperatureReading, st.just(1), st.sampled_from([30.0, 54.0, 70.0])),
    st.builds(PilotReading, st.just(1), st.sampled_from([PilotLevel.V12, PilotLevel.V9, PilotLevel.V6])),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_board_owned_mode_follows_reports_and_never_permits_unsafely(steps: list[Any]) -> None:
    caps = BoardCapabilities(owns_state_machine=True)
    c = Controller(ControllerSettings(fixed_cable=True, has_lock=False), caps)
    outs = c.start(0.0)
    allowed = [o.allowed for o in outs if isinstance(o, SetAuthorization)][-1]
    rcd = hot = False
    authorised, available, limits = False, True, {}
    pause_asked: str | None = None
    plugged, board_state = False, "A"
    for k, inp in enumerate(steps):
        outs = c.handle(inp, 1.0 + k)
        c.check_invariants()
        assert not any(isinstance(o, (SetContactors, SetLock)) for o in outs), "the board owns contactors and lock"
        # independent model of the permission
        if isinstance(inp, Authorize):
            authorised = inp.granted
        elif isinstance(inp, SetAvailability):
            available = inp.available
        elif isinstance(inp, SetLimit):
            limits[inp.name] = inp.amps
        elif isinstance(inp, RcdReading):
            rcd = rcd or inp.tripped  # latched
        elif isinstance(inp, TemperatureReading):
            hot = inp.celsius > 65.0 or (hot and inp.celsius >= 55.0)
        # unplug (pilot 12 V after an EV was seen, or the board reporting A) ends the session
        if isinstance(inp, PilotReading):
            if inp.level is PilotLevel.V12 and plugged:
                authorised, plugged = False, False
            elif inp.level is not PilotLevel.V12:
                plugged = True
        if isinstance(inp, BoardStateReport):
            if inp.state == "A" and board_state != "A":
                authorised, plugged = False, False
            board_state = inp.state
        # fixed cable: capacity = max_current_a 16 A < hardware 32 A; every limit here is whole amps
        target = min([16.0] + [v for v in limits.values() if v is not None])
        permitted = authorised and available and not rcd and not hot and target >= 6.0
        for o in outs:
            if isinstance(o, SetAuthorization):
                allowed = o.allowed
            if isinstance(o, RequestBoardState):
                pause_asked = o.state
            if isinstance(o, SetPilot) and o.mode == "pwm":
                assert permitted and o.current_a == target
        assert allowed == permitted
        snap = c.snapshot(1)
        if snap.substate is SubState.C2 and not permitted:
            assert pause_asked in ("C1", "B1"), "charging without permission and no pause requested"
        if permitted:
            pause_asked = None
