"""plan = diff(desired, observed): the actions that take the fleet from what runs to fleet.yml."""

from __future__ import annotations

from dataclasses import field
from typing import Any, Callable

from fleetctl.core.records import record
from fleetctl.plan import model as pm
from fleetctl.plan.vars import Desired, host_vars
from fleetctl.spec.model import Fleet

ACTIONS = ("create", "recreate", "remove", "leave")


@record(frozen=True)
class Action:
    host: str
    action: str  # create | recreate | remove | leave
    target: str  # container name
    role: str
    chain: str | None = None
    client: str | None = None
    reason: str = ""
    #: ``execution`` (a node) or ``consensus`` (its consensus client); None for the others
    layer: str | None = None
    #: the pair (the execution node's name) a node or consensus container belongs to
    pair: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "action": self.action, "chain": self.chain, "client": self.client,
                "target": self.target, "role": self.role, "layer": self.layer, "pair": self.pair,
                "reason": self.reason}


@record
class Plan:
    fleet: Fleet
    placement: pm.Placement
    actions: list[Action]
    vars: dict[str, dict[str, Any]]
    unreachable: dict[str, str] = field(default_factory=dict)
    offline: bool = False
    #: every container the plan wants (unreachable hosts' too, which get no actions)
    desired: list[Desired] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return sum(1 for a in self.actions if a.action != "leave")

    def changed_hosts(self) -> list[str]:
        return sorted({a.host for a in self.actions if a.action != "leave"})

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "offline": self.offline,
            "actions": [a.as_dict() for a in self.actions],
            "unreachable": [{"host": h, "error": e} for h, e in sorted(self.unreachable.items())],
            "counts": self.placement.counts,
            "consensus_counts": self.placement.consensus_counts,
            "notes": list(self.placement.notes),
        }


def diff(desired: list[Desired], observed: dict[str, Any], hosts: list[str]) -> list[Action]:
    """Actions per host; unreachable hosts get none (they are reported apart)."""
    actions: list[Action] = []
    want: dict[tuple[str, str], Desired] = {(d.host, d.name): d for d in desired}
    for host in hosts:
        st = observed.get(host)
        running = {c.name: c for c in st.containers} if st is not None and st.reachable else {}
        if st is not None and not st.reachable:
            continue
        for (h, name), d in sorted(want.items()):
            if h != host:
                continue
            c = running.get(name)
            at = dict(layer=d.layer, pair=d.pair)
            if c is None:
                actions.append(Action(host, "create", name, d.role, d.chain, d.client, "not running", **at))
            elif c.spec != d.spec:
                actions.append(Action(host, "recreate", name, d.role, d.chain, d.client, "config changed", **at))
            elif not c.running:
                actions.append(Action(host, "recreate", name, d.role, d.chain, d.client, f"not running ({c.status})", **at))
            else:
                actions.append(Action(host, "leave", name, d.role, d.chain, d.client, "up to date", **at))
        for name, c in sorted(running.items()):
            if (host, name) not in want:
                layer = {"node": "execution", "consensus": "consensus"}.get(c.role)
                pair = (c.pair or (name if c.role == "node" else None)) if layer else None
                actions.append(Action(host, "remove", name, c.role, c.chain, c.client, "no longer in fleet.yml",
                                      layer=layer, pair=pair))
    return actions


#: Order of a host's actions: the pairs (each pair's execution container, then its consensus
#: client), then balancers, the RelayMiner, the Morse node.
_RANK = {"node": 0, "consensus": 0, "balancer": 1, "relayminer": 2, "morse": 3}


def _order(a: Action) -> tuple[Any, ...]:
    pair = a.pair or a.target
    return (a.host, _RANK.get(a.role, 9), pair if a.layer else a.target, 0 if a.layer == "execution" else 1, a.target)


