"""The board against a hand-driven CH32 on a real pty: the test writes exact lines and reads exactly
what the board writes (messages the emulator never produces, value edge cases, noise-only links)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator

import pytest

from backends.smartevse import SmartEvseOptions, create_backend
from backends.smartevse.protocol import ESP32_TO_CH32, LineParser, Message
from hal.types import (
    BoardFault,
    BoardStateReport,
    ContactorFeedback,
    DiodeReading,
    MeterReading,
    MeterStatus,
    PilotLevel,
    PilotMode,
    PilotReading,
    RcdReading,
    RequestBoardState,
    RfidPresented,
    SetLock,
    SetPilot,
)
from tests.smartevse.conftest import EventLog


class RawPeer:
    """The CH32 end of a pty, driven by the test."""

    def __init__(self, clock) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.parser = LineParser(ESP32_TO_CH32)
        self.got: list[Message] = []
        self.auto_handshake = True
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def _readable(self) -> None:
        with contextlib.suppress(BlockingIOError):
            for msg in self.parser.feed(os.read(self.master, 4096)):
                self.got.append(msg)
                if self.auto_handshake and msg.key == "version?":
                    self.write(b"@version:7\n")
                elif self.auto_handshake and msg.key == "Initialized":
                    self.write(b"@Config:OK\n@Nr_Of_Phases_Charging:3\n")
        self._changed.set()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    async def wait_for(self, key: str, value: object = None, within_s: float = 1.0) -> Message:
        deadline = self.clock.monotonic() + within_s
        while True:
            for m in self.got:
                if m.key == key and (value is None or m.value == value):
                    return m
            if self.clock.monotonic() >= deadline:
                raise AssertionError(f"@{key} not written; got {[m.key for m in self.got][-10:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await self.clock.wait_for(self._changed.wait(), deadline - self.clock.monotonic())

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
async def rig(clock) -> AsyncIterator[tuple[RawPeer, object, EventLog]]:  # type: ignore[no-untyped-def]
    peer = RawPeer(clock)
    board = create_backend(clock, {"port": peer.path, "rcmon": True, "EVMeterType": 4, "MainsMeterType": 4,
                                   "EnableC2": 3, "watchdog_s": 0.6, "start_timeout_s": 2.0})
    events = EventLog(board, clock)
    await board.start()
    yield peer, board, events
    await events.stop()
    await board.close()
    peer.close()


async def test_handshake_waits_for_config_ok(clock) -> None:  # type: ignore[no-untyped-def]
    peer = RawPeer(clock)
    peer.auto_handshake = False
    board = create_backend(clock, {"port": peer.path, "start_timeout_s": 0.05})
    await board.start()
    try:
        await peer.wait_for("version?")
        await clock.sleep(0.35)
        polls = [m for m in peer.got if m.key == "version?"]
        assert 3 <= len(polls) <= 6  # every 100 ms until answered
        peer.write(b"@version:1\n")
        await peer.wait_for("Initialized", 1)
        assert not board.link.is_up
        assert not any(m.key == "PowerPanicCtrl" for m in peer.got)  # only after @Config:OK
        peer.write(b"@Config:OK\n")
        await peer.wait_for("RCmon", 0)
        assert board.link.is_up
        assert [m.key for m in peer.got[-2:]] == ["PowerPanicCtrl", "RCmon"]
        assert peer.got[-2].value == 0
    finally:
        await board.close()
        peer.close()


async def test_message_mapping(rig, clock) -> None:  # type: ignore[no-untyped-def]
    peer, board, events = rig
    t = clock.monotonic()
    peer.write(b"@Pilot:9\n@Pilot:1\n@Pilot:255\n@Pilot:77\n@State:1.\n@State:10.\n@State:99.\n"
               b"@RFID:0102030405060708\n@RFID:0102030405060708\n@ErrorFlags:10\n@ErrorFlags:17\n"
               b"@Irms:012,160,161,-3\n@PowerMeasured:012,7000\n@Import_active_energy:012,123456\n"
               b"@Irms:010,50,60,70\n@Irms:033,1,1,1\n")
    await events.wait(lambda e: isinstance(e, MeterReading) and e.connector == 0, since=t)
    got = [e for ts, e in events.events if ts >= t]
    assert PilotReading(1, PilotLevel.V9) in got and PilotReading(1, PilotLevel.SHORT) in got
    assert DiodeReading(1, True) in got
    assert BoardStateReport(1, "B") in got and BoardStateReport(1, "C1") in got
    assert ContactorFeedback(1, True, True) in got  # C1 keeps the contactors closed
    assert [e for e in got if isinstance(e, RfidPresented)] == [RfidPresented(1, "0102030405060708")]
    assert MeterStatus(0, False, "mains meter: no reading (CH32 CT_NOCOMM)") in got
    assert MeterStatus(1, False, "EV meter: no reading (CH32 EV_NOCOMM)") in got
    assert MeterStatus(1, True, "EV meter: no reading (CH32 EV_NOCOMM)") in got  # 10 -> 17 clears EV_NOCOMM
    assert RcdReading(1, True) in got
    assert any(isinstance(e, BoardFault) and e.code == "rcm_tripped" and e.active for e in got)
    ev = next(e for e in got if isinstance(e, MeterReading) and e.connector == 1)
    assert ev.current_a == (16.0, 16.1, -0.3) and ev.power_w == 7000.0 and ev.energy_import_wh == 123456.0
    assert board.status.rejected == 2  # @Pilot:77 and @State:99
    assert not any(isinstance(e, MeterReading) and e.connector not in (0, 1) for e in got)
    await peer.wait_for("setStatePowerUnavailable")


async def test_ch32_requests_are_answered_with_our_values(rig, clock) -> None:  # type: ignore[no-untyped-def]
    peer, board, _events = rig
    await board.set_authorization(1, False)
    peer.got.clear()
    peer.write(b"@Access:1\n@Mode:2.\n@OverrideCurrent:100\n@ExtSwitch:1.\n")
    await peer.wait_for("OverrideCurrent", 0)
    assert Message("Access", 0) in peer.got and Message("Mode", 0) in peer.got
    assert board.status.shadow["ExtSwitch"] == 1


async def test_command_mapping(rig, clock) -> None:  # type: ignore[no-untyped-def]
    peer, board, events = rig
    peer.write(b"@State:2.\n")
    await events.wait(lambda e: isinstance(e, BoardStateReport) and e.state == "C")
    peer.got.clear()
    await board.execute(SetPilot(1, PilotMode.PWM, 266, 0.0))  # current from the duty: 16 A
    await board.execute(SetPilot(1, PilotMode.PWM, 100, 3.0))  # below 6 A: clamped, never signalled
    await board.execute(SetPilot(1, PilotMode.OFF))
    await board.execute(SetPilot(1, PilotMode.STATE_F))
    await board.execute(SetPilot(1, PilotMode.CONSTANT))
    await board.execute(SetPilot(1, PilotMode.ACTIVATE, 0))  # the activation pulse: -12 V, no pause
    await board.execute(SetPilot(1, PilotMode.PWM, 266, 16.0))  # the duty restored before the current
    await board.execute(RequestBoardState(1, "B1"))
    await board.execute(RequestBoardState(1, "A"))
    await board.execute(RequestBoardState(1, "C"))  # refused: logged, nothing written
    await board.execute(SetLock(1, True))  # the CH32 drives the lock: nothing written
    await peer.wait_for("State", 0)
    await clock.sleep(0.05)
    assert [(m.key, m.value) for m in peer.got] == [
        ("SetCurrent", 160), ("SetCurrent", 60), ("setPilot", 0),
        ("setPilot", 1), ("setStatePowerUnavailable", None), ("SetCPDuty", 0),
        ("SetCPDuty", 1000), ("setStatePowerUnavailable", None),
        ("SetCPDuty", 0), ("SetCPDuty", 1000), ("SetCurrent", 160),
        ("setStatePowerUnavailable", None), ("State", 0),
    ]


async def test_noise_does_not_feed_the_watchdog(rig, clock) -> None:  # type: ignore[no-untyped-def]
    peer, board, events = rig
    t = clock.monotonic()
    peer.auto_handshake = False
    for _ in range(10):
        peer.write(b"\xff\xfe noise\n@@\n")
        await clock.sleep(0.1)
    await events.wait(lambda e: isinstance(e, BoardFault) and e.code == "link" and e.active, since=t, within_s=0.5)
    assert board.link.parser.stats.dropped() >= 10


def test_bad_options_name_the_key() -> None:
    cases = {
        "MaxCurent": "unknown smartevse option 'MaxCurent'",
        "MaxCurrent": "'MaxCurrent': 99 outside 6..80",
        "Lock": "'Lock': 'x' is not an integer",
        "watchdog_s": "'watchdog_s' must be positive",
        "Access": "'Access' is not configurable",
    }
    values = {"MaxCurent": 16, "MaxCurrent": 99, "Lock": "x", "watchdog_s": 0, "Access": 1}
    for key, needle in cases.items():
        with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
            SmartEvseOptions.from_mapping({"port": "/dev/null", key: values[key]})
    with pytest.raises(ValueError, match="'port'"):
        SmartEvseOptions.from_mapping({"MaxCurrent": 16})
    with pytest.raises(ValueError, match="'MinCurrent' \\(16\\) exceeds 'MaxCurrent' \\(10\\)"):
        SmartEvseOptions.from_mapping({"port": "x", "MinCurrent": 16, "MaxCurrent": 10})


async def test_state_a_with_ev_present_is_reported_as_b1(rig, clock) -> None:  # type: ignore[no-untyped-def]
    peer, _board, events = rig
    t = clock.monotonic()
    peer.write(b"@State:0.\n@Pilot:12\n@Pilot:9\n@Pilot:12\n@Pilot:9\n@State:1.\n")
    await events.wait(lambda e: isinstance(e, BoardStateReport) and e.state == "B", since=t)
    states = [e.state for ts, e in events.events if ts >= t and isinstance(e, BoardStateReport)]
    assert states == ["A", "B1", "A", "B1", "B"]
