"""SecurityProfile changes (whitepaper edition 2, A05 / A00.FR.005).

ChangeConfiguration(SecurityProfile) only goes upward and only when the prerequisites exist
(``ConfigKeys.validate`` with the client's ``security_prerequisites``); the client then reconnects
with the new profile after the reply.  This module remembers the profile it came from (table
``security_state``, so a restart in between keeps it) until a connection with the new profile
succeeded.  When :data:`FALLBACK_ATTEMPTS` connection attempts in a row fail with the new profile,
the previous profile is restored -- the only way the profile ever goes down -- and the caller logs a
security event.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from chargepoint.ocpp.store import Db

log = logging.getLogger("chargepoint.ocpp.security")

#: connection attempts with a new profile before falling back to the previous one
FALLBACK_ATTEMPTS = 3


class Keys(Protocol):
    def get(self, name: str) -> Any: ...

    def set_internal(self, name: str, value: Any) -> None: ...


class ProfileSwitch:
    def __init__(self, db: Db, keys: Keys, attempts: int = FALLBACK_ATTEMPTS) -> None:
        self.db = db
        self.keys = keys
        self.attempts_allowed = attempts
        self.failures = 0
        self.reverting = False

    @property
    def previous(self) -> int | None:
        """The profile to fall back to while a switch is unconfirmed."""
        row = self.db.execute("SELECT value FROM security_state WHERE cp_id=? AND name='profile_previous'",
                              (self.db.cp_id,)).fetchone()
        return int(row[0]) if row is not None else None

    def on_key_change(self, name: str, value: Any, old: int) -> None:
        """SecurityProfile changed from ``old`` to ``value``: remember ``old`` until confirmed."""
        if name != "SecurityProfile" or self.reverting or int(value) == old:
            return
        if self.previous is None:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO security_state(cp_id, name, value)"
                                " VALUES (?, 'profile_previous', ?)", (self.db.cp_id, str(old)))
        self.failures = 0
        log.info("SecurityProfile %s -> %s: applied with the next connection", old, value)

    def connected(self) -> bool:
        """A connection succeeded; True when it confirmed a switch."""
        self.failures = 0
        if self.previous is None:
            return False
        with self.db:
            self.db.execute("DELETE FROM security_state WHERE cp_id=? AND name='profile_previous'", (self.db.cp_id,))
        log.info("SecurityProfile %s confirmed by a successful connection", self.keys.get("SecurityProfile"))
        return True

    def connect_failed(self) -> tuple[int, int] | None:
        """A connection attempt failed; (new, restored) profiles when it fell back."""
        previous = self.previous
        if previous is None:
            return None
        self.failures += 1
        if self.failures < self.attempts_allowed:
            return None
        current = int(self.keys.get("SecurityProfile"))
        self.reverting = True
        try:
            self.keys.set_internal("SecurityProfile", previous)
        finally:
            self.reverting = False
        with self.db:
            self.db.execute("DELETE FROM security_state WHERE cp_id=? AND name='profile_previous'", (self.db.cp_id,))
        self.failures = 0
        log.warning("SecurityProfile %d could not connect %d times: back to profile %d",
                    current, self.attempts_allowed, previous)
        return current, previous
