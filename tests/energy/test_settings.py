import pytest

from chargepoint.energy import EnableC2, EnergySettings, Mode, SettingsError


def test_defaults_are_the_firmwares():
    s = EnergySettings()
    assert (s.mode, s.max_mains_a, s.max_circuit_a, s.max_sum_mains_a, s.max_sum_mains_time_min) == (
        Mode.NORMAL, 25, 16, 0, 0)
    assert (s.start_current_a, s.stop_time_min, s.import_current_a) == (4, 10, 0)
    assert (s.min_current_a, s.max_current_a, s.enable_c2) == (6, 13, EnableC2.ALWAYS_ON)
    assert s.validate() is s


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("max_mains_a", 10, 200), ("max_circuit_a", 10, 160), ("max_sum_mains_time_min", 0, 60),
     ("start_current_a", 0, 48), ("stop_time_min", 0, 60), ("import_current_a", 0, 48),
     ("min_current_a", 6, 16), ("max_current_a", 6, 80)],
)
def test_ranges_are_enforced_and_name_the_field(field, low, high):
    base = EnergySettings(max_current_a=16, min_current_a=6)
    if field == "min_current_a":
        base = EnergySettings(max_current_a=80)
    base.updated({field: low})
    base.updated({field: high})
    for bad in (low - 1, high + 1):
        with pytest.raises(SettingsError) as err:
            base.updated({field: bad})
        assert err.value.field == field
        assert field in str(err.value)


def test_max_sum_mains_is_zero_or_10_to_600():
    s = EnergySettings()
    assert s.updated({"max_sum_mains_a": 0}).max_sum_mains_a == 0
    assert s.updated({"max_sum_mains_a": 10}).max_sum_mains_a == 10
    assert s.updated({"max_sum_mains_a": 600}).max_sum_mains_a == 600
    for bad in (5, 601, -1):
        with pytest.raises(SettingsError, match="max_sum_mains_a"):
            s.updated({"max_sum_mains_a": bad})


def test_min_above_max_is_refused():
    with pytest.raises(SettingsError, match="min_current_a"):
        EnergySettings(min_current_a=16, max_current_a=10).validate()


def test_updated_parses_strings_and_refuses_garbage():
    s = EnergySettings().updated({"mode": "SOLAR", "enable_c2": "auto", "max_mains_a": "40",
                                  "baseload_ev": "false"})
    assert (s.mode, s.enable_c2, s.max_mains_a, s.baseload_ev) == (Mode.SOLAR, EnableC2.AUTO, 40, False)
    for key, value in [("mode", "turbo"), ("enable_c2", "sometimes"), ("max_mains_a", "lots"),
                       ("max_mains_a", 25.5), ("max_mains_a", float("nan")), ("baseload_ev", "maybe"),
                       ("max_mains_a", True), ("colour", 1)]:
        with pytest.raises(SettingsError) as err:
            s.updated({key: value})
        assert err.value.field == key


def test_wrong_types_in_the_dataclass_are_refused():
    with pytest.raises(SettingsError, match="mode"):
        EnergySettings(mode="smart").validate()  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="max_mains_a"):
        EnergySettings(max_mains_a="25").validate()  # type: ignore[arg-type]
