"""``fleetctl validate``: check an inventory without touching anything (exit 0, or 2 with one line per error)."""

from __future__ import annotations

import argparse

from fleetctl.commands import EXIT_OK, EXIT_USAGE
from fleetctl.commands._common import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments of its own."""


def run(args: argparse.Namespace) -> int:
    out = args.out
    fleet, errors = load(args)
    if out.json:
        out.emit_json({"ok": fleet is not None, "summary": fleet.summary() if fleet else None,
                       "errors": [e.as_dict() for e in errors or []]})
    elif fleet is not None:
        out.line(f"{out.paint('ok', 'OK')}: {fleet.summary()}")
    else:
        for e in errors or []:
            out.error(str(e))
    return EXIT_OK if fleet is not None else EXIT_USAGE
