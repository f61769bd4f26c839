#!/usr/bin/env python3
"""A ``pocketd`` stand-in for the fleetctl lab: the few subcommands fleetctl runs, with the real
CLI's flags, outputs and error messages, over the lab's Pocket stand-in instead of a chain.

It runs on the host's ``/usr/bin/python3`` (in the ``fleetlab/relayminer:lab`` image, whose
entrypoint it is, and on the lab hosts as ``/var/lib/fleetctl-lab/bin/pocketd``), so it is one
file using the standard library only (PyYAML is used when it is installed, as Debian's
python3-yaml is for relayminer.py; otherwise a small reader of block-style YAML takes over).

Commands (``pocketd`` of pokt-network/poktroll, cosmos-sdk v0.53 client; errors are printed as
pocketd's ``main`` prints them, the bare message on stderr, exit code 1)

``relayminer start --config=FILE …``
    The lab RelayMiner (``relayminer.py`` beside this file), unchanged.

``keys add NAME [--keyring-backend test] [--home H] [--output text|json] [--no-backup]``
    A new secp256k1 key (private key from :mod:`secrets`, public key by curve arithmetic here),
    address ``bech32("pokt", RIPEMD160(SHA256(compressed public key)))`` as cosmos-sdk's
    ``secp256k1.PubKey.Address``. ``--output json`` prints cosmos-sdk's ``KeyOutput``:
    ``{"name","type":"local","address","pubkey":"{\\"@type\\":\\"/cosmos.crypto.secp256k1.PubKey\\",
    \\"key\\":\\"<base64>\\"}"}`` plus ``"mnemonic"`` only without ``--no-backup`` (text output:
    the record as YAML, and the backup phrase on stderr). The stand-in has no BIP39 word list:
    its backup phrase is ``fleetlab-secp256k1:<private key hex>``, and ``--recover`` is refused.
    With ``--no-backup`` nothing private is ever printed. An existing NAME asks
    ``override the existing name NAME [y/N]:`` as the real command does: without a terminal
    and input it fails with ``EOF``, an answer other than y with ``aborted`` (exit 1).
``keys show NAME|ADDRESS [-a|--address] [--output text|json]``, ``keys list [--output json]``

``tx supplier stake-supplier --config FILE --from KEY|ADDRESS [--keyring-backend test]
[--home H] [--chain-id C] [--node URL] [--yes] [--output json] [--fees F] [--gas G]
[--stake-only|--services-only]``
    The config is read and checked as poktroll's ``ParseSupplierConfigs``
    (x/supplier/config/supplier_configs_reader.go), then the message as
    ``MsgStakeSupplier.ValidateBasic`` (x/supplier/types/message_stake_supplier.go) and the
    command's own rules (x/supplier/module/tx_stake_supplier.go), with their error texts: a
    message with services must be signed by the operator (owner-signed stakes carry no services:
    ``--stake-only``). Then the chain's side as the keeper does it
    (x/supplier/keeper/msg_server_stake_supplier.go): the stored supplier's owner or operator
    signs an update, the stake is at least ``min_stake``, and the chain id matches. A tx the
    chain rejects is printed as a ``TxResponse`` with its non-zero ``code`` and ``raw_log``, exit
    code 0, as a real broadcast does; fleetctl reads ``code``. An accepted one is applied at once
    through the stand-in's control API (``POST /__lab/shannon/supplier`` on
    ``$POCKETD_LAB_CONTROL``, else ``http://<host of --node>:1317``), its services activating at
    the next session start as on chain, and printed as ``{"height","txhash","codespace":"",
    "code":0,"data":"","raw_log":"","logs":[],"info":"","gas_wanted","gas_used","tx":null,
    "timestamp":"","events":[]}`` (``height``: the block it landed in; a real sync broadcast says
    "0"). Restaking a staked supplier with the same config is an update the chain accepts.
    Not modelled: balances and fees (nothing is debited), gas, account sequences, whether the
    service exists (x/service), unbonding cancellation.

``version``

Keyring (``--keyring-backend test``, the only backend; default home ``$HOME/.pocket``)
    ``H/keyring-test/`` (0700) holds ``NAME.info``, JSON ``{"name","type":"local","address",
    "pubkey":{"@type","key"},"privkey":{"@type":"/cosmos.crypto.secp256k1.PrivKey","key"}}``,
    and ``<address bytes hex>.address`` holding the name, both 0600, written atomically. The
    real test backend keeps the same two files per key, encrypted with the fixed password
    "test"; this one stores them in the clear (equally unprotected: the test backend is for
    tests). The private key never leaves ``NAME.info``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import secrets
import struct
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = [
    "CliError",
    "ConfigError",
    "address_of",
    "bech32_decode",
    "bech32_encode",
    "main",
    "parse_supplier_config",
    "public_key",
    "ripemd160",
]

HRP = "pokt"
DENOM = "upokt"
PUBKEY_TYPE = "/cosmos.crypto.secp256k1.PubKey"
PRIVKEY_TYPE = "/cosmos.crypto.secp256k1.PrivKey"
DEFAULT_NODE = "tcp://localhost:26657"
DEFAULT_CHAIN_ID = "pocket"  # cmd/pocketd/cmd/root.go DefaultChainID
LAB_REST_PORT = 1317
VERSION = "fleetlab-standin"


class CliError(Exception):
    """An error pocketd prints (bare message on stderr) before exiting 1."""


class ConfigError(CliError):
    """A stake config ``ParseSupplierConfigs`` rejects; the message is poktroll's."""


# --------------------------------------------------------------------------- hashing, curve


def _rmd_f(j: int, x: int, y: int, z: int) -> int:
    if j < 16:
        return x ^ y ^ z
    if j < 32:
        return (x & y) | (~x & z)
    if j < 48:
        return (x | ~y) ^ z
    if j < 64:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


