"""How the master's requests reach the bus: pymodbus (RTU on a serial port, or TCP to a gateway) or,
for virtual-time runs, a loopback straight into an emulated bus.

Both take a :class:`~backends.smartevse_rs485.protocol.Request` and return the registers read
(``[]`` for a write, ``None`` for a broadcast), raising :class:`BusError` with a ``kind``
("timeout", "exception", "frame", "down") on failure, so the master counts them alike.

* :class:`PymodbusBus` -- one :class:`backends.modbus.link.ModbusLink`; broadcasts to 0x09 are sent
  with ``no_response_expected`` (nobody answers them).
* :class:`LoopbackBus` -- encodes the RTU frame (:func:`protocol.encode_request`), hands it to a
  frame handler (the emulator's :meth:`NodeBus.handle_frame`), decodes the answer, and sleeps the
  frames' wire time at the configured baud rate on the program's clock (a missing answer costs the
  timeout), so a virtual-time run has the timing of a real 9600-baud bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from backends.modbus.link import (
    LinkDown,
    ModbusExceptionReply,
    ModbusLink,
    ReadTimeout,
    RtuTransport,
    TcpTransport,
    WrongLength,
)
from backends.smartevse_rs485.protocol import (
    BAUDRATE,
    ExceptionReply,
    FrameError,
    Request,
    decode_response,
    encode_request,
    frame_time_s,
)
from hal.clock import Clock


class BusError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Bus(Protocol):
    def describe(self) -> str: ...

    async def open(self) -> bool: ...

    async def transact(self, req: Request) -> list[int] | None: ...

    def close(self) -> None: ...


class PymodbusBus:
    """The bus behind pymodbus: RTU over a serial port or Modbus TCP to an RS485 gateway."""

    def __init__(self, clock: Clock, transport: RtuTransport | TcpTransport, timeout_s: float = 0.1) -> None:
        self.link = ModbusLink(clock, transport, timeout_s)

    def describe(self) -> str:
        return self.link.describe()

    @property
    def last_error(self) -> str:
        return self.link.last_error

    async def open(self) -> bool:
        return await self.link.ensure_connected()

    async def transact(self, req: Request) -> list[int] | None:
        try:
            if req.is_read:
                return await self.link.read(req.function, req.address, req.count, req.unit)
            await self.link.write(req.function, req.address, list(req.values), req.unit,
                                  no_response=not req.expects_reply)
        except ReadTimeout as exc:
            raise BusError("timeout", str(exc)) from exc
        except ModbusExceptionReply as exc:
            raise BusError("exception", str(exc)) from exc
        except WrongLength as exc:
            raise BusError("frame", str(exc)) from exc
        except LinkDown as exc:
            raise BusError("down", str(exc)) from exc
        return [] if req.expects_reply else None

    def close(self) -> None:
        self.link.close()


FrameHandler = Callable[[bytes], bytes | None]


class LoopbackBus:
    """Frames straight into an emulated bus, with the wire time slept on the clock."""

    def __init__(self, clock: Clock, handler: FrameHandler, *, baudrate: int = BAUDRATE,
                 timeout_s: float = 0.1, turnaround_s: float = 0.002) -> None:
        self.clock = clock
        self.handler = handler
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.turnaround_s = turnaround_s
        self.frames: list[tuple[bytes, bytes | None]] = []  # the last frames (request, answer), for tests
        self.keep_frames = 0

    def describe(self) -> str:
        return f"loopback@{self.baudrate}"

    async def open(self) -> bool:
        return True

    async def transact(self, req: Request) -> list[int] | None:
        frame = encode_request(req)
        await self.clock.sleep(frame_time_s(len(frame), self.baudrate))
        answer = self.handler(frame)
        if self.keep_frames:
            self.frames.append((frame, answer))
            del self.frames[:-self.keep_frames]
        if not req.expects_reply:
            return None
        if answer is None:
            await self.clock.sleep(self.timeout_s)
            raise BusError("timeout", f"unit {req.unit}: no answer within {self.timeout_s:g} s")
        await self.clock.sleep(self.turnaround_s + frame_time_s(len(answer), self.baudrate))
        try:
            return decode_response(req, answer)
        except ExceptionReply as exc:
            raise BusError("exception", str(exc)) from exc
        except FrameError as exc:
            raise BusError("frame", str(exc)) from exc

    def close(self) -> None:
        return None
