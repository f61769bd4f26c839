"""The stake history: an embedded SQLite store that every ``fleetctl stakes`` run appends to.

Where: ``--db PATH``, else ``stake.history_db`` in fleet.yml (relative to the inventory folder),
else ``$FLEETCTL_STATE_DIR/fleetctl.db``, else ``~/.local/state/fleetctl/fleetctl.db``. The file
is created 0600 (SQLite gives its ``-wal`` and ``-shm`` files the same mode) in a 0700 folder.

Cron runs may overlap: the store is in WAL mode (readers never wait for the writer), waits up
to ``busy_timeout_s`` for a lock instead of failing, and each run reads the previous state and
writes its own in one ``BEGIN IMMEDIATE`` transaction, so two runs never both claim the same
slash and a killed run leaves nothing half-written. The wait is the caller's to choose, so that
it fits inside the caller's own time bound: a store held by a stuck writer (another process in
``BEGIN IMMEDIATE``, or holding an exclusive lock) raises :class:`StoreLocked` ("state store
PATH is locked by another process") once it has passed.

A store is never made more accessible than it is: a file the user made read-only (no owner
write bit, e.g. 0444) is refused for writing (:class:`StoreReadOnly`) and read without writing,
and only the group and other bits of a writable one are taken away. A row that is not what the
schema says (``reasons`` that is not JSON, a stake stored as text …) raises
:class:`StoreCorrupt`, one line naming the store, the table and row, and what to do.

Schema (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`): ``runs`` has one row per run;
``samples`` one row per supplier and run *in which something changed* (level, chain status,
jail, stake, minimum or reasons), so a fleet checked every minute grows with events, not with
time. A supplier's latest sample is therefore its last known state.

The same file holds the alert state of ``fleetctl health`` (:mod:`fleetctl.health.alerts`) and
the backends that ``--remediate`` pulled from their balancers. The schema grows by ordered
:data:`MIGRATIONS`: a file at version *n* is brought to :data:`SCHEMA_VERSION` in place, in
one ``BEGIN IMMEDIATE`` transaction, by running every migration above *n* in order (a failed
upgrade rolls back and leaves the file as it was; two processes upgrading at once serialize
on the lock and the second finds nothing left to do). Existing rows are kept. Version 1: the
stake history. Version 2: ``alerts``, ``alert_meta``, ``silences``, ``notifications``,
``outbox`` (see :mod:`fleetctl.health.alerts`) and ``remediations``. Version 3:
``stakes_batch``, what ``fleetctl stake --batch --execute`` sent (:mod:`fleetctl.pocket.staking`).
Version 4: ``chain_events`` and ``chain_cursor`` (:mod:`fleetctl.pocket.claims`).

This module imports only the standard library and :mod:`fleetctl.spec` at import time (the
``Level`` enum is imported when it is used), so ``fleetctl alerts`` loads no network code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetctl.spec.model import Fleet, format_upokt

if TYPE_CHECKING:
    from fleetctl.core.levels import Level

__all__ = [
    "SCHEMA_VERSION",
    "BUSY_TIMEOUT_S",
    "HistoryError",
    "StoreCorrupt",
    "StoreLocked",
    "StoreReadOnly",
    "HistoryRun",
    "HistoryStore",
    "MIGRATIONS",
    "Previous",
    "RunRecord",
    "Sample",
    "SampleRecord",
    "Slash",
    "Trend",
    "connect",
    "default_db_path",
    "ensure_state_dir",
    "resolve_db_path",
    "store_error",
    "trend_for",
]

DB_NAME = "fleetctl.db"
#: How long :func:`connect` waits for another process's lock unless its caller says.
BUSY_TIMEOUT_S = 30.0
_INT64 = (-(2**63), 2**63 - 1)
_LEVELS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_CHAIN_STATUSES = ("staked", "unbonding", "unstaked", "not_found")
#: Chain statuses that prove the address was staked once.
_WAS_STAKED = ("staked", "unbonding", "unstaked")

#: Version 1: the stake history (``runs``, ``samples``).
_V1 = (
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        checked_at TEXT NOT NULL,       -- ISO 8601 UTC
        protocol TEXT NOT NULL,
        url TEXT NOT NULL,
        height INTEGER,                 -- NULL: the chain could not be read
        status TEXT NOT NULL,           -- OK, WARNING, CRITICAL, UNKNOWN
        message TEXT
    )""",
    """CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        chain_status TEXT,              -- staked, unbonding, unstaked, not_found (NULL: unread)
        jailed INTEGER NOT NULL,
        stake_upokt INTEGER,
        min_stake_upokt INTEGER,
        balance_upokt INTEGER,
        slashed_upokt INTEGER,
        reasons TEXT NOT NULL           -- JSON list of strings
    )""",
    "CREATE INDEX samples_by_address ON samples(address, id)",
)

