"""The diversity job (fleetctl.workflows.diversity): prepare says what would be read without
reading it; execute observes (a HostTask and a Progress per host), then judges (check_diversity's
CheckDone per chain), each step framed by StepStarted/StepFinished; a cancel between hosts or
before the check raises Cancelled and finishes the step it stopped with ok=False. The hosts'
engines are faked at the one-host level, so the real observe() (its threads and its cancel
between hosts) runs."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest
from conftest import LAB_INV

from fleetctl.core.events import Cancelled, CancelToken, CheckDone, HostTask, Progress, StepFinished, StepStarted
from fleetctl.core.levels import Level
from fleetctl.plan import model as pm
from fleetctl.plan.diversity import check_diversity
from fleetctl.provision import observe as observe_module
from fleetctl.provision.observe import Container, HostState
from fleetctl.spec.loader import load_inventory
from fleetctl.spec.model import Endpoint
from fleetctl.workflows import diversity as job

CONTAINERS = {
    "lab-h1": [Container("lab-h1", "eth-geth-1", "node", "eth", "geth", "s", True, "Up", slot=0, consensus="nimbus"),
               Container("lab-h1", "eth-geth-1-nimbus", "consensus", "eth", "nimbus", "s", True, "Up", slot=0)],
    "lab-h2": [Container("lab-h2", "eth-erigon-1", "node", "eth", "erigon", "s", True, "Up", slot=0,
                         consensus="caplin")],
}


def _fleet():
    f = load_inventory(LAB_INV)
    return dataclasses.replace(f, chains={cid: dataclasses.replace(c, endpoints=()) for cid, c in f.chains.items()})


def _host(fleet_host, timeout):
    if fleet_host.name == "lab-h3":
        return HostState("lab-h3", False, "ssh: connection refused", [], None)
    return HostState(fleet_host.name, True, None, list(CONTAINERS.get(fleet_host.name, [])), pm.Resources(2, 8, 50))


@pytest.fixture
def engines(monkeypatch):
    monkeypatch.setattr(observe_module, "_observe_host", _host)


def test_prepare_reads_nothing_and_names_hosts_endpoints_and_chains(monkeypatch):
    def no_ssh(*args, **kwargs):
        raise AssertionError("prepare observed a host")

    monkeypatch.setattr(observe_module, "_observe_host", no_ssh)
    f = load_inventory(LAB_INV)
    cid = next(iter(f.chains))
    secret = Endpoint("adopted-geth", "http://user:hunter2@127.0.0.1:9/rpc?key=tok", "geth", cid)
    f = dataclasses.replace(f, chains={**f.chains, cid: dataclasses.replace(f.chains[cid], endpoints=(secret,))})
    plan = job.prepare(f)
    assert plan.hosts == tuple(sorted(f.hosts)) and plan.chains == tuple(f.chains)
    (probe,) = plan.endpoints
    assert (probe.name, probe.chain, probe.layer, probe.declared) == ("adopted-geth", cid, "execution", "geth")
    assert "hunter2" not in probe.url and "tok" not in probe.url


def test_execute_observes_then_checks_and_says_so_in_events(engines):
    f = _fleet()
    events: list = []
    report = job.execute(f, on_event=events.append)
    # the same report as observe + check_diversity called by hand
    expected = asyncio.run(check_diversity(f, {n: _host(f.hosts[n], 1) for n in sorted(f.hosts)}))
    assert report == expected and report.level is Level.UNKNOWN and report.unreachable == ("lab-h3",)
    n = len(f.hosts)
    assert events[0] == StepStarted("diversity", "observe", f"{n} host(s)")
    hosts = [e for e in events if isinstance(e, HostTask)]
    assert sorted(e.host for e in hosts) == sorted(f.hosts) and {e.task for e in hosts} == {"observe"}
    assert HostTask("lab-h3", "observe", "unreachable", "ssh: connection refused") in hosts
    assert HostTask("lab-h1", "observe", "ok", "2 containers") in hosts
    assert [e.done for e in events if isinstance(e, Progress)] == list(range(1, n + 1))
    assert all(e.total == n and e.unit == "hosts" for e in events if isinstance(e, Progress))
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert finished[0] == StepFinished("diversity", "observe", True, f"{n - 1} of {n} host(s) reachable "
                                                                      "(unreachable: lab-h3)")
    assert events.index(finished[0]) == 2 * n + 1  # after every host's events
    check_at = events.index(StepStarted("diversity", "check", f"0 adopted endpoint(s), {len(f.chains)} chain(s)"))
    checks = [e for e in events[check_at:] if isinstance(e, CheckDone)]
    assert [c.target for c in checks] == [c.chain for c in report.chains]
    assert {c.target: c.level for c in checks} == {c.chain: c.level for c in report.chains}
    assert events[-1] == StepFinished("diversity", "check", True, "UNKNOWN")


def test_execute_without_a_sink_emits_nothing_and_gives_the_same_report(engines):
    f = _fleet()
    assert job.execute(f) == job.execute(f, on_event=lambda e: None)


def test_execute_async_delivers_the_events_on_the_loop_thread(engines):
    f = _fleet()
    events: list = []
    threads: set[int] = set()

    def sink(event):
        threads.add(threading.get_ident())
        events.append(event)

    async def main():
        return threading.get_ident(), await job.execute_async(f, on_event=sink)

    loop_thread, report = asyncio.run(main())
    assert report == job.execute(f)
    assert threads == {loop_thread}
    assert sum(isinstance(e, HostTask) for e in events) == len(f.hosts)
    assert events.index(next(e for e in events if isinstance(e, StepFinished))) == 2 * len(f.hosts) + 1


def test_a_cancel_between_hosts_stops_the_observation(monkeypatch):
    release = threading.Event()

    def slow(fleet_host, timeout):
        if fleet_host.name != "lab-h1":
            release.wait(10)  # still being observed when the job is cancelled
        return _host(fleet_host, timeout)

    monkeypatch.setattr(observe_module, "_observe_host", slow)
    f = _fleet()
    token = CancelToken()
    events: list = []

    def sink(event):
        events.append(event)
        if isinstance(event, HostTask):
            token.cancel("operator pressed q")

    try:
        with pytest.raises(Cancelled, match=f"observe: 1 of {len(f.hosts)} hosts observed: operator pressed q") as info:
            job.execute(f, on_event=sink, cancel=token)
    finally:
        release.set()
    assert info.value.code == 130
    assert [e.host for e in events if isinstance(e, HostTask)] == ["lab-h1"]
    assert isinstance(events[-1], StepFinished) and events[-1].step == "observe" and not events[-1].ok
    assert "operator pressed q" in events[-1].detail
    assert not any(isinstance(e, CheckDone) or e == StepStarted("diversity", "check") for e in events)


def test_a_cancel_after_the_observation_stops_before_the_check(engines):
    f = _fleet()
    token = CancelToken()
    events: list = []

    def sink(event):
        events.append(event)
        if isinstance(event, StepFinished) and event.step == "observe":
            token.cancel("enough")

    with pytest.raises(Cancelled, match="diversity: enough"):
        job.execute(f, on_event=sink, cancel=token)
    assert not any(isinstance(e, CheckDone) for e in events)
    assert events[-1] == StepFinished("diversity", "check", False, "diversity: enough")


def test_a_cancelled_token_reads_no_host(monkeypatch):
    def no_ssh(*args, **kwargs):
        raise AssertionError("a cancelled job observed a host")

    monkeypatch.setattr(observe_module, "_observe_host", no_ssh)
    token = CancelToken()
    token.cancel()
    events: list = []
    with pytest.raises(Cancelled, match="observe: no host observed"):
        asyncio.run(job.execute_async(_fleet(), on_event=events.append, cancel=token))
    assert [type(e) for e in events] == [StepStarted, StepFinished] and not events[-1].ok
