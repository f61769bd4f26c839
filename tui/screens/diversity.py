"""Diversity: per chain and layer, each client's share of the running full nodes as a bar against
the quota line (``max_client_share``), the share the plan wants beside it (``fleetctl
diversity``, plus the placement ``fleetctl plan`` makes). Hosts that did not answer and adopted
endpoints that answered no version are UNKNOWN rows: their nodes are not counted.

``enter`` on a client: the containers and adopted endpoints counted for it. ``d``: every figure
the report has for the row.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.screen import Screen

from fleetctl.core.events import CancelToken
from fleetctl.core.levels import Level
from fleetctl.tui.rows import Row, bar, level_style
from fleetctl.tui.screens.base import TableView

__all__ = ["DiversityMembersView", "DiversityView", "client_rows"]

#: The share bar's width in cells (the quota line is drawn inside it): the table fits 80 columns.
BAR = 8


def _level(level: Level) -> Text:
    return Text(level.name, style=level_style(level))


def _pct(fraction: float | None) -> str:
    return "?" if fraction is None else f"{fraction:.0%}"


def _planned(count: int | None, share: float | None) -> str:
    return "-" if count is None else f"{count} · {_pct(share)}"


def client_rows(overview: Any) -> list[Row]:
    """A row per chain, layer and client (the clients counted and the clients planned, the most
    counted first), then an
    UNKNOWN row per unreachable host and per adopted endpoint that was not counted."""
    report = overview.report
    rows: list[Row] = []
    for c in report.chains:
        for ls in (c.execution, c.consensus):
            planned = overview.planned.get(c.chain, {}).get(ls.layer, {})
            # the largest share first (then by name): the client nearest its quota on top
            for client in sorted(set(ls.counts) | set(planned), key=lambda cl: (-ls.counts.get(cl, 0), cl)):
                n = ls.counts.get(client, 0)
                share = ls.shares.get(client, 0.0)
                over = client in ls.over_quota
                level = Level.WARNING if over else (Level.UNKNOWN if ls.level is Level.UNKNOWN else Level.OK)
                p_count = overview.planned_count(c.chain, ls.layer, client)
                p_share = overview.planned_share(c.chain, ls.layer, client)
                members = ls.members.get(client, ())
                rows.append(Row(
                    key=f"{c.chain}/{ls.layer}/{client}",
                    cells=(_level(level), c.chain, ls.layer, client, str(n),
                           Text(f"{bar(share, BAR, mark=c.quota)} {_pct(share):>4}",
                                style="yellow" if over else ""),
                           _pct(c.quota), _planned(p_count, p_share)),
                    level=level,
                    data={"chain": c.chain, "layer": ls.layer, "client": client, "nodes": n,
                          "share": round(share, 4), "quota": c.quota, "over_quota": over, "status": level.name,
                          "planned": {"nodes": p_count, "share": None if p_share is None else round(p_share, 4)},
                          "layer_figures": ls.as_dict(), "chain_status": c.level.name,
                          "members": [m.as_dict() for m in members]}))
    for host in report.unreachable:
        notes = [n for n in report.notes if n.startswith(f"{host}: ")]
        rows.append(Row(
            key=f"host/{host}",
            cells=(_level(Level.UNKNOWN), "*", "host", host, "?", "unreachable", "", "its nodes not counted"),
            level=Level.UNKNOWN, data={"host": host, "reachable": False, "status": Level.UNKNOWN.name,
                                       "notes": notes}))
    for p in report.probes:
        if p.client is not None:
            continue
        rows.append(Row(
            key=f"endpoint/{p.name}",
            cells=(_level(Level.UNKNOWN), p.chain, p.layer, f"{p.declared}?", "?", "no version", "",
                   Text(f"{p.name}: not counted", style=level_style(Level.UNKNOWN))),
            level=Level.UNKNOWN,
            data={"endpoint": p.name, "chain": p.chain, "layer": p.layer, "declared": p.declared, "url": p.url,
                  "answered": p.client, "detail": p.detail, "status": Level.UNKNOWN.name}))
    return rows


class DiversityView(TableView):
    VIEW = "diversity"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("LEVEL", 7), ("CHAIN", 7), ("LAYER", 9), ("CLIENT", 10), ("NODES", 5), ("SHARE", BAR + 5),
        ("QUOTA", 5), ("PLANNED", None),
    )

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.tui import fetch

        return fetch.run("diversity", source, cancel)

    def summary(self, result: Any) -> str:
        report = result.report
        parts = [f"diversity {report.level.name}", f"{len(report.chains)} chain(s)"]
        if report.unreachable:
            parts.append(f"unreachable (not counted): {', '.join(report.unreachable)}")
        if result.plan_error:
            parts.append(f"no plan: {result.plan_error}")
        line = " · ".join(parts)
        others = [n for n in report.notes if not any(n.startswith(f"{h}: ") for h in report.unreachable)]
        if others:
            line += "\nnote: " + others[0] + (f" (+{len(others) - 1} more: d on a row)" if len(others) > 1 else "")
        return line

    def rows(self, result: Any) -> list[Row]:
        return client_rows(result)

    def drill(self, row: Row) -> Screen[Any] | None:
        if "client" not in row.data:
            self.app.notify("nothing counted behind this row", severity="warning")
            return None
        return DiversityMembersView(str(row.data["chain"]), str(row.data["layer"]), str(row.data["client"]),
                                    initial=self.result)


class DiversityMembersView(TableView):
    """The containers and adopted endpoints counted for one client of one chain's layer."""

    VIEW = "diversity"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("KIND", 10), ("HOST", 12), ("NAME", 28), ("DETAIL", None),
    )

    def __init__(self, chain: str, layer: str, client: str, *, initial: Any = None) -> None:
        super().__init__(crumb=f"{chain} {layer} {client}")
        self.chain_id, self.layer_name, self.client_name = chain, layer, client
        self._initial = initial

    def _fetcher(self) -> Any:
        # The first paint shows what the list view just fetched (no second observation); ctrl+r
        # and the interval observe again.
        if self._initial is not None:
            first, self._initial = self._initial, None
            return lambda cancel: first
        return super()._fetcher()

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.tui import fetch

        return fetch.run("diversity", source, cancel)

    def _find(self, result: Any) -> Any:
        chain = next((c for c in result.report.chains if c.chain == self.chain_id), None)
        return None if chain is None else (chain, chain.layer(self.layer_name))

    def summary(self, result: Any) -> str:
        found = self._find(result)
        if found is None:
            return f"{self.chain_id}: no longer in the fleet"
        chain, ls = found
        n = ls.counts.get(self.client_name, 0)
        p_count = result.planned_count(self.chain_id, self.layer_name, self.client_name)
        return (f"{self.client_name} on {self.chain_id} ({self.layer_name}): {n} of {ls.total} counted, "
                f"{_pct(ls.shares.get(self.client_name, 0.0))} against a quota of {_pct(chain.quota)}; planned "
                f"{_planned(p_count, result.planned_share(self.chain_id, self.layer_name, self.client_name))}")

    def rows(self, result: Any) -> list[Row]:
        found = self._find(result)
        if found is None:
            return []
        _, ls = found
        return [Row(key=f"{m.kind}/{m.host or ''}/{m.name}",
                    cells=(m.kind, m.host or "-", m.name, m.detail), data=m.as_dict())
                for m in ls.members.get(self.client_name, ())]
