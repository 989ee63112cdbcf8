"""The transaction rules of OCPP 1.6, as a pure class: events and configuration keys in, decisions out.

* **ConnectionTimeOut** (§9.1): an authorised idTag waits that many seconds for the plug (0 = no
  limit); presenting the same card again cancels the wait.
* **parentIdTag** (§3.5.4): a card stops a running transaction, or releases a DeAuthorized cable,
  when it is the owner's idTag or shares its parentIdTag: :func:`.identity.same_group`, applied by
  ``AuthorizationService.may_stop`` once it has looked the parents up (it may ask the CSMS).
* **StopTransactionOnEVSideDisconnect** (§3.6, errata 3.79): unplugging on the EV side stops the
  transaction (EVDisconnected) when true; otherwise it goes on (SuspendedEV).
* **StopTransactionOnInvalidId** (§4.8, errata 3.17): a StartTransaction.conf that is not Accepted
  stops the transaction with reason DeAuthorized, keeping the cable locked until the owner (or an
  idTag of its group) returns, when true; otherwise only the energy delivery stops.
* **MaxEnergyOnInvalidId** (§9.1): when above 0, the energy (Wh, counted from meterStart) the EV may
  still get after such a conf; the rule above applies once it is reached (0: at once).

Time is passed in (monotonic seconds); nothing here sleeps, sends or persists.  The caller
(``chargepoint.ocpp.transactions.TransactionManager``) arms the timers, runs the actions and
tells the rules what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chargepoint.controller.types import ConnectorSnapshot, IecState


class KeyReader(Protocol):
    """The configuration keys as the rules read them (``ConfigKeys`` or a dict-backed stand-in)."""

    def get(self, name: str, /) -> object: ...


# -- actions (what the caller must do) ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TryStart:
    """Start the pending authorisation of ``connector`` if the connector is still ready."""

    connector: int


@dataclass(frozen=True, slots=True)
class Stop:
    connector: int
    reason: str
    id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class SuspendEnergy:
    """Stop the energy delivery; the transaction goes on (StopTransactionOnInvalidId=false)."""

    connector: int


@dataclass(frozen=True, slots=True)
class HoldLock:
    """Keep the cable locked after the transaction stops (a DeAuthorized transaction)."""

    connector: int


Action = TryStart | Stop | SuspendEnergy | HoldLock


# -- state ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class Pending:
    """An idTag authorised on a connector, waiting ``wait_s`` (ConnectionTimeOut) for the plug, until
    ``deadline`` (None: no limit)."""

    id_tag: str
    parent_id_tag: str | None
    remote: bool
    wait_s: int | None = None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Holder:
    """The owner of a DeAuthorized transaction whose cable stays locked."""

    id_tag: str
    parent_id_tag: str | None


@dataclass(slots=True)
class InvalidIdAllowance:
    """A transaction whose idTag the CSMS refused, still charging within MaxEnergyOnInvalidId."""

    owner: Holder
    meter_start_wh: float
    max_energy_wh: float


def ready_to_start(snapshot: ConnectorSnapshot) -> bool:
    """A pending authorisation starts a transaction once an EV is plugged into an available,
    fault-free connector."""
    return snapshot.ev_connected and snapshot.available and not snapshot.faults


class TransactionRules:
    """Per-connector decisions of the transaction layer.  ``keys`` is read at each event, so a
    ChangeConfiguration applies from the next event on."""

    def __init__(self, keys: KeyReader) -> None:
        self.keys = keys
        self._pending: dict[int, Pending] = {}
        self._held: dict[int, Holder] = {}
        self._finishing: set[int] = set()
        self._invalid: dict[int, InvalidIdAllowance] = {}

    # -- keys ----------------------------------------------------------------------------------
    def _int(self, name: str) -> int:
        value = self.keys.get(name)
        if isinstance(value, int | float):
            return int(value)
        return int(value) if isinstance(value, str) and value.strip() else 0

    def _bool(self, name: str) -> bool:
        return bool(self.keys.get(name))

    # -- queries -------------------------------------------------------------------------------
    def pending(self, connector: int) -> Pending | None:
        return self._pending.get(connector)

    def has_pending(self, connector: int) -> bool:
        return connector in self._pending

    def finishing(self, connector: int) -> bool:
        return connector in self._finishing

    def holder(self, connector: int) -> Holder | None:
        return self._held.get(connector)

    def holders(self, connector: int) -> list[tuple[int, Holder]]:
        """The DeAuthorized cable holds a card presented on ``connector`` (0: any) may concern."""
        return [(c, h) for c, h in self._held.items() if connector in (0, c)]

    def invalid_allowance(self, connector: int) -> InvalidIdAllowance | None:
        return self._invalid.get(connector)

    # -- ConnectionTimeOut ---------------------------------------------------------------------
    def authorize(self, connector: int, id_tag: str, parent_id_tag: str | None, remote: bool,
                  now: float) -> Pending:
        """An idTag may start on ``connector`` (it replaces an earlier pending one).  The caller
        arms a timer for ``wait_s`` and calls :meth:`expire` when it fires."""
        timeout = self._int("ConnectionTimeOut")
        pend = Pending(id_tag, parent_id_tag, remote, timeout, now + timeout) if timeout > 0 else \
            Pending(id_tag, parent_id_tag, remote)
        self._pending[connector] = pend
        return pend

    def cancel_pending(self, connector: int) -> Pending | None:
        return self._pending.pop(connector, None)

    def expire(self, connector: int, pend: Pending) -> bool:
        """The ConnectionTimeOut of ``pend`` passed: drop it unless it was replaced or used."""
        if self._pending.get(connector) is not pend:
            return False
        del self._pending[connector]
        return True

    def take_pending_if_ready(self, connector: int, snapshot: ConnectorSnapshot, running: bool) -> Pending | None:
        """The pending authorisation that starts a transaction now (and is used up), or None."""
        pend = self._pending.get(connector)
        if pend is None or running or not ready_to_start(snapshot):
            return None
        del self._pending[connector]
        return pend

    # -- cards ---------------------------------------------------------------------------------
    def presented_again(self, connector: int, id_tag: str) -> bool:
        """The card of the pending authorisation again: the wait is cancelled."""
        pend = self._pending.get(connector)
        if pend is None or pend.id_tag != id_tag:
            return False
        del self._pending[connector]
        return True

    def release(self, connector: int) -> bool:
        """End the DeAuthorized cable hold (owner returned, UnlockConnector)."""
        return self._held.pop(connector, None) is not None

    # -- plug ----------------------------------------------------------------------------------
    def state_changed(self, connector: int, snapshot: ConnectorSnapshot, running: bool) -> list[Action]:
        actions: list[Action] = []
        if snapshot.ev_connected and connector in self._pending and not running:
            actions.append(TryStart(connector))
        if snapshot.iec_state == IecState.A:
            self._finishing.discard(connector)
            if running and self._bool("StopTransactionOnEVSideDisconnect"):
                actions.append(Stop(connector, "EVDisconnected"))
        return actions

    # -- transaction life ------------------------------------------------------------------------
    def started(self, connector: int) -> None:
        self._finishing.discard(connector)
        self._invalid.pop(connector, None)

    def stopped(self, connector: int, ev_connected: bool) -> None:
        self._invalid.pop(connector, None)
        if ev_connected:
            self._finishing.add(connector)

    # -- StopTransactionOnInvalidId / MaxEnergyOnInvalidId ----------------------------------------
    def start_confirmed(self, connector: int, id_tag: str, parent_id_tag: str | None, status: str,
                        meter_start_wh: float, meter_now_wh: float | None, can_hold_lock: bool) -> list[Action]:
        """StartTransaction.conf of the transaction running on ``connector`` arrived."""
        if status == "Accepted":
            return []
        allowance = self._int("MaxEnergyOnInvalidId")
        delivered = (meter_now_wh - meter_start_wh) if meter_now_wh is not None else 0.0
        if allowance > 0 and delivered < allowance:
            self._invalid[connector] = InvalidIdAllowance(Holder(id_tag, parent_id_tag), meter_start_wh,
                                                          float(allowance))
            return []
        return self._invalid_id(connector, Holder(id_tag, parent_id_tag), can_hold_lock)

    def meter(self, connector: int, energy_wh: float, can_hold_lock: bool) -> list[Action]:
        """A meter reading of ``connector`` (only matters while an invalid idTag charges)."""
        allowance = self._invalid.get(connector)
        if allowance is None or energy_wh - allowance.meter_start_wh < allowance.max_energy_wh:
            return []
        del self._invalid[connector]
        return self._invalid_id(connector, allowance.owner, can_hold_lock)

    def _invalid_id(self, connector: int, owner: Holder, can_hold_lock: bool) -> list[Action]:
        if not self._bool("StopTransactionOnInvalidId"):
            return [SuspendEnergy(connector)]
        if not can_hold_lock:
            return [Stop(connector, "DeAuthorized")]
        self._held[connector] = owner
        return [HoldLock(connector), Stop(connector, "DeAuthorized")]

