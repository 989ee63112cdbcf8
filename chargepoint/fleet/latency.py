"""CSMS latency per charge point: the time from sending a CALL to receiving its CALLRESULT/CALLERROR.

:class:`LatencyConnection` wraps one websocket connection (``OcppClient.wrap_connection``) and looks
only at the first characters of each frame -- no JSON parsing on the hot path.  Each member keeps
its samples in a :class:`LatencyLog` (a bounded ring of float milliseconds, with the action name);
the fleet aggregates p50/p99 and exports them at the end.
"""

from __future__ import annotations

import math
import time
from array import array
from typing import Any

#: samples kept per charge point (the oldest are overwritten)
RING = 256
#: histogram buckets per factor e (about 5 % wide), from 0.01 ms
_PER_E = 20
_BUCKETS = 400


class Histogram:
    """Log-bucketed latency histogram of the whole fleet (p50/p99 without sorting samples)."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.total = 0

    def add(self, ms: float) -> None:
        b = int(math.log(ms * 100.0) * _PER_E) if ms > 0.01 else 0
        self.counts[min(b, _BUCKETS - 1)] += 1
        self.total += 1

    def percentile(self, p: float) -> float | None:
        if self.total == 0:
            return None
        rank = max(1, math.ceil(p / 100.0 * self.total))
        seen = 0
        for b, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return round(math.exp((b + 0.5) / _PER_E) / 100.0, 3)
        return None

    def merge(self, other: Histogram) -> None:
        for b, c in enumerate(other.counts):
            self.counts[b] += c
        self.total += other.total

    def reset(self) -> None:
        self.counts = [0] * _BUCKETS
        self.total = 0


def _unique_id(frame: str, start: int) -> str | None:
    """The unique id of ``[n,"<id>",...`` starting the search at ``start`` (the first quote)."""
    q1 = frame.find('"', start)
    if q1 < 0:
        return None
    q2 = frame.find('"', q1 + 1)
    return frame[q1 + 1:q2] if q2 > q1 else None


def _action(frame: str, after: int) -> str:
    q1 = frame.find('"', after)
    q2 = frame.find('"', q1 + 1) if q1 >= 0 else -1
    return frame[q1 + 1:q2] if q2 > q1 else "?"


class Traffic:
    """Frames in and out of a whole fleet (one counter, not a sum over the members)."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames = 0


class LatencyLog:
    """Latencies of one charge point, in milliseconds; ``count`` counts every sample ever taken."""

    __slots__ = ("_actions", "_pos", "count", "frames_in", "frames_out", "histograms", "samples", "traffic")

    def __init__(self, histograms: tuple[Histogram, ...] = (), traffic: Traffic | None = None) -> None:
        #: fleet-wide histograms every sample is also counted in
        self.histograms = histograms
        #: the fleet-wide frame counter every frame is also counted in
        self.traffic = traffic if traffic is not None else Traffic()
        self.samples = array("f")
        self._actions: list[str] = []
        self._pos = 0
        self.count = 0
        self.frames_in = 0
        self.frames_out = 0

    def add(self, action: str, ms: float) -> None:
        self.count += 1
        for h in self.histograms:
            h.add(ms)
        if len(self.samples) < RING:
            self.samples.append(ms)
            self._actions.append(action)
        else:
            self.samples[self._pos] = ms
            self._actions[self._pos] = action
            self._pos = (self._pos + 1) % RING

    def items(self) -> list[tuple[str, float]]:
        return list(zip(self._actions, self.samples, strict=True))

    def summary(self) -> dict[str, Any]:
        values = sorted(self.samples)
        return {"count": self.count, "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
                "frames_in": self.frames_in, "frames_out": self.frames_out}


def percentile(sorted_values: Any, p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (None when empty)."""
    n = len(sorted_values)
    if n == 0:
        return None
    k = max(0, min(n - 1, math.ceil(p / 100.0 * n) - 1))
    return round(float(sorted_values[k]), 3)


class LatencyConnection:
    """A websocket connection that times our CALLs; everything else is passed through."""

    def __init__(self, ws: Any, log: LatencyLog) -> None:
        self._ws = ws
        self._log = log
        self._pending: dict[str, tuple[str, float]] = {}

    async def send(self, message: str | bytes) -> None:
        log = self._log
        log.frames_out += 1
        log.traffic.frames += 1
        if isinstance(message, str) and message.startswith("[2"):
            uid = _unique_id(message, 2)
            if uid is not None:
                action = _action(message, message.find('"', message.find('"', 2) + 1) + 1)
                self._pending[uid] = (action, time.perf_counter())
        await self._ws.send(message)

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        message = await self._ws.recv(*args, **kwargs)
        self._log.frames_in += 1
        self._log.traffic.frames += 1
        if isinstance(message, str) and (message.startswith("[3") or message.startswith("[4")):
            uid = _unique_id(message, 2)
            sent = self._pending.pop(uid, None) if uid is not None else None
            if sent is not None:
                self._log.add(sent[0], (time.perf_counter() - sent[1]) * 1000.0)
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)
