"""SignedUpdateFirmware / SignedFirmwareStatusNotification (whitepaper edition 2, L01).

On request: the signingCertificate must chain to an installed ManufacturerRootCertificate and be
valid now, else InvalidCertificate and the security event InvalidFirmwareSigningCertificate (nothing
is downloaded).  A signature that is not base64 -> Rejected.  A running update is cancelled ->
AcceptedCanceled.  Otherwise Accepted, and the update runs on ``firmware.FirmwareService`` (its
download, retries, wait for idle connectors and install) with an :class:`UpdatePlan` that reports
SignedFirmwareStatusNotification with the requestId: DownloadScheduled (retrieveDateTime ahead),
Downloading, Downloaded, then the signature is verified over the downloaded file:
InvalidSignature (+ security event InvalidFirmwareSignature; the file is deleted, nothing installed)
or SignatureVerified, InstallScheduled (installDateTime ahead), Installing, Installed (+ the
critical security event FirmwareUpdated, raised for every successful install) or InstallationFailed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargepoint.clock import Clock
from chargepoint.ocpp.firmware import FirmwareService, UpdatePlan
from chargepoint.ocpp.security.cert_store import MANUFACTURER_ROOT, CertificateStore
from chargepoint.ocpp.security.certificates import (
    CertificateError,
    parse_chain,
    subject_cn,
    verify_chain,
    verify_file_signature,
)
from chargepoint.ocpp.security.events import SecurityEventLog

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger("chargepoint.ocpp.security")

SendFn = Callable[[str, dict[str, Any]], object]


class SignedFirmware:
    def __init__(self, clock: Clock, firmware: FirmwareService, store: CertificateStore, events: SecurityEventLog,
                 send: SendFn) -> None:
        self.clock = clock
        self.firmware = firmware
        self.store = store
        self.events = events
        self.send = send
        self.request_id: int | None = None
        self.signed_running = False

    def check_certificate(self, pem: str) -> tuple[x509.Certificate | None, str | None]:
        """(signing certificate, why it is not acceptable)."""
        try:
            chain = parse_chain(pem)
        except CertificateError as exc:
            return None, str(exc)
        roots = self.store.roots(MANUFACTURER_ROOT)
        if not roots:
            return chain[0], "no ManufacturerRootCertificate is installed"
        problem = verify_chain(chain, roots, self.clock.now())
        return chain[0], problem

    def request(self, request_id: int, location: str, retrieve: datetime, install_at: datetime | None,
                signing_certificate: str, signature: str, retries: int | None,
                retry_interval: int | None) -> tuple[str, Callable[[], object] | None]:
        """(SignedUpdateFirmware status, the start to run after the reply)."""
        cert, problem = self.check_certificate(signing_certificate)
        if problem is not None or cert is None:
            self.events.record("InvalidFirmwareSigningCertificate", problem)
            log.warning("SignedUpdateFirmware %d: signing certificate refused: %s", request_id, problem)
            return "InvalidCertificate", None
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            log.warning("SignedUpdateFirmware %d: signature is not base64", request_id)
            return "Rejected", None
        status = "AcceptedCanceled" if self.firmware.busy else "Accepted"

        def notify(fw_status: str) -> None:
            self.send("SignedFirmwareStatusNotification", {"status": fw_status, "requestId": request_id})

        async def verify(path: Path) -> bool:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(None, verify_file_signature, cert, path, raw_signature)
            if not ok:
                log.warning("firmware %s: signature does not verify with %r", path.name, subject_cn(cert))
                await loop.run_in_executor(None, _discard, path)
                self.events.record("InvalidFirmwareSignature", f"requestId {request_id}: {path.name}")
                self.firmware.report("InvalidSignature")
                return False
            self.firmware.report("SignatureVerified")
            return True

        plan = UpdatePlan(notify=notify, verify=verify, install_at=install_at, scheduled_states=True,
                          request_id=request_id)

        def start() -> object:
            self.request_id = request_id
            return self.firmware.schedule(location, retrieve, retries, retry_interval, plan=plan)

        return status, start

    def notification(self) -> dict[str, Any]:
        """SignedFirmwareStatusNotification for ExtendedTriggerMessage: Idle unless an update runs."""
        if not self.firmware.busy:
            return {"status": "Idle"}
        payload: dict[str, Any] = {"status": self.firmware.status}
        request_id = self.firmware.plan.request_id
        if request_id is not None:
            payload["requestId"] = request_id
        return payload


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
