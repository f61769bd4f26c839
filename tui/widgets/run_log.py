"""The streaming task log of a running job (apply, stake batch): one line per typed event.

:func:`event_line` says how an event reads (None: not logged); :class:`RunLog` is a RichLog that
keeps its lines' plain text too (what a test, or a search, reads). Messages come from hosts and
chains: never read as markup, secrets scrubbed.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from fleetctl.core.events import CheckDone, Event, HostTask, Progress, StepFinished, StepStarted, Warn
from fleetctl.core.redact import scrub

__all__ = ["MAX_LINES", "RunLog", "event_line"]

MAX_LINES = 5000

#: a host task's status as the log shows it
_STATUS_STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "unreachable": "bold red",
                 "ignored": "dim red", "skipped": "dim"}


def _clean(text: Any) -> str:
    return scrub(str(text), sink_style=False, limit=500)


def event_line(ev: Event) -> Text | None:
    """One event as a log line; None for what the log leaves out (a task starting on a host,
    progress counters: the per-host rows show them)."""
    if isinstance(ev, StepStarted):
        if ev.step == "task":
            return Text.assemble(("TASK ", "bold"), (f"[{_clean(ev.detail)}]", "bold"))
        if ev.step == "play":
            return Text.assemble(("PLAY ", "bold cyan"), (f"[{_clean(ev.detail)}]", "bold cyan"))
        return Text(f"{ev.job}: {ev.step}" + (f": {_clean(ev.detail)}" if ev.detail else ""), style="cyan")
    if isinstance(ev, HostTask):
        if ev.status == "started":
            return None
        line = Text()
        line.append(f"{ev.host}: ", style="bold")
        line.append(ev.status, style=_STATUS_STYLE.get(ev.status, ""))
        if ev.task:
            line.append(f": {_clean(ev.task)}")
        if ev.message:
            line.append(f": {_clean(ev.message)}", style="red" if ev.status in ("failed", "unreachable") else "")
        return line
    if isinstance(ev, StepFinished):
        style = "" if ev.ok else "bold red"
        return Text(f"{ev.job}: {ev.step}" + (f": {_clean(ev.detail)}" if ev.detail else ""), style=style)
    if isinstance(ev, Warn):
        return Text(f"{ev.job}: warning: {_clean(ev.message)}", style="yellow")
    if isinstance(ev, CheckDone):
        return Text(f"{ev.job}: {ev.target}: {ev.level.name}" + (f": {_clean(ev.summary)}" if ev.summary else ""))
    if isinstance(ev, Progress):
        return None
    return None


class RunLog(RichLog):
    """A bounded, auto-scrolling log; :attr:`plain` holds the same lines as text."""

    DEFAULT_CSS = """
    RunLog {
        height: 10;
        border-top: solid $panel-lighten-2;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002 - textual's name
        super().__init__(max_lines=MAX_LINES, wrap=False, markup=False, highlight=False, auto_scroll=True,
                         id=id, classes=classes)
        self.plain: deque[str] = deque(maxlen=MAX_LINES)

    def line(self, text: Text | str, style: str = "") -> None:
        """Append one line (a str is plain text, never markup)."""
        t = text if isinstance(text, Text) else Text(text, style=style)
        self.plain.append(t.plain)
        self.write(t)

    def event(self, ev: Event) -> None:
        t = event_line(ev)
        if t is not None:
            self.line(t)

    def reset(self) -> None:
        self.plain.clear()
        self.clear()
