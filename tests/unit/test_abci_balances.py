"""fleetctl.pocket.abci: the QueryBalanceRequest it writes, the answers it believes, and what it
leaves to the REST route. Byte literals are written by hand from the field numbers of
proto/cosmos/bank/v1beta1/query.proto and proto/cosmos/base/v1beta1/coin.proto (cosmos-sdk v0.50;
copies beside the stand-in in lab/fleetlab/standin/cosmos-protos/)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings, strategies as st

from fleetctl.pocket.abci import BANK_BALANCE_PATH, BATCH_SIZE, _one_answer, balance_calls, decode_balance, rpc_base
from fleetctl.pocket.base import SUPPLY_CEILING_UPOKT
from fleetctl.pocket.http import QueryError

ADDRESS = "pokt1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def coin(denom: bytes, amount: bytes) -> bytes:
    body = b"\x0a" + bytes([len(denom)]) + denom + b"\x12" + bytes([len(amount)]) + amount
    return b"\x0a" + bytes([len(body)]) + body


def test_request_is_the_protobuf_of_address_and_denom() -> None:
    [call] = json.loads(balance_calls([ADDRESS], "upokt"))
    assert call["method"] == "abci_query" and call["id"] == 0 and call["jsonrpc"] == "2.0"
    params = call["params"]
    assert params["path"] == BANK_BALANCE_PATH == "/cosmos.bank.v1beta1.Query/Balance"
    assert params["height"] == "0" and params["prove"] is False
    raw = bytes.fromhex(params["data"])
    a = ADDRESS.encode()
    assert raw == b"\x0a" + bytes([len(a)]) + a + b"\x12\x05upokt"


def test_batch_ids_and_a_long_field_length_varint() -> None:
    long = "p" * 200  # a length of 200 takes two varint bytes: c8 01
    calls = json.loads(balance_calls([ADDRESS, long], "upokt", first_id=7))
    assert [c["id"] for c in calls] == [7, 8]
    assert bytes.fromhex(calls[1]["params"]["data"]).startswith(b"\x0a\xc8\x01ppp")
    assert BATCH_SIZE == 10


@pytest.mark.parametrize(("raw", "amount"), [
    (coin(b"upokt", b"50000000"), 50_000_000),
    (coin(b"upokt", b"0"), 0),
    # unknown fields (a newer SDK) are skipped: a varint field 3 and a fixed64 field 4
    (coin(b"upokt", b"12") + b"\x18\x96\x01" + b"\x21" + b"\x00" * 8, 12),
    # protobuf merges: the last balance field wins
    (coin(b"upokt", b"1") + coin(b"upokt", b"2"), 2),
])
def test_balances_believed(raw: bytes, amount: int) -> None:
    assert decode_balance(b64(raw), "upokt", "w") == amount


@pytest.mark.parametrize(("value", "reason"), [
    (None, "expected the base64"),
    (12, "expected the base64"),
    ("", "expected the base64"),
    ("!!!!", "not base64"),
    (b64(b""), "expected the base64"),  # an empty value is an empty string: not believed
    (b64(b"\x12\x00"), "no balance"),
    (b64(coin(b"uatom", b"5")), "denom 'uatom'"),
    (b64(coin(b"upokt", b"-5")), "not a decimal integer"),
    (b64(coin(b"upokt", b"1.5")), "not a decimal integer"),
    (b64(coin(b"upokt", b"")), "not a decimal integer"),
    (b64(coin(b"upokt", str(SUPPLY_CEILING_UPOKT + 1).encode())), "plausible supply"),
    (b64(b"\x0a\x05\x0a\x05upo"), "runs past the end"),
    (b64(b"\x0a"), "truncated"),
    (b64(b"\x0a" + b"\xff" * 11), "varint"),
    (b64(b"\x0b\x00"), "wire type 3"),
    (b64(b"\x02\x00"), "field number 0"),
])
def test_values_refused(value: object, reason: str) -> None:
    with pytest.raises(QueryError, match=reason):
        decode_balance(value, "upokt", "w")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_are_a_balance_or_a_query_error(raw: bytes) -> None:
    try:
        amount = decode_balance(b64(raw) if raw else "x", "upokt", "w")
    except QueryError:
        return
    assert 0 <= amount <= SUPPLY_CEILING_UPOKT


def ok(value: bytes, **extra: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 0, "result": {"response": {"value": b64(value), "height": "5000", **extra}}}


def test_answer_shapes() -> None:
    assert _one_answer(ok(coin(b"upokt", b"9")), "upokt", "w") == 9
    assert _one_answer(ok(coin(b"upokt", b"9"), code=0), "upokt", "w") == 9
    bad = [
        ("a string", "expected a JSON-RPC answer"),
        ({"id": 0, "error": {"code": -32603, "message": "Internal error"}}, "with an error"),
        ({"id": 0, "result": {}}, "result.response"),
        ({"id": 0, "result": {"response": []}}, "result.response"),
        (ok(coin(b"upokt", b"9"), code=18, log="invalid address"), "code 18"),
        (ok(coin(b"upokt", b"9"), code="0"), "code 0"),  # a string is not CometBFT's uint32
        (ok(coin(b"upokt", b"9"), code=True), "code True"),
        (ok(coin(b"upokt", b"9"), height="-1"), "height"),
        (ok(coin(b"upokt", b"9"), height="abc"), "height"),
    ]
    for answer, reason in bad:
        with pytest.raises(QueryError, match=reason):
            _one_answer(answer, "upokt", "w")


def test_rpc_base_keeps_credentials_for_the_client() -> None:
    assert rpc_base("tcp://node:26657") == "http://node:26657"
    assert rpc_base("https://u:p@node/rpc/?token=t") == "https://u:p@node/rpc?token=t"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=SUPPLY_CEILING_UPOKT))
def test_the_usual_shape_and_the_general_walk_agree(amount: int) -> None:
    """A plain coin is read by the fast path; the same coin followed by an unknown field by the
    general walk: both give the amount."""
    raw = coin(b"upokt", str(amount).encode())
    assert decode_balance(b64(raw), "upokt", "w") == amount
    assert decode_balance(b64(raw + b"\x18\x01"), "upokt", "w") == amount
    # a length byte that does not match the message: never the fast path's amount
    spoilt = raw[:1] + bytes([raw[1] + 1]) + raw[2:]
    with pytest.raises(QueryError):
        decode_balance(b64(spoilt), "upokt", "w")
