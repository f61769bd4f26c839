#!/usr/bin/env python3
"""Session model speed (fleetctl/pocket/sessions.py, fleetctl/plan/sessions_sim.py) against
straightforward versions, same run.

* what-if for m = 0 … 10,000 with N = 100,000 (K = 50, mainnet's num_suppliers_per_session):
  :func:`what_if` (one pass, each row's log-product from the previous one) against a naive
  table that computes every row with ``math.comb`` (exact big integers, ``1 - C(N-m,K)/C(N,K)``)
  and ``Fraction`` rewards; the two tables are compared (largest difference of p_session).
* Monte Carlo of 100,000 sessions with the Shannon hydrator (mainnet K = 50, N candidates of
  which N/50 ours; a few N since its cost grows with N: every candidate is hashed in every
  session) and the Morse draw (mainnet K = 5, N = 1,000, 10 ours): :func:`monte_carlo`
  (a SHA3 state over the shared prefix copied per candidate, weights unpacked with one
  ``struct`` call, a C sort) against a straightforward loop that rebuilds the session id,
  hashes ``sessionIdBz ‖ "." ‖ address`` from scratch per candidate, converts every weight
  and sorts tuples (Shannon), or calls :func:`morse_session_nodes` per session (Morse).

Goals (issue 6): what-if < 100 ms; 100,000 sessions < 5 s on one core. The process is pinned
to one CPU (``os.sched_setaffinity``) where the platform allows. Prints the figures and the
goals; asserts nothing.

    .venv/bin/python benchmarks/sessions.py [--sessions 100000] [--shannon-n 60,100,200]
        [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import statistics
import time
from collections.abc import Callable
from fractions import Fraction

from fleetctl.plan import sessions_sim as SIM
from fleetctl.pocket import sessions as S

GOAL_WHAT_IF_S = 0.100
GOAL_MC_S = 5.0


def pin_one_cpu() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall seconds of ``runs`` calls, and the last result."""
    walls, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), result


# --------------------------------------------------------------------------- what-if


def naive_what_if(N: int, K: int, current: int, extra: int, apps: int,
                  relays: int) -> list[dict[str, object]]:
    """Every row on its own: exact binomials with math.comb, rewards with Fractions."""
    per_app = S.sessions_per_day(20, 30)
    rate = S.ShannonRewardParams().upokt_per_relay()
    rows = []
    for m in range(current, current + extra + 1):
        n = N - current + m
        p = 0.0 if m == 0 else 1 - math.comb(n - m, K) / math.comb(n, K)
        e = Fraction(K * m, n) if n > K else Fraction(m)
        rows.append({"m": m, "N": n, "p_session": p,
                     "rewards_upokt_per_day": math.floor(apps * per_app * e * relays * rate),
                     "stake_upokt": (m - current) * 59_500_000_000})
    return rows


