"""X.509 helpers of the security extension (pure functions on ``cryptography`` objects).

* :func:`hash_data` -- the CertificateHashDataType of GetInstalledCertificateIds / DeleteCertificate:
  the hash of the issuer's distinguished name (DER), the hash of the issuer's public key (the
  subjectPublicKey BIT STRING content, as in an OCSP CertID) and the serial number as lowercase hex
  without leading zeroes.
* :func:`parse_chain` -- PEM text -> certificates (leaf first), with a message naming the problem.
* :func:`check_validity`, :func:`issued_by`, :func:`verify_chain` -- period and signature checks.
* :func:`verify_file_signature` -- a firmware signature (RSA-PSS, RSA PKCS#1 v1.5 or ECDSA, SHA-256)
  over a file, hashed in chunks.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

# ``cryptography`` (8 MB of RSS) is imported by the functions that use it: a charge point that never
# sees a certificate (security profiles 0-2 without certificate messages) does not load it
if TYPE_CHECKING:
    from cryptography import x509

HASH_ALGORITHMS = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


class CertificateError(ValueError):
    """A certificate (chain) that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class HashData:
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def to_json(self) -> dict[str, str]:
        return {"hashAlgorithm": self.hash_algorithm, "issuerNameHash": self.issuer_name_hash,
                "issuerKeyHash": self.issuer_key_hash, "serialNumber": self.serial_number}

    @classmethod
    def from_request(cls, data: dict[str, object]) -> HashData:
        """From a snake_cased CertificateHashDataType dict (as the ocpp library hands it over)."""
        def text(key: str) -> str:
            value = data.get(key)
            if not isinstance(value, str):
                raise CertificateError(f"certificateHashData.{key} must be a string")
            return value

        return cls(text("hash_algorithm"), text("issuer_name_hash").lower(), text("issuer_key_hash").lower(),
                   text("serial_number").lower().lstrip("0") or "0")


def public_key_bits(key: object) -> bytes:
    """The subjectPublicKey BIT STRING content of a public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise CertificateError(f"unsupported public key type {type(key).__name__}")


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None,
              algorithm: str = "SHA256") -> HashData:
    """Hash data of ``cert``; ``issuer`` is the certificate that signed it (itself for a root)."""
    fn = HASH_ALGORITHMS[algorithm]
    issuer_key = (issuer or cert).public_key()
    return HashData(
        hash_algorithm=algorithm,
        issuer_name_hash=fn(cert.issuer.public_bytes()).hexdigest(),
        issuer_key_hash=fn(public_key_bits(issuer_key)).hexdigest(),
        serial_number=format(cert.serial_number, "x"),
    )


def parse_chain(text: str) -> list[x509.Certificate]:
    """All certificates of a PEM text, in order; raises CertificateError."""
    from cryptography import x509

    if _PEM_BEGIN not in text:
        raise CertificateError("not a PEM certificate (no BEGIN CERTIFICATE block)")
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertificateError(f"PEM certificate cannot be parsed: {exc}") from None
    if not certs:
        raise CertificateError("no certificate in the PEM text")
    return certs


def to_pem(certs: list[x509.Certificate]) -> str:
    from cryptography.hazmat.primitives import serialization

    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def fingerprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def subject_cn(cert: x509.Certificate) -> str | None:
    from cryptography import x509

    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def check_validity(cert: x509.Certificate, now: datetime) -> str | None:
    """Why ``cert`` is not valid at ``now`` (None = valid)."""
    if now < cert.not_valid_before_utc:
        return f"certificate {subject_cn(cert)!r} is not valid before {cert.not_valid_before_utc.isoformat()}"
    if now > cert.not_valid_after_utc:
        return f"certificate {subject_cn(cert)!r} expired at {cert.not_valid_after_utc.isoformat()}"
    return None


def is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.issuer == cert.subject  # a v1 self-signed root


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``cert`` names ``issuer`` as its issuer and carries a valid signature of its key."""
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(chain: list[x509.Certificate], roots: list[x509.Certificate], now: datetime) -> str | None:
    """Why ``chain`` (leaf first) does not lead to one of ``roots`` (None = it does): every
    certificate valid at ``now`` and signed by the next one, the last signed by (or being) a root."""
    if not chain:
        return "empty certificate chain"
    for cert in chain:
        problem = check_validity(cert, now)
        if problem:
            return problem
    for cert, parent in itertools.pairwise(chain):
        if not issued_by(cert, parent):
            return f"certificate {subject_cn(cert)!r} is not signed by {subject_cn(parent)!r}"
    top = chain[-1]
    for root in roots:
        if check_validity(root, now) is None and (fingerprint(root) == fingerprint(top) or issued_by(top, root)):
            return None
    return f"certificate {subject_cn(top)!r} does not chain to an installed root certificate"


def verify_file_signature(cert: x509.Certificate, path: Path, signature: bytes) -> bool:
    """Is ``signature`` a SHA-256 signature of the file's bytes by the key of ``cert``?"""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    value = digest.digest()
    prehashed = utils.Prehashed(hashes.SHA256())
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(signature, value, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                         salt_length=padding.PSS.AUTO), prehashed)
            except InvalidSignature:
                key.verify(signature, value, padding.PKCS1v15(), prehashed)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, value, ec.ECDSA(prehashed))
            return True
    except InvalidSignature:
        return False
    return False
