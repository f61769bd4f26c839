"""The Diversity view of ``fleetctl tui``: per chain and layer, each client's share as a bar against
the quota line, the planned share beside it; unreachable hosts and silent endpoints as UNKNOWN rows;
``enter`` lists what was counted for a client, ``d`` every figure of the row.

Data: the real workflow (``fleetctl.workflows.diversity.overview``) over real loopback servers:
adopted endpoints on 127.0.0.1 answering ``web3_clientVersion`` and the Beacon API's version, and
a host whose SSH port on 127.0.0.1 refuses (no Docker engine over SSH can stand in here, so the
containers a host runs come from :func:`check_diversity` over the observe module's own types,
``HostState``/``Container``, in the other tests).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fleetctl.core.levels import Level
from fleetctl.plan import model as pm
from fleetctl.plan.diversity import check_diversity
from fleetctl.provision.observe import Container, HostState
from fleetctl.spec.loader import load_inventory
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.workflows.diversity import DiversityOverview

# ----------------------------------------------------------------------------- loopback servers


class VersionServer:
    """One client's RPC on 127.0.0.1: ``web3_clientVersion`` by POST, the Beacon API's
    ``/eth/v1/node/version`` by GET; ``version`` None answers a body that is no version."""

    def __init__(self, version: str | None, beacon: str | None = None) -> None:
        self.version, self.beacon = version, beacon
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                result = outer.version if outer.version is not None else ["no", "version"]
                self._send(json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode())

            def do_GET(self) -> None:  # noqa: N802
                if self.path.endswith("/eth/v1/node/version") and outer.beacon:
                    self._send(json.dumps({"data": {"version": outer.beacon}}).encode())
                else:
                    self.send_error(404)

            def _send(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def servers() -> Iterator[dict[str, VersionServer]]:
    found = {"a": VersionServer("Geth/v1.14.8-stable/linux-amd64/go1.22.6", beacon="Lighthouse/v5.3.0-d6ba8c3"),
             "b": VersionServer("Geth/v1.14.8-stable/linux-amd64/go1.22.6"),  # declared nethermind
             "c": VersionServer(None)}  # no version: not counted
    yield found
    for s in found.values():
        s.stop()


def inventory(root: Path, servers: dict[str, VersionServer]) -> Path:
    """h1's SSH port refuses; three adopted execution endpoints and one consensus endpoint."""
    root.mkdir(parents=True, exist_ok=True)
    known = root / "known_hosts"
    known.write_text("")
    (root / "hosts.yml").write_text(
        f"all:\n  hosts:\n    h1: {{ansible_host: 127.0.0.1, ansible_port: {closed_port()}, "
        f"fleet_known_hosts: '{known}'}}\n")
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
        "chains:\n  eth:\n    clients: [geth, nethermind, erigon]\n    replicas: 6\n    max_client_share: 0.34\n"
        "    consensus_clients: [nimbus, lodestar]\n    erigon: {consensus: caplin}\n"
        "    endpoints:\n"
        f"      - {{name: a-geth, url: '{servers['a'].url}', client: geth, host: h1}}\n"
        f"      - {{name: b-nethermind, url: '{servers['b'].url}', client: nethermind}}\n"
        f"      - {{name: c-erigon, url: '{servers['c'].url}', client: erigon}}\n"
        f"      - {{name: a-lighthouse, url: '{servers['a'].url}', client: lighthouse, pair: a-geth}}\n")
    return root


# ----------------------------------------------------------------------------- deterministic data

CONTAINERS = [
    Container("h1", "eth-geth-1", "node", "eth", "geth", "s", True, "Up 2 hours", slot=0, consensus="nimbus"),
    Container("h1", "eth-geth-1-nimbus", "consensus", "eth", "nimbus", "s", True, "Up 2 hours", slot=0),
    Container("h1", "eth-geth-2", "node", "eth", "geth", "s", True, "Up 1 hour", slot=1, consensus="lodestar"),
    Container("h1", "eth-geth-2-lodestar", "consensus", "eth", "lodestar", "s", True, "Up 1 hour", slot=1),
    Container("h2", "eth-erigon-1", "node", "eth", "erigon", "s", True, "Up 3 hours", slot=0, consensus="caplin"),
    Container("h2", "eth-nethermind-1", "node", "eth", "nethermind", "s", False, "Exited (1)", slot=1),
]


def plain_inventory(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n"
                                    "    h2: {ansible_host: 127.0.0.2}\n    h3: {ansible_host: 127.0.0.3}\n")
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
        "chains:\n  eth:\n    clients: [geth, nethermind, erigon]\n    replicas: 3\n    max_client_share: 0.5\n"
        "    consensus_clients: [nimbus, lodestar]\n    erigon: {consensus: caplin}\n")
    return root


