"""What one full node needs: CPUs, memory and disk, per client and mode, for each layer.

The planner reserves, for every full node it places on a host, the execution client's profile
plus its consensus client's (a pair: see ``NodePlacement.resources``). The figures are the
clients' own published recommendations for Ethereum mainnet (the heaviest chain fleetctl serves),
checked on 2026-11-21 against the pages below (and their sources: ethereum/go-ethereum docs/,
NethermindEth/docs, erigontech/docs, sigp/lighthouse book/, status-im/nimbus-eth2 docs/,
ChainSafe/lodestar docs/); an operator sizes differently with ``profiles:`` in fleet.yml
(``Fleet.profiles``, execution and consensus client names alike).

How a figure was taken from a page:

* ``cpus`` and ``memory_gb``: the recommended (not the bare minimum) figure; where the page gives
  a range ("4-8 cores"), its lower end.
* ``disk_gb``: the disk the page recommends for that client alone, and for growth. Each layer
  counts only its own disk: where an execution client's page gives one figure for the client
  *and* its consensus client (Geth's "2TB SSD ... for Geth and a consensus client"), the
  execution profile takes Geth's own data size plus a year of its growth instead, so adding the
  consensus profile does not count the consensus client twice. Where only a data size is
  published, that size plus a year of the published growth rate.
* Consensus clients' ``cpus``: no beacon-node page gives a core count for the beacon node
  alone (Lighthouse's "quad-core" and Lodestar's i7-9700 are for the whole machine running the
  beacon node beside its execution client, the same cores the execution pages already ask for);
  the planner reserves 2 cores per beacon node (a choice, not a published figure: half of the
  quad-core machine both layers are said to share, on top of the execution client's 4).
* The consensus profiles are the same for a chain in ``full`` and ``archive`` mode: ``mode`` is the
  execution client's history; the beacon nodes keep their default (pruned) state either way.

Sources:

Sources:

* geth — https://geth.ethereum.org/docs/getting-started/hardware-requirements: quad-core CPU,
  "at least 16GB RAM", "a 2TB SSD is recommended for a full node running Geth and a consensus
  client" (>650 GB for Geth itself, ~14 GB/week growth; figures of September 2022): the 2 TB
  covers both layers, so Geth's own profile is 650 + 52 x 14 = 1,378 GB, rounded up to 1,400 GB
  (the pair with Lighthouse, 1,400 + 512 = 1,912 GB, stays within the page's 2 TB). Archive:
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

* nethermind and erigon: their pages' figures are for the execution client (Erigon 3's are for
  its default configuration, which runs Caplin: see caplin below); the consensus client's disk
  comes on top, from its own profile.

Consensus clients (beacon node without a validator client):

* lighthouse — Lighthouse book, Installation, "System Requirements" (sigp/lighthouse
  book/src/installation.md as it stood before the page was split; for a beacon node and a
  validator client): recommended quad-core CPU,
  16 GB RAM, 512 GB solid state storage. (The book's newer "Run a node" page gives 32 GB RAM and
  2 TB for the beacon node *with* its execution client: 16 + 16 GB is what the pair reserves.)
* prysm — "Prysm Recommended": Intel Core i7-4770 or AMD FX-8310 or better, 16 GB RAM, 256 GB
  SSD, as operator guides quote Prysm's installation prerequisites; Prysm's own current pages
  (https://prysm.offchainlabs.com/docs/) were not found with a hardware figure, so this is the
  last one Prysm published as far as could be checked.
* teku — not found: the Teku documentation (https://docs.teku.consensys.io) pages in the stored
  index give no hardware figure for the beacon node. Teku runs on the JVM and is not among the
  lighter clients, so it gets the largest published beacon-node figures, Lighthouse's
  (16 GB, 512 GB): a choice, to be replaced when ConsenSys publishes one.
* nimbus — https://status-im.github.io/nimbus-eth2/hardware.html: recommended 4 GB RAM (running),
  200 GB disk ("to run both an execution and a consensus client on the same machine, we
  recommend a 2 TB SSD and 16 GB RAM").
* lodestar — https://chainsafe.github.io/lodestar (Specifications): recommended Intel Core
  i7-9700 or AMD Ryzen 7 4700, 16 GB RAM, 200 GB SSD (minimum 8 GB, 130 GB).
* caplin — Erigon's embedded consensus layer runs inside the Erigon process: Erigon 3's hardware
  page (above) gives its figures for Erigon as it runs by default, and Caplin is Erigon 3's
  default consensus layer (``DEFAULT_ERIGON_CONSENSUS``), so the erigon profile already covers
  it and Caplin adds nothing (0 cpus, 0 GB, 0 GB). Erigon with
  ``erigon: {consensus: external}`` is sized as erigon plus that consensus client's profile,
  which overstates the pair by Caplin's share (its beacon data: no figure is published).

besu, reth and grandine only appear as adopted endpoints (fleetctl does not provision them): no
profile.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetctl.plan.model import Resources
from fleetctl.spec.model import CAPLIN, CHAIN_MODES, CONSENSUS_CLIENTS, PROVISIONED_CLIENTS

#: (client, mode) -> what one node needs; see the module docstring for where each figure comes from.
PROFILES: dict[tuple[str, str], Resources] = {
    # Geth's own data (650 GB) + 52 weeks x 14 GB = 1,378 GB, rounded up to the next 100 GB.
    ("geth", "full"): Resources(cpus=4, memory_gb=16, disk_gb=1400),
    # Path-based archive (~2 TB today, no growth rate published): doubled, for growth. CPU and memory: Geth gives none for archive; Erigon's archive minimums.
    ("geth", "archive"): Resources(cpus=8, memory_gb=32, disk_gb=4000),
    ("nethermind", "full"): Resources(cpus=4, memory_gb=16, disk_gb=2000),
    # 14 TB (July 2023) + 52 weeks x 60 GB = 17,120 GB, rounded up to the next 100 GB.
    ("nethermind", "archive"): Resources(cpus=8, memory_gb=128, disk_gb=17200),
    ("erigon", "full"): Resources(cpus=4, memory_gb=32, disk_gb=2000),
    ("erigon", "archive"): Resources(cpus=8, memory_gb=64, disk_gb=4000),
}

#: One beacon node of each consensus client (the same in both modes; see the module docstring).
CONSENSUS_PROFILES: dict[str, Resources] = {
    "lighthouse": Resources(cpus=2, memory_gb=16, disk_gb=512),
    "prysm": Resources(cpus=2, memory_gb=16, disk_gb=256),
    "teku": Resources(cpus=2, memory_gb=16, disk_gb=512),  # not published: Lighthouse's figures
    "nimbus": Resources(cpus=2, memory_gb=4, disk_gb=200),
    "lodestar": Resources(cpus=2, memory_gb=16, disk_gb=200),
    CAPLIN: Resources(cpus=0, memory_gb=0, disk_gb=0),  # inside Erigon, whose figures cover it
}
PROFILES.update({(c, mode): r for c, r in CONSENSUS_PROFILES.items() for mode in CHAIN_MODES})


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
        raise NoProfile(f"no resource profile for {client} ({mode}): fleetctl provisions "
                        f"{', '.join(PROVISIONED_CLIENTS)} and {', '.join(CONSENSUS_CLIENTS)}") from None
