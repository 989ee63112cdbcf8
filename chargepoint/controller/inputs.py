"""Inputs about the EV and the session: pilot, diode, proximity, meter, authorisation, limits,
availability, phases, unlock and lock hold.  Each handler only updates the connector's fields; the
state machine and the outputs follow in the settle step."""

from __future__ import annotations

from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import Context
from chargepoint.controller.supervision import set_fault
from chargepoint.controller.types import (
    Authorize,
    ControllerOutput,
    Fault,
    HoldLock,
    RequestUnlock,
    SetAvailability,
    SetLimit,
    SetPhases,
    Tick,
)
from chargepoint.iec61851.proximity import NO_RESISTOR_A, cable_ampacity
from hal.types import (
    DiodeReading,
    MeterReading,
    PilotLevel,
    PilotMode,
    PilotReading,
    ProximityReading,
    RfidPresented,
)

_OFF = PilotMode.OFF
_V12, _V9 = PilotLevel.V12, PilotLevel.V9
_INVALID = (PilotLevel.SHORT, PilotLevel.NOK)
_CLEARED_ON_UNPLUG = (Fault.DIODE, Fault.PILOT)


def on_pilot(ctx: Context, ev: PilotReading, now: float, out: list[ControllerOutput]) -> None:
    c = ctx.conn(ev.connector)
    side = c.ev
    if c.cmd.pilot_mode is _OFF:
        side.pilot = None  # pilot disconnected on purpose: the reading says nothing about the EV
        side.six_v_since = None
        side.invalid_since = side.invalid_level = None
        return
    if c.timers.activation_until is not None:
        side.deferred = ev.level  # no pilot check during the -12 V activation pulse (firmware ACTSTART)
        return
    apply_pilot(ctx, c, ev.level, now, out)


def apply_pilot(ctx: Context, c: ConnectorState, lvl: PilotLevel, now: float, out: list[ControllerOutput]) -> None:
    """Evaluate one pilot reading.  A shorted / invalid reading is debounced: it only starts the
    ``pilot_fault_debounce_s`` timer (:func:`pilot_debounce_due`); the last valid level stays."""
    side = c.ev
    if lvl in _INVALID:
        if side.invalid_since is None:
            side.invalid_since = now
        side.invalid_level = lvl
        return
    side.invalid_since = side.invalid_level = None
    if Fault.PILOT in c.faults:
        set_fault(c, Fault.PILOT, False, out)
    side.pilot = lvl
    if lvl is _V12:
        side.six_v_since = None
        if side.plugged:
            unplugged(ctx, c, out)
        return
    if not side.plugged:
        side.plugged = True
        if ctx.rate_unread_cable and not side.pp_received:
            side.cable_a = NO_RESISTOR_A  # no PP reading: the most conservative rating
    elif lvl is _V9:
        side.six_v_since = None
    elif side.six_v_since is None:
        side.six_v_since = now


def unplugged(ctx: Context, c: ConnectorState, out: list[ControllerOutput]) -> None:
    """The EV left: end the plug-in session."""
    side = c.ev
    side.plugged = False
    c.session.authorized = False
    c.session.unlock_requested = False
    side.diode_seen = False
    if not ctx.settings.fixed_cable:
        side.pp_received = False
        side.cable_a = None
    for f in _CLEARED_ON_UNPLUG:
        if f in c.faults:
            set_fault(c, f, False, out, "EV unplugged")
    if ctx.settings.unlock_on_unplug:
        c.lock.want = False


def on_diode(ctx: Context, ev: DiodeReading, now: float, out: list[ControllerOutput]) -> None:
    c = ctx.conn(ev.connector)
    if ev.present:
        c.ev.diode_seen = True


def on_proximity(ctx: Context, ev: ProximityReading, now: float, out: list[ControllerOutput]) -> None:
    c = ctx.conn(ev.connector)
    if ctx.settings.fixed_cable:
        return
    c.ev.pp_received = True
    c.ev.cable_a = cable_ampacity(ev.ohms, firmware_table=ctx.settings.firmware_pp_table)


def on_meter(ctx: Context, ev: MeterReading, now: float, out: list[ControllerOutput]) -> None:
    if ev.connector == 0:
        return  # the mains meter belongs to the energy manager
    ctx.conn(ev.connector).health.meter = ev


def on_rfid(ctx: Context, ev: RfidPresented, now: float, out: list[ControllerOutput]) -> None:
    return  # authorisation is decided by the OCPP layer, which sends Authorize


def on_authorize(ctx: Context, inp: Authorize, now: float, out: list[ControllerOutput]) -> None:
    for c in ctx.targets(inp.connector):
        was = c.session.authorized
        c.session.authorized = inp.granted
        if inp.granted:
            c.session.unlock_requested = False
        elif was and ctx.settings.unlock_on_session_end:
            c.lock.want = False


def on_set_limit(ctx: Context, inp: SetLimit, now: float, out: list[ControllerOutput]) -> None:
    limits = ctx.global_limits if inp.connector == 0 else ctx.conn(inp.connector).offer.limits
    if inp.amps is None:
        limits.pop(inp.name, None)
    else:
        limits[inp.name] = float(inp.amps)


def on_availability(ctx: Context, inp: SetAvailability, now: float, out: list[ControllerOutput]) -> None:
    for c in ctx.targets(inp.connector):
        c.session.available = inp.available


def on_phases(ctx: Context, inp: SetPhases, now: float, out: list[ControllerOutput]) -> None:
    for c in ctx.targets(inp.connector):
        ph = c.phases
        ph.requested = min(inp.phases, ctx.max_phases)
        if not c.cmd.c1:  # contactors open: the plan for the next C entry changes right away
            ph.active = ph.requested
            ph.c2_plan = ctx.c2_for(ph.active)


def on_unlock(ctx: Context, inp: RequestUnlock, now: float, out: list[ControllerOutput]) -> None:
    for c in ctx.targets(inp.connector):
        c.session.authorized = False
        c.session.unlock_requested = True
        c.lock.want = False
        c.lock.hold = False


def on_hold_lock(ctx: Context, inp: HoldLock, now: float, out: list[ControllerOutput]) -> None:
    for c in ctx.targets(inp.connector):
        c.lock.hold = bool(inp.hold)


def on_tick(ctx: Context, inp: Tick, now: float, out: list[ControllerOutput]) -> None:
    return  # the timers ran before the input
