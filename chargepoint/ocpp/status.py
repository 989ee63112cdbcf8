"""StatusNotification: the OCPP status of each connector derived from controller state.

Mapping (OCPP 1.6 §4.9 / §7.7):

* a fault -> Faulted with the fault's ChargePointErrorCode (FAULT_ERROR_CODE);
* Inoperative (ChangeAvailability) and no transaction -> Unavailable;
* transaction running: C2 -> Charging; PWM offered but the EV does not draw (B2) or the EV side
  disconnected -> SuspendedEV; energy withheld by the EVSE (B1/C1: no PWM) -> SuspendedEVSE;
* no transaction: EV plugged after a transaction -> Finishing; plugged or authorised waiting for the
  plug -> Preparing; reserved -> Reserved; else Available.
* connector 0: Unavailable when the station is Inoperative, else Available.

Changes are reported after they have been stable for MinimumStatusDuration.  After BootNotification
Accepted every connector (0..n) is reported; after a reconnect only those whose status differs from
the last one reported (no history replay).
"""

from __future__ import annotations

from typing import Any

from chargepoint.controller.types import IecState, SubState
from chargepoint.ocpp.error_codes import FAULT_ERROR_CODE
from chargepoint.ocpp.errors import format_datetime
from chargepoint.ocpp.outbox import OutboxError

Status = tuple[str, str, str | None]  # (status, errorCode, info)


class StatusReporter:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.station = ctx.station
        self._last_sent: dict[int, Status] = {}
        self._timer: Any = None
        self.sent: list[tuple[int, str, str]] = []  # history (connector, status, errorCode), for tests/status

    # -- mapping ------------------------------------------------------------------------------
    def compute(self, connector: int) -> Status:
        ctx = self.ctx
        avail = ctx.extras.get("availability")
        if connector == 0:
            if avail is not None and not avail.effective(0):
                return ("Unavailable", "NoError", None)
            return ("Available", "NoError", None)
        snap = self.station.snapshot(connector)
        tm = ctx.transactions
        tx = tm.active(connector) if tm is not None else None
        if snap.faults:
            fault = sorted(snap.faults, key=str)[0]
            return ("Faulted", FAULT_ERROR_CODE.get(fault, "OtherError"), str(fault))
        if tx is not None:
            if not snap.ev_connected:
                return ("SuspendedEV", "NoError", "EV side disconnected")
            if snap.substate == SubState.C2:
                return ("Charging", "NoError", None)
            if snap.substate in (SubState.B2,) or (snap.iec_state == IecState.B and snap.offered_current_a > 0):
                return ("SuspendedEV", "NoError", None)
            return ("SuspendedEVSE", "NoError", None)
        if avail is not None and not avail.effective(connector):
            return ("Unavailable", "NoError", None)
        if not snap.available:
            return ("Unavailable", "NoError", None)
        if snap.ev_connected:
            if tm is not None and connector in tm.finishing:
                return ("Finishing", "NoError", None)
            return ("Preparing", "NoError", None)
        if tm is not None and tm.pending(connector) is not None:
            return ("Preparing", "NoError", None)
        res = ctx.reservations
        if res is not None and getattr(res, "reservation_for", None) is not None and res.reservation_for(connector):
            return ("Reserved", "NoError", None)
        return ("Available", "NoError", None)

    def current_status(self, connector: int) -> str:
        return self.compute(connector)[0]

    # -- reporting ------------------------------------------------------------------------------
    def on_accepted(self, first: bool) -> None:
        """Registration Accepted (first: after BootNotification) or a reconnect."""
        if first:
            self._last_sent.clear()
            for c in range(self.station.connectors + 1):
                self._send(c, self.compute(c))
        else:
            self.refresh()

    def refresh(self, *_: Any) -> None:
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
            if self._last_sent.get(c, (None, None, None))[:2] != st[:2]:
                self._send(c, st)

    def notification(self, connector: int, st: Status | None = None) -> dict[str, Any]:
        """The StatusNotification.req payload of ``connector`` now."""
        status, code, info = st if st is not None else self.compute(connector)
        payload: dict[str, Any] = {"connectorId": connector, "errorCode": code, "status": status,
                                   "timestamp": format_datetime(self.clock.now())}
        if info:
            payload["info"] = info[:50]
        return payload

    def _send(self, connector: int, st: Status, triggered: bool = False) -> Any:
        status, code, _info = st
        payload = self.notification(connector, st)
        self._last_sent[connector] = st
        self.sent.append((connector, status, code))
        fut = self.ctx.outbox.send_soon("StatusNotification", payload, triggered=triggered)

        def done(f: Any) -> None:
            if f.cancelled() or isinstance(f.exception(), OutboxError):
                # not delivered: forget it so that the next refresh reports the then-current status
                if self._last_sent.get(connector) == st:
                    del self._last_sent[connector]

        fut.add_done_callback(done)
        return fut

    def send_now(self, connector: int, triggered: bool = False) -> Any:
        """Report ``connector``'s current status now (TriggerMessage)."""
        return self._send(connector, self.compute(connector), triggered=triggered)
