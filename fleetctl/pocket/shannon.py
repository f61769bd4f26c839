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
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from fleetctl.pocket.base import (
    ChainStatus,
    Penalty,
    PocketAdapter,
    StakeParams,
    SupplierState,
    MAX_PAGES,
    field,
    parse_amount,
    parse_fraction,
    parse_height,
    settle,
)
from fleetctl.pocket.events import ClaimParams
from fleetctl.pocket.http import JsonClient, QueryError
from fleetctl.spec.model import Supplier

__all__ = ["ShannonAdapter"]

DENOM = "upokt"
_PREFIX = "/pokt-network/poktroll"
_GRPC_NOT_FOUND = 5
_PAGE_LIMIT = 1000
#: An owner with this many declared suppliers is read with one listing instead of a query each.
OWNER_LISTING_MIN = 5


_BLOCK = "/cosmos/base/tendermint/v1beta1/blocks/latest"
#: what quote(text, safe="") leaves as it is: ASCII letters, digits and "_.-~"
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]+")
_SUPPLIER = f"{_PREFIX}/supplier/supplier"


def _coin(value: Any, what: str, minimum: int = 0) -> int:
    """The upokt amount of a ``cosmos.base.v1beta1.Coin`` (``what`` names endpoint and field)."""
    if not isinstance(value, dict):
        raise QueryError(f"{what}: expected a coin object")
    denom = field(value, "denom", where=what)
    if denom != DENOM:
        raise QueryError(f"{what}: denom {denom!r:.40}, expected {DENOM!r}")
    return parse_amount(field(value, "amount", where=what), f"{what}.amount", minimum=minimum)


def _object(reply: Any, where: str) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise QueryError(f"{where}: expected a JSON object")
    return reply