#: Version 2: the alert state machine and its outbox (:mod:`fleetctl.health.alerts`), and the
#: backends ``fleetctl health --remediate`` took out of rotation. Times are unix seconds
#: (REAL) unless a column says otherwise; levels are names (OK, WARNING, CRITICAL, UNKNOWN).
_V2 = (
    """CREATE TABLE alert_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_run_started REAL NOT NULL  -- run_started_at of the newest run applied
    )""",
    """CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,              -- kind/target
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        state TEXT NOT NULL,            -- pending, firing, resolved
        level TEXT NOT NULL,            -- the level of the last run that saw the problem
        message TEXT NOT NULL,
        labels TEXT NOT NULL,           -- JSON object of strings
        runs INTEGER NOT NULL,          -- consecutive runs with the problem
        first_seen REAL NOT NULL,       -- when the problem was first seen (pending since)
        last_run REAL NOT NULL,         -- run_started_at of the last run that saw it
        fired_at REAL,
        notified_at REAL,               -- the last firing notice enqueued (NULL: none yet)
        notified_level TEXT,            -- the level that notice carried
        notifications INTEGER NOT NULL DEFAULT 0,
        held INTEGER NOT NULL DEFAULT 0,  -- a notice was held back by a mute
        acked_until REAL,
        resolved_at REAL,
        resolved_message TEXT
    )""",
    # One open (pending or firing) alert per key; resolved ones are history.
    "CREATE UNIQUE INDEX alerts_open ON alerts(key) WHERE state != 'resolved'",
    "CREATE INDEX alerts_by_state ON alerts(state, resolved_at)",
    """CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        pattern TEXT NOT NULL,          -- fnmatch pattern on an alert's key or target
        until REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,           -- firing, resolved, event
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        level TEXT NOT NULL,            -- firing/event: the level; resolved: OK
        previous_level TEXT,            -- the level last notified before this one, if any
        message TEXT NOT NULL,
        labels TEXT NOT NULL,           -- JSON object of strings
        started_at REAL NOT NULL,       -- the incident's start (fired_at; events: created_at)
        created_at REAL NOT NULL,
        repeat INTEGER NOT NULL DEFAULT 0,  -- 0: first notice; n: n-th notice after it
        fanned_out INTEGER NOT NULL DEFAULT 0  -- outbox rows made for the configured sinks
    )""",
    "CREATE INDEX notifications_fan_out ON notifications(fanned_out, id)",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        notification_id INTEGER NOT NULL REFERENCES notifications(id),
        sink TEXT NOT NULL,             -- the sink's name
        key TEXT NOT NULL,              -- the notification's key (delivery order per key)
        state TEXT NOT NULL,            -- queued, delivered, dropped
        created_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_until REAL,               -- claimed by a run until then (NULL: unclaimed)
        claim_token TEXT,
        last_error TEXT,                -- one line, URLs redacted
        done_at REAL                    -- delivered or dropped at
    )""",
    "CREATE INDEX outbox_due ON outbox(state, sink, key, id)",
    """CREATE TABLE remediations (
        host TEXT NOT NULL,             -- inventory host of the balancer
        balancer TEXT NOT NULL,         -- HAProxy name, e.g. lb-eth
        server TEXT NOT NULL,           -- backend server name, e.g. eth-geth-1
        reason TEXT NOT NULL,
        pulled_at TEXT NOT NULL,        -- ISO 8601 UTC
        healthy_runs INTEGER NOT NULL DEFAULT 0,
        last_run_started REAL,          -- unix time of the run that last updated it
        PRIMARY KEY (host, balancer, server)
    )""",
)

#: Version 3: the stake transactions of ``fleetctl stake --batch --execute``
#: (:mod:`fleetctl.pocket.staking`), one row per supplier and batch. A supplier's newest row (the
#: highest rowid) is what the next batch resumes from: ``pending`` (about to be sent, or the run
#: died while sending), ``submitted`` (the chain accepted the tx: ``txhash``), ``confirmed`` (the
#: chain shows the supplier), ``failed`` (``error``, one line).
_V3 = (
    """CREATE TABLE stakes_batch (
        batch_id TEXT NOT NULL,         -- one per --execute run: 20261202T030405Z-1a2b3c
        name TEXT NOT NULL,             -- the supplier's name in fleet.yml
        operator_address TEXT NOT NULL,
        config_sha256 TEXT NOT NULL,    -- of the stake config file sent
        state TEXT NOT NULL CHECK (state IN ('pending', 'submitted', 'confirmed', 'failed')),
        txhash TEXT,
        error TEXT,
        updated_at REAL NOT NULL,       -- unix seconds
        host TEXT,                      -- the inventory host the command ran on
        PRIMARY KEY (batch_id, operator_address)
    )""",
    "CREATE INDEX stakes_batch_by_address ON stakes_batch(operator_address)",
)

#: Version 4: the chain's claim, proof, settlement and slash events of the fleet's suppliers
#: (:mod:`fleetctl.pocket.claims`, read from CometBFT ``/block_results``), and how far each
#: node's blocks have been read. A claim is (supplier, service, application, session_end); the
#: UNIQUE key makes a height read twice (overlapping cron runs, a re-read after a re-org)
#: change nothing. Amounts are upokt; NULL: the event does not carry the field.
_V4 = (
    """CREATE TABLE chain_events (
        id INTEGER PRIMARY KEY,
        height INTEGER NOT NULL,
        kind TEXT NOT NULL,             -- claim_created, proof_submitted, claim_settled, ...
        supplier TEXT NOT NULL,         -- operator address
        service TEXT NOT NULL,
        application TEXT NOT NULL,
        session_end INTEGER NOT NULL,
        num_relays INTEGER,
        compute_units INTEGER,
        claimed_upokt INTEGER,
        settled_upokt INTEGER,
        minted_upokt INTEGER,
        reason TEXT,                    -- PROOF_MISSING, PROOF_INVALID, a discard error
        penalty_upokt INTEGER,
        stake_after_upokt INTEGER,
        proof_requirement TEXT,         -- NOT_REQUIRED, PROBABILISTIC, THRESHOLD
        UNIQUE (height, kind, supplier, service, application, session_end)
    )""",
    "CREATE INDEX chain_events_by_supplier ON chain_events(supplier, session_end)",
    "CREATE INDEX chain_events_by_claim ON chain_events(session_end, supplier, service, application)",
    """CREATE TABLE chain_cursor (
        endpoint TEXT PRIMARY KEY,      -- the node RPC URL as shown (no credentials)
        last_height INTEGER NOT NULL,   -- every height up to this one has been read
        last_hash TEXT,                 -- its block hash (a re-org of it is re-read)
        block_time_ms INTEGER,          -- recent average block time, for "per day"
        updated_at REAL NOT NULL        -- unix seconds
    )""",
)

#: The schema's history: migration *n* brings a file from version *n - 1* to *n*. Append only:
#: never edit a migration that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(Exception):
    """The history store cannot be opened, read or written; a one-line reason."""


class StoreLocked(HistoryError):
    """Another process held the store's lock for longer than the caller would wait."""

    def __init__(self, path: Path, waited_s: float) -> None:
        super().__init__(f"state store {path} is locked by another process (waited {waited_s:g} s)")
        self.path = path
        self.waited_s = waited_s


