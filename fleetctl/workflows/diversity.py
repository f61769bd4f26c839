"""``fleetctl diversity`` as a job: each client's share of the running full nodes per chain and
layer, against ``max_client_share``.

:func:`prepare` says what would be read (no I/O): the hosts whose Docker engines are observed and
the adopted endpoints whose versions are asked. :func:`execute` observes the hosts
(:func:`fleetctl.provision.observe.observe`, over SSH) and judges the counts with
:func:`fleetctl.plan.diversity.check_diversity`, returning its
:class:`~fleetctl.plan.diversity.DiversityReport`. Nothing is changed anywhere.

Events: ``StepStarted``/``StepFinished`` for the steps "observe" and "check"; per host observed a
``HostTask`` (task "observe", status "ok" with its container count, or "unreachable" with the
reason) and ``Progress`` (hosts); then ``check_diversity``'s own ``CheckDone`` per adopted
endpoint (OK: counted; UNKNOWN: not) and per chain. A cancelled token stops the observation
between hosts, or drops the probes in flight, and raises :class:`~fleetctl.core.events.Cancelled`
(exit 130): a cancelled job is never a report.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetctl.core.events import CancelToken, EventSink, HostTask, Progress, StepFinished, StepStarted, emit
from fleetctl.spec.model import Fleet

if TYPE_CHECKING:
    from fleetctl.plan.diversity import DiversityReport
    from fleetctl.provision.observe import HostState

__all__ = ["JOB", "DiversityPlan", "PlannedProbe", "execute", "execute_async", "prepare"]

JOB = "diversity"
#: How long one host's observation may take (observe's default).
OBSERVE_TIMEOUT_S = 15.0
#: How long one adopted endpoint's version may take (check_diversity's default).
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class PlannedProbe:
    """An adopted endpoint whose client version will be asked (``url``: its safe form)."""

    name: str
    chain: str
    layer: str
    declared: str
    url: str


@dataclass(frozen=True)
class DiversityPlan:
    """What a run reads: these hosts' managed containers, these endpoints' versions, for these
    chains."""

    hosts: tuple[str, ...]
    endpoints: tuple[PlannedProbe, ...]
    chains: tuple[str, ...]


def prepare(fleet: Fleet) -> DiversityPlan:
    from fleetctl.core.redact import safe_url

    return DiversityPlan(tuple(sorted(fleet.hosts)),
                         tuple(PlannedProbe(e.name, e.chain, e.layer, e.client, safe_url(e.url)) for e in fleet.endpoints),
                         tuple(fleet.chains))


def _host_event(state: HostState) -> HostTask:
    if state.reachable:
        return HostTask(state.name, "observe", "ok", f"{len(state.containers)} containers")
    return HostTask(state.name, "observe", "unreachable", state.error or "")


def _observe(fleet: Fleet, timeout: float, on_event: EventSink | None, cancel: CancelToken | None,
             deliver: Callable[[Callable[[], None]], object] = lambda f: f()) -> dict[str, HostState]:
    """observe() with a HostTask and a Progress per host; ``deliver`` runs each emission where
    the caller wants it (the event loop's thread, for :func:`execute_async`)."""
    from fleetctl.provision.observe import observe

    total = len(fleet.hosts)
    done = 0

    def on_host(state: HostState) -> None:
        nonlocal done
        done += 1
        events = (_host_event(state), Progress(JOB, done, total, "hosts"))

        def send() -> None:
            for event in events:
                emit(on_event, event)

        deliver(send)

    return observe(fleet, timeout=timeout, on_host=on_host if on_event is not None else None, cancel=cancel)


async def execute_async(fleet: Fleet, *, on_event: EventSink | None = None, cancel: CancelToken | None = None,
                        observe_timeout: float = OBSERVE_TIMEOUT_S,
                        probe_timeout: float = PROBE_TIMEOUT_S) -> DiversityReport:
    """One run inside an event loop (the TUI's): the observation runs in a worker thread, its
    events are delivered on the loop's thread."""
    loop = asyncio.get_running_loop()
    with _step(on_event, "observe", f"{len(fleet.hosts)} host(s)") as done:
        observed = await asyncio.to_thread(_observe, fleet, observe_timeout, on_event, cancel,
                                           loop.call_soon_threadsafe)
        done(_reachable(observed))
    return await _check(fleet, observed, on_event, cancel, probe_timeout)


def execute(fleet: Fleet, *, on_event: EventSink | None = None, cancel: CancelToken | None = None,
            observe_timeout: float = OBSERVE_TIMEOUT_S, probe_timeout: float = PROBE_TIMEOUT_S) -> DiversityReport:
    """One run from synchronous code (the CLI): observe in this thread, then probe and judge.
    Raises :class:`~fleetctl.core.events.Cancelled` on cancel; whatever ``observe`` raises
    goes on as it is."""
    from fleetctl.core.aio import run_sync

    with _step(on_event, "observe", f"{len(fleet.hosts)} host(s)") as done:
        observed = _observe(fleet, observe_timeout, on_event, cancel)
        done(_reachable(observed))
    return run_sync(_check(fleet, observed, on_event, cancel, probe_timeout))


async def _check(fleet: Fleet, observed: dict[str, HostState], on_event: EventSink | None,
                 cancel: CancelToken | None, probe_timeout: float) -> DiversityReport:
    from fleetctl.plan.diversity import check_diversity

    with _step(on_event, "check", f"{len(fleet.endpoints)} adopted endpoint(s), {len(fleet.chains)} chain(s)") as done:
        report = await check_diversity(fleet, observed, probe_timeout=probe_timeout, on_event=on_event, cancel=cancel)
        done(report.level.name)
    return report


@contextlib.contextmanager
def _step(on_event: EventSink | None, step: str, detail: str) -> Iterator[Callable[[str], None]]:
    """StepStarted, then StepFinished with the detail the block gave; a cancel (or any error)
    in the block finishes the step with ``ok=False`` and its reason, then goes on."""
    emit(on_event, StepStarted(JOB, step, detail))
    finished: list[str] = []
    try:
        yield finished.append
    except Exception as exc:
        emit(on_event, StepFinished(JOB, step, ok=False, detail=str(exc)))
        raise
    emit(on_event, StepFinished(JOB, step, detail=finished[-1] if finished else ""))


def _reachable(observed: dict[str, HostState]) -> str:
    down = [name for name, state in observed.items() if not state.reachable]
    return f"{len(observed) - len(down)} of {len(observed)} host(s) reachable" + (
        f" (unreachable: {', '.join(down)})" if down else "")
