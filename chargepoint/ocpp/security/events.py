"""Security events (whitepaper edition 2, §8) and the security log.

Every event is written to the security log (table ``security_log``) and, in the same SQLite
transaction, queued as a SecurityEventNotification in the persistent transaction-message queue
(``tx_outbox``): it survives a disconnect or a SIGKILL and is delivered once, in order, like a
StartTransaction.  The whitepaper requires guaranteed delivery of the critical events; this charge
point pushes every event (a CSMS developer wants to see a failed authentication too) and marks the
critical ones in the log.  ``techInfo`` never carries a secret: callers pass descriptions, not values.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chargepoint.clock import Clock
from chargepoint.ocpp.errors import format_datetime, parse_rfc3339
from chargepoint.ocpp.store import Db

log = logging.getLogger("chargepoint.ocpp.security")

#: whitepaper §8: the events marked critical SHALL be pushed to the Central System.
CRITICAL_EVENTS = frozenset({
    "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot", "SecurityLogWasCleared",
    "MemoryExhaustion", "TamperDetectionActivated",
})
EVENT_TYPES = frozenset({
    *CRITICAL_EVENTS,
    "FailedToAuthenticateAtCentralSystem", "CentralSystemFailedToAuthenticate",
    "ReconfigurationOfSecurityParameters", "InvalidMessages", "AttemptedReplayAttacks",
    "InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate", "InvalidCentralSystemCertificate",
    "InvalidChargePointCertificate", "InvalidTLSVersion", "InvalidTLSCipherSuite",
})
TECH_INFO_MAX = 255  # SecurityEventNotification.req techInfo maxLength
#: the security log keeps this many newest events
LOG_CAPACITY = 10_000


class TransactionQueue(Protocol):
    """The part of the outbox used here (``outbox.Outbox``)."""

    def insert_transaction_message(self, db: Db, action: str, payload: dict[str, object],
                                   local_tx: int | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    id: int
    type: str
    timestamp: datetime
    tech_info: str | None
    critical: bool

    def payload(self) -> dict[str, object]:
        """The SecurityEventNotification.req payload."""
        p: dict[str, object] = {"type": self.type, "timestamp": format_datetime(self.timestamp)}
        if self.tech_info:
            p["techInfo"] = self.tech_info
        return p

    def record(self) -> dict[str, object]:
        """One line of the exported security log."""
        return {"id": self.id, "timestamp": format_datetime(self.timestamp), "type": self.type,
                "critical": self.critical, "techInfo": self.tech_info}


class SecurityEventLog:
    def __init__(self, clock: Clock, db: Db, queue: TransactionQueue) -> None:
        self.clock = clock
        self.db = db
        self.queue = queue

    def record(self, event_type: str, tech_info: str | None = None) -> SecurityEvent:
        """Log the event and queue its notification (one SQLite transaction)."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"{event_type!r} is not a security event of the whitepaper")
        info = tech_info[:TECH_INFO_MAX] if tech_info else None
        when = self.clock.now()
        critical = event_type in CRITICAL_EVENTS
        with self.db:
            cur = self.db.execute(
                "INSERT INTO security_log(cp_id, type, timestamp, tech_info, critical) VALUES (?,?,?,?,?)",
                (self.db.cp_id, event_type, format_datetime(when), info, int(critical)),
            )
            event = SecurityEvent(int(cur.lastrowid or 0), event_type, when, info, critical)
            self.queue.insert_transaction_message(self.db, "SecurityEventNotification", event.payload())
            # keep this charge point's last LOG_CAPACITY events (ids are shared by the fleet's members)
            self.db.execute("DELETE FROM security_log WHERE cp_id=? AND id <= (SELECT id FROM security_log"
                            " WHERE cp_id=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                            (self.db.cp_id, self.db.cp_id, LOG_CAPACITY))
        log.warning("security event %s%s", event_type, f": {info}" if info else "")
        return event

    def events(self, oldest: datetime | None = None, latest: datetime | None = None) -> list[SecurityEvent]:
        rows = self.db.execute("SELECT id, type, timestamp, tech_info, critical FROM security_log WHERE cp_id=?"
                               " ORDER BY id", (self.db.cp_id,))
        out = []
        for rid, etype, stamp, info, critical in rows:
            when = parse_rfc3339(stamp)
            if (oldest is not None and when < oldest) or (latest is not None and when > latest):
                continue
            out.append(SecurityEvent(rid, etype, when, info, bool(critical)))
        return out

    def export_jsonl(self, oldest: datetime | None = None, latest: datetime | None = None) -> str:
        """The security log as JSON lines (the SecurityLog of GetLog)."""
        return "".join(json.dumps(e.record()) + "\n" for e in self.events(oldest, latest))
