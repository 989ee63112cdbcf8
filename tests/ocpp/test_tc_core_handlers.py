"""OCTT core cases about remote operations and protocol edges: TC_013..TC_019, TC_021, TC_030,
TC_031, TC_040, ChangeAvailability, DataTransfer, ClearCache, CALLERROR codes."""

from __future__ import annotations

import json

import pytest

from tests.ocpp.session_rig import Rig, vrun
from tests.ocpp.test_tc_core_transactions import charging

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


async def restart(rig: Rig) -> None:
    """What the runtime does on client.restart_requested: a new client in the same process."""
    await rig.client.restart_requested.wait()
    await rig.stop_client()
    await rig.start()


@pytest.mark.parametrize("kind", ["Hard", "Soft"])
def test_tc_013_014_reset_without_transaction(tmp_path, kind):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("Reset", {"type": kind})
            assert out.payload == {"status": "Accepted"}
            m = rig.mark()
            await restart(rig)
            await rig.wait_call("BootNotification", start=m)
            await rig.wait_status(1, "Available", start=m)
            assert rig.calls("StopTransaction") == []

    vrun(main)


@pytest.mark.parametrize("kind", ["Hard", "Soft"])
def test_tc_015_016_reset_with_transaction(tmp_path, kind):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            tx = await charging(rig)
            out = await rig.call("Reset", {"type": kind})
            assert out.payload == {"status": "Accepted"}
            stop = await rig.wait_call("StopTransaction")
            assert stop.payload["reason"] == f"{kind}Reset" and stop.payload["transactionId"] == tx
            # the reply went out before the StopTransaction
            kinds = [(f.action, f.message_type) for f in rig.csms.frames]
            assert kinds.index(("Reset", "CALLRESULT")) < kinds.index(("StopTransaction", "CALL"))
            m = rig.mark()
            await restart(rig)
            await rig.wait_call("BootNotification", start=m)
            await rig.settle(5)
            assert len(rig.calls("StopTransaction")) == 1  # not again as PowerLoss

    vrun(main)


def test_tc_017_unlock_without_transaction(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("UnlockConnector", {"connectorId": 1})
            assert out.payload == {"status": "Unlocked"}

    vrun(main)


def test_tc_018_unlock_with_transaction(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await charging(rig)
            assert rig.station.snapshot(1).locked
            out = await rig.call("UnlockConnector", {"connectorId": 1})
            assert out.payload == {"status": "Unlocked"}
            stop = await rig.wait_call("StopTransaction")
            assert stop.payload["reason"] == "UnlockCommand"

    vrun(main)


def test_tc_030_unlock_failure(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await charging(rig)
            rig.board.inject_fault(1, "lock", True)  # the actuator is stuck
            out = await rig.call("UnlockConnector", {"connectorId": 1})
            assert out.payload == {"status": "UnlockFailed"}

    vrun(main)


def test_tc_031_unlock_unknown_connector(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("UnlockConnector", {"connectorId": 3})
            assert out.payload == {"status": "NotSupported"}

    vrun(main)


def test_tc_019_get_configuration(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("GetConfiguration", {})
            keys = {k["key"]: k for k in out.payload["configurationKey"]}
            assert "AuthorizationKey" not in keys
            assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "1"}
            assert "unknownKey" not in out.payload
            out = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval", "Foo"]})
            assert [k["key"] for k in out.payload["configurationKey"]] == ["HeartbeatInterval"]
            assert out.payload["unknownKey"] == ["Foo"]

    vrun(main)


def test_tc_021_040_change_configuration(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            cases = [("MeterValueSampleInterval", "30", "Accepted"), ("MeterValueSampleInterval", "-3", "Rejected"),
                     ("NumberOfConnectors", "4", "Rejected"), ("UnknownKeyXYZ", "1", "NotSupported"),
                     ("MeterValuesSampledData", "Energy.Active.Import.Register,Foo", "Rejected"),
                     ("WebSocketPingInterval", "-1", "Rejected"), ("HeartbeatInterval", "60", "Accepted")]
            for key, value, status in cases:
                out = await rig.call("ChangeConfiguration", {"key": key, "value": value})
                assert out.payload == {"status": status}, (key, value)
            out = await rig.call("GetConfiguration", {"key": ["MeterValueSampleInterval", "MeterValuesSampledData"]})
            values = {k["key"]: k["value"] for k in out.payload["configurationKey"]}
            assert values == {"MeterValueSampleInterval": "30", "MeterValuesSampledData": "Energy.Active.Import.Register"}
            m = rig.mark()
            await rig.wait_call("Heartbeat", timeout=70, start=m)  # the new interval applies at once

    vrun(main)


def test_change_availability(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await charging(rig)
            out = await rig.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
            assert out.payload == {"status": "Scheduled"}
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("StopTransaction")
            await rig.wait_status(1, "Unavailable", timeout=30)
            out = await rig.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
            assert out.payload == {"status": "Accepted"}
            # persists across a restart
            await rig.stop_client()
            m = rig.mark()
            await rig.start()
            await rig.wait_status(1, "Unavailable", start=m)
            out = await rig.call("ChangeAvailability", {"connectorId": 0, "type": "Operative"})
            assert out.payload == {"status": "Accepted"}
            m = rig.mark()
            out = await rig.call("ChangeAvailability", {"connectorId": 1, "type": "Operative"})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_status(1, "Preparing", start=m, timeout=30)  # EV still plugged (new process)
            out = await rig.call("ChangeAvailability", {"connectorId": 5, "type": "Operative"})
            assert out.payload == {"status": "Rejected"}

    vrun(main)


def test_data_transfer_clear_cache(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("DataTransfer", {"vendorId": "com.example", "messageId": "x"})
            assert out.payload == {"status": "UnknownVendorId"}
            rig.ctx.data_transfer["SmartEVSE"] = {"ping": lambda data: ("Accepted", data)}
            out = await rig.call("DataTransfer", {"vendorId": "SmartEVSE", "messageId": "nope"})
            assert out.payload == {"status": "UnknownMessageId"}
            out = await rig.call("DataTransfer", {"vendorId": "SmartEVSE", "messageId": "ping", "data": "hi"})
            assert out.payload == {"status": "Accepted", "data": "hi"}
            out = await rig.call("ClearCache", {})
            assert out.payload == {"status": "Accepted"}

    vrun(main)


def test_callerror_codes_and_bad_frames(tmp_path, ocpp_schema_check):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("NoSuchAction", {})
            assert (out.status, out.error_code) == ("error", "NotImplemented")
            out = await rig.call("Heartbeat", {})  # a 1.6 action, but not one a central system sends
            assert (out.status, out.error_code) == ("error", "NotSupported")
            out = await rig.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "5", "extra": 1})
            assert (out.status, out.error_code) == ("error", "FormationViolation")
            out = await rig.call("ReserveNow", {"connectorId": 1, "expiryDate": "tomorrow", "idTag": "A",
                                                "reservationId": 1})
            assert (out.status, out.error_code) == ("error", "TypeConstraintViolation")
            assert "expiryDate" in out.error_description
            # malformed JSON with a recognisable id -> CALLERROR; garbage -> logged, session goes on
            session = rig.csms.sessions[rig.cp_id]
            await session._connection.send('[2,"bad-1","Reset",{"type":')
            await session._connection.send("not json at all")
            await rig.settle(1)
            errs = [f for f in rig.csms.frames if f.unique_id == "bad-1"]
            assert errs and errs[0].message_type == "CALLERROR"
            assert json.loads(errs[0].raw)[2] == "FormationViolation"
            out = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
            assert out.status == "result"
            assert rig.client.connections == 1

    vrun(main)
