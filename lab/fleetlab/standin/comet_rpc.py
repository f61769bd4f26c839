"""The CometBFT RPC endpoint (v0.38's rpc/jsonrpc/server): URI routes and JSON-RPC on ``/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fleetlab.standin.comet import _comet_height_arg
from fleetlab.standin.common import Reply, _go_json_bytes
from fleetlab.standin.control import _ControlAPI
from fleetlab.standin.errors import CometRPCError

if TYPE_CHECKING:
    from fleetlab.standin.state import ChainState


_COMET_JSON = "application/json"


_GO_NOT_FOUND = Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")


class _CometEndpoint:
    """CometBFT v0.38's RPC server (rpc/jsonrpc/server): URI routes and JSON-RPC on ``/``."""

    #: The one control route the node's listener also answers (the RelayMiner's "broadcast").
    TX_ROUTE = "/__lab/tx"

    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        self.rpc_address = ""  # tcp://HOST:PORT of the listener, set once it is bound
        self._control = _ControlAPI(chain)
        #: method → (argument names, call, cacheable with these args) as rpc/core/routes.go
        #: registers them (``Cacheable()``: always; ``Cacheable("height")``: once it is given).
        self._methods: dict[str, tuple[tuple[str, ...], Callable[..., dict[str, Any]],
                                       Callable[[dict[str, Any]], bool]]] = {
            "abci_info": ((), lambda: chain.comet_abci_info(), lambda a: True),
            "block_results": (("height",), lambda height: chain.comet_block_results(height),
                              lambda a: a.get("height") is not None),
            "blockchain": (("minHeight", "maxHeight"),
                           lambda minHeight, maxHeight: chain.comet_blockchain(minHeight,
                                                                               maxHeight),
                           lambda a: True),
            "health": ((), lambda: {}, lambda a: False),
            "status": ((), lambda: chain.comet_status(self.rpc_address), lambda a: False),
        }

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        if path == self.TX_ROUTE:
            return self._control.handle(method, path, body)
        if path == "/":
            return self._json_rpc(body)
        entry = self._methods.get(path[1:]) if path.startswith("/") else None
        if entry is None:
            return _GO_NOT_FOUND
        names, call, cacheable = entry
        try:
            args = {name: _comet_height_arg(query.get(name, [""])[0], name, uri=True)
                    for name in names}
            result = call(**args)
        except CometRPCError as exc:
            # URI requests carry no id: the server answers with -1 (URIClientRequestID).
            return Reply(500, self._encode({"jsonrpc": "2.0", "id": -1, "error": {
                "code": exc.code, "message": exc.message, "data": exc.data}}), _COMET_JSON)
        headers = (("Cache-Control", "public, max-age=86400"),) if cacheable(args) else ()
        return Reply(200, self._encode({"jsonrpc": "2.0", "id": -1, "result": result}),
                     _COMET_JSON, headers)

    @staticmethod
    def _encode(value: Any) -> bytes:
        return _go_json_bytes(value, sort_keys=False, newline=False)

    def _json_rpc(self, body: bytes) -> Reply:
        """``makeJSONRPCHandler``: one request or a batch; notifications (no id) get nothing."""
        if not body:
            # writeListOfEndpoints (rpc/jsonrpc/server/http_json_handler.go).
            host = self.rpc_address.removeprefix("tcp://")
            links = ["", ""]
            for name, (names, _, _) in sorted(self._methods.items()):
                link = f"//{host}/{name}" + ("?" + "&".join(f"{a}=_" for a in names)
                                             if names else "")
                links[bool(names)] += f'<a href="{link}">{link}</a></br>'
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
            names, call, cacheable = entry
            try:
                args = self._json_rpc_args(names, request.get("params"))
                result = call(**args)
            except CometRPCError as exc:
                cache = False
                responses.append({"jsonrpc": "2.0", "id": request["id"], "error": {
                    "code": exc.code, "message": exc.message, "data": exc.data}})
                continue
            cache = cache and cacheable(args)
            responses.append({"jsonrpc": "2.0", "id": request["id"], "result": result})
        if not responses:
            return Reply(200, b"", "text/plain; charset=utf-8")
        headers = (("Cache-Control", "public, max-age=86400"),) if cache else ()
        return Reply(200, self._encode(responses[0] if len(responses) == 1 else responses),
                     _COMET_JSON, headers)

    @staticmethod
    def _json_rpc_args(names: tuple[str, ...], params: Any) -> dict[str, Any]:
        """``jsonParamsToArgs``: params by name (an object) or by position (an array)."""
        if params is None:
            params = {}
        if isinstance(params, list):
            if len(params) > len(names):
                raise CometRPCError(-32602, "Invalid params", "error converting json params to "
                                    f"arguments: expected {len(names)} parameters "
                                    f"({list(names)}), got {len(params)} ({params})")
            params = dict(zip(names, params, strict=False))
        if not isinstance(params, dict):
            raise CometRPCError(-32602, "Invalid params", "error converting json params to "
                                "arguments: unknown type for JSON params")
        return {name: _comet_height_arg(params.get(name), name, uri=False) for name in names}
