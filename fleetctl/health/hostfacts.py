"""A host's facts in one SSH round trip: CPUs, load, memory, disk of its data volumes, and the
fleetctl-managed containers its Docker engine runs.

:data:`FACTS_SCRIPT` is a fixed POSIX shell script (no inventory value is spliced into it) that
prints sections; :func:`parse_facts` reads them back. The containers are what ``fleetctl
health`` checks on that host (each full node's RPC port comes from its slot label), so a stopped
container is reported as stopped rather than as a refused connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fleetctl.plan import model as pm

__all__ = ["FACTS_SCRIPT", "Container", "Disk", "HostFacts", "parse_facts"]

# Each section starts with a line "@@name". docker ps prints one JSON object per container.
FACTS_SCRIPT = r"""
echo @@nproc; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null
echo @@loadavg; cat /proc/loadavg 2>/dev/null
echo @@meminfo; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo 2>/dev/null
if command -v docker >/dev/null 2>&1; then
  echo @@containers
  docker ps -a --no-trunc --filter label=io.fleetctl.managed=true --format '{{json .}}' 2>&1 || echo @@docker-error
  vols=$(docker volume ls -q --filter name=fleet- 2>/dev/null)
  echo @@volumes
  [ -n "$vols" ] && docker volume inspect --format '{{.Name}}	{{.Mountpoint}}' $vols 2>/dev/null
  paths=$( [ -n "$vols" ] && docker volume inspect --format '{{.Mountpoint}}' $vols 2>/dev/null)
else
  echo @@nodocker
  paths=
fi
echo @@df
[ -d /var/lib/docker ] && root=/var/lib/docker || root=/
df -Pk $root $paths 2>/dev/null
echo @@end
"""


@dataclass(frozen=True)
class Container:
    """A fleetctl-managed container as ``docker ps -a`` shows it."""

    name: str
    role: str  # node | balancer | relayminer | morse
    chain: str | None
    client: str | None
    slot: int | None
    running: bool
    status: str  # "Up 3 hours", "Exited (137) 2 minutes ago"
    image: str
    mounts: tuple[str, ...] = ()

    @property
    def rpc_port(self) -> int | None:
        return None if self.slot is None else pm.RPC_PORT_BASE + pm.PORT_STRIDE * self.slot


@dataclass(frozen=True)
class Disk:
    """One filesystem holding data (the engine's root or a data volume), sizes in KiB."""

    mount: str
    size_kib: int
    avail_kib: int
    volumes: tuple[str, ...] = ()  # the fleet volumes on it

    @property
    def free_pct(self) -> float:
        return 100.0 * self.avail_kib / self.size_kib if self.size_kib else 0.0


@dataclass
class HostFacts:
    cpus: int | None = None
    load1: float | None = None
    load5: float | None = None
    mem_total_kib: int | None = None
    mem_available_kib: int | None = None
    docker: bool = True
    docker_error: str | None = None
    containers: list[Container] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be read

    @property
    def mem_available_pct(self) -> float | None:
        if not self.mem_total_kib or self.mem_available_kib is None:
            return None
        return 100.0 * self.mem_available_kib / self.mem_total_kib

    @property
    def load5_per_cpu(self) -> float | None:
        if self.load5 is None or not self.cpus:
            return None
        return self.load5 / self.cpus


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = out.setdefault(line[2:].strip(), [])
        elif current is not None:
            current.append(line)
    return out


def _labels(text: str) -> dict[str, str]:
    """docker ps's ``Labels``: ``k=v,k=v`` (fleetctl's label values hold no commas)."""
    labels = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            labels[key.strip()] = value
    return labels


def parse_facts(text: str) -> HostFacts:
    """The facts :data:`FACTS_SCRIPT` printed; what is missing or odd goes to ``problems``."""
    sec = _sections(text)
    facts = HostFacts()
    if "end" not in sec:
        facts.problems.append("facts output ended early")
    try:
        facts.cpus = int(sec.get("nproc", [""])[0].strip())
    except (ValueError, IndexError):
        facts.problems.append("CPU count unreadable")
    try:
        parts = sec.get("loadavg", [""])[0].split()
        facts.load1, facts.load5 = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        facts.problems.append("load average unreadable")
    mem = {}
    for line in sec.get("meminfo", []):
        key, _, rest = line.partition(":")
        try:
            mem[key.strip()] = int(rest.split()[0])
        except (ValueError, IndexError):
            continue
    facts.mem_total_kib = mem.get("MemTotal")
    facts.mem_available_kib = mem.get("MemAvailable")
    if facts.mem_total_kib is None or facts.mem_available_kib is None:
        facts.problems.append("memory unreadable")
    if "nodocker" in sec:
        facts.docker = False
    elif "docker-error" in sec:
        # docker ps failed (its stderr is in the section); a warning it printed while
        # succeeding (say about its config file) is not a failure.
        lines = [line for line in sec.get("containers", []) if line.strip() and not line.startswith("{")]
        facts.docker_error = (" ".join(lines)[:200] or "docker ps failed")
    for line in sec.get("containers", []):
        if not line.startswith("{"):
            continue
        try:
            c = json.loads(line)
        except ValueError:
            continue
        labels = _labels(str(c.get("Labels", "")))
        slot = labels.get(pm.LABEL_SLOT, "")
        facts.containers.append(Container(
            name=labels.get(pm.LABEL_NAME) or str(c.get("Names", "")).split(",")[0],
            role=labels.get(pm.LABEL_ROLE, "?"),
            chain=labels.get(pm.LABEL_CHAIN) or None,
            client=labels.get(pm.LABEL_CLIENT) or None,
            slot=int(slot) if slot.isdigit() else None,
            running=str(c.get("State", "")).lower() == "running",
            status=str(c.get("Status", "")),
            image=str(c.get("Image", "")),
            mounts=tuple(m for m in str(c.get("Mounts", "")).split(",") if m),
        ))
    facts.containers.sort(key=lambda c: c.name)
    mountpoints = {}
    for line in sec.get("volumes", []):
        name, _, path = line.partition("\t")
        if path:
            mountpoints[path.strip()] = name.strip()
    # df prints one line per path asked; several paths (bind mounts) may share one filesystem:
    # one Disk per device, named by its most specific mount that holds fleet volumes.
    mounts: dict[str, tuple[int, int]] = {}
    device_of: dict[str, str] = {}
    df = sec.get("df", [])
    for line in df[1:] if df and df[0].startswith("Filesystem") else df:
        parts = line.split()
        if len(parts) < 6:
            continue
        try:
            size, avail = int(parts[1]), int(parts[3])
        except ValueError:
            continue
        mount = " ".join(parts[5:])
        mounts[mount] = (size, avail)
        device_of[mount] = parts[0]
    volumes_on: dict[str, list[str]] = {m: [] for m in mounts}
    for path, volume in sorted(mountpoints.items()):
        best = max((m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")), key=len, default=None)
        if best is not None:
            volumes_on[best].append(volume)
    by_device: dict[str, list[str]] = {}
    for mount in sorted(mounts, key=lambda m: (-len(volumes_on[m]), -len(m))):
        by_device.setdefault(device_of[mount], []).append(mount)
    for device, names in sorted(by_device.items()):
        size, avail = mounts[names[0]]
        vols = sorted({v for m in names for v in volumes_on[m]})
        facts.disks.append(Disk(names[0], size, avail, tuple(vols)))
    if not facts.disks:
        facts.problems.append("disk usage unreadable")
    return facts
