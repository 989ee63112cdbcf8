"""A pure house model for the simulator: base load, PV and a home battery -> mains currents.

No I/O, no clock: the caller passes the simulation time ``t`` (seconds since the start of the
simulation, monotonic) and the EV's draw per phase; the model returns what a mains meter would
measure.  Deterministic: clouds come from a seeded hash, not from a random generator's state.

API::

    house = House(base=BaseLoadProfile(), pv=PvArray(peak_w=6000, clouds=0.6, seed=7),
                  battery=HomeBattery(capacity_wh=10000, max_power_w=3000), start_hour=10.0)
    r = house.reading(t, ev_a=(16.0, 16.0, 16.0))   # -> HouseReading
    r.mains_a        # (l1, l2, l3) A, signed, import positive   -> EnergyManager.feed_mains
    r.battery_a      # battery current, A summed, + = charging  -> EnergyManager.feed_battery
    r.pv_w, r.soc, r.base_a, r.pv_a ...

* ``BaseLoadProfile(points, phase_weights)`` -- household load per phase over the day: a
  piecewise-linear curve of (hour, A) points, multiplied per phase by ``phase_weights``.
  ``current(hour_of_day) -> (l1, l2, l3)``.
* ``PvArray(peak_w, sunrise_h, sunset_h, phases, clouds, cloud_period_s, seed)`` -- clear-sky
  production ``peak_w * sin(pi * day_fraction) ** 1.5`` between sunrise and sunset, reduced by
  clouds of depth ``clouds`` (0 = clear, 1 = can go dark) varying smoothly every
  ``cloud_period_s``; ``phases`` 3 (balanced inverter) or 1 (on L1).  ``power_w(t, hour) -> W``.
* ``HomeBattery(capacity_wh, max_power_w, initial_soc, min_soc, phases)`` -- charges from the
  surplus and discharges into the deficit of the house's *total* power (zero-export / zero-import
  target, like a net-metering battery inverter), within its power and capacity; 3-phase or on L1.
* ``House(base, pv=None, battery=None, voltage_v=230, start_hour=0)`` -- ``reading(t, ev_a)``
  integrates the battery energy over the time since the previous call (so call it with
  non-decreasing ``t``), then decides the battery power for the present situation.
* ``house_from_config(mapping)`` -- the same from a scenario file's mapping, e.g.
  ``{"pv": {"peak_w": 6000, "clouds": 0.5, "seed": 3}, "battery": {"capacity_wh": 10000},
  "start_hour": 9}``; bad keys raise ValueError naming them (``pv.clouds: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import Any

DEFAULT_BASE_POINTS: tuple[tuple[float, float], ...] = (
    (0.0, 1.0), (6.0, 1.0), (7.0, 3.5), (8.5, 2.0), (12.0, 2.5), (13.0, 3.0),
    (17.0, 2.5), (18.5, 6.0), (21.0, 4.0), (23.0, 1.5), (24.0, 1.0),
)


@dataclass(frozen=True, slots=True)
class BaseLoadProfile:
    """Household base load: (hour, A) points interpolated linearly, scaled per phase."""

    points: tuple[tuple[float, float], ...] = DEFAULT_BASE_POINTS
    phase_weights: tuple[float, float, float] = (1.0, 0.7, 0.5)

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise ValueError("points: need at least two (hour, A) points")
        hours = [h for h, _ in self.points]
        if hours != sorted(hours) or hours[0] > 0 or hours[-1] < 24:
            raise ValueError("points: hours must be ascending and cover 0..24")
        if len(self.phase_weights) != 3 or any(w < 0 for w in self.phase_weights):
            raise ValueError("phase_weights: need three weights >= 0")

    def level(self, hour: float) -> float:
        hour %= 24.0
        pts = self.points
        for (h0, a0), (h1, a1) in pairwise(pts):
            if h0 <= hour <= h1:
                return a0 if h1 == h0 else a0 + (a1 - a0) * (hour - h0) / (h1 - h0)
        return pts[-1][1]

    def current(self, hour: float) -> tuple[float, float, float]:
        base = self.level(hour)
        w = self.phase_weights
        return (base * w[0], base * w[1], base * w[2])


def _unit_hash(seed: int, k: int) -> float:
    """A deterministic value in [0, 1) from (seed, k) (splitmix64)."""
    x = (seed * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    return (x >> 11) / float(1 << 53)


@dataclass(frozen=True, slots=True)
class PvArray:
    """PV production: a clear-sky day curve reduced by deterministic clouds."""

    peak_w: float = 5000.0
    sunrise_h: float = 7.0
    sunset_h: float = 19.0
    phases: int = 3
    clouds: float = 0.0
    cloud_period_s: float = 300.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.peak_w < 0:
            raise ValueError("peak_w: must be >= 0")
        if not 0 <= self.sunrise_h < self.sunset_h <= 24:
            raise ValueError("sunrise_h/sunset_h: need 0 <= sunrise < sunset <= 24")
        if self.phases not in (1, 3):
            raise ValueError("phases: must be 1 or 3")
        if not 0.0 <= self.clouds <= 1.0:
            raise ValueError("clouds: must be within 0..1")
        if self.cloud_period_s <= 0:
            raise ValueError("cloud_period_s: must be > 0")

    def clear_sky_w(self, hour: float) -> float:
        hour %= 24.0
        if not self.sunrise_h < hour < self.sunset_h:
            return 0.0
        x = (hour - self.sunrise_h) / (self.sunset_h - self.sunrise_h)
        return self.peak_w * math.sin(math.pi * x) ** 1.5

    def cloud_factor(self, t: float) -> float:
        """1 = clear; ``1 - clouds`` at the darkest.  Smooth between cloud periods."""
        if self.clouds == 0:
            return 1.0
        pos = t / self.cloud_period_s
        k = math.floor(pos)
        frac = pos - k
        s = frac * frac * (3 - 2 * frac)
        r = _unit_hash(self.seed, k) * (1 - s) + _unit_hash(self.seed, k + 1) * s
        return 1.0 - self.clouds * r

    def power_w(self, t: float, hour: float) -> float:
        return self.clear_sky_w(hour) * self.cloud_factor(t)


@dataclass(frozen=True, slots=True)
class HomeBattery:
    """A home battery with a zero-grid target on the house's total power."""

    capacity_wh: float = 10000.0
    max_power_w: float = 3000.0
    initial_soc: float = 0.5
    min_soc: float = 0.0
    phases: int = 3

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0:
            raise ValueError("capacity_wh: must be > 0")
        if self.max_power_w < 0:
            raise ValueError("max_power_w: must be >= 0")
        if not 0.0 <= self.min_soc <= self.initial_soc <= 1.0:
            raise ValueError("initial_soc/min_soc: need 0 <= min_soc <= initial_soc <= 1")
        if self.phases not in (1, 3):
            raise ValueError("phases: must be 1 or 3")


