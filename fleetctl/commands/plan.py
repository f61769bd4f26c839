"""``fleetctl plan``: what apply would change, desired (fleet.yml) against what runs."""

from __future__ import annotations

import argparse

from fleetctl.commands import EXIT_ERROR, EXIT_OK
from fleetctl.commands._common import load_or_exit, make_plan


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--offline", action="store_true", help="plan against an empty fleet without connecting anywhere")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 2 changes, 1 error (as Terraform)")
    p.add_argument("--vars-out", metavar="FILE", help="also write the playbooks' variables as an inventory file, for "
                   "`ansible-playbook -i HOSTS.yml -i FILE playbooks/site.yml`")


def run(args: argparse.Namespace) -> int:
    from fleetctl import views

    fleet = load_or_exit(args)
    plan = make_plan(args, fleet, offline=args.offline)
    if args.vars_out:
        from fleetctl.provision.apply import write_vars_inventory

        write_vars_inventory(args.vars_out, plan.vars)
    views.plan(args.out, plan)
    if plan.unreachable:
        return EXIT_ERROR
    if args.detailed_exitcode:
        return 2 if plan.changes else EXIT_OK
    return EXIT_OK
