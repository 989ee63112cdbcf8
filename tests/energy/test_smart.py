"""Smart mode and the mains / circuit / capacity limits (smartevse.md §5.3, §5.4, §2.5)."""

import pytest

from chargepoint.energy import CHARGE_DELAY_S, EnergyManager, EnergySettings, EvStatus, Mode
from tests.energy.rig import Rig

SMART = EnergySettings(mode=Mode.SMART, max_mains_a=25, max_current_a=32)


def started(settings=SMART, base=(10.0, 5.0, 5.0), cap=32.0, **kw):
    """An EV that has just joined with the given base load (its draw not yet in the reading)."""
    rig = Rig(settings, cap_a=cap, **kw)
    rig.plug()
    rig.step(base)
    rig.charge(offered_a=6.0)
    rig.step(base)
    return rig


def test_join_sets_iset_to_mains_headroom_then_regulates_up_by_a_quarter_and_down_at_once():
    rig = started()
    # mod = 1: Iset = MaxMains - Baseload = 25 - 10 (the joining EV counts 0)
    assert rig.limit() == 15.0
    assert rig.decision.connectors[1].binding == "mains"
    rig.charge()
    rig.follow((10.0, 5.0, 5.0))  # mains L1 = 25: no headroom, no change
    assert rig.limit() == 15.0
    rig.charge()
    rig.follow((6.0, 5.0, 5.0))  # mains 21: headroom 4 A -> +1 A
    assert rig.limit() == 16.0
    rig.charge()
    rig.follow((6.0, 5.0, 5.0))  # mains 22: headroom 3 A -> +0.7 A (30 dA // 4)
    assert rig.limit() == 16.7
    rig.charge()
    rig.follow((12.0, 5.0, 5.0))  # mains 28.7: 3.7 A over -> down by all of it at once
    assert rig.limit() == 13.0
    rig.charge()
    d = rig.follow((12.0, 5.0, 5.0))
    assert max(d.mains_a) == 25.0 and rig.limit() == 13.0


def test_no_regulation_without_a_new_mains_reading():
    rig = started()
    rig.charge()
    rig.follow((6.0, 5.0, 5.0))
    assert rig.limit() == 16.0
    rig.charge()
    rig.step(None)  # the same reading again: nothing changes
    assert rig.limit() == 16.0


def test_highest_phase_counts():
    rig = started(base=(3.0, 3.0, 14.0))
    assert rig.limit() == 11.0


def test_never_above_the_connector_cap():
    rig = started(cap=10.0)
    assert rig.limit() == 10.0
    for _ in range(5):
        rig.charge()
        rig.follow((1.0, 1.0, 1.0))
        assert rig.limit() == 10.0
    assert rig.decision.iset_balanced_a == 10.0  # no wind-up above the cap


def test_circuit_limit_with_ev_meter_and_baseload_ev():
    s = EnergySettings(mode=Mode.SMART, max_mains_a=40, max_circuit_a=16, max_current_a=32)
    rig = Rig(s)
    rig.plug()
    rig.em.feed_ev_meter(0.0, 1, 3.0, 3.0, 3.0)  # 3 A of other loads behind the EV meter
    rig.step((5.0, 5.0, 5.0))
    rig.charge(offered_a=6.0)
    rig.em.feed_ev_meter(2.0, 1, 3.0, 3.0, 3.0)
    d = rig.step((5.0, 5.0, 5.0))
    # mod = 1: min(MaxMains - Baseload = 35, MaxCircuit - Baseload_EV = 16 - 3) = 13
    assert rig.limit() == 13.0 and d.connectors[1].binding == "circuit"
    assert d.connectors[1].limits["mains"] is None
    rig.charge()
    rig.em.feed_ev_meter(4.0, 1, 16.0, 16.0, 16.0)
    rig.follow((5.0, 5.0, 5.0))
    assert rig.limit() == 13.0  # circuit headroom 0 -> no change


