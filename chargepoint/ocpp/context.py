"""The shared context handed to every OCPP handler mixin and service (``self.ctx``).

Engineer A builds one :class:`OcppContext` per process start in ``client.py`` and wires the
services into it.  Handler mixins reach everything through ``self.ctx``; services take the
context (or the explicit parts they need) in their constructor.

Contracts of the parts (stable; implemented in the named modules):

* ``store`` (``store.Store``): ``store.db`` is a ``sqlite3.Connection`` (one file in data_dir, WAL,
  synchronous=FULL, autocommit off -- use ``with store.db:`` for a transaction).  Each module creates
  its own tables with ``CREATE TABLE IF NOT EXISTS``.
* ``keys`` (``config_keys.ConfigKeys``): ``keys.get(name)`` -> typed value (int / bool / str /
  list[str] for CSL) or None for an unknown key; ``keys.set(name, text) -> str`` (the
  ChangeConfiguration status: "Accepted" / "RebootRequired" / "Rejected" / "NotSupported");
  ``keys.set_internal(name, value)`` writes a read-only key from code; ``keys.subscribe(fn)`` ->
  ``fn(name, value)`` after every accepted change.
* ``outbox`` (``outbox.Outbox``), all payloads are camelCase dicts exactly as on the wire:
  - ``await outbox.enqueue_transaction_message(action, payload) -> int`` -- StartTransaction,
    StopTransaction, sampled/aligned MeterValues: persisted before it returns, delivered in order
    exactly once; returns the row id.
  - ``outbox.send_soon(action, payload) -> asyncio.Future[dict]`` -- a non-transaction message
    (may overtake the transaction queue); the future resolves to the response payload dict or raises
    ``OutboxError`` (CALLERROR / not delivered).  Safe to call from an ``@on`` handler: it does not
    block.  While registration is Pending only ``triggered=True`` messages go out.
  - ``outbox.send_after_reply(action, payload, triggered=False) -> asyncio.Future[dict]`` -- the same,
    but it is held back until the CALLRESULT of the CALL being handled right now has been sent
    (use from ``@on`` handlers, e.g. TriggerMessage, firmware status).
  - ``await outbox.request(action, payload, timeout=None) -> dict`` -- send a non-transaction CALL
    and wait for the answer (e.g. Authorize).  Never await it inside an ``@on`` handler.
  - ``outbox.online`` -> bool: connected and registration Accepted.
* ``transactions`` (``transactions.TransactionManager``): ``active(connector) -> Transaction | None``
  (``.transaction_id``, ``.id_tag``, ``.connector``, ``.local_id``, ``.remote``, ``.start_time``),
  ``by_id(tx_id)``, ``busy(connector)``, ``await stop(connector, reason)``, ``await stop_all(reason)``,
  ``await authorized(connector, id_tag, parent_id_tag, remote)``, ``listeners`` (fn(connector)).
* ``auth`` (Engineer B, ``auth.AuthorizationService``): ``await authorize(id_tag) -> dict`` (idTagInfo),
  ``update_from_conf(id_tag, id_tag_info)``, ``clear_cache() -> bool``, ``await may_stop(started_by,
  presented, started_parent)``.
* ``reservations`` (Engineer B, ``reservation.ReservationService``): ``reserved_for(connector)`` (alias
  ``reservation_for``), ``await may_use(connector, id_tag, parent)``, ``consume(connector, id_tag, parent)
  -> reservationId | None``, ``subscribe(fn)``.
* ``status`` (``status.StatusReporter``): ``current_status(connector) -> str``, ``notification(connector)
  -> StatusNotification payload``, ``send_now(connector, triggered=False)``, ``refresh()``.
* ``smart_charging``: ``SmartChargingService`` or None; ``on_remote_start_profile(connector, profile)``,
  ``on_transaction_started(connector, local_id)``, ``on_transaction_id(connector, tx_id)``,
  ``on_transaction_ended(connector, local_id)``.
* ``extras``: "availability" (``availability.Availability``), "reset" (async fn(kind)),
  "trigger_boot" (fn), "data_transfer" ({vendorId: {messageId: fn(data) -> (status, data)}}).
* ``registration``: "Unknown" (before boot answer), "Pending", "Accepted", "Rejected".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargepoint.clock import Clock

if TYPE_CHECKING:
    from chargepoint.ocpp.security.service import SecurityService


@dataclass
class OcppContext:
    clock: Clock
    station: Any  # chargepoint.station.Station
    store: Any  # chargepoint.ocpp.store.Store
    keys: Any  # chargepoint.ocpp.config_keys.ConfigKeys
    outbox: Any  # chargepoint.ocpp.outbox.Outbox
    data_dir: Path
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("chargepoint.ocpp"))
    transactions: Any = None  # chargepoint.ocpp.transactions.TransactionManager
    auth: Any = None  # chargepoint.ocpp.auth.AuthorizationService (Engineer B)
    reservations: Any = None  # chargepoint.ocpp.reservation (Engineer B)
    firmware: Any = None  # chargepoint.ocpp.firmware (Engineer B)
    diagnostics: Any = None  # chargepoint.ocpp.diagnostics (Engineer B)
    smart_charging: Any = None  # smart-charging service; None until it exists
    status: Any = None  # chargepoint.ocpp.status.StatusReporter
    options: Any = None  # chargepoint.ocpp.options.OcppOptions
    #: the OCPP 1.6 security extension (certificates, security events, logs, signed firmware)
    security: SecurityService | None = None
    registration: str = "Unknown"
    #: set by Reset: the runtime restarts the OCPP client / application in-process ("Soft"/"Hard").
    restart_kind: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
