"""playbooks/site.yml against the local lab: real ansible-playbook over the lab's verified SSH, real
Docker engines, the lab's images (client fronts over anvil, HAProxy, the RelayMiner stand-in).

One deployment for the module: three full nodes of different clients on the three hosts, a
balancer and a RelayMiner on lab-h1. The tests run in order and build on each other (the deploy,
what it serves, a second run that changes nothing, a node going down, a node retired). Everything
the module creates in the lab's engines (io.fleetctl.managed containers, fleet-* volumes) is
removed at the end."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import LAB_INV, REPO, SHARED

pytestmark = pytest.mark.lab

SITE = REPO / "playbooks" / "site.yml"
SCHEMA = SHARED / "pocket" / "poktroll-relayminer-config.schema.yaml"
ANVIL = "http://10.213.0.1:8545"
HOSTS = {"lab-h1": ("10.213.0.11", "h1"), "lab-h2": ("10.213.0.12", "h2"), "lab-h3": ("10.213.0.13", "h3")}
LAB_IMAGES = {name: f"fleetlab/{name}:lab" for name in ("geth", "nethermind", "erigon", "haproxy", "relayminer")}
LB_URL = "http://10.213.0.11:7600"
STATS_URL = "http://10.213.0.11:7700"
RELAYMINER_URL = "http://10.213.0.11:8500"
RELAYMINER_METRICS = "http://10.213.0.11:9090/metrics"
# One node per host and client; all three behind the balancer on lab-h1.
NODES = {
    "lab-h1": {"name": "eth-geth-1", "client": "geth", "mode": "full"},
    "lab-h2": {"name": "eth-nethermind-1", "client": "nethermind", "mode": "full"},
    "lab-h3": {"name": "eth-erigon-1", "client": "erigon", "mode": "archive"},
}
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def bin_path(name: str) -> str | None:
    """A console script of the venv running the tests, else from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def rpc(url: str, method: str, params: list | None = None, headers: dict | None = None) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def eventually(check, timeout: float = 15.0, interval: float = 0.25):
    """The first truthy result of ``check()`` within ``timeout`` (exceptions count as falsy)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:.0f} s; last: {last!r}")


def node_entry(host: str, spec: str) -> dict:
    address, _ = HOSTS[host]
    node = NODES[host]
    return {**node, "chain": "eth", "network": "mainnet", "listen_address": address, "rpc_port": 8545,
            "p2p_port": 30303, "metrics_port": 6060, "authrpc_port": 8551, "spec": spec}


def contract_vars(root: Path) -> dict[str, dict]:
    """The variables fleetctl would generate for each host, with the lab's overrides."""
    out = {}
    for host, (_, short) in HOSTS.items():
        out[host] = {
            "fleet_docker_host": f"unix:///run/fleetctl-lab/{short}/docker.sock",
            "fleet_config_root": str(root / host),
            "fleet_images": LAB_IMAGES,
            "fleet_image_pull": False,
            "fleet_node_volumes": ["/usr:/usr:ro"],
            "fleet_relayminer_volumes": ["/usr:/usr:ro"],
            "fleet_nodes": [node_entry(host, f"spec-{short}-1")],
        }
    out["lab-h1"]["fleet_balancers"] = [{
        "name": "lb-eth", "chain": "eth", "listen_address": "10.213.0.11", "port": 7600, "stats_port": 7700,
        "spec": "lb-spec-1",
        "backends": [{"name": n["name"], "client": n["client"], "address": HOSTS[h][0], "port": 8545} for h, n in NODES.items()],
    }]
    out["lab-h1"]["fleet_relayminer"] = {
        "spec": "rm-spec-1", "listen_address": "10.213.0.11", "port": 8500, "metrics_port": 9090,
        "signing_key_names": ["lab-sup-1", "lab-sup-2"],
        # As fleetctl writes them (tcp://, CometBFT style); the role writes http:// for the schema.
        "pocket_node": {"query_node_rpc_url": "tcp://10.213.0.1:26657", "query_node_grpc_url": "tcp://10.213.0.1:9090",
                        "tx_node_rpc_url": "tcp://10.213.0.1:26657"},
        "suppliers": [{"service_id": "eth", "backend_url": LB_URL}],
    }
    return out


def engine(host: str):
    import docker

    return docker.DockerClient(base_url=f"unix:///run/fleetctl-lab/{HOSTS[host][1]}/docker.sock", version="1.41", timeout=30)


