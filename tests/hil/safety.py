"""Measuring the safe-state reaction of the HIL stack from the station's and the emulator's logs.

* *detection*: the first board/meter event the station published that reports the fault;
* *controller*: the safe commands (contactors open, power unavailable, PWM withdrawn) the controller
  output in the step that handled that event -- they follow it in the station's item stream before
  the next event;
* *wire*: the first ``@setStatePowerUnavailable`` the emulated CH32 received after the fault was
  injected (the board may write it while parsing, a moment before the station publishes the event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chargepoint.controller.types import FaultChanged, OfferedCurrentChanged, StateChanged
from hal.types import PilotMode, RequestBoardState, SetAuthorization, SetContactors, SetLock, SetPilot
from tests.hil.conftest import Rig

OUTPUT_TYPES = (SetPilot, SetContactors, SetLock, SetAuthorization, RequestBoardState, StateChanged,
                FaultChanged, OfferedCurrentChanged)


def is_safe_command(item: Any) -> bool:
    if isinstance(item, SetContactors):
        return not item.c1
    if isinstance(item, RequestBoardState):
        return item.state in ("C1", "B1", "F")
    if isinstance(item, SetPilot):
        return item.mode in (PilotMode.CONSTANT, PilotMode.STATE_F, PilotMode.OFF)
    return False


@dataclass(frozen=True)
class Reaction:
    injected_at: float
    detected_at: float
    detection: Any
    controller_at: float | None  # safe command in the detection's own step (None: none there)
    wire_at: float | None  # @setStatePowerUnavailable received by the CH32

    @property
    def wire_latency_s(self) -> float | None:
        """Detection -> power-unavailable on the wire (0 when the board wrote it while parsing)."""
        return None if self.wire_at is None else max(0.0, self.wire_at - self.detected_at)


async def reaction(rig: Rig, injected_at: float, detect: Callable[[Any], bool], within_s: float = 5.0) -> Reaction:
    """Wait for the detection event and the wire command; return what was seen."""
    await rig.wait(lambda: rig.find(detect, injected_at) is not None, within_s, "fault detected")
    assert rig.hil is not None
    emulator = rig.hil.emulator
    await emulator.wait_received("setStatePowerUnavailable", since=injected_at, within_s=2.0)
    index = next(i for i, (t, item) in enumerate(rig.items) if t >= injected_at and detect(item))
    detected_at, detection = rig.items[index]
    controller_at = None
    for t, item in rig.items[index + 1:]:
        if not isinstance(item, OUTPUT_TYPES):
            break  # the next event: the detection's step is over
        if is_safe_command(item):
            controller_at = t
            break
    wire = emulator.find_received("setStatePowerUnavailable", since=injected_at)
    return Reaction(injected_at, detected_at, detection, controller_at, None if wire is None else wire.t)
