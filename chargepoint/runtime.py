"""Wiring: config -> clock -> backend -> controller -> station, then the services around it.

``Runtime.run()`` starts everything and waits until stopped.  An OCPP Reset asks for a restart:
the runtime stops every service and the station and builds them again in-process (persistent
state lives in SQLite under the data directory).  This is the one composition root: ``chargepoint
run`` (:func:`chargepoint.app.build_runtime`), scenario replay (``scenarios/stack.py``), the HIL
harness and the test rigs all run it.

Seams for what a harness adds around the production wiring, all rebuilt with every station:

* ``service_factories`` -- services that live as long as one station (OCPP client, local API,
  trace recorder, a scenario's observers);
* ``source_factories`` -- extra event sources of the station besides the configured ``[[meters]]``
  and the simulated house (e.g. the scripted mains meter of a scenario's ``mains`` steps).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from backends import registry
from chargepoint.clock import Clock
from chargepoint.config import Config
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings
from chargepoint.station import Station
from hal.interfaces import Board
from hal.types import HalEvent

if TYPE_CHECKING:
    from backends.sim.house import SimHouse
    from chargepoint.services.energy import EnergyService

log = structlog.get_logger("runtime")


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class EventSource(Protocol):
    """An extra event source of the station (a Modbus meter, the simulated house, a scripted meter)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def events(self) -> AsyncIterator[HalEvent]: ...


class OcppStatus(Protocol):
    """What the local API and the logs read of the running OCPP client (``chargepoint.app.OcppFacade``)."""

    def status(self) -> dict[str, Any]: ...

    def transaction_id(self, connector: int) -> int | None: ...

    def connector_status(self, connector: int) -> str | None: ...


ServiceFactory = Callable[["Runtime"], Service]
SourceFactory = Callable[["Runtime", Board], EventSource]


def controller_settings(config: Config) -> ControllerSettings:
    c = config.controller
    return ControllerSettings(
        connectors=config.backend.connectors,
        max_current_a=c.max_current_a,
        min_current_a=c.min_current_a,
        phases=config.backend.phases,
        fixed_cable=c.fixed_cable,
        has_lock=config.backend.has_lock and not c.fixed_cable,
        unlock_on_session_end=c.unlock_on_session_end,
        unlock_on_unplug=c.unlock_on_unplug,
        ventilation_allowed=c.ventilation_allowed,
        max_temperature_c=c.max_temperature_c,
        firmware_pp_table=c.firmware_pp_table,
        activation_mode=c.activation_mode,
        firmware_b_current=c.firmware_b_current,
    )


def backend_options(config: Config) -> dict[str, Any]:
    b = config.backend
    options: dict[str, Any] = {
        "connectors": b.connectors,
        "max_current_a": b.max_current_a,
        "phases": b.phases,
        "has_lock": b.has_lock and not config.controller.fixed_cable,
        "fixed_cable": config.controller.fixed_cable,
        "port": b.serial,
        "baudrate": b.baudrate,
        "watchdog_s": b.watchdog_s,
        "rcmon": b.rcmon,
        "max_current_setting_a": config.controller.max_current_a,
        "min_current_a": config.controller.min_current_a,
    }
    options.update(config.sim)
    if b.name == "smartevse-rs485":  # the node bus: its nodes, its mains meter, the settings it pushes
        options.update(nodes=b.nodes, mains_meter=b.mains_meter,
                       **{k: config.energy[k] for k in ("mode", "max_mains_a", "max_circuit_a") if k in config.energy})
    if b.name == "smartevse" and any(_is_ev_meter_of_connector_1(m) for m in config.meters):
        # a host-read Modbus EV meter wins over the CH32's own EV-meter lines (docs/HARDWARE.md)
        options["external_ev_meter"] = True
    return options


def _is_ev_meter_of_connector_1(meter: Mapping[str, Any]) -> bool:
    return str(meter.get("role", "ev")).lower() == "ev" and str(meter.get("connector", 1)) == "1"


