"""The Morse endpoint: pocket-core's RPC routes, with Go's ``encoding/json`` decoding of the
request bodies and its error messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fleetlab.standin.common import MORSE_VERSION, Reply, _go_char, _go_json_bytes
from fleetlab.standin.errors import MorseError

if TYPE_CHECKING:
    from fleetlab.standin.state import ChainState


class _GoFloat(float):
    """A JSON number with a fraction or exponent, remembering its text for Go-style errors."""

    literal: str


def _parse_go_float(text: str) -> _GoFloat:
    number = _GoFloat(text)
    number.literal = text
    return number


@dataclass(frozen=True)
class _GoStruct:
    """A Go request struct of pocket-core's RPC: its name and JSON fields (name → Go type)."""

    name: str
    fields: Mapping[str, str | _GoStruct]


_INT_RANGES = {"int": 63, "int64": 63, "types.StakeStatus": 31}


_HEIGHT_PARAMS = _GoStruct("rpc.HeightParams", {"height": "int64"})


_HEIGHT_ADDR_PARAMS = _GoStruct("rpc.HeightAndAddrParams", {"height": "int64", "address": "string"})


_PAGINATED_ADDR_PARAMS = _GoStruct("rpc.PaginatedHeightAndAddrParams", {
    "height": "int64", "address": "string", "page": "int", "per_page": "int"})


_VALIDATOR_OPTS = _GoStruct("types.QueryValidatorsParams", {
    "staking_status": "types.StakeStatus", "jailed_status": "int", "blockchain": "string",
    "page": "int", "per_page": "int"})


_NODES_PARAMS = _GoStruct("rpc.HeightAndValidatorOptsParams", {"height": "int64",
                                                                "opts": _VALIDATOR_OPTS})


def _go_json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _GoFloat):
        return f"number {value.literal}"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_syntax_error(exc: json.JSONDecodeError) -> str:
    """An ``encoding/json`` syntax error message for what Python's decoder rejected."""
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected end of JSON input"
    char = _go_char(exc.doc[exc.pos])
    if exc.msg.startswith("Extra data"):
        return f"invalid character {char} after top-level value"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {char} after object key"
    if exc.msg.startswith("Expecting ','"):
        return f"invalid character {char} after object key:value pair"
    return f"invalid character {char} looking for beginning of value"


def _decode_go_body(body: bytes, struct: _GoStruct) -> dict[str, Any]:
    """``PopModel`` (pocket-core app/cmd/rpc/server.go): ``json.Unmarshal`` into ``struct``.

    An empty body leaves the defaults; fields match case-insensitively; unknown fields are
    ignored; a type mismatch or a syntax error raises ``MorseError`` with Go's message.
    """
    if not body:
        return _decode_go_object({}, struct, "")
    try:
        value = json.loads(body.decode("utf-8"), parse_float=_parse_go_float)
    except UnicodeDecodeError:
        raise MorseError("invalid character looking for beginning of value") from None
    except json.JSONDecodeError as exc:
        raise MorseError(_go_syntax_error(exc)) from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise MorseError(f"json: cannot unmarshal {_go_json_kind(value).split(' ')[0]} "
                         f"into Go value of type {struct.name}")
    return _decode_go_object(value, struct, struct.name.split(".")[-1] + ".")


def _decode_go_object(value: Mapping[str, Any], struct: _GoStruct, prefix: str) -> dict[str, Any]:
    """Decode ``value`` into ``struct``'s fields; ``prefix`` names the field path in errors."""
    out: dict[str, Any] = {name: (_decode_go_object({}, kind, "") if isinstance(kind, _GoStruct)
                                  else ("" if kind == "string" else 0))
                           for name, kind in struct.fields.items()}
    for key, item in value.items():
        name = key if key in struct.fields else next(
            (f for f in struct.fields if f.lower() == key.lower()), None)
        if name is None or item is None:
            continue
        kind = struct.fields[name]
        path = f"{prefix}{name}"
        if isinstance(kind, _GoStruct):
            if not isinstance(item, dict):
                raise MorseError(f"json: cannot unmarshal {_go_json_kind(item).split(' ')[0]} into "
                                 f"Go struct field {path} of type {kind.name}")
            out[name] = _decode_go_object(item, kind, f"{path}.")
            continue
        if kind == "string":
            ok = isinstance(item, str)
        else:
            bits = _INT_RANGES[kind]
            ok = (isinstance(item, int) and not isinstance(item, (bool, _GoFloat))
                  and -(2**bits) <= item < 2**bits)
        if not ok:
            raise MorseError(f"json: cannot unmarshal {_go_json_kind(item)} into Go struct field "
                             f"{path} of type {kind}")
        out[name] = item
    return out