def test_ev_meter_ignored_when_baseload_ev_is_off_or_the_meter_is_stale():
    s = EnergySettings(mode=Mode.SMART, max_mains_a=40, max_circuit_a=16, max_current_a=32, baseload_ev=False)
    rig = Rig(s)
    rig.plug()
    rig.em.feed_ev_meter(0.0, 1, 12.0, 12.0, 12.0)
    rig.step((5.0, 5.0, 5.0))
    rig.charge(offered_a=6.0)
    rig.step((5.0, 5.0, 5.0))
    assert rig.limit() == 32.0
    rig2 = Rig(EnergySettings(mode=Mode.SMART, max_mains_a=40, max_circuit_a=16))
    rig2.em.feed_ev_meter(0.0, 1, 12.0, 12.0, 12.0)
    rig2.step((5.0, 5.0, 5.0), dt=0)
    rig2.step((5.0, 5.0, 5.0), dt=66.0)
    assert rig2.decision.warnings and "stale" in rig2.decision.warnings[0]


def test_max_sum_mains_headroom_is_a_third_of_the_sum_headroom():
    s = EnergySettings(mode=Mode.SMART, max_mains_a=40, max_sum_mains_a=60, max_current_a=32)
    rig = started(settings=s, base=(6.0, 6.0, 6.0))
    # mod = 1: min(40 - 6, (600 - 180) / 3 = 140 dA) = 14 A
    assert rig.limit() == 14.0 and rig.decision.connectors[1].binding == "sum_mains"
    rig.charge(offered_a=12.0)
    rig.step((18.0, 18.0, 18.0))  # sum 54: (60 - 54) / 3 = 2 A headroom -> +0.5 A
    assert rig.limit() == 14.5
    rig.charge(offered_a=14.5)
    rig.step((20.3, 20.2, 20.2))  # sum 60.7: (600 - 607) / 3 = -2 dA (C division) -> -0.2 A
    assert rig.limit() == 14.3


def test_max_sum_mains_without_timer_is_a_hard_shortage_and_with_timer_stops_after_it():
    s = EnergySettings(mode=Mode.SMART, max_mains_a=40, max_sum_mains_a=30, max_current_a=32)
    rig = started(settings=s, base=(3.0, 3.0, 3.0))
    for i in range(3):
        rig.charge(offered_a=6.0)
        d = rig.step((12.0, 12.0, 12.0))  # sum 36 > 30 even at MinCurrent
        assert d.shortage and d.hard_shortage
        assert d.less_6a == (i == 2)
    assert d.connectors[1].limits["sum_mains"] == 0.0

    s2 = EnergySettings(mode=Mode.SMART, max_mains_a=40, max_sum_mains_a=30, max_sum_mains_time_min=1,
                        max_current_a=32)
    rig = started(settings=s2, base=(3.0, 3.0, 3.0))
    rig.charge(offered_a=6.0)
    d = rig.step((12.0, 12.0, 12.0))
    t0 = rig.t
    assert d.shortage and not d.hard_shortage and d.max_sum_mains_timer_s == 60.0
    while rig.t < t0 + 58:
        rig.charge(offered_a=6.0)
        d = rig.step((12.0, 12.0, 12.0))
        assert not d.less_6a and rig.limit() == 6.0
    rig.charge(offered_a=6.0)
    d = rig.step((12.0, 12.0, 12.0))
    assert rig.t == t0 + 60 and d.less_6a and d.connectors[1].binding == "sum_mains"


def test_max_sum_mains_timer_resets_when_the_shortage_ends():
    s = EnergySettings(mode=Mode.SMART, max_mains_a=40, max_sum_mains_a=30, max_sum_mains_time_min=1,
                       max_current_a=32)
    rig = started(settings=s, base=(3.0, 3.0, 3.0))
    rig.charge(offered_a=6.0)
    assert rig.step((12.0, 12.0, 12.0)).max_sum_mains_timer_s == 60.0
    rig.charge(offered_a=6.0)
    d = rig.step((8.0, 8.0, 8.0))  # sum 24: room again
    assert not d.shortage and d.max_sum_mains_timer_s is None


