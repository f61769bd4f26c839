#!/usr/bin/env python3
"""A RelayMiner stand-in for the fleetctl test lab: it proxies relays, counts them per session,
and claims and proves them on the lab's Pocket stand-in.

The real RelayMiner (``pocketd relayminer start``, poktroll ``pkg/relayer/``) validates relay
requests against on-chain sessions, signs the responses, builds a session tree per (supplier,
session) and submits ``MsgCreateClaim`` and ``MsgSubmitProof``. This stand-in has no signatures
and no trees: it reads the real configuration file, moves the JSON-RPC bodies between a client
and the supplier's backend, counts the relays each supplier served per session, and sends the
claims and proofs those counts call for to the lab chain's ``POST /__lab/tx`` (the lab's
stand-in for a signed broadcast). It runs in a container that bind-mounts the host's ``/usr``
read-only, so it is one file using the standard library and PyYAML (Debian's python3-yaml)::

    /usr/bin/python3 relayminer.py relayminer start --config /etc/pocketd/relayminer/config.yaml

Command line
    ``relayminer start --config FILE`` (``--config=FILE`` too), as for ``pocketd``;
    ``--home H`` (default ``$HOME/.pocket``) and ``--keyring-backend`` (only ``test`` is read)
    locate the signing keys; every other flag (``--chain-id``, ...) is accepted and ignored,
    with one stderr line naming them.

Configuration (the RelayMiner YAML; schema ``pkg/relayer/config/config.schema.yaml``)
    ``suppliers[]``: ``service_id``, ``listen_url`` (http only), ``signing_key_names`` and
    ``service_config`` (``backend_url``, optional ``authentication {username, password}`` and
    ``headers``); ``default_signing_key_names``; ``request_timeout_seconds`` /
    ``default_request_timeout_seconds`` (default 30); ``max_body_size`` /
    ``default_max_body_size`` (default "1MB"); ``metrics {enabled, addr}``; ``ping {enabled,
    addr}``; ``pocket_node {query_node_rpc_url, query_node_grpc_url, tx_node_rpc_url}``.
    ``smt_store_path`` and the other keys are read past.

Signing keys -> supplier operator addresses
    As the real one, the suppliers are the keys named in ``signing_key_names`` (per supplier
    entry, else ``default_signing_key_names``); their address is read from the ``test``
    keyring the lab's ``pocketd`` stand-in writes: ``H/keyring-test/NAME.info`` (JSON,
    ``"address"``). A name that is itself a ``pokt1…`` address stands for that address. A
    key that cannot be read is named once on stderr and retried every 10 s (keys added later
    by ``fleetctl scale`` are picked up); its relays are served but not counted.

Relays
    One HTTP server per distinct ``listen_url`` (suppliers that share one share the server). A
    request goes to the service named by the ``Target-Service-Id`` header, else by the first
    path segment (``POST /eth`` -> service ``eth``, the rest of the path is passed on), else to
    the only service of that listener; otherwise it is answered 400. The supplier is the one
    named by the lab header ``Target-Supplier-Operator-Address`` (an address or key name; one
    that this RelayMiner does not sign for is refused with 400, as the real one refuses a
    relay for a supplier it does not hold: ``ErrRelayerProxySupplierNotReachable``), else the
    next in turn of the keys staked on chain for the service (``GET /pokt-network/poktroll/
    supplier/supplier/{address}``, refreshed every 10 s; all keys while the chain has not
    answered). The body is POSTed to the service's ``backend_url`` and the backend's status,
    content type and body are passed through whatever the status (as ``pkg/relayer/proxy/
    sync.go`` does); a backend that cannot be reached gives 502 with a JSON-RPC error.

Sessions, claims and proofs (``pkg/relayer/session/claim.go``, ``proof.go``; windows
``x/shared/types/session.go``; window checks ``x/proof/keeper/session.go``)
    A background thread polls the CometBFT ``GET /status`` of ``pocket_node.query_node_rpc_url``
    every 0.25 s (``sync_info.latest_block_height``, 2 s timeout) and reads the shared params
    (``GET /pokt-network/poktroll/shared/params``, every 5 s) from the chain's REST API:
    ``$POCKETD_LAB_CONTROL`` (the stand-in's Shannon URL, as ``pocketd.py`` reads it), else
    ``http://<host of query_node_grpc_url>:1317`` (the real one queries gRPC on that node; the
    lab stand-in serves the same queries over REST on 1317). The relay handlers only read what
    the thread last saw: a chain that does not answer never delays a relay.
    A relay served with a status below 500 (``isRewardApplicable``) counts for (supplier,
    service, session), the session being the one containing the latest height seen (session
    start = anchor + ((h - anchor) // num_blocks_per_session) * num_blocks_per_session, with
    ``session_grid_anchor_height`` / 1 as the Go code). Before a height and params are known
    relays are served and not counted (one stderr line). For every session that ended with
    relays > 0, once the height seen reaches the claim window open height (session end +
    ``claim_window_open_offset_blocks`` + 1, ``GetClaimWindowOpenHeight``) it POSTs
    ``{"msg": "MsgCreateClaim", "supplier_operator_address", "service_id",
    "session_end_block_height", "num_relays"}`` to ``tx_node_rpc_url`` + ``/__lab/tx``; the tx
    lands in the next block, which must be at most the claim window close height. Once the
    claim landed and the height seen reaches the proof window open height (claim close +
    ``proof_window_open_offset_blocks``) it POSTs ``MsgSubmitProof`` (no ``num_relays``) while
    the next block is at most the proof window close height. The real RelayMiner submits a proof
    only when ``isProofRequired`` says so (threshold, or the probabilistic draw seeded by the
    block hash); the stand-in cannot compute the chain's draw, so it always submits and takes
    the chain's ``proof not required`` refusal (poktroll ``ErrProofNotRequired``, code 1129) as
    the end of that session, printed on stdout, not as an error. A refused tx (``code`` > 0) or
    an unreachable chain is one stderr line and retried on the next poll, at most 3 times per
    message; a window that closes first is one stderr line (the reward is lost). Not modelled:
    the real one's claim batching per supplier, its profitability and balance check before
    claiming (``payableProofsSessionTrees``), historical params (the lab chain has none either:
    the current shared params are used), relays in the grace period after a session end.
    Every accepted claim and proof is one stdout line (``claim|proof SUPPLIER SERVICE
    session_end=E relays=N height=H``).

Faults (``fleetctl lab fault <relayminer container> skip_claims|skip_proofs|drop_relays|none``)
    The file ``$RELAYMINER_LAB_CONTROL_FILE`` (default ``/tmp/fleetlab-relayminer.faults``)
    holds the active faults, comma- or space-separated; absent, empty or ``none`` = none. It is
    read before every claim and proof (and at most every 0.2 s for relays), so a change applies
    at once, no restart: ``skip_claims`` sends no claims (so no proofs), ``skip_proofs`` sends
    claims and no proofs (the chain then expires the claims that required one: PROOF_MISSING,
    a slash), ``drop_relays`` serves relays without counting them, as the real one drops relays
    when its mining channel is full (``relayminer_relays_dropped_total`` with that reason).
    Sessions whose window passes while a fault holds are lost, as on a real RelayMiner; a fault
    cleared while a window is still open lets the claim or proof go. Unknown words in the file
    are named once on stderr and ignored. ``lab fault`` writes the file through ``docker exec``
    (fleetlab/manager.py).

Metrics (when ``metrics.enabled``; ``GET /metrics`` on ``metrics.addr``, ``:PORT`` = all
interfaces), Prometheus text, names and labels as ``pkg/relayer/metrics.go`` (labels sorted by
name, as client_golang writes them):
    ``relayminer_requests_total{service_id, supplier_operator_address}`` every relay request
    (``unknown_supplier_operator_address`` when no key serves it);
    ``relayminer_requests_success_total{service_id}`` relays answered by the backend;
    ``relayminer_requests_errors_total{service_id}`` error replies of the RelayMiner itself
    (backend unreachable, body too large, supplier not held);
    ``relayminer_relays_dropped_total{reason, service_id, supplier_operator_address}`` served
    relays not counted toward a claim (reason ``mining_channel_full``, the real one's);
    ``relayminer_block_height_current`` (gauge, no labels) the latest height seen, once known.
    Success and error series start at 0 for every configured service.

Ping (when ``ping.enabled``; on ``ping.addr``), as ``pkg/relayer/relayminer.go`` ServePing and
``proxy/ping.go``: any method and path; it sends ``HEAD`` to every backend URL (2 s timeout, no
credentials) and answers ``204`` with no body when every one answered below 500, ``504`` when
the first failure is a timeout, else ``502``.

Once every listener is up it prints ``ready relays=URL[,URL...] metrics=ADDR|off ping=ADDR|off``;
SIGTERM and SIGINT stop it.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TIMEOUT_S = 30  # the schema's default_request_timeout_seconds
DEFAULT_MAX_BODY = "1MB"  # the schema's default_max_body_size
SIZE_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
JSON_TYPE = "application/json"
SERVICE_HEADER = "Target-Service-Id"
SUPPLIER_HEADER = "Target-Supplier-Operator-Address"
UNKNOWN_SUPPLIER = "unknown_supplier_operator_address"  # pkg/relayer/proxy/proxy.go
DROP_CHANNEL_FULL = "mining_channel_full"  # pkg/relayer/proxy/sync.go
CONTROL_FILE_ENV = "RELAYMINER_LAB_CONTROL_FILE"
DEFAULT_CONTROL_FILE = "/tmp/fleetlab-relayminer.faults"
FAULTS = ("skip_claims", "skip_proofs", "drop_relays")
REST_PORT = 1317
POLL_S = 0.25
CHAIN_TIMEOUT_S = 2.0
PARAMS_EVERY_S = 5.0
SUPPLIERS_EVERY_S = 10.0
TX_ATTEMPTS = 3
PING_TIMEOUT_S = 2.0  # proxy/ping.go httpPingTimeout
SHARED_PARAMS = ("num_blocks_per_session", "grace_period_end_offset_blocks", "claim_window_open_offset_blocks",
                 "claim_window_close_offset_blocks", "proof_window_open_offset_blocks",
                 "proof_window_close_offset_blocks")
ADDRESS_RE = re.compile(r"pokt1[02-9ac-hj-np-z]{38,58}")


def log(message: str) -> None:
    print(f"relayminer: {message}", file=sys.stderr, flush=True)


def shown(url: str) -> str:
    """``scheme://host:port/path`` of a URL: no credentials, no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class ConfigError(Exception):
    """The configuration file cannot be served; the message says why."""


