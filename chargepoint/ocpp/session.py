"""The OCPP session on one websocket: the handler mixins, a CALL dispatcher and ``call_raw``.

Built on the ``ocpp`` library's public pieces (``library.py``: ``@on`` routes, ``create_route_map``,
message classes, schema validation, the case conversion), not on its ``ChargePoint`` class, whose
private methods we would otherwise have to override.  On top of what the library's ``ChargePoint``
does: error codes for unknown/unsupported actions (OCPP-J table 7), FormationViolation, strict
date-time checks, CALLERROR for unparsable frames that carry a unique id, silence while
registration is Rejected, responses awaited on the loop clock, and ``call_raw``: a CALL of a
camelCase dict that tolerates unknown fields in the response.

Dispatch of one CALL (as the library's ChargePoint does it): route lookup, schema validation of the
request unless the route skips it, snake_case kwargs to the ``@on`` handler, its result serialised
(None fields dropped, camelCase) and validated, then sent.  An exception inside the handler is
answered with its CALLERROR as raised (InternalError for a non-OCPP exception); a failure outside
the handler (validation) with the normalised error (``errors.normalise_error``).  ``@after`` hooks
are not supported: work after the reply goes through ``ctx.outbox.after_reply``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from chargepoint.ocpp.core_handlers import CoreHandlers
from chargepoint.ocpp.diagnostics import DiagnosticsHandlers
from chargepoint.ocpp.errors import (
    ResponseError,
    check_datetimes,
    normalise_error,
    unknown_action_error,
)
from chargepoint.ocpp.firmware import FirmwareHandlers
from chargepoint.ocpp.frame_guard import FrameRejected, decode_frame
from chargepoint.ocpp.library import (
    OCPP_VERSION,
    Call,
    CallError,
    CallResult,
    FormatViolationError,
    InternalError,
    OCPPError,
    camel_to_snake_case,
    create_route_map,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
    validate_payload,
)
from chargepoint.ocpp.local_list_handlers import LocalListHandlers
from chargepoint.ocpp.reservation import ReservationHandlers
from chargepoint.ocpp.security.handlers import SecurityHandlers
from chargepoint.ocpp.smart_charging_handlers import SmartChargingHandlers
from chargepoint.ocpp.trigger import TriggerHandlers
from chargepoint.ocpp.wire import error_of, validate_message

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext


class Connection(Protocol):
    """The websocket as the session uses it (``websockets``' ClientConnection fits)."""

    async def recv(self) -> str | bytes: ...

    async def send(self, message: str) -> None: ...


class ChargePointSession(SecurityHandlers, CoreHandlers, LocalListHandlers, ReservationHandlers, TriggerHandlers, FirmwareHandlers,
                         DiagnosticsHandlers, SmartChargingHandlers):
    def __init__(self, ctx: OcppContext, connection: Connection, logger: logging.Logger | None = None) -> None:
        self.ctx = ctx
        self.id = ctx.options.cp_id
        self.logger = logger or logging.getLogger("chargepoint.ocpp.session")
        self._connection = connection
        self.route_map: dict[str, dict[str, Any]] = create_route_map(self)
        self._call_lock = asyncio.Lock()  # one outstanding CALL (OCPP-J 4.1.1)
        self._responses: asyncio.Queue[CallResult | CallError] = asyncio.Queue()

    # -- receiving ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Receive and route frames until the connection fails (its exception propagates)."""
        while True:
            message = await self._connection.recv()
            self.logger.info("%s: receive message %s", self.id, message)
            await self.route_message(message)

    async def route_message(self, raw_msg: str | bytes) -> None:
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
        if isinstance(msg, Call):
            await self._on_call(msg)
        else:
            self._responses.put_nowait(msg)

    async def _on_call(self, msg: Call) -> None:
        if self.ctx.registration == "Rejected":
            self.logger.info("registration Rejected: %s not answered", msg.action)
            return
        self.ctx.outbox.begin_handler()
        try:
            await self._dispatch(msg)
        except OCPPError as error:
            error = normalise_error(error)
            self.logger.info("%s answered with %s: %s", msg.action, error.code, error.description)
            await self._send(msg.create_call_error(error).to_json())
        except Exception:
            self.logger.exception("%s: internal error", msg.action)
            internal = InternalError(description=f"{msg.action} could not be processed", details={})
            await self._send(msg.create_call_error(internal).to_json())
        finally:
            self.ctx.outbox.end_handler()

    async def _dispatch(self, msg: Call) -> None:
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            raise unknown_action_error(msg.action)
        check_datetimes(msg.payload)
        validate = not handlers.get("_skip_schema_validation", False)
        if validate:
            await validate_payload(msg, OCPP_VERSION)
        handler: Callable[..., object] = handlers["_on_action"]
        try:
            response = handler(**camel_to_snake_case(msg.payload))
            if inspect.isawaitable(response):
                response = await response
        except Exception as e:
            if isinstance(e, OCPPError):
                self.logger.info("%s refused: %s", msg.action, e)
            else:
                self.logger.exception("error while handling %s", msg.action)
            await self._send(msg.create_call_error(e).to_json())
            return
        result = msg.create_call_result(snake_to_camel_case(remove_nones(serialize_as_dict(response))))
        if validate:
            await validate_payload(result, OCPP_VERSION)
        await self._send(result.to_json())

    # -- sending -------------------------------------------------------------------------------
    async def _send(self, message: str) -> None:
        self.logger.info("%s: send %s", self.id, message)
        await self._connection.send(message)

    async def _response_to(self, unique_id: str, timeout: float) -> CallResult | CallError:  # noqa: ASYNC109
        """The CALLRESULT/CALLERROR of ``unique_id``; others (late answers) are skipped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                response = await self._responses.get()
            if response.unique_id == unique_id:
                return response
            self.logger.warning("ignoring a response with unknown unique id %s", response.unique_id)

    async def call_raw(self, action: str, payload: dict[str, Any], unique_id: str,
                       timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """Send one CALL (camelCase payload) and return the CALLRESULT payload.

        Raises the OCPPError of a CALLERROR, TimeoutError, ResponseError, or the connection's error."""
        call = Call(unique_id=unique_id, action=action, payload=payload)
        validate_message(call)
        wait = float(timeout if timeout is not None else (self.ctx.keys.get("MessageTimeout") or 30))
        async with self._call_lock:
            await self._send(call.to_json())
            response = await self._response_to(unique_id, wait)
        if isinstance(response, CallError):
            raise error_of(response)
        if not isinstance(response.payload, dict):
            raise ResponseError(f"{action}: CALLRESULT payload is not an object")
        response.action = action
        try:
            validate_message(response)
        except FormatViolationError as e:
            if "Additional properties" not in str(e.details):
                raise ResponseError(f"{action}: invalid CALLRESULT: {e.details}") from None
            self.logger.info("%s: CALLRESULT with unknown fields tolerated", action)
        except OCPPError as e:
            raise ResponseError(f"{action}: invalid CALLRESULT: {e.code} {e.details}") from None
        return dict(response.payload)

