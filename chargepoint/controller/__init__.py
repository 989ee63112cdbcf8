"""IEC 61851-1 controller: pure, synchronous, no I/O.  See docs/ARCHITECTURE.md for the contract."""

from chargepoint.controller.controller import Controller
from chargepoint.controller.limits import ENERGY_LIMITS, Limit
from chargepoint.controller.types import (
    Authorize,
    ConnectorSnapshot,
    ControllerInput,
    ControllerOutput,
    ControllerSettings,
    Fault,
    FaultChanged,
    HoldLock,
    IecState,
    OfferedCurrentChanged,
    RequestUnlock,
    ResetFault,
    SetAvailability,
    SetLimit,
    SetPhases,
    StateChanged,
    SubState,
    Tick,
)
from chargepoint.iec61851.duty import current_from_duty, duty_permille, signalled_current
from chargepoint.iec61851.proximity import cable_ampacity, resistor_for_ampacity

__all__ = [
    "ENERGY_LIMITS",
    "Authorize",
    "ConnectorSnapshot",
    "Controller",
    "ControllerInput",
    "ControllerOutput",
    "ControllerSettings",
    "Fault",
    "FaultChanged",
    "HoldLock",
    "IecState",
    "Limit",
    "OfferedCurrentChanged",
    "RequestUnlock",
    "ResetFault",
    "SetAvailability",
    "SetLimit",
    "SetPhases",
    "StateChanged",
    "SubState",
    "Tick",
    "cable_ampacity",
    "current_from_duty",
    "duty_permille",
    "resistor_for_ampacity",
    "signalled_current",
]
