"""The protocol-neutral view of Pocket stake state, and the adapter interface.

Both adapters (:mod:`fleetctl.pocket.shannon`, :mod:`fleetctl.pocket.morse`) read their chain
into these types; :mod:`fleetctl.pocket.stakes` computes on them and nothing else. Amounts are
integers of upokt; fractions are exact :class:`fractions.Fraction`; nothing is a float.

Every adapter method either returns a complete, validated value or raises
:class:`~fleetctl.pocket.http.QueryError` with a one-line reason (unreachable endpoint, HTTP
error, malformed JSON, a missing or invalid field). An address the chain does not know is not
an error: :meth:`PocketAdapter.supplier` returns a state with status ``NOT_FOUND``.
"""

from __future__ import annotations

import asyncio
import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from fleetctl.pocket.http import JsonClient, QueryError
from fleetctl.spec.model import Supplier

__all__ = [
    "ChainStatus",
    "Level",
    "Penalty",
    "PocketAdapter",
    "StakeParams",
    "SupplierState",
    "field",
    "parse_fraction",
    "parse_int",
    "settle",
    "worst",
]

_DIGITS = re.compile(r"^[0-9]+$")
T = TypeVar("T")


class Level(enum.IntEnum):
    """A check result; the value is its Nagios exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """Rank for "the worst of": OK < WARNING < UNKNOWN < CRITICAL.

        UNKNOWN outranks WARNING (an unread supplier may be below its minimum); CRITICAL
        outranks UNKNOWN (a known loss is the most urgent).
        """
        return _SEVERITY[self]


_SEVERITY = {Level.OK: 0, Level.WARNING: 1, Level.UNKNOWN: 2, Level.CRITICAL: 3}


def worst(levels: Iterable[Level]) -> Level:
    """The most severe of ``levels`` (OK when there are none)."""
    return max(levels, key=lambda level: level.severity, default=Level.OK)


class ChainStatus(enum.Enum):
    """What the chain says about a supplier (Shannon) or node (Morse) stake."""

    STAKED = "staked"
    UNBONDING = "unbonding"  # Shannon unstake_session_end_height != 0; Morse status 1 unstaking
    UNSTAKED = "unstaked"  # Morse status 0: the record exists, the stake is gone
    NOT_FOUND = "not_found"  # the chain does not know the address


@dataclass(frozen=True)
class Penalty:
    """A burn the chain applies to a stake.

    Flat (Shannon ``proof_missing_penalty``): ``min(flat_upokt, stake)``. Fractional (Morse
    ``slash_fraction_*``): ``trunc(floor(stake / power_reduction) * power_reduction *
    fraction)``, capped at the stake, as pocket-core ``x/nodes/keeper/slash.go`` computes it
    from the consensus power (``sdk.TokensFromConsensusPower``).
    """

    name: str
    flat_upokt: int | None = None
    fraction: Fraction | None = None
    power_reduction: int = 1


@dataclass(frozen=True)
class StakeParams:
    """The chain parameters the stake levels need, read at one height.

    A parameter that is missing or invalid on the chain is ``None`` (or absent from
    ``penalties``) and described in ``problems``; the levels then say UNKNOWN, never OK.
    """

    min_stake_upokt: int | None
    penalties: tuple[Penalty, ...]
    #: Shannon: ``supplier_unbonding_period_sessions * num_blocks_per_session`` (blocks).
    unbonding_period_blocks: int | None = None
    #: Morse: ``max_jailed_blocks``, past which a jailed node is force-unstaked.
    max_jailed_blocks: int | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class SupplierState:
    """One supplier (Shannon operator address) or node (Morse address) as the chain has it."""

    address: str
    status: ChainStatus
    stake_upokt: int | None = None  # None only for NOT_FOUND
    #: Shannon: the session end height at which unbonding began (0 while staked).
    unstake_session_end_height: int | None = None
    #: Morse: RFC 3339 time at which the unstaking completes.
    unstaking_time: str | None = None
    jailed: bool = False
    #: Morse, when jailed: RFC 3339 time from which it may unjail, and blocks spent jailed.
    jailed_until: str | None = None
    jailed_blocks: int | None = None


class PocketAdapter(ABC):
    """Reads one protocol's stake state; ``async with`` opens and closes its :class:`JsonClient`."""

    protocol: ClassVar[str]

    def __init__(self, client: JsonClient) -> None:
        self.client = client

    @property
    def url(self) -> str:
        return self.client.base_url

    async def __aenter__(self) -> PocketAdapter:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.client.__aexit__(exc_type, exc, tb)

    @abstractmethod
    async def height(self) -> int:
        """The latest block height."""

    @abstractmethod
    async def stake_params(self) -> StakeParams:
        """Minimum stake, penalties and periods; missing ones are reported, not raised."""

    @abstractmethod
    async def supplier(self, address: str) -> SupplierState:
        """One supplier or node by its (operator) address."""

    async def read_suppliers(self, suppliers: Sequence[Supplier]) -> dict[str, SupplierState | QueryError]:
        """The state of each declared supplier (by operator address), or why it is unreadable.

        This default queries every address at once (the client bounds the requests in flight);
        an adapter with a cheaper bulk read overrides it.
        """
        addresses = [s.operator_address for s in suppliers if s.operator_address is not None]
        states = await asyncio.gather(*(settle(self.supplier(a)) for a in addresses))
        return dict(zip(addresses, states, strict=True))

    @abstractmethod
    async def suppliers_for_service(self, service: str) -> list[SupplierState]:
        """Every staked supplier or node serving ``service`` (Shannon service id, Morse chain)."""

    @abstractmethod
    async def balance(self, address: str) -> int:
        """The account's spendable balance in upokt."""


# ----------------------------------------------------------------------------- helpers


async def settle(awaitable: Awaitable[T]) -> T | QueryError:
    """The awaitable's value, or the QueryError it raised (other exceptions propagate)."""
    try:
        return await awaitable
    except QueryError as exc:
        return exc


def field(obj: Any, *path: str | int, where: str) -> Any:
    """``obj[path[0]][path[1]]…``; a missing (or null) member raises QueryError."""
    for depth, key in enumerate(path):
        if isinstance(key, int):
            present = isinstance(obj, list) and -len(obj) <= key < len(obj)
        else:
            present = isinstance(obj, Mapping) and obj.get(key) is not None
        if not present:
            name = ".".join(str(k) for k in path[: depth + 1])
            raise QueryError(f"{where}: missing field {name}")
        obj = obj[key]
    return obj


def parse_int(value: Any, what: str, *, minimum: int = 0) -> int:
    """An integer the gateway wrote as a string of digits (or a JSON integer)."""
    if isinstance(value, str) and _DIGITS.match(value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise QueryError(f"{what}: expected an integer, got {value!r}"[:200])
    if number < minimum:
        raise QueryError(f"{what}: {number} is below {minimum}")
    return number


def parse_fraction(value: Any, what: str) -> Fraction:
    """An exact fraction in [0, 1] from a decimal string (amino ``sdk.BigDec``) or number."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise QueryError(f"{what}: expected a decimal, got {value!r}"[:200])
    try:
        number = Fraction(Decimal(value) if isinstance(value, str) else value)
    except (ArithmeticError, ValueError):
        raise QueryError(f"{what}: expected a decimal, got {value!r}"[:200]) from None
    if not 0 <= number <= 1:
        raise QueryError(f"{what}: {value} is not between 0 and 1")
    return number
