"""The IEC 61851-1 controller: one state machine per connector, pure and synchronous.

``handle(input, now)`` updates the connector's inputs, processes the timers that are due, runs the
state machine to a fixed point and then derives the commanded outputs (pilot, contactors, lock,
authorisation) *from the state*, emitting only what changed.  Because outputs are a function of
the state, the safety invariants hold by construction and :meth:`Controller.check_invariants`
verifies them independently.

This module is the facade; the parts, one idea per file:

* ``context.py`` -- settings, derived constants, connector states, station-wide limits;
* ``connector.py`` -- the mutable per-connector state, grouped by concern;
* ``inputs.py`` -- EV and session inputs (pilot, diode, PP, authorisation, limits, ...);
* ``supervision.py`` -- faults, contactor feedback, the lock and its retries;
* ``transitions.py`` -- the normal-mode transition table (guards, entry actions);
* ``normal.py`` -- normal mode: the controller runs the state machine;
* ``follower.py`` -- follower mode: the board runs it (``capabilities.owns_state_machine``, SmartEVSE v4);
* ``offer.py`` -- the offered current and its binding limit (vocabulary in ``limits.py``);
* ``outputs.py`` -- the commands derived from the state, StateChanged and the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, cast

from chargepoint.controller import follower, inputs, supervision
from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import Context
from chargepoint.controller.follower import SUBSTATE_OF, FollowerMode
from chargepoint.controller.normal import NormalMode
from chargepoint.controller.offer import report_offered, update_target
from chargepoint.controller.outputs import snapshot
from chargepoint.controller.types import (
    Authorize,
    ConnectorSnapshot,
    ControllerInput,
    ControllerOutput,
    ControllerSettings,
    Fault,
    HoldLock,
    RequestUnlock,
    ResetFault,
    SetAvailability,
    SetLimit,
    SetPhases,
    Tick,
)
from hal.types import (
    BoardCapabilities,
    BoardFault,
    BoardStateReport,
    ContactorFeedback,
    DiodeReading,
    LockFeedback,
    MeterReading,
    MeterStatus,
    PilotReading,
    ProximityReading,
    RcdReading,
    RequestBoardState,
    RfidPresented,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
    TemperatureReading,
)


class Mode(Protocol):
    """Who runs the state machine: :class:`NormalMode` (the controller) or :class:`FollowerMode`
    (the board).  ``run_timers`` runs the timers that are due, before the input; ``settle`` the
    state machine and the outputs, after it; ``deadlines`` lists every timer (supervision's too)."""

    def start(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None: ...
    def run_timers(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None: ...
    def settle(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None: ...
    def deadlines(self, c: ConnectorState) -> tuple[float | None, ...]: ...
    def ev_flags(self, c: ConnectorState) -> tuple[bool, bool]: ...
    def check(self, c: ConnectorState, now: float) -> None: ...


_I = TypeVar("_I")
Handler = Callable[[Context, ControllerInput, float, list[ControllerOutput]], None]


def _on(kind: type[_I], fn: Callable[[Context, _I, float, list[ControllerOutput]], None]) -> tuple[type, Handler]:
    """A dispatch entry: ``fn`` is only ever called with an input of type ``kind``."""
    return kind, cast(Handler, fn)


_COMMON: dict[type, Handler] = dict((
    _on(PilotReading, inputs.on_pilot),
    _on(DiodeReading, inputs.on_diode),
    _on(ProximityReading, inputs.on_proximity),
    _on(LockFeedback, supervision.on_lock_feedback),
    _on(RcdReading, supervision.on_rcd),
    _on(TemperatureReading, supervision.on_temperature),
    _on(MeterReading, inputs.on_meter),
    _on(MeterStatus, supervision.on_meter_status),
    _on(BoardFault, supervision.on_board_fault),
    _on(RfidPresented, inputs.on_rfid),
    _on(Authorize, inputs.on_authorize),
    _on(SetLimit, inputs.on_set_limit),
    _on(SetAvailability, inputs.on_availability),
    _on(SetPhases, inputs.on_phases),
    _on(ResetFault, supervision.on_reset_fault),
    _on(RequestUnlock, inputs.on_unlock),
    _on(HoldLock, inputs.on_hold_lock),
    _on(Tick, inputs.on_tick),
))


def _record_board_state(ctx: Context, ev: BoardStateReport, now: float, out: list[ControllerOutput]) -> None:
    follower.record_board_state(ctx, ev)  # informational only: this controller runs the state machine


_NORMAL: dict[type, Handler] = {
    **_COMMON,
    **dict((_on(ContactorFeedback, supervision.on_contactor_feedback), _on(BoardStateReport, _record_board_state))),
}
_FOLLOWER: dict[type, Handler] = {
    **_COMMON,
    **dict((_on(ContactorFeedback, follower.on_contactor_feedback), _on(BoardStateReport, follower.on_board_state))),
}
_HAL_COMMANDS = frozenset({SetPilot, SetContactors, SetLock, SetAuthorization, RequestBoardState})
#: inputs whose connector may be 0 (every connector / the station)
_ACCEPTS_ALL = frozenset(
    {RcdReading, TemperatureReading, BoardFault, MeterReading, MeterStatus, RfidPresented, Authorize,
     SetLimit, SetAvailability, SetPhases, ResetFault, RequestUnlock, HoldLock}
)


class Controller:
    """IEC 61851-1 controller for ``capabilities.connectors`` connectors (numbered from 1)."""

    def __init__(self, settings: ControllerSettings, capabilities: BoardCapabilities) -> None:
        self._ctx = ctx = Context(settings, capabilities)
        self.settings = settings
        self.capabilities = capabilities
        self._mode: Mode = FollowerMode(ctx) if ctx.board_owns else NormalMode(ctx)
        self._handlers = _FOLLOWER if ctx.board_owns else _NORMAL
        self._conns: Sequence[ConnectorState] = ctx.conns[1:]
        self._started = False
        #: snapshots as of the last step: the state changes only in start() and handle(), and the
        #: OCPP side asks several times per step (status, MeterValues, smart charging)
        self._snaps: dict[int, ConnectorSnapshot] = {}

    @property
    def connectors(self) -> int:
        return self._ctx.connectors

    def start(self, now: float) -> list[ControllerOutput]:
        """Initial safe commands for every connector: pilot constant, contactors open, lock open."""
        self._snaps.clear()
        self._ctx.now = now
        self._started = True
        out: list[ControllerOutput] = []
        for c in self._conns:
            update_target(self._ctx, c)
            self._mode.start(c, now, out)
            report_offered(c, out)
        return out

    def handle(self, inp: ControllerInput, now: float) -> list[ControllerOutput]:
        """Process one input at monotonic time ``now``.

        Returns the HAL commands first, in execution order (an opening SetContactors before the
        pilot change), then the notifications (FaultChanged, StateChanged, OfferedCurrentChanged).
        """
        ctx = self._ctx
        self._snaps.clear()
        if now > ctx.now:
            ctx.now = now
        now = ctx.now
        handler = self._handlers.get(type(inp))
        if handler is None:
            raise TypeError(f"unsupported controller input: {type(inp).__name__}")
        self._validate(inp)  # before anything changes: a bad input leaves the state untouched
        out: list[ControllerOutput] = []
        mode = self._mode
        # 1. timers that are due, on every connector
        for c in self._conns:
            mode.run_timers(c, now, out)
        # 2. the input
        handler(ctx, inp, now, out)
        # 3. state machine and outputs
        for c in self._conns:
            mode.settle(c, now, out)
        # hardware commands first (contactors open before anyone logs the fault), then notifications
        if len(out) > 1:
            hal = [o for o in out if type(o) in _HAL_COMMANDS]
            if hal and len(hal) != len(out):
                hal.extend(o for o in out if type(o) not in _HAL_COMMANDS)
                return hal
        return out

    def next_deadline(self) -> float | None:
        """Monotonic time of the next timer (debounce, C1 timeout, ChargeDelay, supervision)."""
        ctx = self._ctx
        now = ctx.now
        deadlines = self._mode.deadlines
        best: float | None = None
        for c in self._conns:
            for t in deadlines(c):
                if t is not None and t > now and (best is None or t < best):
                    best = t
        return best

    def snapshot(self, n: int) -> ConnectorSnapshot:
        snap = self._snaps.get(n)
        if snap is None:
            c = self._ctx.conn(n)
            snap = self._snaps[n] = snapshot(self._ctx, c, self._mode.ev_flags(c))
        return snap

    def snapshots(self) -> list[ConnectorSnapshot]:
        return [self.snapshot(c.number) for c in self._conns]

    def check_invariants(self) -> None:
        """Raise AssertionError naming the first broken safety invariant."""
        now = self._ctx.now
        check = self._mode.check
        for c in self._conns:
            cmd = c.cmd
            if cmd.c2_changed_under_c1:
                raise AssertionError(f"connector {c.number}: C2 changed while C1 was closed")
            if cmd.c2 and not cmd.c1:
                raise AssertionError(f"connector {c.number}: C2 closed without C1")
            check(c, now)

    def _validate(self, inp: ControllerInput) -> None:
        n = getattr(inp, "connector", None)
        if n is not None:
            lowest = 0 if type(inp) in _ACCEPTS_ALL else 1
            if not isinstance(n, int) or not lowest <= n <= self.connectors:
                raise ValueError(f"{type(inp).__name__}.connector must be {lowest}..{self.connectors}, got {n!r}")
        if type(inp) is SetLimit:
            if not inp.name:
                raise ValueError("SetLimit.name must not be empty")
            if inp.amps is not None and not (isinstance(inp.amps, int | float) and inp.amps >= 0.0):
                raise ValueError(f"SetLimit.amps must be >= 0 or None, got {inp.amps!r}")
        elif type(inp) is SetPhases and inp.phases not in (1, 3):
            raise ValueError(f"SetPhases.phases must be 1 or 3, got {inp.phases!r}")
        elif type(inp) is BoardStateReport and str(inp.state).strip().upper() not in SUBSTATE_OF:
            raise ValueError(f"BoardStateReport.state: unknown state {inp.state!r}")
        elif type(inp) is ResetFault and not isinstance(inp.fault, Fault):
            raise ValueError(f"ResetFault.fault must be a Fault, got {inp.fault!r}")
