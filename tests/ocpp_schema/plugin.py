"""pytest plugin: validate every frame a charge point sends to the test CSMS against the official
OCPP 1.6 JSON schemas (node + ocpp-rpc, see validator.py).

Use it by loading the plugin (``pytest_plugins = ["tests.ocpp_schema.plugin"]`` in the top-level
conftest, or importing its fixtures and hook into a directory's conftest) and requesting the
``ocpp_schema_check`` fixture (directly, via ``usefixtures``, or from an autouse fixture).

While the fixture is active, every :class:`chargepoint.csms.TestCsms` created in the test is hooked:
each CP->CSMS CALL and each CALLRESULT the charge point sends is validated, and any error fails the
test that produced it (in its call phase, after the test body).  A test that sends bad frames on
purpose takes them with ``ocpp_schema_check.take_errors()``.

Without node or the npm package the fixture FAILS when ``CI`` is set (true/1/yes) and skips locally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chargepoint.csms import TestCsms
from chargepoint.csms.frame_check import FrameCheck
from tests.ocpp_schema.validator import SchemaValidator, SchemaValidatorUnavailable, unavailable_reason

_CHECK_KEY = pytest.StashKey["SchemaCheck"]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"OCPP schema validator unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"OCPP schema validator unavailable: {reason}")


class SchemaCheck(FrameCheck):
    """Collects schema errors of the frames charge points send to hooked CSMS instances: every frame,
    counted per charge point (``checked_by_cp``) and per kind (``checked_by_action``)."""

    def __init__(self, validator: SchemaValidator, check_callerrors: bool = False) -> None:
        super().__init__(validator.validate, check_callerrors=check_callerrors)
        self.validator = validator

    def attach(self, csms: TestCsms) -> None:
        if self.on_frame not in csms.frame_log.listeners:
            csms.frame_log.listeners.append(self.on_frame)


@pytest.fixture(scope="session")
def ocpp_schema_validator() -> Iterator[SchemaValidator]:
    reason = unavailable_reason()
    if reason is not None:
        _unavailable(reason)
    try:
        validator = SchemaValidator()
    except SchemaValidatorUnavailable as exc:
        _unavailable(str(exc))
        raise  # unreachable: _unavailable raises
    try:
        yield validator
    finally:
        validator.close()


@pytest.fixture
def ocpp_schema_check(request: pytest.FixtureRequest, ocpp_schema_validator: SchemaValidator) -> Iterator[SchemaCheck]:
    check = SchemaCheck(ocpp_schema_validator)
    TestCsms.instance_hooks.append(check.attach)
    request.node.stash[_CHECK_KEY] = check
    try:
        yield check
    finally:
        TestCsms.instance_hooks.remove(check.attach)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    check = item.stash.get(_CHECK_KEY, None)
    if check is not None and check.errors:
        errors = check.take_errors()
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        pytest.fail(f"{len(errors)} OCPP 1.6 schema error(s) in frames the charge point sent:\n  {shown}{more}",
                    pytrace=False)
    return result
