"""Addresses and hashes: the stand-in's own bech32 (it plays the chain, so it does not share
fleetctl's), the lab's deterministic addresses, block hashes, keys and account numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# The stand-in plays the chain, so it checks addresses with its own bech32 code rather than
# fleetctl.spec.address: a bug there must not be able to agree with itself on both sides.
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: Iterable[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    accumulator, bits, out = 0, 0, []
    max_value = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & max_value)
    if pad and bits:
        out.append((accumulator << (to_bits - bits)) & max_value)
    elif not pad and (bits >= from_bits or (accumulator << (to_bits - bits)) & max_value):
        raise ValueError("invalid incomplete group")
    return out


def bech32_encode(hrp: str, payload: bytes) -> str:
    """BIP-173 bech32 string of ``payload`` (8-bit bytes) with human-readable part ``hrp``."""
    data = _convert_bits(payload, 8, 5, pad=True)
    polymod = _bech32_polymod(_bech32_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + checksum)


def _bech32_error(address: str, prefix: str) -> str | None:
    """Why ``sdk.AccAddressFromBech32`` (cosmos-sdk types/address.go) rejects ``address``, or None.

    The messages follow cosmos-sdk's ``bech32.DecodeAndConvert`` over btcutil's ``bech32.Decode``.
    """
    if not address.strip():
        return "empty address string is not allowed"
    if not 8 <= len(address) <= 1023:
        return f"decoding bech32 failed: invalid bech32 string length {len(address)}"
    if any(not 33 <= ord(c) <= 126 for c in address):
        bad = next(c for c in address if not 33 <= ord(c) <= 126)
        return f"decoding bech32 failed: invalid character in string: '{bad}'"
    if address.lower() != address and address.upper() != address:
        return "decoding bech32 failed: string not all lowercase or all uppercase"
    lowered = address.lower()
    separator = lowered.rfind("1")
    if separator < 1 or separator + 7 > len(lowered):
        return f"decoding bech32 failed: invalid separator index {separator}"
    hrp, data_part = lowered[:separator], lowered[separator + 1:]
    for char in data_part:
        if char not in _BECH32_CHARSET:
            return f"decoding bech32 failed: invalid character not part of charset: {ord(char)}"
    data = [_BECH32_CHARSET.index(c) for c in data_part]
    if _bech32_polymod(_bech32_hrp_expand(hrp) + data) != 1:
        polymod = _bech32_polymod(_bech32_hrp_expand(hrp) + data[:-6] + [0] * 6) ^ 1
        expected = "".join(_BECH32_CHARSET[(polymod >> 5 * (5 - i)) & 31] for i in range(6))
        return (f"decoding bech32 failed: invalid checksum (expected {expected} "
                f"got {data_part[-6:]})")
    try:
        payload = _convert_bits(data[:-6], 5, 8, pad=False)
    except ValueError as exc:
        return f"decoding bech32 failed: {exc}"
    if hrp != prefix:
        return f"invalid Bech32 prefix; expected {prefix}, got {hrp}"
    if not payload:
        return "addresses cannot be empty: unknown address"
    if len(payload) > 255:
        return f"address max length is 255, got {len(payload)}: unknown address"
    return None


def lab_address(label: str, hrp: str = "pokt") -> str:
    """A valid, deterministic bech32 account address for ``label`` (20 bytes of its SHA-256)."""
    return bech32_encode(hrp, hashlib.sha256(label.encode("utf-8")).digest()[:20])


def lab_block_hash(height: int) -> bytes:
    """The lab chain's block hash at ``height``: SHA-256 of ``"pocket-lab:<height>"``."""
    return hashlib.sha256(f"pocket-lab:{height}".encode("ascii")).digest()


def lab_pub_key(address: str) -> bytes:
    """The lab's public key of account ``address`` (a lab value, not a real key): 33 bytes shaped
    like a compressed secp256k1 key, 0x02 or 0x03 (the parity of the digest's last byte) then
    SHA-256 of ``"pocket-lab:pubkey:<address>"``. It is not checked to be a point on the curve
    (nothing in the lab verifies signatures)."""
    digest = hashlib.sha256(f"pocket-lab:pubkey:{address.lower()}".encode()).digest()
    return bytes([2 + (digest[-1] & 1)]) + digest


def lab_account_number(address: str) -> int:
    """The lab's account number of ``address`` (a lab value): 1 + the first 4 bytes of SHA-256 of
    ``"pocket-lab:account_number:<address>"`` modulo 10^6. The chain numbers accounts in the
    order they are created; the lab needs a number that does not depend on that order."""
    digest = hashlib.sha256(f"pocket-lab:account_number:{address.lower()}".encode()).digest()
    return 1 + int.from_bytes(digest[:4], "big") % 1_000_000


def _account_address_error(address: str) -> str | None:
    """Why the auth keeper's ``StringToBytes`` (cosmos-sdk codec/address/bech32_codec.go) refuses
    ``address``, as the gRPC status message the gateway shows (code 2, Unknown: these errors
    carry no gRPC code; a wrapped cosmossdk.io/errors error reads ``"<desc>: <msg>"``)."""
    problem = _bech32_error(address, "pokt")
    if problem is None:
        return None
    if problem.startswith("invalid Bech32 prefix"):
        hrp = address.lower()[:address.lower().rfind("1")]
        return f"internal logic error: hrp does not match bech32 prefix: expected 'pokt' got '{hrp}'"
    if problem.endswith(": unknown address"):
        return "unknown address: " + problem[:-len(": unknown address")]
    return problem
