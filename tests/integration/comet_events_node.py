"""A stand-in CometBFT v0.38 RPC for ``fleetctl claims`` tests and benchmarks (stdlib only).

Serves ``GET /status``, ``/block_results?height=H`` and ``/blockchain?minHeight=&maxHeight=``
(and the same as JSON-RPC calls or batches of calls by ``POST /``) from blocks held in memory, in the shapes of the CometBFT v0.38 RPC (rpc/openapi/openapi.yaml)
with poktroll's typed events as Cosmos SDK 0.50 ``TypedEventToEvent`` writes them (each
attribute value the field's protojson; protos: poktroll proto/pocket/{proof,tokenomics}/
event.proto at ab401ed). Heights below ``lowest`` answer CometBFT's pruned error, heights above
``latest`` its "must be less than or equal" error, both HTTP 500 as CometBFT does.

Knobs for hostile tests: ``latency`` (seconds per answer), ``raw[height]`` (bytes served as
that height's body), ``hang`` (heights whose answer never comes), ``hashes[height]`` (change a
block's hash: a re-org). Used in-process (``CometNode().start()``) or as a subprocess
(``python comet_events_node.py SPEC.json`` prints its port).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _attr(key: str, value: Any, *, plain: bool = False) -> dict[str, Any]:
    return {"key": key, "value": value if plain else json.dumps(value, separators=(",", ":")),
            "index": True}


def event(type_: str, fields: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    attrs = [_attr(k, v) for k, v in fields.items()] + [_attr(k, v, plain=True) for k, v in extra.items()]
    attrs.sort(key=lambda a: a["key"])
    return {"type": type_, "attributes": attrs}


def _claim_fields(supplier: str, service: str, app: str, end: int, relays: int, cu: int,
                  claimed: int) -> dict[str, Any]:
    return {"num_relays": str(relays), "num_claimed_compute_units": str(cu),
            "num_estimated_compute_units": str(cu), "claimed_upokt": f"{claimed}upokt",
            "service_id": service, "application_address": app,
            "session_end_block_height": str(end), "claim_proof_status_int": 0,
            "supplier_operator_address": supplier, "num_estimated_relays": str(relays)}


TX = {"msg_index": "0"}
END = {"mode": "EndBlock"}


def claim_created(supplier: str, service: str, app: str, end: int, relays: int = 100,
                  cu: int = 100, claimed: int = 1000, *, updated: bool = False) -> dict[str, Any]:
    kind = "EventClaimUpdated" if updated else "EventClaimCreated"
    return event(f"pocket.proof.{kind}", _claim_fields(supplier, service, app, end, relays, cu, claimed), TX)


def proof_submitted(supplier: str, service: str, app: str, end: int, relays: int = 100,
                    cu: int = 100, claimed: int = 1000) -> dict[str, Any]:
    return event("pocket.proof.EventProofSubmitted",
                 _claim_fields(supplier, service, app, end, relays, cu, claimed), TX)


def claim_settled(supplier: str, service: str, app: str, end: int, relays: int = 100,
                  cu: int = 100, claimed: int = 1000, settled: int | None = None,
                  requirement: int = 0) -> dict[str, Any]:
    settled = claimed if settled is None else settled
    fields = _claim_fields(supplier, service, app, end, relays, cu, claimed)
    del fields["claim_proof_status_int"]
    fields.update({"proof_requirement_int": requirement, "claim_proof_status_int": 1,
                   "mint_distribution": {}, "reward_distribution_detailed": [],
                   "settled_upokt": f"{settled}upokt", "mint_ratio": "1.000000000000000000",
                   "session_id": hashlib.sha256(f"{app}{end}".encode()).hexdigest(),
                   "supplier_owner_address": supplier, "minted_upokt": f"{settled}upokt",
                   "overservicing_loss_upokt": f"{claimed - settled}upokt",
                   "deflation_loss_upokt": "0upokt"})
    return event("pocket.tokenomics.EventClaimSettled", fields, END)


def claim_expired(supplier: str, service: str, app: str, end: int, relays: int = 100,
                  cu: int = 100, claimed: int = 1000, reason: str = "PROOF_MISSING") -> dict[str, Any]:
    fields = _claim_fields(supplier, service, app, end, relays, cu, claimed)
    fields["expiration_reason"] = reason
    return event("pocket.tokenomics.EventClaimExpired", fields, END)


def supplier_slashed(supplier: str, service: str, app: str, end: int, penalty: int,
                     stake_after: int) -> dict[str, Any]:
    return event("pocket.tokenomics.EventSupplierSlashed",
                 {"proof_missing_penalty": f"{penalty}upokt", "service_id": service,
                  "application_address": app, "session_end_block_height": str(end),
                  "claim_proof_status_int": 0, "supplier_operator_address": supplier,
                  "supplier_stake_after_slash": f"{stake_after}upokt"}, END)


def old_claim(supplier: str, service: str, app: str, end: int, nbps: int = 10) -> dict[str, Any]:
    """``pocket.proof.Claim`` as releases before poktroll #1672/#1673 embedded it."""
    return {"supplier_operator_address": supplier,
            "session_header": {"application_address": app, "service_id": service,
                               "session_id": hashlib.sha256(f"{app}{end}".encode()).hexdigest(),
                               "session_start_block_height": str(end - nbps + 1),
                               "session_end_block_height": str(end)},
            "root_hash": "AAAA", "proof_validation_status": "PENDING_VALIDATION"}


