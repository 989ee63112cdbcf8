"""The safe-state reaction to a fault, read from the station's item stream and the emulator's wire log.

* *detection*: the first board/meter event the station published that reports the fault;
* *controller*: a safe command (contactors open, power unavailable, PWM withdrawn) among the outputs
  of the step that handled that event -- they follow it in the station's stream before the next event;
* *wire*: the first ``@setStatePowerUnavailable`` the emulated CH32 received after the injection
  (the board may write it while parsing, a moment before the station publishes the event).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from backends.smartevse.emulator import Ch32Emulator
from chargepoint.controller.types import FaultChanged, OfferedCurrentChanged, StateChanged
from hal.types import (
    BoardState,
    PilotMode,
    RequestBoardState,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
)

OUTPUT_TYPES = (SetPilot, SetContactors, SetLock, SetAuthorization, RequestBoardState, StateChanged,
                FaultChanged, OfferedCurrentChanged)
SAFE_STATE_LINE = "setStatePowerUnavailable"


def is_safe_command(item: Any) -> bool:
    if isinstance(item, SetContactors):
        return not item.c1
    if isinstance(item, RequestBoardState):
        return item.state in (BoardState.C1, BoardState.B1, BoardState.F)
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
    def controller_latency_s(self) -> float | None:
        return None if self.controller_at is None else self.controller_at - self.detected_at

    @property
    def wire_latency_s(self) -> float | None:
        """Detection -> power-unavailable on the wire (0 when the board wrote it while parsing)."""
        return None if self.wire_at is None else max(0.0, self.wire_at - self.detected_at)


def find_reaction(items: Sequence[tuple[float, Any]], emulator: Ch32Emulator, injected_at: float,
                  detect: Callable[[Any], bool]) -> Reaction | None:
    """The reaction as far as it can be read now; None while nothing was detected."""
    index = next((i for i, (t, item) in enumerate(items) if t >= injected_at and detect(item)), None)
    if index is None:
        return None
    detected_at, detection = items[index]
    controller_at = None
    for t, item in items[index + 1:]:
        if not isinstance(item, OUTPUT_TYPES):
            break  # the next event: the detection's step is over
        if is_safe_command(item):
            controller_at = t
            break
    wire = emulator.find_received(SAFE_STATE_LINE, since=injected_at)
    return Reaction(injected_at, detected_at, detection, controller_at, None if wire is None else wire.t)
