"""Observe what runs: every host's Docker engine over ``ssh://``, in parallel.

Only containers labelled ``io.fleetctl.managed=true`` are fleetctl's; the rest (an operator's
own, the lab's fronts) are never touched.  Host facts (CPUs, memory from the engine; free disk
of the engine's data root over the same SSH connection) feed the planner's capacity checks.
"""

from __future__ import annotations

import concurrent.futures as cf
import shlex
from dataclasses import field
from typing import Callable

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError
from fleetctl.core.events import CancelToken
from fleetctl.core import layout as pm
from fleetctl.spec.model import Fleet, Host, Resources


@record(frozen=True)
class Container:
    host: str
    name: str
    role: str
    chain: str | None
    client: str | None
    spec: str | None
    running: bool
    status: str
    slot: int | None = None
    image: str = ""
    #: both containers of a pair: the execution node's name (LABEL_PAIR)
    pair: str | None = None
    #: an execution node: its consensus client (LABEL_CONSENSUS; caplin for Erigon's own)
    consensus: str | None = None
    #: a consensus container whose execution container (re)started after it: it is left in the
    #: network namespace the execution container had then, cut off from its Engine API
    stale_namespace: bool = False
    #: the engine's ``State.StartedAt`` (RFC 3339, UTC, as the engine wrote it; a string of at
    #: most 64 characters, else None); only read by ``observe(..., details=True)``
    started_at: str | None = None
    #: the engine's ``RestartCount`` (restarts by its restart policy); ``details=True`` only
    restart_count: int | None = None


@record
class HostState:
    name: str
    reachable: bool
    error: str | None = None
    containers: list[Container] = field(default_factory=list)
    capacity: Resources | None = None  # from facts; None when they could not be read


def _observe_host(host: Host, timeout: float, details: bool = False) -> HostState:
    from fleetctl.provision.dockerssh import docker_client

    try:
        client = docker_client(host, timeout=timeout, connect_timeout=timeout)
    except FleetError as exc:
        return HostState(host.name, False, str(exc).removeprefix(f"{host.name}: "))
    try:
        df = _start_df(client)  # runs on the host while the engine answers
        info = client.info()
        raw = client.api.containers(all=True, filters={"label": f"{pm.LABEL_MANAGED}=true"})
        containers = []
        for c in raw:
            labels = c.get("Labels") or {}
            slot = labels.get(pm.LABEL_SLOT)
            containers.append(Container(
                host=host.name,
                name=labels.get(pm.LABEL_NAME) or c["Names"][0].lstrip("/"),
                role=labels.get(pm.LABEL_ROLE, "?"),
                chain=labels.get(pm.LABEL_CHAIN),
                client=labels.get(pm.LABEL_CLIENT),
                spec=labels.get(pm.LABEL_SPEC),
                running=c.get("State") == "running",
                status=c.get("Status", ""),
                slot=int(slot) if slot and slot.isascii() and slot.isdigit() and len(slot) <= 6 else None,
                image=c.get("Image", ""),
                pair=labels.get(pm.LABEL_PAIR) or None,
                consensus=labels.get(pm.LABEL_CONSENSUS) or None,
            ))
        if details:
            containers = _inspect_details(client, containers)
        containers = _mark_stale_namespaces(client, containers, details)
        disk_gb = _read_df(df)
        if disk_gb is None and host.capacity is not None:
            disk_gb = host.capacity.disk_gb
        capacity = None
        if info.get("NCPU") and info.get("MemTotal") and disk_gb is not None:
            capacity = Resources(float(info["NCPU"]), info["MemTotal"] / 2**30, disk_gb)
        return HostState(host.name, True, None, sorted(containers, key=lambda c: c.name), capacity)
    except Exception as exc:  # docker.errors.APIError, requests errors, paramiko errors
        return HostState(host.name, False, f"docker engine over ssh failed: {exc}")
    finally:
        client.close()


def _inspect_details(client, containers: list[Container]) -> list[Container]:
    """Each container's start time and restart count (one inspection each); what does not
    read as expected (a container gone meanwhile, an odd answer) stays None."""
    import dataclasses

    out = []
    for c in containers:
        try:
            doc = client.api.inspect_container(c.name)
        except Exception:  # gone meanwhile, or the engine failed: no details for it
            out.append(c)
            continue
        state = doc.get("State") if isinstance(doc, dict) else None
        started = state.get("StartedAt") if isinstance(state, dict) else None
        restarts = doc.get("RestartCount") if isinstance(doc, dict) else None
        out.append(dataclasses.replace(
            c,
            started_at=started if isinstance(started, str) and 0 < len(started) <= 64 else None,
            restart_count=restarts if type(restarts) is int and 0 <= restarts < 10**9 else None,
        ))
    return out