def old_event(kind: str, supplier: str, service: str, app: str, end: int, relays: int = 100,
              cu: int = 100, claimed: int = 1000, **more: Any) -> dict[str, Any]:
    """The older shapes: ``claim`` embedded, amounts as Coin objects."""
    coin = {"denom": "upokt", "amount": str(claimed)}
    claim = old_claim(supplier, service, app, end)
    if kind == "EventSupplierSlashed":
        return event("pocket.tokenomics.EventSupplierSlashed",
                     {"claim": claim, "proof_missing_penalty": {"denom": "upokt",
                                                                "amount": str(more["penalty"])}}, END)
    fields: dict[str, Any] = {"claim": claim, "num_relays": str(relays),
                              "num_claimed_compute_units": str(cu),
                              "num_estimated_compute_units": str(cu), "claimed_upokt": coin}
    if kind == "EventClaimSettled":
        fields["proof_requirement"] = more.get("requirement", "NOT_REQUIRED")
    if kind == "EventClaimExpired":
        fields["expiration_reason"] = more.get("reason", "PROOF_MISSING")
    module = "proof" if kind in ("EventClaimCreated", "EventProofSubmitted") else "tokenomics"
    return event(f"pocket.{module}.{kind}", fields, TX if module == "proof" else END)


def noise_events() -> list[dict[str, Any]]:
    """Events every block has that fleetctl does not read (bank, fee, settlement batches)."""
    return [
        {"type": "coin_spent", "attributes": [
            {"key": "spender", "value": "pokt1feecollector", "index": True},
            {"key": "amount", "value": "10upokt", "index": True}]},
        event("pocket.tokenomics.EventSettlementBatch",
              {"session_end_block_height": "10", "sender_module": "tokenomics",
               "recipient": "pokt1x", "op_reason": "TLM_RELAY_BURN_EQUALS_MINT_SUPPLIER_SHAREHOLDER_REWARD_DISTRIBUTION",
               "total_amount": "10upokt", "num_claims": 1, "op_type": "mint"}, END),
    ]


def block_body(height: int, txs: list[list[dict[str, Any]]], end_events: list[dict[str, Any]],
               failed_txs: int = 0) -> dict[str, Any]:
    results = [{"code": 0, "data": "", "log": "", "info": "", "gas_wanted": "200000",
                "gas_used": "81234", "events": events, "codespace": ""} for events in txs]
    results += [{"code": 11, "data": "", "log": "out of gas", "info": "", "gas_wanted": "1",
                 "gas_used": "2", "events": [], "codespace": "sdk"}] * failed_txs
    return {"jsonrpc": "2.0", "id": -1, "result": {
        "height": str(height), "txs_results": results or None,
        "finalize_block_events": end_events or None, "validator_updates": None,
        "consensus_param_updates": None, "app_hash": "AAAA"}}


def block_hash(height: int, salt: str = "") -> str:
    return hashlib.sha256(f"comet-test{salt}:{height}".encode()).hexdigest().upper()


