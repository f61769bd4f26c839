"""What the planner decides, what fleetctl observes, and the actions between them.

These types are the contract between the planner (placement.py), observation (observe.py),
the diff (diff.py), the playbooks (through the variables in vars.py) and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The port and label layout lives in :mod:`fleetctl.core.layout`; its names stay readable here
#: (``pm.LABEL_SLOT``) for the planner's callers.
from fleetctl.core.records import record
from fleetctl.core.layout import (  # noqa: F401
    AUTHRPC_PORT_BASE,
    BALANCER_PORT_BASE,
    BALANCER_STATS_OFFSET,
    BEACON_PORT_BASE,
    CL_METRICS_PORT_BASE,
    CL_P2P_PORT_BASE,
    LABEL_CHAIN,
    LABEL_CLIENT,
    LABEL_CONSENSUS,
    LABEL_LAYER,
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_PAIR,
    LABEL_ROLE,
    LABEL_SLOT,
    LABEL_SPEC,
    METRICS_PORT_BASE,
    P2P_PORT_BASE,
    PORT_STRIDE,
    RELAYMINER_METRICS_PORT,
    RELAYMINER_PING_PORT,
    RELAYMINER_PORT,
    RPC_PORT_BASE,
    balancer_name,
)

#: A host's or a client's CPUs, memory and disk: an inventory value (spec.model), used by the planner.
from fleetctl.spec.model import Resources  # noqa: F401


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


@record(frozen=True)
class Backend:
    """A member of a balancer's pool: a provisioned node or an adopted endpoint."""

    name: str
    client: str
    url: str  # http://ADDRESS:PORT
    adopted: bool = False


@record(frozen=True)
class BalancerPlacement:
    """HAProxy on ``host`` for ``chain``: one URL for the Pocket processes on that host."""

    host: str
    chain: str
    port: int
    backends: tuple[Backend, ...]

    @property
    def name(self) -> str:
        return balancer_name(self.chain)


@record(frozen=True)
class SupplierPlacement:
    """Which host's Pocket process serves a supplier (inventory host, or placed by the planner)."""

    supplier: str  # Supplier.name
    host: str
    services: tuple[str, ...]


@record(frozen=True)
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
