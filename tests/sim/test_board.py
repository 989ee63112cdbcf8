"""SimBoard (async hal.Board) + Station + Controller in virtual time: faults and pauses end to end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from backends import registry
from backends.sim import SimBoard, create_backend
from chargepoint.clock import VirtualClock
from chargepoint.controller import (
    Authorize,
    Controller,
    ControllerSettings,
    Fault,
    FaultChanged,
    ResetFault,
    SetLimit,
    SubState,
)
from chargepoint.station import Station
from hal.interfaces import Board
from hal.types import SetContactors, SetPilot


def _run(body: Callable[[VirtualClock, SimBoard, Station, list[tuple[float, Any]]], Awaitable[None]],
         **options: Any) -> list[tuple[float, Any]]:
    clock = VirtualClock()
    log: list[tuple[float, Any]] = []

    async def main() -> None:
        board = create_backend(clock, options)
        ctrl = Controller(ControllerSettings(max_current_a=16.0), board.capabilities)
        station = Station(clock, board, ctrl)
        station.subscribe(lambda item: log.append((clock.monotonic(), item)))
        await station.start()
        await clock.sleep(1.0)
        board.plug(1, 32.0)
        await station.submit(Authorize(1, True))
        await clock.sleep(10.0)
        assert station.snapshot(1).substate == SubState.C2
        await body(clock, board, station, log)
        await station.stop()

    clock.run(main())
    return log


def _contactors_after(log: list[tuple[float, Any]], t: float) -> list[tuple[float, bool]]:
    return [(ts, o.c1) for ts, o in log if ts >= t and isinstance(o, SetContactors)]


def test_factory_is_registered_and_satisfies_the_board_protocol() -> None:
    clock = VirtualClock()
    board = registry.create("sim", clock, {"connectors": 2, "phases": 1, "has_lock": False, "port": None})
    assert isinstance(board, Board)
    assert board.capabilities.connectors == 2 and board.capabilities.phases == 1
    assert board.connector(1).lock is None


def test_rcd_trip_opens_in_the_same_step_and_reset_recovers() -> None:
    async def body(clock: VirtualClock, board: SimBoard, station: Station, log: list[tuple[float, Any]]) -> None:
        t0 = clock.monotonic()
        board.inject_fault(1, "rcd", True)
        await clock.sleep(0.1)
        assert _contactors_after(log, t0)[0] == (t0, False)  # no virtual time passed between trip and open
        assert station.snapshot(1).substate == SubState.F
        board.inject_fault(1, "rcd", False)
        await clock.sleep(1.0)
        assert Fault.RCD in station.snapshot(1).faults  # latched
        await station.submit(ResetFault(1, Fault.RCD))
        await clock.sleep(10.0)
        assert station.snapshot(1).substate == SubState.C2
        assert board.ev_current(1) == (16.0, 16.0, 16.0)

    _run(body)


def test_weld_is_detected_and_never_reclosed() -> None:
    async def body(clock: VirtualClock, board: SimBoard, station: Station, log: list[tuple[float, Any]]) -> None:
        board.inject_fault(1, "weld", True)
        t0 = clock.monotonic()
        board.set_ev(1, charging=False)  # EV stops: 9 V -> contactors commanded open, but welded
        await clock.sleep(2.0)
        faults = [o for _, o in log if isinstance(o, FaultChanged) and o.fault is Fault.CONTACTOR_WELDED]
        assert faults and faults[0].active
        board.set_ev(1, charging=True)
        await clock.sleep(60.0)
        assert [c1 for _, c1 in _contactors_after(log, t0)] == [False]
        assert station.snapshot(1).substate == SubState.F

    _run(body)


def test_limit_5a_pauses_via_c1_b1_and_8a_resumes_with_duty_133() -> None:
    async def body(clock: VirtualClock, board: SimBoard, station: Station, log: list[tuple[float, Any]]) -> None:
        t0 = clock.monotonic()
        await station.submit(SetLimit(0, "ocpp", 5.0))
        await clock.sleep(6.0)
        opens = _contactors_after(log, t0)
        assert opens and opens[0][1] is False and opens[0][0] - t0 <= 6.0
        assert board.ev_current(1) == (0.0, 0.0, 0.0)
        assert station.snapshot(1).substate == SubState.B1
        await station.submit(SetLimit(0, "ocpp", 8.0))
        await clock.sleep(30.0)
        pwm = [o for ts, o in log if ts > t0 and isinstance(o, SetPilot) and o.mode == "pwm"]
        assert pwm[-1].duty_permille == 133 and pwm[-1].current_a == 8.0
        assert station.snapshot(1).substate == SubState.C2
        assert board.ev_current(1) == (8.0, 8.0, 8.0)

    _run(body)


def test_lock_fault_and_power_panic() -> None:
    async def body(clock: VirtualClock, board: SimBoard, station: Station, log: list[tuple[float, Any]]) -> None:
        board.inject_fault(1, "panic", True)
        await clock.sleep(0.1)
        assert Fault.BOARD in station.snapshot(1).faults and not station.snapshot(1).contactor_c1
        board.inject_fault(1, "panic", False)
        board.inject_fault(1, "lock", True)
        board.unplug(1)  # session ends: unlock commanded, the actuator is stuck
        await clock.sleep(30.0)
        assert Fault.LOCK in station.snapshot(1).faults

    _run(body)