class ShannonAdapter(PocketAdapter):
    """Shannon suppliers, by operator address, over the REST gateway."""

    protocol = "shannon"

    def __init__(self, client: JsonClient, node: JsonClient | None = None) -> None:
        super().__init__(client)
        #: the full node's CometBFT RPC (``pocket.node_rpc_url``), when the fleet names one: the
        #: operators' balances are read there in JSON-RPC batches (fleetctl.pocket.abci)
        self.node = node
        self.batched: Any = None  # the last sweep's BatchBalances (what went where)
        #: operator -> owner as the chain named it on an earlier read (fleetctl.pocket.owners);
        #: only a hint for grouping the reads: a wrong one costs a query, never a wrong answer
        self.known_owners: dict[str, str] = {}
        #: operator -> owner as the chain named it in this adapter's last read_suppliers
        self.owners_seen: dict[str, str] = {}
        #: module -> the read of its params in this session: stake_params and claim_params both
        #: need the proof and shared params, read once each
        self._params_reads: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def __aenter__(self) -> Self:
        self._params_reads = {}
        await super().__aenter__()
        if self.node is not None:
            try:
                await self.node.__aenter__()
            except BaseException:
                await super().__aexit__(None, None, None)
                raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        reads, self._params_reads = self._params_reads, {}
        for read in reads.values():
            read.cancel()  # one its callers stopped waiting for
        try:
            if self.node is not None:
                await self.node.__aexit__(exc_type, exc, tb)
        finally:
            await super().__aexit__(exc_type, exc, tb)

    async def height(self) -> int:
        block = await self.client.get(_BLOCK)
        return parse_height(field(block, "block", "header", "height", where=_BLOCK),
                            f"{_BLOCK} block.header.height", minimum=1)

    def _params(self, module: str) -> asyncio.Future[dict[str, Any]]:
        """The module's params read of this session, for one caller (to await inside the session).

        A future, not a coroutine: a caller cancelled before its first step (a sweep cancelled
        as it starts) leaves no coroutine that was never awaited (a RuntimeWarning on stderr)."""
        read = self._params_reads.get(module)
        if read is None:
            read = asyncio.ensure_future(self._read_params(module))
            read.add_done_callback(_retrieved)
            self._params_reads[module] = read
        # shielded: a caller that stops waiting does not cancel the read for the other; one
        # that never waited does not leave its failure unretrieved
        mine = asyncio.shield(read)
        mine.add_done_callback(_retrieved)
        return mine

    async def _read_params(self, module: str) -> dict[str, Any]:
        route = f"{_PREFIX}/{module}/params"
        reply = await self.client.get(route)
        params = field(reply, "params", where=route)
        if not isinstance(params, dict):
            raise QueryError(f"{route} params: expected an object")
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
            route = f"{_PREFIX}/{module}/params"
            try:
                return parse(field(params[module], name, where=f"{route} params"),
                             f"{route} params.{name}")
            except QueryError as exc:
                problems.append(str(exc))
                return None

        # A minimum of 0 is no minimum: every stake would look safe, so it is not believed.
        min_stake = read("supplier", "min_stake", lambda v, w: _coin(v, w, minimum=1))
        penalty = read("proof", "proof_missing_penalty", _coin)
        sessions = read("shared", "supplier_unbonding_period_sessions", parse_height)
        blocks = read("shared", "num_blocks_per_session",
                      lambda v, w: parse_height(v, w, minimum=1))
        return StakeParams(
            min_stake_upokt=min_stake,
            penalties=() if penalty is None else (Penalty("proof_missing", flat_upokt=penalty),),
            unbonding_period_blocks=None if sessions is None or blocks is None else sessions * blocks,
            problems=tuple(problems),
        )

    async def claim_params(self) -> ClaimParams:
        """The shared params that place a claim's windows and the proof params that decide
        whether a proof is required (``fleetctl claims``); unreadable ones are in ``problems``."""
        modules = ("proof", "shared")
        replies = await asyncio.gather(*(settle(self._params(m)) for m in modules))
        params = {m: r for m, r in zip(modules, replies, strict=True) if not isinstance(r, QueryError)}
        problems = [str(r) for r in replies if isinstance(r, QueryError)]
        values: dict[str, Any] = {}
        readers: tuple[tuple[str, str, str, Callable[[Any, str], Any]], ...] = (
            ("shared", "num_blocks_per_session", "num_blocks_per_session",
             lambda v, w: parse_height(v, w, minimum=1)),
            *((("shared", name, name, parse_height)) for name in (
                "claim_window_open_offset_blocks", "claim_window_close_offset_blocks",
                "proof_window_open_offset_blocks", "proof_window_close_offset_blocks")),
            ("proof", "proof_requirement_threshold", "proof_requirement_threshold_upokt", _coin),
            ("proof", "proof_request_probability", "proof_request_probability", parse_fraction),
            ("proof", "proof_missing_penalty", "proof_missing_penalty_upokt", _coin),
            ("proof", "proof_submission_fee", "proof_submission_fee_upokt", _coin),
        )
        for module, name, key, parse in readers:
            if module not in params:
                continue
            route = f"{_PREFIX}/{module}/params"
            try:
                values[key] = parse(field(params[module], name, where=f"{route} params"),
                                    f"{route} params.{name}")
            except QueryError as exc:
                problems.append(str(exc))
        return ClaimParams(**values, problems=tuple(problems))

    async def supplier(self, address: str) -> SupplierState:
        route = f"{_SUPPLIER}/{quote(address, safe='')}"
        try:
            reply = await self.client.get(route, {"dehydrated": "true"})
        except QueryError as exc:
            if exc.status == 404 and isinstance(exc.body, dict) and exc.body.get("code") == _GRPC_NOT_FOUND:
                return SupplierState(address, ChainStatus.NOT_FOUND)
            raise
        state = _supplier_state(field(reply, "supplier", where=route), f"{route} supplier")
        if state.address != address:
            raise QueryError(f"{route}: the chain answered for {state.address:.80}")
        return state

    async def read_suppliers(self, suppliers: Sequence[Supplier]) -> dict[str, SupplierState | QueryError]:
        """One paginated listing per owner of at least :data:`OWNER_LISTING_MIN` suppliers (the
        owner fleet.yml declares, else the one the chain named last time: :attr:`known_owners`),
        then a query per address for the rest and for any supplier a listing did not return
        (unknown to the chain, another owner on chain now, or a listing that failed)."""
        by_owner: dict[str, list[str]] = defaultdict(list)
        for s in suppliers:
            owner = s.owner_address or (self.known_owners.get(s.operator_address) if s.operator_address else None)
            if owner and s.operator_address:
                by_owner[owner].append(s.operator_address)
        owners = [owner for owner, group in by_owner.items() if len(group) >= OWNER_LISTING_MIN]
        listed: dict[str, SupplierState] = {}
        for states in await asyncio.gather(*(settle(self.suppliers_of_owner(o)) for o in owners)):
            if not isinstance(states, QueryError):
                listed.update((state.address, state) for state in states)
        rest = [s for s in suppliers if s.operator_address not in listed]
        found: dict[str, SupplierState | QueryError] = dict(listed)
        found.update(await super().read_suppliers(rest))
        self.owners_seen = {a: st.owner for a, st in found.items() if isinstance(st, SupplierState) and st.owner}
        return {s.operator_address: found[s.operator_address]
                for s in suppliers if s.operator_address is not None}

    async def suppliers_for_service(self, service: str) -> list[SupplierState]:
        return await self._list({"service_id": service}, f"{_SUPPLIER}?service_id={service}")

    async def suppliers_of_owner(self, owner: str) -> list[SupplierState]:
        """Every supplier staked by ``owner`` (the list route's ``owner_address`` filter)."""
        return await self._list({"owner_address": owner}, f"{_SUPPLIER}?owner_address={owner}")

    async def _list(self, filters: dict[str, str], what: str) -> list[SupplierState]:
        """All pages of ``QueryAllSuppliers`` with ``filters``, following ``next_key`` (at most
        :data:`MAX_PAGES` pages; a key seen before is refused, as is one that is not a string)."""
        found: list[SupplierState] = []
        seen_keys: set[str] = set()
        query = {**filters, "dehydrated": "true", "pagination.limit": str(_PAGE_LIMIT)}
        for _ in range(MAX_PAGES):
            reply = _object(await self.client.get(_SUPPLIER, query), what)
            page = field(reply, "supplier", where=what)
            if not isinstance(page, list):
                raise QueryError(f"{what}: supplier is not a list")
            found.extend(_supplier_state(item, f"{what} supplier[{index}]")
                         for index, item in enumerate(page))
            pagination = reply.get("pagination")
            if pagination is None:
                return found
            if not isinstance(pagination, dict):
                raise QueryError(f"{what}: pagination is not an object")
            next_key = pagination.get("next_key")
            if not next_key:
                return found
            if not isinstance(next_key, str) or len(next_key) > 1024:
                raise QueryError(f"{what}: pagination.next_key is not a key (got a "
                                 f"{type(next_key).__name__})")
            if next_key in seen_keys:
                raise QueryError(f"{what}: pagination repeats key {next_key[:40]!r}")
            seen_keys.add(next_key)
            query["pagination.key"] = next_key
        raise QueryError(f"{what}: more than {MAX_PAGES} pages")

    async def balances(self, addresses: Sequence[str], width: int) -> list[int | QueryError]:
        """With a node RPC: JSON-RPC batches of ``abci_query``, ten operators a request, each
        one the node does not answer plainly read by :meth:`balance` (REST) instead."""
        if self.node is None:
            return await super().balances(addresses, width)
        from fleetctl.pocket.abci import BatchBalances

        self.batched = BatchBalances(self.node, self.balance, DENOM)
        return await self.batched.read(addresses, width)

    async def balance(self, address: str) -> int:
        # a bech32 address (the fleet's are checked as such) is its own quoted form
        route = f"/cosmos/bank/v1beta1/balances/{address if _PLAIN.fullmatch(address) else quote(address, safe='')}/by_denom"
        reply = await self.client.get(route, {"denom": DENOM})
        return _coin(field(reply, "balance", where=route), f"{route} balance")


