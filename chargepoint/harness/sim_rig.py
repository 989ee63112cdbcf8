"""A synchronous pump: controller + simulated board in lock step, no asyncio.

Used by property tests, scenario tests and the controller benchmark.  Every board event and every
Tick goes through ``Controller.handle``; HAL commands are applied to the model at the same instant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backends.sim.model import SimModel
from chargepoint.controller import Controller, Tick
from chargepoint.controller.types import ControllerInput, ControllerOutput
from hal.types import RequestBoardState, SetAuthorization, SetContactors, SetLock, SetPilot

_HAL = (SetPilot, SetContactors, SetLock, SetAuthorization)


class SimRig:
    def __init__(
        self,
        controller: Controller,
        model: SimModel,
        *,
        on_step: Callable[[ControllerInput, list[ControllerOutput], float], Any] | None = None,
        check: bool = True,
    ) -> None:
        self.controller = controller
        self.model = model
        self.now = model.now
        self.on_step = on_step
        self.check = check
        self.steps = 0
        self.outputs: list[ControllerOutput] = []
        self.keep_outputs = False
        self._execute(controller.start(self.now))

    def _execute(self, outputs: list[ControllerOutput]) -> None:
        if self.keep_outputs:
            self.outputs.extend(outputs)
        for o in outputs:
            if isinstance(o, _HAL):
                self.model.apply(o, self.now)
            elif isinstance(o, RequestBoardState):
                raise AssertionError("controller asked the simulated board for a state change")

    def feed(self, inp: ControllerInput) -> list[ControllerOutput]:
        """Give the controller an input at the current time (Authorize, SetLimit, ...)."""
        outs = self.controller.handle(inp, self.now)
        self.steps += 1
        if self.check:
            self.controller.check_invariants()
        if self.on_step is not None:
            self.on_step(inp, outs, self.now)
        self._execute(outs)
        return outs

    def run_until(self, t_end: float) -> None:
        """Process board events and controller deadlines in time order up to ``t_end``."""
        model, ctrl = self.model, self.controller
        while True:
            tm = model.next_event_time()
            tc = ctrl.next_deadline()
            t = tm if tc is None else (tc if tm is None else min(tm, tc))
            if t is None or t > t_end:
                break
            self.now = max(self.now, t)
            for ev in model.advance(self.now):
                self.feed(ev)
            if tc is not None and tc <= self.now:
                self.feed(Tick())
        self.now = max(self.now, t_end)
        for ev in model.advance(self.now):
            self.feed(ev)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)
