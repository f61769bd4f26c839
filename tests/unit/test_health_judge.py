"""`fleetctl health`'s pure logic: judging what was read, without any network.

Execution clients (reference head, block-hash majority, every per-endpoint rule), host facts as
FACTS_SCRIPT prints them, HAProxy's stats CSV (the header is the one HAProxy 2.6 printed on this
machine), the remediation planner, the report's outputs (Nagios, JSON, Prometheus text, the
textfile), and fleet.yml's ``health:`` / ``alerts:`` sections.

Properties are stated independently of the implementation (majorities, monotonicity,
invariance, "never empties a pool"); the examples pin the documented thresholds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, run_cli
from fleetctl.health import execution as ex
from fleetctl.health import remediate as rm
from fleetctl.health import report as rp
from fleetctl.health import services as sv
from fleetctl.health.hostfacts import FACTS_SCRIPT, parse_facts
from fleetctl.health.sweep import judge_host
from fleetctl.core.levels import Level
from fleetctl.provision.sshexec import SshResult
from fleetctl.spec.loader import load_inventory, parse_duration
from fleetctl.spec.model import HealthPolicy, Host, Secret

ENV = {"PYTHONPATH": str(REPO)}
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The real web3_clientVersion strings (lab/fleetlab/image-files/front.py personas and the clients' own code).
VERSIONS = {
    "geth": "Geth/v1.17.5-stable-9621c6ad/linux-amd64/go1.26.5",
    "nethermind": "Nethermind/v1.39.3+28cbe2a0/linux-x64/dotnet10.0.10",
    "erigon": "erigon/3.4.4/linux-amd64/go1.26.5",
    "besu": "besu/v24.1.0/linux-x86_64/openjdk-java-17",
    "reth": "reth/v1.0.0-abc/x86_64-unknown-linux-gnu",
    "anvil": "anvil/v1.7.1",
}
HASH_A = "0x" + "a1" * 32
HASH_B = "0x" + "b2" * 32
HASH_C = "0x" + "c3" * 32
POLICY = {"lag_warning": 3, "lag_critical": 10, "min_peers": 1, "slow_s": 1.0}


# ----------------------------------------------------------------------------- helpers


def probe(name: str, client: str = "geth", head: int | None = 100, block_hash: str | None = HASH_A, *,
          running: str | None = None, planned_client: str | None = None, hash_height: int | None = 98,
          **kw: Any) -> ex.ExecProbe:
    """An ExecProbe as probe_endpoint/probe_hash leave it for a node that answered."""
    target_kw = {k: kw.pop(k) for k in ("planned_version", "planned_image", "image", "stopped") if k in kw}
    target = ex.ExecTarget(name, "eth", f"http://{name}.invalid:8545", planned_client or client, **target_kw)
    defaults: dict[str, Any] = {"client_version": VERSIONS[running or client], "syncing": False, "head": head,
                                "peers": 25, "elapsed_s": 0.01}
    defaults.update(kw)
    p = ex.ExecProbe(target, **defaults)
    if block_hash is not None:
        p.hash_height, p.block_hash = hash_height, block_hash
    return p


def down(name: str, error: str = "connection refused", client: str = "geth") -> ex.ExecProbe:
    return ex.ExecProbe(ex.ExecTarget(name, "eth", f"http://{name}.invalid:8545", client), error=error,
                        elapsed_s=0.001)


def judge(probes: list[ex.ExecProbe], **policy: Any) -> tuple[dict[str, ex.Verdict], ex.ChainVerdict]:
    verdicts, chain = ex.judge_chain("eth", probes, **{**POLICY, **policy})
    assert [v.target.name for v in verdicts] == [p.target.name for p in probes]
    return {v.target.name: v for v in verdicts}, chain


def diverged(verdicts: dict[str, ex.Verdict]) -> set[str]:
    return {n for n, v in verdicts.items() if "diverged" in v.states}


# ----------------------------------------------------------------------------- reference head


def test_reference_head_examples():
    assert ex.reference_head([]) is None
    assert ex.reference_head([7]) == 7
    assert ex.reference_head([100, 100, 100, 10_000]) == 100  # one node racing ahead
    assert ex.reference_head([100, 100, 100, 3, 50]) == 100  # a minority of laggards
    assert ex.reference_head([10_000, 100, 100]) == 100
    # the ceil(n/2)-th highest (documented): on an even split the higher half sets it
    assert ex.reference_head([100, 100, 90, 90]) == 100
    assert ex.reference_head([90, 100]) == 100


@SETTINGS
@given(h=st.integers(0, 10**9), majority=st.integers(1, 8), data=st.data())
def test_reference_head_is_the_strict_majoritys_head(h: int, majority: int, data: st.DataObject):
    """When a strict majority of endpoints are at h, nothing the others report moves it."""
    others = data.draw(st.lists(st.integers(0, 10**9), max_size=majority - 1))
    heads = data.draw(st.permutations([h] * majority + others))
    assert ex.reference_head(heads) == h


@SETTINGS
@given(heads=st.lists(st.integers(0, 10**6), min_size=1, max_size=15), data=st.data())
def test_reference_head_invariants(heads: list[int], data: st.DataObject):
    ref = ex.reference_head(heads)
    assert ref in heads
    assert min(heads) <= ref <= max(heads)
    # at least half of the endpoints have reached it
    assert 2 * sum(1 for h in heads if h >= ref) >= len(heads)
    # the order the endpoints answered in does not matter
    assert ex.reference_head(data.draw(st.permutations(heads))) == ref
    # an endpoint moving forward never moves the reference backwards (and vice versa)
    i = data.draw(st.integers(0, len(heads) - 1))
    step = data.draw(st.integers(0, 10**6))
    raised = list(heads)
    raised[i] += step
    assert ex.reference_head(raised) >= ref
    lowered = list(heads)
    lowered[i] = max(0, lowered[i] - step)
    assert ex.reference_head(lowered) <= ref


def test_compare_height():
    probes = [probe("a", head=100), probe("b", head=100), probe("c", head=99),
              probe("d", head=5, syncing={"currentBlock": "0x5", "highestBlock": "0x64"}),
              probe("e", head=3, syncing={"currentBlock": "0x3", "highestBlock": "0x64"}),
              down("f")]
    # the syncing and the unreachable endpoints do not count: 100 is the majority's head
    assert ex.compare_height(probes, 2) == 98
    assert ex.compare_height(probes, 0) == 100
    assert ex.compare_height([probe("a", head=1)], 5) == 0  # never below genesis
    assert ex.compare_height([down("a"), down("b")], 2) is None
    assert ex.compare_height([], 2) is None


# ----------------------------------------------------------------------------- client versions


@pytest.mark.parametrize(("text", "expected"), [
    (VERSIONS["geth"], ("geth", "1.17.5")),
    (VERSIONS["nethermind"], ("nethermind", "1.39.3")),
    (VERSIONS["erigon"], ("erigon", "3.4.4")),
    (VERSIONS["besu"], ("besu", "24.1.0")),
    (VERSIONS["reth"], ("reth", "1.0.0")),
    (VERSIONS["anvil"], ("anvil", "1.7.1")),
    ("Geth/v1.14.12-stable-293a300d/linux-amd64/go1.22.4", ("geth", "1.14.12")),
    ("erigon/2.60.10/linux-amd64/go1.21.5", ("erigon", "2.60.10")),
    ("Geth", ("geth", None)),
    ("Geth/nightly/linux-amd64", ("geth", None)),
    ("", (None, None)),
    (None, (None, None)),
])
def test_parse_client_version(text, expected):
    assert ex.parse_client_version(text) == expected


def test_parse_client_version_of_a_non_string():
    assert ex.parse_client_version(42) == (None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("image", "expected"), [
    ("ethereum/client-go:v1.17.5", "1.17.5"),
    ("nethermind/nethermind:1.39.3", "1.39.3"),
    ("erigontech/erigon:v3.4.4", "3.4.4"),
    ("registry.example:5000/ethereum/client-go:v1.17.5", "1.17.5"),
    ("ethereum/client-go:v1.17.5-alltools", "1.17.5"),
    ("ethereum/client-go:stable", None),
    ("ethereum/client-go:latest", None),
    ("ethereum/client-go", None),
    ("registry.example:5000/geth", None),  # a registry port is not a tag
    ("ghcr.io/pokt-network/pocket-v0:RC-0.12.0", None),
    ("", None),
    (None, None),
])
def test_version_of_image(image, expected):
    assert ex.version_of_image(image) == expected


def test_version_of_a_digest_pinned_image():
    """Found by this file: the digest's hex was taken for the tag and the version was lost."""
    assert ex.version_of_image("ethereum/client-go:v1.17.5@sha256:" + "0" * 64) == "1.17.5"
    assert ex.version_of_image("ethereum/client-go@sha256:" + "1" * 64) is None


# ----------------------------------------------------------------------------- judge_chain


def healthy_chain() -> list[ex.ExecProbe]:
    return [probe("geth-1", "geth"), probe("neth-1", "nethermind"), probe("erigon-1", "erigon"),
            probe("geth-2", "geth")]


def test_a_healthy_chain():
    verdicts, chain = judge(healthy_chain())
    assert {v.level for v in verdicts.values()} == {Level.OK}
    assert all(v.state == "ok" and v.healthy and v.states == () for v in verdicts.values())
    assert chain.level is Level.OK and chain.reference_head == 100
    assert "4 of 4 endpoints up" in chain.message and "4 agree on block 98" in chain.message
    v = verdicts["neth-1"]
    assert v.values["up"] == 1.0 and v.values["lag_blocks"] == 0.0 and v.values["diverged"] == 0.0
    assert v.values["peers"] == 25.0 and v.facts["running_client"] == "nethermind"
    assert v.facts["running_version"] == "1.39.3"


@pytest.mark.parametrize(("lag", "level"), [
    (0, Level.OK), (1, Level.OK), (2, Level.OK),
    (3, Level.WARNING), (4, Level.WARNING), (9, Level.WARNING),  # WARNING from lag_warning blocks
    (10, Level.CRITICAL), (11, Level.CRITICAL), (500, Level.CRITICAL),  # CRITICAL from lag_critical
])
def test_lag_thresholds(lag: int, level: Level):
    probes = healthy_chain() + [probe("slowpoke", "erigon", head=100 - lag, block_hash=None if lag > 2 else HASH_A)]
    verdicts, chain = judge(probes)
    v = verdicts["slowpoke"]
    assert v.level is level, v.message
    assert v.values["lag_blocks"] == lag and v.facts["lag"] == lag
    if level is Level.OK:
        assert v.healthy and v.state == "ok"
    else:
        assert v.state == "lagging" and not v.healthy
        assert f"{lag} blocks behind" in v.message and "100" in v.message
    # the others are judged against the majority's head, not dragged by the laggard
    assert all(verdicts[n].level is Level.OK for n in verdicts if n != "slowpoke")
    assert chain.reference_head == 100


