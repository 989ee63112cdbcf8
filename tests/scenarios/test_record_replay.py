"""Record -> replay: a recorded session becomes a scenario that passes on replay and fails when mutated."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from chargepoint.app import build_runtime
from chargepoint.clock import VirtualClock
from chargepoint.config import load_config
from chargepoint.csms import TestCsms
from chargepoint.recording import TraceRecorder
from scenarios.loader import ScenarioError
from scenarios.report import results_text
from scenarios.runner import replay
from scenarios.schema import parse_scenario
from scenarios.trace import read_trace, trace_to_document, trace_to_yaml

SESSION = """name: recorded session
tags: [test]
duration: 400
chargepoint:
  max_current: 20
  config: {MeterValueSampleInterval: 60}
csms:
  whitelist: {CARD1: Accepted, BAD: Blocked}
  heartbeat_interval: 100
steps:
  - {at: 5, plug: {connector: 1, cable: 32}}
  - {at: 8, rfid: BAD}
  - {at: 12, rfid: CARD1}
  - {at: 150, call: {action: GetConfiguration, payload: {key: [MeterValueSampleInterval]}}}
  - {at: 200, ev: {connector: 1, charging: false}}
  - {at: 300, unplug: 1}
"""


def mutate(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_replay_trace_converts_and_replays(tmp_path):
    trace = tmp_path / "session.jsonl"
    original = replay(parse_scenario(SESSION, "session.yaml"), trace_path=str(trace))
    assert original.passed
    records = read_trace(trace)
    assert {r["type"] for r in records} >= {"header", "ocpp", "hal", "cmd", "sim"}
    doc = trace_to_document(trace)
    assert doc["chargepoint"]["max_current"] == 20
    assert doc["csms"]["whitelist"] == {"BAD": "Blocked", "CARD1": "Accepted"}
    assert doc["csms"]["heartbeat_interval"] == 100
    assert [next(k for k in s if k != "at") for s in doc["steps"]] == ["plug", "rfid", "rfid", "call", "ev", "unplug"]
    text = trace_to_yaml(trace)
    scn = parse_scenario(text, "regression.yaml")
    assert sum(e.kind == "message" for e in scn.expectations) >= 12
    again = replay(scn)
    assert again.passed, results_text(again)

    # mutations of the session are caught
    for old, new in [("max_current: 20", "max_current: 16"),       # meter values change
                     ("BAD: Blocked", "BAD: Accepted"),            # the blocked card would start
                     ("charging: false", "charging: true")]:       # no SuspendedEV
        broken = replay(parse_scenario(mutate(text, old, new), "mutated.yaml"))
        assert not broken.passed, f"mutation {old!r} -> {new!r} not detected"
        assert any(not r.passed and r.actual for r in broken.results)


def test_write_scenario_from_trace_via_cli(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    trace = tmp_path / "s.jsonl"
    assert replay(parse_scenario(SESSION, "session.yaml"), trace_path=str(trace)).passed
    out_yaml = tmp_path / "s.yaml"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "chargepoint", "replay", "--from-trace", str(trace),
                           "--write-scenario", str(out_yaml)], capture_output=True, text=True, cwd=root, timeout=60)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(out_yaml.read_text())["name"] == "replay of s.jsonl"
    direct = subprocess.run([sys.executable, "-m", "chargepoint", "replay", "-q", str(trace)], capture_output=True,
                            text=True, cwd=root, timeout=60)
    assert direct.returncode == 0, direct.stdout + direct.stderr


def test_bad_trace_is_named(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"type":"header","version":1}\n{"type":"ocpp","dir":"out"}\n')
    try:
        trace_to_document(trace)
    except ScenarioError as exc:
        assert str(exc) == f"{trace}:2: t: must be the number of seconds since the trace started"
    else:
        raise AssertionError("a trace without times was accepted")


def test_chargepoint_run_record_to_regression_scenario(tmp_path):
    """The runtime of ``chargepoint run --record`` (build_runtime + TraceRecorder) in virtual time, driven
    by the test CSMS and the sim board; its trace becomes a scenario that passes and catches a mutation."""
    trace = tmp_path / "run.jsonl"

    async def session(clock: VirtualClock) -> None:
        csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
        await csms.start()
        cfg = load_config(None, env={}, overrides={"http.listen": "", "chargepoint.data_dir": str(tmp_path / "d"),
                                                   "ocpp.csms_url": csms.url})
        recorder = TraceRecorder(clock, trace, config={"id": cfg.chargepoint.id})
        runtime = build_runtime(cfg, clock, csms_url=csms.url, recorder=recorder)
        task = asyncio.create_task(runtime.run())
        await csms.wait_for_connection(cfg.chargepoint.id, 10)
        await clock.sleep(5)
        runtime.station.board.plug(1, 20.0)
        await clock.sleep(5)
        outcome = await csms.call(cfg.chargepoint.id, "RemoteStartTransaction", {"idTag": "T1", "connectorId": 1})
        assert outcome.payload == {"status": "Accepted"}
        await clock.sleep(120)
        runtime.station.board.unplug(1)
        await clock.sleep(20)
        runtime.stop_requested.set()
        await task
        recorder.close()
        await csms.stop()

    clock = VirtualClock()
    clock.run(session(clock))
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert any(r["type"] == "hal" and r["kind"] == "ProximityReading" for r in lines)
    text = trace_to_yaml(trace)
    doc = yaml.safe_load(text)
    assert [next(k for k in s if k != "at") for s in doc["steps"]] == ["plug", "call", "unplug"]
    assert doc["steps"][0]["plug"]["cable"] == 20.0
    run = replay(parse_scenario(text, "run.yaml"))
    assert run.passed, results_text(run)
    broken = replay(parse_scenario(mutate(text, "cable: 20.0", "cable: 13.0"), "run.yaml"))
    assert not broken.passed


ROUND_TRIP = ["boot_pending", "callerror_start_transaction", "offline_transaction", "reservation_expiry",
              "smart_charging_stacking", "fault_rcd", "reset_soft", "two_connectors", "start_deauthorized"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_library_scenario_round_trip(tmp_path, name):
    """Each recorded library run converts into a regression scenario that passes again."""
    from pathlib import Path

    from scenarios.schema import load_scenario

    path = Path(__file__).resolve().parents[2] / "scenarios" / "library" / f"{name}.yaml"
    trace = tmp_path / "t.jsonl"
    assert replay(load_scenario(path), trace_path=str(trace)).passed
    regression = parse_scenario(trace_to_yaml(trace), f"{name}-regression.yaml")
    assert len(regression.expectations) >= 3
    run = replay(regression)
    assert run.passed, results_text(run)
