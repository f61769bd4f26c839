"""Self-healing backends: ``fleetctl health --remediate``.

After a sweep, for every balancer (HAProxy) whose stats could be read:

* a backend whose endpoint is DIVERGED, lagging or syncing, or whose consensus client stops its
  head (down, optimistic, without it, lagging or diverged: state ``consensus``, see
  :mod:`fleetctl.health.consensus`), is taken out of rotation through
  HAProxy's runtime API (``set server <chain>-nodes/<server> state maint``), unless no other
  server of the pool would be left up, in rotation and healthy: the last healthy backend is
  never removed (a pool serving slightly stale data beats a pool serving nothing);
* a backend fleetctl took out is put back (``state ready``) once its endpoint has been healthy
  (answering, in sync, on the majority chain) for ``health.remediate_rise`` consecutive runs; a
  run where it is not healthy starts the count again;
* a backend fleetctl took out that is found back in rotation while still unhealthy (HAProxy was
  restarted, by ``apply`` say) is taken out again.

What fleetctl took out is recorded in the state store (table ``remediations``), so the decision
survives restarts and overlapping runs (each update is one ``BEGIN IMMEDIATE`` transaction).
Every action is logged (stderr and ``remediation.log`` beside the store, JSON lines) and
returned, and ``fleetctl health`` alerts on it (an event notification per action).

The runtime API is HAProxy's admin socket on the balancer's host
(``<fleet_config_root>/balancer/<name>/run/admin.sock``, the balancer role's layout), reached
over SSH (:mod:`fleetctl.provision.sshexec`) with the host's own Python, which Ansible already
needs on every host.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetctl.health.execution import Verdict
from fleetctl.health.services import BalancerRead, ServerState
from fleetctl.provision.sshexec import ssh_run
from fleetctl.spec.model import Fleet, Host

__all__ = ["BAD_STATES", "admin_socket", "bad_state", "healthy_in_rotation", "is_healthy", "log_action", "plan_actions",
           "remediate", "runtime_command", "send_runtime", "server_command"]

#: Endpoint states that take a backend out of rotation.
BAD_STATES = ("diverged", "lagging", "syncing", "consensus")
DEFAULT_CONFIG_ROOT = "/etc/fleetctl"
LOG_NAME = "remediation.log"

# Send one runtime API command to a unix socket and print the answer (argv: socket, command).
_SOCKET_CLIENT = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX);s.settimeout(5);s.connect(sys.argv[1])\n"
    "s.sendall(sys.argv[2].encode()+b'\\n');out=b''\n"
    "while True:\n"
    " d=s.recv(65536)\n"
    " if not d:break\n"
    " out+=d\n"
    "sys.stdout.write(out.decode(errors='replace'))\n"
)


def _render(text: str, host: Host) -> str:
    """A host variable that may hold Jinja (``{{ inventory_hostname }}``), rendered as Ansible
    would for the simple cases; ValueError if it cannot be."""
    if "{{" not in text and "{%" not in text:
        return text
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    context = {k: v for k, v in host.vars.items() if isinstance(v, (str, int, float, bool))}
    context.update(inventory_hostname=host.name, inventory_hostname_short=host.name.split(".")[0])
    try:
        rendered = env.from_string(text).render(**context)
    except jinja2.TemplateError as exc:
        raise ValueError(f"cannot resolve {text!r} for {host.name}: {exc}") from None
    if "{{" in rendered:  # a variable that is itself a template
        return _render(rendered, host)
    return rendered


def admin_socket(host: Host, balancer: str) -> str:
    """The balancer's runtime API socket on its host (the balancer role's layout)."""
    root = host.vars.get("fleet_config_root") or DEFAULT_CONFIG_ROOT
    return f"{_render(str(root), host).rstrip('/')}/balancer/{balancer}/run/admin.sock"


def runtime_command(host: Host, balancer: str, command: str) -> str:
    """The remote shell command that sends ``command`` to the balancer's runtime API."""
    python = host.vars.get("ansible_python_interpreter")
    if not isinstance(python, str) or "{{" in python or python in ("auto", "auto_silent", "auto_legacy"):
        python = "python3"
    return " ".join(shlex.quote(part) for part in (python, "-c", _SOCKET_CLIENT, admin_socket(host, balancer), command))


