"""A container's log (``l`` in the Fleet view): its last lines, then the new ones as they come,
over the host's Docker engine (:func:`fleetctl.workflows.logs.tail`: fleetctl's containers only,
every line scrubbed of secrets and terminal escapes).

The tail is read in a worker thread; lines come back to the screen in batches (one message wakes
the screen, which takes every line that arrived meanwhile) and the screen keeps the last
:data:`MAX_LINES`. ``space`` (or ``p``) pauses: the tail keeps reading, the new lines are held
(the last :data:`MAX_LINES` of them) and shown on resume, which follows the end again. ``/``
searches (a regex, case-insensitive; text that is no regex is matched literally): every match is
highlighted as you type, ``enter`` jumps to the newest match and pauses, ``n``/``N`` go to the
next (newer) / previous (older) match. ``esc`` clears the search, else goes back: the tail is
closed (its cancel token set and ``close()`` called, which wakes a blocked read). Reading a log
changes nothing: ``--read-only`` allows it.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Any, ClassVar

from rich.highlighter import Highlighter
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Log, Static

from fleetctl.core.events import CancelToken
from fleetctl.tui.screens.base import ViewScreen, error_line
from fleetctl.tui.widgets.prompt import LinePrompt, Outcome

__all__ = ["MAX_LINES", "LogLines", "LogsView", "search_pattern"]

#: lines kept on screen, and held while paused
MAX_LINES = 5000
#: the past lines asked for when the log opens
TAIL_LINES = 200
#: what would split one log line into several on screen
_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
MATCH_STYLE = "black on yellow"
CURRENT_STYLE = Style(reverse=True, bold=True)


def search_pattern(text: str) -> re.Pattern[str] | None:
    """The search typed: a regex (case-insensitive), or the text itself when it is no regex."""
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(text), re.IGNORECASE)


class _Matches(Highlighter):
    def __init__(self) -> None:
        self.pattern: re.Pattern[str] | None = None

    def highlight(self, text: Text) -> None:
        if self.pattern is not None:
            text.highlight_regex(self.pattern, MATCH_STYLE)


class LogLines(Log):
    """The log's lines: matches of the search highlighted, the current match's line marked."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - textual's name
        super().__init__(highlight=True, max_lines=MAX_LINES, auto_scroll=True, id=id)
        self.matches = _Matches()
        self.highlighter = self.matches
        #: the line of the match jumped to (None: none)
        self.current: int | None = None

    def search(self, pattern: re.Pattern[str] | None) -> None:
        self.matches.pattern = pattern
        self.current = None
        self._render_line_cache.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.current is not None and self.scroll_offset.y + y == self.current:
            strip = Strip(list(Segment.apply_style(iter(strip), None, CURRENT_STYLE)), strip.cell_length)
        return strip


class _Lines(Message):
    """Lines arrived: the screen takes all that are waiting."""


class _Ended(Message):
    def __init__(self, error: str | None) -> None:
        super().__init__()
        self.error = error


