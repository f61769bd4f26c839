"""Morse (pocket-core v0) adapter: the node's RPC (port 8081), every query a JSON ``POST``.

Routes and shapes follow ``pocket-core-rpc-spec.yaml`` and ``app/cmd/rpc/query.go``
(pocket-core staging):

* ``/v1/query/height`` ``{}`` → ``{"height": N}``.
* ``/v1/query/nodeparams`` ``{"height": 0}`` → ``x/nodes`` ``Params`` in amino JSON: 64-bit
  integers as strings (``stake_minimum``, ``max_jailed_blocks``), ``sdk.BigDec`` as decimal
  strings with 18 places (``slash_fraction_downtime``, ``slash_fraction_double_sign``).
* ``/v1/query/node`` ``{"address", "height": 0}`` → ``Validator`` JSON (``tokens`` a string of
  upokt, ``status`` 0 unstaked / 1 unstaking / 2 staked, ``jailed``, ``unstaking_time``); an
  unknown address is ``400 {"code": 400, "message": "validator not found for <hex>"}``.
* ``/v1/query/signinginfo`` ``{"address", "height": 0, "page": 1, "per_page": 1}`` →
  ``{"result": [ValidatorSigningInfo]}`` (``jailed_until``, ``jailed_blocks_counter``).
* ``/v1/query/nodes`` ``{"height": 0, "opts": {"staking_status": 2, "blockchain", "page",
  "per_page"}}`` → ``{"result", "total_pages", "page"}``.
* ``/v1/query/balance`` ``{"address", "height": 0}`` → ``{"balance": N}`` (a JSON integer).
* ``/v1/query/supply`` ``{"height": 0}`` → ``QuerySupplyResponse`` (``total``: every upokt, an
  int64): no stake can be above it (:func:`fleetctl.pocket.base.plausible`).

Slashes (``x/nodes/keeper/slash.go``) burn ``trunc(TokensFromConsensusPower(power) * fraction)``
where the consensus power is the stake in whole POKT (``PowerReduction`` = 10^6 upokt); a stake
left below ``stake_minimum`` is force-unstaked, as is a node jailed more than
``max_jailed_blocks`` blocks.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

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
    parse_int,
)
from fleetctl.pocket.http import QueryError
from fleetctl.spec.address import hex_decode

__all__ = ["MorseAdapter"]

#: ``sdk.PowerReduction``: upokt per unit of consensus power.
POWER_REDUCTION = 1_000_000
_STATUS = {0: ChainStatus.UNSTAKED, 1: ChainStatus.UNBONDING, 2: ChainStatus.STAKED}
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time
_PER_PAGE = 1000


class MorseAdapter(PocketAdapter):
    """Morse nodes, by hex address, over the node's RPC."""

    protocol = "morse"

    async def height(self) -> int:
        route = "/v1/query/height"
        reply = await self.client.post(route, {})
        return parse_height(field(reply, "height", where=route), f"{route} height", minimum=1)

    async def total_supply(self) -> int | None:
        route = "/v1/query/supply"
        reply = await self.client.post(route, {"height": 0})
        return parse_amount(field(reply, "total", where=route), f"{route} total", minimum=1)

    async def stake_params(self) -> StakeParams:
        route = "/v1/query/nodeparams"
        try:
            params = await self.client.post(route, {"height": 0})
        except QueryError as exc:
            return StakeParams(None, (), problems=(str(exc),))
        if not isinstance(params, dict):
            return StakeParams(None, (), problems=(f"{route}: expected a JSON object",))
        problems: list[str] = []

        def read(name: str, parse: Any) -> Any:
            try:
                return parse(field(params, name, where=route), f"{route} {name}")
            except QueryError as exc:
                problems.append(str(exc))
                return None

        # A minimum of 0 is no minimum: every stake would look safe, so it is not believed.
        min_stake = read("stake_minimum", lambda v, w: parse_amount(v, w, minimum=1))
        penalties = tuple(
            Penalty(kind, fraction=fraction, power_reduction=POWER_REDUCTION)
            for kind, name in (("downtime", "slash_fraction_downtime"),
                               ("double_sign", "slash_fraction_double_sign"))
            if (fraction := read(name, parse_fraction)) is not None
        )
        return StakeParams(
            min_stake_upokt=min_stake,
            penalties=penalties,
            max_jailed_blocks=read("max_jailed_blocks", parse_height),
            problems=tuple(problems),
        )

    async def supplier(self, address: str) -> SupplierState:
        route = "/v1/query/node"
        try:
            node = await self.client.post(route, {"address": address, "height": 0})
        except QueryError as exc:
            message = exc.body.get("message") if isinstance(exc.body, dict) else None
            if exc.status == 400 and isinstance(message, str) and message.startswith("validator not found"):
                return SupplierState(address, ChainStatus.NOT_FOUND)
            raise
        state = _node_state(node, f"{route} {address}")
        if state.address != address:
            raise QueryError(f"{route} {address}: the chain answered for {state.address:.80}")
        if not state.jailed:
            return state
        try:
            return await self._with_signing_info(state)
        except QueryError:
            return state  # jailed is known; only until when is not (still CRITICAL)

    async def _with_signing_info(self, state: SupplierState) -> SupplierState:
        """``state`` with ``jailed_until`` and ``jailed_blocks`` from ``/v1/query/signinginfo``."""
        where = f"/v1/query/signinginfo {state.address}"
        reply = await self.client.post("/v1/query/signinginfo", {
            "address": state.address, "height": 0, "page": 1, "per_page": 1})
        info = field(reply, "result", 0, where=where)
        until = field(info, "jailed_until", where=where)
        if not isinstance(until, str) or len(until) > 64:
            raise QueryError(f"{where}: jailed_until is not a time")
        return replace(state, jailed_until=None if until == _ZERO_TIME else until,
                       jailed_blocks=parse_height(field(info, "jailed_blocks_counter", where=where),
                                                  f"{where} result[0].jailed_blocks_counter"))

    async def suppliers_for_service(self, service: str) -> list[SupplierState]:
        found: list[SupplierState] = []
        where = f"/v1/query/nodes blockchain {service}"
        for page in range(1, MAX_PAGES + 1):
            reply = await self.client.post("/v1/query/nodes", {"height": 0, "opts": {
                "staking_status": 2, "blockchain": service, "page": page, "per_page": _PER_PAGE}})
            if not isinstance(reply, dict):
                raise QueryError(f"{where}: expected an object")
            nodes = reply.get("result") or []  # a page past the end is {"result": null}
            if not isinstance(nodes, list):
                raise QueryError(f"{where}: result is not a list")
            found.extend(_node_state(node, f"{where} page {page} result[{index}]")
                         for index, node in enumerate(nodes))
            total = parse_int(field(reply, "total_pages", where=where), f"{where} total_pages")
            if not nodes or page >= total:
                return found
        raise QueryError(f"{where}: more than {MAX_PAGES} pages")

    async def balance(self, address: str) -> int:
        route = "/v1/query/balance"
        reply = await self.client.post(route, {"address": address, "height": 0})
        return parse_amount(field(reply, "balance", where=f"{route} {address}"),
                            f"{route} {address} balance")


