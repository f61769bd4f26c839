"""Integration tests of the lab's execution-client front (lab/fleetlab/image-files/front.py) against anvil.

Everything binds and connects to 127.0.0.1 only. The fronts run under the system
``/usr/bin/python3 -I -S``, which proves they need nothing beyond the standard library.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import lab_image

REPO = Path(__file__).resolve().parents[2]
FRONT = lab_image("front.py")
SYSTEM_PYTHON = Path("/usr/bin/python3")
ANVIL_FALLBACK = REPO / ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
LOCALHOST = "127.0.0.1"
CHAIN_ID = "0x7a69"  # anvil's default chain, 31337
READY = re.compile(r"^ready client=(\w+) rpc=(http://\S+) control=(http://\S+)$")
DEFAULT_FAULTS = {
    "lag": 0,
    "syncing": False,
    "diverge_at": None,
    "delay_ms": 0,
    "error": None,
    "garbage": False,
    "refuse": False,
    "peers": 25,
}


# --- helpers --------------------------------------------------------------------------------


def find_anvil() -> str | None:
    for candidate in (os.environ.get("FLEETCTL_ANVIL"), shutil.which("anvil"), ANVIL_FALLBACK):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def free_port_pair(offset: int) -> int:
    """A free port P whose P + offset is free too."""
    for _ in range(50):
        port = free_port()
        if port + offset > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((LOCALHOST, port + offset))
            except OSError:
                continue
        return port
    pytest.fail("no free port pair")


def _hostport(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    assert host == LOCALHOST, url
    return host, int(port)


def post(url: str, payload: Any, timeout: float = 5.0) -> tuple[int, bytes]:
    """POST JSON (or raw bytes) on a fresh connection: (status, body)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    connection = http.client.HTTPConnection(*_hostport(url), timeout=timeout)
    try:
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def rpc_message(url: str, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    status, body = post(url, {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []})
    assert status == 200, body
    return json.loads(body)


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    message = rpc_message(url, method, params)
    assert "error" not in message, message
    assert message["id"] == 7
    return message["result"]


def block_at(url: str, number: int, full: bool = False) -> Any:  # a block object or None
    return rpc(url, "eth_getBlockByNumber", [hex(number), full])


def head_of(url: str) -> int:
    return int(rpc(url, "eth_blockNumber"), 16)


def control(base: str, path: str, payload: Any = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(*_hostport(base), timeout=5)
    try:
        if payload is None:
            connection.request("GET", path)
        else:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def set_faults(front: Front, **faults: Any) -> dict[str, Any]:
    status, answer = control(front.control, "/fault", faults)
    assert status == 200, answer
    return answer


def at_stable_head(anvil_url: str, read: Callable[[], Any]) -> tuple[int, Any]:
    """(upstream head, read()) for a read during which anvil mined no block."""
    for _ in range(20):
        before = head_of(anvil_url)
        value = read()
        if head_of(anvil_url) == before:
            return before, value
    pytest.fail("anvil's head kept moving")


# --- fixtures -------------------------------------------------------------------------------


@dataclass
class Anvil:
    url: str
    tx_block: int  # the block holding the fixture's one transaction
    tx_hash: str


@dataclass
class Front:
    proc: subprocess.Popen[str]
    ready: str
    client: str
    rpc: str
    control: str
    stderr: Path


def _start_front(args: list[str], stderr: Path, env: dict[str, str] | None = None) -> Front:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("FRONT_")}
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [str(SYSTEM_PYTHON), "-I", "-S", str(FRONT), *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**clean_env, **(env or {})},
        )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=10):
            proc.kill()
            pytest.fail(f"front never became ready: {stderr.read_text()}")
    line = proc.stdout.readline().strip()
    match = READY.match(line)
    if match is None:
        proc.kill()
        pytest.fail(f"unexpected first line {line!r}: {stderr.read_text()}")
    return Front(proc, line, match[1], match[2], match[3], stderr)