def bench_what_if(runs: int) -> None:
    N, K, current, extra, apps, relays = 100_000, 50, 0, 10_000, 1_000, 500

    def fast() -> SIM.WhatIf:
        return SIM.what_if(protocol="shannon", service="eth", N=N, K=K, current=current,
                         extra=extra, apps=apps, relays_per_session=relays)

    wall, table = timed(fast, runs)
    base_wall, base = timed(lambda: naive_what_if(N, K, current, extra, apps, relays),
                            max(1, runs // 2))
    assert isinstance(table, SIM.WhatIf) and isinstance(base, list)
    worst = max(abs(a["p_session"] - b["p_session"]) for a, b in zip(table.rows, base))
    rewards_equal = all(a["rewards_upokt_per_day"] == b["rewards_upokt_per_day"]
                        for a, b in zip(table.rows, base))
    print(f"what-if, m = {current} … {current + extra} ({len(table.rows):,} rows), N = {N:,}, "
          f"K = {K}, median of {runs}")
    print(f"  {'fleetctl what_if (one pass, running log-product)':58} {wall * 1000:9.1f} ms")
    print(f"  {'naive (math.comb + Fraction per row, baseline)':58} {base_wall * 1000:9.1f} ms"
          f"   {base_wall / wall:6.1f}x")
    print(f"  largest |p difference| {worst:.2e}; integer rewards identical: {rewards_equal}")
    print(f"  goal: < {GOAL_WHAT_IF_S * 1000:g} ms: "
          f"{'met' if wall < GOAL_WHAT_IF_S else 'NOT met'} ({wall * 1000:.1f} ms)\n")


# --------------------------------------------------------------------------- Monte Carlo


def straightforward_shannon(N: int, K: int, m: int, sessions: int, seed: int) -> int:
    """A plain Monte Carlo: per session, the id pre-image, a fresh SHA3 per candidate (no
    prefix reuse), every weight converted, a full sort, then look for ours."""
    rng = random.Random(seed)
    candidates = SIM._mc_suppliers(N)
    apps = SIM._mc_apps()
    ours = set(candidates[:m])
    hits = 0
    for block_hash, app, start in SIM._shannon_draws(rng, apps, sessions):
        id_bytes = S.shannon_session_id_bytes(block_hash, "anvil", app, start)
        if len(candidates) < K:
            picked = candidates
        else:
            picked = [a for _, _, a in sorted(
                (S.shannon_supplier_weight(id_bytes, a), a.encode(), a) for a in candidates)[:K]]
        hits += not ours.isdisjoint(picked)
    return hits


def straightforward_morse(N: int, K: int, m: int, sessions: int, seed: int) -> int:
    return SIM._mc_hits_reference("morse", N, K, m, sessions, seed)


def bench_mc(sessions: int, shannon_ns: list[int], baseline_n: int) -> None:
    print(f"Monte Carlo, {sessions:,} sessions each (one run each)")
    print(f"  {'':34} {'p exact':>9} {'p MC':>9} {'wall s':>8} {'ns/cand':>8} {'goal':>8}")
    configs = [("shannon", n, 50, max(1, n // 50)) for n in shannon_ns]
    configs.append(("morse", 1_000, 5, 10))
    walls: dict[tuple[str, int], float] = {}
    for protocol, N, K, m in configs:
        start = time.perf_counter()
        share = SIM.monte_carlo(protocol, N, K, m, sessions, seed=1)   # type: ignore[arg-type]
        wall = time.perf_counter() - start
        walls[(protocol, N)] = wall
        exact = S.p_at_least_one(N, K, m)
        per_candidate = (f"{wall / sessions / N * 1e9:8.0f}" if protocol == "shannon"
                         else f"{'':8}")
        label = f"{protocol} N={N:,} K={K} m={m}"
        print(f"  {label:34} {exact:9.4f} {share:9.4f} {wall:8.2f} {per_candidate} "
              f"{'met' if wall < GOAL_MC_S else 'NOT met':>8}")
    print("  baselines (straightforward, same sessions and seed):")
    for protocol, N, K, m, fn in (
            ("shannon", baseline_n, 50, max(1, baseline_n // 50), straightforward_shannon),
            ("morse", 1_000, 5, 10, straightforward_morse)):
        start = time.perf_counter()
        hits = fn(N, K, m, sessions, 1)
        wall = time.perf_counter() - start
        fast = walls.get((protocol, N))
        ratio = f"{wall / fast:6.1f}x slower" if fast else ""
        label = f"{protocol} N={N:,} K={K} m={m}"
        print(f"  {label:34} {'':9} {hits / sessions:9.4f} {wall:8.2f} {'':8} {ratio}")
    if "shannon" in (c[0] for c in configs):
        per = min(walls[("shannon", n)] / sessions / n for n in shannon_ns)
        print(f"  Shannon costs ~{per * 1e9:.0f} ns per candidate per session (one SHA3-256 "
              f"each, as the chain does): {sessions:,} sessions fit in {GOAL_MC_S:g} s up to "
              f"N ≈ {int(GOAL_MC_S / sessions / per):,} candidates")
    print(f"  goal: {sessions:,} sessions < {GOAL_MC_S:g} s on one core (see the goal column)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--shannon-n", default="60,100,200",
                    help="candidate counts for the Shannon Monte Carlo (comma-separated)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="10,000 sessions, N = 60,100")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.shannon_n = 10_000, "60,100"
    shannon_ns = [int(n) for n in args.shannon_n.split(",") if n]
    print(f"{pin_one_cpu()}; hashlib.sha3_256 = {hashlib.sha3_256.__module__ or 'builtin'}."
          f"{hashlib.sha3_256.__name__}\n")
    bench_what_if(args.runs)
    bench_mc(args.sessions, shannon_ns, baseline_n=100 if 100 in shannon_ns else shannon_ns[0])


if __name__ == "__main__":
    main()
