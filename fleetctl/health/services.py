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

Every value read is parsed strictly (:mod:`fleetctl.health.values`); an answer that arrives
but makes no sense is UNKNOWN with the field named, never OK and never a crash: a CometBFT
height that is not a decimal string (CometBFT encodes int64 as strings) or beyond
:data:`~fleetctl.health.values.MAX_BLOCK`, a ``catching_up`` that is not a boolean, a Morse
height that is not a JSON integer, a node ``pocket_lag_critical`` or more blocks *beyond* the
network, RelayMiner counters that are not finite counts. A stats page that is not HAProxy's CSV
(no ``pxname``/``svname``/``status`` columns, broken quoting, a field beyond the csv module's
limit) is "stats unreadable" (CRITICAL: relays cannot be verified to flow).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fleetctl.health.execution import Http, RpcFailure
from fleetctl.health.values import BadValue, decimal_height, json_count, one_line
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


#: At most this many servers are read from one backend (HAProxy's own limit is far below).
MAX_SERVERS = 10_000


def parse_haproxy_csv(text: str, backend: str) -> list[ServerState] | None:
    """The servers of ``backend`` in a ``/stats;csv`` page; None if the backend is not there.
    ValueError (one line) for a page that is not HAProxy's CSV."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("not an HAProxy stats CSV")
    header = [h.strip() for h in lines[0][2:].split(",")]
    if "pxname" not in header or "svname" not in header or "status" not in header:
        raise ValueError("not an HAProxy stats CSV (no pxname, svname and status columns)")
    try:
        reader = csv.DictReader(io.StringIO("\n".join(lines[1:]).replace("\0", "")), fieldnames=header)
        servers: list[ServerState] = []
        found = False
        for row in reader:
            if row.get("pxname") != backend:
                continue
            found = True
            name = row.get("svname")
            if name in ("FRONTEND", "BACKEND"):
                continue
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"a server of {backend} without a name")
            status = row.get("status")
            if not isinstance(status, str):
                raise ValueError(f"server {one_line(name, 40)}: no status column")
            check = row.get("check_status")
            servers.append(ServerState(one_line(name, 80), one_line(status.strip(), 40),
                                       one_line(check.strip(), 40) if isinstance(check, str) else ""))
            if len(servers) > MAX_SERVERS:
                raise ValueError(f"more than {MAX_SERVERS:,} servers in {backend}")
    except csv.Error as exc:
        raise ValueError(f"not an HAProxy stats CSV ({one_line(str(exc), 80)})") from None
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
    invalid: bool = False  # it answered, but not with counts


async def read_relayminer(session: Http, read: RelayMinerRead, timeout: float) -> RelayMinerRead:
    try:
        raw = await _get(session, read.url, timeout)
    except RpcFailure as exc:
        read.error = f"metrics unreachable: {exc}"
        return read
    read.totals, problems = parse_relayminer_metrics(raw.decode(errors="replace"))
    if problems:
        read.error = "metrics unreadable: " + "; ".join(problems)
        read.invalid = True
    elif not read.totals:
        read.error = "metrics endpoint answers without relayminer_ series"
    return read


#: The counters the check reports: each must be a finite count.
_COUNTERS = ("relayminer_requests_total", "relayminer_requests_errors_total")


def parse_relayminer_metrics(text: str) -> tuple[dict[str, float], list[str]]:
    """(sum of each ``relayminer_`` series over its labels, problems) of a Prometheus text page.
    The counters the check reports must be finite and not negative; other series are summed as
    they are (a summary's NaN is legitimate)."""
    totals: dict[str, float] = {}
    problems: list[str] = []
    for line in text.splitlines():
        m = _METRIC_LINE.match(line)
        if not m:
            continue
        name = m.group(1)
        try:
            value = float(m.group(3))
        except ValueError:
            if name in _COUNTERS:
                problems.append(f"{name}: not a number ({one_line(m.group(3), 24)})")
            continue
        if name in _COUNTERS and not (math.isfinite(value) and 0 <= value <= 1e18):
            problems.append(f"{name}: not a count ({one_line(m.group(3), 24)})")
            continue
        totals[name] = totals.get(name, 0.0) + value
    for name in _COUNTERS:
        if name in totals and not (math.isfinite(totals[name]) and totals[name] <= 1e18):
            problems.append(f"{name}: not a count (sum {totals[name]:g})")
    return totals, list(dict.fromkeys(problems))[:3]


def judge_relayminer(read: RelayMinerRead) -> tuple[Level, str, dict[str, float]]:
    if read.error is not None:
        if read.invalid:  # it answered, with values no RelayMiner reports
            return Level.UNKNOWN, read.error, {"up": 1.0}
        return Level.CRITICAL, read.error, {"up": 0.0}
    relays = read.totals.get("relayminer_requests_total", 0.0)
    errors = read.totals.get("relayminer_requests_errors_total", 0.0)
    return Level.OK, f"metrics up; {relays:,.0f} relays served, {errors:,.0f} errors", {
        "up": 1.0, "relays_total": relays, "relay_errors_total": errors}


# ----------------------------------------------------------------------------- Pocket nodes


def comet_url(node_rpc_url: str) -> str:
    """``tcp://h:26657`` (how Cosmos configs name it) → ``http://h:26657``; a query string (an
    access token, say) is kept, so requests made with :func:`with_path` carry it."""
    parts = urlsplit(node_rpc_url)
    scheme = "https" if parts.scheme == "https" else "http"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{query}"


def with_path(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` appended to its path, its query string kept after it."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{suffix}{query}"


@dataclass
class PocketNodeRead:
    target: str
    url: str
    height: int | None = None
    catching_up: bool = False
    error: str | None = None
    invalid: bool = False  # it answered, with values that make no sense


def parse_comet_status(body: Any) -> tuple[int, bool]:
    """(height, catching_up) of a CometBFT RPC ``/status`` reply (JSON-RPC envelope,
    ``result.sync_info.latest_block_height`` a decimal string, ``catching_up`` a boolean);
    BadValue with the field named."""
    result = body.get("result") if isinstance(body, dict) else None
    sync = result.get("sync_info") if isinstance(result, dict) else None
    if not isinstance(sync, dict):
        raise BadValue("/status is not a CometBFT status reply (no result.sync_info)")
    height = decimal_height(sync.get("latest_block_height"), "sync_info.latest_block_height")
    catching_up = sync.get("catching_up")
    if not isinstance(catching_up, bool):
        raise BadValue(f"sync_info.catching_up: not a boolean ({one_line(catching_up, 24)})")
    return height, catching_up


def parse_morse_height(body: Any) -> int:
    """The height of a pocket-core ``/v1/query/height`` reply ``{"height": N}``; BadValue."""
    if not isinstance(body, dict) or "height" not in body:
        raise BadValue("/v1/query/height is not a height reply")
    return json_count(body["height"], "height")


async def read_comet_height(session: Http, read: PocketNodeRead, timeout: float) -> PocketNodeRead:
    """CometBFT RPC ``GET /status``: ``result.sync_info.latest_block_height`` and ``catching_up``."""
    try:
        raw = await _get(session, with_path(read.url, "/status"), timeout)
        read.height, read.catching_up = parse_comet_status(json.loads(raw))
    except RpcFailure as exc:
        read.error = str(exc)
    except BadValue as exc:
        read.error, read.invalid = str(exc), True
    except (ValueError, RecursionError):
        read.error = "/status is not a CometBFT status reply (not JSON)"
    return read


async def read_morse_height(session: Http, read: PocketNodeRead, timeout: float) -> PocketNodeRead:
    """pocket-core RPC ``POST /v1/query/height`` → ``{"height": N}``."""
    try:
        raw = await _get(session, with_path(read.url, "/v1/query/height"), timeout, method="POST", body={})
        read.height = parse_morse_height(json.loads(raw))
    except RpcFailure as exc:
        read.error = str(exc)
    except BadValue as exc:
        read.error, read.invalid = str(exc), True
    except (ValueError, RecursionError):
        read.error = "/v1/query/height is not a height reply (not JSON)"
    return read


def judge_pocket_node(read: PocketNodeRead, network_height: int | None, *, lag_warning: int,
                      lag_critical: int) -> tuple[Level, str, dict[str, float]]:
    if read.error is not None:
        if read.invalid:
            return Level.UNKNOWN, read.error, {"up": 1.0}
        return Level.CRITICAL, f"unreachable: {read.error}", {"up": 0.0}
    if read.height is None:
        return Level.UNKNOWN, "no height read", {}
    values = {"up": 1.0, "height": float(read.height)}
    if network_height is None:
        return Level.UNKNOWN, f"height {read.height:,}; the network's height could not be read", values
    if read.height - network_height >= max(lag_critical, 1):
        return (Level.UNKNOWN, f"height {read.height:,} is {read.height - network_height:,} beyond the network's "
                f"({network_height:,}): implausible", values)
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
