"""The UART link to the CH32: open the port, boot handshake, watchdog, reconnection.

Transport choice: ``serial_asyncio_fast`` (``create_serial_connection``, the protocol flavour of
``open_serial_connection``) rather than a reader thread.  The port's file descriptor is registered
with the running event loop, so

* received bytes are parsed in ``data_received`` on the loop, with no thread hop or queue between
  the UART and the board's event stream (lowest latency for safety reactions);
* the link works on :class:`chargepoint.clock.VirtualClock` too: the virtual loop polls real I/O
  before it advances time, whereas a thread blocked in ``read()`` is invisible to it and virtual
  time would race ahead and trip the watchdog;
* writes go straight to the fd from the caller's step (``transport.write`` tries an immediate
  ``write(2)``), which is what the safe-state path needs.
Only opening and closing the port run in the loop's executor (pyserial's open is blocking).

Lifecycle (one supervisor task)::

    closed --open ok--> handshake --@Config:OK--> up --no message for watchdog_s / port error--> closed
       ^  open failed: log one clear line, retry with backoff (0.2 s doubling to 5 s)        |
       +--------------------------------------------------------------------------------------+

Handshake (reference §3.6): ``@version?`` every 100 ms until ``@version:n`` (give up after 10 s
and reopen), the configuration burst, ``@Initialized:1``, wait ``@Config:OK`` (2 s, else start
over), then ``@PowerPanicCtrl:0`` and ``@RCmon:n``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import serial
import serial_asyncio_fast

from backends.smartevse.protocol import CH32_TO_ESP32, LineParser, Message, encode_command
from hal.clock import Clock

log = logging.getLogger(__name__)


class LinkState(StrEnum):
    CLOSED = "closed"
    HANDSHAKE = "handshake"
    UP = "up"


@dataclass(frozen=True, slots=True)
class LinkSettings:
    port: str
    baudrate: int = 500_000
    watchdog_s: float = 2.0
    version_interval_s: float = 0.1
    version_timeout_s: float = 10.0
    config_timeout_s: float = 2.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0


@dataclass(slots=True)
class LinkStats:
    opens: int = 0
    open_failures: int = 0
    handshakes: int = 0
    losses: int = 0
    bytes_out: int = 0
    lines_out: int = 0
    dropped_out: int = 0  # sends while the port was closed
    last_rx: float = 0.0
    ch32_version: int | None = None
    last_error: str = ""


class _Protocol(asyncio.Protocol):
    def __init__(self, link: SerialLink) -> None:
        self.link = link

    def data_received(self, data: bytes) -> None:
        self.link._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link._on_connection_lost(exc)


class SerialLink:
    """One CH32 UART.  Callbacks run on the event loop:

    * ``on_message(msg)`` for every decoded line (handshake replies included);
    * ``on_batch_end()`` after each chunk of received bytes has been parsed;
    * ``on_up()`` when a handshake completed; ``on_down(reason)`` when an up link was lost --
      called *before* the port is closed, so a safe-state command sent from it still goes out.
    """

    def __init__(self, clock: Clock, settings: LinkSettings, *,
                 config_burst: Callable[[], list[tuple[str, int]]],
                 rcmon: bool,
                 on_message: Callable[[Message], None],
                 on_up: Callable[[], None] = lambda: None,
                 on_down: Callable[[str], None] = lambda reason: None,
                 on_batch_end: Callable[[], None] = lambda: None) -> None:
        self.clock = clock
        self.settings = settings
        self.parser = LineParser(CH32_TO_ESP32)
        self.stats = LinkStats()
        self.state = LinkState.CLOSED
        self._config_burst = config_burst
        self._rcmon = rcmon
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._on_batch_end = on_batch_end
        self._transport: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._rx_event = asyncio.Event()
        self._lost_event = asyncio.Event()
        self._up_event = asyncio.Event()
        self._version_seen = False
        self._config_ok = False
        #: called with each encoded line just after it was handed to the port (benchmarks, tests)
        self.write_hook: Callable[[bytes], None] | None = None

    # ------------------------------------------------------------------ public
    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._supervise(), name=f"smartevse-link {self.settings.port}")

    async def close(self) -> None:
        await self._drain(0.5)  # the last commands (the shutdown safe state) must reach the board
        self._closing = True
        await self.clock.cancel_and_wait(self._task)
        self._task = None
        await self._close_port()
        self.state = LinkState.CLOSED

    async def wait_up(self, within_s: float) -> bool:
        if self.state is LinkState.UP:
            return True
        with contextlib.suppress(TimeoutError):
            await self.clock.wait_for(self._up_event.wait(), within_s)
        return self.is_up  # the state changed while we waited

    @property
    def is_up(self) -> bool:
        return self.state is LinkState.UP

    def send(self, key: str, value: int | str | None = None) -> bool:
        """Write one ESP32 -> CH32 line now.  Returns False (and counts it) when the port is closed.
        Raises :class:`backends.smartevse.protocol.EncodeError` for a key/value the protocol lacks."""
        line = encode_command(key, value)
        return self.send_raw(line)

    def send_raw(self, line: bytes) -> bool:
        transport = self._transport
        if transport is None or transport.is_closing():
            self.stats.dropped_out += 1
            return False
        transport.write(line)
        self.stats.bytes_out += len(line)
        self.stats.lines_out += 1
        if self.write_hook is not None:
            self.write_hook(line)
        return True

    # ------------------------------------------------------------------ receive path
    def _on_data(self, data: bytes) -> None:
        messages = self.parser.feed(data)
        if messages:  # noise alone does not prove the CH32 is alive
            self.stats.last_rx = self.clock.monotonic()
        for msg in messages:
            if msg.key == "version":
                self.stats.ch32_version = msg.value if isinstance(msg.value, int) else None
                if self.state is LinkState.UP:
                    log.warning("CH32 sent @version:%s while the link was up (restarted?)", msg.value)
                self._version_seen = True
            elif msg.key == "Config":
                self._config_ok = msg.value == "OK"
            try:
                self._on_message(msg)
            except Exception:  # a bug in a handler must not take the link down
                log.exception("handler failed for @%s", msg.key)
        self._rx_event.set()
        try:
            self._on_batch_end()
        except Exception:
            log.exception("batch handler failed")

    def _on_connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.stats.last_error = f"port error: {exc}"
        self._lost_event.set()

    # ------------------------------------------------------------------ supervisor
    async def _supervise(self) -> None:
        backoff = self.settings.backoff_initial_s
        last_logged = ""
        while not self._closing:
            try:
                await self._open()
            except (OSError, serial.SerialException, ValueError) as exc:
                self.stats.open_failures += 1
                msg = f"cannot open CH32 serial port {self.settings.port!r}: {exc}"
                self.stats.last_error = msg
                if msg != last_logged:
                    log.error("%s; retrying with backoff (%.1f s, up to %.0f s)", msg, backoff,
                              self.settings.backoff_max_s)
                    last_logged = msg
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.settings.backoff_max_s)
                continue
            last_logged = ""
            reason = await self._run_connection()
            was_up = self.state is LinkState.UP
            if was_up:
                self.stats.losses += 1
                log.error("CH32 link lost: %s; reconnecting", reason)
                try:
                    self._on_down(reason)
                except Exception:
                    log.exception("link-down handler failed")
            else:
                log.warning("CH32 handshake failed: %s; retrying", reason)
            self.state = LinkState.CLOSED
            self._up_event.clear()
            await self._close_port()
            if was_up:
                backoff = self.settings.backoff_initial_s
                await self.clock.sleep(0.05)
            else:
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.settings.backoff_max_s)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost_event.clear()
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            loop, lambda: _Protocol(self), self.settings.port, baudrate=self.settings.baudrate,
            bytesize=8, parity="N", stopbits=1)
        self._transport = transport
        self.stats.opens += 1
        ser = transport.serial
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.reset_input_buffer()  # stale bytes from before we opened are not news
        self.parser.reset()
        log.info("opened CH32 serial port %s at %d baud", self.settings.port, self.settings.baudrate)

    async def _drain(self, within_s: float) -> None:
        """Wait (bounded) until the serial transport has written everything it holds."""
        transport = self._transport
        if transport is None:
            return
        deadline = self.clock.monotonic() + within_s
        while transport.get_write_buffer_size() > 0 and self.clock.monotonic() < deadline:
            await self.clock.sleep(0.005)
        await self.clock.sleep(0.01)  # the UART's own FIFO: 10 ms is ~500 bytes at 500 kbit/s

    async def _close_port(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()  # no flush: a dead peer must not block us
            with contextlib.suppress(TimeoutError):
                await self.clock.wait_for(self._lost_event.wait(), 2.0)
        self.parser.reset()

    async def _run_connection(self) -> str:
        """Handshake, then watch the link.  Returns why it ended."""
        self.state = LinkState.HANDSHAKE
        self._version_seen = False
        self._config_ok = False
        s = self.settings
        # 1. @version? every 100 ms until @version:n
        deadline = self.clock.monotonic() + s.version_timeout_s
        while not self._version_seen:
            if self._lost_event.is_set():
                return self.stats.last_error or "port closed during handshake"
            if self.clock.monotonic() >= deadline:
                return f"no @version reply within {s.version_timeout_s:.0f} s"
            self.send("version?")
            await self._wait_rx(s.version_interval_s)
        # 2. configuration burst, @Initialized:1, wait @Config:OK
        for key, value in self._config_burst():
            self.send(key, value)
        self.send("Initialized", 1)
        deadline = self.clock.monotonic() + s.config_timeout_s
        while not self._config_ok:
            if self._lost_event.is_set():
                return self.stats.last_error or "port closed during handshake"
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return f"no @Config:OK within {s.config_timeout_s:.1f} s"
            await self._wait_rx(left)
        # 3. status request
        self.send("PowerPanicCtrl", 0)
        self.send("RCmon", 1 if self._rcmon else 0)
        self.state = LinkState.UP
        self.stats.handshakes += 1
        self._up_event.set()
        log.info("CH32 link up (version %s)", self.stats.ch32_version)
        try:
            self._on_up()
        except Exception:
            log.exception("link-up handler failed")
        # 4. watchdog
        while True:
            if self._lost_event.is_set():
                return self.stats.last_error or "port closed"
            silence = self.clock.monotonic() - self.stats.last_rx
            if silence >= s.watchdog_s:
                return f"no message from the CH32 for {silence:.2f} s (watchdog {s.watchdog_s:.2f} s)"
            await self._wait_rx(s.watchdog_s - silence, lost_too=True)

    async def _wait_rx(self, seconds: float, lost_too: bool = True) -> None:
        """Sleep up to ``seconds``; wake early on received bytes or a lost port."""
        self._rx_event.clear()
        waits = [asyncio.ensure_future(self._rx_event.wait())]
        if lost_too:
            waits.append(asyncio.ensure_future(self._lost_event.wait()))
        try:
            await self.clock.wait_for(asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED),
                                      max(0.0, seconds))
        except TimeoutError:
            pass
        finally:
            for w in waits:
                w.cancel()
