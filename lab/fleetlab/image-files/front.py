#!/usr/bin/env python3
"""Execution-client JSON-RPC front for the fleetctl test lab.

The lab runs one anvil as the canonical chain. A *front* sits before it and presents itself as a
real execution client (Geth, Nethermind or Erigon) over that chain, and can be told at run time
to misbehave. Fronts run in containers that bind-mount the host's ``/usr`` read-only, so this file
is self-contained and uses the Python standard library only (Python >= 3.11)::

    /usr/bin/python3 front.py --client geth --upstream http://127.0.0.1:8545 --port 18545
    python3 lab/fleetlab/image-files/front.py ...   # from the repository

Command line
    ``--client geth|nethermind|erigon`` (env ``FRONT_CLIENT``), ``--upstream URL`` (env
    ``FRONT_UPSTREAM``), ``--listen ADDR``, ``--port P``, ``--control-port C`` (env
    ``FRONT_CONTROL_PORT``, else P + 1000, or an ephemeral port when P is 0), ``--peers N``,
    ``--version V`` (the version part of ``web3_clientVersion``). Initial faults may come from env
    ``FRONT_FAULTS`` (a JSON object, as for ``POST /fault``).

    The real clients' flags are accepted too, so a role written for the real image can start the
    front unchanged: the listen address comes from ``--http.addr`` (geth, erigon) or
    ``--JsonRpc.Host`` (nethermind), the port from ``--http.port`` / ``--JsonRpc.Port``, in the
    ``--flag value`` and ``--flag=value`` forms, with one or two dashes. ``--listen`` and ``--port``
    override them, except that geth's and erigon's own ``--port`` is their devp2p port: for those
    clients a ``--port`` given together with ``--http.port`` is ignored. Every other flag is
    ignored, with one stderr line naming them.

JSON-RPC (POST /, single or batch, HTTP/1.1 keep-alive; closed after an HTTP/1.0 request)
    ``web3_clientVersion`` answers the persona's string, ``net_peerCount`` the peer count,
    ``eth_syncing`` false (or the syncing object). ``eth_blockNumber``, ``eth_getBlockByNumber``
    and ``eth_getBlockByHash`` honour the ``lag`` and ``diverge_at`` faults. Everything else is
    passed to the upstream untouched.

Control API (its own listener on the control port; it stays up while the RPC port refuses)
    ``GET /health`` -> ``{"ok": true, "client": NAME, "faults": FAULTS}``; ``GET /fault`` ->
    FAULTS; ``POST /fault`` with a JSON object merges it into the faults and answers the result
    (400 with ``{"error": ...}`` if a key or value is invalid); ``POST /fault/clear`` resets them.
    The faults are:

    ``lag`` N            the node is N blocks behind the upstream head (head, tags, lookups)
    ``syncing`` bool     ``eth_syncing`` answers {startingBlock, currentBlock, highestBlock}
    ``diverge_at`` H     from block H on the node serves a fork: other block hashes, parentHash
                         from H + 1 on, lookups by those hashes; null for none
    ``delay_ms`` N       every RPC answer is delayed by N ms
    ``error`` kind       null, ``"rpc"`` (JSON-RPC -32603 internal error) or ``"http"`` (HTTP 500)
    ``garbage`` bool     every RPC answer is a 200 whose body is not JSON
    ``refuse`` bool      the RPC listening socket is closed (connections refused) and open ones
                         dropped; setting it back to false listens again on the same port
    ``peers`` N          what ``net_peerCount`` answers

Engine API (when started with an Engine API flag: geth/erigon ``--authrpc.addr``, ``--authrpc.port``,
``--authrpc.jwtsecret``; nethermind ``--JsonRpc.EngineHost``, ``--JsonRpc.EnginePort``,
``--JsonRpc.JwtSecretFile``; defaults 127.0.0.1:8551)
    A second listener that authenticates every request as execution-apis
    src/engine/authentication.md says: ``Authorization: Bearer <JWT>``, HS256 over the 32-byte hex
    secret of the JWT file, an ``iat`` claim within 60 s of now; a missing, bad or stale token is
    answered 401. It answers ``engine_exchangeCapabilities`` and the same JSON-RPC as the public
    port (``eth_blockNumber``, ``eth_chainId``, ``eth_getBlockByNumber``..., under the same faults;
    ``refuse`` closes it too). Other ``engine_*`` calls get -32601: no consensus client drives the
    lab's chain, anvil mines it.

Caplin (``--client erigon`` without ``--externalcl``, with ``--beacon.api``, ``--beacon.api.addr``
or ``--beacon.api.port``)
    The front also serves the Beacon API as Caplin (beacon_front.py, in-process, following this
    node's own head), on ``--beacon.api.addr`` (default localhost) : ``--beacon.api.port`` (default
    5555), with its control port at that port + 1000.

With env ``FRONT_CONTROL_FILE`` set, the control port is written to that file once listening
(and Caplin's to ``BEACON_CONTROL_FILE``): ``fleetctl lab fault`` reads them inside a container.

Once both listeners are up it prints ``ready client=NAME rpc=http://A:P control=http://A:C``;
SIGTERM and SIGINT stop it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

DEFAULT_HOST = "127.0.0.1"
DEFAULT_RPC_PORT = 8545  # the default of all three clients
CONTROL_PORT_OFFSET = 1000
DEFAULT_PEERS = 25
DEFAULT_ENGINE_PORT = 8551  # geth's, erigon's and nethermind's default
DEFAULT_BEACON_API_PORT = 5555  # erigon --beacon.api.port's default
JWT_MAX_SKEW_S = 60  # execution-apis authentication.md: iat within +-60 s
ENGINE_CAPABILITIES = ["engine_exchangeCapabilities"]
UPSTREAM_TIMEOUT_S = 30.0
IDLE_CONNECTION_TIMEOUT_S = 120.0
MAX_BODY_BYTES = 5 * 1024 * 1024  # geth's default HTTP body limit
JSON_TYPE = "application/json"
GARBAGE_BODY = b'{"jsonrpc":"2.0","id":1,"result":<!-- upstream cache miss -->\x00\xff'

JsonRpcMessage = dict[str, Any]


# --- personas -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Persona:
    """How one execution client spells its ``web3_clientVersion``."""

    template: str  # with a ``{version}`` placeholder
    version: str  # the version part a current release reports

    def client_version(self, version: str | None = None) -> str:
        """The full string, with ``version`` (a leading "v" is optional) instead of the default."""
        return self.template.format(version=(version or self.version).removeprefix("v"))


# go-ethereum internal/version.ClientName: "%s/v%v/%v-%v/%v" of Title(name),
# params.VersionWithCommit (Major.Minor.Patch-stable-<commit[:8]>), GOOS-GOARCH, runtime.Version().
# Nethermind ProductInfo.ClientId: $"{Name}/v{Version}/{os}-{arch}/dotnet{Runtime[5..]}" where
# Version is the informational version "<semver>+<commit[:8]>".
# Erigon: common.MakeName("erigon", version.VersionNoMeta) -> erigon/<x.y.z>/GOOS-GOARCH/go<...>,
# lowercase and without "v" or commit. The versions are those of releases current in 2026.
PERSONAS: dict[str, Persona] = {
    "geth": Persona("Geth/v{version}/linux-amd64/go1.26.5", "1.17.5-stable-9621c6ad"),
    "nethermind": Persona("Nethermind/v{version}/linux-x64/dotnet10.0.10", "1.39.3+28cbe2a0"),
    "erigon": Persona("erigon/{version}/linux-amd64/go1.26.5", "3.4.4"),
}
# Clients whose own --port flag is their devp2p port, not an RPC one.
P2P_PORT_CLIENTS = frozenset({"geth", "erigon"})


# --- faults ---------------------------------------------------------------------------------


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_FAULT_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "lag": (_is_count, "a non-negative integer"),
    "syncing": (lambda v: isinstance(v, bool), "a boolean"),
    "diverge_at": (lambda v: v is None or _is_count(v), "null or a non-negative integer"),
    "delay_ms": (_is_count, "a non-negative integer"),
    "error": (lambda v: v in (None, "rpc", "http"), 'null, "rpc" or "http"'),
    "garbage": (lambda v: isinstance(v, bool), "a boolean"),
    "refuse": (lambda v: isinstance(v, bool), "a boolean"),
    "peers": (_is_count, "a non-negative integer"),
}


@dataclasses.dataclass(frozen=True)
class Faults:
    """What a front is currently told to do wrong (see the module documentation)."""

    lag: int = 0
    syncing: bool = False
    diverge_at: int | None = None
    delay_ms: int = 0
    error: str | None = None
    garbage: bool = False
    refuse: bool = False
    peers: int = DEFAULT_PEERS

    def merged(self, patch: Any) -> Faults:
        """These faults with ``patch`` (a JSON object) applied; ValueError if it is invalid."""
        if not isinstance(patch, dict):
            raise ValueError("faults must be a JSON object")
        unknown = sorted(set(patch) - set(_FAULT_CHECKS))
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
        for key, value in patch.items():
            check, expected = _FAULT_CHECKS[key]
            if not check(value):
                raise ValueError(f"{key} must be {expected}, not {json.dumps(value)}")
        return dataclasses.replace(self, **patch)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- upstream -------------------------------------------------------------------------------


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or did not answer JSON."""


