"""The IEC 61851-1 controller: one state machine per connector, pure and synchronous.

``handle(input, now)`` updates the connector's inputs, processes the timers that are due, runs the
state machine to a fixed point and then derives the commanded outputs (pilot, contactors, lock,
authorisation) *from the state*, emitting only what changed.  Because outputs are a function of
the state, the safety invariants hold by construction and :meth:`Controller.check_invariants`
verifies them independently.

Transitions (normal mode, the controller runs the state machine):

* A --(9/6/3 V)--> B1 (not ready: not authorised, paused, ChargeDelay) or B2 (PWM at the offered current).
* B2 --(6 V continuously for > ``b_to_c_debounce_s``, diode seen in this B episode, authorised,
  available, no fault, ChargeDelay over, lock LOCKED)--> C2: contactors close (C2 only for 3 phases).
  A 9 V reading restarts the debounce.  6 V for longer than the debounce without a diode -> Fault.DIODE.
* C2 --(not authorised / unavailable / limit below MinCurrent / phase switch pending)--> C1: PWM
  withdrawn, contactors still closed, ChargeDelay 15 s.  C1 --(EV 9 V or ``c1_timeout_s``)--> B1:
  contactors open, ChargeDelay >= 3 s, pilot disconnected for ``pilot_replug_s`` ("virtual re-plug")
  when the pause was not caused by de-authorisation/unavailability.
* C2 --(9 V)--> B2/B1 and --(12 V)--> A: contactors open in the same step.
* Any hard fault: contactors open, PWM withdrawn, substate F (E for a pilot fault) in the same step.
* 3 V (state D) is energised only with ``ventilation_allowed``; otherwise substate D, contactors open.
* Unplug (12 V) ends the plug-in session: authorisation is revoked, diode/pilot faults clear.

With ``capabilities.owns_state_machine`` (SmartEVSE v4) the board's ``BoardStateReport`` is
authoritative; the controller only sends the offered current (SetPilot), the access bit
(SetAuthorization) and pause requests (RequestBoardState "C1"/"B1"), and supervises faults.
"""

from __future__ import annotations

from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.types import (
    Authorize,
    ConnectorSnapshot,
    ControllerInput,
    ControllerOutput,
    ControllerSettings,
    Fault,
    FaultChanged,
    HoldLock,
    IecState,
    OfferedCurrentChanged,
    RequestUnlock,
    ResetFault,
    SetAvailability,
    SetLimit,
    SetPhases,
    StateChanged,
    SubState,
    Tick,
)
from chargepoint.iec61851.duty import MAX_SIGNAL_A, MIN_SIGNAL_A, duty_permille, signalled_current
from chargepoint.iec61851.proximity import NO_RESISTOR_A, cable_ampacity
from hal.types import (
    BoardCapabilities,
    BoardFault,
    BoardStateReport,
    ContactorFeedback,
    DiodeReading,
    LockFeedback,
    LockState,
    MeterReading,
    MeterStatus,
    PilotLevel,
    PilotMode,
    PilotReading,
    ProximityReading,
    RcdReading,
    RequestBoardState,
    RfidPresented,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
    TemperatureReading,
)

_A, _B1, _B2, _C1, _C2 = SubState.A, SubState.B1, SubState.B2, SubState.C1, SubState.C2
_D, _E, _F = SubState.D, SubState.E, SubState.F
_V12, _V9, _V6, _V3 = PilotLevel.V12, PilotLevel.V9, PilotLevel.V6, PilotLevel.V3
_CONNECTED = (PilotLevel.V9, PilotLevel.V6, PilotLevel.V3)
_REQUESTING = (PilotLevel.V6, PilotLevel.V3)
_IEC = {
    _A: IecState.A,
    _B1: IecState.B,
    _B2: IecState.B,
    _C1: IecState.C,
    _C2: IecState.C,
    _D: IecState.D,
    _E: IecState.E,
    _F: IecState.F,
}
#: BoardStateReport.state -> substate (boards that own the state machine)
_BOARD_STATES = {
    "A": _A,
    "B": _B2,
    "B2": _B2,
    "B1": _B1,
    "C": _C2,
    "C2": _C2,
    "C1": _C1,
    "D": _D,
    "E": _E,
    "F": _F,
}
_DEBOUNCE_RESOLUTION_S = 0.001  # the debounce needs *more than* b_to_c_debounce_s: tick 1 ms later
#: timer tolerance: an event loop may run a timer callback up to its clock resolution early
_EPS = 1e-6


#: Limit names owned by the energy manager (chargepoint.energy.LIMIT_NAMES).
_ENERGY_LIMITS = frozenset({"mains", "circuit", "sum_mains", "solar", "grid_relay"})


