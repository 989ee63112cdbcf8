"""Follower mode and the cable rating: a board that owns the state machine (SmartEVSE v4) reads PP
itself and reports none, so the controller must not assume the 13 A no-PP rating."""

from __future__ import annotations

from chargepoint.controller import Authorize, Controller, ControllerSettings
from hal.types import BoardCapabilities, BoardStateReport, PilotLevel, PilotReading


def _offered_after_plug(owns: bool) -> tuple[float, float | None]:
    caps = BoardCapabilities(max_current_a=32.0, has_lock=False, owns_state_machine=owns)
    c = Controller(ControllerSettings(max_current_a=20.0), caps)
    c.start(0.0)
    c.handle(PilotReading(1, PilotLevel.V9), 1.0)
    if owns:
        c.handle(BoardStateReport(1, "B1"), 1.0)
    c.handle(Authorize(1, True), 2.0)
    if owns:
        c.handle(BoardStateReport(1, "B"), 2.1)
    snap = c.snapshot(1)
    return snap.target_current_a, snap.cable_ampacity_a


def test_board_owning_the_state_machine_is_not_capped_at_13_a() -> None:
    assert _offered_after_plug(owns=True) == (20.0, None)


def test_controller_owned_board_without_pp_keeps_the_conservative_13_a() -> None:
    assert _offered_after_plug(owns=False) == (13.0, 13.0)
