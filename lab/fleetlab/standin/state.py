"""The lab chain: :class:`ChainState` composes the concerns (clock, faults, params, accounts,
suppliers, sessions, claims, settlement, blocks, the CometBFT node, Morse) over one state and
one lock, loaded from a seed and exported back to one.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from fleetlab.standin.abci import AbciMixin
from fleetlab.standin.accounts import AccountsMixin, _account_entry
from fleetlab.standin.addresses import bech32_encode
from fleetlab.standin.blocks import BlockRecord, BlocksMixin
from fleetlab.standin.claims import Claim, ClaimsMixin
from fleetlab.standin.clock import ClockMixin
from fleetlab.standin.comet import COMET_MAX_REQUEST_BATCH_SIZE, CometMixin
from fleetlab.standin.common import (
    DEFAULT_CHAIN_ID,
    SeedError,
    _as_bool,
    _as_int,
    _as_list,
    _as_object,
    _as_str,
    _check_keys,
    _clone,
    _get,
)
from fleetlab.standin.faults import FaultPlan, FaultsMixin
from fleetlab.standin.morse import MorseMixin, MorseNode
from fleetlab.standin.params import (
    _MORSE_DECIMAL_PARAMS,
    MAINNET_MORSE_PARAMS,
    MAINNET_SHANNON_PARAMS,
    SHANNON_PARAM_DEFAULTS,
    ParamsMixin,
    _merge_params,
    _param_int,
)
from fleetlab.standin.sessions import SessionsMixin
from fleetlab.standin.settlement import SettlementMixin
from fleetlab.standin.suppliers import (
    _LAB_SERVICE_OWNER,
    Application,
    Supplier,
    SuppliersMixin,
    _service_id_error,
)


class ChainState(FaultsMixin, ClockMixin, ParamsMixin, AccountsMixin, SuppliersMixin,
                 SessionsMixin, ClaimsMixin, SettlementMixin, BlocksMixin, CometMixin, AbciMixin,
                 MorseMixin):
    """The lab chain: Shannon and Morse state, params, balances, height and faults.

    Every public method takes the one lock, applies the time-driven transitions due so far and
    returns plain JSON values (wire form for the query methods), so callers never share
    mutable state with it. Each concern's methods are a mixin in its own module; the state
    they share is loaded here (:meth:`_load`) and guarded by ``self._lock``.
    """

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._seed = _clone(dict(seed or {}))
        self._load(self._seed)

    def _load(self, seed: Mapping[str, Any]) -> None:
        seed = _as_object(dict(seed), "seed")
        _check_keys(seed, ("chain_id", "height", "block_time", "latency_ms", "shannon", "morse",
                           "balances", "accounts", "comet", "fault", "blocks"), "seed")
        fault = FaultPlan.from_seed(_as_object(_get(seed, "fault", {}), "seed.fault"), "seed.fault")
        chain_id = _as_str(_get(seed, "chain_id", DEFAULT_CHAIN_ID), "seed.chain_id")
        height = _as_int(_get(seed, "height", 1), "seed.height", minimum=1)
        block_time = _get(seed, "block_time", 0)
        if (isinstance(block_time, bool) or not isinstance(block_time, (int, float))
                or block_time < 0):
            raise SeedError(f"seed.block_time: expected seconds >= 0, got {block_time!r}")
        latency_ms = _as_int(_get(seed, "latency_ms", 0), "seed.latency_ms")
        comet = _as_object(_get(seed, "comet", {}), "seed.comet")
        _check_keys(comet, ("lag", "catching_up", "max_request_batch_size"), "seed.comet")
        comet_lag = _as_int(_get(comet, "lag", 0), "seed.comet.lag")
        comet_catching_up = _as_bool(_get(comet, "catching_up", False), "seed.comet.catching_up")
        comet_max_batch = _as_int(_get(comet, "max_request_batch_size",
                                       COMET_MAX_REQUEST_BATCH_SIZE),
                                  "seed.comet.max_request_batch_size")

        shannon = _as_object(_get(seed, "shannon", {}), "seed.shannon")
        _check_keys(shannon, ("params", "suppliers", "applications", "services", "claims"),
                    "seed.shannon")
        shannon_params = _clone(MAINNET_SHANNON_PARAMS)
        for module, changes in _as_object(_get(shannon, "params", {}),
                                          "seed.shannon.params").items():
            if module not in shannon_params:
                raise SeedError(f"seed.shannon.params: unknown module {module!r}")
            where = f"seed.shannon.params.{module}"
            _merge_params(shannon_params[module], _as_object(changes, where), where)
        morse = _as_object(_get(seed, "morse", {}), "seed.morse")
        _check_keys(morse, ("params", "nodes"), "seed.morse")
        morse_params = _clone(MAINNET_MORSE_PARAMS)
        for module, changes in _as_object(_get(morse, "params", {}), "seed.morse.params").items():
            if module not in morse_params:
                raise SeedError(f"seed.morse.params: unknown module {module!r}")
            where = f"seed.morse.params.{module}"
            _merge_params(morse_params[module], _as_object(changes, where), where,
                          decimals=_MORSE_DECIMAL_PARAMS if module == "pos" else frozenset())

        supplier_min = _param_int(shannon_params["supplier"], "min_stake",
                                  SHANNON_PARAM_DEFAULTS[("supplier", "min_stake")])
        suppliers: dict[str, Supplier] = {}
        entries = _as_list(_get(shannon, "suppliers", []), "seed.shannon.suppliers")
        for i, entry in enumerate(entries):
            supplier = Supplier.from_seed(entry, supplier_min, 1, f"seed.shannon.suppliers[{i}]")
            suppliers[supplier.operator_address] = supplier
        app_min = _param_int(shannon_params["application"], "min_stake",
                             SHANNON_PARAM_DEFAULTS[("application", "min_stake")])
        applications: dict[str, Application] = {}
        for i, entry in enumerate(_as_list(_get(shannon, "applications", []),
                                           "seed.shannon.applications")):
            app = Application.from_seed(entry, app_min, f"seed.shannon.applications[{i}]")
            applications[app.address] = app
        node_min = _param_int(morse_params["pos"], "stake_minimum", 0)
        nodes: dict[str, MorseNode] = {}
        for i, entry in enumerate(_as_list(_get(morse, "nodes", []), "seed.morse.nodes")):
            node = MorseNode.from_seed(entry, node_min, f"seed.morse.nodes[{i}]")
            nodes[node.address] = node
        balances = {
            _as_str(address, "seed.balances").lower(): _as_int(amount, f"seed.balances.{address}")
            for address, amount in _as_object(_get(seed, "balances", {}), "seed.balances").items()
        }
        accounts: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(_as_list(_get(seed, "accounts", []), "seed.accounts")):
            account = _account_entry(entry, f"seed.accounts[{i}]")
            accounts[account["address"].lower()] = account
        services: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(_as_list(_get(shannon, "services", []),
                                           "seed.shannon.services")):
            where = f"seed.shannon.services[{i}]"
            entry = _as_object(entry, where)
            _check_keys(entry, ("id", "name", "compute_units_per_relay", "owner_address"), where)
            service_id = _as_str(entry.get("id"), f"{where}.id")
            if problem := _service_id_error(service_id):
                raise SeedError(f"{where}.id: {problem}")
            services[service_id] = {
                "id": service_id,
                "name": _as_str(_get(entry, "name", service_id), f"{where}.name"),
                "compute_units_per_relay": _as_int(_get(entry, "compute_units_per_relay", 1),
                                                   f"{where}.compute_units_per_relay",
                                                   minimum=1),
                "owner_address": _as_str(_get(entry, "owner_address", _LAB_SERVICE_OWNER),
                                         f"{where}.owner_address"),
            }
        claims: dict[tuple[str, str], Claim] = {}
        for i, entry in enumerate(_as_list(_get(shannon, "claims", []), "seed.shannon.claims")):
            claim = Claim.from_seed(entry, f"seed.shannon.claims[{i}]")
            claims[claim.key()] = claim
        blocks: dict[int, BlockRecord] = {}
        for key, entry in _as_object(_get(seed, "blocks", {}), "seed.blocks").items():
            if not re.fullmatch(r"[1-9]\d*", key):
                raise SeedError(f"seed.blocks: expected heights as keys, got {key!r}")
            blocks[int(key)] = BlockRecord.from_seed(entry, f"seed.blocks.{key}")

        self._chain_id = chain_id
        self._proposer = hashlib.sha256(f"pocket-lab-proposer:{chain_id}".encode()).digest()[:20]
        self._proposer_valcons = bech32_encode("poktvalcons", self._proposer)
        self._block_time = float(block_time)
        self._anchor_height = height
        self._anchor_monotonic = time.monotonic()
        self._anchor_wall_ns = time.time_ns()
        self._latency_ms = latency_ms
        self._comet_lag = comet_lag
        self._comet_catching_up = comet_catching_up
        self._comet_max_batch = comet_max_batch
        self._fault = fault
        self._shannon_params = shannon_params
        self._morse_params = morse_params
        self._suppliers = suppliers
        self._applications = applications
        self._nodes = nodes
        self._balances = balances
        self._services = services
        self._claims = claims
        self._blocks = blocks
        self._tx_count = sum(len(b.txs_results) for b in blocks.values())
        self._accounts = {k: {n: v for n, v in a.items() if n != "sequence"}
                          for k, a in accounts.items()}
        # Last sequence each account signed with (-1: none), keyed by lower-case address.
        self._sequences: dict[str, int] = {k: a["sequence"] - 1 for k, a in accounts.items()
                                           if a.get("sequence")}
        self._pruned_base = 0
        self._next_settlement = 0  # lowest settlement height of a pending claim (0: none known)

    def export(self) -> dict[str, Any]:
        """The whole state in the seed format: a seed that reproduces it."""
        with self._lock:
            height = self._settle()

            def params_with_removals(current: Mapping[str, dict[str, Any]],
                                     mainnet: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
                return {module: {**{k: None for k in mainnet[module] if k not in values},
                                 **_clone(values)}
                        for module, values in current.items()}

            return {
                "chain_id": self._chain_id,
                "height": height,
                "block_time": self._block_time,
                "latency_ms": self._latency_ms,
                "shannon": {
                    "params": params_with_removals(self._shannon_params, MAINNET_SHANNON_PARAMS),
                    "suppliers": [s.to_seed() for s in self._suppliers.values()],
                    "applications": [a.to_seed() for a in self._applications.values()],
                    "services": [dict(s) for s in self._services.values()],
                    "claims": [c.to_seed() for c in self._claims.values()],
                },
                "morse": {
                    "params": params_with_removals(self._morse_params, MAINNET_MORSE_PARAMS),
                    "nodes": [n.to_seed() for n in self._nodes.values()],
                },
                "balances": dict(self._balances),
                "accounts": self._export_accounts(),
                "comet": self._comet_settings(),
                "fault": self._fault.to_wire(),
                "blocks": {str(h): b.to_seed() for h, b in sorted(self._blocks.items())},
            }

    def reset(self) -> int:
        """Back to the seed the chain was created with (height re-anchored to now)."""
        with self._lock:
            self._load(self._seed)
            return self._settle()
