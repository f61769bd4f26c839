"""Pairs: each full node's consensus client. The inventory's consensus options and their errors,
the planner's pairing (shares per layer, spread, stability; properties over random fleets), the
playbook variables, plan JSON's layer and pair, observation and diversity on both layers."""

from __future__ import annotations

import dataclasses
import json
import math
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetctl.plan import model as pm
from fleetctl.plan.diff import diff, make_plan
from fleetctl.plan.diversity import diversity
from fleetctl.plan.model import Infeasible, NodePlacement, Resources
from fleetctl.plan.placement import plan_placement
from fleetctl.plan.vars import host_vars
from fleetctl.plan.diff import existing_nodes
from fleetctl.provision.observe import Container, HostState
from fleetctl.spec.errors import InventoryError
from fleetctl.spec.loader import load_inventory
from fleetctl.spec.model import (CAPLIN, CONSENSUS_CLIENTS, NETWORK_SUPPORT, NETWORKS, PROVISIONED_CLIENTS, Chain, Endpoint,
                                  Fleet, Host, Pocket, Supplier, consensus_clients_of)

from conftest import EXAMPLE, LAB_INV

BIG = Resources(1000, 10_000, 1_000_000)

HOSTS = """\
all:
  hosts:
    h1: {ansible_host: 10.0.0.1}
"""
FLEET = """\
pocket:
  rest_url: http://127.0.0.1:1317
chains:
  eth:
    clients: [geth, nethermind, erigon]
    replicas: 3
    endpoints:
      - {name: el, url: "http://10.0.0.1:18545", client: geth}
suppliers: []
"""


def errors_of(tmp_path: Path, fleet: str) -> list[str]:
    (tmp_path / "fleet.yml").write_text(textwrap.dedent(fleet))
    (tmp_path / "hosts.yml").write_text(HOSTS)
    with pytest.raises(InventoryError) as exc:
        load_inventory(tmp_path)
    return [str(dataclasses.replace(e, file=Path(e.file).name)) for e in exc.value.errors]


def add(line: str) -> str:
    return FLEET.replace("    replicas: 3\n", "    replicas: 3\n" + line)


# --- the inventory -----------------------------------------------------------------------------


