"""The Pocket stand-in's CometBFT ``abci_query`` (the bank balance query) and its batch limit.

``abci_query`` (cometbft v0.38 rpc/core/abci.go, params ``path, data, height, prove``) on the
Cosmos SDK's gRPC query path ``/cosmos.bank.v1beta1.Query/Balance``: ``data`` is a protobuf
``QueryBalanceRequest``, the answer's ``value`` the base64 of a ``QueryBalanceResponse``. The
field numbers come from the protos copied beside the stand-in (lab/fleetlab/standin/
cosmos-protos/, cosmos-sdk v0.50.13), parsed here, and the messages are encoded and decoded by
the small protobuf codec below (not the stand-in's), so an encoding that disagrees with the
spec files fails. Errors are the SDK's ``ResponseQuery`` (code, codespace, log, height) and
CometBFT's RPC errors; a JSON-RPC batch over ``max_request_batch_size`` (10) is refused whole.

Each test starts its own stand-in on 127.0.0.1 (ports chosen by the OS) with a frozen height.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from fleetlab.standin import PocketStandin, StandinControlError, lab_address

PROTOS = Path(str(files("fleetlab") / "standin")) / "cosmos-protos" / "proto" / "cosmos"
QUERY_PROTO = PROTOS / "bank" / "v1beta1" / "query.proto"
COIN_PROTO = PROTOS / "base" / "v1beta1" / "coin.proto"

BALANCE = "/cosmos.bank.v1beta1.Query/Balance"
HEIGHT = 5000
OPERATORS = [lab_address(f"abci-operator-{i}") for i in range(12)]
AMOUNTS = {a: 1_000_000 * (i + 1) + i for i, a in enumerate(OPERATORS[:11])}  # the 12th: none
REFUSAL = (b'{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request",'
           b'"data":"batch request exceeds maximum (10) allowed number of requests"}}')


# --------------------------------------------------------------------------- spec: field numbers

_MESSAGE_RE = re.compile(r"^message (\w+) \{(.*?)^\}", re.M | re.S)
_FIELD_RE = re.compile(r"^\s*([\w.]+)\s+(\w+)\s*=\s*(\d+)", re.M)


def proto_messages(path: Path) -> dict[str, dict[str, tuple[str, int]]]:
    """message → field name → (type, number), from a copied .proto file."""
    out = {}
    for name, body in _MESSAGE_RE.findall(path.read_text(encoding="utf-8")):
        body = re.sub(r"//[^\n]*", "", body)
        out[name] = {field: (kind, int(number)) for kind, field, number in _FIELD_RE.findall(body)
                     if kind not in ("option", "reserved")}
    return out


QUERY = proto_messages(QUERY_PROTO)
COIN = proto_messages(COIN_PROTO)["Coin"]
REQUEST, RESPONSE = QUERY["QueryBalanceRequest"], QUERY["QueryBalanceResponse"]


def test_spec_fields_are_what_the_codec_below_assumes() -> None:
    assert REQUEST == {"address": ("string", 1), "denom": ("string", 2)}
    assert RESPONSE == {"balance": ("cosmos.base.v1beta1.Coin", 1)}
    assert COIN == {"denom": ("string", 1), "amount": ("string", 2)}


# --------------------------------------------------------------------------- a tiny protobuf codec


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def read_varint(message: bytes, i: int) -> tuple[int, int]:
    """(value, next index) of the varint at ``i``."""
    value = shift = 0
    while True:
        byte = message[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def parse(message: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a message; anything else (other wire types, a repeated
    field, trailing bytes) fails the test."""
    fields: dict[int, bytes] = {}
    i = 0
    while i < len(message):
        key, i = read_varint(message, i)
        assert key & 7 == 2, f"field {key >> 3}: wire type {key & 7}"
        size, i = read_varint(message, i)
        assert i + size <= len(message) and key >> 3 not in fields
        fields[key >> 3] = message[i:i + size]
        i += size
    return fields


