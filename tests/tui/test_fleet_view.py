"""The Fleet view of ``fleetctl tui``: the fleet as a tree (k9s' xray) from
:mod:`fleetctl.workflows.fleet`: host → node pairs → containers, host → RelayMiner → suppliers →
balancer → backends, adopted endpoints under their host.

Data: the library's own trees. ``prepare()`` on inventories under tmp_path (loopback addresses),
``execute()`` with the hosts' engines stood in at observe's one-host level (real ``HostState`` /
``Container`` values, as tests/unit/test_fleet_tree.py does), and the real ``execute()`` of the
view's own fetch against a host whose SSH port on 127.0.0.1 refuses.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from fleetlab.standin import lab_address

from fleetctl.plan import model as pm
from fleetctl.plan.diff import make_plan
from fleetctl.provision import observe as observe_module
from fleetctl.provision.observe import Container, HostState
from fleetctl.spec.loader import load_inventory
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.tui.screens.fleet import AUTO_OPEN, FleetView, human_s
from fleetctl.workflows import fleet as job

STARTED = "2026-12-01T08:00:00Z"
NOW = job.started_epoch(STARTED) + 3 * 86400 + 4 * 3600 + 125  # the tree's "now": up 3d4h


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLEETCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FLEETCTL_INVENTORY", raising=False)


# ----------------------------------------------------------------------------- inventories


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inventory(root: Path, *, suppliers: int = 4, ssh_port: int | None = None) -> Path:
    """Three loopback hosts (h1..h3), two node pairs and an Erigon with Caplin on eth, an adopted
    geth and its lighthouse on h1, ``suppliers`` suppliers spread over h1 and h2."""
    root.mkdir(parents=True, exist_ok=True)
    known = root / "known_hosts"
    known.write_text("")
    port = f", ansible_port: {ssh_port}" if ssh_port else ""
    (root / "hosts.yml").write_text("all:\n  hosts:\n" + "".join(
        f"    h{i}: {{ansible_host: 127.0.0.{i}{port}, fleet_known_hosts: '{known}',"
        " fleet_capacity: {cpus: 8, memory_gb: 32, disk_gb: 500}}\n" for i in (1, 2, 3)))
    sups = "\n".join(
        f"  - {{name: sup-{i:04d}, operator_address: {lab_address(f'fleet-view-{i}')}, services: [eth],"
        f" host: h{1 + i % 2}}}" for i in range(suppliers))
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
        "chains:\n  eth:\n    clients: [geth, nethermind, erigon]\n    replicas: 4\n    max_client_share: 0.5\n"
        "    consensus_clients: [nimbus, lodestar]\n    erigon: {consensus: caplin}\n"
        "    endpoints:\n"
        "      - {name: h1-geth, url: 'http://127.0.0.1:18545', client: geth, host: h1}\n"
        "      - {name: h1-lighthouse, url: 'http://127.0.0.1:15052', client: lighthouse, pair: h1-geth, host: h1}\n"
        f"suppliers:\n{sups}\n"
        "profiles:\n" + "".join(f"  {c}: {{full: {{cpus: 0.25, memory_gb: 0.25, disk_gb: 1}}}}\n" for c in (
            "geth", "nethermind", "erigon", "lighthouse", "nimbus", "lodestar")))
    return root


def observed(fleet: Any, *, stopped: tuple[str, ...] = (), missing: tuple[str, ...] = (),
             down: tuple[str, ...] = ()) -> dict[str, HostState]:
    """What the hosts run once applied (observe's types): the containers of ``stopped`` exited,
    those of ``missing`` never created, the hosts of ``down`` unreachable."""
    plan = make_plan(fleet, offline=True)
    images = {"node": "img/{client}:v1.2.3", "consensus": "img/{client}:v9", "balancer": "haproxy:3.0",
              "relayminer": "pocket/relayminer:0.1.4"}
    out: dict[str, list[Container]] = {h: [] for h in fleet.hosts}
    for d in plan.desired:
        if d.name in missing:
            continue
        n = next((n for n in plan.placement.nodes if n.name == d.pair), None)
        running = d.name not in stopped
        out[d.host].append(Container(
            d.host, d.name, d.role, d.chain, d.client, d.spec, running,
            "Up 3 hours" if running else "Exited (137) 5 minutes ago",
            image=images[d.role].format(client=d.client), slot=n.slot if n is not None else None, pair=d.pair,
            consensus=n.consensus if n is not None and d.role == "node" else None,
            started_at=STARTED, restart_count=0))
    return {h: (HostState(h, False, f"cannot reach 127.0.0.{h[1:]}:22 (Connection refused)") if h in down
                else HostState(h, True, None, cs, pm.Resources(8, 32, 500))) for h, cs in out.items()}


def stand_in(monkeypatch: pytest.MonkeyPatch, states: dict[str, HostState] | list[dict[str, HostState]]) -> None:
    """observe()'s one-host step answers ``states`` (a list: one per execute(), the last repeated)."""
    answers = states if isinstance(states, list) else [states]
    calls: dict[str, int] = {}

    def one(host: Any, timeout: float, details: bool = False) -> HostState:
        n = calls[host.name] = calls.get(host.name, -1) + 1
        return answers[min(n, len(answers) - 1)][host.name]

    monkeypatch.setattr(observe_module, "_observe_host", one)
    monkeypatch.setattr(job, "time", type("T", (), {"time": staticmethod(lambda: NOW)}))


def app_for(inv: Path, fetch: Any = None, **options: Any) -> FleetApp:
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "fleet", **options}
    return FleetApp(TuiOptions(**opts), fetchers={"fleet": fetch} if fetch is not None else None)


