"""``fleetctl apply``: converge the fleet to fleet.yml through the playbooks (ansible-runner).

The job is :mod:`fleetctl.workflows.apply` (prepare: the plan; execute: the playbooks); this
front renders the plan, confirms, draws the progress from the job's events
(:class:`fleetctl.progress.Progress`) and lets the first ^C stop the run before its next task.
"""

from __future__ import annotations

import argparse
from typing import Any

from fleetctl.commands import EXIT_ERROR, EXIT_OK
from fleetctl.commands._common import apply_cancelled, confirm, infeasible, load_or_exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true", help="dry run: report what would change, change nothing")
    p.add_argument("--diff", action="store_true", help="show file differences (with --check: change nothing)")
    p.add_argument("--limit", metavar="HOSTS", help="only these hosts (comma-separated)")
    p.add_argument("--forks", type=int, metavar="N", help="hosts in parallel (Ansible forks)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    p.add_argument("--strategy", choices=("auto", "mitogen", "pipelining", "default"), default="auto",
                   help="how Ansible reaches hosts: auto (mitogen if installed, else pipelining; the default), "
                   "mitogen, pipelining, or default (Ansible's own settings)")


def run(args: argparse.Namespace) -> int:
    from fleetctl import views
    from fleetctl.progress import Progress, sigint_cancels
    from fleetctl.workflows import apply as workflow

    out = args.out
    fleet = load_or_exit(args)
    limit = workflow.check_limit(fleet, args.limit)
    plan = prepare(args, fleet)
    if not out.json:
        views.plan(out, plan, only_changes=True)
    # A terminal is needed even when nothing changes (unless --check or --yes).
    go = args.check or args.yes
    question = (f"Apply {plan.changes} change(s) to {len(plan.changed_hosts())} host(s)? [y/N] "
                if plan.changes and not go else None)
    if not confirm(out, question, yes=go, what="apply", hint="pass --yes to apply without asking"):
        return EXIT_ERROR
    progress = Progress(limit or sorted(fleet.hosts), stream=out.err, quiet=out.quiet or out.json)
    try:
        with sigint_cancels(out, "apply") as cancel:
            result = workflow.execute(fleet, plan, check=args.check, diff=args.diff, limit=limit, forks=args.forks,
                                      strategy=args.strategy, on_event=progress, cancel=cancel)
    finally:
        progress.finish()
    views.apply_result(out, result, plan)
    if result.cancelled:
        return apply_cancelled(out, result)
    return EXIT_OK if not result.failed_hosts and not plan.unreachable else EXIT_ERROR


def prepare(args: argparse.Namespace, fleet: Any) -> Any:
    """apply's plan (:func:`fleetctl.workflows.apply.prepare`), each host observed as a debug
    line; an infeasible one: each reason on stderr and exit 1."""
    from fleetctl.plan.model import Infeasible
    from fleetctl.progress import plan_lines
    from fleetctl.workflows import apply as workflow

    try:
        return workflow.prepare(fleet, on_event=plan_lines(args.out))
    except Infeasible as exc:
        infeasible(args, exc)
        raise  # not reached
