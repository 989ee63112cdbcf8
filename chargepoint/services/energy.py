"""The async glue around the pure :class:`EnergyManager` (the only file of this folder that uses asyncio).

``EnergyService`` runs the manager's 2-s regulation cycle on the program's :class:`Clock`:

* inputs -- every ``MeterReading`` the station publishes for connector 0 (the mains meter: a Modbus
  meter or the simulated house) is fed to the manager the moment it arrives, so the manager knows its
  age; the connectors' own kWh meters (1..n) only with ``ev_meters=True`` (``[energy] ev_meters``,
  the firmware's EVMeter setting, default off) -- they then take part in MaxCircuit; readings given through the local API (``feed_mains_api``,
  ``feed_ev_meter_api``, ``feed_battery_api``) and the optional ``house`` signals (home battery,
  sub-panel meter of the simulated house) are fed the same way;
* every ``cycle_s`` (2 s) -- ``step(now, statuses)`` with one ``EvStatus`` per connector built from
  ``station.snapshots()``, then ``decision.commands(previous)`` (``SetLimit`` named mains / circuit /
  sum_mains / solar and ``SetPhases``) are submitted to the station, lowered limits first;
* stale mains data (none for >= 11 s in Smart/Solar: the firmware's CT_NOCOMM) -- the manager gives
  every connector a "mains" limit of 0, which pauses charging through C->C1->B1 in the controller;
  the service logs ``energy_fault code=ct_nocomm`` once when it starts and once when it clears and
  reports it in :meth:`status` (``faults``).  It is not a controller ``Fault``: the connector is not
  Faulted (OCPP status SuspendedEVSE), as on the SmartEVSE, where CT_NOCOMM only stops charging;
* Normal mode with one connector -- the manager returns no limits, so the service clears its own.

Settings (the firmware names: mode, MaxMains, MaxCircuit, ...) plus the local override current are
changed with :meth:`update` (validated as a whole first: a bad value changes nothing) and persisted
as JSON in ``store`` so that they survive a restart.  The override is the controller limit named
"override": one more term of the minimum, so it never raises the current above an OCPP limit
(docs/ENERGY.md explains why this differs from the firmware).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from chargepoint.clock import Clock
from chargepoint.controller.limits import Limit
from chargepoint.controller.types import OfferedCurrentChanged, SetLimit
from chargepoint.energy.adapter import ev_status_from_snapshot
from chargepoint.energy.manager import CYCLE_S, EnergyManager
from chargepoint.energy.settings import EnergySettings, Mode, SettingsError
from chargepoint.energy.types import EnergyDecision
from chargepoint.services.json_store import JsonStore
from hal.types import GridRelayReading, MeterReading

log = structlog.get_logger("energy")

#: The settings the local API may read and change (``EnergySettings`` fields + the override).
API_SETTINGS: tuple[str, ...] = (
    "mode", "override_current_a", "max_mains_a", "max_circuit_a", "max_sum_mains_a", "max_sum_mains_time_min",
    "start_current_a", "stop_time_min", "import_current_a", "enable_c2", "grid_relay_max_sum_mains_a",
)
#: Where the mains readings come from: a meter on the station (Modbus / simulated house) or the API.
MAINS_SOURCES = ("meter", "api")
#: ``[energy] grid_relay_limit_on``: the grid-relay contact position that limits ("open" like the
#: SmartEVSE firmware's switch input; "closed" for control boxes wired the other way round)
GRID_RELAY_CONTACTS = ("open", "closed")


def grid_relay_limit_on(value: Any) -> str:
    """The ``grid_relay_limit_on`` key checked (SettingsError naming it)."""
    if value not in GRID_RELAY_CONTACTS:
        raise SettingsError("grid_relay_limit_on", f"must be one of {GRID_RELAY_CONTACTS}, got {value!r}")
    return str(value)


class HouseSignals(Protocol):
    """Extra signals of a (simulated) house besides its mains meter: the home battery current
    (A summed over phases, + = charging; None = no battery) and the EV sub-panel meter (A per phase;
    None = no sub-panel meter)."""

    def battery_a(self) -> float | None: ...

    def subpanel_a(self) -> tuple[float, float, float] | None: ...


#: The energy settings' file (the name kept from when it lived here).
SettingsStore = JsonStore


@dataclass(frozen=True, slots=True)
class EvMeterApiReading:
    """The last API-fed EV (circuit) meter reading."""

    at: float
    current_a: tuple[float, float, float]
    power_w: float | None
    energy_wh: float | None


def settings_to_api(settings: EnergySettings, override_a: float | None) -> dict[str, Any]:
    doc = {k: v for k, v in asdict(settings).items() if k in API_SETTINGS}
    doc["mode"] = settings.mode.value
    doc["enable_c2"] = settings.enable_c2.value
    doc["override_current_a"] = override_a
    return {k: doc[k] for k in API_SETTINGS}


def parse_energy_table(energy: Mapping[str, Any], *, max_current_a: float, min_current_a: float,
                       mains_source: str | None = None) -> tuple[EnergySettings, float | None, str, bool]:
    """The ``[energy]`` config table -> (settings, override A, mains source, ev_meters); raises
    SettingsError naming the bad key.  Used at start and by configuration checks."""
    table = dict(energy)
    source = table.pop("mains_meter", None) or mains_source or "meter"
    grid_relay_limit_on(table.pop("grid_relay_limit_on", "open"))
    ev_meters = table.pop("ev_meters", False)
    if not isinstance(ev_meters, bool):
        raise SettingsError("ev_meters", f"must be true or false, got {ev_meters!r}")
    if source not in MAINS_SOURCES:
        raise SettingsError("mains_meter", f"must be one of {MAINS_SOURCES}, got {source!r}")
    override = table.pop("override_current_a", None)
    for key in ("min_current_a", "max_current_a"):
        if key in table:
            raise SettingsError(key, "is the controller's setting: set it in [controller]")
    base = EnergySettings(max_current_a=int(max_current_a), min_current_a=int(min_current_a))
    settings = base.updated(table)
    return settings, _check_override(override, settings), source, ev_meters


class EnergyService:
    """Runs the energy manager every ``cycle_s`` seconds against a :class:`~chargepoint.station.Station`.

    ``station`` needs ``snapshots()``, ``subscribe(listener)``, ``submit(input)``, ``capabilities``.
    ``max_current_a`` / ``min_current_a`` are the controller's MaxCurrent / MinCurrent.
    """

    def __init__(
        self,
        clock: Clock,
        station: Any,
        *,
        settings: EnergySettings | None = None,
        override_a: float | None = None,
        store: SettingsStore | None = None,
        mains_source: str = "meter",
        house: HouseSignals | None = None,
        ev_meters: bool = False,
        cycle_s: float = CYCLE_S,
    ) -> None:
        if mains_source not in MAINS_SOURCES:
            raise ValueError(f"mains_meter: must be one of {MAINS_SOURCES}, got {mains_source!r}")
        self.clock = clock
        self.station = station
        self.store = store
        self.mains_source = mains_source
        self.house = house
        self.ev_meters = ev_meters
        self.cycle_s = cycle_s
        self.manager = EnergyManager((settings or EnergySettings()).validate(), now=clock.monotonic())
        self.override_a = override_a
        self.previous: EnergyDecision | None = None
        self.ev_meter_api: EvMeterApiReading | None = None
        #: the grid-relay contact position that limits (``[energy] grid_relay_limit_on``)
        self.grid_relay_limit_on = "open"
        self.faults: set[str] = set()
        self.cycles = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()  # an input arrived (see _steady)
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Future[EnergyDecision]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._last_explanation = ""
        self._bindings: dict[int, tuple[float, str]] = {}
        #: called with the wall seconds each cycle took (the metrics' energy-manager cycle time)
        self.cycle_observers: list[Callable[[float], None]] = []

    # ------------------------------------------------------------------ construction from config
    @classmethod
    def from_config(cls, clock: Clock, station: Any, energy: Mapping[str, Any], *, max_current_a: float,
                    min_current_a: float, data_dir: Path | None, mains_source: str | None = None,
                    house: HouseSignals | None = None) -> EnergyService:
        """Build from the ``[energy]`` config table (settings + ``override_current_a`` + ``mains_meter``),
        overlaid by the persisted settings in ``data_dir/energy_settings.json``.  Raises ValueError
        (SettingsError) naming a bad config key; a bad persisted value is logged and ignored."""
        settings, override, source, ev_meters = parse_energy_table(
            energy, max_current_a=max_current_a, min_current_a=min_current_a, mains_source=mains_source)
        store = SettingsStore(data_dir / "energy_settings.json") if data_dir is not None else None
        if store is not None:
            saved = store.load()
            try:
                saved_override = saved.pop("override_current_a", override)
                candidate = settings.updated({k: v for k, v in saved.items() if k in API_SETTINGS})
                override = _check_override(saved_override, candidate)
                settings = candidate
            except (SettingsError, ValueError) as exc:
                log.warning("energy_settings_ignored", path=str(store.path), error=str(exc))
        service = cls(clock, station, settings=settings, override_a=override, store=store,
                      mains_source=source, house=house, ev_meters=ev_meters)
        service.grid_relay_limit_on = grid_relay_limit_on(energy.get("grid_relay_limit_on", "open"))
        return service

    # ------------------------------------------------------------------ lifecycle
    @property
    def settings(self) -> EnergySettings:
        return self.manager.settings

    async def start(self) -> None:
        self._unsubscribe = self.station.subscribe(self._on_item)
        if self.override_a is not None:
            await self.station.submit(SetLimit(0, Limit.OVERRIDE, self.override_a))
        self._task = asyncio.create_task(self._loop(), name="energy-service")
        log.info("energy_started", mode=self.settings.mode.value, mains_meter=self.mains_source,
                 override_a=self.override_a)

    async def stop(self) -> None:
        await self.clock.cancel_and_wait(self._task, *self._pending)
        self._task = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def _loop(self) -> None:
        next_at = self.clock.monotonic()
        while True:
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # the regulation must keep running; the error is logged
                log.exception("energy_step_failed")
            next_at += self.cycle_s
            now = self.clock.monotonic()
            if next_at < now:  # fell behind (CPU starved): skip, never burst
                next_at = now
            if self._steady():
                # no cycle can change the decision until an input does: wait for one, then carry on
                # at the next instant of the 2-s grid, as if the cycles in between had run
                await self._wake.wait()
                now = self.clock.monotonic()
                while next_at < now:
                    next_at += self.cycle_s
            await self.clock.sleep_until(next_at)

    def _steady(self) -> bool:
        """Normal mode with one connector: the manager never limits (the firmware's lone EVSE) and,
        without EV meter readings (their staleness is timed) and a limiting grid relay, its decision depends only on the settings
        and the connector's status -- so the 2-s cycle may sleep until one of them changes."""
        d = self.previous
        return (d is not None and self.settings.mode is Mode.NORMAL and len(d.connectors) == 1
                and not self.manager.meters.ev and not self.manager.grid_relay_limiting)

    # ------------------------------------------------------------------ inputs
    def _on_item(self, item: Any) -> None:
        if isinstance(item, MeterReading):
            if item.connector == 0 and self.mains_source != "meter":
                return
            if item.connector != 0 and not self.ev_meters:
                return  # the connectors' kWh meters take part in MaxCircuit only when configured
            try:
                ask = getattr(getattr(self.station, "board", None), "charging_at_reading", None)  # RS485 master:
                charging = ask(item) if ask is not None and item.connector == 0 else None  # TotalCurrent then
                self.manager.feed_meter_reading(self.clock.monotonic(), item, charging)
            except ValueError as exc:
                log.warning("energy_meter_reading_refused", connector=item.connector, error=str(exc))
            if item.connector != 0:
                self._wake.set()
            return
        self._wake.set()  # a board event or a controller output: the connector's status may have changed
        if isinstance(item, GridRelayReading):
            if item.limiting != self.manager.grid_relay_limiting:
                log.warning("grid_relay", limiting=item.limiting,
                            max_sum_mains_a=self.settings.grid_relay_max_sum_mains_a)
            self.manager.feed_grid_relay(self.clock.monotonic(), item.limiting)
            self._spawn_step()
        elif isinstance(item, OfferedCurrentChanged):
            old = self._bindings.get(item.connector)
            if old is None or old[1] != item.binding_limit:
                log.info("binding_limit", connector=item.connector, offered_a=item.offered_a,
                         binding_limit=item.binding_limit, previous=old[1] if old else None)
            self._bindings[item.connector] = (item.offered_a, item.binding_limit)

    def feed_mains_api(self, l1: float, l2: float, l3: float) -> None:
        """Mains currents from the API (A per phase, signed).  Raises ValueError when the mains meter is
        not of type "api" or a value is bad (the message names the field)."""
        if self.mains_source != "api":
            raise SettingsError("mains_meter", f"the mains meter is {self.mains_source!r}, not 'api'")
        self.manager.feed_mains(self.clock.monotonic(), l1, l2, l3)
        self._wake.set()

    def feed_ev_meter_api(self, l1: float, l2: float, l3: float, power_w: float | None = None,
                          energy_wh: float | None = None) -> None:
        """The EV circuit meter from the API (A per phase): the manager's circuit / sub-panel meter."""
        now = self.clock.monotonic()
        self.manager.feed_ev_meter(now, 0, l1, l2, l3)
        self.ev_meter_api = EvMeterApiReading(now, (float(l1), float(l2), float(l3)), power_w, energy_wh)
        self._wake.set()

    def feed_grid_relay_api(self, limiting: bool) -> None:
        """The grid relay state from the API (a control box read by home automation)."""
        self._on_item(GridRelayReading(limiting))

    async def request_phases(self, phases: int | None) -> None:
        """A manual 1-/3-phase request (None withdraws it); ValueError naming ``phases`` without C2.
        The switch itself happens with the contactors open (C -> C1 -> B1, C2 changed, resume)."""
        async with self._lock:
            self.manager.request_phases(phases)
            log.info("phases_requested", phases=phases)
        await self.step()

    def _spawn_step(self) -> None:
        """Run a cycle soon (an input that must act before the next 2-s cycle, e.g. the grid relay)."""
        task = asyncio.ensure_future(self.step())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def feed_battery_api(self, current_a: float) -> None:
        """Home battery current (A, + = charging); valid for 60 s, used in Solar mode only."""
        self.manager.feed_battery(self.clock.monotonic(), current_a)
        self._wake.set()

    # ------------------------------------------------------------------ settings
    async def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply API settings (validated as a whole; SettingsError names the field and nothing changes),
        persist them, and push the override limit.  Returns the new settings document."""
        async with self._lock:
            unknown = [k for k in changes if k not in API_SETTINGS]
            if unknown:
                raise SettingsError(unknown[0], f"unknown setting; allowed: {', '.join(API_SETTINGS)}")
            plain = {k: v for k, v in changes.items() if k != "override_current_a"}
            new = self.settings.updated(plain)
            override = self.override_a
            if "override_current_a" in changes:
                override = _check_override(changes["override_current_a"], new)
            elif new.mode == Mode.SOLAR and override is not None:
                override = None  # entering Solar clears the override (firmware)
                log.info("override_cleared", reason="solar mode")
            else:
                override = _check_override(override, new)
            old_override = self.override_a
            self.manager.update_settings(new)
            self._wake.set()
            self.override_a = override
            if override != old_override:
                await self.station.submit(SetLimit(0, Limit.OVERRIDE, override))
            doc = settings_to_api(new, override)
            if self.store is not None:
                try:
                    self.store.save(doc)
                except OSError as exc:
                    log.error("energy_settings_not_saved", path=str(self.store.path), error=str(exc))
            log.info("energy_settings_changed", **{k: changes[k] for k in changes})
        await self.step()
        return doc

    def settings_document(self) -> dict[str, Any]:
        return settings_to_api(self.settings, self.override_a)

    # ------------------------------------------------------------------ the cycle
    async def step(self) -> EnergyDecision:
        """One regulation cycle now: feed the house signals, step the manager, submit the commands."""
        async with self._lock:
            began = time.perf_counter()  # CPU work of the cycle (for /metrics), not program time
            now = self.clock.monotonic()
            if self.house is not None:
                battery = self.house.battery_a()
                if battery is not None:
                    self.manager.feed_battery(now, battery)
                sub = self.house.subpanel_a()
                if sub is not None:
                    self.manager.feed_ev_meter(now, 0, *sub)
            caps = self.station.capabilities
            statuses = [ev_status_from_snapshot(s, max_current_a=self.settings.max_current_a,
                                                hardware_max_a=connector_max_a(caps, s.connector))
                        for s in self.station.snapshots()]
            decision = self.manager.step(now, statuses)
            commands = decision.commands(self.previous)
            self.previous = decision
            self.cycles += 1
            for command in commands:
                await self.station.submit(command)
            self._tell_board(decision)
            self._report(decision, commands)
            elapsed = time.perf_counter() - began
            for observer in self.cycle_observers:
                observer(elapsed)
            return decision

    def _tell_board(self, decision: EnergyDecision) -> None:
        """Boards whose units ask the master before they start (SmartEVSE RS485 nodes: COMM_B /
        COMM_C) learn each cycle whether current is available per connector (the LESS_6A verdict)."""
        advise = getattr(getattr(self.station, "board", None), "set_current_available", None)
        if advise is None:
            return
        for n, d in decision.connectors.items():
            advise(n, not d.less_6a, d.reason)

    def _report(self, decision: EnergyDecision, commands: list[Any]) -> None:
        if decision.stale_mains and "ct_nocomm" not in self.faults:
            self.faults.add("ct_nocomm")
            log.warning("energy_fault", code="ct_nocomm", active=True, detail=decision.explanation)
        elif not decision.stale_mains and "ct_nocomm" in self.faults:
            self.faults.discard("ct_nocomm")
            log.warning("energy_fault", code="ct_nocomm", active=False)
        if commands:
            # routine regulation steps at debug; pauses, clears (the binding name moved) and phase
            # requests at info
            routine = all(isinstance(c, SetLimit) and c.amps is not None and c.amps >= self.settings.min_current_a
                          for c in commands)
            (log.debug if routine else log.info)("energy_commands", commands=[_describe(c) for c in commands],
                                                 explanation=decision.explanation)
        elif decision.explanation != self._last_explanation:
            log.debug("energy_decision", explanation=decision.explanation)
        self._last_explanation = decision.explanation

    def grid_relay_status(self) -> dict[str, Any]:
        """The grid relay for the local API: limiting or not, the budget, each connector's limit."""
        d = self.manager.last
        return {
            "limiting": self.manager.grid_relay_limiting,
            "limit_on_contact": self.grid_relay_limit_on,
            "max_sum_mains_a": self.settings.grid_relay_max_sum_mains_a,
            "connectors": [{"id": n, "limit_a": c.limits.get(Limit.GRID_RELAY), "phases": c.phases}
                           for n, c in sorted(d.connectors.items())] if d is not None else [],
        }

    def status(self) -> dict[str, Any]:
        """The energy manager's view for the local API."""
        d = self.manager.last
        doc: dict[str, Any] = {
            "mode": self.settings.mode.value,
            "mains_meter": self.mains_source,
            "faults": sorted(self.faults),
            "override_current_a": self.override_a,
            "cycles": self.cycles,
            "grid_relay_limiting": self.manager.grid_relay_limiting,
            "requested_phases": self.manager.requested_phases,
            "battery_age_s": self.manager.meters.battery_age(self.clock.monotonic()),
        }
        if self.ev_meter_api is not None:
            r = self.ev_meter_api
            doc["ev_meter"] = {"current_a": list(r.current_a), "power_w": r.power_w, "energy_wh": r.energy_wh,
                               "age_s": round(self.clock.monotonic() - r.at, 1)}
        if d is not None:
            doc.update({
                "explanation": d.explanation,
                "stale_mains": d.stale_mains,
                "mains_a": list(d.mains_a) if d.mains_a is not None else None,
                "isum_a": d.isum_a,
                "battery_a": d.battery_a,
                "iset_balanced_a": d.iset_balanced_a,
                "shortage": d.shortage,
                "less_6a": d.less_6a,
                "solar_stop_timer_s": d.solar_stop_timer_s,
                "max_sum_mains_timer_s": d.max_sum_mains_timer_s,
                "phase_switch_timer_s": d.phase_switch_timer_s,
                "warnings": list(d.warnings),
                "connectors": [
                    {"id": n, "limits": dict(c.limits), "phases": c.phases, "allocated_a": c.allocated_a,
                     "binding": c.binding, "less_6a": c.less_6a, "charge_delay_s": round(c.charge_delay_s, 1),
                     "reason": c.reason}
                    for n, c in sorted(d.connectors.items())
                ],
            })
        return doc


def connector_max_a(capabilities: Any, connector: int) -> float:
    """The hardware maximum of one connector: a per-connector value in ``capabilities.extra``
    (``connector<n>.max_current_a``, the MaxCurrent of an RS485 node) or the board's maximum."""
    board_max = float(capabilities.max_current_a)
    raw = getattr(capabilities, "extra", {}).get(f"connector{connector}.max_current_a")
    try:
        return min(board_max, float(raw)) if raw is not None else board_max
    except (TypeError, ValueError):
        return board_max


def _check_override(value: Any, settings: EnergySettings) -> float | None:
    """The override current: None (off) or MinCurrent..MaxCurrent A; refused in Solar mode."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingsError("override_current_a", f"must be a number or null, got {value!r}")
    if settings.mode == Mode.SOLAR:
        raise SettingsError("override_current_a", "not accepted in solar mode (only null)")
    if not settings.min_current_a <= value <= settings.max_current_a:
        raise SettingsError("override_current_a", f"must be within {settings.min_current_a}.."
                            f"{settings.max_current_a} A (MinCurrent..MaxCurrent) or null, got {value:g}")
    return float(value)


def _describe(command: Any) -> str:
    if isinstance(command, SetLimit):
        return f"c{command.connector} {command.name}={command.amps}"
    return f"c{command.connector} phases={getattr(command, 'phases', '?')}"


__all__ = ["API_SETTINGS", "GRID_RELAY_CONTACTS", "MAINS_SOURCES", "EnergyService", "HouseSignals", "SettingsStore",
           "settings_to_api"]
