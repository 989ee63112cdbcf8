"""Property: random base-load / PV / OCPP traces through the real station + sim + energy service.

Whatever the house does, the PWM current offered never exceeds any named limit in force (OCPP's
included), MaxCurrent or the cable, and C2 never changes while C1 is closed (commanded or physical).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargepoint.controller import SetLimit
from chargepoint.energy import EnableC2, EnergySettings, Mode
from tests.energy.site import Site, run_site

amps = st.floats(min_value=0.0, max_value=25.0, allow_nan=False).map(lambda x: round(x, 1))
step = st.tuples(
    st.floats(min_value=2.0, max_value=90.0).map(lambda x: round(x, 1)),  # seconds
    st.tuples(amps, amps, amps),  # extra house load
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=20.0).map(lambda x: round(x, 1))),  # OCPP limit
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from([Mode.SMART, Mode.SOLAR]),
    max_mains=st.integers(min_value=10, max_value=40),
    enable_c2=st.sampled_from([EnableC2.ALWAYS_ON, EnableC2.AUTO, EnableC2.SOLAR_OFF]),
    peak_w=st.integers(min_value=0, max_value=14000),
    start_hour=st.floats(min_value=8.0, max_value=17.0),
    clouds=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=1000),
    trace=st.lists(step, min_size=1, max_size=6),
)
def test_offered_current_never_exceeds_a_limit_and_c2_never_switches_closed(
        mode: Mode, max_mains: int, enable_c2: EnableC2, peak_w: int, start_hour: float, clouds: float, seed: int,
        trace: list[tuple[float, tuple[float, float, float], float | None]]) -> None:
    house = {"base": {"points": [[0, 1.0], [24, 1.0]], "phase_weights": [1.0, 0.8, 0.6]},
             "pv": {"peak_w": peak_w, "clouds": clouds, "seed": seed, "cloud_period_s": 60.0},
             "start_hour": start_hour}

    async def scenario(site: Site) -> list[str]:
        await site.plug_and_authorize()
        await site.clock.sleep(20)
        for seconds, load, ocpp in trace:
            site.house.set_load("random", load)
            await site.station.submit(SetLimit(1, "ocpp", ocpp))
            await site.clock.sleep(seconds)
        return site.violations

    violations = run_site({"house_config": house, "max_current_a": 16.0,
                           "settings": EnergySettings(mode=mode, max_mains_a=max_mains, enable_c2=enable_c2,
                                                      stop_time_min=1, max_current_a=16)}, scenario)
    assert violations == []
