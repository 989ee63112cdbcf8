"""Faults over the wire, seen through the controller (station level), on the smartevse+modbus stack.

Each test charges, injects a fault at the emulated CH32 or the Modbus EV meter, and checks that
the safe state is commanded from the step that handled the detection (contactors open / power
unavailable on the wire) and that the session then resumes or ends cleanly.  The backend-level
reactions (event mapping, watchdog, handshake) are tested in tests/smartevse; the latencies in
milliseconds are measured by ``python -m benchmarks.hil_fault_bench``.
"""

from __future__ import annotations

import pytest

from backends.modbus.simulator import Fault as MeterFault
from chargepoint.controller.types import Authorize, Fault, StateChanged, SubState
from chargepoint.harness.hil.runtime import HIL_WATCHDOG_S
from hal.types import BoardFault, MeterStatus, RcdReading, TemperatureReading
from tests.hil.conftest import Rig, StackFactory
from tests.hil.safety import Reaction, reaction


async def _charging(rig: Rig) -> None:
    rig.world.plug(cable_a=32.0)
    await rig.wait(lambda: rig.snap().ev_connected, 3.0, "EV seen")
    await rig.station.submit(Authorize(1, True))
    await rig.wait_substate(SubState.C2, 8.0)
    await rig.wait(lambda: rig.world.contactors_closed(), 2.0, "contactors closed")


def _check_safe(r: Reaction) -> None:
    assert r.controller_at is not None, f"no safe command in the step that handled {r.detection}"
    assert r.wire_at is not None and r.wire_at >= r.injected_at


async def _resumes(rig: Rig, within_s: float = 10.0) -> None:
    await rig.wait(lambda: not rig.snap().faults, within_s, "faults cleared")
    await rig.wait_substate(SubState.C2, within_s)
    await rig.wait(lambda: rig.world.contactors_closed(), 3.0, "contactors closed again")


def test_rcd_trip(hil: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charging(rig)
        t = rig.now()
        rig.world.rcd(True)
        r = await reaction(rig, t, lambda e: (isinstance(e, RcdReading) and e.tripped) or (
            isinstance(e, BoardFault) and e.code == "rcm_tripped" and e.active))
        _check_safe(r)
        await rig.wait(lambda: not rig.world.contactors_closed(), 2.0, "CH32 opened the contactors")
        assert Fault.RCD in rig.snap().faults
        await rig.station.submit(Authorize(1, False))  # the session ends; nothing closes again
        await rig.clock.sleep(1.0)
        assert not rig.world.contactors_closed() and not rig.snap().contactor_c1

    hil.run(scenario)


def test_over_temperature(hil: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charging(rig)
        t = rig.now()
        rig.world.temperature(80.0)
        r = await reaction(rig, t, lambda e: isinstance(e, TemperatureReading) and e.celsius > 65)
        _check_safe(r)
        rig.world.temperature(30.0)
        await _resumes(rig)

    hil.run(scenario)


def test_power_panic(hil: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charging(rig)
        t = rig.now()
        rig.hil.emulator.inject("panic", seconds=0.4)  # type: ignore[union-attr]
        r = await reaction(rig, t, lambda e: isinstance(e, BoardFault) and e.code == "panic" and e.active)
        _check_safe(r)
        await _resumes(rig)

    hil.run(scenario)


def test_emulator_stops_talking_then_talks_again(hil: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charging(rig)
        emulator = rig.hil.emulator  # type: ignore[union-attr]
        t = rig.now()
        emulator.inject("silent")
        r = await reaction(rig, t, lambda e: isinstance(e, BoardFault) and e.code == "link" and e.active)
        _check_safe(r)
        last_line = max(rec.t for rec in emulator.sent if rec.t <= t)
        assert r.detected_at - last_line >= HIL_WATCHDOG_S - 0.05  # the watchdog, not earlier
        assert Fault.BOARD in rig.snap().faults
        # with the link down the snapshot keeps the CH32's last report (the emulated MCU is hung with
        # its contactors closed); the controller's outstanding pause request keeps the invariants
        rig.station.controller.check_invariants()
        emulator.inject("talk")
        # reconnect backoff + handshake, then the CH32's B1 pilot re-plug (5 s) and ChargeDelay
        await _resumes(rig, within_s=20.0)

    hil.run(scenario)


def test_emulator_restarts_mid_session(hil: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charging(rig)
        emulator = rig.hil.emulator  # type: ignore[union-attr]
        t = rig.now()
        handshakes = emulator.received_keys().count("@Initialized:1")
        emulator.inject("restart")
        await rig.wait(lambda: not rig.world.contactors_closed(), 1.0, "a rebooted CH32 has its contactors open")
        await rig.wait(lambda: rig.snap().substate is not SubState.C2, 3.0, "controller left C2")
        await rig.wait(lambda: not rig.snap().contactor_c1, 1.0, "the controller sees the contactors open")
        await rig.wait(lambda: emulator.received_keys().count("@Initialized:1") > handshakes, 5.0,
                       "handshake again")
        # authorisation restored: the access bit follows the handshake (it may trail it by a moment)
        await emulator.wait_received("Access:1", since=t, within_s=3.0)
        await _resumes(rig)

    hil.run(scenario)


def test_garbage_and_truncated_lines_change_nothing(hil: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charging(rig)
        emulator = rig.hil.emulator  # type: ignore[union-attr]
        t = rig.now()
        for _ in range(3):
            emulator.inject("garbage")
            emulator.inject("truncated")
            await rig.clock.sleep(0.3)
        await rig.clock.sleep(HIL_WATCHDOG_S + 0.2)  # past one watchdog period: the good lines kept the link up
        assert rig.find(lambda e: isinstance(e, StateChanged), t) is None
        assert rig.snap().substate is SubState.C2 and not rig.snap().faults
        assert rig.world.contactors_closed()
        assert emulator.find_received("setStatePowerUnavailable", since=t) is None

    hil.run(scenario)


@pytest.mark.parametrize("fault", [MeterFault.SILENT, MeterFault.EXCEPTION, MeterFault.SHORT])
def test_ev_meter_fault(hil: StackFactory, fault: MeterFault) -> None:
    async def scenario(rig: Rig) -> None:
        await _charging(rig)
        meter = rig.hil.meter("ev")  # type: ignore[union-attr]
        t = rig.now()
        meter.set_fault(fault)
        r = await reaction(rig, t, lambda e: isinstance(e, MeterStatus) and e.connector == 1 and not e.ok)
        _check_safe(r)
        assert Fault.METER in rig.snap().faults
        await rig.wait(lambda: not rig.world.contactors_closed(), 8.0, "contactors open")
        meter.set_fault(MeterFault.NONE)
        await _resumes(rig, within_s=20.0)

    hil.run(scenario)
