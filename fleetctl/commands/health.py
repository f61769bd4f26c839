"""``fleetctl health``: check everything in the fleet at once; exit code is Nagios (0-3) whatever happens."""

from __future__ import annotations

import argparse
import os
from typing import Any

from fleetctl.commands._common import load, one_run_gc, positive
from fleetctl.core.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nagios", action="store_true", help="print only the Nagios status line, with perfdata")
    p.add_argument("--prom-file", metavar="PATH", help="also write the metrics in Prometheus text format for "
                   "node_exporter's textfile collector (atomically; default health.textfile in fleet.yml)")
    p.add_argument("--timeout", type=positive(float), metavar="S",
                   help="seconds per check (default health.timeout, 3); the whole sweep ends within 3x that + 1 s")
    p.add_argument("--concurrency", type=positive(int), metavar="N", help="requests in flight (default 128)")
    p.add_argument("--db", metavar="PATH", help="state store: stake history, alerts, remediation (default as for stakes)")
    p.add_argument("--remediate", action="store_true", help="take DIVERGED, lagging or syncing backends out of "
                   "their balancer's rotation and put them back once healthy (never the last healthy one)")
    p.add_argument("--no-alerts", action="store_true", help="check only: no alert state, no notifications, "
                   "no dead-man's switch ping")
    p.add_argument("--no-record", action="store_true", help="change no state (stake history, alerts, remediation)")


def run(args: argparse.Namespace) -> int:
    """Exit 0-3 and one status line in every output mode, whatever happens (Nagios reads a
    traceback's exit 1 as WARNING and loses every other check)."""
    one_run_gc()  # first: the imports and the inventory below are no collector's work
    from fleetctl import views

    out = args.out
    try:
        fleet, errors = load(args)
    except UserError as exc:
        fleet, errors = None, [exc]
    except Exception as exc:  # noqa: BLE001 - the top-level guard
        from fleetctl.core.redact import scrub

        fleet, errors = None, [scrub(f"{type(exc).__name__}: {exc}", sink_style=False)]
    if fleet is None:
        # The check itself cannot run: UNKNOWN (3), with the reasons on stderr.
        for e in errors or []:
            out.error(str(e))
        first = str(errors[0]).splitlines()[0][:300] if errors else "no inventory"
        if args.prom_file:
            _health_textfile(out, args.prom_file, None, f"inventory unusable: {first}")
        if args.nagios:
            out.line(f"HEALTH UNKNOWN - inventory unusable: {first}")
        elif out.json:
            out.emit_json({"status": "UNKNOWN", "error": "inventory unusable", "errors": [str(e) for e in errors or []],
                           "checks": []})
        else:
            out.line(f"health: UNKNOWN - inventory unusable: {first}")
        return 3
    from fleetctl.health.run import failed_report
    from fleetctl.workflows.health import HealthOptions, execute

    if args.remediate and args.no_record:
        raise UserError("health: --remediate needs its state (what it took out of rotation); drop --no-record")
    options = HealthOptions(timeout=args.timeout, concurrency=args.concurrency, db=args.db,
                            record=not args.no_record, alerts=not args.no_alerts, remediate=args.remediate)
    report = execute(fleet, options, on_step=out.debug)
    code = report.exit_code
    prom = args.prom_file or fleet.health.textfile
    if prom and not _health_textfile(out, prom, report, None):
        code = 3
    try:
        views.health(out, report, nagios=args.nagios)
    except Exception as exc:  # noqa: BLE001 - rendering failed: still a status line
        report = failed_report(exc, report.duration_s, fleet)
        views.health(out, report, nagios=args.nagios)
        return 3
    return code if 0 <= code <= 3 else 3


def _health_textfile(out: Any, path: str, report: Any, error: str | None) -> bool:
    """Write health's metrics for node_exporter (a report that says UNKNOWN when ``report`` is
    None); False with one line on stderr when it cannot be written."""
    from fleetctl.health.report import HealthReport, write_textfile

    if report is None:
        report = HealthReport(checked_at="", duration_s=0.0, checks=[], error=error)
    try:
        write_textfile(os.path.expanduser(path), report)
        return True
    except OSError as exc:
        out.error(f"health: cannot write {path}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001
        out.error(f"health: cannot write {path}: {type(exc).__name__}")
    return False
