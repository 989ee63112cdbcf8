"""TransactionRules on their own: events and configuration keys in, decisions out (no loop, no I/O)."""

from __future__ import annotations

from chargepoint.controller.types import Fault, SubState
from chargepoint.ocpp.rules.identity import same_group
from chargepoint.ocpp.rules.transactions import HoldLock, Stop, SuspendEnergy, TransactionRules, TryStart
from tests.ocpp.rules_fixtures import snap


def rules(**keys: object) -> TransactionRules:
    defaults: dict[str, object] = {"ConnectionTimeOut": 60, "StopTransactionOnEVSideDisconnect": True,
                                   "StopTransactionOnInvalidId": True, "MaxEnergyOnInvalidId": 0}
    defaults.update(keys)
    return TransactionRules(defaults)


# -- ConnectionTimeOut ---------------------------------------------------------------------------
def test_authorisation_waits_connection_timeout_for_the_plug():
    r = rules(ConnectionTimeOut=45)
    pend = r.authorize(1, "TAG", "PARENT", remote=False, now=100.0)
    assert (pend.wait_s, pend.deadline) == (45, 145.0)
    assert r.pending(1) is pend
    assert r.expire(1, pend) is True
    assert r.pending(1) is None


def test_connection_timeout_zero_waits_forever():
    pend = rules(ConnectionTimeOut=0).authorize(1, "TAG", None, remote=True, now=5.0)
    assert pend.wait_s is None and pend.deadline is None


def test_an_old_timeout_does_not_drop_a_newer_authorisation():
    r = rules()
    old = r.authorize(1, "A", None, remote=False, now=0.0)
    new = r.authorize(1, "B", None, remote=False, now=10.0)
    assert r.expire(1, old) is False
    assert r.pending(1) is new


def test_a_changed_key_applies_to_the_next_authorisation():
    keys: dict[str, object] = {"ConnectionTimeOut": 30}
    r = TransactionRules(keys)
    assert r.authorize(1, "A", None, remote=False, now=0.0).wait_s == 30
    keys["ConnectionTimeOut"] = 90
    assert r.authorize(1, "A", None, remote=False, now=0.0).wait_s == 90


def test_pending_starts_only_when_plugged_available_fault_free_and_idle():
    r = rules()
    r.authorize(1, "TAG", None, remote=False, now=0.0)
    assert r.take_pending_if_ready(1, snap(), running=False) is None  # no EV
    assert r.take_pending_if_ready(1, snap(SubState.B1, available=False), running=False) is None
    assert r.take_pending_if_ready(1, snap(SubState.B1, faults=frozenset({Fault.RCD})), running=False) is None
    assert r.take_pending_if_ready(1, snap(SubState.B1), running=True) is None
    pend = r.take_pending_if_ready(1, snap(SubState.B1), running=False)
    assert pend is not None and pend.id_tag == "TAG"
    assert r.pending(1) is None  # used up


def test_plugging_in_with_a_pending_authorisation_asks_to_start():
    r = rules()
    assert r.state_changed(1, snap(SubState.B1), running=False) == []
    r.authorize(1, "TAG", None, remote=False, now=0.0)
    assert r.state_changed(1, snap(SubState.B1), running=False) == [TryStart(1)]
    assert r.state_changed(2, snap(SubState.B1, connector=2), running=False) == []


def test_the_same_card_again_cancels_the_wait():
    r = rules()
    r.authorize(1, "TAG", None, remote=False, now=0.0)
    assert r.presented_again(1, "OTHER") is False
    assert r.presented_again(1, "TAG") is True
    assert r.pending(1) is None


# -- StopTransactionOnEVSideDisconnect -----------------------------------------------------------
def test_unplugging_stops_the_transaction_when_the_key_says_so():
    assert rules().state_changed(1, snap(SubState.A), running=True) == [Stop(1, "EVDisconnected")]


def test_unplugging_keeps_the_transaction_when_the_key_is_false():
    r = rules(StopTransactionOnEVSideDisconnect=False)
    assert r.state_changed(1, snap(SubState.A), running=True) == []