class StoreReadOnly(HistoryError):
    """The store's file has no owner write bit: fleetctl does not write to it."""


class StoreCorrupt(HistoryError):
    """A row of the store is not what the schema says (one line: store, table, row, the fix)."""


def default_db_path() -> Path:
    """``$FLEETCTL_STATE_DIR/fleetctl.db``, else ``~/.local/state/fleetctl/fleetctl.db``."""
    state_dir = os.environ.get("FLEETCTL_STATE_DIR")
    base = Path(state_dir) if state_dir else Path.home() / ".local" / "state" / "fleetctl"
    return base / DB_NAME


def trend_for(key: str, fleet: Fleet | None, db: str | os.PathLike[str] | None, *,
              busy_timeout_s: float = BUSY_TIMEOUT_S) -> Trend:
    """The trend of a supplier given by address, or by its name in ``fleet``."""
    by_name = {s.name: s.operator_address for s in (fleet.suppliers if fleet else ())}
    address = by_name.get(key) or key
    if fleet is not None and fleet.protocol == "morse":
        address = address.lower()
    return HistoryStore(resolve_db_path(db, fleet), busy_timeout_s=busy_timeout_s).trend(address)


def resolve_db_path(explicit: str | os.PathLike[str] | None, fleet: Fleet | None) -> Path:
    """``--db``, else fleet.yml's ``stake.history_db`` (relative to the inventory), else default."""
    if explicit:
        return Path(explicit).expanduser()
    if fleet is not None and fleet.stake.history_db:
        configured = Path(fleet.stake.history_db).expanduser()
        return configured if configured.is_absolute() else fleet.root / configured
    return default_db_path()