@pytest.mark.parametrize("fleet, expected", [
    (add("    consensus_clients: [lighthouse, lighthose]\n"),
     "fleet.yml:7:37: chains.eth.consensus_clients[1]: 'lighthose' is not one of: lighthouse, prysm, teku, nimbus, lodestar (did you mean 'lighthouse'?)"),
    (add("    consensus_clients: [teku, teku]\n"), "fleet.yml:7:31: chains.eth.consensus_clients[1]: 'teku' is listed twice"),
    (add("    consensus_clients: [caplin]\n"),
     "fleet.yml:7:25: chains.eth.consensus_clients[0]: 'caplin' is Erigon's embedded consensus layer, not a client to pair: it is chosen with 'erigon: {consensus: caplin}' (the default)"),
    (add("    consensus_clients: []\n"), "fleet.yml:7:24: chains.eth.consensus_clients: must not be empty"),
    (add("    network: gnosis\n").replace("[geth, nethermind, erigon]", "[nethermind, erigon]").replace("client: geth", "client: nethermind")
     .replace("network: gnosis\n", "network: gnosis\n    consensus_clients: [prysm, teku]\n"),
     "fleet.yml:8:25: chains.eth.consensus_clients[0]: 'prysm' does not run gnosis (those that do: lighthouse, teku, lodestar, caplin)"),
    (add("    network: gnosis\n"), "fleet.yml:5:15: chains.eth.clients[0]: 'geth' does not run gnosis (those that do: nethermind, erigon)"),
    (add("    network: gnosis\n"), "fleet.yml:9:58: chains.eth.endpoints[0].client: 'geth' does not run gnosis (those that do: nethermind, erigon)"),
    (add("    network: goerli\n"), "fleet.yml:7:14: chains.eth.network: 'goerli' is not one of: mainnet, sepolia, hoodi, gnosis"),
    (add("    erigon: {consensus: internal}\n"),
     "fleet.yml:7:25: chains.eth.erigon.consensus: 'internal' is not one of: caplin, external (caplin: Erigon's embedded consensus layer; external: a consensus client beside it)"),
    (add("    erigon: {caplin: true}\n"), "fleet.yml:7:14: chains.eth.erigon.caplin: unknown key; allowed: consensus"),
    (add("    checkpoint_sync_url: ftp://beacon.example\n"),
     "fleet.yml:7:26: chains.eth.checkpoint_sync_url: 'ftp://beacon.example' is not a valid URL (expected http/https://HOST[:PORT])"),
    (add("    checkpoint_sync_url: https://beacon.example/#x\n"),
     "fleet.yml:7:26: chains.eth.checkpoint_sync_url: 'https://beacon.example/': a URL with a fragment ('#...') is refused (a fragment is never sent; remove it)"),
    # a query is refused, and its secrets never shown
    (add("    checkpoint_sync_url: 'https://user:hunter2@beacon.example/?apikey=s3cr3t'\n"),
     "fleet.yml:7:26: chains.eth.checkpoint_sync_url: 'https://***@beacon.example/?apikey=***': a query string ('?...') is refused: the clients append their own path to a checkpoint sync URL (give the beacon API's base URL)"),
    (FLEET.replace("client: geth}\n", "client: geth}\n      - {name: cl, url: 'http://10.0.0.1:15052', client: lighthouse, pair: nope}\n"),
     "fleet.yml:9:76: chains.eth.endpoints[1].pair: no adopted execution endpoint 'nope' under chains.eth.endpoints (execution endpoints: el)"),
    (FLEET.replace("client: geth}\n", "client: geth, pair: el}\n"),
     "fleet.yml:8:70: chains.eth.endpoints[0].pair: only a consensus endpoint names its pair (geth is an execution client)"),
    (FLEET.replace("client: geth}\n", "client: geth}\n      - {name: a, url: 'http://10.0.0.1:1', client: teku, pair: el}\n"
                   "      - {name: b, url: 'http://10.0.0.1:2', client: nimbus, pair: el}\n"),
     "fleet.yml:10:67: chains.eth.endpoints[2].pair: 'el' is already paired with a consensus endpoint (line 9): an execution client is driven by one consensus client"),
    (FLEET.replace("client: geth}", "client: parity}"),
     "fleet.yml:8:58: chains.eth.endpoints[0].client: 'parity' is not one of: geth, nethermind, erigon, besu, reth (execution) or lighthouse, prysm, teku, nimbus, lodestar, caplin, grandine (consensus)"),
    (FLEET + "profiles:\n  lighthouse: {full: {cpus: 1}}\n", "fleet.yml:11:22: profiles.lighthouse.full.memory_gb: required"),
])
def test_consensus_options_errors(tmp_path: Path, fleet: str, expected: str) -> None:
    errs = errors_of(tmp_path, fleet)
    assert expected in errs, errs
    assert not any("hunter2" in e or "s3cr3t" in e for e in errs)


def test_consensus_options_load(tmp_path: Path) -> None:
    text = add("    network: hoodi\n    consensus_clients: [nimbus, teku]\n    checkpoint_sync_url: https://u:p@cp.example:8443/base\n"
               "    erigon: {consensus: external}\n").replace(
        "client: geth}\n", "client: geth}\n      - {name: cl, url: 'http://10.0.0.1:15052', client: grandine, pair: el}\n")
    (tmp_path / "fleet.yml").write_text(text + "profiles:\n  nimbus: {full: {cpus: 1, memory_gb: 2, disk_gb: 3}}\n")
    (tmp_path / "hosts.yml").write_text(HOSTS)
    f = load_inventory(tmp_path)
    eth = f.chains["eth"]
    assert (eth.network, eth.consensus_clients, eth.erigon_consensus) == ("hoodi", ("nimbus", "teku"), "external")
    assert eth.checkpoint_sync_url == "https://u:p@cp.example:8443/base"
    assert [e.name for e in eth.execution_endpoints] == ["el"] and [(e.name, e.pair) for e in eth.consensus_endpoints] == [("cl", "el")]
    assert f.profiles[("nimbus", "full")] == Resources(1, 2, 3)
    # defaults: every consensus client that runs the network; Caplin for Erigon
    gnosis = Chain("g", ("nethermind",), 1, network="gnosis")
    assert consensus_clients_of(gnosis) == ("lighthouse", "teku", "lodestar") and gnosis.erigon_consensus == CAPLIN


