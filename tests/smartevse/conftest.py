"""Fixtures: a CH32 emulator on a real pty and our board connected to it, in real time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from backends.smartevse import SmartEvseV4Board, create_backend
from backends.smartevse.emulator import Ch32Emulator
from chargepoint.clock import RealClock
from hal.types import HalEvent


class EventLog:
    """Collects a board's events with their clock time; tests wait for a predicate."""

    def __init__(self, board: SmartEvseV4Board, clock: RealClock) -> None:
        self.board = board
        self.clock = clock
        self.events: list[tuple[float, HalEvent]] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.board.events():
            self.events.append((self.clock.monotonic(), event))
            self._changed.set()

    def find(self, pred: Callable[[HalEvent], bool], since: float = 0.0) -> tuple[float, HalEvent] | None:
        for t, e in self.events:
            if t >= since and pred(e):
                return t, e
        return None

    async def wait(self, pred: Callable[[HalEvent], bool], *, since: float = 0.0,
                   within_s: float = 3.0) -> tuple[float, HalEvent]:
        deadline = self.clock.monotonic() + within_s
        while True:
            hit = self.find(pred, since)
            if hit is not None:
                return hit
            left = deadline - self.clock.monotonic()
            if left <= 0:
                shown = [e for t, e in self.events if t >= since][-15:]
                raise AssertionError(f"no matching event within {within_s} s; recent: {shown}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await self.clock.wait_for(self._changed.wait(), left)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
def clock() -> RealClock:
    return RealClock()


@pytest.fixture
async def emulator(clock: RealClock) -> AsyncIterator[Ch32Emulator]:
    emu = Ch32Emulator(clock)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def connect(clock: RealClock, emulator: Ch32Emulator) -> AsyncIterator[Callable[..., Any]]:
    """``board, events = await connect(**options)``: a started board on the emulator's pty."""
    made: list[tuple[SmartEvseV4Board, EventLog]] = []

    async def _connect(**options: Any) -> tuple[SmartEvseV4Board, EventLog]:
        opts = {"port": emulator.path, "rcmon": True, "EVMeterType": 4, "watchdog_s": 1.5,
                "start_timeout_s": 3.0, **options}
        board = create_backend(clock, opts)
        events = EventLog(board, clock)
        await board.start()
        made.append((board, events))
        return board, events

    yield _connect
    for board, events in made:
        await events.stop()
        await board.close()
