"""What one fleet member is made of (:class:`CpSpec`) and how it behaves (:class:`Behaviour`).

Both are plain values; the template (template.py) turns a TOML/YAML file into one CpSpec per
charge point, the behaviour engine (behaviour.py) acts on the Behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EvType:
    """One kind of EV of the mix; ``weight`` is its relative share."""

    phases: int = 3
    max_current_a: float = 16.0
    capacity_kwh: float = 60.0
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What happens at a charge point over time.  Rates are per charge point."""

    #: Poisson arrivals per hour per connector (0 = none); ignored when ``schedule`` is given
    arrivals_per_hour: float = 0.0
    #: fixed arrival times, seconds after the member booted (repeats every ``schedule_repeat_s`` if > 0)
    schedule: tuple[float, ...] = ()
    schedule_repeat_s: float = 0.0
    #: session length (plug-in to unplug), uniform in [min, max] seconds
    session_s: tuple[float, float] = (1800.0, 7200.0)
    #: energy the EV wants, uniform in [min, max] kWh (the EV stops drawing when it has it)
    energy_kwh: tuple[float, float] = (5.0, 30.0)
    ev_mix: tuple[EvType, ...] = (EvType(),)
    #: idTags presented at plug-in (chosen at random); () = the member's own "{id}-TAG"
    rfid_tags: tuple[str, ...] = ()
    #: faults per hour per charge point (0 = none), kinds chosen at random, each lasting fault_s
    faults_per_hour: float = 0.0
    fault_kinds: tuple[str, ...] = ("rcd",)
    fault_s: float = 60.0
    #: charge points charging from the start (plugged at boot), as a fraction 0..1 of the group
    charging_at_start: float = 0.0


@dataclass(frozen=True, slots=True)
class CpSpec:
    """One charge point of the fleet."""

    cp_id: str
    n: int  # the number the id was made from
    group: str = "default"
    connectors: int = 1
    max_current_a: float = 32.0
    phases: int = 3
    security_profile: int = 0
    password: str | None = None
    ca_file: str | None = None
    vendor: str = "SmartEVSE"
    model: str = "SmartEVSE-Fleet"
    meter_interval_s: float = 10.0
    #: meter readings of a connector without an EV (an unchanged register): rarely
    idle_meter_interval_s: float = 300.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    #: initial values of OCPP configuration keys (strings, as in chargepoint run's [ocpp.config])
    config_keys: tuple[tuple[str, str], ...] = ()
    behaviour: Behaviour = field(default_factory=Behaviour)

    def sim_options(self) -> dict[str, Any]:
        """Options of the member's simulated board (backends.sim)."""
        return {"connectors": self.connectors, "max_current_a": self.max_current_a, "phases": self.phases,
                "meter_interval_s": self.meter_interval_s, "idle_meter_interval_s": self.idle_meter_interval_s,
                # the EV's SoC / taper re-evaluation at its meter readings: one wake-up per period
                "ev_update_with_meter": True}
