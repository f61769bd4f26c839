"""Accounts and the bank (x/auth, x/bank): which accounts exist, their keys, numbers and
sequences, and balances.
"""

from __future__ import annotations

import re
from typing import Any

from fleetlab.standin.addresses import (
    _account_address_error,
    _bech32_error,
    lab_account_number,
    lab_pub_key,
)
from fleetlab.standin.common import (
    UPOKT,
    SeedError,
    _as_bool,
    _as_int,
    _as_object,
    _as_str,
    _b64,
    _check_keys,
    _coin,
)
from fleetlab.standin.errors import INVALID_ARGUMENT, NOT_FOUND, UNKNOWN, GatewayError

_DENOM_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$")  # cosmos-sdk types/coin.go


#: ``@type`` of the account and key the auth query answers (cosmos-sdk x/auth/types,
#: crypto/keys/secp256k1).
BASE_ACCOUNT_TYPE = "/cosmos.auth.v1beta1.BaseAccount"


SECP256K1_PUBKEY_TYPE = "/cosmos.crypto.secp256k1.PubKey"


def _account_entry(obj: Any, where: str) -> dict[str, Any]:
    """A seed ``accounts`` entry, checked: ``address`` (bech32 ``pokt1…``), optional ``pub_key``
    (true/false; null or absent: derived), ``account_number``, ``sequence``."""
    obj = _as_object(obj, where)
    _check_keys(obj, ("address", "pub_key", "account_number", "sequence"), where)
    address = _as_str(obj.get("address"), f"{where}.address")
    if problem := _bech32_error(address, "pokt"):
        raise SeedError(f"{where}.address: {problem}")
    entry: dict[str, Any] = {"address": address}
    if obj.get("pub_key") is not None:
        entry["pub_key"] = _as_bool(obj["pub_key"], f"{where}.pub_key")
    for name in ("account_number", "sequence"):
        if obj.get(name) is not None:
            entry[name] = _as_int(obj[name], f"{where}.{name}")
    return entry


class AccountsMixin:
    """Balances and auth accounts: the bank and auth queries and their control routes.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def _credit(self, address: str, amount: int) -> None:
        key = address.lower()
        self._balances[key] = self._balances.get(key, 0) + amount

    def query_bank_balance(self, address: str, denom: str | None) -> dict[str, Any]:
        """``cosmos.bank.v1beta1`` ``AllBalances`` (``denom`` None) or ``Balance``."""
        if denom is not None and not _DENOM_RE.match(denom):
            raise GatewayError(INVALID_ARGUMENT, f"invalid denom: {denom}")
        if problem := _bech32_error(address, "pokt"):
            raise GatewayError(INVALID_ARGUMENT, f"invalid address: {problem}")
        with self._lock:
            self._settle()
            amount = self._balances.get(address.lower(), 0)
        if denom is not None:
            return {"balance": {"denom": denom, "amount": str(amount if denom == UPOKT else 0)}}
        balances = [_coin(amount)] if amount else []
        return {"balances": balances, "pagination": {"next_key": None, "total": str(len(balances))}}

    def set_balance(self, address: Any, amount_upokt: Any) -> dict[str, Any]:
        address = _as_str(address, "address")
        amount = _as_int(amount_upokt, "amount_upokt")
        with self._lock:
            self._balances[address.lower()] = amount
            return {"address": address, "amount_upokt": amount}

    def _export_accounts(self) -> list[dict[str, Any]]:
        """Seed ``accounts``: the seeded or upserted ones and every account that signed."""
        entries = []
        for key in sorted(set(self._accounts) | set(self._sequences)):
            entry = dict(self._accounts.get(key) or {"address": key})
            if self._sequences.get(key, -1) >= 0:
                entry["sequence"] = self._sequences[key] + 1
            entries.append(entry)
        return entries

    def _account_wire(self, address: str) -> dict[str, Any] | None:
        """The ``BaseAccount`` of ``address`` as the gateway writes an ``Any`` (``@type`` then
        the message's fields), or None when the chain has no such account. Caller holds the
        lock."""
        key = address.lower()
        override = self._accounts.get(key, {})
        operators = {s.operator_address.lower() for s in self._suppliers.values()}
        signers = operators | {a.lower() for a in self._applications}
        sequence = self._sequences.get(key, -1) + 1
        exists = (key in self._accounts or key in self._balances or key in signers
                  or key in self._sequences
                  or any(s.owner_address.lower() == key for s in self._suppliers.values()))
        if not exists:
            return None
        signed = override.get("pub_key")
        if signed is None:
            signed = key in signers or sequence > 0
        pub_key = ({"@type": SECP256K1_PUBKEY_TYPE, "key": _b64(lab_pub_key(key))}
                   if signed else None)
        number = override.get("account_number")
        return {
            "@type": BASE_ACCOUNT_TYPE,
            "address": key,  # the canonical (lower-case) bech32 form, as the chain prints it
            "pub_key": pub_key,
            "account_number": str(lab_account_number(key) if number is None else number),
            "sequence": str(sequence),
        }

    def query_account(self, address: str) -> dict[str, Any]:
        """``cosmos.auth.v1beta1`` ``Account`` (x/auth/keeper/grpc_query.go) →
        ``QueryAccountResponse``."""
        if problem := _account_address_error(address):
            raise GatewayError(UNKNOWN, problem)
        with self._lock:
            self._settle()
            account = self._account_wire(address)
        if account is None:
            raise GatewayError(NOT_FOUND, f"account {address} not found")
        return {"account": account}

    def upsert_account(self, obj: Any) -> dict[str, Any]:
        """``POST /__lab/account``: a seed ``accounts`` entry (creates the account, overrides
        its key presence, number or sequence) → ``{"account"}`` as the query shows it."""
        entry = _account_entry(obj, "account")
        key = entry["address"].lower()
        with self._lock:
            self._settle()
            if "sequence" in entry:
                self._sequences[key] = entry.pop("sequence") - 1
            merged = {**self._accounts.get(key, {}), **entry}
            if obj.get("pub_key", False) is None:  # null: back to the derived presence
                merged.pop("pub_key", None)
            self._accounts[key] = merged
            account = self._account_wire(entry["address"])
        return {"account": account}
