"""Integration tests of the lab's consensus-client front (lab/fleetlab/image-files/beacon_front.py).

No lab: anvil, an execution front (front.py) with its Engine API, and beacon fronts, all on
127.0.0.1, the fronts under the system ``/usr/bin/python3 -I -S`` (standard library only). Every
answer is validated against the response schema of the ethereum/beacon-APIs spec file the front
keeps beside it (lab/fleetlab/image-files/beacon-APIs, v4.0.0), $refs resolved across its files.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import selectors
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import lab_image
from test_front import LOCALHOST, SYSTEM_PYTHON, Anvil, anvil, free_port_pair, head_of  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
LAB = lab_image("beacon_front.py").parent  # fleetlab/image-files/
BEACON = LAB / "beacon_front.py"
FRONT = LAB / "front.py"
SPEC = LAB / "beacon-APIs"
READY = re.compile(r"^ready client=(\w+) api=(http://\S+) control=(http://\S+)$")


# --- the spec ---------------------------------------------------------------------------------


@functools.cache
def _doc(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _resolve(node: Any, base: Path, depth: int = 0) -> Any:
    """``node`` with every $ref (file-relative, with a JSON pointer) replaced by its target."""
    assert depth < 64, "reference cycle"
    if isinstance(node, dict):
        if "$ref" in node:
            file, _, pointer = node["$ref"].partition("#")
            target_file = (base.parent / file).resolve() if file else base
            target = _doc(target_file)
            for part in [p for p in pointer.split("/") if p]:
                target = target[part]
            return _resolve(target, target_file, depth + 1)
        return {k: _resolve(v, base, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, base, depth + 1) for v in node]
    return node


def spec_schema(api_file: str, status: int = 200) -> dict[str, Any]:
    path = SPEC / api_file
    response = _resolve(_doc(path)["get"]["responses"][str(status)], path)
    return response["content"]["application/json"]["schema"]


def assert_matches(body: Any, api_file: str, status: int = 200) -> None:
    jsonschema.Draft202012Validator(spec_schema(api_file, status)).validate(body)


def spec_statuses(api_file: str) -> set[int]:
    return {int(s) for s in _doc(SPEC / api_file)["get"]["responses"]}


# --- processes --------------------------------------------------------------------------------


@dataclass
class Proc:
    proc: subprocess.Popen[str]
    api: str
    control: str
    stderr: Path
    lines: list[str]


def _spawn(script: Path, args: list[str], stderr: Path, pattern: re.Pattern[str], env: dict[str, str] | None = None,
           extra_lines: int = 0) -> Proc:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FRONT_", "BEACON_"))}
    with stderr.open("w") as err:
        proc = subprocess.Popen([str(SYSTEM_PYTHON), "-I", "-S", str(script), *args], stdout=subprocess.PIPE,
                                stderr=err, text=True, env={**clean, **(env or {})})
    assert proc.stdout is not None
    lines = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=10):
            proc.kill()
            pytest.fail(f"{script.name} never became ready: {stderr.read_text()}")
        for _ in range(1 + extra_lines):  # printed together once ready
            lines.append(proc.stdout.readline().strip())
    m = pattern.match(lines[0])
    if m is None:
        proc.kill()
        pytest.fail(f"unexpected first line {lines[0]!r}: {stderr.read_text()}")
    return Proc(proc, m.group(m.lastindex - 1), m.group(m.lastindex), stderr, lines)


def _stop(p: Proc) -> None:
    if p.proc.poll() is None:
        p.proc.terminate()
        try:
            p.proc.wait(5)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()
    if p.proc.stdout:
        p.proc.stdout.close()


def get(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def post(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@dataclass
class Pair:
    el: Proc
    engine: str
    jwt: Path


@pytest.fixture(scope="module")
def pair(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A geth front over anvil with its Engine API on 127.0.0.1, authenticated with a JWT file."""
    d = tmp_path_factory.mktemp("pair")
    jwt = d / "jwtsecret"
    jwt.write_text(secrets.token_hex(32))
    jwt.chmod(0o600)
    engine_port = free_port_pair(0)
    el = _spawn(FRONT, ["--client", "geth", "--upstream", anvil.url, "--http.addr", LOCALHOST, "--http.port", "0",
                        "--authrpc.addr", LOCALHOST, "--authrpc.port", str(engine_port), "--authrpc.jwtsecret", str(jwt)],
                d / "el.err", re.compile(r"^ready client=(\w+) rpc=(http://\S+) control=(http://\S+)$"), extra_lines=1)
    assert el.lines[1] == f"engine api=http://{LOCALHOST}:{engine_port}"
    yield Pair(el, f"http://{LOCALHOST}:{engine_port}", jwt)
    _stop(el)


