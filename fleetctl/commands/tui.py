"""``fleetctl tui``: the operator's terminal app over the same workflows (textual imported here only)."""

from __future__ import annotations

import argparse
import os
import sys

from fleetctl.commands import EXIT_USAGE
from fleetctl.commands._common import inventory_path, load


def _refresh(text: str) -> float:
    from fleetctl.core.units import parse_duration

    try:
        value = parse_duration(text)
    except Exception:  # noqa: BLE001 - argparse says which option
        value = None
    if value is None or value < 0 or (0 < value < 1) or value > 86_400:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: 0 (only on ctrl+r), or 1s to 24h, e.g. 10s, 1m")
    return float(value)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--read-only", action="store_true",
                   help="refuse every action that changes anything (apply, scale, stake, remediation, muting)")
    p.add_argument("--refresh", type=_refresh, default=10.0, metavar="DURATION",
                   help="refresh the view on screen this often (default 10s; 0: only on ctrl+r)")
    p.add_argument("--view", default="fleet", metavar="NAME",
                   help="the view shown first: fleet, diversity, stakes, health, scale, runs, claims, alerts")
    p.add_argument("--db", metavar="PATH", help="state store (stake history, alerts, remediation), as for stakes")


def run(args: argparse.Namespace) -> int:
    out = args.out
    path = inventory_path(args)
    fleet, errors = load(args)
    if fleet is None:
        for e in errors or []:
            out.error(str(e))
        return EXIT_USAGE
    from fleetctl.tui.screens import resolve  # no textual: the views' names

    if resolve(args.view) is None:
        out.error(f"tui: --view {args.view!r}: not a view (fleet, diversity, stakes, health, scale, runs, claims, alerts)")
        return EXIT_USAGE
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        out.error("tui: needs a terminal (stdin and stdout); for scripts use the commands (-o json)")
        return EXIT_USAGE
    no_color = bool(args.no_color) or "NO_COLOR" in os.environ
    if no_color:
        os.environ["NO_COLOR"] = "1"  # Textual's monochrome filter reads it
    from fleetctl.tui.fetch import Prefetch, start_process
    from fleetctl.tui.fetch_process import ROUTED, ProcessGone
    from fleetctl.tui.options import TuiOptions
    from fleetctl.tui.source import Source

    options = TuiOptions(inventory=path, read_only=args.read_only, refresh_s=args.refresh,
                         no_color=no_color, db=args.db, start=args.view)
    # The views' reads run in a process of their own, forked now (before textual is imported,
    # while this process has one thread), and the first view's read is asked for at once: the
    # sweep runs beside the app's start and never holds the screen's GIL.
    # FLEETCTL_TUI_FETCH=thread reads in the app's worker threads instead.
    process = None
    if os.environ.get("FLEETCTL_TUI_FETCH", "process") != "thread":
        try:
            process = start_process(options)
        except (OSError, ValueError) as exc:
            out.info(f"tui: no fetch process ({exc}); the views read in the app's threads")
    source = Source(options, process=process)
    start = resolve(args.view)
    prefetch = None
    if process is not None and start is not None and start.name in ROUTED:
        try:
            prefetch = Prefetch(start.name, source)
        except ProcessGone:
            prefetch = None
    from fleetctl.tui.app import run as run_app

    try:
        return run_app(options, source=source, prefetch=prefetch)
    finally:
        if process is not None:
            process.close()
