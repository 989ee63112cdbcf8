"""The OCPP store's schema version: a file of before the versioning (tables without cp_id) is
migrated with its content; a file of a newer program is refused; a fresh file is at the current
version and holds one charge point under cp_id ''."""

from __future__ import annotations

import sqlite3

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.config_keys import ConfigKeys
from chargepoint.ocpp.outbox import Outbox
from chargepoint.ocpp.schema import SCHEMA_VERSION, TABLES, SchemaError, schema_version
from chargepoint.ocpp.store import Store
from chargepoint.ocpp.transaction_store import TransactionStore

#: what the modules created before the schema was versioned (user_version 0)
LEGACY = """
CREATE TABLE kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key));
CREATE TABLE config_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tx_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, payload TEXT NOT NULL,
                        local_tx INTEGER, attempts INTEGER NOT NULL DEFAULT 0, unique_id TEXT);
CREATE TABLE tx_outbox_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ocpp_transactions (local_id INTEGER PRIMARY KEY AUTOINCREMENT, connector INTEGER NOT NULL,
    id_tag TEXT NOT NULL, parent_id_tag TEXT, reservation_id INTEGER, meter_start INTEGER NOT NULL,
    start_time TEXT NOT NULL, transaction_id INTEGER, last_meter_wh REAL, last_meter_time TEXT,
    begin_values TEXT, stopped INTEGER NOT NULL DEFAULT 0, stop_reason TEXT);
INSERT INTO kv VALUES ('availability', '1', 'false');
INSERT INTO config_keys VALUES ('HeartbeatInterval', '42');
INSERT INTO tx_outbox(id, action, payload, local_tx) VALUES (7, 'StopTransaction', '{"transactionId": 3}', 5);
INSERT INTO tx_outbox_meta VALUES ('instance', 'abcdef012345');
INSERT INTO ocpp_transactions(local_id, connector, id_tag, meter_start, start_time, transaction_id)
    VALUES (5, 1, 'TAG', 10, '2026-01-01T00:00:00Z', 3);
"""


def test_a_file_of_before_the_versioning_is_migrated_with_its_content(tmp_path):
    path = tmp_path / "ocpp.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY)
        assert schema_version(db) == 1
    store = Store.connect(tmp_path)
    clock = VirtualClock()
    keys = ConfigKeys(store.db)
    outbox = Outbox(clock, store.db, keys)
    assert keys.get("HeartbeatInterval") == 42
    assert store.get_kv("availability", "1") is False
    assert outbox._instance == "abcdef012345"
    head = outbox._head()
    assert head is not None and (head.id, head.action, head.local_tx) == (7, "StopTransaction", 5)
    assert [r.local_id for r in TransactionStore(store.db).open_rows()] == [5]
    # ids go on after the migrated ones (AUTOINCREMENT kept its sequence)
    with store.db:
        new_id = outbox.insert_transaction_message(store.db, "MeterValues", {"connectorId": 1})
    assert new_id == 8
    keys.set("HeartbeatInterval", "43")  # the upsert finds the new (cp_id, name) key
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(TABLES) <= names and not any(n.endswith("__v1") for n in names)
        assert db.execute("SELECT cp_id, value FROM config_keys WHERE name='HeartbeatInterval'").fetchall() == [
            ("", "43")]


def test_a_fresh_file_is_at_the_current_version_and_holds_one_charge_point(tmp_path):
    store = Store.connect(tmp_path)
    store.set_kv("boot", "n", 1)
    assert store.db.cp_id == ""
    store.close()
    with sqlite3.connect(tmp_path / "ocpp.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT cp_id, ns, key FROM kv").fetchall() == [("", "boot", "n")]


def test_a_file_of_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "ocpp.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaError, match="newer"):
        Store.connect(tmp_path)
