"""Solar mode: start, 40 s start phase, fine regulation, StopTime, ImportCurrent, restart (smartevse.md §5.3-5.5)."""

import pytest

from chargepoint.energy import CHARGE_DELAY_S, EnableC2, EnergySettings, Mode
from tests.energy.rig import Rig

SOLAR = EnergySettings(mode=Mode.SOLAR, max_mains_a=25, max_current_a=32, start_current_a=4, stop_time_min=10)


def each(total: float) -> tuple[float, float, float]:
    """Three phase currents (0.1 A resolution) whose sum is exactly ``total``."""
    other = round(total / 3, 1)
    return (round(total - 2 * other, 1), other, other)


@pytest.mark.parametrize(("isum", "limit"), [(-4.0, 0.0), (-4.1, 6.0)])
def test_start_needs_export_above_start_current_summed(isum, limit):
    rig = Rig(SOLAR)
    rig.step((-1.3, -1.3, isum + 2.6))
    assert rig.limit() == limit


def test_refused_start_waits_for_export_then_charge_delay():
    rig = Rig(SOLAR)
    rig.plug()
    d = rig.step(each(-2.0))
    assert d.connectors[1].less_6a and d.connectors[1].binding == "solar" and rig.limit() == 0.0
    d = rig.step(each(-6.0))
    back = rig.t
    assert not d.connectors[1].less_6a and d.connectors[1].charge_delay_s == CHARGE_DELAY_S
    while rig.t < back + CHARGE_DELAY_S - 2:
        assert rig.step(each(-6.0)).connectors[1].limit() == 0.0
    rig.step(each(-6.0))
    assert rig.limit() == 6.0


def running(settings=SOLAR, phases=3):
    """A Solar session past its 40 s start phase; returns the rig with the EV offered 16 A."""
    rig = Rig(settings, phases=phases)
    rig.plug()
    rig.step(each(-24.0))  # (enough export for 3 phases when EnableC2 is Auto)
    rig.charge(offered_a=6.0)
    rig.step(each(-12.0))
    joined = rig.t
    assert rig.decision.iset_balanced_a == 6.0
    while rig.t < joined + 38:
        rig.charge(offered_a=6.0)
        rig.step(each(-12.0))  # +0.5 A per cycle in the background
        assert rig.limit() == 6.0, "held at MinCurrent during the first 40 s"
    rig.charge(offered_a=6.0)
    rig.step(each(-12.0))
    assert rig.t == joined + 40 and rig.limit() == 16.0
    rig.charge(offered_a=16.0)
    return rig


def test_start_phase_holds_min_current_for_40_s():
    running()


@pytest.mark.parametrize(
    ("mains", "delta"),
    [
        (each(-2.0), 0.5),  # Isum < -1 A and headroom > 1 A: +0.5
        (each(-1.0), 0.1),  # other export: +0.1
        (each(-0.1), 0.1),
        (each(0.0), 0.0),  # 0 ... 0.3 A: dead band
        (each(0.3), 0.0),
        (each(0.4), -0.1),  # > 0.3: -0.1
        (each(1.0), -0.1),
        (each(1.1), -0.5),  # > 1 A: -0.5
        (each(2.0), -0.5),
        (each(2.1), -1.0),  # > 2 A: -Isum/2 (21 dA / 2 = 10 dA)
        (each(5.1), -2.5),
        ((24.0, -13.0, -13.0), 0.1),  # export but mains headroom only 1 A: +0.1
        ((26.0, -20.0, -20.0), -1.0),  # a phase over MaxMains: down by the excess at once
        ((25.0, -20.0, -20.0), 0.0),  # exactly at MaxMains: no fine regulation despite the export
    ],
)
def test_fine_regulation_steps(mains, delta):
    rig = running()
    rig.step(mains)
    assert rig.limit() == pytest.approx(16.0 + delta)
    if mains[0] > 25:
        assert rig.decision.connectors[1].binding == "mains"
    else:
        assert rig.decision.connectors[1].binding == "solar"


@pytest.mark.parametrize(("isum", "delta"), [(2.3, 0.0), (1.0, 0.1), (2.4, -0.1), (3.5, -0.5), (5.0, -1.5)])
def test_import_current_shifts_the_target(isum, delta):
    rig = running(EnergySettings(mode=Mode.SOLAR, max_mains_a=25, max_current_a=32, import_current_a=2))
    rig.step(each(isum))
    assert rig.limit() == pytest.approx(16.0 + delta)


