"""What the planner decides, what fleetctl observes, and the actions between them.

These types are the contract between the planner (placement.py), observation (observe.py),
the diff (diff.py), the playbooks (through the variables in vars.py) and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Container labels fleetctl puts on everything it runs (and reads back when observing).
LABEL_MANAGED = "io.fleetctl.managed"
LABEL_CHAIN = "io.fleetctl.chain"
LABEL_CLIENT = "io.fleetctl.client"
LABEL_ROLE = "io.fleetctl.role"  # node | consensus | balancer | relayminer | morse
LABEL_SPEC = "io.fleetctl.spec"  # hash of the desired spec; a different hash means recreate
LABEL_NAME = "io.fleetctl.name"
LABEL_SLOT = "io.fleetctl.slot"  # a node's host-local index (its ports derive from it)
#: On both containers of a pair: the execution node's name (the pair's name).
LABEL_PAIR = "io.fleetctl.pair"
#: ``execution`` or ``consensus``.
LABEL_LAYER = "io.fleetctl.layer"
#: On an execution node: its consensus client (lighthouse ... lodestar, or caplin for Erigon's own).
LABEL_CONSENSUS = "io.fleetctl.consensus"

#: Ports on a host.  A node's host-local ``slot`` (stable once given) picks a block of
#: PORT_STRIDE ports above each base, so no two nodes, of any client, ever share a port:
#: slot 0 gets the clients' usual 8545/8551/30303/6060, slot 1 8555/8561/30313/6070, ...
#: (Erigon's sentries use p2p_port .. p2p_port+4, inside the block).  Balancers and the
#: RelayMiner sit below every block.
PORT_STRIDE = 10
RPC_PORT_BASE = 8545
AUTHRPC_PORT_BASE = 8551
P2P_PORT_BASE = 30303
METRICS_PORT_BASE = 6060
#: The consensus client of a pair (or Caplin) uses the same slot's block: beacon API 5052,
#: its metrics 5054, its p2p 12000 (TCP and UDP; QUIC where the client has it on p2p + 1).
BEACON_PORT_BASE = 5052
CL_METRICS_PORT_BASE = 5054
CL_P2P_PORT_BASE = 12000
BALANCER_PORT_BASE = 7600  # + index of the chain in fleet.yml order
BALANCER_STATS_OFFSET = 100  # HAProxy stats / runtime API listener: balancer port + 100
RELAYMINER_PORT = 8500
RELAYMINER_METRICS_PORT = 9090
#: the RelayMiner's ping server (poktroll's example configs: ``ping.addr`` localhost:8081):
#: ``GET /`` dials every backend it serves, 204 when all answer (read by ``fleetctl health``)
RELAYMINER_PING_PORT = 8081


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


@dataclass(frozen=True, order=True)
class NodePlacement:
    """One full node: an execution client container and the consensus client paired with it
    (a second container sharing its network namespace, or Erigon's embedded Caplin)."""

    name: str  # stable id, e.g. "eth-geth-1"; also the execution container's name and the pair's
    chain: str
    client: str
    host: str
    mode: str = "full"
    slot: int = 0  # the host-local index that gives its ports
    resources: Resources = Resources(0, 0, 0)  # the pair's (execution + consensus)
    consensus: str = ""  # lighthouse|prysm|teku|nimbus|lodestar, "caplin", or "" (not paired yet)

    @property
    def consensus_name(self) -> str | None:
        """The consensus container's name, ``{name}-{client}``; None for Caplin or no pair."""
        if not self.consensus or self.consensus == "caplin":
            return None
        return f"{self.name}-{self.consensus}"

    @property
    def beacon_port(self) -> int:
        return BEACON_PORT_BASE + PORT_STRIDE * self.slot

    @property
    def cl_p2p_port(self) -> int:
        return CL_P2P_PORT_BASE + PORT_STRIDE * self.slot

    @property
    def cl_metrics_port(self) -> int:
        return CL_METRICS_PORT_BASE + PORT_STRIDE * self.slot

    @property
    def rpc_port(self) -> int:
        return RPC_PORT_BASE + PORT_STRIDE * self.slot

    @property
    def p2p_port(self) -> int:
        return P2P_PORT_BASE + PORT_STRIDE * self.slot

    @property
    def metrics_port(self) -> int:
        return METRICS_PORT_BASE + PORT_STRIDE * self.slot

    @property
    def authrpc_port(self) -> int:
        return AUTHRPC_PORT_BASE + PORT_STRIDE * self.slot


@dataclass(frozen=True)
class Backend:
    """A member of a balancer's pool: a provisioned node or an adopted endpoint."""

    name: str
    client: str
    url: str  # http://ADDRESS:PORT
    adopted: bool = False


@dataclass(frozen=True)
class BalancerPlacement:
    """HAProxy on ``host`` for ``chain``: one URL for the Pocket processes on that host."""

    host: str
    chain: str
    port: int
    backends: tuple[Backend, ...]

    @property
    def name(self) -> str:
        return f"lb-{self.chain}"


@dataclass(frozen=True)
class SupplierPlacement:
    """Which host's Pocket process serves a supplier (inventory host, or placed by the planner)."""

    supplier: str  # Supplier.name
    host: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class Placement:
    nodes: tuple[NodePlacement, ...]
    balancers: tuple[BalancerPlacement, ...]
    suppliers: tuple[SupplierPlacement, ...]
    # per chain: client -> count of running full nodes incl. adopted endpoints
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # per chain: consensus client (caplin included) -> pairs incl. adopted beacon endpoints
    consensus_counts: dict[str, dict[str, int]] = field(default_factory=dict)


class Infeasible(Exception):
    """The desired state cannot be met; each reason names the constraint."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))
