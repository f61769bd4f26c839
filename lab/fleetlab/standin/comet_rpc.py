"""The CometBFT RPC endpoint (v0.38's rpc/jsonrpc/server): URI routes and JSON-RPC on ``/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleetlab.standin.comet import _comet_height_arg
from fleetlab.standin.common import Reply, _go_char, _go_json_bytes, _go_quote
from fleetlab.standin.control import _ControlAPI
from fleetlab.standin.errors import CometRPCError

if TYPE_CHECKING:
    from fleetlab.standin.state import ChainState


_COMET_JSON = "application/json"


_GO_NOT_FOUND = Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")


class _CallPanic(Exception):
    """``rpcFunc.f.Call`` panicked (too few arguments): ``RecoverAndLogHandler`` answers the
    whole request with HTTP 500 and ``RPCInternalError(-1, …)``."""


@dataclass(frozen=True)
class _Method:
    """One route of rpc/core/routes.go: its argument names, the call, and whether an answer
    with these arguments is cacheable (``Cacheable()``: always; ``Cacheable("height")``: once
    the height is given)."""

    names: tuple[str, ...]
    call: Callable[..., dict[str, Any]]
    cacheable: Callable[[dict[str, Any]], bool]
    #: Go types of the arguments ("string", "HexBytes", "int64", "bool"), decoded exactly as
    #: the server does (:func:`_uri_arg`, :func:`_json_arg`; JSON-RPC params by position must
    #: be all of them, no params at all is a panic); None: the height arguments of the older
    #: routes (:func:`fleetlab.standin.comet._comet_height_arg`).
    types: tuple[str, ...] | None = None


# ------------------------------------------------------------------ cmtjson argument decoding

_JSON_WS = " \t\n\r"
_INT64_RANGE = range(-(2**63), 2**63)
_NUMBER_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_URI_INT_RE = re.compile(r"-?[0-9]+")  # http_uri_handler.go reInt


def _go_json_type(value: Any) -> str:
    """The JSON kind ``encoding/json``'s ``UnmarshalTypeError`` names."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _raw(value: Any) -> str:
    """The JSON text of a param as the client sent it (compact; escapes as Python writes them)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN / Infinity are not JSON to Go


def _std_json(text: str, go_type: str) -> Any:
    """``encoding/json.Unmarshal(text, &v)`` with v of ``go_type`` ("string", "int64",
    "bool"): the value, or ValueError with Go's message."""
    start = len(text) - len(text.lstrip(_JSON_WS))
    if start == len(text):
        raise ValueError("unexpected end of JSON input")
    number = _NUMBER_RE.match(text, start)
    try:
        value, end = json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text, start)
    except (json.JSONDecodeError, ValueError) as exc:
        pos = exc.pos if isinstance(exc, json.JSONDecodeError) else start
        if pos >= len(text):
            raise ValueError("unexpected end of JSON input") from None
        raise ValueError(f"invalid character {_go_char(text[pos])} looking for beginning "
                         "of value") from None
    rest = text[end:].lstrip(_JSON_WS)
    if rest:
        raise ValueError(f"invalid character {_go_char(rest[0])} after top-level value")
    if value is None:  # null: Unmarshal leaves the zero value
        return {"string": "", "int64": 0, "bool": False}[go_type]
    if go_type == "int64" and number is not None and not isinstance(value, bool):
        if isinstance(value, int) and value in _INT64_RANGE:
            return value
        raise ValueError(f"json: cannot unmarshal number {number.group()} into Go value of "
                         "type int64")
    expected = {"string": str, "bool": bool}.get(go_type)
    if expected is not None and isinstance(value, expected):
        return value
    raise ValueError(f"json: cannot unmarshal {_go_json_type(value)} into Go value of type "
                     f"{go_type}")


