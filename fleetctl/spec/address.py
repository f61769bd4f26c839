"""Account address checks: Shannon bech32 (``pokt1…``, BIP-173 checksum) and Morse hex.

Cosmos SDK accounts (Shannon) are bech32 (not bech32m) with the human-readable part ``pokt``
and a 20-byte payload (32 bytes for module / interchain accounts).  Morse addresses are the
first 20 bytes of the SHA-256 of the ed25519 public key, written as 40 hex characters.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_REV = {c: i for i, c in enumerate(_CHARSET)}
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_HEX = re.compile(r"[0-9a-fA-F]*")
SHANNON_HRP = "pokt"


# BIP-173's polymod folds the 5 bits shifted out of the checksum through the generators; the
# 32 possible folds are precomputed (the same arithmetic, one table lookup per character).
def _fold(top: int) -> int:
    out = 0
    for i in range(5):
        if (top >> i) & 1:
            out ^= _GEN[i]
    return out


_FOLD = tuple(_fold(top) for top in range(32))


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        chk = ((chk & 0x1FFFFFF) << 5 ^ v) ^ _FOLD[chk >> 25]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: list[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return out


def bech32_decode(addr: str) -> tuple[str, bytes]:
    """Decode a bech32 string; raises ValueError with a reason an operator can act on."""
    if addr != addr.lower() and addr != addr.upper():
        raise ValueError("mixed upper and lower case (bech32 is all lower or all upper case)")
    addr = addr.lower()
    pos = addr.rfind("1")
    if pos < 1 or pos + 7 > len(addr) or len(addr) > 90:
        raise ValueError("not a bech32 address (expected hrp, '1', data and 6-character checksum)")
    hrp, data_part = addr[:pos], addr[pos + 1 :]
    bad = [c for c in data_part if c not in _REV]
    if bad:
        raise ValueError(f"character {bad[0]!r} is not in the bech32 alphabet")
    data = [_REV[c] for c in data_part]
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise ValueError("bad bech32 checksum (a typo in the address?)")
    payload = _convertbits(data[:-6], 5, 8, False)
    if payload is None:
        raise ValueError("bad bech32 padding")
    return hrp, bytes(payload)


def bech32_encode(hrp: str, payload: bytes) -> str:
    data = _convertbits(list(payload), 8, 5, True) or []
    values = _hrp_expand(hrp) + data
    polymod = _polymod(values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


@lru_cache(maxsize=65536)
def shannon_address_problem(addr: str) -> str | None:
    """None when ``addr`` is a valid ``pokt1…`` account address, else what is wrong."""
    try:
        hrp, payload = bech32_decode(addr)
    except ValueError as exc:
        return str(exc)
    if hrp != SHANNON_HRP:
        return f"prefix {hrp!r}, expected {SHANNON_HRP!r}"
    if len(payload) not in (20, 32):
        return f"{len(payload)}-byte payload, expected 20 (or 32)"
    return None


def hex_decode(text: str, what: str) -> bytes:
    """``text`` decoded as Go's ``encoding/hex`` ``DecodeString`` does it (what pocket-core reads
    every hex field with: ``types/address.go`` ``AddressFromHex`` l. 265,
    ``x/pocketcore/types/crypto.go`` l. 27, 76, 90): an even number of ``0-9a-fA-F`` and nothing
    else. ``bytes.fromhex`` skips ASCII whitespace and ``re``'s ``$`` matches before a final
    newline, so neither is used alone. ValueError ``"<what>: <problem>"`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"{what}: not a hex string (a {type(text).__name__})")
    if not _HEX.fullmatch(text):
        bad = next(c for c in text if c not in "0123456789abcdefABCDEF")
        raise ValueError(f"{what}: not a hex string: invalid byte {bad!r}")
    if len(text) % 2:
        raise ValueError(f"{what}: not a hex string: odd length {len(text)}")
    return bytes.fromhex(text)


def morse_address_problem(addr: str) -> str | None:
    """None when ``addr`` is 40 hex characters (20 bytes, Go's hex), else what is wrong."""
    try:
        raw = hex_decode(addr, "address")
    except ValueError:
        return "expected 40 hex characters"
    return None if len(raw) == 20 else f"expected 40 hex characters, got {len(addr)} characters"
