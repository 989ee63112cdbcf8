"""OCPP 1.6 ChargePointErrorCode of each controller fault (StatusNotification.errorCode), and of the
problems a board names behind a ``Fault.BOARD`` (:data:`BOARD_PROBLEM`)."""

from __future__ import annotations

from chargepoint.controller.types import Fault

FAULT_ERROR_CODE: dict[Fault, str] = {
    Fault.RCD: "GroundFailure",
    Fault.OVER_TEMPERATURE: "HighTemperature",
    Fault.DIODE: "EVCommunicationError",
    Fault.CONTACTOR_WELDED: "PowerSwitchFailure",
    Fault.CONTACTOR_FAILED: "PowerSwitchFailure",
    Fault.LOCK: "ConnectorLockFailure",
    Fault.METER: "PowerMeterFailure",
    Fault.PILOT: "EVCommunicationError",
    Fault.BOARD: "InternalError",
}

#: A board's problem code (``Board.connector_problem``) -> (status, errorCode).  The code itself is
#: sent as vendorErrorCode and the board's short text as info.  A node of the RS485 bus that stopped
#: answering is Unavailable (the charge point cannot reach it; it rejoins by itself), not Faulted.
BOARD_PROBLEM: dict[str, tuple[str, str]] = {
    "node_offline": ("Unavailable", "OtherError"),
    "second_master": ("Faulted", "OtherError"),
    "ct_nocomm": ("Faulted", "OtherError"),
    "ev_nocomm": ("Faulted", "PowerMeterFailure"),
    "temp_high": ("Faulted", "HighTemperature"),
    "rcm_tripped": ("Faulted", "GroundFailure"),
    "link": ("Faulted", "InternalError"),
}
