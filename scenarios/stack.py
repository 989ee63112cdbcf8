"""The real stack a scenario runs against: test CSMS <- loopback websocket -> OcppClient -> Station ->
Controller -> sim board, all on one clock (a VirtualClock for replays).

Built the same way as ``chargepoint.runtime.Runtime`` builds it (backend from the registry, controller
settings from the configuration), plus the OCPP client and a scripted mains meter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from backends import registry
from chargepoint.clock import Clock
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings
from chargepoint.csms import Behaviour, TestCsms
from chargepoint.ocpp.client import OcppClient
from chargepoint.ocpp.options import OcppOptions
from chargepoint.station import Station
from hal.types import MeterReading
from scenarios.schema import ChargePointSpec


class MainsMeter:
    """An extra event source of the station: mains (connector 0) readings given by ``mains`` steps."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[MeterReading | None] = asyncio.Queue()
        self.energy_wh = 0.0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._queue.put_nowait(None)

    def push(self, currents: list[float], voltage: float) -> MeterReading:
        reading = MeterReading(0, (voltage, voltage, voltage), (currents[0], currents[1], currents[2]),
                               voltage * sum(currents), self.energy_wh)
        self._queue.put_nowait(reading)
        return reading

    async def events(self) -> Any:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item


class Stack:
    """Start/stop the parts; ``restart_client()`` does what the runtime does on an OCPP Reset."""

    def __init__(self, clock: Clock, spec: ChargePointSpec, behaviour: dict[str, Any],
                 data_dir: str | Path | None = None) -> None:
        self.clock = clock
        self.spec = spec
        self.behaviour_changes = behaviour
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            # a throw-away data directory, in memory where the system has one: the OCPP store commits
            # with synchronous=FULL, and fsyncs to disk would dominate a virtual-time replay
            shm = Path("/dev/shm")
            where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
            self._tmp = tempfile.TemporaryDirectory(prefix="scenario-", dir=where)
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.csms: TestCsms | None = None
        self.board: Any = None
        self.controller: Controller | None = None
        self.station: Station | None = None
        self.client: OcppClient | None = None
        self.mains = MainsMeter()
        self.house: Any = None  # backends.sim.house.SimHouse with chargepoint.sim.house
        self.energy: Any = None  # chargepoint.services.energy.EnergyService with an energy table or a house
        self.restarts = 0
        self._client_task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None

    def backend_options(self) -> dict[str, Any]:
        s = self.spec
        return {"connectors": s.connectors, "max_current_a": s.hardware_max_current_a, "phases": s.phases,
                "has_lock": s.has_lock and not s.fixed_cable, "fixed_cable": s.fixed_cable, **s.sim}

    def controller_settings(self) -> ControllerSettings:
        s = self.spec
        return ControllerSettings(connectors=s.connectors, max_current_a=s.max_current_a,
                                  min_current_a=s.min_current_a, phases=s.phases, fixed_cable=s.fixed_cable,
                                  has_lock=s.has_lock and not s.fixed_cable)

    def ocpp_options(self) -> OcppOptions:
        assert self.csms is not None
        s = self.spec
        return OcppOptions(csms_url=self.csms.url, cp_id=s.id, connectors=s.connectors, vendor=s.vendor, model=s.model,
                           serial=s.serial, firmware=s.firmware, config=dict(s.config), reconnect_min_s=1.0, reconnect_max_s=30.0)

    async def start(self) -> None:
        behaviour = Behaviour()
        behaviour.update(self.behaviour_changes)
        # keep-alive pings off on the CSMS side: they would only add frames to a virtual-time replay
        self.csms = TestCsms(self.clock, http_port=None, console_log=False, behaviour=behaviour, ping_interval=None)
        await self.csms.start()
        self.board = registry.create("sim", self.clock, self.backend_options())
        self.controller = Controller(self.controller_settings(), self.board.capabilities)
        self.station = Station(self.clock, self.board, self.controller, backend_name="sim",
                               extra_sources=[self.mains, *self._house()])
        await self._start_energy()
        await self._start_client()
        self._watch = asyncio.create_task(self._watch_restart(), name="scenario-restart-watch")

    def _house(self) -> list[Any]:
        """The sim house (``sim.house``): a second mains (connector 0) source of the station."""
        from backends.sim.house import house_source

        self.house = house_source(self.clock, self.board, self.spec.sim)
        return [self.house] if self.house is not None else []

    async def _start_energy(self) -> None:
        """The EnergyService (with an ``energy`` table or a house), then the station."""
        from chargepoint.services.energy import EnergyService

        assert self.station is not None
        if self.spec.energy or self.house is not None:
            self.energy = EnergyService.from_config(
                self.clock, self.station, self.spec.energy, max_current_a=self.spec.max_current_a,
                min_current_a=self.spec.min_current_a, data_dir=None, house=self.house)
        await self.station.start()
        if self.energy is not None:
            await self.energy.start()

    async def _start_client(self) -> None:
        self.client = OcppClient(self.clock, self.station, self.ocpp_options(), self.data_dir, rng_seed=1)
        self._client_task = asyncio.create_task(self.client.run(), name="ocpp-client")
        await self.client.ready.wait()

    async def _stop_client(self) -> None:
        if self._client_task is not None:
            self._client_task.cancel()
            await asyncio.gather(self._client_task, return_exceptions=True)
            self._client_task = None

    async def _watch_restart(self) -> None:
        while True:
            assert self.client is not None
            await self.client.restart_requested.wait()
            await self._stop_client()
            self.restarts += 1
            await self._start_client()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        await self._stop_client()
        if self.energy is not None:
            await self.energy.stop()
        if self.station is not None:
            await self.station.stop()
        if self.csms is not None:
            await self.csms.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
