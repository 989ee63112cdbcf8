"""OCPP charge-point tests.  The schema-validation plugin's fixtures and hook are made available
here; test modules opt in with ``pytestmark = pytest.mark.usefixtures("ocpp_schema_check")``."""

from tests.ocpp_schema.plugin import (  # noqa: F401 - fixtures and hook used by pytest
    ocpp_schema_check,
    ocpp_schema_validator,
    pytest_runtest_call,
)
