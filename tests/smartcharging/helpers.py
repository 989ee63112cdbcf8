"""Builders for charging profiles in tests (camelCase dicts parsed by the real parser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chargepoint.smartcharging import ChargingProfile

#: A Monday, 08:00 UTC.
T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


def at(seconds: float = 0, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def profile_dict(
    pid: int,
    level: int = 0,
    purpose: str = "TxDefaultProfile",
    periods: list[tuple[int, float]] | list[tuple[int, float, int]] = ((0, 16),),  # type: ignore[assignment]
    *,
    kind: str = "Absolute",
    unit: str = "A",
    start: datetime | None = T0,
    duration: int | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    recurrency: str | None = None,
    tx: int | None = None,
) -> dict:
    sched: dict = {"chargingRateUnit": unit, "chargingSchedulePeriod": []}
    for p in periods:
        pd = {"startPeriod": p[0], "limit": p[1]}
        if len(p) > 2:
            pd["numberPhases"] = p[2]
        sched["chargingSchedulePeriod"].append(pd)
    if duration is not None:
        sched["duration"] = duration
    if start is not None and kind != "Relative":
        sched["startSchedule"] = iso(start)
    d: dict = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": sched,
    }
    if recurrency is not None:
        d["recurrencyKind"] = recurrency
    if valid_from is not None:
        d["validFrom"] = iso(valid_from)
    if valid_to is not None:
        d["validTo"] = iso(valid_to)
    if tx is not None:
        d["transactionId"] = tx
    return d


def prof(
    pid: int, level: int = 0, purpose: str = "TxDefaultProfile", periods=((0, 16),), **kw
) -> ChargingProfile:
    return ChargingProfile.from_dict(profile_dict(pid, level, purpose, list(periods), **kw))


def amps(engine, connector: int, t: datetime, **kw) -> float | None:
    lim = engine.limit(connector, t, **kw)
    return None if lim is None else lim.amps


def periods_of(cs) -> list[tuple[int, float]]:
    return [(p.start_period, float(p.limit)) for p in cs.periods]
