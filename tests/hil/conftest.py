"""One session suite, two stacks.

The ``stack`` fixture is parametrised over ``["sim", "smartevse+modbus"]``.  Both stacks are built
the way ``chargepoint run`` builds them -- a :class:`chargepoint.config.Config` handed to
:class:`chargepoint.runtime.Runtime` -- and the test drives the world through one small interface
(:class:`World`):

* ``sim``: the simulated board (``backends.sim``) in virtual time;
* ``smartevse+modbus``: controller -> smartevse backend -> real pty -> CH32 emulator, with the EV
  meter read by ``backends.modbus`` from a pymodbus TCP server whose registers follow the
  emulator's EV (:class:`chargepoint.harness.hil.HilStack`), in real time.

A test is an ``async def scenario(rig)``; ``stack.run(scenario)`` builds everything on the stack's
clock, runs it and tears everything down.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from chargepoint.clock import Clock, RealClock, VirtualClock
from chargepoint.config import load_config
from chargepoint.controller.types import ConnectorSnapshot, SubState
from chargepoint.harness.hil import HilOptions, HilStack
from chargepoint.harness.hil.runtime import FAST_METER, start_runtime
from chargepoint.runtime import Runtime
from chargepoint.station import Station
from hal.types import MeterReading

STACKS = ["sim", "smartevse+modbus"]
#: Clock seconds a scenario may take (virtual for sim, real for the HIL stack).
SCENARIO_LIMIT_S = 120.0

#: EV meter polling of the HIL stack: fast enough for seconds-long tests.
HIL_METER = FAST_METER


class World(Protocol):
    """What a test may do to the physical side, whichever stack it runs on."""

    def plug(self, cable_a: float = 32.0) -> None: ...

    def unplug(self) -> None: ...

    def set_ev(self, **fields: Any) -> None: ...

    def rcd(self, tripped: bool) -> None: ...

    def temperature(self, celsius: float) -> None: ...

    def contactors_closed(self) -> bool: ...

    def ev_draw_a(self) -> float: ...

    def ev_energy_wh(self) -> float: ...


class SimWorld:
    def __init__(self, station: Station) -> None:
        self.board: Any = station.board

    def plug(self, cable_a: float = 32.0) -> None:
        self.board.plug(1, cable_a=cable_a)

    def unplug(self) -> None:
        self.board.unplug(1)

    def set_ev(self, **fields: Any) -> None:
        self.board.set_ev(1, **fields)

    def rcd(self, tripped: bool) -> None:
        self.board.inject_fault(1, "rcd", tripped)

    def temperature(self, celsius: float) -> None:
        self.board.set_temperature(1, celsius)

    def contactors_closed(self) -> bool:
        return bool(self.board.state(1)["contactors"][0])

    def ev_draw_a(self) -> float:
        return float(self.board.ev_current(1)[0])

    def ev_energy_wh(self) -> float:
        return float(self.board.energy_wh(1))


class HilWorld:
    def __init__(self, stack: HilStack) -> None:
        self.stack = stack
        self.emulator = stack.emulator

    def plug(self, cable_a: float = 32.0) -> None:
        self.emulator.plug(cable_a=cable_a)

    def unplug(self) -> None:
        self.emulator.unplug()

    def set_ev(self, **fields: Any) -> None:
        self.emulator.set_ev(**fields)

    def rcd(self, tripped: bool) -> None:
        self.emulator.inject("rcd_trip" if tripped else "rcd_reset")

    def temperature(self, celsius: float) -> None:
        self.emulator.inject("temperature", celsius=int(celsius))

    def contactors_closed(self) -> bool:
        return bool(self.emulator.firmware.c1)

    def ev_draw_a(self) -> float:
        return self.stack.ev_source.currents()[0]

    def ev_energy_wh(self) -> float:
        return float(self.emulator.firmware.ev_energy_wh)


@dataclass
class Rig:
    kind: str
    clock: Clock
    runtime: Runtime
    world: World
    hil: HilStack | None = None
    items: list[tuple[float, Any]] = field(default_factory=list)

    @property
    def station(self) -> Station:
        assert self.runtime.station is not None
        return self.runtime.station

    def snap(self) -> ConnectorSnapshot:
        return self.station.snapshot(1)

    def now(self) -> float:
        return self.clock.monotonic()

    def meter(self) -> MeterReading | None:
        return self.station.latest_meter(1)

    def energy_wh(self) -> float:
        reading = self.meter()
        return reading.energy_import_wh if reading is not None else 0.0

    async def wait(self, pred: Callable[[], bool], within_s: float, what: str) -> float:
        """Poll ``pred`` every 20 ms; returns the time it became true, fails naming ``what``."""
        deadline = self.now() + within_s
        while not pred():
            if self.now() > deadline:
                s = self.snap()
                raise AssertionError(f"{self.kind}: not within {within_s} s: {what}; now {s.substate} "
                                     f"offered {s.offered_current_a} A faults {sorted(s.faults)}")
            await self.clock.sleep(0.02)
        return self.now()

    async def wait_substate(self, substate: SubState, within_s: float) -> float:
        return await self.wait(lambda: self.snap().substate == substate, within_s, f"substate {substate}")

    def find(self, pred: Callable[[Any], bool], since: float = 0.0) -> tuple[float, Any] | None:
        for t, item in self.items:
            if t >= since and pred(item):
                return t, item
        return None


Scenario = Callable[[Rig], Awaitable[None]]


@dataclass
class StackFactory:
    kind: str
    tmp: Path
    hil_options: dict[str, Any] = field(default_factory=dict)

    def run(self, scenario: Scenario, **hil_options: Any) -> None:
        if self.kind == "sim":
            vclock = VirtualClock()
            vclock.run(self._main(vclock, scenario, {}), wall_timeout=60.0)
        else:
            rclock = RealClock()
            rclock.run(self._main(rclock, scenario, hil_options))

    async def _main(self, clock: Clock, scenario: Scenario, hil_options: dict[str, Any]) -> None:
        stack: HilStack | None = None
        runtime: Runtime | None = None
        try:
            if self.kind == "sim":
                config = load_config(overrides={"backend.name": "sim", "http.listen": "",
                                                "chargepoint.data_dir": str(self.tmp)}, env={})
                runtime = Runtime(config=replace(config, sim={"ev_max_current_a": 32.0}), clock=clock)
                await runtime.start()
            else:
                options = {"c1_charge_delay_s": 2, "ev": {"max_current_a": 32.0}, **hil_options}
                stack = HilStack(clock, HilOptions(**options))
                await stack.start()
                runtime = await start_runtime(clock, stack, self.tmp, meter=HIL_METER, backend={"rcmon": True})
            assert runtime.station is not None
            world: World = SimWorld(runtime.station) if stack is None else HilWorld(stack)
            rig = Rig(self.kind, clock, runtime, world, stack)
            runtime.station.subscribe(lambda item: rig.items.append((clock.monotonic(), item)))
            await clock.sleep(0.3)
            await clock.wait_for(scenario(rig), SCENARIO_LIMIT_S)
            runtime.station.controller.check_invariants()
        finally:
            if runtime is not None and runtime.station is not None:
                with contextlib.suppress(Exception):
                    await runtime.stop()
            if stack is not None:
                await stack.stop()


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> StackFactory:
    return StackFactory(request.param, tmp_path)


@pytest.fixture
def hil(tmp_path: Path) -> StackFactory:
    """The smartevse+modbus stack only (fault tests over the wire)."""
    return StackFactory("smartevse+modbus", tmp_path)
