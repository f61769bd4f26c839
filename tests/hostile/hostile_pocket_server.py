"""A Pocket API that lies: Shannon REST and Morse RPC on 127.0.0.1, every answer replaceable.

Used by the hostile suites (test_pocket_hostile.py, test_store_hostile.py). The default world is a
healthy chain at height 1000 with a 1,000 POKT minimum; a test swaps any route's answer for a
JSON value, raw bytes, an ``(status, value)`` pair or a callable ``(query, body) -> answer``.
The server can demand credentials (HTTP Basic and a query token) the way a paid gateway does,
and records every request target it saw.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from fleetlab.standin import lab_address

POKT = 1_000_000
MIN = 1_000 * POKT
STAKE = 2_000 * POKT
RICH = 50 * POKT
HEIGHT = 1000
STAKE_YAML = "stake: {warning_margin: 100 POKT, critical_margin: 20 POKT, min_operator_balance: 10 POKT}"
SUPPLIER = "/pokt-network/poktroll/supplier/supplier"


def shannon_address(name: str) -> str:
    return lab_address(f"hostile-{name}")


def morse_address(name: str) -> str:
    return hashlib.sha256(f"hostile-{name}".encode()).hexdigest()[:40]


def coin(amount: Any) -> dict[str, Any]:
    return {"denom": "upokt", "amount": amount}


def shannon_supplier(address: str, stake: Any = str(STAKE), unstake: Any = "0") -> dict[str, Any]:
    return {"owner_address": address, "operator_address": address, "stake": coin(stake),
            "services": [], "unstake_session_end_height": unstake, "service_config_history": []}


def morse_node(address: str, tokens: Any = str(STAKE)) -> dict[str, Any]:
    return {"address": address, "public_key": "00" * 32, "jailed": False, "status": 2,
            "tokens": tokens, "service_url": "https://node.invalid:443", "chains": ["0021"],
            "unstaking_time": "0001-01-01T00:00:00Z", "output_address": address}


Answer = Any  # a JSON value, bytes, (status, value) or a callable (query, body) -> answer


class HostileChain:
    """One protocol's API; ``routes`` maps a path (without query) to its answer."""

    def __init__(self, protocol: str, addresses: list[str], *, token: tuple[str, str] | None = None,
                 basic: tuple[str, str] | None = None) -> None:
        self.protocol = protocol
        self.token = token
        self.basic = basic
        self.seen: list[str] = []
        self.routes: dict[str, Answer] = {}
        if protocol == "shannon":
            self.routes.update({
                "/cosmos/base/tendermint/v1beta1/blocks/latest": {"block": {"header": {"height": str(HEIGHT)}}},
                "/pokt-network/poktroll/supplier/params": {"params": {"min_stake": coin(str(MIN))}},
                "/pokt-network/poktroll/proof/params": {"params": {"proof_missing_penalty": coin(str(POKT))}},
                "/pokt-network/poktroll/shared/params": {"params": {"num_blocks_per_session": "10",
                                                                    "supplier_unbonding_period_sessions": "2"}},
                SUPPLIER: {"supplier": [shannon_supplier(a) for a in addresses],
                           "pagination": {"next_key": None, "total": "0"}},
            })
            for a in addresses:
                self.routes[f"{SUPPLIER}/{a}"] = {"supplier": shannon_supplier(a)}
                self.routes[f"/cosmos/bank/v1beta1/balances/{a}/by_denom"] = {"balance": coin(str(RICH))}
        else:
            nodes = {a: morse_node(a) for a in addresses}
            self.nodes = nodes
            self.balances = {a: RICH for a in addresses}
            self.routes.update({
                "/v1/query/height": {"height": HEIGHT},
                "/v1/query/nodeparams": {"stake_minimum": str(MIN), "max_jailed_blocks": "37960",
                                         "slash_fraction_downtime": "0.000001000000000000",
                                         "slash_fraction_double_sign": "0.050000000000000000"},
                "/v1/query/node": lambda q, b: self.nodes.get(b.get("address"), (400, {
                    "code": 400, "message": f"validator not found for {b.get('address')}"})),
                "/v1/query/balance": lambda q, b: {"balance": self.balances.get(b.get("address"), 0)},
                "/v1/query/supply": {"node_staked": 10**14, "app_staked": 10**13, "dao": 10**13,
                                     "total_staked": 10**14, "total_unstaked": 10**15, "total": 2 * 10**15},
            })
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url_with(self, *, basic: tuple[str, str] | None = None, token: tuple[str, str] | None = None) -> str:
        user = f"{basic[0]}:{basic[1]}@" if basic else ""
        query = f"/?{token[0]}={token[1]}" if token else ""
        return f"http://{user}127.0.0.1:{self._server.server_address[1]}{query}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, method: str, target: str, raw_body: bytes, headers: Any) -> tuple[int, bytes]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self.token is not None and query.get(self.token[0]) != self.token[1]:
            return 401, json.dumps({"code": 16, "message": "missing or wrong token"}).encode()
        if self.basic is not None:
            expected = "Basic " + base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if headers.get("Authorization") != expected:
                return 401, json.dumps({"code": 16, "message": "unauthorized"}).encode()
        try:
            body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            body = {}
        answer = self.routes.get(parts.path.rstrip("/") or "/")
        if answer is None:
            return 404, json.dumps({"code": 5, "message": f"{parts.path} not found"}).encode()
        if callable(answer):
            answer = answer(query, body if isinstance(body, dict) else {})
        status = 200
        if isinstance(answer, tuple):
            status, answer = answer
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return status, data

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        chain = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                chain.seen.append(self.path)
                status, data = chain._answer(self.command, self.path, raw, self.headers)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    # the client hung up first: fleetctl drops the reads it no longer needs (an
                    # unreadable height cancels the balances in flight), as a real client may
                    self.close_connection = True

            do_GET = _serve
            do_POST = _serve

        return Handler


