"""The state store's kernel (fleetctl.state.db): ordered migrations on a fresh file, an upgrade
of a file the previous release made (schema version 3) without loss, and the one transaction
helper (commit, roll back on error, reads never create the file)."""

import os
import sqlite3
import stat

import pytest

from fleetctl.health.alerts import AlertStore
from fleetctl.state import db as state_db
from fleetctl.state import schema
from fleetctl.state.db import StateError, StoreLocked, connect, transaction
from fleetctl.state.stakes import HistoryStore

#: The schema of a store made by the release before the claims store (user_version 3), as that
#: release's pocket/history.py created it (comments and layout dropped).
V3_DDL = """
CREATE TABLE runs ( id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL, protocol TEXT NOT NULL,
url TEXT NOT NULL, height INTEGER, status TEXT NOT NULL, message TEXT ); CREATE TABLE samples (
id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), address TEXT NOT NULL, name
TEXT NOT NULL, status TEXT NOT NULL, chain_status TEXT, jailed INTEGER NOT NULL, stake_upokt
INTEGER, min_stake_upokt INTEGER, balance_upokt INTEGER, slashed_upokt INTEGER, reasons TEXT NOT
NULL ); CREATE INDEX samples_by_address ON samples(address, id); CREATE TABLE alert_meta ( id
INTEGER PRIMARY KEY CHECK (id = 1), last_run_started REAL NOT NULL ); CREATE TABLE alerts ( id
INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT
NULL, level TEXT NOT NULL, message TEXT NOT NULL, labels TEXT NOT NULL, runs INTEGER NOT NULL,
first_seen REAL NOT NULL, last_run REAL NOT NULL, fired_at REAL, notified_at REAL,
notified_level TEXT, notifications INTEGER NOT NULL DEFAULT 0, held INTEGER NOT NULL DEFAULT 0,
acked_until REAL, resolved_at REAL, resolved_message TEXT ); CREATE UNIQUE INDEX alerts_open ON
alerts(key) WHERE state != 'resolved'; CREATE INDEX alerts_by_state ON alerts(state,
resolved_at); CREATE TABLE silences ( id INTEGER PRIMARY KEY, pattern TEXT NOT NULL, until REAL
NOT NULL, reason TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL ); CREATE TABLE
notifications ( id INTEGER PRIMARY KEY, status TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT
NULL, target TEXT NOT NULL, level TEXT NOT NULL, previous_level TEXT, message TEXT NOT NULL,
labels TEXT NOT NULL, started_at REAL NOT NULL, created_at REAL NOT NULL, repeat INTEGER NOT
NULL DEFAULT 0, fanned_out INTEGER NOT NULL DEFAULT 0 ); CREATE INDEX notifications_fan_out ON
notifications(fanned_out, id); CREATE TABLE outbox ( id INTEGER PRIMARY KEY, notification_id
INTEGER NOT NULL REFERENCES notifications(id), sink TEXT NOT NULL, key TEXT NOT NULL, state TEXT
NOT NULL, created_at REAL NOT NULL, next_attempt_at REAL NOT NULL, attempts INTEGER NOT NULL
DEFAULT 0, lease_until REAL, claim_token TEXT, last_error TEXT, done_at REAL ); CREATE INDEX
outbox_due ON outbox(state, sink, key, id); CREATE TABLE remediations ( host TEXT NOT NULL,
balancer TEXT NOT NULL, server TEXT NOT NULL, reason TEXT NOT NULL, pulled_at TEXT NOT NULL,
healthy_runs INTEGER NOT NULL DEFAULT 0, last_run_started REAL, PRIMARY KEY (host, balancer,
server) ); CREATE TABLE stakes_batch ( batch_id TEXT NOT NULL, name TEXT NOT NULL,
operator_address TEXT NOT NULL, config_sha256 TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN
('pending', 'submitted', 'confirmed', 'failed')), txhash TEXT, error TEXT, updated_at REAL NOT
NULL, host TEXT, PRIMARY KEY (batch_id, operator_address) ); CREATE INDEX
stakes_batch_by_address ON stakes_batch(operator_address);
"""


def _tables(path):
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _version(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def test_fresh_store_runs_every_migration_in_order(tmp_path, monkeypatch):
    log = (("CREATE TABLE log (n INTEGER)", "INSERT INTO log VALUES (1)"),
           ("INSERT INTO log VALUES (2)",),
           ("INSERT INTO log VALUES (3)", "INSERT INTO log VALUES (4)"))
    monkeypatch.setattr(schema, "MIGRATIONS", log)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(log))
    path = tmp_path / "state" / "fleetctl.db"
    connect(path, create=True).close()
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT n FROM log ORDER BY rowid")] == [1, 2, 3, 4]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # 0700 folder, 0600 file, as before the state package
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # only the migrations above the file's version run on the next open
    monkeypatch.setattr(schema, "MIGRATIONS", (*log, ("INSERT INTO log VALUES (5)",)))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(log) + 1)
    connect(path, create=True).close()
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT n FROM log ORDER BY rowid")] == [1, 2, 3, 4, 5]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4


