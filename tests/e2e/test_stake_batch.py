"""``fleetctl stake --batch`` on the lab: keys made on the lab hosts by the pocketd stand-in, stake
configs that validate, ``--execute`` through Ansible over SSH, the lab chain showing the new
suppliers, a re-run that sends nothing, a failure half way and a resume without duplicates.

Both keyrings fleetctl supports are used: a keyring folder on lab-h1 (``--keyring host``, the
host's ``fleet_pocketd`` = the lab's /var/lib/fleetctl-lab/bin/pocketd) and the RelayMiner
keyring volume of lab-h2 (``--keyring relayminer``, where ``fleetctl scale --apply`` puts keys:
pocketd runs in the lab's RelayMiner image, whose entrypoint is the stand-in).

The lab is shared: the suppliers are staked for a service of their own (``stakebatch``, so the
other tests' N for ``eth`` does not move), under unique names, and removed from the chain and
the keyrings at the end. Duplicates are seen on chain: a supplier staked again gets a new
service config activation height, so the test compares each supplier's on-chain history
before and after every later run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetlab import manager as M
from fleetctl.provision.sshexec import ssh_run
from fleetctl.spec.address import shannon_address_problem
from fleetctl.spec.loader import load_inventory
from fleetlab.standin import StandinControl, StandinControlError

from conftest import LAB_INV, REPO, lab_script

P = lab_script("pocketd")  # the lab's pocketd stand-in script (package data), as a module

pytestmark = pytest.mark.lab

SERVICE = "stakebatch"
LAB_OWNER = "pokt1r4r48cpagsclw3qvr3wx8fjrcppu4scan5rph0"  # the lab suppliers' owner (inventories/lab)
RELAYMINER_KEYRING = "/home/pocket/.pocket"
RUN = secrets.token_hex(3)  # names unique to this run: the lab may be shared


class Lab:
    """The test's view of the lab: its inventory copy, keyrings, and what to clean up."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root, self.tmp = root, tmp
        self.h1_home = f"/var/lib/fleetctl-lab/hosts/lab-h1/stake-test-{RUN}"
        self.db = tmp / "state" / "fleetctl.db"
        self.out = tmp / "configs"
        self.suppliers: list[dict[str, Any]] = []
        self.relayminer_keys: list[str] = []
        self.logs: list[str] = []
        self.control = StandinControl(M.SHANNON_URL)

    # ---- keys, made on the hosts

    def _ssh(self, host: str, command: str) -> str:
        fleet = load_inventory(self.root)
        res = asyncio.run(ssh_run(fleet.hosts[host], command, timeout=120))
        out, err = res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")
        self.logs += [out, err]
        assert res.ok, f"{host}: {command}: {res.error or err}"
        return out

    def key_on_h1(self, name: str) -> str:
        out = self._ssh("lab-h1", shlex.join([str(M.POCKETD_BIN), "keys", "add", name, "--keyring-backend", "test",
                                              "--home", self.h1_home, "--no-backup", "--output", "json"]))
        return json.loads(out)["address"]

    def _docker_h2(self, *argv: str) -> str:
        fleet = load_inventory(self.root)
        h2 = fleet.hosts["lab-h2"]
        cmd = ["docker", "-H", h2.vars["fleet_docker_host"], "run", "--rm", "--network", "none", "--pull", "never",
               "-v", "fleet-relayminer-data:/home/pocket", "-v", "/usr:/usr:ro", "fleetlab/relayminer:lab", *argv]
        return self._ssh("lab-h2", shlex.join(cmd))

    def key_in_h2_relayminer(self, name: str) -> str:
        out = self._docker_h2("keys", "add", name, "--keyring-backend", "test", "--home", RELAYMINER_KEYRING,
                              "--no-backup", "--output", "json")
        self.relayminer_keys.append(name)
        return json.loads(out)["address"]

    def private_material(self) -> list[str]:
        """Every private key the test made, as an output could show it (hex, HEX, base64)."""
        rings = [Path(self.h1_home) / "keyring-test",
                 M.LAB_DIR / "hosts" / "lab-h2" / "docker" / "volumes" / "fleet-relayminer-data" / "_data"
                 / ".pocket" / "keyring-test"]
        infos = list(rings[0].glob("*.info")) + [rings[1] / f"{n}.info" for n in self.relayminer_keys]
        found = []
        for info in infos:
            raw = base64.b64decode(json.loads(info.read_text())["privkey"]["key"])
            found += [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()]
        return found

    # ---- the inventory

    def add(self, name: str, address: str, host: str, owner: str | None = LAB_OWNER) -> None:
        assert shannon_address_problem(address) is None
        entry = {"name": name, "operator_address": address, "services": [SERVICE], "host": host}
        if owner:
            entry["owner_address"] = owner
        self.suppliers.append(entry)
        fleet = yaml.safe_load((LAB_INV / "fleet.yml").read_text())
        fleet["chains"][SERVICE] = {"clients": ["geth"], "replicas": 0, "max_client_share": 1.0}
        fleet["suppliers"] += self.suppliers
        (self.root / "fleet.yml").write_text(yaml.safe_dump(fleet, sort_keys=False))

    def stake(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        head = [str(Path(sys.executable).parent / "fleetctl")]
        env = {**{k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"},
               "PYTHONPATH": str(REPO), "FLEETCTL_STATE_DIR": str(self.tmp / "state"),
               "FLEETCTL_CACHE_DIR": str(self.tmp / "cache")}
        proc = subprocess.run([*head, "stake", "--batch", "-i", str(self.root), "--db", str(self.db),
                               "--out", str(self.out), *args], capture_output=True, text=True, env=env,
                              timeout=timeout)
        self.logs += [proc.stdout, proc.stderr]
        return proc

    def execute(self, *args: str) -> tuple[int, dict[str, Any]]:
        # The stakebatch service has no balancer nor backend in the lab (replicas 0): the preflight
        # would refuse every batch, so this test of the sending skips it (tests/integration/test_preflight_standin.py).
        proc = self.stake("--execute", "-o", "json", "--wait", "20", "--skip-preflight", *args)
        try:
            return proc.returncode, json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None

    def onchain(self, address: str) -> dict[str, Any] | None:
        state = self.control.state()
        return next((s for s in state["shannon"]["suppliers"] if s["operator_address"] == address), None)

    def histories(self, addresses: list[str]) -> dict[str, Any]:
        return {a: (self.onchain(a) or {}).get("service_config_history") for a in addresses}

    def cleanup(self) -> None:
        for s in self.suppliers:
            try:
                self.control.delete_supplier(s["operator_address"])
            except StandinControlError:
                pass
        for name in self.relayminer_keys:
            try:
                self._docker_h2("keys", "delete", name, "--keyring-backend", "test", "--home", RELAYMINER_KEYRING,
                                "--yes")
            except AssertionError:
                pass
        shutil.rmtree(self.h1_home, ignore_errors=True)


@pytest.fixture(scope="module")
def stk(lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stake")
    root = tmp / "lab"
    shutil.copytree(LAB_INV, root)
    hosts = yaml.safe_load((root / "hosts.yml").read_text())
    hosts["all"]["vars"]["fleet_pocketd"] = str(M.POCKETD_BIN)  # what the lab installs for its hosts
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    state = Lab(root, tmp)
    yield state
    state.cleanup()


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in report["suppliers"]}


def mine(report: dict[str, Any], prefix: str) -> dict[str, str]:
    return {s["name"]: s["status"] for s in report["suppliers"] if s["name"].startswith(prefix)}


def test_lab_hosts_have_the_pocketd_standin(stk):
    assert M.POCKETD_BIN.exists() and M.POCKETD_BIN.stat().st_mode & 0o111
    out = stk._ssh("lab-h1", f"{M.POCKETD_BIN} version")
    assert out.strip() == P.VERSION
    images = dict((tag, changes) for tag, _, changes in M.lab_images())
    assert 'ENTRYPOINT ["/usr/bin/python3", "-u", "/opt/fleetlab/pocketd.py"]' in images["fleetlab/relayminer:lab"]
    assert stk._docker_h2("version").strip() == P.VERSION


def test_dry_run_then_execute_on_two_keyrings(stk):
    a1 = f"stk-{RUN}-a1"
    a2 = f"stk-{RUN}-a2"
    r1 = f"stk-{RUN}-r1"
    stk.add(a1, stk.key_on_h1(a1), "lab-h1")
    stk.add(a2, stk.key_on_h1(a2), "lab-h1")
    stk.add(r1, stk.key_in_h2_relayminer(r1), "lab-h2", owner=None)  # custodial

    proc = stk.stake("-o", "json")
    assert proc.returncode == 0, proc.stderr
    dry = json.loads(proc.stdout)
    assert mine(dry, f"stk-{RUN}") == {a1: "to_stake", a2: "to_stake", r1: "to_stake"}
    assert all(s["status"] == "staked" for s in dry["suppliers"] if s["name"].startswith("lab-sup-"))
    assert not stk.db.exists()
    min_stake = dry["chain"]["min_stake_upokt"]
    assert dry["stake_upokt"] == min_stake + min_stake // 10 + 1  # the lab's warning margin is 10%
    rows = by_name(dry)
    for name, host_ip in ((a1, "10.213.0.11"), (a2, "10.213.0.11"), (r1, "10.213.0.12")):
        config = Path(rows[name]["config"]).read_bytes()
        parsed = P.parse_supplier_config(config)  # poktroll's reader, as the stand-in has it
        assert parsed["operator_address"] == rows[name]["operator_address"]
        assert parsed["owner_address"] == (rows[name]["operator_address"] if name == r1 else LAB_OWNER)
        assert parsed["stake_upokt"] == dry["stake_upokt"]
        assert parsed["services"] == [{"service_id": SERVICE, "endpoints": [
            {"url": f"http://{host_ip}:8500", "rpc_type": "JSON_RPC", "configs": []}],
            "rev_share": [{"address": parsed["owner_address"], "rev_share_percentage": 100}]}]
        shape = yaml.safe_load(config)
        assert list(shape) == ["owner_address", "operator_address", "stake_amount", "default_rev_share_percent",
                               "services"]
        assert rows[name]["command"].startswith(f"{M.POCKETD_BIN} tx supplier stake-supplier --config ")
        assert rows[name]["command"].endswith("--chain-id pocket-lab --node tcp://10.213.0.1:26657 --yes --output json")

    # lab-h1's keyring folder: its two suppliers (r1's key is elsewhere: not selected here).
    code, h1 = stk.execute("--host", "lab-h1", "--home", stk.h1_home, "--only", f"{a1},{a2}")
    assert code == 0, h1
    assert mine(h1, f"stk-{RUN}") == {a1: "confirmed", a2: "confirmed"}
    assert all(s["command"].startswith(f"{M.POCKETD_BIN} ") for s in h1["suppliers"] if s["command"])
    # lab-h2's RelayMiner keyring: r1 only (a1/a2 are staked now).
    code, h2 = stk.execute("--host", "lab-h2", "--keyring", "relayminer")
    assert code == 0, h2
    assert mine(h2, f"stk-{RUN}") == {a1: "staked", a2: "staked", r1: "confirmed"}
    assert by_name(h2)[r1]["command"].startswith("docker -H unix:///run/fleetctl-lab/h2/docker.sock run --rm "
                                                 "--network host --pull never -v fleet-relayminer-data:/home/pocket")
    for s in stk.suppliers:
        onchain = stk.onchain(s["operator_address"])
        assert onchain is not None, s["name"]
        assert onchain["stake_upokt"] == dry["stake_upokt"]
        assert onchain["owner_address"] == s.get("owner_address", s["operator_address"])
        (update,) = onchain["service_config_history"]
        assert update["service"]["service_id"] == SERVICE
    with sqlite3.connect(stk.db) as conn:
        assert conn.execute("SELECT name, state, host FROM stakes_batch ORDER BY rowid").fetchall() == [
            (a1, "confirmed", "lab-h1"), (a2, "confirmed", "lab-h1"), (r1, "confirmed", "lab-h2")]

    # A re-run stakes nothing: no command, the chain's records untouched.
    before = stk.histories([s["operator_address"] for s in stk.suppliers])
    stk.control.advance(25)  # a restake now would move the activation to a later session
    code, again = stk.execute("--host", "lab-h1", "--home", stk.h1_home)
    assert code == 0 and again["commands"] == []
    assert set(mine(again, f"stk-{RUN}").values()) == {"staked"}
    assert stk.histories([s["operator_address"] for s in stk.suppliers]) == before


def test_a_failure_half_way_stops_and_the_next_run_resumes_without_duplicates(stk):
    names = [f"stk-{RUN}-b{i}" for i in (1, 2, 3)]
    for name in names:
        stk.add(name, stk.key_on_h1(name), "lab-h1")
    earlier = [s["operator_address"] for s in stk.suppliers if not s["name"].startswith(f"stk-{RUN}-b")]
    history = stk.histories(earlier)

    # b2's key is missing from lab-h1's keyring when the batch runs.
    info = Path(stk.h1_home) / "keyring-test" / f"{names[1]}.info"
    away = info.with_name("b2.info.away")
    info.rename(away)
    code, failed = stk.execute("--host", "lab-h1", "--home", stk.h1_home)
    assert code == 1
    assert mine(failed, f"stk-{RUN}-b") == {names[0]: "confirmed", names[1]: "failed", names[2]: "not_attempted"}
    b2 = by_name(failed)[names[1]]
    assert b2["error"] == f"exit 1: key with address {b2['operator_address']} not found: key not found"
    assert stk.onchain(b2["operator_address"]) is None
    assert stk.onchain(by_name(failed)[names[2]]["operator_address"]) is None
    b1_history = stk.histories([by_name(failed)[names[0]]["operator_address"]])

    # Human output of the same state (a dry run): b2 and b3 to stake, b1 staked.
    text = stk.stake()
    assert text.returncode == 0
    assert f"{names[0]}" in text.stdout and text.stdout.count("tx supplier stake-supplier") == 2

    away.rename(info)
    stk.control.advance(25)
    code, resumed = stk.execute("--host", "lab-h1", "--home", stk.h1_home)
    assert code == 0, resumed
    assert mine(resumed, f"stk-{RUN}-b") == {names[0]: "staked", names[1]: "confirmed", names[2]: "confirmed"}
    assert len(resumed["commands"]) == 2
    assert stk.histories([by_name(failed)[names[0]]["operator_address"]]) == b1_history
    assert stk.histories(earlier) == history
    with sqlite3.connect(stk.db) as conn:
        rows = conn.execute("SELECT name, state FROM stakes_batch WHERE name LIKE ? ORDER BY rowid",
                            (f"stk-{RUN}-b%",)).fetchall()
    assert rows == [(names[0], "confirmed"), (names[1], "failed"), (names[1], "confirmed"), (names[2], "confirmed")]
    # Every supplier the test added was staked exactly once: one service config update each.
    for s in stk.suppliers:
        assert len(stk.onchain(s["operator_address"])["service_config_history"]) == 1, s["name"]


def test_no_key_material_in_outputs_or_logs(stk):
    secrets_ = stk.private_material()
    assert len(secrets_) == 3 * 6  # a1, a2, b1..b3 on lab-h1, r1 in lab-h2's RelayMiner volume
    texts = list(stk.logs)
    for log in (M.LAB_DIR / "logs").glob("*.log"):
        texts.append(log.read_text(errors="replace"))
    for path in stk.out.glob("*"):
        texts.append(path.read_text())
    with sqlite3.connect(stk.db) as conn:
        texts.append(json.dumps(conn.execute("SELECT * FROM stakes_batch").fetchall()))
    for text in texts:
        for secret in secrets_:
            assert secret not in text
