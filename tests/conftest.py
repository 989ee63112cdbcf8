"""Shared test fixtures."""

from __future__ import annotations

import os

import pytest

from tests.ocpp_schema.validator import unavailable_reason

# Independent OCPP 1.6 schema validation of every frame a charge point sends to a TestCsms
# (fixtures ocpp_schema_validator / ocpp_schema_check; see tests/ocpp_schema/plugin.py).
pytest_plugins = ["tests.ocpp_schema.plugin"]

_IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _schema_check_every_test_csms(request: pytest.FixtureRequest):
    """Every test: each CALL and CALLRESULT a charge point sends to any TestCsms is validated against
    the official OCPP 1.6 schemas by the independent (Node) validator; an invalid frame fails the
    test.  Without Node it is skipped locally and fails loudly in CI (the fixture decides)."""
    if "ocpp_schema_check" in request.fixturenames or (unavailable_reason() is not None and not _IN_CI):
        yield
        return
    request.getfixturevalue("ocpp_schema_check")
    yield