def test_fresh_store_has_the_whole_schema(tmp_path):
    path = tmp_path / "fleetctl.db"
    connect(path, create=True).close()
    assert schema.SCHEMA_VERSION == len(schema.MIGRATIONS) == 4
    assert _version(path) == schema.SCHEMA_VERSION
    assert {"runs", "samples", "alert_meta", "alerts", "silences", "notifications", "outbox",
            "remediations", "stakes_batch", "chain_events", "chain_cursor"} <= _tables(path)


def test_store_of_the_previous_release_upgrades_without_loss(tmp_path):
    path = tmp_path / "fleetctl.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V3_DDL)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO runs VALUES (1, '2026-01-01T00:00:00Z', 'shannon', 'http://n', 10, 'OK', NULL)")
        conn.execute("INSERT INTO samples VALUES (1, 1, 'pokt1old', 's1', 'OK', 'staked', 0, 5000000, 1, 2, NULL,"
                     " '[]')")
        conn.execute("INSERT INTO remediations VALUES ('h', 'lb-eth', 'eth-geth-1', 'down', '2026-01-01T00:00:00Z',"
                     " 1, 5.0)")
        conn.execute("INSERT INTO stakes_batch VALUES ('b1', 's1', 'pokt1old', 'abc', 'confirmed', 'TX', NULL,"
                     " 1.0, 'h')")
        conn.execute("INSERT INTO silences (pattern, until, reason, created_at) VALUES ('eth-*', 9e9, 'r', 1.0)")
    os.chmod(path, 0o600)
    trend = HistoryStore(path).trend("pokt1old")  # a read upgrades a writable file
    assert [s.record.stake_upokt for s in trend.samples] == [5000000]
    assert _version(path) == 4
    assert {"chain_events", "chain_cursor"} <= _tables(path)
    assert [s.pattern for s in AlertStore(path).silences(now=2.0)] == ["eth-*"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM remediations").fetchone()[0] == 1
        assert conn.execute("SELECT txhash FROM stakes_batch").fetchall() == [("TX",)]
        conn.execute("INSERT INTO chain_cursor VALUES ('http://n', 5, NULL, NULL, 1.0)")


def test_transaction_commits(tmp_path):
    path = tmp_path / "fleetctl.db"
    with transaction(path, write=True) as conn:
        conn.execute("INSERT INTO silences (pattern, until, reason, created_at) VALUES ('a', 2, '', 1)")
    with transaction(path, write=False) as conn:
        assert conn.execute("SELECT pattern FROM silences").fetchall() == [("a",)]


def test_transaction_rolls_back_on_error(tmp_path):
    path = tmp_path / "fleetctl.db"
    with pytest.raises(RuntimeError, match="boom"):
        with transaction(path, write=True) as conn:
            conn.execute("INSERT INTO silences (pattern, until, reason, created_at) VALUES ('a', 2, '', 1)")
            raise RuntimeError("boom")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM silences").fetchone()[0] == 0
    # an SQLite error in the block: rolled back too, and one line naming the store
    with pytest.raises(StateError, match=f"state store {path}: ") as info:
        with transaction(path, write=True) as conn:
            conn.execute("INSERT INTO silences (pattern, until, reason, created_at) VALUES ('b', 2, '', 1)")
            conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert "\n" not in str(info.value)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM silences").fetchone()[0] == 0


def test_transaction_read_never_creates_the_file(tmp_path):
    path = tmp_path / "none" / "fleetctl.db"
    with transaction(path, write=False) as conn:
        assert conn is None
    assert not path.exists() and not path.parent.exists()


def test_transaction_write_waits_then_says_locked(tmp_path):
    path = tmp_path / "fleetctl.db"
    connect(path, create=True).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLocked, match="is locked by another process"):
            with transaction(path, write=True, busy_timeout_s=0.2):
                pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_history_error_is_the_state_error():
    assert state_db.HistoryError is StateError


def _master(path):
    with sqlite3.connect(path) as conn:
        return {(r[0], r[1]): r[2] for r in conn.execute("SELECT type, name, sql FROM sqlite_master")}


