"""``fleetctl rotation out|in BACKEND`` as a job: the operator's own hand on a balancer's rotation.

The same action ``fleetctl health --remediate`` takes (:mod:`fleetctl.health.remediate`), on one
backend the operator names:

* ``out``: the server is set to maintenance through HAProxy's runtime API over SSH
  (``set server <chain>-nodes/<server> state maint``) and recorded in the state store's
  ``remediations`` table, as the automatic remediation records what it pulls, so that
  ``fleetctl health --remediate`` puts it back once its endpoint has been healthy for
  ``health.remediate_rise`` runs. Refused (nothing changed) when no other server of the pool
  would be left up, in rotation and healthy: the rule remediation follows
  (:func:`~fleetctl.health.remediate.healthy_in_rotation`), never the last healthy one. A server
  already in maintenance is only recorded (if it is not yet).
* ``in``: the server is set back to ``ready`` and its record is forgotten.

BACKEND is a server's name as HAProxy and the health report name it (the node container's or
adopted endpoint's name, ``eth-geth-1``), or ``host/balancer/server`` when that name is in the pool
of more than one balancer. An unknown or ambiguous name is :class:`UnknownBackend` (a usage
error, exit 2) with the candidates.

:func:`prepare` reads without writing anything: the health sweep of the chains' endpoints,
consensus clients, hosts and balancers (the one ``fleetctl health`` runs, without the Pocket
side: suppliers, Pocket nodes), whose balancers' stats and endpoints' verdicts are what
remediation decides on, and the store's records (read only). It says what would change, or why
it is refused. :func:`execute` reads the balancer's stats again (the pool may have changed since),
applies the same rule with the plan's verdicts, sends the one runtime API command, records it,
logs it to ``remediation.log`` (``"by": "operator"``) and reads the server's status back.
:func:`cli_command` is the command line that does the same (what a confirmation shows).
"""

from __future__ import annotations

import difflib
import shlex
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError, UserError
from fleetctl.core.events import (
    Cancelled,
    CancelToken,
    CheckDone,
    Event,
    EventSink,
    HostTask,
    StepFinished,
    StepStarted,
    Warn,
    emit,
)
from fleetctl.spec.model import Fleet

__all__ = [
    "ACTIONS", "JOB", "PoolServer", "RotationPlan", "RotationResult", "UnknownBackend", "cli_command", "execute",
    "plan_rotation", "prepare",
]

JOB = "rotation"
ACTIONS = ("out", "in")
Action = Literal["out", "in"]
#: Why a server is in the remediation store when the operator took it out.
OPERATOR_REASON = "taken out by the operator (fleetctl rotation out)"


class UnknownBackend(UserError):
    """BACKEND names no server of any balancer read, or more than one (``ambiguous``): exit 2.
    ``candidates``: the names that would do (``host/balancer/server`` when ambiguous)."""

    def __init__(self, message: str, candidates: tuple[str, ...] = (), *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.candidates = candidates
        self.ambiguous = ambiguous


@record(frozen=True)
class PoolServer:
    """One server of the balancer's pool as the plan saw it."""

    name: str
    status: str  # HAProxy's: UP, DOWN, MAINT, DRAIN, "UP 1/2", ...
    level: str | None  # its endpoint's health level (OK, WARNING, CRITICAL, UNKNOWN); None: no verdict
    state: str | None  # its endpoint's state (ok, lagging, diverged, syncing, consensus, unreachable, ...)
    healthy: bool  # answering, in sync, on the majority chain, none of remediation's bad states
    recorded: bool  # in the remediation store (taken out by fleetctl)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "level": self.level, "state": self.state,
                "healthy": self.healthy, "recorded": self.recorded}


