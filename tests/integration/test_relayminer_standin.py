"""The lab's RelayMiner stand-in (lab/fleetlab/image-files/relayminer.py) on 127.0.0.1, no lab.

It runs as the lab runs it (a subprocess, ``relayminer start --config …``) over a JSON-RPC
backend and a chain: a small chain written here that follows the issue-12 contract
(``GET /status``, the shared params and supplier queries on its REST port, ``POST /__lab/tx``
with poktroll's window checks, x/proof/keeper/session.go), whose height the test sets, so every
session boundary is exact. Checked: relays counted per (supplier, service, session); a claim
per ended session in its claim window and a proof in its proof window; the faults through the
control file (skip_claims, skip_proofs, drop_relays, back to none) at run time; refused txs
bounded and named on stderr; relays never wait for a chain that hangs; the metrics by the
real RelayMiner's names (pkg/relayer/metrics.go) and the ping server (pkg/relayer/relayminer.go).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetlab.standin import lab_address

from conftest import lab_image, lab_script

REPO = Path(__file__).resolve().parents[2]
RELAYMINER = lab_image("relayminer.py")
SUP_A = lab_address("rm-sup-a")
SUP_B = lab_address("rm-sup-b")
NOT_STAKED = lab_address("rm-sup-unstaked")
# Session of 4 blocks; claim window [E+1, E+3], proof window [E+3, E+5] (session.go's formulas).
PARAMS = {"num_blocks_per_session": 4, "grace_period_end_offset_blocks": 1, "claim_window_open_offset_blocks": 0,
          "claim_window_close_offset_blocks": 2, "proof_window_open_offset_blocks": 0,
          "proof_window_close_offset_blocks": 2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(check: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.05)


# ----------------------------------------------------------------------------- the chain


@dataclass
class FakeChain:
    """CometBFT /status + /__lab/tx and the REST queries, on one port (the test points both
    pocket_node URLs and $POCKETD_LAB_CONTROL at it)."""

    height: int = 10
    params: dict[str, int] = field(default_factory=lambda: dict(PARAMS))
    staked: dict[str, list[str]] = field(default_factory=lambda: {SUP_A: ["eth"], SUP_B: ["eth"]})
    txs: list[dict[str, Any]] = field(default_factory=list)
    refuse: str | None = None  # a log: every tx refused with it
    hang: bool = False  # /status sleeps (a chain that does not answer)
    status_body: bytes | None = None  # /status answers this instead (hostile values)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def windows(self, end: int) -> tuple[int, int, int, int]:
        p = self.params
        claim_open = end + p["claim_window_open_offset_blocks"] + 1
        claim_close = claim_open + p["claim_window_close_offset_blocks"]
        proof_open = claim_close + p["proof_window_open_offset_blocks"]
        return claim_open, claim_close, proof_open, proof_open + p["proof_window_close_offset_blocks"]

    def tx(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            landed = self.height + 1
            claim_open, claim_close, proof_open, proof_close = self.windows(msg["session_end_block_height"])
            key = (msg["supplier_operator_address"], msg["service_id"], msg["session_end_block_height"])
            claims = {(t["supplier_operator_address"], t["service_id"], t["session_end_block_height"])
                      for t in self.txs if t["msg"] == "MsgCreateClaim"}
            if self.refuse:
                answer = {"code": 1105, "log": self.refuse}
            elif msg["service_id"] not in self.staked.get(msg["supplier_operator_address"], []):
                answer = {"code": 1101, "log": "supplier not staked for service"}
            elif msg["msg"] == "MsgCreateClaim":
                ok = claim_open <= landed <= claim_close and key not in claims
                answer = {"code": 0, "height": landed} if ok else {"code": 1105, "log": "claim window closed"}
            elif key not in claims:
                answer = {"code": 1107, "log": "no claim"}
            else:
                ok = proof_open <= landed <= proof_close
                answer = {"code": 0, "height": landed} if ok else {"code": 1110, "log": "proof window closed"}
            self.txs.append({**msg, "answer": answer, "at_height": self.height})
            return answer

    def accepted(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [t for t in self.txs if t["msg"] == kind and t["answer"]["code"] == 0]

    def set_height(self, height: int) -> None:
        with self.lock:
            self.height = height


class _ChainHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    chain: FakeChain

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        chain = self.chain
        if self.path == "/status":
            if chain.hang:
                time.sleep(10)
            if chain.status_body is not None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(chain.status_body)))
                self.end_headers()
                self.wfile.write(chain.status_body)
                return
            self._json(200, {"jsonrpc": "2.0", "id": -1, "result": {"sync_info": {
                "latest_block_height": str(chain.height), "catching_up": False}}})
        elif self.path == "/pokt-network/poktroll/shared/params":
            self._json(200, {"params": {k: str(v) for k, v in chain.params.items()}})
        elif self.path.startswith("/pokt-network/poktroll/supplier/supplier/"):
            address = self.path.rsplit("/", 1)[1]
            if address not in chain.staked:
                self._json(404, {"code": 5, "message": "supplier not found", "details": []})
            else:
                self._json(200, {"supplier": {"operator_address": address,
                                              "services": [{"service_id": s} for s in chain.staked[address]]}})
        else:
            self._json(404, {"error": "no route"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/__lab/tx":
            self._json(404, {"error": "no route"})
            return
        self._json(200, self.chain.tx(json.loads(body)))


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 503 if self.path == "/fail" else 200
        data = json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0x1"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.send_response(405)  # a JSON-RPC node refuses HEAD below 500: reachable
        self.send_header("Content-Length", "0")
        self.end_headers()


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def chain() -> Iterator[tuple[FakeChain, str]]:
    state = FakeChain()
    handler = type("Handler", (_ChainHandler,), {"chain": state})
    server = _serve(handler)
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    state.hang = False
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    server = _serve(_Backend)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# ----------------------------------------------------------------------------- the RelayMiner


@dataclass
class RelayMiner:
    proc: subprocess.Popen[str]
    relay_url: str
    metrics_url: str
    ping_url: str
    control_file: Path
    stderr_path: Path
    stdout_path: Path

    def fault(self, text: str) -> None:
        tmp = self.control_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.control_file)

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stdout(self) -> str:
        return self.stdout_path.read_text()


def write_keyring(home: Path, keys: dict[str, str]) -> None:
    ring = home / "keyring-test"
    ring.mkdir(parents=True, mode=0o700)
    for name, address in keys.items():
        (ring / f"{name}.info").write_text(json.dumps({"name": name, "type": "local", "address": address}))


@pytest.fixture
def start_relayminer(tmp_path: Path, backend: str) -> Iterator[Callable[..., RelayMiner]]:
    started: list[RelayMiner] = []

    def start(chain_url: str, *, keys: dict[str, str] | None = None, ping: bool = True,
              backend_url: str | None = None, rest_url: str | None = None) -> RelayMiner:
        home = tmp_path / f"home{len(started)}"
        write_keyring(home, keys if keys is not None else {"sup-a": SUP_A, "sup-b": SUP_B})
        relay_port, metrics_port, ping_port = free_port(), free_port(), free_port()
        config = {
            "default_signing_key_names": sorted(keys if keys is not None else {"sup-a": 1, "sup-b": 1}),
            "smt_store_path": str(home / "smt"),
            "metrics": {"enabled": True, "addr": f"127.0.0.1:{metrics_port}"},
            "ping": {"enabled": ping, "addr": f"127.0.0.1:{ping_port}"},
            "pocket_node": {"query_node_rpc_url": chain_url, "query_node_grpc_url": chain_url.replace("http", "tcp"),
                            "tx_node_rpc_url": chain_url},
            "suppliers": [{"service_id": "eth", "listen_url": f"http://127.0.0.1:{relay_port}",
                           "service_config": {"backend_url": backend_url or backend}}],
        }
        path = tmp_path / f"config{len(started)}.yaml"
        path.write_text(yaml.safe_dump(config))
        control = tmp_path / f"faults{len(started)}"
        out, err = tmp_path / f"out{len(started)}", tmp_path / f"err{len(started)}"
        env = {**os.environ, "POCKETD_LAB_CONTROL": rest_url or chain_url, "RELAYMINER_LAB_CONTROL_FILE": str(control)}
        proc = subprocess.Popen([sys.executable, str(RELAYMINER), "relayminer", "start", f"--config={path}",
                                 "--home", str(home), "--keyring-backend=test", "--chain-id=pocket-lab"],
                                stdout=out.open("w"), stderr=err.open("w"), text=True, env=env)
        rm = RelayMiner(proc, f"http://127.0.0.1:{relay_port}", f"http://127.0.0.1:{metrics_port}/metrics",
                        f"http://127.0.0.1:{ping_port}/", control, err, out)
        started.append(rm)
        eventually(lambda: "ready relays=" in rm.stdout() or proc.poll() is not None, what="ready line")
        assert proc.poll() is None, rm.stderr()
        return rm

    yield start
    for rm in started:
        if rm.proc.poll() is None:
            rm.proc.send_signal(signal.SIGTERM)
            try:
                rm.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                rm.proc.kill()
                rm.proc.wait()


def http_call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
              timeout: float = 5.0) -> tuple[int, bytes]:
    parts = url.split("/", 3)
    host, port = parts[2].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, "/" + (parts[3] if len(parts) > 3 else ""), body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def relay(rm: RelayMiner, supplier: str | None = None, path: str = "/eth") -> int:
    headers = {"Content-Type": "application/json"}
    if supplier:
        headers["Target-Supplier-Operator-Address"] = supplier
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
    return http_call("POST", rm.relay_url + path, body, headers)[0]


def metrics(rm: RelayMiner) -> dict[str, float]:
    """``name{labels}`` -> value."""
    status, body = http_call("GET", rm.metrics_url)
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def wait_height(rm: RelayMiner, height: int) -> None:
    eventually(lambda: metrics(rm).get("relayminer_block_height_current") == height, what=f"height {height}")


# ----------------------------------------------------------------------------- tests


def test_claims_and_proofs_per_supplier_and_session(chain, start_relayminer) -> None:
    state, url = chain
    rm = start_relayminer(url)
    wait_height(rm, 10)  # session 9..12
    for _ in range(5):
        assert relay(rm, SUP_A) == 200
    for _ in range(3):
        assert relay(rm, "sup-b") == 200  # a key name selects its address too
    for _ in range(4):
        assert relay(rm) == 200  # no header: the staked suppliers in turn
    state.set_height(12)  # still the session's last block: nothing to claim yet
    wait_height(rm, 12)
    time.sleep(0.4)
    assert state.txs == []
    state.set_height(13)  # claim window opens at 12 + 0 + 1
    claims = eventually(lambda: len(state.accepted("MsgCreateClaim")) == 2 and state.accepted("MsgCreateClaim"),
                        what="two claims")
    by_supplier = {c["supplier_operator_address"]: c for c in claims}
    assert by_supplier[SUP_A]["num_relays"] + by_supplier[SUP_B]["num_relays"] == 12
    assert {by_supplier[SUP_A]["num_relays"], by_supplier[SUP_B]["num_relays"]} == {7, 5}
    assert all(c["service_id"] == "eth" and c["session_end_block_height"] == 12 for c in claims)
    assert all(c["answer"]["height"] == 14 for c in claims)
    assert not state.accepted("MsgSubmitProof")  # proof window opens at 15
    state.set_height(15)
    proofs = eventually(lambda: len(state.accepted("MsgSubmitProof")) == 2 and state.accepted("MsgSubmitProof"),
                        what="two proofs")
    assert {p["supplier_operator_address"] for p in proofs} == {SUP_A, SUP_B}
    assert all("num_relays" not in p and p["session_end_block_height"] == 12 for p in proofs)
    # Nothing sent twice, nothing refused; every claim and proof one stdout line.
    time.sleep(0.6)
    assert len(state.txs) == 4, state.txs
    out = rm.stdout()
    assert len(re.findall(r"^claim pokt1\S+ eth session_end=12 relays=\d+ height=14$", out, re.M)) == 2, out
    assert len(re.findall(r"^proof pokt1\S+ eth session_end=12 relays=\d+ height=16$", out, re.M)) == 2, out
    m = metrics(rm)
    assert m[f'relayminer_requests_total{{service_id="eth",supplier_operator_address="{SUP_A}"}}'] == 7
    assert m[f'relayminer_requests_total{{service_id="eth",supplier_operator_address="{SUP_B}"}}'] == 5
    assert m['relayminer_requests_success_total{service_id="eth"}'] == 12
    assert m['relayminer_requests_errors_total{service_id="eth"}'] == 0
    assert m["relayminer_block_height_current"] == 15


def test_skip_proofs_then_skip_claims_at_run_time(chain, start_relayminer) -> None:
    state, url = chain
    rm = start_relayminer(url)
    wait_height(rm, 10)
    rm.fault("skip_proofs\n")
    for _ in range(3):
        relay(rm, SUP_A)
    state.set_height(13)
    eventually(lambda: state.accepted("MsgCreateClaim"), what="the claim")
    state.set_height(15)
    eventually(lambda: "skipped (fault skip_proofs)" in rm.stderr(), what="the skip line")
    state.set_height(16)
    wait_height(rm, 16)  # sessions 13..16 and on: skip_claims
    relay(rm, SUP_A)
    rm.fault("skip_claims")
    state.set_height(17)
    eventually(lambda: "skipped (fault skip_claims)" in rm.stderr(), what="the skip_claims line")
    state.set_height(18)  # proof window of session 12 closed for good
    wait_height(rm, 18)
    time.sleep(0.4)
    assert not [t for t in state.txs if t["msg"] == "MsgSubmitProof"]
    assert len(state.accepted("MsgCreateClaim")) == 1
    assert rm.stderr().count("skipped (fault skip_proofs)") == 1  # once per session, not per poll
    # Cleared while session 16's claim window (17..19) is open: its claim goes.
    rm.fault("none")
    eventually(lambda: len(state.accepted("MsgCreateClaim")) == 2, what="the claim after the fault cleared")
    assert state.accepted("MsgCreateClaim")[1]["session_end_block_height"] == 16


def test_drop_relays_and_metric_names(chain, start_relayminer) -> None:
    state, url = chain
    rm = start_relayminer(url)
    wait_height(rm, 10)
    rm.fault("drop_relays, bogus")
    time.sleep(0.3)
    for _ in range(2):
        assert relay(rm, SUP_A) == 200  # served all the same
    assert relay(rm, SUP_A, path="/eth/fail") == 503  # passed through, counted a success, never claimed
    m = metrics(rm)
    assert m[f'relayminer_relays_dropped_total{{reason="mining_channel_full",service_id="eth",'
             f'supplier_operator_address="{SUP_A}"}}'] == 2
    assert m['relayminer_requests_success_total{service_id="eth"}'] == 3
    assert "unknown fault 'bogus' ignored" in rm.stderr()
    rm.fault("")
    time.sleep(0.3)
    assert relay(rm, SUP_A) == 200
    state.set_height(13)
    claim = eventually(lambda: state.accepted("MsgCreateClaim"), what="the claim")
    assert claim[0]["num_relays"] == 1
    # A supplier it holds no key for is refused, as the real one refuses it; an error reply.
    assert relay(rm, NOT_STAKED) == 400
    m = metrics(rm)
    assert m['relayminer_requests_errors_total{service_id="eth"}'] == 1
    body = http_call("GET", rm.metrics_url)[1].decode()
    for name, kind in (("relayminer_requests_total", "counter"), ("relayminer_requests_success_total", "counter"),
                       ("relayminer_requests_errors_total", "counter"), ("relayminer_relays_dropped_total", "counter"),
                       ("relayminer_block_height_current", "gauge")):
        assert f"# TYPE {name} {kind}\n" in body


def test_ping_server(chain, start_relayminer) -> None:
    state, url = chain
    rm = start_relayminer(url)
    for method in ("GET", "HEAD", "POST"):
        status, body = http_call(method, rm.ping_url + "anything")
        assert (status, body) == (204, b"")
    dead = f"http://127.0.0.1:{free_port()}"
    rm2 = start_relayminer(url, backend_url=dead)
    assert http_call("GET", rm2.ping_url)[0] == 502
    assert f"ping: backend {dead}" in rm2.stderr()
    assert relay(rm2, SUP_A) == 502  # its relays: error replies
    assert metrics(rm2)['relayminer_requests_errors_total{service_id="eth"}'] == 1


def test_a_hanging_chain_never_delays_relays_and_refusals_are_bounded(chain, start_relayminer) -> None:
    state, url = chain
    rm = start_relayminer(url)
    wait_height(rm, 10)
    relay(rm, SUP_A)
    state.refuse = "account sequence mismatch"
    state.set_height(13)
    eventually(lambda: "giving up" in rm.stderr(), what="three refusals")
    refused = [line for line in rm.stderr().splitlines() if "refused" in line]
    assert len(refused) == 3, refused
    assert refused[0].startswith(f"relayminer: claim {SUP_A} eth session_end=12 relays=1 refused (attempt 1/3)")
    assert refused[0].endswith(": account sequence mismatch")
    time.sleep(0.5)
    assert len(state.txs) == 3
    state.hang = True
    started = time.monotonic()
    for _ in range(5):
        assert relay(rm, SUP_A) == 200
    # a relay that waited on the hanging chain would take its 2 s timeout: five take far less
    assert time.monotonic() - started < 1.9


def test_keys_not_staked_or_unreadable(chain, start_relayminer) -> None:
    state, url = chain
    # sup-x: not in the keyring; the unstaked key: 404 on chain, so no relay is attributed to it.
    rm = start_relayminer(url, keys={"sup-a": SUP_A, "unstaked": NOT_STAKED})
    config_keys = yaml.safe_load(next(Path(rm.stderr_path.parent).glob("config*.yaml")).read_text())
    assert config_keys["default_signing_key_names"] == ["sup-a", "unstaked"]
    wait_height(rm, 10)
    time.sleep(0.3)  # the suppliers' services read
    for _ in range(4):
        relay(rm)
    m = metrics(rm)
    assert m[f'relayminer_requests_total{{service_id="eth",supplier_operator_address="{SUP_A}"}}'] == 4
    state.set_height(13)
    eventually(lambda: state.accepted("MsgCreateClaim"), what="the claim")
    assert [t["supplier_operator_address"] for t in state.txs] == [SUP_A]


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"default_signing_key_names": ["a"], "smt_store_path": "/x",
                                      "suppliers": [{"service_id": "eth", "listen_url": "http://127.0.0.1:1",
                                                     "service_config": {"backend_url": "http://127.0.0.1:2"}}]}))
    proc = subprocess.run([sys.executable, str(RELAYMINER), "relayminer", "start", "--config", str(config)],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "pocket_node" in proc.stderr, proc.stderr
    config.write_text(config.read_text() + "pocket_node: {query_node_rpc_url: 'http://127.0.0.1:1', "
                      "query_node_grpc_url: 'http://127.0.0.1:1', tx_node_rpc_url: 'http://127.0.0.1:1'}\n"
                      "ping: {enabled: true}\n")
    proc = subprocess.run([sys.executable, str(RELAYMINER), "relayminer", "start", "--config", str(config)],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and "ping.addr" in proc.stderr and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- lab fault


class _FakeContainer:
    """A provisioned RelayMiner container as docker-py shows it; ``exec_run`` runs the command
    here (the host's Python for /usr/bin/python3), with the container's environment."""

    name = "relayminer"
    labels = {"io.fleetctl.role": "relayminer", "io.fleetctl.managed": "true"}

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.client = type("Client", (), {"close": lambda self: None})()

    def exec_run(self, cmd: list[str]) -> tuple[int, bytes]:
        proc = subprocess.run([sys.executable, *cmd[1:]], capture_output=True, env={**os.environ, **self.env},
                              timeout=20)
        return proc.returncode, proc.stdout + proc.stderr


def test_lab_fault_reaches_the_relayminer_through_its_control_file(chain, start_relayminer, monkeypatch) -> None:
    from fleetlab import manager as M

    state, url = chain
    rm = start_relayminer(url)
    lab = M.Lab()
    monkeypatch.setattr(lab, "_has_container", lambda h, name: False)  # one lab host has it
    container = _FakeContainer({"RELAYMINER_LAB_CONTROL_FILE": str(rm.control_file)})
    host = M.HOSTS[1]

    def fault(faults: dict[str, Any], clear: bool = False) -> dict[str, Any]:
        return lab._fault_relayminer(host, container, f"{host.name}/relayminer", faults, clear)

    assert fault({}) == {"relayminer": "none"}
    assert fault({"relayminer": "skip_proofs"}) == {"relayminer": "skip_proofs"}
    assert rm.control_file.read_text().split() == ["skip_proofs"]
    assert fault({"relayminer": "drop_relays,skip_claims"}) == {"relayminer": "drop_relays skip_claims"}
    assert fault({}, clear=True) == {"relayminer": "none"}
    # The running RelayMiner obeys what lab fault wrote: skip_proofs holds back the proof.
    wait_height(rm, 10)
    assert fault({"relayminer": ["skip_proofs"]}) == {"relayminer": "skip_proofs"}
    relay(rm, SUP_A)
    state.set_height(13)
    eventually(lambda: state.accepted("MsgCreateClaim"), what="the claim")
    state.set_height(15)
    eventually(lambda: "skipped (fault skip_proofs)" in rm.stderr(), what="the skip line")
    assert not [t for t in state.txs if t["msg"] == "MsgSubmitProof"]
    assert fault({"relayminer": "none"}) == {"relayminer": "none"}
    eventually(lambda: state.accepted("MsgSubmitProof"), what="the proof once cleared (window open to 17)")
    # Bad input: one line naming the fault.
    for faults, expected in (({"relayminer": "skip_everything"}, "unknown RelayMiner fault 'skip_everything'"),
                             ({"lag": 3}, "not a RelayMiner fault: lag")):
        with pytest.raises(M.LabError) as err:
            fault(faults)
        assert expected in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setattr(lab, "_has_container", lambda h, name: True)
    with pytest.raises(M.LabError, match="several lab hosts: say which, e.g. lab-h"):
        lab._fault_relayminer(host, container, "relayminer", {"relayminer": "none"}, False)


# ----------------------------------------------------------------------------- the lab's chain


def block_events(comet_url: str, low: int, high: int) -> list[tuple[int, str, dict[str, Any]]]:
    """(height, type, attributes) of every typed event of blocks low..high (txs and finalize)."""
    out = []
    for height in range(low, high + 1):
        status, body = http_call("GET", f"{comet_url}/block_results?height={height}")
        assert status == 200, body
        result = json.loads(body)["result"]
        events = [e for tx in result["txs_results"] or [] for e in tx["events"]]
        events += result["finalize_block_events"] or []
        for event in events:
            if event["type"].startswith("pocket."):
                out.append((height, event["type"], {a["key"]: a["value"] for a in event["attributes"]}))
    return out


def test_the_story_on_the_lab_stand_in(start_relayminer) -> None:
    """The lab's Pocket stand-in, short sessions: a session's claims and proofs settle; with
    skip_proofs the next session's claim expires (PROOF_MISSING) and its supplier is slashed."""
    from fleetlab.standin import PocketStandin

    seed = {
        "height": 8, "block_time": 0.4,
        "shannon": {
            "params": {"shared": {"num_blocks_per_session": 2, "grace_period_end_offset_blocks": 0,
                                  "claim_window_open_offset_blocks": 0, "claim_window_close_offset_blocks": 2,
                                  "proof_window_open_offset_blocks": 0, "proof_window_close_offset_blocks": 2},
                       "proof": {"proof_requirement_threshold": {"denom": "upokt", "amount": "0"},
                                 "proof_missing_penalty": {"denom": "upokt", "amount": "1000"}}},
            "suppliers": [{"operator_address": SUP_A, "stake_upokt": 100_000_000_000, "services": ["eth"]},
                          {"operator_address": SUP_B, "stake_upokt": 100_000_000_000, "services": ["eth"]}],
            "services": [{"id": "eth", "name": "eth", "compute_units_per_relay": 1}],
        },
        "balances": {SUP_A: 10_000_000, SUP_B: 10_000_000},
    }
    standin = PocketStandin(seed, comet_addr=("127.0.0.1", 0)).start()

    def latest() -> int:
        body = http_call("GET", standin.comet_url + "/status")[1]
        return int(json.loads(body)["result"]["sync_info"]["latest_block_height"])

    def events(kind: str) -> list[dict[str, Any]]:
        return [{k: json.loads(v) for k, v in attrs.items() if k not in ("msg_index", "mode")}
                for _, t, attrs in block_events(standin.comet_url, 1, latest()) if t.endswith("." + kind)]

    try:
        rm = start_relayminer(standin.comet_url, rest_url=standin.shannon_url)
        eventually(lambda: metrics(rm).get("relayminer_block_height_current"), what="a height")
        for _ in range(3):
            assert relay(rm, SUP_A) == 200
            assert relay(rm, SUP_B) == 200
        eventually(lambda: len(events("EventClaimSettled")) == 2, timeout=10, what="two claims settled")
        assert sorted(e["num_relays"] for e in events("EventClaimCreated")) == ["3", "3"]
        assert {e["supplier_operator_address"] for e in events("EventProofSubmitted")} == {SUP_A, SUP_B}
        assert rm.stdout().count("\nproof ") == 2
        rm.fault("skip_proofs")
        time.sleep(0.3)
        for _ in range(2):
            assert relay(rm, SUP_A) == 200
        slashed = eventually(lambda: events("EventSupplierSlashed"), timeout=10, what="a slash")
        assert "skipped (fault skip_proofs)" in rm.stderr()
        expired = events("EventClaimExpired")
        assert [(e["supplier_operator_address"], e["num_relays"], e["expiration_reason"]) for e in expired] == [
            (SUP_A, "2", "PROOF_MISSING")]
        assert slashed[0]["supplier_operator_address"] == SUP_A
        assert len(events("EventProofSubmitted")) == 2  # none for the skipped session
    finally:
        standin.stop()


def test_a_proof_the_chain_does_not_require(start_relayminer) -> None:
    """The stand-in always submits; the chain's "proof not required" ends the session quietly."""
    from fleetlab.standin import PocketStandin

    seed = {
        "height": 8, "block_time": 0.4,
        "shannon": {
            "params": {"shared": {"num_blocks_per_session": 2, "grace_period_end_offset_blocks": 0,
                                  "claim_window_open_offset_blocks": 0, "claim_window_close_offset_blocks": 1,
                                  "proof_window_open_offset_blocks": 0, "proof_window_close_offset_blocks": 2},
                       "proof": {"proof_requirement_threshold": {"denom": "upokt", "amount": "1000000000000"},
                                 "proof_request_probability": 0}},
            "suppliers": [{"operator_address": SUP_A, "stake_upokt": 100_000_000_000, "services": ["eth"]}],
        },
        "balances": {SUP_A: 10_000_000},
    }
    standin = PocketStandin(seed, comet_addr=("127.0.0.1", 0)).start()
    try:
        rm = start_relayminer(standin.comet_url, rest_url=standin.shannon_url, keys={"sup-a": SUP_A})
        eventually(lambda: metrics(rm).get("relayminer_block_height_current"), what="a height")
        assert relay(rm) == 200
        eventually(lambda: " not required (chain: " in rm.stdout(), timeout=8, what="the proof refused as not needed")
        assert "refused" not in rm.stderr(), rm.stderr()
        assert re.search(rf"^claim {SUP_A} eth session_end=\d+ relays=1 height=\d+$", rm.stdout(), re.M)
    finally:
        standin.stop()


def test_hostile_chain_answers_keep_the_last_good_height(chain, start_relayminer) -> None:
    state, url = chain
    rm = start_relayminer(url)
    wait_height(rm, 10)
    for body in (b"not json", b'{"result": {"sync_info": {"latest_block_height": "-3"}}}',
                 b'{"result": {"sync_info": {"latest_block_height": 12}}}', b'{"result": []}',
                 b'{"result": {"sync_info": {"latest_block_height": "99999999999999999999"}}}'):
        state.status_body = body
        time.sleep(0.4)
        assert metrics(rm)["relayminer_block_height_current"] == 10
        assert relay(rm, SUP_A) == 200
    problems = [line for line in rm.stderr().splitlines() if "/status" in line]
    assert len(problems) == 1, problems  # one line per outage, not per poll
    state.status_body = None
    state.set_height(13)
    claim = eventually(lambda: state.accepted("MsgCreateClaim"), what="the claim")
    assert claim[0]["num_relays"] == 5
    assert "answers again (height 13)" in rm.stderr()


def test_shared_params_parse() -> None:
    SharedParams = lab_script("relayminer").SharedParams

    good = {"params": {k: str(v) for k, v in PARAMS.items()}}
    params = SharedParams.parse(good)
    assert params.session_end(9) == params.session_end(12) == 12 and params.session_end(13) == 16
    assert params.windows(12) == (13, 15, 15, 17)
    anchored = SharedParams.parse({"params": {**good["params"], "session_grid_anchor_height": "7"}})
    assert anchored.session_end(7) == 10 and anchored.session_end(5) == 8  # before the anchor: block-1 grid
    for name, value in (("num_blocks_per_session", "0"), ("claim_window_open_offset_blocks", "-1"),
                        ("proof_window_close_offset_blocks", None), ("grace_period_end_offset_blocks", True),
                        ("claim_window_close_offset_blocks", "1e3")):
        with pytest.raises(ValueError, match=f"params.{name}"):
            SharedParams.parse({"params": {**good["params"], name: value}})
    with pytest.raises(ValueError, match="params: missing"):
        SharedParams.parse([])
