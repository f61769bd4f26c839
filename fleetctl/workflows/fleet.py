"""The fleet as a tree (what k9s calls xray): what the TUI's Fleet view shows.

Each host holds its node pairs (the execution container and the consensus container beside it)
and their containers; its Pocket process (the RelayMiner, or a Morse node) with the suppliers it
serves, each supplier's balancer for each of its services and the full nodes behind that
balancer (its backends); the adopted endpoints placed on it; and the fleet's containers that
belong to none of these (left over from an older fleet.yml: the plan removes them).

Nothing is computed twice: where things go is the plan's (:func:`fleetctl.plan.diff.make_plan`:
the placement of nodes, suppliers and balancers, the containers it wants and the action for each),
what runs is :func:`fleetctl.provision.observe.observe`'s (over SSH to each host's Docker engine).

:func:`prepare` builds the tree from the inventory and the offline plan, with no I/O (no container
is observed: their ``status`` is "not observed", ``running`` None). :func:`execute` observes every
host (``details=True``: start times for the uptime), plans against what runs, and builds the tree.

Keys are stable ids, so a front keeps its cursor across refreshes::

    lab-h1                                            host
    lab-h1/pair/eth-geth-1                            pair (named after its execution container)
    lab-h1/container/eth-geth-1-nimbus                container (of a pair, or of none)
    lab-h1/relayminer/relayminer                      relayminer (a Morse node: .../pocket-morse)
    lab-h1/relayminer/relayminer/supplier/pokt1...    supplier (its operator address, else its name)
    lab-h1/balancer/lb-eth                            balancer (one per service of the supplier)
    lab-h1/balancer/lb-eth/backend/eth-geth-1         backend (a full node or an adopted endpoint)
    lab-h1/endpoint/lab-h1-geth                       endpoint (adopted; one without a host is a
                                                      root of its own: endpoint/NAME)

Levels: a container that exists but does not run, or that the plan wants and the host does not
have, is CRITICAL; a consensus container left in its execution container's old network namespace
is WARNING; a running one OK; an unreachable host UNKNOWN. Backends, balancers and the RelayMiner
carry their container's level. What was not observed (``prepare``, a host that did not answer),
pairs, suppliers and adopted endpoints (health probes them, not this job) have none
(:attr:`TreeNode.worst` rolls a subtree's levels up).

Shared subtrees: a balancer serves every supplier of its host that has its service, so its node
(with its backends under it) is built once per host and the SAME node is a child of each of those
suppliers; its key is its own (``lab-h1/balancer/lb-eth``), not a path through one supplier. The
tree is therefore a DAG of O(hosts + containers + suppliers + backends) nodes (1,000 suppliers
over balancers of 350 backends each: some 2,400 nodes, not 350,000). :meth:`TreeNode.walk`,
:meth:`FleetTree.walk`, ``find``, ``worst`` and ``as_dict`` visit each node once; a front that
shows the tree lists a shared node under every parent and makes its row ids from the path
(parent id + "/" + key).

Events of :func:`execute`: ``StepStarted``/``StepFinished`` for "observe" and "plan"; per host
observed a ``HostTask`` (task "observe", "ok" with its container count or "unreachable" with the
reason) and a ``Progress`` (hosts). A cancelled token stops the observation between hosts and
raises :class:`~fleetctl.core.events.Cancelled`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from fleetctl.core.records import record
from fleetctl.core.events import CancelToken, EventSink, HostTask, Progress, StepFinished, StepStarted, emit
from fleetctl.core.levels import Level, worst
from fleetctl.spec.model import Fleet

if TYPE_CHECKING:
    from fleetctl.plan.diff import Plan
    from fleetctl.provision.observe import Container, HostState

__all__ = ["JOB", "KINDS", "FleetTree", "TreeNode", "execute", "image_version", "prepare", "started_epoch",
           "uptime_s"]

JOB = "fleet"
#: Every kind of node, in the order a host lists them.
KINDS = ("host", "pair", "container", "relayminer", "supplier", "balancer", "backend", "endpoint")
#: How long one host's observation may take (observe's default).
OBSERVE_TIMEOUT_S = 15.0
#: A container that started up to this far in the future (the host's clock ahead of ours) has
#: uptime 0; further, its start time is not believed (uptime None).
CLOCK_SKEW_S = 300.0
#: Longest text taken from an engine's answer (a label, a status, an image).
TEXT_LIMIT = 200


@record(frozen=True, slots=True)
class TreeNode:
    """One line of the tree. ``key``: a stable unique id; ``label``: what the line shows;
    ``level``: where something is wrong (else OK, or None when nothing was judged); ``data``:
    every field the library has for it, JSON-able (what a describe shows). A balancer's node is
    shared by every supplier it serves (the same object under each): read nodes, never change
    them."""

    kind: str
    key: str
    label: str
    level: Level | None = None
    data: dict[str, Any] = field(default_factory=dict, hash=False)
    children: tuple[TreeNode, ...] = ()

    def walk(self) -> Iterator[TreeNode]:
        """This node and every node under it, depth first, each once (a shared node where it
        is first met)."""
        return _walk((self,), set())

    @property
    def worst(self) -> Level | None:
        """The worst level of this node and every node under it (None when none has one)."""
        levels = [n.level for n in self.walk() if n.level is not None]
        return worst(levels) if levels else None

    def as_dict(self) -> dict[str, Any]:
        """The node and its subtree; a node met again (a shared balancer under its second
        supplier) is ``{"kind", "key", "label", "level", "ref": true}``: its data and children are
        where it was first met."""
        return _as_dict(self, set())


def _walk(nodes: tuple[TreeNode, ...], seen: set[int]) -> Iterator[TreeNode]:
    # An explicit stack: no recursion limit, no generator per level.
    stack = [iter(nodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if node.children:
            stack.append(iter(node.children))


def _as_dict(node: TreeNode, seen: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": node.kind, "key": node.key, "label": node.label,
                           "level": node.level.name if node.level is not None else None}
    if id(node) in seen:
        out["ref"] = True
        return out
    seen.add(id(node))
    out["data"] = node.data
    out["children"] = [_as_dict(c, seen) for c in node.children]
    return out


@record(frozen=True)
class FleetTree:
    """The tree: one root per host (and per adopted endpoint without a host). ``observed_at``:
    when the hosts were observed (seconds since the epoch; None for :func:`prepare`);
    ``errors``: each unreachable host's reason, and why the fleet cannot be placed (then the
    tree shows what runs without the plan's suppliers and balancers); ``notes``: the planner's."""

    roots: tuple[TreeNode, ...]
    observed_at: float | None = None
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def walk(self) -> Iterator[TreeNode]:
        """Every node, depth first, each once (see :meth:`TreeNode.walk`)."""
        return _walk(self.roots, set())

    def find(self, key: str) -> TreeNode | None:
        """The node with this key, or None (gone since: the front picks the nearest)."""
        return next((n for n in self.walk() if n.key == key), None)

    @property
    def level(self) -> Level | None:
        levels = [n.level for n in self.walk() if n.level is not None]
        return worst(levels) if levels else None

    def as_dict(self) -> dict[str, Any]:
        level = self.level
        seen: set[int] = set()
        return {"observed_at": self.observed_at, "level": level.name if level is not None else None,
                "errors": list(self.errors), "notes": list(self.notes),
                "roots": [_as_dict(r, seen) for r in self.roots]}


# ---------------------------------------------------------------------------------------------
# Parsing what an engine says (hostile input)
# ---------------------------------------------------------------------------------------------

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
                      re.ASCII)  # ASCII: \d is 0-9 only, never another script's digits
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def started_epoch(value: object) -> float | None:
    """An engine's ``State.StartedAt`` (``2026-12-03T21:40:01.123456789Z``) as seconds since the
    epoch; None for anything else: not a string, too long, not RFC 3339, an impossible date, or
    Docker's zero time (``0001-01-01T00:00:00Z``: never started) and anything before 1970."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    m = _RFC3339.fullmatch(value)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if year < 1970:
        return None
    if m.group(8):
        offset = timedelta(0)
    else:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset = timedelta(hours=oh, minutes=om) * (1 if m.group(9) == "+" else -1)
    try:
        at = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:  # month 13, February 30, second 60
        return None
    return at.timestamp() + (int(m.group(7).ljust(9, "0")) / 1e9 if m.group(7) else 0.0)