@record(frozen=True)
class RotationPlan:
    """What :func:`execute` would do to one backend, or why it will not (``refused``)."""

    action: Action
    backend: str  # as the operator named it
    host: str
    balancer: str  # lb-eth
    chain: str
    server: str
    status: str  # the server's HAProxy status when read
    stats_url: str
    #: the runtime API command to send (None: HAProxy is already so)
    runtime_command: str | None
    #: what the remediation store gets: "pull" (recorded), "restore" (its record forgotten), None
    record: Literal["pull", "restore"] | None
    recorded: bool  # the store holds a record of it now
    refused: str | None  # why nothing will be done (None: not refused)
    #: the other servers of the pool up, in rotation and healthy (as they are now)
    others_in_rotation: tuple[str, ...]
    endpoint_level: str | None
    endpoint_state: str | None
    endpoint_message: str | None
    pool: tuple[PoolServer, ...]
    warnings: tuple[str, ...]
    summary: str  # one line: what would happen, or why not
    db: Path
    rise: int  # health.remediate_rise
    timeout: float
    #: the server's bare name is in more than one balancer's pool (the command line qualifies it)
    ambiguous_name: bool = False
    db_given: bool = False  # --db was given (the command line repeats it)
    timeout_given: bool = False

    @property
    def target(self) -> str:
        """``host/balancer/server``."""
        return f"{self.host}/{self.balancer}/{self.server}"

    @property
    def changes(self) -> bool:
        """Something would change (HAProxy's state or the store)."""
        return self.refused is None and (self.runtime_command is not None or self.record is not None)

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "backend": self.backend, "target": self.target, "host": self.host,
                "balancer": self.balancer, "chain": self.chain, "server": self.server, "status": self.status,
                "runtime_command": self.runtime_command, "record": self.record, "recorded": self.recorded,
                "refused": self.refused, "changes": self.changes, "others_in_rotation": list(self.others_in_rotation),
                "endpoint": self._endpoint(), "pool": [p.as_json() for p in self.pool],
                "warnings": list(self.warnings), "summary": self.summary, "db": str(self.db), "rise": self.rise,
                "command": cli_command(self)}

    def _endpoint(self) -> dict[str, Any] | None:
        if self.endpoint_level is None:
            return None
        return {"level": self.endpoint_level, "state": self.endpoint_state, "message": self.endpoint_message}


@record(frozen=True)
class RotationResult:
    """What :func:`execute` did."""

    plan: RotationPlan
    ok: bool  # done as planned (or nothing was needed); False: refused or failed
    changed: bool  # HAProxy's state was changed
    recorded: bool  # the store holds a record of it after the job
    before: str  # the server's HAProxy status just before acting
    after: str | None  # read back after acting (None: could not be read)
    refused: str | None  # refused (nothing changed): why
    message: str  # one line

    #: the keys of :meth:`as_json`, stable (``fleetctl rotation -o json``)
    JSON_KEYS = ("action", "backend", "target", "host", "balancer", "chain", "server", "ok", "changed", "recorded",
                 "refused", "before", "after", "message", "warnings", "others_in_rotation", "endpoint", "command",
                 "db")

    def as_json(self) -> dict[str, Any]:
        p = self.plan
        return {"action": p.action, "backend": p.backend, "target": p.target, "host": p.host,
                "balancer": p.balancer, "chain": p.chain, "server": p.server, "ok": self.ok, "changed": self.changed,
                "recorded": self.recorded, "refused": self.refused, "before": self.before, "after": self.after,
                "message": self.message, "warnings": list(p.warnings),
                "others_in_rotation": list(p.others_in_rotation), "endpoint": p._endpoint(),
                "command": cli_command(p), "db": str(p.db)}


# ----------------------------------------------------------------------------- the command line


def cli_command(plan: RotationPlan, *, inventory: str | None = None) -> str:
    """The command line that does what ``plan`` does (``fleetctl rotation out eth-geth-1 --yes``),
    shell-quoted; ``inventory``: add ``-i PATH`` (the TUI's own, when it was given one)."""
    parts = ["fleetctl"]
    if inventory:
        parts += ["-i", inventory]
    parts += ["rotation", plan.action, plan.target if plan.ambiguous_name else plan.server]
    if plan.db_given:
        parts += ["--db", str(plan.db)]
    if plan.timeout_given:
        parts += ["--timeout", f"{plan.timeout:g}"]
    parts.append("--yes")
    return shlex.join(parts)


