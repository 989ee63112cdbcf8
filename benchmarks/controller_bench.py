"""Controller benchmark.

1. Pure controller throughput: a recorded realistic input stream (plug/auth/charging with limit
   changes, phase switches, pauses, unplugs; meter readings every second) replayed into a fresh
   Controller -- inputs per second and mean/p99 cost of one ``handle()``.
2. Latency from a board event to the contactor-open command reaching the HAL, measured through the
   real async path SimBoard -> Station -> Controller -> SimBoard in real time, while a background
   task in the same event loop burns CPU (slices of ~2 ms between yields):
   * "EV leaves C": the EV goes 6 V -> 9 V;
   * "RCD trip": the residual-current monitor trips.

Run: /work/venv/bin/python -m benchmarks.controller_bench [--cycles N]
Prints a table and writes benchmarks/results/controller_bench.json.  Wall-clock measurement is the
point of this script, so it reads time.perf_counter() directly (benchmarks are exempt from the clock rule).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import platform
import statistics
import time
from typing import Any

from backends.sim import SimBoard, SimModel, SimOptions
from chargepoint.clock import RealClock
from chargepoint.controller import (
    Authorize,
    Controller,
    ControllerSettings,
    Fault,
    ResetFault,
    SetLimit,
    SetPhases,
)
from chargepoint.harness.sim_rig import SimRig
from chargepoint.station import Station
from hal.types import BoardCapabilities, HalCommand, SetContactors

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "controller_bench.json"


# --------------------------------------------------------------------------- 1. pure throughput
def record_inputs(hours: float = 2.0) -> tuple[list[tuple[Any, float]], BoardCapabilities]:
    """Run a busy 2-connector session through the sim rig and record every controller input."""
    opts = SimOptions(connectors=2, meter_interval_s=1.0, ev_soc=10.0, ev_capacity_kwh=100.0)
    model = SimModel(opts)
    ctrl = Controller(ControllerSettings(connectors=2, max_current_a=32.0), model.capabilities)
    recorded: list[tuple[Any, float]] = []
    rig = SimRig(ctrl, model, on_step=lambda inp, outs, now: recorded.append((inp, now)), check=False)
    rig.run_until(1.0)
    model.plug(1, 32.0, now=rig.now)
    model.plug(2, 20.0, now=rig.now)
    rig.feed(Authorize(0, True))
    k = 0
    while rig.now < hours * 3600.0:
        k += 1
        rig.run_for(30.0)
        rig.feed(SetLimit(0, "mains", float(6 + (k * 7) % 20)))
        if k % 20 == 0:
            rig.feed(SetLimit(1, "solar", 4.0))  # pause connector 1 through C1/B1
        if k % 20 == 3:
            rig.feed(SetLimit(1, "solar", None))
        if k % 40 == 10:
            rig.feed(SetPhases(2, 1 if (k // 40) % 2 == 0 else 3))
        if k % 60 == 30:
            model.unplug(2, now=rig.now)
        if k % 60 == 35:
            model.plug(2, 20.0, now=rig.now)
            rig.feed(Authorize(2, True))
    return recorded, model.capabilities


def bench_pure() -> dict[str, float]:
    recorded, caps = record_inputs()
    results: dict[str, float] = {"inputs": float(len(recorded))}
    best = None
    for _ in range(3):
        ctrl = Controller(ControllerSettings(connectors=2, max_current_a=32.0), caps)
        ctrl.start(0.0)
        handle = ctrl.handle
        samples: list[float] = []
        pc = time.perf_counter
        t_all = pc()
        for inp, now in recorded:
            t0 = pc()
            handle(inp, now)
            samples.append(pc() - t0)
        total = pc() - t_all
        if best is None or total < best[0]:
            best = (total, samples)
    assert best is not None
    total, samples = best
    samples.sort()
    results.update(
        inputs_per_s=len(recorded) / total,
        mean_us=statistics.fmean(samples) * 1e6,
        p99_us=samples[int(0.99 * len(samples))] * 1e6,
    )
    # with the invariant check after every input (what the property tests pay)
    ctrl = Controller(ControllerSettings(connectors=2, max_current_a=32.0), caps)
    ctrl.start(0.0)
    t0 = time.perf_counter()
    for inp, now in recorded:
        ctrl.handle(inp, now)
        ctrl.check_invariants()
    results["inputs_per_s_with_invariants"] = len(recorded) / (time.perf_counter() - t0)
    return results


# --------------------------------------------------------------------------- 2. async latency
async def _burn(clock: RealClock, stop: asyncio.Event, slice_s: float) -> int:
    """Busy CPU in the event loop: compute for ~slice_s, yield, repeat."""
    slices = 0
    while not stop.is_set():
        end = time.perf_counter() + slice_s
        x = 0
        while time.perf_counter() < end:
            x += sum(range(200))
        slices += 1
        await clock.sleep(0)
    return slices


async def _latency(cycles: int, burn_slice_s: float) -> dict[str, dict[str, float]]:
    clock = RealClock()
    opts = SimOptions(
        meter_interval_s=1.0,
        ev_request_delay_s=0.01,
        ev_stop_delay_s=0.0,
        ev_reaction_s=0.05,
        relay_delay_s=0.01,
        lock_pulse_s=0.02,
    )
    board = SimBoard(clock, opts)
    settings = ControllerSettings(
        max_current_a=16.0,
        b_to_c_debounce_s=0.02,
        charge_delay_after_b1_s=0.0,
        charge_delay_after_c1_s=0.0,
        lock_feedback_timeout_s=0.1,
    )
    ctrl = Controller(settings, board.capabilities)
    station = Station(clock, board, ctrl)
    opened: list[float] = []
    closed = asyncio.Event()

    def on_command(cmd: HalCommand, now: float) -> None:
        if isinstance(cmd, SetContactors):
            if cmd.c1:
                closed.set()
            else:
                opened.append(now)

    board.on_command = on_command
    await station.start()
    stop = asyncio.Event()
    burner = asyncio.create_task(_burn(clock, stop, burn_slice_s)) if burn_slice_s > 0 else None
    board.plug(1, 32.0)
    await station.submit(Authorize(1, True))

    async def wait_charging() -> None:
        closed.clear()
        while not ctrl.snapshot(1).contactor_c1:
            await clock.wait_for(closed.wait(), 5.0)
            closed.clear()

    async def wait_open(t0: float) -> float:
        while not opened or opened[-1] < t0:
            await clock.sleep(0.001)
        return opened[-1] - t0

    out: dict[str, list[float]] = {"ev_leaves_c": [], "rcd_trip": []}
    for _ in range(cycles):
        await wait_charging()
        await clock.sleep(0.01)
        t0 = clock.monotonic()
        board.set_ev(1, charging=False)  # EV 6 V -> 9 V now (ev_stop_delay_s = 0)
        out["ev_leaves_c"].append(await wait_open(t0))
        board.set_ev(1, charging=True)
    for _ in range(cycles):
        await wait_charging()
        await clock.sleep(0.01)
        t0 = clock.monotonic()
        board.inject_fault(1, "rcd", True)
        out["rcd_trip"].append(await wait_open(t0))
        board.inject_fault(1, "rcd", False)
        await clock.sleep(0.005)
        await station.submit(ResetFault(1, Fault.RCD))
    stop.set()
    slices = await burner if burner is not None else 0
    await station.stop()
    res: dict[str, dict[str, float]] = {}
    for name, xs in out.items():
        xs.sort()
        res[name] = {
            "n": float(len(xs)),
            "p50_ms": xs[len(xs) // 2] * 1e3,
            "p99_ms": xs[min(len(xs) - 1, int(0.99 * len(xs)))] * 1e3,
            "max_ms": xs[-1] * 1e3,
        }
    res["burner"] = {"slice_ms": burn_slice_s * 1e3, "slices": float(slices)}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=200, help="latency samples per scenario")
    ap.add_argument("--burn-ms", type=float, default=2.0, help="CPU slice of the background burner")
    args = ap.parse_args()
    pure = bench_pure()
    lat = asyncio.run(_latency(args.cycles, args.burn_ms / 1000.0))
    idle = asyncio.run(_latency(max(20, args.cycles // 4), 0.0))
    print(f"{'metric':48s} {'value':>14s}")
    print("-" * 63)
    print(f"{'recorded inputs replayed':48s} {pure['inputs']:14.0f}")
    print(f"{'controller inputs/s (pure handle)':48s} {pure['inputs_per_s']:14.0f}")
    print(f"{'controller inputs/s (+ check_invariants)':48s} {pure['inputs_per_s_with_invariants']:14.0f}")
    print(f"{'handle() mean / p99 (us)':48s} {pure['mean_us']:6.1f} / {pure['p99_us']:6.1f}")
    for name, label in (("ev_leaves_c", "EV leaves C (9 V) -> contactors open"),
                        ("rcd_trip", "RCD trip -> contactors open")):
        r = lat[name]
        print(f"{label + ' p50 / p99 (ms)':48s} {r['p50_ms']:6.2f} / {r['p99_ms']:6.2f}  (n={r['n']:.0f}, "
              f"max {r['max_ms']:.2f})")
        r = idle[name]
        print(f"{'  same, idle loop (no burner)':48s} {r['p50_ms']:6.2f} / {r['p99_ms']:6.2f}  (n={r['n']:.0f})")
    print(f"background burner: {lat['burner']['slice_ms']:.1f} ms slices, {lat['burner']['slices']:.0f} slices;"
          " path: SimBoard -> Station (chargepoint/station.py) -> Controller -> SimBoard, RealClock")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "pure": pure,
        "latency": lat,
        "latency_idle": idle,
        "path": "SimBoard -> Station -> Controller -> SimBoard (RealClock, asyncio)",
        "python": platform.python_version(),
        "machine": platform.machine(),
    }, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
