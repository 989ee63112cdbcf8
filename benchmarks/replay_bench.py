"""Replay benchmark: a 24 h scenario with MeterValues every 10 s, replayed against the real stack
(test CSMS, loopback websocket, OCPP client, station, controller, sim board) in virtual time.

Goal: <= 90 s wall time, >= 1000x real time.  Also replays the whole scenario library once.

Run: /work/venv/bin/python benchmarks/replay_bench.py
Prints a table and writes benchmarks/results/replay_bench.json.  Wall time is measured with
time.perf_counter() (benchmarks are exempt from the clock rule).
"""

from __future__ import annotations

import json
import logging
import pathlib
import time

import structlog

from scenarios.runner import replay
from scenarios.schema import load_scenario, parse_scenario

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "replay_bench.json"
GOAL_WALL_S = 90.0
GOAL_SPEEDUP = 1000.0

DAY = """name: 24 h, MeterValues every 10 s
tags: [benchmark]
duration: 86400
start: "2026-01-05T00:00:00Z"
chargepoint:
  max_current: 16
  config:
    MeterValueSampleInterval: 10
    MeterValuesSampledData: [Energy.Active.Import.Register, Power.Active.Import, Current.Import]
    ClockAlignedDataInterval: 900
  sim: {ev_capacity_kwh: 400, ev_soc: 5}
csms:
  heartbeat_interval: 300
  whitelist: [CARD1]
steps:
  - at: 60
    call:
      action: SetChargingProfile
      payload:
        connectorId: 0
        csChargingProfiles:
          chargingProfileId: 1
          stackLevel: 0
          chargingProfilePurpose: TxDefaultProfile
          chargingProfileKind: Recurring
          recurrencyKind: Daily
          chargingSchedule:
            startSchedule: "2026-01-01T00:00:00Z"
            chargingRateUnit: A
            chargingSchedulePeriod: [{startPeriod: 0, limit: 16}, {startPeriod: 61200, limit: 8}, {startPeriod: 75600, limit: 16}]
      expect: Accepted
  - {at: 100, plug: 1}
  - {at: 110, rfid: CARD1}
  - {at: 86000, unplug: 1}
expect:
  - {message: StartTransaction, payload: {idTag: CARD1}, within: [110, 115]}
  - {message: MeterValues, payload: {transactionId: 1}, within: [115, 85990], min_count: 8500}
  - {state: C2, at: 64800, offered: 8, binding_limit: ocpp}
  - {state: C2, at: 79200, offered: 16}
  - {message: StopTransaction, payload: {reason: EVDisconnected}, within: [86000, 86002]}
"""


def quiet() -> None:
    logging.getLogger().setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def bench_day() -> dict[str, object]:
    scn = parse_scenario(DAY, "benchmark-day.yaml")
    began = time.perf_counter()
    run = replay(scn)
    wall = time.perf_counter() - began
    meter_values = sum(1 for f in run.frames if f.action == "MeterValues" and f.message_type == "CALL")
    failed = [f"{r.summary}: expected {r.expected}; actual {r.actual}" for r in run.results if not r.passed]
    return {
        "scenario": scn.name,
        "virtual_s": run.virtual_s,
        "wall_s": round(wall, 3),
        "speedup": round(run.virtual_s / wall, 1),
        "frames": len(run.frames),
        "meter_values": meter_values,
        "passed": run.passed,
        "failed": failed + ([run.error] if run.error else []),
        "goal_wall_s": GOAL_WALL_S,
        "goal_speedup": GOAL_SPEEDUP,
        "meets_goal": wall <= GOAL_WALL_S and run.virtual_s / wall >= GOAL_SPEEDUP,
    }


def bench_library() -> dict[str, object]:
    files = sorted((ROOT / "scenarios" / "library").glob("*.yaml"))
    virtual = wall = 0.0
    passed = 0
    slowest = ("", 0.0)
    for path in files:
        began = time.perf_counter()
        run = replay(load_scenario(path))
        took = time.perf_counter() - began
        virtual += run.virtual_s
        wall += took
        passed += run.passed
        if took > slowest[1]:
            slowest = (path.name, took)
    return {"scenarios": len(files), "passed": passed, "virtual_s": virtual, "wall_s": round(wall, 3),
            "speedup": round(virtual / wall, 1), "slowest": slowest[0], "slowest_wall_s": round(slowest[1], 3)}


def main() -> int:
    quiet()
    day = bench_day()
    lib = bench_library()
    rows = [
        ("24 h day, MeterValues 10 s", f"{day['virtual_s']:.0f}", f"{day['wall_s']:.2f}", f"{day['speedup']:,.0f}x",
         f"{day['frames']} frames, {day['meter_values']} MeterValues", "yes" if day["passed"] else "NO"),
        (f"library ({lib['scenarios']} scenarios)", f"{lib['virtual_s']:.0f}", f"{lib['wall_s']:.2f}",
         f"{lib['speedup']:,.0f}x", f"slowest {lib['slowest']} {lib['slowest_wall_s']:.2f} s",
         f"{lib['passed']}/{lib['scenarios']}"),
    ]
    header = ("replay", "virtual s", "wall s", "speed-up", "detail", "passed")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"goal: 24 h in <= {GOAL_WALL_S:g} s wall and >= {GOAL_SPEEDUP:g}x real time -> "
          f"{'met' if day['meets_goal'] else 'NOT met'}")
    for line in day["failed"]:  # type: ignore[union-attr]
        print(f"  failed expectation: {line}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"day": day, "library": lib}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if day["meets_goal"] and day["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
