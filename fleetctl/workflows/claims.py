"""``fleetctl claims`` as a job: the chain's claim, proof, settlement and slash events since the
last run (the node's ``/block_results``, Shannon only), stored, then judged per supplier.

:func:`prepare` says where it reads and stores (no I/O); :func:`execute` runs
:func:`fleetctl.pocket.claims.check_claims` and returns the
:class:`~fleetctl.pocket.claims.ClaimsReport`, with a ``CheckDone`` per check when ``on_event``
is given. A cancelled token stops the read (blocks not asked yet are never asked) and raises
:class:`~fleetctl.core.events.Cancelled`; the store keeps what an earlier, finished write put
there (each write is one transaction), so the next run resumes from its cursor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.events import CancelToken, CheckDone, EventSink
from fleetctl.spec.model import Fleet

__all__ = ["JOB", "ClaimsPlan", "execute", "execute_async", "prepare"]

JOB = "claims"


@record(frozen=True)
class ClaimsPlan:
    store: str | None
    node_rpc_url: str | None
    #: Why the job cannot run (Morse, no store path), else None.
    message: str | None = None


def prepare(fleet: Fleet, db: str | None = None) -> ClaimsPlan:
    from fleetctl.core.redact import safe_url
    from fleetctl.state.db import HistoryError, resolve_db_path

    if fleet.protocol != "shannon":
        return ClaimsPlan(None, None, f"claims are Shannon only; this fleet is {fleet.protocol} (use 'fleetctl stakes')")
    try:
        path = str(resolve_db_path(db, fleet))
    except HistoryError as exc:
        return ClaimsPlan(None, None, str(exc))
    node = fleet.pocket.node_rpc_url
    return ClaimsPlan(path, safe_url(node) if node else None)


async def execute_async(fleet: Fleet, store_path: Path, *, on_event: EventSink | None = None,
                        cancel: CancelToken | None = None, **options: Any) -> Any:
    from fleetctl.pocket.claims import check_claims
    from fleetctl.core.aio import until_cancelled

    report = await until_cancelled(check_claims(fleet, store_path, **options), cancel, JOB)
    if on_event is not None:
        for name, level, message in report.checks:
            on_event(CheckDone(JOB, name, level, message))
    return report


def execute(fleet: Fleet, store_path: Path, *, on_event: EventSink | None = None,
            cancel: CancelToken | None = None, **options: Any) -> Any:
    """The report (never raises for a chain or store problem: UNKNOWN); Cancelled on cancel.
    ``options``: :func:`fleetctl.pocket.claims.check_claims`'s (timeout, backfill, concurrency,
    record, warn_blocks, sessions)."""
    from fleetctl.core.aio import run_sync

    return run_sync(execute_async(fleet, store_path, on_event=on_event, cancel=cancel, **options))
