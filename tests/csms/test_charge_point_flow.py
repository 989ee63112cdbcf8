"""A library-built charge point talks to the test CSMS over a real websocket."""

from __future__ import annotations

import json

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call

from chargepoint.clock import VirtualClock
from chargepoint.csms import IN, OUT, Behaviour, TestCsms
from tests.csms.helpers import client_cp, http

BOOT = call.BootNotification(charge_point_vendor="SmartEVSE", charge_point_model="v3")


def test_boot_heartbeat_authorize_and_transactions(tmp_path):
    clock = VirtualClock()

    async def scenario():
        behaviour = Behaviour(whitelist={"TAG1": "Accepted", "BLOCKED": "Blocked", "OLD": "Expired"})
        async with TestCsms(clock, behaviour=behaviour, log_file=tmp_path / "frames.jsonl") as csms:
            async with client_cp(csms, "CP1") as cp:
                boot = await cp.call(BOOT, suppress=False)
                assert boot.status == "Accepted" and boot.interval == 300
                assert boot.current_time.startswith("2026-01-05T08:00")
                beat = await cp.call(call.Heartbeat(), suppress=False)
                assert beat.current_time
                await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
                tags = {}
                for tag in ("TAG1", "BLOCKED", "OLD", "NOBODY"):
                    tags[tag] = (await cp.call(call.Authorize(id_tag=tag), suppress=False)).id_tag_info
                assert tags["TAG1"] == {"status": "Accepted"}
                assert tags["BLOCKED"]["status"] == "Blocked"
                assert tags["OLD"]["status"] == "Expired" and "expiry_date" in tags["OLD"]
                assert tags["NOBODY"]["status"] == "Invalid"
                started = []
                for tag in ("TAG1", "NOBODY"):
                    start = await cp.call(
                        call.StartTransaction(connector_id=1, id_tag=tag, meter_start=1000,
                                              timestamp=clock.now().isoformat()),
                        suppress=False,
                    )
                    started.append((start.transaction_id, start.id_tag_info["status"]))
                assert started == [(1, "Accepted"), (2, "Invalid")]
                await cp.call(call.MeterValues(connector_id=1, transaction_id=1, meter_value=[
                    {"timestamp": clock.now().isoformat(),
                     "sampledValue": [{"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}
                ]), suppress=False)
                stop = await cp.call(call.StopTransaction(meter_stop=2500, timestamp=clock.now().isoformat(),
                                                          transaction_id=1, id_tag="TAG1", reason="Local"),
                                     suppress=False)
                assert stop.id_tag_info == {"status": "Accepted"}
                # transactionId -1 (StartTransaction never delivered) must be accepted (errata 3.18)
                await cp.call(call.StopTransaction(meter_stop=10, timestamp=clock.now().isoformat(),
                                                   transaction_id=-1), suppress=False)
                for action in ("DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification"):
                    payload = {"DataTransfer": call.DataTransfer(vendor_id="smartevse"),
                               "DiagnosticsStatusNotification": call.DiagnosticsStatusNotification(status="Idle"),
                               "FirmwareStatusNotification": call.FirmwareStatusNotification(status="Idle")}[action]
                    assert await cp.call(payload, suppress=False) is not None
            assert csms.transactions[1]["stop"]["meter_stop"] == 2500
            assert csms.transactions[2]["stop"] is None
            assert csms.transactions[-1]["stop"]["meter_stop"] == 10
            assert csms.meter_values[0]["transaction_id"] == 1
            assert csms.connector_status["CP1"][1]["status"] == "Preparing"
            assert csms.registration == {"CP1": "Accepted"}
            assert csms.violations == []
            frames = [f for f in csms.frames if f.cp_id == "CP1"]
            # every CALL in is answered by exactly one CALLRESULT out, matched to its action
            calls = [f for f in frames if f.direction == IN and f.message_type == "CALL"]
            results = [f for f in frames if f.direction == OUT and f.message_type == "CALLRESULT"]
            assert [c.action for c in calls] == [r.action for r in results]
            assert [c.unique_id for c in calls] == [r.unique_id for r in results]
            assert len(calls) == 15
        lines = (tmp_path / "frames.jsonl").read_text().splitlines()
        return lines

    lines = clock.run(scenario())
    records = [json.loads(line) for line in lines]
    assert len(records) == 30
    first = records[0]
    assert first["direction"] == "cp->csms" and first["cp_id"] == "CP1" and first["action"] == "BootNotification"
    assert json.loads(first["raw"])[2] == "BootNotification"
    assert first["time"].startswith("2026-01-05T08:00:00")
    assert [r["seq"] for r in records] == list(range(1, 31))


def test_forced_callerror_then_normal_answer():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms, client_cp(csms, "CP1") as cp:
            await cp.call(BOOT, suppress=False)
            status, body = await http("POST", f"{csms.http_url}/api/behaviour",
                                      {"errors": {"Heartbeat": {"code": "InternalError", "count": 2}}})
            assert status == 200 and body["errors"]["Heartbeat"]["count"] == 2
            for _ in range(2):
                with pytest.raises(InternalError):
                    await cp.call(call.Heartbeat(), suppress=False)
            assert (await cp.call(call.Heartbeat(), suppress=False)).current_time
            assert csms.behaviour.errors == {}
            errors = [f for f in csms.frames if f.message_type == "CALLERROR"]
            assert [e.payload["errorCode"] for e in errors] == ["InternalError", "InternalError"]
            assert all(e.action == "Heartbeat" for e in errors)

    clock.run(scenario())


def test_answer_delay_does_not_stall_the_csms_calls():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock, behaviour=Behaviour(delays={"Heartbeat": 7.0})) as csms:
            async with client_cp(csms, "CP1") as cp:
                await cp.call(BOOT, suppress=False)
                t0 = clock.monotonic()
                import asyncio

                beat = asyncio.ensure_future(cp.call(call.Heartbeat(), suppress=False))
                await csms.wait_for_frame(lambda f: f.action == "Heartbeat" and f.direction == IN, 5)
                # while the Heartbeat answer is held back, our own CALL to the CP completes
                outcome = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})
                assert outcome.status == "result" and outcome.payload == {"status": "Accepted"}
                assert clock.monotonic() - t0 < 7.0
                assert not beat.done()
                await beat
                assert clock.monotonic() - t0 >= 7.0
                assert cp.remote_starts == [{"id_tag": "TAG1", "connector_id": 1}]

    clock.run(scenario())