async def refreshed(pilot: Any, screen: Any, after: float | None = None, limit: int = 600) -> None:
    """Wait until ``screen`` applied a refresh newer than ``after`` (or failed one); no time is asserted."""
    for _ in range(limit):
        await pilot.pause(0.02)
        if screen.refreshed_at is not None and screen.refreshed_at != after and not screen._inflight:
            return
        if screen.error and not screen._inflight:
            return
    raise AssertionError(f"no refresh: {screen.status_text} {screen.error}")


def shown(screen: FleetView) -> list[str]:
    """The tree's lines as on screen: indent by depth, then the line's text."""
    tree = screen.query_one("#tree")
    out = []
    for i in range(tree.last_line + 1):
        node = tree.get_node_at_line(i)
        depth, p = 0, node.parent
        while p is not None and p.parent is not None:
            depth, p = depth + 1, p.parent
        out.append("  " * depth + node.label.plain)
    return out


async def filtered(pilot: Any, screen: FleetView, *keys: str) -> None:
    """Type into the filter (open with / first) and wait until the tree is filtered by it."""
    await pilot.press(*keys)
    want = screen.prompt.value
    for _ in range(200):
        await pilot.pause(0.02)
        if screen.filter.text == want:
            return
    raise AssertionError(f"filter {want!r} not applied: {screen.filter.text!r}")


def ids(screen: FleetView) -> list[str]:
    tree = screen.query_one("#tree")
    return [tree.get_node_at_line(i).data.id for i in range(tree.last_line + 1)]


def under(screen: FleetView, parent: str, kind: str) -> list[str]:
    """The rows of ``kind`` shown (or added) under ``parent``, in order."""
    return [r for r, row in screen.rows_by_id.items()
            if r.startswith(parent + "/") and row.data.node.kind == kind]


def move_to(screen: FleetView, rid: str) -> None:
    tree = screen.query_one("#tree")
    tree.move_cursor(screen.rows_by_id[rid])


# ----------------------------------------------------------------------------- tests


def test_human_durations() -> None:
    assert [human_s(s) for s in (None, -1, 0, 45, 60, 12 * 60 + 5, 3600, 2 * 3600 + 5 * 60, 86400,
                                 3 * 86400 + 4 * 3600 + 59)] == [
        "", "", "0s", "45s", "1m", "12m", "1h", "2h5m", "1d", "3d4h"]


