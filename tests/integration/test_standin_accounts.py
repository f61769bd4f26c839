"""The Pocket stand-in's Cosmos auth account query, and ``fleetctl preflight`` reading it.

``GET /cosmos/auth/v1beta1/accounts/{address}`` (cosmos-sdk v0.50 x/auth/keeper/grpc_query.go
``Account``) answers ``QueryAccountResponse``. poktroll's OpenAPI (``poktroll-openapi.yml`` in
``$POCKET_SPEC_DIR``, default ../shared/pocket beside the checkout, as test_pocket_standin.py
reads it) does not list the Cosmos SDK's own routes, only the types they share:
``google.protobuf.Any`` (``@type`` plus the message's fields) and ``google.rpc.Status``; those
are read from the OpenAPI file (the test is skipped without it). The fields of the ``Any``'s messages are cosmos-sdk's protos, written below with the
jsonpb encoding the gateway uses (``uint64`` as a string, ``bytes`` as base64):
proto/cosmos/auth/v1beta1/auth.proto ``BaseAccount {string address = 1; google.protobuf.Any
pub_key = 2; uint64 account_number = 3; uint64 sequence = 4}`` and
proto/cosmos/crypto/secp256k1/keys.proto ``PubKey {bytes key = 1}`` (33 bytes, compressed).

Each test starts its own stand-in on 127.0.0.1 (ports chosen by the OS).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import run_cli
from fleetlab.standin import (
    ChainState,
    PocketStandin,
    SeedError,
    StandinControl,
    bech32_encode,
    lab_account_number,
    lab_address,
    lab_pub_key,
)
from test_preflight_standin import balancer_port

REPO = Path(__file__).resolve().parents[2]
OPENAPI = Path(os.environ.get("POCKET_SPEC_DIR", REPO.parent / "shared" / "pocket")) / "poktroll-openapi.yml"
CHAIN_ID = "pocket-test"
POKT = 1_000_000
OWNER = lab_address("acct-owner")
OPERATOR = lab_address("acct-operator")
APP = lab_address("acct-app")
FUNDED = lab_address("acct-funded")
SEEDED = lab_address("acct-seeded")
STRANGER = lab_address("acct-stranger")

#: cosmos-sdk protos, jsonpb (OrigName, EmitDefaults): field name -> check of the JSON value.
UINT64 = re.compile(r"(0|[1-9]\d{0,19})")
BASE_ACCOUNT_FIELDS = {
    "address": lambda v: isinstance(v, str) and v.startswith("pokt1"),
    "pub_key": lambda v: v is None or isinstance(v, dict),
    "account_number": lambda v: isinstance(v, str) and UINT64.fullmatch(v) is not None,
    "sequence": lambda v: isinstance(v, str) and UINT64.fullmatch(v) is not None,
}


def openapi_definitions() -> dict[str, Any]:
    if not OPENAPI.is_file():
        pytest.skip(f"spec file {OPENAPI} not available")
    return yaml.safe_load(OPENAPI.read_text())["definitions"]


def check_against(schema: dict[str, Any], value: Any, where: str) -> None:
    """The OpenAPI (swagger 2) types of ``value``'s properties; every declared one present."""
    assert isinstance(value, dict), where
    kinds = {"string": str, "integer": int, "array": list, "object": (dict, type(None))}
    for name, prop in schema["properties"].items():
        assert name in value, f"{where}: {name} missing"
        assert isinstance(value[name], kinds[prop["type"]]) and not isinstance(value[name], bool), \
            f"{where}.{name}: {value[name]!r} is not {prop['type']}"
    if "additionalProperties" not in schema:
        assert set(value) <= set(schema["properties"]), f"{where}: unexpected {set(value) - set(schema['properties'])}"


def seed() -> dict[str, Any]:
    return {
        "chain_id": CHAIN_ID, "height": 1_000,
        "shannon": {
            "suppliers": [{"operator_address": OPERATOR, "owner_address": OWNER,
                           "services": ["anvil"]}],
            "applications": [{"address": APP, "services": ["anvil"]}],
        },
        "balances": {FUNDED: 5},
        "accounts": [{"address": SEEDED, "pub_key": True, "account_number": 42, "sequence": 9}],
    }


@pytest.fixture()
def standin():
    with PocketStandin(seed(), comet_addr=("127.0.0.1", 0)) as server:
        yield server


