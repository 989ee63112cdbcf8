"""Shared test fixtures."""

# Independent OCPP 1.6 schema validation of every frame a charge point sends to a TestCsms
# (fixtures ocpp_schema_validator / ocpp_schema_check; see tests/ocpp_schema/plugin.py).
pytest_plugins = ["tests.ocpp_schema.plugin"]
