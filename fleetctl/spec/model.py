"""The fleet model: one typed, immutable source of truth built from an inventory folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.units import UPOKT_PER_POKT, format_upokt

PROTOCOLS = ("shannon", "morse")
#: Execution clients fleetctl provisions (one Ansible role each).
PROVISIONED_CLIENTS = ("geth", "nethermind", "erigon")
#: Clients an adopted endpoint may run (counted in diversity like fleetctl's own).
KNOWN_CLIENTS = ("geth", "nethermind", "erigon", "besu", "reth")
#: Consensus clients fleetctl provisions beside an execution client (one Ansible role each).
CONSENSUS_CLIENTS = ("lighthouse", "prysm", "teku", "nimbus", "lodestar")
#: Erigon's embedded consensus layer; a Caplin node counts as its own consensus client in the shares.
CAPLIN = "caplin"
#: ``erigon: {consensus: ...}`` in fleet.yml; Erigon 3's docs recommend (and default to) Caplin.
ERIGON_CONSENSUS = ("caplin", "external")
DEFAULT_ERIGON_CONSENSUS = "caplin"
#: Consensus clients an adopted beacon endpoint may run (counted in the consensus shares).
KNOWN_CONSENSUS_CLIENTS = (*CONSENSUS_CLIENTS, CAPLIN, "grandine")
#: Networks fleetctl knows (each client's support is checked by the loader and the planner).
NETWORKS = ("mainnet", "sepolia", "hoodi", "gnosis")
#: The networks each client runs (its own docs; the loader and planner refuse other pairs).
#: Gnosis: Geth and Prysm do not run it; Nimbus does, but only from a separate Gnosis build that
#: its official image (statusim/nimbus-eth2) does not ship, so fleetctl's Nimbus role cannot.
NETWORK_SUPPORT: dict[str, frozenset[str]] = {
    **{c: frozenset(NETWORKS) for c in ("nethermind", "erigon", CAPLIN, "lighthouse", "teku", "lodestar")},
    **{c: frozenset({"mainnet", "sepolia", "hoodi"}) for c in ("geth", "prysm", "nimbus")},
}
CHAIN_MODES = ("full", "archive")
DEFAULT_MAX_CLIENT_SHARE = 0.34


@dataclass(frozen=True, order=True)
class Resources:
    cpus: float
    memory_gb: float
    disk_gb: float

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(self.cpus + other.cpus, self.memory_gb + other.memory_gb, self.disk_gb + other.disk_gb)

    def __sub__(self, other: "Resources") -> "Resources":
        return Resources(self.cpus - other.cpus, self.memory_gb - other.memory_gb, self.disk_gb - other.disk_gb)

    def fits_in(self, other: "Resources") -> bool:
        eps = 1e-9
        return self.cpus <= other.cpus + eps and self.memory_gb <= other.memory_gb + eps and self.disk_gb <= other.disk_gb + eps


@record(frozen=True)
class Capacity:
    cpus: float
    memory_gb: float
    disk_gb: float


@record(frozen=True)
class Host:
    name: str
    address: str
    port: int = 22
    user: str = "root"
    identity_file: str | None = None
    known_hosts: str | None = None
    capacity: Capacity | None = None
    groups: tuple[str, ...] = ()
    connection: str = "ssh"
    vars: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def docker_url(self) -> str:
        return f"ssh://{self.user}@{self.address}:{self.port}"


@record(frozen=True)
class Endpoint:
    """A full node that already runs and that fleetctl adopts rather than provisions."""

    name: str
    url: str
    client: str
    chain: str
    host: str | None = None
    #: a consensus endpoint: the adopted execution endpoint it drives (its pair), if declared
    pair: str | None = None

    @property
    def layer(self) -> str:
        """``consensus`` for a beacon node (a consensus client), else ``execution``."""
        return "consensus" if self.client in KNOWN_CONSENSUS_CLIENTS else "execution"


@record(frozen=True)
class Chain:
    id: str
    clients: tuple[str, ...]
    replicas: int
    max_client_share: float = DEFAULT_MAX_CLIENT_SHARE
    mode: str = "full"
    morse_chain_id: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    #: hosts this chain's full nodes may run on (group names resolved); empty = every host
    hosts: tuple[str, ...] = ()
    #: the chain's network as the clients name it (--mainnet / --config gnosis / --chain gnosis)
    network: str = "mainnet"
    #: consensus clients to pair the execution nodes with (empty: every one that supports the
    #: network, see :func:`consensus_clients_of`); ``max_client_share`` applies to them on their own
    consensus_clients: tuple[str, ...] = ()
    #: a trusted beacon API the consensus clients checkpoint-sync from (None: sync from genesis)
    checkpoint_sync_url: str | None = None
    #: ``caplin`` (Erigon's embedded consensus layer) or ``external`` (a consensus client beside it)
    erigon_consensus: str = DEFAULT_ERIGON_CONSENSUS

    @property
    def execution_endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.layer == "execution")

    @property
    def consensus_endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.layer == "consensus")


def consensus_clients_of(chain: Chain) -> tuple[str, ...]:
    """The consensus clients ``chain``'s execution nodes pair with: its ``consensus_clients``, or
    every provisioned one that runs its network."""
    if chain.consensus_clients:
        return chain.consensus_clients
    return tuple(c for c in CONSENSUS_CLIENTS if chain.network in NETWORK_SUPPORT[c])


@record(frozen=True)
class Supplier:
    """A Pocket identity: a Shannon supplier (operator address) or a Morse node (address).

    ``operator_address`` is None for identities still to be created (the ``count`` form)."""

    name: str
    services: tuple[str, ...]
    operator_address: str | None = None
    owner_address: str | None = None
    host: str | None = None

    @property
    def planned(self) -> bool:
        return self.operator_address is None


@record(frozen=True)
class Margin:
    """A stake margin above the minimum: an absolute amount (upokt) or a percentage of it."""

    upokt: int | None = None
    percent: float | None = None

    def of(self, min_stake_upokt: int) -> int:
        """The margin in upokt for a given minimum stake (percentages round up: never optimistic)."""
        if self.upokt is not None:
            return self.upokt
        assert self.percent is not None
        # Integer arithmetic on a basis-point scale; ceil so a threshold is never undershot.
        bp = round(self.percent * 100)
        return -((-min_stake_upokt * bp) // 10_000)

    def __str__(self) -> str:
        if self.upokt is not None:
            return format_upokt(self.upokt)
        return f"{self.percent:g}%"


@record(frozen=True)
class StakePolicy:
    warning_margin: Margin = Margin(percent=10.0)
    critical_margin: Margin = Margin(percent=2.0)
    min_operator_balance_upokt: int = 1 * UPOKT_PER_POKT
    history_db: str | None = None
    #: Shannon: missed proofs until auto-unstake, (stake - min_stake) / proof_missing_penalty,
    #: at or below which the supplier is WARNING / CRITICAL
    missed_proofs_warning: int = 10
    missed_proofs_critical: int = 3
    #: operator balance over its claim and proof fees per day: WARNING below this many days
    fee_runway_warning_days: float = 7.0
    #: the fee of one claim or proof transaction (upokt): poktroll's docs recommend --fees=1upokt
    #: (mainnet minimum gas price 0.000001 upokt x 200,000 gas); set it to what the RelayMiners pay
    tx_fee_upokt: int = 1


@record(frozen=True)
class Secret:
    """A value that must never be printed: given inline, by environment variable or by file.

    ``str()`` and ``repr()`` never show the value; :meth:`reveal` reads it when it is used
    (an environment variable or a file may change between runs)."""

    inline: str | None = None
    env: str | None = None
    file: str | None = None

    def reveal(self) -> str:
        """The value; ``ValueError`` with a one-line reason (naming the variable or file,
        never the value) when it cannot be read."""
        import os
        import stat

        if self.inline is not None:
            return self.inline
        if self.env is not None:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise ValueError(f"${self.env} is not set")
            return value
        assert self.file is not None
        # A regular file only (a symlink to one is fine), checked before it is opened and again
        # on the open descriptor: a FIFO would block the open or the read for ever, a device
        # would never end. Opened non-blocking, so a FIFO swapped in between cannot block either.
        path, limit = self.file, SECRET_FILE_MAX_BYTES
        try:
            mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(f"{path} is not a regular file ({_file_kind(mode)}); "
                                 "give the path of a file holding the value")
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ValueError(f"{path} is not a regular file ({_file_kind(st.st_mode)}); "
                                     "give the path of a file holding the value")
                if stat.S_IMODE(st.st_mode) & 0o077:
                    raise ValueError(f"{path} is readable by others (chmod 600 it)")
                if st.st_size > limit:
                    raise ValueError(f"{path} is larger than {limit // 1024} KiB ({st.st_size} bytes); "
                                     "it should hold the value only")
                chunks: list[bytes] = []
                size = 0
                while size <= limit:
                    chunk = os.read(fd, limit + 1 - size)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ValueError(f"{path}: {exc.strerror or type(exc).__name__}") from None
        if size > limit:
            raise ValueError(f"{path} is larger than {limit // 1024} KiB; it should hold the value only")
        try:
            value = b"".join(chunks).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text") from None
        if not value:
            raise ValueError(f"{path} is empty")
        return value

    def __str__(self) -> str:
        if self.env is not None:
            return f"${self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return "<inline secret>"

    __repr__ = __str__


#: A secret's file larger than this is refused before it is read (a sink URL is a line).
SECRET_FILE_MAX_BYTES = 64 * 1024


def _file_kind(mode: int) -> str:
    import stat

    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"


#: Sink kinds for alert notifications.
SINK_TYPES = ("webhook", "slack", "discord", "alertmanager")


@record(frozen=True)
class Sink:
    """Where alert notifications go. ``url`` is a secret (webhook tokens live in the path)."""

    type: str  # one of SINK_TYPES
    url: Secret
    name: str  # for messages: "slack", "webhook-2", or the configured name


@record(frozen=True)
class AlertPolicy:
    """fleet.yml ``alerts:``. Durations are seconds."""

    #: consecutive runs a problem must persist before it fires
    after: int = 3
    #: a firing alert is notified again at this interval (0: never)
    renotify_s: float = 4 * 3600.0
    #: the lowest level that alerts: "WARNING" (warning, unknown, critical) or "CRITICAL"
    min_level: str = "WARNING"
    sinks: tuple[Sink, ...] = ()
    #: pinged (GET) after every run that completed its checks
    deadman: Secret | None = None
    #: per-request timeout of a sink or the dead-man's switch
    timeout_s: float = 5.0


@record(frozen=True)
class HealthPolicy:
    """fleet.yml ``health:``: the thresholds and bounds of ``fleetctl health``."""

    timeout_s: float = 3.0  # per check (one request, or one SSH command)
    slow_s: float = 1.0  # an endpoint answering slower than this: WARNING
    concurrency: int = 128  # requests in flight
    lag_warning: int = 3  # blocks behind the chain's majority head
    lag_critical: int = 10
    hash_depth: int = 2  # compare block hashes this many blocks below the common head
    min_peers: int = 1  # fewer: WARNING (unknown when the client does not say)
    #: consensus clients: slots behind the chain's majority head slot. 2: one missed slot is
    #: normal, two in a row are not; 32 = one epoch: the node has missed an epoch's duties
    slot_lag_warning: int = 2
    slot_lag_critical: int = 32
    disk_warning_pct: float = 20.0  # free space of a data volume, percent
    disk_critical_pct: float = 10.0
    memory_warning_pct: float = 10.0  # available memory, percent
    memory_critical_pct: float = 5.0
    load_warning: float = 2.0  # 5-minute load average per CPU
    load_critical: float = 4.0
    pocket_lag_warning: int = 5  # Pocket node blocks behind the network
    pocket_lag_critical: int = 20
    #: RelayMiner: share of relays that failed / were dropped (served, never claimed) between
    #: runs, and how long its block height may stay unchanged while the chain moves (seconds)
    relayminer_error_warning: float = 0.05
    relayminer_error_critical: float = 0.25
    relayminer_dropped_warning: float = 0.01
    relayminer_dropped_critical: float = 0.10
    relayminer_stall_warning_s: float = 300.0
    relayminer_stall_critical_s: float = 900.0
    remediate_rise: int = 3  # healthy runs before a pulled backend is put back
    textfile: str | None = None  # default path for --prom-file


@record(frozen=True)
class Pocket:
    rest_url: str | None = None
    rpc_url: str | None = None
    node_rpc_url: str | None = None
    grpc_url: str | None = None
    chain_id: str | None = None


@record(frozen=True)
class Fleet:
    root: Path
    protocol: str
    pocket: Pocket
    chains: dict[str, Chain]
    suppliers: tuple[Supplier, ...]
    hosts: dict[str, Host]
    stake: StakePolicy = StakePolicy()
    health: HealthPolicy = HealthPolicy()
    alerts: AlertPolicy = AlertPolicy()
    #: operator overrides of the clients' resource profiles: (client, mode) -> Resources
    profiles: dict[tuple[str, str], Any] | None = None
    #: relays per second one full node serves, by (client, mode), where the operator said
    relay_capacity: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for c in self.chains.values() for e in c.endpoints)

    def summary(self) -> str:
        staked = sum(1 for s in self.suppliers if not s.planned)
        planned = len(self.suppliers) - staked
        chains = ", ".join(f"{c.id} x{c.replicas} ({'/'.join(c.clients)})" for c in self.chains.values())
        sup = f"{len(self.suppliers)} suppliers" + (f" ({planned} to create)" if planned else "")
        adopted = len(self.endpoints)
        adopted_s = f", {adopted} adopted endpoints" if adopted else ""
        return f"{self.protocol}: {len(self.hosts)} hosts, {len(self.chains)} chains [{chains}]{adopted_s}, {sup}"
