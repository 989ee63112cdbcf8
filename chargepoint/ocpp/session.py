"""The OCPP session on one websocket: ``ocpp.v16.ChargePoint`` composed from handler mixins.

Fixes on top of the library (see errors.py): error codes for unknown/unsupported actions,
FormationViolation, strict date-time checks, CALLERROR for unparsable frames that carry a unique
id, silence while registration is Rejected, response waiting on the loop clock, and ``call_raw``:
a CALL of a camelCase dict that tolerates unknown fields in the response.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ocpp.exceptions import (
    FormatViolationError,
    InternalError,
    OCPPError,
    ProtocolError,
    UnknownCallErrorCodeError,
)
from ocpp.messages import Call, CallError, MessageType, _validate_payload
from ocpp.v16 import ChargePoint as OcppChargePoint

from chargepoint.ocpp.core_handlers import CoreHandlers
from chargepoint.ocpp.diagnostics import DiagnosticsHandlers
from chargepoint.ocpp.errors import (
    check_datetimes,
    normalise_error,
    unknown_action_error,
)
from chargepoint.ocpp.firmware import FirmwareHandlers
from chargepoint.ocpp.frame_guard import FrameRejected, decode_frame
from chargepoint.ocpp.local_list_handlers import LocalListHandlers
from chargepoint.ocpp.reservation import ReservationHandlers
from chargepoint.ocpp.security.handlers import SecurityHandlers

try:  # Engineer B's TriggerMessage mixin
    from chargepoint.ocpp.trigger import TriggerHandlers

    _TRIGGER: tuple[type, ...] = (TriggerHandlers,)
except ImportError:  # pragma: no cover - until trigger.py lands
    _TRIGGER = ()

try:  # smart charging handlers (a later engineer)
    from chargepoint.ocpp.smart_charging_handlers import SmartChargingHandlers  # type: ignore[import-not-found]

    _SMART: tuple[type, ...] = (SmartChargingHandlers,)
except ImportError:
    _SMART = ()


class ResponseError(Exception):
    """The CSMS's CALLRESULT was unusable (schema failure other than unknown fields)."""


class ChargePointSession(SecurityHandlers, CoreHandlers, LocalListHandlers, ReservationHandlers, *_TRIGGER, FirmwareHandlers,  # type: ignore[misc]
                         DiagnosticsHandlers, *_SMART, OcppChargePoint):
    def __init__(self, ctx: Any, connection: Any, logger: logging.Logger | None = None) -> None:
        super().__init__(ctx.options.cp_id, connection, response_timeout=int(ctx.keys.get("MessageTimeout") or 30),
                         logger=logger or logging.getLogger("chargepoint.ocpp.session"))
        self.ctx = ctx

    # -- receiving ----------------------------------------------------------------------------
    async def route_message(self, raw_msg: Any) -> None:
        try:
            msg = decode_frame(raw_msg)
        except FrameRejected as rejected:
            self.logger.warning("frame refused (%s: %s): %.200r", rejected.error.code, rejected.error.description,
                                raw_msg)
            if rejected.unique_id is not None and self.ctx.registration != "Rejected":
                err = normalise_error(rejected.error)
                await self._send(CallError(rejected.unique_id, err.code, err.description or "",
                                           err.details or {}).to_json())
            return
        self.ctx.outbox.note_traffic()
        if msg.message_type_id == MessageType.Call:
            if self.ctx.registration == "Rejected":
                self.logger.info("registration Rejected: %s not answered", msg.action)
                return
            self.ctx.outbox.begin_handler()
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                error = normalise_error(error)
                self.logger.info("%s answered with %s: %s", msg.action, error.code, error.description)
                await self._send(msg.create_call_error(error).to_json())
            except Exception:
                self.logger.exception("%s: internal error", msg.action)
                err = InternalError(description=f"{msg.action} could not be processed", details={})
                await self._send(msg.create_call_error(err).to_json())
            finally:
                self.ctx.outbox.end_handler()
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)

    async def _handle_call(self, msg: Any) -> Any:
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            raise unknown_action_error(msg.action)
        check_datetimes(msg.payload)
        return await super()._handle_call(msg)

    # -- sending -------------------------------------------------------------------------------
    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                response = await self._response_queue.get()
            if response.unique_id == unique_id:
                return response
            self.logger.warning("ignoring a response with unknown unique id %s", response.unique_id)

    async def call_raw(self, action: str, payload: dict[str, Any], unique_id: str,
                       timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """Send one CALL (camelCase payload) and return the CALLRESULT payload.

        Raises the OCPPError of a CALLERROR, TimeoutError, ResponseError, or the connection's error."""
        call = Call(unique_id=unique_id, action=action, payload=payload)
        # synchronous validation: our payloads are small; a thread hop per message costs more
        _validate_payload(call, self._ocpp_version)
        wait = float(timeout if timeout is not None else (self.ctx.keys.get("MessageTimeout") or 30))
        async with self._call_lock:
            await self._send(call.to_json())
            response = await self._get_specific_response(unique_id, wait)
        if response.message_type_id == MessageType.CallError:
            try:
                raise response.to_exception()
            except UnknownCallErrorCodeError:
                raise ProtocolError(description=f"unknown CALLERROR code {response.error_code}") from None
        if not isinstance(response.payload, dict):
            raise ResponseError(f"{action}: CALLRESULT payload is not an object")
        response.action = action
        try:
            _validate_payload(response, self._ocpp_version)
        except FormatViolationError as e:
            if "Additional properties" not in str(e.details):
                raise ResponseError(f"{action}: invalid CALLRESULT: {e.details}") from None
            self.logger.info("%s: CALLRESULT with unknown fields tolerated", action)
        except OCPPError as e:
            raise ResponseError(f"{action}: invalid CALLRESULT: {e.code} {e.details}") from None
        return dict(response.payload)
