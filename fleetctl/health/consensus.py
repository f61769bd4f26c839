"""Consensus clients (the standard Beacon API): probing them, and judging each against the rest of
its chain.

Shapes follow the ethereum/beacon-APIs spec (``apis/node/health.yaml``, ``apis/node/syncing.yaml``,
``apis/node/version.yaml``, ``apis/node/peer_count.yaml``, ``apis/beacon/blocks/header.yaml``,
``apis/beacon/states/finality_checkpoints.yaml``, ``types/primitive.yaml``: numbers are decimal
*strings*, roots ``0x`` and 64 hex digits, booleans JSON booleans).

Probing is one round of six GETs per target, sent at once, each within the per-check timeout
(a hanging beacon node costs one timeout):

* ``/eth/v1/node/health``: 200 ready, 206 syncing (or its execution client optimistic or
  offline), 503 not initialized or having issues (CRITICAL), no answer (CRITICAL);
* ``/eth/v1/node/syncing``: ``head_slot``, ``sync_distance``, ``is_syncing``, ``is_optimistic``,
  ``el_offline``;
* ``/eth/v1/beacon/headers/head``: the head block's slot and root;
* ``/eth/v1/beacon/states/head/finality_checkpoints``: the finalized checkpoint (epoch, root);
* ``/eth/v1/node/peer_count``: ``connected``;
* ``/eth/v1/node/version``: the client and its version (``Lighthouse/v5.3.0-…``).

Then, once every target of the chain has answered, a second round for the targets whose
finalized epoch is not the chain's reference epoch (see below): ``/eth/v1/beacon/headers/{R}``
where ``R`` is the majority's finalized root.

Judging a chain (:func:`judge_chain`) is pure:

* **reference slot**: the highest head slot a majority of the answering, not-syncing targets
  reached (the ceil(n/2)-th highest); a head far beyond the others is not believed (as for
  execution heads). ``lag = reference - head``: WARNING from ``health.slot_lag_warning``
  (default 2 slots: one missed slot is normal, two in a row are not), CRITICAL from
  ``health.slot_lag_critical`` (default 32 slots, one epoch: an attestation duty missed).
  A head ``slot_lag_critical`` or more slots *ahead* of the majority is UNKNOWN (it or the
  majority is wrong).
* **finality agreement**: the reference epoch is the highest finalized epoch a majority reached
  (the ceil(n/2)-th highest, among the targets that finalized something: epoch 0 with the zero
  root means "not yet"). The targets at that epoch are grouped by finalized root; the group
  backed by the most distinct client implementations (then the most targets), if strictly
  ahead, is the majority. A target at the reference epoch on another root is **DIVERGED**
  (CRITICAL), the epoch and both short roots named. A target at another epoch (ahead, or behind)
  is asked for the majority's finalized block by its root (``/eth/v1/beacon/headers/{root}``,
  ``apis/beacon/blocks/header.yaml``): ``canonical: true`` (and the block's slot at or before
  the epoch's first slot) means its chain holds the majority's finality (agreement);
  ``canonical: false`` means it knows the block and left it: **DIVERGED**. A 404 (block unknown:
  it has not reached it, or was checkpoint-synced past it and has not backfilled) is not
  compared (a note, never a false DIVERGED). Without a strict majority the chain's consensus
  check is CRITICAL and nobody is called diverged.
* ``is_syncing``: WARNING (sync distance named); ``is_optimistic``: CRITICAL (its execution
  client has not validated the head: it serves unvalidated data); ``el_offline``: CRITICAL;
  peers below ``health.min_peers``: WARNING; the client its version string names against the
  planned (provisioned) or declared (adopted) one: WARNING; its version against the pinned
  image's (``playbooks/vars/images.yml``): WARNING; slower than ``health.slow_s``: WARNING.
* every value is parsed by :mod:`fleetctl.health.values`; one that is not what the spec says
  makes the target UNKNOWN with the path and field named, and never sets a reference.

Pair propagation (:func:`pair_marks`): a consensus client whose check is CRITICAL because it is
unreachable, stopped, not ready, optimistic, without its execution client, lagging or diverged
marks its execution client (the same pair) CRITICAL too, state ``consensus``: its head will
stop (or follow the wrong chain). ``--remediate`` pulls such a backend like a diverged one.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fleetctl.core.records import record
from fleetctl.health.execution import Http, RpcFailure, reference_head, split_heads
from fleetctl.health.values import (
    MAX_EPOCH,
    MAX_PEERS,
    MAX_SLOT,
    BadValue,
    beacon_root,
    beacon_uint64,
    json_bool,
    one_line,
    version_text,
)
from fleetctl.core.levels import Level
from fleetctl.core.redact import safe_url

__all__ = ["BeaconProbe", "BeaconTarget", "BeaconVerdict", "judge_chain", "pair_marks", "parse_beacon_version",
           "probe_beacon", "probe_finality"]

#: The most slots an epoch has (mainnet's 32; Gnosis has 16, minimal presets 8): a bound only,
#: never used to turn an epoch into a slot where fewer would make a healthy node look wrong.
SLOTS_PER_EPOCH = 32
ZERO_ROOT = "0x" + "0" * 64
#: A Beacon API answer larger than this is not one of the small objects fleetctl asks for.
MAX_ANSWER_BYTES = 64 * 1024

PATHS = {
    "health": "/eth/v1/node/health",
    "syncing": "/eth/v1/node/syncing",
    "head": "/eth/v1/beacon/headers/head",
    "finality": "/eth/v1/beacon/states/head/finality_checkpoints",
    "peers": "/eth/v1/node/peer_count",
    "version": "/eth/v1/node/version",
}

#: The first word of ``/eth/v1/node/version`` -> the client (Caplin answers as Caplin or Erigon).
VERSION_PREFIXES = {"lighthouse": "lighthouse", "prysm": "prysm", "teku": "teku", "nimbus": "nimbus",
                    "lodestar": "lodestar", "caplin": "caplin", "erigon": "caplin", "grandine": "grandine"}
_SEMVER = re.compile(r"v?(\d+\.\d+\.\d+)")

#: Consensus states that mark the execution client of the pair (at CRITICAL).
PROPAGATED = ("stopped", "unreachable", "not_ready", "el_offline", "optimistic", "diverged", "lagging")


@record(frozen=True)
class BeaconTarget:
    """A consensus client to check: a provisioned pair's (Caplin included) or an adopted one."""

    name: str
    chain: str
    url: str
    client: str | None  # planned (provisioned) or declared (adopted): lighthouse ... caplin, grandine
    host: str | None = None
    adopted: bool = False
    pair: str | None = None  # the execution target it drives
    planned_version: str | None = None
    planned_image: str | None = None
    image: str | None = None
    stopped: str | None = None  # its container is not running (or missing): why