_RMD_K = (0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E)
_RMD_KP = (0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000)
_RMD_R = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9,
          5, 2, 14, 11, 8, 3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12, 1, 9, 11, 10, 0, 8,
          12, 4, 13, 3, 7, 15, 14, 5, 6, 2, 4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13)
_RMD_RP = (5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12, 6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8,
           12, 4, 9, 1, 2, 15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13, 8, 6, 4, 1, 3, 11,
           15, 0, 5, 12, 2, 13, 9, 7, 10, 14, 12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11)
_RMD_S = (11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8, 7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15,
          9, 11, 7, 13, 12, 11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5, 11, 12, 14, 15,
          14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12, 9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8,
          5, 6)
_RMD_SP = (8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6, 9, 13, 15, 7, 12, 8, 9, 11, 7, 7,
           12, 7, 6, 15, 13, 11, 9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5, 15, 5, 8,
           11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8, 8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15,
           13, 11, 11)


def _rol(x: int, n: int) -> int:
    x &= 0xFFFFFFFF
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def _ripemd160_pure(data: bytes) -> bytes:
    """RIPEMD-160 (Dobbertin, Bosselaers, Preneel 1996) for interpreters whose OpenSSL 3 lacks it."""
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    message = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", 8 * len(data))
    for offset in range(0, len(message), 64):
        x = struct.unpack("<16I", message[offset:offset + 64])
        al, bl, cl, dl, el = h
        ar, br, cr, dr, er = h
        for j in range(80):
            rnd = j // 16
            t = _rol(al + _rmd_f(j, bl, cl, dl) + x[_RMD_R[j]] + _RMD_K[rnd], _RMD_S[j]) + el
            al, el, dl, cl, bl = el, dl, _rol(cl, 10), bl, t & 0xFFFFFFFF
            t = _rol(ar + _rmd_f(79 - j, br, cr, dr) + x[_RMD_RP[j]] + _RMD_KP[rnd], _RMD_SP[j]) + er
            ar, er, dr, cr, br = er, dr, _rol(cr, 10), br, t & 0xFFFFFFFF
        t = (h[1] + cl + dr) & 0xFFFFFFFF
        h[1] = (h[2] + dl + er) & 0xFFFFFFFF
        h[2] = (h[3] + el + ar) & 0xFFFFFFFF
        h[3] = (h[4] + al + br) & 0xFFFFFFFF
        h[4] = (h[0] + bl + cr) & 0xFFFFFFFF
        h[0] = t
    return struct.pack("<5I", *h)


def ripemd160(data: bytes) -> bytes:
    """hashlib's RIPEMD-160 when OpenSSL provides it, else :func:`_ripemd160_pure`."""
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:
        return _ripemd160_pure(data)


# secp256k1 (SEC 2), Jacobian coordinates.
_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
      0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def _jdouble(pt: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = pt
    if y == 0:
        return (0, 0, 0)
    s = 4 * x * y * y % _P
    m = 3 * x * x % _P
    nx = (m * m - 2 * s) % _P
    return (nx, (m * (s - nx) - 8 * y**4) % _P, 2 * y * z % _P)


def _jadd(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    if a[2] == 0:
        return b
    if b[2] == 0:
        return a
    x1, y1, z1 = a
    x2, y2, z2 = b
    u1, u2 = x1 * z2 * z2 % _P, x2 * z1 * z1 % _P
    s1, s2 = y1 * z2**3 % _P, y2 * z1**3 % _P
    if u1 == u2:
        return _jdouble(a) if s1 == s2 else (0, 0, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    h2 = h * h % _P
    h3 = h * h2 % _P
    nx = (r * r - h3 - 2 * u1 * h2) % _P
    return (nx, (r * (u1 * h2 - nx) - s1 * h3) % _P, h * z1 * z2 % _P)


def public_key(private: int) -> bytes:
    """The 33-byte compressed secp256k1 public key of ``private`` (1 <= private < n)."""
    if not 1 <= private < _N:
        raise ValueError("private key out of range")
    result, addend = (0, 0, 0), (_G[0], _G[1], 1)
    while private:
        if private & 1:
            result = _jadd(result, addend)
        addend = _jdouble(addend)
        private >>= 1
    x, y, z = result
    zi = pow(z, -1, _P)
    ax, ay = x * zi * zi % _P, y * zi**3 % _P
    return bytes([2 + (ay & 1)]) + ax.to_bytes(32, "big")


def address_of(pubkey: bytes) -> str:
    """``pokt1…`` of a compressed public key: bech32 of RIPEMD160(SHA256(pubkey))."""
    return bech32_encode(HRP, ripemd160(hashlib.sha256(pubkey).digest()))


# --------------------------------------------------------------------------- bech32

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: Sequence[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(_GEN):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: Sequence[int], frm: int, to: int, pad: bool) -> list[int]:
    acc, bits, out, maxv = 0, 0, [], (1 << to) - 1
    for v in data:
        acc = (acc << frm) | v
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to - bits)) & maxv)
    elif not pad and (bits >= frm or (acc << (to - bits)) & maxv):
        raise ValueError("invalid incomplete group")
    return out


def bech32_encode(hrp: str, payload: bytes) -> str:
    data = _convert(payload, 8, 5, True)
    pm = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    return hrp + "1" + "".join(_CHARSET[d] for d in data + [(pm >> 5 * (5 - i)) & 31 for i in range(6)])


