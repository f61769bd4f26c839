"""Alert delivery against real HTTP receivers on 127.0.0.1 (fleetctl.health.sinks).

Each receiver is a ThreadingHTTPServer that records every request (method, path, JSON body)
and answers 200, an error status, or not at all (it holds the connection until the test ends).
Sink URLs carry a token in their path, the way Slack and Discord webhooks do, and every test
that can produce text (reports, stored errors, log records, stdout/stderr) is searched for it.
The overlap test runs 10 real processes against one SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fleetctl.health.alerts import AlertStore, Observation, backoff_s
from fleetctl.health.sinks import deliver, ping_deadman, redact_url
from fleetctl.spec.model import AlertPolicy, Secret, Sink

REPO = Path(__file__).resolve().parents[2]
TOKEN = "T0KEN-9f8e7d6c5b4a"  # in every sink URL's path; must never be printed
T0 = 1_700_000_000.0
HOUR = 3600.0

# Alertmanager's OpenAPI v2 `postableAlerts` (api/v2/openapi.yaml), as a JSON Schema:
# an array of {labels: labelSet (required), annotations: labelSet, startsAt, endsAt:
# date-time, generatorURL: uri}; a labelSet is an object of strings.
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
LABEL_SET = {"type": "object", "additionalProperties": {"type": "string"}}
POSTABLE_ALERTS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "labels": {**LABEL_SET, "propertyNames": {"pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
                       "required": ["alertname"]},
            "annotations": LABEL_SET,
            "startsAt": {"type": "string", "pattern": RFC3339},
            "endsAt": {"type": "string", "pattern": RFC3339},
            "generatorURL": {"type": "string", "format": "uri"},
        },
        "required": ["labels"],
        "additionalProperties": False,
    },
}


# ----------------------------------------------------------------------------- receivers


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog (5) drops simultaneous connections, and a dropped SYN is
    # retried a second later: longer than the timeouts these tests use.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) is part of these tests


class Receiver:
    """An HTTP server on 127.0.0.1 that records requests and answers ``status`` (or hangs)."""

    def __init__(self, status: int = 200, hang: bool = False, delay: float = 0.0) -> None:
        self.status = status
        self.hang = hang
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with receiver.lock:
                    receiver.requests.append({
                        "method": self.command, "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(raw) if raw else None,
                        "status": receiver.status, "hung": receiver.hang})
                    hang, status = receiver.hang, receiver.status
                if hang:
                    receiver.release.wait(30)
                    return
                if receiver.delay:
                    receiver.release.wait(receiver.delay)
                body = b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = f"/hooks/{TOKEN}") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, method: str = "POST") -> list[Any]:
        with self.lock:
            return [r["body"] for r in self.requests if r["method"] == method]

    def accepted(self) -> list[Any]:
        """Bodies this receiver answered with a 2xx."""
        with self.lock:
            return [r["body"] for r in self.requests if not r["hung"] and 200 <= r["status"] < 300]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator:
    made: list[Receiver] = []

    def make(status: int = 200, hang: bool = False, delay: float = 0.0) -> Receiver:
        made.append(Receiver(status, hang, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sink(kind: str, url: str, name: str | None = None) -> Sink:
    return Sink(kind, Secret(inline=url), name or kind)


def ob(target: str = "eth-geth-1", level: str = "CRITICAL", message: str = "head 12 blocks behind",
       kind: str = "execution", **labels: str) -> Observation:
    return Observation(target, kind, level, message, labels or {"chain": "eth", "client": "geth"})


def run(coro):
    return asyncio.run(coro)


def rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ----------------------------------------------------------------------------- payloads


def test_every_payload_shape(tmp_path, receivers):
    hook, slack, discord, am = receivers(), receivers(), receivers(), receivers()
    policy = AlertPolicy(after=1, renotify_s=HOUR, timeout_s=2, sinks=(
        sink("webhook", hook.url()), sink("slack", slack.url(f"/services/T1/B2/{TOKEN}")),
        sink("discord", discord.url(f"/api/webhooks/1/{TOKEN}")),
        sink("alertmanager", am.url(f"/am/{TOKEN}/"))))
    store = AlertStore(tmp_path / "a.db")
    t1 = T0 + 60
    store.record_run([ob(level="WARNING", message="lag 4 <blocks> & more")], policy,
                     run_started_at=T0, now=t1)
    report = run(deliver(store, policy, now=t1))
    assert (report.sent, report.failed, report.dropped, report.errors) == (4, 0, 0, [])

    (w,) = hook.bodies()
    assert w == {"source": "fleetctl", "version": 1, "id": w["id"], "status": "firing",
                 "key": "execution/eth-geth-1", "kind": "execution", "target": "eth-geth-1",
                 "level": "WARNING", "previous_level": None, "escalated": False,
                 "message": "lag 4 <blocks> & more", "labels": {"chain": "eth", "client": "geth"},
                 "started_at": "2023-11-14T22:13:20Z", "notified_at": "2023-11-14T22:14:20Z",
                 "repeat": 0}
    assert hook.requests[0]["path"] == f"/hooks/{TOKEN}"
    assert hook.requests[0]["content_type"] == "application/json"
    assert slack.bodies() == [{"text": "FIRING WARNING execution/eth-geth-1: lag 4 &lt;blocks&gt; &amp; more"}]
    assert discord.bodies() == [{"content": "FIRING WARNING execution/eth-geth-1: lag 4 <blocks> & more",
                                 "allowed_mentions": {"parse": []}}]
    assert am.requests[0]["path"] == f"/am/{TOKEN}/api/v2/alerts"
    (alerts,) = am.bodies()
    jsonschema.validate(alerts, POSTABLE_ALERTS)
    assert alerts == [{
        "labels": {"alertname": "fleetctl_execution", "severity": "warning", "target": "eth-geth-1",
                   "kind": "execution", "chain": "eth", "client": "geth"},
        "annotations": {"summary": "lag 4 <blocks> & more", "key": "execution/eth-geth-1"},
        "startsAt": "2023-11-14T22:13:20.000Z", "endsAt": "2023-11-15T00:14:20.000Z"}]
    assert rfc3339(alerts[0]["endsAt"]) == t1 + 2 * HOUR  # firing: not auto-resolved before the re-notify

    # escalation: Alertmanager also closes the alert of the old severity
    t2 = t1 + 60
    store.record_run([ob(level="CRITICAL", message="lag 12")], policy, run_started_at=T0 + 60, now=t2)
    assert run(deliver(store, policy, now=t2)).sent == 4
    assert hook.bodies()[-1]["escalated"] is True and hook.bodies()[-1]["previous_level"] == "WARNING"
    assert hook.bodies()[-1]["repeat"] == 1
    assert slack.bodies()[-1] == {"text": "ESCALATED WARNING→CRITICAL execution/eth-geth-1: lag 12"}
    esc = am.bodies()[-1]
    jsonschema.validate(esc, POSTABLE_ALERTS)
    assert [(a["labels"]["severity"], rfc3339(a["endsAt"])) for a in esc] == [
        ("critical", t2 + 2 * HOUR), ("warning", t2)]

    # re-notify, then resolved
    t3 = t2 + HOUR
    store.record_run([ob(level="CRITICAL", message="lag 14")], policy, run_started_at=t3 - 5, now=t3)
    run(deliver(store, policy, now=t3))
    assert slack.bodies()[-1]["text"].startswith("STILL FIRING CRITICAL execution/eth-geth-1: lag 14 (since ")
    t4 = t3 + 60
    store.record_run([ob(level="OK", message="head at the majority")], policy, run_started_at=t4 - 5, now=t4)
    assert run(deliver(store, policy, now=t4 + 30)).sent == 4
    resolved = hook.bodies()[-1]
    assert (resolved["status"], resolved["level"], resolved["previous_level"], resolved["repeat"]) == (
        "resolved", "OK", "CRITICAL", 3)
    assert slack.bodies()[-1] == {"text": "RESOLVED execution/eth-geth-1: head at the majority (was CRITICAL)"}
    assert discord.bodies()[-1]["content"] == "RESOLVED execution/eth-geth-1: head at the majority (was CRITICAL)"
    (closing,) = am.bodies()[-1]
    jsonschema.validate([closing], POSTABLE_ALERTS)
    assert closing["labels"]["severity"] == "critical"  # the labels Alertmanager knows it by
    assert rfc3339(closing["endsAt"]) == t4 and closing["annotations"]["summary"] == "head at the majority"
    assert rfc3339(closing["startsAt"]) == T0
    assert len(hook.bodies()) == len(slack.bodies()) == len(discord.bodies()) == len(am.bodies()) == 4


def test_events_and_alertmanager_batches(tmp_path, receivers):
    am, hook = receivers(), receivers()
    policy = AlertPolicy(after=1, renotify_s=0, sinks=(sink("alertmanager", am.url(f"/{TOKEN}")),
                                                       sink("webhook", hook.url())))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([ob(f"eth-{i}", **{"chain": "eth", "bad-name": "x", "9lives": "y", "empty": ""})
                      for i in range(5)], policy, run_started_at=T0, now=T0)
    store.enqueue_event("lab-h1/lb-eth", "remediation", "WARNING", "pulled eth-geth-1 from lb-eth",
                        {"host": "lab-h1", "balancer": "lb-eth"}, now=T0 + 1)
    report = run(deliver(store, policy, now=T0 + 2))
    assert report.sent == 12 and report.errors == []
    (batch,) = am.bodies()  # one request carries them all
    jsonschema.validate(batch, POSTABLE_ALERTS)
    assert len(batch) == 6
    assert all("endsAt" not in a for a in batch)  # renotify 0: no endsAt on firing; events never
    assert batch[0]["labels"] == {"alertname": "fleetctl_execution", "severity": "critical",
                                  "target": "eth-0", "kind": "execution", "chain": "eth",
                                  "bad_name": "x", "_9lives": "y"}
    event = batch[-1]
    assert event["labels"]["alertname"] == "fleetctl_remediation" and event["labels"]["balancer"] == "lb-eth"
    ev = [b for b in hook.bodies() if b["status"] == "event"]
    assert len(ev) == 1 and ev[0]["key"] == "remediation/lab-h1/lb-eth" and ev[0]["level"] == "WARNING"


# ----------------------------------------------------------------------------- failures


def test_failure_then_retry_on_a_later_run_delivers_exactly_once(tmp_path, receivers):
    hook = receivers(status=500)
    policy = AlertPolicy(after=1, timeout_s=2, sinks=(sink("webhook", hook.url(), "ops-hook"),))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([ob()], policy, run_started_at=T0, now=T0)
    first = run(deliver(store, policy, now=T0 + 1))
    assert (first.sent, first.failed) == (0, 1)
    assert first.errors == [f"ops-hook (http://127.0.0.1:{hook.port}/…): 1 notice(s) not delivered, "
                            "will retry: HTTP 500"]
    assert store.queued() == {"ops-hook": 1}
    # the alert clears meanwhile: the resolved notice waits behind the firing one
    store.record_run([], policy, run_started_at=T0 + 60, now=T0 + 60)
    hook.status = 200
    early = run(deliver(store, policy, now=T0 + 1 + backoff_s(1) - 1))  # still backing off
    assert (early.sent, early.failed) == (0, 0) and len(hook.requests) == 1
    later = run(deliver(store, policy, now=T0 + 1 + backoff_s(1)))
    assert later.sent == 1
    last = run(deliver(store, policy, now=T0 + 200))
    assert last.sent == 1
    for t in (T0 + 300, T0 + 3000, T0 + 30000):
        assert run(deliver(store, policy, now=t)).sent == 0
    assert [b["status"] for b in hook.accepted()] == ["firing", "resolved"]  # once each, in order
    assert [b["status"] for b in hook.bodies()] == ["firing", "firing", "resolved"]
    assert hook.bodies()[0] == hook.bodies()[1]  # a retry sends the same notice, same id
    assert store.queued() == {}


def test_undeliverable_for_a_day_is_dropped_and_reported(tmp_path, receivers):
    dead = receivers(status=503)
    policy = AlertPolicy(after=1, sinks=(sink("slack", dead.url(f"/services/{TOKEN}")),))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([ob()], policy, run_started_at=T0, now=T0)
    assert run(deliver(store, policy, now=T0)).failed == 1
    report = run(deliver(store, policy, now=T0 + 86400 + 1))
    assert (report.sent, report.failed, report.dropped) == (0, 0, 1)
    assert report.errors == [f"slack (http://127.0.0.1:{dead.port}/…): 1 notice(s) could not be "
                             "delivered and were dropped"]
    assert run(deliver(store, policy, now=T0 + 86400 + 100)).dropped == 0  # counted once
    assert store.undeliverable(since=T0) == {"slack": 1}


def test_a_hanging_sink_costs_one_timeout(tmp_path, receivers):
    hang, good = receivers(hang=True), receivers()
    policy = AlertPolicy(after=1, timeout_s=1.0, sinks=(sink("webhook", hang.url(), "stuck"),
                                                        sink("slack", good.url(f"/s/{TOKEN}"))))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([ob(f"eth-{i}") for i in range(20)], policy, run_started_at=T0, now=T0)
    started = time.monotonic()
    report = run(deliver(store, policy, now=T0 + 1))
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.0, elapsed  # within the bound of twice the timeout
    assert report.sinks["slack"].sent == 20 and len(good.accepted()) == 20
    stuck = report.sinks["stuck"]
    assert stuck.sent == 0 and stuck.failed == 20
    # one timeout, not one per notice: the first wave timed out, the rest were not tried
    assert stuck.errors == ["no answer within 1 s", "no answer within 1 s (not tried again in this run)"]
    assert len(hang.requests) <= 8
    assert store.queued() == {"stuck": 20}


def test_the_whole_delivery_is_bounded_and_the_rest_waits_for_the_next_run(tmp_path, receivers):
    slow = receivers(delay=0.7)  # each answer in time, but 40 of them 8 at a time take 3.5 s
    policy = AlertPolicy(after=1, timeout_s=1.0, sinks=(sink("slack", slow.url(f"/s/{TOKEN}")),))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([ob(f"eth-{i}") for i in range(40)], policy, run_started_at=T0, now=T0)
    started = time.monotonic()
    first = run(deliver(store, policy, now=T0))
    assert time.monotonic() - started < 2.0
    # a request starts only if it can time out by the deadline: none is cut off half-way
    assert first.sent == 16 and first.failed == 24
    assert first.sinks["slack"].errors == ["not sent: the 2 s delivery deadline came first (next run)"]
    assert len(slow.requests) == 16
    # untried rows come back at once (no backoff, no attempt counted); nothing is sent twice
    # each run sends what fits in its deadline (16 on a quiet machine, fewer on a loaded one):
    # every run makes progress until the queue is empty
    for _ in range(24):
        if not store.queued():
            break
        left = store.queued()["slack"]
        again = run(deliver(store, policy, now=T0 + 1))
        assert again.sent >= 1 and store.queued().get("slack", 0) == left - again.sent
    assert store.queued() == {}
    keys = sorted(b["text"].split()[2] for b in slow.accepted())
    assert keys == sorted(f"execution/eth-{i}:" for i in range(40))


def test_refused_connection_and_unreadable_secrets_stay_queued(tmp_path, receivers, monkeypatch):
    monkeypatch.delenv("FLEETCTL_TEST_HOOK", raising=False)
    good = receivers()
    port = closed_port()
    policy = AlertPolicy(after=1, timeout_s=1, sinks=(
        sink("webhook", f"http://127.0.0.1:{port}/{TOKEN}", "refused"),
        Sink("discord", Secret(env="FLEETCTL_TEST_HOOK"), "discord"),
        Sink("slack", Secret(file=str(tmp_path / "missing")), "slack")))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([ob()], policy, run_started_at=T0, now=T0)
    report = run(deliver(store, policy, now=T0))
    assert report.failed == 3 and report.sent == 0
    errors = sorted(report.errors)
    assert errors[0] == ("discord ($FLEETCTL_TEST_HOOK): 1 notice(s) not delivered, will retry: "
                         "$FLEETCTL_TEST_HOOK is not set")
    assert errors[1].startswith(f"refused (http://127.0.0.1:{port}/…): 1 notice(s) not delivered, "
                                "will retry: cannot connect: ")
    assert errors[2].startswith(f"slack (file {tmp_path / 'missing'}): ") and "No such file" in errors[2]
    monkeypatch.setenv("FLEETCTL_TEST_HOOK", good.url(f"/api/webhooks/{TOKEN}"))
    again = run(deliver(store, policy, now=T0 + backoff_s(1)))
    assert again.sinks["discord"].sent == 1 and len(good.accepted()) == 1
    assert store.queued() == {"refused": 1, "slack": 1}


def test_secrets_never_appear_in_reports_errors_logs_or_the_store(tmp_path, receivers, caplog, capsys,
                                                                   monkeypatch):
    caplog.set_level(logging.DEBUG)
    failing, hanging = receivers(status=500), receivers(hang=True)
    port = closed_port()
    secret_urls = [
        failing.url(f"/services/{TOKEN}?token={TOKEN}"),
        f"http://user:{TOKEN}@127.0.0.1:{port}/{TOKEN}",
        hanging.url(f"/{TOKEN}"),
        f"htp:/broken/{TOKEN}",
        f"http://127.0.0.1:99999/{TOKEN}",
        f"http://[::1/{TOKEN}",
    ]
    sinks = [sink(kind, url, f"s{i}") for i, (kind, url) in
             enumerate(zip(["webhook", "slack", "alertmanager", "discord", "webhook", "slack"], secret_urls))]
    monkeypatch.setenv("FLEETCTL_DEADMAN", f"http://127.0.0.1:{port}/ping/{TOKEN}")
    policy = AlertPolicy(after=1, timeout_s=0.5, sinks=tuple(sinks), deadman=Secret(env="FLEETCTL_DEADMAN"))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([ob()], policy, run_started_at=T0, now=T0)
    report = run(deliver(store, policy, now=T0))
    assert report.failed == len(sinks)
    texts = [json.dumps(report.as_dict()), *report.errors]
    for url in secret_urls:
        texts.append(redact_url(url))
    texts.append(run(ping_deadman(policy)) or "")
    texts.append(run(ping_deadman(AlertPolicy(deadman=Secret(inline=secret_urls[0]), timeout_s=1))) or "")
    texts.append(run(ping_deadman(AlertPolicy(deadman=Secret(inline=secret_urls[2]), timeout_s=0.5))) or "")
    texts.append(run(ping_deadman(AlertPolicy(deadman=Secret(inline=secret_urls[3])))) or "")
    with sqlite3.connect(tmp_path / "a.db") as conn:
        texts.extend(str(r[0]) for r in conn.execute("SELECT last_error FROM outbox"))
    texts.extend(r.getMessage() for r in caplog.records)
    captured = capsys.readouterr()
    texts.extend([captured.out, captured.err])
    blob = "\n".join(texts)
    assert TOKEN not in blob and "user:" not in blob
    # and the texts are still useful
    assert "HTTP 500" in blob and "no answer within 0.5 s" in blob and "invalid URL" in blob
    assert f"http://127.0.0.1:{failing.port}/…" in blob
    assert any("delivered" in r.getMessage() or "failed" in r.getMessage() for r in caplog.records)


def test_redact_url():
    assert redact_url(f"https://hooks.slack.com/services/T/B/{TOKEN}") == "https://hooks.slack.com/…"
    assert redact_url(f"HTTPS://user:{TOKEN}@Example.COM:8443/x?y={TOKEN}") == "https://example.com:8443/…"
    assert redact_url(f"http://[::1]:9093/{TOKEN}") == "http://[::1]:9093/…"
    assert redact_url(f"not a url {TOKEN}") == "<invalid URL>"
    assert redact_url(f"http://h:notaport/{TOKEN}") == "<invalid URL>"


# ----------------------------------------------------------------------------- dead-man's switch


def test_deadman_ping(receivers):
    ok, bad = receivers(), receivers(status=404)
    assert run(ping_deadman(AlertPolicy())) is None  # none configured
    assert run(ping_deadman(AlertPolicy(deadman=Secret(inline=ok.url(f"/ping/{TOKEN}"))))) is None
    assert ok.requests[0]["method"] == "GET" and ok.requests[0]["path"] == f"/ping/{TOKEN}"
    error = run(ping_deadman(AlertPolicy(deadman=Secret(inline=bad.url(f"/ping/{TOKEN}")))))
    assert error == f"dead-man's switch (http://127.0.0.1:{bad.port}/…): HTTP 404"
    refused = run(ping_deadman(AlertPolicy(deadman=Secret(inline=f"http://127.0.0.1:{closed_port()}/{TOKEN}"),
                                           timeout_s=1)))
    assert refused.startswith("dead-man's switch (http://127.0.0.1:") and ": cannot connect: " in refused
    missing = run(ping_deadman(AlertPolicy(deadman=Secret(env="FLEETCTL_NO_SUCH_VARIABLE"))))
    assert missing == "dead-man's switch: $FLEETCTL_NO_SUCH_VARIABLE is not set"


# ----------------------------------------------------------------------------- overlapping runs

WORKER = textwrap.dedent("""
    import asyncio, json, sys, time
    from fleetctl.health.alerts import AlertStore, Observation
    from fleetctl.health.sinks import deliver
    from fleetctl.spec.model import AlertPolicy, Secret, Sink

    db, go, phase, hook, am = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    policy = AlertPolicy(after=1, renotify_s=3600, timeout_s=5, sinks=(
        Sink("webhook", Secret(inline=hook), "hook"), Sink("alertmanager", Secret(inline=am), "am")))
    observations = [Observation("eth-geth-1", "execution", "CRITICAL", "DIVERGED at 1200", {"chain": "eth"})]
    while time.time() < go:
        time.sleep(0.001)
    started = time.time()
    store = AlertStore(db)
    outcome = store.record_run(observations if phase == "fire" else [], policy, run_started_at=started)
    report = asyncio.run(deliver(store, policy))
    print(json.dumps({"applied": outcome.applied, "queued": len(outcome.notifications),
                      "sent": report.sent, "failed": report.failed, "errors": report.errors}))
