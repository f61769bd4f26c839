"""What one full node of each provisioned execution client needs: CPUs, memory and disk, per mode.

The planner reserves these on a host for every node it places there. The figures are the clients'
own published recommendations for Ethereum mainnet (the heaviest chain fleetctl serves), checked
on 2026-11-21 against the pages below (and their sources: ethereum/go-ethereum docs/,
NethermindEth/docs, erigontech/docs); an operator sizes differently with ``profiles:`` in fleet.yml
(``Fleet.profiles``).

How a figure was taken from a page:

* ``cpus`` and ``memory_gb``: the recommended (not the bare minimum) figure; where the page gives
  a range ("4-8 cores"), its lower end.
* ``disk_gb``: the disk the page recommends for a node of that mode, which leaves room for the
  consensus client paired with every execution client since the Merge and for growth. Where only
  a data size is published, that size plus a year of the published growth rate.

Sources:

* geth — https://geth.ethereum.org/docs/getting-started/hardware-requirements: quad-core CPU,
  "at least 16GB RAM", "a 2TB SSD is recommended for a full node running Geth and a consensus
  client" (>650 GB for Geth itself, ~14 GB/week growth; figures of September 2022). Archive:
  https://geth.ethereum.org/docs/fundamentals/archive (edited 2025-07-07): a path-based archive
  node (Geth >= 1.16) "with full history requires around 2TB" (a hash-based one exceeds 20 TB);
  no CPU or memory figure is given for archive nodes.
* nethermind — https://docs.nethermind.io/get-started/system-requirements (docs 1.39 and later):
  mainnet 4 cores / 16 GB and "at least 2 TB of storage space" (October 2024); mainnet archive
  8 cores / 128 GB, "at least 14 TB of disk space ... grows by approximately 60 GB per week"
  (July 2023).
* erigon — https://docs.erigon.tech/getting-started/hw-requirements (Erigon 3; docs of
  2025-11-03): CPU "4–8 cores recommended for Full nodes; 8–16 cores for Archive"; mainnet full
  920 GB required / 2 TB recommended disk, 16 GB required / 32 GB recommended RAM; mainnet archive
  1.77 TB required / 4 TB recommended disk, 32 GB required / 64 GB recommended RAM.

besu and reth only appear as adopted endpoints (fleetctl does not provision them): no profile.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetctl.plan.model import Resources
from fleetctl.spec.model import PROVISIONED_CLIENTS

#: (client, mode) -> what one node needs; see the module docstring for where each figure comes from.
PROFILES: dict[tuple[str, str], Resources] = {
    ("geth", "full"): Resources(cpus=4, memory_gb=16, disk_gb=2000),
    # Path-based archive (~2 TB today, no growth rate published): doubled, for growth and the
    # consensus client. CPU and memory: Geth gives none for archive; Erigon's archive minimums.
    ("geth", "archive"): Resources(cpus=8, memory_gb=32, disk_gb=4000),
    ("nethermind", "full"): Resources(cpus=4, memory_gb=16, disk_gb=2000),
    # 14 TB (July 2023) + 52 weeks x 60 GB = 17,120 GB, rounded up to the next 100 GB.
    ("nethermind", "archive"): Resources(cpus=8, memory_gb=128, disk_gb=17200),
    ("erigon", "full"): Resources(cpus=4, memory_gb=32, disk_gb=2000),
    ("erigon", "archive"): Resources(cpus=8, memory_gb=64, disk_gb=4000),
}


class NoProfile(LookupError):
    """No built-in profile and no operator override for a (client, mode)."""


def profile(client: str, mode: str, overrides: Mapping[tuple[str, str], Resources] | None = None) -> Resources:
    """The resources one ``client`` node in ``mode`` ("full" or "archive") needs.

    ``overrides`` (the operator's ``Fleet.profiles``) win over the built-in figures. Raises
    NoProfile, naming the pair, for a client/mode with neither an override nor a built-in profile."""
    key = (client, mode)
    if overrides and key in overrides:
        return overrides[key]
    try:
        return PROFILES[key]
    except KeyError:
        raise NoProfile(f"no resource profile for {client} ({mode}): fleetctl provisions {', '.join(PROVISIONED_CLIENTS)}") from None
