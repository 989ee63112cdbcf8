"""Home-battery neutralisation (smartevse.md §5.6)."""

import pytest

from chargepoint.energy import EnableC2, EnergyManager, EnergySettings, EvStatus, Mode

IDLE = [EvStatus(1, connected=False, charging=False)]


def decide(mode=Mode.SOLAR, c2=EnableC2.ALWAYS_ON, mains=(5.0, 5.0, 5.0), battery=10.0, fed_at=0.0, now=0.0):
    em = EnergyManager(EnergySettings(mode=mode, max_mains_a=25, enable_c2=c2), now=0.0)
    em.feed_battery(fed_at, battery)
    em.feed_mains(now, *mains)
    return em.step(now, IDLE)


@pytest.mark.parametrize(
    ("battery", "expected"),
    [(10.0, (1.7, 1.7, 1.7)),  # 100 dA / 3 = 33 dA off each phase
     (-10.0, (8.3, 8.3, 8.3)),  # discharging looks like import
     (1.0, (4.7, 4.7, 4.7)),  # 10 / 3 = 3 dA (integer division)
     (-0.5, (5.1, 5.1, 5.1))],  # -5 / 3 = -1 dA (truncates toward zero)
)
def test_battery_divided_over_three_phases(battery, expected):
    d = decide(battery=battery)
    assert d.mains_a == expected and d.battery_a == battery
    assert d.isum_a == pytest.approx(sum(expected))


def test_battery_all_on_l1_when_c2_always_off():
    assert decide(c2=EnableC2.ALWAYS_OFF, battery=10.0).mains_a == (-5.0, 5.0, 5.0)


def test_battery_ignored_outside_solar():
    d = decide(mode=Mode.SMART, battery=10.0)
    assert d.mains_a == (5.0, 5.0, 5.0) and d.battery_a == 0.0


def test_battery_valid_for_exactly_60_s_then_forgotten():
    assert decide(battery=10.0, fed_at=0.0, now=60.0).battery_a == 10.0
    assert decide(battery=10.0, fed_at=0.0, now=60.1).battery_a == 0.0
    em = EnergyManager(EnergySettings(mode=Mode.SOLAR), now=0.0)
    em.feed_battery(0.0, 9.0)
    em.feed_mains(61.0, 1.0, 1.0, 1.0)
    assert em.step(61.0, IDLE).battery_a == 0.0
    em.feed_mains(62.0, 1.0, 1.0, 1.0)
    assert em.step(62.0, IDLE).battery_a == 0.0  # reset, not revived


def test_charging_battery_frees_its_share_for_the_ev():
    # Grid exports 3 A in total: not enough to start (StartCurrent 4 A) ...
    assert decide(mains=(-1.0, -1.0, -1.0), battery=0.0).connectors[1].limit() == 0.0
    # ... but the battery is charging with 3 A: the EV may take that share.
    assert decide(mains=(-1.0, -1.0, -1.0), battery=3.0).connectors[1].limit() == 6.0