def test_finishing_from_a_stop_with_the_ev_plugged_until_it_leaves():
    r = rules()
    r.stopped(1, ev_connected=True)
    assert r.finishing(1)
    r.state_changed(1, snap(SubState.B1), running=False)
    assert r.finishing(1)
    r.state_changed(1, snap(SubState.A), running=False)
    assert not r.finishing(1)
    r.stopped(1, ev_connected=False)
    assert not r.finishing(1)
    r.stopped(1, ev_connected=True)
    r.started(1)
    assert not r.finishing(1)


# -- parentIdTag -------------------------------------------------------------------------------------
def test_same_group_is_the_same_id_tag_or_the_same_parent():
    assert same_group("A", None, "A", None)
    assert same_group("KID", "FAMILY", "MUM", "FAMILY")
    assert not same_group("KID", "FAMILY", "NEIGHBOUR", "STREET")
    assert not same_group("KID", None, "MUM", None)  # no parent: no group
    assert not same_group("KID", "", "MUM", "")  # an empty parentIdTag is no group either
    assert not same_group("KID", "FAMILY", "MUM", None)  # the presented one's parent unknown


# -- StopTransactionOnInvalidId / MaxEnergyOnInvalidId -------------------------------------------------
def test_accepted_start_needs_nothing():
    assert rules().start_confirmed(1, "TAG", None, "Accepted", 1000, 1000, can_hold_lock=True) == []


def test_invalid_id_stops_deauthorized_and_holds_the_cable_for_its_owner():
    r = rules()
    actions = r.start_confirmed(1, "TAG", "FAM", "Invalid", 1000, 1010, can_hold_lock=True)
    assert actions == [HoldLock(1), Stop(1, "DeAuthorized")]
    holder = r.holder(1)
    assert holder is not None and (holder.id_tag, holder.parent_id_tag) == ("TAG", "FAM")
    assert [c for c, _ in r.holders(0)] == [1] and r.holders(2) == []
    assert r.release(1) is True and r.release(1) is False


def test_invalid_id_without_a_lock_only_stops():
    r = rules()
    assert r.start_confirmed(1, "TAG", None, "Blocked", 0, 0, can_hold_lock=False) == [Stop(1, "DeAuthorized")]
    assert r.holder(1) is None


def test_invalid_id_with_stop_on_invalid_id_false_only_stops_the_energy():
    r = rules(StopTransactionOnInvalidId=False)
    assert r.start_confirmed(1, "TAG", None, "Expired", 0, 0, can_hold_lock=True) == [SuspendEnergy(1)]
    assert r.holder(1) is None


def test_max_energy_on_invalid_id_allows_that_much_energy_from_meter_start():
    r = rules(MaxEnergyOnInvalidId=500)
    assert r.start_confirmed(1, "TAG", None, "Invalid", 10_000, 10_200, can_hold_lock=True) == []
    allowance = r.invalid_allowance(1)
    assert allowance is not None and allowance.max_energy_wh == 500
    assert r.meter(1, 10_499, can_hold_lock=True) == []
    assert r.meter(2, 99_999, can_hold_lock=True) == []  # another connector
    assert r.meter(1, 10_500, can_hold_lock=True) == [HoldLock(1), Stop(1, "DeAuthorized")]
    assert r.invalid_allowance(1) is None
    assert r.meter(1, 11_000, can_hold_lock=True) == []  # decided once


def test_max_energy_on_invalid_id_then_suspends_when_transactions_go_on():
    r = rules(MaxEnergyOnInvalidId=300, StopTransactionOnInvalidId=False)
    assert r.start_confirmed(1, "TAG", None, "Invalid", 0, None, can_hold_lock=True) == []
    assert r.meter(1, 300, can_hold_lock=True) == [SuspendEnergy(1)]


def test_max_energy_already_delivered_when_the_answer_comes_acts_at_once():
    r = rules(MaxEnergyOnInvalidId=500)
    actions = r.start_confirmed(1, "TAG", None, "Invalid", 0, 800, can_hold_lock=False)  # started offline
    assert actions == [Stop(1, "DeAuthorized")]


def test_a_stop_ends_the_allowance():
    r = rules(MaxEnergyOnInvalidId=500)
    r.start_confirmed(1, "TAG", None, "Invalid", 0, 0, can_hold_lock=True)
    r.stopped(1, ev_connected=False)
    assert r.meter(1, 1000, can_hold_lock=True) == []
