"""One Modbus connection (TCP socket or RS485 serial port) shared by the meters on it.

:class:`ModbusLink` wraps a pymodbus async client and turns every failure into one of four
:class:`LinkError` kinds, so the polling code can count and log them:

* :class:`LinkDown` -- not connected / connection lost / port cannot be opened;
* :class:`ReadTimeout` -- no answer within the timeout;
* :class:`ModbusExceptionReply` -- the device answered a Modbus exception (code 1..11);
* :class:`WrongLength` -- the answer carries a different number of registers than asked for.

Several meters on one RS485 bus share a link (:class:`LinkPool`); pymodbus serialises the
requests of one client.  The link does not retry: retry policy and backoff live in the meter.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from hal.clock import Clock


@dataclass(frozen=True, slots=True)
class TcpTransport:
    host: str
    port: int = 502

    def describe(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RtuTransport:
    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1

    def describe(self) -> str:
        return f"rtu://{self.port}@{self.baudrate}/{self.bytesize}{self.parity}{self.stopbits}"


Transport = TcpTransport | RtuTransport


class LinkError(Exception):
    kind = "link"


class LinkDown(LinkError):
    kind = "link_down"


class ReadTimeout(LinkError):
    kind = "timeout"


class ModbusExceptionReply(LinkError):
    kind = "modbus_exception"

    def __init__(self, code: int) -> None:
        super().__init__(f"Modbus exception code {code}")
        self.code = code


class WrongLength(LinkError):
    kind = "wrong_length"

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"asked for {expected} registers, got {got}")
        self.expected = expected
        self.got = got


class ModbusLink:
    """A lazily connected pymodbus client for one transport."""

    def __init__(self, clock: Clock, transport: Transport, timeout_s: float = 0.5) -> None:
        self.clock = clock
        self.transport = transport
        self.timeout_s = timeout_s
        self.last_error = ""
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._connect_lock = asyncio.Lock()
        self.users = 0

    def describe(self) -> str:
        return self.transport.describe()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def _new_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        t = self.transport
        # reconnect_delay=0: pymodbus must not reconnect on its own, the meter's backoff does.
        if isinstance(t, TcpTransport):
            return AsyncModbusTcpClient(
                t.host, port=t.port, timeout=self.timeout_s, retries=0, reconnect_delay=0
            )
        return AsyncModbusSerialClient(
            t.port, baudrate=t.baudrate, bytesize=t.bytesize, parity=t.parity, stopbits=t.stopbits,
            timeout=self.timeout_s, retries=0, reconnect_delay=0,
        )

    async def ensure_connected(self) -> bool:
        """Connect if not connected; False (with ``last_error`` set) when that fails."""
        async with self._connect_lock:
            if self.connected:
                return True
            self._drop_client()
            client = self._new_client()
            try:
                ok = await self.clock.wait_for(client.connect(), self.timeout_s * 4 + 1.0)
            except (TimeoutError, OSError, ModbusException) as exc:
                ok = False
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # serial.SerialException and friends: report, never crash
                ok = False
                self.last_error = f"{type(exc).__name__}: {exc}"
            else:
                if not ok:
                    self.last_error = self._why_not_connected()
            if not ok:
                client.close()
                return False
            self._client = client
            self.last_error = ""
            return True

    def _why_not_connected(self) -> str:
        t = self.transport
        if isinstance(t, RtuTransport):
            if not os.path.exists(t.port):
                return f"serial port {t.port} does not exist"
            if not os.access(t.port, os.R_OK | os.W_OK):
                return f"no permission to open serial port {t.port}"
            return f"cannot open serial port {t.port} (in use or not a serial device)"
        return f"cannot connect to {t.host}:{t.port} (refused, unreachable or timed out)"

    async def read(self, function: int, address: int, count: int, unit: int) -> list[int]:
        """Read ``count`` registers with function 3 or 4 from device ``unit``."""
        client = self._client
        if client is None or not client.connected:
            raise LinkDown(f"not connected to {self.describe()}")
        if function == 3:
            call = client.read_holding_registers(address, count=count, device_id=unit)
        elif function == 4:
            call = client.read_input_registers(address, count=count, device_id=unit)
        else:
            raise ValueError(f"function must be 3 or 4, got {function}")
        reply = await self._await(client, call)
        if reply.isError():
            raise ModbusExceptionReply(int(getattr(reply, "exception_code", 0)))
        registers = list(getattr(reply, "registers", []))
        if len(registers) != count:
            raise WrongLength(count, len(registers))
        return registers

    async def write(self, function: int, address: int, values: list[int], unit: int,
                    *, no_response: bool = False) -> None:
        """Write registers with function 6 (one value) or 16 to device ``unit``; with
        ``no_response`` (a broadcast) the request is sent and no answer awaited."""
        client = self._client
        if client is None or not client.connected:
            raise LinkDown(f"not connected to {self.describe()}")
        if function == 6 and len(values) == 1:
            call = client.write_register(address, values[0], device_id=unit, no_response_expected=no_response)
        elif function == 16:
            call = client.write_registers(address, values, device_id=unit, no_response_expected=no_response)
        else:
            raise ValueError(f"function must be 6 (one value) or 16, got {function} with {len(values)} values")
        reply = await self._await(client, call)
        if not no_response and reply is not None and reply.isError():
            raise ModbusExceptionReply(int(getattr(reply, "exception_code", 0)))

    async def _await(self, client: AsyncModbusTcpClient | AsyncModbusSerialClient, call: Any) -> Any:
        """Await one pymodbus request, mapping its failures to the LinkError kinds."""
        try:
            return await self.clock.wait_for(call, self.timeout_s * 2 + 1.0)
        except ConnectionException as exc:
            raise LinkDown(str(exc)) from exc
        except ModbusIOException as exc:
            if not client.connected:
                raise LinkDown(str(exc)) from exc
            raise ReadTimeout(str(exc)) from exc
        except TimeoutError as exc:
            raise ReadTimeout(f"no answer within {self.timeout_s * 2 + 1.0:g} s") from exc
        except (ModbusException, OSError) as exc:
            raise LinkDown(f"{type(exc).__name__}: {exc}") from exc

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        self._drop_client()


class LinkPool:
    """Shares one :class:`ModbusLink` per transport between meters (several meters on one bus)."""

    def __init__(self, clock: Clock, timeout_s: float = 0.5) -> None:
        self.clock = clock
        self.timeout_s = timeout_s
        self._links: dict[Transport, ModbusLink] = {}

    def acquire(self, transport: Transport) -> ModbusLink:
        link = self._links.get(transport)
        if link is None:
            link = self._links[transport] = ModbusLink(self.clock, transport, self.timeout_s)
        link.users += 1
        return link

    def release(self, link: ModbusLink) -> None:
        link.users -= 1
        if link.users <= 0:
            link.close()
            self._links.pop(link.transport, None)
