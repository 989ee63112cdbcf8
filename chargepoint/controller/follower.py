"""Follower mode: the board owns the state machine (``capabilities.owns_state_machine``, the
SmartEVSE v4 CH32).

The board's ``BoardStateReport`` is authoritative: the controller adopts the reported substate
(:func:`on_board_state`) and never assumes a transition.  It sends only the offered current
(SetPilot), the access bit (SetAuthorization) and pause requests (RequestBoardState C1/B1), and
supervises faults.  The board runs the timers, the diode check, the contactors and the lock, so
none of those are supervised here; the invariants check that the contactors (as the board's state
implies them) close only in C and only with permission or a pause already requested.
"""

from __future__ import annotations

from chargepoint.controller import supervision
from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import CONNECTED, ENERGISED, REQUESTING, Context
from chargepoint.controller.inputs import unplugged
from chargepoint.controller.offer import report_offered, update_target
from chargepoint.controller.outputs import report_state_changes, set_access, set_pilot
from chargepoint.controller.supervision import record_contactor_feedback
from chargepoint.controller.transitions import enter
from chargepoint.controller.types import ControllerOutput, SubState, hard_faults
from chargepoint.iec61851.duty import duty_permille, signalled_current
from hal.types import (
    BoardState,
    BoardStateReport,
    ContactorFeedback,
    PilotMode,
    RequestBoardState,
    SetAuthorization,
)

_A, _B1, _B2, _C1, _C2, _D, _E, _F = SubState.A, SubState.B1, SubState.B2, SubState.C1, SubState.C2, SubState.D, SubState.E, SubState.F
_PWM, _CONSTANT = PilotMode.PWM, PilotMode.CONSTANT
#: BoardStateReport.state -> substate
SUBSTATE_OF: dict[str, SubState] = {
    BoardState.A: _A,
    BoardState.B: _B2,
    BoardState.B2: _B2,
    BoardState.B1: _B1,
    BoardState.C: _C2,
    BoardState.C2: _C2,
    BoardState.C1: _C1,
    BoardState.D: _D,
    BoardState.E: _E,
    BoardState.F: _F,
}
_PAUSABLE = (_C1, _C2, _B2)


def record_board_state(ctx: Context, ev: BoardStateReport) -> tuple[ConnectorState, str]:
    c = ctx.conn(ev.connector)
    state = ev.state.strip().upper()
    c.follower.board_state = state
    return c, state


def on_board_state(ctx: Context, ev: BoardStateReport, now: float, out: list[ControllerOutput]) -> None:
    """Adopt the board's state; a pause request is void once the board left the state it was for."""
    c, state = record_board_state(ctx, ev)
    new = SUBSTATE_OF[state]
    if new is c.sub:
        return
    old = c.sub
    if old is _A or new is _A or new not in (_C2, _B2):
        c.follower.pause_requested = None
    enter(ctx, c, new, now, adopt=True)
    if new is _A and old is not _A:
        unplugged(ctx, c, out)


def on_contactor_feedback(ctx: Context, ev: ContactorFeedback, now: float, out: list[ControllerOutput]) -> None:
    record_contactor_feedback(ctx, ev)  # the board switches them; its feedback follows its state


def permitted(ctx: Context, c: ConnectorState) -> bool:
    s = c.session
    return s.authorized and s.available and not c.faults and c.offer.target_a >= ctx.min_current


class FollowerMode:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def start(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        out.append(SetAuthorization(c.number, False))
        c.cmd.auth = False

    def run_timers(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        supervision.run_timers(self.ctx, c, now, out)  # the board runs the state machine's timers

    def settle(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        """Offered current, access bit and pause requests."""
        update_target(self.ctx, c)
        ok = permitted(self.ctx, c)
        set_access(c, ok, out)
        if ok:
            amps = signalled_current(c.offer.target_a)
            set_pilot(c, _PWM, duty_permille(amps), amps, out)
            c.follower.pause_requested = None
        else:
            set_pilot(c, _CONSTANT, 1000, 0.0, out)
            self._request_pause(c, out)
        cmd = c.cmd
        k1 = c.sub in ENERGISED
        k2 = k1 and c.phases.c2_plan
        if cmd.c1 and k1 and k2 != cmd.c2:
            cmd.c2_changed_under_c1 = True
        cmd.c1, cmd.c2 = k1, k2
        if c.pending_changes:
            report_state_changes(self.ctx, c, self.ev_flags(c), out)
        report_offered(c, out)

    def _request_pause(self, c: ConnectorState, out: list[ControllerOutput]) -> None:
        """Not permitted: ask the board for C1 (from C2, PWM withdrawn) or B1 (from B2, or on a hard
        fault).  Over-temperature / meter loss ask for C1 like a pause (the board's own
        ``setStatePowerUnavailable``)."""
        sub = c.sub
        want: BoardState | None = None
        if hard_faults(c.faults) and sub in _PAUSABLE:
            want = BoardState.B1  # hard fault: open now (a power-unavailable one pauses via C1 below)
        elif sub is _C2:
            want = BoardState.C1
        elif sub is _B2:
            want = BoardState.B1
        if want is not None and c.follower.pause_requested != want:
            c.follower.pause_requested = want
            out.append(RequestBoardState(c.number, want))

    def deadlines(self, c: ConnectorState) -> tuple[float | None, ...]:
        return supervision.deadlines(self.ctx, c)  # the board runs the state machine's timers

    def ev_flags(self, c: ConnectorState) -> tuple[bool, bool]:
        """(EV connected, EV requesting) from the board's state once it reported one."""
        lvl = c.ev.pilot
        connected = c.sub is not _A if c.follower.board_state is not None else lvl in CONNECTED
        return connected, c.sub in ENERGISED or lvl in REQUESTING

    def check(self, c: ConnectorState, now: float) -> None:
        n = c.number
        if c.cmd.c1 and c.sub not in ENERGISED:
            raise AssertionError(f"connector {n}: contactors closed outside C (board mode)")
        if c.cmd.c1 and c.sub is _C2 and not permitted(self.ctx, c) and c.follower.pause_requested is None:
            raise AssertionError(f"connector {n}: board charges without permission and no pause request")
