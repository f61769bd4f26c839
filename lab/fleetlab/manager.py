"""The local lab: a small, real fleet on this one machine.

Topology (all addresses inside :data:`LAB_RANGE`, which gets a blackhole route in the root
namespace *before* anything is created and keeps it after ``down``, so no packet for a lab
address can ever leave the machine, whether the lab is up, half up or down)::

    root namespace ── bridge fleetlab0 10.213.0.1/24 ── veth ── netns fleetlab-h1  10.213.0.11  (lab-h1)
      anvil        10.213.0.1:8545  (canonical chain)    ├──── netns fleetlab-h2  10.213.0.12  (lab-h2)
      pocket       10.213.0.1:1317 (Shannon REST)         └──── netns fleetlab-h3  10.213.0.13  (lab-h3)
                   10.213.0.1:8081 (Morse RPC)

Each host namespace has no default route, its own hostname (a UTS namespace), its own sshd
(key auth; host keys pinned in the lab's known_hosts) and its own Docker engine (dockerd started
inside the namespace; reached over ``ssh://`` through ``docker system dial-stdio``).  Each host
runs one client front container (Geth, Nethermind, Erigon personas over the one anvil chain),
from images the lab builds locally with ``docker import`` (nothing is pulled), and beside it one
consensus front (beacon_front.py as Lighthouse, Prysm, Teku) that follows it over its Engine API
(127.0.0.1:18551 in the host's namespace, a JWT made by the lab): the fleet's adopted pairs.

Each engine has Docker's bridge networking inside its host's namespace: docker0 at
10.213.(100+i).1/24 and user networks from 10.213.(110+i).0/24, all inside the blackholed lab
range; its iptables rules (NAT for published ports, masquerade) live in that namespace's own
netfilter tables, never the root namespace's, and go with the namespace on ``down``.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from fleetctl.core.errors import FleetError
from fleetlab import images_dir

# Fixed paths: inventories/lab/hosts.yml names the key and known_hosts under LAB_DIR.
LAB_DIR = Path("/var/lib/fleetctl-lab")
RUN_DIR = Path("/run/fleetctl-lab")
LAB_RANGE = "10.213.0.0/16"
SUBNET = "10.213.0.0/24"
BRIDGE = "fleetlab0"
BRIDGE_IP = "10.213.0.1"
ANVIL_PORT = 8545
SHANNON_PORT = 1317
MORSE_PORT = 8081
COMET_PORT = 26657
FRONT_PORT = 18545
FRONT_CONTROL_PORT = 19545
#: The adopted consensus fronts: Beacon API on the host's address, control port, and the adopted
#: execution front's Engine API (host networking: on the namespace's loopback only).
BEACON_PORT = 15052
BEACON_CONTROL_PORT = 16052
ENGINE_PORT = 18551
CONSENSUS_CLIENTS = ("lighthouse", "prysm", "teku", "nimbus", "lodestar")
#: Where the fronts write their control port inside a container (``lab fault`` on provisioned
#: containers reads it there through ``docker exec``).
FRONT_CONTROL_FILE = "/tmp/fleetlab-front.port"
BEACON_CONTROL_FILE = "/tmp/fleetlab-beacon.port"
#: The lab RelayMiner's fault file (relayminer.py: $RELAYMINER_LAB_CONTROL_FILE, else this) and
#: its faults, which ``lab fault <host>/relayminer`` writes there through ``docker exec``.
RELAYMINER_CONTROL_FILE = "/tmp/fleetlab-relayminer.faults"
RELAYMINER_FAULTS = ("skip_claims", "skip_proofs", "drop_relays")
BLOCK_TIME = 1
NS_PREFIX = "fleetlab-"
LABEL = "io.fleetctl.lab"
#: Set in the environment of every process the lab starts (and so of their descendants): with
#: the lab's namespaces and folders it tells the lab's processes apart from look-alikes (an
#: anvil or a Pocket stand-in started outside the lab is not the lab's).
LAB_ENV = "FLEETCTL_LAB"
#: ``lab down``'s bounds (seconds): engines' SIGTERM (they stop their containers first), the
#: other daemons' SIGTERM, SIGKILL, and exited processes leaving the process table (reaped).
DOWN_ENGINE_GRACE = 20.0
DOWN_GRACE = 5.0
DOWN_KILL_WAIT = 5.0
DOWN_REAP_WAIT = 5.0
# Run by a throw-away interpreter: fork, the child makes its own session and execs the daemon,
# the parent records the daemon's pid and exits, so init (not fleetctl) becomes its parent.
_DAEMONIZE = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.setsid()
    os.execvp(sys.argv[2], sys.argv[2:])
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as fh:
    fh.write(str(pid))
os.replace(tmp, sys.argv[1])
"""


@dataclass(frozen=True)
class LabHost:
    name: str
    short: str
    address: str
    client: str
    consensus: str
    index: int

    @property
    def bip(self) -> str:
        """docker0's address in this host's engine (inside the lab range, one /24 per host)."""
        return f"10.213.{100 + self.index}.1/24"

    @property
    def address_pool(self) -> str:
        """Where this engine's user-defined networks come from (one /24 per host, /27 each)."""
        return f"base=10.213.{110 + self.index}.0/24,size=27"

    @property
    def beacon_name(self) -> str:
        return f"{self.name}-{self.consensus}"

    @property
    def beacon_url(self) -> str:
        return f"http://{self.address}:{BEACON_PORT}"

    @property
    def beacon_control_url(self) -> str:
        return f"http://{self.address}:{BEACON_CONTROL_PORT}"

    @property
    def jwt(self) -> Path:
        """The adopted pair's JWT secret (made by ``lab up``, 0600)."""
        return LAB_DIR / "hosts" / self.name / "adopted" / "jwtsecret"

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.short

    @property
    def veth(self) -> str:
        return "fl-" + self.short

    @property
    def run(self) -> Path:
        return RUN_DIR / self.short

    @property
    def docker_sock(self) -> Path:
        return self.run / "docker.sock"

    @property
    def front_name(self) -> str:
        return f"{self.name}-{self.client}"

    @property
    def front_url(self) -> str:
        return f"http://{self.address}:{FRONT_PORT}"

    @property
    def control_url(self) -> str:
        return f"http://{self.address}:{FRONT_CONTROL_PORT}"


