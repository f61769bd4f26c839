"""Alert state for ``fleetctl health``: a state machine per problem and an outbox of notices.

Everything lives in the state store (:mod:`fleetctl.state`: the rows in
:mod:`fleetctl.state.alerts` and :mod:`fleetctl.state.outbox`, schema version 2), so a cron job that runs every minute, is killed, or overlaps with the next
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
    (``busy_timeout_s``) and ends in :class:`~fleetctl.state.db.StoreLocked`.
"""

from __future__ import annotations

import builtins  # AlertStore.list shadows list in the class body's annotations
import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from fleetctl.core.records import record
from fleetctl.spec.model import AlertPolicy
from fleetctl.state import alerts as rows
from fleetctl.state import outbox
from fleetctl.state.alerts import (
    _SEVERITY,
    ALERT_STATES,
    LEVELS,
    AlertRow,
    Corrupt,
    Notification,
    clean,
    level_name,
    matches,
    severity,
)
from fleetctl.state.db import BUSY_TIMEOUT_S, HistoryError, StoreLocked, transaction
from fleetctl.state.outbox import Claim, Delivery, Waiting

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

#: Resolved alerts, finished outbox rows and their notices are kept this long.
RETENTION_S = 7 * 86400.0
#: A notice not delivered this long after it was made is dropped.
DELIVERY_TTL_S = 86400.0
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 900.0
NO_LONGER_CHECKED = "no longer checked"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")



