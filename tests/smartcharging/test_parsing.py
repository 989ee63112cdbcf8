"""Parser: camelCase and snake_case dicts, Decimal limits, field-named errors, JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chargepoint.smartcharging import ChargingProfile, Kind, ProfileError, Purpose, RateUnit, Recurrency

WIRE = {
    "chargingProfileId": 41,
    "transactionId": 7,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "validFrom": "2024-08-22T01:55:10Z",
    "validTo": "2024-08-29T02:00:18Z",
    "chargingSchedule": {
        "duration": 86400,
        "startSchedule": "2024-08-22T01:55:10Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 11000, "numberPhases": 3},
            {"startPeriod": 3600, "limit": 3680.5, "numberPhases": 1},
            {"startPeriod": 7200, "limit": 0},
        ],
        "minChargingRate": 1380.5,
    },
}

SNAKE = {
    "charging_profile_id": 41,
    "transaction_id": 7,
    "stack_level": 2,
    "charging_profile_purpose": "TxProfile",
    "charging_profile_kind": "Recurring",
    "recurrency_kind": "Daily",
    "valid_from": "2024-08-22T01:55:10Z",
    "valid_to": "2024-08-29T02:00:18Z",
    "charging_schedule": {
        "duration": 86400,
        "start_schedule": "2024-08-22T01:55:10Z",
        "charging_rate_unit": "W",
        "charging_schedule_period": [
            {"start_period": 0, "limit": Decimal("11000"), "number_phases": 3},
            {"start_period": 3600, "limit": Decimal("3680.5"), "number_phases": 1},
            {"start_period": 7200, "limit": Decimal("0.0")},
        ],
        "min_charging_rate": Decimal("1380.5"),
    },
}


def test_camel_case_parses_every_field():
    p = ChargingProfile.from_dict(WIRE)
    assert p.id == 41 and p.transaction_id == 7 and p.stack_level == 2
    assert p.purpose is Purpose.TX and p.kind is Kind.RECURRING and p.recurrency_kind is Recurrency.DAILY
    assert p.valid_from == datetime(2024, 8, 22, 1, 55, 10, tzinfo=UTC)
    assert p.valid_to == datetime(2024, 8, 29, 2, 0, 18, tzinfo=UTC)
    s = p.schedule
    assert s.duration == 86400 and s.charging_rate_unit is RateUnit.W
    assert s.start_schedule == datetime(2024, 8, 22, 1, 55, 10, tzinfo=UTC)
    assert [(q.start_period, q.limit, q.number_phases) for q in s.periods] == [
        (0, Decimal("11000"), 3),
        (3600, Decimal("3680.5"), 1),
        (7200, Decimal("0"), None),
    ]
    assert s.min_charging_rate == Decimal("1380.5")


def test_snake_case_with_decimals_equals_camel_case():
    assert ChargingProfile.from_dict(SNAKE) == ChargingProfile.from_dict(WIRE)


def test_to_json_round_trips_the_wire_form():
    p = ChargingProfile.from_dict(WIRE)
    assert p.to_json() == WIRE
    assert ChargingProfile.from_dict(p.to_json()) == p


def test_round_trip_keeps_microseconds_and_offsets():
    d = dict(WIRE, validFrom="2024-08-22T03:55:10.4265487+02:00")
    p = ChargingProfile.from_dict(d)
    assert p.valid_from == datetime(2024, 8, 22, 1, 55, 10, 426548, tzinfo=UTC)
    assert ChargingProfile.from_dict(p.to_json()) == p


def test_naive_datetime_is_taken_as_utc():
    d = dict(WIRE, validFrom="2023-05-15T17:00:00")
    assert ChargingProfile.from_dict(d).valid_from == datetime(2023, 5, 15, 17, tzinfo=UTC)


def test_nulls_are_absent_optional_fields():
    d = dict(WIRE, validTo=None, transactionId=None)
    p = ChargingProfile.from_dict(d)
    assert p.valid_to is None and p.transaction_id is None


def _with(path: list, value, base=WIRE) -> dict:
    import copy

    d = copy.deepcopy(base)
    target = d
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["chargingProfileId"], KeyError, "chargingProfileId"),
        (["chargingProfileId"], "41", "chargingProfileId"),
        (["chargingProfileId"], True, "chargingProfileId"),
        (["stackLevel"], -1, "stackLevel"),
        (["chargingProfilePurpose"], "TxDefault", "chargingProfilePurpose"),
        (["chargingProfileKind"], "absolute", "chargingProfileKind"),
        (["recurrencyKind"], KeyError, "recurrencyKind"),
        (["recurrencyKind"], "Monthly", "recurrencyKind"),
        (["validFrom"], "not-a-date", "validFrom"),
        (["validTo"], 12, "validTo"),
        (["chargingSchedule"], KeyError, "chargingSchedule"),
        (["chargingSchedule"], [], "chargingSchedule"),
        (["vendorField"], 1, "vendorField"),
        (["chargingSchedule", "chargingRateUnit"], "kW", "chargingSchedule.chargingRateUnit"),
        (["chargingSchedule", "chargingRateUnit"], KeyError, "chargingSchedule.chargingRateUnit"),
        (["chargingSchedule", "duration"], -5, "chargingSchedule.duration"),
        (["chargingSchedule", "duration"], 1.5, "chargingSchedule.duration"),
        (["chargingSchedule", "minChargingRate"], 1.25, "chargingSchedule.minChargingRate"),
        (["chargingSchedule", "chargingSchedulePeriod"], [], "chargingSchedule.chargingSchedulePeriod"),
        (["chargingSchedule", "chargingSchedulePeriod"], KeyError, "chargingSchedule.chargingSchedulePeriod"),
        (
            ["chargingSchedule", "chargingSchedulePeriod", 1, "limit"],
            7.25,
            "chargingSchedule.chargingSchedulePeriod[1].limit",
        ),
        (
            ["chargingSchedule", "chargingSchedulePeriod", 1, "limit"],
            "7",
            "chargingSchedule.chargingSchedulePeriod[1].limit",
        ),
        (
            ["chargingSchedule", "chargingSchedulePeriod", 1, "limit"],
            float("nan"),
            "chargingSchedule.chargingSchedulePeriod[1].limit",
        ),
        (
            ["chargingSchedule", "chargingSchedulePeriod", 2, "startPeriod"],
            KeyError,
            "chargingSchedule.chargingSchedulePeriod[2].startPeriod",
        ),
        (
            ["chargingSchedule", "chargingSchedulePeriod", 0, "startPeriod"],
            -1,
            "chargingSchedule.chargingSchedulePeriod[0].startPeriod",
        ),
        (
            ["chargingSchedule", "chargingSchedulePeriod", 0, "phases"],
            3,
            "chargingSchedule.chargingSchedulePeriod[0].phases",
        ),
        (["chargingSchedule", "chargingSchedulePeriod", 0], 5, "chargingSchedule.chargingSchedulePeriod[0]"),
    ],
)
def test_errors_name_the_field(path, value, field):
    with pytest.raises(ProfileError) as info:
        ChargingProfile.from_dict(_with(path, value))
    assert info.value.field == field
    assert field in str(info.value)


def test_not_an_object():
    with pytest.raises(ProfileError) as info:
        ChargingProfile.from_dict([1, 2])
    assert info.value.field == "csChargingProfiles"


def test_limit_float_noise_and_trailing_zeros_accepted():
    d = _with(["chargingSchedule", "chargingSchedulePeriod", 0, "limit"], 6.000000)
    assert ChargingProfile.from_dict(d).schedule.periods[0].limit == Decimal("6")
    d = _with(["chargingSchedule", "chargingSchedulePeriod", 0, "limit"], Decimal("6.10"))
    assert ChargingProfile.from_dict(d).schedule.periods[0].limit == Decimal("6.1")