def _stop(front: Front) -> None:
    if front.proc.poll() is None:
        front.proc.terminate()
        try:
            front.proc.wait(5)
        except subprocess.TimeoutExpired:
            front.proc.kill()
            front.proc.wait()
    assert front.proc.stdout is not None
    front.proc.stdout.close()


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    binary = find_anvil()
    if binary is None:
        pytest.skip("anvil not found (FLEETCTL_ANVIL, PATH, or .tools/node_modules/@foundry-rs)")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("/usr/bin/python3 is absent; the front must run under the system Python")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--host", LOCALHOST, "--port", str(port), "--block-time", "0.5", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{LOCALHOST}:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                head_of(url)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("anvil did not start")
                time.sleep(0.05)
        # one transaction, mined at once, then a history of blocks to look at
        sender, receiver = rpc(url, "eth_accounts")[:2]
        tx_hash = rpc(
            url, "eth_sendTransaction", [{"from": sender, "to": receiver, "value": "0x1"}]
        )
        rpc(url, "anvil_mine", ["0x1"])
        tx_block = int(rpc(url, "eth_getTransactionReceipt", [tx_hash])["blockNumber"], 16)
        rpc(url, "anvil_mine", ["0x14"])
        yield Anvil(url, tx_block, tx_hash)
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def start_front(anvil: Anvil, tmp_path: Path) -> Iterator[Callable[..., Front]]:
    """Start fronts (stopped at teardown): start_front(args, env=None, upstream=True)."""
    started: list[Front] = []

    def start(args: list[str], env: dict[str, str] | None = None, upstream: bool = True) -> Front:
        extra = ["--upstream", anvil.url] if upstream else []
        front = _start_front([*extra, *args], tmp_path / f"front{len(started)}.err", env)
        started.append(front)
        return front

    yield start
    for front in started:
        _stop(front)


@pytest.fixture(scope="module")
def shared_geth(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    front = _start_front(
        ["--client", "geth", "--upstream", anvil.url, "--listen", LOCALHOST, "--port", "0"],
        tmp_path_factory.mktemp("front") / "geth.err",
    )
    yield front
    _stop(front)


@pytest.fixture
def geth(shared_geth: Front) -> Front:
    """The module's geth front, with its faults cleared."""
    status, faults = control(shared_geth.control, "/fault/clear", b"")
    assert (status, faults) == (200, DEFAULT_FAULTS)
    return shared_geth


# --- personas and passthrough ---------------------------------------------------------------

PERSONA_FORMATS = {
    # go-ethereum: Title(name)/v<x.y.z>-stable-<commit8>/<GOOS>-<GOARCH>/<go version>
    "geth": (
        r"Geth/v\d+\.\d+\.\d+-stable-[0-9a-f]{8}/linux-amd64/go\d+\.\d+(\.\d+)?",
        "Geth/v1.17.5-stable-9621c6ad/linux-amd64/go1.26.5",
    ),
    # Nethermind: Nethermind/v<semver>+<commit8>/<os>-<arch>/dotnet<runtime version>
    "nethermind": (
        r"Nethermind/v\d+\.\d+\.\d+\+[0-9a-f]{8}/linux-x64/dotnet\d+\.\d+\.\d+",
        "Nethermind/v1.39.3+28cbe2a0/linux-x64/dotnet10.0.10",
    ),
    # Erigon: erigon/<x.y.z>/<GOOS>-<GOARCH>/<go version>, lowercase, no "v", no commit
    "erigon": (
        r"erigon/\d+\.\d+\.\d+/linux-amd64/go\d+\.\d+(\.\d+)?",
        "erigon/3.4.4/linux-amd64/go1.26.5",
    ),
}


@pytest.mark.parametrize("client", sorted(PERSONA_FORMATS))
def test_persona(client: str, start_front: Callable[..., Front]) -> None:
    front = start_front(["--client", client, "--port", "0", "--peers", "7"])
    pattern, expected = PERSONA_FORMATS[client]
    version = rpc(front.rpc, "web3_clientVersion")
    assert re.fullmatch(pattern, version)
    assert version == expected
    assert rpc(front.rpc, "net_peerCount") == "0x7"
    assert rpc(front.rpc, "eth_syncing") is False
    assert control(front.control, "/health") == (
        200,
        {"ok": True, "client": client, "faults": {**DEFAULT_FAULTS, "peers": 7}},
    )


@pytest.mark.parametrize(
    ("client", "version", "expected"),
    [
        ("geth", "1.14.12-stable-293a300d", "Geth/v1.14.12-stable-293a300d/linux-amd64/go1.26.5"),
        ("nethermind", "v1.29.1+dfea5240", "Nethermind/v1.29.1+dfea5240/linux-x64/dotnet10.0.10"),
        ("erigon", "2.60.10", "erigon/2.60.10/linux-amd64/go1.26.5"),
    ],
)
def test_version_override(
    client: str, version: str, expected: str, start_front: Callable[..., Front]
) -> None:
    front = start_front(["--client", client, "--port", "0", "--version", version])
    assert rpc(front.rpc, "web3_clientVersion") == expected


def test_anvil_itself_has_no_peer_count(anvil: Anvil) -> None:
    """Why the front answers net_peerCount itself: the real clients do, anvil does not."""
    assert rpc_message(anvil.url, "net_peerCount")["error"]["code"] == -32601


def test_passthrough(geth: Front, anvil: Anvil) -> None:
    assert rpc(geth.rpc, "eth_chainId") == rpc(anvil.url, "eth_chainId") == CHAIN_ID
    assert block_at(geth.rpc, anvil.tx_block, full=True) == block_at(
        anvil.url, anvil.tx_block, True
    )
    assert rpc(geth.rpc, "eth_getTransactionByHash", [anvil.tx_hash])["hash"] == anvil.tx_hash
    unknown = rpc_message(geth.rpc, "no_suchMethod")
    assert unknown["error"]["code"] == -32601  # anvil's own answer, passed through


def test_batches(geth: Front, anvil: Anvil) -> None:
    plain = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["0x1", False]},
    ]
    status, body = post(geth.rpc, plain)
    assert status == 200
    assert json.loads(body) == json.loads(post(anvil.url, plain)[1])
    assert json.loads(body)[0]["result"] == CHAIN_ID

    mixed = [
        {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "b", "method": "web3_clientVersion", "params": []},
        {"jsonrpc": "2.0", "id": "c", "method": "net_peerCount", "params": []},
    ]
    status, body = post(geth.rpc, mixed)
    assert status == 200
    assert json.loads(body) == [
        {"jsonrpc": "2.0", "id": "a", "result": CHAIN_ID},
        {"jsonrpc": "2.0", "id": "b", "result": PERSONA_FORMATS["geth"][1]},
        {"jsonrpc": "2.0", "id": "c", "result": "0x19"},
    ]
    assert json.loads(post(geth.rpc, [])[1])["error"]["code"] == -32600
    assert json.loads(post(geth.rpc, b"{not json")[1])["error"]["code"] == -32700


