"""The SmartEVSE-compatible REST routes over real HTTP against a real runtime (sim backend): the
firmware's example requests (smartevse.md §7.1) answered in the firmware's shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from chargepoint.api import LocalApi
from chargepoint.app import build_runtime
from chargepoint.clock import RealClock
from chargepoint.config import load_config
from chargepoint.runtime import Runtime


async def _start(tmp_path: Any, **overrides: Any) -> tuple[Runtime, str]:
    cfg = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": "127.0.0.1:0",
                                         **overrides})
    from dataclasses import replace

    cfg = replace(cfg, energy={"mains_meter": "api"})
    runtime = build_runtime(cfg, RealClock())
    await runtime.start()
    local = next(s for s in runtime.services if isinstance(s, LocalApi))
    return runtime, f"http://127.0.0.1:{local.bound_port}"


@pytest.fixture
async def fw(tmp_path: Any) -> AsyncIterator[tuple[Runtime, aiohttp.ClientSession]]:
    runtime, base = await _start(tmp_path)
    async with aiohttp.ClientSession(base) as http:
        yield runtime, http
    await runtime.stop()


async def _post(http: aiohttp.ClientSession, path: str) -> dict[str, Any]:
    async with http.post(path, data=b"") as r:  # curl -X POST '...' -d ''
        assert r.status == 200
        assert r.content_type == "application/json"
        body: dict[str, Any] = await r.json()
        return body


async def _settings(http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get("/settings") as r:
        assert r.status == 200
        body: dict[str, Any] = await r.json()
        return body


async def test_get_settings_has_the_firmware_shape(fw: Any) -> None:
    _runtime, http = fw
    doc = await _settings(http)
    for key in ("version", "mode", "mode_id", "car_connected", "wifi", "evse", "settings", "mqtt", "ocpp",
                "home_battery", "ev_meter", "mains_meter", "phase_currents", "backlight"):
        assert key in doc, key
    assert doc["mode"] == "NORMAL" and doc["mode_id"] == 1 and doc["car_connected"] is False
    evse = doc["evse"]
    for key in ("temp", "temp_max", "connected", "access", "mode", "loadbl", "pwm", "solar_stop_timer", "state",
                "state_id", "error", "error_id", "rfid"):
        assert key in evse, key
    assert evse["state"] == "Ready to Charge" and evse["state_id"] == 0
    assert evse["error"] == "None" and evse["error_id"] == 0 and evse["access"] is True and evse["pwm"] == 1024
    s = doc["settings"]
    assert s["current_min"] == 6 and s["current_max"] == 16 and s["current_main"] == 25
    assert s["enable_C2"] == "Always On" and s["override_current"] == 0 and s["mains_meter"] == "API"
    assert set(doc["ev_meter"]["currents"]) == {"TOTAL", "L1", "L2", "L3"}
    for key in ("description", "address", "import_active_power", "total_kwh", "charged_kwh",
                "import_active_energy", "export_active_energy"):
        assert key in doc["ev_meter"], key
    assert set(doc["phase_currents"]) >= {"TOTAL", "L1", "L2", "L3", "last_data_update", "original_data"}
    assert doc["home_battery"] == {"current": 0, "last_update": 0}
    assert doc["mqtt"]["status"] == "Disabled"
    assert "connectors" not in doc  # one connector: exactly the firmware's document


async def test_mode_examples(fw: Any) -> None:
    runtime, http = fw
    assert await _post(http, "/settings?mode=3") == {"mode": "3"}
    doc = await _settings(http)
    assert doc["mode"] == "SMART" and doc["mode_id"] == 3 and doc["evse"]["mode"] == 1
    assert runtime.energy.settings.mode == "smart"
    assert await _post(http, "/settings?mode=0") == {"mode": "0"}
    doc = await _settings(http)
    assert doc["mode"] == "OFF" and doc["evse"]["access"] is False
    assert runtime.station.snapshot(1).limits.get("off") == 0.0
    assert await _post(http, "/settings?mode=4") == {"mode": "4"}
    assert (await _settings(http))["mode"] == "PAUSE"
    assert await _post(http, "/settings?mode=2") == {"mode": "2"}
    doc = await _settings(http)
    assert doc["mode"] == "SOLAR" and doc["evse"]["access"] is True
    assert "off" not in runtime.station.snapshot(1).limits and "pause" not in runtime.station.snapshot(1).limits
    for bad in ("5", "abc", "-1", ""):
        assert await _post(http, f"/settings?mode={bad}") == {"mode": "Value not allowed!"}
    assert (await _settings(http))["mode"] == "SOLAR"


async def test_override_current_in_da_with_the_firmware_range(fw: Any) -> None:
    runtime, http = fw
    assert await _post(http, "/settings?override_current=120") == {"override_current": 120}
    assert runtime.station.snapshot(1).limits["override"] == 12.0
    assert (await _settings(http))["settings"]["override_current"] == 120
    for bad in ("59", "161", "12.5", "x"):  # MinCurrent*10 .. MaxCurrent*10 (6..16 A)
        assert await _post(http, f"/settings?override_current={bad}") == {"override_current": "Value not allowed!"}
    assert runtime.station.snapshot(1).limits["override"] == 12.0
    assert await _post(http, "/settings?override_current=0") == {"override_current": 0}
    assert "override" not in runtime.station.snapshot(1).limits
    await _post(http, "/settings?override_current=100")
    assert await _post(http, "/settings?disable_override_current=1") == {"disable_override_current": "OK"}
    assert (await _settings(http))["settings"]["override_current"] == 0
    await _post(http, "/settings?mode=2")  # Solar: refused, like the firmware
    assert await _post(http, "/settings?override_current=100") == {"override_current": "Value not allowed!"}


async def test_ranged_settings_and_their_answers(fw: Any) -> None:
    runtime, http = fw
    ans = await _post(http, "/settings?current_max_sum_mains=40&solar_start_current=6&solar_max_import=3"
                            "&stop_timer=20&max_sum_mains_timer=5")
    assert ans == {"current_max_sum_mains": 40, "solar_start_current": 6, "solar_max_import": 3, "stop_timer": True,
                   "max_sum_mains_timer": 5}
    s = runtime.energy.settings
    assert (s.max_sum_mains_a, s.start_current_a, s.import_current_a, s.stop_time_min, s.max_sum_mains_time_min) == (
        40, 6, 3, 20, 5)
    ans = await _post(http, "/settings?current_max_sum_mains=9&solar_start_current=49&stop_timer=61")
    assert ans == {"current_max_sum_mains": "Value not allowed!", "solar_start_current": "Value not allowed!",
                   "stop_timer": False}
    assert await _post(http, "/settings?current_max_sum_mains=0") == {"current_max_sum_mains": 0}
    assert runtime.energy.settings.stop_time_min == 20
    assert await _post(http, "/settings?enable_C2=4") == {"settings": {"enable_C2": "Auto"}}
    assert runtime.energy.settings.enable_c2 == "auto"
    assert await _post(http, "/settings?enable_C2=7") == {"settings": {"enable_C2": "Value not allowed!"}}
    assert await _post(http, "/settings?current_min=6") == {"current_min": 6}
    assert await _post(http, "/settings?current_min=17") == {"current_min": "Value not allowed!"}
    assert await _post(http, "/settings?lcdlock=1") == {"lcdlock": "not supported"}
    assert await _post(http, "/settings?cablelock=1") == {"cablelock": 1}
    assert (await _settings(http))["settings"]["cablelock"] == 1


async def test_currents_examples(fw: Any) -> None:
    runtime, http = fw
    ans = await _post(http, "/currents?L1=100&L2=50&L3=-30")
    assert ans == {"original": {"L1": 100, "L2": 50, "L3": -30}, "L1": 100, "L2": 50, "L3": -30, "TOTAL": 120}
    doc = await _settings(http)
    assert doc["phase_currents"]["L1"] == 100 and doc["phase_currents"]["TOTAL"] == 120
    assert doc["phase_currents"]["last_data_update"] > 1_600_000_000
    assert await _post(http, "/currents?battery_current=-50") == {"battery_current": -50}
    assert (await _settings(http))["home_battery"]["current"] == -50
    assert await _post(http, "/currents?L1=2000&L2=0&L3=0") == {"TOTAL": "Value not allowed!"}
    assert await _post(http, "/currents?battery_current=abc") == {"battery_current": "Value not allowed!"}
    assert runtime.energy.manager.meters.mains.da == (100, 50, -30)


async def test_currents_ignored_when_the_mains_meter_is_not_api(tmp_path: Any) -> None:
    from dataclasses import replace

    cfg = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": "127.0.0.1:0"})
    flat = {"points": [[0, 2.0], [24, 2.0]], "phase_weights": [1.0, 1.0, 1.0]}
    runtime = build_runtime(replace(cfg, sim={"house": {"base": flat}}), RealClock())
    await runtime.start()
    try:
        local = next(s for s in runtime.services if isinstance(s, LocalApi))
        async with aiohttp.ClientSession(f"http://127.0.0.1:{local.bound_port}") as http:
            assert await _post(http, "/currents?L1=100&L2=50&L3=-30") == {}
            assert (await _settings(http))["settings"]["mains_meter"] == "Sim house"
    finally:
        await runtime.stop()


async def test_ev_meter_example(fw: Any) -> None:
    runtime, http = fw
    ans = await _post(http, "/ev_meter?L1=60&L2=61&L3=62&import_active_energy=12345&export_active_energy=0"
                            "&import_active_power=4100")
    assert ans == {"ev_meter": {"currents": {"L1": 60, "L2": 61, "L3": 62, "TOTAL": 183},
                                "import_active_power": 4100, "import_active_energy": 12345,
                                "export_active_energy": 0, "total_kwh": 12.3, "charged_kwh": 0.0}}
    assert runtime.energy.ev_meter_api.current_a == (6.0, 6.1, 6.2)
    doc = await _settings(http)
    ev = doc["ev_meter"]
    assert ev["currents"] == {"TOTAL": 183, "L1": 60, "L2": 61, "L3": 62}
    assert ev["import_active_power"] == 4.1 and ev["total_kwh"] == 12.3 and ev["description"] == "API"
    assert await _post(http, "/ev_meter?L1=x&L2=0&L3=0") == {"ev_meter": {"currents": "Value not allowed!"}}


async def test_plugged_ev_shows_in_the_firmware_states(fw: Any) -> None:
    runtime, http = fw
    async with http.post("/api/sim/connectors/1/plug", json={}) as r:
        assert r.status == 200
    clock = runtime.clock
    deadline = clock.monotonic() + 5
    while not (await _settings(http))["car_connected"]:
        assert clock.monotonic() < deadline
        await clock.sleep(0.05)
    doc = await _settings(http)  # not authorised (no OCPP here): connected, no PWM
    assert doc["evse"]["connected"] is True
    assert (doc["evse"]["state_id"], doc["evse"]["state"]) == (9, "Charging Stopped")
    from chargepoint.controller import Authorize

    await runtime.station.submit(Authorize(1, True))
    doc = await _settings(http)
    assert (doc["evse"]["state_id"], doc["evse"]["state"]) == (1, "Connected to EV")
    assert doc["evse"]["pwm"] == round(1024 * runtime.station.snapshot(1).pwm_duty_permille / 1000) < 1024


async def test_more_connectors_are_listed(tmp_path: Any) -> None:
    runtime, base = await _start(tmp_path, **{"backend.connectors": 2})
    try:
        async with aiohttp.ClientSession(base) as http:
            doc = await _settings(http)
        assert [c["connector"] for c in doc["connectors"]] == [1, 2]
        assert doc["connectors"][1]["state"] == "Ready to Charge"
    finally:
        await runtime.stop()


async def test_non_ascii_or_huge_integers_are_refused(fw: Any) -> None:
    _runtime, http = fw
    assert await _post(http, "/settings?mode=%EF%BC%91") == {"mode": "Value not allowed!"}  # fullwidth 1
    assert await _post(http, "/settings?stop_timer=" + "9" * 400) == {"stop_timer": False}
