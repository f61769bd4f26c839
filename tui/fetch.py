"""What each main view reads: one workflow call each, as a viewer (nothing recorded, no alert
sent, nothing remediated). No textual here. :func:`run` reads in the fetch process when
``fleetctl tui`` started one (:mod:`fleetctl.tui.fetch_process`), else in the caller's thread;
:class:`Prefetch` asks for the first view's read before the app starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetctl.core.errors import UserError
from fleetctl.core.events import CancelToken

__all__ = ["FETCHES", "Prefetch", "run", "start_process", "alerts", "claims", "diversity", "fleet", "health", "plan", "stakes"]


OnEvent = Callable[[Any], None]


def fleet(source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    """The fleet tree; ``on_event`` hears the observation's progress (host by host)."""
    from fleetctl.workflows.fleet import execute

    return execute(source.fleet(), cancel=cancel, on_event=on_event)


def stakes(source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    from fleetctl.workflows.stakes import execute

    # A viewer: the history is cron's (`fleetctl stakes` records it); the TUI reads, never appends.
    return execute(source.fleet(), cancel=cancel, db=source.options.db, record=False)


def health(source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    from fleetctl.workflows.health import HealthOptions, execute

    fleet = source.fleet()
    # A viewer: cron records, alerts and remediates; the TUI only looks.
    options = HealthOptions(record=False, alerts=False, remediate=False, db=source.options.db)
    return execute(fleet, options, cancel=cancel)


def claims(source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    """The claims job as a viewer runs it: read, judge, record nothing (cron's cursor untouched)."""
    from fleetctl.workflows.claims import execute, prepare

    fleet = source.fleet()
    found = prepare(fleet, source.options.db)
    if found.message is not None or found.store is None:
        raise UserError(found.message or "claims: no state store")
    return execute(fleet, Path(found.store), cancel=cancel, record=False)


def diversity(source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    from fleetctl.workflows.diversity import overview

    return overview(source.fleet(), cancel=cancel)


def plan(source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    from fleetctl.workflows import apply as workflow

    return workflow.prepare(source.fleet(), cancel=cancel)


def alerts(source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    from fleetctl.workflows.alerts import list_alerts

    return list_alerts(source.db())


#: the views whose first fetch can start before the app (the others need their screen)
FETCHES: dict[str, Callable[[Any, CancelToken, OnEvent | None], Any]] = {
    "fleet": fleet, "stakes": stakes, "health": health, "claims": claims, "diversity": diversity, "runs": plan, "alerts": alerts,
}


def start_process(options: Any) -> Any:
    """The fetch process (:class:`~fleetctl.tui.fetch_process.FetchProcess`) for ``options``,
    allowed the reads of :data:`~fleetctl.tui.fetch_process.ROUTED`."""
    from fleetctl.tui.fetch_process import ROUTED, FetchProcess

    return FetchProcess(options, {view: FETCHES[view] for view in ROUTED})


def run(view: str, source: Any, cancel: CancelToken, on_event: OnEvent | None = None) -> Any:
    """``view``'s read: in the fetch process when there is one (fleetctl tui), else here."""
    from fleetctl.tui.fetch_process import ROUTED, ProcessGone

    process = getattr(source, "process", None)
    if process is not None and view in ROUTED and process.alive:
        try:
            call = process.submit(view)
            call.listen(on_event)
            return call.wait(cancel)
        except ProcessGone:
            pass  # it died: this thread reads, as without it
    return FETCHES[view](source, cancel, on_event)


class Prefetch:
    """The first view's read, asked of the fetch process before the app starts (before textual
    is imported): the sweep runs beside the app's start on another core. Its view takes it
    once (:meth:`take`) instead of asking again."""

    def __init__(self, view: str, source: Any) -> None:
        from fleetctl.tui.fetch_process import ROUTED, ProcessGone

        process = getattr(source, "process", None)
        if process is None or view not in ROUTED:
            raise ProcessGone(f"{view}: no fetch process to read it")
        self.view, self.source = view, source
        self.taken = False
        self.call = process.submit(view)

    def take(self, on_event: OnEvent | None = None) -> Callable[[CancelToken], Any] | None:
        """The fetch for the view's first refresh (once; None after); ``on_event`` hears its
        events from now on, the latest one first."""
        from fleetctl.tui.fetch_process import ProcessGone

        if self.taken:
            return None
        self.taken = True
        self.call.listen(on_event)

        def wait(cancel: CancelToken) -> Any:
            try:
                return self.call.wait(cancel)
            except ProcessGone:
                return FETCHES[self.view](self.source, cancel, on_event)  # it died: read here
        return wait

    def cancel(self) -> None:
        if not self.call.done.is_set():
            self.call.process.cancel(self.call.ident, "fleetctl tui quit")
