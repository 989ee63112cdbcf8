"""Handshake rules: ids, subprotocol, Basic auth, offline windows, replaced connections."""

from __future__ import annotations

import base64

import pytest
from ocpp.v16 import call
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chargepoint.clock import VirtualClock
from chargepoint.csms import TestCsms, check_basic_auth, cp_id_from_path
from tests.csms.helpers import client_cp, http, open_ws

BOOT = call.BootNotification(charge_point_vendor="SmartEVSE", charge_point_model="v3")


@pytest.mark.parametrize(
    ("path", "cp_id"),
    [("/ocpp/CP1", "CP1"), ("/CP1", "CP1"), ("/a/b/CP%201%2F2", "CP 1/2"), ("/ocpp/CP1/", "CP1"),
     ("/ocpp/CP1?x=1", "CP1"), ("/", ""), ("", "")],
)
def test_cp_id_is_the_last_percent_decoded_segment(path, cp_id):
    assert cp_id_from_path(path) == cp_id


def test_basic_auth_header_check():
    good = "Basic " + base64.b64encode(b"CP1:s3cret").decode()
    assert check_basic_auth(good, "CP1", "s3cret")
    assert not check_basic_auth(good, "CP2", "s3cret")
    assert not check_basic_auth(good, "CP1", "other")
    assert not check_basic_auth("Basic !!!", "CP1", "s3cret")
    assert not check_basic_auth("Bearer abc", "CP1", "s3cret")
    assert not check_basic_auth(None, "CP1", "s3cret")
    raw_key = bytes(range(20))  # OCPP-J example: the raw 20-byte AuthorizationKey
    assert check_basic_auth("Basic " + base64.b64encode(b"CP1:" + raw_key).decode(), "CP1", raw_key)


def test_unknown_id_gets_404_and_known_id_connects():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock, ids=["CP1", "CP 2"]) as csms:
            with pytest.raises(InvalidStatus) as refused:
                await open_ws(csms, "CP9")
            assert refused.value.response.status_code == 404
            with pytest.raises(InvalidStatus) as empty:
                await open_ws(csms, "")
            assert empty.value.response.status_code == 404
            async with client_cp(csms, "CP%202") as cp:
                assert (await cp.call(BOOT, suppress=False)).status == "Accepted"
                assert csms.connected_ids() == ["CP 2"]

    clock.run(scenario())


@pytest.mark.parametrize("offered", [["ocpp2.0.1"], []])
def test_wrong_or_missing_subprotocol_completes_handshake_then_closes(offered):
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            ws = await open_ws(csms, "CP1", subprotocols=offered)
            assert ws.response.status_code == 101
            assert "Sec-WebSocket-Protocol" not in ws.response.headers
            assert ws.subprotocol is None
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
            assert csms.sessions == {}

    clock.run(scenario())


def test_basic_auth_per_id():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock, passwords={"CP1": "s3cret"}) as csms:
            host = f"{csms.host}:{csms.port}"
            with pytest.raises(InvalidStatus) as missing:
                await open_ws(csms, "CP1")
            assert missing.value.response.status_code == 401
            assert missing.value.response.headers["WWW-Authenticate"].startswith("Basic")
            wrong = "Basic " + base64.b64encode(b"CP1:guess").decode()
            with pytest.raises(InvalidStatus) as bad:
                await open_ws(csms, "CP1", additional_headers={"Authorization": wrong})
            assert bad.value.response.status_code == 401
            ws = await open_ws(csms, "CP1", additional_headers={
                "Authorization": "Basic " + base64.b64encode(b"CP1:s3cret").decode()})
            assert ws.subprotocol == "ocpp1.6"
            await ws.close()
            # user-info in the URL works too; an id without a configured password needs none
            from websockets.asyncio.client import connect

            ws = await connect(f"ws://CP1:s3cret@{host}/ocpp/CP1", subprotocols=["ocpp1.6"], proxy=None)
            await ws.close()
            async with client_cp(csms, "CP2") as cp:
                assert (await cp.call(BOOT, suppress=False)).status == "Accepted"

    clock.run(scenario())


def test_offline_window_refuses_with_503_then_accepts():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            ws = await open_ws(csms, "CP1")
            await csms.wait_for_connection("CP1", 5)
            status, body = await http("POST", f"{csms.http_url}/api/behaviour", {"offline_seconds": 60})
            assert status == 200 and body["offline_remaining"] == 60
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            t0 = clock.monotonic()
            with pytest.raises(InvalidStatus) as refused:
                await open_ws(csms, "CP1")
            assert refused.value.response.status_code == 503
            status, health = await http("GET", f"{csms.http_url}/healthz")
            assert health == {"status": "ok", "connected": 0, "offline": True}
            await clock.sleep(59.0 - (clock.monotonic() - t0))
            with pytest.raises(InvalidStatus):
                await open_ws(csms, "CP1")
            await clock.sleep(1.5)
            async with client_cp(csms, "CP1") as cp:
                assert (await cp.call(call.Heartbeat(), suppress=False)).current_time

    clock.run(scenario())


def test_new_connection_replaces_the_old_one():
    clock = VirtualClock()

    async def scenario():
        async with TestCsms(clock) as csms:
            first = await open_ws(csms, "CP1")
            old_session = await csms.wait_for_connection("CP1", 5)
            async with client_cp(csms, "CP1") as cp:
                with pytest.raises(ConnectionClosed):
                    await first.recv()
                assert csms.sessions["CP1"] is not old_session
                assert (await cp.call(BOOT, suppress=False)).status == "Accepted"

    clock.run(scenario())
