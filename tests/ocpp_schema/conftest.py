from tests.ocpp_schema.plugin import (  # noqa: F401 - fixtures and hook used by pytest
    ocpp_schema_check,
    ocpp_schema_validator,
    pytest_runtest_call,
)
