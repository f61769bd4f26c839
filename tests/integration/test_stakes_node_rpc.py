"""Operator balances through the node RPC (``pocket.node_rpc_url``): JSON-RPC batches of
``abci_query`` against the Pocket stand-in's CometBFT listener, and the REST route for whatever
the node does not answer plainly (fleetctl/pocket/abci.py).

The stand-in answers ``abci_query`` on ``/cosmos.bank.v1beta1.Query/Balance`` from the same
balances its REST route serves (lab/fleetlab/standin/, cosmos-protos/ beside it), with CometBFT's
default batch limit of ten. A hostile node (a local HTTP server in this file) answers some calls
wrongly on purpose: those operators are read by REST, the others are believed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from fleetctl.pocket.abci import BATCH_SIZE
from fleetctl.pocket.http import QueryError
from fleetctl.pocket.stakes import adapter_for, check_stakes, read_chain
from fleetctl.spec.loader import load_inventory
from fleetlab.standin import PocketStandin, lab_address

POKT = 1_000_000
MIN = 1_000 * POKT
COUNT = 25  # three batches: 10, 10 and 5


def addresses() -> list[str]:
    return [lab_address(f"node-rpc-{i}") for i in range(COUNT)]


def seed() -> dict[str, Any]:
    ops = addresses()
    balances = {a: 5 * POKT + i * 1_000 for i, a in enumerate(ops)}
    balances[ops[3]] = 0  # an operator with nothing left
    del balances[ops[4]]  # and one the bank has never seen (a zero coin, as the keeper answers)
    balances[ops[5]] = 2 * POKT  # below min_operator_balance
    return {
        "height": 1000,
        "shannon": {
            "params": {"supplier": {"min_stake": MIN}, "proof": {"proof_missing_penalty": POKT},
                       "shared": {"num_blocks_per_session": 10, "supplier_unbonding_period_sessions": 2}},
            "suppliers": [{"operator_address": a, "owner_address": lab_address("node-rpc-owner"),
                           "services": ["eth"], "stake_upokt": MIN + 500 * POKT} for a in ops],
        },
        "balances": balances,
    }


def inventory(root: Path, rest_url: str, node_rpc_url: str | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    node = f", node_rpc_url: '{node_rpc_url}'" if node_rpc_url else ""
    lines = "\n".join(f"  - {{name: s{i}, operator_address: '{a}', services: [eth]}}"
                      for i, a in enumerate(addresses()))
    (root / "fleet.yml").write_text(
        f"protocol: shannon\npocket: {{rest_url: '{rest_url}'{node}}}\n"
        "chains:\n  eth: {clients: [geth], replicas: 1}\n"
        f"suppliers:\n{lines}\n"
        "stake: {warning_margin: 100 POKT, critical_margin: 20 POKT, min_operator_balance: 3 POKT}\n")
    return root


@pytest.fixture()
def standin() -> Iterator[PocketStandin]:
    with PocketStandin(seed(), comet_addr=("127.0.0.1", 0)) as server:
        yield server


def read(fleet: Any) -> tuple[dict[str, int | QueryError], Any]:
    async def go() -> tuple[dict[str, int | QueryError], Any]:
        adapter = adapter_for(fleet, timeout=2, concurrency=8)
        reading = await read_chain(adapter, fleet.suppliers)
        return {a: r.balance for a, r in reading.readings.items()}, getattr(adapter, "batched", None)
    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_balances_by_batches_equal_the_rest_route(standin: PocketStandin, tmp_path: Path) -> None:
    by_rest, none = read(load_inventory(inventory(tmp_path / "rest", standin.shannon_url, None)))
    assert none is None
    by_node, batched = read(load_inventory(inventory(tmp_path / "node", standin.shannon_url, standin.comet_url)))
    assert by_node == by_rest
    assert by_node[addresses()[3]] == 0 and by_node[addresses()[4]] == 0
    assert (batched.by_node, batched.by_rest, batched.broken) == (COUNT, 0, None)


def test_stakes_report_is_the_same_either_way(standin: PocketStandin, tmp_path: Path) -> None:
    def report(node: str | None, name: str) -> list[dict[str, Any]]:
        inv = inventory(tmp_path / name, standin.shannon_url, node)
        done = run_cli("-i", str(inv), "stakes", "-o", "json", "--db", str(tmp_path / f"{name}.db"))
        assert done.returncode == 1, done.stderr  # one operator below its minimum balance: WARNING
        rows = json.loads(done.stdout)["suppliers"]
        return sorted(rows, key=lambda r: r["address"])

    assert report(standin.comet_url, "node") == report(None, "rest")


def test_a_refused_batch_goes_to_rest(standin: PocketStandin, tmp_path: Path) -> None:
    """A node whose batch limit is five refuses the batches of ten (read by REST) and answers
    the last one, of five: the same values either way."""
    standin.control.set_comet(max_request_batch_size=5)
    by_rest, _ = read(load_inventory(inventory(tmp_path / "rest", standin.shannon_url, None)))
    by_node, batched = read(load_inventory(inventory(tmp_path / "node", standin.shannon_url, standin.comet_url)))
    assert by_node == by_rest
    assert batched.by_node == 5 and batched.by_rest == COUNT - 5 and "refused" in batched.broken


def test_a_node_rpc_that_is_down_costs_one_attempt(standin: PocketStandin, tmp_path: Path) -> None:
    fleet = load_inventory(inventory(tmp_path / "node", standin.shannon_url, f"http://127.0.0.1:{free_port()}"))
    by_node, batched = read(fleet)
    assert all(isinstance(v, int) for v in by_node.values())
    assert batched.by_rest == COUNT and batched.broken is not None


class _HostileNode(BaseHTTPRequestHandler):
    """A CometBFT RPC that answers a batch with ids reversed, an unknown id, and bad answers for
    some operators: ``bad`` maps an operator to how its answer is spoilt."""

    bad: dict[str, str] = {}
    believed_amount = 7 * POKT

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        calls = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answers: list[Any] = [{"jsonrpc": "2.0", "id": 999, "result": {"response": {}}}]
        for call in reversed(calls):
            raw = bytes.fromhex(call["params"]["data"])
            address = raw[2:2 + raw[1]].decode()
            coin = b"\x0a\x05upokt\x12" + bytes([len(str(self.believed_amount))]) + str(self.believed_amount).encode()
            value = base64.b64encode(b"\x0a" + bytes([len(coin)]) + coin).decode()
            response: Any = {"value": value, "height": "1000"}
            how = self.bad.get(address)
            if how == "code":
                response = {"code": 18, "log": "invalid request", "codespace": "sdk", "height": "1000"}
            elif how == "garbage":
                response = {"value": "%%%", "height": "1000"}
            elif how == "denom":
                response = {"value": base64.b64encode(b"\x0a\x09\x0a\x05uatom\x12\x011").decode()}
            elif how == "huge":
                amount = b"9" * 30
                coin = b"\x0a\x05upokt\x12" + bytes([len(amount)]) + amount
                response = {"value": base64.b64encode(b"\x0a" + bytes([len(coin)]) + coin).decode()}
            elif how == "error":
                answers.append({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32603, "message": "x"}})
                continue
            elif how == "missing":
                continue
            elif how == "twice":  # answered twice: neither is believed
                answers.append({"jsonrpc": "2.0", "id": call["id"], "result": {"response": response}})
            answers.append({"jsonrpc": "2.0", "id": call["id"], "result": {"response": response}})
        body = json.dumps(answers).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_hostile_node_is_believed_only_where_it_answers_plainly(standin: PocketStandin, tmp_path: Path) -> None:
    ops = addresses()
    spoilt = {ops[0]: "code", ops[1]: "garbage", ops[11]: "denom", ops[12]: "huge", ops[20]: "error",
              ops[24]: "missing", ops[15]: "twice"}
    _HostileNode.bad = spoilt
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileNode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        by_rest, _ = read(load_inventory(inventory(tmp_path / "rest", standin.shannon_url, None)))
        fleet = load_inventory(inventory(tmp_path / "node", standin.shannon_url,
                                         f"http://127.0.0.1:{server.server_address[1]}"))
        by_node, batched = read(fleet)
    finally:
        server.shutdown()
        server.server_close()
    for address in ops:
        expected = by_rest[address] if address in spoilt else _HostileNode.believed_amount
        assert by_node[address] == expected, address
    assert (batched.by_node, batched.by_rest, batched.broken) == (COUNT - len(spoilt), len(spoilt), None)


def test_batches_hold_at_most_cometbfts_default_limit() -> None:
    assert BATCH_SIZE == 10


def test_check_stakes_library_path_uses_the_node(standin: PocketStandin, tmp_path: Path) -> None:
    fleet = load_inventory(inventory(tmp_path / "node", standin.shannon_url, standin.comet_url))
    report = check_stakes(fleet, db=tmp_path / "h.db", timeout=2)
    balances = {r.address: r.balance_upokt for r in report.suppliers}
    assert balances[addresses()[5]] == 2 * POKT and balances[addresses()[3]] == 0
