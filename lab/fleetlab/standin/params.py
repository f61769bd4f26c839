"""Params of both protocols: mainnet values, the keepers' defaults, merging changes into the
wire form, and the chain's params queries and control updates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fleetlab.standin.common import (
    UPOKT,
    SeedError,
    _as_int,
    _as_list,
    _as_object,
    _as_str,
    _clone,
    _coin,
    _get,
)

#: Mainnet Shannon params, ``body.messages[0].params`` of poktroll-bulk_params_main/*.json, plus
#: the shared-params fields poktroll-openapi.yml declares that those files predate (the gateway
#: emits their zero value: a session grid anchored at genesis).
MAINNET_SHANNON_PARAMS: dict[str, dict[str, Any]] = {
    "application": {"max_delegated_gateways": "7", "min_stake": _coin(1_000_000_000)},
    "gateway": {"min_stake": _coin(5_000_000_000)},
    "proof": {
        "proof_request_probability": 0.01,
        "proof_requirement_threshold": _coin(100),
        "proof_missing_penalty": _coin(1),
        "proof_submission_fee": _coin(1),
    },
    "service": {"add_service_fee": _coin(3_500_000_000), "target_num_relays": "100000"},
    "session": {"num_suppliers_per_session": "50"},
    "shared": {
        "num_blocks_per_session": "20",
        "grace_period_end_offset_blocks": "10",
        "claim_window_open_offset_blocks": "11",
        "claim_window_close_offset_blocks": "10",
        "proof_window_open_offset_blocks": "1",
        "proof_window_close_offset_blocks": "10",
        "supplier_unbonding_period_sessions": "1429",
        "application_unbonding_period_sessions": "3",
        "compute_units_to_tokens_multiplier": "145990",
        "gateway_unbonding_period_sessions": "3",
        "compute_unit_cost_granularity": "1000000",
        "session_grid_anchor_height": "0",
        "session_number_at_anchor": "0",
    },
    "supplier": {"min_stake": _coin(59_500_000_000), "staking_fee": _coin(1)},
    "tokenomics": {
        "dao_reward_address": "pokt1dr5jtqaaz4wk8wevl33e7vkxsjlphljnjhyq2l",
        "mint_allocation_percentages": {
            "dao": 0.1, "proposer": 0, "supplier": 0.8, "source_owner": 0.1, "application": 0,
        },
        "global_inflation_per_claim": 0.000001,
        "mint_equals_burn_claim_distribution": {
            "dao": 0.045, "proposer": 0.14, "supplier": 0.79, "source_owner": 0.025,
            "application": 0,
        },
        "mint_ratio": 0.975,
        "overservicing_bonus_multiplier": "1",
    },
}


#: Module defaults the poktroll keepers fall back to (x/*/types/params.go) when a param is unset.
SHANNON_PARAM_DEFAULTS: dict[tuple[str, str], int] = {
    ("supplier", "min_stake"): 1_000_000,
    ("application", "min_stake"): 1_000_000,
    ("session", "num_suppliers_per_session"): 15,
    ("shared", "num_blocks_per_session"): 10,
    ("shared", "supplier_unbonding_period_sessions"): 1,
    ("shared", "application_unbonding_period_sessions"): 1,
    ("shared", "session_grid_anchor_height"): 0,
    ("shared", "session_number_at_anchor"): 0,
    ("shared", "grace_period_end_offset_blocks"): 1,
    ("shared", "claim_window_open_offset_blocks"): 1,
    ("shared", "claim_window_close_offset_blocks"): 4,
    ("shared", "proof_window_open_offset_blocks"): 0,
    ("shared", "proof_window_close_offset_blocks"): 4,
}


_MORSE_DAO_OWNER = "a83172b67b5ffbfcb8acb95acc0fd0466a9d4bc4"


_MORSE_ACL_KEYS = (
    "application/ApplicationStakeMinimum", "application/AppUnstakingTime",
    "application/BaseRelaysPerPOKT", "application/MaxApplications", "application/MaximumChains",
    "application/ParticipationRateOn", "application/StabilityAdjustment", "auth/MaxMemoCharacters",
    "auth/TxSigLimit", "gov/acl", "gov/daoOwner", "gov/upgrade", "pocketcore/ClaimExpiration",
    "auth/FeeMultipliers", "pocketcore/ReplayAttackBurnMultiplier", "pos/ProposerPercentage",
    "pocketcore/ClaimSubmissionWindow", "pocketcore/MinimumNumberOfProofs",
    "pocketcore/SessionNodeCount", "pocketcore/SupportedBlockchains", "pos/BlocksPerSession",
    "pos/DAOAllocation", "pos/DowntimeJailDuration", "pos/MaxEvidenceAge", "pos/MaximumChains",
    "pos/MaxJailedBlocks", "pos/MaxValidators", "pos/MinSignedPerWindow",
    "pos/RelaysToTokensMultiplier", "pos/SignedBlocksWindow", "pos/SlashFractionDoubleSign",
    "pos/SlashFractionDowntime", "pos/StakeDenom", "pos/StakeMinimum", "pos/UnstakingTime",
)


#: Mainnet Morse params from pocket-core-mainnet-genesis-from-app-genesis.go.json ``app_state``
#: (``pos`` decimals written the way amino marshals ``sdk.BigDec``: 18 decimal places).
MAINNET_MORSE_PARAMS: dict[str, dict[str, Any]] = {
    "pos": {
        "relays_to_tokens_multiplier": "10000",
        "unstaking_time": "1814000000000000",
        "max_validators": "5000",
        "stake_denom": UPOKT,
        "stake_minimum": "15000000000",
        "session_block_frequency": "4",
        "dao_allocation": "10",
        "proposer_allocation": "1",
        "maximum_chains": "15",
        "max_jailed_blocks": "37960",
        "max_evidence_age": "120000000000",
        "signed_blocks_window": "10",
        "min_signed_per_window": "0.600000000000000000",
        "downtime_jail_duration": "3600000000000",
        "slash_fraction_double_sign": "0.050000000000000000",
        "slash_fraction_downtime": "0.000001000000000000",
    },
    "pocketcore": {
        "session_node_count": "5",
        "proof_waiting_period": "3",
        "supported_blockchains": ["0001", "0021"],
        "claim_expiration": "120",
        "replay_attack_burn_multiplier": "3",
        "minimum_number_of_proofs": "10",
    },
    "application": {
        "unstaking_time": "1814000000000000",
        "max_applications": "9223372036854775807",
        "app_stake_minimum": "1000000",
        "base_relays_per_pokt": "167",
        "stability_adjustment": "0",
        "participation_rate_on": False,
        "maximum_chains": "15",
    },
    "auth": {
        "max_memo_characters": "75",
        "tx_sig_limit": "8",
        "fee_multipliers": {"fee_multiplier": [], "default": "1"},
    },
    "gov": {
        "acl": [{"acl_key": key, "address": _MORSE_DAO_OWNER} for key in _MORSE_ACL_KEYS],
        "dao_owner": _MORSE_DAO_OWNER,
        "upgrade": {"Height": "0", "Version": "0"},
    },
}


#: Param-store keys (``ParamSetPairs`` in pocket-core x/*/types/params.go) of the JSON fields.
_MORSE_PARAM_KEYS: dict[str, dict[str, str]] = {
    "pos": {
        "relays_to_tokens_multiplier": "RelaysToTokensMultiplier",
        "relays_to_tokens_multiplier_map": "RelaysToTokensMultiplierMap",
        "unstaking_time": "UnstakingTime",
        "max_validators": "MaxValidators",
        "stake_denom": "StakeDenom",
        "stake_minimum": "StakeMinimum",
        "session_block_frequency": "BlocksPerSession",
        "dao_allocation": "DAOAllocation",
        "proposer_allocation": "ProposerPercentage",
        "maximum_chains": "MaximumChains",
        "max_jailed_blocks": "MaxJailedBlocks",
        "max_evidence_age": "MaxEvidenceAge",
        "signed_blocks_window": "SignedBlocksWindow",
        "min_signed_per_window": "MinSignedPerWindow",
        "downtime_jail_duration": "DowntimeJailDuration",
        "slash_fraction_double_sign": "SlashFractionDoubleSign",
        "slash_fraction_downtime": "SlashFractionDowntime",
        "servicer_stake_floor_multipler": "ServicerStakeFloorMultiplier",
        "servicer_stake_weight_multipler": "ServicerStakeWeightMultiplier",
        "servicer_stake_weight_ceiling": "ServicerStakeWeightCeiling",
        "servicer_stake_floor_multiplier_exponent": "ServicerStakeFloorMultiplierExponent",
    },
    "pocketcore": {
        "session_node_count": "SessionNodeCount",
        "proof_waiting_period": "ClaimSubmissionWindow",
        "supported_blockchains": "SupportedBlockchains",
        "claim_expiration": "ClaimExpiration",
        "replay_attack_burn_multiplier": "ReplayAttackBurnMultiplier",
        "minimum_number_of_proofs": "MinimumNumberOfProofs",
        "block_byte_size": "BlockByteSize",
    },
    "application": {
        "unstaking_time": "AppUnstakingTime",
        "max_applications": "MaxApplications",
        "app_stake_minimum": "ApplicationStakeMinimum",
        "base_relays_per_pokt": "BaseRelaysPerPOKT",
        "stability_adjustment": "StabilityAdjustment",
        "participation_rate_on": "ParticipationRateOn",
        "maximum_chains": "MaximumChains",
    },
    "auth": {
        "max_memo_characters": "MaxMemoCharacters",
        "tx_sig_limit": "TxSigLimit",
        "fee_multipliers": "FeeMultipliers",
    },
    "gov": {"acl": "acl", "dao_owner": "daoOwner", "upgrade": "upgrade"},
}


#: ``AllParamsReturn`` (pocket-core app/query.go) list that holds each module's params.
_MORSE_ALLPARAMS_FIELDS = {
    "application": "app_params", "auth": "auth_params", "gov": "gov_params",
    "pocketcore": "pocket_params", "pos": "node_params",
}


#: ``sdk.BigDec`` fields of the Morse ``pos`` params (amino writes them with 18 decimals).
_MORSE_DECIMAL_PARAMS = frozenset({
    "min_signed_per_window", "slash_fraction_double_sign", "slash_fraction_downtime",
    "servicer_stake_weight_multipler", "servicer_stake_floor_multiplier_exponent",
})


def _merge_params(current: dict[str, Any], changes: Mapping[str, Any], where: str,
                  *, decimals: frozenset[str] = frozenset()) -> None:
    """Merge ``changes`` into wire-form params; ``None`` removes a field.

    Integers given for an existing coin or 64-bit (string-encoded) field are converted to the
    wire encoding, so tests may write ``{"min_stake": 100}``; fields in ``decimals`` are written
    the way amino writes ``sdk.BigDec`` (18 decimal places).
    """
    for name, value in changes.items():
        here = f"{where}.{name}"
        old = current.get(name)
        if value is None:
            current.pop(name, None)
        elif name in decimals:
            current[name] = _bigdec(value, here)
        elif isinstance(old, dict) and set(old) == {"denom", "amount"}:
            if isinstance(value, dict):
                value = {"denom": _as_str(_get(value, "denom", UPOKT), f"{here}.denom"),
                         "amount": str(_as_int(value.get("amount"), f"{here}.amount"))}
            else:
                value = _coin(_as_int(value, here))
            current[name] = value
        elif isinstance(old, str) and re.fullmatch(r"-?\d+", old):
            current[name] = str(_as_int(value, here, minimum=-(2**63)))
        else:
            current[name] = _clone(value)


def _bigdec(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SeedError(f"{where}: expected a decimal, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SeedError(f"{where}: expected a decimal, got {value!r}") from None
    return f"{number:.18f}"


def _param_int(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if isinstance(value, dict):
        value = value.get("amount")
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _amino_param_value(value: Any) -> str:
    """``QueryAllParams`` value: amino JSON of the param, unquoted when it is a JSON string."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _go_float_text(value: Any) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)`` of a float64 param (shortest exact digits)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class ParamsMixin:
    """The chain's params: the Shannon params query and the control updates of both protocols.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def query_params(self, module: str) -> dict[str, Any]:
        with self._lock:
            return {"params": _clone(self._shannon_params[module])}

    def update_shannon_params(self, module: Any, changes: Any, remove: Any) -> dict[str, Any]:
        return self._update_params(self._shannon_params, module, changes, remove, frozenset())

    def update_morse_params(self, module: Any, changes: Any, remove: Any) -> dict[str, Any]:
        decimals = _MORSE_DECIMAL_PARAMS if module == "pos" else frozenset()
        return self._update_params(self._morse_params, module, changes, remove, decimals)

    def _update_params(self, store: dict[str, dict[str, Any]], module: Any, changes: Any,
                       remove: Any, decimals: frozenset[str]) -> dict[str, Any]:
        module = _as_str(module, "module")
        if module not in store:
            raise SeedError(f"module: expected one of {', '.join(sorted(store))}, got {module!r}")
        changes = dict(_as_object(changes if changes is not None else {}, "params"))
        for name in _as_list(remove if remove is not None else [], "remove"):
            changes[_as_str(name, "remove[]")] = None
        with self._lock:
            updated = _clone(store[module])
            _merge_params(updated, changes, f"params.{module}", decimals=decimals)
            store[module] = updated
            return {"params": _clone(updated)}
