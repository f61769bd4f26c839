"""Shannon (poktroll) adapter: the gRPC gateway's REST routes (port 1317 on a full node).

Routes and shapes follow ``poktroll-openapi.yml`` (poktroll main):

* ``GET /pokt-network/poktroll/supplier/supplier/{operator_address}?dehydrated=true`` →
  ``pocket.supplier.QueryGetSupplierResponse``; an unknown address is gRPC ``NotFound``
  (code 5, HTTP 404), ``x/supplier/keeper/query_supplier.go``.
* ``GET /pokt-network/poktroll/supplier/supplier?{service_id,owner_address}=&dehydrated=true
  &pagination.key=`` → ``QueryAllSuppliersResponse`` (list field ``supplier``, Cosmos
  ``PageResponse`` with base64 ``next_key``): a fleet's suppliers are read one owner at a time.
* ``GET /pokt-network/poktroll/{supplier,proof,shared}/params`` → ``{"params": …}``: supplier
  ``min_stake`` (coin), proof ``proof_missing_penalty`` (coin, burned by
  ``x/tokenomics/keeper/settle_pending_claims.go`` and capped at the stake), shared
  ``supplier_unbonding_period_sessions`` and ``num_blocks_per_session`` (``uint64`` as strings).
* Cosmos standard routes (not in the poktroll spec): ``GET /cosmos/base/tendermint/v1beta1/
  blocks/latest`` (``block.header.height``) and ``GET /cosmos/bank/v1beta1/balances/{address}/
  by_denom?denom=upokt``.

The gateway encodes 64-bit integers as strings and coins as ``{"denom", "amount": "<string>"}``
(``JSONPb{OrigName, EmitDefaults}``); both are parsed and validated here. A supplier is
unbonding when ``unstake_session_end_height`` is not 0 (``Supplier.IsUnbonding``,
``x/shared/types/supplier.go``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from fleetctl.pocket.base import (
    ChainStatus,
    Penalty,
    PocketAdapter,
    StakeParams,
    SupplierState,
    field,
    parse_int,
    settle,
)
from fleetctl.pocket.http import QueryError
from fleetctl.spec.model import Supplier

__all__ = ["ShannonAdapter"]

DENOM = "upokt"
_PREFIX = "/pokt-network/poktroll"
_GRPC_NOT_FOUND = 5
_PAGE_LIMIT = 1000
#: An owner with this many declared suppliers is read with one listing instead of a query each.
OWNER_LISTING_MIN = 5


def _coin(value: Any, what: str) -> int:
    """The upokt amount of a ``cosmos.base.v1beta1.Coin``."""
    denom = field(value, "denom", where=what)
    if denom != DENOM:
        raise QueryError(f"{what}: denom {denom!r}, expected {DENOM!r}")
    return parse_int(field(value, "amount", where=what), f"{what}.amount")


class ShannonAdapter(PocketAdapter):
    """Shannon suppliers, by operator address, over the REST gateway."""

    protocol = "shannon"

    async def height(self) -> int:
        block = await self.client.get("/cosmos/base/tendermint/v1beta1/blocks/latest")
        return parse_int(field(block, "block", "header", "height", where="latest block"),
                         "latest block height", minimum=1)

    async def _params(self, module: str) -> dict[str, Any]:
        reply = await self.client.get(f"{_PREFIX}/{module}/params")
        params = field(reply, "params", where=f"{module} params")
        if not isinstance(params, dict):
            raise QueryError(f"{module} params: expected an object")
        return params

    async def stake_params(self) -> StakeParams:
        modules = ("supplier", "proof", "shared")
        replies = await asyncio.gather(*(settle(self._params(m)) for m in modules))
        params: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for module, reply in zip(modules, replies, strict=True):
            if isinstance(reply, QueryError):
                problems.append(str(reply))
            else:
                params[module] = reply

        def read(module: str, name: str, parse: Callable[[Any, str], int]) -> int | None:
            if module not in params:
                return None
            try:
                return parse(field(params[module], name, where=f"{module} params"),
                             f"{module}.{name}")
            except QueryError as exc:
                problems.append(str(exc))
                return None

        min_stake = read("supplier", "min_stake", _coin)
        penalty = read("proof", "proof_missing_penalty", _coin)
        sessions = read("shared", "supplier_unbonding_period_sessions", parse_int)
        blocks = read("shared", "num_blocks_per_session", lambda v, w: parse_int(v, w, minimum=1))
        return StakeParams(
            min_stake_upokt=min_stake,
            penalties=() if penalty is None else (Penalty("proof_missing", flat_upokt=penalty),),
            unbonding_period_blocks=None if sessions is None or blocks is None else sessions * blocks,
            problems=tuple(problems),
        )

    async def supplier(self, address: str) -> SupplierState:
        try:
            reply = await self.client.get(f"{_PREFIX}/supplier/supplier/{quote(address, safe='')}",
                                          {"dehydrated": "true"})
        except QueryError as exc:
            if exc.status == 404 and isinstance(exc.body, dict) and exc.body.get("code") == _GRPC_NOT_FOUND:
                return SupplierState(address, ChainStatus.NOT_FOUND)
            raise
        state = _supplier_state(field(reply, "supplier", where=f"supplier {address}"), address)
        if state.address != address:
            raise QueryError(f"supplier {address}: the chain answered for {state.address}")
        return state

    async def read_suppliers(self, suppliers: Sequence[Supplier]) -> dict[str, SupplierState | QueryError]:
        """One paginated listing per owner that declares at least :data:`OWNER_LISTING_MIN`
        suppliers, then a query per address for the rest and for any supplier a listing did
        not return (unknown to the chain, another owner on chain, or a listing that failed)."""
        by_owner: dict[str, list[str]] = defaultdict(list)
        for s in suppliers:
            if s.owner_address and s.operator_address:
                by_owner[s.owner_address].append(s.operator_address)
        owners = [owner for owner, group in by_owner.items() if len(group) >= OWNER_LISTING_MIN]
        listed: dict[str, SupplierState] = {}
        for states in await asyncio.gather(*(settle(self.suppliers_of_owner(o)) for o in owners)):
            if not isinstance(states, QueryError):
                listed.update((state.address, state) for state in states)
        rest = [s for s in suppliers if s.operator_address not in listed]
        found: dict[str, SupplierState | QueryError] = dict(listed)
        found.update(await super().read_suppliers(rest))
        return {s.operator_address: found[s.operator_address]
                for s in suppliers if s.operator_address is not None}

    async def suppliers_for_service(self, service: str) -> list[SupplierState]:
        return await self._list({"service_id": service}, f"suppliers of service {service}")

    async def suppliers_of_owner(self, owner: str) -> list[SupplierState]:
        """Every supplier staked by ``owner`` (the list route's ``owner_address`` filter)."""
        return await self._list({"owner_address": owner}, f"suppliers of owner {owner}")

    async def _list(self, filters: dict[str, str], what: str) -> list[SupplierState]:
        """All pages of ``QueryAllSuppliers`` with ``filters``, following ``next_key``."""
        found: list[SupplierState] = []
        seen_keys: set[str] = set()
        query = {**filters, "dehydrated": "true", "pagination.limit": str(_PAGE_LIMIT)}
        while True:
            reply = await self.client.get(f"{_PREFIX}/supplier/supplier", query)
            page = field(reply, "supplier", where=what)
            if not isinstance(page, list):
                raise QueryError(f"{what}: expected a list")
            found.extend(_supplier_state(item, None) for item in page)
            next_key = (reply.get("pagination") or {}).get("next_key")
            if not next_key:
                return found
            if next_key in seen_keys:
                raise QueryError(f"{what}: pagination repeats key {next_key!r}")
            seen_keys.add(next_key)
            query["pagination.key"] = next_key

    async def balance(self, address: str) -> int:
        reply = await self.client.get(
            f"/cosmos/bank/v1beta1/balances/{quote(address, safe='')}/by_denom", {"denom": DENOM})
        return _coin(field(reply, "balance", where=f"balance of {address}"),
                     f"balance of {address}")


def _supplier_state(obj: Any, address: str | None) -> SupplierState:
    """A ``pocket.shared.Supplier`` as a :class:`SupplierState` (``address`` names it in errors)."""
    what = f"supplier {address}" if address else "supplier"
    operator = field(obj, "operator_address", where=what)
    if not isinstance(operator, str):
        raise QueryError(f"{what}: operator_address is not a string")
    what = f"supplier {operator}"
    stake = _coin(field(obj, "stake", where=what), f"{what} stake")
    unstake_end = parse_int(field(obj, "unstake_session_end_height", where=what),
                            f"{what} unstake_session_end_height")
    return SupplierState(
        address=operator,
        status=ChainStatus.UNBONDING if unstake_end else ChainStatus.STAKED,
        stake_upokt=stake,
        unstake_session_end_height=unstake_end,
    )
