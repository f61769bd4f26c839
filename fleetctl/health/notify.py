"""From a health report to alerts: record the run's observations in the alert store, queue an
event for every remediation action, deliver what is due, and ping the dead-man's switch.

Failures of alerting itself never hide the fleet's state: a store that cannot be used is an
UNKNOWN ``alerting/state`` check (a problem could go unnoticed), a sink that cannot be reached
is a WARNING ``alerting/<sink>`` check naming it (its URL redacted) on every run while its
notices wait for their retry, and a corrupted row of the alert state is one UNKNOWN
``alerting/state:<table>#<id>`` check naming the store, the row and the fix (``fleetctl alerts
repair``) while the other alerts keep working.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetctl.health.report import Check, HealthReport
from fleetctl.core.levels import Level
from fleetctl.spec.model import Fleet

__all__ = ["process_alerts"]

#: Remediation actions that notify, and the level of their notice.
_EVENT_LEVEL = {"pull": "WARNING", "restore": "OK"}
#: The longest wait for another process's lock on the store (at most the health timeout): a
#: stuck writer costs one UNKNOWN check naming the lock, inside health's time bound.
STORE_WAIT_S = 1.0


async def process_alerts(fleet: Fleet, report: HealthReport, result: Any, *, db: Path, run_started: float,
                         on_step: Callable[[str], None] = lambda s: None) -> None:
    from fleetctl.health.alerts import AlertStore, HistoryError

    policy = fleet.alerts
    store = AlertStore(db, busy_timeout_s=min(STORE_WAIT_S, max(0.1, fleet.health.timeout_s)))
    observations = list(report.checks)  # (the checks themselves: alerts.Observed)

    def record() -> Any:
        outcome = store.record_run(observations, policy, run_started_at=run_started, keep=result.keep)
        for action in report.remediation:
            if action.get("action") not in _EVENT_LEVEL:
                continue
            level = _EVENT_LEVEL[action["action"]] if action.get("ok") else "CRITICAL"
            store.enqueue_event(f"{action['host']}/{action['balancer']}/{action['server']}", "remediation", level,
                                action["message"], {"host": action["host"], "chain": action.get("chain", ""),
                                                    "server": action["server"]})
        return outcome

    summary: dict[str, Any] = {"db": str(db)}

    def corrupted(rows: Any) -> None:
        for c in rows:
            report.checks.append(Check(f"state:{c.table}#{c.row}", "alerting", Level.UNKNOWN, c.line(db),
                                       {"db": str(db), **c.as_dict()}))
            summary.setdefault("corrupt", []).append(c.as_dict())

    try:
        outcome = await asyncio.to_thread(record)
        summary.update(applied=outcome.applied, stale=outcome.reason, queued=len(outcome.notifications),
                       firing=len(outcome.firing), pending=len(outcome.pending), resolved=len(outcome.resolved))
        corrupted(outcome.corrupt)
        on_step(f"alerts: {outcome.summary()}")
        if policy.sinks:
            from fleetctl.health import sinks  # only where something is sent (cron runs pay nothing)

            delivery = await sinks.deliver(store, policy)
            summary.update(sent=delivery.sent, failed=delivery.failed, dropped=delivery.dropped,
                           errors=delivery.errors)
            corrupted(delivery.corrupt)
            for name, sink in delivery.sinks.items():
                line = sink.error_line()
                if line:
                    report.checks.append(Check(name, "alerting", Level.WARNING, line,
                                               {"sink": name, "type": sink.type, "url": sink.url}))
    except HistoryError as exc:
        summary["error"] = str(exc)
        report.checks.append(Check("state", "alerting", Level.UNKNOWN,
                                   f"alert state unusable, notifications may go missing: {exc}", {"db": str(db)}))
    if policy.deadman is not None:
        from fleetctl.health import sinks

        error = await sinks.ping_deadman(policy)
        summary["deadman"] = "pinged" if error is None else error
        if error is not None:
            report.checks.append(Check("deadman", "alerting", Level.WARNING, error, {}))
    summary["at"] = time.time()
    report.alerts = summary
