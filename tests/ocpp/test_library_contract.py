"""The ``ocpp`` library surface we build on (chargepoint/ocpp/library.py + library.pyi) against the
installed library: an upgrade that renames, re-signs or changes any of it fails here, not in the field.

We use public names only (no overridden private ``ChargePoint`` methods); these tests check that the
typed stub tells the truth, and exercise the behaviour the session relies on."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import decimal
import inspect
from pathlib import Path

import pytest

from chargepoint.ocpp import library
from chargepoint.ocpp.wire import error_of, validate_message

STUB = Path(library.__file__).with_suffix(".pyi")
TREE = ast.parse(STUB.read_text())


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = fn.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg != "self"]


def _runtime_params(obj: object) -> list[str]:
    return [p for p in inspect.signature(obj).parameters if p != "self"]  # type: ignore[arg-type]


def _top(kind: type) -> list:
    return [n for n in TREE.body if isinstance(n, kind)]


def test_every_stub_function_exists_with_the_same_parameters():
    functions = _top(ast.FunctionDef) + _top(ast.AsyncFunctionDef)
    assert {f.name for f in functions} >= {"on", "create_route_map", "unpack", "validate_payload", "get_validator"}
    for fn in functions:
        real = getattr(library, fn.name)
        assert _runtime_params(real) == _params(fn), fn.name
        assert inspect.iscoroutinefunction(real) == isinstance(fn, ast.AsyncFunctionDef), fn.name


def test_every_stub_class_exists_with_its_methods():
    for cls in _top(ast.ClassDef):
        if cls.name.startswith("_") or cls.name in ("call_result", "Action"):
            continue
        real = getattr(library, cls.name)
        assert inspect.isclass(real), cls.name
        for item in cls.body:
            if isinstance(item, ast.FunctionDef):
                assert _runtime_params(getattr(real, item.name)) == _params(item), f"{cls.name}.{item.name}"
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and cls.name == "MessageType":
                assert isinstance(getattr(real, item.target.id), int)


def test_error_classes_are_ocpp_errors_with_their_ocpp_j_codes():
    codes = {"FormatViolationError": "FormatViolation", "FormationViolationError": "FormationViolation",
             "InternalError": "InternalError", "NotSupportedError": "NotSupported",
             "OcppNotImplementedError": "NotImplemented", "ProtocolError": "ProtocolError",
             "PropertyConstraintViolationError": "PropertyConstraintViolation",
             "TypeConstraintViolationError": "TypeConstraintViolation"}
    for name, code in codes.items():
        cls = getattr(library, name)
        assert issubclass(cls, library.OCPPError) and cls.code == code
        err = cls(description="d")
        assert (err.description, err.details) == ("d", {})


def test_action_values_and_result_classes():
    action = next(c for c in _top(ast.ClassDef) if c.name == "Action")
    for item in action.body:
        if isinstance(item, ast.Assign):
            name = item.targets[0].id  # type: ignore[attr-defined]
            assert getattr(library.Action, name).value == item.value.value  # type: ignore[attr-defined]
    results = next(c for c in _top(ast.ClassDef) if c.name == "call_result")
    for item in results.body:
        assert isinstance(item, ast.ClassDef)
        assert dataclasses.is_dataclass(getattr(library.call_result, item.name)), item.name


# -- behaviour the session relies on -------------------------------------------------------------------
class _Handlers:
    @library.on(library.Action.reset)
    async def on_reset(self, type: str, **_: object) -> object:
        return library.call_result.Reset(status="Accepted")

    @library.on(library.Action.trigger_message, skip_schema_validation=True)
    def on_trigger(self, **_: object) -> object:
        return library.call_result.TriggerMessage(status="Accepted")


def test_route_map_shape():
    routes = library.create_route_map(_Handlers())
    assert routes["Reset"]["_skip_schema_validation"] is False
    assert routes["TriggerMessage"]["_skip_schema_validation"] is True
    result = asyncio.run(routes["Reset"]["_on_action"](type="Soft"))
    payload = library.snake_to_camel_case(library.remove_nones(library.serialize_as_dict(result)))
    assert payload == {"status": "Accepted"}


def test_unpack_and_call_error_round_trip():
    call = library.unpack('[2,"u1","Reset",{"type":"Soft"}]')
    assert isinstance(call, library.Call) and (call.unique_id, call.action, call.payload) == ("u1", "Reset", {"type": "Soft"})
    assert library.camel_to_snake_case({"connectorId": 1, "csChargingProfiles": {}}) == {
        "connector_id": 1, "cs_charging_profiles": {}}
    err = library.unpack('[4,"u1","NotSupported","nope",{"a":1}]')
    assert isinstance(err, library.CallError)
    assert (err.error_code, err.error_description, err.error_details) == ("NotSupported", "nope", {"a": 1})
    ours = error_of(err)
    assert isinstance(ours, library.NotSupportedError) and (ours.description, ours.details) == ("nope", {"a": 1})
    assert isinstance(error_of(library.CallError("u", "FormationViolation", "", {})), library.FormationViolationError)
    bogus = error_of(library.CallError("u", "Bogus", "", {}))
    assert isinstance(bogus, library.ProtocolError) and "Bogus" in bogus.description
    res = library.unpack('[3,"u2",{"status":"Accepted"}]')
    assert isinstance(res, library.CallResult) and res.payload == {"status": "Accepted"}
    with pytest.raises(library.OCPPError):
        library.unpack("not json")


def test_incoming_validation_maps_errors_and_parses_decimals():
    async def check(action: str, payload: dict) -> library.Call:
        msg = library.Call("u", action, payload)
        await library.validate_payload(msg, library.OCPP_VERSION)
        return msg

    with pytest.raises(library.TypeConstraintViolationError):
        asyncio.run(check("Reset", {"type": 1}))
    with pytest.raises(library.FormatViolationError):
        asyncio.run(check("Reset", {"type": "Soft", "extra": 1}))
    with pytest.raises(library.ProtocolError):
        asyncio.run(check("Reset", {}))
    profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute", "chargingSchedule": {
                   "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.1}]}}
    msg = asyncio.run(check("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}))
    limit = msg.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
    assert isinstance(limit, decimal.Decimal)


def test_our_synchronous_validation_maps_like_the_library():
    """wire.validate_message (on the public get_validator) gives the library's error for each kind."""
    cases = [({"type": 1}, library.TypeConstraintViolationError), ({"type": "Soft", "x": 1}, library.FormatViolationError),
             ({}, library.ProtocolError), ({"type": "Later"}, library.FormatViolationError)]
    for payload, error in cases:
        ours = theirs = None
        try:
            validate_message(library.Call("u", "Reset", payload))
        except library.OCPPError as e:
            ours = e
        try:
            asyncio.run(library.validate_payload(library.Call("u", "Reset", payload), library.OCPP_VERSION))
        except library.OCPPError as e:
            theirs = e
        assert type(ours) is type(theirs) is error, payload
        assert ours is not None and theirs is not None and ours.details["cause"] == theirs.details["cause"]
    validate_message(library.Call("u", "Reset", {"type": "Hard"}))
    with pytest.raises(library.OcppNotImplementedError):
        validate_message(library.Call("u", "NoSuchAction", {}))
