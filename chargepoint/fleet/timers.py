"""One timer for a whole fleet: a heap of due callbacks behind a single loop timer.

Ten thousand charge points with a behaviour each would otherwise keep ten thousand sleeping tasks
(or loop timers that are re-armed one by one).  :class:`SharedTimers` keeps every behaviour
deadline in one heap and arms one ``clock.call_at`` for the earliest; it works in real and in
virtual time alike (the clock's loop decides).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from chargepoint.clock import Clock


class TimerEntry:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SharedTimers:
    def __init__(self, clock: Clock, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, TimerEntry]] = []
        self._seq = itertools.count()
        self._handle: Any = None
        self._armed_at: float | None = None
        self._on_error = on_error
        self.fired = 0

    def __len__(self) -> int:
        return sum(1 for _, _, e in self._heap if not e.cancelled)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerEntry:
        entry = TimerEntry(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), entry))
        if self._armed_at is None or when < self._armed_at:
            self._arm()
        return entry

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerEntry:
        return self.call_at(self.clock.monotonic() + max(0.0, delay), callback, *args)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_at = None
        self._heap.clear()

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        if not self._heap:
            self._armed_at = None
            return
        self._armed_at = self._heap[0][0]
        self._handle = self.clock.call_at(self._armed_at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = None
        now = self.clock.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, entry = heapq.heappop(heap)
            if entry.cancelled:
                continue
            self.fired += 1
            try:
                entry.callback(*entry.args)
            except Exception as e:  # one charge point's behaviour must not stop the others
                if self._on_error is not None:
                    self._on_error(e)
        self._arm()
