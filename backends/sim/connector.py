"""One simulated connector: the board's hardware (pilot, relays, lock, RCD, temperature, PP), the EV
plugged into it and its kWh meter.  Pure and synchronous; time is passed in.

Energy is integrated exactly: the EV's current is piecewise constant and changes only at the
discrete instants processed here, so every change first books ``power * dt`` for the interval that
ends at that instant.
"""

from __future__ import annotations

from backends.sim.ev import EvModel
from backends.sim.options import SimOptions
from chargepoint.iec61851.duty import current_from_duty
from chargepoint.iec61851.proximity import resistor_for_ampacity
from hal.types import (
    ContactorFeedback,
    DiodeReading,
    HalEvent,
    LockFeedback,
    LockState,
    MeterReading,
    MeterStatus,
    PilotLevel,
    PilotMode,
    PilotReading,
    ProximityReading,
    RcdReading,
    TemperatureReading,
)

FAULTS = frozenset({"rcd", "overtemp", "weld", "contactor", "lock", "meter", "diode", "pilot_short", "panic"})

_UNSET = object()
#: pilot outputs that wake a sleeping EV: -12 V (activation pulse, state F) and 0 V (re-plug)
_WAKING = (PilotMode.ACTIVATE, PilotMode.STATE_F, PilotMode.OFF)


