"""Sending alert notices: webhook, Slack, Discord and Alertmanager sinks, and the dead-man's switch.

:func:`deliver` claims the due rows of the outbox (:class:`~fleetctl.health.alerts.AlertStore`),
sends them to their sinks concurrently and marks them delivered, or releases them with a
one-line error for a later run (see :mod:`fleetctl.health.alerts` for the guarantees). Each
request is bounded by ``policy.timeout_s`` and the whole delivery by twice that: a hanging sink
costs one timeout, not one per notice (after a connection failure or a timeout, the rest of
that sink's notices wait for the next run without being tried).

Secrets: a sink URL holds its token (Slack and Discord put it in the path), so no URL ever
appears in a message, an error, a log line or a stored error: they show :func:`redact_url`
(``https://hooks.slack.com/…``), and the text of any exception is scrubbed of the URL and its
parts before it is used. A sink whose secret cannot be read (``$VAR`` unset, file missing)
fails with the reason :meth:`~fleetctl.spec.model.Secret.reveal` gives (it names the variable
or file, never a value) and its notices stay queued.

Payloads (``Content-Type: application/json``, UTF-8):

``webhook``
    ``POST url``, one object per notice::

        {"source": "fleetctl", "version": 1, "id": 17, "status": "firing",
         "key": "execution/eth-geth-1", "kind": "execution", "target": "eth-geth-1",
         "level": "CRITICAL", "previous_level": "WARNING", "escalated": true,
         "message": "head 12 blocks behind the majority", "labels": {"chain": "eth"},
         "started_at": "2025-01-01T12:00:00Z", "notified_at": "2025-01-01T12:03:00Z",
         "repeat": 1}

    ``status`` is ``firing``, ``resolved`` or ``event``. ``level``: the level notified (for
    ``resolved``, the level seen when it cleared: OK, a level below ``min_level``, or OK with
    the message "no longer checked" when the target is no longer checked).
    ``previous_level``: the level last notified before (None on a first notice).
    ``started_at``: when the problem was first seen. ``notified_at``: when fleetctl decided to
    notify (not the send time: a retried notice is byte-identical). ``repeat``: 0 for the
    first notice of an incident, n for the n-th after it (escalations and re-notifies; on
    ``resolved``, how many firing notices preceded it). ``id`` is unique per notice in the
    store: delivery is at-least-once, so receivers may de-duplicate on it.

``slack``
    ``POST url`` ``{"text": "FIRING CRITICAL execution/eth-geth-1: head 12 blocks behind"}``:
    one line, ``&<>`` escaped as Slack requires. The first word is FIRING, ESCALATED,
    STILL FIRING (re-notify, with the time it has fired since), RESOLVED (with the level it
    was) or EVENT.

``discord``
    ``POST url`` ``{"content": <the same line>, "allowed_mentions": {"parse": []}}`` (no
    message can ping @everyone), at most 1,900 characters.

``alertmanager``
    ``POST {url}/api/v2/alerts`` (unless the URL already ends with it): a JSON list of
    postable alerts (Alertmanager's OpenAPI v2 ``postableAlerts``), one request per sink and
    delivery::

        [{"labels": {"alertname": "fleetctl_execution", "severity": "critical",
                     "target": "eth-geth-1", "kind": "execution", "chain": "eth"},
          "annotations": {"summary": "head 12 blocks behind", "key": "execution/eth-geth-1"},
          "startsAt": "2025-01-01T12:00:00.000Z", "endsAt": "2025-01-01T20:03:00.000Z"}]

    Label names are made valid Prometheus names; ``alertname``, ``severity`` (lower case),
    ``target`` and ``kind`` win over an observation's labels of the same name. While firing,
    ``endsAt`` is the send time plus twice ``renotify_s`` (omitted when ``renotify_s`` is 0) so
    Alertmanager does not resolve the alert between re-notifies; ``resolved`` sends the labels
    of the level last notified with ``endsAt`` = the time it cleared. A notice whose level
    differs from the level notified before also closes the alert of the old ``severity``
    (``endsAt`` = now), since Alertmanager identifies an alert by its labels. Events omit
    ``endsAt`` (Alertmanager's ``resolve_timeout`` closes them).

The dead-man's switch (:func:`ping_deadman`) is a ``GET`` of ``policy.deadman``; any 2xx is
success.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from fleetctl.core.records import record
from fleetctl.core.httpclient import HttpError, HttpPool
from fleetctl.core.redact import redact_url, scrub

from fleetctl.health.alerts import AlertStore, Corrupt, Delivery, Notification
from fleetctl.spec.model import AlertPolicy, Secret, Sink

__all__ = [
    "DeliveryReport",
    "SinkReport",
    "alertmanager_alerts",
    "chat_line",
    "deliver",
    "ping_deadman",
    "redact_url",
    "request_for",
    "webhook_payload",
]

log = logging.getLogger(__name__)

#: Requests in flight per sink.
SINK_CONCURRENCY = 8
#: Alerts per Alertmanager request.
ALERTMANAGER_BATCH = 100
CHAT_LIMIT = 1900
_LABEL_NAME_BAD = re.compile(r"[^A-Za-z0-9_]")


# ----------------------------------------------------------------------------- payloads


def _rfc3339(ts: float, millis: bool = False) -> str:
    moment = datetime.fromtimestamp(ts, timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def webhook_payload(n: Notification) -> dict[str, Any]:
    """The generic webhook's JSON object (see the module docstring)."""
    return {
        "source": "fleetctl", "version": 1, "id": n.id, "status": n.status, "key": n.key,
        "kind": n.kind, "target": n.target, "level": n.level, "previous_level": n.previous_level,
        "escalated": n.escalated, "message": n.message, "labels": dict(n.labels),
        "started_at": _rfc3339(n.started_at), "notified_at": _rfc3339(n.created_at),
        "repeat": n.repeat,
    }


