"""Connection security: profile 1 (Basic auth with a hex AuthorizationKey), profiles 2/3 (TLS with CA
verification; client certificate), the mandatory ``ocpp1.6`` subprotocol, refusals retried."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from chargepoint.clock import RealClock
from tests.ocpp.session_rig import Rig, vrun


def rrun(fn):
    """TLS handshakes take real CPU time: run these in real time."""
    clock = RealClock()
    return clock.run(fn(clock))

KEY_HEX = "00112233445566778899aabbccddeeff00ff10fe"


def test_profile_1_basic_auth_hex_key_and_401_retried(tmp_path):
    async def main(clock):
        from chargepoint.csms import TestCsms

        csms = TestCsms(clock, http_port=None, console_log=False, passwords={"CP-1": b"wrong-password-bytes"})
        await csms.start()
        try:
            async with Rig(clock, tmp_path, csms=csms, start_client=False,
                           options={"security_profile": 1, "password_hex": KEY_HEX}) as rig:
                await rig.start()
                await rig.settle(20)
                assert "401" in (rig.client.last_error or "")
                assert rig.calls() == []
                csms.passwords["CP-1"] = bytes.fromhex(KEY_HEX)  # raw bytes, not the hex text
                await rig.wait_call("BootNotification", timeout=60)
                out = await rig.call("GetConfiguration", {"key": ["AuthorizationKey", "SecurityProfile"]})
                assert out.payload["unknownKey"] == ["AuthorizationKey"]  # write-only
                assert out.payload["configurationKey"][0]["value"] == "1"
                out = await rig.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "0"})
                assert out.payload == {"status": "Rejected"}  # no downgrade
                out = await rig.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
                assert out.payload == {"status": "Rejected"}  # no TLS URL: prerequisites missing
        finally:
            await csms.stop()

    vrun(main)


def test_subprotocol_required(tmp_path):
    """A server that does not agree on ocpp1.6 is refused (no BootNotification) and retried."""

    async def main(clock):
        accepted: list[str | None] = []
        frames: list[str] = []

        async def handler(ws):
            accepted.append(ws.subprotocol)
            try:
                async for msg in ws:
                    frames.append(msg)
            except Exception:
                pass

        server = await serve(handler, "127.0.0.1", 0)  # no subprotocols configured
        port = next(iter(server.sockets)).getsockname()[1]
        try:
            async with Rig(clock, tmp_path, start_client=False,
                           options={"csms_url": f"ws://127.0.0.1:{port}/ocpp"}) as rig:
                await rig.start()
                await rig.settle(30)
                assert len(accepted) >= 3 and set(accepted) == {None}
                assert frames == []
                assert "subprotocol" in (rig.client.last_error or "")
                await rig.stop_client()
        finally:
            server.close()
            await server.wait_closed()

    vrun(main)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    try:
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                 "-subj", "/CN=test-ca", cwd=d)
        for name, cn in (("server", "127.0.0.1"), ("client", "CP-1")):
            _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                     "-subj", f"/CN={cn}", cwd=d)
            (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n" if name == "server" else "")
            _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"openssl unavailable: {e}")
    return d


@pytest.mark.parametrize("profile", [2, 3])
def test_tls_profiles(tmp_path, pki, profile):
    async def main(clock):
        seen: dict[str, object] = {}

        async def handler(ws):
            seen["auth"] = ws.request.headers.get("Authorization")
            seen["peer_cert"] = ws.transport.get_extra_info("peercert")
            seen["path"] = ws.request.path
            async for msg in ws:
                uid = json.loads(msg)[1]
                seen.setdefault("boot", json.loads(msg))
                await ws.send(json.dumps([3, uid, {"status": "Accepted", "currentTime": "2026-01-05T08:00:00Z",
                                                   "interval": 300}]))

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
        if profile == 3:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki / "ca.pem")
        server = await serve(handler, "127.0.0.1", 0, ssl=ctx, subprotocols=["ocpp1.6"])
        port = next(iter(server.sockets)).getsockname()[1]
        opts = {"csms_url": f"wss://127.0.0.1:{port}/ocpp", "security_profile": profile,
                "ca_file": pki / "ca.pem"}
        if profile == 2:
            opts["password"] = "plain-text-password-20"
        else:
            opts.update(client_cert=pki / "client.pem", client_key=pki / "client.key")
        try:
            async with Rig(clock, tmp_path, start_client=False, options=opts) as rig:
                await rig.start()
                for _ in range(100):
                    if "boot" in seen:
                        break
                    await clock.sleep(0.05)
                assert seen["boot"][2] == "BootNotification"
                assert seen["path"] == "/ocpp/CP-1"
                if profile == 2:
                    user, _, pw = base64.b64decode(str(seen["auth"]).split()[1]).partition(b":")
                    assert (user, pw) == (b"CP-1", b"plain-text-password-20")
                else:
                    assert seen["auth"] is None
                    subject = dict(x[0] for x in seen["peer_cert"]["subject"])  # type: ignore[index]
                    assert subject["commonName"] == "CP-1"
                await rig.stop_client()
        finally:
            server.close()
            await server.wait_closed()

    rrun(main)


def test_tls_wrong_ca_refused(tmp_path, pki):
    async def main(clock):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
        server = await serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, ssl=ctx, subprotocols=["ocpp1.6"])
        port = next(iter(server.sockets)).getsockname()[1]
        opts = {"csms_url": f"wss://127.0.0.1:{port}/ocpp", "security_profile": 2, "password": "x" * 20,
                "ca_file": pki / "client.pem"}  # not the CA that signed the server
        try:
            async with Rig(clock, tmp_path, start_client=False, options=opts) as rig:
                await rig.start()
                for _ in range(60):
                    if rig.client.last_error:
                        break
                    await clock.sleep(0.05)
                assert "CERTIFICATE_VERIFY_FAILED" in (rig.client.last_error or "")
                assert rig.client.connections == 0
                await rig.stop_client()
        finally:
            server.close()
            await server.wait_closed()

    rrun(main)


def test_authorization_key_change_reconnects_with_new_key(tmp_path):
    """ChangeConfiguration(AuthorizationKey) is Accepted, the CP reconnects (after the reply) with the
    new key and without a new BootNotification."""

    async def main(clock):
        from chargepoint.csms import TestCsms

        csms = TestCsms(clock, http_port=None, console_log=False, passwords={"CP-1": bytes.fromhex(KEY_HEX)})
        await csms.start()
        try:
            async with Rig(clock, tmp_path, csms=csms, start_client=False,
                           options={"security_profile": 1, "password_hex": KEY_HEX}) as rig:
                await rig.start()
                await rig.booted()
                new_key = "ffeeddccbbaa99887766554433221100"
                out = await rig.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": "short"})
                assert out.payload == {"status": "Rejected"}
                csms.passwords["CP-1"] = bytes.fromhex(new_key)
                out = await rig.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": new_key})
                assert out.payload == {"status": "Accepted"}
                await rig.settle(20)
                assert rig.client.connections == 2 and rig.client.connected
                assert len(rig.calls("BootNotification")) == 1
        finally:
            await csms.stop()

    vrun(main)
