"""Wrong expectations fail, with expected vs actual; right ones pass; the subset matcher."""

from __future__ import annotations

import pytest

from scenarios.expectations import matches
from scenarios.report import results_text
from scenarios.runner import replay
from scenarios.schema import parse_scenario

SESSION = """name: {name}
tags: [test]
duration: 300
steps:
  - at: 5
    plug: 1
  - at: 10
    call: {{action: RemoteStartTransaction, payload: {{idTag: TAG1, connectorId: 1}}, expect: {response}}}
  - at: 200
    call: {{action: RemoteStopTransaction, payload: {{transactionId: 1}}, expect: Accepted}}
expect:
{expect}
"""


def run(expect: str, response: str = "Accepted", name: str = "t"):
    return replay(parse_scenario(SESSION.format(name=name, expect=expect, response=response), "t.yaml"))


def only(result_list, kind):
    found = [r for r in result_list if r.expectation.kind == kind and "RemoteStop" not in r.summary]
    assert len(found) == 1
    return found[0]


def test_right_expectations_of_every_kind_pass():
    r = run("""  - {message: StartTransaction, payload: {idTag: TAG1, connectorId: 1}, within: [10, 11], count: 1}
  - {no_message: StartTransaction, payload: {idTag: OTHER}}
  - {order: [BootNotification, StartTransaction, StopTransaction]}
  - {state: C2, at: 100, offered: 16, contactors: closed, status: Charging, locked: true, authorized: true}
  - {energy: 265, at: 100, tolerance: 5}
  - {composite_schedule: [[0, 16]], at: 100, connector: 1, duration: 600}""")
    assert r.passed, results_text(r)
    assert len(r.results) == 8


def test_wrong_message_payload_shows_the_sent_payload():
    r = run("  - {message: StartTransaction, payload: {idTag: TAG2}, within: [10, 11]}")
    res = only(r.results, "message")
    assert not res.passed and not r.passed
    assert '"idTag":"TAG2"' in res.expected
    assert "none matching" in res.actual and '"idTag":"TAG1"' in res.actual


def test_message_outside_its_window_says_when_it_was_sent():
    res = only(run("  - {message: StartTransaction, within: [100, 120]}").results, "message")
    assert not res.passed
    assert "no StartTransaction within [100, 120] s" in res.actual and "t=10.000 s" in res.actual


def test_wrong_count_fails():
    res = only(run("  - {message: StopTransaction, count: 2}").results, "message")
    assert not res.passed and "exactly 2" in res.expected and "1 matching" in res.actual


def test_message_that_must_not_be_sent_fails_when_sent():
    res = only(run("  - {no_message: StopTransaction, payload: {reason: Remote}}").results, "no_message")
    assert not res.passed and "sent: t=200.000 s" in res.actual


def test_wrong_order_fails_naming_the_missing_step():
    res = only(run("  - {order: [StopTransaction, StartTransaction]}").results, "order")
    assert not res.passed
    assert "step 2 (StartTransaction) not found" in res.actual and "StartTransaction@10.0" in res.actual


def test_wrong_state_shows_what_was_seen():
    r = run("  - {state: B1, at: 100, offered: 10, status: Finishing}")
    res = only(r.results, "state")
    assert not res.passed
    assert res.expected == "state=B1, offered=10.0, status=Finishing"
    assert "state=C2" in res.actual and "offered=16.0" in res.actual and "status=Charging" in res.actual
    text = results_text(r)
    assert "expected: state state=B1" in text and "actual:   state=C2" in text


def test_wrong_energy_shows_the_measured_energy():
    res = only(run("  - {energy: 5000, at: 100, tolerance: 10}").results, "energy")
    assert not res.passed and res.expected == "5000 ± 10 Wh" and res.actual == "265.172 Wh"


def test_wrong_composite_schedule_shows_the_table():
    res = only(run("  - {composite_schedule: [[0, 10], [60, 16]], at: 100, connector: 1, duration: 600}").results,
               "composite_schedule")
    assert not res.passed
    assert res.expected == "[0, 10], [60, 16]" and res.actual.endswith("[0, 16]")


def test_wrong_call_response_fails():
    r = run("  - {message: Heartbeat, count: 0}", response="Rejected")
    res = only(r.results, "response")
    assert not res.passed
    assert 'CALLRESULT {"status":"Accepted"}' in res.actual and '"status":"Rejected"' in res.expected


def test_expected_callerror_against_a_result_fails():
    r = run("  - {message: Heartbeat, count: 0}", response="{error_code: NotSupported}")
    res = only(r.results, "response")
    assert not res.passed and "CALLERROR NotSupported" in res.expected


@pytest.mark.parametrize(("expected", "actual", "ok"), [
    ({"a": 1}, {"a": 1, "b": 2}, True),
    ({"a": 1, "c": 3}, {"a": 1, "b": 2}, False),
    ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2], "c": 0}}, True),
    ({"a": [1]}, {"a": [1, 2]}, False),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
    ({"a": 1.0}, {"a": 1}, True),
    ({"a": True}, {"a": 1}, False),
    ({"a": "1"}, {"a": 1}, False),
    ({}, {"anything": 1}, True),
])
def test_subset_match(expected, actual, ok):
    assert matches(expected, actual) is ok
