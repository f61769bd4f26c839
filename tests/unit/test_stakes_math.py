"""Property tests of the stake arithmetic and levels (fleetctl/pocket/stakes.py).

Each property is checked against an independent oracle: the rule as the issue states it, a
step-by-step simulation of the chain burning penalties, or exact rational arithmetic.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetctl.core.levels import Level, worst
from fleetctl.pocket.base import (
    ChainStatus,
    Penalty,
    StakeParams,
    SupplierState,
    parse_fraction,
    parse_int,
)
from fleetctl.state.stakes import Previous
from fleetctl.pocket.http import QueryError
from fleetctl.pocket.stakes import (
    PERFDATA_BUDGET,
    Reading,
    StakeReport,
    SupplierReport,
    evaluate,
    margin_basis_points,
    penalties_to_minimum,
    penalty_burn,
    stake_level,
    topup_to_ok,
)
from fleetctl.spec.model import Margin, StakePolicy, Supplier

UPOKT = st.integers(min_value=0, max_value=10**16)  # up to 10 billion POKT
MIN_STAKE = st.integers(min_value=1, max_value=10**14)
MARGIN = st.integers(min_value=0, max_value=10**13)


@given(UPOKT, UPOKT, MIN_STAKE, MARGIN, MARGIN)
def test_more_stake_is_never_a_worse_level(a, b, minimum, warning, critical):
    low, high = sorted((a, b))
    assert (stake_level(high, minimum, warning, critical).severity
            <= stake_level(low, minimum, warning, critical).severity)


@given(MIN_STAKE, MARGIN, MARGIN)
def test_every_threshold_is_inclusive(minimum, extra, critical):
    warning = critical + 1 + extra  # a warning margin above the critical one
    assert stake_level(minimum - 1, minimum, warning, critical) is Level.CRITICAL
    assert stake_level(minimum, minimum, warning, critical) is Level.CRITICAL
    assert stake_level(minimum + 1, minimum, warning, 0) is Level.WARNING
    assert stake_level(minimum + critical, minimum, warning, critical) is Level.CRITICAL
    assert stake_level(minimum + critical + 1, minimum, warning, critical) is Level.WARNING
    assert stake_level(minimum + warning, minimum, warning, critical) is Level.WARNING
    assert stake_level(minimum + warning + 1, minimum, warning, critical) is Level.OK


@given(UPOKT, MIN_STAKE, MARGIN, MARGIN)
def test_topup_is_the_smallest_that_restores_ok(stake, minimum, warning, critical):
    topup = topup_to_ok(stake, minimum, warning, critical)
    assert topup >= 0
    assert stake_level(stake + topup, minimum, warning, critical) is Level.OK
    if topup:
        assert stake_level(stake + topup - 1, minimum, warning, critical) is not Level.OK
    else:
        assert stake_level(stake, minimum, warning, critical) is Level.OK


@given(UPOKT, MIN_STAKE)
def test_margin_basis_points_round_down_exactly(stake, minimum):
    bp = margin_basis_points(stake, minimum)
    assert bp is not None
    share = Fraction(stake - minimum, minimum) * 10_000
    assert bp <= share < bp + 1


def test_margin_of_a_zero_minimum_has_no_percentage():
    assert margin_basis_points(5, 0) is None


@given(MIN_STAKE, st.integers(min_value=0, max_value=100_000))
def test_percentage_thresholds_never_undershoot(minimum, basis_points):
    percent = basis_points / 100
    exact = Fraction(minimum) * basis_points / 10_000
    value = Margin(percent=percent).of(minimum)
    assert exact <= value < exact + 1


def simulate(stake: int, minimum: int, penalty: Penalty, limit: int) -> int:
    """Burns the chain would apply one at a time, while the stake stays >= minimum."""
    count = 0
    while count <= limit:
        after = stake - penalty_burn(penalty, stake)
        if after < minimum or after == stake:
            return count
        stake, count = after, count + 1
    return count


@given(UPOKT, MIN_STAKE, st.integers(min_value=1, max_value=10**12))
def test_flat_penalties_to_minimum_is_exact(stake, minimum, flat):
    penalty = Penalty("proof_missing", flat_upokt=flat)
    n = penalties_to_minimum(stake, minimum, penalty)
    assert n is not None
    if stake < minimum:
        assert n == 0
        return
    assert stake - n * flat >= minimum  # n burns leave it at or above the minimum
    assert stake - (n + 1) * flat < minimum  # one more takes it below


@given(st.integers(min_value=1, max_value=2_000), st.integers(min_value=1, max_value=500),
       st.integers(min_value=0, max_value=20))
def test_flat_penalties_match_a_simulation(margin, flat, minimum_extra):
    minimum = 1_000 + minimum_extra
    penalty = Penalty("proof_missing", flat_upokt=flat)
    assert penalties_to_minimum(minimum + margin, minimum, penalty) == simulate(
        minimum + margin, minimum, penalty, 10_000)


def test_a_penalty_that_burns_nothing_is_unlimited():
    assert penalties_to_minimum(100, 10, Penalty("proof_missing", flat_upokt=0)) is None
    tiny = Penalty("downtime", fraction=Fraction(1, 10**9), power_reduction=10**6)
    assert penalties_to_minimum(999_999, 1_000, tiny) is None  # under one unit of power


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**18),
       st.sampled_from([1, 10, 1_000_000]))
def test_fractional_burn_is_pocket_cores_formula(stake, attos, power_reduction):
    """``trunc(TokensFromConsensusPower(power) * fraction)``, computed with Decimal."""
    fraction_text = f"{Decimal(attos) / Decimal(10**18):.18f}"
    penalty = Penalty("double_sign", fraction=parse_fraction(fraction_text, "f"),
                      power_reduction=power_reduction)
    power = stake // power_reduction
    expected = int((Decimal(power * power_reduction) * Decimal(fraction_text)).to_integral_value(
        rounding="ROUND_DOWN"))
    assert penalty_burn(penalty, stake) == min(expected, stake)
    assert 0 <= penalty_burn(penalty, stake) <= stake


@given(st.integers(min_value=1, max_value=100), st.integers(min_value=1_000, max_value=50_000),
       st.integers(min_value=1, max_value=40_000), st.sampled_from([1, 10, 100]))
def test_fractional_penalties_to_minimum_is_guaranteed(per_mille, minimum, margin, power):
    """The count is never optimistic: that many compounding slashes keep the stake >= min."""
    penalty = Penalty("double_sign", fraction=Fraction(per_mille, 1000), power_reduction=power)
    stake = minimum + margin
    n = penalties_to_minimum(stake, minimum, penalty)
    if n is None:
        assert penalty_burn(penalty, stake) == 0
        return
    assert n <= simulate(stake, minimum, penalty, 100_000)
    for _ in range(n):
        stake -= penalty_burn(penalty, stake)
    assert stake >= minimum


def test_mainnet_morse_fractions():
    stake = 20_000_123_456  # 20,000.123456 POKT: 20,000 of consensus power
    downtime = Penalty("downtime", fraction=parse_fraction("0.000001000000000000", "f"),
                       power_reduction=10**6)
    double_sign = Penalty("double_sign", fraction=parse_fraction("0.050000000000000000", "f"),
                          power_reduction=10**6)
    assert penalty_burn(downtime, stake) == 20_000
    assert penalty_burn(double_sign, stake) == 1_000_000_000
    assert penalties_to_minimum(stake, 15_000_000_000, double_sign) == 5
    assert penalties_to_minimum(stake, 15_000_000_000, downtime) == 250_006


@pytest.mark.parametrize("value", ["12.5", "-5", "", "1e3", 1.5, True, None, [], "0x10"])
def test_parse_int_refuses_what_is_not_an_integer(value):
    with pytest.raises(QueryError):
        parse_int(value, "amount")


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_parse_int_reads_gateway_strings(n):
    assert parse_int(str(n), "amount") == n == parse_int(n, "amount")


@given(st.integers(min_value=2**63, max_value=10**60))
def test_parse_int_refuses_what_sqlite_cannot_store(n):
    # A uint64 (or sdk.Int) above int64 would crash the history store's INSERT.
    for value in (n, str(n)):
        with pytest.raises(QueryError, match="is beyond"):
            parse_int(value, "amount")


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "NaN", "Infinity", 0.5, True, None])
def test_parse_fraction_refuses_out_of_range_or_floats(value):
    with pytest.raises(QueryError):
        parse_fraction(value, "fraction")


def test_severity_order_and_worst():
    assert [lvl.name for lvl in sorted(Level, key=lambda lvl: lvl.severity)] == [
        "OK", "WARNING", "UNKNOWN", "CRITICAL"]
    assert worst([]) is Level.OK
    assert worst([Level.WARNING, Level.UNKNOWN]) is Level.UNKNOWN
    assert worst([Level.UNKNOWN, Level.CRITICAL, Level.OK]) is Level.CRITICAL
    assert [int(lvl) for lvl in (Level.OK, Level.WARNING, Level.CRITICAL, Level.UNKNOWN)] == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- evaluate

SUPPLIER = Supplier(name="s", services=("eth",), operator_address="pokt1example")
POLICY = StakePolicy(warning_margin=Margin(upokt=100), critical_margin=Margin(upokt=20),
                     min_operator_balance_upokt=50)
PARAMS = StakeParams(min_stake_upokt=1_000, penalties=(Penalty("proof_missing", flat_upokt=3),),
                     unbonding_period_blocks=40)


def staked(stake: int, **extra) -> SupplierState:
    return SupplierState("pokt1example", extra.pop("status", ChainStatus.STAKED), stake, **extra)


balances = st.one_of(st.integers(min_value=0, max_value=10**6), st.just(QueryError("down")))
states = st.one_of(
    st.builds(staked, st.integers(min_value=0, max_value=5_000)),
    st.builds(lambda s, h: staked(s, status=ChainStatus.UNBONDING, unstake_session_end_height=h),
              st.integers(min_value=0, max_value=5_000), st.integers(min_value=1, max_value=10**6)),
    st.just(SupplierState("pokt1example", ChainStatus.NOT_FOUND)),
    st.just(QueryError("garbage")),
)
previous = st.one_of(st.none(), st.builds(Previous, st.one_of(st.none(), st.integers(0, 6_000)),
                                          st.just(7), st.just("t"), st.booleans()))
params = st.sampled_from([PARAMS, StakeParams(None, (), problems=("min_stake missing",)),
                          StakeParams(1_000, (), problems=("proof_missing_penalty missing",))])


@given(states, balances, params, previous)
def test_evaluate_is_never_a_false_ok(state, balance, chain_params, before):
    report = evaluate(SUPPLIER, Reading(state, balance), chain_params, POLICY, before)
    ok = (not isinstance(state, QueryError) and not isinstance(balance, QueryError)
          and state.status is ChainStatus.STAKED and not chain_params.problems
          and state.stake_upokt > 1_000 + 100 and balance >= 50  # above min + warning margin
          and (before is None or before.stake_upokt is None
               or state.stake_upokt >= before.stake_upokt))
    assert (report.level is Level.OK) == ok, report
    assert bool(report.reasons) == (report.level is not Level.OK)


def test_evaluate_reports_the_facts():
    report = evaluate(SUPPLIER, Reading(staked(1_050), 10), PARAMS, POLICY,
                      Previous(1_080, 7, "t", True))
    assert report.level is Level.WARNING
    assert (report.margin_upokt, report.topup_upokt, report.slashed_upokt) == (50, 51, 30)
    assert report.penalties_to_minimum == 16 and report.penalties[0].burn_upokt == 3
    assert report.reasons == ("margin 0.00005 POKT within the warning margin 0.0001 POKT",
                              "operator balance 0.00001 POKT below 0.00005 POKT",
                              "slashed: stake down 0.00003 POKT since the last run "
                              "(0.00108 POKT at height 7)")
    unbonding = evaluate(SUPPLIER, Reading(staked(5_000, status=ChainStatus.UNBONDING,
                                                  unstake_session_end_height=60), 99),
                         PARAMS, POLICY, None)
    assert unbonding.level is Level.CRITICAL and unbonding.unbonding_end_height == 100
    assert unbonding.reasons == ("unbonding unexpectedly, ends at height 100",)
    gone = evaluate(SUPPLIER, Reading(SupplierState("pokt1example", ChainStatus.NOT_FOUND), 0),
                    PARAMS, POLICY, Previous(2_000, 7, "t", True))
    assert gone.level is Level.CRITICAL and gone.reasons[0].startswith("unstaked")
    never = evaluate(SUPPLIER, Reading(SupplierState("pokt1example", ChainStatus.NOT_FOUND), 0),
                     PARAMS, POLICY, None)
    assert never.level is Level.UNKNOWN
    assert never.reasons == ("not staked / unknown to the chain",)


# ----------------------------------------------------------------------------- report output


def report_of(rows: list[SupplierReport]) -> StakeReport:
    return StakeReport(protocol="shannon", url="http://127.0.0.1:1", status=worst(r.level for r in rows),
                       checked_at="t", suppliers=tuple(sorted(rows, key=SupplierReport.sort_key)),
                       height=10)


def row(name: str, level: Level, margin: int | None) -> SupplierReport:
    return SupplierReport(name, f"pokt1{name}", level, () if level is Level.OK else ("why",),
                          ChainStatus.STAKED, margin_upokt=margin, warning_margin_upokt=5950,
                          critical_margin_upokt=1190)


def test_nagios_line_and_perfdata():
    report = report_of([row("a", Level.OK, 9000), row("b", Level.WARNING, 3500),
                        row("c", Level.UNKNOWN, None)])
    assert report.exit_code == 3
    assert report.nagios_line() == (
        "STAKES UNKNOWN - 1 warning, 0 critical of 3, 1 unknown; c: why | "
        "'c_margin'=U;5950;1190;0 'b_margin'=3500;5950;1190;0 'a_margin'=9000;5950;1190;0")
    assert [s.name for s in report.suppliers] == ["c", "b", "a"]  # riskiest first


@given(st.integers(min_value=1, max_value=1500))
def test_perfdata_stays_within_budget(count):
    rows = [row(f"supplier-{i:04d}", Level.OK, 10_000 + i) for i in range(count)]
    perfdata = report_of(rows).perfdata()
    assert len(perfdata.encode()) <= PERFDATA_BUDGET
    if "'suppliers'=" in perfdata:
        assert f"'suppliers'={count} 'ok'={count}" in perfdata
        assert "'min_margin'=10000;5950;1190;0" in perfdata
    else:
        assert perfdata.count("_margin'=") == count


# ----------------------------------------------------------------------------- missed proofs and fee runway

from dataclasses import replace as _replace  # noqa: E402

from fleetctl.pocket.events import ClaimParams  # noqa: E402
from fleetctl.pocket.stakes import FeeEstimate, estimate_fees, fee_runway_days, missed_proofs_level  # noqa: E402

MISSED_POLICY = StakePolicy(warning_margin=Margin(upokt=0), critical_margin=Margin(upokt=0),
                            min_operator_balance_upokt=0)
FLAT_10 = StakeParams(1_000, (Penalty("proof_missing", flat_upokt=10),))


@pytest.mark.parametrize(("stake", "missed", "level"), [
    (1_001, 0, Level.CRITICAL),    # above the minimum, but the next missed proof unstakes it
    (1_030, 3, Level.CRITICAL),    # at missed_proofs_critical (3)
    (1_039, 3, Level.CRITICAL),    # rounds down: 3.9 proofs is 3
    (1_040, 4, Level.WARNING),
    (1_100, 10, Level.WARNING),    # at missed_proofs_warning (10)
    (1_110, 11, Level.OK),
])
def test_missed_proofs_until_auto_unstake_levels(stake, missed, level):
    report = evaluate(SUPPLIER, Reading(staked(stake), 10**6), FLAT_10, MISSED_POLICY, None)
    assert report.missed_proofs_to_unstake == missed and not report.missed_proofs_unbounded
    assert report.level is level, report.reasons
    if level is not Level.OK:
        assert report.reasons[0].startswith(f"{missed:,} missed proofs until auto-unstake ((stake - min_stake) / "
                                            "proof_missing_penalty 0.00001 POKT")
    assert report.as_dict()["missed_proofs_to_unstake"] == missed


def test_missed_proof_levels_are_configurable_and_a_zero_penalty_is_unbounded():
    policy = _replace(MISSED_POLICY, missed_proofs_warning=50, missed_proofs_critical=20)
    assert evaluate(SUPPLIER, Reading(staked(1_300), 10**6), FLAT_10, policy, None).level is Level.WARNING
    assert evaluate(SUPPLIER, Reading(staked(1_200), 10**6), FLAT_10, policy, None).level is Level.CRITICAL
    free = StakeParams(1_000, (Penalty("proof_missing", flat_upokt=0),))
    report = evaluate(SUPPLIER, Reading(staked(1_001), 10**6), free, MISSED_POLICY, None)
    assert report.level is Level.OK and report.missed_proofs_unbounded and report.missed_proofs_to_unstake is None
    assert missed_proofs_level(None, MISSED_POLICY) is Level.OK


def test_fee_runway_days_and_warning():
    assert fee_runway_days(700, 100) == 7 and fee_runway_days(5, 0) is None
    fees = FeeEstimate(100, "claims store: test")
    report = evaluate(SUPPLIER, Reading(staked(10**6), 699), FLAT_10, MISSED_POLICY, None, fees)
    assert report.level is Level.WARNING and report.fee_runway_days == 6.99
    assert report.reasons == ("fee runway 6.9 days: operator balance 0.000699 POKT over 0.0001 POKT a day of claim "
                              "and proof fees (WARNING below 7 days; claims store: test)",)
    ok = evaluate(SUPPLIER, Reading(staked(10**6), 700), FLAT_10, MISSED_POLICY, None, fees)
    assert ok.level is Level.OK and ok.as_dict()["fee_runway_days"] == 7 and ok.fee_source == "claims store: test"
    unbounded = evaluate(SUPPLIER, Reading(staked(10**6), 0), FLAT_10, MISSED_POLICY, None, FeeEstimate(0, "x"))
    assert unbounded.level is Level.OK and unbounded.fee_runway_days is None


def test_fee_estimate_from_the_params_names_its_source():
    params = ClaimParams(num_blocks_per_session=60, proof_request_probability=Fraction(1, 4),
                         proof_submission_fee_upokt=1_000)
    est = estimate_fees(2, params, 10)
    # 86,400 / (30 s x 60 blocks) = 48 sessions a day, 2 services: 96 claims (10 each) and 24 proofs (1,010 each)
    assert est.per_day_upokt == 96 * 10 + 24 * 1_010
    assert est.source.startswith("estimate, no claims stored yet: 2 service(s) x 48 sessions a day")
    bare = estimate_fees(1, ClaimParams(num_blocks_per_session=60), 10)
    assert bare.per_day_upokt == 48 * 20 and "proof_request_probability not read" in bare.source
    assert estimate_fees(1, None, 10).per_day_upokt is None


hostile_value = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.text(max_size=5),
                          st.fractions(), st.floats(allow_nan=True, allow_infinity=True))


@given(nbps=hostile_value, p=hostile_value, fee=hostile_value, services=st.integers(1, 50),
       tx=st.integers(0, 10**12))
def test_fee_estimate_never_crashes_on_what_params_hold(nbps, p, fee, services, tx):
    params = ClaimParams(num_blocks_per_session=nbps, proof_request_probability=p, proof_submission_fee_upokt=fee)
    est = estimate_fees(services, params, tx)
    assert est.per_day_upokt is None or (isinstance(est.per_day_upokt, int) and est.per_day_upokt >= 0)
    assert "\n" not in est.source


def test_fleet_yml_keys_for_missed_proofs_and_the_fee_runway(tmp_path):
    import shutil

    from conftest import LAB_INV
    from fleetctl.spec.errors import InventoryError
    from fleetctl.spec.loader import load_inventory

    root = tmp_path / "lab"
    shutil.copytree(LAB_INV, root)
    text = (root / "fleet.yml").read_text()
    anchor = '  min_operator_balance: "10 POKT"\n'
    assert anchor in text
    good = text.replace(anchor, anchor + "  missed_proofs_warning: 20\n  missed_proofs_critical: 5\n"
                        "  fee_runway_warning: 14d\n  tx_fee: 2upokt\n")
    (root / "fleet.yml").write_text(good)
    stake = load_inventory(root).stake
    assert (stake.missed_proofs_warning, stake.missed_proofs_critical, stake.fee_runway_warning_days,
            stake.tx_fee_upokt) == (20, 5, 14, 2)
    assert StakePolicy().fee_runway_warning_days == 7 and StakePolicy().tx_fee_upokt == 1
    bad = text.replace(anchor, anchor + "  missed_proofs_warning: 2\n  missed_proofs_critical: 5\n  tx_fee: lots\n")
    (root / "fleet.yml").write_text(bad)
    with pytest.raises(InventoryError) as caught:
        load_inventory(root)
    message = str(caught.value)
    assert "stake.missed_proofs_warning: must be at least missed_proofs_critical" in message
    assert "stake.tx_fee: expected an amount" in message


@given(st.builds(
    SupplierReport, name=st.text(max_size=8), address=st.text(max_size=8), level=st.sampled_from(list(Level)),
    reasons=st.lists(st.text(max_size=5), max_size=2).map(tuple),
    chain_status=st.none() | st.sampled_from(list(ChainStatus)), jailed=st.booleans(),
    stake_upokt=st.none() | st.integers(0, 2**70), min_stake_upokt=st.none() | st.integers(0, 2**64),
    margin_upokt=st.none() | st.integers(-2**64, 2**64), margin_bp=st.none() | st.integers(-10**6, 10**6),
    balance_upokt=st.none() | st.integers(0, 2**64), penalties_to_minimum=st.none() | st.integers(0, 10**9),
    topup_upokt=st.none() | st.integers(0, 2**64), slashed_upokt=st.none() | st.integers(0, 2**64),
    missed_proofs_to_unstake=st.none() | st.integers(0, 10**9), fees_per_day_upokt=st.none() | st.integers(0, 10**9),
    fee_runway_days=st.none() | st.floats(0, 1e9), fee_source=st.none() | st.text(max_size=5)))
def test_a_stake_checks_facts_are_its_reports_own(row):
    """health's stake check reads its facts from the row's fields, not through ``as_dict()`` (all
    30 keys, for 1,000 suppliers a run): the same keys, in the same order, with the same values."""
    keys = ("name", "chain_status", "jailed", "stake_upokt", "min_stake_upokt", "margin_upokt", "margin_percent",
            "operator_balance_upokt", "penalties_to_minimum", "topup_upokt", "slashed_upokt", "reasons",
            "missed_proofs_to_unstake", "fees_per_day_upokt", "fee_runway_days", "fee_source")
    facts = row.check_facts()
    assert list(facts) == list(keys)
    full = row.as_dict()
    assert facts == {key: full[key] for key in keys}


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                    max_leaves=8),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32-le"]))
def test_an_answer_decodes_as_json_loads_with_decimals_would(value, encoding):
    """The Pocket client's one decoder reads every answer as ``json.loads(raw,
    parse_float=Decimal)`` does (the encodings it detects, the numbers as Decimal and int)."""
    import json

    from fleetctl.pocket.http import _decode

    raw = json.dumps(value).encode(encoding)
    assert _decode("/x", raw) == json.loads(raw, parse_float=Decimal)
    for bad in (raw[:-1] + b"\xff", b"{", b"\xef\xbb\xbf{\"a\": 1.5}", b"[1e999999]"):
        try:
            expected = json.loads(bad, parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            with pytest.raises(QueryError, match="malformed JSON"):
                _decode("/x", bad)
        else:
            assert _decode("/x", bad) == expected


def test_query_strings_and_quoted_addresses_are_what_urlencode_and_quote_give():
    """The HTTP client keeps the query strings it encoded, and a balance route skips quote()
    for an address it would leave as it is: the same text either way."""
    from urllib.parse import quote, urlencode

    from fleetctl.core.httpclient import _query
    from fleetctl.pocket.shannon import _PLAIN

    for params in ({"denom": "upokt"}, {"a": "1", "b": "x y&z"}, {"a": 1}, {"a": True}, {"a": "é/?"}, {}):
        assert _query(params) == urlencode(params)
        assert _query(params) == urlencode(params)  # from the cache the second time
    for text in ("pokt1abc", "pokt1ABC_.~-", "pokt 1", "pokt/1", "é", "１２", "", "a%20"):
        if _PLAIN.fullmatch(text):
            assert quote(text, safe="") == text
        else:
            assert quote(text, safe="") != text or text == ""


def test_a_module_s_params_are_read_once_a_session_whoever_asks():
    """stake_params and claim_params both need the proof and shared params: one read each per
    ``async with``, shared by its callers; one caller that stops waiting does not cancel it for
    the other, a failed read fails every caller, and the session's end cancels what is left."""
    import asyncio

    from fleetctl.pocket.http import JsonClient
    from fleetctl.pocket.shannon import ShannonAdapter

    async def scenario() -> None:
        adapter = ShannonAdapter(JsonClient("http://127.0.0.1:9"))
        calls: list[str] = []
        gate = asyncio.Event()

        async def read(module: str) -> dict[str, Any]:
            calls.append(module)
            await gate.wait()
            if module == "bad":
                raise QueryError("bad params")
            return {"module": module}

        adapter._read_params = read  # type: ignore[method-assign]
        async with adapter:
            first = asyncio.ensure_future(adapter._params("proof"))
            quitter = asyncio.ensure_future(adapter._params("proof"))
            bad = [asyncio.ensure_future(adapter._params("bad")) for _ in range(2)]
            adapter._params("bad")  # a caller cancelled before it awaited: its failure is not the loop's
            await asyncio.sleep(0)
            quitter.cancel()
            await asyncio.sleep(0)
            gate.set()
            assert await first == {"module": "proof"}
            for b in bad:
                with pytest.raises(QueryError, match="bad params"):
                    await b
            assert calls == ["proof", "bad"]
            gate.clear()
            pending = asyncio.ensure_future(adapter._params("shared"))
            while "shared" not in calls:  # the read is out
                await asyncio.sleep(0)
        await asyncio.gather(pending, return_exceptions=True)
        assert pending.cancelled()  # the read still out when the session closed
        async with adapter:  # a new session reads again
            gate.set()
            assert await adapter._params("proof") == {"module": "proof"}
        assert calls == ["proof", "bad", "shared", "proof"]

    import gc
    import logging

    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda rec: logged.append(rec.getMessage())  # type: ignore[method-assign]
    logging.getLogger("asyncio").addHandler(handler)
    try:
        asyncio.run(scenario())
        gc.collect()
    finally:
        logging.getLogger("asyncio").removeHandler(handler)
    assert logged == []  # no "exception was never retrieved"


