"""Alert state for ``fleetctl health``: a state machine per problem and an outbox of notices.

Everything lives in the SQLite file of the stake history (:mod:`fleetctl.pocket.history`,
schema version 2), so a cron job that runs every minute, is killed, or overlaps with the next
one neither repeats nor loses a notice. This module does no network I/O;
:mod:`fleetctl.health.sinks` sends what the outbox holds.

Observations and problems
    Each run of ``health`` hands :meth:`AlertStore.record_run` one :class:`Observation` per
    thing it checked: ``kind`` (execution, balancer, relayminer, pocket_node, stake, host,
    chain, alerting, remediation), ``target`` (the inventory's name for it), a level (``OK``,
    ``WARNING``, ``CRITICAL``, ``UNKNOWN``; a :class:`~fleetctl.core.levels.Level` is accepted
    too), a message and labels. An alert is identified by its key ``kind/target``. A *problem*
    is an observation at or above ``policy.min_level`` by severity (OK < WARNING < UNKNOWN <
    CRITICAL): with ``"WARNING"`` that is WARNING, UNKNOWN and CRITICAL; with ``"CRITICAL"``
    only CRITICAL. Two observations of one key in a run count as the worse of the two.

Lifecycle of one key
    * **pending**: the problem is counted once per run that sees it (``runs``). Two runs with
      the same ``run_started_at`` count once.
    * **firing**: when ``runs`` reaches ``policy.after`` (``after=1`` fires on the first run)
      one ``firing`` notice is enqueued. While it fires, a notice is enqueued again when
      ``renotify_s`` has passed since the last one (``0``: never), and at once when the level
      escalates above the level last notified (WARNING → CRITICAL). A de-escalation or a new
      message does not notify; the next notice carries them (``previous_level`` tells a
      receiver the level it last heard).
    * **resolved**: when the problem clears (the key is OK, below ``min_level``, or absent
      from a run: "no longer checked"), a firing alert enqueues one ``resolved`` notice if its
      firing notice was enqueued, and is kept as history for 7 days; a pending one is dropped
      without a word. The next problem of that key starts counting from one again.

Mutes and acknowledgements
    * A mute (:meth:`AlertStore.mute`, a *silence*) is an fnmatch pattern matched against the
      key (``execution/eth-*``) or the target (``eth-geth-1``), until a time. It holds back
      the firing, escalation and re-notify notices of every matching alert, including alerts
      that start while it lasts. An alert that fired, or kept firing, under a mute is
      notified at the first run after the mute ends or is removed, if it still fires.
    * An ack (:meth:`AlertStore.ack`) applies to the matching alerts that fire at that moment
      (not to later incidents of the same key): it holds back re-notify notices until it
      expires or the alert resolves; an escalation still notifies.
    * Neither ever holds back a ``resolved`` notice of an alert whose firing notice was
      enqueued: a mute never loses the close of an incident. An alert that fired and cleared
      entirely under a mute sends nothing.
    * :meth:`AlertStore.unmute` removes silences (by id, by the same pattern, or every silence
      whose pattern the argument matches: ``unmute '*'`` removes all) and the acks of the
      alerts the pattern matches.

Events
    :meth:`AlertStore.enqueue_event` queues a one-off notice (a remediation action); it has no
    lifecycle, is never muted, and is delivered like alert notices.

Restarts and overlapping runs
    All state is in SQLite: a new process continues where the last one stopped. Each
    :meth:`AlertStore.record_run` is one ``BEGIN IMMEDIATE`` transaction (one writer at a
    time; a killed run leaves nothing half-written). The store remembers the newest
    ``run_started_at`` applied; a run that started before it is *stale* (a slow run that
    finished after a newer one) and changes nothing: its :class:`RunOutcome` says
    ``applied=False``. Runs that started at the same moment are applied one after the other
    and the second finds the notices already enqueued.

Delivery: the outbox
    A notice is one row in ``notifications``; :meth:`AlertStore.claim` fans each new notice
    out to one ``outbox`` row per sink configured at that moment, then claims due rows with a
    lease (``UPDATE … WHERE unclaimed or lease expired`` inside ``BEGIN IMMEDIATE``: two
    runs never claim the same row). Only the oldest queued row of a key and sink is due, so a
    receiver hears ``firing`` before ``resolved``. The sender marks rows delivered
    (:meth:`AlertStore.mark_delivered`) or releases them with an error and a backoff
    (:meth:`AlertStore.release`: 30 s, doubling per attempt, at most 15 min) for a later run to
    retry. A row still undelivered 24 h after its notice was made, or whose sink is no longer
    configured, is marked ``dropped`` and counted (:attr:`Claim.dropped`,
    :meth:`AlertStore.undeliverable`). Delivery is at-least-once. The only window for a
    duplicate is a receiver that accepted a notice without fleetctl recording it: a process
    killed (or stalled past its lease, which is twice the sink timeout plus 60 s) between
    the send and the mark, after which the lease expires and another run sends the row
    again. (A receiver that acts on a request but answers only after the sink timeout looks
    like a failure to fleetctl and gets the notice again on the retry; the sender never cuts
    a request off for any other reason.) Receivers can de-duplicate on the notice's ``id``.

Housekeeping
    Each run deletes resolved alerts, finished outbox rows and their notices older than 7 days,
    and expired silences.

Hostile or broken state
    Every row is checked column by column where it is read (a level is a known name, labels a
    JSON object of strings, a time a finite number of unix seconds, a count an integer …). A
    corrupted row is a :class:`Corrupt`: an alert is left out and its key left alone, a silence
    ignored, a notice or outbox row dropped, the stale-run guard reset; ``health`` reports each
    as one UNKNOWN check and ``alerts list`` as one line (exit 1), both naming the store, the
    row and the fix (:meth:`AlertStore.repair`, ``fleetctl alerts repair``). The other alerts
    keep working. Messages and labels are stored, shown and sent with every URL in them
    redacted (:func:`fleetctl.core.redact.scrub`). Every wait for another process's lock is bounded
    (``busy_timeout_s``) and ends in :class:`~fleetctl.pocket.history.StoreLocked`.
"""

