"""The home integrations' shared state for one station lifetime: access mode (Off / Pause), sessions,
API-fed home battery, the last hour of currents, and a change signal for the live page and MQTT.

:class:`HomeHub` is a runtime service (built by ``home_service_factories``); the REST routes, the
MQTT bridge, the status page and the metrics find it with :func:`find_hub`.  It only reads the
station and the energy service and submits controller inputs through ``station.submit`` /
``energy.update`` like any other part.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from chargepoint.controller.types import ConnectorSnapshot, HoldLock, IecState, SetLimit, StateChanged
from chargepoint.home.firmware import ENERGY_MODE_OF, OFF_LIMIT, PAUSE_LIMIT, ModeId, mode_id
from hal.types import MeterReading, RfidPresented

log = structlog.get_logger("home")

#: the live page's chart: one sample every HISTORY_STEP_S for HISTORY_S
HISTORY_S = 3600.0
HISTORY_STEP_S = 5.0


@dataclass(slots=True)
class Session:
    """A plug-in session of one connector: from EV connected to unplug (kept until the next plug)."""

    start_mono: float
    start_wh: float
    end_mono: float | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One chart point: time (wall, s since epoch), per connector (offered A, drawn A max phase, limit A)."""

    t: float
    connectors: tuple[tuple[float, float, float | None], ...]


