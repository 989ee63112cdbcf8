"""The shared vocabulary: limit names and board states are defined once and mean the same strings
on the wire, in configs and in scenario files; the transition table covers every state."""

from __future__ import annotations

import json

import pytest

from backends.smartevse.protocol import STATE_LETTER
from chargepoint.controller import (
    ENERGY_LIMITS,
    Authorize,
    Controller,
    ControllerSettings,
    Limit,
    SetLimit,
    SubState,
)
from chargepoint.controller.follower import SUBSTATE_OF
from chargepoint.controller.transitions import ANY, TABLE
from chargepoint.energy import LIMIT_NAMES
from chargepoint.energy.grid_relay import GRID_RELAY
from chargepoint.services.smart_charging import LIMIT_NAME
from hal.types import (
    BoardCapabilities,
    BoardState,
    BoardStateReport,
    PilotLevel,
    PilotReading,
    RequestBoardState,
)


def test_limit_values_are_the_wire_strings() -> None:
    assert {str(m) for m in Limit} == {
        "max", "cable", "hardware", "ocpp", "mains", "circuit", "sum_mains", "solar", "override", "grid_relay"
    }
    assert LIMIT_NAMES == ENERGY_LIMITS == ("mains", "circuit", "sum_mains", "solar", "grid_relay")
    assert GRID_RELAY == "grid_relay"
    assert LIMIT_NAME == "ocpp"
    # a StrEnum is a str: equal, same hash, JSON as the plain string, formatted as the value
    assert {"ocpp": 1}[Limit.OCPP] == 1 and {Limit.SOLAR: 2}["solar"] == 2
    assert json.dumps({Limit.SUM_MAINS: Limit.MAX}) == '{"sum_mains": "max"}'
    assert f"{Limit.OVERRIDE}" == "override"


def test_binding_limit_compares_with_plain_strings() -> None:
    ctrl = Controller(ControllerSettings(max_current_a=32.0), BoardCapabilities(max_current_a=32.0))
    ctrl.start(0.0)
    assert ctrl.snapshot(1).binding_limit == "max"
    ctrl.handle(SetLimit(1, Limit.SOLAR, 10.0), 1.0)
    ctrl.handle(SetLimit(0, "ocpp", 12.0), 1.0)  # a plain string name is the same limit
    snap = ctrl.snapshot(1)
    assert snap.binding_limit == "solar" and snap.limits == {"ocpp": 12.0, "solar": 10.0}
    ctrl.handle(SetLimit(0, Limit.OCPP, 10.0), 1.0)  # tie with an energy limit: the other one binds
    assert ctrl.snapshot(1).binding_limit == Limit.OCPP
    ctrl.handle(SetLimit(0, "integration", 7.0), 1.0)  # any other name is accepted
    assert ctrl.snapshot(1).binding_limit == "integration"


def test_every_state_the_smartevse_board_reports_is_followed() -> None:
    assert set(STATE_LETTER.values()) <= set(BoardState)
    assert set(SUBSTATE_OF) == set(BoardState)
    ctrl = Controller(ControllerSettings(), BoardCapabilities(owns_state_machine=True))
    ctrl.start(0.0)
    for state in BoardState:
        ctrl.handle(BoardStateReport(1, state), 1.0)
        assert ctrl.snapshot(1).substate is SUBSTATE_OF[state]
    ctrl.handle(BoardStateReport(1, " c1 "), 2.0)  # a plain, sloppy string from a board still works
    assert ctrl.snapshot(1).substate is SubState.C1
    with pytest.raises(ValueError, match="unknown state"):
        ctrl.handle(BoardStateReport(1, "X"), 3.0)


def test_the_transition_table_has_rows_for_every_substate_and_reading() -> None:
    assert set(TABLE) == set(SubState)
    for rows in TABLE.values():
        assert rows, "a substate without rows never leaves"
        for levels, _guard, _next in rows:
            assert levels and levels <= ANY
    assert ANY == {None, PilotLevel.V12, PilotLevel.V9, PilotLevel.V6, PilotLevel.V3}


def test_follower_pause_requests_are_board_states() -> None:
    ctrl = Controller(ControllerSettings(), BoardCapabilities(owns_state_machine=True))
    ctrl.start(0.0)
    ctrl.handle(PilotReading(1, PilotLevel.V9), 0.5)
    ctrl.handle(Authorize(1, True), 1.0)
    ctrl.handle(BoardStateReport(1, BoardState.C), 2.0)
    outs = ctrl.handle(Authorize(1, False), 3.0)
    requests = [o for o in outs if isinstance(o, RequestBoardState)]
    assert [o.state for o in requests] == [BoardState.C1] and requests[0].state == "C1"
