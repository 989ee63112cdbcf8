"""What the drivers do at each charge point: arrivals, sessions, EV mix, RFID tags, faults.

A :class:`Driver` acts on one member through its board controls (plug, RFID, unplug, fault) --
exactly what a person at a real charger does; the charge point's own controller and OCPP client
do the rest (authorisation, StartTransaction, MeterValues, StopTransaction).  All deadlines live
in the fleet's :class:`~chargepoint.fleet.timers.SharedTimers`: no task per charge point.

* arrivals: Poisson (``arrivals_per_hour`` per connector) or a fixed ``schedule`` (seconds after the
  member started, repeated every ``schedule_repeat_s``); ``charging_at_start`` plugs at once;
* session: stays plugged ``session_s`` (uniform in [min, max]); the EV wants ``energy_kwh`` (its SoC
  is set so that it is full after that energy, then it stops drawing -- SuspendedEV);
* faults: Poisson ``faults_per_hour`` per charge point, a random kind for ``fault_s`` seconds.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chargepoint.fleet.spec import Behaviour, EvType
from chargepoint.fleet.timers import SharedTimers, TimerEntry

if TYPE_CHECKING:
    from chargepoint.fleet.member import Member

log = logging.getLogger("chargepoint.fleet.behaviour")

#: an arrival at a charge point that is not registered yet is retried after this many seconds
NOT_READY_RETRY_S = 5.0


@dataclass
class DriverStats:
    arrivals: int = 0
    departures: int = 0
    faults: int = 0
    skipped: int = 0  # arrivals at an occupied connector


class Driver:
    def __init__(self, member: Member, behaviour: Behaviour, timers: SharedTimers, rng: random.Random,
                 stats: DriverStats) -> None:
        self.member = member
        self.b = behaviour
        self.timers = timers
        self.rng = rng
        self.stats = stats
        self.plugged: set[int] = set()
        self._entries: list[TimerEntry] = []
        self._started_at = 0.0
        self.running = False

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self.running = True
        self._started_at = self.timers.clock.monotonic()
        b = self.b
        for c in range(1, self.member.spec.connectors + 1):
            if b.charging_at_start > 0 and self.rng.random() < b.charging_at_start:
                self._at(0.5 + self.rng.random(), self._arrive, c)
            else:
                self._schedule_arrival(c, first=True)
        if b.faults_per_hour > 0:
            self._at(self.rng.expovariate(b.faults_per_hour / 3600.0), self._fault)

    def stop(self) -> None:
        self.running = False
        for e in self._entries:
            e.cancel()
        self._entries.clear()

    def _at(self, delay: float, fn: Callable[..., object], *args: object) -> None:
        entries = self._entries
        if len(entries) > 16:
            entries[:] = [e for e in entries if not e.cancelled and e.when > self.timers.clock.monotonic()]
        entries.append(self.timers.call_later(delay, fn, *args))

    # -- arrivals ---------------------------------------------------------------------------------------
    def _schedule_arrival(self, connector: int, first: bool = False) -> None:
        b = self.b
        if b.schedule:
            elapsed = self.timers.clock.monotonic() - self._started_at
            nxt = _next_scheduled(b.schedule, b.schedule_repeat_s, elapsed, first)
            if nxt is not None:
                self._at(nxt - elapsed, self._arrive, connector)
        elif b.arrivals_per_hour > 0:
            self._at(self.rng.expovariate(b.arrivals_per_hour / 3600.0), self._arrive, connector)

    def _arrive(self, connector: int) -> None:
        if not self.running:
            return
        m = self.member
        if m.registration != "Accepted" or not m.started:
            self._at(NOT_READY_RETRY_S, self._arrive, connector)
            return
        if connector in self.plugged:
            self.stats.skipped += 1
            self._schedule_arrival(connector)
            return
        ev = self.pick_ev()
        wanted = self.rng.uniform(*self.b.energy_kwh)
        capacity = max(ev.capacity_kwh, wanted)
        soc = max(0.0, 100.0 * (1.0 - wanted / capacity))
        m.plug(connector, phases=ev.phases, max_current_a=ev.max_current_a, soc=soc, capacity_kwh=capacity)
        m.rfid(self.pick_tag(), connector)
        self.plugged.add(connector)
        self.stats.arrivals += 1
        self._at(self.rng.uniform(*self.b.session_s), self._depart, connector)

    def _depart(self, connector: int) -> None:
        if not self.running:
            return
        if connector in self.plugged and self.member.started:
            self.member.unplug(connector)
            self.stats.departures += 1
        self.plugged.discard(connector)
        self._schedule_arrival(connector)

    def pick_ev(self) -> EvType:
        mix = self.b.ev_mix
        if len(mix) == 1:
            return mix[0]
        return self.rng.choices(mix, weights=[e.weight for e in mix])[0]

    def pick_tag(self) -> str:
        tags = self.b.rfid_tags
        return self.rng.choice(tags) if tags else f"{self.member.cp_id[-16:]}-TAG"

    # -- faults ----------------------------------------------------------------------------------------
    def _fault(self) -> None:
        if not self.running:
            return
        m = self.member
        if m.started:
            kind = self.rng.choice(self.b.fault_kinds)
            connector = self.rng.randint(1, m.spec.connectors)
            m.fault(kind, True, connector)
            self.stats.faults += 1
            self._at(self.b.fault_s, self._clear_fault, kind, connector)
        self._at(self.rng.expovariate(self.b.faults_per_hour / 3600.0), self._fault)

    def _clear_fault(self, kind: str, connector: int) -> None:
        if self.running and self.member.started:
            self.member.fault(kind, False, connector)


def _next_scheduled(schedule: tuple[float, ...], repeat: float, elapsed: float, first: bool) -> float | None:
    """The next schedule time (seconds after start) after ``elapsed`` (at or after it when ``first``)."""
    base = max(0.0, (elapsed // repeat - 1) * repeat) if repeat > 0 else 0.0
    while True:
        for t in schedule:
            if base + t > elapsed or (first and base + t >= elapsed):
                return base + t
        if repeat <= 0:
            return None
        base += repeat
        if base > elapsed + 10 * 365 * 86400:
            return None