def test_tree_of_an_observed_fleet_opens_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv")
    fleet = load_inventory(inv)
    stand_in(monkeypatch, observed(fleet, stopped=("eth-nethermind-1",), down=("h3",)))
    tree = job.execute(fleet)

    async def run() -> None:
        app = app_for(inv, lambda cancel: tree)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            assert isinstance(screen, FleetView) and app.current_mode == "fleet"
            await refreshed(pilot, screen)
            assert screen.error is None, screen.status_text
            # hosts open at first: their pairs, RelayMiner and adopted endpoints; nothing deeper yet
            assert ids(screen) == [
                "h1", "h1/h1/pair/eth-nethermind-1", "h1/h1/relayminer/relayminer",
                "h1/h1/endpoint/h1-geth", "h1/h1/endpoint/h1-lighthouse",
                "h2", "h2/h2/pair/eth-erigon-1", "h2/h2/relayminer/relayminer",
                "h3", "h3/h3/pair/eth-geth-1"]
            assert set(screen.rows_by_id) == set(ids(screen))  # lazily: no row for what is closed
            lines = shown(screen)
            assert lines[0].startswith("host h1  OK  ▲ CRITICAL below  127.0.0.1 · 4 container(s)")
            assert lines[8] == "host h3  UNKNOWN  127.0.0.3 · unreachable: cannot reach 127.0.0.3:22 (Connection refused)"
            assert "endpoint h1-lighthouse  adopted · lighthouse · eth · consensus · pair h1-geth" in lines[4]
            summary = str(screen.query_one("#summary").render())
            assert summary.startswith("CRITICAL · 3 host(s) (1 unreachable) · 9 container(s) (1 not running) · "
                                      "4 supplier(s) · 2 adopted endpoint(s) · observed ")
            assert "h3: cannot reach 127.0.0.3:22 (Connection refused)" in summary  # the error in the summary
            # the level coloured: CRITICAL bold red, OK green
            label = screen.rows_by_id["h1"].label
            assert any(label.plain[sp.start:sp.end] == "OK" and sp.style == "green" for sp in label.spans)

            # enter opens a pair: its containers, with client, version, chain, role, status, uptime
            move_to(screen, "h1/h1/pair/eth-nethermind-1")
            await pilot.press("enter")
            await pilot.pause()
            assert ids(screen)[2:4] == ["h1/h1/pair/eth-nethermind-1/h1/container/eth-nethermind-1",
                                        "h1/h1/pair/eth-nethermind-1/h1/container/eth-nethermind-1-nimbus"]
            lines = shown(screen)
            assert lines[2] == ("    ctr eth-nethermind-1  CRITICAL  nethermind v1.2.3 · eth · execution · "
                                "Exited (137) 5 minutes ago · to recreate")
            assert lines[3] == ("    ctr eth-nethermind-1-nimbus  OK  nimbus v9 · eth · consensus · Up 3 hours · up 3d4h · "
                                "to recreate")  # the plan recreates the pair
            crit = screen.rows_by_id["h1/h1/pair/eth-nethermind-1/h1/container/eth-nethermind-1"].label
            assert any(sp.style == "bold red" and crit.plain[sp.start:sp.end] == "CRITICAL" for sp in crit.spans)
            await pilot.press("enter")  # and closes it
            await pilot.pause()
            assert "h1/h1/pair/eth-nethermind-1/h1/container/eth-nethermind-1" not in ids(screen)
            await pilot.press("space")  # the tree's own key opens too (children added on its event)
            await pilot.pause()
            assert "h1/h1/pair/eth-nethermind-1/h1/container/eth-nethermind-1" in ids(screen)

            # RelayMiner -> suppliers -> the balancer (one node, shared) -> the full nodes behind it
            rm = "h1/h1/relayminer/relayminer"
            move_to(screen, rm)
            await pilot.press("enter")
            await pilot.pause()
            sups = under(screen, rm, "supplier")
            assert len(sups) == 2 and all(s in ids(screen) for s in sups)
            for sid in sups:
                move_to(screen, sid)
                await pilot.press("enter")
                await pilot.pause()
            bals = [f"{sid}/h1/balancer/lb-eth" for sid in sups]
            assert all(b in screen.rows_by_id for b in bals)
            # the same library node under both suppliers, two rows
            assert screen.rows_by_id[bals[0]].data.node is screen.rows_by_id[bals[1]].data.node
            move_to(screen, bals[1])
            await pilot.press("enter")
            await pilot.pause()
            backends = [shown(screen)[i].strip() for i, rid in enumerate(ids(screen)) if rid.startswith(bals[1] + "/")]
            assert len(backends) == 4
            assert any(b.startswith("backend eth-nethermind-1  CRITICAL  nethermind v1.2.3 · on h1 · ") for b in backends)
            # on the unreachable host: no level, the planned image's version
            assert any(b.startswith("backend eth-geth-1  geth v") and b.endswith(" · on h3 · unknown (host unreachable)")
                       for b in backends)
            assert "backend h1-geth  adopted · geth · http://127.0.0.1:18545" in backends
            assert not any(rid.startswith(bals[0] + "/") for rid in ids(screen))  # the other one stays closed
            bal_line = shown(screen)[ids(screen).index(bals[1])]
            assert "balancer lb-eth  OK  ▲ CRITICAL below  haproxy 3.0 · eth · :" in bal_line and "4 backend(s)" in bal_line

            # l on a pair: no log (a notice, the view stays)
            move_to(screen, "h2/h2/pair/eth-erigon-1")
            await pilot.press("l")
            await pilot.pause()
            assert app.screen is screen

    asyncio.run(run())


