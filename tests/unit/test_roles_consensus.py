"""The playbooks' pair roles, rendered by Ansible itself (no container is started, no lab).

A generated playbook runs against localhost with `connection: local` and only `debug` tasks: it
loads the roles' variable files the way site.yml sees them (fleet's defaults and vars, each
client role's vars) and renders, for hand-made fleet_nodes entries in the contract's shape
(/work/notes/issue11-contract.md), the container definition each role passes to
roles/fleet/tasks/container.yml: command line, published ports, network mode, volumes, labels.
Every flag asserted below is one the client documents; FLAGS cites where.

Two more local runs exercise real tasks without Docker: the JWT tasks (generated once, 0600 in a
0700 directory, never in the output, nothing changed on a re-run), and the roles' refusals (Prysm
off mainnet without a checkpoint URL, Nimbus on Gnosis), which fail before any Docker call (the
Docker socket given is a path that does not exist)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, lab_script

PLAYBOOKS = REPO / "playbooks"
ROLES = PLAYBOOKS / "roles"
CLIENT_ROLES = ("geth", "nethermind", "erigon", "lighthouse", "prysm", "teku", "nimbus", "lodestar")

# Each client's documented flag for each purpose, and where it is documented.
FLAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "lighthouse": {
        "source": ("sigp/lighthouse beacon_node/src/cli.rs, lighthouse/src/main.rs; Lighthouse Book 'lighthouse bn'",),
        "network": ("--network=",), "engine": ("--execution-endpoint=",), "jwt": ("--execution-jwt=",),
        "checkpoint": ("--checkpoint-sync-url=",), "beacon_addr": ("--http-address=",), "beacon_port": ("--http-port=",),
        "p2p": ("--port=", "--discovery-port="), "quic": ("--quic-port=",), "advertise": ("--enr-address=",),
        "metrics_addr": ("--metrics-address=",), "metrics_port": ("--metrics-port=",),
    },
    "prysm": {
        "source": ("OffchainLabs/prysm cmd/flags.go, cmd/beacon-chain/flags/base.go, cmd/beacon-chain/sync/checkpoint/options.go, "
                   "cmd/beacon-chain/genesis/options.go, config/features/flags.go",),
        "network": ("--",), "engine": ("--execution-endpoint=",), "jwt": ("--jwt-secret=",),
        "checkpoint": ("--checkpoint-sync-url=", "--genesis-beacon-api-url="), "beacon_addr": ("--http-host=",),
        "beacon_port": ("--http-port=",), "p2p": ("--p2p-tcp-port=", "--p2p-udp-port="), "quic": ("--p2p-quic-port=",),
        "advertise": ("--p2p-host-ip=",), "metrics_addr": ("--monitoring-host=",), "metrics_port": ("--monitoring-port=",),
    },
    "teku": {
        "source": ("Consensys/teku teku/src/main/java/tech/pegasys/teku/cli/options/*Options.java; docs.teku.consensys.io reference/cli",),
        "network": ("--network=",), "engine": ("--ee-endpoint=",), "jwt": ("--ee-jwt-secret-file=",),
        "checkpoint": ("--checkpoint-sync-url=",), "beacon_addr": ("--rest-api-interface=",), "beacon_port": ("--rest-api-port=",),
        "p2p": ("--p2p-port=", "--p2p-udp-port="), "quic": ("--p2p-quic-port=",), "advertise": ("--p2p-advertised-ip=",),
        "metrics_addr": ("--metrics-interface=",), "metrics_port": ("--metrics-port=",),
    },
    "nimbus": {
        "source": ("status-im/nimbus-eth2 beacon_chain/conf.nim; nimbus.guide options.html, trusted-node-sync.html",),
        "network": ("--network=",), "engine": ("--el=",), "jwt": ("--jwt-secret=",),
        "checkpoint": ("--trusted-node-url=",), "beacon_addr": ("--rest-address=",), "beacon_port": ("--rest-port=",),
        "p2p": ("--tcp-port=", "--udp-port="), "quic": (), "advertise": ("--nat=extip:",),
        "metrics_addr": ("--metrics-address=",), "metrics_port": ("--metrics-port=",),
    },
    "lodestar": {
        "source": ("ChainSafe/lodestar packages/cli/src/options/globalOptions.ts, options/beaconNodeOptions/{execution,api,metrics,"
                   "network}.ts, cmds/beacon/options.ts",),
        "network": ("--network=",), "engine": ("--execution.urls=",), "jwt": ("--jwtSecret=",),
        "checkpoint": ("--checkpointSyncUrl=",), "beacon_addr": ("--rest.address=",), "beacon_port": ("--rest.port=",),
        "p2p": ("--port=", "--discoveryPort="), "quic": (), "advertise": ("--enr.ip=",),
        "metrics_addr": ("--metrics.address=",), "metrics_port": ("--metrics.port=",),
    },
    "caplin": {
        "source": ("erigontech/erigon cmd/utils/flags.go (v3: BeaconAPIFlag, BeaconApiAddrFlag, BeaconApiPortFlag, "
                   "CaplinDiscovery*Flag, CaplinCheckpointSyncUrlFlag); eth-docker erigon.yml",),
        "checkpoint": ("--caplin.checkpoint-sync-url=",), "beacon_addr": ("--beacon.api.addr=",),
        "beacon_port": ("--beacon.api.port=",), "p2p": ("--caplin.discovery.port=", "--caplin.discovery.tcpport="),
        "quic": (), "advertise": ("--nat=extip:",),
    },
    "geth": {
        "source": ("ethereum/go-ethereum cmd/utils/flags.go (v1.17); geth.ethereum.org command-line-options",),
        "engine_addr": ("--authrpc.addr=",), "engine_port": ("--authrpc.port=",), "jwt": ("--authrpc.jwtsecret=",),
        "rpc_addr": ("--http.addr=",), "advertise": ("--nat=extip:",), "metrics_addr": ("--metrics.addr=",),
    },
    "nethermind": {
        "source": ("docs.nethermind.io fundamentals/configuration (JsonRpc.*, Network.*, Metrics.*)",),
        "engine_addr": ("--JsonRpc.EngineHost=",), "engine_port": ("--JsonRpc.EnginePort=",),
        "jwt": ("--JsonRpc.JwtSecretFile=",), "rpc_addr": ("--JsonRpc.Host=",), "advertise": ("--Network.ExternalIp=",),
        "metrics_addr": ("--Metrics.ExposeHost=",),
    },
    "erigon": {
        "source": ("erigontech/erigon cmd/utils/flags.go (v3.4); docs.erigon.tech configuring-erigon",),
        "engine_addr": ("--authrpc.addr=",), "engine_port": ("--authrpc.port=",), "jwt": ("--authrpc.jwtsecret=",),
        "rpc_addr": ("--http.addr=",), "advertise": ("--nat=extip:",), "metrics_addr": ("--metrics.addr=",),
    },
}
# How each client names the networks (Prysm: a flag per network, --mainnet being the default).
NETWORK_ARG = {
    "lighthouse": "--network={}", "teku": "--network={}", "nimbus": "--network={}", "lodestar": "--network={}",
    "prysm": "--{}", "geth": "--{}", "nethermind": "--config={}", "erigon": "--chain={}",
}
QUIC = {"lighthouse", "prysm", "teku"}
CREDENTIAL_URL = "https://user:pw@beacon.example/checkpoint"
PLAIN_URL = "https://beacon.example"


def node(name, client, consensus, *, slot, network="mainnet", address="10.0.0.5", checkpoint=None, mode="full"):
    """A fleet_nodes entry in the contract's shape (what fleetctl/plan/vars.py writes)."""
    return {
        "name": name, "chain": "eth", "client": client, "mode": mode, "network": network,
        "listen_address": address, "slot": slot,
        "rpc_port": 8545 + 10 * slot, "p2p_port": 30303 + 10 * slot, "metrics_port": 6060 + 10 * slot,
        "authrpc_port": 8551 + 10 * slot, "spec": f"spec-{name}",
        "consensus": {
            "client": consensus, "name": None if consensus == "caplin" else f"{name}-{consensus}",
            "beacon_port": 5052 + 10 * slot, "p2p_port": 12000 + 10 * slot, "metrics_port": 5054 + 10 * slot,
            "checkpoint_sync_url": checkpoint, "spec": None if consensus == "caplin" else f"cspec-{name}",
        },
    }


