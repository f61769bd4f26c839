"""Integration tests of the Pocket Network stand-in (lab/fleetlab/standin/).

Each test starts its own stand-in on 127.0.0.1 (ports chosen by the OS) and talks to it over
HTTP. Response shapes are checked against the official specs (``poktroll-openapi.yml``,
``pocket-core-rpc-spec.yaml``, read from ``$POCKET_SPEC_DIR``, by default ``shared/pocket``
beside the repository): every key of a response must be a property of the schema the spec
references for that route, and every property of that schema must be present, with the spec's
types and encodings.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml

from fleetlab.standin import (
    MAINNET_MORSE_PARAMS,
    MAINNET_SHANNON_PARAMS,
    ChainState,
    PocketStandin,
    SeedError,
    StandinControl,
    StandinControlError,
    lab_address,
    lab_block_hash,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(os.environ.get("POCKET_SPEC_DIR", REPO_ROOT.parent / "shared" / "pocket"))

OWNER = lab_address("owner")
APP = lab_address("application")
LONELY_APP = lab_address("lonely-application")
SUPPLIERS = [lab_address(f"supplier-{i}") for i in range(8)]
NODES = [hashlib.sha256(f"morse-node-{i}".encode()).hexdigest()[:40] for i in range(5)]
OUTPUT = hashlib.sha256(b"morse-output").hexdigest()[:40]
STAKE = 60_000_000_000


def make_seed(**overrides: Any) -> dict[str, Any]:
    """Eight suppliers (even ones also serve "eth"), two apps, five Morse nodes."""
    seed: dict[str, Any] = {
        "chain_id": "pocket-lab-test",
        "height": 1005,
        "shannon": {
            "params": {"session": {"num_suppliers_per_session": 3},
                       "shared": {"num_blocks_per_session": 10,
                                  "supplier_unbonding_period_sessions": 2}},
            "suppliers": [
                {"operator_address": address, "owner_address": OWNER, "stake_upokt": STAKE + i,
                 "services": ["anvil"] + (["eth"] if i % 2 == 0 else [])}
                for i, address in enumerate(SUPPLIERS)
            ],
            "applications": [{"address": APP, "services": ["anvil", "eth"]},
                             {"address": LONELY_APP, "services": ["lonely"]}],
        },
        "morse": {"nodes": [
            {"address": NODES[0], "chains": ["0001", "0021"]},
            {"address": NODES[1], "chains": ["0001"], "jailed": True},
            {"address": NODES[2], "chains": ["0001"], "status": 1,
             "unstaking_time": "2999-01-01T00:00:00Z"},
            {"address": NODES[3], "chains": ["0021"]},
            {"address": NODES[4], "chains": ["0001"], "output_address": OUTPUT},
        ]},
        "balances": {OWNER: 1234, NODES[0]: 99},
    }
    seed.update(overrides)
    return seed


@pytest.fixture()
def standin() -> Iterator[PocketStandin]:
    with PocketStandin(make_seed()) as server:
        yield server


# --------------------------------------------------------------------------- HTTP helpers


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(base_url: str, method: str, path: str, body: Any = None, *,
         raw: bytes | None = None, timeout: float = 5.0) -> Response:
    """One request on a fresh connection to the stand-in (loopback only)."""
    parts = urlsplit(base_url)
    assert parts.hostname == "127.0.0.1"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        connection.request(method, path, body=data,
                           headers={"Content-Type": "application/json"} if data is not None else {})
        response = connection.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()},
                        response.read())
    finally:
        connection.close()


def get(standin: PocketStandin, path: str) -> Response:
    return call(standin.shannon_url, "GET", path)


def morse(standin: PocketStandin, path: str, body: Any = None, **kwargs: Any) -> Response:
    return call(standin.morse_url, "POST", path, body if body is not None else {}, **kwargs)


def supplier_path(address: str) -> str:
    return f"/pokt-network/poktroll/supplier/supplier/{address}"


def session_path(app: str, service: str, height: int | str = 0) -> str:
    return (f"/pokt-network/poktroll/session/get_session?application_address={app}"
            f"&service_id={service}&block_height={height}")


# --------------------------------------------------------------------------- spec checking


class SpecChecker:
    """Checks a JSON value against a Swagger 2 / OpenAPI 3 schema of the spec.

    Objects may only hold declared properties (plus ``extra`` per schema name, for documented
    additions newer than the spec) and must hold all of them; ``int64``/``uint64`` strings must
    be decimal, ``byte`` strings base64, enums one of their values. ``amino`` accepts the
    decimal strings amino JSON uses where the spec says integer.
    """

    def __init__(self, spec: dict[str, Any], *, extra: dict[str, set[str]] | None = None,
                 amino: frozenset[str] = frozenset()) -> None:
        self.spec = spec
        self.extra = extra or {}
        self.amino = amino

    def schema(self, ref: str) -> dict[str, Any]:
        node: Any = self.spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def check(self, value: Any, schema: dict[str, Any], where: str = "$",
              name: str = "") -> None:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.schema(schema["$ref"])
        kind = schema.get("type", "object" if "properties" in schema else None)
        if value is None:
            # Unset messages are null; so are nil ``bytes`` (jsonpb: ``"next_key": null``).
            assert kind == "object" or schema.get("format") == "byte", \
                f"{where}: null where the spec has {kind}"
            return
        if kind == "object":
            assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
            props = schema.get("properties")
            if props is None:
                extra_schema = schema.get("additionalProperties")
                for key, item in value.items():
                    if isinstance(extra_schema, dict) and extra_schema:
                        self.check(item, extra_schema, f"{where}.{key}")
                return
            unknown = set(value) - set(props) - self.extra.get(name, set())
            assert not unknown, f"{where} ({name}): keys not in the spec: {sorted(unknown)}"
            missing = set(props) - set(value)
            assert not missing, f"{where} ({name}): spec properties missing: {sorted(missing)}"
            for key, item in value.items():
                if key in props:
                    self.check(item, props[key], f"{where}.{key}", name)
        elif kind == "array":
            assert isinstance(value, list), f"{where}: expected an array, got {value!r}"
            for i, item in enumerate(value):
                self.check(item, schema["items"], f"{where}[{i}]")
        elif kind == "string":
            assert isinstance(value, str), f"{where}: expected a string, got {value!r}"
            fmt = schema.get("format")
            if fmt in ("int64", "uint64"):
                assert re.fullmatch(r"-?\d+", value), f"{where}: {value!r} is not a {fmt} string"
            if fmt == "byte" and value:
                base64.b64decode(value, validate=True)
            if "enum" in schema:
                assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
        elif kind == "integer":
            if name in self.amino and isinstance(value, str):
                assert re.fullmatch(r"-?\d+(\.\d+)?", value), f"{where}: {value!r} not numeric"
            else:
                assert isinstance(value, int) and not isinstance(value, bool), \
                    f"{where}: expected an integer, got {value!r}"
        elif kind == "number":
            assert isinstance(value, (int, float)) and not isinstance(value, bool), \
                f"{where}: expected a number, got {value!r}"
        elif kind == "boolean":
            assert isinstance(value, bool), f"{where}: expected a boolean, got {value!r}"

    def check_ref(self, value: Any, ref: str) -> None:
        self.check(value, {"$ref": ref})


def _load_spec(name: str) -> dict[str, Any]:
    path = SPEC_DIR / name
    if not path.is_file():
        pytest.skip(f"spec file {path} not available")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shannon_spec() -> dict[str, Any]:
    return _load_spec("poktroll-openapi.yml")


@pytest.fixture(scope="module")
def morse_spec() -> dict[str, Any]:
    return _load_spec("pocket-core-rpc-spec.yaml")


@pytest.fixture(scope="module")
def shannon_checker(shannon_spec: dict[str, Any]) -> SpecChecker:
    return SpecChecker(shannon_spec)


@pytest.fixture(scope="module")
def morse_checker(morse_spec: dict[str, Any]) -> SpecChecker:
    # Documented additions newer than the 2022 spec (pocket-core staging JSONValidator and the
    # genesis param set), and amino's string encoding of the node params the spec calls integers.
    return SpecChecker(
        morse_spec,
        extra={"Node": {"output_address", "reward_delegators"},
               "NodeParams": {"relays_to_tokens_multiplier", "maximum_chains",
                              "max_jailed_blocks"}},
        amino=frozenset({"NodeParams"}),
    )


def response_ref(spec: dict[str, Any], path: str, *, method: str = "get",
                 status: str = "200") -> str:
    """The ``$ref`` a spec declares for ``path``'s response (Swagger 2 or OpenAPI 3)."""
    response = spec["paths"][path][method]["responses"][status]
    schema = response.get("schema") or response["content"]["application/json"]["schema"]
    return schema["$ref"]


