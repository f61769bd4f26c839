"""``fleetctl claims``: what the chain paid and took per supplier and service; exit code is Nagios (0-3)."""

from __future__ import annotations

import argparse

from fleetctl.commands._common import load, one_run_gc, positive
from fleetctl.core.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH", help="state store (default as for stakes)")
    p.add_argument("--backfill", type=positive(int), metavar="N",
                   help="blocks read back from the latest on the first run (default 1000)")
    p.add_argument("--sessions", type=positive(int), metavar="N", help="the last N sessions in the table (default 4)")
    p.add_argument("--warn-blocks", type=positive(int), metavar="N", help="WARNING when a required proof is "
                   "missing and its window closes within N blocks (default half the proof window)")
    p.add_argument("--concurrency", type=positive(int), metavar="N", help="blocks read at once, in batches of 10 (default 128; 1: one by one)")
    p.add_argument("--timeout", type=positive(float), metavar="S", help="seconds per request (default 5)")
    p.add_argument("--no-record", action="store_true", help="read and report without storing the events")
    p.add_argument("--nagios", action="store_true", help="print only the Nagios status line, with perfdata")


def run(args: argparse.Namespace) -> int:
    # One run, then exit: what is loaded by now lives to the end (the block answers' many small
    # objects would otherwise have every collection walk it); first, so the imports are no
    # collector's work either.
    one_run_gc()
    from fleetctl import views

    try:
        return _claims(args)
    except Exception as exc:  # noqa: BLE001 - claims always ends with its status line and 0-3
        from fleetctl.core.redact import scrub

        views.claims_unusable(args.out, scrub(f"internal error ({type(exc).__name__}: {exc})",
                                              sink_style=False, limit=300), nagios=args.nagios)
        return 3


def _claims(args: argparse.Namespace) -> int:
    from fleetctl import views

    try:
        fleet, errors = load(args)
    except UserError as exc:
        fleet, errors = None, [exc]
    if fleet is None:
        views.claims_unusable(args.out, "; ".join(str(e) for e in errors or []) or "no inventory",
                              nagios=args.nagios)
        return 3
    if fleet.protocol != "shannon":
        # Morse has no claim events in block results fleetctl reads: UNKNOWN, never a false OK.
        views.claims_unusable(args.out, f"claims are Shannon only; this fleet is {fleet.protocol} "
                              "(use 'fleetctl stakes')", nagios=args.nagios)
        return 3
    from fleetctl.pocket import claims
    from fleetctl.state.db import HistoryError, resolve_db_path

    try:
        path = resolve_db_path(args.db, fleet)
    except HistoryError as exc:
        views.claims_unusable(args.out, str(exc), nagios=args.nagios)
        return 3
    timeout = args.timeout or claims.DEFAULT_TIMEOUT_S
    from fleetctl.workflows.claims import execute

    report = execute(
        fleet, path, timeout=timeout, backfill=args.backfill or claims.DEFAULT_BACKFILL,
        concurrency=args.concurrency or claims.DEFAULT_CONCURRENCY, record=not args.no_record,
        warn_blocks=args.warn_blocks, sessions=args.sessions or claims.DEFAULT_SESSIONS)
    views.claims(args.out, report, nagios=args.nagios)
    return report.exit_code
