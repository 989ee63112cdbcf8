"""The fleet template: TOML/YAML parsing, groups, per-CP settings, and errors that name the field."""

from __future__ import annotations

import pytest

from chargepoint.fleet.fleet import parse_shard, shard_numbers
from chargepoint.fleet.template import (
    TemplateError,
    load_template,
    parse_numbers,
    parse_ramp,
    template_from_dict,
)

TOML = """
[fleet]
id = "DEPOT-{n:04d}"
first = 10
count = 20
csms_url = "ws://csms:9000/ocpp"
ramp = "600/min"

[chargepoint]
connectors = 2
security_profile = 1
password = "{id}-pw"
[chargepoint.config]
HeartbeatInterval = 60
MeterValuesSampledData = ["Energy.Active.Import.Register", "Power.Active.Import"]

[behaviour]
arrivals_per_hour = 2
session_minutes = [10, 20]
ev_mix = [{phases = 1, max_current_a = 16, weight = 3}, {phases = 3, max_current_a = 32}]

[[group]]
name = "fast"
numbers = "10-14,20"
max_current_a = 16
behaviour = {charging_at_start = 1.0, rfid_tags = ["AAA"]}
"""


def test_toml_template_gives_one_spec_per_number(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(TOML)
    t = load_template(path)
    assert t.ramp_per_s == pytest.approx(10.0)
    specs = list(t.specs())
    assert [s.cp_id for s in specs][:2] == ["DEPOT-0010", "DEPOT-0011"] and len(specs) == 20
    fast = [s for s in specs if s.group == "fast"]
    assert [s.n for s in fast] == [10, 11, 12, 13, 14, 20]
    s = fast[0]
    assert s.max_current_a == 16 and s.connectors == 2 and s.security_profile == 1
    assert s.password == "DEPOT-0010-pw"
    assert dict(s.config_keys)["MeterValuesSampledData"] == "Energy.Active.Import.Register,Power.Active.Import"
    # a group's behaviour is the default behaviour with the group's fields on top
    assert s.behaviour.charging_at_start == 1.0 and s.behaviour.arrivals_per_hour == 2
    assert s.behaviour.session_s == (600.0, 1200.0) and s.behaviour.rfid_tags == ("AAA",)
    other = t.spec(15)
    assert other.group == "default" and other.max_current_a == 32 and other.behaviour.charging_at_start == 0
    assert [e.phases for e in other.behaviour.ev_mix] == [1, 3]


def test_yaml_template(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text("fleet:\n  count: 3\n  ramp: 5\nbehaviour:\n  schedule: [60, 10]\n  schedule_repeat_s: 3600\n")
    t = load_template(path)
    assert t.count == 3 and t.ramp_per_s == 5.0 and t.spec(1).behaviour.schedule == (10.0, 60.0)


@pytest.mark.parametrize(("data", "field"), [
    ({"fleet": {"count": -1}}, "fleet.count"),
    ({"fleet": {"id": "CP-{x}"}}, "fleet.id"),
    ({"fleet": {"csms_url": "http://x"}}, "fleet.csms_url"),
    ({"fleet": {"ramp": "fast"}}, "fleet.ramp"),
    ({"fleet": {"colour": 1}}, "fleet.colour"),
    ({"chargepoint": {"phases": 2}}, "chargepoint.phases"),
    ({"chargepoint": {"max_current_a": 100}}, "chargepoint.max_current_a"),
    ({"chargepoint": {"config": {"HeartbeatInterval": {"a": 1}}}}, "chargepoint.config.HeartbeatInterval"),
    ({"behaviour": {"session_minutes": [20, 10]}}, "behaviour.session_minutes"),
    ({"behaviour": {"fault_kinds": ["rcd", "lightning"]}}, "behaviour.fault_kinds[1]"),
    ({"behaviour": {"ev_mix": [{"phases": 3}, {"phases": 2}]}}, "behaviour.ev_mix[1].phases"),
    ({"behaviour": {"rfid_tags": ["X" * 21]}}, "behaviour.rfid_tags"),
    ({"group": [{"numbers": "1-5"}, {"numbers": "5-6"}]}, "group[1].numbers"),
    ({"group": [{"numbers": "5-1"}]}, "group[0].numbers"),
    ({"group": [{"behaviour": {"arrivals_per_hour": "many"}}]}, "group[0].behaviour.arrivals_per_hour"),
])
def test_errors_name_the_field(data, field):
    with pytest.raises(TemplateError) as e:
        template_from_dict(data)
    assert e.value.path == field
    assert str(e.value).startswith(field + ":")


def test_bad_file_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[fleet\ncount = 1")
    with pytest.raises(TemplateError, match="not valid TOML"):
        load_template(path)
    with pytest.raises(TemplateError, match="cannot read"):
        load_template(tmp_path / "missing.toml")


def test_ramp_numbers_and_shards():
    assert parse_ramp("100/s") == 100 and parse_ramp("60/min") == 1 and parse_ramp(0) == 0
    assert parse_numbers([1, "3-4,9"], "x") == frozenset({1, 3, 4, 9})
    numbers = range(1, 11)
    slices = [list(shard_numbers(numbers, (i, 3))) for i in range(3)]
    assert slices == [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10]]
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(TemplateError, match="--shard"):
            parse_shard(bad)
