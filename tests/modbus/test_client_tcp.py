"""ModbusMeter against simulated meters on real pymodbus TCP servers (loopback), in virtual time."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Awaitable, Callable

import pytest
import structlog

from backends.modbus import METERS, LinkPool, ModbusMeter, TcpTransport
from backends.modbus.meters import MeterValues, custom_definition
from backends.modbus.simulator import LoadSource, MeterServer, SimulatedMeter
from chargepoint.clock import VirtualClock
from hal.interfaces import PowerMeter
from hal.types import MeterReading, MeterStatus
from tests.modbus.helpers import EventLog, free_tcp_port

VALUES = MeterValues((230.1, 231.2, 229.3), (10.5, -3.25, 6.0), 3660.0, 123_456.0, 890.0)


def run(body: Callable[[VirtualClock], Awaitable[None]]) -> None:
    clock = VirtualClock()
    clock.run(body(clock))


async def serve(meter: SimulatedMeter) -> tuple[MeterServer, int]:
    server = MeterServer(meter)
    port = await server.start_tcp("127.0.0.1", 0)
    return server, port


@pytest.mark.parametrize("key", sorted(METERS))
def test_polls_every_meter_type(key: str) -> None:
    defn = METERS[key]
    values = VALUES
    if defn.phases == 1:
        values = MeterValues((230.1, 0.0, 0.0), (10.5, 0.0, 0.0), 2416.05, 123_456.0, 890.0)
    if defn.kind == "sensorbox":
        values = MeterValues(VALUES.voltage_v, VALUES.current_a, 0.0, 0.0, 0.0)

    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(defn, 12 if defn.kind != "sensorbox" else None, values=values)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, defn, TcpTransport("127.0.0.1", port), sim.address, "ev", 2,
                            poll_interval_s=1.0)
        log = EventLog(clock, meter)
        await meter.start()
        status = await log.next()
        assert status == MeterStatus(2, True, "first reading")
        reading = await log.next_reading()
        assert reading.connector == 2
        assert reading.voltage_v == pytest.approx(values.voltage_v, abs=0.05)
        assert reading.current_a == pytest.approx(values.current_a, abs=0.005)
        if defn.kind != "sensorbox":
            assert reading.power_w == pytest.approx(values.power_w, abs=2.0)
            assert reading.energy_import_wh == pytest.approx(values.energy_import_wh, abs=50.0)
        assert isinstance(meter, PowerMeter) and meter.latest() == reading
        assert meter.stats.failures() == 0
        assert sim.requests == len(defn.reads()) * meter.stats.polls
        await meter.close()
        await server.stop()

    run(body)


def test_readings_follow_the_source_and_energy_integrates() -> None:
    async def body(clock: VirtualClock) -> None:
        source = LoadSource(clock, current_a=(16.0, 16.0, 16.0))
        sim = SimulatedMeter(METERS["sdm630"], 12, source=source)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, METERS["sdm630"], TcpTransport("127.0.0.1", port), 12, "ev", 1,
                            poll_interval_s=10.0)
        log = EventLog(clock, meter)
        await meter.start()
        first = await log.next_reading()
        assert first.current_a == (16.0, 16.0, 16.0)
        second = await log.next_reading()
        # 10 s at 3 x 16 A x 230 V
        assert second.energy_import_wh - first.energy_import_wh == pytest.approx(11040 * 10 / 3600, rel=1e-4)
        source.set(current_a=(-8.0, 0.0, 0.0))  # now exporting on L1
        third = await log.next_reading()
        assert third.current_a == (-8.0, 0.0, 0.0)
        assert third.power_w == pytest.approx(-1840.0)
        assert third.energy_export_wh == pytest.approx(1840 * 10 / 3600, rel=1e-4)
        assert third.energy_import_wh == second.energy_import_wh
        assert log.events[-1][0] - log.events[-2][0] == pytest.approx(10.0)  # poll interval
        await meter.close()
        await server.stop()

    run(body)


@pytest.mark.parametrize("role,connector,loss_s", [("ev", 1, 64.0), ("mains", 0, 11.0)])
def test_comm_loss_rule_and_recovery(role: str, connector: int, loss_s: float) -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["sdm630"], 12, values=VALUES)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, METERS["sdm630"], TcpTransport("127.0.0.1", port), 12, role,
                            connector if role == "ev" else None, poll_interval_s=1.0, timeout_s=0.5)
        assert meter.comm_loss_s == loss_s
        log = EventLog(clock, meter)
        await meter.start()
        await log.next_reading()
        last_good = clock.monotonic()
        sim.set_fault("silent")
        lost = await log.next_status()
        assert lost.ok is False and lost.connector == connector
        assert clock.monotonic() - last_good == pytest.approx(loss_s, abs=1.0)
        assert f"{loss_s:g} s" in lost.detail
        assert meter.stats.timeouts > 0 and meter.stats.comm_losses == 1
        assert meter.ok is False
        sim.set_fault("none")
        back = await log.next()
        assert back == MeterStatus(connector, True, "readings resumed")
        reading = await log.next_reading()
        assert reading.connector == connector
        assert meter.ok is True
        await meter.close()
        await server.stop()

    run(body)


def test_no_loss_while_readings_arrive_within_the_window() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["sdm630"], 12, values=VALUES)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, METERS["sdm630"], TcpTransport("127.0.0.1", port), 12, "mains",
                            poll_interval_s=1.0)
        log = EventLog(clock, meter)
        await meter.start()
        await log.next_reading()
        for _ in range(3):  # 8 s of exceptions, then a good reading: below the 11 s rule
            sim.set_fault("exception")
            await clock.sleep(8.0)
            sim.set_fault("none")
            await log.next_reading()
        assert meter.stats.comm_losses == 0
        assert [e for _, e in log.events if isinstance(e, MeterStatus)] == [MeterStatus(0, True, "first reading")]
        await meter.close()
        await server.stop()

    run(body)


def test_modbus_exceptions_are_counted_logged_and_survived() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["eem350"], 12, values=VALUES)
        server, port = await serve(sim)
        with structlog.testing.capture_logs() as logs:
            meter = ModbusMeter(clock, METERS["eem350"], TcpTransport("127.0.0.1", port), 12, "ev", 1,
                                poll_interval_s=1.0)
            log = EventLog(clock, meter)
            sim.set_fault("exception", exception_code=6)  # device busy
            await meter.start()
            await clock.sleep(5.5)
            assert meter.stats.modbus_exceptions == 6
            assert meter.latest() is None
            sim.set_fault("none")
            await log.next_reading()
        failures = [e for e in logs if e["event"] == "modbus.poll_failed"]
        assert failures[0]["kind"] == "modbus_exception" and failures[0]["code"] == 6
        assert failures[0]["log_level"] == "warning"
        assert all(e["log_level"] == "debug" for e in failures[1:])  # same failure: not repeated loudly
        assert any(e["event"] == "modbus.meter_recovered" for e in logs)
        await meter.close()
        await server.stop()

    run(body)


def test_wrong_length_replies_are_rejected() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["abb_b23"], 12, values=VALUES)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, METERS["abb_b23"], TcpTransport("127.0.0.1", port), 12, "ev", 1,
                            poll_interval_s=1.0)
        log = EventLog(clock, meter)
        sim.set_fault("short")
        await meter.start()
        await clock.sleep(3.5)
        assert meter.stats.wrong_lengths == 4
        assert meter.latest() is None
        sim.set_fault("none")
        reading = await log.next_reading()
        assert reading.current_a == pytest.approx(VALUES.current_a)
        await meter.close()
        await server.stop()

    run(body)


def test_nan_on_the_wire_is_a_decode_error_never_a_reading() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["sdm630"], 12, values=VALUES)
        nan = struct.pack(">f", math.nan)
        sim.overrides = {0x0034: int.from_bytes(nan[:2], "big"), 0x0035: int.from_bytes(nan[2:], "big")}
        server, port = await serve(sim)
        with structlog.testing.capture_logs() as logs:
            meter = ModbusMeter(clock, METERS["sdm630"], TcpTransport("127.0.0.1", port), 12, "ev", 1,
                                poll_interval_s=1.0)
            log = EventLog(clock, meter)
            await meter.start()
            await clock.sleep(2.5)
        assert meter.stats.decode_errors == 3
        assert meter.latest() is None
        assert "meter sdm630: power: not a finite number" in logs[0]["detail"]
        sim.overrides = {}
        reading = await log.next_reading()
        assert math.isfinite(reading.power_w)
        await meter.close()
        await server.stop()

    run(body)


def test_wrong_function_code_gets_illegal_function() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["sdm630"], 12, values=VALUES)  # answers FC 04 only
        server, port = await serve(sim)
        holding = custom_definition(function=3, dtype=METERS["sdm630"].dtype, order=METERS["sdm630"].order,
                                    voltage=METERS["sdm630"].voltage, current=METERS["sdm630"].current,
                                    power=METERS["sdm630"].power, energy=METERS["sdm630"].energy_import)
        meter = ModbusMeter(clock, holding, TcpTransport("127.0.0.1", port), 12, "ev", 1, poll_interval_s=1.0)
        await meter.start()
        await clock.sleep(1.5)
        assert meter.stats.modbus_exceptions == 2
        assert meter.stats.readings == 0
        await meter.close()
        await server.stop()

    run(body)


def test_reconnects_after_the_server_comes_back() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["sdm630"], 12, values=VALUES)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, METERS["sdm630"], TcpTransport("127.0.0.1", port), 12, "mains",
                            poll_interval_s=1.0, backoff_initial_s=1.0, backoff_max_s=4.0)
        log = EventLog(clock, meter)
        await meter.start()
        await log.next_reading()
        await server.stop()
        lost = await log.next_status()
        assert lost.ok is False
        assert meter.stats.connect_failures >= 2
        restarted = MeterServer(sim)
        await restarted.start_tcp("127.0.0.1", port)
        back = await log.next_status(within_s=10.0)
        assert back.ok is True
        reading = await log.next_reading()
        assert reading.voltage_v == pytest.approx(VALUES.voltage_v, abs=1e-4)
        await meter.close()
        await restarted.stop()

    run(body)


def test_unreachable_host_is_logged_and_retried_with_backoff() -> None:
    async def body(clock: VirtualClock) -> None:
        port = free_tcp_port()
        with structlog.testing.capture_logs() as logs:
            meter = ModbusMeter(clock, METERS["sdm630"], TcpTransport("127.0.0.1", port), 12, "ev", 1,
                                backoff_initial_s=1.0, backoff_max_s=30.0)
            log = EventLog(clock, meter)
            await meter.start()
            lost = await log.next_status()
            assert lost.ok is False and clock.monotonic() == pytest.approx(64.0, abs=0.5)
            await meter.close()
        attempts = [e for e in logs if e["event"] == "modbus.connect_failed"]
        # retries after 1, 2, 4, 8, 16, 30, ... s
        assert [e["retry_in_s"] for e in attempts[:7]] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
        assert f"127.0.0.1:{port}" in attempts[0]["target"]
        assert meter.stats.connect_failures == len(attempts)

    run(body)


def test_two_meters_share_one_link() -> None:
    async def body(clock: VirtualClock) -> None:
        mains_sim = SimulatedMeter(METERS["sensorbox"], values=MeterValues((230.0,) * 3, (20.0, 5.0, -4.0),
                                                                           0.0, 0.0, 0.0))
        ev_sim = SimulatedMeter(METERS["sdm630"], 12, values=VALUES)
        server = MeterServer([mains_sim, ev_sim])
        port = await server.start_tcp()
        pool = LinkPool(clock)
        transport = TcpTransport("127.0.0.1", port)
        mains = ModbusMeter(clock, METERS["sensorbox"], transport, 10, "mains", pool=pool, poll_interval_s=1.0)
        ev = ModbusMeter(clock, METERS["sdm630"], transport, 12, "ev", 1, pool=pool, poll_interval_s=1.0)
        assert mains.link is ev.link
        mains_log, ev_log = EventLog(clock, mains), EventLog(clock, ev)
        await mains.start()
        await ev.start()
        m = await mains_log.next_reading()
        e = await ev_log.next_reading()
        assert m.connector == 0 and m.current_a == (20.0, 5.0, -4.0)
        assert e.connector == 1 and e.current_a == pytest.approx(VALUES.current_a)
        await mains.close()
        assert ev.link.users == 1
        await ev_log.next_reading()  # still polling on the shared link
        await ev.close()
        assert ev.link.users == 0
        await server.stop()

    run(body)


def test_events_end_when_the_meter_closes() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["sdm120"], 12)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, METERS["sdm120"], TcpTransport("127.0.0.1", port), 12, "ev", 1)
        await meter.start()
        seen: list[object] = []

        async def consume() -> None:
            async for event in meter.events():
                seen.append(event)

        task = asyncio.create_task(consume())
        await clock.sleep(5.0)
        await meter.close()
        await clock.wait_for(task, 1.0)
        assert isinstance(seen[0], MeterStatus) and isinstance(seen[1], MeterReading)
        await server.stop()

    run(body)


def test_unconsumed_readings_are_bounded_but_statuses_kept() -> None:
    async def body(clock: VirtualClock) -> None:
        sim = SimulatedMeter(METERS["sdm630"], 12, values=VALUES)
        server, port = await serve(sim)
        meter = ModbusMeter(clock, METERS["sdm630"], TcpTransport("127.0.0.1", port), 12, "mains",
                            poll_interval_s=1.0, max_queued_events=3)
        await meter.start()
        await clock.sleep(9.5)  # 10 readings, nobody listening
        sim.set_fault("silent")
        await clock.sleep(20.0)  # comm loss: its status must get through
        await meter.close()
        seen = [e async for e in meter.events()]
        assert meter.stats.readings == 10 and meter.stats.dropped_events > 0
        # room for 3: readings 3..10 each pushed out the oldest reading, the loss status one more
        assert seen == [MeterStatus(0, True, "first reading"), meter.latest(),
                        MeterStatus(0, False, "no valid reading for 11 s")]
        assert meter.stats.dropped_events == 9
        await server.stop()

    run(body)
