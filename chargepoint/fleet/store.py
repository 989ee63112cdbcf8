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

The batcher: a write opens the batch (``BEGIN``).  The batch is committed once a member waits for
it, no fsync is running and the batch is ``commit_window_s`` old (the group-commit window: at a
hundred MeterValues a second, each fsync serves several members instead of one -- a fsync round
costs the loop a thread hand-off and the kernel its journal), when it holds ``max_batch`` writes,
or else after ``max_delay_s``.
COMMIT runs on the event loop with synchronous=NORMAL (the WAL frames go to the OS, no fsync: well
under a millisecond for a batch of ``max_batch``); the fsync of the WAL file runs in a worker thread
while the loop goes on, and covers every batch committed before it started; the members waiting for
those batches are released when it returns, and a batch committed meanwhile gets the next fsync at
once.  So a load of many members costs one fsync per few hundred writes, and an idle member waits
for one COMMIT and one fsync.  PASSIVE checkpoints run in another thread on a second connection
(they never block the writer); SQLite's automatic checkpoint (``autocheckpoint_pages``, on the loop)
stays as the bound of the WAL and finds little left to copy.  ``store.stats`` counts batches,
fsyncs and the time the loop spent in COMMIT.

Kill window: a write nobody waited for is committed within ``max_delay_s``; a SIGKILL before that
loses it the way a single charge point loses an event it had not yet written -- nothing of it had
left the process.
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
#: the group-commit window: a frame that waits for its write leaves at most about this much later;
#: also the default delay of a write nobody waits for
COMMIT_WINDOW_S = 0.02


def fleet_db_file(shard: tuple[int, int] = (0, 1)) -> str:
    """The database of one process: a shard (``--shard``, ``--workers``) has its own (one writer per file)."""
    i, n = shard
    return DB_FILE if n == 1 else f"fleet-{i}of{n}.sqlite3"


class StoreFailed(RuntimeError):
    """A batch could not be committed: the fleet's writes since then are not durable."""


@dataclass
class BatchStats:
    batches: int = 0             # COMMITs
    blocks: int = 0              # ``with db:`` blocks and single writes, all batches
    max_blocks: int = 0          # in one batch
    commit_s: float = 0.0        # on the event loop (SQLite COMMIT, no fsync)
    max_commit_s: float = 0.0
    fsyncs: int = 0              # in the worker thread, each covering the batches committed before it
    fsync_s: float = 0.0
    max_fsync_s: float = 0.0
    waits: int = 0               # sends that waited for a batch
    checkpoints: int = 0

    def as_dict(self) -> dict[str, Any]:
        n, f = max(self.batches, 1), max(self.fsyncs, 1)
        return {"batches": self.batches, "blocks": self.blocks, "blocks_per_batch": round(self.blocks / n, 1),
                "max_blocks_per_batch": self.max_blocks, "loop_commit_ms_mean": round(1e3 * self.commit_s / n, 3),
                "loop_commit_ms_max": round(1e3 * self.max_commit_s, 3), "fsyncs": self.fsyncs,
                "fsync_ms_mean": round(1e3 * self.fsync_s / f, 3), "fsync_ms_max": round(1e3 * self.max_fsync_s, 3),
                "waits": self.waits, "checkpoints": self.checkpoints}