class Observed(Protocol):
    """What :meth:`AlertStore.record_run` reads of an observation: an :class:`Observation`, or a
    health check as it is (``fleetctl.health.report.Check``: no copy of 2,000 checks a run)."""

    @property
    def target(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def level(self) -> Any: ...  # a level name, or a Level
    @property
    def message(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


@record(frozen=True)
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


@record(frozen=True)
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


@record(frozen=True)
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



@record(frozen=True)
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



def _labels(labels: Mapping[str, object] | None) -> dict[str, str]:
    return {str(k): clean(v, 500) for k, v in sorted((labels or {}).items()) if v is not None}


def backoff_s(attempts: int) -> float:
    """Seconds before retrying a row that failed ``attempts`` times: 30, 60, 120 … 900."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(16, max(0, int(attempts) - 1)))



class AlertStore:
    """The alert tables of the SQLite store at ``path`` (created 0600 by the first write).

    ``busy_timeout_s`` bounds every wait for another process's lock: past it, a transaction
    raises :class:`~fleetctl.state.db.StoreLocked` ("state store PATH is locked by
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
        with transaction(self.path, write=write, busy_timeout_s=self.busy_timeout_s) as conn:
            yield conn

    # ------------------------------------------------------------------------- the state machine

    def record_run(self, observations: Iterable[Observed], policy: AlertPolicy, *,
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
        # key -> (observation, its level name); the observation's message is cleaned here when
        # the level can alert, else only if it is used (the message that resolves an open
        # alert): most of a run's observations are OK (2,000 of a 1,000-supplier run)
        seen: dict[str, tuple[Observed, str]] = {}
        for obs in observations:
            level = obs.level
            name = level if type(level) is str and level in _SEVERITY else level_name(level)
            if _SEVERITY[name] >= min_rank:
                message = clean(obs.message)
                if name != level or message != obs.message or type(obs) is not Observation:
                    obs = Observation(obs.target, obs.kind, name, message, obs.labels)
            key = f"{obs.kind}/{obs.target}"  # (Observation.key)
            before = seen.get(key)
            if before is None or _SEVERITY[name] > _SEVERITY[before[1]]:
                seen[key] = (obs, name)

        corrupt: list[Corrupt] = []
        with self._tx(write=True) as conn:
            assert conn is not None
            newest = rows.read_meta(conn, corrupt, "reset to this run")
            if newest is not None and run_started_at < newest:
                return RunOutcome(False, f"stale run: it started at {_iso(run_started_at)}, before "
                                         f"the newest run already applied ({_iso(newest)})")
            rows.set_last_run(conn, run_started_at, overwrite=bool(corrupt))
            silence_rows = rows.read_silences(conn, now, corrupt)
            silences = [(s[1],) for s in silence_rows]
            open_alerts = {a.key: a for a in rows.read_alerts(conn, "WHERE state != 'resolved'", (), corrupt)}
            # The key of a corrupted open alert is left alone (its row still holds the key's
            # place) until the operator repairs the store: no count, no notice, no resolve.
            blocked = {c.key for c in corrupt if c.table == "alerts" and c.key}
            notices: list[Notification] = []
            held: list[str] = []
            resolved: list[AlertRow] = []

            for key, (obs, name) in seen.items():
                if _SEVERITY[name] < min_rank or key in blocked:
                    continue
                alert = open_alerts.get(key)
                if alert is None:
                    alert = AlertRow(None, key, obs.kind, obs.target, "pending", name, obs.message,
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
                muted = any(matches(p, key, alert.target) for (p,) in silences)
                acked = alert.acked_until is not None and alert.acked_until > now
                first = alert.notified_at is None
                escalated = (not first and alert.notified_level is not None
                             and _SEVERITY[name] > _SEVERITY[alert.notified_level])
                due = (alert.notified_at is not None and policy.renotify_s > 0
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
                    rows.delete_alert(conn, alert.id)
                    del open_alerts[key]
                    continue
                obs_level = seen[key][1] if key in seen else "OK"
                message = clean(seen[key][0].message) if key in seen else NO_LONGER_CHECKED
                alert.state, alert.resolved_at, alert.resolved_message = "resolved", now, message
                alert.held, alert.acked_until = False, None
                if alert.notified_at is not None:
                    notices.append(rows.insert_notification(
                        conn, "resolved", alert, obs_level, alert.notified_level, message,
                        alert.first_seen, now, alert.notifications))
                resolved.append(alert)
                del open_alerts[key]

            for alert in [*open_alerts.values(), *resolved]:
                rows.save_alert(conn, alert)
            rows.housekeeping(conn, now, RETENTION_S)
            muted_until = [(s[1], s[2]) for s in silence_rows]
            states = [self._state(a, muted_until, now) for a in open_alerts.values()]
            return RunOutcome(
                True, None, tuple(notices),
                tuple(s for s in states if s.state == "firing"),
                tuple(s for s in states if s.state == "pending"),
                tuple(self._state(a, muted_until, now) for a in resolved),
                tuple(held), tuple(corrupt))

    def _notice(self, conn: sqlite3.Connection, alert: AlertRow, status: str, now: float) -> Notification:
        repeat = alert.notifications
        notice = rows.insert_notification(conn, status, alert, alert.level, alert.notified_level,
                                          alert.message, alert.first_seen, now, repeat)
        alert.notified_at, alert.notified_level = now, alert.level
        alert.notifications += 1
        alert.held = False
        return notice

    @staticmethod
    def _muted_until(conn: sqlite3.Connection, now: float,
                     corrupt: list[Corrupt] | None = None) -> list[tuple[str, float]]:
        return [(s[1], s[2]) for s in rows.read_silences(conn, now, [] if corrupt is None else corrupt)]

    @staticmethod
    def _state(a: AlertRow, silences: list[tuple[str, float]], now: float) -> AlertState:
        muted = [until for pattern, until in silences if matches(pattern, a.key, a.target)]
        acked = a.state == "firing" and a.acked_until is not None and a.acked_until > now
        # scrubbed again as it is shown: a row written by an older fleetctl kept text as it came
        return AlertState(a.key, a.kind, a.target, a.state, a.level, clean(a.message),
                          {k: clean(v, 500) for k, v in a.labels.items()},
                          a.runs, a.first_seen, a.fired_at, a.notified_at, a.notified_level,
                          a.notifications, a.acked_until if acked else None,
                          max(muted) if muted and a.state != "resolved" else None,
                          a.resolved_at, None if a.resolved_message is None else clean(a.resolved_message))

    # ------------------------------------------------------------------------- events

    def enqueue_event(self, target: str, kind: str, level: object, message: str,
                      labels: Mapping[str, str] | None = None, now: float | None = None) -> Notification:
        """Queue a one-off notice (a remediation action): never muted, delivered like alerts."""
        now = time.time() if now is None else now
        name = level_name(level)
        message = clean(message)
        alert = AlertRow(None, f"{kind}/{target}", kind, target, "event", name, message,
                       _labels(labels), 0, now, now)
        with self._tx(write=True) as conn:
            assert conn is not None
            return rows.insert_notification(conn, "event", alert, name, None, message, now, now, 0)

    # ------------------------------------------------------------------------- the outbox

    def claim(self, sinks: Iterable[str], *, now: float | None = None, lease_s: float = 60.0,
              limit: int = 200) -> Claim:
        """Fan new notices out to ``sinks`` (names), drop what cannot be delivered any more,
        and claim up to ``limit`` due rows for ``lease_s`` seconds (one transaction)."""
        now = time.time() if now is None else now
        names = sorted(set(sinks))
        token = os.urandom(16).hex()  # a lease's own random token (uuid4's bits; uuid imports platform: 3 ms a cron run)
        lease_until = now + lease_s
        with self._tx(write=True) as conn:
            assert conn is not None
            return outbox.claim(conn, names, now=now, token=token, lease_until=lease_until,
                                limit=limit, ttl_s=DELIVERY_TTL_S)

    def mark_delivered(self, token: str, outbox_ids: Iterable[int], *,
                       now: float | None = None) -> int:
        """Mark rows this claim sent; rows whose lease another run took over are left alone."""
        now = time.time() if now is None else now
        ids = list(outbox_ids)
        if not ids:
            return 0
        with self._tx(write=True) as conn:
            assert conn is not None
            return outbox.mark_delivered(conn, token, ids, now)

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
            return outbox.release(conn, token, ids, error, now=now, attempted=attempted,
                                  backoff_s=backoff_s)

    def queued(self) -> dict[str, int]:
        """Rows waiting for delivery, per sink."""
        with self._tx(write=False) as conn:
            if conn is None:
                return {}
            return outbox.queued(conn)

    def waiting(self) -> dict[str, Waiting]:
        """Per sink with a failed delivery waiting for its retry (backoff): its queued rows,
        the earliest retry and the newest error. While this holds, the sink is not working."""
        with self._tx(write=False) as conn:
            if conn is None:
                return {}
            return outbox.waiting(conn)

    def undeliverable(self, since: float) -> dict[str, int]:
        """Rows dropped since ``since`` (undelivered for 24 h, or sink removed), per sink."""
        with self._tx(write=False) as conn:
            if conn is None:
                return {}
            return outbox.undeliverable(conn, since)

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
            alerts = rows.read_alerts(conn, where, (), found)
            silences = self._muted_until(conn, now, found)
            rows.read_meta(conn, found, "left as it is")
        order = {"firing": 0, "pending": 1, "resolved": 2}
        alerts.sort(key=lambda a: (order[a.state], a.key, -(a.resolved_at or 0)))
        return [self._state(a, silences, now) for a in alerts]

    def silences(self, *, now: float | None = None,
                 corrupt: builtins.list[Corrupt] | None = None) -> builtins.list[Silence]:
        """The active silences, with the open alerts each matches (corrupted silences are
        left out and added to ``corrupt`` when it is given)."""
        now = time.time() if now is None else now
        with self._tx(write=False) as conn:
            if conn is None:
                return []
            found = rows.read_silences(conn, now, [] if corrupt is None else corrupt)
            keys = rows.open_keys(conn)
        return [Silence(silence_id, pattern, until, reason, created_at,
                        tuple(k for k, t in keys if matches(pattern, k, t)))
                for silence_id, pattern, until, reason, created_at in found]

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
            silence_id = rows.add_silence(conn, pattern, until, reason.strip(), now)
            keys = rows.open_keys(conn)
        return Silence(silence_id, pattern, until, reason.strip(), now,
                       tuple(k for k, t in keys if matches(pattern, k, t)))

    def ack(self, pattern: str, until: float, *, now: float | None = None) -> builtins.list[AlertState]:
        """Acknowledge the firing alerts matching ``pattern`` until ``until`` (or they resolve)."""
        now = time.time() if now is None else now
        pattern = pattern.strip()
        if not pattern:
            raise ValueError("the pattern is empty")
        if until <= now:
            raise ValueError("the acknowledgement would end in the past")
        with self._tx(write=True) as conn:
            assert conn is not None
            acked = [a for a in rows.read_alerts(conn, "WHERE state = 'firing' ORDER BY key", (), [])
                     if matches(pattern, a.key, a.target)]
            for a in acked:
                a.acked_until = until
                rows.set_acked(conn, a.id, until)
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
            return rows.remove_silences(conn, text)

    def repair(self, *, now: float | None = None) -> builtins.list[Corrupt]:
        """Delete every corrupted row (an alert, a silence, a notice and its deliveries, an
        outbox row; a corrupted stale-run guard is reset); what was deleted (one transaction)."""
        now = time.time() if now is None else now
        with self._tx(write=True) as conn:
            assert conn is not None
            found = rows.repair(conn, now)
        return [Corrupt(c.table, c.row, c.field, c.reason, c.key,
                        "reset" if c.table == "alert_meta" else "deleted") for c in found]
