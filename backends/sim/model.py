"""The simulated board + EVs as one pure, synchronous model.

Usage (no asyncio needed)::

    model = SimModel(SimOptions())
    events = model.advance(0.0)             # initial readings
    model.apply(SetPilot(...), now)         # a controller command
    model.plug(1, cable_a=32.0, now=now)    # a control (local API, scenario file, test)
    t = model.next_event_time()             # when something happens next (None: nothing pending)
    events = model.advance(t)               # events up to and including t, in time order

Commands and controls take effect at ``now`` (default: the last time seen); events they cause are
returned by the next :meth:`advance`.
"""

from __future__ import annotations

from backends.sim.connector import FAULTS, SimConnector
from backends.sim.options import SimOptions
from hal.types import (
    BoardCapabilities,
    BoardFault,
    GridRelayReading,
    HalCommand,
    HalEvent,
    RequestBoardState,
    RfidPresented,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
)


class SimModel:
    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = opts = options or SimOptions()
        self.connectors = {n: SimConnector(n, opts) for n in range(1, opts.connectors + 1)}
        self.now = 0.0
        self._out: list[HalEvent] = []
        self.grid_relay_limiting = False
        self._started = False
        self._panic_reported = False
        self.authorization: dict[int, bool] = dict.fromkeys(self.connectors, False)
        self.commands = 0

    @property
    def capabilities(self) -> BoardCapabilities:
        o = self.options
        return BoardCapabilities(
            connectors=o.connectors,
            max_current_a=o.max_current_a,
            phases=o.phases,
            has_lock=o.has_lock and not o.fixed_cable,
            has_c2=o.has_c2 and o.phases == 3,
            fixed_cable=o.fixed_cable,
            extra={"backend": "sim"},
        )

    def connector(self, n: int) -> SimConnector:
        try:
            return self.connectors[n]
        except KeyError:
            raise ValueError(f"connector must be 1..{len(self.connectors)}, got {n!r}") from None

    # ------------------------------------------------------------------ time
    def next_event_time(self) -> float | None:
        if self._out or not self._started:
            return self.now
        best: float | None = None
        for c in self.connectors.values():
            t = c.next_time()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def advance(self, now: float) -> list[HalEvent]:
        """Run the model up to ``now``; returns the events produced, in time order."""
        self._catch_up(now)
        out, self._out = self._out, []
        return out

    def sync(self, now: float) -> None:
        """Run the model up to ``now`` keeping the events for the next :meth:`advance` (for read-outs)."""
        self._catch_up(now)

    def _catch_up(self, now: float) -> None:
        if now < self.now:
            now = self.now  # time never runs backwards
        if not self._started:
            self._started = True
            self.now = now
            for c in self.connectors.values():
                c.timers["meter"] = now + self._meter_interval(c)
                c.integrate(now)
                c.observe(now, self._out, meter_due=True)
        while True:
            best_t: float | None = None
            best: tuple[SimConnector, str] | None = None
            for c in self.connectors.values():
                for name, t in c.timers.items():
                    if t <= now and (best_t is None or t < best_t):
                        best_t, best = t, (c, name)
            if best is None or best_t is None:
                break
            c, name = best
            self.now = max(self.now, best_t)
            t = self.now
            meter_due = name == "meter"
            c.fire(name, t, self._out)
            if meter_due:
                c.timers["meter"] = t + self._meter_interval(c)
            c.update_ev(t)
            c.observe(t, self._out, meter_due)
        self.now = now

    def _meter_interval(self, c: SimConnector) -> float:
        idle = self.options.idle_meter_interval_s
        return idle if idle > 0 and not c.ev.plugged else self.options.meter_interval_s

    def _settle(self, c: SimConnector) -> None:
        c.update_ev(self.now)
        c.observe(self.now, self._out, False)

    # ------------------------------------------------------------------ commands
    def apply(self, command: HalCommand, now: float | None = None) -> None:
        self._catch_up(self.now if now is None else now)
        self.commands += 1
        t = self.now
        if isinstance(command, RequestBoardState):
            raise ValueError("the simulated board does not own its state machine (RequestBoardState)")
        c = self.connector(command.connector)
        if isinstance(command, SetPilot):
            c.set_pilot(command.mode, command.duty_permille, t)
        elif isinstance(command, SetContactors):
            c.set_contactors(command.c1, command.c2, t)
        elif isinstance(command, SetLock):
            if c.opts.has_lock and not c.opts.fixed_cable:
                c.set_lock(command.locked, t)
        elif isinstance(command, SetAuthorization):
            self.authorization[command.connector] = command.allowed
        else:
            raise ValueError(f"unsupported command {type(command).__name__}")
        self._settle(c)

    # ------------------------------------------------------------------ controls
    def plug(self, connector: int, cable_a: float = 32.0, now: float | None = None) -> None:
        if not cable_a > 0:
            raise ValueError(f"plug: cable_a must be > 0, got {cable_a!r}")
        self._catch_up(self.now if now is None else now)
        c = self.connector(connector)
        if c.ev.plugged:
            raise ValueError(f"plug: connector {connector} already has an EV plugged in")
        c.plug(float(cable_a), self.now)
        due = self.now + self.options.meter_interval_s
        if self._started and c.timers.get("meter", due) > due:
            c.timers["meter"] = due  # back to the plugged-in rate (idle_meter_interval_s)
        self._settle(c)

    def unplug(self, connector: int, now: float | None = None) -> None:
        self._catch_up(self.now if now is None else now)
        c = self.connector(connector)
        c.unplug(self.now)
        self._settle(c)

    def set_ev(
        self,
        connector: int,
        charging: bool | None = None,
        max_current_a: float | None = None,
        phases: int | None = None,
        soc: float | None = None,
        capacity_kwh: float | None = None,
        now: float | None = None,
        asleep: bool | None = None,
    ) -> None:
        if phases is not None and phases not in (1, 3):
            raise ValueError(f"set_ev: phases must be 1 or 3, got {phases!r}")
        if soc is not None and not 0.0 <= soc <= 100.0:
            raise ValueError(f"set_ev: soc must be within 0..100, got {soc!r}")
        if max_current_a is not None and not max_current_a >= 0.0:
            raise ValueError(f"set_ev: max_current_a must be >= 0, got {max_current_a!r}")
        if capacity_kwh is not None and not capacity_kwh > 0.0:
            raise ValueError(f"set_ev: capacity_kwh must be > 0, got {capacity_kwh!r}")
        self._catch_up(self.now if now is None else now)
        c = self.connector(connector)
        c.set_ev(
            self.now,
            charging=None if charging is None else bool(charging),
            max_current_a=None if max_current_a is None else float(max_current_a),
            phases=phases,
            soc=None if soc is None else float(soc),
            capacity_kwh=None if capacity_kwh is None else float(capacity_kwh),
            asleep=None if asleep is None else bool(asleep),
        )
        self._settle(c)

    def set_temperature(self, connector: int, celsius: float, now: float | None = None) -> None:
        self._catch_up(self.now if now is None else now)
        c = self.connector(connector)
        c.temperature = float(celsius)
        self._settle(c)

    def present_rfid(self, id_tag: str, connector: int = 0, now: float | None = None) -> None:
        if not id_tag or len(id_tag) > 20:
            raise ValueError(f"present_rfid: id_tag must be 1..20 characters, got {id_tag!r}")
        if connector != 0:
            self.connector(connector)
        self._catch_up(self.now if now is None else now)
        self._out.append(RfidPresented(connector, id_tag))

    def set_grid_relay(self, limiting: bool, now: float | None = None) -> None:
        """The grid relay input (EnWG §14a): True while the grid operator limits the charger."""
        if not isinstance(limiting, bool):
            raise ValueError(f"set_grid_relay: limiting must be true or false, got {limiting!r}")
        self._catch_up(self.now if now is None else now)
        self.grid_relay_limiting = limiting
        self._out.append(GridRelayReading(limiting))

    def inject_fault(self, connector: int, fault: str, active: bool, now: float | None = None) -> None:
        if fault not in FAULTS:
            raise ValueError(f"inject_fault: unknown fault {fault!r}; one of {sorted(FAULTS)}")
        self._catch_up(self.now if now is None else now)
        targets = list(self.connectors.values()) if (connector == 0 or fault == "panic") else [
            self.connector(connector)
        ]
        for c in targets:
            c.inject_fault(fault, bool(active), self.now)
        if fault == "panic" and bool(active) != self._panic_reported:
            self._panic_reported = bool(active)
            self._out.append(BoardFault(0, "panic", bool(active), "simulated mains power loss"))
        for c in targets:
            self._settle(c)

    # ------------------------------------------------------------------ read-outs
    def ev_current(self, connector: int) -> tuple[float, float, float]:
        return self.connector(connector).phase_currents()

    def ev_power_w(self, connector: int) -> float:
        return self.connector(connector).power_w()

    def soc(self, connector: int) -> float:
        return self.connector(connector).ev.soc

    def energy_wh(self, connector: int) -> float:
        c = self.connector(connector)
        c.integrate(self.now)
        return c.energy_wh

    def state(self, connector: int) -> dict[str, object]:
        """Everything about one connector, for the local API and plots."""
        c = self.connector(connector)
        c.integrate(self.now)
        return {
            "connector": connector,
            "plugged": c.ev.plugged,
            "ev_level": str(c.measured_level()),
            "pilot_mode": str(c.pilot_mode),
            "duty_permille": c.duty,
            "offered_a": c.offered_a(),
            "contactors": [c.act_c1, c.act_c2],
            "lock": str(c.lock_state),
            "current_a": list(c.phase_currents()),
            "power_w": c.power_w(),
            "energy_wh": c.energy_wh,
            "soc": c.ev.soc,
            "ev_charging": c.ev.charging,
            "ev_max_current_a": c.ev.max_current_a,
            "ev_phases": c.ev.phases,
            "ev_asleep": c.ev.asleep,
            "cable_a": c.ev.cable_a if c.ev.plugged else None,
            "temperature_c": c.temperature,
            "faults": sorted(c.faults),
            "authorized": self.authorization.get(connector, False),
        }
