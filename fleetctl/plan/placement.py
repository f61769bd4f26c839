"""The placement planner: which full nodes run where, which host serves each supplier, and the
balancer pools in between.

``plan_placement`` is a pure function of the fleet, the hosts' capacities and what runs now. It is
deterministic (the order of dicts, sets and input tuples does not matter, except ``fleet.chains``
and ``chain.clients`` whose order means something) and stable: what runs now and still fits the
desired state stays where it is, so growing a chain or adding a supplier only adds.

The steps:

1. Client quotas, per chain: how many nodes of each client to provision (``_quota``).
2. Suppliers onto hosts (``_place_suppliers``).
3. Nodes: keep what runs (``_keep``), then place the rest, one node at a time, on the best host
   (``_ChainPlacer``): lazy heaps keyed per client, so a fleet of hundreds of hosts and thousands
   of nodes is placed in O(nodes x clients x log hosts).
4. Balancers for every (host, chain) a supplier on that host serves (``_balancers``).

Every violated constraint becomes one reason of a single ``Infeasible``.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from fleetctl.plan.model import (
    BALANCER_PORT_BASE,
    Backend,
    BalancerPlacement,
    Infeasible,
    NodePlacement,
    Placement,
    Resources,
    SupplierPlacement,
)
from fleetctl.plan.profiles import NoProfile, profile
from fleetctl.spec.model import Chain, Fleet

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
        try:
            quota.need = {c: profile(c, chain.mode, overrides) for c, n in quota.target.items() if n}
        except NoProfile as e:
            reasons.append(f"{cid}: {e}")
            continue
        quotas[cid] = quota

    suppliers = _place_suppliers(fleet, existing_suppliers, reasons)

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
    return Placement(
        nodes=tuple(sorted(nodes)),
        balancers=balancers,
        suppliers=suppliers,
        counts={cid: q.counts for cid, q in quotas.items()},
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# 1. Client quotas
# ---------------------------------------------------------------------------------------------


@dataclass
class _Quota:
    """A chain's client split and what one node of each provisioned client needs."""

    target: dict[str, int]  # client -> nodes fleetctl provisions (chain.clients order)
    adopted: Counter[str]  # client -> adopted endpoints
    counts: dict[str, int]  # client -> provisioned + adopted (Placement.counts)
    need: dict[str, Resources] = field(default_factory=dict)  # client -> one node's profile


def _quota(chain: Chain, reasons: list[str]) -> _Quota | None:
    """The split of ``chain``'s provisioned nodes over its clients, or None (reasons appended)."""
    cid, share = chain.id, chain.max_client_share
    clients = list(dict.fromkeys(chain.clients))
    adopted = Counter(e.client for e in chain.endpoints)
    total = max(chain.replicas, len(chain.endpoints))
    provisioned = max(0, chain.replicas - len(chain.endpoints))
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


# ---------------------------------------------------------------------------------------------
# 2. Suppliers
# ---------------------------------------------------------------------------------------------


def _place_suppliers(fleet: Fleet, existing: Mapping[str, str], reasons: list[str]) -> tuple[SupplierPlacement, ...]:
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
    kept = []
    for n in sorted(wanted, key=lambda n: (n.host, n.slot, n.name)):
        chain = fleet.chains[n.chain]
        need = quotas[n.chain].need[n.client]
        host = hosts[n.host]
        if n.slot in host.slots or n.slot < 0:
            notes.append(f"{n.name}: slot {n.slot} on {n.host} is taken; placed anew")
        elif not host.fits(need):
            notes.append(f"{n.name}: no longer fits on {n.host} ({chain.mode} {n.client} needs {_fmt(need)}); placed anew")
        else:
            host.add(need, n.slot)
            kept.append(NodePlacement(n.name, n.chain, n.client, n.host, chain.mode, n.slot, need))
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
        self.heaps: dict[str, list[tuple[int, int, _Rank, str]]] = {}

    def place(self) -> list[NodePlacement]:
        """The chain's new nodes (capacity shortfalls appended to the reasons)."""
        placed: list[NodePlacement] = []
        short: Counter[str] = Counter()
        for client in self._order():
            host = self._best(client)
            if host is None:
                short[client] += 1
                continue
            need = self.quota.need[client]
            slot = host.next_slot()
            host.add(need, slot)
            self.on_host[host.name] += 1
            self.on_host_client[host.name, client] += 1
            placed.append(NodePlacement(self._name(client), self.chain.id, client, host.name, self.chain.mode, slot, need))
        for client, n in short.items():
            self.reasons.append(self._shortfall(client, n))
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

    def _key(self, host: _Host, client: str) -> tuple[int, int, _Rank, str]:
        return (self.on_host[host.name], self.on_host_client[host.name, client], host.rank(self.quota.need[client]), host.name)

    def _best(self, client: str) -> _Host | None:
        heap = self.heaps.get(client)
        if heap is None:
            heap = self.heaps[client] = [self._key(h, client) for h in self.eligible]
            heapq.heapify(heap)
        need = self.quota.need[client]
        while heap:
            host = self.hosts[heap[0][3]]
            if not host.fits(need):
                heapq.heappop(heap)
                continue
            key = self._key(host, client)
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

    def _shortfall(self, client: str, n: int) -> str:
        """Why ``n`` nodes of ``client`` found no host: what one needs and the most room left."""
        cid, need = self.chain.id, self.quota.need[client]
        if not self.eligible:
            allowed = getattr(self.chain, "hosts", ())
            return f"{cid}: no host to run its {_plural(n, f'{client} node')} on" + (
                f" (its hosts {', '.join(allowed)} are not in the inventory)" if allowed else " (the inventory has no hosts)")
        # Only hosts of known capacity can be full (the others take any node).
        best = min((h for h in self.eligible if h.total is not None), key=lambda h: (-_headroom(h.free(), need), h.name))
        return (f"{cid}: no eligible host has room for {_plural(n, f'more {client} node')} "
                f"({self.chain.mode}: {_fmt(need)} each); the most free on one is {_fmt(best.free())} on {best.name}")


def _headroom(free: Resources, need: Resources) -> float:
    """How much of ``need`` fits in ``free``: the tightest dimension's ratio."""
    return min(_ratio(f, n) if n > EPS else math.inf for f, n in
               ((free.cpus, need.cpus), (free.memory_gb, need.memory_gb), (free.disk_gb, need.disk_gb)))


# ---------------------------------------------------------------------------------------------
# 4. Balancers
# ---------------------------------------------------------------------------------------------


def _balancers(fleet: Fleet, quotas: Mapping[str, _Quota], nodes: Sequence[NodePlacement],
               suppliers: Sequence[SupplierPlacement], reasons: list[str]) -> tuple[BalancerPlacement, ...]:
    """One balancer per (host, chain) that a supplier on the host serves, over every node of the chain."""
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
        backends += [Backend(e.name, e.client, e.url, adopted=True) for e in fleet.chains[cid].endpoints]
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
