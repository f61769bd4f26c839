"""When the TUI lets Python's cyclic garbage collector do a full collection: while the operator
is not typing.

CPython starts a full (generation 2) collection by itself once enough younger collections have
happened; it walks every tracked object and holds the UI thread meanwhile. With 1,500 rows on
screen (their cells, the table's caches, a sweep's result) that was 50-150 ms, a dozen times in
half a minute of typing a filter: the 99th percentile of key-press to screen (benchmarks/tui.py).
The young generations stay automatic (a few milliseconds at most); the full collection is moved
to the first quiet moment after it falls due (no key or mouse input for ``quiet_s``), and
happens regardless once it is ``overdue`` times as late as CPython would have made it (memory
stays bounded while someone types without a pause). Reference counting frees everything else
as it always does: only garbage in reference cycles waits.

No textual here: the app calls :meth:`IdleCollector.input_seen` on input and :meth:`tick` on a
timer; tests drive it with their own clock and collector.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

__all__ = ["IdleCollector"]

#: CPython's threshold for full collections when nobody set one (younger collections between two)
DEFAULT_FULL_THRESHOLD = 10
#: a threshold CPython never reaches by itself (the count of generation-1 collections)
NEVER = 1 << 30


class IdleCollector:
    """Holds the automatic full collections back and does them when input pauses."""

    def __init__(self, clock: Callable[[], float], *, quiet_s: float = 1.0, overdue: int = 20,
                 gc_module: Any = gc) -> None:
        self.clock = clock
        self.quiet_s = quiet_s
        self.overdue = overdue
        self.gc = gc_module
        self.last_input = float("-inf")
        self.collections = 0
        self._saved: tuple[int, ...] | None = None
        self._due = DEFAULT_FULL_THRESHOLD

    def start(self) -> None:
        """Take over full collections (the young generations keep their thresholds)."""
        if self._saved is not None:
            return
        saved = tuple(self.gc.get_threshold())
        self._saved = saved
        self._due = saved[2] if len(saved) > 2 and saved[2] > 0 else DEFAULT_FULL_THRESHOLD
        if saved and saved[0] == 0:
            return  # collection is disabled (gc.set_threshold(0)): leave it so
        self.gc.set_threshold(saved[0], saved[1], NEVER)

    def stop(self) -> None:
        """Give full collections back to CPython, as they were before :meth:`start`."""
        if self._saved is not None:
            self.gc.set_threshold(*self._saved)
            self._saved = None

    def input_seen(self) -> None:
        self.last_input = self.clock()

    def since_input(self) -> float:
        """Seconds since the last key or mouse input (read from any thread)."""
        return self.clock() - self.last_input

    def due(self) -> bool:
        """A full collection would have happened by now."""
        return self.gc.get_count()[2] >= self._due

    def tick(self) -> bool:
        """Collect if one is due and input paused, or if it is overdue; True if it collected."""
        if self._saved is None:
            return False
        pending = self.gc.get_count()[2]
        if pending < self._due:
            return False
        quiet = self.clock() - self.last_input >= self.quiet_s
        if not quiet and pending < self._due * self.overdue:
            return False
        self.gc.collect()
        self.collections += 1
        return True
