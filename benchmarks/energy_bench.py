"""Energy-manager benchmark: cost of one step() and of a simulated day.

Run: /work/venv/bin/python benchmarks/energy_bench.py
Prints a table and writes benchmarks/results/energy.json.  Wall-clock measurement is the point of
this script, so it reads time.perf_counter() directly (benchmarks are exempt from the clock rule).
"""

from __future__ import annotations

import json
import pathlib
import statistics
import time

from backends.sim.house_model import BaseLoadProfile, HomeBattery, House, PvArray
from chargepoint.energy import EnableC2, EnergyManager, EnergySettings, EvStatus, Mode

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "energy.json"


def bench_steps(mode: Mode, connectors: int, steps: int = 20000) -> dict[str, float]:
    s = EnergySettings(mode=mode, max_mains_a=40, max_circuit_a=64, max_current_a=32, enable_c2=EnableC2.AUTO)
    em = EnergyManager(s, now=0.0)
    statuses = [EvStatus(n, connected=True, charging=True, phases=3, offered_a=10.0, cap_a=32.0)
                for n in range(1, connectors + 1)]
    samples = []
    for k in range(steps):
        now = 2.0 * k
        em.feed_mains(now, 10.0 + (k % 7), 8.0, 6.0 - (k % 5))
        t0 = time.perf_counter()
        em.step(now, statuses)
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return {"mean_us": statistics.fmean(samples) * 1e6, "p99_us": samples[int(0.99 * len(samples))] * 1e6}


def bench_day() -> dict[str, float]:
    """A simulated 24 h (43 200 cycles) of Solar charging with a cloudy house and battery."""
    s = EnergySettings(mode=Mode.SOLAR, max_mains_a=25, max_current_a=16, enable_c2=EnableC2.AUTO)
    house = House(base=BaseLoadProfile(), pv=PvArray(peak_w=9000, clouds=0.6, seed=3),
                  battery=HomeBattery(), start_hour=0.0)
    em = EnergyManager(s, now=0.0)
    charging, was, offered = False, False, 0.0
    t0 = time.perf_counter()
    for k in range(43200):
        now = 2.0 * k
        draw = offered if charging and was else 0.0
        r = house.reading(now, (draw, draw, draw))
        em.feed_mains(now, *r.mains_a)
        em.feed_battery(now, r.battery_a)
        lim = em.step(now, [EvStatus(1, True, charging, 3, offered, draw, 16.0)]).connectors[1].limit() or 0.0
        was, charging, offered = charging, lim >= 6.0, (min(lim, 16.0) if lim >= 6.0 else 0.0)
    wall = time.perf_counter() - t0
    return {"cycles": 43200, "wall_s": wall, "speedup_vs_real_time": 86400 / wall}


def main() -> None:
    rows = {}
    for mode in (Mode.SMART, Mode.SOLAR):
        for n in (1, 2, 4):
            rows[f"step_{mode.value}_{n}conn"] = bench_steps(mode, n)
    day = bench_day()
    print(f"{'case':<24}{'mean us':>10}{'p99 us':>10}")
    for name, r in rows.items():
        print(f"{name:<24}{r['mean_us']:>10.1f}{r['p99_us']:>10.1f}")
    print(f"simulated day (house + manager, 43200 cycles): {day['wall_s']:.2f} s wall, "
          f"{day['speedup_vs_real_time']:.0f}x real time")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"steps": rows, "day": day}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
