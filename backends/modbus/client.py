"""Polling client of one kWh meter: reads it every ``poll_interval_s`` and emits HAL events.

``ModbusMeter.events()`` yields :class:`hal.types.MeterReading` (connector 0 for the mains meter,
the connector number for an EV meter) and :class:`hal.types.MeterStatus`:

* ``MeterStatus(ok=True)`` before the first good reading and again after a loss;
* ``MeterStatus(ok=False)`` when no valid reading arrived for ``comm_loss_s`` -- by default the
  firmware's rule: 11 s for the mains meter (CT_NOCOMM), 64 s for an EV meter (EV_NOCOMM).

Timeouts, Modbus exception replies, wrong lengths and decode errors are counted in
:class:`MeterStats` and logged (a warning when the kind of failure changes, debug otherwise);
they never end the poll loop.  A port that cannot be opened or a host that cannot be reached is
logged with the next retry time and retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog

from backends.modbus.link import (
    LinkError,
    LinkPool,
    ModbusExceptionReply,
    ModbusLink,
    ReadTimeout,
    Transport,
    WrongLength,
)
from backends.modbus.meters import DecodeError, MeterDefinition, MeterValues, decode
from hal.clock import Clock
from hal.types import MeterReading, MeterStatus

log = structlog.get_logger("backends.modbus")

#: Communication-loss timeouts of the firmware (COMM_TIMEOUT, COMM_EVTIMEOUT = 8 x NR_EVSES).
COMM_LOSS_S = {"mains": 11.0, "ev": 64.0}
ROLES = ("ev", "mains")

MeterEvent = MeterReading | MeterStatus


@dataclass
class MeterStats:
    polls: int = 0
    readings: int = 0
    timeouts: int = 0
    modbus_exceptions: int = 0
    wrong_lengths: int = 0
    decode_errors: int = 0
    link_errors: int = 0
    connect_failures: int = 0
    comm_losses: int = 0
    dropped_events: int = 0

    def failures(self) -> int:
        return (self.timeouts + self.modbus_exceptions + self.wrong_lengths + self.decode_errors
                + self.link_errors)


_CLOSED = object()


class ModbusMeter:
    """A polled kWh meter; implements :class:`hal.interfaces.PowerMeter` (``latest()``)."""

    def __init__(
        self,
        clock: Clock,
        definition: MeterDefinition,
        transport: Transport | ModbusLink,
        address: int,
        role: str = "ev",
        connector: int | None = None,
        poll_interval_s: float = 2.0,
        timeout_s: float = 0.5,
        *,
        comm_loss_s: float | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        pool: LinkPool | None = None,
        max_queued_events: int = 1000,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        if role == "mains":
            if connector not in (None, 0):
                raise ValueError(f"connector must be 0 for the mains meter, got {connector}")
            connector = 0
        else:
            connector = 1 if connector is None else connector
            if connector < 1:
                raise ValueError(f"connector of an EV meter must be >= 1, got {connector}")
        if not 1 <= address <= 247:
            raise ValueError(f"address must be 1..247, got {address}")
        if poll_interval_s <= 0 or timeout_s <= 0:
            raise ValueError("poll_interval_s and timeout_s must be > 0")
        self.clock = clock
        self.definition = definition
        self.address = address
        self.role = role
        self.connector = connector
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.comm_loss_s = COMM_LOSS_S[role] if comm_loss_s is None else comm_loss_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = MeterStats()
        self._pool: LinkPool | None = None  # set when the link was acquired from a pool
        if isinstance(transport, ModbusLink):
            self._link, self._owns_link = transport, False
        elif pool is not None:
            self._link, self._owns_link = pool.acquire(transport), False
            self._pool = pool
        else:
            self._link, self._owns_link = ModbusLink(clock, transport, timeout_s), True
        self._buffer: deque[object] = deque()
        self._max_queued = max(1, max_queued_events)
        self._wakeup = asyncio.Event()
        self._latest: MeterReading | None = None
        self._status: bool | None = None  # None: nothing reported yet
        self._last_valid = 0.0
        self._refreshed: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_failure = ""
        self._closed = False
        self._log = log.bind(meter=definition.key, role=role, connector=connector, address=address,
                             target=self._link.describe())

    # ------------------------------------------------------------------ public API
    @property
    def link(self) -> ModbusLink:
        return self._link

    @property
    def ok(self) -> bool | None:
        """Current comm status: None before the first reading or loss, then True/False."""
        return self._status

    def latest(self) -> MeterReading | None:
        return self._latest

    async def start(self) -> None:
        """Start polling (returns at once; readings follow on :meth:`events`)."""
        if self._tasks:
            return
        self._last_valid = self.clock.monotonic()
        self._refreshed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._poll_loop(), name=f"modbus-meter-{self.definition.key}-poll"),
            asyncio.create_task(self._watchdog(), name=f"modbus-meter-{self.definition.key}-watchdog"),
        ]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.clock.cancel_and_wait(*self._tasks)
        self._tasks = []
        if self._owns_link:
            self._link.close()
        elif self._pool is not None:
            self._pool.release(self._link)
        self._buffer.append(_CLOSED)
        self._wakeup.set()

    async def events(self) -> AsyncIterator[MeterEvent]:
        """MeterReading / MeterStatus events until :meth:`close`.

        At most ``max_queued_events`` wait for the consumer; beyond that the oldest *reading* is
        dropped (counted in ``stats.dropped_events``), so statuses and the newest readings survive.
        """
        while True:
            while not self._buffer:
                self._wakeup.clear()
                await self._wakeup.wait()
            item = self._buffer.popleft()
            if item is _CLOSED:
                return
            assert isinstance(item, MeterReading | MeterStatus)
            yield item

    async def poll_once(self) -> MeterValues | None:
        """One poll: every register block, then decode.  None (counted, logged) on any failure."""
        self.stats.polls += 1
        image: dict[int, int] = {}
        try:
            for block in self.definition.reads():
                regs = await self._link.read(block.function, block.address, block.count, self.address)
                image.update(zip(range(block.address, block.address + block.count), regs, strict=True))
            values = decode(self.definition, image)
        except ReadTimeout as exc:
            self.stats.timeouts += 1
            self._failure("timeout", str(exc))
        except ModbusExceptionReply as exc:
            self.stats.modbus_exceptions += 1
            self._failure("modbus_exception", str(exc), code=exc.code)
        except WrongLength as exc:
            self.stats.wrong_lengths += 1
            self._failure("wrong_length", str(exc), expected=exc.expected, got=exc.got)
        except DecodeError as exc:
            self.stats.decode_errors += 1
            self._failure("decode_error", str(exc), quantity=exc.quantity)
        except LinkError as exc:
            self.stats.link_errors += 1
            self._failure(exc.kind, str(exc))
        except Exception as exc:  # anything unforeseen: count and log it, keep polling
            self.stats.link_errors += 1
            self._failure("internal", f"{type(exc).__name__}: {exc}")
        else:
            if self._last_failure:
                self._log.info("modbus.meter_recovered", after=self._last_failure)
                self._last_failure = ""
            return values
        return None

    # ------------------------------------------------------------------ internals
    def _failure(self, kind: str, detail: str, **extra: object) -> None:
        if kind != self._last_failure:
            self._log.warning("modbus.poll_failed", kind=kind, detail=detail, **extra)
        else:
            self._log.debug("modbus.poll_failed", kind=kind, detail=detail, **extra)
        self._last_failure = kind

    def _emit(self, item: MeterEvent) -> None:
        if len(self._buffer) >= self._max_queued:
            oldest = next((e for e in self._buffer if isinstance(e, MeterReading)), self._buffer[0])
            self._buffer.remove(oldest)
            self.stats.dropped_events += 1
        self._buffer.append(item)
        self._wakeup.set()

    def _good(self, values: MeterValues) -> None:
        self._last_valid = self.clock.monotonic()
        assert self._refreshed is not None
        self._refreshed.set()
        if self._status is not True:
            detail = "first reading" if self._status is None else "readings resumed"
            if self._status is False:
                self._log.info("modbus.meter_comm_restored")
            self._status = True
            self._emit(MeterStatus(self.connector, True, detail))
        reading = MeterReading(
            connector=self.connector,
            voltage_v=values.voltage_v,
            current_a=values.current_a,
            power_w=values.power_w,
            energy_import_wh=values.energy_import_wh,
            energy_export_wh=values.energy_export_wh,
        )
        self._latest = reading
        self.stats.readings += 1
        self._emit(reading)

    async def _poll_loop(self) -> None:
        backoff = self.backoff_initial_s
        next_poll = self.clock.monotonic()
        while True:
            if not await self._link.ensure_connected():
                self.stats.connect_failures += 1
                self._log.warning("modbus.connect_failed", error=self._link.last_error, retry_in_s=backoff)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                next_poll = self.clock.monotonic()
                continue
            if backoff != self.backoff_initial_s:
                self._log.info("modbus.connected")
            backoff = self.backoff_initial_s
            values = await self.poll_once()
            if values is not None:
                self._good(values)
            next_poll += self.poll_interval_s
            now = self.clock.monotonic()
            if next_poll < now:
                next_poll = now
            await self.clock.sleep_until(next_poll)

    async def _watchdog(self) -> None:
        assert self._refreshed is not None
        while True:
            deadline = self._last_valid + self.comm_loss_s
            await self.clock.sleep_until(deadline)
            if self.clock.monotonic() < self._last_valid + self.comm_loss_s:
                continue  # a reading arrived meanwhile
            if self._status is not False:
                self._status = False
                self.stats.comm_losses += 1
                detail = f"no valid reading for {self.comm_loss_s:g} s"
                self._log.warning("modbus.meter_comm_lost", detail=detail, last_failure=self._last_failure)
                self._emit(MeterStatus(self.connector, False, detail))
            self._refreshed.clear()
            await self._refreshed.wait()
