"""check(): the SetChargingProfile acceptance rules, and install()'s own verification."""

from __future__ import annotations

import pytest

from chargepoint.smartcharging import ProfileError, SmartChargingEngine

from .helpers import T0, prof


@pytest.fixture
def engine() -> SmartChargingEngine:
    return SmartChargingEngine(2, max_stack_level=5, max_periods=3, max_profiles=3)


def _reason(v) -> str:
    assert not v.accepted
    return v.field


def test_charge_point_max_only_on_connector_0(engine):
    p = prof(1, 0, "ChargePointMaxProfile")
    assert engine.check(0, p).accepted
    assert _reason(engine.check(1, p)) == "chargingProfilePurpose"


def test_tx_default_on_any_connector(engine):
    p = prof(1)
    assert all(engine.check(c, p).accepted for c in (0, 1, 2))


def test_unknown_connector(engine):
    assert _reason(engine.check(3, prof(1))) == "connectorId"
    assert _reason(engine.check(-1, prof(1))) == "connectorId"


def test_tx_profile_rules(engine):
    p = prof(1, 0, "TxProfile")
    assert _reason(engine.check(0, p, {1: 5})) == "chargingProfilePurpose"
    assert _reason(engine.check(1, p, {})) == "chargingProfilePurpose"
    assert engine.check(1, p, {1: 5}).accepted
    assert engine.check(1, prof(1, 0, "TxProfile", tx=5), {1: 5}).accepted
    assert _reason(engine.check(1, prof(1, 0, "TxProfile", tx=6), {1: 5})) == "transactionId"
    assert _reason(engine.check(2, p, {1: 5})) == "chargingProfilePurpose"
    # the engine's own transactions are used when none are passed
    assert _reason(engine.check(1, p)) == "chargingProfilePurpose"
    engine.transaction_started(1, 5, T0)
    assert engine.check(1, p).accepted


def test_transaction_id_only_for_tx_profile(engine):
    assert _reason(engine.check(1, prof(1, tx=5), {1: 5})) == "transactionId"


def test_limits_of_the_station(engine):
    assert engine.check(1, prof(1, 5)).accepted
    assert _reason(engine.check(1, prof(1, 6))) == "stackLevel"
    assert engine.check(1, prof(1, periods=[(0, 6), (60, 7), (120, 8)])).accepted
    assert _reason(engine.check(1, prof(1, periods=[(0, 6), (60, 7), (120, 8), (180, 9)]))) == (
        "chargingSchedule.chargingSchedulePeriod"
    )
    only_a = SmartChargingEngine(1, allowed_units=("A",))
    assert (
        _reason(only_a.check(1, prof(1, unit="W", periods=[(0, 11000)])))
        == "chargingSchedule.chargingRateUnit"
    )


def test_max_profiles_counts_replacements(engine):
    for i in range(3):
        engine.install(1, prof(i + 1, i))
    assert _reason(engine.check(1, prof(9, 4))) == "chargingProfileId"
    assert engine.check(1, prof(9, 2)).accepted  # replaces level 2 -> still 3
    assert engine.check(2, prof(3, 4)).accepted  # replaces id 3


@pytest.mark.parametrize(
    ("periods", "field"),
    [
        ([(10, 6)], "chargingSchedule.chargingSchedulePeriod[0].startPeriod"),
        ([(0, 6), (60, 7), (60, 8)], "chargingSchedule.chargingSchedulePeriod[2].startPeriod"),
        ([(0, 6), (60, 7), (30, 8)], "chargingSchedule.chargingSchedulePeriod[2].startPeriod"),
        ([(0, -6)], "chargingSchedule.chargingSchedulePeriod[0].limit"),
        ([(0, 6, 4)], "chargingSchedule.chargingSchedulePeriod[0].numberPhases"),
        ([(0, 6, 0)], "chargingSchedule.chargingSchedulePeriod[0].numberPhases"),
    ],
)
def test_period_rules(engine, periods, field):
    assert _reason(engine.check(1, prof(1, periods=periods))) == field


def test_valid_to_after_valid_from(engine):
    assert _reason(engine.check(1, prof(1, valid_from=T0, valid_to=T0))) == "validTo"


def test_install_verifies_and_names_the_field(engine):
    with pytest.raises(ProfileError) as info:
        engine.install(1, prof(1, 0, "ChargePointMaxProfile"))
    assert info.value.field == "chargingProfilePurpose"
    assert engine.installed() == []


def test_install_unverified_restores_anything(engine):
    engine.install(1, prof(1, 0, "TxProfile", tx=99), verify=False)
    assert [i.profile.id for i in engine.installed()] == [1]


def test_verdict_status_words(engine):
    assert engine.check(1, prof(1)).status == "Accepted"
    v = engine.check(1, prof(1, 0, "ChargePointMaxProfile"))
    assert v.status == "Rejected" and "connector 0" in v.reason


def test_remote_start_profile_rules(engine):
    assert engine.check_remote_start(prof(1, 0, "TxProfile")).accepted
    assert _reason(engine.check_remote_start(prof(1, 0, "TxProfile", tx=3))) == "transactionId"
    assert _reason(engine.check_remote_start(prof(1, 0, "TxDefaultProfile"))) == "chargingProfilePurpose"
    assert _reason(engine.check_remote_start(prof(1, 9, "TxProfile"))) == "stackLevel"


def test_install_error_message_is_not_doubled(engine):
    with pytest.raises(ProfileError) as info:
        engine.install(1, prof(1, 9))
    assert str(info.value) == "stackLevel: 9 exceeds the maximum 5"