""")


def overlapping(db: Path, phase: str, hook: Receiver, am: Receiver, n: int = 10) -> list[dict[str, Any]]:
    go = time.time() + 3.0  # every interpreter is up and waiting by then
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(go), phase,
                               hook.url(), am.url(f"/{TOKEN}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and TOKEN not in out + err
        results.append(json.loads(out))
    return results


def test_ten_overlapping_runs_notify_once_then_resolve_once(tmp_path, receivers):
    hook, am = receivers(), receivers()
    db = tmp_path / "shared" / "fleetctl.db"  # fresh: the processes race to create it too
    fired = overlapping(db, "fire", hook, am)
    assert sum(r["queued"] for r in fired) == 1
    assert sum(r["sent"] for r in fired) == 2 and not any(r["failed"] or r["errors"] for r in fired)
    assert [b["status"] for b in hook.bodies()] == ["firing"]
    (alerts,) = am.bodies()
    assert [a["labels"]["severity"] for a in alerts] == ["critical"]

    resolved = overlapping(db, "resolve", hook, am)
    assert sum(r["queued"] for r in resolved) == 1
    assert sum(r["sent"] for r in resolved) == 2
    assert [b["status"] for b in hook.bodies()] == ["firing", "resolved"]
    assert len(am.bodies()) == 2 and "endsAt" in am.bodies()[1][0]
    assert AlertStore(db).queued() == {} and AlertStore(db).list() == []
