"""`fleetctl health` on consensus clients, against Beacon API servers on 127.0.0.1.

The servers are written for this test from the ethereum/beacon-APIs spec (fetched with the
search tool, commit 7a58b5a): ``apis/node/health.yaml`` (200 ready, 206 syncing, 503 not
initialized), ``apis/node/syncing.yaml`` (``GetSyncingStatusResponse``: head_slot, sync_distance
as decimal strings; is_syncing, is_optimistic, el_offline as booleans), ``apis/node/version.yaml``
(``data.version``), ``apis/node/peer_count.yaml`` (``data.connected`` ... as decimal strings),
``apis/beacon/blocks/header.yaml`` (``GetBlockHeaderResponse``: execution_optimistic, finalized,
``data.root``, ``data.canonical``, ``data.header.message.slot``; 404 "Block not found"),
``apis/beacon/states/finality_checkpoints.yaml`` (previous_justified, current_justified,
finalized checkpoints of ``types/misc.yaml#Checkpoint``: epoch as a decimal string, root
``0x`` + 64 hex). Execution endpoints are minimal JSON-RPC servers (the calls health makes).

The fleet: three adopted execution endpoints with their adopted consensus clients (``pair:``),
one adopted consensus client without a pair, and two provisioned pairs on the host
``pairhost`` (a lodestar beside a Geth, and an Erigon with Caplin), whose containers are given
to health through its targets cache (as a host's last answer), their ports at their slot's.
Every condition is set on one server and the real CLI must name it at the right level.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from fleetctl.health import remediate as rm
from fleetctl.health import services as sv
from fleetctl.health.execution import version_of_image
from fleetctl.plan import model as pm
from fleetctl.core.images import pinned_images
from fleetctl.spec.loader import load_inventory

HOST = "127.0.0.1"
HEAD_SLOT = 1000
FIN_EPOCH = 29
BLOCK = 500  # the execution chain's head


def root(tag: str) -> str:
    return "0x" + (tag.encode().hex() * 64)[:64]


FIN_ROOT = root("fin")
HEAD_ROOT = root("head")


def version_of(key: str, default: str) -> str:
    return version_of_image(pinned_images().get(key)) or default


#: pairhost's image for lodestar (a host's fleet_images override), whatever images.yml pins
LODESTAR_IMAGE = "chainsafe/lodestar:v1.22.0"


# ----------------------------------------------------------------------------- Beacon API server


@dataclass
class Beacon:
    version: str
    health: int = 200
    head_slot: int = HEAD_SLOT
    is_syncing: bool = False
    is_optimistic: bool = False
    el_offline: bool = False
    peers: int = 50
    fin_epoch: int = FIN_EPOCH
    fin_root: str = FIN_ROOT
    #: blocks known by root: root -> (slot, canonical)
    blocks: dict[str, tuple[int, bool]] = field(default_factory=dict)
    #: path -> (status, raw body) served instead
    raw: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering

    def answer(self, path: str) -> tuple[int, Any]:
        if path in self.raw:
            return self.raw[path]
        if path == "/eth/v1/node/health":
            return self.health, None
        if path == "/eth/v1/node/syncing":
            return 200, {"data": {"head_slot": str(self.head_slot), "sync_distance": str(HEAD_SLOT - self.head_slot
                                                                                         if self.is_syncing else 0),
                                  "is_syncing": self.is_syncing, "is_optimistic": self.is_optimistic,
                                  "el_offline": self.el_offline}}
        if path == "/eth/v1/node/version":
            return 200, {"data": {"version": self.version}}
        if path == "/eth/v1/node/peer_count":
            return 200, {"data": {"disconnected": "3", "connecting": "0", "connected": str(self.peers),
                                  "disconnecting": "0"}}
        if path == "/eth/v1/beacon/states/head/finality_checkpoints":
            cp = {"epoch": str(self.fin_epoch), "root": self.fin_root}
            return 200, {"execution_optimistic": self.is_optimistic, "finalized": False,
                         "data": {"previous_justified": cp, "current_justified": cp, "finalized": cp}}
        if path.startswith("/eth/v1/beacon/headers/"):
            block_id = path.rsplit("/", 1)[1]
            if block_id == "head":
                slot, r, canonical = self.head_slot, HEAD_ROOT, True
            else:
                blocks = {self.fin_root: (self.fin_epoch * 32, True), **self.blocks}
                if block_id not in blocks:
                    return 404, {"code": 404, "message": "Block not found"}
                (slot, canonical), r = blocks[block_id], block_id
            return 200, {"execution_optimistic": self.is_optimistic, "finalized": False,
                         "data": {"root": r, "canonical": canonical,
                                  "header": {"message": {"slot": str(slot), "proposer_index": "1",
                                                         "parent_root": root("parent"), "state_root": root("state"),
                                                         "body_root": root("body")},
                                             "signature": "0x" + "00" * 96}}}
        return 404, {"code": 404, "message": "not found"}


def serve(port: int, handle) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((HOST, port), handle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def beacon_handler(state_of):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state: Beacon = state_of()
            if state.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            status, body = state.answer(self.path.split("?", 1)[0])
            data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def rpc_handler(version: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))

            def one(call: dict[str, Any]) -> dict[str, Any]:
                m = call["method"]
                result: Any = {"web3_clientVersion": version, "eth_syncing": False, "eth_blockNumber": hex(BLOCK),
                               "net_peerCount": "0x19"}.get(m)
                if m == "eth_getBlockByNumber":
                    n = int(call["params"][0], 16)
                    result = {"number": hex(n), "hash": "0x" + f"{n:064x}"}
                return {"jsonrpc": "2.0", "id": call["id"], "result": result}

            out = [one(c) for c in body] if isinstance(body, list) else one(body)
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


def free_slots(n: int) -> int:
    """A slot ``s`` such that slots s..s+n-1 have their RPC and beacon ports free here."""
    for s in range(4100, 5600, 7):
        if all(port_free(pm.RPC_PORT_BASE + 10 * k) and port_free(pm.BEACON_PORT_BASE + 10 * k)
               for k in range(s, s + n)):
            return s
    pytest.skip("no free slot ports on 127.0.0.1")


# ----------------------------------------------------------------------------- the fleet

ADOPTED = {  # consensus name -> (client, version string, paired execution endpoint, its client, its version)
    "cl-lighthouse": ("lighthouse", "Lighthouse/v5.3.0-d6ba8c3/x86_64-linux", "el-geth", "geth",
                      "Geth/v1.14.8-stable/linux-amd64/go1.22.6"),
    "cl-teku": ("teku", "teku/v24.8.0/linux-x86_64/-eclipseadoptium-openjdk64bitservervm-java-21", "el-neth",
                "nethermind", "Nethermind/v1.28.0+9c4816c2/linux-x64/dotnet8.0.8"),
    "cl-prysm": ("prysm", "Prysm/v5.1.0/2d1e1f2 (linux amd64)", "el-erigon", "erigon",
                 "erigon/2.60.6/linux-amd64/go1.22.6"),
    "cl-nimbus": ("nimbus", "Nimbus/v24.8.0-1d9e9a-stateofus", None, None, None),
}


@dataclass
class Fleet:
    root: Path
    db: Path
    beacons: dict[str, Beacon]
    slot: int

    def reset(self) -> None:
        for name, b in self.beacons.items():
            fresh = default_beacon(name)
            b.__dict__.update(fresh.__dict__)

    def cache(self, lodestar_running: bool = True, caplin_running: bool = True) -> None:
        """The host's containers as its last answer left them (the targets cache)."""
        geth_image = pinned_images().get("geth", "geth")
        erigon_image = pinned_images().get("erigon", "erigon")
        lodestar_image = LODESTAR_IMAGE

        def c(name, role, client, slot, running, image, pair, consensus=None):
            return {"name": name, "role": role, "chain": "eth", "client": client, "slot": slot, "running": running,
                    "status": "Up 2 hours" if running else "Exited (137) 3 minutes ago", "image": image,
                    "mounts": [], "pair": pair, "consensus": consensus}

        s = self.slot
        data = {"pairhost": {"seen_at": "2025-01-01T00:00:00+00:00", "containers": [
            c("eth-geth-1", "node", "geth", s, True, geth_image, "eth-geth-1", "lodestar"),
            c("eth-geth-1-lodestar", "consensus", "lodestar", s, lodestar_running, lodestar_image, "eth-geth-1"),
            c("eth-erigon-1", "node", "erigon", s + 1, caplin_running, erigon_image, "eth-erigon-1", "caplin"),
        ]}}
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self.db.with_name(self.db.name + ".targets.json").write_text(json.dumps(data))


