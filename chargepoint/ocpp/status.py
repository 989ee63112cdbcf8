"""StatusNotification: reports the status of each connector (decided by :mod:`.rules.status`).

Changes are reported after they have been stable for MinimumStatusDuration.  After BootNotification
Accepted every connector (0..n) is reported; after a reconnect only those whose status differs from
the last one reported (no history replay).  A notification that could not be delivered is forgotten,
so the next refresh reports the then-current status.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chargepoint.ocpp.errors import format_datetime
from chargepoint.ocpp.outbox import OutboxError
from chargepoint.ocpp.rules.status import Activity, ConnectorStatus, station_status_of, status_of

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

#: (status, errorCode, info) -- kept as the name of the reporter's values
Status = ConnectorStatus


class StatusReporter:
    def __init__(self, ctx: OcppContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.station = ctx.station
        self._last_sent: dict[int, ConnectorStatus] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.sent: list[tuple[int, str, str]] = []  # history (connector, status, errorCode), for tests/status

    # -- inputs of the mapping ------------------------------------------------------------------
    def compute(self, connector: int) -> ConnectorStatus:
        ctx = self.ctx
        operative = ctx.availability.effective(connector)
        if connector == 0:
            return station_status_of(operative)
        tm = ctx.transactions
        activity = Activity(transaction=tm.active(connector) is not None,
                            authorized=tm.pending(connector) is not None,
                            finishing=tm.finishing(connector))
        res = ctx.reservations
        reserved = res is not None and res.reserved_for(connector) is not None
        return status_of(self.station.snapshot(connector), activity, reserved, operative,
                         self._board_problem(connector))

    def _board_problem(self, connector: int) -> tuple[str, str] | None:
        """(code, short text) of a board that explains its ``board`` fault on ``connector``."""
        ask = getattr(getattr(self.station, "board", None), "connector_problem", None)
        return ask(connector) if ask is not None else None

    def current_status(self, connector: int) -> str:
        return self.compute(connector).status

    # -- reporting ------------------------------------------------------------------------------
    def on_accepted(self, first: bool) -> None:
        """Registration Accepted (first: after BootNotification) or a reconnect."""
        if first:
            self._last_sent.clear()
            for c in range(self.station.connectors + 1):
                self._send(c, self.compute(c))
        else:
            self.refresh()

    def refresh(self, *_: object) -> None:
        """Something changed: report connectors whose status differs, after MinimumStatusDuration."""
        if not self.ctx.outbox.online:
            return
        delay = int(self.ctx.keys.get("MinimumStatusDuration") or 0)
        if delay <= 0:
            self._flush()
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.clock.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if not self.ctx.outbox.online:
            return
        for c in range(self.station.connectors + 1):
            st = self.compute(c)
            last = self._last_sent.get(c)
            if last is None or last[:2] != st[:2]:
                self._send(c, st)

    def notification(self, connector: int, st: ConnectorStatus | None = None) -> dict[str, Any]:
        """The StatusNotification.req payload of ``connector`` now."""
        status, code, info, vendor_code = st if st is not None else self.compute(connector)
        payload: dict[str, Any] = {"connectorId": connector, "errorCode": code, "status": status,
                                   "timestamp": format_datetime(self.clock.now())}
        if info:
            payload["info"] = info[:50]
        if vendor_code:
            payload["vendorErrorCode"] = vendor_code[:50]
        return payload

    def _send(self, connector: int, st: ConnectorStatus, triggered: bool = False) -> asyncio.Future[dict[str, Any]]:
        payload = self.notification(connector, st)
        self._last_sent[connector] = st
        self.sent.append((connector, st.status, st.error_code))
        fut = self.ctx.outbox.send_soon("StatusNotification", payload, triggered=triggered)

        def done(f: asyncio.Future[dict[str, Any]]) -> None:
            if f.cancelled() or isinstance(f.exception(), OutboxError):
                # not delivered: forget it so that the next refresh reports the then-current status
                if self._last_sent.get(connector) == st:
                    del self._last_sent[connector]

        fut.add_done_callback(done)
        return fut

    def send_now(self, connector: int, triggered: bool = False) -> asyncio.Future[dict[str, Any]]:
        """Report ``connector``'s current status now (TriggerMessage)."""
        return self._send(connector, self.compute(connector), triggered=triggered)
