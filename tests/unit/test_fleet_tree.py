"""The fleet tree (fleetctl.workflows.fleet, the TUI's Fleet view): its shape from the example
inventory without any connection (prepare), and from fabricated observations (execute, with the
hosts' engines faked at the one-host level so the real observe() runs): pairs and their
containers, the RelayMiner -> suppliers -> balancer -> backends chain, adopted endpoints under
their host, leftovers under the host; levels where something is wrong; engine answers that are
hostile (start times, labels) never break it. Also observe's ``details`` (start time, restart
count) against a fake engine, with the existing behaviour unchanged without it."""

from __future__ import annotations

import dataclasses
import json
import types
from collections import Counter
from datetime import datetime, timezone

import pytest
from conftest import EXAMPLE, LAB_INV

from fleetctl.core.events import Cancelled, CancelToken, HostTask, Progress, StepFinished, StepStarted
from fleetctl.core.levels import Level
from fleetctl.plan import model as pm
from fleetctl.plan.diff import make_plan
from fleetctl.provision import observe as observe_module
from fleetctl.provision.observe import Container, HostState
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows import fleet as job

#: "now" of the fabricated observations: 2026-12-04T12:00:00Z
NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=timezone.utc).timestamp()


def _no_ssh(*args, **kwargs):
    raise AssertionError("prepare connected to a host")


def _children(node, kind):
    return [c for c in node.children if c.kind == kind]


# ---------------------------------------------------------------------------------------------
# prepare: the example inventory, no connection
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def example_tree(monkeypatch):
    monkeypatch.setattr(observe_module, "_observe_host", _no_ssh)
    monkeypatch.setattr(observe_module, "observe", _no_ssh)
    return job.prepare(load_inventory(EXAMPLE))


def test_prepare_shapes_the_example_fleet_from_the_plan(example_tree):
    fleet = load_inventory(EXAMPLE)
    plan = make_plan(fleet, offline=True)
    tree = example_tree
    assert [r.key for r in tree.roots] == sorted(fleet.hosts)  # every endpoint of the example has a host
    assert all(r.kind == "host" and r.label == r.key for r in tree.roots)
    keys = [n.key for n in tree.walk()]
    assert len(keys) == len(set(keys)), [k for k, n in Counter(keys).items() if n > 1]
    assert {n.kind for n in tree.walk()} == set(job.KINDS)
    assert tree.observed_at is None and tree.errors == ()

    # host -> pairs -> containers: every planned node, on its host, execution container first
    for n in plan.placement.nodes:
        pair = tree.find(f"{n.host}/pair/{n.name}")
        assert pair is not None and pair.data["chain"] == n.chain and pair.data["client"] == n.client
        assert pair.data["consensus"] == n.consensus and pair.data["rpc_port"] == n.rpc_port
        names = [c.label for c in pair.children]
        assert names == [n.name] + ([n.consensus_name] if n.consensus_name else [])
        assert [c.key for c in pair.children] == [f"{n.host}/container/{x}" for x in names]
        ex = pair.children[0].data
        assert (ex["role"], ex["layer"], ex["client"], ex["chain"], ex["pair"]) == ("node", "execution", n.client, n.chain, n.name)
        assert ex["consensus"] == n.consensus
        if n.consensus == "caplin":
            assert len(pair.children) == 1 and pair.label == f"{n.name}: {n.client} + caplin"
        else:
            cl = pair.children[1].data
            assert (cl["role"], cl["layer"], cl["client"], cl["pair"]) == ("consensus", "consensus", n.consensus, n.name)
    pairs = [p for p in tree.walk() if p.kind == "pair"]
    assert len(pairs) == len(plan.placement.nodes)

    # host -> RelayMiner -> its suppliers -> a balancer per service -> the full nodes behind it
    by_host: dict[str, list] = {}
    for sp in plan.placement.suppliers:
        by_host.setdefault(sp.host, []).append(sp)
    lbs = {(b.host, b.chain): b for b in plan.placement.balancers}
    shared: dict[str, object] = {}
    for host, sps in by_host.items():
        (rm,) = _children(tree.find(host), "relayminer")
        assert rm.key == f"{host}/relayminer/relayminer" and rm.data["port"] == pm.RELAYMINER_PORT
        assert sorted(s.label for s in rm.children) == sorted(sp.supplier for sp in sps)
        for sup in rm.children:
            s = next(s for s in fleet.suppliers if s.name == sup.label)
            assert sup.kind == "supplier" and sup.key == f"{rm.key}/supplier/{s.operator_address or s.name}"
            assert sup.data["services"] == list(s.services) and sup.data["planned"] == s.planned
            assert [b.label for b in sup.children] == [pm.balancer_name(svc) for svc in s.services]
            for bal in sup.children:
                b = lbs[host, bal.data["chain"]]
                assert bal.kind == "balancer" and bal.data["port"] == b.port
                assert bal.key == f"{host}/balancer/{b.name}"  # its own key, not a path through a supplier
                # one node per balancer: every supplier it serves holds the same object
                assert shared.setdefault(bal.key, bal) is bal
                assert [x.label for x in bal.children] == [be.name for be in b.backends]
                assert all(x.kind == "backend" and x.key == f"{bal.key}/backend/{x.label}" for x in bal.children)
                for x, be in zip(bal.children, b.backends):
                    assert x.data["adopted"] == be.adopted and x.data["client"] == be.client
    assert not any(_children(tree.find(h), "relayminer") for h in fleet.hosts if h not in by_host)
    # the example has a host whose suppliers share a balancer: walk() lists it once
    uses = Counter(b.key for n in tree.walk() if n.kind == "supplier" for b in n.children)
    assert max(uses.values()) > 1
    assert sorted(n.key for n in tree.walk() if n.kind == "balancer") == sorted(uses)

    # adopted endpoints under their host; nothing left over
    hel = tree.find("el-hel-1")
    assert [e.key for e in _children(hel, "endpoint")] == ["el-hel-1/endpoint/eth-legacy-geth",
                                                          "el-hel-1/endpoint/eth-legacy-lighthouse"]
    assert _children(hel, "endpoint")[1].data["pair"] == "eth-legacy-geth"
    assert not any(_children(r, "container") for r in tree.roots)


