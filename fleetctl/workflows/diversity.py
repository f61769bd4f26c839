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

:func:`overview` (the TUI's Diversity view) is :func:`execute` plus, beside each share, the share
the plan wants: the placement :func:`fleetctl.plan.diff.make_plan` makes against the hosts just
observed (nothing is observed twice, nothing is changed), in a :class:`DiversityOverview`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from fleetctl.core.records import record
from fleetctl.core.events import CancelToken, EventSink, HostTask, Progress, StepFinished, StepStarted, emit
from fleetctl.spec.model import Fleet

if TYPE_CHECKING:
    from fleetctl.plan.diversity import DiversityReport
    from fleetctl.provision.observe import HostState

__all__ = ["JOB", "DiversityOverview", "DiversityPlan", "PlannedProbe", "execute", "execute_async", "overview",
           "prepare"]

JOB = "diversity"
#: How long one host's observation may take (observe's default).
OBSERVE_TIMEOUT_S = 15.0
#: How long one adopted endpoint's version may take (check_diversity's default).
PROBE_TIMEOUT_S = 3.0


@record(frozen=True)
class PlannedProbe:
    """An adopted endpoint whose client version will be asked (``url``: its safe form)."""

    name: str
    chain: str
    layer: str
    declared: str
    url: str


@record(frozen=True)
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


@record(frozen=True)
class DiversityOverview:
    """The report and what the plan wants beside it: ``planned[chain][layer][client]``, the
    nodes the placement gives each client (fleetctl's pairs plus the adopted endpoints, as
    ``fleetctl plan`` places them against what runs); ``plan_error``: why the fleet cannot be
    placed (then ``planned`` is empty)."""

    report: DiversityReport
    planned: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    plan_error: str | None = None

    def planned_count(self, chain: str, layer: str, client: str) -> int | None:
        """The nodes the plan gives ``client`` (None: no plan, or the chain is not planned)."""
        counts = self.planned.get(chain, {}).get(layer)
        return None if counts is None else counts.get(client, 0)

    def planned_share(self, chain: str, layer: str, client: str) -> float | None:
        """``client``'s share of the layer's planned nodes (None: no plan for the chain)."""
        counts = self.planned.get(chain, {}).get(layer)
        if counts is None:
            return None
        total = sum(counts.values())
        return counts.get(client, 0) / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report's JSON form plus ``planned`` and ``plan_error``."""
        return {**self.report.as_dict(), "planned": {c: {layer: dict(n) for layer, n in layers.items()}
                                                     for c, layers in self.planned.items()},
                "plan_error": self.plan_error}


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


def overview(fleet: Fleet, *, on_event: EventSink | None = None, cancel: CancelToken | None = None,
             observe_timeout: float = OBSERVE_TIMEOUT_S, probe_timeout: float = PROBE_TIMEOUT_S) -> DiversityOverview:
    """:func:`execute` and the planned shares beside (a third step, "plan": the placement made
    against the hosts observed, no I/O). Raises Cancelled on cancel; an infeasible fleet is the
    overview's ``plan_error``, not an error."""
    from fleetctl.core.aio import run_sync
    from fleetctl.plan.diff import make_plan
    from fleetctl.plan.model import Infeasible

    with _step(on_event, "observe", f"{len(fleet.hosts)} host(s)") as done:
        observed = _observe(fleet, observe_timeout, on_event, cancel)
        done(_reachable(observed))
    report = run_sync(_check(fleet, observed, on_event, cancel, probe_timeout))
    if cancel is not None:
        cancel.raise_if_cancelled(JOB)
    with _step(on_event, "plan", f"{len(fleet.chains)} chain(s)") as done:
        try:
            placement = make_plan(fleet, observed=observed).placement
        except Infeasible as exc:
            done("infeasible")
            return DiversityOverview(report, {}, str(exc))
        planned = {cid: {"execution": dict(placement.counts.get(cid, {})),
                         "consensus": dict(placement.consensus_counts.get(cid, {}))}
                   for cid in fleet.chains if cid in placement.counts}
        done(f"{len(planned)} chain(s) planned")
    return DiversityOverview(report, planned)


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