@dataclass(frozen=True, slots=True)
class HouseReading:
    """What the house looks like at time ``t``.  Currents in A per phase, import positive."""

    t: float
    hour: float
    mains_a: tuple[float, float, float]
    base_a: tuple[float, float, float]
    pv_a: tuple[float, float, float]
    ev_a: tuple[float, float, float]
    battery_phase_a: tuple[float, float, float]  # + = charging (adds to the import)
    battery_a: float  # summed over phases, + = charging (what feed_battery expects)
    pv_w: float
    battery_w: float
    soc: float | None
    mains_w: float


class House:
    """Base load + PV + battery + EV -> mains currents.  See the module docstring."""

    def __init__(self, base: BaseLoadProfile | None = None, pv: PvArray | None = None,
                 battery: HomeBattery | None = None, voltage_v: float = 230.0, start_hour: float = 0.0) -> None:
        if voltage_v <= 0:
            raise ValueError("voltage_v: must be > 0")
        self.base = base or BaseLoadProfile()
        self.pv = pv
        self.battery = battery
        self.voltage_v = voltage_v
        self.start_hour = start_hour
        self.soc_wh = battery.initial_soc * battery.capacity_wh if battery else 0.0
        self._battery_w = 0.0
        self._last_t: float | None = None

    def hour(self, t: float) -> float:
        return (self.start_hour + t / 3600.0) % 24.0

    def reading(self, t: float, ev_a: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> HouseReading:
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"t: must not go back in time ({t} < {self._last_t})")
        v = self.voltage_v
        bat = self.battery
        if bat is not None and self._last_t is not None:
            dt_h = (t - self._last_t) / 3600.0
            low = bat.min_soc * bat.capacity_wh
            self.soc_wh = min(bat.capacity_wh, max(low, self.soc_wh + self._battery_w * dt_h))
        self._last_t = t

        hour = self.hour(t)
        base = self.base.current(hour)
        pv_w = self.pv.power_w(t, hour) if self.pv else 0.0
        pv_phases = self.pv.phases if self.pv else 3
        pv_a = _spread(pv_w / v, pv_phases)
        load_w = sum(base[i] + ev_a[i] - pv_a[i] for i in range(3)) * v

        battery_w = 0.0
        if bat is not None:
            if load_w < 0 and self.soc_wh < bat.capacity_wh:
                battery_w = min(-load_w, bat.max_power_w)
            elif load_w > 0 and self.soc_wh > bat.min_soc * bat.capacity_wh:
                battery_w = -min(load_w, bat.max_power_w)
        self._battery_w = battery_w
        bat_phase = _spread(battery_w / v, bat.phases if bat else 3)
        mains = tuple(round(base[i] + ev_a[i] - pv_a[i] + bat_phase[i], 3) for i in range(3))
        return HouseReading(
            t=t, hour=hour, mains_a=(mains[0], mains[1], mains[2]), base_a=base, pv_a=pv_a,
            ev_a=(ev_a[0], ev_a[1], ev_a[2]), battery_phase_a=bat_phase, battery_a=battery_w / v,
            pv_w=pv_w, battery_w=battery_w, soc=(self.soc_wh / bat.capacity_wh) if bat else None,
            mains_w=sum(mains) * v,
        )