def bech32_decode(address: str) -> tuple[str, bytes]:
    """(hrp, payload); ValueError with cosmos-sdk's ``decoding bech32 failed: …`` reasons."""
    if not address.strip():
        raise ValueError("empty address string is not allowed")
    if not 8 <= len(address) <= 1023:
        raise ValueError(f"decoding bech32 failed: invalid bech32 string length {len(address)}")
    if address.lower() != address and address.upper() != address:
        raise ValueError("decoding bech32 failed: string not all lowercase or all uppercase")
    low = address.lower()
    sep = low.rfind("1")
    if sep < 1 or sep + 7 > len(low):
        raise ValueError(f"decoding bech32 failed: invalid separator index {sep}")
    hrp, rest = low[:sep], low[sep + 1:]
    for c in rest:
        if c not in _CHARSET:
            raise ValueError(f"decoding bech32 failed: invalid character not part of charset: {ord(c)}")
    data = [_CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + data) != 1:
        pm = _polymod(_hrp_expand(hrp) + data[:-6] + [0] * 6) ^ 1
        expected = "".join(_CHARSET[(pm >> 5 * (5 - i)) & 31] for i in range(6))
        raise ValueError(f"decoding bech32 failed: invalid checksum (expected {expected} got {rest[-6:]})")
    return hrp, bytes(_convert(data[:-6], 5, 8, False))


def _acc_address_error(address: str) -> str | None:
    """Why ``sdk.AccAddressFromBech32`` rejects ``address`` (None: valid ``pokt`` address)."""
    try:
        hrp, payload = bech32_decode(address)
    except ValueError as exc:
        return str(exc)
    if hrp != HRP:
        return f"invalid Bech32 prefix; expected {HRP}, got {hrp}"
    if not payload:
        return "addresses cannot be empty: unknown address"
    return None


# --------------------------------------------------------------------------- keyring


