"""``fleetctl health`` end to end: sweep, remediate, alert, and the report every front renders."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.aio import run_sync
from fleetctl.health.report import Check, HealthReport
from fleetctl.health.values import one_line
from fleetctl.core.levels import Level
from fleetctl.spec.model import Fleet

__all__ = ["HealthOptions", "run_health"]


@record(frozen=True)
class HealthOptions:
    timeout: float | None = None  # None: fleet.yml health.timeout
    concurrency: int | None = None
    db: str | Path | None = None
    record: bool = True  # stake history, alert state and remediation state
    alerts: bool = True  # record alert state and deliver notifications
    remediate: bool = False


def run_health(fleet: Fleet, options: HealthOptions = HealthOptions(),
               on_step: Callable[[str], None] = lambda s: None) -> HealthReport:
    """One health run: never raises for a fleet problem (what it could not check is in the
    report), and a bug anywhere is a report that says so (UNKNOWN, exit 3), not a traceback."""
    started = time.monotonic()
    try:
        return run_sync(run_health_async(fleet, options, on_step))
    except Exception as exc:  # noqa: BLE001 - the top-level guard: the status line is always printed
        return failed_report(exc, time.monotonic() - started, fleet)


def failed_report(exc: BaseException, duration_s: float, fleet: Fleet | None = None) -> HealthReport:
    """The report of a run that raised: UNKNOWN, with the exception as one redacted line."""
    from datetime import UTC, datetime

    from fleetctl.core.redact import scrub

    secrets: list[str] = []
    if fleet is not None:
        try:
            from fleetctl.health.sweep import _secret_urls

            secrets = _secret_urls(fleet)
        except Exception:  # noqa: BLE001
            secrets = []
    text = scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, secrets, sink_style=False,
                 limit=240)
    return HealthReport(checked_at=datetime.now(UTC).isoformat(timespec="seconds"), duration_s=duration_s,
                        checks=[], error=f"health failed: {text}")


async def run_health_async(fleet: Fleet, options: HealthOptions = HealthOptions(),
                           on_step: Callable[[str], None] = lambda s: None, *, on_event: Any = None,
                           cancel: Any = None) -> HealthReport:
    """One health run inside an event loop. ``on_event``/``cancel``: the sweep's events and
    cancel token (:func:`fleetctl.health.sweep.sweep`); a cancelled run raises
    :class:`~fleetctl.core.events.Cancelled` before remediation and alerting."""
    from fleetctl.health.sweep import report_of, sweep
    from fleetctl.state.db import resolve_db_path

    started_wall = time.time()
    started = time.monotonic()
    db = resolve_db_path(options.db, fleet)
    timeout = options.timeout or fleet.health.timeout_s
    concurrency = options.concurrency or fleet.health.concurrency
    result = await sweep(fleet, timeout=timeout, concurrency=concurrency, db=db,
                         record_stakes=options.record, on_step=on_step, on_event=on_event, cancel=cancel)
    report = report_of(result, time.monotonic() - started)
    if options.remediate and result.store_locked:
        report.checks.append(Check("remediation", "remediation", Level.UNKNOWN,
                                   "not run: the state store is locked by another process", {}, (), {}))
    elif options.remediate:
        from fleetctl.health.remediate import remediate

        try:
            report.remediation = await remediate(fleet, result, db=db, run_started=started_wall,
                                                 timeout=timeout, record=options.record, on_step=on_step)
        except Exception as exc:  # noqa: BLE001 - remediation's failure is a check, the run goes on
            report.checks.append(Check("remediation", "remediation", Level.UNKNOWN,
                                       f"remediation failed: {one_line(f'{type(exc).__name__}: {exc}', 200)}",
                                       {}, (), {}))
    if options.alerts and options.record and result.store_locked:
        report.checks.append(Check("alerts", "alerting", Level.UNKNOWN, "alert state not updated and no "
                                   "notification sent: the state store is locked by another process", {}, (), {}))
    elif options.alerts and options.record:
        from fleetctl.health.notify import process_alerts

        try:
            await process_alerts(fleet, report, result, db=db, run_started=started_wall, on_step=on_step)
        except Exception as exc:  # noqa: BLE001 - alerting's failure is a check, the run goes on
            report.checks.append(Check("alerts", "alerting", Level.UNKNOWN,
                                       f"alerting failed: {one_line(f'{type(exc).__name__}: {exc}', 200)}",
                                       {}, (), {}))
    report.duration_s = time.monotonic() - started
    return report
