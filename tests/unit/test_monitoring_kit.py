"""The monitoring kit (monitoring/): Prometheus rules that promtool accepts and whose unit tests
pass (`promtool check rules`, `promtool test rules`; promtool from Debian's prometheus package,
which `scripts/setup.sh --test` installs), tests that bite (a changed threshold fails them), and a
Grafana dashboard that loads. That every metric they name is one fleetctl serves is
tests/integration/test_monitoring_metrics.py (it needs the health-sweep fleet)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

KIT = REPO / "monitoring"
RULES = KIT / "prometheus" / "fleetctl-rules.yml"
RULE_TESTS = KIT / "prometheus" / "fleetctl-rules.test.yml"
#: every unit-test file: fleetctl-rules.test.yml, and fleetctl-rules.day.test.yml for the rules that
#: look a day back (evaluated every 5 minutes there, so promtool stays fast)
ALL_RULE_TESTS = sorted((KIT / "prometheus").glob("*.test.yml"))
DASHBOARD = KIT / "grafana" / "fleetctl.json"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool not found: Debian's prometheus package ships it (scripts/setup.sh --test installs it)")
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=120)


def test_promtool_checks_the_rules(promtool):
    proc = run(promtool, "check", "rules", str(RULES), cwd=RULES.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_rule_unit_tests_pass(promtool):
    assert RULE_TESTS in ALL_RULE_TESTS and len(ALL_RULE_TESTS) == 2, ALL_RULE_TESTS
    proc = run(promtool, "test", "rules", *(f.name for f in ALL_RULE_TESTS), cwd=RULE_TESTS.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(ALL_RULE_TESTS), proc.stdout


@pytest.mark.parametrize("old, new", [
    ("expr: fleetctl_check_status == 2\n", "expr: fleetctl_check_status == 3\n"),
    ("fleetctl_stake_penalties_to_minimum < 3", "fleetctl_stake_penalties_to_minimum < 2"),
    ("predict_linear(fleetctl_host_disk_free_bytes[6h], 86400)", "predict_linear(fleetctl_host_disk_free_bytes[6h], 3600)"),
    ("absent(fleetctl_health_status)\n        for: 10m", "absent(fleetctl_health_status)\n        for: 40m"),
    # the claims, stakes and RelayMiner rules (issue 12): levels as fleet.yml's and health's defaults
    ("fleetctl_claims_proofs_at_risk > 0\n        for: 10m", "fleetctl_claims_proofs_at_risk > 0\n        for: 20m"),
    ("fleetctl_claims_proofs_at_risk > 0\n        for: 10m", "fleetctl_claims_proofs_at_risk > 0\n        for: 3m"),
    ("expr: fleetctl_claims_lost_upokt > 0\n", "expr: fleetctl_claims_lost_upokt > 50000\n"),
    ("expr: fleetctl_claims_slashes > 0\n", "expr: fleetctl_claims_slashes > 1\n"),
    ("changes(fleetctl_claims_last_height[30m]) == 0\n        for: 10m",
     "changes(fleetctl_claims_last_height[30m]) == 0\n        for: 0m"),
    ("changes(fleetctl_claims_last_height[30m])", "changes(fleetctl_claims_last_height[60m])"),
    (" and on () fleetctl_claims_last_height", ""),
    ("(fleetctl_claims_relays offset 1d > 0)", "(fleetctl_claims_relays offset 1d >= 0)"),
    ("unless (fleetctl_claims_relays > 0)", "unless (fleetctl_claims_relays >= 0)"),
    ("fleetctl_stakes_missed_proofs_to_unstake <= 3\n", "fleetctl_stakes_missed_proofs_to_unstake <= 2\n"),
    ("fleetctl_stakes_missed_proofs_to_unstake <= 10 and", "fleetctl_stakes_missed_proofs_to_unstake < 10 and"),
    ("and fleetctl_stakes_missed_proofs_to_unstake > 3", "and fleetctl_stakes_missed_proofs_to_unstake >= 3"),
    ("fleetctl_stakes_fee_runway_days < 7", "fleetctl_stakes_fee_runway_days <= 7"),
    ("changes(fleetctl_relayminer_block_height[5m]) == 0\n        for: 2m",
     "changes(fleetctl_relayminer_block_height[5m]) == 0\n        for: 0m"),
    ("changes(fleetctl_relayminer_block_height[5m])", "changes(fleetctl_relayminer_block_height[10m])"),
    ("fleetctl_relayminer_error_ratio >= 0.25\n", "fleetctl_relayminer_error_ratio > 0.25\n"),
    ("fleetctl_relayminer_error_ratio >= 0.05 and", "fleetctl_relayminer_error_ratio > 0.05 and"),
    ("fleetctl_relayminer_dropped_ratio >= 0.10\n", "fleetctl_relayminer_dropped_ratio >= 0.20\n"),
    ("fleetctl_relayminer_dropped_ratio >= 0.01 and", "fleetctl_relayminer_dropped_ratio > 0.01 and"),
])
def test_the_rule_tests_catch_a_changed_rule(promtool, tmp_path, old, new):
    text = RULES.read_text()
    assert text.count(old) == 1, old
    (tmp_path / RULES.name).write_text(text.replace(old, new))
    # the files that test the changed alert (promtool takes a few seconds a file)
    alert = re.findall(r"- alert: (\w+)", text[:text.index(old)])[-1]
    files = [f for f in ALL_RULE_TESTS if f"alertname: {alert}\n" in f.read_text()]
    assert files, alert
    for tests in files:
        shutil.copy(tests, tmp_path / tests.name)
    proc = run(promtool, "test", "rules", *(f.name for f in files), cwd=tmp_path)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr, proc.stdout


def test_every_alert_is_unit_tested_or_named_here():
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tested = {t["alertname"] for tests in ALL_RULE_TESTS for case in yaml.safe_load(tests.read_text())["tests"]
              for t in case.get("alert_rule_test", [])}
    # the rest are single comparisons of one served gauge, checked by promtool check rules
    untested = {"FleetctlCheckUnknown", "FleetctlSweepSlow", "FleetctlExecutionDown", "FleetctlExecutionDiverged",
                "FleetctlChainFewEndpoints", "FleetctlPocketNodeDown", "FleetctlPocketNodeLagging",
                "FleetctlOperatorBalanceDraining", "FleetctlHostUnreachable", "FleetctlHostDiskAlmostFull"}
    assert tested <= alerts and alerts == tested | untested, (alerts - tested - untested, tested - alerts)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
                assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_claims_stakes_and_relayminer_alerts_are_tested_firing_and_not():
    """Issue 12's alerts (over fleetctl_claims_*, fleetctl_stakes_*, fleetctl_relayminer_*): each
    has a unit test where it fires and one where it does not."""
    rules = yaml.safe_load(RULES.read_text())
    kit = {r["alert"] for g in rules["groups"] for r in g["rules"]
           if "alert" in r and any(f in r["expr"] for f in ("fleetctl_claims_", "fleetctl_stakes_", "fleetctl_relayminer_"))}
    assert len(kit) == 13, sorted(kit)
    fires: set[str] = set()
    quiet: set[str] = set()
    for tests in ALL_RULE_TESTS:
        for case in yaml.safe_load(tests.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
    assert kit <= fires and kit <= quiet, (sorted(kit - fires), sorted(kit - quiet))


def test_dashboard_loads_and_queries_prometheus():
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] == "fleetctl" and doc["schemaVersion"] >= 36
    names = {v["name"] for v in doc["templating"]["list"]}
    assert "datasource" in names
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    queries = 0
    for panel in doc["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"] == panel["datasource"]
            queries += 1
    assert queries >= 20
