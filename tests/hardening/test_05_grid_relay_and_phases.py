"""Issue 12, point 5 (part): the grid relay (EnWG §14a) limits all connectors together to
GridRelayMaxSumMains (18 A summed over the phases) in every mode, the first-started EV keeping its
share; a manual 1-/3-phase request is refused without C2."""

from __future__ import annotations

import pytest

from chargepoint.energy import EnableC2, EnergyManager, EnergySettings, EvStatus, Mode


def _ev(n, charging=True):
    return EvStatus(n, connected=True, charging=charging, phases=3, offered_a=16, cap_a=16)


def test_grid_relay_limits_one_three_phase_ev_to_6_a_in_normal_mode():
    em = EnergyManager(EnergySettings(mode=Mode.NORMAL))
    d = em.step(0.0, [_ev(1)])
    assert d.connectors[1].limit() is None
    em.feed_grid_relay(1.0, True)
    d = em.step(2.0, [_ev(1)])
    assert d.connectors[1].limits["grid_relay"] == 6.0 and d.connectors[1].binding == "grid_relay"
    assert any(c.name == "grid_relay" and c.amps == 6.0 for c in d.commands(None))
    em.feed_grid_relay(3.0, False)
    d = em.step(4.0, [_ev(1)])
    assert d.connectors[1].limits["grid_relay"] is None


def test_grid_relay_budget_goes_to_the_first_ev_the_second_pauses():
    em = EnergyManager(EnergySettings(mode=Mode.NORMAL, max_circuit_a=32))
    em.step(0.0, [_ev(1), _ev(2, charging=False)])
    em.step(2.0, [_ev(1), _ev(2)])
    em.feed_grid_relay(3.0, True)
    d = em.step(4.0, [_ev(1), _ev(2)])
    assert d.connectors[1].limits["grid_relay"] == 6.0
    assert d.connectors[2].limits["grid_relay"] == 0.0  # below MinCurrent: the controller pauses it
    total = sum((d.connectors[n].limit() or 0) * 3 for n in (1, 2))
    assert total <= 18.0


def test_manual_phase_request_needs_c2():
    em = EnergyManager(EnergySettings(mode=Mode.SMART, enable_c2=EnableC2.NOT_PRESENT))
    with pytest.raises(ValueError, match="phases"):
        em.request_phases(1)
    em = EnergyManager(EnergySettings(mode=Mode.NORMAL, enable_c2=EnableC2.ALWAYS_ON))
    em.request_phases(1)
    d = em.step(0.0, [_ev(1, charging=False)])
    assert d.connectors[1].phases == 1
    with pytest.raises(ValueError, match="phases"):
        em.request_phases(2)
