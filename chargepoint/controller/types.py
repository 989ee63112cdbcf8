"""Public value types of the controller: settings, inputs beyond the HAL events, outputs
beyond the HAL commands, faults and the per-connector snapshot.

The controller is pure: ``Controller.handle(input, now) -> list[output]`` with ``now`` in
monotonic seconds passed in by the caller.  Everything in this module is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hal.types import HalCommand, HalEvent, MeterReading


class IecState(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"


class SubState(StrEnum):
    """Finer state: B1 = connected, no PWM; B2 = PWM offered; C1 = PWM withdrawn while the EV still
    draws (contactors still closed, <= 6 s); C2 = charging."""

    A = "A"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"
    D = "D"
    E = "E"
    F = "F"


class Fault(StrEnum):
    """Faults.  Hard faults force the safe state at once (contactors open, no PWM, substate F or E).
    The :data:`POWER_UNAVAILABLE` ones stop gracefully as in the firmware: PWM withdrawn at once,
    the contactors open when the EV stops drawing (C -> C1 -> B1, at most ``c1_timeout_s``)."""

    RCD = "rcd"  # residual current tripped -> OCPP GroundFailure
    OVER_TEMPERATURE = "overtemp"  # -> HighTemperature
    DIODE = "diode"  # EV diode check failed -> EVCommunicationError
    CONTACTOR_WELDED = "weld"  # feedback closed while commanded open -> PowerSwitchFailure
    CONTACTOR_FAILED = "contactor"  # feedback open while commanded closed -> PowerSwitchFailure
    LOCK = "lock"  # lock failed to reach its position -> ConnectorLockFailure
    METER = "meter"  # meter communication lost -> PowerMeterFailure
    PILOT = "pilot"  # pilot shorted / invalid (state E) -> EVCommunicationError
    BOARD = "board"  # board link lost / power panic / internal -> InternalError / OtherError


#: Faults that make power *unavailable* rather than unsafe (firmware TEMP_HIGH, EV_NOCOMM: its
#: ``setStatePowerUnavailable``, reference §2.4/§3.4): C -> C1 (PWM withdrawn, contactors still
#: closed until the EV stops drawing, <= ``c1_timeout_s``) -> B1 (contactors open); B2 -> B1.
#: Every other fault is hard: contactors open in the same step (RCD, weld, pilot, diode, ...).
POWER_UNAVAILABLE: frozenset[Fault] = frozenset({Fault.OVER_TEMPERATURE, Fault.METER})


def hard_faults(faults: set[Fault] | frozenset[Fault]) -> bool:
    """Whether ``faults`` holds a fault that forces the safe state at once."""
    return not faults <= POWER_UNAVAILABLE


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """Settings of the controller; the same for every connector unless a per-connector override exists."""

    connectors: int = 1
    max_current_a: float = 16.0  # configured MaxCurrent (6..80)
    min_current_a: float = 6.0  # MinCurrent (6..16): below it energy stops via C1/B1
    phases: int = 3
    fixed_cable: bool = False  # True: tethered cable, no PP reading, no lock
    has_lock: bool = True
    unlock_on_session_end: bool = True  # unlock when authorisation ends while plugged
    unlock_on_unplug: bool = True
    ventilation_allowed: bool = False  # state D may be energised
    max_temperature_c: float = 65.0  # over-temperature threshold; clears below max - 10
    c1_timeout_s: float = 6.0  # C1 -> B1 forced opening
    b_to_c_debounce_s: float = 0.5  # > 500 ms of 6 V before B -> C
    #: a shorted / invalid pilot reading (0 V, NOK) becomes Fault.PILOT only after it lasted longer
    #: than this (the firmware's > 50 ticks of 10 ms); a shorter glitch is ignored
    pilot_fault_debounce_s: float = 0.5
    #: ACTSTART: an EV still at 9 V ``activation_after_s`` after PWM appeared in B gets the pilot at
    #: -12 V for ``activation_pulse_s`` (wakes a sleeping EV), once per B episode
    activation_mode: bool = True
    activation_after_s: float = 30.0
    activation_pulse_s: float = 3.0
    #: PWM in B before the EV requests power: MinCurrent, or the cable's rating when it is below
    #: MaxCurrent (the firmware's ChargeCurrent at A -> B), never above the target; the full target
    #: once in C.  False: the full target already in B.
    firmware_b_current: bool = True
    charge_delay_after_c1_s: float = 15.0
    charge_delay_after_b1_s: float = 3.0
    pilot_replug_s: float = 5.0  # pilot disconnected on entering B1 from another state
    contactor_feedback_timeout_s: float = 0.5  # feedback must match the command within this time
    lock_feedback_timeout_s: float = 0.8  # lock pulse 600 ms, feedback checked at ~800 ms
    lock_retries: int = 3  # lock attempts (every 5 s) before Fault.LOCK
    lock_retry_interval_s: float = 5.0
    #: IEC 61851-1 PP table (680 ohm -> 20 A).  ``firmware_pp_table`` uses SmartEVSE's 680 -> 16 A.
    firmware_pp_table: bool = False


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Authorize:
    """Authorisation for a connector granted (True) or revoked (False)."""

    connector: int
    granted: bool


@dataclass(frozen=True, slots=True)
class SetLimit:
    """Set (or clear with ``amps=None``) a named external limit in A per phase.

    ``connector`` 0 applies the limit to every connector.  The names in use are
    :class:`chargepoint.controller.limits.Limit` values ("ocpp", "mains", "circuit", "sum_mains",
    "solar", "override"); any other non-empty name is accepted (an integration may add its own).
    A limit below MinCurrent pauses energy.
    """

    connector: int
    name: str
    amps: float | None


@dataclass(frozen=True, slots=True)
class SetAvailability:
    """Operative (True) or inoperative (False): inoperative = state F pilot, no charging."""

    connector: int
    available: bool


@dataclass(frozen=True, slots=True)
class SetPhases:
    """Request 1- or 3-phase charging (C2).  Applied only with contactors open (C->C1->B1->C)."""

    connector: int
    phases: int


@dataclass(frozen=True, slots=True)
class ResetFault:
    """Operator reset of a latched fault (RCD, weld, lock, diode); ignored while the cause persists."""

    connector: int
    fault: Fault


@dataclass(frozen=True, slots=True)
class RequestUnlock:
    """Operator/CSMS unlock (OCPP UnlockConnector): end authorisation, open contactors, unlock.
    The result is seen in the snapshot's ``locked`` / a LOCK fault."""

    connector: int


