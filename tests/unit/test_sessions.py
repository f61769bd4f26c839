"""Tests of the session model (fleetctl/pocket/sessions.py) and of the what-if and Monte Carlo
built on it (fleetctl/plan/sessions_sim.py).

Exact odds against brute-force enumeration and exact binomials, stability up to N = 10^6
(hypothesis), rewards against hand-computed claims, what-if rows and pick(), the selection
algorithms against vectors from the Go code (how each was derived is written beside it), and
the Monte Carlo against the exact formula.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetctl.plan import sessions_sim as SIM
from fleetctl.plan.sessions_sim import monte_carlo, pick, what_if
from fleetctl.pocket import sessions as S
from fleetctl.pocket.sessions import (
    MorseRewardParams,
    ShannonRewardParams,
    expected_ours,
    morse_session_key,
    morse_session_nodes,
    morse_session_nodes_from_key,
    p_at_least_one,
    sessions_per_day,
    shannon_session_id,
    shannon_session_id_bytes,
    shannon_session_start_height,
    shannon_session_suppliers,
    shannon_supplier_weight,
)

SHARED_POCKET = Path(__file__).resolve().parents[2].parent / "shared" / "pocket"


def exact_p(N: int, K: int, m: int) -> Fraction:
    """1 - C(N-m, K)/C(N, K) with exact integers (the definition)."""
    if m == 0 or K == 0:
        return Fraction(0)
    if N <= K:
        return Fraction(1)
    return 1 - Fraction(math.comb(N - m, K), math.comb(N, K))


# --------------------------------------------------------------------------- exact odds


@pytest.mark.parametrize("N", range(0, 9))
def test_p_and_expectation_match_enumeration_of_every_session(N: int) -> None:
    """Every K-subset of N identities is one equally likely session (the draw is uniform
    and stake-independent); ours are identities 0 … m-1."""
    for K in range(0, N + 2):
        for m in range(0, N + 1):
            if K >= N:
                sessions = [tuple(range(N))]          # the hydrator takes every candidate
            else:
                sessions = list(itertools.combinations(range(N), K))
            hits = sum(any(i < m for i in s) for s in sessions)
            ours = sum(sum(i < m for i in s) for s in sessions)
            want_p = Fraction(hits, len(sessions)) if m and K else Fraction(0)
            want_e = Fraction(ours, len(sessions)) if K else Fraction(0)
            assert p_at_least_one(N, K, m) == pytest.approx(float(want_p), abs=1e-15), (N, K, m)
            assert expected_ours(N, K, m) == pytest.approx(float(want_e), abs=1e-15), (N, K, m)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n + 5), st.integers(0, n))))
def test_p_matches_exact_binomials(case: tuple[int, int, int]) -> None:
    N, K, m = case
    want = exact_p(N, K, m)
    got = p_at_least_one(N, K, m)
    assert abs(Fraction(got) - want) <= want * Fraction(1, 10**12) + Fraction(1, 10**15)


@pytest.mark.parametrize("N,K,m", [(1_000_000, 4_100, 4_100), (1_000_000, 4_500, 4_200),
                                   (100_000, 5_000, 4_200), (60_000, 30_000, 5_000)])
def test_lgamma_branch_matches_exact_binomials(N: int, K: int, m: int) -> None:
    """Both K and m above 4096: the lgamma form. At N = 10^6 the miss probability is then
    ~5e-8 (p = 0.99999995…), and it must still be right to ~1e-6 relative."""
    got = p_at_least_one(N, K, m)
    want = exact_p(N, K, m)
    assert abs(Fraction(got) - want) < Fraction(1, 10**14)
    miss = float(1 - want)
    if miss > 1e-12:
        assert 1 - got == pytest.approx(miss, rel=1e-6)


def test_small_probabilities_keep_their_precision() -> None:
    assert p_at_least_one(10**6, 1, 1) == pytest.approx(1e-6, rel=1e-14)
    assert p_at_least_one(10**6, 50, 1) == pytest.approx(50 / 10**6, rel=1e-14)
    want = float(exact_p(10**6, 3, 2))
    assert p_at_least_one(10**6, 3, 2) == pytest.approx(want, rel=1e-13)


def test_edges() -> None:
    assert p_at_least_one(10, 5, 0) == 0.0
    assert p_at_least_one(10, 0, 4) == 0.0
    assert p_at_least_one(5, 5, 1) == 1.0          # N <= K: all taken
    assert p_at_least_one(4, 50, 2) == 1.0
    assert p_at_least_one(10, 5, 6) == 1.0         # N - m < K: cannot miss
    assert p_at_least_one(10**6, 500_000, 500_001) == 1.0
    assert p_at_least_one(10**6, 10**6, 10**6) == 1.0
    assert expected_ours(0, 5, 0) == 0.0
    assert expected_ours(4, 50, 2) == 2.0
    assert expected_ours(100, 10, 7) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        p_at_least_one(10, 3, 11)
    with pytest.raises(ValueError):
        p_at_least_one(10, -1, 1)
    with pytest.raises(TypeError):
        p_at_least_one(10.0, 3, 1)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 10**6).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(0, n - 1))))
def test_stable_and_monotone_up_to_a_million(case: tuple[int, int, int]) -> None:
    N, K, m = case
    p = p_at_least_one(N, K, m)
    p_next = p_at_least_one(N, K, m + 1)
    assert math.isfinite(p) and 0.0 <= p <= 1.0
    assert p <= p_next                                   # one more of ours never hurts
    if K < N:
        assert p <= p_at_least_one(N, K + 1, m)           # a bigger session never hurts
    # C(N-m,K)/C(N,K) is symmetric in K and m: the two products must agree
    assert p == pytest.approx(p_at_least_one(N, m, K), rel=1e-9, abs=1e-300)
    assert 0.0 <= expected_ours(N, K, m) <= min(K, m) + 1e-9


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 10**6).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(1, n - 1))))
def test_growing_n_with_m_is_monotone(case: tuple[int, int]) -> None:
    """What the what-if does: each identity we add also joins N."""
    others, K = case
    ps = [p_at_least_one(others + m, K, m) for m in range(0, 40)]
    assert ps == sorted(ps)


def test_sessions_per_day() -> None:
    assert sessions_per_day(20, 30) == 144         # Shannon mainnet: 20 blocks of ~30 s
    assert sessions_per_day(4, 900) == 24          # Morse mainnet: 4 blocks of ~15 min
    assert sessions_per_day(10, "60.5") == Fraction(86400 * 2, 1210)
    assert sessions_per_day(10, 0.1) == 86400      # a float goes through its decimal text
    with pytest.raises(ValueError):
        sessions_per_day(0, 30)
    with pytest.raises(ValueError):
        sessions_per_day(20, 0)


# --------------------------------------------------------------------------- rewards


def test_shannon_defaults_are_the_mainnet_params() -> None:
    folder = SHARED_POCKET / "poktroll-bulk_params_main"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")

    def params(name: str) -> dict:
        return json.loads((folder / f"{name}_params.json").read_text())["body"]["messages"][0][
            "params"]

    loaded = ShannonRewardParams.from_params(params("shared"), params("tokenomics"))
    assert loaded == ShannonRewardParams()
    assert loaded.compute_units_to_tokens_multiplier == 145_990
    assert loaded.compute_unit_cost_granularity == 1_000_000
    assert loaded.mint_allocation_supplier == Fraction(4, 5)
    assert loaded.mint_ratio == Fraction(39, 40)          # 0.975 as Go's Float64ToRat reads it
    assert loaded.mint_equals_burn_supplier == Fraction(79, 100)


def test_morse_defaults_are_the_mainnet_genesis() -> None:
    genesis = SHARED_POCKET / "pocket-core-mainnet-genesis-from-app-genesis.go.json"
    if not genesis.is_file():
        pytest.skip(f"{genesis} not found")
    pos = json.loads(genesis.read_text())["app_state"]["pos"]["params"]
    assert MorseRewardParams.from_params(pos) == MorseRewardParams()
    assert MorseRewardParams().upokt_per_relay() == 8900       # 10000 x 89 %


def test_shannon_params_missing_fields_read_as_the_chain_does() -> None:
    shared = {"compute_units_to_tokens_multiplier": "42000000",
              "compute_unit_cost_granularity": "1000000"}
    bare = ShannonRewardParams.from_params(shared, {})
    assert bare.mint_ratio == 1                      # before PIP-41 there was no burn gap
    assert bare.mint_equals_burn_supplier == Fraction(7, 10)   # Go default when unset
    assert bare.global_inflation_per_claim == 0 and bare.mint_allocation_supplier == 0
    zeroed = ShannonRewardParams.from_params(shared, {"mint_equals_burn_claim_distribution": {
        "dao": 0, "supplier": 0}})
    assert zeroed.mint_equals_burn_supplier == Fraction(7, 10)
    assert bare.upokt_per_relay() == Fraction(42, 1) * Fraction(7, 10)
    assert ShannonRewardParams.from_params(shared, {}, compute_units_per_relay=2
                                           ).settlement_per_relay() == 84


def test_shannon_claim_by_hand() -> None:
    """100,000 relays, CUPR 1, mainnet (derived by hand from the Go code, see the class doc):
    settlement = floor(100000 * 145990 / 1e6) = 14599; relay-burn TLM: minted =
    floor(14599 * 0.975) = floor(14234.025) = 14234, supplier floor(14234 * 0.79) =
    floor(11244.86) = 11244; global mint: ceil(14599 * 1e-6) = 1, supplier floor(0.8) = 0."""
    assert ShannonRewardParams().claim(100_000) == S.ClaimReward(14_599, 11_244)
    # 10^9 relays: 145990000; minted 142340250; supplier 112448797 (floor of .5);
    # inflation ceil(145.99) = 146, floor(146 * 0.8) = floor(116.8) = 116 → 112448913
    assert ShannonRewardParams().claim(10**9) == S.ClaimReward(145_990_000, 112_448_913)
    assert ShannonRewardParams().claim(6) == S.ClaimReward(0, 0)  # 0.87594 upokt: nothing
    assert ShannonRewardParams(compute_units_per_relay=3).claim(100_000).settlement_upokt \
        == 43_797
    rate = ShannonRewardParams().upokt_per_relay()
    assert rate == Fraction(145_990, 10**6) * (Fraction("0.975") * Fraction("0.79")
                                               + Fraction("0.000001") * Fraction("0.8"))
    assert float(rate) == pytest.approx(0.112448914292)
    # the per-claim roundings stay within a few upokt of the linear rate
    assert abs(ShannonRewardParams().claim(10**9).supplier_upokt - rate * 10**9) < 3


def test_morse_claim_by_hand() -> None:
    """123 relays: coins = 1,230,000; fees trunc(1,230,000 * 11 / 100) = 135,300; node
    1,094,700 (x/nodes/keeper/params.go splitRewards)."""
    assert MorseRewardParams().claim(123) == S.ClaimReward(1_230_000, 1_094_700)
    assert MorseRewardParams(relays_to_tokens_multiplier=7).claim(3) == S.ClaimReward(21, 19)


def test_reward_params_validation() -> None:
    with pytest.raises(ValueError):
        ShannonRewardParams(compute_unit_cost_granularity=0)
    with pytest.raises(ValueError):
        MorseRewardParams(dao_allocation=90, proposer_allocation=20)
    assert ShannonRewardParams(mint_ratio=1.0).mint_ratio == 1       # type: ignore[arg-type]


# --------------------------------------------------------------------------- what-if


def make_what_if(**overrides):
    kwargs = dict(protocol="shannon", service="eth", N=1_000, K=50, current=10, extra=40,
                  apps=30, relays_per_session=2_500)
    kwargs.update(overrides)
    return what_if(**kwargs)


def test_what_if_rows() -> None:
    w = make_what_if()
    assert [r["m"] for r in w.rows] == list(range(10, 51))
    per_app = sessions_per_day(20, 30)                 # mainnet defaults: 144 per app
    rate = ShannonRewardParams().upokt_per_relay()
    for i, row in enumerate(w.rows):
        m, n = row["m"], 1_000 - 10 + row["m"]
        assert row["N"] == n
        assert row["p_session"] == pytest.approx(float(exact_p(n, 50, m)), rel=1e-12)
        assert row["expected_per_session"] == pytest.approx(50 * m / n)
        assert row["sessions_per_day"] == pytest.approx(30 * 144 * row["p_session"])
        assert row["slots_per_day"] == pytest.approx(30 * 144 * 50 * m / n)
        assert row["relays_per_day"] == pytest.approx(row["slots_per_day"] * 2_500)
        want = math.floor(30 * per_app * Fraction(50 * m, n) * 2_500 * rate)
        assert row["rewards_upokt_per_day"] == want and isinstance(want, int)
        assert row["stake_upokt"] == i * 59_500_000_000
        nxt = p_at_least_one(n + 1, 50, m + 1)
        assert row["marginal_p"] == pytest.approx(nxt - row["p_session"], rel=1e-9)
        assert row["marginal_p"] > 0
        if i + 1 < len(w.rows):
            assert row["marginal_rewards_upokt_per_day"] == (
                w.rows[i + 1]["rewards_upokt_per_day"] - row["rewards_upokt_per_day"])
    doc = w.as_dict()
    assert {"service", "N", "K", "current", "rows"} <= doc.keys()
    assert (doc["service"], doc["N"], doc["K"], doc["current"]) == ("eth", 1_000, 50, 10)
    json.dumps(doc)                                     # JSON as it is
    assert set(doc["rows"][0]) == {
        "m", "N", "p_session", "expected_per_session", "sessions_per_day", "slots_per_day",
        "relays_per_day", "rewards_upokt_per_day", "stake_upokt", "marginal_p",
        "marginal_rewards_upokt_per_day"}


def test_what_if_edges_and_overrides() -> None:
    w = make_what_if(N=30, K=50, current=0, extra=3, apps=2, relays_per_session=10,
                     blocks_per_session=10, block_time_s=60, upokt_per_relay="0.5",
                     stake_per_supplier_upokt=7)
    assert w.rows[0]["p_session"] == 0.0 and w.rows[0]["rewards_upokt_per_day"] == 0
    # N_m <= K: every identity is in every session
    for row in w.rows[1:]:
        assert row["p_session"] == 1.0
        assert row["expected_per_session"] == row["m"]
        assert row["rewards_upokt_per_day"] == 2 * 144 * row["m"] * 10 // 2
    assert [r["stake_upokt"] for r in w.rows] == [0, 7, 14, 21]
    morse = make_what_if(protocol="morse", N=5_000, K=5, current=20, extra=5)
    first = morse.rows[0]
    assert first["sessions_per_day"] == pytest.approx(30 * 24 * first["p_session"])
    assert first["rewards_upokt_per_day"] == math.floor(
        30 * 24 * Fraction(5 * 20, 5_000) * 2_500 * 8900)
    assert morse.rows[1]["stake_upokt"] == 15_000_000_000
    with pytest.raises(ValueError):
        make_what_if(current=1_001)
    with pytest.raises(ValueError):
        make_what_if(protocol="v2")


def test_what_if_others_fewer_than_k() -> None:
    """N - current < K: every session includes one of ours, even once N_m exceeds K."""
    w = make_what_if(N=60, K=50, current=20, extra=5)
    assert all(r["p_session"] == 1.0 for r in w.rows)
    assert w.rows[-1]["expected_per_session"] == pytest.approx(50 * 25 / 65)


def test_what_if_is_fast_for_ten_thousand_rows() -> None:
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        w = what_if(protocol="shannon", service="eth", N=100_000, K=50, current=100,
                    extra=10_000, apps=1_000, relays_per_session=500)
        best = min(best, time.perf_counter() - start)
    assert len(w.rows) == 10_001
    assert best < 0.1, f"what-if of 10,001 rows took {best * 1000:.1f} ms"
    # the running product stays exact to the last row
    last = w.rows[-1]
    assert last["p_session"] == pytest.approx(float(exact_p(last["N"], 50, last["m"])),
                                              rel=1e-12)


def test_pick() -> None:
    w = make_what_if()
    ps = {r["m"]: r["p_session"] for r in w.rows}
    m = pick(w, target_share=0.6)
    assert ps[m] >= 0.6 > ps[m - 1]
    assert pick(w, target_share=0.0) == 10
    assert pick(w, add=7) == 17
    assert pick(w, budget_upokt=3 * 59_500_000_000 - 1) == 12
    assert pick(w, budget_upokt=0) == 10
    # beyond the table: the smallest m, by the exact formula
    far = pick(w, target_share=0.999)
    assert far > 50
    assert p_at_least_one(990 + far, 50, far) >= 0.999 > p_at_least_one(989 + far, 50, far - 1)
    with pytest.raises(ValueError):
        pick(w)
    with pytest.raises(ValueError):
        pick(w, add=1, budget_upokt=1)
    with pytest.raises(ValueError):
        pick(w, target_share=1.5)
    with pytest.raises(ValueError):
        pick(make_what_if(stake_per_supplier_upokt=0), budget_upokt=10)


# --------------------------------------------------------------------------- Shannon

# From poktroll testutil/keeper/session.go (SessionKeeper): the block hashes the keeper test
# stores per height, and the test addresses.
GO_BLOCK_HASH = {
    1: "1b1051b7bf236fea13efa65b6be678514fa5b6ea0ae9a7a4b68d45f95e4f18e0",
    5: "261594ddc3c8afc5b4c63f59ee58e89d3a115bcd164c83fd79349de0b1ffd21d",
    9: "251665c7cf286a30fbd98acd983c63e9a34efc16496511373405e24eb02a8fb9",
}
GO_APP1 = "pokt1mdccn4u38eyjdxkk4h0jaddw4n3c72u82m5m9e"
GO_APP2 = "pokt133amv5suh75zwkxxcq896azvmmwszg99grvk9f"


@pytest.mark.parametrize("height,service,app,want", [
    # x/session/keeper/session_hydrator_test.go TestSession_HydrateSession_SessionId and
    # _Success_BaseCase (NumBlocksPerSession 4, so height 5 → start 5, 9 → 9): literal
    # expected session ids, copied from the Go test.
    (5, "svc1", GO_APP1, "e161348f2153bb41092040c3c287596f8daf98e90986475be21412a1ded945ed"),
    (9, "svc1", GO_APP1, "fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd"),
    (5, "svc12", GO_APP1, "c01eb8924dbb9dae7cab8ed56016ce8fdd2d23542f9e0b7ca8d6972d3fb45ce5"),
    (5, "svc12", GO_APP2, "f6dbe4961afd8ff0e444a1159d02bc645f9ded3daaa605c187e6bd7ee2232a68"),
    # x/session/keeper/query_get_session_test.go TestSession_GetSession_Success (height 1)
    (1, "svc1", GO_APP1, "afd00273055a4fddc0beb30074e14d474c07f9e895d2795db006a5139048d54b"),
])
def test_shannon_session_id_matches_the_go_tests(height: int, service: str, app: str,
                                                 want: str) -> None:
    start = shannon_session_start_height(height, 4)
    assert start == height
    assert shannon_session_id(bytes.fromhex(GO_BLOCK_HASH[start]), service, app, start) == want
    assert shannon_session_id(GO_BLOCK_HASH[start], service, app, start) == want  # hex form


def test_shannon_session_id_is_sensitive_to_its_encoding() -> None:
    """The Go vectors fail for any other byte layout (big-endian height, no delimiters)."""
    block = bytes.fromhex(GO_BLOCK_HASH[9])
    want = "fea5d6f7544ff6d8af5c22529b2ccf01ed7930b3d454d42dda5ccc0b65b6ebfd"
    big_endian = block + b".svc1." + GO_APP1.encode() + b"." + (9).to_bytes(8, "big")
    no_dots = block + b"svc1" + GO_APP1.encode() + (9).to_bytes(8, "little")
    assert hashlib.sha3_256(big_endian).hexdigest() != want
    assert hashlib.sha3_256(no_dots).hexdigest() != want
    assert hashlib.sha3_256(block + b".svc1." + GO_APP1.encode() + b"."
                            + (9).to_bytes(8, "little")).hexdigest() == want


@pytest.mark.parametrize("height,start", [(1, 1), (4, 1), (5, 5), (6, 5), (8, 5), (9, 9),
                                          (0, 0), (-3, 0)])
def test_session_start_height_matches_the_go_metadata_test(height: int, start: int) -> None:
    """TestSession_HydrateSession_Metadata (NumBlocksPerSession 4): 1 → 1, 5 → 5, 6 → 5."""
    assert shannon_session_start_height(height, 4) == start


def test_session_start_height_anchor() -> None:
    assert shannon_session_start_height(1005, 10) == 1001
    assert shannon_session_start_height(1005, 20, anchor_height=995) == 995
    assert shannon_session_start_height(1016, 20, anchor_height=995) == 1015
    assert shannon_session_start_height(900, 20, anchor_height=995) == 881  # later epoch: legacy


# Hand-derived vector. Inputs: the Go test's block hash at height 9, service "svc1", app1,
# start 9 (so the pre-image is the one whose SHA3 is the Go literal fea5d6f7…, checked
# above). Candidates: six bech32 addresses (payload = sha256("vector-supplier-<i>")[:20]).
# Derivation, done once with nothing but hashlib (not with sessions.py):
#   pre = bytes.fromhex(GO_BLOCK_HASH[9]) + b".svc1." + GO_APP1.encode() + b"."
#         + (9).to_bytes(8, "little")
#   d = hashlib.sha3_256(pre + b"." + address.encode()).digest(); weight = d[:8] as a signed
#   big-endian int64 (Go: int(binary.BigEndian.Uint64(h[:8])) on 64-bit)
# which gave these first 8 bytes / weights:
VECTOR_WEIGHTS = {
    "pokt1vra0ys3df9szqaqn7gmjgqnz8wrqa0sn2k7du2": ("87a6d7e632ba9988", -8672006648761771640),
    "pokt17w6z98ssj6hmkpmy5dam8pthcnajam2m3jk644": ("38fa3808c7813e20", 4105655620659658272),
    "pokt1xqflwh6yhh479hmw7tsrauz3lzujr62xsn57e0": ("5dab57d6b8647e83", 6749585046273031811),
    "pokt1d6f75e63wn4amspq9hd0t7j82gwnpujn5dz9nf": ("b0e506606e56ca7b", -5700142742129685893),
    "pokt1k7f9gypfzrvy73ga9265ydpujvquxuew87k27p": ("613689ecd2d92761", 7004937920664119137),
    "pokt1e6qp2ddtwslmds8pe4zmm7hawrzdavs0f8elng": ("0dea1f2e0059a0e8", 1002648149478187240),
}
VECTOR_CANDIDATES = list(VECTOR_WEIGHTS)
# Sorted ascending as signed int64 (sortCandidateSupplierConfigsBySupplierWeight), first 3:
VECTOR_SESSION_OF_3 = ["pokt1vra0ys3df9szqaqn7gmjgqnz8wrqa0sn2k7du2",
                       "pokt1d6f75e63wn4amspq9hd0t7j82gwnpujn5dz9nf",
                       "pokt1e6qp2ddtwslmds8pe4zmm7hawrzdavs0f8elng"]
# Read as unsigned (the bug this vector catches) the first 3 would be e6qp…, 7w6z…, xqfl….


def test_shannon_supplier_weights_hand_derived() -> None:
    pre = shannon_session_id_bytes(GO_BLOCK_HASH[9], "svc1", GO_APP1, 9)
    assert pre.hex() == (GO_BLOCK_HASH[9] + b".svc1.".hex() + GO_APP1.encode().hex()
                         + "2e" + "0900000000000000")
    for address, (first8, weight) in VECTOR_WEIGHTS.items():
        assert shannon_supplier_weight(pre, address) == weight
        assert weight == int.from_bytes(bytes.fromhex(first8), "big", signed=True)


def test_shannon_session_suppliers_hand_derived() -> None:
    got = shannon_session_suppliers(GO_BLOCK_HASH[9], "svc1", GO_APP1, 9, VECTOR_CANDIDATES, 3)
    assert got == VECTOR_SESSION_OF_3
    unsigned = sorted(VECTOR_CANDIDATES, key=lambda a: int(VECTOR_WEIGHTS[a][0], 16))[:3]
    assert unsigned != got
    # the whole list sorted when exactly num_suppliers candidates (Go sorts, then takes all)
    assert shannon_session_suppliers(GO_BLOCK_HASH[9], "svc1", GO_APP1, 9, VECTOR_CANDIDATES,
                                     6) == sorted(VECTOR_CANDIDATES,
                                                  key=lambda a: VECTOR_WEIGHTS[a][1])
    # candidate order does not matter once there are enough of them
    assert shannon_session_suppliers(GO_BLOCK_HASH[9], "svc1", GO_APP1, 9,
                                     VECTOR_CANDIDATES[::-1], 3) == VECTOR_SESSION_OF_3


def test_shannon_fewer_candidates_than_suppliers_are_all_taken_in_store_order() -> None:
    cands = VECTOR_CANDIDATES[:4][::-1]
    assert shannon_session_suppliers(GO_BLOCK_HASH[9], "svc1", GO_APP1, 9, cands, 5) == cands
    with pytest.raises(ValueError, match="no suppliers"):
        shannon_session_suppliers(GO_BLOCK_HASH[9], "svc1", GO_APP1, 9, [], 5)


def test_shannon_equal_weights_break_ties_by_address_bytes(monkeypatch) -> None:
    """A 64-bit tie never happens with real hashes; force one to see bytes.Compare decide."""

    class Constant:
        def __init__(self, data: bytes = b"") -> None:
            pass

        def copy(self) -> Constant:
            return self

        def update(self, data: bytes) -> None:
            pass

        def digest(self) -> bytes:
            return b"\x80" + b"\x00" * 31

    monkeypatch.setattr(S, "_sha3_256", Constant)
    cands = ["pokt1b", "pokt1a", "pokt1B", "pokt1aa"]
    assert shannon_session_suppliers(b"", "svc", "app", 1, cands, 3) == [
        "pokt1B", "pokt1a", "pokt1aa"]


# --------------------------------------------------------------------------- Morse

# pocket-core x/pocketcore/types/session_test.go TestNewSessionNodes: session key literal
# 36f0…ab80; the mock keeper's GetValidatorsByChain (service_test.go) appends a node once per
# matching chain entry, so node12 (16 "ethereum" chains) is listed 16 times, then node1 …
# node11: 27 entries. The Go test asserts the 5 chosen contain node12, node9, node6, node2,
# node1; after EnforceMaxChains node12 (16 chains > max 15) is skipped and the 5 are node3,
# node9, node6, node2, node1. Addresses replaced by labels: only indices and identity matter.
GO_MORSE_KEY = bytes.fromhex("36f028580bb02cc8272a9a020f4200e346e276ae664e45ee80745574e2f5ab80")
GO_MORSE_NODES = ["node12"] * 16 + [f"node{i}" for i in range(1, 12)]


def test_morse_session_nodes_match_the_go_test() -> None:
    got = morse_session_nodes_from_key(GO_MORSE_KEY, GO_MORSE_NODES, 5)
    assert set(got) == {"node12", "node9", "node6", "node2", "node1"}
    assert got == ["node1", "node12", "node6", "node9", "node2"]       # the order drawn
    skipped = morse_session_nodes_from_key(GO_MORSE_KEY, GO_MORSE_NODES, 5,
                                           ineligible={"node12"})
    assert set(skipped) == {"node3", "node9", "node6", "node2", "node1"}


def test_morse_index_is_big_endian_unsigned_mod_total() -> None:
    """The first draw by hand: int(36f028580bb02cc8, 16) % 27 is the index of node1."""
    first = int("36f028580bb02cc8", 16) % 27
    assert GO_MORSE_NODES[first] == "node1"
    assert morse_session_nodes_from_key(GO_MORSE_KEY, GO_MORSE_NODES, 1) == ["node1"]


# Hand-derived: the JSON pocket-core's NewSessionKey marshals for app key …ab81 (the Go
# test's fakePubKey1), chain 0021 and the poktroll height-9 hash, written out byte for byte
# (struct field order app_pub_key, chain, blockchain; no spaces), hashed once with
# hashlib.sha3_256 outside sessions.py:
MORSE_PUB = "36f028580bb02cc8272a9a020f4200e346e276ae664e45ee80745574e2f5ab81"
MORSE_JSON = ('{"app_pub_key":"36f028580bb02cc8272a9a020f4200e346e276ae664e45ee80745574e2f5ab81",'
              '"chain":"0021","blockchain":'
              '"251665c7cf286a30fbd98acd983c63e9a34efc16496511373405e24eb02a8fb9"}')
MORSE_KEY = "cf84647cc55c61cb2b34a990810fa3d6193fec9a1d6f38ec332d814502e6a57b"


def test_morse_session_key_hand_derived() -> None:
    assert hashlib.sha3_256(MORSE_JSON.encode()).hexdigest() == MORSE_KEY
    assert morse_session_key(MORSE_PUB, "0021", GO_BLOCK_HASH[9]).hex() == MORSE_KEY
    nodes = [f"n{i}" for i in range(40)]
    assert morse_session_nodes(MORSE_PUB, "0021", GO_BLOCK_HASH[9], nodes, 5) == \
        morse_session_nodes_from_key(bytes.fromhex(MORSE_KEY), nodes, 5)


def test_morse_validation_and_insufficient_nodes() -> None:
    with pytest.raises(ValueError):
        morse_session_key(MORSE_PUB[:-2], "0021", GO_BLOCK_HASH[9])       # 31 bytes
    with pytest.raises(ValueError):
        morse_session_key(MORSE_PUB, "0021000000", GO_BLOCK_HASH[9])      # chain > 4 bytes
    with pytest.raises(ValueError):
        morse_session_key(MORSE_PUB, "zz", GO_BLOCK_HASH[9])
    with pytest.raises(ValueError, match="insufficient"):
        morse_session_nodes_from_key(GO_MORSE_KEY, ["a", "b"], 3)
    with pytest.raises(ValueError, match="insufficient"):
        morse_session_nodes_from_key(GO_MORSE_KEY, ["a", "b", "c"], 3, ineligible={"b"})
    with pytest.raises(ValueError, match="insufficient"):
        morse_session_nodes_from_key(GO_MORSE_KEY, ["a"] * 5, 2)  # Go would spin forever


# --------------------------------------------------------------------------- Monte Carlo


@pytest.mark.parametrize("protocol,N,K,m", [
    ("shannon", 20, 5, 3), ("shannon", 9, 4, 1), ("shannon", 4, 6, 2), ("shannon", 12, 12, 1),
    ("morse", 20, 5, 3), ("morse", 7, 7, 1), ("morse", 30, 5, 0),
])
def test_monte_carlo_fast_path_equals_the_public_algorithm(protocol, N, K, m) -> None:
    """Same seed, same sessions: the fast path counts exactly what calling
    shannon_session_suppliers / morse_session_nodes per session counts."""
    fast = (SIM._mc_hits_shannon if protocol == "shannon" else SIM._mc_hits_morse)(N, K, m, 1500, 11)
    assert fast == SIM._mc_hits_reference(protocol, N, K, m, 1500, 11)


def test_monte_carlo_fast_path_on_64_bit_ties(monkeypatch) -> None:
    """Force every weight equal (a constant hash): the fast path must fall back to the exact
    tie-break by address bytes and still count what the public algorithm picks."""

    class Constant:
        def __init__(self, data: bytes = b"") -> None:
            pass

        def copy(self) -> Constant:
            return self

        def update(self, data: bytes) -> None:
            pass

        def digest(self) -> bytes:
            return bytes(range(32))

    monkeypatch.setattr(S, "_sha3_256", Constant)       # the public algorithm (the reference)
    monkeypatch.setattr(SIM, "_sha3_256", Constant)     # the fast path
    for m in (0, 1, 2, 6):
        assert SIM._mc_hits_shannon(10, 3, m, 40, 3) == SIM._mc_hits_reference("shannon", 10, 3, m,
                                                                           40, 3)


@pytest.mark.parametrize("protocol", ["shannon", "morse"])
def test_monte_carlo_agrees_with_the_exact_formula(protocol: str) -> None:
    """100,000 sessions within 1 % *relative* of the exact p (N=20, K=5, m=3: p = 0.6009;
    the binomial standard error is 0.0015, so 1 % relative (0.006) is ~4 sigma). The test is
    meaningful: drawing with replacement (1 - (17/20)^5 = 0.556) or the expectation K*m/N
    (0.75) are both far outside the tolerance."""
    N, K, m = 20, 5, 3
    exact = p_at_least_one(N, K, m)
    assert exact == pytest.approx(1 - math.comb(17, 5) / math.comb(20, 5))
    got = monte_carlo(protocol, N, K, m, 100_000, seed=2024)
    assert abs(got - exact) <= 0.01 * exact, (got, exact)
    assert abs((1 - (1 - m / N) ** K) - exact) > 0.01 * exact
    assert monte_carlo(protocol, N, K, m, 2_000, seed=5) == monte_carlo(protocol, N, K, m,
                                                                         2_000, seed=5)


def test_monte_carlo_edges() -> None:
    assert monte_carlo("shannon", 10, 20, 1, 100, 1) == 1.0
    assert monte_carlo("shannon", 10, 5, 0, 100, 1) == 0.0
    assert monte_carlo("morse", 10, 5, 10, 100, 1) == 1.0
    with pytest.raises(ValueError):
        monte_carlo("morse", 3, 5, 1, 100, 1)
    with pytest.raises(ValueError):
        monte_carlo("shannon", 10, 5, 1, 0, 1)