def _morse_address(raw: str) -> str:
    """``sdk.AddressFromHex`` (pocket-core types/address.go) with Go's ``encoding/hex`` errors."""
    if raw == "":
        return ""
    data = raw.encode("utf-8")

    def invalid(byte: int) -> MorseError:
        char = chr(byte)
        shown = f" {_go_char(char)}" if char.isprintable() else ""
        return MorseError(f"encoding/hex: invalid byte: U+{byte:04X}{shown}")

    hex_bytes = b"0123456789abcdefABCDEF"
    for i in range(1, len(data), 2):
        for byte in (data[i - 1], data[i]):
            if byte not in hex_bytes:
                raise invalid(byte)
    if len(data) % 2:
        if data[-1] not in hex_bytes:
            raise invalid(data[-1])
        raise MorseError("encoding/hex: odd length hex string")
    if len(data) != 40:
        raise MorseError("Incorrect address length")
    return raw.lower()


_MORSE_JSON = "application/json; charset=utf-8"


_MORSE_JSON_UPPER = "application/json; charset=UTF-8"


class _MorseEndpoint:
    """pocket-core's RPC routes (app/cmd/rpc/server.go ``GetRoutes``)."""

    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        self._routes: dict[str, tuple[str, Callable[[bytes], Reply]]] = {
            "/v1": ("GET", self._version),
            "/v1/query/height": ("POST", self._height),
            "/v1/query/node": ("POST", self._node),
            "/v1/query/nodes": ("POST", self._nodes),
            "/v1/query/nodeparams": ("POST", self._node_params),
            "/v1/query/signinginfo": ("POST", self._signing_info),
            "/v1/query/balance": ("POST", self._balance),
            "/v1/query/allparams": ("POST", self._all_params),
            "/v1/query/supportedchains": ("POST", self._supported_chains),
            "/v1/query/supply": ("POST", self._supply),
        }
        self._folded = {path.lower(): path for path in self._routes}

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        route = self._routes.get(path)
        if route is None:
            fixed = self._folded.get(path.lower().rstrip("/")) if path != "/" else None
            if fixed is None:
                return Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return Reply(301 if method == "GET" else 308, b"", "text/html; charset=utf-8",
                         (("Location", quote(fixed)),))
        allowed, handler = route
        if method != allowed:
            return Reply(405, b"Method Not Allowed\n", "text/plain; charset=utf-8",
                         (("Allow", f"{allowed}, OPTIONS"),))
        try:
            return handler(body)
        except MorseError as exc:
            return Reply(400, _go_json_bytes({"code": 400, "message": str(exc)}, sort_keys=False,
                                             newline=True), _MORSE_JSON_UPPER)

    @staticmethod
    def _json_response(value: Any) -> Reply:
        """``WriteJSONResponse``: re-encoded through a map, so keys sorted, newline-terminated."""
        return Reply(200, _go_json_bytes(value, sort_keys=True, newline=True), _MORSE_JSON)

    def _version(self, body: bytes) -> Reply:
        return Reply(200, _go_json_bytes(MORSE_VERSION, sort_keys=False, newline=False),
                     _MORSE_JSON_UPPER)

    def _height(self, body: bytes) -> Reply:
        return self._json_response({"height": self.chain.height()})

    def _node(self, body: bytes) -> Reply:
        params = _decode_go_body(body, _HEIGHT_ADDR_PARAMS)
        return self._json_response(self.chain.morse_node(_morse_address(params["address"])))

    def _nodes(self, body: bytes) -> Reply:
        opts = _decode_go_body(body, _NODES_PARAMS)["opts"]
        page = self.chain.morse_nodes(
            staking_status=opts["staking_status"], jailed_status=opts["jailed_status"],
            blockchain=opts["blockchain"], page=opts["page"] or 1,
            per_page=opts["per_page"] or 1000)
        return Reply(200, _go_json_bytes(page, sort_keys=False, newline=False), _MORSE_JSON_UPPER)

    def _node_params(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return self._json_response(self.chain.morse_node_params())

    def _signing_info(self, body: bytes) -> Reply:
        params = _decode_go_body(body, _PAGINATED_ADDR_PARAMS)
        return self._json_response(self.chain.morse_signing_infos(
            _morse_address(params["address"]), params["page"], params["per_page"]))

    def _balance(self, body: bytes) -> Reply:
        params = _decode_go_body(body, _HEIGHT_ADDR_PARAMS)
        return self._json_response(self.chain.morse_balance(_morse_address(params["address"])))

    def _all_params(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return self._json_response(self.chain.morse_all_params())

    def _supply(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return self._json_response(self.chain.morse_supply())

    def _supported_chains(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return Reply(200, _go_json_bytes(self.chain.morse_supported_chains(), sort_keys=False,
                                         newline=False), _MORSE_JSON_UPPER)
