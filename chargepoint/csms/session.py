"""One charge point's connection to the test CSMS: an ``ocpp`` v16 ChargePoint with our handlers.

Incoming CALLs are handled in their own task, so an answer delay never stalls the receive loop
(CALLRESULTs to our own CALLs keep flowing).  Our outgoing CALLs bypass ``ChargePoint.call()``: the
payload is sent as given (raw camelCase dict, not re-validated, so tests can send bad input on
purpose) and the answer is matched by unique id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)
from ocpp.exceptions import (
    NotSupportedError,
    OCPPError,
)
from ocpp.messages import Call, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, DataTransferStatus, RegistrationStatus
from websockets.exceptions import ConnectionClosed

from chargepoint.csms.frames import IN, OUT
from chargepoint.ocpp.wire import validate_message

if TYPE_CHECKING:
    from chargepoint.csms.server import TestCsms

_ACTIONS_16 = {a.value for a in Action}


class ForcedCallError(OCPPError):
    """A CALLERROR with any OCPP-J error code (code set per instance)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description, {"cause": "forced by the test CSMS behaviour"})
        self.code = code


@dataclass
class CallOutcome:
    """Result of a CSMS -> CP CALL."""

    status: str  # "result" | "error" | "timeout"
    payload: Any = None
    error_code: str | None = None
    error_description: str | None = None
    error_details: Any = None
    unique_id: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "unique_id": self.unique_id}
        if self.status == "result":
            out["payload"] = self.payload
        elif self.status == "error":
            out.update(
                error_code=self.error_code, error_description=self.error_description, error_details=self.error_details
            )
        return out


class NotConnectedError(LookupError):
    """No connection for this charge point id."""


@dataclass
class _Pending:
    action: str
    future: asyncio.Future[Any] = field(repr=False)
    payload: Any = None


_unique_ids = itertools.count(1)


