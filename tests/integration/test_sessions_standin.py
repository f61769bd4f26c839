"""Cross-check of fleetctl/pocket/sessions.py against the Pocket stand-in on 127.0.0.1.

The stand-in (lab/fleetlab/standin/, ``ChainState.query_session``) implements the
Shannon session hydrator on its own; ``GET /pokt-network/poktroll/session/get_session`` must
give the session id and the suppliers, in order, that :func:`shannon_session_id` and
:func:`shannon_session_suppliers` compute from the same inputs: the lab chain's block hash at
the session start (``lab_block_hash``), the service, the application, the start height, and
the candidates in the order Go's store iterates them (activation height, then operator
address: ``x/supplier/types/keys.go`` ``ServiceConfigUpdateKey``), derived here from the seed.
Then a what-if is built from the stand-in's N (suppliers staked for the service) and K
(``num_suppliers_per_session``).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from fleetlab.standin import PocketStandin, lab_address, lab_block_hash
from fleetctl.plan.sessions_sim import pick, what_if
from fleetctl.pocket.sessions import (
    ShannonRewardParams,
    p_at_least_one,
    shannon_session_id,
    shannon_session_start_height,
    shannon_session_suppliers,
)

BLOCKS_PER_SESSION = 10
K = 5
HEIGHT = 2_000
APPS = [lab_address(f"sessions-app-{i}") for i in range(3)]
# eth: 10 suppliers from height 1, 4 more from 700 (so N < 2K before, N > 2K after);
# anvil: 4 suppliers (fewer than K) activated at 10, 10, 50, 300: all taken, in store order.
ETH = {lab_address(f"sessions-eth-{i}"): (1 if i < 10 else 700) for i in range(14)}
ANVIL = {lab_address(f"sessions-anvil-{i}"): h for i, h in enumerate((50, 10, 300, 10))}
OURS = [address for i, address in enumerate(ETH) if i in (2, 7, 11)]


def seed() -> dict[str, Any]:
    suppliers = []
    for service, table in (("eth", ETH), ("anvil", ANVIL)):
        for address, activation in table.items():
            suppliers.append({"operator_address": address, "owner_address": address,
                              "services": [service], "activation_height": activation})
    return {
        "chain_id": "pocket-lab-sessions",
        "height": HEIGHT,
        "shannon": {
            "params": {"session": {"num_suppliers_per_session": K},
                       "shared": {"num_blocks_per_session": BLOCKS_PER_SESSION}},
            "suppliers": suppliers,
            "applications": [{"address": a, "services": ["eth", "anvil"]} for a in APPS],
        },
    }


@pytest.fixture(scope="module")
def standin() -> Iterator[PocketStandin]:
    with PocketStandin(seed()) as server:
        yield server


def get(standin: PocketStandin, path: str, query: dict[str, Any] | None = None
        ) -> tuple[int, Any]:
    parts = urlsplit(standin.shannon_url)
    assert parts.hostname == "127.0.0.1"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path + ("?" + urlencode(query) if query else ""))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def store_order(table: dict[str, int], height: int) -> list[str]:
    """Candidates active at ``height`` as Go's iterator yields them."""
    return [address for activation, address in
            sorted((activation, address) for address, activation in table.items())
            if activation <= height]


HEIGHTS = [1, 9, 10, 11, 55, 299, 305, 699, 700, 701, 1234, 1999, 2000]