@SETTINGS
@given(lag1=st.integers(0, 40), lag2=st.integers(0, 40), warn=st.integers(1, 20), extra=st.integers(0, 20))
def test_more_lag_is_never_better(lag1: int, lag2: int, warn: int, extra: int):
    crit = warn + extra

    def level(lag: int) -> Level:
        verdicts, _ = judge(healthy_chain() + [probe("x", head=100 - lag, block_hash=None)],
                            lag_warning=warn, lag_critical=crit)
        return verdicts["x"].level

    lo, hi = sorted((lag1, lag2))
    assert level(lo).severity <= level(hi).severity
    assert level(0) is Level.OK
    assert level(crit) is Level.CRITICAL


def test_syncing_is_a_warning_and_does_not_pull_the_reference_down():
    sync = {"startingBlock": "0x0", "currentBlock": hex(40), "highestBlock": hex(100)}
    probes = [probe("a", "geth"), probe("b", "nethermind"),
              probe("s1", "erigon", head=40, syncing=sync, block_hash=None),
              probe("s2", "erigon", head=40, syncing=sync, block_hash=None),
              probe("s3", "besu", head=40, syncing=sync, block_hash=None)]
    verdicts, chain = judge(probes)
    # with the three syncing nodes counted, the majority head would be 40
    assert chain.reference_head == 100
    for name in ("s1", "s2", "s3"):
        v = verdicts[name]
        assert "syncing" in v.states and not v.healthy
        assert "syncing" in v.message and "40" in v.message and "100" in v.message
        assert v.values["syncing"] == 1.0
        assert v.level is Level.CRITICAL  # and 60 blocks behind: the lag applies too
    assert verdicts["a"].level is Level.OK and verdicts["b"].level is Level.OK


def test_syncing_at_the_head_is_a_warning():
    sync = {"startingBlock": "0x0", "currentBlock": hex(100), "highestBlock": hex(100)}
    verdicts, _ = judge(healthy_chain() + [probe("s", head=100, syncing=sync, block_hash=None)])
    assert verdicts["s"].level is Level.WARNING and verdicts["s"].state == "syncing"


def test_one_clients_minority_fork_is_diverged_and_only_it():
    """The Geth bug of Nov 2020: every geth node serves another chain; the other clients agree."""
    probes = [probe("geth-1", "geth", block_hash=HASH_B), probe("geth-2", "geth", block_hash=HASH_B),
              probe("neth-1", "nethermind"), probe("erigon-1", "erigon"), probe("besu-1", "besu")]
    verdicts, chain = judge(probes)
    assert diverged(verdicts) == {"geth-1", "geth-2"}
    for name in ("geth-1", "geth-2"):
        v = verdicts[name]
        assert v.level is Level.CRITICAL and v.state == "diverged" and not v.healthy
        assert v.message.startswith("DIVERGED") and "98" in v.message
        assert v.values["diverged"] == 1.0
    for name in ("neth-1", "erigon-1", "besu-1"):
        assert verdicts[name].level is Level.OK and verdicts[name].values["diverged"] == 0.0
    assert chain.level is Level.CRITICAL
    assert "2 endpoint(s) diverged" in chain.message and "98" in chain.message
    assert chain.compared_height == 98
    groups = {h: (n, set(c)) for h, n, c in chain.groups}
    assert groups == {HASH_A: (3, {"nethermind", "erigon", "besu"}), HASH_B: (2, {"geth"})}


def test_distinct_clients_beat_a_bigger_single_client_group():
    probes = [probe(f"geth-{i}", "geth", block_hash=HASH_B) for i in range(4)]
    probes += [probe("neth-1", "nethermind"), probe("erigon-1", "erigon")]
    verdicts, chain = judge(probes)
    assert diverged(verdicts) == {f"geth-{i}" for i in range(4)}
    assert chain.level is Level.CRITICAL and "4 endpoint(s) diverged" in chain.message


def test_with_as_many_clients_more_endpoints_win():
    probes = [probe("geth-1", "geth"), probe("geth-2", "geth"), probe("neth-1", "nethermind"),
              probe("geth-3", "geth", block_hash=HASH_B), probe("neth-2", "nethermind", block_hash=HASH_B)]
    verdicts, _ = judge(probes)
    assert diverged(verdicts) == {"geth-3", "neth-2"}


def test_no_strict_majority_nobody_is_diverged_and_the_chain_is_critical():
    probes = [probe("geth-1", "geth"), probe("neth-1", "nethermind"),
              probe("geth-2", "geth", block_hash=HASH_B), probe("neth-2", "nethermind", block_hash=HASH_B)]
    verdicts, chain = judge(probes)
    assert diverged(verdicts) == set()
    assert {v.level for v in verdicts.values()} == {Level.OK}
    assert chain.level is Level.CRITICAL and "no majority" in chain.message


def test_two_endpoints_that_disagree_have_no_majority():
    verdicts, chain = judge([probe("a", "geth"), probe("b", "nethermind", block_hash=HASH_B)])
    assert diverged(verdicts) == set() and chain.level is Level.CRITICAL


hash_choice = st.sampled_from([HASH_A, HASH_B, HASH_C])
client_choice = st.sampled_from(["geth", "nethermind", "erigon", "besu", "reth"])


@SETTINGS
@given(members=st.lists(st.tuples(client_choice, hash_choice), min_size=1, max_size=9), data=st.data())
def test_divergence_properties(members: list[tuple[str, str]], data: st.DataObject):
    probes = [probe(f"n{i}", client, block_hash=h) for i, (client, h) in enumerate(members)]
    verdicts, chain = judge(probes)
    flagged = diverged(verdicts)
    hashes = {p.target.name: p.block_hash for p in probes}
    # a group is flagged whole or not at all, and somebody is always left on the majority
    assert all((n in flagged) == (m in flagged) for n in hashes for m in hashes if hashes[n] == hashes[m])
    assert len(flagged) < len(probes)
    assert len({hashes[n] for n in hashes if n not in flagged}) == 1 or not flagged
    # nobody is diverged unless the chain check says so
    if flagged or len(set(hashes.values())) > 1:
        assert chain.level is Level.CRITICAL
    else:
        assert chain.level is Level.OK
    # the names of the hashes do not matter, nor the order of the endpoints
    rename = dict(zip([HASH_A, HASH_B, HASH_C], data.draw(st.permutations([HASH_A, HASH_B, HASH_C]))))
    renamed = [probe(f"n{i}", client, block_hash=rename[h]) for i, (client, h) in enumerate(members)]
    assert diverged(judge(renamed)[0]) == flagged
    shuffled = data.draw(st.permutations([probe(f"n{i}", c, block_hash=h) for i, (c, h) in enumerate(members)]))
    assert diverged(judge(list(shuffled))[0]) == flagged


@SETTINGS
@given(hashes=st.lists(hash_choice, min_size=1, max_size=9))
def test_one_endpoint_per_client_the_strict_majority_of_endpoints_wins(hashes: list[str]):
    clients = ["geth", "nethermind", "erigon", "besu", "reth", "c6", "c7", "c8", "c9"]
    probes = []
    for i, h in enumerate(hashes):
        p = probe(f"n{i}", "geth", block_hash=h)
        p.client_version = f"{clients[i]}/v1.0.0"
        probes.append(p)
    verdicts, _ = judge(probes)
    counts = {h: hashes.count(h) for h in set(hashes)}
    top = max(counts, key=lambda h: counts[h])
    if 2 * counts[top] > len(hashes):
        assert diverged(verdicts) == {f"n{i}" for i, h in enumerate(hashes) if h != top}


def test_peers_below_the_minimum():
    verdicts, _ = judge(healthy_chain() + [probe("lonely", peers=0)])
    v = verdicts["lonely"]
    assert v.level is Level.WARNING and v.state == "peers" and "0 peers" in v.message
    assert v.healthy  # few peers is a warning, not a reason to leave the rotation
    verdicts, _ = judge(healthy_chain() + [probe("lonely", peers=0)], min_peers=0)
    assert verdicts["lonely"].level is Level.OK
    verdicts, _ = judge(healthy_chain() + [probe("few", peers=4)], min_peers=5)
    assert verdicts["few"].level is Level.WARNING
    verdicts, _ = judge(healthy_chain() + [probe("enough", peers=5)], min_peers=5)
    assert verdicts["enough"].level is Level.OK


def test_peers_unknown_is_not_zero():
    """net_peerCount "method not found" (anvil, some proxies): unknown, no WARNING."""
    p = probe("anvil", "geth", running="anvil", peers=None)
    p.notes.append("peers unknown (net_peerCount not served)")
    verdicts, _ = judge(healthy_chain() + [p], min_peers=3)
    v = verdicts["anvil"]
    assert v.level is Level.OK and "peers unknown" in v.message
    assert "peers" not in v.values and v.facts["peers"] is None
    # and an anvil where geth was planned is not a client mismatch (anvil is no provisioned client)
    assert "mismatch" not in v.states


def test_another_client_than_planned():
    verdicts, _ = judge(healthy_chain() + [probe("x", "geth", running="nethermind")])
    v = verdicts["x"]
    assert v.level is Level.WARNING and v.state == "mismatch"
    assert "runs nethermind, planned geth" in v.message
    assert v.healthy


def test_another_version_than_planned():
    verdicts, _ = judge(healthy_chain() + [probe("old", "geth", planned_version="1.18.0"),
                                           probe("same", "geth", planned_version="1.17.5")])
    assert verdicts["old"].level is Level.WARNING and verdicts["old"].state == "mismatch"
    assert "1.17.5" in verdicts["old"].message and "1.18.0" in verdicts["old"].message
    assert verdicts["same"].level is Level.OK
    verdicts, _ = judge(healthy_chain() + [probe("img", "geth", planned_image="ethereum/client-go:v1.18.0",
                                                 image="ethereum/client-go:v1.17.5")])
    assert verdicts["img"].level is Level.WARNING and "ethereum/client-go:v1.18.0" in verdicts["img"].message


def test_slow():
    verdicts, _ = judge(healthy_chain() + [probe("slow", elapsed_s=1.5), probe("fast", elapsed_s=0.9)])
    assert verdicts["slow"].level is Level.WARNING and verdicts["slow"].state == "slow"
    assert "1.50 s" in verdicts["slow"].message and verdicts["slow"].healthy
    assert verdicts["fast"].level is Level.OK


