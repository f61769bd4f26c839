"""Alert state for ``fleetctl health``: a state machine per problem and an outbox of notices.

Everything lives in the SQLite file of the stake history (:mod:`fleetctl.pocket.history`,
schema version 2), so a cron job that runs every minute, is killed, or overlaps with the next
one neither repeats nor loses a notice. This module does no network I/O;
:mod:`fleetctl.health.sinks` sends what the outbox holds.

Observations and problems
    Each run of ``health`` hands :meth:`AlertStore.record_run` one :class:`Observation` per
    thing it checked: ``kind`` (execution, balancer, relayminer, pocket_node, stake, host,
    chain, alerting, remediation), ``target`` (the inventory's name for it), a level (``OK``,
    ``WARNING``, ``CRITICAL``, ``UNKNOWN``; a :class:`~fleetctl.pocket.base.Level` is accepted
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
"""

from __future__ import annotations

import contextlib
import enum
import fnmatch
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fleetctl.pocket.history import HistoryError, connect
from fleetctl.spec.model import AlertPolicy

__all__ = [
    "ALERT_STATES",
    "LEVELS",
    "AlertState",
    "AlertStore",
    "Claim",
    "Delivery",
    "HistoryError",
    "Notification",
    "Observation",
    "RunOutcome",
    "Silence",
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


_ALERT_COLUMNS = ("id, key, kind, target, state, level, message, labels, runs, first_seen, "
                  "last_run, fired_at, notified_at, notified_level, notifications, held, "
                  "acked_until, resolved_at, resolved_message")
_NOTIFICATION_COLUMNS = ("id, status, key, kind, target, level, previous_level, message, labels, "
                         "started_at, created_at, repeat")


def _alert_from_row(row: tuple[Any, ...]) -> _Alert:
    values = list(row)
    values[7] = json.loads(values[7])
    values[15] = bool(values[15])
    return _Alert(*values)


def _notification_from_row(row: tuple[Any, ...]) -> Notification:
    values = list(row)
    values[8] = json.loads(values[8])
    return Notification(*values)


def _matches(pattern: str, key: str, target: str) -> bool:
    return fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(target, pattern)


def _labels(labels: Mapping[str, object] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in sorted((labels or {}).items()) if v is not None}


def backoff_s(attempts: int) -> float:
    """Seconds before retrying a row that failed ``attempts`` times: 30, 60, 120 … 900."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


class AlertStore:
    """The alert tables of the SQLite store at ``path`` (created 0600 by the first write)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def _tx(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """``BEGIN IMMEDIATE`` when writing; a read never creates the file (yields None)."""
        try:
            conn = connect(self.path, create=write)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"{self.path}: {exc}") from None
        if conn is None:
            yield None
            return
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: {exc}") from None
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
            before = seen.get(obs.key)
            if before is None or _SEVERITY[name] > _SEVERITY[before[1]]:
                seen[obs.key] = (obs, name)

        with self._tx(write=True) as conn:
            assert conn is not None
            row = conn.execute("SELECT last_run_started FROM alert_meta WHERE id = 1").fetchone()
            if row is not None and run_started_at < row[0]:
                return RunOutcome(False, f"stale run: it started at {_iso(run_started_at)}, before "
                                         f"the newest run already applied ({_iso(row[0])})")
            conn.execute("INSERT INTO alert_meta (id, last_run_started) VALUES (1, ?) "
                         "ON CONFLICT(id) DO UPDATE SET last_run_started = "
                         "max(last_run_started, excluded.last_run_started)", (run_started_at,))
            silences = conn.execute("SELECT pattern FROM silences WHERE until > ?", (now,)).fetchall()
            open_alerts = {a.key: a for a in map(_alert_from_row, conn.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state != 'resolved'"))}
            notices: list[Notification] = []
            held: list[str] = []
            resolved: list[_Alert] = []

            for key, (obs, name) in seen.items():
                if _SEVERITY[name] < min_rank:
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
            muted_until = self._muted_until(conn, now)
            states = [self._state(a, muted_until, now) for a in open_alerts.values()]
            return RunOutcome(
                True, None, tuple(notices),
                tuple(s for s in states if s.state == "firing"),
                tuple(s for s in states if s.state == "pending"),
                tuple(self._state(a, muted_until, now) for a in resolved),
                tuple(held))

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
    def _muted_until(conn: sqlite3.Connection, now: float) -> list[tuple[str, float]]:
        return conn.execute("SELECT pattern, until FROM silences WHERE until > ?", (now,)).fetchall()

    @staticmethod
    def _state(a: _Alert, silences: list[tuple[str, float]], now: float) -> AlertState:
        muted = [until for pattern, until in silences if _matches(pattern, a.key, a.target)]
        acked = a.state == "firing" and a.acked_until is not None and a.acked_until > now
        return AlertState(a.key, a.kind, a.target, a.state, a.level, a.message, dict(a.labels),
                          a.runs, a.first_seen, a.fired_at, a.notified_at, a.notified_level,
                          a.notifications, a.acked_until if acked else None,
                          max(muted) if muted and a.state != "resolved" else None,
                          a.resolved_at, a.resolved_message)

    # ------------------------------------------------------------------------- events

    def enqueue_event(self, target: str, kind: str, level: object, message: str,
                      labels: Mapping[str, str] | None = None, now: float | None = None) -> Notification:
        """Queue a one-off notice (a remediation action): never muted, delivered like alerts."""
        now = time.time() if now is None else now
        name = level_name(level)
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
                for row in conn.execute(
                        f"SELECT o.id, o.sink, o.attempts, {columns} FROM outbox o"
                        f" JOIN notifications n ON n.id = o.notification_id"
                        f" WHERE o.id IN ({marks}) ORDER BY o.id", ids):
                    deliveries.append(Delivery(row[0], row[1], row[2], _notification_from_row(row[3:])))
        return Claim(token, lease_until, tuple(deliveries), dropped)

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
                "SELECT sink, count(*) FROM outbox WHERE state = 'queued' GROUP BY sink").fetchall())

    def undeliverable(self, since: float) -> dict[str, int]:
        """Rows dropped since ``since`` (undelivered for 24 h, or sink removed), per sink."""
        with self._tx(write=False) as conn:
            if conn is None:
                return {}
            return dict(conn.execute(
                "SELECT sink, count(*) FROM outbox WHERE state = 'dropped' AND done_at >= ?"
                " GROUP BY sink", (since,)).fetchall())

    # ------------------------------------------------------------------------- operators

    def list(self, include_resolved: bool = False, *, now: float | None = None) -> list[AlertState]:
        """Open alerts (and resolved ones kept as history), firing first, then by key."""
        now = time.time() if now is None else now
        with self._tx(write=False) as conn:
            if conn is None:
                return []
            where = "" if include_resolved else " WHERE state != 'resolved'"
            alerts = [_alert_from_row(r) for r in conn.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts{where}")]
            silences = self._muted_until(conn, now)
        order = {"firing": 0, "pending": 1, "resolved": 2}
        alerts.sort(key=lambda a: (order[a.state], a.key, -(a.resolved_at or 0)))
        return [self._state(a, silences, now) for a in alerts]

    def silences(self, *, now: float | None = None) -> list[Silence]:
        """The active silences, with the open alerts each matches."""
        now = time.time() if now is None else now
        with self._tx(write=False) as conn:
            if conn is None:
                return []
            rows = conn.execute("SELECT id, pattern, until, reason, created_at FROM silences"
                                " WHERE until > ? ORDER BY id", (now,)).fetchall()
            keys = conn.execute("SELECT key, target FROM alerts WHERE state != 'resolved'"
                                " ORDER BY key").fetchall()
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
            keys = conn.execute("SELECT key, target FROM alerts WHERE state != 'resolved'"
                                " ORDER BY key").fetchall()
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
            acked = [a for a in map(_alert_from_row, conn.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state = 'firing' ORDER BY key"))
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
            for row_id, pattern in conn.execute("SELECT id, pattern FROM silences").fetchall():
                if pattern == text or fnmatch.fnmatchcase(pattern, text):
                    removed += conn.execute("DELETE FROM silences WHERE id = ?", (row_id,)).rowcount
            for row_id, key, target in conn.execute(
                    "SELECT id, key, target FROM alerts WHERE state != 'resolved'"
                    " AND acked_until IS NOT NULL").fetchall():
                if _matches(text, key, target):
                    removed += conn.execute("UPDATE alerts SET acked_until = NULL WHERE id = ?",
                                            (row_id,)).rowcount
            return removed