class HomeHub:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.sessions: dict[int, Session] = {}
        self.battery_da: int | None = None
        self.battery_at: float | None = None  # wall time of the last battery update
        self.mains_at: float | None = None  # wall time of the last API-fed mains update
        self.rfid_last: str | None = None
        #: API-fed EV meter energies (import Wh, export Wh, power W) -- POST /ev_meter
        self.ev_energy: tuple[float, float, float] | None = None
        self.cable_lock = False  # the firmware's CableLock: keep every cable locked
        #: the MQTT bridge's status for GET /settings (set by the bridge while it runs)
        self.mqtt_status: Callable[[], dict[str, Any]] | None = None
        self.history: deque[Sample] = deque(maxlen=int(HISTORY_S / HISTORY_STEP_S) + 1)
        self.closed = False  # set by stop(): long-lived readers (the page's event streams) end
        self.version = 0  # bumped on every station item: the page and MQTT wait on it
        self._changed = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        station = self.runtime.station
        now = self.runtime.clock.monotonic()
        for snap in station.snapshots():
            if snap.ev_connected:
                self.sessions[snap.connector] = Session(now, self._energy_wh(snap.connector))
        self._unsubscribe = station.subscribe(self._on_item)
        self._task = asyncio.create_task(self._sampler(), name="home-history")

    async def stop(self) -> None:
        self.closed = True
        self.notify()  # event streams waiting on a change see ``closed`` and end
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.runtime.clock.cancel_and_wait(self._task)
        self._task = None

    # -- station items --------------------------------------------------------------------
    def _on_item(self, item: Any) -> None:
        if isinstance(item, StateChanged):
            self._track_session(item)
        elif isinstance(item, RfidPresented):
            self.rfid_last = item.id_tag
        self.version += 1
        self._changed.set()

    def _track_session(self, item: StateChanged) -> None:
        now = self.runtime.clock.monotonic()
        snap = item.snapshot
        session = self.sessions.get(item.connector)
        if snap.iec_state == IecState.A:
            if session is not None and session.end_mono is None:
                session.end_mono = now
        elif session is None or session.end_mono is not None:
            self.sessions[item.connector] = Session(now, self._energy_wh(item.connector))

    def notify(self) -> None:
        """Something changed outside the station (settings, battery): wake the page and MQTT."""
        self.version += 1
        self._changed.set()

    async def wait_change(self, version: int, timeout: float) -> int:  # noqa: ASYNC109
        """Wait until ``self.version`` differs from ``version`` or ``timeout`` (clock) s passed."""
        if self.version == version:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await self.runtime.clock.wait_for(self._changed.wait(), timeout)
        return self.version

    # -- reading ----------------------------------------------------------------------------
    def _energy_wh(self, connector: int) -> float:
        station = self.runtime.station
        snap = station.snapshot(connector)
        meter: MeterReading | None = snap.meter or station.latest_meter(connector)
        return meter.energy_import_wh if meter is not None else 0.0

    def session_energy_wh(self, connector: int) -> float:
        session = self.sessions.get(connector)
        if session is None:
            return 0.0
        return max(0.0, self._energy_wh(connector) - session.start_wh)

    def session_duration_s(self, connector: int) -> float:
        session = self.sessions.get(connector)
        if session is None:
            return 0.0
        end = session.end_mono if session.end_mono is not None else self.runtime.clock.monotonic()
        return max(0.0, end - session.start_mono)

    def mode(self) -> ModeId:
        snaps = self.runtime.station.snapshots()
        limits = snaps[0].limits if snaps else {}
        return mode_id(self.runtime.energy.settings.mode, limits)

    # -- commands ----------------------------------------------------------------------------
    async def set_mode(self, mode: ModeId) -> None:
        """Off (access denied) / Pause stop the power with a named limit of 0 A on every connector;
        Normal / Smart / Solar lift them and set the energy manager's mode."""
        station = self.runtime.station
        await station.submit(SetLimit(0, OFF_LIMIT, 0.0 if mode is ModeId.OFF else None))
        await station.submit(SetLimit(0, PAUSE_LIMIT, 0.0 if mode is ModeId.PAUSE else None))
        energy_mode = ENERGY_MODE_OF.get(mode)
        if energy_mode is not None and energy_mode != self.runtime.energy.settings.mode:
            await self.runtime.energy.update({"mode": energy_mode.value})
        log.info("home_mode", mode=mode.name)
        self.notify()

    def feed_battery(self, current_da: int) -> None:
        self.runtime.energy.feed_battery_api(current_da / 10)
        self.battery_da = current_da
        self.battery_at = self.runtime.clock.timestamp()
        self.notify()

    async def set_cable_lock(self, on: bool) -> None:
        """CableLock: hold every connector's lock (HoldLock), or release the hold."""
        for n in range(1, self.runtime.station.connectors + 1):
            await self.runtime.station.submit(HoldLock(n, on))
        self.cable_lock = on
        self.notify()

    def feed_mains(self, l1_da: int, l2_da: int, l3_da: int) -> None:
        self.runtime.energy.feed_mains_api(l1_da / 10, l2_da / 10, l3_da / 10)
        self.mains_at = self.runtime.clock.timestamp()
        self.notify()

    # -- chart ---------------------------------------------------------------------------------
    def sample(self) -> Sample:
        station = self.runtime.station
        rows: list[tuple[float, float, float | None]] = []
        for snap in station.snapshots():
            rows.append((round(snap.offered_current_a, 1), round(drawn_a(station, snap), 2), limit_a(snap)))
        return Sample(round(self.runtime.clock.timestamp(), 1), tuple(rows))

    async def _sampler(self) -> None:
        while True:
            self.history.append(self.sample())
            self.notify()
            await self.runtime.clock.sleep(HISTORY_STEP_S)


def drawn_a(station: Any, snap: ConnectorSnapshot) -> float:
    meter: MeterReading | None = snap.meter or station.latest_meter(snap.connector)
    return max((abs(c) for c in meter.current_a), default=0.0) if meter is not None else 0.0


def limit_a(snap: ConnectorSnapshot) -> float | None:
    """The lowest named limit of a connector (None when none is set)."""
    values = [v for v in snap.limits.values() if v is not None]
    return round(min(values), 1) if values else None


def find_hub(runtime: Any) -> HomeHub | None:
    return next((s for s in getattr(runtime, "services", ()) if isinstance(s, HomeHub)), None)
