"""Balancers (HAProxy), RelayMiners and Pocket nodes: reading them, and their levels.

* A balancer is read from its HAProxy stats page as CSV (``http://HOST:STATS_PORT/stats;csv``,
  the ``listen stats`` section the balancer role writes). Every server of the chain's backend
  ``<chain>-nodes`` is UP, DOWN, MAINT (taken out by an operator or by ``--remediate``), DRAIN,
  NOLB or in transition (``UP 1/2``, ``DOWN 1/2``). No server up: CRITICAL (relays fail); some
  down, or a single server left where there were more: WARNING; stats unreachable: CRITICAL.
* A RelayMiner's metrics endpoint (``http://HOST:9090/metrics``) must answer Prometheus text
  with its ``relayminer_`` series: unreachable or without them, CRITICAL. Beyond reachable
  (:func:`assess_relayminer`): its error and dropped-relay ratios between runs, the block height
  it sees (behind the Pocket node, or stalled while the chain moves) and its ping server.
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

import io
import json
import math
import re
import time
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

from fleetctl.core.records import record
from fleetctl.health.execution import Http, RpcFailure
from fleetctl.health.values import MAX_BLOCK, BadValue, decimal_height, json_count, one_line
from fleetctl.core.levels import Level

__all__ = [
    "BalancerRead",
    "ServerState",
    "comet_url",
    "judge_balancer",
    "judge_pocket_node",
    "RelayMinerLimits",
    "RelayMinerState",
    "assess_relayminer",
    "judge_relayminer",
    "parse_haproxy_csv",
    "read_comet_height",
    "read_haproxy",
    "read_morse_height",
    "read_relayminer",
]

_METRIC_LINE = re.compile(r"^(relayminer_[a-z_]+)(\{[^}]*\})?\s+([+-]?Inf|NaN|[0-9.eE+-]+)")


async def _get(http: Http, url: str, timeout: float, *, method: str = "GET", body: Any = None) -> bytes:
    """One request, its body on HTTP 200; RpcFailure with a one-line reason otherwise."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else None
    status, raw, _ = await http.fetch(method, url, timeout, data, headers)
    if status != 200:
        raise RpcFailure(f"HTTP {status}")
    return raw


# ----------------------------------------------------------------------------- balancers


@record(frozen=True)
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


@record
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
    import csv  # only where a balancer is read

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

#: The RelayMiner's own series, as poktroll names them (pkg/relayer/metrics.go: Subsystem
#: ``relayminer``, no namespace): relays served (labels service_id, supplier_operator_address),
#: relay errors (service_id), relays served but dropped from the mining pipeline, i.e. never
#: claimed (service_id, supplier_operator_address, reason), and the block height its block
#: client last saw (a gauge without labels, set on every new block).
RM_REQUESTS = "relayminer_requests_total"
RM_ERRORS = "relayminer_requests_errors_total"
RM_DROPPED = "relayminer_relays_dropped_total"
RM_HEIGHT = "relayminer_block_height_current"
#: A ratio is judged over at least this many relays (2 errors of 3 relays say nothing).
MIN_RELAYS_FOR_RATIO = 20


@record
class RelayMinerRead:
    host: str
    url: str
    error: str | None = None
    totals: dict[str, float] = field(default_factory=dict)
    invalid: bool = False  # it answered, but not with counts
    #: the ping server (``ping: {enabled, addr}`` of its config); None: not read
    ping_url: str | None = None
    ping_status: int | None = None
    ping_error: str | None = None

    @property
    def height(self) -> int | None:
        h = self.totals.get(RM_HEIGHT)
        return None if h is None else int(h)


async def read_relayminer(session: Http, read: RelayMinerRead, timeout: float) -> RelayMinerRead:
    if read.ping_url is not None:
        await read_ping(session, read, timeout)
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


async def read_ping(session: Http, read: RelayMinerRead, timeout: float) -> None:
    """The RelayMiner's ping server (poktroll pkg/relayer/relayminer.go ``newPingHandlerFn``:
    every path, ``GET`` included; it dials every backend URL it serves: 204 when all answer,
    504 for a temporary network error, 502 otherwise)."""
    assert read.ping_url is not None
    try:
        status, _, _ = await session.fetch("GET", read.ping_url, timeout, None, None)
    except RpcFailure as exc:
        read.ping_error = str(exc)
        return
    read.ping_status = status


