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
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetctl.pocket.base import Level
from fleetctl.spec.model import Fleet, format_upokt

__all__ = [
    "SCHEMA_VERSION",
    "HistoryError",
    "HistoryRun",
    "HistoryStore",
    "Previous",
    "RunRecord",
    "Sample",
    "SampleRecord",
    "Slash",
    "Trend",
    "default_db_path",
    "resolve_db_path",
    "trend_for",
]

SCHEMA_VERSION = 1
DB_NAME = "fleetctl.db"
BUSY_TIMEOUT_S = 30.0
#: Chain statuses that prove the address was staked once.
_WAS_STAKED = ("staked", "unbonding", "unstaked")

_SCHEMA = (
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
        if not self.path.exists():
            if not create:
                return None
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        if create and stat.S_IMODE(self.path.stat().st_mode) != 0o600:
            os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise HistoryError(f"{self.path}: cannot use WAL mode (journal_mode is {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{self.path}: schema version {version} is newer than this "
                               f"fleetctl's ({SCHEMA_VERSION}); upgrade fleetctl")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another run may have created it while this one waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
