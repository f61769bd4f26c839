"""What every view shares: the chrome (breadcrumbs, ``:`` bar, status line, footer) and, for
table views, refreshing in a worker without moving the cursor, the live ``/`` filter, ``d``
describe, ``enter`` drill-down, ``l`` logs and ``esc`` back.

A table view says what it shows in four methods: :meth:`TableView.fetch` (one workflow's result,
called in a worker thread with a cancel token), :meth:`TableView.rows` (the result as
:class:`~fleetctl.tui.rows.Row` values), and optionally :meth:`TableView.drill` and
:meth:`TableView.logs` (the screen ``enter``/``l`` open for a row).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from fleetctl.core.errors import FleetError
from fleetctl.core.events import Cancelled, CancelToken
from fleetctl.core.redact import scrub
from fleetctl.tui.rows import Filter, Row, describe_text, parse_filter
from fleetctl.tui.widgets.command_bar import CommandBar
from fleetctl.tui.widgets.prompt import LinePrompt, Outcome
from fleetctl.tui.widgets.table import FleetTable

__all__ = ["Refreshed", "RefreshingView", "TableView", "ViewScreen", "error_line"]


def error_line(exc: BaseException) -> str:
    """One line for a failed fetch: a FleetError's own words, else the exception's type and text;
    URLs' credentials and tokens scrubbed."""
    text = str(exc) if isinstance(exc, FleetError) else f"{type(exc).__name__}: {exc}"
    return scrub(text.splitlines()[0] if text else type(exc).__name__, sink_style=False, limit=200)


class Refreshed(Message):
    """A fetch ended: its result, or the one-line error that replaced it; ``prepared``: what the
    view made of it in the worker thread (a table view's rows), None if nothing."""

    def __init__(self, result: Any, error: str | None, at: float, duration: float, prepared: Any = None) -> None:
        super().__init__()
        self.result = result
        self.error = error
        self.at = at
        self.duration = duration
        self.prepared = prepared
        #: when the view first held it back (the operator was typing), monotonic
        self.deferred_since: float | None = None