@dataclass(frozen=True)
class Supplier:
    """One ``suppliers[]`` entry, as far as relaying needs it."""

    service_id: str
    listen: tuple[str, int]
    backend: urllib.parse.SplitResult
    headers: dict[str, str]
    timeout_s: float
    max_body: int
    key_names: tuple[str, ...] = ()


def parse_size(text: str) -> int:
    """``"1MB"`` -> 1000000 (the schema's ``^[0-9]+(B|KB|MB|GB|TB)$``)."""
    match = re.fullmatch(r"([0-9]+)(B|KB|MB|GB|TB)", str(text))
    if not match:
        raise ConfigError(f"invalid body size {text!r}: expected a number and B, KB, MB, GB or TB")
    return int(match.group(1)) * SIZE_UNITS[match.group(2)]


def parse_listen_url(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"listen_url {url!r}: the stand-in serves http://HOST:PORT only")
    return parts.hostname, parts.port or 80


def parse_addr(addr: str, key: str = "metrics.addr") -> tuple[str, int]:
    """A server address, ``HOST:PORT`` or ``:PORT`` (all interfaces, as Go's net.Listen reads it:
    the real RelayMiner accepts that form; fleetctl's role always writes an explicit address)."""
    host, sep, port = str(addr).rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"{key} {addr!r}: expected HOST:PORT or :PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of key names")
    return tuple(value)


