"""Fleet persistence: per-CP SQLite stores (what the fleet uses) vs one shared database with a cp_id
column and batched commits.  Run: python -m benchmarks.fleet_store_bench [--count N] [--rounds R]

Workload per round and charge point: the outbox's life of one MeterValues -- insert + commit
(synchronous=FULL) then delete + commit after the CALLRESULT.  Per-CP: one connection and file per
CP, a commit per step (today's outbox).  Shared: one connection, rows keyed by cp_id, one commit per
round for all CPs (group commit: a message is acknowledged to its CP only after the batch's commit).
Reports open time, per-message wall and CPU time, RSS and file descriptors.  JSON in results/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

PAYLOAD = json.dumps({"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": "2026-01-05T08:00:00Z",
                      "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register"}]}]})
SCHEMA = ("CREATE TABLE IF NOT EXISTS tx_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, {cp}action TEXT NOT NULL,"
          " payload TEXT NOT NULL, local_tx INTEGER, attempts INTEGER NOT NULL DEFAULT 0, unique_id TEXT)")


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def per_cp(base: Path, n: int, rounds: int) -> dict[str, float]:
    r0, t0, c0 = _rss(), time.perf_counter(), time.process_time()
    dbs = []
    for i in range(n):
        (base / f"cp{i}").mkdir()
        db = _open(base / f"cp{i}" / "ocpp.sqlite3")
        with db:
            db.execute(SCHEMA.format(cp=""))
        dbs.append(db)
    open_s = time.perf_counter() - t0
    fds = len(os.listdir("/proc/self/fd"))
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for db in dbs:
            with db:
                row = db.execute("INSERT INTO tx_outbox(action, payload) VALUES ('MeterValues', ?)", (PAYLOAD,)).lastrowid
            with db:
                db.execute("DELETE FROM tx_outbox WHERE id=?", (row,))
    msgs = n * rounds
    out = {"open_s": open_s, "wall_us_per_msg": 1e6 * (time.perf_counter() - t1) / msgs,
           "cpu_us_per_msg": 1e6 * (time.process_time() - c1) / msgs, "rss_growth_mb": _rss() - r0, "fds": fds,
           "cpu_open_s": c1 - c0}
    for db in dbs:
        db.close()
    return out


def shared(base: Path, n: int, rounds: int) -> dict[str, float]:
    r0, t0, c0 = _rss(), time.perf_counter(), time.process_time()
    db = _open(base / "fleet.sqlite3")
    with db:
        db.execute(SCHEMA.format(cp="cp_id TEXT NOT NULL, "))
        db.execute("CREATE INDEX IF NOT EXISTS tx_cp ON tx_outbox(cp_id, id)")
    open_s = time.perf_counter() - t0
    fds = len(os.listdir("/proc/self/fd"))
    t1, c1 = time.perf_counter(), time.process_time()
    ids = [f"CP-{i:05d}" for i in range(n)]
    for _ in range(rounds):
        with db:  # one batch: every CP's insert
            rows = [db.execute("INSERT INTO tx_outbox(cp_id, action, payload) VALUES (?, 'MeterValues', ?)",
                               (cp, PAYLOAD)).lastrowid for cp in ids]
        with db:  # one batch: every CP's delete after its answer
            db.executemany("DELETE FROM tx_outbox WHERE id=?", [(r,) for r in rows])
    msgs = n * rounds
    out = {"open_s": open_s, "wall_us_per_msg": 1e6 * (time.perf_counter() - t1) / msgs,
           "cpu_us_per_msg": 1e6 * (time.process_time() - c1) / msgs, "rss_growth_mb": _rss() - r0, "fds": fds,
           "cpu_open_s": c1 - c0}
    db.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the files go (default: a temp dir on disk)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        a.mkdir()
        b.mkdir()
        res = {"count": args.count, "rounds": args.rounds, "per_cp_files": per_cp(a, args.count, args.rounds),
               "shared_db_batched": shared(b, args.count, args.rounds), "loadavg": os.getloadavg()}
    print(f"{'layout':<22} | open s | wall us/msg | cpu us/msg | RSS +MB | fds")
    for k in ("per_cp_files", "shared_db_batched"):
        r = res[k]
        print(f"{k:<22} | {r['open_s']:6.2f} | {r['wall_us_per_msg']:11.0f} | {r['cpu_us_per_msg']:10.0f} | "
              f"{r['rss_growth_mb']:7.1f} | {r['fds']}")
    out = Path(__file__).resolve().parent / "results" / "fleet_store_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
