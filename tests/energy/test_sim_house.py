"""The simulated house's mains meter on a SimBoard (real board, virtual time) and its configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backends.sim import create_backend
from backends.sim.house import house_source
from chargepoint.clock import VirtualClock
from chargepoint.config import ChargePointSection, Config
from chargepoint.energy import SettingsError
from chargepoint.runtime import Runtime
from hal.types import MeterReading, PilotMode, SetContactors, SetPilot

FLAT = {"points": [[0, 2.0], [24, 2.0]], "phase_weights": [1.0, 0.5, 0.0]}


def test_mains_is_base_plus_loads_plus_ev_minus_pv_and_energy_is_integrated() -> None:
    clock = VirtualClock()

    async def main() -> tuple[list[MeterReading], tuple[float, float, float] | None]:
        board = create_backend(clock, {"ev_reaction_s": 0.0, "ev_request_delay_s": 0.0})
        house = house_source(clock, board, {"house": {"base": FLAT, "subpanel": True, "interval_s": 2.0,
                                                      "pv": {"peak_w": 6900, "sunrise_h": 6, "sunset_h": 18},
                                                      "start_hour": 12.0}})
        assert house is not None
        await board.start()
        await house.start()
        readings: list[MeterReading] = []

        async def collect() -> None:
            async for r in house.events():
                readings.append(r)

        task = asyncio.create_task(collect())
        await clock.sleep(3.0)  # two readings: t=0, t=2
        board.plug(1)
        await board.set_authorization(1, True)
        board.execute(SetPilot(1, PilotMode.PWM, 166, 10.0))
        await clock.sleep(0.5)
        board.execute(SetContactors(1, True, True))
        house.set_load("kettle", (8.0, 0.0, 0.0))
        house.set_load("dryer", (0.0, 0.0, 3.0), subpanel=True)
        await clock.sleep(4.0)
        sub = house.subpanel_a()
        await house.close()
        await task
        await board.close()
        return readings, sub

    readings, sub = clock.run(main())
    assert [r.connector for r in readings] == [0] * len(readings) and len(readings) == 4
    pv = 6900 / 230 / 3  # noon: clear-sky peak, balanced inverter
    first = readings[0]
    assert first.current_a == pytest.approx((2.0 - pv, 1.0 - pv, 0.0 - pv), abs=1e-3)
    assert first.energy_import_wh == 0.0 and first.energy_export_wh == 0.0
    assert readings[1].energy_export_wh == pytest.approx(-first.power_w * 2.0 / 3600, rel=1e-3)
    last = readings[-1]  # EV 10 A x 3 + kettle 8 A on L1 + dryer 3 A on L3 (behind the sub-panel)
    assert last.current_a == pytest.approx((2.0 + 8 + 10 - pv, 1.0 + 10 - pv, 3 + 10 - pv), abs=1e-2)
    assert sub == (10.0, 10.0, 13.0)


@pytest.mark.parametrize(("house", "field"), [
    ({"pv": {"clouds": 2}}, "house.pv.clouds"),
    ({"pv": {"sunshine": 1}}, "house.pv.sunshine"),
    ({"garage": {}}, "house.garage"),
    ({"subpanel": {"points": [[0, 1]]}}, "house.subpanel.points"),
    ({"subpanel": {"colour": 1}}, "house.subpanel.colour"),
    ({"subpanel": 3}, "house.subpanel"),
    ({"interval_s": 0}, "house.interval_s"),
    ("sunny", "house"),
])
def test_bad_house_options_name_the_key(house: object, field: str) -> None:
    clock = VirtualClock()
    board = create_backend(clock, {})
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        house_source(clock, board, {"house": house})
    clock.loop.close()


def test_runtime_wires_the_house_and_the_energy_service(tmp_path: Path) -> None:
    clock = VirtualClock()
    config = Config(chargepoint=ChargePointSection(data_dir=str(tmp_path)), energy={"mode": "smart"},
                    sim={"house": {"base": FLAT}, "meter_interval_s": 1.0})

    async def main() -> dict[str, object]:
        runtime = Runtime(config=config, clock=clock)
        await runtime.start()
        await clock.sleep(5)
        assert runtime.station is not None and runtime.energy is not None
        result = {"mains": runtime.station.latest_meter(0), "status": runtime.energy.status()}
        await runtime.stop()
        return result

    r = clock.run(main())
    mains = r["mains"]
    assert isinstance(mains, MeterReading) and mains.current_a == (2.0, 1.0, 0.0)
    status = r["status"]
    assert isinstance(status, dict)
    assert status["mains_meter"] == "meter" and status["mode"] == "smart" and status["mains_a"] == [2.0, 1.0, 0.0]
    assert status["cycles"] >= 3


@pytest.mark.parametrize(("energy", "field"), [
    ({"mode": "eco"}, "mode"), ({"max_mains_a": 500}, "max_mains_a"), ({"mains_meter": "p1"}, "mains_meter"),
    ({"ev_meters": "yes"}, "ev_meters"), ({"override_current_a": 2}, "override_current_a"), ({"x": 1}, "x"),
    ({"max_current_a": 20}, "max_current_a"),
])
def test_bad_energy_config_names_the_key(tmp_path: Path, energy: dict[str, object], field: str) -> None:
    clock = VirtualClock()
    config = Config(chargepoint=ChargePointSection(data_dir=str(tmp_path)), energy=energy)

    async def main() -> None:
        runtime = Runtime(config=config, clock=clock)
        try:
            with pytest.raises(SettingsError) as info:
                await runtime.start()
            assert info.value.field == field
        finally:
            await runtime.stop()

    clock.run(main())
