"""Ask how long (a mute, an ack): a duration as the CLI takes it (``90s``, ``30m``, ``4h``, ``2d``
or seconds), and optionally a reason. A bad duration is one line under the field; nothing is
returned until it is right, ``esc`` returns None."""

from __future__ import annotations


from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from fleetctl.core.records import record
from fleetctl.core.errors import UserError
from fleetctl.workflows.alerts import silence_seconds

__all__ = ["Duration", "DurationScreen", "duration_error"]


@record(frozen=True)
class Duration:
    text: str  # as typed (what the CLI command repeats)
    seconds: float
    reason: str = ""


def duration_error(text: str) -> str | None:
    """None when ``text`` is a duration the CLI accepts, else one line saying why not."""
    try:
        silence_seconds(text, "duration")  # the rule `fleetctl alerts mute/ack --for` applies
    except UserError as exc:
        return str(exc)
    return None


class DurationScreen(ModalScreen[Duration | None]):
    """``enter`` in a field submits; ``esc`` gives up (None)."""

    BINDINGS = [("escape", "give_up", "cancel")]
    DEFAULT_CSS = """
    DurationScreen { align: center middle; }
    #duration-box { width: 70; max-width: 95%; height: auto; border: thick $accent; background: $surface;
                    padding: 1 2; }
    #duration-box Input { margin-top: 1; }
    #duration-error { color: $error; height: auto; }
    """

    def __init__(self, title: str, default: str, *, reason: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.ask_reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="duration-box"):
            yield Static(Text(self.title_text, style="bold"), id="duration-title")
            yield Input(value=self.default, placeholder="how long: 90s, 30m, 4h, 2d", id="duration")
            if self.ask_reason:
                yield Input(placeholder="reason (optional, shown by alerts list)", id="duration-reason")
            yield Static("", id="duration-error")

    def on_mount(self) -> None:
        self.query_one("#duration", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = self.query_one("#duration", Input).value.strip()
        error = duration_error(text)
        if error is not None:
            self.query_one("#duration-error", Static).update(Text(error))
            self.query_one("#duration", Input).focus()
            return
        seconds = silence_seconds(text, "duration")
        reason = ""
        if self.ask_reason:
            reason = " ".join(self.query_one("#duration-reason", Input).value.split())
        self.dismiss(Duration(text, seconds, reason))

    def action_give_up(self) -> None:
        self.dismiss(None)
