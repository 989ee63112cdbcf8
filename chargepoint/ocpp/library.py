"""The one module that imports the ``ocpp`` library: its *public* API that we build on.

Everything else in ``chargepoint.ocpp`` imports these names from here.  The library ships no type
information, so ``library.pyi`` next to this file declares what we use of it (mypy reads the stub
instead of this file); ``tests/ocpp/test_library_contract.py`` checks that stub, and the library
behaviour we rely on, against the installed library -- an upgrade that changes any of it fails there.

No private name of the library is used (no overridden ``ChargePoint._handle_call``,
``_get_specific_response``, ``_response_queue``, no ``messages._validate_payload``): the session
(``session.py``) dispatches CALLs and matches responses itself.
"""

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    InternalError,
    NotSupportedError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
    UnknownCallErrorCodeError,
)
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator, unpack, validate_payload
from ocpp.routing import create_route_map, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

OCPP_VERSION = "1.6"

__all__ = [
    "OCPP_VERSION", "Action", "Call", "CallError", "CallResult", "FormatViolationError", "FormationViolationError",
    "InternalError", "MessageType", "NotSupportedError", "OCPPError", "OcppNotImplementedError",
    "PropertyConstraintViolationError", "ProtocolError", "TypeConstraintViolationError",
    "UnknownCallErrorCodeError", "call_result", "camel_to_snake_case", "create_route_map", "get_validator", "on",
    "remove_nones", "serialize_as_dict", "snake_to_camel_case", "unpack", "validate_payload",
]
