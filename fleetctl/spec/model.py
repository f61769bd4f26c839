"""The fleet model: one typed, immutable source of truth built from an inventory folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOLS = ("shannon", "morse")
#: Execution clients fleetctl provisions (one Ansible role each).
PROVISIONED_CLIENTS = ("geth", "nethermind", "erigon")
#: Clients an adopted endpoint may run (counted in diversity like fleetctl's own).
KNOWN_CLIENTS = ("geth", "nethermind", "erigon", "besu", "reth")
CHAIN_MODES = ("full", "archive")
DEFAULT_MAX_CLIENT_SHARE = 0.34
UPOKT_PER_POKT = 1_000_000


@dataclass(frozen=True)
class Capacity:
    cpus: float
    memory_gb: float
    disk_gb: float


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Endpoint:
    """A full node that already runs and that fleetctl adopts rather than provisions."""

    name: str
    url: str
    client: str
    chain: str
    host: str | None = None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class StakePolicy:
    warning_margin: Margin = Margin(percent=10.0)
    critical_margin: Margin = Margin(percent=2.0)
    min_operator_balance_upokt: int = 1 * UPOKT_PER_POKT
    history_db: str | None = None


@dataclass(frozen=True)
class Pocket:
    rest_url: str | None = None
    rpc_url: str | None = None
    node_rpc_url: str | None = None
    grpc_url: str | None = None
    chain_id: str | None = None


@dataclass(frozen=True)
class Fleet:
    root: Path
    protocol: str
    pocket: Pocket
    chains: dict[str, Chain]
    suppliers: tuple[Supplier, ...]
    hosts: dict[str, Host]
    stake: StakePolicy = StakePolicy()
    #: operator overrides of the clients' resource profiles: (client, mode) -> Resources
    profiles: dict[tuple[str, str], Any] | None = None

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


def format_upokt(amount: int) -> str:
    """``59500000000`` → ``59,500 POKT``; exact (integer arithmetic), six decimals at most."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), UPOKT_PER_POKT)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:06d}".rstrip("0")
    return f"{sign}{text} POKT"
