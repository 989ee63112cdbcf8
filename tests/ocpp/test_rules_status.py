"""status_of: the StatusNotification status/errorCode of a connector, as a pure function."""

from __future__ import annotations

import pytest

from chargepoint.controller.types import Fault, SubState
from chargepoint.ocpp.rules.status import Activity, ConnectorStatus, station_status_of, status_of
from tests.ocpp.rules_fixtures import snap

RUNNING = Activity(transaction=True)


def test_idle_connector_is_available_and_plugging_in_prepares():
    assert status_of(snap()) == ConnectorStatus("Available", "NoError", None)
    assert status_of(snap(SubState.B1)).status == "Preparing"


def test_authorised_and_waiting_for_the_plug_is_preparing():
    assert status_of(snap(), Activity(authorized=True)).status == "Preparing"


def test_stopped_with_the_ev_still_plugged_is_finishing_until_it_leaves():
    assert status_of(snap(SubState.B1), Activity(finishing=True)).status == "Finishing"
    assert status_of(snap(SubState.A), Activity(finishing=True)).status == "Available"


@pytest.mark.parametrize(("sub", "offered", "expected"), [
    (SubState.C2, None, "Charging"),
    (SubState.B2, None, "SuspendedEV"),  # PWM offered, the EV does not draw
    (SubState.B1, 6.0, "SuspendedEV"),  # state B with an offer
    (SubState.B1, 0.0, "SuspendedEVSE"),  # the EVSE withholds energy (no PWM)
    (SubState.C1, 0.0, "SuspendedEVSE"),
])
def test_running_transaction(sub, offered, expected):
    assert status_of(snap(sub, offered=offered), RUNNING).status == expected


def test_ev_side_disconnected_during_a_transaction_is_suspended_ev_with_info():
    assert status_of(snap(SubState.A), RUNNING) == ConnectorStatus("SuspendedEV", "NoError", "EV side disconnected")


def test_fault_wins_over_everything_with_its_error_code():
    st = status_of(snap(SubState.C2, faults=frozenset({Fault.RCD})), RUNNING, reserved=True, operative=False)
    assert st == ConnectorStatus("Faulted", "GroundFailure", "rcd")
    two = status_of(snap(faults=frozenset({Fault.METER, Fault.LOCK})))
    assert two.error_code == "ConnectorLockFailure"  # the first by name: deterministic


def test_inoperative_or_unavailable_connector_is_unavailable_but_a_transaction_goes_on():
    assert status_of(snap(), operative=False).status == "Unavailable"
    assert status_of(snap(SubState.B1, available=False)).status == "Unavailable"
    assert status_of(snap(SubState.C2), RUNNING, operative=False).status == "Charging"


def test_reserved_only_when_idle():
    assert status_of(snap(), reserved=True).status == "Reserved"
    assert status_of(snap(SubState.B1), reserved=True).status == "Preparing"
    assert status_of(snap(), Activity(authorized=True), reserved=True).status == "Preparing"
    assert status_of(snap(), reserved=True, operative=False).status == "Unavailable"


def test_connector_zero_follows_the_station_availability():
    assert station_status_of(True) == ConnectorStatus("Available", "NoError", None)
    assert station_status_of(False).status == "Unavailable"
