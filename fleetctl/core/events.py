"""Typed events and cancellation: the one contract between every job and every front.

A job (``fleetctl.workflows.*``) never prints. It reports what it is doing by calling one
``on_event`` callback with the small set of frozen dataclasses below; the CLI renders them as
a progress bar or plain lines, the TUI as widgets, a test collects them in a list. A job that
runs for long takes a :class:`CancelToken` and checks it between units of work that can be
left safely (between hosts' tasks, between suppliers of a stake batch, between the steps of a
scale apply, between batches of a sweep); a cancelled job raises :class:`Cancelled` from such
a point, or returns a result that says what was done and what was left.

Standard library only, and cheap to import: cron's ``fleetctl health`` pays for it every minute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import field
from typing import Any, TypeAlias

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError
from fleetctl.core.levels import Level

__all__ = [
    "Cancelled", "CancelToken", "CheckDone", "Event", "EventSink", "HostTask", "Progress",
    "StepFinished", "StepStarted", "Warn", "emit", "is_cancelled",
]


@record(frozen=True, slots=True)
class StepStarted:
    """A step of a job began (``job`` "scale", ``step`` "create-keys")."""

    job: str
    step: str
    detail: str = ""


@record(frozen=True, slots=True)
class StepFinished:
    """A step of a job ended; ``ok`` False when it failed (``detail`` says why); ``data``: what
    the step produced when a front shows it (scale's apply plan, before the playbooks run)."""

    job: str
    step: str
    ok: bool = True
    detail: str = ""
    data: Any = None


@record(frozen=True, slots=True)
class HostTask:
    """One task's result on one host (an Ansible task, a command over SSH).

    ``status`` is one of "started", "ok", "changed", "failed", "ignored" (failed, with
    ``ignore_errors``), "unreachable", "skipped".
    """

    host: str
    task: str
    status: str
    message: str = ""


@record(frozen=True, slots=True)
class CheckDone:
    """One check finished (a backend probed, a supplier read): its level and a short reason."""

    job: str
    target: str
    level: Level
    summary: str = ""


@record(frozen=True, slots=True)
class Progress:
    """``done`` of ``total`` units (hosts, suppliers, targets) finished."""

    job: str
    done: int
    total: int
    unit: str = ""


@record(frozen=True, slots=True)
class Warn:
    """Something the operator should read that does not stop the job."""

    job: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


Event: TypeAlias = StepStarted | StepFinished | HostTask | CheckDone | Progress | Warn
EventSink: TypeAlias = Callable[[Event], None]


def emit(sink: EventSink | None, event: Event) -> None:
    """Deliver ``event`` to ``sink`` when there is one."""
    if sink is not None:
        sink(event)


class Cancelled(FleetError):
    """A job stopped at a safe point because its token was cancelled (exit 130, as for ^C)."""

    code = 130


class CancelToken:
    """A flag a front sets (a key in the TUI, SIGINT in the CLI) and a job checks.

    Thread-safe: a worker thread, an asyncio task and ansible-runner's ``cancel_callback``
    may all read it. Cancelling twice is harmless.
    """

    __slots__ = ("_event", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        """ansible-runner's ``cancel_callback`` shape: True stops the run."""
        return self._event.is_set()

    def raise_if_cancelled(self, where: str = "") -> None:
        if self._event.is_set():
            raise Cancelled(f"{where}: {self.reason}" if where else self.reason)

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early when cancelled; True when cancelled."""
        return self._event.wait(timeout)


def is_cancelled(token: CancelToken | None) -> bool:
    return token is not None and token.cancelled
