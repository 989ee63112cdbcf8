"""Result types: the effective :class:`Limit` of a connector and the :class:`CompositeSchedule`.

Rounding rule (both): values are rounded DOWN to 0.1 in their unit and never negative, so what we
report or apply never exceeds what the CSMS allowed, and the composite schedule always passes the
``multipleOf 0.1`` schema check of GetCompositeSchedule.conf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from chargepoint.smartcharging.model import Purpose, RateUnit
from chargepoint.smartcharging.parsing import format_datetime


def round_down_tenth(value: Fraction) -> Decimal:
    """Exact value -> Decimal with one decimal, rounded toward minus infinity, clamped at 0."""
    if value <= 0:
        return Decimal("0.0")
    tenths = math.floor(value * 10)
    return Decimal(tenths).scaleb(-1)


@dataclass(frozen=True, slots=True)
class Limit:
    """Effective limit of a connector at an instant, in A per phase.

    ``amps`` is rounded down to 0.1 A.  ``phases`` is the phase count the binding period is for (the EV's
    phases when the caller passed them).  ``profile_ids`` are the binding profiles (several on a tie; for
    connector 0 without a binding station cap: the connectors' binding profiles).  ``purpose`` is the
    purpose of the first binding profile (None for connector 0's sum of connector limits).
    """

    amps: float
    phases: int
    profile_ids: tuple[int, ...]
    purpose: Purpose | None


@dataclass(frozen=True, slots=True)
class CompositePeriod:
    start_period: int  # seconds from scheduleStart
    limit: Decimal  # one decimal, in the schedule's unit
    number_phases: int


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    connector_id: int
    schedule_start: datetime  # whole seconds
    duration: int
    unit: RateUnit
    periods: tuple[CompositePeriod, ...]

    def limit_at(self, offset_s: float) -> Decimal:
        """The composite limit ``offset_s`` seconds after scheduleStart."""
        current = self.periods[0].limit
        for p in self.periods:
            if p.start_period > offset_s:
                break
            current = p.limit
        return current

    def to_json(self) -> dict[str, Any]:
        """The ``chargingSchedule`` object of GetCompositeSchedule.conf (camelCase; no startSchedule,
        errata 3.57; limits as floats with one decimal)."""
        return {
            "duration": self.duration,
            "chargingRateUnit": self.unit.value,
            "chargingSchedulePeriod": [
                {"startPeriod": p.start_period, "limit": float(p.limit), "numberPhases": p.number_phases}
                for p in self.periods
            ],
        }

    def response(self) -> dict[str, Any]:
        """A complete Accepted GetCompositeSchedule.conf payload (camelCase)."""
        return {
            "status": "Accepted",
            "connectorId": self.connector_id,
            "scheduleStart": format_datetime(self.schedule_start),
            "chargingSchedule": self.to_json(),
        }
