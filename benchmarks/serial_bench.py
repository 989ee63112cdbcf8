"""SmartEVSE v4 serial backend latencies, measured against the CH32 emulator on a real pty.

    python -m benchmarks.serial_bench [--commands 500] [--faults 50] [--losses 8]

Rows:
* HAL command -> bytes written: ``SetPilot(PWM)`` call until the ``@SetCurrent`` line is handed
  to the port (write), and until the emulator has it (over the pty, paced at 500 kbit/s).
* fault line -> safe state: the emulator puts ``@ErrorFlags:16`` (RCM trip) on the wire; time until
  ``@setStatePowerUnavailable`` is written by the board / received by the emulator.
* link loss -> safe state: the emulator goes silent; time from the watchdog deadline (last byte
  received + watchdog_s) until the safe-state line is written / received.
Wall-clock time (the loop's monotonic clock) throughout; results in benchmarks/results/serial_bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
from pathlib import Path

from backends.smartevse import create_backend
from backends.smartevse.emulator import Ch32Emulator
from chargepoint.clock import RealClock
from hal.types import PilotMode

RESULTS = Path(__file__).parent / "results" / "serial_bench.json"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "max_ms": max(ms) if ms else float("nan"),
            "mean_ms": statistics.fmean(ms) if ms else float("nan")}


async def run(commands: int, faults: int, losses: int, watchdog_s: float) -> dict[str, dict[str, float]]:
    clock = RealClock()
    emu = Ch32Emulator(clock)
    path = await emu.start()
    board = create_backend(clock, {"port": path, "watchdog_s": watchdog_s, "rcmon": True})
    writes: list[tuple[float, bytes]] = []
    drain = asyncio.create_task(_drain(board))
    await board.start()
    board.link.write_hook = lambda line: writes.append((clock.monotonic(), line))
    results: dict[str, list[float]] = {k: [] for k in (
        "command_to_write", "command_to_emulator", "fault_to_write", "fault_to_emulator",
        "loss_to_write", "loss_to_emulator")}
    try:
        # 1. HAL command -> bytes
        pilot = board.connector(1).pilot
        for i in range(commands):
            amps = 6.0 + (i % 20)
            line = f"@SetCurrent:{round(amps * 10)}".encode()
            writes.clear()
            t0 = clock.monotonic()
            await pilot.set_pilot(PilotMode.PWM, 0, amps)
            rec = await emu.wait_received(line[1:].decode(), since=t0, within_s=1.0)
            results["command_to_write"].append(writes[0][0] - t0)
            results["command_to_emulator"].append(rec.t - t0)
        # 2. fault line on the wire -> safe state
        for _ in range(faults):
            writes.clear()
            emu.inject("garbage", data=b"@ErrorFlags:16\n")
            rec = await emu.wait_received("setStatePowerUnavailable", since=clock.monotonic(), within_s=1.0)
            sent = [r.t for r in emu.sent if r.line == b"@ErrorFlags:16\n"][-1]
            results["fault_to_write"].append(writes[0][0] - sent)
            results["fault_to_emulator"].append(rec.t - sent)
            emu.inject("garbage", data=b"@ErrorFlags:0\n")
            await clock.sleep(0.01)
        # 3. link loss -> safe state
        for _ in range(losses):
            writes.clear()
            start = clock.monotonic()
            emu.inject("silent")
            rec = await emu.wait_received("setStatePowerUnavailable", since=start, within_s=watchdog_s + 2.0)
            deadline = max(r.t for r in emu.sent if r.t <= start) + watchdog_s
            written = next(t for t, line in writes if line.startswith(b"@setStatePowerUnavailable"))
            results["loss_to_write"].append(written - deadline)
            results["loss_to_emulator"].append(rec.t - deadline)
            emu.inject("talk")
            if not await board.link.wait_up(5.0):
                raise RuntimeError("the link did not come back after the silence")
    finally:
        drain.cancel()
        await board.close()
        await emu.stop()
    return {k: summary(v) for k, v in results.items()}


async def _drain(board) -> None:  # type: ignore[no-untyped-def]
    async for _ in board.events():
        pass


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.serial_bench")
    ap.add_argument("--commands", type=int, default=500)
    ap.add_argument("--faults", type=int, default=50)
    ap.add_argument("--losses", type=int, default=8)
    ap.add_argument("--watchdog", type=float, default=1.5, help="link watchdog for the loss runs (s)")
    args = ap.parse_args(argv)
    logging.getLogger("backends.smartevse").setLevel(logging.CRITICAL)  # the loss runs log on purpose
    stats = asyncio.run(run(args.commands, args.faults, args.losses, args.watchdog))
    print(f"{'measurement':<28}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, s in stats.items():
        print(f"{name:<28}{s['n']:>6}{s['p50_ms']:>10.3f}{s['p99_ms']:>10.3f}{s['max_ms']:>10.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "serial_bench",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "baudrate": 500_000,
        "watchdog_s": args.watchdog,
        "results": stats,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