# ----------------------------------------------------------------------------- prepare


def prepare(fleet: Fleet, backend: str, action: str, *, db: str | Path | None = None, timeout: float | None = None,
            on_event: EventSink | None = None, cancel: CancelToken | None = None) -> RotationPlan:
    """What ``rotation ACTION BACKEND`` would do, read now; writes nothing. ``timeout``: per check
    (default ``health.timeout``; the read ends within 3x that + 1 s). :class:`UnknownBackend`
    (exit 2) for a name no balancer read has, or that more than one has; :class:`FleetError`
    (exit 1) when the name is not found but some balancer or host could not be read;
    :class:`Cancelled` when ``cancel`` is set while reading. ``on_event``: the sweep's
    :class:`~fleetctl.core.events.Progress`."""
    from fleetctl.core.aio import run_sync
    from fleetctl.state.db import resolve_db_path
    from fleetctl.state.remediation import pulled_servers

    if action not in ACTIONS:
        raise UserError(f"rotation: the action is out or in, not {action!r}")
    backend = backend.strip()
    if not backend:
        raise UserError("rotation: name a backend (eth-geth-1, or host/balancer/server)")
    path = resolve_db_path(db, fleet)
    per_check = timeout or fleet.health.timeout_s
    result = run_sync(_sweep(fleet, path, per_check, on_event, cancel))
    pulled = {tuple(row) for row in pulled_servers(path)}
    messages = {c.target: c.message for c in result.checks if c.kind == "execution"}
    unreachable = tuple(sorted(h for h in fleet.hosts if h not in result.facts))
    return plan_rotation(result.balancers, result.verdicts, pulled, backend, cast(Action, action),
                         rise=fleet.health.remediate_rise, db=path, timeout=per_check, messages=messages,
                         unreachable_hosts=unreachable, db_given=bool(db), timeout_given=bool(timeout))


async def _sweep(fleet: Fleet, db: Path, timeout: float, on_event: EventSink | None,
                 cancel: CancelToken | None) -> Any:
    """The health sweep without the Pocket side (no supplier, no Pocket node: their reads would
    only cost time), recording nothing: the balancers' stats and the endpoints' verdicts."""
    from fleetctl.health.sweep import sweep
    from fleetctl.spec.model import Pocket

    def forward(event: Event) -> None:
        if on_event is not None and not isinstance(event, CheckDone):
            on_event(event)

    light = replace(fleet, suppliers=(), pocket=Pocket())
    return await sweep(light, timeout=timeout, concurrency=fleet.health.concurrency, db=db, record_stakes=False,
                       on_event=forward if on_event is not None else None, cancel=cancel)