# --- faults ---------------------------------------------------------------------------------


def test_peers_fault(geth: Front) -> None:
    assert set_faults(geth, peers=3)["peers"] == 3
    assert rpc(geth.rpc, "net_peerCount") == "0x3"
    set_faults(geth, peers=0)
    assert rpc(geth.rpc, "net_peerCount") == "0x0"


def test_lag(geth: Front, anvil: Anvil) -> None:
    assert set_faults(geth, lag=3)["lag"] == 3

    head, number = at_stable_head(anvil.url, lambda: rpc(geth.rpc, "eth_blockNumber"))
    assert int(number, 16) == head - 3
    for tag in ("latest", "pending"):
        head, block = at_stable_head(
            anvil.url, functools.partial(rpc, geth.rpc, "eth_getBlockByNumber", [tag, False])
        )
        assert int(block["number"], 16) == head - 3
        assert block["hash"] == block_at(anvil.url, head - 3)["hash"]

    newest = rpc(anvil.url, "eth_getBlockByNumber", ["latest", False])
    assert block_at(geth.rpc, int(newest["number"], 16)) is None
    assert rpc(geth.rpc, "eth_getBlockByHash", [newest["hash"], False]) is None

    older = block_at(anvil.url, anvil.tx_block)
    assert block_at(geth.rpc, anvil.tx_block) == older
    assert rpc(geth.rpc, "eth_getBlockByHash", [older["hash"], False]) == older
    assert rpc(geth.rpc, "eth_getBlockByNumber", ["earliest", False]) == block_at(anvil.url, 0)
    head, finalized = at_stable_head(
        anvil.url, lambda: rpc(geth.rpc, "eth_getBlockByNumber", ["finalized", False])
    )
    assert int(finalized["number"], 16) <= head - 3
    assert rpc(geth.rpc, "eth_syncing") is False  # lagging is not syncing unless told