class UpstreamError(Exception):
    """The upstream answered a JSON-RPC error object."""

    def __init__(self, error: Any) -> None:
        super().__init__(error)
        self.error = error


class Upstream:
    """The canonical node, reached over one pooled keep-alive connection per thread."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, not {url!r}")
        self._connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._local = threading.local()

    def post(self, body: bytes) -> tuple[int, bytes]:
        """POST a JSON-RPC body; (HTTP status, response body)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        reused = connection is not None
        if connection is None:
            connection = self._connection_class(self._host, self._port, timeout=UPSTREAM_TIMEOUT_S)
            self._local.connection = connection
        try:
            connection.request("POST", self._path, body, {"Content-Type": JSON_TYPE})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            self._local.connection = None
            if reused:  # the pooled connection had gone stale: once more on a fresh one
                return self.post(body)
            raise UpstreamUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            connection.close()
            self._local.connection = None
        return response.status, data

    def forward(self, message: Any) -> Any:
        """Send one JSON-RPC message as it is; the decoded answer."""
        status, data = self.post(json.dumps(message).encode())
        try:
            return json.loads(data)
        except ValueError:
            raise UpstreamUnavailable(f"upstream answered HTTP {status} without JSON") from None

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """The result of ``method``; UpstreamError if the upstream answers an error."""
        reply = self.forward({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if not isinstance(reply, dict):
            raise UpstreamUnavailable("upstream answered a non-object")
        if "error" in reply:
            raise UpstreamError(reply["error"])
        return reply.get("result")


# --- the diverged chain ---------------------------------------------------------------------


def _quantity(value: Any) -> int | None:
    """A JSON-RPC hex quantity as an int, None if it is not one."""
    if not isinstance(value, str) or not value.lower().startswith("0x"):
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


class Fork:
    """The chain a diverged node serves: the canonical blocks, with other hashes from H on.

    A forked hash is a digest of the divergence height and the canonical hash, so it is the same
    on every call. Forked hashes handed out are remembered (boundedly) so that lookups by them
    can be mapped back to the canonical block.
    """

    CAPACITY = 100_000

    def __init__(self) -> None:
        self._canonical: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def hash_of(self, diverge_at: int, canonical: str) -> str:
        digest = hashlib.sha256(f"fleetctl-front:{diverge_at}:{canonical.lower()}".encode())
        forked = "0x" + digest.hexdigest()
        with self._lock:
            self._canonical[forked] = (diverge_at, canonical)
            self._canonical.move_to_end(forked)
            if len(self._canonical) > self.CAPACITY:
                self._canonical.popitem(last=False)
        return forked

    def canonical_of(self, diverge_at: int, forked: str) -> str | None:
        """The canonical hash behind a forked one of this divergence, None if it is not one."""
        with self._lock:
            entry = self._canonical.get(forked.lower())
        return entry[1] if entry is not None and entry[0] == diverge_at else None

    def rewrite(self, block: JsonRpcMessage, diverge_at: int) -> JsonRpcMessage:
        """The block as the forked chain has it."""
        number = _quantity(block.get("number"))
        if number is None or number < diverge_at:
            return block
        forked = dict(block)
        if isinstance(block.get("hash"), str):
            forked["hash"] = self.hash_of(diverge_at, block["hash"])
        if number > diverge_at and isinstance(block.get("parentHash"), str):
            forked["parentHash"] = self.hash_of(diverge_at, block["parentHash"])
        transactions = block.get("transactions")
        if isinstance(transactions, list):
            forked["transactions"] = [
                {**tx, "blockHash": forked.get("hash")}
                if isinstance(tx, dict) and "blockHash" in tx
                else tx
                for tx in transactions
            ]
        return forked


# --- JSON-RPC -------------------------------------------------------------------------------


class Reply(NamedTuple):
    status: int
    content_type: str
    body: bytes


def _error(request_id: Any, code: int, message: str) -> JsonRpcMessage:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _json_reply(message: Any, status: int = 200) -> Reply:
    return Reply(status, JSON_TYPE, json.dumps(message).encode())


Handler = Callable[[list[Any], Faults], Any]


class Front:
    """Answers JSON-RPC bodies as the persona, under the current faults."""

    def __init__(
        self, client: str, client_version: str, upstream: Upstream, faults: Faults
    ) -> None:
        self.client = client
        self.client_version = client_version
        self.upstream = upstream
        self.defaults = faults
        self.faults = faults  # replaced whole, never mutated: readers take it as a snapshot
        self.fork = Fork()
        self.jwt_path: str | None = None
        self._jwt_secret: bytes | None = None
        self._persona_methods: dict[str, Handler] = {
            "web3_clientVersion": lambda params, faults: self.client_version,
            "net_peerCount": lambda params, faults: hex(faults.peers),
            "eth_syncing": self._syncing,
        }
        self._chain_methods: dict[str, Handler] = {
            "eth_blockNumber": lambda params, faults: hex(self._head(faults)),
            "eth_getBlockByNumber": self._block_by_number,
            "eth_getBlockByHash": self._block_by_hash,
        }

    def respond(self, body: bytes, faults: Faults) -> Reply:
        """The HTTP answer to one POSTed body."""
        if faults.error == "http":
            return Reply(500, "text/plain; charset=utf-8", b"Internal Server Error\n")
        if faults.garbage:
            return Reply(200, JSON_TYPE, GARBAGE_BODY)
        try:
            request = json.loads(body)
        except ValueError:
            return _json_reply(_error(None, -32700, "parse error"))
        try:
            if isinstance(request, list):
                if not request:
                    return _json_reply(_error(None, -32600, "empty batch"))
                if not any(self._intercepts(item, faults) for item in request):
                    return Reply(*self._forward_raw(body))
                return _json_reply([self._answer(item, faults) for item in request])
            if not self._intercepts(request, faults):
                return Reply(*self._forward_raw(body))
            return _json_reply(self._answer(request, faults))
        except UpstreamUnavailable as exc:
            return _json_reply(_error(None, -32603, f"upstream unavailable: {exc}"), status=502)

    def jwt_secret(self) -> bytes:
        """The Engine API's secret, read on first use (the file may be written after start)."""
        if self._jwt_secret is None:
            if not self.jwt_path:
                raise ValueError("no JWT secret file configured")
            self._jwt_secret = read_jwt_secret(self.jwt_path)
        return self._jwt_secret

    def respond_engine(self, body: bytes, faults: Faults) -> Reply:
        """An authenticated Engine API body: engine_exchangeCapabilities here, other engine_*
        methods -32601, the rest as on the public port."""
        try:
            request = json.loads(body)
        except ValueError:
            return _json_reply(_error(None, -32700, "parse error"))
        method = request.get("method") if isinstance(request, dict) else None
        if isinstance(method, str) and method.startswith("engine_") and not faults.garbage and faults.error is None:
            if method == "engine_exchangeCapabilities":
                return _json_reply({"jsonrpc": "2.0", "id": request.get("id"), "result": list(ENGINE_CAPABILITIES)})
            return _json_reply(_error(request.get("id"), -32601, f"the method {method} does not exist/is not available"))
        return self.respond(body, faults)

    def _forward_raw(self, body: bytes) -> tuple[int, str, bytes]:
        status, data = self.upstream.post(body)
        return status, JSON_TYPE, data

    def _intercepts(self, item: Any, faults: Faults) -> bool:
        """Whether the front answers this request itself rather than passing it through."""
        if faults.error == "rpc":
            return True
        method = item.get("method") if isinstance(item, dict) else None
        if method in self._persona_methods:
            return True
        chain_faulty = faults.lag > 0 or faults.diverge_at is not None
        return chain_faulty and method in self._chain_methods

    def _answer(self, item: Any, faults: Faults) -> Any:
        request_id = item.get("id") if isinstance(item, dict) else None
        if faults.error == "rpc":
            return _error(request_id, -32603, "internal error")
        if not self._intercepts(item, faults):
            return self.upstream.forward(item)
        method = item["method"]
        handler = self._persona_methods.get(method) or self._chain_methods[method]
        params = item.get("params", [])
        if not isinstance(params, list):
            return _error(request_id, -32602, "invalid params: expected an array")
        try:
            result = handler(params, faults)
        except UpstreamError as exc:
            return {"jsonrpc": "2.0", "id": request_id, "error": exc.error}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _upstream_head(self) -> int:
        head = _quantity(self.upstream.call("eth_blockNumber", []))
        if head is None:
            raise UpstreamUnavailable("upstream eth_blockNumber is not a quantity")
        return head

    def _head(self, faults: Faults) -> int:
        """The highest block this node has reached."""
        return max(self._upstream_head() - faults.lag, 0)

    def _syncing(self, params: list[Any], faults: Faults) -> Any:
        if not faults.syncing:
            return False
        highest = self._upstream_head()
        return {
            "startingBlock": "0x0",
            "currentBlock": hex(max(highest - faults.lag, 0)),
            "highestBlock": hex(highest),
        }

    def _block_by_number(self, params: list[Any], faults: Faults) -> Any:
        if not params:
            return self.upstream.call("eth_getBlockByNumber", params)
        tag, rest = params[0], params[1:]
        head: int | None = None
        if faults.lag > 0:
            head = self._head(faults)
            number = _quantity(tag)
            if tag in ("latest", "pending"):
                tag = hex(head)
            elif number is not None and number > head:
                return None
        block = self.upstream.call("eth_getBlockByNumber", [tag, *rest])
        if not isinstance(block, dict):
            return block
        if head is not None and (_quantity(block.get("number")) or 0) > head:
            # a safe/finalized block the upstream has that this node has not reached yet
            block = self.upstream.call("eth_getBlockByNumber", [hex(head), *rest])
        return self._as_served(block, faults)

    def _block_by_hash(self, params: list[Any], faults: Faults) -> Any:
        if not params or not isinstance(params[0], str):
            return self.upstream.call("eth_getBlockByHash", params)
        wanted, rest = params[0], params[1:]
        canonical = None
        if faults.diverge_at is not None:
            canonical = self.fork.canonical_of(faults.diverge_at, wanted)
        block = self.upstream.call("eth_getBlockByHash", [canonical or wanted, *rest])
        if not isinstance(block, dict):
            return block
        number = _quantity(block.get("number")) or 0
        if canonical is None and faults.diverge_at is not None and number >= faults.diverge_at:
            return None  # a canonical block past the divergence: not on this node's chain
        if faults.lag > 0 and number > self._head(faults):
            return None
        return self._as_served(block, faults)

    def _as_served(self, block: JsonRpcMessage, faults: Faults) -> JsonRpcMessage:
        if faults.diverge_at is None:
            return block
        return self.fork.rewrite(block, faults.diverge_at)


# --- HTTP -----------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any
    ) -> None:
        self.app = app
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped and reset connections are routine here; anything else is a bug to show."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class RpcServer(_Server):
    """The RPC listener; it tracks its connections so that refusing can drop them."""

    def __init__(self, address: tuple[str, int], front: Front,
                 handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler or RpcHandler, front)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a lab has many fronts and every request would log a line."""

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413."""
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._send(411, "text/plain", b"Content-Length required\n")
            return None
        if int(length) > MAX_BODY_BYTES:
            self._send(413, "text/plain", b"request body too large\n")
            return None
        return self.rfile.read(int(length))

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.request_version == "HTTP/1.0" or self.close_connection:
            self.send_header("Connection", "close")  # also makes the handler close it
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, message: Any) -> None:
        self._send(status, JSON_TYPE, json.dumps(message).encode())


