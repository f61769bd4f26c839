"""Stakes: every supplier, riskiest first (``fleetctl stakes``); ``enter``: its recorded history
with a sparkline and the slashes in it (``fleetctl stakes --history``)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Sparkline, Static

from fleetctl.core.events import CancelToken
from fleetctl.core.units import format_upokt
from fleetctl.tui.rows import LazyData, Row, bar, level_style
from fleetctl.tui.screens.base import TableView

__all__ = ["StakeHistoryView", "StakesView"]


def _amount(v: int | None) -> str:
    return "?" if v is None else format_upokt(v)


def level_text(name: str, level: Any) -> Text:
    return Text(name, style=level_style(level))


class StakesView(TableView):
    VIEW = "stakes"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("LEVEL", None), ("SUPPLIER", None), ("STAKE", None), ("MARGIN", None), ("TO MIN", None),
        ("TOP-UP", None), ("BALANCE", None), ("REASON", None),
    )

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.tui import fetch

        return fetch.run("stakes", source, cancel)

    def summary(self, result: Any) -> str:
        return str(result.nagios_line().split(" | ")[0])

    def rows(self, result: Any) -> list[Row]:
        rows = []
        for s in sorted(result.suppliers, key=lambda s: s.sort_key()):
            # The bar: the margin above the minimum against twice the warning margin, the warning
            # margin marked at its middle (a bar left of the mark is inside the warning margin).
            fraction = mark = None
            if s.margin_upokt is not None and s.warning_margin_upokt:
                fraction, mark = s.margin_upokt / (2 * s.warning_margin_upokt), 0.5
            elif s.margin_bp is not None:
                fraction = s.margin_bp / 10_000
            percent = "" if s.margin_bp is None else f" {s.margin_bp / 100:.1f}%"
            margin = Text(bar(fraction, 10, mark=mark) + percent, style=level_style(s.level))
            to_min = "∞" if s.missed_proofs_unbounded else ("?" if s.penalties_to_minimum is None
                                                             else str(s.penalties_to_minimum))
            rows.append(Row(
                key=s.address or s.name,
                cells=(level_text(s.level.name, s.level), s.name, _amount(s.stake_upokt), margin, to_min,
                       "" if not s.topup_upokt else _amount(s.topup_upokt), _amount(s.balance_upokt),
                       s.reasons[0] if s.reasons else ""),
                level=s.level, data=LazyData(s.as_dict)))
        return rows

    def drill(self, row: Row) -> Screen[Any] | None:
        return StakeHistoryView(str(row.data.get("address") or row.key), str(row.data.get("name") or row.key))


class StakeHistoryView(TableView):
    """One supplier's recorded samples, oldest first, a sparkline of its stake, its slashes."""

    VIEW = "stakes"
    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("CHECKED", 20), ("HEIGHT", 9), ("LEVEL", 8), ("STAKE", 14), ("BALANCE", 12), ("SLASHED", 12),
        ("REASON", None),
    )

    def __init__(self, address: str, name: str) -> None:
        super().__init__(crumb=f"{name} history")
        self.address = address

    def compose_body(self) -> ComposeResult:
        yield Sparkline([], id="sparkline")
        yield Static(id="slashes", classes="summary")
        yield from super().compose_body()

    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.workflows.stakes import trend

        return trend(self.address, source.fleet(), source.options.db, busy_timeout_s=5.0)

    def summary(self, result: Any) -> str:
        stakes = [s.record.stake_upokt for s in result.samples if s.record.stake_upokt is not None]
        self.query_one("#sparkline", Sparkline).data = [float(v) for v in stakes] or [0.0]
        slashes = result.slashes
        text = (f"{len(slashes)} slash(es): " + ", ".join(
            f"{format_upokt(s.amount_upokt)} at {s.checked_at}" for s in slashes[-4:])) if slashes else "no slash"
        self.query_one("#slashes", Static).update(Text(text, style="bold red" if slashes else ""))
        return f"{len(result.samples)} sample(s) of {result.address} in {result.db}"

    def rows(self, result: Any) -> list[Row]:
        slashed_at = {s.sample_index: s for s in result.slashes}
        rows = []
        for i, sample in enumerate(result.samples):
            r = sample.record
            cut = slashed_at.get(i)
            rows.append(Row(
                key=f"{i}:{sample.checked_at}",
                cells=(sample.checked_at, "" if sample.height is None else str(sample.height),
                       Text(r.status, style=level_style(_level(r.status))), _amount(r.stake_upokt),
                       _amount(r.balance_upokt),
                       Text(format_upokt(cut.amount_upokt), style="bold red") if cut else "",
                       r.reasons[0] if r.reasons else ""),
                data={"checked_at": sample.checked_at, "height": sample.height, **_record(r),
                      "slash": None if cut is None else {"amount_upokt": cut.amount_upokt,
                                                         "stake_before_upokt": cut.stake_before_upokt,
                                                         "stake_after_upokt": cut.stake_after_upokt}}))
        return rows


def _level(name: str) -> Any:
    from fleetctl.core.levels import Level

    return Level.__members__.get(name)


def _record(r: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(r)