def _mark_stale_namespaces(client, containers: list[Container], details: bool = False) -> list[Container]:
    """A consensus container joins its execution container's network namespace when it starts;
    when the execution container restarts (a crash, an OOM kill, ``docker restart``) it gets a new
    namespace and the consensus container stays in the old one, where no Engine API answers, until
    it restarts too. Found by their start times (two inspections per running pair)."""
    import dataclasses

    by_name = {c.name: c for c in containers}
    out = []
    for c in containers:
        el = by_name.get(c.pair or "")
        if c.role == "consensus" and c.running and el is not None and el.running:
            if details:  # read already (_inspect_details)
                mine, theirs = c.started_at or "", el.started_at or ""
            else:
                try:
                    mine = client.api.inspect_container(c.name)["State"]["StartedAt"]
                    theirs = client.api.inspect_container(el.name)["State"]["StartedAt"]
                except Exception:  # gone meanwhile, or an odd answer: judged at the next plan
                    mine = theirs = ""
            # RFC 3339 with nanoseconds, UTC ("2026-12-03T21:40:01.123456789Z"): they sort as text.
            if isinstance(mine, str) and isinstance(theirs, str) and mine and theirs and theirs > mine:
                c = dataclasses.replace(c, stale_namespace=True)
        out.append(c)
    return out


def _start_df(client, path: str = "/var/lib/docker"):
    """Start ``df`` of the engine's data root over the same SSH session (read by _read_df)."""
    adapter = getattr(client.api, "_custom_adapter", None)
    ssh = getattr(adapter, "ssh_client", None)
    if ssh is None:
        return None
    try:
        # The data root as the engine reports it, else the default; df of its filesystem.
        cmd = f"df -Pk $(docker info -f '{{{{.DockerRootDir}}}}' 2>/dev/null || echo {shlex.quote(path)})"
        return ssh.exec_command(cmd, timeout=10)[1]
    except Exception:  # a closed channel: fall back to fleet_capacity
        return None


def _read_df(out) -> float | None:
    """Size in GiB of the filesystem df reported, None when it could not be read."""
    if out is None:
        return None
    try:
        lines = out.read().decode().splitlines()
        return int(lines[-1].split()[1]) / 2**20  # total KiB -> GiB
    except Exception:  # an odd df: fall back to fleet_capacity
        return None


def observe(fleet: Fleet, hosts: list[str] | None = None, timeout: float = 15.0,
            on_host: Callable[[HostState], None] | None = None, cancel: CancelToken | None = None,
            details: bool = False) -> dict[str, HostState]:
    """Every host's managed containers and facts, in parallel (one SSH session per host).

    ``details``: also inspect every container for its start time and restart count
    (``Container.started_at``, ``restart_count``; one more request per container), for the
    fleet tree's uptime.

    ``cancel``: checked between hosts; once cancelled, hosts not yet started are not observed
    and :class:`~fleetctl.core.events.Cancelled` says how many were (observing changes nothing)."""
    names = sorted(hosts if hosts is not None else fleet.hosts)
    out: dict[str, HostState] = {}
    if not names:
        return out
    if cancel is not None:
        cancel.raise_if_cancelled("observe: no host observed")
    pool = cf.ThreadPoolExecutor(max_workers=min(32, len(names)))
    try:
        extra = (True,) if details else ()
        futures = {pool.submit(_observe_host, fleet.hosts[n], timeout, *extra): n for n in names}
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=None if cancel is None else 0.2,
                                    return_when=cf.FIRST_COMPLETED)
            for fut in done:
                state = fut.result()
                out[state.name] = state
                if on_host:
                    on_host(state)
            if cancel is not None and pending and cancel.cancelled:
                cancel.raise_if_cancelled(f"observe: {len(out)} of {len(names)} hosts observed")
    finally:
        # A cancelled observation leaves at once: sessions under way end by their own timeout.
        pool.shutdown(wait=not (cancel is not None and cancel.cancelled), cancel_futures=True)
    return {n: out[n] for n in names}
