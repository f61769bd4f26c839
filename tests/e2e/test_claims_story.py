"""What the chain pays and takes, on the lab: relays served by the provisioned RelayMiners are
claimed, proven and settled on the lab chain; a RelayMiner made to skip its proofs gets its claim
expired (PROOF_MISSING) and its supplier slashed, and fleetctl claims / health / stakes say so.

The lab chain runs 4-block sessions at 1 s a block with short claim and proof windows
(lab/fleetlab/seed.py), so each story takes seconds. The RelayMiner stand-ins learn their
suppliers' addresses from their keyring (public `.info` records written here, as an operator's
key import would leave them)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fleetctl.provision.dockerssh import docker_client
from fleetctl.spec.loader import load_inventory
from fleetlab import manager as M

from conftest import LAB_INV, apply_json, run_cli, wipe_managed
from test_health import Receiver, wait_until

pytestmark = pytest.mark.lab

CONTROL = "http://10.213.0.1:1317"
RELAYMINER_PORT = 8500


def _json(url: str, body: Any = None, timeout: float = 5) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def chain_suppliers() -> dict[str, dict]:
    state = _json(f"{CONTROL}/__lab/state")
    return {s["operator_address"]: s for s in state["shannon"]["suppliers"]}


def import_keys(root: Path) -> None:
    """Each host's RelayMiner keyring gets its suppliers' public key records (name -> address)."""
    fleet = load_inventory(root)
    for name, host in fleet.hosts.items():
        client = docker_client(host)
        try:
            rm = client.containers.get("relayminer")
            for s in fleet.suppliers:
                if s.host != name:
                    continue
                record = json.dumps({"name": s.name, "type": "local", "address": s.operator_address})
                res = rm.exec_run(["sh", "-c", 'mkdir -p "$1" && printf %s "$2" > "$1/$3.info"', "sh",
                                   "/home/pocket/.pocket/keyring-test", record, s.name])
                assert res.exit_code == 0, res.output
        finally:
            client.close()


def relays(host: M.LabHost, n: int) -> int:
    ok = 0
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
    for _ in range(n):
        req = urllib.request.Request(f"http://{host.address}:{RELAYMINER_PORT}/eth", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                ok += "result" in json.loads(resp.read())
        except OSError:
            pass
    return ok


def claims(root: Path, db: Path, *extra: str) -> tuple[int, dict]:
    proc = run_cli("claims", "-i", str(root), "--db", str(db), "-o", "json", *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"claims exited {proc.returncode}: {proc.stdout}\n{proc.stderr}") from None


def row(doc: dict, name: str) -> dict | None:
    return next((r for r in doc["rows"] if r["name"] == name), None)


@pytest.fixture(scope="module")
def inv(lab, tmp_path_factory):
    root = tmp_path_factory.mktemp("claims") / "lab"
    shutil.copytree(LAB_INV, root)
    with open(root / "fleet.yml", "a") as fh:
        fh.write("\nhealth:\n  load_warning: 50\n  load_critical: 100\n")
    wipe_managed()
    rc, res = apply_json(root)
    assert rc == 0, res
    import_keys(root)
    yield root
    for h in M.HOSTS:
        M.Lab().fault(f"{h.name}/relayminer", {}, clear=True)
    wipe_managed()
    # the lab chain back to its seed: the stakes slashed here, and the expired claims and slashes
    # in its blocks, would otherwise be what the lab's other tests' health and stakes runs find
    _json(f"{CONTROL}/__lab/reset", {})


def test_relays_are_claimed_proven_and_settled(inv, tmp_path):
    db = tmp_path / "state.db"
    h1 = M.HOSTS[0]
    # the RelayMiner reads its keyring every 10 s; relays before that are served, not claimed
    def settled() -> dict | None:
        relays(h1, 40)  # 20 a supplier: a claim of 7 relays or more is worth 1 upokt or more
        rc, doc = claims(inv, db)
        mine = [row(doc, n) for n in ("lab-sup-1", "lab-sup-2")]
        ok = rc == 0 and any(r and r["last_24h"]["settled_upokt"] > 0 for r in mine)
        return doc if ok else None

    doc = wait_until("a claim of lab-h1's suppliers settled", settled, timeout=90, interval=2)
    assert doc["status"] == "OK", doc
    got = [row(doc, n)["last_24h"] for n in ("lab-sup-1", "lab-sup-2") if row(doc, n)]
    # a proof is submitted only when the chain requires one: proven never exceeds claimed
    assert all(r["proven_upokt"] <= r["claimed_upokt"] and r["settled_upokt"] <= r["claimed_upokt"] for r in got), got
    assert not any(r["lost_upokt"] or r["slashes"] for r in got), got
    # an idempotent re-read: the next run reads only new blocks and stores nothing twice
    rc, again = claims(inv, db)
    assert again["sync"]["first"] == doc["sync"]["last"] + 1 or again["sync"]["blocks_read"] == 0, again["sync"]
    first = row(again, "lab-sup-1") or row(again, "lab-sup-2")
    assert first["last_24h"]["claims"] >= 1


def test_a_missed_proof_expires_the_claim_and_slashes(inv, tmp_path):
    db = tmp_path / "state.db"
    h2 = M.HOSTS[1]
    fleet = load_inventory(inv)
    ours = {s.name: s.operator_address for s in fleet.suppliers if s.host == "lab-h2"}
    before = {n: chain_suppliers()[a]["stake_upokt"] for n, a in ours.items()}
    rc, _ = claims(inv, db)  # the cursor starts here: what follows is new
    assert M.Lab().fault("lab-h2/relayminer", {"relayminer": "skip_proofs"}) == {"relayminer": "skip_proofs"}

    def slashed() -> dict | None:
        relays(h2, 40)
        rc, doc = claims(inv, db)
        hit = [n for n in ours if (r := row(doc, n)) and r["last_24h"]["slashes"]]
        return (rc, doc, hit) if hit else None

    rc, doc, hit = wait_until("a claim of lab-h2's suppliers expired and slashed", slashed, timeout=90, interval=2)
    assert rc == 2 and doc["status"] == "CRITICAL", doc
    name = hit[0]
    r = row(doc, name)["last_24h"]
    assert r["lost_upokt"].get("PROOF_MISSING", 0) >= 0 and "PROOF_MISSING" in r["lost_upokt"], r
    assert r["slashed_upokt"] == r["slashes"] * 500_000_000, r  # the lab's proof_missing_penalty
    check = next(c for c in doc["checks"] if c["name"] == f"claims/{name}")
    assert check["status"] == "CRITICAL" and "PROOF_MISSING" in check["message"] and "stake now" in check["message"]
    # the chain agrees: the stake went down by the penalty, once per slash
    after = chain_suppliers()[ours[name]]["stake_upokt"]
    assert before[name] - after >= r["slashed_upokt"], (before[name], after, r)
    # the Nagios form says the same in its status line, exit 2
    proc = run_cli("claims", "-i", str(inv), "--db", str(db), "--nagios")
    assert proc.returncode == 2 and proc.stdout.startswith("CLAIMS CRITICAL"), proc.stdout + proc.stderr
    M.Lab().fault("lab-h2/relayminer", {}, clear=True)

    # health has the same check and alerts on it, once
    receiver = Receiver()
    try:
        alerting = tmp_path / "alerting"
        shutil.copytree(inv, alerting)
        with open(alerting / "fleet.yml", "a") as fh:
            fh.write(f"\nalerts:\n  after: 1\n  sinks:\n    - {{type: webhook, url: \"{receiver.url}\"}}\n")
        proc = run_cli("health", "-i", str(alerting), "-o", "json", "--db", str(db), "--timeout", "3", timeout=180)
        assert "Traceback" not in proc.stderr, proc.stderr
        doc = json.loads(proc.stdout)
        got = {c["target"]: c for c in doc["checks"] if c["kind"] == "claims"}
        assert got[name]["status"] == "CRITICAL" and "PROOF_MISSING" in got[name]["message"], got
        assert proc.returncode == 2, proc.stdout
        notices = wait_until("the claims alert delivered", lambda: receiver.of(f"claims/{name}"), timeout=30)
        assert len(notices) == 1 and notices[0]["level"] == "CRITICAL", notices
    finally:
        receiver.server.shutdown()

    # and stakes counts the proofs it can still miss before the chain unstakes it
    proc = run_cli("stakes", "-i", str(inv), "--db", str(db), "-o", "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    sup = next(s for s in json.loads(proc.stdout)["suppliers"] if s["address"] == ours[name])
    assert sup["missed_proofs_to_unstake"] == (sup["stake_upokt"] - sup["min_stake_upokt"]) // 500_000_000, sup
    assert sup["stake_upokt"] < before[name]
