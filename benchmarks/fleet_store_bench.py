"""Fleet persistence, side by side in one run: per-CP SQLite files (``--store per-cp``: each member its
own ``ocpp.sqlite3``, a commit + fsync per write, on the event loop) vs the shared fleet store
(``--store shared``: one database, group commits, the fsync in a worker thread).
Run: python -m benchmarks.fleet_store_bench [--members M] [--rounds R] [--boot N] [--quick]

Each case runs in its own process (clean RSS, fds and CPU), on the production classes:

* ``messages``: M members in one event loop, each R times: queue a MeterValues in its outbox
  (``enqueue_transaction_message``), the outbox pump "sends" it (the fleet's websocket wait for the
  member's group commit; an answer at once) and deletes it -- the outbox's whole life of a message.
  Wall and CPU per message, and the event loop's worst stall (a 1 ms ticker's largest lateness):
  what every other member on the loop waits while SQLite blocks it.  The per-CP case is exactly
  the single ``chargepoint run``'s store and outbox; the same case on ``/work/main``'s code (when it
  exists) is the baseline that shows the single charge point's cost unchanged.
* ``boot``: the real ``Fleet`` of N members (default 2,000) against the built-in CSMS (its own
  process): at ramp 100/s and as fast as possible (ramp 0), on fresh state and again on the state
  of that run (a restart: every store reopened and recovered).  All started / all booted times, boot
  rate, RSS, fds, the loop's worst stall and the shared store's batch statistics.

Prints a table and writes benchmarks/results/fleet_store_bench.json.  The machine is shared (2 cores,
other sessions): the load average is recorded; compare the rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAIN = Path("/work/main")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


class LoopLag:
    """The event loop's worst stall: a ticker every 1 ms, its largest lateness."""

    def __init__(self) -> None:
        self.max_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            self.max_s = max(self.max_s, time.perf_counter() - t0 - 0.001)

    def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
        return self.max_s


# -- case: messages ---------------------------------------------------------------------------------
async def _messages(store: str, data: Path, members: int, rounds: int) -> dict[str, Any]:
    from chargepoint.clock import RealClock
    from chargepoint.ocpp.config_keys import ConfigKeys
    from chargepoint.ocpp.outbox import Outbox
    from chargepoint.ocpp.store import Store

    clock = RealClock()
    fleet = None
    if store == "shared":
        from chargepoint.fleet.store import FleetStore

        fleet = FleetStore(clock, data / "fleet.sqlite3")
        await fleet.start()
    r0, t_open = _rss_mb(), time.perf_counter()
    stores = [fleet.open(f"CP-{i:05d}") if fleet is not None else Store.connect(data / f"CP-{i:05d}")
              for i in range(members)]
    open_s = time.perf_counter() - t_open
    payload = {"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": "2026-01-05T08:00:00Z",
               "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register"}]}]}

    outboxes = []
    for s in stores:
        outbox = Outbox(clock, s.db, ConfigKeys(s.db))
        outbox.set_mode("accepted")
        outboxes.append(outbox)
    if fleet is not None:
        await fleet.flush()

    async def member(outbox: Outbox) -> None:
        delivered = asyncio.Event()
        view = outbox.db if fleet is not None else None

        async def send(action: str, body: dict[str, Any], unique_id: str) -> dict[str, Any]:
            if view is not None and view.pending:  # what the member's websocket does (DurableConnection)
                await view.durable()
            if action == "MeterValues":
                delivered.set()
            return {}

        pump = asyncio.create_task(outbox.run(send))
        for _ in range(rounds):
            delivered.clear()
            await outbox.enqueue_transaction_message("MeterValues", payload)
            await delivered.wait()  # the pump deleted the row before this member runs again
        assert outbox.pending_transaction_messages() == 0
        pump.cancel()

    lag = LoopLag()
    lag.start()
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(member(o) for o in outboxes))
    if fleet is not None:
        await fleet.flush()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    msgs = members * rounds
    out: dict[str, Any] = {
        "members": members, "rounds": rounds, "open_s": round(open_s, 3),
        "wall_us_per_msg": round(1e6 * wall / msgs, 1), "cpu_us_per_msg": round(1e6 * cpu / msgs, 1),
        "loop_stall_max_ms": round(1e3 * lag.stop(), 2), "rss_growth_mb": round(_rss_mb() - r0, 1),
        "fds": len(os.listdir("/proc/self/fd")),
    }
    if fleet is not None:
        out["batches"] = fleet.stats.as_dict()
        await fleet.close()
    else:
        for s in stores:
            s.close()
    return out


