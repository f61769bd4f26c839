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
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleetctl.core.levels import Level
from fleetlab.standin import lab_address
from conftest import REPO
from fleetctl.pocket.base import ChainStatus
from fleetctl.pocket.stakes import PenaltyReport, StakeReport, SupplierReport
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions

NOW = 1_796_400_000.0  # 2026-12-04 16:00:00 UTC
POKT = 1_000_000
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLEETCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FLEETCTL_INVENTORY", raising=False)


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


#: A fixed folder for the inventories some views read (a path shown on screen must not change).
FIXED = Path("/tmp/fleetctl-tui-snapshots")


def fixed_inventory(name: str, hosts: str, fleet: str) -> Path:  # noqa: D103
    root = FIXED / name
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text(hosts)
    (root / "fleet.yml").write_text(fleet)
    return root


def health_report() -> Any:
    from test_health_view import report  # the Health view's own fixed report

    return report()


def claims_report() -> Any:
    from test_claims_view import report

    return report()


def diversity_overview() -> Any:
    from test_diversity_view import overview, plain_inventory

    return overview(plain_inventory(FIXED / "diversity"))


def alerts_list() -> Any:
    from fleetctl.health.alerts import AlertPolicy, AlertStore, Observation
    from fleetctl.workflows.alerts import list_alerts

    db = FIXED / "alerts.db"
    for stale in FIXED.glob("alerts.db*"):
        stale.unlink()
    FIXED.mkdir(parents=True, exist_ok=True)
    store = AlertStore(db)

    def obs(target: str, level: str = "CRITICAL") -> Observation:
        return Observation(target, "execution", level, f"{target} is {level.lower()}", {"chain": "eth"})

    firing = [obs("eth-geth-1"), obs("eth-nethermind-2", "WARNING"), obs("eth-erigon-1")]
    store.record_run(firing, AlertPolicy(after=1), run_started_at=NOW - 600, now=NOW - 600)
    store.record_run([*firing, obs("eth-reth-1", "WARNING")], AlertPolicy(after=3), run_started_at=NOW - 300,
                     now=NOW - 300)
    store.mute("execution/eth-nethermind*", NOW + 3600, "maintenance", now=NOW - 60)
    store.ack("execution/eth-erigon-1", NOW + 7200, now=NOW - 30)
    return list_alerts(db, now=NOW)


def scale_reading() -> Any:
    from test_scale_view import reading

    return reading()


def runs_plan() -> Any:
    from fleetctl.spec.loader import load_inventory
    from fleetctl.workflows import apply

    return apply.prepare(load_inventory(fixed_inventory("runs", *LAB_FILES)), offline=True)


def fleet_tree() -> Any:
    from fleetctl.spec.loader import load_inventory
    from fleetctl.workflows import fleet

    return fleet.prepare(load_inventory(fixed_inventory("fleet", *LAB_FILES)))  # no I/O: what the plan wants


LAB_FILES = tuple((REPO / "inventories" / "lab" / name).read_text() for name in ("hosts.yml", "fleet.yml"))
SCALE_INVENTORY = (
    "all:\n  vars:\n    fleet_capacity: {cpus: 8, memory_gb: 32, disk_gb: 4000}\n  hosts:\n"
    "    h1: {ansible_host: 127.0.0.1}\n    h2: {ansible_host: 127.0.0.1}\n    h3: {ansible_host: 127.0.0.1}\n",
    "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
    "chains:\n  eth: {clients: [geth, nethermind, erigon], replicas: 3, max_client_share: 0.34}\n"
    f"suppliers:\n  - {{name: sup-0, operator_address: '{lab_address('tui-snapshot-sup-0')}', services: [eth], "
    "host: h1}\n"
    "stake: {history_db: state.db}\n"
    "profiles:\n  geth: {full: {cpus: 1, memory_gb: 1, disk_gb: 1}}\n  nethermind: {full: {cpus: 1, memory_gb: 1, "
    "disk_gb: 1}}\n  erigon: {full: {cpus: 1, memory_gb: 1, disk_gb: 1}}\n",
)

VIEWS: dict[str, Callable[[], Any]] = {
    "stakes": stake_report,
    "health": health_report,
    "claims": claims_report,
    "diversity": diversity_overview,
    "alerts": alerts_list,
    "scale": scale_reading,
    "runs": runs_plan,
    "fleet": fleet_tree,
}
#: Views that read their inventory besides the fixed fetch (the scale view's service list).
INVENTORIES: dict[str, tuple[str, ...]] = {"scale": SCALE_INVENTORY, "runs": LAB_FILES, "fleet": LAB_FILES}


def app_for(view: str) -> FleetApp:
    result = VIEWS[view]()
    inventory = "(fixed data)"
    if view in INVENTORIES:
        inventory = str(fixed_inventory(view, *INVENTORIES[view]))
    return FleetApp(TuiOptions(inventory=inventory, refresh_s=0, start=view, db=str(FIXED / "state.db")),
                    fetchers={view: lambda cancel: result}, clock=lambda: NOW)


async def _loaded(pilot: Any) -> None:
    """Until the view shows its fixed data (a table view's first refresh, or the view's own
    ``loaded`` flag), then let the screen settle."""
    screen = pilot.app.screen
    for _ in range(300):
        if (getattr(screen, "refreshed_at", None) is not None or getattr(screen, "loaded", False)
                or getattr(screen, "plan", None) is not None):  # a table view's refresh; scale's what-if
            break
        await pilot.pause(0.02)
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_view_snapshot(snap_compare: Any, view: str, size: str) -> None:
    assert snap_compare(app_for(view), terminal_size=SIZES[size], run_before=_loaded)
