"""Execution clients (JSON-RPC): probing them, and judging each against the rest of its chain.

Probing is two round trips per endpoint, both bounded by the per-check timeout:

1. one JSON-RPC batch ``[web3_clientVersion, eth_syncing, eth_blockNumber, net_peerCount]``;
2. once every endpoint of the chain has answered (or failed) step 1, ``eth_getBlockByNumber``
   at the chain's common height ``H`` (see :func:`judge_chain`), for the block hash.

Step 2 is one round trip more for every endpoint, after the slowest answers step 1. When the
sweep can predict ``H`` (from the block the last run compared, its timestamp and the chain's
block time: :mod:`fleetctl.health.heads`), the batch of step 1 also asks ``eth_getBlockByNumber`` at the
predicted height. If ``H`` turns out to be that height and the answer is a block, step 2 takes
it as its answer (the same call, the same reading, made a few milliseconds earlier); otherwise
step 2 asks as it always does. A wrong prediction costs one block read, never a different
verdict.

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

What an operator may believe (every answer is parsed by :mod:`fleetctl.health.values`):

* a value that is not what the protocol says (``0x3_e8``, ``0x01``, a number instead of a hex
  string, a head or peer count beyond :data:`~fleetctl.health.values.MAX_BLOCK` /
  ``MAX_PEERS``, ``eth_syncing`` that is neither ``false`` nor a sync object with valid
  ``currentBlock``/``highestBlock``): **UNKNOWN** with the field named; such a head never sets
  the reference.
* a head far beyond the others (more than twice the lower median plus
  :data:`FAR_AHEAD_BLOCKS`) is not believed and does not set the reference; it, and any head
  ``lag_critical`` or more blocks *ahead* of the majority's, is **UNKNOWN** ("implausible: it or
  the majority is wrong").
* head ``0x0`` while not syncing: **CRITICAL** (a node at genesis serves no chain data).
* an answer that is incomplete: a call of the batch without an answer, or with a JSON-RPC error
  other than "method not found": **WARNING** ("incomplete answers", the calls named); an
  endpoint that gives none of client version, sync state and peers (whatever the reason, e.g.
  a proxy that serves ``eth_blockNumber`` only): **WARNING** ("answers eth_blockNumber only").
  "method not found" for one of them alone is an honest unknown (a note, still OK).
* the hash compared must come from a block object whose ``number`` is the height asked and
  whose ``hash`` is 32 bytes; anything else is "hash not compared" with the reason.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import field
from typing import Any

from fleetctl.core.jsoncodec import loads
from fleetctl.core.records import record
from fleetctl.health.heads import MAX_TIMESTAMP
from fleetctl.health.values import MAX_BLOCK, MAX_PEERS, BadValue, block_hash, hex_quantity, one_line
from fleetctl.core.levels import Level
from fleetctl.core.redact import safe_url

__all__ = [
    "ExecProbe",
    "ExecTarget",
    "RpcFailure",
    "judge_chain",
    "parse_client_version",
    "probe_endpoint",
    "probe_hash",
    "take_predicted_hash",
    "reference_head",
]

METHOD_NOT_FOUND = -32601
BATCH = ("web3_clientVersion", "eth_syncing", "eth_blockNumber", "net_peerCount")
#: the batch every endpoint is sent, and its JSON (encoded once: the same bytes for every endpoint)
_BATCH_CALLS: tuple[dict[str, Any], ...] = tuple({"jsonrpc": "2.0", "id": i, "method": m, "params": []}
                                                 for i, m in enumerate(BATCH))
_BATCH_BODY = json.dumps(list(_BATCH_CALLS)).encode()
#: the id of the predicted height's eth_getBlockByNumber in the batch (see the module docstring)
_SPEC_ID = len(BATCH)


@functools.lru_cache(maxsize=64)
def _batch_body(spec_height: int | None) -> bytes:
    """The batch, with ``eth_getBlockByNumber(spec_height, false)`` last when a height is predicted."""
    if spec_height is None:
        return _BATCH_BODY
    calls = [*_BATCH_CALLS, {"jsonrpc": "2.0", "id": _SPEC_ID, "method": "eth_getBlockByNumber",
                             "params": [hex(spec_height), False]}]
    return json.dumps(calls).encode()
_SEMVER = re.compile(r"v?(\d+\.\d+\.\d+)")


@record(frozen=True)
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


@record
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
    #: answers that are not what the protocol says (wrong type, out of range): UNKNOWN
    invalid: list[str] = field(default_factory=list)
    #: calls of the batch without a usable answer (missing, or an error other than "method not found")
    failed: list[str] = field(default_factory=list)
    #: how many of web3_clientVersion, eth_syncing, net_peerCount answered (None: not probed)
    served: int | None = None
    #: the predicted height step 1 also asked the block of, and that answer (not yet read)
    spec_height: int | None = None
    spec_answer: Any = None
    #: the timestamp of the block at hash_height (seconds; None: not a plausible one): only for
    #: predicting the next sweep's common height, never for a verdict
    block_time: int | None = None

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


def _quantity(value: Any, field: str = "quantity", maximum: int = MAX_BLOCK) -> int | None:
    """A strict JSON-RPC QUANTITY (:func:`fleetctl.health.values.hex_quantity`), None if it is not one."""
    try:
        return hex_quantity(value, field, maximum=maximum)
    except BadValue:
        return None


def _rpc_error_text(error: Any) -> str:
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        text = one_line(message, 120) if message else "error"
        if isinstance(code, int) and not isinstance(code, bool) and abs(code) < 10**12:
            return f"{text} ({code})"
        return text
    return one_line(error, 100)


class Http:
    """The sweep's HTTP connections (:mod:`fleetctl.core.httpclient`, keep-alive per endpoint) and a
    bound on the requests in flight.

    A request waits for a free slot *before* its timeout starts: a long queue (or many hanging
    endpoints holding slots) never makes a healthy endpoint look slow or time out."""

    def __init__(self, concurrency: int) -> None:
        from fleetctl.core.httpclient import HttpPool

        self.semaphore = asyncio.Semaphore(concurrency)
        self.pool = HttpPool(user_agent="fleetctl-health")

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, method: str, url: str, timeout: float, body: bytes | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request; RpcFailure with a one-line reason."""
        from fleetctl.core.httpclient import HttpError

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
    """POST JSON (``payload``, or its encoded bytes), decode JSON; RpcFailure with a one-line
    reason. Returns (body, seconds)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, raw, elapsed = await http.fetch("POST", url, timeout, body, _JSON)
    if status != 200:
        raise RpcFailure(f"HTTP {status}")
    try:
        return loads(raw), elapsed  # json.loads's values and errors (fleetctl.core.jsoncodec)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RpcFailure(f"answered a body that is not JSON ({len(raw)} bytes)") from None


async def probe_endpoint(session: Http, target: ExecTarget, timeout: float,
                         spec_height: int | None = None) -> ExecProbe:
    """Step 1: the batch (with the block at ``spec_height``, a predicted common height, if
    given). Falls back to single calls if the endpoint refuses batches (no prediction then)."""
    probe = ExecProbe(target)
    batch = _BATCH_CALLS
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        body, elapsed = await _post(session, target.url, _batch_body(spec_height), timeout)
        answers: dict[int, Any] = {}
        if isinstance(body, list):
            answers = _by_id(body)
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
                    raise RpcFailure(one_line(f"{type(result).__name__}: {result}", 160))
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
    read_batch(probe, answers)
    if spec_height is not None and _SPEC_ID in answers:
        probe.spec_height, probe.spec_answer = spec_height, answers[_SPEC_ID]
    return probe


def _by_id(body: list[Any]) -> dict[int, dict[str, Any]]:
    """A batch reply's answers by their (integer) id; the first answer for an id counts."""
    answers: dict[int, dict[str, Any]] = {}
    for item in body:
        if isinstance(item, dict):
            key = item.get("id")
            if isinstance(key, int) and not isinstance(key, bool) and key not in answers:
                answers[key] = item
    return answers


