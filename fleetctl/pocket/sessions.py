"""Session model: the odds of being in a session, expected rewards, what-if, the real draws.

Every session pairs one application with ``K`` of the ``N`` identities (Shannon suppliers,
Morse nodes) eligible for a service; stake does not weigh the draw. With ``m`` of them ours:

* :func:`p_at_least_one` ``= 1 - C(N-m, K) / C(N, K)``, computed in log space (no float
  overflow, no huge binomials) for ``N`` up to 10^6 and beyond; :func:`expected_ours`
  ``= K*m/N``; :func:`sessions_per_day` from the session length and the block time.
* Rewards per relay from the protocols' own formulas (:class:`ShannonRewardParams`,
  :class:`MorseRewardParams`, mainnet values by default, every input overridable), exact per
  claim with the chain's roundings (:meth:`ShannonRewardParams.claim`).
* :func:`what_if` / :func:`pick`: the table ``fleetctl scale --what-if`` prints, for
  ``m = current … current+extra`` identities (each new identity joins ``N`` as well).
* The selection algorithms themselves, byte for byte as the Go code does them:
  :func:`shannon_session_suppliers` (poktroll ``x/session/keeper/session_hydrator.go``) and
  :func:`morse_session_nodes` (pocket-core ``x/pocketcore/types/session.go``).
* :func:`monte_carlo`: the share of sessions that include one of ours, drawn with those
  algorithms over random block hashes and applications (it agrees with the exact formula).

Sources read (pokt-network/poktroll main @ ab401edc, pokt-network/pocket-core staging
@ 29f421ca; line numbers are from those commits) are cited in each docstring. Pure library:
standard library only, no network, no I/O. Amounts of money are exact (``int`` upokt, or
``Fraction`` for rates); probabilities and expectations of counts are floats.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from fleetctl.spec.address import bech32_encode, hex_decode

__all__ = [
    "DEFAULTS",
    "SECONDS_PER_DAY",
    "ClaimReward",
    "MorseRewardParams",
    "ProtocolDefaults",
    "ShannonRewardParams",
    "WhatIf",
    "expected_ours",
    "monte_carlo",
    "morse_session_key",
    "morse_session_nodes",
    "morse_session_nodes_from_key",
    "p_at_least_one",
    "pick",
    "sessions_per_day",
    "shannon_session_id",
    "shannon_session_id_bytes",
    "shannon_session_start_height",
    "shannon_session_suppliers",
    "shannon_supplier_weight",
    "what_if",
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


@dataclass(frozen=True)
class ClaimReward:
    """What one claim (one supplier's relays in one session) settles, in upokt."""

    settlement_upokt: int  # Shannon: burned from the app; Morse: relays x RTTM (minted)
    supplier_upokt: int    # to the supplier (its revenue-share holders) / the Morse node


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


# --------------------------------------------------------------------------- what-if


@dataclass
class WhatIf:
    """The what-if table: one row per ``m`` (see :func:`what_if` for the columns)."""

    protocol: str
    service: str
    N: int
    K: int
    current: int
    extra: int
    apps: int
    sessions_per_day_per_app: Fraction
    relays_per_session: Fraction
    upokt_per_relay: Fraction
    stake_per_supplier_upokt: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def others(self) -> int:
        """Eligible identities that are not ours (constant while we add ours)."""
        return self.N - self.current

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "service": self.service,
            "N": self.N,
            "K": self.K,
            "current": self.current,
            "apps": self.apps,
            "sessions_per_day_per_app": _fraction_text(self.sessions_per_day_per_app),
            "relays_per_session": _fraction_text(self.relays_per_session),
            "upokt_per_relay": _fraction_text(self.upokt_per_relay),
            "stake_per_supplier_upokt": self.stake_per_supplier_upokt,
            "rows": self.rows,
        }


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(value)


#: Relays one supplier serves in one session when the fleet's own claims show none (``scale``).
DEFAULT_RELAYS_PER_SESSION = 100.0


def observed_relays_per_session(store_path: Any, suppliers: Collection[str], service: str
                                ) -> tuple[float, str]:
    """(relays per session, where the figure comes from) for ``scale``: the average of the
    fleet's own claims of ``service`` (the claims store ``fleetctl claims`` and ``health`` fill,
    :func:`fleetctl.pocket.claims.observed_relays_per_session`: the relays each claim of the
    last 50 session ends counted, summed per supplier and session), else
    :data:`DEFAULT_RELAYS_PER_SESSION` with why."""
    from fleetctl.pocket.claims import observed_relays_per_session as observed
    from fleetctl.state.db import HistoryError

    why = "no claims of the fleet's suppliers for this service in the claims store yet"
    if suppliers and store_path is not None:
        try:
            value = observed(Path(store_path), suppliers, service=service)
        except (HistoryError, OSError) as exc:
            value, why = None, f"claims store unreadable ({str(exc)[:160]})"
        if value is not None and math.isfinite(value) and value >= 0:
            return float(value), f"observed: the fleet's own claims of {service} (claims store {store_path})"
    return DEFAULT_RELAYS_PER_SESSION, f"default: {why} (pass --relays-per-session R)"


