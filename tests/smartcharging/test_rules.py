"""Golden tests of the evaluation rules (OCPP 1.6 3.13 + errata), expected values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargepoint.smartcharging import Purpose, SmartChargingEngine

from .helpers import T0, amps, at, periods_of, prof

H = 3600
DAY = 86400


@pytest.fixture
def engine() -> SmartChargingEngine:
    return SmartChargingEngine(2, max_current_a=32.0)


# ------------------------------------------------------------------ each purpose alone


def test_no_profile_no_limit(engine):
    assert engine.limit(1, T0) is None
    assert engine.next_change(1, T0) is None
    assert periods_of(engine.composite(1, T0, 600)) == [(0, 32.0)]


def test_charge_point_max_alone_caps_every_connector(engine):
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 20)]))
    for c in (1, 2):
        lim = engine.limit(c, at(10))
        assert lim.amps == 20.0 and lim.profile_ids == (1,) and lim.purpose is Purpose.CHARGE_POINT_MAX


def test_tx_default_on_connector_0_applies_to_every_connector(engine):
    engine.install(0, prof(1, 0, "TxDefaultProfile", [(0, 10)]))
    assert amps(engine, 1, at(1)) == 10.0
    assert amps(engine, 2, at(1)) == 10.0


def test_tx_profile_alone(engine):
    engine.transaction_started(1, 77, T0)
    engine.install(1, prof(1, 0, "TxProfile", [(0, 12)]))
    assert engine.installed()[0].profile.transaction_id == 77  # bound to the running transaction
    assert amps(engine, 1, at(5)) == 12.0
    assert engine.limit(2, at(5)) is None


def test_before_start_schedule_the_absolute_profile_does_not_apply(engine):
    engine.install(1, prof(1, 0, periods=[(0, 10)], start=at(100)))
    assert engine.limit(1, at(99)) is None
    assert amps(engine, 1, at(100)) == 10.0
    assert engine.next_change(1, T0) == at(100)


# ------------------------------------------------------------------ stacking


def test_stacking_falls_through_to_lower_level_then_no_limit(engine):
    engine.install(1, prof(1, 0, periods=[(0, 6), (100, 8), (200, 10)], duration=400))
    engine.install(1, prof(2, 1, periods=[(0, 16)], duration=150))
    assert amps(engine, 1, at(0)) == 16.0
    assert amps(engine, 1, at(149)) == 16.0
    assert amps(engine, 1, at(150)) == 8.0  # level 1 over -> level 0, its period 100..200
    assert amps(engine, 1, at(250)) == 10.0
    assert engine.limit(1, at(400)) is None  # level 0 over too -> no limit
    assert periods_of(engine.composite(1, T0, 500)) == [(0, 16.0), (150, 8.0), (200, 10.0), (400, 32.0)]


def test_higher_stack_level_wins_even_when_higher(engine):
    engine.install(0, prof(1, 0, periods=[(0, 6)]))
    engine.install(0, prof(2, 3, periods=[(0, 20)]))
    lim = engine.limit(1, at(1))
    assert lim.amps == 20.0 and lim.profile_ids == (2,)


def test_top_level_without_duration_never_falls_back(engine):
    engine.install(0, prof(1, 0, periods=[(0, 6)]))
    engine.install(0, prof(2, 1, periods=[(0, 20), (60, 18)]))
    assert amps(engine, 1, at(10 * DAY)) == 18.0  # the last period holds forever


def test_tx_profile_overrides_tx_default_and_falls_back_when_over(engine):
    engine.install(0, prof(1, 9, periods=[(0, 6)]))
    engine.transaction_started(1, 5, T0)
    engine.install(1, prof(2, 0, "TxProfile", [(0, 20)], duration=300))
    assert amps(engine, 1, at(10)) == 20.0  # TxProfile beats TxDefault whatever the levels
    assert amps(engine, 1, at(300)) == 6.0  # TxProfile over -> TxDefault
    assert amps(engine, 2, at(10)) == 6.0


def test_connector_tx_default_overrides_connector_0(engine):
    engine.install(0, prof(1, 5, periods=[(0, 6)]))
    engine.install(1, prof(2, 0, periods=[(0, 13)], duration=600))
    assert amps(engine, 1, at(10)) == 13.0  # connector-specific wins despite the lower level
    assert amps(engine, 2, at(10)) == 6.0  # only for that connector
    assert amps(engine, 1, at(600)) == 6.0  # connector's own over -> connector 0's again


def test_min_of_station_cap_and_tx_part(engine):
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 10), (100, 25)]))
    engine.install(0, prof(2, 0, periods=[(0, 16)]))
    lim = engine.limit(1, at(50))
    assert lim.amps == 10.0 and lim.profile_ids == (1,)
    lim = engine.limit(1, at(150))
    assert lim.amps == 16.0 and lim.profile_ids == (2,)
    engine.install(0, prof(3, 1, periods=[(0, 25)]))
    assert engine.limit(1, at(150)).profile_ids == (3, 1)  # a tie: both bind


# ------------------------------------------------------------------ replacement


def test_replacement_by_id_even_on_another_connector(engine):
    assert engine.install(1, prof(7, 0, periods=[(0, 6)])) == []
    assert engine.install(2, prof(7, 3, periods=[(0, 9)])) == [7]
    assert engine.limit(1, at(1)) is None
    assert amps(engine, 2, at(1)) == 9.0


def test_replacement_by_purpose_and_level_on_same_connector(engine):
    engine.install(1, prof(1, 2, periods=[(0, 6)]))
    assert engine.install(2, prof(2, 2, periods=[(0, 7)])) == []  # other connector: stacks
    assert engine.install(1, prof(3, 2, "TxDefaultProfile", [(0, 8)])) == [1]
    assert engine.install(1, prof(4, 1, periods=[(0, 9)])) == []  # other level: stacks
    assert sorted(i.profile.id for i in engine.installed()) == [2, 3, 4]
    assert amps(engine, 1, at(1)) == 8.0


def test_replacement_with_valid_from_in_future_reverts_to_default_until_then(engine):
    engine.install(1, prof(1, 0, periods=[(0, 6)]))
    engine.install(1, prof(2, 0, periods=[(0, 10)], valid_from=at(3600)))
    assert engine.limit(1, at(10)) is None  # the replaced one is gone, the new one not yet valid
    assert engine.next_change(1, at(10)) == at(3600)
    assert amps(engine, 1, at(3600)) == 10.0


def test_valid_from_in_future_falls_through_to_lower_level(engine):
    engine.install(1, prof(1, 0, periods=[(0, 6)]))
    engine.install(1, prof(2, 1, periods=[(0, 10)], valid_from=at(600), valid_to=at(1200)))
    assert amps(engine, 1, at(599)) == 6.0
    assert amps(engine, 1, at(600)) == 10.0
    assert amps(engine, 1, at(1200)) == 6.0
    assert engine.next_change(1, at(0)) == at(600)
    assert engine.next_change(1, at(600)) == at(1200)
    assert engine.next_change(1, at(1200)) is None


# ------------------------------------------------------------------ recurring


def test_recurring_daily_across_midnight(engine):
    evening = datetime(2026, 1, 4, 22, 0, tzinfo=UTC)
    engine.install(
        0,
        prof(
            1,
            0,
            periods=[(0, 8), (4 * H, 16)],
            kind="Recurring",
            recurrency="Daily",
            start=evening,
            duration=DAY,
        ),
    )
    d = datetime(2026, 1, 10, tzinfo=UTC)  # days later
    assert amps(engine, 1, d - timedelta(minutes=30)) == 8.0  # 23:30
    assert amps(engine, 1, d + timedelta(hours=1, minutes=59, seconds=59)) == 8.0
    assert amps(engine, 1, d + timedelta(hours=2)) == 16.0
    assert amps(engine, 1, d + timedelta(hours=21, minutes=59)) == 16.0
    assert amps(engine, 1, d + timedelta(hours=22)) == 8.0
    assert engine.next_change(1, d - timedelta(hours=1)) == d + timedelta(hours=2)
    assert engine.next_change(1, d + timedelta(hours=2)) == d + timedelta(hours=22)
    noon = d + timedelta(hours=12)
    assert periods_of(engine.composite(1, noon, DAY)) == [(0, 16.0), (10 * H, 8.0), (14 * H, 16.0)]


def test_recurring_daily_duration_gap_falls_through(engine):
    engine.install(0, prof(1, 0, periods=[(0, 16)]))
    night = datetime(2026, 1, 4, 23, 0, tzinfo=UTC)
    engine.install(
        0, prof(2, 1, periods=[(0, 6)], kind="Recurring", recurrency="Daily", start=night, duration=7 * H)
    )
    d = datetime(2026, 1, 7, tzinfo=UTC)
    assert amps(engine, 1, d) == 6.0  # 00:00, inside 23:00..06:00
    assert amps(engine, 1, d + timedelta(hours=6)) == 16.0  # recurring over for today
    assert amps(engine, 1, d + timedelta(hours=23)) == 6.0  # restarted
    assert engine.next_change(1, d + timedelta(hours=7)) == d + timedelta(hours=23)


def test_recurring_weekly_across_the_week_boundary(engine):
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    engine.install(
        0,
        prof(
            1,
            0,
            periods=[(0, 6), (DAY, 16), (8 * DAY, 1)],
            kind="Recurring",
            recurrency="Weekly",
            start=monday,
        ),
    )
    next_monday = monday + timedelta(days=14)
    assert amps(engine, 1, next_monday - timedelta(seconds=1)) == 16.0  # Sunday 23:59:59
    assert amps(engine, 1, next_monday) == 6.0
    assert amps(engine, 1, next_monday + timedelta(days=1)) == 16.0
    assert engine.next_change(1, next_monday - timedelta(hours=5)) == next_monday
    # the period starting beyond 7 days is ignored
    assert amps(engine, 1, next_monday + timedelta(days=6, hours=23)) == 16.0


def test_recurring_is_periodic_before_its_start_schedule_too(engine):
    anchor = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    engine.install(
        0, prof(1, 0, periods=[(0, 8), (4 * H, 16)], kind="Recurring", recurrency="Daily", start=anchor)
    )
    assert amps(engine, 1, datetime(2026, 1, 5, 23, 0, tzinfo=UTC)) == 8.0


def test_recurring_without_start_schedule_anchors_on_midnight_utc(engine):
    engine.install(
        0, prof(1, 0, periods=[(0, 10), (8 * H, 20)], kind="Recurring", recurrency="Daily", start=None)
    )
    assert amps(engine, 1, datetime(2026, 1, 5, 7, 59, tzinfo=UTC)) == 10.0
    assert amps(engine, 1, datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) == 20.0


# ------------------------------------------------------------------ relative


def test_relative_profile_runs_from_the_transaction_start(engine):
    engine.install(1, prof(1, 0, periods=[(0, 6), (600, 10)], kind="Relative", duration=1200))
    start = at(1000)
    engine.transaction_started(1, 3, start)
    assert amps(engine, 1, start + timedelta(seconds=599)) == 6.0
    assert amps(engine, 1, start + timedelta(seconds=600)) == 10.0
    assert engine.limit(1, start + timedelta(seconds=1200)) is None
    assert engine.next_change(1, start) == start + timedelta(seconds=600)
    assert periods_of(engine.composite(1, start + timedelta(seconds=300), 1200)) == [
        (0, 6.0),
        (300, 10.0),
        (900, 32.0),
    ]


def test_relative_profile_without_transaction_is_relative_to_now(engine):
    engine.install(1, prof(1, 0, periods=[(0, 6), (600, 10)], kind="Relative"))
    assert amps(engine, 1, at(0)) == 6.0
    assert amps(engine, 1, at(5000)) == 6.0  # "now" is the start: always the first period
    assert engine.next_change(1, at(0)) is None
    assert periods_of(engine.composite(1, at(5000), 1200)) == [(0, 6.0), (600, 10.0)]


def test_relative_tx_profile_from_transaction_start(engine):
    engine.transaction_started(1, 3, at(0))
    engine.install(1, prof(1, 0, "TxProfile", [(0, 7), (60, 9)], kind="Relative"))
    assert amps(engine, 1, at(59)) == 7.0 and amps(engine, 1, at(60)) == 9.0


# ------------------------------------------------------------------ units


@pytest.mark.parametrize(
    ("watts", "phases", "expected"),
    [
        (11040, 3, 16.0),  # 11040 / (230 x 3)
        (11000, 3, 15.9),  # 15.942.. rounded down
        (3680, 1, 16.0),  # 3680 / 230
        (4140, None, 6.0),  # numberPhases defaults to 3
        (6900.5, 3, 10.0),
        (0, 3, 0.0),
    ],
)
def test_watts_to_amps_per_phase(engine, watts, phases, expected):
    period = (0, watts, phases) if phases else (0, watts)
    engine.install(0, prof(1, 0, unit="W", periods=[period]))
    lim = engine.limit(1, at(1))
    assert lim.amps == expected and lim.phases == (phases or 3)


def test_watts_use_the_phases_the_ev_really_uses(engine):
    engine.install(0, prof(1, 0, unit="W", periods=[(0, 7360, 3)]))
    assert amps(engine, 1, at(1)) == 10.6  # 7360 / 690 = 10.66
    assert amps(engine, 1, at(1), phases=1) == 32.0  # 7360 / 230
    assert engine.limit(1, at(1), phases=1).phases == 1


def test_amps_for_more_phases_than_used_apply_as_given(engine):
    engine.install(0, prof(1, 0, periods=[(0, 10, 3)]))
    assert amps(engine, 1, at(1), phases=1) == 10.0


def test_nominal_voltage_110():
    e = SmartChargingEngine(1, nominal_voltage=110.0)
    e.install(0, prof(1, 0, unit="W", periods=[(0, 3300, 1)]))
    assert amps(e, 1, at(1)) == 30.0


def test_mixed_units_take_the_minimum_in_amps(engine):
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 9200, 3)], unit="W"))  # 13.33 A
    engine.install(0, prof(2, 0, periods=[(0, 14)]))
    lim = engine.limit(1, at(1))
    assert lim.amps == 13.3 and lim.profile_ids == (1,)


def test_min_charging_rate_is_only_a_hint(engine):
    p = prof(1, 0, periods=[(0, 4)])
    from dataclasses import replace
    from decimal import Decimal

    p = replace(p, schedule=replace(p.schedule, min_charging_rate=Decimal(6)))
    engine.install(0, p)
    assert amps(engine, 1, at(1)) == 4.0


# ------------------------------------------------------------------ station cap


def test_station_cap_headroom_with_the_others_draw(engine):
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 32)]))
    engine.install(0, prof(2, 0, periods=[(0, 20)]))
    assert amps(engine, 1, at(1)) == 20.0
    assert amps(engine, 1, at(1), others_a=20.0) == 12.0
    assert amps(engine, 2, at(1), others_a=40.0) == 0.0  # never negative
    assert periods_of(engine.composite(0, at(0), 60)) == [(0, 32.0)]  # min(32, 20 + 20)


def test_station_cap_shared_by_two_connectors(engine):
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 32), (60, 25.5)]))
    engine.install(0, prof(2, 0, periods=[(0, 20)]))
    shares = engine.station_share(at(1), {1: None, 2: None})
    assert {c: lim.amps for c, lim in shares.items()} == {1: 16.0, 2: 16.0}
    assert shares[1].profile_ids == (1,) and shares[1].purpose is Purpose.CHARGE_POINT_MAX
    shares = engine.station_share(at(60), {1: None, 2: None})
    assert {c: lim.amps for c, lim in shares.items()} == {1: 12.7, 2: 12.7}  # 12.75 each, rounded down
    # one EV only: it gets its own limit (20 A < 32 A); the idle connector gets nothing of the cap
    shares = engine.station_share(at(1), {1: None})
    assert shares[1].amps == 20.0 and shares[1].profile_ids == (2,) and shares[2].amps == 0.0
    # an EV that wants 6 A leaves the rest to the other (bounded by its own 20 A)
    shares = engine.station_share(at(1), {1: 6.0, 2: None})
    assert shares[1].amps == 6.0 and shares[2].amps == 20.0


def test_station_share_water_filling_three_connectors():
    e = SmartChargingEngine(3, max_current_a=32.0)
    e.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 30)]))
    e.install(1, prof(2, 0, periods=[(0, 5)]))
    shares = e.station_share(at(1), {1: None, 2: None, 3: None})
    assert {c: lim.amps for c, lim in shares.items()} == {1: 5.0, 2: 12.5, 3: 12.5}


def test_station_share_without_cap_is_each_connectors_limit(engine):
    engine.install(1, prof(1, 0, periods=[(0, 10)]))
    shares = engine.station_share(at(1), {1: None, 2: None})
    assert shares[1].amps == 10.0 and shares[2] is None


def test_station_total_without_cap_is_the_sum_of_connector_limits(engine):
    engine.install(1, prof(1, 0, periods=[(0, 10), (60, 16)]))
    engine.install(2, prof(2, 0, periods=[(0, 6)]))
    assert amps(engine, 0, at(0)) == 16.0
    assert sorted(engine.limit(0, at(0)).profile_ids) == [1, 2]
    assert periods_of(engine.composite(0, at(0), 120)) == [(0, 16.0), (60, 22.0)]
    empty = SmartChargingEngine(2, max_current_a=16.0)
    assert periods_of(empty.composite(0, at(0), 120)) == [(0, 32.0)]  # 2 x the hardware maximum
    assert empty.limit(0, at(0)) is None


# ------------------------------------------------------------------ composite details


def test_composite_merges_equal_neighbours_and_rounds_down(engine):
    engine.install(0, prof(1, 0, periods=[(0, 10), (100, 10), (200, 10.2)]))
    engine.install(0, prof(2, 0, "ChargePointMaxProfile", [(0, 7000, 3), (300, 6999, 3)], unit="W"))
    cs = engine.composite(1, at(0), 400, "A")
    # TxDefault 10 until 200, then 10.2 > the cap 7000 W / 690 = 10.14 -> 10.1; 6999 / 690 = 10.143 -> 10.1
    assert periods_of(cs) == [(0, 10.0), (200, 10.1)]
    cs_w = engine.composite(1, at(0), 400, "W")
    # 10 A x 690 = 6900 W; from 200: the cap in W, 7000 then 6999 (exact, not 10.1 x 690)
    assert periods_of(cs_w) == [(0, 6900.0), (200, 7000.0), (300, 6999.0)]


def test_composite_w_of_amps_uses_phases(engine):
    engine.install(0, prof(1, 0, periods=[(0, 16, 1), (60, 16, 3)]))
    cs = engine.composite(1, at(0), 120, "W")
    assert [(p.start_period, float(p.limit), p.number_phases) for p in cs.periods] == [
        (0, 3680.0, 1),
        (60, 11040.0, 3),
    ]


def test_composite_unit_defaults(engine):
    assert engine.composite(1, at(0), 60).unit == "A"
    engine.install(0, prof(1, 0, unit="W", periods=[(0, 11040)]))
    assert engine.composite(1, at(0), 60).unit == "W"
    engine.install(0, prof(2, 0, "ChargePointMaxProfile", [(0, 20)]))
    assert engine.composite(1, at(0), 60).unit == "A"


def test_composite_json_shape(engine):
    engine.install(0, prof(1, 0, periods=[(0, 7.5)]))
    start = at(0) + timedelta(microseconds=600_000)
    cs = engine.composite(1, start, 300)
    assert cs.schedule_start == at(0)
    resp = cs.response()
    assert resp == {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-01-05T08:00:00Z",
        "chargingSchedule": {
            "duration": 300,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7.5, "numberPhases": 3}],
        },
    }
    assert "startSchedule" not in resp["chargingSchedule"]
    assert isinstance(resp["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"], float)


def test_composite_duration_zero_has_one_period(engine):
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 50000)], unit="W"))
    assert periods_of(engine.composite(0, at(0), 0, "W")) == [(0, 44160.0)]  # 2 x 32 A x 690 V
    engine2 = SmartChargingEngine(1, max_current_a=80.0)
    engine2.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 50000)], unit="W"))
    assert periods_of(engine2.composite(0, at(0), 0, "W")) == [(0, 50000.0)]


def test_composite_limit_at(engine):
    engine.install(0, prof(1, 0, periods=[(0, 6), (60, 8)]))
    cs = engine.composite(1, at(0), 120)
    assert float(cs.limit_at(59.9)) == 6.0 and float(cs.limit_at(60)) == 8.0


def test_unknown_connector_in_queries(engine):
    for call in (
        lambda: engine.limit(3, T0),
        lambda: engine.composite(3, T0, 10),
        lambda: engine.next_change(-1, T0),
    ):
        with pytest.raises(ValueError, match="unknown connector"):
            call()


def test_naive_datetime_is_refused(engine):
    with pytest.raises(ValueError, match="naive"):
        engine.limit(1, datetime(2026, 1, 1))


# ------------------------------------------------------------------ clear / transactions


def _setup_clear(engine):
    engine.transaction_started(1, 5, T0)
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 30)]))
    engine.install(0, prof(2, 0, periods=[(0, 16)]))
    engine.install(1, prof(3, 1, periods=[(0, 10)]))
    engine.install(1, prof(4, 2, periods=[(0, 10)]))
    engine.install(1, prof(5, 1, "TxProfile", [(0, 8)]))


def test_clear_everything(engine):
    _setup_clear(engine)
    assert sorted(engine.clear()) == [1, 2, 3, 4, 5]
    assert engine.installed() == []
    assert engine.clear() == []


def test_clear_by_id_ignores_other_fields(engine):
    _setup_clear(engine)
    assert engine.clear(id=3, connector_id=0, purpose="TxProfile", stack_level=9) == [3]
    assert engine.clear(id=42) == []


def test_clear_ands_the_given_fields(engine):
    _setup_clear(engine)
    assert engine.clear(connector_id=1, stack_level=1, purpose="TxDefaultProfile") == [3]
    assert sorted(engine.clear(stack_level=0)) == [1, 2]
    assert engine.clear(connector_id=0) == []
    assert engine.clear(purpose=Purpose.TX) == [5]
    assert engine.clear(connector_id=2) == []
    assert [i.profile.id for i in engine.installed()] == [4]


def test_transaction_end_deletes_its_tx_profiles_only(engine):
    _setup_clear(engine)
    assert engine.transaction_ended(1) == [5]
    assert sorted(i.profile.id for i in engine.installed()) == [1, 2, 3, 4]
    assert amps(engine, 1, at(1)) == 10.0


def test_new_transaction_drops_tx_profiles_of_an_older_one(engine):
    engine.transaction_started(1, 5, T0)
    engine.install(1, prof(1, 0, "TxProfile", [(0, 8)]))
    engine.transaction_started(1, 6, at(100))
    assert engine.installed() == []


def test_restored_tx_profile_applies_only_to_its_transaction(engine):
    engine.install(1, prof(1, 0, "TxProfile", [(0, 8)], tx=9), verify=False)
    assert engine.limit(1, at(1)) is None  # transaction 9 not (yet) resumed
    engine.transaction_started(1, 9, T0)
    assert amps(engine, 1, at(1)) == 8.0


def test_absolute_without_start_schedule_is_anchored_on_receipt(engine):
    engine.install(0, prof(1, 0, periods=[(0, 6), (60, 12)], start=None, duration=120), at(1000))
    assert engine.installed()[0].profile.schedule.start_schedule == at(1000)
    assert amps(engine, 1, at(1059)) == 6.0 and amps(engine, 1, at(1060)) == 12.0
    assert engine.limit(1, at(1120)) is None
    with pytest.raises(Exception, match="startSchedule"):
        engine.install(0, prof(2, 1, start=None))


def test_absolute_without_start_schedule_uses_valid_from(engine):
    engine.install(0, prof(1, 0, periods=[(0, 6), (60, 12)], start=None, valid_from=at(500)), at(0))
    assert amps(engine, 1, at(559)) == 6.0 and amps(engine, 1, at(560)) == 12.0


def test_next_change_steps_through_every_boundary(engine):
    engine.install(1, prof(1, 0, periods=[(0, 6), (100, 8), (200, 10)], duration=400))
    engine.install(1, prof(2, 1, periods=[(0, 16)], duration=150))
    seen = []
    t = at(-10)
    while (t := engine.next_change(1, t)) is not None:
        seen.append(int((t - T0).total_seconds()))
    assert seen == [0, 100, 150, 200, 400]


def test_composite_invalid_unit_names_the_field(engine):
    from chargepoint.smartcharging import ProfileError

    with pytest.raises(ProfileError) as info:
        engine.composite(1, T0, 60, "kW")
    assert info.value.field == "chargingRateUnit"


def test_persistence_round_trip_through_json(engine):
    import json

    engine.transaction_started(1, 5, T0)
    engine.install(0, prof(1, 0, "ChargePointMaxProfile", [(0, 9200, 3)], unit="W"))
    engine.install(0, prof(2, 1, periods=[(0, 8), (4 * H, 16)], kind="Recurring", recurrency="Daily"))
    engine.install(1, prof(3, 0, "TxProfile", [(0, 10), (600, 12)], kind="Relative", duration=3600))
    stored = json.dumps([row.to_json() for row in engine.installed()])

    rebooted = SmartChargingEngine(2, max_current_a=32.0)
    assert rebooted.restore(json.loads(stored)) == 3
    assert rebooted.installed() == engine.installed()
    assert rebooted.limit(1, at(10)) is not None and amps(rebooted, 1, at(10)) == 8.0  # Tx 3 waits for tx 5
    rebooted.transaction_started(1, 5, T0)  # the transaction resumes
    for c in (0, 1, 2):
        assert rebooted.composite(c, at(30), DAY) == engine.composite(c, at(30), DAY)


def test_restore_rejects_malformed_rows(engine):
    from chargepoint.smartcharging import ProfileError

    with pytest.raises(ProfileError) as info:
        engine.restore([{"connectorId": 7, "csChargingProfiles": {}}])
    assert info.value.field == "rows[0].connectorId"
    with pytest.raises(ProfileError) as info:
        engine.restore([{"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 1}}])
    assert info.value.field == "stackLevel"
