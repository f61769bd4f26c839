"""Values read from outside (JSON-RPC, CometBFT, pocket-core, HAProxy, host facts): one strict
parser per type, used by every health reader, so a new field is checked the same way.

Every parser returns the value or raises :class:`BadValue` whose ``str()`` is one short line
naming the field and what is wrong (the offending value cut to a few characters). Nothing here
does float arithmetic on an unbounded integer: lengths are checked before ``int()``.

* :func:`hex_quantity`: an Ethereum JSON-RPC QUANTITY (execution-apis): ``0x`` then hex digits,
  no leading zeros except ``0x0``, nothing else (no sign, no ``_``, no spaces); at most 16 hex
  digits (uint64) and at most ``maximum``.
* :func:`decimal_height`: a CometBFT int64 as its RPC encodes it: a JSON *string* of decimal
  digits, no leading zeros, no sign, at most ``maximum``.
* :func:`json_count`: a JSON integer (not a bool, not a float), 0..``maximum``.
* :func:`block_hash`: ``0x`` and 64 hex digits, lower-cased.
* Beacon API (ethereum/beacon-APIs, ``types/primitive.yaml``): :func:`beacon_uint64` (``Uint64``:
  a JSON *string* of decimal digits, within a plausible ``maximum``), :func:`json_bool` (a JSON
  ``true``/``false``, never ``"true"`` or ``1``), :func:`beacon_root` (``Root``: ``0x`` and 64 hex
  digits, lower-cased), :func:`version_text` (``Version``: a short printable string, refused
  rather than cleaned when it holds a control character).
* :func:`one_line`: any text from outside made printable: control characters dropped, one line,
  at most ``limit`` characters.

Ranges: :data:`MAX_BLOCK` (10^12 blocks: a block every 0.1 s for 3,000 years) bounds every
height; :data:`MAX_PEERS` bounds a peer count. A value outside them is not a number fleetctl
believes; the reader reports the field, and the check is UNKNOWN.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MAX_BLOCK", "MAX_EPOCH", "MAX_PEERS", "MAX_SLOT", "BadValue", "beacon_root", "beacon_uint64", "block_hash",
           "decimal_height", "finite", "hex_quantity", "json_bool", "json_count", "one_line", "version_text"]

MAX_BLOCK = 10**12
MAX_PEERS = 100_000
#: A beacon slot (12 s on mainnet, 5 s on Gnosis): 10^10 slots are over 1,500 years of 5 s slots.
MAX_SLOT = 10**10
MAX_EPOCH = MAX_SLOT // 32
#: A version string longer than this is not one a client sends (theirs are under 100 characters).
MAX_VERSION_CHARS = 200

_HEX_QUANTITY = re.compile(r"0x(?:0|[1-9a-fA-F][0-9a-fA-F]{0,15})")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


class BadValue(ValueError):
    """A value that is not what the protocol says; ``str()`` is one line."""


def one_line(value: Any, limit: int = 200) -> str:
    """``value`` as one printable line of at most ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 4 * limit:
        text = text[: 4 * limit]
    text = " ".join(_UNPRINTABLE.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(value: Any) -> str:
    return one_line(value if not isinstance(value, str) else repr(value), 24)


def hex_quantity(value: Any, field: str, *, maximum: int = MAX_BLOCK) -> int:
    """An Ethereum JSON-RPC QUANTITY within 0..``maximum``."""
    if not isinstance(value, str):
        raise BadValue(f"{field}: not a hex quantity ({_shown(value)})")
    if len(value) > 18 or not _HEX_QUANTITY.fullmatch(value):
        if len(value) > 18 and re.fullmatch(r"0x[1-9a-fA-F][0-9a-fA-F]*", value[:4096]):
            raise BadValue(f"{field}: implausible value ({len(value) - 2} hex digits)")
        raise BadValue(f"{field}: not a hex quantity ({_shown(value)})")
    number = int(value, 16)
    if number > maximum:
        raise BadValue(f"{field}: implausible value {number:,} (above {maximum:,})")
    return number


def decimal_height(value: Any, field: str, *, maximum: int = MAX_BLOCK) -> int:
    """A CometBFT height: a string of decimal digits within 0..``maximum``."""
    if not isinstance(value, str):
        raise BadValue(f"{field}: not a decimal string ({_shown(value)})")
    if len(value) > 19 or not _DECIMAL.fullmatch(value):
        if len(value) > 19 and value[:4096].isascii() and value[:4096].isdigit():
            raise BadValue(f"{field}: implausible value ({len(value)} digits)")
        raise BadValue(f"{field}: not a decimal string ({_shown(value)})")
    number = int(value)
    if number > maximum:
        raise BadValue(f"{field}: implausible value {number:,} (above {maximum:,})")
    return number


def json_count(value: Any, field: str, *, maximum: int = MAX_BLOCK) -> int:
    """A JSON integer within 0..``maximum`` (pocket-core heights, counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(f"{field}: not an integer ({_shown(value)})")
    if value < 0:
        raise BadValue(f"{field}: negative ({_shown(value)})")
    if value > maximum:
        digits = value.bit_length() * 30103 // 100000 + 1
        shown = f"{value:,}" if digits < 30 else f"about 10^{digits - 1}"
        raise BadValue(f"{field}: implausible value {shown} (above {maximum:,})")
    return value


def finite(value: float, field: str, *, minimum: float = 0.0, maximum: float = 1e18) -> float:
    """A float that is a number within ``minimum``..``maximum`` (no NaN, no infinity)."""
    if not isinstance(value, float | int) or isinstance(value, bool) or not math.isfinite(value):
        raise BadValue(f"{field}: not a finite number ({_shown(value)})")
    if not minimum <= value <= maximum:
        raise BadValue(f"{field}: implausible value {_shown(value)}")
    return float(value)


def block_hash(value: Any, field: str = "hash") -> str:
    """A 32-byte hash as ``0x`` and 64 hex digits (lower-cased)."""
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise BadValue(f"{field}: not a 32-byte hash ({_shown(value)})")
    return value.lower()


def beacon_uint64(value: Any, field: str, *, maximum: int = MAX_SLOT) -> int:
    """A Beacon API ``Uint64``: a JSON string of decimal digits (no sign, no leading zero, no
    space), within 0..``maximum`` (a plausible bound, far below 2^64)."""
    return decimal_height(value, field, maximum=maximum)


def json_bool(value: Any, field: str) -> bool:
    """A JSON boolean: ``true`` or ``false`` only (not ``"true"``, ``1`` or ``null``)."""
    if not isinstance(value, bool):
        raise BadValue(f"{field}: not a JSON boolean ({_shown(value)})")
    return value


def beacon_root(value: Any, field: str) -> str:
    """A Beacon API ``Root``: ``0x`` and 64 hex digits (lower-cased)."""
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise BadValue(f"{field}: not a 32-byte root ({_shown(value)})")
    return value.lower()


_PRINTABLE_VERSION = re.compile(r"[\x20-\x7e]+")


def version_text(value: Any, field: str, *, limit: int = MAX_VERSION_CHARS) -> str:
    """A client's version string: printable ASCII, at most ``limit`` characters, not blank."""
    if not isinstance(value, str):
        raise BadValue(f"{field}: not a string ({_shown(value)})")
    if len(value) > limit:
        raise BadValue(f"{field}: {len(value):,} characters (at most {limit})")
    if not value.strip() or not _PRINTABLE_VERSION.fullmatch(value):
        raise BadValue(f"{field}: not a printable version string ({_shown(value)})")
    return value.strip()