def test_prepare_observes_nothing_and_judges_nothing(example_tree):
    for n in example_tree.walk():
        assert n.level is None, n.key
        if n.kind in ("container", "relayminer", "balancer"):
            assert n.data["observed"] is False and n.data["running"] is None and n.data["status"] == "not observed"
            assert n.data["uptime_s"] is None and n.data["planned"] is True and n.data["action"] == "create"
            assert n.data["version"] and n.data["image"] == n.data["planned_image"]
    assert example_tree.level is None and example_tree.roots[0].worst is None
    json.dumps(example_tree.as_dict())  # JSON-able all the way down


def test_versions_are_the_pinned_images_tags(example_tree):
    geth = next(n for n in example_tree.walk() if n.kind == "container" and n.data["client"] == "geth")
    assert geth.data["image"].startswith("ethereum/client-go:") and geth.data["version"] == geth.data["image"].split(":")[-1]


# ---------------------------------------------------------------------------------------------
# execute: fabricated observations of the lab fleet
# ---------------------------------------------------------------------------------------------


def _c(host, name, role, chain, client, running=True, status="Up 2 minutes", spec="spec", **kw):
    return Container(host, name, role, chain, client, spec, running, status, **kw)


def _observed(lab_plan):
    """What the lab runs once applied, with a few things wrong."""
    out: dict[str, list[Container]] = {}
    images = {"node": "fleetlab/{client}:lab", "consensus": "fleetlab/{client}:lab", "balancer": "fleetlab/haproxy:lab",
              "relayminer": "fleetlab/relayminer:lab"}
    for d in lab_plan.desired:
        n = next((n for n in lab_plan.placement.nodes if n.name == d.pair), None)
        out.setdefault(d.host, []).append(_c(
            d.host, d.name, d.role, d.chain, d.client, spec=d.spec, image=images[d.role].format(client=d.client),
            slot=n.slot if n is not None else None, pair=d.pair,
            consensus=n.consensus if n is not None and d.role == "node" else None,
            started_at="2026-12-04T11:58:20.123456789Z", restart_count=0))
    return out


@pytest.fixture
def lab_fleet():
    return load_inventory(LAB_INV)


