"""The stake history: every ``fleetctl stakes`` run appends to it (in the state store,
:mod:`fleetctl.state.db`).

``runs`` has one row per run; ``samples`` one row per supplier and run *in which something
changed* (level, chain status, jail, stake, minimum or reasons), so a fleet checked every minute
grows with events, not with time. A supplier's latest sample is therefore its last known state.
A row that is not what the schema says (``reasons`` that is not JSON, a stake stored as text …)
raises :class:`~fleetctl.state.db.StoreCorrupt`, one line naming the store, the table and row,
and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetctl.core.records import record
from fleetctl.core.units import format_upokt
from fleetctl.state.db import (
    BUSY_TIMEOUT_S,
    StateError,
    StoreCorrupt,
    resolve_db_path,
    transaction,
)

if TYPE_CHECKING:
    from fleetctl.core.levels import Level

__all__ = [
    "HistoryRun",
    "HistoryStore",
    "Previous",
    "RunRecord",
    "Sample",
    "SampleRecord",
    "Slash",
    "Trend",
    "trend_for",
]

_INT64 = (-(2**63), 2**63 - 1)
_LEVELS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_CHAIN_STATUSES = ("staked", "unbonding", "unstaked", "not_found")
#: Chain statuses that prove the address was staked once.
_WAS_STAKED = ("staked", "unbonding", "unstaked")


def trend_for(key: str, fleet: Any, db: str | os.PathLike[str] | None, *,
              busy_timeout_s: float = BUSY_TIMEOUT_S) -> Trend:
    """The trend of a supplier given by address, or by its name in ``fleet``."""
    by_name = {s.name: s.operator_address for s in (fleet.suppliers if fleet else ())}
    address = by_name.get(key) or key
    if fleet is not None and fleet.protocol == "morse":
        address = address.lower()
    return HistoryStore(resolve_db_path(db, fleet), busy_timeout_s=busy_timeout_s).trend(address)


@record(frozen=True)
class Previous:
    """What the history knows of one address before this run."""

    stake_upokt: int | None  # the last stake read (None: never read)
    height: int | None  # the height it was read at
    checked_at: str | None
    was_staked: bool  # staked (or unbonding, or unstaked on Morse) in some earlier run


@record(frozen=True)
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


@record(frozen=True)
class RunRecord:
    """One run: where and when it read, its overall status, and its suppliers."""

    checked_at: str
    protocol: str
    url: str
    height: int | None
    status: str
    message: str | None
    samples: tuple[SampleRecord, ...]


@record(frozen=True)
class Sample:
    """A stored sample with its run's time and height."""

    checked_at: str
    height: int | None
    record: SampleRecord


@record(frozen=True)
class Slash:
    """A stake that went down between two consecutive known samples."""

    sample_index: int  # in :attr:`Trend.samples`, the sample that shows the lower stake
    checked_at: str
    height: int | None
    amount_upokt: int
    stake_before_upokt: int
    stake_after_upokt: int


@record(frozen=True)
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
        latest = {row[1]: row for row in self._conn.execute(
            "SELECT id, address, name, status, chain_status, jailed, stake_upokt, min_stake_upokt,"
            " balance_upokt, slashed_upokt, reasons FROM samples WHERE id IN "
            "(SELECT max(id) FROM samples GROUP BY address)")}
        _check_int64(run.height, "height")
        for sample in run.samples:
            for name in ("stake_upokt", "min_stake_upokt", "balance_upokt", "slashed_upokt"):
                _check_int64(getattr(sample, name), f"{sample.address} {name}")
        changed = []
        for s in run.samples:
            reasons = json.dumps(list(s.reasons)) if s.reasons else "[]"  # (most rows: none)
            row = latest.get(s.address)
            if row is None or not (_same_as_stored(row, s, reasons)
                                   or _sample_record(row[1:], self._path, row[0]).change_key() == s.change_key()):
                changed.append((s, reasons))
        sampled = {s.address for s in run.samples}
        for address, row in latest.items():
            if address not in sampled:  # every latest row is checked, as before: a corrupt one is said
                _sample_record(row[1:], self._path, row[0])
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
              s.min_stake_upokt, s.balance_upokt, s.slashed_upokt, reasons) for s, reasons in changed],
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
        raise StateError(f"{what}: {value} does not fit the store (a 64-bit integer)")


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


def _same_as_stored(row: tuple[Any, ...], sample: SampleRecord, reasons: str) -> bool:
    """Whether the stored ``row`` (``id``, ``address`` … ``reasons``) holds ``sample``'s change key
    as :meth:`HistoryRun.record` would write it, and its other columns are of their schema's
    types: then it is that sample, unchanged, and valid (what :func:`_sample_record` would say,
    without building it). False sends the row through :func:`_sample_record` (its checks, and
    :class:`StoreCorrupt` naming a bad column)."""
    _, _, name, status, chain_status, jailed, stake, min_stake, balance, slashed, stored_reasons = row
    return (stored_reasons == reasons and status == sample.status and chain_status == sample.chain_status
            and type(jailed) is int and jailed == int(sample.jailed)
            and type(stake) is type(sample.stake_upokt) and stake == sample.stake_upokt and (stake or 0) >= 0
            and type(min_stake) is type(sample.min_stake_upokt) and min_stake == sample.min_stake_upokt
            and (min_stake or 0) >= 0
            and type(name) is str and (balance is None or (type(balance) is int and balance >= 0))
            and (slashed is None or (type(slashed) is int and slashed >= 0)))


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
        """A transaction (:func:`fleetctl.state.db.transaction`): ``BEGIN IMMEDIATE`` when
        writing (one writer at a time), else a read."""
        with transaction(self.path, write=write, busy_timeout_s=self.busy_timeout_s) as conn:
            yield HistoryRun(conn, writable=write and conn is not None, path=self.path)

    def trend(self, address: str, limit: int = 200) -> Trend:
        """The last ``limit`` samples of ``address`` (none if the store does not exist)."""
        with self.run(write=False) as run:
            return Trend.of(address, self.path, run.samples(address, limit))