def test_the_cache_keeps_an_inventory_with_a_secret_checkpoint_url_out(tmp_path: Path) -> None:
    from fleetctl.spec.cache import holds_secret

    text = add("    checkpoint_sync_url: https://u:p@cp.example/\n")
    (tmp_path / "fleet.yml").write_text(text)
    (tmp_path / "hosts.yml").write_text(HOSTS)
    assert holds_secret(load_inventory(tmp_path))
    (tmp_path / "fleet.yml").write_text(add("    checkpoint_sync_url: https://cp.example/\n"))
    assert not holds_secret(load_inventory(tmp_path))


# --- the planner -------------------------------------------------------------------------------


def fleet(*chains: Chain, hosts: int = 3) -> Fleet:
    names = [f"h{i}" for i in range(hosts)]
    return Fleet(root=Path("."), protocol="shannon", pocket=Pocket(), chains={c.id: c for c in chains}, suppliers=(),
                 hosts={n: Host(n, f"10.0.0.{i + 1}") for i, n in enumerate(names)})


def caps(f: Fleet) -> dict[str, Resources | None]:
    return dict.fromkeys(f.hosts, BIG)


def reasons(f: Fleet) -> list[str]:
    with pytest.raises(Infeasible) as e:
        plan_placement(f, caps(f))
    return e.value.reasons


def test_infeasible_consensus_layers_are_explained() -> None:
    six = Chain("eth", ("geth", "nethermind", "erigon"), 6, consensus_clients=("lighthouse",))
    assert reasons(fleet(six)) == ["eth: 6 pairs, max_client_share 0.34 allows at most 2 per consensus client: needs at least "
                                   "3 consensus clients (caplin counts as one; it has 2: lighthouse, caplin)"]
    caplin_heavy = Chain("eth", ("erigon", "geth"), 4, max_client_share=0.5, consensus_clients=("teku", "nimbus"))
    assert plan_placement(f := fleet(caplin_heavy), caps(f)).consensus_counts["eth"] == {"teku": 1, "nimbus": 1, "caplin": 2}
    three = Chain("eth", ("erigon",), 3, max_client_share=1)
    assert plan_placement(f := fleet(three), caps(f))  # one client: share 1 allows it
    adopted = (Endpoint("cp0", "http://10.0.0.9:1", CAPLIN, "eth"),)
    many_caplin = Chain("eth", ("erigon", "geth", "nethermind"), 3, max_client_share=0.34, endpoints=adopted,
                        consensus_clients=("teku",))
    got = reasons(fleet(many_caplin))
    assert any("on Caplin" in r and "may be Caplin" in r for r in got), got
    nothing = dataclasses.replace(Chain("g", ("nethermind",), 1, max_client_share=1, network="gnosis"), consensus_clients=("prysm",))
    assert reasons(fleet(nothing)) == ["g: no consensus client of prysm runs gnosis: 1 pair would have none"]


