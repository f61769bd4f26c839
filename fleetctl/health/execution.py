"""Execution clients (JSON-RPC): probing them, and judging each against the rest of its chain.

Probing is two round trips per endpoint, both bounded by the per-check timeout:

1. one JSON-RPC batch ``[web3_clientVersion, eth_syncing, eth_blockNumber, net_peerCount]``;
2. once every endpoint of the chain has answered (or failed) step 1, ``eth_getBlockByNumber``
   at the chain's common height ``H`` (see :func:`judge_chain`), for the block hash.

An endpoint that fails step 1 is not asked again: a hanging endpoint costs one timeout.

Judging a chain (:func:`judge_chain`) is pure and works on what was read:

* **reference head**: the highest block that a majority of the answering, not-syncing
  endpoints have reached (the ceil(n/2)-th highest head), so one node racing ahead or several
  lagging cannot move it. ``lag = reference - head``; WARNING from ``lag_warning`` blocks,
  CRITICAL from ``lag_critical``.
* **hash agreement** at ``H = reference - hash_depth`` (a little below the tip, where healthy
  nodes agree): endpoints are grouped by the hash they report; the group backed by the most
  distinct client implementations (then the most endpoints) is the majority if it is strictly
  ahead of every other group. Every endpoint outside it is **DIVERGED** (CRITICAL): it serves
  another chain (the Geth bug of 11 Nov 2020 is one client's minority fork). Without a strict
  majority the chain's own check is CRITICAL and no endpoint is called diverged (there is no
  telling which side is right).
* ``eth_syncing`` in progress: WARNING (and lag applies). Peers below ``min_peers``: WARNING;
  ``net_peerCount`` answered "method not found" (anvil, some proxies): unknown, not zero.
* the client and version it reports against the planned ones (``web3_clientVersion``):
  another client than planned is a WARNING (the fleet's diversity is not what it believes),
  another version than the pinned image's is a WARNING.
* unreachable, refused, timing out, HTTP errors, a body that is not JSON, or a JSON-RPC error
  for ``eth_blockNumber``: CRITICAL. Answering slower than ``slow_s``: WARNING.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetctl.pocket.base import Level

__all__ = [
    "ExecProbe",
    "ExecTarget",
    "RpcFailure",
    "judge_chain",
    "parse_client_version",
    "probe_endpoint",
    "probe_hash",
    "reference_head",
]

METHOD_NOT_FOUND = -32601
BATCH = ("web3_clientVersion", "eth_syncing", "eth_blockNumber", "net_peerCount")
_SEMVER = re.compile(r"v?(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class ExecTarget:
    """An execution endpoint to check: a provisioned node or an adopted endpoint."""

    name: str
    chain: str
    url: str
    client: str | None  # what the fleet believes runs there
    host: str | None = None
    adopted: bool = False
    planned_version: str | None = None  # from the pinned image's tag, when it has one
    planned_image: str | None = None
    image: str | None = None  # the image the container runs (provisioned nodes)
    stopped: str | None = None  # the container is not running: its docker status


class RpcFailure(Exception):
    """The endpoint gave no usable answer; ``str()`` is one line."""


@dataclass
class ExecProbe:
    target: ExecTarget
    error: str | None = None
    elapsed_s: float | None = None
    client_version: str | None = None
    syncing: Any = None  # False, or eth_syncing's object
    head: int | None = None
    peers: int | None = None
    notes: list[str] = field(default_factory=list)
    head_error: str | None = None  # eth_blockNumber answered a JSON-RPC error
    hash_height: int | None = None
    block_hash: str | None = None
    hash_error: str | None = None
    #: the sweep's deadline came before this endpoint could be asked (nothing is known of it)
    unchecked: bool = False

    @property
    def answered(self) -> bool:
        return self.error is None and self.head is not None

    @property
    def is_syncing(self) -> bool:
        return isinstance(self.syncing, dict)


def parse_client_version(text: str | None) -> tuple[str | None, str | None]:
    """``Geth/v1.17.5-stable-9621c6ad/linux-amd64/go1.26.5`` → ``("geth", "1.17.5")``.

    Geth, Nethermind, Erigon, Besu, Reth and anvil all start with ``name/version``."""
    if not text or not isinstance(text, str):
        return None, None
    parts = text.strip().split("/")
    name = parts[0].strip().lower() or None
    version = None
    if len(parts) > 1:
        m = _SEMVER.match(parts[1].strip())
        version = m.group(1) if m else None
    return name, version


def version_of_image(image: str | None) -> str | None:
    """``ethereum/client-go:v1.17.5`` (or ``…:v1.17.5@sha256:…``) → ``1.17.5``; None for a tag
    that is not a version."""
    image = (image or "").split("@", 1)[0]
    if not image or ":" not in image.rsplit("/", 1)[-1]:
        return None
    tag = image.rsplit(":", 1)[1]
    m = _SEMVER.fullmatch(tag) or _SEMVER.match(tag)
    return m.group(1) if m else None


def _quantity(value: Any) -> int | None:
    if isinstance(value, str) and value.lower().startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


def _rpc_error_text(error: Any) -> str:
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return f"{message or 'error'} ({code})" if code is not None else str(message or "error")
    return str(error)[:100]


class Http:
    """The sweep's HTTP connections (:mod:`fleetctl.httpclient`, keep-alive per endpoint) and a
    bound on the requests in flight.

    A request waits for a free slot *before* its timeout starts: a long queue (or many hanging
    endpoints holding slots) never makes a healthy endpoint look slow or time out."""

    def __init__(self, concurrency: int) -> None:
        from fleetctl.httpclient import HttpPool

        self.semaphore = asyncio.Semaphore(concurrency)
        self.pool = HttpPool(user_agent="fleetctl-health")

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, method: str, url: str, timeout: float, body: bytes | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request; RpcFailure with a one-line reason."""
        from fleetctl.httpclient import HttpError

        loop = asyncio.get_running_loop()
        async with self.semaphore:
            started = loop.time()
            try:
                async with asyncio.timeout(timeout):
                    # Health checks only read (JSON-RPC queries are POSTs): safe to send again.
                    response = await self.pool.request(method, url, body=body, headers=headers, idempotent=True)
            except TimeoutError:
                raise RpcFailure(f"no answer within {timeout:g} s") from None
            except HttpError as exc:
                raise RpcFailure(str(exc)) from None
            return response.status, response.body, loop.time() - started


