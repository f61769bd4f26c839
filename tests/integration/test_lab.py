"""The local lab from the outside: real sshd, real Docker engines over ssh://, real anvil behind
the client fronts, the Pocket stand-in, and the safety of the lab's address range."""

from __future__ import annotations

import json
import subprocess
import time
import contextlib
import urllib.error
import urllib.request

import paramiko
import pytest

from fleetctl.core.errors import FleetError
from fleetctl.provision.dockerssh import docker_client
from fleetctl.spec.loader import load_inventory
from fleetlab import manager as M

from conftest import LAB_INV, run_cli

pytestmark = pytest.mark.lab


def rpc(url: str, method: str, params: list | None = None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def post(url: str, body: dict):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_status_reports_everything_up(lab):
    proc = run_cli("lab", "status", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    st = json.loads(proc.stdout)
    assert st["up"] and st["blackhole"] and not st["problems"]
    assert [h["name"] for h in st["hosts"]] == ["lab-h1", "lab-h2", "lab-h3"]
    assert all(h["sshd"] and h["dockerd"] and h["front"]["up"] and h["beacon"]["up"] for h in st["hosts"])
    assert [h["beacon"]["name"] for h in st["hosts"]] == ["lab-h1-lighthouse", "lab-h2-prysm", "lab-h3-teku"]
    assert [h["beacon"]["pair"] for h in st["hosts"]] == ["lab-h1-geth", "lab-h2-nethermind", "lab-h3-erigon"]
    table = run_cli("lab", "status").stdout
    assert "lab: up" in table and "lab-h2-nethermind" in table and "lab-h3-teku" in table


def test_ssh_to_each_host_with_pinned_host_keys(lab):
    fleet = load_inventory(LAB_INV)
    for host in fleet.hosts.values():
        client = paramiko.SSHClient()
        client.load_host_keys(host.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(host.address, port=host.port, username=host.user, key_filename=host.identity_file,
                       look_for_keys=False, allow_agent=False, timeout=5)
        try:
            _, out, _ = client.exec_command("hostname; ip -4 -o addr show eth0; ip route show default; echo DOCKER_HOST=$DOCKER_HOST")
            text = out.read().decode()
        finally:
            client.close()
        lines = text.splitlines()
        assert lines[0] == host.name
        assert f"inet {host.address}/24" in lines[1]
        # No default route inside a host namespace: nothing there can reach beyond the lab.
        assert lines[2] == f"DOCKER_HOST=unix:///run/fleetctl-lab/h{host.name[-1]}/docker.sock"


def test_unknown_host_key_is_refused(lab, tmp_path):
    fleet = load_inventory(LAB_INV)
    host = fleet.hosts["lab-h1"]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    import dataclasses

    with pytest.raises(FleetError, match="is not in .*known_hosts; fleetctl does not trust unknown hosts"):
        docker_client(dataclasses.replace(host, known_hosts=str(empty)))
    # A known_hosts entry with another key for that address: refused as a changed key.
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    kind, key = (tmp_path / "other.pub").read_text().split()[:2]
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_text(f"{host.address} {kind} {key}\n")
    with pytest.raises(FleetError, match="does not match"):
        docker_client(dataclasses.replace(host, known_hosts=str(wrong)))


def test_docker_over_ssh_lists_containers(lab):
    fleet = load_inventory(LAB_INV)
    for host, client_name in zip(fleet.hosts.values(), ("geth", "nethermind", "erigon")):
        client = docker_client(host)
        try:
            info = client.info()
            assert info["Name"] == host.name  # each engine runs in its own host
            names = {c.name: c for c in client.containers.list()}
            front = names[f"lab-front-{client_name}"]
            assert front.status == "running"
            assert front.labels["io.fleetctl.lab.client"] == client_name
            assert front.attrs["HostConfig"]["NetworkMode"] == "host"
            assert client.images.get(f"fleetlab/{client_name}:lab")
        finally:
            client.close()


def test_fronts_serve_one_chain_as_three_clients(lab):
    versions = {}
    heights = []
    for h in M.HOSTS:
        versions[h.client] = rpc(h.front_url, "web3_clientVersion")["result"]
        heights.append(int(rpc(h.front_url, "eth_blockNumber")["result"], 16))
        assert rpc(h.front_url, "eth_syncing")["result"] is False
        assert int(rpc(h.front_url, "net_peerCount")["result"], 16) > 0
    assert versions["geth"].startswith("Geth/v") and "-stable-" in versions["geth"]
    assert versions["nethermind"].startswith("Nethermind/v") and "/linux-x64/dotnet" in versions["nethermind"]
    assert versions["erigon"].startswith("erigon/")
    common = hex(min(heights))
    hashes = {rpc(h.front_url, "eth_getBlockByNumber", [common, False])["result"]["hash"] for h in M.HOSTS}
    assert len(hashes) == 1, hashes  # the same canonical chain behind all three
    # anvil mines every second: the chain moves.
    time.sleep(M.BLOCK_TIME * 2.2)
    assert int(rpc(M.HOSTS[0].front_url, "eth_blockNumber")["result"], 16) > min(heights)


def test_fault_injection_through_the_cli(lab):
    front = M.HOSTS[0]
    try:
        proc = run_cli("lab", "fault", front.front_name, "--lag", "5", "-o", "json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["faults"]["lag"] == 5
        head = int(rpc(M.ANVIL_URL, "eth_blockNumber")["result"], 16)
        lagged = int(rpc(front.front_url, "eth_blockNumber")["result"], 16)
        assert head - 6 <= lagged <= head - 5
        run_cli("lab", "fault", front.front_name, "--refuse", "on", check=True)
        with pytest.raises(OSError):
            rpc(front.front_url, "eth_blockNumber")
    finally:
        run_cli("lab", "fault", front.front_name, "--clear", check=True)
    assert int(rpc(front.front_url, "eth_blockNumber")["result"], 16) >= head
    bad = run_cli("lab", "fault", "lab-h9-besu", "--lag", "1")
    assert bad.returncode == 1 and "no lab front named 'lab-h9-besu'" in bad.stderr


def test_pocket_standin_serves_the_lab_fleet(lab):
    fleet = load_inventory(LAB_INV)
    params = get(M.SHANNON_URL + "/pokt-network/poktroll/supplier/params")["params"]
    assert params["min_stake"] == {"denom": "upokt", "amount": "59500000000"}
    for s in fleet.suppliers:
        sup = get(f"{M.SHANNON_URL}/pokt-network/poktroll/supplier/supplier/{s.operator_address}")["supplier"]
        assert sup["operator_address"] == s.operator_address
        assert sup["stake"]["denom"] == "upokt" and int(sup["stake"]["amount"]) >= 59_500_000_000
        assert [svc["service_id"] for svc in sup["services"]] == list(s.services)
    h1 = int(get(M.SHANNON_URL + "/cosmos/base/tendermint/v1beta1/blocks/latest")["block"]["header"]["height"])
    morse_h = post(M.MORSE_URL + "/v1/query/height", {})["height"]
    assert h1 >= 1000 and morse_h >= 1000


def test_up_is_idempotent(lab):
    before = run_cli("lab", "status", "-o", "json", check=True).stdout
    ids = {}
    for host in load_inventory(LAB_INV).hosts.values():
        c = docker_client(host)
        ids[host.name] = sorted(x.id for x in c.containers.list())
        c.close()
    proc = run_cli("lab", "up", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["up"]
    for host in load_inventory(LAB_INV).hosts.values():
        c = docker_client(host)
        assert sorted(x.id for x in c.containers.list()) == ids[host.name]  # nothing recreated
        c.close()
    assert json.loads(before)["up"]


def test_lab_range_is_blackholed_in_the_root_namespace(lab):
    routes = subprocess.run(["ip", "route", "show", M.LAB_RANGE], capture_output=True, text=True).stdout
    assert "blackhole 10.213.0.0/16" in routes
    # An unused lab address goes nowhere: no route out of the machine.
    get_route = subprocess.run(["ip", "route", "get", "10.213.9.9"], capture_output=True, text=True)
    assert get_route.returncode != 0 or "blackhole" in get_route.stdout or "unreachable" in get_route.stderr.lower()


# --- Docker bridge networking and the consensus layer -------------------------------------------

import secrets  # noqa: E402
import socket  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"


def beacon(url: str, path: str):
    try:
        with urllib.request.urlopen(url + path, timeout=5) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def syncing(url: str) -> dict:
    status, body = beacon(url, "/eth/v1/node/syncing")
    assert status == 200, body
    return body["data"]


def connects_from(host: M.LabHost | None, address: str, port: int) -> bool:
    """A TCP connection from inside a lab host's namespace (None: the root namespace)."""
    code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()\n"
            "except OSError:\n sys.exit(1)")
    prefix = ["nsenter", f"--net=/run/netns/{host.netns}", "--"] if host else []
    return subprocess.run(prefix + [SYSTEM_PYTHON, "-I", "-S", "-c", code, address, str(port)],
                          capture_output=True, timeout=10).returncode == 0


def wait_until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_docker_engines_use_bridge_networking_inside_their_namespaces(lab):
    root_rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert "DOCKER" not in root_rules and "10.213." not in root_rules  # nothing in the root namespace
    for h in M.HOSTS:
        ns_rules = subprocess.run(["nsenter", f"--net=/run/netns/{h.netns}", "--", "iptables-save"],
                                  capture_output=True, text=True).stdout
        assert "DOCKER" in ns_rules and f"{h.bip.rsplit('.', 1)[0]}.0/24" in ns_rules
        addrs = subprocess.run(["ip", "-n", h.netns, "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True).stdout
        assert f"inet {h.bip}" in addrs


def test_a_bridged_containers_published_port_is_reachable_and_nothing_else(lab):
    h1, h2 = M.HOSTS[0], M.HOSTS[1]
    c = docker_client(load_inventory(LAB_INV).hosts[h1.name])
    name = "labtest-bridged"
    try:
        with contextlib.suppress(Exception):  # not there
            c.containers.get(name).remove(force=True)
        ct = c.containers.run("fleetlab/geth:lab", name=name, detach=True,
                              command=["--http.addr", "0.0.0.0", "--http.port", "8545", "--control-port", "9545"],
                              volumes={"/usr": {"bind": "/usr", "mode": "ro"}},
                              ports={"8545/tcp": (h1.address, 28545)}, labels={"io.fleetctl.lab": "test"})
        ct.reload()
        ip = ct.attrs["NetworkSettings"]["IPAddress"]
        assert ip.startswith(h1.bip.rsplit(".", 1)[0] + ".")  # docker0's /24, inside the lab range
        wait_until(lambda: connects_from(h2, h1.address, 28545))
        assert rpc(f"http://{h1.address}:28545", "eth_chainId")["result"]  # from the root namespace too
        assert not connects_from(h2, h1.address, 9545)  # not published
        assert not connects_from(h2, ip, 9545)  # the bridge is h1's alone
        assert not connects_from(None, h1.address, 9545)
    finally:
        with contextlib.suppress(Exception):  # not there
            c.containers.get(name).remove(force=True)
        c.close()


def test_adopted_consensus_fronts_follow_the_lab_chain(lab):
    head = int(rpc(M.ANVIL_URL, "eth_blockNumber")["result"], 16)
    versions = {}
    for h in M.HOSTS:
        data = syncing(h.beacon_url)
        assert abs(int(data["head_slot"]) - head) <= 2, (h.beacon_name, data, head)
        assert data["el_offline"] is False and data["is_syncing"] is False and data["sync_distance"] == "0"
        assert beacon(h.beacon_url, "/eth/v1/node/health")[0] == 200
        versions[h.consensus] = beacon(h.beacon_url, "/eth/v1/node/version")[1]["data"]["version"]
    assert versions["lighthouse"].startswith("Lighthouse/v") and versions["lighthouse"].endswith("/x86_64-linux")
    assert versions["prysm"].startswith("Prysm/v") and versions["prysm"].endswith("(linux amd64)")
    assert versions["teku"].startswith("teku/v") and "/linux-x86_64/" in versions["teku"]
    roots = {beacon(h.beacon_url, "/eth/v1/beacon/headers/3")[1]["data"]["root"] for h in M.HOSTS}
    assert len(roots) == 1  # one chain
    time.sleep(M.BLOCK_TIME * 2.2)
    assert int(syncing(M.HOSTS[0].beacon_url)["head_slot"]) > head  # it moves with the chain


def test_consensus_faults_through_the_cli(lab):
    h = M.HOSTS[0]
    url = h.beacon_url
    try:
        proc = run_cli("lab", "fault", h.beacon_name, "--syncing", "on", "-o", "json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["faults"]["syncing"] is True
        assert syncing(url)["is_syncing"] is True and beacon(url, "/eth/v1/node/health")[0] == 206
        run_cli("lab", "fault", h.beacon_name, "--clear", "--optimistic", "on", check=True)
        assert syncing(url)["is_optimistic"] is True and syncing(url)["is_syncing"] is False
        assert beacon(url, "/eth/v1/beacon/headers/head")[1]["execution_optimistic"] is True
        run_cli("lab", "fault", h.beacon_name, "--clear", "--el-offline", "on", check=True)
        assert syncing(url)["el_offline"] is True
        run_cli("lab", "fault", h.beacon_name, "--clear", "--lag", "6", check=True)
        assert syncing(url)["sync_distance"] == "6"
        canonical = beacon(M.HOSTS[1].beacon_url, "/eth/v1/beacon/states/head/finality_checkpoints")[1]["data"]["finalized"]
        run_cli("lab", "fault", h.beacon_name, "--clear", "--finalized-root-other", "on", check=True)
        other = beacon(url, "/eth/v1/beacon/states/head/finality_checkpoints")[1]["data"]["finalized"]
        assert other["root"] != canonical["root"]
        run_cli("lab", "fault", h.beacon_name, "--clear", "--peers", "2", check=True)
        assert beacon(url, "/eth/v1/node/peer_count")[1]["data"]["connected"] == "2"
        run_cli("lab", "fault", h.beacon_name, "--refuse", "on", check=True)
        assert not connects_from(None, h.address, M.BEACON_PORT)
        bad = run_cli("lab", "fault", h.beacon_name, "--error", "rpc")
        assert bad.returncode == 1 and "error must be" in bad.stderr
    finally:
        run_cli("lab", "fault", h.beacon_name, "--clear", check=True)
    assert syncing(url)["el_offline"] is False


def test_an_execution_front_refusing_takes_its_consensus_front_offline(lab):
    h = M.HOSTS[1]
    try:
        run_cli("lab", "fault", h.front_name, "--refuse", "on", check=True)
        wait_until(lambda: syncing(h.beacon_url)["el_offline"] is True)
        assert beacon(h.beacon_url, "/eth/v1/node/health")[0] == 206
    finally:
        run_cli("lab", "fault", h.front_name, "--clear", check=True)
    wait_until(lambda: syncing(h.beacon_url)["el_offline"] is False)


def test_a_provisioned_style_pair_in_one_namespace(lab, tmp_path):
    """An execution container on the bridge with its Engine API on its loopback, a consensus
    container in its namespace: the Beacon API published, the Engine API reachable from nowhere
    else; `lab fault` reaches both fronts by container name."""
    h, other = M.HOSTS[2], M.HOSTS[0]
    jwt = M.LAB_DIR / "hosts" / h.name / "labtest" / "jwtsecret"
    jwt.parent.mkdir(parents=True, exist_ok=True)
    jwt.write_text(secrets.token_hex(32))
    jwt.chmod(0o600)
    c = docker_client(load_inventory(LAB_INV).hosts[h.name])
    el_name, cl_name = "labtest-pair", "labtest-pair-lodestar"
    mounts = {"/usr": {"bind": "/usr", "mode": "ro"}, str(jwt): {"bind": "/fleet/jwtsecret", "mode": "ro"}}
    try:
        for n in (cl_name, el_name):
            with contextlib.suppress(Exception):  # not there
                c.containers.get(n).remove(force=True)
        c.containers.run("fleetlab/geth:lab", name=el_name, detach=True, volumes=mounts,
                         command=["--http.addr", "0.0.0.0", "--http.port", "8545", "--authrpc.addr", "127.0.0.1",
                                  "--authrpc.port", "8551", "--authrpc.jwtsecret", "/fleet/jwtsecret"],
                         ports={"8545/tcp": (h.address, 28545), "5052/tcp": (h.address, 25052)})
        c.containers.run("fleetlab/lodestar:lab", name=cl_name, detach=True, volumes=mounts,
                         network_mode=f"container:{el_name}",
                         command=M.consensus_command("lodestar", "0.0.0.0", 5052, "http://127.0.0.1:8551", "/fleet/jwtsecret"))
        api = f"http://{h.address}:25052"
        wait_until(lambda: connects_from(None, h.address, 25052) and beacon(api, "/eth/v1/node/health")[0] == 200)
        assert beacon(api, "/eth/v1/node/version")[1]["data"]["version"].startswith("Lodestar/v")
        assert not connects_from(other, h.address, 8551) and not connects_from(None, h.address, 8551)
        proc = run_cli("lab", "fault", cl_name, "--el-offline", "on", "-o", "json")
        assert proc.returncode == 0, proc.stderr
        assert syncing(api)["el_offline"] is True
        run_cli("lab", "fault", cl_name, "--clear", check=True)
        assert syncing(api)["el_offline"] is False
        run_cli("lab", "fault", el_name, "--lag", "4", check=True)  # the EL front by its container name
        wait_until(lambda: syncing(api)["head_slot"] != "0"
                   and int(rpc(M.ANVIL_URL, "eth_blockNumber")["result"], 16) - int(syncing(api)["head_slot"]) >= 4)
    finally:
        for n in (cl_name, el_name):
            with contextlib.suppress(Exception):  # not there
                c.containers.get(n).remove(force=True)
        c.close()
