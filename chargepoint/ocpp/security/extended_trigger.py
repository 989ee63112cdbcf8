"""ExtendedTriggerMessage (whitepaper edition 2, F06): the conf first, then the requested message.

BootNotification, Heartbeat, MeterValues and StatusNotification as TriggerMessage does (trigger.py);
FirmwareStatusNotification -> SignedFirmwareStatusNotification (Idle unless an update runs);
LogStatusNotification -> the log upload's status (Idle unless one runs); SignChargePointCertificate
-> a new key pair and SignCertificate with its CSR.  A connectorId outside 0..NumberOfConnectors is
Rejected for MeterValues / StatusNotification and ignored otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.ocpp.security.certificate_handlers import SecurityServiceHandler
from chargepoint.ocpp.security.routing import on_action
from chargepoint.ocpp.trigger import CONNECTOR_MESSAGES, TriggerHandlers

log = logging.getLogger("chargepoint.ocpp.security")

CORE_MESSAGES = ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification")


class ExtendedTriggerHandlers(SecurityServiceHandler, TriggerHandlers):
    @on_action(Action.extended_trigger_message)
    async def on_extended_trigger_message(self, requested_message: str, connector_id: int | None = None,
                                          **_: Any) -> object:
        service = self._security()
        n = int(self.ctx.station.connectors)
        connector = connector_id
        if connector is not None and not 0 <= connector <= n:
            if requested_message in CONNECTOR_MESSAGES:
                return call_result.ExtendedTriggerMessage(status="Rejected")
            connector = None
        outbox = self.ctx.outbox
        if requested_message in CORE_MESSAGES:
            status = self._trigger(requested_message, connector)
        elif requested_message == "FirmwareStatusNotification":
            signed = service.signed_firmware
            payload = signed.notification() if signed is not None else {"status": "Idle"}
            outbox.send_after_reply("SignedFirmwareStatusNotification", payload, triggered=True)
            status = "Accepted"
        elif requested_message == "LogStatusNotification":
            outbox.send_after_reply("LogStatusNotification", service.logs.notification(triggered=True),
                                    triggered=True)
            status = "Accepted"
        elif requested_message == "SignChargePointCertificate":
            outbox.after_reply(lambda: outbox.send_soon("SignCertificate", service.sign_certificate_request(),
                                                        triggered=True))
            status = "Accepted"
        else:
            status = "NotImplemented"
        log.info("ExtendedTriggerMessage %s connector=%s -> %s", requested_message, connector, status)
        return call_result.ExtendedTriggerMessage(status=status)
