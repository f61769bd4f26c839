"""The placement planner: client quotas, capacity, spread, suppliers, balancers; and properties
over random fleets (quota and capacity never exceeded, deterministic, stable, spread)."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetctl.plan.model import BALANCER_PORT_BASE, RPC_PORT_BASE, Infeasible, NodePlacement, Placement, Resources
from fleetctl.plan.placement import plan_placement
from fleetctl.plan.profiles import PROFILES, NoProfile, profile
from fleetctl.spec.model import (CAPLIN, CHAIN_MODES, CONSENSUS_CLIENTS, KNOWN_CLIENTS, PROVISIONED_CLIENTS, Chain, Endpoint,
                                  Fleet, Host, Pocket, Supplier)

HAS_CHAIN_HOSTS = "hosts" in {f.name for f in dataclasses.fields(Chain)}
HAS_PROFILES = "profiles" in {f.name for f in dataclasses.fields(Fleet)}
BIG = Resources(64, 512, 100_000)
GETH = PROFILES["geth", "full"]
#: Consensus clients that need nothing: tests of the execution layer's capacity use it.
ZERO_CL = {(c, m): Resources(0, 0, 0) for c in (*CONSENSUS_CLIENTS, CAPLIN) for m in CHAIN_MODES}


def pair_profile(n: NodePlacement) -> Resources:
    """What a placed node should reserve: its execution client's profile plus its consensus client's."""
    return profile(n.client, n.mode) + profile(n.consensus, n.mode)


def fleet(chains: Iterable[Chain], hosts: int | Sequence[str] = 3, suppliers: Iterable[Supplier] = (), **extra: object) -> Fleet:
    names = [f"h{i}" for i in range(hosts)] if isinstance(hosts, int) else list(hosts)
    return Fleet(root=Path("."), protocol="shannon", pocket=Pocket(), chains={c.id: c for c in chains}, suppliers=tuple(suppliers),
                 hosts={n: Host(n, f"10.0.0.{i + 1}") for i, n in enumerate(names)}, **extra)  # type: ignore[arg-type]


def caps(f: Fleet, r: Resources | None = BIG) -> dict[str, Resources | None]:
    return dict.fromkeys(f.hosts, r)


def reasons(f: Fleet, capacities: dict[str, Resources | None] | None = None) -> list[str]:
    with pytest.raises(Infeasible) as e:
        plan_placement(f, caps(f) if capacities is None else capacities)
    return e.value.reasons


def per_client(p: Placement, chain: str) -> Counter[str]:
    return Counter(n.client for n in p.nodes if n.chain == chain)


def sup(name: str, *services: str, host: str | None = None) -> Supplier:
    return Supplier(name, services, operator_address=f"pokt1{name}", host=host)


# --- profiles --------------------------------------------------------------------------------


def test_profiles_cover_every_provisioned_client_and_mode() -> None:
    for client in PROVISIONED_CLIENTS:
        full, archive = profile(client, "full"), profile(client, "archive")
        assert full.cpus > 0 and full.memory_gb > 0 and full.disk_gb > 0
        assert full.fits_in(archive) and archive != full


def test_profile_overrides_win_and_unknown_pairs_are_named() -> None:
    mine = Resources(2, 8, 500)
    assert profile("geth", "full", {("geth", "full"): mine}) == mine
    assert profile("geth", "archive", {("geth", "full"): mine}) == PROFILES["geth", "archive"]
    with pytest.raises(NoProfile, match="besu .full."):
        profile("besu", "full")


@pytest.mark.skipif(not HAS_PROFILES, reason="Fleet.profiles not in this fleet model")
def test_fleet_profiles_size_the_nodes() -> None:
    small = Resources(1, 2, 10)
    f = fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3)], hosts=1, profiles={**ZERO_CL, ("geth", "full"): small})
    p = plan_placement(f, caps(f, Resources(9, 64, 4020)))
    assert {n.client: n.resources for n in p.nodes} == {"geth": small, "nethermind": PROFILES["nethermind", "full"],
                                                       "erigon": PROFILES["erigon", "full"]}


# --- quotas ----------------------------------------------------------------------------------


def test_too_few_clients_says_how_many_are_needed() -> None:
    assert reasons(fleet([Chain("eth", ("geth", "nethermind"), 4)])) == [
        "eth: 4 replicas, 2 clients, max_client_share 0.34 allows at most 1 node per client: needs at least 4 clients"]
    assert reasons(fleet([Chain("eth", ("geth", "nethermind"), 7, max_client_share=0.3)])) == [
        "eth: 7 replicas, 2 clients, max_client_share 0.3 allows at most 2 nodes per client: needs at least 4 clients"]


def test_a_share_below_one_node_is_infeasible() -> None:
    assert reasons(fleet([Chain("eth", ("geth", "nethermind", "erigon"), 2)])) == [
        "eth: max_client_share 0.34 with 2 nodes: one node would already be 50% of the chain"]


def test_adopted_endpoints_alone_over_the_cap() -> None:
    eps = tuple(Endpoint(f"old-{i}", f"http://10.9.0.{i}:8545", "geth", "eth") for i in range(2))
    (reason,) = reasons(fleet([Chain("eth", ("nethermind", "erigon"), 3, endpoints=eps)]))
    assert reason == "eth: 2 adopted geth endpoints exceed max_client_share 0.34: at most 1 of its 3 nodes may run geth"


def test_every_violated_constraint_is_listed() -> None:
    f = fleet([Chain("eth", ("geth",), 3), Chain("gno", ("geth", "erigon"), 1), Chain("ok", ("geth", "erigon"), 2, max_client_share=0.5)],
              suppliers=[sup("s1", "ok", host="nowhere")])
    got = reasons(f)
    assert len(got) == 3
    assert got[0].startswith("eth: 3 replicas, 1 client,") and got[0].endswith("needs at least 3 clients")
    assert got[1] == "gno: max_client_share 0.34 with 1 node: one node would already be 100% of the chain"
    assert got[2] == "supplier s1: host nowhere is not in the inventory"


def test_exact_split_six_replicas_three_clients() -> None:
    p = plan_placement(f := fleet([Chain("eth", ("geth", "nethermind", "erigon"), 6)]), caps(f))
    assert per_client(p, "eth") == {"geth": 2, "nethermind": 2, "erigon": 2}
    assert p.counts == {"eth": {"geth": 2, "nethermind": 2, "erigon": 2}}
    assert sorted(n.name for n in p.nodes) == ["eth-erigon-1", "eth-erigon-2", "eth-geth-1", "eth-geth-2",
                                               "eth-nethermind-1", "eth-nethermind-2"]


def test_uneven_split_goes_by_the_order_of_clients() -> None:
    p = plan_placement(f := fleet([Chain("eth", ("erigon", "geth", "nethermind"), 5, max_client_share=0.4)]), caps(f))
    assert per_client(p, "eth") == {"erigon": 2, "geth": 2, "nethermind": 1}


def test_adopted_endpoints_count_toward_replicas_and_quota() -> None:
    eps = (Endpoint("old-geth", "http://10.9.0.1:8545", "geth", "eth"), Endpoint("old-besu", "http://10.9.0.2:8545", "besu", "eth"))
    p = plan_placement(f := fleet([Chain("eth", ("geth", "nethermind", "erigon"), 6, endpoints=eps)]), caps(f))
    assert len(p.nodes) == 4  # 6 replicas, 2 of them adopted
    assert per_client(p, "eth") == {"nethermind": 2, "erigon": 1, "geth": 1}
    assert p.counts == {"eth": {"geth": 2, "nethermind": 2, "erigon": 1, "besu": 1}}


def test_more_adopted_than_replicas_provisions_nothing() -> None:
    eps = tuple(Endpoint(f"old-{c}", f"http://10.9.0.{i}:8545", c, "eth") for i, c in enumerate(["geth", "besu", "reth"]))
    p = plan_placement(f := fleet([Chain("eth", ("geth", "erigon"), 2, endpoints=eps)]), caps(f))
    assert p.nodes == ()
    assert p.counts == {"eth": {"geth": 1, "erigon": 0, "besu": 1, "reth": 1}}


# --- nodes on hosts --------------------------------------------------------------------------


def test_a_chain_spreads_over_hosts_and_slots_start_at_zero() -> None:
    p = plan_placement(f := fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3)], hosts=3), caps(f))
    assert sorted(n.host for n in p.nodes) == ["h0", "h1", "h2"]
    assert {n.slot for n in p.nodes} == {0}
    assert all(n.rpc_port == RPC_PORT_BASE for n in p.nodes)


def test_second_node_on_a_host_takes_the_next_slot() -> None:
    p = plan_placement(f := fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3)], hosts=1), caps(f))
    assert sorted(n.slot for n in p.nodes) == [0, 1, 2]


def test_ties_go_to_the_least_used_host() -> None:
    f = fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3)], hosts=["big", "small"])
    p = plan_placement(f, {"big": Resources(64, 512, 20_000), "small": Resources(16, 64, 8000)})
    # geth: both empty, big ends least used; nethermind: small has no eth node yet;
    # erigon: one eth node on each, big ends at 20% and small would at 50%
    assert {n.client: n.host for n in p.nodes} == {"geth": "big", "nethermind": "small", "erigon": "big"}


def test_capacity_is_never_exceeded_and_shortfalls_are_explained() -> None:
    f = fleet([Chain("eth", ("geth", "nethermind"), 4, max_client_share=0.5)], hosts=2, profiles=ZERO_CL)
    room_for_two = Resources(8, 32, 4000)
    p = plan_placement(f, caps(f, room_for_two))
    assert Counter(n.host for n in p.nodes) == {"h0": 2, "h1": 2}
    six = fleet([Chain("eth", ("geth", "nethermind"), 6, max_client_share=0.5)], hosts=2, profiles=ZERO_CL)
    got = reasons(six, caps(f, room_for_two))
    assert len(got) == 2 and all(r.startswith(f"eth: no eligible host has room for 1 more {c} node (full, with ") and
                                 ": 4 cpus, 16 GB memory, " in r and r.endswith("the most free on one is 0 cpus, 0 GB memory, 600 GB disk on h0")
                                 for r, c in zip(got, ("geth", "nethermind"))), got


def test_a_pair_reserves_both_clients_profiles() -> None:
    f = fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3, consensus_clients=("nimbus", "lodestar"))], hosts=3)
    p = plan_placement(f, caps(f))
    assert {n.client: n.consensus for n in p.nodes} == {"geth": "nimbus", "nethermind": "lodestar", "erigon": "caplin"}
    assert all(n.resources == pair_profile(n) for n in p.nodes)
    geth = next(n for n in p.nodes if n.client == "geth")
    assert geth.resources == PROFILES["geth", "full"] + PROFILES["nimbus", "full"]
    # a host with room for Geth alone but not for its consensus client takes no pair
    tight = fleet([Chain("eth", ("geth",), 1, max_client_share=1, consensus_clients=("nimbus",))], hosts=1)
    assert reasons(tight, caps(tight, GETH)) == [
        "eth: no eligible host has room for 1 more geth node (full, with nimbus: 6 cpus, 20 GB memory, 1600 GB disk each); "
        "the most free on one is 4 cpus, 16 GB memory, 1400 GB disk on h0"]


def test_best_free_capacity_is_the_host_closest_to_fitting() -> None:
    f = fleet([Chain("eth", ("geth", "erigon"), 2, max_client_share=0.5)], hosts=["a", "b"], profiles=ZERO_CL)
    geth, erigon = reasons(f, {"a": Resources(2, 64, 4000), "b": Resources(3, 16, 4000)})
    assert geth.startswith("eth: no eligible host has room for 1 more geth node")
    assert geth.endswith("the most free on one is 3 cpus, 16 GB memory, 4000 GB disk on b")  # 3 of 4 cpus
    assert erigon.startswith("eth: no eligible host has room for 1 more erigon node (full, with caplin: 4 cpus, 32 GB memory")
    assert erigon.endswith("on a")  # half of the need on either host: the first name


def test_unknown_capacity_is_used_unchecked_and_noted() -> None:
    f = fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3)], hosts=["known", "unknown"], profiles=ZERO_CL)
    p = plan_placement(f, {"known": Resources(4, 16, 2000), "unknown": None})
    assert Counter(n.host for n in p.nodes) == {"known": 1, "unknown": 2}
    assert p.notes == ("unknown: capacity unknown, so its 2 nodes were placed without checking they fit",)


@pytest.mark.skipif(not HAS_CHAIN_HOSTS, reason="Chain.hosts not in this fleet model")
def test_chain_hosts_restrict_where_nodes_go() -> None:
    chain = dataclasses.replace(Chain("eth", ("geth", "nethermind", "erigon"), 3), hosts=("h1", "h2"))
    p = plan_placement(f := fleet([chain], hosts=4), caps(f))
    assert {n.host for n in p.nodes} == {"h1", "h2"}
    gone = dataclasses.replace(chain, hosts=("elsewhere",))
    assert reasons(fleet([gone], hosts=2)) == [f"eth: no host to run its 1 {c} node on (its hosts elsewhere are not in the inventory)"
                                               for c in ("geth", "nethermind", "erigon")]


# --- existing nodes --------------------------------------------------------------------------


def test_existing_nodes_stay_and_surplus_goes_highest_index_first() -> None:
    chain = Chain("eth", ("geth", "nethermind", "erigon"), 6)
    f = fleet([chain], hosts=4)
    first = plan_placement(f, caps(f))
    smaller = fleet([dataclasses.replace(chain, replicas=3)], hosts=4)
    p = plan_placement(smaller, caps(f), first.nodes)
    assert sorted(n.name for n in p.nodes) == ["eth-erigon-1", "eth-geth-1", "eth-nethermind-1"]
    assert set(p.nodes) <= set(first.nodes)


def test_an_existing_node_whose_host_left_is_placed_anew_under_its_name() -> None:
    f = fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3)], hosts=3)
    first = plan_placement(f, caps(f))
    lost = next(n for n in first.nodes if n.host == "h2")
    smaller = fleet(f.chains.values(), hosts=["h0", "h1"])
    p = plan_placement(smaller, caps(smaller), first.nodes)
    again = next(n for n in p.nodes if n.name == lost.name)
    assert again.host in {"h0", "h1"} and again.slot == 1
    assert {n for n in first.nodes if n.host != "h2"} <= set(p.nodes)


def test_new_names_and_slots_fill_the_gaps() -> None:
    f = fleet([Chain("eth", ("geth",), 3, max_client_share=1)], hosts=1)
    running = [NodePlacement("eth-geth-2", "eth", "geth", "h0", slot=1), NodePlacement("eth-geth-7", "eth", "geth", "h0", slot=4)]
    p = plan_placement(f, caps(f), running)
    assert sorted((n.name, n.slot) for n in p.nodes) == [("eth-geth-1", 0), ("eth-geth-2", 1), ("eth-geth-7", 4)]
    assert all(n.resources == pair_profile(n) for n in p.nodes)


def test_existing_nodes_of_dropped_clients_or_chains_go() -> None:
    f = fleet([Chain("eth", ("nethermind",), 1, max_client_share=1)], hosts=1)
    running = [NodePlacement("eth-geth-1", "eth", "geth", "h0"), NodePlacement("old-geth-1", "old", "geth", "h0", slot=1)]
    p = plan_placement(f, caps(f), running)
    assert [(n.name, n.slot) for n in p.nodes] == [("eth-nethermind-1", 0)]


def test_an_existing_node_that_no_longer_fits_moves() -> None:
    f = fleet([Chain("eth", ("geth",), 1, max_client_share=1)], hosts=["a", "b"])
    running = [NodePlacement("eth-geth-1", "eth", "geth", "a")]
    p = plan_placement(f, {"a": Resources(2, 8, 500), "b": BIG}, running)
    assert [(n.name, n.host) for n in p.nodes] == [("eth-geth-1", "b")]
    # a node from before pairs (no consensus client) is paired first, then checked for room
    assert p.notes == ("eth-geth-1: no longer fits on a (full geth with lighthouse needs 6 cpus, 32 GB memory, 1912 GB disk); placed anew",)


# --- suppliers -------------------------------------------------------------------------------


def test_suppliers_pinned_existing_and_new() -> None:
    chain = Chain("eth", ("geth", "nethermind", "erigon"), 3)
    sups = [sup("pin-a", "eth", host="h0"), sup("pin-b", "eth", host="h0"), sup("pin-c", "eth", host="h1"),
            sup("was-on-h3", "eth"), sup("was-on-gone", "eth"), sup("new-1", "eth"), Supplier("new-2", ("eth",))]
    f = fleet([chain], hosts=4, suppliers=sups)
    p = plan_placement(f, caps(f), existing_suppliers={"was-on-h3": "h3", "was-on-gone": "h9"})
    where = {s.supplier: s.host for s in p.suppliers}
    # new ones only go to hosts that carry pinned suppliers (h0, h1), the least loaded first
    assert where == {"pin-a": "h0", "pin-b": "h0", "pin-c": "h1", "was-on-h3": "h3",
                     "new-1": "h1", "new-2": "h0", "was-on-gone": "h1"}
    assert [s.supplier for s in p.suppliers] == sorted(where)


def test_without_pinned_suppliers_every_host_is_a_candidate() -> None:
    f = fleet([Chain("eth", ("geth", "nethermind", "erigon"), 3)], hosts=3, suppliers=[sup(f"s{i}", "eth") for i in range(7)])
    p = plan_placement(f, caps(f))
    assert Counter(s.host for s in p.suppliers) == {"h0": 3, "h1": 2, "h2": 2}


# --- balancers -------------------------------------------------------------------------------


def test_balancers_per_served_host_and_chain_with_every_backend() -> None:
    eps = (Endpoint("adopted-besu", "https://besu.example:8545", "besu", "gno"),)
    chains = [Chain("eth", ("geth", "nethermind", "erigon"), 3),
              Chain("gno", ("nethermind", "erigon"), 3, max_client_share=0.5, endpoints=eps)]
    f = fleet(chains, hosts=3, suppliers=[sup("a", "eth", "gno", host="h0"), sup("b", "gno", host="h1")])
    p = plan_placement(f, caps(f))
    assert [(b.host, b.chain, b.port, b.name) for b in p.balancers] == [
        ("h0", "eth", BALANCER_PORT_BASE, "lb-eth"), ("h0", "gno", BALANCER_PORT_BASE + 1, "lb-gno"),
        ("h1", "gno", BALANCER_PORT_BASE + 1, "lb-gno")]
    pool = p.balancers[1].backends
    assert [b.name for b in pool] == ["adopted-besu", "gno-erigon-1", "gno-nethermind-1"]
    assert pool[0].adopted and pool[0].url == "https://besu.example:8545"
    for b in pool[1:]:
        node = next(n for n in p.nodes if n.name == b.name)
        assert not b.adopted and b.client == node.client
        assert b.url == f"http://{f.hosts[node.host].address}:{node.rpc_port}"


def test_a_single_client_pool_is_infeasible() -> None:
    f = fleet([Chain("eth", ("geth",), 2, max_client_share=1)], suppliers=[sup("a", "eth")])
    assert reasons(f) == ["eth: the backend pool would hold only geth: a bug in one client would take every supplier of eth down"]
    unserved = fleet([Chain("eth", ("geth",), 2, max_client_share=1)])
    assert len(plan_placement(unserved, caps(unserved)).nodes) == 2
    empty = fleet([Chain("eth", ("geth",), 0)], suppliers=[sup("a", "eth")])
    assert reasons(empty) == ["eth: the backend pool would be empty: suppliers serve eth but it has no replicas"]


def test_ipv6_addresses_are_bracketed() -> None:
    f = fleet([Chain("eth", ("geth", "erigon"), 2, max_client_share=0.5)], hosts=1, suppliers=[sup("a", "eth")])
    f = dataclasses.replace(f, hosts={"h0": Host("h0", "fd00::1")})
    p = plan_placement(f, caps(f))
    assert {b.url for b in p.balancers[0].backends} == {"http://[fd00::1]:8545", "http://[fd00::1]:8555"}


# --- properties over random fleets -----------------------------------------------------------

SHARES = (0.34, 0.4, 0.5, 0.67, 1.0)


@st.composite
def random_fleets(draw: st.DrawFn, unlimited: bool = False) -> tuple[Fleet, dict[str, Resources | None]]:
    """A small random fleet and its capacities (None and tight ones included unless ``unlimited``)."""
    host_names = [f"h{i}" for i in range(draw(st.integers(1, 8)))]
    capacities: dict[str, Resources | None] = {}
    for h in host_names:
        if unlimited:
            capacities[h] = draw(st.sampled_from([None, Resources(1000, 10_000, 1_000_000)]))
        else:
            capacities[h] = draw(st.one_of(st.none(), st.builds(Resources, st.sampled_from([8, 16, 32, 64]),
                                                                 st.sampled_from([32, 64, 128, 256, 512]),
                                                                 st.sampled_from([2000, 8000, 20_000, 40_000]))))
    chains = []
    for i in range(draw(st.integers(1, 3))):
        cid = f"c{i}"
        clients = tuple(draw(st.permutations(PROVISIONED_CLIENTS))[: draw(st.sampled_from([1, 2, 2, 3, 3, 3]))])
        share = draw(st.sampled_from(SHARES))
        # mostly replica counts the quota allows (the infeasible ones have their own tests)
        allowed = [r for r in range(1, 10) if 1 <= (cap := math.floor(share * r + 1e-9)) and len(clients) * cap >= r]
        wild = not allowed or draw(st.integers(0, 5)) == 0
        replicas = draw(st.integers(0, 9)) if wild else draw(st.sampled_from(allowed))
        eps = tuple(Endpoint(f"{cid}-adopted-{j}", f"http://192.0.2.{j}:8545", draw(st.sampled_from(KNOWN_CLIENTS)), cid)
                    for j in range(draw(st.sampled_from([0, 0, 1, 2, 3]))))
        chain = Chain(cid, clients, replicas, share, mode=draw(st.sampled_from(["full", "full", "full", "archive"])), endpoints=eps)
        if HAS_CHAIN_HOSTS and draw(st.booleans()):
            chain = dataclasses.replace(chain, hosts=tuple(draw(st.lists(st.sampled_from(host_names), min_size=1, unique=True))))
        chains.append(chain)
    suppliers = [Supplier(f"s{j}", tuple(draw(st.lists(st.sampled_from([c.id for c in chains]), min_size=1, unique=True))),
                          host=draw(st.one_of(st.none(), st.sampled_from(host_names))))
                 for j in range(draw(st.integers(0, 8)))]
    return fleet(chains, host_names, suppliers), capacities


def plan_or_none(f: Fleet, capacities: dict[str, Resources | None], existing: Sequence[NodePlacement] = (),
                 suppliers: dict[str, str] | None = None) -> Placement | None:
    try:
        return plan_placement(f, capacities, existing, suppliers or {})
    except Infeasible as e:
        assert e.reasons and all(isinstance(r, str) and r for r in e.reasons)
        return None


def eligible(f: Fleet, chain: Chain) -> set[str]:
    return set(getattr(chain, "hosts", ()) or f.hosts)


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(random_fleets())
def test_property_quota_capacity_and_counts_hold(fc: tuple[Fleet, dict[str, Resources | None]]) -> None:
    f, capacities = fc
    p = plan_or_none(f, capacities)
    if p is None:
        return
    for chain in f.chains.values():
        total = max(chain.replicas, len(chain.endpoints))
        counts = per_client(p, chain.id) + Counter(e.client for e in chain.endpoints)
        assert sum(counts.values()) == total
        assert all(n <= math.floor(chain.max_client_share * total + 1e-9) for n in counts.values())
        assert p.counts[chain.id] == {c: counts[c] for c in {*chain.clients, *counts}}
        assert all(n.host in eligible(f, chain) for n in p.nodes if n.chain == chain.id)
    used: dict[str, Resources] = {}
    for n in p.nodes:
        assert n.resources == pair_profile(n)
        used[n.host] = used.get(n.host, Resources(0, 0, 0)) + n.resources
    for host, r in used.items():
        cap = capacities[host]
        assert cap is None or r.fits_in(cap)
    slots = [(n.host, n.slot) for n in p.nodes]
    assert len(slots) == len(set(slots)) and len({n.name for n in p.nodes}) == len(p.nodes)
    for b in p.balancers:
        assert len({x.client for x in b.backends}) >= 2


def shuffled(f: Fleet, rng: random.Random) -> Fleet:
    """``f`` with every order that carries no meaning shuffled."""
    hosts = list(f.hosts.items())
    rng.shuffle(hosts)
    chains = {cid: dataclasses.replace(c, endpoints=tuple(rng.sample(c.endpoints, len(c.endpoints)))) for cid, c in f.chains.items()}
    return dataclasses.replace(f, hosts=dict(hosts), chains=chains, suppliers=tuple(rng.sample(f.suppliers, len(f.suppliers))))


def outcome(f: Fleet, capacities: dict[str, Resources | None], existing: Sequence[NodePlacement] = ()) -> Placement | list[str]:
    try:
        return plan_placement(f, capacities, existing)
    except Infeasible as e:
        return e.reasons


@PROPERTY
@given(random_fleets(), st.randoms(use_true_random=False))
def test_property_deterministic_under_any_input_order(fc: tuple[Fleet, dict[str, Resources | None]], rng: random.Random) -> None:
    f, capacities = fc
    first = outcome(f, capacities)
    assert outcome(f, capacities) == first
    caps_shuffled = dict(rng.sample(list(capacities.items()), len(capacities)))
    assert outcome(shuffled(f, rng), caps_shuffled) == first
    if isinstance(first, Placement):  # re-planning on top of itself, fed in any order, changes nothing
        assert outcome(f, capacities, rng.sample(first.nodes, len(first.nodes))) == first


@PROPERTY
@given(random_fleets(), st.data())
def test_property_stable_when_one_replica_is_added(fc: tuple[Fleet, dict[str, Resources | None]], data: st.DataObject) -> None:
    f, capacities = fc
    p = plan_or_none(f, capacities)
    if p is None:
        return
    cid = data.draw(st.sampled_from(sorted(f.chains)))
    chain = f.chains[cid]
    bigger = dataclasses.replace(f, chains={**f.chains, cid: dataclasses.replace(chain, replicas=chain.replicas + 1)})
    q = plan_or_none(bigger, capacities, p.nodes, {s.supplier: s.host for s in p.suppliers})
    if q is None:
        return
    assert set(p.nodes) <= set(q.nodes)
    assert len(q.nodes) - len(p.nodes) == (1 if chain.replicas >= len(chain.endpoints) else 0)
    assert q.suppliers == p.suppliers


@PROPERTY
@given(random_fleets(), st.data())
def test_property_stable_when_one_supplier_is_added(fc: tuple[Fleet, dict[str, Resources | None]], data: st.DataObject) -> None:
    f, capacities = fc
    p = plan_or_none(f, capacities)
    if p is None:
        return
    services = tuple(data.draw(st.lists(st.sampled_from(sorted(f.chains)), min_size=1, unique=True)))
    more = dataclasses.replace(f, suppliers=(*f.suppliers, Supplier("zz-new", services)))
    q = plan_or_none(more, capacities, p.nodes, {s.supplier: s.host for s in p.suppliers})
    if q is None:
        return
    assert q.nodes == p.nodes
    assert set(p.suppliers) <= set(q.suppliers) and len(q.suppliers) == len(p.suppliers) + 1
    assert {(b.host, b.chain) for b in p.balancers} <= {(b.host, b.chain) for b in q.balancers}


@PROPERTY
@given(random_fleets(unlimited=True))
def test_property_nodes_spread_evenly_when_hosts_have_room(fc: tuple[Fleet, dict[str, Resources | None]]) -> None:
    f, capacities = fc
    p = plan_or_none(f, capacities)
    if p is None:
        return
    for chain in f.chains.values():
        on = Counter(n.host for n in p.nodes if n.chain == chain.id)
        loads = [on[h] for h in eligible(f, chain)]
        assert max(loads) - min(loads) <= 1  # hence distinct hosts whenever there are enough
