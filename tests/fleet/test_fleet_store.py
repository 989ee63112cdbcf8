"""The fleet's shared store (chargepoint/fleet/store.py): members isolated by cp_id, ordering, a
failing block undone alone, "committed and fsynced before it is sent", and crash atomicity under a
real SIGKILL of a writing process (tests/fleet/fleet_store_child.py), restarted several times."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from chargepoint.clock import RealClock
from chargepoint.fleet.store import DurableConnection, FleetStore, FleetView, fleet_db_file
from chargepoint.ocpp.config_keys import ConfigKeys
from chargepoint.ocpp.outbox import Outbox
from chargepoint.ocpp.transaction_store import TransactionStore

ROOT = Path(__file__).resolve().parents[2]


def _read(path: Path, sql: str, *params: object) -> list[tuple]:
    """What another process would find in the file now (committed data only)."""
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


async def test_two_members_share_the_file_and_see_only_their_own_rows(tmp_path):
    clock = RealClock()
    path = tmp_path / "fleet.sqlite3"
    fleet = FleetStore(clock, path)
    await fleet.start()
    a, b = fleet.open("CP-A"), fleet.open("CP-B")
    keys_a, keys_b = ConfigKeys(a.db), ConfigKeys(b.db)
    keys_a.set("HeartbeatInterval", "17")
    out_a, out_b = Outbox(clock, a.db, keys_a), Outbox(clock, b.db, keys_b)
    tx_a, tx_b = TransactionStore(a.db), TransactionStore(b.db)
    with a.db:
        local = tx_a.insert(a.db, 1, "TAG-A", None, None, 100, "2026-01-01T00:00:00Z", [])
        out_a.insert_transaction_message(a.db, "StartTransaction", {"n": 1}, local)
    for n in range(3):  # interleaved: each member's queue keeps its own order
        await out_b.enqueue_transaction_message("MeterValues", {"n": n})
        await out_a.enqueue_transaction_message("MeterValues", {"n": n + 2})
    a.set_kv("availability", "1", False)
    await fleet.flush()

    assert keys_b.get("HeartbeatInterval") != 17 and ConfigKeys(fleet.open("CP-A").db).get("HeartbeatInterval") == 17
    assert out_a.pending_transaction_messages() == 4 and out_b.pending_transaction_messages() == 3
    assert [r.local_id for r in tx_a.open_rows()] == [local] and tx_b.open_rows() == []
    assert a.get_kv("availability", "1") is False and b.get_kv("availability", "1") is None
    assert out_a._instance != out_b._instance  # unique ids of the two never collide
    rows = _read(path, "SELECT cp_id, payload FROM tx_outbox ORDER BY id")
    assert [(cp, p) for cp, p in rows if cp == "CP-A"] == [
        ("CP-A", '{"n": 1}'), ("CP-A", '{"n": 2}'), ("CP-A", '{"n": 3}'), ("CP-A", '{"n": 4}')]
    assert [p for cp, p in rows if cp == "CP-B"] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    head = out_a._head()
    assert head is not None and head.action == "StartTransaction"
    await fleet.close()

    # reopened: everything is there, per member
    again = FleetStore(clock, path)
    await again.start()
    assert again.cp_ids() == ["CP-A", "CP-B"]
    assert Outbox(clock, again.open("CP-B").db, keys_b).pending_transaction_messages() == 3
    assert again.open("CP-A").get_kv("availability", "1") is False
    await again.close()


async def test_a_failing_block_is_undone_alone_and_the_batch_commits(tmp_path):
    clock = RealClock()
    path = tmp_path / "fleet.sqlite3"
    fleet = FleetStore(clock, path, max_delay_s=10.0)  # only a waiter commits the batch
    await fleet.start()
    a, b = fleet.open("CP-A"), fleet.open("CP-B")
    a.set_kv("x", "k", 1)
    with pytest.raises(RuntimeError), b.db:
        b.db.execute("INSERT INTO kv(cp_id, ns, key, value) VALUES (?, 'x', 'k', '2')", (b.db.cp_id,))
        raise RuntimeError("the member's handler failed half-way")
    b.set_kv("x", "other", 3)
    assert _read(path, "SELECT COUNT(*) FROM kv") == [(0,)]  # nothing committed yet: nobody waited
    view = a.db
    assert isinstance(view, FleetView) and view.pending
    await view.durable()
    assert not view.pending
    assert sorted(_read(path, "SELECT cp_id, key, value FROM kv")) == [("CP-A", "k", "1"), ("CP-B", "other", "3")]
    assert fleet.stats.batches == 1 and fleet.stats.waits == 1
    await fleet.close()


class _Socket:
    """The far end of a websocket: records what arrived and what the file held at that moment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[tuple[str, list[tuple]]] = []

    async def send(self, message: str) -> None:
        self.seen.append((message, _read(self.path, "SELECT cp_id, action FROM tx_outbox")))


