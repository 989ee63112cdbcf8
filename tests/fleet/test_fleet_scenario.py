"""Scenario files drive a fleet (``fleet:`` section): the real members and the test CSMS in virtual time,
and on the real clock with ``chargepoint replay --realtime``; a wrong fleet value is file:line: field."""

from __future__ import annotations

import time

import pytest

from chargepoint.cli import main
from scenarios.loader import ScenarioError
from scenarios.report import results_text
from scenarios.runner import replay
from scenarios.schema import parse_scenario

HEAD = "name: x\ntags: [t]\n"
FLEET = HEAD + """fleet:
  id: "CP-{n:02d}"
  count: 6
  group:
    - {name: duo, numbers: 1-2, connectors: 2}
"""

SCENARIO = """name: small fleet
tags: [fleet]
duration: 400
csms: {heartbeat_interval: 120}
fleet:
  id: "EV-{n:02d}"
  count: 8
  ramp: 0
  chargepoint: {meter_interval_s: 10, config: {MeterValueSampleInterval: 10}}
  group:
    - {name: charging, numbers: 1-3, behaviour: {charging_at_start: 1.0, session_minutes: 3}}
    - {name: quiet, numbers: 4-8}
steps:
  - {at: 30, cp: EV-08, plug: 1}
  - {at: 32, cp: EV-08, rfid: CARD-8}
  - {at: 60, group: quiet, fault: {fault: overtemp}}
  - {at: 90, group: quiet, fault: {fault: overtemp, active: false}}
  - {at: 120, cp: EV-05, call: {action: Reset, payload: {type: Soft}, expect: Accepted}}
  - {at: 200, cp: [EV-08], unplug: 1}
expect:
  - {fleet: {booted: 8, charging: 3, transactions_started: 3, errors: 0}, at: 20}
  - {fleet: {faulted: 5, charging: 3}, at: 70}
  - {fleet: {faulted: 0}, at: 110}
  - {fleet: {restarts: 1, booted: 8, transactions_started: 4, transactions_stopped: 4, queued: 0, errors: 0}, at: 390}
  - {state: C2, at: 45, cp: EV-08, status: Charging}
  - {energy: 0, at: 25, cp: EV-07}
  - {message: BootNotification, cp: EV-05, count: 2}
  - {message: StartTransaction, cp: EV-08, payload: {idTag: CARD-8}, count: 1}
  - {message: StatusNotification, payload: {status: Faulted}, count: 5, within: [60, 89]}
  - {no_message: StartTransaction, cp: EV-07}
  - {order: [StartTransaction, MeterValues, StopTransaction], cp: EV-08}
"""


def test_a_fleet_scenario_replays_in_virtual_time():
    run = replay(parse_scenario(SCENARIO, "small.yaml"))
    assert run.error is None, run.error
    assert run.passed, results_text(run)
    assert run.virtual_s == pytest.approx(400)
    assert run.speedup > 10  # 400 s of 8 charge points in well under 40 s
    frames = {f.cp_id for f in run.frames}
    assert frames == {f"EV-{n:02d}" for n in range(1, 9)}
    fleet_lines = [e.text for e in run.events if e.kind == "fleet"]
    assert len(fleet_lines) == 12 and fleet_lines[0].startswith("8/8 booted")


def test_a_broken_fleet_expectation_fails_with_expected_and_actual():
    text = SCENARIO.replace("{fleet: {faulted: 5, charging: 3}, at: 70}", "{fleet: {faulted: 4, charging: {max: 2}}, at: 70}")
    run = replay(parse_scenario(text, "small.yaml"))
    assert run.error is None
    failed = [r for r in run.results if not r.passed]
    assert len(failed) == 1
    assert failed[0].actual == "faulted=5, charging=3 (wrong: faulted, charging)"
    assert failed[0].expected == "faulted=4, charging in 0..2"


def test_a_per_cp_expectation_looks_at_that_charge_point_only():
    text = SCENARIO.replace("{message: BootNotification, cp: EV-05, count: 2}",
                            "{message: BootNotification, cp: EV-04, count: 2}")
    run = replay(parse_scenario(text, "small.yaml"))
    failed = [r for r in run.results if not r.passed]
    assert [r.expectation.args["cp"] for r in failed] == ["EV-04"]
    assert failed[0].actual.startswith("1 matching")


