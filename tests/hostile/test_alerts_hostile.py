"""Alerts and sinks played from the hostile side: sink secrets in FIFOs and huge files, sink
receivers on 127.0.0.1 that answer garbage, hang, answer huge bodies or redirect, a sink that
keeps refusing across runs, and an alert store whose rows were corrupted behind fleetctl's back
(written here with sqlite3 directly). Every outcome is a value or one line naming the file, the
row or the sink; never a traceback, never a hang, never a token in clear."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetctl.health.alerts import AlertStore, Observation
from fleetctl.health.report import HealthReport
from fleetctl.health.sinks import deliver, ping_deadman
from fleetctl.core.levels import Level
from fleetctl.spec.model import AlertPolicy, Fleet, Pocket, Secret, Sink

from conftest import run_cli

TOKEN = "T0KEN-h0st1le-5ecret"
T0 = 1_700_000_000.0


def _in_thread(func: Any, timeout: float) -> dict[str, Any]:
    """Run ``func`` in a daemon thread; ``{"value"|"error": ...}`` or ``{"hung": True}``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        box["hung"] = True
    return box


# ---------------------------------------------------------------------------------------------
# 1. a sink's url_file: regular files only, bounded, named, never echoed
# ---------------------------------------------------------------------------------------------


def test_a_fifo_as_url_file_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "slack.url"
    os.mkfifo(fifo, 0o600)
    try:
        box = _in_thread(Secret(file=str(fifo)).reveal, 5)
        assert "hung" not in box, "reading a FIFO url_file hangs"
        assert isinstance(box.get("error"), ValueError), box
        message = str(box["error"])
        assert str(fifo) in message and "regular file" in message and "\n" not in message
    finally:
        # unblock a reader stuck in open() on the code before the fix
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_a_fifo_url_file_costs_health_one_warning_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "hook.url"
    os.mkfifo(fifo, 0o600)
    policy = AlertPolicy(after=1, timeout_s=0.5, sinks=(Sink("webhook", Secret(file=str(fifo)), "hook"),))
    try:
        started = time.monotonic()
        box = _in_thread(lambda: _alert_run(tmp_path / "a.db", policy, [_ob()]), 8)
        assert "hung" not in box, "a FIFO url_file hangs health"
        assert time.monotonic() - started < 5
        report = box["value"]
        (check,) = [c for c in report.checks if c.kind == "alerting"]
        assert check.level is Level.WARNING and str(fifo) in check.message
    finally:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_a_huge_url_file_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "big.url"
    with open(path, "wb") as fh:
        fh.write(b"https://hooks.example.invalid/" + b"a" * (8 << 20))
    path.chmod(0o600)
    with pytest.raises(ValueError) as exc:
        Secret(file=str(path)).reveal()
    assert str(path) in str(exc.value) and "64 KiB" in str(exc.value)


def test_a_sparse_4gib_url_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "sparse.url"
    with open(path, "wb") as fh:
        fh.truncate(4 << 30)
    path.chmod(0o600)
    box = _in_thread(Secret(file=str(path)).reveal, 5)
    assert "hung" not in box and isinstance(box.get("error"), ValueError), box
    assert "64 KiB" in str(box["error"])


def test_a_symlink_to_a_private_regular_file_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "real.url"
    real.write_text(f"https://hooks.example.invalid/{TOKEN}\n")
    real.chmod(0o600)
    link = tmp_path / "link.url"
    link.symlink_to(real)
    assert Secret(file=str(link)).reveal() == f"https://hooks.example.invalid/{TOKEN}"
    real.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others"):
        Secret(file=str(link)).reveal()


def test_a_directory_or_socket_is_refused_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "dir.url"
    folder.mkdir(mode=0o700)
    sock_path = tmp_path / "s.url"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        sock_path.chmod(0o600)
        for path in (folder, sock_path):
            with pytest.raises(ValueError) as exc:
                Secret(file=str(path)).reveal()
            assert str(path) in str(exc.value) and "regular file" in str(exc.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(min_size=0, max_size=300))
def test_any_url_file_content_is_a_value_or_a_line_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "any.url"
    secret = b"S3CR3T-" + content + b"-S3CR3T"
    path.write_bytes(secret)
    path.chmod(0o600)
    try:
        value = Secret(file=str(path)).reveal()
    except ValueError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message
        assert "S3CR3T" not in message
    else:
        assert value == secret.decode("utf-8").strip()


