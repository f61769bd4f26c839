"""The monitoring kit (monitoring/): Prometheus rules that promtool accepts and whose unit tests
pass (`promtool check rules`, `promtool test rules`; promtool from Debian's prometheus package,
which `scripts/setup.sh --test` installs), tests that bite (a changed threshold fails them), and a
Grafana dashboard that loads. That every metric they name is one fleetctl serves is
tests/integration/test_monitoring_metrics.py (it needs the health-sweep fleet)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

KIT = REPO / "monitoring"
RULES = KIT / "prometheus" / "fleetctl-rules.yml"
RULE_TESTS = KIT / "prometheus" / "fleetctl-rules.test.yml"
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
    proc = run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@pytest.mark.parametrize("old, new", [
    ("expr: fleetctl_check_status == 2\n", "expr: fleetctl_check_status == 3\n"),
    ("fleetctl_stake_penalties_to_minimum < 3", "fleetctl_stake_penalties_to_minimum < 2"),
    ("predict_linear(fleetctl_host_disk_free_bytes[6h], 86400)", "predict_linear(fleetctl_host_disk_free_bytes[6h], 3600)"),
    ("absent(fleetctl_health_status)\n        for: 10m", "absent(fleetctl_health_status)\n        for: 40m"),
])
def test_the_rule_tests_catch_a_changed_rule(promtool, tmp_path, old, new):
    text = RULES.read_text()
    assert text.count(old) == 1, old
    (tmp_path / RULES.name).write_text(text.replace(old, new))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    proc = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr, proc.stdout


def test_every_alert_is_unit_tested_or_named_here():
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tested = {t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
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