def test_upgraded_store_has_the_fresh_schema_and_its_batches_and_claims(tmp_path):
    """A store of the previous release upgraded in place has what a fresh one has (every table
    and index; the new ones with the same SQL), and its stake batch rows are read, resumed and
    written through fleetctl.state.batches; the claims tables through fleetctl.state.claims."""
    from fleetctl.state.batches import BatchStore, Pending
    from fleetctl.state.claims import read_cursor, write_events

    fresh = tmp_path / "fresh.db"
    connect(fresh, create=True).close()
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V3_DDL)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO stakes_batch VALUES ('b1', 's1', 'pokt1old', 'abc', 'submitted', 'TX', NULL,"
                     " 1.0, 'h')")
    os.chmod(path, 0o600)
    store = BatchStore(path)
    old = store.read(["pokt1old", "pokt1new"])  # a read upgrades a writable file
    assert _version(path) == schema.SCHEMA_VERSION
    assert set(_master(path)) == set(_master(fresh))
    for key, sql in _master(fresh).items():
        if key[1].startswith("chain_"):
            assert _master(path)[key] == sql, key
    assert list(old) == ["pokt1old"] and (old["pokt1old"].state, old["pokt1old"].txhash) == ("submitted", "TX")
    # the old batch's row is in doubt: not claimed again; the new supplier is
    held = store.claim("b2", "h2", [Pending("s1", "pokt1old", "abc"), Pending("s2", "pokt1new", "def")],
                       lambda rec: rec.state in ("pending", "submitted"))
    assert held[0] is not None and held[0].batch_id == "b1" and held[1] is None
    store.update("b2", "pokt1new", "submitted", txhash="TX2")
    store.confirm(["pokt1old", "pokt1new"])
    store.forget("b2", ["pokt1new"])  # not pending any more: kept
    assert {a: (r.batch_id, r.state, r.txhash) for a, r in store.read(["pokt1old", "pokt1new"]).items()} == {
        "pokt1old": ("b1", "confirmed", "TX"), "pokt1new": ("b2", "confirmed", "TX2")}
    assert read_cursor(path, "http://n", 1.0) is None
    row = (7, "claim_created", "pokt1old", "eth", "app", 5, 10, 20, 30, None, None, None, None, None, None)
    assert write_events(path, "http://n", [row, row], cursor=7, cursor_hash="AB", block_time_ms=30_000,
                        reorg=None, prune_below=None, busy_timeout_s=1.0) == 1
    cursor = read_cursor(path, "http://n", 1.0)
    assert (cursor.last_height, cursor.last_hash, cursor.block_time_ms) == (7, "AB", 30_000)


def test_batch_store_errors_say_which_store(tmp_path):
    from fleetctl.state.batches import BatchStore, Pending

    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(StateError, match=f"^the store {folder} cannot be read: state store {folder} is not a "):
        BatchStore(folder).read(["pokt1a"])
    with pytest.raises(StateError, match=f"^the store {folder} cannot be written: "):
        BatchStore(folder).confirm(["pokt1a"])
    path = tmp_path / "fleetctl.db"
    store = BatchStore(path)
    assert store.read(["pokt1a"]) == {} and not path.exists()  # a read never creates the store
    store.claim("b1", "h", [Pending("s", "pokt1a", "abc")], lambda rec: False)
    # an SQLite error inside the write: the store's path and SQLite's own words; rolled back
    with pytest.raises(StateError, match=f"^the store {path}: UNIQUE constraint failed"):
        store.claim("b2", "h", [Pending("s", "pokt1b", "abc"), Pending("s", "pokt1b", "abc")], lambda rec: False)
    assert set(store.read(["pokt1a", "pokt1b"])) == {"pokt1a"}


def test_lock_probe_and_read_only_remediations(tmp_path):
    from fleetctl.state.remediation import pulled_servers, record

    path = tmp_path / "fleetctl.db"
    assert state_db.write_locked(path, 0.1) is False and pulled_servers(path) == []
    assert not path.exists()  # neither creates the store
    record(path, "pull", ("h", "lb-eth", "eth-geth-1"), reason="down", pulled_at="2026-01-01T00:00:00Z",
           run_started=1.0)
    assert pulled_servers(path) == [("h", "lb-eth", "eth-geth-1")]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert state_db.write_locked(path, 0.1) is True
        assert pulled_servers(path, busy_timeout_s=0.1) == [("h", "lb-eth", "eth-geth-1")]  # WAL: readers never wait
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert state_db.write_locked(path, 0.1) is False
    # an older store (no remediations table yet) is read as none, and left as it is
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
        conn.execute("PRAGMA user_version = 1")
    assert pulled_servers(old) == [] and _version(old) == 1


def test_begin_commits_or_rolls_back_and_leaves_sqlite_errors_as_they_are(tmp_path):
    path = tmp_path / "fleetctl.db"
    conn = connect(path, create=True)
    try:
        with state_db.begin(conn, write=True):
            conn.execute("INSERT INTO silences (pattern, until, reason, created_at) VALUES ('a', 2, '', 1)")
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            with state_db.begin(conn, write=True):
                conn.execute("INSERT INTO silences (pattern, until, reason, created_at) VALUES ('b', 2, '', 1)")
                conn.execute("INSERT INTO no_such_table VALUES (1)")
        assert conn.execute("SELECT pattern FROM silences").fetchall() == [("a",)]
        assert not conn.in_transaction
    finally:
        conn.close()
