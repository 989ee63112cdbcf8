"""The charge point's own TLS identity (security profile 3): key pair, CSR, signed chain, rotation.

Files in ``data_dir/security`` (private keys written with mode 0600, never logged, never in a
diagnostics archive, never in the SQLite store):

* ``pending.key`` -- the key pair of the CSR sent with SignCertificate, waiting for CertificateSigned;
* ``client.pem`` / ``client.key`` -- the chain (leaf first) and key in use;
* ``previous.pem`` / ``previous.key`` -- the pair replaced by the last CertificateSigned, kept until a
  connection with the new one succeeded (:meth:`confirm`) and restored when it cannot connect
  (:meth:`fall_back`).

Without an installed pair the configured ``client_cert`` / ``client_key`` of the options are used.
The CSR (RFC 2986, PEM) has CN = the charge point identity and O = CpoName; the key is EC P-256.
CertificateSigned is accepted when the chain's leaf carries the pending public key and the requested
CN, every certificate is valid now and signed by the next one.
"""

from __future__ import annotations

import itertools
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from chargepoint.ocpp.security.certificates import (
    CertificateError,
    check_validity,
    issued_by,
    parse_chain,
    public_key_bits,
    subject_cn,
    to_pem,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger("chargepoint.ocpp.security")


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (created 0600, replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class ClientIdentity:
    def __init__(self, data_dir: Path, configured_cert: Path | None = None,
                 configured_key: Path | None = None) -> None:
        self.dir = Path(data_dir) / "security"
        self.configured_cert = configured_cert
        self.configured_key = configured_key

    # -- paths -------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.dir / name

    @property
    def installed(self) -> bool:
        return self._path("client.pem").is_file() and self._path("client.key").is_file()

    @property
    def unconfirmed(self) -> bool:
        """A new chain is installed that has not connected yet (the previous one is kept)."""
        return self._path("previous.pem").is_file()

    def files(self) -> tuple[Path, Path] | None:
        """(certificate chain, key) to present in TLS, or None when there is none."""
        if self.installed:
            return self._path("client.pem"), self._path("client.key")
        if self.configured_cert and self.configured_key:
            return self.configured_cert, self.configured_key
        return None

    def chain(self) -> list[x509.Certificate]:
        files = self.files()
        if files is None or not files[0].is_file():
            return []
        try:
            return parse_chain(files[0].read_text(encoding="ascii"))
        except (CertificateError, OSError, UnicodeDecodeError):
            return []

    # -- SignCertificate ---------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return self._path("pending.key").is_file()

    def make_csr(self, common_name: str, organization: str | None) -> str:
        """A new key pair (kept as pending) and its CSR in PEM."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        write_private(self._path("pending.key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        attributes = [x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.append(x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, organization))
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())
        log.info("new key pair and CSR for CN=%s", common_name)
        return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def _pending_key(self) -> ec.EllipticCurvePrivateKey | None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            key = serialization.load_pem_private_key(self._path("pending.key").read_bytes(), password=None)
        except (OSError, ValueError):
            return None
        return key if isinstance(key, ec.EllipticCurvePrivateKey) else None

    # -- CertificateSigned -------------------------------------------------------------
    def check_chain(self, pem: str, common_name: str, now: datetime) -> tuple[list[x509.Certificate], str | None]:
        """(chain, why it cannot be installed or None)."""
        key = self._pending_key()
        if key is None:
            return [], "no certificate signing request is outstanding"
        try:
            chain = parse_chain(pem)
        except CertificateError as exc:
            return [], str(exc)
        leaf = chain[0]
        if public_key_bits(leaf.public_key()) != public_key_bits(key.public_key()):
            return chain, "the certificate does not carry the public key of the last CSR"
        if subject_cn(leaf) != common_name:
            return chain, f"certificate CN {subject_cn(leaf)!r} is not the charge point identity {common_name!r}"
        for cert in chain:
            problem = check_validity(cert, now)
            if problem:
                return chain, problem
        for cert, parent in itertools.pairwise(chain):
            if not issued_by(cert, parent):
                return chain, f"certificate {subject_cn(cert)!r} is not signed by {subject_cn(parent)!r}"
        return chain, None

    def install(self, chain: list[x509.Certificate]) -> None:
        """Install the checked chain with the pending key; the current pair becomes the previous one."""
        pending = self._path("pending.key")
        if self.installed:
            os.replace(self._path("client.pem"), self._path("previous.pem"))
            os.replace(self._path("client.key"), self._path("previous.key"))
        elif self.configured_cert and self.configured_key:
            # the configured pair stays where it is: mark "previous" so that a failure falls back to it
            self._path("previous.pem").write_text("configured\n", encoding="ascii")
        self._path("client.pem").write_text(to_pem(chain), encoding="ascii")
        os.replace(pending, self._path("client.key"))
        log.info("charge point certificate installed: %s, serial %x, valid until %s",
                 chain[0].subject.rfc4514_string(), chain[0].serial_number, chain[0].not_valid_after_utc.isoformat())

    def confirm(self) -> None:
        """The installed chain connected: forget the previous pair."""
        if self.unconfirmed:
            self._path("previous.pem").unlink(missing_ok=True)
            self._path("previous.key").unlink(missing_ok=True)
            log.info("new charge point certificate confirmed by a successful connection")

    def fall_back(self) -> None:
        """The installed chain cannot connect: restore the previous pair."""
        if not self.unconfirmed:
            return
        prev_key = self._path("previous.key")
        if prev_key.is_file():
            os.replace(self._path("previous.pem"), self._path("client.pem"))
            os.replace(prev_key, self._path("client.key"))
        else:  # the previous pair was the configured one
            self._path("client.pem").unlink(missing_ok=True)
            self._path("client.key").unlink(missing_ok=True)
            self._path("previous.pem").unlink(missing_ok=True)
        log.warning("new charge point certificate could not connect: previous certificate restored")
