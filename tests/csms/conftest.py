"""Every CSMS test validates what its charge point sends with the independent schema validator
(the plugin is loaded by tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _schema_checked(ocpp_schema_check):
    return ocpp_schema_check
