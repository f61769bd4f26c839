"""`fleetctl claims` against a CometBFT node stand-in on 127.0.0.1 (comet_events_node.py: real
HTTP, CometBFT v0.38 /block_results with poktroll's typed events, Shannon REST params).

The lab's Pocket stand-in did not serve /block_results yet when these were written, hence a node
of their own. Params in every test: sessions of 10 blocks, claim window E+2..E+6, proof window
E+6..E+10 (settled in the end-block of E+10), proof required above 20,000 upokt, else with
probability 0.25.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from comet_events_node import (
    CometNode,
    block_body,
    claim_created,
    claim_expired,
    claim_settled,
    noise_events,
    proof_submitted,
    supplier_slashed,
)
from conftest import fleetctl_bin, run_cli
from fleetctl.pocket.claims import observed_relays_per_session, proofs_missed_per_day, txs_per_day, txs_per_day_of
from fleetctl.state.schema import SCHEMA_VERSION
from fleetlab.standin import lab_address

A, B, C = (lab_address(f"claims-test-{x}") for x in "abc")
OTHER = lab_address("claims-test-other")
APP = lab_address("claims-test-app")
LATEST = 198


def story(node: CometNode) -> None:
    """A: proven and settled (170), not required and settled (180), required and missing with 2
    blocks left (190). B: required, missing, expired and slashed (180). C: probabilistic (190)."""
    node.put(172, block_body(172, [[claim_created(A, "eth", APP, 170, relays=300, cu=600, claimed=30000)],
                                   [claim_created(OTHER, "eth", APP, 170, claimed=99)]], noise_events()))
    node.put(176, block_body(176, [[proof_submitted(A, "eth", APP, 170, relays=300, cu=600, claimed=30000)]], []))
    node.put(180, block_body(180, [], [claim_settled(A, "eth", APP, 170, relays=300, cu=600, claimed=30000,
                                                     settled=28000, requirement=2), *noise_events()]))
    node.put(182, block_body(182, [[claim_created(A, "eth", APP, 180, relays=50, cu=100, claimed=5000)],
                                   [claim_created(B, "anvil", APP, 180, relays=500, cu=1000, claimed=50000)]], []))
    node.put(190, block_body(190, [], [
        claim_settled(A, "eth", APP, 180, relays=50, cu=100, claimed=5000),
        claim_expired(B, "anvil", APP, 180, relays=500, cu=1000, claimed=50000),
        supplier_slashed(B, "anvil", APP, 180, penalty=1_000_000, stake_after=59_499_000_000)]))
    node.put(192, block_body(192, [[claim_created(A, "eth", APP, 190, relays=250, cu=500, claimed=25000)],
                                   [claim_created(C, "eth", APP, 190, relays=10, cu=20, claimed=1000)]], []))


@pytest.fixture
def chain():
    node = CometNode(LATEST)
    story(node)
    url = node.start()
    yield node, url
    node.stop()


def inventory(root: Path, url: str, suppliers=(("sup-a", A), ("sup-b", B), ("sup-c", C)),
              protocol: str = "shannon") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    lines = "\n".join(f"  - {{name: {n}, operator_address: '{a}', services: [eth]}}" for n, a in suppliers)
    pocket = (f"{{rest_url: '{url}', node_rpc_url: '{url}'}}" if protocol == "shannon"
              else f"{{rpc_url: '{url}'}}")
    (root / "fleet.yml").write_text(
        f"protocol: {protocol}\npocket: {pocket}\nchains:\n  eth: {{clients: [geth], replicas: 1, "
        f"morse_chain_id: '0021'}}\nsuppliers:\n{lines}\n")
    return root


def claims(inv: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli("-i", str(inv), "claims", "--timeout", "2", *args,
                   env={"FLEETCTL_STATE_DIR": str(state)}, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def as_json(inv: Path, state: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = claims(inv, state, "-o", "json", *args)
    return proc.returncode, json.loads(proc.stdout)


def stored(state: Path) -> list[tuple]:
    with sqlite3.connect(state / "fleetctl.db") as conn:
        return conn.execute("SELECT height, kind, supplier, service, application, session_end "
                            "FROM chain_events ORDER BY height, kind, supplier").fetchall()


def test_the_story_rows_at_risk_and_levels(chain, tmp_path):
    _, url = chain
    code, doc = as_json(inventory(tmp_path / "inv", url), tmp_path / "state")
    assert code == 2 and doc["status"] == "CRITICAL"
    rows = {(r["name"], r["service"]): r for r in doc["rows"]}
    a = rows[("sup-a", "eth")]["last_24h"]
    assert (a["claims"], a["relays"], a["compute_units"]) == (3, 600, 1200)
    assert (a["claimed_upokt"], a["proven_upokt"], a["settled_upokt"]) == (60000, 30000, 33000)
    assert a["lost_upokt"] == {"OVERSERVICING": 2000} and a["slashes"] == 0
    b = rows[("sup-b", "anvil")]["last_24h"]
    assert b["lost_upokt"] == {"PROOF_MISSING": 50000} and (b["slashes"], b["slashed_upokt"]) == (1, 1_000_000)
    assert doc["session_ends"] == [190, 180, 170]
    risk = {a["name"]: a for a in doc["at_risk"]}
    assert risk["sup-a"] == {**risk["sup-a"], "requirement": "THRESHOLD", "session_end": 190,
                             "proof_window": [196, 200], "blocks_left": 2, "level": "WARNING"}
    assert risk["sup-c"]["requirement"] == "PROBABILISTIC" and risk["sup-c"]["level"] == "OK"
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["claims/sup-b"]["status"] == "CRITICAL" and "PROOF_MISSING" in checks["claims/sup-b"]["message"]
    assert checks["claims/sup-a"]["status"] == "WARNING" and "2 block(s) left" in checks["claims/sup-a"]["message"]
    assert checks["claims/sup-c"]["status"] == "OK"
    assert OTHER not in json.dumps(doc)  # other suppliers' events are never stored or shown


def test_nagios_codes(chain, tmp_path):
    _, url = chain
    cases = [((("sup-a", A), ("sup-b", B), ("sup-c", C)), 2, "CRITICAL"),
             ((("sup-a", A), ("sup-c", C)), 1, "WARNING"),
             ((("sup-c", C),), 0, "OK")]
    for index, (suppliers, code, name) in enumerate(cases):
        proc = claims(inventory(tmp_path / f"inv{index}", url, suppliers), tmp_path / f"state{index}", "--nagios")
        assert proc.returncode == code, proc.stdout
        lines = proc.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"CLAIMS {name} - ") and "'height'=198" in lines[0]
    # --warn-blocks 1: A's missing proof (2 blocks left) is no longer a warning
    proc = claims(inventory(tmp_path / "inv1", url, cases[1][0]), tmp_path / "state1", "--nagios",
                  "--warn-blocks", "1")
    assert proc.returncode == 0, proc.stdout


def test_table(chain, tmp_path):
    _, url = chain
    proc = claims(inventory(tmp_path / "inv", url), tmp_path / "state")
    assert proc.returncode == 2
    out = proc.stdout
    assert "sup-a" in out and "OVERSERVICING 2,000" in out and "PROOF_MISSING 50,000" in out
    assert "possibly (probabilistic)" in out and "196-200" in out
    assert out.strip().splitlines()[-1].startswith("claims: CRITICAL at height 198 - ")


def test_rerun_is_idempotent_and_reads_only_new_blocks(chain, tmp_path):
    node, url = chain
    inv, state = inventory(tmp_path / "inv", url), tmp_path / "state"
    code, first = as_json(inv, state)
    before = stored(state)
    assert len(before) == 10 and first["sync"]["stored"] == 10
    code2, second = as_json(inv, state)
    assert code2 == code and second["sync"]["first"] is None and stored(state) == before
    assert second["rows"] == first["rows"] and second["at_risk"] == first["at_risk"]
    # the proof lands at 199: A is no longer at risk; only block 199 is read
    node.put(199, block_body(199, [[proof_submitted(A, "eth", APP, 190, relays=250, cu=500, claimed=25000)]], []))
    node.latest = 199
    requests = len(node.requests)
    code3, third = as_json(inv, state)
    assert third["sync"]["first"] == 199 and third["sync"]["last"] == 199 and third["sync"]["stored"] == 1
    assert sum(1 for r in node.requests[requests:] if r.startswith("/block_results")) == 1
    assert all(a["name"] != "sup-a" for a in third["at_risk"])
    with sqlite3.connect(state / "fleetctl.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT last_height FROM chain_cursor").fetchone()[0] == 199


def test_overlapping_runs(chain, tmp_path):
    node, url = chain
    node.latency = 0.005
    inv, state = inventory(tmp_path / "inv", url), tmp_path / "state"
    env = {**{k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"},
           "FLEETCTL_STATE_DIR": str(state)}
    procs = [subprocess.Popen([fleetctl_bin(), "-i", str(inv), "claims", "--nagios", "--timeout", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(4)]
    results = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [2] * 4, results
    assert all(out.startswith("CLAIMS CRITICAL - ") and "Traceback" not in err for out, err in results)
    rows = stored(state)
    assert len(rows) == len(set(rows)) == 10
    with sqlite3.connect(state / "fleetctl.db") as conn:
        assert conn.execute("SELECT endpoint, last_height FROM chain_cursor").fetchall() == [(url, LATEST)]


def test_no_record_changes_nothing(chain, tmp_path):
    _, url = chain
    state = tmp_path / "state"
    code, doc = as_json(inventory(tmp_path / "inv", url), state, "--no-record")
    assert code == 2 and doc["sync"]["recorded"] is False
    assert {r["name"] for r in doc["rows"]} == {"sup-a", "sup-b", "sup-c"}
    assert not (state / "fleetctl.db").exists()


def test_backfill_bounds_the_first_run(chain, tmp_path):
    node, url = chain
    code, doc = as_json(inventory(tmp_path / "inv", url), tmp_path / "state", "--backfill", "10")
    assert doc["sync"]["first"] == 189 and doc["sync"]["blocks_read"] == 10
    assert any("first run: read the last 10 blocks" in n for n in doc["notes"])
    assert sum(1 for r in node.requests if r.startswith("/block_results")) == 10
    assert {r["name"] for r in doc["rows"]} == {"sup-a", "sup-b", "sup-c"}  # 190 and 192 read
    assert code == 2


def test_morse_fleet_is_unknown_in_one_line(tmp_path):
    morse = (("node-1", "a" * 40),)
    proc = claims(inventory(tmp_path / "inv", "http://127.0.0.1:9", morse, protocol="morse"),
                  tmp_path / "state", "--nagios")
    assert proc.returncode == 3
    assert proc.stdout.strip() == "CLAIMS UNKNOWN - claims are Shannon only; this fleet is morse (use 'fleetctl stakes')"


def test_helpers_for_stakes_and_scale(chain, tmp_path):
    _, url = chain
    state = tmp_path / "state"
    claims(inventory(tmp_path / "inv", url), state)
    db = state / "fleetctl.db"
    # A: sessions 170, 180, 190 with 300, 50, 250 relays; C: 10 in 190
    assert observed_relays_per_session(db, [A]) == 200
    assert observed_relays_per_session(db, [A, C]) == (300 + 50 + 250 + 10) / 4
    assert observed_relays_per_session(db, [A], service="anvil") is None
    txs = txs_per_day(db, A)
    assert txs is not None and txs.claims > 0 and txs.proofs > 0 and txs.proofs_missed == 0
    assert proofs_missed_per_day(db, B) > 0
    assert txs_per_day(db, lab_address("nobody")) is None
    # the store read once for many operators: the same figures as one by one; none for nobody;
    # more operators than one SQL query binds (chunked)
    nobody = lab_address("nobody")
    many = [f"pokt1filler{i:04d}" for i in range(1200)]
    together = txs_per_day_of(db, [A, B, C, nobody, *many, A])
    assert together == {op: txs_per_day(db, op) for op in (A, B, C) if txs_per_day(db, op) is not None}
    assert nobody not in together and together[A] == txs
    assert txs_per_day_of(db, []) == {} and txs_per_day_of(tmp_path / "none.db", [A]) == {}


# ----------------------------------------------------------------------------- the lab's stand-in


def test_against_the_pocket_standin(tmp_path):
    """The lab's Pocket stand-in (its CometBFT listener and Shannon REST): a proven claim
    settles, a missed required proof expires and slashes, a pending one is at risk; then a
    re-org of the last block read and an injected malformed event."""
    from fleetlab.standin import PocketStandin

    sups = [lab_address(f"claims-standin-{i}") for i in range(3)]
    app = lab_address("claims-standin-app")
    seed = {
        "chain_id": "pocket-lab-claims", "height": 101,
        "shannon": {
            "params": {
                "shared": {"num_blocks_per_session": 4, "grace_period_end_offset_blocks": 1,
                           "claim_window_open_offset_blocks": 1, "claim_window_close_offset_blocks": 2,
                           "proof_window_open_offset_blocks": 0, "proof_window_close_offset_blocks": 2,
                           "supplier_unbonding_period_sessions": 1},
                "proof": {"proof_request_probability": 0.0, "proof_requirement_threshold": 1,
                          "proof_missing_penalty": 300_000_000, "proof_submission_fee": 7},
                "supplier": {"min_stake": 1_000_000_000},
                "session": {"num_suppliers_per_session": 10}},
            "suppliers": [{"operator_address": a, "owner_address": lab_address("claims-standin-owner"),
                           "stake_upokt": 10**10, "services": ["anvil"]} for a in sups],
            "applications": [{"address": app, "stake_upokt": 10**12, "services": ["anvil"]}],
            "services": [{"id": "anvil", "name": "Anvil", "compute_units_per_relay": 3}]},
        "balances": {a: 1_000 for a in sups},
    }
    with PocketStandin(seed, comet_addr=("127.0.0.1", 0)) as chain:
        inv = tmp_path / "inv"
        inv.mkdir()
        (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
        lines = "\n".join(f"  - {{name: sup-{i}, operator_address: '{a}', services: [anvil]}}"
                          for i, a in enumerate(sups))
        (inv / "fleet.yml").write_text(
            f"protocol: shannon\npocket: {{rest_url: '{chain.shannon_url}', node_rpc_url: '{chain.comet_url}'}}\n"
            f"chains:\n  anvil: {{clients: [geth], replicas: 1}}\nsuppliers:\n{lines}\n")
        state = tmp_path / "state"
        # session ending at 100: claims in 102-104, proofs in 104-106, settled at the end of 106
        chain.control.set_height(101)
        for supplier, relays in zip(sups, (10, 20, 30), strict=True):
            assert chain.control.submit_tx("MsgCreateClaim", supplier, "anvil", 100, relays)["code"] == 0
        chain.control.advance(3)  # 102 .. 104
        assert chain.control.submit_tx("MsgSubmitProof", sups[0], "anvil", 100)["code"] == 0
        chain.control.advance(1)  # 105: proofs missing for sups 1 and 2, 1 block left (106)
        code, doc = as_json(inv, state)
        assert code == 1, doc
        risk = {a["name"]: a for a in doc["at_risk"]}
        assert set(risk) == {"sup-1", "sup-2"}
        assert risk["sup-1"]["requirement"] == "THRESHOLD" and risk["sup-1"]["blocks_left"] == 1
        assert risk["sup-1"]["proof_window"] == [104, 106]
        assert chain.control.submit_tx("MsgSubmitProof", sups[2], "anvil", 100)["code"] == 0
        chain.control.advance(2)  # 107: settled at the end of 106
        code, doc = as_json(inv, state)
        assert code == 2, doc
        day = {r["name"]: r["last_24h"] for r in doc["rows"]}
        assert day["sup-0"]["settled_upokt"] > 0 and day["sup-0"]["proven_upokt"] > 0
        assert day["sup-2"]["settled_upokt"] > 0
        assert day["sup-1"]["lost_upokt"].get("PROOF_MISSING", 0) > 0 and day["sup-1"]["slashes"] == 1
        assert day["sup-1"]["slashed_upokt"] == 300_000_000 and day["sup-0"]["relays"] == 10
        assert doc["at_risk"] == []
        checks = {c["name"]: c["status"] for c in doc["checks"]}
        assert checks == {"claims/sup-0": "OK", "claims/sup-1": "CRITICAL", "claims/sup-2": "OK"}
        # a re-org of the last block read: it is read again, nothing is duplicated
        before = stored(state)
        chain.control.reorg(107)
        code, doc = as_json(inv, state)
        assert doc["sync"]["reorg"] == 107 and stored(state) == before
        # an injected malformed event of a fleet supplier: UNKNOWN named, the CRITICAL stays
        chain.control.advance(1)
        chain.control.inject_events(108, finalize_block_events=[
            {"type": "pocket.tokenomics.EventSupplierSlashed", "attributes": [
                {"key": "supplier_operator_address", "value": json.dumps(sups[0]), "index": True},
                {"key": "proof_missing_penalty", "value": '"lots"', "index": True}]}])
        proc = claims(inv, state, "--nagios")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        _, doc = as_json(inv, state)
        assert any("height 108: finalize_block_events[" in e and "EventSupplierSlashed: missing field "
                   "service_id" in e for e in doc["sync"]["errors"]), doc["sync"]["errors"]