def _go_hex(text: str) -> bytes:
    """``hex.DecodeString``: the bytes, or ValueError with Go's message."""
    src = text.encode("utf-8")
    for byte in src:  # pairs in order; an odd length is reported after a bad last byte
        if byte not in b"0123456789abcdefABCDEF":
            shown = f" '{chr(byte)}'" if chr(byte).isprintable() else ""  # Go's %#U
            raise ValueError(f"encoding/hex: invalid byte: U+{byte:04X}{shown}")
    if len(src) % 2:
        raise ValueError("encoding/hex: odd length hex string")
    return bytes.fromhex(src.decode("ascii"))


def _cmtjson(text: str, go_type: str) -> Any:
    """``cmtjson.Unmarshal`` of the JSON ``text`` into ``go_type`` (libs/json/decoder.go):
    null is the zero value; ``int64`` must be a JSON string holding the number; ``HexBytes``
    its ``UnmarshalJSON`` (a JSON string of hex digits, no escapes, no 0x)."""
    if text == "null":
        return {"string": "", "HexBytes": b"", "int64": 0, "bool": False}[go_type]
    quoted = len(text) >= 2 and text[0] == '"' and text[-1] == '"'
    if go_type == "HexBytes":
        if not quoted:
            raise ValueError(f"invalid hex string: {text}")
        return _go_hex(text[1:-1])
    if go_type == "int64":
        if not quoted:
            raise ValueError(f"invalid 64-bit integer encoding {_go_quote(text)}, "
                             "expected string")
        return _std_json(text[1:-1], "int64")
    return _std_json(text, go_type)


def _uri_arg(arg: str, go_type: str) -> Any:
    """``httpParamsToArgs`` of one URI argument (http_uri_handler.go): empty is the zero
    value; ``_nonJSONStringToArg`` (integers bare, ``0x`` hex for strings and bytes, a quoted
    string for bytes), else the text as JSON (:func:`_cmtjson`)."""
    if arg == "":
        return {"string": "", "HexBytes": b"", "int64": 0, "bool": False}[go_type]
    if _URI_INT_RE.fullmatch(arg) and go_type == "int64":
        return _cmtjson(f'"{arg}"', go_type)
    if arg.lower().startswith("0x"):
        if go_type not in ("string", "HexBytes"):
            raise ValueError(f"got a hex string arg, but expected '{go_type}'")
        value = _go_hex(arg[2:])
        return value.decode("utf-8", "replace") if go_type == "string" else value
    if arg.startswith('"') and arg.endswith('"') and go_type == "HexBytes":
        return _std_json(arg, "string").encode("utf-8")
    return _cmtjson(arg, go_type)


def _json_arg(value: Any, go_type: str) -> Any:
    """``cmtjson.Unmarshal`` of one JSON-RPC param (its JSON text: :func:`_raw`)."""
    return _cmtjson(_raw(value), go_type)


def _go_raw_list(values: list[Any]) -> str:
    """Go's ``%v`` of a ``[]json.RawMessage``: each element's bytes as decimal numbers."""
    return "[" + " ".join("[" + " ".join(str(b) for b in _raw(v).encode()) + "]"
                          for v in values) + "]"


# ------------------------------------------------------------------ the server


def _is_rpc_request(item: Any) -> bool:
    """Whether ``json.Unmarshal`` of one batch element into ``types.RPCRequest`` succeeds
    (``RPCRequest.UnmarshalJSON``: an object, or null; a string or numeric id)."""
    if item is None:
        return True
    if not isinstance(item, dict):
        return False
    if any(item.get(k) is not None and not isinstance(item[k], str) for k in ("jsonrpc",
                                                                            "method")):
        return False
    ident = item.get("id")
    return ident is None or (isinstance(ident, (str, int, float))
                             and not isinstance(ident, bool))


