from itertools import pairwise

import pytest

from backends.sim.house_model import BaseLoadProfile, HomeBattery, House, PvArray


def test_base_load_profile_interpolates_and_weights_phases():
    p = BaseLoadProfile(points=((0, 1.0), (6, 1.0), (7, 3.0), (24, 1.0)), phase_weights=(1.0, 0.5, 0.0))
    assert p.level(6.5) == pytest.approx(2.0)
    assert p.current(6.5) == pytest.approx((2.0, 1.0, 0.0))
    assert p.level(24 + 6.5) == pytest.approx(2.0)  # wraps around the day


@pytest.mark.parametrize(
    ("make", "field"),
    [(lambda: BaseLoadProfile(points=((0, 1.0),)), "points"),
     (lambda: BaseLoadProfile(points=((5, 1.0), (24, 1.0))), "points"),
     (lambda: PvArray(phases=2), "phases"),
     (lambda: PvArray(clouds=1.5), "clouds"),
     (lambda: PvArray(sunrise_h=20, sunset_h=8), "sunrise_h"),
     (lambda: HomeBattery(capacity_wh=0), "capacity_wh"),
     (lambda: HomeBattery(initial_soc=0.1, min_soc=0.2), "min_soc"),
     (lambda: House(voltage_v=0), "voltage_v")],
)
def test_bad_parameters_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_pv_curve_dark_at_night_peak_at_noon():
    pv = PvArray(peak_w=6000, sunrise_h=7, sunset_h=19)
    assert pv.power_w(0, 3.0) == 0.0 and pv.power_w(0, 19.5) == 0.0
    assert pv.power_w(0, 13.0) == pytest.approx(6000.0)
    assert 0 < pv.power_w(0, 9.0) < pv.power_w(0, 11.0) < 6000


def test_clouds_are_deterministic_bounded_and_seeded():
    a = PvArray(clouds=0.7, seed=1)
    b = PvArray(clouds=0.7, seed=1)
    c = PvArray(clouds=0.7, seed=2)
    ts = [i * 37.0 for i in range(2000)]
    fa = [a.cloud_factor(t) for t in ts]
    assert fa == [b.cloud_factor(t) for t in ts]
    assert fa != [c.cloud_factor(t) for t in ts]
    assert all(0.3 - 1e-9 <= f <= 1.0 for f in fa)
    assert max(fa) - min(fa) > 0.3  # it really varies
    assert max(abs(x - y) for x, y in pairwise(fa)) < 0.2  # smoothly
    assert PvArray().cloud_factor(123.0) == 1.0


def test_mains_is_base_plus_ev_minus_pv_without_battery():
    house = House(base=BaseLoadProfile(points=((0, 2.0), (24, 2.0)), phase_weights=(1, 1, 1)),
                  pv=PvArray(peak_w=6900, sunrise_h=7, sunset_h=19), voltage_v=230, start_hour=13)
    r = house.reading(0.0, ev_a=(10.0, 10.0, 10.0))
    # PV 6900 W / 230 V = 30 A over three phases = 10 A each
    assert r.mains_a == pytest.approx((2.0, 2.0, 2.0), abs=1e-3)
    assert r.battery_a == 0.0 and r.soc is None
    r1 = House(pv=PvArray(peak_w=2300, sunrise_h=7, sunset_h=19, phases=1), start_hour=13).reading(0.0)
    assert r1.pv_a == pytest.approx((10.0, 0.0, 0.0))


def test_battery_absorbs_surplus_until_full_then_exports():
    house = House(base=BaseLoadProfile(points=((0, 1.0), (24, 1.0)), phase_weights=(1, 1, 1)),
                  pv=PvArray(peak_w=4600, sunrise_h=0, sunset_h=24),
                  battery=HomeBattery(capacity_wh=1000, max_power_w=3000, initial_soc=0.5), start_hour=12)
    r = house.reading(0.0)
    # surplus 4600 - 3 x 230 = 3910 W; the battery takes its 3000 W
    assert r.battery_w == pytest.approx(3000.0) and r.battery_a == pytest.approx(3000 / 230)
    assert sum(r.mains_a) * 230 == pytest.approx(-910.0, abs=2)
    t = 0.0
    while r.battery_w > 0 and t < 3600:
        t += 10.0
        r = house.reading(t)
    # 500 Wh at 3000 W (falling slowly with the sun) take about 10 minutes
    assert 500 < t < 800 and r.soc == pytest.approx(1.0)
    assert sum(r.mains_a) < -10  # full: all surplus exported


def test_battery_covers_deficit_down_to_min_soc_and_single_phase_battery_on_l1():
    house = House(base=BaseLoadProfile(points=((0, 2.0), (24, 2.0)), phase_weights=(1, 1, 1)),
                  battery=HomeBattery(capacity_wh=1000, max_power_w=5000, initial_soc=0.5, min_soc=0.4,
                                      phases=1), start_hour=22)
    r = house.reading(0.0, ev_a=(0.0, 0.0, 0.0))
    assert r.battery_w == pytest.approx(-1380.0)  # 6 A x 230 V
    assert r.mains_a == pytest.approx((2.0 - 6.0, 2.0, 2.0))  # the inverter sits on L1
    r = house.reading(3600.0)
    assert r.soc == pytest.approx(0.4) and r.battery_w == 0.0 and sum(r.mains_a) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="t:"):
        house.reading(10.0)


def test_house_from_config():
    from backends.sim.house_model import house_from_config

    h = house_from_config({"base": {"points": [[0, 2.0], [24, 2.0]], "phase_weights": [1, 1, 1]},
                           "pv": {"peak_w": 6900, "sunrise_h": 7, "sunset_h": 19}, "battery": None,
                           "start_hour": 13})
    assert h.reading(0.0, (10.0, 10.0, 10.0)).mains_a == pytest.approx((2.0, 2.0, 2.0), abs=1e-3)
    for bad, field in [({"pv": {"clouds": 2}}, "pv.clouds"), ({"pv": {"colour": 1}}, "pv.colour"),
                       ({"garden": {}}, "garden"), ({"battery": 5}, "battery")]:
        with pytest.raises(ValueError, match=field):
            house_from_config(bad)
