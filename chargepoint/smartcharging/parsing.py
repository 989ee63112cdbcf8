"""One parser for charging profiles in both spellings, and the camelCase serialiser.

* camelCase dicts as on the wire / as persisted (``chargingProfileId``, ``chargingSchedule`` ...);
* snake_case dicts as the ``ocpp`` library hands them to ``@on`` handlers (``charging_profile_id``,
  nested ``charging_schedule`` ...), where ``limit`` / ``minChargingRate`` are Decimal.

Structural errors (missing field, wrong type, unknown enum word, unknown key, a limit with more than one
decimal, negative stackLevel / startPeriod / duration) raise :class:`ProfileError` naming the field by its
camelCase path.  Policy rules (purpose vs connector, limits, period order) are checked by the engine.
A JSON ``null`` is treated as an absent optional field.  Naive datetimes are taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from chargepoint.smartcharging.model import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    ProfileError,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

E = TypeVar("E", bound=StrEnum)

_PROFILE_KEYS = {
    "chargingProfileId": "charging_profile_id",
    "stackLevel": "stack_level",
    "chargingProfilePurpose": "charging_profile_purpose",
    "chargingProfileKind": "charging_profile_kind",
    "recurrencyKind": "recurrency_kind",
    "validFrom": "valid_from",
    "validTo": "valid_to",
    "transactionId": "transaction_id",
    "chargingSchedule": "charging_schedule",
}
_SCHEDULE_KEYS = {
    "duration": "duration",
    "startSchedule": "start_schedule",
    "chargingRateUnit": "charging_rate_unit",
    "chargingSchedulePeriod": "charging_schedule_period",
    "minChargingRate": "min_charging_rate",
}
_PERIOD_KEYS = {"startPeriod": "start_period", "limit": "limit", "numberPhases": "number_phases"}


def _normalise(data: object, keys: dict[str, str], path: str) -> dict[str, Any]:
    """Return ``data`` keyed by camelCase names; accept either spelling, reject unknown keys."""
    where = path or "csChargingProfiles"
    if not isinstance(data, dict):
        raise ProfileError(where, f"must be an object, got {type(data).__name__}")
    snake_to_camel = {v: k for k, v in keys.items()}
    out: dict[str, Any] = {}
    for key, value in data.items():
        camel = key if key in keys else snake_to_camel.get(key)
        if camel is None:
            raise ProfileError(f"{path}.{key}" if path else str(key), "unknown field")
        if camel in out and out[camel] is not None and value is not None:
            raise ProfileError(f"{path}.{camel}" if path else camel, "given twice (camelCase and snake_case)")
        if value is not None or camel not in out:
            out[camel] = value
    return {k: v for k, v in out.items() if v is not None}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _int(
    d: dict[str, Any], name: str, path: str, *, required: bool, minimum: int | None = None
) -> int | None:
    field = _join(path, name)
    if name not in d:
        if required:
            raise ProfileError(field, "required")
        return None
    value = d[name]
    if isinstance(value, bool):
        raise ProfileError(field, "must be an integer")
    if isinstance(value, float | Decimal):
        if value != int(value):
            raise ProfileError(field, f"must be an integer, got {value}")
        value = int(value)
    if not isinstance(value, int):
        raise ProfileError(field, f"must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ProfileError(field, f"must be >= {minimum}, got {value}")
    return value


def _decimal(d: dict[str, Any], name: str, path: str, *, required: bool) -> Decimal | None:
    field = _join(path, name)
    if name not in d:
        if required:
            raise ProfileError(field, "required")
        return None
    value = d[name]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ProfileError(field, f"must be a number, got {type(value).__name__}")
    try:
        dec = (
            value
            if isinstance(value, Decimal)
            else Decimal(repr(value) if isinstance(value, float) else value)
        )
    except InvalidOperation as exc:  # pragma: no cover - repr of a float always parses
        raise ProfileError(field, f"not a number: {value!r}") from exc
    if not dec.is_finite():
        raise ProfileError(field, f"must be finite, got {value}")
    if (dec * 10) % 1 != 0:
        raise ProfileError(field, f"at most one decimal allowed, got {value}")
    return dec


def _enum(d: dict[str, Any], name: str, path: str, enum: type[E], *, required: bool) -> E | None:
    field = _join(path, name)
    if name not in d:
        if required:
            raise ProfileError(field, "required")
        return None
    value = d[name]
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ProfileError(field, f"invalid value {value!r} (allowed: {allowed})") from None


def parse_datetime(value: object, field: str) -> datetime:
    """ISO 8601 string (``Z`` or offset; naive = UTC) or datetime -> aware UTC datetime."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ProfileError(field, f"not an ISO 8601 date-time: {value!r}") from None
    else:
        raise ProfileError(field, f"must be a date-time string, got {type(value).__name__}")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _time(d: dict[str, Any], name: str, path: str) -> datetime | None:
    if name not in d:
        return None
    return parse_datetime(d[name], _join(path, name))


