"""The CLI's rendering of a job's typed events (:mod:`fleetctl.core.events`): apply's live
progress per host (a redrawn bar on a terminal, plain lines otherwise) and the one-line steps of
scale. A front module: the commands use it; no library module imports it.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from fleetctl.core.events import CancelToken, Event, HostTask, StepFinished, StepStarted
from fleetctl.provision.apply import HostResult, runner_events, tally


class Progress:
    """apply's events as per-host progress: a redrawn bar on a terminal, lines otherwise.

    Call it with each event (it is an ``on_event``); :meth:`event` takes ansible-runner's own
    event dicts (translated by :func:`fleetctl.provision.apply.runner_events`); :meth:`finish`
    wipes the bar."""

    def __init__(self, hosts: list[str], stream: TextIO = sys.stderr, tty: bool | None = None, quiet: bool = False):
        self.hosts = {h: HostResult() for h in hosts}
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.quiet = quiet
        self.task = ""
        self.lock = threading.Lock()
        self._drawn = False

    def __call__(self, ev: Event) -> None:
        with self.lock:
            self._take(ev)
            self._draw()

    def event(self, ev: dict[str, Any]) -> bool:
        """One ansible-runner event dict (ansible-runner's ``event_handler`` shape)."""
        with self.lock:
            for e in runner_events(ev):
                self._take(e)
            self._draw()
        return False

    def _take(self, ev: Event) -> None:
        if isinstance(ev, StepStarted) and ev.step == "task":
            self.task = ev.detail
        elif isinstance(ev, HostTask):
            tally(self.hosts, ev)
            if ev.status == "changed":
                self._line(f"{ev.host}: changed: {ev.task}")
            elif ev.status == "failed":
                self._line(f"{ev.host}: FAILED: {ev.task}: {ev.message}")
            elif ev.status == "unreachable":
                self._line(f"{ev.host}: UNREACHABLE: {ev.message}")

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty and self._drawn:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = False

    def _draw(self) -> None:
        if self.quiet or not self.tty:
            return
        width = shutil.get_terminal_size((100, 20)).columns
        done = sum(1 for r in self.hosts.values() if r.ok or r.failed or r.unreachable)
        bar_len = 20
        filled = int(bar_len * done / max(1, len(self.hosts)))
        summary = " ".join(f"{h}:{r.ok}/{r.changed}{'!' if r.failed or r.unreachable else ''}" for h, r in sorted(self.hosts.items()))
        line = f"[{'#' * filled}{'.' * (bar_len - filled)}] {summary} | {self.task}"
        self.stream.write("\r\033[K" + line[: width - 1])
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        with self.lock:
            if self.tty and self._drawn and not self.quiet:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._drawn = False


def plan_lines(out: Any) -> Callable[[Event], None]:
    """An ``on_event`` for a plan's preparation: each host observed as a debug line (``-v``)."""

    def render(ev: Event) -> None:
        if isinstance(ev, StepFinished) and ev.job == "plan" and ev.detail:
            out.debug(ev.detail)

    return render


class ScaleSteps:
    """scale --apply's events as the lines it has always written: each key made or found
    (``out.info``), fleet.yml's rewrite, the plan before the playbooks run, then apply's
    progress (``apply_progress``, a :class:`Progress`)."""

    def __init__(self, out: Any, apply_progress: Progress | None = None):
        self.out = out
        self.apply_progress = apply_progress
        self.plan = plan_lines(out)
        self.step = ""

    def __call__(self, ev: Event) -> None:
        job = getattr(ev, "job", None)
        if job == "scale":
            if isinstance(ev, StepStarted):
                self.step = ev.step
            elif isinstance(ev, StepFinished) and ev.step == "inventory" and ev.detail:
                self.out.info(f"scale: fleet.yml updated ({ev.detail})")
            elif isinstance(ev, StepFinished) and ev.step == "plan" and ev.data is not None and not self.out.json:
                from fleetctl import views

                views.plan(self.out, ev.data, only_changes=True)
        elif job == "plan":
            self.plan(ev)
        elif isinstance(ev, HostTask) and self.step == "create-keys":
            verb = "made on" if ev.status == "changed" else "already on"
            self.out.info(f"scale: {ev.task} {verb} {ev.host}: {ev.message}")
        elif self.step == "apply" and self.apply_progress is not None:
            self.apply_progress(ev)

    def finish(self) -> None:
        if self.apply_progress is not None:
            self.apply_progress.finish()


@contextmanager
def sigint_cancels(out: Any, what: str) -> Iterator[CancelToken]:
    """A CancelToken that ^C sets: the first ^C cancels the job at its next safe point (one line
    on stderr says so), the second interrupts at once (KeyboardInterrupt, as ^C always did).
    Outside the main thread (no signals there) the token is only the caller's to set."""
    token = CancelToken()
    if threading.current_thread() is not threading.main_thread():
        yield token
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        token.cancel("interrupted")
        try:
            out.error(f"{what}: stopping at the next safe point (^C again to interrupt at once)")
        except RuntimeError:  # stderr was being written when the signal came
            pass

    signal.signal(signal.SIGINT, handler)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)
