"""A second master on the bus (a SmartEVSE left at LoadBl=Master): the nodes charge at currents this
program did not broadcast -- detected within a few cycles, logged, and shown on every connector
(Faulted, OtherError, vendorErrorCode second_master); it clears when the other master is gone."""

from __future__ import annotations

import logging

from chargepoint.clock import VirtualClock
from tests.rs485.rig import Rs485Rig


def test_a_second_master_is_detected_logged_and_shown(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="backends.smartevse_rs485.board")
    out: dict[str, object] = {}

    async def session(clock: VirtualClock) -> None:
        async with Rs485Rig(clock, tmp_path, nodes=2) as rig:
            assert rig.csms is not None
            await rig.start_charging(1, "TAG1")
            await rig.start_charging(2, "TAG2")
            await clock.sleep(20)
            out["before"] = rig.board.fault_active("second_master")
            mark = len(rig.csms.frames)
            began = clock.monotonic()
            rig.bus.second_master = True
            faulted = await rig.wait_status(1, "Faulted", 30, since=mark)
            out["detected_after_s"] = clock.monotonic() - began
            out["payload"] = faulted.payload
            out["during"] = rig.board.fault_active("second_master")
            await rig.wait_status(2, "Faulted", 5, since=mark)
            rig.bus.second_master = False
            back = len(rig.csms.frames)
            await rig.wait_status(1, "Charging", 120, since=back)
            out["after"] = rig.board.fault_active("second_master")

    clock = VirtualClock()
    clock.run(session(clock), wall_timeout=120)
    assert out["before"] is False and out["during"] is True and out["after"] is False
    assert out["detected_after_s"] <= 10, out["detected_after_s"]
    payload = out["payload"]
    assert payload["errorCode"] == "OtherError"
    assert payload["vendorErrorCode"] == "second_master"
    assert payload["info"] == "another master is on the RS485 bus"
    logged = [r.getMessage() for r in caplog.records if "second_master" in r.getMessage()]
    assert logged and "another master" in logged[0] and "LoadBl=Master" in logged[0], logged


def test_a_node_granted_by_another_master_is_a_collision(tmp_path):
    """Nobody authorised the EV here, yet its node goes to B and C: another master granted it."""
    out: dict[str, object] = {}

    async def session(clock: VirtualClock) -> None:
        async with Rs485Rig(clock, tmp_path, nodes=2) as rig:
            assert rig.csms is not None
            mark = len(rig.csms.frames)
            rig.bus.second_master = True
            rig.bus.plug(rig.addresses[0])
            faulted = await rig.wait_status(1, "Faulted", 20, since=mark)
            out["payload"] = faulted.payload
            out["starts"] = [f for f in rig.csms.frames if f.action == "StartTransaction"]

    clock = VirtualClock()
    clock.run(session(clock), wall_timeout=120)
    assert out["payload"]["vendorErrorCode"] == "second_master"
    assert not out["starts"]


def test_foreign_grant_rule():
    from backends.smartevse_rs485.master import foreign_grant
    from backends.smartevse_rs485.protocol import (
        STATE_A,
        STATE_B,
        STATE_B1,
        STATE_C,
        STATE_COMM_B,
        STATE_COMM_C,
    )

    assert foreign_grant(STATE_COMM_B, STATE_B, granted_b=False, granted_c=False)
    assert foreign_grant(STATE_COMM_B, STATE_B, granted_b=True, granted_c=False) is None
    assert foreign_grant(STATE_B, STATE_COMM_C, granted_b=False, granted_c=False) is None  # the node's own (6 V)
    assert foreign_grant(STATE_COMM_C, STATE_C, granted_b=False, granted_c=False)
    assert foreign_grant(STATE_COMM_C, STATE_C, granted_b=False, granted_c=True) is None
    assert foreign_grant(STATE_A, STATE_C, granted_b=True, granted_c=False)  # skipped C's grant
    assert foreign_grant(STATE_C, STATE_B, granted_b=False, granted_c=False) is None  # EV stops by itself
    assert foreign_grant(STATE_B1, STATE_COMM_B, granted_b=False, granted_c=False) is None
