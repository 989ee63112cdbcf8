"""Normal-mode transitions: the controller runs the IEC 61851-1 state machine.

:data:`TABLE` gives, per substate, rows ``(pilot readings, guard, next)`` tried in order: the first
row for the current pilot reading whose guard holds gives the next substate (``next`` is a
substate, :data:`STAY`, or a function of the connector); when none holds the connector stays.
Before the table, in every substate: a hard fault -> F (E for a pilot fault); a power-unavailable
fault (over-temperature, EV meter lost: :data:`~chargepoint.controller.types.POWER_UNAVAILABLE`)
goes through the table like a pause (C2 -> C1 -> B1, B2 -> B1).  The settle step applies rows until nothing changes.
:func:`enter` applies what entering a substate does (timers, diode, phases) -- also for the
substates a board that owns the state machine reports (``adopt=True``).

In words:

* A --(9/6/3 V)--> B1 (not ready: not authorised, paused, ChargeDelay) or B2 (PWM at the offered
  current).
* B2 --(6 V continuously for > ``b_to_c_debounce_s``, diode seen in this B episode, authorised,
  available, no fault, ChargeDelay over, lock LOCKED)--> C2: contactors close (C2 only for 3
  phases).  A 9 V reading restarts the debounce.
* C2 --(not authorised / unavailable / limit below MinCurrent / phase switch pending / lock not
  locked / a power-unavailable fault)--> C1: PWM withdrawn, contactors still closed, ChargeDelay 15 s.  C1 --(EV 9 V or
  ``c1_timeout_s``)--> B1: contactors open, ChargeDelay >= 3 s, pilot disconnected for
  ``pilot_replug_s`` ("virtual re-plug") when the pause was not caused by de-authorisation /
  unavailability.
* C2 --(9 V)--> B2/B1 and --(12 V)--> A: contactors open in the same step (the outputs follow the
  state); an operator unlock opens at once (C2 -> B1, not through C1).
* Any hard fault: substate F (E for a pilot fault) in the same step.  Over-temperature and EV-meter
  loss only make power unavailable: C2 -> C1 -> B1 as above (the firmware's
  ``setStatePowerUnavailable``), and the connector waits in B1 until the fault clears.
* B2 entry (from A/B1/D/E/F, not from C) arms the activation mode (ACTSTART): an EV still at 9 V
  ``activation_after_s`` later gets the pilot at -12 V for ``activation_pulse_s`` (substate B2,
  pilot readings not evaluated meanwhile), then PWM again; once per B episode.
* 3 V (state D) is energised only with ``ventilation_allowed``; otherwise substate D.
* E/F recover through B1 and its ChargeDelay; unavailable -> F.
"""

from __future__ import annotations

from collections.abc import Callable

from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import CONNECTED, EPS, REQUESTING, Context
from chargepoint.controller.types import Fault, SubState, hard_faults
from hal.types import LockState, PilotLevel

_A, _B1, _B2, _C1, _C2 = SubState.A, SubState.B1, SubState.B2, SubState.C1, SubState.C2
_D, _E, _F = SubState.D, SubState.E, SubState.F
_LOCKED = LockState.LOCKED

Guard = Callable[[Context, ConnectorState, float], bool]
Next = Callable[[Context, ConnectorState, float], SubState]


def _stay(ctx: Context, c: ConnectorState, now: float) -> SubState:
    return c.sub


#: ``next`` of a row that keeps the current substate
STAY: Next = _stay


# --------------------------------------------------------------------------- conditions
def may_offer(ctx: Context, c: ConnectorState, now: float) -> bool:
    """PWM may be offered: authorised, available, fault-free, a current >= MinCurrent, ChargeDelay
    over, the pilot connected."""
    s = c.session
    return (
        s.authorized
        and s.available
        and not c.faults
        and c.offer.target_a >= ctx.min_current
        and now >= c.timers.charge_delay_until - EPS
        and c.timers.replug_until is None
    )


def lock_ok(ctx: Context, c: ConnectorState) -> bool:
    return not ctx.lock_enabled or (c.lock.cmd is True and c.lock.fb is _LOCKED)


