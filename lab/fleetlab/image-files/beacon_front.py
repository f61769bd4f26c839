#!/usr/bin/env python3
"""Consensus-client (Beacon API) front for the fleetctl test lab.

No consensus client can run here (see the lab section of README.md), so each lab host's beacon
node is this stand-in: it serves the standard Beacon API (ethereum/beacon-APIs v4.0.0, the spec
files it follows are kept beside it in ``beacon-APIs/``) as Lighthouse, Prysm, Teku, Nimbus,
Lodestar or Caplin, and follows its execution client over the Engine API, authenticated with the
pair's JWT secret, as a real one does. It runs in containers that bind-mount the host's ``/usr``,
so it is self-contained and uses the Python standard library only (Python >= 3.11)::

    /usr/bin/python3 beacon_front.py --client lighthouse --http-address 0.0.0.0 --http-port 5052 \\
        --execution-endpoint http://127.0.0.1:8551 --execution-jwt /fleet/jwtsecret

The lab chain
    One EL block per slot: the head slot is the execution client's block number (``eth_blockNumber``
    over the Engine API). Every root is a digest of its slot, so every front on the same chain
    agrees on it; SLOTS_PER_EPOCH is 32 and the finalized checkpoint is the start of the epoch two
    before the head's (epoch 0 and the zero root until then, as the spec says for "no finality
    yet"). Until the EL has answered once the node is not initialized (health 503).

Command line
    Each client's own flags, ``--flag value`` or ``--flag=value``; every other flag is ignored with
    one stderr line:

    =========== ====================================== ========================== ==========================
    client      listen address / port                   Engine API endpoint        JWT secret file
    =========== ====================================== ========================== ==========================
    lighthouse  --http-address / --http-port            --execution-endpoint(s)    --execution-jwt
    prysm       --http-host / --http-port               --execution-endpoint       --jwt-secret
                (--grpc-gateway-host / -port)
    teku        --rest-api-interface / --rest-api-port  --ee-endpoint              --ee-jwt-secret-file
    nimbus      --rest-address / --rest-port            --el (--web3-url)          --jwt-secret
    lodestar    --rest.address / --rest.port            --execution.urls           --jwt-secret
    caplin      --beacon.api.addr / --beacon.api.port   (in-process, see front.py)
    =========== ====================================== ========================== ==========================

    and the front's own: ``--client NAME`` (env ``BEACON_CLIENT``), ``--listen``, ``--port``,
    ``--control-port`` (env ``BEACON_CONTROL_PORT``; default port + 1000), ``--version`` (env
    ``BEACON_VERSION``: the version part of the version string), ``--peers N``. Initial faults
    from env ``BEACON_FAULTS`` (a JSON object). With env ``BEACON_CONTROL_FILE`` set, the control
    port is written to that file once listening (``fleetctl lab fault`` finds it there).

Control API (own listener; stays up while the Beacon API port refuses)
    ``GET /health``, ``GET /fault``, ``POST /fault`` (merge), ``POST /fault/clear``, as front.py.
    Faults:

    ``syncing`` bool          is_syncing true, head ``lag`` (at least 32) slots behind, health 206
    ``optimistic`` bool       is_optimistic / execution_optimistic true, health 206
    ``el_offline`` bool       el_offline true and the head stops where it is, health 206
    ``lag`` N                 head N slots behind the EL's (sync_distance N)
    ``finalized_root_other``  bool: this node is on another chain: other roots, finalized included
    ``refuse`` bool           the Beacon API socket is closed (connections refused)
    ``peers`` N               peer_count's connected
    ``not_initialized`` bool  health 503
    ``delay_ms`` N, ``error`` null|"http" (HTTP 500 with an ErrorMessage), ``garbage`` bool

    An execution client that cannot be reached or refuses the JWT is reported truthfully:
    el_offline true (and the head stops), whatever the faults say.

Once both listeners are up it prints ``ready client=NAME api=http://A:P control=http://A:C``.
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
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOTS_PER_EPOCH = 32
SECONDS_PER_SLOT = 1  # the lab's anvil mines one block a second
DEFAULT_PEERS = 50
SYNCING_DISTANCE = 32
ENGINE_TIMEOUT_S = 2.0
HEAD_CACHE_S = 0.25
MAX_BODY_BYTES = 1 << 20
JSON_TYPE = "application/json"
ZERO_ROOT = "0x" + "00" * 32
GARBAGE_BODY = b'{"data":{"head_slot":<html>502 Bad Gateway</html>\x00\xff'
# Mainnet's genesis (beacon-APIs: /eth/v1/beacon/genesis): the lab's chain claims mainnet's identity.
GENESIS_TIME = "1606824023"
GENESIS_VALIDATORS_ROOT = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
GENESIS_FORK_VERSION = "0x00000000"


# --- personas -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Persona:
    """How one consensus client spells /eth/v1/node/version's ``data.version``."""

    template: str  # with {version} and {commit}
    version: str
    commit: str
    default_port: int

    def version_string(self, version: str | None = None) -> str:
        return self.template.format(version=(version or self.version).removeprefix("v"), commit=self.commit)