@pytest.fixture
def engines(monkeypatch, lab_fleet):
    """lab-h1 runs all it should, its Nimbus cut off in an old namespace; lab-h2's Nethermind has
    exited, its Lodestar was never created, and it runs a leftover container; lab-h3 is down."""
    base = _observed(make_plan(lab_fleet, offline=True))
    h1 = [dataclasses.replace(c, stale_namespace=True) if c.role == "consensus" else c for c in base["lab-h1"]]
    h2 = []
    for c in base["lab-h2"]:
        if c.role == "consensus":
            continue
        if c.role == "node":
            c = dataclasses.replace(c, running=False, status="Exited (137) 3 minutes ago", started_at="2026-12-04T11:00:00Z")
        h2.append(c)
    h2.append(_c("lab-h2", "lb-gnosis", "balancer", "gnosis", None, image="fleetlab/haproxy:lab"))
    states = {"lab-h1": HostState("lab-h1", True, None, h1, pm.Resources(2, 8, 50)),
              "lab-h2": HostState("lab-h2", True, None, h2, pm.Resources(2, 8, 50)),
              "lab-h3": HostState("lab-h3", False, "cannot reach 10.213.0.13:22 (Connection refused)")}
    calls = []

    def fake(host, timeout, details=False):
        calls.append((host.name, timeout, details))
        return states[host.name]

    monkeypatch.setattr(observe_module, "_observe_host", fake)
    monkeypatch.setattr(job, "time", types.SimpleNamespace(time=lambda: NOW))
    return calls


def test_execute_shows_what_runs_with_levels(engines, lab_fleet):
    events = []
    tree = job.execute(lab_fleet, on_event=events.append, timeout=4.0)
    assert sorted(engines) == [("lab-h1", 4.0, True), ("lab-h2", 4.0, True), ("lab-h3", 4.0, True)]
    assert tree.observed_at == NOW
    assert tree.errors == ("lab-h3: cannot reach 10.213.0.13:22 (Connection refused)",)
    keys = [n.key for n in tree.walk()]
    assert len(keys) == len(set(keys))

    h1, h2, h3 = tree.roots
    assert (h1.level, h2.level, h3.level) == (Level.OK, Level.OK, Level.UNKNOWN)
    assert h3.data["reachable"] is False and "Connection refused" in h3.data["error"]

    # lab-h1: its pair runs; the consensus container left in an old namespace is WARNING
    (pair,) = _children(h1, "pair")
    assert pair.key == "lab-h1/pair/eth-geth-1" and pair.label == "eth-geth-1: geth + nimbus"
    ex, cl = pair.children
    assert (ex.level, cl.level) == (Level.OK, Level.WARNING) and cl.data["stale_namespace"] is True
    assert ex.data["running"] is True and ex.data["uptime_s"] == 99 and ex.data["version"] == "lab"
    assert ex.data["status"] == "Up 2 minutes" and ex.data["action"] == "leave" and ex.data["restart_count"] == 0
    assert pair.worst == Level.WARNING

    # lab-h2: the exited Nethermind CRITICAL, its never-created Lodestar CRITICAL, the leftover
    # balancer under the host with the plan's "remove"
    (pair2,) = _children(h2, "pair")
    ex2, cl2 = pair2.children
    assert ex2.level == Level.CRITICAL and ex2.data["running"] is False and ex2.data["uptime_s"] is None
    assert ex2.data["action"] == "recreate"
    assert cl2.level == Level.CRITICAL and cl2.data["status"] == "not created" and cl2.data["exists"] is False
    (left,) = _children(h2, "container")
    assert left.key == "lab-h2/container/lb-gnosis" and left.data["action"] == "remove" and left.data["planned"] is False
    assert h2.worst == Level.CRITICAL and tree.level == Level.CRITICAL

    # lab-h3 down: what the plan wants there is shown, not judged
    (pair3,) = _children(h3, "pair")
    assert pair3.children[0].level is None and pair3.children[0].data["status"] == "unknown (host unreachable)"
    assert pair3.children[0].data["running"] is None

    # RelayMiner -> suppliers -> balancer -> backends carry their containers' state
    (rm,) = _children(h1, "relayminer")
    assert rm.level == Level.OK and [s.label for s in rm.children] == ["lab-sup-1", "lab-sup-2"]
    bal = rm.children[0].children[0]
    assert bal.key == "lab-h1/balancer/lb-eth" and rm.children[1].children == (bal,)  # shared by both suppliers
    assert bal.data["host"] == "lab-h1" and bal.data["service"] == "eth" and bal.level == Level.OK
    backends = {b.label: b for b in bal.children}
    assert backends["eth-nethermind-1"].level == Level.CRITICAL and backends["eth-nethermind-1"].data["host"] == "lab-h2"
    assert backends["eth-geth-1"].level == Level.OK and backends["eth-geth-1"].data["running"] is True
    assert backends["eth-erigon-1"].level is None  # on lab-h3: not observed
    assert backends["lab-h1-geth"].data["adopted"] is True and backends["lab-h1-geth"].level is None
    assert [e.label for e in _children(h1, "endpoint")] == ["lab-h1-geth", "lab-h1-lighthouse"]

    # events: observe (a HostTask and a Progress per host), then plan
    assert events[0] == StepStarted("fleet", "observe", "3 host(s)")
    assert [e.host for e in events if isinstance(e, HostTask)] and len([e for e in events if isinstance(e, Progress)]) == 3
    assert HostTask("lab-h3", "observe", "unreachable", "cannot reach 10.213.0.13:22 (Connection refused)") in events
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [f.step for f in finished] == ["observe", "plan"] and all(f.ok for f in finished)
    json.dumps(tree.as_dict())


