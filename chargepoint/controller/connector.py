"""Mutable per-connector state of the controller (private to the controller package)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chargepoint.controller.types import Fault, SubState
from hal.types import LockState, MeterReading, PilotLevel, PilotMode


@dataclass(slots=True)
class ConnectorState:
    number: int
    sub: SubState = SubState.A
    # ---- inputs
    plugged: bool = False  # an EV has been seen (9/6/3 V) since the last 12 V
    pilot: PilotLevel | None = None  # last valid classification; None = unknown (pilot off / never read)
    six_v_since: float | None = None  # start of the current continuous 6 V (or 3 V) episode
    diode_seen: bool = False  # EV diode seen in this B episode
    authorized: bool = False
    available: bool = True
    unlock_requested: bool = False
    pp_received: bool = False
    cable_a: float | None = None
    limits: dict[str, float] = field(default_factory=dict)
    faults: set[Fault] = field(default_factory=set)
    rcd_tripped: bool = False
    temperature: float | None = None
    board_fault_codes: set[str] = field(default_factory=set)
    meter: MeterReading | None = None
    # ---- commanded outputs
    pilot_mode: PilotMode | None = None
    duty: int = 1000
    pwm_a: float = 0.0
    c1: bool = False
    c2: bool = False
    auth_out: bool | None = None
    c2_changed_under_c1: bool = False  # invariant witness
    # ---- contactor feedback supervision
    fb_seen: bool = False
    fb_c1: bool = False
    fb_c2: bool = False
    mismatch_since: float | None = None
    # ---- timers
    c1_since: float | None = None
    charge_delay_until: float = 0.0
    replug_until: float | None = None
    # ---- lock
    lock_want: bool = False
    lock_hold: bool = False  # HoldLock: stay locked without a session (errata 3.17)
    lock_cmd: bool | None = None
    lock_fb: LockState | None = None
    lock_attempts: int = 0
    lock_check_at: float | None = None
    lock_retry_at: float | None = None
    # ---- phases
    phases_req: int = 3
    phases_active: int = 3
    c2_plan: bool = True
    # ---- offered current
    target_a: float = 0.0
    binding: str = "max"
    offered_reported: tuple[float, str] | None = None
    # ---- boards that own the state machine
    board_state: str | None = None
    pause_requested: str | None = None
    pending_changes: list[tuple[SubState, SubState]] = field(default_factory=list)