def what_if(*, protocol: Protocol, service: str, N: int, K: int, current: int, extra: int,
            apps: int, relays_per_session: Rational,
            blocks_per_session: int | None = None, block_time_s: Rational | None = None,
            upokt_per_relay: Rational | None = None,
            stake_per_supplier_upokt: int | None = None) -> WhatIf:
    """Rows for ``m = current … current+extra`` of our identities among the service's ``N``.

    ``N`` counts every eligible identity now, ours (``current``) included; an identity we add
    joins the draw, so row ``m`` has ``N_m = N - current + m``. ``apps``: applications staked
    for the service (each has its own session every session period); ``relays_per_session``:
    relays one of our identities serves in a session it is in (observed). Unset inputs take
    the protocol's mainnet figures (:data:`DEFAULTS`): session length, block time, the
    supplier's upokt per relay (:meth:`ShannonRewardParams.upokt_per_relay`,
    :meth:`MorseRewardParams.upokt_per_relay`), the minimum stake.

    On Morse a row with ``N_m < K`` has no session at all (:func:`_no_session`): its share,
    expectation and rewards are 0.

    Each row: ``m``, ``N``; ``p_session`` (share of the service's sessions with >= 1 of ours);
    ``expected_per_session`` (ours per session, ``K*m/N_m``); ``sessions_per_day`` (``apps *
    sessions/day * p_session``: sessions that include one of ours); ``slots_per_day`` (``apps *
    sessions/day * expected_per_session``: claims per day); ``relays_per_day``;
    ``rewards_upokt_per_day`` (int, the floor of the exact expectation); ``stake_upokt``
    (stake locked for the ``m - current`` new identities); ``marginal_p`` and
    ``marginal_rewards_upokt_per_day``: what the next identity (``m+1``) would add.

    One pass: ``q_m = C(N-current, K)/C(N_m, K)`` satisfies ``q_m = q_{m-1} * (1 - K/N_m)``,
    so each row costs one ``log1p`` on top of the previous row's log-product.
    """
    if protocol not in DEFAULTS:
        raise ValueError(f"protocol must be shannon or morse, got {protocol!r}")
    defaults = DEFAULTS[protocol]
    _check_nkm(N, K, _count(current, "current"))
    _count(extra, "extra")
    _count(apps, "apps")
    blocks = defaults.num_blocks_per_session if blocks_per_session is None else blocks_per_session
    seconds = defaults.block_time_s if block_time_s is None else block_time_s
    per_app = sessions_per_day(blocks, seconds)
    relays = _rational(relays_per_session, "relays_per_session")
    rate = defaults.upokt_per_relay if upokt_per_relay is None else _rational(
        upokt_per_relay, "upokt_per_relay")
    stake = defaults.stake_per_supplier_upokt if stake_per_supplier_upokt is None else _count(
        stake_per_supplier_upokt, "stake_per_supplier_upokt")
    if relays < 0 or rate < 0:
        raise ValueError("relays_per_session and upokt_per_relay must be >= 0")

    result = WhatIf(protocol, service, N, K, current, extra, apps, per_app, relays, rate, stake)
    others = N - current
    day = apps * per_app                        # sessions per day over the service's apps
    day_f = float(day)
    relays_f = float(relays)
    money = day * relays * rate                 # upokt per day per expected slot
    money_num, money_den = money.numerator, money.denominator

    # Columns for m = current … current+extra+1 (the last one only feeds the marginals).
    last = current + extra + 1
    ps: list[float] = []
    es: list[float] = []
    rewards: list[int] = []
    log_q = _log_q(N, K, current)
    for m in range(current, last + 1):
        n_m = others + m
        if m > current and log_q != -math.inf:
            log_q += math.log1p(-K / n_m) if n_m > K else -math.inf
        if m == 0 or K == 0 or _no_session(protocol, n_m, K):
            p, e, reward = 0.0, 0.0, 0
        elif n_m <= K:
            p, e, reward = 1.0, float(m), money_num * m // money_den
        else:
            p = 1.0 if log_q == -math.inf else -math.expm1(log_q)
            e = K * m / n_m
            reward = money_num * K * m // (money_den * n_m)
        ps.append(p)
        es.append(e)
        rewards.append(reward)

    rows = result.rows
    for i in range(extra + 1):
        m = current + i
        p, e = ps[i], es[i]
        slots = day_f * e
        rows.append({
            "m": m,
            "N": others + m,
            "p_session": p,
            "expected_per_session": e,
            "sessions_per_day": day_f * p,
            "slots_per_day": slots,
            "relays_per_day": slots * relays_f,
            "rewards_upokt_per_day": rewards[i],
            "stake_upokt": i * stake,
            "marginal_p": ps[i + 1] - p,
            "marginal_rewards_upokt_per_day": rewards[i + 1] - rewards[i],
        })
    return result


