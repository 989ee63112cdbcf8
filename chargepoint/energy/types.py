"""Inputs and outputs of the energy manager: the connectors' situation and the decision.

All currents are amperes per phase (A); the manager works internally in deci-amperes like the
firmware and converts at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chargepoint.controller.limits import ENERGY_LIMITS
from chargepoint.controller.types import SetLimit, SetPhases

#: The named limits the energy manager owns in the controller (``SetLimit.name``):
#: mains, circuit, sum_mains, solar, grid_relay (chargepoint.controller.limits.Limit).
LIMIT_NAMES: tuple[str, ...] = ENERGY_LIMITS


@dataclass(frozen=True, slots=True)
class EvStatus:
    """One connector's situation at a step.

    * ``charging`` -- state C (energy flowing or allowed to flow).
    * ``connected`` -- an EV is plugged (state B or C).
    * ``phases`` -- phases in use (1 or 3).
    * ``offered_a`` -- the current the controller offers now (PWM), A per phase.
    * ``drawn_a`` -- what the EV draws (highest phase of its meter), A; informational.
    * ``cap_a`` -- the non-energy cap: min of MaxCurrent, cable, hardware, OCPP, override ...; the
      balancer never allocates above it.
    """

    connector: int
    connected: bool
    charging: bool
    phases: int = 3
    offered_a: float = 0.0
    drawn_a: float = 0.0
    cap_a: float = 32.0


@dataclass(frozen=True, slots=True)
class ConnectorDecision:
    """What the energy manager wants for one connector.

    ``limits`` maps every name of :data:`LIMIT_NAMES` to a value in A per phase or None (not
    limiting / cleared).  A value below MinCurrent means pause (the controller goes C->C1->B1 or
    does not start).  ``phases`` is the requested phase count (1 or 3) for ``SetPhases``.
    """

    connector: int
    limits: dict[str, float | None]
    phases: int
    allocated_a: float | None  # the balancer's share for this connector (None: energy manager not limiting)
    binding: str | None  # the name carrying the value (None when nothing limits)
    less_6a: bool = False  # paused for lack of power (LESS_6A)
    charge_delay_s: float = 0.0  # seconds before a paused connector may restart
    reason: str = ""

    def limit(self) -> float | None:
        values = [v for v in self.limits.values() if v is not None]
        return min(values) if values else None


@dataclass(frozen=True, slots=True)
class EnergyDecision:
    """The result of one :meth:`EnergyManager.step`.

    Timers are the remaining seconds, or None when idle.  ``explanation`` is a one-line human text
    of what binds and why (for logs and the local API).
    """

    now: float
    mode: str
    connectors: dict[int, ConnectorDecision]
    stale_mains: bool = False
    shortage: bool = False
    hard_shortage: bool = False
    no_current_cycles: int = 0
    less_6a: bool = False
    iset_balanced_a: float = 0.0
    mains_a: tuple[float, float, float] | None = None  # after battery correction
    isum_a: float | None = None
    battery_a: float = 0.0  # battery current actually applied (0 outside Solar or when stale)
    solar_stop_timer_s: float | None = None
    max_sum_mains_timer_s: float | None = None
    phase_switch_timer_s: float | None = None
    explanation: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def commands(self, previous: EnergyDecision | None = None) -> list[SetLimit | SetPhases]:
        """Controller inputs that turn ``previous``'s limits into this decision's.

        Ordered so the offered current never rises in between: first every lowered or newly set
        limit, then raised ones, then clears, then SetPhases for changed phase requests.  With
        ``previous`` None everything is emitted (use it at start-up).
        """
        lower: list[SetLimit] = []
        raise_: list[SetLimit] = []
        clear: list[SetLimit] = []
        phases: list[SetPhases] = []
        for n, dec in sorted(self.connectors.items()):
            old = previous.connectors.get(n) if previous is not None else None
            for name in LIMIT_NAMES:
                new_v = dec.limits.get(name)
                old_v = old.limits.get(name) if old is not None else None
                if old is not None and new_v == old_v:
                    continue
                if new_v is None:
                    clear.append(SetLimit(n, name, None))
                elif old_v is None or new_v < old_v:
                    lower.append(SetLimit(n, name, new_v))
                else:
                    raise_.append(SetLimit(n, name, new_v))
            if old is None or old.phases != dec.phases:
                phases.append(SetPhases(n, dec.phases))
        return [*lower, *raise_, *clear, *phases]
