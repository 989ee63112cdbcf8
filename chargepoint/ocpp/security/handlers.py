"""The security extension's CSMS -> CP handlers, one mixin for the session (``ChargePointSession``)."""

from __future__ import annotations

from chargepoint.ocpp.security.certificate_handlers import CertificateHandlers
from chargepoint.ocpp.security.extended_trigger import ExtendedTriggerHandlers
from chargepoint.ocpp.security.firmware_handlers import SignedFirmwareHandlers
from chargepoint.ocpp.security.log_handlers import LogHandlers


class SecurityHandlers(CertificateHandlers, LogHandlers, SignedFirmwareHandlers, ExtendedTriggerHandlers):
    """CertificateSigned, InstallCertificate, GetInstalledCertificateIds, DeleteCertificate, GetLog,
    SignedUpdateFirmware, ExtendedTriggerMessage."""