_JSON = {"Content-Type": "application/json"}


async def _post(http: Http, url: str, payload: Any, timeout: float) -> tuple[Any, float]:
    """POST JSON, decode JSON; RpcFailure with a one-line reason. Returns (body, seconds)."""
    status, raw, elapsed = await http.fetch("POST", url, timeout, json.dumps(payload).encode(), _JSON)
    if status != 200:
        raise RpcFailure(f"HTTP {status}")
    try:
        return json.loads(raw), elapsed
    except (UnicodeDecodeError, ValueError):
        raise RpcFailure(f"answered a body that is not JSON ({len(raw)} bytes)") from None


async def probe_endpoint(session: Http, target: ExecTarget, timeout: float) -> ExecProbe:
    """Step 1: the batch. Falls back to single calls if the endpoint refuses batches."""
    probe = ExecProbe(target)
    batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": []} for i, m in enumerate(BATCH)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        body, elapsed = await _post(session, target.url, batch, timeout)
        answers: dict[int, Any] = {}
        if isinstance(body, list):
            answers = {item.get("id"): item for item in body if isinstance(item, dict)}
        elif isinstance(body, dict) and "error" in body and len(answers) == 0:
            # Batches refused (some proxies): the same calls one by one, in parallel, within
            # what is left of the one timeout.
            left = max(0.001, timeout - (loop.time() - started))
            singles = await asyncio.gather(*(_post(session, target.url, call, left) for call in batch),
                                           return_exceptions=True)
            for call, result in zip(batch, singles):
                if isinstance(result, RpcFailure):
                    raise result
                if isinstance(result, BaseException):
                    raise RpcFailure(str(result)[:160])
                if isinstance(result[0], dict):
                    answers[call["id"]] = result[0]
            elapsed = loop.time() - started
        else:
            raise RpcFailure("answered JSON that is not a JSON-RPC batch reply")
    except RpcFailure as exc:
        probe.error = str(exc)
        probe.elapsed_s = loop.time() - started
        return probe
    probe.elapsed_s = elapsed
    for index, method in enumerate(BATCH):
        answer = answers.get(index)
        if answer is None:
            result, error = None, {"message": "no answer in the batch"}
        else:
            result, error = answer.get("result"), answer.get("error")
        if method == "eth_blockNumber":
            if error is not None:
                probe.head_error = f"eth_blockNumber: {_rpc_error_text(error)}"
            else:
                probe.head = _quantity(result)
                if probe.head is None:
                    probe.head_error = f"eth_blockNumber: not a quantity ({str(result)[:40]})"
        elif method == "web3_clientVersion":
            if error is None and isinstance(result, str):
                probe.client_version = result
            else:
                probe.notes.append("client version unknown (web3_clientVersion failed)")
        elif method == "eth_syncing":
            if error is None and (result is False or isinstance(result, dict)):
                probe.syncing = result
            else:
                probe.notes.append("sync state unknown (eth_syncing failed)")
        elif method == "net_peerCount":
            if error is None and _quantity(result) is not None:
                probe.peers = _quantity(result)
            elif isinstance(error, dict) and error.get("code") == METHOD_NOT_FOUND:
                probe.notes.append("peers unknown (net_peerCount not served)")
            else:
                probe.notes.append("peers unknown (net_peerCount failed)")
    return probe


