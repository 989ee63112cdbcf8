"""An emulated SmartEVSE RS485 bus: several nodes, their EV meters and a mains meter, served as
pymodbus RTU servers (one per address on one port: a pty pair or a real adapter), over Modbus TCP,
or to a :class:`~backends.smartevse_rs485.bus.LoopbackBus` frame by frame (virtual time).

Each node is a :class:`NodeFirmware`; its EV meter (when ``ev_meter_type`` is set) a
:class:`backends.modbus.simulator.SimulatedMeter` whose currents follow what the node's EV draws,
and the optional mains meter shows a house base load plus every node's draw.  Writes to address 0x09
reach every node and are answered by none.  Faults (:meth:`NodeBus.inject`): ``silent`` (the node
hears but does not answer), ``deaf`` (neither hears nor answers: its 11 s master timeout follows),
``crc`` (answers with a broken CRC), ``reboot`` (power cycle: 3 s silent, then state A with
ConfigChanged), ``rcd`` / ``rcd_reset``, ``temp <C>``, ``talk`` (clears silent/deaf/crc), and
``master`` (a second master on the bus broadcasting its own currents).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from backends.modbus.meters import METER_INDEX, METERS
from backends.modbus.simulator import LoadSource, SimulatedMeter
from backends.smartevse_rs485.emulator.node import EmulatedEv, NodeFirmware, RegisterError
from backends.smartevse_rs485.protocol import (
    BROADCAST_ADDRESS,
    FC_WRITE_MULTIPLE,
    FC_WRITE_SINGLE,
    READ_FUNCTIONS,
    REG_BALANCED,
    STATE_C,
    STATE_COMM_B,
    STATE_COMM_B_OK,
    STATE_COMM_C,
    STATE_COMM_C_OK,
    FrameError,
    decode_request,
    encode_response,
)
from hal.clock import Clock

log = structlog.get_logger("backends.smartevse_rs485.emulator")

TICK_S = 0.25
#: The register blocks a node serves (pymodbus SimData): status, broadcast, node and system config.
NODE_BLOCKS = ((0x0000, 12), (0x0020, 11), (0x0100, 10), (0x0200, 22))
NODE_FAULTS = ("silent", "deaf", "crc", "reboot", "rcd", "rcd_reset", "temp", "talk")


@dataclass
class EmulatedNode:
    firmware: NodeFirmware
    meter: SimulatedMeter | None = None
    source: LoadSource | None = None
    silent: bool = False
    deaf: bool = False
    crc: bool = False
    answers: int = 0


@dataclass
class BusLog:
    """What the bus saw, for tests and benchmarks."""

    requests: int = 0
    #: every balanced-current broadcast: (time, its 11 registers, addresses of the nodes in C after it)
    broadcasts: list[tuple[float, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    bad_frames: int = 0
    keep: int = 2000


class NodeBus:
    """The nodes (addresses 2..8) and meters of one emulated bus."""

    def __init__(self, clock: Clock, nodes: Sequence[NodeFirmware], *, mains_meter: str | None = None,
                 mains_address: int = 10, base_load_a: float = 0.0, voltage_v: float = 230.0) -> None:
        self.clock = clock
        self.voltage_v = voltage_v
        self.nodes: dict[int, EmulatedNode] = {}
        for fw in nodes:
            if fw.address in self.nodes:
                raise ValueError(f"two nodes at address {fw.address}")
            node = EmulatedNode(fw)
            if fw.ev_meter_type:
                definition = METERS[METER_INDEX.get(fw.ev_meter_type, "sdm630")]
                node.source = LoadSource(clock, (voltage_v,) * 3)
                node.meter = SimulatedMeter(definition, fw.ev_meter_address, source=node.source)
            self.nodes[fw.address] = node
        self.base_load_a = base_load_a
        self.mains_source: LoadSource | None = None
        self.mains: SimulatedMeter | None = None
        if mains_meter:
            self.mains_source = LoadSource(clock, (voltage_v,) * 3)
            self.mains = SimulatedMeter(METERS[mains_meter], mains_address, source=self.mains_source)
        self.second_master = False
        self.log = BusLog()
        self._server: ModbusSerialServer | ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._drop_next = False
        self._corrupt_next = False
        self.port: int | str = ""

    # ------------------------------------------------------------------ time
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rs485-emulator")

    async def _run(self) -> None:
        while True:
            self.tick()
            await self.clock.sleep(TICK_S)

    def tick(self) -> None:
        now = self.clock.monotonic()
        for node in self.nodes.values():
            node.firmware.tick(now)
        if self.second_master:
            self._foreign_broadcast(now)
        self.update_meters()

    def update_meters(self) -> None:
        total = [self.base_load_a] * 3
        for node in self.nodes.values():
            fw = node.firmware
            amps = fw.drawn_a()
            phases = [amps, amps if fw.ev.phases == 3 else 0.0, amps if fw.ev.phases == 3 else 0.0]
            if node.source is not None:
                node.source.set(current_a=phases)
            total = [t + p for t, p in zip(total, phases, strict=True)]
        if self.mains_source is not None:
            self.mains_source.set(current_a=total)

    def _foreign_broadcast(self, now: float) -> None:
        """Another master (a SmartEVSE at LoadBl=Master): it grants every request and gives everyone 10 A."""
        values = [100] * 8 + [0, 0, 0]
        for node in self.nodes.values():
            if node.deaf:
                continue
            fw = node.firmware
            if fw.state in (STATE_COMM_B, STATE_COMM_C):
                fw.write(0, [STATE_COMM_B_OK if fw.state == STATE_COMM_B else STATE_COMM_C_OK, 0], now)
            fw.receive_balanced(values, now)

    # ------------------------------------------------------------------ EVs and faults
    def node(self, address: int) -> EmulatedNode:
        if address not in self.nodes:
            raise ValueError(f"no node at address {address} (nodes: {sorted(self.nodes)})")
        return self.nodes[address]

    def plug(self, address: int, **ev: float | bool) -> None:
        fw = self.node(address).firmware
        for k, v in ev.items():
            setattr(fw.ev, k, v)
        fw.ev.plugged = True
        self.tick()

    def unplug(self, address: int) -> None:
        self.node(address).firmware.ev.plugged = False
        self.tick()

    def inject(self, address: int, fault: str, value: float | None = None) -> None:
        node = self.node(address)
        now = self.clock.monotonic()
        if fault == "silent":
            node.silent = True
        elif fault == "deaf":
            node.deaf = node.silent = True
        elif fault == "crc":
            node.crc = True
        elif fault == "talk":
            node.silent = node.deaf = node.crc = False
        elif fault == "reboot":
            ev = node.firmware.ev
            node.firmware.boot(now)
            node.firmware.ev = ev
        elif fault == "rcd":
            node.firmware.rcm_fault = True
        elif fault == "rcd_reset":
            node.firmware.rcm_fault = False
            node.firmware.error &= ~16
        elif fault == "temp":
            node.firmware.temperature_c = int(value if value is not None else 80)
        else:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(NODE_FAULTS)}")
        self.tick()

    # ------------------------------------------------------------------ requests
    def _answers(self, unit: int) -> EmulatedNode | None:
        node = self.nodes.get(unit)
        if node is None or node.deaf or node.firmware.booting_until > self.clock.monotonic():
            return None
        return node

    def apply(self, unit: int, function: int, address: int, count: int,
              values: Sequence[int]) -> list[int] | int | None:
        """One request on the bus: the registers read ([] for a write), an exception code, or None
        when nobody answers (an absent or deaf unit, a broadcast)."""
        now = self.clock.monotonic()
        self.log.requests += 1
        if unit == BROADCAST_ADDRESS:
            if function in (FC_WRITE_SINGLE, FC_WRITE_MULTIPLE):
                for node in self.nodes.values():
                    if self._answers(node.firmware.address) is not None:
                        with contextlib.suppress(RegisterError):
                            node.firmware.write(address, values, now)
                self.update_meters()
                if address == REG_BALANCED:
                    charging = tuple(a for a, n in self.nodes.items() if n.firmware.state == STATE_C)
                    self.log.broadcasts.append((now, tuple(values), charging))
                    del self.log.broadcasts[:-self.log.keep]
            return None
        meter = self._meter_at(unit)
        if meter is not None:
            if function != meter.definition.function or values:
                return int(ExcCodes.ILLEGAL_FUNCTION)
            image = meter.image()
            return [image.get(a, 0) for a in range(address, address + count)]
        target = self._answers(unit)
        if target is None:
            return None
        try:
            if function in READ_FUNCTIONS:
                return target.firmware.read(address, count)
            target.firmware.write(address, values, now)
            self.update_meters()
            return []
        except RegisterError as exc:
            return exc.code

    def _meter_at(self, unit: int) -> SimulatedMeter | None:
        if self.mains is not None and self.mains.address == unit:
            return self.mains
        for node in self.nodes.values():
            if node.meter is not None and node.meter.address == unit:
                return node.meter
        return None

    def handle_frame(self, frame: bytes) -> bytes | None:
        """LoopbackBus handler: one request frame in, the answer frame (or None) out."""
        try:
            req = decode_request(frame)
        except FrameError:
            self.log.bad_frames += 1
            return None
        result = self.apply(req.unit, req.function, req.address, req.count, req.values)
        if result is None:
            return None
        node = self.nodes.get(req.unit)
        if node is not None and node.silent:
            return None
        answer = encode_response(req, exception=result) if isinstance(result, int) else encode_response(req, result)
        if node is not None and node.crc:
            answer = answer[:-1] + bytes((answer[-1] ^ 0xFF,))
        if node is not None:
            node.answers += 1
        return answer

    # ------------------------------------------------------------------ pymodbus servers
    def _devices(self) -> list[SimDevice]:
        devices: list[SimDevice] = []
        for unit in [*self.nodes, BROADCAST_ADDRESS]:
            blocks = [SimData(address=a, count=c, values=0, datatype=DataType.REGISTERS) for a, c in NODE_BLOCKS]
            devices.append(SimDevice(id=unit, simdata=blocks, action=self._action_for(unit)))
        for meter in [m for m in [self.mains, *(n.meter for n in self.nodes.values())] if m is not None]:
            devices.append(SimDevice(id=meter.address, simdata=meter.device().simdata,
                                     action=self._action_for(meter.address)))
        return devices

    def _action_for(self, unit: int):  # type: ignore[no-untyped-def,unused-ignore]
        async def action(function_code: int, start_address: int, address: int, count: int,
                         registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
            values = [int(v) for v in set_values] if set_values else []
            result = self.apply(unit, function_code, address, count, values)
            if result is None:
                self._drop_next = True
                return None
            if isinstance(result, int):
                return ExcCodes(result)
            for i, v in enumerate(result):
                registers[address - start_address + i] = v
            return None
        return action

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:
            node = self.nodes.get(pdu.dev_id)
            if pdu.dev_id == BROADCAST_ADDRESS or (node is not None and node.silent):
                self._drop_next = True
            elif node is not None and node.crc:
                self._corrupt_next = True
            elif node is not None:
                node.answers += 1
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        if self._drop_next:
            self._drop_next = False
            return b""
        if self._corrupt_next:
            self._corrupt_next = False
            return data[:-1] + bytes((data[-1] ^ 0xFF,))
        return data

    async def serve_rtu(self, port: str, baudrate: int = 9600) -> None:
        self._server = ModbusSerialServer(self._devices(), port=port, baudrate=baudrate,
                                          trace_pdu=self._trace_pdu, trace_packet=self._trace_packet)
        await self._server.serve_forever(background=True)
        self.port = port

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        server = ModbusTcpServer(self._devices(), address=(host, port), trace_pdu=self._trace_pdu,
                                 trace_packet=self._trace_packet)
        await server.serve_forever(background=True)
        self._server = server
        assert server.transport is not None
        self.port = int(server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self.port

    async def stop(self) -> None:
        await self.clock.cancel_and_wait(self._task)
        self._task = None
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


def make_nodes(count: int, *, max_current_a: int = 16, ev_meters: bool = True, ev_max_a: float = 16.0,
               now: float = 0.0) -> list[NodeFirmware]:
    """``count`` nodes at addresses 2.., each with an SDM630 EV meter at 11 + address (when ``ev_meters``)."""
    return [NodeFirmware(2 + i, max_current_a=max_current_a, ev_meter_type=4 if ev_meters else 0,
                         ev_meter_address=13 + i, ev=EmulatedEv(max_current_a=ev_max_a), now=now)
            for i in range(count)]