@pytest.mark.parametrize(("make", "state", "text"), [
    (lambda: down("x", "connection refused"), "unreachable", "connection refused"),
    (lambda: down("x", "no answer within 3 s"), "unreachable", "no answer within 3 s"),
    (lambda: ex.ExecProbe(ex.ExecTarget("x", "eth", "http://x.invalid", "geth", stopped="Exited (137) 5 minutes ago")),
     "stopped", "container not running (Exited (137) 5 minutes ago)"),
    (lambda: probe("x", head=None, block_hash=None, head_error="eth_blockNumber: internal error (-32603)"),
     "error", "internal error"),
])
def test_unreachable_stopped_and_erroring_are_critical(make, state, text):
    verdicts, chain = judge(healthy_chain() + [make()])
    v = verdicts["x"]
    assert v.level is Level.CRITICAL and v.state == state and text in v.message
    assert v.values["up"] == 0.0 and not v.healthy
    assert chain.level is Level.OK and "4 of 5 endpoints up" in chain.message


def test_a_single_endpoint_left_up():
    probes = [probe("last", "geth"), down("a"), down("b", client="nethermind"), down("c", client="erigon")]
    verdicts, chain = judge(probes)
    assert verdicts["last"].level is Level.OK
    assert "1 of 4 endpoints up" in chain.message
    assert chain.level is not Level.CRITICAL  # the sweep adds "no redundancy left" (WARNING)


def test_nothing_answers_and_no_endpoints():
    _, chain = judge([down("a"), down("b")])
    assert chain.level is Level.CRITICAL and "none of 2 endpoints answered" in chain.message
    verdicts, chain = ex.judge_chain("eth", [], **POLICY)
    assert verdicts == [] and chain.level is Level.OK


def test_several_problems_worst_first():
    verdicts, _ = judge(healthy_chain() + [probe("x", head=80, block_hash=None, peers=0, elapsed_s=2.0)])
    v = verdicts["x"]
    assert v.level is Level.CRITICAL and v.state == "lagging"
    assert set(v.states) == {"lagging", "peers", "slow"} and v.states[0] == "lagging"
    assert "20 blocks behind" in v.message and "0 peers" in v.message and "slow" in v.message


def test_judging_twice_gives_the_same_verdicts():
    """judge_chain is pure (found by this file: it appended 'hash not compared' to the probes)."""
    probes = healthy_chain() + [probe("x", block_hash=None, hash_error="no answer within 3 s")]
    notes_before = [list(p.notes) for p in probes]
    first, _ = judge(probes)
    second, _ = judge(probes)
    assert first["x"].message == second["x"].message
    assert first["x"].message.count("hash not compared") == 1
    assert [list(p.notes) for p in probes] == notes_before


# ----------------------------------------------------------------------------- host facts

DOCKER_PS = [
    {"Command": "\"geth --http --http.addr 10.0.0.5\"", "CreatedAt": "2026-11-30 10:00:00 +0000 UTC",
     "ID": "4c0ffee1", "Image": "ethereum/client-go:v1.17.5",
     "Labels": "io.fleetctl.chain=eth,io.fleetctl.client=geth,io.fleetctl.managed=true,"
               "io.fleetctl.name=fleet-eth-geth-0,io.fleetctl.role=node,io.fleetctl.slot=0,io.fleetctl.spec=0a1b",
     "LocalVolumes": "1", "Mounts": "fleet-eth-geth-0", "Names": "fleet-eth-geth-0", "Networks": "host",
     "Ports": "", "RunningFor": "2 hours ago", "Size": "0B", "State": "running", "Status": "Up 2 hours"},
    {"Command": "\"./Nethermind.Runner\"", "CreatedAt": "2026-11-30 10:00:00 +0000 UTC", "ID": "5deadbee",
     "Image": "nethermind/nethermind:1.39.3",
     "Labels": "io.fleetctl.chain=eth,io.fleetctl.client=nethermind,io.fleetctl.managed=true,"
               "io.fleetctl.name=fleet-eth-nethermind-1,io.fleetctl.role=node,io.fleetctl.slot=1,io.fleetctl.spec=2c3d",
     "LocalVolumes": "1", "Mounts": "fleet-eth-nethermind-1", "Names": "fleet-eth-nethermind-1",
     "Networks": "host", "Ports": "", "RunningFor": "2 hours ago", "Size": "0B", "State": "exited",
     "Status": "Exited (137) 5 minutes ago"},
    {"Command": "\"haproxy -f /usr/local/etc/haproxy/haproxy.cfg\"", "CreatedAt": "2026-11-30 10:00:00 +0000 UTC",
     "ID": "6abcdef0", "Image": "haproxy:3.2.23",
     "Labels": "io.fleetctl.chain=eth,io.fleetctl.managed=true,io.fleetctl.name=lb-eth,io.fleetctl.role=balancer,"
               "io.fleetctl.spec=4e5f",
     "LocalVolumes": "0", "Mounts": "/etc/fleetctl/balancer/lb-eth", "Names": "lb-eth", "Networks": "host",
     "Ports": "", "RunningFor": "2 hours ago", "Size": "0B", "State": "running", "Status": "Up 2 hours"},
]


def facts_text(*, nproc: str = "8", loadavg: str = "1.20 2.40 1.80 3/512 12345",
               meminfo: tuple[int, int] = (32_000_000, 16_000_000), containers: list[str] | None = None,
               docker: str = "ok", volumes: list[str] | None = None, df: list[str] | None = None,
               end: bool = True) -> str:
    """What FACTS_SCRIPT prints (see fleetctl/health/hostfacts.py)."""
    lines = ["@@nproc", nproc, "@@loadavg", loadavg, "@@meminfo",
             f"MemTotal:       {meminfo[0]} kB", f"MemAvailable:   {meminfo[1]} kB"]
    if docker == "none":
        lines.append("@@nodocker")
    else:
        lines.append("@@containers")
        if docker == "error":
            lines += ["Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                      "Is the docker daemon running?", "@@docker-error"]
        else:
            lines += containers if containers is not None else [json.dumps(c) for c in DOCKER_PS]
        lines.append("@@volumes")
        lines += volumes or []
    lines.append("@@df")
    lines += df if df is not None else [
        "Filesystem     1024-blocks      Used Available Capacity Mounted on",
        "/dev/sda1        102400000  20480000  81920000      20% /"]
    if end:
        lines.append("@@end")
    return "\n".join(lines) + "\n"


def test_facts_script_is_fixed_posix_sh_with_the_sections_parse_reads():
    for section in ("@@nproc", "@@loadavg", "@@meminfo", "@@containers", "@@volumes", "@@df", "@@end"):
        assert f"echo {section}" in FACTS_SCRIPT
    assert "{{json .}}" in FACTS_SCRIPT and "df -Pk" in FACTS_SCRIPT


def test_parse_facts_full():
    volumes = ["fleet-eth-geth-0\t/var/lib/docker/volumes/fleet-eth-geth-0/_data",
               "fleet-eth-nethermind-1\t/data/docker-volumes/fleet-eth-nethermind-1/_data"]
    df = ["Filesystem     1024-blocks      Used Available Capacity Mounted on",
          "/dev/nvme0n1p2  1952559608 1562047686 390511922      80% /var/lib/docker",
          "/dev/nvme0n1p2  1952559608 1562047686 390511922      80% /var/lib/docker",
          "/dev/sdb1       3905110000  390511000 3514599000      10% /data"]
    f = parse_facts(facts_text(volumes=volumes, df=df))
    assert f.problems == [] and f.docker and f.docker_error is None
    assert f.cpus == 8 and f.load1 == 1.2 and f.load5 == 2.4 and f.load5_per_cpu == pytest.approx(0.3)
    assert f.mem_available_pct == pytest.approx(50.0)
    by_name = {c.name: c for c in f.containers}
    assert sorted(by_name) == ["fleet-eth-geth-0", "fleet-eth-nethermind-1", "lb-eth"]
    geth = by_name["fleet-eth-geth-0"]
    assert (geth.role, geth.chain, geth.client, geth.slot, geth.running) == ("node", "eth", "geth", 0, True)
    assert geth.image == "ethereum/client-go:v1.17.5" and geth.rpc_port == 8545 and geth.status == "Up 2 hours"
    neth = by_name["fleet-eth-nethermind-1"]
    assert neth.running is False and neth.status.startswith("Exited (137)") and neth.rpc_port == 8555
    lb = by_name["lb-eth"]
    assert (lb.role, lb.chain, lb.client, lb.slot, lb.rpc_port) == ("balancer", "eth", None, None, None)
    disks = {d.mount: d for d in f.disks}
    assert sorted(disks) == ["/data", "/var/lib/docker"]
    assert disks["/var/lib/docker"].volumes == ("fleet-eth-geth-0",)
    assert disks["/data"].volumes == ("fleet-eth-nethermind-1",)
    assert disks["/var/lib/docker"].free_pct == pytest.approx(100 * 390511922 / 1952559608)
    assert disks["/data"].avail_kib == 3514599000


def test_parse_facts_one_disk_per_device():
    """Two paths on one filesystem (a bind mount) are one disk, named by the mount with volumes."""
    volumes = ["fleet-eth-geth-0\t/srv/fleet/fleet-eth-geth-0"]
    df = ["Filesystem     1024-blocks      Used Available Capacity Mounted on",
          "/dev/sda1        102400000  20480000  81920000      20% /",
          "/dev/sda1        102400000  20480000  81920000      20% /srv/fleet"]
    f = parse_facts(facts_text(volumes=volumes, df=df))
    assert [(d.mount, d.volumes) for d in f.disks] == [("/srv/fleet", ("fleet-eth-geth-0",))]


def test_parse_facts_mount_with_spaces_and_no_header():
    df = ["/dev/sdc1 1000 900 100 90% /mnt/my data"]
    f = parse_facts(facts_text(df=df))
    assert [(d.mount, d.size_kib, d.avail_kib) for d in f.disks] == [("/mnt/my data", 1000, 100)]


def test_parse_facts_without_docker():
    f = parse_facts(facts_text(docker="none"))
    assert f.docker is False and f.docker_error is None and f.containers == [] and f.problems == []
    assert [d.mount for d in f.disks] == ["/"]


def test_parse_facts_docker_daemon_down():
    f = parse_facts(facts_text(docker="error"))
    assert f.docker is True and f.containers == []
    assert f.docker_error is not None and "Cannot connect to the Docker daemon" in f.docker_error
    assert f.problems == []  # the host itself was read


def test_parse_facts_docker_permission_denied_keeps_the_first_line():
    line = ("permission denied while trying to connect to the Docker daemon socket at "
            "unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.47/containers/json\"")
    f = parse_facts(facts_text(containers=[line], volumes=[]).replace("@@volumes", "@@docker-error\n@@volumes"))
    assert f.docker_error is not None and f.docker_error.startswith("permission denied")
    assert len(f.docker_error) <= 200


def test_a_docker_cli_warning_does_not_hide_the_containers():
    warning = "WARNING: Error loading config file: /root/.docker/config.json: open /root/.docker/config.json: " \
              "permission denied"
    f = parse_facts(facts_text(containers=[warning] + [json.dumps(c) for c in DOCKER_PS]))
    assert len(f.containers) == 3
    assert f.docker_error is None


@pytest.mark.parametrize("cut_after", ["@@nproc", "@@loadavg", "@@meminfo", "@@containers", "@@df"])
def test_parse_facts_truncated(cut_after: str):
    text = facts_text()
    f = parse_facts(text[:text.index(cut_after) + len(cut_after) + 1])
    assert "facts output ended early" in f.problems
    assert len(f.problems) >= 2  # and what could not be read is named
    check = judge_host(Host("h1", "10.0.0.1"), SshResult("h1", 0, text.encode()), f, HealthPolicy())
    assert check.level is Level.UNKNOWN


def test_parse_facts_garbage():
    f = parse_facts("bash: line 1: getconf: command not found\nsegfault\n")
    assert "facts output ended early" in f.problems and "disk usage unreadable" in f.problems
    assert "CPU count unreadable" in f.problems and "memory unreadable" in f.problems
    assert f.containers == [] and f.disks == []


def host_check(policy: HealthPolicy, *, free_pct: float = 50.0, mem_pct: float = 50.0, load_per_cpu: float = 0.5,
               docker: str = "ok"):
    size = 1_000_000_000
    df = ["Filesystem     1024-blocks      Used Available Capacity Mounted on",
          f"/dev/sda1 {size} {size - int(size * free_pct / 100)} {int(size * free_pct / 100)} 50% /"]
    text = facts_text(nproc="4", loadavg=f"0.00 {4 * load_per_cpu:.2f} 0.00 1/100 1", df=df,
                      meminfo=(10_000_000, int(10_000_000 * mem_pct / 100)), docker=docker)
    return judge_host(Host("h1", "10.0.0.1"), SshResult("h1", 0, text.encode()), parse_facts(text), policy)


@pytest.fixture(scope="module")
def fleet_policy(tmp_path_factory) -> HealthPolicy:
    """The thresholds as fleet.yml gives them."""
    root = tmp_path_factory.mktemp("policy")
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 10.0.0.1}\n")
    (root / "fleet.yml").write_text(textwrap.dedent("""\
        pocket: {rest_url: 'http://127.0.0.1:1317'}
        chains:
          eth: {clients: [geth], replicas: 1}
        health:
          disk_warning: 30%
          disk_critical: "12.5%"
          memory_warning: 15%
          memory_critical: 5%
          load_warning: 1.5
          load_critical: 3
        """))
    policy = load_inventory(root).health
    assert (policy.disk_warning_pct, policy.disk_critical_pct) == (30.0, 12.5)
    assert (policy.memory_warning_pct, policy.memory_critical_pct, policy.load_warning, policy.load_critical) == \
        (15.0, 5.0, 1.5, 3.0)
    return policy


