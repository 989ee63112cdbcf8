"""Transactions driven by controller state: the persistence and I/O around :mod:`.rules.transactions`.

Start: an idTag is authorised (RFID card via ``RfidPresented``, RemoteStartTransaction) and an EV is
connected -> ``Authorize(n, True)`` to the controller and StartTransaction (meterStart from the EV
meter).  ConnectionTimeOut bounds the wait between authorisation and plug-in.

Stop: EV unplugged (EVDisconnected, with StopTransactionOnEVSideDisconnect), the same card again or
one with the same parentIdTag (Local), RemoteStop (Remote), Reset (Soft/HardReset), UnlockConnector
(UnlockCommand), StartTransaction.conf not Accepted with StopTransactionOnInvalidId (DeAuthorized,
after MaxEnergyOnInvalidId), or a process restart that found the transaction still open (PowerLoss,
meterStop = last persisted meter reading).

DeAuthorized (errata 3.17) keeps the cable locked (controller ``HoldLock``) until the same idTag, or
one with the same parentIdTag, is presented again; UnlockConnector also releases it.

Every transaction is a row of ``ocpp_transactions`` (:mod:`.transaction_store`); its
StartTransaction, MeterValues and StopTransaction are queued in the outbox in the same SQLite
transaction as the row change, so there is exactly one StopTransaction per transaction, even across
crashes.  The CSMS's transactionId is patched into queued messages when they are sent (a transaction
started offline).  Periodic MeterValues: :mod:`.meter_sampling`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chargepoint.controller.types import Authorize, HoldLock, StateChanged
from chargepoint.ocpp.errors import format_datetime
from chargepoint.ocpp.meter_sampling import MeterSampling
from chargepoint.ocpp.meter_values import meter_value, sampled_values, stop_measurands
from chargepoint.ocpp.outbox import TxRow
from chargepoint.ocpp.rules import transactions as rules
from chargepoint.ocpp.rules.transactions import Pending, TransactionRules
from chargepoint.ocpp.store import Db
from chargepoint.ocpp.transaction_store import TransactionStore
from hal.types import MeterReading, RfidPresented

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

METER_PERSIST_EVERY_S = 5.0

#: the name this module gave the pending authorisation before the rules moved out
PendingAuth = Pending


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
    sampler: asyncio.Task[None] | None = field(default=None, repr=False)


class TransactionManager:
    def __init__(self, ctx: OcppContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.station = ctx.station
        self.db: Db = ctx.store.db
        self.keys = ctx.keys
        self.outbox = ctx.outbox
        self.log = ctx.log
        self.rules = TransactionRules(ctx.keys)
        self.rows = TransactionStore(self.db)
        self._active: dict[int, Transaction] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._lock = asyncio.Lock()
        self._last_persist: dict[int, float] = {}
        self.listeners: list[Callable[[int], object]] = []  # fn(connector) after any change (status reporter)
        self.sampling = MeterSampling(self)
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

    def pending(self, connector: int) -> Pending | None:
        return self.rules.pending(connector)

    def finishing(self, connector: int) -> bool:
        """A transaction stopped on ``connector`` while the EV stays plugged (Finishing)."""
        return self.rules.finishing(connector)

    def all_active(self) -> list[Transaction]:
        return list(self._active.values())

    def held_lock(self, connector: int) -> tuple[str, str | None] | None:
        """(idTag, parentIdTag) whose return unlocks ``connector`` (DeAuthorized), or None."""
        holder = self.rules.holder(connector)
        return None if holder is None else (holder.id_tag, holder.parent_id_tag)

    def _changed(self, connector: int) -> None:
        for fn in list(self.listeners):
            fn(connector)

    # -- start-up ---------------------------------------------------------------------------
    def recover(self) -> int:
        """Stop transactions left open by a power loss / crash (one StopTransaction each)."""
        rows = self.rows.open_rows()
        for row in rows:
            meter_stop = round(row.last_meter_wh) if row.last_meter_wh is not None else row.meter_start
            payload: dict[str, Any] = {"meterStop": meter_stop, "timestamp": row.last_meter_time or row.start_time,
                                       "reason": "PowerLoss", "transactionId": -1}
            if row.begin_values:
                payload["transactionData"] = row.begin_values
            with self.db:
                self.rows.mark_stopped(self.db, row.local_id, "PowerLoss")
                self.outbox.insert_transaction_message(self.db, "StopTransaction", payload, row.local_id)
            self.log.warning("transaction %d on connector %d (%s) stopped: PowerLoss", row.local_id, row.connector,
                             row.id_tag)
        return len(rows)

    # -- station events (synchronous listener) ---------------------------------------------
    def on_station_event(self, item: object) -> None:
        if isinstance(item, RfidPresented):
            if not self.ctx.options.local_card_reader:  # else the charger's card list decides (local_access)
                self.outbox.spawn(self.card_presented(item.connector, item.id_tag), "rfid")
        elif isinstance(item, StateChanged):
            c = item.connector
            self._run(self.rules.state_changed(c, item.snapshot, c in self._active), "state")
            self._changed(c)
        elif isinstance(item, MeterReading) and item.connector in self._active:
            self._persist_meter(item)
            if self.rules.invalid_allowance(item.connector) is not None:  # MaxEnergyOnInvalidId
                self._run(self.rules.meter(item.connector, item.energy_import_wh, self._can_hold_lock()),
                          "max-energy")

    def _run(self, actions: list[rules.Action], why: str) -> None:
        if actions:
            self.outbox.spawn(self._execute(actions), why)

    async def _execute(self, actions: list[rules.Action]) -> None:
        """Carry out what the rules decided, in order."""
        for action in actions:
            if isinstance(action, rules.TryStart):
                await self._start_if_ready(action.connector)
            elif isinstance(action, rules.Stop):
                await self.stop(action.connector, action.reason, id_tag=action.id_tag)
            elif isinstance(action, rules.SuspendEnergy):
                await self.station.submit(Authorize(action.connector, False))
            else:
                await self.station.submit(HoldLock(action.connector, True))

    def _can_hold_lock(self) -> bool:
        caps = self.station.capabilities
        return caps.has_lock and not caps.fixed_cable

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
        with self.db:
            self.note_meter(self._active[m.connector], m)

    def note_meter(self, tx: Transaction, m: MeterReading) -> None:
        """Persist ``m`` as the last reading of ``tx`` (inside the caller's ``with db:``); the next
        board reading within METER_PERSIST_EVERY_S then needs no write of its own."""
        self._last_persist[tx.connector] = self.clock.monotonic()
        self.rows.note_meter(self.db, tx.local_id, m.energy_import_wh, format_datetime(self.clock.now()))

    # -- authorisation --------------------------------------------------------------------------
    async def authorize_tag(self, id_tag: str) -> dict[str, Any]:
        """The IdTagInfo of ``id_tag`` (local list, cache, CSMS; the offline rules)."""
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
        free = [c for c in range(1, n + 1) if c not in self._active and not self.rules.has_pending(c)]
        for c in free:
            if self.station.snapshot(c).ev_connected:
                return c
        for c in free:
            if self.station.snapshot(c).available:
                return c
        return None

    async def _may_act_for(self, owner: str, owner_parent: str | None, presented: str) -> bool:
        """parentIdTag rule, with the parents looked up by the authorisation service."""
        if presented == owner:
            return True
        auth = self.ctx.auth
        return auth is not None and await auth.may_stop(owner, presented, owner_parent)

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
            if await self._may_act_for(tx.id_tag, tx.parent_id_tag, id_tag):
                await self.stop(c, "Local", id_tag=id_tag)
            else:
                self.log.info("card %s may not stop the transaction of %s", id_tag, tx.id_tag)
            return
        if self.rules.presented_again(c, id_tag):  # the same card again cancels the pending authorisation
            self._cancel_timer(c)
            self._changed(c)
            return
        info = await self.authorize_tag(id_tag)
        if info.get("status") != "Accepted":
            self.log.info("card %s refused: %s", id_tag, info.get("status"))
            return
        res = self.ctx.reservations
        if res is not None and not await res.may_use(c, id_tag, info.get("parentIdTag")):
            self.log.info("connector %d reserved for another idTag", c)
            return
        await self.authorized(c, id_tag, info.get("parentIdTag"), remote=False)

    async def local_access(self, connector: int, id_tag: str, granted: bool) -> None:
        """The charger's own RFID reader decided (``[rfid] mode`` enable_all / enable_one, the
        firmware's RFIDReader 1-2): a grant starts a transaction with ``id_tag`` without asking the
        CSMS (``beginTransaction_authorized``); a revoke stops it (Local) or drops the wait for the plug."""
        if granted:
            await self.authorized(connector, id_tag, None, remote=False)
        elif not await self.stop(connector, "Local", id_tag=id_tag) and self.rules.cancel_pending(connector):
            self._cancel_timer(connector)
            self._changed(connector)
            await self.station.submit(Authorize(connector, False))

    async def _held_by(self, connector: int, id_tag: str) -> int | None:
        """The connector whose lock ``id_tag`` may release: the same idTag as the DeAuthorized
        transaction, or one with its parentIdTag."""
        for c, holder in self.rules.holders(connector):
            if holder.id_tag == id_tag or (holder.parent_id_tag
                                           and await self._may_act_for(holder.id_tag, holder.parent_id_tag, id_tag)):
                return c
        return None

    async def release_lock(self, connector: int) -> bool:
        """End the DeAuthorized lock hold of ``connector`` (owner returned, UnlockConnector)."""
        if not self.rules.release(connector):
            return False
        await self.station.submit(HoldLock(connector, False))
        self._changed(connector)
        return True

    async def authorized(self, connector: int, id_tag: str, parent_id_tag: str | None, remote: bool) -> None:
        """An idTag may start on ``connector``: start at once when an EV is connected, else wait
        ConnectionTimeOut for the plug."""
        self._cancel_timer(connector)
        pend = self.rules.authorize(connector, id_tag, parent_id_tag, remote, self.clock.monotonic())
        if pend.wait_s is not None:
            self._timers[connector] = self.clock.call_later(pend.wait_s, self._pending_expired, connector, pend)
        self._changed(connector)
        await self._start_if_ready(connector)

    def _cancel_timer(self, connector: int) -> None:
        timer = self._timers.pop(connector, None)
        if timer is not None:
            timer.cancel()

    def _pending_expired(self, connector: int, pend: Pending) -> None:
        if self.rules.expire(connector, pend):
            self._timers.pop(connector, None)
            self.log.info("connector %d: ConnectionTimeOut, authorisation of %s dropped", connector, pend.id_tag)
            self._changed(connector)

    # -- start ------------------------------------------------------------------------------
    async def _start_if_ready(self, connector: int) -> None:
        async with self._lock:
            pend = self.rules.take_pending_if_ready(connector, self.station.snapshot(connector),
                                                    connector in self._active)
            if pend is None:
                return
            self._cancel_timer(connector)
            await self._start(connector, pend)

    async def _start(self, c: int, pend: Pending) -> None:
        await self.station.submit(Authorize(c, True))
        meter = self.station.latest_meter(c)
        meter_start = round(meter.energy_import_wh) if meter is not None else 0
        now = self.clock.now()
        res = self.ctx.reservations
        reservation_id = res.consume(c, pend.id_tag, pend.parent_id_tag) if res is not None else None
        begin = self._transaction_data_values(c, "Transaction.Begin")
        payload: dict[str, Any] = {"connectorId": c, "idTag": pend.id_tag, "meterStart": meter_start,
                                   "timestamp": format_datetime(now)}
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        with self.db:
            local_id = self.rows.insert(self.db, c, pend.id_tag, pend.parent_id_tag, reservation_id, meter_start,
                                        format_datetime(now), begin)
            self.outbox.insert_transaction_message(self.db, "StartTransaction", payload, local_id)
        tx = Transaction(local_id, c, pend.id_tag, meter_start, now, parent_id_tag=pend.parent_id_tag,
                         reservation_id=reservation_id, remote=pend.remote, start_mono=self.clock.monotonic())
        self._active[c] = tx
        self.rules.started(c)
        tx.sampler = self.outbox.spawn(self.sampling.run(tx), "meter-sampler")
        sc = self.ctx.smart_charging
        if sc is not None:
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
        begin = self.rows.begin_values(tx.local_id)
        end = self._transaction_data_values(c, "Transaction.End")
        if begin or end:
            payload["transactionData"] = begin + end
        with self.db:
            self.rows.mark_stopped(self.db, tx.local_id, reason, meter_stop)
            self.outbox.insert_transaction_message(self.db, "StopTransaction", payload, tx.local_id)
        self.log.info("transaction %d on connector %d stopped: %s", tx.local_id, c, reason)
        self.rules.stopped(c, self.station.snapshot(c).ev_connected)
        await self.station.submit(Authorize(c, False))
        sc = self.ctx.smart_charging
        if sc is not None:
            sc.on_transaction_ended(c, tx.local_id)
        await self.ctx.availability.transaction_ended(c, self.busy)
        self._changed(c)

    def _transaction_data_values(self, c: int, context: str) -> list[dict[str, Any]]:
        measurands = stop_measurands(self.keys)
        if not measurands:
            return []
        values = sampled_values(self.station, c, measurands, context)
        return [meter_value(self.clock.now(), values)] if values else []

    async def send_meter_values(self, connector: int, context: str, measurands: list[str]) -> None:
        """Queue a MeterValues of ``connector`` now (see :meth:`MeterSampling.send`)."""
        await self.sampling.send(connector, context, measurands)

    # -- outbox hooks ------------------------------------------------------------------------------
    def _prepare(self, row: TxRow) -> dict[str, Any]:
        payload = dict(row.payload)
        if row.local_tx is not None and row.action in ("MeterValues", "StopTransaction"):
            tx_id = self.rows.transaction_id(row.local_tx)
            payload["transactionId"] = tx_id if tx_id is not None else -1
        return payload

    def _on_result(self, row: TxRow, resp: dict[str, Any], db: Db) -> Callable[[], object] | None:
        if row.action == "StartTransaction" and row.local_tx is not None:
            tx_id = resp.get("transactionId")
            info = resp.get("idTagInfo") or {}
            self.rows.set_transaction_id(db, row.local_tx, tx_id)
            return lambda: self._start_confirmed(row, tx_id, info)
        auth = self.ctx.auth
        if row.action == "StopTransaction" and "idTagInfo" in resp and auth is not None:
            id_tag = row.payload.get("idTag")
            if id_tag:
                return lambda: auth.update_from_conf(id_tag, resp["idTagInfo"])
        return None

    def _on_dropped(self, row: TxRow, db: Db) -> None:
        if row.action == "StartTransaction" and row.local_tx is not None:
            self.rows.set_transaction_id(db, row.local_tx, -1)
            for tx in self._active.values():
                if tx.local_id == row.local_tx:
                    tx.transaction_id = -1

    def _start_confirmed(self, row: TxRow, tx_id: object, info: dict[str, Any]) -> Awaitable[None] | None:
        id_tag = row.payload.get("idTag", "")
        auth = self.ctx.auth
        if auth is not None and info:
            try:
                auth.update_from_conf(id_tag, info)
            except Exception:
                self.log.exception("auth cache update failed")
        tx = next((t for t in self._active.values() if t.local_id == row.local_tx), None)
        if tx is None:
            return None
        tx.transaction_id = int(tx_id) if isinstance(tx_id, int | str) else None
        sc = self.ctx.smart_charging
        if sc is not None:
            sc.on_transaction_id(tx.connector, tx.transaction_id)
        self._changed(tx.connector)
        status = str(info.get("status", "Accepted"))
        if status == "Accepted":
            return None
        tx.deauthorized = True
        meter = self.station.latest_meter(tx.connector)
        actions = self.rules.start_confirmed(tx.connector, tx.id_tag, tx.parent_id_tag, status, tx.meter_start,
                                             meter.energy_import_wh if meter is not None else None,
                                             self._can_hold_lock())
        return self._execute(actions) if actions else None