def test_adopted_consensus_endpoints_count_in_their_own_layer_only() -> None:
    eps = (Endpoint("el1", "http://10.0.0.9:1", "geth", "eth"), Endpoint("el2", "http://10.0.0.9:2", "nethermind", "eth"),
           Endpoint("cl1", "http://10.0.0.9:3", "lighthouse", "eth", pair="el1"),
           Endpoint("cl2", "http://10.0.0.9:4", "lighthouse", "eth", pair="el2"))
    chain = Chain("eth", ("geth", "nethermind", "erigon"), 6, endpoints=eps)
    p = plan_placement(f := fleet(chain), caps(f))
    assert p.counts["eth"] == {"geth": 2, "nethermind": 2, "erigon": 2}  # beacon nodes are no execution clients
    assert p.consensus_counts["eth"]["lighthouse"] == 2 and sum(p.consensus_counts["eth"].values()) == 6
    assert all(n.consensus != "lighthouse" for n in p.nodes)  # lighthouse is at its cap already
    # the balancer fronts execution clients only
    f2 = dataclasses.replace(f, suppliers=(Supplier("s", ("eth",), "pokt1x", host="h0"),))
    p2 = plan_placement(f2, caps(f2))
    assert {b.name for b in p2.balancers[0].backends} == {"el1", "el2", *(n.name for n in p2.nodes)}


def test_a_running_pair_stays_and_a_disallowed_consensus_client_is_replaced() -> None:
    chain = Chain("eth", ("geth", "nethermind"), 4, max_client_share=0.5, consensus_clients=("teku", "nimbus", "lodestar"))
    first = plan_placement(f := fleet(chain), caps(f))
    assert plan_placement(f, caps(f), first.nodes) == first
    no_teku = fleet(dataclasses.replace(chain, consensus_clients=("nimbus", "lodestar", "lighthouse")))
    p = plan_placement(no_teku, caps(no_teku), first.nodes)
    before = {n.name: n.consensus for n in first.nodes}
    after = {n.name: n.consensus for n in p.nodes}
    assert set(after) == set(before) and "teku" not in after.values()
    assert all(after[n] == c for n, c in before.items() if c != "teku")
    assert any("(no longer allowed)" in note for note in p.notes)
    # a node observed without a consensus client (from before pairs) gets one
    legacy = [NodePlacement("eth-geth-1", "eth", "geth", "h0", slot=0)]
    q = plan_placement(f, caps(f), legacy)
    assert next(n for n in q.nodes if n.name == "eth-geth-1").consensus in chain.consensus_clients


def test_an_execution_clients_pairs_are_not_all_on_one_consensus_client() -> None:
    # fewest-on-the-chain alone would give both erigon nodes teku here (L, P, T, then P, L, T)
    chain = Chain("eth", ("geth", "nethermind", "erigon"), 6, max_client_share=0.5,
                  consensus_clients=("lighthouse", "prysm", "teku"), erigon_consensus="external")
    p = plan_placement(f := fleet(chain), caps(f))
    for client in chain.clients:
        assert len({n.consensus for n in p.nodes if n.client == client}) == 2, p.nodes
    assert max(p.consensus_counts["eth"].values()) <= 3  # the cap: 0.5 of 6


def test_surplus_consensus_clients_are_reassigned_highest_index_first() -> None:
    chain = Chain("eth", ("geth", "nethermind"), 4, max_client_share=0.5, consensus_clients=("teku", "nimbus"))
    running = [NodePlacement("eth-geth-1", "eth", "geth", "h0", slot=0, consensus="teku"),
               NodePlacement("eth-geth-2", "eth", "geth", "h1", slot=0, consensus="teku"),
               NodePlacement("eth-nethermind-1", "eth", "nethermind", "h2", slot=0, consensus="teku")]
    p = plan_placement(f := fleet(chain), caps(f), running)
    got = {n.name: n.consensus for n in p.nodes}
    assert got == {"eth-geth-1": "teku", "eth-nethermind-1": "teku", "eth-geth-2": "nimbus", "eth-nethermind-2": "nimbus"}
    assert p.notes == ("eth-geth-2: consensus client teku -> nimbus (above its share)",)


# --- properties ----------------------------------------------------------------------------------


