"""The monitoring kit (monitoring/) queries only metrics fleetctl really serves.

The names come from fleetctl's own output, not from a list: the real exporter (`fleetctl
exporter`) scraped after a sweep, and the textfile `fleetctl health --prom-file` writes, for two
fleets: the health-sweep test fleet (anvil behind four client fronts, the Pocket stand-in, this
machine as a host) and a Shannon claims fleet (test_health_claims's: the CometBFT events node of
test_claims with its claims, proofs, settlements and a slash; its suppliers staked on the Pocket
stand-in; a RelayMiner serving the lab RelayMiner's metrics page and ping server). Every metric
name in every PromQL expression of the Prometheus rules file and of the Grafana dashboard must be
among them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml

from comet_events_node import CometNode
from conftest import REPO, fleetctl_bin, lab_script
from fleetctl.health.sweep import CACHE_SUFFIX
from test_claims import A, B, C, LATEST, story
from test_health_claims import inventory as claims_inventory
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


def rules_exprs(path: Path = RULES) -> list[tuple[str, str]]:
    doc = yaml.safe_load(path.read_text())
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


# The RelayMiner's metrics and ping ports are fixed (fleetctl.core.layout): the claims fleet's
# fleetctl runs with them pointed at the test's RelayMiner on a free port, the rest as shipped.
WITH_PORTS = ("import sys; from fleetctl.core import layout; "
              "layout.RELAYMINER_METRICS_PORT = layout.RELAYMINER_PING_PORT = int(sys.argv.pop(1)); "
              "from fleetctl.cli import main; sys.exit(main(sys.argv[1:]))")
POKT = 1_000_000


class ClaimsChain(CometNode):
    """test_claims's CometBFT events node (and its proof and shared params); the other REST routes
    (suppliers, supplier params, balances, latest block) from the Pocket stand-in."""

    def __init__(self, rest: str) -> None:
        super().__init__(LATEST)
        self.rest = rest
        self.params["shared"]["supplier_unbonding_period_sessions"] = "1"

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        status, body = super().answer(path, query)
        if status != 404:
            return status, body
        url = self.rest + path + ("?" + urlencode(query, doseq=True) if query else "")
        try:
            with urlopen(url, timeout=5) as resp:  # noqa: S310 - the stand-in on 127.0.0.1
                return resp.status, resp.read()
        except HTTPError as exc:
            return exc.code, exc.read()


def serve_relays(metrics: Any, n: int) -> None:
    """``n`` relays through the RelayMiner: one in ten fails, one is dropped."""
    for i in range(n):
        metrics.request("eth", A, ok=i % 10 != 0)
    metrics.add("relayminer_relays_dropped_total", "mining_channel_full", "eth", A)


def relayminer_server() -> tuple[ThreadingHTTPServer, Any]:
    """A RelayMiner's /metrics as the lab RelayMiner renders it (pkg/relayer/metrics.go names),
    after relays, errors and a dropped relay, and its ping server's 204 on the same port."""
    Metrics = lab_script("relayminer").Metrics

    metrics = Metrics(["eth"])
    serve_relays(metrics, 200)
    metrics.height = LATEST

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] == "/metrics":
                body = metrics.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        do_POST = do_GET  # noqa: N815 - the ping server answers any method

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, metrics


def seed_relayminer_container(db: Path) -> None:
    """The state's targets cache: host h1 runs a RelayMiner container (what a sweep that read
    `docker ps` on it remembers), so health reads its metrics and ping server."""
    db.parent.mkdir(parents=True, exist_ok=True)
    container = {"name": "fleetctl-relayminer", "role": "relayminer", "chain": None, "client": None, "slot": None,
                 "running": True, "status": "Up 2 hours", "image": "ghcr.io/pokt-network/pocketd", "mounts": []}
    db.with_name(db.name + CACHE_SUFFIX).write_text(json.dumps({"h1": {"containers": [container]}}))


@pytest.fixture(scope="module")
def claims_fleet(tmp_path_factory) -> Iterator[tuple[Path, int, Any]]:
    """The claims fleet's inventory, its RelayMiner's port and metrics."""
    from fleetlab.standin import PocketStandin

    rest = PocketStandin({
        "height": LATEST,
        "shannon": {"params": {"supplier": {"min_stake": 1000 * POKT}},
                    "suppliers": [{"operator_address": a, "stake_upokt": 1050 * POKT, "services": ["eth"]}
                                  for a in (A, B, C)]},
        "balances": {a: 50 * POKT for a in (A, B, C)},
    }).start()
    node = ClaimsChain(rest.shannon_url)
    story(node)
    rm, metrics = relayminer_server()
    try:
        inv_dir = claims_inventory(tmp_path_factory.mktemp("claims-fleet") / "inv", node.start())
        yield inv_dir, rm.server_address[1], metrics
    finally:
        rm.shutdown()
        rm.server_close()
        node.stop()
        rest.stop()


