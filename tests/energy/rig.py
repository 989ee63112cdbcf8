"""Test helper: drives an EnergyManager every 2 s with explicit mains readings and connector states."""

from __future__ import annotations

from dataclasses import replace

from chargepoint.energy import EnergyDecision, EnergyManager, EnergySettings, EvStatus


class Rig:
    """One or more connectors; ``step()`` advances 2 s (or ``dt``), feeds the given mains reading first."""

    def __init__(self, settings: EnergySettings, connectors: int = 1, cap_a: float = 32.0, phases: int = 3,
                 t0: float = 0.0) -> None:
        self.em = EnergyManager(settings, now=t0)
        self.t = t0
        self.ev = {n: EvStatus(n, connected=False, charging=False, phases=phases, cap_a=cap_a)
                   for n in range(1, connectors + 1)}
        self.decision: EnergyDecision | None = None

    def set(self, n: int = 1, **changes: object) -> None:
        self.ev[n] = replace(self.ev[n], **changes)

    def plug(self, n: int = 1) -> None:
        self.set(n, connected=True, charging=False, offered_a=0.0)

    def charge(self, n: int = 1, offered_a: float | None = None) -> None:
        """Connector n is in state C, offered what the last decision allowed (or ``offered_a``)."""
        if offered_a is None:
            offered_a = self.limit(n) or self.ev[n].cap_a
        self.set(n, connected=True, charging=True, offered_a=offered_a)

    def limit(self, n: int = 1) -> float | None:
        assert self.decision is not None
        return self.decision.connectors[n].limit()

    def step(self, mains: tuple[float, float, float] | None = None, dt: float = 2.0,
             battery: float | None = None) -> EnergyDecision:
        if self.decision is not None:
            self.t += dt
        if mains is not None:
            self.em.feed_mains(self.t, *mains)
        if battery is not None:
            self.em.feed_battery(self.t, battery)
        self.decision = self.em.step(self.t, list(self.ev.values()))
        return self.decision

    def follow(self, base: tuple[float, float, float], n: int = 1) -> EnergyDecision:
        """Closed loop for one 3-phase EV that draws what was offered: mains = base + offered."""
        offered = self.ev[n].offered_a if self.ev[n].charging else 0.0
        return self.step(tuple(b + offered for b in base))  # type: ignore[arg-type]