@st.composite
def paired_fleets(draw: st.DrawFn, adopted_cl: bool = True) -> Fleet:
    chains = []
    for i in range(draw(st.integers(1, 3))):
        network = draw(st.sampled_from(NETWORKS))
        runs = [c for c in PROVISIONED_CLIENTS if network in NETWORK_SUPPORT[c]]
        clients = tuple(draw(st.permutations(runs))[: draw(st.integers(1, len(runs)))])
        share = draw(st.sampled_from((0.34, 0.4, 0.5, 0.67, 1.0)))
        replicas = draw(st.integers(0, 9))
        cls = [c for c in CONSENSUS_CLIENTS if network in NETWORK_SUPPORT[c]]
        chosen = tuple(draw(st.permutations(cls))[: draw(st.integers(0, len(cls)))])
        eps: list[Endpoint] = []
        if adopted_cl:
            for j in range(draw(st.sampled_from([0, 0, 1, 2]))):
                eps.append(Endpoint(f"c{i}-cl{j}", f"http://192.0.2.{j}:5052", draw(st.sampled_from((*cls, CAPLIN))), f"c{i}"))
        for j in range(draw(st.sampled_from([0, 0, 1]))):
            eps.append(Endpoint(f"c{i}-el{j}", f"http://192.0.2.{j}:8545", draw(st.sampled_from(runs)), f"c{i}"))
        chains.append(Chain(f"c{i}", clients, replicas, share, network=network, consensus_clients=chosen, endpoints=tuple(eps),
                            erigon_consensus=draw(st.sampled_from(("caplin", "external")))))
    return fleet(*chains, hosts=draw(st.integers(1, 5)))


def plan_or_none(f: Fleet, existing=()) -> pm.Placement | None:
    try:
        return plan_placement(f, caps(f), existing)
    except Infeasible as e:
        assert e.reasons and all(isinstance(r, str) and r for r in e.reasons)
        return None


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(paired_fleets())
def test_property_no_layer_above_its_share_and_every_pair_runs_the_network(f: Fleet) -> None:
    p = plan_or_none(f)
    if p is None:
        return
    for chain in f.chains.values():
        mine = [n for n in p.nodes if n.chain == chain.id]
        el = Counter(n.client for n in mine) + Counter(e.client for e in chain.execution_endpoints)
        cl = Counter(n.consensus for n in mine) + Counter(e.client for e in chain.consensus_endpoints)
        el_total = max(chain.replicas, len(chain.execution_endpoints))
        cl_total = len(mine) + len(chain.consensus_endpoints)
        assert all(k <= math.floor(chain.max_client_share * el_total + 1e-9) for k in el.values())
        assert all(k <= math.floor(chain.max_client_share * cl_total + 1e-9) for k in cl.values()), (cl, cl_total)
        assert p.consensus_counts[chain.id] == {c: k for c, k in p.consensus_counts[chain.id].items()} and \
            {c: k for c, k in p.consensus_counts[chain.id].items() if k} == dict(cl)
        for n in mine:
            assert chain.network in NETWORK_SUPPORT[n.consensus]
            if n.client == "erigon" and chain.erigon_consensus == CAPLIN:
                assert n.consensus == CAPLIN
            else:
                assert n.consensus in consensus_clients_of(chain)


@PROPERTY
@given(paired_fleets(), st.data())
def test_property_stable(f: Fleet, data: st.DataObject) -> None:
    p = plan_or_none(f)
    if p is None:
        return
    assert plan_placement(f, caps(f), p.nodes) == p  # re-planning on the result changes nothing
    cid = data.draw(st.sampled_from(sorted(f.chains)))
    chain = f.chains[cid]
    bigger = dataclasses.replace(f, chains={**f.chains, cid: dataclasses.replace(chain, replicas=chain.replicas + 1)})
    q = plan_or_none(bigger, p.nodes)
    if q is not None:  # one more replica only adds
        assert set(p.nodes) <= set(q.nodes)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paired_fleets(adopted_cl=False))
