"""The local HTTP API over real HTTP (aiohttp client -> aiohttp server on a real socket), sim backend."""

from __future__ import annotations

import aiohttp
import pytest

from chargepoint.api import LocalApi
from chargepoint.app import build_runtime
from chargepoint.clock import RealClock
from chargepoint.config import load_config


@pytest.fixture
async def api(tmp_path):
    cfg = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": "127.0.0.1:0",
                                         "backend.connectors": 2})
    clock = RealClock()
    runtime = build_runtime(cfg, clock)
    await runtime.start()
    local = next(s for s in runtime.services if isinstance(s, LocalApi))
    base = f"http://127.0.0.1:{local.bound_port}"
    async with aiohttp.ClientSession(base) as http:
        yield runtime, http, clock
    await runtime.stop()


async def _status(http):
    async with http.get("/api/status") as r:
        assert r.status == 200
        return await r.json()


async def _wait(clock, http, predicate, seconds=5.0):
    deadline = clock.monotonic() + seconds
    body = await _status(http)
    while not predicate(body):
        assert clock.monotonic() < deadline, body
        await clock.sleep(0.05)
        body = await _status(http)
    return body


async def test_status_document_has_the_stable_fields(api):
    _runtime, http, _clock = api
    body = await _status(http)
    assert body["ocpp"] == {"connected": False, "registration": "None"}
    assert [c["id"] for c in body["connectors"]] == [1, 2]
    c1 = body["connectors"][0]
    for key in ("iec_state", "status", "offered_current_a", "current_a", "contactor_closed", "transaction_id",
                "energy_wh", "limit_a", "binding_limit"):
        assert key in c1
    assert c1["iec_state"] == "A" and c1["status"] == "Available"
    assert c1["current_a"] == [0.0, 0.0, 0.0] and c1["contactor_closed"] is False


async def test_plug_unplug_and_ev_controls_move_the_real_controller(api):
    runtime, http, clock = api
    async with http.post("/api/sim/connectors/1/plug", json={"cable_a": 20}) as r:
        assert r.status == 200
    body = await _wait(clock, http, lambda b: b["connectors"][0]["iec_state"] == "B")
    assert body["connectors"][0]["status"] == "Preparing"
    assert body["connectors"][0]["cable_ampacity_a"] == 20
    async with http.post("/api/sim/connectors/1/ev", json={"charging": True, "max_current_a": 10, "phases": 1}) as r:
        assert r.status == 200
    async with http.post("/api/sim/connectors/1/unplug") as r:
        assert r.status == 200
    await _wait(clock, http, lambda b: b["connectors"][0]["iec_state"] == "A")
    assert runtime.station.snapshot(2).iec_state == "A"  # the other connector untouched


async def test_fault_injection_shows_faulted_and_clears(api):
    _runtime, http, clock = api
    async with http.post("/api/sim/faults", json={"connector": 2, "fault": "overtemp", "active": True}) as r:
        assert r.status == 200
    body = await _wait(clock, http, lambda b: "overtemp" in b["connectors"][1]["faults"])
    assert body["connectors"][1]["status"] == "Faulted"
    assert body["connectors"][0]["faults"] == []


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/sim/connectors/1/plug", {"cable_a": "32"}, "cable_a"),
        ("/api/sim/connectors/1/plug", {"cable_a": 2}, "cable_a"),
        ("/api/sim/connectors/1/plug", {"cable": 32}, "cable"),
        ("/api/sim/connectors/1/ev", {"charging": "yes"}, "charging"),
        ("/api/sim/connectors/1/ev", {"phases": 2}, "phases"),
        ("/api/sim/connectors/1/ev", {"max_current_a": -1}, "max_current_a"),
        ("/api/sim/connectors/1/ev", {}, None),
        ("/api/sim/rfid", {}, "id_tag"),
        ("/api/sim/rfid", {"id_tag": ""}, "id_tag"),
        ("/api/sim/rfid", {"id_tag": "X" * 21}, "id_tag"),
        ("/api/sim/faults", {"connector": 1, "fault": "fire", "active": True}, "fault"),
        ("/api/sim/faults", {"connector": 9, "fault": "rcd", "active": True}, "connector"),
        ("/api/sim/faults", {"connector": 1, "fault": "rcd"}, "active"),
    ],
)
async def test_bad_bodies_get_400_naming_the_field_and_change_nothing(api, path, payload, field):
    runtime, http, _clock = api
    before = [s for s in runtime.station.snapshots()]
    async with http.post(path, json=payload) as r:
        assert r.status == 400
        body = await r.json()
    assert body["field"] == field
    assert body["error"]
    after = runtime.station.snapshots()
    assert [(s.iec_state, s.faults, s.ev_connected) for s in after] == [
        (s.iec_state, s.faults, s.ev_connected) for s in before]


