"""Transactions driven by controller state.

Start: an idTag is authorised (RFID card via ``RfidPresented``, RemoteStartTransaction) and an EV is
connected -> ``Authorize(n, True)`` to the controller and StartTransaction (meterStart from the EV
meter).  ConnectionTimeOut bounds the wait between authorisation and plug-in.

Stop: EV unplugged (EVDisconnected, with StopTransactionOnEVSideDisconnect), the same card again or
one with the same parentIdTag (Local), RemoteStop (Remote), Reset (Soft/HardReset), UnlockConnector
(UnlockCommand), StartTransaction.conf not Accepted with StopTransactionOnInvalidId (DeAuthorized),
or a process restart that found the transaction still open (PowerLoss, meterStop = last persisted
meter reading).

DeAuthorized (errata 3.17) keeps the cable locked (controller ``HoldLock``) until the same idTag, or
one with the same parentIdTag, is presented again; UnlockConnector also releases it.

Every transaction is a row of ``ocpp_transactions`` (local_id); its StartTransaction, MeterValues
and StopTransaction are queued in the outbox in the same SQLite transaction as the row change, so
there is exactly one StopTransaction per transaction, even across crashes.  The CSMS's transactionId
is patched into queued messages when they are sent (a transaction started offline).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chargepoint.controller.types import Authorize, HoldLock, IecState, StateChanged
from chargepoint.ocpp.errors import format_datetime, parse_rfc3339
from chargepoint.ocpp.meter_values import meter_value, sampled_values, stop_measurands
from chargepoint.ocpp.outbox import TxRow
from hal.types import MeterReading, RfidPresented

METER_PERSIST_EVERY_S = 5.0


@dataclass
class Transaction:
    local_id: int
    connector: int
    id_tag: str
    meter_start: int
    start_time: datetime
    transaction_id: int | None = None
    parent_id_tag: str | None = None
    reservation_id: int | None = None
    remote: bool = False
    start_mono: float = 0.0
    deauthorized: bool = False
    sampler: asyncio.Task[Any] | None = field(default=None, repr=False)


@dataclass
class PendingAuth:
    id_tag: str
    parent_id_tag: str | None
    remote: bool
    timer: asyncio.TimerHandle | None = None


class TransactionManager:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.station = ctx.station
        self.db: sqlite3.Connection = ctx.store.db
        self.keys = ctx.keys
        self.outbox = ctx.outbox
        self.log = ctx.log
        self._active: dict[int, Transaction] = {}
        self._pending: dict[int, PendingAuth] = {}
        self.finishing: set[int] = set()
        #: connector -> (idTag, parentIdTag) of a DeAuthorized transaction whose cable stays locked
        self._held_locks: dict[int, tuple[str, str | None]] = {}
        self._lock = asyncio.Lock()
        self._last_persist: dict[int, float] = {}
        self.listeners: list[Any] = []  # fn(connector) after any change (status reporter)
        self._sample_wakeups: set[asyncio.Event] = set()  # samplers waiting: set on an interval change
        ctx.keys.subscribe(self._on_key_change)
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS ocpp_transactions (local_id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " connector INTEGER NOT NULL, id_tag TEXT NOT NULL, parent_id_tag TEXT, reservation_id INTEGER,"
                " meter_start INTEGER NOT NULL, start_time TEXT NOT NULL, transaction_id INTEGER,"
                " last_meter_wh REAL, last_meter_time TEXT, begin_values TEXT, stopped INTEGER NOT NULL DEFAULT 0,"
                " stop_reason TEXT)"
            )
        ctx.outbox.prepare = self._prepare
        ctx.outbox.on_result = self._on_result
        ctx.outbox.on_dropped = self._on_dropped

    # -- queries --------------------------------------------------------------------------
    def active(self, connector: int) -> Transaction | None:
        return self._active.get(connector)

    def busy(self, connector: int) -> bool:
        return connector in self._active

    def by_id(self, transaction_id: int) -> Transaction | None:
        for tx in self._active.values():
            if tx.transaction_id == transaction_id:
                return tx
        return None

    def pending(self, connector: int) -> PendingAuth | None:
        return self._pending.get(connector)

    def all_active(self) -> list[Transaction]:
        return list(self._active.values())

    def held_lock(self, connector: int) -> tuple[str, str | None] | None:
        """(idTag, parentIdTag) whose return unlocks ``connector`` (DeAuthorized), or None."""
        return self._held_locks.get(connector)

    def _changed(self, connector: int) -> None:
        for fn in list(self.listeners):
            fn(connector)

    # -- start-up ---------------------------------------------------------------------------
    def recover(self) -> int:
        """Stop transactions left open by a power loss / crash (one StopTransaction each)."""
        rows = self.db.execute(
            "SELECT local_id, connector, id_tag, meter_start, start_time, last_meter_wh, last_meter_time,"
            " begin_values FROM ocpp_transactions WHERE stopped=0 ORDER BY local_id"
        ).fetchall()
        for local_id, connector, id_tag, meter_start, start_time, last_wh, last_time, begin in rows:
            meter_stop = round(last_wh) if last_wh is not None else int(meter_start)
            when = last_time or start_time
            payload: dict[str, Any] = {"meterStop": meter_stop, "timestamp": when, "reason": "PowerLoss",
                                       "transactionId": -1}
            begin_values = json.loads(begin) if begin else []
            if begin_values:
                payload["transactionData"] = begin_values
            with self.db:
                self.db.execute("UPDATE ocpp_transactions SET stopped=1, stop_reason='PowerLoss' WHERE local_id=?",
                                (local_id,))
                self.outbox.insert_transaction_message(self.db, "StopTransaction", payload, local_id)
            self.log.warning("transaction %d on connector %d (%s) stopped: PowerLoss", local_id, connector, id_tag)
        return len(rows)

    # -- station events (synchronous listener) ---------------------------------------------
    def on_station_event(self, item: Any) -> None:
        if isinstance(item, RfidPresented):
            self.outbox.spawn(self.card_presented(item.connector, item.id_tag), "rfid")
        elif isinstance(item, StateChanged):
            self._on_state(item)
        elif isinstance(item, MeterReading) and item.connector in self._active:
            self._persist_meter(item)

    def _on_state(self, ev: StateChanged) -> None:
        c = ev.connector
        snap = ev.snapshot
        if snap.ev_connected and c in self._pending and c not in self._active:
            self.outbox.spawn(self._start_if_ready(c), "start-transaction")
        if snap.iec_state == IecState.A:
            self.finishing.discard(c)
            if c in self._active and bool(self.keys.get("StopTransactionOnEVSideDisconnect")):
                self.outbox.spawn(self.stop(c, "EVDisconnected"), "stop-ev-disconnect")
        self._changed(c)

    def flush_meters(self) -> None:
        """Persist the latest reading of every running transaction now (clean shutdown): a restart's
        PowerLoss StopTransaction then carries the energy up to the stop, not up to 5 s less."""
        for connector in list(self._active):
            reading = self.station.latest_meter(connector)
            if reading is not None:
                self._persist_meter(reading, force=True)

    def _persist_meter(self, m: MeterReading, force: bool = False) -> None:
        now = self.clock.monotonic()
        if not force and now - self._last_persist.get(m.connector, -1e9) < METER_PERSIST_EVERY_S:
            return
        self._last_persist[m.connector] = now
        tx = self._active[m.connector]
        with self.db:
            self.db.execute("UPDATE ocpp_transactions SET last_meter_wh=?, last_meter_time=? WHERE local_id=?",
                            (m.energy_import_wh, format_datetime(self.clock.now()), tx.local_id))

    # -- authorisation --------------------------------------------------------------------------
    async def _authorize(self, id_tag: str) -> dict[str, Any]:
        if self.ctx.auth is not None:
            return dict(await self.ctx.auth.authorize(id_tag))
        if self.outbox.online:
            try:
                conf = await self.outbox.request("Authorize", {"idTag": id_tag},
                                                 timeout=float(self.keys.get("MessageTimeout") or 30))
                return dict(conf["idTagInfo"])
            except Exception as e:
                self.log.info("Authorize %s failed: %r", id_tag, e)
        if self.keys.get("AllowOfflineTxForUnknownId"):
            return {"status": "Accepted"}
        return {"status": "Invalid"}

    def _pick_connector(self, connector: int, id_tag: str) -> int | None:
        n = self.station.connectors
        if connector:
            return connector if 1 <= connector <= n else None
        for c, tx in self._active.items():
            if tx.id_tag == id_tag:
                return c
        for c in range(1, n + 1):
            if c not in self._active and c not in self._pending and self.station.snapshot(c).ev_connected:
                return c
        for c in range(1, n + 1):
            if c not in self._active and c not in self._pending and self.station.snapshot(c).available:
                return c
        return None

    async def card_presented(self, connector: int, id_tag: str) -> None:
        held = await self._held_by(connector, id_tag)
        if held is not None:
            self.log.info("card %s: owner of the DeAuthorized session on connector %d, cable unlocked", id_tag, held)
            await self.release_lock(held)
            return
        c = self._pick_connector(connector, id_tag)
        if c is None:
            self.log.info("card %s: no connector to use", id_tag)
            return
        tx = self._active.get(c)
        if tx is not None:
            may = tx.id_tag == id_tag
            if not may and self.ctx.auth is not None:
                may = bool(await self.ctx.auth.may_stop(tx.id_tag, id_tag, tx.parent_id_tag))
            if may:
                await self.stop(c, "Local", id_tag=id_tag)
            else:
                self.log.info("card %s may not stop the transaction of %s", id_tag, tx.id_tag)
            return
        pend = self._pending.get(c)
        if pend is not None and pend.id_tag == id_tag:
            self._cancel_pending(c)  # presenting the card again cancels the pending authorisation
            self._changed(c)
            return
        info = await self._authorize(id_tag)
        if info.get("status") != "Accepted":
            self.log.info("card %s refused: %s", id_tag, info.get("status"))
            return
        if not await self._may_use_reservation(c, id_tag, info.get("parentIdTag")):
            self.log.info("connector %d reserved for another idTag", c)
            return
        await self.authorized(c, id_tag, info.get("parentIdTag"), remote=False)

    async def _held_by(self, connector: int, id_tag: str) -> int | None:
        """The connector whose lock ``id_tag`` may release: the same idTag as the DeAuthorized
        transaction, or one with its parentIdTag."""
        for c, (owner, parent) in list(self._held_locks.items()):
            if connector not in (0, c):
                continue
            if owner == id_tag:
                return c
            if parent and self.ctx.auth is not None and await self.ctx.auth.may_stop(owner, id_tag, parent):
                return c
        return None

    async def release_lock(self, connector: int) -> bool:
        """End the DeAuthorized lock hold of ``connector`` (owner returned, UnlockConnector)."""
        if self._held_locks.pop(connector, None) is None:
            return False
        await self.station.submit(HoldLock(connector, False))
        self._changed(connector)
        return True

    async def _deauthorize(self, tx: Transaction) -> None:
        """StartTransaction.conf not Accepted with StopTransactionOnInvalidId (errata 3.17): hold the
        cable lock first (so it never opens in between), then stop with reason DeAuthorized."""
        caps = self.station.capabilities
        if caps.has_lock and not caps.fixed_cable:
            self._held_locks[tx.connector] = (tx.id_tag, tx.parent_id_tag)
            await self.station.submit(HoldLock(tx.connector, True))
        await self.stop(tx.connector, "DeAuthorized")

    async def authorized(self, connector: int, id_tag: str, parent_id_tag: str | None, remote: bool) -> None:
        """An idTag may start on ``connector``: start at once when an EV is connected, else wait
        ConnectionTimeOut for the plug."""
        self._cancel_pending(connector)
        pend = PendingAuth(id_tag, parent_id_tag, remote)
        timeout = int(self.keys.get("ConnectionTimeOut") or 0)
        if timeout > 0:
            pend.timer = self.clock.call_later(timeout, self._pending_expired, connector, pend)
        self._pending[connector] = pend
        self._changed(connector)
        await self._start_if_ready(connector)

    def _cancel_pending(self, connector: int) -> None:
        pend = self._pending.pop(connector, None)
        if pend is not None and pend.timer is not None:
            pend.timer.cancel()

    def _pending_expired(self, connector: int, pend: PendingAuth) -> None:
        if self._pending.get(connector) is pend:
            self.log.info("connector %d: ConnectionTimeOut, authorisation of %s dropped", connector, pend.id_tag)
            del self._pending[connector]
            self._changed(connector)

    def _reservation(self, connector: int) -> Any:
        res = self.ctx.reservations
        if res is None:
            return None
        fn = getattr(res, "reservation_for", None)
        return fn(connector) if fn is not None else None

    async def _may_use_reservation(self, connector: int, id_tag: str, parent_id_tag: str | None) -> bool:
        res = self.ctx.reservations
        if res is None:
            return True
        if hasattr(res, "may_use"):
            return bool(await res.may_use(connector, id_tag, parent_id_tag))
        reservation = self._reservation(connector)
        if reservation is None or getattr(reservation, "id_tag", None) == id_tag:
            return True
        parent = getattr(reservation, "parent_id_tag", None)
        return bool(parent) and parent_id_tag == parent

    # -- start ------------------------------------------------------------------------------
    async def _start_if_ready(self, connector: int) -> None:
        async with self._lock:
            pend = self._pending.get(connector)
            if pend is None or connector in self._active:
                return
            snap = self.station.snapshot(connector)
            if not snap.ev_connected or not snap.available or snap.faults:
                return
            self._cancel_pending(connector)
            await self._start(connector, pend)

    async def _start(self, c: int, pend: PendingAuth) -> None:
        await self.station.submit(Authorize(c, True))
        meter = self.station.latest_meter(c)
        meter_start = round(meter.energy_import_wh) if meter is not None else 0
        now = self.clock.now()
        reservation_id = None
        res = self.ctx.reservations
        if res is not None and hasattr(res, "consume"):
            reservation_id = res.consume(c, pend.id_tag, pend.parent_id_tag)
        begin = self._transaction_data_values(c, "Transaction.Begin")
        payload: dict[str, Any] = {"connectorId": c, "idTag": pend.id_tag, "meterStart": meter_start,
                                   "timestamp": format_datetime(now)}
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        with self.db:
            cur = self.db.execute(
                "INSERT INTO ocpp_transactions(connector, id_tag, parent_id_tag, reservation_id, meter_start,"
                " start_time, last_meter_wh, last_meter_time, begin_values) VALUES (?,?,?,?,?,?,?,?,?)",
                (c, pend.id_tag, pend.parent_id_tag, reservation_id, meter_start, format_datetime(now),
                 meter_start, format_datetime(now), json.dumps(begin)),
            )
            local_id = int(cur.lastrowid or 0)
            self.outbox.insert_transaction_message(self.db, "StartTransaction", payload, local_id)
        tx = Transaction(local_id, c, pend.id_tag, meter_start, now, parent_id_tag=pend.parent_id_tag,
                         reservation_id=reservation_id, remote=pend.remote, start_mono=self.clock.monotonic())
        self._active[c] = tx
        self.finishing.discard(c)
        tx.sampler = self.outbox.spawn(self._sample_loop(tx), "meter-sampler")
        sc = self.ctx.smart_charging
        if sc is not None and hasattr(sc, "on_transaction_started"):
            sc.on_transaction_started(c, tx.local_id)
        self.log.info("transaction %d started on connector %d by %s", local_id, c, pend.id_tag)
        self._changed(c)

    # -- stop --------------------------------------------------------------------------------
    async def stop(self, connector: int, reason: str, id_tag: str | None = None) -> bool:
        async with self._lock:
            tx = self._active.get(connector)
            if tx is None:
                return False
            await self._stop(tx, reason, id_tag)
            return True

    async def stop_all(self, reason: str) -> int:
        n = 0
        for c in list(self._active):
            n += bool(await self.stop(c, reason))
        return n

    async def _stop(self, tx: Transaction, reason: str, id_tag: str | None) -> None:
        c = tx.connector
        del self._active[c]
        if tx.sampler is not None:
            tx.sampler.cancel()
        meter = self.station.latest_meter(c)
        meter_stop = round(meter.energy_import_wh) if meter is not None else tx.meter_start
        now = self.clock.now()
        payload: dict[str, Any] = {"meterStop": meter_stop, "timestamp": format_datetime(now), "reason": reason,
                                   "transactionId": tx.transaction_id if tx.transaction_id is not None else -1}
        if id_tag is not None:
            payload["idTag"] = id_tag
        row = self.db.execute("SELECT begin_values FROM ocpp_transactions WHERE local_id=?",
                              (tx.local_id,)).fetchone()
        begin = json.loads(row[0]) if row and row[0] else []
        end = self._transaction_data_values(c, "Transaction.End")
        if begin or end:
            payload["transactionData"] = begin + end
        with self.db:
            self.db.execute("UPDATE ocpp_transactions SET stopped=1, stop_reason=?, last_meter_wh=? WHERE local_id=?",
                            (reason, meter_stop, tx.local_id))
            self.outbox.insert_transaction_message(self.db, "StopTransaction", payload, tx.local_id)
        self.log.info("transaction %d on connector %d stopped: %s", tx.local_id, c, reason)
        snap = self.station.snapshot(c)
        if snap.ev_connected:
            self.finishing.add(c)
        await self.station.submit(Authorize(c, False))
        sc = self.ctx.smart_charging
        if sc is not None and hasattr(sc, "on_transaction_ended"):
            sc.on_transaction_ended(c, tx.local_id)
        avail = self.ctx.extras.get("availability")
        if avail is not None:
            await avail.transaction_ended(c, self.busy)
        self._changed(c)

    def _transaction_data_values(self, c: int, context: str) -> list[dict[str, Any]]:
        measurands = stop_measurands(self.keys)
        if not measurands:
            return []
        values = sampled_values(self.station, c, measurands, context)
        return [meter_value(self.clock.now(), values)] if values else []

    # -- sampled meter values -------------------------------------------------------------------
    def _on_key_change(self, name: str, value: Any) -> None:
        if name == "MeterValueSampleInterval":
            for ev in list(self._sample_wakeups):
                ev.set()

    async def _sample_loop(self, tx: Transaction) -> None:
        """MeterValues every MeterValueSampleInterval seconds, counted from the transaction start.
        A change of the key (0 = disabled) wakes the sampler: the next boundary is computed from the
        new value, and no sample is sent on the old schedule."""
        while self._active.get(tx.connector) is tx:
            interval = int(self.keys.get("MeterValueSampleInterval") or 0)
            wake = asyncio.Event()
            self._sample_wakeups.add(wake)
            try:
                if interval <= 0:
                    await wake.wait()
                    continue
                k = int((self.clock.monotonic() - tx.start_mono) / interval + 1e-6) + 1
                delay = tx.start_mono + k * interval - self.clock.monotonic()
                try:
                    async with asyncio.timeout(max(0.0, delay)):
                        await wake.wait()
                    continue  # the interval changed
                except TimeoutError:
                    pass
            finally:
                self._sample_wakeups.discard(wake)
            if self._active.get(tx.connector) is not tx:
                return
            await self.send_meter_values(tx.connector, "Sample.Periodic",
                                         list(self.keys.get("MeterValuesSampledData") or []))

    async def send_meter_values(self, connector: int, context: str, measurands: list[str]) -> None:
        """Queue a MeterValues of ``connector`` now: a transaction message while a transaction
        runs, otherwise a plain message (connector 0 and idle connectors)."""
        values = sampled_values(self.station, connector, measurands, context)
        if not values:
            return
        payload: dict[str, Any] = {"connectorId": connector, "meterValue": [meter_value(self.clock.now(), values)]}
        tx = self._active.get(connector) if connector else None
        if tx is None:
            if self.outbox.online:
                self.outbox.send_soon("MeterValues", payload)
            return
        payload["transactionId"] = tx.transaction_id if tx.transaction_id is not None else -1
        meter = self.station.latest_meter(connector)
        with self.db:
            if meter is not None:
                self.db.execute("UPDATE ocpp_transactions SET last_meter_wh=?, last_meter_time=? WHERE local_id=?",
                                (meter.energy_import_wh, format_datetime(self.clock.now()), tx.local_id))
            self.outbox.insert_transaction_message(self.db, "MeterValues", payload, tx.local_id)

    # -- outbox hooks ------------------------------------------------------------------------------
    def _tx_id_of(self, local_id: int) -> int | None:
        row = self.db.execute("SELECT transaction_id FROM ocpp_transactions WHERE local_id=?", (local_id,)).fetchone()
        return None if row is None else row[0]

    def _prepare(self, row: TxRow) -> dict[str, Any]:
        payload = dict(row.payload)
        if row.local_tx is not None and row.action in ("MeterValues", "StopTransaction"):
            tx_id = self._tx_id_of(row.local_tx)
            payload["transactionId"] = tx_id if tx_id is not None else -1
        return payload

    def _on_result(self, row: TxRow, resp: dict[str, Any], db: sqlite3.Connection) -> Any:
        if row.action == "StartTransaction" and row.local_tx is not None:
            tx_id = resp.get("transactionId")
            info = resp.get("idTagInfo") or {}
            db.execute("UPDATE ocpp_transactions SET transaction_id=? WHERE local_id=?", (tx_id, row.local_tx))
            return lambda: self._start_confirmed(row, tx_id, info)
        if row.action == "StopTransaction" and "idTagInfo" in resp and self.ctx.auth is not None:
            id_tag = row.payload.get("idTag")
            if id_tag:
                return lambda: self.ctx.auth.update_from_conf(id_tag, resp["idTagInfo"])
        return None

    def _on_dropped(self, row: TxRow, db: sqlite3.Connection) -> None:
        if row.action == "StartTransaction" and row.local_tx is not None:
            db.execute("UPDATE ocpp_transactions SET transaction_id=-1 WHERE local_id=?", (row.local_tx,))
            for tx in self._active.values():
                if tx.local_id == row.local_tx:
                    tx.transaction_id = -1

    def _start_confirmed(self, row: TxRow, tx_id: Any, info: dict[str, Any]) -> Any:
        id_tag = row.payload.get("idTag", "")
        if self.ctx.auth is not None and info:
            try:
                self.ctx.auth.update_from_conf(id_tag, info)
            except Exception:
                self.log.exception("auth cache update failed")
        tx = next((t for t in self._active.values() if t.local_id == row.local_tx), None)
        if tx is None:
            return None
        tx.transaction_id = int(tx_id) if tx_id is not None else None
        sc = self.ctx.smart_charging
        if sc is not None and hasattr(sc, "on_transaction_id"):
            sc.on_transaction_id(tx.connector, tx.transaction_id)
        self._changed(tx.connector)
        if info.get("status", "Accepted") != "Accepted":
            tx.deauthorized = True
            if self.keys.get("StopTransactionOnInvalidId"):
                return self._deauthorize(tx)
            return self.station.submit(Authorize(tx.connector, False))
        return None


def parse_time(text: str) -> datetime:
    return parse_rfc3339(text)
