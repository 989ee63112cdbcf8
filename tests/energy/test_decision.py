from chargepoint.controller.types import SetLimit, SetPhases
from chargepoint.energy import LIMIT_NAMES, ConnectorDecision, EnergyDecision, EnergySettings, Mode
from tests.energy.rig import Rig


def dec(**limits):
    phases = limits.pop("phases", 3)
    full = dict.fromkeys(LIMIT_NAMES) | limits
    binding = next((k for k, v in full.items() if v is not None), None)
    return EnergyDecision(now=0.0, mode="smart",
                          connectors={1: ConnectorDecision(1, full, phases, None, binding)})


def test_binding_change_sets_the_new_limit_before_clearing_the_old():
    assert dec(circuit=8.0).commands(dec(mains=10.0)) == [SetLimit(1, "circuit", 8.0), SetLimit(1, "mains", None)]


def test_lowered_before_raised_before_cleared_then_phases():
    old = dec(mains=10.0, solar=12.0, circuit=9.0)
    new = dec(mains=12.0, solar=6.0, phases=1)
    assert new.commands(old) == [SetLimit(1, "solar", 6.0), SetLimit(1, "mains", 12.0),
                                 SetLimit(1, "circuit", None), SetPhases(1, 1)]


def test_unchanged_decision_emits_nothing_and_first_emits_everything():
    assert dec(mains=10.0).commands(dec(mains=10.0)) == []
    first = dec(mains=10.0).commands()
    assert len(first) == len(LIMIT_NAMES) + 1 and first[0] == SetLimit(1, "mains", 10.0)


def test_explanation_names_the_binding_limit_and_timers():
    rig = Rig(EnergySettings(mode=Mode.SOLAR, max_mains_a=25, max_current_a=32))
    rig.plug()
    d = rig.step((-2.0, -2.0, -2.0))
    assert "solar=6 A" in d.explanation and "may start" in d.explanation
    rig.charge(offered_a=6.0)
    rig.step((5.0, 5.0, 5.0))
    rig.charge(offered_a=6.0)
    d = rig.step((5.0, 5.0, 5.0))  # import 15 A at MinCurrent: StopTime timer
    assert d.solar_stop_timer_s == 598.0  # started at the join cycle
    assert "solar stop in 598 s" in d.explanation and "shortage" in d.explanation