def test_describe_shows_every_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv")
    fleet = load_inventory(inv)
    stand_in(monkeypatch, observed(fleet, down=("h3",)))
    tree = job.execute(fleet)

    async def run() -> None:
        app = app_for(inv, lambda cancel: tree, read_only=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            move_to(screen, "h3")
            await pilot.press("d")
            assert type(app.screen).__name__ == "DescribeScreen"
            text = app.screen.text
            assert '"key": "h3"' in text and '"reachable": false' in text and "Connection refused" in text
            assert '"worst_below": "UNKNOWN"' in text
            await pilot.press("escape")
            assert app.screen is screen
            move_to(screen, "h2/h2/pair/eth-erigon-1")
            await pilot.press("enter", "down", "d")
            text = app.screen.text
            assert '"key": "h2/container/eth-erigon-1"' in text and '"uptime_s": 273725' in text
            assert '"image": "img/erigon:v1.2.3"' in text and '"level": "OK"' in text
            await pilot.press("escape")
            assert app.screen is screen

    asyncio.run(run())


def test_filter_shows_matches_with_their_ancestors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv")
    fleet = load_inventory(inv)
    stand_in(monkeypatch, observed(fleet, stopped=("eth-nethermind-1",)))
    tree = job.execute(fleet)

    async def run() -> None:
        app = app_for(inv, lambda cancel: tree)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            before = ids(screen)
            await filtered(pilot, screen, "slash", *"nimbus")
            # the nimbus container, its pair (whose line says nimbus), its host; under the RelayMiner,
            # the suppliers -> the balancer -> the nethermind backend (consensus nimbus) opened to it
            rows = ids(screen)
            assert rows[:3] == ["h1", "h1/h1/pair/eth-nethermind-1",
                                "h1/h1/pair/eth-nethermind-1/h1/container/eth-nethermind-1-nimbus"]
            assert not any(r.startswith("h2") or r.startswith("h3") for r in rows)  # nothing there says nimbus
            assert all("nimbus" in shown(screen)[i] or any(r2.startswith(r + "/") for r2 in rows)
                       for i, r in enumerate(rows))
            assert "filter /nimbus: " in screen.status_text
            await pilot.press("enter")  # the filter stays, the tree has the keys
            assert screen.query_one("#tree").has_focus
            # /! inverts: the lines that do not say "h1" (and their ancestors)
            await filtered(pilot, screen, "slash", "ctrl+u", *"!h1")
            rows = ids(screen)
            assert "h2" in rows and "h3" in rows and "h1/h1/endpoint/h1-geth" not in rows
            assert screen.filter.invert
            # esc clears: what the operator had open, as before
            await pilot.press("escape")
            await pilot.pause()
            assert not screen.filter and ids(screen) == before
            assert not screen.prompt.is_open
            # '/' typed in the filter is a character, not the key that opens it
            await filtered(pilot, screen, "slash", *"http://127.0.0.1:15052")
            assert screen.filter.text == "http://127.0.0.1:15052"
            assert ids(screen) == ["h1", "h1/h1/endpoint/h1-lighthouse"]

    asyncio.run(run())


def test_refresh_keeps_open_rows_and_cursor_and_shows_an_error_then_clears_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv")
    fleet = load_inventory(inv)
    stand_in(monkeypatch, observed(fleet, stopped=("eth-nethermind-1",)))
    first = job.execute(fleet)
    # the next observation: the nethermind runs again and h1 has a fifth supplier (sup-0004);
    # then the fifth is gone again
    more = load_inventory(inventory(tmp_path / "more", suppliers=5))
    stand_in(monkeypatch, observed(more))
    second = job.execute(more)
    third = job.execute(fleet)
    answers: list[Any] = [first, RuntimeError("observe: boom"), second, third]

    def fetch(cancel: Any) -> Any:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def run() -> None:
        app = app_for(inv, fetch)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            rm = "h1/h1/relayminer/relayminer"
            for rid in (rm, "h2/h2/pair/eth-erigon-1"):  # the operator opens these, closes h3
                move_to(screen, rid)
                await pilot.press("enter")
                await pilot.pause()
            move_to(screen, "h3")
            await pilot.press("enter")
            await pilot.pause()
            cursor = "h2/h2/pair/eth-erigon-1/h2/container/eth-erigon-1"
            move_to(screen, cursor)
            line = ids(screen).index(cursor)
            assert "h3/h3/pair/eth-geth-1" not in ids(screen)
            at = screen.refreshed_at

            await pilot.press("ctrl+r")  # fails: the tree stays, the error shows
            await refreshed(pilot, screen, at)
            assert screen.error and "observe: boom" in screen.error and screen.refreshed_at == at
            assert "refresh failed" in str(screen.query_one("#status").render())
            assert screen.cursor_entry().id == cursor and ids(screen).index(cursor) == line

            await pilot.press("ctrl+r")  # recovers: the error goes; open rows open, cursor on its row
            await refreshed(pilot, screen, at)
            assert screen.error is None and "refresh failed" not in str(screen.query_one("#status").render())
            rows = ids(screen)
            sups = under(screen, rm, "supplier")
            assert len(sups) == 3  # a new row above the cursor...
            assert screen.cursor_entry().id == cursor and rows.index(cursor) == line + 1  # ...it followed its row
            assert "h3/h3/pair/eth-geth-1" not in rows  # closed by the operator: stays closed
            nm = "h1/h1/pair/eth-nethermind-1"
            assert "CRITICAL" not in shown(screen)[rows.index(nm)]  # the new state shown
            assert "4 supplier(s)" not in str(screen.query_one("#summary").render())

            # the cursor on the new supplier, which goes: the cursor on its parent
            new = next(r for r in sups if screen.rows_by_id[r].data.node.label == "sup-0004")
            move_to(screen, new)
            at = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, at)
            assert screen.cursor_entry().id == rm
            assert len(under(screen, rm, "supplier")) == 2

    asyncio.run(run())


