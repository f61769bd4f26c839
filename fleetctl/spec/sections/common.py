"""What every section of an inventory is checked with: the error collector (:class:`Ctx`), the
typed readers (string, integer, number, list, URL, duration, percentage, capacity, amount) and the
helpers that word an error line (a node's kind, a field path, a close match, a short listing)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Set as AbstractSet
from urllib.parse import urlsplit

from fleetctl.core.units import parse_duration
from fleetctl.spec import yamlsafe
from fleetctl.spec.errors import SpecError, quote
from fleetctl.spec.model import Capacity
from fleetctl.spec.yamlsafe import Y

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
MAX_CAPACITY = {"cpus": 4096.0, "memory_gb": 65536.0, "disk_gb": 10_000_000.0}  # one host (10 PB of disk)


class Ctx:
    """Collects errors for one file."""

    def __init__(self, display: str, errors: list[SpecError], hosts_usable: bool = True):
        self.file = display
        self.errors = errors
        self.hosts_usable = hosts_usable
        #: references to hosts.yml not checked because hosts.yml itself is unusable
        self.folded = 0

    def missing_ref(self, pos: Y | None, fld: str, message: str) -> None:
        """A name fleet.yml takes from hosts.yml is not there: an error, unless hosts.yml could
        not be read at all; then it only follows from that one, and is counted, not listed."""
        if self.hosts_usable:
            self.err(pos, fld, message)
        else:
            self.folded += 1

    def err(self, pos: Y | tuple[int, int] | None, fld: str, message: str) -> None:
        if isinstance(pos, Y):
            line, col = pos.line, pos.col
        elif pos is None:
            line, col = 1, 1
        else:
            line, col = pos
        self.errors.append(SpecError(self.file, line, col, fld, message))

    def mapping(self, node: Y | None, fld: str, allowed: AbstractSet[str], required: AbstractSet[str] = frozenset()) -> dict[str, Y] | None:
        """A mapping with only ``allowed`` keys and all ``required`` ones, or None (error logged)."""
        if node is None or node.kind != "map":
            self.err(node, fld, f"expected a mapping, got {kind_of(node)}")
            return None
        for key, pos in node.keys.items():
            if key not in allowed:
                hint = closest(key, allowed)
                self.err(pos, join(fld, key), "unknown key" + (f" (did you mean {quote(hint)}?)" if hint else f"; allowed: {listing(allowed)}"))
        for key in sorted(required - node.value.keys()):
            self.err(node, join(fld, key), "required")
        return node.value

    def string(self, node: Y, fld: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        if node.kind != "scalar" or not isinstance(node.value, str) or isinstance(node.value, bool):
            hint = " (quote it)" if node.kind == "scalar" and node.value is not None else ""
            self.err(node, fld, f"expected a string, got {kind_of(node)}{hint}")
            return None
        if pattern is not None and not pattern.match(node.value):
            self.err(node, fld, f"{quote(node.value)} is not {what or 'valid'}")
            return None
        return node.value

    def integer(self, node: Y, fld: str, lo: int | None = None, hi: int | None = None) -> int | None:
        if isinstance(node.value, yamlsafe.HugeNumber):
            rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            self.err(node, fld, f"{node.value} is out of range (must be {rng})")
            return None
        if node.kind != "scalar" or not isinstance(node.value, int) or isinstance(node.value, bool):
            self.err(node, fld, f"expected an integer, got {kind_of(node)}")
            return None
        if (lo is not None and node.value < lo) or (hi is not None and node.value > hi):
            rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            self.err(node, fld, f"{quote(node.value)} is out of range (must be {rng})")
            return None
        return node.value

    def number(self, node: Y, fld: str, lo_exclusive: float | None = None, hi: float | None = None, lo: float | None = None) -> float | None:
        v = node.value
        if node.kind != "scalar" or not isinstance(v, (int, float)) or isinstance(v, bool):
            self.err(node, fld, f"expected a number, got {kind_of(node)}")
            return None
        if not math.isfinite(v) or (lo_exclusive is not None and v <= lo_exclusive) or (lo is not None and v < lo) or (hi is not None and v > hi):
            low = f"> {lo_exclusive:g}" if lo_exclusive is not None else f">= {lo:g}" if lo is not None else ""
            high = f"<= {hi:g}" if hi is not None else "finite"
            self.err(node, fld, f"{quote(v)} is out of range (must be {' and '.join(x for x in (low, high) if x)})")
            return None
        return float(v)

    def seq(self, node: Y, fld: str, nonempty: bool = False) -> list[Y] | None:
        if node.kind != "seq":
            self.err(node, fld, f"expected a list, got {kind_of(node)}")
            return None
        if nonempty and not node.value:
            self.err(node, fld, "must not be empty")
            return None
        return node.value

    def url(self, node: Y, fld: str, schemes: tuple[str, ...] = ("http", "https"), secret: bool = False) -> str | None:
        """A URL of one of ``schemes``, with a host and no fragment (a query is kept: it is sent).

        An error never quotes a secret: with ``secret`` (a webhook URL holds a token) not the URL at
        all, otherwise its safe form (:func:`fleetctl.core.redact.safe_url`: no user:password, no query
        values, no key-like path segment)."""
        text = self.string(node, fld)
        if text is None:
            return None
        shown = "the URL" if secret else shown_url(text)
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            self.err(node, fld, f"{shown} is not a valid URL" + ("" if secret else f" ({quote(str(exc))})"))
            return None
        if parts.scheme not in schemes or not parts.hostname or parts.port == 0:
            self.err(node, fld, f"{shown} is not a valid URL (expected {'/'.join(schemes)}://HOST[:PORT])")
            return None
        if parts.fragment or "#" in text:
            self.err(node, fld, f"{shown}: a URL with a fragment ('#...') is refused (a fragment is never sent; remove it)")
            return None
        if any(ord(c) < 33 or ord(c) == 127 for c in text):
            self.err(node, fld, f"{shown}: a URL with spaces or control characters is refused")
            return None
        return text


def shown_url(text: str) -> str:
    """A URL as an error line may show it: its safe form, or "the URL" when it cannot be parsed."""
    from fleetctl.core.redact import safe_url

    safe = safe_url(text)
    if safe == "<invalid URL>" and "://" not in text:  # "host:port/path": hide the same parts
        safe = safe_url("x://" + text).removeprefix("x://")
    return "the URL" if safe == "<invalid URL>" else quote(safe)


def listing(names: Iterable[str], limit: int = 100) -> str:
    """``a, b, c`` sorted, cut at a name boundary with ``…`` (an error line stays short)."""
    out = ""
    for name in sorted(names):
        nxt = f"{out}, {name}" if out else name
        if len(nxt) > limit:
            return out + ", …"
        out = nxt
    return out


def kind_of(node: Y | None) -> str:
    if node is None:
        return "nothing"
    if node.kind != "scalar":
        return {"map": "a mapping", "seq": "a list"}[node.kind]
    v = node.value
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number"}.get(type(v), f"the string {quote(v)}" if isinstance(v, str) else type(v).__name__)


def join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def closest(word: str, options: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.7)
    return found[0] if found else None


def read_string_map(ctx: Ctx, node: Y, fld: str) -> dict[str, str] | None:
    body = ctx.mapping(node, fld, set(node.keys) if node.kind == "map" else set())
    if body is None:
        return None
    return {k: v for k, v in ((k, ctx.string(n, join(fld, k))) for k, n in body.items()) if v is not None}


def read_string_list(ctx: Ctx, node: Y, fld: str) -> list[str] | None:
    items = ctx.seq(node, fld)
    return None if items is None else [x for x in (ctx.string(n, f"{fld}[{i}]") for i, n in enumerate(items)) if x is not None]


def read_boolean(ctx: Ctx, node: Y, fld: str) -> bool | None:
    if node.kind != "scalar" or not isinstance(node.value, bool):
        ctx.err(node, fld, f"expected true or false, got {kind_of(node)}")
        return None
    return node.value


def read_capacity(ctx: Ctx, node: Y, fld: str) -> Capacity | None:
    keys = {"cpus", "memory_gb", "disk_gb"}
    body = ctx.mapping(node, fld, keys, keys)
    if body is None or not keys <= body.keys():
        return None
    vals = [ctx.number(body[k], join(fld, k), lo_exclusive=0, hi=MAX_CAPACITY[k]) for k in ("cpus", "memory_gb", "disk_gb")]
    if any(v is None for v in vals):
        return None
    return Capacity(*vals)  # type: ignore[arg-type]


def read_duration(ctx: Ctx, node: Y, fld: str, lo_exclusive: float | None = None, hi: float | None = None) -> float | None:
    v = node.value if node.kind == "scalar" else None
    seconds = parse_duration(v)
    if seconds is None and isinstance(v, (int, float, str)) and not isinstance(v, bool) and parse_duration(v, finite=False) is not None:
        ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (must be a finite duration" + (f" <= {hi:g} s)" if hi is not None else ")"))
        return None
    if seconds is None:
        ctx.err(node, fld, f"expected a duration such as 30s, 5m, 4h, 1d or a number of seconds, got {kind_of(node)}")
        return None
    if (lo_exclusive is not None and seconds <= lo_exclusive) or (hi is not None and seconds > hi):
        low = f"> {lo_exclusive:g} s" if lo_exclusive is not None else ""
        high = f"<= {hi:g} s" if hi is not None else ""
        ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (must be {' and '.join(x for x in (low, high) if x)})")
        return None
    return seconds


def read_percent(ctx: Ctx, node: Y, fld: str) -> float | None:
    v = node.value if node.kind == "scalar" else None
    if isinstance(v, str) and PERCENT.match(v):
        pct = float(PERCENT.match(v).group(1))  # type: ignore[union-attr]
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        pct = float(v)
    else:
        ctx.err(node, fld, f"expected a percentage such as \"20%\", got {kind_of(node)}")
        return None
    if not 0 <= pct <= 100:
        ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (0% to 100%)")
        return None
    return pct