class Deployment:
    """A temporary inventory (the lab's hosts.yml and host_vars/) and the runs of site.yml."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.config_root = work / "etc"
        self.inventory = work / "inventory"
        (self.inventory / "host_vars").mkdir(parents=True)
        shutil.copy(LAB_INV / "hosts.yml", self.inventory / "hosts.yml")
        self.vars = contract_vars(self.config_root)
        self.first_recap: dict[str, dict[str, int]] = {}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.env.update({
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            # Its own ControlPersist masters: never a stale session of an earlier lab.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_NOCOLOR": "True",
            "ANSIBLE_LOCAL_TEMP": str(work / "ansible-local"),
        })

    def write_vars(self) -> None:
        for host, values in self.vars.items():
            (self.inventory / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(values, sort_keys=False))

    def run(self) -> dict[str, dict[str, int]]:
        """Run site.yml; the recap per host ({ok, changed, unreachable, failed})."""
        self.write_vars()
        proc = subprocess.run([bin_path("ansible-playbook"), "-i", str(self.inventory / "hosts.yml"), str(SITE)],
                              capture_output=True, text=True, env=self.env, cwd=REPO, timeout=240)
        recap = {m[0]: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m[1:]))) for m in RECAP.findall(proc.stdout)}
        assert proc.returncode == 0 and set(recap) == set(HOSTS), (
            f"ansible-playbook exited {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        return recap

    def admin(self, command: str) -> str:
        """A command on the balancer's runtime API (its admin socket under fleet_config_root)."""
        path = self.config_root / "lab-h1" / "balancer" / "lb-eth" / "run" / "admin.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_status(self) -> dict[str, str]:
        """Status of each server of the balancer's backend, from `show stat` on the admin socket."""
        rows = [line.split(",") for line in self.admin("show stat").splitlines() if line.startswith("eth-nodes,")]
        return {row[1]: row[17] for row in rows if row[1] not in ("BACKEND", "FRONTEND")}


def clean_engines() -> None:
    """Remove what this module creates: fleetctl-managed containers and fleet-* volumes."""
    for host in HOSTS:
        client = engine(host)
        try:
            for container in client.containers.list(all=True, filters={"label": "io.fleetctl.managed=true"}):
                container.remove(force=True, v=True)
            for volume in client.volumes.list(filters={"name": "fleet-"}):
                if volume.name.startswith("fleet-"):
                    volume.remove(force=True)
        finally:
            client.close()


@pytest.fixture(scope="module")
def deployment(lab, tmp_path_factory):
    if not bin_path("ansible-playbook"):
        pytest.skip("ansible-playbook is not installed (pip install 'ansible>=12,<13')")
    if importlib.util.find_spec("ansible_collections.community.docker") is None:
        pytest.skip("the community.docker collection is not installed (pip install 'ansible>=12,<13')")
    deployment = Deployment(tmp_path_factory.mktemp("playbooks"))
    try:
        deployment.first_recap = deployment.run()
        yield deployment
    finally:
        clean_engines()


def chain_head_matches(url: str) -> bool:
    """``url`` serves anvil's chain: its head is at most 2 blocks from anvil's, with anvil's hash."""
    number = rpc(url, "eth_blockNumber")["result"]
    head = int(rpc(ANVIL, "eth_blockNumber")["result"], 16)
    if abs(head - int(number, 16)) > 2:
        return False
    ours = rpc(url, "eth_getBlockByNumber", [number, False])["result"]["hash"]
    return ours == rpc(ANVIL, "eth_getBlockByNumber", [number, False])["result"]["hash"]


def test_first_run_starts_every_container_with_its_labels(deployment):
    assert all(r["changed"] > 0 and r["failed"] == 0 for r in deployment.first_recap.values()), deployment.first_recap
    expected = {host: {NODES[host]["name"]: ("node", f"spec-{HOSTS[host][1]}-1", NODES[host]["client"])} for host in HOSTS}
    expected["lab-h1"].update({"lb-eth": ("balancer", "lb-spec-1", None), "relayminer": ("relayminer", "rm-spec-1", None)})
    commands = {}
    for host, wanted in expected.items():
        client = engine(host)
        try:
            running = {c.name: c for c in client.containers.list(filters={"label": "io.fleetctl.managed=true"})}
            assert set(wanted) <= set(running), (host, sorted(running))
            for name, (role, spec, node_client) in wanted.items():
                attrs = running[name].attrs
                labels = attrs["Config"]["Labels"]
                commands[name] = " ".join(attrs["Config"]["Cmd"])
                assert labels["io.fleetctl.managed"] == "true" and labels["io.fleetctl.name"] == name
                assert labels["io.fleetctl.role"] == role and labels["io.fleetctl.spec"] == spec
                assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
                if role == "node":
                    # A full node owns its pair's namespace (bridge networking): inside it the
                    # services listen on every address, and only on the host's address outside.
                    assert attrs["HostConfig"]["NetworkMode"] == "bridge"
                    bindings = attrs["HostConfig"]["PortBindings"] or {}
                    assert bindings and {b["HostIp"] for bs in bindings.values() for b in bs} == {HOSTS[host][0]}
                else:
                    assert attrs["HostConfig"]["NetworkMode"] == "host"
                    assert "0.0.0.0" not in commands[name]
                if node_client:
                    assert labels["io.fleetctl.client"] == node_client and labels["io.fleetctl.chain"] == "eth"
                    assert attrs["Config"]["Image"] == LAB_IMAGES[node_client]
                    assert f"fleet-{name}-data" in {m.get("Name") for m in attrs["Mounts"]}
        finally:
            client.close()
    # The clients got their real flags: every address inside the pair's namespace (published on
    # the node's own address), and the node's address advertised to peers.
    assert "--http.addr=0.0.0.0 --http.port=8545" in commands["eth-geth-1"] and "--syncmode=snap" in commands["eth-geth-1"]
    assert "--nat=extip:10.213.0.11" in commands["eth-geth-1"]
    assert "--JsonRpc.Host=0.0.0.0 --JsonRpc.Port=8545" in commands["eth-nethermind-1"]
    assert "--Network.ExternalIp=10.213.0.12" in commands["eth-nethermind-1"]
    assert "--http.addr=0.0.0.0 --http.port=8545" in commands["eth-erigon-1"]
    assert "--prune.mode=archive" in commands["eth-erigon-1"]