@pytest.mark.parametrize(("payload", "code"), [
    ({"chargePointVendor": "V"}, "ProtocolError"),  # chargePointModel missing
    ({"chargePointVendor": "V", "chargePointModel": 7}, "TypeConstraintViolation"),
    ({"chargePointVendor": "V", "chargePointModel": "M" * 21}, "TypeConstraintViolation"),  # maxLength 20
    ({"chargePointVendor": "V", "chargePointModel": "M", "colour": "red"}, "FormatViolation"),
])
def test_a_call_against_the_schema_gets_the_schema_callerror_and_the_csms_carries_on(payload, code,
                                                                                      ocpp_schema_check):
    """The CSMS validates in line (not in the library's thread pool): same verdicts as the library."""
    from tests.csms.helpers import open_ws

    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            ws = await open_ws(csms, "CP1")
            await ws.send(json.dumps([2, "bad", "BootNotification", payload]))
            answer = json.loads(await ws.recv())
            assert answer[:3] == [4, "bad", code], answer
            assert "CP1" not in csms.registration  # the bad boot was not handled
            await ws.send(json.dumps([2, "good", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            answer = json.loads(await ws.recv())
            assert answer[0] == 3 and answer[2]["status"] == "Accepted"
            await ws.close()

    clock.run(scenario())
    # the independent validator (node, the official schemas) agrees: that one frame, nothing else
    errors = ocpp_schema_check.take_errors()
    assert len(errors) == 1 and '"bad"' in errors[0], errors
