"""Charging-profile value types (OCPP 1.6 ChargingProfile / ChargingSchedule).

Every type is an immutable dataclass.  Limits are kept as :class:`~decimal.Decimal` exactly as they
arrived (the ``ocpp`` library hands them over as Decimal, JSON gives int/float); all times are aware
UTC datetimes.  Parsing from wire dicts and serialising back lives in :mod:`.parsing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chargepoint.errors import FieldError


class ProfileError(FieldError):
    """A charging profile (or a request about one) is invalid.  ``field`` names the offending field
    with its wire (camelCase) path, e.g. ``chargingSchedule.chargingSchedulePeriod[1].limit``."""


class Purpose(StrEnum):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    A = "A"  # current per phase
    W = "W"  # total power


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_period: int  # seconds from the start of the schedule
    limit: Decimal  # in the schedule's unit (A per phase or W total)
    number_phases: int | None = None  # None: not given (3 is assumed for conversions)


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    charging_rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    duration: int | None = None  # seconds; None = no end
    start_schedule: datetime | None = None
    min_charging_rate: Decimal | None = None  # a hint only, never a floor


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: ChargingSchedule
    recurrency_kind: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = None

    @classmethod
    def from_dict(cls, data: object) -> ChargingProfile:
        """Parse a camelCase (wire) or snake_case (``ocpp`` handler) dict; raises :class:`ProfileError`."""
        from chargepoint.smartcharging.parsing import parse_profile

        return parse_profile(data)

    def to_json(self) -> dict[str, Any]:
        """camelCase dict as on the wire (JSON-serialisable: limits as int/float, times ISO 8601 Z)."""
        from chargepoint.smartcharging.parsing import profile_to_json

        return profile_to_json(self)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Answer of :meth:`SmartChargingEngine.check`: ``accepted`` or not, with the reason and the field."""

    accepted: bool
    reason: str = ""
    field: str = ""

    @property
    def status(self) -> str:
        """OCPP ChargingProfileStatus / RemoteStartStopStatus word."""
        return "Accepted" if self.accepted else "Rejected"


ACCEPTED = Verdict(True)


def rejected(field: str, reason: str) -> Verdict:
    return Verdict(False, f"{field}: {reason}", field)