#: The counters the check reports: each must be a finite count.
_COUNTERS = (RM_REQUESTS, RM_ERRORS, RM_DROPPED)


def parse_relayminer_metrics(text: str) -> tuple[dict[str, float], list[str]]:
    """(sum of each ``relayminer_`` series over its labels, problems) of a Prometheus text page.
    The counters the check reports must be finite and not negative; the block height a whole
    number within :data:`~fleetctl.health.values.MAX_BLOCK` (the highest series, not a sum);
    other series are summed as they are (a summary's NaN is legitimate)."""
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
            if name in _COUNTERS or name == RM_HEIGHT:
                problems.append(f"{name}: not a number ({one_line(m.group(3), 24)})")
            continue
        if name in _COUNTERS and not (math.isfinite(value) and 0 <= value <= 1e18):
            problems.append(f"{name}: not a count ({one_line(m.group(3), 24)})")
            continue
        if name == RM_HEIGHT:
            if not (math.isfinite(value) and value.is_integer() and 0 <= value <= MAX_BLOCK):
                problems.append(f"{name}: not a block height ({one_line(m.group(3), 24)})")
                continue
            totals[name] = max(totals.get(name, 0.0), value)
            continue
        totals[name] = totals.get(name, 0.0) + value
    for name in _COUNTERS:
        if name in totals and not (math.isfinite(totals[name]) and totals[name] <= 1e18):
            problems.append(f"{name}: not a count (sum {totals[name]:g})")
    return totals, list(dict.fromkeys(problems))[:3]


@record(frozen=True)
class RelayMinerState:
    """What the previous run saw of one RelayMiner (kept beside the state store): its counters,
    its block height and since when it has shown that height (unix seconds)."""

    at: float
    requests: float
    errors: float
    dropped: float
    height: int | None = None
    height_since: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "requests": self.requests, "errors": self.errors, "dropped": self.dropped,
                "height": self.height, "height_since": self.height_since}

    @classmethod
    def from_json(cls, obj: Any) -> "RelayMinerState | None":
        """The state of a JSON object; None for anything of another shape (a local file, but
        one any process may have written: never trusted blindly)."""
        if not isinstance(obj, dict):
            return None

        def num(key: str, *, optional: bool = False, maximum: float = 1e18) -> float | None:
            v = obj.get(key)
            if v is None and optional:
                return None
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v <= maximum:
                raise ValueError(key)
            return float(v)

        try:
            height = num("height", optional=True, maximum=MAX_BLOCK)
            since = num("height_since", optional=True, maximum=1e11)
            if height is not None and not height.is_integer():
                return None
            return cls(at=num("at", maximum=1e11) or 0.0, requests=num("requests") or 0.0,
                       errors=num("errors") or 0.0, dropped=num("dropped") or 0.0,
                       height=None if height is None else int(height),
                       height_since=since if height is not None else None)
        except ValueError:
            return None


@record(frozen=True)
class RelayMinerLimits:
    """The thresholds of the RelayMiner check (fleet.yml ``health:``; see HealthPolicy)."""

    error_warning: float = 0.05  # share of relays that failed, between runs
    error_critical: float = 0.25
    dropped_warning: float = 0.01  # share of relays served but never claimed
    dropped_critical: float = 0.10
    stall_warning_s: float = 300.0  # block height unchanged this long while the chain moved
    stall_critical_s: float = 900.0
    lag_warning: int = 5  # blocks behind the Pocket node the health run reads
    lag_critical: int = 20

    @classmethod
    def of(cls, policy: Any) -> "RelayMinerLimits":
        d = cls()
        return cls(**{k: getattr(policy, f"relayminer_{k}", getattr(d, k)) for k in (
            "error_warning", "error_critical", "dropped_warning", "dropped_critical", "stall_warning_s",
            "stall_critical_s")}, lag_warning=getattr(policy, "pocket_lag_warning", d.lag_warning),
            lag_critical=getattr(policy, "pocket_lag_critical", d.lag_critical))