def test_balancer_serves_the_chain(deployment):
    eventually(lambda: chain_head_matches(LB_URL))
    assert set(deployment.server_status().values()) == {"UP"}, deployment.server_status()
    assert "haproxy_backend_active_servers" in fetch(STATS_URL + "/metrics")


def test_relay_through_the_relayminer_reaches_the_chain(deployment):
    eventually(lambda: chain_head_matches(RELAYMINER_URL + "/eth"))
    # By header, and as the only service of its listener.
    assert "result" in rpc(RELAYMINER_URL, "eth_chainId", headers={"Target-Service-Id": "eth"})
    assert rpc(RELAYMINER_URL, "eth_chainId")["result"] == rpc(ANVIL, "eth_chainId")["result"]
    metrics = fetch(RELAYMINER_METRICS)
    # One series per (service, supplier), as pkg/relayer/metrics.go labels it.
    relays = re.findall(r'^relayminer_requests_total\{service_id="eth",supplier_operator_address="[^"]*"\} (\d+)$',
                        metrics, re.M)
    assert relays and sum(map(int, relays)) >= 4, metrics


def test_relayminer_config_follows_the_schema(deployment):
    path = deployment.config_root / "lab-h1" / "relayminer" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    jsonschema.validate(config, yaml.safe_load(SCHEMA.read_text()))
    assert config["default_signing_key_names"] == ["lab-sup-1", "lab-sup-2"]
    assert config["metrics"] == {"enabled": True, "addr": "10.213.0.11:9090"}
    assert config["pocket_node"]["query_node_grpc_url"] == "http://10.213.0.1:9090"
    assert config["suppliers"] == [{"service_id": "eth", "listen_url": RELAYMINER_URL, "service_config": {"backend_url": LB_URL}}]


def test_second_run_changes_nothing(deployment):
    recap = deployment.run()
    assert all(r["changed"] == 0 for r in recap.values()), recap


def test_balancer_keeps_answering_when_a_node_stops(deployment):
    client = engine("lab-h1")
    try:
        client.containers.get("eth-geth-1").stop(timeout=5)
    finally:
        client.close()
    # Requests keep succeeding while the health checks (inter 2 s, fall 2) take the node out.
    started = time.monotonic()
    while deployment.server_status().get("eth-geth-1") != "DOWN":
        assert "result" in rpc(LB_URL, "eth_blockNumber")
        assert time.monotonic() - started < 12, deployment.server_status()
        time.sleep(0.2)
    assert deployment.server_status() == {"eth-geth-1": "DOWN", "eth-nethermind-1": "UP", "eth-erigon-1": "UP"}
    assert all(chain_head_matches(LB_URL) for _ in range(6))


def test_fleet_remove_retires_a_node(deployment):
    spec = copy.deepcopy(deployment.vars)
    h3 = spec["lab-h3"]
    h3["fleet_nodes"], h3["fleet_remove"] = [], ["eth-erigon-1"]
    balancer = spec["lab-h1"]["fleet_balancers"][0]
    balancer["backends"] = [b for b in balancer["backends"] if b["name"] != "eth-erigon-1"]
    balancer["spec"] = "lb-spec-2"
    deployment.vars = spec
    recap = deployment.run()
    # the container, and its pair's JWT secret with it
    assert recap["lab-h3"]["changed"] == 2 and recap["lab-h1"]["changed"] > 0, recap

    client = engine("lab-h3")
    try:
        assert not client.containers.list(all=True, filters={"name": "eth-erigon-1"})
        # The data volume stays for a node that comes back.
        assert client.volumes.get("fleet-eth-erigon-1-data")
    finally:
        client.close()
    # The run also brought the stopped geth back; the balancer serves from geth and Nethermind.
    client = engine("lab-h1")
    try:
        assert client.containers.get("eth-geth-1").status == "running"
        assert client.containers.get("lb-eth").labels["io.fleetctl.spec"] == "lb-spec-2"
    finally:
        client.close()
    assert eventually(lambda: deployment.server_status() == {"eth-geth-1": "UP", "eth-nethermind-1": "UP"})
    eventually(lambda: chain_head_matches(LB_URL))


def test_ansible_lint_passes():
    lint = bin_path("ansible-lint")
    if not lint:
        pytest.skip("ansible-lint is not installed (pip install 'ansible-lint>=25,<27')")
    env = {**os.environ, "PATH": f"{Path(lint).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", "NO_COLOR": "1"}
    proc = subprocess.run([lint, "playbooks/"], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