def test_the_command_line_replays_a_fleet_on_the_real_clock(tmp_path, capsys):
    path = tmp_path / "realtime.yaml"
    path.write_text("""name: fleet in real time
tags: [fleet]
duration: 4
fleet:
  count: 5
  ramp: 0
  behaviour: {charging_at_start: 1.0, session_minutes: 60}
expect:
  - {fleet: {booted: 5, charging: 5, transactions_started: 5, errors: 0}, at: 3.9}
""")
    began = time.monotonic()
    code = main(["replay", "-q", "--realtime", str(path)])
    wall = time.monotonic() - began
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1/1 scenario(s) passed" in out
    assert wall >= 4.0  # the real clock: the scenario takes as long as it says


def test_a_csms_restart_closes_its_port_and_the_fleet_comes_back_without_rebooting():
    run = replay(parse_scenario("""name: restart
tags: [fleet]
duration: 300
fleet:
  count: 5
  ramp: 0
  chargepoint: {reconnect_max_s: 20, config: {MeterValueSampleInterval: 10}}
  behaviour: {charging_at_start: 1.0, session_minutes: 60}
steps:
  - {at: 60, csms_restart: 30}
expect:
  - {fleet: {connected: 5, transactions_started: 5}, at: 50}
  - {fleet: {connected: 0, charging: 5, queued: {min: 5}}, at: 85}
  - {fleet: {connected: 5, queued: 0, transactions_started: 5, transactions_open: 5, errors: 0}, at: 150}
  - {no_message: MeterValues, within: [61, 89]}
  - {message: MeterValues, within: [90, 150], min_count: 20}
  - {message: BootNotification, count: 5}
""", "restart.yaml"))
    assert run.passed, results_text(run)
    assert any(e.text == "CSMS restarts: its port is closed for 30 s" for e in run.events)


def test_one_charge_point_replays_on_the_real_clock_too(tmp_path, capsys):
    path = tmp_path / "one.yaml"
    path.write_text("name: one in real time\ntags: [t]\nduration: 3\nsteps:\n  - {at: 1, plug: 1}\n"
                    "  - {at: 1.2, rfid: T1}\nexpect:\n  - {message: StartTransaction, payload: {idTag: T1}}\n"
                    "  - {state: C2, at: 2.8}\n")
    began = time.monotonic()
    assert main(["replay", "-q", "--realtime", str(path)]) == 0, capsys.readouterr().out
    assert time.monotonic() - began >= 3.0


def test_a_fleet_scenario_cannot_be_recorded_as_one_trace(tmp_path, capsys):
    path = tmp_path / "f.yaml"
    path.write_text(FLEET + "expect:\n  - {fleet: {booted: 6}, at: 5}\n")
    assert main(["replay", str(path), "--record", str(tmp_path / "t.jsonl")]) == 2
    assert "fleet scenario" in capsys.readouterr().err


