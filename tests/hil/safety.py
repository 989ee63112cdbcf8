"""Waiting for a fault's safe-state reaction on a :class:`Rig` (see :mod:`chargepoint.harness.hil.reaction`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chargepoint.harness.hil.reaction import SAFE_STATE_LINE, Reaction, find_reaction
from tests.hil.conftest import Rig

__all__ = ["Reaction", "reaction"]


async def reaction(rig: Rig, injected_at: float, detect: Callable[[Any], bool], within_s: float = 5.0) -> Reaction:
    """Wait for the detection event and the wire command; return what was seen."""
    await rig.wait(lambda: rig.find(detect, injected_at) is not None, within_s, "fault detected")
    assert rig.hil is not None
    await rig.hil.emulator.wait_received(SAFE_STATE_LINE, since=injected_at, within_s=2.0)
    found = find_reaction(rig.items, rig.hil.emulator, injected_at, detect)
    assert found is not None
    return found