class FleetStore:
    def __init__(self, clock: Clock, path: Path | str, *, max_delay_s: float = COMMIT_WINDOW_S,
                 max_batch: int = 500, commit_window_s: float = COMMIT_WINDOW_S, checkpoint_every: int = 200,
                 autocheckpoint_pages: int = 4000) -> None:
        self.clock = clock
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_delay_s = max_delay_s
        self.commit_window_s = commit_window_s
        self.max_batch = max_batch
        self.checkpoint_every = checkpoint_every
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")  # the fsync is ours (the worker thread)
        self.conn.execute("PRAGMA foreign_keys=ON")
        # the bound of the WAL: SQLite's own checkpoint (on the loop) finds little left after ours
        self.conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
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
        self._committed = 0      # every batch <= this one is committed (in the OS, not yet on disk)
        self._durable = 0        # every batch <= this one is committed and fsynced
        self._blocks = 0         # writes in the open batch
        self._opened_at = 0.0    # when the open batch began (clock.monotonic())
        self._depth = 0          # open savepoints (a member inside ``with db:``)
        self._since_ckpt = 0
        self._syncing = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._dirty = asyncio.Event()  # something was written or is waited for
        self._kick = asyncio.Event()   # a waiter, a full batch, an fsync done: look again
        self._task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
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
            await self.clock.cancel_and_wait(self._task, self._sync_task)
            self._task = self._sync_task = None
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
        if self._depth == 0 and self._blocks >= self.max_batch:
            # between two blocks (many members run in one burst of the loop): bound the COMMIT's size
            self._commit()
            self._start_sync()
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
            self._opened_at = self.clock.monotonic()
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
        self._kick.set()
        self._dirty.set()
        await fut

    def _waited_for(self) -> bool:
        return any(need >= self._batch for need, _ in self._waiters)

    def _window_left(self) -> float:
        return self._opened_at + self.commit_window_s - self.clock.monotonic()

    def _due(self) -> bool:
        """Commit now: the batch is full, or someone waits for it, no fsync is running (one that runs
        is followed by the next at once: the batch grows meanwhile, one fsync serves it) and its
        group-commit window has passed."""
        if self._blocks >= self.max_batch:
            return True
        return not self._syncing and self._waited_for() and self._window_left() <= 0

    def _wait_s(self) -> float | None:
        """How long the batcher sleeps unless kicked: until the fsync is done, the window passes, or
        ``max_delay_s`` (nobody waits)."""
        if self._syncing:
            return None
        if self._waited_for():
            return max(0.0, self._window_left())
        return self.max_delay_s

    async def _run(self) -> None:
        try:
            while True:
                await self._dirty.wait()
                while not self._due():
                    self._kick.clear()
                    try:
                        async with asyncio.timeout(self._wait_s()):
                            await self._kick.wait()
                    except TimeoutError:
                        if not self._waited_for():
                            break  # nobody waited: the batch is committed after max_delay_s all the same
                self._dirty.clear()
                self._commit()
                self._start_sync()
        except Exception as exc:  # disk full, I/O error: nothing after this is durable
            self._fail(exc)

    def _start_sync(self) -> None:
        if not self._syncing and self._committed > self._durable:
            self._syncing = True
            self._sync_task = asyncio.create_task(self._sync(), name="fleet-store-fsync")

    def _commit(self) -> None:
        assert self._depth == 0, "a batch is committed only between members' blocks"
        if not self.conn.in_transaction:
            return
        t0 = time.perf_counter()
        self.conn.execute("COMMIT")
        dt = time.perf_counter() - t0
        st = self.stats
        st.commit_s += dt
        st.max_commit_s = max(st.max_commit_s, dt)
        st.batches += 1
        st.blocks += self._blocks
        st.max_blocks = max(st.max_blocks, self._blocks)
        self._committed = self._batch
        self._batch += 1
        self._blocks = 0

    async def _sync(self) -> None:
        """fsync the WAL in the worker thread until every committed batch is on disk."""
        loop = asyncio.get_running_loop()
        try:
            while self._durable < self._committed:
                target = self._committed
                dt = await loop.run_in_executor(self._thread, _timed_fsync, self._wal_fd)
                st = self.stats
                st.fsyncs += 1
                st.fsync_s += dt
                st.max_fsync_s = max(st.max_fsync_s, dt)
                self._durable = target
                keep = []
                for need, fut in self._waiters:
                    if need <= target:
                        if not fut.done():
                            fut.set_result(None)
                    else:
                        keep.append((need, fut))
                self._waiters = keep
                self._since_ckpt += 1
                if self._since_ckpt >= self.checkpoint_every and not self._ckpt_running:
                    self._since_ckpt = 0
                    self._ckpt_running = True
                    loop.run_in_executor(self._ckpt_thread, self._checkpoint)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._syncing = False
            self._kick.set()
            self._dirty.set()

    def _fail(self, exc: BaseException) -> None:
        log.error("fleet store failed: %r", exc, exc_info=exc)
        self.failed = exc
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(StoreFailed(f"fleet store failed: {exc!r}"))
        self._waiters.clear()

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