def parse_schedule(data: object, path: str = "chargingSchedule") -> ChargingSchedule:
    d = _normalise(data, _SCHEDULE_KEYS, path)
    unit = _enum(d, "chargingRateUnit", path, RateUnit, required=True)
    raw_periods = d.get("chargingSchedulePeriod")
    ppath = _join(path, "chargingSchedulePeriod")
    if raw_periods is None:
        raise ProfileError(ppath, "required")
    if not isinstance(raw_periods, list | tuple):
        raise ProfileError(ppath, "must be an array")
    if not raw_periods:
        raise ProfileError(ppath, "must contain at least one period")
    periods = []
    for i, raw in enumerate(raw_periods):
        p = f"{ppath}[{i}]"
        pd = _normalise(raw, _PERIOD_KEYS, p)
        start = _int(pd, "startPeriod", p, required=True, minimum=0)
        limit = _decimal(pd, "limit", p, required=True)
        phases = _int(pd, "numberPhases", p, required=False)
        assert start is not None and limit is not None
        periods.append(SchedulePeriod(start, limit, phases))
    assert unit is not None
    return ChargingSchedule(
        charging_rate_unit=unit,
        periods=tuple(periods),
        duration=_int(d, "duration", path, required=False, minimum=0),
        start_schedule=_time(d, "startSchedule", path),
        min_charging_rate=_decimal(d, "minChargingRate", path, required=False),
    )


def parse_profile(data: object) -> ChargingProfile:
    """Parse one ChargingProfile (csChargingProfiles / chargingProfile) in either spelling."""
    if isinstance(data, ChargingProfile):
        return data
    d = _normalise(data, _PROFILE_KEYS, "")
    pid = _int(d, "chargingProfileId", "", required=True)
    level = _int(d, "stackLevel", "", required=True, minimum=0)
    purpose = _enum(d, "chargingProfilePurpose", "", Purpose, required=True)
    kind = _enum(d, "chargingProfileKind", "", Kind, required=True)
    recurrency = _enum(d, "recurrencyKind", "", Recurrency, required=False)
    if "chargingSchedule" not in d:
        raise ProfileError("chargingSchedule", "required")
    schedule = parse_schedule(d["chargingSchedule"])
    assert pid is not None and level is not None and purpose is not None and kind is not None
    if kind is Kind.RECURRING and recurrency is None:
        raise ProfileError("recurrencyKind", "required when chargingProfileKind is Recurring")
    return ChargingProfile(
        id=pid,
        stack_level=level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        recurrency_kind=recurrency,
        valid_from=_time(d, "validFrom", ""),
        valid_to=_time(d, "validTo", ""),
        transaction_id=_int(d, "transactionId", "", required=False),
    )


# --------------------------------------------------------------------------- serialising


def format_datetime(dt: datetime) -> str:
    """Aware datetime -> ISO 8601 UTC with ``Z`` (microseconds only when non-zero, so it round-trips)."""
    dt = dt.astimezone(UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def schedule_to_json(s: ChargingSchedule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.duration is not None:
        out["duration"] = s.duration
    if s.start_schedule is not None:
        out["startSchedule"] = format_datetime(s.start_schedule)
    out["chargingRateUnit"] = s.charging_rate_unit.value
    periods = []
    for p in s.periods:
        pj: dict[str, Any] = {"startPeriod": p.start_period, "limit": _number(p.limit)}
        if p.number_phases is not None:
            pj["numberPhases"] = p.number_phases
        periods.append(pj)
    out["chargingSchedulePeriod"] = periods
    if s.min_charging_rate is not None:
        out["minChargingRate"] = _number(s.min_charging_rate)
    return out


def profile_to_json(p: ChargingProfile) -> dict[str, Any]:
    out: dict[str, Any] = {"chargingProfileId": p.id}
    if p.transaction_id is not None:
        out["transactionId"] = p.transaction_id
    out["stackLevel"] = p.stack_level
    out["chargingProfilePurpose"] = p.purpose.value
    out["chargingProfileKind"] = p.kind.value
    if p.recurrency_kind is not None:
        out["recurrencyKind"] = p.recurrency_kind.value
    if p.valid_from is not None:
        out["validFrom"] = format_datetime(p.valid_from)
    if p.valid_to is not None:
        out["validTo"] = format_datetime(p.valid_to)
    out["chargingSchedule"] = schedule_to_json(p.schedule)
    return out
