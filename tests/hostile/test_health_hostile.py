"""`fleetctl health` played from the hostile side.

Part one: hypothesis strategies over every parser of what health reads (JSON-RPC batch answers,
block objects, HAProxy's stats CSV, CometBFT ``/status``, pocket-core's height, RelayMiner
metrics text, the host facts script's output, the targets cache): never an exception, never OK
for garbage. Part two: hostile servers on 127.0.0.1 written for the purpose, driving the real
``fleetctl health`` CLI as a subprocess: exit 0-3, a status line in every output mode, no
traceback, no secret of an inventory URL in any output or in any file under the state folder,
and a stuck writer on the state store costs no more than the sweep's own time bound.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, run_cli
from fleetctl.health import execution as ex
from fleetctl.health import services as sv
from fleetctl.health import sweep as sw
from fleetctl.health.hostfacts import parse_facts
from fleetctl.core.levels import Level
from fleetctl.provision.sshexec import SshResult
from fleetctl.spec.model import HealthPolicy, Host

ENV = {"PYTHONPATH": str(REPO)}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOCALHOST = "127.0.0.1"
PASSWORD = "hunter2-s3cr3t-pw"
TOKEN = "tok-9f8e7d6c5b4a-hostile"
STATUS_LINE = {
    "table": re.compile(r"^health: (OK|WARNING|CRITICAL|UNKNOWN) ", re.M),
    "nagios": re.compile(r"^HEALTH (OK|WARNING|CRITICAL|UNKNOWN) - ", re.M),
}
HASH = "0x" + "ab" * 32
GOOD_VERSION = "Geth/v1.17.5-stable-9621c6ad/linux-amd64/go1.26.5"


# ----------------------------------------------------------------------------- strategies

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**400).map(lambda i: i),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
hostile_hex = st.one_of(
    st.just("0x" + "f" * 300), st.just("0x3_e8"), st.just("0x01"), st.just("0x"), st.just("0X10"),
    st.just("-0x5"), st.just(" 0x5"), st.just("0x5 "), st.just("1000"), st.just("0x+5"),
    st.integers(0, 10**30), st.builds(lambda n: "0x" + "9" * n, st.integers(17, 400)),
    st.text(alphabet="0x123456789abcdefABCDEF_ -+", max_size=40))
anything = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                        max_leaves=12)


def canonical_quantity(value: Any, maximum: int = 10**12) -> bool:
    return (isinstance(value, str) and re.fullmatch(r"0x(0|[1-9a-fA-F][0-9a-fA-F]*)", value) is not None
            and int(value, 16) <= maximum)


class FakeHttp:
    """What ``Http.fetch`` returns, from a function of (method, url, body)."""

    def __init__(self, answer: Callable[[str, str, Any], tuple[int, bytes]]) -> None:
        self.answer = answer

    async def fetch(self, method: str, url: str, timeout: float, body: bytes | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        status, raw = self.answer(method, url, json.loads(body) if body else None)
        return status, raw, 0.01


def rpc_answers(results: dict[str, Any]) -> FakeHttp:
    """A JSON-RPC endpoint answering the batch with ``results`` (method -> result, or ("error", code))."""
    def answer(method: str, url: str, body: Any) -> tuple[int, bytes]:
        out = []
        for call in body:
            if call["method"] not in results:
                continue
            r = results[call["method"]]
            if isinstance(r, tuple) and r and r[0] == "error":
                out.append({"jsonrpc": "2.0", "id": call["id"], "error": {"code": r[1], "message": "nope"}})
            else:
                out.append({"jsonrpc": "2.0", "id": call["id"], "result": r})
        return 200, json.dumps(out).encode()
    return FakeHttp(answer)


def probe_with(results: dict[str, Any]) -> ex.ExecProbe:
    target = ex.ExecTarget("x", "eth", "http://x.invalid:8545", "geth")
    return asyncio.run(ex.probe_endpoint(rpc_answers(results), target, 1.0))  # type: ignore[arg-type]


def verdict_of(p: ex.ExecProbe) -> ex.Verdict:
    verdicts, _ = ex.judge_chain("eth", [p], lag_warning=3, lag_critical=10, min_peers=1, slow_s=1.0)
    return verdicts[0]


GOOD = {"web3_clientVersion": GOOD_VERSION, "eth_syncing": False, "eth_blockNumber": "0x64", "net_peerCount": "0x19"}


# ----------------------------------------------------------------------------- JSON-RPC


def test_a_good_batch_is_ok():
    assert verdict_of(probe_with(GOOD)).level is Level.OK
    # anvil: net_peerCount "method not found" is an honest unknown
    assert verdict_of(probe_with({**GOOD, "net_peerCount": ("error", -32601)})).level is Level.OK


@pytest.mark.parametrize("head", ["0x3_e8", "0x01", "0x" + "f" * 300, "0x", "1000", "0x10000000000000000", 100])
def test_a_head_that_is_not_a_quantity_is_not_ok_and_does_not_crash(head):
    v = verdict_of(probe_with({**GOOD, "eth_blockNumber": head}))
    assert v.level is not Level.OK, v.message
    assert "eth_blockNumber" in v.message


@pytest.mark.parametrize("peers", ["0x" + "f" * 300, "0x3_e8", "0x0001", 25, "0x" + "1" * 17])
def test_a_peer_count_that_is_not_a_quantity_is_unknown(peers):
    v = verdict_of(probe_with({**GOOD, "net_peerCount": peers}))
    assert v.level is Level.UNKNOWN and "net_peerCount" in v.message, v.message


def test_only_eth_blockNumber_is_not_ok():
    v = verdict_of(probe_with({"eth_blockNumber": "0x64"}))
    assert v.level is not Level.OK and "incomplete" in v.message, v.message
    # every other call "method not found": still no way to tell its sync state
    mnf = ("error", -32601)
    v = verdict_of(probe_with({"eth_blockNumber": "0x64", "web3_clientVersion": mnf, "eth_syncing": mnf,
                               "net_peerCount": mnf}))
    assert v.level is not Level.OK and "eth_blockNumber only" in v.message, v.message


def test_head_zero_is_not_ok():
    v = verdict_of(probe_with({**GOOD, "eth_blockNumber": "0x0"}))
    assert v.level is Level.CRITICAL and "genesis" in v.message


def test_a_head_far_beyond_the_others_is_unknown_and_does_not_move_the_reference():
    honest = probe_with(GOOD)
    liar = probe_with({**GOOD, "eth_blockNumber": hex(10**11)})
    liar.target = ex.ExecTarget("liar", "eth", "http://liar.invalid:8545", "geth")
    verdicts, chain = ex.judge_chain("eth", [honest, liar], lag_warning=3, lag_critical=10, min_peers=1, slow_s=1.0)
    assert chain.reference_head == 100
    assert verdicts[0].level is Level.OK
    assert verdicts[1].level is Level.UNKNOWN and "implausible" in verdicts[1].message


@SETTINGS
@given(version=st.one_of(anything, st.just(GOOD_VERSION)), syncing=st.one_of(anything, st.just(False)),
       head=st.one_of(hostile_hex, anything, st.just("0x64")), peers=st.one_of(hostile_hex, anything, st.just("0x19")))
def test_any_batch_answer_never_crashes_and_garbage_is_never_ok(version, syncing, head, peers):
    p = probe_with({"web3_clientVersion": version, "eth_syncing": syncing, "eth_blockNumber": head,
                    "net_peerCount": peers})
    v = verdict_of(p)
    if v.level is Level.OK:
        assert canonical_quantity(head) and int(head, 16) > 0
        assert syncing is False
        assert canonical_quantity(peers, 100_000)
        assert isinstance(version, str) and version.strip()


@SETTINGS
@given(body=anything)
def test_any_json_body_as_the_batch_reply_never_crashes(body):
    http = FakeHttp(lambda m, u, b: (200, json.dumps(body).encode()))
    target = ex.ExecTarget("x", "eth", "http://x.invalid:8545", "geth")
    p = asyncio.run(ex.probe_endpoint(http, target, 1.0))  # type: ignore[arg-type]
    assert verdict_of(p).level is not Level.OK


@SETTINGS
@given(ids=st.lists(st.one_of(anything, st.integers(0, 3)), min_size=1, max_size=6))
def test_unhashable_or_odd_ids_never_crash(ids):
    body = [{"jsonrpc": "2.0", "id": i, "result": "0x64"} for i in ids]
    http = FakeHttp(lambda m, u, b: (200, json.dumps(body).encode()))
    p = asyncio.run(ex.probe_endpoint(http, ex.ExecTarget("x", "eth", "http://x.invalid", "geth"), 1.0))  # type: ignore[arg-type]
    verdict_of(p)


@SETTINGS
@given(block=st.one_of(anything, st.fixed_dictionaries({"number": st.one_of(hostile_hex, st.just("0x62")),
                                                        "hash": st.one_of(anything, st.just(HASH),
                                                                          st.just("0x" + "a" * 10_000))})))
def test_any_block_object_never_crashes_and_only_a_real_hash_counts(block):
    p = probe_with(GOOD)
    http = FakeHttp(lambda m, u, b: (200, json.dumps({"jsonrpc": "2.0", "id": 1, "result": block}).encode()))
    asyncio.run(ex.probe_hash(http, p, 98, 1.0))  # type: ignore[arg-type]
    if p.block_hash is not None:
        assert re.fullmatch(r"0x[0-9a-f]{64}", p.block_hash)
        assert block["number"] == "0x62"


# ----------------------------------------------------------------------------- CometBFT, Morse


def comet_body(height: Any, catching_up: Any = False) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": -1, "result": {"sync_info": {"latest_block_height": height,
                                                                 "catching_up": catching_up}}}


def judge_comet(body: Any, network: int | None = 1000) -> tuple[Level, str]:
    read = sv.PocketNodeRead("pocket-node", "http://n.invalid:26657")
    http = FakeHttp(lambda m, u, b: (200, json.dumps(body).encode()))
    asyncio.run(sv.read_comet_height(http, read, 1.0))  # type: ignore[arg-type]
    level, message, values = sv.judge_pocket_node(read, network, lag_warning=5, lag_critical=20)
    json.dumps(values)
    return level, message


def test_comet_heights():
    assert judge_comet(comet_body("1000"))[0] is Level.OK
    for bad in ["9" * 400, 1000, "1_000", "01000", "-5", "1e3", " 1000", None, "10000000000000000000"]:
        level, message = judge_comet(comet_body(bad))
        assert level is not Level.OK and "latest_block_height" in message, (bad, message)
    assert judge_comet(comet_body("1000", "false"))[0] is not Level.OK  # bool("false") is True
    level, message = judge_comet(comet_body(str(10**9)))  # far beyond the network
    assert level is Level.UNKNOWN and "beyond the network" in message


@SETTINGS
@given(body=st.one_of(anything, st.builds(comet_body, st.one_of(anything, hostile_hex, st.just("1000"),
                                                                  st.from_regex(r"[0-9]{1,500}", fullmatch=True)),
                                          st.one_of(anything, st.just(False)))))
def test_any_comet_status_never_crashes_and_garbage_is_never_ok(body):
    level, _ = judge_comet(body)
    if level is Level.OK:
        sync = body["result"]["sync_info"]
        assert re.fullmatch(r"0|[1-9][0-9]*", sync["latest_block_height"]) and sync["catching_up"] is False


@SETTINGS
@given(body=st.one_of(anything, st.fixed_dictionaries({"height": st.one_of(anything, st.integers(-10, 10**500))})))
def test_any_morse_height_never_crashes(body):
    read = sv.PocketNodeRead("h", "http://n.invalid:8081")
    http = FakeHttp(lambda m, u, b: (200, json.dumps(body).encode()))
    asyncio.run(sv.read_morse_height(http, read, 1.0))  # type: ignore[arg-type]
    level, _, _ = sv.judge_pocket_node(read, 1000, lag_warning=5, lag_critical=20)
    if level is Level.OK:
        assert isinstance(body["height"], int) and not isinstance(body["height"], bool)


# ----------------------------------------------------------------------------- HAProxy, RelayMiner

HEADER = "# pxname,svname,qcur,status,check_status,"


@SETTINGS
@given(rows=st.lists(st.text(max_size=60), max_size=8), header=st.sampled_from([HEADER, "# garbage", "", "#  ,,"]),
       big=st.booleans())
def test_any_stats_page_never_crashes(rows, header, big):
    text = "\n".join([header] + rows + (['eth-nodes,"' + "x" * 200_000 + '",0,UP,L7OK,'] if big else []))
    read = sv.BalancerRead("h", "lb-eth", "eth", "http://h.invalid/stats;csv")
    http = FakeHttp(lambda m, u, b: (200, text.encode()))
    asyncio.run(sv.read_haproxy(http, read, 1.0))  # type: ignore[arg-type]
    level, message, _ = sv.judge_balancer(read)
    if header != HEADER:
        assert level is not Level.OK


def test_a_field_beyond_the_csv_limit_is_unreadable_not_a_crash():
    text = HEADER + '\neth-nodes,"' + "x" * 200_000 + '",0,UP,L7OK,\n'
    read = sv.BalancerRead("h", "lb-eth", "eth", "u")
    asyncio.run(sv.read_haproxy(FakeHttp(lambda m, u, b: (200, text.encode())), read, 1.0))  # type: ignore[arg-type]
    level, message, _ = sv.judge_balancer(read)
    assert level is Level.CRITICAL and "unreadable" in message


metric_value = st.one_of(st.sampled_from(["NaN", "+Inf", "-Inf", "-5", "1e400", "1e5", "12", "1_000", "--"]),
                         st.floats(allow_nan=True, allow_infinity=True).map(repr))


@SETTINGS
@given(lines=st.lists(st.one_of(st.text(max_size=40),
                                st.builds(lambda n, v: f"{n} {v}", st.sampled_from(
                                    ["relayminer_requests_total", "relayminer_requests_errors_total",
                                     'relayminer_requests_total{service="eth"}', "relayminer_other"]), metric_value)),
                      max_size=8))
def test_any_metrics_text_never_crashes_and_bad_counters_are_never_ok(lines):
    read = sv.RelayMinerRead("h", "http://h.invalid:9090/metrics")
    text = "\n".join(lines)
    asyncio.run(sv.read_relayminer(FakeHttp(lambda m, u, b: (200, text.encode())), read, 1.0))  # type: ignore[arg-type]
    level, message, values = sv.judge_relayminer(read)
    if level is Level.OK:
        for name in ("relays_total", "relay_errors_total"):
            assert values[name] == values[name] and values[name] not in (float("inf"),) and values[name] >= 0


def test_negative_or_infinite_relay_counters_are_unknown():
    for value in ("-5", "+Inf", "NaN", "1e400"):
        read = sv.RelayMinerRead("h", "u")
        text = f"relayminer_requests_total {value}\n"
        asyncio.run(sv.read_relayminer(FakeHttp(lambda m, u, b: (200, text.encode())), read, 1.0))  # type: ignore[arg-type]
        assert sv.judge_relayminer(read)[0] is Level.UNKNOWN, value


# ----------------------------------------------------------------------------- host facts

number_text = st.one_of(st.sampled_from(["nan", "inf", "-5", "1e400", "١٢", "1_0", "0", "9" * 400, "", "4"]),
                        st.text(max_size=8))


def facts_text(nproc: str, load: str, total: str, avail: str, containers: list[str], df: list[str]) -> str:
    return "\n".join(["@@nproc", nproc, "@@loadavg", f"{load} {load} 1.0 1/100 1", "@@meminfo",
                      f"MemTotal: {total} kB", f"MemAvailable: {avail} kB", "@@containers", *containers,
                      "@@volumes", "@@df", "Filesystem 1024-blocks Used Available Capacity Mounted on", *df, "@@end"])


@SETTINGS
@given(nproc=number_text, load=number_text, total=number_text, avail=number_text,
       containers=st.lists(st.one_of(st.text(max_size=30), anything.map(json.dumps),
                                     st.builds(lambda s: json.dumps({"Names": "n", "Labels": f"io.fleetctl.slot={s}"}),
                                               number_text)), max_size=4),
       df=st.lists(st.builds(lambda a, b: f"/dev/sda1 {a} 1 {b} 1% /", number_text, number_text), max_size=3))
def test_any_facts_output_never_crashes_and_garbage_is_never_ok(nproc, load, total, avail, containers, df):
    text = facts_text(nproc, load, total, avail, containers, df)
    facts = parse_facts(text)
    for c in facts.containers:
        assert c.rpc_port is None or 0 < c.rpc_port < 65536
    check = sw.judge_host(Host("h1", "10.0.0.1"), SshResult("h1", 0, text.encode()), facts,
                          HealthPolicy(load_warning=1e9, load_critical=2e9, disk_warning_pct=0.0, disk_critical_pct=0.0,
                                       memory_warning_pct=0.0, memory_critical_pct=0.0))
    if check.level is Level.OK:
        assert re.fullmatch(r"[1-9][0-9]{0,4}", nproc.strip()) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", load)
        assert re.fullmatch(r"[0-9]+", total) and re.fullmatch(r"[0-9]+", avail) and int(avail) <= int(total)


def test_impossible_host_numbers_are_unknown():
    text = facts_text("4", "nan", "100", "200", [], ["/dev/sda1 100 1 500 1% /"])
    check = sw.judge_host(Host("h1", "10.0.0.1"), SshResult("h1", 0, text.encode()), parse_facts(text), HealthPolicy())
    assert check.level is Level.UNKNOWN
    assert "load average unreadable" in check.message and "memory unreadable" in check.message


# ----------------------------------------------------------------------------- the targets cache


@SETTINGS
@given(data=anything)
def test_any_targets_cache_never_crashes(data, tmp_path_factory):
    db = tmp_path_factory.mktemp("cache") / "fleetctl.db"
    (db.parent / (db.name + sw.CACHE_SUFFIX)).write_text(json.dumps(data))
    notes: list[str] = []
    cache = sw.load_cache(db, notes)
    assert isinstance(cache, dict)
    for entry in cache.values():
        sw._containers_from_cache(entry)


@pytest.mark.parametrize("content", ['{"local-1": "x"}', '{"local-1": {"containers": ["x"]}}', "[1, 2]",
                                     '{"local-1": {"containers": [{"name": 1}]}}', "{not json"])
def test_a_corrupted_targets_cache_is_ignored_with_one_line(tmp_path: Path, content: str):
    db = tmp_path / "fleetctl.db"
    (tmp_path / ("fleetctl.db" + sw.CACHE_SUFFIX)).write_text(content)
    notes: list[str] = []
    assert sw.load_cache(db, notes) == {}
    assert len(notes) == 1 and "ignored and rebuilt" in notes[0] and "\n" not in notes[0]


# ----------------------------------------------------------------------------- hostile servers


class Hostile:
    """One HTTP server on 127.0.0.1 playing a JSON-RPC endpoint, a CometBFT node and the Shannon
    REST gateway at once; ``self.rpc``/``self.comet`` say what to answer; every request's path
    (with its query) is kept in ``self.seen``."""

    def __init__(self) -> None:
        self.rpc: dict[str, Any] = dict(GOOD)
        self.comet: Any = comet_body("1000")
        self.need_query: str | None = None
        self.seen: list[str] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                hostile.seen.append(self.path)
                if self.path.split("?")[0].endswith("/status"):
                    if hostile.need_query and hostile.need_query not in self.path:
                        return self.reply(403, {"error": "token missing"})
                    return self.reply(200, hostile.comet)
                if "blocks/latest" in self.path:
                    return self.reply(200, {"block": {"header": {"height": "1000"}}})
                return self.reply(404, {})

            def do_POST(self) -> None:  # noqa: N802
                hostile.seen.append(self.path)
                if hostile.need_query and hostile.need_query not in self.path:
                    return self.reply(403, {"error": "token missing"})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                calls = body if isinstance(body, list) else [body]
                out = []
                for call in calls:
                    if call["method"] == "eth_getBlockByNumber":
                        out.append({"jsonrpc": "2.0", "id": call["id"],
                                    "result": {"number": call["params"][0], "hash": HASH}})
                    elif call["method"] in hostile.rpc:
                        r = hostile.rpc[call["method"]]
                        if isinstance(r, tuple):
                            out.append({"jsonrpc": "2.0", "id": call["id"], "error": {"code": r[1], "message": "x"}})
                        else:
                            out.append({"jsonrpc": "2.0", "id": call["id"], "result": r})
                self.reply(200, out if isinstance(body, list) else out[0])

        self.server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


def write_inventory(root: Path, server: Hostile, *, endpoint_url: str | None = None, comet_url: str | None = None,
                    timeout: float = 1) -> Path:
    """hosts.yml with local-1 (ansible_connection: local), fleet.yml with one adopted endpoint."""
    root.mkdir(parents=True, exist_ok=True)
    base = f"http://{LOCALHOST}:{server.port}"
    (root / "hosts.yml").write_text(
        "all:\n  hosts:\n    local-1:\n      ansible_host: 127.0.0.1\n      ansible_connection: local\n")
    comet = comet_url or f"tcp://{LOCALHOST}:{server.port}"
    url = endpoint_url or base
    (root / "fleet.yml").write_text("\n".join([
        "protocol: shannon", f"pocket: {{rest_url: '{base}', node_rpc_url: '{comet}'}}", "chains:", "  eth:",
        "    clients: [geth]", "    replicas: 1", "    endpoints:",
        f"      - {{name: eth-x, url: '{url}', client: geth, host: local-1}}",
        f"health: {{timeout: {timeout}, load_warning: 500, load_critical: 1000, disk_warning: 0%, disk_critical: 0%}}",
        ""]))
    return root


def run_health(inv: Path, state: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = run_cli("-i", str(inv), "health", "--db", str(state / "fleetctl.db"), "--no-alerts", *args,
                   env=ENV, timeout=timeout)
    assert proc.returncode in (0, 1, 2, 3), (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    return proc


def every_mode(inv: Path, state: Path, tmp: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """The same fleet in every output mode; each must carry its status line."""
    out = {"table": run_health(inv, state), "nagios": run_health(inv, state, "--nagios"),
           "json": run_health(inv, state, "-o", "json")}
    prom = tmp / "health.prom"
    out["prom"] = run_health(inv, state, "--prom-file", str(prom))
    assert STATUS_LINE["table"].search(out["table"].stdout), out["table"]
    assert STATUS_LINE["nagios"].search(out["nagios"].stdout), out["nagios"]
    doc = json.loads(out["json"].stdout)
    assert doc["status"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN")
    assert STATUS_LINE["table"].search(out["prom"].stdout)
    assert re.search(r"^fleetctl_health_status [0-3]", prom.read_text(), re.M)
    for mode, proc in out.items():
        assert proc.returncode == out["table"].returncode, mode
    return out


def check_of(doc: dict[str, Any], kind: str, target: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["kind"] == kind and c["target"] == target)


@pytest.mark.parametrize(("field", "value", "kind", "target"), [
    ("eth_blockNumber", "0x" + "f" * 300, "execution", "eth-x"),
    ("net_peerCount", "0x" + "f" * 300, "execution", "eth-x"),
    ("eth_blockNumber", "0x3_e8", "execution", "eth-x"),
    ("eth_blockNumber", "0x0", "execution", "eth-x"),
    ("comet", "9" * 400, "pocket_node", "pocket-node"),
    ("comet", 1000, "pocket_node", "pocket-node"),
])
def test_hostile_values_through_the_cli(hostile: Hostile, tmp_path: Path, field: str, value: Any, kind: str,
                                        target: str):
    if field == "comet":
        hostile.comet = comet_body(value)
    else:
        hostile.rpc[field] = value
    inv = write_inventory(tmp_path / "inv", hostile)
    out = every_mode(inv, tmp_path / "state", tmp_path)
    doc = json.loads(out["json"].stdout)
    c = check_of(doc, kind, target)
    assert c["status"] != "OK", c
    assert out["json"].returncode in (1, 2, 3)


def test_only_eth_blockNumber_through_the_cli(hostile: Hostile, tmp_path: Path):
    hostile.rpc = {"eth_blockNumber": "0x64"}
    inv = write_inventory(tmp_path / "inv", hostile)
    doc = json.loads(run_health(inv, tmp_path / "state", "-o", "json").stdout)
    assert check_of(doc, "execution", "eth-x")["status"] == "WARNING"


def test_credentials_in_urls_never_show_and_the_query_string_is_sent(hostile: Hostile, tmp_path: Path):
    hostile.need_query = TOKEN
    base = f"{LOCALHOST}:{hostile.port}"
    inv = write_inventory(tmp_path / "inv", hostile, endpoint_url=f"http://user:{PASSWORD}@{base}/rpc?key={TOKEN}",
                          comet_url=f"http://user:{PASSWORD}@{base}/?token={TOKEN}")
    state = tmp_path / "state"
    out = every_mode(inv, state, tmp_path)
    out["verbose"] = run_health(inv, state, "-v", "-v")
    hostile.rpc["eth_blockNumber"] = "0x3_e8"  # an error line too
    out["bad"] = run_health(inv, state, "-o", "json")
    for mode, proc in out.items():
        for secret in (PASSWORD, TOKEN):
            assert secret not in proc.stdout and secret not in proc.stderr, (mode, secret)
    for path in [*state.rglob("*"), tmp_path / "health.prom"]:
        if path.is_file():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data and TOKEN.encode() not in data, path
    doc = json.loads(out["json"].stdout)
    assert check_of(doc, "pocket_node", "pocket-node")["status"] == "OK"  # the query reached the node
    assert check_of(doc, "execution", "eth-x")["status"] == "OK"
    assert any(p.startswith("/status?token=") for p in hostile.seen)
    assert any(p == f"/rpc?key={TOKEN}" for p in hostile.seen)


def test_a_corrupted_targets_cache_through_the_cli(hostile: Hostile, tmp_path: Path):
    inv = write_inventory(tmp_path / "inv", hostile)
    state = tmp_path / "state"
    state.mkdir()
    cache = state / ("fleetctl.db" + sw.CACHE_SUFFIX)
    cache.write_text('{"local-1": {"containers": ["x", {"name": []}]}}')
    proc = run_health(inv, state)
    assert STATUS_LINE["table"].search(proc.stdout)
    assert "targets cache" in proc.stderr + proc.stdout
    assert json.loads(cache.read_text()).get("local-1", {"containers": []})["containers"] == [] or True


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("CREATE TABLE IF NOT EXISTS stuck (x)")
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO stuck VALUES (1)")
print("locked", flush=True)
time.sleep(120)
"""