def plan_rotation(balancers: list[Any], verdicts: dict[str, Any], pulled: set[tuple[str, ...]], backend: str,
                  action: Action, *, rise: int, db: Path, timeout: float, messages: dict[str, str] | None = None,
                  unreachable_hosts: tuple[str, ...] = (), db_given: bool = False,
                  timeout_given: bool = False) -> RotationPlan:
    """The plan (pure): ``balancers`` (:class:`~fleetctl.health.services.BalancerRead`, their
    stats read), ``verdicts`` (the endpoints', by name), ``pulled`` (the store's (host, balancer,
    server) records), ``messages`` (each endpoint's health message, redacted)."""
    from fleetctl.health.remediate import bad_state, healthy_in_rotation, is_healthy, server_command

    messages = messages or {}
    read, server = _resolve(balancers, backend, unreachable_hosts)
    ambiguous = sum(1 for b in _readable(balancers) for s in b.servers if s.name == server.name) > 1
    where = f"{read.name} on {read.host}"
    recorded = (read.host, read.name, server.name) in pulled
    others = tuple(healthy_in_rotation(read, verdicts, excluding=(server.name,)))

    def healthy(name: str) -> bool:
        return is_healthy(verdicts, name) and bad_state(verdicts, name) is None

    pool = tuple(PoolServer(s.name, s.status, _level(verdicts.get(s.name)), _state(verdicts.get(s.name)),
                            healthy(s.name), (read.host, read.name, s.name) in pulled) for s in read.servers)
    verdict = verdicts.get(server.name)
    warnings: list[str] = []
    runtime: str | None = None
    record: Literal["pull", "restore"] | None = None
    refused: str | None = None
    back = f"health --remediate puts it back once healthy for {rise} run{'s' if rise != 1 else ''}"
    if action == "out":
        if not server.maint:
            runtime = server_command(read.chain, server.name, "maint")
            record = "pull"
            if not others:
                refused = (f"no other server of {read.chain}-nodes in {where} would be left up, in rotation and "
                           "healthy (the last healthy backend is never taken out)")
        elif not recorded:
            record = "pull"
        if refused is not None:
            summary = f"rotation out {server.name}: refused, nothing changed: {refused}"
        elif runtime is not None:
            summary = f"take {server.name} out of rotation in {where} ({server.status} -> MAINT) and record it: {back}"
        elif record is not None:
            summary = (f"{server.name} is already out of rotation in {where} ({server.status}, not by fleetctl): "
                       f"record it: {back}")
        else:
            summary = f"{server.name} is already out of rotation in {where} and recorded: nothing to do"
        if refused is None and verdict is None:
            warnings.append(f"health has no verdict for {server.name}: health --remediate will not put it back; "
                            f"`fleetctl rotation in {server.name}` will")
    else:
        if server.maint or server.status.startswith("DRAIN"):
            runtime = server_command(read.chain, server.name, "ready")
        if recorded:
            record = "restore"
        if runtime is not None:
            summary = (f"put {server.name} back into rotation in {where} ({server.status} -> ready)"
                       + (" and forget fleetctl's record of it" if recorded else ""))
        elif recorded:
            summary = f"{server.name} is in rotation in {where} already ({server.status}): forget fleetctl's record"
        else:
            summary = f"{server.name} is in rotation in {where} already ({server.status}): nothing to do"
        if verdict is not None and not healthy(server.name):
            warnings.append(f"its endpoint is {_level(verdict)} ({_state(verdict)}): "
                            "health --remediate will take it out again")
    return RotationPlan(
        action=action, backend=backend, host=read.host, balancer=read.name, chain=read.chain, server=server.name,
        status=server.status, stats_url=read.stats_url, runtime_command=runtime, record=record, recorded=recorded,
        refused=refused, others_in_rotation=others, endpoint_level=_level(verdict), endpoint_state=_state(verdict),
        endpoint_message=messages.get(server.name) if verdict is not None else None, pool=pool,
        warnings=tuple(warnings), summary=summary, db=db, rise=rise, timeout=timeout, ambiguous_name=ambiguous,
        db_given=db_given, timeout_given=timeout_given)


def _level(verdict: Any) -> str | None:
    return None if verdict is None else verdict.level.name


def _state(verdict: Any) -> str | None:
    return None if verdict is None else str(verdict.state)


def _readable(balancers: list[Any]) -> list[Any]:
    return [b for b in balancers if b.error is None and not b.missing_backend]


