"""Stake and slashing levels for a fleet: the arithmetic, the rules, and the sweep.

:func:`check_stakes` is what every front calls (the CLI today, the health checks and the TUI
later): it reads the chain through the protocol's adapter, compares with the history store,
records the run, and returns a :class:`StakeReport` whose rows, JSON, Nagios line and exit code
are all computed here. Fronts only lay them out.

Rules, per supplier (Shannon) or node (Morse), with ``margin = stake - min_stake`` and the
fleet.yml ``stake`` thresholds ``W = warning_margin.of(min_stake)``,
``C = critical_margin.of(min_stake)``:

* CRITICAL: ``stake <= min_stake`` or ``margin <= C``; unbonding (Shannon
  ``unstake_session_end_height != 0``, Morse status 1) or unstaked; jailed (Morse); gone from
  the chain after the history saw it staked.
* WARNING: ``margin <= W``; operator balance below ``min_operator_balance``; stake lower than
  at the previous run (a slash), with the amount.
* UNKNOWN: not read (unreachable, HTTP error, malformed JSON, missing field), a chain param
  missing or invalid, or an address the chain does not know (and never saw staked).
* OK otherwise. The report's status is the worst (:meth:`Level.severity`), its exit code the
  Nagios code of that status.

Amounts are integers of upokt throughout; fractions are exact; nothing is a float.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.aio import until_cancelled
from fleetctl.core.events import Cancelled, CancelToken, CheckDone, EventSink, Progress
from fleetctl.core.levels import Level, worst
from fleetctl.pocket.base import (
    ChainStatus,
    Penalty,
    PocketAdapter,
    StakeParams,
    SupplierState,
    plausible,
    settle,
)
from fleetctl.state.db import HistoryError, resolve_db_path
from fleetctl.state.stakes import HistoryStore, Previous, RunRecord, SampleRecord
from fleetctl.core.redact import has_secret, safe_url, scrub
from fleetctl.pocket.http import JsonClient, QueryError
from fleetctl.pocket.morse import MorseAdapter
from fleetctl.pocket.shannon import ShannonAdapter
from fleetctl.core.units import format_upokt
from fleetctl.spec.model import Fleet, StakePolicy, Supplier

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TIMEOUT_S",
    "ChainReading",
    "PenaltyReport",
    "Reading",
    "StakeReport",
    "SupplierReport",
    "adapter_for",
    "check_stakes",
    "evaluate",
    "sweep_stakes",
    "margin_basis_points",
    "penalties_to_minimum",
    "penalty_burn",
    "read_chain",
    "stake_level",
    "topup_to_ok",
]

#: Queries in flight: as many as the health sweep sends the same gateway (health.concurrency's
#: default). With 64, 1,000 operator balances took 16 rounds of the gateway's latency, not 8.
DEFAULT_CONCURRENCY = 128
DEFAULT_TIMEOUT_S = 5.0
#: The sweep's overall deadline, in per-request timeouts (retries included).
DEADLINE_TIMEOUTS = 4
#: Perfdata longer than this is replaced by fleet aggregates (Nagios keeps ~4 KB of output).
PERFDATA_BUDGET = 3500

# ----------------------------------------------------------------------------- arithmetic


def stake_level(stake: int, min_stake: int, warning_upokt: int, critical_upokt: int) -> Level:
    """The level the stake alone earns: CRITICAL at or below the minimum or within the critical
    margin, WARNING within the warning margin, else OK (margins inclusive)."""
    margin = stake - min_stake
    if stake <= min_stake or margin <= critical_upokt:
        return Level.CRITICAL
    if margin <= warning_upokt:
        return Level.WARNING
    return Level.OK


def topup_to_ok(stake: int, min_stake: int, warning_upokt: int, critical_upokt: int) -> int:
    """The smallest top-up after which :func:`stake_level` is OK (0 when it already is)."""
    return max(0, min_stake + max(warning_upokt, critical_upokt) + 1 - stake)


def margin_basis_points(stake: int, min_stake: int) -> int | None:
    """The margin as a share of the minimum, in basis points rounded down (None if min is 0)."""
    if min_stake <= 0:
        return None
    return (stake - min_stake) * 10_000 // min_stake


def penalty_burn(penalty: Penalty, stake: int) -> int:
    """What one penalty burns from ``stake`` (see :class:`Penalty`), capped at the stake."""
    if penalty.flat_upokt is not None:
        return min(penalty.flat_upokt, stake)
    assert penalty.fraction is not None
    powered = stake // penalty.power_reduction * penalty.power_reduction
    return min(powered * penalty.fraction.numerator // penalty.fraction.denominator, stake)


def penalties_to_minimum(stake: int, min_stake: int, penalty: Penalty) -> int | None:
    """How many penalties ``stake`` is sure to absorb and stay at or above ``min_stake``.

    Exact for a flat penalty. For a fractional one each burn is at most the first (the stake
    only shrinks), so this is the guaranteed count: the true one, with smaller burns as the
    stake shrinks, can be higher, never lower. None when a penalty burns nothing (unlimited).
    """
    if stake < min_stake:
        return 0
    burn = penalty_burn(penalty, stake)
    if burn == 0:
        return None
    return (stake - min_stake) // burn


def missed_proofs_level(missed: int | None, policy: StakePolicy) -> Level:
    """CRITICAL at or below ``missed_proofs_critical`` missed proofs until auto-unstake,
    WARNING at or below ``missed_proofs_warning``; OK above, and when unbounded (None)."""
    if missed is None:
        return Level.OK
    if missed <= policy.missed_proofs_critical:
        return Level.CRITICAL
    if missed <= policy.missed_proofs_warning:
        return Level.WARNING
    return Level.OK


def _missed_limit(level: Level, policy: StakePolicy) -> str:
    n = policy.missed_proofs_critical if level is Level.CRITICAL else policy.missed_proofs_warning
    return f"{n:,} or fewer"


def fee_runway_days(balance: int, fees_per_day: int) -> float | None:
    """Days the operator's ``balance`` pays ``fees_per_day`` for (None: no fees, unbounded)."""
    if fees_per_day <= 0:
        return None
    return balance / fees_per_day


