"""Issue 12: ``fleetctl health`` includes the claims checks (one per supplier: expired claims,
slashes, proofs about to miss their window) within its own time bound, and the exporter's and
textfile's metrics carry the contract's names (fleetctl_claims_*, fleetctl_stakes_*,
fleetctl_relayminer_*). Against the CometBFT node stand-in of test_claims (B's story)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from comet_events_node import CometNode
from conftest import REPO, run_cli
from fleetctl.health.report import Check, HealthReport, Sample, exposition
from fleetctl.core.levels import Level
from test_claims import LATEST, story

ENV = {"PYTHONPATH": str(REPO)}
A_B_C = ("sup-a", "sup-b", "sup-c")


@pytest.fixture
def node():
    n = CometNode(LATEST)
    story(n)
    yield n
    n.stop()


def inventory(root: Path, url: str, timeout: float = 2) -> Path:
    from test_claims import inventory as claims_inventory

    claims_inventory(root, url)
    # health runs the host check locally (no SSH), thresholds out of this machine's reach
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1:\n      ansible_host: 127.0.0.1\n"
                                    "      ansible_connection: local\n")
    with (root / "fleet.yml").open("a") as fh:
        fh.write(f"health: {{timeout: {timeout}, load_warning: 500, load_critical: 1000}}\n")
    return root


def health(inv: Path, db: Path, *args: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    proc = run_cli("-i", str(inv), "health", "--db", str(db), "-o", "json", *args, env=ENV, timeout=90)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), time.monotonic() - started


def test_health_has_the_claims_checks_and_the_textfile_their_metrics(node, tmp_path):
    url = node.start()
    prom = tmp_path / "fleet.prom"
    code, doc, _ = health(inventory(tmp_path / "inv", url), tmp_path / "state" / "fleetctl.db",
                          "--prom-file", str(prom))
    claims = {c["target"]: c for c in doc["checks"] if c["kind"] == "claims"}
    assert set(claims) == set(A_B_C), claims
    assert claims["sup-b"]["status"] == "CRITICAL" and "PROOF_MISSING" in claims["sup-b"]["message"]
    assert claims["sup-a"]["status"] == "WARNING" and "2 block(s) left" in claims["sup-a"]["message"]
    assert claims["sup-a"]["at_risk"][0]["blocks_left"] == 2
    assert claims["sup-c"]["status"] == "OK"
    assert code == 2 and doc["status"] == "CRITICAL"  # the slash (the stand-in serves no supplier: stakes UNKNOWN)
    text = prom.read_text()
    assert 'fleetctl_claims_slashes{supplier="sup-b"} 1.0' in text
    assert 'fleetctl_claims_lost_upokt{reason="PROOF_MISSING",service="anvil",supplier="sup-b"} 50000.0' in text
    assert 'fleetctl_claims_proofs_at_risk{supplier="sup-a"} 1.0' in text
    assert 'fleetctl_claims_relays{service="eth",supplier="sup-a"} 600.0' in text
    assert f"fleetctl_claims_last_height {float(LATEST)}" in text
    assert 'fleetctl_check_status{kind="claims",target="sup-b"} 2.0' in text


def test_a_slow_node_makes_the_claims_check_unknown_never_the_run(node, tmp_path):
    node.latency = 5.0  # every request: longer than the sweep's bound
    url = node.start()
    code, doc, took = health(inventory(tmp_path / "inv", url, timeout=1), tmp_path / "state" / "fleetctl.db")
    claims = [c for c in doc["checks"] if c["kind"] == "claims"]
    assert len(claims) == 1 and claims[0]["status"] == "UNKNOWN", claims
    assert "not read in time" in claims[0]["message"]
    assert any(c["kind"] == "host" for c in doc["checks"])  # the rest of the run went on
    assert took < 3 * 1 + 1 + 8  # the sweep's bound (3 T + 1 s) and the CLI's start-up
    assert code == {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[doc["status"]]


def test_kit_metric_names_are_exported_as_they_are():
    checks = [
        Check("sup-a", "stake", Level.OK, "ok", {}, (
            Sample("upokt", 5.0), Sample("fleetctl_stakes_missed_proofs_to_unstake", 12.0, (("supplier", "sup-a"),)),
            Sample("fleetctl_stakes_fee_runway_days", 30.5, (("operator", "pokt1a"),))), {"name": "sup-a"}),
        Check("rm-1", "relayminer", Level.OK, "ok", {}, (
            Sample("block_height", 100.0, (("relayminer", "rm-1"),)), Sample("error_ratio", 0.01, (("relayminer", "rm-1"),)),
            Sample("dropped_ratio", 0.0, (("relayminer", "rm-1"),))), {"host": "rm-1"}),
    ]
    text = exposition(HealthReport("t", 0.1, checks)).decode()
    assert 'fleetctl_stakes_missed_proofs_to_unstake{supplier="sup-a"} 12.0' in text
    assert 'fleetctl_stakes_fee_runway_days{operator="pokt1a"} 30.5' in text
    assert 'fleetctl_relayminer_block_height{host="rm-1",relayminer="rm-1",target="rm-1"} 100.0' in text
    assert 'fleetctl_relayminer_error_ratio{host="rm-1",relayminer="rm-1",target="rm-1"} 0.01' in text
    assert 'fleetctl_relayminer_dropped_ratio{host="rm-1",relayminer="rm-1",target="rm-1"} 0.0' in text
    assert 'fleetctl_stake_upokt{name="sup-a",target="sup-a"} 5.0' in text


def test_a_node_answering_garbage_makes_a_claims_check_unknown_not_a_crash(node, tmp_path):
    node.raw[190] = b'{"jsonrpc":"2.0","result":{"height":"190","txs_results":[{"events":"nope"}]'
    node.status_raw = b'{"result":{"sync_info":{"latest_block_height":"1e400","catching_up":"no"}}}'
    url = node.start()
    code, doc, _ = health(inventory(tmp_path / "inv", url), tmp_path / "state" / "fleetctl.db")
    claims = [c for c in doc["checks"] if c["kind"] == "claims"]
    assert claims and all(c["status"] == "UNKNOWN" for c in claims), claims
    assert code == {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[doc["status"]]
