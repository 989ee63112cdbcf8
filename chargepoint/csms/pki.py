"""The test CSMS's own PKI (made with ``cryptography`` on first use, in memory):

* a Central System root CA: it signs the CSMS's TLS server certificate (:meth:`TestPki.server_context`)
  and the charge points' CSRs (:meth:`TestPki.sign_csr`, SignCertificate -> CertificateSigned);
* a Manufacturer root CA and a firmware-signing certificate it issued: :meth:`TestPki.sign_firmware`
  gives the SignedUpdateFirmware ``signature`` (RSA-PSS, SHA-256, base64) and ``signingCertificate``.

Certificates with any validity window and any issuer can be made for tests (:meth:`TestPki.issue`):
an expired server certificate, one from a foreign CA.  Private keys stay in this object; PEM files
written by :meth:`TestPki.write_server_files` are created with mode 0600.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class TestPki:
    __test__ = False  # not a pytest test class

    def __init__(self, now: dt.datetime, organization: str = "Test CSMS") -> None:
        """``now``: the wall time certificates are made valid around (the CSMS's clock)."""
        self.now = now
        self.organization = organization
        self.central_root = self.issue("Test Central System Root CA", ca=True)
        self.manufacturer_root = self.issue("Test Manufacturer Root CA", ca=True)
        self.firmware_signer = self.issue("Test Firmware Signing", issuer=self.manufacturer_root,
                                          key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                          usage=ExtendedKeyUsageOID.CODE_SIGNING)
        self._server: Issued | None = None

    def issue(self, cn: str, *, issuer: Issued | None = None, ca: bool = False, key: PrivateKey | None = None,
              public_key: object = None, hosts: tuple[str, ...] = (), days: float = 30,
              not_before: dt.datetime | None = None, usage: x509.ObjectIdentifier | None = None) -> Issued:
        """A certificate for ``cn`` (self-signed when ``issuer`` is None)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        start = not_before or (self.now - dt.timedelta(hours=1))
        subject_key = public_key if public_key is not None else key.public_key()
        builder = (x509.CertificateBuilder()
                   .subject_name(_name(cn, self.organization))
                   .issuer_name(issuer.cert.subject if issuer else _name(cn, self.organization))
                   .public_key(subject_key)  # type: ignore[arg-type]
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start)
                   .not_valid_after(start + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if hosts:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        signer = issuer.key if issuer else key
        return Issued(builder.sign(signer, hashes.SHA256()), key)

    # -- TLS server ------------------------------------------------------------------------
    def server_certificate(self, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Issued:
        if self._server is None:
            self._server = self.issue(hosts[0], issuer=self.central_root, hosts=hosts,
                                      usage=ExtendedKeyUsageOID.SERVER_AUTH)
        return self._server

    @staticmethod
    def write_server_files(issued: Issued, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "server.pem", directory / "server.key"
        cert.write_text(issued.pem, encoding="ascii")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(issued.key_pem())
        return cert, key

    def server_context(self, server: Issued | None = None, *, client_ca: list[x509.Certificate] | None = None,
                       require_client_cert: bool = False) -> ssl.SSLContext:
        """TLS context of the CSMS: ``server`` (default: issued by the Central System root); with
        ``require_client_cert`` (security profile 3) client certificates must chain to ``client_ca``
        (default: the Central System root)."""
        server = server or self.server_certificate()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = self.write_server_files(server, Path(tmp))
            ctx.load_cert_chain(cert, key)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            roots = client_ca or [self.central_root.cert]
            ctx.load_verify_locations(cadata="".join(
                c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in roots))
        return ctx

    # -- SignCertificate -> CertificateSigned ----------------------------------------------
    def sign_csr(self, csr_pem: str, days: float = 365) -> str:
        """The certificate chain (leaf + the Central System root, PEM) for a charge point's CSR."""
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
        if not csr.is_signature_valid:
            raise ValueError("CSR signature is not valid")
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(cns[0].value) if cns else "charge point"
        leaf = self.issue(cn, issuer=self.central_root, public_key=csr.public_key(), days=days,
                          usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        return leaf.pem + self.central_root.pem

    # -- signed firmware --------------------------------------------------------------------
    def sign_firmware(self, data: bytes) -> tuple[str, str]:
        """(base64 signature, signing certificate PEM) for a firmware image."""
        key = self.firmware_signer.key
        assert isinstance(key, rsa.RSAPrivateKey)
        signature = key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii"), self.firmware_signer.pem
