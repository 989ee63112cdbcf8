"""Test rig: a simulated house + SimBoard + Controller + Station + EnergyService, in virtual time.

Nothing is mocked: the real sim board and house, the real controller behind the real Station, the
real service.  ``Site`` also checks two safety properties on every command that reaches the board and
on every contactor feedback:

* a PWM current is never above any named limit in force (OCPP's included), MaxCurrent or the cable;
* C2 never changes while C1 is closed (commanded and physical).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.sim import create_backend
from backends.sim.board import SimBoard
from backends.sim.house import SimHouse, house_source
from chargepoint.clock import VirtualClock
from chargepoint.controller import Authorize, Controller, ControllerSettings
from chargepoint.energy import EnergySettings
from chargepoint.services.energy import EnergyService
from chargepoint.station import Station
from hal.types import ContactorFeedback, HalCommand, MeterReading, PilotMode, SetContactors, SetPilot

FLAT = {"points": [[0, 1.0], [24, 1.0]], "phase_weights": [1.0, 1.0, 1.0]}


@dataclass
class Trace:
    t: float
    mains_a: tuple[float, float, float]
    ev_a: tuple[float, float, float]
    offered_a: float
    binding: str
    substate: str
    phases: int


@dataclass
class Site:
    clock: VirtualClock
    house_config: Mapping[str, Any]
    settings: EnergySettings
    max_current_a: float = 16.0
    sim_options: Mapping[str, Any] = field(default_factory=dict)
    signals: bool = True  # give the house's battery / sub-panel signals to the service
    ev_meters: bool = False  # feed the connectors' kWh meters to MaxCircuit
    violations: list[str] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    pwm: list[tuple[float, float]] = field(default_factory=list)
    contactor_changes: list[tuple[float, bool, bool]] = field(default_factory=list)

    async def start(self) -> None:
        clock = self.clock
        opts = {"meter_interval_s": 1.0, **self.sim_options}
        self.board: SimBoard = create_backend(clock, opts)
        self.controller = Controller(ControllerSettings(max_current_a=self.max_current_a, min_current_a=6.0),
                                     self.board.capabilities)
        house = house_source(clock, self.board, {"house": dict(self.house_config)})
        assert house is not None
        self.house: SimHouse = house
        self.station = Station(clock, self.board, self.controller, extra_sources=[house])
        self.energy = EnergyService(clock, self.station, settings=self.settings,
                                    house=house if self.signals else None, ev_meters=self.ev_meters)
        self._cmd_c: dict[int, tuple[bool, bool]] = {}
        self._fb: dict[int, tuple[bool, bool]] = {}
        self.board.on_command = self._on_command
        self.station.subscribe(self._on_item)
        await self.station.start()
        await self.energy.start()

    async def stop(self) -> None:
        await self.energy.stop()
        await self.station.stop()

    # ------------------------------------------------------------------ invariants
    def _on_command(self, cmd: HalCommand, now: float) -> None:
        if isinstance(cmd, SetPilot) and cmd.mode is PilotMode.PWM:
            snap = self.controller.snapshot(cmd.connector)
            bounds = {"max": self.max_current_a, **snap.limits}
            if snap.cable_ampacity_a is not None:
                bounds["cable"] = snap.cable_ampacity_a
            name = min(bounds, key=lambda k: bounds[k])
            self.pwm.append((now, cmd.current_a))
            if cmd.current_a > bounds[name] + 1e-9:
                self.violations.append(f"t={now:.1f}: PWM {cmd.current_a} A above limit {name}={bounds[name]}")
        elif isinstance(cmd, SetContactors):
            c1, c2 = self._cmd_c.get(cmd.connector, (False, False))
            if c1 and cmd.c1 and c2 != cmd.c2:
                self.violations.append(f"t={now:.1f}: c{cmd.connector} C2 commanded {c2}->{cmd.c2} while C1 closed")
            self._cmd_c[cmd.connector] = (cmd.c1, cmd.c2)

    def _on_item(self, item: object) -> None:
        if isinstance(item, ContactorFeedback):
            old = self._fb.get(item.connector, (False, False))
            if old[0] and item.c1_closed and old[1] != item.c2_closed:
                self.violations.append(f"t={self.clock.monotonic():.1f}: c{item.connector} C2 switched while C1 closed")
            if item.connector == 1 and (item.c1_closed, item.c2_closed) != old:
                self.contactor_changes.append((self.clock.monotonic(), item.c1_closed, item.c2_closed))
            self._fb[item.connector] = (item.c1_closed, item.c2_closed)
        elif isinstance(item, MeterReading) and item.connector == 0:
            for s in self.controller.snapshots():
                bound = min([self.max_current_a, *s.limits.values()])
                if s.offered_current_a > bound + 1e-9:
                    self.violations.append(f"t={self.clock.monotonic():.1f}: c{s.connector} offered "
                                           f"{s.offered_current_a} A above {bound} A ({s.limits})")
            snap = self.controller.snapshot(1)
            self.traces.append(Trace(self.clock.monotonic(), item.current_a, self.board.model.ev_current(1),
                                     snap.offered_current_a, snap.binding_limit, str(snap.substate), snap.phases))

    # ------------------------------------------------------------------ helpers
    async def plug_and_authorize(self, connector: int = 1) -> None:
        self.board.plug(connector, cable_a=32.0)
        await self.clock.sleep(1.0)
        await self.station.submit(Authorize(connector, True))

    def ev(self, connector: int = 1) -> tuple[float, float, float]:
        return self.board.ev_current(connector)

    def mains(self) -> tuple[float, float, float]:
        return self.house.read().mains_a

    def since(self, t0: float) -> list[Trace]:
        return [tr for tr in self.traces if tr.t >= t0]


def run_site(site_args: dict[str, Any], scenario: Any) -> Any:
    """Run ``await scenario(site)`` in virtual time on a fresh Site; returns its result."""
    clock = VirtualClock()

    async def main() -> Any:
        site = Site(clock, **site_args)
        await site.start()
        try:
            return await scenario(site)
        finally:
            await site.stop()

    return clock.run(main())