def load_suppliers(config: dict[str, Any]) -> list[Supplier]:
    default_timeout = config.get("default_request_timeout_seconds") or DEFAULT_TIMEOUT_S
    default_max_body = parse_size(config.get("default_max_body_size") or DEFAULT_MAX_BODY)
    default_keys = _names(config.get("default_signing_key_names"), "default_signing_key_names")
    entries = config.get("suppliers")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("suppliers: at least one supplier is required")
    suppliers: list[Supplier] = []
    for index, entry in enumerate(entries):
        where = f"suppliers[{index}]"
        try:
            service_id = str(entry["service_id"])
            listen = parse_listen_url(entry["listen_url"])
            service = entry["service_config"]
            backend = urllib.parse.urlsplit(service["backend_url"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{where}: missing {exc}") from None
        if backend.scheme not in ("http", "https") or not backend.hostname:
            raise ConfigError(f"{where}: backend_url must be an http(s) URL for the stand-in")
        headers = {str(k): str(v) for k, v in (service.get("headers") or {}).items()}
        auth = service.get("authentication") or {}
        if auth.get("username") or auth.get("password"):
            token = f"{auth.get('username', '')}:{auth.get('password', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        max_body = parse_size(entry["max_body_size"]) if entry.get("max_body_size") else default_max_body
        keys = _names(entry.get("signing_key_names"), f"{where}.signing_key_names") or default_keys
        suppliers.append(Supplier(service_id, listen, backend, headers,
                                  float(entry.get("request_timeout_seconds") or default_timeout), max_body, keys))
    seen = Counter((s.listen, s.service_id) for s in suppliers)
    duplicated = sorted(f"{sid} on {host}:{port}" for ((host, port), sid), n in seen.items() if n > 1)
    if duplicated:
        raise ConfigError(f"service configured twice on one listener: {', '.join(duplicated)}")
    return suppliers


def node_urls(config: dict[str, Any]) -> dict[str, str]:
    """``pocket_node``'s three URLs (``tcp://`` read as ``http://``, as pocketd does)."""
    node = config.get("pocket_node")
    if not isinstance(node, dict):
        raise ConfigError("pocket_node: required (query_node_rpc_url, query_node_grpc_url, tx_node_rpc_url)")
    out = {}
    for key in ("query_node_rpc_url", "query_node_grpc_url", "tx_node_rpc_url"):
        value = node.get(key)
        parts = urllib.parse.urlsplit(str(value or ""))
        if parts.scheme == "tcp":
            parts = parts._replace(scheme="http")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"pocket_node.{key}: expected an http(s):// URL, got {str(value)[:80]!r}")
        out[key] = urllib.parse.urlunsplit(parts)
    return out


def rest_url(urls: dict[str, str]) -> str:
    """Where the chain's REST queries go: ``$POCKETD_LAB_CONTROL``, else port 1317 of the gRPC
    query node's host."""
    explicit = os.environ.get("POCKETD_LAB_CONTROL")
    if explicit:
        return explicit.rstrip("/")
    host = urllib.parse.urlsplit(urls["query_node_grpc_url"]).hostname or "127.0.0.1"
    return f"http://[{host}]:{REST_PORT}" if ":" in host else f"http://{host}:{REST_PORT}"


def with_path(url: str, path: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


def read_key_address(home: Path, name: str) -> str | None:
    """The address of key ``name`` in the ``test`` keyring at ``home`` (a ``pokt1…`` name is its
    own address); None when it cannot be read."""
    if ADDRESS_RE.fullmatch(name):
        return name
    if "/" in name or name in ("", ".", ".."):
        return None
    try:
        record = json.loads((home / "keyring-test" / f"{name}.info").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    address = record.get("address") if isinstance(record, dict) else None
    return address if isinstance(address, str) and ADDRESS_RE.fullmatch(address) else None


# --- faults ---------------------------------------------------------------------------------


class Faults:
    """The control file's faults, re-read at most every 0.2 s (``fresh`` reads it now)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._current: frozenset[str] = frozenset()
        self._warned: set[str] = set()

    def current(self, fresh: bool = False) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            if fresh or now - self._read_at >= 0.2:
                self._read_at = now
                self._current = self._read()
            return self._current

    def _read(self) -> frozenset[str]:
        try:
            with open(self.path, encoding="utf-8") as fh:
                text = fh.read(4096)
        except OSError:
            return frozenset()
        words = {w for w in re.split(r"[\s,]+", text.strip()) if w and w != "none"}
        for unknown in sorted(words - set(FAULTS) - self._warned):
            self._warned.add(unknown)
            log(f"{self.path}: unknown fault {unknown[:40]!r} ignored (known: {', '.join(FAULTS)}, none)")
        return frozenset(words & set(FAULTS))


# --- metrics --------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """The RelayMiner's Prometheus series (pkg/relayer/metrics.go), in the text format."""

    COUNTERS = (
        ("relayminer_requests_total", "Total number of requests processed, labeled by service ID.",
         ("service_id", "supplier_operator_address")),
        ("relayminer_requests_success_total", "Total number of successful requests processed, labeled by service ID.",
         ("service_id",)),
        ("relayminer_requests_errors_total", "Total number of error events.", ("service_id",)),
        ("relayminer_relays_dropped_total", "Total number of served relays dropped from the mining pipeline "
         "(lost reward), labeled by service ID, supplier, and reason.",
         ("reason", "service_id", "supplier_operator_address")),
    )
    HEIGHT = ("relayminer_block_height_current", "Current block height observed by the RelayMiner.")

    def __init__(self, service_ids: Sequence[str]) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[tuple[str, ...]]] = {name: Counter() for name, _, _ in self.COUNTERS}
        for sid in service_ids:
            self._counts["relayminer_requests_success_total"][(sid,)] += 0
            self._counts["relayminer_requests_errors_total"][(sid,)] += 0
        self.height: int | None = None

    def add(self, name: str, *labels: str) -> None:
        with self._lock:
            self._counts[name][labels] += 1

    def request(self, service_id: str, supplier: str, ok: bool) -> None:
        with self._lock:
            self._counts["relayminer_requests_total"][(service_id, supplier)] += 1
            self._counts["relayminer_requests_success_total" if ok else "relayminer_requests_errors_total"][(service_id,)] += 1

    def render(self) -> bytes:
        lines = []
        with self._lock:
            for name, help_text, label_names in self.COUNTERS:
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                for labels, n in sorted(self._counts[name].items()):
                    pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(label_names, labels, strict=True))
                    lines.append(f"{name}{{{pairs}}} {n}")
            if self.height is not None:
                name, help_text = self.HEIGHT
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {self.height}"]
        return ("\n".join(lines) + "\n").encode()


# --- sessions, claims and proofs ------------------------------------------------------------


@dataclass(frozen=True)
class SharedParams:
    num_blocks_per_session: int
    grace_period_end_offset_blocks: int
    claim_window_open_offset_blocks: int
    claim_window_close_offset_blocks: int
    proof_window_open_offset_blocks: int
    proof_window_close_offset_blocks: int
    session_grid_anchor_height: int = 0
    session_number_at_anchor: int = 0

    @classmethod
    def parse(cls, body: Any) -> SharedParams:
        """From ``QueryParamsResponse`` JSON; ValueError names the bad field."""
        params = body.get("params") if isinstance(body, dict) else None
        if not isinstance(params, dict):
            raise ValueError("params: missing")
        values = {}
        for name in SHARED_PARAMS + ("session_grid_anchor_height", "session_number_at_anchor"):
            raw = params.get(name, "0" if name.startswith("session_") else None)
            if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not re.fullmatch(r"[0-9]{1,12}", str(raw)):
                raise ValueError(f"params.{name}: not a block count ({str(raw)[:24]!r})")
            values[name] = int(raw)
        if values["num_blocks_per_session"] < 1:
            raise ValueError("params.num_blocks_per_session: must be at least 1")
        return cls(**values)

    def session_end(self, height: int) -> int:
        """GetSessionEndHeight (x/shared/types/session.go), with its anchored grid."""
        anchor = self.session_grid_anchor_height
        if anchor <= 0 or anchor > height:
            anchor = 1
        n = self.num_blocks_per_session
        return anchor + ((height - anchor) // n) * n + n - 1

    def windows(self, end: int) -> tuple[int, int, int, int]:
        """(claim open, claim close, proof open, proof close) of the session ending at ``end``."""
        claim_open = end + self.claim_window_open_offset_blocks + 1
        claim_close = claim_open + self.claim_window_close_offset_blocks
        proof_open = claim_close + self.proof_window_open_offset_blocks
        return claim_open, claim_close, proof_open, proof_open + self.proof_window_close_offset_blocks


@dataclass
class Session:
    supplier: str
    service: str
    end: int
    relays: int = 0
    claim_height: int | None = None
    claim_attempts: int = 0
    proof_attempts: int = 0
    done: bool = False
    said: set[str] = field(default_factory=set)


class Chain:
    """What the RelayMiner knows of the chain, kept fresh by one background thread, and the
    per-session relay counts it claims and proves from there."""

    def __init__(self, urls: dict[str, str], rest: str, home: Path, keys_by_service: dict[str, tuple[str, ...]],
                 metrics: Metrics, faults: Faults) -> None:
        self.status_url = with_path(urls["query_node_rpc_url"], "/status")
        self.tx_url = with_path(urls["tx_node_rpc_url"], "/__lab/tx")
        self.rest = rest
        self.home = home
        self.keys_by_service = keys_by_service
        self.metrics = metrics
        self.faults = faults
        self._lock = threading.Lock()
        self.height: int | None = None
        self.params: SharedParams | None = None
        self.addresses: dict[str, str] = {}  # key name -> address
        self.staked: dict[str, frozenset[str] | None] = {}  # address -> services on chain (None: unknown)
        self.sessions: dict[tuple[str, str, int], Session] = {}
        self._turn = itertools.count()
        self._said: set[str] = set()
        self._params_at = float("-inf")
        self._suppliers_at = float("-inf")
        self._status_error: str | None = None
        self.read_keys()

    # -- relays (handler threads: memory only) --

    def say_once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._said:
                return
            self._said.add(key)
        log(message)

    def suppliers_for(self, service_id: str) -> list[str]:
        with self._lock:
            addresses = [self.addresses[n] for n in self.keys_by_service.get(service_id, ()) if n in self.addresses]
            staked = [a for a in addresses if self.staked.get(a) is None or service_id in (self.staked.get(a) or ())]
        return sorted(set(staked))

    def pick_supplier(self, service_id: str, wanted: str | None) -> str | None:
        """The supplier a relay is for: ``wanted`` (address or key name) when this RelayMiner signs
        for it (None when it does not), else the next staked one in turn (UNKNOWN_SUPPLIER when
        there is none)."""
        with self._lock:
            names = self.keys_by_service.get(service_id, ())
            mine = {self.addresses[n]: n for n in names if n in self.addresses}
        if wanted:
            if wanted in mine:
                return wanted
            with self._lock:
                address = self.addresses.get(wanted) if wanted in names else None
            return address
        candidates = self.suppliers_for(service_id)
        if not candidates:
            self.say_once(f"nosupplier:{service_id}", f"relays for service {service_id} are served but not counted: "
                          "no signing key of it has a readable address staked for the service")
            return UNKNOWN_SUPPLIER
        return candidates[next(self._turn) % len(candidates)]

    def record(self, supplier: str, service_id: str) -> bool:
        """Count one relay for the session of the latest height seen; False when none is known."""
        with self._lock:
            if self.height is None or self.params is None or self.height < 1:
                known = False
            else:
                known = True
                end = self.params.session_end(self.height)
                key = (supplier, service_id, end)
                session = self.sessions.get(key)
                if session is None:
                    session = self.sessions[key] = Session(supplier, service_id, end)
                session.relays += 1
        if not known:
            self.say_once("nosession", "relays are served but not counted until the node's height and the shared "
                          "params are known")
        return known

    # -- background thread --

    def _get(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=CHAIN_TIMEOUT_S) as resp:
            return json.loads(resp.read(4_000_000))

    def read_keys(self) -> None:
        names = sorted({n for keys in self.keys_by_service.values() for n in keys})
        found = {}
        for name in names:
            address = read_key_address(self.home, name)
            if address is None:
                self.say_once(f"key:{name}", f"signing key {name!r} not found in {self.home}/keyring-test "
                              "(test backend): its relays are not counted")
            else:
                found[name] = address
        with self._lock:
            self.addresses = found

    def poll(self) -> None:
        """One round: height, params and suppliers when due, then claims and proofs."""
        now = time.monotonic()
        try:
            body = self._get(self.status_url)
            raw = body["result"]["sync_info"]["latest_block_height"]
            if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{1,15}", raw):
                raise ValueError(f"sync_info.latest_block_height: not a height ({str(raw)[:24]!r})")
            height = int(raw)
            if self._status_error is not None:
                log(f"node {shown(self.status_url)} answers again (height {height})")
                self._status_error = None
        except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException) as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:160]}"
            if self._status_error is None:
                kept = f"height stays at {self.height}" if self.height is not None else "no height yet"
                log(f"node {shown(self.status_url)}: {problem}; {kept}")
            self._status_error = problem
            height = None
        if height is not None:
            with self._lock:
                self.height = height
            self.metrics.height = height
        if now - self._params_at >= PARAMS_EVERY_S or self.params is None:
            self._params_at = now
            url = self.rest + "/pokt-network/poktroll/shared/params"
            try:
                params = SharedParams.parse(self._get(url))
                with self._lock:
                    self.params = params
            except (OSError, ValueError, http.client.HTTPException) as exc:
                self.say_once(f"params:{type(exc).__name__}", f"shared params from {shown(url)}: "
                              f"{type(exc).__name__}: {str(exc)[:160]}")
        if now - self._suppliers_at >= SUPPLIERS_EVERY_S:
            self._suppliers_at = now
            self.read_keys()
            self._read_suppliers()
        self._settle()

    def _read_suppliers(self) -> None:
        for address in sorted(set(self.addresses.values())):
            url = self.rest + "/pokt-network/poktroll/supplier/supplier/" + urllib.parse.quote(address)
            services: frozenset[str] | None
            try:
                body = self._get(url)
                services = frozenset(str(s.get("service_id")) for s in body["supplier"]["services"]
                                     if isinstance(s, dict))
            except urllib.error.HTTPError as exc:
                services = frozenset() if exc.code == 404 else None
            except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
                services = None
            with self._lock:
                self.staked[address] = services

    def _tx(self, msg: dict[str, Any]) -> tuple[bool, str, int | None]:
        """(accepted, log, height) of one ``/__lab/tx``; OSError/ValueError when it did not answer."""
        request = urllib.request.Request(self.tx_url, data=json.dumps(msg).encode(),
                                         headers={"Content-Type": JSON_TYPE}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=CHAIN_TIMEOUT_S) as resp:
                body = json.loads(resp.read(1_000_000))
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read(1_000_000))
            except ValueError:
                raise ValueError(f"HTTP {exc.code}") from None
        if not isinstance(body, dict) or isinstance(body.get("code"), bool) or not isinstance(body.get("code"), int):
            raise ValueError(f"answer without an integer code: {str(body)[:120]}")
        height = body.get("height")
        height = height if isinstance(height, int) and not isinstance(height, bool) else None
        return body["code"] == 0, str(body.get("log") or body.get("raw_log") or "")[:200], height

    def _settle(self) -> None:
        with self._lock:
            height, params = self.height, self.params
            pending = sorted((s for s in self.sessions.values() if not s.done), key=lambda s: (s.end, s.supplier, s.service))
        if height is None or params is None:
            return
        for s in pending:
            if height <= s.end:
                continue
            claim_open, claim_close, proof_open, proof_close = params.windows(s.end)
            what = f"{s.supplier} {s.service} session_end={s.end} relays={s.relays}"
            if s.claim_height is None:
                if height < claim_open:
                    continue
                if height + 1 > claim_close:
                    if "skipped_claim" not in s.said:
                        log(f"claim {what} not sent: the claim window closed at {claim_close} (height {height}); "
                            "the reward is lost")
                    s.done = True
                    continue
                if "skip_claims" in self.faults.current(fresh=True):
                    if "skipped_claim" not in s.said:
                        s.said.add("skipped_claim")
                        log(f"claim {what} skipped (fault skip_claims)")
                    continue
                s.claim_attempts += 1
                msg = {"msg": "MsgCreateClaim", "supplier_operator_address": s.supplier, "service_id": s.service,
                       "session_end_block_height": s.end, "num_relays": s.relays}
                self._send(s, msg, "claim", what)
                continue
            if height < proof_open:
                continue
            if height + 1 > proof_close:
                if "skipped_proof" not in s.said:
                    log(f"proof {what} not sent: the proof window closed at {proof_close} (height {height})")
                s.done = True
                continue
            if "skip_proofs" in self.faults.current(fresh=True):
                if "skipped_proof" not in s.said:
                    s.said.add("skipped_proof")
                    log(f"proof {what} skipped (fault skip_proofs)")
                continue
            s.proof_attempts += 1
            msg = {"msg": "MsgSubmitProof", "supplier_operator_address": s.supplier, "service_id": s.service,
                   "session_end_block_height": s.end}
            self._send(s, msg, "proof", what)
        with self._lock:
            for key in [k for k, s in self.sessions.items() if s.done]:
                del self.sessions[key]

    def _send(self, s: Session, msg: dict[str, Any], kind: str, what: str) -> None:
        attempts = s.claim_attempts if kind == "claim" else s.proof_attempts
        try:
            accepted, reason, landed = self._tx(msg)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            accepted, reason, landed = False, f"{shown(self.tx_url)}: {type(exc).__name__}: {str(exc)[:160]}", None
        else:
            if not accepted and kind == "proof" and "not required" in reason.lower():
                print(f"proof {what} not required (chain: {reason})", flush=True)
                s.done = True
                return
        if accepted:
            print(f"{kind} {what} height={landed}", flush=True)
            if kind == "claim":
                s.claim_height = landed if landed is not None else -1
            else:
                s.done = True
            return
        final = attempts >= TX_ATTEMPTS
        log(f"{kind} {what} refused (attempt {attempts}/{TX_ATTEMPTS}{', giving up' if final else ''}): {reason}")
        if final:
            s.done = True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except Exception as exc:  # a bug must not end claiming for good; say it and go on
                log(f"chain poll failed: {type(exc).__name__}: {exc}")
            stop.wait(max(0.0, POLL_S - (time.monotonic() - started)))


