"""`fleetctl scale` on the lab: N and K from the chain (the Pocket stand-in), --apply making keys
in the RelayMiners' keyrings on the hosts, fleet.yml gaining the identities, the RelayMiner
config signing for them, and a re-run that changes nothing."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from fleetctl.plan import scale
from fleetctl.provision.sshexec import ssh_run
from fleetctl.spec.address import shannon_address_problem
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows import scale as wscale
from fleetlab import manager as M

from conftest import LAB_INV, apply_json, run_cli, wipe_managed

pytestmark = pytest.mark.lab

SECRET_WORDS = ("priv_key", "private", "mnemonic", "armor", "BEGIN TENDERMINT")


@pytest.fixture(scope="module")
def inv(lab, tmp_path_factory):
    root = tmp_path_factory.mktemp("scale") / "lab"
    shutil.copytree(LAB_INV, root)
    wipe_managed()
    rc, res = apply_json(root)
    assert rc == 0, res
    yield root
    wipe_managed()


def scale_json(root: Path, *args: str) -> tuple[int, dict, str]:
    proc = run_cli("scale", "-i", str(root), "--service", "eth", "-o", "json", *args, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    try:
        return proc.returncode, json.loads(proc.stdout), proc.stderr
    except ValueError:
        raise AssertionError(f"scale exited {proc.returncode}: {proc.stdout}\n{proc.stderr}") from None


def test_what_if_uses_the_chains_n_and_k(inv):
    rc, doc, _ = scale_json(inv, "--rows", "3")
    assert rc == 0
    # the lab chain: our 6 suppliers and 94 of other operators for eth, 15 per session, 20 apps
    assert (doc["N"], doc["K"], doc["current"], doc["apps"]) == (100, 15, 6, 20)
    first = doc["rows"][0]
    assert first["m"] == 6 and first["p_session"] == pytest.approx(1 - math.comb(94, 15) / math.comb(100, 15))
    assert [r["m"] for r in doc["rows"]] == [6, 7, 8, 9]
    assert doc["rows"][1]["N"] == 101  # an identity we add is one more to draw from


def keyring(host: str) -> list[dict]:
    fleet = load_inventory(LAB_INV)
    cmd = wscale._keys_command(fleet, host, ["keys", "list", "--keyring-backend", "test", "--home",
                                            wscale.KEYRING_HOME, "--output", "json"])
    res = asyncio.run(ssh_run(fleet.hosts[host], cmd, timeout=60))
    assert res.ok, (res.error, res.stderr)
    return json.loads(res.stdout or b"[]")


def test_apply_adds_identities_then_changes_nothing(inv):
    before = (inv / "fleet.yml").read_text()
    rc, doc, err = scale_json(inv, "--add", "2", "--apply", "--yes")
    assert rc == 0, err
    added = doc["added"]
    assert [a["name"] for a in added] == ["eth-sup-1", "eth-sup-2"]
    assert all(shannon_address_problem(a["operator_address"]) is None for a in added)
    for word in SECRET_WORDS:
        assert word not in json.dumps(doc) + err
    # fleet.yml: the old text kept, two explicit suppliers more, a backup of the old one
    after = (inv / "fleet.yml").read_text()
    assert all(line in after.splitlines() for line in before.splitlines())
    assert [p.read_text() for p in inv.glob("fleet.yml.bak-*")] == [before]
    fleet = load_inventory(inv)
    new = {s.name: s for s in fleet.suppliers if s.name.startswith("eth-sup-")}
    assert {n: s.operator_address for n, s in new.items()} == {a["name"]: a["operator_address"] for a in added}
    # each key lives in its host's RelayMiner keyring, and that RelayMiner signs for it
    for a in added:
        names = {k["name"]: k["address"] for k in keyring(a["host"])}
        assert names.get(a["name"]) == a["operator_address"]
        config = yaml.safe_load(Path(f"/var/lib/fleetctl-lab/hosts/{a['host']}/etc/relayminer/config.yaml").read_text())
        assert a["name"] in config["default_signing_key_names"]
    # applied: nothing left to do
    proc = run_cli("plan", "-i", str(inv), "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the same target again adds nothing
    share = next(r["p_session"] for r in doc["rows"] if r["m"] == 8)
    rc, again, err = scale_json(inv, "--target-share", f"{share * 0.999:.6f}", "--apply", "--yes")
    assert rc == 0 and again["target"] == 8 and "added" not in again, err
    assert (inv / "fleet.yml").read_text() == after
    assert len(list(inv.glob("fleet.yml.bak-*"))) == 1


def test_a_rerun_after_a_lost_inventory_write_reuses_the_keys(inv, tmp_path):
    """Keys made, then the inventory write lost (a crash): the next run finds the keys by name
    and makes no new one."""
    root = tmp_path / "lab"
    shutil.copytree(inv, root)
    fleet = load_inventory(root)
    idents = scale.plan_new_identities(fleet, "eth", 1, prefix="crash")
    made = asyncio.run(wscale.create_keys(fleet, idents))
    count = len(keyring(made[0].host))
    rc, doc, err = scale_json(root, "--add", "1", "--name-prefix", "crash", "--host", made[0].host, "--apply", "--yes")
    assert rc == 0, err
    assert doc["added"][0]["operator_address"] == made[0].operator_address
    assert len(keyring(made[0].host)) == count


def test_backends_too_small_are_refused_and_nothing_changes(inv, tmp_path):
    root = tmp_path / "lab"
    shutil.copytree(inv, root)
    text = (root / "fleet.yml").read_text()
    for client in ("geth", "nethermind", "erigon"):
        text = text.replace(f"  {client}: {{full: {{cpus: 0.25, memory_gb: 0.25, disk_gb: 1}}}}",
                            f"  {client}: {{full: {{cpus: 0.25, memory_gb: 0.25, disk_gb: 1, relays_per_s: 0.1}}}}")
    (root / "fleet.yml").write_text(text)
    keys_before = {h.name: len(keyring(h.name)) for h in M.HOSTS}
    proc = run_cli("scale", "-i", str(root), "--service", "eth", "--add", "1", "--apply", "--yes")
    assert proc.returncode == 1 and "relays/s" in proc.stderr and "Traceback" not in proc.stderr
    assert (root / "fleet.yml").read_text() == text
    assert {h.name: len(keyring(h.name)) for h in M.HOSTS} == keys_before


def test_apply_without_a_count_or_terminal_is_refused(inv):
    proc = run_cli("scale", "-i", str(inv), "--service", "eth", "--apply", "--yes")
    assert proc.returncode == 2 and "--target-share, --add or --budget" in proc.stderr
    proc = run_cli("scale", "-i", str(inv), "--service", "eth", "--add", "1", "--apply")
    assert proc.returncode == 2 and "--yes" in proc.stderr


def test_morse_what_if_reads_its_own_parameters(lab, tmp_path):
    """protocol morse: N is the nodes staked for relay chain 0021, K the chain's SessionNodeCount."""
    import hashlib

    root = tmp_path / "morse"
    shutil.copytree(LAB_INV, root)
    text = (LAB_INV / "fleet.yml").read_text()
    text = text.replace("protocol: shannon", "protocol: morse").replace(
        "  rest_url: http://10.213.0.1:1317\n", "  rpc_url: http://10.213.0.1:8081\n")
    head, _, _ = text.partition("suppliers:")
    _, _, tail = text.partition("\n# Lab hosts are small")
    nodes = [hashlib.sha256(f"lab-morse-node-{i}".encode()).hexdigest()[:40] for i in range(1, 3)]
    sups = "".join(f"  - {{name: morse-{i}, operator_address: {a}, services: [eth], host: lab-h{i}}}\n"
                   for i, a in enumerate(nodes, 1))
    (root / "fleet.yml").write_text(head + "suppliers:\n" + sups + "\n# Lab hosts are small" + tail)
    # The stand-in does not serve /v1/query/apps: the what-if without the figures per day, the
    # note naming --apps, exit 0; --apply is refused (its capacity check needs relays per day).
    proc = run_cli("scale", "-i", str(root), "--service", "eth", "--rows", "2")
    assert proc.returncode == 0, proc.stderr
    assert "apps unknown" in proc.stdout and "POKT/SESSION" in proc.stdout.upper()
    assert len([ln for ln in proc.stderr.splitlines() if "pass --apps N" in ln and ln.startswith("scale:")]) == 1
    rc, doc, err = scale_json(root, "--rows", "3")
    assert rc == 0 and doc["apps"] is None and doc["missing"][0]["how"] == "--apps N", err
    # pocket-core makes no session with fewer than K nodes on the chain: the lab's 3 (K = 5) earn
    # nothing, until enough are added to reach K
    assert all(r["rewards_upokt_per_day"] is None for r in doc["rows"]), doc["rows"]
    assert all(r["rewards_upokt_per_session"] == 0 for r in doc["rows"] if r["N"] < doc["K"]), doc["rows"]
    assert [r for r in doc["rows"] if r["N"] >= doc["K"] and r["rewards_upokt_per_session"] > 0], doc["rows"]
    proc = run_cli("scale", "-i", str(root), "--service", "eth", "--add", "1", "--apply", "--yes")
    assert proc.returncode == 2 and "--apps N" in proc.stderr
    rc, doc, err = scale_json(root, "--apps", "10", "--rows", "2")
    assert rc == 0, err
    # 3 nodes staked for 0021 (2 of them ours), 5 per session (mainnet genesis SessionNodeCount)
    assert (doc["N"], doc["K"], doc["current"]) == (3, 5, 2)
    assert doc["chain"]["blocks_per_session"] == 4
    # 10,000 upokt per relay less 10% DAO and 1% proposer
    assert float(doc["upokt_per_relay"]) == 8900


