"""CSMS -> CP certificate messages (mixin of the session): CertificateSigned, InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate.  The rules live in ``service`` / ``cert_store``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotSupportedError, TypeConstraintViolationError
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.ocpp.security.certificates import CertificateError, HashData
from chargepoint.ocpp.security.routing import on_action

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext
    from chargepoint.ocpp.security.service import SecurityService

log = logging.getLogger("chargepoint.ocpp.security")


class SecurityServiceHandler:
    ctx: OcppContext

    def _security(self) -> SecurityService:
        service = self.ctx.security
        if service is None:
            raise NotSupportedError(description="the security extension is not available on this charge point")
        return service


class CertificateHandlers(SecurityServiceHandler):
    @on_action(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> object:
        service = self._security()
        status, reconnect = service.certificate_signed(certificate_chain)
        if reconnect:  # security profile 3: the next connection presents the new certificate
            self.ctx.outbox.after_reply(service.reconnect)
        return call_result.CertificateSigned(status=status)

    @on_action(Action.install_certificate)
    async def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> object:
        service = self._security()
        status, reason = service.store.install(certificate_type, certificate, self.ctx.clock.now())
        if reason:
            log.info("InstallCertificate %s: %s (%s)", certificate_type, status, reason)
        return call_result.InstallCertificate(status=status)

    @on_action(Action.get_installed_certificate_ids)
    async def on_get_installed_certificate_ids(self, certificate_type: str, **_: Any) -> object:
        ids = self._security().store.installed_ids(certificate_type)
        if not ids:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        data = [{"hash_algorithm": h.hash_algorithm, "issuer_name_hash": h.issuer_name_hash,
                 "issuer_key_hash": h.issuer_key_hash, "serial_number": h.serial_number} for h in ids]
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=data)

    @on_action(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data: dict[str, object], **_: Any) -> object:
        service = self._security()
        try:
            wanted = HashData.from_request(certificate_hash_data)
        except CertificateError as exc:
            raise TypeConstraintViolationError(description=str(exc)) from None
        status = service.store.delete(wanted, service.identity.chain())
        return call_result.DeleteCertificate(status=status)
