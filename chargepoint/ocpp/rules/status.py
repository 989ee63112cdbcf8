"""The OCPP status of a connector (StatusNotification, OCPP 1.6 §4.9 / §7.7), as a pure function.

* a fault -> Faulted with the fault's ChargePointErrorCode (:data:`FAULT_ERROR_CODE`); a named fault
  before the generic ``board`` one; a ``board`` fault the board explains (``problem``: its code and a
  short text, e.g. an RS485 node gone silent) -> the status and errorCode of :data:`BOARD_PROBLEM`,
  the text as info and the code as vendorErrorCode;
* transaction running: EV side disconnected -> SuspendedEV ("EV side disconnected"); C2 -> Charging;
  PWM offered but the EV does not draw (B2, or B with an offer) -> SuspendedEV; energy withheld by the
  EVSE (B1/C1: no PWM) -> SuspendedEVSE;
* no transaction: Inoperative (ChangeAvailability) or not available -> Unavailable; EV plugged after a
  transaction -> Finishing; plugged, or an idTag authorised and waiting for the plug -> Preparing;
  reserved -> Reserved; else Available;
* connector 0 (the station): Unavailable when Inoperative, else Available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from chargepoint.controller.types import ConnectorSnapshot, Fault, IecState, SubState
from chargepoint.ocpp.error_codes import BOARD_PROBLEM, FAULT_ERROR_CODE


class ConnectorStatus(NamedTuple):
    status: str  # ChargePointStatus
    error_code: str  # ChargePointErrorCode
    info: str | None = None  # StatusNotification.info (cut to 50 characters when sent)
    vendor_error_code: str | None = None  # StatusNotification.vendorErrorCode (50 characters)


@dataclass(frozen=True, slots=True)
class Activity:
    """What the transaction layer knows of a connector."""

    transaction: bool = False  # a transaction runs
    authorized: bool = False  # an idTag is authorised and waits for the plug (ConnectionTimeOut)
    finishing: bool = False  # a transaction stopped while the EV stays plugged


IDLE = Activity()


def station_status_of(operative: bool) -> ConnectorStatus:
    """Connector 0."""
    return ConnectorStatus("Available" if operative else "Unavailable", "NoError")


def status_of(snapshot: ConnectorSnapshot, activity: Activity = IDLE, reserved: bool = False,
              operative: bool = True, problem: tuple[str, str] | None = None) -> ConnectorStatus:
    """The status of a physical connector: its controller ``snapshot``, the transaction
    ``activity``, whether a reservation makes it show Reserved, its effective availability
    (ChangeAvailability of the connector and of connector 0), and the board's own words for a
    ``board`` fault (``problem`` = (code, short text), or None)."""
    if snapshot.faults:
        named = sorted((f for f in snapshot.faults if f is not Fault.BOARD), key=str)
        if not named and problem is not None:
            code, text = problem
            status, error_code = BOARD_PROBLEM.get(code, ("Faulted", "InternalError"))
            return ConnectorStatus(status, error_code, text or code, code[:50])
        fault = named[0] if named else Fault.BOARD
        return ConnectorStatus("Faulted", FAULT_ERROR_CODE.get(fault, "OtherError"), str(fault))
    if activity.transaction:
        if not snapshot.ev_connected:
            return ConnectorStatus("SuspendedEV", "NoError", "EV side disconnected")
        if snapshot.substate == SubState.C2:
            return ConnectorStatus("Charging", "NoError")
        if snapshot.substate == SubState.B2 or (snapshot.iec_state == IecState.B and snapshot.offered_current_a > 0):
            return ConnectorStatus("SuspendedEV", "NoError")
        return ConnectorStatus("SuspendedEVSE", "NoError")
    if not operative or not snapshot.available:
        return ConnectorStatus("Unavailable", "NoError")
    if snapshot.ev_connected:
        return ConnectorStatus("Finishing" if activity.finishing else "Preparing", "NoError")
    if activity.authorized:
        return ConnectorStatus("Preparing", "NoError")
    if reserved:
        return ConnectorStatus("Reserved", "NoError")
    return ConnectorStatus("Available", "NoError")
