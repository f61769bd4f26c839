"""The errors each protocol answers with: gRPC statuses of the gateway, pocket-core's RPC
errors, CometBFT RPC errors, control-API failures and refused messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class GatewayError(Exception):
    """A gRPC status the gateway writes as ``google.rpc.Status`` (grpc-gateway v1)."""

    HTTP_STATUS: ClassVar[Mapping[int, int]] = {2: 500, 3: 400, 5: 404, 12: 501, 13: 500}

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, INTERNAL = 3, 5, 12, 13


UNKNOWN = 2


class MorseError(Exception):
    """An error pocket-core's RPC writes as ``400 {"code": 400, "message": …}``."""


class ControlError(Exception):
    """A control-API failure: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class CometRPCError(Exception):
    """A CometBFT RPC error (``RPCError{code, message, data}``, rpc/jsonrpc/types)."""

    def __init__(self, code: int, message: str, data: str) -> None:
        super().__init__(data)
        self.code, self.message, self.data = code, message, data


def _comet_internal(data: str) -> CometRPCError:
    return CometRPCError(-32603, "Internal error", data)


class _TxRefused(Exception):
    """A message the msg server refuses: ``status.Error(code, message)`` as gRPC prints it."""

    def __init__(self, grpc_code: str, message: str) -> None:
        super().__init__(f"rpc error: code = {grpc_code} desc = {message}")