# --- relays ---------------------------------------------------------------------------------


def forward(supplier: Supplier, path: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    """POST ``body`` to the supplier's backend: (status, content type, body). OSError and
    http.client.HTTPException propagate."""
    backend = supplier.backend
    connection_class = http.client.HTTPSConnection if backend.scheme == "https" else http.client.HTTPConnection
    target = (backend.path.rstrip("/") + path) or "/"
    if backend.query:
        target += "?" + backend.query
    connection = connection_class(backend.hostname, backend.port, timeout=supplier.timeout_s)
    try:
        connection.request("POST", target, body, {"Content-Type": content_type, **supplier.headers})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", JSON_TYPE), response.read()
    finally:
        connection.close()


def ping_backend(backend: urllib.parse.SplitResult) -> tuple[str, str] | None:
    """``HEAD`` the backend URL as proxy/ping.go does: None when it answered below 500, else
    (``timeout``|``error``, why)."""
    connection_class = http.client.HTTPSConnection if backend.scheme == "https" else http.client.HTTPConnection
    target = (backend.path or "/") + (f"?{backend.query}" if backend.query else "")
    connection = connection_class(backend.hostname, backend.port, timeout=PING_TIMEOUT_S)
    try:
        connection.request("HEAD", target)
        status = connection.getresponse().status
    except (TimeoutError, socket.timeout) as exc:
        return "timeout", f"{type(exc).__name__}"
    except (OSError, http.client.HTTPException) as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    if status >= 500:
        return "error", f"received status code {status}"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 suppliers: dict[str, Supplier], metrics: Metrics, chain: Chain | None = None,
                 faults: Faults | None = None) -> None:
        self.suppliers = suppliers
        self.metrics = metrics
        self.chain = chain
        self.faults = faults
        if ":" in address[0]:  # an IPv6 listen address ([::1]:PORT in the config)
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped and reset connections are routine; anything else is a bug to show."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per relay would drown the container log."""

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: int, message: str) -> None:
        error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}}
        self._send(status, JSON_TYPE, json.dumps(error).encode())