@dataclass(frozen=True)
class Previous:
    """What the history knows of one address before this run."""

    stake_upokt: int | None  # the last stake read (None: never read)
    height: int | None  # the height it was read at
    checked_at: str | None
    was_staked: bool  # staked (or unbonding, or unstaked on Morse) in some earlier run


@dataclass(frozen=True)
class SampleRecord:
    """One supplier's state as a run saw it (what :meth:`HistoryRun.record` stores)."""

    address: str
    name: str
    status: str
    chain_status: str | None
    jailed: bool
    stake_upokt: int | None
    min_stake_upokt: int | None
    balance_upokt: int | None
    slashed_upokt: int | None
    reasons: tuple[str, ...]

    def change_key(self) -> tuple[object, ...]:
        """What makes a sample worth storing again (the balance drifts; its level does not)."""
        return (self.status, self.chain_status, self.jailed, self.stake_upokt,
                self.min_stake_upokt, self.reasons)


@dataclass(frozen=True)
class RunRecord:
    """One run: where and when it read, its overall status, and its suppliers."""

    checked_at: str
    protocol: str
    url: str
    height: int | None
    status: str
    message: str | None
    samples: tuple[SampleRecord, ...]


@dataclass(frozen=True)
class Sample:
    """A stored sample with its run's time and height."""

    checked_at: str
    height: int | None
    record: SampleRecord


@dataclass(frozen=True)
class Slash:
    """A stake that went down between two consecutive known samples."""

    sample_index: int  # in :attr:`Trend.samples`, the sample that shows the lower stake
    checked_at: str
    height: int | None
    amount_upokt: int
    stake_before_upokt: int
    stake_after_upokt: int


@dataclass(frozen=True)
class Trend:
    """An address's recorded history, oldest first, and the slashes it shows."""

    address: str
    db: Path
    samples: tuple[Sample, ...]
    slashes: tuple[Slash, ...]

    @classmethod
    def of(cls, address: str, db: Path, samples: Iterable[Sample]) -> Trend:
        ordered = tuple(samples)
        slashes: list[Slash] = []
        before: int | None = None
        for index, sample in enumerate(ordered):
            stake = sample.record.stake_upokt
            if stake is None:
                continue
            if before is not None and stake < before:
                slashes.append(Slash(index, sample.checked_at, sample.height, before - stake,
                                     before, stake))
            before = stake
        return cls(address, db, ordered, tuple(slashes))

    @property
    def lost_upokt(self) -> int:
        """The stake the slashes took, in total."""
        return sum(slash.amount_upokt for slash in self.slashes)

    def summary(self) -> str:
        """``ADDRESS: 3 change(s) recorded, 1 slash(es), 3.000007 POKT lost``."""
        text = (f"{self.address}: {len(self.samples)} change(s) recorded, "
                f"{len(self.slashes)} slash(es)")
        if self.slashes:
            text += f", {format_upokt(self.lost_upokt)} lost"
        return text

    @property
    def level(self) -> Level:
        """The level of the latest sample (UNKNOWN without history)."""
        from fleetctl.core.levels import Level

        return Level[self.samples[-1].record.status] if self.samples else Level.UNKNOWN

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "db": str(self.db),
            "status": self.level.name,
            "lost_upokt": self.lost_upokt,
            "samples": [{"checked_at": s.checked_at, "height": s.height, "name": s.record.name,
                         "status": s.record.status, "chain_status": s.record.chain_status,
                         "jailed": s.record.jailed, "stake_upokt": s.record.stake_upokt,
                         "min_stake_upokt": s.record.min_stake_upokt,
                         "operator_balance_upokt": s.record.balance_upokt,
                         "slashed_upokt": s.record.slashed_upokt,
                         "reasons": list(s.record.reasons)} for s in self.samples],
            "slashes": [{"checked_at": x.checked_at, "height": x.height,
                         "amount_upokt": x.amount_upokt, "stake_before_upokt": x.stake_before_upokt,
                         "stake_after_upokt": x.stake_after_upokt} for x in self.slashes],
        }


