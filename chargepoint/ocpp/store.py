"""SQLite persistence of the OCPP side: the :class:`Db` the OCPP modules write through, and the
:class:`Store` around it (a small key/value table for simple persistent state: availability, boot
data, counters).

Two implementations of :class:`Db`:

* a single charge point (``chargepoint run``): :class:`CpConnection`, its own file in data_dir
  (``ocpp.sqlite3``), WAL journal, synchronous=FULL; ``with db:`` commits on exit (Python's
  implicit transactions), so whatever is written is durable before the next line runs;
* a fleet member: a cp_id-scoped view on the fleet's shared database
  (:mod:`chargepoint.fleet.store`), whose ``with db:`` is a savepoint of a group commit.

Every table is keyed by ``cp_id`` (:mod:`chargepoint.ocpp.schema`); a statement names
``cp_id=?`` with ``db.cp_id`` (``''`` in a single charge point's file).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from chargepoint.ocpp.schema import ensure_schema

DB_FILE = "ocpp.sqlite3"


class Db(Protocol):
    """What the OCPP modules use of their SQLite connection."""

    @property
    def cp_id(self) -> str: ...

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor: ...

    def __enter__(self) -> object: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None, /) -> Literal[False]: ...

    def relaxed(self) -> contextlib.AbstractContextManager[None]:
        """Around a ``with db:`` whose commit need not wait for fsync (a process kill still keeps it)."""
        ...

    def close(self) -> None: ...


class CpConnection(sqlite3.Connection):
    """A single charge point's connection: a plain ``sqlite3.Connection`` holding one charge point."""

    cp_id = ""

    @contextlib.contextmanager
    def relaxed(self) -> Iterator[None]:
        # WAL with synchronous=NORMAL still survives a process kill; only an OS crash may lose it
        self.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self.execute("PRAGMA synchronous=FULL")


def connect_file(path: Path) -> CpConnection:
    """Open (create) a store file: WAL, synchronous=FULL, the current schema."""
    db = sqlite3.connect(str(path), check_same_thread=False, factory=CpConnection)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    try:
        ensure_schema(db)
    except BaseException:
        db.close()
        raise
    return db


class Store:
    def __init__(self, db: Db, path: Path) -> None:
        self.db = db
        self.path = path

    @classmethod
    def connect(cls, path: Path | str) -> Store:
        """Open (create) the store.  ``path`` is the data directory or a ``.sqlite3`` file."""
        p = Path(path)
        if p.suffix not in (".sqlite3", ".db", ".sqlite"):
            p.mkdir(parents=True, exist_ok=True)
            p = p / DB_FILE
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
        return cls(connect_file(p), p)

    def close(self) -> None:
        self.db.close()

    # -- key/value ------------------------------------------------------------------------
    def get_kv(self, ns: str, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE cp_id=? AND ns=? AND key=?",
                              (self.db.cp_id, ns, key)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_kv(self, ns: str, key: str, value: Any) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO kv(cp_id, ns, key, value) VALUES (?,?,?,?)"
                " ON CONFLICT(cp_id, ns, key) DO UPDATE SET value=excluded.value",
                (self.db.cp_id, ns, key, json.dumps(value)),
            )

    def delete_kv(self, ns: str, key: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM kv WHERE cp_id=? AND ns=? AND key=?", (self.db.cp_id, ns, key))

    def all_kv(self, ns: str) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM kv WHERE cp_id=? AND ns=?",
                                                              (self.db.cp_id, ns))}
