"""ModbusMeter over Modbus RTU: a pymodbus serial server and the client on a real pseudo-terminal pair.

These run on the real clock with short intervals: kernel ptys deliver bytes asynchronously, which the
virtual clock cannot wait for (it would jump time forward while the bytes are in flight).
"""

from __future__ import annotations

import pytest
import structlog

from backends.modbus import METERS, LinkPool, ModbusMeter, RtuTransport
from backends.modbus.meters import MeterValues
from backends.modbus.simulator import LoadSource, MeterServer, PtyPair, SimulatedMeter
from chargepoint.clock import RealClock
from hal.types import MeterStatus
from tests.modbus.helpers import EventLog

VALUES = MeterValues((230.0, 231.0, 232.0), (16.0, 15.5, -1.0), 7300.0, 5_000.0, 100.0)


async def rtu_server(*meters: SimulatedMeter) -> tuple[PtyPair, MeterServer]:
    pty = PtyPair()
    pty.start()
    server = MeterServer(list(meters))
    await server.start_rtu(pty.server_path, 9600)
    return pty, server


@pytest.mark.parametrize("key", ["sdm630", "eem350", "solaredge"])
async def test_rtu_polling(key: str) -> None:
    clock = RealClock()
    sim = SimulatedMeter(METERS[key], 12, values=VALUES)
    pty, server = await rtu_server(sim)
    meter = ModbusMeter(clock, METERS[key], RtuTransport(pty.client_path), 12, "ev", 1,
                        poll_interval_s=0.05, timeout_s=0.5)
    log = EventLog(clock, meter)
    await meter.start()
    try:
        assert await log.next(5.0) == MeterStatus(1, True, "first reading")
        reading = await log.next_reading(5.0)
        assert reading.current_a == pytest.approx(VALUES.current_a, abs=0.005)
        assert reading.voltage_v == pytest.approx(VALUES.voltage_v, abs=0.05)
        assert reading.energy_import_wh == pytest.approx(VALUES.energy_import_wh, abs=50.0)
        await log.next_reading(5.0)
        assert meter.stats.failures() == 0
    finally:
        await meter.close()
        await server.stop()
        pty.close()


async def test_rtu_bus_with_two_meters_and_faults() -> None:
    clock = RealClock()
    source = LoadSource(clock, current_a=(10.0, 10.0, 10.0))
    ev_sim = SimulatedMeter(METERS["sdm630"], 12, source=source)
    mains_sim = SimulatedMeter(METERS["carlo_gavazzi_em340"], 10, values=VALUES)
    pty, server = await rtu_server(ev_sim, mains_sim)
    pool = LinkPool(clock, timeout_s=0.2)
    transport = RtuTransport(pty.client_path)
    ev = ModbusMeter(clock, METERS["sdm630"], transport, 12, "ev", 1, poll_interval_s=0.05, timeout_s=0.2,
                     comm_loss_s=0.6, pool=pool)
    mains = ModbusMeter(clock, METERS["carlo_gavazzi_em340"], transport, 10, "mains", poll_interval_s=0.05,
                        timeout_s=0.2, comm_loss_s=0.6, pool=pool)
    ev_log, mains_log = EventLog(clock, ev), EventLog(clock, mains)
    await ev.start()
    await mains.start()
    try:
        assert (await ev_log.next_reading(5.0)).current_a == (10.0, 10.0, 10.0)
        assert (await mains_log.next_reading(5.0)).connector == 0
        ev_sim.set_fault("silent")  # the EV meter stops answering; the mains meter keeps going
        lost = await ev_log.next_status(5.0)
        assert lost.ok is False and ev.stats.timeouts > 0
        await mains_log.next_reading(5.0)
        assert mains.ok is True
        ev_sim.set_fault("short")
        mains_sim.set_fault("exception", exception_code=2)
        await clock.sleep(0.3)
        assert ev.stats.wrong_lengths > 0 and mains.stats.modbus_exceptions > 0
        ev_sim.set_fault("none")
        mains_sim.set_fault("none")
        assert (await ev_log.next_status(5.0)).ok is True
        source.set(current_a=(-6.0, 0.0, 0.0))
        for _ in range(3):
            reading = await ev_log.next_reading(5.0)
        assert reading.current_a == (-6.0, 0.0, 0.0)
    finally:
        await ev.close()
        await mains.close()
        await server.stop()
        pty.close()


async def test_missing_serial_port_is_logged_and_retried() -> None:
    clock = RealClock()
    with structlog.testing.capture_logs() as logs:
        meter = ModbusMeter(clock, METERS["sdm630"], RtuTransport("/dev/ttyDOESNOTEXIST"), 12, "ev", 1,
                            comm_loss_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.1)
        log = EventLog(clock, meter)
        await meter.start()
        lost = await log.next_status(5.0)
        await meter.close()
    assert lost.ok is False
    attempts = [e for e in logs if e["event"] == "modbus.connect_failed"]
    assert len(attempts) >= 3
    assert "/dev/ttyDOESNOTEXIST" in attempts[0]["target"]
    assert attempts[0]["error"] == "serial port /dev/ttyDOESNOTEXIST does not exist"
    assert [e["retry_in_s"] for e in attempts[:3]] == [0.05, 0.1, 0.1]
