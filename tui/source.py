"""What the views read and do: the inventory and the workflows, called from worker threads.

The one place the TUI touches the library. A view's fetch takes the :class:`Source` and a
:class:`~fleetctl.core.events.CancelToken` and returns one workflow's result; tests give the app
other fetchers (``FleetApp(fetchers={...})``) for deterministic screens. No textual here.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fleetctl.core.errors import UserError
from fleetctl.tui.options import TuiOptions

__all__ = ["Source", "SourceError"]


class SourceError(UserError):
    """The inventory cannot be used: one line per problem (the views show the first)."""


class Source:
    """The inventory (reloaded when its files change, as the CLI's cache does) and the store."""

    def __init__(self, options: TuiOptions, process: Any | None = None) -> None:
        self.options = options
        self._lock = threading.Lock()
        #: the fetch process (fleetctl.tui.fetch_process.FetchProcess) the views' reads go to, if any
        self.process = process

    @property
    def read_only(self) -> bool:
        return self.options.read_only

    def fleet(self) -> Any:
        """The fleet, loaded again when hosts.yml/fleet.yml changed (a scale apply adds suppliers)."""
        from fleetctl.spec.cache import load_inventory_cached
        from fleetctl.spec.errors import InventoryError

        with self._lock:
            try:
                return load_inventory_cached(self.options.inventory)
            except InventoryError as exc:
                raise SourceError("; ".join(str(e) for e in exc.errors[:3])) from None

    def db(self, fleet: Any | None = None) -> Path:
        """The state store the CLI would use (``--db``, else fleet.yml's, else the default)."""
        from fleetctl.state.db import resolve_db_path

        return resolve_db_path(self.options.db, fleet if fleet is not None else self.fleet())
