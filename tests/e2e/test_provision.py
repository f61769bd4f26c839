"""plan / apply / diversity on the lab: real hosts, real Docker engines, real Ansible.

From empty to a converged fleet, idempotent re-apply, a changed mix that moves only what must
move, a host that is down, and a balancer that survives one client's failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from fleetctl.provision.dockerssh import docker_client
from fleetctl.spec.loader import load_inventory
from fleetlab import manager as M

from conftest import EXAMPLE, LAB_INV, apply_json, run_cli, wipe_managed

pytestmark = pytest.mark.lab


def rpc(url: str, method: str = "eth_blockNumber", headers: dict | None = None, timeout: float = 5):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def inv(lab, tmp_path_factory):
    """A copy of the lab inventory the tests may edit; everything fleetctl made is removed after."""
    root = tmp_path_factory.mktemp("inv") / "lab"
    shutil.copytree(LAB_INV, root)
    wipe_managed()
    yield root
    wipe_managed()


def set_fleet(root: Path, **subs: str) -> None:
    text = (LAB_INV / "fleet.yml").read_text()
    for old, new in subs.items():
        assert old in text, old
        text = text.replace(old, new)
    (root / "fleet.yml").write_text(text)


def plan_json(root: Path, *extra: str) -> tuple[int, dict]:
    proc = run_cli("plan", "-i", str(root), "-o", "json", *extra)
    assert proc.returncode in (0, 2), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_offline_plan_connects_nowhere():
    proc = run_cli("plan", "--offline", "-i", str(EXAMPLE), "-o", "json", "--detailed-exitcode")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["offline"] and doc["changes"] == len(doc["actions"]) > 0
    assert {a["action"] for a in doc["actions"]} == {"create"}
    nodes = [a for a in doc["actions"] if a["role"] == "node"]
    eth = [a for a in nodes if a["chain"] == "eth"]
    # 6 replicas of eth, one adopted Geth: 5 provisioned, no client above 34% (2 of 6)
    assert len(eth) == 5
    per_client = {c: sum(1 for a in eth if a["client"] == c) + (c == "geth") for c in ("geth", "nethermind", "erigon")}
    assert per_client == {"geth": 2, "nethermind": 2, "erigon": 2}
    # .example hosts are never resolved or connected to in offline mode
    assert all(a["host"] in load_inventory(EXAMPLE).hosts for a in doc["actions"])


def test_infeasible_mix_is_explained(tmp_path):
    root = tmp_path / "inv"
    shutil.copytree(EXAMPLE, root)
    text = (root / "fleet.yml").read_text().replace("    replicas: 2\n    max_client_share: 0.5", "    replicas: 4\n    max_client_share: 0.34")
    (root / "fleet.yml").write_text(text)
    proc = run_cli("plan", "--offline", "-i", str(root))
    assert proc.returncode == 1
    assert re.search(r"infeasible: gnosis: 4 replicas, 2 clients, max_client_share 0\.34 .*needs at least \d+ clients", proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr


def _in_container(client, name: str, code: str) -> str:
    """Run Python (the host's, bind-mounted) inside a lab container; its stdout."""
    rc, out = client.containers.get(name).exec_run(["/usr/bin/python3", "-I", "-S", "-c", code])
    assert rc == 0, out
    return out.decode().strip()


JWT_FACTS = ("import hashlib, os; p = '/fleet/jwtsecret'; st = os.stat(p); "
             "print(oct(st.st_mode & 0o777), st.st_uid, hashlib.sha256(open(p, 'rb').read()).hexdigest())")


def test_apply_from_empty_then_idempotent(inv):
    rc, plan = plan_json(inv, "--detailed-exitcode")
    assert rc == 2
    creates = [a for a in plan["actions"] if a["action"] == "create"]
    assert sorted({a["role"] for a in creates}) == ["balancer", "consensus", "node", "relayminer"]
    nodes = [a for a in creates if a["role"] == "node"]
    assert sorted(a["client"] for a in nodes) == ["erigon", "geth", "nethermind"]
    assert len({a["host"] for a in nodes}) == 3  # spread over the three hosts
    assert all(a["layer"] == "execution" and a["pair"] == a["target"] for a in nodes)
    # Every pair gets a consensus client: two containers beside Geth and Nethermind, Caplin inside
    # Erigon (no container of its own). The adopted beacon nodes are Lighthouse, Prysm and Teku.
    cls = [a for a in creates if a["role"] == "consensus"]
    assert all(a["layer"] == "consensus" for a in cls)
    pair_of = {a["pair"]: a for a in cls}
    assert set(pair_of) == {a["target"] for a in nodes if a["client"] != "erigon"}
    assert sorted(a["client"] for a in cls) == ["lodestar", "nimbus"]
    for a in cls:  # on the host of its execution node, named after it
        el = next(n for n in nodes if n["target"] == a["pair"])
        assert a["host"] == el["host"] and a["target"] == f"{el['target']}-{a['client']}"
    for a in plan["actions"]:
        if a["role"] in ("balancer", "relayminer"):
            assert a["layer"] is None and a["pair"] is None
    assert plan["consensus_counts"]["eth"] == {"lighthouse": 1, "prysm": 1, "teku": 1, "nimbus": 1, "lodestar": 1,
                                               "caplin": 1}

    rc, res = apply_json(inv)
    assert rc == 0, res
    assert res["changes"] > 0 and res["failed_hosts"] == []

    # the planned containers run where planned
    fleet = load_inventory(inv)
    for a in nodes + cls:
        client = docker_client(fleet.hosts[a["host"]])
        try:
            c = client.containers.get(a["target"])
            assert c.status == "running" and c.labels["io.fleetctl.client"] == a["client"]
            assert c.labels["io.fleetctl.pair"] == a["pair"] and c.labels["io.fleetctl.layer"] == a["layer"]
        finally:
            client.close()

    # Each pair: one JWT, 0600 on the host and the same file in both containers; the consensus
    # container lives in its execution container's network namespace; the Engine API answers
    # inside the pair only (the consensus front authenticates with the JWT over it, or it would
    # report el_offline), never from another host nor from the host's own addresses.
    for a in cls:
        host = fleet.hosts[a["host"]]
        client = docker_client(host)
        try:
            el = client.containers.get(a["pair"])
            cl = client.containers.get(a["target"])
            assert cl.attrs["HostConfig"]["NetworkMode"] == f"container:{el.id}"
            assert el.attrs["HostConfig"]["NetworkMode"] not in ("host", "none")
            on_host = Path(f"/var/lib/fleetctl-lab/hosts/{host.name}/etc/jwt/{a['pair']}/jwtsecret")
            assert oct(on_host.stat().st_mode & 0o777) == "0o600"
            facts = {_in_container(client, n, JWT_FACTS) for n in (a["pair"], a["target"])}
            assert len(facts) == 1, facts  # identical mode, owner and content in both
            mode, _, digest = facts.pop().split()
            assert mode == "0o600" and len(on_host.read_text().strip()) == 64
            published = el.attrs["HostConfig"]["PortBindings"] or {}
            authrpc = 8551 + 10 * int(el.labels["io.fleetctl.slot"])
            assert f"{authrpc}/tcp" not in published, published
        finally:
            client.close()
        beacon = 5052 + 10 * int(el.labels["io.fleetctl.slot"])
        deadline, data = time.monotonic() + 30, None
        while time.monotonic() < deadline:  # the consensus front starts after its container
            try:
                with urllib.request.urlopen(f"http://{host.address}:{beacon}/eth/v1/node/syncing", timeout=5) as resp:
                    data = json.loads(resp.read())["data"]
                if data["el_offline"] is False:
                    break
            except OSError as exc:
                data = str(exc)
            time.sleep(0.5)
        assert isinstance(data, dict) and data["el_offline"] is False and int(data["head_slot"]) > 0, data
        for other in M.HOSTS:
            if other.address != host.address:
                assert not _connects(other, host.address, authrpc)
        assert not _connects(None, host.address, authrpc)
        assert not _connects(None, "127.0.0.1", authrpc)

    # diversity, observed: 3 adopted + 3 provisioned, 2 of each execution client = 33% <= 34%,
    # and one of each of the six consensus clients (Caplin counted as its own)
    proc = run_cli("diversity", "-i", str(inv), "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    div = json.loads(proc.stdout)
    assert div["status"] == "OK"
    assert div["chains"]["eth"]["counts"] == {"geth": 2, "nethermind": 2, "erigon": 2}
    assert all(abs(s - 1 / 3) < 1e-3 for s in div["chains"]["eth"]["shares"].values())
    consensus = div["chains"]["eth"]["consensus"]
    assert consensus["status"] == "OK" and {c: n for c, n in consensus["counts"].items() if n} == \
        {"lighthouse": 1, "prysm": 1, "teku": 1, "nimbus": 1, "lodestar": 1, "caplin": 1}, consensus

    # each host's balancer answers JSON-RPC through to the chain
    head = int(rpc(M.ANVIL_URL)["result"], 16)
    for h in M.HOSTS:
        got = int(rpc(f"http://{h.address}:7600")["result"], 16)
        assert abs(got - head) <= 2
    # a relay through the RelayMiner reaches the chain
    relayed = rpc(f"http://{M.HOSTS[0].address}:8500", headers={"Target-Service-Id": "eth"})
    assert abs(int(relayed["result"], 16) - head) <= 2

    # again: nothing to do, and apply says so
    rc, plan = plan_json(inv, "--detailed-exitcode")
    assert rc == 0 and plan["changes"] == 0, plan
    rc, res = apply_json(inv)
    assert rc == 0 and res["changes"] == 0, res


def _connects(host: M.LabHost | None, address: str, port: int) -> bool:
    """A TCP connection from inside a lab host's namespace (None: the root namespace)."""
    import subprocess

    code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()\n"
            "except OSError:\n sys.exit(1)")
    prefix = ["nsenter", f"--net=/run/netns/{host.netns}", "--"] if host else []
    return subprocess.run(prefix + ["/usr/bin/python3", "-I", "-S", "-c", code, address, str(port)],
                          capture_output=True, timeout=10).returncode == 0


def test_changed_mix_moves_only_what_must(inv):
    rc, before = plan_json(inv)
    kept = {a["target"] for a in before["actions"] if a["role"] == "node"}
    set_fleet(inv, **{"replicas: 6 ": "replicas: 9 "})
    rc, plan = plan_json(inv, "--detailed-exitcode")
    assert rc == 2
    nodes = [a for a in plan["actions"] if a["role"] == "node"]
    assert {a["target"] for a in nodes if a["action"] == "leave"} == kept
    assert sorted(a["client"] for a in nodes if a["action"] == "create") == ["erigon", "geth", "nethermind"]
    assert not [a for a in nodes if a["action"] in ("remove", "recreate")]
    assert {a["action"] for a in plan["actions"] if a["role"] == "relayminer"} == {"leave"}
    rc, res = apply_json(inv)
    assert rc == 0 and res["failed_hosts"] == [], res
    # and back: only the three new nodes go
    set_fleet(inv)
    rc, plan = plan_json(inv)
    removed = [a for a in plan["actions"] if a["action"] == "remove"]
    gone = [a for a in removed if a["role"] == "node"]
    assert len(gone) == 3
    # a removed node takes its consensus container with it (Caplin has none)
    assert sorted(a["pair"] for a in removed if a["role"] == "consensus") == \
        sorted(a["target"] for a in gone if a["client"] != "erigon")
    assert len(removed) == len(gone) + sum(1 for a in gone if a["client"] != "erigon")
    assert {a["target"] for a in plan["actions"] if a["role"] == "node" and a["action"] == "leave"} == kept
    rc, res = apply_json(inv)
    assert rc == 0, res
    rc, plan = plan_json(inv)
    assert plan["changes"] == 0, plan
    # a share that changes no count moves nothing; one that cannot be met is refused, not applied
    set_fleet(inv, **{"max_client_share: 0.34": "max_client_share: 0.5"})
    rc, plan = plan_json(inv)
    assert plan["changes"] == 0, plan
    set_fleet(inv, **{"max_client_share: 0.34": "max_client_share: 0.3"})
    proc = run_cli("plan", "-i", str(inv))
    assert proc.returncode == 1 and "infeasible: eth: " in proc.stderr, proc.stderr
    set_fleet(inv)


def test_balancer_survives_one_client(inv):
    fleet = load_inventory(inv)
    rc, plan = plan_json(inv)
    geth = next(a for a in plan["actions"] if a["role"] == "node" and a["client"] == "geth")
    client = docker_client(fleet.hosts[geth["host"]])
    try:
        client.containers.get(geth["target"]).stop(timeout=1)
        ok = 0
        for _ in range(20):
            try:
                if "result" in rpc(f"http://{M.HOSTS[0].address}:7600", timeout=3):
                    ok += 1
            except OSError:
                pass
            time.sleep(0.1)
        assert ok >= 18, ok  # at most a retry's worth of hiccups while HAProxy marks it down
    finally:
        client.containers.get(geth["target"]).start()
        client.close()
    rc, res = apply_json(inv)
    assert rc == 0, res


def _bring_back(h: M.LabHost) -> None:
    M.Lab()._sshd(h)
    M._wait("sshd", lambda: M._tcp_open(h.address, 22))


def _rerun_converges(inv: Path) -> None:
    """With the host back: a re-run converges it, and nothing is left to do."""
    rc, res = apply_json(inv)
    assert rc == 0 and res["failed_hosts"] == [], res
    rc, plan = plan_json(inv)
    assert plan["changes"] == 0, plan


def test_host_down_others_converge_rerun_converges(inv):
    """lab-h3 is down while the fleet grows: the others converge, lab-h3 is named, exit 1; once it
    is back, a re-run converges it. (The fleet is left grown: the next test shrinks it.)"""
    h3 = M.HOSTS[2]
    set_fleet(inv, **{"replicas: 6 ": "replicas: 9 "})
    rc, plan = plan_json(inv)
    assert "lab-h3" in {a["host"] for a in plan["actions"] if a["action"] != "leave"}, plan
    pid = int((h3.run / "sshd.pid").read_text())
    os.killpg(pid, signal.SIGTERM)
    time.sleep(0.3)
    try:
        proc = run_cli("apply", "-i", str(inv), "-o", "json", "--yes", timeout=600)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        res = json.loads(proc.stdout)
        assert res["failed_hosts"] == ["lab-h3"], res
        assert res["hosts"]["lab-h1"]["status"] in ("ok", "changed")
        assert "lab-h3" in {u["host"] for u in res["plan"]["unreachable"]}
    finally:
        _bring_back(h3)
    _rerun_converges(inv)


def _kill_sshd(h: M.LabHost) -> None:
    """Take a lab host off the network for SSH: its sshd and every session it serves."""
    for pid in M.Lab()._ns_pids(h):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_host_lost_mid_apply(inv):
    """sshd of lab-h3 dies while apply runs (shrinking the fleet the previous test grew, or
    growing it when this test runs alone): the others converge, the summary names lab-h3, exit 1;
    once it is back, a re-run converges it."""
    import subprocess

    from conftest import fleetctl_bin

    h3 = M.HOSTS[2]
    set_fleet(inv)
    rc, plan = plan_json(inv)
    grew = not plan["changes"]
    if grew:
        set_fleet(inv, **{"replicas: 6 ": "replicas: 9 "})
        rc, plan = plan_json(inv)
    assert "lab-h3" in {a["host"] for a in plan["actions"] if a["action"] != "leave"}, plan
    proc = subprocess.Popen([fleetctl_bin(), "apply", "-i", str(inv), "--yes"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # Plain progress lines (no terminal): the first change means the run is under way, and
        # Ansible's linear strategy keeps every host on the same task, so lab-h3 has work left.
        for line in proc.stderr:
            if ": changed: " in line:
                break
        _kill_sshd(h3)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 1, out + err
        assert "FAILED on lab-h3" in out, out
        assert re.search(r"^lab-h1\s+(ok|changed)\s", out, re.M), out
    finally:
        if proc.poll() is None:
            proc.kill()
        _bring_back(h3)
    _rerun_converges(inv)
    if grew:  # back to the lab's mix for the tests after this one
        set_fleet(inv)
        rc, res = apply_json(inv)
        assert rc == 0, res


def test_apply_refuses_without_yes_and_terminal(inv):
    proc = run_cli("apply", "-i", str(inv))
    assert proc.returncode == 2
    assert "pass --yes" in proc.stderr


def test_check_changes_nothing(inv):
    set_fleet(inv, **{"replicas: 6 ": "replicas: 9 "})
    try:
        proc = run_cli("apply", "-i", str(inv), "--check", "--diff", "--limit", "lab-h1", "--forks", "1", "-o", "json", timeout=600)
        assert proc.returncode == 0, proc.stderr
        res = json.loads(proc.stdout)
        assert res["check"] is True and list(res["hosts"]) == ["lab-h1"], res
        bad = run_cli("apply", "-i", str(inv), "--check", "--limit", "lab-h9")
        assert bad.returncode == 2 and "--limit: no host 'lab-h9'" in bad.stderr
        rc, plan = plan_json(inv)
        assert sum(1 for a in plan["actions"] if a["action"] == "create") >= 3  # still to do
    finally:
        set_fleet(inv)


def test_morse_fleet_chains_json_and_relay(inv, tmp_path):
    """protocol morse: each host gets chains.json mapping 0021 to its balancer, and a Morse node
    (the lab's stand-in image) relays through it to the chain."""
    import hashlib

    wipe_managed()
    root = tmp_path / "morse"
    shutil.copytree(LAB_INV, root)
    nodes = [hashlib.sha256(f"lab-morse-node-{i}".encode()).hexdigest()[:40] for i in range(1, 4)]
    text = (LAB_INV / "fleet.yml").read_text()
    text = text.replace("protocol: shannon", "protocol: morse").replace("  rest_url: http://10.213.0.1:1317\n", "  rpc_url: http://10.213.0.1:8081\n")
    head, _, _ = text.partition("suppliers:")
    _, _, tail = text.partition("\n# Lab hosts are small")
    sups = "".join(f"  - {{name: morse-{i}, operator_address: {a}, services: [eth], host: lab-h{i}}}\n" for i, a in enumerate(nodes, 1))
    (root / "fleet.yml").write_text(head + "suppliers:\n" + sups + "\n# Lab hosts are small" + tail)
    try:
        rc, res = apply_json(root)
        assert rc == 0 and res["failed_hosts"] == [], res
        for h in M.HOSTS:
            chains = json.loads(Path(f"/var/lib/fleetctl-lab/hosts/{h.name}/etc/morse/chains.json").read_text())
            assert [(c["id"], c["url"]) for c in chains] == [("0021", f"http://{h.address}:7600")], chains
        relay = {"payload": {"data": json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}), "method": "POST"},
                 "meta": {"block_height": 1}, "proof": {"blockchain": "0021"}}
        req = urllib.request.Request(f"http://{M.HOSTS[0].address}:8081/v1/client/relay", data=json.dumps(relay).encode(),
                                     headers={"Content-Type": "application/json"})
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    answer = json.loads(json.loads(resp.read())["response"])
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        head_now = int(rpc(M.ANVIL_URL)["result"], 16)
        assert abs(int(answer["result"], 16) - head_now) <= 2
        rc, plan = plan_json(root)
        assert plan["changes"] == 0, plan
        # health on a Morse fleet: each host's node against the network's height, the nodes' stakes.
        proc = run_cli("health", "-i", str(root), "-o", "json", "--db", str(tmp_path / "state.db"), "--no-alerts")
        doc = json.loads(proc.stdout)
        nodes = {c["target"]: c for c in doc["checks"] if c["kind"] == "pocket_node"}
        assert set(nodes) == {h.name for h in M.HOSTS}, nodes
        assert all(c["status"] == "OK" and c["network_height"] and c["height"] for c in nodes.values()), nodes
        assert {c["name"] for c in doc["checks"] if c["kind"] == "stake"} == {"morse-1", "morse-2", "morse-3"}
        assert not [c for c in doc["checks"] if c["kind"] == "relayminer"]
    finally:
        wipe_managed()
