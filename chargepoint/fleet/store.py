"""The fleet store: ONE SQLite database (WAL) for every member, every table keyed by ``cp_id``, and
group commits.

``store = FleetStore(clock, data_dir / "fleet.sqlite3")``; ``await store.start()``; a member's
OCPP client opens ``store.open(cp_id)`` -- a :class:`~chargepoint.ocpp.store.Store` whose ``db``
is a :class:`FleetView`: the single charge point's SQL runs unchanged on the shared connection
(the statements name ``cp_id=?``), ``with db:`` is a SAVEPOINT inside the open batch transaction.
``await store.close()`` after the members stopped.

Guarantees (the single charge point's, :mod:`chargepoint.ocpp.store`):

* atomicity: a member's ``with db:`` block is one savepoint and the batcher commits only between
  blocks (they run synchronously on the event loop), so a batch holds whole blocks; a SIGKILL leaves
  the database at the end of some batch -- every member's state at one of its block boundaries;
* "in SQLite before it is sent": a member's websocket is wrapped in :class:`DurableConnection`,
  whose ``send`` waits until the batch holding the member's last write is committed *and* fsynced.
  Every frame -- a CALL of the outbox, the CALLRESULT of a handler that changed state -- leaves only
  after what it depends on is on disk (synchronous=FULL's promise, one fsync for many members).

The batcher: a write opens the batch (``BEGIN``); the batch is committed as soon as a member waits
for it, else after ``max_delay_s``.  COMMIT runs on the event loop with synchronous=NORMAL (the WAL
frames are written to the OS, no fsync: tens of microseconds); the fsync of the WAL file then runs
in a worker thread while the loop goes on (and writes the next batch); the members waiting for that
batch are released when it returns.  Checkpoints run in the same thread on a second connection
(PASSIVE, so they never block the writer); SQLite's own automatic checkpoint stays as the bound
of the WAL's size.  ``store.stats`` counts batches and the time the loop spent in SQLite's COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from chargepoint.clock import Clock
from chargepoint.ocpp.schema import ensure_schema
from chargepoint.ocpp.store import Store

log = logging.getLogger("chargepoint.fleet.store")

DB_FILE = "fleet.sqlite3"


def fleet_db_file(shard: tuple[int, int] = (0, 1)) -> str:
    """The database of one process: a shard (``--shard``, ``--workers``) has its own (one writer per file)."""
    i, n = shard
    return DB_FILE if n == 1 else f"fleet-{i}of{n}.sqlite3"


class StoreFailed(RuntimeError):
    """A batch could not be committed: the fleet's writes since then are not durable."""


@dataclass
class BatchStats:
    batches: int = 0
    blocks: int = 0              # ``with db:`` blocks and single writes, all batches
    max_blocks: int = 0          # in one batch
    commit_s: float = 0.0        # on the event loop (SQLite COMMIT, no fsync)
    max_commit_s: float = 0.0
    fsync_s: float = 0.0         # in the worker thread
    max_fsync_s: float = 0.0
    waits: int = 0               # sends that waited for a batch
    checkpoints: int = 0

    def as_dict(self) -> dict[str, Any]:
        n = max(self.batches, 1)
        return {"batches": self.batches, "blocks": self.blocks, "blocks_per_batch": self.blocks / n,
                "max_blocks_per_batch": self.max_blocks, "loop_commit_ms_mean": 1e3 * self.commit_s / n,
                "loop_commit_ms_max": 1e3 * self.max_commit_s, "fsync_ms_mean": 1e3 * self.fsync_s / n,
                "fsync_ms_max": 1e3 * self.max_fsync_s, "waits": self.waits, "checkpoints": self.checkpoints}


