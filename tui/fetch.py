"""What each main view reads: one workflow call each, as a viewer (nothing recorded, no alert
sent, nothing remediated). No textual here: ``fleetctl tui`` starts the first view's fetch in a
thread (:class:`Prefetch`) before it imports textual, so the sweep runs while the app starts
(first paint: the chrome took ~0.43 s and the Stakes sweep ~0.5 s one after the other).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetctl.core.errors import UserError
from fleetctl.core.events import CancelToken

__all__ = ["FETCHES", "Prefetch", "alerts", "claims", "diversity", "fleet", "health", "plan", "stakes"]


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


class Prefetch:
    """One view's first fetch, running in a thread from before the app starts; its view takes
    it once (:meth:`wait` in the view's worker) instead of starting its own."""

    def __init__(self, view: str, source: Any,
                 fetch: Callable[[Any, CancelToken, OnEvent | None], Any] | None = None) -> None:
        self.view = view
        self.token = CancelToken()
        self.taken = False
        self._fetch = fetch or FETCHES[view]
        self._source = source
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._listener: OnEvent | None = None
        self._last_event: Any = None
        self._thread = threading.Thread(target=self._run, name=f"fleetctl tui: first {view} fetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._fetch(self._source, self.token, self._event)
        except BaseException as exc:  # noqa: BLE001 - handed to the view's worker, which shows it
            self._error = exc
        finally:
            self._done.set()

    def _event(self, event: Any) -> None:
        with self._lock:
            listener, self._last_event = self._listener, event
        if listener is not None:
            listener(event)

    def take(self, on_event: OnEvent | None = None) -> Callable[[CancelToken], Any] | None:
        """The fetch for the view's first refresh (once; None after); ``on_event`` hears its
        events from now on, the latest one first (progress that came before the view)."""
        if self.taken:
            return None
        self.taken = True
        with self._lock:
            self._listener, last = on_event, self._last_event
        if on_event is not None and last is not None and not self._done.is_set():
            on_event(last)
        return self.wait

    def wait(self, cancel: CancelToken) -> Any:
        """The result (or the fetch's exception) once ready; a cancelled ``cancel`` cancels it."""
        while not self._done.wait(0.05):
            if cancel.cancelled:
                self.token.cancel(cancel.reason or "cancelled")
                cancel.raise_if_cancelled()
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self) -> None:
        self.token.cancel("fleetctl tui quit")