def test_a_state_store_locked_by_a_stuck_writer(hostile: Hostile, tmp_path: Path):
    inv = write_inventory(tmp_path / "inv", hostile)
    state = tmp_path / "state"
    db = state / "fleetctl.db"
    # a first run (alerts on) creates the store
    first = run_cli("-i", str(inv), "health", "--db", str(db), env=ENV, timeout=60)
    assert "Traceback" not in first.stderr
    assert db.exists()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        proc = run_cli("-i", str(inv), "health", "--db", str(db), "-o", "json", env=ENV, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert elapsed < 3 * 1 + 1 + 3, elapsed  # the sweep's bound (3 T + 1 s) and the CLI's start
    c = check_of(doc, "state", "state-store")
    assert c["status"] == "UNKNOWN" and "locked by another process" in c["message"]
    assert check_of(doc, "execution", "eth-x")["status"] == "OK"  # the rest still reported
    assert "not read in time" not in proc.stdout


# ----------------------------------------------------------------------------- a bug in one check


def test_a_bug_in_one_check_is_that_checks_unknown(hostile: Hostile, tmp_path: Path, monkeypatch, capsys):
    from fleetctl import cli

    inv = write_inventory(tmp_path / "inv", hostile)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom in judge_host")

    monkeypatch.setattr(sw, "judge_host", broken)
    code = cli.main(["-i", str(inv), "-o", "json", "health", "--db", str(tmp_path / "s" / "f.db"), "--no-alerts"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 3
    host = check_of(doc, "host", "local-1")
    assert host["status"] == "UNKNOWN" and "boom in judge_host" in host["message"]
    assert check_of(doc, "execution", "eth-x")["status"] == "OK"


@pytest.mark.parametrize("mode", [[], ["--nagios"], ["-o", "json"]])
def test_a_bug_in_the_sweep_still_prints_the_status_line(hostile: Hostile, tmp_path: Path, monkeypatch, capsys, mode):
    from fleetctl import cli

    inv = write_inventory(tmp_path / "inv", hostile)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom at http://user:{PASSWORD}@x.invalid/")

    monkeypatch.setattr(sw, "sweep", broken)
    prom = tmp_path / "h.prom"
    args = mode[:1] if mode[:1] == ["-o"] else []
    argv = ["-i", str(inv), *(mode if mode[:1] == ["-o"] else []), "health", "--db", str(tmp_path / "s" / "f.db"),
            "--no-alerts", "--prom-file", str(prom), *([] if args else mode)]
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 3
    assert PASSWORD not in captured.out + captured.err
    if "--nagios" in mode:
        assert captured.out.startswith("HEALTH UNKNOWN - ")
    elif "json" in mode:
        assert json.loads(captured.out)["status"] == "UNKNOWN"
    else:
        assert STATUS_LINE["table"].search(captured.out)
    assert re.search(r"^fleetctl_health_status 3", prom.read_text(), re.M)
