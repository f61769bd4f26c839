"""The Pocket stand-in's chain side of claims: /block_results, /blockchain and the claim lifecycle.

Each test starts its own stand-in on 127.0.0.1 (ports chosen by the OS) with a frozen height
and drives it through the control API (``/__lab/tx``, ``/__lab/height``, ``/__lab/events``,
``/__lab/reorg``). Shapes are checked against the spec files kept beside the stand-in:
CometBFT v0.38's ``rpc/openapi/openapi.yaml`` (lab/fleetlab/standin/cometbft-rpc/) and poktroll's event
protos (lab/fleetlab/standin/poktroll-protos/), parsed here for the field names.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetlab.standin import (
    COMET_HISTORY_BLOCKS,
    ChainState,
    PocketStandin,
    StandinControlError,
    lab_address,
    lab_block_hash,
)

LAB_DIR = Path(str(files("fleetlab") / "standin"))  # the spec files kept beside the stand-in
OPENAPI = LAB_DIR / "cometbft-rpc" / "openapi.yaml"
PROTOS = LAB_DIR / "poktroll-protos" / "pocket"

OWNER = lab_address("claims-owner")
APP = lab_address("claims-app")
SUPPLIERS = [lab_address(f"claims-supplier-{i}") for i in range(4)]
MIN_STAKE = 1_000_000_000
PENALTY = 300_000_000
FEE = 7
CUPR = 3  # compute units per relay of "anvil"
#: Session ending at 100 (4 blocks per session): claims in [102, 104], proofs in [104, 106],
#: settlement in the end block of 106.
END, CLAIM_OPEN, CLAIM_CLOSE, PROOF_OPEN, PROOF_CLOSE = 100, 102, 104, 104, 106


def make_seed(*, probability: float = 0.0, threshold: int = 1, stakes: list[int] | None = None,
              height: int = 101) -> dict[str, Any]:
    stakes = stakes or [MIN_STAKE * 10] * len(SUPPLIERS)
    return {
        "chain_id": "pocket-lab-claims",
        "height": height,
        "shannon": {
            "params": {
                "shared": {"num_blocks_per_session": 4, "grace_period_end_offset_blocks": 1,
                           "claim_window_open_offset_blocks": 1,
                           "claim_window_close_offset_blocks": 2,
                           "proof_window_open_offset_blocks": 0,
                           "proof_window_close_offset_blocks": 2,
                           "supplier_unbonding_period_sessions": 1},
                "proof": {"proof_request_probability": probability,
                          "proof_requirement_threshold": threshold,
                          "proof_missing_penalty": PENALTY, "proof_submission_fee": FEE},
                "supplier": {"min_stake": MIN_STAKE},
                "session": {"num_suppliers_per_session": 10},
            },
            "suppliers": [{"operator_address": a, "owner_address": OWNER, "stake_upokt": s,
                           "services": ["anvil"]} for a, s in zip(SUPPLIERS, stakes, strict=True)],
            "applications": [{"address": APP, "stake_upokt": 10**12, "services": ["anvil"]}],
            "services": [{"id": "anvil", "name": "Anvil", "compute_units_per_relay": CUPR}],
        },
        "balances": {a: 1_000 for a in SUPPLIERS},
    }


@pytest.fixture()
def standin() -> Iterator[PocketStandin]:
    with PocketStandin(make_seed(), comet_addr=("127.0.0.1", 0)) as server:
        yield server


def http(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def block_results(standin: PocketStandin, height: int) -> dict[str, Any]:
    status, body, _ = http(f"{standin.comet_url}/block_results?height={height}")
    assert status == 200, body
    return body["result"]


def attrs(event: dict[str, Any]) -> dict[str, Any]:
    """Attribute values decoded: JSON for the typed fields, plain for msg_index / mode."""
    out = {}
    for attribute in event["attributes"]:
        key, value = attribute["key"], attribute["value"]
        out[key] = value if key in ("msg_index", "mode") else json.loads(value)
    return out


def typed(events: list[dict[str, Any]] | None, type_name: str) -> list[dict[str, Any]]:
    return [attrs(e) for e in events or [] if e["type"] == type_name]


def tx_events(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for tx in result["txs_results"] or [] for e in tx["events"]]


def claim(standin: PocketStandin, supplier: str, relays: int, end: int = END) -> dict[str, Any]:
    return standin.control.submit_tx("MsgCreateClaim", supplier, "anvil", end, relays)


def proof(standin: PocketStandin, supplier: str, end: int = END) -> dict[str, Any]:
    return standin.control.submit_tx("MsgSubmitProof", supplier, "anvil", end)


def stake(standin: PocketStandin, supplier: str) -> int:
    status, body, _ = http(f"{standin.shannon_url}/pokt-network/poktroll/supplier/supplier/"
                           f"{supplier}")
    assert status == 200, body
    return int(body["supplier"]["stake"]["amount"])


# --------------------------------------------------------------------------- proto fields

_MESSAGE_RE = re.compile(r"^message (\w+) \{(.*?)^\}", re.M | re.S)
_FIELD_RE = re.compile(r"^\s*(?:repeated\s+)?(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+", re.M)


def proto_fields() -> dict[str, set[str]]:
    """Field names of every message in the copied event.proto files, by full type name."""
    fields: dict[str, set[str]] = {}
    for path in sorted(PROTOS.glob("*/event.proto")):
        text = path.read_text(encoding="utf-8")
        package = re.search(r"^package ([\w.]+);", text, re.M)[1]  # type: ignore[index]
        for name, body in _MESSAGE_RE.findall(text):
            body = re.sub(r"//[^\n]*", "", body)
            fields[f"{package}.{name}"] = set(_FIELD_RE.findall(body))
    return fields


PROTO_INT32 = {"claim_proof_status_int", "proof_requirement_int"}


def check_against_proto(event: dict[str, Any], fields: dict[str, set[str]]) -> None:
    """Keys are the message's proto fields (sorted) plus msg_index/mode; encodings protojson."""
    keys = [a["key"] for a in event["attributes"]]
    extra = [k for k in keys if k in ("msg_index", "mode")]
    typed_keys = keys[:len(keys) - len(extra)]
    assert typed_keys == sorted(typed_keys), f"{event['type']}: attributes not sorted"
    assert set(typed_keys) == fields[event["type"]], (event["type"], typed_keys)
    assert all(a["index"] is True for a in event["attributes"])
    for key, value in attrs(event).items():
        if key in PROTO_INT32:
            assert isinstance(value, int), (key, value)
        elif key.startswith("num_") or key.endswith("_height"):
            assert isinstance(value, str) and value.isdigit(), (key, value)  # (u)int64
        elif key.endswith("upokt") or key in ("proof_missing_penalty",
                                                "supplier_stake_after_slash"):
            assert re.fullmatch(r"\d+upokt", value), (key, value)  # Coin.String()


