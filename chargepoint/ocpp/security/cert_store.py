"""The root certificates installed by the Central System (InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate), kept in the store (table ``certificates``).

Rules (whitepaper edition 2, certificate management):

* InstallCertificate: one PEM certificate, a CA certificate valid now -> Accepted; unparsable, not a
  CA, expired or not yet valid, or the store already holds ``CertificateStoreMaxLength`` roots ->
  Rejected; a storage failure -> Failed.  Installing one that is already there is Accepted.
* ``AdditionalRootCertificateCheck`` true: only one CentralSystemRootCertificate at a time.  A new one
  must be signed by the one it replaces, which is kept as a fallback until the charge point
  connected with the new one (:meth:`CertificateStore.confirm_connected`).
* DeleteCertificate: the certificate with exactly that hash data -> Accepted; none -> NotFound; the
  charge point's own certificate (or its issuer while it is in use) -> Failed.

The CentralSystemRootCertificates (with the fallback) are the trust anchors of TLS profiles 2 and 3,
next to a ``ca_file`` from the options.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from chargepoint.ocpp.security.certificates import (
    HASH_ALGORITHMS,
    CertificateError,
    HashData,
    check_validity,
    fingerprint,
    hash_data,
    is_ca,
    issued_by,
    parse_chain,
    to_pem,
)
from chargepoint.ocpp.store import Db

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger("chargepoint.ocpp.security")

CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
CERTIFICATE_USES = (CENTRAL_SYSTEM_ROOT, MANUFACTURER_ROOT)


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    id: int
    use: str
    certificate: x509.Certificate
    fallback: bool


class CertificateStore:
    def __init__(self, db: Db, max_length: Callable[[], int],
                 additional_root_check: Callable[[], bool]) -> None:
        self.db = db
        self.max_length = max_length
        self.additional_root_check = additional_root_check

    # -- reading ------------------------------------------------------------------------
    def all(self, use: str | None = None) -> list[StoredCertificate]:
        rows = self.db.execute("SELECT id, use, pem, fallback FROM certificates WHERE cp_id=? ORDER BY id",
                               (self.db.cp_id,)).fetchall()
        out = []
        for rid, row_use, pem, fallback in rows:
            if use is not None and row_use != use:
                continue
            out.append(StoredCertificate(rid, row_use, parse_chain(pem)[0], bool(fallback)))
        return out

    def roots(self, use: str) -> list[x509.Certificate]:
        return [s.certificate for s in self.all(use)]

    def ca_data(self) -> str | None:
        """PEM of every CentralSystemRootCertificate (TLS trust anchors), or None."""
        roots = self.roots(CENTRAL_SYSTEM_ROOT)
        return to_pem(roots) if roots else None

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate:
        if cert.issuer == cert.subject:
            return cert
        for stored in self.all():
            if stored.certificate.subject == cert.issuer and issued_by(cert, stored.certificate):
                return stored.certificate
        return cert  # issuer not installed: the best available key is its own

    def hash_data(self, cert: x509.Certificate, algorithm: str = "SHA256") -> HashData:
        return hash_data(cert, self._issuer_of(cert), algorithm)

    def installed_ids(self, use: str) -> list[HashData]:
        return [self.hash_data(s.certificate) for s in self.all(use)]

    # -- InstallCertificate -------------------------------------------------------------
    def install(self, use: str, pem: str, now: datetime) -> tuple[str, str | None]:
        """(status, reason) of InstallCertificate."""
        if use not in CERTIFICATE_USES:
            return "Rejected", f"unknown certificateType {use!r}"
        try:
            certs = parse_chain(pem)
        except CertificateError as exc:
            return "Rejected", str(exc)
        if len(certs) != 1:
            return "Rejected", f"{len(certs)} certificates given, InstallCertificate takes one"
        cert = certs[0]
        problem = check_validity(cert, now)
        if problem:
            return "Rejected", problem
        if not is_ca(cert):
            return "Rejected", "not a CA certificate (basicConstraints CA:FALSE)"
        fp = fingerprint(cert)
        existing = self.all()
        if any(s.use == use and fingerprint(s.certificate) == fp for s in existing):
            return "Accepted", None
        replaced: list[StoredCertificate] = []
        if use == CENTRAL_SYSTEM_ROOT and self.additional_root_check():
            current = [s for s in existing if s.use == use and not s.fallback]
            if current and not any(issued_by(cert, s.certificate) for s in current):
                return "Rejected", "AdditionalRootCertificateCheck: not signed by the installed Central System root"
            replaced = [s for s in existing if s.use == use]
        kept = len(existing) - len([s for s in replaced if s.fallback])
        if kept >= self.max_length():
            return "Rejected", f"certificate store full (CertificateStoreMaxLength {self.max_length()})"
        try:
            with self.db:
                for s in replaced:  # the old fallback goes, the current one becomes the fallback
                    if s.fallback:
                        self.db.execute("DELETE FROM certificates WHERE id=?", (s.id,))
                    else:
                        self.db.execute("UPDATE certificates SET fallback=1 WHERE id=?", (s.id,))
                self.db.execute("INSERT INTO certificates(cp_id, use, fingerprint, pem) VALUES (?,?,?,?)",
                                (self.db.cp_id, use, fp, to_pem([cert])))
        except sqlite3.Error as exc:
            log.error("InstallCertificate: storing failed: %s", exc)
            return "Failed", f"storage failed: {exc}"
        log.info("installed %s %s (serial %x)", use, cert.subject.rfc4514_string(), cert.serial_number)
        return "Accepted", None

    def confirm_connected(self) -> None:
        """A TLS connection with the current roots succeeded: the fallback root is no longer needed."""
        with self.db:
            cur = self.db.execute("DELETE FROM certificates WHERE cp_id=? AND fallback=1", (self.db.cp_id,))
        if cur.rowcount:
            log.info("fallback Central System root certificate removed after a successful connection")

    # -- DeleteCertificate --------------------------------------------------------------
    def find(self, wanted: HashData) -> StoredCertificate | None:
        if wanted.hash_algorithm not in HASH_ALGORITHMS:
            return None
        for stored in self.all():
            if self.hash_data(stored.certificate, wanted.hash_algorithm) == wanted:
                return stored
        return None

    def delete(self, wanted: HashData, own: list[x509.Certificate]) -> str:
        """DeleteCertificate status; ``own`` is the charge point's certificate chain in use."""
        if own and wanted.hash_algorithm in HASH_ALGORITHMS:
            issuer = own[1] if len(own) > 1 else self._issuer_of(own[0])
            if hash_data(own[0], issuer, wanted.hash_algorithm) == wanted:
                return "Failed"  # the charge point certificate is not deleted through OCPP
        stored = self.find(wanted)
        if stored is None:
            return "NotFound"
        try:
            with self.db:
                self.db.execute("DELETE FROM certificates WHERE id=?", (stored.id,))
        except sqlite3.Error as exc:
            log.error("DeleteCertificate failed: %s", exc)
            return "Failed"
        log.info("deleted %s %s", stored.use, stored.certificate.subject.rfc4514_string())
        return "Accepted"
