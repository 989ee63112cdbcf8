"""The CH32 emulator's async shell: a pseudo-terminal, wire pacing, the 10 ms / 1 s ticks and fault
injection around the synchronous :class:`Ch32Firmware`.

The board under test opens the pty's slave path like a real serial port (``/dev/ttyUSB0``).  The
emulator keeps its own handle on the slave open, so the peer may close and reopen the port as
often as it likes without the master seeing a hang-up.  Bytes are paced to the UART's speed in
both directions (10 bits per byte at ``baudrate``): a line is delivered no earlier than the wire
would have carried it.  Bytes written while nobody has the port open are lost once the pty's
buffer is full, like bytes on an unlistened wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import termios
import tty
from dataclasses import dataclass
from pathlib import Path

from backends.smartevse.emulator.ev import EvModel
from backends.smartevse.emulator.firmware import Ch32Firmware
from backends.smartevse.protocol import ESP32_TO_CH32, LineParser, Message, encode_report
from hal.clock import Clock

log = logging.getLogger(__name__)

FAULTS = ("rcd_trip", "rcd_reset", "temperature", "panic", "power_restored", "silent", "talk", "restart",
          "garbage", "truncated", "rfid", "ext_switch")


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One line seen on the wire with the emulator's clock time (``t``)."""

    t: float
    line: bytes