def uptime_s(started_at: object, now: float) -> int | None:
    """Whole seconds since ``started_at`` (an engine's StartedAt) at ``now``; 0 when it started
    up to :data:`CLOCK_SKEW_S` in the future, None when it cannot be read or is further off."""
    start = started_epoch(started_at)
    if start is None:
        return None
    age = now - start
    if age < -CLOCK_SKEW_S:
        return None
    return int(max(0.0, age))


def image_version(image: object) -> str | None:
    """The tag of an image reference (``ethereum/client-go:v1.17.5`` -> ``v1.17.5``; a registry's
    port is no tag; no tag: ``latest``); None for an image id or anything that is no reference."""
    if not isinstance(image, str) or not image or len(image) > 512:
        return None
    ref = image.split("@", 1)[0]
    if not ref or ref.startswith("sha256:") or _CONTROL.search(ref):
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "latest"
    return last.rsplit(":", 1)[1][:TEXT_LIMIT] or None


def _text(value: object) -> str | None:
    """A string from an engine, safe to show: control characters dropped, at most TEXT_LIMIT."""
    if not isinstance(value, str):
        return None
    clean = _CONTROL.sub("", value)
    return clean if len(clean) <= TEXT_LIMIT else clean[: TEXT_LIMIT - 1] + "…"


