"""OCTT remote-trigger cases TC_054 / TC_055 through the real charge point against the test CSMS."""

from __future__ import annotations

import pytest

from chargepoint.csms import OUT
from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def _after_reply(rig: Rig, action: str, mark: int) -> list:
    """Frames from ``mark`` on: our TriggerMessage CALLRESULT must precede the triggered CALL."""
    frames = rig.csms.frames[mark:]
    reply = next(i for i, f in enumerate(frames) if f.message_type == "CALLRESULT" and f.action == "TriggerMessage")
    call = next(i for i, f in enumerate(frames) if f.message_type == "CALL" and f.action == action
                and f.direction != OUT)
    assert reply < call, f"{action} was sent before the TriggerMessage.conf"
    return frames


def test_tc_054_trigger_each_message(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, connectors=2, keys={"MeterValuesSampledData":
                                                            "Energy.Active.Import.Register,Current.Offered"}) as rig:
            await rig.booted()
            for requested in ("Heartbeat", "DiagnosticsStatusNotification", "FirmwareStatusNotification"):
                mark = len(rig.csms.frames)
                out = await rig.call("TriggerMessage", {"requestedMessage": requested})
                assert out.payload == {"status": "Accepted"}
                frame = await rig.wait_call(requested, start=mark)
                _after_reply(rig, requested, mark)
                if requested != "Heartbeat":
                    assert frame.payload == {"status": "Idle"}  # Idle only ever sent when triggered

            mark = len(rig.csms.frames)
            out = await rig.call("TriggerMessage", {"requestedMessage": "StatusNotification"})
            assert out.payload == {"status": "Accepted"}
            for c in (0, 1, 2):
                await rig.wait_call("StatusNotification", lambda p, c=c: p["connectorId"] == c, start=mark)
            _after_reply(rig, "StatusNotification", mark)

            mark = len(rig.csms.frames)
            out = await rig.call("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 2})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_call("StatusNotification", lambda p: p["connectorId"] == 2, start=mark)
            await rig.settle(2)
            assert [f.payload["connectorId"] for f in rig.calls("StatusNotification") if f.seq > mark] == [2]

            # MeterValues of a charging connector: the latest values, context Trigger, with the transactionId
            rig.board.present_rfid("TAG1", 1)
            rig.board.plug(1)
            await rig.wait_status(1, "Charging")
            await rig.settle(30)
            mark = len(rig.csms.frames)
            out = await rig.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
            assert out.payload == {"status": "Accepted"}
            mv = (await rig.wait_call("MeterValues", start=mark)).payload
            _after_reply(rig, "MeterValues", mark)
            assert mv["connectorId"] == 1 and isinstance(mv["transactionId"], int)
            values = mv["meterValue"][0]["sampledValue"]
            assert {v["measurand"] for v in values} == {"Energy.Active.Import.Register", "Current.Offered"}
            assert {v["context"] for v in values} == {"Trigger"}
            offered = next(v for v in values if v["measurand"] == "Current.Offered")
            assert float(offered["value"]) == pytest.approx(rig.station.snapshot(1).offered_current_a, abs=0.1)
            assert rig.csms.violations == []

    vrun(main)


def test_tc_054_boot_notification_rejected_after_accepted(tmp_path):
    """Errata 3.35/3.40: TriggerMessage(BootNotification) after an Accepted registration is Rejected."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("TriggerMessage", {"requestedMessage": "BootNotification"})
            assert out.payload == {"status": "Rejected"}
            await rig.settle(5)
            assert len(rig.calls("BootNotification")) == 1

    vrun(main)


def test_boot_notification_triggered_while_pending(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, start_client=False) as rig:
            rig.csms.behaviour.boot_status = "Pending"
            rig.csms.behaviour.boot_retry_interval = 3000
            await rig.start()
            await rig.wait_call("BootNotification")
            await rig.settle(1)
            assert rig.ctx.registration == "Pending"
            rig.csms.behaviour.boot_status = "Accepted"
            mark = len(rig.csms.frames)
            out = await rig.call("TriggerMessage", {"requestedMessage": "BootNotification"})
            assert out.payload == {"status": "Accepted"}
            boot = await rig.wait_call("BootNotification", start=mark, timeout=30)
            assert (boot.time - rig.csms.frames[mark].time).total_seconds() < 5  # not the 3000 s interval
            await rig.wait_status(0, "Available")
            assert rig.csms.violations == []

    vrun(main)


def test_tc_055_trigger_rejected_and_not_implemented(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.wait_status(1, "Available")
            mark = len(rig.csms.frames)
            for payload in ({"requestedMessage": "MeterValues", "connectorId": 5},
                            {"requestedMessage": "StatusNotification", "connectorId": 3}):
                out = await rig.call("TriggerMessage", payload)
                assert out.payload == {"status": "Rejected"}, payload
            # connectorId does not apply to Heartbeat: ignored
            out = await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 9})
            assert out.payload == {"status": "Accepted"}
            # a message this charge point does not know
            out = await rig.call("TriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
            assert out.payload == {"status": "NotImplemented"}
            out = await rig.call("TriggerMessage", {"requestedMessage": 42})
            assert out.status == "error" and out.error_code == "TypeConstraintViolation"
            out = await rig.call("TriggerMessage", {"requestedMessage": "Heartbeat", "extra": 1})
            assert out.status == "error" and out.error_code == "FormationViolation"
            await rig.settle(2)
            assert [f.action for f in rig.calls() if f.seq > mark and f.action != "SecurityEventNotification"] == [
                "Heartbeat"]

    vrun(main)
