"""The Morse side (pocket-core): nodes, their signing info, the RPC's queries and the control
of jails, slashes and force-unstakes.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetlab.standin.common import (
    SeedError,
    _as_bool,
    _as_int,
    _as_list,
    _as_object,
    _as_str,
    _check_keys,
    _clone,
    _get,
    _go_time,
    _parse_rfc3339,
)
from fleetlab.standin.errors import ControlError, MorseError
from fleetlab.standin.params import (
    _MORSE_ALLPARAMS_FIELDS,
    _MORSE_PARAM_KEYS,
    _amino_param_value,
    _param_int,
)

_MORSE_STATUS_UNSTAKED, _MORSE_STATUS_UNSTAKING, _MORSE_STATUS_STAKED = 0, 1, 2


@dataclass
class SigningInfo:
    """``ValidatorSigningInfo`` (pocket-core x/nodes/types/nodes.pb.go)."""

    start_height: int = 0
    index_offset: int = 0
    jailed_until_ns: int | None = None
    missed_blocks_counter: int = 0
    jailed_blocks_counter: int = 0

    @classmethod
    def from_seed(cls, obj: Any, where: str) -> SigningInfo:
        obj = _as_object(obj, where)
        _check_keys(obj, ("address", "start_height", "index_offset", "jailed_until",
                          "missed_blocks_counter", "jailed_blocks_counter"), where)
        until = obj.get("jailed_until")
        return cls(
            start_height=_as_int(_get(obj, "start_height", 0), f"{where}.start_height"),
            index_offset=_as_int(_get(obj, "index_offset", 0), f"{where}.index_offset"),
            jailed_until_ns=None if until is None else _parse_rfc3339(
                _as_str(until, f"{where}.jailed_until"), f"{where}.jailed_until"),
            missed_blocks_counter=_as_int(_get(obj, "missed_blocks_counter", 0),
                                          f"{where}.missed_blocks_counter"),
            jailed_blocks_counter=_as_int(_get(obj, "jailed_blocks_counter", 0),
                                          f"{where}.jailed_blocks_counter"),
        )

    def to_wire(self, address: str) -> dict[str, Any]:
        return {
            "address": address,
            "start_height": self.start_height,
            "index_offset": self.index_offset,
            "jailed_until": _go_time(self.jailed_until_ns),
            "missed_blocks_counter": self.missed_blocks_counter,
            "jailed_blocks_counter": self.jailed_blocks_counter,
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "start_height": self.start_height,
            "index_offset": self.index_offset,
            "jailed_until": _go_time(self.jailed_until_ns),
            "missed_blocks_counter": self.missed_blocks_counter,
            "jailed_blocks_counter": self.jailed_blocks_counter,
        }


_HEX_RE = re.compile(r"^[0-9a-fA-F]*$")


#: The lab DAO's tokens in ``/v1/query/supply`` (mainnet's DAO held ~ 10^14 upokt).
MORSE_DAO_UPOKT = 100_000_000_000_000


@dataclass
class MorseNode:
    """A Morse node (``Validator``, pocket-core x/nodes/types/validator.go)."""

    address: str
    public_key: str
    jailed: bool
    status: int
    chains: list[str]
    service_url: str
    tokens_upokt: int
    unstaking_time_ns: int | None
    output_address: str
    signing_info: SigningInfo = field(default_factory=SigningInfo)

    @classmethod
    def from_seed(cls, obj: Any, default_tokens: int, where: str) -> MorseNode:
        obj = _as_object(obj, where)
        _check_keys(obj, ("address", "public_key", "jailed", "status", "chains", "service_url",
                          "tokens_upokt", "unstaking_time", "output_address", "signing_info"),
                    where)
        public_key = obj.get("public_key")
        if public_key is not None:
            public_key = _as_str(public_key, f"{where}.public_key").lower()
            if not _HEX_RE.match(public_key) or len(public_key) != 64:
                raise SeedError(f"{where}.public_key: expected 64 hex digits")
        if "address" in obj:
            address = _as_str(obj["address"], f"{where}.address").lower()
        elif public_key is not None:
            address = hashlib.sha256(bytes.fromhex(public_key)).digest()[:20].hex()
        else:
            raise SeedError(f"{where}: needs an address or a public_key")
        if not _HEX_RE.match(address) or len(address) != 40:
            raise SeedError(f"{where}.address: expected 40 hex digits, got {address!r}")
        if public_key is None:
            public_key = hashlib.sha256(f"pocket-lab-pubkey:{address}".encode()).hexdigest()
        status = _as_int(_get(obj, "status", _MORSE_STATUS_STAKED), f"{where}.status")
        if status > _MORSE_STATUS_STAKED:
            raise SeedError(f"{where}.status: expected 0 (unstaked), 1 (unstaking) or 2 (staked)")
        output = _as_str(_get(obj, "output_address", ""), f"{where}.output_address").lower()
        if output and (not _HEX_RE.match(output) or len(output) != 40):
            raise SeedError(f"{where}.output_address: expected 40 hex digits or ''")
        unstaking = obj.get("unstaking_time")
        return cls(
            address=address,
            public_key=public_key,
            jailed=_as_bool(_get(obj, "jailed", False), f"{where}.jailed"),
            status=status,
            chains=[_as_str(c, f"{where}.chains[{i}]")
                    for i, c in enumerate(_as_list(_get(obj, "chains", []), f"{where}.chains"))],
            service_url=_as_str(
                _get(obj, "service_url", f"https://node-{address[:8]}.lab.invalid:443"),
                f"{where}.service_url"),
            tokens_upokt=_as_int(_get(obj, "tokens_upokt", default_tokens),
                                 f"{where}.tokens_upokt"),
            unstaking_time_ns=None if unstaking is None else _parse_rfc3339(
                _as_str(unstaking, f"{where}.unstaking_time"), f"{where}.unstaking_time"),
            output_address=output,
            signing_info=SigningInfo.from_seed(_get(obj, "signing_info", {}),
                                               f"{where}.signing_info"),
        )

    def to_wire(self) -> dict[str, Any]:
        """``JSONValidator`` (``Validator.MarshalJSON``): what /v1/query/node and nodes show."""
        return {
            "address": self.address,
            "public_key": self.public_key,
            "jailed": self.jailed,
            "status": self.status,
            "chains": list(self.chains) or None,
            "service_url": self.service_url,
            "tokens": str(self.tokens_upokt),
            "unstaking_time": _go_time(self.unstaking_time_ns),
            "output_address": self.output_address,
            "reward_delegators": None,
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "public_key": self.public_key,
            "chains": list(self.chains),
            "tokens_upokt": self.tokens_upokt,
            "jailed": self.jailed,
            "status": self.status,
            "service_url": self.service_url,
            "output_address": self.output_address,
            "unstaking_time": _go_time(self.unstaking_time_ns),
            "signing_info": self.signing_info.to_seed(),
        }


def _morse_paginate(items: list[dict[str, Any]], page: int, per_page: int) -> dict[str, Any]:
    """``paginate`` (pocket-core app/query.go) after ``checkPagination``.

    ``total_pages`` is ``ceil(len / len(this page))`` exactly as pocket-core computes it (so a
    short last page reports more pages); a page past the end is the empty ``Page{}``.
    """
    page = page if page > 0 else 1
    limit = per_page if per_page > 0 else 30
    start, end = (page - 1) * limit, min(page * limit, len(items))
    if start >= len(items):
        return {"result": None, "total_pages": 0, "page": 0}
    total_pages = max(1, -(-len(items) // (end - start)))
    return {"result": items[start:end], "total_pages": total_pages, "page": page}


class MorseMixin:
    """Morse nodes: the pocket-core queries and the control routes (upsert, jail, slash).

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def morse_node(self, address: str) -> dict[str, Any]:
        """``QueryNode`` (pocket-core app/query.go)."""
        with self._lock:
            self._settle()
            node = self._nodes.get(address)
            if node is None:
                raise MorseError(f"validator not found for {address}")
            return node.to_wire()

    def morse_nodes(self, *, staking_status: int, jailed_status: int, blockchain: str,
                    page: int, per_page: int) -> dict[str, Any]:
        """``QueryNodes``: ``QueryValidatorsParams.IsValid`` filter, then ``paginate``."""
        with self._lock:
            self._settle()
            nodes = [
                n.to_wire() for _, n in sorted(self._nodes.items())
                if (jailed_status != 1 or n.jailed) and (jailed_status != 2 or not n.jailed)
                and (staking_status == 0 or n.status == staking_status)
                and (not blockchain or blockchain in n.chains)
            ]
        return _morse_paginate(nodes, page, per_page)

    def morse_signing_infos(self, address: str, page: int, per_page: int) -> dict[str, Any]:
        """``QuerySigningInfos``: one node's signing info, or all of them, paginated."""
        with self._lock:
            self._settle()
            if address:
                node = self._nodes.get(address)
                if node is None:
                    return {"result": None, "total_pages": 0, "page": 0}
                infos = [node.signing_info.to_wire(address)]
            else:
                infos = [n.signing_info.to_wire(a) for a, n in sorted(self._nodes.items())]
        return _morse_paginate(infos, page, per_page)

    def morse_node_params(self) -> dict[str, Any]:
        with self._lock:
            params: dict[str, Any] = _clone(self._morse_params["pos"])
            return params

    def morse_all_params(self) -> dict[str, Any]:
        """``QueryAllParams``: every param as ``{"param_key": "<module>/<Key>", "param_value"}``."""
        wrapped = {"acl": "gov/non_map_acl", "upgrade": "gov/upgrade"}
        with self._lock:
            out: dict[str, Any] = {}
            for module, values in self._morse_params.items():
                keys = _MORSE_PARAM_KEYS[module]
                pairs = []
                for name, value in values.items():
                    if module == "gov" and name in wrapped:
                        value = {"type": wrapped[name], "value": value}
                    pairs.append({"param_key": f"{module}/{keys.get(name, name)}",
                                  "param_value": _amino_param_value(value)})
                # a module without params is a nil slice in Go: null
                out[_MORSE_ALLPARAMS_FIELDS[module]] = sorted(
                    pairs, key=lambda p: p["param_key"]) or None
            return out

    def morse_supported_chains(self) -> dict[str, Any]:
        with self._lock:
            chains = self._morse_params["pocketcore"].get("supported_blockchains") or []
            return {"supported_chains": list(chains)}

    def morse_supply(self) -> dict[str, Any]:
        """``QuerySupplyResponse`` (pocket-core-rpc-spec.yaml, ``/v1/query/supply``): as
        pocket-core's ``app/cmd/rpc/query.go`` builds it, total = staked (nodes + apps + DAO)
        plus the unstaked tokens; here the unstaked tokens are the accounts' balances and the
        DAO holds a fixed MORSE_DAO_UPOKT."""
        with self._lock:
            self._settle()
            node_staked = sum(n.tokens_upokt for n in self._nodes.values() if n.status != 0)
            total_staked = node_staked + MORSE_DAO_UPOKT
            unstaked = sum(self._balances.values())
            return {"node_staked": node_staked, "app_staked": 0, "dao": MORSE_DAO_UPOKT,
                    "total_staked": total_staked, "total_unstaked": unstaked,
                    "total": total_staked + unstaked}

    def morse_balance(self, address: str) -> dict[str, Any]:
        with self._lock:
            self._settle()
            return {"balance": self._balances.get(address, 0)}

    def upsert_morse_node(self, obj: Any) -> dict[str, Any]:
        with self._lock:
            self._settle()
            minimum = _param_int(self._morse_params["pos"], "stake_minimum", 0)
            node = MorseNode.from_seed(obj, minimum, "node")
            self._nodes[node.address] = node
            return node.to_wire()

    def _morse_target(self, address: Any) -> MorseNode:
        address = _as_str(address, "address").lower()
        node = self._nodes.get(address)
        if node is None:
            raise ControlError(404, f"no node {address}")
        return node

    def _force_unstake(self, node: MorseNode) -> None:
        """``ForceValidatorUnstake``: jail, then unstake for ``unstaking_time``."""
        node.jailed = True
        if node.status == _MORSE_STATUS_STAKED:
            node.status = _MORSE_STATUS_UNSTAKING
            node.unstaking_time_ns = time.time_ns() + _param_int(self._morse_params["pos"],
                                                                 "unstaking_time", 0)

    def jail_morse_node(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Jail or unjail; past ``max_jailed_blocks`` jailed blocks the node is force-unstaked."""
        _check_keys(obj, ("address", "jailed", "jailed_until", "jailed_blocks_counter",
                          "missed_blocks_counter"), "jail")
        jailed = _as_bool(obj.get("jailed", True), "jailed")
        until = obj.get("jailed_until")
        until_ns = None if until is None else _parse_rfc3339(_as_str(until, "jailed_until"),
                                                             "jailed_until")
        with self._lock:
            self._settle()
            node = self._morse_target(obj.get("address"))
            info = node.signing_info
            node.jailed = jailed
            if jailed:
                jail_ns = _param_int(self._morse_params["pos"], "downtime_jail_duration", 0)
                info.jailed_until_ns = until_ns if until is not None else time.time_ns() + jail_ns
                if obj.get("jailed_blocks_counter") is not None:
                    info.jailed_blocks_counter = _as_int(obj["jailed_blocks_counter"],
                                                         "jailed_blocks_counter")
            else:  # UnjailValidator → ResetSigningInfo
                info.jailed_blocks_counter = info.missed_blocks_counter = info.index_offset = 0
            if obj.get("missed_blocks_counter") is not None:
                info.missed_blocks_counter = _as_int(obj["missed_blocks_counter"],
                                                     "missed_blocks_counter")
            if info.jailed_blocks_counter > _param_int(self._morse_params["pos"],
                                                       "max_jailed_blocks", 37960):
                self._force_unstake(node)
            return node.to_wire()

    def slash_morse_node(self, address: Any, amount_upokt: Any) -> dict[str, Any]:
        """Burn tokens; below ``stake_minimum`` the node is force-unstaked (x/nodes slash.go)."""
        amount = _as_int(amount_upokt, "amount_upokt")
        with self._lock:
            self._settle()
            node = self._morse_target(address)
            node.tokens_upokt -= min(amount, node.tokens_upokt)
            if node.tokens_upokt < _param_int(self._morse_params["pos"], "stake_minimum", 0):
                self._force_unstake(node)
            return node.to_wire()