class Keyring:
    """The ``test`` backend at ``home/keyring-test`` (see the module docstring for the files)."""

    def __init__(self, home: str, backend: str) -> None:
        if backend != "test":
            raise CliError(f"the lab pocketd supports --keyring-backend test only, not {backend!r}")
        self.dir = Path(home).expanduser() / "keyring-test"

    def _record(self, name: str) -> dict[str, Any] | None:
        path = self.dir / f"{name}.info"
        if "/" in name or not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"{name}.info: {exc}") from None
        return record if isinstance(record, dict) else None

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name[:-5] for p in self.dir.glob("*.info"))

    def key(self, name: str) -> dict[str, Any]:
        record = self._record(name)
        if record is None:
            raise CliError(f"{name}.info: key not found")
        return record

    def key_by_address(self, address: str) -> dict[str, Any]:
        _, payload = bech32_decode(address)
        path = self.dir / f"{payload.hex()}.address"
        try:
            name = path.read_text(encoding="utf-8").strip()
        except OSError:
            name = ""
        record = self._record(name) if name else None
        if record is None or record.get("address") != address:
            raise CliError(f"key with address {address} not found: key not found")
        return record

    def lookup(self, name_or_address: str) -> dict[str, Any]:
        """By name, else by address (cosmos-sdk ``GetFromFields`` / ``keys show``)."""
        record = self._record(name_or_address)
        if record is not None:
            return record
        try:
            bech32_decode(name_or_address)
        except ValueError as exc:
            raise CliError(f"{name_or_address} is not a valid name or address: {exc}") from None
        return self.key_by_address(name_or_address)

    def create(self, name: str) -> tuple[dict[str, Any], int]:
        """A new key stored as ``name`` (an existing one is replaced); (record, private key)."""
        private = secrets.randbelow(_N - 1) + 1
        pub = public_key(private)
        address = address_of(pub)
        record = {
            "name": name, "type": "local", "address": address,
            "pubkey": {"@type": PUBKEY_TYPE, "key": base64.b64encode(pub).decode()},
            "privkey": {"@type": PRIVKEY_TYPE,
                        "key": base64.b64encode(private.to_bytes(32, "big")).decode()},
        }
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(self.dir / f"{name}.info", json.dumps(record).encode())
        _write_private(self.dir / f"{bech32_decode(address)[1].hex()}.address", name.encode())
        return record, private

    def delete(self, name: str) -> None:
        record = self.key(name)
        for path in (self.dir / f"{name}.info",
                     self.dir / f"{bech32_decode(record['address'])[1].hex()}.address"):
            path.unlink(missing_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path``, 0600 from its creation, replaced atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def key_output(record: dict[str, Any]) -> dict[str, str]:
    """cosmos-sdk ``KeyOutput`` (client/keys/types.go): public fields only."""
    pub = {"@type": record["pubkey"]["@type"], "key": record["pubkey"]["key"]}
    return {"name": record["name"], "type": record.get("type", "local"), "address": record["address"],
            "pubkey": json.dumps(pub, separators=(",", ":"))}


def _yaml_records(records: list[dict[str, str]]) -> str:
    """The text output of ``keys show``/``keys list`` (cosmos-sdk prints KeyOutput as YAML)."""
    lines = []
    for rec in records:
        lines += [f"- address: {rec['address']}", f"  name: {rec['name']}",
                  f"  pubkey: '{rec['pubkey']}'", f"  type: {rec['type']}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- YAML


def _load_yaml(text: str) -> Any:
    """PyYAML's ``safe_load`` when installed, else :func:`_mini_yaml` (block style only)."""
    try:
        import yaml
    except ImportError:
        return _mini_yaml(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(" ".join(str(exc).split())) from None


def _mini_scalar(text: str) -> Any:
    text = text.strip()
    if not text or text in ("~", "null"):
        return None
    if text[0] in "\"'":
        if len(text) < 2 or text[-1] != text[0]:
            raise ValueError(f"unterminated quoted scalar {text!r}")
        return json.loads(text) if text[0] == '"' else text[1:-1].replace("''", "'")
    if text in ("{}", "[]"):
        return {} if text == "{}" else []
    if text.startswith(("{", "[", "&", "*", "!", "|", ">")):
        raise ValueError(f"flow or special YAML {text[:20]!r} needs PyYAML")
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _strip_comment(line: str) -> str:
    quote_char = None
    for i, c in enumerate(line):
        if quote_char:
            if c == quote_char:
                quote_char = None
        elif c in "\"'":
            quote_char = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _mini_yaml(text: str) -> Any:
    """Block mappings, block sequences and plain/quoted scalars: what stake configs use."""
    lines = [(len(raw) - len(raw.lstrip(" ")), raw.strip())
             for raw in (_strip_comment(r) for r in text.splitlines()) if raw.strip()]
    lines = [ln for ln in lines if ln[1] not in ("---", "...")]
    if not lines:
        return None
    pos = 0

    def block(indent: int) -> Any:
        nonlocal pos
        if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
            items: list[Any] = []
            while pos < len(lines) and lines[pos][0] == indent and (
                    lines[pos][1].startswith("- ") or lines[pos][1] == "-"):
                rest = lines[pos][1][1:].strip()
                if not rest:
                    pos += 1
                    items.append(block(lines[pos][0]) if pos < len(lines) and lines[pos][0] > indent else None)
                elif re.match(r"^[^\"'\s][^:]*:(\s|$)", rest):  # "- key: value" opens a mapping
                    lines[pos] = (indent + 2, rest)
                    items.append(block(indent + 2))
                else:
                    items.append(_mini_scalar(rest))
                    pos += 1
            return items
        mapping: dict[str, Any] = {}
        while pos < len(lines) and lines[pos][0] == indent:
            content = lines[pos][1]
            match = re.match(r"^(\"[^\"]*\"|'[^']*'|[^:]+?)\s*:(?:\s+(.*))?$", content)
            if not match or content.startswith("- "):
                raise ValueError(f"line {pos + 1}: cannot read {content[:40]!r}")
            key = str(_mini_scalar(match.group(1)))
            pos += 1
            if match.group(2) is not None and match.group(2).strip():
                mapping[key] = _mini_scalar(match.group(2))
            elif pos < len(lines) and (lines[pos][0] > indent or (
                    lines[pos][0] == indent and lines[pos][1].startswith("-"))):
                mapping[key] = block(lines[pos][0])
            else:
                mapping[key] = None
        return mapping

    result = block(lines[0][0])
    if pos != len(lines):
        raise ValueError(f"line {pos + 1}: unexpected indentation")
    return result


# --------------------------------------------------------------------------- stake config

_SERVICE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # x/shared/types/service.go
_MAX_SERVICE_ID = 42
_DEC_COIN = re.compile(r"^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)[ \t\n\r\v\f]*([a-zA-Z][a-zA-Z0-9/:._-]{2,127})$")
RPC_TYPES = ("UNKNOWN_RPC", "GRPC", "WEBSOCKET", "JSON_RPC", "REST", "COMET_BFT")
_VALID_RPC = ("GRPC", "WEBSOCKET", "JSON_RPC", "REST", "COMET_BFT")
_URL_SCHEMES = ("http", "https", "ws", "wss")  # x/shared/types/service.go validUrlSchemes


def _wrap(message: str, registered: str) -> str:
    """cosmossdk.io/errors ``Wrap``: ``message: registered description``."""
    return f"{message}: {registered}"


_E_UNMARSHAL = "config reader cannot unmarshal yaml content"
_E_SERVICE_ID = "invalid serviceId in supplier config"
_E_NO_ENDPOINTS = "no endpoints defined for serviceId in supplier config"
_E_ENDPOINT_CONFIG = "invalid endpoint config in supplier config"
_E_RPC_TYPE = "invalid rpc type in supplier config"
_E_URL = "invalid endpoint url in supplier config"
_E_EMPTY = "empty supplier config content"
_E_STAKE = "invalid stake amount in supplier config"
_E_OWNER = "invalid owner address in supplier config"
_E_OPERATOR = "invalid operator address in supplier config"
_E_REV_SHARE = "invalid revenue share configuration"
_E_SHARED_SERVICE_ID = "invalid service ID"
_E_SUPPLIER_STAKE = "invalid supplier stake"
_E_SUPPLIER_ADDRESS = "invalid address"
_E_SUPPLIER_SERVICE_CONFIG = "invalid service config"
_E_FLAG_USAGE = "invalid flag usage"
_E_UNAUTHORIZED = "unauthorized supplier update"


def _go_string(value: Any, where: str) -> str:
    """yaml.v2 into a Go ``string``: any scalar's text; a mapping or list does not fit."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        kind = "!!map" if isinstance(value, dict) else "!!seq"
        raise ConfigError(_wrap(f"yaml: unmarshal errors:\n  {where}: cannot unmarshal {kind} into string",
                                _E_UNMARSHAL))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _go_uint_map(value: Any, where: str) -> dict[str, int]:
    """yaml.v2 into ``map[string]uint64``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(_wrap(f"yaml: unmarshal errors:\n  {where}: cannot unmarshal into map[string]uint64",
                                _E_UNMARSHAL))
    out: dict[str, int] = {}
    for key, share in value.items():
        if isinstance(share, bool) or not isinstance(share, int) or not 0 <= share < 2**64:
            raise ConfigError(_wrap(f"yaml: unmarshal errors:\n  {where}: cannot unmarshal "
                                    f"`{share}` into uint64", _E_UNMARSHAL))
        out[str(key)] = share
    return out


def _service_id_error(service_id: str) -> str | None:
    if not service_id:
        return _wrap("empty service ID", _E_SHARED_SERVICE_ID)
    if len(service_id) > _MAX_SERVICE_ID:
        return _wrap(f"service ID '{service_id}' exceeds maximum length: {_MAX_SERVICE_ID}", _E_SHARED_SERVICE_ID)
    if not _SERVICE_ID.match(service_id):
        return _wrap(f"service ID '{service_id}' contains invalid characters", _E_SHARED_SERVICE_ID)
    return None


def _rev_share_error(shares: list[tuple[str, int]]) -> str | None:
    """``ValidateServiceRevShare`` (x/shared/types/service_configs.go)."""
    if not shares:
        return _wrap("no rev share configurations", _E_REV_SHARE)
    seen: set[str] = set()
    total = 0
    for address, percent in shares:
        if not address:
            return _wrap(f"rev share address cannot be empty: address:\"\" rev_share_percentage:{percent} ",
                         _E_REV_SHARE)
        if problem := _acc_address_error(address):
            return _wrap(f"invalid rev share address {address}; ({problem})", _E_REV_SHARE)
        if address in seen:
            return _wrap(f"duplicate rev share address: {address}", _E_REV_SHARE)
        seen.add(address)
        if percent <= 0 or percent > 100:
            return _wrap(f"invalid rev share value {percent}; must be between 0 and 100", _E_REV_SHARE)
        total += percent
    if total != 100:
        return _wrap(f"invalid rev share percentage sum {total}; must be equal to 100", _E_REV_SHARE)
    return None


def _go_url(raw: str) -> tuple[str, str]:
    """(scheme, host) as Go's ``url.Parse`` reads them (lower-cased scheme, ``//host`` part)."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$", raw)
    if not match:
        return "", (urlsplit(raw).netloc if raw.startswith("//") else "")
    rest = match.group(2)
    host = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0] if rest.startswith("//") else ""
    return match.group(1).lower(), host.rsplit("@", 1)[-1]


def parse_supplier_config(content: bytes | str) -> dict[str, Any]:
    """A stake config checked as poktroll's ``ParseSupplierConfigs``; :class:`ConfigError` with
    its message otherwise. Returns ``{"owner_address", "operator_address", "stake_upokt" (None
    when absent), "services": [{"service_id", "endpoints": [{"url", "rpc_type", "configs"}],
    "rev_share": [{"address", "rev_share_percentage"}]}]}``."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if not content:
        raise ConfigError(_E_EMPTY)
    try:
        raw = _load_yaml(content)
    except ValueError as exc:
        raise ConfigError(_wrap(f"yaml: {exc}", _E_UNMARSHAL)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(_wrap(f"yaml: unmarshal errors:\n  line 1: cannot unmarshal "
                                f"{'!!seq' if isinstance(raw, list) else '!!str'} into config.YAMLStakeConfig",
                                _E_UNMARSHAL))
    owner = _go_string(raw.get("owner_address"), "owner_address")
    operator = _go_string(raw.get("operator_address"), "operator_address")
    stake_text = _go_string(raw.get("stake_amount"), "stake_amount")
    default_share = _go_uint_map(raw.get("default_rev_share_percent"), "default_rev_share_percent")
    services_raw = raw.get("services")
    if services_raw is not None and not isinstance(services_raw, list):
        raise ConfigError(_wrap("yaml: unmarshal errors:\n  services: cannot unmarshal into "
                                "[]*config.YAMLStakeService", _E_UNMARSHAL))

    # ValidateAndNormalizeAddresses
    if _acc_address_error(owner):
        raise ConfigError(_wrap("invalid owner address", _E_OWNER))
    if not operator:
        operator = owner
    if _acc_address_error(operator):
        raise ConfigError(_wrap("invalid operator address", _E_OPERATOR))

    # ParseAndValidateStakeAmount
    stake: int | None = None
    if stake_text:
        match = _DEC_COIN.match(stake_text.strip())
        if not match:
            raise ConfigError(_wrap(f"invalid decimal coin expression: {stake_text}", _E_STAKE))
        amount, denom = match.group(1), match.group(2)
        stake = int(amount.split(".", 1)[0] or "0")
        if stake == 0:
            raise ConfigError(_wrap("stake amount cannot be zero", _E_STAKE))
        if denom != DENOM:
            raise ConfigError(_wrap(f"invalid stake denom, expecting: {DENOM}, got: {denom}", _E_STAKE))

    # ValidateAndNormalizeDefaultRevShare
    if not default_share:
        default_share = {owner: 100}

    # ValidateAndParseServiceConfigs
    services = []
    for i, svc in enumerate(services_raw or []):
        if not isinstance(svc, dict):
            raise ConfigError(_wrap(f"yaml: unmarshal errors:\n  services[{i}]: cannot unmarshal into "
                                    "config.YAMLStakeService", _E_UNMARSHAL))
        service_id = _go_string(svc.get("service_id"), f"services[{i}].service_id")
        share = _go_uint_map(svc.get("rev_share_percent"), f"services[{i}].rev_share_percent")
        endpoints_raw = svc.get("endpoints") or []
        if not isinstance(endpoints_raw, list):
            raise ConfigError(_wrap(f"yaml: unmarshal errors:\n  services[{i}].endpoints: cannot unmarshal "
                                    "into []config.YAMLServiceEndpoint", _E_UNMARSHAL))
        if problem := _service_id_error(service_id):
            raise ConfigError(_wrap(problem, _E_SERVICE_ID))
        if not endpoints_raw:
            raise ConfigError(_wrap(service_id, _E_NO_ENDPOINTS))
        endpoints = []
        for j, ep in enumerate(endpoints_raw):
            if not isinstance(ep, dict):
                raise ConfigError(_wrap(f"yaml: unmarshal errors:\n  services[{i}].endpoints[{j}]: cannot "
                                        "unmarshal into config.YAMLServiceEndpoint", _E_UNMARSHAL))
            url = _go_string(ep.get("publicly_exposed_url"), "publicly_exposed_url")
            if not url:
                raise ConfigError(_wrap("endpoint URL cannot be empty", _E_URL))
            scheme, host = _go_url(url)
            if not scheme:
                raise ConfigError(_wrap(f"missing scheme in URL {json.dumps(url)} (expected http, https, or grpc)",
                                        _E_URL))
            if not host:
                raise ConfigError(_wrap(f"missing host in URL {json.dumps(url)}", _E_URL))
            configs = []
            config_raw = ep.get("config")
            if config_raw is not None:
                if not isinstance(config_raw, dict):
                    raise ConfigError(_wrap("yaml: unmarshal errors:\n  config: cannot unmarshal into "
                                            "map[string]string", _E_UNMARSHAL))
                for key, value in config_raw.items():
                    if key != "timeout":
                        raise ConfigError(_wrap(str(key), _E_ENDPOINT_CONFIG))
                    configs.append({"key": "TIMEOUT", "value": _go_string(value, "config.timeout")})
            rpc_text = _go_string(ep.get("rpc_type"), "rpc_type")
            if rpc_text.upper() not in _VALID_RPC:
                raise ConfigError(_wrap(rpc_text, _E_RPC_TYPE))
            endpoints.append({"url": url, "rpc_type": rpc_text.upper(), "configs": configs})
        shares = list((share or default_share).items())
        if problem := _rev_share_error(shares):
            raise ConfigError(problem)
        services.append({"service_id": service_id, "endpoints": endpoints,
                         "rev_share": [{"address": a, "rev_share_percentage": p} for a, p in shares]})
    return {"owner_address": owner, "operator_address": operator, "stake_upokt": stake,
            "services": services}


def _proto_text(service: dict[str, Any]) -> str:
    """Roughly gogoproto's ``%v`` of a ``SupplierServiceConfig`` (for ValidateBasic's errors)."""
    eps = " ".join(f"endpoints:<url:{json.dumps(e['url'])} rpc_type:{e['rpc_type']} > "
                   for e in service["endpoints"])
    shares = " ".join(f"rev_share:<address:{json.dumps(r['address'])} "
                      f"rev_share_percentage:{r['rev_share_percentage']} > " for r in service["rev_share"])
    return f"service_id:{json.dumps(service['service_id'])} {eps}{shares}"


def validate_basic(signer: str, config: dict[str, Any]) -> None:
    """``MsgStakeSupplier.ValidateBasic`` (x/supplier/types/message_stake_supplier.go)."""
    for who, address in (("owner", config["owner_address"]), ("operator", config["operator_address"]),
                         ("signer", signer)):
        if problem := _acc_address_error(address):
            raise CliError(_wrap(f"invalid {who} address {address}; ({problem})", _E_SUPPLIER_ADDRESS))
    if config["stake_upokt"] is not None and config["stake_upokt"] <= 0:
        raise CliError(_wrap(f"invalid stake amount {config['stake_upokt']}{DENOM}", _E_SUPPLIER_STAKE))
    services = config["services"]
    if services and signer != config["operator_address"]:
        raise CliError(_wrap("only the operator account is authorized to update the service configurations",
                             _E_SUPPLIER_SERVICE_CONFIG))
    seen: set[str] = set()
    for service in services:
        if service["service_id"] in seen:
            raise CliError(_wrap(f"duplicate service ID: {service['service_id']}", _E_SUPPLIER_SERVICE_CONFIG))
        seen.add(service["service_id"])
        for endpoint in service["endpoints"]:
            scheme, host = _go_url(endpoint["url"])
            if scheme not in _URL_SCHEMES or not host:
                raise CliError(_wrap(f"invalid endpoint.Url: {_proto_text(service)}", _E_SUPPLIER_SERVICE_CONFIG))


# --------------------------------------------------------------------------- command line


_BOOL_FLAGS = {"--yes", "-y", "--no-backup", "-a", "--address", "--stake-only", "--services-only",
               "--dry-run", "--recover", "--offline", "--generate-only", "-h", "--help", "--list-names", "-n"}
_VALUE_FLAGS = {"--home", "--keyring-backend", "--output", "-o", "--chain-id", "--node", "--from",
                "--config", "--fees", "--gas", "--gas-prices", "--gas-adjustment", "--note",
                "--broadcast-mode", "-b", "--key-type", "--algo", "--log_level", "--log_format",
                "--keyring-dir", "--network", "--grpc-addr", "--sign-mode", "--timeout-height",
                "--account", "--index", "--hd-path", "--coin-type"}


def _parse(argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Positional arguments and flags (``--flag value``, ``--flag=value``), cobra-style errors."""
    args: list[str] = []
    flags: dict[str, Any] = {}
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            args += rest
            break
        if not arg.startswith("-") or arg == "-":
            args.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in _BOOL_FLAGS:
            flags[name] = (value.lower() in ("1", "t", "true")) if eq else True
        elif name in _VALUE_FLAGS:
            if not eq:
                if not rest:
                    raise CliError(f"flag needs an argument: {name}")
                value = rest.pop(0)
            flags[name] = value
        else:
            shown = name if name.startswith("--") else f"shorthand flag: {name[1:]!r} in {arg}"
            raise CliError(f"unknown flag: {shown}" if name.startswith("--") else f"unknown {shown}")
    return args, flags


def _flag(flags: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in flags:
            return flags[name]
    return default


def _home(flags: dict[str, Any]) -> str:
    return str(_flag(flags, "--home", default=str(Path.home() / ".pocket")))


def _output(flags: dict[str, Any]) -> str:
    fmt = str(_flag(flags, "--output", "-o", default="text"))
    if fmt not in ("text", "json"):
        raise CliError(f"invalid output format {fmt}")
    return fmt


def _exact_args(args: list[str], n: int) -> None:
    if len(args) != n:
        raise CliError(f"accepts {n} arg(s), received {len(args)}")


def cmd_keys(args: list[str], flags: dict[str, Any]) -> int:
    if not args:
        raise CliError('unknown command "" for "pocketd keys"')
    sub, args = args[0], args[1:]
    keyring = Keyring(_home(flags), str(_flag(flags, "--keyring-backend", default="test")))
    fmt = _output(flags)
    if sub == "add":
        _exact_args(args, 1)
        name = args[0]
        algo = str(_flag(flags, "--key-type", "--algo", default="secp256k1"))
        if algo != "secp256k1":
            raise CliError(f'provided algorithm "{algo}" is not supported')
        if _flag(flags, "--recover"):
            raise CliError("the lab pocketd cannot recover keys from a mnemonic")
        if name in keyring.names():
            if sys.stdin.isatty():
                sys.stderr.write(f"override the existing name {name} [y/N]: ")
                sys.stderr.flush()
            line = sys.stdin.readline() if sys.stdin is not None else ""
            if not line:
                raise CliError("EOF")
            if not line.strip().lower().startswith("y"):
                raise CliError("aborted")
            keyring.delete(name)
        record, private = keyring.create(name)
        out = key_output(record)
        show_backup = not _flag(flags, "--no-backup")
        backup = f"fleetlab-secp256k1:{private:064x}" if show_backup else ""
        del private
        if fmt == "json":
            if show_backup:
                out["mnemonic"] = backup
            print(json.dumps(out, separators=(",", ":")))
        else:
            print(file=sys.stderr)
            print(_yaml_records([out]))
            if show_backup:
                sys.stderr.write("\n**Important** write this mnemonic phrase in a safe place.\n"
                                 "It is the only way to recover your account if you ever forget your "
                                 f"password.\n\n{backup}\n")
        return 0
    if sub == "show":
        if not args:
            raise CliError("requires at least 1 arg(s), only received 0")
        record = keyring.lookup(args[0])
        if _flag(flags, "-a", "--address"):
            print(record["address"])
        elif fmt == "json":
            print(json.dumps(key_output(record), separators=(",", ":")))
        else:
            print(_yaml_records([key_output(record)]))
        return 0
    if sub == "list":
        _exact_args(args, 0)
        records = [key_output(keyring.key(n)) for n in keyring.names()]
        if _flag(flags, "--list-names", "-n"):
            for r in records:
                print(r["name"])
        elif fmt == "json":
            print(json.dumps(records, separators=(",", ":")))
        elif not records:
            print("No records were found in keyring")
        else:
            print(_yaml_records(records))
        return 0
    if sub == "delete":
        _exact_args(args, 1)
        if not _flag(flags, "--yes", "-y"):
            raise CliError("EOF")
        keyring.delete(args[0])
        print("Key deleted forever (uh oh!)", file=sys.stderr)
        return 0
    raise CliError(f'unknown command "{sub}" for "pocketd keys"')


# --------------------------------------------------------------------------- the chain (lab)


def _control_url(node: str) -> str:
    """``$POCKETD_LAB_CONTROL``, else ``http://<host of --node>:1317`` (the stand-in's REST)."""
    explicit = os.environ.get("POCKETD_LAB_CONTROL")
    if explicit:
        return explicit.rstrip("/")
    host = urlsplit(node if "://" in node else f"tcp://{node}").hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{LAB_REST_PORT}"


def _node_error(node: str, exc: BaseException) -> CliError:
    """What pocketd prints when it cannot reach ``--node`` (CometBFT's HTTP client)."""
    parts = urlsplit(node if "://" in node else f"tcp://{node}")
    http_url = f"http://{parts.hostname}:{parts.port or 26657}"
    reason = getattr(exc, "reason", exc)
    detail = "connect: connection refused" if isinstance(reason, ConnectionRefusedError) else str(reason)
    return CliError(f'post failed: Post "{http_url}": dial tcp {parts.hostname}:{parts.port or 26657}: {detail}')


def _http(method: str, url: str, payload: Any = None, timeout: float = 15.0) -> tuple[int, Any]:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, {"message": body.decode(errors="replace")}


def _tx_response(height: int, txhash: str, code: int = 0, codespace: str = "", raw_log: str = "") -> dict[str, Any]:
    """cosmos-sdk ``TxResponse`` as ``--output json`` prints it (int64 as strings)."""
    return {"height": str(height), "txhash": txhash, "codespace": codespace, "code": code, "data": "",
            "raw_log": raw_log, "logs": [], "info": "", "gas_wanted": "200000" if code == 0 else "0",
            "gas_used": "0", "tx": None, "timestamp": "", "events": []}


def _print_tx(result: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(result, separators=(",", ":")))
        return
    for key, value in result.items():
        shown = "null" if value is None else "[]" if value == [] else (
            f'"{value}"' if isinstance(value, str) and (value == "" or value.isdigit()) else value)
        print(f"{key}: {shown}")


def cmd_stake_supplier(flags: dict[str, Any]) -> int:
    path = _flag(flags, "--config")
    if not path:
        raise CliError('required flag(s) "config" not set')
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    config = parse_supplier_config(content)
    from_key = _flag(flags, "--from")
    if not from_key:
        from_key = config["owner_address"] or config["operator_address"]
    keyring = Keyring(_home(flags), str(_flag(flags, "--keyring-backend", default="test")))
    signer = keyring.lookup(str(from_key))["address"]
    validate_basic(signer, config)
    stake_only, services_only = bool(_flag(flags, "--stake-only")), bool(_flag(flags, "--services-only"))
    if stake_only and services_only:
        raise CliError(_wrap("--stake-only and --services-only flags are mutually exclusive",
                             _E_SUPPLIER_SERVICE_CONFIG))
    if stake_only:
        if config["services"]:
            raise CliError(_wrap("--stake-only flag specified but config contains service configurations; "
                                 "remove services section from config", _E_FLAG_USAGE))
        if config["stake_upokt"] is None:
            raise CliError(_wrap("--stake-only flag requires stake_amount in config file", _E_FLAG_USAGE))
    elif services_only:
        if config["stake_upokt"] is not None:
            raise CliError(_wrap("--services-only flag specified but config contains stake_amount; "
                                 "remove stake_amount from config", _E_FLAG_USAGE))
        if not config["services"]:
            raise CliError(_wrap("--services-only flag requires services section in config file", _E_FLAG_USAGE))
        if signer != config["operator_address"]:
            raise CliError(_wrap("--services-only flag requires operator to be the transaction signer",
                                 _E_FLAG_USAGE))
    else:
        if not config["services"]:
            raise CliError(_wrap("no service configurations provided in config file; either provide services "
                                 "or use --stake-only flag", _E_SUPPLIER_SERVICE_CONFIG))
        if config["stake_upokt"] is None:
            raise CliError(_wrap("stake amount is required; either provide stake_amount in config or use "
                                 "--services-only flag", _E_SUPPLIER_STAKE))
    if not _flag(flags, "--yes", "-y"):
        if sys.stdin.isatty():
            sys.stderr.write("confirm transaction before signing and broadcasting [y/N]: ")
            sys.stderr.flush()
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line.strip().lower().startswith("y"):
            print("canceled transaction", file=sys.stderr)
            return 0
    node = str(_flag(flags, "--node", default=DEFAULT_NODE))
    chain_id = str(_flag(flags, "--chain-id", default=DEFAULT_CHAIN_ID))
    result = _broadcast(_control_url(node), node, chain_id, signer, config, content)
    _print_tx(result, _output(flags))
    return 0


def _broadcast(base: str, node: str, chain_id: str, signer: str, config: dict[str, Any],
               content: bytes) -> dict[str, Any]:
    """The keeper's checks on the stand-in's state, then the upsert; a ``TxResponse``."""
    txhash = hashlib.sha256(content + signer.encode() + str(time.time_ns()).encode()).hexdigest().upper()
    try:
        _, latest = _http("GET", f"{base}/cosmos/base/tendermint/v1beta1/blocks/latest")
        header = latest["block"]["header"]
        height, network = int(header["height"]), str(header["chain_id"])
        if network != chain_id:
            return _tx_response(0, txhash, 4, "sdk", "signature verification failed; please verify account "
                                f"number (0), sequence (0) and chain-id ({chain_id}): unauthorized")
        operator, owner = config["operator_address"], config["owner_address"]
        status, found = _http("GET", f"{base}/pokt-network/poktroll/supplier/supplier/{quote(operator)}")
        stored = found.get("supplier") if status == 200 and isinstance(found, dict) else None
        _, params = _http("GET", f"{base}/pokt-network/poktroll/supplier/params")
        min_stake = int(params["params"]["min_stake"]["amount"])
        _, shared = _http("GET", f"{base}/pokt-network/poktroll/shared/params")
        blocks = max(1, int(shared["params"].get("num_blocks_per_session") or 10))
    except (OSError, urllib.error.URLError) as exc:
        raise _node_error(node, exc) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(f"the lab chain answered unexpectedly: {exc}") from None

    def rejected(message: str, code: int, codespace: str = "supplier") -> dict[str, Any]:
        return _tx_response(height, txhash, code, codespace,
                            f"failed to execute message; message index: 0: rpc error: code = InvalidArgument "
                            f"desc = {message}")

    stake = config["stake_upokt"]
    if stored is None:
        if stake is None:
            return rejected(_wrap("when staking a new supplier, the stake amount MUST be non-nil",
                                  _E_SUPPLIER_STAKE), 1101)
    else:
        if signer not in (stored["owner_address"], stored["operator_address"]):
            return rejected(_wrap(f"signer address {signer} does not match owner address {owner} or supplier "
                                  f"operator address {operator}", _E_UNAUTHORIZED), 1105, "shared")
        if stored["owner_address"] != owner and signer != stored["owner_address"]:
            return rejected(_wrap(f"signer {json.dumps(signer)} is not allowed to update the owner address "
                                  f"{json.dumps(stored['owner_address'])}", _E_UNAUTHORIZED), 1105, "shared")
        if config["services"] and signer != stored["operator_address"]:
            return rejected(_wrap("only the operator account is authorized to update the service "
                                  "configurations", _E_UNAUTHORIZED), 1105, "shared")
        if stake is None:
            stake = int(stored["stake"]["amount"])
    if stake < min_stake:
        return rejected(_wrap(f"supplier with owner {json.dumps(owner)} must stake at least {min_stake}{DENOM}",
                              _E_SUPPLIER_STAKE), 1101)
    next_session = 1 + ((height - 1) // blocks + 1) * blocks  # GetNextSessionStartHeight, anchor at 1
    payload: dict[str, Any] = {"operator_address": operator, "owner_address": owner, "stake_upokt": stake}
    if config["services"]:
        payload["services"] = [{"service_id": s["service_id"], "endpoints": s["endpoints"],
                                "rev_share": s["rev_share"]} for s in config["services"]]
        payload["activation_height"] = next_session
    elif stored is not None:  # a stake-only update keeps the service configs
        payload["service_config_history"] = stored.get("service_config_history") or []
    try:
        status, answer = _http("POST", f"{base}/__lab/shannon/supplier", payload)
    except (OSError, urllib.error.URLError) as exc:
        raise _node_error(node, exc) from None
    if status != 200:
        message = answer.get("error") if isinstance(answer, dict) else answer
        return _tx_response(height, txhash, 1104, "supplier", f"failed to execute message; message index: 0: "
                            f"{message}: {_E_SUPPLIER_SERVICE_CONFIG}")
    return _tx_response(height, txhash)


def _relayminer(argv: list[str]) -> int:
    """relayminer.py beside this file, run as it runs alone."""
    path = Path(__file__).resolve().with_name("relayminer.py")
    spec = importlib.util.spec_from_file_location("fleetlab_relayminer", path)
    if spec is None or spec.loader is None:
        raise CliError(f"{path}: the lab RelayMiner is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return int(module.main(argv))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["relayminer"]:
            return _relayminer(argv)
        args, flags = _parse(argv)
        if not args or _flag(flags, "-h", "--help"):
            print("pocketd (fleetctl lab stand-in): keys add|show|list|delete, tx supplier stake-supplier, "
                  "relayminer start, version")
            return 0
        if args[0] == "version":
            print(VERSION)
            return 0
        if args[0] == "keys":
            return cmd_keys(args[1:], flags)
        if args[:3] == ["tx", "supplier", "stake-supplier"]:
            _exact_args(args[3:], 0)
            return cmd_stake_supplier(flags)
        raise CliError(f'unknown command "{" ".join(args[:3])}" for "pocketd"')
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
