"""`fleetctl rotation out|in` and its job (fleetctl.workflows.rotation) against a real HAProxy.

The fleet is the health-sweep tests' (tests/integration/test_health_sweep.py: one anvil, four
client fronts over it as the balancer's pool, three more endpoints outside the pool so that the
chain's majority stays canonical whatever the pool does; faults through the fronts' control
ports), and Debian's HAProxy with its runtime API on a unix socket under the host's
``fleet_config_root``, as the balancer role lays it out.

The balancer is found as ``fleetctl health`` finds it: a ``balancer`` container of the host (here
from the sweep's targets cache beside the store, the hosts having no Docker engine of their own),
its stats on the host's address at the chain's fixed stats port (7700 for the first chain). The
hosts therefore get loopback addresses of their own (127.a.b.1 and .2, free on that port), so
nothing else on 127.0.0.1 collides. The runtime API commands go to the host as remediation's do:
``ansible_connection: local`` for the command's cases, and a real OpenSSH server on the host's
address for the SSH case (skipped without root and /run/sshd).
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import random
import shlex
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, fleetctl_bin
from fleetctl.core.events import Cancelled, CancelToken, HostTask, StepFinished
from fleetctl.core.layout import BALANCER_PORT_BASE, BALANCER_STATS_OFFSET
from fleetctl.health import remediate as rm
from fleetctl.health import services as sv
from fleetctl.health.sweep import CACHE_SUFFIX
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows import rotation as wf
from test_health_sweep import (  # noqa: F401 - the health-sweep fleet: its fixtures and helpers
    HAPROXY,
    HAPROXY_CFG,
    TIMEOUT,
    Front,
    anvil,
    clean,
    free_port,
    fronts,
    stop,
)

STATS_PORT = BALANCER_PORT_BASE + 0 + BALANCER_STATS_OFFSET  # eth is the inventory's first chain
ENV = {"PYTHONPATH": str(REPO)}
LOG = "remediation.log"


# ----------------------------------------------------------------------------- the balancer


def _port_free(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
            return True
        except OSError:
            return False


def loopback_pair() -> tuple[str, str]:
    """Two loopback addresses (127.a.b.1, 127.a.b.2) on which the stats port is free."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(50):
        a, b = rng.randrange(1, 255), rng.randrange(1, 255)
        pair = (f"127.{a}.{b}.1", f"127.{a}.{b}.2")
        if all(_port_free(address, STATS_PORT) for address in pair):
            return pair
    pytest.skip(f"no pair of loopback addresses with port {STATS_PORT} free")


