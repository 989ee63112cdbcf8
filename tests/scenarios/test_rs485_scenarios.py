"""Scenarios on the smartevse-rs485 backend (scenarios/rs485.py): the schema's answers to what an RS485
charge point cannot do, and node faults replayed through the real stack against the emulated nodes."""

from __future__ import annotations

import pytest

from scenarios.loader import ScenarioError
from scenarios.report import results_text
from scenarios.runner import replay
from scenarios.schema import parse_scenario

HEAD = "name: x\ntags: [t]\n"
RS485 = HEAD + "chargepoint:\n  backend: smartevse-rs485\n  nodes: 2\n"

CASES = [
    # (text, field, words in the message)
    (HEAD + "chargepoint:\n  nodes: 2\n", "chargepoint.nodes", "only with backend: smartevse-rs485"),
    (HEAD + "chargepoint:\n  backend: smartevse-rs485\n", "chargepoint.nodes", "required"),
    (HEAD + "chargepoint:\n  backend: modbus\n", "chargepoint.backend", "one of"),
    (HEAD + "chargepoint:\n  backend: smartevse-rs485\n  nodes: 8\n", "chargepoint.nodes", "<= 7"),
    (HEAD + "chargepoint:\n  backend: smartevse-rs485\n  nodes: [2, 9]\n", "chargepoint.nodes[1]", "<= 8"),
    (HEAD + "chargepoint:\n  backend: smartevse-rs485\n  nodes: [3, 3]\n", "chargepoint.nodes", "different"),
    (HEAD + "chargepoint:\n  backend: smartevse-rs485\n  nodes: 2\n  connectors: 3\n", "chargepoint.connectors",
     "one connector per node (2)"),
    (HEAD + "chargepoint:\n  backend: smartevse-rs485\n  nodes: 2\n  sim: {ev_soc: 20}\n", "chargepoint.sim",
     "backend sim"),
    (RS485 + "steps:\n  - at: 1\n    rfid: TAG\n", "steps[0].rfid", "RemoteStartTransaction"),
    (RS485 + "steps:\n  - at: 1\n    fault: {fault: rcd}\n", "steps[0].fault", "node step"),
    (RS485 + "steps:\n  - at: 1\n    mains: {currents: [1, 1, 1]}\n", "steps[0].mains", "base_load"),
    (RS485 + "steps:\n  - at: 1\n    grid_relay: true\n", "steps[0].grid_relay", "grid-relay input"),
    (RS485 + "steps:\n  - at: 1\n    plug: {connector: 3}\n", "steps[0].plug.connector", "<= 2"),
    (RS485 + "steps:\n  - at: 1\n    plug: {connector: 1, cable: 20}\n", "steps[0].plug.cable", "no cable"),
    (RS485 + "steps:\n  - at: 1\n    ev: {connector: 1, soc: 50}\n", "steps[0].ev", "state-of-charge"),
    (RS485 + "steps:\n  - at: 1\n    node: {connector: 1, fault: fire}\n", "steps[0].node.fault", "one of"),
    (RS485 + "steps:\n  - at: 1\n    node: {connector: 1}\n", "steps[0].node.fault", "required"),
    (RS485 + "steps:\n  - at: 1\n    node: {connector: 1, fault: second_master}\n", "steps[0].node.connector",
     "connector 0"),
    (RS485 + "steps:\n  - at: 1\n    node: {connector: 1, fault: rcd, celsius: 50}\n", "steps[0].node.celsius",
     "fault: temp"),
    (RS485 + "steps:\n  - at: 1\n    node: {connector: 1, fault: reboot, active: false}\n", "steps[0].node",
     "no end"),
    (HEAD + "steps:\n  - at: 1\n    node: {connector: 1, fault: silent}\n", "steps[0].node", "backend: smartevse-rs485"),
    (HEAD + "steps:\n  - at: 1\n    base_load: 3\n", "steps[0].base_load", "backend: smartevse-rs485"),
    (HEAD + "expect:\n  - balanced: {max_sum: 23}\n", "expect[0]", "backend: smartevse-rs485"),
    (RS485 + "expect:\n  - balanced: {}\n", "expect[0].balanced.max_sum", "required"),
]


@pytest.mark.parametrize(("text", "field", "words"), CASES, ids=[c[1] + ":" + c[2] for c in CASES])
def test_what_an_rs485_charge_point_cannot_do_is_named(text, field, words):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    assert info.value.field == field, str(info.value)
    assert words in str(info.value), str(info.value)


def test_nodes_become_connectors():
    scn = parse_scenario(HEAD + "chargepoint:\n  backend: smartevse-rs485\n  nodes: [5, 2, 8]\n  base_load: 4\n")
    cp = scn.chargepoint
    assert (cp.backend, cp.nodes, cp.connectors, cp.base_load_a) == ("smartevse-rs485", (5, 2, 8), 3, 4.0)


NODE_FAULTS = """
name: node faults
tags: [RS485 nodes]
duration: 130
chargepoint:
  backend: smartevse-rs485
  nodes: [2, 5]
  base_load: 2
  energy: {mode: smart, max_mains_a: 25, max_circuit_a: 48}
steps:
  - {at: 5, plug: 1}
  - {at: 6, plug: 2}
  - {at: 10, call: {action: RemoteStartTransaction, payload: {idTag: T1, connectorId: 1}, expect: Accepted}}
  - {at: 12, call: {action: RemoteStartTransaction, payload: {idTag: T2, connectorId: 2}, expect: Accepted}}
  - {at: 40, node: {connector: 1, fault: rcd}}
  - {at: 50, node: {connector: 2, fault: temp, celsius: 80}}
  - {at: 80, node: {connector: 2, fault: temp, active: false}}
expect:
  - message: StatusNotification
    payload: {connectorId: 1, status: Faulted, errorCode: GroundFailure, vendorErrorCode: rcm_tripped}
    within: [40, 45]
  - message: StatusNotification
    payload: {connectorId: 2, status: Faulted, errorCode: HighTemperature,
              info: "node at address 5: over temperature (TEMP_HIGH)"}
    within: [50, 55]
  - description: the node that overheated charges on alone (the other is faulted) at its MaxCurrent
    state: C2
    at: 120
    connector: 2
    offered: 16
    faults: []
    status: Charging
  - state: B1
    at: 120
    connector: 1
    faults: [board, rcd]
  - balanced: {max_sum: 23}
"""


def test_node_faults_reach_ocpp_with_their_error_codes():
    run = replay(parse_scenario(NODE_FAULTS, "node_faults.yaml"))
    assert run.error is None, run.error
    assert run.passed, results_text(run)


def test_an_rs485_replay_gives_the_same_timeline_twice():
    from pathlib import Path

    from scenarios.report import timeline_text
    from scenarios.schema import load_scenario

    scn = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "library" / "rs485_node_offline_rejoin.yaml")
    first, second = replay(scn), replay(scn)
    assert first.passed and second.passed
    assert timeline_text(first) == timeline_text(second)
