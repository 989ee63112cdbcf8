"""InstallCertificate / GetInstalledCertificateIds / DeleteCertificate and SignCertificate /
CertificateSigned through the real charge point and the test CSMS (virtual time, no TLS here)."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chargepoint.csms.pki import TestPki
from tests.ocpp.session_rig import Rig, vrun
from tests.security.helpers import check_csms_frames, event_types

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

CS, MF = "CentralSystemRootCertificate", "ManufacturerRootCertificate"


def expected_hash(cert: x509.Certificate) -> dict[str, str]:
    """Independent of the charge point's code: issuer key hash = SHA-256 of the last 65 bytes of the
    P-256 SubjectPublicKeyInfo (the BIT STRING content), serial in lowercase hex."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert len(spki) == 91 and spki[-66] == 0  # 0 unused bits, then the 65-byte point
    return {"hashAlgorithm": "SHA256", "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(spki[-65:]).hexdigest(), "serialNumber": f"{cert.serial_number:x}"}


def test_install_list_delete_roots(tmp_path, ocpp_schema_validator):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"CertificateStoreMaxLength": "2"}) as rig:
            await rig.booted()
            pki = rig.csms.pki
            out = await rig.call("GetInstalledCertificateIds", {"certificateType": CS})
            assert out.payload == {"status": "NotFound"}
            for kind, root in ((CS, pki.central_root), (MF, pki.manufacturer_root)):
                out = await rig.call("InstallCertificate", {"certificateType": kind, "certificate": root.pem})
                assert out.payload == {"status": "Accepted"}, kind
            out = await rig.call("InstallCertificate", {"certificateType": CS, "certificate": pki.central_root.pem})
            assert out.payload == {"status": "Accepted"}  # already there: idempotent
            other = pki.issue("Another Root", ca=True)
            out = await rig.call("InstallCertificate", {"certificateType": CS, "certificate": other.pem})
            assert out.payload == {"status": "Rejected"}  # CertificateStoreMaxLength 2
            out = await rig.call("GetInstalledCertificateIds", {"certificateType": CS})
            assert out.payload == {"status": "Accepted", "certificateHashData": [expected_hash(pki.central_root.cert)]}
            wanted = expected_hash(pki.manufacturer_root.cert)
            out = await rig.call("DeleteCertificate", {"certificateHashData": wanted})
            assert out.payload == {"status": "Accepted"}
            out = await rig.call("DeleteCertificate", {"certificateHashData": wanted})
            assert out.payload == {"status": "NotFound"}
            out = await rig.call("GetInstalledCertificateIds", {"certificateType": MF})
            assert out.payload == {"status": "NotFound"}
            # bad certificates: not PEM, a leaf (no CA), expired, not yet valid
            now = clock.now()
            leaf = pki.issue("leaf", issuer=pki.central_root)
            expired = pki.issue("old root", ca=True, not_before=now - dt.timedelta(days=40), days=10)
            future = pki.issue("future root", ca=True, not_before=now + dt.timedelta(days=1))
            for pem in ("not a certificate", leaf.pem, expired.pem, future.pem):
                await rig.call("DeleteCertificate", {"certificateHashData": expected_hash(pki.central_root.cert)})
                out = await rig.call("InstallCertificate", {"certificateType": CS, "certificate": pem})
                assert out.payload == {"status": "Rejected"}, pem[:30]
            assert check_csms_frames(rig.csms, ocpp_schema_validator) >= 10
            out = await rig.call("InstallCertificate", {"certificateType": "Nonsense", "certificate": leaf.pem})
            assert out.status == "error"  # schema-invalid on purpose (sent after the check above)

    vrun(main)