# Formats from each client's source (the commit parts are illustrative):
# Lighthouse common/lighthouse_version: version_with_platform() = "Lighthouse/v<x.y.z>-<commit[:7]>"
#   + "/<arch>-<os>" (the http_api's node/version answers it);
# Prysm beacon-chain/rpc/eth/node: fmt.Sprintf("Prysm/%s (%s %s)", SemanticVersion(), GOOS, GOARCH),
#   SemanticVersion() being the git tag ("v7.1.6");
# Teku infrastructure/version VersionProvider.VERSION = "teku/v<ver>/<os>-<arch>/<jvm>-java-<n>",
#   the JVM of its official image (Eclipse Temurin 21) normalising to "-eclipseadoptium-openjdk64bitservervm";
# Nimbus beacon_chain/version.nim + rest_node_api: "Nimbus/" & fullVersionStr, fullVersionStr =
#   "v<x.y.z>-<gitRevision[0..5]>-stateofus";
# Lodestar beacon-node api impl node: `Lodestar/${opts.version}`, opts.version from cli
#   util/version.ts getVersionData(): "v<x.y.z>/<commit[:7]>";
# Caplin (Erigon cl/beacon/handler/node.go): fmt.Sprintf("Caplin/%s %s/%s", version, GOOS, GOARCH).
# The default versions are the releases playbooks/vars/images.yml pins (the lab's images set
# BEACON_VERSION from it).
PERSONAS: dict[str, Persona] = {
    "lighthouse": Persona("Lighthouse/v{version}-{commit}/x86_64-linux", "8.2.2", "ced49dd", 5052),
    "prysm": Persona("Prysm/v{version} (linux amd64)", "7.1.6", "", 3500),
    "teku": Persona("teku/v{version}/linux-x86_64/-eclipseadoptium-openjdk64bitservervm-java-21", "26.8.0", "", 5051),
    "nimbus": Persona("Nimbus/v{version}-{commit}-stateofus", "26.7.0", "a2b3c4", 5052),
    "lodestar": Persona("Lodestar/v{version}/{commit}", "1.46.0", "9f1e2d3", 9596),
    "caplin": Persona("Caplin/{version} linux/amd64", "3.4.4", "", 5555),
}

# Each client's real flags, by role (lower-case, without dashes).
ADDRESS_FLAGS = ("http-address", "http-host", "grpc-gateway-host", "rest-api-interface", "rest-address",
                 "rest.address", "beacon.api.addr")
PORT_FLAGS = ("http-port", "grpc-gateway-port", "rest-api-port", "rest-port", "rest.port", "beacon.api.port")
ENGINE_FLAGS = ("execution-endpoint", "execution-endpoints", "ee-endpoint", "el", "web3-url", "execution.urls")
JWT_FLAGS = ("execution-jwt", "jwt-secret", "ee-jwt-secret-file")
OWN_FLAGS = ("client", "listen", "port", "control-port", "version", "peers")
VALUE_FLAGS = frozenset(ADDRESS_FLAGS + PORT_FLAGS + ENGINE_FLAGS + JWT_FLAGS + OWN_FLAGS)


# --- faults ---------------------------------------------------------------------------------


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


_FAULT_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "syncing": (_is_bool, "a boolean"),
    "optimistic": (_is_bool, "a boolean"),
    "el_offline": (_is_bool, "a boolean"),
    "lag": (_is_count, "a non-negative integer"),
    "finalized_root_other": (_is_bool, "a boolean"),
    "refuse": (_is_bool, "a boolean"),
    "peers": (_is_count, "a non-negative integer"),
    "not_initialized": (_is_bool, "a boolean"),
    "delay_ms": (_is_count, "a non-negative integer"),
    "error": (lambda v: v in (None, "http"), 'null or "http"'),
    "garbage": (_is_bool, "a boolean"),
}


