"""The control API (``/__lab/…``): its routes on the server and :class:`StandinControl`, the
client tests and the lab use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib import error as urlerror
from urllib import request as urlrequest
from urllib.parse import quote, unquote, urlsplit

from fleetlab.standin.common import Reply, SeedError, _json_bytes, _require_loopback
from fleetlab.standin.errors import ControlError

if TYPE_CHECKING:
    from fleetlab.standin.state import ChainState


class _ControlAPI:
    """``/__lab/…``: JSON in, JSON out; see the module docstring for the routes."""

    PREFIX = "/__lab/"

    def __init__(self, chain: ChainState) -> None:
        self._chain = chain

    def handle(self, method: str, path: str, body: bytes) -> Reply:
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else {}
            if not isinstance(payload, dict):
                raise SeedError("expected a JSON object")
            result = self._route(method, path, payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._error(400, f"invalid JSON: {exc}")
        except SeedError as exc:
            return self._error(400, str(exc))
        except ControlError as exc:
            return self._error(exc.status, exc.message)
        return Reply(200, _json_bytes(result))

    @staticmethod
    def _error(status: int, message: str) -> Reply:
        return Reply(status, _json_bytes({"error": message}))

    def _route(self, method: str, path: str, p: dict[str, Any]) -> Any:
        chain = self._chain
        posts: dict[str, Callable[[], Any]] = {
            "/__lab/reset": lambda: {"height": chain.reset()},
            "/__lab/height": lambda: {"height": chain.set_height(height=p.get("height"),
                                                                 advance=p.get("advance"))},
            "/__lab/shannon/supplier": lambda: chain.upsert_supplier(p),
            "/__lab/shannon/application": lambda: chain.upsert_application(p),
            "/__lab/shannon/slash": lambda: chain.slash_supplier(p.get("operator_address"),
                                                                 p.get("amount_upokt")),
            "/__lab/shannon/params": lambda: chain.update_shannon_params(
                p.get("module"), p.get("params"), p.get("remove")),
            "/__lab/balance": lambda: chain.set_balance(p.get("address"), p.get("amount_upokt")),
            "/__lab/account": lambda: chain.upsert_account(p),
            "/__lab/morse/node": lambda: chain.upsert_morse_node(p),
            "/__lab/morse/jail": lambda: chain.jail_morse_node(p),
            "/__lab/morse/slash": lambda: chain.slash_morse_node(p.get("address"),
                                                                 p.get("amount_upokt")),
            "/__lab/morse/params": lambda: chain.update_morse_params(
                p.get("module", "pos"), p.get("params"), p.get("remove")),
            "/__lab/comet": lambda: {"comet": chain.set_comet(p)},
            "/__lab/fault": lambda: {"fault": chain.set_fault(p)},
            "/__lab/latency": lambda: {"latency_ms": chain.set_latency(p.get("ms"))},
            "/__lab/tx": lambda: chain.submit_tx(p),
            "/__lab/events": lambda: chain.inject_events(p),
            "/__lab/reorg": lambda: chain.reorg(p),
        }
        deletes = {"/__lab/shannon/supplier/": chain.delete_supplier,
                   "/__lab/shannon/application/": chain.delete_application}
        if method == "GET" and path == "/__lab/state":
            return chain.export()
        if method == "POST" and path in posts:
            return posts[path]()
        if method == "DELETE":
            for prefix, delete in deletes.items():
                if path.startswith(prefix) and len(path) > len(prefix):
                    return delete(unquote(path[len(prefix):]))
        raise ControlError(404, f"no control route {method} {path}")


class StandinControlError(RuntimeError):
    """A control-API call answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class StandinControl:
    """Client of the control API (``/__lab/…`` on the Shannon port), for tests and the lab CLI."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        host = urlsplit(base_url).hostname or ""
        _require_loopback(host)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urlrequest.build_opener(urlrequest.ProxyHandler({}))

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None,
              key: str | None = None) -> dict[str, Any]:
        """One control request; the JSON object answered (or its ``key`` member)."""
        data = None if payload is None else _json_bytes(
            {k: v for k, v in payload.items() if v is not None})
        req = urlrequest.Request(self.base_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                result = json.loads(response.read())
        except urlerror.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except (ValueError, AttributeError):
                message = str(exc.reason)
            raise StandinControlError(exc.code, str(message)) from None
        result = result if key is None else result[key]
        if not isinstance(result, dict):
            raise StandinControlError(200, f"unexpected control answer {result!r}")
        return result

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/__lab/state")

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/__lab/reset", {})

    def set_height(self, height: int) -> int:
        return int(self._call("POST", "/__lab/height", {"height": height})["height"])

    def advance(self, blocks: int) -> int:
        return int(self._call("POST", "/__lab/height", {"advance": blocks})["height"])

    def upsert_supplier(self, supplier: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/supplier", supplier, "supplier")

    def delete_supplier(self, operator_address: str) -> None:
        self._call("DELETE", f"/__lab/shannon/supplier/{quote(operator_address)}")

    def slash_supplier(self, operator_address: str, amount_upokt: int) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/slash", {
            "operator_address": operator_address, "amount_upokt": amount_upokt}, "supplier")

    def upsert_application(self, application: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/application", application, "application")

    def delete_application(self, address: str) -> None:
        self._call("DELETE", f"/__lab/shannon/application/{quote(address)}")

    def set_shannon_params(self, module: str, params: Mapping[str, Any] | None = None,
                           remove: Iterable[str] | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/params", {
            "module": module, "params": params, "remove": None if remove is None else list(remove),
        }, "params")

    def set_balance(self, address: str, amount_upokt: int) -> None:
        self._call("POST", "/__lab/balance", {"address": address, "amount_upokt": amount_upokt})

    def set_account(self, address: str, *, pub_key: bool | None = None,
                    account_number: int | None = None,
                    sequence: int | None = None) -> dict[str, Any]:
        """``POST /__lab/account`` (None leaves a field as it is) → the account as queried."""
        return self._call("POST", "/__lab/account", {
            "address": address, "pub_key": pub_key, "account_number": account_number,
            "sequence": sequence}, "account")

    def upsert_morse_node(self, node: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/node", node)

    def jail_morse_node(self, address: str, jailed: bool = True, *, jailed_until: str | None = None,
                        jailed_blocks_counter: int | None = None,
                        missed_blocks_counter: int | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/jail", {
            "address": address, "jailed": jailed, "jailed_until": jailed_until,
            "jailed_blocks_counter": jailed_blocks_counter,
            "missed_blocks_counter": missed_blocks_counter,
        })

    def slash_morse_node(self, address: str, amount_upokt: int) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/slash",
                          {"address": address, "amount_upokt": amount_upokt})

    def set_morse_params(self, params: Mapping[str, Any] | None = None, *, module: str = "pos",
                         remove: Iterable[str] | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/params", {
            "module": module, "params": params, "remove": None if remove is None else list(remove),
        }, "params")

    def set_fault(self, mode: str, *, path_prefix: str | None = None,
                  count: int | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/fault",
                          {"mode": mode, "path_prefix": path_prefix, "count": count}, "fault")

    def set_latency(self, ms: int) -> int:
        return int(self._call("POST", "/__lab/latency", {"ms": ms})["latency_ms"])

    def submit_tx(self, msg: str, supplier_operator_address: str, service_id: str,
                  session_end_block_height: int, num_relays: int | None = None) -> dict[str, Any]:
        """``POST /__lab/tx``: ``{"code", "height", …}`` (a refused message is not an error)."""
        return self._call("POST", "/__lab/tx", {
            "msg": msg, "supplier_operator_address": supplier_operator_address,
            "service_id": service_id, "session_end_block_height": session_end_block_height,
            "num_relays": num_relays})

    def inject_events(self, height: int, *, txs_results: list[Any] | None = None,
                      finalize_block_events: list[Any] | None = None) -> dict[str, Any]:
        """Append raw results and events at ``height`` (``POST /__lab/events``)."""
        return self._call("POST", "/__lab/events", {
            "height": height, "txs_results": txs_results,
            "finalize_block_events": finalize_block_events})

    def reorg(self, height: int, *, txs_results: list[Any] | None = None,
              finalize_block_events: list[Any] | None = None) -> dict[str, Any]:
        """Re-org ``height`` (``POST /__lab/reorg``): ``{"height", "hash", "reorgs"}``."""
        return self._call("POST", "/__lab/reorg", {
            "height": height, "txs_results": txs_results,
            "finalize_block_events": finalize_block_events})

    def set_comet(self, *, lag: int | None = None, catching_up: bool | None = None,
                  max_request_batch_size: int | None = None) -> dict[str, Any]:
        """The CometBFT node's ``lag`` behind the chain, ``catching_up`` and its RPC's
        ``max_request_batch_size`` (0: no limit) (None: unchanged) → the node's settings."""
        return self._call("POST", "/__lab/comet", {
            "lag": lag, "catching_up": catching_up,
            "max_request_batch_size": max_request_batch_size}, "comet")
