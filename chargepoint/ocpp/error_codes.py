"""OCPP 1.6 ChargePointErrorCode of each controller fault (StatusNotification.errorCode)."""

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