def test_settle_each_reads_every_item_at_most_width_at_a_time_in_order():
    """The balances' reader: every item's outcome in the items' order (a failure as a
    QueryError, a bug as an internal error), never more than ``width`` in flight, the items
    started in order; cancelled, it cancels what is in flight and starts nothing more."""
    import asyncio

    from fleetctl.pocket.base import settle_each

    async def scenario() -> None:
        started: list[int] = []
        cancelled: list[int] = []
        in_flight = peak = 0

        async def read(item: int) -> int:
            nonlocal in_flight, peak
            started.append(item)
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await asyncio.sleep(0.001 * (item % 3))
            finally:
                in_flight -= 1
            if item == 4:
                raise QueryError("four")
            if item == 5:
                raise KeyError("five")
            return item * 10

        out = await settle_each(read, list(range(20)), 3)
        assert peak == 3 and started == list(range(20))
        assert [o if isinstance(o, int) else str(o) for o in out] == [
            0, 10, 20, 30, "four", "internal error while reading (KeyError: 'five')", *(i * 10 for i in range(6, 20))]
        assert await settle_each(read, [], 3) == []

        gate = asyncio.Event()

        async def slow(item: int) -> int:
            started.append(item)
            try:
                await gate.wait()
            except asyncio.CancelledError:
                cancelled.append(item)
                raise
            return item

        started.clear()
        task = asyncio.ensure_future(settle_each(slow, list(range(10)), 4))
        while len(started) < 4:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        await asyncio.sleep(0.01)
        assert sorted(cancelled) == [0, 1, 2, 3] and started == [0, 1, 2, 3]

    asyncio.run(scenario())


