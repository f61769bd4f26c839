"""Client diversity as it runs: each client's share of the full nodes of each chain, on each
layer (execution and consensus) on its own, against ``max_client_share``.

Counts what is observed, not what was planned: fleetctl's containers that are running (from each
host's engine: execution nodes, their consensus clients, and Erigon nodes labelled as running
Caplin, which counts as its own consensus client) and the adopted endpoints that answer,
identified by their own version (an execution endpoint by ``web3_clientVersion``: declared as Geth
but answering as Erigon counts as Erigon; a consensus endpoint by the Beacon API's
``/eth/v1/node/version``), each counted in its own layer.

:func:`check_diversity` is the job (async, over fleetctl's HTTP client, with ``on_event`` and a
:class:`~fleetctl.core.events.CancelToken`); it returns a :class:`DiversityReport` whose levels
are :class:`~fleetctl.core.levels.Level` and combine with :func:`~fleetctl.core.levels.worst`
(UNKNOWN outranks WARNING, CRITICAL outranks UNKNOWN). :func:`diversity` is the same as a plain
call returning the report's JSON form. Everything an endpoint or a host's engine says is hostile
input: a version is believed only as a short printable string, a container's client label only
as a short printable name.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, TypeGuard

from fleetctl.core.records import record
from fleetctl.core.aio import until_cancelled
from fleetctl.core.events import CancelToken, CheckDone, EventSink
from fleetctl.core.levels import Level, worst
from fleetctl.core.redact import safe_url
from fleetctl.spec.model import Fleet

__all__ = [
    "LAYERS", "ChainDiversity", "DiversityReport", "EndpointProbe", "LayerShare", "Member", "check_diversity",
    "client_of", "diversity", "probe_client", "read_beacon_version", "read_version",
]

JOB = "diversity"
_PREFIXES = {"geth/": "geth", "nethermind/": "nethermind", "erigon/": "erigon", "besu/": "besu", "reth/": "reth"}
#: The longest web3_clientVersion believed (Geth's is ~60 characters), the answer read.
MAX_VERSION = 200
MAX_ANSWER = 65536
#: The longest client name a container's label may give (fleetctl's own are under 12 characters).
MAX_CLIENT_LABEL = 64
_BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "web3_clientVersion", "params": []}).encode()


_CL_PREFIXES = {"lighthouse/": "lighthouse", "prysm/": "prysm", "teku/": "teku", "nimbus/": "nimbus",
                "lodestar/": "lodestar", "caplin/": "caplin", "erigon/": "caplin", "grandine/": "grandine"}
LAYERS = ("execution", "consensus")


# ---------------------------------------------------------------------------------------------
# the typed result
# ---------------------------------------------------------------------------------------------


@record(frozen=True)
class Member:
    """One counted node: a running container (``kind`` "container", on ``host``; ``detail``:
    its engine status, or "caplin" for Erigon's own consensus layer) or an adopted endpoint
    that answered (``kind`` "endpoint"; ``detail``: the version it answered)."""

    kind: str
    name: str
    host: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "host": self.host, "detail": self.detail}


@record(frozen=True)
class LayerShare:
    """One layer of one chain: each client's count and share, those above the quota, its level
    (WARNING: a client above the quota; UNKNOWN: nothing counted on a chain that wants nodes);
    ``members``: what was counted for each client, sorted (not in :meth:`as_dict`, whose keys
    stay as they were)."""

    layer: str
    total: int
    counts: Mapping[str, int]
    shares: Mapping[str, float]
    over_quota: tuple[str, ...]
    level: Level
    members: Mapping[str, tuple[Member, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "shares": {c: round(s, 4) for c, s in self.shares.items()},
                "counts": dict(self.counts), "status": self.level.name, "over_quota": list(self.over_quota)}


@record(frozen=True)
class ChainDiversity:
    """One chain: both layers against its ``max_client_share``; its level is the worse layer's."""

    chain: str
    quota: float
    execution: LayerShare
    consensus: LayerShare

    @property
    def level(self) -> Level:
        return worst((self.execution.level, self.consensus.level))

    def layer(self, name: str) -> LayerShare:
        return self.execution if name == "execution" else self.consensus

    def as_dict(self) -> dict[str, Any]:
        execution = self.execution.as_dict()
        entry: dict[str, Any] = {"quota": self.quota, "execution": execution, "consensus": self.consensus.as_dict(),
                                 "status": self.level.name}
        # As before this report had layers: the execution layer's figures also at the top.
        for key in ("total", "shares", "counts", "over_quota"):
            entry[key] = execution[key]
        return entry


@record(frozen=True)
class EndpointProbe:
    """What one adopted endpoint answered: the client its version names (None: not counted) and
    a one-line ``detail`` (the version, or why there is none). ``url`` is the safe form."""

    name: str
    chain: str
    layer: str
    declared: str
    url: str
    client: str | None
    detail: str


@record(frozen=True)
class DiversityReport:
    """Every chain's diversity, the probes of the adopted endpoints, the notes for the operator
    and the overall level: the worst chain's, and UNKNOWN at least when a host was unreachable."""

    chains: tuple[ChainDiversity, ...]
    probes: tuple[EndpointProbe, ...]
    notes: tuple[str, ...]
    unreachable: tuple[str, ...]

    @property
    def level(self) -> Level:
        return worst([*(c.level for c in self.chains), *([Level.UNKNOWN] if self.unreachable else [])])

    @property
    def exit_code(self) -> int:
        return int(self.level)

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``fleetctl diversity -o json`` prints (its keys as they always were)."""
        return {"status": self.level.name, "chains": {c.chain: c.as_dict() for c in self.chains},
                "notes": list(self.notes)}


# ---------------------------------------------------------------------------------------------
# reading versions (hostile input)
# ---------------------------------------------------------------------------------------------


def client_of(version: str, layer: str = "execution") -> str | None:
    v = version.lower()
    prefixes = _CL_PREFIXES if layer == "consensus" else _PREFIXES
    return next((c for p, c in prefixes.items() if v.startswith(p)), None)


def _short_printable(value: Any, limit: int) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def read_version(status: int, body: bytes) -> tuple[str | None, str]:
    """(client, detail) from a web3_clientVersion answer. The answer is hostile input: anything
    but a short printable string is no version, and ``detail`` is one short line."""
    if not 200 <= status < 300:
        return None, f"no answer (HTTP {status})"
    # A version answer has one object; a body of nested brackets is refused before the JSON
    # decoder recurses into it.
    if body.count(b"[") + body.count(b"{") > 64:
        return None, "no answer (not a JSON-RPC answer: nested too deeply)"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None, "no answer (not JSON)"
    version = answer.get("result") if isinstance(answer, dict) else None
    if not _short_printable(version, MAX_VERSION):
        return None, "not a client version (web3_clientVersion result is no short printable string)"
    return client_of(version), version


def read_beacon_version(status: int, body: bytes) -> tuple[str | None, str]:
    """(client, detail) from a Beacon API ``/eth/v1/node/version`` answer (``{"data": {"version":
    "Lighthouse/v5.3.0-..."}}``); hostile input, checked as :func:`read_version` checks its own."""
    if not 200 <= status < 300:
        return None, f"no answer (HTTP {status})"
    if body.count(b"[") + body.count(b"{") > 64:
        return None, "no answer (not a Beacon API answer: nested too deeply)"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return None, "no answer (not JSON)"
    data = answer.get("data") if isinstance(answer, dict) else None
    version = data.get("version") if isinstance(data, dict) else None
    if not _short_printable(version, MAX_VERSION):
        return None, "not a client version (data.version of /eth/v1/node/version is no short printable string)"
    return client_of(version, "consensus"), version


# ---------------------------------------------------------------------------------------------
# probing
# ---------------------------------------------------------------------------------------------


async def _probe_all(urls: Sequence[str], timeout: float, layers: Sequence[str] | None = None,
                     on_done: Any = None) -> list[tuple[str | None, str]]:
    """Every URL at once over fleetctl's HTTP client (``user:password@`` sent as Basic auth, the
    query kept, no redirect followed, bodies bounded), each within ``timeout`` in all. ``layers``
    (default: all execution) says which answer each speaks: JSON-RPC or the Beacon API.
    ``on_done(i, client, detail)`` is called as each answer is read."""
    from urllib.parse import urlsplit, urlunsplit

    from fleetctl.core.httpclient import HttpError, HttpPool

    async with HttpPool(max_body=MAX_ANSWER) as pool:
        async def ask(url: str, layer: str) -> tuple[str | None, str]:
            try:
                async with asyncio.timeout(timeout):
                    if layer == "consensus":
                        parts = urlsplit(url)
                        target = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/eth/v1/node/version"))
                        response = await pool.request("GET", target, headers={"Accept": "application/json"},
                                                      idempotent=True)
                    else:
                        response = await pool.request("POST", url, body=_BODY,
                                                      headers={"Content-Type": "application/json"},
                                                      idempotent=True)
            except TimeoutError:
                return None, f"no answer within {timeout:g} s"
            except HttpError as exc:
                return None, f"no answer ({exc.kind})"
            if layer == "consensus":
                return read_beacon_version(response.status, response.body)
            return read_version(response.status, response.body)

        async def one(i: int, url: str, layer: str) -> tuple[str | None, str]:
            result = await ask(url, layer)
            if on_done is not None:
                on_done(i, *result)
            return result

        return list(await asyncio.gather(*(one(i, u, layer) for i, (u, layer) in
                                           enumerate(zip(urls, layers or ["execution"] * len(urls))))))


def probe_client(url: str, timeout: float = 3.0) -> tuple[str | None, str]:
    """(client, detail) from web3_clientVersion; client None when it answers no known version."""
    return asyncio.run(_probe_all([url], timeout))[0]


# ---------------------------------------------------------------------------------------------
# the job
# ---------------------------------------------------------------------------------------------


def _layer(layer: str, counts: dict[str, int], quota: float, replicas: int,
           members: Mapping[str, list[Member]]) -> LayerShare:
    total = sum(counts.values())
    shares = {c: (n / total if total else 0.0) for c, n in counts.items()}
    over = tuple(c for c, s in shares.items() if s > quota + 1e-9)
    level = Level.WARNING if over else (Level.UNKNOWN if total == 0 and replicas > 0 else Level.OK)
    found = {c: tuple(sorted(ms, key=lambda m: (m.kind, m.host or "", m.name))) for c, ms in members.items()}
    return LayerShare(layer, total, counts, shares, over, level, found)


def _chain_summary(c: ChainDiversity) -> str:
    parts = []
    for layer in LAYERS:
        ls = c.layer(layer)
        over = f" (over {c.quota:.0%}: {', '.join(ls.over_quota)})" if ls.over_quota else ""
        parts.append(f"{layer} {ls.level.name}{over}")
    return ", ".join(parts)


async def check_diversity(fleet: Fleet, observed: Mapping[str, Any], *, probe_timeout: float = 3.0,
                          on_event: EventSink | None = None, cancel: CancelToken | None = None) -> DiversityReport:
    """Count each chain's running clients per layer (``observed``: the hosts' states from
    :func:`fleetctl.provision.observe.observe`) and the adopted endpoints that answer, and judge
    the shares against ``max_client_share``.

    ``on_event`` gets a :class:`~fleetctl.core.events.CheckDone` per adopted endpoint as its
    answer is read (OK: counted; UNKNOWN: not counted) and one per chain once judged. A
    cancelled ``cancel`` drops the probes in flight and raises
    :class:`~fleetctl.core.events.Cancelled`: no partial report.
    """
    from fleetctl.spec.model import consensus_clients_of

    if cancel is not None:
        cancel.raise_if_cancelled(JOB)
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for cid, chain in fleet.chains.items():
        cl = dict.fromkeys(consensus_clients_of(chain), 0)
        if chain.erigon_consensus == "caplin" and "erigon" in chain.clients:
            cl["caplin"] = 0
        counts[cid] = {"execution": dict.fromkeys(chain.clients, 0), "consensus": cl}
    notes: list[str] = []
    unreachable: list[str] = []
    members: dict[tuple[str, str], dict[str, list[Member]]] = {}

    def add(cid: str, layer: str, client: str, member: Member) -> None:
        layer_counts = counts[cid][layer]
        layer_counts[client] = layer_counts.get(client, 0) + 1
        members.setdefault((cid, layer), {}).setdefault(client, []).append(member)

    for st in observed.values():
        if not st.reachable:
            unreachable.append(st.name)
            notes.append(f"{st.name}: unreachable ({st.error}): its nodes are not counted")
            continue
        for c in st.containers:
            if not c.running or c.chain not in counts or not c.client:
                continue
            if not _short_printable(c.client, MAX_CLIENT_LABEL):  # a host's engine labels are its own word
                notes.append(f"{st.name}: container {c.name!r:.80}: its client label is no client name: not counted")
                continue
            status = c.status if _short_printable(c.status, MAX_VERSION) else ""
            member = Member("container", c.name, st.name, status)
            if c.role == "node":
                add(c.chain, "execution", c.client, member)
                if getattr(c, "consensus", None) == "caplin":  # Erigon's own consensus layer
                    add(c.chain, "consensus", "caplin", Member("container", c.name, st.name, "caplin"))
            elif c.role == "consensus":
                add(c.chain, "consensus", c.client, member)

    endpoints = fleet.endpoints

    def probed(i: int, client: str | None, detail: str) -> None:
        if on_event is not None:
            e = endpoints[i]
            on_event(CheckDone(JOB, e.name, Level.OK if client is not None else Level.UNKNOWN,
                               f"{client} ({detail})" if client is not None else f"{detail}: not counted"))

    answers = await until_cancelled(
        _probe_all([e.url for e in endpoints], probe_timeout, [e.layer for e in endpoints], probed), cancel, JOB
    ) if endpoints else []
    probes: list[EndpointProbe] = []
    for e, (client, detail) in zip(endpoints, answers):
        probes.append(EndpointProbe(e.name, e.chain, e.layer, e.client, safe_url(e.url), client, detail))
        if client is None:
            notes.append(f"{e.name}: adopted endpoint {safe_url(e.url)}: {detail}: not counted")
            continue
        if client != e.client:
            notes.append(f"{e.name}: declared {e.client} but answers as {detail}")
        add(e.chain, e.layer, client, Member("endpoint", e.name, e.host, detail))

    chains: list[ChainDiversity] = []
    for cid, chain in fleet.chains.items():
        entry = ChainDiversity(cid, chain.max_client_share,
                               *(_layer(layer, counts[cid][layer], chain.max_client_share, chain.replicas,
                                        members.get((cid, layer), {}))
                                 for layer in LAYERS))
        chains.append(entry)
        if on_event is not None:
            on_event(CheckDone(JOB, cid, entry.level, _chain_summary(entry)))
    return DiversityReport(tuple(chains), tuple(probes), tuple(notes), tuple(unreachable))


def diversity(fleet: Fleet, observed: dict[str, Any], probe_timeout: float = 3.0) -> dict[str, Any]:
    """:func:`check_diversity` as a plain call, returning the report's JSON form.

    ``chains[cid]`` holds ``execution`` and ``consensus`` (each: total, counts, shares, status,
    over_quota) and, as before this report had layers, the execution layer's figures at its top."""
    return asyncio.run(check_diversity(fleet, observed, probe_timeout=probe_timeout)).as_dict()
