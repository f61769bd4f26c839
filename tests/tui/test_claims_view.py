"""The Claims view of ``fleetctl tui``: per supplier and service the claims, proofs, settlements and
losses, the rows with a required proof still missing first; ``enter``: the supplier's sessions;
``w``: the last sessions instead of the last 24 h; ``d``: every field.

A viewer records nothing: over the CometBFT node stand-in of the claims tests (comet_events_node:
real HTTP, /block_results with poktroll's typed events, the Shannon REST params) the view shows
what cron stored plus the blocks since cron's cursor, and the store's cursor and events stay as
cron left them (no store: none is created). Params: sessions of 10 blocks, proof window
E+6..E+10, a proof required above 20,000 upokt, else with probability 0.25.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from comet_events_node import (  # noqa: E402
    CometNode,
    block_body,
    claim_created,
    claim_expired,
    claim_settled,
    proof_submitted,
    supplier_slashed,
)
from fleetctl.core.levels import Level  # noqa: E402
from fleetctl.pocket.claims import AtRisk, ClaimRow, ClaimsReport, SessionClaim, Totals  # noqa: E402
from fleetctl.spec.loader import load_inventory  # noqa: E402
from fleetctl.tui.app import FleetApp  # noqa: E402
from fleetctl.tui.options import TuiOptions  # noqa: E402
from fleetctl.workflows.claims import execute  # noqa: E402
from fleetlab.standin import lab_address  # noqa: E402

A, B, C, D = (lab_address(f"tui-claims-{x}") for x in "abcd")
APP = lab_address("tui-claims-app")
LATEST = 198


def story(node: CometNode) -> None:
    """sup-a: 170 proven and settled (2,000 overserviced), 190 required and missing (window
    196-200: 2 blocks left at 198). sup-b: 180 required, expired PROOF_MISSING and slashed.
    sup-c: 190 probabilistic. sup-d: nothing."""
    node.put(172, block_body(172, [[claim_created(A, "eth", APP, 170, relays=300, cu=600, claimed=30000)]], []))
    node.put(176, block_body(176, [[proof_submitted(A, "eth", APP, 170, relays=300, cu=600, claimed=30000)]], []))
    node.put(180, block_body(180, [], [claim_settled(A, "eth", APP, 170, relays=300, cu=600, claimed=30000,
                                                     settled=28000, requirement=2)]))
    node.put(182, block_body(182, [[claim_created(B, "anvil", APP, 180, relays=500, cu=1000, claimed=50000)]], []))
    node.put(190, block_body(190, [], [
        claim_expired(B, "anvil", APP, 180, relays=500, cu=1000, claimed=50000),
        supplier_slashed(B, "anvil", APP, 180, penalty=1_000_000, stake_after=59_499_000_000)]))
    node.put(192, block_body(192, [[claim_created(A, "eth", APP, 190, relays=250, cu=500, claimed=25000)],
                                   [claim_created(C, "eth", APP, 190, relays=10, cu=20, claimed=1000)]], []))


@pytest.fixture()
def node() -> Iterator[tuple[CometNode, str]]:
    n = CometNode(LATEST)
    story(n)
    url = n.start()
    yield n, url
    n.stop()


def inventory(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    lines = "\n".join(f"  - {{name: sup-{x}, operator_address: '{a}', services: [eth]}}"
                      for x, a in zip("abcd", (A, B, C, D)))
    (root / "fleet.yml").write_text(
        f"protocol: shannon\npocket: {{rest_url: '{url}', node_rpc_url: '{url}'}}\n"
        "chains:\n  eth: {clients: [geth], replicas: 1}\n"
        f"suppliers:\n{lines}\n")
    return root


def app_for(inv: Path, db: Path, fetch: Any = None, **options: Any) -> FleetApp:
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "claims", "db": str(db), **options}
    return FleetApp(TuiOptions(**opts), fetchers={"claims": fetch} if fetch is not None else None)


async def refreshed(pilot: Any, screen: Any, after: float | None = None, limit: int = 600) -> None:
    """Wait until ``screen`` applied a refresh newer than ``after`` (or failed one); no time is asserted."""
    for _ in range(limit):
        await pilot.pause(0.05)
        if screen.refreshed_at is not None and screen.refreshed_at != after and not screen._inflight:
            return
        if screen.error and not screen._inflight:
            return
    raise AssertionError(f"no refresh: {screen.status_text} {screen.error}")


def table(screen: Any) -> list[list[str]]:
    return [[str(c) for c in r.cells] for r in screen.shown]


def store_state(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        cursor = conn.execute("SELECT last_height, last_hash FROM chain_cursor").fetchall()
        events = conn.execute("SELECT height, kind, supplier, session_end FROM chain_events "
                              "ORDER BY height, kind, supplier").fetchall()
    return cursor, events


def summary(screen: Any) -> str:
    return str(screen.query_one("#summary").render())


# ----------------------------------------------------------------------------- the real workflow


def test_the_story_from_the_chain_with_no_store_creates_none(node: tuple[CometNode, str], tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", node[1])
    db = tmp_path / "state" / "fleetctl.db"

    async def run() -> None:
        app = app_for(inv, db)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert app.current_mode == "claims" and screen.error is None, screen.status_text
            rows = table(screen)
            # a required proof missing first, then the worst level, then the rest
            assert [(r[1], r[2]) for r in rows] == [("sup-a", "eth"), ("sup-b", "anvil"), ("sup-c", "eth"),
                                                    ("sup-d", "")]
            a, b, c, d = rows
            assert a[0] == "WARNING" and a[3] == "1 due in 2 blk" and "2 block(s) left" in a[10]
            assert a[4:8] == ["2", "55,000", "30,000", "28,000"] and a[8] == "OVERSERVICING 2,000"
            assert b[0] == "CRITICAL" and b[8] == "PROOF_MISSING 50,000" and b[9] == "1 (-1,000,000)"
            assert c[0] == "OK" and c[3] == "1 maybe in 2 blk" and c[10] == ""
            assert d[0] == "OK" and d[10] == "no claim in the blocks read"
            assert "claims CRITICAL at height 198" in summary(screen) and "not stored" in summary(screen)
            # d: the row's fields as the report has them
            await pilot.press("d")
            text = app.screen.text
            assert '"last_24h"' in text and '"proofs_missing"' in text and '"blocks_left": 2' in text
            await pilot.press("escape")
            # enter: sup-a's sessions, newest first
            await pilot.press("enter")
            sessions = app.screen
            assert type(sessions).__name__ == "SupplierSessionsView" and "sup-a sessions" in app.breadcrumbs()
            await refreshed(pilot, sessions)
            got = table(sessions)
            assert [r[1] for r in got] == ["190", "170"]
            assert got[0][0] == "WARNING" and got[0][6] == "required: 2 blk left (196-200)" and got[0][7] == "pending"
            assert got[1][6] == "at 176" and got[1][7] == "settled 28,000 at 180"
            await pilot.press("escape")
            # sup-b's: expired and slashed
            await pilot.press("down", "enter")
            sessions = app.screen
            await refreshed(pilot, sessions)
            assert table(sessions)[0][7] == "expired PROOF_MISSING at 190; slashed 1,000,000"
            await pilot.press("escape")
            # ctrl+r reads the chain again (record=False again): same rows
            at = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, at)
            assert table(screen) == rows
    asyncio.run(run())
    assert not db.exists() and not db.parent.exists()  # a viewer never creates the store


def test_cron_store_and_cursor_are_left_as_they_were(node: tuple[CometNode, str], tmp_path: Path) -> None:
    chain, url = node
    inv = inventory(tmp_path / "inv", url)
    db = tmp_path / "state" / "fleetctl.db"
    chain.latest = 185  # cron ran when the chain was at 185: it stored sup-a's 170 and sup-b's claim
    cron = execute(load_inventory(inv), db)
    assert cron.sync is not None and cron.sync.recorded and cron.sync.cursor == 185
    before = store_state(db)
    assert before[0][0][0] == 185 and len(before[1]) == 4
    chain.latest = LATEST

    async def run() -> None:
        app = app_for(inv, db)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert screen.error is None, screen.status_text
            rows = {(r[1], r[2]): r for r in table(screen)}
            # what cron stored and what was read since its cursor, together
            assert rows[("sup-a", "eth")][4:8] == ["2", "55,000", "30,000", "28,000"]
            assert rows[("sup-b", "anvil")][0] == "CRITICAL"  # the expiry at 190: read, not stored
            assert "read 186-198, not stored" in summary(screen)
            at = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, at)
            assert "read 186-198, not stored" in summary(screen)
    asyncio.run(run())
    assert store_state(db) == before  # cron's cursor and events untouched
    # and cron's next run reads from its own cursor
    after = execute(load_inventory(inv), db)
    assert after.sync is not None and after.sync.first == 186 and after.sync.cursor == LATEST


def test_a_morse_fleet_is_one_line_in_the_status(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    root.mkdir()
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (root / "fleet.yml").write_text("protocol: morse\npocket: {rpc_url: 'http://127.0.0.1:9'}\n"
                                    "chains:\n  eth: {clients: [geth], replicas: 1, morse_chain_id: '0021'}\n")

    async def run() -> None:
        app = app_for(root, tmp_path / "state.db")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert screen.error and "claims are Shannon only" in screen.error and not screen.shown
    asyncio.run(run())


# ----------------------------------------------------------------------------- deterministic data


def report(latest: int = 500, blocks_left: int = 3) -> ClaimsReport:
    """Built from the library's types: three suppliers, one missing a required proof."""
    def totals(claims: int, claimed: int, settled: int = 0, lost: dict[str, int] | None = None,
               slashes: int = 0) -> Totals:
        return Totals(claims, claims * 10, claims * 20, claimed, settled, settled, dict(lost or {}), slashes,
                      slashes * 1_000_000)

    rows = (ClaimRow("alpha", A, "eth", totals(1, 5000, 5000), totals(4, 20000, 20000)),
            ClaimRow("bravo", B, "eth", totals(2, 60000), totals(2, 60000)),
            ClaimRow("charlie", C, "eth", totals(1, 100, 0, {"PROOF_MISSING": 100}, 1),
                     totals(3, 300, 0, {"PROOF_MISSING": 300}, 1)))
    risk = (AtRisk("bravo", B, "eth", APP, latest - 8, 30000, "THRESHOLD", (latest - 2, latest + blocks_left),
                   blocks_left, Level.WARNING),)
    checks = (("claims/alpha", Level.OK, "no expired claim, slash or missing proof"),
              ("claims/bravo", Level.WARNING, f"proof of session {latest - 8} required and missing"),
              ("claims/charlie", Level.CRITICAL, "slashed 1,000,000 upokt"))
    sessions = (SessionClaim("bravo", B, "eth", APP, latest - 8, latest - 6, 300, 30000, None, None, None, None,
                             None, 0, 0),)
    return ClaimsReport(Level.CRITICAL, latest, "2026-12-04T12:00:00+00:00", rows, risk, checks,
                        (latest - 8, latest - 18), 2880, False, claims=sessions)


