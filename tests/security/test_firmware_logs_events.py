"""Signed firmware (good image installed, tampered one InvalidSignature, untrusted signer
InvalidCertificate), GetLog over real HTTP and FTP, security events queued offline and delivered,
SecurityProfile upgrade with fallback (virtual time)."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

import pytest

from chargepoint.csms import TestCsms
from chargepoint.ocpp.errors import format_datetime
from tests.ocpp.session_rig import Rig, vrun
from tests.ocpp.transfer_servers import ftp_server, http_server
from tests.security.helpers import check_csms_frames, event_types

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

IMAGE = b"SEVSE-FW" + bytes(range(256)) * 64


def signed_statuses(rig: Rig) -> list[str]:
    return [f.payload["status"] for f in rig.calls("SignedFirmwareStatusNotification")]


def test_signed_firmware_good_tampered_untrusted(tmp_path, ocpp_schema_validator):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            await rig.booted()
            pki = rig.csms.pki
            signature, signer = pki.sign_firmware(IMAGE)
            srv.files["good.bin"] = IMAGE
            srv.files["bad.bin"] = IMAGE[:-1] + b"\x00"  # tampered after signing

            def request(name: str, request_id: int, cert: str = signer) -> dict:
                return {"requestId": request_id, "retries": 1, "firmware": {
                    "location": f"{srv.url}/fw/{name}", "retrieveDateTime": format_datetime(clock.now()),
                    "signingCertificate": cert, "signature": signature}}

            out = await rig.call("SignedUpdateFirmware", request("good.bin", 1))
            assert out.payload == {"status": "InvalidCertificate"}  # no ManufacturerRootCertificate yet
            await rig.call("InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                  "certificate": pki.manufacturer_root.pem})
            out = await rig.call("SignedUpdateFirmware", request("good.bin", 2))
            assert out.payload == {"status": "Accepted"}
            await rig.wait_call("SignedFirmwareStatusNotification", lambda p: p["status"] == "Installed", 120)
            assert signed_statuses(rig) == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                            "Installed"]
            assert {f.payload["requestId"] for f in rig.calls("SignedFirmwareStatusNotification")} == {2}
            assert [p.name for p in rig.board.installed_firmware] == ["good.bin"]
            mark = rig.mark()
            out = await rig.call("SignedUpdateFirmware", request("bad.bin", 3))
            assert out.payload == {"status": "Accepted"}
            await rig.wait_call("SignedFirmwareStatusNotification", lambda p: p["status"] == "InvalidSignature",
                                120, mark)
            await rig.settle(5)
            assert signed_statuses(rig)[5:] == ["Downloading", "Downloaded", "InvalidSignature"]
            assert [p.name for p in rig.board.installed_firmware] == ["good.bin"]
            # a signer not issued by the manufacturer root
            rogue = pki.issue("Rogue Signer", issuer=pki.central_root)
            out = await rig.call("SignedUpdateFirmware", request("good.bin", 4, rogue.pem))
            assert out.payload == {"status": "InvalidCertificate"}
            out = await rig.call("ExtendedTriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_call("SignedFirmwareStatusNotification", lambda p: p == {"status": "Idle"})
            await rig.settle(2)
            types = event_types(rig.csms)
            assert types.count("InvalidFirmwareSigningCertificate") == 2
            assert types.count("FirmwareUpdated") == 1 and types.count("InvalidFirmwareSignature") == 1
            assert check_csms_frames(rig.csms, ocpp_schema_validator) >= 10

    vrun(main)


def test_get_log_security_over_http_diagnostics_over_ftp(tmp_path):
    async def main(clock):
        with ftp_server(tmp_path / "ftp") as ftp:
            async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
                await rig.booted()
                (tmp_path / "cp" / "app.log").write_text("a log line\n")
                out = await rig.call("GetLog", {"logType": "SecurityLog", "requestId": 7,
                                                "log": {"remoteLocation": f"{srv.url}/upload/"}})
                assert out.payload["status"] == "Accepted"
                name = out.payload["filename"]
                await rig.wait_call("LogStatusNotification", lambda p: p["status"] == "Uploaded", 60)
                method, got_name, body = srv.uploads[-1]
                assert (method, got_name) == ("PUT", name)
                records = [json.loads(line) for line in
                           zipfile.ZipFile(io.BytesIO(body)).read("security-log.jsonl").decode().splitlines()]
                assert records[0]["type"] == "StartupOfTheDevice" and records[0]["critical"] is True
                out = await rig.call("GetLog", {"logType": "DiagnosticsLog", "requestId": 8, "retries": 1,
                                                "log": {"remoteLocation": ftp.url + "/"}})
                assert out.payload["status"] == "Accepted"
                await rig.wait_call("LogStatusNotification", lambda p: p == {"status": "Uploaded", "requestId": 8},
                                    60)
                archive = zipfile.ZipFile(Path(ftp.root / out.payload["filename"]))
                assert "app.log" in archive.namelist()
                assert not [n for n in archive.namelist() if n.endswith((".key", ".sqlite3"))]
                bad_ftp = ftp.url.replace("secret", "wrong")
                await rig.call("GetLog", {"logType": "SecurityLog", "requestId": 9,
                                          "log": {"remoteLocation": bad_ftp + "/"}})
                await rig.wait_call("LogStatusNotification", lambda p: p.get("requestId") == 9
                                    and p["status"] == "PermissionDenied", 60)
                out = await rig.call("GetLog", {"logType": "SecurityLog", "requestId": 10,
                                                "log": {"remoteLocation": "gopher://x/"}})
                assert out.payload["status"] == "Rejected"
                await rig.call("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"})
                await rig.wait_call("LogStatusNotification", lambda p: p == {"status": "Idle"})
                statuses = [(f.payload.get("requestId"), f.payload["status"]) for f in rig.calls("LogStatusNotification")]
                assert statuses == [(7, "Uploading"), (7, "Uploaded"), (8, "Uploading"), (8, "Uploaded"),
                                    (9, "Uploading"), (9, "PermissionDenied"), (None, "Idle")]

    vrun(main)


KEY = "00112233445566778899aabbccddeeff"


def test_events_offline_and_profile_fallback(tmp_path, caplog):
    """401s while offline raise one FailedToAuthenticateAtCentralSystem, delivered with the others
    once connected; SecurityProfile 0 -> 1 is Accepted, cannot connect (wrong key at the CSMS) and
    falls back to 0 after three attempts; a downgrade is Rejected; the key never shows in a log."""
    caplog.set_level(logging.DEBUG)

    async def main(clock):
        csms = TestCsms(clock, http_port=None, console_log=False)
        await csms.start()
        try:
            async with Rig(clock, tmp_path, csms=csms) as rig:
                await rig.booted()
                await rig.settle(2)
                assert event_types(csms) == ["StartupOfTheDevice"]
                out = await rig.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": KEY})
                assert out.payload == {"status": "Accepted"}
                await rig.settle(5)
                csms.passwords["CP-1"] = bytes.fromhex("ff" * 16)  # not the key the charge point has
                out = await rig.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "1"})
                assert out.payload == {"status": "Accepted"}
                await rig.settle(120)
                assert rig.ctx.keys.get("SecurityProfile") == 0  # fell back
                del csms.passwords["CP-1"]  # a profile 0 central system again
                await rig.settle(30)
                assert rig.client.connected
                out = await rig.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "0"})
                assert out.payload == {"status": "Accepted"}  # unchanged value: no downgrade
                await rig.settle(30)
                assert rig.client.connected
                types = event_types(csms)
                assert types[:2] == ["StartupOfTheDevice", "ReconfigurationOfSecurityParameters"]
                assert types.count("FailedToAuthenticateAtCentralSystem") == 1
                assert types[-1] == "ReconfigurationOfSecurityParameters"
                assert "back to profile 0" in csms.notifications[-1]["tech_info"]
                # now the CSMS has the key: profile 1 connects and stays; 0 is then a downgrade
                csms.passwords["CP-1"] = bytes.fromhex(KEY)
                out = await rig.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "1"})
                assert out.payload == {"status": "Accepted"}
                await rig.settle(30)
                assert rig.client.connected and rig.ctx.security.profiles.previous is None
                out = await rig.call("ChangeConfiguration", {"key": "SecurityProfile", "value": "0"})
                assert out.payload == {"status": "Rejected"}
                assert len(rig.calls("BootNotification")) == 1
                assert rig.ctx.outbox.pending_transaction_messages() == 0
        finally:
            await csms.stop()
        # the log pipeline (chargepoint/logs.py -> redaction.redact) masks it in every record
        from chargepoint.redaction import redact

        assert KEY not in "\n".join(redact(r.getMessage()) for r in caplog.records)

    vrun(main)
