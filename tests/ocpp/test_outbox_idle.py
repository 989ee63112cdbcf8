"""The outbox pump of an idle charge point: no query of its table per wake-up (a fleet of 10,000
heartbeats 170 times a second), and a message queued afterwards is still sent."""

from __future__ import annotations

import asyncio

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.config_keys import ConfigKeys
from chargepoint.ocpp.outbox import Outbox
from chargepoint.ocpp.store import Store


def test_an_idle_outbox_does_not_query_its_table_per_heartbeat_and_still_sends_what_is_queued(tmp_path):
    """The pump asks for the head of ``tx_outbox`` each time it wakes; for an idle charge point (most
    of a fleet) the answer "empty" is kept until the next insert -- and an insert is never missed."""
    store = Store.connect(tmp_path)
    clock = VirtualClock()
    selects: list[str] = []
    store.db.set_trace_callback(lambda sql: selects.append(sql) if sql.startswith("SELECT") and "FROM tx_outbox "
                                in sql else None)  # type: ignore[attr-defined]
    keys = ConfigKeys(store.db)
    keys.set("HeartbeatInterval", "10")
    sent: list[str] = []

    async def send(action: str, payload: dict, unique_id: str) -> dict:
        sent.append(action)
        return {"currentTime": "2026-01-01T00:00:00Z"} if action == "Heartbeat" else {}

    async def main() -> None:
        outbox = Outbox(clock, store.db, keys)
        outbox.set_mode("accepted")
        pump = asyncio.create_task(outbox.run(send))
        await clock.sleep(105)
        assert sent.count("Heartbeat") == 10 and len(selects) == 1, (sent, selects)
        await outbox.enqueue_transaction_message("MeterValues", {"connectorId": 1, "meterValue": []})
        await clock.sleep(1)
        assert sent[-1] == "MeterValues" and outbox.pending_transaction_messages() == 0
        await clock.cancel_and_wait(pump)

    clock.run(main())
    store.close()
