"""Supervision: hard faults, the contactor feedback check and the cable lock with its retries.

* A fault is raised / cleared with :func:`set_fault` (one ``FaultChanged`` per change); any active
  fault forces the safe state in the next settle (contactors open, no PWM).
* Contactor feedback must match the command within ``contactor_feedback_timeout_s``: closed while
  commanded open -> ``Fault.CONTACTOR_WELDED``, open while commanded closed -> ``CONTACTOR_FAILED``.
  Not supervised on boards that switch their own contactors (their feedback follows their state).
* The lock is checked ``lock_feedback_timeout_s`` after each SetLock and retried every
  ``lock_retry_interval_s`` up to ``lock_retries`` attempts, then ``Fault.LOCK``.
* A shorted / invalid pilot reading becomes ``Fault.PILOT`` only when it lasted longer than
  ``pilot_fault_debounce_s`` (:func:`pilot_debounce_due`); a valid reading clears it.
* Faults that clear by themselves (temperature, meter, board, pilot) ignore ResetFault; latched ones
  (RCD, weld, lock, diode, contactor) clear on ResetFault once their cause is gone.
"""

from __future__ import annotations

from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import EPS, Context
from chargepoint.controller.types import ControllerOutput, Fault, FaultChanged, ResetFault
from hal.types import (
    BoardFault,
    ContactorFeedback,
    LockFeedback,
    LockState,
    MeterStatus,
    RcdReading,
    SetContactors,
    SetLock,
    TemperatureReading,
)

#: faults that clear by themselves when the cause goes away; ResetFault does not touch them
_SELF_CLEARING = (Fault.OVER_TEMPERATURE, Fault.METER, Fault.BOARD, Fault.PILOT)


def set_fault(c: ConnectorState, f: Fault, active: bool, out: list[ControllerOutput], detail: str = "") -> None:
    if active == (f in c.faults):
        return
    if active:
        c.faults.add(f)
    else:
        c.faults.discard(f)
    out.append(FaultChanged(c.number, f, active, detail))


# --------------------------------------------------------------------------- contactors
def command_contactors(c: ConnectorState, k1: bool, k2: bool, now: float, out: list[ControllerOutput]) -> None:
    """SetContactors (boards whose contactors the controller switches) and restart the feedback check."""
    c.cmd.c1, c.cmd.c2 = k1, k2
    out.append(SetContactors(c.number, k1, k2))
    update_mismatch(c, now)


def update_mismatch(c: ConnectorState, now: float) -> None:
    h = c.health
    if not h.fb_seen:
        return
    if h.fb_c1 != c.cmd.c1 or h.fb_c2 != c.cmd.c2:
        if h.mismatch_since is None:
            h.mismatch_since = now
    else:
        h.mismatch_since = None


def record_contactor_feedback(ctx: Context, ev: ContactorFeedback) -> ConnectorState:
    c = ctx.conn(ev.connector)
    h = c.health
    h.fb_seen = True
    h.fb_c1, h.fb_c2 = ev.c1_closed, ev.c2_closed
    return c


def on_contactor_feedback(ctx: Context, ev: ContactorFeedback, now: float, out: list[ControllerOutput]) -> None:
    update_mismatch(record_contactor_feedback(ctx, ev), now)


# --------------------------------------------------------------------------- lock
def command_lock(ctx: Context, c: ConnectorState, locked: bool, now: float, out: list[ControllerOutput]) -> None:
    lock = c.lock
    lock.cmd = locked
    lock.attempts = 1
    lock.retry_at = None
    if (lock.fb is LockState.LOCKED) == locked and lock.fb is not None:
        lock.check_at = None
    else:
        lock.check_at = now + ctx.settings.lock_feedback_timeout_s
    out.append(SetLock(c.number, locked))


def on_lock_feedback(ctx: Context, ev: LockFeedback, now: float, out: list[ControllerOutput]) -> None:
    c = ctx.conn(ev.connector)
    lock = c.lock
    lock.fb = ev.state
    if lock.cmd is not None and (ev.state is LockState.LOCKED) == lock.cmd:
        lock.check_at = None
        lock.retry_at = None
        lock.attempts = 0
    elif ctx.lock_enabled and c.cmd.c1 and ev.state is not LockState.LOCKED:
        set_fault(c, Fault.LOCK, True, out, "lock opened while energised")


# --------------------------------------------------------------------------- fault inputs
def on_rcd(ctx: Context, ev: RcdReading, now: float, out: list[ControllerOutput]) -> None:
    for c in ctx.targets(ev.connector):
        c.health.rcd_tripped = ev.tripped
        if ev.tripped:
            set_fault(c, Fault.RCD, True, out, "residual current detected")


def on_temperature(ctx: Context, ev: TemperatureReading, now: float, out: list[ControllerOutput]) -> None:
    limit = ctx.settings.max_temperature_c
    for c in ctx.targets(ev.connector):
        c.health.temperature = ev.celsius
        if ev.celsius > limit:
            set_fault(c, Fault.OVER_TEMPERATURE, True, out, f"{ev.celsius:.1f} C > {limit:.1f} C")
        elif ev.celsius < limit - 10.0 and Fault.OVER_TEMPERATURE in c.faults:
            set_fault(c, Fault.OVER_TEMPERATURE, False, out, f"{ev.celsius:.1f} C")


