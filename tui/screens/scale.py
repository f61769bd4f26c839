"""Scale: the what-if of one service (``fleetctl scale --what-if``) with its inputs (service; add N,
a target share or a budget; relays per session) recomputed as you type, and ``a``: adding the
identities (``fleetctl scale --apply``) after a confirmation that lists what will happen.

The chain is read once per service (``fleetctl.workflows.scale.prepare`` in a worker thread, with
a cancel token) and kept; each change of the inputs (debounced, :data:`DEBOUNCE_S`) runs
``prepare`` again on that reading in a worker, the newest change cancelling the older one, so
typing never waits. An invalid input is one line under the inputs naming the option, and the
last table stays. ``ctrl+r`` (and the app's refresh interval) reads the chain again.

``a`` plans the apply (the same ``prepare(apply=True)`` the CLI runs: names, hosts, stake), asks
with the exact CLI command, then runs ``fleetctl.workflows.scale.execute`` in a worker: its steps
show as they run; ``ctrl+x`` cancels between steps (never inside the fleet.yml rewrite).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Log, Select, Static

from fleetctl.core.records import record
from fleetctl.core.errors import UserError
from fleetctl.core.events import (
    Cancelled,
    CancelToken,
    CheckDone,
    Event,
    HostTask,
    Progress,
    StepFinished,
    StepStarted,
    Warn,
)
from fleetctl.core.redact import scrub
from fleetctl.tui.rows import describe_text
from fleetctl.tui.screens.base import ViewScreen, error_line

__all__ = ["DEBOUNCE_S", "MAX_ADD", "MODES", "ScaleInputs", "ScaleView", "cli_command", "describe_event",
           "parse_inputs", "what_if_table"]

#: Seconds of quiet after a keystroke before the what-if is computed again.
DEBOUNCE_S = 0.3
#: The largest "add N" the view computes (the table has a row per identity up to the target).
MAX_ADD = 100_000
#: The ways to say how many, as the CLI's mutually exclusive options: (label, value).
MODES: tuple[tuple[str, str], ...] = (("add N", "add"), ("target share", "target-share"), ("budget", "budget"))
OPTION = {"add": "--add", "target-share": "--target-share", "budget": "--budget"}
PLACEHOLDER = {"add": "identities to add, e.g. 3", "target-share": "share of sessions, e.g. 50% or 0.5",
               "budget": "stake budget, e.g. 120000 POKT"}


# ----------------------------------------------------------------------------- pure helpers (no textual)


@record(frozen=True)
class ScaleInputs:
    """What the inputs say, as typed."""

    service: str | None
    mode: str = "add"
    amount: str = ""
    relays_per_session: str = ""


def parse_inputs(inputs: ScaleInputs) -> dict[str, Any]:
    """``prepare``'s keyword arguments for ``inputs``; UserError (one line naming the option, as
    the CLI would) for a value the CLI would refuse. An empty amount is the table without a target."""
    kw: dict[str, Any] = {}
    rps = inputs.relays_per_session.strip()
    if rps:
        try:
            value = float(rps)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise UserError(f"--relays-per-session: expected a number above 0, got {rps!r}")
        kw["relays_per_session"] = value
    amount = inputs.amount.strip()
    if not amount:
        return kw
    if inputs.mode == "add":
        if not amount.isdigit() or int(amount) < 1:
            raise UserError(f"--add: expected a whole number of identities, 1 or more, got {amount!r}")
        if int(amount) > MAX_ADD:
            raise UserError(f"--add: at most {MAX_ADD:,} at a time here, got {amount}")
        kw["add"] = int(amount)
    elif inputs.mode == "target-share":
        from fleetctl.plan.scale import check_options

        check_options(target_share=amount)
        kw["target_share"] = amount
    elif inputs.mode == "budget":
        from fleetctl.plan.scale import check_options

        check_options(budget=amount)
        kw["budget"] = amount
    else:
        raise UserError(f"mode: {inputs.mode!r} is not one of add, target-share, budget")
    return kw


def cli_command(inventory: str, inputs: ScaleInputs, *, apply: bool = True) -> str:
    """The ``fleetctl scale`` line that does what the view does (``--apply --yes`` for ``a``)."""
    argv = ["fleetctl", "-i", inventory, "scale", "--service", inputs.service or "?"]
    if inputs.amount.strip():
        argv += [OPTION.get(inputs.mode, "--add"), inputs.amount.strip()]
    if inputs.relays_per_session.strip():
        argv += ["--relays-per-session", inputs.relays_per_session.strip()]
    if apply:
        argv += ["--apply", "--yes"]
    return " ".join(shlex.quote(a) for a in argv)


def pokt(upokt: Any) -> str:
    """Whole POKT with thousands separators and up to 6 decimals (exact), as ``fleetctl scale``."""
    if upokt is None:
        return "-"
    whole, frac = divmod(int(upokt), 1_000_000)
    return f"{whole:,}" + (f".{frac:06d}".rstrip("0") if frac else "")


def _num(x: Any, fmt: str = ",.1f") -> str:
    return "-" if x is None else format(float(x), fmt)


def what_if_table(model: Any) -> tuple[list[str], list[tuple[int, list[str], dict[str, Any]]]]:
    """The CLI's what-if table (``fleetctl scale``): its headers and, per row, (m, cells, the row's
    fields). The target row's m is marked ``*``; without the applications' count the per-day
    columns give way to POKT per session, as in the CLI."""
    doc = model.as_dict()
    per_day = model.assumptions["apps"]["value"] is not None
    headers = ["m", "N", "share", "ours/session"]
    headers += ["sessions/day", "relays/day", "POKT/day"] if per_day else ["POKT/session"]
    headers += ["stake to lock", "next +1 share"] + (["next +1 POKT/day"] if per_day else [])
    rows = []
    for r in doc["rows"]:
        mark = "*" if model.target is not None and r["m"] == model.target else ""
        cells = [f"{r['m']}{mark}", f"{r['N']:,}", f"{100 * r['p_session']:.2f}%", _num(r["expected_per_session"], ".3f")]
        if per_day:
            cells += [_num(r["sessions_per_day"]), _num(r.get("relays_per_day"), ",.0f"),
                      pokt(r.get("rewards_upokt_per_day"))]
        else:
            cells += [pokt(r.get("rewards_upokt_per_session"))]
        cells += [pokt(r.get("stake_upokt")), f"+{100 * (r.get('marginal_p') or 0):.2f}%"]
        if per_day:
            cells += [pokt(r.get("marginal_rewards_upokt_per_day"))]
        rows.append((int(r["m"]), cells, dict(r)))
    return headers, rows


def header_line(model: Any) -> str:
    v = model.view
    apps = model.assumptions["apps"]["value"]
    return (f"{v.service} ({v.protocol}): N={v.n_with_ours:,} eligible (ours {v.current}, {v.ours_on_chain} staked), "
            f"K={v.per_session} per session, {v.blocks_per_session} blocks per session, "
            + (f"{apps:,} apps" if apps is not None else "apps unknown"))


def note_lines(model: Any) -> list[str]:
    """What the CLI says around its table: the target, the assumptions taken, the chain's
    notes, what is left out."""
    lines = []
    if model.target is not None:
        lines.append(f"scale: {model.how}: {model.target} identities ({model.target - model.view.current:+d})")
    for name, a in model.assumptions.items():
        if isinstance(a, dict) and str(a.get("from", "")).startswith(("default", "observed")):
            lines.append(f"assumed {name} = {a['value']} ({a['from']})")
    lines += [f"note: {n}" for n in model.view.notes]
    if (missing := model.missing_note()) is not None:
        lines.append(missing)
    return [scrub(line, sink_style=False, limit=400) for line in lines]


def confirm_lines(plan: Any, *, listed: int = 20) -> list[str]:
    """What ``a`` will do, from the ScalePlan: the new identities and their hosts, their owner,
    the stake to lock, what the target brings, the steps (short lines: it fits 80x24)."""
    model = plan.model
    lines = [f"{plan.service}: {plan.view.current} → {model.target} identities ({model.how})"]
    names = [f"{i.name} on {i.host}" for i in plan.identities]
    more = f", and {len(names) - listed} more" if len(names) > listed else ""
    lines.append(f"new ({plan.to_add}): " + ", ".join(names[:listed]) + more)
    owners = sorted({i.owner_address for i in plan.identities if i.owner_address})
    if owners:
        lines.append("owner: " + ", ".join(owners))
    row = next((r for r in model.what_if.rows if r["m"] == model.target), None)
    each = model.assumptions.get("stake_per_identity_upokt")
    if row is not None:
        lines.append(f"stake to lock: {pokt(row.get('stake_upokt'))} POKT ({pokt(each)} POKT each), "
                     "staked later by fleetctl stake --batch")
        share = f"{100 * row['p_session']:.2f}% of the sessions"
        if row.get("rewards_upokt_per_day") is not None:
            share += f", ~{pokt(row['rewards_upokt_per_day'])} POKT/day"
        lines.append(f"at {model.target}: {share}")
    lines.append("steps: create-keys (in each host's RelayMiner keyring) → inventory (fleet.yml, a backup kept) "
                 "→ apply (the hosts change); ctrl+x cancels between steps")
    return lines


def describe_event(event: Event) -> str | None:
    """One line per event of the apply (None: not worth a line); secrets scrubbed."""
    indent = "  "
    if isinstance(event, StepStarted):
        indent, text = "", f"▶ {event.step}" + (f": {event.detail}" if event.detail else "")
    elif isinstance(event, StepFinished):
        indent, text = "", f"{'✓' if event.ok else '✗'} {event.step}" + (f": {event.detail}" if event.detail else "")
    elif isinstance(event, HostTask):
        if event.status == "started":
            return None
        text = f"{event.host}: {event.task}: {event.status}" + (f" {event.message}" if event.message else "")
    elif isinstance(event, Progress):
        text = f"{event.job}: {event.done}/{event.total} {event.unit}".rstrip()
    elif isinstance(event, Warn):
        indent, text = "", f"! {event.message}"
    elif isinstance(event, CheckDone):
        text = f"{event.target}: {event.level.name} {event.summary}".rstrip()
    else:
        return None
    return indent + scrub(text, sink_style=False, limit=400)


def result_lines(result: Any) -> list[str]:
    """What the CLI says after ``scale --apply`` (done, cancelled, left, the next step)."""
    lines = [f"added {i.name} on {i.host}: {i.operator_address}" for i in result.created]
    if result.cancelled:
        done = ", ".join(result.done) or "nothing"
        hint = ("fleetctl apply finishes it" if "inventory" in result.done
                else "scale --apply again reuses the keys made")
        lines.append(f"scale: cancelled; done: {done}; left: {', '.join(result.left)} ({hint})")
        return lines
    if not result.done:
        lines.append("scale: nothing to add")
        return lines
    failed = sorted(result.apply.failed_hosts) if result.apply is not None else []
    lines.append(f"scale: done: {', '.join(result.done)}" + (f"; failed hosts: {', '.join(failed)}" if failed else ""))
    lines.append("scale: next, fund each new operator with its stake and fees, then stake them: fleetctl stake --batch "
                 "--keyring relayminer (a dry run; --execute --host NAME stakes)")
    return lines


# ----------------------------------------------------------------------------- messages


class FleetLoaded(Message):
    def __init__(self, services: list[str], error: str | None) -> None:
        super().__init__()
        self.services = services
        self.error = error


class Computed(Message):
    """A what-if ended: the ScalePlan, or the one-line error (``user``: the inputs' own)."""

    def __init__(self, serial: int, plan: Any, error: str | None, *, user: bool = False, read: bool = False,
                 at: float = 0.0, duration: float = 0.0) -> None:
        super().__init__()
        self.serial = serial
        self.plan = plan
        self.error = error
        self.user = user
        self.read = read  # the chain was read for it
        self.at = at
        self.duration = duration


class Planned(Message):
    """``a``'s plan (the identities to add), or why there is none."""

    def __init__(self, plan: Any, error: str | None, inputs: ScaleInputs) -> None:
        super().__init__()
        self.plan = plan
        self.error = error
        self.inputs = inputs


class StepEvent(Message):
    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class Executed(Message):
    def __init__(self, result: Any, error: str | None) -> None:
        super().__init__()
        self.result = result
        self.error = error


# ----------------------------------------------------------------------------- the view


class ScaleView(ViewScreen):
    VIEW = "scale"
    CSS_PATH = "../styles/scale.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "apply", "apply"),
        Binding("ctrl+x", "cancel", "cancel", priority=True),
        Binding("i", "edit", "inputs"),
        Binding("d", "describe", "describe"),
        Binding("ctrl+r", "refresh_now", "refresh"),
        Binding("escape", "back", "back"),
    ]

    def __init__(self, crumb: str | None = None) -> None:
        super().__init__(crumb)
        self.plan: Any = None  # the ScalePlan shown
        self.views: dict[str, Any] = {}  # the chain's reading per service (ServiceView)
        self.read_at: float | None = None
        self.read_duration = 0.0
        self.computed: int = 0  # what-ifs shown (tests wait on it)
        self.input_error: str | None = None
        self.events: list[Event] = []  # the running or last apply's events
        self.result: Any = None  # the last apply's ScaleResult
        self.applying = False
        self.apply_token: CancelToken | None = None
        self.compute_token: CancelToken | None = None
        self._serial = 0
        self._debounce: Timer | None = None
        self._timer: Timer | None = None
        self._row_data: list[dict[str, Any]] = []
        self._headers: list[str] = []

    # ------------------------------------------------------------------ layout
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="scale-inputs"):
            yield Select[str]([], prompt="service", allow_blank=True, id="scale-service")
            yield Select[str](MODES, allow_blank=False, value="add", id="scale-mode")
            yield Input(placeholder=PLACEHOLDER["add"], id="scale-amount")
            yield Input(placeholder="relays/session (observed, else 100)", id="scale-rps")
        error = Static(id="scale-error")
        error.display = False
        yield error
        yield Static(id="summary", classes="summary")
        yield DataTable(id="scale-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="scale-notes")
        log = Log(id="scale-log", max_lines=2000)
        log.display = False
        yield log

    def on_mount(self) -> None:
        # (Textual calls every class's on_mount in the MRO: no super() call.)
        self.query_one("#scale-table", DataTable).focus()
        self.set_status("loading the inventory…")
        source = self.app.source  # type: ignore[attr-defined]

        def work() -> None:
            try:
                fleet = source.fleet()
                self.post_message(FleetLoaded(list(fleet.chains), None))
            except Exception as exc:  # noqa: BLE001 - shown in the status line
                self.post_message(FleetLoaded([], error_line(exc)))

        self.run_worker(work, thread=True, group="scale-fleet", exit_on_error=False, name="scale: inventory")
        every = self.app.options.refresh_s  # type: ignore[attr-defined]
        if every and every > 0:
            self._timer = self.set_interval(every, self._tick)

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()

    def on_unmount(self) -> None:
        for token in (self.compute_token, self.apply_token):
            if token is not None:
                token.cancel("view closed")

    @on(FleetLoaded)
    def _fleet_loaded(self, message: FleetLoaded) -> None:
        if message.error is not None:
            self.set_status(self._status(), f"inventory: {message.error}")
            return
        select = self.query_one("#scale-service", Select)
        select.set_options([(s, s) for s in message.services])
        if message.services:
            select.value = message.services[0]  # Select.Changed computes the first what-if
        else:
            self.set_status(self._status(), "no chains in fleet.yml: nothing to scale")

    # ------------------------------------------------------------------ inputs
    def inputs(self) -> ScaleInputs:
        service = self.query_one("#scale-service", Select).value
        mode = self.query_one("#scale-mode", Select).value
        return ScaleInputs(service if isinstance(service, str) else None, mode if isinstance(mode, str) else "add",
                           self.query_one("#scale-amount", Input).value, self.query_one("#scale-rps", Input).value)

    @on(Select.Changed, "#scale-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        self.query_one("#scale-amount", Input).placeholder = PLACEHOLDER.get(str(event.value), "")
        self.schedule()

    @on(Select.Changed, "#scale-service")
    def _service_changed(self, event: Select.Changed) -> None:
        self.schedule()

    @on(Input.Changed, "#scale-amount, #scale-rps")
    def _typed(self, event: Input.Changed) -> None:
        self.schedule()

    @on(Input.Submitted, "#scale-amount, #scale-rps")
    def _submitted(self, event: Input.Submitted) -> None:
        self.compute()

    def schedule(self) -> None:
        """Compute once the typing pauses (:data:`DEBOUNCE_S`)."""
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_S, self.compute)

    def show_input_error(self, text: str | None) -> None:
        self.input_error = text
        line = self.query_one("#scale-error", Static)
        line.update(Text(text or "", style="bold red"))
        line.display = bool(text)

    # ------------------------------------------------------------------ the what-if
    def compute(self, *, reread: bool = False) -> None:
        """The what-if for the inputs now, in a worker; a newer one cancels this one. An invalid
        input is shown (the table kept) and nothing runs."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        inputs = self.inputs()
        if inputs.service is None:
            return
        try:
            kw = parse_inputs(inputs)
        except UserError as exc:
            self.show_input_error(str(exc))
            return
        self.show_input_error(None)
        if reread:
            self.views.pop(inputs.service, None)
        self._serial += 1
        serial = self._serial
        if self.compute_token is not None:
            self.compute_token.cancel("a newer input")
        token = self.compute_token = CancelToken()
        cached = self.views.get(inputs.service)
        override = self.app.fetcher(self)  # type: ignore[attr-defined]
        source = self.app.source  # type: ignore[attr-defined]
        clock = self.app.clock  # type: ignore[attr-defined]
        service = inputs.service

        def work() -> None:
            from fleetctl.workflows.scale import prepare

            started = clock()
            try:
                fleet = source.fleet()
                view = cached
                if view is None and override is not None:
                    view = _pick(override(token), service)
                plan = prepare(fleet, service, view=view, cancel=token, **kw)
                token.raise_if_cancelled("scale")
                ended = clock()
                message = Computed(serial, plan, None, read=cached is None, at=ended,
                                   duration=max(0.0, ended - started))
            except Cancelled:
                return  # a newer input took over (or the view closed)
            except UserError as exc:
                message = Computed(serial, None, error_line(exc), user=True, at=clock())
            except Exception as exc:  # noqa: BLE001 - one line; the last table stays
                message = Computed(serial, None, error_line(exc), read=cached is None, at=clock())
            self.post_message(message)

        self.run_worker(work, thread=True, group="scale-whatif", exclusive=True, exit_on_error=False,
                        name="scale: what-if")

    @on(Computed)
    def _computed(self, message: Computed) -> None:
        if message.serial != self._serial:
            return  # an older input's answer
        if message.error is not None:
            if message.user:
                self.show_input_error(message.error)
                self.set_status(self._status(), self.error)
            else:
                when = datetime.fromtimestamp(message.at).strftime("%H:%M:%S")
                self.set_status(self._status(), f"what-if failed {when}: {message.error}")
            return
        plan = message.plan
        self.views[plan.service] = plan.view
        if message.read:
            self.read_at, self.read_duration = message.at, message.duration
        self.plan = plan
        self.render_plan(plan)
        self.computed += 1
        self.set_status(self._status())

    def render_plan(self, plan: Any) -> None:
        model = plan.model
        headers, rows = what_if_table(model)
        table = self.query_one("#scale-table", DataTable)
        keep = None
        if self._row_data and 0 <= table.cursor_row < len(self._row_data):
            keep = self._row_data[table.cursor_row].get("m")
        if headers != self._headers:
            table.clear(columns=True)
            for h in headers:
                table.add_column(h, key=h)
            self._headers = headers
        else:
            table.clear()
        for m, cells, _ in rows:
            style = "bold" if model.target is not None and m == model.target else ""
            table.add_row(*(Text(c, style=style, justify="left" if i == 0 else "right") for i, c in enumerate(cells)),
                          key=str(m))
        self._row_data = [data for _, _, data in rows]
        ms = [m for m, _, _ in rows]
        if rows:
            index = ms.index(keep) if keep in ms else (ms.index(model.target) if model.target in ms else 0)
            table.move_cursor(row=index, animate=False)
        self.query_one("#summary", Static).update(Text(header_line(model)))
        notes = note_lines(model)
        # the command second: the first lines stay in sight when the notes are cut (80x24)
        notes.insert(1 if model.target is not None else 0,
                     "same as: " + cli_command(self.app.options.inventory, self.inputs(), apply=False))  # type: ignore[attr-defined]
        self.query_one("#scale-notes", Static).update(Text("\n".join(notes)))

    def _status(self) -> str:
        parts = [self.crumb]
        if self.read_at is not None:
            parts.append(f"chain read {datetime.fromtimestamp(self.read_at).strftime('%H:%M:%S')} "
                         f"({self.read_duration:.1f} s)")
        else:
            parts.append("reading the chain…" if self.plan is None else "")
        if self.applying:
            parts.append("applying (ctrl+x cancels between steps)")
        every = self.app.options.refresh_s  # type: ignore[attr-defined]
        parts.append(f"every {every:g} s" if every else "refresh: ctrl+r")
        return " · ".join(p for p in parts if p)

    def _tick(self) -> None:
        if not self.applying and self.plan is not None:
            self.compute(reread=True)

    # ------------------------------------------------------------------ keys
    def action_refresh_now(self) -> None:
        self.compute(reread=True)

    def action_edit(self) -> None:
        self.query_one("#scale-amount", Input).focus()

    def action_back(self) -> None:
        focused = self.app.focused
        if isinstance(focused, Input | Select):
            self.query_one("#scale-table", DataTable).focus()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_describe(self) -> None:
        table = self.query_one("#scale-table", DataTable)
        if self.plan is None or not self._row_data or not 0 <= table.cursor_row < len(self._row_data):
            self.app.notify("nothing selected", severity="warning")
            return
        from fleetctl.tui.widgets.describe import DescribeScreen

        row = self._row_data[table.cursor_row]
        data = {"service": self.plan.service, "target": self.plan.model.target, "row": row,
                "assumptions": self.plan.model.assumptions, "chain": self.plan.view.as_dict()}
        self.app.push_screen(DescribeScreen(f"{self.plan.service} m={row.get('m')}", describe_text(data)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return True if self.applying else None  # dimmed: nothing to cancel (the key falls through)
        return True

    def action_apply(self) -> None:
        if self.app.refuse_if_read_only("scale apply"):  # type: ignore[attr-defined]
            return
        if self.applying:
            self.app.notify("scale apply is running (ctrl+x cancels it)", severity="warning")
            return
        inputs = self.inputs()
        if inputs.service is None:
            self.app.notify("scale apply: no service selected", severity="warning")
            return
        try:
            kw = parse_inputs(inputs)
        except UserError as exc:
            self.show_input_error(str(exc))
            self.app.notify(f"scale apply: {exc}", severity="error")
            return
        if not any(k in kw for k in ("add", "target_share", "budget")):
            self.app.notify("scale apply: say how many: add N, a target share or a budget", severity="warning")
            return
        cached = self.views.get(inputs.service)
        source = self.app.source  # type: ignore[attr-defined]
        override = self.app.fetcher(self)  # type: ignore[attr-defined]
        token = CancelToken()
        service = inputs.service

        def work() -> None:
            from fleetctl.workflows.scale import prepare

            try:
                fleet = source.fleet()
                view = cached if cached is not None else (_pick(override(token), service) if override else None)
                plan = prepare(fleet, service, apply=True, view=view, cancel=token, **kw)
                self.post_message(Planned(plan, None, inputs))
            except Exception as exc:  # noqa: BLE001 - one line, nothing done
                self.post_message(Planned(None, error_line(exc), inputs))

        self.run_worker(work, thread=True, group="scale-plan", exclusive=True, exit_on_error=False, name="scale: plan")

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        if message.error is not None:
            self.app.notify(f"scale apply: {message.error}", severity="error", timeout=8)
            return
        plan = message.plan
        if not plan.identities:
            self.app.notify(f"scale: {plan.view.current} identities already reach the target: nothing to add", timeout=6)
            return
        n = plan.to_add
        command = cli_command(self.app.options.inventory, message.inputs)  # type: ignore[attr-defined]
        self.app.confirm(f"Add {n} identit{'y' if n == 1 else 'ies'} to {plan.service}?",  # type: ignore[attr-defined]
                         confirm_lines(plan), command, then=lambda: self.execute(plan), danger=True)

    def execute(self, plan: Any) -> None:
        """Run the apply in a worker; events come back as StepEvent, the result as Executed."""
        if self.applying:
            return
        self.applying, self.result, self.events = True, None, []
        token = self.apply_token = CancelToken()
        log = self.query_one("#scale-log", Log)
        log.clear()
        log.display = True
        log.write_line(f"scale apply: {plan.to_add} identities for {plan.service}")
        self.refresh_bindings()
        self.set_status(self._status())
        source = self.app.source  # type: ignore[attr-defined]

        def sink(event: Event) -> None:  # on the worker thread: to the UI as a message
            self.post_message(StepEvent(event))

        def work() -> None:
            from fleetctl.workflows import scale as workflow

            try:
                fleet = source.fleet()
                result = workflow.execute(fleet, plan, on_event=sink, cancel=token, reload=source.fleet)
                self.post_message(Executed(result, None))
            except Exception as exc:  # noqa: BLE001 - one line in the log; what was done is in fleet.yml
                self.post_message(Executed(None, error_line(exc)))

        self.run_worker(work, thread=True, group="scale-apply", exit_on_error=False, name="scale: apply")

    @on(StepEvent)
    def _step(self, message: StepEvent) -> None:
        self.events.append(message.event)
        line = describe_event(message.event)
        if line is not None:
            self.query_one("#scale-log", Log).write_line(line)

    @on(Executed)
    def _executed(self, message: Executed) -> None:
        self.applying, self.apply_token = False, None
        self.result = message.result
        log = self.query_one("#scale-log", Log)
        if message.error is not None:
            log.write_line(f"✗ scale apply failed: {message.error}")
            self.app.notify(f"scale apply failed: {message.error}", severity="error", timeout=10)
        else:
            for line in result_lines(message.result):
                log.write_line(scrub(line, sink_style=False, limit=400))
            if message.result.cancelled:
                self.app.notify("scale apply cancelled (see the log for what is left)", severity="warning", timeout=8)
            else:
                self.app.notify("scale apply finished", timeout=5)
        self.refresh_bindings()
        self.compute(reread=True)  # fleet.yml may count the new identities now
        self.set_status(self._status())

    def action_cancel(self) -> None:
        if self.applying and self.apply_token is not None:
            self.apply_token.cancel("cancelled from the TUI (ctrl+x)")
            self.query_one("#scale-log", Log).write_line("… cancelling: stops before the next step")
            self.app.notify("scale apply: cancelling between steps", severity="warning")


def _pick(answer: Any, service: str) -> Any:
    """A test's or benchmark's chain reading: one ServiceView, or one per service."""
    if isinstance(answer, Mapping):
        if service not in answer:
            raise UserError(f"--service: no reading for {service!r}")
        return answer[service]
    return answer
