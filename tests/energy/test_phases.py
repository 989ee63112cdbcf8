"""C2 phase switching (smartevse.md §3.2, §5.4, §5.7)."""

import pytest

from chargepoint.controller.types import SetLimit, SetPhases
from chargepoint.energy import EnableC2, EnergyManager, EnergySettings, EvStatus, Mode
from chargepoint.energy.phases import fixed_phases, start_phases, upgrade_spare_a
from tests.energy.rig import Rig
from tests.energy.test_solar import each, running

AUTO = EnergySettings(mode=Mode.SOLAR, max_mains_a=25, max_current_a=13, stop_time_min=1, enable_c2=EnableC2.AUTO)


@pytest.mark.parametrize(
    ("c2", "normal", "smart", "solar"),
    [(EnableC2.NOT_PRESENT, 3, 3, 3), (EnableC2.ALWAYS_OFF, 1, 1, 1), (EnableC2.SOLAR_OFF, 3, 3, 1),
     (EnableC2.ALWAYS_ON, 3, 3, 3), (EnableC2.AUTO, 3, 3, None)],
)
def test_fixed_phases_table(c2, normal, smart, solar):
    assert (fixed_phases(Mode.NORMAL, c2), fixed_phases(Mode.SMART, c2), fixed_phases(Mode.SOLAR, c2)) == (
        normal, smart, solar)


def test_start_phases_threshold_and_upgrade_spare():
    assert start_phases(-210, 6) == 3 and start_phases(-209, 6) == 1  # 30 x 6 + 30 dA
    assert start_phases(-270, 8) == 3 and start_phases(-269, 8) == 1
    assert upgrade_spare_a(6, 13) == 8  # 3 x 7 - 13
    assert upgrade_spare_a(6, 32) == 3  # negative -> 3


@pytest.mark.parametrize(("isum", "phases"), [(-21.0, 3), (-20.9, 1)])
def test_auto_solar_chooses_start_phases_in_state_b(isum, phases):
    rig = Rig(AUTO)
    rig.plug()
    assert rig.step(each(isum)).connectors[1].phases == phases


def test_decision_commands_set_phases_and_limits():
    rig = Rig(AUTO)
    rig.plug()
    d = rig.step(each(-21.0))
    cmds = d.commands()
    assert SetPhases(1, 3) in cmds and SetLimit(1, "solar", 6.0) in cmds and SetLimit(1, "mains", None) in cmds
    d2 = rig.step(each(-10.0))
    assert d2.commands(d) == [SetPhases(1, 1)]


def three_phase_at_minimum(settings=AUTO):
    rig = running(settings)
    assert rig.decision.connectors[1].phases == 3
    for _ in range(40):
        rig.charge()
        d = rig.step((2.8, 2.6, 2.6))
        if d.shortage:
            return rig
    raise AssertionError("no shortage")


def test_auto_3p_to_1p_after_30_s_of_severe_import():
    rig = three_phase_at_minimum()
    assert rig.decision.phase_switch_timer_s == 30.0  # 8 A import >= MinCurrent: severe -> 30 s
    # an export step clears the timer; then severe import starts the 30 s one
    rig.charge(offered_a=6.0)
    d = rig.step(each(-2.0))
    assert d.phase_switch_timer_s is None
    rig.charge(offered_a=6.0)
    d = rig.step(each(7.0))  # IsumImport 7 A >= MinCurrent 6 A: severe -> 30 s
    start = rig.t
    assert d.phase_switch_timer_s == 30.0 and d.solar_stop_timer_s is None
    while rig.t < start + 26:
        rig.charge(offered_a=6.0)
        assert rig.step(each(7.0)).connectors[1].phases == 3
    rig.charge(offered_a=6.0)
    d = rig.step(each(7.0))
    assert rig.t == start + 28 and d.connectors[1].phases == 1  # fires at <= 2 s remaining
    assert d.phase_switch_timer_s is None and not d.less_6a


def test_auto_3p_to_1p_after_stop_time_of_mild_import_and_no_flap_during_the_switch():
    rig = three_phase_at_minimum()
    rig.charge(offered_a=6.0)
    rig.step(each(-2.0))
    rig.charge(offered_a=6.0)
    d = rig.step(each(3.0))  # mild: StopTime 1 min
    start = rig.t
    assert d.phase_switch_timer_s == 60.0
    while rig.t < start + 56:
        rig.charge(offered_a=6.0)
        assert rig.step(each(3.0)).connectors[1].phases == 3
    rig.charge(offered_a=6.0)
    assert rig.step(each(3.0)).connectors[1].phases == 1
    # The controller opens the contactors; without the EV the grid exports 15 A, which would pick
    # 3 phases at a fresh start -- the pending switch must not be undone.
    rig.set(charging=False, offered_a=0.0)
    for _ in range(5):
        assert rig.step(each(-15.0)).connectors[1].phases == 1
    rig.charge(offered_a=6.0)
    rig.set(phases=1)
    rig.step(each(-9.0))
    rig.set(charging=False, offered_a=0.0)
    assert rig.step(each(-22.0)).connectors[1].phases == 3  # next stop: a new start decides again


def test_auto_1p_to_3p_after_60_s_of_enough_export_at_max_current():
    rig = Rig(AUTO, phases=1, cap_a=13.0)
    rig.plug()
    rig.step(each(-10.0))
    assert rig.decision.connectors[1].phases == 1
    rig.charge(offered_a=6.0)
    rig.set(phases=1)
    start = None
    for _ in range(200):
        rig.charge()
        d = rig.step(each(-9.0))  # export 9 A > spare 8 A
        if start is None and d.phase_switch_timer_s is not None:
            start = rig.t
            # (IsetBalanced grows during the 40 s start phase, so the timer may start while at MinCurrent)
            assert d.phase_switch_timer_s == 63.0 and d.iset_balanced_a + 0.8 >= 13.0
        if d.connectors[1].phases == 3:
            break
    assert start is not None and rig.t == start + 60  # fires at <= 3 s remaining


def test_no_upgrade_without_enough_export():
    rig = Rig(AUTO, phases=1, cap_a=13.0)
    rig.plug()
    rig.step(each(-10.0))
    rig.charge(offered_a=6.0)
    rig.set(phases=1)
    for _ in range(100):
        rig.charge()
        d = rig.step(each(-8.0))  # export 8 A is not more than spare 8 A
        assert d.phase_switch_timer_s is None and d.connectors[1].phases == 1


def test_smart_mode_goes_back_to_3_phases():
    em = EnergyManager(AUTO, now=0.0)
    em.feed_mains(0.0, -1.0, -1.0, -1.0)
    ev = [EvStatus(1, connected=True, charging=False, phases=1)]
    assert em.step(0.0, ev).connectors[1].phases == 1
    em.update_settings(AUTO.updated({"mode": "smart"}))
    em.feed_mains(2.0, 1.0, 1.0, 1.0)
    assert em.step(2.0, ev).connectors[1].phases == 3
    em.update_settings(AUTO.updated({"mode": "normal"}))
    assert em.step(4.0, ev).connectors[1].phases == 3


def test_solar_off_is_single_phase_in_solar_only():
    s = EnergySettings(mode=Mode.SOLAR, enable_c2=EnableC2.SOLAR_OFF)
    em = EnergyManager(s, now=0.0)
    em.feed_mains(0.0, -5.0, -5.0, -5.0)
    ev = [EvStatus(1, connected=True, charging=False)]
    assert em.step(0.0, ev).connectors[1].phases == 1
    em.update_settings(s.updated({"mode": "smart"}))
    assert em.step(2.0, ev).connectors[1].phases == 3
