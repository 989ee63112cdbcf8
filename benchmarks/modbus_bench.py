"""Modbus meter benchmark: decode throughput per meter type and poll round trips over TCP and RTU.

Run:  /work/venv/bin/python benchmarks/modbus_bench.py
Prints a table and writes benchmarks/results/modbus.json.  Wall time is measured with
time.perf_counter (benchmarks are the one place that measures real time).

* decode: register image -> MeterValues, per meter type (decodes per second).
* poll: one complete ModbusMeter.poll_once() (every register block of the meter, then decode)
  against a simulated meter on a pymodbus server, over loopback TCP and over RTU on a pty pair
  (a pty has no baud-rate timing, so RTU figures are protocol + process overhead, not 9600 bit/s).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.modbus import METERS, ModbusMeter, RtuTransport, TcpTransport
from backends.modbus.meters import MeterValues, decode, encode
from backends.modbus.simulator import MeterServer, PtyPair, SimulatedMeter
from chargepoint.clock import RealClock

VALUES = MeterValues((230.1, 231.2, 229.3), (10.5, -3.25, 6.0), 3660.0, 123_456.0, 890.0)
DECODES = 20_000
POLLS = 300


def bench_decode() -> dict[str, float]:
    out: dict[str, float] = {}
    for key, defn in sorted(METERS.items()):
        values = VALUES if defn.phases == 3 else MeterValues((230.0, 0, 0), (10.0, 0, 0), 2300.0, 1.0, 0.0)
        image = encode(defn, values)
        t0 = time.perf_counter()
        for _ in range(DECODES):
            decode(defn, image)
        out[key] = DECODES / (time.perf_counter() - t0)
    return out


async def bench_poll(clock: RealClock, key: str, transport_kind: str) -> dict[str, float]:
    defn = METERS[key]
    sim = SimulatedMeter(defn, 12, values=VALUES)
    server = MeterServer(sim)
    pty: PtyPair | None = None
    if transport_kind == "tcp":
        port = await server.start_tcp()
        transport: TcpTransport | RtuTransport = TcpTransport("127.0.0.1", port)
    else:
        pty = PtyPair()
        pty.start()
        await server.start_rtu(pty.server_path)
        transport = RtuTransport(pty.client_path)
    meter = ModbusMeter(clock, defn, transport, 12, "ev", 1, timeout_s=1.0)
    assert await meter.link.ensure_connected()
    samples: list[float] = []
    try:
        for _ in range(POLLS):
            t0 = time.perf_counter()
            values = await meter.poll_once()
            samples.append(time.perf_counter() - t0)
            assert values is not None, meter.stats
    finally:
        await meter.close()
        await server.stop()
        if pty is not None:
            pty.close()
    samples.sort()
    return {
        "blocks_per_poll": len(defn.reads()),
        "polls_per_s": len(samples) / sum(samples),
        "p50_ms": statistics.median(samples) * 1000,
        "p95_ms": samples[int(len(samples) * 0.95)] * 1000,
    }


async def main(clock: RealClock) -> dict[str, object]:
    polls: dict[str, dict[str, float]] = {}
    for key in ("sdm630", "solaredge", "schneider_iem3x5x"):
        for kind in ("tcp", "rtu"):
            polls[f"{key}/{kind}"] = await bench_poll(clock, key, kind)
    return {"decode_per_s": bench_decode(), "poll": polls}


if __name__ == "__main__":
    clock = RealClock()
    results = clock.run(main(clock))
    print(f"{'meter':<22}{'decodes/s':>12}")
    for key, rate in results["decode_per_s"].items():  # type: ignore[union-attr]
        print(f"{key:<22}{rate:>12,.0f}")
    print()
    print(f"{'poll (meter/transport)':<30}{'blocks':>7}{'polls/s':>10}{'p50 ms':>9}{'p95 ms':>9}")
    for name, r in results["poll"].items():  # type: ignore[union-attr]
        print(f"{name:<30}{r['blocks_per_poll']:>7}{r['polls_per_s']:>10.0f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}")
    out = Path(__file__).resolve().parent / "results" / "modbus.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