def test_a_thousand_suppliers(tmp_path: Path) -> None:
    """1,000 suppliers on two RelayMiners over balancers of 300+ backends: built once, shown a
    level at a time, filtered (no time asserted: it just works)."""
    inv = inventory(tmp_path / "inv", suppliers=1000)
    text = (inv / "fleet.yml").read_text()  # 300 more adopted execution endpoints, with no host
    clients = ("geth", "nethermind", "erigon")
    extra = "".join(f"      - {{name: ep-{i:03d}, url: 'http://127.0.0.1:{20000 + i}', client: {clients[i % 3]}}}\n"
                    for i in range(300))
    text = text.replace("replicas: 4", "replicas: 304").replace("\nsuppliers:", "\n" + extra.rstrip("\n") + "\nsuppliers:")
    (inv / "fleet.yml").write_text(text)
    fleet = load_inventory(inv)
    tree = job.prepare(fleet)
    assert sum(1 for n in tree.walk() if n.kind == "supplier") == 1000

    async def run() -> None:
        app = app_for(inv, lambda cancel: tree)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert len(screen.rows_by_id) < 400  # hosts, their pairs and RelayMiners, the 300 endpoint roots
            rm = "h1/h1/relayminer/relayminer"
            move_to(screen, rm)
            await pilot.press("enter")
            await pilot.pause()
            sups = under(screen, rm, "supplier")
            assert len(sups) == 500
            move_to(screen, sups[-1])
            await pilot.press("enter")
            await pilot.pause()
            bal = f"{sups[-1]}/h1/balancer/lb-eth"
            move_to(screen, bal)
            await pilot.press("enter")
            await pilot.pause()
            assert len([r for r in screen.rows_by_id if r.startswith(bal + "/")]) >= 300
            # a filter through the shared balancers: opened to the matches, up to AUTO_OPEN lines
            await filtered(pilot, screen, "slash", *"ep-299", "enter")  # enter: back to the tree
            rows = ids(screen)
            assert rows[-1] == "endpoint/ep-299" and len(rows) <= AUTO_OPEN + 600
            # what the operator opened is open, filtered: the one backend that matches
            assert [r for r in rows if r.startswith(bal + "/")] == [f"{bal}/h1/balancer/lb-eth/backend/ep-299"]
            # past the budget a balancer with a match stays closed; enter opens it, filtered
            first = f"{sups[0]}/h1/balancer/lb-eth"
            assert first in rows and not screen.rows_by_id[first].is_expanded
            move_to(screen, first)
            await pilot.press("enter")
            await pilot.pause()
            assert [r for r in ids(screen) if r.startswith(first + "/")] == [f"{first}/h1/balancer/lb-eth/backend/ep-299"]
            await pilot.press("escape")
            await pilot.pause()
            assert f"{bal}/h1/balancer/lb-eth/backend/ep-299" in screen.rows_by_id  # as the operator left it
            # the first supplier was opened by the filter, not the operator: closed again, the
            # cursor on it (the nearest row still shown)
            assert screen.cursor_entry().id == sups[0] and not screen.rows_by_id[sups[0]].is_expanded
            move_to(screen, f"{bal}/h1/balancer/lb-eth/backend/ep-150")
            at = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, at)
            assert screen.cursor_entry().id == f"{bal}/h1/balancer/lb-eth/backend/ep-150" and len(ids(screen)) > 800

    asyncio.run(run())


def test_the_views_own_fetch_over_hosts_that_refuse(tmp_path: Path) -> None:
    """The real workflow (execute: observe over SSH to 127.0.0.1 on a port that refuses)."""
    inv = inventory(tmp_path / "inv", ssh_port=closed_port())

    async def run() -> None:
        app = app_for(inv)
        async with app.run_test(size=(120, 36)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert screen.error is None, screen.status_text
            summary = str(screen.query_one("#summary").render())
            assert "UNKNOWN · 3 host(s) (3 unreachable)" in summary and "h1: " in summary
            assert [r for r in ids(screen) if r.count("/") == 0] == ["h1", "h2", "h3"]
            line = shown(screen)[0]
            assert line.startswith("host h1  UNKNOWN  127.0.0.1 · unreachable: ")
            move_to(screen, "h2/h2/pair/eth-erigon-1")
            await pilot.press("enter")
            await pilot.pause()
            assert "unknown (host unreachable)" in shown(screen)[ids(screen).index(
                "h2/h2/pair/eth-erigon-1/h2/container/eth-erigon-1")]

    asyncio.run(run())