def write_inventory(root: Path, url: str, suppliers: list[tuple[str, str]], *, protocol: str = "shannon",
                    owner: str | None = None, extra: str = STAKE_YAML, pocket_extra: str = "") -> Path:
    """An inventory folder whose fleet.yml points its pocket URL at ``url``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    owner_yaml = f", owner_address: {owner}" if owner else ""
    lines = [f"  - {{name: {name}, operator_address: '{address}'{owner_yaml}, services: [eth]}}"
             for name, address in suppliers]
    pocket = f"rest_url: '{url}'" if protocol == "shannon" else f"rpc_url: '{url}'"
    (root / "fleet.yml").write_text(
        f"protocol: {protocol}\npocket: {{{pocket}{pocket_extra}}}\n"
        "chains:\n  eth: {clients: [geth], replicas: 1, morse_chain_id: '0021'}\n"
        + ("suppliers:\n" + "\n".join(lines) + "\n" if lines else "")
        + extra + "\n")
    return root


def store_bytes(state: Path) -> bytes:
    """Every byte of every store file under ``state`` (the database, its -wal and -shm)."""
    return b"".join(p.read_bytes() for p in sorted(state.rglob("*.db*")) if p.is_file())


def assert_sane(proc: Any, mode: str, secrets: tuple[str, ...] = (), state: Path | None = None) -> dict[str, Any] | None:
    """Exit code 0-3, no traceback, the status line of ``mode`` (json, nagios, table), and no
    secret in stdout, stderr or the store. Returns the JSON document in json mode."""
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text[-3000:]
    assert proc.returncode in (0, 1, 2, 3), (proc.returncode, text[-3000:])
    for secret in secrets:
        assert secret not in text, (secret, text[-3000:])
        if state is not None:
            assert secret.encode() not in store_bytes(state), secret
    doc = None
    if mode == "json":
        doc = json.loads(proc.stdout)
        assert doc["status"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN")
        assert ["OK", "WARNING", "CRITICAL", "UNKNOWN"].index(doc["status"]) == proc.returncode
    elif mode == "nagios":
        lines = proc.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith("STAKES "), proc.stdout
    else:
        assert any(line.startswith("stakes: ") for line in text.splitlines()), text[-3000:]
    return doc


Mutation = Callable[[HostileChain], None]
