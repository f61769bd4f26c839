"""The health sweep: everything in the fleet, checked at once, within a hard time bound.

One asyncio loop, one HTTP session (bounded: ``health.concurrency`` requests in flight), one
SSH command per host (OpenSSH, see :mod:`fleetctl.provision.sshexec`), and the stake sweep of
:mod:`fleetctl.pocket.stakes` running beside them. What is checked:

* every adopted endpoint (fleet.yml) and every fleetctl-managed full node a host's Docker
  engine runs (its RPC port from its slot label): :mod:`fleetctl.health.execution`;
* every consensus client: each adopted consensus endpoint (``client: lighthouse`` ...), and the
  consensus client of each pair a host runs (the execution container's ``io.fleetctl.consensus``
  label names it, Caplin included; its Beacon API on the slot's beacon port of the host's
  address; a paired container that is stopped or missing is reported as such):
  :mod:`fleetctl.health.consensus`. A pair whose consensus client is down, optimistic, without
  its execution client, lagging or diverged has its execution client marked CRITICAL too;
* every balancer, RelayMiner and Morse node container: :mod:`fleetctl.health.services`;
* the Pocket node the RelayMiners query (Shannon ``pocket.node_rpc_url``);
* every declared supplier's stake (the stake monitor's own levels and history);
* every host: disk of its data volumes, memory, load, and its containers' states.

Time: the managed containers a host ran at the last sweep are cached beside the state store,
so their endpoints are probed at once while the hosts are asked again (a host that does not
answer still has its endpoints checked). Each request and SSH command has the per-check
timeout ``T``; an endpoint that fails its first request is not asked again; the sweep as a
whole is cut at ``3 T + 1 s`` (what is left is UNKNOWN, "not checked in time"). A hanging
endpoint therefore costs one timeout, never one per retry per target.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.health import consensus as cl
from fleetctl.health import execution as ex
from fleetctl.health import services as sv
from fleetctl.health.hostfacts import FACTS_SCRIPT, MAX_SLOT, Container, HostFacts, parse_facts
from fleetctl.health.values import MAX_BLOCK, BadValue, json_count, one_line
from fleetctl.core.atomic import write_json
from fleetctl.health.heads import load_heads, next_entry, predict, save_heads
from fleetctl.health.report import Check, HealthReport, Sample, samples
from fleetctl.core import layout
from fleetctl.core.levels import Level, worst
from fleetctl.core.events import Cancelled, CancelToken, CheckDone, EventSink, Progress
from fleetctl.provision.sshexec import SshResult, ssh_run
from fleetctl.core.redact import has_secret, safe_url, scrub, secret_parts
from fleetctl.core.units import format_upokt
from fleetctl.spec.model import CAPLIN, Fleet, HealthPolicy, Host

__all__ = ["SweepResult", "judge_host", "sweep"]

SSH_CONCURRENCY = 32
CACHE_SUFFIX = ".targets.json"
MAX_CACHE_BYTES = 64 * 2**20
#: How long the sweep waits for the state store's write lock before calling it locked.
LOCK_WAIT_S = 0.5


# ----------------------------------------------------------------------------- hosts


def judge_host(host: Host, result: SshResult | None, facts: HostFacts | None,
               policy: HealthPolicy) -> Check:
    """The host's own check: reachable, disk of each data filesystem, memory, load."""
    labels = {"host": host.name}
    if result is None:
        return Check(host.name, "host", Level.UNKNOWN, "not checked in time", {"address": host.address}, (), labels)
    if facts is None:
        reason = result.error or f"facts command exited {result.returncode}: " + \
            " ".join(result.stderr.decode(errors="replace").split())[:160]
        return Check(host.name, "host", Level.CRITICAL, f"unreachable: {reason}", {"address": host.address},
                     (Sample("up", 0.0),), labels)
    found: list[tuple[Level, str]] = []
    out: list[Sample] = [Sample("up", 1.0)]
    disks = []
    for d in facts.disks:
        free = d.free_pct
        where = d.mount + (f" ({', '.join(d.volumes)})" if d.volumes else "")
        text = f"disk {where}: {free:.1f}% free ({d.avail_kib / 2**20:,.1f} GiB)"
        if free < policy.disk_critical_pct:
            found.append((Level.CRITICAL, text))
        elif free < policy.disk_warning_pct:
            found.append((Level.WARNING, text))
        out.append(Sample("disk_free_ratio", round(free / 100, 5), (("mount", d.mount),)))
        out.append(Sample("disk_free_bytes", float(d.avail_kib * 1024), (("mount", d.mount),)))
        disks.append({"mount": d.mount, "free_percent": round(free, 2), "avail_bytes": d.avail_kib * 1024,
                      "size_bytes": d.size_kib * 1024, "volumes": list(d.volumes)})
    mem = facts.mem_available_pct
    if mem is not None:
        out.append(Sample("memory_available_ratio", round(mem / 100, 5)))
        text = f"memory {mem:.1f}% available"
        if mem < policy.memory_critical_pct:
            found.append((Level.CRITICAL, text))
        elif mem < policy.memory_warning_pct:
            found.append((Level.WARNING, text))
    load = facts.load5_per_cpu
    if load is not None:
        out.append(Sample("load5_per_cpu", round(load, 4)))
        text = f"load {load:.2f} per CPU (5 min)"
        if load >= policy.load_critical:
            found.append((Level.CRITICAL, text))
        elif load >= policy.load_warning:
            found.append((Level.WARNING, text))
    stopped = [c for c in facts.containers if not c.running]
    out.append(Sample("containers_stopped", float(len(stopped))))
    if facts.docker_error:
        found.append((Level.WARNING, f"docker: {facts.docker_error}"))
    for problem in facts.problems:
        found.append((Level.UNKNOWN, problem))
    found.sort(key=lambda f: -f[0].severity)
    level = worst(f[0] for f in found)
    if found and level is not Level.OK:
        message = "; ".join(text for lv, text in found if lv is not Level.OK)
    else:
        parts = []
        if load is not None:
            parts.append(f"load {load:.2f}/CPU")
        if mem is not None:
            parts.append(f"memory {mem:.0f}% available")
        if facts.disks:
            least = min(facts.disks, key=lambda d: d.free_pct)
            parts.append(f"disk {least.free_pct:.0f}% free ({least.mount})")
        message = ", ".join(parts) or "reachable"
    if stopped:
        message += "; stopped: " + ", ".join(c.name for c in stopped)
    facts_out = {"address": host.address, "cpus": facts.cpus, "load5": facts.load5,
                 "memory_available_percent": None if mem is None else round(mem, 2), "disks": disks,
                 "containers": [{"name": c.name, "role": c.role, "running": c.running, "status": c.status}
                                for c in facts.containers]}
    return Check(host.name, "host", level, message, facts_out, tuple(out), labels)


