"""Stopping the charge point leaves the hardware safe, on every stack: a board that runs its own
state machine (SmartEVSE v4) must not keep charging unsupervised after our process is gone."""

from __future__ import annotations

from tests.hil.conftest import Rig, StackFactory
from tests.hil.test_session_suite import _charge


def test_stopping_the_charge_point_opens_the_contactors(stack: StackFactory) -> None:
    async def scenario(rig: Rig) -> None:
        await _charge(rig, 16.0)
        assert rig.world.contactors_closed()
        await rig.runtime.stop()
        await rig.wait(lambda: not rig.world.contactors_closed(), 2.0, "contactors open after stop")
        await rig.wait(lambda: rig.world.ev_draw_a() == 0.0, 6.0, "the EV draws nothing")
        if rig.hil is not None:  # the board was told: access withdrawn before the port closed
            assert rig.hil.emulator.find_received("Access:0") is not None

    stack.run(scenario)