def pick(what_if: WhatIf, *, target_share: float | None = None, add: int | None = None,
         budget_upokt: int | None = None) -> int:
    """How many identities (``m``, ours in total) to run; exactly one criterion:

    * ``target_share``: the smallest ``m >= current`` whose ``p_session`` reaches it (rows
      first, then beyond the table by bisection on the exact formula); ValueError if no
      ``m`` up to 10^9 more reaches it (e.g. a share of 1 while others outnumber ``K``);
    * ``add``: ``current + add``;
    * ``budget_upokt``: ``current`` plus as many identities as the budget stakes at
      ``stake_per_supplier_upokt`` each (transaction fees not counted).
    """
    given = [name for name, value in (("target_share", target_share), ("add", add),
                                      ("budget_upokt", budget_upokt)) if value is not None]
    if len(given) != 1:
        raise ValueError("pick needs exactly one of target_share, add, budget_upokt")
    current = what_if.current
    if add is not None:
        return current + _count(add, "add")
    if budget_upokt is not None:
        _count(budget_upokt, "budget_upokt")
        if what_if.stake_per_supplier_upokt <= 0:
            raise ValueError("stake_per_supplier_upokt must be > 0 to spend a budget")
        return current + budget_upokt // what_if.stake_per_supplier_upokt
    assert target_share is not None
    target = float(target_share)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target_share must be within [0, 1], got {target_share!r}")
    for row in what_if.rows:
        if row["p_session"] >= target:
            return int(row["m"])
    others, K = what_if.others, what_if.K

    def share(m: int) -> float:
        return p_at_least_one(others + m, K, m,
                              protocol="morse" if what_if.protocol == "morse" else "shannon")

    low = current + what_if.extra          # known short of the target
    high = max(low + 1, 2 * low)
    while share(high) < target:
        if high - current > 10**9:
            raise ValueError(f"no number of identities reaches a session share of {target}")
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if share(mid) >= target:
            high = mid
        else:
            low = mid
    return high


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


# --------------------------------------------------------------------------- Monte Carlo


def _mc_suppliers(N: int) -> list[str]:
    return [bech32_encode("pokt", hashlib.sha256(f"mc-supplier-{i}".encode()).digest()[:20])
            for i in range(N)]


def _mc_apps(count: int = 64) -> list[str]:
    return [bech32_encode("pokt", hashlib.sha256(f"mc-app-{i}".encode()).digest()[:20])
            for i in range(count)]


_MC_SERVICE = "anvil"
_MC_CHAIN = "0021"


def _shannon_draws(rng: random.Random, apps: Sequence[str], sessions: int
                   ) -> Iterator[tuple[bytes, str, int]]:
    for _ in range(sessions):
        yield rng.randbytes(32), apps[rng.randrange(len(apps))], rng.randrange(1, 1 << 40)


def _morse_draws(rng: random.Random, sessions: int) -> Iterator[tuple[str, str]]:
    for _ in range(sessions):
        yield rng.randbytes(32).hex(), rng.randbytes(32).hex()


def _mc_hits_reference(protocol: Protocol, N: int, K: int, m: int, sessions: int,
                       seed: int) -> int:
    """Sessions including one of ours, by calling the public algorithm per session (the
    straightforward way, and the reference the fast path is tested against)."""
    rng = random.Random(seed)
    if protocol == "shannon":
        candidates = _mc_suppliers(N)
        ours = set(candidates[:m])
        return sum(not ours.isdisjoint(shannon_session_suppliers(
            block_hash, _MC_SERVICE, app, start, candidates, K))
            for block_hash, app, start in _shannon_draws(rng, _mc_apps(), sessions))
    nodes = [hashlib.sha256(f"mc-node-{i}".encode()).hexdigest()[:40] for i in range(N)]
    ours = set(nodes[:m])
    return sum(not ours.isdisjoint(morse_session_nodes(pub_key, _MC_CHAIN, block_hash, nodes, K))
               for pub_key, block_hash in _morse_draws(rng, sessions))


