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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

from fleetctl.core.records import record
from fleetctl.pocket.http import JsonClient, QueryError
from fleetctl.spec.model import Supplier

__all__ = [
    "HEIGHT_SLACK_BLOCKS",
    "INT64_MAX",
    "MAX_HEIGHT",
    "MAX_PAGES",
    "SUPPLY_CEILING_UPOKT",
    "ChainStatus",
    "Penalty",
    "PocketAdapter",
    "StakeParams",
    "SupplierState",
    "field",
    "parse_amount",
    "parse_fraction",
    "parse_height",
    "parse_int",
    "plausible",
    "settle",
    "settle_each",
]

_DIGITS = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"[+-][0-9]+")
T = TypeVar("T")
K = TypeVar("K")

#: The largest integer SQLite stores (a signed 64-bit integer): nothing larger is ever parsed.
INT64_MAX = 2**63 - 1
#: No amount of upokt can be above this: 10^11 POKT, about 40 times the whole supply of either
#: network (Morse ~1.6 and Shannon ~2.5 billion POKT in 2025) and far below :data:`INT64_MAX`.
#: Shannon's REST API (``poktroll-openapi.yml``) has no supply route, so this is its bound; Morse
#: reports its supply (``/v1/query/supply`` ``total``) and that tighter bound applies as well.
SUPPLY_CEILING_UPOKT = 10**17
#: No height can be above this: 10^12 blocks are 30,000 years of one-second blocks.
MAX_HEIGHT = 10**12
#: A height the chain reports for a supplier (an unbonding session's end, blocks spent jailed)
#: may lead the latest height by a session or so, never by this many blocks.
HEIGHT_SLACK_BLOCKS = 100_000
#: A listing longer than this many pages (of up to 1,000) is refused, not followed forever.
MAX_PAGES = 1000
#: Digits beyond which a number is refused before it is converted (``int()`` of a very long
#: string is slow, and Python refuses more than 4,300 digits with a ValueError).
_MAX_DIGITS = 40


class ChainStatus(enum.Enum):
    """What the chain says about a supplier (Shannon) or node (Morse) stake."""

    STAKED = "staked"
    UNBONDING = "unbonding"  # Shannon unstake_session_end_height != 0; Morse status 1 unstaking
    UNSTAKED = "unstaked"  # Morse status 0: the record exists, the stake is gone
    NOT_FOUND = "not_found"  # the chain does not know the address


@record(frozen=True)
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


@record(frozen=True)
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


@record(frozen=True)
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
    #: Shannon: the owner the chain names (what a listing by owner finds it under); None if unsaid.
    owner: str | None = None


class PocketAdapter(ABC):
    """Reads one protocol's stake state; ``async with`` opens and closes its :class:`JsonClient`."""

    protocol: ClassVar[str]

    def __init__(self, client: JsonClient) -> None:
        self.client = client

    @property
    def url(self) -> str:
        """The endpoint as it may be shown or stored: credentials and query values hidden."""
        return self.client.shown_url

    async def __aenter__(self) -> Self:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.client.__aexit__(exc_type, exc, tb)

    @abstractmethod
    async def height(self) -> int:
        """The latest block height."""

    async def balances(self, addresses: Sequence[str], width: int) -> list[int | QueryError]:
        """Each address's balance (or why it is unreadable), in order, at most ``width`` reads
        at a time. This default reads one at a time with :meth:`balance`; an adapter with a
        cheaper bulk read overrides it."""
        return await settle_each(self.balance, addresses, width)

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

    async def total_supply(self) -> int | None:
        """Every upokt there is, when the protocol's API says (None: it does not)."""
        return None


# ----------------------------------------------------------------------------- helpers


async def settle(awaitable: Awaitable[T]) -> T | QueryError:
    """The awaitable's value, or why there is none as a :class:`QueryError`.

    A QueryError is returned as it is. Any other exception (a bug in a parser, a value no check
    foresaw) is returned as a QueryError too, naming the exception: a bug in reading one
    supplier makes that supplier UNKNOWN, never the run. Cancellation still propagates."""
    try:
        return await awaitable
    except QueryError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the rule: one bad read never ends the sweep
        return internal_error(exc)


async def settle_each(read: Callable[[K], Awaitable[T]], items: Sequence[K], width: int) -> list[T | QueryError]:
    """``settle(read(item))`` for every item, at most ``width`` at a time, in the items' order;
    the results in that order. ``width`` workers take the items in turn: a thousand balances are
    ``width`` tasks, not a thousand tasks each queued on the client's semaphore (~10 us of CPU
    each). Cancelling it cancels the reads in flight and starts no other."""
    results: list[T | QueryError] = []
    if not items:
        return results
    results = [QueryError("not read")] * len(items)
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:
            results[index] = await settle(read(item))

    await asyncio.gather(*(worker() for _ in range(max(1, min(width, len(items))))))
    return results


def internal_error(exc: BaseException) -> QueryError:
    """A :class:`QueryError` for an unexpected exception (one line, type and message)."""
    return QueryError(f"internal error while reading ({type(exc).__name__}: {exc})")


