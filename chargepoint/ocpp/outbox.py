"""The outbound scheduler: one CALL at a time, a persistent FIFO for transaction messages and an
in-memory queue for everything else (which may overtake, OCPP 1.6 §3.7).

Transaction messages (StartTransaction, StopTransaction, sampled/clock-aligned MeterValues) are
written to SQLite (table ``tx_outbox``) before they can be sent and deleted only when their
CALLRESULT arrived -- in the same SQLite transaction as the result's effect (``on_result`` hook,
e.g. storing the transactionId), so a crash never loses or doubles an effect.  A CALLERROR counts as
a failed attempt: the message waits ``TransactionMessageRetryInterval x attempts`` and gets a new
unique id; after ``TransactionMessageAttempts`` it is dropped (``on_dropped`` hook).  A timeout or a
lost connection keeps the message at the head with its unique id.

Modes: "offline" (nothing is sent), "pending" (registration Pending: only messages marked
``triggered``), "accepted" (everything).  The pump also sends Heartbeat when nothing else was sent
for ``HeartbeatInterval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from chargepoint.clock import Clock
from chargepoint.ocpp.library import OCPPError
from chargepoint.ocpp.store import Db

Sender = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]

#: queued persistently, in order; SecurityEventNotification too (security whitepaper: guaranteed delivery)
TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues", "SecurityEventNotification"})


class OutboxError(Exception):
    """A non-transaction message could not be delivered (CALLERROR, timeout, offline)."""

    def __init__(self, message: str, error: OCPPError | None = None) -> None:
        super().__init__(message)
        self.error = error


@dataclass
class _Item:
    action: str
    payload: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]
    triggered: bool = False


@dataclass
class TxRow:
    id: int
    action: str
    payload: dict[str, Any]
    local_tx: int | None
    attempts: int
    unique_id: str | None


@dataclass
class OutboxStats:
    sent: int = 0
    tx_sent: int = 0
    call_errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    heartbeats: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Outbox:
    def __init__(self, clock: Clock, db: Db, keys: Any, log: logging.Logger | None = None) -> None:
        self.clock = clock
        self.db = db
        self.cp = db.cp_id
        self.keys = keys
        self.log = log or logging.getLogger("chargepoint.ocpp.outbox")
        self.mode = "offline"
        self._instance = self._store_instance_id()
        self._nontx: deque[_Item] = deque()
        self._held: list[_Item] | None = None
        self._held_callbacks: list[Callable[[], Any]] = []
        self._handler_depth = 0
        self._retry_at = 0.0  # monotonic time before which the tx head must not be retried
        self._known_empty = False  # tx_outbox has no row of this charge point (see _head)
        self._wakeup = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None  # wakes the pump (see _wake_at)
        self._timer_at = 0.0
        self.last_traffic = clock.monotonic()
        self.stats = OutboxStats()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: hooks (set by the transaction manager)
        self.prepare: Callable[[TxRow], dict[str, Any]] = lambda row: row.payload
        self.on_result: Callable[[TxRow, dict[str, Any], Db], Callable[[], Any] | None] = (
            lambda row, resp, db: None
        )
        self.on_dropped: Callable[[TxRow, Db], None] = lambda row, db: None
        self.on_clock: Callable[[str], None] = lambda current_time: None

    def _store_instance_id(self) -> str:
        """A random id of this charge point's store (kept in it): unique ids of different stores never collide."""
        row = self.db.execute("SELECT value FROM tx_outbox_meta WHERE cp_id=? AND name='instance'",
                              (self.cp,)).fetchone()
        if row is not None:
            return str(row[0])
        value = uuid.uuid4().hex[:12]
        with self.db:
            self.db.execute("INSERT INTO tx_outbox_meta(cp_id, name, value) VALUES (?, 'instance', ?)",
                            (self.cp, value))
        return value

    # -- state ---------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.mode == "accepted"

    def set_mode(self, mode: str) -> None:
        assert mode in ("offline", "pending", "accepted")
        self.mode = mode
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()

    def note_traffic(self) -> None:
        self.last_traffic = self.clock.monotonic()

    # -- transaction messages ------------------------------------------------------------
    def insert_transaction_message(self, db: Db, action: str, payload: dict[str, Any],
                                   local_tx: int | None = None) -> int:
        """Insert inside the caller's SQLite transaction (the caller commits); wakes the pump."""
        if action not in TRANSACTION_ACTIONS:
            raise ValueError(f"{action} is not a transaction message")
        cur = db.execute("INSERT INTO tx_outbox(cp_id, action, payload, local_tx) VALUES (?,?,?,?)",
                         (self.cp, action, json.dumps(payload), local_tx))
        self._known_empty = False  # (also if the caller rolls back: one query more, nothing missed)
        self._wake()
        return int(cur.lastrowid or 0)

    async def enqueue_transaction_message(self, action: str, payload: dict[str, Any],
                                          local_tx: int | None = None) -> int:
        with self.db:
            return self.insert_transaction_message(self.db, action, payload, local_tx)

    def pending_transaction_messages(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM tx_outbox WHERE cp_id=?", (self.cp,)).fetchone()[0])

    def _head(self) -> TxRow | None:
        # an idle charge point's pump asks after every heartbeat: the answer "empty" is kept until
        # the next insert (every row enters through insert_transaction_message) -- no query per wake-up
        if self._known_empty:
            return None
        r = self.db.execute(
            "SELECT id, action, payload, local_tx, attempts, unique_id FROM tx_outbox WHERE cp_id=? ORDER BY id LIMIT 1",
            (self.cp,)).fetchone()
        if r is None:
            self._known_empty = True
            return None
        return TxRow(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5])

    # -- other messages ------------------------------------------------------------------
    def send_soon(self, action: str, payload: dict[str, Any], triggered: bool = False) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume_exception)
        item = _Item(action, payload, fut, triggered)
        self._nontx.append(item)
        self._wake()
        return fut

    def send_after_reply(self, action: str, payload: dict[str, Any],
                         triggered: bool = False) -> asyncio.Future[dict[str, Any]]:
        if self._held is None:
            return self.send_soon(action, payload, triggered)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume_exception)
        self._held.append(_Item(action, payload, fut, triggered))
        return fut

    def after_reply(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync, or returning an awaitable, which is awaited in a kept task) after the
        reply to the CALL being handled has been sent; at once when no CALL is being handled."""
        if self._held is None:
            self._run_callback(fn)
        else:
            self._held_callbacks.append(fn)

    def spawn(self, aw: Awaitable[Any], name: str = "ocpp-task") -> asyncio.Task[Any]:
        """Start a task and keep a reference until it ends; its exception is logged."""
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.log.error("%s failed: %r", name, t.exception(), exc_info=t.exception())

        task.add_done_callback(done)
        return task

    def _run_callback(self, fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except Exception:
            self.log.exception("after-reply callback failed")
            return
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            self.spawn(result, "after-reply")

    # called by the session around the handling of one incoming CALL
    def begin_handler(self) -> None:
        self._handler_depth += 1
        if self._held is None:
            self._held = []

    def end_handler(self) -> None:
        self._handler_depth -= 1
        if self._handler_depth > 0:
            return
        held, callbacks = self._held or [], self._held_callbacks
        self._held, self._held_callbacks = None, []
        self._nontx.extend(held)
        self._wake()
        for fn in callbacks:
            self._run_callback(fn)

    async def request(self, action: str, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """Send a non-transaction CALL and wait for its answer.  Raises OutboxError when offline."""
        if not self.online:
            raise OutboxError(f"{action}: not connected/registered")
        fut = self.send_soon(action, payload)
        if timeout is None:
            return await fut
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(fut)
        except TimeoutError:
            raise OutboxError(f"{action}: no answer within {timeout} s") from None

    def drop_queued(self, action: str, reason: str) -> int:
        """Fail queued non-transaction messages of ``action`` (e.g. stale StatusNotifications on a
        disconnect: after a reconnect only the current status is reported)."""
        dropped = [item for item in self._nontx if item.action == action]
        for item in dropped:
            self._nontx.remove(item)
            if not item.future.done():
                item.future.set_exception(OutboxError(reason))
        return len(dropped)

    def fail_pending(self, reason: str) -> None:
        """Fail every queued non-transaction message (used at shutdown)."""
        while self._nontx:
            item = self._nontx.popleft()
            if not item.future.done():
                item.future.set_exception(OutboxError(reason))

    # -- the pump ------------------------------------------------------------------------
    async def run(self, send: Sender) -> None:
        """Send until the connection fails (the sender raises); returns never otherwise."""
        try:
            await self._pump(send)
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _wake_at(self, deadline: float | None) -> None:
        """Have the pump woken at ``deadline`` at the latest.  A timer armed for earlier stays: the
        pump wakes, finds nothing due and sleeps again -- one timer per heartbeat interval, not a
        timer armed and cancelled at every turn of the pump (a charging member turns it every few
        seconds, and its heartbeat deadline moves on with every message)."""
        if deadline is None or (self._timer is not None and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wakeup.set()

    async def _pump(self, send: Sender) -> None:
        while True:
            self._wakeup.clear()
            if self._handler_depth > 0:  # a reply is being prepared: it goes first
                await self._wakeup.wait()
                continue
            item = self._next_item()
            if item is not None:
                await self._send_item(send, item)
                continue
            wait: float | None = None
            if self.mode == "accepted":
                now = self.clock.monotonic()
                row = self._head()
                if row is not None:
                    if now >= self._retry_at:
                        await self._send_tx(send, row)
                        continue
                    wait = self._retry_at - now
                hb = int(self.keys.get("HeartbeatInterval") or 0)
                if hb > 0:
                    due = self.last_traffic + hb - now
                    if due <= 0:
                        await self._heartbeat(send)
                        continue
                    wait = due if wait is None else min(wait, due)
            self._wake_at(None if wait is None else self.clock.monotonic() + wait)
            await self._wakeup.wait()

    def _next_item(self) -> _Item | None:
        if self.mode == "offline":
            return None
        for item in self._nontx:
            if item.future.done():  # cancelled by the caller
                self._nontx.remove(item)
                return self._next_item()
            if self.mode == "accepted" or item.triggered:
                self._nontx.remove(item)
                return item
        return None

    async def _send_item(self, send: Sender, item: _Item) -> None:
        try:
            resp = await send(item.action, item.payload, str(uuid.uuid4()))
        except OCPPError as e:
            self.stats.call_errors += 1
            if not item.future.done():
                item.future.set_exception(OutboxError(f"{item.action}: CALLERROR {e.code}", e))
            return
        except TimeoutError:
            self.stats.timeouts += 1
            if not item.future.done():
                item.future.set_exception(OutboxError(f"{item.action}: no answer"))
            return
        except BaseException:
            # connection lost: keep the message for the next connection
            self._nontx.appendleft(item)
            raise
        self.stats.sent += 1
        self.note_traffic()
        if not item.future.done():
            item.future.set_result(resp)

    async def _heartbeat(self, send: Sender) -> None:
        try:
            resp = await send("Heartbeat", {}, str(uuid.uuid4()))
        except (OCPPError, TimeoutError) as e:
            self.log.warning("Heartbeat failed: %r", e)
            self.note_traffic()
            return
        self.stats.heartbeats += 1
        self.note_traffic()
        if "currentTime" in resp:
            self.on_clock(resp["currentTime"])

    async def _send_tx(self, send: Sender, row: TxRow) -> None:
        # deterministic: a resend after a timeout, disconnect or crash reuses the id (the CSMS can
        # recognise it); a retry after a CALLERROR (attempts + 1) gets a new one.  No extra write.
        unique_id = row.unique_id or f"tx-{self._instance}-{row.id}-{row.attempts}"
        payload = self.prepare(row)
        try:
            resp = await send(row.action, payload, unique_id)
        except OCPPError as e:
            self.stats.call_errors += 1
            attempts = row.attempts + 1
            limit = int(self.keys.get("TransactionMessageAttempts") or 1)
            if attempts >= limit:
                self.log.warning("%s #%d dropped after %d attempts (%s)", row.action, row.id, attempts, e.code)
                self.stats.dropped += 1
                with self.db:
                    self.db.execute("DELETE FROM tx_outbox WHERE id=?", (row.id,))
                    self.on_dropped(row, self.db)
                self._retry_at = 0.0
            else:
                interval = int(self.keys.get("TransactionMessageRetryInterval") or 0)
                self._retry_at = self.clock.monotonic() + interval * attempts
                with self.db:
                    self.db.execute("UPDATE tx_outbox SET attempts=? WHERE id=?", (attempts, row.id))
            return
        except TimeoutError:
            self.stats.timeouts += 1
            self.log.warning("%s #%d: no answer, will resend", row.action, row.id)
            self._retry_at = self.clock.monotonic() + 1.0
            return
        self.stats.tx_sent += 1
        self.note_traffic()
        self._retry_at = 0.0
        # A delivered MeterValues has no effect to keep: its deletion need not wait for fsync (a
        # process kill still keeps it; after an OS crash the message may be resent once with the same
        # unique id).  Start/Stop results stay fully durable.
        with self.db.relaxed() if row.action == "MeterValues" else contextlib.nullcontext(), self.db:
            self.db.execute("DELETE FROM tx_outbox WHERE id=?", (row.id,))
            follow_up = self.on_result(row, resp, self.db)
        if follow_up is not None:
            self._run_callback(follow_up)


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