@record
class BeaconProbe:
    target: BeaconTarget
    error: str | None = None  # no answer from /eth/v1/node/health
    unchecked: bool = False
    elapsed_s: float | None = None
    health_status: int | None = None
    head_slot: int | None = None  # the head block's slot (headers/head), else syncing's head_slot
    sync_distance: int | None = None
    is_syncing: bool | None = None
    is_optimistic: bool | None = None
    el_offline: bool | None = None
    head_root: str | None = None
    finalized_epoch: int | None = None
    finalized_root: str | None = None
    peers: int | None = None
    version: str | None = None
    invalid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: second round: the majority's finalized root asked of this target
    finality_check: str | None = None  # agree | diverged | None (not compared)
    finality_note: str | None = None

    @property
    def answered(self) -> bool:
        return self.error is None and not self.unchecked and self.health_status in (200, 206)

    @property
    def believed_head(self) -> int | None:
        """A head slot that may set the chain's reference (answered, valid, not syncing)."""
        if not self.answered or self.invalid or self.is_syncing or self.head_slot is None:
            return None
        return self.head_slot


def parse_beacon_version(text: str | None) -> tuple[str | None, str | None]:
    """``Lighthouse/v5.3.0-d6ba8c3/x86_64-linux`` -> ``("lighthouse", "5.3.0")``; the client is
    None for a first word that names none of the known consensus clients."""
    if not text or not isinstance(text, str):
        return None, None
    first, _, rest = text.strip().partition("/")
    client = VERSION_PREFIXES.get(first.strip().lower())
    m = _SEMVER.match(rest.strip())
    return client, (m.group(1) if m else None)


def _join(base: str, path: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, ""))