class Controller:
    """IEC 61851-1 controller for ``capabilities.connectors`` connectors (numbered from 1)."""

    def __init__(self, settings: ControllerSettings, capabilities: BoardCapabilities) -> None:
        if capabilities.connectors < 1:
            raise ValueError("capabilities.connectors must be >= 1")
        if not 6.0 <= settings.max_current_a <= MAX_SIGNAL_A:
            raise ValueError(f"max_current_a must be within 6..80 A, got {settings.max_current_a}")
        if settings.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {settings.phases}")
        self.settings = settings
        self.capabilities = capabilities
        self.owns = capabilities.owns_state_machine
        self.min_current = max(MIN_SIGNAL_A, settings.min_current_a)
        self.lock_enabled = (
            settings.has_lock and capabilities.has_lock and not settings.fixed_cable and not self.owns
        )
        self.max_phases = 3 if (settings.phases == 3 and capabilities.phases == 3) else 1
        self._global_limits: dict[str, float] = {}
        self._now = 0.0
        self._conns: list[ConnectorState] = [ConnectorState(0)]  # index 0 unused
        for n in range(1, capabilities.connectors + 1):
            c = ConnectorState(n, phases_req=self.max_phases, phases_active=self.max_phases)
            c.c2_plan = self._c2_for(c.phases_active)
            if settings.fixed_cable:
                c.cable_a = settings.max_current_a
            self._conns.append(c)
        self._started = False

    # ------------------------------------------------------------------ public API
    @property
    def connectors(self) -> int:
        return len(self._conns) - 1

    def start(self, now: float) -> list[ControllerOutput]:
        """Initial safe commands for every connector: pilot constant, contactors open, lock open."""
        self._now = now
        self._started = True
        out: list[ControllerOutput] = []
        for c in self._conns[1:]:
            self._update_target(c)
            if self.owns:
                out.append(SetAuthorization(c.number, False))
                c.auth_out = False
            else:
                out.append(SetContactors(c.number, False, False))
                out.append(SetPilot(c.number, PilotMode.CONSTANT, 1000, 0.0))
                c.pilot_mode = PilotMode.CONSTANT
                out.append(SetAuthorization(c.number, False))
                c.auth_out = False
                if self.lock_enabled:
                    self._command_lock(c, False, now, out)
            self._report_offered(c, out)
        return out

    def handle(self, inp: ControllerInput, now: float) -> list[ControllerOutput]:
        """Process one input at monotonic time ``now``.

        Returns the HAL commands first, in execution order (an opening SetContactors before the
        pilot change), then the notifications (FaultChanged, StateChanged, OfferedCurrentChanged).
        """
        if now > self._now:
            self._now = now
        now = self._now
        handler = _HANDLERS.get(type(inp))
        if handler is None:
            raise TypeError(f"unsupported controller input: {type(inp).__name__}")
        self._validate(inp)  # before anything changes: a bad input leaves the state untouched
        out: list[ControllerOutput] = []
        conns = self._conns
        # 1. timers that are due, on every connector
        for c in conns[1:]:
            self._run_timers(c, now, out)
        # 2. the input
        handler(self, inp, now, out)
        # 3. state machine and outputs
        for c in conns[1:]:
            self._settle(c, now, out)
        # hardware commands first (contactors open before anyone logs the fault), then notifications
        if len(out) > 1:
            hal = [o for o in out if type(o) in _HAL_COMMANDS]
            if hal and len(hal) != len(out):
                hal.extend(o for o in out if type(o) not in _HAL_COMMANDS)
                return hal
        return out

    def next_deadline(self) -> float | None:
        """Monotonic time of the next timer (debounce, C1 timeout, ChargeDelay, supervision)."""
        now = self._now
        best: float | None = None
        for c in self._conns[1:]:
            for t in self._deadlines(c):
                if t is not None and t > now and (best is None or t < best):
                    best = t
        return best

    def snapshot(self, n: int) -> ConnectorSnapshot:
        return self._snapshot(self._conn(n))

    def snapshots(self) -> list[ConnectorSnapshot]:
        return [self._snapshot(c) for c in self._conns[1:]]

    def check_invariants(self) -> None:
        """Raise AssertionError naming the first broken safety invariant."""
        s = self.settings
        for c in self._conns[1:]:
            n = c.number
            if c.c2_changed_under_c1:
                raise AssertionError(f"connector {n}: C2 changed while C1 was closed")
            if c.c2 and not c.c1:
                raise AssertionError(f"connector {n}: C2 closed without C1")
            if self.owns:
                if c.c1 and c.sub not in (_C1, _C2):
                    raise AssertionError(f"connector {n}: contactors closed outside C (board mode)")
                if c.c1 and c.sub is _C2 and not self._permitted(c) and c.pause_requested is None:
                    raise AssertionError(f"connector {n}: board charges without permission and no pause request")
                continue
            if c.c1:
                ok_c2 = (
                    c.sub is _C2
                    and c.authorized
                    and c.available
                    and not c.faults
                    and c.pilot_mode is PilotMode.PWM
                    and c.duty >= 100
                )
                ok_c1 = (
                    c.sub is _C1
                    and not c.faults
                    and c.c1_since is not None
                    and self._now - c.c1_since <= s.c1_timeout_s + _EPS
                )
                if not (ok_c2 or ok_c1):
                    raise AssertionError(
                        f"connector {n}: contactors closed in {c.sub} (authorised={c.authorized}, "
                        f"available={c.available}, faults={sorted(c.faults)}, duty={c.duty})"
                    )
                if self.lock_enabled and c.lock_fb is not LockState.LOCKED:
                    raise AssertionError(f"connector {n}: energised without the lock locked")
                if c.pilot is _V3 and not s.ventilation_allowed:
                    raise AssertionError(f"connector {n}: state D energised without ventilation")
                if c.pilot not in _REQUESTING:
                    raise AssertionError(f"connector {n}: energised while the EV is not requesting ({c.pilot})")
            if c.faults and c.pilot_mode is PilotMode.PWM:
                raise AssertionError(f"connector {n}: PWM offered despite faults {sorted(c.faults)}")
            if c.pilot_mode is PilotMode.PWM:
                if c.pwm_a < self.min_current - _EPS:
                    raise AssertionError(f"connector {n}: PWM signals {c.pwm_a} A below MinCurrent")
                if not 100 <= c.duty <= 960:
                    raise AssertionError(f"connector {n}: PWM duty {c.duty} outside 100..960")
                if c.sub not in (_B2, _C2):
                    raise AssertionError(f"connector {n}: PWM in {c.sub}")
            if c.sub is _C1 and c.pilot_mode is not PilotMode.CONSTANT:
                raise AssertionError(f"connector {n}: C1 with pilot {c.pilot_mode}")

    # ------------------------------------------------------------------ input handlers
    def _validate(self, inp: ControllerInput) -> None:
        n = getattr(inp, "connector", None)
        if n is not None:
            lowest = 0 if type(inp) in _ACCEPTS_ALL else 1
            if not isinstance(n, int) or not lowest <= n <= self.connectors:
                raise ValueError(f"{type(inp).__name__}.connector must be {lowest}..{self.connectors}, got {n!r}")
        if type(inp) is SetLimit:
            if not inp.name:
                raise ValueError("SetLimit.name must not be empty")
            if inp.amps is not None and not (isinstance(inp.amps, int | float) and inp.amps >= 0.0):
                raise ValueError(f"SetLimit.amps must be >= 0 or None, got {inp.amps!r}")
        elif type(inp) is SetPhases and inp.phases not in (1, 3):
            raise ValueError(f"SetPhases.phases must be 1 or 3, got {inp.phases!r}")
        elif type(inp) is BoardStateReport and str(inp.state).strip().upper() not in _BOARD_STATES:
            raise ValueError(f"BoardStateReport.state: unknown state {inp.state!r}")
        elif type(inp) is ResetFault and not isinstance(inp.fault, Fault):
            raise ValueError(f"ResetFault.fault must be a Fault, got {inp.fault!r}")

    def _conn(self, n: int) -> ConnectorState:
        if not 1 <= n < len(self._conns):
            raise ValueError(f"connector must be 1..{self.connectors}, got {n}")
        return self._conns[n]

    def _targets(self, n: int) -> list[ConnectorState]:
        """Connector ``n``, or every connector for 0."""
        if n == 0:
            return self._conns[1:]
        return [self._conn(n)]

    def _on_pilot(self, ev: PilotReading, now: float, out: list[ControllerOutput]) -> None:
        c = self._conn(ev.connector)
        lvl = ev.level
        if not self.owns and c.pilot_mode is PilotMode.OFF:
            c.pilot = None  # pilot disconnected on purpose: the reading says nothing about the EV
            c.six_v_since = None
            return
        if lvl in (PilotLevel.SHORT, PilotLevel.NOK):
            c.six_v_since = None
            self._set_fault(c, Fault.PILOT, True, out, f"pilot reads {lvl}")
            return
        if Fault.PILOT in c.faults:
            self._set_fault(c, Fault.PILOT, False, out)
        c.pilot = lvl
        if lvl is _V12:
            c.six_v_since = None
            if c.plugged:
                self._unplugged(c, out)
            return
        if not c.plugged:
            c.plugged = True
            if not self.settings.fixed_cable and not c.pp_received and not self.owns:
                # no PP reading: the most conservative rating.  A board that owns the state machine
                # (SmartEVSE v4 CH32) reads PP itself and caps its PWM by the cable (MaxCapacity),
                # and reports no PP: assuming 13 A here would cap every session at 13 A.
                c.cable_a = NO_RESISTOR_A
        elif lvl is _V9:
            c.six_v_since = None
        elif c.six_v_since is None:
            c.six_v_since = now

    def _unplugged(self, c: ConnectorState, out: list[ControllerOutput]) -> None:
        """The EV left: end the plug-in session."""
        c.plugged = False
        c.authorized = False
        c.unlock_requested = False
        c.diode_seen = False
        if not self.settings.fixed_cable:
            c.pp_received = False
            c.cable_a = None
        for f in (Fault.DIODE, Fault.PILOT):
            if f in c.faults:
                self._set_fault(c, f, False, out, "EV unplugged")
        if self.settings.unlock_on_unplug:
            c.lock_want = False

    def _on_diode(self, ev: DiodeReading, now: float, out: list[ControllerOutput]) -> None:
        c = self._conn(ev.connector)
        if ev.present:
            c.diode_seen = True

    def _on_proximity(self, ev: ProximityReading, now: float, out: list[ControllerOutput]) -> None:
        c = self._conn(ev.connector)
        if self.settings.fixed_cable:
            return
        c.pp_received = True
        c.cable_a = cable_ampacity(ev.ohms, firmware_table=self.settings.firmware_pp_table)

    def _on_contactor_fb(self, ev: ContactorFeedback, now: float, out: list[ControllerOutput]) -> None:
        c = self._conn(ev.connector)
        c.fb_seen = True
        c.fb_c1, c.fb_c2 = ev.c1_closed, ev.c2_closed
        self._update_mismatch(c, now)

    def _on_lock_fb(self, ev: LockFeedback, now: float, out: list[ControllerOutput]) -> None:
        c = self._conn(ev.connector)
        c.lock_fb = ev.state
        if c.lock_cmd is not None and (ev.state is LockState.LOCKED) == c.lock_cmd:
            c.lock_check_at = None
            c.lock_retry_at = None
            c.lock_attempts = 0
        elif self.lock_enabled and c.c1 and ev.state is not LockState.LOCKED:
            self._set_fault(c, Fault.LOCK, True, out, "lock opened while energised")

    def _on_rcd(self, ev: RcdReading, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(ev.connector):
            c.rcd_tripped = ev.tripped
            if ev.tripped:
                self._set_fault(c, Fault.RCD, True, out, "residual current detected")

    def _on_temperature(self, ev: TemperatureReading, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(ev.connector):
            c.temperature = ev.celsius
            limit = self.settings.max_temperature_c
            if ev.celsius > limit:
                self._set_fault(c, Fault.OVER_TEMPERATURE, True, out, f"{ev.celsius:.1f} C > {limit:.1f} C")
            elif ev.celsius < limit - 10.0 and Fault.OVER_TEMPERATURE in c.faults:
                self._set_fault(c, Fault.OVER_TEMPERATURE, False, out, f"{ev.celsius:.1f} C")

    def _on_meter(self, ev: MeterReading, now: float, out: list[ControllerOutput]) -> None:
        if ev.connector == 0:
            return  # the mains meter belongs to the energy manager
        self._conn(ev.connector).meter = ev

    def _on_meter_status(self, ev: MeterStatus, now: float, out: list[ControllerOutput]) -> None:
        if ev.connector == 0:
            return
        c = self._conn(ev.connector)
        self._set_fault(c, Fault.METER, not ev.ok, out, ev.detail)

    def _on_board_fault(self, ev: BoardFault, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(ev.connector):
            if ev.active:
                c.board_fault_codes.add(ev.code)
            else:
                c.board_fault_codes.discard(ev.code)
            self._set_fault(c, Fault.BOARD, bool(c.board_fault_codes), out, f"{ev.code}: {ev.detail}".strip())

    def _on_board_state(self, ev: BoardStateReport, now: float, out: list[ControllerOutput]) -> None:
        c = self._conn(ev.connector)
        state = ev.state.strip().upper()
        c.board_state = state
        if not self.owns:
            return  # informational only: this controller runs the state machine
        new = _BOARD_STATES[state]
        if new is not c.sub:
            old = c.sub
            if old in (_A,) or new is _A:
                c.pause_requested = None
            if new not in (_C2, _B2):
                c.pause_requested = None
            self._transition(c, new, now, out, adopt=True)
            if new is _A and old is not _A:
                self._unplugged(c, out)

    def _on_rfid(self, ev: RfidPresented, now: float, out: list[ControllerOutput]) -> None:
        return  # authorisation is decided by the OCPP layer, which sends Authorize

    def _on_authorize(self, inp: Authorize, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(inp.connector):
            was = c.authorized
            c.authorized = inp.granted
            if inp.granted:
                c.unlock_requested = False
            elif was and self.settings.unlock_on_session_end:
                c.lock_want = False

    def _on_set_limit(self, inp: SetLimit, now: float, out: list[ControllerOutput]) -> None:
        limits = self._global_limits if inp.connector == 0 else self._conn(inp.connector).limits
        if inp.amps is None:
            limits.pop(inp.name, None)
        else:
            limits[inp.name] = float(inp.amps)

    def _on_availability(self, inp: SetAvailability, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(inp.connector):
            c.available = inp.available

    def _on_phases(self, inp: SetPhases, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(inp.connector):
            c.phases_req = min(inp.phases, self.max_phases)
            if not c.c1:  # contactors open: the plan for the next C entry changes right away
                c.phases_active = c.phases_req
                c.c2_plan = self._c2_for(c.phases_active)

    def _on_reset_fault(self, inp: ResetFault, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(inp.connector):
            f = inp.fault
            if f not in c.faults:
                continue
            if f is Fault.RCD and c.rcd_tripped:
                continue
            if f is Fault.CONTACTOR_WELDED and (c.fb_c1 or c.fb_c2):
                continue
            if f in (Fault.OVER_TEMPERATURE, Fault.METER, Fault.BOARD, Fault.PILOT):
                continue  # these clear by themselves when the cause goes away (a valid pilot reading)
            if f is Fault.LOCK:
                c.lock_cmd = None  # re-issue the lock command
                c.lock_attempts = 0
                c.lock_check_at = c.lock_retry_at = None
            if f in (Fault.CONTACTOR_WELDED, Fault.CONTACTOR_FAILED):
                c.mismatch_since = None
            self._set_fault(c, f, False, out, "reset")

    def _on_unlock(self, inp: RequestUnlock, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(inp.connector):
            c.authorized = False
            c.unlock_requested = True
            c.lock_want = False
            c.lock_hold = False

    def _on_hold_lock(self, inp: HoldLock, now: float, out: list[ControllerOutput]) -> None:
        for c in self._targets(inp.connector):
            c.lock_hold = bool(inp.hold)

    def _on_tick(self, inp: Tick, now: float, out: list[ControllerOutput]) -> None:
        return  # timers already ran

    # ------------------------------------------------------------------ faults
    def _set_fault(
        self, c: ConnectorState, f: Fault, active: bool, out: list[ControllerOutput], detail: str = ""
    ) -> None:
        if active == (f in c.faults):
            return
        if active:
            c.faults.add(f)
        else:
            c.faults.discard(f)
        out.append(FaultChanged(c.number, f, active, detail))

    def _update_mismatch(self, c: ConnectorState, now: float) -> None:
        if self.owns or not c.fb_seen:
            return
        if c.fb_c1 != c.c1 or c.fb_c2 != c.c2:
            if c.mismatch_since is None:
                c.mismatch_since = now
        else:
            c.mismatch_since = None

    # ------------------------------------------------------------------ timers
    def _deadlines(self, c: ConnectorState) -> tuple[float | None, ...]:
        if self.owns:
            return ()  # the board runs the timers
        s = self.settings
        debounce = None
        if c.sub is _B2 and c.six_v_since is not None:
            debounce = c.six_v_since + s.b_to_c_debounce_s + _DEBOUNCE_RESOLUTION_S
        c1 = c.c1_since + s.c1_timeout_s if (c.sub is _C1 and c.c1_since is not None and not self.owns) else None
        delay = c.charge_delay_until if c.sub in (_B1, _D) else None
        mismatch = c.mismatch_since + s.contactor_feedback_timeout_s if c.mismatch_since is not None else None
        return (debounce, c1, delay, c.replug_until, mismatch, c.lock_check_at, c.lock_retry_at)

    def _run_timers(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        s = self.settings
        if c.replug_until is not None and now >= c.replug_until - _EPS:
            c.replug_until = None  # the pilot reconnects in _apply_outputs
        if c.mismatch_since is not None and now - c.mismatch_since >= s.contactor_feedback_timeout_s - _EPS:
            welded = (c.fb_c1 and not c.c1) or (c.fb_c2 and not c.c2)
            if welded:
                self._set_fault(c, Fault.CONTACTOR_WELDED, True, out,
                                f"feedback closed while commanded open (c1={c.fb_c1}, c2={c.fb_c2})")
            else:
                self._set_fault(c, Fault.CONTACTOR_FAILED, True, out,
                                f"feedback open while commanded closed (c1={c.fb_c1}, c2={c.fb_c2})")
            c.mismatch_since = None
        if c.lock_check_at is not None and now >= c.lock_check_at - _EPS:
            c.lock_check_at = None
            if (c.lock_fb is LockState.LOCKED) != bool(c.lock_cmd):
                if c.lock_attempts >= s.lock_retries:
                    self._set_fault(c, Fault.LOCK, True, out,
                                    f"lock did not reach {'locked' if c.lock_cmd else 'unlocked'} "
                                    f"after {c.lock_attempts} attempts")
                else:
                    c.lock_retry_at = now - s.lock_feedback_timeout_s + s.lock_retry_interval_s
        if c.lock_retry_at is not None and now >= c.lock_retry_at - _EPS:
            c.lock_retry_at = None
            if c.lock_cmd is not None and Fault.LOCK not in c.faults and not self.owns:
                c.lock_attempts += 1
                c.lock_check_at = now + s.lock_feedback_timeout_s
                out.append(SetLock(c.number, c.lock_cmd))

    # ------------------------------------------------------------------ state machine
    def _settle(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        s = self.settings
        # diode check failure: 6 V for longer than the debounce without a diode in this B episode
        if (
            not self.owns
            and c.sub is _B2
            and c.six_v_since is not None
            and not c.diode_seen
            and now - c.six_v_since > s.b_to_c_debounce_s
        ):
            self._set_fault(c, Fault.DIODE, True, out, "6 V without EV diode")
        self._update_target(c)
        if self.owns:
            self._apply_board_outputs(c, now, out)
            self._report_offered(c, out)
            return
        for _ in range(6):
            new = self._next_state(c, now)
            if new is c.sub:
                break
            self._transition(c, new, now, out)
        self._apply_outputs(c, now, out)
        self._report_offered(c, out)

    def _may_offer(self, c: ConnectorState, now: float) -> bool:
        return (
            c.authorized
            and c.available
            and not c.faults
            and c.target_a >= self.min_current
            and now >= c.charge_delay_until - _EPS
            and c.replug_until is None
        )

    def _may_continue(self, c: ConnectorState) -> bool:
        return (
            c.authorized
            and c.available
            and c.target_a >= self.min_current
            and c.phases_req == c.phases_active
        )

    def _lock_ok(self, c: ConnectorState) -> bool:
        return not self.lock_enabled or (c.lock_cmd is True and c.lock_fb is LockState.LOCKED)

    def _next_state(self, c: ConnectorState, now: float) -> SubState:
        sub, lvl, s = c.sub, c.pilot, self.settings
        if sub is _C1:
            if c.faults:
                return _E if Fault.PILOT in c.faults else _F
            if lvl is _V12:
                return _A
            if lvl not in _REQUESTING or c.unlock_requested:
                return _B1
            if c.c1_since is not None and now - c.c1_since >= s.c1_timeout_s - _EPS:
                return _B1
            return _C1
        if c.faults:
            return _E if Fault.PILOT in c.faults else _F
        if lvl is None:
            return _B1 if sub is _C2 else sub
        if lvl is _V12:
            return _A if c.available else _F
        if sub is _C2:
            if lvl is _V9:
                return _B2 if self._may_offer(c, now) else _B1
            if lvl is _V3 and not s.ventilation_allowed:
                return _D
            if c.unlock_requested:
                return _B1  # operator unlock: open now, not through C1
            if not self._may_continue(c) or not self._lock_ok(c):
                return _C1
            return _C2
        if not c.available:
            return _F
        if sub is _E or sub is _F:
            return _B1  # recovering from a fault / unavailability: through B1 and its ChargeDelay
        if lvl is _V3 and not s.ventilation_allowed:
            return _D
        if not self._may_offer(c, now):
            return _B1
        if sub is not _B2:
            return _B2
        if (
            lvl in _REQUESTING
            and c.six_v_since is not None
            and now - c.six_v_since > s.b_to_c_debounce_s
            and c.diode_seen
            and self._lock_ok(c)
        ):
            return _C2
        return _B2

    def _transition(
        self, c: ConnectorState, new: SubState, now: float, out: list[ControllerOutput], adopt: bool = False
    ) -> None:
        old = c.sub
        s = self.settings
        c.sub = new
        if new is _A:
            c.diode_seen = False
            c.charge_delay_until = 0.0
            c.c1_since = None
            c.replug_until = None
            c.six_v_since = None
        if new is _B1 and not adopt:
            if old in (_C1, _C2, _B2, _D, _E, _F):
                if c.charge_delay_until < now + s.charge_delay_after_b1_s:
                    c.charge_delay_until = max(c.charge_delay_until, now + s.charge_delay_after_b1_s)
                if old in (_C1, _C2, _B2) and c.authorized and c.available and s.pilot_replug_s > 0:
                    c.replug_until = now + s.pilot_replug_s
                    c.pilot = None
                    c.six_v_since = None
            if old in (_C1, _C2):
                c.diode_seen = False
        elif new is _B2 and not adopt:
            c.diode_seen = False
            c.six_v_since = now if c.pilot in _REQUESTING else None
        elif new is _C2:
            c.phases_active = c.phases_req
            c.c2_plan = self._c2_for(c.phases_active)
            c.c1_since = None
        elif new is _C1:
            c.c1_since = now
            c.charge_delay_until = now + s.charge_delay_after_c1_s
        if old is _C1 and new is not _C1:
            c.c1_since = None
        c.pending_changes.append((old, new))

    def _c2_for(self, phases: int) -> bool:
        return phases == 3 and self.max_phases == 3 and self.capabilities.has_c2

    # ------------------------------------------------------------------ outputs
    def _update_target(self, c: ConnectorState) -> None:
        best, name = self.settings.max_current_a, "max"
        if c.cable_a is not None and c.cable_a < best:
            best, name = c.cable_a, "cable"
        hw = self.capabilities.max_current_a
        if hw < best:
            best, name = hw, "hardware"
        # Energy-manager limits follow the other caps (it never allocates above them): on a tie the
        # other limit is the cause, so energy names are looked at last (strict < keeps the first).
        named = sorted([*self._global_limits.items(), *c.limits.items()], key=lambda kv: kv[0] in _ENERGY_LIMITS)
        for k, v in named:
            if v < best:
                best, name = v, k
        c.target_a = best
        c.binding = name

    def _apply_outputs(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        n = c.number
        sub = c.sub
        # desired state
        if sub is _B2 or sub is _C2:
            mode = PilotMode.PWM
            amps = signalled_current(c.target_a)
            duty = duty_permille(amps)
        else:
            amps, duty = 0.0, 1000
            if c.replug_until is not None:
                mode = PilotMode.OFF
            elif sub is _F and not c.faults:
                mode = PilotMode.STATE_F
            else:
                mode = PilotMode.CONSTANT
        if sub is _C2:
            k1, k2 = True, c.c2_plan
        elif sub is _C1:
            k1, k2 = True, c.c2
        else:
            k1, k2 = False, False
        contactors_changed = (k1, k2) != (c.c1, c.c2)
        opening = contactors_changed and ((c.c1 and not k1) or (c.c2 and not k2))
        if c.c1 and k1 and k2 != c.c2:
            c.c2_changed_under_c1 = True
        if opening:
            self._command_contactors(c, k1, k2, now, out)
        if mode is not c.pilot_mode or duty != c.duty:
            c.pilot_mode, c.duty, c.pwm_a = mode, duty, amps
            out.append(SetPilot(n, mode, duty, amps))
        if contactors_changed and not opening:
            self._command_contactors(c, k1, k2, now, out)
        # lock: locked while a session is authorised on a plugged EV; never unlock while energised
        if self.lock_enabled:
            if c.authorized and c.pilot in _CONNECTED and not c.unlock_requested:
                c.lock_want = True
            want = c.lock_want or c.c1 or c.lock_hold
            if want != c.lock_cmd and Fault.LOCK not in c.faults:
                self._command_lock(c, want, now, out)
        allowed = c.authorized and c.available and not c.faults
        if allowed != c.auth_out:
            c.auth_out = allowed
            out.append(SetAuthorization(n, allowed))
        self._finish_state_changes(c, out)

    def _command_contactors(
        self, c: ConnectorState, k1: bool, k2: bool, now: float, out: list[ControllerOutput]
    ) -> None:
        c.c1, c.c2 = k1, k2
        out.append(SetContactors(c.number, k1, k2))
        self._update_mismatch(c, now)

    def _command_lock(self, c: ConnectorState, locked: bool, now: float, out: list[ControllerOutput]) -> None:
        c.lock_cmd = locked
        c.lock_attempts = 1
        c.lock_retry_at = None
        if (c.lock_fb is LockState.LOCKED) == locked and c.lock_fb is not None:
            c.lock_check_at = None
        else:
            c.lock_check_at = now + self.settings.lock_feedback_timeout_s
        out.append(SetLock(c.number, locked))

    def _permitted(self, c: ConnectorState) -> bool:
        return c.authorized and c.available and not c.faults and c.target_a >= self.min_current

    def _apply_board_outputs(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        """Boards that own the state machine: offered current, access bit and pause requests."""
        n = c.number
        permitted = self._permitted(c)
        if c.auth_out != permitted:
            c.auth_out = permitted
            out.append(SetAuthorization(n, permitted))
        if permitted:
            amps = signalled_current(c.target_a)
            mode, duty = PilotMode.PWM, duty_permille(amps)
        else:
            amps, mode, duty = 0.0, PilotMode.CONSTANT, 1000
        if mode is not c.pilot_mode or duty != c.duty:
            c.pilot_mode, c.duty, c.pwm_a = mode, duty, amps
            out.append(SetPilot(n, mode, duty, amps))
        if permitted:
            c.pause_requested = None
        else:
            want = None
            if c.faults and c.sub in (_C1, _C2, _B2):
                want = "B1"
            elif c.sub is _C2:
                want = "C1"
            elif c.sub is _B2:
                want = "B1"
            if want is not None and c.pause_requested != want:
                c.pause_requested = want
                out.append(RequestBoardState(n, want))
        k1 = c.sub in (_C1, _C2)
        k2 = k1 and c.c2_plan
        if c.c1 and k1 and k2 != c.c2:
            c.c2_changed_under_c1 = True
        c.c1, c.c2 = k1, k2
        self._finish_state_changes(c, out)

    def _finish_state_changes(self, c: ConnectorState, out: list[ControllerOutput]) -> None:
        """Emit this step's StateChanged outputs (after the HAL commands) with the final snapshot."""
        if c.pending_changes:
            snap = self._snapshot(c)
            for old, new in c.pending_changes:
                out.append(StateChanged(c.number, old, new, snap))
            c.pending_changes.clear()

    def _report_offered(self, c: ConnectorState, out: list[ControllerOutput]) -> None:
        offered = c.pwm_a if c.pilot_mode is PilotMode.PWM else 0.0
        key = (offered, c.binding)
        if key != c.offered_reported:
            c.offered_reported = key
            out.append(OfferedCurrentChanged(c.number, offered, c.binding))

    # ------------------------------------------------------------------ snapshot
    def _snapshot(self, c: ConnectorState) -> ConnectorSnapshot:
        sub = c.sub
        lvl = c.pilot
        if self.owns:
            connected = sub is not _A if c.board_state is not None else lvl in _CONNECTED
            requesting = sub in (_C1, _C2) or lvl in _REQUESTING
        else:
            connected = lvl in _CONNECTED or (lvl is None and sub not in (_A,))
            requesting = lvl in _REQUESTING
        iec = _IEC[sub]
        if sub is _C2 and lvl is _V3:
            iec = IecState.D
        limits = dict(self._global_limits)
        for k, v in c.limits.items():
            limits[k] = min(v, limits.get(k, v))
        paused = c.target_a < self.min_current
        return ConnectorSnapshot(
            connector=c.number,
            iec_state=iec,
            substate=sub,
            ev_connected=connected,
            ev_requesting=requesting,
            authorized=c.authorized,
            available=c.available,
            offered_current_a=c.pwm_a if c.pilot_mode is PilotMode.PWM else 0.0,
            target_current_a=0.0 if paused else signalled_current(c.target_a),
            binding_limit=c.binding,
            pwm_duty_permille=c.duty,
            contactor_c1=c.c1,
            contactor_c2=c.c2,
            phases=c.phases_active if c.c1 else c.phases_req,
            locked=c.lock_fb is LockState.LOCKED,
            cable_ampacity_a=c.cable_a,
            faults=frozenset(c.faults),
            limits=limits,
            temperature_c=c.temperature,
            charge_delay_s=max(0.0, c.charge_delay_until - self._now),
            meter=c.meter,
        )


_HAL_COMMANDS = frozenset({SetPilot, SetContactors, SetLock, SetAuthorization, RequestBoardState})
_ACCEPTS_ALL = frozenset(
    {RcdReading, TemperatureReading, BoardFault, MeterReading, MeterStatus, RfidPresented, Authorize,
     SetLimit, SetAvailability, SetPhases, ResetFault, RequestUnlock, HoldLock}
)

_HANDLERS = {
    PilotReading: Controller._on_pilot,
    DiodeReading: Controller._on_diode,
    ProximityReading: Controller._on_proximity,
    ContactorFeedback: Controller._on_contactor_fb,
    LockFeedback: Controller._on_lock_fb,
    RcdReading: Controller._on_rcd,
    TemperatureReading: Controller._on_temperature,
    MeterReading: Controller._on_meter,
    MeterStatus: Controller._on_meter_status,
    BoardFault: Controller._on_board_fault,
    BoardStateReport: Controller._on_board_state,
    RfidPresented: Controller._on_rfid,
    Authorize: Controller._on_authorize,
    SetLimit: Controller._on_set_limit,
    SetAvailability: Controller._on_availability,
    SetPhases: Controller._on_phases,
    ResetFault: Controller._on_reset_fault,
    RequestUnlock: Controller._on_unlock,
    HoldLock: Controller._on_hold_lock,
    Tick: Controller._on_tick,
}