from __future__ import annotations

import contextlib
import enum
import fnmatch
import json
import math
import os
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fleetctl.core.redact import scrub
from fleetctl.pocket.history import BUSY_TIMEOUT_S, HistoryError, StoreLocked, connect, store_error
from fleetctl.spec.model import AlertPolicy

__all__ = [
    "ALERT_STATES",
    "LEVELS",
    "AlertState",
    "AlertStore",
    "Claim",
    "Corrupt",
    "Delivery",
    "HistoryError",
    "Notification",
    "Observation",
    "RunOutcome",
    "Silence",
    "StoreLocked",
    "Waiting",
    "level_name",
    "severity",
]

#: Level names, in severity order.
LEVELS = ("OK", "WARNING", "UNKNOWN", "CRITICAL")
_SEVERITY = {name: rank for rank, name in enumerate(LEVELS)}
ALERT_STATES = ("pending", "firing", "resolved")
#: Resolved alerts, finished outbox rows and their notices are kept this long.
RETENTION_S = 7 * 86400.0
#: A notice not delivered this long after it was made is dropped.
DELIVERY_TTL_S = 86400.0
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 900.0
NO_LONGER_CHECKED = "no longer checked"


def level_name(level: object) -> str:
    """``"WARNING"`` from ``"warning"``, ``"WARNING"`` or ``Level.WARNING``; ValueError else."""
    name = level.name if isinstance(level, enum.Enum) else str(level).strip().upper()
    if name not in _SEVERITY:
        raise ValueError(f"unknown level {level!r} (expected one of {', '.join(LEVELS)})")
    return name


def severity(level: object) -> int:
    """The rank of a level: OK 0 < WARNING 1 < UNKNOWN 2 < CRITICAL 3."""
    return _SEVERITY[level_name(level)]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
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
        key = f" ({_clean(self.key, 120)})" if self.key else ""
        return f"{self.table} row {self.row}{key}: {self.field} {self.reason}"

    def line(self, db: Path | str) -> str:
        """One line naming the store, the row and what to do."""
        return (f"{db}: corrupted alert state, {self.describe()} ({self.action}); run "
                f"`fleetctl alerts repair --db {db}` to delete the corrupted rows, or move the "
                "store away to start afresh")

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "row": self.row, "field": self.field, "reason": self.reason,
                "key": self.key, "action": self.action}


class _Corrupted(Exception):
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
_COUNT_MAX = 2**53


def _v_time(value: object) -> float:
    if (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and abs(value) < _TIME_MAX):
        return float(value)
    kind = _sql_type(value)
    kind = "a number out of range" if kind in ("a number", "an integer") else kind
    raise ValueError(f"is {kind}, not a time (unix seconds)")


def _v_count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _COUNT_MAX:
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


def _optional(check):  # type: ignore[no-untyped-def]
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
_OUTBOX_FIELDS = (("id", _v_id), ("notification_id", _v_id), ("sink", _v_text), ("key", _v_text),
                  ("created_at", _v_time), ("next_attempt_at", _v_time),
                  ("lease_until", _optional(_v_time)), ("attempts", _v_count))
_OUTBOX_BAD = ("typeof(notification_id) != 'integer' OR typeof(sink) != 'text' OR typeof(key) != 'text'"
               " OR typeof(attempts) != 'integer' OR attempts < 0"
               + "".join(f" OR typeof({c}) NOT IN ('integer', 'real') OR abs({c}) >= {_TIME_MAX:.0f}"
                         for c in ("created_at", "next_attempt_at"))
               + f" OR typeof(lease_until) NOT IN ('null', 'integer', 'real')"
                 f" OR abs(lease_until) >= {_TIME_MAX:.0f}")


def _parse(table: str, fields: tuple[tuple[str, Any], ...], row: tuple[Any, ...],
           action: str = "left out") -> list[Any]:
    """The row's values checked column by column; :class:`_Corrupted` at the first bad one."""
    values = []
    for (name, check), value in zip(fields, row):
        try:
            values.append(check(value))
        except ValueError as exc:
            names = [n for n, _ in fields]
            key = row[names.index("key")] if "key" in names else None
            raise _Corrupted(Corrupt(table, row[0] if isinstance(row[0], int) else None, name,
                                     str(exc), key if isinstance(key, str) else None, action)) from None
    return values