# --------------------------------------------------------------------------- the whole story


def test_claim_proof_settled(standin: PocketStandin) -> None:
    fields = proto_fields()
    control = standin.control
    answer = claim(standin, SUPPLIERS[0], 1000)
    assert answer["code"] == 0 and answer["height"] == CLAIM_OPEN
    control.advance(1)
    created = block_results(standin, CLAIM_OPEN)
    assert created["height"] == str(CLAIM_OPEN)
    event = next(e for e in tx_events(created) if e["type"] == "pocket.proof.EventClaimCreated")
    check_against_proto(event, fields)
    values = attrs(event)
    claimed = 1000 * CUPR * 145990 // 1_000_000  # mainnet compute_units_to_tokens_multiplier
    assert values == {
        "application_address": APP, "claim_proof_status_int": 0,
        "claimed_upokt": f"{claimed}upokt", "num_claimed_compute_units": str(1000 * CUPR),
        "num_estimated_compute_units": str(1000 * CUPR), "num_estimated_relays": "1000",
        "num_relays": "1000", "service_id": "anvil", "session_end_block_height": str(END),
        "supplier_operator_address": SUPPLIERS[0], "msg_index": "0"}
    assert event["attributes"][-1] == {"key": "msg_index", "value": "0", "index": True}

    control.set_height(PROOF_OPEN - 1)
    assert proof(standin, SUPPLIERS[0])["code"] == 0
    control.advance(1)
    submitted = typed(tx_events(block_results(standin, PROOF_OPEN)),
                      "pocket.proof.EventProofSubmitted")
    assert len(submitted) == 1 and submitted[0]["claim_proof_status_int"] == 1

    control.set_height(PROOF_CLOSE - 1)
    assert block_results(standin, PROOF_CLOSE - 1)["finalize_block_events"] is None
    control.advance(1)
    events = block_results(standin, PROOF_CLOSE)["finalize_block_events"]
    [settled_event] = [e for e in events if e["type"] == "pocket.tokenomics.EventClaimSettled"]
    check_against_proto(settled_event, fields)
    settled = attrs(settled_event)
    minted = int(Decimal(claimed) * Decimal("0.975"))
    assert settled["proof_requirement_int"] == 2  # THRESHOLD (threshold 1 upokt)
    assert settled["claim_proof_status_int"] == 1
    assert settled["settled_upokt"] == f"{claimed}upokt"
    assert settled["minted_upokt"] == f"{minted}upokt"
    assert settled["deflation_loss_upokt"] == f"{claimed - minted}upokt"
    assert settled["overservicing_loss_upokt"] == "0upokt"
    assert settled["mint_ratio"] == "0.975"
    assert settled["mode"] == "EndBlock"
    assert settled_event["attributes"][-1] == {"key": "mode", "value": "EndBlock", "index": True}
    owner_share = int(Decimal(minted) * Decimal("0.79"))
    assert settled["reward_distribution"] == {OWNER: f"{owner_share}upokt"}
    state = control.state()
    assert state["balances"][SUPPLIERS[0].lower()] == 1_000 - FEE  # the proof submission fee
    assert state["balances"][OWNER.lower()] == owner_share
    [record] = state["shannon"]["claims"]
    assert (record["state"], record["proof_requirement"], record["settled_upokt"]) == (
        "settled", "THRESHOLD", claimed)
    assert stake(standin, SUPPLIERS[0]) == MIN_STAKE * 10  # not slashed


