"""The energy routes of the local API over real HTTP, against a real Runtime (sim backend) in virtual time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepoint.api.app import LocalApi
from chargepoint.clock import VirtualClock
from chargepoint.config import ChargePointSection, Config
from chargepoint.controller import Authorize, SetLimit
from chargepoint.runtime import Runtime

FLAT = {"points": [[0, 2.0], [24, 2.0]], "phase_weights": [1.0, 1.0, 1.0]}


@asynccontextmanager
async def serve(data_dir: Path, *, energy: dict[str, Any] | None = None,
                sim: dict[str, Any] | None = None) -> AsyncIterator[tuple[Runtime, aiohttp.ClientSession, Any]]:
    loop_clock = _CLOCK[0]
    config = Config(chargepoint=ChargePointSection(data_dir=str(data_dir)), energy=dict(energy or {}),
                    sim=dict(sim or {}))
    runtime = Runtime(config=config, clock=loop_clock)
    await runtime.start()
    api = LocalApi(runtime, "127.0.0.1", 0)
    await api.start()
    session = aiohttp.ClientSession(base_url=f"http://127.0.0.1:{api.bound_port}")
    try:
        yield runtime, session, loop_clock
    finally:
        await session.close()
        await api.stop()
        await runtime.stop()


#: the VirtualClock of the test being run by run() (one at a time): serve() builds the runtime on it
_CLOCK: list[VirtualClock] = []


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    clock = VirtualClock()
    _CLOCK[:] = [clock]
    return clock.run(main())


async def post(session: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, str) else json.dumps(body)
    async with session.post(path, data=data, headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.json()


async def get(session: aiohttp.ClientSession, path: str) -> Any:
    async with session.get(path) as resp:
        assert resp.status == 200
        return await resp.json()


def test_settings_roundtrip_persist_and_survive_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        async with serve(tmp_path) as (runtime, s, _clock):
            doc = await get(s, "/api/settings")
            assert doc == {"mode": "normal", "override_current_a": None, "max_mains_a": 25, "max_circuit_a": 16,
                           "max_sum_mains_a": 0, "max_sum_mains_time_min": 0, "start_current_a": 4,
                           "stop_time_min": 10, "import_current_a": 0, "enable_c2": "always_on",
                           "grid_relay_max_sum_mains_a": 18}
            status, new = await post(s, "/api/settings", {"mode": "smart", "max_mains_a": 20, "enable_c2": "auto",
                                                          "max_sum_mains_a": 40, "override_current_a": 10})
            assert status == 200
            assert new["mode"] == "smart" and new["max_mains_a"] == 20 and new["override_current_a"] == 10.0
            assert await get(s, "/api/settings") == new
            assert runtime.station is not None
            assert runtime.station.snapshot(1).limits.get("override") == 10.0
            # the in-process restart (OCPP Reset) keeps them
            await runtime.stop()
            await runtime.start()
            assert await get(s, "/api/settings") == new
            assert runtime.station.snapshot(1).limits.get("override") == 10.0
        saved = json.loads((tmp_path / "energy_settings.json").read_text())
        assert saved["mode"] == "smart" and saved["max_sum_mains_a"] == 40
        # a new process with the same data directory
        async with serve(tmp_path) as (_runtime, s, _clock):
            assert (await get(s, "/api/settings"))["enable_c2"] == "auto"

    run(main)


BAD_SETTINGS = [
    ({"mode": "turbo"}, "mode"),
    ({"mode": 3}, "mode"),
    ({"max_mains_a": 5}, "max_mains_a"),
    ({"max_mains_a": "20"}, "max_mains_a"),
    ({"max_mains_a": 20.5}, "max_mains_a"),
    ({"max_circuit_a": 161}, "max_circuit_a"),
    ({"max_sum_mains_a": 5}, "max_sum_mains_a"),
    ({"start_current_a": -1}, "start_current_a"),
    ({"stop_time_min": 61}, "stop_time_min"),
    ({"import_current_a": True}, "import_current_a"),
    ({"enable_c2": "sometimes"}, "enable_c2"),
    ({"override_current_a": 3}, "override_current_a"),
    ({"override_current_a": 40}, "override_current_a"),  # above MaxCurrent 16
    ({"override_current_a": "10"}, "override_current_a"),
    ({"mode": "solar", "override_current_a": 10}, "override_current_a"),
    ({"max_mains_a": 30, "color": "red"}, "color"),
    ({}, None),
    ("[1, 2]", None),
    ("{not json", None),
]


def test_bad_settings_get_400_naming_the_field_and_change_nothing(tmp_path: Path) -> None:
    async def main() -> list[str]:
        problems = []
        async with serve(tmp_path) as (_runtime, s, _clock):
            before = await get(s, "/api/settings")
            for body, field in BAD_SETTINGS:
                status, doc = await post(s, "/api/settings", body)
                if status != 400 or doc.get("field") != field or not doc.get("error"):
                    problems.append(f"{body!r}: {status} {doc}")
                if await get(s, "/api/settings") != before:
                    problems.append(f"{body!r} changed the settings")
            status, _ = await post(s, "/api/settings", {"max_mains_a": 30})  # the program carries on
            assert status == 200
        assert json.loads((tmp_path / "energy_settings.json").read_text())["max_mains_a"] == 30
        return problems

    assert run(main) == []


def test_api_mains_meter_feeds_smart_mode_and_goes_stale_into_ct_nocomm(tmp_path: Path) -> None:
    async def main() -> None:
        async with serve(tmp_path, energy={"mode": "smart", "mains_meter": "api", "max_mains_a": 25}) as (
                runtime, s, clock):
            assert runtime.station is not None
            for body, field in [({"l1": 1, "l2": 2}, "l3"), ({"l1": 300, "l2": 0, "l3": 0}, "l1"),
                                ({"l1": 1, "l2": "x", "l3": 0}, "l2"), ({"l1": 1, "l2": 1, "l3": 1, "l4": 1}, "l4")]:
                status, doc = await post(s, "/api/mains", body)
                assert (status, doc["field"]) == (400, field), doc
            status, _ = await post(s, "/api/sim/connectors/1/plug", {})
            assert status == 200
            await clock.sleep(1)
            await runtime.station.submit(Authorize(1, True))
            for _ in range(15):  # a home-automation system posting every 2 s: base 10 A + what the EV draws
                ev = runtime.station.board.ev_current(1)
                status, _ = await post(s, "/api/mains", {"l1": 10 + ev[0], "l2": 10 + ev[1], "l3": 10 + ev[2]})
                assert status == 200
                await clock.sleep(2)
            energy = await get(s, "/api/energy")
            assert energy["faults"] == [] and energy["stale_mains"] is False
            ev = runtime.station.board.ev_current(1)
            assert 14.5 <= min(ev) and max(ev) <= 15.0  # 25 - 10, approached by +headroom/4 steps
            status_doc = await get(s, "/api/status")
            assert status_doc["connectors"][0]["binding_limit"] == "mains"
            await clock.sleep(14)  # no more readings: CT_NOCOMM after 11 s
            energy = await get(s, "/api/energy")
            assert energy["faults"] == ["ct_nocomm"] and energy["stale_mains"] is True
            snap = runtime.station.snapshot(1)
            assert snap.limits["mains"] == 0.0 and snap.offered_current_a == 0.0 and not snap.faults
            await clock.sleep(8)
            assert runtime.station.board.ev_current(1) == (0.0, 0.0, 0.0)
            status, _ = await post(s, "/api/mains", {"l1": 10, "l2": 10, "l3": 10})
            await clock.sleep(2.5)
            assert (await get(s, "/api/energy"))["faults"] == []

    run(main)


def test_mains_post_is_refused_when_a_meter_supplies_the_mains(tmp_path: Path) -> None:
    async def main() -> None:
        async with serve(tmp_path, sim={"house": {"base": FLAT}}) as (_runtime, s, _clock):
            status, doc = await post(s, "/api/mains", {"l1": 1, "l2": 2, "l3": 3})
            assert status == 409 and doc["field"] == "mains_meter"
            assert (await get(s, "/api/energy"))["mains_meter"] == "meter"

    run(main)


def test_battery_and_ev_meter_posts(tmp_path: Path) -> None:
    async def main() -> None:
        async with serve(tmp_path, energy={"mode": "solar", "mains_meter": "api"}) as (_runtime, s, clock):
            for body, field in [({}, "current_a"), ({"current_a": 250}, "current_a"), ({"current_a": None},
                                                                                      "current_a")]:
                status, doc = await post(s, "/api/battery", body)
                assert (status, doc["field"]) == (400, field)
            assert (await post(s, "/api/battery", {"current_a": 9.0}))[0] == 200
            assert (await post(s, "/api/mains", {"l1": -1, "l2": -1, "l3": -1}))[0] == 200
            status, doc = await post(s, "/api/ev-meter", {"l1": 1, "l2": 1, "l3": 1, "energy_wh": -5})
            assert (status, doc["field"]) == (400, "energy_wh")
            status, _ = await post(s, "/api/ev-meter", {"l1": 6, "l2": 6, "l3": 6, "power_w": 4140,
                                                        "energy_wh": 1200})
            assert status == 200
            await clock.sleep(2.5)
            energy = await get(s, "/api/energy")
            # battery 9 A charging counts as 3 A of export per phase: -1 - 3 = -4 A
            assert energy["battery_a"] == 9.0 and energy["mains_a"] == [-4.0, -4.0, -4.0]
            assert energy["ev_meter"]["current_a"] == [6.0, 6.0, 6.0] and energy["ev_meter"]["energy_wh"] == 1200

    run(main)


@pytest.mark.parametrize("ocpp", [None, 7.0])
def test_override_is_one_more_minimum_term_and_never_beats_ocpp(tmp_path: Path, ocpp: float | None) -> None:
    async def main() -> dict[str, Any]:
        async with serve(tmp_path, energy={"mode": "smart"}, sim={"house": {"base": FLAT}}) as (runtime, s, clock):
            assert runtime.station is not None
            await post(s, "/api/sim/connectors/1/plug", {})
            await clock.sleep(1)
            await runtime.station.submit(Authorize(1, True))
            if ocpp is not None:
                await runtime.station.submit(SetLimit(1, "ocpp", ocpp))
            await clock.sleep(30)
            status, _ = await post(s, "/api/settings", {"override_current_a": 10})
            assert status == 200
            await clock.sleep(10)
            doc = (await get(s, "/api/status"))["connectors"][0]
            status, _ = await post(s, "/api/settings", {"mode": "solar"})  # entering Solar clears the override
            settings = await get(s, "/api/settings")
            return {"doc": doc, "ev": runtime.station.board.ev_current(1), "settings": settings,
                    "limits": runtime.station.snapshot(1).limits}

    r = run(main)
    if ocpp is None:
        assert r["doc"]["binding_limit"] == "override" and r["doc"]["offered_current_a"] == 10.0
        assert r["ev"] == (10.0, 10.0, 10.0)
    else:
        assert r["doc"]["binding_limit"] == "ocpp" and r["doc"]["offered_current_a"] == 7.0
        assert r["ev"] == (7.0, 7.0, 7.0)
    assert r["settings"]["mode"] == "solar" and r["settings"]["override_current_a"] is None
    assert "override" not in r["limits"]


def test_openapi_lists_the_energy_routes(tmp_path: Path) -> None:
    async def main() -> dict[str, Any]:
        async with serve(tmp_path) as (_runtime, s, _clock):
            return await get(s, "/api/openapi.json")

    paths = run(main)["paths"]
    for path in ("/api/settings", "/api/mains", "/api/ev-meter", "/api/battery", "/api/energy"):
        assert path in paths
    assert set(paths["/api/settings"]) == {"get", "post"}
