"""Options of the simulated board and EV (all have defaults; unknown keys are ignored)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class SimOptions:
    connectors: int = 1
    max_current_a: float = 32.0  # hardware rating of the board
    phases: int = 3
    has_lock: bool = True
    has_c2: bool = True
    fixed_cable: bool = False
    voltage_v: float = 230.0
    meter_interval_s: float = 1.0  # periodic MeterReading (plus one on every change of current)
    #: periodic MeterReading while no EV is plugged in (0 = meter_interval_s); a fleet of idle
    #: simulated chargers need not wake up every second to report an unchanged register
    idle_meter_interval_s: float = 0.0
    relay_delay_s: float = 0.03  # contactor close/open -> ContactorFeedback
    lock_pulse_s: float = 0.6  # lock actuator pulse -> LockFeedback
    ev_reaction_s: float = 2.0  # EV follows a new PWM current within this delay (IEC: <= 5 s)
    ev_request_delay_s: float = 1.0  # EV goes 9 V -> 6 V this long after PWM appears
    ev_stop_delay_s: float = 1.0  # EV stops drawing and goes 6 V -> 9 V this long after PWM is withdrawn
    ev_update_s: float = 10.0  # SoC / taper re-evaluation period while charging
    #: re-evaluate at the last periodic meter reading within ev_update_s instead (one wake-up for both)
    ev_update_with_meter: bool = False
    temperature_c: float = 30.0
    overtemp_c: float = 80.0  # temperature while the "overtemp" fault is injected
    # the EV plugged in by plug() unless set_ev() changes it
    ev_capacity_kwh: float = 60.0
    ev_soc: float = 50.0
    ev_max_current_a: float = 32.0
    ev_phases: int = 3
    #: the EV plugged in by plug() arrives asleep (ignores PWM until -12 V / 0 V on the pilot wakes it)
    ev_asleep: bool = False

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> SimOptions:
        options = dict(options or {})
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in options and options[f.name] is not None:
                default: Any = f.default
                value = options[f.name]
                try:
                    kwargs[f.name] = type(default)(value) if not isinstance(default, bool) else _bool(value)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"sim option {f.name!r}: invalid value {value!r}") from exc
        opts = cls(**kwargs)
        opts.validate()
        return opts

    def validate(self) -> None:
        if self.connectors < 1:
            raise ValueError(f"sim option 'connectors' must be >= 1, got {self.connectors}")
        if self.phases not in (1, 3):
            raise ValueError(f"sim option 'phases' must be 1 or 3, got {self.phases}")
        if self.ev_phases not in (1, 3):
            raise ValueError(f"sim option 'ev_phases' must be 1 or 3, got {self.ev_phases}")
        if not 0.0 <= self.ev_reaction_s <= 5.0:
            raise ValueError(f"sim option 'ev_reaction_s' must be within 0..5 s, got {self.ev_reaction_s}")
        if not 0.0 <= self.ev_soc <= 100.0:
            raise ValueError(f"sim option 'ev_soc' must be within 0..100 %, got {self.ev_soc:g}")
        for name in ("max_current_a", "ev_max_current_a"):
            if not 6.0 <= getattr(self, name) <= 80.0:
                raise ValueError(f"sim option {name!r} must be within 6..80 A, got {getattr(self, name):g}")
        if not self.ev_capacity_kwh > 0.0:
            raise ValueError(f"sim option 'ev_capacity_kwh' must be > 0 kWh, got {self.ev_capacity_kwh:g}")
        if not 100.0 <= self.voltage_v <= 480.0:
            raise ValueError(f"sim option 'voltage_v' must be within 100..480 V, got {self.voltage_v:g}")
        for name in ("meter_interval_s", "ev_update_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sim option {name!r} must be > 0")
        if self.idle_meter_interval_s < 0:
            raise ValueError("sim option 'idle_meter_interval_s' must be >= 0")
        for name in ("relay_delay_s", "lock_pulse_s", "ev_request_delay_s", "ev_stop_delay_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"sim option {name!r} must be >= 0")


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return bool(value)