class HistoryRun:
    """One transaction on the store: read what came before, then (optionally) record."""

    def __init__(self, conn: sqlite3.Connection | None, writable: bool,
                 path: Path | None = None) -> None:
        self._conn = conn
        self._writable = writable
        self._path = path

    def previous(self, addresses: Iterable[str]) -> dict[str, Previous]:
        """The last known stake of each address and whether it was ever staked."""
        wanted = set(addresses)
        if self._conn is None or not wanted:
            return {}
        last_stake = {
            address: (_column(self._path, "samples", sample_id, "stake_upokt", stake, _amount),
                      _column(self._path, "runs", run_id, "height", height, _optional_int),
                      _column(self._path, "runs", run_id, "checked_at", checked_at, _text))
            for sample_id, run_id, address, stake, height, checked_at in self._conn.execute(
                "SELECT s.id, r.id, s.address, s.stake_upokt, r.height, r.checked_at FROM samples s "
                "JOIN runs r ON r.id = s.run_id WHERE s.id IN (SELECT max(id) FROM samples "
                "WHERE stake_upokt IS NOT NULL GROUP BY address)")
            if address in wanted
        }
        placeholders = ",".join("?" * len(_WAS_STAKED))
        staked = {address for (address,) in self._conn.execute(
            f"SELECT DISTINCT address FROM samples WHERE chain_status IN ({placeholders})",
            _WAS_STAKED) if address in wanted}
        return {
            address: Previous(*last_stake.get(address, (None, None, None)), address in staked)
            for address in wanted if address in last_stake or address in staked
        }

    def record(self, run: RunRecord) -> int:
        """Append ``run`` and the samples that changed since each address's latest one."""
        assert self._conn is not None and self._writable, "record() needs run(write=True)"
        latest = {
            row[1]: _sample_record(row[1:], self._path, row[0])
            for row in self._conn.execute(
                "SELECT id, address, name, status, chain_status, jailed, stake_upokt, min_stake_upokt,"
                " balance_upokt, slashed_upokt, reasons FROM samples WHERE id IN "
                "(SELECT max(id) FROM samples GROUP BY address)")
        }
        _check_int64(run.height, "height")
        for sample in run.samples:
            for name in ("stake_upokt", "min_stake_upokt", "balance_upokt", "slashed_upokt"):
                _check_int64(getattr(sample, name), f"{sample.address} {name}")
        run_id = self._conn.execute(
            "INSERT INTO runs (checked_at, protocol, url, height, status, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run.checked_at, run.protocol, run.url, run.height, run.status, run.message),
        ).lastrowid
        assert run_id is not None
        self._conn.executemany(
            "INSERT INTO samples (run_id, address, name, status, chain_status, jailed, stake_upokt,"
            " min_stake_upokt, balance_upokt, slashed_upokt, reasons)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, s.address, s.name, s.status, s.chain_status, int(s.jailed), s.stake_upokt,
              s.min_stake_upokt, s.balance_upokt, s.slashed_upokt, json.dumps(list(s.reasons)))
             for s in run.samples
             if s.address not in latest or latest[s.address].change_key() != s.change_key()],
        )
        return run_id

    def samples(self, address: str, limit: int) -> list[Sample]:
        """The last ``limit`` samples of ``address``, oldest first."""
        if self._conn is None:
            return []
        rows = self._conn.execute(
            "SELECT s.id, r.id, r.checked_at, r.height, s.address, s.name, s.status, s.chain_status,"
            " s.jailed, s.stake_upokt, s.min_stake_upokt, s.balance_upokt, s.slashed_upokt,"
            " s.reasons FROM samples s JOIN runs r ON r.id = s.run_id WHERE s.address = ?"
            " ORDER BY s.id DESC LIMIT ?", (address, limit)).fetchall()
        return [Sample(_column(self._path, "runs", row[1], "checked_at", row[2], _text),
                       _column(self._path, "runs", row[1], "height", row[3], _optional_int),
                       _sample_record(row[4:], self._path, row[0]))
                for row in reversed(rows)]


