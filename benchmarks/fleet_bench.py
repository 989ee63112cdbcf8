"""Fleet benchmark (issue 14).  Run: python -m benchmarks fleet_bench   (or python -m benchmarks.fleet_bench
[--count N] [--charging M] [--ramp R] [--window S] [--workers K] [--dir /dev/shm] [--baseline REF])

Side by side in one run, each in its own process, against the built-in CSMS (``chargepoint csms``, its
own process: its CPU is reported apart and not counted against the fleet):

* ``chargepoint fleet`` with N charge points (default 10,000; ``--quick``: 500), M of them charging
  (MeterValues every 10 s), heartbeats every 60 s: boot time of all N at the ramp asked, RSS and CPU
  per charge point over a measurement window once all are booted and charging (with ``--workers K``
  the fleet is K processes, one shard each: CPU and RSS are the sums over all of them and their
  parent); how long ``GET /api/summary`` took to answer while the fleet was booting (max, p99);
* a single ``chargepoint run`` (this tree) and the same from the baseline, the code before fleet mode
  (``--baseline REF``, default ``BASELINE_REF``, checked out in a temporary git worktree), idle and
  registered, over the same window: its RSS and CPU per charge point.

The boot goal is two-sided: all N booted within 10 % (+5 s for start-up) of N / ramp, and not faster
than the ramp either (the ramp is the rate of the whole fleet, over all its workers).

Goals: RSS per CP <= 0.4 MB, CPU per CP <= 0.0043 % of one core (SAP e-mobility simulator, 1,000
stations).  Prints a table and writes benchmarks/results/fleet_bench.json.  The machine is shared:
the load average is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: the code before fleet mode (its parent commit): what "a single run is not made worse" compares with
BASELINE_REF = "3217933^"
TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` so far: the scheduler's nanosecond run time of its threads
    (``/proc/PID/task/*/schedstat``) where the kernel keeps it -- an idle single charge point uses
    about 30 ms a minute, three or four of utime's 10 ms ticks -- else utime + stime."""
    try:
        ns = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            ns += int((task / "schedstat").read_text().split()[0])
        return ns / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (the workers of ``chargepoint fleet --workers K``)."""
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out += [int(child), *_children(int(child))]
    except OSError:
        pass
    return out


def _get(url: str, timeout: float = 10.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return dict(json.loads(r.read()))


COUNTS = ("running", "connected", "booted", "heartbeating", "charging", "errors", "frames", "calls")


class FleetApi:
    """The summaries of all workers of a fleet, added up; the answer times while booting."""

    def __init__(self, port: int, workers: int) -> None:
        self.urls = [f"http://127.0.0.1:{port + j}/api/summary" for j in range(workers)]
        self.answer_s: list[float] = []
        self.failures = 0

    def summary(self) -> dict[str, Any]:
        parts = []
        for url in self.urls:
            t0 = time.monotonic()
            try:
                parts.append(_get(url))
            except OSError:
                self.failures += 1
                raise
            self.answer_s.append(time.monotonic() - t0)
        out: dict[str, Any] = {k: sum(p[k] or 0 for p in parts) for k in COUNTS}
        out["msgs_per_s"] = round(sum(p["msgs_per_s"] for p in parts), 1)
        for k in ("latency_p50_ms", "latency_p99_ms", "ramp_s"):  # the worst worker
            values = [p[k] for p in parts if p[k] is not None]
            out[k] = max(values) if len(values) == len(parts) else None
        return out


def _wait(pred: Any, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while True:
        try:
            if pred():
                return time.monotonic() - t0
        except OSError:
            pass
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(what)
        time.sleep(0.5)


def _template(path: Path, url: str, count: int, charging: int, ramp: float) -> None:
    path.write_text(f"""