class RelayHandler(_Handler):
    def _route(self) -> tuple[Supplier | None, str]:
        """The service a request is for, and the path to pass on to its backend."""
        suppliers = self.server.suppliers
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        named = self.headers.get(SERVICE_HEADER)
        if named:
            return suppliers.get(named), path
        first, _, rest = path.lstrip("/").partition("/")
        if first in suppliers:
            return suppliers[first], ("/" + rest) if rest else ""
        if len(suppliers) == 1:
            return next(iter(suppliers.values())), path
        return None, path

    def do_POST(self) -> None:
        service, path = self._route()
        if service is None:
            known = ", ".join(sorted(self.server.suppliers))
            self._send_error(400, f"unknown service: set the {SERVICE_HEADER} header or POST /SERVICE_ID ({known})")
            return
        sid = service.service_id
        chain, metrics = self.server.chain, self.server.metrics
        wanted = self.headers.get(SUPPLIER_HEADER, "").strip()
        supplier = chain.pick_supplier(sid, wanted) if chain is not None else UNKNOWN_SUPPLIER
        if supplier is None:
            metrics.request(sid, UNKNOWN_SUPPLIER, ok=False)
            self._send_error(400, f"the request's selected supplier {wanted[:80]!r} is not available for relaying")
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            metrics.request(sid, supplier, ok=False)
            self._send_error(411, "Content-Length required")
            return
        if int(length) > service.max_body:
            metrics.request(sid, supplier, ok=False)
            self.close_connection = True  # the body is not read
            self._send_error(413, f"request body over {service.max_body} bytes")
            return
        body = self.rfile.read(int(length))
        try:
            status, content_type, answer = forward(service, path, body, self.headers.get("Content-Type", JSON_TYPE))
        except (OSError, http.client.HTTPException) as exc:
            metrics.request(sid, supplier, ok=False)
            self._send_error(502, f"backend {shown(service.backend.geturl())} unavailable: {type(exc).__name__}: {exc}")
            return
        metrics.request(sid, supplier, ok=True)
        if status < 500 and supplier != UNKNOWN_SUPPLIER and chain is not None:  # isRewardApplicable
            faults = self.server.faults
            if faults is not None and "drop_relays" in faults.current():
                metrics.add("relayminer_relays_dropped_total", DROP_CHANNEL_FULL, sid, supplier)
            else:
                chain.record(supplier, sid)
        self._send(status, content_type, answer)


