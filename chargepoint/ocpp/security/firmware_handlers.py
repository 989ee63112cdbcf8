"""SignedUpdateFirmware (mixin of the session); the flow is in ``signed_firmware``."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import NotSupportedError, TypeConstraintViolationError
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.ocpp.firmware import optional_int, parse_location
from chargepoint.ocpp.id_tags import AuthInputError, parse_rfc3339
from chargepoint.ocpp.security.certificate_handlers import SecurityServiceHandler
from chargepoint.ocpp.security.routing import on_action


class SignedFirmwareHandlers(SecurityServiceHandler):
    @on_action(Action.signed_update_firmware)
    async def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any], retries: int | None = None,
                                        retry_interval: int | None = None, **_: Any) -> object:
        signed = self._security().signed_firmware
        if signed is None:
            raise NotSupportedError(description="firmware update is not available on this charge point")
        try:
            retrieve = parse_rfc3339(firmware["retrieve_date_time"], "firmware.retrieveDateTime")
            install_text = firmware.get("install_date_time")
            install = parse_rfc3339(install_text, "firmware.installDateTime") if install_text is not None else None
        except AuthInputError as exc:
            raise TypeConstraintViolationError(description=str(exc)) from None
        attempts = optional_int(retries, "retries")
        interval = optional_int(retry_interval, "retryInterval")
        location = str(firmware["location"])
        parse_location(location, "firmware.location")
        status, start = signed.request(request_id, location, retrieve, install, str(firmware["signing_certificate"]),
                                       str(firmware["signature"]), attempts, interval)
        if start is not None:
            self.ctx.outbox.after_reply(start)
        return call_result.SignedUpdateFirmware(status=status)
