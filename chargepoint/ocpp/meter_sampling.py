"""Periodic MeterValues of running transactions (MeterValueSampleInterval, counted from the
transaction start) and MeterValues sent on request (clock-aligned, TriggerMessage).

A change of MeterValueSampleInterval (0 = disabled) wakes every sampler: the next boundary is
computed from the new value, and no sample is sent on the old schedule.  A MeterValues of a running
transaction is a transaction message (persisted, with the latest meter reading noted in its row);
others (connector 0, idle connectors) are plain messages sent only while online.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chargepoint.ocpp.meter_values import meter_value, sampled_values

if TYPE_CHECKING:
    from chargepoint.ocpp.transactions import Transaction, TransactionManager


class MeterSampling:
    def __init__(self, manager: TransactionManager) -> None:
        self.tm = manager
        self._wakeups: set[asyncio.Event] = set()  # samplers waiting: set on an interval change
        manager.keys.subscribe(self._on_key_change)

    def _on_key_change(self, name: str, value: object) -> None:
        if name == "MeterValueSampleInterval":
            for ev in list(self._wakeups):
                ev.set()

    async def run(self, tx: Transaction) -> None:
        """The sampler of ``tx``: until the transaction is no longer the active one of its connector."""
        tm = self.tm
        clock = tm.clock
        while tm.active(tx.connector) is tx:
            interval = int(tm.keys.get("MeterValueSampleInterval") or 0)
            wake = asyncio.Event()
            self._wakeups.add(wake)
            try:
                if interval <= 0:
                    await wake.wait()
                    continue
                k = int((clock.monotonic() - tx.start_mono) / interval + 1e-6) + 1
                delay = tx.start_mono + k * interval - clock.monotonic()
                try:
                    async with asyncio.timeout(max(0.0, delay)):
                        await wake.wait()
                    continue  # the interval changed
                except TimeoutError:
                    pass
            finally:
                self._wakeups.discard(wake)
            if tm.active(tx.connector) is not tx:
                return
            await self.send(tx.connector, "Sample.Periodic", list(tm.keys.get("MeterValuesSampledData") or []))

    async def send(self, connector: int, context: str, measurands: list[str]) -> None:
        """Queue a MeterValues of ``connector`` now: a transaction message while a transaction
        runs, otherwise a plain message (connector 0 and idle connectors)."""
        tm = self.tm
        values = sampled_values(tm.station, connector, measurands, context)
        if not values:
            return
        now = tm.clock.now()
        payload: dict[str, Any] = {"connectorId": connector, "meterValue": [meter_value(now, values)]}
        tx = tm.active(connector) if connector else None
        if tx is None:
            if tm.outbox.online:
                tm.outbox.send_soon("MeterValues", payload)
            return
        payload["transactionId"] = tx.transaction_id if tx.transaction_id is not None else -1
        meter = tm.station.latest_meter(connector)
        with tm.db:
            if meter is not None:
                tm.note_meter(tx, meter)
            tm.outbox.insert_transaction_message(tm.db, "MeterValues", payload, tx.local_id)