def on_meter_status(ctx: Context, ev: MeterStatus, now: float, out: list[ControllerOutput]) -> None:
    if ev.connector == 0:
        return  # the mains meter belongs to the energy manager
    set_fault(ctx.conn(ev.connector), Fault.METER, not ev.ok, out, ev.detail)


def on_board_fault(ctx: Context, ev: BoardFault, now: float, out: list[ControllerOutput]) -> None:
    for c in ctx.targets(ev.connector):
        codes = c.health.board_fault_codes
        if ev.active:
            codes.add(ev.code)
        else:
            codes.discard(ev.code)
        set_fault(c, Fault.BOARD, bool(codes), out, f"{ev.code}: {ev.detail}".strip())


def on_reset_fault(ctx: Context, inp: ResetFault, now: float, out: list[ControllerOutput]) -> None:
    f = inp.fault
    for c in ctx.targets(inp.connector):
        if f not in c.faults:
            continue
        h = c.health
        if f is Fault.RCD and h.rcd_tripped:
            continue
        if f is Fault.CONTACTOR_WELDED and (h.fb_c1 or h.fb_c2):
            continue
        if f in _SELF_CLEARING:
            continue  # these clear by themselves when the cause goes away (a valid pilot reading)
        if f is Fault.LOCK:
            lock = c.lock
            lock.cmd = None  # re-issue the lock command
            lock.attempts = 0
            lock.check_at = lock.retry_at = None
        if f in (Fault.CONTACTOR_WELDED, Fault.CONTACTOR_FAILED):
            h.mismatch_since = None
        set_fault(c, f, False, out, "reset")


# --------------------------------------------------------------------------- pilot
def pilot_debounce_due(ctx: Context, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
    """An invalid reading that lasted longer than ``pilot_fault_debounce_s``: Fault.PILOT."""
    side = c.ev
    since = side.invalid_since
    if since is None or Fault.PILOT in c.faults or now - since <= ctx.settings.pilot_fault_debounce_s:
        return
    side.six_v_since = None
    set_fault(c, Fault.PILOT, True, out,
              f"pilot reads {side.invalid_level} for more than {ctx.settings.pilot_fault_debounce_s:g} s")


# --------------------------------------------------------------------------- timers
#: the pilot debounce needs *more than* pilot_fault_debounce_s: tick 1 ms later
_DEBOUNCE_RESOLUTION_S = 0.001


def deadlines(ctx: Context, c: ConnectorState) -> tuple[float | None, ...]:
    since = c.health.mismatch_since
    mismatch = since + ctx.settings.contactor_feedback_timeout_s if since is not None else None
    invalid = c.ev.invalid_since
    pilot = (invalid + ctx.settings.pilot_fault_debounce_s + _DEBOUNCE_RESOLUTION_S
             if invalid is not None and Fault.PILOT not in c.faults else None)
    return (mismatch, c.lock.check_at, c.lock.retry_at, pilot)


def run_timers(ctx: Context, c: ConnectorState, now: float, out: list[ControllerOutput]) -> None:
    pilot_debounce_due(ctx, c, now, out)
    h = c.health
    lock = c.lock
    if h.mismatch_since is None and lock.check_at is None and lock.retry_at is None:
        return
    s = ctx.settings
    if h.mismatch_since is not None and now - h.mismatch_since >= s.contactor_feedback_timeout_s - EPS:
        welded = (h.fb_c1 and not c.cmd.c1) or (h.fb_c2 and not c.cmd.c2)
        if welded:
            set_fault(c, Fault.CONTACTOR_WELDED, True, out,
                      f"feedback closed while commanded open (c1={h.fb_c1}, c2={h.fb_c2})")
        else:
            set_fault(c, Fault.CONTACTOR_FAILED, True, out,
                      f"feedback open while commanded closed (c1={h.fb_c1}, c2={h.fb_c2})")
        h.mismatch_since = None
    if lock.check_at is not None and now >= lock.check_at - EPS:
        lock.check_at = None
        if (lock.fb is LockState.LOCKED) != bool(lock.cmd):
            if lock.attempts >= s.lock_retries:
                set_fault(c, Fault.LOCK, True, out,
                          f"lock did not reach {'locked' if lock.cmd else 'unlocked'} "
                          f"after {lock.attempts} attempts")
            else:
                lock.retry_at = now - s.lock_feedback_timeout_s + s.lock_retry_interval_s
    if lock.retry_at is not None and now >= lock.retry_at - EPS:
        lock.retry_at = None
        if lock.cmd is not None and Fault.LOCK not in c.faults:
            lock.attempts += 1
            lock.check_at = now + s.lock_feedback_timeout_s
            out.append(SetLock(c.number, lock.cmd))
