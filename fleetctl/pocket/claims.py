"""What the chain pays and takes, per supplier: claims, proofs, settlements and slashes.

Two halves:

* :func:`sync_events` reads every block since the last run from the fleet's CometBFT RPC
  (``pocket.node_rpc_url``: ``/status``, ``/block_results``, ``/blockchain``) with fleetctl's
  own async HTTP client, many blocks in flight in JSON-RPC batches of ten (``POST /``, as
  CometBFT v0.38 takes them; anything a batch does not answer cleanly is read again block by
  block: see :class:`_RawReader`), decoded by msgspec's typed decoder when it is installed, and
  stores the fleet suppliers' events
  (:mod:`fleetctl.pocket.events`) in the state store (``chain_events``, schema v4 of
  :mod:`fleetctl.state`) with a cursor per node (``chain_cursor``).

  - First run: at most ``backfill`` blocks back from the latest (default 1,000); every run reads
    at most ``max_blocks`` (the rest is read by the next run, and said).
  - A height the node cannot serve (pruned: CometBFT's "height H is not available, lowest
    height is L") is a gap: reported as a note and skipped, never retried.
  - Any other failure of one block (timeout, HTTP error, a malformed fleet event) leaves the
    cursor below that block, so the next run reads it again; the run is UNKNOWN meanwhile.
  - The hash of the last block read is kept; when the node later reports another hash at that
    height (a re-org of the last block) the block's events are deleted and it is read again.
  - The events are written in one transaction with the store's busy timeout, as the stake
    history is (the rows: :mod:`fleetctl.state.claims`). ``UNIQUE(height, kind, supplier, service, application,
    session_end)`` + ``INSERT OR IGNORE`` make a height read twice (overlapping cron runs) change
    nothing; the cursor only moves forward (the higher of the stored and the new). Events more
  than :data:`RETENTION_DAYS` days (by the node's block time) below the cursor are deleted.

* :func:`claims_report` judges the stored events at the latest height: per supplier and
  service, for the last sessions and the last 24 h, relays, compute units, claimed, proven,
  settled and lost upokt (by reason) and slashes; the claims whose proof is required (claimed
  >= ``proof_requirement_threshold``: THRESHOLD) or possibly required (``proof_request_
  probability`` > 0: PROBABILISTIC, decided by a block hash not known in advance) and not yet
  submitted, with the blocks left in the proof window (:class:`~fleetctl.pocket.events.ClaimParams`).

Levels: CRITICAL - a claim of the fleet expired or a supplier was slashed in the last 24 h;
WARNING - a proof required by the threshold is missing and its window closes within
``warn_blocks`` blocks (default half the proof window, at least 1), or a claim was discarded;
UNKNOWN - blocks could not be read or stored, or the params needed to place a claim's proof
window; OK otherwise. PROBABILISTIC claims are listed, never alerted on: a RelayMiner submits
a proof only when the chain requires it, so most of them are never proven, rightly.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fleetctl.core.records import record
from fleetctl.core.levels import Level, worst

from fleetctl.pocket.base import parse_height, settle
from fleetctl.pocket.events import (ChainEvent, ClaimParams, EventError, Unusable, answer_error,
                                     answer_id, decode_answers, parse_answer, parse_block_results)
from fleetctl.state import claims as store
from fleetctl.state.db import BUSY_TIMEOUT_S, HistoryError
from fleetctl.pocket.abci import rpc_base
from fleetctl.pocket.http import JsonClient, QueryError
from fleetctl.core.redact import has_secret, safe_url, scrub

__all__ = [
    "DEFAULT_BACKFILL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_SESSIONS",
    "DEFAULT_TIMEOUT_S",
    "AtRisk",
    "ClaimParams",
    "ClaimRow",
    "ClaimsReport",
    "SessionClaim",
    "SyncResult",
    "Totals",
    "TxsPerDay",
    "check_claims",
    "claims_report",
    "fees_per_day",
    "observed_relays_per_session",
    "proofs_missed_per_day",
    "run_claims",
    "sync_events",
    "txs_per_day",
    "txs_per_day_of",
]

DEFAULT_BACKFILL = 1000
DEFAULT_CONCURRENCY = 128  # blocks in flight: 13 batches of 10, one round trip for 128 blocks
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_BLOCKS = 20_000
#: "The last sessions": this many of the newest session ends with fleet events.
DEFAULT_SESSIONS = 4
#: Shannon's documented block time, used for "per day" until the node's own is measured.
ASSUMED_BLOCK_TIME_MS = 30_000
#: Events older than this are deleted when a run stores new ones (the report looks back a day
#: and a few sessions; fee runways a day): the store grows with the fleet, not with time.
RETENTION_DAYS = 35
_DAY_MS = 86_400_000
_HASH = re.compile(r"[0-9A-Fa-f]{64}")
_PRUNED = re.compile(r"height \d+ is not available|lowest height is \d+")
_AHEAD = re.compile(r"must be less than or equal to the current blockchain height")
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


# ----------------------------------------------------------------------------- sync


@record(frozen=True)
class SyncResult:
    """What one :func:`sync_events` run read and stored."""

    endpoint: str  # shown form (no credentials)
    latest: int | None = None  # the node's latest height (None: unreadable)
    first: int | None = None  # first height read this run
    last: int | None = None  # last height asked this run
    cursor: int | None = None  # every height up to this one is read (after this run)
    blocks_read: int = 0
    events_seen: int = 0  # all events in the blocks read
    skipped_types: int = 0  # events of types fleetctl does not read
    fleet_events: int = 0
    stored: int = 0  # new rows (0 for a height read before)
    gaps: tuple[tuple[int, int], ...] = ()
    reorg: int | None = None  # the height re-read because its hash changed
    left: int = 0  # heights left for the next run (max_blocks)
    block_time_ms: int | None = None
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    recorded: bool = False
    #: The fleet events read (kept only when not recorded, for the report).
    events: tuple[ChainEvent, ...] = ()

    @property
    def level(self) -> Level:
        return Level.UNKNOWN if self.errors else Level.OK

    def as_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "latest": self.latest, "first": self.first,
                "last": self.last, "cursor": self.cursor, "blocks_read": self.blocks_read,
                "events_seen": self.events_seen, "skipped_types": self.skipped_types,
                "fleet_events": self.fleet_events, "stored": self.stored,
                "gaps": [list(g) for g in self.gaps], "reorg": self.reorg, "left": self.left,
                "block_time_ms": self.block_time_ms, "errors": list(self.errors),
                "notes": list(self.notes), "recorded": self.recorded}


class _Gap(QueryError):
    """The node cannot serve this height (pruned)."""


class _Ahead(QueryError):
    """The node has not got this height yet."""


def _rpc_error(body: Any) -> str | None:
    """The text of a JSON-RPC error envelope (``error.data`` or ``error.message``), or None."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    error = body["error"]
    if isinstance(error, dict):
        parts = [error.get(k) for k in ("message", "data")]
        return " ".join(p for p in parts if isinstance(p, str))[:300] or "error"
    return str(error)[:300]


