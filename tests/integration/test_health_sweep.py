"""`fleetctl health`, the exporter and --remediate against real servers on 127.0.0.1.

One anvil (no block time: the chain only moves when told, so lags are exact), four client fronts
over it (lab/fleetlab/image-files/front.py under the system Python, presenting as Geth, Geth, Nethermind and
Erigon), anvil itself as a fifth endpoint (it does not serve net_peerCount), the Pocket stand-in
with its CometBFT listener, and Debian's HAProxy with its runtime API on a unix socket. Every
fault a front can inject is applied through its control port and `fleetctl health` (the
installed console script, run against this checkout) must name it with the right level.

The host `local-1` uses ``ansible_connection: local``: its facts are this machine's, read with
``sh -c``. Whether a Docker engine answers here is read from the machine itself, not assumed.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import selectors
import shutil
import signal
import socket
import stat
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, fleetctl_bin, lab_image, run_cli
from fleetctl.health import execution as ex
from fleetctl.health import remediate as rm
from fleetctl.health import services as sv
from fleetctl.health import sweep as sw
from fleetctl.core.levels import Level
from fleetctl.spec.loader import load_inventory
from fleetlab.standin import PocketStandin, lab_address

LOCALHOST = "127.0.0.1"
FRONT = lab_image("front.py")
SYSTEM_PYTHON = Path("/usr/bin/python3")
HAPROXY = Path("/usr/sbin/haproxy")
ENV = {"PYTHONPATH": str(REPO)}
TIMEOUT = 1  # health.timeout of these inventories
HEAD = 50  # anvil's head for the whole module
POKT = 1_000_000
SUPPLIERS = [lab_address(f"health-sweep-{i}") for i in range(3)]
FRONTS = {"eth-geth-a": "geth", "eth-geth-b": "geth", "eth-neth": "nethermind", "eth-erigon": "erigon"}
READY = re.compile(r"^ready client=(\w+) rpc=(http://\S+) control=(http://\S+)$")


# ----------------------------------------------------------------------------- plumbing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def request(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, bytes]:
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    assert name == LOCALHOST, url
    conn = http.client.HTTPConnection(name, int(port), timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, "/" + rest, data, {"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    status, body = request("POST", url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    assert status == 200, body
    answer = json.loads(body)
    assert "error" not in answer, answer
    return answer["result"]


@dataclass
class Front:
    name: str
    client: str
    rpc: str
    control: str
    proc: subprocess.Popen[str]

    def fault(self, **faults: Any) -> None:
        status, body = request("POST", self.control + "/fault", faults)
        assert status == 200, body

    def clear(self) -> None:
        status, body = request("POST", self.control + "/fault/clear", {})
        assert status == 200, body


def start_front(name: str, client: str, upstream: str, stderr: Path) -> Front:
    with stderr.open("w") as err:
        proc = subprocess.Popen([str(SYSTEM_PYTHON), "-I", "-S", str(FRONT), "--client", client, "--upstream",
                                 upstream, "--listen", LOCALHOST, "--port", "0"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=10):
            proc.kill()
            pytest.fail(f"front {name} never became ready: {stderr.read_text()}")
    match = READY.match(proc.stdout.readline().strip())
    if match is None:
        proc.kill()
        pytest.fail(f"front {name}: unexpected first line: {stderr.read_text()}")
    return Front(name, client, match[2], match[3], proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def docker_engine_answers() -> bool | None:
    """None: no docker CLI here; else whether `docker ps` works (what the facts script will see)."""
    if shutil.which("docker") is None:
        return None
    try:
        return subprocess.run(["docker", "ps", "-q"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def anvil() -> Iterator[str]:
    binary = os.environ.get("FLEETCTL_ANVIL") or shutil.which("anvil") or str(REPO / ".venv/bin/anvil")
    if not os.access(binary, os.X_OK):
        pytest.skip("anvil not found")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("/usr/bin/python3 is absent (the fronts run under the system Python)")
    port = free_port()
    proc = subprocess.Popen([binary, "--host", LOCALHOST, "--port", str(port), "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{LOCALHOST}:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                rpc(url, "eth_blockNumber")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("anvil did not start")
                time.sleep(0.05)
        rpc(url, "anvil_mine", [hex(HEAD)])
        assert int(rpc(url, "eth_blockNumber"), 16) == HEAD
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def fronts(anvil: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Front]]:
    logs = tmp_path_factory.mktemp("fronts")
    started: dict[str, Front] = {}
    try:
        for name, client in FRONTS.items():
            started[name] = start_front(name, client, anvil, logs / f"{name}.err")
        yield started
    finally:
        for front in started.values():
            stop(front.proc)
            if front.proc.stdout is not None:
                front.proc.stdout.close()


def shannon_seed(height: int = 1000) -> dict[str, Any]:
    return {"height": height,
            "shannon": {"params": {"supplier": {"min_stake": 1000 * POKT}},
                        "suppliers": [{"operator_address": a, "stake_upokt": 2000 * POKT, "services": ["eth"]}
                                      for a in SUPPLIERS]},
            "balances": {a: 50 * POKT for a in SUPPLIERS}}


@pytest.fixture(scope="module")
def standin() -> Iterator[PocketStandin]:
    server = PocketStandin(shannon_seed(), comet_addr=(LOCALHOST, 0)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with well-behaved fronts and stand-in."""
    if "fronts" in request.fixturenames:
        for front in request.getfixturevalue("fronts").values():
            front.clear()
    if "standin" in request.fixturenames:
        control = request.getfixturevalue("standin").control
        control.set_comet(lag=0, catching_up=False)
        control.set_fault("none")
    yield