HOSTS = (
    LabHost("lab-h1", "h1", "10.213.0.11", "geth", "lighthouse", 1),
    LabHost("lab-h2", "h2", "10.213.0.12", "nethermind", "prysm", 2),
    LabHost("lab-h3", "h3", "10.213.0.13", "erigon", "teku", 3),
)
CLIENTS = ("geth", "nethermind", "erigon")
SSH_DIR = LAB_DIR / "ssh"
CLIENT_KEY = SSH_DIR / "id_ed25519"
KNOWN_HOSTS = SSH_DIR / "known_hosts"
#: The pocketd stand-in for the hosts (one shared filesystem): ``fleet_pocketd`` of the lab hosts.
BIN_DIR = LAB_DIR / "bin"
POCKETD_BIN = BIN_DIR / "pocketd"
ANVIL_URL = f"http://{BRIDGE_IP}:{ANVIL_PORT}"
SHANNON_URL = f"http://{BRIDGE_IP}:{SHANNON_PORT}"
MORSE_URL = f"http://{BRIDGE_IP}:{MORSE_PORT}"
COMET_URL = f"http://{BRIDGE_IP}:{COMET_PORT}"


class LabError(FleetError):
    """A lab step that cannot be done; the message says what to do about it."""


def _run(cmd: list[str], check: bool = True, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed: {proc.stderr.decode(errors='replace').strip() or proc.returncode}")
    return proc


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child that exited) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class LabProcess:
    """One process of the lab, told apart from a later one with the same pid by its start time."""

    pid: int
    start: int  # /proc/PID/stat starttime (clock ticks since boot)
    name: str  # its comm
    why: str  # what made it the lab's: environment, namespace, command line, pid file

    def present(self) -> bool:
        """Still in the process table (running, or exited and not yet reaped)."""
        stat = _proc_stat(self.pid)
        return stat is not None and stat[0] == self.start

    def running(self) -> bool:
        stat = _proc_stat(self.pid)
        return stat is not None and stat[0] == self.start and stat[1] not in ("Z", "X")

    def describe(self) -> str:
        stat = _proc_stat(self.pid)
        state = " (exited, not reaped yet)" if stat is not None and stat[1] in ("Z", "X") else ""
        return f"process {self.pid} ({self.name}){state}"


def _proc_stat(pid: int) -> tuple[int, str, str] | None:
    """(start time, state, comm) of ``pid``, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    comm = text[text.find("(") + 1:text.rfind(")")]
    rest = text[text.rfind(")") + 2:].split()
    try:
        return int(rest[19]), rest[0], comm
    except (IndexError, ValueError):
        return None


def _lab_netns_ids() -> set[str]:
    """``net:[INODE]`` of the lab's host namespaces (what /proc/PID/ns/net of their processes reads)."""
    ids = set()
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return ids
    for name in names:
        if name.startswith(NS_PREFIX):
            try:
                ids.add(f"net:[{os.stat(f'/run/netns/{name}').st_ino}]")
            except OSError:
                pass
    return ids


def lab_processes(netns_ids: set[str] | None = None) -> list[LabProcess]:
    """Every process of this lab and only those: started by the lab (its :data:`LAB_ENV` mark,
    inherited by their children: containerd, shims, ssh sessions), inside one of its host
    namespaces (``netns_ids``, default the ones there now: containers run there), or whose command
    line names the lab's folders. A look-alike started elsewhere (an anvil, a Pocket stand-in on
    127.0.0.1) is none of these."""
    netns_ids = _lab_netns_ids() if netns_ids is None else netns_ids
    mark = f"{LAB_ENV}={LAB_DIR}".encode()
    folders = (str(LAB_DIR) + "/", str(RUN_DIR) + "/")
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        why = ""
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if any(f in cmd for f in folders):
                why = "command line"
            elif mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                why = "environment"
            elif netns_ids and os.readlink(f"/proc/{pid}/ns/net") in netns_ids:
                why = "namespace"
        except OSError:
            continue
        if why and (stat := _proc_stat(pid)) is not None:
            found.append(LabProcess(pid, stat[0], stat[2], why))
    return found


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    _assert_lab_address(host)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _assert_lab_address(host: str) -> None:
    """The lab never opens a connection outside loopback and its own range."""
    addr = ipaddress.ip_address(host)
    if not (addr.is_loopback or addr in ipaddress.ip_network(LAB_RANGE)):
        raise LabError(f"refusing to connect to {host}: not a lab address")


