"""Runs: what ``fleetctl plan`` says as a diff per host (``+`` create, ``~`` recreate, ``-``
remove), then ``fleetctl apply`` with per-host progress and the streaming task log; ``s``: the
stake batch the same way (``fleetctl stake --batch``: the dry run, then ``--execute --host``).

Every job runs in a worker thread with a :class:`~fleetctl.core.events.CancelToken`; its typed
events come back as messages (the rows and the log follow them); ``ctrl+x`` cancels it at the
workflow's next safe point (before apply's next task, between two suppliers of a batch), and
quitting the TUI cancels it the same way. One job at a time: a second one is refused while the
first runs. Each confirmation shows the exact ``fleetctl`` command that does the same.
"""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError, UserError
from fleetctl.core.events import (
    Cancelled, CancelToken, Event, EventSink, HostTask, Progress, StepFinished, StepStarted, Warn,
)
from fleetctl.core.redact import scrub
from fleetctl.core.units import format_upokt
from fleetctl.tui.rows import Row
from fleetctl.tui.screens.base import TableView, error_line
from fleetctl.tui.widgets.run_log import RunLog

if TYPE_CHECKING:
    from fleetctl.tui.app import FleetApp
    from fleetctl.tui.options import TuiOptions

__all__ = [
    "HostPlanView", "JobDone", "JobEvent", "RunsView", "StakeBatchView", "cli_command", "plan_line",
]

#: a plan action as the diff shows it
SIGNS = {"create": ("+", "green"), "recreate": ("~", "yellow"), "remove": ("-", "red"), "leave": ("=", "dim")}
#: the most actions a confirmation lists one by one
CONFIRM_LINES = 14


def cli_command(options: TuiOptions, *words: str) -> str:
    """The ``fleetctl`` command line that does what the TUI is about to do: ``-i`` the inventory
    unless ``$FLEETCTL_INVENTORY`` already names it; words quoted for a POSIX shell."""
    parts = ["fleetctl"]
    env = os.environ.get("FLEETCTL_INVENTORY")
    if not (env and _same_path(env, options.inventory)):
        parts += ["-i", options.inventory]
    return shlex.join([*parts, *words])


def _same_path(a: str, b: str) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return a == b


def _clean(text: Any) -> str:
    """A host's or a chain's words for a cell: one line, URLs' credentials and tokens scrubbed."""
    return scrub(str(text or ""), sink_style=False, limit=2000)


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else ("" if cell is None else str(cell))


