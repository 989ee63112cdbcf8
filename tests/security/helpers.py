"""Helpers of the security-extension tests: CSMS -> CP frames checked against the official schemas
(the charge point's frames are checked by the suite's plugin), security events seen by the CSMS."""

from __future__ import annotations

from typing import Any

from chargepoint.csms import OUT, TestCsms
from tests.ocpp_schema.validator import CSMS_TO_CP, SchemaValidator

SECURITY_ACTIONS = {
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds", "GetLog",
    "InstallCertificate", "SignedUpdateFirmware", "SecurityEventNotification", "SignCertificate",
    "LogStatusNotification", "SignedFirmwareStatusNotification",
}


def check_csms_frames(csms: TestCsms, validator: SchemaValidator) -> int:
    """Validate every security-extension frame the CSMS sent (CALLs and CALLRESULTs); returns the count."""
    checked = 0
    errors: list[str] = []
    for f in csms.frames:
        if f.direction != OUT or f.action not in SECURITY_ACTIONS or f.message_type not in ("CALL", "CALLRESULT"):
            continue
        checked += 1
        errors += validator.validate(f.message_type, f.action, f.payload, CSMS_TO_CP, f.unique_id)
    assert not errors, errors
    return checked


def security_events(csms: TestCsms) -> list[dict[str, Any]]:
    return [n for n in csms.notifications if n["action"] == "SecurityEventNotification"]


def event_types(csms: TestCsms) -> list[str]:
    return [n["type"] for n in security_events(csms)]