@dataclasses.dataclass(frozen=True)
class Faults:
    syncing: bool = False
    optimistic: bool = False
    el_offline: bool = False
    lag: int = 0
    finalized_root_other: bool = False
    refuse: bool = False
    peers: int = DEFAULT_PEERS
    not_initialized: bool = False
    delay_ms: int = 0
    error: str | None = None
    garbage: bool = False

    def merged(self, patch: Any) -> Faults:
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


# --- the execution client -------------------------------------------------------------------


class ElUnavailable(Exception):
    """The execution client cannot be reached, refuses our token or answers nonsense."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token(secret: bytes, iat: int | None = None) -> str:
    """An Engine API bearer token: HS256 JWT with the ``iat`` claim (execution-apis
    src/engine/authentication.md)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = _b64url(json.dumps({"iat": int(time.time()) if iat is None else iat}, separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode()
    return f"{header}.{claims}.{_b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())}"


def read_jwt_secret(path: str) -> bytes:
    """The 32-byte secret of a JWT file: hex, optional 0x, surrounding whitespace ignored."""
    with open(path, encoding="ascii", errors="replace") as fh:
        text = fh.read().strip()
    text = text[2:] if text[:2].lower() == "0x" else text
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise ValueError(f"{path}: not a 32-byte hex JWT secret")
    return bytes.fromhex(text)


class EngineSource:
    """The head of the execution client, over its Engine API with a fresh token per call."""

    def __init__(self, url: str, jwt_path: str | None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the Engine API endpoint must be an http(s) URL, not {url!r}")
        self._conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port = parts.hostname, parts.port or 8551
        self._path = parts.path or "/"
        self._jwt_path = jwt_path
        self._secret: bytes | None = None
        self._exchanged = False
        self._lock = threading.Lock()

    def _call(self, method: str, params: list[Any]) -> Any:
        if self._secret is None:
            if not self._jwt_path:
                raise ElUnavailable("no JWT secret file given")
            try:
                self._secret = read_jwt_secret(self._jwt_path)
            except (OSError, ValueError) as exc:
                raise ElUnavailable(f"JWT secret: {exc}") from None
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        conn = self._conn_class(self._host, self._port, timeout=ENGINE_TIMEOUT_S)
        try:
            conn.request("POST", self._path, body, {"Content-Type": JSON_TYPE,
                                                    "Authorization": f"Bearer {jwt_token(self._secret)}"})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ElUnavailable(f"{type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
        if resp.status == 401:
            raise ElUnavailable("the execution client refused the JWT (401)")
        try:
            reply = json.loads(data)
        except ValueError:
            raise ElUnavailable(f"HTTP {resp.status} without JSON") from None
        if not isinstance(reply, dict) or "error" in reply or "result" not in reply:
            raise ElUnavailable(f"{method}: {str(reply)[:200]}")
        return reply["result"]

    def head(self) -> int:
        with self._lock:
            if not self._exchanged:
                caps = self._call("engine_exchangeCapabilities", [[
                    "engine_exchangeCapabilities", "engine_forkchoiceUpdatedV3", "engine_newPayloadV4",
                    "engine_getPayloadV4"]])
                if not isinstance(caps, list):
                    raise ElUnavailable("engine_exchangeCapabilities: not a list")
                self._exchanged = True
            number = self._call("eth_blockNumber", [])
        if not isinstance(number, str) or not re.fullmatch(r"0x[0-9a-fA-F]{1,16}", number):
            raise ElUnavailable(f"eth_blockNumber: not a quantity: {str(number)[:40]}")
        return int(number, 16)


class CallableSource:
    """An in-process head (Caplin inside the Erigon front)."""

    def __init__(self, head: Callable[[], int]) -> None:
        self._head = head

    def head(self) -> int:
        try:
            return int(self._head())
        except Exception as exc:  # the embedded EL's own upstream trouble
            raise ElUnavailable(f"{type(exc).__name__}: {exc}") from None


# --- the beacon chain view ------------------------------------------------------------------


def block_root(slot: int, other: bool = False) -> str:
    return "0x" + hashlib.sha256(f"fleetlab-beacon{'-other' if other else ''}:block:{slot}".encode()).hexdigest()


def _digest(kind: str, slot: int, other: bool) -> str:
    return "0x" + hashlib.sha256(f"fleetlab-beacon{'-other' if other else ''}:{kind}:{slot}".encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class View:
    """What the node knows at one moment."""

    initialized: bool
    head_slot: int
    current_slot: int
    is_syncing: bool
    is_optimistic: bool
    el_offline: bool
    other: bool

    @property
    def sync_distance(self) -> int:
        return max(self.current_slot - self.head_slot, 0)

    @property
    def finalized_epoch(self) -> int:
        return max(self.head_slot // SLOTS_PER_EPOCH - 2, 0)

    @property
    def justified_epoch(self) -> int:
        return max(self.head_slot // SLOTS_PER_EPOCH - 1, 0)

    def checkpoint(self, epoch: int, achieved: bool) -> dict[str, str]:
        if not achieved and not self.other:
            return {"epoch": "0", "root": ZERO_ROOT}
        return {"epoch": str(epoch), "root": block_root(epoch * SLOTS_PER_EPOCH, self.other)}

    @property
    def finalized_slot(self) -> int:
        return self.finalized_epoch * SLOTS_PER_EPOCH


class Beacon:
    def __init__(self, client: str, version: str, source: Any, faults: Faults, address: str = "127.0.0.1") -> None:
        self.client = client
        self.version = version
        self.source = source
        self.defaults = faults
        self.faults = faults
        self.address = address
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._el_head: int | None = None
        self._el_seen = 0.0  # monotonic time of the last good answer
        self._el_error: str | None = None
        self._checked = 0.0
        self._frozen: int | None = None  # the head when el_offline was injected

    def _refresh(self) -> None:
        # One refresh at a time, and the requests that arrive meanwhile wait for it: answering
        # them from the head cached before an idle spell would report a node many slots behind
        # (a health sweep asks six routes at once).
        with self._refresh_lock:
            if time.monotonic() - self._checked < HEAD_CACHE_S:
                return
            try:
                head = self.source.head()
            except ElUnavailable as exc:
                with self._lock:
                    self._el_error = str(exc)
                return
            finally:
                self._checked = time.monotonic()
            with self._lock:
                self._el_head, self._el_seen, self._el_error = head, time.monotonic(), None

    def view(self, faults: Faults) -> View:
        self._refresh()
        with self._lock:
            el_head, seen, error = self._el_head, self._el_seen, self._el_error
        if el_head is None:
            return View(False, 0, 0, True, False, True, faults.finalized_root_other)
        el_offline = error is not None or faults.el_offline
        # The chain's current slot: the EL's head, or where it would be now if the EL is gone.
        current = el_head + (int((time.monotonic() - seen) / SECONDS_PER_SLOT) if error else 0)
        head = max(el_head - faults.lag, 0)
        syncing = faults.syncing
        if syncing:
            head = max(el_head - max(faults.lag, SYNCING_DISTANCE), 0)
        if faults.el_offline:
            if self._frozen is None:
                self._frozen = head
            head = min(head, self._frozen)
        else:
            self._frozen = None
        return View(True, head, current, syncing, faults.optimistic, el_offline, faults.finalized_root_other)

    def el_status(self) -> dict[str, Any]:
        with self._lock:
            return {"head": self._el_head, "error": self._el_error}


# --- HTTP -----------------------------------------------------------------------------------


def _error_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _resolve_slot(ident: str, view: View, what: str, roots: Callable[[int, bool], str]) -> int:
    """The slot a block/state id names (head, genesis, finalized, justified, <slot>, <0x root>)."""
    if ident == "head":
        return view.head_slot
    if ident == "genesis":
        return 0
    if ident == "finalized":
        return view.finalized_slot
    if ident == "justified":
        return view.justified_epoch * SLOTS_PER_EPOCH
    if re.fullmatch(r"0|[1-9][0-9]{0,19}", ident):
        slot = int(ident)
        if slot > view.head_slot:
            raise ApiError(404, f"{what} not found")
        return slot
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", ident):
        wanted = ident.lower()
        for slot in range(view.head_slot, max(view.head_slot - 8192, -1), -1):
            if roots(slot, view.other) == wanted:
                return slot
        raise ApiError(404, f"{what} not found")
    raise ApiError(400, f"Invalid {what} ID: {ident}")


def _signature(slot: int, other: bool) -> str:
    seed = f"fleetlab-beacon{'-other' if other else ''}:signature:{slot}".encode()
    return "0x" + (hashlib.sha512(seed).hexdigest() + hashlib.sha256(seed).hexdigest() * 2)[:192]


def _peer_id(client: str, address: str) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(hashlib.sha256(f"{client}@{address}".encode()).digest(), "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "16Uiu2HAm" + out[:44]


class Api:
    """The Beacon API routes: (status, body or None)."""

    def __init__(self, beacon: Beacon) -> None:
        self.beacon = beacon

    def get(self, path: str, query: dict[str, list[str]], faults: Faults) -> tuple[int, Any]:
        b = self.beacon
        view = b.view(faults)
        if path == "/eth/v1/node/health":
            code_q = query.get("syncing_status", [None])[0]
            syncing_code = 206
            if code_q is not None:
                if not re.fullmatch(r"[0-9]{3}", code_q) or not 100 <= int(code_q) <= 599:
                    return 400, _error_body(400, f"Invalid syncing status code: {code_q}")
                syncing_code = int(code_q)
            if faults.not_initialized or not view.initialized:
                return 503, None
            if view.is_syncing or view.is_optimistic or view.el_offline:
                return syncing_code, None
            return 200, None
        if path == "/eth/v1/node/version":
            return 200, {"data": {"version": b.version}}
        if path == "/eth/v1/node/syncing":
            return 200, {"data": {"head_slot": str(view.head_slot), "sync_distance": str(view.sync_distance),
                                  "is_syncing": view.is_syncing, "is_optimistic": view.is_optimistic,
                                  "el_offline": view.el_offline}}
        if path == "/eth/v1/node/peer_count":
            return 200, {"data": {"disconnected": "12", "connecting": "0", "connected": str(faults.peers),
                                  "disconnecting": "0"}}
        if path == "/eth/v1/node/identity":
            peer = _peer_id(b.client, b.address)
            return 200, {"data": {
                "peer_id": peer,
                "enr": "enr:-" + _b64url(hashlib.sha512(peer.encode()).digest()),
                "p2p_addresses": [f"/ip4/{b.address}/tcp/9000/p2p/{peer}"],
                "discovery_addresses": [f"/ip4/{b.address}/udp/9000/p2p/{peer}"],
                "metadata": {"seq_number": "1", "attnets": "0x0000000000000000", "syncnets": "0x00"},
            }}
        if path == "/eth/v1/beacon/genesis":
            return 200, {"data": {"genesis_time": GENESIS_TIME, "genesis_validators_root": GENESIS_VALIDATORS_ROOT,
                                  "genesis_fork_version": GENESIS_FORK_VERSION}}
        if path == "/eth/v1/config/spec":
            return 200, {"data": {"CONFIG_NAME": "mainnet", "PRESET_BASE": "mainnet",
                                  "SLOTS_PER_EPOCH": str(SLOTS_PER_EPOCH), "SECONDS_PER_SLOT": str(SECONDS_PER_SLOT),
                                  "GENESIS_FORK_VERSION": GENESIS_FORK_VERSION}}
        if not view.initialized:
            return 503, _error_body(503, "Beacon node is not initialized")
        m = re.fullmatch(r"/eth/v1/beacon/headers/([^/]+)", path)
        if m:
            slot = _resolve_slot(urllib.parse.unquote(m.group(1)), view, "block", block_root)
            return 200, self._meta(view, slot, {
                "root": block_root(slot, view.other),
                "canonical": True,
                "header": {
                    "message": {
                        "slot": str(slot),
                        "proposer_index": str(int(block_root(slot)[2:10], 16) % 1_000_000),
                        "parent_root": block_root(slot - 1, view.other) if slot else ZERO_ROOT,
                        "state_root": _digest("state", slot, view.other),
                        "body_root": _digest("body", slot, view.other),
                    },
                    "signature": _signature(slot, view.other),
                },
            })
        m = re.fullmatch(r"/eth/v1/beacon/blocks/([^/]+)/root", path)
        if m:
            slot = _resolve_slot(urllib.parse.unquote(m.group(1)), view, "block", block_root)
            return 200, self._meta(view, slot, {"root": block_root(slot, view.other)})
        m = re.fullmatch(r"/eth/v1/beacon/states/([^/]+)/finality_checkpoints", path)
        if m:
            slot = _resolve_slot(urllib.parse.unquote(m.group(1)), view, "state",
                                 lambda s, o: _digest("state", s, o))
            at = dataclasses.replace(view, head_slot=slot)
            epoch = slot // SLOTS_PER_EPOCH
            return 200, self._meta(view, slot, {
                "previous_justified": at.checkpoint(max(epoch - 2, 0), epoch >= 2),
                "current_justified": at.checkpoint(max(epoch - 1, 0), epoch >= 1),
                "finalized": at.checkpoint(at.finalized_epoch, epoch >= 2),
            })
        return 404, _error_body(404, f"no such route: {path}")

    @staticmethod
    def _meta(view: View, slot: int, data: Any) -> dict[str, Any]:
        return {"execution_optimistic": view.is_optimistic, "finalized": slot <= view.finalized_slot and view.finalized_epoch > 0,
                "data": data}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

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
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.request_version == "HTTP/1.0" or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, message: Any) -> None:
        self._send(status, JSON_TYPE, json.dumps(message).encode())

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._send_json(400, {"error": "bad Content-Length"})
            return None
        return self.rfile.read(int(length))


class ApiHandler(_Handler):
    def do_GET(self) -> None:
        api: Api = self.server.app  # type: ignore[attr-defined]
        faults = api.beacon.faults
        if faults.delay_ms:
            time.sleep(faults.delay_ms / 1000)
        if faults.error == "http":
            self._send_json(500, _error_body(500, "Internal server error"))
            return
        if faults.garbage:
            self._send(200, JSON_TYPE, GARBAGE_BODY)
            return
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        try:
            status, body = api.get(path, urllib.parse.parse_qs(parts.query), faults)
        except ApiError as exc:
            status, body = exc.code, _error_body(exc.code, str(exc))
        if body is None:
            self._send(status, JSON_TYPE, b"")
        else:
            self._send_json(status, body)

    def do_POST(self) -> None:
        if self._read_body() is not None:
            self._send_json(405, _error_body(405, "method not allowed"))


class ApiListener:
    """The Beacon API port, which the ``refuse`` fault closes and re-opens."""

    def __init__(self, host: str, port: int, api: Api) -> None:
        self._api = api
        self._server: _Server | None = _Server((host, port), ApiHandler, api)
        self.address: tuple[str, int] = (host, self._server.server_address[1])
        self._serve(self._server)

    @staticmethod
    def _serve(server: _Server) -> None:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def set_refused(self, refused: bool) -> None:
        if refused:
            self.close()
        elif self._server is None:
            self._server = _Server(self.address, ApiHandler, self._api)
            self._serve(self._server)

    def close(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.shutdown()
        server.server_close()
        server.drop_connections()


class Controller:
    def __init__(self, beacon: Beacon, listener: ApiListener) -> None:
        self.beacon = beacon
        self.listener = listener
        self._lock = threading.Lock()

    def update(self, patch: Any) -> Faults:
        with self._lock:
            return self._apply(self.beacon.faults.merged(patch))

    def clear(self) -> Faults:
        with self._lock:
            return self._apply(self.beacon.defaults)

    def _apply(self, faults: Faults) -> Faults:
        self.listener.set_refused(faults.refuse)
        self.beacon.faults = faults
        return faults


class ControlHandler(_Handler):
    def do_GET(self) -> None:
        controller: Controller = self.server.app  # type: ignore[attr-defined]
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        faults = controller.beacon.faults.as_json()
        if path == "/health":
            self._send_json(200, {"ok": True, "client": controller.beacon.client, "layer": "consensus",
                                  "faults": faults, "el": controller.beacon.el_status()})
        elif path == "/fault":
            self._send_json(200, faults)
        else:
            self._send_json(404, {"error": f"no such resource: {path}"})

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        controller: Controller = self.server.app  # type: ignore[attr-defined]
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        try:
            if path == "/fault":
                faults = controller.update(json.loads(body or b"{}"))
            elif path == "/fault/clear":
                faults = controller.clear()
            else:
                self._send_json(404, {"error": f"no such resource: {path}"})
                return
        except ValueError as exc:
            self._send_json(400, {"error": str(exc)})
        except OSError as exc:
            self._send_json(500, {"error": f"cannot listen again: {exc}"})
        else:
            self._send_json(200, faults.as_json())


# --- command line ---------------------------------------------------------------------------


class UsageError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Config:
    client: str
    host: str
    port: int
    control_port: int
    engine_url: str
    jwt_path: str | None
    version: str
    faults: Faults
    ignored: tuple[str, ...]


def _int_in(value: str, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{what} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise UsageError(f"{what} must be in {low}..{high}, not {number}")
    return number


def scan(argv: Sequence[str], value_flags: frozenset[str]) -> tuple[dict[str, str], list[str]]:
    """Known flags' values (lower-case names, dashes stripped) and the ignored tokens."""
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
        # Lodestar's CLI (yargs) takes --jwtSecret and --jwt-secret alike: camelCase is kebab-case.
        name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", flag.lstrip("-")).lower()
        if not has_value and index < len(argv) and not argv[index].startswith("-"):
            value, has_value = argv[index], "="
            index += 1
        if name not in value_flags:
            ignored.append(flag)
        elif not has_value:
            raise UsageError(f"{flag} needs a value")
        else:
            values[name] = value
    return values, ignored


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> Config:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        raise SystemExit(0)
    values, ignored = scan(argv, VALUE_FLAGS)
    client = (values.get("client") or env.get("BEACON_CLIENT") or "").lower()
    if client not in PERSONAS:
        raise UsageError(f"--client (or BEACON_CLIENT) must be one of {', '.join(PERSONAS)}")
    persona = PERSONAS[client]
    host = values.get("listen") or next((values[f] for f in ADDRESS_FLAGS if f in values), "127.0.0.1")
    if host == "localhost":
        host = "127.0.0.1"
    # A client's own Beacon API port flag wins over --port, which is Lighthouse's and Lodestar's
    # p2p port when their real command lines are given.
    port = _int_in(next((values[f] for f in PORT_FLAGS if f in values), None) or values.get("port")
                   or str(persona.default_port), "the Beacon API port", 0, 65535)
    control = values.get("control-port") or env.get("BEACON_CONTROL_PORT")
    control_port = (port + 1000 if port else 0) if control is None else _int_in(control, "the control port", 0, 65535)
    if control_port > 65535:
        raise UsageError(f"the default control port {control_port} is too high: --control-port")
    engine = next((values[f] for f in ENGINE_FLAGS if f in values), "http://127.0.0.1:8551").split(",")[0].strip()
    jwt = next((values[f] for f in JWT_FLAGS if f in values), None)
    peers = _int_in(values.get("peers", str(DEFAULT_PEERS)), "--peers", 0, 1 << 32)
    faults = Faults(peers=peers)
    if env.get("BEACON_FAULTS"):
        try:
            faults = faults.merged(json.loads(env["BEACON_FAULTS"]))
        except ValueError as exc:
            raise UsageError(f"BEACON_FAULTS: {exc}") from None
    version = persona.version_string(values.get("version") or env.get("BEACON_VERSION") or None)
    return Config(client, host, port, control_port, engine, jwt, version, faults, tuple(ignored))


@dataclasses.dataclass
class Running:
    beacon: Beacon
    listener: ApiListener
    control: _Server

    def stop(self) -> None:
        self.control.shutdown()
        self.control.server_close()
        self.listener.close()


def start(client: str, version: str, source: Any, host: str, port: int, control_port: int,
          faults: Faults, control_file: str | None = None) -> Running:
    """Start the two listeners (also used in-process by the Erigon front for Caplin)."""
    beacon = Beacon(client, version, source, Faults(peers=faults.peers), address=host)
    listener = ApiListener(host, port, Api(beacon))
    controller = Controller(beacon, listener)
    controller.update(faults.as_json())
    control = _Server((host, control_port), ControlHandler, controller)
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    if control_file:
        with contextlib.suppress(OSError):
            tmp = control_file + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(str(control.server_address[1]))
            os.replace(tmp, control_file)
    return Running(beacon, listener, control)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv, os.environ)
        source = EngineSource(config.engine_url, config.jwt_path)
    except (UsageError, ValueError) as exc:
        print(f"beacon_front: {exc}", file=sys.stderr)
        return 2
    if config.ignored:
        print(f"beacon_front: ignoring flags: {' '.join(config.ignored)}", file=sys.stderr, flush=True)
    try:
        running = start(config.client, config.version, source, config.host, config.port, config.control_port,
                        config.faults, os.environ.get("BEACON_CONTROL_FILE"))
    except OSError as exc:
        print(f"beacon_front: cannot listen on {config.host}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    host, port = running.listener.address
    print(f"ready client={config.client} api=http://{host}:{port} control=http://{config.host}:{running.control.server_address[1]}",
          flush=True)
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
