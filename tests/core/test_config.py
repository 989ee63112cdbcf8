"""Configuration: layering and errors that name key, value and origin."""

import pytest

from chargepoint.config import ConfigError, load_config


def test_defaults_are_valid():
    cfg = load_config(env={})
    assert cfg.backend.name == "sim"
    assert cfg.controller.max_current_a == 16.0
    assert cfg.http.listen == "127.0.0.1:8080"


def test_layers_file_then_env_then_flags(tmp_path):
    f = tmp_path / "cp.toml"
    f.write_text('[controller]\nmax_current_a = 20\n[backend]\nconnectors = 2\n[chargepoint]\nid = "file"\n')
    cfg = load_config(f, env={"CHARGEPOINT_CONTROLLER_MAX_CURRENT_A": "25"}, overrides={"chargepoint.id": "flag"})
    assert cfg.controller.max_current_a == 25.0
    assert cfg.backend.connectors == 2
    assert cfg.chargepoint.id == "flag"


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[controller]\nmax_current_a = 95\n", {}, "controller.max_current_a = 95"),
        ("[controller]\nmax_current_a = 'x'\n", {}, "must be a number"),
        ("[backend]\nconnectors = 0\n", {}, "backend.connectors"),
        ("[nope]\na = 1\n", {}, "[nope]"),
        ("[ocpp]\nwhat = 1\n", {}, "ocpp.what"),
        ("", {"CHARGEPOINT_BACKEND_HAS_LOCK": "maybe"}, "CHARGEPOINT_BACKEND_HAS_LOCK"),
        ("[ocpp]\ncsms_url = 'http://x'\n", {}, "ocpp.csms_url"),
        ("[ocpp]\nsecurity_profile = 1\ncsms_url='ws://x/ocpp'\n", {}, "ocpp.password"),
        ("[controller]\nmin_current_a = 16\nmax_current_a = 10\n", {}, "controller.min_current_a"),
        ("[backend]\nname = 'smartevse'\n", {}, "backend.serial"),
        ("[http]\nlisten = 'localhost'\n", {}, "http.listen"),
        ("[log]\nformat = 'xml'\n", {}, "log.format"),
        ("this is not toml", {}, "cp.toml"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, env, needle):
    f = tmp_path / "cp.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f, env=env)
    assert needle in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file"):
        load_config(tmp_path / "missing.toml", env={})
