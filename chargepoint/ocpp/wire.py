"""Schema validation of OCPP-J messages, synchronously, with the ``ocpp`` library's error mapping.

The library validates in a thread-pool executor (``validate_payload``); for the CALLs we send and
the CALLRESULTs we receive our payloads are small, and a thread hop per message costs more than the
check.  Built on the library's public ``get_validator``; the mapping is the library's:

| schema failure | error |
|---|---|
| wrong type, maxLength | TypeConstraintViolation |
| additionalProperties | FormatViolation (cause: the schema message) |
| required | ProtocolError |
| anything else | FormatViolation |
| no schema for the action | NotImplemented |

SetChargingProfile / RemoteStartTransaction CALLs and GetCompositeSchedule CALLRESULTs are
re-parsed with ``decimal.Decimal`` (``multipleOf 0.1`` is then exact), as the library does.

A valid payload is recognised by the same schema compiled with ``fastjsonschema`` (about 20x faster
than ``jsonschema``'s walk: a fleet of thousands sends hundreds of messages a second); only a payload
it refuses is walked by ``jsonschema``, whose verdict and first failure decide (the compiled check is
never more lenient: it also checks ``format``, which ``jsonschema`` here does not).
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import fastjsonschema

from chargepoint.ocpp.library import (
    OCPP_VERSION,
    Call,
    CallError,
    CallResult,
    FormatViolationError,
    OCPPError,
    OcppNotImplementedError,
    ProtocolError,
    TypeConstraintViolationError,
    get_validator,
)


class SchemaFailure(Protocol):
    """What we read of a ``jsonschema`` ValidationError (jsonschema ships no types here)."""

    validator: object
    message: str
    path: Sequence[str | int]
    absolute_path: Sequence[str | int]


#: the library's error classes by OCPP-J code, as they are when this module loads (a subclass another
#: module adds later, such as the test CSMS's per-instance ForcedCallError, cannot break the lookup)
_ERRORS_BY_CODE: dict[str, type[OCPPError]] = {
    c.code: c for c in OCPPError.__subclasses__() if isinstance(getattr(c, "code", None), str)}


def error_of(response: CallError) -> OCPPError:
    """The OCPPError of a CALLERROR; ProtocolError for a code OCPP-J does not define."""
    cls = _ERRORS_BY_CODE.get(response.error_code)
    if cls is None:
        return ProtocolError(description=f"unknown CALLERROR code {response.error_code}")
    return cls(description=response.error_description, details=response.error_details)


_DECIMAL_CALLS = frozenset({"SetChargingProfile", "RemoteStartTransaction"})
_DECIMAL_RESULTS = frozenset({"GetCompositeSchedule"})


#: compiled schemas by the id of their jsonschema validator (the library caches the validators)
_COMPILED: dict[int, tuple[object, Callable[[Any], Any]]] = {}


def _compiled(validator: Any) -> Callable[[Any], Any]:
    hit = _COMPILED.get(id(validator))
    if hit is None or hit[0] is not validator:
        hit = (validator, fastjsonschema.compile(validator.schema))
        _COMPILED[id(validator)] = hit
    return hit[1]


def _valid(validator: Any, payload: Any) -> bool:
    try:
        _compiled(validator)(payload)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def validate_message(message: Call | CallResult) -> None:
    """Raise the OCPPError of the first schema failure of ``message`` (its payload may be
    re-parsed with Decimals, as the library does)."""
    action = str(message.action)
    decimals = action in (_DECIMAL_CALLS if isinstance(message, Call) else _DECIMAL_RESULTS)
    try:
        if decimals:
            validator = get_validator(message.message_type_id, action, OCPP_VERSION, parse_float=decimal.Decimal)
            message.payload = json.loads(json.dumps(message.payload), parse_float=decimal.Decimal)
        else:
            validator = get_validator(message.message_type_id, action, OCPP_VERSION)
            if _valid(validator, message.payload):
                return
    except (OSError, json.JSONDecodeError):
        raise OcppNotImplementedError(details={"cause": f"Failed to validate action: {action}"}) from None
    failure: SchemaFailure | None = next(iter(validator.iter_errors(message.payload)), None)
    if failure is not None:  # the first failure, as jsonschema's validate() raises it
        raise _library_error(failure, message)


def _library_error(e: SchemaFailure, message: Call | CallResult) -> OCPPError:
    if e.validator in ("type", "maxLength"):
        return TypeConstraintViolationError(details={"cause": e.message, "ocpp_message": message})
    if e.validator == "additionalProperties":
        return FormatViolationError(details={"cause": e.message, "ocpp_message": message})
    if e.validator == "required":
        return ProtocolError(details={"cause": e.message})
    return FormatViolationError(details={
        "cause": f"Payload '{message.payload}' for action '{message.action}' is not valid: {e}",
        "ocpp_message": message,
    })
