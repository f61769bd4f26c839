"""The diversity job's typed result: levels per layer, chain and run combine with core.levels.worst
(UNKNOWN outranks WARNING, CRITICAL outranks UNKNOWN), the JSON form keeps its keys, a CheckDone
per chain reaches on_event, a cancelled token stops the job before it reads anything."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from conftest import LAB_INV

from fleetctl.core.events import Cancelled, CancelToken, CheckDone
from fleetctl.core.levels import Level
from fleetctl.plan import model as pm
from fleetctl.plan.diversity import (
    ChainDiversity,
    DiversityReport,
    LayerShare,
    check_diversity,
    diversity,
)
from fleetctl.provision.observe import Container, HostState
from fleetctl.spec.loader import load_inventory


def layer(name: str, level: Level, over: tuple[str, ...] = ()) -> LayerShare:
    return LayerShare(name, 2, {"geth": 1, "erigon": 1}, {"geth": 0.5, "erigon": 0.5}, over, level)


def report(execution: Level, consensus: Level, unreachable: tuple[str, ...] = ()) -> DiversityReport:
    chain = ChainDiversity("eth", 0.34, layer("execution", execution), layer("consensus", consensus))
    return DiversityReport((chain,), (), (), unreachable)


@pytest.mark.parametrize(("execution", "consensus", "expected"), [
    (Level.OK, Level.OK, Level.OK),
    (Level.OK, Level.WARNING, Level.WARNING),
    (Level.WARNING, Level.UNKNOWN, Level.UNKNOWN),    # was WARNING before diversity used Level
    (Level.UNKNOWN, Level.WARNING, Level.UNKNOWN),
    (Level.OK, Level.UNKNOWN, Level.UNKNOWN),
    (Level.UNKNOWN, Level.CRITICAL, Level.CRITICAL),   # CRITICAL outranks UNKNOWN
    (Level.CRITICAL, Level.WARNING, Level.CRITICAL),
])
def test_a_chain_and_the_run_take_the_worst_layer(execution: Level, consensus: Level, expected: Level) -> None:
    r = report(execution, consensus)
    assert r.chains[0].level is expected
    assert r.level is expected and r.exit_code == int(expected)
    d = r.as_dict()
    assert d["status"] == d["chains"]["eth"]["status"] == expected.name
    assert d["chains"]["eth"]["execution"]["status"] == execution.name
    assert d["chains"]["eth"]["consensus"]["status"] == consensus.name


@pytest.mark.parametrize(("execution", "expected"), [
    (Level.OK, Level.UNKNOWN), (Level.WARNING, Level.UNKNOWN), (Level.CRITICAL, Level.CRITICAL)])
def test_an_unreachable_host_makes_the_run_at_least_unknown(execution: Level, expected: Level) -> None:
    r = report(execution, Level.OK, unreachable=("h2",))
    assert r.chains[0].level is execution  # the chain's own figures are what was counted
    assert r.level is expected and r.exit_code == int(expected)


def test_the_json_form_keeps_its_keys_and_rounds_shares() -> None:
    share = LayerShare("execution", 3, {"geth": 2, "erigon": 1}, {"geth": 2 / 3, "erigon": 1 / 3}, ("geth",),
                       Level.WARNING)
    chain = ChainDiversity("eth", 0.34, share, layer("consensus", Level.OK))
    d = DiversityReport((chain,), (), ("a note",), ()).as_dict()
    assert list(d) == ["status", "chains", "notes"] and d["notes"] == ["a note"]
    eth = d["chains"]["eth"]
    assert list(eth) == ["quota", "execution", "consensus", "status", "total", "shares", "counts", "over_quota"]
    assert list(eth["execution"]) == ["total", "shares", "counts", "status", "over_quota"]
    assert eth["shares"] == eth["execution"]["shares"] == {"geth": 0.6667, "erigon": 0.3333}
    assert eth["over_quota"] == ["geth"] and eth["quota"] == 0.34


def _observed(f) -> dict[str, HostState]:
    c = [Container("lab-h1", "eth-geth-1", "node", "eth", "geth", "s", True, "Up", slot=0, consensus="nimbus"),
         Container("lab-h1", "eth-geth-1-nimbus", "consensus", "eth", "nimbus", "s", True, "Up", slot=0),
         Container("lab-h2", "eth-erigon-1", "node", "eth", "erigon", "s", True, "Up", slot=0, consensus="caplin"),
         Container("lab-h3", "eth-nethermind-1", "node", "eth", "nethermind", "s", True, "Up", slot=0)]
    return {h: HostState(h, True, None, [x for x in c if x.host == h], pm.Resources(2, 8, 50)) for h in f.hosts}


def _no_endpoints():
    f = load_inventory(LAB_INV)
    return dataclasses.replace(f, chains={"eth": dataclasses.replace(f.chains["eth"], endpoints=())})


def test_check_diversity_is_typed_and_reports_each_chain_as_an_event() -> None:
    f = _no_endpoints()
    events: list = []
    r = asyncio.run(check_diversity(f, _observed(f), on_event=events.append))
    (eth,) = r.chains
    assert dict(eth.execution.counts) == {"geth": 1, "nethermind": 1, "erigon": 1} and eth.execution.level is Level.OK
    assert eth.consensus.counts["nimbus"] == 1 and eth.consensus.counts["caplin"] == 1
    assert eth.consensus.level is Level.WARNING and eth.consensus.over_quota == ("nimbus", "caplin")
    assert r.level is Level.WARNING and r.exit_code == 1 and r.probes == ()
    assert events == [CheckDone("diversity", "eth", Level.WARNING,
                                "execution OK, consensus WARNING (over 34%: nimbus, caplin)")]
    # the plain call gives the same report's JSON form
    assert diversity(f, _observed(f)) == r.as_dict()


def test_an_unreachable_host_with_a_warning_is_unknown_now() -> None:
    f = _no_endpoints()
    observed = _observed(f)
    observed["lab-h3"] = HostState("lab-h3", False, "ssh: connection refused", [], None)
    r = asyncio.run(check_diversity(f, observed))
    assert r.chains[0].level is Level.WARNING
    assert r.level is Level.UNKNOWN and r.exit_code == 3 and r.unreachable == ("lab-h3",)
    assert r.as_dict()["status"] == "UNKNOWN"
    assert r.notes[0] == "lab-h3: unreachable (ssh: connection refused): its nodes are not counted"


def test_a_hostile_client_label_is_not_counted() -> None:
    f = _no_endpoints()
    bad = [Container("lab-h1", "evil", "node", "eth", "geth\x1b[2J" + "x" * 10, "s", True, "Up", slot=0),
           Container("lab-h1", "long", "node", "eth", "g" * 500, "s", True, "Up", slot=0),
           Container("lab-h1", "typed", "node", "eth", 12345, "s", True, "Up", slot=0)]  # type: ignore[arg-type]
    observed = {"lab-h1": HostState("lab-h1", True, None, bad, None)}
    r = asyncio.run(check_diversity(f, observed))
    assert r.chains[0].execution.total == 0
    assert len(r.notes) == 3 and all("not counted" in n and n.isprintable() and len(n) < 200 for n in r.notes), r.notes


def test_a_cancelled_token_stops_before_anything_is_read() -> None:
    f = _no_endpoints()
    token = CancelToken()
    token.cancel("operator pressed q")
    events: list = []
    with pytest.raises(Cancelled, match="diversity: operator pressed q") as info:
        asyncio.run(check_diversity(f, _observed(f), on_event=events.append, cancel=token))
    assert info.value.code == 130 and events == []
