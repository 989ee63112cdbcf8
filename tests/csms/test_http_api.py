"""The HTTP control API and registration rules, over real HTTP and real websockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v16 import call

from chargepoint.clock import VirtualClock
from chargepoint.csms import Behaviour, TestCsms
from tests.csms.helpers import RawClient, client_cp, http, open_ws

BOOT = call.BootNotification(charge_point_vendor="SmartEVSE", charge_point_model="v3")


def test_call_round_trip_through_http():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms, client_cp(csms, "CP1") as cp:
            await cp.call(BOOT, suppress=False)
            url = f"{csms.http_url}/api/cps/CP1/call"
            status, body = await http("POST", url, {"action": "RemoteStartTransaction",
                                                    "payload": {"idTag": "TAG1", "connectorId": 1}})
            assert status == 200
            assert body["status"] == "result" and body["payload"] == {"status": "Accepted"}
            assert cp.remote_starts == [{"id_tag": "TAG1", "connector_id": 1}]
            # the library CP has no Reset handler: answered with a CALLERROR
            status, body = await http("POST", url, {"action": "Reset", "payload": {"type": "Soft"}})
            assert status == 200 and body["status"] == "error" and body["error_code"] == "NotImplemented"
            status, cps = await http("GET", f"{csms.http_url}/api/cps")
            assert status == 200
            [entry] = cps["cps"]
            assert entry["id"] == "CP1" and entry["registration"] == "Accepted"
            assert entry["boot"]["charge_point_vendor"] == "SmartEVSE"
            out = [f for f in csms.frames if f.direction == "csms->cp" and f.message_type == "CALL"]
            assert [json.loads(f.raw)[2:] for f in out] == [
                ["RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1}], ["Reset", {"type": "Soft"}]]

    clock.run(scenario())


def test_call_timeout_and_not_connected():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            raw = RawClient(await open_ws(csms, "SILENT"))
            await csms.wait_for_connection("SILENT", 5)
            t0 = clock.monotonic()
            status, body = await http("POST", f"{csms.http_url}/api/cps/SILENT/call",
                                      {"action": "ClearCache", "payload": {}, "timeout": 12})
            assert status == 200 and body["status"] == "timeout"
            assert 12 <= clock.monotonic() - t0 < 13
            # a late answer to the timed-out CALL is ignored, the next CALL works
            await raw.ws.send(json.dumps([3, body["unique_id"], {"status": "Accepted"}]))
            late = await csms.wait_for_frame(lambda f: f.message_type == "CALLRESULT", 5)
            assert late.action == "ClearCache" and late.unique_id == body["unique_id"]
            nxt = asyncio.ensure_future(csms.call("SILENT", "ClearCache", {}))
            old_id = body["unique_id"]
            request = await raw.expect(lambda m: m[0] == 2 and m[1] != old_id)
            await raw.ws.send(json.dumps([3, request[1], {"status": "Rejected"}]))
            assert (await nxt).payload == {"status": "Rejected"}
            status, body = await http("POST", f"{csms.http_url}/api/cps/NOPE/call", {"action": "Reset"})
            assert status == 404 and "NOPE" in body["error"]
            await raw.ws.close()

    clock.run(scenario())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": {}}, "action"),
        ({"action": "", "payload": {}}, "action"),
        ({"action": "Reset", "payload": [1]}, "payload"),
        ({"action": "Reset", "timeout": -1}, "timeout"),
        ([1, 2], "body"),
        ("{not json", "body"),
    ],
)
def test_bad_call_bodies_name_the_field(body, field):
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            raw = body if isinstance(body, str) else None
            status, answer = await http("POST", f"{csms.http_url}/api/cps/CP1/call",
                                        None if raw else body, raw=raw)
            assert status == 400 and answer["field"] == field and field in answer["error"]

    clock.run(scenario())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"boot_status": "Maybe"}, "boot_status"),
        ({"heartbeat_interval": "10"}, "heartbeat_interval"),
        ({"whitelist": {"TAG": "Nope"}}, "whitelist.TAG"),
        ({"delays": {"Heartbeat": -1}}, "delays.Heartbeat"),
        ({"errors": {"Heartbeat": {"code": "Oops"}}}, "errors.Heartbeat.code"),
        ({"errors": {"Heartbeat": {"code": "InternalError", "count": 0}}}, "errors.Heartbeat.count"),
        ({"offline_seconds": "soon"}, "offline_seconds"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_behaviour_changes_name_the_field_and_change_nothing(body, field):
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            before = csms.behaviour.to_json()
            status, answer = await http("POST", f"{csms.http_url}/api/behaviour", {"boot_status": "Pending", **body})
            assert status == 400 and answer["field"] == field
            assert csms.behaviour.to_json() == before
            assert not csms.offline

    clock.run(scenario())


def test_behaviour_changes_at_runtime():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock, behaviour=Behaviour(boot_status="Pending", boot_retry_interval=30)) as csms:
            async with client_cp(csms, "CP1") as cp:
                boot = await cp.call(BOOT, suppress=False)
                assert (boot.status, boot.interval) == ("Pending", 30)
                # a request while Pending without a TriggerMessage is a protocol violation (answered anyway)
                await cp.call(call.Heartbeat(), suppress=False)
                assert csms.violations == ["CP1: sent Heartbeat while Pending without a TriggerMessage for it"]
                status, body = await http("POST", f"{csms.http_url}/api/behaviour", {
                    "boot_status": "accepted", "heartbeat_interval": 45, "whitelist": ["TAG1"],
                    "whitelist_add": {"TAG2": "Blocked"}})
                assert status == 200
                assert body["whitelist"] == {"TAG1": "Accepted", "TAG2": "Blocked"}
                boot = await cp.call(BOOT, suppress=False)
                assert (boot.status, boot.interval) == ("Accepted", 45)
                auth = await cp.call(call.Authorize(id_tag="TAG2"), suppress=False)
                assert auth.id_tag_info["status"] == "Blocked"
                await http("POST", f"{csms.http_url}/api/behaviour", {"whitelist": None})
                auth = await cp.call(call.Authorize(id_tag="ANY"), suppress=False)
                assert auth.id_tag_info["status"] == "Accepted"
                status, got = await http("GET", f"{csms.http_url}/api/behaviour")
                assert got["boot_status"] == "Accepted" and got["whitelist"] is None

    clock.run(scenario())


def test_rejected_boot_then_requests_get_security_error():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock, behaviour=Behaviour(boot_status="Rejected", boot_retry_interval=90)) as csms:
            async with client_cp(csms, "CP1") as cp:
                boot = await cp.call(BOOT, suppress=False)
                assert (boot.status, boot.interval) == ("Rejected", 90)
                with pytest.raises(SecurityError):
                    await cp.call(call.Heartbeat(), suppress=False)
                assert csms.violations == ["CP1: sent Heartbeat while its BootNotification was Rejected"]

    clock.run(scenario())


def test_pending_cp_may_send_what_was_triggered():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock, behaviour=Behaviour(boot_status="Pending")) as csms:
            raw = RawClient(await open_ws(csms, "CP1"))
            answer = await raw.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            assert answer[2]["status"] == "Pending"
            task = asyncio.ensure_future(
                csms.call("CP1", "TriggerMessage", {"requestedMessage": "StatusNotification"}))
            request = await raw.expect(lambda m: m[0] == 2 and m[2] == "TriggerMessage")
            await raw.ws.send(json.dumps([3, request[1], {"status": "Accepted"}]))
            assert (await task).payload == {"status": "Accepted"}
            answer = await raw.call("StatusNotification", {"connectorId": 0, "errorCode": "NoError",
                                                           "status": "Available"})
            assert answer[0] == 3
            assert csms.violations == []
            await raw.ws.close()

    clock.run(scenario())


def test_unknown_unsupported_and_invalid_calls_get_ocpp_j_errors(ocpp_schema_check):
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            raw = RawClient(await open_ws(csms, "CP1"))
            unknown = await raw.call("FooBar", {})
            assert unknown[0] == 4 and unknown[2] == "NotImplemented"
            not_ours = await raw.call("RemoteStartTransaction", {"idTag": "X"})
            assert not_ours[0] == 4 and not_ours[2] == "NotSupported"
            invalid = await raw.call("BootNotification", {"chargePointModel": "M"})
            assert invalid[0] == 4 and invalid[2] in ("ProtocolError", "OccurenceConstraintViolation")
            await raw.ws.send("this is not json")
            await raw.ws.send(json.dumps([2, "broken-1"]))  # a CALL missing elements
            broken = await raw.expect(lambda m: m[1] == "broken-1")
            assert broken[0] == 4
            assert (await raw.call("Heartbeat", {}))[0] == 3  # the session carries on
            await raw.ws.close()

    clock.run(scenario())
    # the independent validator saw the bad frames this test sent on purpose
    errors = ocpp_schema_check.take_errors()
    assert any("FooBar is not an OCPP 1.6 action" in e for e in errors)
    assert any("RemoteStartTransaction may not be initiated by the charge point" in e for e in errors)
    assert any("chargePointVendor" in e for e in errors)
    assert sum("not an OCPP-J frame" in e for e in errors) == 2


def test_a_second_call_before_the_answer_is_a_recorded_violation():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock, behaviour=Behaviour(delays={"Heartbeat": 5})) as csms:
            raw = RawClient(await open_ws(csms, "CP1"))
            await raw.ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
            await raw.ws.send(json.dumps([2, "h2", "Heartbeat", {}]))
            answers = [await raw.expect(lambda m: m[0] == 3) for _ in range(2)]
            assert sorted(a[1] for a in answers) == ["h1", "h2"]
            assert csms.violations == ["CP1: sent Heartbeat while its CALL Heartbeat (h1) was unanswered (OCPP-J 4.1.1)"]
            await raw.call("Heartbeat", {})  # one at a time again: no new violation
            assert len(csms.violations) == 1
            await raw.ws.close()

    clock.run(scenario())