def _check_int64(value: int | None, what: str) -> None:
    """SQLite stores signed 64-bit integers: anything else is refused before it is written."""
    if value is not None and not _INT64[0] <= value <= _INT64[1]:
        raise HistoryError(f"{what}: {value} does not fit the store (a 64-bit integer)")


# Column checks: each returns the value, or raises ValueError saying what is wrong with it.

def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"is {_kind(value)}, not text")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"is {_kind(value)}, not an integer")
    return value


def _amount(value: Any) -> int | None:
    number = _optional_int(value)
    if number is not None and number < 0:
        raise ValueError(f"is negative ({number})")
    return number


def _level(value: Any) -> str:
    if value not in _LEVELS:
        raise ValueError(f"is {_kind(value)}, not one of {', '.join(_LEVELS)}")
    return value


def _chain_status(value: Any) -> str | None:
    if value is not None and value not in _CHAIN_STATUSES:
        raise ValueError(f"is {_kind(value)}, not a chain status")
    return value


def _flag(value: Any) -> bool:
    if value not in (0, 1) or isinstance(value, float):
        raise ValueError(f"is {_kind(value)}, not 0 or 1")
    return bool(value)


def _reasons(value: Any) -> tuple[str, ...]:
    try:
        reasons = json.loads(_text(value))
    except (ValueError, RecursionError):
        raise ValueError("is not JSON (a list of strings)") from None
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise ValueError("is JSON but not a list of strings")
    return tuple(reasons)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value[:30]!r}"
    if isinstance(value, bytes):
        return "a blob"
    return f"{type(value).__name__} {value!r:.30}"


def _column(path: Path | None, table: str, row_id: Any, name: str, value: Any,
            check: Any) -> Any:
    """``check(value)``, or :class:`StoreCorrupt` naming the store, row and column, and the fix."""
    try:
        return check(value)
    except ValueError as exc:
        store = path if path is not None else "the state store"
        raise StoreCorrupt(
            f"state store {store}: {table} row {row_id}: {name} {exc}; delete that row "
            f"(sqlite3 {store} 'DELETE FROM {table} WHERE id = {row_id}') or move the store "
            "aside to start a new history") from None


def _sample_record(row: tuple[Any, ...], path: Path | None = None,
                   row_id: Any = "?") -> SampleRecord:
    """A :class:`SampleRecord` from the ``samples`` columns ``address`` … ``reasons``, each
    checked (:class:`StoreCorrupt` for the first that is not what the schema says)."""
    checks = (_text, _text, _level, _chain_status, _flag, _amount, _amount, _amount, _amount,
              _reasons)
    names = ("address", "name", "status", "chain_status", "jailed", "stake_upokt",
             "min_stake_upokt", "balance_upokt", "slashed_upokt", "reasons")
    values = [_column(path, "samples", row_id, name, value, check)
              for name, value, check in zip(names, row, checks, strict=True)]
    return SampleRecord(*values)


class HistoryStore:
    """The SQLite file at ``path``: created by the first writing run; reads never create it.

    ``busy_timeout_s`` bounds every wait for another process's lock (:class:`StoreLocked`)."""

    def __init__(self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s

    @contextlib.contextmanager
    def run(self, *, write: bool) -> Iterator[HistoryRun]:
        """A transaction: ``BEGIN IMMEDIATE`` when writing (one writer at a time), else a read."""
        conn = self._connect(create=write)
        if conn is None:
            yield HistoryRun(None, writable=False, path=self.path)
            return
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield HistoryRun(conn, writable=write, path=self.path)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, self.busy_timeout_s) from None
        finally:
            conn.close()  # closing without COMMIT rolls back

    def trend(self, address: str, limit: int = 200) -> Trend:
        """The last ``limit`` samples of ``address`` (none if the store does not exist)."""
        with self.run(write=False) as run:
            return Trend.of(address, self.path, run.samples(address, limit))

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        return connect(self.path, create=create, busy_timeout_s=self.busy_timeout_s)