async def test_a_frame_leaves_only_after_its_write_is_committed_and_fsynced(tmp_path):
    clock = RealClock()
    path = tmp_path / "fleet.sqlite3"
    fleet = FleetStore(clock, path, max_delay_s=10.0)
    await fleet.start()
    store = fleet.open("CP-A")
    view = store.db
    assert isinstance(view, FleetView)
    outbox = Outbox(clock, view, ConfigKeys(view))
    far = _Socket(path)
    ws = DurableConnection(far, view)
    await outbox.enqueue_transaction_message("StartTransaction", {"connectorId": 1})
    await ws.send('[2,"tx-1","StartTransaction",{}]')
    assert far.seen == [('[2,"tx-1","StartTransaction",{}]', [("CP-A", "StartTransaction")])]
    assert fleet.stats.batches == 1
    await ws.send('[2,"x","Heartbeat",{}]')  # nothing new written: no wait, no batch
    assert fleet.stats.batches == 1 and fleet.stats.waits == 1
    await fleet.close()


def test_each_shard_has_its_own_file():
    assert fleet_db_file() == "fleet.sqlite3"
    assert {fleet_db_file((i, 4)) for i in range(4)} == {f"fleet-{i}of4.sqlite3" for i in range(4)}


async def _run_child(path: Path, members: int, kill_after: float) -> dict[str, int]:
    """Start the writer, SIGKILL it after ``kill_after`` s of writing; the highest acked seq per member."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fleet.fleet_store_child", str(path), str(members), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert b"ready" in await asyncio.wait_for(proc.stdout.readline(), 30)
    acked: dict[str, int] = {}
    clock = RealClock()
    deadline = clock.monotonic() + kill_after
    while clock.monotonic() < deadline:
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), max(deadline - clock.monotonic(), 0.001))
        except TimeoutError:
            break
        _, cp, seq = line.decode().split()
        acked[cp] = max(acked.get(cp, 0), int(seq))
    proc.send_signal(signal.SIGKILL)
    # what the process printed before it died was "sent": read it all
    rest = await proc.stdout.read()
    for line in rest.decode().splitlines():
        parts = line.split()
        if len(parts) == 3:
            acked[parts[1]] = max(acked.get(parts[1], 0), int(parts[2]))
    await proc.wait()
    return acked


async def test_sigkill_at_any_instant_keeps_whole_blocks_in_order_and_every_acked_write(tmp_path):
    path = tmp_path / "fleet.sqlite3"
    members = 50
    rng = random.Random(7)
    acked_ever: dict[str, int] = defaultdict(int)
    for _round in range(4):
        acked = await _run_child(path, members, kill_after=rng.uniform(0.3, 1.2))
        for cp, seq in acked.items():
            acked_ever[cp] = max(acked_ever[cp], seq)
        counts = dict(_read(path, "SELECT cp_id, CAST(value AS INTEGER) FROM kv WHERE ns='crash'"))
        queued: dict[str, list[int]] = defaultdict(list)
        for cp, payload in _read(path, "SELECT cp_id, json_extract(payload, '$.seq') FROM tx_outbox ORDER BY id"):
            queued[cp].append(payload)
        assert sum(acked.values()) > 0, "the writer wrote nothing before the kill"
        for cp in set(counts) | set(queued) | set(acked_ever):
            n = counts.get(cp, 0)
            # atomic blocks: the counter and the queued messages went together; in order, no gap, no double
            assert queued.get(cp, []) == list(range(1, n + 1)), cp
            # nothing that was acknowledged ("sent") is lost
            assert n >= acked_ever[cp], (cp, n, acked_ever[cp])
    assert _read(path, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("window", [0.0, 1.0])
async def test_the_group_commit_window_lets_one_fsync_serve_members_that_wait_one_after_another(tmp_path, window):
    """Ten members write and wait for their writes 3 ms apart: with a window, one batch and one fsync
    serve all ten (each still waits until its write is on disk); without, the first commits alone."""
    clock = RealClock()
    path = tmp_path / "fleet.sqlite3"
    fleet = FleetStore(clock, path, max_delay_s=10.0, commit_window_s=window)
    await fleet.start()
    views = [fleet.open(f"CP-{n}").db for n in range(10)]
    done: list[int] = []

    async def member(n: int, view: FleetView) -> None:
        await clock.sleep(0.003 * n)
        view.execute("INSERT INTO kv(cp_id, ns, key, value) VALUES (?, 'x', 'k', ?)", (view.cp_id, str(n)))
        await view.durable()
        assert _read(path, "SELECT value FROM kv WHERE cp_id=?", view.cp_id) == [(str(n),)]
        done.append(n)

    t0 = clock.monotonic()
    await asyncio.gather(*(member(n, v) for n, v in enumerate(views)))  # type: ignore[arg-type]
    assert sorted(done) == list(range(10))
    if window:
        assert fleet.stats.batches == 1 and fleet.stats.fsyncs == 1
        assert clock.monotonic() - t0 >= window - 0.01  # the first waited for the window
    else:
        assert fleet.stats.batches >= 2
    await fleet.close()
