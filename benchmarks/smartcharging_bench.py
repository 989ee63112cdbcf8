"""Smart-charging engine benchmark: GetCompositeSchedule, limit() and next_change() costs.

Run:  /work/venv/bin/python -m benchmarks.smartcharging_bench
Prints a table and writes benchmarks/results/smartcharging_bench.json.  Wall time is measured with
time.perf_counter (benchmarks are the one place that measures real time).

Scenario: 2 connectors, 20 stacked profiles: 2 ChargePointMax (Absolute + Daily), 10 TxDefault on
connector 0 (Daily / Weekly / Absolute, 6-12 periods, some with duration gaps and validity windows),
6 TxDefault on connector 1, 2 TxProfiles (Absolute + Relative) on connector 1's running transaction.
Goal: a 24 h composite schedule in <= 2 ms.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chargepoint.smartcharging import ChargingProfile, SmartChargingEngine

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
GOAL_COMPOSITE_MS = 2.0
RESULTS = Path(__file__).resolve().parent / "results" / "smartcharging_bench.json"


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _profile(
    pid, level, purpose, kind, periods, *, rec=None, duration=None, start=T0, unit="A", tx=None, valid=None
) -> ChargingProfile:
    sched = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim, "numberPhases": 3} for s, lim in periods],
    }
    if duration is not None:
        sched["duration"] = duration
    if kind != "Relative":
        sched["startSchedule"] = _iso(start)
    d = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": sched,
    }
    if rec:
        d["recurrencyKind"] = rec
    if tx is not None:
        d["transactionId"] = tx
    if valid:
        d["validFrom"], d["validTo"] = _iso(valid[0]), _iso(valid[1])
    return ChargingProfile.from_dict(d)


def build_engine() -> SmartChargingEngine:
    e = SmartChargingEngine(2, max_stack_level=20, max_periods=48, max_profiles=32)
    e.transaction_started(1, 42, T0 - timedelta(minutes=30))
    day = 86400
    profiles: list[tuple[int, ChargingProfile]] = [
        (0, _profile(1, 0, "ChargePointMaxProfile", "Absolute", [(0, 40)])),
        (
            0,
            _profile(
                2,
                1,
                "ChargePointMaxProfile",
                "Recurring",
                [(h * 7200, 20 + h) for h in range(12)],
                rec="Daily",
                start=T0.replace(hour=0),
            ),
        ),
    ]
    pid = 10
    for level in range(10):
        kind = ("Recurring", "Recurring", "Absolute")[level % 3]
        rec = "Weekly" if level % 4 == 1 else "Daily"
        n = 6 + level % 7
        span = 7 * day if rec == "Weekly" else day
        periods = [(i * (span // n), 6 + (i * 3 + level) % 26) for i in range(n)]
        duration = None if level % 2 else (span * 2) // 3
        valid = (T0 - timedelta(hours=level), T0 + timedelta(hours=30 + level)) if level % 5 == 0 else None
        start = T0 - timedelta(hours=3 * level, minutes=7 * level)
        profiles.append(
            (
                0,
                _profile(
                    pid,
                    level,
                    "TxDefaultProfile",
                    kind,
                    periods,
                    rec=rec if kind == "Recurring" else None,
                    duration=duration,
                    start=start,
                    valid=valid,
                ),
            )
        )
        pid += 1
    for level in range(6):
        n = 8
        periods = [(i * 5400, 8 + (i * 5 + level) % 20) for i in range(n)]
        profiles.append(
            (
                1,
                _profile(
                    pid,
                    level,
                    "TxDefaultProfile",
                    "Recurring",
                    periods,
                    rec="Daily",
                    duration=day - 3600 * level,
                    start=T0 - timedelta(hours=5 * level),
                    unit="W" if level % 2 else "A",
                ),
            )
        )
        if level % 2:
            profiles[-1] = (
                1,
                _profile(
                    pid,
                    level,
                    "TxDefaultProfile",
                    "Recurring",
                    [(s, lim * 690) for s, lim in periods],
                    rec="Daily",
                    duration=day - 3600 * level,
                    start=T0 - timedelta(hours=5 * level),
                    unit="W",
                ),
            )
        pid += 1
    profiles.append(
        (
            1,
            _profile(
                pid,
                0,
                "TxProfile",
                "Absolute",
                [(i * 900, 10 + i % 7) for i in range(12)],
                duration=4 * 3600,
                tx=42,
            ),
        )
    )
    profiles.append(
        (
            1,
            _profile(
                pid + 1,
                1,
                "TxProfile",
                "Relative",
                [(i * 600, 12 + i % 5) for i in range(6)],
                duration=3600,
                tx=42,
            ),
        )
    )
    for connector, p in profiles:
        verdict = e.set_profile(connector, p, T0)
        assert verdict.accepted, verdict.reason
    assert len(e.installed()) == 20
    return e


def _timeit(fn, repeat: int) -> dict[str, float]:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(0.95 * (len(samples) - 1))],
        "min_ms": samples[0],
        "runs": repeat,
    }


def main() -> int:
    e = build_engine()
    times = [T0 + timedelta(seconds=37 * i) for i in range(2000)]
    cs1 = e.composite(1, T0, 86400)
    cs0 = e.composite(0, T0, 86400)
    results: dict[str, dict[str, float]] = {}
    results["composite 24h connector 1 (A)"] = _timeit(lambda: e.composite(1, T0, 86400, "A"), 300)
    results["composite 24h connector 1 (W)"] = _timeit(lambda: e.composite(1, T0, 86400, "W"), 300)
    results["composite 24h connector 0 (station)"] = _timeit(lambda: e.composite(0, T0, 86400, "A"), 100)
    per_call = {}
    for name, fn in (
        ("limit() connector 1", lambda t: e.limit(1, t)),
        ("limit() connector 1, phases=1, others_a=5", lambda t: e.limit(1, t, phases=1, others_a=5.0)),
        ("next_change() connector 1", lambda t: e.next_change(1, t)),
        ("next_change() connector 0", lambda t: e.next_change(0, t)),
    ):
        r = _timeit(lambda fn=fn: [fn(t) for t in times], 10)
        per_call[name] = {k: (v / len(times) * 1e3 if k.endswith("_ms") else v) for k, v in r.items()}
    rows = [(k, v["median_ms"] * 1e3, v["p95_ms"] * 1e3) for k, v in results.items()]
    rows += [(k, v["median_ms"], v["p95_ms"]) for k, v in per_call.items()]  # already in us
    print(f"{'operation (20 stacked profiles)':<46} {'median us':>10} {'p95 us':>10}")
    print("-" * 68)
    for name, med, p95 in rows:
        print(f"{name:<46} {med:>10.1f} {p95:>10.1f}")
    print("-" * 68)
    goal_med = results["composite 24h connector 1 (A)"]["median_ms"]
    ok = goal_med <= GOAL_COMPOSITE_MS
    print(f"composite periods: connector 1 = {len(cs1.periods)}, connector 0 = {len(cs0.periods)}")
    print(f"goal: 24 h composite <= {GOAL_COMPOSITE_MS} ms -> {goal_med:.3f} ms: {'MET' if ok else 'MISSED'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "smartcharging",
                "profiles": 20,
                "composite_ms": results,
                "per_call_us": {
                    k: {kk: vv for kk, vv in v.items() if kk != "runs"} for k, v in per_call.items()
                },
                "composite_periods": {"connector_1": len(cs1.periods), "connector_0": len(cs0.periods)},
                "goal_composite_ms": GOAL_COMPOSITE_MS,
                "goal_met": ok,
                "python": sys.version.split()[0],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
