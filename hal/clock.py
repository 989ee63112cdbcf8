"""The clock as the backends see it: an interface only (``chargepoint.clock`` implements it).

Backends take every time they need from a :class:`Clock` handed to them, so the whole program can
run in virtual time (design rule 2).  ``RealClock`` and ``VirtualClock`` in ``chargepoint/clock.py``
satisfy this protocol; backends annotate with it and import no implementation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class TimerHandle(Protocol):
    """What ``call_later`` / ``call_at`` return: a timer that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds for timers, aware-UTC datetimes for timestamps, and waiting on both."""

    @property
    def virtual(self) -> bool: ...

    def monotonic(self) -> float: ...

    def timestamp(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, monotonic_deadline: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle: ...

    def call_at(self, monotonic_deadline: float, callback: Callable[..., Any], *args: Any) -> TimerHandle: ...

    async def wait_for(self, aw: Awaitable[T], seconds: float | None) -> T: ...

    async def cancel_and_wait(self, *tasks: Any) -> None:
        """Cancel ``tasks`` (asyncio tasks; ``None`` entries skipped) and return once all have
        ended, cancelling again any that swallowed the cancellation."""