def server_command(chain: str, server: str, state: str) -> str:
    """The runtime API command that sets one server of the chain's pool to ``state`` (``maint``:
    out of rotation; ``ready``: back in)."""
    return f"set server {chain}-nodes/{server} state {state}"


def bad_state(verdicts: dict[str, Verdict], name: str) -> str | None:
    """The first of :data:`BAD_STATES` the endpoint ``name`` is in (None: none, or no verdict)."""
    v = verdicts.get(name)
    if v is None:
        return None
    found = [s for s in v.states if s in BAD_STATES]
    return found[0] if found else None


def is_healthy(verdicts: dict[str, Verdict], name: str) -> bool:
    """The endpoint ``name`` has a verdict, and it is healthy (answering, in sync, on the majority chain)."""
    v = verdicts.get(name)
    return v is not None and v.healthy


def healthy_in_rotation(read: BalancerRead, verdicts: dict[str, Verdict], *,
                        excluding: tuple[str, ...] = ()) -> list[str]:
    """The servers of the pool that are up, in rotation and healthy (``excluding`` left out): a
    server may leave the rotation only while this is not empty (never the last healthy one)."""
    return [s.name for s in read.servers if s.name not in excluding and s.up and not s.maint
            and bad_state(verdicts, s.name) is None and is_healthy(verdicts, s.name)]


def plan_actions(read: BalancerRead, verdicts: dict[str, Verdict], pulled: dict[str, dict[str, Any]],
                 rise: int) -> list[dict[str, Any]]:
    """What to do on one balancer (pure): ``pull``, ``restore``, ``keep`` (refused: last healthy),
    ``count`` (a pulled server healthy this run, not yet ``rise`` times), ``reset`` (a pulled
    server unhealthy again), ``forget`` (a recorded server no longer in the pool)."""
    servers: dict[str, ServerState] = {s.name: s for s in read.servers}

    def bad(name: str) -> str | None:
        return bad_state(verdicts, name)

    def healthy(name: str) -> bool:
        return is_healthy(verdicts, name)

    in_rotation_ok = healthy_in_rotation(read, verdicts)
    actions: list[dict[str, Any]] = []
    for name in sorted(pulled):
        if name not in servers:
            actions.append({"action": "forget", "server": name})
    for s in read.servers:
        state = bad(s.name)
        v = verdicts.get(s.name)
        if s.name in pulled:
            if healthy(s.name):
                runs = int(pulled[s.name].get("healthy_runs", 0)) + 1
                if runs >= rise:
                    actions.append({"action": "restore", "server": s.name, "healthy_runs": runs,
                                    "reason": f"healthy for {runs} run(s)"})
                else:
                    actions.append({"action": "count", "server": s.name, "healthy_runs": runs})
            else:
                actions.append({"action": "reset", "server": s.name, "healthy_runs": 0})
                if not s.maint and state is not None:  # back in rotation (HAProxy restarted)
                    if in_rotation_ok:
                        actions.append({"action": "pull", "server": s.name, "state": state, "again": True,
                                        "reason": v.message if v else state})
                    else:
                        actions.append({"action": "keep", "server": s.name, "state": state,
                                        "reason": "no healthy backend would be left in rotation"})
        elif state is not None and not s.maint:
            if not in_rotation_ok:
                actions.append({"action": "keep", "server": s.name, "state": state,
                                "reason": "no healthy backend would be left in rotation"})
            else:
                actions.append({"action": "pull", "server": s.name, "state": state,
                                "reason": v.message if v else state})
    return actions