def default_beacon(name: str) -> Beacon:
    if name in ADOPTED:
        return Beacon(ADOPTED[name][1])
    if name == "eth-geth-1-lodestar":
        return Beacon("Lodestar/v1.22.0/linux-x64/nodejs")
    return Beacon(f"Caplin/v{version_of('erigon', '3.0.0')}/linux-amd64")  # eth-erigon-1-caplin


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("consensus-inv")
    slot = free_slots(2)
    beacons = {name: default_beacon(name) for name in [*ADOPTED, "eth-geth-1-lodestar", "eth-erigon-1-caplin"]}
    servers = []
    lines = ["protocol: shannon", "pocket: {rest_url: 'http://127.0.0.1:9'}", "chains:", "  eth:",
             "    clients: [geth, nethermind, erigon]", "    replicas: 3", "    max_client_share: 0.5",
             "    endpoints:"]
    for name, (client, _, el, el_client, el_version) in ADOPTED.items():
        port = free_port()
        servers.append(serve(port, beacon_handler(lambda name=name: beacons[name])))
        pair = f", pair: {el}" if el else ""
        lines.append(f"      - {{name: {name}, url: 'http://{HOST}:{port}', client: {client}{pair}}}")
        if el:
            rpc = free_port()
            servers.append(serve(rpc, rpc_handler(el_version)))
            lines.append(f"      - {{name: {el}, url: 'http://{HOST}:{rpc}', client: {el_client}}}")
    servers.append(serve(pm.BEACON_PORT_BASE + 10 * slot, beacon_handler(lambda: beacons["eth-geth-1-lodestar"])))
    servers.append(serve(pm.BEACON_PORT_BASE + 10 * (slot + 1),
                         beacon_handler(lambda: beacons["eth-erigon-1-caplin"])))
    servers.append(serve(pm.RPC_PORT_BASE + 10 * slot, rpc_handler(
        f"Geth/v{version_of('geth', '1.14.8')}-stable/linux-amd64/go1.22.6")))
    servers.append(serve(pm.RPC_PORT_BASE + 10 * (slot + 1), rpc_handler(
        f"erigon/{version_of('erigon', '3.0.0')}/linux-amd64/go1.22.6")))
    # timeout 4: the sweep's deadline (3 x timeout + 1 s) stays far above what these loopback
    # servers need even beside the lab tests on 2 CPUs (at timeout 2, CI once cut the dropped
    # server's probe at the 7 s deadline: UNKNOWN instead of CRITICAL); no case waits for it.
    lines.append("health: {timeout: 4, slow: 1.5, load_warning: 500, load_critical: 1000}")
    (root / "fleet.yml").write_text("\n".join(lines) + "\n")
    # pairhost: its own facts are this machine's (a local connection); its containers come
    # from the targets cache written before each run.
    (root / "hosts.yml").write_text("all:\n  hosts:\n    pairhost:\n      ansible_host: 127.0.0.1\n"
                                    f"      ansible_connection: local\n      fleet_images: {{lodestar: '{LODESTAR_IMAGE}'}}\n")
    load_inventory(root)
    f = Fleet(root, root.parent / f"{root.name}-state" / "fleetctl.db", beacons, slot)
    yield f
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def fl(fleet: Fleet) -> Iterator[Fleet]:
    fleet.reset()
    fleet.cache()
    yield fleet
    fleet.reset()