# ----------------------------------------------------------------------------- the cache


def _cache_path(db: Path) -> Path:
    return db.with_name(db.name + CACHE_SUFFIX)


def load_cache(db: Path, notes: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The managed containers each host ran at its last successful sweep. A cache of the wrong
    shape is ignored (one line in ``notes``) and rebuilt from the hosts' answers."""
    path = _cache_path(db)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CACHE_BYTES + 1)
    except OSError:
        return {}
    try:
        if len(raw) > MAX_CACHE_BYTES:
            raise ValueError(f"larger than {MAX_CACHE_BYTES // 2**20} MiB")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for host, entry in data.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("containers", []), list):
                raise ValueError(f"host {one_line(host, 40)!r}: not an object with a list of containers")
            for c in entry.get("containers", []):
                if _container_from_cache(c) is None:
                    raise ValueError(f"host {one_line(host, 40)!r}: a container of the wrong shape")
        return data
    except (ValueError, RecursionError) as exc:
        if notes is not None:
            notes.append(f"health: targets cache {path} ignored and rebuilt ({one_line(str(exc), 120)})")
        return {}


def save_cache(db: Path, cache: dict[str, dict[str, Any]]) -> None:
    """Atomically (overlapping runs: the last writer wins, nobody reads half a file)."""
    write_json(_cache_path(db), cache)  # a cache only: if not written, the next sweep asks the hosts


_CACHED_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,), "role": (str,), "chain": (str, type(None)), "client": (str, type(None)),
    "slot": (int, type(None)), "running": (bool,), "status": (str,), "image": (str,), "mounts": (list,),
    "pair": (str, type(None)), "consensus": (str, type(None))}
#: fields a cache written before pairs existed does not have (None then)
_CACHED_OPTIONAL = frozenset({"pair", "consensus"})


def _container_from_cache(c: Any) -> Container | None:
    """A cached container (``asdict`` of :class:`Container`), every field of its type; else None."""
    if not isinstance(c, dict) or not set(_CACHED_FIELDS) - _CACHED_OPTIONAL <= set(c) <= set(_CACHED_FIELDS):
        return None
    c = {**{k: None for k in _CACHED_OPTIONAL}, **c}
    for key, types in _CACHED_FIELDS.items():
        if not isinstance(c[key], types) or (key == "slot" and isinstance(c[key], bool)):
            return None
    if not all(isinstance(m, str) for m in c["mounts"]) or not c["name"]:
        return None
    if c["slot"] is not None and not 0 <= c["slot"] <= MAX_SLOT:
        return None
    return Container(**{**c, "mounts": tuple(c["mounts"])})


def _containers_from_cache(entry: dict[str, Any]) -> list[Container]:
    out = []
    for c in entry.get("containers", []) if isinstance(entry, dict) else []:
        container = _container_from_cache(c)
        if container is not None:
            out.append(container)
    return out


# ----------------------------------------------------------------------------- the sweep


@record
class SweepResult:
    checks: list[Check]
    balancers: list[sv.BalancerRead] = field(default_factory=list)
    verdicts: dict[str, ex.Verdict] = field(default_factory=dict)
    beacon_verdicts: dict[str, cl.BeaconVerdict] = field(default_factory=dict)
    facts: dict[str, HostFacts] = field(default_factory=dict)
    stake_report: Any = None
    #: alert keys whose state must be kept as it is this run (their parent could not be read)
    keep: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: another process holds the state store's write lock: nothing is written this run
    store_locked: bool = False


