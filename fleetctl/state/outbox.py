"""The outbox of the state store (schema version 2): one ``outbox`` row per notice and sink.

:func:`claim` fans each new notice (``notifications``) out to one row per sink configured at
that moment, drops what cannot be delivered any more, then claims due rows with a lease
(``UPDATE … WHERE unclaimed or lease expired`` inside ``BEGIN IMMEDIATE``: two runs never
claim the same row). Only the oldest queued row of a key and sink is due. The sender marks rows
delivered (:func:`mark_delivered`) or releases them with an error (:func:`release`). When to
retry and how long a notice may wait are :mod:`fleetctl.health.alerts`'s to say; sending is
:mod:`fleetctl.health.sinks`'s. Every function works inside a transaction the caller opened
(:func:`fleetctl.state.db.transaction`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from fleetctl.core.records import record
from fleetctl.state.alerts import (
    COUNT_MAX,
    NOTIFICATION_COLUMNS,
    OUTBOX_BAD,
    OUTBOX_FIELDS,
    Corrupt,
    Corrupted,
    Notification,
    is_time,
    notification_from_row,
    parse_row,
    time_value,
)

__all__ = ["Claim", "Delivery", "Waiting", "claim", "mark_delivered", "queued", "release",
           "undeliverable", "waiting"]


@record(frozen=True)
class Waiting:
    """A sink's notices waiting in the outbox after a failed delivery (backoff)."""

    sink: str
    count: int  # queued rows of the sink
    retry_at: float | None  # the earliest next attempt of a row that failed
    last_error: str  # the newest stored error (one line, redacted)



@record(frozen=True)
class Delivery:
    """One claimed outbox row: send ``notification`` to sink ``sink``."""

    outbox_id: int
    sink: str
    attempts: int  # including this one
    notification: Notification


@record(frozen=True)
class Claim:
    """Rows claimed by one sender (``token`` proves it when marking), and rows dropped now."""

    token: str
    lease_until: float
    deliveries: tuple[Delivery, ...]
    #: sink name -> rows dropped by this claim (undelivered for 24 h, or sink no longer configured)
    dropped: Mapping[str, int]
    #: corrupted outbox or notification rows this claim dropped
    corrupt: tuple[Corrupt, ...] = ()



def claim(conn: sqlite3.Connection, names: list[str], *, now: float, token: str,
          lease_until: float, limit: int, ttl_s: float) -> Claim:
    """Fan new notices out to the sinks ``names``, drop what cannot be delivered any more (a
    corrupted row, a row older than ``ttl_s``, a sink no longer configured), and claim up to
    ``limit`` due rows until ``lease_until`` with ``token``."""
    dropped: dict[str, int] = {}
    for name in names:
        conn.execute(
            "INSERT INTO outbox (notification_id, sink, key, state, created_at,"
            " next_attempt_at) SELECT id, ?, key, 'queued', created_at, created_at"
            " FROM notifications WHERE fanned_out = 0 ORDER BY id", (name,))
    conn.execute("UPDATE notifications SET fanned_out = 1 WHERE fanned_out = 0")
    corrupt: list[Corrupt] = []
    # A queued row whose times or sink are not what they must be is never due and never
    # expires, and it blocks the rows of its key behind it: drop it, say so.
    for row in conn.execute(
            f"SELECT {', '.join(n for n, _ in OUTBOX_FIELDS)} FROM outbox"
            f" WHERE state = 'queued' AND ({OUTBOX_BAD})").fetchall():
        try:
            parse_row("outbox", OUTBOX_FIELDS, row, "dropped")
            continue  # e.g. an integer stored where SQLite would keep a real
        except Corrupted as exc:
            corrupt.append(exc.corrupt)
            _drop(conn, row[0], row[2], exc.corrupt, now, dropped)
    free = "state = 'queued' AND (lease_until IS NULL OR lease_until <= :now)"
    placeholders = ",".join(f":s{i}" for i in range(len(names)))
    params: dict[str, Any] = {"now": now, "ttl": now - ttl_s,
                              **{f"s{i}": n for i, n in enumerate(names)}}
    for condition, error in (
            ("created_at < :ttl", "not delivered within 24 h"),
            (f"sink NOT IN ({placeholders})", "sink no longer configured")):
        where = f"{free} AND {condition}"
        for sink, count in conn.execute(
                f"SELECT sink, count(*) FROM outbox WHERE {where} GROUP BY sink", params):
            if isinstance(sink, str):
                dropped[sink] = dropped.get(sink, 0) + count
        conn.execute(f"UPDATE outbox SET state = 'dropped', done_at = :now, lease_until = NULL,"
                     f" last_error = coalesce(last_error || '; ', '') || '{error}'"
                     f" WHERE {where}", params)
    params["limit"] = limit
    ids = [row[0] for row in conn.execute(
        f"SELECT o.id FROM outbox o WHERE o.{free.replace('lease_until', 'o.lease_until')}"
        " AND o.next_attempt_at <= :now AND NOT EXISTS (SELECT 1 FROM outbox p"
        " WHERE p.sink = o.sink AND p.key = o.key AND p.state = 'queued' AND p.id < o.id)"
        " ORDER BY o.id LIMIT :limit", params)]
    deliveries: list[Delivery] = []
    if ids:
        marks = ",".join("?" * len(ids))
        conn.execute(f"UPDATE outbox SET lease_until = ?, claim_token = ?,"
                     f" attempts = attempts + 1 WHERE id IN ({marks})",
                     (lease_until, token, *ids))
        columns = ", ".join(f"n.{c.strip()}" for c in NOTIFICATION_COLUMNS.split(","))
        found = set()
        for row in conn.execute(
                f"SELECT o.id, o.sink, o.attempts, {columns} FROM outbox o"
                f" JOIN notifications n ON n.id = o.notification_id"
                f" WHERE o.id IN ({marks}) ORDER BY o.id", ids).fetchall():
            found.add(row[0])
            try:
                notice = notification_from_row(row[3:], "its delivery dropped")
            except Corrupted as exc:
                corrupt.append(exc.corrupt)
                _drop(conn, row[0], row[1], exc.corrupt, now, dropped)
                continue
            deliveries.append(Delivery(row[0], row[1], row[2], notice))
        for row_id in sorted(set(ids) - found):  # its notice is gone
            lost = Corrupt("outbox", row_id, "notification_id", "names no notice", None, "dropped")
            corrupt.append(lost)
            _drop(conn, row_id, None, lost, now, dropped)
    return Claim(token, lease_until, tuple(deliveries), dropped, tuple(corrupt))


