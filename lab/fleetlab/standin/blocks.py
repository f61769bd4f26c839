"""Blocks: the CometBFT history kept per height (results, re-orgs, pruning), injected events
and the Cosmos ``blocks/latest`` answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetlab.standin.addresses import lab_block_hash
from fleetlab.standin.common import (
    SeedError,
    _as_int,
    _as_list,
    _as_object,
    _b64,
    _check_keys,
    _clone,
    _get,
    _proto_timestamp,
)

#: Blocks of CometBFT history the stand-in keeps (``/block_results``, ``/blockchain``); older
#: heights answer as a pruned node does (``height H is not available, lowest height is B``).
COMET_HISTORY_BLOCKS = 10_000


@dataclass
class BlockRecord:
    """What ``/block_results`` shows for one height: its transactions' results and its
    finalize-block events, plus how many times the lab re-orged it (which changes its hash)."""

    txs_results: list[Any] = field(default_factory=list)
    finalize_block_events: list[Any] = field(default_factory=list)
    reorgs: int = 0

    @classmethod
    def from_seed(cls, obj: Any, where: str) -> BlockRecord:
        obj = _as_object(obj, where)
        _check_keys(obj, ("txs_results", "finalize_block_events", "reorgs"), where)
        return cls(_clone(_as_list(_get(obj, "txs_results", []), f"{where}.txs_results")),
                   _clone(_as_list(_get(obj, "finalize_block_events", []),
                                   f"{where}.finalize_block_events")),
                   _as_int(_get(obj, "reorgs", 0), f"{where}.reorgs"))

    def to_seed(self) -> dict[str, Any]:
        return {"txs_results": _clone(self.txs_results),
                "finalize_block_events": _clone(self.finalize_block_events),
                "reorgs": self.reorgs}


class BlocksMixin:
    """The kept block history, its hashes and re-orgs, and ``blocks/latest``.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def _history_base(self, height: int) -> int:
        return max(1, height - COMET_HISTORY_BLOCKS + 1)

    def _block(self, height: int) -> BlockRecord:
        record = self._blocks.get(height)
        if record is None:
            record = self._blocks[height] = BlockRecord()
        return record

    def _block_hash(self, height: int) -> bytes:
        """The block hash at ``height``: :func:`lab_block_hash`, changed by each lab re-org."""
        record = self._blocks.get(height)
        if record is None or not record.reorgs:
            return lab_block_hash(height)
        return hashlib.sha256(f"pocket-lab:{height}:reorg:{record.reorgs}".encode()).digest()

    def _prune(self, height: int) -> None:
        base = self._history_base(height)
        if base <= self._pruned_base:
            return
        self._pruned_base = base
        for old in [h for h in self._blocks if h < base]:
            del self._blocks[old]
        for key in [k for k, c in self._claims.items()
                    if c.state not in ("claimed", "proven") and c.settlement_height < base]:
            del self._claims[key]

    def inject_events(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Append raw ``txs_results`` / ``finalize_block_events`` items at ``height`` (any JSON
        values: tests use it for truncated or unknown events)."""
        _check_keys(obj, ("height", "txs_results", "finalize_block_events"), "events")
        height = _as_int(obj.get("height"), "height", minimum=1)
        txs = _as_list(_get(obj, "txs_results", []), "txs_results")
        finalize = _as_list(_get(obj, "finalize_block_events", []), "finalize_block_events")
        with self._lock:
            current = self._settle()
            if height < self._history_base(current):
                raise SeedError(f"height: {height} is below the kept history")
            record = self._block(height)
            record.txs_results.extend(_clone(txs))
            record.finalize_block_events.extend(_clone(finalize))
            return {"height": height, "txs_results": len(record.txs_results),
                    "finalize_block_events": len(record.finalize_block_events)}

    def reorg(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Re-org ``height`` (at most the latest): its block hash changes and its results are
        replaced (``txs_results`` / ``finalize_block_events`` given, else its transactions
        are dropped and its finalize-block events kept). Claims, stakes and balances are not
        rolled back: only what the CometBFT RPC shows for that block changes."""
        _check_keys(obj, ("height", "txs_results", "finalize_block_events"), "reorg")
        height = _as_int(obj.get("height"), "height", minimum=1)
        txs = obj.get("txs_results")
        finalize = obj.get("finalize_block_events")
        with self._lock:
            current = self._settle()
            if not self._history_base(current) <= height <= current:
                raise SeedError(f"height: expected a kept height up to {current}, got {height}")
            record = self._block(height)
            record.reorgs += 1
            record.txs_results = _clone(_as_list(txs, "txs_results")) if txs is not None else []
            if finalize is not None:
                record.finalize_block_events = _clone(_as_list(finalize,
                                                               "finalize_block_events"))
            return {"height": height, "hash": self._block_hash(height).hex().upper(),
                    "reorgs": record.reorgs}

    def query_latest_block(self) -> dict[str, Any]:
        """``cosmos.base.tendermint.v1beta1.GetLatestBlockResponse`` for the lab chain."""
        with self._lock:
            height = self._settle()
            stamp = _proto_timestamp(self._block_time_ns(height))
            chain_id, proposer, valcons = self._chain_id, self._proposer, self._proposer_valcons
            hashes = {at: self._block_hash(at) for at in (height - 1, height) if at >= 1}

        def block_hash(at: int) -> bytes:
            return hashes[at]

        def digest(label: str, at: int = height) -> str:
            return _b64(hashlib.sha256(f"pocket-lab:{label}:{at}".encode()).digest())

        def block_id(at: int) -> dict[str, Any]:
            if at < 1:
                return {"hash": "", "part_set_header": {"total": 0, "hash": ""}}
            return {"hash": _b64(block_hash(at)),
                    "part_set_header": {"total": 1, "hash": digest("parts", at)}}

        def block(proposer_address: str) -> dict[str, Any]:
            return {
                "header": {
                    "version": {"block": "11", "app": "0"},
                    "chain_id": chain_id,
                    "height": str(height),
                    "time": stamp,
                    "last_block_id": block_id(height - 1),
                    "last_commit_hash": digest("last_commit"),
                    "data_hash": _b64(hashlib.sha256(b"").digest()),
                    "validators_hash": digest("validators"),
                    "next_validators_hash": digest("validators"),
                    "consensus_hash": digest("consensus"),
                    "app_hash": digest("app"),
                    "last_results_hash": _b64(hashlib.sha256(b"").digest()),
                    "evidence_hash": _b64(hashlib.sha256(b"").digest()),
                    "proposer_address": proposer_address,
                },
                "data": {"txs": []},
                "evidence": {"evidence": []},
                "last_commit": {
                    "height": str(height - 1),
                    "round": 0,
                    "block_id": block_id(height - 1),
                    "signatures": [{
                        "block_id_flag": "BLOCK_ID_FLAG_COMMIT",
                        "validator_address": _b64(proposer),
                        "timestamp": stamp,
                        "signature": _b64(hashlib.sha512(f"sig:{height}".encode()).digest()),
                    }],
                },
            }

        return {
            "block_id": block_id(height),
            "block": block(_b64(proposer)),
            "sdk_block": block(valcons),
        }