def test_claim_without_proof_expires_and_slashes(standin: PocketStandin) -> None:
    fields = proto_fields()
    assert claim(standin, SUPPLIERS[1], 50)["code"] == 0
    standin.control.set_height(PROOF_CLOSE + 3)
    events = block_results(standin, PROOF_CLOSE)["finalize_block_events"]
    assert [e["type"] for e in events] == ["pocket.tokenomics.EventClaimExpired",
                                          "pocket.tokenomics.EventSupplierSlashed"]
    for event in events:
        check_against_proto(event, fields)
    expired, slashed = (attrs(e) for e in events)
    assert expired["expiration_reason"] == "PROOF_MISSING"
    assert expired["claim_proof_status_int"] == 0
    assert slashed["proof_missing_penalty"] == f"{PENALTY}upokt"
    assert slashed["supplier_stake_after_slash"] == f"{MIN_STAKE * 10 - PENALTY}upokt"
    assert (slashed["supplier_operator_address"], slashed["session_end_block_height"]) == (
        SUPPLIERS[1], str(END))
    assert stake(standin, SUPPLIERS[1]) == MIN_STAKE * 10 - PENALTY
    [record] = standin.control.state()["shannon"]["claims"]
    assert (record["state"], record["penalty_upokt"], record["stake_after_upokt"]) == (
        "expired", PENALTY, MIN_STAKE * 10 - PENALTY)


