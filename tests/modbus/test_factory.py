"""create_meter(): options -> ModbusMeter, with validation errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from backends.modbus import (
    METERS,
    ByteOrder,
    ConfigError,
    DataType,
    ModbusMeter,
    RtuTransport,
    TcpTransport,
    create_meter,
)
from backends.modbus.meters import MeterValues, decode, encode
from backends.modbus.simulator import MeterServer, SimulatedMeter
from chargepoint.clock import VirtualClock
from tests.modbus.helpers import EventLog


def build(options: dict[str, Any]) -> ModbusMeter:
    clock = VirtualClock()
    try:
        return create_meter(clock, options)
    finally:
        clock.loop.close()


def test_tcp_ev_meter_with_defaults() -> None:
    meter = build({"type": "sdm630", "host": "10.0.0.5"})
    assert meter.link.transport == TcpTransport("10.0.0.5", 502)
    assert (meter.role, meter.connector, meter.address) == ("ev", 1, 12)
    assert (meter.poll_interval_s, meter.timeout_s, meter.comm_loss_s) == (2.0, 0.5, 64.0)
    assert meter.definition is METERS["sdm630"]


def test_rtu_mains_meter_by_menu_index() -> None:
    meter = build({"type": 2, "transport": "rtu", "serial_port": "/dev/ttyUSB0", "role": "mains",
                   "baudrate": 19200, "parity": "e"})
    assert meter.link.transport == RtuTransport("/dev/ttyUSB0", 19200, 8, "E", 1)
    assert (meter.role, meter.connector, meter.address, meter.comm_loss_s) == ("mains", 0, 10, 11.0)
    assert meter.definition.key == "eem350"


def test_sensorbox_defaults_to_its_fixed_address() -> None:
    assert build({"type": "sensorbox", "serial_port": "/dev/ttyS1", "role": "mains"}).address == 0x0A


def test_custom_meter_from_options() -> None:
    meter = build({
        "type": "custom", "host": "meter.local", "port": 1502, "address": 3, "connector": 2,
        "custom_function": 3, "custom_data_type": "int32", "custom_byte_order": "HBF_LWF",
        "custom_voltage_register": 0x10, "custom_voltage_divisor": 1,
        "custom_current_register": 0x20, "custom_current_divisor": 3,
        "custom_power_register": 0x30, "custom_power_divisor": 0,
        "custom_energy_register": "0x40", "custom_energy_divisor": 2,
    })
    d = meter.definition
    assert (d.function, d.dtype, d.order) == (3, DataType.INT32, ByteOrder.HBF_LWF)
    assert (d.voltage.register, d.current.divisor, d.energy_import.register) == (0x10, 3, 0x40)
    values = MeterValues((230.0, 230.5, 231.0), (6.0, 7.0, -8.0), 1234.0, 5670.0, 0.0)
    back = decode(d, encode(d, values))
    assert back.current_a == values.current_a and back.energy_import_wh == 5670.0


@pytest.mark.parametrize("options,field", [
    ({}, "type"),
    ({"type": "sdm999", "host": "h"}, "type"),
    ({"type": 9, "host": "h"}, "type"),  # API meter: not Modbus
    ({"type": "sdm630", "transport": "tcp"}, "host"),
    ({"type": "sdm630", "transport": "rtu"}, "serial_port"),
    ({"type": "sdm630", "transport": "udp", "host": "h"}, "transport"),
    ({"type": "sdm630", "host": "h", "role": "solar"}, "role"),
    ({"type": "sdm630", "host": "h", "address": 300}, "address"),
    ({"type": "sdm630", "host": "h", "address": "twelve"}, "address"),
    ({"type": "sdm630", "host": "h", "port": 0}, "port"),
    ({"type": "sdm630", "serial_port": "/dev/x", "baudrate": 50}, "baudrate"),
    ({"type": "sdm630", "host": "h", "role": "mains", "connector": 2}, "connector"),
    ({"type": "sdm630", "host": "h", "connector": 0}, "connector"),
    ({"type": "sdm630", "host": "h", "poll_interval_s": 0}, "poll_interval_s"),
    ({"type": "sdm630", "host": "h", "timeout_s": "fast"}, "timeout_s"),
    ({"type": "sdm630", "host": "h", "colour": "red"}, "colour"),
    ({"type": "custom", "host": "h", "custom_voltage_register": 1, "custom_current_register": 2,
      "custom_power_register": 3}, "custom_energy_register"),
    ({"type": "custom", "host": "h", "custom_function": 6}, "custom_function"),
    ({"type": "custom", "host": "h", "custom_data_type": "double"}, "custom_data_type"),
    ({"type": "custom", "host": "h", "custom_byte_order": 7}, "custom_byte_order"),
    ({"type": "custom", "host": "h", "custom_voltage_register": 1, "custom_voltage_divisor": 9,
      "custom_current_register": 2, "custom_power_register": 3, "custom_energy_register": 4},
     "custom_voltage_divisor"),
])
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        build(options)
    assert err.value.field == field
    assert repr(field) in str(err.value)


def test_factory_meter_polls_a_simulator() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["chint_dtsu666"], 10,
                             values=MeterValues((230.0,) * 3, (-20.0, 5.0, 1.0), -3220.0, 10.0, 2000.0))
        server = MeterServer(sim)
        port = await server.start_tcp()
        meter = create_meter(clock, {"type": 15, "host": "127.0.0.1", "port": port, "role": "mains",
                                     "poll_interval_s": 1})
        log = EventLog(clock, meter)
        await meter.start()
        reading = await log.next_reading()
        assert reading.connector == 0
        assert reading.current_a == pytest.approx((-20.0, 5.0, 1.0))
        assert reading.energy_export_wh == pytest.approx(2000.0)
        await meter.close()
        await server.stop()

    clock = VirtualClock()
    clock.run(body(clock))
