"""``fleetctl stakes`` as a job: every declared supplier's stake, margin, penalties and operator
balance against fleet.yml's thresholds, recorded in the state store's stake history.

:func:`prepare` names the suppliers read (no I/O); :func:`execute` reads and judges them
(:func:`fleetctl.pocket.stakes.sweep_stakes`) and returns the
:class:`~fleetctl.pocket.stakes.StakeReport`, with a ``CheckDone`` per supplier when ``on_event``
is given. A cancelled token stops launching chain queries, cancels those in flight and raises
:class:`~fleetctl.core.events.Cancelled`: nothing is recorded and no report says OK.
:func:`trend` is ``--history``: one supplier's recorded samples and slashes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.events import CancelToken, EventSink
from fleetctl.spec.model import Fleet

__all__ = ["JOB", "StakesPlan", "execute", "execute_async", "prepare", "trend"]

JOB = "stakes"


@record(frozen=True)
class StakesPlan:
    suppliers: tuple[str, ...]
    skipped_planned: int
    url: str | None


def prepare(fleet: Fleet) -> StakesPlan:
    targets = tuple(s.name for s in fleet.suppliers if not s.planned)
    url = fleet.pocket.rest_url if fleet.protocol == "shannon" else fleet.pocket.rpc_url
    return StakesPlan(targets, len(fleet.suppliers) - len(targets), url)


async def execute_async(fleet: Fleet, *, on_event: EventSink | None = None, cancel: CancelToken | None = None,
                        **options: Any) -> Any:
    from fleetctl.pocket.stakes import sweep_stakes

    return await sweep_stakes(fleet, on_event=on_event, cancel=cancel, **options)


def execute(fleet: Fleet, *, on_event: EventSink | None = None, cancel: CancelToken | None = None,
            concurrency: int | None = None, timeout: float | None = None, db: str | Path | None = None,
            record: bool = True, busy_timeout_s: float | None = None) -> Any:
    """The report (never raises for a chain or store problem: UNKNOWN); Cancelled on cancel."""
    from fleetctl.pocket import stakes
    from fleetctl.core.aio import run_sync

    return run_sync(execute_async(fleet, on_event=on_event, cancel=cancel,
                                  concurrency=concurrency or stakes.DEFAULT_CONCURRENCY,
                                  timeout=timeout or stakes.DEFAULT_TIMEOUT_S, db=db, record=record,
                                  busy_timeout_s=busy_timeout_s))


def trend(key: str, fleet: Fleet | None, db: str | os.PathLike[str] | None, *, busy_timeout_s: float) -> Any:
    """``stakes --history KEY``: the supplier's trend (raises the store's HistoryError)."""
    from fleetctl.state.stakes import trend_for

    return trend_for(key, fleet, db, busy_timeout_s=busy_timeout_s)