def _mc_hits_shannon(N: int, K: int, m: int, sessions: int, seed: int) -> int:
    """Fast Shannon draw: same inputs and outcome as the reference, less Python per candidate.

    Per session: one SHA3 state over ``sessionIdBz ‖ "."`` copied per candidate (one update,
    one digest), the signed big-endian weights unpacked from the joined digests with one
    ``struct`` call, and a C sort; our best weight below the K-th smallest is in the session,
    above it is not, equal to it (and to no other weight) is the K-th; only a real 64-bit tie
    at the K-th place goes through the exact tie-break (:func:`shannon_session_suppliers`).
    """
    rng = random.Random(seed)
    candidates = _mc_suppliers(N)
    apps = _mc_apps()
    draws = _shannon_draws(rng, apps, sessions)
    if N <= K:      # the hydrator takes every candidate: ours are always in
        return sessions if m else 0
    if m == 0:
        return 0
    encoded = [c.encode() for c in candidates]
    unpack = struct.Struct(">" + "q24x" * N).unpack
    service, apps_b = _MC_SERVICE.encode(), {a: a.encode() for a in apps}
    sha3 = _sha3_256
    join = b"".join
    kth = K - 1
    hits = 0
    for block_hash, app, start in draws:
        base = sha3(join((block_hash, b".", service, b".", apps_b[app], b".",
                          start.to_bytes(8, "little"), b".")))
        copy = base.copy
        digests = []
        append = digests.append
        for address in encoded:
            state = copy()
            state.update(address)
            append(state.digest())
        weights = unpack(join(digests))
        best = min(weights[:m])
        threshold = sorted(weights)[kth]
        if best < threshold:
            hits += 1
        elif best == threshold and weights.count(best) == 1:   # ours is the K-th itself
            hits += 1
        elif best == threshold:   # a 64-bit tie at the K-th place: decide exactly
            picked = shannon_session_suppliers(block_hash, _MC_SERVICE, app, start,
                                               candidates, K)
            hits += not set(candidates[:m]).isdisjoint(picked)
    return hits


def _mc_hits_morse(N: int, K: int, m: int, sessions: int, seed: int) -> int:
    """Fast Morse draw: the session key per session, then the index loop on integers (ours
    are nodes ``0 … m-1``; stop at the first of ours or at K distinct nodes)."""
    if N < K:
        raise ValueError(f"insufficient nodes: {N} for a session of {K}")
    rng = random.Random(seed)
    sha3 = _sha3_256
    from_bytes = int.from_bytes
    hits = 0
    for pub_key, block_hash in _morse_draws(rng, sessions):
        if m == 0:
            continue
        key = sha3(('{"app_pub_key":"' + pub_key + '","chain":"' + _MC_CHAIN
                    + '","blockchain":"' + block_hash + '"}').encode()).digest()
        seen: set[int] = set()
        while True:
            index = from_bytes(key[:8], "big") % N
            key = sha3(key).digest()
            if index in seen:
                continue
            if index < m:
                hits += 1
                break
            seen.add(index)
            if len(seen) == K:
                break
    return hits


def monte_carlo(protocol: Protocol, N: int, K: int, m: int, sessions: int, seed: int) -> float:
    """Share of ``sessions`` random sessions that include at least one of our ``m``.

    Each session is drawn with the real algorithm (:func:`shannon_session_suppliers` /
    :func:`morse_session_nodes`, via equivalent fast paths) over ``N`` candidate addresses,
    ours being ``m`` of them, with a random block hash and application (Shannon: one of 64
    application addresses and a random session start height; Morse: a random app public key),
    from ``random.Random(seed)``: the same seed gives the same answer. Compare with
    :func:`p_at_least_one`. Morse needs ``N >= K`` (the chain refuses smaller sessions).
    """
    if protocol not in ("shannon", "morse"):
        raise ValueError(f"protocol must be shannon or morse, got {protocol!r}")
    _check_nkm(N, K, m)
    _count(sessions, "sessions")
    if sessions == 0:
        raise ValueError("sessions must be > 0")
    if N == 0 or K == 0:
        return 0.0
    if protocol == "shannon":
        return _mc_hits_shannon(N, K, m, sessions, seed) / sessions
    return _mc_hits_morse(N, K, m, sessions, seed) / sessions