@dataclass(frozen=True)
class Waiting:
    """A sink's notices waiting in the outbox after a failed delivery (backoff)."""

    sink: str
    count: int  # queued rows of the sink
    retry_at: float | None  # the earliest next attempt of a row that failed
    last_error: str  # the newest stored error (one line, redacted)


@dataclass(frozen=True)
class Observation:
    """One thing a run checked and how it found it."""

    target: str  # the inventory's name: endpoint, supplier address, host, balancer "host/lb-eth"
    kind: str  # execution, balancer, relayminer, pocket_node, stake, host, chain, alerting, ...
    level: str  # a level name (a Level is accepted)
    message: str
    labels: Mapping[str, str] = field(default_factory=dict)  # chain, client, host… (Alertmanager)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.target}"


@dataclass(frozen=True)
class AlertState:
    """An alert as the store holds it (``muted_until`` from the silences active at read time)."""

    key: str
    kind: str
    target: str
    state: str  # pending, firing, resolved
    level: str  # the level of the last run that saw the problem
    message: str
    labels: Mapping[str, str]
    runs: int  # consecutive runs with the problem
    since: float  # first seen
    fired_at: float | None
    notified_at: float | None  # the last firing notice enqueued
    notified_level: str | None
    notifications: int  # firing notices enqueued (first, escalations, re-notifies)
    acked_until: float | None  # while an ack is in force
    muted_until: float | None  # while a silence matches (the latest end)
    resolved_at: float | None
    resolved_message: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "kind": self.kind, "target": self.target, "state": self.state,
            "level": self.level, "message": self.message, "labels": dict(self.labels),
            "runs": self.runs, "since": _iso(self.since), "fired_at": _iso(self.fired_at),
            "notified_at": _iso(self.notified_at), "notified_level": self.notified_level,
            "notifications": self.notifications, "acked_until": _iso(self.acked_until),
            "muted_until": _iso(self.muted_until), "resolved_at": _iso(self.resolved_at),
            "resolved_message": self.resolved_message,
        }


@dataclass(frozen=True)
class Silence:
    """A mute: ``pattern`` (fnmatch on key or target) until ``until``."""

    id: int
    pattern: str
    until: float
    reason: str
    created_at: float
    #: keys of the open (pending or firing) alerts it matched when it was read
    matches: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "pattern": self.pattern, "until": _iso(self.until),
                "reason": self.reason, "created_at": _iso(self.created_at),
                "matches": list(self.matches)}


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class RunOutcome:
    """What :meth:`AlertStore.record_run` did."""

    applied: bool  # False: a stale run, nothing changed
    reason: str | None  # why it was not applied
    notifications: tuple[Notification, ...] = ()  # enqueued by this run
    firing: tuple[AlertState, ...] = ()  # firing after this run
    pending: tuple[AlertState, ...] = ()  # pending after this run
    resolved: tuple[AlertState, ...] = ()  # resolved by this run
    held: tuple[str, ...] = ()  # keys firing under a mute (notices held back)
    corrupt: tuple[Corrupt, ...] = ()  # rows of the state left out (or reset) by this run

    def summary(self) -> str:
        if not self.applied:
            return f"alerts: run not applied: {self.reason}"
        return (f"alerts: {len(self.firing)} firing, {len(self.pending)} pending, "
                f"{len(self.resolved)} resolved, {len(self.notifications)} notice(s) queued"
                + (f", {len(self.held)} muted" if self.held else ""))


@dataclass(frozen=True)
class Delivery:
    """One claimed outbox row: send ``notification`` to sink ``sink``."""

    outbox_id: int
    sink: str
    attempts: int  # including this one
    notification: Notification


@dataclass(frozen=True)
class Claim:
    """Rows claimed by one sender (``token`` proves it when marking), and rows dropped now."""

    token: str
    lease_until: float
    deliveries: tuple[Delivery, ...]
    #: sink name -> rows dropped by this claim (undelivered for 24 h, or sink no longer configured)
    dropped: Mapping[str, int]
    #: corrupted outbox or notification rows this claim dropped
    corrupt: tuple[Corrupt, ...] = ()


@dataclass
class _Alert:
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


_ALERT_COLUMNS = ", ".join(name for name, _ in _ALERT_FIELDS)
_NOTIFICATION_COLUMNS = ", ".join(name for name, _ in _NOTIFICATION_FIELDS)


def _alert_from_row(row: tuple[Any, ...]) -> _Alert:
    """An alert row, checked (:class:`_Corrupted` when a column is wrong)."""
    return _Alert(*_parse("alerts", _ALERT_FIELDS, row))


def _notification_from_row(row: tuple[Any, ...], action: str = "left out") -> Notification:
    return Notification(*_parse("notifications", _NOTIFICATION_FIELDS, row, action))


