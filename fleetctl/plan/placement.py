"""The placement planner: which full nodes run where, which host serves each supplier, and the
balancer pools in between.

``plan_placement`` is a pure function of the fleet, the hosts' capacities and what runs now. It is
deterministic (the order of dicts, sets and input tuples does not matter, except ``fleet.chains``
and ``chain.clients`` whose order means something) and stable: what runs now and still fits the
desired state stays where it is, so growing a chain or adding a supplier only adds.

The steps:

1. Client quotas, per chain: how many nodes of each execution client to provision (``_quota``),
   and the consensus layer's cap (``_Pairer``: every node is a pair, an execution client and a
   consensus client; ``max_client_share`` applies to each layer on its own; Erigon on Caplin
   counts as its own consensus client).
2. Suppliers onto hosts (``place_suppliers``).
3. Nodes: keep what runs (``_keep``: a kept node keeps its consensus client while that client is
   still allowed and within its cap), then place the rest, one node at a time, on the best host
   (``_ChainPlacer``): lazy heaps keyed per (client, consensus client), so a fleet of hundreds of
   hosts and thousands of nodes is placed in O(nodes x clients x log hosts). A new pair's
   consensus client is the allowed one with the fewest so far on the chain, then the fewest
   paired with this execution client, then the chain's order of consensus clients (and never
   the one all of this execution client's pairs already have while another has room).
4. Balancers for every (host, chain) a supplier on that host serves (``_balancers``: execution
   clients only; adopted consensus endpoints serve no JSON-RPC).

Every violated constraint becomes one reason of a single ``Infeasible``.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import field
from types import MappingProxyType

from fleetctl.core.records import record
from fleetctl.core.layout import BALANCER_PORT_BASE
from fleetctl.plan.model import (
    Backend,
    BalancerPlacement,
    Infeasible,
    NodePlacement,
    Placement,
    Resources,
    SupplierPlacement,
)
from fleetctl.plan.profiles import NoProfile, profile
from fleetctl.spec.model import CAPLIN, NETWORK_SUPPORT, Chain, Fleet, consensus_clients_of

#: Slack for float comparisons of shares and capacities.
EPS = 1e-9

_NO_SUPPLIERS: Mapping[str, str] = MappingProxyType({})

#: A host's rank among candidates, lowest first: (capacity unknown?, utilization after the node
#: if known, else how many nodes it runs). Hosts whose room can be checked come first.
_Rank = tuple[int, float]


def plan_placement(
    fleet: Fleet,
    capacities: Mapping[str, Resources | None],
    existing_nodes: Sequence[NodePlacement] = (),
    existing_suppliers: Mapping[str, str] = _NO_SUPPLIERS,
) -> Placement:
    """Place the fleet's full nodes, suppliers and balancers on its hosts.

    ``capacities[host]`` is a host's total capacity (None or absent: unknown, so the host takes
    nodes unchecked and the notes say so). ``existing_nodes`` are the nodes that run now (or the
    previous plan's); ``existing_suppliers`` maps a supplier name to the host that serves it now.
    Raises Infeasible listing every violated constraint."""
    reasons: list[str] = []
    notes: list[str] = []
    overrides = getattr(fleet, "profiles", None)

    quotas: dict[str, _Quota] = {}
    for cid, chain in fleet.chains.items():
        quota = _quota(chain, reasons)
        if quota is None:
            continue
        pairer = _Pairer.of(chain, quota, reasons)
        if pairer is None:
            continue
        try:
            quota.need = {c: profile(c, chain.mode, overrides) for c, n in quota.target.items() if n}
            quota.cl_need = {c: profile(c, chain.mode, overrides) for c in pairer.used()}
        except NoProfile as e:
            reasons.append(f"{cid}: {e}")
            continue
        quota.pairer = pairer
        quotas[cid] = quota

    suppliers = place_suppliers(fleet, existing_suppliers, reasons)

    hosts = {name: _Host(name, capacities.get(name)) for name in sorted(fleet.hosts)}
    kept = _keep(fleet, quotas, hosts, existing_nodes, notes)
    nodes = list(kept)
    for cid, quota in quotas.items():
        nodes += _ChainPlacer(fleet.chains[cid], quota, hosts, kept, reasons).place()

    for h in hosts.values():
        if h.total is None and h.nodes:
            notes.append(f"{h.name}: capacity unknown, so its {_plural(h.nodes, 'node')} "
                         f"{'was' if h.nodes == 1 else 'were'} placed without checking they fit")

    balancers = _balancers(fleet, quotas, nodes, suppliers, reasons)
    if reasons:
        raise Infeasible(reasons)
    consensus_counts: dict[str, dict[str, int]] = {}
    for cid, q in quotas.items():
        tally = Counter(n.consensus for n in nodes if n.chain == cid) + q.pairer.adopted
        consensus_counts[cid] = {c: tally[c] for c in (*q.pairer.allowed, *sorted(set(tally) - set(q.pairer.allowed)))}
    return Placement(
        nodes=tuple(sorted(nodes)),
        balancers=balancers,
        suppliers=suppliers,
        counts={cid: q.counts for cid, q in quotas.items()},
        notes=tuple(notes),
        consensus_counts=consensus_counts,
    )


# ---------------------------------------------------------------------------------------------
# 1. Client quotas
# ---------------------------------------------------------------------------------------------


@record
class _Quota:
    """A chain's client split and what one node of each provisioned client needs."""

    target: dict[str, int]  # client -> nodes fleetctl provisions (chain.clients order)
    adopted: Counter[str]  # client -> adopted execution endpoints
    counts: dict[str, int]  # client -> provisioned + adopted (Placement.counts)
    need: dict[str, Resources] = field(default_factory=dict)  # execution client -> one node's profile
    cl_need: dict[str, Resources] = field(default_factory=dict)  # consensus client -> its profile
    pairer: "_Pairer" = None  # type: ignore[assignment]  # set once the consensus layer is feasible

    def pair_need(self, client: str, consensus: str) -> Resources:
        """What one pair needs: the execution client's profile plus its consensus client's."""
        return self.need[client] + self.cl_need[consensus]


def _quota(chain: Chain, reasons: list[str]) -> _Quota | None:
    """The split of ``chain``'s provisioned nodes over its clients, or None (reasons appended).

    Execution layer only: adopted consensus endpoints are no execution clients."""
    cid, share = chain.id, chain.max_client_share
    clients = list(dict.fromkeys(chain.clients))
    endpoints = chain.execution_endpoints
    adopted = Counter(e.client for e in endpoints)
    total = max(chain.replicas, len(endpoints))
    provisioned = max(0, chain.replicas - len(endpoints))
    cap = math.floor(share * total + EPS)
    if total and cap == 0:
        reasons.append(f"{cid}: max_client_share {share:g} with {_plural(total, 'node')}: "
                       f"one node would already be {100 / total:.3g}% of the chain")
        return None
    ok = True
    for client in sorted(adopted):
        if adopted[client] > cap:
            reasons.append(f"{cid}: {_plural(adopted[client], f'adopted {client} endpoint')} exceed max_client_share "
                           f"{share:g}: at most {cap} of its {total} nodes may run {client}")
            ok = False
    on_clients = provisioned + sum(adopted[c] for c in clients)
    if len(clients) * cap < on_clients:
        others = sorted(c for c in adopted if c not in clients)
        besides = f" besides the adopted {'/'.join(others)} endpoints" if others else ""
        reasons.append(f"{cid}: {chain.replicas} replicas, {_plural(len(clients), 'client')}, max_client_share "
                       f"{share:g} allows at most {_plural(cap, 'node')} per client: "
                       f"needs at least {-(-on_clients // cap)} clients{besides}")
        ok = False
    if not ok:
        return None
    target = dict.fromkeys(clients, 0)
    heap = [(adopted[c], i, c) for i, c in enumerate(clients)]
    heapq.heapify(heap)
    for _ in range(provisioned):  # the next node to the client with the fewest, ties: clients order
        count, i, c = heap[0]
        target[c] += 1
        heapq.heapreplace(heap, (count + 1, i, c))
    counts = {c: target[c] + adopted[c] for c in clients}
    counts.update((c, adopted[c]) for c in sorted(adopted) if c not in target)
    return _Quota(target, adopted, counts)


class _Pairer:
    """One chain's consensus layer: which consensus client each pair gets, within the cap.

    The cap is ``max_client_share`` of the consensus layer: the pairs fleetctl provisions plus
    the adopted consensus endpoints. Erigon on Caplin is paired with ``caplin``; every other
    execution node with one of :func:`consensus_clients_of` that runs the chain's network."""

    def __init__(self, chain: Chain, allowed: tuple[str, ...], cap: int, adopted: Counter[str], caplin: bool):
        self.chain, self.allowed, self.cap, self.adopted, self.caplin = chain, allowed, cap, adopted, caplin
        self.count: Counter[str] = Counter(adopted)
        self.by_client: Counter[tuple[str, str]] = Counter()
        self.rank = {c: i for i, c in enumerate(allowed)}

    @classmethod
    def of(cls, chain: Chain, quota: _Quota, reasons: list[str]) -> "_Pairer | None":
        """The chain's pairer, or None when its consensus layer cannot meet the cap (reasons appended)."""
        cid, share, network = chain.id, chain.max_client_share, chain.network
        caplin = chain.erigon_consensus == CAPLIN
        allowed = tuple(c for c in consensus_clients_of(chain) if network in NETWORK_SUPPORT.get(c, ()))
        adopted = Counter(e.client for e in chain.consensus_endpoints)
        pairs = sum(quota.target.values())
        on_caplin = quota.target.get("erigon", 0) if caplin else 0
        external = pairs - on_caplin
        total = pairs + sum(adopted.values())
        cap = math.floor(share * total + EPS)
        adopted_s = f" + {_plural(sum(adopted.values()), 'adopted consensus endpoint')}" if adopted else ""
        if total and cap == 0:
            reasons.append(f"{cid}: max_client_share {share:g} with {_plural(pairs, 'pair')}{adopted_s}: one consensus "
                           f"client would already be {100 / total:.3g}% of the consensus layer")
            return None
        ok = True
        if external and not allowed:
            listed = chain.consensus_clients
            reasons.append(f"{cid}: no consensus client " + (f"of {', '.join(listed)} " if listed else "")
                           + f"runs {network}: {_plural(external, 'pair')} would have none")
            ok = False
        for client in sorted(adopted):
            if adopted[client] > cap:
                reasons.append(f"{cid}: {_plural(adopted[client], f'adopted {client} endpoint')} exceed max_client_share "
                               f"{share:g} of the consensus layer: at most {cap} of its {total} consensus clients may run {client}")
                ok = False
        if on_caplin + adopted[CAPLIN] > cap:
            reasons.append(f"{cid}: {_plural(on_caplin, 'Erigon pair')} on Caplin"
                           + (f" (+ {adopted[CAPLIN]} adopted)" if adopted[CAPLIN] else "")
                           + f" exceed max_client_share {share:g} of the consensus layer: at most {cap} of its "
                           f"{total} consensus clients may be Caplin (fewer erigon nodes, or erigon: {{consensus: external}})")
            ok = False
        on_allowed = external + sum(adopted[c] for c in allowed)
        if ok and allowed and len(allowed) * cap < on_allowed:
            others = sorted(c for c in adopted if c not in allowed)
            besides = f" besides the adopted {'/'.join(others)} endpoints" if others else ""
            have = len(allowed) + (1 if on_caplin else 0)
            need = -(-on_allowed // cap) + (1 if on_caplin else 0)
            reasons.append(f"{cid}: {_plural(pairs, 'pair')}{adopted_s}, max_client_share {share:g} allows at most "
                           f"{cap} per consensus client: needs at least {need} consensus clients{besides} (caplin counts "
                           f"as one; it has {have}: {', '.join((*allowed, CAPLIN) if on_caplin else allowed)})")
            ok = False
        return cls(chain, allowed, cap, adopted, caplin) if ok else None

    def used(self) -> tuple[str, ...]:
        """The consensus clients pairs of this chain may get (profiles needed for them)."""
        return (*self.allowed, CAPLIN) if self.caplin else self.allowed

    def valid(self, client: str, consensus: str) -> bool:
        """Whether a ``client`` node may stay paired with ``consensus``, the cap aside."""
        if client == "erigon" and self.caplin:
            return consensus == CAPLIN
        return consensus in self.rank

    def keep(self, client: str, consensus: str) -> bool:
        """Take ``consensus`` for an existing ``client`` node if still allowed and within the cap."""
        if not self.valid(client, consensus) or self.count[consensus] >= self.cap:
            return False
        self.take(client, consensus)
        return True

    def choose(self, client: str) -> str | None:
        """A new pair's consensus client (taken): Caplin for Erigon on Caplin, else the allowed
        one with room and the fewest so far, then the fewest with ``client``, then the chain's order;
        except that a client's nodes are never all paired with one consensus client while another
        allowed one has room (the fewest so far among those the client has none of, then order)."""
        if client == "erigon" and self.caplin:
            best: str | None = CAPLIN
        else:
            room = [c for c in self.allowed if self.count[c] < self.cap]
            best = min(room, key=lambda c: (self.count[c], self.by_client[client, c], self.rank[c]), default=None)
            mine = sum(self.by_client[client, c] for c in self.allowed)
            if best is not None and mine and self.by_client[client, best] == mine:
                # Every node of this client so far runs ``best``: one more would leave the
                # client's pairs on a single consensus client while another has room.
                other = [c for c in room if not self.by_client[client, c]]
                best = min(other, key=lambda c: (self.count[c], self.rank[c]), default=best)
        if best is not None:
            self.take(client, best)
        return best

    def take(self, client: str, consensus: str) -> None:
        self.count[consensus] += 1
        self.by_client[client, consensus] += 1

    def release(self, client: str, consensus: str) -> None:
        self.count[consensus] -= 1
        self.by_client[client, consensus] -= 1


# ---------------------------------------------------------------------------------------------
# 2. Suppliers
# ---------------------------------------------------------------------------------------------


def place_suppliers(fleet: Fleet, existing: Mapping[str, str], reasons: list[str]) -> tuple[SupplierPlacement, ...]:
    """Pinned suppliers stay on their host, the others where they run now if that host remains,
    the rest on the host with the fewest suppliers (among the hosts suppliers are pinned to, if
    any), ties by host name."""
    load = dict.fromkeys(sorted(fleet.hosts), 0)
    where: dict[str, str] = {}
    loose = []
    for s in sorted(fleet.suppliers, key=lambda s: s.name):
        if s.host is not None:
            if s.host in load:
                where[s.name] = s.host
            else:
                reasons.append(f"supplier {s.name}: host {s.host} is not in the inventory")
        elif existing.get(s.name) in load:
            where[s.name] = existing[s.name]
        else:
            loose.append(s.name)
    for host in where.values():
        load[host] += 1
    pinned = sorted({s.host for s in fleet.suppliers if s.host in load})
    heap = [(load[h], h) for h in (pinned or load)]
    heapq.heapify(heap)
    if loose and not heap:
        reasons.append(f"{_plural(len(loose), 'supplier')} without a host and the inventory has no hosts")
    elif loose:
        for name in loose:
            n, host = heap[0]
            where[name] = host
            heapq.heapreplace(heap, (n + 1, host))
    return tuple(SupplierPlacement(s.name, where[s.name], s.services)
                 for s in sorted(fleet.suppliers, key=lambda s: s.name) if s.name in where)


# ---------------------------------------------------------------------------------------------
# 3. Nodes
# ---------------------------------------------------------------------------------------------


class _Host:
    """A host's capacity, what is reserved on it so far, and its port slots."""

    __slots__ = ("name", "total", "cpus", "memory_gb", "disk_gb", "nodes", "slots", "_next_slot")

    def __init__(self, name: str, total: Resources | None):
        self.name = name
        self.total = total
        self.cpus = self.memory_gb = self.disk_gb = 0.0
        self.nodes = 0
        self.slots: set[int] = set()
        self._next_slot = 0

    def fits(self, need: Resources) -> bool:
        t = self.total
        return t is None or (self.cpus + need.cpus <= t.cpus + EPS and self.memory_gb + need.memory_gb <= t.memory_gb + EPS
                             and self.disk_gb + need.disk_gb <= t.disk_gb + EPS)

    def rank(self, need: Resources) -> _Rank:
        """How full the host would be with one more node needing ``need`` (lower is better)."""
        t = self.total
        if t is None:
            return (1, float(self.nodes))
        return (0, max(_ratio(self.cpus + need.cpus, t.cpus), _ratio(self.memory_gb + need.memory_gb, t.memory_gb),
                       _ratio(self.disk_gb + need.disk_gb, t.disk_gb)))

    def free(self) -> Resources:
        assert self.total is not None
        return Resources(self.total.cpus - self.cpus, self.total.memory_gb - self.memory_gb, self.total.disk_gb - self.disk_gb)

    def add(self, need: Resources, slot: int) -> None:
        self.cpus += need.cpus
        self.memory_gb += need.memory_gb
        self.disk_gb += need.disk_gb
        self.nodes += 1
        self.slots.add(slot)

    def next_slot(self) -> int:
        """The smallest slot no node on this host uses."""
        while self._next_slot in self.slots:
            self._next_slot += 1
        return self._next_slot


def _ratio(used: float, total: float) -> float:
    if total > EPS:
        return used / total
    return 0.0 if used <= EPS else math.inf


def _eligible_hosts(chain: Chain, hosts: Mapping[str, _Host]) -> list[_Host]:
    """The hosts ``chain``'s nodes may run on (``chain.hosts``, or every host), by name."""
    allowed = set(getattr(chain, "hosts", ()))
    return [h for name, h in hosts.items() if not allowed or name in allowed]


def _index(node: NodePlacement) -> int | None:
    """k of a node named ``{chain}-{client}-{k}``, else None."""
    prefix = f"{node.chain}-{node.client}-"
    rest = node.name[len(prefix):]
    if node.name.startswith(prefix) and rest.isascii() and rest.isdigit():
        return int(rest)
    return None


def _by_index(node: NodePlacement) -> tuple[int, int, str]:
    """Lowest index first; names not of the ``{chain}-{client}-{k}`` form last."""
    k = _index(node)
    return (0, k, node.name) if k is not None else (1, 0, node.name)


def _keep(fleet: Fleet, quotas: Mapping[str, _Quota], hosts: Mapping[str, _Host],
          existing: Sequence[NodePlacement], notes: list[str]) -> list[NodePlacement]:
    """The existing nodes that stay as they are, reserved on their hosts.

    A node stays while its chain still wants that many of its client, its host is still in the
    inventory and eligible, and it still fits there (with today's profile); surplus goes highest
    index first. Returns them with today's mode and profile."""
    groups: dict[tuple[str, str], list[NodePlacement]] = {}
    seen: set[str] = set()
    for n in sorted(existing, key=lambda n: (n.name, n.host, n.slot)):
        quota = quotas.get(n.chain)
        if n.name in seen or quota is None or not quota.target.get(n.client) or n.host not in hosts:
            continue
        seen.add(n.name)
        groups.setdefault((n.chain, n.client), []).append(n)
    wanted: list[NodePlacement] = []
    for (cid, client), group in groups.items():
        eligible = {h.name for h in _eligible_hosts(fleet.chains[cid], hosts)}
        group = sorted((n for n in group if n.host in eligible), key=_by_index)
        wanted += group[: quotas[cid].target[client]]
    # Consensus clients: each kept node keeps its own while it is allowed and within the cap,
    # lowest index first (the surplus, highest index first, is paired anew below).
    pairing: dict[str, str] = {}
    for n in sorted(wanted, key=lambda n: (n.chain, *_by_index(n))):
        if quotas[n.chain].pairer.keep(n.client, n.consensus):
            pairing[n.name] = n.consensus
    for n in sorted(wanted, key=lambda n: (n.chain, *_by_index(n))):
        if n.name not in pairing:
            pairer = quotas[n.chain].pairer
            consensus = pairer.choose(n.client)
            if consensus is None:  # the quota check leaves room for every pair; never here
                continue
            if n.consensus:
                notes.append(f"{n.name}: consensus client {n.consensus} -> {consensus}" + (
                    " (above its share)" if pairer.valid(n.client, n.consensus) else " (no longer allowed)"))
            pairing[n.name] = consensus
    kept = []
    for n in sorted(wanted, key=lambda n: (n.host, n.slot, n.name)):
        if n.name not in pairing:
            continue
        chain = fleet.chains[n.chain]
        consensus = pairing[n.name]
        need = quotas[n.chain].pair_need(n.client, consensus)
        host = hosts[n.host]
        if n.slot in host.slots or n.slot < 0:
            notes.append(f"{n.name}: slot {n.slot} on {n.host} is taken; placed anew")
        elif not host.fits(need):
            notes.append(f"{n.name}: no longer fits on {n.host} ({chain.mode} {n.client} with {consensus} needs "
                         f"{_fmt(need)}); placed anew")
        else:
            host.add(need, n.slot)
            kept.append(NodePlacement(n.name, n.chain, n.client, n.host, chain.mode, n.slot, need, consensus))
            continue
        quotas[n.chain].pairer.release(n.client, consensus)
    return kept


class _ChainPlacer:
    """Places one chain's new nodes, each on the eligible host with room that has the fewest nodes
    of the chain, then the fewest of the chain and client, then the lowest utilization after it,
    then the first name.

    One heap per client holds every eligible host keyed that way. Keys only grow (hosts fill up),
    so a lazily refreshed heap stays exact: the top is re-keyed until its stored key is current,
    and a host without room for a client leaves that client's heap for good."""

    def __init__(self, chain: Chain, quota: _Quota, hosts: Mapping[str, _Host], kept: Sequence[NodePlacement],
                 reasons: list[str]):
        self.chain, self.quota, self.hosts, self.reasons = chain, quota, hosts, reasons
        self.eligible = _eligible_hosts(chain, hosts)
        mine = [n for n in kept if n.chain == chain.id]
        self.on_host = Counter(n.host for n in mine)
        self.on_host_client = Counter((n.host, n.client) for n in mine)
        self.have = Counter(n.client for n in mine)
        self.names = {n.name for n in kept}
        self.indices: dict[str, set[int]] = {c: set() for c in quota.target}
        for n in mine:
            if (i := _index(n)) is not None:
                self.indices[n.client].add(i)
        self.heaps: dict[tuple[str, str], list[tuple[int, int, _Rank, str]]] = {}

    def place(self) -> list[NodePlacement]:
        """The chain's new nodes (capacity shortfalls appended to the reasons)."""
        placed: list[NodePlacement] = []
        short: Counter[tuple[str, str]] = Counter()
        for client in self._order():
            consensus = self.quota.pairer.choose(client)
            if consensus is None:  # the quota check leaves room for every pair; never here
                continue
            host = self._best(client, consensus)
            if host is None:
                short[client, consensus] += 1
                continue
            need = self.quota.pair_need(client, consensus)
            slot = host.next_slot()
            host.add(need, slot)
            self.on_host[host.name] += 1
            self.on_host_client[host.name, client] += 1
            placed.append(NodePlacement(self._name(client), self.chain.id, client, host.name, self.chain.mode, slot, need,
                                        consensus))
        for (client, consensus), n in short.items():
            self.reasons.append(self._shortfall(client, consensus, n))
        return placed

    def _order(self) -> list[str]:
        """The clients of the nodes still to place, interleaved: next the client with the fewest
        nodes so far (adopted and kept included), ties by the chain's order of clients."""
        have = {c: self.quota.adopted[c] + self.have[c] for c in self.quota.target}
        heap = [(have[c], i, c, self.quota.target[c] - self.have[c]) for i, c in enumerate(self.quota.target)]
        heap = [e for e in heap if e[3] > 0]
        heapq.heapify(heap)
        order = []
        while heap:
            count, i, c, left = heap[0]
            order.append(c)
            if left > 1:
                heapq.heapreplace(heap, (count + 1, i, c, left - 1))
            else:
                heapq.heappop(heap)
        return order

    def _key(self, host: _Host, client: str, need: Resources) -> tuple[int, int, _Rank, str]:
        return (self.on_host[host.name], self.on_host_client[host.name, client], host.rank(need), host.name)

    def _best(self, client: str, consensus: str) -> _Host | None:
        need = self.quota.pair_need(client, consensus)
        heap = self.heaps.get((client, consensus))
        if heap is None:
            heap = self.heaps[client, consensus] = [self._key(h, client, need) for h in self.eligible]
            heapq.heapify(heap)
        while heap:
            host = self.hosts[heap[0][3]]
            if not host.fits(need):
                heapq.heappop(heap)
                continue
            key = self._key(host, client, need)
            if key == heap[0]:
                return host
            heapq.heapreplace(heap, key)
        return None

    def _name(self, client: str) -> str:
        used = self.indices[client]
        k = 1
        while k in used or f"{self.chain.id}-{client}-{k}" in self.names:
            k += 1
        used.add(k)
        name = f"{self.chain.id}-{client}-{k}"
        self.names.add(name)
        return name

    def _shortfall(self, client: str, consensus: str, n: int) -> str:
        """Why ``n`` nodes of ``client`` found no host: what one needs and the most room left."""
        cid, need = self.chain.id, self.quota.pair_need(client, consensus)
        if not self.eligible:
            allowed = getattr(self.chain, "hosts", ())
            return f"{cid}: no host to run its {_plural(n, f'{client} node')} on" + (
                f" (its hosts {', '.join(allowed)} are not in the inventory)" if allowed else " (the inventory has no hosts)")
        # Only hosts of known capacity can be full (the others take any node).
        best = min((h for h in self.eligible if h.total is not None), key=lambda h: (-_headroom(h.free(), need), h.name))
        return (f"{cid}: no eligible host has room for {_plural(n, f'more {client} node')} "
                f"({self.chain.mode}, with {consensus}: {_fmt(need)} each); the most free on one is "
                f"{_fmt(best.free())} on {best.name}")


def _headroom(free: Resources, need: Resources) -> float:
    """How much of ``need`` fits in ``free``: the tightest dimension's ratio."""
    return min(_ratio(f, n) if n > EPS else math.inf for f, n in
               ((free.cpus, need.cpus), (free.memory_gb, need.memory_gb), (free.disk_gb, need.disk_gb)))


# ---------------------------------------------------------------------------------------------
# 4. Balancers
# ---------------------------------------------------------------------------------------------


def _balancers(fleet: Fleet, quotas: Mapping[str, _Quota], nodes: Sequence[NodePlacement],
               suppliers: Sequence[SupplierPlacement], reasons: list[str]) -> tuple[BalancerPlacement, ...]:
    """One balancer per (host, chain) that a supplier on the host serves, over every execution
    client of the chain (its nodes and its adopted execution endpoints, never a beacon node)."""
    served = sorted({(sp.host, cid) for sp in suppliers for cid in sp.services if cid in quotas})
    port = {cid: BALANCER_PORT_BASE + i for i, cid in enumerate(fleet.chains)}
    pools: dict[str, tuple[Backend, ...]] = {}
    for cid in sorted({cid for _, cid in served}):
        clients = [c for c, n in quotas[cid].counts.items() if n]
        if not clients:
            reasons.append(f"{cid}: the backend pool would be empty: suppliers serve {cid} but it has no replicas")
        elif len(clients) == 1:
            reasons.append(f"{cid}: the backend pool would hold only {clients[0]}: "
                           f"a bug in one client would take every supplier of {cid} down")
        backends = [Backend(n.name, n.client, f"http://{_url_host(fleet.hosts[n.host].address)}:{n.rpc_port}")
                    for n in nodes if n.chain == cid]
        backends += [Backend(e.name, e.client, e.url, adopted=True) for e in fleet.chains[cid].execution_endpoints]
        pools[cid] = tuple(sorted(backends, key=lambda b: b.name))
    return tuple(BalancerPlacement(host, cid, port[cid], pools[cid]) for host, cid in served)


def _url_host(address: str) -> str:
    """An address as the host part of a URL (IPv6 literals in brackets)."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


# ---------------------------------------------------------------------------------------------


def _fmt(r: Resources) -> str:
    return f"{r.cpus:g} cpus, {r.memory_gb:g} GB memory, {r.disk_gb:g} GB disk"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
