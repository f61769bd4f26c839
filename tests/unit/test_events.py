"""fleetctl.pocket.events on recorded event shapes (tests/fixtures/events, both poktroll shapes)
and the window arithmetic of poktroll x/shared/types/session.go."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from fleetctl.pocket.events import ChainEvent, ClaimParams, EventError, parse_block_results, parse_coin
from fleetctl.pocket.http import QueryError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
ADDR = json.loads((FIXTURES / "addresses.json").read_text())
A, B, OTHER, APP = ADDR["a"], ADDR["b"], ADDR["other"], ADDR["app"]
FLEET = frozenset({A, B})
EP = "http://node.test:26657"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_newest_shape_every_kind_of_the_fleet_only():
    counts: dict[str, int] = {}
    events = parse_block_results(load("block_results_v0.1.34.json"), height=1234, endpoint=EP,
                                 suppliers=FLEET, counts=counts)
    kinds = [e.kind for e in events]
    assert kinds == ["claim_created", "claim_updated", "proof_submitted", "claim_settled",
                     "claim_expired", "supplier_slashed", "claim_discarded"]
    created, updated, proof, settled, expired, slashed, discarded = events
    assert created == ChainEvent(1234, "claim_created", A, "anvil", APP, 1220, num_relays=1500,
                                 compute_units=1500, claimed_upokt=6000)
    assert updated.num_relays == 1600 and updated.claimed_upokt == 6400
    assert proof.supplier == B and proof.compute_units == 1400 and proof.claimed_upokt == 2800
    assert (settled.settled_upokt, settled.minted_upokt, settled.claimed_upokt) == (3000, 3000, 3600)
    assert settled.proof_requirement == "THRESHOLD"
    assert expired.reason == "PROOF_MISSING" and expired.claimed_upokt == 200
    assert (slashed.penalty_upokt, slashed.stake_after_upokt) == (1_000_000, 59_499_000_000)
    assert slashed.session_end == 1190 and slashed.service == "anvil"
    assert discarded.reason == "the claim's session header does not match"
    # another supplier's two events are left out, unread; bank and batch events are skipped
    assert counts["other"] == 2 and counts["skipped"] == 2 and counts["failed_txs"] == 1


def test_older_embedded_claim_shape():
    events = parse_block_results(load("block_results_embedded_claim.json"), height=99, endpoint=EP,
                                 suppliers=FLEET)
    assert [e.kind for e in events] == ["claim_created", "proof_submitted", "claim_settled",
                                        "claim_expired", "supplier_slashed"]
    created, _, settled, expired, slashed = events
    assert (created.supplier, created.service, created.application, created.session_end) == (A, "anvil", APP, 80)
    assert created.claimed_upokt == 1200 and created.compute_units == 600
    assert settled.proof_requirement == "THRESHOLD" and settled.settled_upokt is None
    assert expired.reason == "PROOF_INVALID" and expired.claimed_upokt == 20
    assert slashed.penalty_upokt == 1000 and slashed.stake_after_upokt is None


def test_every_supplier_when_no_filter():
    events = parse_block_results(load("block_results_v0.1.34.json"), height=1234, endpoint=EP,
                                 suppliers=None)
    assert sum(1 for e in events if e.supplier == OTHER) == 2


def test_result_without_envelope_and_empty_block():
    body = load("block_results_v0.1.34.json")["result"]
    assert len(parse_block_results(body, height=1234, endpoint=EP, suppliers=FLEET)) == 7
    empty = {"height": "5", "txs_results": None, "finalize_block_events": None}
    assert parse_block_results(empty, height=5, endpoint=EP, suppliers=FLEET) == []


def test_error_names_endpoint_height_and_field():
    body = load("block_results_v0.1.34.json")
    attrs = body["result"]["finalize_block_events"][0]["attributes"]
    for attr in attrs:
        if attr["key"] == "settled_upokt":
            attr["value"] = '"12"'
    with pytest.raises(EventError) as info:
        parse_block_results(body, height=1234, endpoint=EP, suppliers=FLEET)
    text = str(info.value)
    assert text.startswith(f"{EP} height 1234: finalize_block_events[0] pocket.tokenomics.EventClaimSettled.settled_upokt:")
    assert "\n" not in text


def test_answer_for_another_height_is_refused():
    with pytest.raises(EventError, match="answered for height 1234"):
        parse_block_results(load("block_results_v0.1.34.json"), height=1235, endpoint=EP, suppliers=FLEET)


def test_enum_by_number_and_coin_forms():
    assert parse_coin("0upokt", "x") == 0
    assert parse_coin({"denom": "upokt", "amount": "7"}, "x") == 7
    for bad in ("7", "7 upokt", "-7upokt", "7uatom", {"denom": "uatom", "amount": "7"}, 7, None):
        with pytest.raises(QueryError):
            parse_coin(bad, "x")


def test_proof_window_follows_poktroll_session_go():
    # x/shared/types/session.go: claim open = E + open_offset + 1; claim close = open + close_offset;
    # proof open = claim close + proof_open_offset; proof close = proof open + proof_close_offset.
    params = ClaimParams(num_blocks_per_session=10, claim_window_open_offset_blocks=1,
                         claim_window_close_offset_blocks=4, proof_window_open_offset_blocks=0,
                         proof_window_close_offset_blocks=4, proof_request_probability=Fraction(1, 4))
    assert params.proof_window(100) == (106, 110)
    # settled/expired in the end-block of the proof close height (blockHeight > E + sum of offsets)
    assert params.settlement_height(100) == 110 == 100 + (1 + 4 + 0 + 4) + 1
    assert ClaimParams().proof_window(100) is None