@pytest.mark.parametrize("service,table", [("eth", ETH), ("anvil", ANVIL)])
def test_sessions_match_the_standin(standin: PocketStandin, service: str,
                                    table: dict[str, int]) -> None:
    compared = reordered = 0
    for app in APPS:
        for height in HEIGHTS:
            status, body = get(standin, "/pokt-network/poktroll/session/get_session",
                               {"application_address": app, "service_id": service,
                                "block_height": height})
            start = shannon_session_start_height(height, BLOCKS_PER_SESSION)
            candidates = store_order(table, height)
            block_hash = lab_block_hash(start)
            if not candidates:
                assert status == 500 and "no suppliers" in body["message"], body
                with pytest.raises(ValueError, match="no suppliers"):
                    shannon_session_suppliers(block_hash, service, app, start, candidates, K)
                continue
            assert status == 200, body
            session = body["session"]
            header = session["header"]
            assert int(header["session_start_block_height"]) == start
            assert header["session_id"] == shannon_session_id(block_hash, service, app, start)
            got = [s["operator_address"] for s in session["suppliers"]]
            want = shannon_session_suppliers(block_hash, service, app, start, candidates, K)
            assert got == want, (app, service, height)
            compared += 1
            reordered += want != candidates[:K]
    assert compared >= 2 * len(APPS)
    # eth's sessions are drawn by weight (so the comparison means something); anvil's 4
    # candidates (fewer than K) come back in store order
    assert (reordered > 0) == (service == "eth")


def test_ours_share_over_many_sessions_matches_the_standin(standin: PocketStandin) -> None:
    """Over every session of the chain's last 1,300 blocks (130 session starts x 3 apps) the
    stand-in and this module agree on which sessions include one of ours."""
    ours = set(OURS)
    mine = theirs = 0
    for app in APPS:
        for height in range(701, HEIGHT + 1, BLOCKS_PER_SESSION):
            _, body = get(standin, "/pokt-network/poktroll/session/get_session",
                          {"application_address": app, "service_id": "eth",
                           "block_height": height})
            theirs += not ours.isdisjoint(s["operator_address"]
                                          for s in body["session"]["suppliers"])
            mine += not ours.isdisjoint(shannon_session_suppliers(
                lab_block_hash(height), "eth", app, height, store_order(ETH, height), K))
    assert mine == theirs
    # and the share is in the range the formula gives (14 candidates, 5 drawn, 3 ours)
    assert abs(mine / (3 * 130) - p_at_least_one(14, 5, 3)) < 0.15


def test_what_if_from_the_standins_n_and_k(standin: PocketStandin) -> None:
    status, params = get(standin, "/pokt-network/poktroll/session/params")
    assert status == 200
    chain_k = int(params["params"]["num_suppliers_per_session"])
    status, listing = get(standin, "/pokt-network/poktroll/supplier/supplier",
                          {"service_id": "eth", "pagination.limit": 1000})
    assert status == 200
    chain_n = len(listing["supplier"])
    assert (chain_n, chain_k) == (len(ETH), K)
    current = sum(s["operator_address"] in OURS for s in listing["supplier"])
    w = what_if(protocol="shannon", service="eth", N=chain_n, K=chain_k, current=current,
                extra=10, apps=len(APPS), relays_per_session=1_000,
                blocks_per_session=BLOCKS_PER_SESSION)
    doc = w.as_dict()
    assert (doc["N"], doc["K"], doc["current"]) == (14, 5, 3)
    assert doc["rows"][0]["p_session"] == p_at_least_one(14, 5, 3)
    assert doc["rows"][-1]["N"] == 24
    assert pick(w, target_share=0.9) == min(r["m"] for r in doc["rows"]
                                            if r["p_session"] >= 0.9)


def test_reward_params_from_the_standins_params(standin: PocketStandin) -> None:
    """The stand-in serves mainnet's shared and tokenomics params: read as the chain reads
    them they are this module's defaults (145990 / 1e6 upokt per compute unit, mint_ratio
    0.975, supplier 0.79 of the relay burn and 0.8 of the global mint)."""
    _, shared = get(standin, "/pokt-network/poktroll/shared/params")
    _, tokenomics = get(standin, "/pokt-network/poktroll/tokenomics/params")
    params = ShannonRewardParams.from_params(shared["params"], tokenomics["params"])
    assert params == ShannonRewardParams()
