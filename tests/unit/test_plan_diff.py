"""From placement to playbook variables and actions, without touching any host."""

from __future__ import annotations

import dataclasses

from fleetctl.plan import model as pm
from fleetctl.plan.diff import diff, make_plan
from fleetctl.plan.vars import host_vars
from fleetctl.plan.diff import existing_nodes
from fleetctl.provision.observe import Container, HostState
from fleetctl.spec.loader import load_inventory

from conftest import EXAMPLE, LAB_INV


def test_offline_plan_of_the_example():
    fleet = load_inventory(EXAMPLE)
    plan = make_plan(fleet, offline=True)
    assert plan.offline and plan.changes == len(plan.actions)
    # every host with suppliers runs a RelayMiner and a balancer per chain its suppliers serve
    relay_hosts = {a.host for a in plan.actions if a.role == "relayminer"}
    assert relay_hosts == {"rm-fra-1", "rm-fra-2", "rm-ams-1"}
    lbs = {(a.host, a.chain) for a in plan.actions if a.role == "balancer"}
    assert ("rm-fra-1", "gnosis") in lbs and ("rm-fra-1", "eth") in lbs
    # the pool behind each balancer spans at least two clients
    for host, hv in plan.vars.items():
        for lb in hv["fleet_balancers"]:
            assert len({b["client"] for b in lb["backends"]}) >= 2, lb
            assert lb["listen_address"] == fleet.hosts[host].address
        for n in hv["fleet_nodes"]:
            assert n["rpc_port"] == pm.RPC_PORT_BASE + pm.PORT_STRIDE * n["slot"]
    # the RelayMiner's suppliers point at the balancer on the same host
    rm = plan.vars["rm-fra-1"]["fleet_relayminer"]
    assert rm["suppliers"] == [{"service_id": "eth", "backend_url": "http://rm-fra-1.fleet.example:7600"},
                               {"service_id": "gnosis", "backend_url": "http://rm-fra-1.fleet.example:7601"}]
    assert "sup-01" in rm["signing_key_names"]


def test_plan_is_deterministic():
    fleet = load_inventory(EXAMPLE)
    a, b = make_plan(fleet, offline=True), make_plan(fleet, offline=True)
    assert a.as_dict() == b.as_dict() and a.vars == b.vars


def _state(host, containers):
    return HostState(host, True, None, containers, pm.Resources(2, 8, 50))


def test_diff_actions():
    fleet = load_inventory(LAB_INV)
    plan = make_plan(fleet, offline=True)
    hv, desired = host_vars(fleet, plan.placement)
    d0 = desired[0]
    observed = {h: _state(h, []) for h in fleet.hosts}
    # one up to date, one with an old spec, one stopped, one stray
    others = [d for d in desired if d.host == d0.host and d.name != d0.name]
    observed[d0.host] = _state(d0.host, [
        Container(d0.host, d0.name, d0.role, d0.chain, d0.client, d0.spec, True, "Up"),
        Container(d0.host, others[0].name, others[0].role, others[0].chain, others[0].client, "old", True, "Up"),
        Container(d0.host, others[1].name, others[1].role, others[1].chain, others[1].client, others[1].spec, False, "Exited (1)"),
        Container(d0.host, "eth-geth-9", "node", "eth", "geth", "x", True, "Up", slot=9),
    ])
    actions = {(a.host, a.target): a for a in diff(desired, observed, sorted(fleet.hosts))}
    assert actions[(d0.host, d0.name)].action == "leave"
    assert actions[(d0.host, others[0].name)].action == "recreate"
    assert actions[(d0.host, others[1].name)].reason.startswith("not running")
    assert actions[(d0.host, "eth-geth-9")].action == "remove"
    # an unreachable host gets no actions (it is reported apart)
    observed["lab-h2"] = HostState("lab-h2", False, "connection refused")
    assert not [a for a in diff(desired, observed, sorted(fleet.hosts)) if a.host == "lab-h2"]


def test_existing_nodes_feed_the_planner():
    fleet = load_inventory(LAB_INV)
    st = {"lab-h1": _state("lab-h1", [Container("lab-h1", "eth-geth-1", "node", "eth", "geth", "s", True, "Up", slot=3),
                                      Container("lab-h1", "lb-eth", "balancer", "eth", None, "s", True, "Up")])}
    assert existing_nodes(st, fleet) == [pm.NodePlacement("eth-geth-1", "eth", "geth", "lab-h1", "full", 3)]


def test_spec_changes_with_image_override():
    fleet = load_inventory(LAB_INV)
    plan = make_plan(fleet, offline=True)
    _, d1 = host_vars(fleet, plan.placement)
    import dataclasses

    h1 = fleet.hosts["lab-h1"]
    vars2 = dict(h1.vars, fleet_images={**h1.vars["fleet_images"], "geth": "fleetlab/geth:other"})
    fleet2 = dataclasses.replace(fleet, hosts={**fleet.hosts, "lab-h1": dataclasses.replace(h1, vars=vars2)})
    _, d2 = host_vars(fleet2, plan.placement)
    changed = {d.name for a, d in zip(d1, d2) if a.spec != d.spec and d.host == "lab-h1"}
    # the Geth node and its consensus client (which lives in the Geth container's namespace)
    geth = {d.name for d in d2 if d.host == "lab-h1" and d.client == "geth"}
    assert all(name.startswith("eth-geth") for name in changed)
    assert changed == geth | {d.name for d in d2 if d.role == "consensus" and d.pair in geth} and len(changed) == 2


