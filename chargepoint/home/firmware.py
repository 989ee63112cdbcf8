"""The SmartEVSE firmware's vocabulary, for the REST API and MQTT it speaks (smartevse.md §2.1, §3.4, §7).

Pure functions from our controller's and energy manager's values to the firmware's names and numbers:
state names and ids of the web/MQTT interface, the ErrorFlags bit field and its web names, charge
modes and their ids, EnableC2 names, CP duty in the firmware's 1024 scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from chargepoint.controller.types import Fault, SubState
from chargepoint.energy.settings import EnableC2, Mode


class ModeId(IntEnum):
    """``mode_id`` of GET /settings and the ``mode`` parameter of POST /settings."""

    OFF = 0
    NORMAL = 1
    SOLAR = 2
    SMART = 3
    PAUSE = 4


#: MQTT ``Mode`` payloads (and ``Set/Mode``), by ModeId.
MQTT_MODE_NAMES: dict[ModeId, str] = {ModeId.OFF: "Off", ModeId.NORMAL: "Normal", ModeId.SOLAR: "Solar",
                                      ModeId.SMART: "Smart", ModeId.PAUSE: "Pause"}
#: the firmware's ``Mode`` variable (``evse.mode``): MODE_NORMAL 0, MODE_SMART 1, MODE_SOLAR 2
FIRMWARE_MODE_VALUE: dict[Mode, int] = {Mode.NORMAL: 0, Mode.SMART: 1, Mode.SOLAR: 2}
ENERGY_MODE_OF: dict[ModeId, Mode] = {ModeId.NORMAL: Mode.NORMAL, ModeId.SOLAR: Mode.SOLAR,
                                      ModeId.SMART: Mode.SMART}

#: The names of the controller limits the access modes use: Off (access denied) and Pause both stop
#: the power (a limit of 0 A pauses through C1 -> B1) but keep the EV plugged and the session.
OFF_LIMIT = "off"
PAUSE_LIMIT = "pause"

#: EnableC2 in the firmware's order (``enable_C2`` 0-4) and its names (StrEnableC2).
ENABLE_C2_ORDER: tuple[EnableC2, ...] = (EnableC2.NOT_PRESENT, EnableC2.ALWAYS_OFF, EnableC2.SOLAR_OFF,
                                         EnableC2.ALWAYS_ON, EnableC2.AUTO)
ENABLE_C2_NAMES: dict[EnableC2, str] = {EnableC2.NOT_PRESENT: "Not present", EnableC2.ALWAYS_OFF: "Always Off",
                                        EnableC2.SOLAR_OFF: "Solar Off", EnableC2.ALWAYS_ON: "Always On",
                                        EnableC2.AUTO: "Auto"}

#: (state_id, web name) by controller substate (smartevse.md §2.1).  E and F have no firmware
#: state: the PWM is off and no power flows, which the web interface shows as "Charging Stopped".
STATES: dict[SubState, tuple[int, str]] = {
    SubState.A: (0, "Ready to Charge"),
    SubState.B2: (1, "Connected to EV"),
    SubState.C2: (2, "Charging"),
    SubState.D: (3, "D"),
    SubState.B1: (9, "Charging Stopped"),
    SubState.C1: (10, "Stop Charging"),
    SubState.E: (9, "Charging Stopped"),
    SubState.F: (9, "Charging Stopped"),
}

# ErrorFlags bits (smartevse.md §3.4)
LESS_6A = 1
CT_NOCOMM = 2
TEMP_HIGH = 4
EV_NOCOMM = 8
RCM_TRIPPED = 16
#: web names by error id (= position of the highest bit set); 9.. are ours (faults the firmware
#: has no flag for), the firmware would call them "Multiple Errors".
ERROR_NAMES: tuple[str, ...] = ("None", "No Power Available", "Communication Error", "Temperature High",
                                "EV Meter Comm Error", "RCM Tripped", "Waiting for Solar", "Test IO", "Flash Error")
#: our faults with a firmware flag
FAULT_FLAGS: dict[Fault, int] = {Fault.OVER_TEMPERATURE: TEMP_HIGH, Fault.METER: EV_NOCOMM, Fault.RCD: RCM_TRIPPED}
#: our faults without one: (error id, name)
EXTRA_FAULTS: dict[Fault, tuple[int, str]] = {
    Fault.CONTACTOR_WELDED: (9, "Contactor Welded"), Fault.CONTACTOR_FAILED: (10, "Contactor Failed"),
    Fault.LOCK: (11, "Cable Lock Failure"), Fault.DIODE: (12, "Diode Check Failed"),
    Fault.PILOT: (13, "Pilot Error"), Fault.BOARD: (14, "Board Error"),
}


def state_of(substate: SubState) -> tuple[int, str]:
    return STATES.get(substate, (255, "Unknown"))


def error_flags(faults: Iterable[Fault], *, less_6a: bool = False, ct_nocomm: bool = False) -> int:
    flags = (LESS_6A if less_6a else 0) | (CT_NOCOMM if ct_nocomm else 0)
    for fault in faults:
        flags |= FAULT_FLAGS.get(fault, 0)
    return flags


def error_of(faults: Iterable[Fault], *, less_6a: bool = False, ct_nocomm: bool = False) -> tuple[int, str]:
    """(error_id, web name): the firmware's highest flag, or one of our extra faults (ids 9..)."""
    faults = list(faults)
    extra = sorted(EXTRA_FAULTS[f] for f in faults if f in EXTRA_FAULTS)
    if extra:
        return extra[-1]
    flags = error_flags(faults, less_6a=less_6a, ct_nocomm=ct_nocomm)
    count = flags.bit_length()
    return count, ERROR_NAMES[count] if count < len(ERROR_NAMES) else "Multiple Errors"


def mode_id(energy_mode: Mode, limits: dict[str, float]) -> ModeId:
    if OFF_LIMIT in limits:
        return ModeId.OFF
    if PAUSE_LIMIT in limits:
        return ModeId.PAUSE
    return {Mode.NORMAL: ModeId.NORMAL, Mode.SMART: ModeId.SMART, Mode.SOLAR: ModeId.SOLAR}[energy_mode]


def access_name(mode: ModeId) -> str:
    """MQTT ``Access`` (StrAccessStatus)."""
    return {ModeId.OFF: "Deny", ModeId.PAUSE: "Pause"}.get(mode, "Allow")


def cp_pwm(duty_permille: int) -> int:
    """The CP duty in the firmware's 1024 scale (1024 = constant +12 V, no PWM)."""
    return round(max(0, min(1000, duty_permille)) * 1024 / 1000)


def parse_mqtt_mode(payload: str) -> ModeId:
    """``Set/Mode`` payload (Off/Normal/Solar/Smart/Pause, any case) -> ModeId; ValueError otherwise."""
    for mode, name in MQTT_MODE_NAMES.items():
        if payload.strip().lower() == name.lower():
            return mode
    raise ValueError(f"must be one of {', '.join(MQTT_MODE_NAMES.values())}, got {payload!r}")


def parse_enable_c2(payload: str) -> EnableC2:
    """``enable_C2`` 0-4 or a StrEnableC2 name (``Set/EnableC2``) -> EnableC2; ValueError otherwise."""
    text = payload.strip()
    if text.isdigit() and int(text) < len(ENABLE_C2_ORDER):
        return ENABLE_C2_ORDER[int(text)]
    for value, name in ENABLE_C2_NAMES.items():
        if text.lower() in (name.lower(), value.value):
            return value
    raise ValueError(f"must be 0-4 or one of {', '.join(ENABLE_C2_NAMES.values())}, got {payload!r}")
