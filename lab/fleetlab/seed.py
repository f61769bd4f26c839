"""The Pocket stand-in's starting state for the lab, built from inventories/lab/fleet.yml.

Every supplier of the lab inventory is staked for its services; stakes sit at different
distances from the mainnet minimum (59,500 POKT) so the stake monitor has something to say,
and one supplier sits inside the WARNING margin on purpose.  Other operators' suppliers
(:data:`OTHER_SUPPLIERS`) share each service and :data:`LAB_APPS` applications use it, with
poktroll's default of 15 suppliers per session, so that sessions are a draw worth scaling for
(``fleetctl scale``).  A few Morse nodes are staked for relay chain 0021 so the Morse adapter
has a chain to read too.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fleetctl.core.resources import lab_inventory
from fleetctl.spec.address import bech32_encode
from fleetctl.spec.model import UPOKT_PER_POKT

#: Stakes for the lab's suppliers in POKT, in inventory order (the 4th is inside the 10% margin).
LAB_STAKES_POKT = (75_000, 70_000, 68_000, 63_000, 80_000, 66_000)
LAB_HEIGHT = 1_000
#: Suppliers of other operators staked for each of the lab's services.
OTHER_SUPPLIERS = 94
#: Applications staked for the lab's services.
LAB_APPS = 20
#: poktroll's default num_suppliers_per_session (mainnet has 50).
LAB_SUPPLIERS_PER_SESSION = 15


def _addr(tag: str) -> str:
    return bech32_encode("pokt", hashlib.sha256(tag.encode()).digest()[:20])


def lab_seed() -> dict[str, Any]:
    from fleetctl.spec.loader import load_inventory

    fleet = load_inventory(lab_inventory())
    suppliers = []
    balances: dict[str, int] = {}
    for i, s in enumerate(x for x in fleet.suppliers if not x.planned):
        stake = LAB_STAKES_POKT[i % len(LAB_STAKES_POKT)] * UPOKT_PER_POKT
        suppliers.append({
            "operator_address": s.operator_address,
            "owner_address": s.owner_address or s.operator_address,
            "stake_upokt": stake,
            "services": list(s.services),
        })
        balances[s.operator_address] = 250 * UPOKT_PER_POKT  # type: ignore[index]
    other_owner = _addr("lab-other-owner")
    for i in range(1, OTHER_SUPPLIERS + 1):
        suppliers.append({"operator_address": _addr(f"lab-other-supplier-{i}"), "owner_address": other_owner,
                          "stake_upokt": 60_000 * UPOKT_PER_POKT + i, "services": sorted(fleet.chains)})
    app = _addr("lab-app-1")
    balances[app] = 1_000 * UPOKT_PER_POKT
    apps = [{"address": app, "stake_upokt": 100_000 * UPOKT_PER_POKT, "services": sorted(fleet.chains)}]
    apps += [{"address": _addr(f"lab-app-{i}"), "stake_upokt": 100_000 * UPOKT_PER_POKT, "services": sorted(fleet.chains)}
             for i in range(2, LAB_APPS + 1)]
    nodes = []
    for i in range(1, 4):
        address = hashlib.sha256(f"lab-morse-node-{i}".encode()).hexdigest()[:40]
        nodes.append({
            "address": address,
            "public_key": hashlib.sha256(f"lab-morse-pub-{i}".encode()).hexdigest(),
            "chains": ["0021"],
            "tokens_upokt": (15_000 + 2_500 * i) * UPOKT_PER_POKT,
            "jailed": False,
            "status": 2,
            "service_url": f"https://lab-morse-{i}.lab.invalid:443",
            "output_address": address,
        })
        balances[address] = 50 * UPOKT_PER_POKT
    return {
        "chain_id": fleet.pocket.chain_id or "pocket-lab",
        "height": LAB_HEIGHT,
        "block_time": 1,
        "shannon": {
            # Short sessions and windows (1 s blocks: a claim 2-4 s after its session, its proof
            # 4-6 s after, settled at 6 s), every claim worth 1 upokt needing a proof and a missed
            # proof costing 500 POKT: the whole missed proof -> expired -> slash -> alert story
            # runs in seconds (the 63,000 POKT supplier, 7 missed proofs from auto-unstake, a
            # WARNING of stakes, falls below 59,500 after 8 of them).
            "params": {"session": {"num_suppliers_per_session": str(LAB_SUPPLIERS_PER_SESSION)},
                       "shared": {"num_blocks_per_session": 4, "grace_period_end_offset_blocks": 1,
                                  "claim_window_open_offset_blocks": 1, "claim_window_close_offset_blocks": 2,
                                  "proof_window_open_offset_blocks": 0, "proof_window_close_offset_blocks": 2,
                                  "supplier_unbonding_period_sessions": 5},
                       "proof": {"proof_requirement_threshold": 1, "proof_request_probability": 0.25,
                                 "proof_missing_penalty": 500 * UPOKT_PER_POKT}},
            "suppliers": suppliers,
            "applications": apps,
        },
        "morse": {"nodes": nodes},
        "balances": balances,
    }