def _node_state(node: Any, what: str) -> SupplierState:
    """A Morse ``Validator`` as a :class:`SupplierState` (signing info not read); ``what``
    names the endpoint it came from, for errors."""
    if not isinstance(node, dict):
        raise QueryError(f"{what}: expected a node object")
    found = field(node, "address", where=what)
    # sdk.Address JSON is hex.EncodeToString of 20 bytes; read back as Go's hex decoder would
    # (types/address.go AddressFromHex l. 265): no whitespace, no other length.
    if isinstance(found, str) and len(found) > 128:
        raise QueryError(f"{what}: address is {len(found)} characters, expected 40")
    try:
        raw = hex_decode(found, "address")
    except ValueError as exc:
        raise QueryError(f"{what}: {exc}") from None
    if len(raw) != 20:
        raise QueryError(f"{what}: address is {len(raw)} bytes, expected 20")
    tokens = parse_amount(field(node, "tokens", where=what), f"{what} tokens")
    code = parse_int(field(node, "status", where=what), f"{what} status")
    if code not in _STATUS:
        raise QueryError(f"{what}: unknown status {code}")
    jailed = field(node, "jailed", where=what)
    if not isinstance(jailed, bool):
        raise QueryError(f"{what}: jailed is not a boolean")
    unstaking = node.get("unstaking_time")
    return SupplierState(
        address=found.lower(),
        status=_STATUS[code],
        stake_upokt=tokens,
        unstaking_time=(unstaking if isinstance(unstaking, str) and unstaking != _ZERO_TIME
                        and len(unstaking) <= 64 else None),
        jailed=jailed,
    )