SCENARIOS = [
    node("p-geth-lighthouse", "geth", "lighthouse", slot=0, checkpoint=CREDENTIAL_URL),
    node("p-geth-lighthouse-genesis", "geth", "lighthouse", slot=1, network="sepolia"),
    node("p-nethermind-prysm", "nethermind", "prysm", slot=2, network="sepolia", checkpoint=PLAIN_URL),
    node("p-geth-prysm", "geth", "prysm", slot=3),
    node("p-nethermind-teku", "nethermind", "teku", slot=4, network="hoodi"),
    node("p-geth-teku", "geth", "teku", slot=5, checkpoint=PLAIN_URL),
    node("p-erigon-nimbus", "erigon", "nimbus", slot=6, checkpoint=PLAIN_URL),
    node("p-nethermind-nimbus", "nethermind", "nimbus", slot=7, network="hoodi"),
    node("p-erigon-lodestar", "erigon", "lodestar", slot=8, network="gnosis", checkpoint=PLAIN_URL),
    node("p-nethermind-lodestar6", "nethermind", "lodestar", slot=9, address="2001:db8::5"),
    node("p-erigon-caplin", "erigon", "caplin", slot=10, network="hoodi", checkpoint=CREDENTIAL_URL, mode="archive"),
    node("p-erigon-caplin-bare", "erigon", "caplin", slot=11),
]
# An entry of older variables, without a consensus side: the execution client alone.
LEGACY = {k: v for k, v in node("p-geth-legacy", "geth", "lighthouse", slot=12).items() if k != "consensus"}


