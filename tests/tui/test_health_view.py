"""The Health view of ``fleetctl tui``.

Deterministic screens from a real :class:`~fleetctl.health.report.HealthReport` (the library's
Check dataclasses): rows worst first, grouped by level, DIVERGED/lagging/syncing backends styled
to stand out, the balancer's pool on ``enter``; ``r`` on a backend prepares the rotation change
(``fleetctl.workflows.rotation``, replaced here by its pure planner over real balancer reads and
verdicts), shows why it is refused or asks with the ``fleetctl rotation`` command, does nothing on
"no", executes on "yes"; read-only refuses before anything is read. One test runs the real health
workflow against real servers on 127.0.0.1 (anvil and client fronts with injected faults, as
tests/integration/test_health_sweep.py builds them). The rotation workflow against a real HAProxy
is tested with the workflow itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, lab_image
from fleetctl.core.levels import Level
from fleetctl.health import execution as ex
from fleetctl.health import services as sv
from fleetctl.health.report import Check, HealthReport, Sample
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.tui.screens.health import NOT_A_BACKEND
from fleetctl.workflows import rotation

LOCALHOST = "127.0.0.1"


# ----------------------------------------------------------------------------- a deterministic report


def execution(name: str, level: Level, state: str, message: str) -> Check:
    return Check(name, "execution", level, message,
                 {"chain": "eth", "head": 50, "lag": 0, "state": state, "client_version": "Geth/v1.17.5"},
                 (Sample("up", 1.0), Sample("lag_blocks", 0.0)), {"chain": "eth", "host": "lab-h1"})


SERVERS = {"eth-geth-1": "UP", "eth-neth-1": "UP", "eth-erigon-1": "UP", "eth-reth-1": "MAINT"}


def report() -> HealthReport:
    return HealthReport("2026-12-04T14:00:00+00:00", 1.25, [
        Check("lab-h1", "host", Level.OK, "disk 40% free", {"address": "10.213.0.11"}, (), {"host": "lab-h1"}),
        execution("eth-reth-1", Level.OK, "ok", "block 50"),
        execution("eth-neth-1", Level.WARNING, "lagging", "3 blocks behind the chain's majority head 50"),
        execution("eth-erigon-1", Level.WARNING, "syncing", "syncing (block 50 of 50)"),
        execution("eth-geth-1", Level.CRITICAL, "diverged", "DIVERGED: block 48 is 0xaaaa, the majority's 0xbbbb"),
        Check("eth", "chain", Level.CRITICAL, "1 endpoint(s) diverged at block 48", {"reference_head": 50}, (),
              {"chain": "eth"}),
        Check("lab-h1/lb-eth", "balancer", Level.OK, "3 of 4 backends up; in maintenance: eth-reth-1",
              {"host": "lab-h1", "chain": "eth", "stats_url": "http://10.213.0.11:8404/stats;csv",
               "servers": [{"name": n, "status": s, "check": "L7OK"} for n, s in SERVERS.items()]},
              (Sample("backends_up", 3.0),), {"host": "lab-h1", "chain": "eth"}),
        Check("pokt1supplier", "stake", Level.UNKNOWN, "stake not read: timeout", {"name": "sup-1"}, (), {}),
    ])


def verdict(name: str, level: Level, state: str, up: bool = True) -> ex.Verdict:
    states = (state,) if state != "ok" else ()
    return ex.Verdict(ex.ExecTarget(name, "eth", "http://10.213.0.20:8545", "geth", "lab-h1"), level,
                      f"{name} is {state}", state, {"up": 1.0 if up else 0.0}, {}, states)


def plan(backend: str, action: str, *, healthy_others: bool = True, db: Path | None = None) -> rotation.RotationPlan:
    """The rotation workflow's own (pure) planner over real balancer reads and endpoint verdicts."""
    read = sv.BalancerRead("lab-h1", "lb-eth", "eth", "http://10.213.0.11:8404/stats;csv",
                           [sv.ServerState(n, s, "L7OK") for n, s in SERVERS.items()])
    verdicts = {"eth-geth-1": verdict("eth-geth-1", Level.CRITICAL, "diverged"),
                "eth-neth-1": verdict("eth-neth-1", Level.WARNING, "lagging"),
                "eth-erigon-1": verdict("eth-erigon-1", Level.OK if healthy_others else Level.WARNING,
                                        "ok" if healthy_others else "syncing"),
                "eth-reth-1": verdict("eth-reth-1", Level.OK, "ok")}
    return rotation.plan_rotation([read], verdicts, set(), backend.rsplit("/", 1)[-1], action,  # type: ignore[arg-type]
                                  rise=2, db=db or Path("/tmp/nowhere.db"), timeout=2.0, db_given=db is not None)


