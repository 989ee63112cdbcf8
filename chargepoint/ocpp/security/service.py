"""The security extension's service: one per OCPP client start (``ctx.security``).

It owns the security log and events, the root-certificate store, the charge point's TLS identity,
the SecurityProfile switch, the log uploader and the signed-firmware flow, and gives the client its
hooks: :meth:`tls_material` for each connection, :meth:`on_connected` / :meth:`on_connect_failed`
after each attempt, :meth:`on_reset`, :meth:`note_clock`.  Security events raised here:
StartupOfTheDevice (start), ResetOrReboot (Reset), FirmwareUpdated (an install succeeded),
ReconfigurationOfSecurityParameters (SecurityProfile / AuthorizationKey changed, profile fallback),
FailedToAuthenticateAtCentralSystem (HTTP 401/403), InvalidCentralSystemCertificate (server
certificate refused), InvalidChargePointCertificate (CertificateSigned refused, or the new client
certificate could not connect), SettingSystemTime (the wall clock moved by more than a second).
A refusal streak raises its event once, not once per retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chargepoint.clock import Clock
from chargepoint.ocpp.connection import ConnectError
from chargepoint.ocpp.firmware import FirmwareService
from chargepoint.ocpp.options import OcppOptions
from chargepoint.ocpp.security.cert_store import CertificateStore
from chargepoint.ocpp.security.client_identity import ClientIdentity
from chargepoint.ocpp.security.events import SecurityEventLog, TransactionQueue
from chargepoint.ocpp.security.log_upload import LogUploader
from chargepoint.ocpp.security.profile_switch import FALLBACK_ATTEMPTS, Keys, ProfileSwitch
from chargepoint.ocpp.security.signed_firmware import SignedFirmware
from chargepoint.ocpp.store import Db

log = logging.getLogger("chargepoint.ocpp.security")

SendFn = Callable[[str, dict[str, Any]], object]
#: a wall-clock correction above this is a SettingSystemTime event (seconds)
CLOCK_STEP_S = 1.0


class SecurityKeys(Keys, Protocol):
    def subscribe(self, fn: Callable[[str, Any], None]) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    ca_data: str | None
    client_cert: str | None
    client_key: str | None


class SecurityService:
    def __init__(self, clock: Clock, db: Db, keys: SecurityKeys, queue: TransactionQueue,
                 send: SendFn, data_dir: Path, options: OcppOptions, firmware: FirmwareService | None) -> None:
        self.clock = clock
        self.keys = keys
        self.options = options
        self.events = SecurityEventLog(clock, db, queue)
        self.store = CertificateStore(db, lambda: int(keys.get("CertificateStoreMaxLength")),
                                      lambda: bool(keys.get("AdditionalRootCertificateCheck")))
        self.identity = ClientIdentity(data_dir, options.client_cert, options.client_key)
        self.profiles = ProfileSwitch(db, keys)
        self.logs = LogUploader(clock, data_dir, self.events, send, options.cp_id)
        self.firmware = firmware
        self.signed_firmware = (SignedFirmware(clock, firmware, self.store, self.events, send)
                                if firmware is not None else None)
        if firmware is not None:
            firmware.installed_listeners.append(self._firmware_installed)
        #: set by the client: close the link and connect again (new TLS material or profile)
        self.reconnect: Callable[[], None] = lambda: None
        self._profile = int(keys.get("SecurityProfile"))
        self._refusal: str | None = None  # the kind of the current refusal streak
        self._identity_failures = 0
        self._wall_offset = clock.wall_offset
        self._unsubscribe = keys.subscribe(self._on_key_change)

    @classmethod
    def from_context(cls, ctx: Any) -> SecurityService:
        def send(action: str, payload: dict[str, Any]) -> object:
            return ctx.outbox.send_soon(action, payload)

        return cls(ctx.clock, ctx.store.db, ctx.keys, ctx.outbox, send, ctx.data_dir, ctx.options, ctx.firmware)

    def stop(self) -> None:
        self.logs.stop()
        self._unsubscribe()

    # -- events raised from the client ----------------------------------------------------
    def startup(self) -> None:
        self.events.record("StartupOfTheDevice", f"charge point {self.options.cp_id} started")

    def on_reset(self, kind: str) -> None:
        self.events.record("ResetOrReboot", f"{kind} reset requested by the Central System")

    def _firmware_installed(self, path: Path) -> None:
        self.events.record("FirmwareUpdated", f"firmware {path.name} installed")

    def note_clock(self) -> None:
        offset = self.clock.wall_offset
        if abs(offset - self._wall_offset) > CLOCK_STEP_S:
            self.events.record("SettingSystemTime", f"wall clock corrected by {offset - self._wall_offset:+.1f} s")
        self._wall_offset = offset

    def _on_key_change(self, name: str, value: Any) -> None:
        if name == "SecurityProfile":
            old, self._profile = self._profile, int(value)
            if self.profiles.reverting or old == self._profile:
                return
            self.profiles.on_key_change(name, value, old)
            self.events.record("ReconfigurationOfSecurityParameters", f"SecurityProfile changed from {old} to {value}")
        elif name == "AuthorizationKey":
            self.events.record("ReconfigurationOfSecurityParameters", "AuthorizationKey changed")

    # -- the link ------------------------------------------------------------------------
    def tls_material(self) -> TlsMaterial:
        files = self.identity.files()
        return TlsMaterial(self.store.ca_data(), str(files[0]) if files else None, str(files[1]) if files else None)

    def on_connected(self) -> None:
        self._refusal = None
        self._identity_failures = 0
        self.profiles.connected()
        if int(self.keys.get("SecurityProfile")) >= 2:
            self.store.confirm_connected()
        if int(self.keys.get("SecurityProfile")) == 3:
            self.identity.confirm()

    def on_connect_failed(self, error: ConnectError) -> None:
        kind = "tls" if error.tls_problem else "auth" if error.status in (401, 403) else "other"
        if kind != self._refusal:
            self._refusal = kind
            if kind == "tls":
                self.events.record("InvalidCentralSystemCertificate", error.tls_problem)
            elif kind == "auth":
                self.events.record("FailedToAuthenticateAtCentralSystem",
                                   f"HTTP {error.status} from the Central System")
        fallback = self.profiles.connect_failed()
        if fallback is not None:
            new, previous = fallback
            self._profile = previous
            self.events.record("ReconfigurationOfSecurityParameters",
                               f"SecurityProfile {new} could not connect: back to profile {previous}")
            return
        if int(self.keys.get("SecurityProfile")) == 3 and self.identity.unconfirmed:
            self._identity_failures += 1
            if self._identity_failures >= FALLBACK_ATTEMPTS:
                self._identity_failures = 0
                self.identity.fall_back()
                self.events.record("InvalidChargePointCertificate",
                                   "the new charge point certificate could not connect: previous one restored")

    def profile_prerequisite(self, profile: int) -> str | None:
        """What is missing for ``profile`` on the certificate side (None = nothing)."""
        if profile == 3 and self.identity.files() is None:
            return "SecurityProfile 3 needs a client certificate"
        return None

    # -- SignCertificate / CertificateSigned ----------------------------------------------
    def sign_certificate_request(self) -> dict[str, Any]:
        """A new key pair; the SignCertificate.req payload with its CSR."""
        cpo = str(self.keys.get("CpoName") or "") or None
        return {"csr": self.identity.make_csr(self.options.cp_id, cpo)}

    def certificate_signed(self, chain_pem: str) -> tuple[str, bool]:
        """(CertificateSigned status, reconnect after the reply)."""
        limit = int(self.keys.get("CertificateSignedMaxChainSize"))
        if len(chain_pem) > limit:
            reason = f"certificateChain of {len(chain_pem)} characters exceeds CertificateSignedMaxChainSize {limit}"
            log.warning("CertificateSigned rejected: %s", reason)
            return "Rejected", False
        if not self.identity.pending:
            log.warning("CertificateSigned rejected: no certificate signing request is outstanding")
            return "Rejected", False
        chain, problem = self.identity.check_chain(chain_pem, self.options.cp_id, self.clock.now())
        if problem is not None:
            log.warning("CertificateSigned rejected: %s", problem)
            self.events.record("InvalidChargePointCertificate", problem)
            return "Rejected", False
        try:
            self.identity.install(chain)
        except OSError as exc:
            log.error("CertificateSigned: installing failed: %s", exc)
            return "Rejected", False
        return "Accepted", int(self.keys.get("SecurityProfile")) == 3
