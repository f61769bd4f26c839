"""Run the playbooks through ansible-runner with the plan's variables; typed events per task.

The operator's own hosts.yml (with its group_vars/host_vars) is the first inventory source; a
generated one with the plan's per-host variables is the second, so Ansible merges them exactly as
it would by hand.  By default mitogen runs the modules (one persistent interpreter per host,
~3x faster than plain ansible-playbook on the lab) and pipelining is the fallback; both keep the
playbooks exactly as they are.  Each run gets its own SSH ControlPath folder: masters that
outlive a run (or a torn-down host) are never reused by the next.

Progress: ansible-runner's events become :mod:`fleetctl.core.events` (:func:`runner_events`): a
:class:`StepStarted` per play and task, a :class:`HostTask` per host's task result, a
:class:`Progress` each time one more host has a result; the results themselves are counted here
(:class:`ApplyResult`), whoever renders the events.

Cancellation: a :class:`CancelToken` stops the run between tasks. Once it is cancelled, a stop
file is written that a small callback plugin (written beside the run) reads when the next task
starts: Ansible stops there, before that task reaches any host, and the result says
``cancelled``, which task was next and which hosts had not finished. The playbooks are
idempotent (a container's spec label carries everything that shapes it), so the next apply
converges. A second interruption (``KeyboardInterrupt`` while the run waits) stops it at once
through ansible-runner's ``cancel_callback`` (the process group is killed, as ^C always did).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError
from fleetctl.core.events import CancelToken, Event, EventSink, HostTask, Progress, StepStarted, emit
from fleetctl.core.resources import data_dir

STRATEGIES = ("auto", "mitogen", "pipelining", "default")
JOB = "apply"


@record
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: bool = False
    skipped: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"

    @property
    def started(self) -> bool:
        """Has a result (what the progress bar counts as done)."""
        return bool(self.ok or self.failed or self.unreachable)


@record
class ApplyResult:
    hosts: dict[str, HostResult]
    rc: int
    seconds: float
    check: bool
    #: the run was stopped by its CancelToken before the playbook ended
    cancelled: bool = False
    #: tasks every targeted host got through, in order (a task name once)
    tasks_done: list[str] = field(default_factory=list)
    #: the task the run stopped before (cancelled), "" otherwise
    stopped_before: str = ""
    #: hosts the playbook had not finished on (cancelled: every targeted host not failed)
    hosts_left: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(n for n, h in self.hosts.items() if h.status in ("failed", "unreachable"))

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": not self.failed_hosts,
            "changes": self.changes,
            "check": self.check,
            "seconds": round(self.seconds, 2),
            "failed_hosts": self.failed_hosts,
            "hosts": {n: {"status": h.status, "ok": h.ok, "changed": h.changed, "failed": h.failed,
                          "skipped": h.skipped, "messages": h.messages[:5]} for n, h in sorted(self.hosts.items())},
        }
        if self.cancelled:  # only then: a finished run's document is as it always was
            doc["cancelled"] = {"stopped_before": self.stopped_before, "tasks_done": self.tasks_done,
                                "hosts_left": self.hosts_left}
        return doc


# ----------------------------------------------------------------------------- events


def runner_events(ev: dict[str, Any]) -> list[Event]:
    """One ansible-runner event as the typed events it means (often none)."""
    kind = ev.get("event", "")
    data = ev.get("event_data") or {}
    if not isinstance(kind, str) or not isinstance(data, dict):
        return []
    if kind == "playbook_on_play_start":
        return [StepStarted(JOB, "play", str(data.get("play") or ""))]
    if kind == "playbook_on_task_start":
        return [StepStarted(JOB, "task", str(data.get("task") or ""))]
    host = data.get("host")
    if not host or not kind.startswith("runner_on_"):
        return []
    host = str(host)
    task = str(data.get("task") or "")
    res = data.get("res") or {}
    if not isinstance(res, dict):
        res = {}
    if kind in ("runner_on_ok", "runner_on_async_ok"):
        return [HostTask(host, task, "changed" if res.get("changed") else "ok")]
    if kind == "runner_on_failed":
        msg = str(res.get("msg") or res.get("stderr") or "failed")[:300]
        return [HostTask(host, task, "ignored" if data.get("ignore_errors") else "failed", msg)]
    if kind == "runner_on_unreachable":
        return [HostTask(host, task, "unreachable", str(res.get("msg") or "unreachable")[:300])]
    if kind == "runner_on_skipped":
        return [HostTask(host, task, "skipped")]
    return [HostTask(host, task, "started")]


def tally(hosts: dict[str, HostResult], ev: HostTask) -> HostResult:
    """Count one host task result into ``hosts`` (the host added when new)."""
    r = hosts.get(ev.host)
    if r is None:
        r = hosts[ev.host] = HostResult()
    if ev.status in ("ok", "changed"):
        r.ok += 1
        if ev.status == "changed":
            r.changed += 1
    elif ev.status == "failed":
        r.failed += 1
        r.messages.append(f"{ev.task}: {ev.message}")
    elif ev.status == "unreachable":
        r.unreachable = True
        r.messages.append(ev.message)
    elif ev.status == "skipped":
        r.skipped += 1
    return r


class _Collector:
    """Counts the results of one run from the runner's events and passes the typed events on."""

    def __init__(self, hosts: list[str], on_event: EventSink | None,
                 on_runner_event: Callable[[dict[str, Any]], Any] | None = None):
        self.hosts = {h: HostResult() for h in hosts}
        self.on_event = on_event
        self.on_runner_event = on_runner_event
        self.lock = threading.Lock()
        self.task = ""
        self.task_hosts: set[str] = set()  # hosts with a result for the current task
        self.tasks_done: list[str] = []
        self.finished = False  # the playbook ended (its stats came)
        self._done = 0

    def event(self, ev: dict[str, Any]) -> bool:
        if self.on_runner_event is not None:
            self.on_runner_event(ev)
        kind = ev.get("event")
        with self.lock:
            if kind == "playbook_on_stats":
                self.finished = True
            for e in runner_events(ev):
                if isinstance(e, StepStarted) and e.step == "task":
                    self._close_task()
                    self.task = e.detail
                elif isinstance(e, HostTask):
                    tally(self.hosts, e)
                    if e.status != "started":
                        self.task_hosts.add(e.host)
                emit(self.on_event, e)
                done = sum(1 for r in self.hosts.values() if r.started)
                if done != self._done:
                    self._done = done
                    emit(self.on_event, Progress(JOB, done, len(self.hosts), "hosts"))
            if kind == "playbook_on_stats":
                self._close_task()
        return False  # counted here; not written to the runner's artifact folder (nobody reads it)

    def _close_task(self) -> None:
        if self.task and self.task_hosts and self.task not in self.tasks_done:
            self.tasks_done.append(self.task)
        self.task, self.task_hosts = "", set()