# ---------------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------------


def prepare(fleet: Fleet) -> FleetTree:
    """The tree from the inventory and the offline plan: no connection, nothing observed."""
    plan, errors = _plan(fleet, None)
    return _build(fleet, plan, None, None, errors)


def execute(fleet: Fleet, *, on_event: EventSink | None = None, cancel: CancelToken | None = None,
            timeout: float = OBSERVE_TIMEOUT_S) -> FleetTree:
    """Observe every host's Docker engine (``timeout`` per host), plan against what runs, and
    build the tree. Raises :class:`~fleetctl.core.events.Cancelled` when ``cancel`` is set
    during the observation; an unreachable host is an error of the tree, not an exception."""
    from fleetctl.provision.observe import observe

    total = len(fleet.hosts)
    done = 0

    def on_host(state: HostState) -> None:
        nonlocal done
        done += 1
        if state.reachable:
            emit(on_event, HostTask(state.name, "observe", "ok", f"{len(state.containers)} containers"))
        else:
            emit(on_event, HostTask(state.name, "observe", "unreachable", _scrub(state.error or "unreachable")))
        emit(on_event, Progress(JOB, done, total, "hosts"))

    emit(on_event, StepStarted(JOB, "observe", f"{total} host(s)"))
    try:
        observed = observe(fleet, timeout=timeout, on_host=on_host, cancel=cancel, details=True)
    except Exception as exc:
        emit(on_event, StepFinished(JOB, "observe", ok=False, detail=_scrub(str(exc))))
        raise
    observed_at = time.time()
    down = sorted(n for n, st in observed.items() if not st.reachable)
    emit(on_event, StepFinished(JOB, "observe", detail=f"{len(observed) - len(down)} of {len(observed)} host(s) reachable"
                                + (f" (unreachable: {', '.join(down)})" if down else "")))
    emit(on_event, StepStarted(JOB, "plan", "placement against what runs"))
    plan, errors = _plan(fleet, observed)
    emit(on_event, StepFinished(JOB, "plan", ok=plan is not None, detail="; ".join(errors) if plan is None else
                                f"{plan.changes} change(s) pending"))
    return _build(fleet, plan, observed, observed_at, errors)