def _body(path: str, raw: bytes) -> dict[str, Any]:
    """A Beacon API answer as a JSON object with a ``data`` object; BadValue naming the path."""
    if len(raw) > MAX_ANSWER_BYTES:
        raise BadValue(f"{path}: answer of {len(raw):,} bytes (at most {MAX_ANSWER_BYTES:,})")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadValue(f"{path}: not JSON ({len(raw):,} bytes)") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise BadValue(f"{path}: not an object with a data object")
    return body


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise BadValue(f"{where}.{key}: missing")
    return obj[key]


def read_syncing(body: dict[str, Any], path: str = PATHS["syncing"]) -> dict[str, Any]:
    """``GetSyncingStatusResponse`` (apis/node/syncing.yaml). ``is_optimistic`` and ``el_offline``
    came later to the spec (v2.3.0, v2.4.0): a client from before them (Lodestar v1.5.1 sends
    no ``el_offline``, tests/fixtures/beacon/lodestar) gets None (unknown, a note), never a guess;
    present, they must be JSON booleans like the rest."""
    data = body["data"]
    out: dict[str, Any] = {}
    for key in ("head_slot", "sync_distance"):
        out[key] = beacon_uint64(_field(data, key, f"{path}: data"), f"{path}: data.{key}", maximum=MAX_SLOT)
    out["is_syncing"] = json_bool(_field(data, "is_syncing", f"{path}: data"), f"{path}: data.is_syncing")
    for key in ("is_optimistic", "el_offline"):
        out[key] = json_bool(data[key], f"{path}: data.{key}") if key in data else None
    return out


def read_header(body: dict[str, Any], path: str = PATHS["head"]) -> tuple[int, str, bool]:
    """``GetBlockHeaderResponse`` (apis/beacon/blocks/header.yaml): (slot, root, canonical)."""
    data = body["data"]
    root = beacon_root(_field(data, "root", f"{path}: data"), f"{path}: data.root")
    canonical = json_bool(_field(data, "canonical", f"{path}: data"), f"{path}: data.canonical")
    header = _field(data, "header", f"{path}: data")
    message = header.get("message") if isinstance(header, dict) else None
    if not isinstance(message, dict):
        raise BadValue(f"{path}: data.header.message: not an object")
    slot = beacon_uint64(_field(message, "slot", f"{path}: data.header.message"),
                         f"{path}: data.header.message.slot", maximum=MAX_SLOT)
    if "execution_optimistic" in body:
        json_bool(body["execution_optimistic"], f"{path}: execution_optimistic")
    return slot, root, canonical


def read_finality(body: dict[str, Any], path: str = PATHS["finality"]) -> tuple[int, str]:
    """``GetStateFinalityCheckpointsResponse``: the finalized checkpoint (epoch, root)."""
    finalized = _field(body["data"], "finalized", f"{path}: data")
    if not isinstance(finalized, dict):
        raise BadValue(f"{path}: data.finalized: not a checkpoint object")
    epoch = beacon_uint64(_field(finalized, "epoch", f"{path}: data.finalized"), f"{path}: data.finalized.epoch",
                          maximum=MAX_EPOCH)
    root = beacon_root(_field(finalized, "root", f"{path}: data.finalized"), f"{path}: data.finalized.root")
    if "execution_optimistic" in body:
        json_bool(body["execution_optimistic"], f"{path}: execution_optimistic")
    return epoch, root


def read_peer_count(body: dict[str, Any], path: str = PATHS["peers"]) -> int:
    """``GetPeerCountResponse`` (apis/node/peer_count.yaml): ``connected``."""
    return beacon_uint64(_field(body["data"], "connected", f"{path}: data"), f"{path}: data.connected",
                         maximum=MAX_PEERS)


def read_version(body: dict[str, Any], path: str = PATHS["version"]) -> str:
    """``GetVersionResponse`` (apis/node/version.yaml): ``version``."""
    return version_text(_field(body["data"], "version", f"{path}: data"), f"{path}: data.version")


async def _get(http: Http, url: str, timeout: float) -> tuple[int, bytes, float]:
    return await http.fetch("GET", url, timeout, headers={"Accept": "application/json"})


