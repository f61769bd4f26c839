"""The fleet tree and container logs on the lab (fleetctl.workflows.fleet / .logs, what the TUI's
Fleet view shows): real hosts over SSH, real Docker engines.

The lab fleet is applied (if it is not already) and left applied: each host's pair runs, its
RelayMiner serves its two suppliers through the host's balancer; a log is read and followed until
cancelled, or until its container stops (which the tree then shows as CRITICAL; it is started
again after)."""

from __future__ import annotations

import threading

import pytest

from fleetctl.core.events import CancelToken, HostTask, StepFinished
from fleetctl.core.levels import Level
from fleetctl.provision.dockerssh import docker_client
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows import fleet as job
from fleetctl.workflows import logs

from conftest import LAB_INV, apply_json

pytestmark = pytest.mark.lab

#: The lab's provisioned pairs once applied: host, execution client, consensus container (None:
#: Erigon's Caplin inside the execution container).
PAIRS = {"eth-geth-1": ("lab-h1", "geth", "eth-geth-1-nimbus"),
         "eth-nethermind-1": ("lab-h2", "nethermind", "eth-nethermind-1-lodestar"),
         "eth-erigon-1": ("lab-h3", "erigon", None)}


@pytest.fixture(scope="module")
def fleet(lab):
    """The lab inventory, applied (idempotent: converges whatever an earlier module left)."""
    rc, res = apply_json(LAB_INV)
    assert rc == 0, res
    return load_inventory(LAB_INV)


def _wait_lines(tail, want: int, out: list[str]) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """Read ``tail`` in a thread into ``out``; ``got`` is set at ``want`` lines, ``done`` at its end."""
    got, done = threading.Event(), threading.Event()

    def reader():
        try:
            for line in tail:
                out.append(line)
                if len(out) >= want:
                    got.set()
        finally:
            got.set()
            done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread, got, done


def test_execute_shows_each_hosts_pairs_running(fleet):
    events = []
    tree = job.execute(fleet, on_event=events.append)
    assert tree.errors == () and tree.observed_at is not None
    assert [r.key for r in tree.roots] == ["lab-h1", "lab-h2", "lab-h3"]
    assert all(r.level == Level.OK and r.data["reachable"] for r in tree.roots)
    assert {e.host for e in events if isinstance(e, HostTask) and e.status == "ok"} == {"lab-h1", "lab-h2", "lab-h3"}
    assert [e.step for e in events if isinstance(e, StepFinished)] == ["observe", "plan"]

    for name, (host, client, consensus) in PAIRS.items():
        pairs = [c for c in tree.find(host).children if c.kind == "pair"]
        assert [p.key for p in pairs] == [f"{host}/pair/{name}"]
        members = pairs[0].children
        assert [m.label for m in members] == [name] + ([consensus] if consensus else [])
        for m in members:
            d = m.data
            assert m.level == Level.OK, (m.key, d["status"])
            assert d["running"] is True and d["status"].startswith("Up") and d["exists"] and d["action"] == "leave"
            assert isinstance(d["uptime_s"], int) and d["uptime_s"] >= 0 and d["started_at"]
            assert d["version"] == "lab" and d["image"].startswith("fleetlab/") and d["chain"] == "eth"
        assert members[0].data["client"] == client
        assert members[0].data["consensus"] == ("caplin" if consensus is None else consensus.rsplit("-", 1)[1])

    for host in ("lab-h1", "lab-h2", "lab-h3"):
        node = tree.find(host)
        (rm,) = [c for c in node.children if c.kind == "relayminer"]
        assert rm.level == Level.OK and rm.data["running"] is True and len(rm.children) == 2
        for sup in rm.children:
            (bal,) = sup.children
            assert bal.label == "lb-eth" and bal.level == Level.OK and bal.data["host"] == host
            backends = {b.label: b for b in bal.children}
            assert set(backends) == set(PAIRS) | {"lab-h1-geth", "lab-h2-nethermind", "lab-h3-erigon"}
            assert all(backends[n].level == Level.OK and backends[n].data["host"] == PAIRS[n][0] for n in PAIRS)
        assert len([c for c in node.children if c.kind == "endpoint"]) == 2
        assert not [c for c in node.children if c.kind == "container"]  # nothing left over


def test_tail_reads_a_lab_container_and_ends_on_cancel(fleet):
    token = CancelToken()
    lines: list[str] = []
    with logs.tail(fleet, "lab-h1", "eth-geth-1", lines=20, cancel=token) as tail:
        _, got, done = _wait_lines(tail, 1, lines)
        assert got.wait(30) and lines, "no line from eth-geth-1"
        assert not done.is_set()  # following: waits for more
        token.cancel("test")
        assert done.wait(5), "the follow did not end on cancel"
    assert any("client=geth" in line for line in lines), lines


def test_only_fleet_containers_may_be_read(fleet):
    with pytest.raises(logs.LogsError, match=r"^lab-h1: no fleetctl container named lab-front-geth \(there: "):
        logs.tail(fleet, "lab-h1", "lab-front-geth")


def test_a_stopped_container_ends_its_log_and_is_critical(fleet):
    name = PAIRS["eth-geth-1"][2]
    client = docker_client(fleet.hosts["lab-h1"])
    try:
        lines: list[str] = []
        tail = logs.tail(fleet, "lab-h1", name, lines=5)
        _, got, done = _wait_lines(tail, 1, lines)
        assert got.wait(30) and lines
        client.api.stop(name, timeout=2)
        assert done.wait(30), "the follow did not end when the container stopped"
        tree = job.execute(fleet)
        node = tree.find(f"lab-h1/container/{name}")
        assert node.level == Level.CRITICAL and node.data["running"] is False and node.data["action"] == "recreate"
        assert tree.find("lab-h1/pair/eth-geth-1").worst == Level.CRITICAL
    finally:
        client.api.start(name)
        client.close()
    node = job.execute(fleet).find(f"lab-h1/container/{name}")
    assert node.level == Level.OK and node.data["running"] is True
