"""Record -> replay of a real-time trace: measured values are compared with a tolerance, not exactly."""

import json

from scenarios.trace import _energy_expectations, strip_volatile


def _frame(t, direction, kind, uid, action=None, payload=None):
    f = {"t": t, "dir": direction, "kind": kind, "uid": uid, "payload": payload or {}}
    if action:
        f["action"] = action
    return f


def test_meter_readings_are_volatile_and_checked_as_energy_with_a_tolerance():
    frames = [
        _frame(1.0, "out", 2, "a", "StartTransaction", {"connectorId": 2, "idTag": "T", "meterStart": 100}),
        _frame(1.1, "in", 3, "a", payload={"transactionId": 7, "idTagInfo": {"status": "Accepted"}}),
        _frame(60.0, "out", 2, "b", "StopTransaction", {"transactionId": 7, "meterStop": 3100, "reason": "Local"}),
    ]
    assert strip_volatile(frames[2]["payload"]) == {"reason": "Local"}
    assert strip_volatile({"connectorId": 1, "meterValue": [{"sampledValue": []}]}) == {"connectorId": 1}
    (energy,) = _energy_expectations(frames)
    assert energy == {"energy": 3100.0, "at": 60.0, "connector": 2, "tolerance": 31.0}
    json.dumps(energy)
