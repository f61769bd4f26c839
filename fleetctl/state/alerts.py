"""The alert tables of the state store (schema version 2): ``alerts``, ``alert_meta``,
``silences`` and ``notifications``; the ``outbox`` is :mod:`fleetctl.state.outbox`'s.

The state machine (when a problem fires, resolves, is muted …) is
:mod:`fleetctl.health.alerts`'s; this module holds the rows and the SQL that reads and writes
them, inside a transaction the caller opened (:func:`fleetctl.state.db.transaction`). Every row
is checked column by column where it is read; a corrupted one is a :class:`Corrupt`.
"""

from __future__ import annotations

import enum
import fnmatch
import json
import math
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.redact import scrub

__all__ = [
    "ALERT_STATES",
    "COUNT_MAX",
    "LEVELS",
    "AlertRow",
    "Corrupt",
    "Corrupted",
    "Notification",
    "add_silence",
    "clean",
    "delete_alert",
    "housekeeping",
    "insert_notification",
    "is_time",
    "level_name",
    "matches",
    "open_keys",
    "read_alerts",
    "read_meta",
    "read_silences",
    "remove_silences",
    "repair",
    "save_alert",
    "set_acked",
    "set_last_run",
    "severity",
    "time_value",
]

#: Level names, in severity order.
LEVELS = ("OK", "WARNING", "UNKNOWN", "CRITICAL")
_SEVERITY = {name: rank for rank, name in enumerate(LEVELS)}
ALERT_STATES = ("pending", "firing", "resolved")


def level_name(level: object) -> str:
    """``"WARNING"`` from ``"warning"``, ``"WARNING"`` or ``Level.WARNING``; ValueError else."""
    name = level.name if isinstance(level, enum.Enum) else str(level).strip().upper()
    if name not in _SEVERITY:
        raise ValueError(f"unknown level {level!r} (expected one of {', '.join(LEVELS)})")
    return name


def severity(level: object) -> int:
    """The rank of a level: OK 0 < WARNING 1 < UNKNOWN 2 < CRITICAL 3."""
    return _SEVERITY[level_name(level)]


def clean(text: object, limit: int = 2000) -> str:
    """Text as the store keeps it and sinks send it: one line, every URL in it without its
    secrets (:func:`fleetctl.core.redact.scrub`, the endpoint rule), at most ``limit`` characters."""
    return scrub(str(text), sink_style=False, limit=limit)



def matches(pattern: str, key: str, target: str) -> bool:
    return fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(target, pattern)


@record(frozen=True)
class Corrupt:
    """A row of the alert state that cannot be used as it is (written behind fleetctl's back, a
    disk fault, a bug): fleetctl leaves it out, drops it (a notice) or resets it (the stale-run
    guard), and reports it until ``fleetctl alerts repair`` deletes it."""

    table: str
    row: int | None  # the row's id
    field: str  # the column that is wrong
    reason: str  # "is not JSON", "is text, not a time (unix seconds)": never the value itself
    key: str | None = None  # the alert key the row belongs to, when it can be read
    action: str = "left out"  # what this run did with it

    def describe(self) -> str:
        """``alerts row 7 (execution/eth-geth-1): labels is not JSON``."""
        key = f" ({clean(self.key, 120)})" if self.key else ""
        return f"{self.table} row {self.row}{key}: {self.field} {self.reason}"

    def line(self, db: Path | str) -> str:
        """One line naming the store, the row and what to do."""
        return (f"{db}: corrupted alert state, {self.describe()} ({self.action}); run "
                f"`fleetctl alerts repair --db {db}` to delete the corrupted rows, or move the "
                "store away to start afresh")

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "row": self.row, "field": self.field, "reason": self.reason,
                "key": self.key, "action": self.action}


class Corrupted(Exception):
    def __init__(self, corrupt: Corrupt) -> None:
        super().__init__(corrupt.describe())
        self.corrupt = corrupt


def _sql_type(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "a blob"
    if isinstance(value, bool) or isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else "an infinite number"
    return "text"


def _v_id(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"is {_sql_type(value)}, not a row id")


def _v_text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"is {_sql_type(value)}, not text")


#: Times are unix seconds; beyond this (the year 5138) a time is garbage.
_TIME_MAX = 1e11
#: Counters (runs, notices, attempts) beyond this are garbage (and would overflow SQLite).
COUNT_MAX = 2**53


def _v_time(value: object) -> float:
    if (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value < _TIME_MAX):  # 1970 to year 5138: before 1970 no clock of ours ran
        return float(value)
    kind = _sql_type(value)
    kind = "a number out of range" if kind in ("a number", "an integer") else kind
    raise ValueError(f"is {kind}, not a time (unix seconds)")


def _v_count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < COUNT_MAX:
        return value
    kind = _sql_type(value)
    raise ValueError(f"is {'an integer out of range' if kind == 'an integer' else kind}, not a count")


