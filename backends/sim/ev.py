"""The simulated electric vehicle: plug state, S2 switch (9 V / 6 V), battery and charge current."""

from __future__ import annotations

from dataclasses import dataclass

from hal.types import PilotLevel

TAPER_START_SOC = 80.0
TAPER_END_FRACTION = 0.10  # at 100 % SoC the EV draws 10 % of its maximum


@dataclass(slots=True)
class EvModel:
    plugged: bool = False
    cable_a: float = 32.0
    charging: bool = True  # the driver/EV wants energy
    max_current_a: float = 32.0
    phases: int = 3
    soc: float = 50.0  # percent
    capacity_kwh: float = 60.0
    has_diode: bool = True
    level: PilotLevel = PilotLevel.V9  # S2 open = 9 V, closed = 6 V (only meaningful while plugged)
    draw_a: float = 0.0  # current per phase actually drawn
    #: asleep: the EV does not answer PWM (stays at 9 V) until the pilot goes to -12 V or 0 V -- the
    #: activation pulse (ACTSTART), state F or a re-plug wakes it, as it wakes a real sleeping EV
    asleep: bool = False

    @property
    def full(self) -> bool:
        return self.soc >= 100.0 - 1e-9

    def wants_energy(self) -> bool:
        return self.plugged and self.charging and not self.full

    def taper_limit_a(self) -> float:
        """Linear taper above 80 % SoC down to 10 % of max current at 100 %."""
        if self.soc <= TAPER_START_SOC:
            return self.max_current_a
        frac = 1.0 - (1.0 - TAPER_END_FRACTION) * (min(self.soc, 100.0) - TAPER_START_SOC) / (
            100.0 - TAPER_START_SOC
        )
        return round(self.max_current_a * frac, 1)

    def add_energy_wh(self, wh: float) -> None:
        if self.capacity_kwh > 0:
            self.soc = min(100.0, self.soc + wh / (self.capacity_kwh * 10.0))
