"""``fleetctl health`` as a job: the whole sweep (endpoints, consensus clients, balancers,
RelayMiners, Pocket nodes, stakes, claims, hosts), then remediation and alerting.

:func:`prepare` says what would be checked (no I/O); :func:`execute` runs it and returns the
:class:`~fleetctl.health.report.HealthReport`. Events: ``Progress`` as probes finish, then a
``CheckDone`` per check (only when ``on_event`` is given: the 1,000-supplier benchmark pays
nothing for them). A cancelled token stops launching probes, cancels those in flight and raises
:class:`~fleetctl.core.events.Cancelled` (exit 130) before remediation and alerting: a cancelled
sweep is never a report, so never OK.
"""

from __future__ import annotations

from collections.abc import Callable

from fleetctl.core.records import record
from fleetctl.core.events import Cancelled, CancelToken, EventSink
from fleetctl.health.report import HealthReport
from fleetctl.health.run import HealthOptions
from fleetctl.spec.model import Fleet

__all__ = ["JOB", "HealthOptions", "HealthPlan", "execute", "execute_async", "prepare"]

JOB = "health"


@record(frozen=True)
class HealthPlan:
    """What a run reads: the inventory's adopted endpoints, hosts and suppliers (the hosts tell
    the rest: the containers they run)."""

    hosts: tuple[str, ...]
    execution_endpoints: int
    consensus_endpoints: int
    suppliers: int
    remediate: bool
    record: bool


def prepare(fleet: Fleet, options: HealthOptions | None = None) -> HealthPlan:
    options = options or HealthOptions()
    return HealthPlan(tuple(fleet.hosts), sum(len(c.execution_endpoints) for c in fleet.chains.values()),
                      sum(len(c.consensus_endpoints) for c in fleet.chains.values()),
                      sum(1 for s in fleet.suppliers if not s.planned), options.remediate, options.record)


async def execute_async(fleet: Fleet, options: HealthOptions | None = None, *,
                        on_event: EventSink | None = None, cancel: CancelToken | None = None,
                        on_step: Callable[[str], None] = lambda s: None) -> HealthReport:
    """One run inside an event loop (the TUI's, the exporter's)."""
    from fleetctl.health.run import run_health_async

    return await run_health_async(fleet, options or HealthOptions(), on_step, on_event=on_event, cancel=cancel)


def execute(fleet: Fleet, options: HealthOptions | None = None, *, on_event: EventSink | None = None,
            cancel: CancelToken | None = None, on_step: Callable[[str], None] = lambda s: None) -> HealthReport:
    """One run from synchronous code: never raises for a fleet problem, and a bug is a report
    that says so (UNKNOWN, exit 3); only a cancel raises (:class:`Cancelled`)."""
    import time

    from fleetctl.core.aio import run_sync
    from fleetctl.health.run import failed_report

    started = time.monotonic()
    try:
        return run_sync(execute_async(fleet, options, on_event=on_event, cancel=cancel, on_step=on_step))
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the top-level guard: the status line is always printed
        return failed_report(exc, time.monotonic() - started, fleet)