def test_hard_shortage_pauses_after_three_cycles_then_charge_delay_60_s():
    rig = started(base=(10.0, 5.0, 5.0))
    for i in range(3):
        rig.charge(offered_a=6.0)
        d = rig.step((26.0, 5.0, 5.0))  # base 20 + MinCurrent 6 > 25
        assert d.shortage and d.hard_shortage and d.no_current_cycles == (i + 1 if i < 2 else 0)
        assert d.less_6a == (i == 2)
        if i < 2:
            assert rig.limit() == 6.0  # held at MinCurrent until LESS_6A
    c = d.connectors[1]
    assert c.less_6a and c.limits["mains"] == 0.0 and "LESS_6A" in c.reason
    # The EV stops (C1 -> B1); the base load is still too high: stays paused.
    rig.set(charging=False, offered_a=0.0)
    rig.step((20.0, 5.0, 5.0))
    assert rig.decision.connectors[1].less_6a and rig.limit() == 0.0
    # Power is back: ChargeDelay 60 s counts from now.
    d = rig.step((10.0, 5.0, 5.0))
    back = rig.t
    assert not d.connectors[1].less_6a and d.connectors[1].charge_delay_s == CHARGE_DELAY_S
    while rig.t < back + CHARGE_DELAY_S - 2:
        assert rig.step((10.0, 5.0, 5.0)).connectors[1].limit() == 0.0
    d = rig.step((10.0, 5.0, 5.0))
    assert rig.t == back + CHARGE_DELAY_S and rig.limit() == 6.0


def test_a_phase_above_twice_max_mains_pauses_at_once():
    rig = started()
    rig.charge(offered_a=15.0)
    d = rig.step((50.0, 5.0, 5.0))
    assert not d.less_6a
    rig.charge(offered_a=6.0)
    d = rig.step((50.1, 5.0, 5.0))
    assert d.less_6a and "2 x MaxMains" in d.connectors[1].reason


def test_is_current_available_refuses_a_start_without_room():
    rig = Rig(SMART)
    rig.plug()
    d = rig.step((20.0, 5.0, 5.0))  # 6 + 20 > 25
    assert rig.limit() == 0.0 and d.connectors[1].less_6a
    assert "MaxMains" in d.connectors[1].reason
    rig2 = Rig(SMART)
    rig2.plug()
    rig2.step((19.0, 5.0, 5.0))  # 6 + 19 = 25: allowed
    assert rig2.limit() == 6.0
    # an empty socket is told MinCurrent or 0 as well, but is not flagged LESS_6A
    rig3 = Rig(SMART)
    d = rig3.step((20.0, 5.0, 5.0))
    assert rig3.limit() == 0.0 and not d.connectors[1].less_6a


def test_stale_mains_after_11_s_in_smart_mode():
    rig = started()
    rig.charge()
    d = rig.step(None, dt=8.9)  # the reading from t=2 is 8.9 s old
    assert not d.stale_mains and rig.limit() > 6.0
    d = rig.step(None, dt=2.1)  # 11.0 s
    assert d.stale_mains and rig.limit() == 0.0
    rig2 = Rig(SMART)
    rig2.em.feed_mains(0.0, 5, 5, 5)
    assert not rig2.em.step(10.9, list(rig2.ev.values())).stale_mains
    d = rig2.em.step(11.0, list(rig2.ev.values()))
    assert d.stale_mains and d.connectors[1].limits["mains"] == 0.0 and "CT_NOCOMM" in d.explanation
    rig2.em.feed_mains(12.0, 5, 5, 5)
    assert not rig2.em.step(12.0, list(rig2.ev.values())).stale_mains


def test_no_mains_data_yet_waits_then_faults():
    em = EnergyManager(SMART, now=100.0)
    ev = [EvStatus(1, connected=True, charging=False)]
    d = em.step(105.0, ev)
    assert not d.stale_mains and d.connectors[1].limit() == 0.0 and "waiting" in d.explanation
    assert em.step(111.0, ev).stale_mains


def test_normal_mode_single_connector_does_not_limit_and_ignores_mains():
    em = EnergyManager(EnergySettings(mode=Mode.NORMAL))
    em.feed_mains(0.0, 90.0, 90.0, 90.0)
    d = em.step(0.0, [EvStatus(1, connected=True, charging=True, offered_a=16, cap_a=16)])
    assert d.connectors[1].limits == {"mains": None, "circuit": None, "sum_mains": None, "solar": None,
                                      "grid_relay": None}
    assert d.connectors[1].limit() is None and not d.stale_mains
    assert em.step(30.0, [EvStatus(1, connected=True, charging=True)]).stale_mains is False