def overview(inv: Path, containers: list[Container] = CONTAINERS, *, h3_down: bool = True,
             planned: dict[str, Any] | None = None, plan_error: str | None = None) -> DiversityOverview:
    """The report check_diversity makes of these hosts' states (observe's own types)."""
    fleet = load_inventory(inv)
    observed = {h: HostState(h, True, None, [c for c in containers if c.host == h], pm.Resources(4, 16, 100))
                for h in ("h1", "h2", "h3")}
    if h3_down:
        observed["h3"] = HostState("h3", False, "h3: cannot reach 127.0.0.3:22 (Connection refused)", [], None)
    report = asyncio.run(check_diversity(fleet, observed))
    if planned is None and plan_error is None:
        planned = {"eth": {"execution": {"geth": 1, "nethermind": 1, "erigon": 1},
                           "consensus": {"nimbus": 1, "lodestar": 1, "caplin": 1}}}
    return DiversityOverview(report, planned or {}, plan_error)


def app_for(inv: Path, fetch: Any = None, **options: Any) -> FleetApp:
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "diversity", **options}
    return FleetApp(TuiOptions(**opts), fetchers={"diversity": fetch} if fetch is not None else None)


async def refreshed(pilot: Any, screen: Any, after: float | None = None, limit: int = 600) -> None:
    """Wait until ``screen`` applied a refresh newer than ``after`` (or failed one); no time is asserted."""
    for _ in range(limit):
        await pilot.pause(0.05)
        if screen.refreshed_at is not None and screen.refreshed_at != after and not screen._inflight:
            return
        if screen.error and not screen._inflight:
            return
    raise AssertionError(f"no refresh: {screen.status_text} {screen.error}")


def cells(screen: Any) -> dict[str, list[str]]:
    return {r.key: [str(c) for c in r.cells] for r in screen.shown}


# ----------------------------------------------------------------------------- tests


