"""SQLite persistence of the OCPP side: one file in data_dir, WAL journal, synchronous=FULL.

Each module creates its own tables (``CREATE TABLE IF NOT EXISTS``).  The connection runs with
Python's default implicit transactions: group writes with ``with store.db:`` (commit on exit).
A small key/value table (:meth:`Store.get_kv` / :meth:`Store.set_kv`) serves simple persistent
state (availability, boot data, counters).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

DB_FILE = "ocpp.sqlite3"


class Store:
    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        with self.db:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                " PRIMARY KEY (ns, key))"
            )

    @classmethod
    def connect(cls, path: Path | str) -> Store:
        """Open (create) the store.  ``path`` is the data directory or a ``.sqlite3`` file."""
        p = Path(path)
        if p.suffix not in (".sqlite3", ".db", ".sqlite"):
            p.mkdir(parents=True, exist_ok=True)
            p = p / DB_FILE
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(p), check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return cls(db, p)

    def close(self) -> None:
        self.db.close()

    # -- key/value ------------------------------------------------------------------------
    def get_kv(self, ns: str, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE ns=? AND key=?", (ns, key)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_kv(self, ns: str, key: str, value: Any) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO kv(ns, key, value) VALUES (?,?,?) ON CONFLICT(ns, key) DO UPDATE SET value=excluded.value",
                (ns, key, json.dumps(value)),
            )

    def delete_kv(self, ns: str, key: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM kv WHERE ns=? AND key=?", (ns, key))

    def all_kv(self, ns: str) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM kv WHERE ns=?", (ns,))}
