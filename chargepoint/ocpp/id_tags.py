"""IdTagInfo as stored and decided on locally, and the OCPP dateTime helpers of the services.

:class:`AuthInputError` names the field of a payload that cannot be applied (the handlers answer
it with a CALLERROR naming the field).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chargepoint.errors import FieldError
from chargepoint.ocpp.errors import format_datetime
from chargepoint.ocpp.errors import parse_rfc3339 as _strict_rfc3339

ACCEPTED = "Accepted"
VALID_STATUSES = {"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"}


class AuthInputError(FieldError):
    """A SendLocalList payload that cannot be applied; ``field`` names the offending field."""


def parse_rfc3339(text: Any, field: str) -> datetime:
    """Parse an OCPP dateTime (strict RFC 3339 with an offset); raise AuthInputError naming ``field``."""
    try:
        return _strict_rfc3339(text)
    except (ValueError, TypeError) as exc:
        raise AuthInputError(field, str(exc)) from None


def format_rfc3339(value: datetime) -> str:
    return format_datetime(value)


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """An IdTagInfo as stored locally (camelCase dict on the wire)."""

    status: str
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None

    @classmethod
    def from_wire(cls, info: dict[str, Any], field: str = "idTagInfo") -> IdTagInfo:
        """From a camelCase or snake_case dict (the library hands handlers snake_case)."""
        if not isinstance(info, dict):
            raise AuthInputError(field, "must be an object")
        status = info.get("status")
        if status not in VALID_STATUSES:
            raise AuthInputError(f"{field}.status", f"unknown authorization status {status!r}")
        expiry_raw = info.get("expiryDate", info.get("expiry_date"))
        expiry = parse_rfc3339(expiry_raw, f"{field}.expiryDate") if expiry_raw is not None else None
        parent = info.get("parentIdTag", info.get("parent_id_tag"))
        if parent is not None and (not isinstance(parent, str) or len(parent) > 20):
            raise AuthInputError(f"{field}.parentIdTag", "must be a string of at most 20 characters")
        return cls(status=str(status), expiry_date=expiry, parent_id_tag=parent)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.expiry_date is not None:
            out["expiryDate"] = format_rfc3339(self.expiry_date)
        if self.parent_id_tag is not None:
            out["parentIdTag"] = self.parent_id_tag
        return out

    def effective(self, now: datetime) -> IdTagInfo:
        """This info as it stands at ``now``: an Accepted entry past its expiry becomes Expired."""
        if self.status == ACCEPTED and self.expiry_date is not None and self.expiry_date <= now:
            return IdTagInfo("Expired", self.expiry_date, self.parent_id_tag)
        return self

    @property
    def valid(self) -> bool:
        return self.status == ACCEPTED
