"""``fleetctl alerts`` as a job: the alert state ``fleetctl health`` keeps (list, mute, acknowledge,
unmute, repair), one function each over :class:`fleetctl.health.alerts.AlertStore`.

Listing is side-effect free (the "prepare" of the others: which open alerts a pattern matches);
the others write the store in one transaction and return what they changed. The store's errors
are one line (:class:`~fleetctl.core.errors.FleetError`, exit 1), bad values usage errors
(:class:`~fleetctl.core.errors.UserError`, exit 2). Nothing here is long enough to cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError, UserError

__all__ = ["MAX_SILENCE_S", "STORE_WAIT_S", "AlertsList", "ack", "list_alerts", "matching", "mute", "repair",
           "silence_seconds", "store", "unmute"]

#: How long a command waits for another process's lock on the store before saying so.
STORE_WAIT_S = 10.0
#: The longest mute or acknowledgement: ten years.
MAX_SILENCE_S = 3650 * 86400.0
T = TypeVar("T")


def silence_seconds(text: str, field: str = "--for") -> float:
    """A mute's or ack's length from ``90s``, ``30m``, ``4h``, ``2d`` or ``3600`` (above 0, at most
    :data:`MAX_SILENCE_S`); UserError naming ``field`` otherwise. The CLI and the TUI both ask this."""
    from fleetctl.core.units import parse_duration

    seconds = parse_duration((text or "").strip()) or 0.0
    if seconds <= 0 or seconds > MAX_SILENCE_S:
        raise UserError(f"{field}: {text!r} is not a duration (say 90s, 30m, 4h, 2d or a number "
                        "of seconds, above 0)")
    return seconds


@record
class AlertsList:
    db: Path
    alerts: list[Any]
    silences: list[Any]
    corrupt: list[Any] = field(default_factory=list)
    now: float = 0.0


def store(db: Path, busy_timeout_s: float = STORE_WAIT_S) -> Any:
    from fleetctl.health.alerts import AlertStore

    return AlertStore(db, busy_timeout_s=busy_timeout_s)


def _run(func: Callable[[], T]) -> T:
    """The store's errors as one line (exit 1), bad values as usage errors."""
    from fleetctl.state.db import HistoryError

    try:
        return func()
    except HistoryError as exc:
        raise FleetError(f"alerts: {exc}") from None
    except ValueError as exc:
        raise UserError(f"alerts: {exc}") from None


def list_alerts(db: Path, *, include_resolved: bool = False, now: float | None = None) -> AlertsList:
    s = store(db)
    now = time.time() if now is None else now
    corrupt: list[Any] = []
    alerts = _run(lambda: s.list(include_resolved=include_resolved, now=now, corrupt=corrupt))
    silences = _run(lambda: s.silences(now=now, corrupt=[]))  # list() reported them
    return AlertsList(s.path, alerts, silences, corrupt, now)


def matching(db: Path, pattern: str, *, now: float | None = None) -> list[Any]:
    """The open alerts ``pattern`` would mute or acknowledge (no write): the store's own rule
    (:func:`fleetctl.state.alerts.matches`, the alert's key or target)."""
    from fleetctl.state.alerts import matches

    listed = list_alerts(db, now=now)
    return [a for a in listed.alerts if a.state != "resolved" and matches(pattern, a.key, a.target)]


def mute(db: Path, pattern: str, seconds: float, reason: str = "", *, now: float | None = None) -> Any:
    s = store(db)
    now = time.time() if now is None else now
    return _run(lambda: s.mute(pattern, now + seconds, reason, now=now))


def ack(db: Path, pattern: str, seconds: float, *, now: float | None = None) -> list[Any]:
    s = store(db)
    now = time.time() if now is None else now
    return _run(lambda: s.ack(pattern, now + seconds, now=now))


def unmute(db: Path, pattern: str) -> int:
    s = store(db)
    return _run(lambda: s.unmute(pattern))


def repair(db: Path) -> list[Any]:
    s = store(db)
    if not s.path.exists():
        raise FleetError(f"alerts repair: no store at {s.path}")
    return _run(lambda: s.repair())