def test_syncing(geth: Front, anvil: Anvil) -> None:
    set_faults(geth, syncing=True, lag=2)
    head, syncing = at_stable_head(anvil.url, lambda: rpc(geth.rpc, "eth_syncing"))
    assert syncing == {
        "startingBlock": "0x0",
        "currentBlock": hex(head - 2),
        "highestBlock": hex(head),
    }


def test_diverge(geth: Front, anvil: Anvil) -> None:
    fork_at = anvil.tx_block
    assert set_faults(geth, diverge_at=fork_at)["diverge_at"] == fork_at
    numbers = range(fork_at - 1, fork_at + 3)
    canonical = {n: block_at(anvil.url, n) for n in numbers}
    served = {n: block_at(geth.rpc, n) for n in numbers}

    below = fork_at - 1
    assert served[below] == canonical[below]
    for n in numbers[1:]:
        assert served[n]["hash"] != canonical[n]["hash"]
        assert re.fullmatch(r"0x[0-9a-f]{64}", served[n]["hash"])
        assert served[n]["stateRoot"] == canonical[n]["stateRoot"]
        assert served[n]["number"] == hex(n)
    # the fork hangs off the common ancestor, then links to itself
    assert served[fork_at]["parentHash"] == canonical[below]["hash"]
    for n in numbers[2:]:
        assert served[n]["parentHash"] == served[n - 1]["hash"]
        assert served[n]["parentHash"] != canonical[n]["parentHash"]
    # deterministic
    assert {n: block_at(geth.rpc, n) for n in numbers} == served
    # lookups by the fork's hashes find the fork's blocks; the canonical ones are unknown
    for n in numbers[1:]:
        assert rpc(geth.rpc, "eth_getBlockByHash", [served[n]["hash"], False]) == served[n]
        assert rpc(geth.rpc, "eth_getBlockByHash", [canonical[n]["hash"], False]) is None
    by_hash = rpc(geth.rpc, "eth_getBlockByHash", [canonical[below]["hash"], False])
    assert by_hash == canonical[below]
    # full transactions carry the fork's block hash
    full = block_at(geth.rpc, fork_at, full=True)
    assert [tx["hash"] for tx in full["transactions"]] == [anvil.tx_hash]
    assert full["transactions"][0]["blockHash"] == served[fork_at]["hash"]
    # the head number is unaffected
    head, number = at_stable_head(anvil.url, lambda: rpc(geth.rpc, "eth_blockNumber"))
    assert int(number, 16) == head


def test_diverge_with_lag(geth: Front, anvil: Anvil) -> None:
    set_faults(geth, diverge_at=anvil.tx_block, lag=2)
    head, latest = at_stable_head(
        anvil.url, lambda: rpc(geth.rpc, "eth_getBlockByNumber", ["latest", False])
    )
    assert int(latest["number"], 16) == head - 2
    assert latest["hash"] != block_at(anvil.url, head - 2)["hash"]
    assert latest["parentHash"] == block_at(geth.rpc, head - 3)["hash"]


def test_delay(geth: Front) -> None:
    set_faults(geth, delay_ms=1200)
    started = time.monotonic()
    assert rpc(geth.rpc, "eth_chainId") == CHAIN_ID
    assert time.monotonic() - started >= 1.2
    set_faults(geth, delay_ms=0)
    started = time.monotonic()
    rpc(geth.rpc, "eth_chainId")
    # no delay left (the margin: these tests share two CPUs with the lab's)
    assert time.monotonic() - started < 1.0


def test_rpc_error(geth: Front) -> None:
    set_faults(geth, error="rpc")
    for method in ("eth_chainId", "web3_clientVersion"):
        assert rpc_message(geth.rpc, method) == {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {"code": -32603, "message": "internal error"},
        }
    batch: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []} for i in (1, 2)
    ]
    status, body = post(geth.rpc, batch)
    assert status == 200
    assert [(m["id"], m["error"]["code"]) for m in json.loads(body)] == [(1, -32603), (2, -32603)]