def test_keys_stay_across_refreshes(engines, lab_fleet):
    a, b = job.execute(lab_fleet), job.execute(lab_fleet)
    assert [n.key for n in a.walk()] == [n.key for n in b.walk()]
    some = [n.key for n in a.walk()][7]
    assert b.find(some) is not None and b.find("lab-h1/container/nope") is None


def test_execute_cancelled_raises_and_says_so(engines, lab_fleet):
    token = CancelToken()
    token.cancel("operator")
    events = []
    with pytest.raises(Cancelled):
        job.execute(lab_fleet, on_event=events.append, cancel=token)
    assert events[-1].step == "observe" and events[-1].ok is False


def test_infeasible_fleet_still_shows_what_runs(engines, lab_fleet):
    chains = {cid: dataclasses.replace(c, replicas=1, clients=("geth",), endpoints=()) for cid, c in lab_fleet.chains.items()}
    bad = dataclasses.replace(lab_fleet, chains=chains)
    tree = job.execute(bad)
    assert any(e.startswith("infeasible:") for e in tree.errors)
    h1 = tree.roots[0]
    assert _children(h1, "pair") and _children(h1, "relayminer")  # from the containers' labels
    assert _children(h1, "relayminer")[0].children == ()  # no plan: no placement of suppliers


# ---------------------------------------------------------------------------------------------
# Size: a balancer shared by its suppliers, not repeated under each
# ---------------------------------------------------------------------------------------------


def big_inventory(root, suppliers: int, endpoints: int):
    """Three loopback hosts, ``endpoints`` adopted execution endpoints (never connected to: only
    prepare() reads this inventory) and ``suppliers`` suppliers of the one service."""
    from fleetlab.standin import lab_address

    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n" + "".join(
        f"    h{i}: {{ansible_host: 127.0.0.{i}}}\n" for i in (1, 2, 3)))
    clients = ("geth", "nethermind", "erigon")
    eps = "\n".join(f"      - {{name: ep-{i}, url: 'http://127.0.0.1:{20000 + i}', client: {clients[i % 3]}}}"
                    for i in range(endpoints))
    sups = "\n".join(f"  - {{name: sup-{i:04d}, operator_address: {lab_address(f'tree-{i}')}, services: [eth]}}"
                     for i in range(suppliers))
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
        f"chains:\n  eth:\n    clients: [geth, nethermind, erigon]\n    replicas: {endpoints + 6}\n"
        "    max_client_share: 0.34\n    consensus_clients: [nimbus, lodestar]\n    erigon: {consensus: caplin}\n"
        f"    endpoints:\n{eps}\nsuppliers:\n{sups}\n")
    return root


