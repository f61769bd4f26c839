"""Alerts: what ``fleetctl alerts list`` shows (firing first, then pending, muted, acked; then the
active silences), with ``m`` mute, ``a`` ack and ``u`` unmute of the selected row for a duration.

Each action is ``fleetctl alerts mute|ack|unmute`` against the same store (the confirmation shows
that command), after a ``--read-only`` check; it runs in a worker and the table refreshes after.
"""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message

from fleetctl.core.events import CancelToken
from fleetctl.tui.rows import Row, level_style
from fleetctl.tui.screens.base import TableView, error_line

__all__ = ["AlertsView", "alert_status", "cli_command"]

#: Rows in this order (then by key); the silences after every alert.
ORDER = {"firing": 0, "pending": 1, "muted": 2, "acked": 3, "resolved": 4}
STATUS_STYLE = {"firing": "bold red", "pending": "yellow", "muted": "dim", "acked": "cyan", "resolved": "green",
                "silence": "dim italic"}
#: ``fleetctl alerts ack``'s default (commands.alerts.DEFAULT_ACK); a mute has none: the TUI offers 1h.
DEFAULT_ACK = "24h"
DEFAULT_MUTE = "1h"


def _when(ts: float | None) -> str:
    """As ``fleetctl alerts list`` writes a time (UTC, to the minute)."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%MZ")


def alert_status(alert: Any) -> str:
    """firing, pending, muted (a silence matches it), acked (firing, acknowledged) or resolved."""
    if alert.state == "resolved":
        return "resolved"
    if alert.muted_until:
        return "muted"
    if alert.acked_until:
        return "acked"
    return str(alert.state)


def cli_command(action: str, pattern: str, db: Path | str, *, duration: str | None = None, reason: str = "") -> str:
    """The ``fleetctl alerts`` command that does what the TUI is about to do (``--db``: the store
    the view reads, so the command needs no inventory)."""
    parts = ["fleetctl", "alerts", action, pattern]
    if duration is not None:
        parts += ["--for", duration]
    if reason:
        parts += ["--reason", reason]
    parts += ["--db", str(Path(db).absolute())]
    return " ".join(shlex.quote(p) for p in parts)


class ActionDone(Message):
    """A mute/ack/unmute ended: what to say, and whether it went wrong."""

    def __init__(self, text: str, severity: str) -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class AlertsView(TableView):
    VIEW = "alerts"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("STATUS", 8), ("LEVEL", 8), ("KEY", 30), ("SINCE", 17), ("RUNS", 4), ("QUIET UNTIL", 17), ("MESSAGE", None),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mute", "mute"),
        Binding("a", "ack", "ack"),
        Binding("u", "unmute", "unmute"),
    ]

    # ------------------------------------------------------------------ the table
    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.tui import fetch

        return fetch.run("alerts", source, cancel)

    def summary(self, result: Any) -> str:
        counts = {k: 0 for k in ORDER}
        for a in result.alerts:
            counts[alert_status(a)] += 1
        text = (f"{counts['firing']} firing, {counts['pending']} pending, {counts['muted']} muted, "
                f"{counts['acked']} acked; {len(result.silences)} silence(s) · {result.db}")
        if result.corrupt:
            text += f" · {len(result.corrupt)} corrupted row(s) left out: fleetctl alerts repair"
        return text

    def rows(self, result: Any) -> list[Row]:
        rows: list[Row] = []
        alerts = sorted(result.alerts, key=lambda a: (ORDER.get(alert_status(a), 9), a.key))
        for a in alerts:
            status = alert_status(a)
            quiet = a.muted_until if status == "muted" else a.acked_until if status == "acked" else None
            rows.append(Row(
                key=f"alert:{a.key}",
                cells=(Text(status, style=STATUS_STYLE.get(status, "")), Text(a.level, style=level_style(_level(a.level))),
                       a.key, _when(a.since), str(a.runs), _when(quiet) if quiet else "", a.message),
                level=_level(a.level), data={"type": "alert", **a.as_dict()}))
        for s in sorted(result.silences, key=lambda s: s.id):
            matched = ", ".join(s.matches) if s.matches else "no open alert"
            rows.append(Row(
                key=f"silence:{s.id}",
                cells=(Text("silence", style=STATUS_STYLE["silence"]), "", f"#{s.id} {s.pattern}", _when(s.created_at),
                       "", _when(s.until), (f"{s.reason}; " if s.reason else "") + f"matches {matched}"),
                data={"type": "silence", **s.as_dict()}))
        return rows

    # ------------------------------------------------------------------ actions
    def _selected(self, what: str) -> tuple[Row, Path] | None:
        row = self.current_row()
        if row is None or self.result is None:
            self.app.notify(f"{what}: nothing selected", severity="warning")
            return None
        return row, Path(self.result.db)

    def _alert(self, row: Row) -> Any:
        key = row.data.get("key") if row.data.get("type") == "alert" else None
        return next((a for a in self.result.alerts if a.key == key), None) if key else None

    def action_mute(self) -> None:
        picked = self._selected("m")
        if picked is None:
            return
        row, db = picked
        alert = self._alert(row)
        if alert is None:
            self.app.notify("m: select an alert to mute (a silence row is already a mute: u removes it)",
                            severity="warning")
            return
        if self.app.refuse_if_read_only("mute"):  # type: ignore[attr-defined]
            return
        pattern = alert.key
        self._ask(f"mute {pattern} for how long?", DEFAULT_MUTE, True, lambda d: self.app.confirm(  # type: ignore[attr-defined]
            f"mute {pattern}",
            [f"hold back the notices of {pattern} (key or target matching it) for {d.text}, "
             f"until {_when(time.time() + d.seconds)}",
             "RESOLVED notices still go out; alerts that start meanwhile are muted too"]
            + ([f"reason: {d.reason}"] if d.reason else []),
            cli_command("mute", pattern, db, duration=d.text, reason=d.reason),
            then=lambda: self._run(f"mute {pattern}", lambda: _mute(db, pattern, d.seconds, d.reason))))

    def action_ack(self) -> None:
        picked = self._selected("a")
        if picked is None:
            return
        row, db = picked
        alert = self._alert(row)
        if alert is None:
            self.app.notify("a: select a firing alert to acknowledge", severity="warning")
            return
        if alert.state != "firing":
            self.app.notify(f"a: only a firing alert can be acknowledged ({alert.key} is {alert.state})",
                            severity="warning")
            return
        if self.app.refuse_if_read_only("ack"):  # type: ignore[attr-defined]
            return
        pattern = alert.key
        self._ask(f"acknowledge {pattern} for how long?", DEFAULT_ACK, False, lambda d: self.app.confirm(  # type: ignore[attr-defined]
            f"ack {pattern}",
            [f"no re-notify of {pattern} for {d.text}, until {_when(time.time() + d.seconds)}, or until it resolves",
             "an escalation still notifies"],
            cli_command("ack", pattern, db, duration=d.text),
            then=lambda: self._run(f"ack {pattern}", lambda: _ack(db, pattern, d.seconds))))

    def action_unmute(self) -> None:
        picked = self._selected("u")
        if picked is None:
            return
        row, db = picked
        if row.data.get("type") == "silence":
            ident, pattern = str(row.data.get("id")), str(row.data.get("pattern"))
            lines = [f"remove silence #{ident} ({pattern}, until {row.data.get('until')})"]
        else:
            alert = self._alert(row)
            if alert is None:
                self.app.notify("u: select an alert or a silence", severity="warning")
                return
            if not alert.muted_until and not alert.acked_until:
                self.app.notify(f"u: {alert.key} is neither muted nor acked", severity="warning")
                return
            ident = alert.key
            lines = [f"remove the silences whose pattern is {ident} and the ack of {ident}"]
            wider = [s for s in self.result.silences if alert.key in s.matches and s.pattern != alert.key]
            for s in wider:
                lines.append(f"silence #{s.id} ({s.pattern}) matches it too and stays: u on its row removes it")
        if self.app.refuse_if_read_only("unmute"):  # type: ignore[attr-defined]
            return
        self.app.confirm(f"unmute {ident}", lines, cli_command("unmute", ident, db),  # type: ignore[attr-defined]
                         then=lambda: self._run(f"unmute {ident}", lambda: _unmute(db, ident)))

    def _ask(self, title: str, default: str, reason: bool, then: Any) -> None:
        from fleetctl.tui.widgets.duration import DurationScreen

        def answered(duration: Any) -> None:
            if duration is None:
                self.app.notify(f"{title.split(' for ')[0]}: not done", timeout=3)
            else:
                then(duration)

        self.app.push_screen(DurationScreen(title, default, reason=reason), answered)

    def _run(self, what: str, job: Any) -> None:
        """The store write in a worker thread; the answer comes back as :class:`ActionDone`."""

        def work() -> None:
            try:
                text, severity = job()
            except Exception as exc:  # noqa: BLE001 - said in a notice; the view goes on
                text, severity = f"{what}: {error_line(exc)}", "error"
            self.post_message(ActionDone(text, severity))

        self.run_worker(work, thread=True, group="alerts-action", exit_on_error=False, name=f"alerts: {what}")

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        self.app.notify(message.text, severity=message.severity, timeout=6)  # type: ignore[arg-type]
        self.start_refresh()


def _level(name: str) -> Any:
    from fleetctl.core.levels import Level

    return Level.__members__.get(name)


def _mute(db: Path, pattern: str, seconds: float, reason: str) -> tuple[str, str]:
    from fleetctl.workflows import alerts as job

    silence = job.mute(db, pattern, seconds, reason)
    matches = f": {', '.join(silence.matches)}" if silence.matches else ""
    return (f"muted {pattern} until {_when(silence.until)} (silence #{silence.id}; "
            f"{len(silence.matches)} open alert(s) match{matches})", "information")


def _ack(db: Path, pattern: str, seconds: float) -> tuple[str, str]:
    from fleetctl.workflows import alerts as job

    acked = job.ack(db, pattern, seconds)
    if not acked:
        return f"ack: no firing alert matches {pattern!r} (it resolved meanwhile?)", "warning"
    return f"acked {len(acked)} alert(s) until {_when(time.time() + seconds)}: " + ", ".join(a.key for a in acked), \
        "information"


def _unmute(db: Path, pattern: str) -> tuple[str, str]:
    from fleetctl.workflows import alerts as job

    removed = job.unmute(db, pattern)
    if not removed:
        return f"unmute: no silence or ack matches {pattern!r}", "warning"
    return f"unmuted {pattern}: {removed} silence(s)/ack(s) removed", "information"
