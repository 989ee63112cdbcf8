"""The tables of the OCPP store, in one place, versioned with ``PRAGMA user_version``.

Every table is keyed by ``cp_id``: a single charge point's file (``ocpp.sqlite3``) holds one
charge point, ``cp_id = ''``; the fleet's shared database holds every member under its own id.
The same SQL serves both (each statement names ``cp_id``).

Versions: 0 = an empty file; 1 = the tables before ``cp_id`` (each module created its own, no
version was written); 2 = ``cp_id`` in every table.  :func:`ensure_schema` creates the current
schema or migrates an older file in one SQLite transaction (a crash leaves the old or the new
schema, never half of one).  A file newer than this program is refused.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

#: table -> CREATE TABLE of the current version
TABLES: dict[str, str] = {
    "kv": "CREATE TABLE kv (cp_id TEXT NOT NULL DEFAULT '', ns TEXT NOT NULL, key TEXT NOT NULL,"
          " value TEXT NOT NULL, PRIMARY KEY (cp_id, ns, key))",
    "config_keys": "CREATE TABLE config_keys (cp_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL,"
                   " value TEXT NOT NULL, PRIMARY KEY (cp_id, name))",
    "tx_outbox": "CREATE TABLE tx_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, cp_id TEXT NOT NULL DEFAULT '',"
                 " action TEXT NOT NULL, payload TEXT NOT NULL, local_tx INTEGER,"
                 " attempts INTEGER NOT NULL DEFAULT 0, unique_id TEXT)",
    "tx_outbox_meta": "CREATE TABLE tx_outbox_meta (cp_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL,"
                      " value TEXT NOT NULL, PRIMARY KEY (cp_id, name))",
    "ocpp_transactions": "CREATE TABLE ocpp_transactions (local_id INTEGER PRIMARY KEY AUTOINCREMENT,"
                         " cp_id TEXT NOT NULL DEFAULT '', connector INTEGER NOT NULL, id_tag TEXT NOT NULL,"
                         " parent_id_tag TEXT, reservation_id INTEGER, meter_start INTEGER NOT NULL,"
                         " start_time TEXT NOT NULL, transaction_id INTEGER, last_meter_wh REAL,"
                         " last_meter_time TEXT, begin_values TEXT, stopped INTEGER NOT NULL DEFAULT 0,"
                         " stop_reason TEXT)",
    "auth_local_list": "CREATE TABLE auth_local_list (cp_id TEXT NOT NULL DEFAULT '', id_tag TEXT NOT NULL,"
                       " status TEXT NOT NULL, expiry_date TEXT, parent_id_tag TEXT, PRIMARY KEY (cp_id, id_tag))",
    "auth_local_list_meta": "CREATE TABLE auth_local_list_meta (cp_id TEXT NOT NULL DEFAULT '',"
                            " name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (cp_id, name))",
    "auth_cache": "CREATE TABLE auth_cache (cp_id TEXT NOT NULL DEFAULT '', id_tag TEXT NOT NULL,"
                  " status TEXT NOT NULL, expiry_date TEXT, parent_id_tag TEXT, updated_seq INTEGER NOT NULL,"
                  " PRIMARY KEY (cp_id, id_tag))",
    "reservations": "CREATE TABLE reservations (cp_id TEXT NOT NULL DEFAULT '', reservation_id INTEGER NOT NULL,"
                    " connector_id INTEGER NOT NULL, id_tag TEXT NOT NULL, parent_id_tag TEXT,"
                    " expiry_date TEXT NOT NULL, PRIMARY KEY (cp_id, reservation_id))",
    "certificates": "CREATE TABLE certificates (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                    " cp_id TEXT NOT NULL DEFAULT '', use TEXT NOT NULL, fingerprint TEXT NOT NULL,"
                    " pem TEXT NOT NULL, fallback INTEGER NOT NULL DEFAULT 0, UNIQUE(cp_id, use, fingerprint))",
    "security_log": "CREATE TABLE security_log (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                    " cp_id TEXT NOT NULL DEFAULT '', type TEXT NOT NULL, timestamp TEXT NOT NULL,"
                    " tech_info TEXT, critical INTEGER NOT NULL)",
    "security_state": "CREATE TABLE security_state (cp_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL,"
                      " value TEXT NOT NULL, PRIMARY KEY (cp_id, name))",
    "smart_charging_profiles": "CREATE TABLE smart_charging_profiles (cp_id TEXT NOT NULL DEFAULT '',"
                               " profile_id INTEGER NOT NULL, connector INTEGER NOT NULL, body TEXT NOT NULL,"
                               " PRIMARY KEY (cp_id, profile_id))",
}

#: the rows of one charge point, in id order, without a scan of the others'
INDEXES = (
    "CREATE INDEX IF NOT EXISTS tx_outbox_cp ON tx_outbox(cp_id, id)",
    "CREATE INDEX IF NOT EXISTS ocpp_transactions_cp ON ocpp_transactions(cp_id, stopped, local_id)",
    "CREATE INDEX IF NOT EXISTS certificates_cp ON certificates(cp_id, id)",
    "CREATE INDEX IF NOT EXISTS security_log_cp ON security_log(cp_id, id)",
)


class SchemaError(RuntimeError):
    """The file's schema is newer than this program."""


def schema_version(db: sqlite3.Connection) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and _existing(db):
        return 1  # the tables of before the versioning
    return version


def ensure_schema(db: sqlite3.Connection) -> int:
    """Create or migrate the schema to :data:`SCHEMA_VERSION`; returns the version found."""
    found = schema_version(db)
    if found > SCHEMA_VERSION:
        raise SchemaError(f"store schema version {found} is newer than this program's {SCHEMA_VERSION}")
    if found == SCHEMA_VERSION:
        return found
    in_tx = db.in_transaction
    if not in_tx:
        db.execute("BEGIN IMMEDIATE")
    try:
        existing = _existing(db)
        for name, create in TABLES.items():
            if name not in existing:
                db.execute(create)
            elif "cp_id" not in _columns(db, name):
                _add_cp_id(db, name, create)
        for index in INDEXES:
            db.execute(index)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        if not in_tx:
            db.execute("ROLLBACK")
        raise
    if not in_tx:
        db.execute("COMMIT")
    return found


def _existing(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")} & set(TABLES)


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def _add_cp_id(db: sqlite3.Connection, table: str, create: str) -> None:
    """Version 1 -> 2: rebuild ``table`` with ``cp_id = ''`` (the keys change, so ALTER cannot)."""
    old = f"{table}__v1"
    db.execute(f"ALTER TABLE {table} RENAME TO {old}")
    db.execute(create)
    common = [c for c in _columns(db, old) if c in _columns(db, table)]
    cols = ", ".join(common)
    db.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {old}")
    db.execute(f"DROP TABLE {old}")