def chat_line(n: Notification) -> str:
    """``FIRING CRITICAL execution/eth-geth-1: head 12 blocks behind`` (Slack and Discord)."""
    if n.status == "resolved":
        was = f" (was {n.previous_level})" if n.previous_level else ""
        line = f"RESOLVED {n.key}: {n.message}{was}"
    elif n.status == "event":
        line = f"EVENT {n.level} {n.key}: {n.message}"
    elif n.repeat == 0:
        line = f"FIRING {n.level} {n.key}: {n.message}"
    elif n.escalated:
        line = f"ESCALATED {n.previous_level}→{n.level} {n.key}: {n.message}"
    else:
        since = datetime.fromtimestamp(n.started_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        line = f"STILL FIRING {n.level} {n.key}: {n.message} (since {since})"
    line = " ".join(line.split())
    return line if len(line) <= CHAT_LIMIT else line[: CHAT_LIMIT - 1] + "…"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _label_name(name: str) -> str:
    clean = _LABEL_NAME_BAD.sub("_", name).lstrip("_") or "label"
    return f"_{clean}" if clean[0].isdigit() else clean


def alertmanager_alerts(n: Notification, *, renotify_s: float, now: float) -> list[dict[str, Any]]:
    """The postable alerts for one notice (see the module docstring)."""
    def alert(level: str, ends_at: float | None) -> dict[str, Any]:
        labels = {_label_name(k): v for k, v in n.labels.items() if v != ""}
        labels.update({"alertname": _label_name(f"fleetctl_{n.kind}"), "severity": level.lower(),
                       "target": n.target, "kind": n.kind})
        body: dict[str, Any] = {
            "labels": labels,
            "annotations": {"summary": n.message, "key": n.key},
            "startsAt": _rfc3339(n.started_at, millis=True),
        }
        if ends_at is not None:
            body["endsAt"] = _rfc3339(max(ends_at, n.started_at), millis=True)
        return body

    if n.status == "resolved":
        return [alert(n.previous_level or n.level, n.created_at)]
    if n.status == "event":
        return [alert(n.level, None)]
    alerts = [alert(n.level, now + 2 * renotify_s if renotify_s > 0 else None)]
    if n.previous_level and n.previous_level != n.level:
        alerts.append(alert(n.previous_level, now))
    return alerts


def request_for(sink: Sink, url: str, notices: Sequence[Notification], *, renotify_s: float,
                now: float) -> tuple[str, Any]:
    """The URL and JSON body of one request carrying ``notices`` (several only for
    Alertmanager)."""
    if sink.type == "alertmanager":
        target = url.rstrip("/")
        if not target.endswith("/api/v2/alerts"):
            target += "/api/v2/alerts"
        body: Any = [a for n in notices for a in alertmanager_alerts(n, renotify_s=renotify_s, now=now)]
        return target, body
    (n,) = notices
    if sink.type == "webhook":
        return url, webhook_payload(n)
    if sink.type == "slack":
        return url, {"text": _slack_escape(chat_line(n))}
    if sink.type == "discord":
        return url, {"content": chat_line(n), "allowed_mentions": {"parse": []}}
    raise ValueError(f"unknown sink type {sink.type!r}")


# ----------------------------------------------------------------------------- reports


@record
class SinkReport:
    """One sink's share of a delivery."""

    name: str
    type: str
    url: str  # redacted
    sent: int = 0
    failed: int = 0
    dropped: int = 0  # given up on by this delivery (undelivered 24 h, or sink removed)
    errors: list[str] = field(default_factory=list)  # distinct one-line reasons
    #: notices queued for this sink after a failed delivery, waiting for their retry (backoff)
    waiting: int = 0
    retry_at: float | None = None  # the earliest retry of a failed notice
    last_error: str = ""  # the newest stored reason (redacted)

    def error_line(self) -> str | None:
        """``slack (https://hooks.slack.com/…): 2 notice(s) not delivered: HTTP 500``.

        A sink whose notices wait through the backoff has a line on every run until one is
        delivered, not only on the runs that tried it: its check does not flap."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} notice(s) not delivered, will retry: "
                         + "; ".join(self.errors or ["unknown error"]))
        elif self.waiting:
            when = (f", next try {_rfc3339(self.retry_at).replace('T', ' ')}"
                    if self.retry_at is not None else "")
            parts.append(f"{self.waiting} notice(s) waiting to be retried after a failed delivery"
                         f"{when}: {self.last_error or 'unknown error'}")
        if self.dropped:
            parts.append(f"{self.dropped} notice(s) could not be delivered and were dropped")
        return f"{self.name} ({self.url}): " + "; ".join(parts) if parts else None


@record
class DeliveryReport:
    """What :func:`deliver` did: counts overall and per sink, and one error line per sink."""

    sinks: dict[str, SinkReport] = field(default_factory=dict)
    elapsed_s: float = 0.0
    #: corrupted outbox or notice rows the claim dropped (each is an UNKNOWN check in health)
    corrupt: list[Corrupt] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.sinks.values())

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.sinks.values())

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self.sinks.values())

    @property
    def errors(self) -> list[str]:
        return [line for s in self.sinks.values() if (line := s.error_line())]

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "errors": self.errors, "corrupt": [c.as_dict() for c in self.corrupt], "sinks": {
                    name: {"type": s.type, "url": s.url, "sent": s.sent, "failed": s.failed,
                           "dropped": s.dropped, "waiting": s.waiting, "errors": list(s.errors)}
                    for name, s in self.sinks.items()}}


# ----------------------------------------------------------------------------- sending


class _SinkDown(Exception):
    """The sink did not answer (connection failure or timeout): do not try the rest now."""


async def _post(session: HttpPool, url: str, body: Any, timeout_s: float,
                secrets: Sequence[str]) -> None:
    """POST ``body``; raise ``_SinkDown`` or ``RuntimeError`` with a scrubbed one-line reason."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        async with asyncio.timeout(timeout_s):
            response = await session.request("POST", url, body=data,
                                             headers={"Content-Type": "application/json"})
        status = response.status
    except TimeoutError:
        raise _SinkDown(f"no answer within {timeout_s:g} s") from None
    except HttpError as exc:
        if exc.kind == "connect":
            raise _SinkDown(f"cannot connect: {scrub(str(exc), secrets)}") from None
        if exc.kind == "closed":
            raise _SinkDown(f"connection failed: {scrub(str(exc), secrets)}") from None
        raise RuntimeError(f"request failed: {scrub(str(exc), secrets)}") from None
    if 300 <= status < 400:
        raise RuntimeError(f"HTTP {status} (redirects are not followed)")
    if not 200 <= status < 300:
        raise RuntimeError(f"HTTP {status}")


def _check_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        ok = False
    return None if ok else "invalid URL (expected http:// or https://)"


async def _send_sink(session: HttpPool, sink: Sink, rows: list[Delivery],
                     policy: AlertPolicy, now: float, deadline: float,
                     done: dict[int, str | None]) -> None:
    """Send ``rows`` to ``sink``; record each row's outcome in ``done`` (None: delivered).

    A request starts only if its timeout ends before ``deadline`` (loop time): requests are
    never cut off half-way (the receiver may have acted on one), rows left over stay out of
    ``done`` and wait for the next run."""
    try:
        url = sink.url.reveal()
    except ValueError as exc:
        reason = scrub(str(exc))
        for row in rows:
            done[row.outbox_id] = reason
        return
    secrets = [url]
    bad = _check_url(url)
    if bad:
        for row in rows:
            done[row.outbox_id] = bad
        return
    if sink.type == "alertmanager":
        batches = [rows[i:i + ALERTMANAGER_BATCH] for i in range(0, len(rows), ALERTMANAGER_BATCH)]
    else:
        batches = [[row] for row in rows]
    semaphore = asyncio.Semaphore(SINK_CONCURRENCY)
    down: list[str] = []
    loop = asyncio.get_running_loop()

    async def send(batch: list[Delivery]) -> None:
        async with semaphore:
            if down:
                reason = f"{down[0]} (not tried again in this run)"
            elif loop.time() + policy.timeout_s > deadline:
                return  # untried: released for the next run without counting an attempt
            else:
                try:
                    target, body = request_for(sink, url, [r.notification for r in batch],
                                               renotify_s=policy.renotify_s, now=now)
                    await _post(session, target, body, policy.timeout_s, secrets)
                    reason = None
                except _SinkDown as exc:
                    down.append(str(exc))
                    reason = str(exc)
                except (RuntimeError, ValueError) as exc:
                    reason = scrub(str(exc), secrets)
                except Exception as exc:  # noqa: BLE001 - a sink must not break the others
                    reason = f"request failed: {type(exc).__name__}"
            if reason is not None:
                reason = scrub(reason, secrets)
            for row in batch:
                done[row.outbox_id] = reason
            log.debug("sink %s (%s): %d notice(s) %s", sink.name, redact_url(url), len(batch),
                      "delivered" if reason is None else f"failed: {reason}")

    await asyncio.gather(*(send(b) for b in batches))


async def deliver(store: AlertStore, policy: AlertPolicy, *, now: float | None = None,
                  limit: int = 200) -> DeliveryReport:
    """Claim the due outbox rows, send them to their sinks concurrently, mark the outcome.

    Each request is bounded by ``policy.timeout_s`` and the sending by twice that: a request
    starts only if it can time out before then, and the rows left over are released for the
    next run without counting an attempt. Raises :class:`~fleetctl.state.db.StateError`
    when the store cannot be used; a sink's failure is never raised, it is in the report."""
    started = time.monotonic()
    now = time.time() if now is None else now
    sinks = {s.name: s for s in policy.sinks}
    report = DeliveryReport({name: SinkReport(name, s.type, _redacted(s.url))
                             for name, s in sinks.items()})
    lease_s = 2 * policy.timeout_s + 60.0
    claim = await asyncio.to_thread(store.claim, list(sinks), now=now, lease_s=lease_s, limit=limit)
    report.corrupt.extend(claim.corrupt)
    for name, count in claim.dropped.items():
        if name in report.sinks:
            report.sinks[name].dropped += count
        else:
            report.sinks[name] = SinkReport(name, "removed", "<not configured>", dropped=count)
    by_sink: dict[str, list[Delivery]] = {}
    for row in claim.deliveries:
        by_sink.setdefault(row.sink, []).append(row)
    done: dict[int, str | None] = {}
    if by_sink:
        deadline = asyncio.get_running_loop().time() + 2 * policy.timeout_s
        try:
            async with HttpPool(max_body=1024 * 1024) as session:
                # a backstop only: no request starts unless its own timeout ends by the deadline
                async with asyncio.timeout(2 * policy.timeout_s + 1.0):
                    await asyncio.gather(*(_send_sink(session, sinks[name], rows, policy, now,
                                                      deadline, done)
                                           for name, rows in by_sink.items()))
        except TimeoutError:
            pass
        finally:
            await _settle(store, claim.token, claim.deliveries, done, report, policy, now)
    for name, waiting in (await asyncio.to_thread(store.waiting)).items():
        if name in sinks:  # a removed sink's rows are dropped by the next claim
            sink_report = report.sinks[name]
            sink_report.waiting, sink_report.retry_at = waiting.count, waiting.retry_at
            sink_report.last_error = scrub(waiting.last_error)  # stored redacted; kept so
    report.elapsed_s = time.monotonic() - started
    return report


async def _settle(store: AlertStore, token: str, rows: Sequence[Delivery],
                  done: dict[int, str | None], report: DeliveryReport, policy: AlertPolicy,
                  now: float) -> None:
    """Mark what was sent; release the rest (untried rows without counting an attempt)."""
    delivered = [r.outbox_id for r in rows if r.outbox_id in done and done[r.outbox_id] is None]
    failures: dict[tuple[str, str], list[int]] = {}
    untried: dict[str, list[int]] = {}
    for r in rows:
        if r.outbox_id not in done:
            untried.setdefault(r.sink, []).append(r.outbox_id)
        elif done[r.outbox_id] is not None:
            failures.setdefault((r.sink, str(done[r.outbox_id])), []).append(r.outbox_id)
    await asyncio.to_thread(store.mark_delivered, token, delivered, now=now)
    for (_sink, failure), ids in failures.items():
        await asyncio.to_thread(store.release, token, ids, failure, now=now)
    deadline = f"not sent: the {2 * policy.timeout_s:g} s delivery deadline came first (next run)"
    for _sink, ids in untried.items():
        await asyncio.to_thread(store.release, token, ids, deadline, now=now, attempted=False)
    for r in rows:
        sink_report = report.sinks[r.sink]
        reason = done.get(r.outbox_id, deadline)
        if reason is None:
            sink_report.sent += 1
        else:
            sink_report.failed += 1
            if reason not in sink_report.errors:
                sink_report.errors.append(reason)


def _redacted(secret: Secret) -> str:
    """A sink's URL for messages: redacted, or how it is given when it cannot be read."""
    try:
        return redact_url(secret.reveal())
    except ValueError:
        return str(secret)


async def ping_deadman(policy: AlertPolicy) -> str | None:
    """GET ``policy.deadman``; None on a 2xx answer, else a one-line redacted reason."""
    if policy.deadman is None:
        return None
    try:
        url = policy.deadman.reveal()
    except ValueError as exc:
        return f"dead-man's switch: {scrub(str(exc))}"
    where = f"dead-man's switch ({redact_url(url)})"
    bad = _check_url(url)
    if bad:
        return f"{where}: {bad}"
    try:
        async with HttpPool(max_body=1024 * 1024) as session, asyncio.timeout(policy.timeout_s):
            status = (await session.request("GET", url)).status
    except TimeoutError:
        return f"{where}: no answer within {policy.timeout_s:g} s"
    except HttpError as exc:
        prefix = "cannot connect" if exc.kind == "connect" else "request failed"
        return f"{where}: {prefix}: {scrub(str(exc), [url])}"
    if 200 <= status < 300:
        log.debug("%s: HTTP %d", where, status)
        return None
    return f"{where}: HTTP {status}"
