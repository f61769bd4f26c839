"""fleetctl's consensus checks against a REAL consensus client: the real chain is the judge.

Lodestar 1.5.1 (npm @chainsafe/lodestar, installed into .tools/lodestar by scripts/lodestar.sh,
which ``scripts/setup.sh --test`` runs) in ``lodestar dev`` mode: one node on 127.0.0.1 only (free
ports, a temporary data dir, no discovery, no bootnodes, no peers), its 8 interop validators
proposing a block every 1 s slot, with Lodestar's own mocked execution engine
(``--execution.engineMock``: dev mode needs no execution client, and anvil, the lab's, speaks no
Engine API). The real ``fleetctl health`` adopts it as a consensus endpoint (``client: lodestar``)
and must read its identity, head, sync state and peers without a parse failure.

Why 1.5.1 (a 2023 release) and not a current one: the npm registry reachable here has no complete
set of a newer release's @lodestar/* packages (tests/fixtures/beacon/lodestar/README.md). Its
answers follow the Beacon API spec of its time: no ``el_offline`` in /eth/v1/node/syncing, no
``finalized`` metadata, a Fastify-style error body. fleetctl must take a missing optional field as
"unknown", not as garbage.

Not installed is a FAILURE naming the installer's one-line reason, not a skip: a test that skips
whenever its tool is missing proves nothing on the machine where it matters.

The cheap tests need no node: fleetctl's Beacon API readers on the bodies the real client gave
(tests/fixtures/beacon/lodestar/), and the lab's beacon front (lab/fleetlab/image-files/beacon_front.py)
answering every captured route with the real bodies' structure (keys and value kinds), save the
fields the spec added after 1.5.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, lab_script, run_cli

HOST = "127.0.0.1"
TOOLS = REPO / ".tools" / "lodestar"
LODESTAR = TOOLS / "bin" / "lodestar"
FIXTURES = REPO / "tests" / "fixtures" / "beacon" / "lodestar"
VERSION = "1.5.1"
SLOT_S = 1  # --params.SECONDS_PER_SLOT (1.5.1's dev mode takes it)
MIN_SLOTS = 3  # blocks the chain must have made before fleetctl looks
NAME = "real-lodestar"


# ----------------------------------------------------------------------------- the real node


def lodestar_bin() -> Path:
    """The installed wrapper, or a failure with scripts/lodestar.sh's one-line reason."""
    if os.access(LODESTAR, os.X_OK) and (TOOLS / ".installed").is_file():
        return LODESTAR
    failed = TOOLS / "FAILED"
    reason = failed.read_text().strip() if failed.is_file() else "never installed"
    pytest.fail(f"Lodestar {VERSION} is not installed in .tools/lodestar: {reason} "
                "(scripts/lodestar.sh installs it; scripts/setup.sh --test runs it)", pytrace=False)


