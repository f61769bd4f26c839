"""apply: converge the fleet to fleet.yml through the playbooks.

:func:`prepare` observes the hosts and plans (side-effect free: what would change, for the
confirmation; :class:`~fleetctl.plan.model.Infeasible` stays an exception the front renders);
:func:`execute` runs the playbooks with the plan's variables and returns an
:class:`~fleetctl.provision.apply.ApplyResult`. Events: the plan's observation as
``StepFinished(job="plan", step="observe", detail="observed HOST: …")``, then the playbook's
(:func:`fleetctl.provision.apply.runner_events`). A cancelled run stops before its next task and
its result says ``cancelled``; the playbooks are idempotent, so the next apply converges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetctl.core.errors import UserError
from fleetctl.core.events import CancelToken, EventSink, StepFinished, emit

if TYPE_CHECKING:
    from fleetctl.plan.diff import Plan
    from fleetctl.provision.apply import ApplyResult
    from fleetctl.spec.model import Fleet

__all__ = ["check_limit", "execute", "prepare"]


def check_limit(fleet: Fleet, limit: str | list[str] | None) -> list[str] | None:
    """``--limit h1,h2`` as a list of the inventory's hosts (None: every host); UserError for a
    host the inventory does not have."""
    if isinstance(limit, str):
        limit = [h.strip() for h in limit.split(",") if h.strip()] or None
    for h in limit or []:
        if h not in fleet.hosts:
            raise UserError(f"--limit: no host {h!r} in the inventory")
    return limit or None


def prepare(fleet: Fleet, *, offline: bool = False, on_event: EventSink | None = None,
            cancel: CancelToken | None = None) -> Plan:
    """What apply would change: the plan (observation over SSH unless ``offline``; nothing is
    changed anywhere). Raises Infeasible with every reason; Cancelled when ``cancel`` is set
    while the hosts are observed."""
    from fleetctl.plan.diff import make_plan

    def progress(text: str) -> None:
        emit(on_event, StepFinished("plan", "observe", detail=text))

    return make_plan(fleet, offline=offline, progress=progress, cancel=cancel)


def execute(fleet: Fleet, plan: Plan, *, check: bool = False, diff: bool = False, limit: list[str] | None = None,
            forks: int | None = None, strategy: str = "auto", on_event: EventSink | None = None,
            cancel: CancelToken | None = None) -> ApplyResult:
    """Run the playbooks with ``plan``'s variables (``check``: change nothing). The result counts
    every host's tasks; ``cancelled`` when ``cancel`` stopped it (which task was next, which hosts
    were left)."""
    from fleetctl.provision.apply import ApplyResult, HostResult, run_playbooks

    if cancel is not None and cancel.cancelled:  # nothing started: nothing done, everything left
        targets = limit or sorted(fleet.hosts)
        return ApplyResult({h: HostResult() for h in targets}, 0, 0.0, check, cancelled=True, hosts_left=list(targets))
    return run_playbooks(fleet, plan.vars, check=check, diff=diff, limit=limit, forks=forks, strategy=strategy,
                         on_event=on_event, cancel=cancel)
