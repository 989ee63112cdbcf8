"""``--backend smartevse --serial PATH``: the runtime's option dict, through the registry, to a
board that completes the handshake with the emulator."""

from __future__ import annotations

import pytest

from backends import registry
from backends.smartevse import SmartEvseV4Board
from backends.smartevse.emulator import Ch32Emulator
from chargepoint.config import load_config
from chargepoint.runtime import backend_options


async def test_runtime_options_reach_the_ch32(clock, emulator: Ch32Emulator) -> None:
    cfg = load_config(env={}, overrides={"backend.name": "smartevse", "backend.serial": emulator.path,
                                         "controller.max_current_a": 20, "controller.min_current_a": 8})
    board = registry.create("smartevse", clock, backend_options(cfg))
    assert isinstance(board, SmartEvseV4Board)
    assert board.capabilities.owns_state_machine and board.capabilities.connectors == 1
    await board.start()
    try:
        assert board.link.is_up
        await emulator.wait_received("RCmon", within_s=1.0)
        fw = emulator.firmware.settings
        assert (fw["MaxCurrent"], fw["MinCurrent"], fw["Lock"], fw["Config"]) == (20, 8, 1, 0)
        await board.set_authorization(1, True)
        await emulator.wait_received("Access:1", within_s=1.0)
    finally:
        await board.close()


def test_runtime_option_errors_name_the_key(clock) -> None:
    with pytest.raises(ValueError, match="'connectors': a SmartEVSE v4 has 1 connector"):
        registry.create("smartevse", clock, {"port": "/dev/null", "connectors": 2})
    with pytest.raises(ValueError, match="unknown smartevse option 'colour'"):
        registry.create("smartevse", clock, {"port": "/dev/null", "colour": "red"})
