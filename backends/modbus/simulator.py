"""Simulated kWh meters served by pymodbus's own server, over TCP or RTU on a pseudo-terminal.

A :class:`SimulatedMeter` is one Modbus device: its registers are produced by
:func:`backends.modbus.meters.encode` from the same definition table the client decodes with,
refreshed on every request from a *source* (a callable returning :class:`MeterValues`, e.g. a
:class:`LoadSource` that follows the simulated EV's currents and integrates energy).  It answers
only the meter's own function code (others get ILLEGAL_FUNCTION) and can be told to misbehave:

* ``Fault.SILENT`` -- receives requests, answers nothing (the client times out);
* ``Fault.EXCEPTION`` -- answers a Modbus exception (``exception_code``, default 4 device failure);
* ``Fault.SHORT`` -- answers one register fewer than asked for (a wrong length).

:class:`MeterServer` hosts one or more simulated meters (an RS485 bus) on a pymodbus TCP server or
a pymodbus serial (RTU) server; :class:`PtyPair` makes two linked pseudo-terminals (like
``socat pty,raw pty,raw``) so the serial server and a serial client can talk without hardware.

Run one standalone::

    python -m backends.modbus.simulator --type sdm630 --tcp 127.0.0.1:5020 --current 16 16 16
    python -m backends.modbus.simulator --type eem350 --rtu-pty      # prints the client's tty path
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import tty
from collections.abc import Callable, Sequence
from enum import StrEnum

import structlog
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from backends.modbus.meters import METER_INDEX, METERS, EncodeError, MeterDefinition, MeterValues, encode
from chargepoint.clock import RealClock
from hal.clock import Clock

log = structlog.get_logger("backends.modbus.simulator")


class Fault(StrEnum):
    NONE = "none"
    SILENT = "silent"
    EXCEPTION = "exception"
    SHORT = "short"


class LoadSource:
    """A source of meter values: set voltages and signed currents; power follows (V*I summed) and
    energy import/export integrates power over the clock's monotonic time."""

    def __init__(
        self,
        clock: Clock,
        voltage_v: Sequence[float] = (230.0, 230.0, 230.0),
        current_a: Sequence[float] = (0.0, 0.0, 0.0),
        energy_import_wh: float = 0.0,
        energy_export_wh: float = 0.0,
    ) -> None:
        self.clock = clock
        self.voltage_v = _three(voltage_v)
        self.current_a = _three(current_a)
        self.energy_import_wh = energy_import_wh
        self.energy_export_wh = energy_export_wh
        self._since: float | None = None

    @property
    def power_w(self) -> float:
        return math.fsum(v * i for v, i in zip(self.voltage_v, self.current_a, strict=True))

    def _integrate(self) -> None:
        now = self.clock.monotonic()
        if self._since is not None:
            wh = self.power_w * (now - self._since) / 3600.0
            if wh >= 0:
                self.energy_import_wh += wh
            else:
                self.energy_export_wh -= wh
        self._since = now

    def set(self, voltage_v: Sequence[float] | None = None, current_a: Sequence[float] | None = None) -> None:
        self._integrate()
        if voltage_v is not None:
            self.voltage_v = _three(voltage_v)
        if current_a is not None:
            self.current_a = _three(current_a)

    def __call__(self) -> MeterValues:
        self._integrate()
        return MeterValues(self.voltage_v, self.current_a, self.power_w, self.energy_import_wh,
                           self.energy_export_wh)


def _three(values: Sequence[float]) -> tuple[float, float, float]:
    v = [float(x) for x in values]
    if len(v) == 1:
        v = [v[0], 0.0, 0.0]
    if len(v) != 3:
        raise ValueError(f"expected 1 or 3 values, got {len(v)}")
    return (v[0], v[1], v[2])


