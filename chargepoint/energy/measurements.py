"""The latest meter data with its age: mains meter, EV / sub-panel meters and the home battery.

Currents are stored in deci-amperes (signed, import positive) with the monotonic time they
arrived.  Staleness rules (smartevse.md §2.5, §4.8, §5.6):

* mains data older than ``MAINS_TIMEOUT_S`` (11 s, COMM_TIMEOUT) is stale -> CT_NOCOMM fault;
* EV meter data older than ``EV_METER_TIMEOUT_S`` (64 s, COMM_EVTIMEOUT) is ignored;
* the battery current is reset to 0 when more than ``BATTERY_TIMEOUT_S`` (60 s) old; exactly 60 s
  is still valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chargepoint.energy.settings import EnableC2

MAINS_TIMEOUT_S = 11.0
EV_METER_TIMEOUT_S = 64.0
BATTERY_TIMEOUT_S = 60.0
#: Sanity bound of a fed current (A); anything beyond is refused as a bad reading.
MAX_ABS_CURRENT_A = 2000.0


def to_da(value: float) -> int:
    """Amperes -> deci-amperes, rounded to the nearest."""
    return round(value * 10)


def cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero), as the firmware computes."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def check_current(name: str, value: float) -> float:
    """Return ``value`` as float or raise ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    if abs(value) > MAX_ABS_CURRENT_A:
        raise ValueError(f"{name}: |{value}| A exceeds {MAX_ABS_CURRENT_A:g} A")
    return float(value)


#: API-fed meters (smartevse.md §4.8): deci-amperes, each strictly within -2000 .. 2000.
API_LIMIT_DA = 2000


def check_api_da(name: str, value: object) -> int:
    """An API current in deci-amperes (int or an integer string): return it or raise
    ValueError naming the field.  The firmware accepts -2000 < x < 2000."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: must be an integer number of deci-amperes, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"{name}: must be an integer number of deci-amperes, got {value!r}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{name}: must be an integer number of deci-amperes, got {value!r}")
    if not -API_LIMIT_DA < value < API_LIMIT_DA:
        raise ValueError(f"{name}: {value} dA outside -{API_LIMIT_DA} < x < {API_LIMIT_DA}")
    return value


@dataclass(frozen=True, slots=True)
class PhaseReading:
    at: float
    da: tuple[int, int, int]
    #: mains only: TotalCurrent (dA) when the reading was taken, if the board knows it (None: unknown)
    charging_da: int | None = None


class Measurements:
    """Holds the latest readings; ``seq`` counts mains readings so the regulation knows a new one came."""

    def __init__(self) -> None:
        self.mains: PhaseReading | None = None
        self.mains_seq = 0
        self.ev: dict[int, PhaseReading] = {}
        self._battery_da = 0
        self._battery_at: float | None = None

    # -- feeding -----------------------------------------------------------------------
    def feed_mains(self, now: float, l1: float, l2: float, l3: float, charging_a: float | None = None) -> None:
        values = [check_current(n, v) for n, v in (("l1", l1), ("l2", l2), ("l3", l3))]
        charging = None if charging_a is None else to_da(check_current("charging_a", charging_a))
        self.mains = PhaseReading(now, (to_da(values[0]), to_da(values[1]), to_da(values[2])), charging)
        self.mains_seq += 1

    def feed_ev_meter(self, now: float, connector: int, l1: float, l2: float, l3: float) -> None:
        if isinstance(connector, bool) or not isinstance(connector, int) or connector < 0:
            raise ValueError(f"connector: must be an integer >= 0 (0 = sub-panel meter), got {connector!r}")
        values = [check_current(n, v) for n, v in (("l1", l1), ("l2", l2), ("l3", l3))]
        self.ev[connector] = PhaseReading(now, (to_da(values[0]), to_da(values[1]), to_da(values[2])))

    def feed_battery(self, now: float, current_a: float) -> None:
        self._battery_da = to_da(check_current("battery_current", current_a))
        self._battery_at = now

    # -- reading -----------------------------------------------------------------------
    def mains_age(self, now: float) -> float | None:
        return None if self.mains is None else now - self.mains.at

    def battery_age(self, now: float) -> float | None:
        """Seconds since the last battery update, None when there is none (or it timed out)."""
        self.battery_da(now)
        return None if self._battery_at is None else round(now - self._battery_at, 3)

    def battery_da(self, now: float) -> int:
        """The battery current in dA; 0 (and forgotten) when older than 60 s."""
        if self._battery_at is None:
            return 0
        if now - self._battery_at > BATTERY_TIMEOUT_S:
            self._battery_da = 0
            self._battery_at = None
            return 0
        return self._battery_da

    def circuit_da(self, now: float) -> tuple[int, int, int] | None:
        """The EV-circuit currents: the sub-panel meter (connector 0) when fresh, else the per-phase sum
        of the fresh per-connector EV meters; None when there is no fresh EV meter data."""
        sub = self.ev.get(0)
        if sub is not None and now - sub.at <= EV_METER_TIMEOUT_S:
            return sub.da
        fresh = [r.da for n, r in self.ev.items() if n != 0 and now - r.at <= EV_METER_TIMEOUT_S]
        if not fresh:
            return None
        return (sum(r[0] for r in fresh), sum(r[1] for r in fresh), sum(r[2] for r in fresh))

    def stale_ev_meters(self, now: float) -> list[int]:
        return sorted(n for n, r in self.ev.items() if now - r.at > EV_METER_TIMEOUT_S)


def battery_corrected(irms: tuple[int, int, int], battery_da: int, enable_c2: EnableC2) -> tuple[int, int, int]:
    """Neutralise the home battery (smartevse.md §5.6): subtract battery/3 (C division) from each
    phase, or the whole battery current from L1 when EnableC2 is Always Off."""
    if battery_da == 0:
        return irms
    if enable_c2 == EnableC2.ALWAYS_OFF:
        return (irms[0] - battery_da, irms[1], irms[2])
    part = cdiv(battery_da, 3)
    return (irms[0] - part, irms[1] - part, irms[2] - part)
