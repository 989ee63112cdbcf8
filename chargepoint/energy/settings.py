"""Settings of the energy manager, with the SmartEVSE firmware's names, defaults and ranges.

Reference: smartevse.md §5.1 (defaults and ranges), §3.2 (EnableC2), §5.8 (capacity tariff).
``validate()`` raises :class:`SettingsError` naming the offending field; the HTTP API answers
400 with that message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from chargepoint.errors import FieldError


class Mode(StrEnum):
    """Charge mode: Normal (no mains meter involvement), Smart (MaxMains regulation), Solar (surplus)."""

    NORMAL = "normal"
    SMART = "smart"
    SOLAR = "solar"


class EnableC2(StrEnum):
    """Contactor C2 (L2+L3) setting (smartevse.md §3.2)."""

    NOT_PRESENT = "not_present"  # no C2: 3 phases assumed, never switches
    ALWAYS_OFF = "always_off"  # always single phase
    SOLAR_OFF = "solar_off"  # single phase in Solar mode only
    ALWAYS_ON = "always_on"  # always three phases (firmware default)
    AUTO = "auto"  # Solar mode may switch 3P<->1P; Smart/Normal go back to 3P


class SettingsError(FieldError):
    """An energy setting is out of range or of the wrong type; ``field`` names it."""


#: (low, high) inclusive ranges of the numeric settings.  ``max_sum_mains_a`` also allows 0 (= off).
RANGES: dict[str, tuple[float, float]] = {
    "max_mains_a": (10, 200),
    "max_circuit_a": (10, 160),
    "max_sum_mains_a": (10, 600),
    "max_sum_mains_time_min": (0, 60),
    "start_current_a": (0, 48),
    "stop_time_min": (0, 60),
    "import_current_a": (0, 48),
    "min_current_a": (6, 16),
    "max_current_a": (6, 80),
    "grid_relay_max_sum_mains_a": (6, 600),
}


@dataclass(frozen=True, slots=True)
class EnergySettings:
    """Load-balancing settings (whole amperes / minutes, as in the firmware menu).

    * ``mode`` -- normal | smart | solar (Mode).
    * ``max_mains_a`` -- MaxMains, per phase, 10-200 A (default 25).
    * ``max_circuit_a`` -- MaxCircuit, the EV circuit / sub-panel, 10-160 A (default 16).
    * ``max_sum_mains_a`` -- MaxSumMains, sum of the three mains phases, 0 = off or 10-600 A.
    * ``max_sum_mains_time_min`` -- MaxSumMainsTime, 0-60 min: 0 = exceeding MaxSumMains is a hard
      shortage (stop after 3 cycles); > 0 = stop only after this many minutes.
    * ``start_current_a`` -- StartCurrent, Solar: export needed to start (sum of phases), 0-48 A (4).
    * ``stop_time_min`` -- StopTime, Solar: minutes of import before stopping, 0-60 (10); 0 = never stop.
    * ``import_current_a`` -- ImportCurrent, Solar: allowed grid import (sum of phases), 0-48 A (0).
    * ``min_current_a`` -- MinCurrent, 6-16 A (6).  ``max_current_a`` -- MaxCurrent, 6-80 A (13).
    * ``enable_c2`` -- EnableC2 (default always_on).
    * ``grid_relay_max_sum_mains_a`` -- GridRelayMaxSumMains, 6-600 A (18): the sum over the phases
      all connectors may draw while the grid relay limits (EnWG §14a, ~4.2 kW).
    * ``baseload_ev`` -- use the EV / sub-panel meter for MaxCircuit (``Baseload_EV`` and the circuit
      headroom) when it is fed; False ignores EV meter data for balancing.
    """

    mode: Mode = Mode.NORMAL
    max_mains_a: int = 25
    max_circuit_a: int = 16
    max_sum_mains_a: int = 0
    max_sum_mains_time_min: int = 0
    start_current_a: int = 4
    stop_time_min: int = 10
    import_current_a: int = 0
    min_current_a: int = 6
    max_current_a: int = 13
    enable_c2: EnableC2 = EnableC2.ALWAYS_ON
    baseload_ev: bool = True
    grid_relay_max_sum_mains_a: int = 18

    def validate(self) -> EnergySettings:
        """Raise SettingsError naming the first bad field; return self when all are valid."""
        if not isinstance(self.mode, Mode):
            raise SettingsError("mode", f"must be one of {[m.value for m in Mode]}, got {self.mode!r}")
        if not isinstance(self.enable_c2, EnableC2):
            raise SettingsError(
                "enable_c2", f"must be one of {[e.value for e in EnableC2]}, got {self.enable_c2!r}"
            )
        if not isinstance(self.baseload_ev, bool):
            raise SettingsError("baseload_ev", f"must be a boolean, got {self.baseload_ev!r}")
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise SettingsError(name, f"must be a number, got {value!r}")
            if value != int(value):
                raise SettingsError(name, f"must be a whole number, got {value!r}")
            if name == "max_sum_mains_a" and value == 0:
                continue
            if not low <= value <= high:
                extra = " or 0 (off)" if name == "max_sum_mains_a" else ""
                raise SettingsError(name, f"must be within {low:g}..{high:g}{extra}, got {value:g}")
        if self.min_current_a > self.max_current_a:
            raise SettingsError(
                "min_current_a",
                f"must not exceed max_current_a ({self.max_current_a}), got {self.min_current_a}",
            )
        return self

    def updated(self, changes: Mapping[str, Any]) -> EnergySettings:
        """A validated copy with ``changes`` applied (strings accepted for enums, numbers, booleans).

        Unknown keys raise SettingsError naming the key.  Intended for the HTTP API / config files.
        """
        known = {f.name for f in fields(self)}
        parsed: dict[str, Any] = {}
        for key, raw in changes.items():
            if key not in known:
                raise SettingsError(key, f"unknown setting (known: {sorted(known)})")
            parsed[key] = _parse(key, raw)
        return replace(self, **parsed).validate()


def _parse(key: str, raw: Any) -> Any:
    if key == "mode":
        try:
            return Mode(str(raw).lower())
        except ValueError:
            raise SettingsError(key, f"must be one of {[m.value for m in Mode]}, got {raw!r}") from None
    if key == "enable_c2":
        try:
            return EnableC2(str(raw).lower())
        except ValueError:
            raise SettingsError(key, f"must be one of {[e.value for e in EnableC2]}, got {raw!r}") from None
    if key == "baseload_ev":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(key, f"must be a boolean, got {raw!r}")
    if isinstance(raw, bool):
        raise SettingsError(key, f"must be a number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(key, f"must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise SettingsError(key, f"must be a whole number, got {raw!r}")
    return int(value)
