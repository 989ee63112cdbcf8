"""Power loss: the charge point runs as a subprocess and is killed with SIGKILL at random points
during transactions while the CSMS is up, down or flapping.  After the last (clean) run the CSMS has
every StartTransaction, MeterValues and StopTransaction exactly once (retransmissions of a message
whose answer was lost reuse its unique id and are counted once) and in order."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from collections import defaultdict

from chargepoint.clock import RealClock
from chargepoint.csms import IN, TestCsms

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


AUDIT_SQL = """
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, outbox_id INTEGER NOT NULL, action TEXT NOT NULL);
CREATE TRIGGER audit_outbox AFTER INSERT ON tx_outbox
BEGIN INSERT INTO audit(outbox_id, action) VALUES (NEW.id, NEW.action); END;
"""


def _outbox_row(unique_id: str) -> int | None:
    """Transaction messages go out as ``tx-<store>-<row>-<attempt>``: the outbox row they came from."""
    parts = unique_id.split("-")
    return int(parts[2]) if len(parts) == 4 and parts[0] == "tx" and parts[2].isdigit() else None


async def _spawn(url: str, data_dir: str, cycles: int | None) -> asyncio.subprocess.Process:
    args = [sys.executable, "-m", "tests.ocpp.powerloss_runner", url, data_dir]
    if cycles is not None:
        args.append(str(cycles))
    return await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)


#: at least six kills; more (up to this) while fewer than six MeterValues were queued
MAX_ROUNDS = 15


def _queued_meter_values(data_dir: str) -> int:
    """MeterValues the audit trigger saw queued so far."""
    with sqlite3.connect(os.path.join(data_dir, "ocpp.sqlite3"), timeout=5) as db:
        return int(db.execute("SELECT COUNT(*) FROM audit WHERE action = 'MeterValues'").fetchone()[0])


async def test_sigkill_during_transactions_exactly_once(tmp_path):
    clock = RealClock()
    rng = random.Random(20261121)
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    await csms.start()
    data_dir = str(tmp_path / "cp")
    kills = 0
    try:
        # a first clean start creates the store; then an audit trigger records, in the same SQLite
        # transaction as the enqueue itself, every transaction message the charge point ever queues
        proc = await _spawn(csms.url, data_dir, 0)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0 and b"DONE" in out
        with sqlite3.connect(os.path.join(data_dir, "ocpp.sqlite3")) as audit_db:
            audit_db.executescript(AUDIT_SQL)
        for round_ in range(MAX_ROUNDS):
            if round_ >= 6 and _queued_meter_values(data_dir) >= 6:
                break  # enough exercised; on a loaded machine a life is mostly start-up: more rounds
            proc = await _spawn(csms.url, data_dir, None)
            mode = round_ % 3  # 0: CSMS up, 1: CSMS down for a while, 2: flapping
            if mode == 1:
                await csms.go_offline(rng.uniform(1.0, 2.5))
            life = rng.uniform(1.5, 4.0)
            t_end = clock.monotonic() + life
            while clock.monotonic() < t_end:
                await clock.sleep(0.3)
                if mode == 2 and rng.random() < 0.3:
                    await csms.go_offline(rng.uniform(0.2, 0.8))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            kills += 1
        await csms.go_offline(0)
        proc = await _spawn(csms.url, data_dir, 1)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0 and b"DONE" in out
    finally:
        await csms.stop()

    # -- what the CSMS received ----------------------------------------------------------------
    calls = [f for f in csms.frames if f.direction == IN and f.message_type == "CALL"
             and f.action in ("StartTransaction", "StopTransaction", "MeterValues", "SecurityEventNotification")]
    unique: dict[str, object] = {}
    for f in calls:
        unique.setdefault(f.unique_id, f)
    retransmitted = len(calls) - len(unique)
    frames = list(unique.values())
    starts = [f for f in frames if f.action == "StartTransaction"]
    stops = [f for f in frames if f.action == "StopTransaction"]

    db = sqlite3.connect(os.path.join(data_dir, "ocpp.sqlite3"))
    rows = db.execute("SELECT local_id, transaction_id, stopped FROM ocpp_transactions ORDER BY local_id").fetchall()
    assert db.execute("SELECT COUNT(*) FROM tx_outbox").fetchone()[0] == 0
    assert all(r[2] == 1 for r in rows)
    assert len(starts) == len(rows) and len(stops) == len(rows), (len(starts), len(stops), len(rows))
    # exactly one StartTransaction and one StopTransaction per transaction id, the stop after all values
    by_tx: dict[int, list] = defaultdict(list)
    for f in frames:
        tx = f.payload.get("transactionId")
        if f.action in ("StartTransaction", "SecurityEventNotification"):  # the latter: no transaction
            continue
        by_tx[tx].append(f)
    ids_from_rows = sorted(r[1] for r in rows)
    assert sorted(by_tx) == ids_from_rows
    for tx, fs in by_tx.items():
        stops_here = [f for f in fs if f.action == "StopTransaction"]
        if tx != -1:
            assert len(stops_here) == 1, tx
            assert fs[-1].action == "StopTransaction"
        stamps = [f.payload["meterValue"][0]["timestamp"] for f in fs if f.action == "MeterValues"]
        assert stamps == sorted(stamps)
    # transaction messages went out in the order they were made (seq order == creation order)
    start_stamps = [f.payload["timestamp"] for f in starts]
    assert start_stamps == sorted(start_stamps)
    assert not [v for v in csms.violations if "already stopped" in v]
    # every message ever queued reached the CSMS, none twice under another id, none unqueued, in FIFO order
    audited = dict(db.execute("SELECT outbox_id, action FROM audit ORDER BY outbox_id").fetchall())
    # the security events of the first clean run were queued before the audit trigger existed
    frames = [f for f in frames if f.action != "SecurityEventNotification" or _outbox_row(f.unique_id) in audited]
    received_rows = [_outbox_row(f.unique_id) for f in frames]
    assert None not in received_rows, [f.unique_id for f in frames]
    assert sorted(received_rows) == sorted(audited), (sorted(set(audited) - set(received_rows)),
                                                      sorted(set(received_rows) - set(audited)))
    assert [f.action for f in frames] == [audited[r] for r in received_rows]
    assert received_rows == sorted(received_rows)
    n_meter_values = sum(1 for a in audited.values() if a == "MeterValues")
    assert n_meter_values >= 6
    reasons = {f.payload["reason"] for f in stops}
    print(f"kills={kills} transactions={len(rows)} messages={len(frames)} meter_values={n_meter_values} "
          f"retransmitted={retransmitted} "
          f"reasons={sorted(reasons)}")