def get(url: str) -> tuple[int, Any, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def account(standin: PocketStandin, address: str) -> tuple[int, Any]:
    status, body, _ = get(f"{standin.shannon_url}/cosmos/auth/v1beta1/accounts/{address}")
    return status, body


def check_account(body: Any, address: str) -> dict[str, Any]:
    defs = openapi_definitions()
    assert set(body) == {"account"}
    acct = body["account"]
    check_against(defs["google.protobuf.Any"], acct, "account")
    assert acct["@type"] == "/cosmos.auth.v1beta1.BaseAccount"
    assert set(acct) == {"@type", *BASE_ACCOUNT_FIELDS}
    for name, ok in BASE_ACCOUNT_FIELDS.items():
        assert ok(acct[name]), f"account.{name}: {acct[name]!r}"
    assert acct["address"] == address
    if acct["pub_key"] is not None:
        check_against(defs["google.protobuf.Any"], acct["pub_key"], "account.pub_key")
        assert set(acct["pub_key"]) == {"@type", "key"}
        assert acct["pub_key"]["@type"] == "/cosmos.crypto.secp256k1.PubKey"
        raw = base64.b64decode(acct["pub_key"]["key"], validate=True)
        assert len(raw) == 33 and raw[0] in (2, 3)
    return acct


# ----------------------------------------------------------------------------- the query


def test_signed_accounts_have_a_key_and_the_others_none(standin):
    keyed = {OPERATOR: True, APP: True, SEEDED: True, OWNER: False, FUNDED: False}
    for address, has_key in keyed.items():
        status, body = account(standin, address)
        assert status == 200, (address, body)
        acct = check_account(body, address)
        assert (acct["pub_key"] is not None) is has_key, address
        if has_key and address != SEEDED:
            assert base64.b64decode(acct["pub_key"]["key"]) == lab_pub_key(address)
    assert account(standin, OPERATOR)[1]["account"]["account_number"] == str(lab_account_number(OPERATOR))
    seeded = account(standin, SEEDED)[1]["account"]
    assert (seeded["account_number"], seeded["sequence"]) == ("42", "9")
    assert account(standin, OPERATOR)[1]["account"]["sequence"] == "0"


def test_an_unknown_account_is_the_keepers_not_found(standin):
    defs = openapi_definitions()
    status, body = account(standin, STRANGER)
    assert status == 404
    check_against(defs["google.rpc.Status"], body, "error")
    assert body == {"code": 5, "message": f"account {STRANGER} not found", "details": []}


def test_an_address_the_codec_refuses_is_grpc_unknown(standin):
    status, body = account(standin, bech32_encode("cosmos", bytes(20)))
    assert (status, body["code"], body["details"]) == (500, 2, [])
    assert body["message"] == "internal logic error: hrp does not match bech32 prefix: expected 'pokt' got 'cosmos'"
    status, body = account(standin, OPERATOR[:-1] + ("q" if OPERATOR[-1] != "q" else "p"))
    assert status == 500 and body["message"].startswith("decoding bech32 failed: invalid checksum")


def test_a_tx_creates_the_account_signs_it_and_counts_its_sequence(standin):
    control = StandinControl(standin.shannon_url)
    sender = lab_address("acct-sender")  # not staked: the claim is refused, the tx still counts
    assert account(standin, sender)[0] == 404
    for _ in range(2):
        assert control.submit_tx("MsgCreateClaim", sender, "anvil", 1000, 5)["code"] == 1
    acct = check_account(account(standin, sender)[1], sender)
    assert acct["sequence"] == "2" and acct["pub_key"] is not None
    state = control.state()
    assert {"address": sender, "sequence": 2} in state["accounts"]
    # The exported state reproduces the accounts.
    again = ChainState(state)
    assert again.query_account(sender) == {"account": acct}
    assert again.query_account(SEEDED)["account"]["sequence"] == "9"


def test_the_control_route_overrides_the_key_and_back(standin):
    control = StandinControl(standin.shannon_url)
    assert control.set_account(OPERATOR, pub_key=False)["pub_key"] is None
    assert account(standin, OPERATOR)[1]["account"]["pub_key"] is None
    request = urllib.request.Request(f"{standin.shannon_url}/__lab/account", method="POST",
                                     data=json.dumps({"address": OPERATOR, "pub_key": None}).encode())
    with urllib.request.urlopen(request, timeout=5) as resp:  # null: back to the derived key
        assert json.loads(resp.read())["account"]["pub_key"] is not None
    assert control.set_account(STRANGER)["pub_key"] is None and account(standin, STRANGER)[0] == 200


@pytest.mark.parametrize("entry, message", [
    ({"pub_key": True}, "seed.accounts[0].address"),
    ({"address": "pokt1nope", "pub_key": True}, "seed.accounts[0].address"),
    ({"address": SEEDED, "pub_key": "yes"}, "seed.accounts[0].pub_key"),
    ({"address": SEEDED, "sequence": -1}, "seed.accounts[0].sequence"),
    ({"address": SEEDED, "nonce": 1}, "seed.accounts[0]"),
])
def test_bad_seed_accounts_name_the_field(entry, message):
    with pytest.raises(SeedError) as info:
        ChainState({"accounts": [entry]})
    assert str(info.value).startswith(message)


# ----------------------------------------------------------------------------- fleetctl preflight


def test_preflight_reads_the_accounts_from_the_standin(tmp_path):
    """The inventory of tests/integration/test_preflight_standin.py, with fleet.yml's rest_url the
    stand-in itself (no proxy serving the accounts): the account checks are read, not UNKNOWN."""
    staked_ok, keyless, unstaked, nobody = (lab_address(f"pf-acct-{n}") for n in ("ok", "keyless", "new", "none"))
    backend, fillers = balancer_port()
    served = {"service_id": "eth", "endpoints": [{"url": "http://127.0.0.1:8500", "rpc_type": "JSON_RPC"}]}
    state = {
        "chain_id": CHAIN_ID, "height": 1_000,
        "shannon": {"suppliers": [{"operator_address": a, "owner_address": OWNER, "stake_upokt": 60_000 * POKT,
                                   "services": [served], "activation_height": 1} for a in (staked_ok, keyless)]},
        "balances": {staked_ok: 1_000 * POKT, keyless: 1_000 * POKT, unstaked: 100_000 * POKT},
        "accounts": [{"address": keyless, "pub_key": False}],
    }
    standin = PocketStandin(state, comet_addr=("127.0.0.1", 0)).start()
    try:
        root = tmp_path / "inv"
        root.mkdir()
        three = {"clients": ["geth", "nethermind", "erigon"], "replicas": 3}
        chains: dict[str, Any] = {f"filler{i}": dict(three) for i in range(fillers)}
        chains["eth"] = dict(three)
        (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"local-h1": {
            "ansible_host": "127.0.0.1", "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "fleet_capacity": {"cpus": 64, "memory_gb": 512, "disk_gb": 100000}}}}}))
        names = {staked_ok: "ok", keyless: "keyless", unstaked: "new", nobody: "none"}
        (root / "fleet.yml").write_text(yaml.safe_dump({
            "protocol": "shannon",
            "pocket": {"rest_url": standin.shannon_url,
                       "node_rpc_url": standin.comet_url.replace("http://", "tcp://"), "chain_id": CHAIN_ID},
            "chains": chains,
            "suppliers": [{"name": n, "operator_address": a, "owner_address": OWNER, "services": ["eth"],
                           "host": "local-h1"} for a, n in names.items()],
            "stake": {"warning_margin": "10%", "critical_margin": "2%"},
        }, sort_keys=False))
        proc = run_cli("preflight", "-i", str(root), "-o", "json", "--timeout", "2",
                       env={"PYTHONPATH": str(REPO), "FLEETCTL_CACHE_DIR": str(tmp_path / "cache"),
                            "FLEETCTL_STATE_DIR": str(tmp_path / "state")}, timeout=120)
        report = json.loads(proc.stdout)
    finally:
        backend.stop()
        standin.stop()
    problems = {(p["suppliers"][0], p["field"]): (p["level"], p["message"]) for p in report["problems"]}
    assert not [p for p in report["problems"] if p["level"] == "UNKNOWN"], report["problems"]
    assert not [k for k in problems if k[0] == "ok"], problems          # staked, signed, funded: OK
    assert problems[("keyless", "account.pub_key")][0] == "SANCTION"    # staked, never signed
    assert "no public key" in problems[("keyless", "account.pub_key")][1]
    assert not [k for k in problems if k == ("new", "account") or k == ("new", "account.pub_key")]
    assert problems[("none", "account")][0] == "WARNING"                 # not staked, no account yet
    assert "does not exist on chain" in problems[("none", "account")][1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