def store_error(path: Path, exc: BaseException, busy_timeout_s: float) -> HistoryError:
    """The one-line :class:`HistoryError` for an ``sqlite3`` or OS error on the store."""
    if isinstance(exc, HistoryError):
        return exc
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        return HistoryError(f"state store {path}: {exc.strerror or exc}{where}")
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return StoreLocked(path, busy_timeout_s)
    if "readonly" in text or "read-only" in text:
        return StoreReadOnly(f"state store {path} cannot be written ({text}): check its and its "
                             "folder's permissions, or pass --no-record")
    if "not a database" in text or "malformed" in text:
        return HistoryError(f"state store {path} is not a usable SQLite file ({text}): move it "
                            "aside; the next run starts a new one")
    return HistoryError(f"state store {path}: {text}")


def ensure_state_dir(folder: Path) -> None:
    """Create ``folder`` 0700 (whatever the umask) if it does not exist; its parents as
    ``mkdir -p`` does. A folder that exists is left as it is."""
    if folder.is_dir():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return  # made by another process meanwhile (or not a folder: opening the store says)
    os.chmod(folder, 0o700)


def connect(path: Path, *, create: bool,
            busy_timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection | None:
    """An autocommit connection to the store at ``path`` (WAL, busy timeout, schema brought to
    :data:`SCHEMA_VERSION`), or None when it does not exist and ``create`` is false. A created
    file is 0600 in a 0700 folder (:func:`ensure_state_dir`); an existing one only loses its
    group and other bits, and one without its owner write bit is refused for writing
    (:class:`StoreReadOnly`) and opened read-only for reading.

    Every wait for another process's lock ends after ``busy_timeout_s`` with
    :class:`StoreLocked`. Raises :class:`HistoryError` (one line) for anything else that goes
    wrong; the caller closes the connection."""
    try:
        return _connect(path, create, busy_timeout_s)
    except (OSError, sqlite3.Error) as exc:
        raise store_error(path, exc, busy_timeout_s) from None


def _connect(path: Path, create: bool, busy_timeout_s: float) -> sqlite3.Connection | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        if not create:
            return None
        ensure_state_dir(path.parent)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise HistoryError(f"state store {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    read_only = not mode & stat.S_IWUSR
    if create and read_only:
        raise StoreReadOnly(f"state store {path} is read-only (mode {mode:04o}): fleetctl does not "
                            f"make it writable; 'chmod u+w {path}' to record again, or pass --no-record")
    if create and mode & 0o077:
        os.chmod(path, mode & ~0o077)  # tighten only: never add a bit the user took away
    if read_only:
        from urllib.parse import quote

        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True,
                               timeout=busy_timeout_s, isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")
        if read_only:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise StoreReadOnly(f"state store {path} is read-only (mode {mode:04o}) and at "
                                    f"schema version {version}, not {SCHEMA_VERSION}: "
                                    f"'chmod u+w {path}' so that it can be upgraded")
            return conn
        mode_name = _wal(conn, busy_timeout_s)
        if mode_name != "wal":
            raise HistoryError(f"{path}: cannot use WAL mode (journal_mode is {mode_name})")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(path, conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _wal(conn: sqlite3.Connection, busy_timeout_s: float = BUSY_TIMEOUT_S) -> str:
    """Put the file in WAL mode (it stays so); the journal mode it is in.

    Switching needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting (the busy handler is not called), while another process holds any lock:
    e.g. when several cron runs create or upgrade a fresh file together. So the mode is read
    first (a file already in WAL needs no switch), and the switch is retried for up to
    ``busy_timeout_s``."""
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode == "wal":
        return mode
    give_up = time.monotonic() + busy_timeout_s
    delay = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > give_up:
                raise
        time.sleep(min(delay, max(0.0, give_up - time.monotonic())))
        delay = min(delay * 2, 0.1)


def _migrate(path: Path, conn: sqlite3.Connection) -> None:
    """Run the migrations above the file's ``user_version``, in order, in one transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise HistoryError(f"{path}: schema version {version} is newer than this "
                           f"fleetctl's ({SCHEMA_VERSION}); upgrade fleetctl")
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated it while this one waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{path}: schema version {version} is newer than this "
                               f"fleetctl's ({SCHEMA_VERSION}); upgrade fleetctl")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
