"""The one clock of the program.

Every piece of code takes time from a :class:`Clock`: ``monotonic()`` for timers and
``now()`` (aware UTC) for OCPP timestamps.  The pure core never reads a clock at all; the async
shell passes ``clock.monotonic()`` into it.

Two implementations:

* :class:`RealClock` -- the asyncio loop's own monotonic time and the system's UTC wall time.
* :class:`VirtualClock` -- runs on a :class:`VirtualTimeEventLoop`, whose time jumps straight to
  the next scheduled timer whenever nothing is runnable and no real I/O is ready.  Because
  asyncio's own timers (``asyncio.sleep``, ``wait_for``, websockets' keep-alive) read the loop's
  time, the whole program -- sockets included -- runs in virtual time: hours of charging in
  seconds, and the same result every run.

The wall clock can be corrected (OCPP BootNotification.conf currentTime) with
:meth:`Clock.set_wall_offset`; the monotonic clock never jumps.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: Default start of virtual wall time: deterministic replays start here unless told otherwise.
DEFAULT_VIRTUAL_START = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)  # a Monday
#: How long :meth:`Clock.cancel_and_wait` gives a cancelled task before cancelling it again.
RECANCEL_S = 0.5


class Clock:
    """Base class: monotonic seconds for timers, aware-UTC datetimes for timestamps."""

    virtual: bool = False

    def __init__(self) -> None:
        self._wall_offset = 0.0

    # -- time sources ------------------------------------------------------------------
    def monotonic(self) -> float:
        raise NotImplementedError

    def _raw_timestamp(self) -> float:
        raise NotImplementedError

    def timestamp(self) -> float:
        """Seconds since the Unix epoch (UTC), corrected by the wall offset."""
        return self._raw_timestamp() + self._wall_offset

    def now(self) -> datetime:
        """Aware UTC wall time."""
        return datetime.fromtimestamp(self.timestamp(), tz=UTC)

    def set_wall_offset(self, seconds: float) -> None:
        """Correct the wall clock (e.g. from the CSMS's currentTime).  Timers are not affected."""
        self._wall_offset = float(seconds)

    @property
    def wall_offset(self) -> float:
        return self._wall_offset

    def sync_wall(self, reference: datetime) -> float:
        """Adopt ``reference`` as the current wall time; returns the correction applied (s)."""
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=UTC)
        correction = reference.timestamp() - self._raw_timestamp()
        self.set_wall_offset(correction)
        return correction

    # -- waiting -----------------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, monotonic_deadline: float) -> None:
        await asyncio.sleep(max(0.0, monotonic_deadline - self.monotonic()))

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback, *args)

    def call_at(self, monotonic_deadline: float, callback: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_at(monotonic_deadline, callback, *args)

    async def wait_for(self, aw: Awaitable[T], seconds: float | None) -> T:
        """Like ``asyncio.wait_for`` but built on ``asyncio.timeout``: on Python 3.11,
        ``asyncio.wait_for`` loses a cancellation that arrives while the awaited thing completes,
        which can leave a cancelled task running forever.  Raises ``TimeoutError``."""
        async with asyncio.timeout(seconds):
            return await aw

    async def cancel_and_wait(self, *tasks: asyncio.Future[Any] | None) -> None:
        """Cancel ``tasks`` and wait until every one has ended; their results and errors are dropped.

        A task can swallow its cancellation: on Python 3.11 ``asyncio.wait_for`` -- used inside
        pymodbus and other libraries -- returns the result when the cancel arrives just as the
        awaited future completes, and the task carries on.  A bare ``task.cancel(); await task``
        then waits forever (a stop that never returns).  So a task still running after
        ``RECANCEL_S`` is cancelled again, until it ends."""
        pending: set[asyncio.Future[Any]] = {t for t in tasks if t is not None}
        for task in pending:
            task.cancel()
        while pending:
            _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
            for task in pending:
                task.cancel()
        for ended in tasks:
            if ended is not None and not ended.cancelled():
                ended.exception()  # retrieved: no "exception was never retrieved" at exit

    def seconds_until_wall(self, when: datetime) -> float:
        return (when - self.now()).total_seconds()


class RealClock(Clock):
    """Real time: the running loop's monotonic clock and the system's UTC clock."""

    def monotonic(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def _raw_timestamp(self) -> float:
        return time.time()

    def run(self, main: Coroutine[Any, Any, T],
            loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> T:
        """Run ``main`` on a new event loop: asyncio's own, or one ``loop_factory`` makes (uvloop)."""
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main)


#: Real seconds a virtual-time run may take before it is stopped as runaway.
DEFAULT_WALL_TIMEOUT = 240.0


class VirtualTimeout(TimeoutError):
    """A virtual-time run took longer than its wall-time allowance."""


class VirtualClock(Clock):
    """Virtual time, driven by a :class:`VirtualTimeEventLoop`."""

    virtual = True

    def __init__(self, start: datetime = DEFAULT_VIRTUAL_START) -> None:
        super().__init__()
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self.start_wall = start
        self.loop = VirtualTimeEventLoop()

    def monotonic(self) -> float:
        return self.loop.time()

    def _raw_timestamp(self) -> float:
        return self.start_wall.timestamp() + self.loop.time()

    def elapsed(self) -> timedelta:
        return timedelta(seconds=self.loop.time())

    def run(self, main: Coroutine[Any, Any, T], wall_timeout: float | None = DEFAULT_WALL_TIMEOUT) -> T:
        """Run ``main`` to completion on this clock's loop, then close the loop.

        ``wall_timeout`` (real seconds) guards against a run that spins forever in virtual time
        (e.g. waiting for something that never happens while keep-alive timers keep firing): the
        loop is stopped and :class:`VirtualTimeout` names the virtual time reached.
        """
        loop = self.loop
        asyncio.set_event_loop(loop)
        loop.wall_deadline = None if wall_timeout is None else time.monotonic() + wall_timeout
        try:
            try:
                return loop.run_until_complete(main)
            except RuntimeError:
                if loop.wall_expired:
                    raise VirtualTimeout(
                        f"virtual-time run exceeded {wall_timeout:g} s of wall time "
                        f"(virtual time reached {loop.time():.1f} s)"
                    ) from None
                raise
        finally:
            try:
                _cancel_all_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class _VirtualSelector(selectors.BaseSelector):
    """Wraps the real selector: polls real I/O without blocking, and when nothing is ready
    advances the loop's virtual time by the timeout asyncio asked to wait."""

    def __init__(self, loop: VirtualTimeEventLoop, real: selectors.BaseSelector) -> None:
        self._loop = loop
        self._real = real

    # delegation
    def register(self, fileobj: FileDescriptorLike, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: FileDescriptorLike, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        if loop.wall_deadline is not None and not loop.wall_expired and time.monotonic() > loop.wall_deadline:
            loop.wall_expired = True
            loop.stop()
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if self._loop.real_work_pending():
            # A thread (executor job) will wake the loop through its self-pipe: wait for real.
            wait = 0.05 if timeout is None else min(timeout, 0.05)
            return self._real.select(wait)
        if timeout is None:
            # Nothing scheduled at all: only real I/O can make progress.
            return self._real.select(None)
        self._loop.advance(timeout)
        return []


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is virtual and jumps to the next timer when idle."""

    def __init__(self) -> None:
        real = selectors.DefaultSelector()
        self._virtual_now = 0.0
        self._executor_jobs = 0
        self.wall_deadline: float | None = None
        self.wall_expired = False
        super().__init__(_VirtualSelector(self, real))
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._virtual_now += seconds

    def real_work_pending(self) -> bool:
        return self._executor_jobs > 0

    def run_in_executor(self, executor: Executor | None, func: Callable[[*Ts], T],
                        *args: *Ts) -> asyncio.Future[T]:
        fut = super().run_in_executor(executor, func, *args)
        self._executor_jobs += 1

        def _done(_: asyncio.Future[T]) -> None:
            self._executor_jobs -= 1

        fut.add_done_callback(_done)
        return fut
