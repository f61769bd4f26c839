"""``fleetctl apply``: converge the fleet to fleet.yml through the playbooks (ansible-runner)."""

from __future__ import annotations

import argparse
from typing import Any

from fleetctl.commands import EXIT_ERROR, EXIT_OK
from fleetctl.commands._common import confirm, load_or_exit, make_plan
from fleetctl.core.errors import UserError


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
    from fleetctl.provision.apply import Progress, run_playbooks

    out = args.out
    fleet = load_or_exit(args)
    limit = [h.strip() for h in args.limit.split(",") if h.strip()] if args.limit else None
    for h in limit or []:
        if h not in fleet.hosts:
            raise UserError(f"--limit: no host {h!r} in the inventory")
    plan = make_plan(args, fleet)
    if not out.json:
        views.plan(out, plan, only_changes=True)
    # A terminal is needed even when nothing changes (unless --check or --yes).
    go = args.check or args.yes
    question = (f"Apply {plan.changes} change(s) to {len(plan.changed_hosts())} host(s)? [y/N] "
                if plan.changes and not go else None)
    if not confirm(out, question, yes=go, what="apply", hint="pass --yes to apply without asking"):
        return EXIT_ERROR
    hosts = limit or sorted(fleet.hosts)
    progress = Progress(hosts, stream=out.err, quiet=out.quiet or out.json)
    result = run_playbooks(fleet, plan.vars, check=args.check, diff=args.diff, limit=limit, forks=args.forks,
                           strategy=args.strategy, progress=progress)
    views.apply_result(out, result, plan)
    return EXIT_OK if not result.failed_hosts and not plan.unreachable else EXIT_ERROR


def apply_plan(args: argparse.Namespace, fleet: Any, *, check: bool, limit: list[str] | None = None) -> int:
    """Plan and run the playbooks (what `apply --yes` does), rendering the result."""
    from fleetctl import views
    from fleetctl.provision.apply import Progress, run_playbooks

    out = args.out
    plan = make_plan(args, fleet)
    if not out.json:
        views.plan(out, plan, only_changes=True)
    hosts = limit or sorted(fleet.hosts)
    progress = Progress(hosts, stream=out.err, quiet=out.quiet or out.json)
    result = run_playbooks(fleet, plan.vars, check=check, diff=getattr(args, "diff", False), limit=limit,
                           forks=getattr(args, "forks", None), strategy=getattr(args, "strategy", "auto"),
                           progress=progress)
    if not out.json:
        views.apply_result(out, result, plan)
    return EXIT_OK if not result.failed_hosts and not plan.unreachable else EXIT_ERROR