@record(frozen=True)
class FeeEstimate:
    """An operator's claim and proof fees per day (upokt), and where the figure comes from."""

    per_day_upokt: int | None
    source: str


#: Sessions per day when the claims store has no block time: Shannon's ~30 s blocks
#: (fleetctl.pocket.claims.ASSUMED_BLOCK_TIME_MS, the figure ``fleetctl claims`` assumes).
_ASSUMED_BLOCK_TIME_S = 30


def estimate_fees(services: int, claim_params: Any, tx_fee: int) -> FeeEstimate:
    """Claims and proofs per day had every service of the supplier one claim per session (one
    application each), a proof with ``proof_request_probability``: ``services x sessions/day x
    (tx_fee + p x (tx_fee + proof_submission_fee))``, rounded up. Used when the claims store
    holds nothing of the operator yet; the source says so."""
    args = (services, getattr(claim_params, "num_blocks_per_session", None),
            getattr(claim_params, "proof_request_probability", None),
            getattr(claim_params, "proof_submission_fee_upokt", None), tx_fee)
    try:
        return _estimate(*args)
    except TypeError:  # a value that cannot be a cache key (not one the parsers give)
        return _estimate.__wrapped__(*args)


@functools.lru_cache(maxsize=256, typed=True)
def _estimate(services: int, nbps: Any, p: Any, submission: Any, tx_fee: int) -> FeeEstimate:
    """estimate_fees' figure (the same for every supplier with as many services: computed once
    a run, not once per supplier; FeeEstimate is frozen)."""
    from fractions import Fraction

    if not isinstance(nbps, int) or nbps <= 0:
        return FeeEstimate(None, "unknown: num_blocks_per_session not read and no claims stored")
    notes: list[str] = []
    if not isinstance(p, Fraction | int) or not 0 <= p <= 1:
        p = Fraction(1)
        notes.append("proof_request_probability not read: a proof every claim")
    if not isinstance(submission, int) or submission < 0:
        submission = 0
        notes.append("proof_submission_fee not read: 0")
    sessions = Fraction(86_400, _ASSUMED_BLOCK_TIME_S * nbps)
    per_day = services * sessions * (tx_fee + Fraction(p) * (tx_fee + submission))
    upokt = -(-per_day.numerator // per_day.denominator)
    source = (f"estimate, no claims stored yet: {services} service(s) x {float(sessions):g} sessions a day "
              f"({nbps} blocks of ~{_ASSUMED_BLOCK_TIME_S} s) x (1 claim + {float(p):g} proof) at "
              f"{tx_fee:,} upokt a tx + {submission:,} upokt proof_submission_fee")
    return FeeEstimate(upokt, source + "".join(f"; {n}" for n in notes))


def observed_fees_of(store_path: Path, operators: Iterable[str], claim_params: Any, tx_fee: int,
                     busy_timeout_s: float) -> dict[str, FeeEstimate]:
    """Each of ``operators``' fees per day from the claims and proofs the claims store holds
    (those with nothing stored are left out); the store read once for all of them. Raises
    HistoryError for a store that cannot be read."""
    from fleetctl.pocket.claims import txs_per_day_of

    return {operator: _fee_from(found, claim_params, tx_fee)
            for operator, found in txs_per_day_of(store_path, operators, busy_timeout_s=busy_timeout_s).items()}


def _fee_from(found: Any, claim_params: Any, tx_fee: int) -> FeeEstimate:
    submission = getattr(claim_params, "proof_submission_fee_upokt", None)
    note = ""
    if not isinstance(submission, int) or submission < 0:
        submission, note = 0, "; proof_submission_fee not read: 0"
    per_day = found.claims * tx_fee + found.proofs * (tx_fee + submission)
    return FeeEstimate(int(-(-per_day // 1)),
                       f"claims store: {found.claims:.1f} claims and {found.proofs:.1f} proofs a day over "
                       f"{found.days_observed:.2g} day(s) of blocks at {tx_fee:,} upokt a tx + "
                       f"{submission:,} upokt proof_submission_fee{note}")


# ----------------------------------------------------------------------------- reports


@record(frozen=True)
class PenaltyReport:
    """One penalty kind against one stake."""

    name: str  # proof_missing (Shannon); downtime, double_sign (Morse)
    burn_upokt: int  # what the next one burns
    to_minimum: int | None  # how many the stake absorbs above the minimum (None: unlimited)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "burn_upokt": self.burn_upokt, "to_minimum": self.to_minimum}


@record(frozen=True)
class SupplierReport:
    """The facts and level of one supplier or node; amounts in upokt, None when unknown."""

    name: str
    address: str
    level: Level
    reasons: tuple[str, ...]  # most severe first
    chain_status: ChainStatus | None  # None: not read
    jailed: bool = False
    stake_upokt: int | None = None
    min_stake_upokt: int | None = None
    margin_upokt: int | None = None
    margin_bp: int | None = None
    warning_margin_upokt: int | None = None
    critical_margin_upokt: int | None = None
    balance_upokt: int | None = None
    min_balance_upokt: int | None = None
    penalties: tuple[PenaltyReport, ...] = ()
    penalties_to_minimum: int | None = None
    topup_upokt: int | None = None
    unbonding_end_height: int | None = None
    unbonding_end_time: str | None = None
    jailed_until: str | None = None
    previous_stake_upokt: int | None = None
    slashed_upokt: int | None = None
    #: Shannon: (stake - min_stake) // proof_missing_penalty; None with ``missed_proofs_unbounded``
    #: when the penalty burns nothing, None alone when unknown
    missed_proofs_to_unstake: int | None = None
    missed_proofs_unbounded: bool = False
    #: the operator's claim and proof fees per day, its balance over them, and where they came from
    fees_per_day_upokt: int | None = None
    fee_runway_days: float | None = None
    fee_source: str | None = None

    def sort_key(self) -> tuple[int, bool, int, str]:
        """Riskiest first: level, then unknown margins, then the smallest margin."""
        known = self.margin_upokt is not None
        return (-self.level.severity, known, self.margin_upokt or 0, self.name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "status": self.level.name,
            "reasons": list(self.reasons),
            "chain_status": None if self.chain_status is None else self.chain_status.value,
            "jailed": self.jailed,
            "stake_upokt": self.stake_upokt,
            "min_stake_upokt": self.min_stake_upokt,
            "margin_upokt": self.margin_upokt,
            "margin_percent": None if self.margin_bp is None else self.margin_bp / 100,
            "warning_margin_upokt": self.warning_margin_upokt,
            "critical_margin_upokt": self.critical_margin_upokt,
            "operator_balance_upokt": self.balance_upokt,
            "min_operator_balance_upokt": self.min_balance_upokt,
            "penalties": [p.as_dict() for p in self.penalties],
            "penalties_to_minimum": self.penalties_to_minimum,
            "topup_upokt": self.topup_upokt,
            "unbonding_end_height": self.unbonding_end_height,
            "unbonding_end_time": self.unbonding_end_time,
            "jailed_until": self.jailed_until,
            "previous_stake_upokt": self.previous_stake_upokt,
            "slashed_upokt": self.slashed_upokt,
            "missed_proofs_to_unstake": self.missed_proofs_to_unstake,
            "missed_proofs_unbounded": self.missed_proofs_unbounded,
            "fees_per_day_upokt": self.fees_per_day_upokt,
            "fee_runway_days": None if self.fee_runway_days is None else round(self.fee_runway_days, 2),
            "fee_source": self.fee_source,
        }

    def check_facts(self) -> dict[str, Any]:
        """The facts of health's stake check: 16 keys of :meth:`as_dict` in its order, with its
        values, built alone (``as_dict`` builds all 30 keys and the penalties: 1,000 suppliers a run)."""
        return {"name": self.name,
                "chain_status": None if self.chain_status is None else self.chain_status.value,
                "jailed": self.jailed, "stake_upokt": self.stake_upokt, "min_stake_upokt": self.min_stake_upokt,
                "margin_upokt": self.margin_upokt,
                "margin_percent": None if self.margin_bp is None else self.margin_bp / 100,
                "operator_balance_upokt": self.balance_upokt, "penalties_to_minimum": self.penalties_to_minimum,
                "topup_upokt": self.topup_upokt, "slashed_upokt": self.slashed_upokt, "reasons": list(self.reasons),
                "missed_proofs_to_unstake": self.missed_proofs_to_unstake,
                "fees_per_day_upokt": self.fees_per_day_upokt,
                "fee_runway_days": None if self.fee_runway_days is None else round(self.fee_runway_days, 2),
                "fee_source": self.fee_source}

    def sample(self) -> SampleRecord:
        return SampleRecord(
            address=self.address, name=self.name, status=self.level.name,
            chain_status=None if self.chain_status is None else self.chain_status.value,
            jailed=self.jailed, stake_upokt=self.stake_upokt,
            min_stake_upokt=self.min_stake_upokt, balance_upokt=self.balance_upokt,
            slashed_upokt=self.slashed_upokt, reasons=self.reasons,
        )


@record(frozen=True)
class StakeReport:
    """One sweep of a fleet: every declared supplier, riskiest first, and the overall status."""

    protocol: str
    url: str
    status: Level
    checked_at: str  # ISO 8601 UTC
    suppliers: tuple[SupplierReport, ...] = ()
    height: int | None = None  # None: the chain could not be read at all
    #: Why the whole sweep is UNKNOWN (chain unreadable) or degraded (history unavailable).
    message: str | None = None
    skipped_planned: int = 0
    history_db: str | None = None
    recorded: bool = False

    @property
    def exit_code(self) -> int:
        """The Nagios exit code of the status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""
        return int(self.status)

    def counts(self) -> dict[str, int]:
        counts = {level.name.lower(): 0 for level in Level}
        for supplier in self.suppliers:
            counts[supplier.level.name.lower()] += 1
        return counts

    def summary(self) -> str:
        """``1 warning, 0 critical of 6`` (``, 2 unknown`` when some are), or the problem."""
        if self.height is None and self.message:
            return self.message
        counts = self.counts()
        text = f"{counts['warning']} warning, {counts['critical']} critical of {len(self.suppliers)}"
        if counts["unknown"]:
            text += f", {counts['unknown']} unknown"
        riskiest = self.suppliers[0] if self.suppliers else None
        if riskiest is not None and riskiest.level is not Level.OK and riskiest.reasons:
            text += f"; {riskiest.name}: {riskiest.reasons[0]}"
        if self.message:
            text += f"; {self.message}"
        return text

    def perfdata(self) -> str:
        """Nagios perfdata: each margin with its thresholds, or aggregates if that is too long."""
        per_supplier = " ".join(
            f"'{s.name}_margin'={_perf(s.margin_upokt)};{_perf(s.warning_margin_upokt, '')};"
            f"{_perf(s.critical_margin_upokt, '')};0"
            for s in self.suppliers)
        if len(per_supplier.encode()) <= PERFDATA_BUDGET:
            return per_supplier
        counts = self.counts()
        parts = [f"'suppliers'={len(self.suppliers)}"] + [f"'{k}'={v}" for k, v in counts.items()]
        known = [s for s in self.suppliers if s.margin_upokt is not None]
        if known:
            least = min(known, key=lambda s: s.margin_upokt or 0)
            parts.append(f"'min_margin'={least.margin_upokt};"
                         f"{_perf(least.warning_margin_upokt, '')};"
                         f"{_perf(least.critical_margin_upokt, '')};0")
        return " ".join(parts)

    def nagios_line(self) -> str:
        """``STAKES WARNING - 1 warning, 0 critical of 6 | 'lab-sup-4_margin'=…``."""
        text = self.summary().replace("|", "/")  # a '|' would start the perfdata
        line = f"STAKES {self.status.name} - {text}"
        perfdata = self.perfdata() if self.suppliers else ""
        return f"{line} | {perfdata}" if perfdata else line

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.name,
            "protocol": self.protocol,
            "url": self.url,
            "height": self.height,
            "checked_at": self.checked_at,
            "message": self.message,
            "counts": self.counts(),
            "skipped_planned": self.skipped_planned,
            "history_db": self.history_db,
            "recorded": self.recorded,
            "suppliers": [s.as_dict() for s in self.suppliers],
        }

    def run_record(self) -> RunRecord:
        return RunRecord(checked_at=self.checked_at, protocol=self.protocol, url=self.url,
                         height=self.height, status=self.status.name, message=self.message,
                         samples=tuple(s.sample() for s in self.suppliers))


def _perf(value: int | None, unknown: str = "U") -> str:
    return unknown if value is None else str(value)


# ----------------------------------------------------------------------------- evaluation


@record(frozen=True)
class Reading:
    """What the sweep read for one supplier: its state and operator balance, or why not."""

    state: SupplierState | QueryError
    balance: int | QueryError


@record(frozen=True)
class ChainReading:
    """One sweep's reads: the height (or why the chain is unreadable), params and suppliers."""

    url: str
    height: int | QueryError
    params: StakeParams
    readings: Mapping[str, Reading]
    #: Shannon: the proof and shared params (:class:`fleetctl.pocket.events.ClaimParams`) the fee
    #: runway needs (proof_submission_fee, proof_request_probability, num_blocks_per_session)
    claim_params: Any = None


def evaluate(supplier: Supplier, reading: Reading, params: StakeParams, policy: StakePolicy,
             previous: Previous | None, fees: FeeEstimate | None = None) -> SupplierReport:
    """The report of one declared supplier from what was read and what the history knew
    (``fees``: its operator's claim and proof fees per day, for the fee runway)."""
    assert supplier.operator_address is not None
    name, address = supplier.name, supplier.operator_address
    state = reading.state
    if isinstance(state, QueryError):
        return SupplierReport(name, address, Level.UNKNOWN, (f"unreadable: {state}",), None)
    if state.status is ChainStatus.NOT_FOUND:
        if previous is not None and previous.was_staked:
            seen = "" if previous.stake_upokt is None else (
                f" (staked with {format_upokt(previous.stake_upokt)} at height {previous.height})")
            return SupplierReport(name, address, Level.CRITICAL,
                                  (f"unstaked: no longer on the chain{seen}",), state.status,
                                  previous_stake_upokt=previous.stake_upokt)
        return SupplierReport(name, address, Level.UNKNOWN,
                              ("not staked / unknown to the chain",), state.status)

    assert state.stake_upokt is not None
    stake = state.stake_upokt
    found: list[tuple[Level, str]] = [(Level.UNKNOWN, f"chain params: {problem}")
                                      for problem in params.problems]
    minimum = params.min_stake_upokt
    warning = critical = margin = topup = None
    if minimum is not None:
        warning, critical = policy.warning_margin.of(minimum), policy.critical_margin.of(minimum)
        margin = stake - minimum
        topup = topup_to_ok(stake, minimum, warning, critical)
        level = stake_level(stake, minimum, warning, critical)
        if stake < minimum:
            found.append((level, f"stake {format_upokt(stake)} below the minimum "
                                 f"{format_upokt(minimum)}"))
        elif stake == minimum:
            found.append((level, f"stake at the minimum {format_upokt(minimum)}"))
        elif level is Level.CRITICAL:
            found.append((level, f"margin {format_upokt(margin)} within the critical margin "
                                 f"{format_upokt(critical)}"))
        elif level is Level.WARNING:
            found.append((level, f"margin {format_upokt(margin)} within the warning margin "
                                 f"{format_upokt(warning)}"))

    unbonding_end_height = None
    if state.status is ChainStatus.UNBONDING:
        if state.unstake_session_end_height is not None:  # Shannon
            if params.unbonding_period_blocks is not None:
                unbonding_end_height = (state.unstake_session_end_height
                                        + params.unbonding_period_blocks)
            ends = "unknown" if unbonding_end_height is None else f"at height {unbonding_end_height}"
        else:  # Morse
            ends = f"at {state.unstaking_time}" if state.unstaking_time else "unknown"
        found.append((Level.CRITICAL, f"unbonding unexpectedly, ends {ends}"))
    elif state.status is ChainStatus.UNSTAKED:
        found.append((Level.CRITICAL, "unstaked"))
    if state.jailed:
        text = f"jailed until {state.jailed_until}" if state.jailed_until else "jailed"
        if params.max_jailed_blocks is not None and state.jailed_blocks is not None:
            left = max(0, params.max_jailed_blocks - state.jailed_blocks)
            text += f", force-unstaked after {left} more jailed blocks"
        found.append((Level.CRITICAL, text))

    balance = reading.balance
    if isinstance(balance, QueryError):
        found.append((Level.UNKNOWN, f"operator balance unreadable: {balance}"))
    elif balance < policy.min_operator_balance_upokt:
        found.append((Level.WARNING, f"operator balance {format_upokt(balance)} below "
                                     f"{format_upokt(policy.min_operator_balance_upokt)}"))

    slashed = None
    if previous is not None and previous.stake_upokt is not None and stake < previous.stake_upokt:
        slashed = previous.stake_upokt - stake
        found.append((Level.WARNING, f"slashed: stake down {format_upokt(slashed)} since the last "
                                     f"run ({format_upokt(previous.stake_upokt)} at height "
                                     f"{previous.height})"))

    missed = None
    unbounded = False
    proof_missing = next((p for p in params.penalties if p.name == "proof_missing"), None)
    if proof_missing is not None and minimum is not None:
        missed = penalties_to_minimum(stake, minimum, proof_missing)
        unbounded = missed is None
        level = missed_proofs_level(missed, policy)
        if level is not Level.OK and stake > minimum:
            found.append((level, f"{missed:,} missed proofs until auto-unstake ((stake - min_stake) / "
                                 f"proof_missing_penalty {format_upokt(penalty_burn(proof_missing, stake))}; "
                                 f"{level.name} at {_missed_limit(level, policy)})"))

    runway = None
    if fees is not None and fees.per_day_upokt is not None and isinstance(balance, int):
        runway = fee_runway_days(balance, fees.per_day_upokt)
        if runway is not None and runway < policy.fee_runway_warning_days:
            found.append((Level.WARNING, f"fee runway {int(runway * 10) / 10:.1f} days: operator balance {format_upokt(balance)} over "
                                         f"{format_upokt(fees.per_day_upokt)} a day of claim and proof fees "
                                         f"(WARNING below {policy.fee_runway_warning_days:g} days; {fees.source})"))

    penalties = _penalty_reports(stake, minimum, params.penalties)
    absorbable = [p.to_minimum for p in penalties if p.to_minimum is not None]
    found.sort(key=lambda item: -item[0].severity)
    return SupplierReport(
        name=name, address=address,
        level=worst(level for level, _ in found),
        reasons=tuple(text for _, text in found),
        chain_status=state.status, jailed=state.jailed,
        stake_upokt=stake, min_stake_upokt=minimum, margin_upokt=margin,
        margin_bp=None if minimum is None else margin_basis_points(stake, minimum),
        warning_margin_upokt=warning, critical_margin_upokt=critical,
        balance_upokt=None if isinstance(balance, QueryError) else balance,
        min_balance_upokt=policy.min_operator_balance_upokt,
        penalties=penalties,
        penalties_to_minimum=min(absorbable) if absorbable else None,
        topup_upokt=topup,
        unbonding_end_height=unbonding_end_height,
        unbonding_end_time=state.unstaking_time if state.status is ChainStatus.UNBONDING else None,
        jailed_until=state.jailed_until,
        previous_stake_upokt=None if previous is None else previous.stake_upokt,
        slashed_upokt=slashed,
        missed_proofs_to_unstake=missed, missed_proofs_unbounded=unbounded,
        fees_per_day_upokt=None if fees is None else fees.per_day_upokt,
        fee_runway_days=runway, fee_source=None if fees is None else fees.source,
    )


@functools.lru_cache(maxsize=4096)
def _penalty_reports(stake: int, minimum: int | None, penalties: tuple[Penalty, ...]) -> tuple[PenaltyReport, ...]:
    """Each penalty against ``stake`` (a fleet's suppliers mostly share a few stakes: computed
    once per distinct stake, not per supplier)."""
    return tuple(PenaltyReport(p.name, penalty_burn(p, stake),
                               None if minimum is None else penalties_to_minimum(stake, minimum, p))
                 for p in penalties)


# ----------------------------------------------------------------------------- the sweep


async def read_chain(adapter: PocketAdapter, suppliers: Sequence[Supplier]) -> ChainReading:
    """Height, params and supply, and every supplier's state and operator balance, concurrently.

    The adapter's client bounds the requests in flight (first come, first served: the height
    and params go out first, then the suppliers' states, whose listing is the largest answer,
    then the balances). The suppliers are read beside the height, not after it (one round trip
    less), but if the height cannot be read the chain is unreadable: the supplier reads still in
    flight are cancelled and no supplier is judged on them. Every value was checked for type
    and range where it was parsed; here each is also checked against the chain it came from
    (:func:`~fleetctl.pocket.base.plausible`): a stake or balance above the chain's supply, or a
    height far beyond the chain's, makes that supplier UNKNOWN (a parameter: UNKNOWN for all).
    """
    addresses = [s.operator_address for s in suppliers if s.operator_address is not None]
    claim_reader = getattr(adapter, "claim_params", None)
    async with adapter:
        head = asyncio.gather(
            settle(adapter.height()), settle(adapter.stake_params()), settle(adapter.total_supply()),
            settle(claim_reader()) if claim_reader is not None else _none())
        states_task = asyncio.ensure_future(adapter.read_suppliers(suppliers))
        balances_task: asyncio.Future[list[int | QueryError]] | None = None
        try:
            await asyncio.sleep(0)  # its first step queues the listings ahead of the 1,000 balances
            width = getattr(adapter.client, "concurrency", DEFAULT_CONCURRENCY)  # the client's bound
            balances_task = asyncio.ensure_future(adapter.balances(addresses, width))
            height, params, supply, claim_params = await head
            if isinstance(height, QueryError):
                return ChainReading(adapter.url, height, _params_of(params, supply), {}, None
                                    if isinstance(claim_params, QueryError) else claim_params)
            states, balances = await asyncio.gather(states_task, balances_task)
        finally:
            # an unreadable height or a cancelled read (even on the yield above): nothing of this
            # read outlives it
            tasks = [head, states_task] if balances_task is None else [head, states_task, balances_task]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        claim_params = None if isinstance(claim_params, QueryError) else claim_params
        supply = None if isinstance(supply, QueryError) else supply
        params = _params_of(params, supply)
        readings = {a: _reading_within(a, states.get(a), balance, height, supply)
                    for a, balance in zip(addresses, balances, strict=True)}
        return ChainReading(adapter.url, height, params, readings, claim_params)


def _params_of(params: StakeParams | QueryError, supply: int | QueryError | None) -> StakeParams:
    """The params as read (a failed read: no minimum, the reason a problem), within the supply."""
    if isinstance(params, QueryError):
        params = StakeParams(None, (), problems=(str(params),))
    return _params_within(params, None if isinstance(supply, QueryError) else supply)


async def _none() -> None:
    return None


def _params_within(params: StakeParams, supply: int | None) -> StakeParams:
    """``params`` without an amount above the chain's ``supply`` (it becomes a problem)."""
    if supply is None:
        return params
    problems = list(params.problems)
    minimum = params.min_stake_upokt
    if minimum is not None and minimum > supply:
        problems.append(f"min_stake {minimum:,} upokt is above the chain's whole supply "
                        f"({supply:,} upokt)")
        minimum = None
    penalties = tuple(p for p in params.penalties if p.flat_upokt is None or p.flat_upokt <= supply)
    if len(penalties) != len(params.penalties):
        problems.append(f"a penalty is above the chain's whole supply ({supply:,} upokt)")
    if len(problems) == len(params.problems):
        return params
    return replace(params, min_stake_upokt=minimum, penalties=penalties, problems=tuple(problems))


def _reading_within(address: str, state: SupplierState | QueryError | None,
                    balance: int | QueryError, height: int, supply: int | None) -> Reading:
    """One supplier's reading, each value checked against the chain's height and supply."""
    if state is None:
        state = QueryError(f"supplier {address}: not in the adapter's answer")
    elif isinstance(state, SupplierState) and state.status is not ChainStatus.NOT_FOUND:
        try:
            state = plausible(state, height=height, supply=supply)
        except QueryError as exc:
            state = exc
    if isinstance(balance, int) and supply is not None and balance > supply:
        balance = QueryError(f"balance of {address}: {balance:,} upokt is above the chain's whole "
                             f"supply ({supply:,} upokt)")
    return Reading(state, balance)


def adapter_for(fleet: Fleet, *, timeout: float = DEFAULT_TIMEOUT_S,
                concurrency: int = DEFAULT_CONCURRENCY, deadline: float | None = None) -> PocketAdapter:
    """The fleet's protocol adapter on its inventory URL (``rest_url`` or ``rpc_url``);
    ``deadline`` bounds the whole sweep, retries included (default 4 timeouts)."""
    url = fleet.pocket.rest_url if fleet.protocol == "shannon" else fleet.pocket.rpc_url
    if url is None:
        raise ValueError(f"fleet.yml has no pocket URL for {fleet.protocol}")
    client = JsonClient(url, timeout=timeout, deadline=deadline or timeout * DEADLINE_TIMEOUTS,
                        concurrency=concurrency)
    if fleet.protocol != "shannon":
        return MorseAdapter(client)
    node = None
    if fleet.pocket.node_rpc_url:
        from fleetctl.pocket.abci import rpc_base

        # One attempt a batch: what the node does not answer goes to REST, within the deadline.
        node = JsonClient(rpc_base(fleet.pocket.node_rpc_url), timeout=timeout,
                          deadline=deadline or timeout * DEADLINE_TIMEOUTS, concurrency=concurrency, attempts=1)
    return ShannonAdapter(client, node)


def check_stakes(fleet: Fleet, *, concurrency: int = DEFAULT_CONCURRENCY,
                 timeout: float = DEFAULT_TIMEOUT_S, db: str | Path | None = None,
                 record: bool = True, busy_timeout_s: float | None = None) -> StakeReport:
    """Read every declared (not planned) supplier, level it, and append the run to the history.

    ``db`` overrides the history path (see :func:`~fleetctl.state.db.resolve_db_path`);
    ``record=False`` compares with the history without writing to it. A history that cannot
    be used makes the report UNKNOWN (a slash could go unseen), never a crash; so does anything
    unexpected (the report says what). ``busy_timeout_s``: see :func:`sweep_stakes`.
    """
    from fleetctl.core.aio import run_sync

    return run_sync(sweep_stakes(fleet, concurrency=concurrency, timeout=timeout, db=db,
                                 record=record, busy_timeout_s=busy_timeout_s))


async def sweep_stakes(fleet: Fleet, *, concurrency: int = DEFAULT_CONCURRENCY,
                       timeout: float = DEFAULT_TIMEOUT_S, deadline: float | None = None,
                       db: str | Path | None = None, record: bool = True,
                       busy_timeout_s: float | None = None, on_event: EventSink | None = None,
                       cancel: CancelToken | None = None) -> StakeReport:
    """:func:`check_stakes` inside a running event loop (``fleetctl health`` runs it beside its
    other checks); the history is read and written off the loop's thread.

    The chain is read within ``deadline`` (default 4 timeouts); the history store then waits
    at most ``busy_timeout_s`` (default one ``timeout``) for another process's lock, after which
    the report is UNKNOWN with "history unavailable: state store PATH is locked by another
    process". Always returns a report: an unexpected exception is an UNKNOWN report naming it.

    ``on_event`` gets a :class:`~fleetctl.core.events.CheckDone` per supplier and a ``Progress``
    once they are judged. A cancelled ``cancel`` stops launching chain queries, cancels those in
    flight and raises :class:`~fleetctl.core.events.Cancelled`; nothing is recorded then."""
    try:
        targets = tuple(s for s in fleet.suppliers if not s.planned)
        adapter = adapter_for(fleet, timeout=timeout, concurrency=concurrency, deadline=deadline)
        known = _recall_owners(adapter, targets)
        if cancel is None:
            chain = await read_chain(adapter, targets)
        else:
            chain = await until_cancelled(read_chain(adapter, targets), cancel, "stakes")
            cancel.raise_if_cancelled("stakes")  # a cancelled sweep is never judged nor recorded
        _remember_owners(adapter, targets, known)
        wait = timeout if busy_timeout_s is None else busy_timeout_s
        report = await asyncio.to_thread(_settle, fleet, targets, chain, db, record, wait)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - stakes always ends with a status
        return _failed_report(fleet, db, exc)
    if on_event is not None:
        for row in report.suppliers:
            on_event(CheckDone("stakes", row.name, row.level, row.reasons[0] if row.reasons else ""))
        on_event(Progress("stakes", len(report.suppliers), len(report.suppliers), "suppliers"))
    return report


def _recall_owners(adapter: PocketAdapter, targets: Sequence[Supplier]) -> dict[str, str]:
    """Give a Shannon adapter the owners the chain named last time for the suppliers whose
    owner fleet.yml does not declare (pocket/owners.py); what was given."""
    if not isinstance(adapter, ShannonAdapter) or all(s.owner_address for s in targets):
        return {}
    from fleetctl.pocket import owners

    adapter.known_owners = owners.load(adapter.url)
    return adapter.known_owners


def _remember_owners(adapter: PocketAdapter, targets: Sequence[Supplier], known: dict[str, str]) -> None:
    """Keep the owners this read saw for the undeclared suppliers (only if that changed)."""
    if not isinstance(adapter, ShannonAdapter):
        return
    undeclared = [s.operator_address for s in targets if s.operator_address and not s.owner_address]
    if not undeclared:
        return
    seen = adapter.owners_seen
    now = {a: seen[a] if a in seen else known[a] for a in undeclared if a in seen or a in known}
    if now != known:  # a new or moved owner, or a supplier the fleet no longer has
        from fleetctl.pocket import owners

        owners.save(adapter.url, now)


def _secrets(fleet: Fleet) -> list[str]:
    """The configured URLs whose credentials must never appear in a report or the store."""
    return [u for u in (fleet.pocket.rest_url, fleet.pocket.rpc_url) if u and has_secret(u)]


def _clean(text: str, secrets: Sequence[str], limit: int = 400) -> str:
    return scrub(text, secrets, sink_style=False, limit=limit)


def _failed_report(fleet: Fleet, db: str | Path | None, exc: BaseException) -> StakeReport:
    """UNKNOWN, with a one-line reason, for an exception no check foresaw."""
    url = fleet.pocket.rest_url if fleet.protocol == "shannon" else fleet.pocket.rpc_url
    try:
        history_db: str | None = str(resolve_db_path(db, fleet))
    except Exception:  # noqa: BLE001
        history_db = None
    message = _clean(f"internal error ({type(exc).__name__}: {exc})", _secrets(fleet), 300)
    return StakeReport(protocol=fleet.protocol, url=safe_url(url) if url else "", status=Level.UNKNOWN,
                       checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
                       message=message, history_db=history_db)


def _judge(supplier: Supplier, reading: Reading, params: StakeParams, policy: StakePolicy,
           previous: Previous | None, secrets: Sequence[str], fees: FeeEstimate | None = None) -> SupplierReport:
    """:func:`evaluate`, its reasons cleaned of secrets; a bug in it makes this one supplier
    UNKNOWN with the exception named, never the run."""
    assert supplier.operator_address is not None
    try:
        report = evaluate(supplier, reading, params, policy, previous, fees)
    except Exception as exc:  # noqa: BLE001
        return SupplierReport(supplier.name, supplier.operator_address, Level.UNKNOWN,
                              (_clean(f"internal error while evaluating ({type(exc).__name__}: "
                                      f"{exc})", secrets, 300),), None)
    if not report.reasons:
        return report
    return replace(report, reasons=tuple(_clean(r, secrets) for r in report.reasons))


def _fees(fleet: Fleet, targets: tuple[Supplier, ...], chain: ChainReading, path: Path,
          busy_timeout_s: float) -> dict[str, FeeEstimate]:
    """Each Shannon operator's claim and proof fees per day: from the claims store when it holds
    the operator's claims, else estimated (the source says which); {} for Morse."""
    if fleet.protocol != "shannon" or isinstance(chain.height, QueryError):
        return {}
    tx_fee = fleet.stake.tx_fee_upokt
    out: dict[str, FeeEstimate] = {}
    store_note = None
    operators = [s.operator_address for s in targets if s.operator_address is not None]
    try:
        observed = observed_fees_of(path, operators, chain.claim_params, tx_fee, busy_timeout_s)
    except (HistoryError, OSError) as exc:
        observed, store_note = {}, f"claims store unreadable ({str(exc)[:120]})"
    for s in targets:
        if s.operator_address is None:
            continue
        found = observed.get(s.operator_address)
        if found is None:
            found = estimate_fees(max(1, len(s.services)), chain.claim_params, tx_fee)
            if store_note:
                found = replace(found, source=f"{found.source}; {store_note}")
        out[s.operator_address] = found
    return out


def _settle(fleet: Fleet, targets: tuple[Supplier, ...], chain: ChainReading,
            db: str | Path | None, record: bool, busy_timeout_s: float) -> StakeReport:
    """Level every supplier against the history and record the run (one transaction)."""
    addresses = [s.operator_address for s in targets if s.operator_address is not None]
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    path = resolve_db_path(db, fleet)
    secrets = _secrets(fleet)

    def build(previous: Mapping[str, Previous], problem: str | None) -> StakeReport:
        report = StakeReport(protocol=fleet.protocol, url=chain.url, status=Level.UNKNOWN,
                             checked_at=checked_at, history_db=str(path),
                             skipped_planned=len(fleet.suppliers) - len(targets),
                             recorded=record and problem is None)
        if isinstance(chain.height, QueryError):
            return replace(report, message=_clean(
                f"cannot read the chain at {chain.url}: {chain.height}", secrets))
        rows = sorted((_judge(s, chain.readings[s.operator_address], chain.params, fleet.stake,
                              previous.get(s.operator_address), secrets, fees.get(s.operator_address))
                       for s in targets if s.operator_address is not None),
                      key=SupplierReport.sort_key)
        levels = [row.level for row in rows] + ([Level.UNKNOWN] if problem else [])
        return replace(report, status=worst(levels), suppliers=tuple(rows), height=chain.height,
                       message=None if problem is None else _clean(problem, secrets))

    fees = _fees(fleet, targets, chain, path, busy_timeout_s)
    try:
        with HistoryStore(path, busy_timeout_s=busy_timeout_s).run(write=record) as run:
            report = build(run.previous(addresses), None)
            if record:
                run.record(report.run_record())
    except HistoryError as exc:
        report = build({}, f"history unavailable: {exc}")
    return report
