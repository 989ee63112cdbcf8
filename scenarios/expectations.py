"""Judging a run: each expectation -> passed or failed, with expected vs actual in words."""

from __future__ import annotations

from typing import Any

from scenarios import rs485
from scenarios.runner import CP_TO_CSMS, ExpectationResult, FrameRecord, RunResult, compact
from scenarios.schema import Expectation

NUMBER_TOLERANCE = 1e-6


def matches(expected: Any, actual: Any) -> bool:
    """Subset match: every key of an expected mapping must match; an expected list must match the
    actual list item by item (same length); numbers compare with a small tolerance."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(matches(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(float(expected) - float(actual)) <= NUMBER_TOLERANCE
    return bool(expected == actual)


def _window(args: dict[str, Any]) -> str:
    after, before = args.get("after"), args.get("before")
    if after is None and before is None:
        return "at any time"
    if before is None:
        return f"after {after:g} s"
    if after is None:
        return f"before {before:g} s"
    return f"within [{after:g}, {before:g}] s"


def _in_window(t: float, args: dict[str, Any]) -> bool:
    after, before = args.get("after"), args.get("before")
    return (after is None or t >= after) and (before is None or t <= before)


def _cp_calls(run: RunResult, action: str | None, cp: str | None = None) -> list[FrameRecord]:
    """The CALLs charge points sent (of ``action``, of charge point ``cp`` in a fleet; None: all)."""
    return [f for f in run.frames if f.direction == CP_TO_CSMS and f.message_type == "CALL"
            and (action is None or f.action == action) and (cp is None or f.cp_id == cp)]


def _show(frames: list[FrameRecord], limit: int = 4) -> str:
    if not frames:
        return "none"
    lines = [f"t={f.t:.3f} s {compact(f.payload, 300)}" for f in frames[:limit]]
    if len(frames) > limit:
        lines.append(f"... and {len(frames) - limit} more")
    return "; ".join(lines)


def _message(exp: Expectation, run: RunResult) -> ExpectationResult:
    a = exp.args
    action = a["action"]
    want = a.get("payload")
    calls = _cp_calls(run, action, a.get("cp"))
    in_window = [f for f in calls if _in_window(f.t, a)]
    hits = [f for f in in_window if want is None or matches(want, f.payload)]
    what = ((f"{a['cp']}: " if a.get("cp") else "") + f"{action}"
            + (f" ⊇ {compact(want)}" if want is not None else "") + f" {_window(a)}")
    if exp.kind == "no_message":
        ok = not hits
        return ExpectationResult(exp, ok, f"no {what}", expected=f"no {what}",
                                 actual="none sent" if ok else f"sent: {_show(hits)}")
    if "count" in a:
        ok, need = len(hits) == a["count"], f"exactly {a['count']} × {what}"
    elif "min_count" in a:
        ok, need = len(hits) >= a["min_count"], f"at least {a['min_count']} × {what}"
    else:
        ok, need = bool(hits), what
    if ok:
        return ExpectationResult(exp, True, need, expected=need, actual=f"{len(hits)} matching, first at t={hits[0].t:.3f} s"
                                 if hits else "0 matching")
    if hits:
        actual = f"{len(hits)} matching: {_show(hits)}"
    elif in_window:
        actual = f"{len(in_window)} {action} {_window(a)}, none matching: {_show(in_window)}"
    elif calls:
        actual = f"no {action} {_window(a)}; sent at other times: {_show(calls)}"
    else:
        actual = f"no {action} sent at all"
    return ExpectationResult(exp, False, need, expected=need, actual=actual)


def _order(exp: Expectation, run: RunResult) -> ExpectationResult:
    seq = exp.args["sequence"]
    names = " -> ".join(s["action"] + (f" ⊇ {compact(s['payload'])}" if s.get("payload") else "") for s in seq)
    frames = _cp_calls(run, None, exp.args.get("cp"))
    pos = 0
    for i, item in enumerate(seq):
        found = None
        for j in range(pos, len(frames)):
            f = frames[j]
            if f.action == item["action"] and (item.get("payload") is None or matches(item["payload"], f.payload)):
                found = j
                break
        if found is None:
            wanted = {s["action"] for s in seq}
            seen = [f"{f.action}@{f.t:.1f}" for f in frames if f.action in wanted]
            return ExpectationResult(
                exp, False, f"order {names}", expected=names,
                actual=f"step {i + 1} ({item['action']}) not found after the earlier ones; these were sent in this "
                       f"order: {', '.join(seen[:20]) or 'none'}")
        pos = found + 1
    return ExpectationResult(exp, True, f"order {names}", expected=names, actual="in this order")


def _state(exp: Expectation, index: int, run: RunResult) -> ExpectationResult:
    a = exp.args
    seen = run.observations.get(index)
    wanted = {k: v for k, v in a.items() if k not in ("at", "connector")}
    wanted.pop("cp", None)
    what = (f"{a['cp']} " if a.get("cp") else "") + f"connector {a['connector']} at {a['at']:g} s: " + ", ".join(
        f"{k}={v}" for k, v in wanted.items())
    if seen is None:
        return ExpectationResult(exp, False, what, expected=what, actual="not observed (the run ended early)")
    wrong = []
    for key, value in wanted.items():
        if key == "state":
            ok = value in (seen.get("state"), seen.get("iec_state"))
            got = seen.get("state")
        elif key == "offered":
            got = seen.get("offered")
            ok = got is not None and abs(got - value) <= 0.05
        else:
            got = seen.get(key)
            ok = got == value
        if not ok:
            wrong.append(f"{key}={got}")
    actual = ", ".join(f"{k}={seen.get(k)}" for k in wanted)
    return ExpectationResult(exp, not wrong, what, expected=", ".join(f"{k}={v}" for k, v in wanted.items()),
                             actual=actual if not wrong else f"{actual} (wrong: {', '.join(wrong)})")


def _energy(exp: Expectation, index: int, run: RunResult) -> ExpectationResult:
    a = exp.args
    what = ((f"{a['cp']}: " if a.get("cp") else "")
            + f"energy of connector {a['connector']} at {a['at']:g} s = {a['wh']:g} ± {a['tolerance']:g} Wh")
    seen = run.observations.get(index)
    if seen is None:
        return ExpectationResult(exp, False, what, expected=what, actual="not observed (the run ended early)")
    ok = abs(seen - a["wh"]) <= a["tolerance"]
    return ExpectationResult(exp, ok, what, expected=f"{a['wh']:g} ± {a['tolerance']:g} Wh", actual=f"{seen:.3f} Wh")


def _composite(exp: Expectation, index: int, run: RunResult) -> ExpectationResult:
    a = exp.args
    table = ", ".join(f"[{s:g}, {lim:g}]" for s, lim in a["periods"])
    what = f"composite schedule of connector {a['connector']} at {a['at']:g} s ({a['unit']}) = {table}"
    outcome = run.observations.get(index)
    if outcome is None:
        return ExpectationResult(exp, False, what, expected=table, actual="no answer (the run ended early)")
    if outcome.status != "result":
        return ExpectationResult(exp, False, what, expected=table,
                                 actual=f"{outcome.status} {outcome.error_code or ''} {outcome.error_description or ''}")
    payload = outcome.payload or {}
    schedule = payload.get("chargingSchedule") or {}
    periods = [(float(p.get("startPeriod", -1)), float(p.get("limit", -1)))
               for p in schedule.get("chargingSchedulePeriod", [])]
    got = ", ".join(f"[{s:g}, {lim:g}]" for s, lim in periods)
    ok = (payload.get("status") == "Accepted" and schedule.get("chargingRateUnit", a["unit"]) == a["unit"]
          and len(periods) == len(a["periods"])
          and all(s1 == s2 and abs(l1 - l2) <= a["tolerance"]
                  for (s1, l1), (s2, l2) in zip(periods, a["periods"], strict=True)))
    return ExpectationResult(exp, ok, what, expected=table,
                             actual=f"status {payload.get('status')}, unit {schedule.get('chargingRateUnit')}: {got or 'no periods'}")


def _response(exp: Expectation, run: RunResult) -> ExpectationResult:
    step = exp.args["step"]
    want = step.expect
    what = f"{step.args['action']} at {step.at:g} s answered " + (
        f"CALLERROR {want['error_code']}" if "error_code" in want else f"⊇ {compact(want['payload'])}")
    outcome = run.call_outcomes.get(id(step))
    if outcome is None:
        return ExpectationResult(exp, False, what, expected=what, actual="no answer before the end of the run")
    if outcome.status == "result":
        actual = f"CALLRESULT {compact(outcome.payload, 300)}"
    elif outcome.status == "error":
        actual = f"CALLERROR {outcome.error_code} {outcome.error_description or ''}".strip()
    else:
        actual = "no answer (timeout)"
    if "error_code" in want:
        ok = outcome.status == "error" and outcome.error_code == want["error_code"]
    else:
        ok = outcome.status == "result" and matches(want["payload"], outcome.payload)
    return ExpectationResult(exp, ok, what, expected=what.split(" answered ", 1)[1], actual=actual)


def evaluate(exp: Expectation, index: int, run: RunResult) -> ExpectationResult:
    if exp.kind in ("message", "no_message"):
        return _message(exp, run)
    if exp.kind == "order":
        return _order(exp, run)
    if exp.kind == "state":
        return _state(exp, index, run)
    if exp.kind == "energy":
        return _energy(exp, index, run)
    if exp.kind == "composite_schedule":
        return _composite(exp, index, run)
    if exp.kind == "response":
        return _response(exp, run)
    if exp.kind in rs485.EXPECT_KINDS:
        return rs485.judge(exp, index, run)
    if exp.kind == "fleet":
        from scenarios.fleet_runner import judge_counts

        return judge_counts(exp, index, run)
    raise ValueError(f"unknown expectation kind {exp.kind!r}")


def evaluate_all(run: RunResult) -> list[ExpectationResult]:
    results = [evaluate(e, i, run) for i, e in enumerate(run.scenario.expectations)]
    for r in results:
        if r.expectation.description:
            r.summary = f"{r.expectation.description}: {r.summary}"
    return results