@dataclass
class Runtime:
    config: Config
    clock: Clock
    station: Station | None = None
    #: builders of the services that live as long as one station (OCPP client, local API, ...);
    #: called again after every in-process restart, because each start builds a new station.
    service_factories: list[ServiceFactory] = field(default_factory=list)
    #: builders of extra event sources of the station, called with the new board on every start
    source_factories: list[SourceFactory] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    ocpp: OcppStatus | None = None  # facade of the running OCPP client (status, transaction ids), or None
    restart_requested: asyncio.Event = field(default_factory=asyncio.Event)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    #: set while a station and all its services are up; cleared when they stop
    started: asyncio.Event = field(default_factory=asyncio.Event)
    energy: EnergyService | None = None  # while running
    house: SimHouse | None = None  # the simulated house (sim backend with ``[sim] house``) while running
    #: how many stations were built: 1 + the in-process restarts so far
    starts: int = 0

    async def start(self) -> None:
        cfg = self.config
        board = registry.create(cfg.backend.name, self.clock, backend_options(cfg))
        controller = Controller(controller_settings(cfg), board.capabilities)
        sources: list[EventSource] = list(self._create_meters())
        house = self._create_house(board)
        if house is not None:
            sources.append(house)
        sources += [factory(self, board) for factory in self.source_factories]
        self.station = Station(self.clock, board, controller, backend_name=cfg.backend.name, extra_sources=sources)
        self.house = house
        self.starts += 1
        mains = house is not None or any(m.get("role") == "mains" for m in cfg.meters) or bool(
            cfg.backend.name == "smartevse-rs485" and cfg.backend.mains_meter)
        energy = self._create_energy(self.station, house, has_mains_meter=mains)  # a bad [energy] table stops here
        await self.station.start()
        log.info("station_started", backend=cfg.backend.name, connectors=board.capabilities.connectors)
        self.energy = energy
        await energy.start()
        self.services = [factory(self) for factory in self.service_factories]
        for service in self.services:
            await service.start()
        self.started.set()

    def _create_meters(self) -> list[EventSource]:
        if not self.config.meters:
            return []
        from backends.modbus import create_meter

        return [create_meter(self.clock, options) for options in self.config.meters]

    def _create_house(self, board: Board) -> SimHouse | None:
        """The simulated house's mains meter (sim backend with a ``[sim] house`` table), else None."""
        if self.config.backend.name != "sim" or self.config.sim.get("house") is None:
            return None
        from backends.sim.board import SimBoard
        from backends.sim.house import house_source

        assert isinstance(board, SimBoard)
        return house_source(self.clock, board, self.config.sim)

    def _create_energy(self, station: Station, house: SimHouse | None, *, has_mains_meter: bool) -> EnergyService:
        from chargepoint.services.energy import EnergyService

        cfg = self.config
        return EnergyService.from_config(
            self.clock, station, cfg.energy, max_current_a=cfg.controller.max_current_a,
            min_current_a=cfg.controller.min_current_a, data_dir=cfg.data_dir,
            mains_source="meter" if has_mains_meter else "api", house=house)

    async def stop(self) -> None:
        self.started.clear()
        if self.energy is not None:
            await self.energy.stop()
            self.energy = None
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("service_stop_failed", service=type(service).__name__)
        self.services = []
        self.ocpp = None
        if self.station is not None:
            await self.station.stop()
        self.house = None
        log.info("station_stopped")

    async def run(self) -> None:
        """Run until ``stop_requested``; a ``restart_requested`` restarts every part in-process."""
        while True:
            await self.start()
            stop = asyncio.ensure_future(self.stop_requested.wait())
            restart = asyncio.ensure_future(self.restart_requested.wait())
            try:
                await asyncio.wait({stop, restart}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                restart.cancel()
                await self.stop()
            if self.stop_requested.is_set():
                return
            self.restart_requested.clear()
            log.info("runtime_restarting")


async def launch(runtime: Runtime) -> asyncio.Task[None]:
    """``runtime.run()`` in a task, returned once the first station and its services are up.
    An error of the first start is raised here (the task is then done)."""
    task = asyncio.create_task(runtime.run(), name="runtime")
    started = asyncio.ensure_future(runtime.started.wait())
    try:
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        started.cancel()
    if task.done():
        await task  # raises what stopped the start; a stop requested before it simply returns
    return task
