"""Health: the live sweep (``fleetctl health``), worst first and grouped by level, each check's
kind, target, state and reason; DIVERGED, lagging and syncing endpoints stand out. ``r`` takes the
selected backend (a balancer's server) out of rotation, or puts it back (``fleetctl rotation
out|in``), after a confirmation; ``enter`` on a balancer opens its pool.

A viewer: the sweep runs with ``record=False, alerts=False, remediate=False`` (cron records,
alerts and remediates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen

from fleetctl.core.events import CancelToken
from fleetctl.core.levels import Level
from fleetctl.tui.rows import LazyData, Row, level_style
from fleetctl.tui.screens.base import TableView, error_line

__all__ = ["BackendsView", "HealthView", "NOT_A_BACKEND", "pools", "state_style"]

NOT_A_BACKEND = "r: only backends (balancer servers) can be taken out of rotation"
#: An endpoint's state that makes a backend stand out (remediation's bad states).
STATE_STYLES = {"diverged": "bold white on red", "lagging": "bold yellow", "syncing": "bold yellow",
                "consensus": "bold yellow"}


def state_style(state: str | None) -> str:
    return STATE_STYLES.get(state or "", "")


def _state_text(state: str | None) -> Text:
    if not state:
        return Text("")
    return Text("DIVERGED" if state == "diverged" else state, style=state_style(state))


def pools(report: Any) -> dict[str, list[dict[str, str]]]:
    """Each balancer server's pools in the report: server name -> [{balancer (host/lb), host,
    name (lb), chain, status (HAProxy's)}], from the balancer checks' facts."""
    out: dict[str, list[dict[str, str]]] = {}
    for c in report.checks:
        if c.kind != "balancer":
            continue
        servers = c.facts.get("servers")
        if not isinstance(servers, list):
            continue
        host, _, name = c.target.partition("/")
        for s in servers:
            if isinstance(s, dict) and isinstance(s.get("name"), str):
                out.setdefault(s["name"], []).append({
                    "balancer": c.target, "host": str(c.facts.get("host") or host), "name": name,
                    "chain": str(c.facts.get("chain") or ""), "status": str(s.get("status") or "")})
    return out


def _rotation_text(found: list[dict[str, str]]) -> Text:
    if not found:
        return Text("")
    text = Text()
    for i, p in enumerate(found):
        if i:
            text.append(",")
        status = p["status"]
        text.append(status, style="bold yellow" if "MAINT" in status else ("green" if status.startswith("UP") else "red"))
    return text


def _direction(statuses: list[str]) -> str:
    """``in`` when the server is out of rotation (maintenance) everywhere it is, else ``out``."""
    return "in" if statuses and all("MAINT" in s for s in statuses) else "out"


class RotationPrepared(Message):
    def __init__(self, plan: Any, error: str | None) -> None:
        super().__init__()
        self.plan = plan
        self.error = error


class RotationDone(Message):
    def __init__(self, result: Any, error: str | None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class _Rotation(TableView):
    """``r`` on a backend: prepare (reads the balancer, no change) -> refused: why / confirm with
    the ``fleetctl rotation`` command -> execute -> the result -> refresh."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "remediate", "rotation out/in"),
        Binding("ctrl+x", "cancel_rotation", "cancel", show=False),
    ]

    def __init__(self, crumb: str | None = None) -> None:
        super().__init__(crumb)
        self._rotating = False
        self._rotation_token: CancelToken | None = None

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.tui import fetch

        return fetch.run("health", source, cancel)

    def summary(self, result: Any) -> str:
        return str(result.nagios_line().split(" | ")[0])

    def backend(self, row: Row) -> tuple[str, str] | None:
        """(BACKEND as ``fleetctl rotation`` takes it, ``out``/``in``) for a row, None if not one."""
        raise NotImplementedError

    def action_remediate(self) -> None:
        row = self.current_row()
        picked = self.backend(row) if row is not None else None
        if picked is None:
            self.app.notify(NOT_A_BACKEND, severity="warning")
            return
        if self.app.refuse_if_read_only("remediate"):  # type: ignore[attr-defined]
            return
        if self._rotating:
            self.app.notify("r: a rotation change is already under way", severity="warning")
            return
        backend, action = picked
        self._rotating = True
        self.app.notify(f"rotation {action} {backend}: reading its balancer and the pool's health…", timeout=4)
        source = self.app.source  # type: ignore[attr-defined]
        token = self._rotation_token = CancelToken()

        def work() -> None:
            from fleetctl.workflows import rotation

            try:
                plan, error = rotation.prepare(source.fleet(), backend, action, db=source.options.db,
                                               cancel=token), None
            except Exception as exc:  # noqa: BLE001 - said in a notice; nothing changed
                plan, error = None, error_line(exc)
            self.post_message(RotationPrepared(plan, error))

        self.run_worker(work, thread=True, group="rotation", exit_on_error=False, name=f"rotation {action} {backend}")

    def action_cancel_rotation(self) -> None:
        """ctrl+x: stop reading the pool (nothing changed), or stop a change before its command is sent."""
        if self._rotating and self._rotation_token is not None:
            self._rotation_token.cancel("cancelled from the TUI")
            self.app.notify("rotation: cancelling…", timeout=3)

    @on(RotationPrepared)
    def _prepared(self, message: RotationPrepared) -> None:
        plan = message.plan
        if message.error is not None or plan is None:
            self._rotating = False
            self.app.notify(f"rotation: {message.error}", severity="error", timeout=8)
            return
        if plan.refused is not None:
            self._rotating = False
            self.app.notify(plan.summary, severity="warning", timeout=8)
            return
        if not plan.changes:
            self._rotating = False
            self.app.notify(plan.summary, timeout=6)
            return
        from fleetctl.workflows import rotation

        lines = [plan.summary]
        if plan.endpoint_level is not None:
            lines.append(f"its endpoint: {plan.endpoint_level} ({plan.endpoint_state})"
                         + (f": {plan.endpoint_message}" if plan.endpoint_message else ""))
        others = ", ".join(plan.others_in_rotation) or "none"
        lines.append(f"left in rotation and healthy: {others}")
        lines += [f"warning: {w}" for w in plan.warnings]
        if plan.runtime_command:
            lines.append(f"HAProxy runtime API on {plan.host}: {plan.runtime_command}")
        command = rotation.cli_command(plan, inventory=self.app.options.inventory)  # type: ignore[attr-defined]

        # the modal is up until answered: no second r meanwhile; a "yes" sets the flag again
        self._rotating = False
        self.app.confirm(f"rotation {plan.action} {plan.server}", lines, command,  # type: ignore[attr-defined]
                         then=lambda: self._execute(plan), danger=plan.action == "out")

    def _execute(self, plan: Any) -> None:
        self._rotating = True
        source = self.app.source  # type: ignore[attr-defined]
        token = self._rotation_token = CancelToken()

        def work() -> None:
            from fleetctl.workflows import rotation

            try:
                result, error = rotation.execute(source.fleet(), plan, db=source.options.db, cancel=token), None
            except Exception as exc:  # noqa: BLE001 - said in a notice
                result, error = None, error_line(exc)
            self.post_message(RotationDone(result, error))

        self.run_worker(work, thread=True, group="rotation", exit_on_error=False,
                        name=f"rotation {plan.action} {plan.server}")

    @on(RotationDone)
    def _done(self, message: RotationDone) -> None:
        self._rotating = False
        if message.error is not None or message.result is None:
            self.app.notify(f"rotation: {message.error}", severity="error", timeout=8)
        else:
            r = message.result
            self.app.notify(r.message, severity="information" if r.ok else "error", timeout=8)
        self.start_refresh()


