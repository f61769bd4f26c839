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
LABEL_ROLE = "io.fleetctl.role"  # node | balancer | relayminer | morse
LABEL_SPEC = "io.fleetctl.spec"  # hash of the desired spec; a different hash means recreate
LABEL_NAME = "io.fleetctl.name"
LABEL_SLOT = "io.fleetctl.slot"  # a node's host-local index (its ports derive from it)

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
BALANCER_PORT_BASE = 7600  # + index of the chain in fleet.yml order
BALANCER_STATS_OFFSET = 100  # HAProxy stats / runtime API listener: balancer port + 100
RELAYMINER_PORT = 8500
RELAYMINER_METRICS_PORT = 9090


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
    """One full node (execution client container) the fleet should run."""

    name: str  # stable id, e.g. "eth-geth-1"; also the container name
    chain: str
    client: str
    host: str
    mode: str = "full"
    slot: int = 0  # the host-local index that gives its ports
    resources: Resources = Resources(0, 0, 0)

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


class Infeasible(Exception):
    """The desired state cannot be met; each reason names the constraint."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))
