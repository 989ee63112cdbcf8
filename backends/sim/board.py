"""The async simulated board: a :class:`SimModel` driven by the program's Clock.

A pump task sleeps until the model's next event time (or until a command/control wakes it), runs
the model up to ``clock.monotonic()`` and queues the events for :meth:`SimBoard.events`.
Works in real time and in virtual time alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from backends.sim.model import SimModel
from backends.sim.options import SimOptions
from hal.clock import Clock, TimerHandle
from hal.types import (
    BoardCapabilities,
    HalCommand,
    HalEvent,
    MeterReading,
    PilotMode,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
)


class _Part:
    def __init__(self, board: SimBoard, connector: int) -> None:
        self._board = board
        self._n = connector


class SimPilot(_Part):
    async def set_pilot(self, mode: PilotMode, duty_permille: int, current_a: float) -> None:
        self._board.execute(SetPilot(self._n, mode, duty_permille, current_a))


class SimContactors(_Part):
    async def set_contactors(self, c1: bool, c2: bool) -> None:
        self._board.execute(SetContactors(self._n, c1, c2))


class SimLock(_Part):
    async def set_locked(self, locked: bool) -> None:
        self._board.execute(SetLock(self._n, locked))


class SimMeter(_Part):
    def latest(self) -> MeterReading | None:
        return self._board.latest_meter.get(self._n)


class SimRcd(_Part):
    async def self_test(self) -> None:
        """Press the test button: the RCD trips and releases (a trip is latched by the controller)."""
        self._board.model.inject_fault(self._n, "rcd", True, now=self._board.clock.monotonic())
        self._board.model.inject_fault(self._n, "rcd", False, now=self._board.clock.monotonic())
        self._board.wake()

    async def reset(self) -> None:
        self._board.model.inject_fault(self._n, "rcd", False, now=self._board.clock.monotonic())
        self._board.wake()


class SimConnectorParts:
    def __init__(self, board: SimBoard, n: int) -> None:
        caps = board.capabilities
        self.pilot = SimPilot(board, n)
        self.contactors = SimContactors(board, n)
        self.lock = SimLock(board, n) if caps.has_lock else None
        self.meter = SimMeter(board, n)
        self.rcd = SimRcd(board, n)


class SimBoard:
    """hal.Board implementation backed by :class:`SimModel`."""

    def __init__(self, clock: Clock, options: SimOptions | None = None) -> None:
        self.clock = clock
        self.options = options or SimOptions()
        self.model = SimModel(self.options)
        self.capabilities: BoardCapabilities = self.model.capabilities
        self._parts = {n: SimConnectorParts(self, n) for n in self.model.connectors}
        self._queue: asyncio.Queue[HalEvent | None] = asyncio.Queue()
        self._wake: asyncio.Event | None = None
        self._timer: TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.latest_meter: dict[int, MeterReading] = {}
        #: optional observer of every command that reaches the board: (command, clock.monotonic())
        self.on_command: Callable[[HalCommand, float], None] | None = None
        #: observers of the simulation controls (the trace recorder): listener(action, **arguments)
        self.control_listeners: list[Callable[..., None]] = []
        #: firmware images handed to install_firmware, in order
        self.installed_firmware: list[Path] = []

    # ------------------------------------------------------------------ hal.Board
    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._pump(), name="sim-board")

    async def close(self) -> None:
        await self.clock.cancel_and_wait(self._task)
        self._task = None
        if self._timer is not None:
            self._timer.cancel()
        self._queue.put_nowait(None)

    def connector(self, number: int) -> SimConnectorParts:
        try:
            return self._parts[number]
        except KeyError:
            raise ValueError(f"connector must be 1..{len(self._parts)}, got {number!r}") from None

    async def events(self) -> AsyncIterator[HalEvent]:
        while True:
            ev = await self._queue.get()
            if ev is None:
                return
            yield ev

    async def request_state(self, connector: int, state: str) -> None:
        raise ValueError("the simulated board does not own its state machine; request_state is not supported")

    async def set_authorization(self, connector: int, allowed: bool) -> None:
        self.execute(SetAuthorization(connector, allowed))

    # ------------------------------------------------------------------ plumbing
    def execute(self, command: HalCommand) -> None:
        now = self.clock.monotonic()
        if self.on_command is not None:
            self.on_command(command, now)
        self.model.apply(command, now)
        self.wake()

    def wake(self) -> None:
        """Something changed: queue the resulting events now and let the pump re-arm its timer."""
        if self._wake is not None:
            self._drain()
            self._wake.set()

    def _drain(self) -> None:
        for ev in self.model.advance(self.clock.monotonic()):
            if isinstance(ev, MeterReading):
                self.latest_meter[ev.connector] = ev
            self._queue.put_nowait(ev)

    async def _pump(self) -> None:
        assert self._wake is not None
        model, clock = self.model, self.clock
        while True:
            self._wake.clear()
            self._drain()
            nxt = model.next_event_time()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if nxt is not None:
                self._timer = clock.call_at(nxt, self._wake.set)
            await self._wake.wait()

    # ------------------------------------------------------------------ controls (local API, scenarios)
    def _now(self) -> float:
        return self.clock.monotonic()

    def _control(self, action: str, **arguments: Any) -> None:
        for listener in list(self.control_listeners):
            listener(action, **arguments)

    def plug(self, connector: int, cable_a: float = 32.0) -> None:
        self.model.plug(connector, cable_a, now=self._now())
        self._control("plug", connector=connector, cable_a=cable_a)
        self.wake()

    def unplug(self, connector: int) -> None:
        self.model.unplug(connector, now=self._now())
        self._control("unplug", connector=connector)
        self.wake()

    def set_ev(self, connector: int, **changes: Any) -> None:
        self.model.set_ev(connector, now=self._now(), **changes)
        self._control("ev", connector=connector, **{k: v for k, v in changes.items() if v is not None})
        self.wake()

    def set_temperature(self, connector: int, celsius: float) -> None:
        self.model.set_temperature(connector, celsius, now=self._now())
        self.wake()

    def present_rfid(self, id_tag: str, connector: int = 0) -> None:
        self.model.present_rfid(id_tag, connector, now=self._now())
        self._control("rfid", id_tag=id_tag, connector=connector)
        self.wake()

    def set_grid_relay(self, limiting: bool) -> None:
        self.model.set_grid_relay(limiting, now=self._now())
        self._control("grid_relay", limiting=limiting)
        self.wake()

    def inject_fault(self, connector: int, fault: str, active: bool) -> None:
        self.model.inject_fault(connector, fault, active, now=self._now())
        self._control("fault", connector=connector, fault=fault, active=active)
        self.wake()

    async def install_firmware(self, path: Path) -> bool:
        """The simulated board accepts any firmware file that exists (a hardware backend may refuse)."""
        image = Path(path)
        if not await asyncio.to_thread(image.is_file):
            return False
        self.installed_firmware.append(image)
        return True

    # read-outs, as of now
    def _sync(self) -> None:
        self.model.sync(self._now())
        self.wake()

    def ev_current(self, connector: int) -> tuple[float, float, float]:
        self._sync()
        return self.model.ev_current(connector)

    def soc(self, connector: int) -> float:
        self._sync()
        return self.model.soc(connector)

    def energy_wh(self, connector: int) -> float:
        self._sync()
        return self.model.energy_wh(connector)

    def state(self, connector: int) -> dict[str, Any]:
        self._sync()
        return self.model.state(connector)
