"""The application's ABCI ``Query`` as CometBFT's ``abci_query`` reaches it: BaseApp routing and
the one gRPC query route modelled, ``/cosmos.bank.v1beta1.Query/Balance``, with its protobuf.

Followed (cosmos-sdk v0.50.13, commit 7b9d2ff98d02bd5a7edd3b153dd577819cc1d777, and
cosmossdk.io/errors v1.0.1, which it requires): baseapp/abci.go ``Query``, ``handleQueryGRPC``,
``gRPCErrorToSDKError``, ``CreateQueryContext``, ``checkNegativeHeight``; baseapp/grpcrouter.go
``registerABCIQueryHandler`` (request decoded with the gogoproto codec, answer
``{Height: req.Height, Value: <protobuf>}``); x/bank/keeper/grpc_query.go ``Balance``;
x/bank/types/query.pb.go ``QueryBalanceRequest.Unmarshal`` / ``skipQuery`` (the decoding errors);
types/coin.pb.go ``Coin`` (``amount`` always written, "0" included); codec/address/
bech32_codec.go ``StringToBytes``; types/errors/abci.go ``QueryResult`` and errors/abci.go
``ABCIInfo`` (codespace, code, ``log`` = the error's text, ``"<msg>: <parent>"`` per wrap).
The messages' field numbers are those of ``cosmos-protos/`` beside this package.
"""

from __future__ import annotations

import base64
from typing import Any

from fleetlab.standin.accounts import _DENOM_RE
from fleetlab.standin.addresses import _bech32_error
from fleetlab.standin.common import POCKET_APP_NAME, UPOKT

#: The gRPC query route modelled (``/<service>/<method>`` as the gRPC query router names it).
BANK_BALANCE_PATH = "/cosmos.bank.v1beta1.Query/Balance"

#: baseapp ``QueryPathBroadcastTx``: refused with its own message before the router is asked.
BROADCAST_TX_PATH = "/cosmos.tx.v1beta1.Service/BroadcastTx"

#: types/errors/errors.go (codespace "sdk"): (code, description) of the errors a query meets.
SDK_CODESPACE = "sdk"
ERR_UNKNOWN_REQUEST = (6, "unknown request")
ERR_INVALID_REQUEST = (18, "invalid request")
ERR_INVALID_HEIGHT = (26, "invalid height")

_UINT64 = (1 << 64) - 1


class _ProtoError(Exception):
    """A gogoproto ``Unmarshal`` error (a plain Go error: no gRPC status, no ABCI code)."""


_ERR_EOF = "unexpected EOF"  # io.ErrUnexpectedEOF
_ERR_OVERFLOW = "proto: integer overflow"  # ErrIntOverflowQuery
_ERR_LENGTH = "proto: negative length found during unmarshaling"  # ErrInvalidLengthQuery


def _int64(value: int) -> int:
    """Go's ``int(x)`` / int64 wrap-around of a 64-bit value."""
    value &= _UINT64
    return value - (1 << 64) if value >= 1 << 63 else value


def _varint(data: bytes, i: int) -> tuple[int, int]:
    """One varint as the generated code reads it (at most 10 bytes, then integer overflow)."""
    value = shift = 0
    while True:
        if shift >= 64:
            raise _ProtoError(_ERR_OVERFLOW)
        if i >= len(data):
            raise _ProtoError(_ERR_EOF)
        byte = data[i]
        i += 1
        value = (value | (byte & 0x7F) << shift) & _UINT64
        if byte < 0x80:
            return value, i
        shift += 7


def _skip(data: bytes) -> int:
    """``skipQuery``: the length of the unknown field at the start of ``data``."""
    i, depth = 0, 0
    while i < len(data):
        wire, i = _varint(data, i)
        wire_type = wire & 7
        if wire_type == 0:
            _, i = _varint(data, i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 2:
            length, i = _varint(data, i)
            length = _int64(length)
            if length < 0:
                raise _ProtoError(_ERR_LENGTH)
            i = _int64(i + length)
        elif wire_type == 3:
            depth += 1
        elif wire_type == 4:
            if depth == 0:
                raise _ProtoError("proto: unexpected end of group")
            depth -= 1
        elif wire_type == 5:
            i += 4
        else:
            raise _ProtoError(f"proto: illegal wireType {wire_type}")
        if i < 0:
            raise _ProtoError(_ERR_LENGTH)
        if depth == 0:
            return i
    raise _ProtoError(_ERR_EOF)


def decode_balance_request(data: bytes) -> tuple[str, str]:
    """(address, denom) of a ``QueryBalanceRequest`` (``address`` = 1, ``denom`` = 2), decoded
    as ``QueryBalanceRequest.Unmarshal`` does: the last occurrence of a field wins, unknown
    fields are skipped, and its errors are raised as :class:`_ProtoError` with its messages.
    Strings keep their bytes (Latin-1 here, so that each character is one byte, as in Go)."""
    fields = {1: ("Address", ""), 2: ("Denom", "")}
    values = {1: b"", 2: b""}
    i, end = 0, len(data)
    while i < end:
        start = i
        wire, i = _varint(data, i)
        number = (wire >> 3) & 0xFFFFFFFF  # Go: int32(wire >> 3)
        number = number - (1 << 32) if number >= 1 << 31 else number
        wire_type = wire & 7
        if wire_type == 4:
            raise _ProtoError("proto: QueryBalanceRequest: wiretype end group for non-group")
        if number <= 0:
            raise _ProtoError(f"proto: QueryBalanceRequest: illegal tag {number} "
                              f"(wire type {wire})")
        if number in fields:
            if wire_type != 2:
                raise _ProtoError(f"proto: wrong wireType = {wire_type} for field "
                                  f"{fields[number][0]}")
            length, i = _varint(data, i)
            size = _int64(length)
            if size < 0 or _int64(i + size) < 0:
                raise _ProtoError(_ERR_LENGTH)
            if i + size > end:
                raise _ProtoError(_ERR_EOF)
            values[number] = data[i:i + size]
            i += size
        else:
            skipped = _skip(data[start:])
            if start + skipped > end:
                raise _ProtoError(_ERR_EOF)
            i = start + skipped
    return values[1].decode("latin-1"), values[2].decode("utf-8", "replace")


def _proto_bytes(number: int, payload: bytes) -> bytes:
    """One length-delimited field (wire type 2)."""
    key, size, out = number << 3 | 2, len(payload), bytearray()
    for value in (key, size):
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out) + payload


