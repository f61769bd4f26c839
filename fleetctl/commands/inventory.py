"""``fleetctl inventory [all|hosts|chains|suppliers]``: the inventory as a table or JSON."""

from __future__ import annotations

import argparse

from fleetctl.commands import EXIT_OK, EXIT_USAGE
from fleetctl.commands._common import load


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("section", nargs="?", choices=("all", "hosts", "chains", "suppliers"), default="all")


def run(args: argparse.Namespace) -> int:
    from fleetctl import views

    out = args.out
    fleet, errors = load(args)
    if fleet is None:
        for e in errors or []:
            out.error(str(e))
        return EXIT_USAGE
    views.inventory(out, fleet, args.section)
    return EXIT_OK
