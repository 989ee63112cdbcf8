"""One vocabulary for "this field is wrong": every (field, message) error is a FieldError."""

from __future__ import annotations

import pytest

from backends.modbus import ConfigError as MeterConfigError
from chargepoint.config import ConfigError, load_config
from chargepoint.csms.behaviour import BehaviourError
from chargepoint.energy.settings import SettingsError
from chargepoint.errors import FieldError
from chargepoint.ocpp.auth import AuthInputError
from chargepoint.smartcharging.model import ProfileError
from scenarios.loader import ScenarioError
from scenarios.trace import TraceError


def test_field_error_is_a_value_error_naming_the_field():
    exc = FieldError("max_mains_a", "must be between 10 and 200")
    assert isinstance(exc, ValueError)
    assert (exc.field, exc.message) == ("max_mains_a", "must be between 10 and 200")
    assert str(exc) == "max_mains_a: must be between 10 and 200"


@pytest.mark.parametrize("cls", [SettingsError, ProfileError, AuthInputError, BehaviourError])
def test_plain_subclasses(cls):
    exc = cls("a.b[1]", "is wrong")
    assert isinstance(exc, FieldError)
    assert (exc.field, exc.message, str(exc)) == ("a.b[1]", "is wrong", "a.b[1]: is wrong")
    with pytest.raises(FieldError, match=r"^a\.b\[1\]: is wrong$"):
        raise exc


def test_scenario_errors_put_file_and_line_in_front():
    for cls in (ScenarioError, TraceError):
        exc = cls("day.yaml", 12, "steps[3].at", "must be >= 0")
        assert isinstance(exc, FieldError)
        assert (exc.file, exc.line, exc.field, exc.message) == ("day.yaml", 12, "steps[3].at", "must be >= 0")
        assert str(exc) == "day.yaml:12: steps[3].at: must be >= 0"


def test_meter_config_error_keeps_its_wording():
    exc = MeterConfigError("address", "must be 1..247")
    assert isinstance(exc, FieldError)
    assert (exc.field, exc.message) == ("address", "must be 1..247")
    assert str(exc) == "modbus meter option 'address': must be 1..247"


def test_config_error_names_key_value_and_origin(tmp_path):
    exc = ConfigError("http.listen", "must be HOST:PORT", value="'x'", note="from env CHARGEPOINT_HTTP_LISTEN")
    assert (exc.field, exc.message) == ("http.listen", "must be HOST:PORT")
    assert str(exc) == "http.listen = 'x' (from env CHARGEPOINT_HTTP_LISTEN): must be HOST:PORT"
    assert str(ConfigError("backend.serial", "needs a port")) == "backend.serial: needs a port"
    path = tmp_path / "c.toml"
    path.write_text("[controller]\nmax_current_a = 'lots'\n")
    with pytest.raises(FieldError) as info:
        load_config(path, env={})
    assert isinstance(info.value, ConfigError)
    assert info.value.field == "controller.max_current_a"
    assert str(info.value).startswith(f"controller.max_current_a = 'lots' (from {path}): ")
