"""The stake history: an embedded SQLite store that every ``fleetctl stakes`` run appends to.

Where: ``--db PATH``, else ``stake.history_db`` in fleet.yml (relative to the inventory folder),
else ``$FLEETCTL_STATE_DIR/fleetctl.db``, else ``~/.local/state/fleetctl/fleetctl.db``. The file
is created 0600 (SQLite gives its ``-wal`` and ``-shm`` files the same mode) in a 0700 folder.

Cron runs may overlap: the store is in WAL mode (readers never wait for the writer), waits up
to ``busy_timeout`` for a lock instead of failing, and each run reads the previous state and
writes its own in one ``BEGIN IMMEDIATE`` transaction, so two runs never both claim the same
slash and a killed run leaves nothing half-written.

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
    from fleetctl.pocket.base import Level

__all__ = [
    "SCHEMA_VERSION",
    "HistoryError",
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
    "resolve_db_path",
    "trend_for",
]

DB_NAME = "fleetctl.db"
BUSY_TIMEOUT_S = 30.0
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

#: The schema's history: migration *n* brings a file from version *n - 1* to *n*. Append only:
#: never edit a migration that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(Exception):
    """The history store cannot be opened, read or written; a one-line reason."""


def default_db_path() -> Path:
    """``$FLEETCTL_STATE_DIR/fleetctl.db``, else ``~/.local/state/fleetctl/fleetctl.db``."""
    state_dir = os.environ.get("FLEETCTL_STATE_DIR")
    base = Path(state_dir) if state_dir else Path.home() / ".local" / "state" / "fleetctl"
    return base / DB_NAME


def trend_for(key: str, fleet: Fleet | None, db: str | os.PathLike[str] | None) -> Trend:
    """The trend of a supplier given by address, or by its name in ``fleet``."""
    by_name = {s.name: s.operator_address for s in (fleet.suppliers if fleet else ())}
    address = by_name.get(key) or key
    if fleet is not None and fleet.protocol == "morse":
        address = address.lower()
    return HistoryStore(resolve_db_path(db, fleet)).trend(address)


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
        from fleetctl.pocket.base import Level

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

    def __init__(self, conn: sqlite3.Connection | None, writable: bool) -> None:
        self._conn = conn
        self._writable = writable

    def previous(self, addresses: Iterable[str]) -> dict[str, Previous]:
        """The last known stake of each address and whether it was ever staked."""
        wanted = set(addresses)
        if self._conn is None or not wanted:
            return {}
        last_stake = {
            address: (stake, height, checked_at)
            for address, stake, height, checked_at in self._conn.execute(
                "SELECT s.address, s.stake_upokt, r.height, r.checked_at FROM samples s "
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
            row[0]: _sample_record(row)
            for row in self._conn.execute(
                "SELECT address, name, status, chain_status, jailed, stake_upokt, min_stake_upokt,"
                " balance_upokt, slashed_upokt, reasons FROM samples WHERE id IN "
                "(SELECT max(id) FROM samples GROUP BY address)")
        }
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
            "SELECT r.checked_at, r.height, s.address, s.name, s.status, s.chain_status,"
            " s.jailed, s.stake_upokt, s.min_stake_upokt, s.balance_upokt, s.slashed_upokt,"
            " s.reasons FROM samples s JOIN runs r ON r.id = s.run_id WHERE s.address = ?"
            " ORDER BY s.id DESC LIMIT ?", (address, limit)).fetchall()
        return [Sample(row[0], row[1], _sample_record(row[2:])) for row in reversed(rows)]


def _sample_record(row: tuple[Any, ...]) -> SampleRecord:
    """A :class:`SampleRecord` from the ``samples`` columns ``address`` … ``reasons``."""
    return SampleRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7],
                        row[8], tuple(json.loads(row[9])))


class HistoryStore:
    """The SQLite file at ``path``: created by the first writing run; reads never create it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def run(self, *, write: bool) -> Iterator[HistoryRun]:
        """A transaction: ``BEGIN IMMEDIATE`` when writing (one writer at a time), else a read."""
        try:
            conn = self._connect(create=write)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"{self.path}: {exc}") from None
        if conn is None:
            yield HistoryRun(None, writable=False)
            return
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield HistoryRun(conn, writable=write)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: {exc}") from None
        finally:
            conn.close()  # closing without COMMIT rolls back

    def trend(self, address: str, limit: int = 200) -> Trend:
        """The last ``limit`` samples of ``address`` (none if the store does not exist)."""
        with self.run(write=False) as run:
            return Trend.of(address, self.path, run.samples(address, limit))

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        return connect(self.path, create=create)


def connect(path: Path, *, create: bool) -> sqlite3.Connection | None:
    """An autocommit connection to the store at ``path`` (WAL, busy timeout, schema brought to
    :data:`SCHEMA_VERSION`), or None when it does not exist and ``create`` is false. A created
    file is 0600 in a 0700 folder. Raises :class:`HistoryError`, ``OSError`` or
    ``sqlite3.Error``; the caller closes the connection."""
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if create and stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = _wal(conn)
        if mode != "wal":
            raise HistoryError(f"{path}: cannot use WAL mode (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(path, conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _wal(conn: sqlite3.Connection) -> str:
    """Put the file in WAL mode (it stays so); the journal mode it is in.

    Switching needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting (the busy handler is not called), while another process holds any lock:
    e.g. when several cron runs create or upgrade a fresh file together. So the mode is read
    first (a file already in WAL needs no switch), and the switch is retried for up to
    :data:`BUSY_TIMEOUT_S`."""
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode == "wal":
        return mode
    give_up = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > give_up:
                raise
        time.sleep(delay)
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
