"""The grid relay (German EnWG §14a): while the grid operator's relay asks to limit, all connectors
together draw at most ``GridRelayMaxSumMains`` (18 A summed over the phases, ~4.2 kW) -- in every
mode, Normal included (smartevse.md §3.5, §5.4 guard rails: ``<= GridRelayMaxSumMains x 10 / phases``).

Pure: applied to an :class:`EnergyDecision` after the regular balancing, as one more named limit
(``grid_relay``), so the binding limit of each connector is still named.  The budget goes to the
connectors in the order they started charging (the first keeps charging), each at most its current
share and at least MinCurrent; a connector that no longer fits at MinCurrent gets 0 A (paused by the
controller through C1/B1; an EV that is not charging yet does not start).

The firmware's input is the switch input configured as "Grid relay"; it limits while the contact is
*open* (the reference).  The HAL event therefore carries the meaning (``limiting``), and each
backend maps its contact polarity.
"""

from __future__ import annotations

from dataclasses import replace

from chargepoint.controller.limits import Limit
from chargepoint.energy.types import ConnectorDecision, EnergyDecision, EvStatus

GRID_RELAY = Limit.GRID_RELAY


def apply_grid_relay(decision: EnergyDecision, statuses: list[EvStatus], *, phases: dict[int, int],
                     order: list[int], max_sum_a: int, min_current_a: int) -> EnergyDecision:
    """``decision`` with the ``grid_relay`` limit set on every connected connector.

    ``phases``: the phases each connector uses; ``order``: connector ids, first-started first;
    ``max_sum_a``: GridRelayMaxSumMains (A summed over the phases)."""
    budget_da = max_sum_a * 10
    min_da = min_current_a * 10
    connected = {s.connector: s for s in statuses if s.connected}
    ranked = [n for n in order if n in connected] + sorted(n for n in connected if n not in order)
    out: dict[int, ConnectorDecision] = dict(decision.connectors)
    notes: list[str] = []
    for n in ranked:
        dec = out.get(n)
        if dec is None:
            continue
        p = phases.get(n, dec.phases)
        wanted = _da(dec.allocated_a) if dec.allocated_a is not None else _da(connected[n].cap_a)
        share = min(wanted, budget_da // p)
        if share < min_da:
            share = 0
        budget_da -= share * p
        limits = dict(dec.limits)
        limits[GRID_RELAY] = share / 10.0
        if dec.allocated_a is None or share / 10.0 < dec.allocated_a or share == 0:
            out[n] = replace(dec, limits=limits, allocated_a=share / 10.0, binding=GRID_RELAY,
                             reason=f"grid relay: {max_sum_a} A over all phases"
                                    + ("" if share else " used by others"))
            notes.append(f"c{n}: grid relay {share / 10.0:g} A x {p}P")
        else:
            out[n] = replace(dec, limits=limits)
    explanation = decision.explanation + (f"; grid relay limiting to {max_sum_a} A summed"
                                          + (": " + ", ".join(notes) if notes else ""))
    return replace(decision, connectors=out, explanation=explanation)


def _da(amps: float) -> int:
    return max(0, int(amps * 10 + 1e-6))