def _scrub(text: str) -> str:
    """A message safe to show: one line, no control characters, no secret of a URL in it."""
    from fleetctl.core.redact import scrub

    return scrub(_CONTROL.sub(" ", text)[:1000], sink_style=False)  # shown: 300 (scrub's URL search is quadratic)


def _plan(fleet: Fleet, observed: dict[str, HostState] | None) -> tuple[Plan | None, list[str]]:
    """The plan (offline when nothing was observed), or None and why it cannot be placed."""
    from fleetctl.plan.diff import make_plan
    from fleetctl.plan.model import Infeasible

    try:
        if observed is None:
            return make_plan(fleet, offline=True), []
        return make_plan(fleet, observed=observed), []
    except Infeasible as exc:
        return None, [_scrub(f"infeasible: {reason}") for reason in exc.reasons]


# ---------------------------------------------------------------------------------------------
# Building the tree
# ---------------------------------------------------------------------------------------------


def _build(fleet: Fleet, plan: Plan | None, observed: Mapping[str, HostState] | None,
           observed_at: float | None, errors: list[str]) -> FleetTree:
    from fleetctl.core.redact import safe_url

    desired = plan.desired if plan is not None else []
    hv = plan.vars if plan is not None else {}
    actions = {(a.host, a.target): a for a in plan.actions} if plan is not None else {}
    states: dict[str, HostState] = dict(observed or {})
    errors = [f"{name}: {_scrub(st.error or 'unreachable')}" for name, st in sorted(states.items())
              if not st.reachable] + list(errors)
    now = observed_at if observed_at is not None else time.time()
    nodes_at = {(n.host, n.name): n for n in plan.placement.nodes} if plan is not None else {}

    # Every container of every host first: a balancer's backends live on other hosts.
    info: dict[tuple[str, str], tuple[dict[str, Any], Level | None]] = {}
    by_host: dict[str, list[str]] = {h: [] for h in fleet.hosts}
    want = {(d.host, d.name): d for d in desired}
    for host in fleet.hosts:
        st = states.get(host)
        seen = {c.name: c for c in st.containers} if st is not None and st.reachable else {}
        names = sorted({n for (h, n) in want if h == host} | set(seen))
        by_host[host] = names
        for name in names:
            d = want.get((host, name))
            info[host, name] = _container(host, name, d, seen.get(name), st, actions.get((host, name)),
                                          _planned_image(fleet, host, d), nodes_at.get((host, name)), now)

    node_host = {n.name: n.host for n in plan.placement.nodes} if plan is not None else {}
    balancers = {(b.host, b.chain): b for b in plan.placement.balancers} if plan is not None else {}
    sups_at: dict[str, list[Any]] = {}
    if plan is not None:
        for sp in plan.placement.suppliers:
            sups_at.setdefault(sp.host, []).append(sp)
    supplier_of = {s.name: s for s in fleet.suppliers}
    endpoints = fleet.endpoints
    endpoint_of = {(e.chain, e.name): e for e in endpoints}
    lb_nodes: dict[tuple[str, str], TreeNode] = {}

    def cnode(host: str, name: str, kind: str = "container", key: str | None = None,
              extra: Mapping[str, Any] | None = None, children: tuple[TreeNode, ...] = ()) -> TreeNode:
        data, level = info[host, name]
        return TreeNode(kind, key or f"{host}/container/{name}", name, level, {**data, **(extra or {})}, children)

    roots: list[TreeNode] = []
    for host in sorted(fleet.hosts):
        h = fleet.hosts[host]
        st = states.get(host)
        used: set[str] = set()
        children: list[TreeNode] = []

        # Pairs: the execution container (the pair's name) and its consensus container.
        pairs: dict[str, list[str]] = {}
        for name in by_host[host]:
            data, _ = info[host, name]
            if data["pair"] is not None and data["role"] in ("node", "consensus"):
                pairs.setdefault(data["pair"], []).append(name)
        for pair in sorted(pairs):
            members = sorted(pairs[pair], key=lambda n: (info[host, n][0]["role"] != "node", n))
            used.update(members)
            np = nodes_at.get((host, pair))
            children.append(_pair(fleet, host, pair, np, [info[host, n][0] for n in members],
                                  tuple(cnode(host, n) for n in members)))

        # The Pocket process: its suppliers, their balancers, the full nodes behind them.
        for name in by_host[host]:
            data, _ = info[host, name]
            if data["role"] not in ("relayminer", "morse"):
                continue
            used.add(name)
            rm_key = f"{host}/relayminer/{name}"
            sups = []
            for sp in sorted(sups_at.get(host, []), key=lambda sp: sp.supplier):
                s = supplier_of.get(sp.supplier)
                sup_key = f"{rm_key}/supplier/{(s.operator_address if s is not None else None) or sp.supplier}"
                lbs = []
                for service in sp.services:
                    b = balancers.get((host, service))
                    if b is None or (host, b.name) not in info:
                        continue
                    used.add(b.name)
                    if (host, service) not in lb_nodes:  # once per balancer: its suppliers share it
                        lb_nodes[host, service] = _balancer(fleet, host, b, service, hv, node_host, info,
                                                            endpoint_of, safe_url)
                    lbs.append(lb_nodes[host, service])
                sups.append(TreeNode("supplier", sup_key, sp.supplier, None, _supplier(s, sp), tuple(lbs)))
            children.append(cnode(host, name, "relayminer", rm_key, _pocket_vars(hv.get(host, {}), data["role"]),
                                  tuple(sups)))

        # Adopted endpoints placed on this host.
        for e in sorted((e for e in endpoints if e.host == host), key=lambda e: e.name):
            children.append(_endpoint(e, f"{host}/endpoint/{e.name}", safe_url))

        # Containers of no pair, no Pocket process, no supplier's balancer.
        for name in by_host[host]:
            if name not in used:
                children.append(cnode(host, name))

        hdata: dict[str, Any] = {
            "name": host, "address": h.address, "port": h.port, "user": h.user, "groups": list(h.groups),
            "observed": st is not None,
            "reachable": st.reachable if st is not None else None,
            "error": _scrub(st.error) if st is not None and st.error else None,
            "containers": len(st.containers) if st is not None and st.reachable else None,
            "capacity": _capacity(st.capacity if st is not None and st.capacity is not None else h.capacity),
            "capacity_from": "engine" if st is not None and st.capacity is not None else (
                "inventory" if h.capacity is not None else None),
            "changes": sum(1 for a in plan.actions if a.host == host and a.action != "leave") if plan is not None else None,
        }
        level = None if st is None else (Level.OK if st.reachable else Level.UNKNOWN)
        roots.append(TreeNode("host", host, host, level, hdata, tuple(children)))

    for e in sorted((e for e in endpoints if e.host is None), key=lambda e: e.name):
        roots.append(_endpoint(e, f"endpoint/{e.name}", safe_url))
    notes = tuple(plan.placement.notes) if plan is not None else ()
    return FleetTree(tuple(roots), observed_at, tuple(errors), notes)


