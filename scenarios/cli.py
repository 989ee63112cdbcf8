"""``chargepoint replay FILE...``: run scenario files (or recorded traces) against the real stack in
virtual time, print the timeline and the expectation results, write reports and plots.

Exit code 0 only if every expectation of every scenario held; 1 if one failed; 2 for a file that
could not be read (its error is ``file:line: field: message``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from scenarios.loader import ScenarioError
from scenarios.schema import Scenario, load_scenario, parse_scenario

TRACE_SUFFIXES = (".jsonl", ".ndjson")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="replay scenario files or recorded traces against the real stack in virtual time",
        description="Run each scenario (YAML, see scenarios/README.md) or recorded trace (JSONL from "
                    "`chargepoint run --record`) against the real controller, sim board, OCPP client and "
                    "test CSMS in virtual time, then check its expectations.",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="scenario .yaml files or trace .jsonl files")
    p.add_argument("--report", metavar="DIR", help="write DIR/junit.xml and DIR/report.json")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--json", metavar="FILE", help="write a JSON report (timeline, frames, expectations)")
    p.add_argument("--plot", metavar="FILE", help="draw currents and power over time (.png or .svg); with "
                                                  "several scenarios, one file each (FILE-<n>.png)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the expectation results")
    p.add_argument("--no-frames", action="store_true", help="timeline without the OCPP frames")
    p.add_argument("--from-trace", metavar="TRACE", help="convert a recorded trace into a scenario")
    p.add_argument("--write-scenario", metavar="OUT", help="with --from-trace: write the scenario YAML here "
                                                            "(and do not replay unless files are given too)")
    p.add_argument("--record", metavar="FILE", help="also write the replay's own trace (JSONL)")
    p.add_argument("--realtime", action="store_true", help="run on the real clock instead of virtual time (a "
                                                           "scenario of an hour takes an hour; start: is ignored)")
    p.set_defaults(handler=_cmd_replay)


def _quiet_logs() -> None:
    """The timeline is the output: the stack's own logs only for errors, on stderr."""
    import structlog

    logging.basicConfig(stream=sys.stderr, level=logging.ERROR, force=True)
    logging.getLogger().setLevel(logging.ERROR)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def load_any(path: str) -> Scenario:
    """A scenario file, or a trace converted on the fly."""
    if path.endswith(TRACE_SUFFIXES):
        from scenarios.trace import trace_to_yaml

        return parse_scenario(trace_to_yaml(path), path)
    return load_scenario(path)


def _plot_path(base: str, index: int, count: int) -> str:
    if count == 1:
        return base
    p = Path(base)
    return str(p.with_name(f"{p.stem}-{index + 1}{p.suffix}"))


def _cmd_replay(args: argparse.Namespace) -> int:
    from scenarios.report import results_text, speed_text, timeline_text, write_json, write_junit
    from scenarios.runner import replay, tty_progress

    _quiet_logs()
    files: list[str] = list(args.files)
    if args.from_trace:
        from scenarios.trace import trace_to_yaml

        try:
            text = trace_to_yaml(args.from_trace)
            parse_scenario(text, args.write_scenario or args.from_trace)
        except ScenarioError as exc:
            print(f"chargepoint replay: {exc}", file=sys.stderr)
            return 2
        if args.write_scenario:
            Path(args.write_scenario).write_text(text, encoding="utf-8")
            print(f"wrote {args.write_scenario}")
            if not files:
                return 0
            files.insert(0, args.write_scenario)
        else:
            files.insert(0, args.from_trace)
    if not files:
        print("chargepoint replay: give one or more scenario files (or --from-trace TRACE)", file=sys.stderr)
        return 2
    if args.plot:
        from scenarios.plot import FORMATS

        if Path(args.plot).suffix.lower() not in FORMATS:
            print(f"chargepoint replay: --plot {args.plot}: the file must end in .png or .svg", file=sys.stderr)
            return 2
    scenarios: list[Scenario] = []
    bad = 0
    for path in files:
        try:
            scenarios.append(load_any(path))
        except ScenarioError as exc:
            print(f"chargepoint replay: {exc}", file=sys.stderr)
            bad += 1
    if bad and not scenarios:
        return 2
    runs = []
    for i, scn in enumerate(scenarios):
        trace = None
        if args.record and scn.fleet is not None:
            print(f"chargepoint replay: --record: {scn.file} is a fleet scenario: it cannot be recorded as one "
                  "charge point's trace", file=sys.stderr)
            return 2
        if args.record:
            trace = args.record if len(scenarios) == 1 else _plot_path(args.record, i, len(scenarios))
        run = replay(scn, trace_path=trace, realtime=args.realtime,
                     progress=tty_progress(scn.name) if scn.duration >= 3600 or args.realtime else None)
        runs.append(run)
        print(f"=== {scn.name} ({scn.file})" + (f"  tags: {', '.join(scn.tags)}" if scn.tags else ""))
        if not args.quiet:
            print(timeline_text(run, frames=not args.no_frames))
        print(results_text(run))
        print(speed_text(run))
        print()
        if args.plot:
            _plot(run, _plot_path(args.plot, i, len(scenarios)))
    junit, json_path = args.junit, args.json
    if args.report:
        junit = junit or str(Path(args.report) / "junit.xml")
        json_path = json_path or str(Path(args.report) / "report.json")
    if junit:
        write_junit(runs, junit)
    if json_path:
        write_json(runs, json_path)
    passed = sum(r.passed for r in runs)
    print(f"{passed}/{len(runs)} scenario(s) passed" + (f", {bad} file(s) could not be read" if bad else ""))
    if bad:
        return 2
    return 0 if passed == len(runs) else 1


def _plot(run: Any, path: str) -> None:
    from scenarios.plot import PlotUnavailable, plot_run

    try:
        plot_run(run, path)
        print(f"plot written to {path}")
    except PlotUnavailable as exc:
        print(f"chargepoint replay: --plot: {exc}", file=sys.stderr)
