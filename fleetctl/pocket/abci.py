"""Operator balances through the full node's CometBFT RPC: JSON-RPC batches of ``abci_query``.

A fleet's Shannon full node serves two query APIs: the gRPC gateway's REST routes (``rest_url``,
one ``GET /cosmos/bank/v1beta1/balances/{address}/by_denom`` per operator) and CometBFT's RPC
(``node_rpc_url``, port 26657, what RelayMiners are configured with). CometBFT takes a JSON-RPC
batch on ``POST /`` (rpc/jsonrpc/server/http_json_handler.go, cometbft v0.38), so ten balances
are one request instead of ten: a sweep of 1,000 operators makes 100 requests, not 1,000.

Each call is ``abci_query`` (rpc/core/routes.go: params ``path, data, height, prove``) on the
Cosmos SDK's gRPC query path ``/cosmos.bank.v1beta1.Query/Balance``; ``data`` is the hex of the
protobuf ``cosmos.bank.v1beta1.QueryBalanceRequest`` (``address`` = 1, ``denom`` = 2;
proto/cosmos/bank/v1beta1/query.proto, cosmos-sdk v0.50) and the answer's
``result.response.value`` the base64 of ``QueryBalanceResponse`` (``balance`` = 1, a
``cosmos.base.v1beta1.Coin``: ``denom`` = 1, ``amount`` = 2, a decimal string). The response's
``code`` (a JSON number), ``log``, ``height`` (a string) and the other members are ``omitempty``
(abci/types ResponseQuery as cmtjson writes it): a success carries ``value`` and ``height``.

At most :data:`BATCH_SIZE` calls go in one batch: CometBFT's default ``rpc.max_request_batch_size``
(config/config.go since v0.38.8) refuses a larger batch as a whole. One batch of one call is
answered with one object, not an array (``writeRPCResponseHTTP``).

The node's answers are hostile input like any other: every value is checked where it is parsed
(the protobuf is walked with bounds on every length, the amount must be decimal digits within
the plausible supply, the denom must be upokt, the height plausible). Whatever is not a plain
success for an operator (the batch refused, an HTTP or transport error, an answer missing or
with an error or a non-zero ``code``, a value that does not parse) is read through the REST
route instead, the reference path with its retries and exact one-line errors. After a batch
fails as a whole, the rest of the sweep goes to REST directly: a node RPC that is down costs one
timeout, not one per batch.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from fleetctl.pocket.base import parse_amount, parse_height, settle, settle_each
from fleetctl.pocket.http import JsonClient, QueryError

__all__ = ["BANK_BALANCE_PATH", "BATCH_SIZE", "BatchBalances", "balance_calls", "decode_balance",
           "rpc_base"]

BANK_BALANCE_PATH = "/cosmos.bank.v1beta1.Query/Balance"
#: CometBFT's default ``rpc.max_request_batch_size`` (a larger batch is refused as a whole).
BATCH_SIZE = 10
#: Batches in flight at most: 32 batches of ten cover 1,000 operators in four round trips, on 32
#: connections to the node rather than one per batch (each connection costs both ends CPU).
IN_FLIGHT = 32
#: A QueryBalanceResponse is a few dozen bytes; anything much larger is not one.
_MAX_VALUE_BYTES = 4096


def rpc_base(node_rpc_url: str) -> str:
    """``tcp://h:26657`` (how Cosmos configs name the node RPC) as ``http://h:26657``; userinfo,
    path and query string (a gateway's token) are kept for the client, never shown."""
    parts = urlsplit(node_rpc_url.strip())
    scheme = "https" if parts.scheme == "https" else "http"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{query}"


# ----------------------------------------------------------------------------- protobuf


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _request_data(address: str, denom: str) -> str:
    """The hex of ``QueryBalanceRequest{address, denom}`` (fields 1 and 2, length-delimited)."""
    a, d = address.encode(), denom.encode()
    return (b"\x0a" + _varint(len(a)) + a + b"\x12" + _varint(len(d)) + d).hex()


def _fields(buf: bytes, what: str) -> dict[int, bytes]:
    """The length-delimited fields of one protobuf message (a field given twice: the last one;
    protobuf would merge two embedded messages, so a repeated coin missing a member is refused
    here and read by REST); varint and fixed fields are skipped. Raises QueryError on a
    truncated or malformed message."""
    out: dict[int, bytes] = {}
    i, end = 0, len(buf)
    while i < end:
        key, i = _read_varint(buf, i, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise QueryError(f"{what}: field number 0")
        if wire == 0:
            _, i = _read_varint(buf, i, what)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            size, i = _read_varint(buf, i, what)
            if size > end - i:
                raise QueryError(f"{what}: field {number} runs past the end of the message")
            out[number] = buf[i:i + size]
            i += size
        else:
            raise QueryError(f"{what}: wire type {wire} of field {number} is not supported")
        if i > end:
            raise QueryError(f"{what}: truncated message")
    return out


def _read_varint(buf: bytes, i: int, what: str) -> tuple[int, int]:
    value = shift = 0
    while i < len(buf) and shift < 64:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7
    raise QueryError(f"{what}: truncated or overlong varint")


_PREFIXES: dict[str, bytes] = {}


def decode_balance(value: Any, denom: str, what: str) -> int:
    """The ``denom`` amount in the base64 of a ``QueryBalanceResponse``; QueryError if it is not
    one (``what`` names the endpoint and field)."""
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_VALUE_BYTES:
        raise QueryError(f"{what}: expected the base64 of a QueryBalanceResponse")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise QueryError(f"{what}: not base64") from None
    # The shape every node writes for one coin (0a L 0a 05 "upokt" 12 N digits), read at once;
    # anything else takes the general walk below.
    prefix = _PREFIXES.get(denom)
    if prefix is None:
        prefix = _PREFIXES[denom] = b"\x0a" + _varint(len(denom.encode())) + denom.encode() + b"\x12"
    size = len(raw)
    if (3 + len(prefix) <= size <= 127 and raw[0] == 0x0A and raw[1] == size - 2
            and raw.startswith(prefix, 2) and raw[2 + len(prefix)] == size - 3 - len(prefix)):
        digits = raw[3 + len(prefix):]
        if digits.isdigit() and len(digits) <= 40:
            return parse_amount(digits.decode("ascii"), f"{what}.balance.amount")
    coin = _fields(raw, what).get(1)
    if coin is None:
        raise QueryError(f"{what}: no balance in the answer")
    parts = _fields(coin, f"{what}.balance")
    got = parts.get(1, b"")
    if got != denom.encode():
        raise QueryError(f"{what}.balance: denom {got[:40].decode('utf-8', 'replace')!r}, expected {denom!r}")
    amount = parts.get(2)
    if amount is None or not amount.isdigit() or len(amount) > 40:
        raise QueryError(f"{what}.balance: amount is not a decimal integer")
    return parse_amount(amount.decode("ascii"), f"{what}.balance.amount")


# ----------------------------------------------------------------------------- batches


def balance_calls(addresses: Sequence[str], denom: str, first_id: int = 0) -> bytes:
    """The JSON-RPC batch body: one ``abci_query`` per address, ids ``first_id`` on. Addresses
    are the fleet's (bech32, checked at load) and only ever hex-encoded into ``data``."""
    calls = ",".join(
        f'{{"jsonrpc":"2.0","id":{first_id + n},"method":"abci_query","params":{{"path":"{BANK_BALANCE_PATH}",'
        f'"data":"{_request_data(address, denom)}","height":"0","prove":false}}}}'
        for n, address in enumerate(addresses))
    return f"[{calls}]".encode()


def _one_answer(answer: Any, denom: str, what: str) -> int:
    """The balance in one call's answer, or QueryError."""
    if not isinstance(answer, dict):
        raise QueryError(f"{what}: expected a JSON-RPC answer object")
    if answer.get("error") is not None:
        raise QueryError(f"{what}: the node answered with an error")
    response = answer.get("result")
    response = response.get("response") if isinstance(response, dict) else None
    if not isinstance(response, dict):
        raise QueryError(f"{what}: missing field result.response")
    code = response.get("code", 0)
    if type(code) is not int or code != 0:
        raise QueryError(f"{what}: code {str(code)[:20]}")
    height = response.get("height")
    if height is not None:
        parse_height(height, f"{what}.height")
    return decode_balance(response.get("value"), denom, f"{what}.value")


class BatchBalances:
    """Operator balances by JSON-RPC batches of ``abci_query`` on ``client`` (the node RPC), with
    ``fallback`` (one balance by the REST route) for whatever the node did not answer plainly."""

    def __init__(self, client: JsonClient, fallback: Callable[[str], Awaitable[int]], denom: str) -> None:
        self.client = client
        self.fallback = fallback
        self.denom = denom
        #: why the node RPC stopped being used in this sweep (None: in use)
        self.broken: str | None = None
        #: operators read by the node RPC / by the REST fallback (for tests and the benchmark)
        self.by_node = 0
        self.by_rest = 0

    async def read(self, addresses: Sequence[str], width: int) -> list[int | QueryError]:
        """Each address's balance (or the QueryError of its REST read), in order; at most
        ``width`` batches in flight."""
        chunks = [addresses[i:i + BATCH_SIZE] for i in range(0, len(addresses), BATCH_SIZE)]
        width = min(width, IN_FLIGHT)
        results: list[int | QueryError] = []
        for chunk, part in zip(chunks, await settle_each(self._chunk, chunks, width), strict=True):
            results.extend([part] * len(chunk) if isinstance(part, QueryError) else part)
        return results

    async def _chunk(self, chunk: Sequence[str]) -> list[int | QueryError]:
        got: dict[int, int] = {}
        if self.broken is None:
            got = await self._batch(chunk)
        # the rest by REST, together (a node that is down leaves every chunk to REST: one at a time
        # they would be read 32 at a time, not as many as the REST client's slots)
        missing = [n for n in range(len(chunk)) if n not in got]
        rest = await asyncio.gather(*(settle(self.fallback(chunk[n])) for n in missing))
        self.by_node += len(got)
        self.by_rest += len(missing)
        by_rest = dict(zip(missing, rest, strict=True))
        return [got[n] if n in got else by_rest[n] for n in range(len(chunk))]

    async def _batch(self, chunk: Sequence[str]) -> dict[int, int]:
        """Index in ``chunk`` → balance, for the calls the node answered plainly."""
        try:
            reply = await self.client.post_raw("/", balance_calls(chunk, self.denom))
        except QueryError as exc:
            self.broken = str(exc)
            return {}
        answers = [reply] if isinstance(reply, dict) else reply
        if not isinstance(answers, list) or (len(chunk) > 1 and isinstance(reply, dict)):
            self.broken = "the batch was refused" if isinstance(reply, dict) else "not a JSON-RPC batch answer"
            return {}
        got: dict[int, int] = {}
        seen: set[int] = set()
        for answer in answers:  # (the body is bounded by the client's max_body)
            ident = answer.get("id") if isinstance(answer, dict) else None
            if type(ident) is not int or not 0 <= ident < len(chunk) or ident in seen:
                if type(ident) is int:
                    got.pop(ident, None)  # answered twice: neither is believed (REST reads it)
                continue
            seen.add(ident)
            try:
                got[ident] = _one_answer(answer, self.denom, f"abci_query {BANK_BALANCE_PATH}")
            except Exception:  # noqa: BLE001 - any value the parser refuses is read again by REST,
                continue  # whose error is the one shown
        return got