def test_property_pairs_spread(f: Fleet) -> None:
    p = plan_or_none(f)
    if p is None:
        return
    for chain in f.chains.values():
        mine = [n for n in p.nodes if n.chain == chain.id]
        cap = math.floor(chain.max_client_share * len(mine) + 1e-9)
        have = Counter(n.consensus for n in mine)
        for client in chain.clients:
            paired = {n.consensus for n in mine if n.client == client}
            group = [n for n in mine if n.client == client]
            if len(group) >= 2 and len(paired) == 1 and CAPLIN not in paired:
                # only when no other allowed consensus client had room
                assert all(have[c] >= cap for c in consensus_clients_of(chain) if c not in paired), (client, have, cap)


# --- variables, plan JSON, observation, diversity ------------------------------------------------------


def test_playbook_variables_of_a_pair() -> None:
    f = load_inventory(LAB_INV)
    plan = make_plan(f, offline=True)
    nodes = [n for hv in plan.vars.values() for n in hv["fleet_nodes"]]
    assert {n["client"]: n["consensus"]["client"] for n in nodes} == {"geth": "nimbus", "nethermind": "lodestar", "erigon": "caplin"}
    keys = {"name", "chain", "client", "mode", "network", "listen_address", "slot", "rpc_port", "p2p_port", "metrics_port",
            "authrpc_port", "spec", "consensus"}
    for n in nodes:
        assert set(n) == keys
        c = n["consensus"]
        assert set(c) == {"client", "name", "beacon_port", "p2p_port", "metrics_port", "checkpoint_sync_url", "spec"}
        assert c["beacon_port"] == pm.BEACON_PORT_BASE + pm.PORT_STRIDE * n["slot"]
        assert c["p2p_port"] == pm.CL_P2P_PORT_BASE + pm.PORT_STRIDE * n["slot"]
        assert c["metrics_port"] == pm.CL_METRICS_PORT_BASE + pm.PORT_STRIDE * n["slot"]
        if c["client"] == CAPLIN:
            assert c["name"] is None and c["spec"] is None
        else:
            assert c["name"] == f"{n['name']}-{c['client']}" and len(c["spec"]) == 16
    # the consensus container's spec follows its execution container's, its image, and the checkpoint URL
    _, d1 = host_vars(f, plan.placement)
    h1 = f.hosts["lab-h1"]
    for change in ({"fleet_images": {**h1.vars["fleet_images"], "nimbus": "other/nimbus:1"}},):
        f2 = dataclasses.replace(f, hosts={**f.hosts, "lab-h1": dataclasses.replace(h1, vars={**h1.vars, **change})})
        _, d2 = host_vars(f2, plan.placement)
        changed = {b.name for a, b in zip(d1, d2) if a.spec != b.spec}
        assert changed == {"eth-geth-1-nimbus"}
    eth = dataclasses.replace(f.chains["eth"], checkpoint_sync_url="https://cp.example")
    _, d3 = host_vars(dataclasses.replace(f, chains={"eth": eth}), plan.placement)
    changed = {b.name for a, b in zip(d1, d3) if a.spec != b.spec}
    assert changed == {"eth-geth-1-nimbus", "eth-nethermind-1-lodestar", "eth-erigon-1"}  # Caplin's sync URL is Erigon's


def test_plan_json_layer_and_pair_and_order() -> None:
    f = load_inventory(EXAMPLE)
    doc = json.loads(json.dumps(make_plan(f, offline=True).as_dict()))
    for a in doc["actions"]:
        assert "layer" in a and "pair" in a
        if a["role"] == "node":
            assert a["layer"] == "execution" and a["pair"] == a["target"]
        elif a["role"] == "consensus":
            assert a["layer"] == "consensus" and a["target"] == f"{a['pair']}-{a['client']}"
        else:
            assert a["layer"] is None and a["pair"] is None
    targets = [a["target"] for a in doc["actions"]]
    for a in doc["actions"]:
        if a["role"] == "consensus":  # its execution container comes first
            assert targets.index(a["pair"]) < targets.index(a["target"])
    assert doc["consensus_counts"]["eth"]["lighthouse"] >= 1