class RpcHandler(_Handler):
    server: RpcServer

    def do_GET(self) -> None:
        """Bare GETs answer 200 with no body, as geth does (load-balancer health probes)."""
        self._send(200, JSON_TYPE, b"")

    def do_HEAD(self) -> None:
        """415 and no body, as geth's ``validateRequest`` (go-ethereum rpc/http.go) answers any
        request without a JSON content type that is not a bare GET: the RelayMiner's ping
        (poktroll pkg/relayer/proxy/ping.go) sends a HEAD to each backend and counts only a 5xx
        as a failure."""
        self.send_response_only(415)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", "57")  # http.Error: the text and a newline
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        front: Front = self.server.app
        faults = front.faults
        if faults.delay_ms:
            time.sleep(faults.delay_ms / 1000)
        self._send(*front.respond(body, faults))


def _b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_jwt_secret(path: str) -> bytes:
    """The 32-byte secret of a JWT file: hex, optional 0x, surrounding whitespace ignored."""
    with open(path, encoding="ascii", errors="replace") as fh:
        text = fh.read().strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise ValueError(f"{path}: not a 32-byte hex JWT secret")
    return bytes.fromhex(text)


def jwt_problem(authorization: str | None, secret: bytes, now: float | None = None) -> str | None:
    """Why an Engine API request's Authorization header is not acceptable, None if it is."""
    if not authorization or not authorization.startswith("Bearer "):
        return "missing token"
    parts = authorization[len("Bearer "):].strip().split(".")
    if len(parts) != 3:
        return "malformed token"
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except ValueError:
        return "malformed token"
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return "unsupported signing algorithm (HS256 required)"
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return "signature invalid"
    iat = claims.get("iat") if isinstance(claims, dict) else None
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        return "missing issued-at (iat) claim"
    if abs((time.time() if now is None else now) - iat) > JWT_MAX_SKEW_S:
        return "stale token (iat more than 60 s from now)"
    return None


