"""Address checks: bech32 (BIP-173) for Shannon, 40 hex characters for Morse."""

from __future__ import annotations

from hypothesis import given, strategies as st

from fleetctl.spec.address import bech32_decode, bech32_encode, morse_address_problem, shannon_address_problem

# The poktroll governance authority, from the official params files in shared/pocket.
AUTHORITY = "pokt10d07y265gmmuvt4z0w9aw880jnsr700j8yv32t"


def test_known_mainnet_address():
    assert shannon_address_problem(AUTHORITY) is None
    assert shannon_address_problem(AUTHORITY.upper()) is None
    hrp, payload = bech32_decode(AUTHORITY)
    assert hrp == "pokt" and len(payload) == 20
    assert bech32_encode(hrp, payload) == AUTHORITY


def test_bip173_vectors():
    # Valid checksums from BIP-173's test vectors.
    for good in ("A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw"):
        bech32_decode(good)
    assert shannon_address_problem("A12UEL5L") == "prefix 'a', expected 'pokt'"


def test_problems_named():
    assert shannon_address_problem("pokt1") is not None
    assert "mixed" in shannon_address_problem("Pokt10d07y265gmmuvt4z0w9aw880jnsr700j8yv32t")
    assert "alphabet" in shannon_address_problem("pokt10d07y265gmmuvt4z0w9aw880jnsr700j8yv32b")
    assert "checksum" in shannon_address_problem(AUTHORITY[:-1] + "q")
    assert "payload" in shannon_address_problem(bech32_encode("pokt", bytes(16)))
    assert morse_address_problem("ab" * 20) is None
    assert morse_address_problem("ab" * 19) == "expected 40 hex characters, got 38 characters"
    assert morse_address_problem("zz" * 20) == "expected 40 hex characters"


@given(st.binary(min_size=20, max_size=20), st.integers(min_value=5, max_value=38), st.sampled_from("qpzry9x8gf2tvdw0s3jn54khce6mua7l"))
def test_roundtrip_and_any_one_character_typo_is_caught(payload, pos, char):
    addr = bech32_encode("pokt", payload)
    assert shannon_address_problem(addr) is None
    assert bech32_decode(addr)[1] == payload
    typo = addr[:pos] + char + addr[pos + 1 :]
    if typo != addr:
        assert shannon_address_problem(typo) is not None