def _with_rotation(check: Any, found: list[dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        data: dict[str, Any] = check.as_dict()
        if found:
            data["rotation"] = found
        return data
    return make


class HealthView(_Rotation):
    VIEW = "health"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("LEVEL", 8), ("KIND", 11), ("TARGET", 22), ("STATE", 9), ("LB", 6), ("REASON", None),
    )

    def rows(self, result: Any) -> list[Row]:
        in_pools = pools(result)
        rows: list[Row] = []
        for c in result.ordered():  # worst first (CRITICAL, UNKNOWN, WARNING, OK), then kind, target
            state = c.facts.get("state") if c.kind in ("execution", "consensus") else None
            state = state if isinstance(state, str) else None
            found = in_pools.get(c.target, []) if c.kind == "execution" else []
            stand_out = state_style(state)
            rows.append(Row(
                key=c.key,
                cells=(Text(c.level.name, style=level_style(c.level)), c.kind, Text(c.target, style=stand_out),
                       _state_text(state), _rotation_text(found), c.message),
                level=c.level, data=LazyData(_with_rotation(c, found))))
        return rows

    def backend(self, row: Row) -> tuple[str, str] | None:
        found = row.data.get("rotation")
        if row.data.get("kind") != "execution" or not found:
            return None
        return str(row.data["target"]), _direction([p["status"] for p in found])

    def drill(self, row: Row) -> Screen[Any] | None:
        if row.data.get("kind") == "balancer" and row.data.get("servers"):
            return BackendsView(str(row.data["target"]))
        return None


class BackendsView(_Rotation):
    """One balancer's pool: each server's HAProxy status beside its endpoint's health; ``r`` on a
    server takes it out of rotation or puts it back."""

    VIEW = "health"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("LB", 6), ("SERVER", 22), ("LEVEL", 8), ("STATE", 9), ("REASON", None),
    )

    def __init__(self, balancer: str) -> None:
        super().__init__(crumb=f"{balancer} pool")
        self.balancer = balancer  # host/lb-eth

    def summary(self, result: Any) -> str:
        check = next((c for c in result.checks if c.kind == "balancer" and c.target == self.balancer), None)
        if check is None:
            return f"{self.balancer}: not in this sweep"
        return f"{self.balancer}: {check.level.name} - {check.message}"

    def rows(self, result: Any) -> list[Row]:
        check = next((c for c in result.checks if c.kind == "balancer" and c.target == self.balancer), None)
        if check is None:
            return []
        endpoints = {c.target: c for c in result.checks if c.kind == "execution"}
        host, _, name = self.balancer.partition("/")
        rows: list[Row] = []
        for s in check.facts.get("servers") or []:
            if not isinstance(s, dict) or not isinstance(s.get("name"), str):
                continue
            server, status = s["name"], str(s.get("status") or "")
            c = endpoints.get(server)
            state = c.facts.get("state") if c is not None else None
            state = state if isinstance(state, str) else None
            level: Level | None = c.level if c is not None else None
            pool = [{"balancer": self.balancer, "host": host, "name": name, "chain": str(check.facts.get("chain") or ""),
                     "status": status}]
            rows.append(Row(
                key=server,
                cells=(_rotation_text(pool), Text(server, style=state_style(state)),
                       Text(level.name if level is not None else "?", style=level_style(level)), _state_text(state),
                       c.message if c is not None else "no health verdict for this server"),
                level=level, data={"server": s, "balancer": self.balancer, "endpoint": c.as_dict() if c else None}))
        return rows

    def backend(self, row: Row) -> tuple[str, str] | None:
        server = row.data.get("server")
        if not isinstance(server, dict):
            return None
        return f"{self.balancer}/{server['name']}", _direction([str(server.get("status") or "")])
