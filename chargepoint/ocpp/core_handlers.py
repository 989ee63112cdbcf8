"""Core-profile CSMS -> CP handlers (mixin of the session; everything through ``self.ctx``).

Handlers answer at once; work that sends CALLs or takes time (starting/stopping transactions,
resets) runs after the CALLRESULT has been sent (``ctx.outbox.after_reply``).  The outbox also holds
back every CP-initiated CALL while a CALL is being handled, so a reply is never overtaken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chargepoint.controller.types import RequestUnlock
from chargepoint.ocpp.errors import to_float
from chargepoint.ocpp.library import (
    Action,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
    call_result,
    on,
)

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

UNLOCK_WAIT_S = 2.0


class CoreHandlers:
    ctx: OcppContext

    # -- helpers ---------------------------------------------------------------------------
    def _connector_ok(self, connector_id: object, allow_zero: bool = True) -> bool:
        n = self.ctx.station.connectors
        return isinstance(connector_id, int) and (0 if allow_zero else 1) <= connector_id <= n

    def _pending(self) -> bool:
        return self.ctx.registration == "Pending"

    # -- ChangeAvailability ------------------------------------------------------------------
    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int, type: str, **_: Any) -> call_result.ChangeAvailability:
        if not self._connector_ok(connector_id):
            return call_result.ChangeAvailability(status="Rejected")
        status = await self.ctx.availability.request(connector_id, type == "Operative", self.ctx.transactions.busy)
        return call_result.ChangeAvailability(status=status)

    # -- ChangeConfiguration / GetConfiguration ----------------------------------------------
    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> call_result.ChangeConfiguration:
        status, _value, reason = self.ctx.keys.validate(key, value)
        if status in ("Accepted", "RebootRequired"):
            status = self.ctx.keys.set(key, value)
        else:
            self.ctx.log.info("ChangeConfiguration %s refused: %s", key, reason)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> call_result.GetConfiguration:
        entries, unknown = self.ctx.keys.configuration(key)
        return call_result.GetConfiguration(configuration_key=entries, unknown_key=unknown or None)

    # -- ClearCache --------------------------------------------------------------------------
    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        auth = self.ctx.auth
        ok = bool(auth.clear_cache()) if auth is not None else False
        return call_result.ClearCache(status="Accepted" if ok else "Rejected")

    # -- DataTransfer ------------------------------------------------------------------------
    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: str | None = None,
                               **_: Any) -> call_result.DataTransfer:
        vendor = self.ctx.data_transfer.get(vendor_id)
        if vendor is None:
            return call_result.DataTransfer(status="UnknownVendorId")
        fn = vendor.get(message_id or "")
        if fn is None:
            return call_result.DataTransfer(status="UnknownMessageId")
        status, out = fn(data)
        return call_result.DataTransfer(status=status, data=out)

    # -- RemoteStart / RemoteStop ------------------------------------------------------------
    @on(Action.remote_start_transaction)
    async def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None,
                                          charging_profile: dict[str, Any] | None = None,
                                          **_: Any) -> call_result.RemoteStartTransaction:
        rejected = call_result.RemoteStartTransaction(status="Rejected")
        if self._pending():
            return rejected
        tm = self.ctx.transactions
        station = self.ctx.station
        if connector_id is None:
            free = [c for c in range(1, station.connectors + 1) if not tm.busy(c) and station.snapshot(c).available]
            plugged = [c for c in free if station.snapshot(c).ev_connected]
            if not free:
                return rejected
            connector_id = (plugged or free)[0]
        if not self._connector_ok(connector_id, allow_zero=False):
            return rejected
        snap = station.snapshot(connector_id)
        if tm.busy(connector_id) or snap.faults or not self.ctx.availability.effective(connector_id):
            return rejected
        if not self._may_use_reserved(connector_id, id_tag):
            return rejected
        profile = None
        if charging_profile is not None:
            profile = to_float(charging_profile)
            if profile.get("charging_profile_purpose") != "TxProfile" or profile.get("transaction_id") is not None:
                return rejected
            sc = self.ctx.smart_charging
            if sc is not None:
                verdict = sc.check_remote_start_profile(profile)
                if not verdict.accepted:
                    self.ctx.log.info("RemoteStart rejected: chargingProfile %s", verdict.reason)
                    return rejected
        c = connector_id

        async def start() -> None:
            parent = None
            if self.ctx.keys.get("AuthorizeRemoteTxRequests"):
                info = await tm.authorize_tag(id_tag)
                if info.get("status") != "Accepted":
                    self.ctx.log.info("RemoteStart for %s not authorised: %s", id_tag, info.get("status"))
                    return
                parent = info.get("parentIdTag")
            sc = self.ctx.smart_charging
            if profile is not None:
                if sc is not None:
                    sc.on_remote_start_profile(c, profile)
                else:
                    self.ctx.log.warning("RemoteStart chargingProfile ignored: no smart charging")
            await tm.authorized(c, id_tag, parent, remote=True)

        self.ctx.outbox.after_reply(start)
        return call_result.RemoteStartTransaction(status="Accepted")

    def _may_use_reserved(self, connector: int, id_tag: str) -> bool:
        """A reserved connector starts only for the reservation's idTag or a tag whose parentIdTag
        (known locally: local list or cache -- no CALL from inside a handler) matches."""
        reservations = self.ctx.reservations
        reservation = reservations.reserved_for(connector) if reservations is not None else None
        if reservation is None or reservation.id_tag == id_tag:
            return True
        if reservation.parent_id_tag is None or self.ctx.auth is None:
            return False
        info = self.ctx.auth.local_info(id_tag)
        return info is not None and info.parent_id_tag == reservation.parent_id_tag

    @on(Action.remote_stop_transaction)
    async def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> call_result.RemoteStopTransaction:
        if self._pending():
            return call_result.RemoteStopTransaction(status="Rejected")
        tm = self.ctx.transactions
        tx = tm.by_id(transaction_id)
        if tx is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        c = tx.connector
        self.ctx.outbox.after_reply(lambda: tm.stop(c, "Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    # -- Reset -------------------------------------------------------------------------------
    @on(Action.reset)
    async def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        if type not in ("Soft", "Hard"):
            raise PropertyConstraintViolationError(description=f"type: {type!r} is not Soft or Hard")
        reset = self.ctx.reset
        if reset is None:
            return call_result.Reset(status="Rejected")
        self.ctx.outbox.after_reply(lambda: reset(type))
        return call_result.Reset(status="Accepted")

    # -- UnlockConnector ---------------------------------------------------------------------
    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        if not isinstance(connector_id, int):
            raise TypeConstraintViolationError(description="connectorId must be an integer")
        station = self.ctx.station
        caps = station.capabilities
        if not self._connector_ok(connector_id, allow_zero=False) or not caps.has_lock or caps.fixed_cable:
            return call_result.UnlockConnector(status="NotSupported")
        await self.ctx.transactions.stop(connector_id, "UnlockCommand")
        await station.submit(RequestUnlock(connector_id))
        await self.ctx.transactions.release_lock(connector_id)  # a DeAuthorized hold ends too
        clock = self.ctx.clock
        deadline = clock.monotonic() + UNLOCK_WAIT_S
        while clock.monotonic() < deadline:
            snap = station.snapshot(connector_id)
            if not snap.locked:
                return call_result.UnlockConnector(status="Unlocked")
            await clock.sleep(0.05)
        return call_result.UnlockConnector(status="UnlockFailed")
