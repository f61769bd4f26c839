"""The lab's CometBFT full node as the chain sees it: lag, ``/status``, ``/abci_info``,
``/block_results`` and ``/blockchain`` results.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from fleetlab.standin.blocks import BlockRecord
from fleetlab.standin.common import (
    COMET_BLOCK_PROTOCOL,
    COMET_CHANNELS,
    COMET_P2P_PROTOCOL,
    COMET_VERSION,
    POCKET_APP_NAME,
    POCKET_APP_VERSION,
    _as_bool,
    _as_int,
    _b64,
    _check_keys,
    _clone,
    _go_char,
    _go_time,
)
from fleetlab.standin.errors import CometRPCError, _comet_internal

#: CometBFT's default ``rpc.max_request_batch_size`` (config/config.go ``DefaultRPCConfig``, v0.38):
#: a JSON-RPC batch of more requests is refused as a whole (``PreChecksHandler``); 0 = no limit.
COMET_MAX_REQUEST_BATCH_SIZE = 10


def _comet_height_arg(value: Any, name: str, *, uri: bool) -> int | None:
    """An ``int64`` (or ``*int64``) RPC argument: URI text or a JSON-RPC param; None if absent.

    URI args follow ``http_uri_handler.go`` (integer text, a JSON string, else an error);
    JSON-RPC params accept a JSON string or a number. Laxer than the server, whose cmtjson
    takes an ``int64`` from a JSON string only (``invalid 64-bit integer encoding "5",
    expected string``) and words some errors differently; ``abci_query``'s arguments are
    decoded exactly (:mod:`fleetlab.standin.comet_rpc`).
    """
    where = "http" if uri else "json"
    if value is None or value == "":
        return None
    text = value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CometRPCError(-32602, "Invalid params",
                            f"error converting {where} params to arguments: {name}: "
                            f"expected an integer, got {json.dumps(value)}")
    if isinstance(value, int):
        return value
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    elif uri and text.lower().startswith("0x"):
        raise CometRPCError(-32602, "Invalid params", "error converting http params to "
                            "arguments: got a hex string arg, but expected 'int64'")
    if not re.fullmatch(r"-?\d+", text) or not -(2**63) <= int(text) < 2**63:
        first = text[:1] or '"'
        raise CometRPCError(-32602, "Invalid params",
                            f"error converting {where} params to arguments: invalid character "
                            f"{_go_char(first)} looking for beginning of value")
    return int(text)


class CometMixin:
    """The CometBFT node's view of the chain (its lag and catching-up flag) and its results.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def set_comet(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Change the node's ``lag`` (blocks behind the chain), ``catching_up`` and/or
        ``max_request_batch_size`` (its RPC's JSON-RPC batch limit, 0 = none)."""
        _check_keys(obj, ("lag", "catching_up", "max_request_batch_size"), "comet")
        lag = None if obj.get("lag") is None else _as_int(obj["lag"], "lag")
        catching_up = (None if obj.get("catching_up") is None
                       else _as_bool(obj["catching_up"], "catching_up"))
        batch = (None if obj.get("max_request_batch_size") is None
                 else _as_int(obj["max_request_batch_size"], "max_request_batch_size"))
        with self._lock:
            if lag is not None:
                self._comet_lag = lag
            if catching_up is not None:
                self._comet_catching_up = catching_up
            if batch is not None:
                self._comet_max_batch = batch
            return self._comet_settings()

    def _comet_settings(self) -> dict[str, Any]:
        """The node's settings as ``/__lab/comet`` and the seed show them. Caller holds the lock."""
        return {"lag": self._comet_lag, "catching_up": self._comet_catching_up,
                "max_request_batch_size": self._comet_max_batch}

    def comet_max_request_batch_size(self) -> int:
        """The RPC's ``max_request_batch_size`` (0: batches of any size)."""
        with self._lock:
            return self._comet_max_batch

    def _comet_block(self, height: int) -> tuple[str, str, str]:
        """(block hash, app hash, time) of ``height`` as CometBFT writes them (upper-case hex,
        Go ``time.Time``); the same block as ``blocks/latest``. Before the first block: empty
        hashes and the Unix epoch (``time.Unix(0, 0)``), what rpc/core/status.go reports for an
        empty block store."""
        if height < 1:
            return "", "", _go_time(0)
        app_hash = hashlib.sha256(f"pocket-lab:app:{height}".encode()).digest()
        return (self._block_hash(height).hex().upper(), app_hash.hex().upper(),
                _go_time(self._block_time_ns(height)))

    def comet_status(self, rpc_address: str) -> dict[str, Any]:
        """``ResultStatus`` (rpc/core/types/responses.go) of the lab's full node."""
        with self._lock:
            height = max(0, self._settle() - self._comet_lag)
            chain_id, catching_up = self._chain_id, self._comet_catching_up
            latest = self._comet_block(height)
            base = self._history_base(self._height())
            earliest = self._comet_block(base if height >= 1 else 0)
        node_key = hashlib.sha256(f"pocket-lab-node-key:{chain_id}".encode()).digest()
        validator_key = hashlib.sha256(f"pocket-lab-validator-key:{chain_id}".encode()).digest()
        return {
            "node_info": {
                "protocol_version": {"p2p": str(COMET_P2P_PROTOCOL),
                                     "block": str(COMET_BLOCK_PROTOCOL), "app": "0"},
                # p2p.ID: hex of the node key's address (SHA-256 of the ed25519 key, 20 bytes).
                "id": hashlib.sha256(node_key).digest()[:20].hex(),
                # Reported, not bound: CometBFT's default p2p laddr, as a real node's /status says.
                "listen_addr": "tcp://0.0.0.0:26656",
                "network": chain_id,
                "version": COMET_VERSION,
                "channels": COMET_CHANNELS,
                "moniker": "fleetlab-full-node",
                "other": {"tx_index": "on", "rpc_address": rpc_address},
            },
            "sync_info": {
                "latest_block_hash": latest[0],
                "latest_app_hash": latest[1],
                "latest_block_height": str(height),
                "latest_block_time": latest[2],
                "earliest_block_hash": earliest[0],
                "earliest_app_hash": earliest[1],
                "earliest_block_height": str(base if height >= 1 else 0),
                "earliest_block_time": earliest[2],
                "catching_up": catching_up,
            },
            "validator_info": {
                "address": hashlib.sha256(validator_key).digest()[:20].hex().upper(),
                "pub_key": {"type": "tendermint/PubKeyEd25519", "value": _b64(validator_key)},
                "voting_power": "0",  # a full node, not in the validator set
            },
        }

    def comet_abci_info(self) -> dict[str, Any]:
        """``ResultABCIInfo``: BaseApp ``Info`` (``omitempty`` drops zero values)."""
        with self._lock:
            height = max(0, self._settle() - self._comet_lag)
        response: dict[str, Any] = {"data": POCKET_APP_NAME, "version": POCKET_APP_VERSION}
        if height >= 1:
            response["last_block_height"] = str(height)
            response["last_block_app_hash"] = _b64(
                hashlib.sha256(f"pocket-lab:app:{height}".encode()).digest())
        return {"response": response}

    def _comet_latest(self) -> int:
        return max(0, self._settle() - self._comet_lag)

    def _comet_get_height(self, latest: int, height: int | None) -> int:
        """``Environment.getHeight`` (rpc/core/env.go of CometBFT v0.38)."""
        if height is None:
            return latest
        if height <= 0:
            raise _comet_internal(f"height must be greater than 0, but got {height}")
        if height > latest:
            raise _comet_internal(f"height {height} must be less than or equal to the current "
                                  f"blockchain height {latest}")
        base = self._history_base(self._height())
        if height < base:
            raise _comet_internal(f"height {height} is not available, lowest height is {base}")
        return height

    def comet_block_results(self, height: int | None) -> dict[str, Any]:
        """``ResultBlockResults`` (rpc/core/blocks.go ``BlockResults``) of ``height``."""
        with self._lock:
            height = self._comet_get_height(self._comet_latest(), height)
            record = self._blocks.get(height) or BlockRecord()
            app_hash = hashlib.sha256(f"pocket-lab:app:{height}".encode()).digest()
            return {
                "height": str(height),
                "txs_results": _clone(record.txs_results) or None,
                "finalize_block_events": _clone(record.finalize_block_events) or None,
                "validator_updates": None,
                "consensus_param_updates": None,
                "app_hash": _b64(app_hash),
            }

    def comet_blockchain(self, min_height: int | None, max_height: int | None) -> dict[str, Any]:
        """``ResultBlockchainInfo`` (``BlockchainInfo`` with ``filterMinMax``): at most 20
        ``BlockMeta``, highest first."""
        low, high = min_height or 0, max_height or 0
        with self._lock:
            latest = self._comet_latest()
            base = self._history_base(self._height()) if latest else 0
            if low < 0 or high < 0:
                raise _comet_internal("heights must be non-negative")
            low = max(base, low or 1)
            high = min(latest, high or latest)
            low = max(low, high - 20 + 1)
            if low > high:
                raise _comet_internal(f"min height {low} can't be greater than max height {high}")
            metas = [self._block_meta(h) for h in range(high, low - 1, -1)]
            return {"last_height": str(latest), "block_metas": metas}

    def _block_id(self, height: int) -> dict[str, Any]:
        if height < 1:
            return {"hash": "", "parts": {"total": 0, "hash": ""}}
        parts = hashlib.sha256(f"pocket-lab:parts:{height}".encode()).digest()
        return {"hash": self._block_hash(height).hex().upper(),
                "parts": {"total": 1, "hash": parts.hex().upper()}}

    def _block_meta(self, height: int) -> dict[str, Any]:
        """``types.BlockMeta`` in CometBFT's JSON (cmtjson: ``int`` and ``int64`` as strings)."""
        record = self._blocks.get(height) or BlockRecord()

        def digest(label: str, at: int = height) -> str:
            return hashlib.sha256(f"pocket-lab:{label}:{at}".encode()).hexdigest().upper()

        empty = hashlib.sha256(b"").hexdigest().upper()
        num_txs = len(record.txs_results)
        return {
            "block_id": self._block_id(height),
            "block_size": str(700 + 400 * num_txs),
            "header": {
                "version": {"block": str(COMET_BLOCK_PROTOCOL), "app": "0"},
                "chain_id": self._chain_id,
                "height": str(height),
                "time": _go_time(self._block_time_ns(height)),
                "last_block_id": self._block_id(height - 1),
                "last_commit_hash": digest("last_commit"),
                "data_hash": digest("data") if num_txs else empty,
                "validators_hash": digest("validators", 0),
                "next_validators_hash": digest("validators", 0),
                "consensus_hash": digest("consensus", 0),
                "app_hash": hashlib.sha256(f"pocket-lab:app:{height - 1}".encode())
                .hexdigest().upper(),
                "last_results_hash": digest("results", height - 1),
                "evidence_hash": empty,
                "proposer_address": self._proposer.hex().upper(),
            },
            "num_txs": str(num_txs),
        }
