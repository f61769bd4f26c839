"""The chain's claim, proof, settlement and slash events of the fleet's suppliers
(``chain_events``, schema version 4) and how far each node's blocks have been read
(``chain_cursor``). Reading the chain and judging the events are :mod:`fleetctl.pocket.claims`'s;
this module only stores and reads the rows.

A claim is (supplier, service, application, session_end); ``UNIQUE(height, kind, supplier,
service, application, session_end)`` + ``INSERT OR IGNORE`` make a height stored twice
(overlapping cron runs, a re-read after a re-org) change nothing. The events of one run and its
cursor are written in one ``BEGIN IMMEDIATE`` transaction (:func:`fleetctl.state.db.transaction`)
with the caller's busy timeout; the cursor only moves forward (the higher of the stored and the
new) unless a re-org is being re-read. Rows read back are hostile input: a row that is not what
the schema says is a :class:`~fleetctl.state.db.HistoryError` naming it.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.state.db import HistoryError, transaction

__all__ = [
    "COLUMNS", "Cursor", "check_row", "claim_relays", "load_events", "operators_events",
    "read_cursor",
    "row_of", "stored_block_time", "write_events",
]

#: ``chain_events``' event columns, in the order of :class:`fleetctl.pocket.events.ChainEvent`'s fields.
COLUMNS = ("height", "kind", "supplier", "service", "application", "session_end", "num_relays",
           "compute_units", "claimed_upokt", "settled_upokt", "minted_upokt", "reason",
           "penalty_upokt", "stake_after_upokt", "proof_requirement")
#: An event's values in :data:`COLUMNS`' order, as one tuple (an attrgetter: one call per event).
row_of = operator.attrgetter(*COLUMNS)
_INSERT = (f"INSERT OR IGNORE INTO chain_events ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")
#: The columns that hold non-negative integers (the others: text); NULL is allowed in both.
_INTS = frozenset({0, 5, 6, 7, 8, 9, 10, 12, 13})


@record(frozen=True)
class Cursor:
    """How far one node's blocks have been read."""

    last_height: int
    last_hash: str | None
    block_time_ms: int | None


def read_cursor(path: Path, endpoint: str, busy_timeout_s: float) -> Cursor | None:
    """``endpoint``'s cursor (None: the store or the row does not exist)."""
    with transaction(path, write=False, busy_timeout_s=busy_timeout_s) as conn:
        if conn is None:
            return None
        row = conn.execute("SELECT last_height, last_hash, block_time_ms FROM chain_cursor "
                           "WHERE endpoint = ?", (endpoint,)).fetchone()
    if row is None:
        return None
    height, digest, block_time = row
    if not isinstance(height, int) or not 0 <= height <= 10**12:
        raise HistoryError(f"state store {path}: chain_cursor row {endpoint!r}: last_height is "
                           f"not a height; delete the row to read again")
    return Cursor(height, digest if isinstance(digest, str) else None,
                  block_time if isinstance(block_time, int) else None)


def write_events(path: Path, endpoint: str, rows: Iterable[Sequence[Any]], *, cursor: int | None,
                 cursor_hash: str | None, block_time_ms: int | None, reorg: int | None,
                 prune_below: int | None, busy_timeout_s: float) -> int:
    """In one transaction: delete the events of the ``reorg`` height (re-read), store ``rows``
    (values in :data:`COLUMNS`' order), delete the events below ``prune_below`` and move
    ``endpoint``'s cursor to ``cursor`` (None: left as it is). The rows newly stored."""
    with transaction(path, write=True, busy_timeout_s=busy_timeout_s) as conn:
        assert conn is not None
        before = conn.total_changes
        if reorg is not None:
            conn.execute("DELETE FROM chain_events WHERE height = ?", (reorg,))
        deleted = conn.total_changes - before
        conn.executemany(_INSERT, rows)
        stored = conn.total_changes - before - deleted
        if prune_below is not None:
            conn.execute("DELETE FROM chain_events WHERE height < ?", (prune_below,))
        if cursor is not None:
            row = conn.execute("SELECT last_height FROM chain_cursor WHERE endpoint = ?",
                               (endpoint,)).fetchone()
            if row is None or not isinstance(row[0], int) or row[0] <= cursor or reorg is not None:
                conn.execute(
                    "INSERT INTO chain_cursor (endpoint, last_height, last_hash, block_time_ms, "
                    "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET "
                    "last_height = excluded.last_height, last_hash = excluded.last_hash, "
                    "block_time_ms = COALESCE(excluded.block_time_ms, block_time_ms), "
                    "updated_at = excluded.updated_at",
                    (endpoint, cursor, cursor_hash, block_time_ms, time.time()))
    return stored