class SimulatedMeter:
    """One simulated Modbus meter device (registers encoded from ``definition``)."""

    def __init__(
        self,
        definition: MeterDefinition,
        address: int | None = None,
        values: MeterValues | None = None,
        source: Callable[[], MeterValues] | None = None,
        *,
        sensorbox_mode: str = "p1",
    ) -> None:
        self.definition = definition
        self.address = definition.default_address if address is None else address
        self.values = values or MeterValues((230.0, 230.0, 230.0), (0.0, 0.0, 0.0), 0.0, 0.0, 0.0)
        self.source = source
        self.sensorbox_mode = sensorbox_mode
        self.fault = Fault.NONE
        self.exception_code = ExcCodes.DEVICE_FAILURE
        #: Raw register overrides applied after encoding (address -> 16-bit value): poke NaN etc.
        self.overrides: dict[int, int] = {}
        self.requests = 0
        self.encode_errors = 0
        encode(definition, self.values, sensorbox_mode=sensorbox_mode)  # fail early on bad values

    def set_values(self, values: MeterValues) -> None:
        self.values = values

    def set_fault(self, fault: Fault | str, exception_code: int = ExcCodes.DEVICE_FAILURE) -> None:
        self.fault = Fault(fault)
        self.exception_code = ExcCodes(exception_code)

    def current_values(self) -> MeterValues:
        if self.source is not None:
            self.values = self.source()
        return self.values

    def image(self) -> dict[int, int]:
        """The registers as they are now (encode of the current values, then the overrides)."""
        image = encode(self.definition, self.current_values(), sensorbox_mode=self.sensorbox_mode)
        image.update(self.overrides)
        return image

    def device(self) -> SimDevice:
        """A pymodbus SimDevice holding exactly the registers a poll reads."""
        addresses = sorted(self.definition.registers_used())
        blocks: list[SimData] = []
        start = prev = addresses[0]
        for a in [*addresses[1:], None]:
            if a is not None and a == prev + 1:
                prev = a
                continue
            blocks.append(SimData(address=start, count=prev - start + 1, values=0, datatype=DataType.REGISTERS))
            if a is not None:
                start = prev = a
        return SimDevice(id=self.address, simdata=blocks, action=self._action)

    async def _action(
        self, function_code: int, start_address: int, address: int, count: int,
        registers: list[int], set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        if function_code != self.definition.function or set_values:
            return ExcCodes.ILLEGAL_FUNCTION
        if self.fault is Fault.EXCEPTION:
            return self.exception_code
        try:
            image = self.image()
        except (EncodeError, ValueError) as exc:
            self.encode_errors += 1
            log.warning("modbus_sim.encode_failed", meter=self.definition.key, error=str(exc))
            return ExcCodes.DEVICE_FAILURE
        for a in range(address, address + count):
            if a in image:
                registers[a - start_address] = image[a]
        return None


class MeterServer:
    """A pymodbus server (TCP or RTU) hosting one or several simulated meters."""

    def __init__(self, meters: SimulatedMeter | Sequence[SimulatedMeter]) -> None:
        self.meters = [meters] if isinstance(meters, SimulatedMeter) else list(meters)
        by_address = {m.address: m for m in self.meters}
        if len(by_address) != len(self.meters):
            raise ValueError("two simulated meters share one Modbus address")
        self._by_address = by_address
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._drop_next = False
        self.host = ""
        self.port: int | str = 0

    def _devices(self) -> list[SimDevice]:
        return [m.device() for m in self.meters]

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            return pdu
        meter = self._by_address.get(pdu.dev_id)
        if meter is None:  # no such device on the bus: a real RS485 bus stays silent
            self._drop_next = True
            return pdu
        if meter.fault is Fault.SILENT:
            self._drop_next = True
        elif meter.fault is Fault.SHORT and getattr(pdu, "registers", None):
            pdu.registers = pdu.registers[:-1]
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending and self._drop_next:
            self._drop_next = False
            return b""
        return data

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on TCP; returns the port (an ephemeral one when ``port`` is 0)."""
        server = ModbusTcpServer(self._devices(), address=(host, port), trace_pdu=self._trace_pdu,
                                 trace_packet=self._trace_packet)
        await server.serve_forever(background=True)
        self._server = server
        self.host = host
        assert server.transport is not None
        self.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return int(self.port)

    async def start_rtu(self, port: str, baudrate: int = 9600) -> None:
        """Serve Modbus RTU on a serial port (a real one or one side of a :class:`PtyPair`)."""
        server = ModbusSerialServer(self._devices(), port=port, baudrate=baudrate,
                                    trace_pdu=self._trace_pdu, trace_packet=self._trace_packet)
        await server.serve_forever(background=True)
        self._server = server
        self.port = port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


class PtyPair:
    """Two pseudo-terminals in raw mode whose masters are bridged: bytes written to one slave
    arrive at the other.  ``server_path`` is for the simulator, ``client_path`` for the client."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._masters: list[int] = []
        paths = []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._fds += [master, slave]
            self._masters.append(master)
            paths.append(os.ttyname(slave))
        self.server_path, self.client_path = paths
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Start forwarding on the running loop."""
        self._loop = asyncio.get_running_loop()
        a, b = self._masters
        self._loop.add_reader(a, self._forward, a, b)
        self._loop.add_reader(b, self._forward, b, a)

    @staticmethod
    def _forward(src: int, dst: int) -> None:
        try:
            data = os.read(src, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # the other side closed (EIO): nothing to forward
        with contextlib.suppress(OSError):
            os.write(dst, data)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for fd in self._masters:
                self._loop.remove_reader(fd)
        self._loop = None
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []


# --------------------------------------------------------------------------- CLI


def _definition(name: str) -> MeterDefinition:
    if name.isdigit() and int(name) in METER_INDEX:
        return METERS[METER_INDEX[int(name)]]
    if name not in METERS:
        raise SystemExit(f"--type: unknown meter {name!r}; known: {', '.join(sorted(METERS))}")
    return METERS[name]


async def _serve(args: argparse.Namespace, clock: Clock) -> None:
    defn = _definition(args.type)
    source = LoadSource(clock, args.voltage, args.current, args.energy_wh)
    meter = SimulatedMeter(defn, args.address, source=source, sensorbox_mode=args.sensorbox_mode)
    meter.set_fault(args.fault)
    server = MeterServer(meter)
    pty: PtyPair | None = None
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        bound = await server.start_tcp(host or "127.0.0.1", int(port))
        print(f"{defn.name} (address {meter.address}) on tcp://{host}:{bound}", flush=True)
    elif args.rtu:
        await server.start_rtu(args.rtu, args.baudrate)
        print(f"{defn.name} (address {meter.address}) on {args.rtu} @ {args.baudrate}", flush=True)
    else:
        pty = PtyPair()
        pty.start()
        await server.start_rtu(pty.server_path, args.baudrate)
        print(f"{defn.name} (address {meter.address}) on RTU; connect the client to {pty.client_path}",
              flush=True)
    try:
        await asyncio.Event().wait()  # until interrupted
    finally:
        await server.stop()
        if pty is not None:
            pty.close()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m backends.modbus.simulator", description=__doc__.split("\n")[0])
    p.add_argument("--type", required=True, help=f"meter key or menu index: {', '.join(sorted(METERS))}")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--tcp", metavar="HOST:PORT")
    where.add_argument("--rtu", metavar="SERIAL_PORT")
    where.add_argument("--rtu-pty", action="store_true", help="serve on a new pseudo-terminal pair (default)")
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--address", type=int, default=None, help="Modbus address (default: the meter's)")
    p.add_argument("--voltage", type=float, nargs="+", default=[230.0, 230.0, 230.0])
    p.add_argument("--current", type=float, nargs="+", default=[0.0, 0.0, 0.0], help="signed A per phase")
    p.add_argument("--energy-wh", type=float, default=0.0, help="initial import energy")
    p.add_argument("--sensorbox-mode", choices=("p1", "ct"), default="p1")
    p.add_argument("--fault", choices=[f.value for f in Fault], default="none")
    args = p.parse_args(argv)
    clock = RealClock()
    with contextlib.suppress(KeyboardInterrupt):
        clock.run(_serve(args, clock))


if __name__ == "__main__":
    main()