def health(f: Fleet, *args: str) -> tuple[Any, dict[str, Any] | None]:
    proc = run_cli("-i", str(f.root), "health", "--db", str(f.db), "--no-alerts", *args, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout) if "json" in args else None
    return proc, doc


def by(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {c["target"]: c for c in doc["checks"] if c["kind"] == kind}


def run_json(f: Fleet) -> dict[str, Any]:
    f.cache()
    return health(f, "-o", "json")[1]  # type: ignore[return-value]


# ----------------------------------------------------------------------------- tests


def test_a_healthy_fleet_checks_every_consensus_client(fl: Fleet):
    doc = run_json(fl)
    cons = by(doc, "consensus")
    assert set(cons) == {*ADOPTED, "eth-geth-1-lodestar", "eth-erigon-1-caplin"}
    for name, c in cons.items():
        assert c["status"] == "OK", c
        assert c["head_slot"] == HEAD_SLOT and c["finalized_epoch"] == FIN_EPOCH and c["peers"] == 50
    assert cons["eth-erigon-1-caplin"]["pair"] == "eth-erigon-1"
    assert cons["eth-erigon-1-caplin"]["url"] == f"http://{HOST}:{pm.BEACON_PORT_BASE + 10 * (fl.slot + 1)}"
    assert cons["cl-lighthouse"]["running_client"] == "lighthouse"
    chain = by(doc, "chain")["eth/consensus"]
    assert chain["status"] == "OK" and chain["finalized_epoch"] == FIN_EPOCH, chain
    assert all(c["status"] == "OK" for c in by(doc, "execution").values()), by(doc, "execution")


def set_drop(b: Beacon) -> None:
    b.drop = True


CASES = [
    # (what, target, change, level, words, pair marked)
    ("closed", "cl-lighthouse", set_drop, "CRITICAL", "closed", True),
    ("503", "cl-teku", lambda b: setattr(b, "health", 503), "CRITICAL", "not ready", True),
    ("el_offline", "cl-prysm", lambda b: setattr(b, "el_offline", True), "CRITICAL", "el_offline", True),
    ("optimistic", "cl-lighthouse", lambda b: (setattr(b, "is_optimistic", True), setattr(b, "health", 206)),
     "CRITICAL", "optimistic", True),
    ("syncing", "cl-teku", lambda b: (setattr(b, "is_syncing", True), setattr(b, "health", 206),
                                       setattr(b, "head_slot", HEAD_SLOT - 1)), "WARNING", "syncing", False),
    ("syncing far", "eth-geth-1-lodestar", lambda b: (setattr(b, "is_syncing", True), setattr(b, "health", 206),
                                                       setattr(b, "head_slot", HEAD_SLOT - 300),
                                                       setattr(b, "fin_epoch", 20)),
     "CRITICAL", "300 slots behind", True),
    ("lag warning", "cl-prysm", lambda b: setattr(b, "head_slot", HEAD_SLOT - 5), "WARNING", "5 slots behind", False),
    ("lag critical", "eth-erigon-1-caplin", lambda b: setattr(b, "head_slot", HEAD_SLOT - 40), "CRITICAL",
     "40 slots behind", True),
    ("peers", "cl-nimbus", lambda b: setattr(b, "peers", 0), "WARNING", "0 peers", False),
    ("client mismatch", "cl-lighthouse", lambda b: setattr(b, "version", ADOPTED["cl-teku"][1]), "WARNING",
     "runs teku, declared lighthouse", False),
    ("version mismatch", "eth-geth-1-lodestar", lambda b: setattr(b, "version", "Lodestar/v0.9.1/linux-x64"),
     "WARNING", "planned", False),
    ("bad field", "cl-teku", lambda b: b.raw.update({"/eth/v1/node/syncing": (200, json.dumps(
        {"data": {"head_slot": 1000, "sync_distance": "0", "is_syncing": False, "is_optimistic": False,
                  "el_offline": False}}).encode())}), "UNKNOWN", "/eth/v1/node/syncing: data.head_slot", False),
    ("far ahead", "cl-nimbus", lambda b: setattr(b, "head_slot", 10**9), "UNKNOWN", "implausible", False),
]
PAIR_OF = {"cl-lighthouse": "el-geth", "cl-teku": "el-neth", "cl-prysm": "el-erigon", "cl-nimbus": None,
           "eth-geth-1-lodestar": "eth-geth-1", "eth-erigon-1-caplin": "eth-erigon-1"}


@pytest.mark.parametrize("what,target,change,level,words,marked", CASES, ids=[c[0] for c in CASES])
def test_each_condition_at_its_level(fl: Fleet, what, target, change, level, words, marked):
    change(fl.beacons[target])
    doc = run_json(fl)
    cons = by(doc, "consensus")
    assert cons[target]["status"] == level, cons[target]
    assert words in cons[target]["message"], cons[target]["message"]
    for name, c in cons.items():
        if name != target:
            assert c["status"] == "OK", c
    execution = by(doc, "execution")
    pair = PAIR_OF[target]
    for name, c in execution.items():
        if marked and name == pair:
            assert c["status"] == "CRITICAL", c
            assert f"its consensus client" in c["message"] and target in c["message"], c["message"]
            assert c["state"] == "consensus"
        else:
            assert c["status"] == "OK", c


def test_a_finality_divergence_is_named(fl: Fleet):
    other = root("fork")
    fl.beacons["cl-prysm"].fin_root = other
    doc = run_json(fl)
    prysm = by(doc, "consensus")["cl-prysm"]
    assert prysm["status"] == "CRITICAL" and prysm["state"] == "diverged", prysm
    assert f"finalized epoch {FIN_EPOCH}" in prysm["message"]
    assert other[:10] in prysm["message"] and FIN_ROOT[:10] in prysm["message"]
    assert by(doc, "consensus")["cl-teku"]["status"] == "OK"
    chain = by(doc, "chain")["eth/consensus"]
    assert chain["status"] == "CRITICAL" and "diverged" in chain["message"], chain
    assert by(doc, "execution")["el-erigon"]["status"] == "CRITICAL"
    assert "another finalized root" in by(doc, "execution")["el-erigon"]["message"]


def test_a_target_finalized_further_on_another_chain_is_diverged(fl: Fleet):
    b = fl.beacons["cl-nimbus"]
    b.fin_epoch, b.fin_root = FIN_EPOCH + 1, root("fork2")
    b.blocks[FIN_ROOT] = (FIN_EPOCH * 32, False)  # it knows the majority's finalized block, not canonical
    doc = run_json(fl)
    nimbus = by(doc, "consensus")["cl-nimbus"]
    assert nimbus["status"] == "CRITICAL" and "DIVERGED" in nimbus["message"], nimbus
    assert f"epoch {FIN_EPOCH}" in nimbus["message"]


def test_a_target_finalized_further_on_the_same_chain_agrees(fl: Fleet):
    b = fl.beacons["cl-nimbus"]
    b.fin_epoch, b.fin_root = FIN_EPOCH + 1, root("next")
    b.blocks[FIN_ROOT] = (FIN_EPOCH * 32, True)
    doc = run_json(fl)
    assert by(doc, "consensus")["cl-nimbus"]["status"] == "OK", by(doc, "consensus")["cl-nimbus"]
    b.blocks.clear()  # it has not the block (no backfill): not compared, never a false DIVERGED
    doc = run_json(fl)
    nimbus = by(doc, "consensus")["cl-nimbus"]
    assert nimbus["status"] == "OK" and "unknown to it" in nimbus["message"], nimbus


def test_no_finality_majority_is_critical_and_nobody_diverged(fl: Fleet):
    for name in ("cl-lighthouse", "cl-teku", "cl-nimbus"):
        fl.beacons[name].fin_root = root("fork")
    for name in ("cl-prysm", "eth-geth-1-lodestar"):
        fl.beacons[name].fin_root = root("other")
    fl.beacons["eth-erigon-1-caplin"].fin_root = root("third")
    doc = run_json(fl)
    chain = by(doc, "chain")["eth/consensus"]
    assert chain["status"] == "CRITICAL" and "3 consensus client(s) diverged" in chain["message"], chain
    # three clients on one root beat two and one: the majority exists; the others are diverged
    assert by(doc, "consensus")["cl-lighthouse"]["status"] == "OK"
    assert by(doc, "consensus")["cl-prysm"]["state"] == "diverged"
    # now two clients on each of three roots: no strict majority
    fl.beacons["cl-nimbus"].fin_root = root("other")
    fl.beacons["cl-prysm"].fin_root = root("other")
    fl.beacons["eth-geth-1-lodestar"].fin_root = root("third")
    doc = run_json(fl)
    chain = by(doc, "chain")["eth/consensus"]
    assert chain["status"] == "CRITICAL" and "no majority" in chain["message"], chain
    assert not [c for c in by(doc, "consensus").values() if c["state"] == "diverged"]


def test_a_stopped_or_missing_consensus_container(fl: Fleet):
    fl.cache(lodestar_running=False)
    doc = health(fl, "-o", "json")[1]
    assert doc is not None
    lodestar = by(doc, "consensus")["eth-geth-1-lodestar"]
    assert lodestar["status"] == "CRITICAL" and "container not running" in lodestar["message"]
    assert by(doc, "execution")["eth-geth-1"]["status"] == "CRITICAL"
    data = json.loads(fl.db.with_name(fl.db.name + ".targets.json").read_text())
    data["pairhost"]["containers"] = [c for c in data["pairhost"]["containers"] if c["role"] != "consensus"]
    fl.db.with_name(fl.db.name + ".targets.json").write_text(json.dumps(data))
    doc = health(fl, "-o", "json")[1]
    assert "missing: no container eth-geth-1-lodestar" in by(doc, "consensus")["eth-geth-1-lodestar"]["message"]


def test_a_legacy_node_without_a_consensus_label_has_no_consensus_target(fl: Fleet):
    path = fl.db.with_name(fl.db.name + ".targets.json")
    data = json.loads(path.read_text())
    for c in data["pairhost"]["containers"]:
        c.pop("pair"), c.pop("consensus")  # a cache written before pairs existed
    data["pairhost"]["containers"] = [c for c in data["pairhost"]["containers"] if c["role"] == "node"]
    path.write_text(json.dumps(data))
    doc = health(fl, "-o", "json")[1]
    assert set(by(doc, "consensus")) == set(ADOPTED)
    assert {"eth-geth-1", "eth-erigon-1"} <= set(by(doc, "execution"))
    assert not [n for n in doc["notes"] if "targets cache" in n], doc["notes"]


def test_nagios_perfdata_and_prom_file(fl: Fleet, tmp_path: Path):
    fl.beacons["cl-prysm"].head_slot = HEAD_SLOT - 5
    fl.beacons["cl-teku"].is_optimistic = True
    prom = tmp_path / "fleet.prom"
    fl.cache()
    proc, _ = health(fl, "--nagios", "--prom-file", str(prom))
    assert proc.returncode == 2, proc.stdout
    perf = proc.stdout.split("|", 1)[1]
    assert "consensus_ok=4" in perf and "consensus_warn=1" in perf and "consensus_crit=1" in perf, perf
    assert "max_slot_lag=5" in perf, perf
    text = prom.read_text()
    for metric in ("fleetctl_consensus_head_slot", "fleetctl_consensus_slot_lag", "fleetctl_consensus_peers",
                   "fleetctl_consensus_optimistic", "fleetctl_consensus_el_offline",
                   "fleetctl_consensus_finalized_epoch", "fleetctl_consensus_up"):
        assert metric + "{" in text, metric
    assert 'fleetctl_consensus_optimistic{chain="eth",client="teku",host="",target="cl-teku"} 1.0' in text
    assert 'fleetctl_consensus_slot_lag{chain="eth",client="prysm",host="",target="cl-prysm"} 5.0' in text
    assert 'fleetctl_check_status{kind="consensus",target="cl-teku"} 2.0' in text


def test_the_table_names_the_pair(fl: Fleet):
    fl.beacons["cl-lighthouse"].el_offline = True
    fl.cache()
    proc, _ = health(fl)
    assert proc.returncode == 2
    assert "consensus" in proc.stdout and "cl-lighthouse" in proc.stdout and "el_offline" in proc.stdout
    assert "its consensus client lighthouse (cl-lighthouse)" in proc.stdout


def test_remediation_pulls_a_backend_whose_consensus_client_stops_it(fl: Fleet):
    """The decision, on a real sweep's verdicts (HAProxy itself is the lab's and test_health_sweep's)."""
    import asyncio

    from fleetctl.health.sweep import sweep

    fl.beacons["cl-lighthouse"].is_optimistic = True
    fl.cache()
    fleet = load_inventory(fl.root)
    result = asyncio.run(sweep(fleet, timeout=2, concurrency=16, db=fl.db, record_stakes=False))
    read = sv.BalancerRead("pairhost", "lb-eth", "eth", "http://x/stats",
                           [sv.ServerState(n, "UP") for n in ("el-geth", "el-neth", "el-erigon")])
    actions = rm.plan_actions(read, result.verdicts, {}, rise=2)
    assert [(a["action"], a["server"], a["state"]) for a in actions] == [("pull", "el-geth", "consensus")]
    assert "optimistic" in actions[0]["reason"]
    # put back after `rise` healthy runs, once its consensus client is fine again
    fl.reset()
    fl.cache()
    result = asyncio.run(sweep(fleet, timeout=2, concurrency=16, db=fl.db, record_stakes=False))
    read.servers[0] = sv.ServerState("el-geth", "MAINT")
    actions = rm.plan_actions(read, result.verdicts, {"el-geth": {"healthy_runs": 1}}, rise=2)
    assert actions == [{"action": "restore", "server": "el-geth", "healthy_runs": 2, "reason": "healthy for 2 run(s)"}]
