"""Every action's confirmation: what will happen, and the exact CLI command that does the same."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """``y``/enter on Yes goes ahead (True); ``n``/``esc`` refuses (False)."""

    BINDINGS = [("y", "answer(True)", "yes"), ("n", "answer(False)", "no"), ("escape", "answer(False)", "no")]

    def __init__(self, title: str, lines: Sequence[str], command: str, *, danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.command = command
        self.danger = danger

    def compose(self) -> ComposeResult:
        body = Text()
        for line in self.lines:
            body.append(line + "\n")
        with Vertical(id="confirm"):
            yield Static(Text(self.title_text, style="bold"), id="confirm-title")
            with VerticalScroll(id="confirm-scroll"):  # a long list scrolls; the buttons stay on screen
                yield Static(body, id="confirm-body")
            yield Static(Text.assemble(("same as: ", "dim"), (self.command, "bold")), id="confirm-command")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
