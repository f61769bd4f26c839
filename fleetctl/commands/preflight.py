"""``fleetctl preflight``: will the suppliers be served and paid for; exit 0 OK, 1 warnings or bad input, 2 sanctioned."""

from __future__ import annotations

import argparse

from fleetctl.commands._common import load
from fleetctl.core.errors import FleetError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", metavar="NAME,...", help="only these suppliers (names in fleet.yml)")
    p.add_argument("--timeout", metavar="S", help="seconds per request (default 5)")
    p.add_argument("--concurrency", metavar="N", help="requests in flight (default 64)")
    p.add_argument("--fee-per-tx", metavar="AMOUNT", help="fee of one claim or proof transaction (default "
                   "300000 upokt: 200,000 gas at 1 upokt x 1.5, an upper bound)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 / 1 / 2 whatever happens: bad input and anything unforeseen are 1 (never 2, which
    means "would be sanctioned"), with one line and no traceback."""
    from fleetctl import views

    try:
        return _preflight(args)
    except Exception as exc:  # noqa: BLE001 - preflight always ends with one line and 0-2
        from fleetctl.core.redact import scrub

        text = str(exc) if isinstance(exc, FleetError) else f"internal error ({type(exc).__name__}: {exc})"
        views.preflight_unusable(args.out, [scrub(text, sink_style=False, limit=300)])
        return 1


def _preflight(args: argparse.Namespace) -> int:
    from fleetctl import views

    out = args.out
    try:
        timeout = float(args.timeout) if args.timeout is not None else 5.0
        concurrency = int(args.concurrency) if args.concurrency is not None else 64
    except ValueError:
        views.preflight_unusable(out, [f"--timeout/--concurrency: expected a number, got "
                                       f"{args.timeout if args.timeout is not None else args.concurrency!r}"])
        return 1
    if not (0 < timeout <= 600) or not (0 < concurrency <= 10_000):
        views.preflight_unusable(out, ["--timeout: 0 to 600 s; --concurrency: 1 to 10000"])
        return 1
    from fleetctl.workflows import preflight

    fee = preflight.DEFAULT_FEE_PER_TX_UPOKT
    if args.fee_per_tx is not None:
        try:
            fee = preflight.parse_fee(args.fee_per_tx)
        except ValueError as exc:
            views.preflight_unusable(out, [str(exc)])
            return 1
    fleet, errors = load(args)
    if fleet is None:
        views.preflight_unusable(out, [str(e) for e in errors or []])
        return 1
    only = tuple(n.strip() for n in (args.only or "").split(",") if n.strip())
    report = preflight.execute(fleet, only=only, timeout=timeout, concurrency=concurrency, fee_per_tx=fee)
    views.preflight(out, report)
    return report.exit_code
