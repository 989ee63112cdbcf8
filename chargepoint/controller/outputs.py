"""Outputs derived from the state: the commands for the pilot, the contactors, the lock and the
access bit (normal mode), the StateChanged reports and the connector snapshot.

The commands are a function of the substate and the faults; only what differs from the last
command is emitted, in a safe order: an opening SetContactors before the pilot change, a closing
one after it.
"""

from __future__ import annotations

from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import CONNECTED, Context
from chargepoint.controller.offer import effective_limits
from chargepoint.controller.supervision import command_contactors, command_lock
from chargepoint.controller.types import (
    ConnectorSnapshot,
    ControllerOutput,
    Fault,
    IecState,
    StateChanged,
    SubState,
)
from chargepoint.iec61851.duty import duty_permille, signalled_current
from hal.types import LockState, PilotLevel, PilotMode, SetAuthorization, SetPilot

_A, _B1, _B2, _C1, _C2, _D, _E, _F = SubState.A, SubState.B1, SubState.B2, SubState.C1, SubState.C2, SubState.D, SubState.E, SubState.F
_PWM, _CONSTANT, _OFF, _STATE_F = PilotMode.PWM, PilotMode.CONSTANT, PilotMode.OFF, PilotMode.STATE_F
_ACTIVATE = PilotMode.ACTIVATE
_V3 = PilotLevel.V3
_LOCKED = LockState.LOCKED
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


def set_pilot(c: ConnectorState, mode: PilotMode, duty: int, amps: float, out: list[ControllerOutput]) -> None:
    """SetPilot when the mode or the duty changes."""
    cmd = c.cmd
    if mode is not cmd.pilot_mode or duty != cmd.duty:
        cmd.pilot_mode, cmd.duty, cmd.pwm_a = mode, duty, amps
        out.append(SetPilot(c.number, mode, duty, amps))


def set_access(c: ConnectorState, allowed: bool, out: list[ControllerOutput]) -> None:
    if allowed != c.cmd.auth:
        c.cmd.auth = allowed
        out.append(SetAuthorization(c.number, allowed))


def b_current(ctx: Context, c: ConnectorState) -> float:
    """The current signalled in B2.  Before the EV requested power, with ``firmware_b_current``, the
    firmware's ChargeCurrent of the A -> B transition (reference §2.4): the cable's rating when it is
    below MaxCurrent, else MinCurrent -- never above the target; the full target follows in C.
    Otherwise the target itself."""
    target = c.offer.target_a
    if not (ctx.settings.firmware_b_current and c.offer.before_c):
        return target  # (after C -> B the firmware keeps its ChargeCurrent: the target)
    cable = c.ev.cable_a
    first = cable if cable is not None and ctx.settings.max_current_a > cable else ctx.min_current
    return min(target, first)


def apply_outputs(ctx: Context, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
    """Normal mode: command what the state asks for."""
    sub = c.sub
    cmd = c.cmd
    # pilot: PWM in B2/C2 (at the target; in B2 before C see b_current), -12 V during the
    # activation pulse; otherwise off during a re-plug, -12 V (state F) when unavailable without a
    # fault, else constant +12 V
    if sub is _B2 and c.timers.activation_until is not None:
        amps, mode, duty = 0.0, _ACTIVATE, 0  # ACTSTART: -12 V (0 % duty) for the activation pulse
    elif sub is _B2 or sub is _C2:
        amps = signalled_current(b_current(ctx, c) if sub is _B2 else c.offer.target_a)
        mode, duty = _PWM, duty_permille(amps)
    else:
        amps, duty = 0.0, 1000
        if c.timers.replug_until is not None:
            mode = _OFF
        elif sub is _F and not c.faults:
            mode = _STATE_F
        else:
            mode = _CONSTANT
    if sub is _C2:
        k1, k2 = True, c.phases.c2_plan
    elif sub is _C1:
        k1, k2 = True, cmd.c2
    else:
        k1, k2 = False, False
    contactors_changed = (k1, k2) != (cmd.c1, cmd.c2)
    opening = contactors_changed and ((cmd.c1 and not k1) or (cmd.c2 and not k2))
    if cmd.c1 and k1 and k2 != cmd.c2:
        cmd.c2_changed_under_c1 = True
    if opening:
        command_contactors(c, k1, k2, now, out)
    set_pilot(c, mode, duty, amps, out)
    if contactors_changed and not opening:
        command_contactors(c, k1, k2, now, out)
    # lock: locked while a session is authorised on a plugged EV; never unlock while energised
    if ctx.lock_enabled:
        lock = c.lock
        if c.session.authorized and c.ev.pilot in CONNECTED and not c.session.unlock_requested:
            lock.want = True
        want = lock.want or cmd.c1 or lock.hold
        if want != lock.cmd and Fault.LOCK not in c.faults:
            command_lock(ctx, c, want, now, out)
    set_access(c, c.session.authorized and c.session.available and not c.faults, out)


def report_state_changes(ctx: Context, c: ConnectorState, flags: tuple[bool, bool], out: list[ControllerOutput]) -> None:
    """Emit this step's StateChanged outputs (after the HAL commands) with the final snapshot;
    ``flags`` as for :func:`snapshot`."""
    snap = snapshot(ctx, c, flags)
    for old, new in c.pending_changes:
        out.append(StateChanged(c.number, old, new, snap))
    c.pending_changes.clear()


def snapshot(ctx: Context, c: ConnectorState, flags: tuple[bool, bool]) -> ConnectorSnapshot:
    """``flags``: (EV connected, EV requesting) as the mode sees them."""
    sub = c.sub
    cmd = c.cmd
    iec = _IEC[sub]
    if sub is _C2 and c.ev.pilot is _V3:
        iec = IecState.D
    paused = c.offer.target_a < ctx.min_current
    return ConnectorSnapshot(
        connector=c.number,
        iec_state=iec,
        substate=sub,
        ev_connected=flags[0],
        ev_requesting=flags[1],
        authorized=c.session.authorized,
        available=c.session.available,
        offered_current_a=cmd.pwm_a if cmd.pilot_mode is _PWM else 0.0,
        target_current_a=0.0 if paused else signalled_current(c.offer.target_a),
        binding_limit=c.offer.binding,
        pwm_duty_permille=cmd.duty,
        contactor_c1=cmd.c1,
        contactor_c2=cmd.c2,
        phases=c.phases.active if cmd.c1 else c.phases.requested,
        locked=c.lock.fb is _LOCKED,
        cable_ampacity_a=c.ev.cable_a,
        faults=frozenset(c.faults),
        limits=effective_limits(ctx, c),
        temperature_c=c.health.temperature,
        charge_delay_s=max(0.0, c.timers.charge_delay_until - ctx.now),
        meter=c.health.meter,
    )
