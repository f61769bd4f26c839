"""Run the playbooks through ansible-runner with the plan's variables; live progress per host.

The operator's own hosts.yml (with its group_vars/host_vars) is the first inventory source; a
generated one with the plan's per-host variables is the second, so Ansible merges them exactly as
it would by hand.  By default mitogen runs the modules (one persistent interpreter per host,
~3x faster than plain ansible-playbook on the lab) and pipelining is the fallback; both keep the
playbooks exactly as they are.  Each run gets its own SSH ControlPath folder: masters that
outlive a run (or a torn-down host) are never reused by the next.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from fleetctl.core.errors import FleetError
from fleetctl.core.resources import data_dir

STRATEGIES = ("auto", "mitogen", "pipelining", "default")


@dataclass
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


@dataclass
class ApplyResult:
    hosts: dict[str, HostResult]
    rc: int
    seconds: float
    check: bool

    @property
    def changes(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(n for n, h in self.hosts.items() if h.status in ("failed", "unreachable"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failed_hosts,
            "changes": self.changes,
            "check": self.check,
            "seconds": round(self.seconds, 2),
            "failed_hosts": self.failed_hosts,
            "hosts": {n: {"status": h.status, "ok": h.ok, "changed": h.changed, "failed": h.failed,
                          "skipped": h.skipped, "messages": h.messages[:5]} for n, h in sorted(self.hosts.items())},
        }


class Progress:
    """Turns runner events into per-host progress: a redrawn bar on a terminal, lines otherwise."""

    def __init__(self, hosts: list[str], stream: TextIO = sys.stderr, tty: bool | None = None, quiet: bool = False):
        self.hosts = {h: HostResult() for h in hosts}
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.quiet = quiet
        self.task = ""
        self.lock = threading.Lock()
        self._drawn = False

    def event(self, ev: dict[str, Any]) -> bool:
        kind = ev.get("event", "")
        data = ev.get("event_data") or {}
        host = data.get("host")
        with self.lock:
            if kind == "playbook_on_task_start":
                self.task = data.get("task", "")
            elif host and kind.startswith("runner_on_"):
                if host not in self.hosts:
                    self.hosts[host] = HostResult()
                r = self.hosts[host]
                res = data.get("res") or {}
                if kind in ("runner_on_ok", "runner_on_async_ok"):
                    r.ok += 1
                    if res.get("changed"):
                        r.changed += 1
                        self._line(f"{host}: changed: {data.get('task', '')}")
                elif kind == "runner_on_failed" and not data.get("ignore_errors"):
                    r.failed += 1
                    msg = str(res.get("msg") or res.get("stderr") or "failed")[:300]
                    r.messages.append(f"{data.get('task', '')}: {msg}")
                    self._line(f"{host}: FAILED: {data.get('task', '')}: {msg}")
                elif kind == "runner_on_unreachable":
                    r.unreachable = True
                    msg = str(res.get("msg") or "unreachable")[:300]
                    r.messages.append(msg)
                    self._line(f"{host}: UNREACHABLE: {msg}")
                elif kind == "runner_on_skipped":
                    r.skipped += 1
            self._draw()
        return False  # counted here; not written to the runner's artifact folder (nobody reads it)

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty and self._drawn:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = False

    def _draw(self) -> None:
        if self.quiet or not self.tty:
            return
        width = shutil.get_terminal_size((100, 20)).columns
        done = sum(1 for r in self.hosts.values() if r.ok or r.failed or r.unreachable)
        bar_len = 20
        filled = int(bar_len * done / max(1, len(self.hosts)))
        summary = " ".join(f"{h}:{r.ok}/{r.changed}{'!' if r.failed or r.unreachable else ''}" for h, r in sorted(self.hosts.items()))
        line = f"[{'#' * filled}{'.' * (bar_len - filled)}] {summary} | {self.task}"
        self.stream.write("\r\033[K" + line[: width - 1])
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self.tty and self._drawn and not self.quiet:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run_playbooks(fleet, host_vars: dict[str, dict[str, Any]], *, check: bool = False, diff: bool = False,
                  limit: list[str] | None = None, forks: int | None = None, strategy: str = "auto",
                  progress: Progress | None = None, playbook: str = "site.yml") -> ApplyResult:
    """ansible-playbook site.yml over the fleet with the plan's variables."""
    import ansible_runner

    hosts_file = _hosts_file(fleet.root)
    playbooks = data_dir("playbooks")
    if not (playbooks / playbook).exists():
        raise FleetError(f"playbook {playbooks / playbook} is missing (a broken install?)")
    work = Path(tempfile.mkdtemp(prefix="fleetctl-apply-"))
    os.chmod(work, 0o700)
    try:
        gen = write_vars_inventory(work / "fleetctl-vars.yml", host_vars)
        env = {
            # ansible-playbook from the same environment as fleetctl, even when it is not on PATH
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")]),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "True",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        }
        env.update(_strategy_env(strategy))
        cmd = []
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        progress = progress or Progress(sorted(host_vars), quiet=True)
        t0 = time.monotonic()
        r = ansible_runner.run(
            private_data_dir=str(work),
            playbook=str(playbooks / playbook),
            project_dir=str(playbooks),
            inventory=[str(hosts_file), str(gen)],
            envvars=env,
            cmdline=" ".join(cmd) or None,
            limit=",".join(limit) if limit else None,
            forks=forks,
            quiet=True,
            event_handler=progress.event,
            artifact_dir=str(work / "artifacts"),
            rotate_artifacts=1,
        )
        progress.finish()
        seconds = time.monotonic() - t0
        hosts = progress.hosts
        stats = r.stats or {}
        for host in set().union(*[set(v) for v in stats.values() if isinstance(v, dict)]) if stats else ():
            res = hosts.setdefault(host, HostResult())
            res.changed = max(res.changed, int((stats.get("changed") or {}).get(host, 0)))
            res.failed = max(res.failed, int((stats.get("failures") or {}).get(host, 0)))
            if (stats.get("dark") or {}).get(host):
                res.unreachable = True
        if r.rc != 0 and not any(h.failed or h.unreachable for h in hosts.values()):
            tail = (r.stdout.read()[-800:] if r.stdout else "").strip()
            raise FleetError(f"ansible-playbook exited {r.rc}: {tail or 'see -v'}")
        return ApplyResult(hosts, r.rc, seconds, check)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
            import ansible_mitogen  # type: ignore[import-not-found]
        except ImportError:
            if strategy == "mitogen":
                raise FleetError("--strategy mitogen: mitogen is not installed (pip install mitogen)") from None
            return env
        env["ANSIBLE_STRATEGY_PLUGINS"] = str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")
        env["ANSIBLE_STRATEGY"] = "mitogen_linear"
    return env