@pytest.mark.parametrize(("free", "level"), [(80, Level.OK), (31, Level.OK), (29, Level.WARNING),
                                             (13, Level.WARNING), (12, Level.CRITICAL), (0.5, Level.CRITICAL)])
def test_host_disk_thresholds(fleet_policy, free, level):
    check = host_check(fleet_policy, free_pct=free)
    assert check.level is level, check.message
    if level is not Level.OK:
        assert "disk /" in check.message and "% free" in check.message
    assert check.kind == "host" and check.target == "h1"
    values = {s.name: s for s in check.samples}
    assert values["disk_free_ratio"].value == pytest.approx(free / 100, abs=1e-4)
    assert values["disk_free_ratio"].labels == (("mount", "/"),)


@pytest.mark.parametrize(("mem", "level"), [(60, Level.OK), (16, Level.OK), (14, Level.WARNING),
                                            (6, Level.WARNING), (4, Level.CRITICAL)])
def test_host_memory_thresholds(fleet_policy, mem, level):
    check = host_check(fleet_policy, mem_pct=mem)
    assert check.level is level, check.message
    if level is not Level.OK:
        assert "memory" in check.message


@pytest.mark.parametrize(("load", "level"), [(0.1, Level.OK), (1.4, Level.OK), (1.6, Level.WARNING),
                                             (2.9, Level.WARNING), (3.1, Level.CRITICAL), (12, Level.CRITICAL)])
def test_host_load_thresholds(fleet_policy, load, level):
    check = host_check(fleet_policy, load_per_cpu=load)
    assert check.level is level, check.message
    if level is not Level.OK:
        assert "load" in check.message and "per CPU" in check.message


def test_host_worst_of_several_and_every_problem_named(fleet_policy):
    check = host_check(fleet_policy, free_pct=5, mem_pct=10, load_per_cpu=2)
    assert check.level is Level.CRITICAL
    assert "disk" in check.message and "memory" in check.message and "load" in check.message


def test_host_docker_problem_is_a_warning(fleet_policy):
    check = host_check(fleet_policy, docker="error")
    assert check.level is Level.WARNING and "docker" in check.message and "Cannot connect" in check.message


def test_host_stopped_containers_are_named(fleet_policy):
    check = host_check(fleet_policy)
    assert "stopped: fleet-eth-nethermind-1" in check.message
    assert {s.name: s.value for s in check.samples}["containers_stopped"] == 1.0


def test_host_unreachable_and_not_checked_in_time(fleet_policy):
    host = Host("h1", "10.0.0.1")
    check = judge_host(host, SshResult("h1", None, error="ssh to 10.0.0.1:22: connection refused"), None, fleet_policy)
    assert check.level is Level.CRITICAL and "connection refused" in check.message
    assert {s.name: s.value for s in check.samples} == {"up": 0.0}
    check = judge_host(host, SshResult("h1", 127, b"", b"sh: 1: getconf: not found\n"), None, fleet_policy)
    assert check.level is Level.CRITICAL and "exited 127" in check.message
    check = judge_host(host, None, None, fleet_policy)
    assert check.level is Level.UNKNOWN and "not checked in time" in check.message


@SETTINGS
@given(a=st.floats(0, 100), b=st.floats(0, 100))
def test_less_free_disk_is_never_better(a: float, b: float):
    policy = HealthPolicy()
    lo, hi = sorted((a, b))
    assert host_check(policy, free_pct=lo).level.severity >= host_check(policy, free_pct=hi).level.severity


# ----------------------------------------------------------------------------- HAProxy stats

# The first lines of `GET /stats;csv` as HAProxy 2.6.12 (Debian 12) printed them on this machine for
# playbooks/roles/balancer/templates/haproxy.cfg.j2's layout (frontend, backend eth-nodes, stats).
HAPROXY_HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,"
    "act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,"
    "rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,"
    "hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,"
    "last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,"
    "check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,"
    "conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,"
    "qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,"
    "agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,"
    "h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,"
    "h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,"
    "h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,"
    "h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,"
    "h1_spliced_bytes_in,h1_spliced_bytes_out,")
HAPROXY_FRONTEND = (
    "lb-eth,FRONTEND,,,0,0,256,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,"
    ",,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,")
HAPROXY_SERVER = (
    "eth-nodes,eth-geth-a,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,6,0,,1,3,1,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,"
    "0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,"
    ",,,,,,,,,,,,,,,,,,,,,")
HAPROXY_BACKEND = (
    "eth-nodes,BACKEND,0,0,0,0,26,0,0,0,0,0,,0,0,0,0,UP,4,4,0,,0,6,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,"
    "0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,4,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
    "0,0,23,23,3841,3910,0,0,")
HAPROXY_STATS_SECTION = (
    "stats,FRONTEND,,,1,1,256,2,91,3336,0,0,0,,,,,OPEN,,,,,,,,,1,4,0,,,,0,1,0,1,,,,0,1,0,0,0,0,,1,1,2,,,0,0,0,0,"
    ",,,,,,,,,,,,,,,,,,,,http,,1,1,2,2,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,2,2,176,"
    "3345,0,0,")
FIELDS = HAPROXY_HEADER[2:].split(",")


def server_row(name: str, status: str, check: str = "L7OK", backend: str = "eth-nodes") -> str:
    row = next(csv.reader([HAPROXY_SERVER]))
    assert len(row) == len(FIELDS)
    row[FIELDS.index("pxname")], row[FIELDS.index("svname")] = backend, name
    row[FIELDS.index("status")], row[FIELDS.index("check_status")] = status, check
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def stats_csv(*servers: tuple[str, str, str]) -> str:
    lines = [HAPROXY_HEADER, HAPROXY_FRONTEND] + [server_row(*s) for s in servers]
    return "\n".join(lines + [HAPROXY_BACKEND, HAPROXY_STATS_SECTION]) + "\n"


def balancer(*servers: tuple[str, str, str]) -> sv.BalancerRead:
    read = sv.BalancerRead("lb-host", "lb-eth", "eth", "http://127.0.0.1:1/stats;csv")
    parsed = sv.parse_haproxy_csv(stats_csv(*servers), "eth-nodes")
    assert parsed is not None
    read.servers = parsed
    return read


def test_parse_the_real_header_and_rows():
    text = stats_csv(("eth-geth-a", "UP", "L7OK"), ("eth-neth", "DOWN", "L4CON"), ("eth-erigon", "MAINT", ""))
    servers = sv.parse_haproxy_csv(text, "eth-nodes")
    assert servers == [sv.ServerState("eth-geth-a", "UP", "L7OK"), sv.ServerState("eth-neth", "DOWN", "L4CON"),
                       sv.ServerState("eth-erigon", "MAINT", "")]
    assert sv.parse_haproxy_csv(text, "lb-eth") == []  # a frontend alone has no servers
    assert sv.parse_haproxy_csv(text, "gnosis-nodes") is None  # not there
    with pytest.raises(ValueError):
        sv.parse_haproxy_csv("<html>503 Service Unavailable</html>", "eth-nodes")
    with pytest.raises(ValueError):
        sv.parse_haproxy_csv("", "eth-nodes")


