"""Wiring: config -> clock -> backend -> controller -> station, then the services around it.

``Runtime.run()`` starts everything and waits until stopped.  An OCPP Reset asks for a restart:
the runtime stops every service and starts them again in-process (persistent state lives in
SQLite under the data directory).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from backends import registry
from chargepoint.clock import Clock
from chargepoint.config import Config
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings
from chargepoint.station import Station

log = structlog.get_logger("runtime")


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


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
    if b.name == "smartevse" and any(_is_ev_meter_of_connector_1(m) for m in config.meters):
        # a host-read Modbus EV meter wins over the CH32's own EV-meter lines (docs/HARDWARE.md)
        options["external_ev_meter"] = True
    return options


def _is_ev_meter_of_connector_1(meter: dict[str, Any]) -> bool:
    return str(meter.get("role", "ev")).lower() == "ev" and str(meter.get("connector", 1)) == "1"


@dataclass
class Runtime:
    config: Config
    clock: Clock
    station: Station | None = None
    #: builders of the services that live as long as one station (OCPP client, local API, ...);
    #: called again after every in-process restart, because each start builds a new station.
    service_factories: list[Callable[[Runtime], Service]] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    ocpp: Any = None  # facade of the running OCPP client (status, transaction ids), or None
    restart_requested: asyncio.Event = field(default_factory=asyncio.Event)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    energy: Any = None  # chargepoint.services.energy.EnergyService while running

    async def start(self) -> None:
        cfg = self.config
        board = registry.create(cfg.backend.name, self.clock, backend_options(cfg))
        controller = Controller(controller_settings(cfg), board.capabilities)
        meters = self._create_meters()
        house = self._create_house(board)
        if house is not None:
            meters.append(house)
        self.station = Station(self.clock, board, controller, backend_name=cfg.backend.name, extra_sources=meters)
        mains = house is not None or any(m.get("role") == "mains" for m in cfg.meters)
        energy = self._create_energy(house, has_mains_meter=mains)  # a bad [energy] table stops here
        await self.station.start()
        log.info("station_started", backend=cfg.backend.name, connectors=board.capabilities.connectors)
        self.energy = energy
        await energy.start()
        self.services = [factory(self) for factory in self.service_factories]
        for service in self.services:
            await service.start()

    def _create_meters(self) -> list[Any]:
        if not self.config.meters:
            return []
        from backends.modbus import create_meter

        return [create_meter(self.clock, options) for options in self.config.meters]

    def _create_house(self, board: Any) -> Any:
        """The simulated house's mains meter (sim backend with a ``[sim] house`` table), else None."""
        if self.config.backend.name != "sim" or self.config.sim.get("house") is None:
            return None
        from backends.sim.house import house_source

        return house_source(self.clock, board, self.config.sim)

    def _create_energy(self, house: Any, *, has_mains_meter: bool) -> Any:
        from chargepoint.services.energy import EnergyService

        cfg = self.config
        return EnergyService.from_config(
            self.clock, self.station, cfg.energy, max_current_a=cfg.controller.max_current_a,
            min_current_a=cfg.controller.min_current_a, data_dir=cfg.data_dir,
            mains_source="meter" if has_mains_meter else "api", house=house)

    async def stop(self) -> None:
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
