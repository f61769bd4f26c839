"""apply's live progress from ansible-runner events: a redrawn bar on a terminal, lines otherwise."""

from __future__ import annotations

import io

from fleetctl.progress import Progress


def events():
    yield {"event": "playbook_on_task_start", "event_data": {"task": "Run container eth-geth-1"}}
    yield {"event": "runner_on_ok", "event_data": {"host": "h1", "task": "Run container eth-geth-1", "res": {"changed": True}}}
    yield {"event": "runner_on_ok", "event_data": {"host": "h2", "task": "Run container eth-geth-1", "res": {"changed": False}}}
    yield {"event": "runner_on_failed", "event_data": {"host": "h2", "task": "Run container lb-eth", "res": {"msg": "engine gone"}}}
    yield {"event": "runner_on_unreachable", "event_data": {"host": "h3", "task": "Gathering", "res": {"msg": "ssh: connect to host h3 port 22: Connection refused"}}}
    yield {"event": "runner_on_failed", "event_data": {"host": "h1", "task": "optional", "ignore_errors": True, "res": {"msg": "ignored"}}}


def test_plain_lines_without_a_terminal():
    out = io.StringIO()
    p = Progress(["h1", "h2", "h3"], stream=out, tty=False)
    for ev in events():
        p.event(ev)
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines == [
        "h1: changed: Run container eth-geth-1",
        "h2: FAILED: Run container lb-eth: engine gone",
        "h3: UNREACHABLE: ssh: connect to host h3 port 22: Connection refused",
    ]
    assert "\r" not in out.getvalue()
    assert {h: r.status for h, r in p.hosts.items()} == {"h1": "changed", "h2": "failed", "h3": "unreachable"}


def test_bar_on_a_terminal():
    out = io.StringIO()
    p = Progress(["h1", "h2", "h3"], stream=out, tty=True)
    for ev in events():
        p.event(ev)
    p.finish()
    text = out.getvalue()
    assert "\r\033[K[" in text and "h1:1/1" in text and "| Run container" in text
    assert text.endswith("\r\033[K")  # the bar is wiped at the end


def test_quiet_prints_nothing_but_counts():
    out = io.StringIO()
    p = Progress(["h1"], stream=out, tty=True, quiet=True)
    for ev in events():
        p.event(ev)
    assert out.getvalue() == "" and p.hosts["h1"].changed == 1