def _article(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def plan_line(plan: Any) -> str:
    """``fleetctl plan``'s last line."""
    by = {k: sum(1 for a in plan.actions if a.action == k) for k in ("create", "recreate", "remove", "leave")}
    return (f"plan: {plan.changes} change(s): {by['create']} to create, {by['recreate']} to recreate, "
            f"{by['remove']} to remove, {by['leave']} unchanged"
            + (" (offline: against an empty fleet)" if plan.offline else ""))


def _diff_cell(actions: list[Any], unreachable: str | None) -> Text:
    if unreachable is not None:
        return Text("UNREACHABLE", style="bold red")
    counts = {k: sum(1 for a in actions if a.action == k) for k in SIGNS}
    cell = Text()
    for kind in ("create", "recreate", "remove"):
        if counts[kind]:
            sign, style = SIGNS[kind]
            cell.append(f"{sign}{counts[kind]} ", style=style)
    if not cell.plain:
        cell.append("no change ", style="dim")
    if counts["leave"]:
        cell.append(f"={counts['leave']}", style="dim")
    cell.rstrip()
    return cell


# ---------------------------------------------------------------------------------------------
# jobs: a worker thread, its events and its end as messages, ctrl+x
# ---------------------------------------------------------------------------------------------


class JobEvent(Message):
    """A running job's typed event, posted from its worker thread."""

    def __init__(self, job: int, event: Event) -> None:
        super().__init__()
        self.job = job
        self.event = event


class JobDone(Message):
    """A job ended: its result (the workflow's), or the one-line error that stopped it."""

    def __init__(self, job: int, result: Any, error: str | None) -> None:
        super().__init__()
        self.job = job
        self.result = result
        self.error = error


@record
class Job:
    id: int
    kind: str  # "apply" | "stake batch"
    command: str
    view: JobView
    token: CancelToken = field(default_factory=CancelToken)
    done: bool = False


class JobSlot:
    """The one job the Runs view and its screens may run at a time."""

    def __init__(self) -> None:
        self.job: Job | None = None

    def running(self) -> Job | None:
        return self.job if self.job is not None and not self.job.done else None


_JOB_IDS = itertools.count(1)


class JobView(TableView):
    """A table view that runs one job at a time in a worker, with a job line and its task log."""
    ROWS_IN_WORKER = False  # its rows follow the live job's progress

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x", "cancel_job", "cancel job", priority=True),
    ]

    def __init__(self, crumb: str | None = None, slot: JobSlot | None = None) -> None:
        super().__init__(crumb)
        self.slot = slot or JobSlot()
        self.job: Job | None = None
        self.job_text = ""

    @property
    def fleet_app(self) -> FleetApp:
        return cast("FleetApp", self.app)

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        line = Static(id="job-line", classes="job-line")
        log = RunLog(id="run-log")
        line.display = log.display = False  # shown from the first job on: the table has the room till then
        yield line
        yield log

    @property
    def log_widget(self) -> RunLog:
        return self.query_one("#run-log", RunLog)

    # ------------------------------------------------------------------ the job's life
    def refuse_if_busy(self) -> bool:
        running = self.slot.running()
        if running is None:
            return False
        self.app.notify(f"{_article(running.kind)} is running (ctrl+x cancels it): not started",
                        severity="warning", timeout=5)
        return True

    def start_job(self, kind: str, command: str, work: Callable[[EventSink, CancelToken], Any]) -> Job | None:
        """Run ``work(on_event, cancel)`` in a worker thread; its events and its end come back as
        :class:`JobEvent` / :class:`JobDone`. None (and a notice) when a job is running."""
        if self.refuse_if_busy():
            return None
        job = self.slot.job = self.job = Job(next(_JOB_IDS), kind, command, self)

        def sink(ev: Event) -> None:
            self.post_message(JobEvent(job.id, ev))

        def run() -> None:
            try:
                result, error = work(sink, job.token), None
            except Cancelled as exc:
                result, error = None, f"cancelled: {error_line(exc)}"
            except Exception as exc:  # noqa: BLE001 - shown on the job line and in the log
                result, error = None, error_line(exc)
            self.post_message(JobDone(job.id, result, error))

        log = self.log_widget
        log.display = True
        log.reset()
        log.line(f"$ {command}", style="dim")
        self.set_job_line(f"{kind}: starting… · ctrl+x cancels")
        self.run_worker(run, thread=True, group="job", exit_on_error=False, name=f"{self.VIEW}: {kind}")
        return job

    @on(JobEvent)
    def _job_event(self, message: JobEvent) -> None:
        message.stop()
        if self.job is None or message.job != self.job.id:
            return
        self.log_widget.event(message.event)
        self.job_event(message.event)

    @on(JobDone)
    def _job_done(self, message: JobDone) -> None:
        message.stop()
        job = self.job
        if job is None or message.job != job.id:
            return
        job.done = True
        if message.error is not None:
            self.log_widget.line(f"{job.kind}: {message.error}", style="bold red")
        self.job_done(message.result, message.error)

    def job_event(self, ev: Event) -> None:
        """A running job's event (the log has it already): update the rows and the job line."""

    def job_done(self, result: Any, error: str | None) -> None:
        """The job ended: show its result (or ``error``)."""

    def set_job_line(self, text: str | Text) -> None:
        self.job_text = text.plain if isinstance(text, Text) else text
        line = self.query_one("#job-line", Static)
        line.display = True
        line.update(text if isinstance(text, Text) else Text(text))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            return True if self.slot.running() is not None else None  # shown, greyed when idle
        return super().check_action(action, parameters)

    def action_cancel_job(self) -> None:
        job = self.slot.running()
        if job is None:
            self.app.notify("nothing is running", timeout=3)
            return
        if job.token.cancelled:
            self.app.notify(f"{job.kind}: already stopping at the next safe point", timeout=3)
            return
        job.token.cancel("cancelled from the TUI (ctrl+x)")
        job.view.job_cancelling()

    def job_cancelling(self) -> None:
        self.log_widget.line("ctrl+x: stopping at the next safe point…", style="bold yellow")

    def on_unmount(self) -> None:
        # Quitting (or closing the view) while a job runs: the workflow stops at its next safe point.
        if self.job is not None and not self.job.done:
            self.job.token.cancel("the TUI closed")

    def start_refresh(self) -> None:
        if self.job is not None and not self.job.done:  # the rows are the job's until it ends
            return
        super().start_refresh()

    def update_rows(self) -> None:
        """The rows again from the current result (a job's progress changed them)."""
        if self.result is None:
            return
        self.all_rows = self.rows(self.result)
        self.render_rows()

    def render_rows(self) -> None:
        super().render_rows()
        # A cell updated in place does not widen its column: the last (free-width) column is
        # widened to its longest cell, or a task name that came with an event would be cut.
        table = self.query_one("#table", DataTable)
        for j, (_, width) in enumerate(self.COLUMNS):
            if width is not None or j >= len(table.ordered_columns) or not self.shown:
                continue
            lengths = [Text(_plain(r.cells[j]) if j < len(r.cells) else "").cell_len for r in self.shown]
            i = max(range(len(lengths)), key=lengths.__getitem__)
            if lengths[i] > table.ordered_columns[j].content_width:
                cell = self.shown[i].cells[j]
                table.update_cell_at(Coordinate(i, j), cell if isinstance(cell, Text) else Text(str(cell)),
                                     update_width=True)


