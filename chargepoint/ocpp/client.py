"""The OCPP client: the entry point the runtime starts.

``OcppClient(clock, station, options, data_dir)``; ``await client.run()`` until cancelled (or
``await client.start()`` / ``await client.stop()`` as a runtime service).  ``client.status()``
reports connection and registration.  An OCPP Reset sets ``client.restart_requested`` (kind in
``client.restart_kind``) after the transactions were stopped: the runtime restarts in-process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from chargepoint.clock import Clock
from chargepoint.controller.types import FaultChanged, OfferedCurrentChanged, StateChanged
from chargepoint.ocpp.auth import AuthorizationService
from chargepoint.ocpp.availability import Availability
from chargepoint.ocpp.boot import Registration
from chargepoint.ocpp.config_keys import ConfigKeys, default_definitions
from chargepoint.ocpp.connection import (
    Backoff,
    ConnectError,
    LinkSettings,
    auth_key_bytes,
    connect_once,
    endpoint_url,
)
from chargepoint.ocpp.context import OcppContext
from chargepoint.ocpp.diagnostics import DiagnosticsService
from chargepoint.ocpp.errors import parse_rfc3339
from chargepoint.ocpp.firmware import FirmwareService
from chargepoint.ocpp.meter_values import next_aligned
from chargepoint.ocpp.options import OcppOptions
from chargepoint.ocpp.outbox import Outbox
from chargepoint.ocpp.ports import StationView
from chargepoint.ocpp.reservation import ReservationService
from chargepoint.ocpp.security.service import SecurityService
from chargepoint.ocpp.session import ChargePointSession, Connection
from chargepoint.ocpp.status import StatusReporter
from chargepoint.ocpp.store import Store
from chargepoint.ocpp.transactions import TransactionManager
from chargepoint.services.smart_charging import SmartChargingService

log = logging.getLogger("chargepoint.ocpp")

#: a connection that lasted this long resets the reconnect backoff
STABLE_CONNECTION_S = 30.0
SOFT_RESET_DRAIN_S = 30.0


class OcppClient:
    def __init__(self, clock: Clock, station: StationView, options: OcppOptions, data_dir: Path | str,
                 *, rng_seed: int | None = None) -> None:
        options.validate()
        self.clock = clock
        self.station = station
        self.options = options
        self.data_dir = Path(data_dir)
        self.restart_requested = asyncio.Event()
        self.restart_kind: str | None = None
        self.connected = False
        self.connections = 0
        self.last_error: str | None = None
        self.session: ChargePointSession | None = None
        self.ctx: OcppContext | None = None
        self._ws: ClientConnection | None = None
        #: optional wrapper around each websocket connection (the trace recorder uses it)
        self.wrap_connection: Callable[[ClientConnection], Connection] | None = None
        #: opens the persistent store at each start: the charge point's own file in data_dir, or
        #: (a fleet member) a cp_id-scoped view on the fleet's shared database
        self.open_store: Callable[[], Store] = lambda: Store.connect(self.data_dir)
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._aligned_changed = asyncio.Event()
        self._reconnect = asyncio.Event()
        self._registration: Registration | None = None
        self._accepted_once = False
        self.backoff = Backoff(options.reconnect_min_s, options.reconnect_factor, options.reconnect_max_s,
                               options.reconnect_jitter)
        if rng_seed is not None:
            import random

            self.backoff.rng = random.Random(rng_seed)
        self.ready = asyncio.Event()  # set when set-up (store, recovery) is done
        #: told (no arguments) when connected, registration or the first heartbeat may have changed
        #: (the fleet keeps its counts up to date from it instead of polling every member)
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- runtime service protocol ---------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="ocpp-client")
        await self.ready.wait()

    async def stop(self) -> None:
        await self.clock.cancel_and_wait(self._task)
        self._task = None

    def status(self) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "cp_id": self.options.cp_id,
            "csms_url": self.options.csms_url,
            "connected": self.connected,
            "registration": ctx.registration if ctx else "Unknown",
            "connections": self.connections,
            "last_error": self.last_error,
            "queued_transaction_messages": ctx.outbox.pending_transaction_messages() if ctx else 0,
            "security_profile": ctx.keys.get("SecurityProfile") if ctx else self.options.security_profile,
        }

    # -- set-up ------------------------------------------------------------------------------
    def _setup(self) -> OcppContext:
        opts = self.options
        store = self.open_store()
        n = self.station.connectors
        overrides: dict[str, Any] = dict(opts.config or {})
        overrides["NumberOfConnectors"] = n
        keys = ConfigKeys(store.db, default_definitions(n), overrides)
        if keys.get("SecurityProfile") < opts.security_profile:
            keys.set_internal("SecurityProfile", opts.security_profile)
        keys.security_prerequisites = self._security_prerequisites
        outbox = Outbox(self.clock, store.db, keys, log.getChild("outbox"))
        ctx = OcppContext(clock=self.clock, station=self.station, store=store, keys=keys, outbox=outbox,
                          data_dir=self.data_dir, options=opts, availability=Availability(store, self.station, n),
                          log=log, reset=self._reset)
        self.ctx = ctx
        ctx.transactions = TransactionManager(ctx)
        ctx.auth = AuthorizationService.from_context(ctx)
        ctx.reservations = reservations = ReservationService.from_context(ctx)
        ctx.firmware = FirmwareService.from_context(ctx)
        ctx.diagnostics = DiagnosticsService.from_context(ctx)
        ctx.security = SecurityService.from_context(ctx)
        ctx.security.reconnect = self._reconnect.set
        ctx.security.startup()
        ctx.status = StatusReporter(ctx)
        ctx.availability.on_change = ctx.status.refresh
        self._registration = Registration(ctx)
        ctx.trigger_boot = self._registration.trigger
        ctx.transactions.listeners.append(ctx.status.refresh)
        reservations.subscribe(ctx.status.refresh)
        reservations.start()
        outbox.on_clock = self._on_heartbeat_time
        keys.subscribe(self._on_key_change)
        self._unsubscribe.append(self.station.subscribe(ctx.transactions.on_station_event))
        self._unsubscribe.append(self.station.subscribe(self._on_station_item))
        ctx.transactions.recover()
        smart = SmartChargingService.from_context(ctx)  # after recover(): no stale TxProfiles
        ctx.smart_charging = smart
        smart.start()
        return ctx

    def _teardown(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        ctx = self.ctx
        if ctx is None:
            return
        for svc in (ctx.reservations, ctx.firmware, ctx.diagnostics, ctx.smart_charging, ctx.security):
            if svc is None:
                continue
            try:
                svc.stop()
            except Exception:
                log.exception("service stop failed")
        if ctx.transactions is not None:
            try:
                ctx.transactions.flush_meters()
            except Exception:
                log.exception("meter flush failed")
        ctx.outbox.fail_pending("client stopped")
        for task in list(ctx.outbox._tasks):
            task.cancel()
        ctx.store.close()

    def _on_station_item(self, item: object) -> None:
        if isinstance(item, StateChanged | FaultChanged | OfferedCurrentChanged) and self.ctx is not None:
            self.ctx.status.refresh()

    def _on_heartbeat_time(self, current_time: str) -> None:
        try:
            self.clock.sync_wall(parse_rfc3339(current_time))
        except ValueError as e:
            log.warning("Heartbeat.conf currentTime ignored: %s", e)
        if self.ctx is not None and self.ctx.security is not None:
            self.ctx.security.note_clock()
        self._changed()

    def _on_key_change(self, name: str, value: object) -> None:
        ctx = self.ctx
        assert ctx is not None
        if name == "ClockAlignedDataInterval":
            self._aligned_changed.set()
        elif name in ("HeartbeatInterval", "TransactionMessageRetryInterval"):
            ctx.outbox._wake()
        elif name in ("SecurityProfile", "AuthorizationKey", "WebSocketPingInterval"):
            # reconnect with the new settings once the reply has been sent
            ctx.outbox.after_reply(self._reconnect.set)

    def _security_prerequisites(self, profile: int) -> str | None:
        opts = self.options
        key = self._auth_key()
        if profile in (1, 2) and not key:
            return f"SecurityProfile {profile} needs an AuthorizationKey"
        if profile in (2, 3) and not opts.csms_url.startswith("wss://"):
            return f"SecurityProfile {profile} needs a wss:// CSMS URL"
        security = self.ctx.security if self.ctx is not None else None
        if security is not None:
            return security.profile_prerequisite(profile)
        if profile == 3 and not (opts.client_cert and opts.client_key):
            return "SecurityProfile 3 needs a client certificate"
        return None

    def _auth_key(self) -> bytes | None:
        ctx = self.ctx
        stored = ctx.keys.get("AuthorizationKey") if ctx is not None else ""
        if stored:
            return bytes.fromhex(stored)
        return auth_key_bytes(self.options.password, self.options.password_hex)

    def _link_settings(self) -> LinkSettings:
        ctx = self.ctx
        assert ctx is not None
        ping = int(ctx.keys.get("WebSocketPingInterval") or 0)
        o = self.options
        client_cert = str(o.client_cert) if o.client_cert else None
        client_key = str(o.client_key) if o.client_key else None
        ca_data = None
        if ctx.security is not None:  # installed roots and the rotated client certificate
            tls = ctx.security.tls_material()
            ca_data, client_cert, client_key = tls.ca_data, tls.client_cert, tls.client_key
        return LinkSettings(
            url=endpoint_url(o.csms_url, o.cp_id), cp_id=o.cp_id, security_profile=int(ctx.keys.get("SecurityProfile")),
            auth_key=self._auth_key(), ca_file=str(o.ca_file) if o.ca_file else None, ca_data=ca_data,
            client_cert=client_cert, client_key=client_key,
            ping_interval=float(ping) if ping > 0 else None, open_timeout=o.open_timeout_s,
            max_size=o.max_frame_bytes,
        )

    # -- main loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        ctx = self._setup()
        aligned = ctx.outbox.spawn(self._aligned_loop(), "clock-aligned")
        try:
            await ctx.availability.apply_all()
            self.ready.set()
            while True:
                try:
                    ws = await connect_once(self._link_settings())
                except ConnectError as e:
                    self.last_error = str(e)
                    if ctx.security is not None:
                        ctx.security.on_connect_failed(e)
                    delay = self.backoff.next_delay()
                    log.warning("%s; retrying in %.1f s", e, delay)
                    await self.clock.sleep(delay)
                    continue
                if ctx.security is not None:
                    ctx.security.on_connected()
                began = self.clock.monotonic()
                await self._serve(ws)
                if self._reconnect.is_set():
                    # a deliberate reconnect (new AuthorizationKey, SecurityProfile, ping interval):
                    # at once, and it does not count as a failure for the backoff
                    self.backoff.reset()
                    log.info("reconnecting with the new settings")
                    continue
                if self.clock.monotonic() - began >= STABLE_CONNECTION_S:
                    self.backoff.reset()
                delay = self.backoff.next_delay()
                log.info("reconnecting in %.1f s", delay)
                await self.clock.sleep(delay)
        finally:
            self.ready.set()
            aligned.cancel()
            self._teardown()

    async def _serve(self, ws: ClientConnection) -> None:
        ctx = self.ctx
        assert ctx is not None and self._registration is not None
        self._ws = ws
        self.connected = True
        self.connections += 1
        self._reconnect.clear()
        self._changed()
        session = ChargePointSession(ctx, self.wrap_connection(ws) if self.wrap_connection else ws)
        self.session = session
        outbox = ctx.outbox
        tasks: list[asyncio.Task[Any]] = []
        try:
            tasks.append(asyncio.ensure_future(session.start()))
            tasks.append(asyncio.ensure_future(self._link(session)))
            tasks.append(asyncio.ensure_future(self._reconnect.wait()))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if not t.cancelled() and t.exception() is not None and not isinstance(t.exception(), ConnectionClosed):
                    log.error("session task failed: %r", t.exception(), exc_info=t.exception())
                    self.last_error = repr(t.exception())
        finally:
            self.connected = False
            self._changed()
            outbox.set_mode("offline")
            await self.clock.cancel_and_wait(*tasks)
            # after the pump stopped (an in-flight one is put back): no status history replay
            outbox.drop_queued("StatusNotification", "disconnected")
            try:
                await ws.close()
            except Exception:
                pass
            self.session = None
            self._ws = None
            log.info("connection closed")

    async def _link(self, session: ChargePointSession) -> None:
        ctx = self.ctx
        assert ctx is not None and self._registration is not None
        outbox = ctx.outbox
        pump = asyncio.ensure_future(outbox.run(session.call_raw))
        try:
            if ctx.registration != "Accepted":
                await self._registration.register(session)
                if ctx.security is not None:
                    ctx.security.note_clock()
                ctx.status.on_accepted(first=not self._accepted_once)
                self._accepted_once = True
                self._changed()
            else:
                outbox.set_mode("accepted")
                ctx.status.on_accepted(first=False)
            await pump
        finally:
            await self.clock.cancel_and_wait(pump)

    async def _aligned_loop(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        while True:
            self._aligned_changed.clear()
            interval = int(ctx.keys.get("ClockAlignedDataInterval") or 0)
            if interval <= 0:
                await self._aligned_changed.wait()
                continue
            target = next_aligned(self.clock.now(), interval)
            try:
                async with asyncio.timeout(max(0.0, self.clock.seconds_until_wall(target))):
                    await self._aligned_changed.wait()
                continue  # the interval changed: compute the boundary again
            except TimeoutError:
                pass
            measurands = list(ctx.keys.get("MeterValuesAlignedData") or [])
            if not measurands:
                continue
            for c in range(0, self.station.connectors + 1):
                await ctx.transactions.send_meter_values(c, "Sample.Clock", measurands)
            await self.clock.sleep(0.001)

    # -- reset ---------------------------------------------------------------------------------
    async def _reset(self, kind: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        reason = "SoftReset" if kind == "Soft" else "HardReset"
        if ctx.security is not None:
            ctx.security.on_reset(kind)
        stopped = await ctx.transactions.stop_all(reason)
        log.warning("%s reset: %d transaction(s) stopped", kind, stopped)
        # Soft and Hard alike: give the StopTransactions a chance to leave before the restart
        deadline = self.clock.monotonic() + SOFT_RESET_DRAIN_S
        while ctx.outbox.pending_transaction_messages() and self.clock.monotonic() < deadline and ctx.outbox.online:
            await self.clock.sleep(0.2)
        self.restart_kind = kind
        ctx.restart_kind = kind
        self.restart_requested.set()