def read_batch(probe: ExecProbe, answers: dict[int, Any]) -> None:
    """What the batch's answers say, strictly (into ``probe``); pure, so it is tested alone.

    A value of the wrong type or out of range goes to ``probe.invalid`` (the endpoint is
    UNKNOWN); a call with no answer, or a JSON-RPC error other than "method not found", to
    ``probe.failed`` (WARNING: the endpoint cannot be verified); "method not found" is an
    honest unknown (a note)."""
    served = 0
    for index, method in enumerate(BATCH):
        answer = answers.get(index)
        error: Any  # an answer's "error": anything the endpoint sent
        if not isinstance(answer, dict):
            result, error = None, {"message": "no answer in the batch"}
        else:
            result, error = answer.get("result"), answer.get("error")
            if error is None and "result" not in answer:
                error = {"message": "an answer with neither result nor error"}
        not_served = isinstance(error, dict) and error.get("code") == METHOD_NOT_FOUND
        if method == "eth_blockNumber":
            if error is not None:
                probe.head_error = f"eth_blockNumber: {_rpc_error_text(error)}"
                continue
            try:
                probe.head = hex_quantity(result, "eth_blockNumber")
            except BadValue as exc:
                probe.invalid.append(str(exc))
            continue
        if error is not None:
            if not_served:
                probe.notes.append({"web3_clientVersion": "client version unknown (web3_clientVersion not served)",
                                    "eth_syncing": "sync state unknown (eth_syncing not served)",
                                    "net_peerCount": "peers unknown (net_peerCount not served)"}[method])
            else:
                probe.failed.append(f"{method}: {_rpc_error_text(error)}")
            continue
        if method == "web3_clientVersion":
            if isinstance(result, str) and result.strip():
                probe.client_version = one_line(result, 120)
                served += 1
            else:
                probe.invalid.append(f"web3_clientVersion: not a version string ({one_line(result, 24)})")
        elif method == "eth_syncing":
            if result is False:
                probe.syncing = False
                served += 1
            elif isinstance(result, dict):
                problems = []
                for key in ("currentBlock", "highestBlock"):
                    try:
                        hex_quantity(result.get(key), f"eth_syncing.{key}")
                    except BadValue as exc:
                        problems.append(str(exc))
                if problems:
                    probe.invalid.extend(problems)
                else:
                    probe.syncing = {k: result[k] for k in ("currentBlock", "highestBlock")}
                    served += 1
            else:
                probe.invalid.append(f"eth_syncing: neither false nor a sync object ({one_line(result, 24)})")
        elif method == "net_peerCount":
            try:
                probe.peers = hex_quantity(result, "net_peerCount", maximum=MAX_PEERS)
                served += 1
            except BadValue as exc:
                probe.invalid.append(str(exc))
    probe.served = served