def test_slashes_until_below_min_stake_unbond() -> None:
    """Each missed proof costs the penalty; the slash that crosses min_stake starts unbonding
    in the same end block; a later claim of the supplier then finds it gone (discarded)."""
    fields = proto_fields()
    start = MIN_STAKE + PENALTY + 1  # two slashes take it below the minimum
    seed = make_seed(stakes=[start, MIN_STAKE * 10, MIN_STAKE * 10, MIN_STAKE * 10])
    with PocketStandin(seed, comet_addr=("127.0.0.1", 0)) as standin:
        control = standin.control
        for end in (END, END + 4):
            control.set_height(end + 1)  # included at end + 2: the claim window opens
            assert claim(standin, SUPPLIERS[0], 10, end)["code"] == 0
        control.set_height(END + 8 + 1)
        assert claim(standin, SUPPLIERS[0], 10, END + 8)["code"] == 0
        control.set_height(200)  # one jump: every settlement below is due, in height order
        first = block_results(standin, PROOF_CLOSE)["finalize_block_events"]
        assert [e["type"] for e in first] == ["pocket.tokenomics.EventClaimExpired",
                                             "pocket.tokenomics.EventSupplierSlashed"]
        assert attrs(first[1])["supplier_stake_after_slash"] == f"{start - PENALTY}upokt"
        second = block_results(standin, PROOF_CLOSE + 4)["finalize_block_events"]
        assert [e["type"] for e in second] == [
            "pocket.tokenomics.EventClaimExpired", "pocket.supplier.EventSupplierUnbondingBegin",
            "pocket.tokenomics.EventSupplierSlashed"]
        for event in second:
            check_against_proto(event, fields)
        unbonding = attrs(second[1])
        session_end = 112  # end of the session of the settlement block 110
        assert unbonding["reason"] == "SUPPLIER_UNBONDING_REASON_BELOW_MIN_STAKE"
        assert unbonding["session_end_height"] == unbonding["unbonding_end_height"] == str(
            session_end)
        assert unbonding["supplier"]["operator_address"] == SUPPLIERS[0]
        assert unbonding["supplier"]["stake"]["amount"] == str(start - 2 * PENALTY)
        assert attrs(second[2])["supplier_stake_after_slash"] == f"{start - 2 * PENALTY}upokt"
        # Still staked (unbonding ends at the end of session 112 + 1 session = 116) when the
        # third claim settles at 114: slashed again, without a second unbonding.
        third = block_results(standin, PROOF_CLOSE + 8)["finalize_block_events"]
        assert [e["type"] for e in third] == ["pocket.tokenomics.EventClaimExpired",
                                             "pocket.tokenomics.EventSupplierSlashed"]
        after = start - 3 * PENALTY
        assert attrs(third[1])["supplier_stake_after_slash"] == f"{after}upokt"
        # Gone after 116, its stake back to its owner; a new claim is refused (not staked).
        assert control.state()["balances"][OWNER.lower()] == after
        refused = claim(standin, SUPPLIERS[0], 10, 200)
        assert refused["code"] == 1 and "not staked for service" in refused["log"]
        # A claim whose supplier is gone by its settlement is discarded.
        control.set_height(204 + 1)
        assert claim(standin, SUPPLIERS[1], 10, 204)["code"] == 0
        control.delete_supplier(SUPPLIERS[1])
        control.set_height(204 + 6)
        discarded = block_results(standin, 210)["finalize_block_events"]
        assert [e["type"] for e in discarded] == ["pocket.tokenomics.EventClaimDiscarded"]
        check_against_proto(discarded[0], fields)
        assert "not found" in attrs(discarded[0])["error"]