def free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP (the node's libp2p and discv5 share it)."""
    for _ in range(50):
        with socket.socket() as t:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((HOST, port))
                except OSError:
                    continue
            return port
    pytest.fail("no port free for both TCP and UDP on 127.0.0.1")


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(url: str) -> Any:
    status, body = get(url)
    assert status == 200, (url, status, body[:200])
    return json.loads(body)


@dataclass
class Node:
    proc: subprocess.Popen[bytes]
    api: str
    log: Path
    started: float
    ready_s: float = 0.0

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def head_slot(self) -> int:
        return int(get_json(self.api + "/eth/v1/node/syncing")["data"]["head_slot"])

    def rss_kb(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the node process, in kB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        vals = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        return int(vals.get("VmRSS", 0)), int(vals.get("VmHWM", 0))


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Lodestar 1.5.1's first SIGINT hangs in its graceful shutdown (its validator's event stream:
    'Cannot write headers after they are sent'); a second one forces the exit; SIGKILL last."""
    for sig, wait in ((signal.SIGINT, 3), (signal.SIGINT, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:  # the group is gone but the leader is not reaped yet
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    binary = lodestar_bin()
    work = tmp_path_factory.mktemp("lodestar")
    rest, p2p = free_port(), free_port()
    api = f"http://{HOST}:{rest}"
    log = work / "lodestar.log"
    cmd = [str(binary), "dev", "--genesisValidators", "8", "--startValidators", "0..7",
           "--genesisTime", str(int(time.time()) + 2), "--reset", "--dataDir", str(work / "data"),
           "--rest", "--rest.address", HOST, "--rest.port", str(rest), "--server", api,
           "--discv5", "false", "--mdns", "false", "--listenAddress", HOST, "--port", str(p2p),
           "--execution.engineMock", "--eth1", "false", "--metrics", "false",
           "--params.SECONDS_PER_SLOT", str(SLOT_S)]
    started = time.monotonic()
    with log.open("wb") as out:
        # its own process group: stop() signals the node and anything it started
        proc = subprocess.Popen(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    n = Node(proc, api, log, started)
    try:
        deadline = started + 40
        while True:
            if proc.poll() is not None:
                pytest.fail(f"lodestar exited {proc.returncode} before its REST API answered:\n{n.tail()}")
            try:
                if n.head_slot() >= MIN_SLOTS:
                    break
            except (OSError, ValueError, AssertionError, KeyError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"lodestar made no {MIN_SLOTS} slots within 40 s:\n{n.tail()}")
            time.sleep(0.25)
        n.ready_s = time.monotonic() - started
        yield n
    finally:
        stop(proc)


def inventory(tmp_path: Path, api: str) -> Path:
    root = tmp_path / "inv"
    root.mkdir()
    # One adopted consensus endpoint; no execution endpoint (its engine is Lodestar's own mock).
    # The host is this machine over a local connection (health reads its facts): its thresholds are
    # set so that only Docker being absent can make it WARN, never CRITICAL, whatever the machine.
    (root / "fleet.yml").write_text(
        "protocol: shannon\n"
        "pocket: {rest_url: 'http://127.0.0.1:9'}\n"
        "chains:\n"
        "  eth:\n"
        "    clients: [geth, nethermind, erigon]\n"
        "    replicas: 1\n"
        "    endpoints:\n"
        f"      - {{name: {NAME}, url: '{api}', client: lodestar}}\n"
        "health: {timeout: 3, load_warning: 500, load_critical: 1000, disk_warning: 1%, disk_critical: 0.5%,\n"
        "         memory_warning: 1%, memory_critical: 0.5%}\n")
    (root / "hosts.yml").write_text("all:\n  hosts:\n    here:\n      ansible_host: 127.0.0.1\n"
                                    "      ansible_connection: local\n")
    return root


def consensus_check(doc: dict[str, Any]) -> dict[str, Any]:
    cons = {c["target"]: c for c in doc["checks"] if c["kind"] == "consensus"}
    assert set(cons) == {NAME}, [c["target"] for c in doc["checks"]]
    return cons[NAME]


# ----------------------------------------------------------------------------- against the node


def test_health_reads_the_real_client(node: Node, tmp_path: Path) -> None:
    inv = inventory(tmp_path, node.api)
    db = tmp_path / "state" / "fleetctl.db"
    before = node.head_slot()
    proc = run_cli("-i", str(inv), "health", "--db", str(db), "-o", "json", timeout=60)
    after = node.head_slot()
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    c = consensus_check(doc)
    # Identity, as the real client spells it ("Lodestar/v1.5.1/<commit>")
    assert re.fullmatch(rf"Lodestar/v{re.escape(VERSION)}/[0-9a-f]{{7}}", c["client_version"]), c
    assert (c["running_client"], c["running_version"]) == ("lodestar", VERSION), c
    # Its chain: a head that moved, read as the node itself says it (no lag, nothing made up)
    assert c["health_status"] == 200, c
    assert before <= c["head_slot"] <= after and c["head_slot"] >= MIN_SLOTS, (before, c["head_slot"], after)
    assert re.fullmatch(r"0x[0-9a-f]{64}", c["head_root"]), c
    assert (c["is_syncing"], c["is_optimistic"], c["sync_distance"], c["slot_lag"]) == (False, False, 0, 0), c
    assert isinstance(c["finalized_epoch"], int) and c["finalized_epoch"] >= 0, c
    # The real chain vouches for the root fleetctl read: its block at that slot has that root
    # (8 validators of 8 propose every slot; a block at the slot is canonical unless reorged).
    header = get_json(f"{node.api}/eth/v1/beacon/headers/{c['head_slot']}")["data"]
    assert header["root"] == c["head_root"] and header["canonical"] is True, (header, c)
    # el_offline: 1.5.1 predates the field (beacon-APIs #290): unknown with a note, not garbage
    assert c["el_offline"] is None, c
    assert any("el_offline unknown" in note for note in c["notes"]), c["notes"]
    # No peers (no discovery, no bootnodes): health.min_peers (default 1) -> WARNING, nothing worse
    assert c["peers"] == 0, c
    assert (c["status"], c["state"]) == ("WARNING", "peers"), c
    assert c["message"] == "0 peers (fewer than 1)", c
    assert not [x for x in doc["checks"] if x["status"] == "UNKNOWN"], doc["checks"]
    chain = {x["target"]: x for x in doc["checks"] if x["kind"] == "chain"}["eth/consensus"]
    assert chain["status"] == "OK" and chain["reference_slot"] == c["head_slot"], chain
    # The alert under the contract's key
    alerts = json.loads(run_cli("-i", str(inv), "alerts", "list", "--db", str(db), "-o", "json", check=True).stdout)
    mine = [a for a in alerts["alerts"] if a["key"] == f"consensus/{NAME}"]
    assert len(mine) == 1 and mine[0]["level"] == "WARNING" and "0 peers" in mine[0]["message"], alerts


def test_health_nagios_on_the_real_client(node: Node, tmp_path: Path) -> None:
    inv = inventory(tmp_path, node.api)
    proc = run_cli("-i", str(inv), "health", "--db", str(tmp_path / "db" / "f.db"), "--no-alerts", "--nagios",
                   timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    line = proc.stdout.strip()
    assert proc.returncode == 1 and line.startswith("HEALTH WARNING"), (proc.returncode, line, proc.stderr)
    assert f"consensus {NAME}: 0 peers (fewer than 1)" in line, line
    perf = dict(kv.split("=", 1) for kv in line.split("|", 1)[1].split())
    assert (perf["consensus_ok"], perf["consensus_warn"], perf["consensus_crit"]) == ("0", "1", "0"), perf
    assert perf["unknown"] == "0" and perf["max_slot_lag"] == "0", perf


def test_the_node_stays_on_loopback(node: Node) -> None:
    """Every socket of the node is on 127.0.0.1, and it talks to nobody else."""
    if not shutil.which("ss"):
        pytest.skip("ss (iproute2) is absent")
    out = subprocess.run(["ss", "-tunapH"], capture_output=True, text=True, timeout=10).stdout
    mine = [line.split() for line in out.splitlines() if f"pid={node.proc.pid}," in line]
    assert mine, out
    for cols in mine:
        local, peer = cols[4], cols[5]
        assert local.rsplit(":", 1)[0] in (HOST, "[::ffff:127.0.0.1]"), cols
        assert peer.rsplit(":", 1)[0] in (HOST, "[::ffff:127.0.0.1]", "*", "0.0.0.0"), cols
    rss, peak = node.rss_kb()
    print(f"lodestar: REST and {MIN_SLOTS} slots after {node.ready_s:.1f} s; RSS {rss // 1024} MB, "
          f"peak {peak // 1024} MB; {len(mine)} sockets, all on 127.0.0.1")


# ----------------------------------------------------------------------------- no node needed

#: fixture file -> the request that produced it (tests/fixtures/beacon/lodestar/README.md)
CAPTURED = {
    "node_health": "/eth/v1/node/health",
    "node_syncing": "/eth/v1/node/syncing",
    "node_version": "/eth/v1/node/version",
    "node_peer_count": "/eth/v1/node/peer_count",
    "beacon_headers_head": "/eth/v1/beacon/headers/head",
    "beacon_states_head_finality_checkpoints": "/eth/v1/beacon/states/head/finality_checkpoints",
    "beacon_blocks_head_root": "/eth/v1/beacon/blocks/head/root",
    "beacon_genesis": "/eth/v1/beacon/genesis",
    "extra_beacon_headers_unknown_404": "/eth/v1/beacon/headers/0x" + "11" * 32,
}

#: Fields the beacon front serves (it follows beacon-APIs v4.0.0) that the spec added after
#: Lodestar 1.5.1: ``finalized`` metadata (beacon-APIs PR #254; Lodestar has it since PR #6645,
#: 2024) and ``el_offline`` (beacon-APIs PR #290; Lodestar PR #5723, 2023).
LATER_FIELDS = {
    "node_syncing": [("data", "el_offline")],
    "beacon_headers_head": [("finalized",)],
    "beacon_blocks_head_root": [("finalized",)],
    "beacon_states_head_finality_checkpoints": [("finalized",)],
}


def captured(name: str) -> tuple[int, bytes]:
    status = int((FIXTURES / f"{name}.headers.txt").read_text().split()[1])
    return status, (FIXTURES / f"{name}.json").read_bytes()


def shape(value: Any) -> Any:
    """A body's structure: keys and the kind of every value (decimal string, root, hex, ...)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if value is None:
        return "null"
    if re.fullmatch(r"0|[1-9][0-9]*", value):
        return "decimal"
    if re.fullmatch(r"0x[0-9a-f]{64}", value):
        return "root"
    if re.fullmatch(r"0x(?:[0-9a-f]{2})+", value):
        return f"hex{(len(value) - 2) // 2}"
    return "string"


def drop(tree: dict[str, Any], path: tuple[str, ...]) -> Any:
    *parents, leaf = path
    for key in parents:
        tree = tree[key]
    return tree.pop(leaf)


def test_the_lab_front_answers_in_the_real_clients_shape() -> None:
    bf = lab_script("beacon_front")

    head = 56  # the captured head slot
    beacon = bf.Beacon("lodestar", bf.PERSONAS["lodestar"].version_string(VERSION),
                       bf.CallableSource(lambda: head), bf.Faults(peers=0))
    listener = bf.ApiListener(HOST, 0, bf.Api(beacon))  # the front's own HTTP handler, on loopback
    base = f"http://{HOST}:{listener.address[1]}"
    try:
        answers = {name: get(base + path) for name, path in CAPTURED.items()}
    finally:
        listener.close()
    for name, (status, raw) in answers.items():
        real_status, real_raw = captured(name)
        assert status == real_status, (name, status, real_status)
        if name == "node_health":
            assert real_raw == b"" and raw == b"", (name, raw)
            continue
        real = shape(json.loads(real_raw))
        front = shape(json.loads(raw))
        if name == "extra_beacon_headers_unknown_404":
            # Not a later spec field but 1.5.1 itself: its errors are Fastify's
            # {statusCode, error, message}, where the spec's ErrorMessage is {code, message}
            # (the front follows the spec). fleetctl reads only the status of an error.
            assert real == {"statusCode": "int", "error": "string", "message": "string"}, real
            assert front == {"code": "int", "message": "string"}, front
            continue
        for later in LATER_FIELDS.get(name, []):
            with pytest.raises(KeyError):
                drop(json.loads(json.dumps(real)), later)  # the real 1.5.1 lacks it
            drop(front, later)
        assert front == real, (name, front, real)
    # The version string is spelled the way the real client spells it.
    real_version = json.loads(captured("node_version")[1])["data"]["version"]
    front_version = json.loads(answers["node_version"][1])["data"]["version"]
    assert re.sub(r"[0-9a-f]{7}$", "C", real_version) == re.sub(r"[0-9a-f]{7}$", "C", front_version), front_version


def test_fleetctl_reads_the_real_bodies() -> None:
    """fleetctl's Beacon API readers on the bodies the real client gave (no node needed)."""
    from fleetctl.health import consensus as cs

    def body(name: str) -> dict[str, Any]:
        status, raw = captured(name)
        assert status == 200
        return cs._body(CAPTURED[name], raw)

    assert cs.read_syncing(body("node_syncing")) == {
        "head_slot": 56, "sync_distance": 0, "is_syncing": False, "is_optimistic": False, "el_offline": None}
    slot, root, canonical = cs.read_header(body("beacon_headers_head"))
    assert (slot, canonical) == (56, True)
    assert root == json.loads(captured("beacon_blocks_head_root")[1])["data"]["root"]
    assert cs.read_finality(body("beacon_states_head_finality_checkpoints")) == (
        5, "0x79d6c134558ea934bfbbf2f84c4ed9105b92a3b8338d304bdca57f0409c15476")
    assert cs.read_peer_count(body("node_peer_count")) == 0
    version = cs.read_version(body("node_version"))
    assert cs.parse_beacon_version(version) == ("lodestar", VERSION)
    # The real 404 (Fastify's body): "unknown to it", never DIVERGED nor a parse failure
    status, raw = captured("extra_beacon_headers_unknown_404")
    verdict, note = cs.read_finality_check(status, raw, 5, "0x" + "11" * 32)
    assert verdict is None and note is not None and "unknown to it" in note, (verdict, note)
