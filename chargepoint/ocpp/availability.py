"""Operative / Inoperative per connector (ChangeAvailability), persisted across restarts.

Connector 0 stands for the whole station: a connector is effectively available when both it and
connector 0 are Operative.  A change requested while a transaction runs on an affected connector
is *Scheduled* and applied when that transaction ends.
"""

from __future__ import annotations

from collections.abc import Callable

from chargepoint.controller.types import SetAvailability
from chargepoint.ocpp.ports import StationView
from chargepoint.ocpp.store import Store

NS = "availability"


class Availability:
    def __init__(self, store: Store, station: StationView, connectors: int) -> None:
        self.store = store
        self.station = station
        self.connectors = connectors
        self._wanted: dict[int, bool] = {c: bool(store.get_kv(NS, str(c), True)) for c in range(connectors + 1)}
        self._scheduled: dict[int, bool] = {int(k): bool(v) for k, v in store.all_kv(NS + ".scheduled").items()}
        self.on_change: Callable[[], None] = lambda: None

    def operative(self, connector: int) -> bool:
        """Requested state of the connector itself (connector 0: the station)."""
        return self._wanted.get(connector, True)

    def effective(self, connector: int) -> bool:
        if connector == 0:
            return self._wanted[0]
        return self._wanted[0] and self._wanted.get(connector, True)

    def scheduled(self, connector: int) -> bool | None:
        return self._scheduled.get(connector)

    async def apply_all(self) -> None:
        """Push the effective availability of every connector to the controller (start-up)."""
        for c in range(1, self.connectors + 1):
            await self.station.submit(SetAvailability(c, self.effective(c)))

    async def request(self, connector: int, operative: bool, busy: Callable[[int], bool]) -> str:
        """ChangeAvailability: "Accepted" or "Scheduled" (a transaction runs on an affected connector)."""
        affected = range(1, self.connectors + 1) if connector == 0 else [connector]
        if any(busy(c) for c in affected):
            self._scheduled[connector] = operative
            self.store.set_kv(NS + ".scheduled", str(connector), operative)
            return "Scheduled"
        await self._set(connector, operative)
        return "Accepted"

    async def _set(self, connector: int, operative: bool) -> None:
        self._wanted[connector] = operative
        self.store.set_kv(NS, str(connector), operative)
        affected = range(1, self.connectors + 1) if connector == 0 else [connector]
        for c in affected:
            await self.station.submit(SetAvailability(c, self.effective(c)))
        self.on_change()

    async def transaction_ended(self, connector: int, busy: Callable[[int], bool]) -> None:
        """Apply scheduled changes that no longer wait for a transaction."""
        for target in (connector, 0):
            if target not in self._scheduled:
                continue
            affected = range(1, self.connectors + 1) if target == 0 else [target]
            if any(busy(c) for c in affected):
                continue
            operative = self._scheduled.pop(target)
            self.store.delete_kv(NS + ".scheduled", str(target))
            await self._set(target, operative)

