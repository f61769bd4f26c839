"""Amounts (upokt, POKT) and durations as fleet.yml and the command line write them (standard
library only: the CLI's parser imports this, so it must cost nothing)."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["UPOKT_PER_POKT", "format_upokt", "parse_amount", "parse_amount_option", "parse_duration"]

UPOKT_PER_POKT = 1_000_000
AMOUNT = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*(upokt|pokt)\s*$", re.IGNORECASE)
DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")  # lower case only: "5M" could be months
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any, *, finite: bool = True) -> float | None:
    """Seconds from a number (seconds) or a string such as ``"90s"``, ``"5m"``, ``"4h"``,
    ``"1d"``, ``"250ms"``; None when it is not one (negative, a boolean, another unit) or, unless
    ``finite`` is False, when it is infinite (``.inf``, 400 digits) or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    elif isinstance(value, str):
        m = DURATION.match(value)
        if not m:
            return None
        seconds = float(m.group(1)) * _UNITS[m.group(2)]  # float() of 10^5 digits is inf, not an error
    else:
        return None
    if seconds != seconds or seconds < 0:
        return None
    if finite and not math.isfinite(seconds):
        return None
    return seconds


def format_upokt(amount: int) -> str:
    """``59500000000`` → ``59,500 POKT``; exact (integer arithmetic), six decimals at most."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), UPOKT_PER_POKT)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:06d}".rstrip("0")
    return f"{sign}{text} POKT"


def parse_amount(text: Any) -> int | None:
    """An amount in upokt from an integer (upokt) or a string like ``"59,500 POKT"`` / ``"10upokt"``.

    Exact: POKT amounts go through Decimal, and more than six decimals are refused."""
    from decimal import Decimal, InvalidOperation  # here: the CLI's parser imports this module

    if isinstance(text, int) and not isinstance(text, bool):
        return text if text >= 0 else None
    if not isinstance(text, str):
        return None
    m = AMOUNT.match(text)
    if not m:
        return None
    digits, unit = m.group(1).replace("_", "").replace(",", ""), m.group(2).lower()
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    scaled = value * (UPOKT_PER_POKT if unit == "pokt" else 1)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def parse_amount_option(text: str) -> int | None:
    """A command-line amount (``--stake``, ``--budget``): digits alone are upokt (as in
    fleet.yml), else :func:`parse_amount` (``"60000 POKT"``, ``"60000000000upokt"``)."""
    t = text.strip()
    return int(t) if t.isdigit() else parse_amount(t)
