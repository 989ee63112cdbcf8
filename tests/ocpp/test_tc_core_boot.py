"""OCTT core cases about registration, boot and heartbeat: TC_001, TC_002, reconnect rules."""

from __future__ import annotations

import pytest

from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def test_tc_001_cold_boot(tmp_path):
    """TC_001: BootNotification with the configured identity, then StatusNotification for 0..n,
    then heartbeats at the accepted interval; clock synchronised from currentTime."""

    async def main(clock):
        async with Rig(clock, tmp_path, connectors=2, start_client=False) as rig:
            rig.csms.behaviour.heartbeat_interval = 120
            await rig.start()
            boot = await rig.wait_call("BootNotification")
            assert boot.payload["chargePointVendor"] == "SmartEVSE"
            assert boot.payload["chargePointSerialNumber"] == "SN-1"
            for c in (0, 1, 2):
                await rig.wait_status(c, "Available")
            calls = rig.calls()
            assert calls[0].action == "BootNotification"
            assert [f.action for f in calls[1:4]] == ["StatusNotification"] * 3
            hb = await rig.wait_call("Heartbeat", timeout=400)
            assert rig.ctx.keys.get("HeartbeatInterval") == 120
            assert 110 <= (hb.time - calls[3].time).total_seconds() <= 130
            assert rig.csms.violations == []
            assert rig.client.status()["registration"] == "Accepted"

    vrun(main)


def test_tc_002_pending_then_accepted(tmp_path):
    """TC_002: Pending -> nothing but triggered messages; RemoteStart rejected; boot again after the
    interval; Accepted -> statuses."""

    async def main(clock):
        async with Rig(clock, tmp_path, start_client=False) as rig:
            rig.csms.behaviour.boot_status = "Pending"
            rig.csms.behaviour.boot_retry_interval = 100
            await rig.start()
            await rig.wait_call("BootNotification")
            await rig.settle(5)
            out = await rig.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})
            assert out.payload == {"status": "Rejected"}
            out = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
            assert out.status == "result"
            out = await rig.call("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_status(1, "Available")
            assert [f.action for f in rig.calls()] == ["BootNotification", "StatusNotification"]
            rig.csms.behaviour.boot_status = "Accepted"
            await rig.wait_call("BootNotification", start=len(rig.csms.frames), timeout=200)
            await rig.wait_status(0, "Available")
            boots = rig.calls("BootNotification")
            assert len(boots) == 2 and 95 <= (boots[1].time - boots[0].time).total_seconds() <= 110
            # the triggered StatusNotification while Pending is allowed; nothing else may have been sent
            assert rig.csms.violations == []

    vrun(main)


def test_rejected_is_silent_until_interval(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, start_client=False) as rig:
            rig.csms.behaviour.boot_status = "Rejected"
            rig.csms.behaviour.boot_retry_interval = 200
            await rig.start()
            await rig.wait_call("BootNotification")
            await rig.settle(1)
            out = await rig.call("GetConfiguration", {}, timeout=5)
            assert out.status == "timeout"  # not even a response
            rig.csms.behaviour.boot_status = "Accepted"
            await rig.wait_call("BootNotification", start=len(rig.csms.frames), timeout=300)
            boots = rig.calls("BootNotification")
            assert (boots[1].time - boots[0].time).total_seconds() >= 199
            await rig.wait_status(0, "Available")
            assert rig.csms.violations == []

    vrun(main)


def test_boot_interval_zero_uses_own_delay(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, start_client=False) as rig:
            rig.csms.behaviour.boot_status = "Pending"
            rig.csms.behaviour.boot_retry_interval = 0
            await rig.start()
            await rig.settle(100)
            boots = rig.calls("BootNotification")
            assert 3 <= len(boots) <= 5  # every 30 s (options.boot_retry_s), not flooding

    vrun(main)


def test_reconnect_without_boot_and_no_status_replay(tmp_path):
    """A plain reconnect sends no BootNotification; only statuses that changed are reported."""

    async def main(clock):
        async with Rig(clock, tmp_path, connectors=2) as rig:
            await rig.booted()
            await rig.wait_status(2, "Available")
            n_status = len(rig.statuses())
            await rig.csms.go_offline(20)
            await rig.settle(2)
            rig.board.plug(1)  # Preparing while offline
            await rig.settle(3)
            rig.board.unplug(1)
            await rig.settle(3)
            rig.board.plug(2)
            await rig.wait_status(2, "Preparing", timeout=120)
            await rig.settle(5)
            assert len(rig.calls("BootNotification")) == 1
            new = [(f.payload["connectorId"], f.payload["status"]) for f in rig.calls("StatusNotification")[n_status:]]
            assert new == [(2, "Preparing")], [(f.time.isoformat(), f.payload) for f in rig.calls("StatusNotification")]  # connector 1's Preparing/Available history not replayed
            assert rig.client.connections == 2

    vrun(main)


def test_refused_connections_are_retried_with_backoff(tmp_path):
    """HTTP 404 (unknown id) and 503 are retried forever with growing delays (OCPP-J errata 3.3)."""

    async def main(clock):
        async with Rig(clock, tmp_path, start_client=False) as rig:
            rig.csms.ids = {"someone-else"}
            await rig.start()
            await rig.settle(60)
            assert rig.client.status()["connected"] is False
            assert "404" in (rig.client.last_error or "")
            rig.csms.ids = None
            await rig.wait_call("BootNotification", timeout=60)

    vrun(main)