def test_health_stake_checks_one_per_supplier_and_a_row_that_fails_is_its_own_unknown():
    """health's stake checks: the samples of each row (in order), and a row the check cannot
    build (a bug, hostile data) is that supplier's UNKNOWN check naming why; the others stand."""
    from types import SimpleNamespace

    from fleetctl.health.sweep import _stake_checks

    good = SupplierReport("sup-a", "pokt1a", Level.OK, (), ChainStatus.STAKED, stake_upokt=2_000_000,
                          min_stake_upokt=1_000_000, margin_upokt=1_000_000, margin_bp=10_000,
                          balance_upokt=5, penalties_to_minimum=2**70, missed_proofs_to_unstake=7,
                          fee_runway_days=3.5)
    bad = _replace(good, name="sup-b", address="pokt1b", margin_bp="junk")  # formatting it raises
    fleet = SimpleNamespace(suppliers=[SimpleNamespace(name=n, planned=False, operator_address=a)
                                       for n, a in (("sup-a", "pokt1a"), ("sup-b", "pokt1b"))])
    report = SimpleNamespace(height=10, suppliers=(good, bad), message=None, history_db="x")
    first, second = _stake_checks(fleet, None, report, SimpleNamespace(keep=[]))  # type: ignore[arg-type]
    assert (first.target, first.level, first.labels) == ("pokt1a", Level.OK, {"name": "sup-a"})
    assert first.message == "stake 2 POKT, margin 1 POKT (100.00%)"
    assert [(s.name, s.value, s.labels) for s in first.samples] == [
        ("upokt", 2e6, ()), ("margin_upokt", 1e6, ()), ("operator_balance_upokt", 5.0, ()),
        ("fleetctl_stakes_missed_proofs_to_unstake", 7.0, (("supplier", "sup-a"),)),
        ("fleetctl_stakes_fee_runway_days", 3.5, (("operator", "pokt1a"),))]  # penalties: 2**70 is no gauge
    assert (second.target, second.kind, second.level, second.labels) == ("pokt1b", "stake", Level.UNKNOWN,
                                                                          {"name": "sup-b"})
    assert second.message.startswith("check failed: TypeError")


def _field_reference(obj: Any, *path: Any, where: str) -> Any:
    """fleetctl.pocket.base.field as it was written first (no fast path for dicts)."""
    from collections.abc import Mapping

    for depth, key in enumerate(path):
        if isinstance(key, int):
            present = isinstance(obj, list) and -len(obj) <= key < len(obj)
        else:
            present = isinstance(obj, Mapping) and obj.get(key) is not None
        if not present:
            raise QueryError(f"{where}: missing field {'.'.join(str(k) for k in path[: depth + 1])}")
        obj = obj[key]
    return obj


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b", ""]),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "c"]),
                                                                                  inner, max_size=3),
                     max_leaves=10)


@given(_json, st.lists(st.sampled_from(["a", "b", "c"]) | st.integers(-3, 3), min_size=1, max_size=3))
def test_field_reads_a_path_as_it_always_did(obj, path):
    """``field``'s fast path for a JSON object's member gives the same value or the same error
    (a missing or null member, an index out of range, a step into a scalar)."""
    from fleetctl.pocket.base import field

    def outcome(fn: Any) -> Any:
        try:
            return ("value", fn(obj, *path, where="/x"))
        except QueryError as exc:
            return ("error", str(exc))

    assert outcome(field) == outcome(_field_reference)