#: Written beside each run and loaded by Ansible (ANSIBLE_CALLBACK_PLUGINS): when the stop file
#: exists as a task starts, the run ends there, before the task is sent to any host. A
#: KeyboardInterrupt is the one exception Ansible's callback dispatch lets through; its CLI then
#: ends with "User interrupted execution" (exit 99).
_GATE_PLUGIN = '''\
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleetctl_gate"
    CALLBACK_NEEDS_ENABLED = False

    def _gate(self):
        path = os.environ.get("FLEETCTL_STOP_FILE")
        if path and os.path.exists(path):
            raise KeyboardInterrupt("fleetctl: cancelled")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._gate()

    def v2_playbook_on_handler_task_start(self, task):
        self._gate()
'''


class _Gate:
    """ansible-runner's ``cancel_callback``: on the token's cancel, write the stop file (the run
    ends before its next task); True (kill now) only once ``force`` is set."""

    def __init__(self, cancel: CancelToken | None, stop_file: Path):
        self.cancel = cancel
        self.stop_file = stop_file
        self.force = False
        self.requested = False

    def __call__(self) -> bool:
        if self.cancel is not None and self.cancel.cancelled and not self.requested:
            self.requested = True
            self.stop_file.touch()
        return self.force


def run_playbooks(fleet, host_vars: dict[str, dict[str, Any]], *, check: bool = False, diff: bool = False,
                  limit: list[str] | None = None, forks: int | None = None, strategy: str = "auto",
                  on_event: EventSink | None = None, cancel: CancelToken | None = None,
                  on_runner_event: Callable[[dict[str, Any]], Any] | None = None,
                  progress: Any = None, playbook: str = "site.yml") -> ApplyResult:
    """ansible-playbook site.yml over the fleet with the plan's variables.

    ``on_event`` gets the typed events; ``cancel`` stops the run before its next task (the
    result says ``cancelled``); ``on_runner_event`` gets ansible-runner's own event dicts (for a
    caller that reads a loop's item results). ``progress``: an older caller's object with
    ``event(runner_event)`` and ``finish()`` (both called as before)."""
    playbooks = data_dir("playbooks")
    if not (playbooks / playbook).exists():
        raise FleetError(f"playbook {playbooks / playbook} is missing (a broken install?)")
    if progress is not None and on_runner_event is None:
        on_runner_event = progress.event
    try:
        return run_playbook_file(playbooks / playbook, [_hosts_file(fleet.root)], host_vars, check=check, diff=diff,
                                 limit=limit, forks=forks, strategy=strategy, on_event=on_event, cancel=cancel,
                                 on_runner_event=on_runner_event, hosts=limit or sorted(fleet.hosts))
    finally:
        if progress is not None:
            progress.finish()


