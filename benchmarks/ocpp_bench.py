"""OCPP client benchmark.  Run: /work/venv/bin/python benchmarks/ocpp_bench.py [--quick]

* round trip per CALL (Heartbeat) through our client (outbox -> session -> websocket) compared with a
  bare ``ocpp`` library client against the same test CSMS in the same run (goal <= 1.5x);
* outbox drain rate after 10,000 queued transaction messages (goal >= 500/s);
* idle RSS of a charge-point process (sim backend + OcppClient) after registration;
* start-to-BootNotification: process spawn until the CSMS sees the BootNotification.

Prints a table and writes benchmarks/results/ocpp_bench.json.  Wall time is measured here on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocpp.v16 import ChargePoint as LibChargePoint  # noqa: E402
from ocpp.v16 import call  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from backends.sim import create_backend  # noqa: E402
from chargepoint.clock import RealClock  # noqa: E402
from chargepoint.controller import Controller  # noqa: E402
from chargepoint.controller.types import ControllerSettings  # noqa: E402
from chargepoint.csms import IN, TestCsms  # noqa: E402
from chargepoint.ocpp.client import OcppClient  # noqa: E402
from chargepoint.ocpp.options import OcppOptions  # noqa: E402
from chargepoint.station import Station  # noqa: E402

CHILD = r"""
import asyncio, sys, time
sys.path.insert(0, {root!r})
from backends.sim import create_backend
from chargepoint.clock import RealClock
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings
from chargepoint.ocpp.client import OcppClient
from chargepoint.ocpp.options import OcppOptions
from chargepoint.station import Station

async def main():
    clock = RealClock()
    board = create_backend(clock, {{"connectors": 1}})
    station = Station(clock, board, Controller(ControllerSettings(connectors=1), board.capabilities))
    await station.start()
    client = OcppClient(clock, station, OcppOptions(csms_url={url!r}, cp_id="BENCH-RSS"), {data!r})
    task = asyncio.create_task(client.run())
    while client.ctx is None or client.ctx.registration != "Accepted":
        await clock.sleep(0.01)
    await clock.sleep(2.0)
    rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
    print("RSS_KB", rss, flush=True)
    task.cancel()

