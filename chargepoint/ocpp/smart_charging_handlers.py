"""Smart Charging profile handlers (mixin of the OCPP session): SetChargingProfile, ClearChargingProfile,
GetCompositeSchedule.  The decisions are the engine's (``ctx.smart_charging``, a
:class:`~chargepoint.services.smart_charging.SmartChargingService`); this module maps the wire to it.

Validation is done here instead of by the library (``skip_schema_validation``) so the error codes follow
OCPP-J and the 1.6 errata:

* an invalid enum value (chargingProfilePurpose, chargingRateUnit, ...) or a value outside its range
  (multipleOf 0.1, minimum) -> **PropertyConstraintViolation** naming the field (errata 3.24/3.38; the
  library would say FormatViolation);
* wrong JSON type -> TypeConstraintViolation, missing required field -> ProtocolError, unknown field ->
  FormationViolation (as the library);
* an explicit JSON ``null`` of an optional field is taken as absent (some CSMSs send them);
* SetChargingProfile on an unknown connectorId -> PropertyConstraintViolation; a profile the engine refuses
  (TxProfile without a transaction, stackLevel too high, too many periods/profiles, unit not allowed, ...)
  -> Rejected;
* without a smart-charging service (SmartCharging not supported) -> NotSupported CALLERROR (errata 3.39).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chargepoint.ocpp.library import (
    OCPP_VERSION,
    Action,
    FormationViolationError,
    InternalError,
    MessageType,
    NotSupportedError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
    call_result,
    get_validator,
    on,
    snake_to_camel_case,
)
from chargepoint.ocpp.ports import SmartCharging
from chargepoint.ocpp.wire import SchemaFailure as SchemaError
from chargepoint.smartcharging import ChargingProfile, ProfileError
from chargepoint.smartcharging.parsing import format_datetime

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

#: actions whose numbers the library parses as Decimal (keep its validator cache consistent)
_DECIMAL_ACTIONS = {("SetChargingProfile", MessageType.Call), ("GetCompositeSchedule", MessageType.CallResult)}
_VALUE_RULES = {"enum", "multipleOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems",
                "maxItems", "pattern"}


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _path(error: SchemaError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "payload"


def schema_error(error: SchemaError) -> OCPPError:
    """One jsonschema failure -> the OCPP-J CALLERROR, naming the field."""
    where = _path(error)
    if error.validator == "required":
        return ProtocolError(description=f"{where}: {error.message}", details={})
    if error.validator in ("type", "maxLength"):
        return TypeConstraintViolationError(description=f"{where}: {error.message}", details={})
    if error.validator in _VALUE_RULES:
        return PropertyConstraintViolationError(description=f"{where}: {error.message}", details={})
    return FormationViolationError(description=f"{where}: {error.message}", details={})


def validate(action: str, message_type: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Validate a camelCase payload against the OCPP 1.6 schema (numbers as Decimal where the library
    does so); returns the parsed payload or raises the mapped :class:`OCPPError`."""
    decimal = (action, message_type) in _DECIMAL_ACTIONS
    validator = get_validator(message_type, action, OCPP_VERSION, parse_float=Decimal if decimal else float)
    parsed = json.loads(json.dumps(payload, default=_json_default), parse_float=Decimal if decimal else float)
    errors: list[SchemaError] = sorted(validator.iter_errors(parsed),
                                       key=lambda e: (e.validator != "required", len(e.path)))
    if errors:
        raise schema_error(errors[0])
    return dict(parsed)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def request(action: str, snake_payload: dict[str, Any]) -> dict[str, Any]:
    """The handler's kwargs back to the camelCase wire payload, nulls dropped, schema-checked."""
    return validate(action, MessageType.Call, _strip_nulls(snake_to_camel_case(snake_payload)))


class SmartChargingHandlers:
    ctx: OcppContext

    def _smart(self) -> SmartCharging:
        svc = self.ctx.smart_charging
        if svc is None:
            raise NotSupportedError(description="SmartCharging is not supported by this charge point", details={})
        return svc

    @on(Action.set_charging_profile, skip_schema_validation=True)
    async def on_set_charging_profile(self, **payload: Any) -> call_result.SetChargingProfile:
        svc = self._smart()
        req = request("SetChargingProfile", payload)
        connector = req["connectorId"]
        n = self.ctx.station.connectors
        if not 0 <= connector <= n:
            raise PropertyConstraintViolationError(
                description=f"connectorId: unknown connector {connector} (0..{n})", details={})
        try:
            profile = ChargingProfile.from_dict(req["csChargingProfiles"])
        except ProfileError as e:
            raise PropertyConstraintViolationError(description=f"csChargingProfiles.{e}", details={}) from None
        verdict = await svc.set_profile(connector, profile)
        return call_result.SetChargingProfile(status=verdict.status)

    @on(Action.clear_charging_profile, skip_schema_validation=True)
    async def on_clear_charging_profile(self, **payload: Any) -> call_result.ClearChargingProfile:
        svc = self._smart()
        req = request("ClearChargingProfile", payload)
        removed = await svc.clear(id=req.get("id"), connector_id=req.get("connectorId"),
                            purpose=req.get("chargingProfilePurpose"), stack_level=req.get("stackLevel"))
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule, skip_schema_validation=True)
    async def on_get_composite_schedule(self, **payload: Any) -> call_result.GetCompositeSchedule:
        svc = self._smart()
        req = request("GetCompositeSchedule", payload)
        connector, duration = req["connectorId"], req["duration"]
        if duration < 0:
            raise PropertyConstraintViolationError(description=f"duration: must be >= 0, got {duration}",
                                                   details={})
        if not 0 <= connector <= self.ctx.station.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        cs = svc.composite(connector, duration, req.get("chargingRateUnit"))
        result = {"status": "Accepted", "connectorId": connector, "scheduleStart": format_datetime(cs.schedule_start),
                  "chargingSchedule": cs.to_json()}
        try:  # our own answer must pass the schema (limits multiple of 0.1), else say so clearly
            validate("GetCompositeSchedule", MessageType.CallResult, result)
        except OCPPError as e:
            raise InternalError(description=f"composite schedule failed its schema: {e.description}",
                                details={}) from None
        return call_result.GetCompositeSchedule(status="Accepted", connector_id=connector,
                                                schedule_start=result["scheduleStart"],
                                                charging_schedule=result["chargingSchedule"])
