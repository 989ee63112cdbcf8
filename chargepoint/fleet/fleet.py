"""The fleet: many members in one event loop, started at a ramp rate, driven by their behaviour.

``Fleet(clock, template, data_dir)``; ``await fleet.start()`` begins the ramp (members start in the
background at ``template.ramp_per_s``, the rate of the whole fleet: a shard takes its share, see
:attr:`Fleet.ramp_per_s`); ``await fleet.stop()``.  ``fleet.summary()`` is what the
console and ``GET /api/summary`` show: counts the members keep up to date as their state changes
(``Member.on_counts``), so a summary costs the same at 10 or 10,000 members.

The ramp is a scheduler, not a loop over the members: it starts the members that are due, at most
``RAMP_BATCH`` per turn of the event loop and at most ``MAX_SETTING_UP`` in set-up at once, and
yields in between -- the HTTP API, the console and the members already running are served while
thousands boot.  ``shard=(i, n)`` keeps only the i-th of n contiguous slices of
the template's numbers (``--shard i/n``), so several processes or machines share one id range.

Persistence (``store``): ``"shared"`` (default) keeps every member's state in one SQLite database,
``<data_dir>/fleet.sqlite3`` (``fleet-<i>of<n>.sqlite3`` for a shard: one writer per file), with
group commits (:mod:`chargepoint.fleet.store`); ``"per-cp"`` keeps each member's own file in
``<data_dir>/<cp id>/``.  Either way a restarted fleet recovers every member's transactions and
outbox as a single charge point would.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chargepoint.clock import Clock
from chargepoint.fleet.behaviour import Driver, DriverStats
from chargepoint.fleet.latency import Histogram, Traffic
from chargepoint.fleet.member import Member, MemberCounts
from chargepoint.fleet.store import FleetStore, fleet_db_file
from chargepoint.fleet.template import FleetTemplate, TemplateError
from chargepoint.fleet.timers import SharedTimers

log = logging.getLogger("chargepoint.fleet")

STORES = ("shared", "per-cp")
#: members started per turn of the event loop (each builds its parts and opens its store)
RAMP_BATCH = 10
#: members between "start" and "set-up done" at once (a slow disk must not pile up thousands)
MAX_SETTING_UP = 200
#: members started but not yet booted (in their first BOOTING_S seconds) at once: when the CSMS or
#: the machine cannot keep up, the ramp waits instead of piling up connects and boots -- a loop that
#: lags by seconds would time out the members' own contactor feedback and call them faulted
MAX_BOOTING = 100
BOOTING_S = 30.0
#: after this many members more, what they allocated is moved out of the garbage collector's sight
#: (``gc.freeze``): a full collection would otherwise walk every object of every member -- seconds
#: at 10,000 members, the loop stalled all the while -- again and again as the heap grows
FREEZE_EVERY = 250


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with 0 <= i < n."""
    a, sep, b = text.partition("/")
    try:
        i, n = int(a), int(b)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise TemplateError("--shard", f"expected i/n with 0 <= i < n, got {text!r}")
    return i, n


def shard_numbers(numbers: range, shard: tuple[int, int]) -> range:
    """The i-th of n contiguous, nearly equal slices of ``numbers``."""
    i, n = shard
    size, extra = divmod(len(numbers), n)
    start = i * size + min(i, extra)
    stop = start + size + (1 if i < extra else 0)
    return numbers[start:stop]


@dataclass
class Counters:
    """Messages seen per summary interval (for msgs/s)."""

    last_frames: int = 0
    last_time: float = 0.0
    rate: float = 0.0
    window: Histogram = field(default_factory=Histogram)