def test_real_workflow_over_loopback_endpoints_and_a_refusing_host(servers: dict[str, VersionServer],
                                                                   tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", servers)

    async def run() -> None:
        app = app_for(inv)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert app.current_mode == "diversity" and screen.error is None, screen.status_text
            rows = cells(screen)
            # b-nethermind answers as Geth: counted as geth; c-erigon answers no version: not counted
            geth = rows["eth/execution/geth"]
            assert geth[0] == "WARNING" and geth[4] == "2" and geth[5].endswith("100%") and geth[6] == "34%"
            assert "┃" in geth[5]  # the quota line inside a full bar
            assert rows["eth/execution/nethermind"][4] == "0" and rows["eth/execution/erigon"][4] == "0"
            assert rows["eth/consensus/lighthouse"][:5] == ["WARNING", "eth", "consensus", "lighthouse", "1"]
            # the plan beside it: 6 replicas, 3 adopted, at most 2 per client
            assert rows["eth/execution/geth"][7] == "2 · 33%" and rows["eth/execution/erigon"][7] == "2 · 33%"
            planned_cl = {k.rsplit("/", 1)[1]: v[7] for k, v in rows.items() if k.startswith("eth/consensus/")}
            # 3 pairs to provision (nimbus, lodestar, Erigon's caplin) beside the adopted lighthouse
            assert planned_cl == dict.fromkeys(["caplin", "lighthouse", "lodestar", "nimbus"], "1 · 25%")
            # the refusing host and the silent endpoint are UNKNOWN rows, and the summary says so
            assert rows["host/h1"][0] == "UNKNOWN" and rows["host/h1"][5] == "unreachable"
            assert rows["endpoint/c-erigon"][0] == "UNKNOWN" and rows["endpoint/c-erigon"][3] == "erigon?"
            assert rows["endpoint/c-erigon"][7] == "c-erigon: not counted"
            summary = str(screen.query_one("#summary").render())
            assert "diversity UNKNOWN" in summary and "unreachable (not counted): h1" in summary
            # describe: the host's reason (from the workflow's notes)
            keys = [r.key for r in screen.shown]
            screen.query_one("#table").move_cursor(row=keys.index("host/h1"))
            await pilot.press("d")
            assert type(app.screen).__name__ == "DescribeScreen"
            text = app.screen.text
            assert '"reachable": false' in text and "cannot reach 127.0.0.1" in text
            await pilot.press("escape")
            # enter on geth: the two endpoints counted for it, with the version each answered
            screen.query_one("#table").move_cursor(row=keys.index("eth/execution/geth"))
            await pilot.press("enter")
            members = app.screen
            assert type(members).__name__ == "DiversityMembersView"
            await refreshed(pilot, members)
            assert [(r.cells[0], r.cells[1], r.cells[2]) for r in members.shown] == [
                ("endpoint", "-", "b-nethermind"), ("endpoint", "h1", "a-geth")]
            assert all(str(r.cells[3]).startswith("Geth/v1.14.8") for r in members.shown)
            assert "eth execution geth" in app.breadcrumbs()
            await pilot.press("escape")
            assert app.screen is screen

    asyncio.run(run())


def test_rows_bars_quota_planned_and_members_from_the_report(tmp_path: Path) -> None:
    inv = plain_inventory(tmp_path / "inv")
    result = overview(inv)

    async def run() -> None:
        app = app_for(inv, lambda cancel: result)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            rows = cells(screen)
            # execution: geth 2 of 3 running (the exited nethermind is not counted): above 50%
            assert rows["eth/execution/geth"][:5] == ["WARNING", "eth", "execution", "geth", "2"]
            assert rows["eth/execution/geth"][5] == "████┃▍    67%"
            assert rows["eth/execution/erigon"][0] == "OK" and rows["eth/execution/erigon"][5] == "██▋ │     33%"
            assert rows["eth/execution/nethermind"][4] == "0" and rows["eth/execution/geth"][7] == "1 · 33%"
            # consensus: nimbus, lodestar and Erigon's caplin, one each
            assert {k: v[4] for k, v in rows.items() if "/consensus/" in k} == {
                "eth/consensus/caplin": "1", "eth/consensus/lodestar": "1", "eth/consensus/nimbus": "1"}
            # chain by chain, execution then consensus, the most counted client first
            assert [r.key for r in screen.shown] == [
                "eth/execution/geth", "eth/execution/erigon", "eth/execution/nethermind",
                "eth/consensus/caplin", "eth/consensus/lodestar", "eth/consensus/nimbus", "host/h3"]
            assert screen.shown[0].level is Level.WARNING
            assert rows["host/h3"][0] == "UNKNOWN"
            # d: the row's figures, its layer's as the report has them, what was counted
            keys = [r.key for r in screen.shown]
            screen.query_one("#table").move_cursor(row=keys.index("eth/execution/geth"))
            await pilot.press("d")
            doc = app.screen.text
            assert '"over_quota": true' in doc and '"planned"' in doc and '"eth-geth-2"' in doc
            assert '"shares"' in doc  # the layer's as_dict
            await pilot.press("escape")
            # enter: the two geth containers, host by host
            await pilot.press("enter")
            members = app.screen
            await refreshed(pilot, members)
            assert [(r.cells[1], r.cells[2], r.cells[3]) for r in members.shown] == [
                ("h1", "eth-geth-1", "Up 2 hours"), ("h1", "eth-geth-2", "Up 1 hour")]
            assert "2 of 3 counted, 67% against a quota of 50%; planned 1 · 33%" in str(
                members.query_one("#summary").render())
            await pilot.press("escape")
            # enter on a host row: nothing counted behind it, the view stays
            screen.query_one("#table").move_cursor(row=keys.index("host/h3"))
            await pilot.press("enter")
            assert app.screen is screen

    asyncio.run(run())


def test_no_plan_says_why_and_keeps_the_shares(tmp_path: Path) -> None:
    inv = plain_inventory(tmp_path / "inv")
    result = overview(inv, h3_down=False, plan_error="eth: 3 replicas, 3 clients, max_client_share 0.2 ...")

    async def run() -> None:
        app = app_for(inv, lambda cancel: result)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            rows = cells(screen)
            assert rows["eth/execution/geth"][7] == "-" and rows["eth/execution/geth"][4] == "2"
            assert not any(k.startswith("host/") for k in rows)
            assert "no plan: eth: 3 replicas" in str(screen.query_one("#summary").render())

    asyncio.run(run())


def test_filter_and_cursor_survive_a_refresh_and_an_error_is_shown_then_cleared(tmp_path: Path) -> None:
    inv = plain_inventory(tmp_path / "inv")
    first = overview(inv)
    # the next observation: a third geth started and h3 is back (new rows above the cursor's)
    more = [*CONTAINERS, Container("h3", "eth-geth-3", "node", "eth", "geth", "s", True, "Up 1 minute", slot=0,
                                   consensus="nimbus"),
            Container("h3", "eth-geth-3-nimbus", "consensus", "eth", "nimbus", "s", True, "Up 1 minute", slot=0)]
    second = overview(inv, more, h3_down=False)
    answers: list[Any] = [first, RuntimeError("observe: boom"), second]

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
            await pilot.press("slash", *"consensus")
            await pilot.press("enter")
            assert [r.key.rsplit("/", 1)[1] for r in screen.shown] == ["caplin", "lodestar", "nimbus"]
            screen.query_one("#table").move_cursor(row=2)
            assert screen.current_row().key == "eth/consensus/nimbus"
            at = screen.refreshed_at
            await pilot.press("ctrl+r")  # fails: the rows stay, the error shows
            await refreshed(pilot, screen, at)
            assert screen.error and "observe: boom" in screen.error and screen.refreshed_at == at
            assert screen.current_row().key == "eth/consensus/nimbus"
            await pilot.press("ctrl+r")  # recovers: the error goes, filter and cursor stay
            await refreshed(pilot, screen, at)
            assert screen.error is None and screen.filter.text == "consensus"
            assert screen.current_row().key == "eth/consensus/nimbus"
            assert str(screen.current_row().cells[4]) == "2"  # the new nimbus counted
            assert screen.shown[0].key == "eth/consensus/nimbus"  # now the largest: the cursor followed it
            assert all("consensus" in r.key for r in screen.shown)

    asyncio.run(run())
