"""Mutable per-connector state of the controller, grouped by concern (private to the controller package).

``sub`` (the substate) and ``faults`` (the active hard faults) are *the* state: the commanded
outputs are derived from them.  The groups hold what the state machine, the supervision and the
outputs keep between steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chargepoint.controller.limits import Limit
from chargepoint.controller.types import Fault, SubState
from hal.types import LockState, MeterReading, PilotLevel, PilotMode


@dataclass(slots=True)
class EvSide:
    """What the EV and its cable show: pilot, diode, proximity."""

    plugged: bool = False  # an EV has been seen (9/6/3 V) since the last 12 V
    pilot: PilotLevel | None = None  # last valid classification; None = unknown (pilot off / never read)
    six_v_since: float | None = None  # start of the current continuous 6 V (or 3 V) episode
    invalid_since: float | None = None  # start of a shorted / invalid reading not yet a fault (debounce)
    invalid_level: PilotLevel | None = None  # that reading
    deferred: PilotLevel | None = None  # the latest reading during the activation pulse (applied after it)
    diode_seen: bool = False  # EV diode seen in this B episode
    pp_received: bool = False
    cable_a: float | None = None  # cable ampacity (PP), the fixed cable's rating, or None


@dataclass(slots=True)
class Session:
    """Authorisation and availability, as told by the OCPP layer / the operator."""

    authorized: bool = False
    available: bool = True
    unlock_requested: bool = False


@dataclass(slots=True)
class Offer:
    """The named external limits of this connector and the current they leave to offer."""

    limits: dict[str, float] = field(default_factory=dict)
    target_a: float = 0.0
    binding: str = Limit.MAX  # a Limit, or the name of an external limit
    reported: tuple[float, str] | None = None  # last OfferedCurrentChanged (offered A, binding)
    #: B2 entered from A/B1/D/E/F (not from C): the EV has not requested power in this B episode yet
    before_c: bool = False


@dataclass(slots=True)
class Phases:
    requested: int = 3  # SetPhases
    active: int = 3  # in use (changes only with the contactors open)
    c2_plan: bool = True  # C2 closes on the next C entry


@dataclass(slots=True)
class Timers:
    c1_since: float | None = None  # C1 entered (PWM withdrawn, contactors still closed)
    charge_delay_until: float = 0.0  # ChargeDelay: no PWM before this time
    replug_until: float | None = None  # pilot disconnected ("virtual re-plug") until this time
    activation_at: float | None = None  # ACTSTART armed: the -12 V pulse if the EV is still at 9 V then
    activation_until: float | None = None  # the -12 V activation pulse runs until this time


@dataclass(slots=True)
class Commanded:
    """The outputs last commanded to the board."""

    pilot_mode: PilotMode | None = None
    duty: int = 1000
    pwm_a: float = 0.0
    c1: bool = False
    c2: bool = False
    auth: bool | None = None  # the access bit (SetAuthorization)
    c2_changed_under_c1: bool = False  # invariant witness


@dataclass(slots=True)
class Health:
    """Inputs of the fault supervision and the contactor feedback check."""

    rcd_tripped: bool = False
    temperature: float | None = None
    board_fault_codes: set[str] = field(default_factory=set)
    meter: MeterReading | None = None
    fb_seen: bool = False  # any ContactorFeedback received
    fb_c1: bool = False
    fb_c2: bool = False
    mismatch_since: float | None = None  # feedback differs from the command since


@dataclass(slots=True)
class Lock:
    """The cable lock: what the session wants, what was commanded, its feedback and the retries."""

    want: bool = False  # locked for the session (authorised on a plugged EV)
    hold: bool = False  # HoldLock: stay locked without a session (errata 3.17)
    cmd: bool | None = None  # last SetLock; None = not commanded (re-issued)
    fb: LockState | None = None
    attempts: int = 0
    check_at: float | None = None  # feedback must match the command at this time
    retry_at: float | None = None


@dataclass(slots=True)
class Follower:
    """Boards that own the state machine: their last report and our pending pause request."""

    board_state: str | None = None
    pause_requested: str | None = None  # a BoardState value asked for with RequestBoardState


@dataclass(slots=True)
class ConnectorState:
    number: int
    sub: SubState = SubState.A
    faults: set[Fault] = field(default_factory=set)
    ev: EvSide = field(default_factory=EvSide)
    session: Session = field(default_factory=Session)
    offer: Offer = field(default_factory=Offer)
    phases: Phases = field(default_factory=Phases)
    timers: Timers = field(default_factory=Timers)
    cmd: Commanded = field(default_factory=Commanded)
    health: Health = field(default_factory=Health)
    lock: Lock = field(default_factory=Lock)
    follower: Follower = field(default_factory=Follower)
    #: (old, new) substates changed in this step, reported after the HAL commands
    pending_changes: list[tuple[SubState, SubState]] = field(default_factory=list)
