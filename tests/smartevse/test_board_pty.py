"""The SmartEVSE v4 board against the CH32 emulator over a real pseudo-terminal, in real time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from backends.smartevse import create_backend
from backends.smartevse.emulator import Ch32Emulator
from backends.smartevse.protocol import CONFIG_VARIABLES, RCM_TRIPPED, TEMP_HIGH
from hal.types import (
    BoardFault,
    BoardStateReport,
    ContactorFeedback,
    DiodeReading,
    MeterReading,
    PilotLevel,
    PilotMode,
    PilotReading,
    RcdReading,
    RfidPresented,
    SetAuthorization,
    SetContactors,
    SetPilot,
    TemperatureReading,
)
from tests.smartevse.conftest import EventLog

SAFE = "setStatePowerUnavailable"


def _state(letter: str):
    return lambda e: isinstance(e, BoardStateReport) and e.state == letter


def _fault(code: str, active: bool):
    return lambda e: isinstance(e, BoardFault) and e.code == code and e.active is active


async def _charge(board, events: EventLog, emulator: Ch32Emulator, amps: float = 10.0) -> None:
    await board.execute(SetAuthorization(1, True))
    await board.connector(1).pilot.set_pilot(PilotMode.PWM, 0, amps)
    emulator.plug(max_current_a=16.0)
    await events.wait(_state("C"), within_s=3.0)


def _flag_line_time(emulator: Ch32Emulator, bit: int, since: float) -> float:
    for rec in emulator.sent:
        if rec.t >= since and rec.line.startswith(b"@ErrorFlags:"):
            if int(rec.line.split(b":")[1]) & bit:
                return rec.t
    raise AssertionError("the emulator never sent the flag")


async def test_handshake_sequence(connect, emulator: Ch32Emulator) -> None:
    board, events = await connect()
    assert board.link.is_up
    await emulator.wait_received("RCmon", within_s=1.0)
    lines = [r.line.decode() for r in emulator.received]
    assert lines[0] == "@version?"
    burst_start = lines.index("@Config:0")
    keys = [line[1:].split(":")[0] for line in lines[burst_start:]]
    assert keys[: len(CONFIG_VARIABLES)] == list(CONFIG_VARIABLES)
    assert keys[len(CONFIG_VARIABLES):len(CONFIG_VARIABLES) + 3] == ["Initialized", "PowerPanicCtrl", "RCmon"]
    assert "@RCmon:1" in lines and "@Access:0" in lines and "@EVMeterType:4" in lines
    assert emulator.firmware.initialized
    assert board.link.stats.ch32_version == emulator.firmware.version
    await events.wait(_state("A"))
    await events.wait(lambda e: isinstance(e, ContactorFeedback) and not e.c1_closed)
    await events.wait(lambda e: isinstance(e, TemperatureReading) and e.celsius == 25.0)


async def test_charging_session(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect()
    t0 = clock.monotonic()
    await _charge(board, events, emulator, amps=10.0)
    assert emulator.find_received("SetCurrent:100") is not None
    assert emulator.find_received("Access:1") is not None
    assert emulator.firmware.duty == 166  # 10 A per reference table 2.6
    # B before C, diode seen, pilot 6 V, contactors closed on both groups
    assert events.find(_state("B"), t0) is not None
    assert events.find(lambda e: isinstance(e, DiodeReading) and e.present, t0) is not None
    assert events.find(lambda e: isinstance(e, PilotReading) and e.level is PilotLevel.V6, t0) is not None
    await events.wait(lambda e: isinstance(e, ContactorFeedback) and e.c1_closed and e.c2_closed)
    # energy counted: two EV meter readings at 10 A with increasing energy
    _, first = await events.wait(lambda e: isinstance(e, MeterReading) and e.connector == 1
                                 and e.current_a == (10.0, 10.0, 10.0))
    assert isinstance(first, MeterReading)
    t_first = clock.monotonic()
    _, second = await events.wait(lambda e: isinstance(e, MeterReading) and e.connector == 1
                                  and e.energy_import_wh > first.energy_import_wh, since=t_first)
    assert isinstance(second, MeterReading)
    assert second.power_w == 6900.0
    assert board.connector(1).meter.latest() is not None
    # lower the limit while charging: a new @SetCurrent reaches the CH32
    await board.execute(SetPilot(1, PilotMode.PWM, 133, 8.0))
    await emulator.wait_received("SetCurrent:80", within_s=1.0)
    # withdraw the PWM: C -> C1 (contactors still closed) -> the EV stops -> B1 (open)
    t1 = clock.monotonic()
    await board.execute(SetPilot(1, PilotMode.CONSTANT))
    await emulator.wait_received(SAFE, since=t1, within_s=1.0)
    await events.wait(_state("C1"), since=t1)
    await events.wait(_state("B1"), since=t1, within_s=3.0)
    await events.wait(lambda e: isinstance(e, ContactorFeedback) and not e.c1_closed, since=t1)


async def test_mains_meter_is_connector_zero(connect, emulator: Ch32Emulator) -> None:
    _board, events = await connect(MainsMeterType=4, MainsMAddress=10)
    _, reading = await events.wait(lambda e: isinstance(e, MeterReading) and e.connector == 0, within_s=2.5)
    assert isinstance(reading, MeterReading)
    assert reading.current_a == (2.0, 2.0, 2.0)  # the emulated house load


async def test_contactor_open_request_maps_to_power_unavailable(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect()
    await _charge(board, events, emulator)
    t = clock.monotonic()
    await board.execute(SetContactors(1, False, False))
    await emulator.wait_received(SAFE, since=t, within_s=1.0)
    await events.wait(_state("C1"), since=t)


async def test_rcd_trip_gives_events_and_fast_safe_state(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect()
    await _charge(board, events, emulator)
    t = clock.monotonic()
    emulator.inject("rcd_trip")
    await events.wait(lambda e: isinstance(e, RcdReading) and e.tripped, since=t, within_s=2.0)
    await events.wait(_fault("rcm_tripped", True), since=t)
    sent = _flag_line_time(emulator, RCM_TRIPPED, t)
    rec = await emulator.wait_received(SAFE, since=sent, within_s=1.0)
    assert rec.t - sent < 0.100, f"safe-state request {1000 * (rec.t - sent):.1f} ms after the fault line"
    await events.wait(_state("B1"), since=t)  # the CH32 itself leaves C on an RCM trip
    # reset: the latch clears, the fault goes away
    emulator.firmware.rcm_input = False
    await board.connector(1).rcd.reset()
    await events.wait(_fault("rcm_tripped", False), since=t, within_s=2.5)


async def test_over_temperature(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect()
    await _charge(board, events, emulator)
    t = clock.monotonic()
    emulator.inject("temperature", celsius=80)
    await events.wait(lambda e: isinstance(e, TemperatureReading) and e.celsius == 80.0, since=t, within_s=2.0)
    temp_line = emulator.find_sent("Temp:80", since=t)
    assert temp_line is not None
    rec = await emulator.wait_received(SAFE, since=temp_line.t, within_s=1.0)
    assert rec.t - temp_line.t < 0.100  # reading above maxTemp -> safe state at once
    await events.wait(_fault("temp_high", True), since=t, within_s=2.0)
    sent = _flag_line_time(emulator, TEMP_HIGH, t)
    rec = await emulator.wait_received(SAFE, since=sent, within_s=1.0)
    assert rec.t - sent < 0.100  # and again on the CH32's flag
    await events.wait(_state("C1"), since=t)


async def test_power_panic(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect()
    await _charge(board, events, emulator)
    t = clock.monotonic()
    emulator.inject("panic", seconds=0.5)
    await events.wait(_fault("panic", True), since=t, within_s=1.0)
    panic_line = emulator.find_sent("!Panic", since=t)
    assert panic_line is not None
    rec = await emulator.wait_received(SAFE, since=panic_line.t, within_s=1.0)
    assert rec.t - panic_line.t < 0.100
    await events.wait(_fault("panic", False), since=t, within_s=2.0)
    await events.wait(_state("B1"), since=t)  # CH32 back in its state A, the EV still plugged in
    assert emulator.firmware.state == 0


async def test_silence_trips_watchdog_then_reconnects(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect(watchdog_s=2.0)
    await _charge(board, events, emulator)
    t = clock.monotonic()
    emulator.inject("silent")
    t_fault, _ = await events.wait(_fault("link", True), since=t, within_s=3.0)
    last_tx = max(r.t for r in emulator.sent if r.t <= t)
    assert 2.0 <= t_fault - last_tx < 2.4  # the watchdog: 2 s after the last line, not before
    await emulator.wait_received(SAFE, since=t, within_s=0.5)  # safe state requested on the way down
    emulator.inject("talk")
    await events.wait(_fault("link", False), since=t_fault, within_s=3.0)
    assert board.link.stats.handshakes == 2
    assert board.link.stats.opens == 2
    # after the reconnection the limit and access are restored on the CH32
    await emulator.wait_received("SetCurrent:100", since=t_fault, within_s=1.0)
    await emulator.wait_received("Access:1", since=t_fault, within_s=1.0)


async def test_restart_mid_session_redoes_handshake(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect(watchdog_s=1.5)
    await _charge(board, events, emulator)
    t = clock.monotonic()
    emulator.inject("restart")
    assert not emulator.firmware.initialized
    await events.wait(_fault("link", True), since=t, within_s=2.5)
    await events.wait(_fault("link", False), since=t, within_s=3.0)
    assert board.link.stats.handshakes == 2
    await emulator.wait_received("SetCurrent:100", since=t, within_s=1.0)
    assert emulator.firmware.initialized
    assert emulator.firmware.settings["Access"] == 1
    assert emulator.firmware.esp_current_da == 100
    await events.wait(_state("B1"), since=t)  # the rebooted CH32 starts from A (EV plugged: B1)
    await events.wait(_state("C"), since=t, within_s=3.0)  # and the session resumes


async def test_garbage_and_truncated_lines(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect()
    t = clock.monotonic()
    emulator.inject("garbage")
    emulator.inject("truncated")
    emulator.inject("garbage", data=b"@" + b"x" * 600 + b"\n")
    stats = board.link.parser.stats
    while stats.overlong == 0 and clock.monotonic() - t < 1.0:
        await clock.sleep(0.01)
    await events.wait(lambda e: isinstance(e, TemperatureReading), since=t, within_s=1.0)
    assert stats.garbage >= 1 and stats.non_ascii >= 1 and stats.partial >= 1 and stats.overlong == 1
    assert stats.malformed >= 1  # "@State:x"
    assert board.link.is_up
    emulator.plug()
    await board.execute(SetAuthorization(1, True))
    await events.wait(_state("B"), since=t, within_s=2.0)


async def test_rfid_card_and_switch(connect, emulator: Ch32Emulator, clock) -> None:
    board, events = await connect()
    t = clock.monotonic()
    emulator.inject("rfid", tag="0104A1B2C3D4E5F6")
    emulator.inject("ext_switch", pressed=True)
    await events.wait(lambda e: isinstance(e, RfidPresented) and e.id_tag == "0104A1B2C3D4E5F6", since=t)
    while "ExtSwitch" not in board.status.shadow and clock.monotonic() - t < 1.0:
        await clock.sleep(0.01)
    assert board.status.shadow["ExtSwitch"] == 1
    with pytest.raises(ValueError, match="hex"):
        emulator.inject("rfid", tag="xyz")


async def test_missing_port_retries_then_connects(clock, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    link = tmp_path / "ttyCH32"
    board = create_backend(clock, {"port": str(link), "start_timeout_s": 0.3})
    events = EventLog(board, clock)
    await board.start()
    try:
        await events.wait(_fault("link", True), within_s=0.5)
        assert board.link.stats.open_failures >= 1
        errors = [r for r in caplog.records if "cannot open CH32 serial port" in r.getMessage()]
        assert errors and all(r.exc_info is None for r in caplog.records)
        emu = Ch32Emulator(clock, link=link)
        await emu.start()
        try:
            await events.wait(_fault("link", False), within_s=3.0)
            assert board.link.is_up
        finally:
            await emu.stop()
    finally:
        await events.stop()
        await board.close()