# ---------------------------------------------------------------------------------------------
# receivers that misbehave
# ---------------------------------------------------------------------------------------------


class Hostile:
    """A TCP server on 127.0.0.1 that answers each connection with ``answer(request_bytes)``
    (bytes, or None to hang until closed); it records what it received."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.release = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                reply = self.answer(data)
                if reply is None:
                    self.release.wait(30)
                    return
                for piece in reply if isinstance(reply, list) else [reply]:
                    conn.sendall(piece)
            except OSError:
                pass

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{TOKEN}"

    def close(self) -> None:
        self.release.set()
        self.sock.close()


@pytest.fixture()
def hostile() -> Iterator[Any]:
    made: list[Hostile] = []

    def make(answer: Any) -> Hostile:
        made.append(Hostile(answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def _ob(target: str = "eth-geth-1", level: str = "CRITICAL", kind: str = "execution") -> Observation:
    return Observation(target, kind, level, "head 12 blocks behind", {"chain": "eth"})


def _fleet(policy: AlertPolicy) -> Fleet:
    return Fleet(root=Path("."), protocol="shannon", pocket=Pocket(), chains={}, suppliers=(),
                 hosts={}, alerts=policy)


def _alert_run(db: Path, policy: AlertPolicy, observations: list[Observation],
               started: float | None = None) -> HealthReport:
    """One run of health's alerting step (fleetctl.health.notify) on ``observations``."""
    from fleetctl.health.notify import process_alerts
    from fleetctl.health.report import Check

    report = HealthReport(checked_at="now", duration_s=0.0, checks=[
        Check(o.target, o.kind, Level[o.level], o.message, labels=dict(o.labels)) for o in observations])
    asyncio.run(process_alerts(_fleet(policy), report, SimpleNamespace(keep=()), db=db,
                               run_started=time.time() if started is None else started))
    return report


