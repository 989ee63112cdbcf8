"""Normal mode: the controller runs the state machine, drives the pilot and switches the
contactors and the lock itself (every board but one that owns its state machine)."""

from __future__ import annotations

from chargepoint.controller import supervision
from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import CONNECTED, EPS, REQUESTING, Context
from chargepoint.controller.inputs import apply_pilot
from chargepoint.controller.offer import report_offered, update_target
from chargepoint.controller.outputs import apply_outputs, report_state_changes
from chargepoint.controller.supervision import command_lock, set_fault
from chargepoint.controller.transitions import enter, next_state
from chargepoint.controller.types import ControllerOutput, Fault, SubState, hard_faults
from hal.types import LockState, PilotLevel, PilotMode, SetAuthorization, SetContactors, SetPilot

_A, _B1, _B2, _C1, _C2, _D = SubState.A, SubState.B1, SubState.B2, SubState.C1, SubState.C2, SubState.D
_PWM, _CONSTANT, _ACTIVATE = PilotMode.PWM, PilotMode.CONSTANT, PilotMode.ACTIVATE
_V3, _V9 = PilotLevel.V3, PilotLevel.V9
_LOCKED = LockState.LOCKED
_DEBOUNCE_RESOLUTION_S = 0.001  # the debounce needs *more than* b_to_c_debounce_s: tick 1 ms later
#: enough for the longest chain of transitions one step can cause (e.g. C2 -> C1 -> B1)
_MAX_TRANSITIONS = 6