def _retrieved(read: asyncio.Future[Any]) -> None:
    """A shared read's outcome is taken (its error is its callers' to report, not the loop's)."""
    if not read.cancelled():
        read.exception()


def _supplier_state(obj: Any, what: str) -> SupplierState:
    """A ``pocket.shared.Supplier`` as a :class:`SupplierState` (``what`` names the endpoint
    and the field it came from, for errors)."""
    if not isinstance(obj, dict):
        raise QueryError(f"{what}: expected a supplier object")
    operator = field(obj, "operator_address", where=what)
    if not isinstance(operator, str) or not 0 < len(operator) <= 128:
        raise QueryError(f"{what}.operator_address: not an address")
    stake = _coin(field(obj, "stake", where=what), f"{what}.stake")
    unstake_end = parse_height(field(obj, "unstake_session_end_height", where=what),
                               f"{what}.unstake_session_end_height")
    owner = obj.get("owner_address")  # a hint for the next read (owners.py), judged by nothing
    return SupplierState(
        address=operator,
        status=ChainStatus.UNBONDING if unstake_end else ChainStatus.STAKED,
        stake_upokt=stake,
        unstake_session_end_height=unstake_end,
        owner=owner if isinstance(owner, str) and 0 < len(owner) <= 128 and owner.isprintable() else None,
    )