async def _block(client: JsonClient, height: int, endpoint: str, suppliers: frozenset[str]
                 ) -> tuple[list[ChainEvent], dict[str, int]]:
    try:
        body = await client.get("/block_results", {"height": str(height)})
    except QueryError as exc:
        refused = _rpc_error(exc.body) or ""
        if _PRUNED.search(refused):
            raise _Gap(refused) from None
        if _AHEAD.search(refused):
            raise _Ahead(refused) from None
        raise QueryError(f"{endpoint} height {height}: {exc}") from None
    text = _rpc_error(body)
    if text is not None:
        if _PRUNED.search(text):
            raise _Gap(text)
        if _AHEAD.search(text):
            raise _Ahead(text)
        raise EventError(f"{endpoint} height {height}: error {text[:120]!r}")
    counts: dict[str, int] = {}
    events = parse_block_results(body, height=height, endpoint=endpoint, suppliers=suppliers,
                                 counts=counts)
    return events, counts


#: Blocks per JSON-RPC batch: CometBFT's default ``rpc.max_request_batch_size`` (10, config/
#: config.go since v0.38; a larger batch is refused as a whole).
BATCH_SIZE = 10
#: The largest batch answer read (ten blocks); a larger one is read again block by block.
_BATCH_MAX_BYTES = 32 * 1024 * 1024


class _RawReader:
    """``/block_results`` read raw and decoded by :func:`fleetctl.pocket.events.decode_answers`
    (msgspec's typed decoder when installed): one block by ``GET``, or up to
    :data:`BATCH_SIZE` blocks in one JSON-RPC batch (``POST /`` with an array of
    ``block_results`` calls, which CometBFT answers with an array of answers). One attempt
    each: whatever is not a plain success (an HTTP or transport error, a body that is not JSON,
    a batch refused or answered in part, an error other than a pruned or future height, a value
    the parser refuses) is read again by :func:`_block` through :class:`JsonClient`, the
    reference path with its retries and exact one-line errors. Nothing from this path is ever
    shown, so the node URL's credentials cannot leak through it."""

    def __init__(self, base: str, endpoint: str, suppliers: frozenset[str], client: JsonClient,
                 timeout: float, in_flight: int) -> None:
        from fleetctl.core.httpclient import HttpPool

        parts = urlsplit(base)
        root = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        query = f"?{parts.query}" if parts.query else ""
        self.get_url = f"{root}/block_results{query}"
        self.post_url = f"{root}/{query}"
        self.endpoint = endpoint
        self.suppliers = suppliers
        self.client = client
        self.timeout = timeout
        self.pool = HttpPool(headers={"Accept": "application/json"}, max_body=_BATCH_MAX_BYTES)
        self.slots = asyncio.Semaphore(max(1, in_flight))

    async def close(self) -> None:
        await self.pool.close()

    async def _raw(self, method: str, url: str, *, params: dict[str, str] | None = None,
                   body: bytes | None = None) -> tuple[int, bytes] | None:
        from fleetctl.core.httpclient import HttpError

        try:
            async with self.slots, asyncio.timeout(self.timeout):
                answer = await self.pool.request(
                    method, url, params=params, body=body, idempotent=True,
                    headers={"Content-Type": "application/json"} if body is not None else None)
        except (TimeoutError, HttpError, OSError):
            return None
        return answer.status, answer.body

    def _judge(self, answer: Any, height: int) -> tuple[list[ChainEvent], dict[str, int]] | None:
        """One decoded answer: its events, a _Gap/_Ahead raised, or None (read it again)."""
        error = answer_error(answer)
        if error is not None:
            text = _rpc_error(error) or ""
            if _PRUNED.search(text):
                raise _Gap(text)
            if _AHEAD.search(text):
                raise _Ahead(text)
            return None
        counts: dict[str, int] = {}
        try:
            events = parse_answer(answer, height=height, endpoint=self.endpoint,
                                  suppliers=self.suppliers, counts=counts)
        except (Unusable, EventError):
            return None
        return events, counts

    async def one(self, height: int) -> tuple[list[ChainEvent], dict[str, int]]:
        got = await self._raw("GET", self.get_url, params={"height": str(height)})
        if got is not None and got[0] in (200, 500):
            try:
                [answer] = decode_answers(got[1], batch=False)
                if got[0] == 200 or answer_error(answer) is not None:
                    judged = self._judge(answer, height)
                    if judged is not None:
                        return judged
            except (Unusable, ValueError):
                pass
        return await _block(self.client, height, self.endpoint, self.suppliers)

    async def batch(self, heights: Sequence[int]) -> list[Any]:
        """Each height's (events, counts) or the QueryError that ends its read."""
        if len(heights) == 1:
            return [await settle(self.one(heights[0]))]
        calls = ",".join(f'{{"jsonrpc":"2.0","id":{h},"method":"block_results","params":'
                         f'{{"height":"{h}"}}}}' for h in heights)
        got = await self._raw("POST", self.post_url, body=f"[{calls}]".encode())
        answers: dict[int, Any] = {}
        if got is not None and got[0] == 200:
            try:
                for answer in decode_answers(got[1], batch=True):
                    key = answer_id(answer)
                    if type(key) is int and key in heights and key not in answers:
                        answers[key] = answer
            except Unusable:
                answers = {}
        results: list[Any] = []
        for height in heights:
            judged: tuple[list[ChainEvent], dict[str, int]] | QueryError | None = None
            if height in answers:
                try:
                    judged = self._judge(answers[height], height)
                except QueryError as exc:
                    judged = exc
            results.append(judged if judged is not None
                           else await settle(_block(self.client, height, self.endpoint, self.suppliers)))
        return results