def test_imported_keys_are_used_and_a_missing_one_is_refused(inv, tmp_path):
    root = tmp_path / "lab"
    shutil.copytree(inv, root)
    fleet = load_inventory(root)
    # The operator's own key, put in lab-h2's RelayMiner keyring beforehand.
    cmd = wscale._keys_command(fleet, "lab-h2", ["keys", "add", "operator-made", "--keyring-backend", "test",
                                                "--home", wscale.KEYRING_HOME, "--no-backup", "--output", "json"])
    res = asyncio.run(ssh_run(fleet.hosts["lab-h2"], cmd, timeout=60))
    assert res.ok, res.stderr
    address = json.loads(res.stdout)["address"]
    before = (root / "fleet.yml").read_text()
    proc = run_cli("scale", "-i", str(root), "--service", "eth", "--add", "1", "--names", "not-there",
                   "--host", "lab-h2", "--imported", "--apply", "--yes")
    assert proc.returncode == 1 and "no key 'not-there'" in proc.stderr
    assert (root / "fleet.yml").read_text() == before
    assert "not-there" not in {k["name"] for k in keyring("lab-h2")}
    rc, doc, err = scale_json(root, "--add", "1", "--names", "operator-made", "--host", "lab-h2", "--imported",
                              "--apply", "--yes")
    assert rc == 0, err
    assert doc["added"] == [{"name": "operator-made", "host": "lab-h2", "operator_address": address,
                             "owner_address": doc["added"][0]["owner_address"], "services": ["eth"]}]