def test_no_two_services_on_a_host_share_a_port():
    """Up to 50 nodes and 20 chains on one host: every listening port is distinct, Erigon's
    sentry range (p2p .. p2p+4) and BitTorrent port (p2p + 11766) included."""
    used: dict[int, str] = {}

    def take(port: int, what: str) -> None:
        assert port not in used, f"{what} and {used[port]} both want port {port}"
        used[port] = what

    for slot in range(50):
        n = pm.NodePlacement(f"n{slot}", "eth", "erigon", "h", slot=slot)
        take(n.rpc_port, f"{n.name} rpc")
        take(n.authrpc_port, f"{n.name} authrpc")
        take(n.metrics_port, f"{n.name} metrics")
        for p in range(n.p2p_port, n.p2p_port + 5):
            take(p, f"{n.name} p2p")
        take(n.p2p_port + 11766, f"{n.name} torrent")
        take(n.beacon_port, f"{n.name} beacon API")
        take(n.cl_metrics_port, f"{n.name} consensus metrics")
        take(n.cl_p2p_port, f"{n.name} consensus p2p")
        take(n.cl_p2p_port + 1, f"{n.name} consensus QUIC")
    for i in range(20):
        take(pm.BALANCER_PORT_BASE + i, f"balancer {i}")
        take(pm.BALANCER_PORT_BASE + i + pm.BALANCER_STATS_OFFSET, f"balancer {i} stats")
    take(pm.RELAYMINER_PORT, "relayminer")
    take(pm.RELAYMINER_METRICS_PORT, "relayminer metrics")


def test_a_consensus_client_rejoins_a_restarted_execution_containers_namespace():
    """A consensus container lives in its execution container's network namespace: when that one
    starts anew (planned here, or restarted on its own since: observed as stale), the consensus
    client is restarted too, with restart: true in its variables; otherwise it is left alone."""
    from fleetctl.plan.diff import Action, _rejoin_namespaces
    from fleetctl.provision.observe import Container, HostState

    def pair_actions(el_action: str) -> list[Action]:
        return [Action("h1", el_action, "eth-geth-1", "node", "eth", "geth", "", layer="execution", pair="eth-geth-1"),
                Action("h1", "leave", "eth-geth-1-nimbus", "consensus", "eth", "nimbus", "up to date",
                       layer="consensus", pair="eth-geth-1")]

    def hv() -> dict:
        return {"h1": {"fleet_nodes": [{"name": "eth-geth-1", "consensus": {"client": "nimbus"}}]}}

    cl = Container("h1", "eth-geth-1-nimbus", "consensus", "eth", "nimbus", "s", True, "Up", 0, pair="eth-geth-1")
    observed = {"h1": HostState("h1", True, None, [cl])}
    # the execution container is recreated (stopped, or its spec changed): the consensus one follows
    for el_action in ("create", "recreate"):
        v = hv()
        out = _rejoin_namespaces(pair_actions(el_action), observed, v)
        assert (out[1].action, out[1].reason) == ("recreate", "eth-geth-1 starts anew: the consensus client rejoins its network namespace")
        assert v["h1"]["fleet_nodes"][0]["consensus"]["restart"] is True
    # both up to date: nothing to do
    v = hv()
    out = _rejoin_namespaces(pair_actions("leave"), observed, v)
    assert [a.action for a in out] == ["leave", "leave"] and "restart" not in v["h1"]["fleet_nodes"][0]["consensus"]
    # the execution container restarted on its own after the consensus one started
    stale = {"h1": HostState("h1", True, None, [dataclasses.replace(cl, stale_namespace=True)])}
    v = hv()
    out = _rejoin_namespaces(pair_actions("leave"), stale, v)
    assert out[1].action == "recreate" and "restarted after it" in out[1].reason
    assert v["h1"]["fleet_nodes"][0]["consensus"]["restart"] is True


def test_observation_marks_a_consensus_container_older_than_its_execution_container():
    from fleetctl.provision.observe import Container, _mark_stale_namespaces

    started = {"eth-geth-1": "2026-12-03T21:40:05.5Z", "eth-geth-1-nimbus": "2026-12-03T21:40:01.1Z",
               "eth-neth-1": "2026-12-03T21:40:01.1Z", "eth-neth-1-lodestar": "2026-12-03T21:40:02.0Z"}

    class Api:
        def inspect_container(self, name):
            return {"State": {"StartedAt": started[name]}}

    class Client:
        api = Api()

    cs = [Container("h", n, role, "eth", c, "s", True, "Up", 0, pair=p) for n, role, c, p in (
        ("eth-geth-1", "node", "geth", "eth-geth-1"), ("eth-geth-1-nimbus", "consensus", "nimbus", "eth-geth-1"),
        ("eth-neth-1", "node", "nethermind", "eth-neth-1"), ("eth-neth-1-lodestar", "consensus", "lodestar", "eth-neth-1"))]
    marked = {c.name: c.stale_namespace for c in _mark_stale_namespaces(Client(), cs)}
    assert marked == {"eth-geth-1": False, "eth-geth-1-nimbus": True, "eth-neth-1": False, "eth-neth-1-lodestar": False}