def house_from_config(config: Mapping[str, Any]) -> House:
    """Build a House from a plain mapping (scenario files): keys ``base``, ``pv``, ``battery`` (each a
    mapping of the dataclass's fields; ``pv``/``battery`` may be absent or null), ``voltage_v``,
    ``start_hour``.  Unknown or bad keys raise ValueError naming them (e.g. ``pv.clouds``)."""
    known = {"base", "pv", "battery", "voltage_v", "start_hour"}
    for key in config:
        if key not in known:
            raise ValueError(f"{key}: unknown house key (known: {sorted(known)})")

    def part(key: str, cls: type) -> Any:
        raw = config.get(key)
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise ValueError(f"{key}: must be a mapping")
        names = {f.name for f in fields(cls)}
        for name in raw:
            if name not in names:
                raise ValueError(f"{key}.{name}: unknown field (known: {sorted(names)})")
        values = dict(raw)
        for name in ("points", "phase_weights"):
            if name in values:
                values[name] = tuple(tuple(p) if isinstance(p, list | tuple) else p for p in values[name])
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{key}.{exc}") from None

    return House(base=part("base", BaseLoadProfile), pv=part("pv", PvArray), battery=part("battery", HomeBattery),
                 voltage_v=float(config.get("voltage_v", 230.0)), start_hour=float(config.get("start_hour", 0.0)))


def _spread(amps: float, phases: int) -> tuple[float, float, float]:
    if phases == 1:
        return (amps, 0.0, 0.0)
    return (amps / 3, amps / 3, amps / 3)
