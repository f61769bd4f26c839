"""``fleetctl preflight`` against a chain, a node and a backend that lie or hang (127.0.0.1 only).

The chain is ``hostile_pocket_server.HostileChain`` (every route replaceable) with the Cosmos auth
account route and a CometBFT ``/status`` added; the balancer is a small server on the port the plan
gives the chain. Every bad value must make its one check UNKNOWN (exit 1, the field named), never
OK, never a crash, never a hang past the timeouts; credentials of the configured URLs never show.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from hostile_pocket_server import SUPPLIER, HostileChain, coin, shannon_address, shannon_supplier
from fleetctl.plan.model import BALANCER_PORT_BASE
from fleetctl.workflows.preflight import PreflightReport, preflight
from fleetctl.spec.loader import load_inventory

REPO = Path(__file__).resolve().parents[2]
A = shannon_address("pf-a")
POKT = 1_000_000
KEY = base64.b64encode(bytes([2]) + bytes(range(32))).decode()
ACCOUNTS = f"/cosmos/auth/v1beta1/accounts/{A}"
BALANCE = f"/cosmos/bank/v1beta1/balances/{A}/by_denom"


def account(**over: Any) -> dict[str, Any]:
    base = {"@type": "/cosmos.auth.v1beta1.BaseAccount", "address": A, "account_number": "3", "sequence": "9",
            "pub_key": {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": KEY}}
    base.update(over)
    return {"account": base}


def served_supplier() -> dict[str, Any]:
    body = shannon_supplier(A)
    body["services"] = [{"service_id": "eth", "endpoints": [{"url": "http://127.0.0.1:8500", "rpc_type": "JSON_RPC",
                                                             "configs": []}], "rev_share": []}]
    return body


class Backend:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = b'{"jsonrpc":"2.0","id":1,"result":"0x10"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        for index in range(20):
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", BALANCER_PORT_BASE + index), Handler)
                break
            except OSError:
                continue
        else:
            pytest.skip("no free port in 7600..7619 for the balancer")
        self.server.daemon_threads = True
        self.fillers = index
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.chain = HostileChain("shannon", [A])
        self.chain.routes[f"{SUPPLIER}/{A}"] = {"supplier": served_supplier()}
        self.chain.routes[ACCOUNTS] = account()
        self.chain.routes[BALANCE] = {"balance": coin(str(1_000 * POKT))}
        self.chain.routes["/status"] = {"jsonrpc": "2.0", "id": -1, "result": {"sync_info": {
            "latest_block_height": "1000", "catching_up": False}}}
        self.backend = Backend()
        self.root = tmp / "inv"
        self.write(self.chain.url, self.chain.url.replace("http://", "tcp://"))

    def write(self, rest_url: str, node_url: str) -> None:
        self.root.mkdir(exist_ok=True)
        (self.root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
        chains = "".join(f"  filler{i}: {{clients: [geth, nethermind, erigon], replicas: 3}}\n"
                         for i in range(self.backend.fillers))
        (self.root / "fleet.yml").write_text(
            f"protocol: shannon\npocket: {{rest_url: '{rest_url}', node_rpc_url: '{node_url}'}}\n"
            f"chains:\n{chains}  eth: {{clients: [geth, nethermind, erigon], replicas: 3}}\n"
            f"suppliers:\n  - {{name: a, operator_address: '{A}', services: [eth], host: h1}}\n")

    def check(self, timeout: float = 1.0) -> PreflightReport:
        return asyncio.run(preflight(load_inventory(self.root), timeout=timeout))

    def cli(self, *args: str) -> Any:
        return run_cli("preflight", "-i", str(self.root), "--timeout", "1", *args,
                       env={"PYTHONPATH": str(REPO), "FLEETCTL_CACHE_DIR": str(self.tmp / "cache")}, timeout=60)

    def stop(self) -> None:
        self.chain.close()
        self.backend.stop()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.stop()


def only(report: PreflightReport) -> tuple[str, str]:
    assert len(report.problems) == 1, [p.line() for p in report.problems]
    (p,) = report.problems
    assert "\n" not in p.line() and len(p.line()) < 700
    return p.kind, p.field


def test_the_honest_world_is_ok(world):
    report = world.check()
    assert report.problems == [] and report.exit_code == 0, [p.line() for p in report.problems]


@pytest.mark.parametrize("answer", [
    account(address=shannon_address("someone-else")),
    account(pub_key="AAAA"),
    account(pub_key={"@type": "/cosmos.crypto.secp256k1.PubKey", "key": "!!"}),
    account(pub_key={"@type": "/cosmos.crypto.secp256k1.PubKey", "key": base64.b64encode(bytes(33)).decode()}),
    account(pub_key={"@type": "\x1b[31mevil", "key": KEY}),
    account(account_number="-3"),
    account(sequence="1" + "0" * 60),
    {"account": ["x"]},
    {"account": None},
    {"accounts": []},
    b"<html>gateway error</html>",
    b'{"account": {"address": ' * 5000,
    (500, {"code": 13, "message": "internal"}),
])
def test_garbage_accounts_are_unknown_never_ok(world, answer):
    world.chain.routes[ACCOUNTS] = answer
    report = world.check()
    assert only(report) == ("UNKNOWN", "account") and report.exit_code == 1


def test_a_missing_account_or_key_is_a_sanction_and_a_foreign_key_a_warning(world):
    world.chain.routes[ACCOUNTS] = (404, {"code": 5, "message": f"account {A} not found", "details": []})
    assert only(world.check()) == ("SANCTION", "account")
    world.chain.routes[ACCOUNTS] = account(pub_key=None)
    assert only(world.check()) == ("SANCTION", "account.pub_key")
    world.chain.routes[ACCOUNTS] = account(pub_key={"@type": "/cosmos.crypto.ed25519.PubKey", "key": KEY})
    assert only(world.check()) == ("WARNING", "account.pub_key")


@pytest.mark.parametrize("amount", ["1" + "0" * 40, "9" * 5000, str(10**17 + 1), "-5", "1e18", 1.5, None,
                                    "0x10", " 100", [], {"amount": "1"}])
def test_huge_or_malformed_balances_are_unknown(world, amount):
    world.chain.routes[BALANCE] = {"balance": {"denom": "upokt", "amount": amount}}
    assert only(world.check()) == ("UNKNOWN", "balance")


def test_the_largest_plausible_balance_is_fine_and_a_foreign_denom_is_not(world):
    world.chain.routes[BALANCE] = {"balance": coin(str(10**17))}
    assert world.check().problems == []
    world.chain.routes[BALANCE] = {"balance": {"denom": "uatom", "amount": "1000000000"}}
    assert only(world.check()) == ("UNKNOWN", "balance")


@pytest.mark.parametrize("mutate", [
    lambda s: s["services"][0].__setitem__("service_id", "eth\x1b[2J"),
    lambda s: s["services"][0]["endpoints"][0].__setitem__("url", "http://" + "a" * 5000),
    lambda s: s["services"][0]["endpoints"][0].__setitem__("rpc_type", 99),
    lambda s: s.__setitem__("services", [s["services"][0]] * 5000),
    lambda s: s.__setitem__("service_config_history", [{"service": s["services"][0], "activation_height": "1e3"}]),
    lambda s: s.__setitem__("stake", coin("1" * 45)),
    lambda s: s.__setitem__("operator_address", shannon_address("other")),
])
def test_garbage_suppliers_are_unknown(world, mutate):
    body = served_supplier()
    mutate(body)
    world.chain.routes[f"{SUPPLIER}/{A}"] = {"supplier": body}
    assert only(world.check()) == ("UNKNOWN", "supplier")


def test_hanging_chain_node_and_accounts_end_within_the_timeouts(world):
    def hang(query: Any, body: Any) -> Any:
        time.sleep(8)
        return account()

    world.chain.routes[ACCOUNTS] = hang
    world.chain.routes["/status"] = lambda q, b: (time.sleep(8), {})[1]
    started = time.monotonic()
    report = world.check(timeout=0.5)
    assert time.monotonic() - started < 6
    kinds = {(p.kind, p.field) for p in report.problems}
    assert kinds == {("UNKNOWN", "account"), ("SANCTION", "pocket_node.query_node_rpc_url/tx_node_rpc_url")}
    assert report.exit_code == 2


@pytest.mark.parametrize("status", [
    {"result": {"sync_info": {"latest_block_height": 1000, "catching_up": False}}},
    {"result": {"sync_info": {"latest_block_height": "1" * 30, "catching_up": False}}},
    {"result": {"sync_info": {"latest_block_height": "10", "catching_up": "no"}}},
    {"result": []},
    [],
])
def test_a_node_that_answers_nonsense_is_a_sanction_named(world, status):
    world.chain.routes["/status"] = status
    kind, field = only(world.check())
    assert (kind, field) == ("SANCTION", "pocket_node.query_node_rpc_url/tx_node_rpc_url")


def test_credentials_in_the_urls_never_show_and_the_cli_never_tracebacks(world):
    secret_chain = HostileChain("shannon", [A], token=("token", "s3cr3t-token"), basic=("op", "hunter2"))
    try:
        secret_chain.routes.update(world.chain.routes)
        url = secret_chain.url_with(basic=("op", "hunter2"), token=("token", "s3cr3t-token"))
        world.write(url, url.replace("http://", "tcp://"))
        world.chain.routes[ACCOUNTS] = b"garbage"
        secret_chain.routes[ACCOUNTS] = (502, {"code": 14, "message": f"upstream {url} unavailable"})
        secret_chain.routes["/status"] = (500, {"message": f"see {url}"})
        proc = world.cli("-o", "json")
        text = proc.stdout + proc.stderr
        assert "Traceback" not in text and "hunter2" not in text and "s3cr3t-token" not in text
        report = json.loads(proc.stdout)
        assert proc.returncode == 2 and report["exit_code"] == 2
        assert {p["field"] for p in report["problems"]} == {"account", "pocket_node.query_node_rpc_url/tx_node_rpc_url"}
        table = world.cli()
        assert table.returncode == 2 and "hunter2" not in table.stdout + table.stderr
        assert all(line.startswith(("SANCTION: ", "UNKNOWN: ", "WARNING: ", "preflight: "))
                   for line in table.stdout.splitlines())
    finally:
        secret_chain.close()


def test_an_unreadable_chain_is_not_ok(world):
    world.chain.routes["/cosmos/base/tendermint/v1beta1/blocks/latest"] = b"\x00\xff"
    report = world.check()
    assert report.exit_code == 1 and report.message and "cannot read the chain" in report.message
    proc = world.cli()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_without_a_node_url_the_hosts_own_node_is_not_probed_from_here(world):
    world.write(world.chain.url, "")
    text = (world.root / "fleet.yml").read_text().replace(", node_rpc_url: ''", "")
    (world.root / "fleet.yml").write_text(text)
    before = list(world.chain.seen)
    report = world.check()
    assert only(report) == ("UNKNOWN", "pocket_node") and report.exit_code == 1
    assert "/status" not in world.chain.seen[len(before):]