@pytest.mark.parametrize(("status", "up", "down", "maint"), [
    ("UP", True, False, False), ("UP 1/2", True, False, False), ("UP 1/3", True, False, False),
    ("DOWN", False, True, False), ("DOWN 1/2", False, True, False), ("no check", True, False, False),
    ("MAINT", False, False, True), ("MAINT (via eth-nodes/other)", False, False, True),
    ("MAINT (resolution)", False, False, True), ("DRAIN", False, False, False), ("NOLB", False, False, False),
])
def test_server_states(status, up, down, maint):
    s = sv.ServerState("x", status)
    assert (s.up, s.down, s.maint) == (up, down, maint)


def test_balancer_all_up():
    level, message, values = sv.judge_balancer(balancer(("a", "UP", "L7OK"), ("b", "UP", "L7OK"), ("c", "UP", "L7OK")))
    assert level is Level.OK and "3 of 3 backends up" in message
    assert values == {"up": 1.0, "backends_total": 3.0, "backends_up": 3.0, "backends_down": 0.0,
                      "backends_maint": 0.0}


def test_balancer_some_down_and_in_transition():
    level, message, values = sv.judge_balancer(balancer(("a", "UP", "L7OK"), ("b", "UP 1/2", "L7STS"),
                                                        ("c", "DOWN", "L4CON"), ("d", "DOWN 1/2", "L7OK")))
    assert level is Level.WARNING
    assert "2 of 4 backends up" in message and "c (L4CON)" in message and "d (DOWN 1/2)" in message
    assert values["backends_down"] == 2.0 and values["backends_up"] == 2.0


def test_balancer_maint_and_drain():
    read = balancer(("a", "UP", "L7OK"), ("b", "UP", "L7OK"), ("c", "MAINT", ""), ("d", "MAINT", ""),
                    ("e", "DRAIN", "L7OK"))
    level, message, values = sv.judge_balancer(read, pulled={"c"})
    assert level is Level.OK
    assert "pulled by fleetctl: c" in message and "in maintenance: d" in message and "e DRAIN" in message
    assert values["backends_maint"] == 2.0 and values["backends_down"] == 0.0


def test_balancer_one_left_of_several():
    level, message, _ = sv.judge_balancer(balancer(("a", "UP", "L7OK"), ("b", "MAINT", ""), ("c", "DRAIN", "")))
    assert level is Level.WARNING and "1 of 3 backends up" in message
    assert sv.judge_balancer(balancer(("only", "UP", "L7OK")))[0] is Level.OK


@pytest.mark.parametrize("servers", [
    [("a", "DOWN", "L4CON"), ("b", "DOWN", "L7STS")],
    [("a", "MAINT", ""), ("b", "MAINT", "")],
    [("a", "DRAIN", ""), ("b", "DOWN 1/2", "")],
])
def test_balancer_no_server_up_is_critical(servers):
    level, message, _ = sv.judge_balancer(balancer(*servers))
    assert level is Level.CRITICAL and "no backend up" in message


def test_balancer_unreadable_and_missing_backend():
    read = sv.BalancerRead("h", "lb-eth", "eth", "u", error="stats unreachable: connection refused")
    level, message, values = sv.judge_balancer(read)
    assert level is Level.CRITICAL and "connection refused" in message and values == {"up": 0.0}
    read = sv.BalancerRead("h", "lb-eth", "eth", "u", missing_backend=True)
    level, message, _ = sv.judge_balancer(read)
    assert level is Level.UNKNOWN and "eth-nodes" in message
    level, message, _ = sv.judge_balancer(sv.BalancerRead("h", "lb-eth", "eth", "u"))
    assert level is Level.CRITICAL and "no backends" in message


# ----------------------------------------------------------------------------- Pocket node


@pytest.mark.parametrize(("lag", "catching_up", "level"), [
    (0, False, Level.OK), (4, False, Level.OK), (5, False, Level.WARNING), (19, False, Level.WARNING),
    (20, False, Level.CRITICAL), (0, True, Level.WARNING), (25, True, Level.CRITICAL)])
def test_pocket_node_levels(lag, catching_up, level):
    read = sv.PocketNodeRead("pocket-node", "http://127.0.0.1:1", height=1000 - lag, catching_up=catching_up)
    got, message, values = sv.judge_pocket_node(read, 1000, lag_warning=5, lag_critical=20)
    assert got is level and f"{lag} behind" in message
    assert values["lag_blocks"] == lag
    assert ("catching up" in message) == (catching_up and level is not Level.CRITICAL)


def test_pocket_node_unknown_network_and_unreachable():
    read = sv.PocketNodeRead("pocket-node", "u", height=1000)
    assert sv.judge_pocket_node(read, None, lag_warning=5, lag_critical=20)[0] is Level.UNKNOWN
    read = sv.PocketNodeRead("pocket-node", "u", error="connection refused")
    level, message, values = sv.judge_pocket_node(read, 1000, lag_warning=5, lag_critical=20)
    assert level is Level.CRITICAL and "connection refused" in message and values == {"up": 0.0}


def test_comet_url():
    assert sv.comet_url("tcp://127.0.0.1:26657") == "http://127.0.0.1:26657"
    assert sv.comet_url("https://rpc.example/") == "https://rpc.example"


# ----------------------------------------------------------------------------- remediation

# Endpoints outside the pool anchor the chain: more endpoints than any pool here, of four other
# implementations, at the head on hash A (whatever the pool's servers do, the majority is theirs).
WITNESSES = [probe(f"w-{i}-{c}", c) for i, c in enumerate(["besu", "reth", "nethermind", "erigon"] * 2)]
STATE_PROBES = {
    "healthy": lambda n: probe(n, "geth"),
    "lagging": lambda n: probe(n, "geth", head=80, block_hash=None),
    "syncing": lambda n: probe(n, "geth", head=100, block_hash=None,
                               syncing={"currentBlock": hex(100), "highestBlock": hex(100)}),
    "diverged": lambda n: probe(n, "geth", block_hash=HASH_B),
    "unreachable": lambda n: down(n),
    "slow": lambda n: probe(n, "geth", elapsed_s=5.0),  # a WARNING that keeps it in rotation
}


def verdicts_for(states: dict[str, str]) -> dict[str, ex.Verdict]:
    probes = [STATE_PROBES[s](name) for name, s in states.items() if s != "none"] + \
        [probe(w.target.name, w.target.client) for w in WITNESSES]
    verdicts, _ = judge(probes)
    for name, s in states.items():
        if s in ("lagging", "syncing", "diverged"):
            assert s in verdicts[name].states
        if s in ("healthy", "slow"):
            assert verdicts[name].healthy
    return verdicts


def pool(*servers: tuple[str, str]) -> sv.BalancerRead:
    return balancer(*((name, status, "L7OK") for name, status in servers))


