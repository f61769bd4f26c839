"""Claims: per supplier and service, what the chain paid and took (``fleetctl claims``): claims,
proven, settled, lost by reason, slashes, and the proofs still missing with the blocks left in
their window; the rows with a required proof still missing come first, the closest window on top.

A viewer: the workflow runs with ``record=False``, so the blocks since cron's cursor are read and
judged with what cron stored, and nothing is written (cron's cursor does not move). ``w``
switches the window between the last 24 h and the last sessions; ``enter``: the supplier's
sessions (each claim, its proof and its outcome); ``d``: every field the report has.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from fleetctl.core.events import CancelToken
from fleetctl.core.levels import Level
from fleetctl.tui.rows import Row, level_style
from fleetctl.tui import fetch
from fleetctl.tui.screens.base import TableView

__all__ = ["ClaimsView", "SupplierSessionsView", "supplier_rows"]

WINDOWS = ("24h", "sessions")


def _level(level: Level | None) -> Text:
    return Text("" if level is None else level.name, style=level_style(level))


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _lost(lost: dict[str, int]) -> str:
    return ", ".join(f"{reason} {amount:,}" for reason, amount in sorted(lost.items())) or "-"


def _due(items: list[Any]) -> Text:
    """The missing proofs: the required ones and the blocks left before the first window closes
    (``2 due in 3 blk``), then the possibly required (probabilistic) ones (``+1?``, or ``1 maybe
    in 8 blk`` alone)."""
    required = [a for a in items if a.requirement == "THRESHOLD"]
    maybe = [a for a in items if a.requirement != "THRESHOLD"]
    if required:
        text = f"{len(required)} due in {min(a.blocks_left for a in required)} blk"
        text += f" +{len(maybe)}?" if maybe else ""
    elif maybe:
        text = f"{len(maybe)} maybe in {min(a.blocks_left for a in maybe)} blk"
    else:
        text = "-"
    worst = Level.WARNING if any(a.level is Level.WARNING for a in items) else None
    return Text(text, style=level_style(worst) if worst else "")


def supplier_rows(report: Any, window: str = "24h") -> list[Row]:
    """A row per supplier and service with events, then a row per supplier without any, then the
    run's own problem (``claims/sync``). Order: a required proof missing first (fewest blocks
    left on top), then by level (CRITICAL, UNKNOWN, WARNING, OK), then by name and service."""
    checks = {name: (level, message) for name, level, message in report.checks}
    risk: dict[tuple[str, str], list[Any]] = {}
    for a in report.at_risk:
        risk.setdefault((a.supplier, a.service), []).append(a)
    found: list[tuple[tuple[Any, ...], Row]] = []
    seen: set[str] = set()
    for r in report.rows:
        seen.add(r.name)
        level, message = checks.get(f"claims/{r.name}", (None, ""))
        items = risk.get((r.supplier, r.service), [])
        t = r.day if window == "24h" else r.sessions
        required = [a.blocks_left for a in items if a.requirement == "THRESHOLD"]
        slashed = f"{t.slashes} (-{t.slashed_upokt:,})" if t.slashes else "0"
        found.append(((0 if required else 1, min(required, default=0),
                       -(level.severity if level is not None else 0), r.name, r.service),
                      Row(key=f"{r.supplier}/{r.service}",
                          cells=(_level(level), r.name, r.service, _due(items), f"{t.claims:,}",
                                 f"{t.claimed_upokt:,}", f"{t.proven_upokt:,}", f"{t.settled_upokt:,}",
                                 Text(_lost(t.lost_upokt), style="red" if t.lost_upokt else ""),
                                 Text(slashed, style="bold red" if t.slashes else ""),
                                 message if level not in (None, Level.OK) else ""),
                          level=level,
                          data={**r.as_dict(), "status": level.name if level is not None else None, "check": message,
                                "proofs_missing": [a.as_dict() for a in items]})))
    for name, (level, message) in checks.items():
        if not name.startswith("claims/") or name == "claims/sync" or name[len("claims/"):] in seen:
            continue
        supplier = name[len("claims/"):]
        found.append(((1, 0, -level.severity, supplier, ""),
                      Row(key=name, cells=(_level(level), supplier, "", "-", "0", "-", "-", "-", "-", "0",
                                           "no claim in the blocks read"),
                          level=level, data={"name": supplier, "status": level.name, "check": message})))
    rows = [row for _, row in sorted(found, key=lambda f: f[0])]
    if "claims/sync" in checks:
        level, message = checks["claims/sync"]
        rows.append(Row(key="claims/sync", cells=(_level(level), "(sync)", "", "", "", "", "", "", "", "", message),
                        level=level, data={"check": "claims/sync", "status": level.name, "message": message,
                                           "sync": None if report.sync is None else report.sync.as_dict()}))
    return rows


class ClaimsView(TableView):
    ROWS_IN_WORKER = False  # its rows follow the window key (w)
    VIEW = "claims"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("LEVEL", 8), ("SUPPLIER", 12), ("SERVICE", 8), ("PROOFS MISSING", 18), ("CLAIMS", 6),
        ("CLAIMED", 10), ("PROVEN", 10), ("SETTLED", 10), ("LOST", 20), ("SLASHED", 12), ("REASON", None),
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("w", "window", "24h/sessions")]

    def __init__(self, crumb: str | None = None) -> None:
        super().__init__(crumb)
        self.window = WINDOWS[0]

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        return fetch.run("claims", source, cancel)

    def summary(self, result: Any) -> str:
        where = (f"height {result.latest_height:,}" if result.latest_height is not None else "height unknown")
        window = ("the last 24 h" if self.window == "24h" else
                  "the last sessions (ending at " + (", ".join(str(e) for e in result.session_ends) or "-") + ")")
        sync = result.sync
        read = ""
        if sync is not None and sync.first is not None:
            read = f" · read {sync.first:,}-{sync.last:,}, not stored"
        return f"claims {result.status.name} at {where} · {window}, upokt{read}\n{result.summary()}"

    def rows(self, result: Any) -> list[Row]:
        return supplier_rows(result, self.window)

    def action_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        if self.result is None:
            return
        self.all_rows = self.rows(self.result)
        self.query_one("#summary", Static).update(Text(self.summary(self.result)))
        self.render_rows()
        self.set_status(self._status(), self.error)

    def drill(self, row: Row) -> Screen[Any] | None:
        supplier = row.data.get("supplier")
        if not supplier:
            self.app.notify("no claim of this supplier in the blocks read", severity="warning")
            return None
        return SupplierSessionsView(str(supplier), str(row.data.get("name") or supplier), initial=self.result)


class SupplierSessionsView(TableView):
    """One supplier's claims of the report's windows, newest session first: claimed, its proof
    (or the blocks left to prove it), its outcome and slashes."""

    VIEW = "claims"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("LEVEL", 8), ("SESSION", 9), ("SERVICE", 8), ("APPLICATION", 16), ("RELAYS", 8), ("CLAIMED", 11),
        ("PROOF", 24), ("OUTCOME", None),
    )

    def __init__(self, supplier: str, name: str, *, initial: Any = None) -> None:
        super().__init__(crumb=f"{name} sessions")
        self.supplier = supplier
        self._initial = initial

    def _fetcher(self) -> Any:
        # The first paint shows what the list just read (no second read of the chain); ctrl+r
        # and the interval read again.
        if self._initial is not None:
            first, self._initial = self._initial, None
            return lambda cancel: first
        return super()._fetcher()

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        return fetch.run("claims", source, cancel)

    def summary(self, result: Any) -> str:
        mine = [c for c in result.claims if c.supplier == self.supplier]
        missing = [a for a in result.at_risk if a.supplier == self.supplier]
        return (f"{len(mine)} claim(s) in the last sessions and the last 24 h, {len(missing)} proof(s) "
                f"missing; at height {_n(result.latest_height)}")

    def rows(self, result: Any) -> list[Row]:
        risk = {(a.service, a.application, a.session_end): a for a in result.at_risk if a.supplier == self.supplier}
        rows = []
        for c in result.claims:
            if c.supplier != self.supplier:
                continue
            a = risk.get((c.service, c.application, c.session_end))
            if c.proof_height is not None:
                proof = Text(f"at {c.proof_height:,}")
            elif a is not None:
                need = "required" if a.requirement == "THRESHOLD" else "maybe"
                proof = Text(f"{need}: {a.blocks_left} blk left ({a.proof_window[0]}-{a.proof_window[1]})",
                             style=level_style(Level.WARNING) if a.level is Level.WARNING else "")
            else:
                proof = Text("-")
            if c.outcome is None:
                outcome = Text("pending")
            elif c.outcome == "settled":
                outcome = Text(f"settled {_n(c.settled_upokt if c.settled_upokt is not None else c.claimed_upokt)}"
                               f" at {c.outcome_height:,}", style="green")
            else:
                outcome = Text(f"{c.outcome} {c.reason or ''} at {c.outcome_height:,}".replace("  ", " "),
                               style="bold red" if c.outcome == "expired" else "yellow")
            if c.slashes:
                outcome.append(f"; slashed {c.slashed_upokt:,}", style="bold red")
            rows.append(Row(
                key=f"{c.service}/{c.application}/{c.session_end}",
                cells=(_level(a.level if a is not None else None), str(c.session_end), c.service, c.application,
                       _n(c.relays), _n(c.claimed_upokt), proof, outcome),
                level=a.level if a is not None else None,
                data={**c.as_dict(), "proof_missing": None if a is None else a.as_dict()}))
        return rows