def encode_balance_response(denom: str, amount: int) -> bytes:
    """``QueryBalanceResponse{balance: Coin{denom, amount}}`` as gogoproto marshals it: the
    balance is set, ``denom`` written when non-empty, ``amount`` (``math.Int`` text) always."""
    coin = ((_proto_bytes(1, denom.encode()) if denom else b"")
            + _proto_bytes(2, str(amount).encode("ascii")))
    return _proto_bytes(1, coin)


def _query_result(error: tuple[int, str], log: str, height: int = 0) -> dict[str, Any]:
    """``sdkerrors.QueryResult`` of a registered error wrapped with ``log`` (``errorsmod.Wrap``:
    ``"<log>: <description>"``), as cmtjson writes ``ResponseQuery`` (``omitempty``: height 0
    left out, ``code`` a number, ``height`` a string)."""
    code, description = error
    response: dict[str, Any] = {"code": code, "log": f"{log}: {description}"}
    if height:
        response["height"] = str(height)
    response["codespace"] = SDK_CODESPACE
    return response


def _grpc_invalid_argument(message: str) -> str:
    """``status.Error(codes.InvalidArgument, message).Error()``."""
    return f"rpc error: code = InvalidArgument desc = {message}"


def _address_codec_error(address: str) -> str | None:
    """Why the auth keeper's ``AddressCodec().StringToBytes`` (bech32 codec, prefix pokt)
    refuses ``address``: its error's text (a wrapped error reads ``"<msg>: <description>"``)."""
    problem = _bech32_error(address, "pokt")
    if problem is None:
        return None
    if problem.startswith("invalid Bech32 prefix"):  # sdk.AccAddressFromBech32's wording
        hrp = address.lower()[:address.lower().rfind("1")]
        return (f"hrp does not match bech32 prefix: expected 'pokt' got '{hrp}': "
                f"internal logic error")
    return problem


class AbciMixin:
    """BaseApp ``Query`` over the chain, as the CometBFT node's ``abci_query`` calls it.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def comet_abci_query(self, path: str, data: bytes, height: int,
                         prove: bool) -> dict[str, Any]:
        """``ResultABCIQuery`` (``{"response": ResponseQuery}``) of one query.

        The app's last block height is the node's latest (what ``/status`` reports, the
        chain's minus the lag). Every height from 1 to it reads the current balances (no state
        history, as everywhere in the stand-in)."""
        with self._lock:
            latest = max(0, self._settle() - self._comet_lag)
            balances = self._balances
            if height == 0:  # Query: "when a client did not provide a query height"
                height = latest
            if path == BROADCAST_TX_PATH:
                return {"response": _query_result(ERR_INVALID_REQUEST,
                                                  "can't route a broadcast tx message")}
            if path != BANK_BALANCE_PATH:
                # Not a route of the gRPC query router: SplitABCIQueryPath, then the
                # "app"/"store"/"p2p" prefixes (not modelled) or the default.
                segments = path.split("/")
                if segments and segments[0] == "":
                    segments = segments[1:]
                log = "no query path provided" if not segments else "unknown query path"
                return {"response": _query_result(ERR_UNKNOWN_REQUEST, log)}
            # handleQueryGRPC → CreateQueryContext: errors without a height.
            if height < 0:
                return {"response": _query_result(
                    ERR_INVALID_REQUEST,
                    "cannot query with height < 0; please provide a valid height")}
            if latest == 0:
                return {"response": _query_result(
                    ERR_INVALID_HEIGHT,
                    f"{POCKET_APP_NAME} is not ready; please wait for first block")}
            if height > latest:
                return {"response": _query_result(
                    ERR_INVALID_HEIGHT,
                    "cannot query with height in the future; please provide a valid height")}
            if height <= 1 and prove:
                return {"response": _query_result(
                    ERR_INVALID_REQUEST,
                    "cannot query with proof when height <= 1; please provide a valid height")}
            # The handler: decode, Balance, encode; its errors carry the query's height.
            try:
                address, denom = decode_balance_request(data)
            except _ProtoError as exc:  # not a gRPC status: ErrInvalidRequest
                return {"response": _query_result(ERR_INVALID_REQUEST, str(exc), height)}
            if not _DENOM_RE.fullmatch(denom):  # sdk.ValidateDenom (Go's $: end of text)
                return {"response": _query_result(
                    ERR_INVALID_REQUEST, _grpc_invalid_argument(f"invalid denom: {denom}"),
                    height)}
            if problem := _address_codec_error(address):
                return {"response": _query_result(
                    ERR_INVALID_REQUEST, _grpc_invalid_argument(f"invalid address: {problem}"),
                    height)}
            # GetBalance: the stored amount, else a zero coin of the denom asked for. The
            # same balance as the REST route (/cosmos/bank/v1beta1/balances/{address}/by_denom).
            amount = balances.get(address.lower(), 0) if denom == UPOKT else 0
        value = base64.b64encode(encode_balance_response(denom, amount)).decode("ascii")
        return {"response": {"value": value, "height": str(height)}}
