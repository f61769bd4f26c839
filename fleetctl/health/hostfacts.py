"""A host's facts in one SSH round trip: CPUs, load, memory, disk of its data volumes, and the
fleetctl-managed containers its Docker engine runs.

:data:`FACTS_SCRIPT` is a fixed POSIX shell script (no inventory value is spliced into it) that
prints sections; :func:`parse_facts` reads them back. The containers are what ``fleetctl
health`` checks on that host (each full node's RPC port comes from its slot label), so a stopped
container is reported as stopped rather than as a refused connection.

The output comes from a host that may be broken or hostile: counts are ASCII digits within a
range (a CPU count of 0, a load of ``nan`` or ``inf``, MemAvailable above MemTotal, a df line
whose available exceeds its size or whose numbers are beyond 2^53 KiB are not believed), a
line of ``docker ps`` that is not a JSON object is skipped, and every text is one bounded line.
What could not be read is a problem of the host's check (UNKNOWN), never a crash.
"""

from __future__ import annotations

import json
import re
from dataclasses import field
from typing import Any

from fleetctl.core.records import record
from fleetctl.health.values import BadValue, finite, one_line
from fleetctl.core import layout as pm

__all__ = ["FACTS_SCRIPT", "Container", "Disk", "HostFacts", "parse_facts"]

# Each section starts with a line "@@name". docker ps prints one JSON object per container.
FACTS_SCRIPT = r"""
echo @@nproc; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null
echo @@loadavg; { IFS= read -r line && printf '%s\n' "$line"; } < /proc/loadavg 2>/dev/null
echo @@meminfo
while IFS= read -r line; do
  case $line in MemTotal:*|MemAvailable:*) printf '%s\n' "$line" ;; esac
done < /proc/meminfo 2>/dev/null
if command -v docker >/dev/null 2>&1; then
  echo @@containers
  if docker ps -a --no-trunc --filter label=io.fleetctl.managed=true --format '{{json .}}' 2>&1; then
    vols=$(docker volume ls -q --filter name=fleet- 2>/dev/null)
  else
    echo @@docker-error
    vols=
  fi
  echo @@volumes
  paths=
  if [ -n "$vols" ]; then
    info=$(docker volume inspect --format '{{.Name}}	{{.Mountpoint}}' $vols 2>/dev/null)
    [ -n "$info" ] && printf '%s\n' "$info"
    paths=$(printf '%s\n' "$info" | while IFS='	' read -r name mount; do [ -n "$mount" ] && printf '%s\n' "$mount"; done)
  fi
else
  echo @@nodocker
  paths=
fi
echo @@df
[ -d /var/lib/docker ] && root=/var/lib/docker || root=/
df -Pk $root $paths 2>/dev/null
echo @@end
"""


@record(frozen=True)
class Container:
    """A fleetctl-managed container as ``docker ps -a`` shows it."""

    name: str
    role: str  # node | consensus | balancer | relayminer | morse
    chain: str | None
    client: str | None
    slot: int | None
    running: bool
    status: str  # "Up 3 hours", "Exited (137) 2 minutes ago"
    image: str
    mounts: tuple[str, ...] = ()
    #: the pair's name (the execution node's) on both containers of a pair, else None
    pair: str | None = None
    #: on an execution node: its consensus client (lighthouse ... lodestar, or caplin), else None
    consensus: str | None = None

    @property
    def rpc_port(self) -> int | None:
        return None if self.slot is None else pm.RPC_PORT_BASE + pm.PORT_STRIDE * self.slot


@record(frozen=True)
class Disk:
    """One filesystem holding data (the engine's root or a data volume), sizes in KiB."""

    mount: str
    size_kib: int
    avail_kib: int
    volumes: tuple[str, ...] = ()  # the fleet volumes on it

    @property
    def free_pct(self) -> float:
        return 100.0 * self.avail_kib / self.size_kib if self.size_kib else 0.0


@record
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


MAX_CPUS = 65_536
MAX_LOAD = 1e6
MAX_KIB = 2**53  # 8 ZiB: every size in KiB stays exact as a float
MAX_SLOT = (65_535 - pm.RPC_PORT_BASE) // pm.PORT_STRIDE  # the RPC port stays a port
_DIGITS = re.compile(r"[0-9]{1,19}")
_FLOAT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")


def _first(sec: dict[str, list[str]], name: str) -> str:
    lines = sec.get(name) or [""]
    return lines[0].strip()