def test_a_balancer_is_one_node_under_all_its_suppliers(tmp_path, monkeypatch):
    monkeypatch.setattr(observe_module, "observe", _no_ssh)
    fleet = load_inventory(big_inventory(tmp_path / "inv", 1000, 300))
    tree = job.prepare(fleet)
    nodes = list(tree.walk())
    by_kind = Counter(n.kind for n in nodes)
    assert by_kind["supplier"] == 1000
    balancers = [n for n in nodes if n.kind == "balancer"]
    assert len(balancers) == len({(n.data["host"], n.label) for n in balancers}) >= 1
    backends_per = {b.key: len(b.children) for b in balancers}
    assert all(n >= 300 for n in backends_per.values())
    # each balancer and backend once: the tree grows as suppliers + backends, not their product
    assert by_kind["backend"] == sum(backends_per.values())
    assert by_kind["endpoint"] == 300  # no host: a root each
    assert len(nodes) < 1000 + sum(backends_per.values()) + 300 + 50  # + hosts, pairs, containers
    keys = [n.key for n in nodes]
    assert len(keys) == len(set(keys))
    # ...and every supplier still reaches its balancer and the backends behind it
    sups = [n for n in nodes if n.kind == "supplier"]
    assert all(len(s.children) == 1 and s.children[0].key in backends_per for s in sups)
    under = Counter(s.children[0].key for s in sups)
    assert sum(under.values()) == 1000 and max(under.values()) > 1
    # a front listing it as a tree, ids made from the path: unique though the nodes are shared
    rm = next(n for n in nodes if n.kind == "relayminer" and n.children)
    paths = [f"{rm.key}/{s.key}/{b.key}/{x.key}" for s in rm.children for b in s.children for x in b.children]
    assert len(paths) == len(set(paths)) == sum(len(s.children[0].children) for s in rm.children)
    # as_dict: a shared node in full where first met, then as a reference
    doc = tree.as_dict()
    listed = [b for r in doc["roots"] for c in r["children"] if c["kind"] == "relayminer"
              for s in c["children"] for b in s["children"]]
    assert len(listed) == 1000
    full = [b for b in listed if "ref" not in b]
    assert sorted(b["key"] for b in full) == sorted(backends_per)
    assert all(b["ref"] is True and "children" not in b and "data" not in b for b in listed if b not in full)
    json.dumps(doc)
    # find sees what is under a shared node
    assert tree.find(balancers[0].children[-1].key) is balancers[0].children[-1]


# ---------------------------------------------------------------------------------------------
# Hostile engine answers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    None, 0, 1733000000, 1.5, b"2026-12-04T11:58:20Z", ["2026-12-04T11:58:20Z"], {"t": 1}, True,
    "", "garbage", "2026-12-04", "2026-12-04 11:58:20", "2026-12-04T11:58:20",  # no zone
    "0001-01-01T00:00:00Z",  # Docker's zero time: never started
    "1969-12-31T23:59:59Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-12-04T24:00:00Z",
    "2026-12-04T11:60:00Z", "2026-12-04T11:58:60Z", "2026-12-04T11:58:20.1234567890Z",
    "2026-12-04T11:58:20+25:00", "2026-12-04T11:58:20+05:99", "2026-12-04T11:58:20Z\n", " 2026-12-04T11:58:20Z",
    "2026-12-04T11:58:20Z" + "0" * 100, "９９９９-12-04T11:58:20Z", "2026-12-04T11:58:20\x1b[2JZ",
    "2026-12-04T11:58:20.NaNZ", "+2026-12-04T11:58:20Z",
])
def test_hostile_started_at_reads_as_unknown(value):
    assert job.started_epoch(value) is None
    assert job.uptime_s(value, NOW) is None


@pytest.mark.parametrize("value,uptime", [
    ("2026-12-04T11:58:20.123456789Z", 99),
    ("2026-12-04T11:58:20Z", 100),
    ("2026-12-04T13:58:20+02:00", 100),  # the same instant, with an offset
    ("2026-12-04t11:58:20z", 100),
    ("2026-12-04T12:04:00Z", 0),  # 4 minutes ahead (the host's clock): within the skew allowed
    ("2026-12-04T12:10:00Z", None),  # 10 minutes ahead: not believed
    ("1970-01-01T00:00:00Z", int(NOW)),
    ("9999-12-31T23:59:59.999999999Z", None),
])
def test_started_at_to_uptime(value, uptime):
    assert job.uptime_s(value, NOW) == uptime


@pytest.mark.parametrize("image,version", [
    ("ethereum/client-go:v1.17.5", "v1.17.5"), ("nethermind/nethermind:1.39.3", "1.39.3"),
    ("registry.example:5000/geth", "latest"), ("registry.example:5000/geth:v1", "v1"), ("haproxy", "latest"),
    ("geth:v1@sha256:" + "a" * 64, "v1"), ("sha256:" + "b" * 64, None), ("", None), (None, None), (42, None),
    ("geth:", None), ("x" * 600, None), ("geth:v1\x1b[2J", None),
])
def test_image_version(image, version):
    assert job.image_version(image) == version