class CsmsSession(ChargePoint):
    """Per-connection protocol handler."""

    def __init__(self, cp_id: str, connection: Any, csms: TestCsms) -> None:
        super().__init__(cp_id, connection, response_timeout=csms.behaviour.call_timeout)
        self.csms = csms
        self.clock = csms.clock
        self.connected_at = self.clock.now()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: dict[str, _Pending] = {}
        self._inflight: dict[str, str] = {}  # incoming CALLs not yet answered: unique_id -> action
        self._outgoing_lock = asyncio.Lock()
        # The library would validate every CALL and every answer with jsonschema in its thread pool
        # (two executor round trips per message: at thousands of charge points the CSMS's main cost).
        # The CALL is validated here instead, in line, with the charge point's own fast check
        # (chargepoint/ocpp/wire.py: compiled schema, jsonschema's verdict on a failure); the answers
        # are our handlers' own, from the behaviour.
        for handlers in self.route_map.values():
            handlers["_skip_schema_validation"] = True

    # -- transport ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Receive until the connection closes (the ConnectionClosed exception propagates)."""
        try:
            while True:
                raw = await self._connection.recv()
                self.csms.frame_log.record(IN, self.id, raw)
                await self.route_message(raw)
        finally:
            for pending in self._pending.values():
                if not pending.future.done():
                    pending.future.cancel()
            if self.csms.sessions.get(self.id) in (None, self):  # not replaced by a newer connection
                self.csms.frame_log.forget_connection(self.id)

    async def _send(self, message: str) -> None:
        self.csms.frame_log.record(OUT, self.id, message)
        await self._connection.send(message)

    async def send_raw(self, text: str | bytes) -> None:
        """Send ``text`` as it is (hostile or malformed frames for tests); recorded like any frame,
        so an answer to a CALL sent this way is matched to its action in the frame log."""
        if isinstance(text, bytes):
            self.csms.frame_log.record(OUT, self.id, text)
            await self._connection.send(text)
            return
        await self._send(text)

    async def route_message(self, raw_msg: Any) -> None:
        try:
            msg = unpack(raw_msg)
        except OCPPError as error:
            await self._answer_unparseable(raw_msg, error)
            return
        if isinstance(msg, Call):
            if self._inflight:
                waiting = ", ".join(f"{a} ({u})" for u, a in self._inflight.items())
                self.csms.violations.append(
                    f"{self.id}: sent {msg.action} while its CALL {waiting} was unanswered (OCPP-J 4.1.1)")
            self._inflight[msg.unique_id] = msg.action
            task = asyncio.get_running_loop().create_task(self._answer(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        pending = self._pending.pop(msg.unique_id, None)
        if pending is None:
            self.logger.warning("%s: answer to unknown or expired CALL %s ignored", self.id, msg.unique_id)
            return
        if pending.action == "TriggerMessage" and msg.message_type_id == 3 and isinstance(msg.payload, dict) \
                and msg.payload.get("status") == "Accepted" and isinstance(pending.payload, dict):
            # recorded before the next frame is read: the triggered message follows the conf at once
            self.csms.triggered.setdefault(self.id, set()).add(str(pending.payload.get("requestedMessage")))
        if not pending.future.done():
            pending.future.set_result(msg)

    async def _answer_unparseable(self, raw_msg: Any, error: OCPPError) -> None:
        """OCPP-J 4.2.3: answer a CALL we cannot parse with a CALLERROR if its id is readable."""
        try:
            frame = json.loads(raw_msg)
        except (ValueError, TypeError):
            return
        if isinstance(frame, list) and len(frame) >= 2 and frame[0] == 2 and isinstance(frame[1], str):
            await self._send(json.dumps([4, frame[1], getattr(error, "code", "GenericError"), error.description or "", error.details or {}]))

    async def _answer(self, msg: Call) -> None:
        try:
            await self._answer_call(msg)
        finally:
            self._inflight.pop(msg.unique_id, None)

    async def _answer_call(self, msg: Call) -> None:
        action = msg.action
        delay = self.csms.behaviour.delay_for(action)
        if delay > 0:
            await self.clock.sleep(delay)
        try:
            forced = self.csms.behaviour.take_forced_error(action)
            if forced is not None:
                raise ForcedCallError(forced.code, forced.description)
            if action not in _ACTIONS_16:
                # OCPP-J Table 7: "Requested Action is not known by receiver" (the library swaps these).
                raise OcppNotImplemented(details={"cause": f"{action} is not an OCPP 1.6 action"})
            if action not in self.route_map:
                raise NotSupportedError(details={"cause": f"{action} is not sent by a charge point"})
            violation = self.csms.registration_violation(self.id, action)
            if violation is not None:
                self.csms.violations.append(f"{self.id}: {violation}")
                if self.csms.registration.get(self.id) == "Rejected":
                    raise ForcedCallError("SecurityError", violation)
            validate_message(msg)
            await self._handle_call(msg)
        except ConnectionClosed:
            return  # nobody left to answer
        except OCPPError as error:
            with contextlib.suppress(ConnectionClosed):
                await self._send(msg.create_call_error(error).to_json())
        except Exception as error:  # a bug in a handler: still answer per OCPP-J
            self.logger.exception("%s: handler for %s failed", self.id, action)
            with contextlib.suppress(ConnectionClosed):
                await self._send(msg.create_call_error(error).to_json())

    # -- CSMS -> CP CALLs -----------------------------------------------------------------------
    async def send_call(self, action: str, payload: Any, timeout: float | None = None) -> CallOutcome:  # noqa: ASYNC109 - timeout is virtual-clock time
        """Send a CALL (payload as given) and wait for the answer; one outstanding CALL at a time."""
        wait = self.csms.behaviour.call_timeout if timeout is None else timeout
        async with self._outgoing_lock:
            unique_id = f"csms-{next(_unique_ids)}"
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = _Pending(action, future, payload)
            try:
                await self._send(json.dumps([2, unique_id, action, payload], separators=(",", ":")))
            except ConnectionClosed:
                self._pending.pop(unique_id, None)
                raise NotConnectedError(f"{self.id} disconnected before {action} could be sent") from None
            try:
                answer = await self.clock.wait_for(asyncio.shield(future), wait)
            except TimeoutError:
                self._pending.pop(unique_id, None)
                return CallOutcome("timeout", unique_id=unique_id)
            except asyncio.CancelledError:
                if future.cancelled():  # connection closed underneath us
                    raise NotConnectedError(f"{self.id} disconnected before answering {action}") from None
                raise
        if answer.message_type_id == 3:
            return CallOutcome("result", payload=answer.payload, unique_id=unique_id)
        return CallOutcome(
            "error",
            error_code=answer.error_code,
            error_description=answer.error_description,
            error_details=answer.error_details,
            unique_id=unique_id,
        )

    # -- CP -> CSMS handlers (never await a CALL in here) ---------------------------------------
    # The test CSMS answers what its behaviour says, as plain strings and dicts: the ocpp library
    # serialises those exactly like its enums and dataclasses, which is what the casts tell mypy.
    def _id_tag_info(self, id_tag: str) -> IdTagInfo:
        return cast(IdTagInfo, self.csms.id_tag_info(id_tag))

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **extra: Any):
        behaviour = self.csms.behaviour
        status = behaviour.boot_status
        self.csms.registration[self.id] = status
        self.csms.triggered.pop(self.id, None)
        self.csms.boot_info[self.id] = {"charge_point_vendor": charge_point_vendor,
                                        "charge_point_model": charge_point_model, **extra}
        interval = behaviour.heartbeat_interval if status == "Accepted" else behaviour.boot_retry_interval
        return result.BootNotification(current_time=self._now(), interval=interval, status=cast(RegistrationStatus, status))

    @on(Action.heartbeat)
    def on_heartbeat(self, **extra: Any):
        self.csms.last_heartbeat[self.id] = self.clock.now()
        return result.Heartbeat(current_time=self._now())

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **extra: Any):
        return result.Authorize(id_tag_info=self._id_tag_info(id_tag))

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **extra: Any):
        tx_id = self.csms.open_transaction(self.id, connector_id, id_tag, meter_start, timestamp, extra)
        return result.StartTransaction(transaction_id=tx_id, id_tag_info=self._id_tag_info(id_tag))

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **extra: Any):
        self.csms.close_transaction(self.id, transaction_id, meter_stop, timestamp, extra)
        id_tag = extra.get("id_tag")
        if id_tag is None:
            return result.StopTransaction()
        return result.StopTransaction(id_tag_info=self._id_tag_info(id_tag))

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **extra: Any):
        self.csms.meter_values.append(
            {"cp_id": self.id, "connector_id": connector_id, "transaction_id": extra.get("transaction_id"),
             "meter_value": meter_value}
        )
        return result.MeterValues()

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **extra: Any):
        self.csms.connector_status.setdefault(self.id, {})[connector_id] = {
            "status": status, "error_code": error_code, **extra}
        return result.StatusNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **extra: Any):
        return result.DataTransfer(status=cast(DataTransferStatus, self.csms.behaviour.data_transfer_status))

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status: str, **extra: Any):
        self.csms.notifications.append({"cp_id": self.id, "action": "DiagnosticsStatusNotification", "status": status})
        return result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **extra: Any):
        self.csms.notifications.append({"cp_id": self.id, "action": "FirmwareStatusNotification", "status": status})
        return result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, type: str, timestamp: str, **extra: Any):
        self.csms.notifications.append({"cp_id": self.id, "action": "SecurityEventNotification", "type": type,
                                        "tech_info": extra.get("tech_info")})
        return result.SecurityEventNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status: str, **extra: Any):
        self.csms.notifications.append({"cp_id": self.id, "action": "LogStatusNotification", "status": status,
                                        "request_id": extra.get("request_id")})
        return result.LogStatusNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str, **extra: Any):
        security = self.csms.security_state(self.id)
        security["csrs"].append(csr)
        status = self.csms.behaviour.sign_certificate_status
        if status == "Accepted" and self.csms.behaviour.auto_sign_csr:
            # after our answer: never await a CALL inside a handler
            task = asyncio.get_running_loop().create_task(self._sign_and_send(csr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return result.SignCertificate(status=status)

    async def _sign_and_send(self, csr: str) -> None:
        await self.clock.sleep(0.05)  # the SignCertificate.conf leaves first
        try:
            chain = self.csms.pki.sign_csr(csr)
        except ValueError as exc:
            self.logger.warning("%s: CSR not signed: %s", self.id, exc)
            return
        outcome = await self.send_call("CertificateSigned", {"certificateChain": chain})
        self.csms.security_state(self.id)["certificate_signed"].append(outcome.payload)

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, status: str, **extra: Any):
        self.csms.notifications.append(
            {"cp_id": self.id, "action": "SignedFirmwareStatusNotification", "status": status,
             "request_id": extra.get("request_id")})
        return result.SignedFirmwareStatusNotification()

    def _now(self) -> str:
        return self.clock.now().isoformat()