class CometNode:
    """The node: ``blocks[height] = body dict`` (absent heights: empty blocks)."""

    def __init__(self, latest: int, *, lowest: int = 1, latency: float = 0.0,
                 block_time_s: float = 1.0) -> None:
        self.latest = latest
        self.lowest = lowest
        self.latency = latency
        self.block_time_s = block_time_s
        self.blocks: dict[int, bytes] = {}
        self.raw: dict[int, bytes] = {}
        self.hang: set[int] = set()
        self.hashes: dict[int, str] = {}
        self.requests: list[str] = []
        self.status_raw: bytes | None = None
        #: Shannon REST params served at /pokt-network/poktroll/{module}/params (the gateway's
        #: JSON: uint64 as strings, coins as objects, proof_request_probability a number).
        self.params: dict[str, dict[str, Any]] = {
            "shared": {"num_blocks_per_session": "10", "grace_period_end_offset_blocks": "1",
                       "claim_window_open_offset_blocks": "1", "claim_window_close_offset_blocks": "4",
                       "proof_window_open_offset_blocks": "0", "proof_window_close_offset_blocks": "4"},
            "proof": {"proof_request_probability": 0.25,
                      "proof_requirement_threshold": {"denom": "upokt", "amount": "20000"},
                      "proof_missing_penalty": {"denom": "upokt", "amount": "1000000"},
                      "proof_submission_fee": {"denom": "upokt", "amount": "1000000"}},
        }
        self._server: ThreadingHTTPServer | None = None

    def put(self, height: int, body: dict[str, Any]) -> None:
        self.blocks[height] = json.dumps(body, separators=(",", ":")).encode()

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        def err(data: str) -> tuple[int, bytes]:
            return 500, json.dumps({"jsonrpc": "2.0", "id": -1, "error": {
                "code": -32603, "message": "Internal error", "data": data}}).encode()

        if path == "/status":
            if self.status_raw is not None:
                return 200, self.status_raw
            return 200, json.dumps({"jsonrpc": "2.0", "id": -1, "result": {
                "sync_info": {"latest_block_height": str(self.latest), "catching_up": False}}}).encode()
        if path == "/block_results":
            height = int(query["height"][0])
            if height in self.raw:
                return 200, self.raw[height]
            if height > self.latest:
                return err(f"height {height} must be less than or equal to the current blockchain "
                           f"height {self.latest}")
            if height < self.lowest:
                return err(f"height {height} is not available, lowest height is {self.lowest}")
            body = self.blocks.get(height)
            if body is None:
                body = json.dumps(block_body(height, [], [])).encode()
            return 200, body
        if path == "/blockchain":
            low, high = int(query["minHeight"][0]), int(query["maxHeight"][0])
            high = min(high, self.latest)
            low = max(low, high - 19, self.lowest)
            metas = [{"block_id": {"hash": self.hashes.get(h, block_hash(h)), "parts": {}},
                      "block_size": "1000", "header": {
                          "height": str(h),
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_700_000_000 + h * self.block_time_s))
                          + f".{int((h * self.block_time_s % 1) * 1e9):09d}Z"},
                      "num_txs": "0"} for h in range(high, low - 1, -1)]
            return 200, json.dumps({"jsonrpc": "2.0", "id": -1, "result": {
                "last_height": str(self.latest), "block_metas": metas}}).encode()
        module = path.removeprefix("/pokt-network/poktroll/").removesuffix("/params")
        if path.startswith("/pokt-network/poktroll/") and path.endswith("/params") and module in self.params:
            return 200, json.dumps({"params": self.params[module]}).encode()
        return 404, b'{"error":"not found"}'

    def answer_post(self, path: str, body: bytes) -> tuple[int, bytes, list[int]]:
        """``POST /``: one JSON-RPC call or a batch (an array), as CometBFT's
        makeJSONRPCHandler answers them: each call's answer with its id, one object for one
        answer, an array for more. Each call is logged in ``requests`` as its URI form (so
        ``/block_results?height=H`` counts the blocks asked either way). Also the heights
        asked (for ``hang``)."""
        if path != "/":
            return 404, b"404 page not found\n", []
        try:
            parsed = json.loads(body)
        except ValueError:
            return 500, b'{"jsonrpc":"2.0","id":-1,"error":{"code":-32700,"message":"Parse error"}}', []
        calls = parsed if isinstance(parsed, list) else [parsed]
        answers: list[bytes] = []
        heights: list[int] = []
        for call in calls:
            params = call.get("params") or {}
            query = {k: [str(v)] for k, v in params.items()}
            target = f"/{call.get('method')}" + ("?" + "&".join(f"{k}={v[0]}" for k, v in query.items())
                                                 if query else "")
            self.requests.append(target)
            if call.get("method") == "block_results" and "height" in params:
                heights.append(int(params["height"]))
            try:
                _, one = self.answer(f"/{call.get('method')}", query)
            except (KeyError, ValueError):
                one = b'{"jsonrpc":"2.0","id":-1,"error":{"code":-32602,"message":"Invalid params"}}'
            # the stored answers carry the URI id -1: the call's own id instead
            answers.append(re.sub(rb'^\{"jsonrpc":\s*"2.0",\s*"id":\s*-1',
                                  b'{"jsonrpc":"2.0","id":' + json.dumps(call.get("id")).encode(), one, count=1))
        if not isinstance(parsed, list):
            return 200, answers[0], heights
        return 200, b"[" + b",".join(answers) + b"]", heights

    def start(self) -> str:
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                node.requests.append(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/block_results" and int(query.get("height", ["0"])[0]) in node.hang:
                    time.sleep(3600)
                if node.latency:
                    time.sleep(node.latency)
                try:
                    status, body = node.answer(parts.path, query)
                except (KeyError, ValueError):
                    status, body = 400, b'{"error":"bad request"}'
                # Head and body in one write (two small writes meet Nagle and delayed ACKs).
                head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
                self.wfile.write(head.encode() + body)

            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, heights = node.answer_post(urlsplit(self.path).path, data)
                if node.hang.intersection(heights):
                    time.sleep(3600)
                if node.latency:
                    time.sleep(node.latency)
                self.wfile.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                                 f"Content-Type: application/json\r\nContent-Length: {len(body)}"
                                 "\r\n\r\n".encode() + body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 256
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    def start_async(self) -> str:
        """The same answers from an asyncio server on its own thread (many connections at once
        without a thread each: what the benchmark uses)."""
        import asyncio

        ready = threading.Event()
        box: dict[str, Any] = {}

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    request = await reader.readuntil(b"\r\n\r\n")
                    method, target = request.split(b" ", 2)[:2]
                    parts = urlsplit(target.decode())
                    if method == b"POST":
                        length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", request)
                        data = await reader.readexactly(int(length.group(1)) if length else 0)
                        status, body, heights = self.answer_post(parts.path, data)
                        if self.hang.intersection(heights):
                            await asyncio.sleep(3600)
                        if self.latency:
                            await asyncio.sleep(self.latency)
                        writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                                     f"Content-Type: application/json\r\nContent-Length: {len(body)}"
                                     "\r\n\r\n".encode() + body)
                        await writer.drain()
                        continue
                    self.requests.append(target.decode())
                    query = parse_qs(parts.query)
                    if parts.path == "/block_results" and int(query.get("height", ["0"])[0]) in self.hang:
                        await asyncio.sleep(3600)
                    if self.latency:
                        await asyncio.sleep(self.latency)
                    try:
                        status, body = self.answer(parts.path, query)
                    except (KeyError, ValueError):
                        status, body = 400, b'{"error":"bad request"}'
                    writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                                 f"Content-Type: application/json\r\nContent-Length: {len(body)}"
                                 "\r\n\r\n".encode() + body)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()

        def run() -> None:
            loop = asyncio.new_event_loop()
            box["loop"] = loop
            server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, backlog=512))
            box["port"] = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        self._loop = box["loop"]
        return f"http://127.0.0.1:{box['port']}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":  # python comet_events_node.py SPEC.json: blocks from a file
    spec = json.loads(open(sys.argv[1]).read())
    node = CometNode(spec["latest"], lowest=spec.get("lowest", 1), latency=spec.get("latency", 0.0))
    for key, body in spec["blocks"].items():
        node.blocks[int(key)] = json.dumps(body, separators=(",", ":")).encode()
    url = node.start_async() if spec.get("asyncio") else node.start()
    print(url, flush=True)
    try:
        sys.stdin.read()  # until the parent closes it
    finally:
        node.stop()