def test_hostile_labels_and_values_are_shown_safely(monkeypatch, lab_fleet):
    evil = [
        _c("lab-h1", "eth-geth-1", "node", "eth", "geth\x1b[2J\x07" + "g" * 500, image="fleetlab/geth:lab", slot=0,
           pair="eth-geth-1", consensus="nimbus", started_at="\x00" * 10, restart_count=-3),
        _c("lab-h1", "odd", "consensus\x1b]0;owned\x07", 12345, None, status="Up\r\n\x1b[31m", image=["x"],  # type: ignore[arg-type]
           started_at=1733000000, slot="7"),  # type: ignore[arg-type]
    ]

    def fake(host, timeout, details=False):
        if host.name == "lab-h1":
            return HostState("lab-h1", True, None, evil, None)
        return HostState(host.name, False, "down\x1b[2J http://user:hunter2@10.213.0.12:22/?key=tok")

    monkeypatch.setattr(observe_module, "_observe_host", fake)
    tree = job.execute(lab_fleet)
    text = json.dumps(tree.as_dict())
    assert "\\u001b" not in text and "\\u0007" not in text and "hunter2" not in text and "key=tok" not in text
    geth = tree.find("lab-h1/container/eth-geth-1")
    assert geth.data["client"].startswith("geth[2J") and len(geth.data["client"]) <= job.TEXT_LIMIT
    assert (geth.data["uptime_s"], geth.data["started_at"], geth.data["restart_count"]) == (None, None, None)
    odd = tree.find("lab-h1/container/odd")
    assert odd is not None and odd.data["chain"] is None and odd.data["image"] is None and odd.data["slot"] is None
    assert odd.data["uptime_s"] is None and odd.data["started_at"] is None


# ---------------------------------------------------------------------------------------------
# observe(details=True) against a fake engine
# ---------------------------------------------------------------------------------------------


class _FakeAPI:
    def __init__(self, listing, inspections):
        self.listing = listing
        self.inspections = inspections
        self.inspected: list[str] = []

    def containers(self, all, filters):
        return self.listing

    def inspect_container(self, name):
        self.inspected.append(name)
        doc = self.inspections[name]
        if isinstance(doc, Exception):
            raise doc
        return doc


class _FakeClient:
    def __init__(self, api):
        self.api = api

    def info(self):
        return {}

    def close(self):
        pass


def _listed(name, role, pair=None, running=True):
    labels = {"io.fleetctl.managed": "true", "io.fleetctl.name": name, "io.fleetctl.role": role, "io.fleetctl.chain": "eth"}
    if pair:
        labels["io.fleetctl.pair"] = pair
    return {"Names": [f"/{name}"], "Labels": labels, "State": "running" if running else "exited", "Status": "Up", "Image": "i:1"}


@pytest.fixture
def engine(monkeypatch, lab_fleet):
    from fleetctl.provision import dockerssh

    listing = [_listed("n1", "node", "n1"), _listed("n1-nimbus", "consensus", "n1"), _listed("lb-eth", "balancer"),
               _listed("rm", "relayminer"), _listed("gone", "balancer", running=False), _listed("weird", "balancer")]
    inspections = {
        "n1": {"State": {"StartedAt": "2026-12-04T11:59:00.5Z"}, "RestartCount": 2},
        "n1-nimbus": {"State": {"StartedAt": "2026-12-04T11:58:00Z"}, "RestartCount": 0},  # before n1: stale
        "lb-eth": {"State": {"StartedAt": 1733000000}, "RestartCount": "5"},
        "rm": {"State": {"StartedAt": "x" * 65}, "RestartCount": True},
        "gone": RuntimeError("No such container"),
        "weird": ["not", "a", "dict"],
    }
    api = _FakeAPI(listing, inspections)
    monkeypatch.setattr(dockerssh, "docker_client", lambda host, **kw: _FakeClient(api))
    return api


def test_observe_details_reads_start_times_once(engine, lab_fleet):
    st = observe_module.observe(lab_fleet, hosts=["lab-h1"], details=True)["lab-h1"]
    by = {c.name: c for c in st.containers}
    assert by["n1"].started_at == "2026-12-04T11:59:00.5Z" and by["n1"].restart_count == 2
    assert by["n1-nimbus"].stale_namespace is True and by["n1-nimbus"].restart_count == 0
    assert (by["lb-eth"].started_at, by["lb-eth"].restart_count) == (None, None)
    assert (by["rm"].started_at, by["rm"].restart_count) == (None, None)
    assert (by["gone"].started_at, by["weird"].started_at) == (None, None)
    assert sorted(engine.inspected) == sorted(by)  # once each: the stale check reuses them


def test_observe_without_details_is_unchanged(engine, lab_fleet):
    st = observe_module.observe(lab_fleet, hosts=["lab-h1"])["lab-h1"]
    by = {c.name: c for c in st.containers}
    assert all(c.started_at is None and c.restart_count is None for c in st.containers)
    assert by["n1-nimbus"].stale_namespace is True
    assert sorted(engine.inspected) == ["n1", "n1-nimbus"]  # the stale check's two, as before
