"""A full simulated 3 h session: SimBoard + Station + Controller in virtual time."""

from __future__ import annotations

import time

import pytest

from backends.sim import create_backend
from chargepoint.clock import VirtualClock
from chargepoint.controller import Authorize, Controller, ControllerSettings, SubState
from chargepoint.station import Station
from hal.types import MeterReading

HOURS = 3.0
P_16A_3PH = 230.0 * 16.0 * 3  # W


def test_three_hour_session_energy_matches_the_analytic_integral() -> None:
    clock = VirtualClock()
    seen: dict[str, float] = {}
    readings: list[tuple[float, MeterReading]] = []

    async def main() -> dict[str, float]:
        board = create_backend(clock, {"ev_soc": 20.0, "ev_capacity_kwh": 60.0, "meter_interval_s": 1.0})
        ctrl = Controller(ControllerSettings(max_current_a=16.0), board.capabilities)
        station = Station(clock, board, ctrl)

        def listen(item: object) -> None:
            if isinstance(item, MeterReading) and item.connector == 1:
                readings.append((clock.monotonic(), item))
                if item.power_w > 0 and "first_power" not in seen:
                    seen["first_power"] = clock.monotonic()

        station.subscribe(listen)
        await station.start()
        await clock.sleep(2.0)
        board.plug(1, cable_a=32.0)
        await clock.sleep(1.0)
        await station.submit(Authorize(1, True))
        t_auth = clock.monotonic()
        await clock.sleep(HOURS * 3600.0)
        t_end = clock.monotonic()
        result = {
            "t_auth": t_auth,
            "t_end": t_end,
            "energy_wh": board.energy_wh(1),
            "soc": board.soc(1),
            "substate": str(station.snapshot(1).substate),
            "steps": float(station.steps),
        }
        await station.stop()
        return result

    wall0 = time.perf_counter()
    r = clock.run(main())
    wall = time.perf_counter() - wall0
    t_start = seen["first_power"]
    # EV request delay 1 s + debounce 0.501 s + relay 30 ms + EV reaction 2 s after authorisation
    assert t_start - r["t_auth"] == pytest.approx(1.0 + 0.501 + 0.03 + 2.0, abs=0.01)
    analytic_wh = P_16A_3PH * (r["t_end"] - t_start) / 3600.0
    print(f"\n3 h session: {r['steps']:.0f} controller steps, {len(readings)} meter readings, "
          f"energy {r['energy_wh']:.1f} Wh vs analytic {analytic_wh:.1f} Wh, SoC {r['soc']:.2f} %, "
          f"wall time {wall:.2f} s")
    assert r["energy_wh"] == pytest.approx(analytic_wh, rel=0.005)
    # the last reading the station saw is at most one meter interval old
    last_t, last = readings[-1]
    assert last.energy_import_wh == pytest.approx(P_16A_3PH * (last_t - t_start) / 3600.0, rel=0.005)
    assert r["soc"] == pytest.approx(20.0 + r["energy_wh"] / 600.0, rel=1e-6)
    assert r["substate"] == SubState.C2
