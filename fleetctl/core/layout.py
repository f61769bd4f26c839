"""The port and label layout of everything fleetctl runs on a host, in one place: the container
labels it sets (and reads back when observing), the ports each role listens on, and the names
of what it creates. The planner (:mod:`fleetctl.plan`), observation (:mod:`fleetctl.provision`),
health (:mod:`fleetctl.health`) and the workflows read them from here."""

from __future__ import annotations

__all__ = [
    "AUTHRPC_PORT_BASE",
    "BALANCER_NAME_PREFIX",
    "BALANCER_PORT_BASE",
    "BALANCER_STATS_OFFSET",
    "BEACON_PORT_BASE",
    "CL_METRICS_PORT_BASE",
    "CL_P2P_PORT_BASE",
    "LABEL_CHAIN",
    "LABEL_CLIENT",
    "LABEL_CONSENSUS",
    "LABEL_LAYER",
    "LABEL_MANAGED",
    "LABEL_NAME",
    "LABEL_PAIR",
    "LABEL_ROLE",
    "LABEL_SLOT",
    "LABEL_SPEC",
    "METRICS_PORT_BASE",
    "MORSE_RPC_PORT",
    "P2P_PORT_BASE",
    "PORT_STRIDE",
    "RELAYMINER_METRICS_PORT",
    "RELAYMINER_PING_PORT",
    "RELAYMINER_PORT",
    "RPC_PORT_BASE",
    "balancer_name",
]

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
#: pocket-core types/config.go DefaultRPCPort: where a Morse node serves relays
MORSE_RPC_PORT = 8081
#: A chain's balancer (HAProxy) is named ``lb-<chain id>``.
BALANCER_NAME_PREFIX = "lb-"


def balancer_name(chain: str) -> str:
    """The name of a chain's balancer: ``lb-eth``."""
    return f"{BALANCER_NAME_PREFIX}{chain}"