async def probe_beacon(http: Http, target: BeaconTarget, timeout: float) -> BeaconProbe:
    """The first round: the six GETs at once, each within ``timeout``."""
    probe = BeaconProbe(target)
    keys = list(PATHS)
    answers = await asyncio.gather(*(_get(http, _join(target.url, PATHS[k]), timeout) for k in keys),
                                   return_exceptions=True)
    got = dict(zip(keys, answers))
    elapsed = [a[2] for a in answers if isinstance(a, tuple)]
    probe.elapsed_s = max(elapsed) if elapsed else None
    health = got["health"]
    if isinstance(health, RpcFailure):
        probe.error = str(health)
        return probe
    if isinstance(health, BaseException):
        probe.error = one_line(f"{type(health).__name__}: {health}", 160)
        return probe
    probe.health_status = health[0]
    if probe.health_status not in (200, 206):
        return probe
    read_answers(probe, {k: v for k, v in got.items() if k != "health"})
    return probe


def read_answers(probe: BeaconProbe, got: dict[str, Any]) -> None:
    """What the five JSON answers say, strictly (into ``probe``); pure, so it is tested alone.
    ``got`` maps syncing/head/finality/peers/version to ``(status, body, seconds)`` or an
    exception."""
    for key in ("syncing", "head", "finality", "peers", "version"):
        path = PATHS[key]
        answer = got.get(key)
        if isinstance(answer, BaseException) or answer is None:
            reason = str(answer) if isinstance(answer, RpcFailure) else "no answer"
            probe.failed.append(f"{path}: {one_line(reason, 120)}")
            continue
        status, raw = answer[0], answer[1]
        if status != 200:
            probe.failed.append(f"{path}: HTTP {status}")
            continue
        try:
            body = _body(path, raw)
            if key == "syncing":
                s = read_syncing(body)
                probe.sync_distance = s["sync_distance"]
                probe.is_syncing, probe.is_optimistic, probe.el_offline = (s["is_syncing"], s["is_optimistic"],
                                                                           s["el_offline"])
                if probe.head_slot is None:
                    probe.head_slot = s["head_slot"]
                for key in ("is_optimistic", "el_offline"):
                    if s[key] is None:
                        probe.notes.append(f"{key} unknown (not in {path}: a client older than the spec's field)")
            elif key == "head":
                probe.head_slot, probe.head_root, _ = read_header(body)
            elif key == "finality":
                probe.finalized_epoch, probe.finalized_root = read_finality(body)
            elif key == "peers":
                probe.peers = read_peer_count(body)
            else:
                probe.version = read_version(body)
        except BadValue as exc:
            probe.invalid.append(str(exc))


async def probe_finality(http: Http, probe: BeaconProbe, epoch: int, root: str, timeout: float) -> None:
    """The second round: is the majority's finalized block ``root`` (epoch ``epoch``) on this
    target's chain? (into ``probe.finality_check`` / ``finality_note``)."""
    path = f"/eth/v1/beacon/headers/{root}"
    try:
        status, raw, _ = await _get(http, _join(probe.target.url, path), timeout)
    except RpcFailure as exc:
        probe.finality_note = f"finality not compared: {path[:30]}…: {exc}"
        return
    probe.finality_check, probe.finality_note = read_finality_check(status, raw, epoch, root)


def read_finality_check(status: int, raw: bytes, epoch: int, root: str) -> tuple[str | None, str | None]:
    """(agree | diverged | None, note) from the answer to ``/eth/v1/beacon/headers/{root}``."""
    where = "/eth/v1/beacon/headers/{root}"
    if status == 404:
        return None, (f"finality not compared: the majority's finalized block {short(root)} (epoch {epoch:,}) "
                      "is unknown to it")
    if status != 200:
        return None, f"finality not compared: {where}: HTTP {status}"
    try:
        slot, answered, canonical = read_header(_body(where, raw), where)
    except BadValue as exc:
        return None, f"finality not compared: {exc}"
    if answered != root:
        return None, f"finality not compared: {where}: answered block {short(answered)}, asked {short(root)}"
    if slot > epoch * SLOTS_PER_EPOCH:
        return None, (f"finality not compared: {where}: block {short(root)} at slot {slot:,}, after epoch "
                      f"{epoch:,}'s first slot")
    return ("agree" if canonical else "diverged"), None


# ----------------------------------------------------------------------------- judging


def short(root: str) -> str:
    return root[:10] + "…" if len(root) > 12 else root


def _client_of(p: BeaconProbe) -> str:
    return parse_beacon_version(p.version)[0] or p.target.client or p.target.name