def write_inventory(root: Path, *, rest_url: str, comet: str | None, endpoints: list[tuple[str, str, str]],
                    suppliers: bool = True,
                    health: str = f"{{timeout: {TIMEOUT}, hash_depth: 2, slow: 0.5, load_warning: 500, "
                                  "load_critical: 1000}",
                    host_vars: str = "") -> Path:
    """hosts.yml with local-1 (ansible_connection: local) and fleet.yml with adopted endpoints."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text(
        "all:\n  hosts:\n    local-1:\n      ansible_host: 127.0.0.1\n      ansible_connection: local\n" + host_vars)
    pocket = f"rest_url: '{rest_url}'" + (f", node_rpc_url: 'tcp://{comet.removeprefix('http://')}'" if comet else "")
    lines = ["protocol: shannon", f"pocket: {{{pocket}}}", "chains:", "  eth:",
             "    clients: [geth, nethermind, erigon]", f"    replicas: {len(endpoints)}",
             "    max_client_share: 0.5", "    endpoints:"]
    lines += [f"      - {{name: {n}, url: '{u}', client: {c}, host: local-1}}" for n, u, c in endpoints]
    if suppliers:
        lines.append("suppliers:")
        lines += [f"  - {{name: sup-{i}, operator_address: '{a}', services: [eth]}}" for i, a in enumerate(SUPPLIERS)]
    lines.append("stake: {warning_margin: 100 POKT, critical_margin: 20 POKT, min_operator_balance: 10 POKT}")
    # the load thresholds out of reach: this machine's load depends on whatever else runs here
    lines.append(f"health: {health}")
    (root / "fleet.yml").write_text("\n".join(lines) + "\n")
    load_inventory(root)  # valid, or the test is wrong
    return root


def endpoints_of(fronts: dict[str, Front], anvil: str, **client_override: str) -> list[tuple[str, str, str]]:
    out = [(name, f.rpc, client_override.get(name, f.client)) for name, f in fronts.items()]
    return out + [("eth-raw", anvil, "reth")]  # anvil itself, declared as an adopted reth


@pytest.fixture(scope="module")
def inv(fronts: dict[str, Front], anvil: str, standin: PocketStandin,
        tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inventory(tmp_path_factory.mktemp("inv"), rest_url=standin.shannon_url, comet=standin.comet_url,
                           endpoints=endpoints_of(fronts, anvil))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "fleetctl.db"


def health(inventory: Path, db: Path, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], Any]:
    proc = run_cli("-i", str(inventory), "health", "--db", str(db), *args, env=ENV, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout) if "-o" in args and "json" in args else None
    return proc, doc


def health_json(inventory: Path, db: Path, *args: str) -> dict[str, Any]:
    proc, doc = health(inventory, db, "-o", "json", *args)
    assert set(doc) >= {"status", "checks"}
    assert proc.returncode == doc_exit_code(doc), (proc.returncode, doc["status"])
    return doc


NAGIOS = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
SEVERITY = {"OK": 0, "WARNING": 1, "UNKNOWN": 2, "CRITICAL": 3}


def doc_exit_code(doc: dict[str, Any]) -> int:
    worst = max((c["status"] for c in doc["checks"]), key=SEVERITY.__getitem__, default="OK")
    assert doc["status"] == worst
    return NAGIOS[worst]


def checks(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found = [c for c in doc["checks"] if c["kind"] == kind]
    by_target = {c["target"]: c for c in found}
    assert len(by_target) == len(found), "one check per target"
    return by_target


def assert_others_ok(doc: dict[str, Any], *faulty: str) -> None:
    for name, c in checks(doc, "execution").items():
        if name not in faulty:
            assert c["status"] == "OK", c


# ----------------------------------------------------------------------------- the healthy fleet


def test_a_healthy_fleet(inv: Path, db: Path, anvil: str):
    doc = health_json(inv, db)
    execution = checks(doc, "execution")
    assert sorted(execution) == sorted([*FRONTS, "eth-raw"])
    for name, c in execution.items():
        assert c["status"] == "OK", c
        assert c["head"] == HEAD and c["lag"] == 0 and c["state"] == "ok" and c["chain"] == "eth"
    assert execution["eth-geth-a"]["client_version"] == "Geth/v1.17.5-stable-9621c6ad/linux-amd64/go1.26.5"
    assert execution["eth-neth"]["running_client"] == "nethermind" and execution["eth-neth"]["peers"] == 25
    # anvil does not serve net_peerCount: unknown, not zero, and no WARNING
    raw = execution["eth-raw"]
    assert raw["peers"] is None and "peers unknown" in raw["message"]
    chain = checks(doc, "chain")["eth"]
    assert chain["status"] == "OK" and "5 of 5 endpoints up" in chain["message"]
    assert f"5 agree on block {HEAD - 2}" in chain["message"]
    assert chain["reference_head"] == HEAD and chain["compared_height"] == HEAD - 2
    stakes = checks(doc, "stake")
    assert sorted(stakes) == sorted(SUPPLIERS)  # the supplier address is the target
    assert all(c["status"] == "OK" and c["name"].startswith("sup-") for c in stakes.values())
    node = checks(doc, "pocket_node")["pocket-node"]
    assert node["status"] == "OK" and node["height"] == node["network_height"] == 1000


def test_the_host_check_reads_this_machine(inv: Path, db: Path):
    doc = health_json(inv, db)
    host = checks(doc, "host")["local-1"]
    assert host["cpus"] == os.cpu_count()
    assert host["values"]["up"] == 1.0 and host["disks"]
    data_root = "/var/lib/docker" if os.path.isdir("/var/lib/docker") else "/"  # what FACTS_SCRIPT asks df
    fs = os.statvfs(data_root)
    assert len(host["disks"]) == 1
    assert abs(host["disks"][0]["free_percent"] - 100 * fs.f_bavail / fs.f_blocks) < 2
    assert host["disks"][0]["size_bytes"] == fs.f_blocks * fs.f_frsize
    engine = docker_engine_answers()
    if engine is False:  # the docker CLI is here, its engine is not: a WARNING that says so
        assert host["status"] in ("WARNING", "CRITICAL") and "docker:" in host["message"]
    else:
        assert "docker:" not in host["message"]
    assert host["containers"] == [] or engine


# ----------------------------------------------------------------------------- every fault


FAULTS = [  # (faults, level, message, state)
    ({"lag": 2}, "OK", "block 48, 2 behind", "ok"),
    ({"lag": 3}, "WARNING", "3 blocks behind the chain's majority head 50", "lagging"),
    ({"lag": 10}, "CRITICAL", "10 blocks behind the chain's majority head 50", "lagging"),
    ({"syncing": True}, "WARNING", "syncing (block 50 of 50)", "syncing"),
    ({"syncing": True, "lag": 12}, "CRITICAL", "syncing (block 38 of 50)", "lagging"),
    ({"delay_ms": 2500}, "CRITICAL", f"no answer within {TIMEOUT} s", "unreachable"),
    ({"error": "rpc"}, "CRITICAL", "eth_blockNumber: internal error (-32603)", "error"),
    ({"error": "http"}, "CRITICAL", "HTTP 500", "unreachable"),
    ({"garbage": True}, "CRITICAL", "answered a body that is not JSON", "unreachable"),
    ({"refuse": True}, "CRITICAL", "connection refused", "unreachable"),
    ({"peers": 0}, "WARNING", "0 peers (fewer than 1)", "peers"),
]


@pytest.mark.parametrize(("faults", "level", "message", "state"), FAULTS,
                         ids=[json.dumps(f, separators=(",", ":")) for f, *_ in FAULTS])
def test_each_fault_is_named_with_its_level(inv: Path, db: Path, fronts: dict[str, Front], faults, level, message,
                                            state):
    fronts["eth-neth"].fault(**faults)
    doc = health_json(inv, db)
    c = checks(doc, "execution")["eth-neth"]
    assert c["status"] == level and message in c["message"], c
    assert c["state"] == state
    assert_others_ok(doc, "eth-neth")
    chain = checks(doc, "chain")["eth"]
    up = 4 if state in ("unreachable", "error") else 5
    assert f"{up} of 5 endpoints up" in chain["message"] and chain["status"] == "OK"
    assert chain["reference_head"] == HEAD  # one node cannot move the majority's head


def test_slow_below_the_timeout(inv: Path, db: Path, fronts: dict[str, Front]):
    fronts["eth-erigon"].fault(delay_ms=700)
    doc = health_json(inv, db, "--timeout", "3")  # health.slow is 0.5 s
    c = checks(doc, "execution")["eth-erigon"]
    assert c["status"] == "WARNING" and c["state"] == "slow" and "slow: answered in " in c["message"], c
    assert 0.7 <= c["values"]["response_seconds"] < 3
    assert_others_ok(doc, "eth-erigon")


def test_one_clients_nodes_fork_and_only_they_are_diverged(inv: Path, db: Path, fronts: dict[str, Front]):
    for name in ("eth-geth-a", "eth-geth-b"):
        fronts[name].fault(diverge_at=40)
    doc = health_json(inv, db)
    assert doc["status"] == "CRITICAL"
    execution = checks(doc, "execution")
    for name in ("eth-geth-a", "eth-geth-b"):
        c = execution[name]
        assert c["status"] == "CRITICAL" and c["state"] == "diverged" and c["values"]["diverged"] == 1.0
        assert c["message"].startswith(f"DIVERGED: block {HEAD - 2} is ")
    assert_others_ok(doc, "eth-geth-a", "eth-geth-b")
    assert all(execution[n]["values"]["diverged"] == 0.0 for n in ("eth-neth", "eth-erigon", "eth-raw"))
    chain = checks(doc, "chain")["eth"]
    assert chain["status"] == "CRITICAL" and f"2 endpoint(s) diverged at block {HEAD - 2}" in chain["message"]
    groups = {tuple(g["clients"]): g["endpoints"] for g in chain["hash_groups"]}
    assert groups == {("geth",): 2, ("anvil", "erigon", "nethermind"): 3}
    proc, _ = health(inv, db, "--nagios")
    assert proc.returncode == 2
    assert proc.stdout.startswith("HEALTH CRITICAL - ") and " diverged=2" in proc.stdout


def test_a_single_diverged_node(inv: Path, db: Path, fronts: dict[str, Front]):
    fronts["eth-erigon"].fault(diverge_at=HEAD - 2)  # from the compared block on
    doc = health_json(inv, db)
    execution = checks(doc, "execution")
    assert execution["eth-erigon"]["state"] == "diverged"
    assert_others_ok(doc, "eth-erigon")
    assert "1 endpoint(s) diverged" in checks(doc, "chain")["eth"]["message"]


def test_a_fork_above_the_compared_height_is_not_seen_yet(inv: Path, db: Path, fronts: dict[str, Front]):
    fronts["eth-erigon"].fault(diverge_at=HEAD)  # the tip only: hashes are compared 2 blocks below
    doc = health_json(inv, db)
    assert checks(doc, "execution")["eth-erigon"]["status"] == "OK"


# ----------------------------------------------------------------------------- the predicted common height


def sweep_counting_hash_reads(inventory: Path, db: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[int]]:
    """One sweep in this process; the heights step 2 asked for with a request of its own."""
    asked: list[int] = []
    real = ex.probe_hash

    async def probe_hash(session: Any, probe: Any, height: int, timeout: float) -> None:
        asked.append(height)
        await real(session, probe, height, timeout)

    monkeypatch.setattr(ex, "probe_hash", probe_hash)
    result = asyncio.run(sw.sweep(load_inventory(inventory), timeout=TIMEOUT, concurrency=16, db=db))
    return result, asked


def execution_verdicts(result: Any) -> dict[str, tuple[str, str, str]]:
    return {c.target: (c.kind, c.level.name, c.message) for c in result.checks if c.kind in ("execution", "chain")}


def test_the_next_run_reads_the_hashes_in_its_first_batch(inv: Path, db: Path, fronts: dict[str, Front],
                                                          monkeypatch: pytest.MonkeyPatch):
    first, asked = sweep_counting_hash_reads(inv, db, monkeypatch)
    assert asked == [HEAD - 2] * 5  # nothing predicted yet: step 2 asks every endpoint
    heads = json.loads(db.with_name(db.name + ".heads.json").read_text())
    assert heads["eth"]["h"] == HEAD - 2
    second, asked = sweep_counting_hash_reads(inv, db, monkeypatch)
    assert asked == []  # the predicted height was the common height: the batch had every hash
    assert execution_verdicts(second) == execution_verdicts(first)
    assert all(c.level is Level.OK for c in second.checks if c.kind == "execution")
    # a fork after the prediction is seen on the predicted block as on an asked one
    for name in ("eth-geth-a", "eth-geth-b"):
        fronts[name].fault(diverge_at=40)
    forked, asked = sweep_counting_hash_reads(inv, db, monkeypatch)
    assert asked == []
    diverged = {c.target for c in forked.checks if c.kind == "execution" and "DIVERGED" in c.message}
    assert diverged == {"eth-geth-a", "eth-geth-b"}
    fronts_db = db.with_name("fresh.db")  # the same fork, nothing predicted: the same verdicts
    fresh, asked = sweep_counting_hash_reads(inv, fronts_db, monkeypatch)
    assert len(asked) == 5 and execution_verdicts(fresh) == execution_verdicts(forked)


def test_a_wrong_prediction_only_costs_the_asking(inv: Path, db: Path, monkeypatch: pytest.MonkeyPatch):
    first, _ = sweep_counting_hash_reads(inv, db, monkeypatch)
    path = db.with_name(db.name + ".heads.json")
    path.write_text(json.dumps({"eth": {"ts": int(time.time()), "h": HEAD - 5, "bt": None}}))
    second, asked = sweep_counting_hash_reads(inv, db, monkeypatch)
    assert asked == [HEAD - 2] * 5
    assert execution_verdicts(second) == execution_verdicts(first)
    for junk in ("not json", '{"eth": {"ts": "x", "h": 1}}', '{"eth": {"ts": 1, "h": -4, "bt": 0}}', "[1, 2]"):
        path.write_text(junk)
        third, asked = sweep_counting_hash_reads(inv, db, monkeypatch)
        assert asked == [HEAD - 2] * 5 and execution_verdicts(third) == execution_verdicts(first)
    assert json.loads(path.read_text())["eth"]["h"] == HEAD - 2  # rewritten from this run


def test_client_mismatch(fronts: dict[str, Front], anvil: str, standin: PocketStandin, tmp_path: Path, db: Path):
    root = write_inventory(tmp_path / "inv", rest_url=standin.shannon_url, comet=standin.comet_url,
                           endpoints=endpoints_of(fronts, anvil, **{"eth-erigon": "geth"}))
    doc = health_json(root, db)
    c = checks(doc, "execution")["eth-erigon"]
    assert c["status"] == "WARNING" and c["state"] == "mismatch" and "runs erigon, planned geth" in c["message"]
    assert_others_ok(doc, "eth-erigon")


def test_a_single_endpoint_left_up(inv: Path, db: Path, fronts: dict[str, Front]):
    for front in fronts.values():
        front.fault(refuse=True)
    doc = health_json(inv, db)
    execution = checks(doc, "execution")
    assert execution["eth-raw"]["status"] == "OK"
    assert all(execution[n]["status"] == "CRITICAL" and execution[n]["message"] == "connection refused"
               for n in FRONTS)
    chain = checks(doc, "chain")["eth"]
    assert chain["status"] == "WARNING" and "1 of 5 endpoints up" in chain["message"]
    assert "no redundancy left" in chain["message"]


@pytest.mark.parametrize(("faults", "level"), [({"eth-neth": {"lag": 3}}, "WARNING"),
                                                ({"eth-neth": {"refuse": True}}, "CRITICAL")])
def test_nagios_exit_code_is_the_worst(inv: Path, db: Path, fronts: dict[str, Front], faults, level):
    for name, f in faults.items():
        fronts[name].fault(**f)
    doc = health_json(inv, db)
    proc, _ = health(inv, db, "--nagios")
    assert proc.returncode == NAGIOS[doc["status"]] == doc_exit_code(doc)
    assert SEVERITY[doc["status"]] >= SEVERITY[level]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"HEALTH {doc['status']} - ") and lines[0].count("|") == 1
    perf = dict(p.split("=", 1) for p in lines[0].split(" | ")[1].split())
    assert int(perf["checks"]) == len(doc["checks"])
    assert {k: int(perf[k.lower()]) for k in NAGIOS} == {k: sum(c["status"] == k for c in doc["checks"])
                                                          for k in NAGIOS}


def test_prom_file(inv: Path, db: Path, fronts: dict[str, Front], tmp_path: Path):
    from prometheus_client.parser import text_string_to_metric_families

    fronts["eth-geth-b"].fault(lag=10)
    prom = tmp_path / "textfile" / "fleetctl.prom"
    prom.parent.mkdir()
    prom.write_text("stale\n")
    doc = health_json(inv, db, "--prom-file", str(prom))
    assert sorted(p.name for p in prom.parent.iterdir()) == ["fleetctl.prom"]
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    fams = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert fams["fleetctl_health_status"].samples[0].value == NAGIOS[doc["status"]]
    status = {(s.labels["kind"], s.labels["target"]): s.value for s in fams["fleetctl_check_status"].samples}
    assert status == {(c["kind"], c["target"]): float(NAGIOS[c["status"]]) for c in doc["checks"]}
    assert status[("execution", "eth-geth-b")] == 2.0
    lag = {s.labels["target"]: s.value for s in fams["fleetctl_execution_lag_blocks"].samples}
    assert lag["eth-geth-b"] == 10.0 and lag["eth-neth"] == 0.0
    up = {s.labels["target"]: s.value for s in fams["fleetctl_execution_up"].samples}
    assert up == {n: 1.0 for n in [*FRONTS, "eth-raw"]}
    assert fams["fleetctl_pocket_node_height"].samples[0].value == 1000.0
    assert len(fams["fleetctl_stake_upokt"].samples) == 3


def test_prom_file_that_cannot_be_written_is_unknown(inv: Path, db: Path, tmp_path: Path):
    proc, _ = health(inv, db, "--prom-file", str(tmp_path / "no-such-dir" / "x.prom"))
    assert proc.returncode == 3
    assert "cannot write" in proc.stderr and str(tmp_path / "no-such-dir") in proc.stderr


# ----------------------------------------------------------------------------- the time bound


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """A TCP listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind((LOCALHOST, 0))
    listener.listen(64)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            try:
                held.append(listener.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://{LOCALHOST}:{listener.getsockname()[1]}"
    done.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def test_a_hanging_endpoint_costs_one_timeout(fronts: dict[str, Front], anvil: str, standin: PocketStandin,
                                             hanging_endpoint: str, tmp_path: Path, db: Path):
    root = write_inventory(tmp_path / "inv", rest_url=standin.shannon_url, comet=standin.comet_url,
                           endpoints=endpoints_of(fronts, anvil) + [("eth-hang", hanging_endpoint, "besu")])
    started = time.monotonic()
    doc = health_json(root, db)
    elapsed = time.monotonic() - started
    assert elapsed < 3 * TIMEOUT + 2, elapsed  # the process as a whole, start-up included
    c = checks(doc, "execution")["eth-hang"]
    assert c["status"] == "CRITICAL" and c["message"] == f"no answer within {TIMEOUT} s"
    assert_others_ok(doc, "eth-hang")
    assert checks(doc, "chain")["eth"]["status"] == "OK"


def test_everything_hanging_still_ends_in_time(fronts: dict[str, Front], anvil: str, standin: PocketStandin,
                                               hanging_endpoint: str, tmp_path: Path, db: Path):
    root = write_inventory(tmp_path / "inv", rest_url=standin.shannon_url, comet=standin.comet_url,
                           endpoints=endpoints_of(fronts, anvil) + [("eth-hang", hanging_endpoint, "besu")])
    for front in fronts.values():
        front.fault(delay_ms=30_000)
    standin.control.set_fault("hang")  # the REST gateway and the CometBFT node too
    started = time.monotonic()
    # one request in flight at a time: seven hanging requests queue behind each other, and only
    # the sweep's own cut (3 T + 1 s, documented) bounds the run
    t = 0.5
    doc = health_json(root, db, "--concurrency", "1", "--timeout", str(t))
    elapsed = time.monotonic() - started
    assert doc["duration_s"] <= 3 * t + 1 + 0.5, doc["duration_s"]
    assert elapsed < 3 * t + 3, elapsed  # start-up included, with a margin for a loaded machine
    execution = checks(doc, "execution")
    for name in [*FRONTS, "eth-hang"]:  # asked and silent, or never asked in time: never OK
        c = execution[name]
        assert c["status"] in ("CRITICAL", "UNKNOWN"), c
        assert c["message"] == f"no answer within {t:g} s" or "not checked in time" in c["message"], c
    assert any(c["message"] == f"no answer within {t:g} s" and c["status"] == "CRITICAL" for c in execution.values())
    assert execution["eth-raw"]["status"] in ("OK", "CRITICAL", "UNKNOWN")  # queued behind the hanging ones
    assert checks(doc, "pocket_node")["pocket-node"]["status"] in ("CRITICAL", "UNKNOWN")
    assert list(checks(doc, "stake")) == ["network"]


def test_endpoints_cut_off_by_the_deadline_are_unknown(fronts: dict[str, Front], anvil: str, standin: PocketStandin,
                                                       hanging_endpoint: str, tmp_path: Path, db: Path):
    root = write_inventory(tmp_path / "inv", rest_url=standin.shannon_url, comet=standin.comet_url,
                           endpoints=endpoints_of(fronts, anvil) + [("eth-hang", hanging_endpoint, "besu")])
    for front in fronts.values():
        front.fault(delay_ms=30_000)
    # six hanging endpoints, one request at a time, 0.5 s each: the 2 s cut leaves some unasked
    doc = health_json(root, db, "--concurrency", "1", "--timeout", "0.5")
    left = [c for c in checks(doc, "execution").values() if "not checked in time" in c["message"]]
    assert left
    assert all(c["status"] == "UNKNOWN" for c in left), left


@pytest.fixture
def batch_refusing_proxy(fronts: dict[str, Front]) -> Iterator[str]:
    """A JSON-RPC proxy before the Nethermind front that refuses batches, as some gateways do."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    upstream = fronts["eth-neth"].rpc

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if body.lstrip().startswith(b"["):
                status, data = 200, json.dumps({"jsonrpc": "2.0", "id": None, "error": {
                    "code": -32600, "message": "batch requests are not supported"}}).encode()
            else:
                status, data = request("POST", upstream, json.loads(body))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://{LOCALHOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_endpoint_that_refuses_batches_is_asked_call_by_call(fronts: dict[str, Front], anvil: str,
                                                                 standin: PocketStandin, batch_refusing_proxy: str,
                                                                 tmp_path: Path, db: Path):
    root = write_inventory(tmp_path / "inv", rest_url=standin.shannon_url, comet=standin.comet_url,
                           endpoints=endpoints_of(fronts, anvil) + [("eth-proxy", batch_refusing_proxy, "nethermind")])
    doc = health_json(root, db)
    c = checks(doc, "execution")["eth-proxy"]
    assert c["status"] == "OK", c
    assert c["head"] == HEAD and c["peers"] == 25 and c["running_client"] == "nethermind"
    fronts["eth-neth"].fault(lag=10)  # judged on what the calls answered, through the proxy
    doc = health_json(root, db)
    assert checks(doc, "execution")["eth-proxy"]["status"] == "CRITICAL"
    assert "10 blocks behind" in checks(doc, "execution")["eth-proxy"]["message"]


# ----------------------------------------------------------------------------- Pocket node and stakes


@pytest.mark.parametrize(("comet", "level"), [
    ({"lag": 4}, "OK"), ({"lag": 5}, "WARNING"), ({"lag": 19}, "WARNING"), ({"lag": 20}, "CRITICAL"),
    ({"catching_up": True}, "WARNING"),
])
def test_pocket_node_against_the_network(inv: Path, db: Path, standin: PocketStandin, comet, level):
    standin.control.set_comet(**comet)
    doc = health_json(inv, db)
    node = checks(doc, "pocket_node")["pocket-node"]
    lag = comet.get("lag", 0)
    assert node["status"] == level, node
    assert node["network_height"] == 1000 and node["height"] == 1000 - lag
    assert f"{lag} behind the network" in node["message"]
    assert ("catching up" in node["message"]) == bool(comet.get("catching_up"))
    assert node["values"]["lag_blocks"] == lag


def test_pocket_stand_in_down(fronts: dict[str, Front], anvil: str, tmp_path: Path, db: Path):
    gone = PocketStandin(shannon_seed(), comet_addr=(LOCALHOST, 0)).start()
    rest, comet = gone.shannon_url, gone.comet_url
    gone.stop()
    root = write_inventory(tmp_path / "inv", rest_url=rest, comet=comet, endpoints=endpoints_of(fronts, anvil))
    doc = health_json(root, db)
    stake = checks(doc, "stake")
    assert list(stake) == ["network"]  # one check for the chain, not one per supplier
    assert stake["network"]["status"] == "UNKNOWN" and rest in stake["network"]["message"]
    assert stake["network"]["suppliers"] == 3
    node = checks(doc, "pocket_node")["pocket-node"]
    assert node["status"] == "CRITICAL" and "connection refused" in node["message"]
    assert doc["status"] == "CRITICAL"
    assert_others_ok(doc)


def test_pocket_gateway_failing(inv: Path, db: Path, standin: PocketStandin):
    standin.control.set_fault("http503", path_prefix="/cosmos")
    doc = health_json(inv, db)
    stake = checks(doc, "stake")
    assert list(stake) == ["network"] and stake["network"]["status"] == "UNKNOWN"
    assert checks(doc, "pocket_node")["pocket-node"]["status"] == "UNKNOWN"  # the network's height is unknown


def test_pocket_node_without_declared_suppliers(fronts: dict[str, Front], anvil: str, standin: PocketStandin,
                                                tmp_path: Path, db: Path):
    """Found by this file: without a stake sweep the network height was never read (UNKNOWN forever)."""
    root = write_inventory(tmp_path / "inv", rest_url=standin.shannon_url, comet=standin.comet_url,
                           endpoints=endpoints_of(fronts, anvil), suppliers=False)
    doc = health_json(root, db)
    assert checks(doc, "stake") == {}
    node = checks(doc, "pocket_node")["pocket-node"]
    assert node["status"] == "OK" and node["network_height"] == 1000, node
    standin.control.set_comet(lag=20)
    doc = health_json(root, db)
    assert checks(doc, "pocket_node")["pocket-node"]["status"] == "CRITICAL"


# ----------------------------------------------------------------------------- the check cannot run


def test_invalid_inventory_is_unknown_with_one_line(tmp_path: Path, db: Path):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (tmp_path / "fleet.yml").write_text("pocket: {rest_url: 'http://127.0.0.1:9'}\nchains:\n"
                                        "  eth: {clients: [geth], replicas: 1}\nhealth:\n  timeout: soon\n")
    expected = f"{tmp_path}/fleet.yml:5:12: health.timeout: expected a duration"
    proc, _ = health(tmp_path, db)
    # the status line on stdout in every mode (issue 10), the error itself on stderr
    assert proc.returncode == 3 and proc.stdout.startswith("health: UNKNOWN - inventory unusable: ")
    assert len(proc.stdout.splitlines()) == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    proc, doc = health(tmp_path, db, "-o", "json")
    assert proc.returncode == 3 and doc["status"] == "UNKNOWN" and doc["checks"] == []
    assert doc["errors"][0].startswith(expected)
    proc, _ = health(tmp_path, db, "--nagios")
    assert proc.returncode == 3 and proc.stdout.startswith("HEALTH UNKNOWN - ") and len(proc.stdout.splitlines()) == 1
    assert "fleet.yml:5:12" in proc.stdout
    assert not db.exists()  # nothing was checked, nothing recorded
    proc, _ = health(tmp_path / "nowhere", db)
    assert proc.returncode == 3 and len(proc.stderr.splitlines()) == 1


def test_remediate_needs_its_state(inv: Path, db: Path):
    proc, _ = health(inv, db, "--remediate", "--no-record")
    assert proc.returncode == 2 and "--remediate" in proc.stderr and len(proc.stderr.splitlines()) == 1


# ----------------------------------------------------------------------------- the exporter


def scrape(url: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    status, body = request("GET", url)
    assert status == 200
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def check_statuses(fams: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(s.labels["kind"], s.labels["target"]): s.value for s in fams["fleetctl_check_status"].samples}


def test_exporter(inv: Path, db: Path, fronts: dict[str, Front], tmp_path: Path):
    root = tmp_path / "inv"
    shutil.copytree(inv, root)
    fronts["eth-geth-a"].fault(lag=10)
    port = free_port()
    proc = subprocess.Popen([fleetctl_bin(), "-i", str(root), "exporter", "--listen", f"{LOCALHOST}:{port}",
                             "--interval", "1", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**{k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}, **ENV})
    url = f"http://{LOCALHOST}:{port}/metrics"

    def until(ok, seconds: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        fams: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                fams = scrape(url)
                if ok(fams):
                    return fams
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        raise AssertionError(f"metrics never got there: {sorted(fams)}")

    try:
        fams = until(lambda f: "fleetctl_exporter_sweeps" in f and f["fleetctl_exporter_sweeps"].samples[0].value >= 1)
        assert fams["fleetctl_exporter_sweeps"].type == "counter"
        assert fams["fleetctl_exporter_sweeps"].samples[0].name == "fleetctl_exporter_sweeps_total"
        assert fams["fleetctl_exporter_inventory_ok"].samples[0].value == 1.0
        assert fams["fleetctl_health_status"].samples[0].value == 2.0
        status = check_statuses(fams)
        assert status[("execution", "eth-geth-a")] == 2.0 and status[("execution", "eth-erigon")] == 0.0
        assert fams["fleetctl_exporter_last_sweep_timestamp_seconds"].samples[0].value > time.time() - 60
        # it keeps sweeping in the background: a change shows up without a restart
        fronts["eth-geth-a"].clear()
        until(lambda f: check_statuses(f)[("execution", "eth-geth-a")] == 0.0)
        # an inventory that no longer loads: the last good one is kept, and the exporter says so
        (root / "fleet.yml").write_text((root / "fleet.yml").read_text() + "bogus_key: 1\n")
        fams = until(lambda f: f["fleetctl_exporter_inventory_ok"].samples[0].value == 0.0)
        assert "fleetctl_health_status" in fams and ("execution", "eth-geth-a") in check_statuses(fams)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "bogus_key" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more
        socket.create_connection((LOCALHOST, port), timeout=2).close()


@pytest.mark.parametrize("listen", ["127.0.0.1:abc", "127.0.0.1", "example.com:9877", "127.0.0.1:70000"])
def test_exporter_refuses_a_bad_listen(inv: Path, db: Path, listen: str):
    proc = run_cli("-i", str(inv), "exporter", "--listen", listen, "--db", str(db), env=ENV, timeout=30)
    assert proc.returncode == 2 and "--listen" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_exporter_port_in_use_is_one_line(inv: Path, db: Path):
    with socket.socket() as busy:
        busy.bind((LOCALHOST, 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = run_cli("-i", str(inv), "exporter", "--listen", f"{LOCALHOST}:{port}", "--db", str(db), env=ENV,
                       timeout=30)
    assert proc.returncode == 1 and "cannot listen" in proc.stderr and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- HAProxy and --remediate


@dataclass
class Balancer:
    stats: str  # http://127.0.0.1:P/stats;csv
    root: Path  # fleet_config_root
    proc: subprocess.Popen[str]

    def servers(self) -> dict[str, str]:
        status, body = request("GET", self.stats)
        assert status == 200
        parsed = sv.parse_haproxy_csv(body.decode(), "eth-nodes")
        assert parsed is not None
        return {s.name: s.status for s in parsed}

    def wait(self, want: dict[str, str], seconds: float = 15) -> dict[str, str]:
        deadline = time.monotonic() + seconds
        while True:
            got = self.servers()
            if all(got.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
                return got
            time.sleep(0.1)


HAPROXY_CFG = """\
global
    maxconn 256
    stats socket {socket} mode 600 level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 3s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    default-server init-addr libc,none

frontend lb-eth
    bind 127.0.0.1:{port}
    default_backend eth-nodes

backend eth-nodes
    balance leastconn
    option httpchk
    http-check send meth POST uri / ver HTTP/1.1 hdr Host localhost hdr Content-Type application/json body '{{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}}'
    http-check expect string '"result"'
    default-server inter 300ms fall 2 rise 2
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


@pytest.fixture(scope="module")
def haproxy(fronts: dict[str, Front], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balancer]:
    if not HAPROXY.exists():
        pytest.skip("/usr/sbin/haproxy is not installed")
    root = tmp_path_factory.mktemp("cfgroot")
    run = root / "balancer" / "lb-eth" / "run"
    run.mkdir(parents=True)
    port, stats_port = free_port(), free_port()
    servers = "\n".join(f"    server {n} {f.rpc.removeprefix('http://')} check  # {f.client}"
                        for n, f in fronts.items())
    cfg = root / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(socket=run / "admin.sock", port=port, stats_port=stats_port, servers=servers))
    check = subprocess.run([str(HAPROXY), "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = (root / "haproxy.log").open("w")
    proc = subprocess.Popen([str(HAPROXY), "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT, text=True)
    lb = Balancer(f"http://{LOCALHOST}:{stats_port}/stats;csv", root, proc)
    try:
        deadline = time.monotonic() + 10
        while not (run / "admin.sock").exists() or not _answers(lb):
            assert proc.poll() is None and time.monotonic() < deadline, (root / "haproxy.log").read_text()
            time.sleep(0.05)
        yield lb
    finally:
        stop(proc)
        log.close()


def _answers(lb: Balancer) -> bool:
    try:
        lb.servers()
        return True
    except OSError:
        return False


@pytest.fixture
def lb(haproxy: Balancer, fronts: dict[str, Front]) -> Balancer:
    """The balancer with every server ready and up (faults were cleared by `clean`)."""
    for name in fronts:
        assert asyncio.run(rm._runtime(local_host(haproxy), "lb-eth", f"set server eth-nodes/{name} state ready",
                                       5)) is None
    got = haproxy.wait({n: "UP" for n in fronts})
    assert got == {n: "UP" for n in fronts}, got
    return haproxy


def rem_inventory(root: Path, lb: Balancer, fronts: dict[str, Front], anvil: str, standin: PocketStandin) -> Path:
    """The fronts (the balancer's pool) and three more endpoints outside it (anvil itself), so that
    the chain's majority stays on the canonical chain whatever the pool's servers do."""
    witnesses = [(f"eth-witness-{i}", anvil, "reth") for i in range(3)]
    return write_inventory(root, rest_url=standin.shannon_url, comet=None, suppliers=False,
                           endpoints=[(n, f.rpc, f.client) for n, f in fronts.items()] + witnesses,
                           health=f"{{timeout: {TIMEOUT}, hash_depth: 2, remediate_rise: 2}}",
                           host_vars=f"      fleet_config_root: '{lb.root}'\n")


def local_host(lb: Balancer):
    root = lb.root / "hostinv"
    if not (root / "hosts.yml").exists():
        root.mkdir(exist_ok=True)
        (root / "hosts.yml").write_text("all:\n  hosts:\n    local-1:\n      ansible_host: 127.0.0.1\n"
                                        f"      ansible_connection: local\n      fleet_config_root: '{lb.root}'\n")
        (root / "fleet.yml").write_text("pocket: {rest_url: 'http://127.0.0.1:9'}\nchains:\n"
                                        "  eth: {clients: [geth], replicas: 1}\n")
    return load_inventory(root).hosts["local-1"]


def test_real_haproxy_stats(lb: Balancer, fronts: dict[str, Front]):
    status, body = request("GET", lb.stats)
    text = body.decode()
    assert text.startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,")
    servers = sv.parse_haproxy_csv(text, "eth-nodes")
    assert servers is not None and [s.name for s in servers] == list(fronts)
    assert all(s.status == "UP" and s.check == "L7OK" for s in servers)
    assert sv.parse_haproxy_csv(text, "gnosis-nodes") is None

    async def read() -> sv.BalancerRead:
        http = ex.Http(4)
        try:
            return await sv.read_haproxy(http, sv.BalancerRead("local-1", "lb-eth", "eth", lb.stats), 2)
        finally:
            await http.close()

    fronts["eth-neth"].fault(refuse=True)
    assert lb.wait({"eth-neth": "DOWN"})["eth-neth"] == "DOWN"
    got = asyncio.run(read())
    level, message, values = sv.judge_balancer(got)
    assert level is Level.WARNING and "3 of 4 backends up" in message and "eth-neth (L4CON)" in message
    assert values["backends_down"] == 1.0
    for name in ("eth-geth-a", "eth-geth-b", "eth-erigon"):
        fronts[name].fault(error="http")
    assert set(lb.wait({n: "DOWN" for n in fronts}).values()) == {"DOWN"}
    level, message, _ = sv.judge_balancer(asyncio.run(read()))
    assert level is Level.CRITICAL and "no backend up" in message


def test_runtime_api_over_a_local_connection(lb: Balancer):
    host = local_host(lb)
    assert host.connection == "local"
    assert rm.admin_socket(host, "lb-eth") == str(lb.root / "balancer" / "lb-eth" / "run" / "admin.sock")
    maint = asyncio.run(rm._runtime(host, "lb-eth", "set server eth-nodes/eth-erigon state maint", 5))
    assert maint is None
    assert lb.servers()["eth-erigon"] == "MAINT"
    assert asyncio.run(rm._runtime(host, "lb-eth", "set server eth-nodes/eth-erigon state ready", 5)) is None
    assert lb.wait({"eth-erigon": "UP"})["eth-erigon"] == "UP"
    error = asyncio.run(rm._runtime(host, "lb-eth", "set server eth-nodes/nope state maint", 5))
    assert error is not None and error.startswith("HAProxy: ") and "No such server" in error
    error = asyncio.run(rm._runtime(host, "lb-gone", "set server eth-nodes/eth-erigon state maint", 5))
    assert error is not None and "runtime API unreachable" in error


def test_remediation_against_a_real_haproxy(lb: Balancer, fronts: dict[str, Front], anvil: str,
                                            standin: PocketStandin, tmp_path: Path):
    fleet = load_inventory(rem_inventory(tmp_path / "inv", lb, fronts, anvil, standin))
    db = tmp_path / "state" / "fleetctl.db"
    log = db.with_name("remediation.log")

    def cycle() -> tuple[list[dict[str, Any]], sw.SweepResult]:
        async def run() -> tuple[list[dict[str, Any]], sw.SweepResult]:
            result = await sw.sweep(fleet, timeout=TIMEOUT, concurrency=32, db=db, record_stakes=False)
            http = ex.Http(4)
            try:
                read = await sv.read_haproxy(http, sv.BalancerRead("local-1", "lb-eth", "eth", lb.stats), 2)
            finally:
                await http.close()
            assert read.error is None and len(read.servers) == 4
            result.balancers = [read]
            actions = await rm.remediate(fleet, result, db=db, run_started=time.time(), timeout=2)
            return actions, result

        return asyncio.run(run())

    def acted(actions: list[dict[str, Any]]) -> dict[str, str]:
        assert all(a["ok"] for a in actions), actions
        assert all(a["host"] == "local-1" and a["balancer"] == "lb-eth" for a in actions)
        return {a["server"]: a["action"] for a in actions}

    # 1. the geth node forks: it alone is taken out of rotation
    fronts["eth-geth-a"].fault(diverge_at=40)
    actions, result = cycle()
    assert result.verdicts["eth-geth-a"].state == "diverged"
    assert acted(actions) == {"eth-geth-a": "pull"}
    assert lb.servers() == {"eth-geth-a": "MAINT", "eth-geth-b": "UP", "eth-neth": "UP", "eth-erigon": "UP"}
    level, message, _ = sv.judge_balancer(_read(lb),
                                          sw._pulled_servers(db).get(("local-1", "lb-eth"), set()))
    assert "pulled by fleetctl: eth-geth-a" in message and level is Level.OK

    # 2. still diverged, already out: nothing to do
    actions, _ = cycle()
    assert actions == []

    # 3. HAProxy forgot (a restart): it is taken out again
    assert asyncio.run(rm._runtime(local_host(lb), "lb-eth", "set server eth-nodes/eth-geth-a state ready", 5)) is None
    assert lb.wait({"eth-geth-a": "UP"})["eth-geth-a"] == "UP"
    actions, _ = cycle()
    assert acted(actions) == {"eth-geth-a": "pull"} and actions[0].get("again") is True
    assert lb.servers()["eth-geth-a"] == "MAINT"

    # 4. two more fall behind: out, while one healthy server is left
    fronts["eth-geth-b"].fault(lag=10)
    fronts["eth-neth"].fault(syncing=True)
    actions, _ = cycle()
    assert acted(actions) == {"eth-geth-b": "pull", "eth-neth": "pull"}
    assert lb.servers() == {"eth-geth-a": "MAINT", "eth-geth-b": "MAINT", "eth-neth": "MAINT", "eth-erigon": "UP"}

    # 5. the last one falls behind too: it is kept (stale data beats no data), and that is said
    fronts["eth-erigon"].fault(lag=10)
    actions, result = cycle()
    assert result.verdicts["eth-erigon"].state == "lagging"
    assert acted(actions) == {"eth-erigon": "keep"}
    assert "eth-erigon" in actions[0]["message"] and actions[0]["reason"]
    assert lb.servers()["eth-erigon"] == "UP"

    # 6. recovery: back after remediate_rise (2) healthy runs, not before; a relapse starts again
    for front in fronts.values():
        front.clear()
    actions, _ = cycle()
    assert actions == []  # one healthy run each
    assert lb.servers() == {"eth-geth-a": "MAINT", "eth-geth-b": "MAINT", "eth-neth": "MAINT", "eth-erigon": "UP"}
    fronts["eth-neth"].fault(syncing=True)
    actions, _ = cycle()
    assert acted(actions) == {"eth-geth-a": "restore", "eth-geth-b": "restore"}
    assert lb.servers()["eth-neth"] == "MAINT"
    fronts["eth-neth"].clear()
    actions, _ = cycle()
    assert actions == []  # its count started again
    assert lb.servers()["eth-neth"] == "MAINT"
    actions, _ = cycle()
    assert acted(actions) == {"eth-neth": "restore"}
    assert lb.wait({n: "UP" for n in fronts}) == {n: "UP" for n in fronts}
    assert sw._pulled_servers(db) == {}

    # every action was logged, one JSON line each
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["action"], e["server"]) for e in entries] == [
        ("pull", "eth-geth-a"), ("pull", "eth-geth-a"), ("pull", "eth-geth-b"), ("pull", "eth-neth"),
        ("keep", "eth-erigon"), ("restore", "eth-geth-a"), ("restore", "eth-geth-b"), ("restore", "eth-neth")]
    assert all(e["ok"] and e["message"] and e["at"] and e["host"] == "local-1" for e in entries)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def _read(lb: Balancer) -> sv.BalancerRead:
    read = sv.BalancerRead("local-1", "lb-eth", "eth", lb.stats)
    status, body = request("GET", lb.stats)
    read.servers = sv.parse_haproxy_csv(body.decode(), "eth-nodes") or []
    return read


# ----------------------------------------------------------------------------- SSH (sshexec) on loopback


def test_local_connection_runs_sh(tmp_path: Path):
    from fleetctl.provision.sshexec import ssh_run
    from fleetctl.spec.model import Host

    host = Host("local-1", "127.0.0.1", connection="local")
    res = asyncio.run(ssh_run(host, "cat; echo out; echo err >&2; exit 255", timeout=5, stdin=b"in\n"))
    # a local command's 255 is its own exit code, not "ssh failed"
    assert (res.returncode, res.stdout, res.stderr, res.error) == (255, b"in\nout\n", b"err\n", None)
    assert not res.ok


def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path: Path):
    from fleetctl.provision.sshexec import ssh_run
    from fleetctl.spec.model import Host

    pidfile = tmp_path / "child.pid"
    host = Host("local-1", "127.0.0.1", connection="local")
    started = time.monotonic()
    res = asyncio.run(ssh_run(host, f"sleep 30 & echo $! > {pidfile}; wait", timeout=0.5))
    assert time.monotonic() - started < 3
    assert res.returncode is None and res.error == "no answer over ssh within 0.5 s"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as fh:  # a zombie waiting for its reaper is gone too
            if fh.read().split(") ")[1].startswith("Z"):
                break
        time.sleep(0.05)
    else:
        pytest.fail(f"the command's child {child} survived the timeout")


@dataclass
class Sshd:
    port: int
    dir: Path
    identity: Path
    known_hosts: Path
    host_pub: str


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH server on 127.0.0.1 (key auth only, its own host key, this user)."""
    binary = Path("/usr/sbin/sshd")
    if not binary.exists() or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server or client not installed")
    if os.geteuid() != 0 or not Path("/run/sshd").is_dir():
        pytest.skip("sshd needs root and its privilege separation folder /run/sshd")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("hostkey", "id", "otherkey"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "id.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n")
    host_pub = " ".join((d / "hostkey.pub").read_text().split()[:2])
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    log = (d / "sshd.log").open("w")
    proc = subprocess.Popen([str(binary), "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((LOCALHOST, port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (d / "sshd.log").read_text()
                time.sleep(0.05)
        yield Sshd(port, d, d / "id", d / "known_hosts", host_pub)
    finally:
        stop(proc)
        log.close()


def ssh_host(sshd: Sshd, *, known_hosts: Path | None = None, identity: Path | None = None, port: int | None = None,
             extra: str = "", config_root: Path | None = None):
    root = sshd.dir / f"inv-{time.monotonic_ns()}"
    root.mkdir()
    (root / "hosts.yml").write_text(
        "all:\n  hosts:\n    ssh-1:\n      ansible_host: 127.0.0.1\n"
        f"      ansible_port: {port or sshd.port}\n      ansible_user: root\n"
        f"      ansible_ssh_private_key_file: '{identity or sshd.identity}'\n"
        f"      fleet_known_hosts: '{known_hosts or sshd.known_hosts}'\n" + extra
        + (f"      fleet_config_root: '{config_root}'\n" if config_root else ""))
    (root / "fleet.yml").write_text("pocket: {rest_url: 'http://127.0.0.1:9'}\nchains:\n"
                                    "  eth: {clients: [geth], replicas: 1}\n")
    return load_inventory(root).hosts["ssh-1"]


def run_ssh(host, command: str, timeout: float = 10):
    from fleetctl.provision.sshexec import ssh_run

    return asyncio.run(ssh_run(host, command, timeout=timeout))


def test_facts_over_ssh(sshd: Sshd):
    from fleetctl.health.hostfacts import FACTS_SCRIPT, parse_facts

    res = run_ssh(ssh_host(sshd), FACTS_SCRIPT)
    assert res.ok, (res.error, res.stderr)
    facts = parse_facts(res.stdout.decode())
    assert facts.cpus == os.cpu_count() and facts.problems == [] and facts.disks


def test_ssh_host_keys_are_verified(sshd: Sshd):
    unknown = sshd.dir / "empty_known_hosts"
    unknown.write_text("")
    res = run_ssh(ssh_host(sshd, known_hosts=unknown), "echo should-not-run")
    assert res.error == f"host key of 127.0.0.1 is not in {unknown}; fleetctl does not trust unknown hosts"
    assert b"should-not-run" not in res.stdout and unknown.read_text() == ""  # never added
    other = " ".join((sshd.dir / "otherkey.pub").read_text().split()[:2])
    changed = sshd.dir / "changed_known_hosts"
    changed.write_text(f"[127.0.0.1]:{sshd.port} {other}\n")
    res = run_ssh(ssh_host(sshd, known_hosts=changed), "echo should-not-run")
    assert res.error is not None and "does not match" in res.error and b"should-not-run" not in res.stdout
    # the inventory's own ssh arguments cannot switch the check off
    res = run_ssh(ssh_host(sshd, known_hosts=unknown, extra="      ansible_ssh_common_args: "
                           "'-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"), "echo should-not-run")
    assert res.error is not None and "does not trust unknown hosts" in res.error
    missing = sshd.dir / "no_such_known_hosts"
    res = run_ssh(ssh_host(sshd, known_hosts=missing), "true")
    assert res.error is not None and "does not exist" in res.error and res.returncode is None


def test_ssh_failures_are_one_line(sshd: Sshd):
    res = run_ssh(ssh_host(sshd, identity=sshd.dir / "otherkey"), "true")
    assert res.error == "ssh to root@127.0.0.1:%d: permission denied (key refused)" % sshd.port
    closed = free_port()
    kh = sshd.dir / "closed_known_hosts"
    kh.write_text(f"[127.0.0.1]:{closed} {sshd.host_pub}\n")
    res = run_ssh(ssh_host(sshd, port=closed, known_hosts=kh), "true")
    assert res.error == f"ssh to 127.0.0.1:{closed}: connection refused"
    ok = run_ssh(ssh_host(sshd), "exit 7")
    assert ok.error is None and ok.returncode == 7  # the remote command's own code


def test_remediation_runtime_over_ssh(sshd: Sshd, lb: Balancer):
    host = ssh_host(sshd, config_root=lb.root)
    assert host.connection == "ssh"
    assert asyncio.run(rm._runtime(host, "lb-eth", "set server eth-nodes/eth-geth-b state maint", 5)) is None
    assert lb.servers()["eth-geth-b"] == "MAINT"
    assert asyncio.run(rm._runtime(host, "lb-eth", "set server eth-nodes/eth-geth-b state ready", 5)) is None
    assert lb.wait({"eth-geth-b": "UP"})["eth-geth-b"] == "UP"


def test_no_record_changes_no_state(inv: Path, db: Path) -> None:
    """--no-record: no store, no cache of what hosts run, nothing beside them; a recorded run
    then writes both, and --no-alerts leaves the alert tables untouched."""
    proc, doc = health(inv, db, "-o", "json", "--no-record")
    assert proc.returncode in (0, 1, 2) and doc["checks"]
    assert not db.parent.exists()
    health(inv, db, "-o", "json")
    assert db.exists() and db.with_name(db.name + ".targets.json").exists()
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT count(*), max(last_run_started) FROM alert_meta").fetchone()
    health(inv, db, "-o", "json", "--no-alerts")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), max(last_run_started) FROM alert_meta").fetchone() == before
