"""Balancers (HAProxy), RelayMiners and Pocket nodes: reading them, and their levels.

* A balancer is read from its HAProxy stats page as CSV (``http://HOST:STATS_PORT/stats;csv``,
  the ``listen stats`` section the balancer role writes). Every server of the chain's backend
  ``<chain>-nodes`` is UP, DOWN, MAINT (taken out by an operator or by ``--remediate``), DRAIN,
  NOLB or in transition (``UP 1/2``, ``DOWN 1/2``). No server up: CRITICAL (relays fail); some
  down, or a single server left where there were more: WARNING; stats unreachable: CRITICAL.
* A RelayMiner's metrics endpoint (``http://HOST:9090/metrics``) must answer Prometheus text
  with its ``relayminer_`` series: unreachable or without them, CRITICAL.
* A Pocket node's height against the network: Shannon reads the node the RelayMiners query
  (``pocket.node_rpc_url``, CometBFT RPC ``GET /status``: ``sync_info.latest_block_height``,
  ``catching_up``) against the network height (the REST gateway's latest block, which the
  stake sweep reads anyway); Morse reads each host's node (``POST /v1/query/height`` on its RPC
  port) against ``pocket.rpc_url``. Catching up or ``pocket_lag_warning`` blocks behind:
  WARNING; ``pocket_lag_critical`` behind or unreachable: CRITICAL; network height unknown:
  UNKNOWN.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fleetctl.health.execution import Http, RpcFailure
from fleetctl.pocket.base import Level

__all__ = [
    "BalancerRead",
    "ServerState",
    "comet_url",
    "judge_balancer",
    "judge_pocket_node",
    "judge_relayminer",
    "parse_haproxy_csv",
    "read_comet_height",
    "read_haproxy",
    "read_morse_height",
    "read_relayminer",
]

_METRIC_LINE = re.compile(r"^(relayminer_[a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN)")


async def _get(http: Http, url: str, timeout: float, *, method: str = "GET", body: Any = None) -> bytes:
    """One request, its body on HTTP 200; RpcFailure with a one-line reason otherwise."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else None
    status, raw, _ = await http.fetch(method, url, timeout, data, headers)
    if status != 200:
        raise RpcFailure(f"HTTP {status}")
    return raw


# ----------------------------------------------------------------------------- balancers


@dataclass(frozen=True)
class ServerState:
    name: str
    status: str  # HAProxy's: UP, DOWN, MAINT, DRAIN, NOLB, "UP 1/2", "no check"
    check: str = ""  # last check status (L7OK, L4CON, ...)

    @property
    def up(self) -> bool:
        return self.status.startswith("UP") or self.status in ("no check", "OPEN")

    @property
    def maint(self) -> bool:
        return "MAINT" in self.status

    @property
    def down(self) -> bool:
        return not self.up and not self.maint and not self.status.startswith("DRAIN") and self.status != "NOLB"


@dataclass
class BalancerRead:
    host: str
    name: str  # lb-eth
    chain: str
    stats_url: str
    servers: list[ServerState] = field(default_factory=list)
    error: str | None = None
    missing_backend: bool = False

    @property
    def target(self) -> str:
        return f"{self.host}/{self.name}"


