"""A real ansible-runner run of a small local playbook, cancelled by its CancelToken from another
thread while the first task runs: the run stops before the next task (that task never reaches
the host), the result says cancelled, which tasks were done and which hosts were left, and a
run without a cancel then goes through every task."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fleetctl.core.events import CancelToken, HostTask, StepStarted
from fleetctl.provision.apply import run_playbook_file

PLAYBOOK = """\
- name: three slow steps
  hosts: all
  gather_facts: false
  tasks:
    - name: first
      ansible.builtin.command: sleep 1.5
    - name: second
      ansible.builtin.shell: sleep 0.2 && touch {marks}/second
    - name: third
      ansible.builtin.shell: touch {marks}/third
"""


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    marks = tmp_path / "marks"
    marks.mkdir()
    playbook = tmp_path / "pb.yml"
    playbook.write_text(PLAYBOOK.format(marks=marks))
    hosts = tmp_path / "hosts.yml"
    hosts.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                     "      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n")
    return playbook, hosts, marks


def test_a_cancelled_run_stops_before_the_next_task_and_the_next_run_converges(tmp_path: Path) -> None:
    playbook, hosts, marks = _setup(tmp_path)
    token = CancelToken()
    events: list = []
    first_started = threading.Event()

    def on_event(ev) -> None:
        events.append(ev)
        if isinstance(ev, HostTask) and ev.task == "first" and ev.status == "started":
            first_started.set()

    def canceller() -> None:
        if first_started.wait(60):
            token.cancel("test")

    t = threading.Thread(target=canceller, daemon=True)
    t.start()
    t0 = time.monotonic()
    result = run_playbook_file(playbook, [hosts], {"localhost": {}}, strategy="default", on_event=on_event,
                               cancel=token)
    took = time.monotonic() - t0
    t.join(1)
    assert token.cancelled
    assert result.cancelled, result
    assert result.tasks_done == ["first"]
    assert result.stopped_before == "second"
    assert result.hosts_left == ["localhost"]
    assert not (marks / "second").exists() and not (marks / "third").exists()
    assert not any(isinstance(e, HostTask) and e.task in ("second", "third") for e in events)
    assert StepStarted("apply", "task", "first") in events
    assert result.hosts["localhost"].ok == 1 and result.hosts["localhost"].changed == 1
    doc = result.as_dict()
    assert doc["cancelled"] == {"stopped_before": "second", "tasks_done": ["first"], "hosts_left": ["localhost"]}
    assert took < 45, took  # bounded: not the whole playbook's time plus runner timeouts

    # the next run, not cancelled, goes through every task
    again = run_playbook_file(playbook, [hosts], {"localhost": {}}, strategy="default")
    assert not again.cancelled and again.tasks_done == ["first", "second", "third"]
    assert (marks / "second").exists() and (marks / "third").exists()
    assert "cancelled" not in again.as_dict() and again.rc == 0


def test_a_token_cancelled_after_the_last_task_started_is_a_finished_run(tmp_path: Path) -> None:
    playbook, hosts, marks = _setup(tmp_path)
    token = CancelToken()

    def on_event(ev) -> None:
        if isinstance(ev, HostTask) and ev.task == "third" and ev.status == "started":
            token.cancel()

    result = run_playbook_file(playbook, [hosts], {"localhost": {}}, strategy="default", on_event=on_event,
                               cancel=token)
    assert not result.cancelled and result.tasks_done == ["first", "second", "third"]
    assert (marks / "third").exists()