# ---------------------------------------------------------------------------------------------
# Runs: the plan per host, apply
# ---------------------------------------------------------------------------------------------


@record
class HostProgress:
    """One targeted host during an apply: its counts (``tally``'s), tasks with a result, the task
    running on it, the last problem."""

    result: Any  # fleetctl.provision.apply.HostResult
    tasks: int = 0
    task: str = ""
    problem: str = ""
    seen: bool = False


@record
class ApplyRun:
    hosts: dict[str, HostProgress]
    limit: list[str] | None
    task: str = ""
    play: str = ""
    result: Any = None  # fleetctl.provision.apply.ApplyResult
    error: str | None = None
    stopping: bool = False

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None


class RunsView(JobView):
    """The plan per host (``enter``: that host's actions); ``a`` applies the selected (or the
    marked) hosts, ``A`` every host; ``s`` opens the stake batch."""

    VIEW = "runs"
    CSS_PATH = "../styles/runs.tcss"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("HOST", 12), ("PLAN", 13), ("RUN", 12), ("TASKS", 5), ("OK", 3), ("CHG", 3), ("FAIL", 4), ("NOW", None),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "apply", "apply host"),
        Binding("A", "apply_all", "apply all"),
        Binding("space", "mark", "mark", key_display="space"),
        Binding("s", "stake_batch", "stake batch"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run: ApplyRun | None = None
        self.marked: set[str] = set()

    # ------------------------------------------------------------------ the plan
    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.tui import fetch

        return fetch.plan(source, cancel)

    def summary(self, result: Any) -> str:
        lines = [plan_line(result)]
        if result.unreachable:
            lines.append("UNREACHABLE: " + "; ".join(f"{h} ({e})" for h, e in sorted(result.unreachable.items())))
        notes = list(result.placement.notes)
        if notes:
            lines.append(f"note: {notes[0]}" + (f" (+{len(notes) - 1} more: d describes)" if len(notes) > 1 else ""))
        return "\n".join(lines)

    def rows(self, result: Any) -> list[Row]:
        by_host: dict[str, list[Any]] = {}
        for a in result.actions:
            by_host.setdefault(a.host, []).append(a)
        rows = []
        for host in sorted(set(result.fleet.hosts) | set(by_host)):
            actions = by_host.get(host, [])
            unreachable = result.unreachable.get(host)
            name = Text(("✓ " if host in self.marked else "") + host, style="bold" if host in self.marked else "")
            run_cells, run_data = self._run_cells(host)
            data: dict[str, Any] = {
                "host": host,
                "address": getattr(result.fleet.hosts.get(host), "address", None),
                "unreachable": unreachable,
                "changes": sum(1 for a in actions if a.action != "leave"),
                "actions": [a.as_dict() for a in actions],
            }
            if run_data is not None:
                data["run"] = run_data
            rows.append(Row(key=host, cells=(name, _diff_cell(actions, unreachable), *run_cells), data=data))
        return rows

    def _run_cells(self, host: str) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
        run = self.run
        hp = run.hosts.get(host) if run is not None else None
        if run is None or hp is None:
            return ("", "", "", "", "", ""), None
        r = hp.result
        status, style, now = self._host_status(run, host, hp)
        cells = (Text(status, style=style), str(hp.tasks), str(r.ok), str(r.changed), str(r.failed), _clean(now))
        data = {"status": status, "tasks": hp.tasks, "ok": r.ok, "changed": r.changed, "failed": r.failed,
                "unreachable": r.unreachable, "skipped": r.skipped, "task": hp.task, "messages": list(r.messages[:5])}
        return cells, data

    @staticmethod
    def _host_status(run: ApplyRun, host: str, hp: HostProgress) -> tuple[str, str, str]:
        """(status, style, what the NOW column says) of one targeted host."""
        r = hp.result
        res = run.result
        if res is not None:
            if res.cancelled and host in res.hosts_left:
                where = f"before '{res.stopped_before}'" if res.stopped_before else "before its first task"
                return "not finished", "bold yellow", f"stopped {where}"
            status = r.status
            style = {"ok": "green", "changed": "yellow"}.get(status, "bold red")
            return status, style, (r.messages[0] if r.messages else "")
        if run.error is not None:
            return "error", "bold red", run.error
        if r.unreachable:
            return "unreachable", "bold red", hp.problem
        if r.failed:
            return "failed", "bold red", hp.problem
        if run.stopping:
            return "stopping", "yellow", hp.task
        if hp.seen:
            return "running", "cyan", hp.task
        return "queued", "dim", ""

    # ------------------------------------------------------------------ drill-down, marks
    def drill(self, row: Row) -> Screen[Any] | None:
        return HostPlanView(self, row.key)

    def action_mark(self) -> None:
        row = self.current_row()
        if row is None:
            return
        self.marked.symmetric_difference_update({row.key})
        self.update_rows()

    def action_stake_batch(self) -> None:
        self.app.push_screen(StakeBatchView(self.slot))

    # ------------------------------------------------------------------ apply
    def action_apply(self) -> None:
        if self.marked:
            self.apply(sorted(self.marked))
            return
        row = self.current_row()
        if row is None:
            self.app.notify("no host selected", severity="warning")
            return
        self.apply([row.key])

    def action_apply_all(self) -> None:
        self.apply(None)

    def apply(self, limit: list[str] | None) -> None:
        """Confirm, then run ``fleetctl apply [--limit HOSTS]`` with the plan on screen."""
        if self.fleet_app.refuse_if_read_only("apply") or self.refuse_if_busy():
            return
        plan = self.result
        if plan is None:
            self.app.notify("no plan yet (ctrl+r plans again)", severity="warning")
            return
        from fleetctl.workflows import apply as workflow

        try:
            limit = workflow.check_limit(plan.fleet, limit)
        except FleetError as exc:
            self.app.notify(str(exc), severity="error")
            return
        targets = limit or sorted(plan.fleet.hosts)
        command = cli_command(self.fleet_app.options, "apply", *(["--limit", ",".join(limit)] if limit else []),
                              "--yes")
        actions = [a for a in plan.actions if a.host in targets and a.action != "leave"]
        removes = sum(1 for a in actions if a.action == "remove")
        where = ", ".join(targets) if limit else f"every host ({len(targets)})"
        lines = [f"run the playbooks on {where}: {len(actions)} change(s) planned"]
        for a in actions[:CONFIRM_LINES]:
            sign = SIGNS[a.action][0]
            what = " ".join(x for x in (a.role, a.chain, a.client) if x)
            lines.append(f"  {sign} {a.host}: {a.target} ({what}): {a.reason}")
        if len(actions) > CONFIRM_LINES:
            lines.append(f"  … and {len(actions) - CONFIRM_LINES} more (enter on a host lists its actions)")
        for host in targets:
            if host in plan.unreachable:
                lines.append(f"{host}: UNREACHABLE when planned ({plan.unreachable[host]}): apply will fail there")
        if not actions:
            lines.append("nothing to change: the playbooks only check that every host is as fleet.yml says")
        lines.append("ctrl+x stops the run before its next task; apply again converges")
        title = f"Apply {len(actions)} change(s) to {len(targets)} host(s)?"
        self.fleet_app.confirm(title, lines, command, then=lambda: self._run_apply(plan, limit, command),
                               danger=removes > 0)

    def _run_apply(self, plan: Any, limit: list[str] | None, command: str) -> None:
        from fleetctl.provision.apply import HostResult
        from fleetctl.workflows import apply as workflow

        if self.refuse_if_busy():
            return
        targets = limit or sorted(plan.fleet.hosts)
        fleet = plan.fleet

        def work(on_event: EventSink, cancel: CancelToken) -> Any:
            return workflow.execute(fleet, plan, limit=limit, on_event=on_event, cancel=cancel)

        run = ApplyRun({h: HostProgress(HostResult()) for h in targets}, limit)
        previous, self.run = self.run, run
        if self.start_job("apply", command, work) is None:
            self.run = previous
            return
        self.marked.clear()
        self._apply_line()
        self.update_rows()

    def job_event(self, ev: Event) -> None:
        run = self.run
        if run is None or run.finished:
            return
        if isinstance(ev, StepStarted) and ev.step == "task":
            run.task = ev.detail
        elif isinstance(ev, StepStarted) and ev.step == "play":
            run.play = ev.detail
        elif isinstance(ev, HostTask):
            from fleetctl.provision.apply import HostResult, tally

            hp = run.hosts.get(ev.host)
            if hp is None:  # a host the run did not target (ansible's own localhost…): shown all the same
                hp = run.hosts[ev.host] = HostProgress(HostResult())
            hp.seen = True
            if ev.status == "started":
                hp.task = ev.task
            else:
                one = {ev.host: hp.result}
                tally(one, ev)
                hp.tasks += 1
                if ev.status in ("failed", "unreachable"):
                    hp.problem = f"{ev.task}: {ev.message}" if ev.task else ev.message
        else:
            return
        self._apply_line()
        self.update_rows()

    def job_cancelling(self) -> None:
        super().job_cancelling()
        if self.run is not None and not self.run.finished:
            self.run.stopping = True
            self._apply_line()
            self.update_rows()

    def job_done(self, result: Any, error: str | None) -> None:
        run = self.run
        if run is None:
            return
        run.result, run.error = result, error if result is None else None
        if result is not None:
            for host, r in result.hosts.items():  # the workflow's counts are the truth
                hp = run.hosts.setdefault(host, HostProgress(r))
                hp.result = r
        line = self._apply_line()
        self.log_widget.line(line)
        bad = error is not None or (result is not None and (result.cancelled or result.failed_hosts))
        self.app.notify(line.plain, severity="warning" if bad else "information", timeout=8)
        self.update_rows()
        self.start_refresh()  # the plan again: what is left to converge

    def _apply_line(self) -> Text:
        """The job line: where the run is, or how it ended (the CLI's words)."""
        run = self.run
        if run is None:
            return Text("")
        where = ",".join(run.limit) if run.limit else "every host"
        res = run.result
        if res is not None:
            if res.cancelled:
                stop = f"before '{res.stopped_before}'" if res.stopped_before else "before its first task"
                done = f"{len(res.tasks_done)} task(s) done" if res.tasks_done else "no task done"
                left = f"; not finished on {', '.join(res.hosts_left)}" if res.hosts_left else ""
                text = Text(f"apply: cancelled {stop} ({done}){left}; run apply again to converge",
                            style="bold yellow")
            else:
                verb = "would change" if res.check else "changed"
                tail = (f"; FAILED on {', '.join(res.failed_hosts)} (re-run apply once they are back)"
                        if res.failed_hosts else "")
                text = Text(f"apply: {res.changes} {verb} in {res.seconds:.1f} s{tail}",
                            style="bold red" if res.failed_hosts else "green")
        elif run.error is not None:
            text = Text(f"apply ({where}) failed: {run.error}", style="bold red")
        else:
            with_result = sum(1 for hp in run.hosts.values() if hp.tasks)
            state = "stopping at the next safe point" if run.stopping else "running"
            text = Text(f"apply ({where}): {state} · {with_result}/{len(run.hosts)} host(s) with results"
                        + (f" · task '{run.task}'" if run.task else "")
                        + ("" if run.stopping else " · ctrl+x cancels"),
                        style="yellow" if run.stopping else "cyan")
        self.set_job_line(text)
        return text


class HostPlanView(TableView):
    """One host's planned actions (``a`` applies this host)."""

    VIEW = "host plan"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("", 1), ("TARGET", 24), ("ACTION", 9), ("ROLE", 11), ("CHAIN", 10), ("CLIENT", 11), ("REASON", None),
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("a", "apply", "apply this host")]

    def __init__(self, owner: RunsView, host: str) -> None:
        super().__init__(crumb=f"{host} plan")
        self.owner = owner
        self.host = host

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        plan = self.owner.result  # the Runs view's plan: no new observation
        if plan is None:
            raise UserError("no plan yet")
        return plan

    def summary(self, result: Any) -> str:
        actions = [a for a in result.actions if a.host == self.host]
        by = {k: sum(1 for a in actions if a.action == k) for k in SIGNS}
        line = (f"{self.host}: {by['create']} to create, {by['recreate']} to recreate, {by['remove']} to remove, "
                f"{by['leave']} unchanged")
        if self.host in result.unreachable:
            line += f" · UNREACHABLE: {result.unreachable[self.host]}"
        return line

    def rows(self, result: Any) -> list[Row]:
        rows = []
        for a in result.actions:
            if a.host != self.host:
                continue
            sign, style = SIGNS.get(a.action, ("?", ""))
            rows.append(Row(key=f"{a.action}:{a.target}",
                            cells=(Text(sign, style=style), Text(a.target, style=style), a.action, a.role,
                                   a.chain or "-", a.client or "-", a.reason),
                            data=a.as_dict()))
        return rows

    def action_apply(self) -> None:
        self.app.pop_screen()
        self.owner.apply([self.host])


