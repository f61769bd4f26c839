"""``fleetctl preflight`` and the preflight / read-back of ``stake --batch``, on 127.0.0.1.

The chain is the Pocket stand-in (REST and CometBFT listeners on ports the OS picks) behind a
small test-side proxy that adds what the stand-in does not serve, the Cosmos auth account route
(``/cosmos/auth/v1beta1/accounts/{address}``, the shapes of ``QueryAccountResponse``), and that
can rewrite what the lab ``pocketd`` stores (``POST /__lab/shannon/supplier``) so the chain keeps
something other than what was sent. The balancer is a stdlib JSON-RPC server answering
``eth_blockNumber`` on the port fleetctl's plan gives the chain (7600 + the chain's index in
fleet.yml: filler chains before ``eth`` move it to a free port).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import socket
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conftest import lab_image, run_cli
from fleetctl.plan.model import BALANCER_PORT_BASE
from fleetlab.standin import PocketStandin, StandinControl, lab_address

REPO = Path(__file__).resolve().parents[2]
POCKETD = lab_image("pocketd.py")
CHAIN_ID = "pocket-test"
POKT = 1_000_000
MIN_STAKE = 59_500_000_000
OWNER = lab_address("pf-owner")
PUBKEY = base64.b64encode(bytes([2]) + bytes(range(32))).decode()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Server:
    server = Server(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class ChainProxy:
    """Forwards to the stand-in; serves accounts from ``self.accounts``; rewrites supplier upserts
    with ``self.rewrite`` (a function of the JSON body) when set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.accounts: dict[str, Any] = {}  # address -> account JSON, or None for "not found"
        self.rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if method == "POST" and self.path == "/__lab/shannon/supplier" and proxy.rewrite and body:
                    body = json.dumps(proxy.rewrite(json.loads(body))).encode()
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method=method,
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=10) as resp:
                        self.reply(resp.status, resp.read(), resp.headers.get("Content-Type") or "application/json")
                except urllib.error.HTTPError as exc:
                    self.reply(exc.code, exc.read())

            def do_GET(self) -> None:
                prefix = "/cosmos/auth/v1beta1/accounts/"
                if self.path.startswith(prefix):
                    address = self.path[len(prefix):].split("?")[0]
                    account = proxy.accounts.get(address, "missing")
                    if account == "missing" or account is None:
                        self.reply(404, json.dumps({"code": 5, "message": f"account {address} not found",
                                                    "details": []}).encode())
                    elif isinstance(account, bytes):
                        self.reply(200, account)
                    else:
                        self.reply(200, json.dumps({"account": account}).encode())
                    return
                self.forward("GET")

            def do_POST(self) -> None:
                self.forward("POST")

            def do_DELETE(self) -> None:
                self.forward("DELETE")

        self.server = serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def signed(self, address: str) -> None:
        self.accounts[address] = {"@type": "/cosmos.auth.v1beta1.BaseAccount", "address": address,
                                  "pub_key": {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": PUBKEY},
                                  "account_number": "7", "sequence": "3"}

    def fresh(self, address: str) -> None:
        self.accounts[address] = {"@type": "/cosmos.auth.v1beta1.BaseAccount", "address": address,
                                  "pub_key": None, "account_number": "8", "sequence": "0"}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Backend:
    """A JSON-RPC backend behind the 'balancer' port: answers eth_blockNumber per ``mode``."""

    def __init__(self, port: int) -> None:
        self.mode = "ok"
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                if backend.mode == "hang":
                    threading.Event().wait(30)
                    return
                if backend.mode == "error":
                    body = {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32000, "message": "boom"}}
                elif backend.mode == "garbage":
                    body = {"jsonrpc": "2.0", "id": request.get("id"), "result": "0xnothex"}
                else:
                    body = {"jsonrpc": "2.0", "id": request.get("id"), "result": "0x1b4"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = serve(Handler, port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def balancer_port() -> tuple[Backend, int]:
    """A backend on the first free port from 7600; the number of filler chains that put ``eth`` there."""
    for index in range(20):
        try:
            return Backend(BALANCER_PORT_BASE + index), index
        except OSError:
            continue
    pytest.skip("no free port in 7600..7619 for the balancer")


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.standin = PocketStandin({"chain_id": CHAIN_ID, "height": 1_000},
                                     comet_addr=("127.0.0.1", 0)).start()
        self.proxy = ChainProxy(self.standin.shannon_url)
        self.backend, self.fillers = balancer_port()
        self.control = StandinControl(self.standin.shannon_url)
        self.root = tmp / "inv"
        self.root.mkdir()
        self.suppliers: list[dict[str, Any]] = []
        self.hosts: dict[str, Any] = {"local-h1": {
            "ansible_host": "127.0.0.1", "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "fleet_capacity": {"cpus": 64, "memory_gb": 512, "disk_gb": 100000}}}

    def write(self, node_rpc_url: str | None = None) -> None:
        three = {"clients": ["geth", "nethermind", "erigon"], "replicas": 3}
        chains: dict[str, Any] = {f"filler{i}": dict(three) for i in range(self.fillers)}
        chains["eth"] = dict(three)
        (self.root / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": self.hosts}}))
        (self.root / "fleet.yml").write_text(yaml.safe_dump({
            "protocol": "shannon",
            "pocket": {"rest_url": self.proxy.url,
                       "node_rpc_url": node_rpc_url or self.standin.comet_url.replace("http://", "tcp://"),
                       "chain_id": CHAIN_ID},
            "chains": chains, "suppliers": self.suppliers,
            "stake": {"warning_margin": "10%", "critical_margin": "2%"},
        }, sort_keys=False))

    def add(self, name: str, services: list[str] | None = None, *, address: str | None = None) -> str:
        address = address or lab_address(name)
        self.suppliers.append({"name": name, "operator_address": address, "owner_address": OWNER,
                               "services": services or ["eth"], "host": "local-h1"})
        self.write()
        return address

    def stake_on_chain(self, address: str, services: list[Any], stake: int = MIN_STAKE + 10 * POKT) -> None:
        self.control.upsert_supplier({"operator_address": address, "owner_address": OWNER, "stake_upokt": stake,
                                      "services": services, "activation_height": 1})

    def run(self, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
        proc = run_cli("preflight", "-i", str(self.root), "-o", "json", "--timeout", "2", *args,
                       env={"PYTHONPATH": str(REPO), "FLEETCTL_CACHE_DIR": str(self.tmp / "cache"),
                            "FLEETCTL_STATE_DIR": str(self.tmp / "state")}, timeout=timeout)
        try:
            return proc.returncode, json.loads(proc.stdout), proc.stderr
        except ValueError:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None

    def stop(self) -> None:
        self.backend.stop()
        self.proxy.stop()
        self.standin.stop()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.stop()


def served(url: str = "http://127.0.0.1:8500", rpc_type: str = "JSON_RPC", service: str = "eth") -> dict[str, Any]:
    return {"service_id": service, "endpoints": [{"url": url, "rpc_type": rpc_type}]}


def fields(report: dict[str, Any]) -> set[tuple[str, str, str | None, str]]:
    return {(p["level"], ",".join(p["suppliers"]), p["service"], p["field"]) for p in report["problems"]}


# ----------------------------------------------------------------------------- fleetctl preflight


def test_a_healthy_fleet_is_ok(env):
    address = env.add("ok-1")
    env.stake_on_chain(address, [served()])
    env.proxy.signed(address)
    env.control.set_balance(address, 1_000 * POKT)
    code, report, err = env.run()
    assert code == 0, report
    assert report["problems"] == [] and report["status"] == "OK" and report["suppliers"] == ["ok-1"]
    assert report["fee_per_day_upokt"] > 0 and report["chain"]["height"] >= 1000
    table = run_cli("preflight", "-i", str(env.root), env={"PYTHONPATH": str(REPO),
                                                            "FLEETCTL_CACHE_DIR": str(env.tmp / "cache")})
    assert table.returncode == 0 and table.stdout.strip().splitlines()[-1] == "preflight: OK, 1 supplier checked"


def test_every_problem_is_one_line_naming_supplier_service_and_field(env):
    unserved = env.add("unserved")            # staked for a service its RelayMiner does not serve
    env.stake_on_chain(unserved, [served(), served(service="solana")])
    wrong_url = env.add("wrong-url")          # the endpoint on chain is not the RelayMiner's listener
    env.stake_on_chain(wrong_url, [served(url="http://127.0.0.1:9999")])
    wrong_type = env.add("wrong-type")
    env.stake_on_chain(wrong_type, [served(rpc_type="REST")])
    wiped = env.add("wiped")                  # services wiped by a stake update (poktroll #1687)
    env.stake_on_chain(wiped, [])
    fresh = env.add("fresh")                  # never signed: no public key on chain
    env.stake_on_chain(fresh, [served()])
    nobody = env.add("nobody")                # no account at all
    env.stake_on_chain(nobody, [served()])
    poor = env.add("poor")                    # cannot pay one claim
    env.stake_on_chain(poor, [served()])
    thin = env.add("thin")                    # less than a day of fees
    env.stake_on_chain(thin, [served()])
    for address in (unserved, wrong_url, wrong_type, wiped, poor, thin):
        env.proxy.signed(address)
    env.proxy.fresh(fresh)
    for address in (unserved, wrong_url, wrong_type, wiped, fresh, nobody):
        env.control.set_balance(address, 1_000 * POKT)
    env.control.set_balance(poor, 1_000)
    env.control.set_balance(thin, 400_000)
    code, report, err = env.run()
    assert code == 2, report
    assert fields(report) == {
        ("SANCTION", "unserved", "solana", "services"),
        ("SANCTION", "wrong-url", "eth", "endpoint.url"),
        ("SANCTION", "wrong-type", "eth", "endpoint.rpc_type"),
        ("WARNING", "wiped", "eth", "services"),
        ("SANCTION", "fresh", None, "account.pub_key"),
        ("SANCTION", "nobody", None, "account"),
        ("SANCTION", "poor", None, "balance"),
        ("WARNING", "thin", None, "balance"),
    }
    by = {(p["suppliers"][0], p["field"]): p["message"] for p in report["problems"]}
    assert "service not configured" in by[("unserved", "services")]
    assert "http://127.0.0.1:9999" in by[("wrong-url", "endpoint.url")]
    assert "http://127.0.0.1:8500" in by[("wrong-url", "endpoint.url")]
    assert "no public key" in by[("fresh", "account.pub_key")]
    # The table: one line per problem, each naming supplier, service and field.
    proc = run_cli("preflight", "-i", str(env.root), env={"PYTHONPATH": str(REPO),
                                                           "FLEETCTL_CACHE_DIR": str(env.tmp / "cache")})
    assert proc.returncode == 2
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(report["problems"]) + 1
    assert "SANCTION: supplier unserved, service solana (RelayMiner on local-h1), services: " in proc.stdout
    assert lines[-1].startswith("preflight: 6 would be sanctioned, 2 warnings")
    assert "Traceback" not in proc.stderr


def test_node_and_backend_failures_are_sanctions_of_every_supplier_they_serve(env):
    a, b = env.add("n-1"), env.add("n-2")
    for address in (a, b):
        env.stake_on_chain(address, [served()])
        env.proxy.signed(address)
        env.control.set_balance(address, 1_000 * POKT)
    env.backend.mode = "error"
    code, report, _ = env.run()
    assert code == 2
    (problem,) = report["problems"]
    assert (problem["field"], problem["service"], problem["suppliers"]) == ("backend", "eth", ["n-1", "n-2"])
    assert "JSON-RPC error: boom" in problem["message"]
    env.backend.mode = "garbage"
    code, report, _ = env.run()
    assert code == 2 and "not a hex quantity" in report["problems"][0]["message"]
    env.backend.mode = "ok"
    # A node URL with a secret in it that does not answer: named, the secret never shown.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    env.write(node_rpc_url=f"http://user:hunter2@127.0.0.1:{dead}/?token=s3cr3t")
    code, report, err = env.run()
    assert code == 2
    (problem,) = report["problems"]
    assert problem["field"] == "pocket_node.query_node_rpc_url/tx_node_rpc_url"
    assert problem["suppliers"] == ["n-1", "n-2"] and problem["host"] == "local-h1"
    text = json.dumps(report) + err
    assert "hunter2" not in text and "s3cr3t" not in text


def test_a_hanging_backend_is_bounded_by_the_timeout(env):
    address = env.add("h-1")
    env.stake_on_chain(address, [served()])
    env.proxy.signed(address)
    env.control.set_balance(address, 1_000 * POKT)
    env.backend.mode = "hang"
    import time

    started = time.monotonic()
    code, report, _ = env.run()
    assert time.monotonic() - started < 15
    assert code == 2 and "no answer within 2 s" in report["problems"][0]["message"]


def test_bad_input_exits_1_with_one_line(env):
    env.add("x-1")
    proc = run_cli("preflight", "-i", str(env.root), "--only", "nosuch",
                   env={"PYTHONPATH": str(REPO), "FLEETCTL_CACHE_DIR": str(env.tmp / "cache")})
    assert proc.returncode == 1 and "--only: no supplier named 'nosuch'" in proc.stderr
    for args in (["--timeout", "soon"], ["--fee-per-tx", "lots"]):
        proc = run_cli("preflight", "-i", str(env.root), *args, env={"PYTHONPATH": str(REPO)})
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = run_cli("preflight", "-i", str(env.tmp / "nope"), env={"PYTHONPATH": str(REPO)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- stake --batch


def pocketd_key(home: Path, name: str) -> str:
    import subprocess

    proc = subprocess.run([sys.executable, str(POCKETD), "keys", "add", name, "--keyring-backend", "test",
                           "--output", "json", "--no-backup", "--home", str(home)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["address"]


class StakeEnv(Env):
    """Env whose host runs the lab pocketd (its tx applied through the proxy's control route)."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.home = tmp / "keyring"
        self.db = tmp / "state" / "fleetctl.db"
        self.hosts["local-h1"]["fleet_pocketd"] = (f"env POCKETD_LAB_CONTROL={self.proxy.url} "
                                                   f"{shlex.quote(sys.executable)} {shlex.quote(str(POCKETD))}")

    def add_key(self, name: str) -> str:
        return self.add(name, address=pocketd_key(self.home, name))

    def stake(self, *args: str) -> tuple[int, dict[str, Any], str]:
        proc = run_cli("stake", "--batch", "-i", str(self.root), "--db", str(self.db), "--out", str(self.tmp / "out"),
                       "--timeout", "2", "-o", "json", *args,
                       env={"PYTHONPATH": str(REPO), "FLEETCTL_CACHE_DIR": str(self.tmp / "cache"),
                            "FLEETCTL_STATE_DIR": str(self.tmp / "state")}, timeout=300)
        try:
            return proc.returncode, json.loads(proc.stdout), proc.stderr
        except ValueError:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None

    def execute(self, *args: str) -> tuple[int, dict[str, Any], str]:
        return self.stake("--execute", "--host", "local-h1", "--home", str(self.home), "--wait", "10", *args)


@pytest.fixture
def stake_env(tmp_path):
    e = StakeEnv(tmp_path)
    yield e
    e.stop()


def on_chain(env: Env, address: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{env.standin.shannon_url}/pokt-network/poktroll/supplier/supplier/{address}",
                                    timeout=5) as resp:
            return json.loads(resp.read())["supplier"]
    except urllib.error.HTTPError:
        return None


def test_stake_batch_refuses_what_preflight_would_see_sanctioned_and_sends_once_fixed(stake_env):
    env = stake_env
    address = env.add_key("s-1")
    env.control.set_balance(address, 100_000 * POKT)
    env.backend.mode = "error"  # every relay of eth would fail
    code, dry, err = env.stake()
    assert code == 0 and dry["dry_run"] is True
    assert [p["field"] for p in dry["preflight"]["problems"]] == ["backend", "account"]
    assert any("--execute would refuse this batch" in n for n in dry["notes"])
    assert "stake: preflight: SANCTION: supplier s-1, service eth (RelayMiner on local-h1), backend:" in err

    code, refused, err = env.execute()
    assert code == 1 and refused["message"].startswith("not sending anything: preflight: 1 problem(s)")
    assert refused["commands"] == [] and on_chain(env, address) is None
    assert not env.db.exists() or "s-1" not in env.db.read_bytes().decode(errors="replace")

    env.backend.mode = "ok"
    code, sent, err = env.execute()
    assert code == 0, (sent, err)
    (row,) = sent["suppliers"]
    assert row["status"] == "confirmed" and row["error"] is None
    assert [p["level"] for p in sent["preflight"]["problems"]] == ["WARNING"]  # the account is new: expected
    assert on_chain(env, address)["stake"]["amount"] == str(sent["stake_upokt"])


def test_stake_batch_skip_preflight_sends_and_the_read_back_shows_a_mismatch(stake_env):
    env = stake_env
    a, b = env.add_key("m-1"), env.add_key("m-2")
    for address in (a, b):
        env.control.set_balance(address, 100_000 * POKT)
    env.backend.mode = "error"

    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        # The chain keeps another endpoint and stake for m-2 than its transaction sent.
        if body.get("operator_address") == b:
            body["stake_upokt"] = body["stake_upokt"] + 1
            for service in body.get("services") or []:
                service["endpoints"] = [{"url": "http://127.0.0.1:9999", "rpc_type": "REST"}]
        return body

    env.proxy.rewrite = rewrite
    code, report, err = env.execute("--skip-preflight")
    assert code == 1, (report, err)
    assert report["preflight"] is None and any("preflight skipped" in n for n in report["notes"])
    rows = {s["name"]: s for s in report["suppliers"]}
    assert rows["m-1"]["status"] == "confirmed"
    assert rows["m-2"]["status"] == "mismatch"
    error = rows["m-2"]["error"]
    stake = report["stake_upokt"]
    assert "stake: sent " in error and "eth endpoints: sent http://127.0.0.1:8500 JSON_RPC, on chain http://127.0.0.1:9999 REST" in error
    assert f"stake: m-2: read back: " in err
    # The store has it as on chain (it is: never sent again), the report as a mismatch.
    import sqlite3

    with sqlite3.connect(env.db) as conn:
        assert dict(conn.execute("SELECT name, state FROM stakes_batch").fetchall()) == {"m-1": "confirmed",
                                                                                       "m-2": "confirmed"}
    assert int(on_chain(env, b)["stake"]["amount"]) == stake + 1