def test_windows_and_refusals(standin: PocketStandin) -> None:
    control = standin.control
    control.set_height(CLAIM_OPEN - 2)
    early = claim(standin, SUPPLIERS[0], 5)
    assert early["code"] == 1 and early["codespace"] == "undefined"
    assert early["log"] == (
        "failed to execute message; message index: 0: rpc error: code = FailedPrecondition "
        f"desc = current block height ({CLAIM_OPEN - 1}) is less than the session's earliest "
        f"claim commit height ({CLAIM_OPEN}): claim attempted outside of the session's claim "
        "window")
    assert proof(standin, SUPPLIERS[0])["log"].endswith(
        "proof attempted outside of the session's proof window")
    control.set_height(CLAIM_CLOSE)
    late = claim(standin, SUPPLIERS[0], 5)
    assert late["code"] == 1 and f"greater than session claim window close height " \
        f"({CLAIM_CLOSE})" in late["log"]
    assert "claim not found" in proof(standin, SUPPLIERS[0])["log"]  # in window, no claim
    control.set_height(PROOF_CLOSE)
    assert "greater than session proof window close height" in proof(standin, SUPPLIERS[0])["log"]
    assert "is not the end of a session" in claim(standin, SUPPLIERS[0], 5, END + 1)["log"]
    assert "not staked for service" in standin.control.submit_tx(
        "MsgCreateClaim", lab_address("stranger"), "anvil", END, 5)["log"]
    # Refused transactions are in their block, without typed events, with the redacted log.
    results = block_results(standin, CLAIM_OPEN - 1)["txs_results"]
    assert [(t["code"], t["codespace"], t["log"]) for t in results] == [
        (1, "undefined", "internal")] * 2
    assert {e["type"] for t in results for e in t["events"]} == {"tx"}
    with pytest.raises(StandinControlError) as bad:
        standin.control.submit_tx("MsgSubmitProof", SUPPLIERS[0], "anvil", END, num_relays=3)
    assert bad.value.status == 400


def test_proof_not_required_is_refused_without_fee() -> None:
    seed = make_seed(probability=0.0, threshold=10**12)
    with PocketStandin(seed, comet_addr=("127.0.0.1", 0)) as standin:
        assert claim(standin, SUPPLIERS[0], 10)["code"] == 0
        standin.control.set_height(PROOF_OPEN - 1)
        refused = proof(standin, SUPPLIERS[0])
        assert refused["code"] == 1 and refused["log"].endswith("desc = proof not required")
        standin.control.set_height(PROOF_CLOSE)
        [settled] = typed(block_results(standin, PROOF_CLOSE)["finalize_block_events"],
                          "pocket.tokenomics.EventClaimSettled")
        assert settled["proof_requirement_int"] == 0 and settled["claim_proof_status_int"] == 0
        state = standin.control.state()
        assert state["balances"][SUPPLIERS[0].lower()] == 1_000  # refused: no fee taken


def test_probabilistic_requirement_is_deterministic() -> None:
    decisions = []
    for _ in range(2):
        with PocketStandin(make_seed(probability=0.5, threshold=10**12),
                           comet_addr=("127.0.0.1", 0)) as standin:
            for supplier in SUPPLIERS:
                assert claim(standin, supplier, 10)["code"] == 0
            standin.control.set_height(PROOF_CLOSE)
            events = block_results(standin, PROOF_CLOSE)["finalize_block_events"]
            decisions.append([(e["type"], attrs(e)["supplier_operator_address"])
                              for e in events])
            kinds = {c["proof_requirement"] for c in standin.control.state()["shannon"]["claims"]}
            assert kinds <= {"PROBABILISTIC", "NOT_REQUIRED"}
    assert decisions[0] == decisions[1]


# --------------------------------------------------------------------------- CometBFT shapes

_OPENAPI_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list,
                  "object": dict}
#: Where CometBFT's code and its openapi.yaml disagree, the code wins (README beside the spec):
#: types of these keys, keys the spec omits (``ResultBlockResults.AppHash``) and nulls it
#: does not mark nullable (a nil ``*ConsensusParams``).
_CODE_OVER_SPEC = {"code": int, "block_size": str}
_CODE_EXTRA_KEYS = {"app_hash"}
_CODE_NULLABLE = {"consensus_param_updates"}