# -- case: boot -------------------------------------------------------------------------------------
async def _boot(store: str, data: Path, count: int, ramp: float, url: str) -> dict[str, Any]:
    from chargepoint.clock import RealClock
    from chargepoint.fleet.fleet import Fleet
    from chargepoint.fleet.template import template_from_dict

    clock = RealClock()
    template = template_from_dict({"fleet": {"count": count, "csms_url": url, "ramp": f"{ramp:g}/s"},
                                   "chargepoint": {"config": {"HeartbeatInterval": 3600}}})
    fleet = Fleet(clock, template, data, store=store)
    lag = LoopLag()
    lag.start()
    r0, t0, c0 = _rss_mb(), time.perf_counter(), time.process_time()
    await fleet.start(wait=True)
    started_s = time.perf_counter() - t0
    booted_s = None
    deadline = t0 + 120 + 3 * count / max(ramp, 10)
    while time.perf_counter() < deadline:
        if fleet.summary()["booted"] >= count:
            booted_s = time.perf_counter() - t0
            break
        await asyncio.sleep(0.05)
    cpu = time.process_time() - c0
    out: dict[str, Any] = {
        "count": count, "ramp_per_s": ramp, "all_started_s": round(started_s, 2),
        "all_booted_s": round(booted_s, 2) if booted_s is not None else None,
        "boot_rate_per_s": round(count / booted_s, 1) if booted_s else None,
        "start_rate_per_s": round(count / started_s, 1) if started_s else None,
        "cpu_s": round(cpu, 1), "loop_stall_max_ms": round(1e3 * lag.stop(), 1),
        "rss_mb": round(_rss_mb(), 1), "rss_growth_mb": round(_rss_mb() - r0, 1),
        "fds": len(os.listdir("/proc/self/fd")),
    }
    if fleet.store is not None:
        out["batches"] = fleet.store.stats.as_dict()
    await fleet.stop()
    return out


def _case(args: argparse.Namespace) -> None:
    if args.code:
        sys.path.insert(0, args.code)
    data = Path(args.data)
    if args.case == "messages":
        res = asyncio.run(_messages(args.store, data, args.members, args.rounds))
    else:
        res = asyncio.run(_boot(args.store, data, args.boot, args.ramp, args.url))
        res["files"] = sum(1 for _ in data.rglob("*.sqlite3"))
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(res), flush=True)


