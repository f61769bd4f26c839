"""Check levels: every check of every job (health, stakes, claims, preflight, diversity) ends in
one of these, and a run's exit code is the worst of them (Nagios: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN). Standard library only: cron's ``fleetctl health`` and the CLI's parser may import it."""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Level", "worst"]


class Level(enum.IntEnum):
    """A check result; the value is its Nagios exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """Rank for "the worst of": OK < WARNING < UNKNOWN < CRITICAL.

        UNKNOWN outranks WARNING (an unread supplier may be below its minimum); CRITICAL
        outranks UNKNOWN (a known loss is the most urgent).
        """
        return _SEVERITY[self]


_SEVERITY = {Level.OK: 0, Level.WARNING: 1, Level.UNKNOWN: 2, Level.CRITICAL: 3}


def worst(levels: Iterable[Level]) -> Level:
    """The most severe of ``levels`` (OK when there are none)."""
    return max(levels, key=lambda level: level.severity, default=Level.OK)
