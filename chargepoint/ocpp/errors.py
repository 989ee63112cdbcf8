"""Protocol-edge fixes on top of the ``ocpp`` library (see docs reference §1.2, §1.4).

* unknown action -> NotImplemented, known 1.6 action without a handler -> NotSupported (OCPP-J
  table 7; the library has them swapped);
* schema ``FormatViolation`` -> the 1.6J name ``FormationViolation``; error details reduced to the
  cause (no payload echo);
* strict RFC 3339 ``date-time`` checks (the library's schemas do not check formats);
* ``Decimal`` -> ``float`` for numbers the library parsed as Decimal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chargepoint.ocpp.library import (
    Action,
    FormationViolationError,
    FormatViolationError,
    NotSupportedError,
    OCPPError,
    OcppNotImplementedError,
    TypeConstraintViolationError,
)

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)

#: camelCase keys of OCPP 1.6 payloads (incl. nested objects) that hold a date-time.
DATETIME_KEYS = frozenset({
    "timestamp", "expiryDate", "startSchedule", "validFrom", "validTo", "retrieveDate", "startTime",
    "stopTime", "currentTime", "scheduleStart",
})


class ResponseError(Exception):
    """The CSMS's CALLRESULT was unusable (schema failure other than unknown fields)."""


def parse_rfc3339(text: str) -> datetime:
    """Parse a strict RFC 3339 date-time (offset required); raises ValueError with the reason."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    t = text.replace("z", "Z").replace("t", "T")
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    m = re.match(r"^(.*?)(\.\d+)?([+-]\d{2}:\d{2})$", t)
    assert m is not None
    frac = (m.group(2) or "")[:7].ljust(7, "0") if m.group(2) else ""
    dt = datetime.fromisoformat(m.group(1) + (frac if frac else "") + m.group(3))
    return dt.astimezone(UTC)


def format_datetime(dt: datetime) -> str:
    """OCPP timestamp: UTC, millisecond precision, 'Z'.  (Not strftime: a fleet formats hundreds of
    these a second, and strftime costs about three times as much.)"""
    u = dt if dt.tzinfo is UTC else dt.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 (the fastest of the formats here)
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond // 1000)


def check_datetimes(payload: Any, path: str = "") -> None:
    """Raise TypeConstraintViolation naming the field when a date-time field is not RFC 3339."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = f"{path}.{key}" if path else key
            if key in DATETIME_KEYS and value is not None:
                try:
                    parse_rfc3339(value)
                except (ValueError, TypeError) as e:
                    raise TypeConstraintViolationError(
                        description=f"{where}: not an RFC 3339 date-time", details={"cause": str(e)}
                    ) from None
            else:
                check_datetimes(value, where)
    elif isinstance(payload, list):
        for i, item in enumerate(payload):
            check_datetimes(item, f"{path}[{i}]")


def unknown_action_error(action: str) -> OCPPError:
    try:
        Action(action)
    except ValueError:
        return OcppNotImplementedError(description=f"Unknown action {action}", details={})
    return NotSupportedError(description=f"{action} is not supported by this charge point", details={})


def normalise_error(error: OCPPError) -> OCPPError:
    """FormatViolation -> FormationViolation; details reduced to a short cause."""
    cause = ""
    if isinstance(error.details, dict):
        cause = str(error.details.get("cause", ""))[:300]
    details = {"cause": cause} if cause else {}
    if isinstance(error, FormatViolationError):
        return FormationViolationError(description=error.description, details=details)
    error.details = details
    return error



def to_float(value: Any) -> Any:
    """Recursively turn Decimals into floats."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: to_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_float(v) for v in value]
    return value
