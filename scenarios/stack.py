"""The real stack a scenario runs against: the production :class:`~chargepoint.runtime.Runtime`, built
by :func:`chargepoint.app.build_runtime` exactly as ``chargepoint run`` builds it (sim backend,
controller, station, energy service, OCPP client; no local API), on one clock (a VirtualClock for
replays), connected over a loopback websocket to the scenario's test CSMS.

The scenario's charge point (:class:`~scenarios.schema.ChargePointSpec`) becomes a
:class:`~chargepoint.config.Config` (:func:`scenario_config`).  What a scenario adds plugs into the
runtime's seams, not into its own wiring:

* the test CSMS with the scenario's behaviour -- outside the runtime, like the embedded CSMS of
  ``chargepoint run``;
* the scripted mains meter of ``mains`` steps -- a source factory (a new meter for every station);
* the initial OCPP configuration keys, a shorter reconnect cap and a fixed backoff seed -- the
  OCPP tuning of ``build_runtime``;
* the runner's observers -- services started with every station.

An OCPP Reset restarts the whole station in-process, as in ``chargepoint run``: the board, the
controller and the services are built again (the sim board's EV and house start afresh, as they do
after a Reset of ``chargepoint run --backend sim``), so steps always act on :attr:`Stack.board`,
the board of the current station.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from backends.sim.board import SimBoard
from backends.sim.house import SimHouse
from chargepoint.app import OcppTuning, StationSubscription, build_runtime
from chargepoint.clock import Clock
from chargepoint.config import Config, load_config
from chargepoint.csms import Behaviour, Frame, TestCsms
from chargepoint.runtime import Runtime, ServiceFactory, launch
from chargepoint.station import Station
from hal.interfaces import Board
from hal.types import MeterReading
from scenarios import rs485
from scenarios.schema import ChargePointSpec

#: OCPP client settings of a replay that the configuration file does not have: reconnect within 30 s
#: (a scenario's offline periods are short), a fixed seed for the backoff jitter (the same timeline
#: every run)
RECONNECT_MAX_S = 30.0
RNG_SEED = 1


def scenario_config(spec: ChargePointSpec, data_dir: str | Path) -> Config:
    """The configuration of ``chargepoint run`` that builds the scenario's charge point (validated by
    :func:`load_config`; the environment is not read: a replay does not depend on the shell)."""
    config = load_config(env={}, overrides={
        "chargepoint.id": spec.id, "chargepoint.data_dir": str(data_dir),
        "backend.name": "sim", "backend.connectors": spec.connectors,
        "backend.max_current_a": spec.hardware_max_current_a, "backend.phases": spec.phases,
        "backend.has_lock": spec.has_lock,
        "controller.max_current_a": spec.max_current_a, "controller.min_current_a": spec.min_current_a,
        "controller.fixed_cable": spec.fixed_cable,
        "ocpp.vendor": spec.vendor, "ocpp.model": spec.model, "ocpp.serial": spec.serial,
        "ocpp.firmware": spec.firmware,
        "http.listen": "",  # no local API: the scenario drives the board itself
    })
    # the mains readings of a scenario come from a meter on the station: the sim house or mains steps
    return replace(config, sim=dict(spec.sim), energy={"mains_meter": "meter", **spec.energy})


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A throw-away data directory, in memory where the system has one: the OCPP store commits with
    synchronous=FULL, and fsyncs to disk would dominate a virtual-time replay."""
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return tempfile.TemporaryDirectory(prefix=prefix, dir=where)