@record(frozen=True)
class Finality:
    """The chain's finality reference: epoch, the majority's root (None: no strict majority),
    and the roots at that epoch with their targets."""

    epoch: int | None
    root: str | None
    groups: dict[str, list[BeaconProbe]]


def reference_slot(probes: Sequence[BeaconProbe]) -> tuple[int | None, list[int]]:
    believed, implausible = split_heads([h for p in probes if (h := p.believed_head) is not None])
    return reference_head(believed), implausible


def finality_reference(probes: Sequence[BeaconProbe]) -> Finality:
    """See the module docstring (pure: the same probes, the same reference)."""
    finalized = [p for p in probes if p.answered and not p.invalid and p.finalized_epoch is not None
                 and p.finalized_root is not None and p.finalized_root != ZERO_ROOT]
    believed, _ = split_heads([p.finalized_epoch for p in finalized if p.finalized_epoch is not None])
    epoch = reference_head(believed)
    if epoch is None:
        return Finality(None, None, {})
    groups: dict[str, list[BeaconProbe]] = {}
    for p in finalized:
        if p.finalized_epoch == epoch and p.finalized_root is not None:
            groups.setdefault(p.finalized_root, []).append(p)

    def strength(members: list[BeaconProbe]) -> tuple[int, int]:
        return len({_client_of(p) for p in members}), len(members)

    ranked = sorted(groups.items(), key=lambda kv: strength(kv[1]), reverse=True)
    root = ranked[0][0] if ranked else None
    if len(ranked) > 1 and strength(ranked[0][1]) == strength(ranked[1][1]):
        root = None
    return Finality(epoch, root, groups)


def needs_finality_check(p: BeaconProbe, fin: Finality) -> bool:
    """Is ``p`` at another finalized epoch than the reference, with a majority root to ask for?"""
    return (fin.root is not None and fin.epoch is not None and p.answered and not p.invalid
            and p.finalized_epoch is not None and p.finalized_epoch != fin.epoch
            and p.finalized_root not in (None, ZERO_ROOT))


@record(frozen=True)
class BeaconVerdict:
    target: BeaconTarget
    level: Level
    message: str
    state: str
    values: dict[str, float]
    facts: dict[str, Any]
    states: tuple[str, ...] = ()


@record(frozen=True)
class ChainConsensus:
    chain: str
    level: Level
    message: str
    reference_slot: int | None
    finalized_epoch: int | None
    finalized_root: str | None
    groups: tuple[tuple[str, int, tuple[str, ...]], ...]


