"""The local lab from the outside: real sshd, real Docker engines over ssh://, real anvil behind
the client fronts, the Pocket stand-in, and the safety of the lab's address range."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import paramiko
import pytest

from fleetctl.errors import FleetError
from fleetctl.lab import manager as M
from fleetctl.provision.dockerssh import docker_client
from fleetctl.spec.loader import load_inventory

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
    assert all(h["sshd"] and h["dockerd"] and h["front"]["up"] for h in st["hosts"])
    table = run_cli("lab", "status").stdout
    assert "lab: up" in table and "lab-h2-nethermind" in table


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
