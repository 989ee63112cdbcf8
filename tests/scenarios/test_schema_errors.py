"""A malformed scenario fails with file:line: field: message."""

from __future__ import annotations

import pytest

from scenarios.loader import ScenarioError
from scenarios.schema import load_scenario, parse_scenario

GOOD_HEAD = "name: x\ntags: [t]\n"

CASES = [
    # (text, line, field, words in the message)
    ("name: x\n  bad: [\n", 2, "(syntax)", "mapping values"),
    ("tags: [t]\n", 1, "name", "required"),
    (GOOD_HEAD + "colour: red\n", 3, "colour", "unknown field"),
    (GOOD_HEAD + "steps:\n  - at: 1\n    plug: {connector: 1, cable: 2}\n", 5, "steps[0].plug.cable", ">= 6"),
    (GOOD_HEAD + "steps:\n  - at: 1\n    plug: {connector: 3}\n", 5, "steps[0].plug.connector", "<= 1"),
    (GOOD_HEAD + "steps:\n  - plug: 1\n", 4, "steps[0].at", "required"),
    (GOOD_HEAD + "steps:\n  - at: 1\n    plug: 1\n    unplug: 1\n", 4, "steps[0]", "exactly one action"),
    (GOOD_HEAD + "steps:\n  - at: -1\n    plug: 1\n", 4, "steps[0].at", ">= 0"),
    (GOOD_HEAD + "steps:\n  - at: 1\n    fault: {fault: melted}\n", 5, "steps[0].fault.fault", "one of"),
    (GOOD_HEAD + "steps:\n  - at: 1\n    call: {action: StartTransaction}\n", 5, "steps[0].call.action",
     "not a CSMS -> charge point action"),
    (GOOD_HEAD + "steps:\n  - at: 1\n    ev: {connector: 1}\n", 5, "steps[0].ev", "at least one"),
    (GOOD_HEAD + "csms:\n  whitelist: {T1: Maybe}\n", 4, "csms.whitelist.T1", "status must be one of"),
    (GOOD_HEAD + "csms:\n  boot: {status: Later}\n", 4, "csms.boot", "Accepted, Pending, Rejected"),
    (GOOD_HEAD + "csms:\n  errors:\n    Authorize: {code: Oops}\n", 5, "csms.errors.Authorize.code", "one of"),
    (GOOD_HEAD + "chargepoint:\n  max_current: 100\n", 4, "chargepoint.max_current", "<= 80"),
    (GOOD_HEAD + "chargepoint:\n  sim: {ev_phases: 2}\n", 4, "chargepoint.sim", "ev_phases"),
    (GOOD_HEAD + "chargepoint:\n  config: {HeartbeatInterval: {a: 1}}\n", 4, "chargepoint.config.HeartbeatInterval",
     "OCPP configuration value"),
    (GOOD_HEAD + "expect:\n  - message: Bogus\n", 4, "expect[0].message", "not a charge point -> CSMS action"),
    (GOOD_HEAD + "expect:\n  - message: Heartbeat\n    within: [5]\n", 5, "expect[0].within", "[from, to]"),
    (GOOD_HEAD + "expect:\n  - state: C2\n", 4, "expect[0].at", "required"),
    (GOOD_HEAD + "expect:\n  - state: Z\n    at: 1\n", 4, "expect[0].state", "one of"),
    (GOOD_HEAD + "expect:\n  - composite_schedule: [[0]]\n    at: 1\n", 4, "expect[0].composite_schedule[0]",
     "[startPeriod seconds, limit]"),
    (GOOD_HEAD + "duration: 10\nexpect:\n  - message: Heartbeat\n    after: 20\n", 3, "duration", "cover"),
    (GOOD_HEAD + "steps: []\nsteps: []\n", 4, "steps", "duplicate key"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), CASES, ids=[c[2] + f"-{i}" for i, c in enumerate(CASES)])
def test_error_names_file_line_and_field(text, line, field, words):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.yaml")
    err = info.value
    assert (err.file, err.line, err.field) == ("bad.yaml", line, field), str(err)
    assert words in err.message
    assert str(err).startswith(f"bad.yaml:{line}: {field}: ")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value) and "No such file" in str(info.value)


def test_valid_document_parses_every_kind():
    text = GOOD_HEAD + """duration: 100
start: "2026-03-01T12:00:00Z"
chargepoint: {connectors: 2, max_current: 20, config: {MeterValueSampleInterval: 10, LocalPreAuthorize: true}}
csms: {boot: {status: Pending, interval: 30}, whitelist: [A], delays: {Authorize: 2}}
steps:
  - {at: 1, plug: {connector: 2, cable: 13}}
  - {at: 2, unplug: 2}
  - {at: 3, ev: {connector: 1, soc: 90, phases: 1}}
  - {at: 4, rfid: A}
  - {at: 5, call: {action: Reset, payload: {type: Soft}, expect: {error_code: NotSupported}}}
  - {at: 6, fault: {connector: 0, fault: panic}}
  - {at: 7, temperature: {connector: 1, celsius: 70}}
  - {at: 8, mains: {currents: [10, 11, 12]}}
  - {at: 9, csms: {boot_status: Accepted}}
  - {at: 10, offline: 30}
  - {at: 11, clock: {jump: 3600}}
expect:
  - {message: StatusNotification, payload: {connectorId: 1}, within: [0, 5], count: 2}
  - {no_message: StartTransaction}
  - {order: [BootNotification, {message: StatusNotification, payload: {status: Available}}]}
  - {state: B1, at: 20, connector: 2, offered: 0, contactors: open, status: Preparing}
  - {energy: 100, at: 50, tolerance: 5}
  - {composite_schedule: [[0, 16]], at: 60, connector: 1, duration: 600}
"""
    scn = parse_scenario(text, "ok.yaml")
    assert [s.kind for s in scn.steps] == ["plug", "unplug", "ev", "rfid", "call", "fault", "temperature", "mains",
                                           "csms", "offline", "clock"]
    assert [e.kind for e in scn.expectations] == ["message", "no_message", "order", "state", "energy",
                                                  "composite_schedule", "response"]
    assert scn.chargepoint.config == {"MeterValueSampleInterval": "10", "LocalPreAuthorize": "true"}
    assert scn.csms["boot_status"] == "Pending" and scn.csms["boot_retry_interval"] == 30
    assert scn.start.hour == 12 and scn.duration == 100
    assert scn.steps[0].where.line == 8 and scn.steps[0].args == {"connector": 2, "cable_a": 13.0}