async def remediate(fleet: Fleet, result: Any, *, db: Path, run_started: float, timeout: float,
                    record: bool = True, on_step: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """Apply :func:`plan_actions` on every balancer; the actions taken (and refused)."""
    from fleetctl.state import remediation

    done: list[dict[str, Any]] = []
    rows = remediation.pulled(db)  # creates/migrates the store
    pulled: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for host, balancer, server, reason, pulled_at, healthy_runs, last in rows:
        pulled.setdefault((host, balancer), {})[server] = {
            "reason": reason, "pulled_at": pulled_at, "healthy_runs": healthy_runs, "last_run_started": last}
    async def one_balancer(read: BalancerRead) -> list[dict[str, Any]]:
        host = fleet.hosts[read.host]
        mine = pulled.get((read.host, read.name), {})
        taken: list[dict[str, Any]] = []
        for act in plan_actions(read, result.verdicts, mine, fleet.health.remediate_rise):
            server = act["server"]
            where = f"{server} in {read.name} on {read.host}"
            entry = {"host": read.host, "balancer": read.name, "chain": read.chain, **act}
            if act["action"] in ("pull", "restore"):
                pull = act["action"] == "pull"
                command = server_command(read.chain, server, "maint" if pull else "ready")
                error = await _runtime(host, read.name, command, timeout)
                if error is not None:
                    entry["ok"] = False
                    entry["message"] = (f"could not {'take' if pull else 'put'} {where} "
                                        f"{'out of' if pull else 'back into'} rotation: {error}")
                else:
                    entry["ok"] = True
                    verb = "took out of rotation" if pull else "put back into rotation"
                    entry["message"] = f"{verb} {where}: {act.get('reason', '')}".rstrip(": ")
                    _record(db, read, act, run_started)
                taken.append(entry)
                _log(db, entry, on_step)
            elif act["action"] == "keep":
                entry["ok"] = True
                entry["message"] = f"kept {where} although {act['state']}: {act['reason']}"
                taken.append(entry)
                _log(db, entry, on_step)
            else:  # count, reset, forget: bookkeeping only
                _record(db, read, act, run_started)
        return taken

    usable = [read for read in result.balancers
              if read.error is None and not read.missing_backend and read.servers and read.host in fleet.hosts]
    for taken in await asyncio.gather(*(one_balancer(read) for read in usable)):
        done.extend(taken)
    return done


async def send_runtime(host: Host, balancer: str, command: str, timeout: float) -> str | None:
    """Send one runtime API command to the balancer on ``host`` (over SSH, as remediation does);
    None on success, else a one-line reason."""
    return await _runtime(host, balancer, command, timeout)


async def _runtime(host: Host, balancer: str, command: str, timeout: float) -> str | None:
    """Send one runtime API command; None on success, else a one-line reason."""
    try:
        remote = runtime_command(host, balancer, command)
    except ValueError as exc:
        return str(exc)
    res = await ssh_run(host, remote, timeout=max(timeout, 5.0))
    if res.error is not None:
        return res.error
    answer = " ".join(res.stdout.decode(errors="replace").split())
    if res.returncode != 0:
        err = " ".join(res.stderr.decode(errors="replace").split())
        return f"runtime API unreachable ({err[-160:] or f'exit {res.returncode}'})"
    if answer:  # HAProxy answers nothing on success, an explanation otherwise
        return f"HAProxy: {answer[:160]}"
    return None


def _record(db: Path, read: BalancerRead, act: dict[str, Any], run_started: float) -> None:
    from fleetctl.state import remediation

    now = datetime.now(UTC).isoformat(timespec="seconds")
    key = (read.host, read.name, act["server"])
    remediation.record(db, act["action"], key, reason=str(act.get("reason", act.get("state", ""))),
                       pulled_at=now, run_started=run_started)


def _log(db: Path, entry: dict[str, Any], on_step: Callable[[str], None]) -> None:
    """Every action (and refusal) to stderr through ``on_step`` and to remediation.log."""
    on_step(f"remediation: {entry['message']}")
    log_action(db, entry)


def log_action(db: Path, entry: dict[str, Any]) -> None:
    """Append one action (a dict with its ``message``) to ``remediation.log`` beside the store,
    as a JSON line with the time; a log that cannot be written is skipped."""
    line = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    path = db.with_name(LOG_NAME)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
    except OSError:
        pass