def request_data(address: str, denom: str = "upokt") -> bytes:
    return (field(REQUEST["address"][1], address.encode())
            + field(REQUEST["denom"][1], denom.encode()))


def decode_value(value: str) -> tuple[str, str]:
    """(denom, amount) of the base64 ``QueryBalanceResponse``."""
    response = parse(base64.b64decode(value, validate=True))
    assert set(response) == {RESPONSE["balance"][1]}
    coin = parse(response[RESPONSE["balance"][1]])
    assert set(coin) <= {COIN["denom"][1], COIN["amount"][1]}
    return coin.get(COIN["denom"][1], b"").decode(), coin[COIN["amount"][1]].decode()


# --------------------------------------------------------------------------- the stand-in


@pytest.fixture()
def standin() -> Iterator[PocketStandin]:
    seed = {"chain_id": "pocket-lab-abci", "height": HEIGHT, "balances": AMOUNTS}
    with PocketStandin(seed, comet_addr=("127.0.0.1", 0)) as server:
        yield server


def http(url: str, method: str = "GET", body: Any = None,
         timeout: float = 10) -> tuple[int, bytes, dict[str, str]]:
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def call(params: Any, ident: Any = 1) -> dict[str, Any]:
    request = {"jsonrpc": "2.0", "id": ident, "method": "abci_query"}
    return request if params is None else {**request, "params": params}


def rpc(standin: PocketStandin, body: Any) -> Any:
    status, raw, _ = http(standin.comet_url + "/", "POST", body)
    assert status == 200, raw
    return json.loads(raw)


def query(standin: PocketStandin, data: bytes, *, path: str = BALANCE, height: str = "0",
          prove: bool = False) -> dict[str, Any]:
    """``result.response`` of one JSON-RPC abci_query (params by name)."""
    answer = rpc(standin, call({"path": path, "data": data.hex(), "height": height,
                                "prove": prove}))
    assert set(answer) == {"jsonrpc", "id", "result"}, answer
    assert list(answer["result"]) == ["response"]
    response: dict[str, Any] = answer["result"]["response"]
    return response


def latest(standin: PocketStandin) -> str:
    _, raw, _ = http(standin.comet_url + "/status")
    height: str = json.loads(raw)["result"]["sync_info"]["latest_block_height"]
    return height


def rest_balance(standin: PocketStandin, address: str, denom: str = "upokt") -> str:
    _, raw, _ = http(f"{standin.shannon_url}/cosmos/bank/v1beta1/balances/{address}/by_denom"
                     f"?denom={denom}")
    amount: str = json.loads(raw)["balance"]["amount"]
    return amount


# --------------------------------------------------------------------------- successes


def test_balance_by_json_rpc_and_uri(standin: PocketStandin) -> None:
    address = OPERATORS[3]
    response = query(standin, request_data(address))
    assert list(response) == ["value", "height"]  # omitempty: code 0, log, codespace left out
    assert response["height"] == latest(standin) == str(HEIGHT)
    assert decode_value(response["value"]) == ("upokt", str(AMOUNTS[address]))
    assert rest_balance(standin, address) == str(AMOUNTS[address])  # the same number both ways

    status, raw, headers = http(f'{standin.comet_url}/abci_query?path="{BALANCE}"'
                                f"&data=0x{request_data(address).hex()}&height=0&prove=false")
    assert status == 200 and "Cache-Control" not in headers  # abci_query is not cacheable
    assert json.loads(raw) == {"jsonrpc": "2.0", "id": -1, "result": {"response": response}}

    # Params by position (all four), an explicit past height, the node lagging behind.
    at = rpc(standin, call(["/cosmos.bank.v1beta1.Query/Balance", request_data(address).hex(),
                            str(HEIGHT - 7), True]))
    assert at["result"]["response"]["height"] == str(HEIGHT - 7)
    assert decode_value(at["result"]["response"]["value"])[1] == str(AMOUNTS[address])
    standin.control.set_comet(lag=4)
    assert query(standin, request_data(address))["height"] == latest(standin) == str(HEIGHT - 4)
    standin.control.set_balance(address, 42)
    assert decode_value(query(standin, request_data(address))["value"]) == ("upokt", "42")