def field(obj: Any, *path: str | int, where: str) -> Any:
    """``obj[path[0]][path[1]]…``; a missing (or null) member raises QueryError."""
    for depth, key in enumerate(path):
        if type(obj) is dict and type(key) is str:  # (a decoded JSON object: 5,000 a health run)
            value = obj.get(key)
            if value is not None:
                obj = value
                continue
            present = False
        elif isinstance(key, int):
            present = isinstance(obj, list) and -len(obj) <= key < len(obj)
        else:
            present = isinstance(obj, Mapping) and obj.get(key) is not None
        if not present:
            name = ".".join(str(k) for k in path[: depth + 1])
            raise QueryError(f"{where}: missing field {name}")
        obj = obj[key]
    return obj


def _shown(value: Any) -> str:
    """``value`` for an error line: long strings and numbers cut, with their length."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if value.bit_length() < 200 else f"a {len(str(abs(value)))}-digit number"
        return text
    if isinstance(value, str):
        if len(value) <= 40:
            return repr(value)
        if _DIGITS.fullmatch(value):
            return f"a {len(value)}-digit number"
        return f"{value[:24]!r}… ({len(value)} characters)"
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    return repr(value)[:40]


def parse_int(value: Any, what: str, *, minimum: int = 0, maximum: int = INT64_MAX,
              beyond: str | None = None) -> int:
    """An integer the gateway wrote as a string of digits (or a JSON integer), in
    [``minimum``, ``maximum``] (by default what SQLite can store).

    ``what`` names the endpoint and field; ``beyond`` says why ``maximum`` is the limit.
    Anything else raises :class:`QueryError`: a float, a bool, a string that is not plain
    digits, more than 40 digits (refused before it is converted), a negative number."""
    if isinstance(value, str) and len(value) <= _MAX_DIGITS and _DIGITS.fullmatch(value):
        number = int(value)
    elif isinstance(value, str) and len(value) <= _MAX_DIGITS + 1 and _SIGNED.fullmatch(value):
        raise QueryError(f"{what}: expected an integer, got {value!r} "
                         f"({'negative' if value.startswith('-') else 'signed'})")
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        raise QueryError(f"{what}: {_shown(value)} is beyond {beyond or f'{maximum:,}'}")
    else:
        raise QueryError(f"{what}: expected an integer, got {_shown(value)}")
    if number < minimum:
        text = "negative" if number < 0 and minimum == 0 else f"below {minimum}"
        raise QueryError(f"{what}: {_shown(number)} is {text}")
    if number > maximum:
        raise QueryError(f"{what}: {_shown(number)} is beyond {beyond or f'{maximum:,}'}")
    return number


def parse_amount(value: Any, what: str, *, minimum: int = 0) -> int:
    """An amount of upokt: an integer from ``minimum`` to :data:`SUPPLY_CEILING_UPOKT`."""
    return parse_int(value, what, minimum=minimum, maximum=SUPPLY_CEILING_UPOKT,
                     beyond=f"any plausible supply ({SUPPLY_CEILING_UPOKT:,} upokt)")


def parse_height(value: Any, what: str, *, minimum: int = 0) -> int:
    """A block height or a count of blocks: an integer from ``minimum`` to :data:`MAX_HEIGHT`."""
    return parse_int(value, what, minimum=minimum, maximum=MAX_HEIGHT,
                     beyond=f"any plausible height ({MAX_HEIGHT:,})")


def plausible(state: SupplierState, *, height: int, supply: int | None) -> SupplierState:
    """``state`` if it fits the chain it was read from, else a :class:`QueryError` is raised:
    a stake above the total ``supply`` (when the chain reports it), or a height the state
    names far beyond the chain's latest ``height``."""
    where = f"supplier {state.address}"
    if supply is not None and state.stake_upokt is not None and state.stake_upokt > supply:
        raise QueryError(f"{where}: stake {state.stake_upokt:,} upokt is above the chain's whole "
                         f"supply ({supply:,} upokt)")
    limit = height + HEIGHT_SLACK_BLOCKS
    for name, value in (("unstake_session_end_height", state.unstake_session_end_height),
                        ("jailed_blocks_counter", state.jailed_blocks)):
        if value is not None and value > limit:
            raise QueryError(f"{where}: {name} {value:,} is far beyond the chain's height "
                             f"{height:,}")
    return state


#: A fraction as a decimal string (``sdk.BigDec`` has 18 places).
_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,36})?")


def parse_fraction(value: Any, what: str) -> Fraction:
    """An exact fraction in [0, 1] from a decimal string (amino ``sdk.BigDec``) or number."""
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise QueryError(f"{what}: expected a decimal, got {_shown(value)}")
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value) if -2 <= value <= 2 else Decimal(2)
    else:
        raise QueryError(f"{what}: expected a decimal, got {_shown(value)}")
    # Range and precision are checked on the Decimal first: Fraction(Decimal("1e-999999999"))
    # would compute a number of a billion digits.
    if not number.is_finite():
        raise QueryError(f"{what}: expected a decimal, got {_shown(value)}")
    if not 0 <= number <= 1:
        raise QueryError(f"{what}: {_shown(value)} is not between 0 and 1")
    exponent = number.as_tuple().exponent  # an int: the number is finite
    if number != 0 and isinstance(exponent, int) and exponent < -36:
        raise QueryError(f"{what}: {_shown(value)} has more than 36 decimal places")
    return Fraction(number)
