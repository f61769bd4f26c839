"""Hostile consensus clients: every Beacon API parser of fleetctl.health under hypothesis, and
servers on 127.0.0.1 that answer what no beacon node should (huge numbers, wrong types, nested
JSON, a slow drip, a body too large), driven through the real `fleetctl health` CLI.

What a value may be comes from the ethereum/beacon-APIs spec (types/primitive.yaml: Uint64 is a
decimal string, Root is 0x + 64 hex; apis/node/syncing.yaml: booleans are JSON booleans).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from fleetctl.health import consensus as cl
from fleetctl.health.sweep import _container_from_cache
from fleetctl.health.values import (
    MAX_EPOCH,
    MAX_SLOT,
    BadValue,
    beacon_root,
    beacon_uint64,
    json_bool,
    version_text,
)
from fleetctl.core.levels import Level

HOST = "127.0.0.1"
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                         max_size=4), max_leaves=20)


# ----------------------------------------------------------------------------- parsers


@given(st.integers(min_value=0, max_value=MAX_SLOT))
def test_uint64_takes_every_decimal_string_in_range(n: int):
    assert beacon_uint64(str(n), "f") == n


@given(json_values | st.text(alphabet="0123456789 +-_x.eE\u0661\uff11", max_size=40))
def test_uint64_takes_nothing_else(value: Any):
    canonical = isinstance(value, str) and value.isascii() and value.isdigit() and (value == "0" or value[0] != "0") \
        and len(value) < 30 and int(value) <= MAX_SLOT
    try:
        assert beacon_uint64(value, "data.head_slot") == int(value)
        assert canonical, value
    except BadValue as exc:
        assert not canonical
        assert str(exc).startswith("data.head_slot: ") and "\n" not in str(exc) and len(str(exc)) < 120


@pytest.mark.parametrize("value", [1000, 1000.0, True, None, "1e3", "01000", "+1000", " 1000", "1_000", "١٠٠٠",
                                   "9" * 5000, str(MAX_SLOT + 1), "-1", "0x3e8"])
def test_uint64_examples_refused(value: Any):
    with pytest.raises(BadValue):
        beacon_uint64(value, "f")


@given(json_values)
def test_bool_is_a_json_bool_only(value: Any):
    try:
        assert json_bool(value, "f") is value
    except BadValue:
        assert not isinstance(value, bool)


@given(st.text(alphabet="0123456789abcdefABCDEFxg ", min_size=0, max_size=70) | json_values)
def test_root_is_exactly_0x_and_64_hex(value: Any):
    ok = isinstance(value, str) and len(value) == 66 and value[:2] == "0x" and all(
        c in "0123456789abcdefABCDEF" for c in value[2:])
    try:
        assert beacon_root(value, "f") == value.lower()
        assert ok
    except BadValue:
        assert not ok


@given(st.text(max_size=400) | json_values)
def test_version_is_short_and_printable(value: Any):
    try:
        text = version_text(value, "f")
    except BadValue as exc:
        assert "\x1b" not in str(exc) and "\n" not in str(exc)
        return
    assert 0 < len(text) <= 200 and all(" " <= ch <= "~" for ch in text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from(["syncing", "head", "finality", "peers", "version"]))
def test_every_reader_raises_badvalue_or_returns_a_valid_value(data: Any, key: str):
    body = {"data": data if isinstance(data, dict) else {"x": data}}
    reader = {"syncing": cl.read_syncing, "head": cl.read_header, "finality": cl.read_finality,
              "peers": cl.read_peer_count, "version": cl.read_version}[key]
    try:
        reader(body)
    except BadValue as exc:
        assert cl.PATHS[key] in str(exc) or "/eth/v1/" in str(exc)


@settings(max_examples=300)
@given(st.fixed_dictionaries({}, optional={
    "head_slot": json_values | st.integers(0, 2**70).map(str), "sync_distance": json_values,
    "is_syncing": json_values, "is_optimistic": json_values, "el_offline": json_values}))
def test_syncing_answers_of_any_shape(data: dict[str, Any]):
    try:
        s = cl.read_syncing({"data": data})
    except BadValue:
        return
    assert isinstance(s["is_syncing"], bool) and 0 <= s["head_slot"] <= MAX_SLOT
    assert s["is_optimistic"] is data.get("is_optimistic") and s["el_offline"] is data.get("el_offline")


@settings(max_examples=200)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_a_body_of_anything_is_read_without_a_crash(raw: bytes):
    probe = cl.BeaconProbe(cl.BeaconTarget("b", "eth", "http://x", "lighthouse"), health_status=200)
    cl.read_answers(probe, {k: (200, raw, 0.01) for k in ("syncing", "head", "finality", "peers", "version")})
    assert probe.invalid or probe.failed or probe.head_slot is not None


def test_nested_and_huge_bodies_are_invalid_not_a_crash():
    probe = cl.BeaconProbe(cl.BeaconTarget("b", "eth", "http://x", "lighthouse"), health_status=200)
    cl.read_answers(probe, {"syncing": (200, b"[" * 60_000, 0.0), "head": (200, b" " * (cl.MAX_ANSWER_BYTES + 1), 0.0),
                            "finality": (200, b'{"data": []}', 0.0), "peers": (200, b"\xff\xfe", 0.0),
                            "version": (200, json.dumps({"data": {"version": "Lighthouse/\x1b[31mv1"}}).encode(), 0.0)})
    assert len(probe.invalid) == 5, probe.invalid
    assert all("\x1b" not in i for i in probe.invalid)


@given(st.text(max_size=80))
def test_version_parsing_never_crashes(text: str):
    client, version = cl.parse_beacon_version(text)
    assert client is None or client in cl.VERSION_PREFIXES.values()


@pytest.mark.parametrize("text,client,version", [
    ("Lighthouse/v5.3.0-d6ba8c3/x86_64-linux", "lighthouse", "5.3.0"),
    ("Prysm/v5.1.0/2d1e1f2 (linux amd64)", "prysm", "5.1.0"),
    ("teku/v24.8.0/linux-x86_64/-eclipseadoptium-openjdk64bitservervm-java-21", "teku", "24.8.0"),
    ("Nimbus/v24.8.0-1d9e9a-stateofus", "nimbus", "24.8.0"),
    ("Lodestar/v1.22.0/linux-x64/nodejs", "lodestar", "1.22.0"),
    ("Caplin/v3.0.0/linux-amd64", "caplin", "3.0.0"),
    ("erigon/3.0.0/linux-amd64/go1.22", "caplin", "3.0.0"),
    ("Grandine/1.0.0-abc/x86_64-linux", "grandine", "1.0.0"),
    ("Geth/v1.14.8", None, "1.14.8"),
])
def test_each_client_is_known_by_its_prefix(text: str, client: str | None, version: str):
    assert cl.parse_beacon_version(text) == (client, version)


# ----------------------------------------------------------------------------- judging


probe_strategy = st.builds(
    lambda name, head, epoch, root, syncing, optimistic, offline, peers, version, invalid: cl.BeaconProbe(
        cl.BeaconTarget(name, "eth", "http://x", "lighthouse", pair=f"el-{name}"), health_status=200,
        head_slot=head, finalized_epoch=epoch, finalized_root=root, is_syncing=syncing, is_optimistic=optimistic,
        el_offline=offline, peers=peers, version=version, invalid=invalid),
    st.text(alphabet="abc", min_size=1, max_size=3), st.integers(0, MAX_SLOT) | st.none(),
    st.integers(0, MAX_EPOCH) | st.none(), st.sampled_from(["0x" + c * 64 for c in "0abc"]) | st.none(),
    st.booleans() | st.none(), st.booleans() | st.none(), st.booleans() | st.none(), st.integers(0, 100) | st.none(),
    st.sampled_from([None, "Lighthouse/v1.0.0", "teku/v2.0.0", "x"]), st.lists(st.just("bad"), max_size=1))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(probe_strategy, max_size=7, unique_by=lambda p: p.target.name))
def test_judging_any_probes_never_crashes_and_marks_only_critical_pairs(probes: list[cl.BeaconProbe]):
    verdicts, chain = cl.judge_chain("eth", probes, slot_lag_warning=2, slot_lag_critical=32, min_peers=1, slow_s=1)
    assert len(verdicts) == len(probes)
    for v, p in zip(verdicts, probes):
        if p.invalid:
            assert v.level in (Level.UNKNOWN, Level.CRITICAL), v
        if p.is_optimistic and not p.invalid:
            assert v.level is Level.CRITICAL
    marks = cl.pair_marks(verdicts)
    for v in verdicts:
        if v.target.pair in marks:
            assert v.level is Level.CRITICAL
    # an invalid target never sets the reference slot
    ref, _ = cl.reference_slot(probes)
    if ref is not None:
        assert any(p.head_slot == ref and not p.invalid for p in probes)


def test_a_head_far_ahead_does_not_move_the_reference():
    probes = [cl.BeaconProbe(cl.BeaconTarget(n, "eth", "http://x", "teku"), health_status=200, head_slot=s,
                             is_syncing=False) for n, s in (("a", 1000), ("b", 1000), ("c", 9_000_000_000))]
    verdicts, chain = cl.judge_chain("eth", probes, slot_lag_warning=2, slot_lag_critical=32, min_peers=0, slow_s=9)
    assert chain.reference_slot == 1000
    assert [v.level for v in verdicts] == [Level.OK, Level.OK, Level.UNKNOWN]


def test_a_cache_from_before_pairs_is_still_read():
    old = {"name": "n", "role": "node", "chain": "eth", "client": "geth", "slot": 0, "running": True,
           "status": "Up", "image": "i", "mounts": []}
    assert _container_from_cache(old) is not None
    assert _container_from_cache({**old, "pair": 5}) is None
    assert _container_from_cache({**old, "consensus": ["x"]}) is None


# ----------------------------------------------------------------------------- hostile servers


GOOD = {
    "/eth/v1/node/syncing": {"data": {"head_slot": "1000", "sync_distance": "0", "is_syncing": False,
                                      "is_optimistic": False, "el_offline": False}},
    "/eth/v1/beacon/headers/head": {"execution_optimistic": False, "finalized": False, "data": {
        "root": "0x" + "ab" * 32, "canonical": True, "header": {"message": {"slot": "1000"}, "signature": "0x"}}},
    "/eth/v1/beacon/states/head/finality_checkpoints": {"execution_optimistic": False, "finalized": False, "data": {
        "finalized": {"epoch": "29", "root": "0x" + "cd" * 32}}},
    "/eth/v1/node/peer_count": {"data": {"connected": "50"}},
    "/eth/v1/node/version": {"data": {"version": "Lighthouse/v5.3.0"}},
}


def hostile_server(answers: dict[str, Any], drip: float = 0.0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            body = answers.get(path, GOOD.get(path))
            if path == "/eth/v1/node/health":
                data = b""
            elif isinstance(body, bytes):
                data = body
            else:
                data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) if not drip else 10_000))
            self.end_headers()
            if drip:
                try:
                    for _ in range(10_000):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(drip)
                except OSError:
                    return
            self.wfile.write(data)

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def inventory(root: Path, urls: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["protocol: shannon", "pocket: {rest_url: 'http://127.0.0.1:9'}", "chains:", "  eth:",
             "    clients: [geth, nethermind]", "    replicas: 2", "    max_client_share: 0.5", "    endpoints:"]
    lines += [f"      - {{name: {n}, url: '{u}', client: lighthouse}}" for n, u in urls.items()]
    lines.append("health: {timeout: 1, slow: 0.9}")
    (root / "fleet.yml").write_text("\n".join(lines) + "\n")
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h:\n      ansible_host: 127.0.0.1\n"
                                    "      ansible_connection: local\n")
    return root


HOSTILE = [
    ("huge slot", {"/eth/v1/node/syncing": {"data": {**GOOD["/eth/v1/node/syncing"]["data"], "head_slot": "9" * 5000}}},
     "data.head_slot: implausible value (5000 digits)"),
    ("number not string", {"/eth/v1/node/peer_count": {"data": {"connected": 50}}},
     "data.connected: not a decimal string (50)"),
    ("bool as string", {"/eth/v1/node/syncing": {"data": {**GOOD["/eth/v1/node/syncing"]["data"],
                                                           "is_optimistic": "false"}}},
     "data.is_optimistic: not a JSON boolean"),
    ("short root", {"/eth/v1/beacon/states/head/finality_checkpoints": {"data": {"finalized": {
        "epoch": "29", "root": "0xabc"}}}}, "data.finalized.root: not a 32-byte root"),
    ("nested", {"/eth/v1/beacon/headers/head": b"[" * 50_000}, "/eth/v1/beacon/headers/head: not JSON"),
    ("escape in version", {"/eth/v1/node/version": {"data": {"version": "Lighthouse/v5\x1b]0;owned\x07"}}},
     "data.version: not a printable version string"),
    ("data not an object", {"/eth/v1/node/version": {"data": "Lighthouse/v5"}},
     "/eth/v1/node/version: not an object with a data object"),
]


@pytest.mark.parametrize("what,answers,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_answer_is_unknown_with_the_field_named(tmp_path: Path, what, answers, words):
    good, bad = hostile_server({}), hostile_server(answers)
    try:
        inv = inventory(tmp_path / "inv", {"cl-good": f"http://{HOST}:{good.server_address[1]}",
                                           "cl-bad": f"http://{HOST}:{bad.server_address[1]}"})
        proc = run_cli("-i", str(inv), "health", "--db", str(tmp_path / "db" / "f.db"), "--no-record", "-o", "json",
                       timeout=60)
    finally:
        good.shutdown(), bad.shutdown()
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    cons = {c["target"]: c for c in doc["checks"] if c["kind"] == "consensus"}
    assert cons["cl-bad"]["status"] == "UNKNOWN", cons["cl-bad"]
    assert words in cons["cl-bad"]["message"], cons["cl-bad"]["message"]
    assert "\x1b" not in proc.stdout
    assert cons["cl-good"]["status"] == "OK", cons["cl-good"]
    # a consensus endpoint is never asked JSON-RPC questions (it is not an execution endpoint)
    assert not [c for c in doc["checks"] if c["kind"] == "execution"]


def test_a_slow_drip_costs_one_timeout(tmp_path: Path):
    drip = hostile_server({}, drip=0.05)
    try:
        inv = inventory(tmp_path / "inv", {"cl-drip": f"http://{HOST}:{drip.server_address[1]}"})
        started = time.monotonic()
        proc = run_cli("-i", str(inv), "health", "--db", str(tmp_path / "db" / "f.db"), "--no-record", "-o", "json",
                       timeout=60)
        elapsed = time.monotonic() - started
    finally:
        drip.shutdown()
    doc = json.loads(proc.stdout)
    cons = {c["target"]: c for c in doc["checks"] if c["kind"] == "consensus"}
    assert cons["cl-drip"]["status"] == "CRITICAL" and "no answer within 1 s" in cons["cl-drip"]["message"]
    assert elapsed < 4.0 + 3.0, elapsed  # 3 T + 1 s bound, plus the CLI's start


def test_a_refused_consensus_client_is_critical(tmp_path: Path):
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    inv = inventory(tmp_path / "inv", {"cl-gone": f"http://{HOST}:{port}"})
    proc = run_cli("-i", str(inv), "health", "--db", str(tmp_path / "db" / "f.db"), "--no-record", "--nagios",
                   timeout=60)
    assert proc.returncode == 2, proc.stdout
    assert "none of 1 consensus clients answered" in proc.stdout and "consensus_crit=1" in proc.stdout


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "beacon" / "lodestar"


@pytest.mark.skipif(not (FIXTURES / "node_syncing.json").exists(), reason="no real-client fixtures")
def test_a_real_lodestar_answer_is_read():
    """Real answers of Lodestar v1.5.1 (tests/fixtures/beacon/lodestar): read, not refused; its
    syncing answer has no el_offline (older than the field): unknown, with a note."""
    files = {"syncing": "node_syncing.json", "head": "beacon_headers_head.json",
             "finality": "beacon_states_head_finality_checkpoints.json", "peers": "node_peer_count.json",
             "version": "node_version.json"}
    probe = cl.BeaconProbe(cl.BeaconTarget("lodestar", "eth", "http://x", "lodestar"), health_status=200)
    cl.read_answers(probe, {k: (200, (FIXTURES / f).read_bytes(), 0.01) for k, f in files.items()})
    assert probe.invalid == [] and probe.failed == []
    assert probe.head_slot == 56 and probe.finalized_epoch == 5 and probe.peers == 0
    assert probe.el_offline is None and any("el_offline unknown" in n for n in probe.notes)
    assert cl.parse_beacon_version(probe.version) == ("lodestar", "1.5.1")
    raw404 = (FIXTURES / "extra_beacon_headers_unknown_404.json").read_bytes()
    check, note = cl.read_finality_check(404, raw404, 5, "0x" + "ab" * 32)
    assert check is None and "unknown to it" in (note or "")
