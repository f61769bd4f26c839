"""The ``:`` command bar (k9s): a view's name or alias, completed as you type; enter goes there."""

from __future__ import annotations

from textual import on
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input

from fleetctl.tui.screens import VIEWS

WORDS = sorted({v.name for v in VIEWS} | {"quit", "help"})


class CommandBar(Input):
    """Hidden until ``:``; ``esc`` hides it again without doing anything."""

    BINDINGS = [("escape", "dismiss", "close")]

    class Go(Message):
        def __init__(self, command: str) -> None:
            super().__init__()
            self.command = command

    def __init__(self) -> None:
        super().__init__(placeholder=":fleet :diversity :stakes :health :scale :runs :claims :alerts  (esc closes)",
                         suggester=SuggestFromList(WORDS, case_sensitive=False), id="command-bar")

    def open(self) -> None:
        self.value = ""
        self.display = True
        self._before = self.screen.focused
        # Focus now, not on the next turn of the loop (Widget.focus defers it): the keys typed
        # right after ':' may already be queued, and they belong to the bar.
        self.screen.set_focus(self)

    def action_dismiss(self) -> None:
        self.value = ""
        self.display = False
        before = getattr(self, "_before", None)
        if before is not None and before is not self and before.is_attached:
            self.screen.set_focus(before)  # back where the operator was (the table, a tree)
        else:
            self.screen.set_focus(None)
            self.screen.focus_next()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        command = event.value.strip().lstrip(":")
        self.action_dismiss()
        if command:
            self.post_message(self.Go(command))