def _rejoin_namespaces(actions: list[Action], observed: dict[str, Any], hv: dict[str, dict[str, Any]]) -> list[Action]:
    """A consensus container joined its execution container's network namespace when it started:
    once that container is (re)created or (re)started, or has restarted on its own since (observe
    marks it ``stale_namespace``), the consensus client must restart to join the new namespace,
    or it is cut off from its Engine API. Such a ``leave`` becomes a ``recreate`` whose variables
    say ``restart: true`` (the container task restarts it; its definition is unchanged)."""
    starting = {(a.host, a.target) for a in actions if a.layer == "execution" and a.action in ("create", "recreate")}
    stale = {(st.name, c.name) for st in observed.values() if getattr(st, "reachable", False)
             for c in st.containers if getattr(c, "stale_namespace", False)}
    out = []
    for a in actions:
        if a.role == "consensus" and a.action == "leave" and a.pair is not None:
            reason = None
            if (a.host, a.pair) in starting:
                reason = f"{a.pair} starts anew: the consensus client rejoins its network namespace"
            elif (a.host, a.target) in stale:
                reason = f"{a.pair} restarted after it: the consensus client rejoins its network namespace"
            if reason is not None:
                a = Action(a.host, "recreate", a.target, a.role, a.chain, a.client, reason, layer=a.layer, pair=a.pair)
                for node in hv.get(a.host, {}).get("fleet_nodes", []):
                    if node.get("name") == a.pair and isinstance(node.get("consensus"), dict):
                        node["consensus"]["restart"] = True
        out.append(a)
    return out


def make_plan(fleet: Fleet, offline: bool = False, progress: Callable[[str], None] = lambda s: None,
              cancel: Any = None, observed: dict[str, Any] | None = None) -> Plan:
    """Observe (unless offline), place, and diff.  Raises Infeasible with every reason;
    ``cancel`` (a CancelToken) stops the observation between hosts (Cancelled). ``observed``:
    the hosts' states a caller has already observed (``provision.observe.observe``): the plan
    is made against them and nothing is observed again."""
    from fleetctl.plan.placement import plan_placement

    given = observed is not None
    if given:
        offline = False
    observed = dict(observed or {})
    if not offline and not given:
        from fleetctl.provision.observe import observe

        observed = observe(fleet, on_host=lambda st: progress(f"observed {st.name}: " + (f"{len(st.containers)} containers" if st.reachable else f"UNREACHABLE ({st.error})")), cancel=cancel)
    capacities: dict[str, pm.Resources | None] = {}
    for name, host in fleet.hosts.items():
        st = observed.get(name)
        if st is not None and st.capacity is not None:
            capacities[name] = st.capacity
        elif host.capacity is not None:
            capacities[name] = pm.Resources(host.capacity.cpus, host.capacity.memory_gb, host.capacity.disk_gb)
        else:
            capacities[name] = None
    existing = []
    if observed:
        existing = existing_nodes(observed, fleet)
    placement = plan_placement(fleet, capacities, existing)
    hv, desired = host_vars(fleet, placement)
    unreachable = {n: st.error or "unreachable" for n, st in observed.items() if not st.reachable}
    if offline:
        actions = [Action(d.host, "create", d.name, d.role, d.chain, d.client, "offline: planned against an empty fleet",
                          layer=d.layer, pair=d.pair) for d in desired]
    else:
        actions = diff(desired, observed, sorted(fleet.hosts))
    actions = _rejoin_namespaces(actions, observed, hv)
    actions.sort(key=_order)
    removes: dict[str, list[str]] = {}
    # A consensus client lives in its execution container's network namespace: it goes first.
    for a in sorted((a for a in actions if a.action == "remove"), key=lambda a: (a.host, a.layer != "consensus", _order(a))):
        removes.setdefault(a.host, []).append(a.target)
    for h in hv:
        hv[h]["fleet_remove"] = removes.get(h, [])
    return Plan(fleet, placement, actions, hv, unreachable, offline, desired)


def existing_nodes(states: dict[str, Any], fleet: Fleet) -> list[pm.NodePlacement]:
    """Running or stopped full-node containers (observed: a ``provision.observe.HostState`` per
    host) as placements, so the planner keeps them.

    A node is its execution container (role ``node``); its consensus client is the one its
    ``io.fleetctl.consensus`` label names (so a running pair stays a pair). Consensus containers
    (role ``consensus``) are observed, and diffed, but are no nodes of their own. A node without
    the label (from before pairs) gets a consensus client from the planner."""
    nodes = []
    for st in states.values():
        for c in st.containers:
            if c.role == "node" and c.chain and c.client and c.slot is not None:
                chain = fleet.chains.get(c.chain)
                nodes.append(pm.NodePlacement(name=c.name, chain=c.chain, client=c.client, host=c.host,
                                              mode=chain.mode if chain else "full", slot=c.slot,
                                              consensus=c.consensus or ""))
    return nodes
