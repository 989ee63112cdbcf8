"""OCPP charge-point tests.  The schema-validation plugin (tests/ocpp_schema/plugin.py) is active for
every test of the suite (tests/conftest.py): every frame the charge point sends is validated."""
