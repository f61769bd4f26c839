"""``fleetctl stakes``: stake, margin, penalties and operator balance of every supplier; exit code is Nagios (0-3)."""

from __future__ import annotations

import argparse
import os

from fleetctl.commands._common import load, one_run_gc, positive
from fleetctl.core.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--history", metavar="ADDRESS", help="show the recorded trend of one supplier (address or name) "
                   "and the slashes in it, without querying the chain")
    p.add_argument("--db", metavar="PATH", help="history store (default: stake.history_db in fleet.yml, else "
                   "$FLEETCTL_STATE_DIR/fleetctl.db, else ~/.local/state/fleetctl/fleetctl.db)")
    p.add_argument("--concurrency", type=positive(int), metavar="N", help="queries in flight (default 128)")
    p.add_argument("--timeout", type=positive(float), metavar="S",
                   help="seconds per request (default 5); the whole sweep gives up after 4 times that")
    p.add_argument("--no-record", action="store_true", help="compare with the history without appending this run")
    p.add_argument("--nagios", action="store_true", help="print only the Nagios status line, with perfdata")


def run(args: argparse.Namespace) -> int:
    one_run_gc()  # first: the imports and the inventory below are no collector's work
    from fleetctl import views

    try:
        return _stakes(args)
    except Exception as exc:  # noqa: BLE001 - stakes always ends with its status line and 0-3
        from fleetctl.core.redact import scrub

        views.stakes_unusable(args.out, [scrub(f"internal error ({type(exc).__name__}: {exc})",
                                               sink_style=False, limit=300)], nagios=args.nagios)
        return 3


def _stakes(args: argparse.Namespace) -> int:
    from fleetctl import views

    out = args.out
    fleet = None
    # --history with --db reads only the store: the inventory is optional then.
    if not (args.history and args.db) or args.inventory or os.environ.get("FLEETCTL_INVENTORY"):
        try:
            fleet, errors = load(args)
        except UserError as exc:
            fleet, errors = None, [exc]
        if fleet is None:
            views.stakes_unusable(out, [str(e) for e in errors or []], nagios=args.nagios)
            return 3
    if args.history:
        from fleetctl.state.db import HistoryError
        from fleetctl.workflows.stakes import trend as trend_for

        try:
            trend = trend_for(args.history, fleet, args.db, busy_timeout_s=args.timeout or 5.0)
        except HistoryError as exc:
            views.stakes_unusable(out, [f"history unavailable: {exc}"], nagios=args.nagios)
            return 3
        views.stake_trend(out, trend, nagios=args.nagios)
        return int(trend.level)
    from fleetctl.workflows import stakes

    assert fleet is not None
    report = stakes.execute(fleet, concurrency=args.concurrency, timeout=args.timeout, db=args.db,
                            record=not args.no_record)
    views.stakes(out, report, nagios=args.nagios)
    return report.exit_code