def _read_alerts(conn: sqlite3.Connection, where: str, params: Any,
                 corrupt: list[Corrupt]) -> list[_Alert]:
    """The alerts ``where`` selects; a corrupted row goes to ``corrupt`` instead."""
    alerts = []
    for row in conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts {where}", params):
        try:
            alerts.append(_alert_from_row(row))
        except _Corrupted as exc:
            corrupt.append(exc.corrupt)
    return alerts


def _read_silences(conn: sqlite3.Connection, now: float, corrupt: list[Corrupt]) -> list[list[Any]]:
    """The silences in force (id, pattern, until, reason, created_at); corrupted ones reported."""
    rows = []
    for row in conn.execute("SELECT id, pattern, until, reason, created_at FROM silences ORDER BY id"):
        try:
            values = _parse("silences", _SILENCE_FIELDS, row, "ignored")
        except _Corrupted as exc:
            corrupt.append(exc.corrupt)
            continue
        if values[2] > now:
            rows.append(values)
    return rows


def _read_meta(conn: sqlite3.Connection, corrupt: list[Corrupt], action: str) -> float | None:
    """The newest ``run_started_at`` applied; None when none (or when it is corrupted)."""
    row = conn.execute("SELECT last_run_started FROM alert_meta WHERE id = 1").fetchone()
    if row is None:
        return None
    try:
        return _v_time(row[0])
    except ValueError as exc:
        corrupt.append(Corrupt("alert_meta", 1, "last_run_started", str(exc), None, action))
        return None


def _is_time(value: object) -> bool:
    try:
        _v_time(value)
    except ValueError:
        return False
    return True


