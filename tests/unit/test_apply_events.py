"""apply's typed events: ansible-runner's event dicts as StepStarted/HostTask/Progress, the
results counted from them (whoever renders), and the CLI's renderer drawing the same lines from
the typed events as from the runner's dicts."""

from __future__ import annotations

import io

from fleetctl.core.events import HostTask, Progress as ProgressEvent, StepStarted
from fleetctl.progress import Progress
from fleetctl.provision.apply import _Collector, runner_events

# Recorded from ansible-runner 2.4 (event_data trimmed to the fields read).
RECORDED = [
    {"event": "playbook_on_start", "event_data": {"playbook": "site.yml"}},
    {"event": "playbook_on_play_start", "event_data": {"play": "Deploy the fleet's containers"}},
    {"event": "playbook_on_task_start", "event_data": {"task": "Run container eth-geth-1"}},
    {"event": "runner_on_start", "event_data": {"host": "h1", "task": "Run container eth-geth-1"}},
    {"event": "runner_on_ok", "event_data": {"host": "h1", "task": "Run container eth-geth-1", "res": {"changed": True}}},
    {"event": "runner_on_ok", "event_data": {"host": "h2", "task": "Run container eth-geth-1", "res": {"changed": False}}},
    {"event": "playbook_on_task_start", "event_data": {"task": "Run container lb-eth"}},
    {"event": "runner_on_failed", "event_data": {"host": "h2", "task": "Run container lb-eth", "res": {"msg": "engine gone"}}},
    {"event": "runner_on_skipped", "event_data": {"host": "h1", "task": "Run container lb-eth"}},
    {"event": "runner_on_unreachable", "event_data": {"host": "h3", "task": "Gathering",
                                                      "res": {"msg": "ssh: connect to host h3 port 22: Connection refused"}}},
    {"event": "runner_on_failed", "event_data": {"host": "h1", "task": "optional", "ignore_errors": True, "res": {"msg": "ignored"}}},
    {"event": "verbose", "stdout": "noise"},
    {"event": "playbook_on_stats", "event_data": {}},
]


def test_translation() -> None:
    got = [e for ev in RECORDED for e in runner_events(ev)]
    assert got == [
        StepStarted("apply", "play", "Deploy the fleet's containers"),
        StepStarted("apply", "task", "Run container eth-geth-1"),
        HostTask("h1", "Run container eth-geth-1", "started"),
        HostTask("h1", "Run container eth-geth-1", "changed"),
        HostTask("h2", "Run container eth-geth-1", "ok"),
        StepStarted("apply", "task", "Run container lb-eth"),
        HostTask("h2", "Run container lb-eth", "failed", "engine gone"),
        HostTask("h1", "Run container lb-eth", "skipped"),
        HostTask("h3", "Gathering", "unreachable", "ssh: connect to host h3 port 22: Connection refused"),
        HostTask("h1", "optional", "ignored", "ignored"),
    ]


def test_odd_events_translate_to_nothing_or_bounded_messages() -> None:
    assert runner_events({}) == [] and runner_events({"event": 7}) == []
    assert runner_events({"event": "runner_on_ok", "event_data": "x"}) == []
    assert runner_events({"event": "runner_on_ok", "event_data": {"task": "t"}}) == []  # no host
    long = runner_events({"event": "runner_on_failed", "event_data": {"host": "h", "res": {"stderr": "e" * 5000}}})
    assert long == [HostTask("h", "", "failed", "e" * 300)]
    assert runner_events({"event": "runner_on_ok", "event_data": {"host": "h", "res": ["not", "a", "dict"]}}) \
        == [HostTask("h", "", "ok")]


def test_collector_counts_and_passes_typed_events_on() -> None:
    seen: list = []
    raw: list = []
    c = _Collector(["h1", "h2", "h3"], seen.append, raw.append)
    for ev in RECORDED:
        assert c.event(ev) is False
    assert raw == RECORDED
    assert {h: r.status for h, r in c.hosts.items()} == {"h1": "changed", "h2": "failed", "h3": "unreachable"}
    assert (c.hosts["h1"].ok, c.hosts["h1"].changed, c.hosts["h1"].skipped) == (1, 1, 1)
    assert c.hosts["h2"].messages == ["Run container lb-eth: engine gone"]
    assert c.tasks_done == ["Run container eth-geth-1", "Run container lb-eth"] and c.finished
    progress = [e for e in seen if isinstance(e, ProgressEvent)]
    assert [(p.done, p.total) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert all(p.job == "apply" and p.unit == "hosts" for p in progress)


def _pieces(text: str) -> list[str]:
    """What was drawn, in order: the bar's redraws and the lines, an unchanged redraw once."""
    out: list[str] = []
    for piece in text.split("\r\033[K"):
        if piece and (not out or piece != out[-1]):
            out.append(piece)
    return out


def test_renderer_draws_the_same_from_typed_events_as_from_runner_dicts() -> None:
    for tty in (False, True):
        a, b = io.StringIO(), io.StringIO()
        from_raw = Progress(["h1", "h2", "h3"], stream=a, tty=tty)
        typed = Progress(["h1", "h2", "h3"], stream=b, tty=tty)
        c = _Collector(["h1", "h2", "h3"], typed)
        for ev in RECORDED:
            from_raw.event(ev)
            c.event(ev)
        from_raw.finish()
        typed.finish()
        lines = [ln for p in _pieces(b.getvalue()) for ln in p.splitlines(keepends=True) if ln.endswith("\n")]
        assert lines == [
            "h1: changed: Run container eth-geth-1\n",
            "h2: FAILED: Run container lb-eth: engine gone\n",
            "h3: UNREACHABLE: ssh: connect to host h3 port 22: Connection refused\n",
        ]
        if tty:
            assert "[" + "#" * 20 + "] h1:1/1 h2:1/0! h3:0/0! | Run container lb-eth" in b.getvalue()
            assert b.getvalue().endswith("\r\033[K")
        else:
            assert "\r" not in b.getvalue()
        assert {h: r.status for h, r in typed.hosts.items()} == {h: r.status for h, r in from_raw.hosts.items()}
        # the same text but for redraws of an unchanged bar (on events that change nothing)
        assert _pieces(a.getvalue()) == _pieces(b.getvalue())
