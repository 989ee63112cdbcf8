"""A fleet of 100 full charge points against the test CSMS in one event loop, driven over the fleet's
real HTTP API.  Every frame every member sends is checked against the official OCPP 1.6 schemas by
the independent validator (the suite's autouse fixture hooks the TestCsms): the full check at 100."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
from aiohttp import web

from chargepoint.clock import RealClock
from chargepoint.csms import IN, TestCsms
from chargepoint.fleet.api import build_app
from chargepoint.fleet.export import export_latencies
from chargepoint.fleet.fleet import Fleet
from chargepoint.fleet.template import template_from_dict


async def _until(clock: RealClock, predicate, within: float, what: str) -> None:
    deadline = clock.monotonic() + within
    while not predicate():
        assert clock.monotonic() < deadline, f"timed out waiting for {what}"
        await clock.sleep(0.1)


async def test_hundred_charge_points_boot_charge_and_obey_the_api(tmp_path):
    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    csms.behaviour.heartbeat_interval = 5
    await csms.start()
    template = template_from_dict({
        "fleet": {"count": 100, "csms_url": csms.url, "ramp": "200/s"},
        "chargepoint": {"meter_interval_s": 1, "config": {"MeterValueSampleInterval": 2}},
        "group": [{"name": "busy", "numbers": "1-20", "connectors": 2,
                   "behaviour": {"charging_at_start": 1.0, "session_minutes": 600, "rfid_tags": ["FLEET-TAG"],
                                 "ev_mix": [{"phases": 1, "max_current_a": 16}, {"phases": 3}]}}],
    })
    fleet = Fleet(clock, template, tmp_path / "data")
    runner = web.AppRunner(build_app(fleet))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}/api"
    try:
        await fleet.start()
        await _until(clock, lambda: fleet.summary()["booted"] == 100, 60, "100 booted")
        # the busy group plugged at boot: 40 connectors charging, each with its own transaction
        await _until(clock, lambda: fleet.summary()["charging"] == 40, 30, "40 charging")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/summary") as r:
                s = await r.json()
                assert s["booted"] == 100 and s["connected"] == 100 and s["charging"] == 40
            async with http.get(f"{base}/chargepoints", params={"group": "busy", "limit": "5"}) as r:
                body = await r.json()
                assert body["total"] == 20 and len(body["chargepoints"]) == 5
                assert {c["state"] for c in body["chargepoints"]} == {"charging"}
            # one charge point by id: plug + RFID start a session there
            async with http.post(f"{base}/chargepoints/CP-00050/plug", json={"phases": 1, "max_current_a": 10}) as r:
                assert r.status == 200, await r.text()
            async with http.post(f"{base}/chargepoints/CP-00050/rfid", json={"id_tag": "API-TAG"}) as r:
                assert r.status == 200
            await _until(clock, lambda: fleet.members["CP-00050"].charging_connectors() == 1, 20, "CP-00050 charging")
            # a fault on a group: every member of it reports it
            async with http.post(f"{base}/groups/busy/fault", json={"fault": "overtemp", "connector": 2}) as r:
                assert (await r.json())["done"] == 20
            await _until(clock, lambda: all(m.faulted() for m in fleet.select(group="busy")), 20, "faults")
            # bad input gets 400 naming the field, unknown ids 404, a stopped member 409
            async with http.post(f"{base}/chargepoints/CP-00001/fault", json={"fault": "x"}) as r:
                assert r.status == 400 and (await r.json())["field"] == "fault"
            async with http.post(f"{base}/chargepoints/CP-00001/plug", json={"connector": 9}) as r:
                assert r.status == 400 and (await r.json())["field"] == "connector"
            async with http.get(f"{base}/chargepoints/NOPE") as r:
                assert r.status == 404
            async with http.post(f"{base}/chargepoints/CP-00099/stop") as r:
                assert (await r.json())["stopped"] == 1
            async with http.post(f"{base}/chargepoints/CP-00099/plug") as r:
                assert r.status == 409
            async with http.get(f"{base}/chargepoints/CP-00005") as r:
                one = await r.json()
                assert one["ocpp"]["registration"] == "Accepted" and one["latency"]["count"] > 0
                assert one["connectors"][1]["status"] == "Faulted"
        await _until(clock, lambda: _count(csms, "MeterValues") >= 40, 20, "MeterValues")
    finally:
        summary = fleet.summary()
        await fleet.stop()
        await runner.cleanup()
        await csms.stop()
    # what the CSMS saw: one BootNotification per member, transactions of the charging ones
    boots = Counter(f.cp_id for f in csms.frames if f.direction == IN and f.action == "BootNotification"
                    and f.message_type == "CALL")
    assert len(boots) == 100 and set(boots.values()) == {1}
    starts = {(f.cp_id, f.payload["connectorId"]) for f in csms.frames
              if f.direction == IN and f.message_type == "CALL" and f.action == "StartTransaction"}
    assert len(starts) == 41
    tags = {f.payload["idTag"] for f in csms.frames if f.direction == IN and f.action == "StartTransaction"
            and f.message_type == "CALL"}
    assert tags == {"FLEET-TAG", "API-TAG"}
    assert summary["latency_all_p50_ms"] is not None and summary["calls"] > 300
    path = export_latencies(fleet.members.values(), tmp_path / "lat.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "id,group,action,ms" and len(lines) > 300
    assert any(",BootNotification," in line for line in lines)


def _count(csms: TestCsms, action: str) -> int:
    return sum(1 for f in csms.frames if f.direction == IN and f.message_type == "CALL" and f.action == action)


async def test_restart_of_the_fleet_keeps_each_members_state(tmp_path):
    """A clean stop and a new fleet on the same data directory: each member reopens its own store and
    ends the transaction it had open (reason PowerLoss, as a single charge point does after a restart),
    exactly once per transaction."""
    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    await csms.start()
    template = template_from_dict({"fleet": {"count": 5, "csms_url": csms.url, "ramp": 0},
                                   "behaviour": {"charging_at_start": 1.0, "session_minutes": 600}})
    try:
        fleet = Fleet(clock, template, tmp_path / "data")
        await fleet.start()
        await _until(clock, lambda: fleet.summary()["charging"] == 5, 30, "5 charging")
        await _until(clock, lambda: _count(csms, "StartTransaction") == 5, 10, "5 starts")
        await fleet.stop()
        again = Fleet(clock, template_from_dict({"fleet": {"count": 5, "csms_url": csms.url, "ramp": 0}}),
                      tmp_path / "data")
        await again.start()
        await _until(clock, lambda: _count(csms, "StopTransaction") == 5, 30, "5 recovered stops")
        await asyncio.sleep(0.5)
        await again.stop()
    finally:
        await csms.stop()
    stops = [f for f in csms.frames if f.direction == IN and f.message_type == "CALL" and f.action == "StopTransaction"]
    assert sorted(f.payload["transactionId"] for f in stops) == sorted(
        t for t in csms.transactions)
    assert {f.payload["reason"] for f in stops} == {"PowerLoss"}