def test_additional_root_certificate_check(tmp_path):
    """AdditionalRootCertificateCheck: a new Central System root must be signed by the installed one,
    which stays as a fallback until a TLS connection with the new one succeeded."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"AdditionalRootCertificateCheck": "true"}) as rig:
            await rig.booted()
            pki = rig.csms.pki
            out = await rig.call("InstallCertificate", {"certificateType": CS, "certificate": pki.central_root.pem})
            assert out.payload == {"status": "Accepted"}
            stranger = pki.issue("Unrelated Root", ca=True)
            out = await rig.call("InstallCertificate", {"certificateType": CS, "certificate": stranger.pem})
            assert out.payload == {"status": "Rejected"}
            successor = pki.issue("Next Root", ca=True, issuer=pki.central_root)
            out = await rig.call("InstallCertificate", {"certificateType": CS, "certificate": successor.pem})
            assert out.payload == {"status": "Accepted"}
            store = rig.ctx.security.store
            assert [(s.certificate.serial_number, s.fallback) for s in store.all(CS)] == [
                (pki.central_root.cert.serial_number, True), (successor.cert.serial_number, False)]
            store.confirm_connected()
            assert [s.certificate.serial_number for s in store.all(CS)] == [successor.cert.serial_number]

    vrun(main)


def test_sign_certificate_and_certificate_signed(tmp_path, ocpp_schema_validator):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"CpoName": "Example CPO"}) as rig:
            await rig.booted()
            out = await rig.call("ChangeConfiguration", {"key": "CpoName", "value": "x" * 65})
            assert out.payload == {"status": "Rejected"}
            # CertificateSigned without an outstanding CSR
            stray = rig.csms.pki.issue("CP-1", issuer=rig.csms.pki.central_root)
            out = await rig.call("CertificateSigned", {"certificateChain": stray.pem})
            assert out.payload == {"status": "Rejected"}
            rig.csms.behaviour.auto_sign_csr = False
            out = await rig.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
            assert out.payload == {"status": "Accepted"}
            frame = await rig.wait_call("SignCertificate")
            csr = x509.load_pem_x509_csr(frame.payload["csr"].encode())
            assert csr.is_signature_valid
            assert csr.subject.rfc4514_string() == "O=Example CPO,CN=CP-1"
            pending = tmp_path / "security" / "pending.key"
            assert stat.S_IMODE(pending.stat().st_mode) == 0o600
            # a chain for another key, an oversize chain: Rejected, the first with a security event
            out = await rig.call("CertificateSigned", {"certificateChain": stray.pem})
            assert out.payload == {"status": "Rejected"}
            big = rig.csms.pki.sign_csr(frame.payload["csr"]) + "\n" * 10000
            out = await rig.call("CertificateSigned", {"certificateChain": big[:10000]})
            assert out.payload == {"status": "Accepted"}  # 10000 characters: exactly the maximum
            assert not pending.exists()
            chain = (tmp_path / "security" / "client.pem").read_text()
            assert x509.load_pem_x509_certificates(chain.encode())[0].public_key() == csr.public_key()
            assert stat.S_IMODE((tmp_path / "security" / "client.key").stat().st_mode) == 0o600
            await rig.settle(2)
            assert "InvalidChargePointCertificate" in event_types(rig.csms)
            # auto-signing CSMS: trigger -> SignCertificate -> CertificateSigned Accepted
            rig.csms.behaviour.auto_sign_csr = True
            mark = rig.mark()
            await rig.call("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
            await rig.csms.wait_for_frame(lambda f: f.action == "CertificateSigned" and f.message_type == "CALLRESULT",
                                          30, mark)
            await rig.settle(0.5)
            assert rig.csms.security["CP-1"]["certificate_signed"][-1] == {"status": "Accepted"}
            assert check_csms_frames(rig.csms, ocpp_schema_validator) >= 6

    vrun(main)


def test_pki_hash_matches_charge_point(tmp_path):
    """The CSMS computes the same hash data as the charge point for a non-root (issuer installed)."""
    from chargepoint.ocpp.security.certificates import hash_data

    pki = TestPki(dt.datetime.now(dt.UTC))
    leaf = pki.issue("leaf", issuer=pki.central_root).cert
    h = hash_data(leaf, pki.central_root.cert).to_json()
    spki = pki.central_root.cert.public_key().public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert h["issuerKeyHash"] == hashlib.sha256(spki[-65:]).hexdigest()
    assert h["issuerNameHash"] == hashlib.sha256(leaf.issuer.public_bytes()).hexdigest()