def _state(host: str, containers: list[Container]) -> HostState:
    return HostState(host, True, None, containers, pm.Resources(2, 8, 50))


def test_observed_pairs_round_trip_and_removal_order() -> None:
    f = load_inventory(LAB_INV)
    plan = make_plan(f, offline=True)
    _, desired = host_vars(f, plan.placement)
    # What the roles would run: every desired container, labelled as the contract says.
    observed = {h: _state(h, []) for h in f.hosts}
    by_name = {n.name: n for n in plan.placement.nodes}
    for d in desired:
        if d.role in ("node", "consensus"):
            n = by_name[d.pair]
            observed[d.host].containers.append(Container(d.host, d.name, d.role, d.chain, d.client, d.spec, True, "Up",
                                                         slot=n.slot, pair=d.pair,
                                                         consensus=n.consensus if d.role == "node" else None))
    nodes = existing_nodes(observed, f)
    assert sorted((n.name, n.consensus) for n in nodes) == sorted((n.name, n.consensus) for n in plan.placement.nodes)
    again = plan_placement(f, {h: pm.Resources(2, 8, 50) for h in f.hosts}, nodes)
    assert again.nodes == plan.placement.nodes
    assert all(a.action == "leave" for a in diff(desired, observed, sorted(f.hosts)) if a.role in ("node", "consensus"))
    # A pair that is no longer wanted: both containers go, the consensus client first.
    observed["lab-h1"].containers += [
        Container("lab-h1", "eth-geth-9", "node", "eth", "geth", "x", True, "Up", slot=9, pair="eth-geth-9", consensus="teku"),
        Container("lab-h1", "eth-geth-9-teku", "consensus", "eth", "teku", "y", True, "Up", slot=9, pair="eth-geth-9")]
    from fleetctl.plan import diff as diff_mod

    acts = diff(desired, observed, sorted(f.hosts))
    gone = [a for a in acts if a.action == "remove"]
    assert {(a.target, a.layer, a.pair) for a in gone} == {("eth-geth-9", "execution", "eth-geth-9"),
                                                          ("eth-geth-9-teku", "consensus", "eth-geth-9")}
    order = sorted(acts, key=diff_mod._order)
    names = [a.target for a in order]
    assert names.index("eth-geth-9") < names.index("eth-geth-9-teku")


def test_diversity_counts_both_layers_and_flags_each() -> None:
    f = load_inventory(LAB_INV)
    f = dataclasses.replace(f, chains={"eth": dataclasses.replace(f.chains["eth"], endpoints=())})  # no probes
    c = [Container("lab-h1", "eth-geth-1", "node", "eth", "geth", "s", True, "Up", slot=0, consensus="nimbus"),
         Container("lab-h1", "eth-geth-1-nimbus", "consensus", "eth", "nimbus", "s", True, "Up", slot=0, pair="eth-geth-1"),
         Container("lab-h2", "eth-erigon-1", "node", "eth", "erigon", "s", True, "Up", slot=0, consensus="caplin"),
         Container("lab-h3", "eth-nethermind-1", "node", "eth", "nethermind", "s", True, "Up", slot=0, consensus="nimbus"),
         Container("lab-h3", "eth-nethermind-1-nimbus", "consensus", "eth", "nimbus", "s", True, "Up", slot=0)]
    observed = {h: _state(h, [x for x in c if x.host == h]) for h in f.hosts}
    report = diversity(f, observed)
    eth = report["chains"]["eth"]
    assert eth["execution"]["counts"] == {"geth": 1, "nethermind": 1, "erigon": 1} and eth["execution"]["status"] == "OK"
    assert eth["consensus"]["counts"] == {"nimbus": 2, "lodestar": 0, "caplin": 1}
    assert eth["consensus"]["over_quota"] == ["nimbus"] and eth["consensus"]["status"] == "WARNING"
    assert eth["status"] == report["status"] == "WARNING"
    assert eth["shares"] == eth["execution"]["shares"]  # the execution layer also at the top, as before layers