def _planned_image(fleet: Fleet, host: str, d: Any) -> str | None:
    """The image a planned container runs as on ``host`` (the planner's own lookup); None when
    the plan does not want it."""
    from fleetctl.plan.vars import host_image

    if d is None:
        return None
    kind = d.client if d.role in ("node", "consensus") else {
        "balancer": "haproxy", "relayminer": "relayminer", "morse": "morse"}.get(d.role)
    return host_image(fleet, host, kind) if kind else None


def _container(host: str, name: str, d: Any, c: Container | None, st: HostState | None, action: Any,
               planned_image: str | None, np: Any, now: float) -> tuple[dict[str, Any], Level | None]:
    """A container's data and level, from what the plan wants (``d``) and what runs (``c``)."""
    observed = st is not None and st.reachable
    if c is not None:
        role = _text(c.role) or "?"
        image = _text(c.image) or None
        running: bool | None = bool(c.running)
        status = _text(c.status) or ("running" if c.running else "not running")
        pair = _text(c.pair) or (name if role == "node" else None)
        if d is not None and d.pair is not None:
            pair = d.pair
        if not c.running:
            level: Level | None = Level.CRITICAL
        elif c.stale_namespace:
            level = Level.WARNING
        else:
            level = Level.OK
        data = {
            "client": _text(c.client), "chain": _text(c.chain), "consensus": _text(c.consensus),
            "slot": c.slot if type(c.slot) is int else None,
            "started_at": _text(c.started_at) or None,
            "uptime_s": uptime_s(c.started_at, now) if c.running else None,
            "restart_count": c.restart_count if type(c.restart_count) is int and c.restart_count >= 0 else None,
            "stale_namespace": bool(c.stale_namespace),
            "spec": _text(c.spec),
        }
    else:
        role = d.role
        image = planned_image
        running = False if observed else None
        status = "not created" if observed else ("unknown (host unreachable)" if st is not None else "not observed")
        pair = d.pair
        level = Level.CRITICAL if observed else None
        data = {"client": d.client, "chain": d.chain, "consensus": None, "slot": np.slot if np is not None else None,
                "started_at": None,
                "uptime_s": None, "restart_count": None, "stale_namespace": False, "spec": None}
    if role == "node" and not data["consensus"]:
        # the pair's consensus client as planned (Caplin runs inside the execution container)
        data["consensus"] = (np.consensus if np is not None else None) or None
    layer = {"node": "execution", "consensus": "consensus"}.get(role)
    out = {
        "name": name, "host": host, "role": role, "layer": layer,
        "client": data["client"], "version": image_version(image), "chain": data["chain"],
        "status": status, "running": running, "uptime_s": data["uptime_s"], "started_at": data["started_at"],
        "restart_count": data["restart_count"], "image": image, "pair": pair if layer else None,
        "consensus": data["consensus"], "stale_namespace": data["stale_namespace"], "slot": data["slot"],
        "observed": observed, "exists": (c is not None) if observed else None,
        "planned": d is not None, "planned_image": planned_image,
        "spec": data["spec"], "planned_spec": d.spec if d is not None else None,
        "action": action.action if action is not None else None,
        "reason": action.reason if action is not None else None,
    }
    return out, level


