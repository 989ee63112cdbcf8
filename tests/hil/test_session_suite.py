"""The session suite, run on every stack (``stack`` fixture: sim, smartevse+modbus).

plug -> authorise -> charge at the offered current -> limit change (SetLimit) -> pause below
MinCurrent and resume -> unplug -> contactors open and the energy counted by the stack's EV meter;
a fault -> the safe state -> recovery or a clean end.
"""

from __future__ import annotations

import pytest

from chargepoint.controller.types import Authorize, Fault, SetLimit, SubState
from tests.hil.conftest import Rig, StackFactory


async def _charge(rig: Rig, amps: float = 16.0) -> None:
    rig.world.plug(cable_a=32.0)
    await rig.wait(lambda: rig.snap().ev_connected, 3.0, "EV seen")
    assert not rig.world.contactors_closed()
    assert rig.snap().substate is not SubState.C2  # not authorised yet: no energy
    await rig.station.submit(Authorize(1, True))
    await rig.wait_substate(SubState.C2, 8.0)
    await rig.wait(lambda: rig.world.contactors_closed(), 2.0, "contactors closed")
    await rig.wait(lambda: rig.world.ev_draw_a() == pytest.approx(amps), 5.0, f"EV draws {amps} A")
    await _meter_shows(rig, amps)


async def _meter_shows(rig: Rig, amps: float, within_s: float = 4.0) -> None:
    def ok() -> bool:
        m = rig.meter()
        return m is not None and m.current_a[0] == pytest.approx(amps, abs=0.05)
    await rig.wait(ok, within_s, f"EV meter reads {amps} A")


def test_authorised_limited_session_counts_energy(stack: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charge(rig, 16.0)
        snap = rig.snap()
        assert snap.offered_current_a == 16.0 and snap.binding_limit == "max"
        await rig.station.submit(SetLimit(1, "ocpp", 10.0))
        assert rig.snap().offered_current_a == 10.0 and rig.snap().binding_limit == "ocpp"
        await rig.wait(lambda: rig.world.ev_draw_a() == pytest.approx(10.0), 5.0, "EV follows 10 A")
        await _meter_shows(rig, 10.0)
        e_before = rig.energy_wh()
        await rig.clock.sleep(1.5)
        await rig.wait(lambda: rig.energy_wh() > e_before + 2.0, 3.0, "energy grows while charging")
        rig.world.unplug()
        await rig.wait_substate(SubState.A, 3.0)
        assert not rig.snap().contactor_c1  # commanded open in the step that left C
        await rig.wait(lambda: not rig.world.contactors_closed(), 0.5, "contactors open")
        await _meter_shows(rig, 0.0)
        settled = rig.energy_wh()
        await rig.clock.sleep(1.0)
        assert rig.energy_wh() == pytest.approx(settled, abs=0.01)  # nothing counted after unplug
        # the meter the station used counted what the EV drew
        assert settled == pytest.approx(rig.world.ev_energy_wh(), abs=1.0)
        assert settled > 2.0

    stack.run(scenario)


def test_pause_below_min_current_and_resume(stack: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charge(rig, 16.0)
        await rig.station.submit(SetLimit(1, "ocpp", 3.0))  # below MinCurrent 6 A: pause
        assert rig.snap().target_current_a == 0.0
        await rig.wait(lambda: not rig.world.contactors_closed(), 8.0, "contactors open on pause")
        await rig.wait_substate(SubState.B1, 8.0)
        await _meter_shows(rig, 0.0)
        paused_at = rig.energy_wh()
        await rig.station.submit(SetLimit(1, "ocpp", 8.0))
        await rig.wait_substate(SubState.C2, 25.0)
        await rig.wait(lambda: rig.world.ev_draw_a() == pytest.approx(8.0), 5.0, "EV draws 8 A again")
        await _meter_shows(rig, 8.0)
        assert rig.energy_wh() >= paused_at

    stack.run(scenario)


def test_over_temperature_safe_state_then_resume(stack: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charge(rig, 16.0)
        rig.world.temperature(80.0)
        await rig.wait(lambda: Fault.OVER_TEMPERATURE in rig.snap().faults, 3.0, "over-temperature fault")
        await rig.wait(lambda: not rig.world.contactors_closed(), 8.0, "contactors open")
        await rig.wait(lambda: not rig.snap().contactor_c1, 1.0, "the controller sees them open")
        rig.world.temperature(30.0)
        await rig.wait(lambda: not rig.snap().faults, 5.0, "fault cleared")
        await rig.wait_substate(SubState.C2, 25.0)
        await rig.wait(lambda: rig.world.contactors_closed(), 3.0, "contactors closed again")

    stack.run(scenario)


def test_rcd_trip_safe_state_and_clean_end(stack: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charge(rig, 16.0)
        rig.world.rcd(True)
        await rig.wait(lambda: Fault.RCD in rig.snap().faults, 3.0, "RCD fault")
        await rig.wait(lambda: not rig.world.contactors_closed(), 8.0, "contactors open")
        await rig.wait(lambda: not rig.snap().contactor_c1, 1.0, "the controller sees them open")
        assert rig.snap().substate is not SubState.C2
        rig.world.unplug()
        # the CH32 disconnects the pilot for 5 s on entering B1 (its "re-plug"): it sees the unplug late
        await rig.wait(lambda: not rig.snap().ev_connected, 8.0, "EV gone")
        await rig.wait(lambda: not rig.world.contactors_closed(), 0.5, "contactors open")
        assert not rig.snap().contactor_c1
        assert Fault.RCD in rig.snap().faults  # latched until an operator reset

    stack.run(scenario)