@functools.lru_cache(maxsize=64)
def _block_call(height: int) -> bytes:
    """``eth_getBlockByNumber(height, false)`` encoded (every endpoint of a chain is asked the same)."""
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                       "params": [hex(height), False]}).encode()


def take_predicted_hash(probe: ExecProbe, height: int) -> bool:
    """Step 2 without a request: True when step 1's batch asked for the block at ``height`` and
    the answer is a block of that height (its hash now in ``probe``); False: ask (probe_hash)."""
    answer = probe.spec_answer
    if probe.spec_height != height or not isinstance(answer, dict) or answer.get("error") is not None:
        return False
    block = answer.get("result")
    if not isinstance(block, dict):
        return False
    try:
        found = read_block(block, height)
    except BadValue:
        return False  # asked again: what the endpoint answers then is the one judged
    probe.hash_height, probe.block_hash, probe.block_time = height, found, _timestamp(block)
    return True


def _timestamp(block: dict[str, Any]) -> int | None:
    try:
        return hex_quantity(block.get("timestamp"), "block timestamp", maximum=MAX_TIMESTAMP) or None
    except BadValue:
        return None


async def probe_hash(session: Http, probe: ExecProbe, height: int, timeout: float) -> None:
    """Step 2: the hash of block ``height`` as this endpoint serves it (into ``probe``)."""
    probe.hash_height = height
    try:
        body, _ = await _post(session, probe.target.url, _block_call(height), timeout)
    except RpcFailure as exc:
        probe.hash_error = str(exc)
        return
    if not isinstance(body, dict):
        probe.hash_error = "eth_getBlockByNumber: not a JSON-RPC reply"
    elif body.get("error") is not None:
        probe.hash_error = f"eth_getBlockByNumber: {_rpc_error_text(body['error'])}"
    elif not isinstance(body.get("result"), dict):
        probe.hash_error = f"block {height} unknown to it"
    else:
        try:
            probe.block_hash = read_block(body["result"], height)
            probe.block_time = _timestamp(body["result"])
        except BadValue as exc:
            probe.hash_error = f"eth_getBlockByNumber: {exc}"


