"""The energy manager's Baseload against a mains reading taken before the latest change reached the
wire (pure): with the TotalCurrent of the reading's own instant (what the RS485 master knows was on
the wire) the sum stays within the headroom; against the currents offered now it would overshoot."""

from __future__ import annotations

from chargepoint.controller.types import Fault, SubState
from chargepoint.energy import EnergyManager, EnergySettings, EvStatus, Mode, ev_status_from_snapshot
from tests.ocpp.rules_fixtures import snap

SETTINGS = EnergySettings(mode=Mode.SMART, max_mains_a=25, max_circuit_a=48, max_current_a=16)
BASE_A = 2.0


def _second_ev_joins(charging_a: float | None) -> float:
    """EV 1 alone at 16 A; EV 2 joins (23 A shared: 11.5 + 11.5).  The next mains reading was taken
    before EV 2 was granted C: it shows only EV 1's 11.5 A on top of the base load."""
    em = EnergyManager(SETTINGS, now=0.0)
    one = [EvStatus(1, True, True, offered_a=16, cap_a=16), EvStatus(2, False, False, cap_a=16)]
    t = 0.0
    for _ in range(10):
        t += 2.0
        em.feed_mains(t, BASE_A + 16, BASE_A + 16, BASE_A + 16, charging_a=16.0 if charging_a is not None else None)
        em.step(t, one)
    t += 2.0
    joined = em.step(t, [EvStatus(1, True, True, offered_a=16, cap_a=16), EvStatus(2, True, True, offered_a=6, cap_a=16)])
    assert joined.connectors[1].allocated_a == 11.5 and joined.connectors[2].allocated_a == 11.5
    t += 2.0
    em.feed_mains(t, BASE_A + 11.5, BASE_A + 11.5, BASE_A + 11.5, charging_a=charging_a)  # EV 2 not drawing yet
    d = em.step(t, [EvStatus(1, True, True, offered_a=11.5, cap_a=16), EvStatus(2, True, True, offered_a=11.5, cap_a=16)])
    return sum(c.allocated_a or 0.0 for c in d.connectors.values())


def test_baseload_of_the_readings_instant_keeps_the_sum_within_the_headroom():
    assert _second_ev_joins(charging_a=11.5) <= 25 - BASE_A
    # without it, the reading looks like 11.5 A of headroom and the Smart loop hands a quarter of it out
    assert _second_ev_joins(charging_a=None) > 25 - BASE_A


def test_a_faulted_connector_is_not_charging_for_the_energy_manager():
    """An RS485 node gone silent stays in C2 in the controller (follower mode) but is faulted: its
    current must not be counted nor re-distributed as if it were still drawing."""
    ok = ev_status_from_snapshot(snap(SubState.C2), max_current_a=16)
    silent = ev_status_from_snapshot(snap(SubState.C2, faults=frozenset({Fault.BOARD})), max_current_a=16)
    assert ok.charging and silent.connected and not silent.charging