def _run_case(extra: list[str], code: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.fleet_store_bench", *extra] + (["--code", code] if code else [])
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(extra)} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=500, help="members of the message case")
    ap.add_argument("--rounds", type=int, default=4, help="messages per member")
    ap.add_argument("--boot", type=int, default=2000, help="members of the boot case")
    ap.add_argument("--ramp", type=float, default=100.0, help="the ramp of the boot case (and 0: at once)")
    ap.add_argument("--quick", action="store_true", help="200 members, 400 to boot")
    ap.add_argument("--dir", default=None, help="where the files go (default: a temp dir on disk)")
    ap.add_argument("--case", choices=("messages", "boot"), help=argparse.SUPPRESS)
    ap.add_argument("--store", default="shared", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--code", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        _case(args)
        return
    if args.quick:
        args.members, args.boot = 200, 400
    tmp = Path(tempfile.mkdtemp(prefix="fleet-store-bench-", dir=args.dir))
    res: dict[str, Any] = {"loadavg_before": os.getloadavg(), "cpus": os.cpu_count(), "messages": {}, "boot": {}}
    msg = ["--case", "messages", "--members", str(args.members), "--rounds", str(args.rounds)]
    try:
        main_code = str(MAIN) if (MAIN / "chargepoint").is_dir() else None
        # the single charge point's layout on this branch and on main, twice each, alternating (load drifts)
        cases = [("per-cp (main) 1", "per-cp", main_code), ("per-cp 1", "per-cp", None), ("shared", "shared", None),
                 ("per-cp (main) 2", "per-cp", main_code), ("per-cp 2", "per-cp", None)]
        for name, store, code in cases:
            if "(main)" in name and code is None:
                continue
            d = tmp / f"msg-{name.replace(' ', '_')}"
            d.mkdir()
            res["messages"][name] = _run_case([*msg, "--store", store, "--data", str(d)], code)
            shutil.rmtree(d, ignore_errors=True)
        port = _free_port()
        url = f"ws://127.0.0.1:{port}/ocpp"
        csms = subprocess.Popen([sys.executable, "-m", "chargepoint", "csms", "--port", str(port), "--http-port", "0",
                                 "--heartbeat", "3600", "--log-file", "", "--quiet"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2.0)
            for store in ("per-cp", "shared"):
                for ramp in (args.ramp, 0.0):
                    d = tmp / f"boot-{store}-{ramp:g}"
                    for run in ("fresh", "restart"):
                        key = f"{store} ramp {ramp:g}/s {run}"
                        res["boot"][key] = _run_case(["--case", "boot", "--store", store, "--data", str(d),
                                                      "--boot", str(args.boot), "--ramp", str(ramp), "--url", url])
                        print(f"  {key}: {res['boot'][key]['all_booted_s']} s", flush=True)
                    shutil.rmtree(d, ignore_errors=True)
        finally:
            csms.terminate()
            csms.wait(60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["loadavg_after"] = os.getloadavg()
    _print(res)
    out = ROOT / "benchmarks" / "results" / "fleet_store_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwritten {out}")


def _print(res: dict[str, Any]) -> None:
    print("\nper message (outbox: queue, send, delete), members concurrently on one loop")
    print(f"{'layout':<17} | members | wall us/msg | cpu us/msg | loop stall max ms | open s | RSS +MB | fds")
    for name, r in res["messages"].items():
        print(f"{name:<17} | {r['members']:7d} | {r['wall_us_per_msg']:11.1f} | {r['cpu_us_per_msg']:10.1f} | "
              f"{r['loop_stall_max_ms']:17.2f} | {r['open_s']:6.2f} | {r['rss_growth_mb']:7.1f} | {r['fds']}")
        if "batches" in r:
            b = r["batches"]
            print(f"{'':<17}   {b['batches']} batches, {b['blocks_per_batch']:.1f} writes/batch, COMMIT on the loop "
                  f"mean {b['loop_commit_ms_mean']:.3f} / max {b['loop_commit_ms_max']:.2f} ms, fsync (thread) "
                  f"mean {b['fsync_ms_mean']:.2f} / max {b['fsync_ms_max']:.2f} ms")
    print("\nboot of the fleet (real members against the built-in CSMS)")
    print(f"{'case':<30} | started s | booted s | boot/s | loop stall max ms | RSS MB | fds | files")
    for name, r in res["boot"].items():
        print(f"{name:<30} | {r['all_started_s']:9.1f} | {r['all_booted_s'] or float('nan'):8.1f} | "
              f"{r['boot_rate_per_s'] or float('nan'):6.1f} | {r['loop_stall_max_ms']:17.1f} | {r['rss_mb']:6.1f} | "
              f"{r['fds']:5d} | {r['files']}")
    print(f"\nload average before {res['loadavg_before']}, after {res['loadavg_after']}")


if __name__ == "__main__":
    main()