def parse_haproxy_csv(text: str, backend: str) -> list[ServerState] | None:
    """The servers of ``backend`` in a ``/stats;csv`` page; None if the backend is not there."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("not an HAProxy stats CSV")
    reader = csv.DictReader(io.StringIO("\n".join([lines[0][2:]] + lines[1:])))
    servers: list[ServerState] = []
    found = False
    for row in reader:
        if row.get("pxname") != backend:
            continue
        found = True
        if row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        servers.append(ServerState(row.get("svname", "?"), (row.get("status") or "").strip(),
                                   (row.get("check_status") or "").strip()))
    return servers if found else None


async def read_haproxy(session: Http, read: BalancerRead, timeout: float) -> BalancerRead:
    try:
        raw = await _get(session, read.stats_url, timeout)
        servers = parse_haproxy_csv(raw.decode(errors="replace"), f"{read.chain}-nodes")
    except RpcFailure as exc:
        read.error = f"stats unreachable: {exc}"
        return read
    except ValueError as exc:
        read.error = f"stats unreadable: {exc}"
        return read
    if servers is None:
        read.missing_backend = True
    else:
        read.servers = servers
    return read


def judge_balancer(read: BalancerRead, pulled: set[str] | None = None) -> tuple[Level, str, dict[str, float]]:
    """Level, message and values of one balancer (``pulled``: servers fleetctl took out)."""
    pulled = pulled or set()
    if read.error is not None:
        return Level.CRITICAL, read.error, {"up": 0.0}
    if read.missing_backend:
        return Level.UNKNOWN, f"backend {read.chain}-nodes is not in its stats", {"up": 1.0}
    up = [s for s in read.servers if s.up]
    down = [s for s in read.servers if s.down]
    maint = [s for s in read.servers if s.maint]
    other = [s for s in read.servers if not s.up and not s.down and not s.maint]
    values = {"up": 1.0, "backends_total": float(len(read.servers)), "backends_up": float(len(up)),
              "backends_down": float(len(down)), "backends_maint": float(len(maint))}
    parts = [f"{len(up)} of {len(read.servers)} backends up"]
    if down:
        parts.append("down: " + ", ".join(f"{s.name} ({s.status if '/' in s.status else s.check or s.status})"
                                          for s in down))
    ours = [s.name for s in maint if s.name in pulled]
    theirs = [s.name for s in maint if s.name not in pulled]
    if ours:
        parts.append("pulled by fleetctl: " + ", ".join(ours))
    if theirs:
        parts.append("in maintenance: " + ", ".join(theirs))
    if other:
        parts.append(", ".join(f"{s.name} {s.status}" for s in other))
    message = "; ".join(parts)
    if not read.servers or not up:
        return Level.CRITICAL, ("no backend up; " if read.servers else "no backends; ") + message, values
    if down or (len(up) == 1 and len(read.servers) > 1):
        return Level.WARNING, message, values
    return Level.OK, message, values


# ----------------------------------------------------------------------------- RelayMiner


@dataclass
class RelayMinerRead:
    host: str
    url: str
    error: str | None = None
    totals: dict[str, float] = field(default_factory=dict)


async def read_relayminer(session: Http, read: RelayMinerRead, timeout: float) -> RelayMinerRead:
    try:
        raw = await _get(session, read.url, timeout)
    except RpcFailure as exc:
        read.error = f"metrics unreachable: {exc}"
        return read
    totals: dict[str, float] = {}
    for line in raw.decode(errors="replace").splitlines():
        m = _METRIC_LINE.match(line)
        if m:
            try:
                totals[m.group(1)] = totals.get(m.group(1), 0.0) + float(m.group(3))
            except ValueError:
                continue
    if not totals:
        read.error = "metrics endpoint answers without relayminer_ series"
    read.totals = totals
    return read


def judge_relayminer(read: RelayMinerRead) -> tuple[Level, str, dict[str, float]]:
    if read.error is not None:
        return Level.CRITICAL, read.error, {"up": 0.0}
    relays = read.totals.get("relayminer_requests_total", 0.0)
    errors = read.totals.get("relayminer_requests_errors_total", 0.0)
    return Level.OK, f"metrics up; {relays:,.0f} relays served, {errors:,.0f} errors", {
        "up": 1.0, "relays_total": relays, "relay_errors_total": errors}


# ----------------------------------------------------------------------------- Pocket nodes


def comet_url(node_rpc_url: str) -> str:
    """``tcp://h:26657`` (how Cosmos configs name it) → ``http://h:26657``."""
    parts = urlsplit(node_rpc_url)
    scheme = "https" if parts.scheme == "https" else "http"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass
class PocketNodeRead:
    target: str
    url: str
    height: int | None = None
    catching_up: bool = False
    error: str | None = None


async def read_comet_height(session: Http, read: PocketNodeRead, timeout: float) -> PocketNodeRead:
    """CometBFT RPC ``GET /status``: ``result.sync_info.latest_block_height`` and ``catching_up``."""
    try:
        raw = await _get(session, read.url + "/status", timeout)
        body = json.loads(raw)
        sync = body["result"]["sync_info"]
        read.height = int(sync["latest_block_height"])
        read.catching_up = bool(sync.get("catching_up"))
    except RpcFailure as exc:
        read.error = str(exc)
    except (ValueError, KeyError, TypeError):
        read.error = "/status is not a CometBFT status reply"
    return read


async def read_morse_height(session: Http, read: PocketNodeRead, timeout: float) -> PocketNodeRead:
    """pocket-core RPC ``POST /v1/query/height`` → ``{"height": N}``."""
    try:
        raw = await _get(session, read.url + "/v1/query/height", timeout, method="POST", body={})
        read.height = int(json.loads(raw)["height"])
    except RpcFailure as exc:
        read.error = str(exc)
    except (ValueError, KeyError, TypeError):
        read.error = "/v1/query/height is not a height reply"
    return read


def judge_pocket_node(read: PocketNodeRead, network_height: int | None, *, lag_warning: int,
                      lag_critical: int) -> tuple[Level, str, dict[str, float]]:
    if read.error is not None:
        return Level.CRITICAL, f"unreachable: {read.error}", {"up": 0.0}
    assert read.height is not None
    values = {"up": 1.0, "height": float(read.height)}
    if network_height is None:
        return Level.UNKNOWN, f"height {read.height:,}; the network's height could not be read", values
    lag = max(0, network_height - read.height)
    values["lag_blocks"] = float(lag)
    text = f"height {read.height:,}, {lag} behind the network ({network_height:,})"
    if lag >= lag_critical:
        return Level.CRITICAL, text, values
    if read.catching_up:
        return Level.WARNING, text + "; catching up", values
    if lag >= lag_warning:
        return Level.WARNING, text, values
    return Level.OK, text, values