def _pair(fleet: Fleet, host: str, pair: str, np: Any, members: list[dict[str, Any]],
          children: tuple[TreeNode, ...]) -> TreeNode:
    """A node pair: its placement when planned, else what its containers say."""
    execution = next((m for m in members if m["role"] == "node"), None)
    consensus_c = next((m for m in members if m["role"] == "consensus"), None)
    if np is not None:
        chain = fleet.chains.get(np.chain)
        data: dict[str, Any] = {
            "name": pair, "host": host, "chain": np.chain, "client": np.client, "consensus": np.consensus or None,
            "consensus_container": np.consensus_name, "mode": np.mode, "network": chain.network if chain else None,
            "slot": np.slot, "rpc_port": np.rpc_port, "authrpc_port": np.authrpc_port, "p2p_port": np.p2p_port,
            "metrics_port": np.metrics_port, "beacon_port": np.beacon_port, "cl_p2p_port": np.cl_p2p_port,
            "cl_metrics_port": np.cl_metrics_port, "planned": True,
        }
    else:
        data = {
            "name": pair, "host": host, "chain": (execution or consensus_c or {}).get("chain"),
            "client": execution["client"] if execution else None,
            "consensus": (execution or {}).get("consensus") or (consensus_c["client"] if consensus_c else None),
            "consensus_container": consensus_c["name"] if consensus_c else None,
            "slot": (execution or {}).get("slot"), "planned": False,
        }
    data["containers"] = [m["name"] for m in members]
    label = pair + (f": {data['client']} + {data['consensus']}" if data["client"] and data["consensus"] else "")
    return TreeNode("pair", f"{host}/pair/{pair}", label, None, data, children)


