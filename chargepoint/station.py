"""The async shell around the controller: board events in, controller steps, HAL commands out.

The :class:`Station` is the only object that touches both the board and the controller.  OCPP,
the local API and the energy manager talk to the station:

* ``await station.submit(input)`` -- feed an input (Authorize, SetLimit, ...) to the controller and
  execute the resulting commands on the board before returning;
* ``station.subscribe(listener)`` -- be told synchronously of every board event and every
  controller output, in order;
* ``station.snapshot(n)`` / ``station.latest_meter(n)`` -- read the state.

Timers: after every step the station (re)arms one timer at ``controller.next_deadline()`` that
feeds a ``Tick``; nothing polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog

from chargepoint.clock import Clock
from chargepoint.controller import Controller
from chargepoint.controller.types import (
    ConnectorSnapshot,
    ControllerInput,
    ControllerOutput,
    FaultChanged,
    StateChanged,
    Tick,
)
from hal.interfaces import Board
from hal.types import (
    BoardCapabilities,
    BoardFault,
    GridRelayReading,
    HalEvent,
    MeterReading,
    RequestBoardState,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
)

log = structlog.get_logger("station")

Listener = Callable[[Any], None]


class Station:
    """Moves events between one board (plus extra event sources such as Modbus meters) and the controller."""

    def __init__(
        self,
        clock: Clock,
        board: Board,
        controller: Controller,
        *,
        backend_name: str = "sim",
        extra_sources: list[Any] | None = None,
    ) -> None:
        self.clock = clock
        self.board = board
        self.controller = controller
        self.backend_name = backend_name
        self._extra_sources = list(extra_sources or [])
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._meters: dict[int, MeterReading] = {}
        self._running = False
        self._stopped = asyncio.Event()
        self.steps = 0

    # -- properties ---------------------------------------------------------------------
    @property
    def connectors(self) -> int:
        return self.board.capabilities.connectors

    @property
    def capabilities(self) -> BoardCapabilities:
        return self.board.capabilities

    def snapshot(self, connector: int) -> ConnectorSnapshot:
        return self.controller.snapshot(connector)

    def snapshots(self) -> list[ConnectorSnapshot]:
        return self.controller.snapshots()

    def latest_meter(self, connector: int) -> MeterReading | None:
        """Latest meter reading of a connector's EV meter (1..n) or the mains meter (0)."""
        return self._meters.get(connector)

    # -- listeners ----------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _publish(self, item: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(item)
            except Exception:  # a listener must never break the control loop
                log.exception("listener_failed", listener=repr(listener), item=type(item).__name__)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the board and the event pumps; the controller's initial commands are executed first."""
        await self.board.start()
        for source in self._extra_sources:
            await source.start()
        async with self._lock:
            outputs = self.controller.start(self.clock.monotonic())
            await self._execute(outputs)
            self._arm_timer()
        self._running = True
        self._tasks.append(asyncio.create_task(self._pump(self.board.events()), name="board-events"))
        for source in self._extra_sources:
            self._tasks.append(asyncio.create_task(self._pump(source.events()), name="meter-events"))

    async def stop(self) -> None:
        """Leave the hardware safe, then stop: every connector gets a board-wide "shutdown" fault, so
        the controller opens the contactors, withdraws the PWM and the access bit in one step, and
        the board hears it before its port is closed (a board that runs its own state machine would
        otherwise keep charging unsupervised)."""
        if self._running:
            try:
                await self.submit(BoardFault(0, "shutdown", True, "charge point stopping"))
            except Exception:
                log.exception("shutdown_safe_state_failed")
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.clock.cancel_and_wait(*self._tasks)
        self._tasks.clear()
        for source in self._extra_sources:
            await source.close()
        await self.board.close()
        self._stopped.set()

    async def install_firmware(self, path: Path) -> bool:
        """Delegate a firmware install to the backend; boards without the ability refuse."""
        install = getattr(self.board, "install_firmware", None)
        if install is None:
            return False
        return bool(await install(path))

    # -- the loop -----------------------------------------------------------------------
    async def _pump(self, events: AsyncIterator[HalEvent]) -> None:
        async for event in events:
            if isinstance(event, MeterReading):
                self._meters[event.connector] = event
            self._publish(event)
            if (isinstance(event, MeterReading) and event.connector == 0) or isinstance(event, GridRelayReading):
                continue  # the mains meter and the grid relay feed the energy manager, not the controller
            await self.submit(event)

    async def submit(self, inp: ControllerInput) -> list[ControllerOutput]:
        """Run one controller step and execute its commands on the board before returning."""
        async with self._lock:
            outputs = self.controller.handle(inp, self.clock.monotonic())
            self.steps += 1
            await self._execute(outputs)
            self._arm_timer()
        return outputs

    async def _execute(self, outputs: list[ControllerOutput]) -> None:
        for out in outputs:
            if isinstance(out, SetPilot):
                await self.board.connector(out.connector).pilot.set_pilot(
                    out.mode, out.duty_permille, out.current_a
                )
            elif isinstance(out, SetContactors):
                await self.board.connector(out.connector).contactors.set_contactors(out.c1, out.c2)
            elif isinstance(out, SetLock):
                lock = self.board.connector(out.connector).lock
                if lock is not None:
                    await lock.set_locked(out.locked)
            elif isinstance(out, SetAuthorization):
                setter = getattr(self.board, "set_authorization", None)
                if setter is not None:
                    await setter(out.connector, out.allowed)
            elif isinstance(out, RequestBoardState):
                await self.board.request_state(out.connector, out.state)
            elif isinstance(out, StateChanged):
                log.info(
                    "state_changed",
                    connector=out.connector,
                    old=str(out.old),
                    new=str(out.new),
                    offered_a=out.snapshot.offered_current_a,
                )
            elif isinstance(out, FaultChanged):
                log.warning("fault", connector=out.connector, fault=str(out.fault), active=out.active,
                            detail=out.detail)
            self._publish(out)

    def _arm_timer(self) -> None:
        deadline = self.controller.next_deadline()
        if deadline == self._timer_deadline and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is None:
            return
        self._timer = self.clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_deadline = None
        if self._running:
            task = asyncio.create_task(self.submit(Tick()), name="controller-tick")
            self._tasks.append(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("tick_failed", error=repr(task.exception()))