def test_http_error(geth: Front) -> None:
    set_faults(geth, error="http")
    status, _ = post(geth.rpc, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    assert status == 500


def test_garbage(geth: Front) -> None:
    set_faults(geth, garbage=True)
    status, body = post(
        geth.rpc, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    )
    assert status == 200
    assert body
    with pytest.raises(ValueError):
        json.loads(body)


def test_refuse(geth: Front) -> None:
    kept = http.client.HTTPConnection(*_hostport(geth.rpc), timeout=5)
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    kept.request("POST", "/", request, {"Content-Type": "application/json"})
    assert kept.getresponse().read()

    assert set_faults(geth, refuse=True)["refuse"] is True
    with pytest.raises(ConnectionRefusedError):
        post(geth.rpc, json.loads(request))
    with pytest.raises((OSError, http.client.HTTPException)):  # open connections are dropped
        kept.request("POST", "/", request, {"Content-Type": "application/json"})
        kept.getresponse().read()
    kept.close()
    status, health = control(geth.control, "/health")
    assert status == 200 and health["faults"]["refuse"] is True

    set_faults(geth, refuse=False)
    assert rpc(geth.rpc, "eth_chainId") == CHAIN_ID


def test_clear(geth: Front) -> None:
    faulty = {
        "lag": 2,
        "syncing": True,
        "diverge_at": 1,
        "delay_ms": 5,
        "error": "rpc",
        "garbage": False,
        "refuse": False,
        "peers": 1,
    }
    assert set_faults(geth, **faulty) == faulty
    set_faults(geth, garbage=True, error=None)  # merges into the faults already set
    assert control(geth.control, "/fault") == (200, {**faulty, "garbage": True, "error": None})
    assert control(geth.control, "/fault/clear", b"") == (200, DEFAULT_FAULTS)
    assert control(geth.control, "/fault") == (200, DEFAULT_FAULTS)
    assert rpc(geth.rpc, "eth_syncing") is False
    assert rpc(geth.rpc, "net_peerCount") == "0x19"


@pytest.mark.parametrize(
    "patch",
    [{"lag": -1}, {"lag": True}, {"nope": 1}, {"error": "boom"}, {"diverge_at": "5"}, [1], b"{"],
)
def test_control_rejects_bad_faults(geth: Front, patch: Any) -> None:
    status, answer = control(geth.control, "/fault", patch)
    assert status == 400 and answer["error"]
    assert control(geth.control, "/fault") == (200, DEFAULT_FAULTS)


def test_control_unknown_path(geth: Front) -> None:
    assert control(geth.control, "/nothing")[0] == 404
    assert control(geth.control, "/nothing", {})[0] == 404


def test_initial_faults_from_env(start_front: Callable[..., Front]) -> None:
    front = start_front(
        ["--client", "erigon", "--port", "0"], env={"FRONT_FAULTS": '{"lag": 1, "peers": 4}'}
    )
    assert control(front.control, "/fault") == (200, {**DEFAULT_FAULTS, "lag": 1, "peers": 4})
    assert control(front.control, "/fault/clear", b"")[1] == DEFAULT_FAULTS


# --- command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["geth", "nethermind", "erigon", "nethermind-override"])
def test_real_client_flags(
    client: str, anvil: Anvil, start_front: Callable[..., Front], tmp_path: Path
) -> None:
    port = free_port_pair(1000)
    env: dict[str, str] = {}
    if client == "geth":  # as in a container: the front's own settings come from the env
        env = {"FRONT_CLIENT": "geth", "FRONT_UPSTREAM": anvil.url}
        args = [
            "--http", "--http.addr", LOCALHOST, "--http.port", str(port),
            "--http.api", "eth,net,web3", "--datadir", "/data/geth", "--syncmode", "snap",
            "--metrics", "--port", "30303",
        ]  # fmt: skip
        ignored = "--http --http.api --datadir --syncmode --metrics --port"
    elif client == "nethermind":
        args = [
            "--client", "nethermind", "--upstream", anvil.url,
            "--JsonRpc.Enabled", "true", "--JsonRpc.Host=127.0.0.1", "--JsonRpc.Port", str(port),
            "--datadir", "/data/nethermind", "--config", "mainnet",
        ]  # fmt: skip
        ignored = "--JsonRpc.Enabled --datadir --config"
    elif client == "erigon":  # Go flags also come with one dash and with "="
        args = [
            "--client", "erigon", "--upstream", anvil.url,
            "--http.addr=127.0.0.1", f"--http.port={port}", "--datadir", "/data/erigon",
            "--chain", "mainnet", "-http.api", "eth,erigon", "--port", "30304",
        ]  # fmt: skip
        ignored = "--datadir --chain -http.api --port"
    else:  # nethermind has no --port of its own, so the front's --port overrides
        args = [
            "--client", "nethermind", "--upstream", anvil.url, "--JsonRpc.Port", "1",
            "--listen", LOCALHOST, "--port", str(port),
        ]  # fmt: skip
        ignored = ""
    front = start_front(args, env=env, upstream=False)
    client_name = client.split("-")[0]
    assert front.ready == (
        f"ready client={client_name} rpc=http://{LOCALHOST}:{port}"
        f" control=http://{LOCALHOST}:{port + 1000}"
    )
    assert rpc(front.rpc, "eth_chainId") == CHAIN_ID
    assert rpc(front.rpc, "web3_clientVersion") == PERSONA_FORMATS[client_name][1]
    expected_stderr = [f"front: ignoring flags: {ignored}"] if ignored else []
    assert front.stderr.read_text().splitlines() == expected_stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client", "geth"], "--upstream"),
        (["--client", "besu", "--upstream", "http://127.0.0.1:1"], "--client"),
        (["--client", "geth", "--upstream", "ftp://127.0.0.1:1"], "http(s) URL"),
        (["--client", "geth", "--upstream", "http://127.0.0.1:1", "--port", "x"], "integer"),
        (["--client", "geth", "--upstream", "http://127.0.0.1:1", "--port"], "needs a value"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    if not SYSTEM_PYTHON.exists():
        pytest.skip("/usr/bin/python3 is absent")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONT_")}
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-S", str(FRONT), *args],
        capture_output=True, text=True, timeout=10, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr


# --- HTTP and process behaviour -------------------------------------------------------------


def test_http11_keeps_alive(geth: Front) -> None:
    connection = http.client.HTTPConnection(*_hostport(geth.rpc), timeout=5)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    try:
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        first = connection.getresponse()
        assert json.loads(first.read())["result"] == CHAIN_ID
        sock = connection.sock
        assert sock is not None and first.getheader("Connection") is None
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        assert json.loads(connection.getresponse().read())["result"] == CHAIN_ID
        assert connection.sock is sock
    finally:
        connection.close()


def test_head_is_415_without_a_body_and_the_connection_stays_usable(geth: Front) -> None:
    """geth's validateRequest answers a HEAD (no JSON content type) 415; the RelayMiner's ping
    sends one to each backend and only a 5xx fails it."""
    connection = http.client.HTTPConnection(*_hostport(geth.rpc), timeout=5)
    try:
        connection.request("HEAD", "/")
        resp = connection.getresponse()
        assert resp.status == 415 and resp.read() == b""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        assert json.loads(connection.getresponse().read())["result"] == CHAIN_ID
    finally:
        connection.close()


@pytest.mark.parametrize("keep_alive", [False, True])
def test_http10_closes(geth: Front, keep_alive: bool) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    extra = b"Connection: keep-alive\r\n" if keep_alive else b""
    with socket.create_connection(_hostport(geth.rpc), timeout=5) as sock:
        sock.sendall(
            b"POST / HTTP/1.0\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        received = b""
        while chunk := sock.recv(65536):  # ends only when the front closes the connection
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"\r\nConnection: close" in head
    assert json.loads(payload)["result"] == CHAIN_ID


def test_bare_get_answers_200(geth: Front) -> None:
    connection = http.client.HTTPConnection(*_hostport(geth.rpc), timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"")
    finally:
        connection.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(signum: int, start_front: Callable[..., Front]) -> None:
    front = start_front(["--client", "geth", "--port", "0"])
    assert rpc(front.rpc, "eth_chainId") == CHAIN_ID
    front.proc.send_signal(signum)
    assert front.proc.wait(5) == 0
    assert front.stderr.read_text() == ""
    with pytest.raises(ConnectionRefusedError):
        post(front.rpc, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})


# --- the Engine API -------------------------------------------------------------------------


def _jwt(secret: bytes, iat: float | None = None, alg: str = "HS256") -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    claims = b64(json.dumps({"iat": int(time.time() if iat is None else iat)}).encode())
    signature = b64(hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest())
    return f"{header}.{claims}.{signature}"


def engine_post(url: str, payload: Any, token: str | None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*_hostport(url), timeout=5)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", "/", json.dumps(payload).encode(), headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def engine_front(start_front: Callable[..., Front], tmp_path: Path) -> tuple[Front, str, bytes]:
    secret = os.urandom(32)
    jwt = tmp_path / "jwtsecret"
    jwt.write_text("0x" + secret.hex() + "\n")
    port = free_port()
    # 0.0.0.0, as inside a bridged container; reached here over 127.0.0.1
    front = start_front(["--client", "geth", "--http.addr", LOCALHOST, "--http.port", "0",
                         "--authrpc.addr", "0.0.0.0", f"--authrpc.port={port}", "--authrpc.jwtsecret", str(jwt)])
    return front, f"http://{LOCALHOST}:{port}", secret


def test_engine_api_rejects_missing_bad_and_stale_tokens(engine_front: tuple[Front, str, bytes]) -> None:
    front, url, secret = engine_front
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    for token, why in ((None, "missing token"),
                       (_jwt(os.urandom(32)), "signature invalid"),
                       (_jwt(secret, iat=time.time() - 120), "stale token"),
                       (_jwt(secret, iat=time.time() + 120), "stale token"),
                       (_jwt(secret, alg="none"), "HS256"),
                       ("not.a.jwt", "malformed token")):
        status, body = engine_post(url, call, token)
        assert status == 401 and why in body.decode(), (token, body)
    # the public port needs no token and does not serve the Engine API's methods
    assert rpc_message(front.rpc, "engine_exchangeCapabilities").get("error")


def test_engine_api_answers_an_authenticated_caller(engine_front: tuple[Front, str, bytes], anvil: Anvil) -> None:
    front, url, secret = engine_front

    def call(method: str, params: list[Any] | None = None) -> Any:
        status, body = engine_post(url, {"jsonrpc": "2.0", "id": 3, "method": method, "params": params or []}, _jwt(secret))
        assert status == 200, body
        return json.loads(body)

    assert "engine_exchangeCapabilities" in call("engine_exchangeCapabilities", [["engine_newPayloadV4"]])["result"]
    assert call("eth_chainId")["result"] == CHAIN_ID
    assert call("engine_forkchoiceUpdatedV3", [{}])["error"]["code"] == -32601
    head = int(call("eth_blockNumber")["result"], 16)
    assert abs(head - head_of(anvil.url)) <= 1
    assert call("eth_getBlockByNumber", [hex(head), False])["result"]["number"] == hex(head)
    set_faults(front, lag=4)  # the faults hold on the Engine API too
    upstream, lagged = at_stable_head(anvil.url, lambda: int(call("eth_blockNumber")["result"], 16))
    assert lagged == upstream - 4
    assert call("eth_getBlockByNumber", [hex(upstream), False])["result"] is None
    set_faults(front, refuse=True)
    with pytest.raises(OSError):
        engine_post(url, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}, _jwt(secret))
    set_faults(front, refuse=False)
    assert call("eth_blockNumber")["result"]


def test_engine_api_without_a_usable_secret_rejects_everything(start_front: Callable[..., Front], tmp_path: Path) -> None:
    bad = tmp_path / "jwt"
    bad.write_text("not hex\n")
    port = free_port()
    start_front(["--client", "nethermind", "--JsonRpc.Port", "0", "--JsonRpc.EngineHost", LOCALHOST,
                 "--JsonRpc.EnginePort", str(port), "--JsonRpc.JwtSecretFile", str(bad)])
    status, body = engine_post(f"http://{LOCALHOST}:{port}", {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                               _jwt(os.urandom(32)))
    assert status == 401 and b"no usable JWT secret" in body