def _open_keys(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(key, target) of the open alerts whose key and target are text."""
    return conn.execute("SELECT key, target FROM alerts WHERE state != 'resolved'"
                        " AND typeof(key) = 'text' AND typeof(target) = 'text' ORDER BY key").fetchall()


def _matches(pattern: str, key: str, target: str) -> bool:
    return fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(target, pattern)


def _clean(text: object, limit: int = 2000) -> str:
    """Text as the store keeps it and sinks send it: one line, every URL in it without its
    secrets (:func:`fleetctl.core.redact.scrub`, the endpoint rule), at most ``limit`` characters."""
    return scrub(str(text), sink_style=False, limit=limit)


def _labels(labels: Mapping[str, object] | None) -> dict[str, str]:
    return {str(k): _clean(v, 500) for k, v in sorted((labels or {}).items()) if v is not None}


def backoff_s(attempts: int) -> float:
    """Seconds before retrying a row that failed ``attempts`` times: 30, 60, 120 … 900."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(16, max(0, int(attempts) - 1)))


class AlertStore:
    """The alert tables of the SQLite store at ``path`` (created 0600 by the first write).

    ``busy_timeout_s`` bounds every wait for another process's lock: past it, a transaction
    raises :class:`~fleetctl.pocket.history.StoreLocked` ("state store PATH is locked by
    another process"), a :class:`HistoryError`. ``health`` keeps it short, so that a stuck
    writer costs one UNKNOWN check inside the run's time bound, not a hang."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s

    # ------------------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def _tx(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """``BEGIN IMMEDIATE`` when writing; a read never creates the file (yields None when
        it does not exist yet). A path that exists but is no regular file (a folder, a FIFO, a
        dangling symlink, a file where a folder should be) is a :class:`HistoryError`."""
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            # A dangling symlink, not a store another run is creating right now (cron's
            # overlapping runs: the file may appear between the stat and this check).
            if os.path.islink(self.path) and not os.path.exists(self.path):
                raise HistoryError(f"{self.path}: a symlink to a file that does not exist") from None
            mode = None
        except OSError as exc:
            raise HistoryError(f"{self.path}: {exc.strerror or type(exc).__name__}") from None
        if mode is not None and not stat.S_ISREG(mode):
            raise HistoryError(f"{self.path}: not a regular file (--db and stake.history_db name "
                               "the store's file)")
        try:
            conn = connect(self.path, create=write, busy_timeout_s=self.busy_timeout_s)
        except (OSError, sqlite3.Error) as exc:
            raise store_error(self.path, exc, self.busy_timeout_s) from None
        if conn is None:
            yield None
            return
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, self.busy_timeout_s) from None
        finally:
            conn.close()  # without COMMIT: rolled back

    # ------------------------------------------------------------------------- the state machine

    def record_run(self, observations: Iterable[Observation], policy: AlertPolicy, *,
                   run_started_at: float, now: float | None = None,
                   keep: Iterable[str] = ()) -> RunOutcome:
        """Apply one run's observations; enqueue the notices it calls for (one transaction).

        ``keep``: keys this run could not observe because something they depend on could not
        be read (every supplier when the chain is unreadable, which is one alert of its own):
        when absent from ``observations`` they are left exactly as they are, neither counted
        nor resolved."""
        now = time.time() if now is None else now
        kept = set(keep)
        min_rank = severity(policy.min_level)
        if min_rank == 0:
            raise ValueError("min_level must be WARNING, UNKNOWN or CRITICAL, not OK")
        after = max(1, int(policy.after))
        seen: dict[str, tuple[Observation, str]] = {}
        for obs in observations:
            name = level_name(obs.level)
            obs = Observation(obs.target, obs.kind, name, _clean(obs.message), obs.labels)
            before = seen.get(obs.key)
            if before is None or _SEVERITY[name] > _SEVERITY[before[1]]:
                seen[obs.key] = (obs, name)

        corrupt: list[Corrupt] = []
        with self._tx(write=True) as conn:
            assert conn is not None
            newest = _read_meta(conn, corrupt, "reset to this run")
            if newest is not None and run_started_at < newest:
                return RunOutcome(False, f"stale run: it started at {_iso(run_started_at)}, before "
                                         f"the newest run already applied ({_iso(newest)})")
            conn.execute("INSERT INTO alert_meta (id, last_run_started) VALUES (1, ?) "
                         "ON CONFLICT(id) DO UPDATE SET last_run_started = "
                         "max(last_run_started, excluded.last_run_started)", (run_started_at,))
            if corrupt:  # max() keeps text over a number: overwrite the corrupted value
                conn.execute("UPDATE alert_meta SET last_run_started = ? WHERE id = 1", (run_started_at,))
            silence_rows = _read_silences(conn, now, corrupt)
            silences = [(s[1],) for s in silence_rows]
            open_alerts = {a.key: a for a in _read_alerts(conn, "WHERE state != 'resolved'", (), corrupt)}
            # The key of a corrupted open alert is left alone (its row still holds the key's
            # place) until the operator repairs the store: no count, no notice, no resolve.
            blocked = {c.key for c in corrupt if c.table == "alerts" and c.key}
            notices: list[Notification] = []
            held: list[str] = []
            resolved: list[_Alert] = []

            for key, (obs, name) in seen.items():
                if _SEVERITY[name] < min_rank or key in blocked:
                    continue
                alert = open_alerts.get(key)
                if alert is None:
                    alert = _Alert(None, key, obs.kind, obs.target, "pending", name, obs.message,
                                   _labels(obs.labels), 1, run_started_at, run_started_at)
                    open_alerts[key] = alert
                else:
                    if run_started_at > alert.last_run:
                        alert.runs += 1
                        alert.last_run = run_started_at
                    alert.level, alert.message = name, obs.message
                    alert.labels = _labels(obs.labels)
                if alert.state == "pending" and alert.runs >= after:
                    alert.state, alert.fired_at = "firing", now
                if alert.state != "firing":
                    continue
                muted = any(_matches(p, key, alert.target) for (p,) in silences)
                acked = alert.acked_until is not None and alert.acked_until > now
                first = alert.notified_at is None
                escalated = (not first and alert.notified_level is not None
                             and _SEVERITY[name] > _SEVERITY[alert.notified_level])
                due = (not first and policy.renotify_s > 0
                       and now - alert.notified_at >= policy.renotify_s)
                if muted:
                    alert.held = True
                    held.append(key)
                    continue
                if acked and not (first or escalated):
                    alert.held = False  # the ack takes over from the mute that ended
                    continue
                if first or escalated or due or alert.held:
                    notices.append(self._notice(conn, alert, "firing", now))

            for key, alert in list(open_alerts.items()):
                if key in seen and _SEVERITY[seen[key][1]] >= min_rank:
                    continue
                if alert.id is None or (key in kept and key not in seen):
                    continue
                if alert.state == "pending":
                    conn.execute("DELETE FROM alerts WHERE id = ?", (alert.id,))
                    del open_alerts[key]
                    continue
                obs_level = seen[key][1] if key in seen else "OK"
                message = seen[key][0].message if key in seen else NO_LONGER_CHECKED
                alert.state, alert.resolved_at, alert.resolved_message = "resolved", now, message
                alert.held, alert.acked_until = False, None
                if alert.notified_at is not None:
                    notices.append(self._insert_notification(
                        conn, "resolved", alert, obs_level, alert.notified_level, message,
                        alert.first_seen, now, alert.notifications))
                resolved.append(alert)
                del open_alerts[key]

            for alert in [*open_alerts.values(), *resolved]:
                self._save(conn, alert)
            self._housekeeping(conn, now)
            muted_until = [(s[1], s[2]) for s in silence_rows]
            states = [self._state(a, muted_until, now) for a in open_alerts.values()]
            return RunOutcome(
                True, None, tuple(notices),
                tuple(s for s in states if s.state == "firing"),
                tuple(s for s in states if s.state == "pending"),
                tuple(self._state(a, muted_until, now) for a in resolved),
                tuple(held), tuple(corrupt))

    def _notice(self, conn: sqlite3.Connection, alert: _Alert, status: str, now: float) -> Notification:
        repeat = alert.notifications
        notice = self._insert_notification(conn, status, alert, alert.level, alert.notified_level,
                                           alert.message, alert.first_seen, now, repeat)
        alert.notified_at, alert.notified_level = now, alert.level
        alert.notifications += 1
        alert.held = False
        return notice

    @staticmethod
    def _insert_notification(conn: sqlite3.Connection, status: str, alert: _Alert, level: str,
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

    @staticmethod
    def _save(conn: sqlite3.Connection, a: _Alert) -> None:
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

    @staticmethod
    def _housekeeping(conn: sqlite3.Connection, now: float) -> None:
        old = now - RETENTION_S
        conn.execute("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?", (old,))
        conn.execute("DELETE FROM outbox WHERE state != 'queued' AND done_at < ?", (old,))
        conn.execute("DELETE FROM notifications WHERE created_at < ? AND NOT EXISTS "
                     "(SELECT 1 FROM outbox WHERE outbox.notification_id = notifications.id)", (old,))
        conn.execute("DELETE FROM silences WHERE until <= ?", (now,))

    @staticmethod
    def _muted_until(conn: sqlite3.Connection, now: float,
                     corrupt: list[Corrupt] | None = None) -> list[tuple[str, float]]:
        return [(s[1], s[2]) for s in _read_silences(conn, now, [] if corrupt is None else corrupt)]

    @staticmethod
    def _state(a: _Alert, silences: list[tuple[str, float]], now: float) -> AlertState:
        muted = [until for pattern, until in silences if _matches(pattern, a.key, a.target)]
        acked = a.state == "firing" and a.acked_until is not None and a.acked_until > now
        # scrubbed again as it is shown: a row written by an older fleetctl kept text as it came
        return AlertState(a.key, a.kind, a.target, a.state, a.level, _clean(a.message),
                          {k: _clean(v, 500) for k, v in a.labels.items()},
                          a.runs, a.first_seen, a.fired_at, a.notified_at, a.notified_level,
                          a.notifications, a.acked_until if acked else None,
                          max(muted) if muted and a.state != "resolved" else None,
                          a.resolved_at, None if a.resolved_message is None else _clean(a.resolved_message))

    # ------------------------------------------------------------------------- events

    def enqueue_event(self, target: str, kind: str, level: object, message: str,
                      labels: Mapping[str, str] | None = None, now: float | None = None) -> Notification:
        """Queue a one-off notice (a remediation action): never muted, delivered like alerts."""
        now = time.time() if now is None else now
        name = level_name(level)
        message = _clean(message)
        alert = _Alert(None, f"{kind}/{target}", kind, target, "event", name, message,
                       _labels(labels), 0, now, now)
        with self._tx(write=True) as conn:
            assert conn is not None
            return self._insert_notification(conn, "event", alert, name, None, message, now, now, 0)

    # ------------------------------------------------------------------------- the outbox

    def claim(self, sinks: Iterable[str], *, now: float | None = None, lease_s: float = 60.0,
              limit: int = 200) -> Claim:
        """Fan new notices out to ``sinks`` (names), drop what cannot be delivered any more,
        and claim up to ``limit`` due rows for ``lease_s`` seconds (one transaction)."""
        now = time.time() if now is None else now
        names = sorted(set(sinks))
        token = uuid.uuid4().hex
        lease_until = now + lease_s
        dropped: dict[str, int] = {}
        with self._tx(write=True) as conn:
            assert conn is not None
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
                    f"SELECT {', '.join(n for n, _ in _OUTBOX_FIELDS)} FROM outbox"
                    f" WHERE state = 'queued' AND ({_OUTBOX_BAD})").fetchall():
                try:
                    _parse("outbox", _OUTBOX_FIELDS, row, "dropped")
                    continue  # e.g. an integer stored where SQLite would keep a real
                except _Corrupted as exc:
                    corrupt.append(exc.corrupt)
                    self._drop(conn, row[0], row[2], exc.corrupt, now, dropped)
            free = "state = 'queued' AND (lease_until IS NULL OR lease_until <= :now)"
            placeholders = ",".join(f":s{i}" for i in range(len(names)))
            params: dict[str, Any] = {"now": now, "ttl": now - DELIVERY_TTL_S,
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
                columns = ", ".join(f"n.{c.strip()}" for c in _NOTIFICATION_COLUMNS.split(","))
                found = set()
                for row in conn.execute(
                        f"SELECT o.id, o.sink, o.attempts, {columns} FROM outbox o"
                        f" JOIN notifications n ON n.id = o.notification_id"
                        f" WHERE o.id IN ({marks}) ORDER BY o.id", ids).fetchall():
                    found.add(row[0])
                    try:
                        notice = _notification_from_row(row[3:], "its delivery dropped")
                    except _Corrupted as exc:
                        corrupt.append(exc.corrupt)
                        self._drop(conn, row[0], row[1], exc.corrupt, now, dropped)
                        continue
                    deliveries.append(Delivery(row[0], row[1], row[2], notice))
                for row_id in sorted(set(ids) - found):  # its notice is gone
                    lost = Corrupt("outbox", row_id, "notification_id", "names no notice", None, "dropped")
                    corrupt.append(lost)
                    self._drop(conn, row_id, None, lost, now, dropped)
        return Claim(token, lease_until, tuple(deliveries), dropped, tuple(corrupt))

    @staticmethod
    def _drop(conn: sqlite3.Connection, row_id: int, sink: object, corrupt: Corrupt, now: float,
              dropped: dict[str, int]) -> None:
        conn.execute("UPDATE outbox SET state = 'dropped', done_at = ?, lease_until = NULL,"
                     " last_error = ? WHERE id = ?",
                     (now, f"corrupted: {corrupt.describe()}"[:300], row_id))
        if isinstance(sink, str):
            dropped[sink] = dropped.get(sink, 0) + 1

    def mark_delivered(self, token: str, outbox_ids: Iterable[int], *,
                       now: float | None = None) -> int:
        """Mark rows this claim sent; rows whose lease another run took over are left alone."""
        now = time.time() if now is None else now
        ids = list(outbox_ids)
        if not ids:
            return 0
        with self._tx(write=True) as conn:
            assert conn is not None
            marks = ",".join("?" * len(ids))
            return conn.execute(
                f"UPDATE outbox SET state = 'delivered', done_at = ?, lease_until = NULL,"
                f" last_error = NULL WHERE claim_token = ? AND state = 'queued' AND id IN ({marks})",
                (now, token, *ids)).rowcount

    def release(self, token: str, outbox_ids: Iterable[int], error: str, *,
                now: float | None = None, attempted: bool = True) -> int:
        """Give rows back for a later run: after a backoff when a send was attempted (the
        error is kept, one line), at once when it was not (the delivery ran out of time)."""
        now = time.time() if now is None else now
        ids = list(outbox_ids)
        if not ids:
            return 0
        error = " ".join(error.split())[:300]
        with self._tx(write=True) as conn:
            assert conn is not None
            marks = ",".join("?" * len(ids))
            changed = 0
            for row_id, attempts in conn.execute(
                    f"SELECT id, attempts FROM outbox WHERE claim_token = ? AND state = 'queued'"
                    f" AND id IN ({marks})", (token, *ids)).fetchall():
                attempts = attempts if isinstance(attempts, int) and 0 <= attempts < _COUNT_MAX else 1
                retry_at = now + backoff_s(attempts) if attempted else now
                changed += conn.execute(
                    "UPDATE outbox SET lease_until = NULL, claim_token = NULL, next_attempt_at = ?,"
                    " last_error = ?, attempts = attempts - ? WHERE id = ?",
                    (retry_at, error, 0 if attempted else 1, row_id)).rowcount
            return changed

    def queued(self) -> dict[str, int]:
        """Rows waiting for delivery, per sink."""
        with self._tx(write=False) as conn:
            if conn is None:
                return {}
            return dict(conn.execute(
                "SELECT sink, count(*) FROM outbox WHERE state = 'queued' AND typeof(sink) = 'text'"
                " GROUP BY sink").fetchall())

    def waiting(self) -> dict[str, Waiting]:
        """Per sink with a failed delivery waiting for its retry (backoff): its queued rows,
        the earliest retry and the newest error. While this holds, the sink is not working."""
        with self._tx(write=False) as conn:
            if conn is None:
                return {}
            rows = conn.execute(
                "SELECT o.sink, count(*), min(CASE WHEN o.last_error IS NOT NULL"
                " AND typeof(o.next_attempt_at) IN ('integer', 'real') THEN o.next_attempt_at END),"
                " (SELECT p.last_error FROM outbox p WHERE p.sink = o.sink AND p.state = 'queued'"
                "  AND typeof(p.last_error) = 'text' ORDER BY p.id DESC LIMIT 1)"
                " FROM outbox o WHERE o.state = 'queued' AND typeof(o.sink) = 'text'"
                " GROUP BY o.sink HAVING count(o.last_error) > 0").fetchall()
        return {sink: Waiting(sink, count, _v_time(retry) if _is_time(retry) else None, error or "")
                for sink, count, retry, error in rows}

    def undeliverable(self, since: float) -> dict[str, int]:
        """Rows dropped since ``since`` (undelivered for 24 h, or sink removed), per sink."""
        with self._tx(write=False) as conn:
            if conn is None:
                return {}
            return dict(conn.execute(
                "SELECT sink, count(*) FROM outbox WHERE state = 'dropped' AND done_at >= ?"
                " AND typeof(sink) = 'text' GROUP BY sink", (since,)).fetchall())

    # ------------------------------------------------------------------------- operators

    def list(self, include_resolved: bool = False, *, now: float | None = None,
             corrupt: list[Corrupt] | None = None) -> list[AlertState]:
        """Open alerts (and resolved ones kept as history), firing first, then by key.

        Corrupted rows (of the alerts, silences and alert_meta tables) are left out and added
        to ``corrupt`` when it is given."""
        now = time.time() if now is None else now
        found: list[Corrupt] = [] if corrupt is None else corrupt
        with self._tx(write=False) as conn:
            if conn is None:
                return []
            where = "" if include_resolved else "WHERE state != 'resolved'"
            alerts = _read_alerts(conn, where, (), found)
            silences = self._muted_until(conn, now, found)
            _read_meta(conn, found, "left as it is")
        order = {"firing": 0, "pending": 1, "resolved": 2}
        alerts.sort(key=lambda a: (order[a.state], a.key, -(a.resolved_at or 0)))
        return [self._state(a, silences, now) for a in alerts]

    def silences(self, *, now: float | None = None,
                 corrupt: list[Corrupt] | None = None) -> list[Silence]:
        """The active silences, with the open alerts each matches (corrupted silences are
        left out and added to ``corrupt`` when it is given)."""
        now = time.time() if now is None else now
        with self._tx(write=False) as conn:
            if conn is None:
                return []
            rows = _read_silences(conn, now, [] if corrupt is None else corrupt)
            keys = _open_keys(conn)
        return [Silence(*row, tuple(k for k, t in keys if _matches(row[1], k, t))) for row in rows]

    def mute(self, pattern: str, until: float, reason: str = "", *,
             now: float | None = None) -> Silence:
        """Hold back firing and re-notify notices of keys or targets matching ``pattern``."""
        now = time.time() if now is None else now
        pattern = pattern.strip()
        if not pattern:
            raise ValueError("the pattern is empty")
        if until <= now:
            raise ValueError("the mute would end in the past")
        with self._tx(write=True) as conn:
            assert conn is not None
            cursor = conn.execute("INSERT INTO silences (pattern, until, reason, created_at)"
                                  " VALUES (?, ?, ?, ?)", (pattern, until, reason.strip(), now))
            assert cursor.lastrowid is not None
            keys = _open_keys(conn)
        return Silence(cursor.lastrowid, pattern, until, reason.strip(), now,
                       tuple(k for k, t in keys if _matches(pattern, k, t)))

    def ack(self, pattern: str, until: float, *, now: float | None = None) -> list[AlertState]:
        """Acknowledge the firing alerts matching ``pattern`` until ``until`` (or they resolve)."""
        now = time.time() if now is None else now
        pattern = pattern.strip()
        if not pattern:
            raise ValueError("the pattern is empty")
        if until <= now:
            raise ValueError("the acknowledgement would end in the past")
        with self._tx(write=True) as conn:
            assert conn is not None
            acked = [a for a in _read_alerts(conn, "WHERE state = 'firing' ORDER BY key", (), [])
                     if _matches(pattern, a.key, a.target)]
            for a in acked:
                a.acked_until = until
                conn.execute("UPDATE alerts SET acked_until = ? WHERE id = ?", (until, a.id))
            silences = self._muted_until(conn, now)
        return [self._state(a, silences, now) for a in acked]

    def unmute(self, pattern_or_id: str) -> int:
        """Remove the silence with this id, or the silences with this pattern or matched by it
        (``*`` removes all), and the acks of the open alerts it matches; how many went."""
        text = pattern_or_id.strip()
        if not text:
            raise ValueError("the pattern is empty")
        with self._tx(write=True) as conn:
            if conn is None:
                return 0
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
                if _matches(text, key, target):
                    removed += conn.execute("UPDATE alerts SET acked_until = NULL WHERE id = ?",
                                            (row_id,)).rowcount
            return removed

    def repair(self, *, now: float | None = None) -> list[Corrupt]:
        """Delete every corrupted row (an alert, a silence, a notice and its deliveries, an
        outbox row; a corrupted stale-run guard is reset); what was deleted (one transaction)."""
        now = time.time() if now is None else now
        found: list[Corrupt] = []
        with self._tx(write=True) as conn:
            assert conn is not None
            bad: list[Corrupt] = []
            _read_alerts(conn, "", (), bad)
            for c in bad:
                conn.execute("DELETE FROM alerts WHERE id = ?", (c.row,))
            found += bad
            bad = []
            _read_silences(conn, now, bad)
            for c in bad:
                conn.execute("DELETE FROM silences WHERE id = ?", (c.row,))
            found += bad
            for row in conn.execute(f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications").fetchall():
                try:
                    _notification_from_row(row)
                except _Corrupted as exc:
                    found.append(exc.corrupt)
                    conn.execute("DELETE FROM outbox WHERE notification_id = ?", (row[0],))
                    conn.execute("DELETE FROM notifications WHERE id = ?", (row[0],))
            for row in conn.execute(
                    f"SELECT {', '.join(n for n, _ in _OUTBOX_FIELDS)} FROM outbox"
                    f" WHERE {_OUTBOX_BAD} OR NOT EXISTS (SELECT 1 FROM notifications n"
                    f" WHERE n.id = outbox.notification_id)").fetchall():
                try:
                    _parse("outbox", _OUTBOX_FIELDS, row)
                    corrupt = Corrupt("outbox", row[0], "notification_id", "names no notice")
                except _Corrupted as exc:
                    corrupt = exc.corrupt
                found.append(corrupt)
                conn.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
            bad = []
            _read_meta(conn, bad, "")
            if bad:
                conn.execute("DELETE FROM alert_meta WHERE id = 1")
            found += bad
        return [Corrupt(c.table, c.row, c.field, c.reason, c.key,
                        "reset" if c.table == "alert_meta" else "deleted") for c in found]
