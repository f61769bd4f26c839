#!/usr/bin/env python3
"""The placement planner on a large synthetic fleet: wall time, and churn when the fleet grows.

10,000 suppliers on 500 hosts (one in ten pinned to one of the first 200 hosts), three chains of 500, 500
and 300 replicas (one with adopted endpoints, one restricted to half the hosts). Prints the
planner's median wall time over N runs against the goal (< 1 s), then grows every chain by 1%
of its replicas, re-plans with the first plan's nodes and suppliers as what exists, and prints how
many nodes moved or changed (goal: 0) and how many were added. Prints figures, asserts nothing.

    .venv/bin/python benchmarks/planner.py [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from fleetctl.plan.model import NodePlacement, Placement, Resources
from fleetctl.plan.placement import plan_placement
from fleetctl.spec.model import Chain, Endpoint, Fleet, Host, Pocket, Supplier

GOAL_S = 1.0


def synthetic_fleet() -> tuple[Fleet, dict[str, Resources | None]]:
    """The benchmark fleet and its hosts' capacities (three sizes; every 50th host's unknown)."""
    hosts = {f"host-{i:03d}": Host(f"host-{i:03d}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(500)}
    sizes = [Resources(32, 128, 8000), Resources(64, 256, 16_000), Resources(96, 512, 32_000)]
    capacities: dict[str, Resources | None] = {
        name: None if i % 50 == 49 else sizes[i % len(sizes)] for i, name in enumerate(hosts)
    }
    adopted = tuple(Endpoint(f"poly-adopted-{i}", f"http://198.51.100.{i + 1}:8545", client, "poly")
                    for i, client in enumerate(["besu", "reth"] * 10))
    chains = {
        "eth": Chain("eth", ("geth", "nethermind", "erigon"), 500),
        "gnosis": Chain("gnosis", ("nethermind", "erigon", "geth"), 500),
        "poly": Chain("poly", ("erigon", "geth", "nethermind"), 300, endpoints=adopted),
    }
    if "hosts" in {f.name for f in dataclasses.fields(Chain)}:  # Chain.hosts: newer fleet models only
        chains["gnosis"] = dataclasses.replace(chains["gnosis"], hosts=tuple(name for i, name in enumerate(hosts) if i % 2 == 0))
    services = [("eth",), ("gnosis",), ("poly",), ("eth", "gnosis"), ("eth", "poly")]
    suppliers = tuple(
        Supplier(f"supplier-{i:05d}", services[i % len(services)], operator_address=f"pokt1op{i:05d}",
                 host=f"host-{i // 10 % 200:03d}" if i % 10 == 0 else None)
        for i in range(10_000)
    )
    return Fleet(Path("."), "shannon", Pocket(), chains, suppliers, hosts), capacities


def grown(fleet: Fleet, percent: float) -> Fleet:
    """``fleet`` with every chain's replicas raised by ``percent`` (at least one)."""
    chains = {cid: dataclasses.replace(c, replicas=c.replicas + max(1, round(c.replicas * percent / 100)))
              for cid, c in fleet.chains.items()}
    return dataclasses.replace(fleet, chains=chains)


def timed(fleet: Fleet, capacities: dict[str, Resources | None], existing: tuple[NodePlacement, ...] = (),
          suppliers: dict[str, str] | None = None) -> tuple[float, Placement]:
    t0 = time.perf_counter()
    placement = plan_placement(fleet, capacities, existing, suppliers or {})
    return time.perf_counter() - t0, placement


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    fleet, capacities = synthetic_fleet()
    replicas = sum(c.replicas for c in fleet.chains.values())
    print(f"fleet: {len(fleet.suppliers):,} suppliers, {len(fleet.hosts)} hosts, {len(fleet.chains)} chains, "
          f"{replicas:,} replicas ({len(fleet.endpoints)} adopted)")

    runs = [timed(fleet, capacities) for _ in range(args.runs)]
    first = runs[0][1]
    median = statistics.median(t for t, _ in runs)
    print(f"plan: median {median * 1000:.0f} ms over {args.runs} runs (goal < {GOAL_S * 1000:.0f} ms: "
          f"{'met' if median < GOAL_S else 'MISSED'}); {len(first.nodes):,} nodes, {len(first.balancers):,} balancers")

    bigger = grown(fleet, 1)
    where = {s.supplier: s.host for s in first.suppliers}
    regrow = [timed(bigger, capacities, first.nodes, where) for _ in range(args.runs)]
    second = regrow[0][1]
    before = {n.name: n for n in first.nodes}
    after = {n.name: n for n in second.nodes}
    changed = sum(1 for name, n in before.items() if after.get(name) != n)
    added = len(after.keys() - before.keys())
    moved_suppliers = sum(1 for s in second.suppliers if where.get(s.supplier) != s.host)
    more = sum(c.replicas for c in bigger.chains.values()) - replicas
    print(f"grow 1% ({more} more replicas): median {statistics.median(t for t, _ in regrow) * 1000:.0f} ms; "
          f"{changed} nodes moved or changed (goal 0), {added} added, {moved_suppliers} suppliers moved")


if __name__ == "__main__":
    main()
