"""The OCTT 1.6 smart-charging test cases (Charge Point as SUT), reproduced at the engine level.

Each test states what the OCTT case checks; the CSMS messages are given as the dicts the OCPP handler
receives (camelCase on the wire / snake_case from the ``ocpp`` library) and the expected answers are the
statuses and composite schedules the tool validates.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from chargepoint.smartcharging import ChargingProfile, SmartChargingEngine

from .helpers import T0, amps, at, periods_of, profile_dict

CONNECTOR = 1
DEVIATION = 5  # <Configured max time deviation>


@pytest.fixture
def engine() -> SmartChargingEngine:
    return SmartChargingEngine(2, max_current_a=32.0, max_periods=5, max_profiles=3)


def _set(engine, connector, d, now=T0):
    return engine.set_profile(connector, ChargingProfile.from_dict(d), now)


def test_tc_056_central_smart_charging_tx_default_profile(engine):
    """TC_056_CS: the CSMS sets a TxDefaultProfile (Absolute, validFrom/validTo, duration 304, 6 A on one
    phase) before any transaction; the CP accepts it, the following transaction is limited by it, and
    GetCompositeSchedule(connector, 300 s, A) returns that 6 A limit (not an empty/default schedule)."""
    d = profile_dict(
        41,
        0,
        "TxDefaultProfile",
        [(0, 6.0, 1)],
        start=T0,
        duration=304,
        valid_from=T0,
        valid_to=at(308),
    )
    assert _set(engine, CONNECTOR, d).status == "Accepted"
    assert amps(engine, CONNECTOR, at(3)) == 6.0
    cs = engine.composite(CONNECTOR, at(3), 300, "A")
    assert cs.to_json() == {
        "duration": 300,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 1}],
    }
    engine.transaction_started(CONNECTOR, 1, at(10))
    lim = engine.limit(CONNECTOR, at(10), phases=1)
    assert lim.amps == 6.0 and lim.profile_ids == (41,)
    assert engine.next_change(CONNECTOR, at(10)) == at(304)  # duration end: no limit afterwards
    assert engine.limit(CONNECTOR, at(304)) is None


@pytest.mark.parametrize("kind", ["Absolute", "Relative"])
def test_tc_057_central_smart_charging_tx_profile(engine, kind):
    """TC_057_CS: during a transaction the CSMS sends a TxProfile with the transaction's id (Absolute
    with validFrom/validTo/startSchedule/duration, or Relative without startSchedule); the CP accepts it
    and charges by it."""
    engine.install(0, ChargingProfile.from_dict(profile_dict(1, 0, "TxDefaultProfile", [(0, 16)])))
    tx_start = at(-60)
    engine.transaction_started(CONNECTOR, 4711, tx_start)
    snake = {
        "charging_profile_id": 2,
        "transaction_id": 4711,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": kind,
        "charging_schedule": {
            "duration": 300,
            "charging_rate_unit": "A",
            "charging_schedule_period": [
                {"start_period": 0, "limit": Decimal("10.0")},
                {"start_period": 120, "limit": Decimal("8.5")},
            ],
        },
    }
    if kind == "Absolute":
        snake["valid_from"] = "2026-01-05T08:00:00Z"
        snake["valid_to"] = "2026-01-05T09:00:00Z"
        snake["charging_schedule"]["start_schedule"] = "2026-01-05T08:00:00Z"
    assert _set(engine, CONNECTOR, snake).status == "Accepted"
    base = T0 if kind == "Absolute" else tx_start
    assert amps(engine, CONNECTOR, base + timedelta(seconds=119)) == 10.0
    assert amps(engine, CONNECTOR, base + timedelta(seconds=120)) == 8.5
    assert amps(engine, CONNECTOR, base + timedelta(seconds=300)) == 16.0  # TxProfile over -> TxDefault


def test_tc_058_1_central_smart_charging_no_ongoing_transaction(engine):
    """TC_058_1_CS: with no transaction running, a SetChargingProfile carrying a TxProfile with a
    transactionId is Rejected, and nothing is installed."""
    d = profile_dict(3, 0, "TxProfile", [(0, 10)], tx=123)
    verdict = _set(engine, CONNECTOR, d)
    assert verdict.status == "Rejected"
    assert "transaction" in verdict.reason
    assert engine.installed() == []
    assert engine.limit(CONNECTOR, T0) is None


def test_tc_058_2_central_smart_charging_wrong_transaction_id(engine):
    """TC_058_2_CS: during a transaction, a TxProfile whose transactionId is not the running one is
    Rejected; the running transaction keeps its limits."""
    engine.transaction_started(CONNECTOR, 1000, T0)
    verdict = _set(engine, CONNECTOR, profile_dict(3, 0, "TxProfile", [(0, 10)], tx=1001))
    assert verdict.status == "Rejected" and verdict.field == "transactionId"
    assert engine.installed() == []
    assert engine.limit(CONNECTOR, at(1)) is None


def test_tc_059_remote_start_transaction_with_charging_profile(engine):
    """TC_059_CS: RemoteStartTransaction carries a TxProfile (no transactionId); the transaction starts
    and follows it; GetCompositeSchedule(connector, duration, unit) is Accepted with that duration and
    unit, scheduleStart = the request time, and the periods of the profile."""
    remote = {
        "charging_profile_id": 9,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [
                {"start_period": 0, "limit": Decimal("6.0"), "number_phases": 3},
                {"start_period": 60, "limit": Decimal("12.0"), "number_phases": 3},
            ],
        },
    }
    assert engine.bind_pending_tx_profile(CONNECTOR, ChargingProfile.from_dict(remote)).status == "Accepted"
    assert engine.limit(CONNECTOR, T0) is None  # not before the transaction exists
    start = at(30)  # StartTransaction.conf arrives with the id
    assert engine.transaction_started(CONNECTOR, 555, start) == [9]
    assert engine.profile(9).profile.transaction_id == 555
    assert amps(engine, CONNECTOR, start) == 6.0
    request_time = start + timedelta(seconds=20)
    cs = engine.composite(CONNECTOR, request_time, 120, "A")
    resp = cs.response()
    assert resp["status"] == "Accepted" and resp["connectorId"] == CONNECTOR
    assert resp["scheduleStart"] == "2026-01-05T08:00:50Z"
    assert resp["chargingSchedule"]["duration"] == 120
    assert resp["chargingSchedule"]["chargingRateUnit"] == "A"
    assert periods_of(cs) == [(0, 6.0), (40, 12.0)]
    # a later SetChargingProfile for that transaction with the same stackLevel replaces it
    assert _set(engine, CONNECTOR, profile_dict(10, 0, "TxProfile", [(0, 7)], tx=555)).accepted
    assert [i.profile.id for i in engine.installed()] == [10]
    assert engine.transaction_ended(CONNECTOR) == [10]


def test_tc_060_remote_start_transaction_with_charging_profile_rejected(engine):
    """TC_060_CS: RemoteStartTransaction with a chargingProfile whose purpose is NOT TxProfile is
    Rejected; nothing is kept for the next transaction."""
    for purpose in ("TxDefaultProfile", "ChargePointMaxProfile"):
        p = ChargingProfile.from_dict(profile_dict(9, 0, purpose, [(0, 6)]))
        verdict = engine.bind_pending_tx_profile(CONNECTOR, p)
        assert verdict.status == "Rejected" and verdict.field == "chargingProfilePurpose"
    assert engine.pending_tx_profile(CONNECTOR) is None
    assert engine.transaction_started(CONNECTOR, 1, T0) == []
    assert engine.installed() == []


def _tc_066_profiles(unit: str, scale: int) -> list[tuple[int, dict]]:
    start = at(-DEVIATION)
    return [
        (
            0,
            profile_dict(
                1,
                0,
                "ChargePointMaxProfile",
                [(0, 10 * scale, 3)],
                unit=unit,
                start=start,
                duration=86400 + DEVIATION,
            ),
        ),
        (
            CONNECTOR,
            profile_dict(
                2,
                0,
                "TxDefaultProfile",
                [(0, 6 * scale, 3), (80, 10 * scale, 3), (200, 8 * scale, 3)],
                unit=unit,
                start=start,
                duration=300 + DEVIATION,
            ),
        ),
        (
            CONNECTOR,
            profile_dict(
                3,
                0,
                "TxProfile",
                [
                    (0, 8 * scale, 3),
                    (50, 11 * scale, 3),
                    (140, 16 * scale, 3),
                    (200, 6 * scale, 3),
                    (240, 12 * scale, 3),
                ],
                unit=unit,
                start=start,
                duration=260 + DEVIATION,
                tx=77,
            ),
        ),
    ]


@pytest.mark.parametrize(("unit", "scale"), [("A", 1), ("W", 1000)])
def test_tc_066_get_composite_schedule(engine, unit, scale):
    """TC_066_CS: ChargePointMaxProfile (connector 0, 10), TxDefaultProfile and TxProfile (5 periods) are
    set, then GetCompositeSchedule(connector, 400 s, unit) must return the minimum of the station cap and
    TxProfile-else-TxDefault per interval, with duration 400, the unit asked for, scheduleStart = now.
    (In W the OCTT multiplies the limits by 1000; the W values come back exactly.)"""
    engine.transaction_started(CONNECTOR, 77, at(-100))
    for connector, d in _tc_066_profiles(unit, scale):
        assert _set(engine, connector, d).status == "Accepted"
    cs = engine.composite(CONNECTOR, T0, 400, unit)
    assert cs.duration == 400 and cs.unit == unit and cs.schedule_start == T0
    # all schedules started 5 s before the request:
    # 0..45 Tx 8 | 45..135 min(11, 10) | 135..195 min(16, 10) | 195..235 Tx 6 | 235..260 min(12, 10)
    # 260..300 TxProfile over -> TxDefault period 200 = 8 | 300.. TxDefault over -> the cap 10
    expected = [(0, 8), (45, 10), (195, 6), (235, 10), (260, 8), (300, 10)]
    assert periods_of(cs) == [(s, float(v * scale)) for s, v in expected]
    assert all(p.number_phases == 3 for p in cs.periods)


def test_tc_067_clear_charging_profile(engine):
    """TC_067_CS: a TxDefaultProfile (stack 1, 6/8/10 A at 0/60/200 s) is set and cleared in the ways
    ClearChargingProfile allows (by id; by connector + purpose + stackLevel; with no criteria); each clear
    is Accepted and the following GetCompositeSchedule shows no limit from it any more; a clear that
    matches nothing answers Unknown (= nothing removed)."""
    d = profile_dict(
        5, 1, "TxDefaultProfile", [(0, 6), (60, 8), (200, 10)], start=at(-DEVIATION), duration=400 + DEVIATION
    )
    unlimited = [(0, 32.0)]
    limited = [(0, 6.0), (55, 8.0), (195, 10.0), (400, 32.0)]

    assert _set(engine, CONNECTOR, d).accepted
    assert periods_of(engine.composite(CONNECTOR, T0, 400)) == limited[:3]
    assert engine.clear(id=5) == [5]
    assert periods_of(engine.composite(CONNECTOR, T0, 400)) == unlimited

    assert _set(engine, CONNECTOR, d).accepted
    assert engine.clear(connector_id=CONNECTOR, purpose="TxProfile", stack_level=1) == []  # -> Unknown
    assert engine.clear(connector_id=CONNECTOR, purpose="TxDefaultProfile", stack_level=1) == [5]
    assert periods_of(engine.composite(CONNECTOR, T0, 400)) == unlimited

    assert _set(engine, CONNECTOR, d).accepted
    assert engine.clear() == [5]
    assert periods_of(engine.composite(CONNECTOR, T0, 400)) == unlimited
    assert engine.clear(id=5) == []  # -> Unknown


def test_tc_072_stacking_charging_profiles(engine):
    """TC_072_CS: two TxDefaultProfiles on the connector, stack 0 (6/8/10 A at 0/100/200 s, duration 400)
    and stack 1 (duration 150); the composite schedule follows stack 1 while it lasts and stack 0 after
    (fall-through at the duration end)."""
    vf, vt = at(-DEVIATION), at(DEVIATION + 401)
    p0 = profile_dict(
        11,
        0,
        "TxDefaultProfile",
        [(0, 6), (100, 8), (200, 10)],
        start=at(-DEVIATION),
        duration=400 + DEVIATION,
        valid_from=vf,
        valid_to=vt,
    )
    p1 = profile_dict(
        12,
        1,
        "TxDefaultProfile",
        [(0, 10), (100, 7)],
        start=at(-DEVIATION),
        duration=150 + DEVIATION,
        valid_from=vf,
        valid_to=vt,
    )
    assert _set(engine, CONNECTOR, p0).accepted and _set(engine, CONNECTOR, p1).accepted
    cs = engine.composite(CONNECTOR, T0, 350, "A")
    # stack 1: 10 until 95, 7 until 150; then stack 0: period 100 -> 8 until 195, then 10
    assert periods_of(cs) == [(0, 10.0), (95, 7.0), (150, 8.0), (195, 10.0)]


def test_tc_082_tx_default_profile_during_a_transaction(engine):
    """TC_082_CS (errata 3.8): a TxDefaultProfile set or updated while a transaction without TxProfile is
    running applies to that transaction at once; clearing it lets the transaction continue unlimited.
    A transaction with its own TxProfile is not affected."""
    engine.transaction_started(CONNECTOR, 1, at(-600))
    engine.transaction_started(2, 2, at(-600))
    engine.install(2, ChargingProfile.from_dict(profile_dict(20, 0, "TxProfile", [(0, 12)])))
    assert engine.limit(CONNECTOR, T0) is None
    assert _set(engine, 0, profile_dict(21, 0, "TxDefaultProfile", [(0, 10)])).accepted
    assert amps(engine, CONNECTOR, T0) == 10.0
    assert amps(engine, 2, T0) == 12.0  # TxProfile wins
    assert _set(engine, 0, profile_dict(21, 0, "TxDefaultProfile", [(0, 7)])).accepted  # update
    assert amps(engine, CONNECTOR, T0) == 7.0
    assert engine.clear(id=21) == [21]
    assert engine.limit(CONNECTOR, T0) is None
    assert amps(engine, 2, T0) == 12.0