def _always(ctx: Context, c: ConnectorState, now: float) -> bool:
    return True


def _a_or_f(ctx: Context, c: ConnectorState, now: float) -> SubState:
    return _A if c.session.available else _F


def _b2_or_b1(ctx: Context, c: ConnectorState, now: float) -> SubState:
    return _B2 if may_offer(ctx, c, now) else _B1


def _no_ventilation(ctx: Context, c: ConnectorState, now: float) -> bool:
    return not ctx.settings.ventilation_allowed


def _unlock_requested(ctx: Context, c: ConnectorState, now: float) -> bool:
    return c.session.unlock_requested


def _must_pause(ctx: Context, c: ConnectorState, now: float) -> bool:
    """Charging may not go on: not authorised / unavailable / below MinCurrent / a phase switch
    pending / the lock not locked."""
    s = c.session
    ph = c.phases
    return not (
        s.authorized
        and s.available
        and not c.faults
        and c.offer.target_a >= ctx.min_current
        and ph.requested == ph.active
        and (not ctx.lock_enabled or (c.lock.cmd is True and c.lock.fb is _LOCKED))
    )


def _c1_timed_out(ctx: Context, c: ConnectorState, now: float) -> bool:
    since = c.timers.c1_since
    return since is not None and now - since >= ctx.settings.c1_timeout_s - EPS


def _unavailable(ctx: Context, c: ConnectorState, now: float) -> bool:
    return not c.session.available


def _not_ready(ctx: Context, c: ConnectorState, now: float) -> bool:
    return not may_offer(ctx, c, now)


def _ready_for_c(ctx: Context, c: ConnectorState, now: float) -> bool:
    """> ``b_to_c_debounce_s`` of 6/3 V, the EV diode seen in this B episode, the lock locked."""
    ev = c.ev
    return (
        ev.six_v_since is not None
        and now - ev.six_v_since > ctx.settings.b_to_c_debounce_s
        and ev.diode_seen
        and ev.invalid_since is None
        and c.timers.activation_until is None
        and lock_ok(ctx, c)
    )


# --------------------------------------------------------------------------- the table
#: pilot readings a row applies to (``ANY``: every reading; ``None`` = no valid reading, e.g.
#: while the pilot is off for a re-plug).  An invalid reading (0 V, NOK) is a pilot fault.
Pilot = PilotLevel | None
ANY: frozenset[Pilot] = frozenset({None, PilotLevel.V12, *CONNECTED})
_NO_READING: frozenset[Pilot] = frozenset({None})
_AT_12V: frozenset[Pilot] = frozenset({PilotLevel.V12})
_AT_9V: frozenset[Pilot] = frozenset({PilotLevel.V9})
_AT_3V: frozenset[Pilot] = frozenset({PilotLevel.V3})
_REQUESTING: frozenset[Pilot] = frozenset(REQUESTING)
_NOT_REQUESTING: frozenset[Pilot] = frozenset({None, PilotLevel.V9})

Row = tuple[frozenset[Pilot], Guard, SubState | Next]

#: A, B1, B2, D, E, F (not energised) start with these rows
_NOT_ENERGISED: tuple[Row, ...] = (
    (_NO_READING, _always, STAY),
    (_AT_12V, _always, _a_or_f),
    (ANY, _unavailable, _F),
)
#: A, B1, D: wait for everything that allows PWM, then offer it (B2)
_IDLE: tuple[Row, ...] = (
    *_NOT_ENERGISED,
    (_AT_3V, _no_ventilation, _D),
    (ANY, _not_ready, _B1),
    (ANY, _always, _B2),
)

