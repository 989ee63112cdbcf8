"""Shared helpers for the Modbus tests (no fixtures of our own objects: real servers, real clients)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

from backends.modbus.client import MeterEvent, ModbusMeter
from chargepoint.clock import Clock
from hal.types import MeterReading, MeterStatus


class EventLog:
    """Consumes a meter's events in the background, stamping each with the clock's time."""

    def __init__(self, clock: Clock, meter: ModbusMeter) -> None:
        self.clock = clock
        self.meter = meter
        self.events: list[tuple[float, MeterEvent]] = []
        self._iter: AsyncIterator[MeterEvent] = meter.events()

    async def next(self, within_s: float = 30.0) -> MeterEvent:
        event = await self.clock.wait_for(anext(self._iter), within_s)
        self.events.append((self.clock.monotonic(), event))
        return event

    async def next_reading(self, within_s: float = 30.0) -> MeterReading:
        while True:
            event = await self.next(within_s)
            if isinstance(event, MeterReading):
                return event

    async def next_status(self, within_s: float = 120.0) -> MeterStatus:
        while True:
            event = await self.next(within_s)
            if isinstance(event, MeterStatus):
                return event


def free_tcp_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