class SimConnector:
    def __init__(self, number: int, opts: SimOptions) -> None:
        self.number = number
        self.opts = opts
        self.ev = EvModel(
            capacity_kwh=opts.ev_capacity_kwh,
            soc=opts.ev_soc,
            max_current_a=opts.ev_max_current_a,
            phases=opts.ev_phases,
        )
        # board outputs as commanded
        self.pilot_mode = PilotMode.CONSTANT
        self.duty = 1000
        self.cmd_c1 = False
        self.cmd_c2 = False
        self.lock_cmd: bool | None = None
        # physical state
        self.act_c1 = False
        self.act_c2 = False
        self.lock_state = LockState.UNLOCKED
        self.faults: set[str] = set()
        self.temperature = opts.temperature_c
        # meter
        self.energy_wh = 0.0
        self._int_t: float | None = None
        # timers: name -> due time
        self.timers: dict[str, float] = {}
        # last reported values (None = never reported)
        self._rep_pp: object = _UNSET
        self._rep_pilot: PilotLevel | None = None
        self._rep_diode_key: tuple[bool, PilotLevel] | None = None
        self._rep_fb: tuple[bool, bool] | None = None
        self._rep_temp: float | None = None
        self._rep_rcd: bool | None = None
        self._rep_meter_ok: bool | None = None
        self._rep_current: tuple[float, float, float] | None = None

    # ------------------------------------------------------------------ read-outs
    def offered_a(self) -> float:
        return current_from_duty(self.duty) if self.pilot_mode is PilotMode.PWM else 0.0

    def phase_currents(self) -> tuple[float, float, float]:
        i = self.ev.draw_a
        if i <= 0.0:
            return (0.0, 0.0, 0.0)
        if self.ev.phases == 3 and self.act_c2:
            return (i, i, i)
        return (i, 0.0, 0.0)

    def power_w(self) -> float:
        return self.opts.voltage_v * sum(self.phase_currents())

    def measured_level(self) -> PilotLevel:
        if "pilot_short" in self.faults or self.pilot_mode is PilotMode.OFF:
            return PilotLevel.SHORT
        if not self.ev.plugged:
            return PilotLevel.V12
        return self.ev.level

    # ------------------------------------------------------------------ integration
    def integrate(self, t: float) -> None:
        """Book the energy of the interval since the last booking (current constant over it)."""
        if self._int_t is not None and t > self._int_t:
            wh = self.power_w() * (t - self._int_t) / 3600.0
            if wh > 0.0:
                self.energy_wh += wh
                self.ev.add_energy_wh(wh)
        if self._int_t is None or t > self._int_t:
            self._int_t = t

    def _set_draw(self, amps: float, t: float) -> None:
        if amps != self.ev.draw_a:
            self.integrate(t)
            self.ev.draw_a = amps

    # ------------------------------------------------------------------ commands
    def set_pilot(self, mode: PilotMode, duty: int, t: float) -> None:
        self.pilot_mode = mode
        self.duty = duty if mode is PilotMode.PWM else (0 if mode is PilotMode.ACTIVATE else 1000)
        if mode in _WAKING and self.ev.plugged and self.ev.asleep:
            self.ev.asleep = False  # -12 V (activation pulse, state F) or 0 V (re-plug) wakes the EV

    def set_contactors(self, c1: bool, c2: bool, t: float) -> None:
        self.cmd_c1, self.cmd_c2 = c1, c2
        if (c1, c2) != (self.act_c1, self.act_c2):
            self.timers["relay"] = t + self.opts.relay_delay_s

    def set_lock(self, locked: bool, t: float) -> None:
        self.lock_cmd = locked
        self.timers["lock"] = t + self.opts.lock_pulse_s

    # ------------------------------------------------------------------ controls
    def plug(self, cable_a: float, t: float) -> None:
        self.ev.plugged = True
        self.ev.cable_a = cable_a
        self.ev.level = PilotLevel.V9
        self.ev.draw_a = 0.0
        self.ev.asleep = self.opts.ev_asleep

    def unplug(self, t: float) -> None:
        self._set_draw(0.0, t)
        self.ev.plugged = False
        self.ev.level = PilotLevel.V9
        for name in ("ev_level", "ev_stop", "ev_current", "ev_update"):
            self.timers.pop(name, None)

    def set_ev(self, t: float, **changes: object) -> None:
        self.integrate(t)
        for key, value in changes.items():
            if value is not None:
                setattr(self.ev, key, value)
        if self.ev.draw_a > 0.0:
            self.timers["ev_current"] = min(self.timers.get("ev_current", t), t)  # re-evaluate now

    def inject_fault(self, fault: str, active: bool, t: float) -> None:
        if fault not in FAULTS:
            raise ValueError(f"inject_fault: unknown fault {fault!r}; one of {sorted(FAULTS)}")
        if active:
            self.faults.add(fault)
        else:
            self.faults.discard(fault)
        if fault == "overtemp":
            self.temperature = self.opts.overtemp_c if active else self.opts.temperature_c
        elif fault in ("weld", "contactor") and not active:
            self.timers["relay"] = t + self.opts.relay_delay_s  # relay follows its command again
        elif fault == "panic" and active:
            self.integrate(t)
            self.act_c1 = self.act_c2 = False  # supply lost: the relays drop

    # ------------------------------------------------------------------ timers
    def next_time(self) -> float | None:
        return min(self.timers.values()) if self.timers else None

    def fire(self, name: str, t: float, out: list[HalEvent]) -> None:
        del self.timers[name]
        ev = self.ev
        if name == "relay":
            c1, c2 = self.cmd_c1, self.cmd_c2
            if "panic" in self.faults:
                c1 = c2 = False
            if "weld" in self.faults:
                c1, c2 = c1 or self.act_c1, c2 or self.act_c2
            if "contactor" in self.faults:
                c1, c2 = c1 and self.act_c1, c2 and self.act_c2
            if (c1, c2) != (self.act_c1, self.act_c2):
                self.integrate(t)
                self.act_c1, self.act_c2 = c1, c2
        elif name == "lock":
            if "lock" not in self.faults and self.lock_cmd is not None:
                self.lock_state = LockState.LOCKED if self.lock_cmd else LockState.UNLOCKED
            out.append(LockFeedback(self.number, self.lock_state))
        elif name == "ev_level":
            if ev.plugged and ev.level is PilotLevel.V9:
                ev.level = PilotLevel.V6
        elif name == "ev_stop":
            self._set_draw(0.0, t)
            if ev.plugged:
                ev.level = PilotLevel.V9
        elif name == "ev_current":
            self._set_draw(self._wanted_draw(), t)
        elif name == "ev_update":
            self.integrate(t)
            if ev.draw_a > 0.0:
                if ev.full:
                    self._set_draw(0.0, t)
                    ev.level = PilotLevel.V9
                else:
                    wanted = self._wanted_draw()
                    if wanted < ev.draw_a:  # the EV's own taper acts at once
                        self._set_draw(wanted, t)
        elif name == "meter":
            pass  # the periodic reading is emitted by observe()

    def _pwm_ok(self) -> bool:
        return self.pilot_mode is PilotMode.PWM and self.offered_a() >= 6.0 and "pilot_short" not in self.faults

    def _wanted_draw(self) -> float:
        ev = self.ev
        if not (ev.plugged and ev.level is PilotLevel.V6 and self.act_c1 and self._pwm_ok() and ev.wants_energy()):
            return 0.0
        return max(0.0, min(self.offered_a(), ev.max_current_a, ev.taper_limit_a()))

    # ------------------------------------------------------------------ the EV reacts
    def update_ev(self, t: float) -> None:
        """Schedule the EV's reactions to the present situation (call after every change)."""
        ev, timers, o = self.ev, self.timers, self.opts
        if not ev.plugged:
            return
        want = ev.wants_energy() and self._pwm_ok()
        if ev.level is PilotLevel.V9:
            want = want and not ev.asleep  # a sleeping EV does not answer the PWM
            timers.pop("ev_stop", None)
            if want:
                timers.setdefault("ev_level", t + o.ev_request_delay_s)
            else:
                timers.pop("ev_level", None)
        else:
            timers.pop("ev_level", None)
            if want:
                timers.pop("ev_stop", None)
            else:
                timers.setdefault("ev_stop", t + o.ev_stop_delay_s)
        if not self.act_c1 and ev.draw_a > 0.0:
            self._set_draw(0.0, t)  # no supply, no current
        wanted = self._wanted_draw()
        if wanted != ev.draw_a and want:
            timers.setdefault("ev_current", t + o.ev_reaction_s)
        elif wanted == ev.draw_a:
            timers.pop("ev_current", None)
        if ev.draw_a > 0.0:
            if "ev_update" not in timers:
                timers["ev_update"] = self._ev_update_due(t)
        else:
            timers.pop("ev_update", None)

    def _ev_update_due(self, t: float) -> float:
        """When the EV next re-evaluates its SoC and taper: ``ev_update_s`` from ``t`` -- with
        ``ev_update_with_meter``, brought forward to the last periodic meter reading before then, so
        that the two share one wake-up of the board (a fleet of charging EVs would otherwise wake
        twice per meter period)."""
        due = t + self.opts.ev_update_s
        meter = self.timers.get("meter")
        interval = self.opts.meter_interval_s
        if self.opts.ev_update_with_meter and meter is not None and t < meter <= due:
            return meter + interval * int((due - meter) / interval + 1e-9)
        return due

    # ------------------------------------------------------------------ what the board reports
    def observe(self, t: float, out: list[HalEvent], meter_due: bool) -> None:
        n = self.number
        if not self.opts.fixed_cable:
            pp = resistor_for_ampacity(self.ev.cable_a) if self.ev.plugged else None
            if pp != self._rep_pp:
                self._rep_pp = pp
                out.append(ProximityReading(n, pp))
        level = self.measured_level()
        if level is not self._rep_pilot:
            self._rep_pilot = level
            out.append(PilotReading(n, level))
        if self.pilot_mode is PilotMode.PWM and self.ev.plugged and level in (PilotLevel.V9, PilotLevel.V6):
            key = (True, level)
            if key != self._rep_diode_key:
                self._rep_diode_key = key
                out.append(DiodeReading(n, self.ev.has_diode and "diode" not in self.faults))
        else:
            self._rep_diode_key = None
        fb = (self.act_c1, self.act_c2)
        if fb != self._rep_fb:
            self._rep_fb = fb
            out.append(ContactorFeedback(n, fb[0], fb[1]))
        if self.temperature != self._rep_temp:
            self._rep_temp = self.temperature
            out.append(TemperatureReading(n, self.temperature))
        rcd = "rcd" in self.faults
        if rcd != self._rep_rcd:
            self._rep_rcd = rcd
            out.append(RcdReading(n, rcd))
        meter_ok = "meter" not in self.faults
        if meter_ok != self._rep_meter_ok:
            self._rep_meter_ok = meter_ok
            out.append(MeterStatus(n, meter_ok, "" if meter_ok else "simulated meter link lost"))
        currents = self.phase_currents()
        if meter_ok and (meter_due or currents != self._rep_current):
            self._rep_current = currents
            self.integrate(t)
            v = self.opts.voltage_v
            out.append(
                MeterReading(
                    connector=n,
                    voltage_v=(v, v, v),
                    current_a=currents,
                    power_w=v * sum(currents),
                    energy_import_wh=self.energy_wh,
                    soc_percent=round(self.ev.soc, 3) if self.ev.plugged else None,
                )
            )