def judge_chain(chain: str, probes: Sequence[BeaconProbe], *, slot_lag_warning: int, slot_lag_critical: int,
                min_peers: int, slow_s: float) -> tuple[list[BeaconVerdict], ChainConsensus]:
    """Every consensus target's level and the chain's consensus-layer check (module docstring)."""
    ref, implausible = reference_slot(probes)
    fin = finality_reference(probes)

    def describe(root: str) -> str:
        members = fin.groups[root]
        return f"{len(members)} on {short(root)} ({', '.join(sorted({_client_of(p) for p in members}))})"

    verdicts: list[BeaconVerdict] = []
    for p in probes:
        t = p.target
        found: list[tuple[Level, str, str]] = []
        notes = list(p.notes)
        values: dict[str, float] = {"up": 0.0}
        facts: dict[str, Any] = {"chain": chain, "client": t.client, "url": safe_url(t.url), "host": t.host,
                                 "adopted": t.adopted, "pair": t.pair}
        if p.elapsed_s is not None:
            values["response_seconds"] = round(p.elapsed_s, 4)
        if t.stopped is not None:
            found.append((Level.CRITICAL, f"container not running ({t.stopped})", "stopped"))
        elif p.unchecked:
            found.append((Level.UNKNOWN, p.error or "not checked in time (the sweep's deadline)", "unchecked"))
        elif p.error is not None:
            found.append((Level.CRITICAL, p.error, "unreachable"))
        elif p.health_status == 503:
            found.append((Level.CRITICAL, "not ready: /eth/v1/node/health answered 503 (not initialized or "
                          "having issues)", "not_ready"))
        elif p.health_status not in (200, 206):
            found.append((Level.CRITICAL, f"/eth/v1/node/health answered HTTP {p.health_status}", "not_ready"))
        if not found:
            values["up"] = 1.0
            facts.update(health_status=p.health_status, head_slot=p.head_slot, head_root=p.head_root,
                         sync_distance=p.sync_distance, is_syncing=p.is_syncing, is_optimistic=p.is_optimistic,
                         el_offline=p.el_offline, finalized_epoch=p.finalized_epoch,
                         finalized_root=p.finalized_root, peers=p.peers, client_version=p.version)
            name, version = parse_beacon_version(p.version)
            facts["running_client"], facts["running_version"] = name, version
            for reason in p.invalid:
                found.append((Level.UNKNOWN, reason, "invalid"))
            if p.failed:
                found.append((Level.WARNING, "incomplete answers: " + "; ".join(p.failed), "incomplete"))
            if not p.invalid:
                if p.el_offline:
                    found.append((Level.CRITICAL, "its execution client is offline (el_offline)", "el_offline"))
                    values["el_offline"] = 1.0
                elif p.el_offline is not None:
                    values["el_offline"] = 0.0
                if p.is_optimistic:
                    found.append((Level.CRITICAL, "optimistic: its execution client has not validated the head "
                                  "(it serves unvalidated data)", "optimistic"))
                    values["optimistic"] = 1.0
                elif p.is_optimistic is not None:
                    values["optimistic"] = 0.0
                if p.is_syncing:
                    distance = f", {p.sync_distance:,} slots to go" if p.sync_distance is not None else ""
                    found.append((Level.WARNING, f"syncing (head slot {p.head_slot or 0:,}{distance})", "syncing"))
                    values["syncing"] = 1.0
                elif p.is_syncing is not None:
                    values["syncing"] = 0.0
                elif p.health_status == 206 and not p.failed:
                    found.append((Level.WARNING, "/eth/v1/node/health answered 206 (syncing)", "syncing"))
                if p.head_slot is not None:
                    values["head_slot"] = float(p.head_slot)
                    if ref is not None and (p.head_slot in implausible
                                            or p.head_slot - ref >= max(slot_lag_critical, 1)):
                        found.append((Level.UNKNOWN, f"claims head slot {p.head_slot:,}, {p.head_slot - ref:,} "
                                      f"ahead of the chain's majority slot {ref:,}: implausible (it or the majority "
                                      "is wrong)", "ahead"))
                    elif ref is not None:
                        lag = max(0, ref - p.head_slot)
                        values["slot_lag"] = float(lag)
                        facts["slot_lag"] = lag
                        text = f"{lag} slots behind the chain's majority head slot {ref:,}"
                        if lag >= slot_lag_critical:
                            found.append((Level.CRITICAL, text, "lagging"))
                        elif lag >= slot_lag_warning:
                            found.append((Level.WARNING, text, "lagging"))
                if p.finalized_epoch is not None:
                    values["finalized_epoch"] = float(p.finalized_epoch)
                diverged = None
                if fin.root is not None and p.finalized_epoch == fin.epoch and p.finalized_root is not None \
                        and p.finalized_root != ZERO_ROOT:
                    diverged = p.finalized_root != fin.root
                    if diverged:
                        found.append((Level.CRITICAL, f"DIVERGED: finalized epoch {fin.epoch:,} is "
                                      f"{short(p.finalized_root)} here, {short(fin.root)} on the majority "
                                      f"({describe(fin.root)})", "diverged"))
                elif p.finality_check is not None and fin.root is not None:
                    diverged = p.finality_check == "diverged"
                    if diverged:
                        found.append((Level.CRITICAL, f"DIVERGED: the majority's finalized block {short(fin.root)} "
                                      f"(epoch {fin.epoch:,}) is not canonical here (finalized epoch "
                                      f"{p.finalized_epoch:,} at {short(p.finalized_root or '?')})", "diverged"))
                elif p.finality_note:
                    notes.append(p.finality_note)
                if diverged is not None:
                    values["diverged"] = 1.0 if diverged else 0.0
                if p.peers is not None:
                    values["peers"] = float(p.peers)
                    if p.peers < min_peers:
                        found.append((Level.WARNING, f"{p.peers} peers (fewer than {min_peers})", "peers"))
                if t.client and name and name != t.client:
                    found.append((Level.WARNING, f"runs {name}, {'declared' if t.adopted else 'planned'} {t.client}",
                                  "mismatch"))
                elif t.planned_image and t.image and t.image != t.planned_image:
                    found.append((Level.WARNING, f"image {t.image}, planned {t.planned_image} (fleetctl apply)",
                                  "mismatch"))
                elif t.planned_version and version and version != t.planned_version:
                    found.append((Level.WARNING, f"runs {name} {version}, planned {t.planned_version}", "mismatch"))
                if p.elapsed_s is not None and p.elapsed_s > slow_s:
                    found.append((Level.WARNING, f"slow: answered in {p.elapsed_s:.2f} s", "slow"))
        found.sort(key=lambda item: -item[0].severity)
        if found:
            level = max((f[0] for f in found), key=lambda lv: lv.severity)
            state = found[0][2]
            message = "; ".join(f[1] for f in found)
        else:
            level, state = Level.OK, "ok"
            parts = [f"slot {p.head_slot:,}" if p.head_slot is not None else "up"]
            if facts.get("slot_lag") is not None:
                parts.append(f"{facts['slot_lag']} behind")
            if p.finalized_epoch is not None:
                parts.append(f"finalized epoch {p.finalized_epoch:,}")
            if p.peers is not None:
                parts.append(f"{p.peers} peers")
            message = ", ".join(parts)
        if notes and level is Level.OK:
            message += "; " + "; ".join(notes)
        facts["notes"] = notes
        verdicts.append(BeaconVerdict(t, level, message, state, values, facts, tuple(f[2] for f in found)))

    described = tuple((r, len(m), tuple(sorted({_client_of(p) for p in m}))) for r, m in sorted(fin.groups.items()))
    answered = [p for p in probes if p.answered]
    up = sum(1 for v in verdicts if v.values.get("up"))
    if not probes:
        level, message = Level.OK, "no consensus clients"
    elif not answered and all(p.unchecked for p in probes):
        level, message = Level.UNKNOWN, f"none of {len(probes)} consensus clients checked in time"
    elif not answered:
        level, message = Level.CRITICAL, f"none of {len(probes)} consensus clients answered"
    elif fin.epoch is not None and fin.root is None:
        level, message = Level.CRITICAL, (f"no majority on the finalized checkpoint of epoch {fin.epoch:,}: "
                                          + ", ".join(describe(r) for r in sorted(fin.groups)))
    elif len(fin.groups) > 1 or any("diverged" in v.states for v in verdicts):
        n = sum(1 for v in verdicts if "diverged" in v.states)
        level, message = Level.CRITICAL, (f"{n} consensus client(s) diverged from the finalized checkpoint of epoch "
                                          f"{fin.epoch:,}: " + ", ".join(describe(r) for r in sorted(
                                              fin.groups, key=lambda r: r != fin.root)))
    else:
        level = Level.OK
        message = f"{up} of {len(probes)} consensus clients up"
        if ref is not None:
            message += f", head slot {ref:,}"
        if fin.epoch is not None and fin.root is not None:
            message += f"; {len(fin.groups[fin.root])} agree on finalized epoch {fin.epoch:,} ({short(fin.root)})"
    if level is Level.OK and len(probes) > 1 and up == 1:
        level, message = Level.WARNING, message + " (no redundancy left)"
    return verdicts, ChainConsensus(chain, level, message, ref, fin.epoch, fin.root, described)


def pair_marks(verdicts: Sequence[BeaconVerdict]) -> dict[str, tuple[Level, str]]:
    """Execution target name -> (level, reason) for every pair whose consensus client is CRITICAL
    for a reason that stops (or misleads) its execution client's head."""
    out: dict[str, tuple[Level, str]] = {}
    for v in verdicts:
        if v.target.pair is None or v.level is not Level.CRITICAL:
            continue
        state = next((s for s in v.states if s in PROPAGATED), None)
        if state is None:
            continue
        who = f"{v.target.client or 'client'} ({v.target.name})"
        what = {"stopped": "not running", "unreachable": "unreachable", "not_ready": "not ready",
                "el_offline": "reporting it offline (el_offline)", "optimistic": "optimistic",
                "diverged": "on another finalized root (DIVERGED)"}.get(state)
        if state == "lagging":
            what = f"{int(v.facts.get('slot_lag', 0))} slots behind"
        tail = "it follows another chain" if state == "diverged" else "its head will stop"
        out[v.target.pair] = (Level.CRITICAL, f"its consensus client {who} is {what}: {tail}")
    return out