def actions_of(plan: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for act in plan:
        out.setdefault(act["server"], []).append(act["action"])
    return out


@pytest.mark.parametrize("bad", ["diverged", "lagging", "syncing"])
def test_pull_a_bad_backend(bad):
    read = pool(("a", "UP"), ("b", "UP"), ("x", "UP"))
    plan = rm.plan_actions(read, verdicts_for({"a": "healthy", "b": "healthy", "x": bad}), {}, rise=3)
    assert actions_of(plan) == {"x": ["pull"]}
    assert plan[0]["state"] == bad and plan[0]["reason"]


def test_warnings_that_do_not_serve_wrong_data_stay_in_rotation():
    read = pool(("a", "UP"), ("slow", "UP"), ("gone", "DOWN"))
    plan = rm.plan_actions(read, verdicts_for({"a": "healthy", "slow": "slow", "gone": "unreachable"}), {}, rise=3)
    assert plan == []  # HAProxy's own checks deal with the unreachable one


def test_several_bad_ones_are_pulled_while_a_healthy_one_remains():
    read = pool(("a", "UP"), ("x", "UP"), ("y", "UP 1/2"), ("z", "UP"))
    plan = rm.plan_actions(read, verdicts_for({"a": "healthy", "x": "diverged", "y": "lagging", "z": "syncing"}),
                           {}, rise=3)
    assert actions_of(plan) == {"x": ["pull"], "y": ["pull"], "z": ["pull"]}


@pytest.mark.parametrize(("servers", "states"), [
    ([("x", "UP")], {"x": "diverged"}),  # the only one
    ([("x", "UP"), ("y", "UP")], {"x": "lagging", "y": "diverged"}),  # nobody healthy
    ([("a", "MAINT"), ("x", "UP")], {"a": "healthy", "x": "diverged"}),  # the healthy one is out already
    ([("a", "DOWN"), ("x", "UP")], {"a": "healthy", "x": "lagging"}),  # HAProxy does not route to it
    ([("a", "DRAIN"), ("x", "UP")], {"a": "healthy", "x": "syncing"}),
    ([("a", "UP"), ("x", "UP")], {"a": "unreachable", "x": "syncing"}),
    ([("a", "UP"), ("x", "UP")], {"a": "none", "x": "diverged"}),  # not checked: not known healthy
])
def test_never_pull_the_last_healthy_backend(servers, states):
    plan = rm.plan_actions(pool(*servers), verdicts_for(states), {}, rise=3)
    assert not [a for a in plan if a["action"] == "pull"]
    kept = [a for a in plan if a["action"] == "keep"]
    assert kept and all(a["reason"] for a in kept)


def test_restore_only_after_rise_healthy_runs():
    read = pool(("a", "UP"), ("x", "MAINT"))
    verdicts = verdicts_for({"a": "healthy", "x": "healthy"})
    for runs_before, expected in ((0, "count"), (1, "count"), (2, "restore")):
        plan = rm.plan_actions(read, verdicts, {"x": {"healthy_runs": runs_before}}, rise=3)
        assert actions_of(plan) == {"x": [expected]}
        assert plan[0]["healthy_runs"] == runs_before + 1
    plan = rm.plan_actions(read, verdicts, {"x": {"healthy_runs": 0}}, rise=1)
    assert actions_of(plan) == {"x": ["restore"]}


@pytest.mark.parametrize("bad", ["diverged", "lagging", "syncing", "unreachable", "none"])
def test_an_unhealthy_run_resets_the_count(bad):
    read = pool(("a", "UP"), ("x", "MAINT"))
    plan = rm.plan_actions(read, verdicts_for({"a": "healthy", "x": bad}), {"x": {"healthy_runs": 2}}, rise=3)
    assert actions_of(plan) == {"x": ["reset"]} and plan[0]["healthy_runs"] == 0


def test_found_back_in_rotation_while_unhealthy_is_pulled_again():
    read = pool(("a", "UP"), ("x", "UP"))  # HAProxy was restarted: x is back
    plan = rm.plan_actions(read, verdicts_for({"a": "healthy", "x": "diverged"}), {"x": {"healthy_runs": 1}}, rise=3)
    assert actions_of(plan) == {"x": ["reset", "pull"]}
    assert [a for a in plan if a["action"] == "pull"][0]["again"] is True


def test_servers_gone_from_the_pool_are_forgotten():
    read = pool(("a", "UP"), ("b", "UP"))
    plan = rm.plan_actions(read, verdicts_for({"a": "healthy", "b": "healthy"}),
                           {"old": {"healthy_runs": 0}}, rise=3)
    assert plan == [{"action": "forget", "server": "old"}]


def test_a_re_pull_never_empties_the_pool():
    """Found by this file: the re-pull path skipped the last-backend guard."""
    # x was pulled while a was healthy; HAProxy restarted (x back in rotation, still lagging) and a
    # has since died: x is the only server HAProxy can route to, and the first rule would keep it.
    read = pool(("a", "DOWN"), ("x", "UP"))
    plan = rm.plan_actions(read, verdicts_for({"a": "unreachable", "x": "lagging"}), {"x": {"healthy_runs": 0}},
                           rise=3)
    assert not [a for a in plan if a["action"] == "pull"], plan
    assert [a["action"] for a in plan if a["server"] == "x"] == ["reset", "keep"]


SERVER_STATUS = st.sampled_from(["UP", "UP 1/2", "DOWN", "DOWN 1/2", "MAINT", "DRAIN", "no check"])
ENDPOINT_STATE = st.sampled_from(sorted(STATE_PROBES) + ["none"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(servers=st.lists(st.tuples(SERVER_STATUS, ENDPOINT_STATE, st.none() | st.integers(0, 5)),
                        min_size=1, max_size=6),
       rise=st.integers(1, 4))
def test_remediation_properties(servers, rise):
    names = [f"s{i}" for i in range(len(servers))]
    read = pool(*((n, status) for n, (status, _, _) in zip(names, servers)))
    verdicts = verdicts_for({n: state for n, (_, state, _) in zip(names, servers)})
    pulled = {n: {"healthy_runs": runs} for n, (_, _, runs) in zip(names, servers) if runs is not None}
    plan = rm.plan_actions(read, verdicts, pulled, rise)

    def healthy(n: str) -> bool:
        return n in verdicts and verdicts[n].healthy

    def serving_healthy(statuses: dict[str, str]) -> list[str]:
        return [n for n in names if sv.ServerState(n, statuses[n]).up and healthy(n)]

    before = {n: status for n, (status, _, _) in zip(names, servers)}
    after = dict(before)
    for act in plan:
        if act["action"] == "pull":
            after[act["server"]] = "MAINT"
    # whatever the mix: a pool that had a healthy server in rotation still has one,
    # and fleetctl never takes the last server HAProxy routes to out of its pool
    if serving_healthy(before):
        assert serving_healthy(after)
    if any(sv.ServerState(n, before[n]).up for n in names):
        assert any(sv.ServerState(n, after[n]).up for n in names)
    for act in plan:
        n = act["server"]
        if act["action"] == "pull":  # only bad ones, only those in rotation
            assert not healthy(n) and not sv.ServerState(n, before[n]).maint
            assert set(verdicts[n].states) & {"diverged", "lagging", "syncing"}
        if act["action"] == "restore":  # only recorded ones, healthy, after `rise` runs
            assert n in pulled and healthy(n) and pulled[n]["healthy_runs"] + 1 >= rise
        if act["action"] == "count":
            assert n in pulled and healthy(n) and pulled[n]["healthy_runs"] + 1 < rise
        if act["action"] == "forget":
            assert n not in names
    assert all(a["server"] in pulled for a in plan if a["action"] in ("count", "reset", "restore"))


def test_runtime_command_quotes_and_targets_the_admin_socket():
    host = Host("lb-1", "10.0.0.9", vars={"fleet_config_root": "/srv/fleet cfg/{{ inventory_hostname }}"})
    assert rm.admin_socket(host, "lb-eth") == "/srv/fleet cfg/lb-1/balancer/lb-eth/run/admin.sock"
    command = rm.runtime_command(host, "lb-eth", "set server eth-nodes/x state maint")
    assert command.startswith("python3 -c ")
    assert "'/srv/fleet cfg/lb-1/balancer/lb-eth/run/admin.sock'" in command
    assert command.endswith("'set server eth-nodes/x state maint'")
    assert rm.admin_socket(Host("h", "a"), "lb-eth") == "/etc/fleetctl/balancer/lb-eth/run/admin.sock"
    with pytest.raises(ValueError):
        rm.admin_socket(Host("h", "a", vars={"fleet_config_root": "{{ undefined_var }}"}), "lb-eth")


# ----------------------------------------------------------------------------- the report


def check(target: str, kind: str, level: Level, message: str = "", values: dict[str, float] | None = None,
          labels: dict[str, str] | None = None, facts: dict[str, Any] | None = None,
          extra: tuple[rp.Sample, ...] = ()) -> rp.Check:
    return rp.Check(target, kind, level, message or f"{kind} {target} {level.name.lower()}", facts or {},
                    rp.samples(values or {}) + extra, labels or {})


def sample_report(*levels: Level) -> rp.HealthReport:
    checks = [
        check("eth", "chain", Level.OK, "4 of 4 endpoints up", {"endpoints_up": 4, "reference_head": 100},
              {"chain": "eth"}),
        check("eth-geth-1", "execution", Level.OK, "block 100", {"up": 1, "lag_blocks": 0, "head_block": 100},
              {"chain": "eth", "client": "geth", "host": "h1"}, {"state": "ok"}),
        check("eth-legacy", "execution", Level.OK, "block 99", {"up": 1, "lag_blocks": 1, "head_block": 99},
              {"chain": "eth", "client": "erigon"}, {"state": "ok"}),  # adopted: no host label
        check("h1", "host", Level.OK, "fine", {"up": 1}, {"host": "h1"},
              extra=(rp.Sample("disk_free_ratio", 0.42, (("mount", "/var/lib/docker"),)),
                     rp.Sample("disk_free_ratio", 0.9, (("mount", "/data"),)))),
        check("pokt1e8ksudsrczj875u87wzmn6t2639qhmhlwk3re2", "stake", Level.OK, "stake 2,000 POKT",
              {"upokt": 2e9, "margin_upokt": 1e9}, {"name": "sup-01"}, {"margin_upokt": 1_000_000_000}),
    ]
    for i, level in enumerate(levels):
        checks.append(check(f"eth-x{i}", "execution", level, f"problem {i}", {"up": 1, "lag_blocks": 12 + i},
                            {"chain": "eth", "client": "geth", "host": "h2"},
                            {"state": "diverged" if level is Level.CRITICAL else "lagging"}))
    return rp.HealthReport(checked_at="2026-12-01T00:00:00+00:00", duration_s=0.4321, checks=checks)


@pytest.mark.parametrize(("levels", "status"), [
    ((), Level.OK),
    ((Level.WARNING,), Level.WARNING),
    ((Level.WARNING, Level.UNKNOWN), Level.UNKNOWN),
    ((Level.UNKNOWN, Level.CRITICAL, Level.WARNING), Level.CRITICAL),
    ((Level.CRITICAL,), Level.CRITICAL),
])
def test_status_and_exit_code_are_the_worst(levels, status):
    report = sample_report(*levels)
    assert report.status is status
    assert report.exit_code == {Level.OK: 0, Level.WARNING: 1, Level.CRITICAL: 2, Level.UNKNOWN: 3}[status]
    assert report.nagios_line().startswith(f"HEALTH {status.name} - ")


def test_a_sweep_that_could_not_run_is_unknown():
    report = rp.HealthReport("2026-12-01T00:00:00+00:00", 0.0, [], error="inventory unusable")
    assert report.status is Level.UNKNOWN and report.exit_code == 3
    assert report.nagios_line().startswith("HEALTH UNKNOWN - inventory unusable |")


PERF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(-?[0-9]+(?:\.[0-9]+)?)(s|ms|%|B|KB|MB|GB|TB|c)?$")


def test_nagios_line():
    report = sample_report(Level.WARNING, Level.CRITICAL)
    line = report.nagios_line()
    assert "\n" not in line and line.count("|") == 1
    head, perf = line.split(" | ")
    assert head.startswith("HEALTH CRITICAL - 1 critical, 1 warning of 7 checks; execution eth-x1: problem 1")
    assert all(PERF.match(p) for p in perf.split()), perf
    pairs = dict(PERF.match(p).group(1, 2) for p in perf.split())  # type: ignore[union-attr]
    assert pairs["checks"] == "7" and pairs["critical"] == "1" and pairs["warning"] == "1"
    assert pairs["ok"] == "5" and pairs["unknown"] == "0"
    assert pairs["max_lag_blocks"] == "13" and pairs["diverged"] == "1"
    assert pairs["min_disk_free"] == "42.0" and pairs["min_stake_margin_upokt"] == "1000000000"
    assert "duration=0.432s" in perf


def test_nagios_line_survives_pipes_and_newlines_in_messages():
    report = sample_report(Level.WARNING)
    report.checks.append(check("evil|target", "chain", Level.CRITICAL, "line one\nline two | with a pipe"))
    line = report.nagios_line()
    assert "\n" not in line and line.count("|") == 1
    head, perf = line.split(" | ")
    assert "line one" in head and "line two" in head and "with a pipe" in head
    assert all(PERF.match(p) for p in perf.split()), perf


def test_json_shape():
    report = sample_report(Level.WARNING)
    report.checks.append(check("h9", "host", Level.UNKNOWN, "weird", facts={"status": "OK", "message": "hijack"}))
    doc = json.loads(json.dumps(report.as_dict()))
    assert doc["status"] == "UNKNOWN"
    assert set(doc) >= {"status", "checks"}
    assert len(doc["checks"]) == len(report.checks)
    for c in doc["checks"]:
        assert {"target", "kind", "status", "message"} <= set(c)
        assert c["status"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN") and c["kind"] in rp.KINDS
    h9 = next(c for c in doc["checks"] if c["target"] == "h9")
    assert (h9["status"], h9["message"]) == ("UNKNOWN", "weird")  # a fact never overrides them
    assert doc["checks"][0]["target"] == "h9"  # worst first
    stake = next(c for c in doc["checks"] if c["kind"] == "stake")
    assert stake["target"] == "pokt1e8ksudsrczj875u87wzmn6t2639qhmhlwk3re2"
    host = next(c for c in doc["checks"] if c["target"] == "h1")
    assert host["values"]["disk_free_ratio{mount=/data}"] == 0.9


def families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def test_exposition_parses_and_carries_every_check():
    report = sample_report(Level.WARNING, Level.CRITICAL)
    fams = families(rp.exposition(report).decode())
    assert [s.value for s in fams["fleetctl_health_status"].samples] == [2.0]
    statuses = {(s.labels["kind"], s.labels["target"]): s.value for s in fams["fleetctl_check_status"].samples}
    assert statuses == {(c.kind, c.target): float(int(c.level)) for c in report.checks}
    counts = {s.labels["status"]: s.value for s in fams["fleetctl_health_checks"].samples}
    assert counts == {"OK": 5.0, "WARNING": 1.0, "CRITICAL": 1.0, "UNKNOWN": 0.0}
    lag = {s.labels["target"]: s for s in fams["fleetctl_execution_lag_blocks"].samples}
    assert set(lag) == {"eth-geth-1", "eth-legacy", "eth-x0", "eth-x1"}
    assert lag["eth-x1"].value == 13.0 and lag["eth-x1"].labels["chain"] == "eth"
    assert lag["eth-legacy"].value == 1.0  # the adopted endpoint without a host label is there too
    disks = {s.labels["mount"]: s.value for s in fams["fleetctl_host_disk_free_ratio"].samples}
    assert disks == {"/var/lib/docker": 0.42, "/data": 0.9}
    assert fams["fleetctl_chain_reference_head"].samples[0].value == 100.0
    assert fams["fleetctl_stake_margin_upokt"].samples[0].labels["name"] == "sup-01"
    for fam in fams.values():
        assert fam.type == "gauge" and fam.name.startswith("fleetctl_")


def test_a_label_is_never_dropped_because_of_the_order_of_checks():
    adopted = check("eth-legacy", "execution", Level.OK, values={"up": 1}, labels={"chain": "eth", "client": "geth"})
    node = check("fleet-eth-geth-0", "execution", Level.OK, values={"up": 1},
                 labels={"chain": "eth", "client": "geth", "host": "h1"})
    for order in ([adopted, node], [node, adopted]):
        fams = families(rp.exposition(rp.HealthReport("2026-12-01T00:00:00+00:00", 0.1, order)).decode())
        up = {s.labels["target"]: s.labels for s in fams["fleetctl_execution_up"].samples}
        assert up["fleet-eth-geth-0"].get("host") == "h1", up


label_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@SETTINGS
@given(rows=st.dictionaries(st.tuples(st.sampled_from(rp.KINDS), label_text),
                            st.tuples(st.sampled_from(list(Level)), st.floats(-1e12, 1e12)), max_size=12))
def test_exposition_always_parses(rows):
    checks = [check(target, kind, level, values={"up": value}) for (kind, target), (level, value) in rows.items()]
    report = rp.HealthReport("2026-12-01T00:00:00+00:00", 1.0, checks)
    fams = families(rp.exposition(report).decode())
    got = {(s.labels["kind"], s.labels["target"]): s.value for s in fams["fleetctl_check_status"].samples} \
        if "fleetctl_check_status" in fams else {}
    assert got == {key: float(int(level)) for key, (level, _) in rows.items()}
    assert fams["fleetctl_health_status"].samples[0].value == float(report.exit_code)


def test_write_textfile_atomically(tmp_path: Path):
    target = tmp_path / "fleetctl.prom"
    old = os.umask(0o077)  # the file is meant for node_exporter: readable whatever the umask
    try:
        rp.write_textfile(target, sample_report())
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        first_inode = target.stat().st_ino
        with target.open("rb") as reader:  # a collector in the middle of reading the old file
            rp.write_textfile(target, sample_report(Level.CRITICAL))
            assert b"fleetctl_health_status 0.0" in reader.read()  # still the whole old file
    finally:
        os.umask(old)
    assert target.stat().st_ino != first_inode  # replaced by a rename, never rewritten in place
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleetctl.prom"]  # no temp file left
    assert families(target.read_text())["fleetctl_health_status"].samples[0].value == 2.0
    assert target.read_bytes() == rp.exposition(sample_report(Level.CRITICAL))


def test_write_textfile_failure_leaves_nothing(tmp_path: Path):
    with pytest.raises(OSError):
        rp.write_textfile(tmp_path / "missing-dir" / "x.prom", sample_report())
    target = tmp_path / "x.prom"
    target.mkdir()  # cannot be replaced by a file
    with pytest.raises(OSError):
        rp.write_textfile(target, sample_report())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.prom"]


# ----------------------------------------------------------------------------- fleet.yml health: / alerts:

HOSTS = "all:\n  hosts:\n    h1: {ansible_host: 10.0.0.1}\n"
BASE = "pocket: {rest_url: 'http://127.0.0.1:1317'}\nchains:\n  eth: {clients: [geth], replicas: 1}\n"


def inventory(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "hosts.yml").write_text(HOSTS)
    (tmp_path / "fleet.yml").write_text(BASE + textwrap.dedent(extra))
    return tmp_path


def validate(root: Path, *args: str) -> tuple[int, list[str], str]:
    proc = run_cli("validate", "-i", str(root), *args, env=ENV, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr.splitlines(), proc.stdout


def test_health_section_values(tmp_path: Path):
    fleet = load_inventory(inventory(tmp_path, """\
        health:
          timeout: 1500ms
          slow: 2s
          concurrency: 64
          lag_warning: 2
          lag_critical: 2
          hash_depth: 0
          min_peers: 0
          disk_warning: 25%
          disk_critical: 25
          memory_warning: "12.5%"
          memory_critical: 3%
          load_warning: 1.5
          load_critical: 6
          pocket_lag_warning: 4
          pocket_lag_critical: 40
          remediate_rise: 5
          textfile: /var/lib/node_exporter/textfile/fleetctl.prom
        """))
    assert fleet.health == HealthPolicy(
        timeout_s=1.5, slow_s=2.0, concurrency=64, lag_warning=2, lag_critical=2, hash_depth=0, min_peers=0,
        disk_warning_pct=25.0, disk_critical_pct=25.0, memory_warning_pct=12.5, memory_critical_pct=3.0,
        load_warning=1.5, load_critical=6.0, pocket_lag_warning=4, pocket_lag_critical=40, remediate_rise=5,
        textfile="/var/lib/node_exporter/textfile/fleetctl.prom")
    assert load_inventory(inventory(tmp_path, "health: {}\n")).health == HealthPolicy()


def test_each_bad_health_value_is_one_error_line(tmp_path: Path):
    root = inventory(tmp_path, """\
        health:
          timeout: soon
          slow: 0
          concurrency: 0
          lag_warning: 0
          hash_depth: -1
          min_peers: many
          disk_warning: 120%
          memory_critical: lots
          load_warning: 0
          remediate_rise: 0
          textfile: 5
          timeoutt: 3
        """)
    rc, lines, stdout = validate(root)
    assert rc == 2 and stdout == ""
    prefix = f"{root}/fleet.yml:"
    expected = {  # field -> line in fleet.yml
        "health.timeout": 5, "health.slow": 6, "health.concurrency": 7, "health.lag_warning": 8,
        "health.hash_depth": 9, "health.min_peers": 10, "health.disk_warning": 11, "health.memory_critical": 12,
        "health.load_warning": 13, "health.remediate_rise": 14, "health.textfile": 15, "health.timeoutt": 16,
    }
    assert len(lines) == len(expected), lines
    got = {}
    for line in lines:
        m = re.match(re.escape(prefix) + r"(\d+):(\d+): ([a-z_.]+): (.+)$", line)
        assert m, line
        got[m.group(3)] = int(m.group(1))
        assert int(m.group(2)) >= 3
    assert got == expected
    assert any("health.timeoutt: unknown key (did you mean 'timeout'?)" in line for line in lines)
    assert any("health.timeout: expected a duration" in line for line in lines)
    assert any("health.disk_warning: 120% is out of range" in line for line in lines)
    rc, _, stdout = validate(root, "-o", "json")
    doc = json.loads(stdout)
    assert rc == 2 and doc["ok"] is False and len(doc["errors"]) == len(expected)
    assert {e["field"] for e in doc["errors"]} == set(expected)


@pytest.mark.parametrize(("yaml", "field"), [
    ("lag_warning: 20\n  lag_critical: 10", "health.lag_warning"),
    ("pocket_lag_warning: 30", "health.pocket_lag_warning"),  # against the default critical 20
    ("load_warning: 5\n  load_critical: 4", "health.load_warning"),
    ("disk_warning: 5%\n  disk_critical: 10%", "health.disk_warning"),  # free space: warn at more free
    ("memory_critical: 50%", "health.memory_warning"),
])
def test_warning_before_critical(tmp_path: Path, yaml: str, field: str):
    rc, lines, _ = validate(inventory(tmp_path, "health:\n  " + yaml + "\n"))
    assert rc == 2 and len(lines) == 1, lines
    assert f": {field}: " in lines[0] and "WARNING before CRITICAL" in lines[0]
    assert re.match(rf"{re.escape(str(tmp_path))}/fleet.yml:\d+:\d+: ", lines[0])


@pytest.mark.parametrize(("text", "seconds"), [
    (30, 30.0), (1.5, 1.5), (0, 0.0), ("90s", 90.0), ("5m", 300.0), ("4h", 14400.0), ("1d", 86400.0),
    ("250ms", 0.25), ("1.5s", 1.5), (" 2 m ", 120.0), ("7", 7.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [True, False, None, -1, -0.5, "", "soon", "5 minutes", "1w", "-5s", "5M", "s",
                                  [], {}])
def test_parse_duration_refuses(text):
    assert parse_duration(text) is None


SLACK = "https://hooks.slack.com/services/T0000/B0000/SECRETTOKENslack"
HOOK = "https://hooks.example/ingest?token=SECRETTOKENhook"


def test_alerts_section_values(tmp_path: Path):
    secret_file = tmp_path / "am-url"
    secret_file.write_text("https://am.example/api/v2/alerts\n")
    secret_file.chmod(0o600)
    fleet = load_inventory(inventory(tmp_path, f"""\
        alerts:
          after: 2
          renotify: 30m
          min_level: critical
          timeout: 2s
          deadman_url: {{url_env: FLEETCTL_DEADMAN}}
          sinks:
            - {{type: slack, url: "{SLACK}"}}
            - {{type: webhook, url: "{HOOK}"}}
            - {{type: webhook, url_env: HOOK_URL}}
            - {{type: alertmanager, name: am, url_file: {secret_file}}}
        """))
    a = fleet.alerts
    assert (a.after, a.renotify_s, a.min_level, a.timeout_s) == (2, 1800.0, "CRITICAL", 2.0)
    assert a.deadman == Secret(env="FLEETCTL_DEADMAN")
    assert [(s.type, s.name) for s in a.sinks] == [("slack", "slack"), ("webhook", "webhook"),
                                                   ("webhook", "webhook-3"), ("alertmanager", "am")]
    assert a.sinks[0].url.reveal() == SLACK
    assert a.sinks[3].url.reveal() == "https://am.example/api/v2/alerts"
    plain = load_inventory(inventory(tmp_path, f"alerts: {{deadman_url: '{HOOK}'}}\n")).alerts
    assert plain.deadman is not None and plain.deadman.reveal() == HOOK and plain.sinks == ()


@pytest.mark.parametrize(("sink", "problem"), [
    ("{type: slack}", "give exactly one of url, url_env"),
    (f"{{type: slack, url: '{SLACK}', url_env: SLACK_URL}}", "give exactly one of url, url_env"),
    ("{type: slack, url_env: SLACK_URL, url_file: /etc/fleetctl/slack}", "give exactly one of url, url_env"),
    ("{type: pagerduty, url_env: X}", "'pagerduty' is not one of: webhook, slack, discord, alertmanager"),
    ("{type: webhook, url_env: 'not-a-name'}", "is not an environment variable name"),
    ("{url_env: X}", "type: required"),
])
def test_each_bad_sink_is_one_error_line(tmp_path: Path, sink: str, problem: str):
    rc, lines, _ = validate(inventory(tmp_path, f"alerts:\n  sinks:\n    - {sink}\n"))
    assert rc == 2 and len(lines) == 1, lines
    assert re.match(rf"{re.escape(str(tmp_path))}/fleet.yml:6:\d+: alerts\.sinks\[0\]", lines[0]), lines[0]
    assert problem in lines[0]


@pytest.mark.parametrize(("yaml", "field"), [
    ("after: 0", "alerts.after"), ("renotify: often", "alerts.renotify"), ("min_level: INFO", "alerts.min_level"),
    ("timeout: 0", "alerts.timeout"), ("deadman_url: {url: 'https://a.example', url_env: X}", "alerts.deadman_url"),
    ("sinks: {type: slack}", "alerts.sinks"), ("afterr: 3", "alerts.afterr"),
])
def test_each_bad_alert_value_is_one_error_line(tmp_path: Path, yaml: str, field: str):
    rc, lines, _ = validate(inventory(tmp_path, f"alerts:\n  {yaml}\n"))
    assert rc == 2 and len(lines) == 1, lines
    assert "/fleet.yml:5:" in lines[0] and f": {field}: " in lines[0]


def test_secrets_never_show(tmp_path: Path):
    s = Secret(inline=SLACK)
    assert "SECRETTOKEN" not in str(s) and "SECRETTOKEN" not in repr(s) and "SECRETTOKEN" not in f"{s}"
    assert str(Secret(env="SLACK_URL")) == "$SLACK_URL" and str(Secret(file="/etc/x")) == "file /etc/x"
    root = inventory(tmp_path, f"""\
        alerts:
          deadman_url: "{HOOK}"
          sinks:
            - {{type: slack, url: "{SLACK}"}}
        """)
    fleet = load_inventory(root)
    assert "SECRETTOKEN" not in repr(fleet) and "SECRETTOKEN" not in repr(fleet.alerts)
    assert "SECRETTOKEN" not in json.dumps(fleet.alerts, default=str)
    for args in (("validate",), ("-o", "json", "validate"), ("inventory",), ("-o", "json", "inventory")):
        proc = run_cli(*args, "-i", str(root), env=ENV, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "SECRETTOKEN" not in proc.stdout + proc.stderr
    # an error elsewhere in the file does not print them either
    (root / "fleet.yml").write_text((root / "fleet.yml").read_text() + "health: {timeout: never}\n")
    rc, lines, stdout = validate(root)
    assert rc == 2 and not any("SECRETTOKEN" in line for line in lines)


def test_a_mistyped_secret_url_is_not_printed(tmp_path: Path):
    """Found by this file: an invalid inline sink/deadman URL was quoted in the validate error."""
    root = inventory(tmp_path, """\
        alerts:
          deadman_url: "hc-ping.com/SECRETTOKENdeadman"
          sinks:
            - {type: slack, url: "hooks.slack.com/services/T0/B0/SECRETTOKENslack"}
            - {type: webhook, url: "https://hooks.example:99999/x?token=SECRETTOKENport"}
        """)
    rc, lines, stdout = validate(root)
    assert rc == 2 and len(lines) == 3
    assert not any("SECRETTOKEN" in line for line in lines), lines
    fields = [line.split(": ")[1] for line in lines]
    assert fields == ["alerts.deadman_url", "alerts.sinks[0].url", "alerts.sinks[1].url"]
    rc, _, stdout = validate(root, "-o", "json")
    assert rc == 2 and "SECRETTOKEN" not in stdout


def test_secret_reveal_reasons_never_hold_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("FLEETCTL_TEST_UNSET", raising=False)
    with pytest.raises(ValueError, match=r"\$FLEETCTL_TEST_UNSET is not set"):
        Secret(env="FLEETCTL_TEST_UNSET").reveal()
    loose = tmp_path / "loose"
    loose.write_text(SLACK)
    loose.chmod(0o644)
    with pytest.raises(ValueError) as exc:
        Secret(file=str(loose)).reveal()
    assert "readable by others" in str(exc.value) and "SECRETTOKEN" not in str(exc.value)


@pytest.mark.parametrize("daemon_up", [True, False])
def test_facts_script_asks_for_volumes_only_when_docker_answered(tmp_path: Path, daemon_up: bool) -> None:
    """FACTS_SCRIPT run by a real sh with a `docker` that logs its calls: with no daemon, `docker ps`
    fails, the error and @@docker-error are printed and `docker volume ls` is not run (another
    ~20 ms CPU for an answer that cannot come); with one, volumes are listed."""
    import os
    import subprocess

    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    f"echo \"$*\" >> {calls}\n"
                    "case \"$1\" in\n"
                    f"  ps) {'exit 0' if daemon_up else 'echo Cannot connect to the Docker daemon >&2; exit 1'} ;;\n"
                    "  volume) case \"$2\" in\n"
                    "      ls) echo fleet-eth-0; echo fleet-eth-1 ;;\n"
                    "      inspect) echo 'fleet-eth-0\t/data/v/fleet-eth-0/_data'; echo 'fleet-eth-1\t/data/v/fleet-eth-1/_data' ;;\n"
                    "    esac; exit 0 ;;\n"
                    "esac\n")
    fake.chmod(0o755)
    df = fake.parent / "df"  # logs what it is asked, answers as df -Pk does
    df.write_text(f"#!/bin/sh\necho \"df $*\" >> {calls}\n"
                  "echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
                  "echo '/dev/vda 1000 500 500 50% /'\n")
    df.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run(["sh", "-c", FACTS_SCRIPT], env=env, capture_output=True, text=True, timeout=20).stdout
    asked = calls.read_text().splitlines()
    assert asked[0].startswith("ps -a")
    assert any(a.startswith("volume ls") for a in asked) is daemon_up
    assert ("@@docker-error" in out) is not daemon_up
    assert "@@volumes" in out and out.rstrip().endswith("@@end")
    facts = parse_facts(out)
    assert facts is not None
    # the volumes' mount points from one `docker volume inspect` (a Go binary: ~15 ms of CPU a call)
    assert sum(a.startswith("volume inspect") for a in asked) == (1 if daemon_up else 0)
    volumes = out.split("@@volumes\n", 1)[1].split("@@df", 1)[0]
    mounts = " /data/v/fleet-eth-0/_data /data/v/fleet-eth-1/_data" if daemon_up else ""
    assert volumes == ("fleet-eth-0\t/data/v/fleet-eth-0/_data\nfleet-eth-1\t/data/v/fleet-eth-1/_data\n"
                       if daemon_up else "")
    assert [a for a in asked if a.startswith("df ")][0].endswith(f"-Pk {'/var/lib/docker' if os.path.isdir('/var/lib/docker') else '/'}{mounts}")
    # the host's own lines, as cat and grep printed them
    import re

    loadavg = out.split("@@loadavg\n", 1)[1].split("@@", 1)[0]
    assert re.fullmatch(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n", loadavg), loadavg
    meminfo = out.split("@@meminfo\n", 1)[1].split("@@", 1)[0].splitlines()
    total = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    assert meminfo[0] == total and re.fullmatch(r"MemAvailable: +\d+ kB", meminfo[1]) and len(meminfo) == 2
    parsed = parse_facts(out)
    assert parsed.mem_total_kib == int(total.split()[1]) and parsed.load1 is not None and parsed.cpus


def test_one_run_gc_freezes_what_is_loaded_and_leaves_a_disabled_collector_alone():
    """`fleetctl health` is one run, then exit: the collector skips what is loaded and runs its
    young generation less often; a collector the caller disabled stays disabled."""
    import gc

    from fleetctl.commands._common import ONE_RUN_GC_THRESHOLD, one_run_gc

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        one_run_gc()
        assert gc.get_threshold() == (ONE_RUN_GC_THRESHOLD, 10, 10) == (200_000, 10, 10)
        assert gc.get_freeze_count() > 0
        gc.set_threshold(0)
        one_run_gc()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)


@given(st.dictionaries(st.sampled_from(["target", "kind", "status", "message", "values", "a", "b", "z"]),
                       st.none() | st.integers() | st.text(max_size=3), max_size=6),
       st.lists(st.tuples(st.sampled_from(["x", "y", "fleetctl_n"]), st.floats(allow_nan=False),
                          st.lists(st.tuples(st.text(max_size=2), st.text(max_size=2)), max_size=2)), max_size=3))
def test_a_check_as_dict_keeps_its_keys_order_and_values(facts, samples):
    """The report's shape: target, kind, status, message (never replaced by a fact), the facts in
    their order, then values; the same as one setdefault per fact."""
    from fleetctl.health.report import Check, Sample

    check = Check("t", "stake", Level.WARNING, "m", dict(facts),
                  tuple(Sample(n, v, tuple(labels)) for n, v, labels in samples))
    expected: dict = {"target": "t", "kind": "stake", "status": "WARNING", "message": "m"}
    for k, v in facts.items():
        expected.setdefault(k, v)
    expected["values"] = {n if not labels else f"{n}{{{','.join(f'{k}={v}' for k, v in labels)}}}": v
                          for n, v, labels in samples}
    got = check.as_dict()
    assert list(got.items()) == list(expected.items())
