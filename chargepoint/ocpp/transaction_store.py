"""Persistence of transactions: the ``ocpp_transactions`` table of the OCPP store.

One row per transaction (``local_id``): who started it, meterStart, the CSMS's transactionId once
known (-1 when its StartTransaction was dropped), the last persisted meter reading (what a PowerLoss
stop reports), the Transaction.Begin values of StopTransaction.transactionData, and whether (and
why) it stopped.  Writes that go with an outbox message take the caller's SQLite transaction
(``db``), so the row change and the queued message commit together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chargepoint.ocpp.store import Db


@dataclass(frozen=True, slots=True)
class OpenRow:
    """A transaction row not yet stopped (found at start-up: stopped with PowerLoss)."""

    local_id: int
    connector: int
    id_tag: str
    meter_start: int
    start_time: str
    last_meter_wh: float | None
    last_meter_time: str | None
    begin_values: list[dict[str, Any]]


class TransactionStore:
    def __init__(self, db: Db) -> None:
        self.db = db
        self.cp = db.cp_id

    def open_rows(self) -> list[OpenRow]:
        rows = self.db.execute(
            "SELECT local_id, connector, id_tag, meter_start, start_time, last_meter_wh, last_meter_time,"
            " begin_values FROM ocpp_transactions WHERE cp_id=? AND stopped=0 ORDER BY local_id", (self.cp,)
        ).fetchall()
        return [OpenRow(r[0], r[1], r[2], int(r[3]), r[4], r[5], r[6], json.loads(r[7]) if r[7] else [])
                for r in rows]

    def insert(self, db: Db, connector: int, id_tag: str, parent_id_tag: str | None,
               reservation_id: int | None, meter_start: int, start_time: str,
               begin_values: list[dict[str, Any]]) -> int:
        """A started transaction (inside the caller's SQLite transaction); returns its local id."""
        cur = db.execute(
            "INSERT INTO ocpp_transactions(cp_id, connector, id_tag, parent_id_tag, reservation_id, meter_start,"
            " start_time, last_meter_wh, last_meter_time, begin_values) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (self.cp, connector, id_tag, parent_id_tag, reservation_id, meter_start, start_time, meter_start, start_time,
             json.dumps(begin_values)),
        )
        return int(cur.lastrowid or 0)

    def begin_values(self, local_id: int) -> list[dict[str, Any]]:
        row = self.db.execute("SELECT begin_values FROM ocpp_transactions WHERE local_id=?", (local_id,)).fetchone()
        return list(json.loads(row[0])) if row and row[0] else []

    def transaction_id(self, local_id: int) -> int | None:
        row = self.db.execute("SELECT transaction_id FROM ocpp_transactions WHERE local_id=?", (local_id,)).fetchone()
        return None if row is None else row[0]

    def set_transaction_id(self, db: Db, local_id: int, transaction_id: object) -> None:
        db.execute("UPDATE ocpp_transactions SET transaction_id=? WHERE local_id=?", (transaction_id, local_id))

    def note_meter(self, db: Db, local_id: int, energy_wh: float, when: str) -> None:
        db.execute("UPDATE ocpp_transactions SET last_meter_wh=?, last_meter_time=? WHERE local_id=?",
                   (energy_wh, when, local_id))

    def mark_stopped(self, db: Db, local_id: int, reason: str, meter_stop: int | None = None) -> None:
        if meter_stop is None:
            db.execute("UPDATE ocpp_transactions SET stopped=1, stop_reason=? WHERE local_id=?", (reason, local_id))
        else:
            db.execute("UPDATE ocpp_transactions SET stopped=1, stop_reason=?, last_meter_wh=? WHERE local_id=?",
                       (reason, meter_stop, local_id))