TABLE: dict[SubState, tuple[Row, ...]] = {
    _A: _IDLE,
    _B1: _IDLE,
    _D: _IDLE,
    _E: (*_NOT_ENERGISED, (ANY, _always, _B1)),  # recovering: through B1 and its ChargeDelay
    _F: (*_NOT_ENERGISED, (ANY, _always, _B1)),
    _B2: (  # PWM offered: close after the debounce
        *_NOT_ENERGISED,
        (_AT_3V, _no_ventilation, _D),
        (ANY, _not_ready, _B1),
        (_REQUESTING, _ready_for_c, _C2),
    ),
    _C2: (  # charging
        (_NO_READING, _always, _B1),
        (_AT_12V, _always, _a_or_f),
        (_AT_9V, _always, _b2_or_b1),
        (_AT_3V, _no_ventilation, _D),
        (ANY, _unlock_requested, _B1),  # operator unlock: open now, not through C1
        (ANY, _must_pause, _C1),
    ),
    _C1: (  # PWM withdrawn, contactors closed: leave when the EV stops drawing, on unlock, or on the timeout
        (_AT_12V, _always, _A),
        (_NOT_REQUESTING, _always, _B1),
        (ANY, _unlock_requested, _B1),
        (ANY, _c1_timed_out, _B1),
    ),
}


def _rows_for(rows: tuple[Row, ...], pilot: Pilot) -> tuple[tuple[Guard, SubState | Next], ...]:
    """The rows of one substate that apply to one pilot reading, up to the first unconditional one."""
    out: list[tuple[Guard, SubState | Next]] = []
    for levels, guard, nxt in rows:
        if pilot in levels:
            out.append((guard, nxt))
            if guard is _always:
                break
    return tuple(out)


#: TABLE compiled per (substate, pilot reading)
_RULES = {sub: {pilot: _rows_for(rows, pilot) for pilot in ANY} for sub, rows in TABLE.items()}


def next_state(ctx: Context, c: ConnectorState, now: float) -> SubState:
    faults = c.faults
    if faults and hard_faults(faults):  # any hard fault, in every substate: the safe state
        return _E if Fault.PILOT in faults else _F
    for guard, nxt in _RULES[c.sub][c.ev.pilot]:
        if guard(ctx, c, now):
            return nxt if isinstance(nxt, SubState) else nxt(ctx, c, now)
    return c.sub


# --------------------------------------------------------------------------- entering a substate
def enter(ctx: Context, c: ConnectorState, new: SubState, now: float, adopt: bool = False) -> None:
    """Move ``c`` to ``new`` and apply what entering it does.  ``adopt``: the board reported the
    change (it runs the ChargeDelay, the diode check and the re-plug itself)."""
    old = c.sub
    s = ctx.settings
    t = c.timers
    ev = c.ev
    c.sub = new
    if new is _A:
        ev.diode_seen = False
        t.charge_delay_until = 0.0
        t.c1_since = None
        t.replug_until = None
        ev.six_v_since = None
    if new is _B1 and not adopt:
        if old in (_C1, _C2, _B2, _D, _E, _F):
            if t.charge_delay_until < now + s.charge_delay_after_b1_s:
                t.charge_delay_until = max(t.charge_delay_until, now + s.charge_delay_after_b1_s)
            if old in (_C1, _C2, _B2) and c.session.authorized and c.session.available and s.pilot_replug_s > 0:
                t.replug_until = now + s.pilot_replug_s
                ev.pilot = None
                ev.six_v_since = None
        if old in (_C1, _C2):
            ev.diode_seen = False
    elif new is _B2 and not adopt:
        ev.diode_seen = False
        ev.six_v_since = now if ev.pilot in REQUESTING else None
        c.offer.before_c = old not in (_C1, _C2)
        if s.activation_mode and c.offer.before_c:
            t.activation_at = now + s.activation_after_s
    elif new is _C2:
        c.offer.before_c = False
        c.phases.active = c.phases.requested
        c.phases.c2_plan = ctx.c2_for(c.phases.active)
        t.c1_since = None
    elif new is _C1:
        t.c1_since = now
        t.charge_delay_until = now + s.charge_delay_after_c1_s
    if old is _C1 and new is not _C1:
        t.c1_since = None
    if old is _B2 and new is not _B2:
        t.activation_at = t.activation_until = None
    c.pending_changes.append((old, new))