def _int(text: str, field: str, minimum: int, maximum: int) -> int:
    """ASCII decimal digits within ``minimum``..``maximum`` (int() would take "١٢" or "1_0")."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        raise BadValue(f"{field}: not a count ({one_line(text, 24)!r})")
    value = int(text)
    if not minimum <= value <= maximum:
        raise BadValue(f"{field}: implausible value {value:,}")
    return value


def _float(text: str) -> float:
    if not _FLOAT.fullmatch(text.strip()):
        raise BadValue(f"not a load average ({one_line(text, 24)!r})")
    return float(text)


def container_of(c: dict[str, Any]) -> Container | None:
    """A :class:`Container` from one ``docker ps --format '{{json .}}'`` object; None when it is
    not one fleetctl can use (every field bounded; a slot whose RPC port would not be a port is
    no slot)."""
    if not isinstance(c, dict):
        return None
    labels = _labels(str(c.get("Labels", "")))
    slot_text = labels.get(pm.LABEL_SLOT, "")
    slot = int(slot_text) if slot_text.isascii() and slot_text.isdigit() and len(slot_text) <= 5 else None
    if slot is not None and slot > MAX_SLOT:
        slot = None
    names = c.get("Names")
    name = labels.get(pm.LABEL_NAME) or (names if isinstance(names, str) else "").split(",")[0]
    if not name:
        return None
    return Container(
        name=one_line(name, 128),
        role=one_line(labels.get(pm.LABEL_ROLE, "?"), 32),
        chain=one_line(labels[pm.LABEL_CHAIN], 64) if labels.get(pm.LABEL_CHAIN) else None,
        client=one_line(labels[pm.LABEL_CLIENT], 64) if labels.get(pm.LABEL_CLIENT) else None,
        slot=slot,
        running=str(c.get("State", "")).lower() == "running",
        status=one_line(str(c.get("Status", "")), 120),
        image=one_line(str(c.get("Image", "")), 200),
        mounts=tuple(m for m in str(c.get("Mounts", "")).split(",") if m)[:64],
        pair=one_line(labels[pm.LABEL_PAIR], 128) if labels.get(pm.LABEL_PAIR) else None,
        consensus=one_line(labels[pm.LABEL_CONSENSUS], 32) if labels.get(pm.LABEL_CONSENSUS) else None,
    )


def parse_facts(text: str) -> HostFacts:
    """The facts :data:`FACTS_SCRIPT` printed; what is missing or odd goes to ``problems``."""
    sec = _sections(text)
    facts = HostFacts()
    if "end" not in sec:
        facts.problems.append("facts output ended early")
    try:
        facts.cpus = _int(_first(sec, "nproc"), "CPU count", 1, MAX_CPUS)
    except BadValue as exc:
        facts.problems.append(f"CPU count unreadable ({exc})" if _first(sec, "nproc") else "CPU count unreadable")
    try:
        parts = _first(sec, "loadavg").split()
        if len(parts) < 2:
            raise BadValue("load average: missing")
        load1 = finite(_float(parts[0]), "load1", maximum=MAX_LOAD)
        load5 = finite(_float(parts[1]), "load5", maximum=MAX_LOAD)
        facts.load1, facts.load5 = load1, load5
    except BadValue as exc:
        facts.problems.append("load average unreadable" + ("" if "missing" in str(exc) else f" ({exc})"))
    mem = {}
    for line in sec.get("meminfo", []):
        key, _, rest = line.partition(":")
        try:
            mem[key.strip()] = _int(rest.split()[0], key.strip(), 0, MAX_KIB)
        except (BadValue, IndexError):
            continue
    total, available = mem.get("MemTotal"), mem.get("MemAvailable")
    if total is None or available is None or total == 0 or available > total:
        facts.problems.append("memory unreadable")
    else:
        facts.mem_total_kib, facts.mem_available_kib = total, available
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
        except (ValueError, RecursionError):
            continue
        if not isinstance(c, dict):
            continue
        container = container_of(c)
        if container is not None:
            facts.containers.append(container)
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
            size, avail = _int(parts[1], "size", 1, MAX_KIB), _int(parts[3], "available", 0, MAX_KIB)
        except BadValue:
            continue
        if avail > size:
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
    for _device, names in sorted(by_device.items()):
        size, avail = mounts[names[0]]
        vols = sorted({v for m in names for v in volumes_on[m]})
        facts.disks.append(Disk(names[0], size, avail, tuple(vols)))
    if not facts.disks:
        facts.problems.append("disk usage unreadable")
    return facts
