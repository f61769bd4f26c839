"""``fleetctl diversity``: each client's share of the running full nodes per chain and layer, against the quota."""

from __future__ import annotations

import argparse

from fleetctl.commands._common import load_or_exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments of its own."""


def run(args: argparse.Namespace) -> int:
    from fleetctl import views
    from fleetctl.workflows import diversity

    fleet = load_or_exit(args)
    report = diversity.execute(fleet)
    views.diversity(args.out, report)
    return report.exit_code