class Fleet:
    def __init__(self, clock: Clock, template: FleetTemplate, data_dir: Path | str, *,
                 shard: tuple[int, int] = (0, 1), seed: int = 1, store: str = "shared") -> None:
        if store not in STORES:
            raise TemplateError("--store", f"must be one of {', '.join(STORES)}, got {store!r}")
        self.clock = clock
        self.template = template
        self.data_dir = Path(data_dir)
        self.shard = shard
        self.seed = seed
        self.store_kind = store
        self.store: FleetStore | None = None
        self.numbers = shard_numbers(template.numbers(), shard)
        #: this process's boot rate: ``--ramp`` is the rate the CSMS sees from the whole fleet, so each
        #: of n shards (``--shard``, ``--workers``) starts its members at 1/n of it -- the shards together
        #: boot at the rate asked, not n times it
        self.ramp_per_s = template.ramp_per_s / shard[1]
        self.histogram = Histogram()  # every latency since the start
        self.counters = Counters()
        self.traffic = Traffic()
        #: sums of the members' counts: running, connected, booted, heartbeating, charging, errors
        self.counts = [0, 0, 0, 0, 0, 0]
        self.timers = SharedTimers(clock, on_error=self._behaviour_failed)
        self.driver_stats = DriverStats()
        self.members: dict[str, Member] = {}
        self.drivers: dict[str, Driver] = {}
        self.started_at: float | None = None
        self.ramp_done_at: float | None = None
        self.behaviour_errors = 0
        self._ramp: asyncio.Task[None] | None = None
        self._stopping = False
        for spec in template.specs(self.numbers):
            if spec.cp_id in self.members:
                raise TemplateError("fleet.id", f"pattern {template.id_pattern!r} gives {spec.cp_id!r} twice")
            member = Member(clock, spec, template.csms_url, self.data_dir / spec.cp_id,
                            histograms=(self.histogram, self.counters.window), traffic=self.traffic)
            member.on_counts = self._counts_changed
            self.members[spec.cp_id] = member

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self, wait: bool = False) -> None:
        """Begin the ramp; with ``wait`` return when every member has been started."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = self.clock.monotonic()
        self.counters.last_time = self.started_at
        if self.store_kind == "shared" and self.store is None:
            self.store = FleetStore(self.clock, self.data_dir / fleet_db_file(self.shard))
            await self.store.start()
            for member in self.members.values():
                member.fleet_store = self.store
        self._ramp = asyncio.create_task(self._run_ramp(list(self.members.values())), name="fleet-ramp")
        if wait:
            await asyncio.shield(self._ramp)

    async def _run_ramp(self, members: list[Member]) -> None:
        rate = self.ramp_per_s
        clock = self.clock
        t0 = clock.monotonic()
        setting_up: set[asyncio.Task[None]] = set()
        booting: deque[tuple[float, Member]] = deque()
        k, n = 0, len(members)
        frozen = 0
        try:
            while k < n and not self._stopping:
                now = clock.monotonic()
                while booting and (booting[0][1].counts[2] or now - booting[0][0] > BOOTING_S):
                    booting.popleft()
                # (+1e-9: at t0 + k / rate exactly, k is due -- without it the float product can land
                # just below k, and the ramp would sleep 0 s again and again: in virtual time, for ever)
                due = n if rate <= 0 else min(n, int((now - t0) * rate + 1e-9) + 1)
                room = min(due - k, RAMP_BATCH, MAX_SETTING_UP - len(setting_up), MAX_BOOTING - len(booting))
                for _ in range(max(0, room)):
                    member = members[k]
                    task = asyncio.create_task(self._start_member(member), name=f"start-{member.cp_id}")
                    setting_up.add(task)
                    task.add_done_callback(setting_up.discard)
                    booting.append((now, member))
                    k += 1
                if k >= n:
                    break
                if k - frozen >= FREEZE_EVERY:
                    gc.freeze()
                    frozen = k
                if len(setting_up) >= MAX_SETTING_UP:
                    await asyncio.wait(set(setting_up), return_when=asyncio.FIRST_COMPLETED)
                elif len(booting) >= MAX_BOOTING:
                    await clock.sleep(0.02)  # until the oldest have booted
                elif k < due:
                    await clock.sleep(0)  # behind the ramp: the next batch after one turn of the loop
                else:
                    await clock.sleep(max(t0 + k / rate - now, 1e-6))
        finally:
            # also when cancelled (stop): members half-way through their start finish it, so that
            # stop() finds them started and stops them, instead of leaving their tasks behind
            if setting_up:
                await asyncio.gather(*setting_up, return_exceptions=True)
        gc.freeze()
        if not self._stopping:
            self.ramp_done_at = clock.monotonic()
            log.info("fleet ramp done: %d charge points in %.1f s", n, self.ramp_done_at - t0)

    async def _start_member(self, member: Member) -> None:
        try:
            await member.start()
        except Exception:
            member.note_error()
            log.exception("%s: start failed", member.cp_id)
            return
        self._start_driver(member)

    def _counts_changed(self, old: MemberCounts, new: MemberCounts) -> None:
        counts = self.counts
        for i in range(len(counts)):
            counts[i] += new[i] - old[i]

    def _start_driver(self, member: Member) -> None:
        driver = Driver(member, member.spec.behaviour, self.timers, random.Random(self.seed * 1_000_003 + member.spec.n),
                        self.driver_stats)
        self.drivers[member.cp_id] = driver
        driver.start()

    async def stop(self) -> None:
        """Stop every member (a clean stop: open transactions stay open in the stores, a restart of the
        fleet recovers them as a single charge point does after a restart)."""
        self._stopping = True
        await self.clock.cancel_and_wait(self._ramp)
        for driver in self.drivers.values():
            driver.stop()
        self.timers.close()
        members = [m for m in self.members.values() if m.started]
        for i in range(0, len(members), 500):  # bounded fan-out: 10,000 closes at once stall the loop
            await asyncio.gather(*(m.stop() for m in members[i:i + 500]), return_exceptions=True)
        if self.store is not None:
            await self.store.close()
            self.store = None

    # -- control ----------------------------------------------------------------------------------------
    def select(self, *, ids: Iterable[str] | None = None, group: str | None = None, prefix: str | None = None,
               state: str | None = None) -> list[Member]:
        """Members matching every given filter (ids, group name, id prefix, state)."""
        wanted = set(ids) if ids is not None else None
        out = []
        for m in self.members.values():
            if wanted is not None and m.cp_id not in wanted:
                continue
            if group is not None and m.spec.group != group:
                continue
            if prefix is not None and not m.cp_id.startswith(prefix):
                continue
            if state is not None and member_state(m) != state:
                continue
            out.append(m)
        return out

    async def start_members(self, members: list[Member]) -> int:
        started = 0
        for m in members:
            if not m.started:
                await self._start_member(m)
                started += 1
        return started

    async def stop_members(self, members: list[Member]) -> int:
        stopped = 0
        for m in members:
            if m.started:
                driver = self.drivers.pop(m.cp_id, None)
                if driver is not None:
                    driver.stop()
                await m.stop()
                stopped += 1
        return stopped

    def _behaviour_failed(self, error: BaseException) -> None:
        self.behaviour_errors += 1
        log.warning("behaviour step failed: %r", error)

    # -- observation -------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts and rates now; msgs/s and the window latencies cover the time since the last call."""
        running, connected, booted, heartbeating, charging, errors = self.counts
        frames = self.traffic.frames
        now = self.clock.monotonic()
        c = self.counters
        if now > c.last_time:
            c.rate = (frames - c.last_frames) / (now - c.last_time)
        c.last_frames, c.last_time = frames, now
        window = c.window
        out = {
            "charge_points": len(self.members), "running": running, "connected": connected, "booted": booted,
            "charging": charging, "errors": errors, "heartbeating": heartbeating,
            "msgs_per_s": round(c.rate, 1), "frames": frames,
            "latency_p50_ms": window.percentile(50), "latency_p99_ms": window.percentile(99),
            "latency_all_p50_ms": self.histogram.percentile(50), "latency_all_p99_ms": self.histogram.percentile(99),
            "calls": self.histogram.total, "arrivals": self.driver_stats.arrivals,
            "departures": self.driver_stats.departures, "faults_injected": self.driver_stats.faults,
            "ramp_s": (self.ramp_done_at - self.started_at)
            if self.ramp_done_at is not None and self.started_at is not None else None,
            "shard": f"{self.shard[0]}/{self.shard[1]}", "ramp_per_s": self.ramp_per_s, "loop": _loop_name(),
        }
        window.reset()
        return out


def _loop_name() -> str | None:
    """The event loop the fleet runs on: "uvloop" or "asyncio" (``chargepoint fleet --loop``)."""
    try:
        return type(asyncio.get_running_loop()).__module__.split(".")[0]
    except RuntimeError:
        return None


def member_state(m: Member) -> str:
    """One word: stopped, offline, booting, charging, faulted, idle."""
    if not m.started:
        return "stopped"
    if not m.connected:
        return "offline"
    if m.registration != "Accepted":
        return "booting"
    if m.faulted():
        return "faulted"
    if m.charging_connectors():
        return "charging"
    return "idle"
