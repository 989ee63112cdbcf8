"""Options of the ``smartevse-rs485`` backend: the bus, the nodes, and the system configuration it pushes.

From a flat mapping (the runtime's backend options, a scenario's ``chargepoint:`` table)::

    port = "/dev/serial/by-id/usb-FTDI_...-if00-port0"   # or "tcp://192.0.2.7:502" (RS485 gateway)
    nodes = "2,3,4"            # addresses (LoadBl 2..8 = Node 1..7) -> connectors 1, 2, 3
    # or nodes = 3 (addresses 2..4), or a list of tables:
    # nodes = [{address = 2, max_current_a = 16, phases = 3, ev_meter = true}, ...]
    bus_baudrate = 9600        # the SmartEVSE bus runs 9600 8N1
    mains_meter = {type = "sdm630", address = 10}   # a mains meter on the same bus (read by us)

Errors are ValueErrors naming the key (``smartevse-rs485 option 'nodes': address 9 outside 2..8``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.modbus.meters import METER_INDEX, METERS, MeterDefinition
from backends.smartevse_rs485.master import NodeConfig
from backends.smartevse_rs485.protocol import MODE_NORMAL, NODE_ADDRESSES, SystemConfig

#: Baud rates an RS485 adapter of this bus may use; anything else (the v4 UART's 500000 default
#: of ``backend.baudrate``) falls back to the bus's 9600.
RS485_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
#: Keys every backend gets from the runtime; ignored here unless they mean something for the bus.
GENERIC_IGNORED = frozenset({"has_lock", "fixed_cable", "watchdog_s", "rcmon", "connectors"})
MODES = {"normal": 0, "smart": 1, "solar": 2}


def _fail(key: str, why: str) -> ValueError:
    return ValueError(f"smartevse-rs485 option {key!r}: {why}")


@dataclass(frozen=True)
class MeterOnBus:
    """A kWh meter on the same RS485 bus, read by the master."""

    definition: MeterDefinition
    address: int


@dataclass(frozen=True)
class Rs485Options:
    port: str = ""  # serial device, or "tcp://host:port" for a Modbus TCP gateway
    nodes: tuple[NodeConfig, ...] = ()
    bus_baudrate: int = 9600
    cycle_s: float = 2.0
    timeout_s: float = 0.1  # per request (the firmware master waits 85 ms)
    min_current_a: float = 6.0
    mode: int = MODE_NORMAL
    max_mains_a: int = 25
    max_circuit_a: int = 16
    nominal_voltage_v: float = 230.0
    mains_meter: MeterOnBus | None = None
    ev_meter_default: str = "sdm630"  # the definition used when a node reports an EV meter type we lack
    #: virtual-time runs: a frame handler (the emulator's NodeBus.handle_frame) instead of a port
    loopback: Callable[[bytes], bytes | None] | None = None
    start_timeout_s: float = 5.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_current_a(self) -> float:
        return max(n.max_current_a for n in self.nodes)

    def system_config(self) -> SystemConfig:
        meter_type = self.mains_meter.definition.index or 0 if self.mains_meter else 0
        address = self.mains_meter.address if self.mains_meter else 10
        return SystemConfig(mode=self.mode, max_circuit_a=self.max_circuit_a, max_mains_a=self.max_mains_a,
                            mains_meter_type=meter_type, mains_meter_address=address)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> Rs485Options:
        kw: dict[str, Any] = {}
        node_default_max = 16.0
        hardware_max = 80.0
        phases = 3
        raw_nodes: Any = None
        for key, value in options.items():
            if key in ("port", "serial"):
                kw["port"] = "" if value is None else str(value)
            elif key == "nodes":
                raw_nodes = value
            elif key == "baudrate":  # the generic backend.baudrate (v4 default 500000)
                if int(value) in RS485_BAUDRATES:
                    kw.setdefault("bus_baudrate", int(value))
            elif key == "bus_baudrate":
                if int(value) not in RS485_BAUDRATES:
                    raise _fail(key, f"{value!r} is not one of {', '.join(map(str, RS485_BAUDRATES))}")
                kw["bus_baudrate"] = int(value)
            elif key in ("cycle_s", "timeout_s", "start_timeout_s", "nominal_voltage_v", "min_current_a"):
                kw[key] = _positive(key, value)
            elif key == "max_current_setting_a":  # controller.max_current_a: the nodes' default MaxCurrent
                node_default_max = _positive(key, value)
            elif key == "max_current_a":  # backend.max_current_a: the hardware maximum
                hardware_max = _positive(key, value)
            elif key == "phases":
                phases = _phases(key, value)
            elif key == "mode":
                kw["mode"] = _mode(value)
            elif key in ("max_mains_a", "max_circuit_a"):
                kw[key] = int(_positive(key, value))
            elif key == "mains_meter":
                kw["mains_meter"] = _meter(key, value) if value else None
            elif key == "ev_meter_default":
                if value not in METERS:
                    raise _fail(key, f"unknown meter {value!r}")
                kw[key] = str(value)
            elif key == "loopback":
                if value is not None and not callable(value):
                    raise _fail(key, "must be a frame handler (callable)")
                kw[key] = value
            elif key in GENERIC_IGNORED:
                continue
            else:
                raise _fail(key, "unknown option")
        kw["nodes"] = parse_nodes(raw_nodes, default_max_a=min(node_default_max, hardware_max), default_phases=phases)
        if not kw.get("port") and kw.get("loopback") is None:
            raise _fail("port", "the serial port of the RS485 adapter (or tcp://host:port of a gateway) "
                                "is required (--serial PORT)")
        return cls(**kw)


def parse_nodes(raw: Any, *, default_max_a: float = 16.0, default_phases: int = 3) -> tuple[NodeConfig, ...]:
    """``"2,3,4"``, ``3`` (addresses 2..4), ``[2, 3]`` or a list of tables -> NodeConfigs (connector 1..n
    in the given order)."""
    if raw is None or raw == "":
        raise _fail("nodes", "list the node addresses (LoadBl 2..8), e.g. nodes = \"2,3,4\" (--nodes 2,3,4)")
    items: list[Any]
    if isinstance(raw, bool):
        raise _fail("nodes", f"{raw!r} is not a node list")
    if isinstance(raw, int):
        if not 1 <= raw <= len(NODE_ADDRESSES):
            raise _fail("nodes", f"{raw} nodes: 1..7 nodes fit on the bus")
        items = list(NODE_ADDRESSES[:raw])
    elif isinstance(raw, str):
        try:
            items = [int(p) for p in raw.replace(" ", "").split(",") if p]
        except ValueError:
            raise _fail("nodes", f"{raw!r} is not a comma list of addresses") from None
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise _fail("nodes", f"{raw!r} is not a node list")
    out: list[NodeConfig] = []
    for i, item in enumerate(items, start=1):
        table: Mapping[str, Any] = item if isinstance(item, Mapping) else {"address": item}
        unknown = set(table) - {"address", "max_current_a", "phases", "ev_meter"}
        if unknown:
            raise _fail("nodes", f"node {i}: unknown key(s) {', '.join(sorted(unknown))}")
        address = table.get("address")
        if isinstance(address, bool) or not isinstance(address, int) or address not in NODE_ADDRESSES:
            raise _fail("nodes", f"node {i}: address {address!r} outside 2..8 (LoadBl Node 1..7)")
        max_a = _positive("nodes", table.get("max_current_a", default_max_a))
        if not 6 <= max_a <= 80:
            raise _fail("nodes", f"node {i}: max_current_a {max_a:g} outside 6..80 A")
        out.append(NodeConfig(address=address, connector=i, max_current_a=max_a,
                              phases=_phases("nodes", table.get("phases", default_phases)),
                              ev_meter=bool(table.get("ev_meter", True))))
    addresses = [n.address for n in out]
    if len(set(addresses)) != len(addresses):
        raise _fail("nodes", f"an address is listed twice: {addresses}")
    if not out:
        raise _fail("nodes", "no node listed")
    return tuple(out)


def _positive(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _fail(key, f"{value!r} is not a number") from None
    if not number > 0:
        raise _fail(key, f"must be positive (got {value!r})")
    return number


def _phases(key: str, value: Any) -> int:
    if value not in (1, 3):
        raise _fail(key, f"phases must be 1 or 3, not {value!r}")
    return int(value)


def _mode(value: Any) -> int:
    if isinstance(value, str) and value.lower() in MODES:
        return MODES[value.lower()]
    if value in (0, 1, 2):
        return int(value)
    raise _fail("mode", f"{value!r} is not normal, smart or solar")


def _meter(key: str, value: Any) -> MeterOnBus:
    if isinstance(value, str):  # "sdm630@10"
        kind, _, address = value.partition("@")
        if not address.isdigit():
            raise _fail(key, f"{value!r} is not TYPE@ADDRESS (e.g. sdm630@10)")
        value = {"type": kind, "address": int(address)}
    if not isinstance(value, Mapping):
        raise _fail(key, "must be a table {type = ..., address = ...}")
    kind = value.get("type", "sdm630")
    if isinstance(kind, int) and kind in METER_INDEX:
        kind = METER_INDEX[kind]
    if kind not in METERS:
        raise _fail(key, f"unknown meter type {kind!r}")
    definition = METERS[str(kind)]
    address = value.get("address", definition.default_address)
    if isinstance(address, bool) or not isinstance(address, int) or not 10 <= address <= 247:
        raise _fail(key, f"address {address!r} outside 10..247")
    return MeterOnBus(definition, address)