async def test_malformed_json_and_unknown_connector(api):
    _runtime, http, _clock = api
    async with http.post("/api/sim/rfid", data=b"{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert "JSON" in (await r.json())["error"]
    async with http.post("/api/sim/rfid", json=[1, 2]) as r:
        assert r.status == 400
    async with http.post("/api/sim/connectors/7/plug") as r:
        assert r.status == 404
        assert (await r.json())["field"] == "id"
    async with http.get("/api/nothing-here") as r:
        assert r.status == 404
        assert "error" in await r.json()


async def test_openapi_document_lists_the_routes(api):
    _runtime, http, _clock = api
    async with http.get("/api/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"].startswith("3.")
    for route in ("/api/status", "/api/sim/connectors/{id}/plug", "/api/sim/connectors/{id}/unplug",
                  "/api/sim/connectors/{id}/ev", "/api/sim/rfid", "/api/sim/faults"):
        assert route in doc["paths"], route


async def test_sim_routes_are_404_without_the_sim_backend(api):
    runtime, http, _clock = api
    runtime.station.backend_name = "smartevse"  # the same real station, reported as another backend
    async with http.post("/api/sim/connectors/1/plug") as r:
        assert r.status == 404
    async with http.get("/api/status") as r:
        assert r.status == 200


async def test_reset_is_refused_while_the_cause_persists(api):
    from chargepoint.controller.types import Authorize

    runtime, http, clock = api
    async with http.post("/api/sim/connectors/1/plug") as r:
        assert r.status == 200
    await runtime.station.submit(Authorize(1, True))
    await _wait(clock, http, lambda b: b["connectors"][0]["contactor_closed"])
    await clock.sleep(0.5)  # commanded closed is not yet closed: let the relay (relay_delay_s) pull in
    async with http.post("/api/sim/faults", json={"connector": 1, "fault": "weld", "active": True}) as r:
        assert r.status == 200
    async with http.post("/api/sim/connectors/1/unplug") as r:  # contactors commanded open: they stay closed
        assert r.status == 200
    await _wait(clock, http, lambda b: "weld" in b["connectors"][0]["faults"])
    async with http.post("/api/connectors/1/reset-fault", json={"fault": "weld"}) as r:
        body = await r.json()
    assert r.status == 409 and body["cleared"] is False and "weld" in body["faults"]
    async with http.post("/api/connectors/1/reset-fault", json={"fault": "rcd"}) as r:
        assert r.status == 200 and (await r.json())["detail"] == "not active"
    async with http.post("/api/connectors/1/reset-fault", json={"fault": "fire"}) as r:
        assert r.status == 400 and (await r.json())["field"] == "fault"
    async with http.post("/api/sim/faults", json={"connector": 1, "fault": "weld", "active": False}) as r:
        assert r.status == 200
    await clock.sleep(0.5)  # the contactor's feedback opens
    async with http.post("/api/connectors/1/reset-fault", json={"fault": "weld"}) as r:
        assert r.status == 200 and (await r.json())["cleared"] is True
    await _wait(clock, http, lambda b: b["connectors"][0]["status"] == "Available")


async def test_a_latched_fault_stays_until_reset(api):
    _runtime, http, clock = api
    async with http.post("/api/sim/faults", json={"connector": 1, "fault": "rcd", "active": True}) as r:
        assert r.status == 200
    await _wait(clock, http, lambda b: "rcd" in b["connectors"][0]["faults"])
    async with http.post("/api/sim/faults", json={"connector": 1, "fault": "rcd", "active": False}) as r:
        assert r.status == 200
    await clock.sleep(1.0)
    assert "rcd" in (await _status(http))["connectors"][0]["faults"]  # latched
    async with http.post("/api/connectors/1/reset-fault", json={"fault": "rcd"}) as r:
        assert r.status == 200 and (await r.json())["cleared"] is True