def _v_flag(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return bool(value)
    raise ValueError(f"is {_sql_type(value)}, not 0 or 1")


def _v_level(value: object) -> str:
    if isinstance(value, str) and value in _SEVERITY:
        return value
    raise ValueError(f"is not a level ({', '.join(LEVELS)})")


def _v_state(value: object) -> str:
    if isinstance(value, str) and value in ALERT_STATES:
        return value
    raise ValueError(f"is not a state ({', '.join(ALERT_STATES)})")


def _v_status(value: object) -> str:
    if isinstance(value, str) and value in ("firing", "resolved", "event"):
        return value
    raise ValueError("is not a notice status (firing, resolved, event)")


def _v_labels(value: object) -> dict[str, str]:
    text = _v_text(value)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("is not JSON") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError("is not a JSON object of strings")
    return data


def _optional(check: Callable[[Any], Any]) -> Callable[[object], Any]:
    def optional(value: object) -> Any:
        return None if value is None else check(value)
    return optional


_ALERT_FIELDS = (
    ("id", _v_id), ("key", _v_text), ("kind", _v_text), ("target", _v_text), ("state", _v_state),
    ("level", _v_level), ("message", _v_text), ("labels", _v_labels), ("runs", _v_count),
    ("first_seen", _v_time), ("last_run", _v_time), ("fired_at", _optional(_v_time)),
    ("notified_at", _optional(_v_time)), ("notified_level", _optional(_v_level)),
    ("notifications", _v_count), ("held", _v_flag), ("acked_until", _optional(_v_time)),
    ("resolved_at", _optional(_v_time)), ("resolved_message", _optional(_v_text)))
_NOTIFICATION_FIELDS = (
    ("id", _v_id), ("status", _v_status), ("key", _v_text), ("kind", _v_text), ("target", _v_text),
    ("level", _v_level), ("previous_level", _optional(_v_level)), ("message", _v_text),
    ("labels", _v_labels), ("started_at", _v_time), ("created_at", _v_time), ("repeat", _v_count))
_SILENCE_FIELDS = (("id", _v_id), ("pattern", _v_text), ("until", _v_time), ("reason", _v_text),
                   ("created_at", _v_time))
#: Outbox columns the delivery relies on, and the SQL that finds a row where one is wrong.
OUTBOX_FIELDS = (("id", _v_id), ("notification_id", _v_id), ("sink", _v_text), ("key", _v_text),
                  ("created_at", _v_time), ("next_attempt_at", _v_time),
                  ("lease_until", _optional(_v_time)), ("attempts", _v_count))
OUTBOX_BAD = ("typeof(notification_id) != 'integer' OR typeof(sink) != 'text' OR typeof(key) != 'text'"
               " OR typeof(attempts) != 'integer' OR attempts < 0"
               + "".join(f" OR typeof({c}) NOT IN ('integer', 'real') OR abs({c}) >= {_TIME_MAX:.0f}"
                         for c in ("created_at", "next_attempt_at"))
               + f" OR typeof(lease_until) NOT IN ('null', 'integer', 'real')"
                 f" OR abs(lease_until) >= {_TIME_MAX:.0f}")


def parse_row(table: str, fields: tuple[tuple[str, Any], ...], row: tuple[Any, ...],
           action: str = "left out") -> list[Any]:
    """The row's values checked column by column; :class:`Corrupted` at the first bad one."""
    values = []
    for (name, check), value in zip(fields, row):
        try:
            values.append(check(value))
        except ValueError as exc:
            names = [n for n, _ in fields]
            key = row[names.index("key")] if "key" in names else None
            raise Corrupted(Corrupt(table, row[0] if isinstance(row[0], int) else None, name,
                                     str(exc), key if isinstance(key, str) else None, action)) from None
    return values

@record(frozen=True)
class Notification:
    """One notice to send: ``status`` firing, resolved or event."""

    id: int
    status: str
    key: str
    kind: str
    target: str
    level: str  # firing/event: the level; resolved: the level seen when it cleared (OK if absent)
    previous_level: str | None  # the level last notified before this notice (None: first)
    message: str
    labels: Mapping[str, str]
    started_at: float  # when the problem was first seen (events: when it happened)
    created_at: float  # when the notice was made (stable across delivery attempts)
    repeat: int  # 0: the first notice of the incident; n: the n-th after it

    @property
    def escalated(self) -> bool:
        return (self.status == "firing" and self.previous_level is not None
                and severity(self.level) > severity(self.previous_level))


@record
class AlertRow:
    """A mutable alert row while a run works on it."""

    id: int | None
    key: str
    kind: str
    target: str
    state: str
    level: str
    message: str
    labels: dict[str, str]
    runs: int
    first_seen: float
    last_run: float
    fired_at: float | None = None
    notified_at: float | None = None
    notified_level: str | None = None
    notifications: int = 0
    held: bool = False
    acked_until: float | None = None
    resolved_at: float | None = None
    resolved_message: str | None = None


ALERT_COLUMNS = ", ".join(name for name, _ in _ALERT_FIELDS)
NOTIFICATION_COLUMNS = ", ".join(name for name, _ in _NOTIFICATION_FIELDS)


def alert_from_row(row: tuple[Any, ...]) -> AlertRow:
    """An alert row, checked (:class:`Corrupted` when a column is wrong)."""
    return AlertRow(*parse_row("alerts", _ALERT_FIELDS, row))


def notification_from_row(row: tuple[Any, ...], action: str = "left out") -> Notification:
    return Notification(*parse_row("notifications", _NOTIFICATION_FIELDS, row, action))


def read_alerts(conn: sqlite3.Connection, where: str, params: Any,
                 corrupt: list[Corrupt]) -> list[AlertRow]:
    """The alerts ``where`` selects; a corrupted row goes to ``corrupt`` instead."""
    alerts = []
    for row in conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts {where}", params):
        try:
            alerts.append(alert_from_row(row))
        except Corrupted as exc:
            corrupt.append(exc.corrupt)
    return alerts


def read_silences(conn: sqlite3.Connection, now: float, corrupt: list[Corrupt]) -> list[list[Any]]:
    """The silences in force (id, pattern, until, reason, created_at); corrupted ones reported."""
    rows = []
    for row in conn.execute("SELECT id, pattern, until, reason, created_at FROM silences ORDER BY id"):
        try:
            values = parse_row("silences", _SILENCE_FIELDS, row, "ignored")
        except Corrupted as exc:
            corrupt.append(exc.corrupt)
            continue
        if values[2] > now:
            rows.append(values)
    return rows


def read_meta(conn: sqlite3.Connection, corrupt: list[Corrupt], action: str) -> float | None:
    """The newest ``run_started_at`` applied; None when none (or when it is corrupted)."""
    row = conn.execute("SELECT last_run_started FROM alert_meta WHERE id = 1").fetchone()
    if row is None:
        return None
    try:
        return _v_time(row[0])
    except ValueError as exc:
        corrupt.append(Corrupt("alert_meta", 1, "last_run_started", str(exc), None, action))
        return None


def time_value(value: object) -> float:
    """A time column's value (unix seconds); ValueError when it is not one."""
    return _v_time(value)


def is_time(value: object) -> bool:
    try:
        _v_time(value)
    except ValueError:
        return False
    return True


def open_keys(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(key, target) of the open alerts whose key and target are text."""
    return conn.execute("SELECT key, target FROM alerts WHERE state != 'resolved'"
                        " AND typeof(key) = 'text' AND typeof(target) = 'text' ORDER BY key").fetchall()



def set_last_run(conn: sqlite3.Connection, run_started_at: float, *, overwrite: bool) -> None:
    """Remember the newest ``run_started_at`` applied (``overwrite``: a corrupted value is
    replaced outright)."""
    conn.execute("INSERT INTO alert_meta (id, last_run_started) VALUES (1, ?) "
                 "ON CONFLICT(id) DO UPDATE SET last_run_started = "
                 "max(last_run_started, excluded.last_run_started)", (run_started_at,))
    if overwrite:  # max() keeps text over a number: overwrite the corrupted value
        conn.execute("UPDATE alert_meta SET last_run_started = ? WHERE id = 1", (run_started_at,))


def delete_alert(conn: sqlite3.Connection, alert_id: int) -> None:
    conn.execute("DELETE FROM alerts WHERE id = ?", (alert_id,))


def insert_notification(conn: sqlite3.Connection, status: str, alert: AlertRow, level: str,
                        previous_level: str | None, message: str, started_at: float,
                        now: float, repeat: int) -> Notification:
    labels = dict(alert.labels)
    cursor = conn.execute(
        "INSERT INTO notifications (status, key, kind, target, level, previous_level, message,"
        " labels, started_at, created_at, repeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (status, alert.key, alert.kind, alert.target, level, previous_level, message,
         json.dumps(labels), started_at, now, repeat))
    assert cursor.lastrowid is not None
    return Notification(cursor.lastrowid, status, alert.key, alert.kind, alert.target, level,
                        previous_level, message, labels, started_at, now, repeat)


def save_alert(conn: sqlite3.Connection, a: AlertRow) -> None:
    values = (a.key, a.kind, a.target, a.state, a.level, a.message, json.dumps(a.labels),
              a.runs, a.first_seen, a.last_run, a.fired_at, a.notified_at, a.notified_level,
              a.notifications, int(a.held), a.acked_until, a.resolved_at, a.resolved_message)
    if a.id is None:
        cursor = conn.execute(
            "INSERT INTO alerts (key, kind, target, state, level, message, labels, runs,"
            " first_seen, last_run, fired_at, notified_at, notified_level, notifications,"
            " held, acked_until, resolved_at, resolved_message)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        a.id = cursor.lastrowid
    else:
        conn.execute(
            "UPDATE alerts SET key = ?, kind = ?, target = ?, state = ?, level = ?, message = ?,"
            " labels = ?, runs = ?, first_seen = ?, last_run = ?, fired_at = ?, notified_at = ?,"
            " notified_level = ?, notifications = ?, held = ?, acked_until = ?, resolved_at = ?,"
            " resolved_message = ? WHERE id = ?", (*values, a.id))


def housekeeping(conn: sqlite3.Connection, now: float, retention_s: float) -> None:
    """Delete resolved alerts, finished outbox rows and their notices older than
    ``retention_s``, and expired silences."""
    old = now - retention_s
    conn.execute("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?", (old,))
    conn.execute("DELETE FROM outbox WHERE state != 'queued' AND done_at < ?", (old,))
    conn.execute("DELETE FROM notifications WHERE created_at < ? AND NOT EXISTS "
                 "(SELECT 1 FROM outbox WHERE outbox.notification_id = notifications.id)", (old,))
    conn.execute("DELETE FROM silences WHERE until <= ?", (now,))


def add_silence(conn: sqlite3.Connection, pattern: str, until: float, reason: str, now: float) -> int:
    """Store a silence; its id."""
    cursor = conn.execute("INSERT INTO silences (pattern, until, reason, created_at)"
                          " VALUES (?, ?, ?, ?)", (pattern, until, reason, now))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def set_acked(conn: sqlite3.Connection, alert_id: int | None, until: float | None) -> None:
    conn.execute("UPDATE alerts SET acked_until = ? WHERE id = ?", (until, alert_id))


def remove_silences(conn: sqlite3.Connection, text: str) -> int:
    """Remove the silence with this id, or the silences with this pattern or matched by it
    (``*`` removes all), and the acks of the open alerts it matches; how many went."""
    ident = text[1:] if text.startswith("#") else text
    if ident.isdigit():
        removed = conn.execute("DELETE FROM silences WHERE id = ?", (int(ident),)).rowcount
        if removed:
            return removed
    removed = 0
    for row_id, pattern in conn.execute(
            "SELECT id, pattern FROM silences WHERE typeof(pattern) = 'text'").fetchall():
        if pattern == text or fnmatch.fnmatchcase(pattern, text):
            removed += conn.execute("DELETE FROM silences WHERE id = ?", (row_id,)).rowcount
    for row_id, key, target in conn.execute(
            "SELECT id, key, target FROM alerts WHERE state != 'resolved'"
            " AND acked_until IS NOT NULL AND typeof(key) = 'text'"
            " AND typeof(target) = 'text'").fetchall():
        if matches(text, key, target):
            removed += conn.execute("UPDATE alerts SET acked_until = NULL WHERE id = ?",
                                    (row_id,)).rowcount
    return removed


def repair(conn: sqlite3.Connection, now: float) -> list[Corrupt]:
    """Delete every corrupted row (an alert, a silence, a notice and its deliveries, an outbox
    row; a corrupted stale-run guard is deleted); what was found."""
    found: list[Corrupt] = []
    bad: list[Corrupt] = []
    read_alerts(conn, "", (), bad)
    for c in bad:
        conn.execute("DELETE FROM alerts WHERE id = ?", (c.row,))
    found += bad
    bad = []
    read_silences(conn, now, bad)
    for c in bad:
        conn.execute("DELETE FROM silences WHERE id = ?", (c.row,))
    found += bad
    for row in conn.execute(f"SELECT {NOTIFICATION_COLUMNS} FROM notifications").fetchall():
        try:
            notification_from_row(row)
        except Corrupted as exc:
            found.append(exc.corrupt)
            conn.execute("DELETE FROM outbox WHERE notification_id = ?", (row[0],))
            conn.execute("DELETE FROM notifications WHERE id = ?", (row[0],))
    for row in conn.execute(
            f"SELECT {', '.join(n for n, _ in OUTBOX_FIELDS)} FROM outbox"
            f" WHERE {OUTBOX_BAD} OR NOT EXISTS (SELECT 1 FROM notifications n"
            f" WHERE n.id = outbox.notification_id)").fetchall():
        try:
            parse_row("outbox", OUTBOX_FIELDS, row)
            corrupt = Corrupt("outbox", row[0], "notification_id", "names no notice")
        except Corrupted as exc:
            corrupt = exc.corrupt
        found.append(corrupt)
        conn.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
    bad = []
    read_meta(conn, bad, "")
    if bad:
        conn.execute("DELETE FROM alert_meta WHERE id = 1")
    found += bad
    return found
