"""Modbus kWh meters: table-driven definitions, a polling client (TCP and RTU) and simulators.

Parts
-----
* :mod:`backends.modbus.meters` -- the meter table (SmartEVSE menu order), decoder and encoder.
* :mod:`backends.modbus.link` -- one pymodbus connection, shared by the meters on one bus.
* :mod:`backends.modbus.client` -- :class:`ModbusMeter`: polls, emits HAL events, comm-loss rule.
* :mod:`backends.modbus.simulator` -- simulated meters on pymodbus servers (TCP, RTU on a pty).

Roles: how a meter is used
--------------------------
* **EV meter** (``role="ev"``, ``connector=n``): measures what connector *n* delivers.  Its
  :class:`hal.types.MeterReading` events carry ``connector=n``; ``energy_import_wh`` is the
  register the OCPP layer uses for meterStart/meterStop and MeterValues
  (Energy.Active.Import.Register), currents and power feed Current.Import / Power.Active.Import.
  No valid reading for 64 s (firmware EV_NOCOMM) -> ``MeterStatus(n, ok=False)``, which the
  controller turns into a PowerMeterFailure fault; the next good reading sends ``ok=True``.
* **Mains meter** (``role="mains"``): measures the grid connection for load balancing.  Its
  readings carry ``connector=0``; the energy manager reads the signed phase currents (import
  positive, export negative) to compute the ``mains`` / ``solar`` limits.  No valid reading for
  11 s (firmware CT_NOCOMM) -> ``MeterStatus(0, ok=False)``: smart/solar modes must stop
  offering power until it returns.

Wiring (the runtime owns the loop)::

    meter = create_meter(clock, {"type": "sdm630", "transport": "rtu", "serial_port": "/dev/ttyUSB0",
                                 "address": 12, "role": "ev", "connector": 1})
    await meter.start()
    async for event in meter.events():      # MeterReading | MeterStatus
        station.feed(event)
    await meter.close()

Several meters on one RS485 port must share a :class:`LinkPool` (``create_meter(..., pool=pool)``),
because a serial port can only be opened once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.modbus.client import COMM_LOSS_S, MeterStats, ModbusMeter
from backends.modbus.link import LinkPool, ModbusLink, RtuTransport, TcpTransport, Transport
from backends.modbus.meters import (
    METER_INDEX,
    METERS,
    ByteOrder,
    DataType,
    DecodeError,
    MeterDefinition,
    MeterValues,
    Quantity,
    custom_definition,
    decode,
    encode,
)
from chargepoint.errors import FieldError
from hal.clock import Clock

__all__ = [
    "COMM_LOSS_S",
    "METERS",
    "METER_INDEX",
    "ByteOrder",
    "ConfigError",
    "DataType",
    "DecodeError",
    "LinkPool",
    "MeterDefinition",
    "MeterStats",
    "MeterValues",
    "ModbusLink",
    "ModbusMeter",
    "Quantity",
    "RtuTransport",
    "TcpTransport",
    "create_meter",
    "decode",
    "definition_from_options",
    "encode",
]


class ConfigError(FieldError):
    """A meter option is missing or invalid; ``field`` names it (``str()``: ``modbus meter option
    'field': message``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.args = (f"modbus meter option {field!r}: {message}",)


#: Defaults of the firmware: mains meter address 10, EV meter address 12.
DEFAULT_ADDRESS = {"mains": 10, "ev": 12}

_COMMON = {
    "type", "transport", "host", "port", "serial_port", "baudrate", "parity", "stopbits", "bytesize",
    "address", "role", "connector", "poll_interval_s", "timeout_s", "comm_loss_s", "backoff_max_s",
}
_CUSTOM = {
    "custom_function", "custom_data_type", "custom_byte_order",
    "custom_voltage_register", "custom_voltage_divisor", "custom_current_register", "custom_current_divisor",
    "custom_power_register", "custom_power_divisor", "custom_energy_register", "custom_energy_divisor",
}


def _int(options: Mapping[str, Any], field: str, default: int | None, low: int, high: int) -> int:
    value = options.get(field, default)
    if value is None:
        raise ConfigError(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(field, f"must be an integer, got {value!r}")
    try:
        number = int(value, 0) if isinstance(value, str) else value
    except ValueError:
        raise ConfigError(field, f"must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(field, f"must be {low}..{high}, got {number}")
    return number


def _float(options: Mapping[str, Any], field: str, default: float | None, low: float, high: float) -> float | None:
    value = options.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(field, f"must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise ConfigError(field, f"must be {low:g}..{high:g}, got {value}")
    return float(value)


def _choice(options: Mapping[str, Any], field: str, default: str | None, choices: tuple[str, ...]) -> str:
    value = options.get(field, default)
    if value is None:
        raise ConfigError(field, f"is required (one of {', '.join(choices)})")
    if not isinstance(value, str) or value.lower() not in choices:
        raise ConfigError(field, f"must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def definition_from_options(options: Mapping[str, Any]) -> MeterDefinition:
    """The meter definition named by ``options["type"]`` (key or menu index), or the custom one."""
    kind = options.get("type")
    if kind is None:
        raise ConfigError("type", f"is required (one of {', '.join(sorted([*METERS, 'custom']))})")
    if isinstance(kind, int) and not isinstance(kind, bool):
        if kind == 19:
            kind = "custom"
        elif kind in METER_INDEX:
            kind = METER_INDEX[kind]
        else:
            raise ConfigError("type", f"menu index {kind} is not a Modbus meter (known: "
                                      f"{', '.join(str(i) for i in sorted([*METER_INDEX, 19]))})")
    if not isinstance(kind, str):
        raise ConfigError("type", f"must be a meter name or menu index, got {kind!r}")
    kind = kind.lower()
    if kind != "custom":
        if kind not in METERS:
            raise ConfigError("type", f"unknown meter {kind!r}; known: {', '.join(sorted([*METERS, 'custom']))}")
        return METERS[kind]
    function = _int(options, "custom_function", 4, 3, 4)
    dtype_name = _choice(options, "custom_data_type", "float32", ("int16", "int32", "float32"))
    order_value = options.get("custom_byte_order", 3)
    if isinstance(order_value, str) and order_value.upper() in ByteOrder.__members__:
        order = ByteOrder[order_value.upper()]
    else:
        order = ByteOrder(_int(options, "custom_byte_order", 3, 0, 3))

    def quantity(name: str) -> Quantity:
        return Quantity(_int(options, f"custom_{name}_register", None, 0, 65534),
                        _int(options, f"custom_{name}_divisor", 0, -7, 7))

    return custom_definition(
        function=function, dtype=DataType(dtype_name), order=order, voltage=quantity("voltage"),
        current=quantity("current"), power=quantity("power"), energy=quantity("energy"),
    )


def create_meter(clock: Clock, options: Mapping[str, Any], *, pool: LinkPool | None = None) -> ModbusMeter:
    """Build a :class:`ModbusMeter` from config options; :class:`ConfigError` names a bad field.

    Options: ``type`` (meter key such as "sdm630", a firmware menu index, or "custom"),
    ``transport`` "tcp" | "rtu" (default: "tcp" when ``host`` is given), ``host``, ``port`` (502),
    ``serial_port``, ``baudrate`` (9600), ``parity`` ("N"), ``stopbits`` (1), ``bytesize`` (8),
    ``address`` (default: Sensorbox 10, mains 10, EV 12), ``role`` "ev" | "mains", ``connector``,
    ``poll_interval_s`` (2), ``timeout_s`` (0.5), ``comm_loss_s`` (11 mains / 64 EV),
    ``backoff_max_s`` (30); for "custom": ``custom_function`` 3|4, ``custom_data_type``
    int16|int32|float32, ``custom_byte_order`` 0..3 or LBF_LWF/LBF_HWF/HBF_LWF/HBF_HWF,
    ``custom_{voltage,current,power,energy}_register`` and ``..._divisor`` (exponent, -7..7).
    """
    unknown = sorted(set(options) - _COMMON - _CUSTOM)
    if unknown:
        raise ConfigError(unknown[0], "unknown option")
    definition = definition_from_options(options)
    role = _choice(options, "role", "ev", ("ev", "mains"))
    transport_name = _choice(options, "transport", "tcp" if options.get("host") else "rtu", ("tcp", "rtu"))
    transport: Transport
    if transport_name == "tcp":
        host = options.get("host")
        if not isinstance(host, str) or not host:
            raise ConfigError("host", "is required for transport 'tcp'")
        transport = TcpTransport(host, _int(options, "port", 502, 1, 65535))
    else:
        serial_port = options.get("serial_port")
        if not isinstance(serial_port, str) or not serial_port:
            raise ConfigError("serial_port", "is required for transport 'rtu'")
        parity = _choice(options, "parity", "N", ("n", "e", "o")).upper()
        transport = RtuTransport(
            serial_port, _int(options, "baudrate", 9600, 1200, 115200), _int(options, "bytesize", 8, 7, 8),
            parity, _int(options, "stopbits", 1, 1, 2),
        )
    if definition.kind == "sensorbox":
        default_address = definition.default_address
    else:
        default_address = DEFAULT_ADDRESS[role]
    address = _int(options, "address", default_address, 1, 247)
    if role == "mains":
        connector = _int(options, "connector", 0, 0, 0)
    else:
        connector = _int(options, "connector", 1, 1, 64)
    poll = _float(options, "poll_interval_s", 2.0, 0.01, 3600.0)
    timeout = _float(options, "timeout_s", 0.5, 0.01, 60.0)
    loss = _float(options, "comm_loss_s", None, 0.1, 86400.0)
    backoff_max = _float(options, "backoff_max_s", 30.0, 0.1, 3600.0)
    assert poll is not None and timeout is not None and backoff_max is not None
    return ModbusMeter(
        clock, definition, transport, address, role, connector, poll, timeout,
        comm_loss_s=loss, backoff_max_s=backoff_max, pool=pool,
    )
