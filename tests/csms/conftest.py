"""Every CSMS test validates what its charge point sends with the independent schema validator."""

import pytest

from tests.ocpp_schema.plugin import (  # noqa: F401 - fixtures and hook used by pytest
    ocpp_schema_check,
    ocpp_schema_validator,
    pytest_runtest_call,
)


@pytest.fixture(autouse=True)
def _schema_checked(request):
    request.getfixturevalue("ocpp_schema_check")
