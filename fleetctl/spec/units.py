"""Durations as fleet.yml and the command line write them (standard library only: the CLI's
parser imports this, so it must cost nothing)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_duration"]

DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")  # lower case only: "5M" could be months
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float | None:
    """Seconds from a number (seconds) or a string such as ``"90s"``, ``"5m"``, ``"4h"``,
    ``"1d"``, ``"250ms"``; None when it is not one (negative, a boolean, another unit)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = DURATION.match(value)
    if not m:
        return None
    return float(m.group(1)) * _UNITS[m.group(2)]
