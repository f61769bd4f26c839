"""Each main view of ``fleetctl tui`` at 80x24 and 160x48, compared with the SVG screenshots kept
in ``__snapshots__/`` (pytest-textual-snapshot; ``pytest --snapshot-update`` writes them again
after an intended change: look at the report it makes before committing).

The data are fixed values of the library's own result types (a StakeReport, a HealthReport, ...)
handed to the views through the app's ``fetchers``, and the clock is fixed, so a screenshot
changes only when what the operator sees changes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleetctl.core.levels import Level
from fleetctl.pocket.base import ChainStatus
from fleetctl.pocket.stakes import PenaltyReport, StakeReport, SupplierReport
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions

NOW = 1_796_400_000.0  # 2026-12-04 16:00:00 UTC
POKT = 1_000_000
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def stake_report() -> StakeReport:
    def sup(i: int, stake: int, level: Level, reason: str = "", balance: int = 40 * POKT) -> SupplierReport:
        margin = stake - 1_000 * POKT
        return SupplierReport(
            name=f"lab-sup-{i}", address=f"pokt1{'q' * 33}{i:05d}", level=level, reasons=(reason,) if reason else (),
            chain_status=ChainStatus.STAKED, stake_upokt=stake, min_stake_upokt=1_000 * POKT,
            margin_upokt=margin, margin_bp=margin * 10_000 // (1_000 * POKT), warning_margin_upokt=100 * POKT,
            critical_margin_upokt=20 * POKT, balance_upokt=balance, min_balance_upokt=10 * POKT,
            penalties=(PenaltyReport("proof_missing", POKT, margin // POKT),), penalties_to_minimum=margin // POKT,
            topup_upokt=max(0, 100 * POKT + 1 - margin), missed_proofs_to_unstake=margin // POKT)
    suppliers = (
        sup(7, 1_010 * POKT, Level.CRITICAL, "within the critical margin (10 POKT above the minimum)"),
        sup(4, 1_060 * POKT, Level.WARNING, "within the warning margin (60 POKT above the minimum)"),
        sup(9, 1_300 * POKT, Level.WARNING, "operator balance 5 POKT below 10 POKT", balance=5 * POKT),
        *(sup(i, (1_400 + 50 * i) * POKT, Level.OK) for i in (1, 2, 3, 5, 6, 8, 10, 11, 12)),
    )
    return StakeReport(protocol="shannon", url="http://127.0.0.1:1317", status=Level.CRITICAL,
                       checked_at="2026-12-04T14:40:00Z", suppliers=suppliers, height=1000)


VIEWS: dict[str, Callable[[], Any]] = {
    "stakes": stake_report,
}


def app_for(view: str) -> FleetApp:
    result = VIEWS[view]()
    return FleetApp(TuiOptions(inventory="(fixed data)", refresh_s=0, start=view),
                    fetchers={view: lambda cancel: result}, clock=lambda: NOW)


async def _loaded(pilot: Any) -> None:
    screen = pilot.app.screen
    for _ in range(200):
        if getattr(screen, "refreshed_at", None) is not None:
            break
        await pilot.pause(0.02)
    await pilot.pause()


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_view_snapshot(snap_compare: Any, view: str, size: str) -> None:
    assert snap_compare(app_for(view), terminal_size=SIZES[size], run_before=_loaded)