class _CometEndpoint:
    """CometBFT v0.38's RPC server (rpc/jsonrpc/server): URI routes and JSON-RPC on ``/``."""

    #: The one control route the node's listener also answers (the RelayMiner's "broadcast").
    TX_ROUTE = "/__lab/tx"

    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        self.rpc_address = ""  # tcp://HOST:PORT of the listener, set once it is bound
        self._control = _ControlAPI(chain)
        #: method → route, as rpc/core/routes.go registers them.
        self._methods: dict[str, _Method] = {
            "abci_info": _Method((), lambda: chain.comet_abci_info(), lambda a: True),
            "abci_query": _Method(("path", "data", "height", "prove"),
                                  lambda path, data, height, prove: chain.comet_abci_query(
                                      path, data, height, prove),
                                  lambda a: False, ("string", "HexBytes", "int64", "bool")),
            "block_results": _Method(("height",),
                                     lambda height: chain.comet_block_results(height),
                                     lambda a: a.get("height") is not None),
            "blockchain": _Method(("minHeight", "maxHeight"),
                                  lambda minHeight, maxHeight: chain.comet_blockchain(
                                      minHeight, maxHeight),
                                  lambda a: True),
            "health": _Method((), lambda: {}, lambda a: False),
            "status": _Method((), lambda: chain.comet_status(self.rpc_address),
                              lambda a: False),
        }

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        if path == self.TX_ROUTE:
            return self._control.handle(method, path, body)
        refused = self._batch_refused(body)
        if refused is not None:
            return refused
        if path == "/":
            return self._json_rpc(body)
        entry = self._methods.get(path[1:]) if path.startswith("/") else None
        if entry is None:
            return _GO_NOT_FOUND
        try:
            args = self._uri_args(entry, query)
            result = entry.call(**args)
        except CometRPCError as exc:
            # URI requests carry no id: the server answers with -1 (URIClientRequestID).
            return Reply(500, self._encode({"jsonrpc": "2.0", "id": -1, "error": {
                "code": exc.code, "message": exc.message, "data": exc.data}}), _COMET_JSON)
        headers = (("Cache-Control", "public, max-age=86400"),) if entry.cacheable(args) else ()
        return Reply(200, self._encode({"jsonrpc": "2.0", "id": -1, "result": result}),
                     _COMET_JSON, headers)

    def _batch_refused(self, body: bytes) -> Reply | None:
        """``PreChecksHandler`` (http_server.go), before any route: with
        ``max_request_batch_size`` > 0, a body that decodes as a JSON array of requests with
        more elements is refused as a whole, HTTP 200, one object without an id."""
        limit = self.chain.comet_max_request_batch_size()
        if limit <= 0 or body.lstrip()[:1] != b"[":
            return None
        try:
            requests = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if (not isinstance(requests, list) or len(requests) <= limit
                or not all(_is_rpc_request(r) for r in requests)):
            return None
        error = {"code": -32600, "message": "Invalid Request",
                 "data": f"batch request exceeds maximum ({limit}) allowed number of requests"}
        return Reply(200, self._encode({"jsonrpc": "2.0", "error": error}), _COMET_JSON)

    @staticmethod
    def _uri_args(entry: _Method, query: Mapping[str, list[str]]) -> dict[str, Any]:
        if entry.types is None:
            return {name: _comet_height_arg(query.get(name, [""])[0], name, uri=True)
                    for name in entry.names}
        args = {}
        for name, go_type in zip(entry.names, entry.types, strict=True):
            try:
                args[name] = _uri_arg(query.get(name, [""])[0], go_type)
            except ValueError as exc:
                raise CometRPCError(-32602, "Invalid params", "error converting http params "
                                    f"to arguments: {exc}") from None
        return args

    @staticmethod
    def _encode(value: Any) -> bytes:
        return _go_json_bytes(value, sort_keys=False, newline=False)

    def _json_rpc(self, body: bytes) -> Reply:
        """``makeJSONRPCHandler``: one request or a batch; notifications (no id) get nothing."""
        if not body:
            # writeListOfEndpoints (rpc/jsonrpc/server/http_json_handler.go).
            host = self.rpc_address.removeprefix("tcp://")
            links = ["", ""]
            for name, route in sorted(self._methods.items()):
                link = f"//{host}/{name}" + ("?" + "&".join(f"{a}=_" for a in route.names)
                                             if route.names else "")
                links[bool(route.names)] += f'<a href="{link}">{link}</a></br>'
            page = ("<html><body><br>Available endpoints:<br>" + links[0]
                    + "<br>Endpoints that require arguments:<br>" + links[1] + "</body></html>")
            return Reply(200, page.encode(), "text/html")
        try:
            parsed = json.loads(body)
            if not isinstance(parsed, (dict, list)):
                raise ValueError(f"cannot unmarshal {type(parsed).__name__} into RPCRequest")
        except (ValueError, UnicodeDecodeError) as exc:
            error = {"code": -32700, "message": "Parse error. Invalid JSON",
                     "data": f"error unmarshaling request: {exc}"}
            return Reply(500, self._encode({"jsonrpc": "2.0", "error": error}), _COMET_JSON)
        requests = parsed if isinstance(parsed, list) else [parsed]
        responses: list[dict[str, Any]] = []
        cache = True
        for request in requests:
            if not isinstance(request, dict) or request.get("id") is None:
                continue
            entry = self._methods.get(str(request.get("method", "")))
            if entry is None:
                cache = False
                responses.append({"jsonrpc": "2.0", "id": request["id"],
                                  "error": {"code": -32601, "message": "Method not found"}})
                continue
            try:
                args = self._json_rpc_args(entry, request)
                result = entry.call(**args)
            except CometRPCError as exc:
                cache = False
                responses.append({"jsonrpc": "2.0", "id": request["id"], "error": {
                    "code": exc.code, "message": exc.message, "data": exc.data}})
                continue
            except _CallPanic as exc:
                error = {"code": -32603, "message": "Internal error", "data": str(exc)}
                return Reply(500, self._encode({"jsonrpc": "2.0", "id": -1, "error": error}),
                             _COMET_JSON)
            cache = cache and entry.cacheable(args)
            responses.append({"jsonrpc": "2.0", "id": request["id"], "result": result})
        if not responses:
            return Reply(200, b"", "text/plain; charset=utf-8")
        headers = (("Cache-Control", "public, max-age=86400"),) if cache else ()
        return Reply(200, self._encode(responses[0] if len(responses) == 1 else responses),
                     _COMET_JSON, headers)

    @staticmethod
    def _json_rpc_args(entry: _Method, request: Mapping[str, Any]) -> dict[str, Any]:
        """``jsonParamsToArgs``: params by name (an object) or by position (an array)."""
        names, params = entry.names, request.get("params")
        if entry.types is not None and names and "params" not in request:
            # No params: only the context is passed to a function that takes more.
            raise _CallPanic("reflect: Call with too few input arguments")
        if params is None:
            params = {}
        if isinstance(params, list):
            if len(params) > len(names) or (entry.types is not None
                                            and len(params) != len(names)):
                raise CometRPCError(-32602, "Invalid params", "error converting json params to "
                                    f"arguments: expected {len(names)} parameters "
                                    f"([{' '.join(names)}]), got {len(params)} "
                                    f"({_go_raw_list(params)})")
            params = dict(zip(names, params, strict=False))
        if not isinstance(params, dict):
            raise CometRPCError(-32602, "Invalid params", "error converting json params to "
                                "arguments: unknown type for JSON params: json: cannot "
                                f"unmarshal {_go_json_type(params)} into Go value of type "
                                "[]json.RawMessage. Expected map or array")
        if entry.types is None:
            return {name: _comet_height_arg(params.get(name), name, uri=False)
                    for name in names}
        args = {}
        for name, go_type in zip(names, entry.types, strict=True):
            try:
                args[name] = _json_arg(params.get(name), go_type)
            except ValueError as exc:
                raise CometRPCError(-32602, "Invalid params", "error converting json params "
                                    f"to arguments: {exc}") from None
        return args
