"""What a replay shows: the readable timeline, and JUnit XML / JSON reports.

The timeline text depends only on virtual time and the stack's behaviour (no wall time, no unique ids),
so the same scenario gives the same text run after run.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from scenarios.runner import RunResult


def timeline_text(run: RunResult, *, frames: bool = True) -> str:
    lines = []
    for e in run.events:
        if not frames and e.kind == "ocpp":
            continue
        lines.append(f"{e.t:10.3f}  {e.kind:<7}  {e.text}")
    return "\n".join(lines)


def results_text(run: RunResult) -> str:
    scn = run.scenario
    lines = []
    for r in run.results:
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"  [{mark}] {r.summary}  ({r.expectation.where})")
        if not r.passed:
            lines.append(f"         expected: {r.expectation.kind} {r.expected}")
            lines.append(f"         actual:   {r.actual}")
    if run.error:
        lines.append(f"  [FAIL] the run did not complete: {run.error}")
    verdict = "PASSED" if run.passed else "FAILED"
    held = sum(r.passed for r in run.results)
    lines.append(f"{verdict}: {scn.name} ({scn.file}) - {held}/{len(run.results)} expectations held")
    return "\n".join(lines)


def speed_text(run: RunResult) -> str:
    return (f"{run.scenario.name}: {run.virtual_s:g} s of virtual time in {run.wall_s:.2f} s wall "
            f"({run.speedup:,.0f}x real time)")


def to_json(run: RunResult, *, with_timeline: bool = True) -> dict[str, Any]:
    scn = run.scenario
    out: dict[str, Any] = {
        "name": scn.name,
        "file": scn.file,
        "tags": scn.tags,
        "passed": run.passed,
        "error": run.error,
        "virtual_seconds": run.virtual_s,
        "wall_seconds": round(run.wall_s, 4),
        "speedup": round(run.speedup, 1) if run.wall_s > 0 else None,
        "expectations": [
            {"kind": r.expectation.kind, "where": f"{r.expectation.where}", "field": r.expectation.where.field,
             "passed": r.passed, "summary": r.summary, "expected": r.expected, "actual": r.actual}
            for r in run.results
        ],
    }
    if with_timeline:
        out["frames"] = [
            {"t": f.t, "direction": f.direction, "type": f.message_type, "action": f.action, "payload": f.payload}
            for f in run.frames
        ]
        out["events"] = [{"t": e.t, "kind": e.kind, "text": e.text} for e in run.events if e.kind != "ocpp"]
    return out


def write_json(runs: list[RunResult], path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    body = {"passed": all(r.passed for r in runs), "scenarios": [to_json(r) for r in runs]}
    p.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")


def junit_xml(runs: list[RunResult]) -> str:
    """One <testsuite> per scenario, one <testcase> per expectation (+ one for a run that broke)."""
    suites = ET.Element("testsuites", name="chargepoint replay")
    total = failures = 0
    for run in runs:
        scn = run.scenario
        suite = ET.SubElement(suites, "testsuite", name=scn.name, file=scn.file, time=f"{run.wall_s:.3f}")
        cases = 0
        fails = 0
        for r in run.results:
            case = ET.SubElement(suite, "testcase", classname=scn.name, name=r.summary,
                                 file=scn.file, line=str(r.expectation.where.line))
            cases += 1
            if not r.passed:
                fails += 1
                f = ET.SubElement(case, "failure", message=f"expected {r.expected}; actual {r.actual}")
                f.text = f"{r.expectation.where}: {r.expectation.where.field}\nexpected: {r.expected}\nactual:   {r.actual}"
        if run.error:
            case = ET.SubElement(suite, "testcase", classname=scn.name, name="run completes", file=scn.file)
            ET.SubElement(case, "error", message=run.error).text = run.error
            cases += 1
            fails += 1
        out = ET.SubElement(suite, "system-out")
        out.text = timeline_text(run)
        suite.set("tests", str(cases))
        suite.set("failures", str(fails))
        total += cases
        failures += fails
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(runs: list[RunResult], path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(junit_xml(runs), encoding="utf-8")