def test_normal_mode_several_connectors_share_max_circuit():
    s = EnergySettings(mode=Mode.NORMAL, max_circuit_a=20)
    rig = Rig(s, connectors=2, cap_a=16.0)
    rig.charge(1, offered_a=6.0)
    rig.charge(2, offered_a=6.0)
    d = rig.step(None)
    assert (rig.limit(1), rig.limit(2)) == (10.0, 10.0)
    assert d.connectors[1].binding == "circuit"
    rig.set(2, cap_a=6.0)
    rig.step(None)
    assert (rig.limit(1), rig.limit(2)) == (14.0, 6.0)


def test_smart_two_connectors_share_the_headroom():
    s = EnergySettings(mode=Mode.SMART, max_mains_a=40, max_circuit_a=100, max_current_a=32)
    rig = Rig(s, connectors=2, cap_a=16.0)
    rig.plug(1)
    rig.plug(2)
    rig.step((10.0, 10.0, 10.0))
    assert (rig.limit(1), rig.limit(2)) == (6.0, 6.0)
    rig.charge(1, offered_a=6.0)
    rig.charge(2, offered_a=6.0)
    rig.step((10.0, 10.0, 10.0))  # mod = 1: 40 - 10 = 30 shared
    assert (rig.limit(1), rig.limit(2)) == (15.0, 15.0)


def test_second_connector_refused_when_two_minimums_do_not_fit():
    s = EnergySettings(mode=Mode.SMART, max_mains_a=25, max_circuit_a=100, max_current_a=32)
    rig = Rig(s, connectors=2, cap_a=16.0)
    rig.charge(1, offered_a=8.0)
    rig.step((12.0, 10.0, 10.0))
    rig.charge(1, offered_a=8.0)
    rig.step((20.0, 10.0, 10.0))
    rig.plug(2)
    rig.step((20.0, 10.0, 10.0))  # Baseload 12 + 2 x 6 = 24 <= 25: allowed
    assert rig.limit(2) == 6.0
    rig.set(2, connected=False)
    rig.step((22.0, 10.0, 10.0))
    rig.plug(2)
    d = rig.step((22.0, 10.0, 10.0))  # Baseload 14 + 2 x 6 = 26 > 25: refused
    assert rig.limit(2) == 0.0 and d.connectors[2].binding == "mains" and d.connectors[2].less_6a


@pytest.mark.parametrize(
    "bad",
    [dict(connector=0), dict(phases=2), dict(cap_a=float("nan")), dict(offered_a=-1.0)],
)
def test_bad_connector_status_names_the_field(bad):
    em = EnergyManager(SMART)
    fields = dict(connector=1, connected=True, charging=False) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        em.step(0.0, [EvStatus(**fields)])


def test_bad_readings_name_the_field_and_the_manager_carries_on():
    em = EnergyManager(SMART)
    with pytest.raises(ValueError, match="l2"):
        em.feed_mains(0.0, 1.0, float("nan"), 1.0)
    with pytest.raises(ValueError, match="battery_current"):
        em.feed_battery(0.0, float("inf"))
    with pytest.raises(ValueError, match="connector"):
        em.feed_ev_meter(0.0, -1, 1.0, 1.0, 1.0)
    em.feed_mains(0.0, 1.0, 1.0, 1.0)
    assert em.step(0.0, [EvStatus(1, connected=True, charging=False)]).connectors[1].limit() == 6.0


def test_api_fed_mains_in_deci_amperes_with_the_firmware_range():
    em = EnergyManager(SMART)
    em.feed_mains_api(0.0, "123", -45, 1999)
    d = em.step(0.0, [EvStatus(1, connected=False, charging=False)])
    assert d.mains_a == (12.3, -4.5, 199.9)
    for bad, field in [(("1", "2", "2000"), "L3"), ((-2000, 0, 0), "L1"), ((0, "x", 0), "L2"),
                       ((0, 1.5, 0), "L2")]:
        with pytest.raises(ValueError, match=field):
            em.feed_mains_api(2.0, *bad)
    assert em.meters.mains.at == 0.0  # nothing stored from the bad calls
    em.feed_battery_api(2.0, "-30")
    with pytest.raises(ValueError, match="battery_current"):
        em.feed_battery_api(2.0, 5000)


def test_charging_without_connection_is_refused():
    with pytest.raises(ValueError, match="charging"):
        EnergyManager(SMART).step(0.0, [EvStatus(1, connected=False, charging=True)])