# --------------------------------------------------------------------------- Shannon routes


def test_supplier_matches_spec(standin: PocketStandin, shannon_spec: dict[str, Any],
                               shannon_checker: SpecChecker) -> None:
    response = get(standin, supplier_path(SUPPLIERS[0]))
    assert response.status == 200
    assert response.headers["grpc-metadata-x-cosmos-block-height"] == "1005"
    body = response.json()
    shannon_checker.check_ref(body, response_ref(
        shannon_spec, "/pokt-network/poktroll/supplier/supplier/{operator_address}"))
    supplier = body["supplier"]
    assert supplier["operator_address"] == SUPPLIERS[0]
    assert supplier["owner_address"] == OWNER
    assert supplier["stake"] == {"denom": "upokt", "amount": str(STAKE)}
    assert supplier["unstake_session_end_height"] == "0"
    assert [s["service_id"] for s in supplier["services"]] == ["anvil", "eth"]
    assert supplier["services"][0]["endpoints"][0]["rpc_type"] == "JSON_RPC"
    assert supplier["services"][0]["rev_share"] == [
        {"address": OWNER, "rev_share_percentage": "100"}]
    assert [(u["activation_height"], u["deactivation_height"])
            for u in supplier["service_config_history"]] == [("1", "0"), ("1", "0")]

    dehydrated = get(standin, supplier_path(SUPPLIERS[0]) + "?dehydrated=true").json()["supplier"]
    assert dehydrated["service_config_history"] == []
    assert all(s["rev_share"] == [] for s in dehydrated["services"])


def test_unknown_supplier_is_grpc_not_found(standin: PocketStandin, shannon_spec: dict[str, Any],
                                            shannon_checker: SpecChecker) -> None:
    missing = lab_address("nobody")
    response = get(standin, supplier_path(missing))
    assert response.status == 404
    body = response.json()
    shannon_checker.check_ref(body, "#/definitions/google.rpc.Status")
    assert body == {"code": 5, "details": [],
                    "message": f'supplier with operator address: "{missing}": supplier not found'}


def test_unknown_route_and_wrong_method(standin: PocketStandin) -> None:
    response = get(standin, "/pokt-network/poktroll/supplier/nothing")
    assert (response.status, response.json()) == (
        501, {"code": 12, "message": "Not Implemented", "details": []})
    response = call(standin.shannon_url, "POST", supplier_path(SUPPLIERS[0]), {})
    assert (response.status, response.json()) == (
        501, {"code": 12, "message": "Method Not Allowed", "details": []})


def test_supplier_list_pagination(standin: PocketStandin, shannon_spec: dict[str, Any],
                                  shannon_checker: SpecChecker) -> None:
    base = "/pokt-network/poktroll/supplier/supplier"
    ref = response_ref(shannon_spec, base)
    everything = get(standin, base).json()
    shannon_checker.check_ref(everything, ref)
    ordered = sorted(SUPPLIERS)
    assert [s["operator_address"] for s in everything["supplier"]] == ordered
    assert everything["pagination"] == {"next_key": None, "total": "8"}

    seen, key, pages = [], None, 0
    while True:
        query = "?pagination.limit=3" + (f"&pagination.key={quote(key, safe='')}" if key else "")
        page = get(standin, base + query).json()
        shannon_checker.check_ref(page, ref)
        seen += [s["operator_address"] for s in page["supplier"]]
        pages += 1
        # total is counted neither on the key path nor without count_total
        assert page["pagination"]["total"] == "0"
        key = page["pagination"]["next_key"]
        if key is None:
            break
        assert base64.b64decode(key) == f"{ordered[len(seen)]}/".encode()
    assert (seen, pages) == (ordered, 3)

    counted = get(standin, base + "?pagination.limit=3&pagination.count_total=true").json()
    assert counted["pagination"]["total"] == "8"
    offset = get(standin, base + "?pagination.offset=6&pagination.limit=3").json()
    assert [s["operator_address"] for s in offset["supplier"]] == ordered[6:]
    assert offset["pagination"]["next_key"] is None
    backwards = get(standin, base + "?pagination.reverse=true&pagination.limit=2").json()
    assert [s["operator_address"] for s in backwards["supplier"]] == ordered[::-1][:2]

    eth = get(standin, base + "?service_id=eth").json()
    assert {s["operator_address"] for s in eth["supplier"]} == set(SUPPLIERS[::2])
    by_owner = get(standin, base + f"?owner_address={OWNER}&service_id=anvil").json()
    assert len(by_owner["supplier"]) == 8
    single = get(standin, base + f"?operator_address={SUPPLIERS[3]}").json()
    shannon_checker.check_ref(single, ref)
    assert [s["operator_address"] for s in single["supplier"]] == [SUPPLIERS[3]]
    assert single["pagination"] is None

    bad_service = get(standin, base + "?service_id=no%20such!")
    assert bad_service.status == 400 and bad_service.json()["code"] == 3
    assert "invalid service ID" in bad_service.json()["message"]
    bad_owner = get(standin, base + "?owner_address=pokt1nope")
    assert bad_owner.status == 400 and "invalid owner address" in bad_owner.json()["message"]
    both = get(standin, base + "?pagination.offset=1&pagination.key=YQ==")
    assert both.status == 500 and both.json()["code"] == 13
    bad_limit = get(standin, base + "?pagination.limit=abc")
    assert (bad_limit.status, bad_limit.json()["message"]) == (
        400, 'strconv.ParseUint: parsing "abc": invalid syntax')


def _bulk_params(module: str) -> dict[str, Any]:
    path = SPEC_DIR / "poktroll-bulk_params_main" / f"{module}_params.json"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return json.loads(path.read_text())["body"]["messages"][0]["params"]


@pytest.mark.parametrize("module", sorted(MAINNET_SHANNON_PARAMS))
def test_params_match_spec_and_mainnet(module: str, shannon_spec: dict[str, Any],
                                       shannon_checker: SpecChecker) -> None:
    with PocketStandin({}) as standin:
        path = f"/pokt-network/poktroll/{module}/params"
        body = get(standin, path).json()
    shannon_checker.check_ref(body, response_ref(shannon_spec, path))
    for name, value in _bulk_params(module).items():
        assert body["params"][name] == value, f"{module}.{name}"


