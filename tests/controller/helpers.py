"""A small driver for the pure controller: feeds inputs at given times and checks invariants."""

from __future__ import annotations

from typing import Any

from chargepoint.controller import Controller, ControllerSettings, StateChanged, Tick
from hal.types import (
    BoardCapabilities,
    ContactorFeedback,
    DiodeReading,
    LockFeedback,
    LockState,
    PilotLevel,
    PilotReading,
    ProximityReading,
    SetContactors,
    SetPilot,
)


class Drive:
    def __init__(self, caps: dict[str, Any] | None = None, **settings: Any) -> None:
        self.caps = BoardCapabilities(**(caps or {}))
        self.c = Controller(ControllerSettings(**settings), self.caps)
        self.now = 0.0
        self.log: list[tuple[float, Any]] = []
        self.outs = self.c.start(0.0)
        #: answer every SetContactors with matching ContactorFeedback (a healthy relay)
        self.auto_feedback = True

    def __call__(self, inp: Any, t: float | None = None) -> list[Any]:
        if t is not None:
            self.now = t
        outs = self.c.handle(inp, self.now)
        self.c.check_invariants()
        self.log.extend((self.now, o) for o in outs)
        if self.auto_feedback:
            for o in [o for o in outs if isinstance(o, SetContactors)]:
                more = self.c.handle(ContactorFeedback(o.connector, o.c1, o.c2), self.now)
                self.c.check_invariants()
                self.log.extend((self.now, m) for m in more)
                outs = outs + more
        return outs

    def tick(self, t: float) -> list[Any]:
        return self(Tick(), t)

    def snap(self, n: int = 1):  # type: ignore[no-untyped-def]
        return self.c.snapshot(n)

    def until(self, t_end: float) -> None:
        """Send Ticks at every deadline up to t_end."""
        while True:
            d = self.c.next_deadline()
            if d is None or d > t_end:
                break
            self.tick(d)
        self.now = t_end

    # -- common sequences
    def plug(self, t: float, ohms: float | None = 220.0, n: int = 1) -> None:
        self(ProximityReading(n, ohms), t)
        self(PilotReading(n, PilotLevel.V9), t)

    def to_b2(self, t0: float = 1.0, n: int = 1, ohms: float | None = 220.0) -> None:
        """Plug, authorise, lock, diode: B2 (PWM offered) from ``t0 + 0.7``, the EV at 9 V."""
        from chargepoint.controller import Authorize

        self.plug(t0, ohms, n=n)
        self(Authorize(n, True), t0 + 0.1)
        self(LockFeedback(n, LockState.LOCKED), t0 + 0.7)
        self(DiodeReading(n, True), t0 + 0.75)
        assert self.snap(n).substate == "B2"

    def to_charging(self, t0: float = 1.0, n: int = 1) -> float:
        """Plug, authorise, lock, diode, 6 V; returns the time C2 was entered."""
        self.to_b2(t0, n)
        self(PilotReading(n, PilotLevel.V6), t0 + 1.0)
        self.tick(t0 + 1.51)
        assert self.snap(n).substate == "C2"
        return t0 + 1.51


def contactors(outs: list[Any]) -> list[tuple[bool, bool]]:
    return [(o.c1, o.c2) for o in outs if isinstance(o, SetContactors)]


def pilots(outs: list[Any]) -> list[SetPilot]:
    return [o for o in outs if isinstance(o, SetPilot)]


def states(outs: list[Any]) -> list[tuple[str, str]]:
    return [(str(o.old), str(o.new)) for o in outs if isinstance(o, StateChanged)]
