"""Reservations: ReserveNow / CancelReservation, expiry on the clock, persisted in SQLite.

Facts (OCPP 1.6 §5.13/5.14, §3.11; errata):

* connectorId 0 reserves "a" connector of the station, allowed only with
  ReserveConnectorZeroSupported=true (else Rejected); it keeps one connector free without pinning one.
* The same reservationId replaces the existing reservation.  Otherwise the answer is Accepted, or
  Occupied (EV plugged / transaction / already reserved), Faulted, Unavailable, Rejected (reservations
  not supported, unknown connector, expiry in the past).
* A reservation ends on a StartTransaction for its idTag (which carries the reservationId), at its
  expiryDate (the connector becomes Available again) or when its connector turns Faulted/Unavailable.
* Only the reserved idTag -- or an idTag with the same parentIdTag -- may use the reserved connector.

Status reporting is done by the status module: it asks :meth:`ReservationService.reserved_for` and is
told of every change through :meth:`ReservationService.subscribe`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chargepoint.clock import Clock
from chargepoint.controller.types import FaultChanged, StateChanged
from chargepoint.ocpp.auth import AuthorizationService
from chargepoint.ocpp.config_keys import ConfigKeys
from chargepoint.ocpp.id_tags import AuthInputError, format_rfc3339, parse_rfc3339
from chargepoint.ocpp.library import (
    Action,
    FormationViolationError,
    TypeConstraintViolationError,
    call_result,
    on,
)
from chargepoint.ocpp.ports import StationView
from chargepoint.ocpp.rules.identity import same_group
from chargepoint.ocpp.store import Db

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext
    from chargepoint.ocpp.transactions import TransactionManager

log = logging.getLogger("chargepoint.ocpp.reservation")

@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry_date: datetime

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reservationId": self.reservation_id,
            "connectorId": self.connector_id,
            "idTag": self.id_tag,
            "expiryDate": format_rfc3339(self.expiry_date),
        }
        if self.parent_id_tag is not None:
            out["parentIdTag"] = self.parent_id_tag
        return out


ChangeListener = Callable[[int], None]


class ReservationService:
    """All reservations of the station.  ``transactions`` (optional) answers ``active(connector)``."""

    def __init__(
        self,
        clock: Clock,
        db: Db,
        keys: ConfigKeys | None,
        station: StationView,
        *,
        transactions: TransactionManager | None = None,
        auth: AuthorizationService | None = None,
    ) -> None:
        self.clock = clock
        self.db = db
        self.keys = keys
        self.station = station
        self.transactions = transactions
        self.auth = auth
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._listeners: list[ChangeListener] = []
        self._unsubscribe: Callable[[], None] | None = None

    @classmethod
    def from_context(cls, ctx: OcppContext) -> ReservationService:
        """Built from an OcppContext (the client subscribes the status reporter to changes)."""
        return cls(ctx.clock, ctx.store.db, ctx.keys, ctx.station, transactions=ctx.transactions, auth=ctx.auth)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Re-arm timers of persisted reservations (dropping expired ones) and follow the station."""
        for r in self.all():
            self._arm(r)
        if self._unsubscribe is None:
            self._unsubscribe = self.station.subscribe(self._on_station_item)
        self._expire_due()

    def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """``listener(connector_id)`` after every change (connector 0: every connector may change)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self, connector_id: int) -> None:
        for listener in list(self._listeners):
            try:
                listener(connector_id)
            except Exception:
                log.exception("reservation listener failed")

    # ------------------------------------------------------------------ queries
    def _key(self, name: str, default: object) -> object:
        value = self.keys.get(name) if self.keys is not None else None
        return default if value is None else value

    @property
    def supported(self) -> bool:
        profiles = self._key("SupportedFeatureProfiles", None)
        if profiles is None:
            return True
        if isinstance(profiles, str):
            profiles = [p.strip() for p in profiles.split(",")]
        return isinstance(profiles, list) and "Reservation" in profiles

    def all(self) -> list[Reservation]:
        rows = self.db.execute(
            "SELECT reservation_id, connector_id, id_tag, parent_id_tag, expiry_date FROM reservations "
            "WHERE cp_id=? ORDER BY reservation_id", (self.db.cp_id,)
        ).fetchall()
        return [Reservation(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4])) for r in rows]

    def get(self, reservation_id: int) -> Reservation | None:
        for r in self.all():
            if r.reservation_id == reservation_id:
                return r
        return None

    def _on_connector(self, connector_id: int) -> Reservation | None:
        for r in self.all():
            if r.connector_id == connector_id:
                return r
        return None

    def _connector_condition(self, connector: int) -> str:
        """"Faulted", "Unavailable", "Occupied" or "Free" for a physical connector."""
        snap = self.station.snapshot(connector)
        if snap.faults:
            return "Faulted"
        if not snap.available:
            return "Unavailable"
        if snap.ev_connected or self._active_tx(connector) is not None:
            return "Occupied"
        if self.transactions is not None and self.transactions.pending(connector) is not None:
            return "Occupied"  # an idTag is authorised and waits for the plug (Preparing)
        return "Free"

    def _active_tx(self, connector: int) -> object | None:
        if self.transactions is None:
            return None
        return self.transactions.active(connector)

    def _free_unpinned(self, exclude_reservation: int | None = None) -> list[int]:
        """Physical connectors that are free and not reserved on their own."""
        pinned = {r.connector_id for r in self.all() if r.connector_id > 0 and r.reservation_id != exclude_reservation}
        return [
            c
            for c in range(1, self.station.connectors + 1)
            if c not in pinned and self._connector_condition(c) == "Free"
        ]

    def reserved_for(self, connector: int) -> Reservation | None:
        """The reservation that makes ``connector`` show Reserved, or None.

        A connector-0 reservation reserves every free connector once only as many are free as there
        are connector-0 reservations (one connector is kept for each)."""
        own = self._on_connector(connector)
        if own is not None:
            return own
        zero = [r for r in self.all() if r.connector_id == 0]
        if not zero or connector < 1:
            return None
        free = self._free_unpinned()
        if connector in free and len(free) <= len(zero):
            return zero[0]
        return None

    # ------------------------------------------------------------------ ReserveNow / Cancel
    def reserve(
        self,
        connector_id: int,
        expiry_date: datetime,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> str:
        """ReserveNow; returns the ReservationStatus."""
        if not self.supported:
            return "Rejected"
        if connector_id < 0 or connector_id > self.station.connectors:
            return "Rejected"
        if connector_id == 0 and not bool(self._key("ReserveConnectorZeroSupported", False)):
            return "Rejected"
        if expiry_date <= self.clock.now():
            return "Rejected"
        replacing = self.get(reservation_id)
        if connector_id > 0:
            cond = self._connector_condition(connector_id)
            if cond != "Free":
                return cond
            other = self._on_connector(connector_id)
            if other is not None and other.reservation_id != reservation_id:
                return "Occupied"
            # a connector kept free for connector-0 reservations cannot be pinned
            zero = [r for r in self.all() if r.connector_id == 0 and r.reservation_id != reservation_id]
            if zero and len(self._free_unpinned(reservation_id)) <= len(zero):
                return "Occupied"
        else:
            conds = [self._connector_condition(c) for c in range(1, self.station.connectors + 1)]
            if all(c == "Faulted" for c in conds):
                return "Faulted"
            if all(c in ("Faulted", "Unavailable") for c in conds):
                return "Unavailable"
            zero = [r for r in self.all() if r.connector_id == 0 and r.reservation_id != reservation_id]
            if len(self._free_unpinned(reservation_id)) <= len(zero):
                return "Occupied"
        r = Reservation(reservation_id, connector_id, id_tag, parent_id_tag, expiry_date)
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO reservations "
                "(cp_id, reservation_id, connector_id, id_tag, parent_id_tag, expiry_date) VALUES (?, ?, ?, ?, ?, ?)",
                (self.db.cp_id, reservation_id, connector_id, id_tag, parent_id_tag, expiry_date.isoformat()),
            )
        self._arm(r)
        log.info("reserved %s", r.to_wire())
        if replacing is not None and replacing.connector_id != connector_id:
            self._changed(replacing.connector_id)
        self._changed(connector_id)
        return "Accepted"

    def cancel(self, reservation_id: int) -> bool:
        """CancelReservation: False (Rejected) for an unknown reservationId."""
        r = self.get(reservation_id)
        if r is None:
            return False
        self._remove(r, "cancelled")
        return True

    def _remove(self, r: Reservation, why: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM reservations WHERE cp_id=? AND reservation_id=?",
                            (self.db.cp_id, r.reservation_id))
        handle = self._timers.pop(r.reservation_id, None)
        if handle is not None:
            handle.cancel()
        log.info("reservation %s ended: %s", r.reservation_id, why)
        self._changed(r.connector_id)

    # ------------------------------------------------------------------ expiry
    def _arm(self, r: Reservation) -> None:
        old = self._timers.pop(r.reservation_id, None)
        if old is not None:
            old.cancel()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # armed by start() once the loop runs
        delay = self.clock.seconds_until_wall(r.expiry_date)
        self._timers[r.reservation_id] = self.clock.call_later(delay, self._on_timer, r.reservation_id)

    def _on_timer(self, reservation_id: int) -> None:
        self._timers.pop(reservation_id, None)
        r = self.get(reservation_id)
        if r is None:
            return
        if r.expiry_date > self.clock.now():  # the wall clock was corrected: wait the rest
            self._arm(r)
            return
        self._remove(r, "expired")

    def _expire_due(self) -> None:
        now = self.clock.now()
        for r in self.all():
            if r.expiry_date <= now:
                self._remove(r, "expired")

    # ------------------------------------------------------------------ use of a reservation
    def _matches(self, r: Reservation, id_tag: str, parent_id_tag: str | None) -> bool:
        return same_group(r.id_tag, r.parent_id_tag, id_tag, parent_id_tag)

    async def may_use(self, connector: int, id_tag: str, parent_id_tag: str | None = None) -> bool:
        """May ``id_tag`` start on ``connector``?  True when not reserved or reserved for this idTag
        or for its parentIdTag (looked up through the authorisation service when not given)."""
        r = self.reserved_for(connector)
        if r is None:
            return True
        if id_tag == r.id_tag:
            return True
        if r.parent_id_tag is None:
            return False
        if parent_id_tag is None and self.auth is not None:
            parent_id_tag = await self.auth.parent_of(id_tag)
        return same_group(r.id_tag, r.parent_id_tag, id_tag, parent_id_tag)

    def consume(self, connector: int, id_tag: str, parent_id_tag: str | None = None) -> int | None:
        """A transaction starts on ``connector`` for ``id_tag``: end the matching reservation and
        return its reservationId (to put in StartTransaction.req), or None."""
        r = self.reserved_for(connector)
        if r is None:
            # a connector-0 reservation for this idTag may be used on any free connector
            r = next(
                (z for z in self.all() if z.connector_id == 0 and self._matches(z, id_tag, parent_id_tag)),
                None,
            )
        if r is None:
            return None
        if parent_id_tag is None and self.auth is not None and id_tag != r.id_tag:
            known = self.auth.local_info(id_tag)
            parent_id_tag = known.parent_id_tag if known is not None else None
        if not self._matches(r, id_tag, parent_id_tag):
            return None
        self._remove(r, f"used by a transaction on connector {connector}")
        return r.reservation_id

    def _on_station_item(self, item: object) -> None:
        """A connector that turns Faulted or Unavailable ends its reservation (§5.13)."""
        connector = None
        if isinstance(item, FaultChanged) and item.active:
            connector = item.connector
        elif isinstance(item, StateChanged) and not item.snapshot.available:
            connector = item.connector
        if connector is None:
            return
        r = self._on_connector(connector)
        if r is not None:
            self._remove(r, "connector faulted or unavailable")


def _int_field(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeConstraintViolationError(description=f"{field} must be an integer")
    return value


class ReservationHandlers:
    """@on handlers for ReserveNow and CancelReservation (mixin of the session; uses ``self.ctx``)."""

    ctx: OcppContext

    @on(Action.reserve_now)
    async def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        _int_field(connector_id, "connectorId")
        _int_field(reservation_id, "reservationId")
        try:
            expiry = parse_rfc3339(expiry_date, "expiryDate")
        except AuthInputError as exc:
            raise FormationViolationError(description=str(exc)) from exc
        service = self.ctx.reservations
        if service is None:
            return call_result.ReserveNow(status="Rejected")
        status = service.reserve(connector_id, expiry, id_tag, reservation_id, parent_id_tag)
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        _int_field(reservation_id, "reservationId")
        service = self.ctx.reservations
        ok = service is not None and service.cancel(reservation_id)
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")