#: The RelayMiners' previous readings live beside the state store, in this file.
STATE_SUFFIX = ".relayminers.json"
MAX_STATE_BYTES = 8 * 2**20


def state_path(db: Any) -> Any:
    return db.with_name(db.name + STATE_SUFFIX)


def load_states(path: Any, notes: list[str] | None = None) -> dict[str, RelayMinerState]:
    """The previous readings by RelayMiner; a file of another shape is ignored (one note) and a
    single entry of another shape is dropped (that RelayMiner starts afresh)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_STATE_BYTES + 1)
    except OSError:
        return {}
    try:
        if len(raw) > MAX_STATE_BYTES:
            raise ValueError(f"larger than {MAX_STATE_BYTES // 2**20} MiB")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError) as exc:
        if notes is not None:
            notes.append(f"health: RelayMiner readings {path} ignored ({one_line(str(exc), 120)}); "
                         "rates and stalls start afresh")
        return {}
    out = {}
    for name, entry in data.items():
        state = RelayMinerState.from_json(entry)
        if state is not None:
            out[name] = state
    return out


def save_states(path: Any, states: dict[str, RelayMinerState]) -> None:
    """Atomically (temp file + rename: overlapping runs, the last writer wins)."""
    from fleetctl.core.atomic import write_json

    # not written: the next run judges rates over the counters' whole window
    write_json(path, {k: v.as_json() for k, v in states.items()})


def _duration_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def judge_relayminer(read: RelayMinerRead, *, limits: RelayMinerLimits | None = None,
                     previous: RelayMinerState | None = None, node_height: int | None = None,
                     now: float | None = None) -> tuple[Level, str, dict[str, float]]:
    """Level, message and values of one RelayMiner (see :func:`assess_relayminer`)."""
    level, message, values, _ = assess_relayminer(read, limits=limits, previous=previous,
                                                  node_height=node_height, now=now)
    return level, message, values


def assess_relayminer(read: RelayMinerRead, *, limits: RelayMinerLimits | None = None,
                      previous: RelayMinerState | None = None, node_height: int | None = None,
                      now: float | None = None
                      ) -> tuple[Level, str, dict[str, float], RelayMinerState | None]:
    """(level, message, values, state to keep for the next run) of one RelayMiner.

    * metrics unreachable: CRITICAL; unreadable (counters that are not counts): UNKNOWN;
    * error ratio (``requests_errors_total`` over ``requests_total``) and dropped ratio
      (``relays_dropped_total`` over ``requests_total``) between this run and the previous one
      (or over the counters' whole window when there is no previous run or the RelayMiner
      restarted, its counters lower than before), judged over at least
      :data:`MIN_RELAYS_FOR_RATIO` relays against the policy's thresholds;
    * the block height it sees: behind the Pocket node the run reads by ``pocket_lag_*``, or
      unchanged for ``relayminer_stall_*`` while the node is ahead (or unknown);
    * its ping server (when read): 502/504 (a backend it serves does not answer) CRITICAL, any
      other answer than 2xx or no answer WARNING.
    """
    lim = limits or RelayMinerLimits()
    now = time.time() if now is None else now
    if read.error is not None:
        if read.invalid:  # it answered, with values no RelayMiner reports
            return Level.UNKNOWN, read.error, {"up": 1.0}, previous
        return Level.CRITICAL, read.error, {"up": 0.0}, previous
    relays = read.totals.get(RM_REQUESTS, 0.0)
    errors = read.totals.get(RM_ERRORS, 0.0)
    dropped = read.totals.get(RM_DROPPED, 0.0)
    height = read.height
    values: dict[str, float] = {"up": 1.0, "relays_total": relays, "relay_errors_total": errors,
                                "relays_dropped_total": dropped}
    found: list[tuple[Level, str]] = []
    parts = [f"metrics up; {relays:,.0f} relays served, {errors:,.0f} errors"]
    if dropped:
        parts[0] += f", {dropped:,.0f} dropped"

    # ---- error and drop ratios over the window since the previous run (or since it started)
    if previous is not None and previous.at < now and relays >= previous.requests and errors >= previous.errors \
            and dropped >= previous.dropped:
        d_req, d_err, d_drop = relays - previous.requests, errors - previous.errors, dropped - previous.dropped
        window = f"in the last {_duration_text(now - previous.at)}"
    else:
        d_req, d_err, d_drop = relays, errors, dropped
        window = "since it started" if previous is None else "since it restarted"
    base = max(d_req, d_err)
    if base >= MIN_RELAYS_FOR_RATIO:
        err_ratio = min(1.0, d_err / base)
        drop_base = max(d_req, d_drop)
        drop_ratio = min(1.0, d_drop / drop_base) if drop_base > 0 else 0.0
        values["error_ratio"] = err_ratio
        values["dropped_ratio"] = drop_ratio
        for ratio, what, num, den, warn, crit in (
                (err_ratio, "errors", d_err, base, lim.error_warning, lim.error_critical),
                (drop_ratio, "dropped (served, never claimed)", d_drop, drop_base, lim.dropped_warning,
                 lim.dropped_critical)):
            level = Level.CRITICAL if ratio >= crit else Level.WARNING if ratio >= warn else Level.OK
            if level is not Level.OK:
                limit = crit if level is Level.CRITICAL else warn
                found.append((level, f"{100 * ratio:.1f}% of relays {what} {window} "
                                     f"({num:,.0f} of {den:,.0f}; "
                                     f"{level.name} at {100 * limit:g}%)"))
    elif base > 0 or previous is not None:
        parts.append(f"{base:,.0f} relays {window}: too few to judge error and drop rates")

    # ---- the block height it sees
    since: float | None = None
    if height is None:
        parts.append(f"no {RM_HEIGHT} series: its block height is not judged")
    else:
        values["block_height"] = float(height)
        if previous is not None and previous.height == height and previous.height_since is not None:
            since = min(previous.height_since, now)
        else:
            since = now
        stalled = now - since
        values["height_unchanged_seconds"] = float(stalled)
        text = f"block height {height:,}"
        if node_height is not None:
            lag = node_height - height
            if lag > 0:
                values["lag_blocks"] = float(lag)
            if lag >= lim.lag_critical:
                found.append((Level.CRITICAL, f"block height {height:,} is {lag:,} behind its Pocket node "
                                              f"({node_height:,})"))
            elif lag >= lim.lag_warning:
                found.append((Level.WARNING, f"block height {height:,} is {lag:,} behind its Pocket node "
                                             f"({node_height:,})"))
            else:
                text += f" (Pocket node {node_height:,})"
        chain_moved = node_height is None or node_height > height
        if chain_moved and stalled >= lim.stall_warning_s:
            level = Level.CRITICAL if stalled >= lim.stall_critical_s else Level.WARNING
            found.append((level, f"block height stalled at {height:,} for {_duration_text(stalled)}"
                                 + ("" if node_height is None else f" while its Pocket node is at {node_height:,}")))
        parts.append(text)

    # ---- its ping server
    if read.ping_url is not None:
        if read.ping_error is not None:
            values["ping_up"] = 0.0
            found.append((Level.WARNING, f"ping server unreachable: {one_line(read.ping_error, 120)}"))
        elif read.ping_status is not None and 200 <= read.ping_status < 300:
            values["ping_up"] = 1.0
            parts.append("ping OK")
        else:
            values["ping_up"] = 0.0
            if read.ping_status in (502, 504):
                found.append((Level.CRITICAL, f"ping: HTTP {read.ping_status} (a backend it serves does not answer)"))
            else:
                found.append((Level.WARNING, f"ping: HTTP {read.ping_status} (its ping server answers 204)"))

    state = RelayMinerState(at=now, requests=relays, errors=errors, dropped=dropped, height=height,
                            height_since=since)
    found.sort(key=lambda item: -item[0].severity)
    level = found[0][0] if found else Level.OK
    message = "; ".join([t for _, t in found] + parts)
    return level, message, values, state


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


@record
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