def test_zero_balance(standin: PocketStandin) -> None:
    nobody = OPERATORS[11]
    response = query(standin, request_data(nobody))
    assert decode_value(response["value"]) == ("upokt", "0")  # the keeper's zero coin
    raw = base64.b64decode(response["value"])
    assert raw == field(1, field(1, b"upokt") + field(2, b"0"))  # amount written even when 0
    assert rest_balance(standin, nobody) == "0"
    # Another (valid) denom: a zero coin of that denom, as REST shows it.
    other = query(standin, request_data(OPERATORS[0], "uusdc"))
    assert decode_value(other["value"]) == ("uusdc", "0") and rest_balance(
        standin, OPERATORS[0], "uusdc") == "0"


def test_batch_of_ten_answered_in_order(standin: PocketStandin) -> None:
    addresses = OPERATORS[:10][::-1]
    body = [call({"path": BALANCE, "data": request_data(a).hex(), "height": "0",
                  "prove": False}, 100 + n) for n, a in enumerate(addresses)]
    status, raw, headers = http(standin.comet_url + "/", "POST", body)
    assert status == 200 and "Cache-Control" not in headers
    answers = json.loads(raw)
    assert [a["id"] for a in answers] == list(range(100, 110))
    assert [decode_value(a["result"]["response"]["value"])[1] for a in answers] == [
        str(AMOUNTS[a]) for a in addresses]
    # A batch of one is answered with one object, not an array.
    one = rpc(standin, [body[0]])
    assert isinstance(one, dict) and one["id"] == 100


def test_batch_of_eleven_refused(standin: PocketStandin) -> None:
    body = [call({"path": BALANCE, "data": request_data(a).hex(), "height": "0"}, n)
            for n, a in enumerate(OPERATORS[:11])]
    status, raw, headers = http(standin.comet_url + "/", "POST", body)
    assert (status, raw) == (200, REFUSAL)
    assert headers["Content-Type"] == "application/json"
    # Notifications count; the check runs before any route (PreChecksHandler), on every path.
    with_notes = body[:10] + [{"jsonrpc": "2.0", "method": "health"}]
    assert http(standin.comet_url + "/", "POST", with_notes)[:2] == (200, REFUSAL)
    assert http(standin.comet_url + "/status", "POST", body)[:2] == (200, REFUSAL)


def test_batch_limit_set_by_control(standin: PocketStandin) -> None:
    control = standin.control
    assert control.state()["comet"]["max_request_batch_size"] == 10
    assert control.set_comet(max_request_batch_size=2) == {
        "lag": 0, "catching_up": False, "max_request_batch_size": 2}
    health = [{"jsonrpc": "2.0", "id": i, "method": "health"} for i in range(3)]
    status, raw, _ = http(standin.comet_url + "/", "POST", health)
    assert json.loads(raw)["error"]["data"] == ("batch request exceeds maximum (2) allowed "
                                                "number of requests")
    assert len(rpc(standin, health[:2])) == 2
    control.set_comet(max_request_batch_size=0)  # no limit
    many = [call({"path": BALANCE, "data": request_data(OPERATORS[i % 11]).hex(),
                  "height": "0"}, i) for i in range(25)]
    assert [a["id"] for a in rpc(standin, many)] == list(range(25))
    assert control.state()["comet"]["max_request_batch_size"] == 0
    with pytest.raises(StandinControlError, match="max_request_batch_size"):
        control.set_comet(max_request_batch_size=-1)
    control.reset()
    assert control.state()["comet"]["max_request_batch_size"] == 10
    seed = {"height": HEIGHT, "comet": {"max_request_batch_size": 3}}
    with PocketStandin(seed, comet_addr=("127.0.0.1", 0)) as seeded:
        assert http(seeded.comet_url + "/", "POST", health + health[:1])[1] == REFUSAL.replace(
            b"(10)", b"(3)")


