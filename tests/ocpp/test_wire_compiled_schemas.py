"""The compiled-schema fast path of ocpp/wire.py agrees with jsonschema's verdict and error mapping."""

from __future__ import annotations

import pytest

from chargepoint.ocpp.library import (
    Call,
    CallResult,
    FormatViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from chargepoint.ocpp.wire import validate_message

MV = {"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": "2026-12-06T21:00:00.000Z", "sampledValue": [
    {"value": "1234.5", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}


def test_valid_messages_pass() -> None:
    validate_message(Call("1", "MeterValues", MV))
    validate_message(Call("2", "Heartbeat", {}))
    validate_message(CallResult("3", {"currentTime": "2026-12-06T21:00:00Z"}, action="Heartbeat"))


def test_format_the_compiled_check_refuses_is_still_decided_by_jsonschema() -> None:
    # jsonschema (no format checker) accepts a free-text date-time; the compiled check alone would not
    validate_message(CallResult("1", {"currentTime": "yesterday"}, action="Heartbeat"))


@pytest.mark.parametrize(("payload", "error"), [
    ({**MV, "connectorId": True}, TypeConstraintViolationError),
    ({**MV, "connectorId": 1.0}, TypeConstraintViolationError),
    ({**MV, "unknown": 1}, FormatViolationError),
    ({"connectorId": 1}, ProtocolError),
    ({**MV, "meterValue": [{"timestamp": "2026-12-06T21:00:00Z", "sampledValue": [{"value": "1", "unit": "kWhh"}]}]},
     FormatViolationError),
])
def test_invalid_messages_get_the_library_error(payload: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_message(Call("1", "MeterValues", payload))