@dataclass
class Lb:
    addresses: tuple[str, str]
    root: Path  # every host's fleet_config_root: <root>/balancer/lb-eth/run/admin.sock
    proc: subprocess.Popen[str]
    fronts: dict[str, Front]  # the pool
    anvil: str  # the witnesses' URL

    @property
    def stats(self) -> str:
        return f"http://{self.addresses[0]}:{STATS_PORT}/stats;csv"

    def servers(self) -> dict[str, str]:
        with urllib.request.urlopen(self.stats, timeout=5) as response:  # noqa: S310 - loopback
            parsed = sv.parse_haproxy_csv(response.read().decode(), "eth-nodes")
        assert parsed is not None
        return {s.name: s.status for s in parsed}

    def wait(self, want: dict[str, str], seconds: float = 15) -> dict[str, str]:
        deadline = time.monotonic() + seconds
        while True:
            got = self.servers()
            if all(got.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def admin(self, command: str) -> None:
        """A runtime API command sent as remediation sends it (a local host)."""
        host = load_inventory(self.inventory("admin", {"local-1": self.addresses[0]})).hosts["local-1"]
        assert asyncio.run(rm.send_runtime(host, "lb-eth", command, 5)) is None

    def inventory(self, name: str, hosts: dict[str, str], host_vars: str = "") -> Path:
        """An inventory: ``hosts`` (name -> address, ``ansible_connection: local`` unless
        ``host_vars`` says otherwise) and the fronts plus three witnesses as eth's endpoints."""
        root = self.root / f"inv-{name}"
        if (root / "fleet.yml").exists():
            return root
        root.mkdir()
        lines = ["all:", "  hosts:"]
        for host, address in hosts.items():
            lines += [f"    {host}:", f"      ansible_host: {address}", f"      fleet_config_root: '{self.root}'"]
            lines += [host_vars.rstrip("\n")] if host_vars else ["      ansible_connection: local"]
        (root / "hosts.yml").write_text("\n".join(lines) + "\n")
        endpoints = [(n, f.rpc, f.client) for n, f in self.fronts.items()]
        endpoints += [(f"eth-witness-{i}", self.anvil, "reth") for i in range(3)]
        fleet = ["protocol: shannon", "pocket: {rest_url: 'http://127.0.0.1:9'}", "chains:", "  eth:",
                 "    clients: [geth, nethermind, erigon]", f"    replicas: {len(endpoints)}",
                 "    max_client_share: 0.5", "    endpoints:"]
        fleet += [f"      - {{name: {n}, url: '{u}', client: {c}, host: {next(iter(hosts))}}}" for n, u, c in endpoints]
        fleet.append(f"health: {{timeout: {TIMEOUT}, hash_depth: 2, remediate_rise: 2, load_warning: 500, "
                     "load_critical: 1000}")
        (root / "fleet.yml").write_text("\n".join(fleet) + "\n")
        load_inventory(root)  # valid, or the test is wrong
        return root


def write_cache(db: Path, hosts: list[str]) -> None:
    """The sweep's targets cache: each host ran the balancer container lb-eth at its last sweep."""
    container = {"name": "lb-eth", "role": "balancer", "chain": "eth", "client": None, "slot": None,
                 "running": True, "status": "Up 1 hour", "image": "haproxy:lts", "mounts": [], "pair": None,
                 "consensus": None}
    db.parent.mkdir(parents=True, exist_ok=True)
    db.with_name(db.name + CACHE_SUFFIX).write_text(json.dumps(
        {h: {"seen_at": "2025-01-01T00:00:00+00:00", "containers": [container]} for h in hosts}))


@pytest.fixture(scope="module")
def haproxy(fronts: dict[str, Front], anvil: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lb]:
    if not HAPROXY.exists():
        pytest.skip("/usr/sbin/haproxy is not installed")
    addresses = loopback_pair()
    root = tmp_path_factory.mktemp("rotation")
    run = root / "balancer" / "lb-eth" / "run"
    run.mkdir(parents=True)
    servers = "\n".join(f"    server {n} {f.rpc.removeprefix('http://')} check  # {f.client}" for n, f in fronts.items())
    # the health-sweep tests' configuration, its stats listener on both hosts' addresses
    cfg_text = HAPROXY_CFG.format(socket=run / "admin.sock", port=free_port(), stats_port=STATS_PORT,
                                  servers=servers)
    bind = f"    bind 127.0.0.1:{STATS_PORT}\n"
    assert cfg_text.count(bind) == 1
    cfg_text = cfg_text.replace(bind, "".join(f"    bind {a}:{STATS_PORT}\n" for a in addresses))
    cfg = root / "haproxy.cfg"
    cfg.write_text(cfg_text)
    check = subprocess.run([str(HAPROXY), "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = (root / "haproxy.log").open("w")
    proc = subprocess.Popen([str(HAPROXY), "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT, text=True)
    lb = Lb(addresses, root, proc, fronts, anvil)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if (run / "admin.sock").exists():
                    lb.servers()
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (root / "haproxy.log").read_text()
            time.sleep(0.05)
        yield lb
    finally:
        stop(proc)
        log.close()


@pytest.fixture
def lb(haproxy: Lb, fronts: dict[str, Front]) -> Lb:
    """Every server ready and up (the fronts' faults were cleared by `clean`)."""
    for name in fronts:
        haproxy.admin(f"set server eth-nodes/{name} state ready")
    got = haproxy.wait({n: "UP" for n in fronts})
    assert got == {n: "UP" for n in fronts}, got
    return haproxy


@pytest.fixture
def inv(lb: Lb) -> Path:
    return lb.inventory("one", {"local-1": lb.addresses[0]})


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "fleetctl.db"


def rotation(inv: Path, db: Path, *args: str, hosts: tuple[str, ...] = ("local-1",),
             stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """``fleetctl -i INV rotation ARGS --db DB`` (the installed console script, this checkout),
    stdin not a terminal unless given one."""
    write_cache(db, list(hosts))
    env = {k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"} | ENV
    proc = subprocess.run([fleetctl_bin(), "-i", str(inv), "rotation", *args, "--db", str(db)], stdin=stdin,
                          capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def records(db: Path) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT host, balancer, server, reason, healthy_runs FROM remediations "
                            "ORDER BY server").fetchall()


def log_entries(db: Path) -> list[dict[str, Any]]:
    path = db.with_name(LOG)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_nothing_changed(lb: Lb, db: Path, before: dict[str, str]) -> None:
    assert lb.servers() == before
    assert not db.exists(), "the store was created"
    assert not db.with_name(LOG).exists()


ALL_UP = {"eth-geth-a": "UP", "eth-geth-b": "UP", "eth-neth": "UP", "eth-erigon": "UP"}


# ----------------------------------------------------------------------------- the command


def test_out_of_an_unhealthy_backend_is_recorded_and_health_remediate_puts_it_back(
        lb: Lb, fronts: dict[str, Front], inv: Path, db: Path):
    fronts["eth-geth-a"].fault(lag=10)
    proc = rotation(inv, db, "out", "eth-geth-a", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("rotation: took eth-geth-a in lb-eth on local-1 out of rotation (now MAINT); "
                           "health --remediate puts it back once healthy for 2 runs\n"), proc.stdout
    assert lb.servers() == {**ALL_UP, "eth-geth-a": "MAINT"}
    assert records(db) == [("local-1", "lb-eth", "eth-geth-a", wf.OPERATOR_REASON, 0)]
    [entry] = log_entries(db)
    assert (entry["action"], entry["by"], entry["server"], entry["ok"]) == ("pull", "operator", "eth-geth-a", True)

    # health --remediate counts it as one it pulled: back after remediate_rise (2) healthy runs
    fronts["eth-geth-a"].clear()

    def remediate() -> dict[str, Any]:
        write_cache(db, ["local-1"])
        env = {k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"} | ENV
        run = subprocess.run([fleetctl_bin(), "-i", str(inv), "-o", "json", "health", "--remediate", "--no-alerts",
                              "--db", str(db)], capture_output=True, text=True, env=env, timeout=60,
                             stdin=subprocess.DEVNULL)
        assert "Traceback" not in run.stderr, run.stderr
        return json.loads(run.stdout)

    first = remediate()
    assert first["remediation"] == [] and lb.servers()["eth-geth-a"] == "MAINT"
    assert records(db)[0][4] == 1
    second = remediate()
    assert [(a["action"], a["server"], a["ok"]) for a in second["remediation"]] == [("restore", "eth-geth-a", True)]
    assert lb.wait(ALL_UP) == ALL_UP
    assert records(db) == []


def test_the_last_healthy_backend_is_never_taken_out(lb: Lb, fronts: dict[str, Front], inv: Path, db: Path):
    fronts["eth-geth-b"].fault(lag=10)
    fronts["eth-neth"].fault(syncing=True)
    lb.admin("set server eth-nodes/eth-erigon state maint")  # out of rotation, though healthy
    before = lb.wait({"eth-erigon": "MAINT"})
    proc = rotation(inv, db, "out", "eth-geth-a", "--yes")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("rotation out eth-geth-a: refused, nothing changed: no other server of eth-nodes "
                                  "in lb-eth on local-1 would be left up, in rotation and healthy")
    assert_nothing_changed(lb, db, before)

    doc_proc = rotation(inv, db, "-o", "json", "out", "eth-geth-a", "--yes")
    assert doc_proc.returncode == 1 and doc_proc.stderr.count("\n") == 1
    doc = json.loads(doc_proc.stdout)
    assert doc["ok"] is False and doc["changed"] is False and doc["recorded"] is False
    assert "the last healthy backend is never taken out" in doc["refused"]
    assert doc["before"] == doc["after"] == "UP" and doc["others_in_rotation"] == []
    assert_nothing_changed(lb, db, before)

    # the unhealthy ones may go: eth-geth-a stays
    proc = rotation(inv, db, "out", "eth-geth-b", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert lb.servers()["eth-geth-b"] == "MAINT" and lb.servers()["eth-geth-a"] == "UP"


def test_in_puts_it_back_and_forgets_it(lb: Lb, fronts: dict[str, Front], inv: Path, db: Path):
    proc = rotation(inv, db, "out", "eth-erigon", "--yes")  # healthy, for maintenance: allowed
    assert proc.returncode == 0, proc.stderr
    assert lb.servers()["eth-erigon"] == "MAINT" and [r[2] for r in records(db)] == ["eth-erigon"]
    again = rotation(inv, db, "out", "eth-erigon", "--yes")
    assert again.returncode == 0 and "already out of rotation in lb-eth on local-1 and recorded: nothing to do" \
        in again.stdout

    proc = rotation(inv, db, "in", "eth-erigon", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("rotation: put eth-erigon in lb-eth on local-1 back into rotation")
    assert lb.wait(ALL_UP) == ALL_UP
    assert records(db) == []
    assert [(e["action"], e["by"], e["ok"]) for e in log_entries(db)] == [("pull", "operator", True),
                                                                          ("restore", "operator", True)]
    proc = rotation(inv, db, "in", "eth-erigon", "--yes")
    assert proc.returncode == 0 and "is in rotation in lb-eth on local-1 already (UP): nothing to do" in proc.stdout

    # taken out by hand (not by fleetctl): put back, nothing recorded either way
    lb.admin("set server eth-nodes/eth-neth state maint")
    lb.wait({"eth-neth": "MAINT"})
    proc = rotation(inv, db, "in", "eth-neth", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert lb.wait(ALL_UP) == ALL_UP and records(db) == []


def test_unknown_and_ambiguous_names(lb: Lb, inv: Path, db: Path):
    before = lb.servers()
    proc = rotation(inv, db, "out", "nope", "--yes")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no backend nope in any balancer's pool; backends: eth-erigon, eth-geth-a, eth-geth-b, eth-neth" \
        in proc.stderr
    proc = rotation(inv, db, "out", "eth-geth-x", "--yes")
    assert proc.returncode == 2 and "did you mean " in proc.stderr
    assert "eth-geth-a" in proc.stderr and "eth-geth-b" in proc.stderr
    proc = rotation(inv, db, "out", "local-1/lb-eth", "--yes")
    assert proc.returncode == 2 and "host/balancer/server" in proc.stderr
    assert_nothing_changed(lb, db, before)

    # the same pool behind a balancer on each of two hosts: the bare name is ambiguous
    two = lb.inventory("two", {"local-1": lb.addresses[0], "local-2": lb.addresses[1]})
    hosts = ("local-1", "local-2")
    proc = rotation(two, db, "out", "eth-neth", "--yes", hosts=hosts)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "eth-neth is in the pool of 2 balancers: name one of local-1/lb-eth/eth-neth, local-2/lb-eth/eth-neth" \
        in proc.stderr
    assert lb.servers() == before
    proc = rotation(two, db, "-o", "json", "out", "local-2/lb-eth/eth-neth", "--yes", hosts=hosts)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["host"], doc["target"], doc["after"]) == ("local-2", "local-2/lb-eth/eth-neth", "MAINT")
    assert shlex.split(doc["command"]) == ["fleetctl", "rotation", "out", "local-2/lb-eth/eth-neth", "--db", str(db),
                                           "--yes"]
    assert [r[:3] for r in records(db)] == [("local-2", "lb-eth", "eth-neth")]
    proc = rotation(two, db, "in", "local-2/lb-eth/eth-neth", "--yes", hosts=hosts)
    assert proc.returncode == 0 and records(db) == []


def test_without_a_terminal_and_without_yes_nothing_is_done(lb: Lb, fronts: dict[str, Front], inv: Path, db: Path):
    fronts["eth-geth-a"].fault(lag=10)
    before = lb.servers()
    for action in ("out", "in"):
        proc = rotation(inv, db, action, "eth-geth-a")
        assert proc.returncode == 2 and proc.stdout == "", proc
        assert proc.stderr == (f"fleetctl: rotation {action}: no terminal to confirm on; pass --yes to act "
                               "without asking\n")
        assert_nothing_changed(lb, db, before)


def test_on_a_terminal_it_asks_and_shows_the_command(lb: Lb, fronts: dict[str, Front], inv: Path, db: Path):
    fronts["eth-geth-b"].fault(diverge_at=40)
    before = lb.servers()

    def on_terminal(answer: bytes) -> subprocess.CompletedProcess[str]:
        leader, follower = pty.openpty()
        try:
            os.write(leader, answer)  # waits in the terminal's buffer for the question
            return rotation(inv, db, "out", "eth-geth-b", stdin=follower)
        finally:
            os.close(follower)
            os.close(leader)

    proc = on_terminal(b"n\n")
    assert proc.returncode == 1 and proc.stderr == "rotation out: cancelled, nothing changed\n", proc.stderr
    assert "local-1/lb-eth/eth-geth-b (chain eth): UP; endpoint CRITICAL (diverged)" in proc.stdout
    assert "left in rotation and healthy: eth-geth-a, eth-neth, eth-erigon" in proc.stdout
    assert f"same as: fleetctl rotation out eth-geth-b --db {db} --yes" in proc.stdout
    assert proc.stdout.rstrip().endswith("Take eth-geth-b out of rotation in lb-eth on local-1? [y/N]")
    assert_nothing_changed(lb, db, before)

    proc = on_terminal(b"y\n")
    assert proc.returncode == 0, proc.stderr
    assert "rotation: took eth-geth-b in lb-eth on local-1 out of rotation (now MAINT)" in proc.stdout
    assert lb.servers()["eth-geth-b"] == "MAINT" and [r[2] for r in records(db)] == ["eth-geth-b"]


def test_json_keys(lb: Lb, inv: Path, db: Path):
    for action, after in (("out", "MAINT"), ("in", None)):
        proc = rotation(inv, db, "-o", "json", action, "eth-neth", "--yes")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert list(doc) == list(wf.RotationResult.JSON_KEYS)
        assert set(wf.RotationResult.JSON_KEYS) == {
            "action", "backend", "target", "host", "balancer", "chain", "server", "ok", "changed", "recorded",
            "refused", "before", "after", "message", "warnings", "others_in_rotation", "endpoint", "command", "db"}
        assert (doc["action"], doc["backend"], doc["target"], doc["chain"]) == (action, "eth-neth",
                                                                              "local-1/lb-eth/eth-neth", "eth")
        assert doc["ok"] is True and doc["changed"] is True and doc["refused"] is None
        assert doc["recorded"] is (action == "out")
        assert doc["before"] == ("UP" if action == "out" else "MAINT")
        if after:
            assert doc["after"] == after
        assert doc["endpoint"]["level"] == "OK" and doc["endpoint"]["state"] == "ok"
        assert doc["others_in_rotation"] == ["eth-geth-a", "eth-geth-b", "eth-erigon"]
        assert doc["command"] == f"fleetctl rotation {action} eth-neth --db {shlex.quote(str(db))} --yes"
        assert doc["db"] == str(db)
    assert lb.wait(ALL_UP) == ALL_UP


# ----------------------------------------------------------------------------- the job


def test_prepare_writes_nothing_and_execute_rechecks_the_pool(lb: Lb, fronts: dict[str, Front], inv: Path, db: Path):
    fleet = load_inventory(inv)
    write_cache(db, ["local-1"])
    before = lb.servers()
    plan = wf.prepare(fleet, "eth-geth-a", "out", db=db)
    assert_nothing_changed(lb, db, before)
    assert (plan.target, plan.status, plan.refused, plan.record, plan.recorded) == (
        "local-1/lb-eth/eth-geth-a", "UP", None, "pull", False)
    assert plan.runtime_command == "set server eth-nodes/eth-geth-a state maint" and plan.changes
    assert [p.name for p in plan.pool] == ["eth-geth-a", "eth-geth-b", "eth-neth", "eth-erigon"]
    assert all(p.healthy and p.level == "OK" for p in plan.pool)
    assert wf.cli_command(plan) == f"fleetctl rotation out eth-geth-a --db {db} --yes"
    assert wf.cli_command(plan, inventory="/srv/my fleet") == \
        f"fleetctl -i '/srv/my fleet' rotation out eth-geth-a --db {db} --yes"
    assert json.loads(json.dumps(plan.as_json()))["command"] == wf.cli_command(plan)

    # a cancelled token: nothing happens
    token = CancelToken()
    token.cancel("operator")
    with pytest.raises(Cancelled):
        wf.execute(fleet, plan, cancel=token)
    assert_nothing_changed(lb, db, before)

    # the others left the rotation since the plan was made: refused now, nothing changed
    for name in ("eth-geth-b", "eth-neth", "eth-erigon"):
        lb.admin(f"set server eth-nodes/{name} state maint")
    before = lb.wait({"eth-geth-b": "MAINT", "eth-neth": "MAINT", "eth-erigon": "MAINT"})
    events: list[Any] = []
    result = wf.execute(fleet, plan, on_event=events.append)
    assert not result.ok and not result.changed and result.refused and "is left up" in result.refused
    assert_nothing_changed(lb, db, before)

    lb.admin("set server eth-nodes/eth-erigon state ready")
    lb.wait({"eth-erigon": "UP"})
    events.clear()
    result = wf.execute(fleet, plan, on_event=events.append)
    assert result.ok and result.changed and result.recorded and result.after == "MAINT"
    assert [e.status for e in events if isinstance(e, HostTask)] == ["started", "changed"]
    assert isinstance(events[-1], StepFinished) and events[-1].ok
    assert [r[2] for r in records(db)] == ["eth-geth-a"]


def test_prepare_refuses_and_names_in_its_plan(lb: Lb, fronts: dict[str, Front], inv: Path, db: Path):
    fleet = load_inventory(inv)
    write_cache(db, ["local-1"])
    for name in ("eth-geth-b", "eth-neth", "eth-erigon"):
        fronts[name].fault(lag=10)
    plan = wf.prepare(fleet, "eth-geth-a", "out", db=db)
    assert plan.refused and not plan.changes and plan.others_in_rotation == ()
    result = wf.execute(fleet, plan)
    assert not result.ok and result.refused == plan.refused and not db.exists()
    with pytest.raises(wf.UnknownBackend) as info:
        wf.prepare(fleet, "eth-geth", "out", db=db)
    assert info.value.code == 2 and "eth-geth-a" in info.value.candidates
    in_plan = wf.prepare(fleet, "eth-geth-b", "in", db=db)
    assert not in_plan.changes and in_plan.warnings == (
        "its endpoint is CRITICAL (lagging): health --remediate will take it out again",)


@dataclass
class Sshd:
    port: int
    dir: Path
    identity: Path
    known_hosts: Path


@pytest.fixture(scope="module")
def sshd(haproxy: Lb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH server on the first host's address (key auth only, its own host key), as the
    health-sweep tests start theirs on 127.0.0.1."""
    binary = Path("/usr/sbin/sshd")
    if not binary.exists() or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server or client not installed")
    if os.geteuid() != 0 or not Path("/run/sshd").is_dir():
        pytest.skip("sshd needs root and its privilege separation folder /run/sshd")
    address = haproxy.addresses[0]
    d = tmp_path_factory.mktemp("sshd")
    for name in ("hostkey", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "id.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress {address}\nHostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n")
    host_pub = " ".join((d / "hostkey.pub").read_text().split()[:2])
    (d / "known_hosts").write_text(f"[{address}]:{port} {host_pub}\n")
    log = (d / "sshd.log").open("w")
    proc = subprocess.Popen([str(binary), "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (d / "sshd.log").read_text()
                time.sleep(0.05)
        yield Sshd(port, d, d / "id", d / "known_hosts")
    finally:
        stop(proc)
        log.close()


def test_out_and_in_over_ssh(lb: Lb, sshd: Sshd, fronts: dict[str, Front], db: Path):
    host_vars = (f"      ansible_port: {sshd.port}\n      ansible_user: root\n"
                 f"      ansible_ssh_private_key_file: '{sshd.identity}'\n      fleet_known_hosts: '{sshd.known_hosts}'\n")
    fleet = load_inventory(lb.inventory("ssh", {"ssh-1": lb.addresses[0]}, host_vars))
    assert fleet.hosts["ssh-1"].connection == "ssh"
    write_cache(db, ["ssh-1"])
    fronts["eth-neth"].fault(syncing=True)
    plan = wf.prepare(fleet, "eth-neth", "out", db=db)
    assert plan.endpoint_state == "syncing" and plan.target == "ssh-1/lb-eth/eth-neth"
    result = wf.execute(fleet, plan)
    assert result.ok and result.changed and lb.servers()["eth-neth"] == "MAINT", result.message
    assert [r[:3] for r in records(db)] == [("ssh-1", "lb-eth", "eth-neth")]
    write_cache(db, ["ssh-1"])
    result = wf.execute(fleet, wf.prepare(fleet, "eth-neth", "in", db=db))
    assert result.ok and result.changed and not result.recorded
    assert lb.wait({"eth-neth": "UP"})["eth-neth"] != "MAINT" and records(db) == []