# --------------------------------------------------------------------------- errors


def sdk_error(code: int, log: str, height: str | None = None) -> dict[str, Any]:
    """A ResponseQuery from ``sdkerrors.QueryResult`` (cmtjson order, height omitted at 0)."""
    return {"code": code, "log": log, **({"height": height} if height else {}),
            "codespace": "sdk"}


def test_application_errors(standin: PocketStandin) -> None:
    h = str(HEIGHT)
    invalid = "rpc error: code = InvalidArgument desc = "
    good = OPERATORS[0]
    cases = [
        (request_data(good, ""), sdk_error(18, f"{invalid}invalid denom: : invalid request", h)),
        (request_data(good, "u"), sdk_error(18, f"{invalid}invalid denom: u: invalid request",
                                            h)),
        # The denom is checked before the address.
        (request_data("nope", ""), sdk_error(18, f"{invalid}invalid denom: : invalid request",
                                             h)),
        (request_data(""), sdk_error(18, f"{invalid}invalid address: empty address string is "
                                         "not allowed: invalid request", h)),
        (request_data(good[:-1] + ("q" if good[-1] != "q" else "p")), None),
        (request_data(lab_address("abci-operator-0", "cosmos")),
         sdk_error(18, f"{invalid}invalid address: hrp does not match bech32 prefix: expected "
                       "'pokt' got 'cosmos': internal logic error: invalid request", h)),
        (b"\x0a", sdk_error(18, "unexpected EOF: invalid request", h)),
        (b"\x00", sdk_error(18, "proto: QueryBalanceRequest: illegal tag 0 (wire type 0): "
                                "invalid request", h)),
        (b"\x08\x01", sdk_error(18, "proto: wrong wireType = 0 for field Address: invalid "
                                    "request", h)),
    ]
    for data, expected in cases:
        response = query(standin, data)
        if expected is None:  # a bad checksum: the decoder's own wording
            assert response["code"] == 18 and response["log"].startswith(
                f"{invalid}invalid address: decoding bech32 failed: invalid checksum"), response
        else:
            assert response == expected, data
            assert list(response) == list(expected)
    # An unknown field is skipped, as the generated Unmarshal does.
    skipped = query(standin, b"\x18\x07" + request_data(good))
    assert decode_value(skipped["value"])[1] == str(AMOUNTS[good])

    data = request_data(good)
    assert query(standin, data, height=str(HEIGHT + 1)) == sdk_error(
        26, "cannot query with height in the future; please provide a valid height: "
            "invalid height")
    assert query(standin, data, height="-1") == sdk_error(
        18, "cannot query with height < 0; please provide a valid height: invalid request")
    assert query(standin, data, height="1", prove=True) == sdk_error(
        18, "cannot query with proof when height <= 1; please provide a valid height: "
            "invalid request")
    assert query(standin, data, path="/cosmos.bank.v1beta1.Query/AllBalancez") == sdk_error(
        6, "unknown query path: unknown request")
    assert query(standin, data, path="") == sdk_error(6, "no query path provided: unknown request")
    assert query(standin, data, path="/cosmos.tx.v1beta1.Service/BroadcastTx") == sdk_error(
        18, "can't route a broadcast tx message: invalid request")
    standin.control.set_comet(lag=HEIGHT + 10)  # a node with no block yet
    assert query(standin, data) == sdk_error(
        26, "pocket is not ready; please wait for first block: invalid height")