def run_with_ports(port: int, *args: str, **kw: Any) -> Any:
    env = {**{k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}, **ENV}
    return (subprocess.Popen if kw.pop("background", False) else subprocess.run)(
        [sys.executable, "-c", WITH_PORTS, str(port), *args], text=True, env=env, **kw)


def textfile_names(prom: Path) -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    return {s.name for fam in text_string_to_metric_families(prom.read_text()) for s in fam.samples}


def exporter_names(proc: subprocess.Popen[str], port: int) -> set[str]:
    """The names the exporter serves once its first sweep is done; then stops it."""
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
        return {s.name for fam in fams.values() for s in fam.samples}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def served(inv: Path, fronts, claims_fleet: tuple[Path, int, Any], tmp_path_factory) -> dict[str, set[str]]:  # noqa: F811
    """Sample names of the real textfile and of the real exporter's /metrics, for both fleets:
    {"textfile": ..., "exporter": ...}."""
    tmp = tmp_path_factory.mktemp("kit")
    out: dict[str, set[str]] = {"textfile": set(), "exporter": set()}
    # the health-sweep fleet
    prom = tmp / "fleetctl.prom"
    health_json(inv, tmp / "health.db", "--prom-file", str(prom))
    out["textfile"] |= textfile_names(prom)
    port = free_port()
    out["exporter"] |= exporter_names(subprocess.Popen(
        [fleetctl_bin(), "-i", str(inv), "exporter", "--listen", f"{LOCALHOST}:{port}", "--interval", "30",
         "--db", str(tmp / "exporter.db")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**{k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}, **ENV}), port)
    # the claims fleet: the textfile, then the exporter (each run finds the RelayMiner in the targets cache)
    claims_inv, rm_port, rm_metrics = claims_fleet
    prom = tmp / "claims.prom"
    db = tmp / "claims" / "fleetctl.db"
    seed_relayminer_container(db)
    proc = run_with_ports(rm_port, "-i", str(claims_inv), "health", "--db", str(db), "--prom-file", str(prom),
                          capture_output=True, timeout=90)
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1, 2, 3), proc.stderr
    out["textfile"] |= textfile_names(prom)
    serve_relays(rm_metrics, 100)  # the exporter's ratios: over the relays since health's reading
    seed_relayminer_container(db)
    port = free_port()
    out["exporter"] |= exporter_names(run_with_ports(
        rm_port, "-i", str(claims_inv), "exporter", "--listen", f"{LOCALHOST}:{port}", "--interval", "30",
        "--db", str(db), background=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE), port)
    return {k: {n for n in v if n.startswith("fleetctl_")} for k, v in out.items()}


@pytest.fixture(scope="module")
def emitted(served: dict[str, set[str]]) -> set[str]:
    return served["textfile"] | served["exporter"]


def test_the_exporter_serves_what_the_textfile_holds(served: dict[str, set[str]]):
    # the exporter adds its own fleetctl_exporter_*; it leaves nothing of the textfile's out
    assert served["textfile"] - served["exporter"] == set(), sorted(served["textfile"] - served["exporter"])
    assert all(n.startswith("fleetctl_exporter_") for n in served["exporter"] - served["textfile"]), \
        sorted(served["exporter"] - served["textfile"])


def test_emitted_names_are_a_real_sweep(emitted: set[str]):
    # what the fleets exercise: execution, chain, Pocket node, stakes, host, exporter, claims, RelayMiner
    assert {"fleetctl_health_status", "fleetctl_check_status", "fleetctl_execution_lag_blocks",
            "fleetctl_stake_margin_upokt", "fleetctl_exporter_last_sweep_timestamp_seconds"} <= emitted
    for family in ("fleetctl_claims_", "fleetctl_stakes_", "fleetctl_relayminer_"):
        assert any(n.startswith(family) for n in emitted), (family, sorted(emitted))


def unserved(exprs: list[tuple[str, str]], emitted: set[str]) -> dict[str, list[str]]:
    """Where each expression names a metric fleetctl does not serve: {where: [names]}."""
    unknown = {}
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        missing = names - emitted
        if missing:
            unknown[where] = sorted(missing)
    return unknown


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_query_uses_only_served_metrics(emitted: set[str], source: str):
    exprs = rules_exprs() if source == "rules" else dashboard_exprs()
    assert len(exprs) >= 10, exprs
    unknown = unserved(exprs, emitted)
    assert not unknown, f"metrics fleetctl does not serve: {unknown}\nserved: {sorted(emitted)}"


def test_a_rule_naming_a_metric_fleetctl_does_not_serve_fails(emitted: set[str], tmp_path):
    """The check bites: the rules file with one name changed (a claims metric misspelt, as a kit
    written from the contract rather than the code could be) is reported, by rule."""
    text = RULES.read_text()
    assert text.count("fleetctl_claims_proofs_at_risk") >= 1
    bad = tmp_path / "rules.yml"
    bad.write_text(text.replace("fleetctl_claims_proofs_at_risk", "fleetctl_claims_proof_at_risk"))
    unknown = unserved(rules_exprs(bad), emitted)
    assert unknown and all(v == ["fleetctl_claims_proof_at_risk"] for v in unknown.values()), unknown
