"""What the test CSMS answers: boot result, intervals, idTag list, delays, forced errors, offline.

Plain data with validation.  :meth:`Behaviour.update` applies a JSON-style dict (the body of
``POST /api/behaviour``) and raises :class:`BehaviourError` naming the offending field; nothing is
changed when any field is bad.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from chargepoint.errors import FieldError

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
TAG_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")

#: OCPP-J 1.6 Table 7 error codes a forced CALLERROR may use.
ERROR_CODES = (
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
)

#: Every CP->CSMS action of OCPP 1.6 (core + security whitepaper notifications) that we answer.
CP_ACTIONS = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    "SecurityEventNotification",
    "LogStatusNotification",
    "SignedFirmwareStatusNotification",
    "SignCertificate",
)


class BehaviourError(FieldError):
    """A behaviour field is invalid; ``field`` names it."""


@dataclass
class ForcedError:
    """Answer the next ``count`` CALLs of an action with this CALLERROR."""

    code: str
    count: int = 1
    description: str = "forced by the test CSMS"


@dataclass
class Behaviour:
    boot_status: str = "Accepted"
    #: BootNotification.conf interval when Accepted (= heartbeat interval).
    heartbeat_interval: int = 300
    #: BootNotification.conf interval when Pending/Rejected (minimum wait before the next boot).
    boot_retry_interval: int = 60
    #: idTag -> status.  None accepts every tag; otherwise an unknown tag is Invalid.
    whitelist: dict[str, str] | None = None
    #: action -> seconds to wait before answering.
    delays: dict[str, float] = field(default_factory=dict)
    #: action -> forced CALLERROR for the next N calls.
    errors: dict[str, ForcedError] = field(default_factory=dict)
    #: DataTransfer.conf status (Accepted, Rejected, UnknownMessageId, UnknownVendorId).
    data_transfer_status: str = "Accepted"
    #: Seconds to wait for a charge point's answer to our CALL.
    call_timeout: float = 30.0
    #: SignCertificate.conf status; when Accepted and ``auto_sign_csr``, the CSMS signs the CSR with
    #: its test CA and sends CertificateSigned right after its answer.
    sign_certificate_status: str = "Accepted"
    auto_sign_csr: bool = True

    # -- queries used by the handlers ---------------------------------------------------------
    def tag_status(self, id_tag: str) -> str:
        if self.whitelist is None:
            return "Accepted"
        return self.whitelist.get(id_tag, "Invalid")

    def take_forced_error(self, action: str) -> ForcedError | None:
        forced = self.errors.get(action)
        if forced is None:
            return None
        forced.count -= 1
        if forced.count <= 0:
            del self.errors[action]
        return ForcedError(forced.code, 1, forced.description)

    def delay_for(self, action: str) -> float:
        return self.delays.get(action, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "boot_status": self.boot_status,
            "heartbeat_interval": self.heartbeat_interval,
            "boot_retry_interval": self.boot_retry_interval,
            "whitelist": None if self.whitelist is None else dict(self.whitelist),
            "delays": dict(self.delays),
            "errors": {
                a: {"code": e.code, "count": e.count, "description": e.description} for a, e in self.errors.items()
            },
            "data_transfer_status": self.data_transfer_status,
            "call_timeout": self.call_timeout,
            "sign_certificate_status": self.sign_certificate_status,
            "auto_sign_csr": self.auto_sign_csr,
        }

    # -- changes --------------------------------------------------------------------------------
    def update(self, changes: Any) -> None:
        """Apply a dict of changes atomically; ``offline_seconds`` is handled by the server.

        Keys: boot_status, heartbeat_interval, boot_retry_interval, whitelist (list of tags, or
        {tag: status}, or null = accept all), whitelist_add ({tag: status}), whitelist_remove
        ([tags]), delays ({action: seconds}, replaces), delay ({action: seconds}, merges),
        errors ({action: {code, count, description}} replaces; {action: null} clears one),
        data_transfer_status, call_timeout, sign_certificate_status, auto_sign_csr.
        """
        if not isinstance(changes, dict):
            raise BehaviourError("body", "must be a JSON object")
        new = copy.deepcopy(self)
        known = {
            "boot_status", "heartbeat_interval", "boot_retry_interval", "whitelist", "whitelist_add",
            "whitelist_remove", "delays", "delay", "errors", "data_transfer_status", "call_timeout",
            "offline_seconds", "sign_certificate_status", "auto_sign_csr",
        }
        for key in changes:
            if key not in known:
                raise BehaviourError(str(key), f"unknown behaviour field (known: {', '.join(sorted(known))})")
        if "boot_status" in changes:
            new.boot_status = parse_boot_status(changes["boot_status"], "boot_status")
        if "heartbeat_interval" in changes:
            new.heartbeat_interval = _non_negative_int(changes["heartbeat_interval"], "heartbeat_interval")
        if "boot_retry_interval" in changes:
            new.boot_retry_interval = _non_negative_int(changes["boot_retry_interval"], "boot_retry_interval")
        if "whitelist" in changes:
            new.whitelist = parse_whitelist(changes["whitelist"], "whitelist")
        if "whitelist_add" in changes:
            added = parse_whitelist(changes["whitelist_add"], "whitelist_add")
            if added is None:
                raise BehaviourError("whitelist_add", "must be a list of tags or an object {tag: status}")
            new.whitelist = {**(new.whitelist or {}), **added}
        if "whitelist_remove" in changes:
            tags = changes["whitelist_remove"]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise BehaviourError("whitelist_remove", "must be a list of idTag strings")
            if new.whitelist is not None:
                for tag in tags:
                    new.whitelist.pop(tag, None)
        if "delays" in changes:
            new.delays = parse_delays(changes["delays"], "delays")
        if "delay" in changes:
            new.delays.update(parse_delays(changes["delay"], "delay"))
        if "errors" in changes:
            errs = changes["errors"]
            if not isinstance(errs, dict):
                raise BehaviourError("errors", "must be an object {action: {code, count}}")
            for action, spec in errs.items():
                if spec is None:
                    new.errors.pop(action, None)
                else:
                    new.errors[action] = parse_forced_error(spec, f"errors.{action}")
        if "data_transfer_status" in changes:
            value = changes["data_transfer_status"]
            allowed = ("Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId")
            if value not in allowed:
                raise BehaviourError("data_transfer_status", f"must be one of {', '.join(allowed)}")
            new.data_transfer_status = value
        if "call_timeout" in changes:
            value = changes["call_timeout"]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise BehaviourError("call_timeout", "must be a positive number of seconds")
            new.call_timeout = float(value)
        if "sign_certificate_status" in changes:
            if changes["sign_certificate_status"] not in ("Accepted", "Rejected"):
                raise BehaviourError("sign_certificate_status", "must be Accepted or Rejected")
            new.sign_certificate_status = changes["sign_certificate_status"]
        if "auto_sign_csr" in changes:
            if not isinstance(changes["auto_sign_csr"], bool):
                raise BehaviourError("auto_sign_csr", "must be true or false")
            new.auto_sign_csr = changes["auto_sign_csr"]
        if "offline_seconds" in changes:
            parse_seconds(changes["offline_seconds"], "offline_seconds")
        self.__dict__.update(new.__dict__)


def parse_boot_status(value: Any, name: str) -> str:
    if isinstance(value, str):
        for status in BOOT_STATUSES:
            if value.lower() == status.lower():
                return status
    raise BehaviourError(name, f"must be one of {', '.join(BOOT_STATUSES)}")


def parse_whitelist(value: Any, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        if not all(isinstance(t, str) and 0 < len(t) <= 20 for t in value):
            raise BehaviourError(name, "must list idTag strings of 1..20 characters")
        return dict.fromkeys(value, "Accepted")
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for tag, status in value.items():
            if not 0 < len(tag) <= 20:
                raise BehaviourError(f"{name}.{tag}", "an idTag has 1..20 characters")
            if status not in TAG_STATUSES:
                raise BehaviourError(f"{name}.{tag}", f"status must be one of {', '.join(TAG_STATUSES)}")
            out[tag] = status
        return out
    raise BehaviourError(name, "must be null, a list of tags or an object {tag: status}")


def parse_delays(value: Any, name: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise BehaviourError(name, "must be an object {action: seconds}")
    return {action: parse_seconds(seconds, f"{name}.{action}") for action, seconds in value.items()}


def parse_forced_error(spec: Any, name: str) -> ForcedError:
    if isinstance(spec, str):
        spec = {"code": spec}
    if not isinstance(spec, dict):
        raise BehaviourError(name, "must be an object {code, count, description} or an error code")
    code = spec.get("code")
    if code not in ERROR_CODES:
        raise BehaviourError(f"{name}.code", f"must be one of {', '.join(ERROR_CODES)}")
    count = spec.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BehaviourError(f"{name}.count", "must be an integer >= 1")
    description = spec.get("description", "forced by the test CSMS")
    if not isinstance(description, str):
        raise BehaviourError(f"{name}.description", "must be a string")
    return ForcedError(code, count, description)


def parse_seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BehaviourError(name, "must be a number of seconds >= 0")
    return float(value)


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BehaviourError(name, "must be an integer >= 0")
    return value