class MetricsHandler(_Handler):
    def do_GET(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/metrics":
            self._send(404, "text/plain", b"not found: see /metrics\n")
            return
        self._send(200, "text/plain; version=0.0.4", self.server.metrics.render())


class PingHandler(_Handler):
    """relayminer.go newPingHandlerFn: every backend answers -> 204, else 504 (timeout) / 502."""

    def _ping(self) -> None:
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= 1_000_000:
            self.rfile.read(int(length))
        else:
            self.close_connection = True
        failure = None
        for service in self.server.suppliers.values():
            failure = ping_backend(service.backend)
            if failure is not None:
                log(f"ping: backend {shown(service.backend.geturl())} of service {service.service_id}: {failure[1]}")
                break
        self.send_response(204 if failure is None else 504 if failure[0] == "timeout" else 502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _ping


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> tuple[str, dict[str, str], list[str]]:
    """(config path, {--home, --keyring-backend}, ignored flags) from ``relayminer start …``."""
    if list(argv[:2]) != ["relayminer", "start"]:
        raise ConfigError("usage: relayminer.py relayminer start --config FILE [--home H] [flags ignored]")
    values: dict[str, str] = {}
    ignored = []
    rest = list(argv[2:])
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in ("--config", "--home", "--keyring-backend"):
            if not eq:
                if not rest:
                    raise ConfigError(f"{name} needs a value")
                value = rest.pop(0)
            values[name] = value
        else:
            ignored.append(arg)
    if not values.get("--config"):
        raise ConfigError("--config FILE is required")
    return values["--config"], values, ignored


def main(argv: Sequence[str] | None = None) -> int:
    try:
        path, flags, ignored = parse_args(sys.argv[1:] if argv is None else argv)
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
        if not isinstance(config, dict):
            raise ConfigError(f"{path}: not a YAML mapping")
        suppliers = load_suppliers(config)
        urls = node_urls(config)
        metrics_config = config.get("metrics") or {}
        metrics_addr = parse_addr(metrics_config.get("addr") or ":9090") if metrics_config.get("enabled") else None
        ping_config = config.get("ping") or {}
        ping_addr = None
        if ping_config.get("enabled"):
            if not ping_config.get("addr"):
                raise ConfigError("ping.addr: required when ping.enabled (HOST:PORT or :PORT)")
            ping_addr = parse_addr(ping_config["addr"], "ping.addr")
    except (ConfigError, OSError, yaml.YAMLError) as exc:
        print(f"relayminer: {exc}", file=sys.stderr)
        return 2
    if ignored:
        log(f"stand-in ignores: {' '.join(ignored)}")
    backend = flags.get("--keyring-backend", "test")
    home = Path(flags.get("--home") or Path(os.environ.get("HOME", "/root")) / ".pocket").expanduser()
    keys_by_service: dict[str, tuple[str, ...]] = {}
    for supplier in suppliers:
        keys_by_service[supplier.service_id] = tuple(dict.fromkeys(keys_by_service.get(supplier.service_id, ())
                                                                    + supplier.key_names))
    if backend != "test":
        log(f"--keyring-backend {backend}: the stand-in reads the test backend only; no key address is known")
        keys_by_service = {sid: tuple(n for n in names if ADDRESS_RE.fullmatch(n)) for sid, names in keys_by_service.items()}

    metrics = Metrics(sorted({s.service_id for s in suppliers}))
    faults = Faults(os.environ.get(CONTROL_FILE_ENV) or DEFAULT_CONTROL_FILE)
    chain = Chain(urls, rest_url(urls), home, keys_by_service, metrics, faults)
    by_listener: dict[tuple[str, int], dict[str, Supplier]] = {}
    for supplier in suppliers:
        by_listener.setdefault(supplier.listen, {})[supplier.service_id] = supplier
    every_service = {s.service_id: s for s in suppliers}
    servers: list[_Server] = []
    try:
        for address, routes in by_listener.items():
            servers.append(_Server(address, RelayHandler, routes, metrics, chain, faults))
        if metrics_addr:
            servers.append(_Server(metrics_addr, MetricsHandler, {}, metrics))
        if ping_addr:
            servers.append(_Server(ping_addr, PingHandler, every_service, metrics))
    except OSError as exc:
        print(f"relayminer: cannot listen: {exc}", file=sys.stderr)
        for server in servers:
            server.server_close()
        return 1
    stop = threading.Event()
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    threading.Thread(target=chain.run, args=(stop,), name="relayminer-chain", daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    relays = ",".join(f"http://{host}:{port}" for host, port in by_listener)
    shown_metrics = f"{metrics_addr[0]}:{metrics_addr[1]}" if metrics_addr else "off"
    shown_ping = f"{ping_addr[0]}:{ping_addr[1]}" if ping_addr else "off"
    print(f"ready relays={relays} metrics={shown_metrics} ping={shown_ping}", flush=True)
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