def _resolve(balancers: list[Any], backend: str, unreachable_hosts: tuple[str, ...]) -> tuple[Any, Any]:
    """The (balancer, server) BACKEND names; UnknownBackend / FleetError (see :func:`prepare`)."""
    readable = _readable(balancers)
    entries = [(b, s) for b in readable for s in b.servers]
    if "/" in backend:
        parts = tuple(backend.split("/"))
        if len(parts) != 3 or not all(parts):
            raise UserError(f"rotation: {backend!r}: name a server (eth-geth-1) or host/balancer/server")
        matches = [(b, s) for b, s in entries if (b.host, b.name, s.name) == parts]
    else:
        matches = [(b, s) for b, s in entries if s.name == backend]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        qualified = tuple(f"{b.host}/{b.name}/{s.name}" for b, s in matches)
        raise UnknownBackend(f"rotation: {backend} is in the pool of {len(matches)} balancers: name one of "
                             + ", ".join(qualified), qualified, ambiguous=True)
    unread = [b for b in balancers if b not in readable]
    if unread or unreachable_hosts:
        parts_ = [f"{b.target} ({b.error or f'no backend {b.chain}-nodes in its stats'})" for b in unread]
        parts_ += [f"host {h} (did not answer)" for h in unreachable_hosts]
        raise FleetError(f"rotation: {backend} is in no balancer's pool that could be read; not read: "
                         + "; ".join(parts_))
    names = sorted({s.name for _, s in entries})
    if not names:
        raise UnknownBackend(f"rotation: no balancer found in the fleet: nothing to take {backend} out of")
    close = difflib.get_close_matches(backend.rsplit("/", 1)[-1], names, n=5, cutoff=0.6)
    shown = close or names[:12]
    more = "" if close or len(names) <= 12 else f" ... ({len(names)} in all)"
    raise UnknownBackend(f"rotation: no backend {backend} in any balancer's pool; "
                         + ("did you mean " + " or ".join(shown) + "?" if close else "backends: " + ", ".join(shown))
                         + more, tuple(shown))


# ----------------------------------------------------------------------------- execute


def execute(fleet: Fleet, plan: RotationPlan, *, db: str | Path | None = None, on_event: EventSink | None = None,
            cancel: CancelToken | None = None) -> RotationResult:
    """Do what ``plan`` says (nothing for a refused plan, or one with nothing to change). The
    balancer's stats are read again first: the server's status now decides whether a command is
    needed, and ``out`` is refused (nothing changed) when no other server that the plan saw
    healthy is still up and in rotation. Events: ``StepStarted``/``StepFinished`` (job
    ``rotation``), a ``HostTask`` for the runtime command, a ``Warn`` when it is done but not
    recorded. ``cancel``: checked before the read and before the command (:class:`Cancelled`,
    nothing changed); once the command is sent, the job finishes."""
    from fleetctl.core.aio import run_sync

    path = Path(db).expanduser() if db else plan.db
    if plan.refused is not None:
        return RotationResult(plan, False, False, plan.recorded, plan.status, plan.status, plan.refused, plan.summary)
    if not plan.changes:
        return RotationResult(plan, True, False, plan.recorded, plan.status, plan.status, None, plan.summary)
    _check(cancel)
    return run_sync(_execute(fleet, plan, path, on_event, cancel))


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled(f"{JOB}: {cancel.reason}; nothing changed")


async def _read(plan: RotationPlan) -> Any:
    from fleetctl.health import execution as ex
    from fleetctl.health import services as sv

    http = ex.Http(2)
    try:
        return await sv.read_haproxy(http, sv.BalancerRead(plan.host, plan.balancer, plan.chain, plan.stats_url),
                                     plan.timeout)
    finally:
        await http.close()