def test_filter_cursor_window_and_a_refresh_error(tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")
    answers: list[Any] = [report(), RuntimeError("node: connection refused"), report(510, 1)]

    def fetch(cancel: Any) -> Any:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def run() -> None:
        app = app_for(inv, tmp_path / "state.db", fetch)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert [r[1] for r in table(screen)] == ["bravo", "charlie", "alpha"]
            assert table(screen)[0][3] == "1 due in 3 blk"
            assert table(screen)[2][4:6] == ["4", "20,000"]  # the last 24 h
            # w: the last sessions
            await pilot.press("w")
            assert table(screen)[2][4:6] == ["1", "5,000"] and "the last sessions" in summary(screen)
            await pilot.press("w")
            assert table(screen)[2][4:6] == ["4", "20,000"] and "the last 24 h" in summary(screen)
            # a filter that drops bravo, the cursor on alpha
            await pilot.press("slash", *"!bravo", "enter")
            assert [r[1] for r in table(screen)] == ["charlie", "alpha"]
            await pilot.press("down")
            assert screen.current_row().cells[1] == "alpha"
            at = screen.refreshed_at
            await pilot.press("ctrl+r")  # fails: shown, rows kept
            await refreshed(pilot, screen, at)
            assert screen.error and "connection refused" in screen.error
            assert "refresh failed" in str(screen.query_one("#status").render())
            assert screen.current_row().cells[1] == "alpha"
            await pilot.press("ctrl+r")  # recovers
            await refreshed(pilot, screen, at)
            assert screen.error is None and "refresh failed" not in str(screen.query_one("#status").render())
            assert screen.filter.text == "!bravo" and [r[1] for r in table(screen)] == ["charlie", "alpha"]
            assert screen.current_row().cells[1] == "alpha"
            await pilot.press("escape")  # the filter goes; the cursor stays on alpha
            assert [r[1] for r in table(screen)] == ["bravo", "charlie", "alpha"]
            assert table(screen)[0][3] == "1 due in 1 blk"
            assert screen.current_row().cells[1] == "alpha"
            # enter on bravo: its one session, its proof's window
            await pilot.press("up", "up", "enter")
            sessions = app.screen
            await refreshed(pilot, sessions)
            assert table(sessions) == [["WARNING", "502", "eth", APP, "300", "30,000",
                                        "required: 1 blk left (508-511)", "pending"]]
    asyncio.run(run())
