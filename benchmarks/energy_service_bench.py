"""Energy service benchmark: the whole loop (sim house + SimBoard + Station + controller + EnergyService)
in virtual time.

Run: /work/venv/bin/python benchmarks/energy_service_bench.py
Prints a table and writes benchmarks/results/energy_service.json.

* a 10-h Solar day (08:00-18:00, EnableC2 Auto, 10 kW PV with clouds, 3 kWh-ish house load): wall time,
  virtual-time speed-up, regulation cycles, energy to the EV, PV self-consumption, grid import while
  charging, phase switches;
* Smart reaction: a 12 A heat-pump step with MaxMains 25 A -- virtual seconds until the mains is back
  under MaxMains and until the EV draws the new share (meter period 1 s, cycle 2 s, EV reaction 2 s).

Wall-clock measurement is the point of this script, so it reads time.perf_counter() directly.
"""

from __future__ import annotations

import json
import logging
import pathlib
import sys
import time

import structlog

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends.sim import create_backend  # noqa: E402
from backends.sim.house import house_source  # noqa: E402
from chargepoint.clock import VirtualClock  # noqa: E402
from chargepoint.controller import Authorize, Controller, ControllerSettings  # noqa: E402
from chargepoint.energy import EnableC2, EnergySettings, Mode  # noqa: E402
from chargepoint.services.energy import EnergyService  # noqa: E402
from chargepoint.station import Station  # noqa: E402
from hal.types import ContactorFeedback, MeterReading  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "energy_service.json"


async def _build(clock: VirtualClock, house_cfg: dict, settings: EnergySettings):  # type: ignore[no-untyped-def]
    board = create_backend(clock, {"meter_interval_s": 1.0, "ev_capacity_kwh": 200.0, "ev_soc": 10.0})
    ctrl = Controller(ControllerSettings(max_current_a=16.0), board.capabilities)
    house = house_source(clock, board, {"house": house_cfg})
    station = Station(clock, board, ctrl, extra_sources=[house])
    energy = EnergyService(clock, station, settings=settings, house=house)
    await station.start()
    await energy.start()
    return board, house, station, energy


def solar_day() -> dict[str, float]:
    clock = VirtualClock()
    hours = 10.0
    house_cfg = {"base": {"points": [[0, 1.5], [12, 2.5], [24, 1.5]], "phase_weights": [1.0, 0.7, 0.5]},
                 "pv": {"peak_w": 10000, "sunrise_h": 6, "sunset_h": 20, "clouds": 0.7, "cloud_period_s": 600,
                        "seed": 11},
                 "start_hour": 8.0}
    out: dict[str, float] = {}

    async def main() -> None:
        board, house, station, energy = await _build(
            clock, house_cfg, EnergySettings(mode=Mode.SOLAR, max_current_a=16, enable_c2=EnableC2.AUTO))
        stats = {"pv_wh": 0.0, "import_wh": 0.0, "export_wh": 0.0, "switches": 0}
        last = {"t": None, "c2": None}

        def listen(item: object) -> None:
            if isinstance(item, MeterReading) and item.connector == 0 and house.last is not None:
                t = clock.monotonic()
                if last["t"] is not None:
                    dt_h = (t - last["t"]) / 3600.0  # type: ignore[operator]
                    stats["pv_wh"] += house.last.pv_w * dt_h
                    if item.power_w > 0:
                        stats["import_wh"] += item.power_w * dt_h
                    else:
                        stats["export_wh"] -= item.power_w * dt_h
                last["t"] = t
            elif isinstance(item, ContactorFeedback) and item.c1_closed:
                if last["c2"] is not None and last["c2"] != item.c2_closed:
                    stats["switches"] += 1
                last["c2"] = item.c2_closed

        station.subscribe(listen)
        board.plug(1)
        await clock.sleep(1)
        await station.submit(Authorize(1, True))
        wall0 = time.perf_counter()
        await clock.sleep(hours * 3600)
        out["wall_s"] = time.perf_counter() - wall0
        out["virtual_h"] = hours
        out["speedup"] = hours * 3600 / out["wall_s"]
        out["cycles"] = energy.cycles
        out["station_steps"] = station.steps
        out["ev_kwh"] = board.energy_wh(1) / 1000
        out["pv_kwh"] = stats["pv_wh"] / 1000
        out["grid_import_kwh"] = stats["import_wh"] / 1000
        out["grid_export_kwh"] = stats["export_wh"] / 1000
        out["phase_switches"] = stats["switches"]
        await energy.stop()
        await station.stop()

    clock.run(main())
    return out


def smart_reaction() -> dict[str, float]:
    clock = VirtualClock()
    out: dict[str, float] = {}

    async def main() -> None:
        board, house, station, energy = await _build(
            clock, {"base": {"points": [[0, 5], [24, 5]], "phase_weights": [1, 1, 1]}, "start_hour": 19},
            EnergySettings(mode=Mode.SMART, max_mains_a=25, max_current_a=16))
        board.plug(1)
        await clock.sleep(1)
        await station.submit(Authorize(1, True))
        await clock.sleep(60)
        t0 = clock.monotonic()
        house.set_load("heat_pump", (12.0, 12.0, 12.0))
        mains_ok = ev_ok = None
        while clock.monotonic() - t0 < 60 and (mains_ok is None or ev_ok is None):
            await clock.sleep(0.05)
            now = clock.monotonic() - t0
            if mains_ok is None and max(house.read().mains_a) <= 25.0:
                mains_ok = now
            if ev_ok is None and max(board.ev_current(1)) <= 8.0:
                ev_ok = now
        out["mains_under_maxmains_s"] = round(mains_ok or -1, 2)
        out["ev_at_new_share_s"] = round(ev_ok or -1, 2)
        await energy.stop()
        await station.stop()

    clock.run(main())
    return out


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    day = solar_day()
    reaction = smart_reaction()
    rows = [
        ("solar day: virtual hours", f"{day['virtual_h']:.0f} h"),
        ("solar day: wall time", f"{day['wall_s']:.2f} s"),
        ("solar day: speed-up", f"{day['speedup']:,.0f}x"),
        ("solar day: regulation cycles", f"{day['cycles']:.0f}"),
        ("solar day: controller steps", f"{day['station_steps']:.0f}"),
        ("solar day: PV produced", f"{day['pv_kwh']:.1f} kWh"),
        ("solar day: energy to the EV", f"{day['ev_kwh']:.1f} kWh"),
        ("solar day: grid import", f"{day['grid_import_kwh']:.2f} kWh"),
        ("solar day: grid export", f"{day['grid_export_kwh']:.2f} kWh"),
        ("solar day: 1P<->3P switches", f"{day['phase_switches']:.0f}"),
        ("smart step: mains <= MaxMains after", f"{reaction['mains_under_maxmains_s']:.2f} s (virtual)"),
        ("smart step: EV at the new share after", f"{reaction['ev_at_new_share_s']:.2f} s (virtual)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"solar_day": day, "smart_reaction": reaction}, indent=2) + "\n")
    print(f"\nwritten {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
