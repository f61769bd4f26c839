"""The lab's ``pocketd`` stand-in (lab/fleetlab/image-files/pocketd.py) and ``fleetctl stake --batch`` on it.

pocketd: keys add/show/list with the cosmos-sdk output shapes, addresses that fleetctl's own
bech32 code accepts and that an independent derivation (hashlib, the curve equation) agrees with,
a private keyring (0700 folder, 0600 files), no private material in any output with
--no-backup; stake-supplier against a Pocket stand-in on 127.0.0.1 (the chain shows the stake,
owner, services and rev share of the config), the real error texts of poktroll's config reader
and message checks, chain-side refusals as a TxResponse with a non-zero code.

stake --batch: a host with ``ansible_connection: local`` runs playbooks/stake.yml for real
(ansible-runner), so the whole path (configs, commands, store, resume) is exercised without
the lab; tests/e2e/test_stake_batch.py does the same on the lab's hosts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetctl.spec.address import bech32_decode, shannon_address_problem
from fleetlab.standin import PocketStandin, StandinControl, lab_address

from conftest import lab_image, lab_script

P = lab_script("pocketd")

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "pocket"
POCKETD = lab_image("pocketd.py")
CHAIN_ID = "pocket-test"
MIN_STAKE = 59_500_000_000  # the stand-in's mainnet supplier min_stake


def pocketd(*args: str, home: Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(POCKETD), *args]
    if home is not None:
        argv += ["--home", str(home)]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, input=stdin, env=full_env, timeout=timeout)


def add_key(home: Path, name: str) -> str:
    proc = pocketd("keys", "add", name, "--keyring-backend", "test", "--output", "json", "--no-backup",
                   home=home)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["address"]


def private_material(home: Path) -> list[str]:
    """Every private key of the keyring at ``home``, in the forms an output could show it."""
    found = []
    for info in (home / "keyring-test").glob("*.info"):
        raw = base64.b64decode(json.loads(info.read_text())["privkey"]["key"])
        found += [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()]
    return found


@pytest.fixture
def standin():
    server = PocketStandin({"chain_id": CHAIN_ID, "height": 1_000}).start()
    yield server
    server.stop()


# ----------------------------------------------------------------------------- primitives


def test_hash_and_curve_vectors():
    # RIPEMD-160 test vectors (Dobbertin et al.) for the pure-Python fallback, and hashlib parity.
    assert P._ripemd160_pure(b"").hex() == "9c1185a5c5e9fc54612808977ee8f548b2258d31"
    assert P._ripemd160_pure(b"abc").hex() == "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"
    assert P._ripemd160_pure(b"a" * 1_000_000).hex() == "52783243c1697bdbe16d37f97f68f08325dc1528"
    for n in (55, 56, 63, 64, 65, 119, 120, 200):
        data = bytes(range(256))[:n] * 1
        assert P._ripemd160_pure(data) == P.ripemd160(data)
    # secp256k1: 1*G and 2*G, compressed, and their HASH160 (the well-known Bitcoin vectors).
    assert P.public_key(1).hex() == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    assert P.public_key(2).hex() == "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
    assert P.ripemd160(hashlib.sha256(P.public_key(1)).digest()).hex() == "751e76e8199196d454941c45d1b3a323f1433bd6"
    assert P.ripemd160(hashlib.sha256(P.public_key(2)).digest()).hex() == "06afd46bcdfd22ef94ac122aa11f241244a37ecc"
    with pytest.raises(ValueError):
        P.public_key(0)


# ----------------------------------------------------------------------------- keys


def _on_curve(pub: bytes) -> bool:
    p = 2**256 - 2**32 - 977
    x = int.from_bytes(pub[1:], "big")
    y2 = (pow(x, 3, p) + 7) % p
    y = pow(y2, (p + 1) // 4, p)
    return pub[0] in (2, 3) and y * y % p == y2


def test_keys_add_show_list(tmp_path):
    home = tmp_path / "home"
    outputs = []
    added = {}
    for name in ("operator-1", "operator-2"):
        proc = pocketd("keys", "add", name, "--keyring-backend", "test", "--output", "json", "--no-backup",
                       home=home)
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
        out = json.loads(proc.stdout)
        assert set(out) == {"name", "type", "address", "pubkey"}  # no "mnemonic" with --no-backup
        assert out["name"] == name and out["type"] == "local"
        assert shannon_address_problem(out["address"]) is None
        pub = json.loads(out["pubkey"])
        assert pub["@type"] == "/cosmos.crypto.secp256k1.PubKey"
        raw = base64.b64decode(pub["key"])
        assert len(raw) == 33 and _on_curve(raw)
        hrp, payload = bech32_decode(out["address"])
        assert hrp == "pokt" and payload == hashlib.new("ripemd160", hashlib.sha256(raw).digest()).digest()
        added[name] = out

    show = pocketd("keys", "show", "operator-1", "-a", home=home)
    assert show.returncode == 0 and show.stdout == added["operator-1"]["address"] + "\n"
    by_address = pocketd("keys", "show", added["operator-2"]["address"], "--output", "json", home=home)
    assert json.loads(by_address.stdout) == added["operator-2"]
    listed = pocketd("keys", "list", "--keyring-backend", "test", "--output", "json", home=home)
    assert json.loads(listed.stdout) == [added["operator-1"], added["operator-2"]]
    text = pocketd("keys", "list", home=home)
    assert f"- address: {added['operator-1']['address']}\n  name: operator-1\n" in text.stdout
    outputs += [show.stdout, by_address.stdout, listed.stdout, text.stdout]

    # The keyring: 0700 folder, 0600 files (NAME.info + ADDRESSHEX.address), the private key in it.
    ring = home / "keyring-test"
    assert stat.S_IMODE(ring.stat().st_mode) == 0o700
    names = sorted(p.name for p in ring.iterdir())
    hexes = sorted(bech32_decode(a["address"])[1].hex() + ".address" for a in added.values())
    assert names == sorted(hexes + ["operator-1.info", "operator-2.info"])
    for path in ring.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    secrets = private_material(home)
    assert len(secrets) == 6
    for text_out in outputs:
        for secret in secrets:
            assert secret not in text_out

    missing = pocketd("keys", "show", "nosuch", home=home)
    assert missing.returncode == 1
    assert missing.stderr.strip() == ("nosuch is not a valid name or address: decoding bech32 failed: "
                                      "invalid bech32 string length 6")
    other = lab_address("not-in-this-keyring")
    missing = pocketd("keys", "show", other, home=home)
    assert missing.stderr.strip() == f"key with address {other} not found: key not found"
    empty = pocketd("keys", "list", "--output", "json", home=tmp_path / "empty")
    assert empty.returncode == 0 and json.loads(empty.stdout) == []


def test_keys_add_refuses_an_existing_name_and_backs_up_only_when_asked(tmp_path):
    home = tmp_path / "home"
    address = add_key(home, "op")
    refused = pocketd("keys", "add", "op", "--no-backup", "--output", "json", home=home, stdin="")
    assert (refused.returncode, refused.stdout, refused.stderr.strip()) == (1, "", "EOF")
    declined = pocketd("keys", "add", "op", "--no-backup", "--output", "json", home=home, stdin="n\n")
    assert (declined.returncode, declined.stderr.strip()) == (1, "aborted")
    assert pocketd("keys", "show", "op", "-a", home=home).stdout.strip() == address  # untouched
    replaced = pocketd("keys", "add", "op", "--no-backup", "--output", "json", home=home, stdin="y\n")
    assert replaced.returncode == 0
    assert json.loads(replaced.stdout)["address"] != address
    assert len(list((home / "keyring-test").glob("*.address"))) == 1  # the old address file went

    # Without --no-backup the backup phrase is printed (it is the private key: the stand-in has
    # no BIP39 word list), in "mnemonic" for JSON and on stderr for text.
    shown = pocketd("keys", "add", "backed-up", "--output", "json", home=home)
    out = json.loads(shown.stdout)
    raw = base64.b64decode(json.loads((home / "keyring-test" / "backed-up.info").read_text())["privkey"]["key"])
    assert out["mnemonic"] == f"fleetlab-secp256k1:{raw.hex()}"
    text = pocketd("keys", "add", "backed-up-text", home=home)
    assert "name: backed-up-text" in text.stdout and "**Important** write this mnemonic" in text.stderr
    assert "fleetlab-secp256k1:" not in text.stdout
    assert pocketd("keys", "add", "x", "--recover", home=home).returncode == 1
    bad = pocketd("keys", "add", "x", "--key-type", "ed25519", home=home)
    assert bad.stderr.strip() == 'provided algorithm "ed25519" is not supported'
    assert pocketd("keys", "add", home=home).stderr.strip() == "accepts 1 arg(s), received 0"
    assert pocketd("keys", "add", "y", "--bogus", home=home).stderr.strip() == "unknown flag: --bogus"


# ----------------------------------------------------------------------------- stake-supplier


def stake_config(owner: str, operator: str, *, stake: str = "60000000000upokt", services: str | None = None,
                 rev_share: dict[str, int] | None = None) -> str:
    shares = rev_share or {owner: 100}
    text = f"owner_address: {owner}\noperator_address: {operator}\nstake_amount: {stake}\n"
    text += "default_rev_share_percent:\n" + "".join(f"  {a}: {p}\n" for a, p in shares.items())
    text += services if services is not None else (
        "services:\n  - service_id: eth\n    endpoints:\n"
        "      - publicly_exposed_url: http://10.213.0.11:8500\n        rpc_type: JSON_RPC\n")
    return text


def tx(home: Path, config: Path, signer: str, standin: PocketStandin, *extra: str,
       chain_id: str = CHAIN_ID) -> subprocess.CompletedProcess[str]:
    return pocketd("tx", "supplier", "stake-supplier", "--config", str(config), "--from", signer,
                   "--keyring-backend", "test", "--chain-id", chain_id, "--node", "tcp://127.0.0.1:26657",
                   "--yes", "--output", "json", *extra, home=home,
                   env={"POCKETD_LAB_CONTROL": standin.shannon_url})


def supplier_on_chain(standin: PocketStandin, address: str) -> dict[str, Any] | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{standin.shannon_url}/pokt-network/poktroll/supplier/supplier/{address}",
                                    timeout=5) as resp:
            return json.loads(resp.read())["supplier"]
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
        return None


def test_stake_supplier_stakes_on_the_standin_and_restaking_is_an_update(tmp_path, standin):
    home = tmp_path / "home"
    owner, operator = add_key(home, "owner"), add_key(home, "operator")
    config = tmp_path / "stake.yaml"
    config.write_text(stake_config(owner, operator, stake="61000000000upokt"))

    proc = tx(home, config, operator, standin)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["code"] == 0 and result["raw_log"] == ""
    assert re.fullmatch(r"[0-9A-F]{64}", result["txhash"]) and result["height"].isdigit()
    onchain = supplier_on_chain(standin, operator)
    assert onchain["owner_address"] == owner and onchain["operator_address"] == operator
    assert onchain["stake"] == {"denom": "upokt", "amount": "61000000000"}
    (update,) = onchain["service_config_history"]
    assert update["service"] == {
        "service_id": "eth",
        "endpoints": [{"url": "http://10.213.0.11:8500", "rpc_type": "JSON_RPC", "configs": []}],
        "rev_share": [{"address": owner, "rev_share_percentage": "100"}],
    }
    # As poktroll: services activate at the next session start (20 blocks, anchored at 1).
    height = int(result["height"])
    assert int(update["activation_height"]) == 1 + ((height - 1) // 20 + 1) * 20
    assert json.loads(proc.stdout).keys() >= {"height", "txhash", "code", "raw_log"}

    again = tx(home, config, "operator", standin)  # by key name this time
    assert again.returncode == 0 and json.loads(again.stdout)["code"] == 0
    assert supplier_on_chain(standin, operator)["stake"]["amount"] == "61000000000"
    for secret in private_material(home):
        assert secret not in proc.stdout + proc.stderr + again.stdout + again.stderr


def test_stake_supplier_checks_signer_chain_and_minimum_as_the_chain_does(tmp_path, standin):
    home = tmp_path / "home"
    owner, operator, stranger = add_key(home, "owner"), add_key(home, "operator"), add_key(home, "stranger")
    config = tmp_path / "stake.yaml"
    config.write_text(stake_config(owner, operator))

    # MsgStakeSupplier.ValidateBasic: services are the operator's to sign.
    by_owner = tx(home, config, owner, standin)
    assert by_owner.returncode == 1 and by_owner.stdout == ""
    assert by_owner.stderr.strip() == ("only the operator account is authorized to update the service "
                                       "configurations: invalid service config")
    # The keyring has no such key.
    gone = tx(home, config, lab_address("nobody"), standin)
    assert gone.stderr.strip() == f"key with address {lab_address('nobody')} not found: key not found"
    assert supplier_on_chain(standin, operator) is None

    # The chain refuses: a TxResponse with its code, exit 0 (as a real broadcast).
    low = tmp_path / "low.yaml"
    low.write_text(stake_config(owner, operator, stake="1000upokt"))
    refused = json.loads(tx(home, low, operator, standin).stdout)
    assert (refused["code"], refused["codespace"]) == (1101, "supplier")
    assert refused["raw_log"].endswith(f'supplier with owner "{owner}" must stake at least '
                                       f'{MIN_STAKE}upokt: invalid supplier stake')
    wrong_chain = json.loads(tx(home, config, operator, standin, chain_id="pocket").stdout)
    assert wrong_chain["code"] == 4 and "chain-id (pocket): unauthorized" in wrong_chain["raw_log"]
    assert supplier_on_chain(standin, operator) is None

    # Owner-signed stake-only, then an update by someone else is refused by the keeper.
    bare = tmp_path / "bare.yaml"
    bare.write_text(stake_config(owner, operator, services=""))
    no_services = tx(home, bare, owner, standin)
    assert no_services.stderr.strip() == ("no service configurations provided in config file; either provide "
                                          "services or use --stake-only flag: invalid service config")
    assert json.loads(tx(home, bare, owner, standin, "--stake-only").stdout)["code"] == 0
    assert supplier_on_chain(standin, operator)["service_config_history"] == []
    services = tmp_path / "services.yaml"
    services.write_text(stake_config(owner, operator).replace("stake_amount: 60000000000upokt\n", ""))
    assert json.loads(tx(home, services, operator, standin, "--services-only").stdout)["code"] == 0
    assert len(supplier_on_chain(standin, operator)["service_config_history"]) == 1
    stranger_cfg = tmp_path / "stranger.yaml"
    stranger_cfg.write_text(stake_config(owner, operator, services=""))
    hijack = json.loads(tx(home, stranger_cfg, stranger, standin, "--stake-only").stdout)
    assert hijack["code"] == 1105 and "does not match owner address" in hijack["raw_log"]

    # No chain at the node: the CometBFT client's error, exit 1.
    dead = pocketd("tx", "supplier", "stake-supplier", "--config", str(config), "--from", operator,
                   "--chain-id", CHAIN_ID, "--node", "tcp://127.0.0.1:9", "--yes", home=home,
                   env={"POCKETD_LAB_CONTROL": ""})
    assert dead.returncode == 1
    assert dead.stderr.strip() == ('post failed: Post "http://127.0.0.1:9": dial tcp 127.0.0.1:9: '
                                   "connect: connection refused")


OWNER = lab_address("owner")
OPERATOR = lab_address("operator")
GOOD_SERVICE = ("services:\n  - service_id: eth\n    endpoints:\n"
                "      - publicly_exposed_url: http://10.213.0.11:8500\n        rpc_type: JSON_RPC\n")


@pytest.mark.parametrize("config, message", [
    ("", "empty supplier config content"),
    (stake_config("pokt1nope", OPERATOR), "invalid owner address: invalid owner address in supplier config"),
    (stake_config(OWNER, "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"),
     "invalid operator address: invalid operator address in supplier config"),
    (stake_config(OWNER, OPERATOR, stake="0upokt"),
     "stake amount cannot be zero: invalid stake amount in supplier config"),
    (stake_config(OWNER, OPERATOR, stake="60000pokt"),
     "invalid stake denom, expecting: upokt, got: pokt: invalid stake amount in supplier config"),
    (stake_config(OWNER, OPERATOR, stake="60000"),
     "invalid decimal coin expression: 60000: invalid stake amount in supplier config"),
    (stake_config(OWNER, OPERATOR, rev_share={OWNER: 90}),
     "invalid rev share percentage sum 90; must be equal to 100: invalid revenue share configuration"),
    (stake_config(OWNER, OPERATOR, rev_share={OWNER: 100, OPERATOR: 0}),
     "invalid rev share value 0; must be between 0 and 100: invalid revenue share configuration"),
    (stake_config(OWNER, OPERATOR, services=GOOD_SERVICE.replace("JSON_RPC", "SOAP")),
     "SOAP: invalid rpc type in supplier config"),
    (stake_config(OWNER, OPERATOR, services=GOOD_SERVICE.replace("http://10.213.0.11:8500", "10.213.0.11:8500")),
     'missing scheme in URL "10.213.0.11:8500" (expected http, https, or grpc): '
     "invalid endpoint url in supplier config"),
    (stake_config(OWNER, OPERATOR, services=GOOD_SERVICE.replace("http://10.213.0.11:8500", '""')),
     "endpoint URL cannot be empty: invalid endpoint url in supplier config"),
    (stake_config(OWNER, OPERATOR, services="services:\n  - service_id: eth\n    endpoints: []\n"),
     "eth: no endpoints defined for serviceId in supplier config"),
    (stake_config(OWNER, OPERATOR, services=GOOD_SERVICE.replace("eth", "e.t.h")),
     "service ID 'e.t.h' contains invalid characters: invalid service ID: invalid serviceId in supplier config"),
    (stake_config(OWNER, OPERATOR, services=GOOD_SERVICE + "        config:\n          retries: 3\n"),
     "retries: invalid endpoint config in supplier config"),
])
def test_bad_configs_are_refused_with_pocketds_messages(tmp_path, config, message):
    with pytest.raises(P.ConfigError) as caught:
        P.parse_supplier_config(config)
    assert str(caught.value) == message
    home = tmp_path / "home"
    add_key(home, "k")
    path = tmp_path / "bad.yaml"
    path.write_text(config)
    proc = pocketd("tx", "supplier", "stake-supplier", "--config", str(path), "--from", "k", "--yes",
                   "--chain-id", CHAIN_ID, home=home)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", message + "\n")


def test_the_official_example_parses_and_the_fallback_reader_agrees():
    text = (SHARED / "poktroll-supplier_stake_config_example.yaml").read_text()
    parsed = P.parse_supplier_config(text)
    assert parsed["stake_upokt"] == 1000069
    assert [s["service_id"] for s in parsed["services"]] == ["anvil", "ollama"]
    assert parsed["services"][1]["endpoints"][0]["rpc_type"] == "REST"
    assert sorted(r["rev_share_percentage"] for r in parsed["services"][0]["rev_share"]) == [20, 80]
    # Without PyYAML the stand-in reads block YAML itself: the same tree for the example and for
    # the configs fleetctl writes (quoted strings), and flow style is refused rather than misread.
    assert P._mini_yaml(text) == yaml.safe_load(text)
    ours = stake_config(OWNER, OPERATOR, services=GOOD_SERVICE.replace("eth", '"eth"'))
    assert P._mini_yaml(ours) == yaml.safe_load(ours)
    with pytest.raises(ValueError, match="needs PyYAML"):
        P._mini_yaml("services: [a, b]\n")


def test_relayminer_start_is_dispatched_to_the_lab_relayminer(tmp_path):
    proc = pocketd("relayminer", "start", "--chain-id=pocket", "--home=/nonexistent")
    assert proc.returncode == 2 and proc.stderr.strip() == "relayminer: --config FILE is required"
    cfg = tmp_path / "rm.yaml"
    cfg.write_text("suppliers: []\n")
    proc = pocketd("relayminer", "start", f"--config={cfg}")
    assert proc.returncode == 2 and proc.stderr.startswith("relayminer:")


# ----------------------------------------------------------------------------- stake --batch


def stake_cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``fleetctl stake …`` (the console script beside this Python)."""
    argv = [str(Path(sys.executable).parent / "fleetctl"), *args]
    full_env = {k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}
    full_env.update({"PYTHONPATH": str(REPO)}, **env)
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout)


