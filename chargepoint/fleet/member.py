"""One charge point of a fleet: its own simulated board + EV, controller, station and OCPP client
(session, outbox, configuration keys, persistent store) -- the same parts ``chargepoint run`` wires.

A member is built from a :class:`~chargepoint.fleet.template.CpSpec`.  An OCPP Reset restarts the
member in-process (its state lives in its store), like the runtime does for a single charge point.
With ``fleet_store`` set its store is a view on the fleet's shared database and every frame it sends
waits for its writes' group commit (:mod:`chargepoint.fleet.store`); else its own file in data_dir.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from backends.sim import SimBoard, create_backend
from chargepoint.clock import Clock
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings, FaultChanged, IecState, StateChanged
from chargepoint.fleet.latency import Histogram, LatencyConnection, LatencyLog, Traffic
from chargepoint.fleet.store import DurableConnection, FleetStore, FleetView
from chargepoint.ocpp.client import OcppClient
from chargepoint.ocpp.options import OcppOptions
from chargepoint.ocpp.session import Connection
from chargepoint.ocpp.store import Store
from chargepoint.station import Station
from hal.interfaces import Board

if TYPE_CHECKING:
    from chargepoint.fleet.spec import CpSpec

log = logging.getLogger("chargepoint.fleet")

#: what the fleet counts of a member: (running, connected, booted, heartbeating, charging connectors,
#: in error); a stopped member counts nothing
MemberCounts = tuple[int, int, int, int, int, int]
STOPPED: MemberCounts = (0, 0, 0, 0, 0, 0)

#: contactor / lock feedback deadlines of a member's controller.  Its board is simulated on the same
#: event loop as thousands of others: a loop that lags (a boot storm, a busy shared machine) delays
#: the simulated relay's answer, not a real one, and the default 0.5 s would latch a weld fault
CONTACTOR_FEEDBACK_TIMEOUT_S = 5.0
LOCK_FEEDBACK_TIMEOUT_S = 2.0


class Member:
    """A full charge point inside a fleet."""

    def __init__(self, clock: Clock, spec: CpSpec, csms_url: str, data_dir: Path,
                 histograms: tuple[Histogram, ...] = (), traffic: Traffic | None = None) -> None:
        self.clock = clock
        self.spec = spec
        self.cp_id = spec.cp_id
        self.csms_url = csms_url
        self.data_dir = data_dir
        self.latency = LatencyLog(histograms, traffic)
        #: the member's counts as last told (see :meth:`refresh`), and whom to tell of a change
        self.counts: MemberCounts = STOPPED
        self.on_counts: Callable[[MemberCounts, MemberCounts], None] | None = None
        self._charging = 0
        self._faulted = False
        self.board: SimBoard | None = None
        self.station: Station | None = None
        self.client: OcppClient | None = None
        self.started = False
        self.restarts = 0
        self.errors = 0
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.fleet_store: FleetStore | None = None  # None: the member's own file in data_dir
        self._view: FleetView | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.spec
        board = create_backend(self.clock, s.sim_options())
        settings = ControllerSettings(connectors=s.connectors, max_current_a=s.max_current_a,
                                      phases=s.phases, has_lock=True,
                                      contactor_feedback_timeout_s=CONTACTOR_FEEDBACK_TIMEOUT_S,
                                      lock_feedback_timeout_s=LOCK_FEEDBACK_TIMEOUT_S)
        station = Station(self.clock, cast("Board", board), Controller(settings, board.capabilities))
        options = OcppOptions(
            csms_url=self.csms_url, cp_id=s.cp_id, password=s.password, security_profile=s.security_profile,
            ca_file=Path(s.ca_file) if s.ca_file else None, vendor=s.vendor, model=s.model,
            serial=s.cp_id[-25:], connectors=s.connectors, config=dict(s.config_keys),
            reconnect_min_s=s.reconnect_min_s, reconnect_max_s=s.reconnect_max_s,
        )
        client = OcppClient(self.clock, station, options, self.data_dir)
        client.wrap_connection = self._wrap
        if self.fleet_store is not None:
            client.open_store = self._open_store
        client.on_change = self.refresh
        station.subscribe(self._on_station_item)
        self._charging, self._faulted = 0, False
        self.board, self.station, self.client = board, station, client

    def _open_store(self) -> Store:
        assert self.fleet_store is not None
        store = self.fleet_store.open(self.cp_id)
        self._view = cast("FleetView", store.db)
        return store

    def _wrap(self, ws: Any) -> Connection:
        conn = LatencyConnection(ws, self.latency)
        return DurableConnection(conn, self._view) if self._view is not None else conn

    async def start(self) -> None:
        """Build and start the parts; returns when the OCPP client's set-up (store, recovery) is done
        (connecting and booting go on in the background)."""
        if self.started:
            return
        self._build()
        assert self.station is not None and self.client is not None
        await self.station.start()
        self._task = asyncio.create_task(self.client.run(), name=f"ocpp-{self.cp_id}")
        await self.client.ready.wait()
        self._watch = asyncio.create_task(self._watch_reset(self.client), name=f"reset-{self.cp_id}")
        self.started = True
        self._station_changed()

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self.refresh()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        await self.clock.cancel_and_wait(self._task)
        self._task = None
        if self.station is not None:
            await self.station.stop()

    async def _watch_reset(self, client: OcppClient) -> None:
        await client.restart_requested.wait()
        log.info("%s: %s reset, restarting in-process", self.cp_id, client.restart_kind)
        self.restarts += 1
        asyncio.get_running_loop().call_soon(self._restart_soon)

    def _restart_soon(self) -> None:
        async def restart() -> None:
            self._watch = None  # do not cancel ourselves
            await self.stop()
            await self.start()

        task = asyncio.ensure_future(restart())
        task.add_done_callback(self._restart_done)

    def _restart_done(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.note_error()
            log.error("%s: restart failed: %r", self.cp_id, task.exception())

    def note_error(self) -> None:
        self.errors += 1
        self.refresh()

    # -- counts (kept up to date on changes: the fleet sums them without visiting every member) ------
    def _on_station_item(self, item: object) -> None:
        if isinstance(item, StateChanged | FaultChanged):
            self._station_changed()

    def _station_changed(self) -> None:
        station = self.station
        if station is None or not self.started:
            self._charging, self._faulted = 0, False
        else:
            snaps = station.snapshots()
            self._charging = sum(1 for snap in snaps if snap.iec_state == IecState.C)
            self._faulted = any(snap.faults for snap in snaps)
        self.refresh()

    def refresh(self) -> None:
        """Recount this member (O(1)); tell ``on_counts`` (old, new) if anything changed."""
        new = self._counts_now()
        if new != self.counts:
            old, self.counts = self.counts, new
            if self.on_counts is not None:
                self.on_counts(old, new)

    def _counts_now(self) -> MemberCounts:
        client = self.client
        if not self.started or client is None:
            return STOPPED
        ctx = client.ctx
        booted = ctx is not None and ctx.registration == "Accepted"
        heartbeating = ctx is not None and ctx.outbox.stats.heartbeats > 0
        return (1, int(client.connected), int(booted), int(heartbeating), self._charging,
                int(self._faulted or self.errors > 0))

    # -- controls (HTTP API, behaviour) --------------------------------------------------------------
    def _board(self) -> SimBoard:
        if self.board is None or not self.started:
            raise RuntimeError(f"{self.cp_id} is not running")
        return self.board

    def _check(self, connector: int) -> None:
        if not 1 <= connector <= self.spec.connectors:
            raise ValueError(f"connector must be 1..{self.spec.connectors}, got {connector}")

    def plug(self, connector: int = 1, *, phases: int | None = None, max_current_a: float | None = None,
             soc: float | None = None, capacity_kwh: float | None = None) -> None:
        self._check(connector)
        board = self._board()
        changes = {"phases": phases, "max_current_a": max_current_a, "soc": soc, "capacity_kwh": capacity_kwh}
        if any(v is not None for v in changes.values()):
            board.set_ev(connector, **changes)
        board.plug(connector)

    def unplug(self, connector: int = 1) -> None:
        self._check(connector)
        self._board().unplug(connector)

    def rfid(self, id_tag: str, connector: int = 0) -> None:
        if connector:
            self._check(connector)
        self._board().present_rfid(id_tag, connector)

    def fault(self, fault: str, active: bool = True, connector: int = 1) -> None:
        self._check(connector)
        self._board().inject_fault(connector, fault, active)

    # -- read-outs ------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    @property
    def registration(self) -> str:
        ctx = self.client.ctx if self.client is not None else None
        return str(ctx.registration) if ctx is not None else "Unknown"

    def charging_connectors(self) -> int:
        return self._charging if self.started else 0

    def faulted(self) -> bool:
        return self._faulted and self.started

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.cp_id, "group": self.spec.group, "running": self.started,
                               "restarts": self.restarts}
        if self.client is not None:
            out["ocpp"] = self.client.status()
        if self.station is not None and self.started:
            out["connectors"] = [
                {"connector": snap.connector, "state": str(snap.iec_state), "substate": str(snap.substate),
                 "offered_a": snap.offered_current_a, "faults": sorted(str(f) for f in snap.faults),
                 "status": self._ocpp_status(snap.connector)}
                for snap in self.station.snapshots()
            ]
        out["latency"] = self.latency.summary()
        return out

    def _ocpp_status(self, connector: int) -> str | None:
        ctx = self.client.ctx if self.client is not None else None
        if ctx is None or ctx.status is None:
            return None
        value: Any = ctx.status.current_status(connector)
        return None if value is None else str(value)
