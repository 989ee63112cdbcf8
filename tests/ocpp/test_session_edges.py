"""Session edges: oversized frames, MinimumStatusDuration, heartbeat skipped while traffic flows,
unknown fields in a CSMS response, WebSocketPingInterval change -> reconnect without boot."""

from __future__ import annotations

import json

import pytest

from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def test_oversized_frame_closes_and_session_carries_on(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, options={"max_frame_bytes": 64 * 1024}) as rig:
            await rig.booted()
            session = rig.csms.sessions[rig.cp_id]
            big = json.dumps([2, "big-1", "DataTransfer", {"vendorId": "x", "data": "a" * 100_000}])
            await session._connection.send(big)
            await rig.settle(30)
            assert rig.client.connections == 2  # closed (1009) and reconnected
            assert len(rig.calls("BootNotification")) == 1
            out = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
            assert out.status == "result"

    vrun(main)


def after(rig: Rig, m: int) -> list[str]:
    return [f.payload["status"] for f in rig.csms.frames[m:] if f.action == "StatusNotification"
            and f.message_type == "CALL"]


def test_minimum_status_duration_hides_short_states(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"MinimumStatusDuration": "10"}) as rig:
            await rig.booted()
            await rig.wait_status(1, "Available")
            m = rig.mark()
            rig.board.plug(1)
            await rig.settle(3)
            rig.board.unplug(1)  # Preparing for 3 s only: not reported
            await rig.settle(20)
            assert after(rig, m) == []
            rig.board.plug(1)
            t_plug = clock.now()
            sn = await rig.wait_status(1, "Preparing", start=m, timeout=30)
            assert (sn.time - t_plug).total_seconds() >= 9.9
            assert after(rig, m) == ["Preparing"]

    vrun(main)


def test_heartbeat_skipped_while_other_traffic_flows(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"MeterValueSampleInterval": "20"}) as rig:
            rig.csms.behaviour.heartbeat_interval = 60
            await rig.booted()
            rig.board.plug(1)
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("StartTransaction")
            await rig.settle(300)  # MeterValues every 20 s: no Heartbeat needed
            assert rig.calls("Heartbeat") == []
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("StopTransaction")
            m = rig.mark()
            await rig.wait_call("Heartbeat", start=m, timeout=90)

    vrun(main)


def test_ping_interval_change_reconnects_without_boot(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "30"})
            assert out.payload == {"status": "Accepted"}
            await rig.settle(20)
            assert rig.client.connections == 2
            assert len(rig.calls("BootNotification")) == 1
            await rig.settle(100)  # client pings keep the link; still one connection
            assert rig.client.connections == 2 and rig.client.connected

    vrun(main)