async def probe_hash(session: Http, probe: ExecProbe, height: int, timeout: float) -> None:
    """Step 2: the hash of block ``height`` as this endpoint serves it (into ``probe``)."""
    probe.hash_height = height
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [hex(height), False]}
    try:
        body, _ = await _post(session, probe.target.url, call, timeout)
    except RpcFailure as exc:
        probe.hash_error = str(exc)
        return
    if not isinstance(body, dict):
        probe.hash_error = "eth_getBlockByNumber: not a JSON-RPC reply"
    elif body.get("error") is not None:
        probe.hash_error = f"eth_getBlockByNumber: {_rpc_error_text(body['error'])}"
    elif not isinstance(body.get("result"), dict) or not isinstance(body["result"].get("hash"), str):
        probe.hash_error = f"block {height} unknown to it"
    else:
        probe.block_hash = body["result"]["hash"].lower()


# ----------------------------------------------------------------------------- judging


def reference_head(heads: Sequence[int]) -> int | None:
    """The highest block a majority has reached: the ceil(n/2)-th highest head."""
    if not heads:
        return None
    ordered = sorted(heads, reverse=True)
    return ordered[(len(ordered) + 1) // 2 - 1]


def compare_height(probes: Sequence[ExecProbe], hash_depth: int) -> int | None:
    """The height at which a chain's endpoints compare hashes (None: nothing to compare)."""
    heads = [p.head for p in probes if p.answered and not p.is_syncing and p.head is not None]
    ref = reference_head(heads)
    if ref is None:
        return None
    return max(0, ref - hash_depth)


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge_chain` says of one endpoint."""

    target: ExecTarget
    level: Level
    message: str
    state: str  # the worst: ok, unreachable, stopped, error, syncing, lagging, diverged, slow, mismatch, peers
    values: dict[str, float]
    facts: dict[str, Any]
    states: tuple[str, ...] = ()  # every state found, worst first

    @property
    def healthy(self) -> bool:
        """Answering, in sync, on the majority chain (what a balancer may route to)."""
        return bool(self.values.get("up")) and not ({"syncing", "lagging", "diverged"} & set(self.states))


@dataclass(frozen=True)
class ChainVerdict:
    chain: str
    level: Level
    message: str
    reference_head: int | None
    compared_height: int | None
    groups: tuple[tuple[str, int, tuple[str, ...]], ...]  # (hash, endpoints, clients)


def _majority(groups: dict[str, list[ExecProbe]]) -> str | None:
    """The hash backed by the most distinct clients, then the most endpoints, if strictly ahead."""
    def strength(members: list[ExecProbe]) -> tuple[int, int]:
        clients = {parse_client_version(p.client_version)[0] or p.target.client or p.target.name for p in members}
        return len(clients), len(members)

    ranked = sorted(groups.items(), key=lambda kv: strength(kv[1]), reverse=True)
    if not ranked:
        return None
    if len(ranked) > 1 and strength(ranked[0][1]) == strength(ranked[1][1]):
        return None
    return ranked[0][0]


def judge_chain(chain: str, probes: Sequence[ExecProbe], *, lag_warning: int, lag_critical: int,
                min_peers: int, slow_s: float) -> tuple[list[Verdict], ChainVerdict]:
    """Every endpoint's level and the chain's own (see the module docstring)."""
    heads = [p.head for p in probes if p.answered and not p.is_syncing and p.head is not None]
    ref = reference_head(heads)
    hashed = [p for p in probes if p.block_hash is not None]
    groups: dict[str, list[ExecProbe]] = {}
    for p in hashed:
        groups.setdefault(p.block_hash or "", []).append(p)
    majority = _majority(groups) if len(groups) > 1 else (next(iter(groups)) if groups else None)
    height = next((p.hash_height for p in probes if p.hash_height is not None), None)

    def short(h: str) -> str:
        return h[:10] + "…" if len(h) > 12 else h

    def describe(h: str) -> str:
        members = groups[h]
        clients = sorted({parse_client_version(p.client_version)[0] or p.target.client or "?" for p in members})
        return f"{len(members)} on {short(h)} ({', '.join(clients)})"

    verdicts: list[Verdict] = []
    for p in probes:
        t = p.target
        notes = list(p.notes)  # judging never changes the probes: the same input, the same verdicts
        found: list[tuple[Level, str, str]] = []
        values: dict[str, float] = {"up": 0.0}
        facts: dict[str, Any] = {"chain": chain, "client": t.client, "url": t.url, "host": t.host,
                                 "adopted": t.adopted}
        if t.stopped is not None:
            found.append((Level.CRITICAL, f"container not running ({t.stopped})", "stopped"))
        elif p.unchecked:
            found.append((Level.UNKNOWN, p.error or "not checked in time (the sweep's deadline)", "unchecked"))
        elif p.error is not None:
            found.append((Level.CRITICAL, p.error, "unreachable"))
        elif p.head_error is not None:
            found.append((Level.CRITICAL, p.head_error, "error"))
        if p.elapsed_s is not None:
            values["response_seconds"] = round(p.elapsed_s, 4)
        if not found:
            values["up"] = 1.0
            assert p.head is not None
            values["head_block"] = float(p.head)
            facts["head"] = p.head
            name, version = parse_client_version(p.client_version)
            facts["client_version"] = p.client_version
            facts["running_client"] = name
            facts["running_version"] = version
            if p.is_syncing:
                cur = _quantity(p.syncing.get("currentBlock"))
                top = _quantity(p.syncing.get("highestBlock"))
                progress = f"block {cur:,} of {top:,}" if cur is not None and top is not None else "in progress"
                found.append((Level.WARNING, f"syncing ({progress})", "syncing"))
                values["syncing"] = 1.0
            else:
                values["syncing"] = 0.0
            if ref is not None:
                lag = max(0, ref - p.head)
                values["lag_blocks"] = float(lag)
                facts["lag"] = lag
                if lag >= lag_critical:
                    found.append((Level.CRITICAL, f"{lag} blocks behind the chain's majority head {ref:,}", "lagging"))
                elif lag >= lag_warning:
                    found.append((Level.WARNING, f"{lag} blocks behind the chain's majority head {ref:,}", "lagging"))
            if p.block_hash is not None and majority is not None:
                diverged = p.block_hash != majority
                values["diverged"] = 1.0 if diverged else 0.0
                if diverged:
                    found.append((Level.CRITICAL, f"DIVERGED: block {height:,} is {short(p.block_hash)} here, "
                                  f"{short(majority)} on the majority ({describe(majority)})", "diverged"))
            elif p.hash_error is not None:
                facts["hash_error"] = p.hash_error
                notes.append(f"hash not compared: {p.hash_error}")
            if p.peers is not None:
                values["peers"] = float(p.peers)
                facts["peers"] = p.peers
                if p.peers < min_peers:
                    found.append((Level.WARNING, f"{p.peers} peers (fewer than {min_peers})", "peers"))
            else:
                facts["peers"] = None
            if t.client and name and name != t.client and name in ("geth", "nethermind", "erigon", "besu", "reth"):
                found.append((Level.WARNING, f"runs {name}, planned {t.client}", "mismatch"))
            if t.planned_image and t.image and t.image != t.planned_image:
                found.append((Level.WARNING, f"image {t.image}, planned {t.planned_image} (fleetctl apply)", "mismatch"))
            elif t.planned_version and version and version != t.planned_version:
                found.append((Level.WARNING, f"runs {name} {version}, planned {t.planned_version}", "mismatch"))
            if p.elapsed_s is not None and p.elapsed_s > slow_s:
                found.append((Level.WARNING, f"slow: answered in {p.elapsed_s:.2f} s", "slow"))
        found.sort(key=lambda item: -item[0].severity)
        if found:
            level = max((f[0] for f in found), key=lambda lv: lv.severity)
            state = found[0][2]
            message = "; ".join(f[1] for f in found)
        else:
            level, state = Level.OK, "ok"
            lag_text = f", {facts.get('lag', 0)} behind" if ref is not None else ""
            message = f"block {p.head:,}{lag_text}" + (f", {p.peers} peers" if p.peers is not None else "")
        if notes and level is Level.OK:
            message += "; " + "; ".join(notes)
        facts["notes"] = notes
        verdicts.append(Verdict(t, level, message, state, values, facts, tuple(f[2] for f in found)))

    described = tuple((h, len(m), tuple(sorted({parse_client_version(p.client_version)[0] or p.target.client or "?"
                                                  for p in m}))) for h, m in sorted(groups.items()))
    answered = [p for p in probes if p.answered]
    if not probes:
        chain_verdict = ChainVerdict(chain, Level.OK, "no endpoints", None, None, ())
    elif not answered and all(p.unchecked for p in probes):
        chain_verdict = ChainVerdict(chain, Level.UNKNOWN, f"none of {len(probes)} endpoints checked in time",
                                     ref, height, described)
    elif not answered:
        chain_verdict = ChainVerdict(chain, Level.CRITICAL, f"none of {len(probes)} endpoints answered", ref, height, described)
    elif len(groups) > 1 and majority is None:
        chain_verdict = ChainVerdict(chain, Level.CRITICAL, f"no majority at block {height:,}: "
                                     + ", ".join(describe(h) for h in sorted(groups)), ref, height, described)
    elif len(groups) > 1:
        minority = sum(len(m) for h, m in groups.items() if h != majority)
        chain_verdict = ChainVerdict(chain, Level.CRITICAL, f"{minority} endpoint(s) diverged at block {height:,}: "
                                     + ", ".join(describe(h) for h in sorted(groups, key=lambda h: h != majority)),
                                     ref, height, described)
    else:
        agree = f"{len(hashed)} agree on block {height:,}" if hashed and height is not None else "hashes not compared"
        up = len([v for v in verdicts if v.values.get("up")])
        level = Level.OK if up >= 1 else Level.CRITICAL
        chain_verdict = ChainVerdict(chain, level, f"{up} of {len(probes)} endpoints up, head {ref:,}; {agree}"
                                     if ref is not None else f"{up} of {len(probes)} endpoints up", ref, height, described)
    return verdicts, chain_verdict
