"""Shared pieces of the stand-in: constants, seed errors, JSON and Go encodings, time
formatting, the typed seed readers, replies and the address guard.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

UPOKT = "upokt"


DEFAULT_CHAIN_ID = "pocket-lab"


MORSE_VERSION = "RC-0.12.0"  # pocket-core app/app.go AppVersion at staging 29f421ca


HANG_SECONDS = 30.0


IDLE_TIMEOUT_SECONDS = 75.0


FAULT_MODES = ("none", "http500", "http503", "garbage", "truncated", "empty", "hang")


#: CometBFT of the Pocket full node: poktroll runs the pokt-network/cometbft fork of v0.38
#: (v0.38.19 pseudo-versions at the time of writing; the exact patch level is UNCONFIRMED).
COMET_VERSION = "0.38.19"


COMET_P2P_PROTOCOL, COMET_BLOCK_PROTOCOL = 8, 11  # version/version.go of v0.38


#: Channels a v0.38 full node announces (p2p reactors' channel ids, hex).
COMET_CHANNELS = "40202122233038606100"


#: BaseApp name (poktroll app/app.go ``Name``) and the lab's application version string.
POCKET_APP_NAME = "pocket"


POCKET_APP_VERSION = "fleetlab"


def _coin(amount: int) -> dict[str, str]:
    return {"denom": UPOKT, "amount": str(amount)}


class SeedError(ValueError):
    """A seed or control payload that does not describe a valid lab state."""


def _clone(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists and scalars), faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _go_quote(text: str) -> str:
    """Go's ``%q`` for the printable strings the chain formats into its error messages."""
    return json.dumps(text, ensure_ascii=False)


_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def _parse_rfc3339(text: str, where: str) -> int | None:
    """Nanoseconds since the Unix epoch of an RFC 3339 time; None for Go's zero time."""
    match = _RFC3339_RE.match(text)
    if not match:
        raise SeedError(f"{where}: expected an RFC 3339 time, got {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if int(year) <= 1:
        return None
    tz: tzinfo = UTC
    if offset not in ("Z", "z"):
        tz = datetime.strptime(offset.replace(":", ""), "%z").tzinfo or UTC
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          tzinfo=tz)
    except ValueError as exc:
        raise SeedError(f"{where}: {exc}") from None
    nanos = int((fraction or "0").ljust(9, "0"))
    seconds = int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    return seconds * 1_000_000_000 + nanos


def _utc_parts(nanos: int) -> tuple[str, int]:
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"), fraction


def _go_time(nanos: int | None) -> str:
    """Go ``time.Time`` JSON (RFC 3339 with trailing zeros of the fraction trimmed)."""
    if nanos is None:
        return "0001-01-01T00:00:00Z"
    base, fraction = _utc_parts(nanos)
    return f"{base}.{fraction:09d}".rstrip("0").rstrip(".") + "Z"


def _proto_timestamp(nanos: int) -> str:
    """``google.protobuf.Timestamp`` JSON (0, 3, 6 or 9 fractional digits)."""
    base, fraction = _utc_parts(nanos)
    text = f"{base}.{fraction:09d}"
    for _ in range(2):
        if text.endswith("000"):
            text = text[:-3]
    return text.removesuffix(".000") + "Z"


def _get(obj: Mapping[str, Any], key: str, default: Any) -> Any:
    value = obj.get(key, default)
    return default if value is None else value


def _as_int(value: Any, where: str, *, minimum: int = 0) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SeedError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise SeedError(f"{where}: must be >= {minimum}, got {value}")
    return value


def _as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SeedError(f"{where}: expected a string, got {value!r}")
    return value


def _as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SeedError(f"{where}: expected true or false, got {value!r}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SeedError(f"{where}: expected a list, got {value!r}")
    return value


def _as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected an object, got {value!r}")
    return value


def _check_keys(obj: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Reject fields a seed or payload object does not define (typos would be silent)."""
    if unknown := sorted(set(obj) - set(allowed)):
        raise SeedError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _enum_name(value: Any, names: tuple[str, ...], where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value in names:
        return value
    raise SeedError(f"{where}: expected one of {', '.join(names)}, got {value!r}")


@dataclass(frozen=True)
class Reply:
    """One HTTP response, fully buffered."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _go_json_bytes(value: Any, *, sort_keys: bool, newline: bool) -> bytes:
    """Go ``encoding/json`` output: compact, HTML-safe escapes, optional sorted keys and newline."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return (text + ("\n" if newline else "")).encode("utf-8")


def _go_char(char: str) -> str:
    return {"'": r"'\''", '"': "'\"'"}.get(char, f"'{char}'")


#: The local lab's address range (fleetlab.manager.LAB_RANGE, blackholed in the root namespace).
LAB_RANGE = ipaddress.ip_network("10.213.0.0/16")


def _require_loopback(host: str) -> None:
    """The stand-in binds and is reached only on loopback or inside the lab's own range."""
    try:
        addr = ipaddress.ip_address(host)
        allowed = addr.is_loopback or addr in LAB_RANGE
    except ValueError:
        allowed = False
    if not allowed:
        raise ValueError(f"the stand-in only uses loopback or lab ({LAB_RANGE}) IP addresses, not {host!r}")