async def _execute(fleet: Fleet, plan: RotationPlan, db: Path, on_event: EventSink | None,
                   cancel: CancelToken | None) -> RotationResult:
    from fleetctl.health.remediate import log_action, send_runtime, server_command
    from fleetctl.state import remediation
    from fleetctl.state.db import StateError

    out = plan.action == "out"
    where = f"{plan.server} in {plan.balancer} on {plan.host}"
    emit(on_event, StepStarted(JOB, "read", f"{plan.balancer} on {plan.host}"))
    fresh = await _read(plan)
    current = next((s for s in fresh.servers if s.name == plan.server), None)

    def failed(message: str, before: str, refused: str | None = None, step: str = plan.action) -> RotationResult:
        emit(on_event, StepFinished(JOB, step, ok=False, detail=message))
        return RotationResult(plan, False, False, plan.recorded, before, before, refused, message)

    if fresh.error is not None or fresh.missing_backend:
        reason = fresh.error or f"no backend {plan.chain}-nodes in its stats"
        return failed(f"rotation {plan.action} {plan.server}: {plan.balancer} on {plan.host}: {reason}; "
                      "nothing changed", plan.status, step="read")
    if current is None:
        return failed(f"rotation {plan.action} {plan.server}: no longer in the pool of {plan.balancer} on "
                      f"{plan.host}; nothing changed", plan.status, step="read")
    emit(on_event, StepFinished(JOB, "read", detail=current.status))
    healthy = {p.name for p in plan.pool if p.healthy}
    others = [s.name for s in fresh.servers if s.name != plan.server and s.up and not s.maint and s.name in healthy]
    recorded = (plan.host, plan.balancer, plan.server) in {tuple(r) for r in remediation.pulled_servers(db)}
    if out:
        command = server_command(plan.chain, plan.server, "maint") if not current.maint else None
        if command is not None and not others:
            refused = (f"no other server of {plan.chain}-nodes in {plan.balancer} on {plan.host} is left up, in "
                       "rotation and healthy now (the last healthy backend is never taken out)")
            return failed(f"rotation out {plan.server}: refused, nothing changed: {refused}", current.status, refused)
        record: str | None = "pull" if command is not None or not recorded else None
    else:
        command = (server_command(plan.chain, plan.server, "ready")
                   if current.maint or current.status.startswith("DRAIN") else None)
        record = "restore" if recorded else None
    if command is None and record is None:
        message = (f"{where}: already {'out of' if out else 'in'} rotation"
                   + (" and recorded" if out else "") + ": nothing to do")
        emit(on_event, StepFinished(JOB, plan.action, detail=message))
        return RotationResult(plan, True, False, recorded, current.status, current.status, None, message)
    _check(cancel)  # the last safe point: nothing has changed yet

    entry: dict[str, Any] = {"host": plan.host, "balancer": plan.balancer, "chain": plan.chain,
                             "server": plan.server, "action": "pull" if out else "restore", "by": "operator"}
    changed = False
    if command is not None:
        emit(on_event, StepStarted(JOB, plan.action, command))
        emit(on_event, HostTask(plan.host, command, "started"))
        error = await send_runtime(fleet.hosts[plan.host], plan.balancer, command, plan.timeout)
        if error is not None:
            emit(on_event, HostTask(plan.host, command, "failed", error))
            message = (f"could not {'take' if out else 'put'} {where} {'out of' if out else 'back into'} "
                       f"rotation: {error}")
            log_action(db, {**entry, "ok": False, "message": message})
            return failed(message, current.status)
        emit(on_event, HostTask(plan.host, command, "changed"))
        changed = True
    after = await _read(plan)
    back = next((s for s in after.servers if s.name == plan.server), None) if after.error is None else None
    now = f" (now {back.status})" if back is not None and changed else ""
    message = (f"took {where} out of rotation{now}" if out else f"put {where} back into rotation{now}") if changed \
        else (f"recorded {where} (out of rotation already)" if out else f"forgot fleetctl's record of {where}")
    ok = True
    now_recorded = recorded
    if record is not None:
        try:
            remediation.record(db, record, (plan.host, plan.balancer, plan.server), reason=OPERATOR_REASON,
                               pulled_at=datetime.now(UTC).isoformat(timespec="seconds"), run_started=time.time())
            now_recorded = record == "pull"
        except StateError as exc:
            ok = False
            hint = (f"health --remediate will not put it back: run `fleetctl rotation in {plan.server}` when done"
                    if out else "health --remediate still counts it as one it took out (and takes it out again "
                    "while it is unhealthy)")
            message += f", but the state store was not updated ({exc}); {hint}"
            emit(on_event, Warn(JOB, message))
    if ok and out:
        message += f"; health --remediate puts it back once healthy for {plan.rise} run{'s' if plan.rise != 1 else ''}"
    log_action(db, {**entry, "ok": ok, "message": message})
    emit(on_event, StepFinished(JOB, plan.action, ok=ok, detail=message))
    return RotationResult(plan, ok, changed, now_recorded, current.status, back.status if back else None, None,
                          message)