async def _status_height(client: JsonClient, endpoint: str) -> int:
    body = await client.get("/status")
    result = body.get("result", body) if isinstance(body, dict) else body
    info = result.get("sync_info") if isinstance(result, dict) else None
    if not isinstance(info, dict):
        raise QueryError(f"{endpoint}/status: missing field result.sync_info")
    return parse_height(info.get("latest_block_height"),
                        f"{endpoint}/status result.sync_info.latest_block_height", minimum=1)


def _time_ms(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        return None
    frac = (match.group(2) or "")[:6].ljust(6, "0")
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        moment = datetime.fromisoformat(f"{match.group(1)}.{frac}{zone}")
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


async def _metas(client: JsonClient, endpoint: str, low: int, high: int
                 ) -> dict[int, tuple[str, int | None]]:
    """``/blockchain`` metas of heights low..high (at most 20): height -> (HASH, time ms)."""
    where = f"{endpoint}/blockchain"
    body = await client.get("/blockchain", {"minHeight": str(low), "maxHeight": str(high)})
    result = body.get("result", body) if isinstance(body, dict) else body
    metas = result.get("block_metas") if isinstance(result, dict) else None
    if not isinstance(metas, list) or len(metas) > 20:
        raise QueryError(f"{where}: result.block_metas is not a list of at most 20")
    found: dict[int, tuple[str, int | None]] = {}
    for index, meta in enumerate(metas):
        what = f"{where} block_metas[{index}]"
        if not isinstance(meta, dict) or not isinstance(meta.get("header"), dict) \
                or not isinstance(meta.get("block_id"), dict):
            raise QueryError(f"{what}: expected {{block_id, header}}")
        height = parse_height(meta["header"].get("height"), f"{what}.header.height", minimum=1)
        digest = meta["block_id"].get("hash")
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise QueryError(f"{what}.block_id.hash: not a block hash")
        if low <= height <= high:
            found[height] = (digest.upper(), _time_ms(meta["header"].get("time")))
    return found


def _block_time(metas: dict[int, tuple[str, int | None]]) -> int | None:
    timed = sorted((h, t) for h, (_, t) in metas.items() if t is not None)
    if len(timed) < 2 or timed[-1][0] == timed[0][0]:
        return None
    per_block = (timed[-1][1] - timed[0][1]) // (timed[-1][0] - timed[0][0])
    return per_block if 1 <= per_block <= 3_600_000 else None


def _ranges(heights: Sequence[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for h in sorted(heights):
        if spans and spans[-1][1] == h - 1:
            spans[-1] = (spans[-1][0], h)
        else:
            spans.append((h, h))
    return spans


def _write(path: Path, endpoint: str, events: Sequence[ChainEvent], cursor: int | None,
           cursor_hash: str | None, block_time_ms: int | None, reorg: int | None,
           busy_timeout_s: float) -> int:
    """Store the events and move the cursor forward, in one transaction; the new rows. Events
    more than :data:`RETENTION_DAYS` days of blocks below the cursor go."""
    prune_below = None
    if cursor is not None:
        per_day, _ = _blocks_per_day(block_time_ms)
        prune_below = cursor - RETENTION_DAYS * per_day
    return store.write_events(path, endpoint, map(store.row_of, events), cursor=cursor, cursor_hash=cursor_hash,
                              block_time_ms=block_time_ms, reorg=reorg, prune_below=prune_below,
                              busy_timeout_s=busy_timeout_s)


async def sync_events(fleet: Any, store_path: Path, *, timeout: float = DEFAULT_TIMEOUT_S,
                      backfill: int = DEFAULT_BACKFILL, concurrency: int = DEFAULT_CONCURRENCY,
                      record: bool = True, max_blocks: int = DEFAULT_MAX_BLOCKS,
                      busy_timeout_s: float | None = None) -> SyncResult:
    """Read the blocks since the last run (see the module's docstring); never raises for the
    node or the store: what went wrong is in ``errors`` (one line each, no secrets)."""
    url = fleet.pocket.node_rpc_url
    if not url:
        return SyncResult("", errors=("fleet.yml sets no pocket.node_rpc_url: claims are read from "
                                      "the CometBFT RPC's /block_results",))
    base = rpc_base(url)
    endpoint = safe_url(base)
    secrets = [url, base] if has_secret(url) else []
    wait = timeout if busy_timeout_s is None else busy_timeout_s
    try:
        return await _sync(fleet, store_path, base, endpoint, timeout=timeout, backfill=backfill,
                           concurrency=concurrency, record=record, max_blocks=max_blocks, wait=wait)
    except (QueryError, HistoryError) as exc:
        return SyncResult(endpoint, errors=(scrub(str(exc), secrets, sink_style=False, limit=300),))
    except Exception as exc:  # noqa: BLE001 - claims always ends with a status
        return SyncResult(endpoint, errors=(scrub(f"internal error ({type(exc).__name__}: {exc})",
                                                  secrets, sink_style=False, limit=300),))


async def _sync(fleet: Any, path: Path, base: str, endpoint: str, *, timeout: float, backfill: int,
                concurrency: int, record: bool, max_blocks: int, wait: float) -> SyncResult:
    suppliers = frozenset(s.operator_address for s in fleet.suppliers if s.operator_address)
    cursor = await asyncio.to_thread(store.read_cursor, path, endpoint, wait)
    notes: list[str] = []
    errors: list[str] = []
    # The deadline grows with the blocks to read (a backfill), bounded all the same.
    deadline = timeout * 4 + 0.05 * min(max_blocks, max(backfill, 1))
    async with JsonClient(base, timeout=timeout, deadline=deadline, concurrency=concurrency,
                          attempts=3) as client:
        latest = await _status_height(client, endpoint)
        reorg: int | None = None
        if cursor is None:
            start = max(1, latest - backfill + 1)
            if start > 1:
                notes.append(f"first run: read the last {latest - start + 1:,} blocks "
                             f"({start:,}-{latest:,}; --backfill to read more)")
        elif cursor.last_height > latest:
            notes.append(f"the node is at height {latest:,}, below the {cursor.last_height:,} "
                         "already read: nothing new")
            return SyncResult(endpoint, latest=latest, cursor=cursor.last_height,
                              block_time_ms=cursor.block_time_ms, notes=tuple(notes))
        else:
            start = cursor.last_height + 1
            if cursor.last_hash and cursor.last_height >= 1:
                metas = await _metas(client, endpoint, cursor.last_height, cursor.last_height)
                now = metas.get(cursor.last_height)
                if now is not None and now[0] != cursor.last_hash.upper():
                    reorg = cursor.last_height
                    start = reorg
                    notes.append(f"block {reorg:,} changed (hash {cursor.last_hash[:12]}… -> "
                                 f"{now[0][:12]}…): read again")
        end = min(latest, start + max_blocks - 1)
        left = latest - end
        if left:
            notes.append(f"{left:,} blocks left for the next run (at most {max_blocks:,} a run)")
        if end < start:
            return SyncResult(endpoint, latest=latest, cursor=cursor.last_height if cursor else None,
                              block_time_ms=cursor.block_time_ms if cursor else None,
                              notes=tuple(notes))
        heights = range(start, end + 1)
        # Blocks in flight: ``concurrency``, in JSON-RPC batches of up to BATCH_SIZE (1: one
        # GET per block, each awaited before the next is asked).
        size = max(1, min(BATCH_SIZE, concurrency))
        raw = _RawReader(base, endpoint, suppliers, client, timeout, max(1, concurrency // size))
        try:
            chunks = [heights[i:i + size] for i in range(0, len(heights), size)]
            meta_read = settle(_metas(client, endpoint, max(1, end - 19), end))
            batches, metas_or_error = await asyncio.gather(asyncio.gather(*(raw.batch(c) for c in chunks)),
                                                           meta_read)
        finally:
            await raw.close()
        results = [r for chunk in batches for r in chunk]
    gaps: list[int] = []
    ahead: list[int] = []
    cursor_height = start - 1
    contiguous = True
    events: list[ChainEvent] = []
    seen = skipped = 0
    read = 0
    for height, result in zip(heights, results, strict=True):
        if isinstance(result, tuple):
            events.extend(result[0])
            seen += result[1].get("events", 0)
            skipped += result[1].get("skipped", 0)
            read += 1
        elif isinstance(result, _Gap):
            gaps.append(height)
        elif isinstance(result, _Ahead):
            ahead.append(height)
            contiguous = False
        else:
            if len(errors) < 5:
                errors.append(str(result))
            contiguous = False
        if contiguous:
            cursor_height = height
    if ahead:
        notes.append(f"the node could not serve heights {ahead[0]:,}-{ahead[-1]:,} yet")
    failed = sum(1 for r in results if isinstance(r, QueryError) and not isinstance(r, (_Gap, _Ahead)))
    if failed > len(errors):
        errors.append(f"({failed - len(errors):,} more blocks failed)")
    spans = _ranges(gaps)
    for low, high in spans:
        notes.append(f"heights {low:,}-{high:,} not served by the node (pruned): skipped"
                     if low != high else f"height {low:,} not served by the node (pruned): skipped")
    block_time = cursor.block_time_ms if cursor else None
    cursor_hash = None
    if isinstance(metas_or_error, dict):
        block_time = _block_time(metas_or_error) or block_time
        if cursor_height in metas_or_error:
            cursor_hash = metas_or_error[cursor_height][0]
    stored = 0
    new_cursor = cursor_height if cursor_height >= start else (cursor.last_height if cursor else None)
    if record:
        stored = await asyncio.to_thread(
            _write, path, endpoint, events, cursor_height if cursor_height >= start else None,
            cursor_hash, block_time, reorg, wait)
    return SyncResult(endpoint, latest=latest, first=start, last=end, cursor=new_cursor,
                      blocks_read=read, events_seen=seen, skipped_types=skipped,
                      fleet_events=len(events), stored=stored, gaps=tuple(spans), reorg=reorg,
                      left=left, block_time_ms=block_time, errors=tuple(errors),
                      notes=tuple(notes), recorded=record,
                      events=() if record else tuple(events))


# ----------------------------------------------------------------------------- report


@record
class Totals:
    """Sums over one window (the last sessions, or the last 24 h)."""

    claims: int = 0
    relays: int = 0
    compute_units: int = 0
    claimed_upokt: int = 0
    proven_upokt: int = 0
    settled_upokt: int = 0
    lost_upokt: dict[str, int] = field(default_factory=dict)  # reason -> upokt
    slashes: int = 0
    slashed_upokt: int = 0

    def lose(self, reason: str, amount: int) -> None:
        self.lost_upokt[reason] = self.lost_upokt.get(reason, 0) + amount

    def as_dict(self) -> dict[str, Any]:
        return {"claims": self.claims, "relays": self.relays, "compute_units": self.compute_units,
                "claimed_upokt": self.claimed_upokt, "proven_upokt": self.proven_upokt,
                "settled_upokt": self.settled_upokt, "lost_upokt": dict(sorted(self.lost_upokt.items())),
                "slashes": self.slashes, "slashed_upokt": self.slashed_upokt}


@record
class ClaimRow:
    """One supplier and service."""

    name: str
    supplier: str
    service: str
    sessions: Totals = field(default_factory=Totals)
    day: Totals = field(default_factory=Totals)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "supplier": self.supplier, "service": self.service,
                "last_sessions": self.sessions.as_dict(), "last_24h": self.day.as_dict()}


@record(frozen=True)
class AtRisk:
    """A claim whose proof is (possibly) required and not yet submitted."""

    name: str
    supplier: str
    service: str
    application: str
    session_end: int
    claimed_upokt: int
    requirement: str  # THRESHOLD (required) or PROBABILISTIC (possibly required)
    proof_window: tuple[int, int]
    blocks_left: int  # blocks in which the proof can still land (the window's close included)
    level: Level

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "supplier": self.supplier, "service": self.service,
                "application": self.application, "session_end": self.session_end,
                "claimed_upokt": self.claimed_upokt, "requirement": self.requirement,
                "proof_window": list(self.proof_window), "blocks_left": self.blocks_left,
                "level": self.level.name}


@record(frozen=True, slots=True)
class SessionClaim:
    """One claim (a supplier, service, application and session) of the report's windows (the
    last sessions, or with an event in the last 24 h): where it stands. ``outcome``: settled,
    expired or discarded (None: not yet); heights None where that event was not read."""

    name: str
    supplier: str
    service: str
    application: str
    session_end: int
    claimed_height: int | None
    relays: int | None
    claimed_upokt: int | None
    proof_height: int | None
    outcome: str | None
    outcome_height: int | None
    reason: str | None
    settled_upokt: int | None
    slashes: int
    slashed_upokt: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "supplier": self.supplier, "service": self.service,
                "application": self.application, "session_end": self.session_end,
                "claimed_height": self.claimed_height, "relays": self.relays,
                "claimed_upokt": self.claimed_upokt, "proof_height": self.proof_height,
                "outcome": self.outcome, "outcome_height": self.outcome_height, "reason": self.reason,
                "settled_upokt": self.settled_upokt, "slashes": self.slashes,
                "slashed_upokt": self.slashed_upokt}


@record(frozen=True)
class ClaimsReport:
    status: Level
    latest_height: int | None
    checked_at: str
    rows: tuple[ClaimRow, ...] = ()
    at_risk: tuple[AtRisk, ...] = ()
    checks: tuple[tuple[str, Level, str], ...] = ()  # (name, level, message) for health
    session_ends: tuple[int, ...] = ()  # the sessions of "last sessions"
    blocks_per_day: int | None = None
    block_time_assumed: bool = True
    sync: SyncResult | None = None
    history_db: str | None = None
    message: str | None = None
    notes: tuple[str, ...] = ()
    #: every claim of the windows, newest session first (not in :meth:`as_dict`: its keys stay)
    claims: tuple[SessionClaim, ...] = ()

    @property
    def level(self) -> Level:
        return self.status

    @property
    def exit_code(self) -> int:
        return int(self.status)

    def summary(self) -> str:
        bad = [c for c in self.checks if c[1] is not Level.OK]
        worst_check = max(bad, key=lambda c: c[1].severity, default=None)
        text = (f"{len(self.rows)} supplier/service rows, {len(self.at_risk)} proofs pending, "
                f"{sum(1 for c in bad if c[1] is Level.CRITICAL)} critical, "
                f"{sum(1 for c in bad if c[1] is Level.WARNING)} warning")
        if worst_check is not None:
            text += f"; {worst_check[0]}: {worst_check[2]}"
        elif self.message:
            text += f"; {self.message}"
        return text

    def nagios_line(self) -> str:
        text = self.summary().replace("|", "/")
        day = [r.day for r in self.rows]
        perf = (f"'claimed_upokt'={sum(t.claimed_upokt for t in day)} "
                f"'settled_upokt'={sum(t.settled_upokt for t in day)} "
                f"'lost_upokt'={sum(sum(t.lost_upokt.values()) for t in day)} "
                f"'slashes'={sum(t.slashes for t in day)} 'proofs_at_risk'="
                f"{sum(1 for a in self.at_risk if a.requirement == 'THRESHOLD')}")
        if self.latest_height is not None:
            perf += f" 'height'={self.latest_height}"
        return f"CLAIMS {self.status.name} - {text} | {perf}"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status.name, "latest_height": self.latest_height,
                "checked_at": self.checked_at, "message": self.message,
                "blocks_per_day": self.blocks_per_day, "block_time_assumed": self.block_time_assumed,
                "session_ends": list(self.session_ends), "history_db": self.history_db,
                "rows": [r.as_dict() for r in self.rows],
                "at_risk": [a.as_dict() for a in self.at_risk],
                "checks": [{"name": n, "status": lvl.name, "message": m} for n, lvl, m in self.checks],
                "notes": list(self.notes),
                "sync": None if self.sync is None else self.sync.as_dict()}

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        """The contract's ``fleetctl_claims_*`` samples: (name, labels, value)."""
        found: list[tuple[str, dict[str, str], float]] = []
        slashes: dict[str, int] = defaultdict(int)
        for row in self.rows:
            labels = {"supplier": row.name, "service": row.service}
            found.append(("fleetctl_claims_claimed_upokt", labels, row.day.claimed_upokt))
            found.append(("fleetctl_claims_settled_upokt", labels, row.day.settled_upokt))
            found.append(("fleetctl_claims_relays", labels, row.day.relays))
            for reason, amount in sorted(row.day.lost_upokt.items()):
                found.append(("fleetctl_claims_lost_upokt", {**labels, "reason": reason}, amount))
            slashes[row.name] += row.day.slashes
        risk: dict[str, int] = defaultdict(int)
        for item in self.at_risk:
            if item.requirement == "THRESHOLD":
                risk[item.name] += 1
        for name in sorted({r.name for r in self.rows} | set(risk)):
            found.append(("fleetctl_claims_slashes", {"supplier": name}, slashes.get(name, 0)))
            found.append(("fleetctl_claims_proofs_at_risk", {"supplier": name}, risk.get(name, 0)))
        if self.sync is not None and self.sync.cursor is not None:
            found.append(("fleetctl_claims_last_height", {}, self.sync.cursor))
        return found


@record
class _Claim:
    supplier: str
    service: str
    application: str
    session_end: int
    created: ChainEvent | None = None  # the newest claim_created/updated
    proof: ChainEvent | None = None
    outcome: ChainEvent | None = None  # settled, expired or discarded
    slashes: list[ChainEvent] = field(default_factory=list)


def _load(path: Path | None, suppliers: frozenset[str], since_height: int,
          busy_timeout_s: float) -> list[ChainEvent]:
    return [ChainEvent(*row) for row in store.load_events(path, suppliers, since_height, busy_timeout_s)]


def _blocks_per_day(block_time_ms: int | None) -> tuple[int, bool]:
    if block_time_ms is None:
        return max(1, _DAY_MS // ASSUMED_BLOCK_TIME_MS), True
    return max(1, _DAY_MS // max(1, block_time_ms)), False


def _stored_block_time(path: Path | None, busy_timeout_s: float) -> int | None:
    return store.stored_block_time(path, busy_timeout_s)


def default_warn_blocks(params: ClaimParams) -> int:
    """Half the proof window (at least 1 block): RelayMiners submit when it opens."""
    close = params.proof_window_close_offset_blocks
    return max(1, (close or 2) // 2)


def claims_report(fleet: Any, store_path: Path | None, *, params: ClaimParams,
                  latest_height: int | None, now: datetime | None = None,
                  sessions: int = DEFAULT_SESSIONS, warn_blocks: int | None = None,
                  sync: SyncResult | None = None, extra: Iterable[ChainEvent] = (),
                  block_time_ms: int | None = None,
                  busy_timeout_s: float = BUSY_TIMEOUT_S) -> ClaimsReport:
    """Judge the stored events (plus ``extra``, read but not stored) at ``latest_height``."""
    checked_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    names = {s.operator_address: s.name for s in fleet.suppliers if s.operator_address}
    suppliers = frozenset(names)
    problems: list[str] = list(sync.errors) if sync else []
    notes: list[str] = list(sync.notes) if sync else []
    if sync is not None and sync.block_time_ms is not None:
        block_time_ms = block_time_ms or sync.block_time_ms
    try:
        block_time_ms = block_time_ms or _stored_block_time(store_path, busy_timeout_s)
    except HistoryError as exc:
        problems.append(f"history unavailable: {exc}")
    per_day, assumed = _blocks_per_day(block_time_ms)
    if latest_height is None:
        return ClaimsReport(Level.UNKNOWN, None, checked_at, sync=sync,
                            history_db=None if store_path is None else str(store_path),
                            message="; ".join(problems) or "the chain's height is unknown",
                            checks=(("claims/sync", Level.UNKNOWN, "; ".join(problems)
                                     or "the chain's height is unknown"),),
                            blocks_per_day=per_day, block_time_assumed=assumed, notes=tuple(notes))
    nbps = params.num_blocks_per_session or 10
    settle_blocks = (params.settlement_height(0) or 4 * nbps) + nbps
    since = max(0, latest_height - max(per_day, sessions * nbps) - settle_blocks)
    events: list[ChainEvent] = []
    try:
        events = _load(store_path, suppliers, since, busy_timeout_s)
    except HistoryError as exc:
        problems.append(f"history unavailable: {exc}")
    stored_keys = {(e.height, e.kind, e.supplier, e.service, e.application, e.session_end)
                   for e in events}
    for e in extra:
        if e.supplier in suppliers and e.session_end >= since and \
                (e.height, e.kind, e.supplier, e.service, e.application, e.session_end) not in stored_keys:
            events.append(e)
    events.sort(key=lambda e: e.height)
    claims: dict[tuple[str, str, str, int], _Claim] = {}
    for e in events:
        key = (e.supplier, e.service, e.application, e.session_end)
        claim = claims.get(key)
        if claim is None:
            claim = claims[key] = _Claim(*key)
        if e.kind in ("claim_created", "claim_updated"):
            claim.created = e
        elif e.kind in ("proof_submitted", "proof_updated"):
            claim.proof = e
        elif e.kind in ("claim_settled", "claim_expired", "claim_discarded"):
            claim.outcome = e
        elif e.kind == "supplier_slashed":
            claim.slashes.append(e)
    ends = sorted({k[3] for k in claims if k[3] <= latest_height}, reverse=True)[:sessions]
    recent = set(ends)
    day_start = latest_height - per_day  # events at heights above this are "the last 24 h"
    rows: dict[tuple[str, str], ClaimRow] = {}
    critical: dict[str, list[str]] = defaultdict(list)
    warning: dict[str, list[str]] = defaultdict(list)
    at_risk: list[AtRisk] = []
    listed: list[SessionClaim] = []
    unknown_windows = 0
    threshold = params.proof_requirement_threshold_upokt
    probability = params.proof_request_probability
    limit = warn_blocks if warn_blocks is not None else default_warn_blocks(params)
    for claim in claims.values():
        row = rows.get((claim.supplier, claim.service))
        if row is None:
            row = rows[(claim.supplier, claim.service)] = ClaimRow(
                names.get(claim.supplier, claim.supplier), claim.supplier, claim.service)
        for totals, include in ((row.sessions, lambda h: claim.session_end in recent),
                                (row.day, lambda h: h > day_start)):
            _add(totals, claim, include)
        name = names.get(claim.supplier, claim.supplier)
        out = claim.outcome
        if claim.session_end in recent or any(e is not None and e.height > day_start for e in
                                              (claim.created, claim.proof, out, *claim.slashes)):
            listed.append(_session_claim(name, claim))
        if out is not None and out.height > day_start:
            if out.kind == "claim_expired":
                critical[name].append(f"claim of session {claim.session_end} ({claim.service}) "
                                      f"expired: {out.reason}, {out.claimed_upokt or 0:,} upokt lost")
            elif out.kind == "claim_discarded":
                warning[name].append(f"claim of session {claim.session_end} ({claim.service}) "
                                     f"discarded: {out.reason}")
        for slash in claim.slashes:
            if slash.height > day_start:
                after = (f", stake now {slash.stake_after_upokt:,} upokt"
                         if slash.stake_after_upokt is not None else "")
                critical[name].append(f"slashed {slash.penalty_upokt or 0:,} upokt at height "
                                      f"{slash.height}{after}")
        if claim.created is None or claim.proof is not None or out is not None:
            continue
        claimed = claim.created.claimed_upokt or 0
        if threshold is not None and claimed >= threshold:
            requirement = "THRESHOLD"
        elif probability is not None and probability > 0:
            requirement = "PROBABILISTIC"
        elif threshold is None or probability is None:
            unknown_windows += 1
            continue
        else:
            continue  # NOT_REQUIRED: no proof needed
        window = params.proof_window(claim.session_end)
        if window is None:
            unknown_windows += 1
            continue
        blocks_left = window[1] - latest_height
        if blocks_left < 0:
            continue  # settled or expired at the window's close: its event decides
        level = Level.WARNING if requirement == "THRESHOLD" and blocks_left <= limit else Level.OK
        if level is Level.WARNING:
            warning[name].append(f"proof of session {claim.session_end} ({claim.service}, "
                                 f"{claimed:,} upokt) required and missing: {blocks_left} "
                                 f"block(s) left")
        at_risk.append(AtRisk(name, claim.supplier, claim.service, claim.application,
                              claim.session_end, claimed, requirement, window, blocks_left, level))
    if unknown_windows:
        problems.append(f"{unknown_windows} unproven claim(s) cannot be judged: proof params "
                        f"unknown ({'; '.join(params.problems) or 'not read'})")
    checks: list[tuple[str, Level, str]] = []
    for supplier in fleet.suppliers:
        if not supplier.operator_address:
            continue
        name = supplier.name
        if critical.get(name):
            checks.append((f"claims/{name}", Level.CRITICAL,
                           "; ".join(critical[name][:3]) + _more(critical[name])))
        elif warning.get(name):
            checks.append((f"claims/{name}", Level.WARNING,
                           "; ".join(warning[name][:3]) + _more(warning[name])))
        else:
            checks.append((f"claims/{name}", Level.OK, "no expired claim, slash or missing proof"))
    if problems:
        checks.append(("claims/sync", Level.UNKNOWN, "; ".join(problems)))
    ordered = sorted(rows.values(), key=lambda r: (r.name, r.service))
    at_risk.sort(key=lambda a: (a.level is Level.OK, a.blocks_left, a.name))
    listed.sort(key=lambda c: (-c.session_end, c.name, c.service, c.application))
    status = worst(level for _, level, _ in checks)
    return ClaimsReport(status, latest_height, checked_at, tuple(ordered), tuple(at_risk),
                        tuple(checks), tuple(ends), per_day, assumed, sync,
                        None if store_path is None else str(store_path),
                        "; ".join(problems) or None, tuple(notes), tuple(listed))


def _session_claim(name: str, claim: _Claim) -> SessionClaim:
    created, proof, out = claim.created, claim.proof, claim.outcome
    return SessionClaim(
        name, claim.supplier, claim.service, claim.application, claim.session_end,
        None if created is None else created.height, None if created is None else created.num_relays,
        None if created is None else created.claimed_upokt, None if proof is None else proof.height,
        None if out is None else out.kind.removeprefix("claim_"), None if out is None else out.height,
        None if out is None else out.reason, None if out is None else out.settled_upokt,
        len(claim.slashes), sum(e.penalty_upokt or 0 for e in claim.slashes))


def _more(items: list[str]) -> str:
    return f" (+{len(items) - 3} more)" if len(items) > 3 else ""


def _add(totals: Totals, claim: _Claim, include: Any) -> None:
    created, proof, out = claim.created, claim.proof, claim.outcome
    if created is not None and include(created.height):
        totals.claims += 1
        totals.relays += created.num_relays or 0
        totals.compute_units += created.compute_units or 0
        totals.claimed_upokt += created.claimed_upokt or 0
    if proof is not None and include(proof.height):
        totals.proven_upokt += proof.claimed_upokt or 0
    if out is not None and include(out.height):
        if out.kind == "claim_settled":
            settled = out.settled_upokt if out.settled_upokt is not None else (out.claimed_upokt or 0)
            totals.settled_upokt += settled
            if out.claimed_upokt is not None and out.claimed_upokt > settled:
                totals.lose("OVERSERVICING", out.claimed_upokt - settled)
        elif out.kind == "claim_expired":
            totals.lose(out.reason or "EXPIRED", out.claimed_upokt or 0)
        elif out.kind == "claim_discarded":
            totals.lose("DISCARDED", created.claimed_upokt or 0 if created else 0)
    for slash in claim.slashes:
        if include(slash.height):
            totals.slashes += 1
            totals.slashed_upokt += slash.penalty_upokt or 0


# ----------------------------------------------------------------------------- the run


async def check_claims(fleet: Any, store_path: Path, *, timeout: float = DEFAULT_TIMEOUT_S,
                       backfill: int = DEFAULT_BACKFILL, concurrency: int = DEFAULT_CONCURRENCY,
                       record: bool = True, warn_blocks: int | None = None,
                       sessions: int = DEFAULT_SESSIONS, busy_timeout_s: float | None = None
                       ) -> ClaimsReport:
    """Sync, read the params, judge: what ``fleetctl claims`` and ``health`` run. Never raises."""
    wait = timeout if busy_timeout_s is None else busy_timeout_s
    try:
        sync_task = sync_events(fleet, store_path, timeout=timeout, backfill=backfill,
                                concurrency=concurrency, record=record, busy_timeout_s=wait)
        params_task = _params(fleet, timeout)
        sync, params = await asyncio.gather(sync_task, params_task)
        return await asyncio.to_thread(
            claims_report, fleet, store_path, params=params, latest_height=sync.latest,
            warn_blocks=warn_blocks, sessions=sessions, sync=sync, extra=sync.events,
            busy_timeout_s=wait)
    except Exception as exc:  # noqa: BLE001 - claims always ends with a status
        secrets = [u for u in (fleet.pocket.node_rpc_url, fleet.pocket.rest_url) if u and has_secret(u)]
        message = scrub(f"internal error ({type(exc).__name__}: {exc})", secrets,
                        sink_style=False, limit=300)
        return ClaimsReport(Level.UNKNOWN, None, datetime.now(UTC).isoformat(timespec="seconds"),
                            checks=(("claims/sync", Level.UNKNOWN, message),), message=message,
                            history_db=str(store_path))


async def _params(fleet: Any, timeout: float) -> ClaimParams:
    url = fleet.pocket.rest_url
    if not url:
        return ClaimParams(problems=("fleet.yml sets no pocket.rest_url: the proof params are "
                                     "read from the Shannon REST API",))
    from fleetctl.pocket.shannon import ShannonAdapter

    try:
        async with ShannonAdapter(JsonClient(url, timeout=timeout, deadline=timeout * 4)) as adapter:
            return await adapter.claim_params()
    except QueryError as exc:
        secrets = [url] if has_secret(url) else []
        return ClaimParams(problems=(scrub(str(exc), secrets, sink_style=False, limit=300),))


def run_claims(fleet: Any, store_path: Path, **options: Any) -> ClaimsReport:
    """:func:`check_claims` from synchronous code (the CLI)."""
    from fleetctl.core.aio import run_sync

    return run_sync(check_claims(fleet, store_path, **options))


# ----------------------------------------------------------------------------- for stakes and scale


@record(frozen=True)
class TxsPerDay:
    """The claim and proof transactions an operator sent per day (each costs a tx fee; a proof
    also ``proof_submission_fee``), over the last day of blocks stored (or less, scaled)."""

    claims: float
    proofs: float
    proofs_missed: float  # claims expired PROOF_MISSING
    days_observed: float


def txs_per_day(store_path: Path, operator: str, *, busy_timeout_s: float = BUSY_TIMEOUT_S
                ) -> TxsPerDay | None:
    """Claims, proofs and missed proofs per day of ``operator`` over the last day of stored
    blocks (None: nothing stored for it yet). Raises :class:`HistoryError` for the store."""
    return txs_per_day_of(store_path, [operator], busy_timeout_s=busy_timeout_s).get(operator)


def txs_per_day_of(store_path: Path, operators: Iterable[str], *, busy_timeout_s: float = BUSY_TIMEOUT_S
                   ) -> dict[str, TxsPerDay]:
    """:func:`txs_per_day` of each of ``operators`` (those with something stored), the store
    read once for all of them. Raises :class:`HistoryError` for the store."""
    events, top = store.operators_events(store_path, operators, busy_timeout_s)
    if top is None or not events:
        return {}
    per_day, _ = _blocks_per_day(_stored_block_time(store_path, busy_timeout_s))
    out: dict[str, TxsPerDay] = {}
    for operator, rows in events.items():
        first = min(h for h, _, _ in rows)
        span = min(per_day, max(1, top - first + 1))
        recent = [(k, r) for h, k, r in rows if h > top - span]
        scale = per_day / span
        out[operator] = TxsPerDay(
            claims=sum(1 for k, _ in recent if k == "claim_created") * scale,
            proofs=sum(1 for k, _ in recent if k == "proof_submitted") * scale,
            proofs_missed=sum(1 for k, r in recent if k == "claim_expired" and r == "PROOF_MISSING") * scale,
            days_observed=span / per_day)
    return out


def proofs_missed_per_day(store_path: Path, operator: str, **kw: Any) -> float | None:
    found = txs_per_day(store_path, operator, **kw)
    return None if found is None else found.proofs_missed


def fees_per_day(store_path: Path, operator: str, *, tx_fee_upokt: int,
                 proof_submission_fee_upokt: int = 0, **kw: Any) -> int | None:
    """upokt per day the operator pays for its claims and proofs: a tx fee each, and the
    proof params' ``proof_submission_fee`` per proof (None: no claims stored yet)."""
    found = txs_per_day(store_path, operator, **kw)
    if found is None:
        return None
    return round(found.claims * tx_fee_upokt + found.proofs * (tx_fee_upokt + proof_submission_fee_upokt))


def observed_relays_per_session(store_path: Path, suppliers: Iterable[str], *,
                                service: str | None = None, sessions: int = 50,
                                busy_timeout_s: float = BUSY_TIMEOUT_S) -> float | None:
    """Relays one of ``suppliers`` served per session it claimed in (all its claims of the
    session summed: one per application), averaged over the last ``sessions`` session ends
    stored; None when nothing is stored. Claims updated later count once (the newest)."""
    rows = store.claim_relays(store_path, suppliers, service, busy_timeout_s)
    if rows is None:
        return None
    newest: dict[tuple[str, str, str, int], int] = {}
    for supplier, svc, app, end, relays in rows:
        newest[(supplier, svc, app, end)] = relays
    if not newest:
        return None
    ends = sorted({k[3] for k in newest}, reverse=True)[:sessions]
    keep = set(ends)
    per_session: dict[tuple[str, str, int], int] = defaultdict(int)
    for (supplier, svc, _, end), relays in newest.items():
        if end in keep:
            per_session[(supplier, svc, end)] += relays
    return sum(per_session.values()) / len(per_session)
