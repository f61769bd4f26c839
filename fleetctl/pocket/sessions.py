"""Session model: the odds of being in a session, expected rewards, the real draws.

Every session pairs one application with ``K`` of the ``N`` identities (Shannon suppliers,
Morse nodes) eligible for a service; stake does not weigh the draw. With ``m`` of them ours:

* :func:`p_at_least_one` ``= 1 - C(N-m, K) / C(N, K)``, computed in log space (no float
  overflow, no huge binomials) for ``N`` up to 10^6 and beyond; :func:`expected_ours`
  ``= K*m/N``; :func:`sessions_per_day` from the session length and the block time.
* Rewards per relay from the protocols' own formulas (:class:`ShannonRewardParams`,
  :class:`MorseRewardParams`, mainnet values by default, every input overridable), exact per
  claim with the chain's roundings (:meth:`ShannonRewardParams.claim`).
* The selection algorithms themselves, byte for byte as the Go code does them:
  :func:`shannon_session_suppliers` (poktroll ``x/session/keeper/session_hydrator.go``) and
  :func:`morse_session_nodes` (pocket-core ``x/pocketcore/types/session.go``).

The what-if table ``fleetctl scale`` prints and the Monte Carlo of session wins built on these
are planning, not protocol: :mod:`fleetctl.plan.sessions_sim`.

Sources read (pokt-network/poktroll main @ ab401edc, pokt-network/pocket-core staging
@ 29f421ca; line numbers are from those commits) are cited in each docstring. Pure library:
standard library only, no network, no I/O. Amounts of money are exact (``int`` upokt, or
``Fraction`` for rates); probabilities and expectations of counts are floats.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from fleetctl.core.records import record
from fleetctl.spec.address import hex_decode

__all__ = [
    "DEFAULTS",
    "SECONDS_PER_DAY",
    "ClaimReward",
    "MorseRewardParams",
    "ProtocolDefaults",
    "ShannonRewardParams",
    "expected_ours",
    "morse_session_key",
    "morse_session_nodes",
    "morse_session_nodes_from_key",
    "p_at_least_one",
    "sessions_per_day",
    "shannon_session_id",
    "shannon_session_id_bytes",
    "shannon_session_start_height",
    "shannon_session_suppliers",
    "shannon_supplier_weight",
]

SECONDS_PER_DAY = 86_400
Protocol = Literal["shannon", "morse"]
Rational = int | Fraction | Decimal | str | float

_sha3_256 = hashlib.sha3_256
# Above this many factors, log C(N-m,K)/C(N,K) comes from lgamma instead of a product.
_LGAMMA_FROM = 4096


def _rational(value: Rational, what: str) -> Fraction:
    """``value`` as an exact Fraction. A float goes through its shortest decimal repr, as
    poktroll's ``encoding.Float64ToRat`` does (``strconv.FormatFloat(f, 'f', -1, 64)``), so
    0.975 is 39/40 and not the binary double nearest to it."""
    if isinstance(value, bool):
        raise TypeError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what}: must be finite, got {value!r}")
        return Fraction(repr(value))
    if isinstance(value, (int, Fraction, Decimal)):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except ValueError:
            raise ValueError(f"{what}: not a number: {value!r}") from None
    raise TypeError(f"{what}: expected a number, got {type(value).__name__}")


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}: expected an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{what}: must be >= 0, got {value}")
    return value


def _check_nkm(N: int, K: int, m: int) -> None:
    _count(N, "N")
    _count(K, "K")
    _count(m, "m")
    if m > N:
        raise ValueError(f"m ({m}) cannot exceed N ({N})")


# --------------------------------------------------------------------------- exact odds


def _log_q(N: int, K: int, m: int) -> float:
    """``log(C(N-m, K) / C(N, K))``: the log-probability that none of ``m`` marked identities
    is among ``K`` drawn without replacement from ``N``; ``-inf`` when that cannot happen.

    ``C(N-m,K)/C(N,K) = prod_{i<K} (1 - m/(N-i)) = prod_{j<m} (1 - K/(N-j))``: the shorter of
    the two products is summed as ``log1p`` terms (each factor in (0, 1], so nothing overflows
    or cancels); when both ``K`` and ``m`` exceed 4096 the lgamma form is used instead (then
    ``q <= exp(-K*m/N)`` is tiny and lgamma's ~1e-9 absolute error in the log is harmless).
    """
    if m == 0 or K == 0:
        return 0.0
    if N - m < K:
        return -math.inf
    terms, other = (K, m) if K <= m else (m, K)
    if terms <= _LGAMMA_FROM:
        return math.fsum(math.log1p(-other / (N - i)) for i in range(terms))
    return (math.lgamma(N - m + 1) - math.lgamma(N - m - K + 1)
            - math.lgamma(N + 1) + math.lgamma(N - K + 1))


def _no_session(protocol: str, N: int, K: int) -> bool:
    """Morse makes no session at all with fewer than ``K`` nodes on the chain: pocket-core
    ``x/pocketcore/types/session.go`` ``NewSessionNodes`` l. 125-127 (``ErrInsufficientNodes``).
    Shannon's hydrator takes every candidate instead (``session_hydrator.go`` l. 187-270)."""
    return protocol == "morse" and N < K


def p_at_least_one(N: int, K: int, m: int, *, protocol: Protocol = "shannon") -> float:
    """P(a session includes at least one of our ``m`` identities) ``= 1 - C(N-m, K)/C(N, K)``.

    ``N`` identities eligible for the service, ``K`` per session, ``m`` of them ours. 0.0 when
    ``m == 0`` (or ``K == 0``); 1.0 when ``N - m < K`` (in particular when ``N <= K``: every
    eligible identity is taken, as the Shannon hydrator does), except that on Morse ``N < K``
    is 0.0: no session exists (:func:`_no_session`). Stable for any ``N`` (see
    :func:`_log_q`): ``-expm1(log q)`` keeps full precision when the probability is tiny.
    """
    _check_nkm(N, K, m)
    if m == 0 or K == 0 or _no_session(protocol, N, K):
        return 0.0
    log_q = _log_q(N, K, m)
    if log_q == -math.inf:
        return 1.0
    return min(1.0, max(0.0, -math.expm1(log_q)))


def expected_ours(N: int, K: int, m: int, *, protocol: Protocol = "shannon") -> float:
    """Expected number of our identities in one session: ``K*m/N`` (``m`` when ``N <= K``;
    0 on Morse when ``N < K``: no session, :func:`_no_session`)."""
    _check_nkm(N, K, m)
    if N == 0 or _no_session(protocol, N, K):
        return 0.0
    if N <= K:
        return float(m)
    return K * m / N


def sessions_per_day(num_blocks_per_session: int, block_time_s: Rational) -> Fraction:
    """Sessions per day of one application for one service: ``86400 / (blocks * block time)``.

    Exact (a Fraction): Shannon mainnet ``num_blocks_per_session`` 20 at ~30 s blocks is 144;
    Morse mainnet ``session_block_frequency`` 4 at ~15 min blocks is 24.
    """
    blocks = _count(num_blocks_per_session, "num_blocks_per_session")
    seconds = _rational(block_time_s, "block_time_s")
    if blocks == 0 or seconds <= 0:
        raise ValueError("num_blocks_per_session and block_time_s must be > 0")
    return Fraction(SECONDS_PER_DAY) / (blocks * seconds)


# --------------------------------------------------------------------------- rewards


@record(frozen=True)
class ClaimReward:
    """What one claim (one supplier's relays in one session) settles, in upokt."""

    settlement_upokt: int  # Shannon: burned from the app; Morse: relays x RTTM (minted)
    supplier_upokt: int    # to the supplier (its revenue-share holders) / the Morse node


@record(frozen=True)
class ShannonRewardParams:
    """Shannon reward parameters; defaults are mainnet's (``poktroll-bulk_params_main/``:
    ``shared_params.json``, ``tokenomics_params.json``), ``compute_units_per_relay`` is per
    service (default 1).

    How a claim pays (poktroll main @ ab401edc; the relay mining difficulty, which scales
    *mined* relays up to the estimated total, is left out: the operator's observed relays
    are already that total):

    1. ``x/proof/types/claim.go`` ``Claim.GetClaimeduPOKT`` (l. 94):
       ``settlement = floor(relays * compute_units_per_relay * compute_units_to_tokens_multiplier
       / compute_unit_cost_granularity)`` (``x/tokenomics/keeper/token_logic_modules.go``
       ``ProcessTokenLogicModules`` checks claimed CUs = relays x CUPR, l. 31-160); the
       overservicing cap (``ensureClaimAmountLimits``, l. 331) is not modelled.
    2. The default TLMs (``x/tokenomics/token_logic_module/types.go``
       ``NewDefaultTokenLogicModules``, l. 125) all run on that settlement:
       ``tlm_relay_burn_equals_mint.go`` ``processTokenomicsMint`` / ``processRewardDistribution``
       (l. 113, 164): ``minted = floor(settlement * mint_ratio)``, supplier
       ``floor(minted * mint_equals_burn_claim_distribution.supplier)``;
       ``tlm_global_mint.go`` ``processInflationMint`` / ``processMintDistribution`` (l. 81, 124)
       with ``CalculateGlobalPerClaimMintInflationFromSettlementAmount`` (l. 266, a ceiling)
       and ``calculateAllocationAmount`` (l. 288, a floor): ``inflation = ceil(settlement *
       global_inflation_per_claim)``, supplier ``floor(inflation *
       mint_allocation_percentages.supplier)``; the reimbursement-request TLM pays no supplier.
       Floats become rationals through their decimal text (``pkg/encoding/decimal.go``).

    So per relay the supplier earns about ``CUPR * 145990/1e6 * (0.975*0.79 + 1e-6*0.8)``
    ≈ 0.11245 upokt on mainnet (:meth:`upokt_per_relay`); :meth:`claim` applies the per-claim
    roundings exactly. (``mint_allocation_percentages.supplier`` 0.8 applies only to the tiny
    global-inflation mint; the relay burn is shared by ``mint_equals_burn_claim_distribution``.)
    A claim whose ``minted`` truncates to 0 is discarded by the chain and pays nothing.
    """

    compute_units_per_relay: int = 1
    compute_units_to_tokens_multiplier: int = 145_990
    compute_unit_cost_granularity: int = 1_000_000
    mint_ratio: Fraction = Fraction("0.975")
    mint_equals_burn_supplier: Fraction = Fraction("0.79")
    global_inflation_per_claim: Fraction = Fraction("0.000001")
    mint_allocation_supplier: Fraction = Fraction("0.8")

    def __post_init__(self) -> None:
        for name in ("compute_units_per_relay", "compute_units_to_tokens_multiplier",
                     "compute_unit_cost_granularity"):
            _count(getattr(self, name), name)
        if self.compute_unit_cost_granularity == 0:
            raise ValueError("compute_unit_cost_granularity must be > 0")
        for name in ("mint_ratio", "mint_equals_burn_supplier", "global_inflation_per_claim",
                     "mint_allocation_supplier"):
            value = _rational(getattr(self, name), name)
            if value < 0:
                raise ValueError(f"{name} must be >= 0")
            object.__setattr__(self, name, value)

    @classmethod
    def from_params(cls, shared: Mapping[str, Any], tokenomics: Mapping[str, Any], *,
                    compute_units_per_relay: int = 1) -> ShannonRewardParams:
        """From the ``params`` objects of ``…/shared/params`` and ``…/tokenomics/params`` (REST
        gateway or ``poktroll-bulk_params_main/*.json`` ``body.messages[0].params``).

        A missing field is its proto3 zero value, except as the chain itself reads them: a
        missing ``mint_ratio`` (chains before PIP-41) is 1, and a
        ``mint_equals_burn_claim_distribution`` that is missing or sums to zero is the Go
        default (supplier 0.7: ``x/tokenomics/types/params.go`` ``ValidateBasic``).
        """
        distribution = tokenomics.get("mint_equals_burn_claim_distribution")
        if not isinstance(distribution, Mapping) or not any(
                _rational(v, "mint_equals_burn_claim_distribution") for v in distribution.values()):
            distribution = {"supplier": "0.7"}
        tokenomics_supplier = distribution.get("supplier", 0)
        return cls(
            compute_units_per_relay=compute_units_per_relay,
            compute_units_to_tokens_multiplier=int(shared["compute_units_to_tokens_multiplier"]),
            compute_unit_cost_granularity=int(shared["compute_unit_cost_granularity"]),
            mint_ratio=_rational(tokenomics.get("mint_ratio", 1), "mint_ratio"),
            mint_equals_burn_supplier=_rational(tokenomics_supplier, "mint_equals_burn_supplier"),
            global_inflation_per_claim=_rational(tokenomics.get("global_inflation_per_claim", 0),
                                                 "global_inflation_per_claim"),
            mint_allocation_supplier=_rational(
                _nested(tokenomics, "mint_allocation_percentages", "supplier", 0),
                "mint_allocation_supplier"),
        )

    def settlement_per_relay(self) -> Fraction:
        """upokt burned from the application per relay (before roundings)."""
        return Fraction(self.compute_units_per_relay * self.compute_units_to_tokens_multiplier,
                        self.compute_unit_cost_granularity)

    def upokt_per_relay(self) -> Fraction:
        """The supplier's upokt per relay (both TLMs' shares, before per-claim roundings)."""
        return self.settlement_per_relay() * (
            self.mint_ratio * self.mint_equals_burn_supplier
            + self.global_inflation_per_claim * self.mint_allocation_supplier)

    def claim(self, relays: int) -> ClaimReward:
        """One claim of ``relays`` relays, with the chain's roundings (see the class doc)."""
        _count(relays, "relays")
        settlement = (relays * self.compute_units_per_relay
                      * self.compute_units_to_tokens_multiplier
                      // self.compute_unit_cost_granularity)
        if settlement == 0:
            return ClaimReward(0, 0)
        minted = math.floor(settlement * self.mint_ratio)
        if minted == 0:
            # Zero-mint guard: ``processTokenomicsMint`` (tlm_relay_burn_equals_mint.go
            # l. 130-136) fails, ``ProcessTokenLogicModules`` returns the error
            # (token_logic_modules.go l. 248) and ``SettlePendingClaims`` discards the claim
            # (settle_pending_claims.go l. 154-164, EventClaimDiscarded): nothing is burned or
            # paid, the global-mint TLM (which runs after) included.
            return ClaimReward(0, 0)
        supplier = math.floor(minted * self.mint_equals_burn_supplier)
        if self.global_inflation_per_claim:
            inflation = math.ceil(settlement * self.global_inflation_per_claim)
            supplier += math.floor(inflation * self.mint_allocation_supplier)
        return ClaimReward(settlement, supplier)


@record(frozen=True)
class MorseRewardParams:
    """Morse reward parameters; defaults are the mainnet genesis' ``app_state.pos.params``
    (``relays_to_tokens_multiplier`` 10000, ``dao_allocation`` 10, ``proposer_allocation`` 1).

    pocket-core staging @ 29f421ca ``x/nodes/keeper/reward.go`` ``CalculateRelayReward``
    (l. 56): ``coins = relays * RTTM`` and ``x/nodes/keeper/params.go`` ``splitRewards``
    (l. 148): ``fees = trunc(coins * (dao + proposer) / 100)``, the node gets
    ``coins - fees`` (89 %). After the RSCAL upgrade (PIP-22, ``calculateRewardRewardPip22``
    l. 27) ``coins`` is also weighted by the node's stake bin; that weight is not modelled
    here: pass ``upokt_per_relay`` to :func:`what_if` to use one.

    ``RelaysToTokensMultiplierMap`` (``x/nodes/types/params.go`` l. 72, per relay chain):
    ``GetChainSpecificMultiplier`` (``reward.go`` l. 216-224) takes the chain's entry when the
    chain is in the map, else ``relays_to_tokens_multiplier``; pass the chain to
    :meth:`multiplier`, :meth:`upokt_per_relay` and :meth:`claim`.
    """

    relays_to_tokens_multiplier: int = 10_000
    dao_allocation: int = 10
    proposer_allocation: int = 1
    relays_to_tokens_multiplier_map: Mapping[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("relays_to_tokens_multiplier", "dao_allocation", "proposer_allocation"):
            _count(getattr(self, name), name)
        if self.dao_allocation + self.proposer_allocation > 100:
            raise ValueError("dao_allocation + proposer_allocation must be <= 100")
        object.__setattr__(self, "relays_to_tokens_multiplier_map",
                           parse_rttm_map(self.relays_to_tokens_multiplier_map))

    @classmethod
    def from_params(cls, pos: Mapping[str, Any]) -> MorseRewardParams:
        """From ``pos`` params (genesis ``app_state.pos.params`` or ``/v1/query/nodeparams``);
        ``relays_to_tokens_multiplier_map`` may be missing (before the PerChainRTTM upgrade)."""
        return cls(int(pos["relays_to_tokens_multiplier"]), int(pos["dao_allocation"]),
                   int(pos["proposer_allocation"]),
                   parse_rttm_map(pos.get("relays_to_tokens_multiplier_map")))

    def multiplier(self, chain: str | None = None) -> int:
        """``GetChainSpecificMultiplier``: the chain's entry of the map, else the default."""
        if chain is not None and chain in self.relays_to_tokens_multiplier_map:
            return self.relays_to_tokens_multiplier_map[chain]
        return self.relays_to_tokens_multiplier

    def upokt_per_relay(self, chain: str | None = None) -> Fraction:
        return Fraction(self.multiplier(chain)
                        * (100 - self.dao_allocation - self.proposer_allocation), 100)

    def claim(self, relays: int, chain: str | None = None) -> ClaimReward:
        _count(relays, "relays")
        coins = relays * self.multiplier(chain)
        fees = coins * (self.dao_allocation + self.proposer_allocation) // 100
        return ClaimReward(coins, coins - fees)


def parse_rttm_map(value: Any) -> dict[str, int]:
    """``RelaysToTokensMultiplierMap`` as the chain serves it: a JSON object (genesis, node
    params) or its JSON text (``/v1/query/allparams`` gives the param store's raw amino JSON,
    ``""`` when unset) of chain id → int64, amino writing int64 as a decimal string. A value
    that is not a non-negative integer is a ValueError naming the chain."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("relays_to_tokens_multiplier_map: not JSON") from None
    if not isinstance(value, Mapping):
        raise ValueError("relays_to_tokens_multiplier_map: expected an object of chain: multiplier")
    out: dict[str, int] = {}
    for chain, raw in value.items():
        what = f"relays_to_tokens_multiplier_map[{str(chain)[:16]!r}]"
        if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 19:
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 1 << 63:
            raise ValueError(f"{what}: expected a non-negative integer, got {str(raw)[:40]!r}")
        out[str(chain)] = raw
    return out


def _nested(obj: Mapping[str, Any], outer: str, inner: str, default: Any) -> Any:
    value = obj.get(outer)
    return value.get(inner, default) if isinstance(value, Mapping) else default


@record(frozen=True)
class ProtocolDefaults:
    """Mainnet figures used when a what-if input is not given (all overridable)."""

    num_blocks_per_session: int
    block_time_s: Fraction
    stake_per_supplier_upokt: int
    upokt_per_relay: Fraction


DEFAULTS: dict[str, ProtocolDefaults] = {
    # shared_params.json num_blocks_per_session 20; ~30 s blocks (docs); min_stake 59,500 POKT.
    "shannon": ProtocolDefaults(20, Fraction(30), 59_500_000_000,
                                ShannonRewardParams().upokt_per_relay()),
    # genesis pos.session_block_frequency 4; ~15 min blocks; stake_minimum 15,000 POKT.
    "morse": ProtocolDefaults(4, Fraction(900), 15_000_000_000,
                              MorseRewardParams().upokt_per_relay()),
}


# --------------------------------------------------------------------------- Shannon


def shannon_session_start_height(height: int, num_blocks_per_session: int, *,
                                 anchor_height: int = 1) -> int:
    """Start of the session containing ``height``: poktroll ``x/shared/types/session.go``
    ``GetSessionStartHeight`` (``anchor + ((h - anchor) / n) * n``; 0 for ``h <= 0``; the
    anchor is the params epoch's ``session_grid_anchor_height``, 1 on the legacy grid, and
    falls back to 1 when unset or after ``h``, as ``sessionGridAnchor`` does)."""
    if height <= 0:
        return 0
    if num_blocks_per_session <= 0:
        raise ValueError("num_blocks_per_session must be > 0")
    if anchor_height <= 0 or anchor_height > height:
        anchor_height = 1
    return anchor_height + (height - anchor_height) // num_blocks_per_session \
        * num_blocks_per_session


def _block_hash_bytes(block_hash: bytes | bytearray | str) -> bytes:
    if isinstance(block_hash, str):
        return hex_decode(block_hash, "block hash")
    return bytes(block_hash)


def shannon_session_id_bytes(block_hash: bytes | str, service_id: str, app_address: str,
                             session_start_height: int) -> bytes:
    """The session id's pre-image, ``sessionIdBz`` (what the supplier weights are seeded with).

    poktroll ``x/session/keeper/session_hydrator.go`` ``GetSessionId`` (l. 334) with
    ``concatWithDelimiter`` (l. 305: ``bytes.Join`` with ``"."``) and
    ``getSessionStartBlockHeightBz`` (l. 360): ``blockHash ‖ "." ‖ []byte(serviceId) ‖ "." ‖
    []byte(appAddr) ‖ "." ‖ uint64(sessionStartHeight)`` as 8 bytes little-endian. The block
    hash is the one stored for the session's *start* height (``hydrateSessionID`` l. 122,
    ``x/session/keeper/block_hash.go`` ``GetBlockHash``: empty for height <= 0), raw bytes
    (a hex string is decoded first).
    """
    if not 0 <= session_start_height < 1 << 63:
        raise ValueError(f"session start height out of range: {session_start_height}")
    return b".".join((_block_hash_bytes(block_hash), service_id.encode(), app_address.encode(),
                      session_start_height.to_bytes(8, "little")))


def shannon_session_id(block_hash: bytes | str, service_id: str, app_address: str,
                       session_start_height: int) -> str:
    """``session_id``: lower-case hex of SHA3-256 over :func:`shannon_session_id_bytes`
    (``GetSessionId``: ``hex.EncodeToString(sha3Hash(sessionIdBz))``; ``sha3Hash`` l. 309 is
    ``crypto.SHA3_256``, FIPS-202 SHA3, i.e. :func:`hashlib.sha3_256`)."""
    preimage = shannon_session_id_bytes(block_hash, service_id, app_address,
                                        session_start_height)
    return _sha3_256(preimage).hexdigest()


def shannon_supplier_weight(session_id_bytes: bytes, operator_address: str) -> int:
    """``generateSupplierRandomWeight`` (session_hydrator.go l. 295): SHA3-256 of
    ``sessionIdBz ‖ "." ‖ []byte(operatorAddress)``, first 8 bytes read as a big-endian
    uint64 and converted to Go ``int`` (int64 on 64-bit): a *signed* weight."""
    digest = _sha3_256(session_id_bytes + b"." + operator_address.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def shannon_session_suppliers(block_hash: bytes | str, service_id: str, app_address: str,
                              session_start_height: int, candidates: Sequence[str],
                              num_suppliers: int) -> list[str]:
    """Operator addresses of the session's suppliers, in the order the session lists them.

    poktroll main @ ab401edc, ``x/session/keeper/session_hydrator.go``
    ``hydrateSessionSuppliers`` (l. 187-270): ``candidates`` are the service config updates
    active at the query height in store order (``GetServiceConfigUpdatesIterator``,
    ``x/supplier/keeper/service_config.go``: key ``serviceId / activationHeight (big-endian) /
    operatorAddress``, i.e. by activation height, then address); give them in that order.
    None: ``ErrSessionSuppliersNotFound`` (ValueError here). Fewer than ``num_suppliers``:
    all of them, unsorted. Otherwise each gets :func:`shannon_supplier_weight`, they are
    sorted by ``sortCandidateSupplierConfigsBySupplierWeight`` (l. 369: weight ascending as
    signed int64 by explicit ``<``/``>``, equal weights by ``bytes.Compare`` of the operator
    addresses) and the first ``num_suppliers`` are taken.

    History: from #1103 (2025-03-15) until v0.1.33 (2026-03-12) the comparator returned
    ``weightA - weightB``, which overflows for weights of opposite signs far apart, so the
    order of those sessions depended on Go's pdqsort; this follows the fixed comparator.
    Before #1103 the draw was a different pseudo-random selection.
    """
    if num_suppliers < 0:
        raise ValueError("num_suppliers must be >= 0")
    chosen = list(candidates)
    if not chosen:
        raise ValueError(f"could not find suppliers for service {service_id} at height "
                         f"{session_start_height}: no suppliers found for session")
    if len(chosen) < num_suppliers:
        return chosen
    prefix = _sha3_256(shannon_session_id_bytes(block_hash, service_id, app_address,
                                                session_start_height) + b".")
    keyed = []
    for address in chosen:
        encoded = address.encode()
        state = prefix.copy()
        state.update(encoded)
        keyed.append((int.from_bytes(state.digest()[:8], "big", signed=True), encoded, address))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [address for _, _, address in keyed[:num_suppliers]]


# --------------------------------------------------------------------------- Morse


def _hex_field(value: str, what: str, *, size: int | None = None, max_size: int | None = None
               ) -> None:
    """pocket-core's checks (``crypto.go`` l. 25-100): Go's ``hex.DecodeString``
    (:func:`~fleetctl.spec.address.hex_decode`: no whitespace, even length), then the size."""
    raw = hex_decode(value, what)
    if not raw:
        raise ValueError(f"{what}: empty")
    if size is not None and len(raw) != size:
        raise ValueError(f"{what}: {len(raw)} bytes, expected {size}")
    if max_size is not None and len(raw) > max_size:
        raise ValueError(f"{what}: {len(raw)} bytes, at most {max_size}")


def morse_session_key(app_pub_key: str, chain: str, block_hash: str) -> bytes:
    """Morse ``SessionKey``: pocket-core ``x/pocketcore/types/session.go`` ``NewSessionKey``
    (l. 216): SHA3-256 (``crypto.go`` ``Hash``, l. 126, ``Hasher = crypto.SHA3_256``) of
    ``json.Marshal`` of ``{"app_pub_key": …, "chain": …, "blockchain": …}`` (struct field
    order, no spaces). The strings are used as given (the chain's own are lower-case hex:
    ``hex.EncodeToString`` of the session block's hash, ``keeper/session.go`` l. 35) after
    the same checks: an ed25519 public key (32 bytes hex, ``PubKeyVerification``), a chain id
    of 1-4 hex bytes (``NetworkIdentifierVerification``), a 32-byte hash (``HashVerification``).
    Hex needs no JSON escaping, so the bytes equal Go's.
    """
    _hex_field(app_pub_key, "app_pub_key", size=32)
    _hex_field(chain, "chain", max_size=4)
    _hex_field(block_hash, "block hash", size=32)
    seed = json.dumps({"app_pub_key": app_pub_key, "chain": chain, "blockchain": block_hash},
                      separators=(",", ":")).encode()
    return _sha3_256(seed).digest()


def morse_session_nodes_from_key(session_key: bytes, nodes: Sequence[str], count: int, *,
                                 ineligible: Collection[str] = ()) -> list[str]:
    """``NewSessionNodes`` (session.go l. 111-172) from a session key.

    ``nodes``: ``GetValidatorsByChain`` at the session block, in store order. Fewer than
    ``count`` → ``ErrInsufficientNodes`` (ValueError; Morse never takes "all"). Loop: index
    = first 8 bytes of the key, big-endian unsigned, mod ``len(nodes)`` (``crypto.go``
    ``PseudorandomSelection``, l. 132); key = SHA3-256(key); an address already seen is
    skipped; then a node in ``ineligible`` (not found, jailed, not serving the chain, above
    ``max_chains``: checked against the session-end state) is skipped; stop at ``count``.
    Every distinct address seen without ``count`` found → ErrInsufficientNodes (Go loops
    forever when ``nodes`` repeats an address; this raises instead).
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    total = len(nodes)
    if total < count:
        raise ValueError(f"insufficient nodes: {total} for a session of {count}")
    distinct = len(set(nodes))
    key = bytes(session_key)
    seen: set[str] = set()
    chosen: list[str] = []
    while True:
        if len(seen) >= total or len(seen) >= distinct:
            raise ValueError("insufficient nodes: every node was drawn")
        index = int.from_bytes(key[:8], "big") % total
        key = _sha3_256(key).digest()
        node = nodes[index]
        if node in seen:
            continue
        seen.add(node)
        if node in ineligible or node in chosen:
            continue
        chosen.append(node)
        if len(chosen) == count:
            return chosen


def morse_session_nodes(app_pub_key: str, chain: str, block_hash: str, nodes: Sequence[str],
                        count: int, *, ineligible: Collection[str] = ()) -> list[str]:
    """Morse session nodes (``NewSession``, session.go l. 25): :func:`morse_session_key` then
    :func:`morse_session_nodes_from_key`; ``count`` is ``SessionNodeCount`` (mainnet 5)."""
    key = morse_session_key(app_pub_key, chain, block_hash)
    return morse_session_nodes_from_key(key, nodes, count, ineligible=ineligible)