# ---------------------------------------------------------------------------------------------
# the stake batch: dry run -> confirm -> execute
# ---------------------------------------------------------------------------------------------

_STAKE_STYLES = {"to_stake": "bold", "staked": "green", "confirmed": "green", "submitted": "cyan",
                 "sending": "bold cyan", "awaiting": "yellow", "not_attempted": "yellow", "gone": "dim",
                 "skipped": "dim", "failed": "bold red", "mismatch": "bold red", "unreadable": "bold red",
                 "unplaced": "bold red"}


def _stake_detail(e: Any) -> str:
    """What the row says beside its status: the command a dry run would send, a txhash, why."""
    if e.status in ("submitted", "confirmed") and e.txhash:
        return f"txhash {e.txhash}" + (f"; {e.reason}" if e.reason else "")
    if e.status in ("failed", "mismatch"):
        return str(e.error or e.reason or "")
    if e.status == "to_stake":
        return str(e.command or e.config or "")
    return str(e.reason or "")


class StakeBatchView(JobView):
    """``fleetctl stake --batch``: the dry run as rows (refreshed on ``ctrl+r`` only: it reads the
    chain and runs the preflight); ``e`` executes it from the selected supplier's host."""

    VIEW = "stake batch"
    CSS_PATH = "../styles/runs.tcss"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("SUPPLIER", 16), ("HOST", 10), ("STATUS", 13), ("SERVICES", 10), ("DETAIL", None),
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("e", "execute", "execute")]

    def __init__(self, slot: JobSlot | None = None) -> None:
        super().__init__(crumb="stake batch", slot=slot)
        #: supplier name -> (status, detail) from the running batch's events
        self.live: dict[str, tuple[str, str]] = {}
        self._manual = False

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.workflows import stake_batch

        return stake_batch.prepare(source.fleet(), stake_batch.BatchOptions(db=source.options.db), cancel=cancel)

    def start_refresh(self) -> None:
        # On open and on ctrl+r (a failed one is tried again on the interval), never over a result.
        if self.result is not None and not self._manual:
            return
        self._manual = False
        super().start_refresh()

    def action_refresh_now(self) -> None:
        self._manual = True
        self.start_refresh()

    def action_back(self) -> None:
        if self.job is not None and not self.job.done and not self.filter:
            self.app.notify("a stake batch is running: ctrl+x cancels it (between two suppliers)",
                            severity="warning", timeout=5)
            return
        super().action_back()

    def summary(self, result: Any) -> str:
        counts = result.counts()
        mode = "dry run" if result.dry_run else f"on {result.host}, batch {result.batch_id}"
        head = f"stake --batch ({mode}): " + (", ".join(f"{n} {s.replace('_', ' ')}" for s, n in
                                                       sorted(counts.items())) or "no supplier selected")
        if result.stake_upokt is not None:
            head += f"; stake {format_upokt(result.stake_upokt)} each"
            if result.min_stake_upokt is not None:
                head += f" (min_stake {format_upokt(result.min_stake_upokt)})"
        lines = [head]
        if result.message:
            lines.append(f"stake: {result.message}")
        problems = list(getattr(result.preflight, "problems", None) or [])
        if problems:
            lines.append(f"preflight: {len(problems)} problem(s): {problems[0].line()}")
        elif result.notes:
            lines.append(f"note: {result.notes[0]}")
        return "\n".join(lines[:3])

    def rows(self, result: Any) -> list[Row]:
        rows = []
        for e in result.entries:
            # (the stake each one sends is the summary's: one amount for the whole batch)
            status, detail = self.live.get(e.name, (e.status, _stake_detail(e)))
            rows.append(Row(key=e.name,
                            cells=(e.name, e.host or "-", Text(status.replace("_", " "),
                                                               style=_STAKE_STYLES.get(status, "")),
                                   ",".join(e.services), _clean(detail)),
                            data={**e.as_dict(), "live_status": status} if e.name in self.live else e.as_dict()))
        return rows

    # ------------------------------------------------------------------ execute
    def _signing_host(self, todo: list[Any]) -> str | None:
        row = self.current_row()
        picked = next((e for e in todo if row is not None and e.name == row.key and e.host), None)
        if picked is not None:
            return str(picked.host)
        return next((str(e.host) for e in todo if e.host), None)

    def action_execute(self) -> None:
        if self.fleet_app.refuse_if_read_only("stake batch") or self.refuse_if_busy():
            return
        report = self.result
        if report is None:
            self.app.notify("no dry run yet (ctrl+r runs it again)", severity="warning")
            return
        if report.protocol != "shannon":
            self.app.notify("Morse staking is a dry run only: run the commands shown on each node",
                            severity="warning", timeout=6)
            return
        if report.message:
            self.app.notify(f"stake: {report.message}", severity="error", timeout=8)
            return
        todo = [e for e in report.entries if e.status == "to_stake"]
        host = self._signing_host(todo)
        if not todo or host is None:
            self.app.notify("nothing to stake", timeout=4)
            return
        options = self.fleet_app.options
        words = ["stake", "--batch", "--execute", "--host", host]
        if options.db:
            words += ["--db", options.db]
        command = cli_command(options, *words)
        stake = format_upokt(report.stake_upokt) if report.stake_upokt is not None else "?"
        lines = [f"send {len(todo)} stake transaction(s) of {stake} each, signed on {host} "
                 f"(pocketd with its keyring there), one at a time, stopping at the first failure:"]
        for e in todo[:CONFIRM_LINES]:
            lines.append(f"  {e.name} ({e.operator_address}): {', '.join(e.services)} on {e.host}")
        if len(todo) > CONFIRM_LINES:
            lines.append(f"  … and {len(todo) - CONFIRM_LINES} more")
        others = sorted({str(e.host) for e in todo if e.host and e.host != host})
        if others:
            lines.append(f"suppliers placed on {', '.join(others)} are signed on {host} too: their keys must be there")
        problems = list(getattr(report.preflight, "problems", None) or [])
        if problems:
            lines.append(f"preflight: {len(problems)} problem(s); the batch refuses to send if one would get a "
                         "supplier sanctioned")
        lines.append("the chain and the preflight are read again before anything is sent; ctrl+x stops "
                     "between two suppliers")
        self.fleet_app.confirm(f"Stake {len(todo)} supplier(s) from {host}?", lines, command,
                               then=lambda: self._execute(host, command), danger=True)

    def _execute(self, host: str, command: str) -> None:
        from fleetctl.workflows import stake_batch

        source = self.fleet_app.source
        options = stake_batch.BatchOptions(host=host, db=self.fleet_app.options.db)

        def work(on_event: EventSink, cancel: CancelToken) -> Any:
            return stake_batch.run_batch(source.fleet(), options, execute=True, on_event=on_event, cancel=cancel)

        self.live.clear()
        if self.start_job("stake batch", command, work) is not None:
            self.set_job_line(f"stake batch on {host}: reading the chain and the preflight… · ctrl+x cancels")
            self.update_rows()

    def job_event(self, ev: Event) -> None:
        from fleetctl.workflows.stake_batch import JOB

        if getattr(ev, "job", None) != JOB:
            return
        names = {e.name for e in self.result.entries} if self.result is not None else set()
        if isinstance(ev, StepStarted) and ev.step in names:
            self.live[ev.step] = ("sending", ev.detail)
            self.set_job_line(f"stake batch: sending {ev.step} · ctrl+x cancels")
        elif isinstance(ev, StepFinished) and ev.step in names:
            self.live[ev.step] = ("submitted" if ev.ok else "failed", ev.detail)
        elif isinstance(ev, StepStarted) and ev.step == "read-back":
            self.set_job_line(f"stake batch: {ev.detail}")
        elif isinstance(ev, Progress):
            self.set_job_line(f"stake batch: {ev.done}/{ev.total} {ev.unit} sent · ctrl+x cancels")
        elif isinstance(ev, Warn):
            pass  # in the log
        else:
            return
        self.update_rows()

    def job_cancelling(self) -> None:
        super().job_cancelling()
        self.set_job_line(Text("stake batch: stopping before the next supplier (the one being sent finishes "
                               "and is read back)…", style="bold yellow"))

    def job_done(self, result: Any, error: str | None) -> None:
        if result is not None:
            self.live.clear()
            self.result = result
            self.query_one("#summary", Static).update(Text(self.summary(result)))
            text = self._result_line(result)
        else:
            text = Text(f"stake batch failed: {error}", style="bold red")
        self.log_widget.line(text)
        self.set_job_line(text)
        self.app.notify(text.plain, severity="information" if result is not None and result.exit_code == 0
                        else "warning", timeout=8)
        self.update_rows()

    @staticmethod
    def _result_line(report: Any) -> Text:
        if report.cancelled:
            left = [e.name for e in report.left]
            return Text(f"stake batch: cancelled: {len(left)} supplier(s) not sent ({', '.join(left)}); "
                        "the next run resumes", style="bold yellow")
        if report.message:
            return Text(f"stake batch: {report.message}", style="bold red")
        counts = report.counts()
        text = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items())) or "nothing to stake"
        took = f" in {report.seconds:.1f} s" if report.seconds is not None else ""
        bad = [f"{e.name}: {e.error or e.reason}" for e in report.entries
               if e.status in ("failed", "mismatch", "not_attempted")]
        tail = f"; {bad[0]}" + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else "") if bad else ""
        return Text(f"stake batch on {report.host}: {text}{took}{tail}",
                    style="bold red" if report.exit_code else "green")