def playbook_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    })
    return env


def ansible_playbook(tmp: Path, playbook: Path, *extra: str) -> tuple[int, dict, str]:
    exe = Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run(
        [str(exe) if exe.exists() else "ansible-playbook", "-i", "localhost,", str(playbook), *extra],
        capture_output=True, text=True, env=playbook_env(tmp), timeout=300,
    )
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        out = {}
    return proc.returncode, out, proc.stdout + proc.stderr


def host_results(out: dict, task_name: str) -> list[dict]:
    for task in out["plays"][0]["tasks"]:
        if task["task"]["name"] == task_name:
            return task["hosts"]["localhost"].get("results") or [task["hosts"]["localhost"]]
    raise AssertionError(f"no task {task_name!r} in the run")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict]:
    """name -> {execution, consensus, jwt_owner, nimbus_sync}: the roles' containers for each scenario."""
    tmp = tmp_path_factory.mktemp("render")
    (tmp / "scenarios.yml").write_text(yaml.safe_dump({"fleet_config_root": "/etc/fleetctl", "fleet_scenarios": [*SCENARIOS, LEGACY]}))
    vars_files = [ROLES / "fleet/defaults/main.yml", ROLES / "fleet/vars/main.yml", ROLES / "erigon/defaults/main.yml"]
    vars_files += [ROLES / role / "vars/main.yml" for role in CLIENT_ROLES]
    play = [{
        "name": "Render the pair roles' containers",
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(p) for p in vars_files] + [str(tmp / "scenarios.yml")],
        "tasks": [{
            "name": "render",
            "ansible.builtin.debug": {"msg": {
                "execution": "{{ lookup('vars', fleet_node.client ~ '_container') }}",
                "consensus": "{{ lookup('vars', fleet_pair_consensus_client ~ '_container') "
                             "if fleet_pair_has_consensus_container | bool else none }}",
                "jwt_owner": "{{ fleet_pair_jwt_owner }}",
                "nimbus_sync": "{{ nimbus_trusted_sync_command if fleet_pair_consensus_client == 'nimbus' else none }}",
            }},
            "loop": "{{ fleet_scenarios }}",
            "loop_control": {"loop_var": "fleet_node", "label": "{{ fleet_node.name }}"},
        }],
    }]
    (tmp / "render.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    rc, out, text = ansible_playbook(tmp, tmp / "render.yml")
    assert rc == 0, text[-3000:]
    results = host_results(out, "render")
    return {r["fleet_node"]["name"]: r["msg"] for r in results}


def by_name(name: str) -> dict:
    return next(s for s in SCENARIOS if s["name"] == name)


def values(command: list[str], prefix: str) -> list[str]:
    return [arg[len(prefix):] for arg in command if arg.startswith(prefix)]


def one(command: list[str], prefix: str) -> str:
    found = values(command, prefix)
    assert len(found) == 1, f"{prefix} given {len(found)} times in {command}"
    return found[0]


# -- consensus clients -------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", [s["name"] for s in SCENARIOS if s["consensus"]["client"] != "caplin"])
def test_consensus_command_against_documented_flags(rendered, scenario):
    pair = by_name(scenario)
    cons = pair["consensus"]
    client = cons["client"]
    flags = FLAGS[client]
    container = rendered[scenario]["consensus"]
    cmd = container["command"]
    assert container["image"] == client and container["role"] == "consensus"
    assert container["name"] == cons["name"] and container["spec"] == cons["spec"]
    # Network: each client's own way of naming it.
    assert NETWORK_ARG[client].format(pair["network"]) in cmd
    # Engine API over the pair's shared loopback, with the pair's JWT file.
    assert one(cmd, flags["engine"][0]) == f"http://127.0.0.1:{pair['authrpc_port']}"
    assert one(cmd, flags["jwt"][0]) == "/fleet/jwtsecret"
    # Checkpoint sync exactly when the chain has a URL (Nimbus: in its trusted node sync step).
    sync = rendered[scenario]["nimbus_sync"] or []
    for flag in flags["checkpoint"]:
        where = sync if client == "nimbus" else cmd
        if cons["checkpoint_sync_url"]:
            assert one(where, flag) == cons["checkpoint_sync_url"]
        else:
            assert not values(where, flag) and not values(cmd, flag)
    # Beacon API on every address of the namespace (published on listen_address by the EL container).
    assert one(cmd, flags["beacon_addr"][0]) == "0.0.0.0"
    assert one(cmd, flags["beacon_port"][0]) == str(cons["beacon_port"])
    # p2p: TCP and discovery UDP on consensus.p2p_port, QUIC on +1 where the client has it.
    for flag in flags["p2p"]:
        assert one(cmd, flag) == str(cons["p2p_port"])
    for flag in flags["quic"]:
        assert one(cmd, flag) == str(cons["p2p_port"] + 1)
    # Advertised address: the host's.
    if client == "lodestar" and ":" in pair["listen_address"]:
        assert one(cmd, "--enr.ip6=") == pair["listen_address"] and not values(cmd, "--enr.ip=")
    else:
        assert one(cmd, flags["advertise"][0]) == pair["listen_address"]
    assert one(cmd, flags["metrics_addr"][0]) == "0.0.0.0"
    assert one(cmd, flags["metrics_port"][0]) == str(cons["metrics_port"])
    # The pair's namespace, data volume, JWT read-only, labels, a generous shutdown.
    assert container["network_mode"] == f"container:{pair['name']}"
    assert "published_ports" not in container
    assert container["volumes"][0].startswith(f"fleet-{cons['name']}-data:")
    assert f"/etc/fleetctl/jwt/{pair['name']}/jwtsecret:/fleet/jwtsecret:ro" in container["volumes"]
    assert container["labels"] == {
        "io.fleetctl.chain": "eth", "io.fleetctl.client": client, "io.fleetctl.slot": str(pair["slot"]),
        "io.fleetctl.pair": pair["name"], "io.fleetctl.layer": "consensus",
    }
    assert container["stop_timeout"] >= 120
    # A checkpoint URL carrying credentials is on the command line: that container task is no_log.
    assert container["no_log"] is (cons["checkpoint_sync_url"] == CREDENTIAL_URL)


@pytest.mark.parametrize("scenario", [s["name"] for s in SCENARIOS if s["consensus"]["client"] != "caplin"])
def test_the_labs_beacon_front_reads_each_roles_command_as_the_client_would(rendered, scenario):
    """The lab runs these very command lines in its fleetlab/<client> images: the stand-in must
    find in them the Beacon API port, the Engine API and the JWT the real client would use
    (not, say, Lodestar's p2p --port, or --jwtSecret missed for --jwt-secret)."""
    beacon_front = lab_script("beacon_front")

    pair = by_name(scenario)
    cons = pair["consensus"]
    config = beacon_front.parse_args(rendered[scenario]["consensus"]["command"], {"BEACON_CLIENT": cons["client"]})
    assert (config.host, config.port) == ("0.0.0.0", cons["beacon_port"])
    assert config.engine_url == f"http://127.0.0.1:{pair['authrpc_port']}"
    assert config.jwt_path == "/fleet/jwtsecret"


def test_client_specifics(rendered):
    lighthouse = rendered["p-geth-lighthouse"]["consensus"]["command"]
    assert lighthouse[:2] == ["lighthouse", "bn"] and "--http" in lighthouse and "--metrics" in lighthouse
    # Lighthouse refuses a genesis sync unless told; the flag conflicts with a checkpoint URL.
    assert "--allow-insecure-genesis-sync" not in lighthouse
    assert "--allow-insecure-genesis-sync" in rendered["p-geth-lighthouse-genesis"]["consensus"]["command"]
    assert rendered["p-geth-prysm"]["consensus"]["command"][:2] == ["--accept-terms-of-use", "--mainnet"]
    teku = rendered["p-geth-teku"]["consensus"]
    assert "--rest-api-enabled=true" in teku["command"] and "--metrics-enabled=true" in teku["command"]
    assert teku["user"] == "0:0" and teku["volumes"][0].endswith(":/var/lib/teku")
    assert "--data-path=/var/lib/teku" in teku["command"]
    nimbus = rendered["p-erigon-nimbus"]
    assert {"--rest", "--metrics", "--non-interactive"} <= set(nimbus["consensus"]["command"])
    assert nimbus["nimbus_sync"][0] == "trustedNodeSync" and "--backfill=false" in nimbus["nimbus_sync"]
    assert one(nimbus["nimbus_sync"], "--data-dir=") == one(nimbus["consensus"]["command"], "--data-dir=")
    assert nimbus["consensus"]["volumes"][0] == "fleet-p-erigon-nimbus-nimbus-data:/home/user/nimbus-eth2/build"
    lodestar = rendered["p-erigon-lodestar"]["consensus"]["command"]
    assert lodestar[0] == "beacon" and {"--rest", "--metrics", "--nat"} <= set(lodestar)


def test_prysm_genesis_from_the_checkpoint_url_off_mainnet(rendered):
    cmd = rendered["p-nethermind-prysm"]["consensus"]["command"]
    assert "--sepolia" in cmd and one(cmd, "--genesis-beacon-api-url=") == PLAIN_URL
    assert not values(rendered["p-geth-prysm"]["consensus"]["command"], "--genesis-beacon-api-url=")


# -- execution clients -------------------------------------------------------------------------

def expected_ports(pair: dict) -> set[str]:
    a = pair["listen_address"]
    bind = f"[{a}]" if ":" in a else a
    p2p = [pair["p2p_port"]]
    if pair["client"] == "erigon":
        p2p = list(range(pair["p2p_port"], pair["p2p_port"] + 5)) + [pair["p2p_port"] + 11766]
    ports = {f"{bind}:{pair['rpc_port']}:{pair['rpc_port']}", f"{bind}:{pair['metrics_port']}:{pair['metrics_port']}"}
    ports |= {f"{bind}:{p}:{p}" for p in p2p} | {f"{bind}:{p}:{p}/udp" for p in p2p}
    cons = pair["consensus"]
    ports |= {f"{bind}:{cons['beacon_port']}:{cons['beacon_port']}", f"{bind}:{cons['p2p_port']}:{cons['p2p_port']}",
              f"{bind}:{cons['p2p_port']}:{cons['p2p_port']}/udp"}
    if cons["client"] in QUIC:
        ports.add(f"{bind}:{cons['p2p_port'] + 1}:{cons['p2p_port'] + 1}/udp")
    if cons["client"] != "caplin":
        ports.add(f"{bind}:{cons['metrics_port']}:{cons['metrics_port']}")
    return ports


@pytest.mark.parametrize("scenario", [s["name"] for s in SCENARIOS])
def test_execution_container_owns_the_pair_namespace(rendered, scenario):
    pair = by_name(scenario)
    client = pair["client"]
    flags = FLAGS[client]
    container = rendered[scenario]["execution"]
    cmd = container["command"]
    assert container["name"] == pair["name"] and container["image"] == client and container["role"] == "node"
    assert container["network_mode"] == "bridge"
    published = container["published_ports"]
    # Exactly the contract's ports, each once, all on listen_address; never the Engine API.
    assert len(published) == len(set(published)) and set(published) == expected_ports(pair)
    host_ports = {int(re.match(r"^(?:\[[^\]]+\]|[^:]+):(\d+):", p).group(1)) for p in published}
    assert pair["authrpc_port"] not in host_ports
    # Inside the namespace: JSON-RPC and metrics on every address, the Engine API on loopback
    # only, with the pair's JWT; P2P advertises the host's address.
    assert one(cmd, flags["rpc_addr"][0]) == "0.0.0.0" and one(cmd, flags["metrics_addr"][0]) == "0.0.0.0"
    assert one(cmd, flags["engine_addr"][0]) == "127.0.0.1"
    assert one(cmd, flags["engine_port"][0]) == str(pair["authrpc_port"])
    assert one(cmd, flags["jwt"][0]) == "/fleet/jwtsecret"
    assert one(cmd, flags["advertise"][0]) == pair["listen_address"]
    assert NETWORK_ARG[client].format(pair["network"]) in cmd
    assert f"/etc/fleetctl/jwt/{pair['name']}/jwtsecret:/fleet/jwtsecret:ro" in container["volumes"]
    assert container["labels"] == {
        "io.fleetctl.chain": "eth", "io.fleetctl.client": client, "io.fleetctl.slot": str(pair["slot"]),
        "io.fleetctl.pair": pair["name"], "io.fleetctl.layer": "execution",
        "io.fleetctl.consensus": pair["consensus"]["client"],
    }


def test_legacy_entry_runs_the_execution_client_alone(rendered):
    out = rendered["p-geth-legacy"]
    assert out["consensus"] is None and out["jwt_owner"] == 0
    a = LEGACY["listen_address"]
    assert set(out["execution"]["published_ports"]) == {
        f"{a}:{LEGACY['rpc_port']}:{LEGACY['rpc_port']}", f"{a}:{LEGACY['p2p_port']}:{LEGACY['p2p_port']}",
        f"{a}:{LEGACY['p2p_port']}:{LEGACY['p2p_port']}/udp", f"{a}:{LEGACY['metrics_port']}:{LEGACY['metrics_port']}"}
    assert "io.fleetctl.consensus" not in out["execution"]["labels"]


def test_erigon_caplin_or_external(rendered):
    flags = FLAGS["caplin"]
    for name in ("p-erigon-caplin", "p-erigon-caplin-bare"):
        pair = by_name(name)
        cons = pair["consensus"]
        out = rendered[name]
        cmd = out["execution"]["command"]
        assert out["consensus"] is None and "--externalcl" not in cmd
        assert set(one(cmd, "--beacon.api=").split(",")) >= {"node", "beacon", "config"}
        assert one(cmd, flags["beacon_addr"][0]) == "0.0.0.0"
        assert one(cmd, flags["beacon_port"][0]) == str(cons["beacon_port"])
        for flag in flags["p2p"]:
            assert one(cmd, flag) == str(cons["p2p_port"])
        if cons["checkpoint_sync_url"]:
            assert one(cmd, flags["checkpoint"][0]) == cons["checkpoint_sync_url"]
        else:
            assert not values(cmd, flags["checkpoint"][0])
        # Caplin's checkpoint URL with credentials hides the Erigon task.
        assert out["execution"]["no_log"] is (cons["checkpoint_sync_url"] == CREDENTIAL_URL)
    for name in ("p-erigon-nimbus", "p-erigon-lodestar"):
        cmd = rendered[name]["execution"]["command"]
        assert "--externalcl" in cmd and not [a for a in cmd if a.startswith(("--beacon.api", "--caplin."))]
        assert rendered[name]["execution"]["no_log"] is False


def test_jwt_owner_is_the_non_root_side(rendered):
    assert rendered["p-geth-lighthouse"]["jwt_owner"] == 0
    assert rendered["p-nethermind-nimbus"]["jwt_owner"] == 1000
    assert rendered["p-erigon-lodestar"]["jwt_owner"] == 1000
    assert rendered["p-erigon-caplin"]["jwt_owner"] == 1000


def test_images_pinned_per_client():
    pinned = yaml.safe_load((PLAYBOOKS / "vars" / "images.yml").read_text())["fleet_pinned_images"]
    text = (PLAYBOOKS / "vars" / "images.yml").read_text()
    for client in ("lighthouse", "prysm", "teku", "nimbus", "lodestar"):
        image = pinned[client]
        assert re.search(r"[:-]v?\d+\.\d+\.\d+$", image), image
        assert not image.endswith(":latest")
        # Each pin has a comment citing its release just above it.
        assert re.search(rf"#[^\n]*[Rr]elease[^\n]*\n(?:\s*#[^\n]*\n)*\s*{client}:", text), client


# -- real tasks without Docker -----------------------------------------------------------------

def run_tasks(tmp: Path, name: str, fleet_vars: dict, tasks: list[dict]) -> tuple[int, dict, str]:
    play = [{
        "name": name, "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(PLAYBOOKS / "vars" / "images.yml")],
        "roles": [{"role": "fleet"}],
        "vars": {**fleet_vars, "ansible_python_interpreter": sys.executable,
                 # Nothing may reach a Docker engine here: this socket does not exist.
                 "fleet_docker_host": f"unix://{tmp}/no-such-docker.sock"},
        "tasks": tasks,
    }]
    path = tmp / f"{name.replace(' ', '-')}.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return ansible_playbook(tmp, path)


def changed_count(out: dict) -> int:
    return out["stats"]["localhost"]["changed"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the JWT owner is set with chown (the playbook runs as root)")
def test_jwt_generated_once_private_and_never_shown(tmp_path):
    root = tmp_path / "etc"
    pairs = [node("j-geth-teku", "geth", "teku", slot=0), node("j-erigon-nimbus", "erigon", "nimbus", slot=1)]
    tasks = [{
        "name": "jwt", "ansible.builtin.include_role": {"name": "fleet", "tasks_from": "jwt"},
        "loop": "{{ pairs }}", "loop_control": {"loop_var": "fleet_node"},
    }]
    rc, out, text = run_tasks(tmp_path, "jwt first", {"fleet_config_root": str(root), "pairs": pairs}, tasks)
    assert rc == 0, text[-3000:]
    assert changed_count(out) > 0
    secrets = {}
    for pair, owner in zip(pairs, (0, 1000)):
        directory = root / "jwt" / pair["name"]
        secret = directory / "jwtsecret"
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.stat().st_uid == owner
        value = secret.read_text()
        # 32 random bytes, hex, nothing else (no newline, no 0x).
        assert re.fullmatch(r"[0-9a-f]{64}", value)
        assert value not in text
        assert not list(directory.glob("*.tmp"))
        secrets[pair["name"]] = value
    assert len(set(secrets.values())) == 2
    rc, out, text = run_tasks(tmp_path, "jwt again", {"fleet_config_root": str(root), "pairs": pairs}, tasks)
    assert rc == 0, text[-3000:]
    assert changed_count(out) == 0, text[-3000:]
    for name, value in secrets.items():
        assert (root / "jwt" / name / "jwtsecret").read_text() == value
        assert value not in text


@pytest.mark.parametrize(("pair", "message"), [
    (node("r-geth-prysm", "geth", "prysm", slot=0, network="hoodi"), "embeds only mainnet's genesis state"),
    (node("r-nethermind-nimbus", "nethermind", "nimbus", slot=1, network="gnosis", checkpoint=PLAIN_URL), "no Gnosis build"),
])
def test_roles_refuse_what_the_client_cannot_run(tmp_path, pair, message):
    tasks = [{"name": "consensus role", "ansible.builtin.include_role": {"name": pair["consensus"]["client"]}}]
    rc, out, text = run_tasks(tmp_path, "refuse", {"fleet_config_root": str(tmp_path / "etc"), "fleet_node": pair}, tasks)
    assert rc != 0
    assert message in text and pair["consensus"]["name"] in text
    # It failed at the assertion, before any Docker call.
    assert "no-such-docker.sock" not in text


def test_every_role_reaches_its_docker_call(tmp_path):
    """site.yml's real include chain (fleet's pair.yml, each client role, the container task) renders
    without error up to the Docker call, which fails on the missing socket."""
    pairs = [node("c-geth-lighthouse", "geth", "lighthouse", slot=0, checkpoint=PLAIN_URL),
             node("c-nethermind-prysm", "nethermind", "prysm", slot=1),
             node("c-erigon-teku", "erigon", "teku", slot=2),
             node("c-geth-nimbus", "geth", "nimbus", slot=3),
             node("c-nethermind-lodestar", "nethermind", "lodestar", slot=4)]
    tasks = [{"name": "pair", "ansible.builtin.include_role": {"name": "fleet", "tasks_from": "pair",
                                                               "apply": {"ignore_errors": True}},
              "loop": "{{ pairs }}", "loop_control": {"loop_var": "fleet_node"}}]
    rc, out, text = run_tasks(tmp_path, "chain", {"fleet_config_root": str(tmp_path / "etc"), "pairs": pairs}, tasks)
    assert rc == 0, text[-3000:]
    reached = {}
    for task in out["plays"][0]["tasks"]:
        name = task["task"]["name"].removeprefix("fleet : ")
        if name.startswith("Run container "):
            reached[name.removeprefix("Run container ")] = task["hosts"]["localhost"].get("msg", "")
    expected = {p["name"] for p in pairs} | {p["consensus"]["name"] for p in pairs if p["consensus"]["name"]}
    assert set(reached) == expected, sorted(reached)
    for name, msg in reached.items():
        assert "Error connecting" in msg, (name, msg)
    for pair in pairs:
        assert (tmp_path / "etc" / "jwt" / pair["name"] / "jwtsecret").exists()


def test_site_syntax_check(tmp_path):
    exe = Path(sys.executable).parent / "ansible-playbook"
    env = playbook_env(tmp_path)
    env.pop("ANSIBLE_STDOUT_CALLBACK")
    proc = subprocess.run([str(exe) if exe.exists() else "ansible-playbook", "--syntax-check", "-i", "localhost,",
                           str(PLAYBOOKS / "site.yml")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ansible-lint over playbooks/ runs once, in tests/integration/test_playbooks.py::test_ansible_lint_passes.
