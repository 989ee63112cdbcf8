"""Value types of the hardware abstraction layer.

Events flow board -> controller, commands flow controller -> board.  Every type
is an immutable dataclass so that a step of the controller can be logged,
recorded and replayed exactly.  Connector numbers start at 1; 0 never names a
physical connector here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PilotLevel(StrEnum):
    """Classification of the control-pilot high level (IEC 61851-1, table A.4)."""

    V12 = "12V"  # state A: no vehicle
    V9 = "9V"  # state B: vehicle connected, not requesting
    V6 = "6V"  # state C: vehicle requests energy
    V3 = "3V"  # state D: vehicle requests energy with ventilation
    SHORT = "0V"  # state E: pilot shorted to PE / no pilot
    NOK = "NOK"  # anything else: an invalid reading (treated as state E by the controller)


class PilotMode(StrEnum):
    """What the EVSE drives on the control pilot."""

    PWM = "pwm"  # +-12 V square wave at the given duty (B2, C2)
    CONSTANT = "constant"  # +12 V DC, no PWM (A, B1, C1)
    OFF = "off"  # pilot disconnected, 0 V (virtual re-plug)
    STATE_F = "state_f"  # -12 V DC: EVSE not available / fault
    #: -12 V DC (0 % duty) for a few seconds in state B, then PWM again: the activation pulse that
    #: wakes a sleeping EV (SmartEVSE ACTSTART).  The same level as STATE_F, but a short pulse, not
    #: "EVSE unavailable": backends must not treat it as a pause or a fault.
    ACTIVATE = "activate"


class LockState(StrEnum):
    LOCKED = "locked"
    UNLOCKED = "unlocked"


class BoardState(StrEnum):
    """IEC 61851 states of a board that runs its own state machine (SmartEVSE v4 CH32): what it
    reports in ``BoardStateReport`` and what ``RequestBoardState`` asks it for.  "B" and "C" are the
    plain states as the board names them; "B1"/"B2"/"C1"/"C2" the finer states (B1 = EV present, no
    PWM; C1 = PWM withdrawn while the contactors are still closed)."""

    A = "A"
    B = "B"
    B1 = "B1"
    B2 = "B2"
    C = "C"
    C1 = "C1"
    C2 = "C2"
    D = "D"
    E = "E"
    F = "F"


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class PilotReading:
    """The pilot classification changed (sent on change, not periodically)."""

    connector: int
    level: PilotLevel


@dataclass(frozen=True, slots=True)
class DiodeReading:
    """Result of sampling the negative half of the PWM: True when -12 V was seen (EV diode present)."""

    connector: int
    present: bool


@dataclass(frozen=True, slots=True)
class ProximityReading:
    """Proximity-pilot resistor in ohms (None: no resistor / open circuit)."""

    connector: int
    ohms: float | None


@dataclass(frozen=True, slots=True)
class ContactorFeedback:
    """Auxiliary-contact feedback of contactors C1 (L1 or all phases) and C2 (L2+L3)."""

    connector: int
    c1_closed: bool
    c2_closed: bool


@dataclass(frozen=True, slots=True)
class LockFeedback:
    connector: int
    state: LockState


@dataclass(frozen=True, slots=True)
class RcdReading:
    """Residual-current device: tripped True means a DC/AC fault current was detected."""

    connector: int
    tripped: bool


@dataclass(frozen=True, slots=True)
class TemperatureReading:
    connector: int
    celsius: float


@dataclass(frozen=True, slots=True)
class MeterReading:
    """A reading of a power meter.  Currents are signed (import positive).

    ``connector`` 0 is the mains (grid connection) meter; 1..n the EV meter of that connector.
    """

    connector: int
    voltage_v: tuple[float, float, float]
    current_a: tuple[float, float, float]
    power_w: float
    energy_import_wh: float
    energy_export_wh: float = 0.0
    soc_percent: float | None = None


@dataclass(frozen=True, slots=True)
class MeterStatus:
    """The meter link is up (ok=True) or lost (ok=False) -- raised by the backend's comm-loss rule."""

    connector: int
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BoardFault:
    """A board-level fault: link lost, power panic, internal error.  connector 0 = every connector."""

    connector: int
    code: str
    active: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BoardStateReport:
    """Boards that run their own IEC 61851 state machine (SmartEVSE v4 CH32) report it here.

    ``state`` is a :class:`BoardState` value ("A", "B", "B1", "C", "C1", "D", "E", "F"; a plain
    string with one of these values is accepted too).  The controller treats it as authoritative
    when the capabilities say ``owns_state_machine``.
    """

    connector: int
    state: str


@dataclass(frozen=True, slots=True)
class RfidPresented:
    """A card was presented at the reader; connector 0 when the reader is not per connector."""

    connector: int
    id_tag: str


@dataclass(frozen=True, slots=True)
class GridRelayReading:
    """The grid operator's relay input (German EnWG §14a): ``limiting`` True while the grid operator
    asks to limit the charger to GridRelayMaxSumMains.  The backend maps its contact polarity (the
    SmartEVSE firmware limits while the "Grid relay" switch input is open)."""

    limiting: bool


HalEvent = (
    PilotReading
    | DiodeReading
    | ProximityReading
    | ContactorFeedback
    | LockFeedback
    | RcdReading
    | TemperatureReading
    | MeterReading
    | MeterStatus
    | BoardFault
    | BoardStateReport
    | RfidPresented
    | GridRelayReading
)


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class SetPilot:
    """Drive the control pilot.  For PWM, ``duty_permille`` is the duty and ``current_a`` the
    current it encodes (boards that take a current instead of a duty use the latter)."""

    connector: int
    mode: PilotMode
    duty_permille: int = 1000
    current_a: float = 0.0


@dataclass(frozen=True, slots=True)
class SetContactors:
    connector: int
    c1: bool
    c2: bool


@dataclass(frozen=True, slots=True)
class SetLock:
    connector: int
    locked: bool


@dataclass(frozen=True, slots=True)
class SetAuthorization:
    """Charging permitted on this connector (the access bit).  Boards whose state machine the
    controller runs ignore it; boards that own their state machine (SmartEVSE v4) must not start
    energy without it."""

    connector: int
    allowed: bool


@dataclass(frozen=True, slots=True)
class RequestBoardState:
    """Ask a board that owns its state machine to change state (e.g. power unavailable ->
    ``BoardState.C1`` / ``BoardState.B1``)."""

    connector: int
    state: str


HalCommand = SetPilot | SetContactors | SetLock | SetAuthorization | RequestBoardState


# --------------------------------------------------------------------------- capabilities


@dataclass(frozen=True, slots=True)
class BoardCapabilities:
    connectors: int = 1
    max_current_a: float = 32.0
    phases: int = 3
    has_lock: bool = True
    has_c2: bool = True
    has_rcd: bool = True
    has_meter: bool = True
    has_temperature: bool = True
    fixed_cable: bool = False
    #: The board runs the IEC 61851 state machine itself (SmartEVSE v4 mainboard).
    owns_state_machine: bool = False
    extra: dict[str, str] = field(default_factory=dict)