def _balancer(fleet: Fleet, host: str, b: Any, chain: str, hv: Mapping[str, Any], node_host: Mapping[str, str],
              info: Mapping[tuple[str, str], tuple[dict[str, Any], Level | None]],
              endpoint_of: Mapping[tuple[str, str], Any], safe_url: Any) -> TreeNode:
    """A balancer and its backends: built once per balancer, the same node under every
    supplier it serves (``{host}/balancer/{name}``, its backends ``.../backend/{name}``)."""
    cdata, level = info[host, b.name]
    entry: dict[str, Any] = next((e for e in hv.get(host, {}).get("fleet_balancers", []) if e.get("name") == b.name), {})
    data = {**cdata, "port": b.port, "stats_port": entry.get("stats_port"), "service": chain,
            "backends": [be.name for be in b.backends]}
    key = f"{host}/balancer/{b.name}"
    backends = []
    for be in b.backends:
        bdata: dict[str, Any] = {"name": be.name, "client": be.client, "chain": chain, "url": safe_url(be.url),
                                 "adopted": bool(be.adopted)}
        blevel = None
        if be.adopted:
            ep = endpoint_of.get((chain, be.name))
            bdata["host"] = ep.host if ep is not None else None
        else:
            where = node_host.get(be.name)
            bdata["host"] = where
            got = info.get((where, be.name)) if where is not None else None
            if got is not None:
                c, blevel = got
                for k in ("status", "running", "uptime_s", "version", "image", "consensus", "observed", "exists"):
                    bdata[k] = c[k]
        bdata["balancer"] = b.name
        backends.append(TreeNode("backend", f"{key}/backend/{be.name}", be.name, blevel, bdata))
    return TreeNode("balancer", key, b.name, level, data, tuple(backends))


def _supplier(s: Any, sp: Any) -> dict[str, Any]:
    return {"name": sp.supplier, "operator_address": s.operator_address if s is not None else None,
            "owner_address": s.owner_address if s is not None else None, "services": list(sp.services),
            "host": sp.host, "pinned": s is not None and s.host is not None,
            "planned": s.planned if s is not None else None}


def _endpoint(e: Any, key: str, safe_url: Any) -> TreeNode:
    return TreeNode("endpoint", key, e.name, None, {
        "name": e.name, "url": safe_url(e.url), "client": e.client, "chain": e.chain, "layer": e.layer,
        "pair": e.pair, "host": e.host, "adopted": True})


def _pocket_vars(v: Mapping[str, Any], role: str) -> dict[str, Any]:
    """What the plan's variables say of a host's Pocket process (never its node URLs)."""
    if role == "relayminer":
        rm = v.get("fleet_relayminer") or {}
        return {"listen_address": rm.get("listen_address"), "port": rm.get("port"), "metrics_port": rm.get("metrics_port"),
                "ping_port": rm.get("ping_port"), "signing_key_names": list(rm.get("signing_key_names") or []),
                "services": [s.get("service_id") for s in rm.get("suppliers") or []]}
    morse = v.get("fleet_morse") or {}
    return {"chains": [c.get("id") for c in morse.get("chains") or []]}


def _capacity(r: Any) -> dict[str, float] | None:
    if r is None:
        return None
    return {"cpus": float(r.cpus), "memory_gb": round(float(r.memory_gb), 2), "disk_gb": round(float(r.disk_gb), 2)}