@pytest.fixture
def start_beacon(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> Proc:
        p = _spawn(BEACON, args, tmp_path / f"beacon{len(started)}.err", READY, env)
        started.append(p)
        return p

    yield start
    for p in started:
        _stop(p)


def lighthouse_args(pair: Pair, jwt: Path | None = None) -> list[str]:
    return ["--client", "lighthouse", "bn", "--network", "mainnet", "--http", "--http-address", LOCALHOST,
            "--http-port", "0", "--control-port", "0", "--execution-endpoint", pair.engine,
            "--execution-jwt", str(jwt or pair.jwt), "--checkpoint-sync-url", "https://beacon.example"]


def wait_for(check: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail("condition not reached")


def syncing(p: Proc) -> dict[str, Any]:
    status, body = get(p.api + "/eth/v1/node/syncing")
    assert status == 200
    assert_matches(body, "apis/node/syncing.yaml")
    return body["data"]


def set_faults(p: Proc, **faults: Any) -> dict[str, Any]:
    status, body = post(p.control + "/fault", faults)
    assert status == 200, body
    return body


# --- tests ----------------------------------------------------------------------------------


def test_every_route_answers_in_the_spec_shape(pair: Pair, anvil: Anvil, start_beacon) -> None:
    bn = start_beacon(lighthouse_args(pair))
    wait_for(lambda: get(bn.api + "/eth/v1/node/health")[0] == 200)
    routes = {
        "/eth/v1/node/syncing": "apis/node/syncing.yaml",
        "/eth/v1/node/version": "apis/node/version.yaml",
        "/eth/v1/node/peer_count": "apis/node/peer_count.yaml",
        "/eth/v1/node/identity": "apis/node/identity.yaml",
        "/eth/v1/beacon/genesis": "apis/beacon/genesis.yaml",
        "/eth/v1/config/spec": "apis/config/spec.yaml",
        "/eth/v1/beacon/headers/head": "apis/beacon/blocks/header.yaml",
        "/eth/v1/beacon/headers/finalized": "apis/beacon/blocks/header.yaml",
        "/eth/v1/beacon/headers/genesis": "apis/beacon/blocks/header.yaml",
        "/eth/v1/beacon/headers/3": "apis/beacon/blocks/header.yaml",
        "/eth/v1/beacon/blocks/head/root": "apis/beacon/blocks/root.yaml",
        "/eth/v1/beacon/states/head/finality_checkpoints": "apis/beacon/states/finality_checkpoints.yaml",
        "/eth/v1/beacon/states/finalized/finality_checkpoints": "apis/beacon/states/finality_checkpoints.yaml",
    }
    for route, api_file in routes.items():
        status, body = get(bn.api + route)
        assert status == 200, (route, body)
        assert_matches(body, api_file)
    assert get(bn.api + "/eth/v1/node/version")[1]["data"]["version"].startswith("Lighthouse/v")
    # health: 200 ready, the syncing_status query's range checked (400 outside 100..599)
    assert 200 in spec_statuses("apis/node/health.yaml") and 206 in spec_statuses("apis/node/health.yaml")
    assert get(bn.api + "/eth/v1/node/health?syncing_status=999")[0] == 400
    # errors in the spec's ErrorMessage shape
    for route, code in (("/eth/v1/beacon/headers/current", 400), ("/eth/v1/beacon/headers/99999999", 404)):
        status, body = get(bn.api + route)
        assert status == code
        assert_matches(body, "apis/beacon/blocks/header.yaml", code)
    # the head follows the execution client: head slot = its block number
    el_head = head_of(anvil.url)
    data = syncing(bn)
    assert data == {**data, "is_syncing": False, "is_optimistic": False, "el_offline": False, "sync_distance": "0"}
    assert abs(int(data["head_slot"]) - el_head) <= 2
    # a root names the block: by root and by slot, the same header
    status, by_slot = get(bn.api + "/eth/v1/beacon/headers/5")
    status, by_root = get(bn.api + f"/eth/v1/beacon/headers/{by_slot['data']['root']}")
    assert status == 200 and by_root["data"] == by_slot["data"]


def test_two_fronts_on_one_chain_agree_and_finality_trails_the_head(pair: Pair, anvil: Anvil, start_beacon) -> None:
    rpc_body = {"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": ["0x50"]}
    urllib.request.urlopen(urllib.request.Request(anvil.url, json.dumps(rpc_body).encode(),
                                                  {"Content-Type": "application/json"}), timeout=5).read()
    a = start_beacon(lighthouse_args(pair))
    b = start_beacon(["--client", "teku", "--rest-api-interface", LOCALHOST, "--rest-api-port=0", "--control-port=0",
                      f"--ee-endpoint={pair.engine}", "--ee-jwt-secret-file", str(pair.jwt), "--rest-api-enabled=true"])
    wait_for(lambda: get(a.api + "/eth/v1/node/health")[0] == 200 and get(b.api + "/eth/v1/node/health")[0] == 200)
    fa = get(a.api + "/eth/v1/beacon/states/head/finality_checkpoints")[1]["data"]["finalized"]
    fb = get(b.api + "/eth/v1/beacon/states/head/finality_checkpoints")[1]["data"]["finalized"]
    head = int(syncing(a)["head_slot"])
    assert fa == fb
    assert int(fa["epoch"]) in (head // 32 - 2, head // 32 - 3) and fa["root"] != "0x" + "00" * 32
    assert get(a.api + "/eth/v1/beacon/headers/40")[1]["data"]["root"] == get(b.api + "/eth/v1/beacon/headers/40")[1]["data"]["root"]
    assert get(b.api + "/eth/v1/node/version")[1]["data"]["version"].startswith("teku/v")
    assert "ignoring flags" in b.stderr.read_text()


def test_each_fault_shows_through_the_beacon_api(pair: Pair, start_beacon) -> None:
    bn = start_beacon(lighthouse_args(pair))
    wait_for(lambda: get(bn.api + "/eth/v1/node/health")[0] == 200)
    canonical = get(bn.api + "/eth/v1/beacon/states/head/finality_checkpoints")[1]["data"]["finalized"]

    set_faults(bn, syncing=True)
    d = syncing(bn)
    assert d["is_syncing"] is True and int(d["sync_distance"]) >= 32
    assert get(bn.api + "/eth/v1/node/health")[0] == 206
    assert get(bn.api + "/eth/v1/node/health?syncing_status=299")[0] == 299
    post(bn.control + "/fault/clear", {})

    set_faults(bn, optimistic=True)
    assert syncing(bn)["is_optimistic"] is True
    status, header = get(bn.api + "/eth/v1/beacon/headers/head")
    assert header["execution_optimistic"] is True and get(bn.api + "/eth/v1/node/health")[0] == 206
    post(bn.control + "/fault/clear", {})

    set_faults(bn, el_offline=True)
    stalled = int(syncing(bn)["head_slot"])
    time.sleep(1.2)  # anvil mines every 0.5 s: the head would have moved
    d = syncing(bn)
    assert d["el_offline"] is True and int(d["head_slot"]) == stalled and get(bn.api + "/eth/v1/node/health")[0] == 206
    post(bn.control + "/fault/clear", {})

    set_faults(bn, lag=7)
    d = syncing(bn)
    assert d["sync_distance"] == "7" and d["is_syncing"] is False
    post(bn.control + "/fault/clear", {})

    set_faults(bn, finalized_root_other=True)
    other = get(bn.api + "/eth/v1/beacon/states/head/finality_checkpoints")[1]
    assert_matches(other, "apis/beacon/states/finality_checkpoints.yaml")
    assert other["data"]["finalized"]["root"] not in (canonical["root"], "0x" + "00" * 32)
    post(bn.control + "/fault/clear", {})

    set_faults(bn, peers=3)
    assert get(bn.api + "/eth/v1/node/peer_count")[1]["data"]["connected"] == "3"
    set_faults(bn, not_initialized=True)
    assert get(bn.api + "/eth/v1/node/health")[0] == 503
    set_faults(bn, error="http")
    status, body = get(bn.api + "/eth/v1/node/syncing")
    assert status == 500 and body["code"] == 500
    post(bn.control + "/fault/clear", {})

    set_faults(bn, refuse=True)
    with pytest.raises(OSError):
        get(bn.api + "/eth/v1/node/syncing", timeout=2)
    post(bn.control + "/fault/clear", {})
    assert syncing(bn)["el_offline"] is False

    status, body = post(bn.control + "/fault", {"lag": -1})
    assert status == 400 and "lag" in body["error"]
    status, body = post(bn.control + "/fault", {"bogus": 1})
    assert status == 400 and "bogus" in body["error"]


def test_a_wrong_jwt_secret_is_el_offline(pair: Pair, start_beacon, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("0x" + secrets.token_hex(32) + "\n")
    bn = start_beacon(lighthouse_args(pair, jwt=wrong))
    time.sleep(0.6)
    d = syncing(bn)
    assert d["el_offline"] is True
    assert get(bn.api + "/eth/v1/node/health")[0] == 503  # never reached its EL: not initialized
    _, health = get(bn.control + "/health")
    assert "401" in health["el"]["error"]


def test_an_execution_client_going_away_is_el_offline(anvil: Anvil, start_beacon, tmp_path: Path) -> None:
    jwt = tmp_path / "jwt"
    jwt.write_text(secrets.token_hex(32))
    port = free_port_pair(0)
    el = _spawn(FRONT, ["--client", "nethermind", "--upstream", anvil.url, "--JsonRpc.Host", LOCALHOST,
                        "--JsonRpc.Port", "0", "--JsonRpc.EngineHost", LOCALHOST, f"--JsonRpc.EnginePort={port}",
                        "--JsonRpc.JwtSecretFile", str(jwt)],
                tmp_path / "el.err", re.compile(r"^ready client=(\w+) rpc=(http://\S+) control=(http://\S+)$"), extra_lines=1)
    try:
        bn = start_beacon(["--client", "nimbus", "--rest-address", LOCALHOST, "--rest-port", "0", "--control-port", "0",
                           "--el", f"http://{LOCALHOST}:{port}", "--jwt-secret", str(jwt)])
        wait_for(lambda: get(bn.api + "/eth/v1/node/health")[0] == 200)
        assert get(bn.api + "/eth/v1/node/version")[1]["data"]["version"].startswith("Nimbus/v")
        post(el.control + "/fault", {"refuse": True})  # the EL's ports close, its Engine API too
        wait_for(lambda: syncing(bn)["el_offline"] is True)
        assert get(bn.api + "/eth/v1/node/health")[0] == 206
        post(el.control + "/fault/clear", {})
        wait_for(lambda: syncing(bn)["el_offline"] is False)
    finally:
        _stop(el)


@pytest.mark.parametrize("client,args,prefix", [
    ("prysm", ["--http-host", LOCALHOST, "--http-port", "0", "--jwt-secret", "{jwt}", "--execution-endpoint", "{engine}"],
     "Prysm/v"),
    ("lodestar", ["beacon", "--rest.address", LOCALHOST, "--rest.port", "0", "--execution.urls", "{engine}",
                  "--jwt-secret", "{jwt}"], "Lodestar/v"),
])
def test_each_client_flags_and_version(pair: Pair, start_beacon, client: str, args: list[str], prefix: str) -> None:
    args = [a.format(jwt=pair.jwt, engine=pair.engine) for a in args]
    bn = start_beacon(["--client", client, "--control-port", "0", *args])
    wait_for(lambda: get(bn.api + "/eth/v1/node/health")[0] == 200)
    assert get(bn.api + "/eth/v1/node/version")[1]["data"]["version"].startswith(prefix)


def test_version_override_and_bad_command_lines(start_beacon, tmp_path: Path) -> None:
    bn = start_beacon(["--client", "lighthouse", "--http-port", "0", "--control-port", "0"],
                      env={"BEACON_VERSION": "v9.9.9"})
    assert get(bn.api + "/eth/v1/node/version")[1]["data"]["version"].startswith("Lighthouse/v9.9.9-")
    # without a JWT file it cannot authenticate: offline, truthfully
    assert syncing(bn)["el_offline"] is True
    for args, message in ((["--client", "besu"], "must be one of"), (["--client", "teku", "--rest-api-port", "x"], "integer")):
        proc = subprocess.run([str(SYSTEM_PYTHON), "-I", "-S", str(BEACON), *args], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_caplin_inside_the_erigon_front(anvil: Anvil, tmp_path: Path) -> None:
    port = free_port_pair(1000)
    control_file = tmp_path / "caplin.port"
    el = _spawn(FRONT, ["--client", "erigon", "--upstream", anvil.url, "--http.addr", LOCALHOST, "--http.port", "0",
                        "--beacon.api", "beacon,node,config", "--beacon.api.addr", LOCALHOST, f"--beacon.api.port={port}",
                        "--caplin.checkpoint-sync-url", "https://beacon.example/eth/v2/debug/beacon/states/finalized"],
                tmp_path / "erigon.err", re.compile(r"^ready client=(\w+) rpc=(http://\S+) control=(http://\S+)$"),
                env={"BEACON_CONTROL_FILE": str(control_file)}, extra_lines=1)
    try:
        assert el.lines[1].startswith(f"caplin beacon api=http://{LOCALHOST}:{port} ")
        api = f"http://{LOCALHOST}:{port}"
        wait_for(lambda: get(api + "/eth/v1/node/health")[0] == 200)
        assert get(api + "/eth/v1/node/version")[1]["data"]["version"] == "Caplin/3.4.4 linux/amd64"
        assert abs(int(syncing_at(api)["head_slot"]) - head_of(anvil.url)) <= 2
        assert control_file.read_text() == str(port + 1000)
        post(el.control + "/fault", {"lag": 5})  # Caplin follows its own node's head
        wait_for(lambda: 4 <= head_of(anvil.url) - int(syncing_at(api)["head_slot"]) <= 6)
        status, faults = post(f"http://{LOCALHOST}:{port + 1000}/fault", {"optimistic": True})
        assert status == 200 and syncing_at(api)["is_optimistic"] is True
    finally:
        _stop(el)
    # with --externalcl there is no Caplin
    el = _spawn(FRONT, ["--client", "erigon", "--upstream", anvil.url, "--http.port", "0", "--externalcl",
                        f"--beacon.api.port={port}"], tmp_path / "erigon2.err",
                re.compile(r"^ready client=(\w+) rpc=(http://\S+) control=(http://\S+)$"))
    try:
        with pytest.raises(OSError):
            get(f"http://{LOCALHOST}:{port}/eth/v1/node/health", timeout=1)
    finally:
        _stop(el)


def syncing_at(api: str) -> dict[str, Any]:
    status, body = get(api + "/eth/v1/node/syncing")
    assert status == 200
    assert_matches(body, "apis/node/syncing.yaml")
    return body["data"]