class _Runner:
    """Starts tasks and remembers them, so the sweep can wait for all with one deadline. Once
    ``cancel`` is cancelled, a task is cancelled before it runs: no new request is launched."""

    def __init__(self, cancel: CancelToken | None = None) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.cancel = cancel

    def start(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        if self.cancel is not None and self.cancel.cancelled:
            task.cancel()
        return task

    async def stop(self, http: Any) -> None:
        """Cancel every task not done, wait for them to end, close the HTTP pool."""
        pending = [t for t in self.tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await http.close()


def _planned_image(fleet: Fleet, host: str, client: str | None) -> str | None:
    if not client:
        return None
    from fleetctl.plan.vars import host_image

    try:
        return host_image(fleet, host, client)
    except Exception:  # an unreadable images.yml: no planned image, no comparison
        return None


def _exec_target(fleet: Fleet, host: Host, c: Container) -> ex.ExecTarget | None:
    if c.role != "node" or not c.chain or c.rpc_port is None:
        return None
    planned = _planned_image(fleet, host.name, c.client)
    return ex.ExecTarget(name=c.name, chain=c.chain, url=f"http://{host.address}:{c.rpc_port}", client=c.client,
                         host=host.name, adopted=False, planned_version=ex.version_of_image(planned),
                         planned_image=planned, image=c.image or None,
                         stopped=None if c.running else (c.status or "stopped"))


def _beacon_targets(fleet: Fleet, host: Host, containers: list[Container]) -> list[cl.BeaconTarget]:
    """The consensus clients of the pairs among ``containers`` (one host's, all of them): from each
    execution node's consensus label (Caplin: served by the node itself), and any consensus
    container whose execution node is not there."""
    from fleetctl.plan import model as pm  # the pairs' ports (only where a host runs pairs)

    out: list[cl.BeaconTarget] = []
    by_name = {c.name: c for c in containers}
    seen: set[str] = set()
    for c in containers:
        if c.role != "node" or not c.chain or c.slot is None or not c.consensus:
            continue  # a node from before pairs (no consensus label): no consensus target
        node = pm.NodePlacement(c.name, c.chain, c.client or "", host.name, slot=c.slot, consensus=c.consensus)
        url = f"http://{host.address}:{node.beacon_port}"
        if c.consensus == CAPLIN:
            # Caplin runs inside Erigon: its version is Erigon's, checked on the execution side.
            out.append(cl.BeaconTarget(f"{c.name}-{CAPLIN}", c.chain, url, CAPLIN, host.name, pair=c.name,
                                       stopped=None if c.running else (c.status or "stopped")))
            continue
        name = node.consensus_name or f"{c.name}-{c.consensus}"
        cc = by_name.get(name) or next((x for x in containers if x.role == "consensus" and x.pair == c.name), None)
        planned = _planned_image(fleet, host.name, c.consensus)
        stopped = None
        if cc is None:
            stopped = f"missing: no container {name} on {host.name}"
        elif not cc.running:
            stopped = cc.status or "stopped"
        elif not c.running:
            stopped = f"its execution container {c.name} is not running ({c.status or 'stopped'})"
        if cc is not None:
            seen.add(cc.name)
            name = cc.name
        out.append(cl.BeaconTarget(name, c.chain, url, c.consensus, host.name, pair=c.name,
                                   planned_version=ex.version_of_image(planned), planned_image=planned,
                                   image=(cc.image or None) if cc is not None else None, stopped=stopped))
    for c in containers:
        if c.role == "consensus" and c.name not in seen and c.chain and c.slot is not None:
            node = pm.NodePlacement(c.pair or c.name, c.chain, "", host.name, slot=c.slot, consensus=c.client or "")
            planned = _planned_image(fleet, host.name, c.client)
            out.append(cl.BeaconTarget(c.name, c.chain, f"http://{host.address}:{node.beacon_port}", c.client,
                                       host.name, pair=c.pair, planned_version=ex.version_of_image(planned),
                                       planned_image=planned, image=c.image or None,
                                       stopped=None if c.running else (c.status or "stopped")))
    return out


def _stats_url(fleet: Fleet, host: Host, chain: str) -> str | None:
    if chain not in fleet.chains:
        return None
    port = layout.BALANCER_PORT_BASE + list(fleet.chains).index(chain) + layout.BALANCER_STATS_OFFSET
    return f"http://{host.address}:{port}/stats;csv"


async def sweep(fleet: Fleet, *, timeout: float, concurrency: int, db: Path,
                record_stakes: bool = True, on_step: Callable[[str], None] = lambda s: None,
                on_event: EventSink | None = None, cancel: CancelToken | None = None) -> SweepResult:
    """Check everything (see the module docstring); never raises for a fleet problem.

    ``on_event`` gets a :class:`~fleetctl.core.events.Progress` as probes finish and a
    :class:`~fleetctl.core.events.CheckDone` per check at the end. A cancelled ``cancel`` stops
    launching probes, cancels those in flight and raises :class:`~fleetctl.core.events.Cancelled`
    (nothing is saved: a cancelled sweep is never a report)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    hard_deadline = t0 + 3 * timeout + 1.0
    policy = fleet.health
    http = ex.Http(concurrency)
    runner = _Runner(cancel)
    ssh_gate = asyncio.Semaphore(SSH_CONCURRENCY)
    result = SweepResult(checks=[])
    cache = load_cache(db, result.notes)
    heads = load_heads(db)
    now = time.time()
    predicted = {chain: predict(heads.get(chain), now, policy.hash_depth) for chain in fleet.chains}
    if record_stakes:
        # A writer stuck on the state store would hold every write of this run (stake history,
        # alerts, remediation) past the time bound: found first, within a short bounded wait.
        result.store_locked = await asyncio.to_thread(store_locked, db, min(LOCK_WAIT_S, timeout / 4))
    probes: dict[str, asyncio.Task[ex.ExecProbe]] = {}
    targets: dict[str, ex.ExecTarget] = {}
    beacon_probes: dict[str, asyncio.Task[cl.BeaconProbe]] = {}
    beacon_targets: dict[str, cl.BeaconTarget] = {}
    balancers: dict[tuple[str, str], tuple[sv.BalancerRead, asyncio.Task[Any] | None]] = {}
    relayminers: dict[str, tuple[sv.RelayMinerRead, asyncio.Task[Any] | None]] = {}
    morse_nodes: dict[str, tuple[sv.PocketNodeRead, asyncio.Task[Any] | None]] = {}
    stopped_services: dict[tuple[str, str], Container] = {}

    def probe_target(t: ex.ExecTarget) -> None:
        if t.name in targets:
            return
        targets[t.name] = t
        if t.stopped is not None:
            probes[t.name] = runner.start(_done(ex.ExecProbe(t)))
        else:
            probes[t.name] = runner.start(ex.probe_endpoint(http, t, timeout, predicted.get(t.chain)))

    def probe_beacon(t: cl.BeaconTarget) -> None:
        known = beacon_targets.get(t.name)
        if known is not None and not (known.stopped is None and t.stopped is not None):
            return
        beacon_targets[t.name] = t  # new, or the fresh facts say it stopped: report that
        if t.stopped is not None:
            beacon_probes[t.name] = runner.start(_done(cl.BeaconProbe(t)))
        else:
            beacon_probes[t.name] = runner.start(cl.probe_beacon(http, t, timeout))

    def take_containers(host: Host, containers: list[Container]) -> None:
        for beacon in _beacon_targets(fleet, host, containers):
            probe_beacon(beacon)
        for c in containers:
            t = _exec_target(fleet, host, c)
            if t is not None:
                if t.name in targets and targets[t.name].stopped is None and t.stopped is not None:
                    targets[t.name] = t  # the fresh facts say it stopped: report that
                    probes[t.name] = runner.start(_done(ex.ExecProbe(t)))
                probe_target(t)
            elif c.role == "balancer" and c.chain:
                url = _stats_url(fleet, host, c.chain)
                if (host.name, c.chain) not in balancers and url is not None:
                    read = sv.BalancerRead(host.name, c.name, c.chain, url)
                    watch(balancers, (host.name, c.chain), ("balancer", read.target), c, read, sv.read_haproxy)
            elif c.role == "relayminer" and host.name not in relayminers:
                read_rm = sv.RelayMinerRead(host.name, f"http://{host.address}:{layout.RELAYMINER_METRICS_PORT}/metrics",
                                            ping_url=_ping_url(host))
                watch(relayminers, host.name, ("relayminer", host.name), c, read_rm, sv.read_relayminer)
            elif c.role == "morse" and host.name not in morse_nodes:
                read_m = sv.PocketNodeRead(host.name, f"http://{host.address}:8081")
                watch(morse_nodes, host.name, ("pocket_node", host.name), c, read_m, sv.read_morse_height)

    def watch(table: dict[Any, Any], key: Any, check: tuple[str, str], c: Container, read: Any,
              reader: Callable[..., Awaitable[Any]]) -> None:
        """Read a service container's endpoint, or remember that the container is stopped."""
        if c.running:
            table[key] = (read, runner.start(reader(http, read, timeout)))
        else:
            stopped_services[check] = c
            table[key] = (read, None)

    # What is known without asking the hosts: adopted endpoints and the cached containers.
    for chain in fleet.chains.values():
        for e in chain.execution_endpoints:
            probe_target(ex.ExecTarget(e.name, chain.id, e.url, e.client, e.host, adopted=True))
        for e in chain.consensus_endpoints:
            probe_beacon(cl.BeaconTarget(e.name, chain.id, e.url, e.client, e.host, adopted=True, pair=e.pair))
    for name, host in fleet.hosts.items():
        if name in cache:
            take_containers(host, _containers_from_cache(cache[name]))

    stake_task = None
    if any(not s.planned for s in fleet.suppliers):
        from fleetctl.pocket.stakes import sweep_stakes

        stake_task = runner.start(sweep_stakes(fleet, concurrency=concurrency, timeout=timeout,
                                               deadline=2 * timeout, db=db,
                                               record=record_stakes and not result.store_locked))
    claims_task = None
    if fleet.protocol == "shannon" and any(not s.planned for s in fleet.suppliers):
        # the chain's claim, proof, settlement and slash events since the last run (issue 12),
        # within the sweep's bound: a slow node makes the claims check UNKNOWN, never the run
        claims_task = runner.start(_claims(fleet, db, timeout=timeout, concurrency=concurrency,
                                           record=record_stakes and not result.store_locked))
    height_task = None
    if stake_task is None and (fleet.pocket.rest_url if fleet.protocol == "shannon" else fleet.pocket.rpc_url):
        # No supplier to read: the network height still judges the Pocket nodes.
        height_task = runner.start(_network_height(fleet, timeout))
    comet = comet_task = None
    if fleet.protocol == "shannon" and fleet.pocket.node_rpc_url:
        comet = sv.PocketNodeRead("pocket-node", sv.comet_url(fleet.pocket.node_rpc_url))
        comet_task = runner.start(sv.read_comet_height(http, comet, timeout))

    ssh_results: dict[str, SshResult] = {}

    async def ask_host(host: Host) -> None:
        async with ssh_gate:
            res = await ssh_run(host, FACTS_SCRIPT, timeout=timeout)
        ssh_results[host.name] = res
        if res.error is None and res.returncode == 0:
            facts = parse_facts(res.stdout.decode(errors="replace"))
            result.facts[host.name] = facts
            if facts.docker and facts.docker_error is None:
                cache[host.name] = {"seen_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                    "containers": [asdict(c) for c in facts.containers]}
                take_containers(host, facts.containers)

    host_tasks = [runner.start(ask_host(h)) for h in fleet.hosts.values()]
    on_step(f"health: {len(targets)} endpoints, {len(beacon_targets)} consensus clients, {len(host_tasks)} hosts, "
            f"{sum(1 for s in fleet.suppliers if not s.planned)} suppliers")

    # Phase 1: wait for the hosts and every first probe (new ones start as hosts answer).
    await _wait_all(runner, hard_deadline - timeout - 0.5, exclude={t for t in (stake_task, claims_task) if t},
                    cancel=cancel, on_event=on_event)
    if cancel is not None and cancel.cancelled:
        await runner.stop(http)
        raise Cancelled(f"health: {cancel.reason}")

    # Phase 2: block hashes at each chain's common height.
    by_chain: dict[str, list[ex.ExecProbe]] = {}
    finished: dict[str, ex.ExecProbe] = {}
    for name, ptask in probes.items():
        t = targets[name]
        if ptask.done() and not ptask.cancelled() and ptask.exception() is None:
            finished[name] = ptask.result()
        elif _failure(ptask) is not None:  # a bug or an answer no reader foresaw: this endpoint only
            finished[name] = ex.ExecProbe(t, invalid=[f"check failed: {_failure(ptask)}"])
        else:
            finished[name] = ex.ExecProbe(t, error="not checked in time (the sweep's deadline)", unchecked=True)
        by_chain.setdefault(t.chain, []).append(finished[name])
    compared: dict[str, int] = {}
    for chain_id, chain_probes in by_chain.items():
        height = ex.compare_height(chain_probes, policy.hash_depth)
        if height is None:
            continue
        compared[chain_id] = height
        for p in chain_probes:
            if p.answered and not p.is_syncing and p.head is not None and p.head >= height \
                    and not ex.take_predicted_hash(p, height):
                runner.start(ex.probe_hash(http, p, height, timeout))
    # ... and, for consensus clients at another finalized epoch than their chain's reference,
    # whether the majority's finalized block is on their chain.
    beacon_by_chain: dict[str, list[cl.BeaconProbe]] = {}
    for name, btask in beacon_probes.items():
        bt = beacon_targets[name]
        if _finished(btask):
            bp = btask.result()
        elif _failure(btask) is not None:
            bp = cl.BeaconProbe(bt, health_status=200, invalid=[f"check failed: {_failure(btask)}"])
        else:
            bp = cl.BeaconProbe(bt, error="not checked in time (the sweep's deadline)", unchecked=True)
        beacon_by_chain.setdefault(bt.chain, []).append(bp)
    for _chain_id, bps in beacon_by_chain.items():
        fin = cl.finality_reference(bps)
        for bp in bps:
            if cl.needs_finality_check(bp, fin):
                assert fin.epoch is not None and fin.root is not None
                runner.start(cl.probe_finality(http, bp, fin.epoch, fin.root, timeout))
    await _wait_all(runner, hard_deadline, exclude=set(), cancel=cancel, on_event=on_event)
    for late in runner.tasks:
        if not late.done():
            late.cancel()
    if cancel is not None and cancel.cancelled:
        await runner.stop(http)
        raise Cancelled(f"health: {cancel.reason}")
    await http.close()
    if record_stakes:  # --no-record changes no state, the cache of what hosts run included
        save_cache(db, cache)
        learned = {}
        for chain_id, height in compared.items():
            times = sorted(p.block_time for p in by_chain[chain_id] if p.hash_height == height and p.block_time)
            if times:  # the median: a few endpoints cannot move it
                learned[chain_id] = next_entry(heads.get(chain_id), height, times[len(times) // 2])
        if learned:
            save_heads(db, {**heads, **learned})

    # ---- judging: a bug (or an answer no reader foresaw) in one check makes that check UNKNOWN
    checks = result.checks
    for chain_id in fleet.chains:
        chain_probes = sorted(by_chain.get(chain_id, []), key=lambda p: p.target.name)
        try:
            checks.extend(_chain_checks(chain_id, chain_probes, policy, result))
        except Exception as exc:  # noqa: BLE001 - reported as the checks' own failure
            reason = f"check failed: {_exception_line(exc)}"
            checks.extend(Check(p.target.name, "execution", Level.UNKNOWN, reason, {"chain": chain_id}, (),
                                {"chain": chain_id}) for p in chain_probes)
            checks.append(Check(chain_id, "chain", Level.UNKNOWN, reason, {}, (), {"chain": chain_id}))
    for chain_id in sorted(beacon_by_chain):
        bps = sorted(beacon_by_chain[chain_id], key=lambda p: p.target.name)
        try:
            checks.extend(_consensus_checks(chain_id, bps, policy, result))
        except Exception as exc:  # noqa: BLE001 - reported as the checks' own failure
            reason = f"check failed: {_exception_line(exc)}"
            checks.extend(Check(p.target.name, "consensus", Level.UNKNOWN, reason, {"chain": chain_id}, (),
                                {"chain": chain_id}) for p in bps)
    try:
        _mark_pairs(checks, result)
    except Exception as exc:  # noqa: BLE001
        result.notes.append(f"health: consensus pair marks not applied: {_exception_line(exc)}")

    def service_level(stopped: Container | None, task: asyncio.Task[Any] | None,
                      judge: Callable[[], tuple[Level, str, dict[str, float]]]) -> tuple[Level, str, dict[str, float]]:
        if stopped is not None:
            return Level.CRITICAL, f"container not running ({stopped.status})", {"up": 0.0}
        if _failure(task) is not None:
            return Level.UNKNOWN, f"check failed: {_failure(task)}", {}
        if not _finished(task):
            return Level.UNKNOWN, "not checked in time", {}
        return judge()

    pulled = _pulled_servers(db)
    for (host_name, chain_id), (read, task) in sorted(balancers.items()):
        labels = {"host": host_name, "chain": chain_id}
        result.balancers.append(read)
        checks.append(_guarded(read.target, "balancer", labels, lambda: _service_check(
            read.target, "balancer", service_level(
                stopped_services.get(("balancer", read.target)), task,
                lambda: sv.judge_balancer(read, pulled.get((host_name, read.name), set()))),
            {"host": host_name, "chain": chain_id, "stats_url": read.stats_url,
             "servers": [{"name": s.name, "status": s.status, "check": s.check} for s in read.servers]}, labels)))
    rm_path = sv.state_path(db)
    rm_states = sv.load_states(rm_path, result.notes) if relayminers else {}
    rm_node_height = comet.height if comet is not None and comet.error is None else None
    rm_limits = sv.RelayMinerLimits.of(policy)
    for host_name, (read_rm, task) in sorted(relayminers.items()):
        labels = {"host": host_name}

        def judge_rm() -> tuple[Level, str, dict[str, float]]:
            level, message, values, state = sv.assess_relayminer(
                read_rm, limits=rm_limits, previous=rm_states.get(host_name), node_height=rm_node_height)
            if state is not None:
                rm_states[host_name] = state
            return level, message, values

        checks.append(_guarded(host_name, "relayminer", labels, lambda: _relayminer_check(_service_check(
            host_name, "relayminer", service_level(stopped_services.get(("relayminer", host_name)), task, judge_rm),
            {"host": host_name, "url": read_rm.url, "ping_url": read_rm.ping_url}, labels))))
    if relayminers and record_stakes and not result.store_locked:
        sv.save_states(rm_path, rm_states)

    stake_report = None
    if stake_task is not None and _finished(stake_task):
        stake_report = stake_task.result()
    result.stake_report = stake_report
    network_height = _height_or_note(getattr(stake_report, "height", None), "the stake sweep", result)
    if height_task is not None and _finished(height_task):
        network_height = _height_or_note(height_task.result(), "the network", result)
    policy_lag = {"lag_warning": policy.pocket_lag_warning, "lag_critical": policy.pocket_lag_critical}
    if comet is not None:
        checks.append(_guarded("pocket-node", "pocket_node", {}, lambda: _service_check(
            "pocket-node", "pocket_node", service_level(
                None, comet_task, lambda: sv.judge_pocket_node(comet, network_height, **policy_lag)),
            {"url": safe_url(comet.url), "height": comet.height, "catching_up": comet.catching_up,
             "network_height": network_height}, {})))
    for host_name, (read_m, task) in sorted(morse_nodes.items()):
        labels = {"host": host_name}
        checks.append(_guarded(host_name, "pocket_node", labels, lambda: _service_check(
            host_name, "pocket_node", service_level(
                stopped_services.get(("pocket_node", host_name)), task,
                lambda: sv.judge_pocket_node(read_m, network_height, **policy_lag)),
            {"url": read_m.url, "height": read_m.height, "network_height": network_height}, labels)))

    try:
        checks.extend(_stake_checks(fleet, stake_task, stake_report, result))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("network", "stake", Level.UNKNOWN, f"check failed: {_exception_line(exc)}", {}, (), {}))

    try:
        checks.extend(_claims_checks(fleet, claims_task, result, timeout))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("sync", "claims", Level.UNKNOWN, f"check failed: {_exception_line(exc)}", {}, (), {}))

    for name, host in fleet.hosts.items():
        checks.append(_guarded(name, "host", {"host": name}, lambda: judge_host(
            host, ssh_results.get(name), result.facts.get(name), policy)))
    if result.store_locked:
        checks.append(locked_check(db))
    _redact_checks(fleet, result)
    if on_event is not None:
        for c in result.checks:
            on_event(CheckDone("health", c.target, c.level, c.message))
    on_step(f"health: swept in {loop.time() - t0:.2f} s")
    return result


def _chain_checks(chain_id: str, chain_probes: list[ex.ExecProbe], policy: HealthPolicy,
                  result: SweepResult) -> list[Check]:
    """The checks of one chain: each endpoint's and the chain's own."""
    out: list[Check] = []
    verdicts, chain_verdict = ex.judge_chain(chain_id, chain_probes, lag_warning=policy.lag_warning,
                                             lag_critical=policy.lag_critical, min_peers=policy.min_peers,
                                             slow_s=policy.slow_s)
    for v in verdicts:
        result.verdicts[v.target.name] = v
        labels = {"chain": chain_id}
        if v.target.client:
            labels["client"] = v.target.client
        if v.target.host:
            labels["host"] = v.target.host
        out.append(Check(v.target.name, "execution", v.level, v.message, {**v.facts, "state": v.state},
                         samples(v.values), labels))
    chain_samples = [Sample("endpoints_up", float(sum(1 for v in verdicts if v.values.get("up"))))]
    if chain_verdict.reference_head is not None:
        chain_samples.append(Sample("reference_head", float(chain_verdict.reference_head)))
    level = chain_verdict.level
    message = chain_verdict.message
    up = sum(1 for v in verdicts if v.values.get("up"))
    if level is Level.OK and len(verdicts) > 1 and up == 1:
        level, message = Level.WARNING, message + " (no redundancy left)"
    out.append(Check(chain_id, "chain", level, message,
                     {"reference_head": chain_verdict.reference_head,
                      "compared_height": chain_verdict.compared_height,
                      "hash_groups": [{"hash": h, "endpoints": n, "clients": list(c)}
                                      for h, n, c in chain_verdict.groups]},
                     tuple(chain_samples), {"chain": chain_id}))
    return out


def _consensus_checks(chain_id: str, probes: list[cl.BeaconProbe], policy: HealthPolicy,
                      result: SweepResult) -> list[Check]:
    """The checks of one chain's consensus clients, and the chain's consensus-layer check."""
    out: list[Check] = []
    verdicts, chain_verdict = cl.judge_chain(chain_id, probes, slot_lag_warning=policy.slot_lag_warning,
                                             slot_lag_critical=policy.slot_lag_critical,
                                             min_peers=policy.min_peers, slow_s=policy.slow_s)
    for v in verdicts:
        result.beacon_verdicts[v.target.name] = v
        labels = {"chain": chain_id}
        if v.target.client:
            labels["client"] = v.target.client
        if v.target.host:
            labels["host"] = v.target.host
        out.append(Check(v.target.name, "consensus", v.level, v.message, {**v.facts, "state": v.state},
                         samples(v.values), labels))
    chain_samples = [Sample("consensus_up", float(sum(1 for v in verdicts if v.values.get("up"))))]
    if chain_verdict.reference_slot is not None:
        chain_samples.append(Sample("reference_slot", float(chain_verdict.reference_slot)))
    if chain_verdict.finalized_epoch is not None:
        chain_samples.append(Sample("finalized_epoch", float(chain_verdict.finalized_epoch)))
    out.append(Check(f"{chain_id}/consensus", "chain", chain_verdict.level, chain_verdict.message,
                     {"reference_slot": chain_verdict.reference_slot,
                      "finalized_epoch": chain_verdict.finalized_epoch,
                      "finalized_root": chain_verdict.finalized_root,
                      "finalized_groups": [{"root": r, "clients_count": n, "clients": list(c)}
                                           for r, n, c in chain_verdict.groups]},
                     tuple(chain_samples), {"chain": chain_id}))
    return out


def _mark_pairs(checks: list[Check], result: SweepResult) -> None:
    """Each execution client whose consensus client stops its head gets that CRITICAL too (its
    check, and the verdict remediation reads: state ``consensus``)."""
    marks = cl.pair_marks(list(result.beacon_verdicts.values()))
    if not marks:
        return
    for i, c in enumerate(checks):
        if c.kind != "execution" or c.target not in marks:
            continue
        level, reason = marks[c.target]
        v = result.verdicts.get(c.target)
        new_level = level if level.severity > c.level.severity else c.level
        message = reason if c.level is Level.OK else f"{c.message}; {reason}"
        state = "consensus" if level.severity > c.level.severity else c.facts.get("state", "consensus")
        checks[i] = replace(c, level=new_level, message=message,
                            facts={**c.facts, "state": state, "consensus": reason})
        if v is not None:
            result.verdicts[c.target] = replace(v, level=new_level, message=message, state=state,
                                                states=v.states + ("consensus",))


async def _done(value: Any) -> Any:
    return value


async def _network_height(fleet: Fleet, timeout: float) -> int | None:
    """The chain's latest height from the fleet's Pocket URL (None if it cannot be read)."""
    from fleetctl.pocket.http import QueryError
    from fleetctl.pocket.stakes import adapter_for

    adapter = adapter_for(fleet, timeout=timeout, concurrency=1, deadline=2 * timeout)
    try:
        async with adapter:
            return await adapter.height()
    except QueryError:
        return None


def _finished(task: asyncio.Task[Any] | None) -> bool:
    return task is not None and task.done() and not task.cancelled() and task.exception() is None


def _exception_line(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 200)


def _failure(task: asyncio.Task[Any] | None) -> str | None:
    """Why a finished task raised (one line), None if it did not."""
    if task is None or not task.done() or task.cancelled() or task.exception() is None:
        return None
    return _exception_line(task.exception())  # type: ignore[arg-type]


def _guarded(target: str, kind: str, labels: dict[str, str], build: Callable[[], Check]) -> Check:
    """``build()``; a check of its own that is UNKNOWN with the reason if it raises."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - one check's bug is that check's UNKNOWN
        return _failed_check(target, kind, labels, exc)


def _failed_check(target: str, kind: str, labels: dict[str, str], exc: Exception) -> Check:
    return Check(target, kind, Level.UNKNOWN, f"check failed: {_exception_line(exc)}", {}, (), labels)


def _service_check(target: str, kind: str, judged: tuple[Level, str, dict[str, float]], facts: dict[str, Any],
                   labels: dict[str, str]) -> Check:
    level, message, values = judged
    return Check(target, kind, level, message, facts, samples(values), labels)


#: samples of a RelayMiner check exported with a ``relayminer`` label (the monitoring kit's names:
#: fleetctl_relayminer_block_height{relayminer}, _error_ratio, _dropped_ratio)
_RM_LABELLED = frozenset({"block_height", "error_ratio", "dropped_ratio"})


def _relayminer_check(check: Check) -> Check:
    """The RelayMiner's samples with its name as the ``relayminer`` label where the kit wants it."""
    return replace(check, samples=tuple(
        replace(s, labels=s.labels + (("relayminer", check.target),)) if s.name in _RM_LABELLED else s
        for s in check.samples))


def _ping_url(host: Host) -> str | None:
    """The RelayMiner's ping server, where the fleet's RelayMiner config enables it."""
    address = f"[{host.address}]" if ":" in host.address and not host.address.startswith("[") else host.address
    return f"http://{address}:{layout.RELAYMINER_PING_PORT}/"


def _height_or_note(height: Any, source: str, result: SweepResult) -> int | None:
    """A network height believed (an int within range), else None and a note."""
    if height is None:
        return None
    try:
        return json_count(height, f"network height from {source}", maximum=MAX_BLOCK)
    except BadValue as exc:
        result.notes.append(f"health: {exc}; Pocket nodes not judged against it")
        return None


def _gauge(value: Any) -> float | None:
    """An integer amount as a sample value, None when a float cannot hold it (not exported)."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**63:
        return None
    return float(value)


def _secret_urls(fleet: Fleet) -> list[str]:
    urls: list[str | None] = [e.url for chain in fleet.chains.values() for e in chain.endpoints]
    pocket = fleet.pocket
    urls += [getattr(pocket, name, None) for name in ("rest_url", "rpc_url", "node_rpc_url", "grpc_url")]
    return [u for u in urls if isinstance(u, str) and u and has_secret(u)]


def _redact_checks(fleet: Fleet, result: SweepResult) -> None:
    """No credential of an inventory URL leaves the sweep: every check's message and facts, and
    the notes, pass :func:`fleetctl.core.redact.scrub` when they may hold one (a URL, or a piece of
    a secret URL of the inventory)."""
    secrets = _secret_urls(fleet)
    pieces = sorted({p for u in secrets for p in secret_parts(u, whole_path=False)}, key=len, reverse=True)

    def clean(text: str) -> str:
        if "://" in text or (pieces and any(p in text for p in pieces)):
            return scrub(text, secrets, sink_style=False, limit=max(300, len(text) + 64))
        return text

    def deep(value: Any) -> Any:
        """``value`` with its strings cleaned: the very object when none changed (most checks
        hold no URL: a copy of every check was 15 ms of a 1,200-check run)."""
        if isinstance(value, str):
            return clean(value)
        if isinstance(value, dict):
            changed: dict[Any, Any] | None = None
            for k, v in value.items():
                kind = type(v)
                if v is None or kind is int or kind is float or kind is bool:
                    continue  # (most facts: nothing to look at, no call)
                if kind is str and "://" not in v and not pieces:
                    continue  # (the usual string: no URL, no secret to look for)
                w = clean(v) if kind is str else deep(v)
                if w is not v:
                    if changed is None:
                        changed = dict(value)
                    changed[k] = w
            return value if changed is None else changed
        if isinstance(value, list | tuple):
            items = [deep(v) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return type(value)(items)
        return value

    def cleaned(check: Check) -> Check:
        message, facts = clean(check.message), deep(check.facts)
        if message is check.message and facts is check.facts:
            return check
        return replace(check, message=message, facts=facts)

    result.checks[:] = [cleaned(c) for c in result.checks]
    result.notes[:] = [clean(n) for n in result.notes]


#: How often a cancellable sweep looks at its token while probes are in flight.
CANCEL_POLL_S = 0.05


async def _wait_all(runner: _Runner, deadline: float, exclude: set[Any], *, cancel: CancelToken | None = None,
                    on_event: EventSink | None = None) -> None:
    """Wait until every started task (new ones included) is done, the deadline, or a cancel."""
    loop = asyncio.get_running_loop()
    while True:
        pending = [t for t in runner.tasks if not t.done() and t not in exclude]
        left = deadline - loop.time()
        if on_event is not None:
            on_event(Progress("health", len(runner.tasks) - len(pending), len(runner.tasks), "probes"))
        if not pending or left <= 0:
            return
        if cancel is None:
            await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            continue
        if cancel.cancelled:
            return
        await asyncio.wait(pending, timeout=min(left, CANCEL_POLL_S), return_when=asyncio.FIRST_COMPLETED)


def store_locked(db: Path, wait: float) -> bool:
    """True when another process holds the state store's write lock for longer than ``wait``
    seconds (a stuck writer); False when the lock was free (or the store does not exist)."""
    from fleetctl.state.db import write_locked

    return write_locked(db, wait)


def locked_check(db: Path) -> Check:
    return Check("state-store", "state", Level.UNKNOWN,
                 f"state store {db} locked by another process (held longer than {LOCK_WAIT_S:g} s): stake "
                 "history, alert state and remediation not updated this run", {"db": str(db)}, (), {})


def _pulled_servers(db: Path) -> dict[tuple[str, str], set[str]]:
    """Servers --remediate took out of rotation, by (host, balancer)."""
    from fleetctl.state.remediation import pulled_servers

    rows = pulled_servers(db, busy_timeout_s=LOCK_WAIT_S)
    out: dict[tuple[str, str], set[str]] = {}
    for host, balancer, server in rows:
        out.setdefault((host, balancer), set()).add(server)
    return out


def _stake_checks(fleet: Fleet, task: asyncio.Task[Any] | None, report: Any, result: SweepResult) -> list[Check]:
    """One check per declared supplier, from the stake monitor's own report."""
    declared = [s for s in fleet.suppliers if not s.planned and s.operator_address]
    if not declared:
        return []
    if report is None or report.height is None:
        if report is not None and report.message:
            reason = report.message
        elif task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            reason = f"stake sweep failed: {task.exception()}"
        else:
            reason = "the chain was not read in time"
        # One check for the chain, not one per supplier: the suppliers' alerts are kept as
        # they are until the chain can be read again (no spam, no false "resolved").
        result.keep.extend(f"stake/{s.operator_address}" for s in declared)
        url = fleet.pocket.rest_url if fleet.protocol == "shannon" else fleet.pocket.rpc_url
        return [Check("network", "stake", Level.UNKNOWN, reason,
                      {"url": safe_url(url) if url else None, "suppliers": len(declared)}, (), {})]
    checks = []
    names = {s.operator_address: s.name for s in declared}

    def one(row: Any) -> Check:
        if row.level is Level.OK:
            pct = "" if row.margin_bp is None else f" ({row.margin_bp / 100:.2f}%)"
            message = (f"stake {format_upokt(row.stake_upokt)}, margin {format_upokt(row.margin_upokt)}{pct}"
                       if row.stake_upokt is not None and row.margin_upokt is not None else "staked")
        else:
            message = "; ".join(row.reasons) or row.level.name
        facts = row.check_facts()
        found = []  # (the samples built in place: 5,000 a run)
        for key, amount in (("upokt", row.stake_upokt), ("margin_upokt", row.margin_upokt),
                            ("operator_balance_upokt", row.balance_upokt),
                            ("penalties_to_minimum", row.penalties_to_minimum)):
            if amount is not None and (gauge := _gauge(amount)) is not None:
                found.append(Sample(key, gauge))
        if isinstance(row.missed_proofs_to_unstake, int) and (g := _gauge(row.missed_proofs_to_unstake)) is not None:
            found.append(Sample("fleetctl_stakes_missed_proofs_to_unstake", g,
                                (("supplier", names.get(row.address, row.name)),)))
        if isinstance(row.fee_runway_days, float | int):
            found.append(Sample("fleetctl_stakes_fee_runway_days", float(row.fee_runway_days),
                                (("operator", row.address),)))
        return Check(row.address, "stake", row.level, message, facts, tuple(found),
                     {"name": names.get(row.address, row.name)})

    for row in report.suppliers:
        try:
            checks.append(one(row))
        except Exception as exc:  # noqa: BLE001 - one row's bug is that row's UNKNOWN (as _guarded)
            address = str(getattr(row, "address", "?"))
            checks.append(_failed_check(address, "stake", {"name": names.get(address, str(getattr(row, "name", "?")))},
                                        exc))
    if report.message:  # e.g. the history store could not be used
        checks.append(Check("history", "stake", Level.UNKNOWN, report.message, {"db": report.history_db}, (), {}))
    return checks


async def _claims(fleet: Fleet, db: Path, *, timeout: float, concurrency: int, record: bool) -> Any:
    """``fleetctl claims``'s sync and report, bounded to two per-check timeouts (the stake
    sweep's bound): past it the claims check is UNKNOWN, "not read in time"."""
    from fleetctl.pocket.claims import check_claims

    async with asyncio.timeout(2 * timeout + 0.5):
        return await check_claims(fleet, db, timeout=timeout, concurrency=min(concurrency, 32), record=record,
                                  busy_timeout_s=min(timeout, LOCK_WAIT_S * 2))


def _claims_checks(fleet: Fleet, task: asyncio.Task[Any] | None, result: SweepResult, timeout: float) -> list[Check]:
    """One check per declared supplier from the claims report (expired claims, slashes, proofs
    about to miss their window), its ``fleetctl_claims_*`` samples on it; the report's own
    problems (node or store unreadable) one UNKNOWN check ``claims/sync``. A report that did not
    arrive: one UNKNOWN check, the suppliers' alerts kept as they are."""
    if task is None:
        return []
    declared = [s for s in fleet.suppliers if not s.planned and s.operator_address]
    by_name = {s.name: s for s in declared}
    report = task.result() if _finished(task) else None
    if report is None or report.latest_height is None and not any(
            n.startswith("claims/") and n != "claims/sync" for n, _, _ in getattr(report, "checks", ())):
        if report is not None and report.message:
            reason = report.message
        elif _failure(task) is not None and not isinstance(task.exception(), TimeoutError):
            reason = f"claims check failed: {_failure(task)}"
        else:
            reason = f"claims not read in time (the node's blocks within {2 * timeout + 0.5:g} s)"
        result.keep.extend(f"claims/{s.name}" for s in declared)
        return [Check("sync", "claims", Level.UNKNOWN, reason, {}, (), {})]
    metrics = report.metrics()
    checks: list[Check] = []
    first = True
    for name, level, message in report.checks:
        target = name.removeprefix("claims/")
        supplier = by_name.get(target)
        own = [m for m in metrics if m[1].get("supplier") == target] if supplier else []
        if first:
            own += [m for m in metrics if "supplier" not in m[1]]
            first = False
        facts: dict[str, Any] = {"height": report.latest_height}
        labels: dict[str, str] = {}
        if supplier is not None:
            facts.update(name=supplier.name, address=supplier.operator_address)
            labels["name"] = supplier.name
            facts["at_risk"] = [a.as_dict() for a in report.at_risk if a.name == target][:20]
        checks.append(Check(target, "claims", level, message, facts, tuple(
            Sample(metric, float(value), tuple(sorted(lbl.items()))) for metric, lbl, value in own), labels))
    return checks


def report_of(result: SweepResult, duration_s: float) -> HealthReport:
    return HealthReport(checked_at=datetime.now(UTC).isoformat(timespec="seconds"), duration_s=duration_s,
                        checks=result.checks, notes=result.notes)