def test_rpc_argument_errors(standin: PocketStandin) -> None:
    def error(params: Any) -> str:
        answer = rpc(standin, call(params, "x"))
        assert answer["id"] == "x" and "result" not in answer, answer
        assert (answer["error"]["code"], answer["error"]["message"]) == (-32602, "Invalid params")
        data: str = answer["error"]["data"]
        return data.removeprefix("error converting json params to arguments: ")

    data = request_data(OPERATORS[0]).hex()
    # cmtjson decodes int64 from a JSON string only.
    assert error({"path": BALANCE, "data": data, "height": 0}) == (
        'invalid 64-bit integer encoding "0", expected string')
    assert error({"path": BALANCE, "data": "0x" + data}) == (
        "encoding/hex: invalid byte: U+0078 'x'")
    assert error({"path": BALANCE, "data": data[:-1]}) == "encoding/hex: odd length hex string"
    assert error({"path": BALANCE, "prove": "false"}) == (
        "json: cannot unmarshal string into Go value of type bool")
    # Params by position must be all four; Go prints the raw params with %v (bytes).
    raw_params = " ".join("[" + " ".join(str(b) for b in json.dumps(p).encode()) + "]"
                          for p in (BALANCE, data, "0"))
    assert error([BALANCE, data, "0"]) == (
        f"expected 4 parameters ([path data height prove]), got 3 ([{raw_params}])")
    # Without params the server's reflect call panics: HTTP 500 for the whole request, id -1.
    status, raw, _ = http(standin.comet_url + "/", "POST", call(None))
    assert (status, json.loads(raw)) == (500, {"jsonrpc": "2.0", "id": -1, "error": {
        "code": -32603, "message": "Internal error",
        "data": "reflect: Call with too few input arguments"}})
    # "params": {} (or null): every argument its zero value, so an empty path.
    assert rpc(standin, call({}))["result"]["response"]["log"] == (
        "no query path provided: unknown request")

    # URI: errors with HTTP 500 and id -1.
    for query_string, message in (
            (f"path={BALANCE}", "invalid character '/' looking for beginning of value"),
            (f'path="{BALANCE}"&data={data}', f"invalid hex string: {data}"),
            (f'path="{BALANCE}"&height=abc', 'invalid 64-bit integer encoding "abc", expected '
                                             "string"),
            (f'path="{BALANCE}"&height=0x10', "got a hex string arg, but expected 'int64'")):
        status, raw, _ = http(f"{standin.comet_url}/abci_query?{query_string}")
        assert (status, json.loads(raw)) == (500, {"jsonrpc": "2.0", "id": -1, "error": {
            "code": -32602, "message": "Invalid params",
            "data": f"error converting http params to arguments: {message}"}}), query_string


# --------------------------------------------------------------------------- faults and latency


def test_faults_and_latency_apply(standin: PocketStandin) -> None:
    control = standin.control
    body = call({"path": BALANCE, "data": request_data(OPERATORS[0]).hex(), "height": "0"})
    control.set_latency(250)
    started = time.monotonic()
    assert "result" in rpc(standin, body)
    assert time.monotonic() - started >= 0.25
    control.set_latency(0)

    control.set_fault("http503", path_prefix="/", count=1)  # a JSON-RPC call's path is "/"
    assert http(standin.comet_url + "/", "POST", body)[0] == 503
    assert "result" in rpc(standin, body)  # count exhausted
    control.set_fault("garbage", path_prefix="/abci_query")  # the URI form alone
    status, raw, _ = http(f'{standin.comet_url}/abci_query?path="{BALANCE}"'
                          f"&data=0x{request_data(OPERATORS[0]).hex()}")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)
    assert "result" in rpc(standin, body)
    control.set_fault("hang", path_prefix="/", count=1)
    with pytest.raises(TimeoutError):
        http(standin.comet_url + "/", "POST", body, timeout=0.5)
    control.set_fault("none")
    assert "result" in rpc(standin, body)


def test_endpoint_listing_names_abci_query(standin: PocketStandin) -> None:
    status, raw, _ = http(standin.comet_url + "/", "POST", b"")
    host = standin.comet_url.removeprefix("http://")
    assert status == 200
    assert f"//{host}/abci_query?path=_&data=_&height=_&prove=_</a>" in raw.decode()