def _stored_errors(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT last_error FROM outbox WHERE last_error IS NOT NULL")]


def _no_token(*texts: Any) -> None:
    for text in texts:
        assert TOKEN not in str(text) and "h0st1le" not in str(text), text


_GARBAGE = {
    "not_http": lambda req: b"\x00\xffSSH-2.0-OpenSSH " + req[:200] + b"\r\n\r\n",
    "echoes_the_request": lambda req: b"HTTP/1.1 " + req.split(b"\r\n")[0] + b"\r\n\r\n",
    "bad_length": lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
    "bad_chunks": lambda req: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
    "status_999": lambda req: b"HTTP/1.1 999 " + req.split(b"\r\n")[0] + b"\r\nContent-Length: 0\r\n\r\n",
    "header_flood": lambda req: b"HTTP/1.1 200 OK\r\n" + b"X-A: " + b"a" * 200_000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("kind", sorted(_GARBAGE))
def test_a_receiver_answering_garbage_is_one_line_and_the_notice_stays_queued(
        tmp_path: Path, hostile: Any, kind: str) -> None:
    server = hostile(_GARBAGE[kind])
    policy = AlertPolicy(after=1, timeout_s=1.0, sinks=(Sink("webhook", Secret(inline=server.url()), "hook"),))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([_ob()], policy, run_started_at=T0, now=time.time())
    report = asyncio.run(deliver(store, policy))
    assert (report.sent, report.failed) == (0, 1)
    (line,) = report.errors
    assert line.startswith("hook (http://127.0.0.1:") and "\n" not in line
    _no_token(line, report.as_dict(), _stored_errors(tmp_path / "a.db"))
    assert store.queued() == {"hook": 1}


def test_a_receiver_that_hangs_costs_one_timeout(tmp_path: Path, hostile: Any) -> None:
    server = hostile(lambda req: None)
    policy = AlertPolicy(after=1, timeout_s=0.5, sinks=(Sink("slack", Secret(inline=server.url()), "slack"),))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([_ob(f"t{i}") for i in range(20)], policy, run_started_at=T0, now=time.time())
    started = time.monotonic()
    report = asyncio.run(deliver(store, policy))
    assert time.monotonic() - started < 2 * policy.timeout_s + 1.5
    assert report.sent == 0 and report.failed == 20
    _no_token(report.errors, _stored_errors(tmp_path / "a.db"))


def test_a_huge_answer_is_cut_off_bounded(tmp_path: Path, hostile: Any) -> None:
    chunk = b"x" * 65536

    def huge(req: bytes) -> list[bytes]:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", *([chunk] * 40)]

    server = hostile(huge)
    policy = AlertPolicy(after=1, timeout_s=2.0, sinks=(Sink("discord", Secret(inline=server.url()), "discord"),))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([_ob()], policy, run_started_at=T0, now=time.time())
    started = time.monotonic()
    report = asyncio.run(deliver(store, policy))
    assert time.monotonic() - started < 2 * policy.timeout_s + 1.5
    (line,) = report.errors
    assert "larger than" in line
    _no_token(line, _stored_errors(tmp_path / "a.db"))


def test_a_redirect_to_another_host_is_not_followed(tmp_path: Path, hostile: Any) -> None:
    thief = hostile(lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    steal = f"http://127.0.0.1:{thief.port}/steal/{TOKEN}"
    redirector = hostile(lambda req: (f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {steal}\r\n"
                                      "Content-Length: 0\r\n\r\n").encode())
    policy = AlertPolicy(after=1, timeout_s=1.0, sinks=(
        Sink("webhook", Secret(inline=redirector.url()), "hook"),),
        deadman=Secret(inline=redirector.url() + "/ping"))
    store = AlertStore(tmp_path / "a.db")
    store.record_run([_ob()], policy, run_started_at=T0, now=time.time())
    report = asyncio.run(deliver(store, policy))
    deadman = asyncio.run(ping_deadman(policy))
    assert report.sent == 0 and thief.requests == []
    assert "307" in report.errors[0] and deadman is not None and "307" in deadman
    _no_token(report.errors, deadman, _stored_errors(tmp_path / "a.db"))


# ---------------------------------------------------------------------------------------------
# 3. a sink whose notices wait through the backoff keeps its WARNING
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", ["http_503", "closed_port"])
def test_a_refusing_sink_keeps_its_warning_on_every_run(tmp_path: Path, hostile: Any, refusal: str) -> None:
    if refusal == "http_503":
        url = hostile(lambda req: b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").url()
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}/hooks/{TOKEN}"
    policy = AlertPolicy(after=1, timeout_s=0.5, sinks=(Sink("slack", Secret(inline=url), "slack"),))
    db = tmp_path / "a.db"
    levels = []
    for run in range(4):  # the 30 s backoff holds the notice back on runs 2-4
        report = _alert_run(db, policy, [_ob()], started=time.time())
        sink_checks = [c for c in report.checks if c.kind == "alerting" and c.target == "slack"]
        levels.append([c.level for c in sink_checks])
        for c in sink_checks:
            _no_token(c.message, c.labels, c.facts)
            assert "waiting" in c.message or "not delivered" in c.message
    assert levels == [[Level.WARNING]] * 4, levels


# ---------------------------------------------------------------------------------------------
# 2. corrupted rows in the alert state
# ---------------------------------------------------------------------------------------------

#: (table, SQL that corrupts one row, what the line must say)
CORRUPTIONS = {
    "labels_not_json": ("alerts", "UPDATE alerts SET labels = '{not json' WHERE target = 'bad'", "labels"),
    "labels_a_list": ("alerts", "UPDATE alerts SET labels = '[1, 2]' WHERE target = 'bad'", "labels"),
    "labels_not_strings": ("alerts", "UPDATE alerts SET labels = '{\"a\": {\"b\": 1}}' WHERE target = 'bad'", "labels"),
    "level_unknown": ("alerts", "UPDATE alerts SET level = 'BOGUS' WHERE target = 'bad'", "level"),
    "state_unknown": ("alerts", "UPDATE alerts SET state = 'exploded' WHERE target = 'bad'", "state"),
    "runs_text": ("alerts", "UPDATE alerts SET runs = 'many' WHERE target = 'bad'", "runs"),
    "first_seen_text": ("alerts", "UPDATE alerts SET first_seen = 'yesterday' WHERE target = 'bad'", "first_seen"),
    # Before 1 Jan of year 1: datetime cannot show it (found by the property test below).
    "first_seen_year_0": ("alerts", "UPDATE alerts SET first_seen = -62135596801 WHERE target = 'bad'", "first_seen"),
    "fired_at_before_1970": ("alerts", "UPDATE alerts SET fired_at = -1 WHERE target = 'bad'", "fired_at"),
    "fired_at_blob": ("alerts", "UPDATE alerts SET fired_at = x'00ff' WHERE target = 'bad'", "fired_at"),
    "message_blob": ("alerts", "UPDATE alerts SET message = x'ff00' WHERE target = 'bad'", "message"),
    "notified_level_bad": ("alerts", "UPDATE alerts SET notified_level = 'LOUD' WHERE target = 'bad'", "notified_level"),
    "key_blob": ("alerts", "UPDATE alerts SET key = x'ff', target = x'ff' WHERE target = 'bad'", "key"),
    "silence_pattern_blob": ("silences", "INSERT INTO silences (pattern, until, reason, created_at)"
                             " VALUES (x'ff', 9e9, '', 0)", "pattern"),
    "silence_until_text": ("silences", "INSERT INTO silences (pattern, until, reason, created_at)"
                           " VALUES ('x*', 'forever', '', 0)", "until"),
    "meta_text": ("alert_meta", "UPDATE alert_meta SET last_run_started = 'later'", "last_run_started"),
}


def _store_with(tmp_path: Path, corruption: str) -> Path:
    """A store holding two firing alerts (``good`` and ``bad``), then one corrupted row."""
    db = tmp_path / "fleetctl.db"
    store = AlertStore(db)
    store.record_run([_ob("good"), _ob("bad")], AlertPolicy(after=1), run_started_at=T0, now=T0)
    with sqlite3.connect(db) as conn:
        conn.execute(CORRUPTIONS[corruption][1])
    return db


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_alerts_list_on_a_corrupted_row_is_one_line_and_nonzero(tmp_path: Path, corruption: str) -> None:
    db = _store_with(tmp_path, corruption)
    table, _, field = CORRUPTIONS[corruption]
    proc = run_cli("alerts", "list", "--db", str(db), timeout=30)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert str(db) in lines[0] and table in lines[0] and field in lines[0]
    assert "fleetctl alerts repair" in lines[0]
    assert "execution/good" in proc.stdout  # the other alerts still listed
    as_json = run_cli("alerts", "list", "--db", str(db), "-o", "json", timeout=30)
    assert as_json.returncode == 1 and "Traceback" not in as_json.stderr
    assert any(c["table"] == table for c in json.loads(as_json.stdout)["corrupt"])
    repaired = run_cli("alerts", "repair", "--db", str(db), timeout=30)
    assert repaired.returncode == 0, repaired.stderr
    again = run_cli("alerts", "list", "--db", str(db), timeout=30)
    assert again.returncode == 0 and again.stderr == "" and "execution/good" in again.stdout


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_health_reports_a_corrupted_row_as_one_unknown_and_the_rest_keeps_working(
        tmp_path: Path, corruption: str) -> None:
    db = _store_with(tmp_path, corruption)
    table, _, field = CORRUPTIONS[corruption]
    policy = AlertPolicy(after=1)
    report = _alert_run(db, policy, [_ob("good", "WARNING"), _ob("bad"), _ob("new")], started=T0 + 60)
    unknown = [c for c in report.checks if c.kind == "alerting"]
    assert len(unknown) == 1, [c.message for c in unknown]
    (check,) = unknown
    assert check.level is Level.UNKNOWN
    assert str(db) in check.message and table in check.message and field in check.message
    alerts = {a.key: a for a in AlertStore(db).list(now=T0 + 120)}
    assert alerts["execution/new"].state == "firing"  # a new problem still fires
    assert alerts["execution/good"].level == "WARNING"  # an intact alert is still updated


def test_a_corrupted_notice_does_not_stop_the_others(tmp_path: Path, hostile: Any) -> None:
    server = hostile(lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    policy = AlertPolicy(after=1, timeout_s=1.0, sinks=(Sink("webhook", Secret(inline=server.url()), "hook"),))
    db = tmp_path / "a.db"
    store = AlertStore(db)
    now = time.time()
    store.record_run([_ob("a"), _ob("b")], policy, run_started_at=now, now=now)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE notifications SET labels = 'oops' WHERE target = 'a'")
        conn.execute("UPDATE notifications SET started_at = 'then' WHERE target = 'b'")
    store.record_run([_ob("c")], policy, run_started_at=now + 1, now=now + 1)
    report = asyncio.run(deliver(store, policy, now=now + 2))
    assert report.sent == 1 and report.dropped == 2  # c; the two corrupted notices dropped
    assert len(report.corrupt) == 2 and all("notifications row" in c.line(db) for c in report.corrupt)
    assert all("fleetctl alerts repair" in c.line(db) for c in report.corrupt)
    later = asyncio.run(deliver(store, policy, now=now + 3))  # the resolved notices of a and b
    assert (later.sent, later.corrupt) == (2, []) and store.queued() == {}


def test_a_corrupted_outbox_row_does_not_block_its_key(tmp_path: Path, hostile: Any) -> None:
    server = hostile(lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    policy = AlertPolicy(after=1, timeout_s=1.0, sinks=(Sink("webhook", Secret(inline=server.url()), "hook"),))
    db = tmp_path / "a.db"
    store = AlertStore(db)
    now = time.time()
    store.record_run([_ob("a")], policy, run_started_at=now, now=now)
    store.claim(["hook"], now=now, lease_s=0)  # fanned out; released at once
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE outbox SET next_attempt_at = 'soon', lease_until = NULL")
    store.record_run([], policy, run_started_at=now + 1, now=now + 1)  # resolved: queued behind it
    report = asyncio.run(deliver(store, policy, now=now + 2))
    assert report.sent == 1 and len(report.corrupt) == 1
    assert "outbox row" in report.corrupt[0].line(db) and "next_attempt_at" in report.corrupt[0].line(db)


@pytest.mark.parametrize("where", ["parent_is_a_file", "dangling_symlink", "a_directory"])
def test_alerts_list_on_an_unreadable_store_exits_nonzero(tmp_path: Path, where: str) -> None:
    if where == "parent_is_a_file":
        (tmp_path / "file").write_text("x")
        db = tmp_path / "file" / "fleetctl.db"
    elif where == "dangling_symlink":
        db = tmp_path / "fleetctl.db"
        db.symlink_to(tmp_path / "gone" / "fleetctl.db")
    else:
        db = tmp_path / "fleetctl.db"
        db.mkdir()
    proc = run_cli("alerts", "list", "--db", str(db), timeout=30)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, (proc.returncode, proc.stderr)
    (line,) = proc.stderr.splitlines()
    assert str(db) in line
    missing = run_cli("alerts", "list", "--db", str(tmp_path / "never-made.db"), timeout=30)
    assert missing.returncode == 0 and "no alerts" in missing.stdout  # not created yet: nothing to say


_SQL_VALUES = st.one_of(
    st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=8),
    st.sampled_from(["OK", "WARNING", "CRITICAL", "firing", "pending", "resolved", "{}",
                     '{"a": "b"}', "[]", "1e999", "-1"]))
_ALERT_COLUMNS = ["key", "kind", "target", "state", "level", "message", "labels", "runs", "first_seen",
                  "last_run", "fired_at", "notified_at", "notified_level", "notifications", "held",
                  "acked_until", "resolved_at", "resolved_message"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("tpl") / "fleetctl.db"
    AlertStore(db).record_run([_ob("good"), _ob("bad")], AlertPolicy(after=1), run_started_at=T0, now=T0)
    return db


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(_ALERT_COLUMNS), value=_SQL_VALUES)
def test_any_value_in_any_alert_column_is_used_or_reported(tmp_path: Path, template: Path,
                                                           column: str, value: Any) -> None:
    db = tmp_path / f"h{abs(hash((column, repr(value))))}.db"
    shutil.copy(template, db)
    with sqlite3.connect(db) as conn:
        try:
            conn.execute(f"UPDATE alerts SET {column} = ? WHERE target = 'bad'", (value,))
        except sqlite3.IntegrityError:
            return  # NOT NULL or the unique index said no: not a state the store can be in
    store = AlertStore(db)
    corrupt: list[Any] = []
    listed = store.list(include_resolved=True, now=T0 + 30, corrupt=corrupt)
    assert "execution/good" in {a.key for a in listed}
    for a in listed:
        json.dumps(a.as_dict())  # every value listed is usable
    outcome = store.record_run([_ob("good"), _ob("bad"), _ob("new")], AlertPolicy(after=1),
                               run_started_at=T0 + 60, now=T0 + 60)
    assert outcome.applied and len(outcome.corrupt) == len(corrupt) <= 1
    assert "execution/new" in {a.key for a in outcome.firing}
    db.unlink()


# ---------------------------------------------------------------------------------------------
# 4. a store locked by a stuck writer
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def stuck_writer(tmp_path: Path) -> Iterator[Path]:
    """A store whose write lock another connection holds (``BEGIN IMMEDIATE``, never committed)."""
    db = tmp_path / "fleetctl.db"
    AlertStore(db).record_run([_ob("old")], AlertPolicy(after=1), run_started_at=T0, now=T0)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE alert_meta SET last_run_started = last_run_started")
    yield db
    writer.execute("ROLLBACK")
    writer.close()


def test_a_stuck_writer_costs_health_one_check_naming_the_lock_inside_its_bound(stuck_writer: Path) -> None:
    from fleetctl.spec.model import HealthPolicy

    policy = AlertPolicy(after=1, timeout_s=0.5)
    fleet = Fleet(root=Path("."), protocol="shannon", pocket=Pocket(), chains={}, suppliers=(), hosts={},
                  alerts=policy, health=HealthPolicy(timeout_s=1.0))

    def run() -> HealthReport:
        from fleetctl.health.notify import process_alerts

        report = HealthReport(checked_at="now", duration_s=0.0, checks=[])
        asyncio.run(process_alerts(fleet, report, SimpleNamespace(keep=()), db=stuck_writer,
                                   run_started=time.time()))
        return report

    started = time.monotonic()
    box = _in_thread(run, 3 * 1.0 + 1.0)
    assert "hung" not in box, "a stuck writer holds health past its 3 timeouts + 1 s"
    assert time.monotonic() - started < 3 * 1.0 + 1.0
    (check,) = [c for c in box["value"].checks if c.kind == "alerting"]
    assert check.level is Level.UNKNOWN and "locked by another process" in check.message
    assert str(stuck_writer) in check.message


def test_alerts_mute_on_a_locked_store_is_one_line_not_a_long_hang(stuck_writer: Path) -> None:
    started = time.monotonic()
    proc = run_cli("alerts", "mute", "x*", "--for", "1h", "--db", str(stuck_writer), timeout=60)
    assert time.monotonic() - started < 20
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "locked by another process" in line and str(stuck_writer) in line
    listed = run_cli("alerts", "list", "--db", str(stuck_writer), timeout=30)  # reads do not wait
    assert listed.returncode == 0 and "execution/old" in listed.stdout


# ---------------------------------------------------------------------------------------------
# 5. a credential inside a check's message never reaches the store, a sink or alerts list
# ---------------------------------------------------------------------------------------------

PASSWORD = "pa55w0rd-leak"
APIKEY = "0123456789abcdef0123456789abcdef"


def test_credentials_in_messages_are_not_stored_sent_or_listed(tmp_path: Path, hostile: Any) -> None:
    got: list[bytes] = []
    server = hostile(lambda req: got.append(req) or b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    policy = AlertPolicy(after=1, timeout_s=1.0, sinks=(Sink("webhook", Secret(inline=server.url()), "hook"),))
    db = tmp_path / "a.db"
    store = AlertStore(db)
    leaky = (f"rpc https://op:{PASSWORD}@rpc.example.invalid/v3/{APIKEY}?apikey={APIKEY} "
             "timed out\nsecond line")
    now = time.time()
    store.record_run([Observation("eth-1", "execution", "CRITICAL", leaky,
                                  {"endpoint": f"https://op:{PASSWORD}@rpc.example.invalid/"})],
                     policy, run_started_at=now, now=now)
    store.enqueue_event("h/lb/eth-1", "remediation", "WARNING", f"pulled: {leaky}", now=now)
    report = asyncio.run(deliver(store, policy, now=now))
    assert report.sent == 2 and server.requests
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    listed = run_cli("alerts", "list", "--db", str(db), "-o", "json", timeout=30)
    for text in (dump, b"".join(server.requests).decode(errors="replace"), listed.stdout):
        assert PASSWORD not in text and APIKEY not in text, text[:2000]
    assert "rpc.example.invalid" in listed.stdout  # the endpoint is still named