def inventory(root: Path, hosts: str = "    h1: {ansible_host: 127.0.0.1}\n", fleet: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n" + hosts)
    (root / "fleet.yml").write_text(fleet or "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
                                             "chains:\n  eth: {clients: [geth], replicas: 1}\n")
    return root


class Calls:
    """rotation.prepare/execute replaced: what they were called with; prepare answers ``plans``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, plans: dict[tuple[str, str], Any]) -> None:
        self.prepared: list[tuple[str, str, Any]] = []
        self.executed: list[Any] = []
        self.plans = plans

        def prepare(fleet: Any, backend: str, action: str, *, db: Any = None, timeout: Any = None,
                    on_event: Any = None, cancel: Any = None) -> Any:
            self.prepared.append((backend, action, db))
            found = self.plans[(backend, action)]
            if isinstance(found, Exception):
                raise found
            if callable(found):
                return found(cancel)
            return found

        def execute(fleet: Any, plan: Any, *, db: Any = None, on_event: Any = None, cancel: Any = None) -> Any:
            self.executed.append(plan)
            return rotation.RotationResult(plan, True, True, True, plan.status, "MAINT", None,
                                           f"took {plan.server} in lb-eth on lab-h1 out of rotation")

        monkeypatch.setattr(rotation, "prepare", prepare)
        monkeypatch.setattr(rotation, "execute", execute)


def app_for(inv: Path, tmp_path: Path, *, fetch: Any = None, **options: Any) -> FleetApp:
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "health", "db": str(tmp_path / "state.db"), **options}
    return FleetApp(TuiOptions(**opts), fetchers={"health": fetch} if fetch is not None else None)


async def refreshed(pilot: Any, screen: Any, after: float | None = None, limit: int = 600) -> None:
    """Wait until ``screen`` applied a refresh newer than ``after`` (or failed one); no time is asserted."""
    for _ in range(limit):
        await pilot.pause(0.05)
        if screen.refreshed_at is not None and screen.refreshed_at != after and not screen._inflight:
            return
        if screen.error and not screen._inflight:
            return
    raise AssertionError(f"no refresh: {screen.status_text} {screen.error}")


async def until(pilot: Any, check: Any, what: str, limit: int = 400) -> None:
    for _ in range(limit):
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError(f"never happened: {what}")


def notices(app: FleetApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def table(screen: Any) -> list[tuple[str, str, str]]:
    return [(str(r.cells[0]), str(r.cells[1]), str(r.cells[2])) for r in screen.shown]


def select(screen: Any, key: str) -> None:
    screen.query_one("#table").move_cursor(row=[r.key for r in screen.shown].index(key), animate=False)


def style_of(cell: Any) -> str:
    return str(cell.style)


# ----------------------------------------------------------------------------- rows, describe, drill-down


def test_rows_grouped_by_level_and_bad_backends_stand_out(tmp_path: Path) -> None:
    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), tmp_path, fetch=lambda cancel: report())
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert screen.error is None
            assert table(screen) == [
                ("CRITICAL", "chain", "eth"), ("CRITICAL", "execution", "eth-geth-1"),
                ("UNKNOWN", "stake", "pokt1supplier"),
                ("WARNING", "execution", "eth-erigon-1"), ("WARNING", "execution", "eth-neth-1"),
                ("OK", "execution", "eth-reth-1"), ("OK", "balancer", "lab-h1/lb-eth"), ("OK", "host", "lab-h1")]
            rows = {r.key: r for r in screen.shown}
            geth = rows["execution/eth-geth-1"]
            assert str(geth.cells[3]) == "DIVERGED" and "red" in style_of(geth.cells[3])
            assert "bold" in style_of(geth.cells[2]) and "red" in style_of(geth.cells[2])
            assert str(rows["execution/eth-neth-1"].cells[3]) == "lagging"
            assert "bold yellow" == style_of(rows["execution/eth-neth-1"].cells[3])
            assert "bold yellow" == style_of(rows["execution/eth-erigon-1"].cells[2])
            assert style_of(rows["execution/eth-reth-1"].cells[2]) == ""  # an OK one does not
            # in which pool, and in rotation or not; the reason
            assert str(rows["execution/eth-geth-1"].cells[4]) == "UP"
            assert str(rows["execution/eth-reth-1"].cells[4]) == "MAINT"
            assert str(rows["stake/pokt1supplier"].cells[4]) == "" and rows["stake/pokt1supplier"].cells[5] == \
                "stake not read: timeout"
            summary = str(screen.query_one("#summary").render())
            assert summary.startswith("HEALTH CRITICAL - 2 critical, 2 warning, 1 unknown of 8 checks")
            # describe: the check's as_dict (and the pool it is in)
            select(screen, "execution/eth-geth-1")
            await pilot.press("d")
            doc = json.loads(app.screen.text)
            assert doc["status"] == "CRITICAL" and doc["state"] == "diverged" and doc["values"]["up"] == 1.0
            assert doc["rotation"] == [{"balancer": "lab-h1/lb-eth", "host": "lab-h1", "name": "lb-eth",
                                        "chain": "eth", "status": "UP"}]
            await pilot.press("escape")
            # enter on an endpoint: nothing more to show; on the balancer: its pool
            await pilot.press("enter")
            assert app.screen is screen
            select(screen, "balancer/lab-h1/lb-eth")
            await pilot.press("enter")
            pool = app.screen
            assert type(pool).__name__ == "BackendsView"
            await refreshed(pilot, pool)
            assert app.breadcrumbs() == "fleetctl ▸ health ▸ lab-h1/lb-eth pool"
            assert [(str(r.cells[0]), str(r.cells[1]), str(r.cells[3])) for r in pool.shown] == [
                ("UP", "eth-geth-1", "DIVERGED"), ("UP", "eth-neth-1", "lagging"),
                ("UP", "eth-erigon-1", "syncing"), ("MAINT", "eth-reth-1", "ok")]
            assert "3 of 4 backends up" in str(pool.query_one("#summary").render())
            await pilot.press("escape")
            assert app.screen is screen
    asyncio.run(run())


# ----------------------------------------------------------------------------- r: rotation out / in


def test_r_only_on_backends_and_refused_in_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch, {})

    async def run() -> None:
        inv = inventory(tmp_path / "inv")
        app = app_for(inv, tmp_path, fetch=lambda cancel: report())
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            for key in ("stake/pokt1supplier", "balancer/lab-h1/lb-eth", "chain/eth"):
                select(screen, key)
                await pilot.press("r")
                assert app.screen is screen
            assert notices(app).count(NOT_A_BACKEND) >= 1
        ro = app_for(inv, tmp_path, fetch=lambda cancel: report(), read_only=True)
        async with ro.run_test(size=(120, 30)) as pilot:
            screen = ro.screen
            await refreshed(pilot, screen)
            select(screen, "execution/eth-geth-1")
            await pilot.press("r")
            await pilot.pause()
            assert ro.screen is screen
            assert any("read-only: remediate refused" in n for n in notices(ro))
        assert calls.prepared == [] and calls.executed == []  # nothing read, nothing done
    asyncio.run(run())


def test_r_confirms_with_the_cli_command_refused_then_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "state.db"
    out = plan("eth-geth-1", "out", db=db)
    assert out.refused is None and out.changes  # the planner agrees: something to do
    calls = Calls(monkeypatch, {("eth-geth-1", "out"): out})
    fetched: list[int] = []

    def fetch(cancel: Any) -> HealthReport:
        fetched.append(1)
        return report()

    async def run() -> None:
        inv = inventory(tmp_path / "inv")
        app = app_for(inv, tmp_path, fetch=fetch)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            select(screen, "execution/eth-geth-1")
            await pilot.press("r")
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
            confirm = app.screen
            assert calls.prepared == [("eth-geth-1", "out", str(db))]
            assert confirm.command == f"fleetctl -i {inv} rotation out eth-geth-1 --db {db} --yes"
            assert confirm.command == rotation.cli_command(out, inventory=str(inv))
            body = "\n".join(confirm.lines)
            assert "take eth-geth-1 out of rotation in lb-eth on lab-h1 (UP -> MAINT)" in body
            assert "left in rotation and healthy: eth-erigon-1" in body
            assert "set server eth-nodes/eth-geth-1 state maint" in body
            assert "rotation out eth-geth-1" in str(confirm.query_one("#confirm-title").render())
            # no: nothing done, no refresh
            before = len(fetched)
            await pilot.press("n")
            await pilot.pause()
            assert app.screen is screen and calls.executed == [] and len(fetched) == before
            # yes: executed, said, refreshed
            await pilot.press("r")
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: calls.executed == [out], "the execute")
            await until(pilot, lambda: any("took eth-geth-1 in lb-eth on lab-h1 out of rotation" in n
                                           for n in notices(app)), "the notice")
            await until(pilot, lambda: len(fetched) > before and not screen._inflight, "the refresh")
            assert screen.current_row().key == "execution/eth-geth-1"
    asyncio.run(run())


def test_r_shows_why_a_change_is_refused_and_picks_in_for_a_server_out(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    last = plan("eth-geth-1", "out", healthy_others=False)
    assert last.refused is not None  # the last healthy backend: the planner refuses
    back = plan("lab-h1/lb-eth/eth-reth-1", "in")
    def slow(cancel: Any) -> Any:  # a pool that takes long to read: ctrl+x stops it
        from fleetctl.core.events import Cancelled

        assert cancel.wait(60), "never cancelled"
        raise Cancelled(f"rotation: {cancel.reason}")

    calls = Calls(monkeypatch, {("eth-geth-1", "out"): last, ("lab-h1/lb-eth/eth-reth-1", "in"): back,
                                ("eth-neth-1", "out"): rotation.UnknownBackend("rotation: no backend eth-neth-1"),
                                ("eth-erigon-1", "out"): slow})

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), tmp_path, fetch=lambda cancel: report())
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            select(screen, "execution/eth-geth-1")
            await pilot.press("r")
            await until(pilot, lambda: any("refused, nothing changed" in n for n in notices(app)), "the refusal")
            assert app.screen is screen and calls.executed == []
            # the workflow's error: one line, nothing done
            select(screen, "execution/eth-neth-1")
            await pilot.press("r")
            await until(pilot, lambda: any("rotation: no backend eth-neth-1" in n for n in notices(app)), "the error")
            assert app.screen is screen
            # ctrl+x while the pool is read: cancelled, nothing asked
            select(screen, "execution/eth-erigon-1")
            await pilot.press("r")
            await until(pilot, lambda: calls.prepared[-1][0] == "eth-erigon-1", "the prepare")
            await pilot.press("r")  # one at a time
            assert any("already under way" in n for n in notices(app))
            await pilot.press("ctrl+x")
            await until(pilot, lambda: any("cancelled from the TUI" in n for n in notices(app)), "the cancel")
            assert app.screen is screen and calls.executed == [] and not screen._rotating
            # in the pool view, a server in maintenance is put back ("in"), named host/balancer/server
            select(screen, "balancer/lab-h1/lb-eth")
            await pilot.press("enter")
            pool = app.screen
            await refreshed(pilot, pool)
            select(pool, "eth-reth-1")
            await pilot.press("r")
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
            assert calls.prepared[-1][:2] == ("lab-h1/lb-eth/eth-reth-1", "in")
            assert "put eth-reth-1 back into rotation" in "\n".join(app.screen.lines)
            assert app.screen.command.endswith("rotation in eth-reth-1 --yes")
            await pilot.press("escape")
            assert app.screen is pool and calls.executed == []
    asyncio.run(run())


# ----------------------------------------------------------------------------- the real sweep on loopback

FRONT = lab_image("front.py")
SYSTEM_PYTHON = Path("/usr/bin/python3")
HEAD = 50
READY = re.compile(r"^ready client=(\w+) rpc=(http://\S+) control=(http://\S+)$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as answer:  # noqa: S310 - 127.0.0.1 only
        return json.loads(answer.read())["result"]


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def chain_servers(tmp_path: Path) -> Iterator[dict[str, str]]:
    """anvil (the canonical chain, HEAD blocks) and client fronts over it with faults: name -> RPC URL."""
    binary = os.environ.get("FLEETCTL_ANVIL") or shutil.which("anvil") or str(REPO / ".venv/bin/anvil")
    if not os.access(binary, os.X_OK) or not SYSTEM_PYTHON.exists():
        pytest.skip("anvil or /usr/bin/python3 not found")
    port = _free_port()
    procs: list[subprocess.Popen[Any]] = [subprocess.Popen(
        [binary, "--host", LOCALHOST, "--port", str(port), "--silent"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)]
    anvil = f"http://{LOCALHOST}:{port}"
    try:
        for _ in range(300):
            try:
                _rpc(anvil, "eth_blockNumber")
                break
            except OSError:
                assert procs[0].poll() is None, "anvil exited"
                time.sleep(0.05)
        _rpc(anvil, "anvil_mine", [hex(HEAD)])
        urls = {"eth-raw": anvil}
        fronts = {"eth-geth-a": ("geth", {"diverge_at": 40}), "eth-geth-b": ("geth", {}),
                  "eth-neth": ("nethermind", {"lag": 10}), "eth-erigon": ("erigon", {"syncing": True})}
        for name, (client, faults) in fronts.items():
            with (tmp_path / f"{name}.err").open("w") as err:
                proc = subprocess.Popen([str(SYSTEM_PYTHON), "-I", "-S", str(FRONT), "--client", client, "--upstream",
                                         anvil, "--listen", LOCALHOST, "--port", "0"], stdout=subprocess.PIPE,
                                        stderr=err, text=True, env={**os.environ, "FRONT_FAULTS": json.dumps(faults)})
            procs.append(proc)
            assert proc.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=10), (tmp_path / f"{name}.err").read_text()
            match = READY.match(proc.stdout.readline().strip())
            assert match is not None, (tmp_path / f"{name}.err").read_text()
            urls[name] = match[2]
        yield urls
    finally:
        for proc in procs:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def test_the_real_health_workflow_on_loopback_servers(tmp_path: Path, chain_servers: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetlab.standin import PocketStandin

    clients = {"eth-raw": "reth", "eth-geth-a": "geth", "eth-geth-b": "geth", "eth-neth": "nethermind",
               "eth-erigon": "erigon"}
    standin = PocketStandin({"height": 1000, "shannon": {"params": {"supplier": {"min_stake": 10**9}},
                                                         "suppliers": []}}).start()
    calls = Calls(monkeypatch, {})
    try:
        endpoints = "\n".join(f"      - {{name: {n}, url: '{u}', client: {clients[n]}, host: local-1}}"
                              for n, u in chain_servers.items())
        inv = inventory(tmp_path / "inv", hosts="    local-1:\n      ansible_host: 127.0.0.1\n"
                                                "      ansible_connection: local\n",
                        fleet=f"protocol: shannon\npocket: {{rest_url: '{standin.shannon_url}'}}\n"
                              "chains:\n  eth:\n    clients: [geth, nethermind, erigon]\n    replicas: 5\n"
                              f"    max_client_share: 0.5\n    endpoints:\n{endpoints}\n"
                              "health: {timeout: 2, hash_depth: 2, load_warning: 500, load_critical: 1000}\n")
        db = tmp_path / "state" / "fleetctl.db"

        async def run() -> None:
            app = app_for(inv, tmp_path, db=str(db))
            async with app.run_test(size=(160, 48)) as pilot:
                screen = app.screen
                await refreshed(pilot, screen)
                assert screen.error is None, screen.error
                rows = {r.key: r for r in screen.shown}
                geth = rows["execution/eth-geth-a"]
                assert geth.level is Level.CRITICAL and str(geth.cells[3]) == "DIVERGED"
                assert str(geth.cells[5]).startswith(f"DIVERGED: block {HEAD - 2} is ")
                assert "red" in style_of(geth.cells[2])
                neth = rows["execution/eth-neth"]
                assert neth.level is Level.CRITICAL and str(neth.cells[3]) == "lagging"
                assert "10 blocks behind" in str(neth.cells[5]) and style_of(neth.cells[3]) == "bold yellow"
                erigon = rows["execution/eth-erigon"]
                assert erigon.level is Level.WARNING and str(erigon.cells[3]) == "syncing"
                assert rows["execution/eth-geth-b"].level is Level.OK and rows["execution/eth-raw"].level is Level.OK
                # grouped by level, worst first
                order = [r.level.severity for r in screen.shown if r.level is not None]
                assert order == sorted(order, reverse=True)
                assert str(screen.query_one("#summary").render()).startswith("HEALTH CRITICAL - ")
                # a viewer: nothing recorded, no alert state written
                assert not db.exists()
                # these endpoints are in no balancer's pool: r says so and reads nothing
                select(screen, "execution/eth-geth-a")
                await pilot.press("r")
                assert app.screen is screen and NOT_A_BACKEND in notices(app)
                assert calls.prepared == []
                await pilot.press("d")
                assert '"state": "diverged"' in app.screen.text
        asyncio.run(run())
    finally:
        standin.stop()


def test_refresh_error_shown_then_cleared_with_the_cursor_kept_at_80x24(tmp_path: Path) -> None:
    state = {"broken": False, "worse": False}

    def fetch(cancel: Any) -> HealthReport:
        if state["broken"]:
            raise TimeoutError("sweep took too long")
        r = report()
        if state["worse"]:  # the host's disk fills: it moves up among the CRITICAL, above the backend
            r.checks[0] = Check("lab-h1", "host", Level.CRITICAL, "disk 1% free", {}, (), {"host": "lab-h1"})
        return r

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), tmp_path, fetch=fetch)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            select(screen, "execution/eth-neth-1")
            index = screen.query_one("#table").cursor_row
            state["broken"] = True
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert screen.error and "TimeoutError: sweep took too long" in screen.error
            assert "sweep took too long" in str(screen.query_one("#status").render())
            assert screen.current_row().key == "execution/eth-neth-1"
            state["broken"], state["worse"] = False, True
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert screen.error is None and "sweep took too long" not in str(screen.query_one("#status").render())
            assert [r.key for r in screen.shown][:3] == ["chain/eth", "execution/eth-geth-1", "host/lab-h1"]
            assert screen.current_row().key == "execution/eth-neth-1"
            assert screen.query_one("#table").cursor_row == index + 1
    asyncio.run(run())
