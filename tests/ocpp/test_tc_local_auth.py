"""OCTT local authorisation cases through the real charge point against the test CSMS:
GetLocalListVersion (TC_042), SendLocalList (TC_043), Clear Cache (TC_061), LocalListConflict and
offline authorisation from the local list."""

from __future__ import annotations

import pytest

from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def entry(tag: str, status: str = "Accepted", **info) -> dict:
    return {"idTag": tag, "idTagInfo": {"status": status, **info}}


async def version(rig: Rig) -> int:
    out = await rig.call("GetLocalListVersion", {})
    return out.payload["listVersion"]


def test_tc_042_2_empty_list_version_zero(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            assert await version(rig) == 0

    vrun(main)


def test_tc_042_1_and_043_1_not_supported(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"SupportedFeatureProfiles": "Core,FirmwareManagement,RemoteTrigger"}) as rig:
            await rig.booted()
            assert await version(rig) == -1
            out = await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                                   "localAuthorizationList": [entry("A")]})
            assert out.payload == {"status": "NotSupported"}

    vrun(main)


def test_tc_043_2_version_mismatch(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("SendLocalList", {"listVersion": 2, "updateType": "Full",
                                                   "localAuthorizationList": [entry("A")]})
            assert out.payload == {"status": "Accepted"}
            assert await version(rig) == 2
            out = await rig.call("SendLocalList", {"listVersion": 5, "updateType": "Differential",
                                                   "localAuthorizationList": [entry("B")]})
            assert out.payload == {"status": "Accepted"}
            assert await version(rig) == 5
            out = await rig.call("SendLocalList", {"listVersion": 4, "updateType": "Differential",
                                                   "localAuthorizationList": [entry("C")]})
            assert out.payload == {"status": "VersionMismatch"}
            assert await version(rig) == 5
            assert rig.ctx.auth.local_entry("C") is None

    vrun(main)


def test_tc_043_3_failed(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            limit = rig.ctx.keys.get("SendLocalListMaxLength")
            out = await rig.call("SendLocalList", {
                "listVersion": 2, "updateType": "Full",
                "localAuthorizationList": [entry(f"T{i}") for i in range(limit + 1)]})
            assert out.payload == {"status": "Failed"}
            assert await version(rig) == 0

    vrun(main)


def test_tc_043_4_and_5_full_then_differential_authorise_locally(tmp_path):
    """TC_043_4/5 + TC_008: with LocalPreAuthorize an id on the list starts without Authorize."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true", "AuthorizationCacheEnabled": "false"}) as rig:
            await rig.booted()
            out = await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                                   "localAuthorizationList": [entry("LIST1")]})
            assert out.payload == {"status": "Accepted"}
            out = await rig.call("SendLocalList", {"listVersion": 2, "updateType": "Differential",
                                                   "localAuthorizationList": [entry("LIST2"), {"idTag": "LIST1"}]})
            assert out.payload == {"status": "Accepted"}
            assert await version(rig) == 2
            rig.board.present_rfid("LIST2", 1)
            rig.board.plug(1)
            start = await rig.wait_call("StartTransaction")
            assert start.payload["idTag"] == "LIST2"
            assert rig.calls("Authorize") == []

    vrun(main)


def test_tc_061_clear_authorization_cache(tmp_path):
    async def main(clock):
        keys = {"LocalPreAuthorize": "true", "AuthorizationCacheEnabled": "true", "ConnectionTimeOut": "30"}
        async with Rig(clock, tmp_path, keys=keys) as rig:
            await rig.booted()
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("Authorize")
            await rig.wait_status(1, "Preparing")
            await rig.wait_status(1, "Available", timeout=60)  # ConnectionTimeOut: authorisation dropped
            assert rig.ctx.auth.cache_entry("TAG1").status == "Accepted"
            rig.board.present_rfid("TAG1", 1)  # pre-authorised from the cache: no Authorize
            await rig.wait_status(1, "Preparing")
            assert len(rig.calls("Authorize")) == 1
            await rig.wait_status(1, "Available", timeout=60)
            out = await rig.call("ClearCache", {})
            assert out.payload == {"status": "Accepted"}
            assert rig.ctx.auth.cache_size() == 0
            mark = len(rig.csms.frames)
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("Authorize", start=mark)

    vrun(main)


def test_clear_cache_rejected_without_cache(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.ctx.auth.cache_supported = False
            out = await rig.call("ClearCache", {})
            assert out.payload == {"status": "Rejected"}

    vrun(main)


def test_local_list_conflict_reported_on_connector_0(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.csms.behaviour.whitelist = {"TAG1": "Blocked"}
            await rig.call("SendLocalList", {"listVersion": 3, "updateType": "Full",
                                             "localAuthorizationList": [entry("TAG1")]})
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("Authorize")
            conflict = await rig.wait_call("StatusNotification", lambda p: p["errorCode"] == "LocalListConflict")
            assert conflict.payload["connectorId"] == 0 and conflict.payload["status"] == "Available"
            await rig.settle(5)
            assert rig.ctx.transactions.pending(1) is None  # the CSMS's Blocked wins
            assert rig.ctx.auth.cache_entry("TAG1") is None  # listed ids are never cached

    vrun(main)


def test_offline_start_with_listed_id(tmp_path):
    """Offline: a listed Accepted id starts (LocalAuthorizeOffline); an unknown one does not unless
    AllowOfflineTxForUnknownId; the StartTransaction is delivered once back online."""

    async def main(clock):
        async with Rig(clock, tmp_path, connectors=2) as rig:
            await rig.booted()
            await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                             "localAuthorizationList": [entry("LIST1"), entry("BAD", "Blocked")]})
            await rig.csms.go_offline(600)
            await rig.settle(2)
            rig.board.present_rfid("BAD", 1)
            rig.board.present_rfid("NOBODY", 1)
            await rig.settle(2)
            assert rig.ctx.transactions.pending(1) is None
            rig.board.present_rfid("LIST1", 1)
            rig.board.plug(1)
            await rig.settle(10)
            assert rig.ctx.transactions.active(1) is not None
            rig.ctx.keys.set("AllowOfflineTxForUnknownId", "true")
            rig.board.present_rfid("NOBODY", 2)
            await rig.settle(2)
            assert rig.ctx.transactions.pending(2) is not None
            start = await rig.wait_call("StartTransaction", timeout=1200)
            assert start.payload["idTag"] == "LIST1"

    vrun(main)


def test_stop_with_an_id_tag_of_the_same_parent(tmp_path):
    """A transaction may be stopped by another idTag with the same parentIdTag (learnt from the local
    list here); an idTag of another group may not stop it."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true"}) as rig:
            await rig.booted()
            await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
                entry("MUM", parentIdTag="FAMILY"), entry("DAD", parentIdTag="FAMILY"),
                entry("NEIGHBOUR", parentIdTag="STREET")]})
            rig.board.present_rfid("MUM", 1)
            rig.board.plug(1)
            await rig.wait_status(1, "Charging")
            rig.board.present_rfid("NEIGHBOUR", 1)
            await rig.settle(5)
            assert rig.calls("StopTransaction") == []
            rig.board.present_rfid("DAD", 1)
            stop = await rig.wait_call("StopTransaction")
            assert stop.payload["idTag"] == "DAD" and stop.payload["reason"] == "Local"

    vrun(main)