def _drop(conn: sqlite3.Connection, row_id: int, sink: object, corrupt: Corrupt, now: float,
          dropped: dict[str, int]) -> None:
    conn.execute("UPDATE outbox SET state = 'dropped', done_at = ?, lease_until = NULL,"
                 " last_error = ? WHERE id = ?",
                 (now, f"corrupted: {corrupt.describe()}"[:300], row_id))
    if isinstance(sink, str):
        dropped[sink] = dropped.get(sink, 0) + 1


def mark_delivered(conn: sqlite3.Connection, token: str, ids: list[int], now: float) -> int:
    """Mark rows claimed with ``token`` delivered; rows whose lease another run took over are
    left alone. How many were marked."""
    marks = ",".join("?" * len(ids))
    return conn.execute(
        f"UPDATE outbox SET state = 'delivered', done_at = ?, lease_until = NULL,"
        f" last_error = NULL WHERE claim_token = ? AND state = 'queued' AND id IN ({marks})",
        (now, token, *ids)).rowcount


def release(conn: sqlite3.Connection, token: str, ids: list[int], error: str, *, now: float,
            attempted: bool, backoff_s: Callable[[int], float]) -> int:
    """Give rows claimed with ``token`` back: after ``backoff_s(attempts)`` when a send was
    attempted (``error`` is kept), at once, without counting the attempt, when it was not."""
    marks = ",".join("?" * len(ids))
    changed = 0
    for row_id, attempts in conn.execute(
            f"SELECT id, attempts FROM outbox WHERE claim_token = ? AND state = 'queued'"
            f" AND id IN ({marks})", (token, *ids)).fetchall():
        attempts = attempts if isinstance(attempts, int) and 0 <= attempts < COUNT_MAX else 1
        retry_at = now + backoff_s(attempts) if attempted else now
        changed += conn.execute(
            "UPDATE outbox SET lease_until = NULL, claim_token = NULL, next_attempt_at = ?,"
            " last_error = ?, attempts = attempts - ? WHERE id = ?",
            (retry_at, error, 0 if attempted else 1, row_id)).rowcount
    return changed


def queued(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows waiting for delivery, per sink."""
    return dict(conn.execute(
        "SELECT sink, count(*) FROM outbox WHERE state = 'queued' AND typeof(sink) = 'text'"
        " GROUP BY sink").fetchall())


def waiting(conn: sqlite3.Connection) -> dict[str, Waiting]:
    """Per sink with a failed delivery waiting for its retry: its queued rows, the earliest
    retry and the newest error."""
    rows = conn.execute(
        "SELECT o.sink, count(*), min(CASE WHEN o.last_error IS NOT NULL"
        " AND typeof(o.next_attempt_at) IN ('integer', 'real') THEN o.next_attempt_at END),"
        " (SELECT p.last_error FROM outbox p WHERE p.sink = o.sink AND p.state = 'queued'"
        "  AND typeof(p.last_error) = 'text' ORDER BY p.id DESC LIMIT 1)"
        " FROM outbox o WHERE o.state = 'queued' AND typeof(o.sink) = 'text'"
        " GROUP BY o.sink HAVING count(o.last_error) > 0").fetchall()
    return {sink: Waiting(sink, count, time_value(retry) if is_time(retry) else None, error or "")
            for sink, count, retry, error in rows}


def undeliverable(conn: sqlite3.Connection, since: float) -> dict[str, int]:
    """Rows dropped since ``since``, per sink."""
    return dict(conn.execute(
        "SELECT sink, count(*) FROM outbox WHERE state = 'dropped' AND done_at >= ?"
        " AND typeof(sink) = 'text' GROUP BY sink", (since,)).fetchall())