def check_row(row: Sequence[Any]) -> Sequence[Any]:
    """``row`` (values in :data:`COLUMNS`' order) when each value has its column's type;
    ValueError naming the first that does not."""
    for index, value in enumerate(row):
        if index in _INTS and value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"{COLUMNS[index]} is not a non-negative integer")
        if index not in _INTS and value is not None and not isinstance(value, str):
            raise ValueError(f"{COLUMNS[index]} is not text")
    return row


def load_events(path: Path | None, suppliers: frozenset[str], since_height: int,
                busy_timeout_s: float) -> list[Sequence[Any]]:
    """The events of ``suppliers`` whose session ended at ``since_height`` or later, in the
    order stored (height, then id), each checked (:func:`check_row`)."""
    if path is None:
        return []
    with transaction(path, write=False, busy_timeout_s=busy_timeout_s) as conn:
        if conn is None:
            return []
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM chain_events WHERE session_end >= ? "
                            "ORDER BY height, id", (since_height,)).fetchall()
    found = []
    for row in rows:
        if row[2] not in suppliers:
            continue
        try:
            found.append(check_row(row))
        except (TypeError, ValueError) as exc:
            raise HistoryError(f"state store {path}: chain_events row at height {row[0]!r}: {exc}; "
                               "move the store aside or delete the row") from None
    return found


def stored_block_time(path: Path | None, busy_timeout_s: float) -> int | None:
    """The newest block time a cursor recorded (ms, believed up to an hour), else None."""
    if path is None:
        return None
    with transaction(path, write=False, busy_timeout_s=busy_timeout_s) as conn:
        if conn is None:
            return None
        row = conn.execute("SELECT block_time_ms FROM chain_cursor WHERE block_time_ms IS NOT NULL "
                           "ORDER BY updated_at DESC LIMIT 1").fetchone()
    return row[0] if row and isinstance(row[0], int) and 0 < row[0] <= 3_600_000 else None


def operators_events(path: Path, operators: Iterable[str], busy_timeout_s: float
                     ) -> tuple[dict[str, list[tuple[int, str, str | None]]], int | None]:
    """Each of ``operators``' (height, kind, reason) events (only those that have some) and the
    highest height stored: one read of the store for all of them (a fleet's 1,000 operators
    each opening the store took 0.4 s of a health run)."""
    wanted = list(dict.fromkeys(operators))
    out: dict[str, list[tuple[int, str, str | None]]] = {}
    with transaction(path, write=False, busy_timeout_s=busy_timeout_s) as conn:
        if conn is None or not wanted:
            return out, None
        top = conn.execute("SELECT MAX(height) FROM chain_events").fetchone()[0]
        since = (top or 0) - 10**7
        for start in range(0, len(wanted), _IN_CHUNK):  # bounded bound parameters per query
            chunk = wanted[start:start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for supplier, height, kind, reason in conn.execute(
                    f"SELECT supplier, height, kind, reason FROM chain_events WHERE supplier IN ({marks}) "
                    "AND height > ?", (*chunk, since)):
                out.setdefault(supplier, []).append((height, kind, reason))
    return out, top if isinstance(top, int) else None


#: suppliers per ``IN (...)`` (SQLite's bound-parameter limit is 999 on older builds)
_IN_CHUNK = 500


def claim_relays(path: Path, suppliers: Iterable[str], service: str | None, busy_timeout_s: float
                 ) -> list[tuple[str, str, str, int, int]] | None:
    """Every claim (created or updated) of ``suppliers`` with an integer relay count, oldest
    first: (supplier, service, application, session_end, num_relays). None when the store does
    not exist or no supplier is asked for. ``service``: that service's only."""
    wanted = set(suppliers)
    with transaction(path, write=False, busy_timeout_s=busy_timeout_s) as conn:
        if conn is None or not wanted:
            return None
        query = ("SELECT supplier, service, application, session_end, num_relays, height FROM "
                 "chain_events WHERE kind IN ('claim_created', 'claim_updated')"
                 + (" AND service = ?" if service else "") + " ORDER BY height")
        rows = conn.execute(query, (service,) if service else ()).fetchall()
    return [(supplier, svc, app, end, relays) for supplier, svc, app, end, relays, _ in rows
            if supplier in wanted and isinstance(relays, int)]