def check_schema(value: Any, schema: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """Names and types of ``value`` against an OpenAPI 3 schema (``$ref``/``allOf`` resolved):
    every key is a declared property, every required one present, types as declared."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = spec["components"]["schemas"][part["$ref"].rsplit("/", 1)[-1]] \
                if "$ref" in part else part
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        schema = merged
    key = where.rsplit(".", 1)[-1].split("[")[0]
    if value is None:
        assert schema.get("nullable") or key in _CODE_NULLABLE, \
            f"{where}: null where the spec does not allow it"
        return
    expected = _CODE_OVER_SPEC.get(key) or _OPENAPI_TYPES.get(
        schema.get("type", "object" if "properties" in schema else ""))
    if expected is not None:
        assert isinstance(value, expected) and not (expected is int and isinstance(value, bool)), \
            f"{where}: expected {expected.__name__}, got {value!r}"
    if isinstance(value, dict) and "properties" in schema:
        unknown = set(value) - set(schema["properties"]) - _CODE_EXTRA_KEYS
        assert not unknown, f"{where}: keys {sorted(unknown)} not in the spec"
        for name in schema.get("required", []):
            assert name in value, f"{where}: required {name} missing"
        for name, item in value.items():
            if name in schema["properties"]:
                check_schema(item, schema["properties"][name], spec, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], spec, f"{where}[{i}]")


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def response_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    return spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_block_results_and_blockchain_match_openapi(standin: PocketStandin,
                                                    openapi: dict[str, Any]) -> None:
    control = standin.control
    assert claim(standin, SUPPLIERS[0], 100)["code"] == 0
    assert claim(standin, SUPPLIERS[1], 100)["code"] == 0
    control.set_height(PROOF_OPEN - 1)
    assert proof(standin, SUPPLIERS[0])["code"] == 0
    control.set_height(PROOF_CLOSE + 1)
    schema = response_schema(openapi, "/block_results")
    for height in (CLAIM_OPEN, PROOF_OPEN, PROOF_CLOSE, PROOF_CLOSE + 1):
        status, body, headers = http(f"{standin.comet_url}/block_results?height={height}")
        assert status == 200
        assert headers.get("Cache-Control") == "public, max-age=86400"
        check_schema(body, schema, openapi, "$")
        assert set(body["result"]) == {"height", "txs_results", "finalize_block_events",
                                       "validator_updates", "consensus_param_updates",
                                       "app_hash"}
    empty = block_results(standin, PROOF_CLOSE + 1)
    assert empty["txs_results"] is None and empty["finalize_block_events"] is None
    tx = block_results(standin, CLAIM_OPEN)["txs_results"][0]
    assert list(tx) == ["code", "data", "log", "info", "gas_wanted", "gas_used", "events",
                        "codespace"]
    # No height: the latest block, not cacheable.
    status, latest, headers = http(f"{standin.comet_url}/block_results")
    assert latest["result"]["height"] == str(PROOF_CLOSE + 1) and "Cache-Control" not in headers

    status, chain, _ = http(f"{standin.comet_url}/blockchain?minHeight={CLAIM_OPEN}"
                            f"&maxHeight={PROOF_CLOSE}")
    assert status == 200
    check_schema(chain, response_schema(openapi, "/blockchain"), openapi, "$")
    metas = chain["result"]["block_metas"]
    assert chain["result"]["last_height"] == str(PROOF_CLOSE + 1)
    assert [m["header"]["height"] for m in metas] == [str(h) for h in range(PROOF_CLOSE,
                                                                            CLAIM_OPEN - 1, -1)]
    assert metas[0]["block_id"]["hash"] == lab_block_hash(PROOF_CLOSE).hex().upper()
    assert metas[0]["header"]["last_block_id"]["hash"] == lab_block_hash(
        PROOF_CLOSE - 1).hex().upper()
    assert metas[-1]["num_txs"] == "2"
    status, defaults, _ = http(f"{standin.comet_url}/blockchain")
    assert len(defaults["result"]["block_metas"]) == 20  # at most 20, from the latest down
    assert defaults["result"]["block_metas"][0]["header"]["height"] == str(PROOF_CLOSE + 1)

    # JSON-RPC: by name and by position, errors with HTTP 200.
    status, rpc, _ = http(standin.comet_url + "/", "POST", [
        {"jsonrpc": "2.0", "id": 1, "method": "block_results",
         "params": {"height": str(CLAIM_OPEN)}},
        {"jsonrpc": "2.0", "id": 2, "method": "blockchain", "params": ["1", "3"]},
        {"jsonrpc": "2.0", "id": 3, "method": "block_results", "params": {"height": "999"}}])
    assert status == 200
    assert rpc[0]["result"] == block_results(standin, CLAIM_OPEN)
    assert [m["header"]["height"] for m in rpc[1]["result"]["block_metas"]] == ["3", "2", "1"]
    assert rpc[2]["error"] == {"code": -32603, "message": "Internal error",
                               "data": f"height 999 must be less than or equal to the current "
                                       f"blockchain height {PROOF_CLOSE + 1}"}


def test_comet_height_errors(standin: PocketStandin) -> None:
    def error(path: str) -> tuple[int, dict[str, Any]]:
        status, body, _ = http(standin.comet_url + path)
        assert body["id"] == -1 and "result" not in body
        return status, body["error"]

    assert error("/block_results?height=102") == (500, {
        "code": -32603, "message": "Internal error",
        "data": "height 102 must be less than or equal to the current blockchain height 101"})
    assert error("/block_results?height=0") == (500, {
        "code": -32603, "message": "Internal error",
        "data": "height must be greater than 0, but got 0"})
    status, bad = error("/block_results?height=abc")
    assert (status, bad["code"], bad["message"]) == (500, -32602, "Invalid params")
    assert error("/blockchain?minHeight=5&maxHeight=3")[1]["data"] == \
        "min height 5 can't be greater than max height 3"
    assert error("/blockchain?minHeight=-1")[1]["data"] == "heights must be non-negative"
    standin.control.set_comet(lag=3)  # the node is behind the chain
    assert error("/block_results?height=100")[1]["data"] == (
        "height 100 must be less than or equal to the current blockchain height 98")
    standin.control.set_comet(lag=0)
    # Pruned: only the last COMET_HISTORY_BLOCKS blocks are kept.
    far = COMET_HISTORY_BLOCKS + 500
    standin.control.set_height(far)
    base = far - COMET_HISTORY_BLOCKS + 1
    assert error(f"/block_results?height={base - 1}")[1]["data"] == (
        f"height {base - 1} is not available, lowest height is {base}")
    assert block_results(standin, base)["height"] == str(base)
    _, status, _ = http(f"{standin.comet_url}/status")
    assert status["result"]["sync_info"]["earliest_block_height"] == str(base)
    status, chain, _ = http(f"{standin.comet_url}/blockchain?minHeight=1&maxHeight={base + 2}")
    assert [m["header"]["height"] for m in chain["result"]["block_metas"]] == [
        str(base + 2), str(base + 1), str(base)]


def test_reorg_changes_hash_and_events(standin: PocketStandin) -> None:
    control = standin.control
    assert claim(standin, SUPPLIERS[0], 10)["code"] == 0
    control.advance(1)
    before = block_results(standin, CLAIM_OPEN)
    assert before["txs_results"]
    answer = control.reorg(CLAIM_OPEN)
    assert answer["reorgs"] == 1 and answer["hash"] != lab_block_hash(CLAIM_OPEN).hex().upper()
    after = block_results(standin, CLAIM_OPEN)
    assert after["txs_results"] is None  # its transactions are gone
    _, chain, _ = http(f"{standin.comet_url}/blockchain?minHeight={CLAIM_OPEN}"
                       f"&maxHeight={CLAIM_OPEN}")
    assert chain["result"]["block_metas"][0]["block_id"]["hash"] == answer["hash"]
    _, status, _ = http(f"{standin.comet_url}/status")
    assert status["result"]["sync_info"]["latest_block_hash"] == answer["hash"]
    replacement = [{"type": "pocket.tokenomics.EventClaimSettled", "attributes": []}]
    again = control.reorg(CLAIM_OPEN, finalize_block_events=replacement)
    assert again["reorgs"] == 2 and again["hash"] != answer["hash"]
    assert block_results(standin, CLAIM_OPEN)["finalize_block_events"] == replacement
    with pytest.raises(StandinControlError) as future:
        control.reorg(CLAIM_OPEN + 5)
    assert future.value.status == 400


def test_injected_events(standin: PocketStandin) -> None:
    control = standin.control
    hostile_tx = {"code": 0, "events": [{"type": "pocket.proof.EventClaimCreated",
                                          "attributes": [{"key": "num_relays",
                                                          "value": "\"12"}]}]}
    unknown = {"type": "pocket.future.EventSomethingNew", "attributes": [
        {"key": "x", "value": "1", "index": True}]}
    answer = control.inject_events(100, txs_results=[hostile_tx, "not an object"],
                                   finalize_block_events=[unknown, {"type": "truncated"}])
    assert answer == {"height": 100, "txs_results": 2, "finalize_block_events": 2}
    result = block_results(standin, 100)
    assert result["txs_results"] == [hostile_tx, "not an object"]
    assert result["finalize_block_events"] == [unknown, {"type": "truncated"}]
    # Injected at a future height: served once it is reached, after the chain's own events.
    assert claim(standin, SUPPLIERS[0], 10)["code"] == 0
    control.inject_events(CLAIM_OPEN, txs_results=[hostile_tx])
    control.advance(1)
    txs = block_results(standin, CLAIM_OPEN)["txs_results"]
    assert len(txs) == 2 and txs[1] == hostile_tx
    with pytest.raises(StandinControlError):
        control.inject_events(0, txs_results=[])


def test_service_query_and_state_roundtrip(standin: PocketStandin) -> None:
    base = f"{standin.shannon_url}/pokt-network/poktroll/service/service"
    status, body, _ = http(f"{base}/anvil")
    assert status == 200
    assert body == {"service": {"id": "anvil", "name": "Anvil", "compute_units_per_relay": "3",
                                "owner_address": lab_address("lab-service-owner"),
                                "metadata": None}}
    status, body, _ = http(f"{base}/nothing")
    assert (status, body) == (404, {"code": 5, "message": 'service ID not found: "nothing"',
                                    "details": []})

    assert claim(standin, SUPPLIERS[0], 10)["code"] == 0
    assert claim(standin, SUPPLIERS[1], 10)["code"] == 0
    standin.control.set_height(PROOF_OPEN - 1)
    assert proof(standin, SUPPLIERS[0])["code"] == 0
    standin.control.advance(1)
    state = standin.control.state()
    assert [c["state"] for c in state["shannon"]["claims"]] == ["proven", "claimed"]
    copy = ChainState(json.loads(json.dumps(state)))
    assert copy.export() == state
    assert copy.comet_block_results(CLAIM_OPEN) == block_results(standin, CLAIM_OPEN)
    copy.set_height(height=PROOF_CLOSE)
    standin.control.set_height(PROOF_CLOSE)
    assert copy.comet_block_results(PROOF_CLOSE) == block_results(standin, PROOF_CLOSE)


def test_json_rpc_endpoint_listing(standin: PocketStandin) -> None:
    request = urllib.request.Request(standin.comet_url + "/", data=b"", method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as response:
        page = response.read().decode()
    plain, with_args = page.split("Endpoints that require arguments:")
    assert "/status</a>" in plain and "/block_results" not in plain
    host = standin.comet_url.removeprefix("http://")
    assert f"//{host}/block_results?height=_</a>" in with_args
    assert f"//{host}/blockchain?minHeight=_&maxHeight=_</a>" in with_args
