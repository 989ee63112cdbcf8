"""The fleet's summary counts are kept up to date by the members as their state changes (no walk
over the members per request): they must equal a recount at every moment, through boot, charging,
faults and stops.  And the ramp is a scheduler: the HTTP API answers while members are still being
started."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from chargepoint.clock import RealClock
from chargepoint.csms import TestCsms
from chargepoint.fleet.api import build_app
from chargepoint.fleet.fleet import Fleet
from chargepoint.fleet.template import template_from_dict


def recount(fleet: Fleet) -> dict[str, int]:
    """What the summary says, counted the slow way: member by member, from their parts."""
    out = dict.fromkeys(("running", "connected", "booted", "heartbeating", "charging", "errors"), 0)
    for m in fleet.members.values():
        if not m.started:
            continue
        out["running"] += 1
        out["connected"] += bool(m.client.connected)
        ctx = m.client.ctx
        out["booted"] += ctx.registration == "Accepted"
        out["heartbeating"] += ctx.outbox.stats.heartbeats > 0
        snaps = m.station.snapshots()
        out["charging"] += sum(1 for s in snaps if str(s.iec_state) == "C")
        out["errors"] += bool(any(s.faults for s in snaps) or m.errors)
    return out


def counted(fleet: Fleet) -> dict[str, int]:
    s = fleet.summary()
    return {k: s[k] for k in ("running", "connected", "booted", "heartbeating", "charging", "errors")}


async def _until(clock: RealClock, fleet: Fleet, predicate, within: float, what: str) -> None:
    deadline = clock.monotonic() + within
    while True:
        assert counted(fleet) == recount(fleet)
        if predicate(fleet.summary()):
            return
        assert clock.monotonic() < deadline, f"timed out waiting for {what}: {fleet.summary()}"
        await clock.sleep(0.05)


async def test_counts_follow_boot_charging_faults_and_stops(tmp_path):
    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    csms.behaviour.heartbeat_interval = 2
    await csms.start()
    template = template_from_dict({
        "fleet": {"count": 30, "csms_url": csms.url, "ramp": "100/s"},
        "group": [{"name": "busy", "numbers": "1-10", "behaviour": {"charging_at_start": 1.0, "session_minutes": 600}}],
    })
    fleet = Fleet(clock, template, tmp_path / "data")
    try:
        await fleet.start()
        await _until(clock, fleet, lambda s: s["booted"] == 30 and s["charging"] == 10, 60, "30 booted, 10 charging")
        await _until(clock, fleet, lambda s: s["heartbeating"] >= 20, 30, "the idle ones heartbeating")
        for m in fleet.select(group="busy")[:3]:
            m.fault("overtemp", True, 1)
        await _until(clock, fleet, lambda s: s["errors"] == 3, 20, "3 faulted")
        await fleet.stop_members(fleet.select(prefix="CP-0002"))  # CP-00020 .. CP-00029
        await _until(clock, fleet, lambda s: s["running"] == 20, 20, "10 stopped")
        assert fleet.summary()["booted"] == 20
        await fleet.start_members(fleet.select(prefix="CP-0002"))
        await _until(clock, fleet, lambda s: s["booted"] == 30, 30, "restarted ones booted")
        for m in fleet.select(group="busy")[:3]:
            m.fault("overtemp", False, 1)
        await _until(clock, fleet, lambda s: s["errors"] == 0, 20, "faults cleared")
    finally:
        await fleet.stop()
        await csms.stop()
    assert counted(fleet) == recount(fleet) == dict.fromkeys(counted(fleet), 0)
    assert fleet.summary()["frames"] == sum(m.latency.frames_in + m.latency.frames_out for m in fleet.members.values())


async def test_the_api_answers_while_the_ramp_is_starting_members(tmp_path):
    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    await csms.start()
    fleet = Fleet(clock, template_from_dict({"fleet": {"count": 120, "csms_url": csms.url, "ramp": "40/s"}}),
                  tmp_path / "data")
    runner = web.AppRunner(build_app(fleet))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    running_seen: list[int] = []
    try:
        await fleet.start()
        async with aiohttp.ClientSession() as http:
            while fleet.summary()["booted"] < 120:
                async with http.get(f"http://127.0.0.1:{port}/api/summary") as r:
                    running_seen.append((await r.json())["running"])
                await clock.sleep(0.1)
    finally:
        await fleet.stop()
        await runner.cleanup()
        await csms.stop()
    # answers came while the ramp was half-way: neither before it began nor only after it ended
    assert any(0 < n < 120 for n in running_seen), running_seen
    assert fleet.summary()["ramp_s"] is not None