class MainsMeter:
    """An extra event source of the station: mains (connector 0) readings given by ``mains`` steps."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[MeterReading | None] = asyncio.Queue()
        self.energy_wh = 0.0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._queue.put_nowait(None)

    def push(self, currents: Sequence[float], voltage: float) -> MeterReading:
        reading = MeterReading(0, (voltage, voltage, voltage), (currents[0], currents[1], currents[2]),
                               voltage * sum(currents), self.energy_wh)
        self._queue.put_nowait(reading)
        return reading

    async def events(self) -> AsyncIterator[MeterReading]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item


class Stack:
    """Start/stop the scenario's CSMS and the production runtime."""

    def __init__(self, clock: Clock, spec: ChargePointSpec, behaviour: dict[str, Any],
                 data_dir: str | Path | None = None,
                 observers: Sequence[Callable[[Any], None]] = (),
                 frame_listeners: Sequence[Callable[[Frame], None]] = ()) -> None:
        self.clock = clock
        self.spec = spec
        self.behaviour_changes = behaviour
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = scratch_dir("scenario-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.config = scenario_config(spec, self.data_dir)
        #: the emulated RS485 bus of a ``backend: smartevse-rs485`` charge point (scenarios/rs485.py)
        self.nodes = rs485.NodeRig(clock, spec) if spec.backend == rs485.BACKEND else None
        if self.nodes is not None:
            self.config = self.nodes.config(self.config)
        #: station listeners subscribed to every station the runtime builds (before its first step)
        self.observers = list(observers)
        #: listeners of the CSMS frame log, attached before the charge point connects
        self.frame_listeners = list(frame_listeners)
        self.csms: TestCsms | None = None
        self.runtime: Runtime | None = None
        self.mains = MainsMeter()  # replaced with every station
        self._task: asyncio.Task[None] | None = None

    # -- the current station's parts -------------------------------------------------------------
    @property
    def station(self) -> Station:
        assert self.runtime is not None and self.runtime.station is not None, "the stack is not started"
        return self.runtime.station

    @property
    def board(self) -> SimBoard:
        board = self.station.board
        assert isinstance(board, SimBoard)
        return board

    def energy_wh(self, connector: int) -> float:
        """The energy the connector's EV meter counted (Wh): the sim board's, or the RS485 node's."""
        if self.nodes is not None:
            return self.nodes.energy_wh(connector)
        return self.board.energy_wh(connector)

    @property
    def house(self) -> SimHouse | None:
        """The sim house (``sim.house``) of the current station, else None."""
        return self.runtime.house if self.runtime is not None else None

    @property
    def restarts(self) -> int:
        """In-process restarts of the runtime so far (OCPP Resets)."""
        return self.runtime.starts - 1 if self.runtime is not None else 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def _mains_source(self, runtime: Runtime, board: Board) -> MainsMeter:
        self.mains = MainsMeter()
        return self.mains

    async def start(self) -> None:
        behaviour = Behaviour()
        behaviour.update(self.behaviour_changes)
        # keep-alive pings off on the CSMS side: they would only add frames to a virtual-time replay
        self.csms = TestCsms(self.clock, http_port=None, console_log=False, behaviour=behaviour, ping_interval=None)
        self.csms.frame_log.listeners.extend(self.frame_listeners)
        await self.csms.start()
        if self.nodes is not None:
            await self.nodes.start()
        tuning = OcppTuning(options={"config": dict(self.spec.config), "reconnect_max_s": RECONNECT_MAX_S},
                            rng_seed=RNG_SEED)
        observers: list[ServiceFactory] = [_subscription(listener) for listener in self.observers]
        self.runtime = build_runtime(self.config, self.clock, csms_url=self.csms.url, ocpp=tuning,
                                     sources=[self._mains_source], services=observers)
        self._task = await launch(self.runtime)

    def check(self) -> None:
        """Raise what stopped the runtime, if it stopped on its own (a failed restart, a crash)."""
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the runtime stopped before the scenario ended")

    async def stop(self) -> None:
        if self.runtime is not None and self._task is not None:
            self.runtime.stop_requested.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.csms is not None:
            await self.csms.stop()
        if self.nodes is not None:
            await self.nodes.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()


def _subscription(listener: Callable[[Any], None]) -> ServiceFactory:
    """A service factory that subscribes ``listener`` to the runtime's station."""
    def factory(rt: Runtime) -> StationSubscription:
        return StationSubscription(rt, listener)
    return factory