asyncio.run(main())
"""


async def build_cp(clock: RealClock, url: str, data_dir: str, cp_id: str) -> tuple[OcppClient, Station, asyncio.Task]:
    board = create_backend(clock, {"connectors": 1})
    station = Station(clock, board, Controller(ControllerSettings(connectors=1), board.capabilities))
    await station.start()
    client = OcppClient(clock, station, OcppOptions(csms_url=url, cp_id=cp_id, config={"HeartbeatInterval": "86400"}),
                        data_dir)
    task = asyncio.create_task(client.run())
    return client, station, task


async def wait_accepted(client: OcppClient, clock: RealClock) -> None:
    while client.ctx is None or not client.ctx.outbox.online:
        await clock.sleep(0.01)
    await clock.sleep(0.3)  # let the boot StatusNotifications go


async def bench_round_trip(clock: RealClock, csms: TestCsms, n: int) -> dict[str, float]:
    # ours
    data = tempfile.mkdtemp()
    client, station, task = await build_cp(clock, csms.url, data, "BENCH-OURS")
    await wait_accepted(client, clock)
    ours = []
    for _ in range(n):
        t0 = time.perf_counter()
        await client.ctx.outbox.request("Heartbeat", {})
        ours.append(time.perf_counter() - t0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await station.stop()
    # the bare library client
    ws = await connect(csms.url + "/BENCH-LIB", subprotocols=["ocpp1.6"], proxy=None)
    lib = LibChargePoint("BENCH-LIB", ws)
    recv = asyncio.create_task(lib.start())
    await lib.call(call.BootNotification(charge_point_model="m", charge_point_vendor="v"))
    bare = []
    for _ in range(n):
        t0 = time.perf_counter()
        await lib.call(call.Heartbeat())
        bare.append(time.perf_counter() - t0)
    recv.cancel()
    await ws.close()
    o, b = statistics.median(ours), statistics.median(bare)
    return {"ours_median_ms": o * 1e3, "ours_p95_ms": sorted(ours)[int(0.95 * n)] * 1e3,
            "bare_median_ms": b * 1e3, "bare_p95_ms": sorted(bare)[int(0.95 * n)] * 1e3, "ratio": o / b}


async def bench_drain(clock: RealClock, csms: TestCsms, n: int) -> dict[str, float]:
    data = tempfile.mkdtemp()
    from chargepoint.ocpp.config_keys import ConfigKeys, default_definitions
    from chargepoint.ocpp.outbox import Outbox
    from chargepoint.ocpp.store import Store

    store = Store.connect(data)
    keys = ConfigKeys(store.db, default_definitions(1))
    outbox = Outbox(clock, store.db, keys)
    payload = {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-05T08:00:00.000Z", "sampledValue": [
        {"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}
    t0 = time.perf_counter()
    with store.db:
        for _ in range(n):
            outbox.insert_transaction_message(store.db, "MeterValues", payload)
    enqueue_s = time.perf_counter() - t0
    store.close()
    client, station, task = await build_cp(clock, csms.url, data, "BENCH-DRAIN")
    await wait_accepted(client, clock)
    t0 = time.perf_counter()
    while client.ctx.outbox.pending_transaction_messages():
        await clock.sleep(0.05)
    drain_s = time.perf_counter() - t0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await station.stop()
    received = sum(1 for f in csms.frames if f.direction == IN and f.cp_id == "BENCH-DRAIN" and f.action == "MeterValues"
                   and f.message_type == "CALL")
    return {"messages": n, "received": received, "enqueue_per_s": n / enqueue_s, "drain_s": drain_s,
            "drain_per_s": n / drain_s}


async def bench_process(csms: TestCsms, clock: RealClock) -> dict[str, float]:
    data = tempfile.mkdtemp()
    code = CHILD.format(root=str(ROOT), url=csms.url, data=data)
    start = len(csms.frames)
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    boot_s = None
    while boot_s is None:
        if any(f.action == "BootNotification" and f.cp_id == "BENCH-RSS" for f in csms.frames[start:]):
            boot_s = time.perf_counter() - t0
        await clock.sleep(0.005)
    out, _ = await proc.communicate()
    rss_kb = int(out.decode().split("RSS_KB")[1].split()[0])
    return {"start_to_boot_s": boot_s, "idle_rss_mb": rss_kb / 1024}


async def main(quick: bool) -> dict:
    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    await csms.start()
    try:
        rt = await bench_round_trip(clock, csms, 200 if quick else 1000)
        drain = await bench_drain(clock, csms, 2000 if quick else 10_000)
        proc = await bench_process(csms, clock)
    finally:
        await csms.stop()
    return {"round_trip": rt, "outbox_drain": drain, "process": proc,
            "goals": {"ratio_max": 1.5, "drain_per_s_min": 500},
            "python": sys.version.split()[0], "cpus": os.cpu_count()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)
    res = asyncio.run(main(args.quick))
    rt, dr, pr = res["round_trip"], res["outbox_drain"], res["process"]
    rows = [
        ("CALL round trip, ours (median / p95)", f"{rt['ours_median_ms']:.3f} / {rt['ours_p95_ms']:.3f} ms", ""),
        ("CALL round trip, bare ocpp lib (median / p95)", f"{rt['bare_median_ms']:.3f} / {rt['bare_p95_ms']:.3f} ms", ""),
        ("ratio ours / bare", f"{rt['ratio']:.2f}x", "<= 1.5x " + ("OK" if rt["ratio"] <= 1.5 else "MISSED")),
        (f"outbox drain ({dr['messages']} queued)", f"{dr['drain_per_s']:.0f} msg/s ({dr['drain_s']:.1f} s)",
         ">= 500/s " + ("OK" if dr["drain_per_s"] >= 500 else "MISSED")),
        ("messages received by the CSMS", f"{dr['received']}", ""),
        ("enqueue rate (one SQLite transaction)", f"{dr['enqueue_per_s']:.0f} msg/s", ""),
        ("idle RSS of a CP process", f"{pr['idle_rss_mb']:.1f} MB", ""),
        ("process start -> BootNotification", f"{pr['start_to_boot_s'] * 1000:.0f} ms", ""),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(w)} | {'value':<28} | goal")
    print("-" * (w + 45))
    for name, value, goal in rows:
        print(f"{name.ljust(w)} | {value:<28} | {goal}")
    out = ROOT / "benchmarks" / "results" / "ocpp_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwritten {out}")