class ViewScreen(Screen[None]):
    """A view: breadcrumbs on top, the ``:`` bar, the body, a status line and the footer.

    A view with a ``/`` line (a filter, a search) sets :attr:`prompt`: while it is open the
    screen feeds it the keys it edits (they reach the screen before any non-priority binding),
    draws it at the left of the status line and calls :meth:`prompt_outcome`; the focus stays
    on the table, so the footer and the layout never change (tui/widgets/prompt.py)."""

    VIEW: ClassVar[str] = ""
    #: what the breadcrumbs call this screen
    crumb: str = ""

    def __init__(self, crumb: str | None = None) -> None:
        super().__init__()
        self.crumb = crumb or self.VIEW
        self.status_text = ""
        self.error: str | None = None
        self.prompt: LinePrompt | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="breadcrumbs", classes="breadcrumbs")
        bar = CommandBar()
        bar.display = False
        yield bar
        yield from self.compose_body()
        # the prompt (a filter, a search) is drawn in the status line: see set_status
        yield Static(id="status", classes="status")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        # one line, its width the screen's: no layout pass (it re-arranges and redraws the screen)
        self.query_one("#breadcrumbs", Static).update(self.app.breadcrumbs(), layout=False)  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        # one line, its width the screen's: no layout pass (it re-arranges and redraws the screen)
        self.query_one("#breadcrumbs", Static).update(self.app.breadcrumbs(), layout=False)  # type: ignore[attr-defined]

    def set_status(self, text: str, error: str | None = None) -> None:
        self.status_text, self.error = text, error
        line = Text()
        prompt = self.prompt
        if prompt is not None and prompt.is_open:
            line.append_text(prompt.render(width=max(20, min(60, self.size.width * 45 // 100))))
            line.append("  ")
        line.append(text)
        if self.app.options.read_only:  # type: ignore[attr-defined]
            line.append("  · read-only", style="bold yellow")
        if error:
            line.append("  · " + error, style="bold red")
        self.query_one("#status", Static).update(line, layout=False)  # one line: no layout pass

    # ------------------------------------------------------------------ the prompt
    def typing(self) -> bool:
        """Keys are text now (the prompt is open, or an input has the focus): no key bindings."""
        return (self.prompt is not None and self.prompt.is_open) or isinstance(self.focused, Input)

    def open_prompt(self, value: str = "") -> None:
        if self.prompt is not None:
            self.prompt.open(value)
            self.set_status(self.status_text, self.error)

    def on_key(self, event: events.Key) -> None:
        prompt = self.prompt
        if prompt is None or not prompt.is_open or isinstance(self.focused, Input):
            return
        outcome = prompt.feed(event.key, event.character)
        if outcome is None:
            return  # cursor keys, page keys, ctrl+c: the table's and the app's
        event.stop()
        event.prevent_default()
        self.prompt_outcome(outcome)

    def on_paste(self, event: events.Paste) -> None:
        prompt = self.prompt
        if prompt is None or not prompt.is_open or isinstance(self.focused, Input):
            return
        event.stop()
        self.prompt_outcome(prompt.insert(event.text))

    def prompt_outcome(self, outcome: Outcome) -> None:
        """The prompt's value changed, its cursor moved, or it was submitted or cancelled."""
        self.set_status(self.status_text, self.error)


class RefreshingView(ViewScreen):
    """A view that fetches in a worker thread and handles :class:`Refreshed`: one fetch at a time
    (a tick during a slow sweep asks for one more), on the app's interval (paused while the view
    is hidden, caught up when it shows again) and on ``ctrl+r``; closing the view cancels it."""

    _token: CancelToken | None = None
    filter: Filter = Filter()
    #: "never blocks typing": while keys come (one within TYPING_S), a refresh's own work (rows
    #: built in the worker, then applied on the screen's thread) waits for a pause, DEFER_S at most
    TYPING_S: ClassVar[float] = 0.15
    DEFER_S: ClassVar[float] = 2.0
    _inflight = False
    _again = False
    _timer: Timer | None = None
    refreshed_at: float | None = None
    refresh_duration: float = 0.0

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        raise NotImplementedError

    def prepare(self, result: Any) -> Any:
        """Called in the worker thread with a fetch's result: work that need not hold the screen
        (it must not touch widgets). What it returns arrives as :attr:`Refreshed.prepared`."""
        return None

    def workflow_event(self, event: Any) -> None:
        """A workflow's event during a fetch (in a worker thread: post a message, touch nothing)."""

    def start_timer(self) -> None:
        every = self.app.options.refresh_s  # type: ignore[attr-defined]
        if every and every > 0:
            self._timer = self.set_interval(every, self.start_refresh)

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
            every = self.app.options.refresh_s  # type: ignore[attr-defined]
            if self.refreshed_at is None or self.app.clock() - self.refreshed_at >= every:  # type: ignore[attr-defined]
                self.start_refresh()

    def on_unmount(self) -> None:
        if self._token is not None:
            self._token.cancel("view closed")

    def _fetcher(self) -> Callable[[CancelToken], Any]:
        override = self.app.fetcher(self)  # type: ignore[attr-defined]
        if override is not None:
            return override
        return lambda cancel: self.fetch(self.app.source, cancel)  # type: ignore[attr-defined]

    def start_refresh(self) -> None:
        """Fetch in a worker thread; one at a time (a tick during a slow sweep asks for one more)."""
        if self._inflight:
            self._again = True
            return
        self._inflight, self._again = True, False
        token = self._token = CancelToken()
        fetch = self._fetcher()
        clock = self.app.clock  # type: ignore[attr-defined]
        started = clock()
        collector = getattr(self.app, "collector", None)  # read here, on the screen's thread
        quiet_for = self.TYPING_S

        def typing() -> bool:
            return collector is not None and collector.since_input() < quiet_for

        def work() -> None:
            prepared = None
            try:
                result, error = fetch(token), None
            except Cancelled:
                result, error = None, "cancelled"
            except Exception as exc:  # noqa: BLE001 - shown in the status line; the view keeps its rows
                result, error = None, error_line(exc)
            ended = clock()
            if error is None:
                waited = 0.0  # the rows are CPU work: not while the operator types (one GIL)
                while waited < self.DEFER_S and typing() and not token.cancelled:
                    time.sleep(0.02)
                    waited += 0.02
                try:
                    prepared = self.prepare(result)
                except Exception as exc:  # noqa: BLE001 - a result the view cannot show is an error, not a crash
                    error = error_line(exc)
            self.post_message(Refreshed(result, error, ended, max(0.0, ended - started), prepared))

        self.run_worker(work, thread=True, group="refresh", exit_on_error=False, name=f"{self.VIEW}: refresh")

    def typing_now(self) -> bool:
        """A key or mouse input came within TYPING_S."""
        collector = getattr(self.app, "collector", None)
        return collector is not None and collector.since_input() < self.TYPING_S

    def held_back(self, message: Refreshed, apply: Callable[[Refreshed], None]) -> bool:
        """True if ``message`` waits (the operator is typing): ``apply`` is called again soon."""
        now = time.monotonic()
        if message.deferred_since is None:
            message.deferred_since = now
        if now - message.deferred_since < self.DEFER_S and self.typing_now():
            self.set_timer(0.05, lambda: apply(message))
            return True
        return False

    def refresh_ended(self, message: Refreshed) -> None:
        """After a view applied a result (or not): the status line, and the fetch asked for meanwhile."""
        if message.error is not None:
            when = datetime.fromtimestamp(message.at).strftime("%H:%M:%S")
            self.set_status(self._status(), f"refresh failed {when}: {message.error}")
        else:
            self.set_status(self._status())
        if self._again and self.is_attached:
            self.start_refresh()

    def _status(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ keys both kinds share
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter":
            return not self.typing()  # '/' typed in the filter is a character
        return True

    def action_refresh_now(self) -> None:
        self.start_refresh()

    def action_filter(self) -> None:
        self.open_prompt(self.filter.text)  # at once: the keys typed right after '/' are the filter's

    def prompt_outcome(self, outcome: Outcome) -> None:
        assert self.prompt is not None
        if outcome is Outcome.CANCELLED:
            self.clear_filter()
            return
        if outcome is Outcome.SUBMITTED:
            self.prompt.close()  # the filter stays (the status line says it); esc clears it
            self.filter_kept()
        elif outcome is Outcome.CHANGED:
            self.filter_typed(self.prompt.value)
        self.set_status(self._status(), self.error)

    def filter_typed(self, text: str) -> None:
        """The filter line's text changed: show the rows it keeps (now or once typing pauses)."""
        raise NotImplementedError

    def filter_kept(self) -> None:
        """``enter`` in the filter line: the filter as typed stays."""

    def clear_filter(self) -> None:
        raise NotImplementedError

    def action_back(self) -> None:
        if self.filter or (self.prompt is not None and self.prompt.is_open):
            self.clear_filter()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()


FILTER_PLACEHOLDER = "filter (regex; !text inverts; enter keeps it; esc clears)"


class TableView(RefreshingView):
    """A table of rows that refreshes on the app's interval and on ``ctrl+r``."""

    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = ()
    #: rows() runs in the worker thread (False: a view whose rows read state the keys change)
    ROWS_IN_WORKER: ClassVar[bool] = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "filter", key_display="/", priority=True),  # see the app's ':'
        Binding("enter", "drill", "open"),
        Binding("d", "describe", "describe"),
        Binding("l", "logs", "logs", show=False),
        Binding("ctrl+r", "refresh_now", "refresh"),
        Binding("escape", "back", "back"),
    ]

    def __init__(self, crumb: str | None = None) -> None:
        super().__init__(crumb)
        self.result: Any = None
        self.all_rows: list[Row] = []
        self.shown: list[Row] = []
        self.filter = Filter()
        self.prompt = LinePrompt("/", FILTER_PLACEHOLDER)
        self._summary: str | None = None

    def prepare(self, result: Any) -> list[Row] | None:
        """The rows, their cells as shown and their widths, built off the screen's thread."""
        if not self.ROWS_IN_WORKER:
            return None
        rows = self.rows(result)
        for row in rows:
            row.shown  # noqa: B018 - cached on the row
            row.widths  # noqa: B018
        return rows

    # ------------------------------------------------------------------ what a view says
    def rows(self, result: Any) -> list[Row]:
        raise NotImplementedError

    def summary(self, result: Any) -> str:
        """One line above the table (a report's status line)."""
        return ""

    def drill(self, row: Row) -> Screen[Any] | None:
        return None

    def logs(self, row: Row) -> Screen[Any] | None:
        return None

    # ------------------------------------------------------------------ chrome
    def compose_body(self) -> ComposeResult:
        yield Static(id="summary", classes="summary")
        table = FleetTable(id="table", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        # (Textual calls every class's on_mount/on_screen_resume in the MRO: no super() calls.)
        table = self.query_one("#table", DataTable)
        for label, width in self.COLUMNS:
            table.add_column(label, width=width, key=label)
        table.focus()
        self.set_status("loading…")
        self.start_refresh()
        self.start_timer()

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        if message.error is None and self.held_back(message, self._refreshed):
            return
        self._inflight = False
        if message.error is None:
            try:
                rows = message.prepared if message.prepared is not None else self.rows(message.result)
                summary = self.summary(message.result)
            except Exception as exc:  # noqa: BLE001 - a result the view cannot show is an error, not a crash
                message.error = error_line(exc)
            else:
                self.result, self.all_rows = message.result, rows
                self.refreshed_at, self.refresh_duration = message.at, message.duration
                # its height follows its text (one to three lines, wrapped to the width): a layout
                # pass when the text changed, none for the same summary again
                self.query_one("#summary", Static).update(Text(summary), layout=summary != self._summary)
                self._summary = summary
                self.render_rows()
        self.refresh_ended(message)

    def _status(self) -> str:
        parts = [self.crumb]
        if self.refreshed_at is not None:
            parts.append(f"{len(self.shown)}/{len(self.all_rows)} rows")
            parts.append(f"refreshed {datetime.fromtimestamp(self.refreshed_at).strftime('%H:%M:%S')} "
                         f"({self.refresh_duration:.1f} s)")
        else:
            parts.append("loading…")
        if self.filter:
            parts.append(f"filter /{self.filter.text}" + (" (literal)" if self.filter.literal else ""))
        every = self.app.options.refresh_s  # type: ignore[attr-defined]
        parts.append(f"every {every:g} s" if every else "refresh: ctrl+r")
        return " · ".join(parts)

    # ------------------------------------------------------------------ rows
    def current_row(self) -> Row | None:
        table = self.query_one("#table", DataTable)
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def render_rows(self) -> None:
        """Show the filtered rows; the cursor stays on the same key (else the same position)."""
        table = self.query_one("#table", FleetTable)
        before = self.current_row()
        index = table.cursor_row
        shown = self.filter.apply(self.all_rows)
        keys = [r.key for r in shown]
        if keys == [r.key for r in self.shown] and table.row_count == len(shown):
            table.update_cells(
                (i, j, new.shown[j])
                for i, (old, new) in enumerate(zip(self.shown, shown)) if old.cells != new.cells
                for j, cell in enumerate(new.cells) if j >= len(old.cells) or old.cells[j] != cell)
            self.shown = shown
            return
        self.shown = shown
        seen: set[str] = set()
        rows: list[tuple[str, tuple[Any, ...]]] = []
        for row in shown:
            key = row.key if row.key not in seen else f"{row.key}#{len(seen)}"
            seen.add(key)
            rows.append((key, row.shown))
        table.replace_rows(rows, [row.widths for row in shown])
        if not shown:
            return
        if before is not None and before.key in keys:
            index = keys.index(before.key)
        table.move_cursor(row=max(0, min(index, len(shown) - 1)), animate=False)

    # ------------------------------------------------------------------ keys
    def filter_typed(self, text: str) -> None:
        self.filter = parse_filter(text)
        self.render_rows()

    def clear_filter(self) -> None:
        assert self.prompt is not None
        self.prompt.close()
        self.prompt.value = ""
        self.filter = Filter()
        self.render_rows()
        self.set_status(self._status(), self.error)

    def action_describe(self) -> None:
        row = self.current_row()
        if row is None:
            self.app.notify("nothing selected", severity="warning")
            return
        from fleetctl.tui.widgets.describe import DescribeScreen

        self.app.push_screen(DescribeScreen(f"{row.key}", describe_text(row.data)))

    @on(DataTable.RowSelected, "#table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # the table took enter: open the row
        self.action_drill()

    def action_drill(self) -> None:
        row = self.current_row()
        if row is None:
            return
        screen = self.drill(row)
        if screen is not None:
            self.app.push_screen(screen)

    def action_logs(self) -> None:
        row = self.current_row()
        screen = self.logs(row) if row is not None else None
        if screen is None:
            self.app.notify("no logs for this row", severity="warning")
        else:
            self.app.push_screen(screen)
