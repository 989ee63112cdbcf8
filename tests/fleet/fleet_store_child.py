"""A process that writes to a fleet store until it is killed (the crash test of the shared store).

    python -m tests.fleet.fleet_store_child <db file> <members>

Every member runs a loop of blocks, each one ``with db:``: queue the next transaction message (its
sequence number in the payload) into ``tx_outbox`` and count it in the kv table -- the two writes
must survive together or not at all.  After a block, the member waits for its write's group commit
(``view.durable()``, what the websocket does before a frame leaves) and then prints
``ack <cp_id> <seq>``: what was "sent".  On start it resumes from what the database holds.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from chargepoint.clock import RealClock
from chargepoint.fleet.store import FleetStore, FleetView
from chargepoint.ocpp.config_keys import ConfigKeys
from chargepoint.ocpp.outbox import Outbox
from chargepoint.ocpp.store import Store


async def member(clock: RealClock, store: Store, out: asyncio.Queue[str]) -> None:
    db = store.db
    assert isinstance(db, FleetView)
    outbox = Outbox(clock, db, ConfigKeys(db))
    seq = int(store.get_kv("crash", "count", 0))
    while True:
        seq += 1
        with db:
            outbox.insert_transaction_message(db, "MeterValues", {"connectorId": 1, "seq": seq})
            store.set_kv("crash", "count", seq)  # a nested block: a savepoint in the savepoint
        await db.durable()
        out.put_nowait(f"ack {db.cp_id} {seq}")
        await clock.sleep(0.001 * (hash(db.cp_id) % 5))


async def main(clock: RealClock, path: Path, members: int) -> None:
    fleet = FleetStore(clock, path, max_delay_s=0.005)
    await fleet.start()
    out: asyncio.Queue[str] = asyncio.Queue()
    tasks = [asyncio.create_task(member(clock, fleet.open(f"CP-{i}"), out)) for i in range(members)]
    print(json.dumps({"ready": members}), flush=True)
    while True:
        line = await out.get()
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done():
                    t.result()


if __name__ == "__main__":
    clock = RealClock()
    clock.run(main(clock, Path(sys.argv[1]), int(sys.argv[2])))