class NormalMode:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def start(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        """Safe state: contactors open, pilot constant +12 V, no access, lock open."""
        out.append(SetContactors(c.number, False, False))
        out.append(SetPilot(c.number, _CONSTANT, 1000, 0.0))
        c.cmd.pilot_mode = _CONSTANT
        out.append(SetAuthorization(c.number, False))
        c.cmd.auth = False
        if self.ctx.lock_enabled:
            command_lock(self.ctx, c, False, now, out)

    def run_timers(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        t = c.timers
        if t.replug_until is not None and now >= t.replug_until - EPS:
            t.replug_until = None  # the pilot reconnects in apply_outputs
        if t.activation_until is not None and now >= t.activation_until - EPS:
            t.activation_until = None  # PWM again in apply_outputs; the reading of the pulse counts now
            deferred, c.ev.deferred = c.ev.deferred, None
            if deferred is not None:
                apply_pilot(self.ctx, c, deferred, now, out)
        supervision.run_timers(self.ctx, c, now, out)

    def settle(self, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
        """Diode check, the state machine to a fixed point, then the outputs."""
        ctx = self.ctx
        ev = c.ev
        # diode check failure: 6 V for longer than the debounce without a diode in this B episode
        if (
            c.sub is _B2
            and ev.six_v_since is not None
            and not ev.diode_seen
            and now - ev.six_v_since > ctx.settings.b_to_c_debounce_s
        ):
            set_fault(c, Fault.DIODE, True, out, "6 V without EV diode")
        update_target(ctx, c)
        for _ in range(_MAX_TRANSITIONS):
            new = next_state(ctx, c, now)
            if new is c.sub:
                break
            enter(ctx, c, new, now)
        self._activation(c, now)
        apply_outputs(ctx, c, now, out)
        if c.pending_changes:
            report_state_changes(ctx, c, self.ev_flags(c), out)
        report_offered(c, out)

    def _activation(self, c: ConnectorState, now: float) -> None:
        """ACTSTART: in B2 with the EV still at 9 V when the armed time came, start the -12 V pulse
        (once per B episode: the arming is consumed)."""
        t = c.timers
        if (
            c.sub is _B2
            and t.activation_at is not None
            and now >= t.activation_at - EPS
            and c.ev.pilot is _V9
            and c.ev.invalid_since is None
        ):
            t.activation_at = None
            t.activation_until = now + self.ctx.settings.activation_pulse_s

    def deadlines(self, c: ConnectorState) -> tuple[float | None, ...]:
        """The state machine's timers and the supervision's."""
        s = self.ctx.settings
        t = c.timers
        sub = c.sub
        debounce = None
        if sub is _B2 and c.ev.six_v_since is not None:
            debounce = c.ev.six_v_since + s.b_to_c_debounce_s + _DEBOUNCE_RESOLUTION_S
        c1 = t.c1_since + s.c1_timeout_s if (sub is _C1 and t.c1_since is not None) else None
        delay = t.charge_delay_until if sub in (_B1, _D) else None
        activation = t.activation_at if sub is _B2 and t.activation_until is None else None
        return (debounce, c1, delay, t.replug_until, activation, t.activation_until,
                *supervision.deadlines(self.ctx, c))

    def ev_flags(self, c: ConnectorState) -> tuple[bool, bool]:
        """(EV connected, EV requesting) from the pilot; while the pilot is off (re-plug) the EV
        counts as connected unless the state is A."""
        lvl = c.ev.pilot
        return (lvl in CONNECTED or (lvl is None and c.sub is not _A)), lvl in REQUESTING

    def check(self, c: ConnectorState, now: float) -> None:
        ctx = self.ctx
        s = ctx.settings
        n = c.number
        cmd = c.cmd
        if cmd.c1:
            ok_c2 = (
                c.sub is _C2
                and c.session.authorized
                and c.session.available
                and not c.faults
                and cmd.pilot_mode is _PWM
                and cmd.duty >= 100
            )
            # C1: the graceful window -- PWM withdrawn, the EV still in C, at most c1_timeout_s;
            # only power-unavailable faults (over-temperature, meter) may be active in it
            ok_c1 = (
                c.sub is _C1
                and not hard_faults(c.faults)
                and c.timers.c1_since is not None
                and now - c.timers.c1_since <= s.c1_timeout_s + EPS
            )
            if not (ok_c2 or ok_c1):
                raise AssertionError(
                    f"connector {n}: contactors closed in {c.sub} (authorised={c.session.authorized}, "
                    f"available={c.session.available}, faults={sorted(c.faults)}, duty={cmd.duty})"
                )
            if ctx.lock_enabled and c.lock.fb is not _LOCKED:
                raise AssertionError(f"connector {n}: energised without the lock locked")
            if c.ev.pilot is _V3 and not s.ventilation_allowed:
                raise AssertionError(f"connector {n}: state D energised without ventilation")
            if c.ev.pilot not in REQUESTING:
                raise AssertionError(f"connector {n}: energised while the EV is not requesting ({c.ev.pilot})")
        if c.faults and cmd.pilot_mode is _PWM:
            raise AssertionError(f"connector {n}: PWM offered despite faults {sorted(c.faults)}")
        if cmd.pilot_mode is _PWM:
            if cmd.pwm_a < ctx.min_current - EPS:
                raise AssertionError(f"connector {n}: PWM signals {cmd.pwm_a} A below MinCurrent")
            if not 100 <= cmd.duty <= 960:
                raise AssertionError(f"connector {n}: PWM duty {cmd.duty} outside 100..960")
            if c.sub not in (_B2, _C2):
                raise AssertionError(f"connector {n}: PWM in {c.sub}")
        if c.sub is _C1 and cmd.pilot_mode is not _CONSTANT:
            raise AssertionError(f"connector {n}: C1 with pilot {cmd.pilot_mode}")
        if cmd.pilot_mode is _ACTIVATE:
            until = c.timers.activation_until
            if c.sub is not _B2 or cmd.c1 or c.faults or until is None:
                raise AssertionError(f"connector {n}: activation pulse in {c.sub} (contactor={cmd.c1}, "
                                     f"faults={sorted(c.faults)})")
            if until - now > s.activation_pulse_s + EPS:
                raise AssertionError(f"connector {n}: activation pulse longer than {s.activation_pulse_s} s")
