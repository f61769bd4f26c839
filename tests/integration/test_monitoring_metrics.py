"""The monitoring kit (monitoring/) queries only metrics fleetctl really serves.

The names come from fleetctl's own output, not from a list: the real exporter (`fleetctl
exporter`) scraped after a sweep of the health-sweep test fleet (anvil behind four client
fronts, the Pocket stand-in, this machine as a host), plus the textfile `fleetctl health
--prom-file` writes for that fleet. Every metric name in every PromQL expression of the
Prometheus rules file and of the Grafana dashboard must be among them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, fleetctl_bin
from test_health_sweep import (  # noqa: F401 - fixtures of the health-sweep fleet
    ENV, LOCALHOST, anvil, clean, db, free_port, fronts, health_json, inv, scrape, standin,
)

RULES = REPO / "monitoring" / "prometheus" / "fleetctl-rules.yml"
DASHBOARD = REPO / "monitoring" / "grafana" / "fleetctl.json"

# PromQL words that are not metric names (operators, modifiers, aggregation clauses).
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "atan2", "inf", "nan", "start", "end"}
FUNCTION_OR_AGGREGATION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
IDENT = re.compile(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)")


def metric_names(expr: str) -> set[str]:
    """Metric names used in a PromQL expression: identifiers that are not functions,
    aggregations, keywords, label names (inside {...} or after by/without/on/ignoring/group_*),
    durations or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)   # strings
    text = re.sub(r"\{[^{}]*\}", "", text)                                          # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                                          # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)                                         # Grafana variables
    functions = set(FUNCTION_OR_AGGREGATION.findall(text))
    names = set()
    for match in IDENT.finditer(text):
        word = match.group(1)
        rest = text[match.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("(") and word in functions:
            continue
        names.add(word)
    return names


def test_the_name_reader_finds_names_and_nothing_else():
    expr = ('sum by (chain) (rate(fleetctl_a_total{kind="x", target=~"a|b"}[5m] offset 1h)) '
            '/ on (chain) group_left(host) max without (t) (fleetctl_b) > bool 0.5 '
            'and absent(fleetctl_c{job="$job"}) or vector(1) unless time() - fleetctl_d[10m:1m] > 1e3')
    assert metric_names(expr) == {"fleetctl_a_total", "fleetctl_b", "fleetctl_c", "fleetctl_d"}
    assert metric_names('label_replace(up, "x", "$1", "y", "(.*)")') == {"up"}


def rules_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(RULES.read_text())
    return [(rule.get("alert") or rule.get("record"), rule["expr"])
            for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    out: list[tuple[str, str]] = []

    def walk(panels: list) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(doc["panels"])
    for var in doc.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if var.get("type") == "query" and isinstance(query, str):
            # label_values(metric, label) / query_result(expr)
            inner = re.fullmatch(r"\s*(?:label_values|query_result)\((.*)\)\s*", query, re.S)
            expr = inner.group(1) if inner else query
            if query.strip().startswith("label_values("):
                expr = expr.rsplit(",", 1)[0] if "," in expr else expr
            out.append((f"variable {var.get('name')}", expr))
    return out


@pytest.fixture(scope="module")
def emitted(inv: Path, fronts, tmp_path_factory) -> set[str]:  # noqa: F811
    """Sample names of the real exporter's /metrics and of the real textfile."""
    from prometheus_client.parser import text_string_to_metric_families

    tmp = tmp_path_factory.mktemp("kit")
    names: set[str] = set()
    prom = tmp / "fleetctl.prom"
    health_json(inv, tmp / "health.db", "--prom-file", str(prom))
    for fam in text_string_to_metric_families(prom.read_text()):
        names.update(s.name for s in fam.samples)
    port = free_port()
    proc = subprocess.Popen([fleetctl_bin(), "-i", str(inv), "exporter", "--listen", f"{LOCALHOST}:{port}",
                             "--interval", "30", "--db", str(tmp / "exporter.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**{k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}, **ENV})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fams = scrape(f"http://{LOCALHOST}:{port}/metrics")
                if "fleetctl_health_status" in fams:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the exporter never finished a sweep"
            time.sleep(0.2)
        for fam in fams.values():
            names.update(s.name for s in fam.samples)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    return {n for n in names if n.startswith("fleetctl_")}


def test_emitted_names_are_a_real_sweep(emitted: set[str]):
    # what the health-sweep fleet exercises: execution, chain, Pocket node, stakes, host, exporter
    assert {"fleetctl_health_status", "fleetctl_check_status", "fleetctl_execution_lag_blocks",
            "fleetctl_stake_margin_upokt", "fleetctl_exporter_last_sweep_timestamp_seconds"} <= emitted


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_query_uses_only_served_metrics(emitted: set[str], source: str):
    exprs = rules_exprs() if source == "rules" else dashboard_exprs()
    assert len(exprs) >= 10, exprs
    unknown = {}
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        missing = names - emitted
        if missing:
            unknown[where] = sorted(missing)
    assert not unknown, f"metrics fleetctl does not serve: {unknown}\nserved: {sorted(emitted)}"