def expected_session(app: str, service: str, height: int, blocks_per_session: int,
                     candidates: list[str], wanted: int) -> tuple[str, int, list[str]]:
    """(session id, start height, suppliers) as FACTS.md describes Shannon's selection.

    The weight is Go's ``int(binary.BigEndian.Uint64(hash[:8]))``: a signed int64.
    """
    start = (height - 1) // blocks_per_session * blocks_per_session + 1
    id_bytes = b".".join([lab_block_hash(start), service.encode(), app.encode(),
                          struct.pack("<Q", start)])
    session_id = hashlib.sha3_256(id_bytes).hexdigest()
    if len(candidates) < wanted:
        return session_id, start, sorted(candidates)

    def weight(operator: str) -> tuple[int, str]:
        digest = hashlib.sha3_256(id_bytes + b"." + operator.encode()).digest()
        return struct.unpack(">q", digest[:8])[0], operator

    return session_id, start, sorted(candidates, key=weight)[:wanted]


def test_session_selection(standin: PocketStandin, shannon_spec: dict[str, Any],
                           shannon_checker: SpecChecker) -> None:
    ref = response_ref(shannon_spec, "/pokt-network/poktroll/session/get_session")
    for service, candidates in (("anvil", SUPPLIERS), ("eth", SUPPLIERS[::2])):
        for height in (0, 1001, 994):
            response = get(standin, session_path(APP, service, height))
            assert response.status == 200, response.body
            body = response.json()
            shannon_checker.check_ref(body, ref)
            session = body["session"]
            at = height or 1005
            session_id, start, chosen = expected_session(APP, service, at, 10, candidates, 3)
            assert session["header"] == {
                "application_address": APP, "service_id": service, "session_id": session_id,
                "session_start_block_height": str(start),
                "session_end_block_height": str(start + 9)}
            assert session["session_id"] == session_id
            assert session["session_number"] == str((at - 1) // 10 + 1)
            assert session["num_blocks_per_session"] == "10"
            assert session["application"]["address"] == APP
            assert [s["operator_address"] for s in session["suppliers"]] == chosen
            for supplier in session["suppliers"]:
                assert [s["service_id"] for s in supplier["services"]] == [service]
                assert supplier["service_config_history"] == []

    # Fewer candidates than num_suppliers_per_session: all of them, in store order.
    standin.control.set_shannon_params("session", {"num_suppliers_per_session": 50})
    everyone = get(standin, session_path(APP, "anvil")).json()["session"]["suppliers"]
    assert [s["operator_address"] for s in everyone] == sorted(SUPPLIERS)


def test_session_errors(standin: PocketStandin, shannon_checker: SpecChecker) -> None:
    stranger = lab_address("unstaked-application")
    cases = [
        (session_path(stranger, "anvil"), 500, 13, "application for session not found"),
        (session_path(APP, "other"), 500, 13, "not staked for requested service"),
        (session_path(LONELY_APP, "lonely"), 500, 13, "no suppliers not found for session"),
        (session_path(APP, "anvil", 5000), 500, 13, "is ahead of the last committed block height"),
        (session_path("pokt1invalid", "anvil"), 400, 3, "invalid application address for session"),
        (session_path(APP, "bad%20id!"), 400, 3, "contains invalid characters"),
        (session_path(APP, "anvil", "soon"), 400, 3, 'strconv.ParseInt: parsing "soon"'),
        (session_path(APP, "anvil", -1), 400, 3, "invalid block height for session"),
    ]
    for path, status, code, fragment in cases:
        response = get(standin, path)
        body = response.json()
        shannon_checker.check_ref(body, "#/definitions/google.rpc.Status")
        assert (response.status, body["code"]) == (status, code), (path, body)
        assert fragment in body["message"], (path, body)


def test_latest_block_and_bank(standin: PocketStandin) -> None:
    block = get(standin, "/cosmos/base/tendermint/v1beta1/blocks/latest").json()
    assert base64.b64decode(block["block_id"]["hash"]) == lab_block_hash(1005)
    for view in ("block", "sdk_block"):
        header = block[view]["header"]
        assert header["chain_id"] == "pocket-lab-test"
        assert header["height"] == "1005"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", header["time"])
        assert base64.b64decode(header["last_block_id"]["hash"]) == lab_block_hash(1004)
    assert block["sdk_block"]["header"]["proposer_address"].startswith("poktvalcons1")

    balances = get(standin, f"/cosmos/bank/v1beta1/balances/{OWNER}").json()
    assert balances == {"balances": [{"denom": "upokt", "amount": "1234"}],
                        "pagination": {"next_key": None, "total": "1"}}
    assert get(standin, f"/cosmos/bank/v1beta1/balances/{APP}").json() == {
        "balances": [], "pagination": {"next_key": None, "total": "0"}}
    by_denom = get(standin, f"/cosmos/bank/v1beta1/balances/{OWNER}/by_denom?denom=upokt")
    assert by_denom.json() == {"balance": {"denom": "upokt", "amount": "1234"}}
    other = get(standin, f"/cosmos/bank/v1beta1/balances/{OWNER}/by_denom?denom=uatom").json()
    assert other == {"balance": {"denom": "uatom", "amount": "0"}}
    no_denom = get(standin, f"/cosmos/bank/v1beta1/balances/{OWNER}/by_denom")
    assert (no_denom.status, no_denom.json()["code"]) == (400, 3)
    bad = get(standin, "/cosmos/bank/v1beta1/balances/pokt1zzzzzzzzzz")
    assert bad.status == 400
    assert bad.json()["message"].startswith("invalid address: decoding bech32 failed")
    standin.control.set_balance(APP, 77)
    assert get(standin, f"/cosmos/bank/v1beta1/balances/{APP}").json()["balances"] == [
        {"denom": "upokt", "amount": "77"}]


def test_slash_unbonding_then_gone(standin: PocketStandin) -> None:
    control = standin.control
    target = SUPPLIERS[0]  # stake 60 000 POKT; mainnet min_stake 59 500 POKT
    answer = call(standin.shannon_url, "POST", "/__lab/shannon/slash",
                  {"operator_address": target, "amount_upokt": 1_000_000_000}).json()
    assert answer["events"] == [{
        "type": "pocket.supplier.EventSupplierUnbondingBegin",
        "reason": "SUPPLIER_UNBONDING_REASON_BELOW_MIN_STAKE",
        "session_end_height": "1010", "unbonding_end_height": "1010"}]
    slashed = answer["supplier"]
    assert slashed["stake"]["amount"] == str(STAKE - 1_000_000_000)
    assert slashed["unstake_session_end_height"] == "1010"  # end of the session holding 1005
    assert [s["service_id"] for s in slashed["services"]] == ["anvil", "eth"]  # until 1010
    assert {u["deactivation_height"] for u in slashed["service_config_history"]} == {"1010"}
    assert get(standin, supplier_path(target)).json()["supplier"] == slashed

    control.set_height(1010)
    unbonding = get(standin, supplier_path(target)).json()["supplier"]
    assert unbonding["services"] == [] and unbonding["unstake_session_end_height"] == "1010"
    standin.control.set_shannon_params("session", {"num_suppliers_per_session": 50})
    session = get(standin, session_path(APP, "anvil")).json()["session"]
    assert target not in {s["operator_address"] for s in session["suppliers"]}
    listed = get(standin, "/pokt-network/poktroll/supplier/supplier?service_id=anvil").json()
    assert target not in {s["operator_address"] for s in listed["supplier"]}

    control.set_height(1029)  # unbonding ends at 1010 + 2 sessions * 10 blocks = 1030
    assert get(standin, supplier_path(target)).status == 200
    control.set_height(1030)
    assert get(standin, supplier_path(target)).status == 404
    assert control.state()["balances"][OWNER] == 1234 + STAKE - 1_000_000_000


def test_slash_above_min_stake_stays_staked(standin: PocketStandin) -> None:
    answer = call(standin.shannon_url, "POST", "/__lab/shannon/slash",
                  {"operator_address": SUPPLIERS[7], "amount_upokt": 1}).json()
    assert answer["events"] == []
    kept = answer["supplier"]
    assert kept["stake"]["amount"] == str(STAKE + 7 - 1)
    assert kept["unstake_session_end_height"] == "0"
    with pytest.raises(StandinControlError) as missing:
        standin.control.slash_supplier(lab_address("nobody"), 1)
    assert missing.value.status == 404


def test_params_change_and_remove(standin: PocketStandin, shannon_spec: dict[str, Any],
                                  shannon_checker: SpecChecker) -> None:
    control = standin.control
    path = "/pokt-network/poktroll/supplier/params"
    changed = control.set_shannon_params("supplier", {"min_stake": 100})
    assert changed["min_stake"] == {"denom": "upokt", "amount": "100"}
    body = get(standin, path).json()
    shannon_checker.check_ref(body, response_ref(shannon_spec, path))
    assert body["params"]["min_stake"] == {"denom": "upokt", "amount": "100"}

    control.set_shannon_params("supplier", remove=["min_stake"])
    assert get(standin, path).json() == {"params": {"staking_fee": {"denom": "upokt",
                                                                   "amount": "1"}}}
    # Without min_stake the keeper's default (1 POKT) decides the auto-unstake.
    assert control.slash_supplier(SUPPLIERS[1], STAKE)["unstake_session_end_height"] == "1010"

    control.set_shannon_params("shared", {"num_blocks_per_session": 4})
    session = get(standin, session_path(APP, "anvil")).json()["session"]
    assert (session["num_blocks_per_session"], session["header"]["session_start_block_height"]) \
        == ("4", "1005")
    with pytest.raises(StandinControlError) as unknown:
        control.set_shannon_params("nonsense", {"x": 1})
    assert unknown.value.status == 400
    with pytest.raises(StandinControlError):
        control.set_shannon_params("supplier", {"staking_fee": "lots"})


def test_supplier_and_application_upsert(standin: PocketStandin) -> None:
    control = standin.control
    newcomer = lab_address("newcomer")
    created = control.upsert_supplier({
        "operator_address": newcomer, "owner_address": OWNER, "stake_upokt": 70_000_000_000,
        "services": [{"service_id": "anvil",
                      "endpoints": [{"url": "https://rm.example.invalid", "rpc_type": "REST",
                                     "configs": [{"key": "TIMEOUT", "value": "30s"}]}],
                      "rev_share": [{"address": OWNER, "rev_share_percentage": 60},
                                    {"address": newcomer, "rev_share_percentage": 40}]}]})
    assert created["service_config_history"][0]["activation_height"] == "1005"
    assert created["services"][0]["endpoints"][0] == {
        "url": "https://rm.example.invalid", "rpc_type": "REST",
        "configs": [{"key": "TIMEOUT", "value": "30s"}]}
    assert get(standin, supplier_path(newcomer)).json()["supplier"] == created
    control.delete_supplier(newcomer)
    assert get(standin, supplier_path(newcomer)).status == 404
    with pytest.raises(StandinControlError):
        control.upsert_supplier({"operator_address": newcomer, "services": ["bad id!"]})

    app = control.upsert_application({"address": lab_address("app-2"), "services": ["anvil"]})
    assert app["stake"] == {"denom": "upokt", "amount": "1000000000"}
    assert get(standin, session_path(app["address"], "anvil")).status == 200
    control.delete_application(app["address"])
    assert get(standin, session_path(app["address"], "anvil")).status == 500


# --------------------------------------------------------------------------- Morse routes


def test_morse_routes_match_spec(standin: PocketStandin, morse_spec: dict[str, Any],
                                 morse_checker: SpecChecker) -> None:
    routes = {
        "/v1/query/height": ({}, "/query/height"),
        "/v1/query/node": ({"address": NODES[4], "height": 0}, "/query/node"),
        "/v1/query/nodes": ({"opts": {"page": 1, "per_page": 10}, "height": 0}, "/query/nodes"),
        "/v1/query/nodeparams": ({"height": 0}, "/query/nodeparams"),
        "/v1/query/signinginfo": ({"height": 0, "address": NODES[0], "page": 1, "per_page": 1},
                                  "/query/signinginfo"),
        "/v1/query/balance": ({"address": NODES[0], "height": 0}, "/query/balance"),
        "/v1/query/allparams": ({"height": 0}, "/query/allParams"),
        "/v1/query/supportedchains": ({"height": 0}, "/query/supportedchains"),
        "/v1/query/supply": ({"height": 0}, "/query/supply"),
    }
    for path, (payload, spec_path) in routes.items():
        response = morse(standin, path, payload)
        assert response.status == 200, (path, response.body)
        assert response.headers["content-type"].startswith("application/json")
        morse_checker.check_ref(response.json(), response_ref(morse_spec, spec_path, method="post"))

    assert morse(standin, "/v1/query/height").json() == {"height": 1005}
    node = morse(standin, "/v1/query/node", {"address": NODES[4].upper()}).json()
    assert node == {
        "address": NODES[4], "public_key": node["public_key"], "jailed": False, "status": 2,
        "chains": ["0001"], "service_url": node["service_url"], "tokens": "15000000000",
        "unstaking_time": "0001-01-01T00:00:00Z", "output_address": OUTPUT,
        "reward_delegators": None}
    assert re.fullmatch(r"[0-9a-f]{64}", node["public_key"])
    assert morse(standin, "/v1/query/balance", {"address": NODES[0]}).json() == {"balance": 99}
    assert morse(standin, "/v1/query/balance", {"address": NODES[3]}).json() == {"balance": 0}
    assert morse(standin, "/v1/query/supportedchains").json() == {
        "supported_chains": ["0001", "0021"]}
    info = morse(standin, "/v1/query/signinginfo", {"address": NODES[0]}).json()
    assert info == {"result": [{"address": NODES[0], "start_height": 0, "index_offset": 0,
                                "jailed_until": "0001-01-01T00:00:00Z",
                                "missed_blocks_counter": 0, "jailed_blocks_counter": 0}],
                    "total_pages": 1, "page": 1}
    unknown = morse(standin, "/v1/query/signinginfo", {"address": "ab" * 20}).json()
    assert unknown == {"result": None, "total_pages": 0, "page": 0}
    supply = morse(standin, "/v1/query/supply").json()
    assert supply["total"] == supply["total_staked"] + supply["total_unstaked"]
    assert supply["total_staked"] == supply["node_staked"] + supply["app_staked"] + supply["dao"]
    assert supply["node_staked"] >= 15_000_000_000 and supply["total_unstaked"] >= 99


def _genesis() -> dict[str, Any]:
    path = SPEC_DIR / "pocket-core-mainnet-genesis-from-app-genesis.go.json"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return json.loads(path.read_text())["app_state"]


def test_morse_params_are_mainnet_genesis(standin: PocketStandin) -> None:
    genesis = _genesis()
    node_params = morse(standin, "/v1/query/nodeparams", {"height": 0}).json()
    assert set(node_params) == set(genesis["pos"]["params"])
    for name, value in genesis["pos"]["params"].items():
        if "." in value:  # sdk.BigDec: amino writes 18 decimal places
            assert Decimal(node_params[name]) == Decimal(value)
            assert re.fullmatch(r"\d+\.\d{18}", node_params[name])
        else:
            assert node_params[name] == value, name
    for module in ("pocketcore", "application", "auth"):
        assert MAINNET_MORSE_PARAMS[module] == genesis[module]["params"]
    gov = genesis["gov"]["params"]
    assert MAINNET_MORSE_PARAMS["gov"] == {"acl": gov["acl"], "dao_owner": gov["dao_owner"],
                                           "upgrade": gov["upgrade"]}
    all_params = morse(standin, "/v1/query/allparams").json()
    values = {p["param_key"]: p["param_value"]
              for group in all_params.values() for p in group}
    assert values["pos/StakeMinimum"] == "15000000000"
    assert values["pos/BlocksPerSession"] == "4"
    assert values["pocketcore/SupportedBlockchains"] == '["0001","0021"]'
    assert values["application/ParticipationRateOn"] == "false"
    assert values["gov/daoOwner"] == gov["dao_owner"]
    assert json.loads(values["gov/acl"])["type"] == "gov/non_map_acl"
    assert values["auth/FeeMultipliers"] == '{"fee_multiplier":[],"default":"1"}'


def test_morse_nodes_filters_and_pagination(standin: PocketStandin) -> None:
    def addresses(opts: dict[str, Any]) -> list[str]:
        result = morse(standin, "/v1/query/nodes", {"opts": opts}).json()["result"]
        return [n["address"] for n in result or []]

    ordered = sorted(NODES)
    assert addresses({}) == ordered
    assert addresses({"staking_status": 2}) == sorted(set(NODES) - {NODES[2]})
    assert addresses({"jailed_status": 1}) == [NODES[1]]
    assert addresses({"jailed_status": 2}) == sorted(set(NODES) - {NODES[1]})
    assert addresses({"blockchain": "0021"}) == sorted([NODES[0], NODES[3]])
    pages = [morse(standin, "/v1/query/nodes", {"opts": {"page": p, "per_page": 2}}).json()
             for p in (1, 2, 3, 4)]
    assert [[n["address"] for n in page["result"] or []] for page in pages] == [
        ordered[:2], ordered[2:4], ordered[4:], []]
    # pocket-core's total_pages divides by the size of *this* page: 5/2 → 3, 5/1 → 5.
    assert [(page["page"], page["total_pages"]) for page in pages] == [(1, 3), (2, 3), (3, 5),
                                                                      (0, 0)]
    raw = morse(standin, "/v1/query/nodes", {"opts": {"per_page": 1}}).body
    assert raw.startswith(b'{"result":[{"address":') and not raw.endswith(b"\n")


def test_morse_errors(standin: PocketStandin) -> None:
    cases = [
        ({"address": "ab" * 20}, f"validator not found for {'ab' * 20}"),
        ({"address": "0x" + "ab" * 19}, "encoding/hex: invalid byte: U+0078 'x'"),
        ({"address": "abc"}, "encoding/hex: odd length hex string"),
        ({"address": "abcd"}, "Incorrect address length"),
        ({"address": NODES[0], "height": "latest"},
         "json: cannot unmarshal string into Go struct field HeightAndAddrParams.height "
         "of type int64"),
        ({"address": NODES[0], "height": 1.5},
         "json: cannot unmarshal number 1.5 into Go struct field HeightAndAddrParams.height "
         "of type int64"),
    ]
    for payload, message in cases:
        response = morse(standin, "/v1/query/node", payload)
        assert response.status == 400
        assert response.json() == {"code": 400, "message": message}
    assert morse(standin, "/v1/query/node", raw=b"{").json()["message"] == \
        "unexpected end of JSON input"
    assert morse(standin, "/v1/query/node", raw=b"nope").json()["message"] == \
        "invalid character 'n' looking for beginning of value"
    assert morse(standin, "/v1/query/nodes", raw=b'{"opts": {"page": "1"}}').json()["message"] \
        == ("json: cannot unmarshal string into Go struct field "
            "HeightAndValidatorOptsParams.opts.page of type int")
    assert morse(standin, "/v1/query/height", raw=b"").status == 200

    not_found = morse(standin, "/v1/query/nothing")
    assert (not_found.status, not_found.body) == (404, b"404 page not found\n")
    wrong_method = call(standin.morse_url, "GET", "/v1/query/height")
    assert (wrong_method.status, wrong_method.body) == (405, b"Method Not Allowed\n")
    redirect = morse(standin, "/v1/query/allParams")
    assert (redirect.status, redirect.headers["location"]) == (308, "/v1/query/allparams")
    assert call(standin.morse_url, "GET", "/v1").json() == "RC-0.12.0"


def test_morse_jail_slash_and_unstake(standin: PocketStandin) -> None:
    control = standin.control
    jailed = control.jail_morse_node(NODES[0], jailed_until="2030-01-02T03:04:05.5Z",
                                     jailed_blocks_counter=5, missed_blocks_counter=7)
    assert jailed["jailed"] is True and jailed["status"] == 2
    info = morse(standin, "/v1/query/signinginfo", {"address": NODES[0]}).json()["result"][0]
    assert (info["jailed_until"], info["jailed_blocks_counter"], info["missed_blocks_counter"]) \
        == ("2030-01-02T03:04:05.5Z", 5, 7)
    assert control.jail_morse_node(NODES[0], False)["jailed"] is False
    info = morse(standin, "/v1/query/signinginfo", {"address": NODES[0]}).json()["result"][0]
    assert (info["jailed_blocks_counter"], info["missed_blocks_counter"]) == (0, 0)

    too_long = control.jail_morse_node(NODES[3], jailed_blocks_counter=37961)
    assert (too_long["status"], too_long["jailed"]) == (1, True)

    before = datetime.now(UTC)
    slashed = control.slash_morse_node(NODES[0], 1)  # 15 000 POKT - 1 upokt < stake_minimum
    assert (slashed["status"], slashed["jailed"], slashed["tokens"]) == (1, True, "14999999999")
    unstaking_at = datetime.fromisoformat(slashed["unstaking_time"])
    assert unstaking_at - before > timedelta(days=20)  # mainnet unstaking_time: 21 days
    assert morse(standin, "/v1/query/node", {"address": NODES[0]}).json()["status"] == 1

    control.set_morse_params({"unstaking_time": 1})  # 1 ns: the next request finishes it
    finished = control.slash_morse_node(NODES[4], 15_000_000_000)
    time.sleep(0.01)
    node = morse(standin, "/v1/query/node", {"address": NODES[4]}).json()
    assert (node["status"], node["tokens"], node["unstaking_time"]) == (
        0, "0", "0001-01-01T00:00:00Z")
    assert finished["status"] == 1
    assert morse(standin, "/v1/query/balance", {"address": OUTPUT}).json() == {"balance": 0}
    upserted = control.upsert_morse_node({"address": NODES[4], "tokens_upokt": 20_000_000_000,
                                          "chains": ["0009"]})
    assert (upserted["status"], upserted["tokens"], upserted["chains"]) == (
        2, "20000000000", ["0009"])


def test_morse_params_change(standin: PocketStandin) -> None:
    control = standin.control
    updated = control.set_morse_params({"stake_minimum": 20_000_000_000,
                                        "slash_fraction_downtime": 0.5})
    assert (updated["stake_minimum"], updated["slash_fraction_downtime"]) == (
        "20000000000", "0.500000000000000000")
    node_params = morse(standin, "/v1/query/nodeparams").json()
    assert node_params["stake_minimum"] == "20000000000"
    control.set_morse_params(remove=["max_jailed_blocks"])
    assert "max_jailed_blocks" not in morse(standin, "/v1/query/nodeparams").json()
    control.set_morse_params({"supported_blockchains": ["0001", "0009"]}, module="pocketcore")
    assert morse(standin, "/v1/query/supportedchains").json() == {
        "supported_chains": ["0001", "0009"]}
    with pytest.raises(StandinControlError):
        control.set_morse_params({"stake_minimum": "many"})


# --------------------------------------------------------------------------- CometBFT RPC

#: ``StatusResponse`` of CometBFT v0.38's ``rpc/openapi/openapi.yaml`` (components/schemas:
#: JSONRPC, Status, NodeInfo, ProtocolVersion, SyncInfo, ValidatorInfo, PubKey), transcribed:
#: every property it declares, with its type (64-bit integers are strings in CometBFT's JSON).
COMET_STATUS_SCHEMA: dict[str, Any] = {
    "jsonrpc": str,
    "id": int,
    "result": {
        "node_info": {
            "protocol_version": {"p2p": str, "block": str, "app": str},
            "id": str, "listen_addr": str, "network": str, "version": str, "channels": str,
            "moniker": str,
            "other": {"tx_index": str, "rpc_address": str},
        },
        "sync_info": {
            "latest_block_hash": str, "latest_app_hash": str, "latest_block_height": str,
            "latest_block_time": str, "earliest_block_hash": str, "earliest_app_hash": str,
            "earliest_block_height": str, "earliest_block_time": str, "catching_up": bool,
        },
        "validator_info": {"address": str, "pub_key": {"type": str, "value": str},
                           "voting_power": str},
    },
}
#: ``ABCIInfoResponse`` of the same spec: the properties it lists as required.
COMET_ABCI_INFO_REQUIRED = ("data", "version", "app_version", "last_block_height",
                            "last_block_app_hash")
_GO_TIME_RE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")


def check_shape(value: Any, schema: Any, where: str = "$") -> None:
    """``value`` has exactly the keys of ``schema`` (a dict) or its type (bool is no int)."""
    if isinstance(schema, dict):
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
        assert set(value) == set(schema), \
            f"{where}: keys {sorted(value)} differ from the spec's {sorted(schema)}"
        for key, sub in schema.items():
            check_shape(value[key], sub, f"{where}.{key}")
    else:
        assert isinstance(value, schema) and (schema is bool or not isinstance(value, bool)), \
            f"{where}: expected {schema.__name__}, got {value!r}"


def go_time_ns(text: str) -> int:
    """Nanoseconds since the epoch of a UTC RFC 3339 time (Go or protobuf JSON)."""
    match = _GO_TIME_RE.fullmatch(text)
    assert match, f"{text!r} is not an RFC 3339 UTC time"
    moment = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + int((match[2] or "0").ljust(9, "0"))


@pytest.fixture()
def comet() -> Iterator[PocketStandin]:
    with PocketStandin(make_seed(), comet_addr=("127.0.0.1", 0)) as server:
        yield server


def comet_get(standin: PocketStandin, path: str, **kwargs: Any) -> Response:
    return call(standin.comet_url, "GET", path, **kwargs)


def comet_status(standin: PocketStandin) -> dict[str, Any]:
    response = comet_get(standin, "/status")
    assert response.status == 200, response
    body = response.json()
    check_shape(body, COMET_STATUS_SCHEMA)
    return body["result"]


def test_comet_status_matches_spec_and_chain(comet: PocketStandin) -> None:
    response = comet_get(comet, "/status")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert "cache-control" not in response.headers  # status is not cacheable (routes.go)
    body = response.json()
    check_shape(body, COMET_STATUS_SCHEMA)
    assert (body["jsonrpc"], body["id"]) == ("2.0", -1)  # URI requests carry no id

    node, sync, validator = (body["result"][k]
                             for k in ("node_info", "sync_info", "validator_info"))
    assert node["network"] == "pocket-lab-test"
    assert all(re.fullmatch(r"\d+", v) for v in node["protocol_version"].values())
    assert re.fullmatch(r"[0-9a-f]{40}", node["id"])
    assert re.fullmatch(r"0\.38\.\d+", node["version"])
    assert node["other"]["rpc_address"] == "tcp://" + comet.comet_url.removeprefix("http://")

    header = get(comet, "/cosmos/base/tendermint/v1beta1/blocks/latest").json()["block"]["header"]
    assert sync["latest_block_height"] == header["height"] == "1005"
    assert sync["latest_block_hash"] == lab_block_hash(1005).hex().upper()
    assert sync["latest_app_hash"] == base64.b64decode(header["app_hash"]).hex().upper()
    assert go_time_ns(sync["latest_block_time"]) == go_time_ns(header["time"])
    assert (sync["earliest_block_height"], sync["earliest_block_hash"]) == (
        "1", lab_block_hash(1).hex().upper())
    assert re.fullmatch(r"[0-9A-F]{64}", sync["earliest_app_hash"])
    go_time_ns(sync["earliest_block_time"])
    assert sync["catching_up"] is False
    assert morse(comet, "/v1/query/height").json() == {"height": 1005}  # one chain, one height

    assert re.fullmatch(r"[0-9A-F]{40}", validator["address"])
    assert validator["pub_key"]["type"] == "tendermint/PubKeyEd25519"
    assert len(base64.b64decode(validator["pub_key"]["value"], validate=True)) == 32
    assert validator["voting_power"] == "0"


def test_comet_health_and_abci_info(comet: PocketStandin) -> None:
    health = comet_get(comet, "/health")
    assert (health.status, health.headers["content-type"]) == (200, "application/json")
    assert health.json() == {"jsonrpc": "2.0", "id": -1, "result": {}}

    info = comet_get(comet, "/abci_info")
    assert info.status == 200
    assert info.headers["cache-control"] == "public, max-age=86400"  # rpc.Cacheable()
    body = info.json()
    assert (body["jsonrpc"], body["id"]) == ("2.0", -1)
    response = body["result"]["response"]
    # The spec lists app_version as required; CometBFT's ``omitempty`` drops it at version 0.
    assert set(response) == set(COMET_ABCI_INFO_REQUIRED) - {"app_version"}
    assert response["data"] == "pocket" and isinstance(response["version"], str)
    assert response["last_block_height"] == "1005"
    header = get(comet, "/cosmos/base/tendermint/v1beta1/blocks/latest").json()["block"]["header"]
    assert response["last_block_app_hash"] == header["app_hash"]


def test_comet_lag_and_catching_up(comet: PocketStandin) -> None:
    control = comet.control
    assert control.state()["comet"] == {"lag": 0, "catching_up": False,
                                        "max_request_batch_size": 10}
    assert control.set_comet(lag=5) == {"lag": 5, "catching_up": False,
                                        "max_request_batch_size": 10}
    sync = comet_status(comet)["sync_info"]
    assert (sync["latest_block_height"], sync["catching_up"]) == ("1000", False)
    assert sync["latest_block_hash"] == lab_block_hash(1000).hex().upper()
    network = get(comet, "/cosmos/base/tendermint/v1beta1/blocks/latest").json()
    assert network["block"]["header"]["height"] == "1005"  # the network is not behind
    assert morse(comet, "/v1/query/height").json() == {"height": 1005}
    abci = comet_get(comet, "/abci_info").json()["result"]["response"]
    assert abci["last_block_height"] == "1000"

    assert control.set_comet(catching_up=True) == {"lag": 5, "catching_up": True,
                                                   "max_request_batch_size": 10}
    assert comet_status(comet)["sync_info"]["catching_up"] is True
    control.advance(3)  # the lag is in blocks behind the chain: the node follows it
    assert comet_status(comet)["sync_info"]["latest_block_height"] == "1003"
    assert control.state()["comet"] == {"lag": 5, "catching_up": True,
                                        "max_request_batch_size": 10}

    # Lagging past genesis: an empty block store (rpc/core/status.go zero values).
    control.set_comet(lag=2000)
    sync = comet_status(comet)["sync_info"]
    assert sync == {
        "latest_block_hash": "", "latest_app_hash": "", "latest_block_height": "0",
        "latest_block_time": "1970-01-01T00:00:00Z", "earliest_block_hash": "",
        "earliest_app_hash": "", "earliest_block_height": "0",
        "earliest_block_time": "1970-01-01T00:00:00Z", "catching_up": True,
    }
    assert comet_get(comet, "/abci_info").json()["result"]["response"] == {
        "data": "pocket", "version": abci["version"]}

    for payload, fragment in (({"lag": -1}, "lag"), ({"lag": "three"}, "lag"),
                              ({"catching_up": "yes"}, "catching_up"), ({"behind": 1}, "behind")):
        bad = call(comet.shannon_url, "POST", "/__lab/comet", payload)
        assert bad.status == 400 and fragment in bad.json()["error"], (payload, bad.json())
    assert control.state()["comet"] == {"lag": 2000, "catching_up": True,
                                        "max_request_batch_size": 10}
    control.reset()
    assert control.state()["comet"] == {"lag": 0, "catching_up": False,
                                        "max_request_batch_size": 10}
    assert comet_status(comet)["sync_info"]["latest_block_height"] == "1005"


def test_comet_seeded_lag() -> None:
    seed = make_seed(comet={"lag": 7, "catching_up": True})
    with PocketStandin(seed, comet_addr=("127.0.0.1", 0)) as server:
        sync = comet_status(server)["sync_info"]
        assert (sync["latest_block_height"], sync["catching_up"]) == ("998", True)
        state = server.control.state()
        assert state["comet"] == {"lag": 7, "catching_up": True, "max_request_batch_size": 10}
        assert ChainState(state).export() == state


def test_comet_json_rpc_and_unknown_paths(comet: PocketStandin) -> None:
    single = call(comet.comet_url, "POST", "/", {"jsonrpc": "2.0", "id": 7, "method": "status"})
    body = single.json()
    check_shape(body, COMET_STATUS_SCHEMA)
    assert body["id"] == 7 and body["result"]["sync_info"]["latest_block_height"] == "1005"

    batch = call(comet.comet_url, "POST", "/", [
        {"jsonrpc": "2.0", "id": "a", "method": "health"},
        {"jsonrpc": "2.0", "method": "health"},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
    ]).json()
    assert batch == [{"jsonrpc": "2.0", "id": "a", "result": {}},
                     {"jsonrpc": "2.0", "id": 2,
                      "error": {"code": -32601, "message": "Method not found"}}]
    parse = call(comet.comet_url, "POST", "/", raw=b"{oops")
    assert parse.status == 500
    error = parse.json()
    assert "id" not in error and error["error"]["code"] == -32700
    listing = call(comet.comet_url, "POST", "/", raw=b"")
    assert listing.status == 200 and b"/status" in listing.body

    missing = comet_get(comet, "/v1/query/height")
    assert (missing.status, missing.body) == (404, b"404 page not found\n")
    assert comet_get(comet, "/status?height=3").status == 200  # URI args it does not take: ignored
    assert call(comet.comet_url, "POST", "/status").json()["id"] == -1  # any method on a URI route
    # The control API lives on the Shannon port only.
    assert comet_get(comet, "/__lab/state").status == 404


def test_comet_faults_and_latency(comet: PocketStandin) -> None:
    control = comet.control
    control.set_fault("http503", path_prefix="/status", count=1)
    assert get(comet, "/cosmos/base/tendermint/v1beta1/blocks/latest").status == 200
    assert comet_get(comet, "/health").status == 200  # prefix does not match
    assert comet_get(comet, "/status").status == 503
    assert comet_get(comet, "/status").status == 200  # count exhausted

    control.set_fault("garbage")  # no prefix: every listener
    with pytest.raises(ValueError):
        comet_get(comet, "/status").json()
    control.set_fault("hang", path_prefix="/status", count=1)
    with pytest.raises(TimeoutError):
        comet_get(comet, "/status", timeout=0.5)
    control.set_fault("none")
    assert comet_get(comet, "/status").status == 200

    control.set_latency(300)
    started = time.monotonic()
    assert comet_get(comet, "/health").status == 200
    assert time.monotonic() - started >= 0.3
    control.set_latency(0)


def test_comet_listener_is_optional(standin: PocketStandin) -> None:
    with pytest.raises(RuntimeError):
        standin.comet_url
    with pytest.raises(ValueError):
        PocketStandin({}, comet_addr=("0.0.0.0", 0))



# --------------------------------------------------------------------------- lab behaviour


def test_fault_modes(standin: PocketStandin) -> None:
    control = standin.control
    latest = "/cosmos/base/tendermint/v1beta1/blocks/latest"
    expectations = {"http500": 500, "http503": 503, "garbage": 200, "empty": 200}
    for mode, status in expectations.items():
        fault = control.set_fault(mode, path_prefix="/cosmos", count=1)
        assert fault == {"mode": mode, "path_prefix": "/cosmos", "count": 1}
        assert get(standin, supplier_path(SUPPLIERS[0])).status == 200  # prefix does not match
        assert control.state()["fault"]["mode"] == mode  # control requests are never faulted
        faulty = get(standin, latest)
        assert faulty.status == status
        if mode == "garbage":
            with pytest.raises(ValueError):
                faulty.json()
        if mode == "empty":
            assert faulty.body == b""
        assert get(standin, latest).status == 200  # count exhausted: back to none
        assert control.state()["fault"] == {"mode": "none", "path_prefix": "", "count": None}

    control.set_fault("truncated", count=1)
    with pytest.raises(http.client.IncompleteRead):
        get(standin, latest)
    control.set_fault("http503")  # no count, no prefix: every request, both ports
    assert morse(standin, "/v1/query/height").status == 503
    assert get(standin, latest).status == 503
    control.set_fault("none")
    assert get(standin, latest).status == 200

    control.set_fault("hang", count=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        call(standin.shannon_url, "GET", latest, timeout=0.5)
    assert time.monotonic() - started < 5
    assert get(standin, latest).status == 200
    with pytest.raises(StandinControlError):
        control.set_fault("explode")


def test_latency(standin: PocketStandin) -> None:
    control = standin.control
    assert control.set_latency(1200) == 1200
    started = time.monotonic()
    assert get(standin, "/pokt-network/poktroll/session/params").status == 200
    assert time.monotonic() - started >= 1.2
    started = time.monotonic()
    control.state()
    # control requests are not delayed (the margin: these tests share two CPUs with the lab's)
    assert time.monotonic() - started < 1.0
    control.set_latency(0)


def test_height_advances_with_block_time() -> None:
    with PocketStandin(make_seed(height=10, block_time=0.1)) as standin:
        time.sleep(0.35)
        height = morse(standin, "/v1/query/height").json()["height"]
        assert 13 <= height <= 20
        header = get(standin, "/cosmos/base/tendermint/v1beta1/blocks/latest").json()
        assert int(header["block"]["header"]["height"]) >= height
        assert standin.control.set_height(500) in (500, 501)
        assert standin.control.advance(5) in range(505, 510)
    with PocketStandin(make_seed(height=7)) as frozen:
        time.sleep(0.2)
        assert morse(frozen, "/v1/query/height").json() == {"height": 7}
        assert frozen.control.advance(3) == 10
        with pytest.raises(StandinControlError):
            frozen.control.set_height(0)


def _read_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_http10_closes_and_http11_keeps_alive(standin: PocketStandin) -> None:
    port = urlsplit(standin.shannon_url).port
    path = "/pokt-network/poktroll/session/params"
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
        reply = _read_until_eof(sock)  # the server closes: recv() returns b"" before the timeout
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
    assert json.loads(body) == {"params": {"num_suppliers_per_session": "3"}}

    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        stream = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status = stream.readline()
            headers = {}
            while (line := stream.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            assert status.startswith(b"HTTP/1.1 200") and "connection" not in headers
            assert json.loads(stream.read(int(headers["content-length"])))["params"]


def test_state_export_and_reset(standin: PocketStandin) -> None:
    control = standin.control
    control.set_shannon_params("supplier", remove=["staking_fee"])
    control.slash_supplier(SUPPLIERS[2], 5)
    state = control.state()
    assert state["height"] == 1005 and state["shannon"]["params"]["supplier"]["staking_fee"] is None
    control.set_fault("http500", path_prefix="/v1", count=3)
    state = control.state()
    assert ChainState(state).export() == state  # the exported state is a seed reproducing it

    control.set_height(2000)
    control.delete_supplier(SUPPLIERS[3])
    assert control.reset() == {"height": 1005}
    restored = control.state()
    assert len(restored["shannon"]["suppliers"]) == 8
    assert restored["shannon"]["params"]["supplier"]["staking_fee"] == {"denom": "upokt",
                                                                        "amount": "1"}


@pytest.mark.parametrize("seed, fragment", [
    ({"height": 0}, "seed.height"),
    ({"shannon": {"params": {"nope": {}}}}, "unknown module"),
    ({"shannon": {"suppliers": [{"operator_address": "x", "stake_upokt": "lots"}]}},
     "stake_upokt"),
    ({"shannon": {"suppliers": [{"operator_address": "x", "services": ["a b"]}]}},
     "invalid characters"),
    ({"shannon": {"suppliers": [{"operator_address": "x", "services": [
        {"service_id": "a", "endpoints": [{"url": "u", "rpc_type": "SMOKE"}]}]}]}}, "rpc_type"),
    ({"morse": {"nodes": [{"address": "xyz"}]}}, "40 hex digits"),
    ({"morse": {"nodes": [{"address": "ab" * 20, "unstaking_time": "tomorrow"}]}}, "RFC 3339"),
    ({"balances": {"a": 1.5}}, "expected an integer"),
    ({"shannon": {"supplier": []}}, "seed.shannon: unknown field(s) supplier"),
    ({"shannon": {"suppliers": [{"operator_address": "x", "stake": 5}]}}, "unknown field(s) stake"),
    ({"fault": {"mode": "melt"}}, "seed.fault.mode"),
    ({"comet": {"lag": -1}}, "seed.comet.lag"),
    ({"comet": {"catching_up": 1}}, "seed.comet.catching_up"),
    ({"comet": {"behind": 1}}, "seed.comet: unknown field(s) behind"),
])
def test_seed_validation(seed: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SeedError, match=re.escape(fragment)):
        ChainState(seed)


def test_defaults_and_public_key_derivation() -> None:
    public_key = "11" * 32
    chain = ChainState({"morse": {"nodes": [{"public_key": public_key}]}})
    state = chain.export()
    assert (state["chain_id"], state["height"]) == ("pocket-lab", 1)
    node = state["morse"]["nodes"][0]
    assert node["address"] == hashlib.sha256(bytes.fromhex(public_key)).digest()[:20].hex()
    assert node["tokens_upokt"] == 15_000_000_000 and node["status"] == 2


def test_loopback_only() -> None:
    with pytest.raises(ValueError):
        PocketStandin({}, shannon_addr=("0.0.0.0", 0))
    with pytest.raises(ValueError):
        StandinControl("http://192.0.2.1:1317")


def test_control_api_errors(standin: PocketStandin) -> None:
    bad_json = call(standin.shannon_url, "POST", "/__lab/height", raw=b"{oops")
    assert bad_json.status == 400 and "invalid JSON" in bad_json.json()["error"]
    unknown = call(standin.shannon_url, "POST", "/__lab/teleport", {})
    assert unknown.status == 404
    both = call(standin.shannon_url, "POST", "/__lab/height", {"height": 5, "advance": 1})
    assert both.status == 400
    with pytest.raises(StandinControlError) as missing:
        standin.control.jail_morse_node("cd" * 20)
    assert missing.value.status == 404


# --------------------------------------------------------------------------- CLI


def _read_line(stream: Any, timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, "no ready line"
    return lines[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_ready_line_and_signal(tmp_path: Path, signum: int) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(make_seed()))
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetlab.standin", "--state", str(seed_file),
         "--shannon-listen", "127.0.0.1:0", "--morse-listen", "127.0.0.1:0",
         "--block-time", "0", "--latency-ms", "1"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(process.stdout, timeout=20)
        match = re.fullmatch(r"ready shannon=(http://127\.0\.0\.1:\d+) "
                             r"morse=(http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        shannon_url, morse_url = match.groups()
        assert call(morse_url, "POST", "/v1/query/height", {}).json() == {"height": 1005}
        assert call(shannon_url, "GET", "/__lab/state").json()["latency_ms"] == 1
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        assert process.stderr.read() == ""  # quiet: no per-request log lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_comet_listener(tmp_path: Path) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(make_seed()))
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetlab.standin", "--state", str(seed_file),
         "--shannon-listen", "127.0.0.1:0", "--morse-listen", "127.0.0.1:0",
         "--comet-listen", "127.0.0.1:0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(process.stdout, timeout=20)
        match = re.fullmatch(r"ready shannon=(http://127\.0\.0\.1:\d+) morse=http://127\.0\.0\.1:\d+ "
                             r"comet=(http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        shannon_url, comet_url = match.groups()
        status = call(comet_url, "GET", "/status").json()["result"]
        assert status["sync_info"]["latest_block_height"] == "1005"
        assert status["node_info"]["network"] == "pocket-lab-test"
        call(shannon_url, "POST", "/__lab/comet", {"lag": 4})
        status = call(comet_url, "GET", "/status").json()["result"]
        assert status["sync_info"]["latest_block_height"] == "1001"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- throughput


async def _sweep(port: int, paths: list[str], concurrency: int) -> list[int]:
    """GET every path over ``concurrency`` keep-alive connections; return the statuses."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    statuses: list[int] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                path = queue.get_nowait()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) != b"\r\n":
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                statuses.append(status)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=60)
    return statuses


def test_thousand_request_sweep_with_latency(standin: PocketStandin,
                                             record_property: Any) -> None:
    standin.control.set_latency(10)
    paths = [supplier_path(SUPPLIERS[i % 8]) if i % 2 else
             "/cosmos/base/tendermint/v1beta1/blocks/latest" for i in range(1000)]
    port = urlsplit(standin.shannon_url).port
    assert port is not None
    started = time.perf_counter()
    statuses = asyncio.run(_sweep(port, paths, concurrency=100))
    elapsed = time.perf_counter() - started
    record_property("sweep_1000_c100_latency10ms_seconds", round(elapsed, 3))
    print(f"\n1000 requests, concurrency 100, 10 ms latency: {elapsed:.3f} s")
    assert statuses == [200] * 1000
    floor = math.ceil(1000 / 100) * 0.010
    assert floor <= elapsed < 3.0
