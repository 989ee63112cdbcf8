"""The independent schema validator (node + ocpp-rpc's official 1.6 schemas) and its pytest plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.ocpp_schema import plugin
from tests.ocpp_schema.validator import CP_TO_CSMS, CSMS_TO_CP

ROOT = Path(__file__).resolve().parents[2]
STATUS_OK = {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-01-05T08:00:00Z"}


def test_the_validator_runs_the_package_schemas(ocpp_schema_validator):
    assert ocpp_schema_validator.package == "ocpp-rpc@2.2.1"
    assert ocpp_schema_validator.schema_count == 78  # 1.6 core + security extension, .req and .conf


def test_good_frames_pass(ocpp_schema_validator):
    v = ocpp_schema_validator
    assert v.validate("CALL", "StatusNotification", STATUS_OK, CP_TO_CSMS) == []
    assert v.validate(2, "BootNotification", {"chargePointVendor": "SmartEVSE", "chargePointModel": "v3"}) == []
    assert v.validate("CALLRESULT", "RemoteStartTransaction", {"status": "Accepted"}, CP_TO_CSMS) == []
    assert v.validate("CALL", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "A", "startSchedule": "2026-01-05T08:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.1}]}}}, CSMS_TO_CP) == []
    assert v.validate("CALLERROR", None, {"errorCode": "NotSupported", "errorDescription": "",
                                          "errorDetails": {}}) == []


def test_invalid_status_is_rejected(ocpp_schema_validator):
    errors = ocpp_schema_validator.validate("CALL", "StatusNotification", {**STATUS_OK, "status": "Sleeping"})
    assert len(errors) == 1 and "/status" in errors[0] and "enum" in errors[0]


def test_boot_without_vendor_is_rejected(ocpp_schema_validator):
    errors = ocpp_schema_validator.validate("CALL", "BootNotification", {"chargePointModel": "v3"})
    assert errors and "chargePointVendor" in errors[0]


@pytest.mark.parametrize(
    ("kind", "action", "payload", "needle"),
    [
        ("CALL", "StatusNotification", {**STATUS_OK, "timestamp": "not-a-date"}, "date-time"),  # python lib misses it
        ("CALL", "StatusNotification", {**STATUS_OK, "vendorField": 1}, "additional"),
        ("CALL", "MeterValues", {"connectorId": "1", "meterValue": []}, "integer"),
        ("CALL", "Authorize", {"idTag": "X" * 21}, "20"),
        ("CALLRESULT", "GetCompositeSchedule", {"status": "Accepted", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7.25}]}}, "multipleOf"),
        ("CALL", "RemoteStartTransaction", {"idTag": "X"}, "may not be initiated by the charge point"),
        ("CALLRESULT", "Heartbeat", {"currentTime": "2026-01-05T08:00:00Z"}, "may not be initiated by the central"),
        ("CALL", "FooBar", {}, "not an OCPP 1.6 action"),
        ("CALLRESULT", None, {}, "action is required"),
        ("CALLERROR", None, {"errorCode": "FormatViolation", "errorDescription": "", "errorDetails": {}},
         "not an OCPP-J 1.6 error code"),
        ("RESULT", "Heartbeat", {}, "not CALL, CALLRESULT or CALLERROR"),
    ],
)
def test_bad_frames_are_rejected(ocpp_schema_validator, kind, action, payload, needle):
    errors = ocpp_schema_validator.validate(kind, action, payload, CP_TO_CSMS)
    assert errors and any(needle in e for e in errors), errors


def test_raw_frames(ocpp_schema_validator):
    v = ocpp_schema_validator
    assert v.validate_raw(json.dumps([2, "1", "Heartbeat", {}])) == []
    assert v.validate_raw(json.dumps([3, "1", {"status": "Accepted"}]), action="Reset") == []
    assert v.validate_raw(json.dumps([2, "x" * 37, "Heartbeat", {}])) == ["uniqueId is 37 characters, maximum 36"]
    assert "not JSON" in v.validate_raw("{")[0]
    assert "not an OCPP-J 1.6 frame" in v.validate_raw("[2, \"1\", \"Heartbeat\"]")[0]


def test_unavailable_validator_fails_in_ci_and_skips_locally(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="unavailable in CI: node is missing"):
        plugin._unavailable("node is missing")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="node is missing"):
        plugin._unavailable("node is missing")


def test_missing_node_is_detected(monkeypatch):
    from tests.ocpp_schema import validator

    monkeypatch.setattr(validator.shutil, "which", lambda name: None)
    assert "node is not on PATH" in (validator.unavailable_reason() or "")
    with pytest.raises(validator.SchemaValidatorUnavailable):
        validator.SchemaValidator()


def test_plugin_fails_the_test_whose_cp_sent_a_bad_frame(tmp_path, ocpp_schema_validator):
    """End to end in a child pytest: a CP sending an invalid StatusNotification fails that test only."""
    test_file = tmp_path / "test_child.py"
    test_file.write_text(textwrap.dedent("""
        import json
        from websockets.asyncio.client import connect
        from chargepoint.clock import VirtualClock
        from chargepoint.csms import TestCsms

        def send(status):
            clock = VirtualClock()
            async def scenario():
                async with TestCsms(clock, http_port=None, console_log=False) as csms:
                    async with connect(csms.url + "/CP1", subprotocols=["ocpp1.6"], proxy=None) as ws:
                        await ws.send(json.dumps([2, "1", "StatusNotification",
                                                  {"connectorId": 1, "errorCode": "NoError", "status": status}]))
                        await ws.recv()
            clock.run(scenario())

        def test_good(ocpp_schema_check):
            send("Available")
            assert ocpp_schema_check.checked == 1

        def test_bad(ocpp_schema_check):
            send("Sleeping")

        def test_unhooked():
            send("Sleeping")
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.ocpp_schema.plugin",
         "-o", "asyncio_default_fixture_loop_scope=function", str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed, 2 passed" in out, out
    assert "FAILED test_child.py::test_bad" in out, out
    assert "1 OCPP 1.6 schema error(s)" in out and "/status must be equal to one of the allowed values" in out, out