@dataclass(frozen=True, slots=True)
class HoldLock:
    """Keep the cable lock locked although no session is authorised (OCPP errata 3.17: a transaction
    stopped DeAuthorized keeps the cable locked until its owner's idTag is presented again).
    ``hold=True`` locks (or keeps locked) the connector's lock, also after the EV unplugs (the cable
    stays in the socket); ``hold=False`` releases the hold, after which the lock follows the session
    as usual.  RequestUnlock (operator unlock) also releases it.  The hold only ever adds locking: it
    never closes contactors or authorises charging.  No effect without a lock (fixed cable, board
    that owns the lock)."""

    connector: int
    hold: bool


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed; the runtime sends one at ``Controller.next_deadline()``."""


ControllerInput = (
    HalEvent | Authorize | SetLimit | SetAvailability | SetPhases | ResetFault | RequestUnlock | HoldLock | Tick
)


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The connector's (sub)state changed.  ``snapshot`` is the state after the change."""

    connector: int
    old: SubState
    new: SubState
    snapshot: ConnectorSnapshot


@dataclass(frozen=True, slots=True)
class FaultChanged:
    connector: int
    fault: Fault
    active: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OfferedCurrentChanged:
    connector: int
    offered_a: float
    binding_limit: str


ControllerOutput = HalCommand | StateChanged | FaultChanged | OfferedCurrentChanged


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True, slots=True)
class ConnectorSnapshot:
    connector: int
    iec_state: IecState
    substate: SubState
    ev_connected: bool  # pilot 9/6/3 V (B, C, D)
    ev_requesting: bool  # pilot 6/3 V
    authorized: bool
    available: bool
    offered_current_a: float  # current encoded in the PWM now; 0 when no PWM
    target_current_a: float  # what would be offered given all limits (0 when paused)
    binding_limit: str  # a Limit ("max", "cable", "hardware", "ocpp", ...) or another external limit's name
    pwm_duty_permille: int  # 1000 = constant +12 V
    contactor_c1: bool  # commanded
    contactor_c2: bool
    phases: int  # phases in use when charging (1 or 3)
    locked: bool  # lock feedback says locked
    cable_ampacity_a: float | None
    faults: frozenset[Fault] = frozenset()
    limits: dict[str, float] = field(default_factory=dict)
    temperature_c: float | None = None
    charge_delay_s: float = 0.0
    meter: MeterReading | None = None