class LocalFleet:
    """An inventory with one ``ansible_connection: local`` host whose pocketd is the stand-in."""

    def __init__(self, tmp: Path, standin: PocketStandin) -> None:
        self.tmp, self.standin = tmp, standin
        self.root = tmp / "inv"
        self.root.mkdir()
        self.home = tmp / "keyring-home"
        self.db = tmp / "state" / "fleetctl.db"
        self.out = tmp / "configs"
        self.owner = add_key(self.home, "owner")
        self.suppliers: list[dict[str, Any]] = []
        pocketd_cmd = (f"env POCKETD_LAB_CONTROL={standin.shannon_url} {shlex.quote(sys.executable)} "
                       f"{shlex.quote(str(POCKETD))}")
        (self.root / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"local-h1": {
            "ansible_host": "127.0.0.1", "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable, "fleet_pocketd": pocketd_cmd,
            "fleet_capacity": {"cpus": 4, "memory_gb": 8, "disk_gb": 100}}}}}))
        self.logs: list[str] = []

    def add(self, name: str, *, custodial: bool = False) -> str:
        address = add_key(self.home, name)
        entry = {"name": name, "operator_address": address, "services": ["eth"], "host": "local-h1"}
        if not custodial:
            entry["owner_address"] = self.owner
        self.suppliers.append(entry)
        self.write()
        return address

    def write(self) -> None:
        (self.root / "fleet.yml").write_text(yaml.safe_dump({
            "protocol": "shannon",
            "pocket": {"rest_url": self.standin.shannon_url, "node_rpc_url": "tcp://127.0.0.1:26657",
                       "chain_id": CHAIN_ID},
            "chains": {"eth": {"clients": ["geth", "nethermind"], "replicas": 2}},
            "suppliers": self.suppliers,
            "stake": {"warning_margin": "10%", "critical_margin": "2%"},
        }, sort_keys=False))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = stake_cli("stake", "--batch", "-i", str(self.root), "--db", str(self.db), "--out", str(self.out),
                         *args, env={"FLEETCTL_STATE_DIR": str(self.tmp / "state"),
                                     "FLEETCTL_CACHE_DIR": str(self.tmp / "cache")})
        self.logs += [proc.stdout, proc.stderr]
        return proc

    def execute(self, *args: str) -> tuple[int, dict[str, Any]]:
        # No RelayMiner node nor balancer runs for this fleet: the preflight (tests/integration/
        # test_preflight_standin.py) would refuse every batch, so these tests of the sending skip it.
        proc = self.run("--execute", "--host", "local-h1", "--home", str(self.home), "--wait", "10",
                        "-o", "json", "--skip-preflight", *args)
        try:
            return proc.returncode, json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None

    def rows(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute("SELECT batch_id, name, state, txhash IS NOT NULL, error FROM stakes_batch "
                                "ORDER BY rowid").fetchall()

    def assert_no_key_material(self) -> None:
        secrets = private_material(self.home)
        assert secrets
        for text in self.logs:
            for secret in secrets:
                assert secret not in text


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in report["suppliers"]}