def read_block(block: dict[str, Any], height: int) -> str:
    """The hash of ``block``, an ``eth_getBlockByNumber`` result asked for ``height``; BadValue if
    it is not a block object for that height."""
    number = hex_quantity(block.get("number"), "block number")
    if number != height:
        raise BadValue(f"answered block {number:,} when asked for {height:,}")
    return block_hash(block.get("hash"), "block hash")


# ----------------------------------------------------------------------------- judging


def reference_head(heads: Sequence[int]) -> int | None:
    """The highest block a majority has reached: the ceil(n/2)-th highest head."""
    if not heads:
        return None
    ordered = sorted(heads, reverse=True)
    return ordered[(len(ordered) + 1) // 2 - 1]


#: A head more than twice the others' plus this many blocks is not believed (see split_heads).
FAR_AHEAD_BLOCKS = 10_000


def split_heads(heads: Sequence[int]) -> tuple[list[int], list[int]]:
    """(believed, implausible): a head beyond ``2 * lower median + FAR_AHEAD_BLOCKS`` is one no
    honest node reports while the others report the lower median, so it may not set the
    reference (with two endpoints the reference is the higher head: one hostile answer would
    otherwise make every honest endpoint "lagging")."""
    if len(heads) < 2:
        return list(heads), []
    lower = sorted(heads, reverse=True)[len(heads) // 2]
    limit = 2 * lower + FAR_AHEAD_BLOCKS
    return [h for h in heads if h <= limit], [h for h in heads if h > limit]


def _heads(probes: Sequence[ExecProbe]) -> list[int]:
    return [p.head for p in probes if p.answered and not p.is_syncing and p.head is not None]


def compare_height(probes: Sequence[ExecProbe], hash_depth: int) -> int | None:
    """The height at which a chain's endpoints compare hashes (None: nothing to compare)."""
    ref = reference_head(split_heads(_heads(probes))[0])
    if ref is None:
        return None
    return max(0, ref - hash_depth)


@record(frozen=True)
class Verdict:
    """What :func:`judge_chain` says of one endpoint."""

    target: ExecTarget
    level: Level
    message: str
    state: str  # the worst: ok, unreachable, stopped, error, syncing, lagging, diverged, slow, mismatch, peers,
    #             consensus (its consensus client stops its head: see fleetctl.health.consensus)
    values: dict[str, float]
    facts: dict[str, Any]
    states: tuple[str, ...] = ()  # every state found, worst first

    @property
    def healthy(self) -> bool:
        """Answering, in sync, on the majority chain (what a balancer may route to)."""
        return bool(self.values.get("up")) and not ({"syncing", "lagging", "diverged", "genesis", "ahead", "invalid",
                                                     "consensus"} & set(self.states))


@record(frozen=True)
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
    believed, implausible = split_heads(_heads(probes))
    ref = reference_head(believed)
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
        facts: dict[str, Any] = {"chain": chain, "client": t.client, "url": safe_url(t.url), "host": t.host,
                                 "adopted": t.adopted}
        if t.stopped is not None:
            found.append((Level.CRITICAL, f"container not running ({t.stopped})", "stopped"))
        elif p.unchecked:
            found.append((Level.UNKNOWN, p.error or "not checked in time (the sweep's deadline)", "unchecked"))
        elif p.error is not None:
            found.append((Level.CRITICAL, p.error, "unreachable"))
        elif p.head_error is not None:
            found.append((Level.CRITICAL, p.head_error, "error"))
        elif p.head is None:  # eth_blockNumber answered, but not a head fleetctl believes
            found.append((Level.UNKNOWN, "; ".join(p.invalid) or "eth_blockNumber: no usable answer", "invalid"))
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
            for reason in p.invalid:
                found.append((Level.UNKNOWN, reason, "invalid"))
            if p.failed:
                found.append((Level.WARNING, "incomplete answers: " + "; ".join(p.failed), "incomplete"))
            elif p.served == 0:
                found.append((Level.WARNING, "answers eth_blockNumber only (client, sync state and peers "
                              "unknown)", "incomplete"))
            if p.head == 0 and not p.is_syncing:
                found.append((Level.CRITICAL, "at block 0 (genesis) and not syncing: serves no chain data",
                              "genesis"))
            if ref is not None and (p.head in implausible or p.head - ref >= max(lag_critical, 1)):
                found.append((Level.UNKNOWN, f"claims block {p.head:,}, {p.head - ref:,} ahead of the chain's "
                              f"majority head {ref:,}: implausible (it or the majority is wrong)", "ahead"))
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
