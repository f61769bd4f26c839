"""``fleetctl exporter``: serve the health sweep's metrics on /metrics for Prometheus, sweeping in the background."""

from __future__ import annotations

import argparse

from fleetctl.commands import EXIT_OK
from fleetctl.commands._common import inventory_path, load_or_exit, positive
from fleetctl.core.errors import FleetError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9877", help="where to serve (default 127.0.0.1:9877)")
    p.add_argument("--interval", type=positive(float), metavar="S", default=60.0, help="seconds between sweeps (default 60)")
    p.add_argument("--timeout", type=positive(float), metavar="S", help="seconds per check (default health.timeout)")
    p.add_argument("--concurrency", type=positive(int), metavar="N", help="requests in flight (default 128)")
    p.add_argument("--db", metavar="PATH", help="state store (stake history), as for health")


def run(args: argparse.Namespace) -> int:
    from fleetctl.health.exporter import Exporter, parse_listen
    from fleetctl.health.run import HealthOptions, run_health
    from fleetctl.spec.cache import load_inventory_cached

    out = args.out
    host, port = parse_listen(args.listen)
    load_or_exit(args)  # a broken inventory at start is a usage error, not a silent exporter
    path = inventory_path(args)
    options = HealthOptions(timeout=args.timeout, concurrency=args.concurrency, db=args.db, alerts=False)
    exporter = Exporter(lambda: load_inventory_cached(path), lambda fleet: run_health(fleet, options),
                        interval=args.interval, log=out.info)
    if host not in ("127.0.0.1", "::1", "localhost"):
        out.info(f"exporter: listening on {host}, not loopback: anyone who reaches it reads the fleet's state")
    try:
        exporter.run(host, port)
    except OSError as exc:
        raise FleetError(f"exporter: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return EXIT_OK
