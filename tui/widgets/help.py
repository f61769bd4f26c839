"""``?``: every binding of the current view and of the app."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape", "app.pop_screen", "close"), ("q", "app.pop_screen", "close"),
                ("question_mark", "app.pop_screen", "close")]

    def __init__(self, view: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.view = view
        self.rows = rows

    def compose(self) -> ComposeResult:
        table = Table(title=f"keys: {self.view}", expand=True, show_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("does")
        table.add_column("where", style="dim")
        for key, what, where in self.rows:
            table.add_row(key, what, where)
        with VerticalScroll(id="help"):
            yield Static(table)
            yield Static(":fleet :diversity :stakes :health :scale :runs :claims :alerts (aliases :f :d :s :h "
                         ":sc :r :c :a) switch views; ctrl+p opens the command palette.", id="help-foot")