class Ch32Emulator:
    """Runs the CH32 side of the protocol on a pty.  In-process API::

        emu = Ch32Emulator(clock)
        path = await emu.start()        # the slave path to open as the serial port
        emu.plug(); emu.set_ev(requesting=True, max_current_a=16)
        emu.inject("rcd_trip")
        await emu.wait_received("setStatePowerUnavailable", within_s=1.0)
        await emu.stop()
    """

    def __init__(self, clock: Clock, *, link: str | os.PathLike[str] | None = None,
                 baudrate: int = 500_000, ev: EvModel | None = None, temperature_c: int = 25,
                 tick_s: float = 0.01) -> None:
        self.clock = clock
        self.link = Path(link) if link else None
        self.baudrate = baudrate
        self.firmware = Ch32Firmware(ev=ev or EvModel(), temperature_c=temperature_c)
        self.tick_s = tick_s
        self.parser = LineParser(ESP32_TO_CH32)
        self.received: list[WireRecord] = []  # every line from the ESP32, even while silent
        self.sent: list[WireRecord] = []  # every line put on the wire to the ESP32
        self.dropped_tx = 0  # lines lost because nobody read the port
        self.path: str | None = None
        self.silent_until: float | None = None  # None: talking; inf: silent until talk()
        self._master = -1
        self._slave = -1
        self._tasks: list[asyncio.Task[None]] = []
        self._rx_free_at = 0.0
        self._tx_free_at = 0.0
        self._rx_event = asyncio.Event()
        self._tx_wake = asyncio.Event()
        self._raw_tx: list[tuple[bytes, bool]] = []  # (bytes, send even when silent)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> str:
        master, slave = os.openpty()
        for fd in (master, slave):
            tty.setraw(fd, termios.TCSANOW)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(self.path)
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._on_readable)
        self._rx_queue: asyncio.Queue[bytes] = asyncio.Queue()
        now = self.clock.monotonic()
        self._next_10ms = now
        self._next_1s = now + 1.0
        self._tasks = [
            asyncio.create_task(self._ticker(), name="ch32-ticks"),
            asyncio.create_task(self._rx_loop(), name="ch32-rx"),
            asyncio.create_task(self._tx_loop(), name="ch32-tx"),
        ]
        return self.path

    async def stop(self) -> None:
        await self.clock.cancel_and_wait(*self._tasks)
        self._tasks = []
        if self._master >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._master = self._slave = -1
        if self.link is not None and self.link.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    # ------------------------------------------------------------------ EV / faults
    def plug(self, **ev: object) -> None:
        self.set_ev(plugged=True, **ev)

    def unplug(self) -> None:
        self.set_ev(plugged=False)

    def set_ev(self, **fields: object) -> None:
        """Change the EV (fields of :class:`backends.sim.ev.EvModel`: ``plugged``, ``charging`` /
        ``requesting``, ``max_current_a``, ``phases``, ``soc``, ``has_diode``, ``cable_a``; and
        ``stop_delay_s``); an unknown name raises ValueError naming it."""
        self.firmware.ev.set(**fields)

    def inject(self, fault: str, **kw: object) -> None:
        """Fault injection.  ``fault`` is one of :data:`FAULTS`:

        * ``rcd_trip`` / ``rcd_reset`` -- RCM fault input high / back low with the button pressed;
        * ``temperature`` (``celsius=``) -- the board temperature;
        * ``panic`` (``seconds=`` outage, default 1.0) -- mains lost: ``@!Panic``, silence, then
          ``@MSG: Power restored`` and state A;
        * ``silent`` (``seconds=``, default forever) / ``talk`` -- stop/resume all activity (a hung MCU);
        * ``restart`` -- reboot: configuration and state lost, handshake needed again;
        * ``garbage`` (``data=`` bytes, default a noise burst) -- raw bytes on the wire;
        * ``truncated`` -- a line cut short followed by a good line;
        * ``rfid`` (``tag=`` 16 hex chars) -- a card at the reader (``@RFID:...``);
        * ``ext_switch`` (``pressed=`` bool) -- the external switch input (``@ExtSwitch:n.``).
        """
        fw = self.firmware
        now = self.clock.monotonic()
        if fault == "rcd_trip":
            fw.rcd_trip()
        elif fault == "rcd_reset":
            fw.rcd_reset()
        elif fault == "temperature":
            fw.temperature_c = int(_number(kw, "celsius", 25))
        elif fault == "panic":
            fw.power_panic()
            self._flush_outbox(force=True)
            seconds = _number(kw, "seconds", 1.0)
            self.silent_until = now + seconds
            self._pending_restore = True
        elif fault == "power_restored":
            fw.power_restored()
        elif fault == "silent":
            self.silent_until = float("inf") if kw.get("seconds") is None else now + _number(kw, "seconds", 0.0)
        elif fault == "talk":
            self.silent_until = None
        elif fault == "restart":
            self.silent_until = None
            fw.outbox.clear()
            fw.power_on()
        elif fault == "garbage":
            data = kw.get("data", b"\x00\xff\xfe noise \x1b[2J\nline without at sign\n@@@\n\x80\x81@State:x\n")
            if not isinstance(data, bytes):
                raise ValueError("garbage data must be bytes")
            self._raw_tx.append((data, False))
        elif fault == "truncated":
            self._raw_tx.append((b"@Irms:012,16", False))  # cut mid-value, no newline
            self._raw_tx.append((f"@Temp:{fw.temperature_c}\n".encode(), False))
        elif fault == "rfid":
            fw.outbox.append(encode_report("RFID", str(kw.get("tag", "01020304050607A8"))))
            self._flush_outbox()
        elif fault == "ext_switch":
            fw.outbox.append(encode_report("ExtSwitch", 1 if kw.get("pressed", True) else 0, dot=True))
            self._flush_outbox()
        else:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        self._tx_wake.set()

    _pending_restore = False

    @property
    def silent(self) -> bool:
        return self.silent_until is not None and self.clock.monotonic() < self.silent_until

    # ------------------------------------------------------------------ observation
    def received_keys(self, since: float = 0.0) -> list[str]:
        return [r.line.decode(errors="replace") for r in self.received if r.t >= since]

    def find_received(self, prefix: str, since: float = 0.0) -> WireRecord | None:
        needle = prefix.encode()
        for rec in self.received:
            if rec.t >= since and rec.line.startswith(b"@" + needle):
                return rec
        return None

    async def wait_received(self, prefix: str, *, since: float = 0.0, within_s: float = 2.0) -> WireRecord:
        """Wait until a line starting with ``@<prefix>`` was received at or after ``since``."""
        deadline = self.clock.monotonic() + within_s
        while True:
            rec = self.find_received(prefix, since)
            if rec is not None:
                return rec
            left = deadline - self.clock.monotonic()
            if left <= 0:
                raise TimeoutError(f"@{prefix} not received within {within_s} s")
            self._rx_event.clear()
            with contextlib.suppress(TimeoutError):
                await self.clock.wait_for(self._rx_event.wait(), left)

    def find_sent(self, prefix: str, since: float = 0.0) -> WireRecord | None:
        needle = prefix.encode()
        for rec in self.sent:
            if rec.t >= since and rec.line.startswith(b"@" + needle):
                return rec
        return None

    # ------------------------------------------------------------------ I/O
    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return  # no slave open right now (cannot happen while we hold one; be safe)
            log.error("CH32 emulator: reading the pty failed (%s); receive side stopped", exc)
            asyncio.get_running_loop().remove_reader(self._master)
            return
        if data:
            self._rx_queue.put_nowait(data)

    async def _rx_loop(self) -> None:
        byte_time = 10.0 / self.baudrate
        while True:
            data = await self._rx_queue.get()
            now = self.clock.monotonic()
            self._rx_free_at = max(now, self._rx_free_at) + len(data) * byte_time
            if self._rx_free_at - now > 0.0005:
                await self.clock.sleep_until(self._rx_free_at)
            for msg in self.parser.feed(data):
                self._on_message(msg)

    def _on_message(self, msg: Message) -> None:
        line = _render(msg)
        self.received.append(WireRecord(self.clock.monotonic(), line))
        self._rx_event.set()
        if self.silent:
            return  # a hung MCU reads nothing
        self.firmware.handle(msg)
        self._flush_outbox()

    def _flush_outbox(self, force: bool = False) -> None:
        if self.firmware.outbox:
            self._raw_tx.extend((line, force) for line in self.firmware.outbox)
            self.firmware.outbox.clear()
            self._tx_wake.set()

    async def _tx_loop(self) -> None:
        byte_time = 10.0 / self.baudrate
        while True:
            await self._tx_wake.wait()
            self._tx_wake.clear()
            while self._raw_tx:
                data, force = self._raw_tx.pop(0)
                if self.silent and not force:
                    continue
                now = self.clock.monotonic()
                if self._tx_free_at - now > 0.0005:
                    await self.clock.sleep_until(self._tx_free_at)
                    now = self.clock.monotonic()
                self._tx_free_at = max(now, self._tx_free_at) + len(data) * byte_time
                try:
                    written = os.write(self._master, data)
                except BlockingIOError:
                    self.dropped_tx += 1
                    continue
                except OSError:
                    self.dropped_tx += 1
                    continue
                if written < len(data):
                    self.dropped_tx += 1
                self.sent.append(WireRecord(now, data))

    async def _ticker(self) -> None:
        fw = self.firmware
        while True:
            await self.clock.sleep_until(self._next_10ms)
            now = self.clock.monotonic()
            if self.silent_until is not None and now >= self.silent_until:
                self.silent_until = None
                if self._pending_restore:
                    self._pending_restore = False
                    fw.power_restored()
            while self._next_10ms <= now:
                self._next_10ms += self.tick_s
            if self.silent:
                fw.outbox.clear()
                if now >= self._next_1s:
                    self._next_1s = now + 1.0
                continue
            fw.tick_10ms(now)
            if now >= self._next_1s:
                self._next_1s += 1.0
                if self._next_1s <= now:
                    self._next_1s = now + 1.0
                fw.tick_1s()
            self._flush_outbox()


def _number(kw: dict[str, object], key: str, default: float) -> float:
    """``kw[key]`` as a float (a number or a numeric string), ``default`` when absent."""
    value = kw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key}: a number is needed, not {value!r}")
    return float(value)


def _render(msg: Message) -> bytes:
    """The canonical text of a received message (for the wire log)."""
    if msg.value is None:
        return f"@{msg.key}".encode()
    if isinstance(msg.value, tuple):
        return f"@{msg.key}:{','.join(str(v) for v in msg.value)}".encode()
    return f"@{msg.key}:{msg.value}".encode()
