"""The Shannon REST endpoint: the poktroll gRPC gateway routes and the Cosmos routes, with
grpc-gateway v1's query parsing and Cosmos pagination.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from fleetlab.standin.common import Reply, _b64, _go_quote, _json_bytes
from fleetlab.standin.errors import (
    INTERNAL,
    INVALID_ARGUMENT,
    UNIMPLEMENTED,
    GatewayError,
)
from fleetlab.standin.params import MAINNET_SHANNON_PARAMS

if TYPE_CHECKING:
    from fleetlab.standin.state import ChainState


@dataclass(frozen=True)
class PageRequest:
    """``cosmos.base.query.v1beta1.PageRequest`` applied as ``query.Paginate`` does."""

    key: bytes = b""
    offset: int = 0
    limit: int = 0
    count_total: bool = False
    reverse: bool = False

    def apply(self, items: list[tuple[bytes, Any]]) -> tuple[list[Any], dict[str, Any]]:
        """Page of ``(store key, value)`` items and its ``PageResponse``.

        Keys order the store; ``next_key`` is the key of the first item after the page. A
        missing limit means 100 with ``count_total``; ``total`` is only counted on the offset
        path, as in the SDK.
        """
        if self.offset > 0 and self.key:
            raise GatewayError(INTERNAL,
                               "invalid request, either offset or key is expected, got both")
        limit, count_total = (self.limit, self.count_total) if self.limit else (100, True)
        ordered = sorted(items, key=lambda kv: kv[0], reverse=self.reverse)
        if self.key:
            start = next((i for i, (k, _) in enumerate(ordered)
                          if (k <= self.key if self.reverse else k >= self.key)), len(ordered))
            total = 0
        else:
            start = self.offset
            total = len(ordered) if count_total else 0
        page = ordered[start:start + limit]
        rest = ordered[start + limit:]
        next_key = _b64(rest[0][0]) if rest else None
        return [v for _, v in page], {"next_key": next_key, "total": str(total)}


class _GatewayQuery:
    """Query-string fields parsed as grpc-gateway v1 ``PopulateQueryParameters`` parses them."""

    def __init__(self, raw: Mapping[str, list[str]]) -> None:
        self._raw = raw

    def text(self, name: str) -> str:
        return self._raw.get(name, [""])[0]

    def has(self, name: str) -> bool:
        return name in self._raw

    def integer(self, name: str, *, signed: bool) -> int:
        if not self.has(name):
            return 0
        value = self.text(name)
        func = "ParseInt" if signed else "ParseUint"
        if not re.fullmatch(r"[+-]?\d+" if signed else r"\d+", value):
            raise GatewayError(INVALID_ARGUMENT,
                               f"strconv.{func}: parsing {_go_quote(value)}: invalid syntax")
        number = int(value)
        if not (-(2**63) <= number < 2**63 if signed else number < 2**64):
            raise GatewayError(INVALID_ARGUMENT,
                               f"strconv.{func}: parsing {_go_quote(value)}: value out of range")
        return number

    def boolean(self, name: str) -> bool:
        if not self.has(name):
            return False
        value = self.text(name)
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise GatewayError(INVALID_ARGUMENT,
                           f"strconv.ParseBool: parsing {_go_quote(value)}: invalid syntax")

    def bytes_(self, name: str) -> bytes:
        """``runtime.Bytes``: standard base64, else URL-safe base64 (both strict)."""
        value = self.text(name).encode("utf-8")
        for altchars in (b"+/", b"-_"):
            try:
                return base64.b64decode(value, altchars=altchars, validate=True)
            except ValueError:
                continue
        alphabet = re.compile(rb"[A-Za-z0-9+/=]")
        bad = next((i for i in range(len(value)) if not alphabet.match(value, i)), len(value))
        raise GatewayError(INVALID_ARGUMENT, f"illegal base64 data at input byte {bad}")

    def page(self) -> PageRequest:
        return PageRequest(
            key=self.bytes_("pagination.key") if self.text("pagination.key") else b"",
            offset=self.integer("pagination.offset", signed=False),
            limit=self.integer("pagination.limit", signed=False),
            count_total=self.boolean("pagination.count_total"),
            reverse=self.boolean("pagination.reverse"),
        )


_SHANNON_PARAM_MODULES = tuple(sorted(MAINNET_SHANNON_PARAMS))


class _ShannonEndpoint:
    """The poktroll gateway routes and the Cosmos routes."""

    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        params = "|".join(_SHANNON_PARAM_MODULES)
        self._routes: list[tuple[re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            (re.compile(r"/pokt-network/poktroll/supplier/supplier/(?P<address>[^/]+)"),
             lambda q, address: chain.query_supplier(address, dehydrated=q.boolean("dehydrated"))),
            (re.compile(r"/pokt-network/poktroll/supplier/supplier"),
             lambda q: chain.query_suppliers(
                 service_id=q.text("service_id"), operator_address=q.text("operator_address"),
                 owner_address=q.text("owner_address"), dehydrated=q.boolean("dehydrated"),
                 page=q.page())),
            (re.compile(r"/pokt-network/poktroll/application/application/(?P<address>[^/]+)"),
             lambda q, address: chain.query_application(address)),
            (re.compile(r"/pokt-network/poktroll/application/application"),
             lambda q: chain.query_applications(
                 delegatee_gateway_address=q.text("delegatee_gateway_address"), page=q.page())),
            (re.compile(rf"/pokt-network/poktroll/(?P<module>{params})/params"),
             lambda q, module: chain.query_params(module)),
            (re.compile(r"/pokt-network/poktroll/service/service/(?P<service_id>[^/]+)"),
             lambda q, service_id: chain.query_service(service_id)),
            (re.compile(r"/pokt-network/poktroll/session/get_session"),
             lambda q: chain.query_session(q.text("application_address"), q.text("service_id"),
                                           q.integer("block_height", signed=True))),
            (re.compile(r"/cosmos/base/tendermint/v1beta1/blocks/latest"),
             lambda q: chain.query_latest_block()),
            (re.compile(r"/cosmos/auth/v1beta1/accounts/(?P<address>[^/]+)"),
             lambda q, address: chain.query_account(address)),
            (re.compile(r"/cosmos/bank/v1beta1/balances/(?P<address>[^/]+)/by_denom"),
             lambda q, address: chain.query_bank_balance(address, q.text("denom"))),
            (re.compile(r"/cosmos/bank/v1beta1/balances/(?P<address>[^/]+)"),
             lambda q, address: chain.query_bank_balance(address, None)),
        ]

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        for pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method != "GET":
                return self._status(UNIMPLEMENTED, "Method Not Allowed", with_height=False)
            try:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                return self._ok(handler(_GatewayQuery(query), **args))
            except GatewayError as exc:
                return self._status(exc.code, exc.message)
        return self._status(UNIMPLEMENTED, "Not Implemented", with_height=False)

    def _height_header(self) -> tuple[tuple[str, str], ...]:
        return (("Grpc-Metadata-X-Cosmos-Block-Height", str(self.chain.height())),)

    def _ok(self, payload: dict[str, Any]) -> Reply:
        return Reply(200, _json_bytes(payload), headers=self._height_header())

    def _status(self, code: int, message: str, *, with_height: bool = True) -> Reply:
        body = _json_bytes({"code": code, "message": message, "details": []})
        return Reply(GatewayError.HTTP_STATUS[code], body,
                     headers=self._height_header() if with_height else ())