def run_playbook_file(playbook: Path, inventories: list[Path], host_vars: dict[str, dict[str, Any]], *,
                      check: bool = False, diff: bool = False, limit: list[str] | None = None,
                      forks: int | None = None, strategy: str = "auto", on_event: EventSink | None = None,
                      cancel: CancelToken | None = None,
                      on_runner_event: Callable[[dict[str, Any]], Any] | None = None,
                      hosts: list[str] | None = None) -> ApplyResult:
    """One playbook through ansible-runner: ``inventories`` first, then the variables' own;
    ``hosts``: the hosts the result lists from the start (default ``limit``, else the variables')."""
    import ansible_runner

    work = Path(tempfile.mkdtemp(prefix="fleetctl-apply-"))
    os.chmod(work, 0o700)
    try:
        gen = write_vars_inventory(work / "fleetctl-vars.yml", host_vars)
        (work / "callback_plugins").mkdir()
        (work / "callback_plugins" / "fleetctl_gate.py").write_text(_GATE_PLUGIN)
        gate = _Gate(cancel, work / "stop")
        env = {
            # ansible-playbook from the same environment as fleetctl, even when it is not on PATH
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "True",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_CALLBACK_PLUGINS": str(work / "callback_plugins"),
            "FLEETCTL_STOP_FILE": str(gate.stop_file),
        }
        env.update(_strategy_env(strategy))
        cmd = []
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        targets = hosts or limit or sorted(host_vars)
        collector = _Collector(targets, on_event, on_runner_event)
        t0 = time.monotonic()
        kwargs = dict(
            private_data_dir=str(work),
            playbook=str(playbook),
            project_dir=str(playbook.parent),
            inventory=[str(p) for p in inventories] + [str(gen)],
            envvars=env,
            cmdline=" ".join(cmd) or None,
            limit=",".join(limit) if limit else None,
            forks=forks,
            quiet=True,
            event_handler=collector.event,
            cancel_callback=gate,
            # how often the runner asks cancel_callback (ansible-runner's default is 5 s)
            settings={"pexpect_timeout": 0.2},
            artifact_dir=str(work / "artifacts"),
            rotate_artifacts=1,
        )
        r = _run_interruptibly(ansible_runner.run, kwargs, gate)
        seconds = time.monotonic() - t0
        results = collector.hosts
        stats = r.stats or {}
        for host in set().union(*[set(v) for v in stats.values() if isinstance(v, dict)]) if stats else ():
            res = results.setdefault(host, HostResult())
            res.changed = max(res.changed, int((stats.get("changed") or {}).get(host, 0)))
            res.failed = max(res.failed, int((stats.get("failures") or {}).get(host, 0)))
            if (stats.get("dark") or {}).get(host):
                res.unreachable = True
        cancelled = gate.requested and not collector.finished
        if cancelled:
            return ApplyResult(results, r.rc, seconds, check, cancelled=True, tasks_done=list(collector.tasks_done),
                               stopped_before=collector.task,
                               hosts_left=sorted(h for h in targets if results.get(h, HostResult()).status
                                                 not in ("failed", "unreachable")))
        if r.rc != 0 and not any(h.failed or h.unreachable for h in results.values()):
            tail = (r.stdout.read()[-800:] if r.stdout else "").strip()
            raise FleetError(f"ansible-playbook exited {r.rc}: {tail or 'see -v'}")
        with collector.lock:
            collector._close_task()
        return ApplyResult(results, r.rc, seconds, check, tasks_done=list(collector.tasks_done))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_interruptibly(run: Callable[..., Any], kwargs: dict[str, Any], gate: _Gate) -> Any:
    """``run(**kwargs)`` in a worker thread; a KeyboardInterrupt while it runs kills the run at
    once (``gate.force``), waits for the runner to reap it, and is raised again."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["r"] = run(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            box["exc"] = exc

    thread = threading.Thread(target=work, name="fleetctl-ansible-runner", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        gate.force = True
        thread.join(30)
        raise
    if "exc" in box:
        raise box["exc"]
    return box["r"]


class _Unsafe(str):
    """A string Ansible must read as data: written with the ``!unsafe`` tag."""


class _VarsDumper(yaml.SafeDumper):
    pass


def _represent_unsafe(dumper: yaml.SafeDumper, value: _Unsafe) -> yaml.Node:
    text = str(value)
    # ansible-core 2.19 resolves a tagged scalar's type as if it were plain: `!unsafe 'null'`
    # reads as None, `!unsafe '0021'` as 17. A string that would (null, booleans, numbers,
    # dates, '') holds no template: it is written as a plain quoted string instead.
    if dumper.resolve(yaml.ScalarNode, text, (True, False)) != "tag:yaml.org,2002:str":
        return dumper.represent_str(text)
    return dumper.represent_scalar("!unsafe", text)


_VarsDumper.add_representer(_Unsafe, _represent_unsafe)


def _key(key: Any) -> Any:
    # A name such as ``listen_address`` cannot hold a template: left plain, for the reader.
    return key if isinstance(key, str) and key.isascii() and key.isidentifier() else _data(key)


def _data(value: Any) -> Any:
    """``value`` with every string in it tagged ``!unsafe``, at any depth (mapping keys too,
    unless they are plain names)."""
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, dict):
        return {_key(k): _data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_data(v) for v in value]
    return value


def vars_inventory_text(host_vars: dict[str, dict[str, Any]]) -> str:
    """The plan's per-host variables as a YAML inventory in which every value is data.

    The values come from fleet.yml, from the chain and from what runs on the hosts: a
    ``{{ lookup('pipe', …) }}`` in any of them would run on the controller when Ansible reads
    the variable. So every string below a variable's name, at any depth, carries Ansible's
    ``!unsafe`` tag: Ansible hands it to the playbooks as it is and never templates it (a role
    that templates such a variable with ``{{ }}`` gets the literal string). The inventory's own
    skeleton (``all``, ``hosts``, host names, variable names) stays plain."""
    hosts = {h: {name: _data(value) for name, value in v.items()} for h, v in sorted(host_vars.items())}
    return yaml.dump({"all": {"hosts": hosts}}, Dumper=_VarsDumper, sort_keys=False)


def write_vars_inventory(path: str | os.PathLike[str], host_vars: dict[str, dict[str, Any]]) -> Path:
    """The plan's per-host variables as a YAML inventory (0600, written atomically); every
    string value tagged ``!unsafe`` (:func:`vars_inventory_text`)."""
    path = Path(path)
    text = vars_inventory_text(host_vars)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def _hosts_file(root: Path) -> Path:
    for name in ("hosts.yml", "hosts.yaml"):
        if (root / name).exists():
            return (root / name).resolve()
    raise FleetError(f"{root}: no hosts.yml")


def _strategy_env(strategy: str) -> dict[str, str]:
    """Environment for a connection strategy: "auto" is mitogen when installed, else pipelining;
    "default" leaves Ansible's own settings alone."""
    if strategy == "default":
        return {}
    env = {"ANSIBLE_PIPELINING": "True"}
    if strategy in ("auto", "mitogen"):
        try:
            import ansible_mitogen
        except ImportError:
            if strategy == "mitogen":
                raise FleetError("--strategy mitogen: mitogen is not installed (pip install mitogen)") from None
            return env
        env["ANSIBLE_STRATEGY_PLUGINS"] = str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")
        env["ANSIBLE_STRATEGY"] = "mitogen_linear"
    return env
