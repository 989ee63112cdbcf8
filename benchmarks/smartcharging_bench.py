"""Smart-charging engine benchmark: GetCompositeSchedule, limit() and next_change() costs.

Run:  /work/venv/bin/python -m benchmarks.smartcharging_bench
Prints a table and writes benchmarks/results/smartcharging_bench.json.  Wall time is measured with
time.perf_counter (benchmarks are the one place that measures real time).

Scenario: 2 connectors, 20 stacked profiles: 2 ChargePointMax (Absolute + Daily), 10 TxDefault on
connector 0 (Daily / Weekly / Absolute, 6-12 periods, some with duration gaps and validity windows),
6 TxDefault on connector 1, 2 TxProfiles (Absolute + Relative) on connector 1's running transaction.
Goal: a 24 h composite schedule in <= 2 ms.

End to end (real time, real loopback websocket): the test CSMS sends SetChargingProfile (a TxDefault
whose limit alternates between 8 and 30 A) to the real OCPP client of a charging sim station; latency =
from just before the CSMS writes the frame to the SetPilot with the new current seen via
station.subscribe (i.e. socket + handler + engine + service + controller + HAL command).
Goal: p99 <= 10 ms over >= 200 profiles.  ``--e2e-only`` / ``--engine-only`` run one half.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chargepoint.smartcharging import ChargingProfile, SmartChargingEngine

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
GOAL_COMPOSITE_MS = 2.0
GOAL_E2E_P99_MS = 10.0
E2E_PROFILES = 300
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


async def profile_latencies(clock: Any, csms: Any, pilots: asyncio.Queue[tuple[float, float]], n: int,
                            cp_id: str, pause_s: float = 0.0) -> list[float]:
    """``n`` SetChargingProfile (TxDefault, alternating 8 / 30 A) from the CSMS to ``cp_id``; each
    latency (ms) from just before the frame is written to the SetPilot carrying the new current, as
    put on ``pilots`` (perf_counter time, amps) by a station listener."""
    samples: list[float] = []
    for i in range(n):
        amps = 8.0 if i % 2 == 0 else 30.0
        while not pilots.empty():
            pilots.get_nowait()
        profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Relative",
                   "chargingSchedule": {"chargingRateUnit": "A",
                                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}]}}
        t0 = time.perf_counter()
        call = asyncio.create_task(csms.call(cp_id, "SetChargingProfile",
                                             {"connectorId": 1, "csChargingProfiles": profile}, 10))
        while True:
            t1, current = await clock.wait_for(pilots.get(), 10)
            if current == amps:
                break
        samples.append((t1 - t0) * 1e3)
        out = await call
        assert out.payload == {"status": "Accepted"}, out
        if pause_s:
            await clock.sleep(pause_s)
    return samples


async def _e2e(n: int) -> list[float]:
    """SetChargingProfile on the socket -> SetPilot at the HAL, ``n`` times; latencies in ms."""
    from backends.sim import create_backend
    from chargepoint.clock import RealClock
    from chargepoint.controller import Controller
    from chargepoint.controller.types import ControllerSettings
    from chargepoint.csms import TestCsms
    from chargepoint.ocpp.client import OcppClient
    from chargepoint.ocpp.options import OcppOptions
    from chargepoint.station import Station
    from hal.types import PilotMode, SetPilot

    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False)
    await csms.start()
    board = create_backend(clock, {"connectors": 1, "ev_capacity_kwh": 1000.0, "ev_soc": 1.0,
                                   "ev_reaction_s": 0.0, "ev_request_delay_s": 0.05})
    station = Station(clock, board, Controller(ControllerSettings(connectors=1, max_current_a=32.0),
                                               board.capabilities))
    await station.start()
    pilots: asyncio.Queue[tuple[float, float]] = asyncio.Queue()

    def on_item(item: object) -> None:
        if isinstance(item, SetPilot) and item.mode is PilotMode.PWM:
            pilots.put_nowait((time.perf_counter(), item.current_a))

    station.subscribe(on_item)
    with tempfile.TemporaryDirectory() as data_dir:
        opts = OcppOptions(csms_url=csms.url, cp_id="BENCH", connectors=1, serial="SN", firmware="1",
                           config={"MeterValueSampleInterval": "0"})
        client = OcppClient(clock, station, opts, data_dir, rng_seed=1)
        task = asyncio.create_task(client.run())
        try:
            await csms.wait_for_connection("BENCH", 30)
            await csms.wait_for_frame(lambda f: f.action == "StatusNotification", 30)
            board.present_rfid("TAG1", 1)
            await clock.sleep(0.2)
            board.plug(1)
            await csms.wait_for_frame(lambda f: f.action == "StartTransaction", 30)
            while station.snapshot(1).substate != "C2":
                await clock.sleep(0.05)
            await clock.sleep(0.5)
            return await profile_latencies(clock, csms, pilots, n, "BENCH")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await station.stop()
            await csms.stop()


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def e2e_main() -> dict:
    samples = asyncio.run(_e2e(E2E_PROFILES))
    p50, p99 = _pct(samples, 0.50), _pct(samples, 0.99)
    ok = p99 <= GOAL_E2E_P99_MS
    print(f"SetChargingProfile on the socket -> SetPilot at the HAL ({len(samples)} profiles, real time)")
    print(f"  p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {max(samples):.2f} ms   min {min(samples):.2f} ms")
    print(f"goal: p99 <= {GOAL_E2E_P99_MS} ms -> {'MET' if ok else 'MISSED'}")
    return {"profiles": len(samples), "p50_ms": p50, "p99_ms": p99, "max_ms": max(samples),
            "min_ms": min(samples), "goal_p99_ms": GOAL_E2E_P99_MS, "goal_met": ok}


def main() -> int:
    if "--e2e-only" in sys.argv:
        e2e = e2e_main()
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"benchmark": "smartcharging"}
        old["e2e_set_profile_to_pilot"] = e2e
        RESULTS.write_text(json.dumps(old, indent=2) + "\n")
        print(f"wrote {RESULTS}")
        return 0
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
    e2e = None if "--engine-only" in sys.argv else e2e_main()
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
                "e2e_set_profile_to_pilot": e2e,
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
