"""``d``: every field the library has for the selected row, JSON-like (secrets scrubbed)."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static


class DescribeScreen(Screen[None]):
    BINDINGS = [("escape", "app.pop_screen", "back"), ("q", "app.pop_screen", "back")]

    def __init__(self, crumb: str, text: str) -> None:
        super().__init__()
        self.crumb = crumb
        self.text = text

    def compose(self) -> ComposeResult:
        yield Static(id="breadcrumbs", classes="breadcrumbs")
        with VerticalScroll(id="describe"):
            yield Static(Syntax(self.text, "json", theme="ansi_dark", word_wrap=True, background_color="default"),
                         id="describe-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#breadcrumbs", Static).update(self.app.breadcrumbs())  # type: ignore[attr-defined]