def test_stake_batch_dry_run_writes_valid_configs_and_commands(tmp_path, standin):
    fleet = LocalFleet(tmp_path, standin)
    addresses = {name: fleet.add(name, custodial=(name == "new-3")) for name in ("new-1", "new-2", "new-3")}
    StandinControl(standin.shannon_url).upsert_supplier(  # one the chain already knows
        {"operator_address": addresses["new-2"], "owner_address": fleet.owner, "services": ["eth"]})
    proc = fleet.run("-o", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dry_run"] is True and report["batch_id"] is None
    expected_stake = MIN_STAKE + MIN_STAKE // 10 + 1  # min + the 10% warning margin + 1 upokt
    assert report["stake_upokt"] == expected_stake and report["chain"]["min_stake_upokt"] == MIN_STAKE
    rows = by_name(report)
    assert rows["new-2"]["status"] == "staked" and rows["new-2"]["command"] is None
    assert [rows[n]["status"] for n in ("new-1", "new-3")] == ["to_stake", "to_stake"]
    assert not fleet.db.exists()  # a dry run records nothing
    for name in ("new-1", "new-3"):
        path = Path(rows[name]["config"])
        assert path.parent == fleet.out and stat.S_IMODE(path.stat().st_mode) == 0o644
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rows[name]["config_sha256"]
        parsed = P.parse_supplier_config(path.read_bytes())  # the stand-in's copy of poktroll's reader
        owner = fleet.owner if name == "new-1" else addresses[name]
        assert parsed == {
            "owner_address": owner, "operator_address": addresses[name], "stake_upokt": expected_stake,
            "services": [{"service_id": "eth",
                          "endpoints": [{"url": "http://127.0.0.1:8500", "rpc_type": "JSON_RPC", "configs": []}],
                          "rev_share": [{"address": owner, "rev_share_percentage": 100}]}]}
        shape = yaml.safe_load(path.read_text())  # the official example's keys and types
        assert set(shape) == {"owner_address", "operator_address", "stake_amount", "default_rev_share_percent",
                              "services"}
        assert shape["stake_amount"] == f"{expected_stake}upokt" and sum(shape["default_rev_share_percent"].values()) == 100
        assert shape["services"][0]["endpoints"][0] == {"publicly_exposed_url": "http://127.0.0.1:8500",
                                                        "rpc_type": "JSON_RPC"}
        command = shlex.split(rows[name]["command"])
        assert command[command.index("tx"):] == [
            "tx", "supplier", "stake-supplier", "--config", str(path), "--from", addresses[name],
            "--keyring-backend", "test", "--home", "~/.pocket", "--chain-id", CHAIN_ID,
            "--node", "tcp://127.0.0.1:26657", "--yes", "--output", "json"]
        assert "--home ~/.pocket " in rows[name]["command"]  # left for the host's shell to expand
    assert report["commands"] == [rows["new-1"]["command"], rows["new-3"]["command"]]

    table = fleet.run()
    assert table.returncode == 0
    assert "# to run on local-h1" in table.stdout and rows["new-1"]["command"] in table.stdout
    quiet = fleet.run("-q")
    assert quiet.stdout.splitlines() == report["commands"]
    # --stake and --rev-share
    custom = json.loads(fleet.run("-o", "json", "--only", "new-1", "--stake", "70000 POKT",
                                  "--rev-share", f"{fleet.owner}=60,{addresses['new-3']}=40").stdout)
    assert [s["name"] for s in custom["suppliers"]] == ["new-1"]
    parsed = P.parse_supplier_config(Path(custom["suppliers"][0]["config"]).read_bytes())
    assert parsed["stake_upokt"] == 70_000_000_000
    assert {r["address"]: r["rev_share_percentage"] for r in parsed["services"][0]["rev_share"]} == {
        fleet.owner: 60, addresses["new-3"]: 40}
    fleet.assert_no_key_material()


@pytest.mark.parametrize("args, message", [
    (["--only", "nosuch"], "--only: no supplier named 'nosuch' in fleet.yml"),
    (["--stake", "lots"], "--stake: expected an amount above 0"),
    (["--stake", "1 POKT"], "--stake: 1 POKT is below the chain's min_stake 59,500 POKT"),
    (["--rev-share", "pokt1x=100"], "--rev-share: pokt1x:"),
    (["--execute"], "--execute: say on which host the commands run: --host NAME"),
    (["--execute", "--host", "elsewhere"], "--host: no host 'elsewhere' in the inventory"),
])
def test_stake_batch_usage_errors_are_one_line_exit_2(tmp_path, standin, args, message):
    fleet = LocalFleet(tmp_path, standin)
    fleet.add("new-1")
    proc = fleet.run(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert proc.stdout == ""


def test_stake_batch_execute_stakes_resumes_after_a_failure_and_never_twice(tmp_path, standin):
    fleet = LocalFleet(tmp_path, standin)
    first = {name: fleet.add(name) for name in ("a-1", "a-2")}
    code, report = fleet.execute()
    assert code == 0, report
    assert [s["status"] for s in report["suppliers"]] == ["confirmed", "confirmed"]
    batch1 = report["batch_id"]
    assert not Path(f"/var/tmp/fleetctl-stake-{batch1}").exists()  # the host keeps nothing
    for name, address in first.items():
        onchain = supplier_on_chain(standin, address)
        assert onchain["stake"]["amount"] == str(report["stake_upokt"]) and onchain["owner_address"] == fleet.owner
        assert onchain["service_config_history"][0]["service"]["endpoints"][0]["url"] == "http://127.0.0.1:8500"
    history = {a: supplier_on_chain(standin, a)["service_config_history"] for a in first.values()}
    assert [r[2] for r in fleet.rows()] == ["confirmed", "confirmed"]

    # Nothing new: nothing sent, the chain's records untouched (a restake would move activation).
    StandinControl(standin.shannon_url).advance(25)
    code, again = fleet.execute()
    assert code == 0 and [s["status"] for s in again["suppliers"]] == ["staked", "staked"]
    assert again["commands"] == [] and len(fleet.rows()) == 2
    assert {a: supplier_on_chain(standin, a)["service_config_history"] for a in first.values()} == history

    # Three more; the second's key is not in the keyring: the batch stops there, exit 1.
    more = {name: fleet.add(name) for name in ("b-1", "b-2", "b-3")}
    info = fleet.home / "keyring-test" / "b-2.info"
    hidden = info.rename(tmp_path / "b-2.info.away")
    code, failed = fleet.execute()
    assert code == 1
    status = {s["name"]: s["status"] for s in failed["suppliers"]}
    assert status == {"a-1": "staked", "a-2": "staked", "b-1": "confirmed", "b-2": "failed", "b-3": "not_attempted"}
    assert by_name(failed)["b-2"]["error"] == f"exit 1: key with address {more['b-2']} not found: key not found"
    assert supplier_on_chain(standin, more["b-2"]) is None and supplier_on_chain(standin, more["b-3"]) is None
    b1_history = supplier_on_chain(standin, more["b-1"])["service_config_history"]
    assert [(r[1], r[2]) for r in fleet.rows()[2:]] == [("b-1", "confirmed"), ("b-2", "failed")]

    # Fixed: the next run sends b-2 and b-3 only.
    hidden.rename(info)
    StandinControl(standin.shannon_url).advance(25)
    code, resumed = fleet.execute()
    assert code == 0, resumed
    status = {s["name"]: s["status"] for s in resumed["suppliers"]}
    assert status == {"a-1": "staked", "a-2": "staked", "b-1": "staked", "b-2": "confirmed", "b-3": "confirmed"}
    assert len(resumed["commands"]) == 2
    assert supplier_on_chain(standin, more["b-1"])["service_config_history"] == b1_history
    assert {a: supplier_on_chain(standin, a)["service_config_history"] for a in first.values()} == history
    sent = [(r[1], r[2]) for r in fleet.rows()]
    assert sent == [("a-1", "confirmed"), ("a-2", "confirmed"), ("b-1", "confirmed"), ("b-2", "failed"),
                    ("b-2", "confirmed"), ("b-3", "confirmed")]
    fleet.assert_no_key_material()


def test_a_submitted_stake_not_yet_on_chain_is_not_resent_before_the_confirm_timeout(tmp_path, standin):
    fleet = LocalFleet(tmp_path, standin)
    address = fleet.add("c-1")
    fleet.add("c-2")
    code, report = fleet.execute("--only", "c-2")  # creates the store
    assert code == 0
    # As if an earlier batch had sent c-1 and the chain had not shown it yet.
    with sqlite3.connect(fleet.db) as conn:
        conn.execute("INSERT INTO stakes_batch (batch_id, name, operator_address, config_sha256, state, txhash, "
                     "updated_at, host) VALUES ('earlier', 'c-1', ?, 'x', 'submitted', 'ABCD', ?, 'local-h1')",
                     (address, time.time()))
    code, waiting = fleet.execute()
    assert code == 0 and by_name(waiting)["c-1"]["status"] == "awaiting"
    assert "submitted (ABCD) by batch earlier" in by_name(waiting)["c-1"]["reason"]
    assert supplier_on_chain(standin, address) is None
    dry = json.loads(fleet.run("-o", "json").stdout)
    assert by_name(dry)["c-1"]["status"] == "awaiting" and dry["commands"] == []
    # Once the confirm timeout has passed it is sent again.
    code, sent = fleet.execute("--confirm-timeout", "0")
    assert code == 0 and by_name(sent)["c-1"]["status"] == "confirmed"
    assert supplier_on_chain(standin, address) is not None
    # A supplier confirmed earlier that the chain lost is not restaked without --restake.
    StandinControl(standin.shannon_url).delete_supplier(address)
    code, gone = fleet.execute()
    assert code == 0 and by_name(gone)["c-1"]["status"] == "gone"
    code, restaked = fleet.execute("--restake")
    assert code == 0 and by_name(restaked)["c-1"]["status"] == "confirmed"


def test_a_tx_the_chain_refuses_is_a_failure(tmp_path, standin):
    fleet = LocalFleet(tmp_path, standin)
    fleet.add("d-1")
    fleet.add("d-2")
    StandinControl(standin.shannon_url).set_shannon_params("supplier", {"min_stake": {"denom": "upokt",
                                                                                      "amount": "1000000"}})
    # The stake passes fleetctl's check against the minimum it reads, then the chain raises it.
    proc = fleet.run("-o", "json", "--stake", "2000000upokt")
    assert proc.returncode == 0
    StandinControl(standin.shannon_url).set_shannon_params("supplier", {"min_stake": {"denom": "upokt",
                                                                                      "amount": "5000000"}})
    # Executing re-reads the minimum, so --stake below it is a usage error…
    assert fleet.run("--execute", "--host", "local-h1", "--stake", "2000000upokt").returncode == 2
    # …and a chain that refuses for another reason (here: the chain id) stops the batch.
    (fleet.root / "fleet.yml").write_text((fleet.root / "fleet.yml").read_text().replace(
        f"chain_id: {CHAIN_ID}", "chain_id: another-chain"))
    code, report = fleet.execute()
    assert code == 1
    assert [s["status"] for s in report["suppliers"]] == ["failed", "not_attempted"]
    assert by_name(report)["d-1"]["error"].startswith("the chain refused it (code 4, sdk): signature verification")
    assert by_name(report)["d-1"]["txhash"]


def test_morse_batch_is_a_dry_run_of_pocket_nodes_stake(tmp_path):
    nodes = [hashlib.sha256(f"morse-new-{i}".encode()).hexdigest()[:40] for i in range(2)]
    output = hashlib.sha256(b"morse-output").hexdigest()[:40]
    server = PocketStandin({"height": 10}).start()
    try:
        root = tmp_path / "inv"
        root.mkdir()
        (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"m-h1": {
            "ansible_host": "10.213.0.21", "fleet_capacity": {"cpus": 4, "memory_gb": 8, "disk_gb": 100}}}}}))
        (root / "fleet.yml").write_text(yaml.safe_dump({
            "protocol": "morse", "pocket": {"rpc_url": server.morse_url},
            "chains": {"eth": {"clients": ["geth", "nethermind"], "replicas": 2, "morse_chain_id": "0021"}},
            "suppliers": [{"name": "mn-1", "operator_address": nodes[0], "services": ["eth"], "host": "m-h1"},
                          {"name": "mn-2", "operator_address": nodes[1], "owner_address": output,
                           "services": ["eth"], "host": "m-h1"}]}))
        env = {"FLEETCTL_STATE_DIR": str(tmp_path / "state"), "FLEETCTL_CACHE_DIR": str(tmp_path / "cache")}
        proc = stake_cli("stake", "--batch", "-i", str(root), "-o", "json", env=env)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        stake = 15_000_000_000 + 1_500_000_000 + 1  # stake_minimum + 10% + 1
        rows = by_name(report)
        assert rows["mn-1"]["command"] == (f"pocket nodes stake custodial {nodes[0]} {stake} 0021 "
                                           "http://10.213.0.21:8081 mainnet 10000 false")
        assert rows["mn-2"]["command"] == (
            f"pocket nodes stake non-custodial \"$(pocket accounts show {nodes[1]} | awk '/^Public Key:/ "
            f"{{print $3}}')\" {output} {stake} 0021 http://10.213.0.21:8081 mainnet 10000 false")
        chains = json.loads(Path(rows["mn-1"]["chains_json"]).read_text())
        assert chains == [{"id": "0021", "url": "http://10.213.0.21:7600",
                           "basic_auth": {"username": "", "password": ""}}]
        refused = stake_cli("stake", "--batch", "-i", str(root), "--execute", "--host", "m-h1", env=env)
        assert refused.returncode == 2 and "Morse staking is a dry run only" in refused.stderr
    finally:
        server.stop()