def _unix_http(sock_path: Path, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """A GET over a Docker engine's unix socket (status checks without importing the SDK)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(sock_path))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


def _http_json(url: str, body: Any = None, timeout: float = 2.0) -> Any:
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    _assert_lab_address(host)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def _wait(what: str, check: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05,
          pid: int | None = None, log: Path | None = None) -> None:
    """Poll ``check`` until it holds; fail at once if the process ``pid`` died (quoting its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and not _alive(pid):
            last = ""
            if log is not None and log.exists():
                tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
                last = f": {tail[0].strip()}" if tail else ""
            raise LabError(f"{what} exited{last} (log: {log})")
        time.sleep(interval)
    raise LabError(f"{what} did not come up within {timeout:.0f} s")


def find_anvil() -> str | None:
    """anvil from $FLEETCTL_ANVIL, beside this Python (the venv's bin), PATH, or the repo's .tools."""
    candidates = [os.environ.get("FLEETCTL_ANVIL"), str(Path(sys.executable).parent / "anvil"), shutil.which("anvil")]
    repo = Path(__file__).resolve().parents[2]
    candidates.append(str(repo / ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


class Lab:
    def __init__(self) -> None:
        self.dir = LAB_DIR

    # ------------------------------------------------------------------ checks

    def _preflight(self) -> dict[str, str]:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, sshd, dockerd): run it as root")
        tools = {}
        missing = []
        for tool in ("ip", "nsenter", "unshare", "sshd", "ssh-keygen", "dockerd", "containerd", "runc"):
            path = shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
            if path:
                tools[tool] = path
            else:
                missing.append(tool)
        anvil = find_anvil()
        if anvil:
            tools["anvil"] = anvil
        else:
            missing.append("anvil")
        if missing:
            raise LabError(
                f"missing: {', '.join(missing)}; install with: apt-get install -y iproute2 util-linux openssh-server docker.io "
                "&& npm install @foundry-rs/anvil (or run scripts/setup.sh)"
            )
        if not Path("/usr/bin/python3").exists():
            raise LabError("missing /usr/bin/python3 (the client fronts run on the host's Python): apt-get install -y python3")
        return tools

    # ------------------------------------------------------------------ up

    def up(self, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
        tools = self._preflight()
        t0 = time.monotonic()
        self._safety()
        progress(f"lab: blackhole route for {LAB_RANGE} in place")
        for d in (self.dir, SSH_DIR, RUN_DIR, self.dir / "logs", self.dir / "pocket"):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(SSH_DIR, 0o700)
        self._keys()
        self._pocketd()
        self._network()
        progress("lab: bridge and host namespaces ready")
        self._anvil(tools["anvil"])
        self._pocket()
        progress(f"lab: anvil at {ANVIL_URL}, Pocket stand-in at {SHANNON_URL} (Shannon) and {MORSE_URL} (Morse)")
        for h in HOSTS:
            self._sshd(h)
            self._dockerd(h)
        for h in HOSTS:
            _wait(f"sshd on {h.name}", lambda h=h: _tcp_open(h.address, 22))
            _wait(f"dockerd on {h.name}", lambda h=h: self._docker_ping(h))
        progress("lab: sshd and dockerd up on " + ", ".join(h.name for h in HOSTS))
        def provision(h: LabHost) -> None:
            self._images(h)
            self._jwt(h)
            self._front(h)

        # The three engines build their images and start their fronts at the same time.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(HOSTS)) as pool:
            for future in [pool.submit(provision, h) for h in HOSTS]:
                future.result()
        for h in HOSTS:
            _wait(f"{h.front_name} front", lambda h=h: self._front_ok(h))
            _wait(f"{h.beacon_name} front", lambda h=h: self._beacon_ok(h))
        progress(f"lab: client fronts up ({', '.join(f'{h.front_name} + {h.beacon_name}' for h in HOSTS)}) "
                 f"in {time.monotonic() - t0:.1f} s")
        return self.status()

    def _safety(self) -> None:
        """Blackhole the whole lab range first: more specific routes (the bridge's /24) win while
        the lab is up; when it is down or half built, the lab's addresses go nowhere."""
        _run(["ip", "route", "replace", "blackhole", LAB_RANGE])

    def _keys(self) -> None:
        if not CLIENT_KEY.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleetctl-lab", "-f", str(CLIENT_KEY)])
        os.chmod(CLIENT_KEY, 0o600)
        (SSH_DIR / "authorized_keys").write_text(Path(str(CLIENT_KEY) + ".pub").read_text())
        lines = []
        for h in HOSTS:
            key = SSH_DIR / f"host_{h.short}_ed25519"
            if not key.exists():
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", str(key)])
            os.chmod(key, 0o600)
            pub = Path(str(key) + ".pub").read_text().split()
            lines.append(f"{h.address},{h.name} {pub[0]} {pub[1]}")
        tmp = KNOWN_HOSTS.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, KNOWN_HOSTS)

    def _pocketd(self) -> None:
        """``/var/lib/fleetctl-lab/bin/pocketd``: a wrapper running the pocketd stand-in (and the
        RelayMiner it dispatches to) on the host's Python, for commands run on a lab host
        (``fleetctl stake --batch --execute`` with ``fleet_pocketd`` pointing here)."""
        BIN_DIR.mkdir(parents=True, exist_ok=True)
        here = images_dir()
        for name in ("pocketd.py", "relayminer.py"):
            tmp = BIN_DIR / f".{name}.tmp"
            tmp.write_bytes((here / name).read_bytes())
            os.chmod(tmp, 0o644)
            os.replace(tmp, BIN_DIR / name)
        tmp = BIN_DIR / ".pocketd.tmp"
        tmp.write_text("#!/bin/sh\n# fleetctl lab: the pocketd stand-in (fleetlab/image-files/pocketd.py) on the host's Python.\n"
                       f'exec /usr/bin/python3 {BIN_DIR / "pocketd.py"} "$@"\n')
        os.chmod(tmp, 0o755)
        os.replace(tmp, POCKETD_BIN)

    def _network(self) -> None:
        links = _run(["ip", "-o", "link", "show"]).stdout.decode()
        if f": {BRIDGE}:" not in links and f": {BRIDGE}@" not in links:
            _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        _run(["ip", "addr", "replace", f"{BRIDGE_IP}/24", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        existing = set(_run(["ip", "netns", "list"]).stdout.decode().split())
        for h in HOSTS:
            if h.netns not in existing:
                _run(["ip", "netns", "add", h.netns])
            ns = ["ip", "-n", h.netns]
            if _run(ns + ["link", "show", "eth0"], check=False).returncode != 0:
                _run(["ip", "link", "del", h.veth], check=False)
                _run(["ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns])
            _run(["ip", "link", "set", h.veth, "master", BRIDGE, "up"])
            _run(ns + ["addr", "replace", f"{h.address}/24", "dev", "eth0"])
            _run(ns + ["link", "set", "eth0", "up"])
            _run(ns + ["link", "set", "lo", "up"])
            h.run.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, cmd: list[str], pidfile: Path) -> int:
        """Start ``cmd`` as a daemon: in its own session (pid = process group = session), its
        parent init rather than the caller (a pytest run or a long-lived process that brings the
        lab up would otherwise hold its exited daemons as zombies that ``down`` waits for), and
        marked with :data:`LAB_ENV` so its descendants are known as the lab's."""
        log = open(self.dir / "logs" / f"{name}.log", "wb")
        pidfile.unlink(missing_ok=True)
        env = dict(os.environ, **{LAB_ENV: str(LAB_DIR)})
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _DAEMONIZE, str(pidfile), *cmd],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    close_fds=True, env=env)
        finally:
            log.close()
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = -1
        pid = _read_pid(pidfile)
        if rc != 0 or pid is None:
            raise LabError(f"{name}: could not be started (log: {self.dir / 'logs' / f'{name}.log'})")
        return pid

    def _in_ns(self, h: LabHost, cmd: str) -> list[str]:
        """Run a command in the host's network namespace with its own hostname.  nsenter (not
        `ip netns exec`, which remounts /sys and breaks dockerd's cgroup detection); no --fork,
        so the pid we record is the daemon's own."""
        return ["nsenter", f"--net=/run/netns/{h.netns}", "--", "unshare", "--uts", "--",
                "sh", "-c", f'hostname "$0" && exec {cmd}', h.name]

    def _anvil(self, anvil: str) -> None:
        pidfile = RUN_DIR / "anvil.pid"
        if _alive(_read_pid(pidfile)) and _tcp_open(BRIDGE_IP, ANVIL_PORT):
            return
        pid = self._spawn("anvil", [anvil, "--host", BRIDGE_IP, "--port", str(ANVIL_PORT), "--block-time", str(BLOCK_TIME), "--silent"], pidfile)
        _wait("anvil", lambda: _tcp_open(BRIDGE_IP, ANVIL_PORT), pid=pid, log=self.dir / "logs" / "anvil.log")

    def _pocket(self) -> None:
        pidfile = RUN_DIR / "pocket.pid"
        ports = (SHANNON_PORT, MORSE_PORT, COMET_PORT)
        if _alive(_read_pid(pidfile)) and all(_tcp_open(BRIDGE_IP, port) for port in ports):
            return
        self._stop(pidfile)  # one from before a listener was added, or half up
        seed = self.dir / "pocket" / "seed.json"
        from fleetlab.seed import lab_seed

        seed.write_text(json.dumps(lab_seed(), indent=1))
        cmd = [sys.executable, "-m", "fleetlab.standin", "--state", str(seed),
               "--shannon-listen", f"{BRIDGE_IP}:{SHANNON_PORT}", "--morse-listen", f"{BRIDGE_IP}:{MORSE_PORT}",
               "--comet-listen", f"{BRIDGE_IP}:{COMET_PORT}", "--block-time", str(BLOCK_TIME)]
        pid = self._spawn("pocket", cmd, pidfile)
        _wait("Pocket stand-in", lambda: all(_tcp_open(BRIDGE_IP, port) for port in ports),
              pid=pid, log=self.dir / "logs" / "pocket.log")

    def _sshd(self, h: LabHost) -> None:
        pidfile = h.run / "sshd.pid"
        if _alive(_read_pid(pidfile)):
            return
        Path("/run/sshd").mkdir(exist_ok=True)
        conf = h.run / "sshd_config"
        conf.write_text(
            "\n".join([
                f"ListenAddress {h.address}:22",
                f"HostKey {SSH_DIR / f'host_{h.short}_ed25519'}",
                f"PidFile {h.run / 'sshd.real.pid'}",
                f"AuthorizedKeysFile {SSH_DIR / 'authorized_keys'}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "UseDNS no",
                "MaxStartups 200:30:400",
                "MaxSessions 100",
                "LogLevel ERROR",
                # Docker over ssh:// runs `docker system dial-stdio`, which needs the host's engine.
                f"SetEnv DOCKER_HOST=unix://{h.docker_sock}",
                "Subsystem sftp /usr/lib/openssh/sftp-server",
            ]) + "\n"
        )
        sshd = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin") or "/usr/sbin/sshd"
        self._spawn(f"sshd-{h.name}", self._in_ns(h, f"{sshd} -D -e -f {conf}"), pidfile)

    def _dockerd(self, h: LabHost) -> None:
        """The host's Docker engine, inside its namespace, with bridge networking there."""
        pidfile = h.run / "dockerd.pid"
        data = self.dir / "hosts" / h.name / "docker"
        data.mkdir(parents=True, exist_ok=True)
        conf = h.run / "daemon.json"
        cmd = (f"dockerd --data-root {data} --exec-root {h.run / 'exec'} --host unix://{h.docker_sock} "
               f"--pidfile {h.run / 'dockerd.real.pid'} --config-file {conf} --storage-driver=vfs "
               f"--bip={h.bip} --default-address-pool {h.address_pool} --ip6tables=false")
        record = h.run / "dockerd.cmd"
        if _alive(_read_pid(pidfile)):
            if record.exists() and record.read_text() == cmd and self._docker_ping(h):
                return
            self._stop(pidfile, DOWN_ENGINE_GRACE)  # an engine started with other flags (an older lab)
        conf.write_text("{}\n")
        self._spawn(f"dockerd-{h.name}", self._in_ns(h, cmd), pidfile)
        record.write_text(cmd)

    def _docker_ping(self, h: LabHost) -> bool:
        try:
            return _unix_http(h.docker_sock, "/_ping", timeout=1.0)[0] == 200
        except OSError:
            return False

    def _docker(self, h: LabHost):
        import docker

        return docker.DockerClient(base_url=f"unix://{h.docker_sock}", version="1.41", timeout=60)

    def _images(self, h: LabHost) -> None:
        """Build the lab's images in ``h``'s engine (skipped when the content digest matches)."""
        client = self._docker(h)
        try:
            for tag, tar, changes in lab_images():
                digest = hashlib.sha256(tar).hexdigest()[:16]
                try:
                    if client.images.get(tag).labels.get(LABEL + ".digest") == digest:
                        continue
                except Exception:  # docker.errors.ImageNotFound
                    pass
                repo, _, version = tag.partition(":")
                client.api.import_image_from_data(tar, repository=repo, tag=version,
                                                  changes=changes + [f'LABEL {LABEL}.digest="{digest}"'])
        finally:
            client.close()

    def _jwt(self, h: LabHost) -> None:
        """The adopted pair's JWT secret: 32 random bytes, hex, 0600 (never printed)."""
        if h.jwt.exists():
            return
        h.jwt.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(h.jwt.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(32).hex())
        os.replace(h.jwt.with_suffix(".tmp"), h.jwt)

    def _front(self, h: LabHost) -> None:
        """The host's adopted pair: the execution front (JSON-RPC on the host's address, Engine API
        on the namespace's loopback) and the consensus front driving it, each started with its
        real client's flags. Recreated when the image or the command changes."""
        jwt_mount = {str(h.jwt): {"bind": "/fleet/jwtsecret", "mode": "ro"}}
        el_cmd = ["--listen", h.address, "--port", str(FRONT_PORT), "--control-port", str(FRONT_CONTROL_PORT)]
        if h.client == "nethermind":
            el_cmd += ["--JsonRpc.EngineHost=127.0.0.1", f"--JsonRpc.EnginePort={ENGINE_PORT}",
                       "--JsonRpc.JwtSecretFile=/fleet/jwtsecret"]
        else:
            el_cmd += ["--authrpc.addr", "127.0.0.1", "--authrpc.port", str(ENGINE_PORT), "--authrpc.jwtsecret", "/fleet/jwtsecret"]
            if h.client == "erigon":
                el_cmd += ["--externalcl"]
        self._container(h, f"lab-front-{h.client}", f"fleetlab/{h.client}:lab", el_cmd, jwt_mount,
                        {LABEL: "front", LABEL + ".client": h.client, LABEL + ".layer": "execution"})
        self._container(h, f"lab-front-{h.consensus}", f"fleetlab/{h.consensus}:lab",
                        consensus_command(h.consensus, h.address, BEACON_PORT, f"http://127.0.0.1:{ENGINE_PORT}",
                                          "/fleet/jwtsecret") + ["--control-port", str(BEACON_CONTROL_PORT)],
                        jwt_mount, {LABEL: "front", LABEL + ".client": h.consensus, LABEL + ".layer": "consensus",
                                    LABEL + ".pair": h.front_name})

    def _container(self, h: LabHost, name: str, image: str, command: list[str], volumes: dict[str, Any],
                   labels: dict[str, str]) -> None:
        client = self._docker(h)
        spec = hashlib.sha256(json.dumps([command, volumes], sort_keys=True).encode()).hexdigest()[:16]
        try:
            want = client.images.get(image).id
            try:
                c = client.containers.get(name)
                if c.image.id != want or c.labels.get(LABEL + ".spec") != spec:
                    c.remove(force=True)
                    c = None
            except Exception:  # docker.errors.NotFound
                c = None
            if c is None:
                client.containers.run(
                    image,
                    name=name,
                    command=command,
                    network_mode="host",
                    volumes={"/usr": {"bind": "/usr", "mode": "ro"}, **volumes},
                    restart_policy={"Name": "unless-stopped"},
                    labels={**labels, LABEL + ".spec": spec},
                    detach=True,
                )
            elif c.status != "running":
                c.start()
        finally:
            client.close()

    def _front_ok(self, h: LabHost) -> bool:
        try:
            return bool(_http_json(h.control_url + "/health", timeout=0.5).get("ok"))
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def _beacon_ok(self, h: LabHost) -> bool:
        """Its control API answers and its Beacon API too (any status: its EL may be away)."""
        try:
            if not _http_json(h.beacon_control_url + "/health", timeout=0.5).get("ok"):
                return False
        except (OSError, ValueError, urllib.error.URLError):
            return False
        return _tcp_open(h.address, BEACON_PORT)

    # ------------------------------------------------------------------ fault

    def fault(self, front: str, faults: dict[str, Any], clear: bool = False) -> dict[str, Any]:
        """Inject faults into a front: an adopted one (``lab-h1-geth``, ``lab-h1-lighthouse``) over
        its control port, or a provisioned container of a lab host by its name (through ``docker
        exec``: its control port is not published); ``<erigon container>-caplin`` names the Caplin
        front inside an Erigon container; ``<host>/<container>`` picks a lab host's container, e.g.
        ``lab-h2/relayminer``, whose faults are ``{"relayminer": "skip_claims"|"skip_proofs"|
        "drop_relays"|"none"}`` (:meth:`_fault_relayminer`)."""
        for h in HOSTS:
            for name, url in ((h.front_name, h.control_url), (h.beacon_name, h.beacon_control_url)):
                if name == front:
                    return self._fault_url(front, url, faults, clear)
        return self._fault_container(front, faults, clear)

    def _fault_url(self, front: str, url: str, faults: dict[str, Any], clear: bool) -> dict[str, Any]:
        try:
            if clear:
                _http_json(url + "/fault/clear", body={})
            now = _http_json(url + "/fault", body=faults) if faults else _http_json(url + "/fault")
        except urllib.error.HTTPError as exc:
            raise LabError(f"{front}: {_control_error(exc)}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise LabError(f"{front}: control API unreachable ({exc}); is the lab up? (fleetctl lab status)") from None
        return now.get("faults", now) if isinstance(now, dict) else {}

    def _fault_container(self, front: str, faults: dict[str, Any], clear: bool) -> dict[str, Any]:
        names = [f for h in HOSTS for f in (h.front_name, h.beacon_name)]
        # ``lab-h2/relayminer``: the container of that host (every host's RelayMiner is "relayminer").
        host_name, _, front_name = front.rpartition("/")
        container_name, caplin = ((front_name[:-len("-caplin")], True) if front_name.endswith("-caplin")
                                  else (front_name, False))
        found = None
        for h in HOSTS:
            if host_name and h.name != host_name:
                continue
            if not self._docker_ping(h):
                continue
            client = self._docker(h)
            try:
                c = client.containers.get(container_name)
                found = (h, c)
                break
            except Exception:  # docker.errors.NotFound
                continue
            finally:
                if found is None:
                    client.close()
        if found is None:
            raise LabError(f"no lab front named {front!r}; fronts: {', '.join(names)} "
                           "or a provisioned node's container name")
        h, c = found
        if (c.labels or {}).get("io.fleetctl.role") == "relayminer":
            return self._fault_relayminer(h, c, front, faults, clear)
        try:
            files = [BEACON_CONTROL_FILE] if caplin else [FRONT_CONTROL_FILE, BEACON_CONTROL_FILE]
            code, out = c.exec_run(["/usr/bin/python3", "-I", "-S", "-c", _FAULT_SNIPPET,
                                    json.dumps({"files": files, "faults": faults, "clear": clear})])
        except Exception as exc:  # docker.errors.APIError: not running, ...
            raise LabError(f"{front}: cannot reach its front inside the container on {h.name}: {exc}") from None
        finally:
            c.client.close()
        text = out.decode(errors="replace").strip()
        if code != 0:
            raise LabError(f"{front}: {text.splitlines()[-1] if text else f'exit {code}'}")
        try:
            now = json.loads(text)
        except ValueError:
            raise LabError(f"{front}: unexpected answer from its control API: {text[:200]}") from None
        return now.get("faults", now) if isinstance(now, dict) else {}

    def _fault_relayminer(self, h: LabHost, c: Any, front: str, faults: dict[str, Any],
                          clear: bool) -> dict[str, Any]:
        """A lab RelayMiner's faults (relayminer.py's control file, written through ``docker exec``):
        ``{"relayminer": "skip_claims"|"skip_proofs"|"drop_relays"|"none"}`` (a list or a
        comma-separated string sets several) replaces them; ``clear`` alone sets none; ``{}``
        reads them."""
        try:
            if "/" not in front and any(
                    self._has_container(other, c.name) for other in HOSTS if other.name != h.name):
                raise LabError(f"{front}: a RelayMiner runs on several lab hosts: say which, e.g. {h.name}/{front}")
            unknown = sorted(set(faults) - {"relayminer"})
            if unknown:
                raise LabError(f"{front}: not a RelayMiner fault: {', '.join(unknown)} "
                               f"(say relayminer: {', '.join(RELAYMINER_FAULTS)} or none)")
            wanted: list[str] | None = [] if clear else None
            if "relayminer" in faults:
                value = faults["relayminer"]
                words = value if isinstance(value, list | tuple) else str(value or "none").replace(",", " ").split()
                bad = [str(w) for w in words if w not in (*RELAYMINER_FAULTS, "none")]
                if bad:
                    raise LabError(f"{front}: unknown RelayMiner fault {bad[0]!r}: "
                                   f"{', '.join(RELAYMINER_FAULTS)} or none")
                wanted = sorted({str(w) for w in words} - {"none"})
            arg = {"set": wanted, "default": RELAYMINER_CONTROL_FILE}
            code, out = c.exec_run(["/usr/bin/python3", "-I", "-S", "-c", _RELAYMINER_FAULT_SNIPPET, json.dumps(arg)])
        except LabError:
            raise
        except Exception as exc:  # docker.errors.APIError: not running, ...
            raise LabError(f"{front}: cannot reach the RelayMiner inside the container on {h.name}: {exc}") from None
        finally:
            c.client.close()
        text = out.decode(errors="replace").strip()
        if code != 0:
            raise LabError(f"{front}: {text.splitlines()[-1] if text else f'exit {code}'}")
        try:
            return dict(json.loads(text)["faults"])
        except (ValueError, KeyError, TypeError):
            raise LabError(f"{front}: unexpected answer from the RelayMiner's control file: {text[:200]}") from None

    def _has_container(self, h: LabHost, name: str) -> bool:
        if not self._docker_ping(h):
            return False
        client = self._docker(h)
        try:
            client.containers.get(name)
            return True
        except Exception:  # docker.errors.NotFound
            return False
        finally:
            client.close()

    # ------------------------------------------------------------------ down

    def down(self, progress: Callable[[str], None] = lambda s: None) -> list[str]:
        """Stop every process of the lab and remove its namespaces, links, mounts and runtime
        files; return only once those processes are gone (exited and reaped), within bounds
        (SIGTERM, then SIGKILL). Returns what is left behind (empty: all gone)."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, sshd, dockerd): run it as root")
        self._safety()
        netns_ids = _lab_netns_ids()
        tracked: dict[int, LabProcess] = {p.pid: p for p in lab_processes(netns_ids)}

        def from_pidfiles(paths: list[Path]) -> list[LabProcess]:
            out = []
            for path in paths:
                pid = _read_pid(path)
                stat = _proc_stat(pid) if pid else None
                if pid and stat is not None and stat[1] not in ("Z", "X"):
                    proc = tracked.get(pid) or LabProcess(pid, stat[0], stat[2], "pid file")
                    tracked[pid] = proc
                    out.append(proc)
            return out

        # Engines first, all at once: each dockerd stops its containers and its containerd.
        engines = from_pidfiles([h.run / "dockerd.pid" for h in HOSTS])
        self._terminate(engines, DOWN_ENGINE_GRACE)
        daemons = from_pidfiles([h.run / "sshd.pid" for h in HOSTS] + [RUN_DIR / "anvil.pid", RUN_DIR / "pocket.pid"])
        self._terminate(daemons, DOWN_GRACE)
        # Anything else of the lab (a shim, a container, an ssh session, a daemon out of its group).
        for p in lab_processes(netns_ids):
            tracked.setdefault(p.pid, p)
        self._terminate([p for p in tracked.values() if p.running()], DOWN_GRACE)
        # Gone means reaped too: `lab down && lab up` must not meet the old ones.
        deadline = time.monotonic() + DOWN_REAP_WAIT
        while time.monotonic() < deadline and any(p.present() for p in tracked.values()):
            self._reap(tracked.values())
            time.sleep(0.05)
        progress("lab: processes stopped")
        for mnt in sorted(self._mounts(), key=len, reverse=True):
            if _run(["umount", mnt], check=False).returncode != 0:
                _run(["umount", "-l", mnt], check=False)
        for h in HOSTS:
            _run(["ip", "netns", "del", h.netns], check=False)
            _run(["ip", "link", "del", h.veth], check=False)
        _run(["ip", "link", "del", BRIDGE], check=False)
        # Runtime state goes (engines' data roots, sockets); keys and known_hosts stay for the next up.
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        shutil.rmtree(self.dir / "hosts", ignore_errors=True)
        progress("lab: namespaces, links and mounts removed")
        return self.leftovers(tracked=list(tracked.values()), netns_ids=netns_ids)

    @staticmethod
    def _reap(procs: Any) -> None:
        """Collect the ones that are our own children (a lab brought up before daemons were
        detached from their starter); init reaps the others."""
        for p in procs:
            try:
                os.waitpid(p.pid, os.WNOHANG)
            except (ChildProcessError, OSError):
                pass

    def _terminate(self, procs: list[LabProcess], grace: float) -> None:
        """SIGTERM each process's group, wait up to ``grace`` s for them to exit, SIGKILL the
        rest and wait up to :data:`DOWN_KILL_WAIT` s more."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, DOWN_KILL_WAIT)):
            alive = [p for p in procs if p.running()]
            if not alive:
                return
            for p in alive:
                try:  # its whole group when it leads one (a daemon and its helpers), else itself
                    (os.killpg if os.getpgid(p.pid) == p.pid else os.kill)(p.pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(p.running() for p in alive):
                self._reap(alive)
                time.sleep(0.05)

    def _stop(self, pidfile: Path, grace: float = 5.0) -> None:
        pid = _read_pid(pidfile)
        stat = _proc_stat(pid) if pid else None
        if pid and stat is not None and stat[1] not in ("Z", "X"):
            self._terminate([LabProcess(pid, stat[0], stat[2], "pid file")], grace)

    def _ns_pids(self, h: LabHost) -> list[int]:
        if not Path(f"/run/netns/{h.netns}").exists():
            return []
        return [int(p) for p in _run(["ip", "netns", "pids", h.netns], check=False).stdout.split()]

    def _mounts(self) -> list[str]:
        marks = (str(self.dir) + "/", str(RUN_DIR) + "/", "/run/netns/" + NS_PREFIX)
        out = []
        try:
            with open("/proc/self/mountinfo") as fh:
                for line in fh:
                    mnt = line.split()[4].replace("\\040", " ")
                    if mnt.startswith(marks) or mnt in (str(RUN_DIR),):
                        out.append(mnt)
        except OSError:
            pass
        return out

    def leftovers(self, tracked: list[LabProcess] | None = None, netns_ids: set[str] | None = None) -> list[str]:
        """What of the lab is still there: namespaces, mounts, processes (the lab's now, and of
        ``tracked`` the ones still in the process table), links."""
        left = []
        netns = _run(["ip", "netns", "list"], check=False).stdout.decode().split()
        left += [f"namespace {n}" for n in netns if n.startswith(NS_PREFIX)]
        left += [f"mount {m}" for m in self._mounts()]
        procs = {p.pid: p for p in lab_processes((netns_ids or set()) | _lab_netns_ids())}
        procs.update({p.pid: p for p in tracked or [] if p.present()})
        left += [procs[pid].describe() for pid in sorted(procs)]
        links = _run(["ip", "-o", "link", "show"], check=False).stdout.decode()
        left += [f"link {n}" for n in [BRIDGE] + [h.veth for h in HOSTS] if f": {n}:" in links or f": {n}@" in links]
        for name in ("anvil.pid", "pocket.pid"):
            if _alive(_read_pid(RUN_DIR / name)):
                left.append(f"process {name[:-4]}")
        return left

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        routes = _run(["ip", "route", "show", LAB_RANGE], check=False).stdout.decode()
        netns = set(_run(["ip", "netns", "list"], check=False).stdout.decode().split())
        bridge_up = Path(f"/sys/class/net/{BRIDGE}").exists()
        hosts = []
        for h in HOSTS:
            ns = h.netns in netns
            sshd = ns and bridge_up and _alive(_read_pid(h.run / "sshd.pid")) and _tcp_open(h.address, 22)
            dockerd = ns and self._docker_ping(h)
            containers: Any = "-"
            if dockerd:
                try:
                    containers = len(json.loads(_unix_http(h.docker_sock, "/containers/json")[1]))
                except (OSError, ValueError):
                    containers = "?"
            front = bool(dockerd and bridge_up and self._front_ok(h))
            beacon = bool(dockerd and bridge_up and self._beacon_ok(h))
            hosts.append({"name": h.name, "address": h.address, "netns": ns, "sshd": sshd, "dockerd": dockerd,
                          "containers": containers, "docker_url": f"ssh://root@{h.address}:22",
                          "docker_bridge": h.bip,
                          "front": {"name": h.front_name, "client": h.client, "url": h.front_url, "up": front},
                          "beacon": {"name": h.beacon_name, "client": h.consensus, "url": h.beacon_url,
                                     "pair": h.front_name, "up": beacon}})
        services = [
            {"name": "anvil", "url": ANVIL_URL, "up": bridge_up and _alive(_read_pid(RUN_DIR / "anvil.pid")) and _tcp_open(BRIDGE_IP, ANVIL_PORT)},
            {"name": "pocket-shannon", "url": SHANNON_URL, "up": bridge_up and _alive(_read_pid(RUN_DIR / "pocket.pid")) and _tcp_open(BRIDGE_IP, SHANNON_PORT)},
            {"name": "pocket-morse", "url": MORSE_URL, "up": bridge_up and _alive(_read_pid(RUN_DIR / "pocket.pid")) and _tcp_open(BRIDGE_IP, MORSE_PORT)},
            {"name": "pocket-comet", "url": COMET_URL, "up": bridge_up and _alive(_read_pid(RUN_DIR / "pocket.pid")) and _tcp_open(BRIDGE_IP, COMET_PORT)},
        ] + [{"name": h[k]["name"], "url": h[k]["url"], "up": h[k]["up"]} for h in hosts for k in ("front", "beacon")]
        parts = [h[k] for h in hosts for k in ("netns", "sshd", "dockerd")] + [s["up"] for s in services]
        up = all(parts)
        problems = []
        if any(parts) and not up:
            problems = [f"{h['name']}: {k} down" for h in hosts for k in ("netns", "sshd", "dockerd") if not h[k]]
            problems += [f"{s['name']} down" for s in services if not s["up"]]
        return {
            "up": up,
            "partial": any(parts) and not up,
            "network": SUBNET,
            "blackhole": "blackhole" in routes,
            "dir": str(self.dir),
            "known_hosts": str(KNOWN_HOSTS),
            "identity_file": str(CLIENT_KEY),
            "hosts": hosts,
            "services": services,
            "problems": problems,
        }


def lab_images() -> list[tuple[str, bytes, list[str]]]:
    """(tag, rootfs tar, docker import changes) for every image the lab builds.

    * fleetlab/{geth,nethermind,erigon}:lab: the client front (front.py) under each persona; it
      runs on the host's Python, so it needs ``/usr`` mounted read-only (``fleet_node_volumes``);
    * fleetlab/relayminer:lab: the pocketd stand-in (pocketd.py) as its entrypoint, as the real
      image has pocketd: ``relayminer start`` is a small RelayMiner that reads the generated
      config (relayminer.py), ``keys …`` and ``tx supplier stake-supplier`` work on the keyring
      volume; on the host's Python too (``fleet_relayminer_volumes``);
    * fleetlab/morse:lab: a Morse node that relays per chains.json (morse_node.py), host's Python,
      and reports the Pocket stand-in's height (``POCKET_NETWORK_RPC``) as its own;
    * fleetlab/haproxy:lab: the host's HAProxy with the libraries it links, self-contained, with
      its configuration where the official image keeps it (/usr/local/etc/haproxy).
    """
    here = images_dir()
    images: list[tuple[str, bytes, list[str]]] = []
    # The execution images carry the beacon front too: Erigon's serves Caplin's Beacon API with it.
    fronts = {"opt/fleetlab/front.py": (here / "front.py").read_bytes(),
              "opt/fleetlab/beacon_front.py": (here / "beacon_front.py").read_bytes()}
    front = _rootfs_tar(fronts)
    for name in CLIENTS:
        images.append((f"fleetlab/{name}:lab", front, [
            'ENTRYPOINT ["/usr/bin/python3", "-u", "/opt/fleetlab/front.py"]',
            f"ENV FRONT_CLIENT={name}",
            f"ENV FRONT_UPSTREAM={ANVIL_URL}",
            f"ENV FRONT_CONTROL_FILE={FRONT_CONTROL_FILE}",
            f"ENV BEACON_CONTROL_FILE={BEACON_CONTROL_FILE}",
        ]))
    # fleetlab/{lighthouse,...}:lab: the beacon front under each persona, reporting the version of
    # the image the playbooks pin (playbooks/vars/images.yml), when it names one.
    beacon = _rootfs_tar({"opt/fleetlab/beacon_front.py": fronts["opt/fleetlab/beacon_front.py"]}, dirs=("fleet",))
    pinned = _pinned_versions()
    for name in CONSENSUS_CLIENTS:
        changes = ['ENTRYPOINT ["/usr/bin/python3", "-u", "/opt/fleetlab/beacon_front.py"]',
                   f"ENV BEACON_CLIENT={name}", f"ENV BEACON_CONTROL_FILE={BEACON_CONTROL_FILE}"]
        if pinned.get(name):
            changes.append(f"ENV BEACON_VERSION={pinned[name]}")
        images.append((f"fleetlab/{name}:lab", beacon, changes))
    # The RelayMiner image plays ghcr.io/pokt-network/pocketd, whose entrypoint is pocketd: the
    # relayminer role runs `relayminer start …` in it, `fleetctl scale` runs `keys add` and
    # `fleetctl stake --batch --keyring relayminer` runs `tx supplier stake-supplier` in it.
    images.append(("fleetlab/relayminer:lab", _rootfs_tar({
        "opt/fleetlab/pocketd.py": (here / "pocketd.py").read_bytes(),
        "opt/fleetlab/relayminer.py": (here / "relayminer.py").read_bytes(),
    }, dirs=("home/pocket",)), [
        'ENTRYPOINT ["/usr/bin/python3", "-u", "/opt/fleetlab/pocketd.py"]',
        "ENV HOME=/home/pocket",
    ]))
    morse = here / "morse_node.py"
    images.append(("fleetlab/morse:lab", _rootfs_tar({"opt/fleetlab/morse_node.py": morse.read_bytes()}, dirs=("home/app/.pocket/config",)), [
        'ENTRYPOINT ["/usr/bin/python3", "-u", "/opt/fleetlab/morse_node.py"]',
        f"ENV POCKET_NETWORK_RPC={MORSE_URL}",  # its /v1/query/height: the lab chain's height
    ]))
    haproxy = shutil.which("haproxy", path="/usr/sbin:/usr/bin:/sbin")
    if haproxy:
        files = {"usr/local/sbin/haproxy": Path(haproxy).read_bytes()}
        for lib in _shared_libs(haproxy):
            files[lib.lstrip("/")] = Path(lib).read_bytes()
        images.append(("fleetlab/haproxy:lab", _rootfs_tar(files, merged_usr=False, dirs=("usr/local/etc/haproxy", "var/run", "run/haproxy")), [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
        ]))
    return images


def consensus_command(client: str, address: str, port: int, engine: str, jwt: str) -> list[str]:
    """A consensus client's command line for its Beacon API on ``address:port``, driving the
    execution client at ``engine`` with the JWT file ``jwt``, in its own flags (its docs)."""
    if client == "lighthouse":
        return ["lighthouse", "bn", "--network", "mainnet", "--http", "--http-address", address, "--http-port", str(port),
                "--execution-endpoint", engine, "--execution-jwt", jwt]
    if client == "prysm":
        return ["--mainnet", "--accept-terms-of-use", "--http-host", address, "--http-port", str(port),
                "--execution-endpoint", engine, "--jwt-secret", jwt]
    if client == "teku":
        return ["--network=mainnet", "--rest-api-enabled=true", f"--rest-api-interface={address}",
                f"--rest-api-port={port}", f"--ee-endpoint={engine}", f"--ee-jwt-secret-file={jwt}"]
    if client == "nimbus":
        return ["--network=mainnet", "--rest", f"--rest-address={address}", f"--rest-port={port}", f"--el={engine}",
                f"--jwt-secret={jwt}"]
    if client == "lodestar":
        return ["beacon", "--network", "mainnet", "--rest", "--rest.address", address, "--rest.port", str(port),
                "--execution.urls", engine, "--jwt-secret", jwt]
    raise ValueError(f"not a consensus client: {client}")


def _pinned_versions() -> dict[str, str]:
    """client -> the version of its pinned image (playbooks/vars/images.yml), if it is there."""
    import re

    import yaml

    from fleetctl.core.resources import data_dir

    for candidate in (data_dir("playbooks") / "vars" / "images.yml",):
        try:
            pinned = (yaml.safe_load(candidate.read_text()) or {}).get("fleet_pinned_images") or {}
        except (OSError, ValueError, AttributeError, yaml.YAMLError):
            continue
        out = {}
        for client, image in pinned.items() if isinstance(pinned, dict) else ():
            tag = str(image).rpartition(":")[2]
            m = re.search(r"(?:^|-)v?(\d+\.\d+\.\d+)$", tag)  # v8.2.2, 26.8.0, multiarch-v26.7.0
            if m and "/" not in tag:
                out[str(client)] = m.group(1)
        return out
    return {}


def _control_error(exc: Any) -> str:
    try:
        return json.loads(exc.read()).get("error") or f"HTTP {exc.code}"
    except (OSError, ValueError, AttributeError):
        return f"HTTP {exc.code}"


#: Run inside a container by ``lab fault``: find the front's control port (the files it writes),
#: POST the faults to it on 127.0.0.1, print its answer.
_FAULT_SNIPPET = """\
import json, sys, urllib.request, urllib.error
arg = json.loads(sys.argv[1])
for path in arg["files"]:
    try:
        port = int(open(path).read().strip())
        break
    except (OSError, ValueError):
        continue
else:
    sys.exit("no lab front runs in this container (no control port file)")
base = "http://127.0.0.1:%d" % port
def call(path, body):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            sys.exit(json.loads(exc.read()).get("error") or "HTTP %d" % exc.code)
        except ValueError:
            sys.exit("HTTP %d" % exc.code)
    except OSError as exc:
        sys.exit("control API unreachable: %s" % exc)
if arg["clear"]:
    call("/fault/clear", {})
print(json.dumps(call("/fault", arg["faults"]) if arg["faults"] else call("/fault", None)))
"""


#: Run inside a RelayMiner container by ``lab fault``: write its faults file (atomically) when
#: told to, print the faults it holds.
_RELAYMINER_FAULT_SNIPPET = """\
import json, os, sys
arg = json.loads(sys.argv[1])
path = os.environ.get("RELAYMINER_LAB_CONTROL_FILE") or arg["default"]
if arg["set"] is not None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write((" ".join(arg["set"]) or "none") + "\\n")
    os.replace(tmp, path)
try:
    with open(path) as fh:
        words = [w for w in fh.read(4096).replace(",", " ").split() if w != "none"]
except OSError:
    words = []
print(json.dumps({"faults": {"relayminer": " ".join(words) or "none"}}))
"""


def _shared_libs(binary: str) -> list[str]:
    """The shared libraries ``binary`` loads (from ldd), real paths, the loader included."""
    out = _run(["ldd", binary]).stdout.decode()
    libs = []
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts and parts[0].startswith("/") else ""
        if path.startswith("/"):
            libs.append(path)
            real = os.path.realpath(path)
            if real != path:
                libs.append(real)
    return libs


def _rootfs_tar(files: dict[str, bytes], merged_usr: bool = True, dirs: tuple[str, ...] = ()) -> bytes:
    """A minimal root filesystem holding ``files`` (path -> content).

    With ``merged_usr`` the image has /bin, /lib, /lib64 and /sbin as links into /usr, which the
    container gets from the host (read-only bind mount); otherwise the files are the whole image.
    Deterministic (fixed mtimes, sorted), so the same content gives the same digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        made: set[str] = set()

        def add_dir(name: str, mode: int = 0o755) -> None:
            parts = name.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d in made:
                    continue
                made.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, (mode if d == name else 0o755), 0
                tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            add_dir(os.path.dirname(name))
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))

        for d in ("usr", "etc", "opt", "proc", "sys", "dev", "run", "var", "data") + dirs:
            add_dir(d)
        add_dir("tmp", 0o1777)
        if merged_usr:
            for link in ("bin", "lib", "lib64", "sbin"):
                info = tarfile.TarInfo(link)
                info.type, info.linkname, info.mtime = tarfile.SYMTYPE, f"usr/{link}", 0
                tar.addfile(info)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file("etc/hosts", b"127.0.0.1 localhost\n")
        for name in sorted(files):
            add_file(name, files[name], 0o755)
    return buf.getvalue()
