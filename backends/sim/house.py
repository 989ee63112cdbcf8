"""The simulated house around a :class:`SimBoard`: its mains meter, home battery and EV sub-panel meter.

``SimHouse`` is an extra event source for the :class:`~chargepoint.station.Station` (like a Modbus
meter): every ``interval_s`` it reads the simulated EVs' phase currents from the board, adds the
house model (:class:`backends.sim.house_model.House`: base load per phase over the day, PV, home
battery) and extra loads switched on by tests or scenarios (a heat pump, a washing machine ...), and
yields ``MeterReading(connector=0)`` = what a grid meter would measure::

    mains = base load + extra loads + EV draw - PV +/- battery         (A per phase, import positive)

It also implements the energy service's ``HouseSignals``: ``battery_a()`` (the battery current the
house's battery inverter would report, + = charging; None without a battery) and ``subpanel_a()``
(the EV sub-panel meter: EV draw + the loads on the sub-panel; None without a sub-panel).

Configured by the sim options' ``house`` mapping (``[sim] house = {...}`` or a scenario file)::

    {"pv": {"peak_w": 6000, "clouds": 0.5, "seed": 3}, "battery": {"capacity_wh": 10000},
     "base": {"points": [[0, 1], [24, 1]]}, "start_hour": 9,      # -> house_from_config
     "interval_s": 1.0,                                            # mains meter period
     "subpanel": true | {"points": [[0, 0], [24, 0]], "phase_weights": [1, 0, 0]}}  # sub-panel meter/load
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from backends.sim.board import SimBoard
from backends.sim.house_model import BaseLoadProfile, House, HouseReading, house_from_config
from hal.clock import Clock
from hal.types import MeterReading

Phases = tuple[float, float, float]
_ZERO: Phases = (0.0, 0.0, 0.0)


def _add(*parts: Phases) -> Phases:
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))


class SimHouse:
    """Mains meter of a simulated house (an event source with ``start``/``events``/``close``)."""

    def __init__(self, clock: Clock, board: SimBoard, house: House, *, interval_s: float = 1.0,
                 subpanel: BaseLoadProfile | bool | None = None) -> None:
        if not interval_s > 0:
            raise ValueError(f"house.interval_s: must be > 0, got {interval_s!r}")
        self.clock = clock
        self.board = board
        self.house = house
        self.interval_s = float(interval_s)
        self.has_subpanel = subpanel is not None and subpanel is not False
        self.subpanel_profile = subpanel if isinstance(subpanel, BaseLoadProfile) else None
        self.loads: dict[str, Phases] = {}
        self.subpanel_loads: dict[str, Phases] = {}
        self.last: HouseReading | None = None
        self._t0: float | None = None
        self._energy_import_wh = 0.0
        self._energy_export_wh = 0.0
        self._last_at: float | None = None
        self._queue: asyncio.Queue[MeterReading | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ controls
    def set_load(self, name: str, amps: Phases | None, *, subpanel: bool = False) -> None:
        """Switch a named extra load on (A per phase) or off (None).  ``subpanel`` loads sit behind the
        EV sub-panel meter (and so are seen by both meters)."""
        target = self.subpanel_loads if subpanel else self.loads
        if amps is None:
            target.pop(name, None)
            return
        if len(amps) != 3 or any(not isinstance(a, int | float) or a < 0 for a in amps):
            raise ValueError(f"load {name!r}: need three currents >= 0, got {amps!r}")
        if subpanel and not self.has_subpanel:
            raise ValueError("subpanel: this house has no sub-panel meter (house.subpanel)")
        target[name] = (float(amps[0]), float(amps[1]), float(amps[2]))

    # ------------------------------------------------------------------ the model
    def _t(self) -> float:
        now = self.clock.monotonic()
        if self._t0 is None:
            self._t0 = now
        return now - self._t0

    def _ev_a(self) -> Phases:
        return _add(_ZERO, *(self.board.ev_current(n) for n in self.board.model.connectors))

    def _subpanel_extra(self, t: float) -> Phases:
        profile = self.subpanel_profile.current(self.house.hour(t)) if self.subpanel_profile else _ZERO
        return _add(profile, *self.subpanel_loads.values())

    def read(self) -> HouseReading:
        """The house now (advances the battery's state of charge)."""
        t = self._t()
        behind = _add(self._ev_a(), self._subpanel_extra(t), *self.loads.values())
        reading = self.house.reading(t, behind)
        self.last = reading
        return reading

    def battery_a(self) -> float | None:
        if self.house.battery is None:
            return None
        return (self.last or self.read()).battery_a

    def subpanel_a(self) -> Phases | None:
        if not self.has_subpanel:
            return None
        return _add(self._ev_a(), self._subpanel_extra(self._t()))

    def meter_reading(self) -> MeterReading:
        r = self.read()
        now = self.clock.monotonic()
        if self._last_at is not None and now > self._last_at:
            wh = r.mains_w * (now - self._last_at) / 3600.0
            if wh >= 0:
                self._energy_import_wh += wh
            else:
                self._energy_export_wh -= wh
        self._last_at = now
        v = self.house.voltage_v
        return MeterReading(connector=0, voltage_v=(v, v, v), current_a=r.mains_a, power_w=round(r.mains_w, 1),
                            energy_import_wh=round(self._energy_import_wh, 3),
                            energy_export_wh=round(self._energy_export_wh, 3))

    # ------------------------------------------------------------------ event source
    async def start(self) -> None:
        self._t()
        self._task = asyncio.create_task(self._pump(), name="sim-house")

    async def _pump(self) -> None:
        next_at = self.clock.monotonic()
        while True:
            self._queue.put_nowait(self.meter_reading())
            next_at += self.interval_s
            await self.clock.sleep_until(next_at)

    async def events(self) -> AsyncIterator[MeterReading]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        await self.clock.cancel_and_wait(self._task)
        self._task = None
        self._queue.put_nowait(None)


def parse_house_options(raw: Any) -> tuple[House, float, BaseLoadProfile | bool | None]:
    """The ``house`` mapping -> (House, interval_s, subpanel).  Bad keys raise ValueError naming them
    (``house.pv.clouds: ...``).  Also used to validate scenario files."""
    if not isinstance(raw, Mapping):
        raise ValueError("house: must be a mapping (table)")
    config = dict(raw)
    interval = config.pop("interval_s", 1.0)
    sub = config.pop("subpanel", None)
    subpanel: BaseLoadProfile | bool | None
    if isinstance(sub, Mapping):
        values = dict(sub)
        for key in values:
            if key not in ("points", "phase_weights"):
                raise ValueError(f"house.subpanel.{key}: unknown field (known: points, phase_weights)")
        try:
            fields: dict[str, Any] = {k: tuple(tuple(p) if isinstance(p, list | tuple) else p for p in v)
                                      for k, v in values.items()}
            subpanel = BaseLoadProfile(**fields)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"house.subpanel.{exc}") from None
    elif sub is None or isinstance(sub, bool):
        subpanel = sub
    else:
        raise ValueError(f"house.subpanel: must be true/false or a load profile mapping, got {sub!r}")
    try:
        house = house_from_config(config)
        interval_s = float(interval)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"house.{exc}") from None
    if not interval_s > 0:
        raise ValueError(f"house.interval_s: must be > 0, got {interval!r}")
    return house, interval_s, subpanel


def house_source(clock: Clock, board: SimBoard, options: Mapping[str, Any] | None) -> SimHouse | None:
    """The SimHouse described by the sim options' ``house`` mapping, or None when there is none.
    Bad keys raise ValueError naming them (``house.pv.clouds: ...``)."""
    raw = (options or {}).get("house")
    if raw is None:
        return None
    house, interval_s, subpanel = parse_house_options(raw)
    return SimHouse(clock, board, house, interval_s=interval_s, subpanel=subpanel)