class LogsView(ViewScreen):
    """One container's log; pushed by the Fleet view's ``l``."""

    VIEW = "logs"
    CSS_PATH = "../styles/fleet.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "pause/follow"),
        Binding("p", "pause", "pause/follow", show=False),
        Binding("slash", "search", "search", key_display="/", priority=True),  # see the app's ':'
        Binding("n", "next_match", "next match"),
        Binding("N", "previous_match", "previous match", key_display="N"),
        Binding("escape", "back", "back"),
    ]

    def __init__(self, host: str, container: str, *, lines: int = TAIL_LINES) -> None:
        super().__init__(crumb=f"{container} logs")
        self.host, self.container, self.lines = host, container, lines
        self.paused = False
        self.ended: str | None = None  # how the log ended (None while it runs)
        self.end_error: str | None = None
        self.received = 0
        #: lines read while paused (shown on resume)
        self.held: deque[str] = deque(maxlen=MAX_LINES)
        self.held_total = 0
        self.pattern: re.Pattern[str] | None = None
        self.prompt = LinePrompt("/", "search (regex; enter jumps to the newest match; esc clears)")
        self.token = CancelToken()
        self._lock = threading.Lock()
        self._waiting: deque[str] = deque(maxlen=MAX_LINES)
        self._dropped = 0
        self._woken = False
        self._tail: Any = None
        self._stopping = False

    # ------------------------------------------------------------------ chrome
    def compose_body(self) -> ComposeResult:
        yield Static(Text(f"{self.host}/{self.container}: the last {self.lines} lines, then new ones as they come"
                          " · space pause/follow · / search, n/N next/previous"), id="summary", classes="summary")
        yield LogLines(id="log")

    def on_mount(self) -> None:
        self.query_one("#log", LogLines).focus()
        self.set_status(self._status())
        self.run_worker(self._read, thread=True, group="logs", exit_on_error=False,
                        name=f"logs: {self.host}/{self.container}")

    def on_unmount(self) -> None:
        self.close_tail()

    # ------------------------------------------------------------------ the worker
    def _read(self) -> None:
        from fleetctl.workflows import logs

        try:
            tail = logs.tail(self.app.source.fleet(), self.host, self.container,  # type: ignore[attr-defined]
                             lines=self.lines, follow=True, cancel=self.token)
        except Exception as exc:  # noqa: BLE001 - LogsError, an inventory that cannot be read: one line
            self.post_message(_Ended(error_line(exc)))
            return
        with self._lock:
            self._tail = tail
            closing = self._stopping
        if closing:
            tail.close()
            return
        error = None
        try:
            for line in tail:
                if self.token.cancelled:
                    break
                with self._lock:
                    if len(self._waiting) == self._waiting.maxlen:
                        self._dropped += 1
                    self._waiting.append(line)
                    wake, self._woken = not self._woken, True
                if wake:
                    self.post_message(_Lines())
        except Exception as exc:  # noqa: BLE001 - the stream failed: said on screen
            error = error_line(exc)
        finally:
            tail.close()
        self.post_message(_Ended(error))

    def close_tail(self) -> None:
        """Stop reading: the token cancelled and the tail closed (a blocked read returns)."""
        with self._lock:
            self._stopping = True
            tail = self._tail
        self.token.cancel("logs closed")
        if tail is not None:
            tail.close()

    # ------------------------------------------------------------------ lines in
    @on(_Lines)
    def _take(self, message: _Lines) -> None:
        with self._lock:
            batch = list(self._waiting)
            self._waiting.clear()
            self._woken = False
            dropped, self._dropped = self._dropped, 0  # older than the last MAX_LINES: never shown
        if not batch:
            return
        batch = [_LINE_BREAKS.sub(" ", line) for line in batch]
        self.received += len(batch) + dropped
        if self.paused:
            self.held.extend(batch)
            self.held_total += len(batch) + dropped
        else:
            self.query_one("#log", LogLines).write_lines(batch)
        self.set_status(self._status(), self.error)

    @on(_Ended)
    def _ended(self, message: _Ended) -> None:
        self._take(_Lines())
        self.ended = "ended: the container stopped or the stream closed"
        self.end_error = message.error
        self.set_status(self._status(), message.error)

    def _status(self) -> str:
        """host/container · following|paused|ended · the search's matches · what is held · lines."""
        log = self.query_one("#log", LogLines)
        parts = [f"{self.host}/{self.container}"]
        if self.ended is not None:
            parts.append("log failed" if self.end_error else "log " + self.ended)
        parts.append("paused" if self.paused else "following")
        if self.pattern is not None:
            found = self.match_lines()
            at = f" (at {found.index(log.current) + 1})" if log.current is not None and log.current in found else ""
            parts.append(f"/{self.pattern.pattern}: {len(found)} match(es){at}")
        if self.held_total:
            kept = f", last {len(self.held)} kept" if self.held_total > len(self.held) else ""
            parts.append(f"{self.held_total} new held{kept} (space)")
        count = log.line_count
        parts.append(f"{count} lines" + (" (the last)" if count >= MAX_LINES else ""))
        return " · ".join(parts)

    # ------------------------------------------------------------------ keys
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search":
            return not self.typing()  # '/' typed in the search is a character
        return True

    def action_pause(self) -> None:
        log = self.query_one("#log", LogLines)
        if self.paused:
            self.paused = False
            held, self.held_total = list(self.held), 0
            self.held.clear()
            log.current = None
            if held:
                log.write_lines(held, scroll_end=True)
            log.scroll_end(animate=False)
        else:
            self.paused = True
        self.set_status(self._status(), self.error)

    def action_search(self) -> None:
        self.open_prompt(self.prompt.value if self.prompt is not None else "")  # at once: the next keys are its

    def prompt_outcome(self, outcome: Outcome) -> None:
        assert self.prompt is not None
        if outcome is Outcome.CANCELLED:
            self.clear_search()
            return
        if outcome is Outcome.CHANGED:
            self.pattern = search_pattern(self.prompt.value)
            self.query_one("#log", LogLines).search(self.pattern)
        elif outcome is Outcome.SUBMITTED:
            self.prompt.close()
            if self.pattern is not None:
                self._jump(newer=False, start=None)
        self.set_status(self._status(), self.error)

    def match_lines(self) -> list[int]:
        """The lines shown that match the search."""
        if self.pattern is None:
            return []
        search = self.pattern.search
        return [i for i, line in enumerate(self.query_one("#log", LogLines).lines) if search(line)]

    def _jump(self, *, newer: bool, start: int | None) -> None:
        """To the next match after ``start`` (newer) or before it; from the end when None; wraps."""
        found = self.match_lines()
        if not found:
            self.app.notify("no match" if self.pattern is not None else "no search: / to search", timeout=3)
            return
        if newer:
            target = next((i for i in found if start is None or i > start), found[0])
        else:
            target = next((i for i in reversed(found) if start is None or i < start), found[-1])
        self.paused = True  # stay on the match: new lines are held until space
        log = self.query_one("#log", LogLines)
        log.current = target
        log.scroll_to(y=max(0, target - log.scrollable_content_region.height // 2), animate=False)
        log.refresh()
        self.set_status(self._status(), self.error)

    def action_next_match(self) -> None:
        log = self.query_one("#log", LogLines)  # no match jumped to yet: from the top of the screen
        self._jump(newer=True, start=log.current if log.current is not None else log.scroll_offset.y - 1)

    def action_previous_match(self) -> None:
        log = self.query_one("#log", LogLines)  # ...or from its bottom
        start = log.current if log.current is not None else log.scroll_offset.y + log.scrollable_content_region.height
        self._jump(newer=False, start=start)

    def clear_search(self) -> None:
        assert self.prompt is not None
        self.prompt.value = ""
        self.prompt.close()
        self.pattern = None
        self.query_one("#log", LogLines).search(None)
        self.set_status(self._status(), self.error)

    def action_back(self) -> None:
        if self.pattern is not None or (self.prompt is not None and self.prompt.is_open):
            self.clear_search()
            return
        self.close_tail()
        self.app.pop_screen()
