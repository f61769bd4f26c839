"""The App: one mode per view (k9s' resources), the ``:`` command bar, ``?`` help, quitting.

Switching views keeps each view's screen (cursor, filter, drill-down stack): ``:stakes`` then
``:health`` then ``:stakes`` is where you were. The views come from :data:`fleetctl.tui.screens.VIEWS`.
"""

from __future__ import annotations

import gc
import importlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from fleetctl.core.events import CancelToken
from fleetctl.tui.fetch import Prefetch
from fleetctl.tui.gc_policy import IdleCollector
from fleetctl.tui.options import TuiOptions
from fleetctl.tui.screens import VIEWS, ViewInfo, resolve
from fleetctl.tui.screens.base import RefreshingView
from fleetctl.tui.source import Source

__all__ = ["FleetApp", "Fetcher"]

Fetcher = Callable[[CancelToken], Any]


def _factory(view: ViewInfo) -> Callable[[], Screen[Any]]:
    def make() -> Screen[Any]:
        cls = getattr(importlib.import_module(view.module), view.cls)
        return cls()
    return make


class FleetApp(App[int]):
    """``fleetctl tui``. ``fetchers`` (tests, benchmarks) replace a view's fetch by name."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "fleetctl"
    ENABLE_COMMAND_PALETTE = True
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {v.name: _factory(v) for v in VIEWS}
    BINDINGS: ClassVar[list[BindingType]] = [
        # A priority binding runs as the key arrives, before the keys typed after it are handed to
        # a widget: ':' then 'stakes' typed fast (or while a sweep keeps the loop busy) all lands in
        # the bar. Not while an input has the focus (':' is then a character).
        Binding("colon", "command_bar", "command", key_display=":", priority=True),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(self, options: TuiOptions, *, source: Source | None = None,
                 fetchers: Mapping[str, Fetcher] | None = None, clock: Callable[[], float] | None = None,
                 prefetch: Prefetch | None = None) -> None:
        super().__init__()
        self.options = options
        #: the wall clock the status lines show (a snapshot test fixes it)
        self.clock: Callable[[], float] = clock or time.time
        self.source = source or Source(options)
        self.fetchers: dict[str, Fetcher] = dict(fetchers or {})
        #: the first view's first fetch, started before the app (fleetctl tui: first paint)
        self.prefetch = prefetch
        #: full garbage collections while the operator is not typing (tui/gc_policy.py)
        self.collector = IdleCollector(time.monotonic)

    # ------------------------------------------------------------------ views
    def on_mount(self) -> None:
        start = resolve(self.options.start)
        self.switch_mode(start.name if start else "fleet")
        # What exists now (textual, the library, the app and its screens: most of the process's
        # objects) lives as long as the app: the cyclic collector need never scan it again. A
        # full collection over it paused the screen ~100 ms now and then (the p99 of a refresh).
        gc.freeze()
        self.collector.start()
        self.set_interval(0.25, self.collector.tick, name="idle garbage collection")
        process = getattr(self.source, "process", None)
        if process is not None:  # results from the fetch process wait for a pause in the typing
            collector = self.collector
            process.hold = lambda: collector.since_input() < RefreshingView.TYPING_S

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.input_seen()
        await super().on_event(event)

    def fetcher(self, screen: Any) -> Fetcher | None:
        """A test's or benchmark's fetch for ``screen`` (by its crumb, then its view); else, once,
        the prefetch started for the first view's own screen; else None (the view's own fetch)."""
        override = self.fetchers.get(getattr(screen, "crumb", "")) or self.fetchers.get(getattr(screen, "VIEW", ""))
        if override is not None:
            return override
        view = getattr(screen, "VIEW", "")
        if self.prefetch is not None and view == self.prefetch.view and getattr(screen, "crumb", "") == view:
            return self.prefetch.take(getattr(screen, "workflow_event", None))
        return None

    def on_unmount(self) -> None:
        self.collector.stop()
        if self.prefetch is not None:
            self.prefetch.cancel()  # a quit before the first fetch ended stops it

    def go(self, word: str) -> bool:
        """Switch to the view ``word`` names (``:stakes``, ``:s``); False (and a notice) if none."""
        view = resolve(word)
        if view is None:
            names = " ".join(f":{v.name}" for v in VIEWS)
            self.notify(f"no view '{word}': {names}", severity="error")
            return False
        if self.current_mode != view.name:
            self.switch_mode(view.name)
        return True

    def breadcrumbs(self) -> str:
        crumbs = [str(getattr(s, "crumb", "")) for s in self.screen_stack]
        return " ▸ ".join(["fleetctl", *[c for c in crumbs if c]])

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "command_bar":  # not while keys are text (a prompt is open, an input has the focus)
            from textual.widgets import Input

            typing = getattr(self.screen, "typing", None)
            return not (typing() if callable(typing) else isinstance(self.focused, Input))
        return True

    def action_command_bar(self) -> None:
        from fleetctl.tui.widgets.command_bar import CommandBar

        bars = self.screen.query(CommandBar)
        if bars:
            bars.first().open()

    def on_command_bar_go(self, message: Any) -> None:
        command = message.command.strip().lower()
        if command in ("q", "quit", "q!"):
            self.exit(0)
        elif command in ("help", "?"):
            self.action_help()
        else:
            self.go(command)

    def action_help(self) -> None:
        from fleetctl.tui.widgets.help import HelpScreen

        rows: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str]] = set()
        # Every binding from the focused widget up to the app (a table's enter and the view's
        # enter both listed: the view's is what enter does on a row).
        for node in self.screen.focused.ancestors_with_self if self.screen.focused else [self.screen, self]:
            for key, b in node._bindings:
                if not b.description or (key, b.description) in seen:
                    continue
                seen.add((key, b.description))
                where = "app" if node is self else type(node).__name__
                rows.append((b.key_display or self.get_key_display(b), b.description, where))
        view = str(getattr(self.screen, "crumb", "") or self.current_mode)
        self.push_screen(HelpScreen(view, rows))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for v in VIEWS:
            yield SystemCommand(f"View: {v.name}", v.summary, lambda name=v.name: self.go(name))

    # ------------------------------------------------------------------ guards
    def refuse_if_read_only(self, what: str) -> bool:
        """True (and says so) when started with --read-only: the caller changes nothing."""
        if not self.options.read_only:
            return False
        self.notify(f"read-only: {what} refused (fleetctl tui was started with --read-only)",
                    severity="warning", timeout=6)
        return True

    def confirm(self, title: str, lines: list[str], command: str, then: Callable[[], None], *,
                danger: bool = False) -> None:
        """Ask (showing ``command``, the CLI line that does the same); run ``then`` on yes."""
        from fleetctl.tui.widgets.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                then()
            else:
                self.notify(f"{title}: not done", timeout=3)

        self.push_screen(ConfirmScreen(title, lines, command, danger=danger), answered)


def run(options: TuiOptions, *, source: Source | None = None, prefetch: Prefetch | None = None) -> int:
    app = FleetApp(options, source=source, prefetch=prefetch)
    code = app.run()
    return int(code or 0)