class FleetStore:
    def __init__(self, clock: Clock, path: Path | str, *, max_delay_s: float = 0.01,
                 checkpoint_every: int = 200) -> None:
        self.clock = clock
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_delay_s = max_delay_s
        self.checkpoint_every = checkpoint_every
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")  # the fsync is ours (the worker thread)
        self.conn.execute("PRAGMA foreign_keys=ON")
        ensure_schema(self.conn)
        wal = str(self.path) + "-wal"
        self._wal_fd = os.open(wal, os.O_RDWR | os.O_CREAT, 0o644)
        _fsync_dir(self.path.parent)  # the WAL file's directory entry
        self._ckpt = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._ckpt.execute("PRAGMA synchronous=NORMAL")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-store-fsync")
        self._ckpt_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-store-checkpoint")
        self._ckpt_running = False
        self.stats = BatchStats()
        self._batch = 1          # the open (or next) batch
        self._durable = 0        # every batch <= this one is committed and fsynced
        self._blocks = 0         # writes in the open batch
        self._depth = 0          # open savepoints (a member inside ``with db:``)
        self._since_ckpt = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._dirty = asyncio.Event()
        self._urgent = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

    # -- members ---------------------------------------------------------------------------------
    def open(self, cp_id: str) -> Store:
        """The member's store: a view of this database scoped to ``cp_id``."""
        if not cp_id:
            raise ValueError("a fleet member needs a cp_id")
        return Store(FleetView(self, cp_id), self.path)

    def cp_ids(self) -> list[str]:
        """The members with state in this database (their config keys or outbox instance)."""
        rows = self.conn.execute("SELECT cp_id FROM tx_outbox_meta UNION SELECT cp_id FROM config_keys")
        return sorted(r[0] for r in rows)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fleet-store-batcher")

    async def flush(self) -> None:
        """Commit and fsync everything written so far."""
        await self.wait_durable(self._batch if self._blocks else self._batch - 1)

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(StoreFailed):
                await self.flush()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self._ckpt_thread.shutdown(wait=True)
        self._thread.shutdown(wait=True)
        self._ckpt.close()
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        os.close(self._wal_fd)

    # -- the batch -------------------------------------------------------------------------------
    def _begin(self, view: FleetView) -> None:
        """A write of ``view`` goes into the open batch."""
        if self.failed is not None:
            raise StoreFailed(f"fleet store failed: {self.failed!r}") from self.failed
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
        view.need = self._batch
        if self._depth == 0:
            self._blocks += 1
        self._dirty.set()

    async def wait_durable(self, batch: int) -> None:
        if batch <= self._durable:
            return
        if self.failed is not None:
            raise StoreFailed(f"fleet store failed: {self.failed!r}")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((batch, fut))
        self.stats.waits += 1
        self._urgent.set()
        self._dirty.set()
        await fut

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            if not self._waiters:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.max_delay_s):
                        await self._urgent.wait()
            self._urgent.clear()
            self._dirty.clear()
            try:
                await self._commit()
            except Exception as exc:  # disk full, I/O error: nothing after this is durable
                log.exception("fleet store commit failed")
                self.failed = exc
                for _, fut in self._waiters:
                    if not fut.done():
                        fut.set_exception(StoreFailed(f"fleet store failed: {exc!r}"))
                self._waiters.clear()
                return

    async def _commit(self) -> None:
        assert self._depth == 0, "a batch is committed only between members' blocks"
        batch, blocks = self._batch, self._blocks
        if self.conn.in_transaction:
            t0 = time.perf_counter()
            self.conn.execute("COMMIT")
            dt = time.perf_counter() - t0
            self.stats.commit_s += dt
            self.stats.max_commit_s = max(self.stats.max_commit_s, dt)
        self._batch += 1
        self._blocks = 0
        loop = asyncio.get_running_loop()
        dt = await loop.run_in_executor(self._thread, _timed_fsync, self._wal_fd)
        self.stats.fsync_s += dt
        self.stats.max_fsync_s = max(self.stats.max_fsync_s, dt)
        self.stats.batches += 1
        self.stats.blocks += blocks
        self.stats.max_blocks = max(self.stats.max_blocks, blocks)
        self._durable = batch
        keep = []
        for need, fut in self._waiters:
            if need <= batch:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((need, fut))
        self._waiters = keep
        if keep:
            self._urgent.set()
            self._dirty.set()
        self._since_ckpt += 1
        if self._since_ckpt >= self.checkpoint_every and not self._ckpt_running:
            self._since_ckpt = 0
            self._ckpt_running = True
            loop.run_in_executor(self._ckpt_thread, self._checkpoint)

    def _checkpoint(self) -> None:
        """In its own thread, on its own connection: the batches' fsyncs do not queue behind it."""
        try:
            self._ckpt.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.stats.checkpoints += 1
        except sqlite3.Error as exc:
            log.warning("fleet store checkpoint failed: %s", exc)
        finally:
            self._ckpt_running = False


def _timed_fsync(fd: int) -> float:
    t0 = time.perf_counter()
    os.fsync(fd)
    return time.perf_counter() - t0


def _fsync_dir(path: Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_write(sql: str) -> bool:
    return sql.lstrip()[:6].upper() != "SELECT"


class FleetView:
    """One member's :class:`~chargepoint.ocpp.store.Db`: the shared connection, scoped to ``cp_id``
    by the statements themselves; ``with view:`` is a savepoint in the open batch."""

    def __init__(self, store: FleetStore, cp_id: str) -> None:
        self.store = store
        self._cp_id = cp_id
        self.need = 0  # the batch holding this member's last write

    @property
    def cp_id(self) -> str:
        return self._cp_id

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if _is_write(sql):
            self.store._begin(self)
        return self.store.conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        self.store._begin(self)
        return self.store.conn.executemany(sql, parameters)

    def __enter__(self) -> FleetView:
        store = self.store
        store._begin(self)
        store.conn.execute("SAVEPOINT member")
        store._depth += 1
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None, /) -> Literal[False]:
        store = self.store
        store._depth -= 1
        if exc_type is None:
            store.conn.execute("RELEASE member")
        elif store.conn.in_transaction:
            store.conn.execute("ROLLBACK TO member")
            store.conn.execute("RELEASE member")
        else:  # SQLite rolled the whole batch back (e.g. disk full): the other members' writes too
            store.failed = exc
        return False

    def relaxed(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # every batch costs one fsync, whatever it holds

    def close(self) -> None:
        """The member stops; its rows stay (the store closes the connection)."""

    @property
    def pending(self) -> bool:
        """Something this member wrote is not yet on disk."""
        return self.need > self.store._durable

    async def durable(self) -> None:
        await self.store.wait_durable(self.need)


class DurableConnection:
    """A member's websocket: a frame leaves only after the member's writes are committed and fsynced."""

    def __init__(self, ws: Any, view: FleetView) -> None:
        self._ws = ws
        self._view = view

    async def send(self, message: str | bytes) -> None:
        if self._view.pending:
            await self._view.durable()
        await self._ws.send(message)

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        return await self._ws.recv(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)