class EngineHandler(RpcHandler):
    """The Engine API port: every request authenticated with the JWT first."""

    def _authorized(self) -> bool:
        front: Front = self.server.app
        problem = None
        try:
            secret = front.jwt_secret()
        except (OSError, ValueError) as exc:
            problem = f"no usable JWT secret: {exc}"
        else:
            problem = jwt_problem(self.headers.get("Authorization"), secret)
        if problem is None:
            return True
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= MAX_BODY_BYTES:
            self.rfile.read(int(length))
        else:
            self.close_connection = True
        self._send(401, "text/plain; charset=utf-8", (problem + "\n").encode())
        return False

    def do_GET(self) -> None:
        if self._authorized():
            self._send(405, "text/plain", b"method not allowed\n")

    def do_POST(self) -> None:
        if not self._authorized():
            return
        body = self._read_body()
        if body is None:
            return
        front: Front = self.server.app
        faults = front.faults
        if faults.delay_ms:
            time.sleep(faults.delay_ms / 1000)
        self._send(*front.respond_engine(body, faults))


class RpcListener:
    """The RPC port, which the ``refuse`` fault closes and re-opens."""

    def __init__(self, host: str, port: int, front: Front,
                 handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        self._front = front
        self._handler = handler
        self._server: RpcServer | None = RpcServer((host, port), front, handler)
        self.address: tuple[str, int] = (host, self._server.server_address[1])
        self._serve(self._server)

    @staticmethod
    def _serve(server: RpcServer) -> None:
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def set_refused(self, refused: bool) -> None:
        """Close or re-open the listener; OSError if the port cannot be bound again."""
        if refused:
            self.close()
        elif self._server is None:
            self._server = RpcServer(self.address, self._front, self._handler)
            self._serve(self._server)

    def close(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.shutdown()
        server.server_close()
        server.drop_connections()


class Controller:
    """Applies fault changes, including opening and closing the RPC listener."""

    def __init__(self, front: Front, listener: RpcListener, engine: RpcListener | None = None) -> None:
        self.front = front
        self.listener = listener
        self.engine = engine
        self._lock = threading.Lock()

    def update(self, patch: Any) -> Faults:
        """Merge ``patch`` into the faults; ValueError if invalid, OSError if the port is gone."""
        with self._lock:
            return self._apply(self.front.faults.merged(patch))

    def clear(self) -> Faults:
        with self._lock:
            return self._apply(self.front.defaults)

    def _apply(self, faults: Faults) -> Faults:
        self.listener.set_refused(faults.refuse)
        if self.engine is not None:
            self.engine.set_refused(faults.refuse)
        self.front.faults = faults
        return faults


class ControlHandler(_Handler):
    server: _Server

    def do_GET(self) -> None:
        controller: Controller = self.server.app
        faults = controller.front.faults.as_json()
        path = self._path()
        if path == "/health":
            self._send_json(200, {"ok": True, "client": controller.front.client, "faults": faults})
        elif path == "/fault":
            self._send_json(200, faults)
        else:
            self._send_json(404, {"error": f"no such resource: {path}"})

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        controller: Controller = self.server.app
        path = self._path()
        try:
            if path == "/fault":
                faults = controller.update(json.loads(body or b"{}"))
            elif path == "/fault/clear":
                faults = controller.clear()
            else:
                self._send_json(404, {"error": f"no such resource: {path}"})
                return
        except ValueError as exc:  # also json.JSONDecodeError
            self._send_json(400, {"error": str(exc)})
        except OSError as exc:
            self._send_json(500, {"error": f"cannot listen again: {exc}"})
        else:
            self._send_json(200, faults.as_json())

    def _path(self) -> str:
        return urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"


# --- command line ---------------------------------------------------------------------------

USAGE = """\
usage: front.py [--client geth|nethermind|erigon] [--upstream URL] [--listen ADDR] [--port P]
                [--control-port C] [--peers N] [--version V] [real client flags ...]

Execution-client JSON-RPC front for the fleetctl lab (see the module documentation).
env: FRONT_CLIENT, FRONT_UPSTREAM, FRONT_CONTROL_PORT, FRONT_FAULTS (JSON object)
"""

_OWN_FLAGS = frozenset({"client", "upstream", "listen", "port", "control-port", "peers", "version"})
_ADDRESS_FLAGS = ("http.addr", "jsonrpc.host")
_PORT_FLAGS = ("http.port", "jsonrpc.port")
_ENGINE_ADDRESS_FLAGS = ("authrpc.addr", "jsonrpc.enginehost")
_ENGINE_PORT_FLAGS = ("authrpc.port", "jsonrpc.engineport")
_JWT_FLAGS = ("authrpc.jwtsecret", "jsonrpc.jwtsecretfile")
_CAPLIN_FLAGS = ("beacon.api", "beacon.api.addr", "beacon.api.port")
_BOOL_FLAGS = frozenset({"externalcl"})  # present or not: never takes the next token
_VALUE_FLAGS = (_OWN_FLAGS | frozenset(_ADDRESS_FLAGS) | frozenset(_PORT_FLAGS) | frozenset(_ENGINE_ADDRESS_FLAGS)
                | frozenset(_ENGINE_PORT_FLAGS) | frozenset(_JWT_FLAGS) | frozenset(_CAPLIN_FLAGS))


class UsageError(Exception):
    """The command line or environment cannot be used."""


@dataclasses.dataclass(frozen=True)
class Config:
    client: str
    upstream: str
    host: str
    port: int
    control_port: int
    client_version: str
    peers: int  # the command line's peer count, which clearing the faults returns to
    faults: Faults  # the initial faults, FRONT_FAULTS included
    ignored: tuple[str, ...]
    engine: tuple[str, int] | None = None  # the Engine API listener, if any Engine API flag was given
    jwt_path: str | None = None
    caplin: tuple[str, int] | None = None  # Caplin's Beacon API (erigon without --externalcl)


def _int_in(value: str, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{what} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{what} must be in {low}..{high}, not {number}")
    return number


def _scan(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Known flags' values (by lower-case name) and the ignored flags, in order."""
    values: dict[str, str] = {}
    ignored: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith("-") or token in ("-", "--"):
            ignored.append(token)
            continue
        flag, has_value, value = token.partition("=")
        name = flag.lstrip("-").lower()
        if name in _BOOL_FLAGS:
            values[name] = value if has_value else "true"
            continue
        if not has_value and index < len(argv) and not argv[index].startswith("-"):
            value, has_value = argv[index], "="  # "--flag value": known or not, it takes it
            index += 1
        if name not in _VALUE_FLAGS:
            ignored.append(flag)
        elif not has_value:
            raise UsageError(f"{flag} needs a value")
        else:
            values[name] = value
    return values, ignored


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> Config:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE, end="")
        raise SystemExit(0)
    values, ignored = _scan(argv)

    client = (values.get("client") or env.get("FRONT_CLIENT") or "").lower()
    if client not in PERSONAS:
        raise UsageError(f"--client (or FRONT_CLIENT) must be one of {', '.join(PERSONAS)}")
    upstream = values.get("upstream") or env.get("FRONT_UPSTREAM")
    if not upstream:
        raise UsageError("--upstream (or FRONT_UPSTREAM) is required")

    host = values.get("listen") or next(
        (values[flag] for flag in _ADDRESS_FLAGS if flag in values), DEFAULT_HOST
    )
    native_port = next((values[flag] for flag in _PORT_FLAGS if flag in values), None)
    own_port = values.get("port")
    if own_port is not None and native_port is not None and client in P2P_PORT_CLIENTS:
        ignored.append("--port")  # the real client's devp2p port
        own_port = None
    port = _int_in(own_port or native_port or str(DEFAULT_RPC_PORT), "the RPC port", 0, 65535)

    control = values.get("control-port") or env.get("FRONT_CONTROL_PORT")
    if control is None:
        control_port = port + CONTROL_PORT_OFFSET if port else 0
    else:
        control_port = _int_in(control, "the control port", 0, 65535)
    if control_port > 65535:
        raise UsageError(f"the default control port {control_port} is too high: --control-port")

    peers = _int_in(values.get("peers", str(DEFAULT_PEERS)), "--peers", 0, 1 << 32)
    faults = Faults(peers=peers)
    if env.get("FRONT_FAULTS"):
        try:
            faults = faults.merged(json.loads(env["FRONT_FAULTS"]))
        except ValueError as exc:
            raise UsageError(f"FRONT_FAULTS: {exc}") from None

    engine = None
    if any(flag in values for flag in _ENGINE_ADDRESS_FLAGS + _ENGINE_PORT_FLAGS + _JWT_FLAGS):
        engine_host = next((values[flag] for flag in _ENGINE_ADDRESS_FLAGS if flag in values), DEFAULT_HOST)
        engine_port = _int_in(next((values[flag] for flag in _ENGINE_PORT_FLAGS if flag in values),
                                   str(DEFAULT_ENGINE_PORT)), "the Engine API port", 0, 65535)
        engine = ("127.0.0.1" if engine_host == "localhost" else engine_host, engine_port)
    caplin = None
    external_cl = values.get("externalcl", "false").lower() not in ("false", "0")
    if client == "erigon" and not external_cl and any(flag in values for flag in _CAPLIN_FLAGS):
        caplin_host = values.get("beacon.api.addr", "localhost")
        caplin = ("127.0.0.1" if caplin_host == "localhost" else caplin_host,
                  _int_in(values.get("beacon.api.port", str(DEFAULT_BEACON_API_PORT)), "--beacon.api.port", 0, 65535))

    return Config(
        engine=engine,
        jwt_path=next((values[flag] for flag in _JWT_FLAGS if flag in values), None),
        caplin=caplin,
        client=client,
        upstream=upstream,
        host=host,
        port=port,
        control_port=control_port,
        client_version=PERSONAS[client].client_version(values.get("version")),
        peers=peers,
        faults=faults,
        ignored=tuple(ignored),
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv, os.environ)
        upstream = Upstream(config.upstream)
    except (UsageError, ValueError) as exc:
        print(f"front: {exc}", file=sys.stderr)
        return 2
    if config.ignored:
        print(f"front: ignoring flags: {' '.join(config.ignored)}", file=sys.stderr, flush=True)

    front = Front(config.client, config.client_version, upstream, Faults(peers=config.peers))
    front.jwt_path = config.jwt_path
    caplin = None
    try:
        listener = RpcListener(config.host, config.port, front)
        engine = None
        if config.engine is not None:
            engine = RpcListener(config.engine[0], config.engine[1], front, EngineHandler)
        controller = Controller(front, listener, engine)
        controller.update(config.faults.as_json())
        control = _Server((config.host, config.control_port), ControlHandler, controller)
        if config.caplin is not None:
            caplin = _start_caplin(front, config.caplin)
    except OSError as exc:
        print(f"front: cannot listen: {exc}", file=sys.stderr)
        return 1
    threading.Thread(
        target=control.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    _write_port(os.environ.get("FRONT_CONTROL_FILE"), control.server_address[1])

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    rpc_host, rpc_port = listener.address
    print(
        f"ready client={config.client} rpc=http://{rpc_host}:{rpc_port}"
        f" control=http://{config.host}:{control.server_address[1]}",
        flush=True,
    )
    if engine is not None:
        print(f"engine api=http://{engine.address[0]}:{engine.address[1]}", flush=True)
    if caplin is not None:
        host, port = caplin.listener.address
        print(f"caplin beacon api=http://{host}:{port} control=http://{host}:{caplin.control.server_address[1]}", flush=True)
    stop.wait()
    control.shutdown()
    control.server_close()
    listener.close()
    if engine is not None:
        engine.close()
    if caplin is not None:
        caplin.stop()
    return 0


def _write_port(path: str | None, port: int) -> None:
    if not path:
        return
    with contextlib.suppress(OSError):
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(port))
        os.replace(tmp, path)


def _start_caplin(front: Front, where: tuple[str, int]) -> Any:
    """Erigon's embedded consensus layer: beacon_front.py in this process, following this node's
    own head (its lag and refuse faults included)."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import beacon_front  # beside this file (in the image: /opt/fleetlab/)

    def head() -> int:
        if front.faults.refuse:
            raise UpstreamUnavailable("the node is down")
        return front._head(front.faults)

    version = beacon_front.PERSONAS["caplin"].version_string(front.client_version.split("/")[1])
    host, port = where
    return beacon_front.start("caplin", version, beacon_front.CallableSource(head), host, port,
                              port + 1000 if port else 0, beacon_front.Faults(),
                              os.environ.get("BEACON_CONTROL_FILE"))


if __name__ == "__main__":
    sys.exit(main())
