"""TLS profiles 2 and 3 end to end against the test CSMS with certificates the test makes (real time:
OpenSSL checks validity against the real clock): an expired and a wrong-CA server certificate are
refused with a clear log line and an InvalidCentralSystemCertificate event; a profile 3 rotation
CSR -> CertificateSigned -> reconnect presents the new client certificate.  No private key and no
AuthorizationKey appears in any frame or log line."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from chargepoint.clock import RealClock
from chargepoint.csms import TestCsms
from chargepoint.csms.pki import TestPki
from tests.ocpp.session_rig import Rig
from tests.security.helpers import event_types

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def rrun(fn):
    clock = RealClock()
    return clock.run(fn(clock))


async def _until(clock, cond, seconds=20.0):
    deadline = clock.monotonic() + seconds
    while not cond():
        assert clock.monotonic() < deadline, "condition not reached"
        await clock.sleep(0.05)


@pytest.mark.parametrize("bad", ["expired", "wrong-ca"])
def test_profile_2_refuses_bad_server_certificate(tmp_path, bad, caplog):
    caplog.set_level(logging.INFO)

    async def main(clock):
        pki = TestPki(clock.now())
        if bad == "expired":
            server = pki.issue("127.0.0.1", issuer=pki.central_root, hosts=("127.0.0.1",),
                               not_before=pki.now - dt.timedelta(days=10), days=2)
        else:
            server = pki.issue("127.0.0.1", issuer=pki.issue("Foreign CA", ca=True), hosts=("127.0.0.1",))
        csms = TestCsms(clock, http_port=None, console_log=False, ssl_context=pki.server_context(server),
                        passwords={"CP-1": "plain-text-password-20"})
        await csms.start()
        (tmp_path / "ca.pem").write_text(pki.central_root.pem)
        try:
            async with Rig(clock, tmp_path / "cp", csms=csms, start_client=False,
                           options={"security_profile": 2, "password": "plain-text-password-20",
                                    "ca_file": tmp_path / "ca.pem"}) as rig:
                await rig.start()
                await _until(clock, lambda: rig.client.last_error)
                assert rig.client.connections == 0
                want = "certificate has expired" if bad == "expired" else "unable to get local issuer certificate"
                assert want in rig.client.last_error
                assert any("server certificate was refused" in r.getMessage() and want in r.getMessage()
                           for r in caplog.records)
                events = rig.ctx.security.events.events()
                assert [e.type for e in events] == ["StartupOfTheDevice", "InvalidCentralSystemCertificate"]
                assert want in (events[1].tech_info or "")
                await rig.stop_client()
        finally:
            await csms.stop()

    rrun(main)


def test_profile_3_rotation_end_to_end(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)

    async def main(clock):
        pki = TestPki(clock.now())
        csms = TestCsms(clock, http_port=None, console_log=False,
                        ssl_context=pki.server_context(require_client_cert=True), pki=pki)
        await csms.start()
        first = pki.issue("CP-1", issuer=pki.central_root)
        (tmp_path / "ca.pem").write_text(pki.central_root.pem)
        (tmp_path / "client.pem").write_text(first.pem)
        (tmp_path / "client.key").write_bytes(first.key_pem())
        try:
            async with Rig(clock, tmp_path / "cp", csms=csms, start_client=False,
                           options={"security_profile": 3, "ca_file": tmp_path / "ca.pem",
                                    "client_cert": tmp_path / "client.pem",
                                    "client_key": tmp_path / "client.key"}) as rig:
                await rig.start()
                await rig.booted()
                seen = csms.security["CP-1"]["client_certificates"]
                assert [c["serial"] for c in seen] == [f"{first.cert.serial_number:x}"]
                # the CSMS's root is installed too: the charge point trusts it without the ca_file later
                out = await rig.call("InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                                            "certificate": pki.central_root.pem})
                assert out.payload == {"status": "Accepted"}
                out = await rig.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
                assert out.payload == {"status": "Accepted"}
                await _until(clock, lambda: len(seen) == 2)  # CertificateSigned -> reconnect
                assert seen[1]["serial"] != seen[0]["serial"] and seen[1]["subject_cn"] == "CP-1"
                assert csms.security["CP-1"]["certificate_signed"] == [{"status": "Accepted"}]
                await _until(clock, lambda: rig.client.connected)
                assert len(rig.calls("BootNotification")) == 1  # a reconnect, not a reboot
                identity = rig.ctx.security.identity
                assert identity.installed and not identity.unconfirmed  # confirmed by the connection
                assert rig.ctx.security.tls_material().client_cert.endswith("security/client.pem")
                await rig.stop_client()
        finally:
            await csms.stop()
        frames = "".join(f.raw for f in csms.frames)
        logs = "\n".join(r.getMessage() for r in caplog.records)
        assert "PRIVATE KEY" not in frames and "PRIVATE KEY" not in logs
        assert "InvalidChargePointCertificate" not in event_types(csms)

    rrun(main)