def at_minimum(settings=SOLAR, phases=3, mains=(2.8, 2.6, 2.6)):
    """A Solar session in shortage (held at MinCurrent), import too small to start the stop timer."""
    rig = running(settings, phases)
    for _ in range(40):
        rig.charge()
        d = rig.step(mains)
        if d.shortage:
            break
    assert d.shortage and rig.limit() == 6.0
    return rig


@pytest.mark.parametrize(("isum", "timer"), [(14.0, None), (14.1, 600.0)])
def test_stop_timer_starts_when_import_exceeds_ev_minimum_minus_start_current(isum, timer):
    rig = at_minimum()
    rig.charge(offered_a=6.0)
    d = rig.step(each(isum))  # EV at 3 x 6 A: stop when Isum > 18 - 4 = 14 A
    assert d.shortage and d.solar_stop_timer_s == timer


def test_stop_time_expiry_pauses_with_less_6a_and_restarts_on_export():
    rig = at_minimum()
    rig.charge(offered_a=6.0)
    rig.step(each(15.0))
    t0 = rig.t
    while rig.t < t0 + 598:
        rig.charge(offered_a=6.0)
        d = rig.step(each(15.0))
        assert not d.less_6a and rig.limit() == 6.0
    assert d.solar_stop_timer_s == 2.0
    rig.charge(offered_a=6.0)
    d = rig.step(each(15.0))
    assert rig.t == t0 + 600 and d.less_6a
    assert d.connectors[1].binding == "solar" and rig.limit() == 0.0 and "StopTime" in d.connectors[1].reason
    # EV stops; no export: stays paused
    rig.set(charging=False, offered_a=0.0)
    assert rig.step(each(-3.0)).connectors[1].less_6a
    # export above StartCurrent again -> ChargeDelay 60 s -> MinCurrent
    d = rig.step(each(-5.0))
    assert not d.less_6a and d.connectors[1].charge_delay_s == CHARGE_DELAY_S


def test_stop_timer_resets_when_surplus_returns():
    rig = at_minimum()
    rig.charge(offered_a=6.0)
    assert rig.step(each(15.0)).solar_stop_timer_s == 600.0
    rig.charge(offered_a=6.0)
    d = rig.step(each(-2.0))
    assert not d.shortage and d.solar_stop_timer_s is None


def test_stop_time_zero_never_stops():
    s = EnergySettings(mode=Mode.SOLAR, max_mains_a=25, max_current_a=32, stop_time_min=0)
    rig = at_minimum(s)
    for _ in range(700):
        rig.charge(offered_a=6.0)
        d = rig.step(each(15.0))
        assert not d.less_6a and d.solar_stop_timer_s is None and rig.limit() == 6.0


@pytest.mark.parametrize(("isum", "timer"), [(2.0, None), (2.1, 600.0)])
def test_single_phase_stop_threshold(isum, timer):
    s = EnergySettings(mode=Mode.SOLAR, max_mains_a=25, max_current_a=32, enable_c2=EnableC2.ALWAYS_OFF)
    rig = at_minimum(s, phases=1, mains=(2.0, 0.0, 0.0))
    rig.charge(offered_a=6.0)
    assert rig.decision.solar_stop_timer_s is None
    assert rig.step((isum, 0.0, 0.0)).solar_stop_timer_s == timer  # 6 x 1 - 4 = 2 A


def test_hard_shortage_in_solar_when_mains_is_exceeded():
    rig = at_minimum()
    for i in range(3):
        rig.charge(offered_a=6.0)
        d = rig.step((26.0, 6.0, 6.0))  # base 20 on L1 + MinCurrent > 25
        assert d.hard_shortage and d.less_6a == (i == 2)
    assert d.connectors[1].binding == "mains"


@pytest.mark.parametrize(("isum", "allowed"), [(4.0, True), (4.1, False)])
def test_second_connector_needs_room_with_the_first_at_minimum(isum, allowed):
    rig = Rig(SOLAR, connectors=2)
    rig.charge(1, offered_a=10.0)
    rig.step(each(isum))
    rig.charge(1, offered_a=10.0)
    rig.plug(2)
    rig.step(each(isum))  # Isum must be <= 0 + 10 - 6 = 4 A
    assert (rig.limit(2) == 6.0) == allowed
