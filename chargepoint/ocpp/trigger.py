"""TriggerMessage (OCPP 1.6 §5.17, errata 3.35/3.40): the conf first, then the requested message.

* BootNotification -- Rejected once registration is Accepted; otherwise the session's boot logic
  sends one (``ctx.trigger_boot``).
* DiagnosticsStatusNotification / FirmwareStatusNotification -- the current status of the service
  (Idle when nothing runs: the only case Idle is ever sent).
* Heartbeat -- a Heartbeat.
* MeterValues -- the latest values of MeterValuesSampledData, context "Trigger", for the given
  connector or every connector (with the transactionId of a running transaction).
* StatusNotification -- the given connector, or the station (connector 0) plus each connector, as
  the status reporter computes it now (``ctx.status.send_now``).

A connectorId outside 0..NumberOfConnectors is Rejected for the connector-specific messages and
ignored for the others.  The route skips the library's schema validation so that a requestedMessage
this charge point does not know is answered NotImplemented (spec) rather than with a schema error;
the fields are checked here instead.

Triggered messages go through ``outbox.send_after_reply(..., triggered=True)``: they leave after the
CALLRESULT, and are allowed while registration is Pending.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from chargepoint.ocpp.library import (
    Action,
    FormationViolationError,
    ProtocolError,
    TypeConstraintViolationError,
    call_result,
    on,
)
from chargepoint.ocpp.meter_values import meter_value, sampled_values

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

log = logging.getLogger("chargepoint.ocpp.trigger")

KNOWN_MESSAGES = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
CONNECTOR_MESSAGES = ("MeterValues", "StatusNotification")


def meter_values_payload(ctx: OcppContext, connector: int) -> dict[str, Any] | None:
    measurands = list(ctx.keys.get("MeterValuesSampledData") or [])
    values = sampled_values(ctx.station, connector, measurands, "Trigger")
    if not values:
        return None
    payload: dict[str, Any] = {"connectorId": connector, "meterValue": [meter_value(ctx.clock.now(), values)]}
    tx = ctx.transactions.active(connector) if connector > 0 else None
    if tx is not None:
        payload["transactionId"] = tx.transaction_id if tx.transaction_id is not None else -1
    return payload


class TriggerHandlers:
    """Mixin of the session; uses ``self.ctx``."""

    ctx: OcppContext

    @on(Action.trigger_message, skip_schema_validation=True)
    async def on_trigger_message(self, **fields: Any) -> call_result.TriggerMessage:
        extra = set(fields) - {"requested_message", "connector_id"}
        if extra:
            raise FormationViolationError(description=f"unexpected field(s): {', '.join(sorted(extra))}")
        if "requested_message" not in fields:
            raise ProtocolError(description="requestedMessage is required")
        requested = fields["requested_message"]
        if not isinstance(requested, str):
            raise TypeConstraintViolationError(description="requestedMessage must be a string")
        connector = fields.get("connector_id")
        if connector is not None and (not isinstance(connector, int) or isinstance(connector, bool)):
            raise TypeConstraintViolationError(description="connectorId must be an integer")
        if requested not in KNOWN_MESSAGES:
            return call_result.TriggerMessage(status="NotImplemented")
        n = int(self.ctx.station.connectors)
        if connector is not None and not 0 <= connector <= n:
            if requested in CONNECTOR_MESSAGES:
                return call_result.TriggerMessage(status="Rejected")
            connector = None  # does not apply: ignored
        status = self._trigger(requested, connector)
        log.info("TriggerMessage %s connector=%s -> %s", requested, connector, status)
        return call_result.TriggerMessage(status=status)

    def _send_triggered(self, action: str, payload: dict[str, Any]) -> None:
        self.ctx.outbox.send_after_reply(action, payload, triggered=True)

    def _trigger(self, requested: str, connector: int | None) -> str:
        ctx = self.ctx
        if requested == "BootNotification":
            if ctx.registration == "Accepted":
                return "Rejected"
            trigger_boot = ctx.trigger_boot
            if trigger_boot is None:
                return "Rejected"
            ctx.outbox.after_reply(trigger_boot)
            return "Accepted"
        if requested == "Heartbeat":
            self._send_triggered("Heartbeat", {})
            return "Accepted"
        if requested == "DiagnosticsStatusNotification":
            status = (ctx.diagnostics.status if ctx.diagnostics is not None else "") or "Idle"
            self._send_triggered("DiagnosticsStatusNotification", {"status": status})
            return "Accepted"
        if requested == "FirmwareStatusNotification":
            status = (ctx.firmware.status if ctx.firmware is not None else "") or "Idle"
            self._send_triggered("FirmwareStatusNotification", {"status": status})
            return "Accepted"
        if requested == "StatusNotification":
            reporter = ctx.status
            connectors = [connector] if connector is not None else list(range(0, ctx.station.connectors + 1))
            for c in connectors:
                ctx.outbox.after_reply(functools.partial(reporter.send_now, c, triggered=True))
            return "Accepted"
        # MeterValues
        connectors = [connector] if connector is not None else list(range(1, ctx.station.connectors + 1))
        payloads = [p for p in (meter_values_payload(ctx, c) for c in connectors) if p is not None]
        if not payloads:
            return "Rejected"  # no meter values to report (no meter, no reading yet)
        for p in payloads:
            self._send_triggered("MeterValues", p)
        return "Accepted"
