"""Every step kind acts on the real stack; progress reporting; a refused control is reported."""

from __future__ import annotations

from scenarios.runner import replay, tty_progress
from scenarios.schema import parse_scenario

STEPS = """name: every step
tags: [test]
duration: 400
chargepoint:
  connectors: 2
steps:
  - {at: 1, mains: {currents: [10, 11, 12], voltage: 230}}
  - {at: 2, csms: {whitelist: [OK1]}}
  - {at: 3, plug: {connector: 2, cable: 13}}
  - {at: 4, rfid: {id_tag: NOPE, connector: 2}}
  - {at: 6, rfid: {id_tag: OK1, connector: 2}}
  - {at: 40, ev: {connector: 2, max_current: 8}}
  - {at: 60, temperature: {connector: 2, celsius: 90}}
  - {at: 100, temperature: {connector: 2, celsius: 30}}
  - {at: 120, clock: {jump: 86400}}
  - {at: 130, offline: 100}
  - {at: 140, call: {action: GetLocalListVersion, payload: {}, expect: {error_code: NotConnected}}}
  - {at: 300, call: {action: GetConfiguration, payload: {key: [NumberOfConnectors]},
                     expect: {payload: {configurationKey: [{key: NumberOfConnectors, value: "2"}]}}}}
expect:
  - {message: Authorize, payload: {idTag: NOPE}, within: [4, 5]}
  - {message: StartTransaction, payload: {idTag: OK1, connectorId: 2}, within: [6, 8]}
  - {state: C2, at: 30, connector: 2, offered: 13, binding_limit: cable}
  - {message: StatusNotification, payload: {connectorId: 2, errorCode: HighTemperature}, within: [60, 61]}
  - {message: StatusNotification, payload: {status: Available}, within: [0, 1], count: 3}
  - {no_message: Heartbeat, within: [131, 229]}
"""


def test_every_step_kind_runs():
    progress: list[float] = []
    run = replay(parse_scenario(STEPS, "steps.yaml"), progress=progress.append)
    failed = [f"{r.summary}: {r.actual}" for r in run.results if not r.passed]
    assert not failed and run.error is None, failed
    notes = [e.text for e in run.events if e.kind == "step"]
    assert "mains meter: [10.0, 11.0, 12.0] A" in notes
    assert "wall clock jumps +86400 s" in notes and "CSMS offline for 100 s" in notes
    assert "GetLocalListVersion: charge point not connected" in notes
    # the EV's lower maximum shows in the actual current, the offer stays at the cable's 13 A
    assert any(s.connector == 2 and s.actual_a == 8.0 and s.offered_a == 13.0 for s in run.samples)
    # the wall clock jump reaches the charge point's timestamps
    late = [f for f in run.frames if f.t > 230 and f.action == "StatusNotification" and f.message_type == "CALL"]
    assert all(f.payload["timestamp"].startswith("2026-01-06") for f in late)
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)


def test_a_control_the_simulation_refuses_is_reported():
    run = replay(parse_scenario("name: twice\ntags: [t]\nsteps:\n  - {at: 1, plug: 1}\n  - {at: 2, plug: 1}\n",
                                "twice.yaml"))
    assert not run.passed
    assert run.error == "twice.yaml:5: steps[1].plug: plug: connector 1 already has an EV plugged in"


def test_no_progress_bar_without_a_terminal(capsys):
    assert tty_progress("x") is None