[fleet]
count = {count}
csms_url = "{url}"
ramp = "{ramp:g}/s"
[chargepoint]
meter_interval_s = 10
[chargepoint.config]
MeterValueSampleInterval = 10
[[group]]
name = "charging"
numbers = "1-{max(1, charging)}"
behaviour = {{charging_at_start = {1.0 if charging else 0.0}, session_minutes = 100000, energy_kwh = 900}}
""")


def _measure(pids: dict[str, list[int]], window: float) -> dict[str, dict[str, float]]:
    """CPU (% of one core) and RSS of each group of processes over ``window`` seconds."""
    c0 = {k: sum(_cpu_s(p) for p in ps) for k, ps in pids.items()}
    t0 = time.monotonic()
    time.sleep(window)
    dt = time.monotonic() - t0
    return {k: {"cpu_pct": 100 * (sum(_cpu_s(p) for p in ps) - c0[k]) / dt, "rss_mb": sum(_rss_mb(p) for p in ps),
                "processes": len(ps)} for k, ps in pids.items()}


def _single(cwd: Path, url: str, cp_id: str, data: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # that tree's packages, not the installed ones
    return subprocess.Popen([sys.executable, "-m", "chargepoint", "run", "--csms-url", url, "--id", cp_id,
                             "--http", "", "--data-dir", data, "--log-level", "error"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _baseline_tree(ref: str, where: Path) -> Path | None:
    """``ref`` checked out (detached) in a git worktree under ``where``; None if git cannot."""
    path = where / "baseline"
    done = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), ref],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(f"baseline {ref!r} not measured: {done.stderr.strip()}", file=sys.stderr)
        return None
    return path


def _free_ports(first: int, n: int) -> bool:
    """Whether ports first .. first + n - 1 can be bound now (the workers' HTTP APIs)."""
    for port in range(first, first + n):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def run(count: int, charging: int, ramp: float, window: float, base: str | None = None,
        workers: int = 1, baseline: str = BASELINE_REF) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-", dir=base))
    baseline_tree = _baseline_tree(baseline, tmp)
    port, api_port = _free_port(), _free_port()
    url = f"ws://127.0.0.1:{port}/ocpp"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        csms = subprocess.Popen([sys.executable, "-m", "chargepoint", "csms", "--port", str(port), "--http-port",
                                 "0", "--heartbeat", "60", "--log-file", "", "--quiet"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(csms)
        time.sleep(2.0)
        singles = {"single_run": _single(ROOT, url, "SINGLE-BRANCH", str(tmp / "single"))}
        if baseline_tree is not None:
            singles["single_run_baseline"] = _single(baseline_tree, url, "SINGLE-BASE", str(tmp / "single-base"))
        procs += singles.values()
        _template(tmp / "fleet.toml", url, count, charging, ramp)
        while _free_ports(api_port, workers) is False:
            api_port = _free_port()
        fleet = subprocess.Popen([sys.executable, "-m", "chargepoint", "fleet", "--template", str(tmp / "fleet.toml"),
                                  "--data-dir", str(tmp / "data"), "--http", f"127.0.0.1:{api_port}",
                                  "--interval", "0", "--workers", str(workers)], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(fleet)
        api = FleetApi(api_port, workers)
        load_start = os.getloadavg()
        t_start = time.monotonic()
        _wait(lambda: api.summary()["running"] >= 0, 60, "fleet API")
        api.answer_s.clear()
        api.failures = 0
        # a boot that does not finish in time (a CSMS or machine that cannot keep up) is reported as
        # such, and the steady state of what did boot is measured all the same
        waits: dict[str, float | None] = {}
        for what, pred, within in (
                ("booted", lambda: api.summary()["booted"] >= count, 120 + 6 * count / max(ramp, 1)),
                ("charging", lambda: api.summary()["charging"] >= charging, 120),
                # idle members heartbeat every 60 s; charging ones keep the link alive with MeterValues
                ("heartbeating", lambda: api.summary()["heartbeating"] >= count - charging, 150)):
            try:
                waits[what] = round(_wait(pred, within, what), 1)
            except TimeoutError:
                waits[what] = None
            if what == "booted":
                boot_s = time.monotonic() - t_start
                booting_answers, booting_failures = sorted(api.answer_s), api.failures
                load_boot = os.getloadavg()
                at_boot = api.summary()
                ramp_s = at_boot["ramp_s"]
        time.sleep(10.0)
        api.summary()  # resets the latency window
        load_before = os.getloadavg()
        pids = {"fleet": [fleet.pid, *_children(fleet.pid)], "csms": [csms.pid],
                **{k: [p.pid] for k, p in singles.items()}}
        m = _measure(pids, window)
        summary = api.summary()
        load_after = os.getloadavg()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        if baseline_tree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline_tree)],
                           capture_output=True)
    f = m["fleet"]
    per = count if waits["booted"] is not None else max(1, summary["booted"])  # per CP of what booted
    out: dict[str, Any] = {
        "count": count, "charging": charging, "ramp_per_s": ramp, "window_s": window,
        "workers": workers, "all_booted": waits["booted"] is not None, "booted_at_deadline": at_boot["booted"],
        "all_charging": waits["charging"] is not None, "all_heartbeating": waits["heartbeating"] is not None,
        "boot_all_s": round(boot_s, 1), "boot_expected_s": round(count / ramp, 1) if ramp > 0 else 0,
        "ramp_s": ramp_s, "boot_rate_per_s": round(at_boot["booted"] / boot_s, 1),
        "api_while_booting": {"answers": len(booting_answers), "failures": booting_failures,
                              "max_s": round(booting_answers[-1], 3) if booting_answers else None,
                              "p99_s": round(booting_answers[int(0.99 * (len(booting_answers) - 1))], 3)
                              if booting_answers else None},
        "fleet": {"rss_mb": round(f["rss_mb"], 1), "cpu_pct": round(f["cpu_pct"], 2), "processes": f["processes"],
                  "per_cp_of": per,
                  "rss_per_cp_mb": round(f["rss_mb"] / per, 4), "cpu_per_cp_pct": round(f["cpu_pct"] / per, 5)},
        "csms": {"rss_mb": round(m["csms"]["rss_mb"], 1), "cpu_pct": round(m["csms"]["cpu_pct"], 2)},
        "summary": summary, "loadavg_start": load_start, "loadavg_booted": load_boot,
        "loadavg_before": load_before, "loadavg_after": load_after,
        "goals": {"rss_per_cp_mb": 0.4, "cpu_per_cp_pct": 0.0043}, "cpus": os.cpu_count(),
        "baseline_ref": baseline if baseline_tree is not None else None,
    }
    expected = out["boot_expected_s"]
    out["boot_at_ramp"] = bool(out["all_booted"] and 0.95 * expected - 1 <= out["boot_all_s"] <= 1.1 * expected + 5)
    for k in singles:
        out[k] = {"rss_mb": round(m[k]["rss_mb"], 1), "cpu_pct": round(m[k]["cpu_pct"], 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="500 charge points, 50 charging")
    ap.add_argument("--count", type=int)
    ap.add_argument("--charging", type=int)
    ap.add_argument("--ramp", type=float, default=100.0)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--dir", default=None, help="where the stores go (e.g. /dev/shm: no fsync cost)")
    ap.add_argument("--baseline", default=BASELINE_REF,
                    help=f"git ref of the single run to compare with (default {BASELINE_REF}: before fleet mode)")
    ap.add_argument("--workers", type=int, default=None,
                    help="fleet processes (default: 1, or one per core from 5,000 charge points on)")
    args = ap.parse_args()
    count = args.count or (500 if args.quick else 10_000)
    charging = args.charging if args.charging is not None else count // 10
    workers = args.workers or (min(2, os.cpu_count() or 1) if count >= 5000 else 1)
    res = run(count, charging, args.ramp, args.window, args.dir, workers, args.baseline)
    res["dir"] = args.dir or tempfile.gettempdir()
    f, goals = res["fleet"], res["goals"]
    s = res["summary"]
    rows = [
        (f"fleet: {count} CPs, {charging} charging, {workers} worker(s), boot of all", f"{res['boot_all_s']} s "
         f"({res['boot_rate_per_s']}/s, ramp asked {args.ramp:g}/s)",
         f"~{res['boot_expected_s']} s " + ("OK" if res["boot_at_ramp"]
                                            else "MISSED" + ("" if res["all_booted"] else
                                                             f" (only {res['booted_at_deadline']} booted)"))),
        ("GET /api/summary while booting: answers, max, p99",
         f"{res['api_while_booting']['answers']} ({res['api_while_booting']['failures']} failed), "
         f"{res['api_while_booting']['max_s']} s, {res['api_while_booting']['p99_s']} s", ""),
        ("booted / heartbeating / charging", f"{s['booted']} / {s['heartbeating']} / {s['charging']}", ""),
        (f"fleet RSS (total, per CP of {f['per_cp_of']})", f"{f['rss_mb']} MB, {f['rss_per_cp_mb']} MB",
         f"<= {goals['rss_per_cp_mb']} " + ("OK" if f["rss_per_cp_mb"] <= goals["rss_per_cp_mb"] else "MISSED")),
        (f"fleet CPU (total, per CP of {f['per_cp_of']}, % of a core)", f"{f['cpu_pct']} %, {f['cpu_per_cp_pct']} %",
         f"<= {goals['cpu_per_cp_pct']} " + ("OK" if f["cpu_per_cp_pct"] <= goals["cpu_per_cp_pct"] else "MISSED")),
        ("msgs/s, CSMS latency p50 / p99", f"{s['msgs_per_s']}, {s['latency_p50_ms']} / {s['latency_p99_ms']} ms", ""),
        ("CSMS process (not counted): CPU, RSS", f"{res['csms']['cpu_pct']} %, {res['csms']['rss_mb']} MB", ""),
    ]
    for k, name in (("single_run", "single run, this tree"), ("single_run_baseline", f"single run, {args.baseline}")):
        if k in res:
            rows.append((f"{name} (1 CP): CPU, RSS", f"{res[k]['cpu_pct']} %, {res[k]['rss_mb']} MB", ""))
    rows.append(("load average (1 min): start / booted / window", f"{res['loadavg_start'][0]:.2f} / "
                 f"{res['loadavg_booted'][0]:.2f} / {res['loadavg_before'][0]:.2f}-{res['loadavg_after'][0]:.2f}",
                 f"{res['cpus']} cores, shared"))
    w = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(w)} | {'value':<44} | goal")
    print("-" * (w + 60))
    for name, value, goal in rows:
        print(f"{name.ljust(w)} | {value:<44} | {goal}")
    out = ROOT / "benchmarks" / "results" / "fleet_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