BAD = [
    # (text, line, field, words in the message)
    (HEAD + "fleet:\n  count: 0\n", 4, "fleet.count", ">= 1"),
    (HEAD + "fleet:\n  id: x\n", 4, "fleet.count", "required"),
    (HEAD + "fleet:\n  count: 2\n  colour: red\n", 5, "fleet.colour", "unknown field"),
    (HEAD + "fleet:\n  count: 2\n  ramp: fast\n", 5, "fleet.ramp", "rate like"),
    (HEAD + "fleet:\n  count: 2\n  id: 'CP-{m}'\n", 5, "fleet.id", "bad id pattern"),
    (HEAD + "fleet:\n  count: 2\n  chargepoint:\n    connectors: 9\n", 6, "fleet.chargepoint.connectors", "1..8"),
    (HEAD + "fleet:\n  count: 2\n  group:\n    - name: g\n      numbers: 1-2\n      behaviour:\n        ev_mix:\n"
            "          - {phases: 2}\n", 10, "fleet.group[0].behaviour.ev_mix[0].phases", "one of 1, 3"),
    (HEAD + "fleet:\n  count: 2\n  behaviour: {fault_kinds: [melted]}\n", 5, "fleet.behaviour.fault_kinds[0]",
     "unknown fault"),
    (HEAD + "chargepoint: {connectors: 2}\nfleet:\n  count: 2\n", 3, "chargepoint", "no chargepoint section"),
    (FLEET + "steps:\n  - {at: 1, plug: 1}\n", 9, "steps[0]", "needs cp"),
    (FLEET + "steps:\n  - {at: 1, cp: CP-99, plug: 1}\n", 9, "steps[0].cp", "no charge point 'CP-99'"),
    (FLEET + "steps:\n  - {at: 1, group: nobody, plug: 1}\n", 9, "steps[0].group", "no group 'nobody'"),
    (FLEET + "steps:\n  - {at: 1, cp: CP-03, plug: 2}\n", 9, "steps[0].plug", "<= 1"),
    (FLEET + "steps:\n  - {at: 1, group: '*', plug: 2}\n", 9, "steps[0].plug", "<= 1"),
    (FLEET + "steps:\n  - {at: 1, cp: CP-01, group: duo, plug: 1}\n", 9, "steps[0].group", "not both"),
    (FLEET + "steps:\n  - {at: 1, cp: CP-01, offline: 10}\n", 9, "steps[0].cp", "whole fleet"),
    (FLEET + "steps:\n  - {at: 1, csms_restart: -5}\n", 9, "steps[0].csms_restart", ">= 0"),
    (FLEET + "steps:\n  - {at: 1, group: duo, csms_restart: 5}\n", 9, "steps[0].group", "whole fleet"),
    (FLEET + "steps:\n  - {at: 1, group: duo, call: {action: Reset}}\n", 9, "steps[0].group", "one charge point"),
    (FLEET + "steps:\n  - {at: 1, cp: CP-01, mains: {currents: [1, 2, 3]}}\n", 9, "steps[0].mains", "unknown field"),
    (FLEET + "expect:\n  - {state: C2, at: 5}\n", 9, "expect[0]", "needs cp"),
    (FLEET + "expect:\n  - {state: C2, at: 5, cp: [CP-01, CP-02]}\n", 9, "expect[0].cp", "one charge point"),
    (FLEET + "expect:\n  - {fleet: {bored: 1}, at: 5}\n", 9, "expect[0].fleet.bored", "unknown field"),
    (FLEET + "expect:\n  - {fleet: {booted: {min: 3, max: 2}}, at: 5}\n", 9, "expect[0].fleet.booted", "min 3 > max 2"),
    (FLEET + "expect:\n  - {fleet: {booted: 1.5}, at: 5}\n", 9, "expect[0].fleet.booted", "integer"),
    (FLEET + "expect:\n  - {fleet: {booted: 6}}\n", 9, "expect[0].at", "required"),
    (FLEET + "expect:\n  - {fleet: {}, at: 5}\n", 9, "expect[0].fleet", "at least one count"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), BAD, ids=[c[2] + "-" + str(i) for i, c in enumerate(BAD)])
def test_a_wrong_fleet_value_names_file_line_and_field(text, line, field, words):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "door.yaml")
    exc = info.value
    assert (exc.file, exc.line, exc.field) == ("door.yaml", line, field), str(exc)
    assert words in exc.message, str(exc)
    assert str(exc).startswith(f"door.yaml:{line}: {field}: ")


def test_the_fleet_section_keeps_the_template_and_its_groups():
    scn = parse_scenario(FLEET + "steps:\n  - {at: 1, group: duo, plug: 2}\n", "f.yaml")
    assert scn.fleet is not None
    assert scn.fleet.groups["duo"] == ("CP-01", "CP-02")
    assert scn.fleet.connectors == {"CP-01": 2, "CP-02": 2, "CP-03": 1, "CP-04": 1, "CP-05": 1, "CP-06": 1}
    assert scn.steps[0].targets == ("CP-01", "CP-02") and scn.steps[0].args == {"connector": 2, "cable_a": 32.0}
