"""`fleetctl claims` reading blocks in JSON-RPC batches, through the fast decoder, against a node
that lies: whatever the batch path accepts, the block-by-block reference path reads the same.

* The fast path (:func:`fleetctl.pocket.events.decode_answers` + :func:`parse_answer`, msgspec's
  typed decoder when installed) against the reference (:func:`parse_block_results` on the
  plain JSON) on the recorded bodies with one part replaced by arbitrary JSON (hypothesis): the
  same events, or the fast path gives up (``Unusable``: the block is read again by the
  reference path), never other events and never an event the reference refuses.
* :func:`sync_events` with batches against the same run block by block on a stand-in CometBFT
  node (tests/integration/comet_events_node.py, POST / batches as CometBFT v0.38 answers them):
  the same rows, cursor and one-line errors for a malformed fleet event, a pruned gap and a
  truncated body; a node that refuses batches, answers them with ids swapped, duplicated or
  missing, with garbage, or hangs: every block still read (or named) in bounded time.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from comet_events_node import (  # noqa: E402
    CometNode,
    block_body,
    claim_created,
    claim_settled,
    noise_events,
    supplier_slashed,
)
from fleetctl.pocket.claims import sync_events  # noqa: E402
from fleetctl.pocket.events import (  # noqa: E402
    EventError,
    Unusable,
    decode_answers,
    parse_answer,
    parse_block_results,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
ADDR = json.loads((FIXTURES / "addresses.json").read_text())
A, B, APP = ADDR["a"], ADDR["b"], ADDR["app"]
OTHER = "pokt1" + "q" * 38
FLEET = frozenset({A, B})
EP = "http://node.test:26657"
BODIES = {1234: json.loads((FIXTURES / "block_results_v0.1.34.json").read_text()),
          99: json.loads((FIXTURES / "block_results_embedded_claim.json").read_text())}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.sampled_from(["1e400", "-1", "9" * 60, "5upokt", "\"5\"", "{}", "[", "\"pokt1\"",
                       "PROOF_MISSING", A, json.dumps(A)]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            found += _paths(value, prefix + (index,))
    return found


PATHS = {h: _paths(b) for h, b in BODIES.items()}


def _replace(body: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def _reference(raw: bytes, height: int) -> tuple[str, Any]:
    counts: dict[str, int] = {}
    try:
        body = json.loads(raw, parse_float=Decimal)
        return "events", (parse_block_results(body, height=height, endpoint=EP, suppliers=FLEET,
                                              counts=counts), counts)
    except EventError as exc:
        return "error", str(exc)


def _fast(answer: Any, height: int) -> tuple[str, Any]:
    counts: dict[str, int] = {}
    try:
        return "events", (parse_answer(answer, height=height, endpoint=EP, suppliers=FLEET,
                                       counts=counts), counts)
    except Unusable:
        return "unusable", None
    except EventError as exc:
        return "error", str(exc)


def _agree(raw: bytes, height: int, answer: Any) -> None:
    fast, reference = _fast(answer, height), _reference(raw, height)
    if fast[0] != "unusable":
        assert fast == reference


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(height=st.sampled_from(sorted(BODIES)), data=st.data(), value=json_values,
       as_attribute=st.booleans())
def test_fast_path_reads_what_the_reference_reads(height, data, value, as_attribute):
    path = data.draw(st.sampled_from(PATHS[height]))
    if as_attribute and path and path[-1] == "value":
        value = json.dumps(value)
    raw = json.dumps(_replace(BODIES[height], path, value)).encode()
    try:
        [answer] = decode_answers(raw, batch=False)
    except Unusable:
        with pytest.raises(ValueError):
            json.loads(raw)
        return
    _agree(raw, height, answer)
    # the same answer inside a batch, beside an untouched one
    batch = decode_answers(b"[" + raw + b"," + json.dumps(BODIES[height]).encode() + b"]", batch=True)
    assert len(batch) == 2
    _agree(raw, height, batch[0])


def _claim_events() -> list[tuple[int, dict[str, Any]]]:
    found = []
    for height, body in BODIES.items():
        result = body["result"]
        groups = [tx["events"] for tx in result.get("txs_results") or []]
        groups.append(result.get("finalize_block_events") or [])
        for events in groups:
            for e in events:
                attrs = {a["key"]: a["value"] for a in e["attributes"]}
                if "supplier_operator_address" in attrs and "num_relays" in attrs:
                    found.append((height, e))
    return found


CLAIM_EVENTS = _claim_events()
tricky = st.one_of(
    st.text(max_size=20).map(lambda t: f'"{t}"'),
    st.text(alphabet='0123456789upokt"\\ -.e+', max_size=22),
    st.from_regex(r'"[0-9]{0,20}(upokt)?"', fullmatch=True),
    st.sampled_from(["0", "1", "2", "3", "01", '"0"', '"PROOF_MISSING"', '"PROOF_INVALID"',
                     '"EXPIRATION_REASON_UNSPECIFIED"', '"\\u0030"', '"１２"', '"12upokt"', None]))


@settings(max_examples=500, deadline=None)
@given(data=st.data(), value=tricky)
def test_quick_reads_what_the_full_reader_reads(data, value):
    """The one-pass reader of the common claim events gives the reference's event or gives up."""
    from fleetctl.pocket.events import TYPES, _Bad, _event, _quick

    height, event = data.draw(st.sampled_from(CLAIM_EVENTS))
    attrs = {a["key"]: a["value"] for a in event["attributes"]}
    attrs[data.draw(st.sampled_from(sorted(attrs)))] = value
    kind = TYPES[event["type"]]
    supplier = A  # read by _identity before either: passed through as it is
    quick = _quick(kind, attrs, supplier, height)
    if quick is not None:
        assert quick == _event(kind, attrs, supplier, None, height, "here")
    else:
        try:
            _event(kind, attrs, supplier, None, height, "here")
        except _Bad:
            pass


def test_quick_reads_the_recorded_claims():
    from fleetctl.pocket.events import TYPES, _event, _quick

    assert len(CLAIM_EVENTS) >= 3
    for height, event in CLAIM_EVENTS:
        attrs = {a["key"]: a["value"] for a in event["attributes"]}
        supplier = json.loads(attrs["supplier_operator_address"])
        kind = TYPES[event["type"]]
        assert _quick(kind, attrs, supplier, height) == _event(kind, attrs, supplier, None, height, "h")
        assert _quick(kind, attrs, supplier, height) is not None


def test_fast_path_reads_the_recorded_bodies():
    for height, body in BODIES.items():
        raw = json.dumps(body).encode()
        [answer] = decode_answers(raw, batch=False)
        fast = _fast(answer, height)
        assert fast[0] == "events" and fast[1][0] and fast == _reference(raw, height)


@pytest.mark.parametrize("raw", [b"", b"[", b"{", b"null", b"\xff", b"[" * 100_000, b'{"result": 1} x'])
def test_decode_refuses_what_is_not_json(raw):
    for batch in (False, True):
        try:
            answers = decode_answers(raw, batch=batch)
        except Unusable:
            continue
        assert not batch and answers == [None]


# ----------------------------------------------------------------------------- over HTTP


def fleet_for(url: str) -> SimpleNamespace:
    return SimpleNamespace(pocket=SimpleNamespace(node_rpc_url=url, rest_url=None),
                           suppliers=[SimpleNamespace(name=f"sup-{i}", operator_address=a)
                                      for i, a in enumerate((A, B))])


@pytest.fixture
def node():
    started: list[CometNode] = []

    def make(latest: int, **kw: Any) -> tuple[CometNode, str]:
        n = CometNode(latest, **kw)
        for h in range(5, latest + 1, 5):  # a fleet claim, another's claim, a settlement
            n.put(h, block_body(h, [[claim_created(A, "eth", APP, h - 2, claimed=h)],
                                    [claim_created(OTHER, "eth", APP, h - 2)]],
                                noise_events() + [claim_settled(B, "eth", APP, h - 3, claimed=h)]))
        started.append(n)
        return n, n.start()

    yield make
    for n in started:
        n.stop()


def _posts(n: CometNode) -> list[bytes]:
    """Count the POSTs (batches) the node answers."""
    seen: list[bytes] = []
    answer = n.answer_post

    def counting(path: str, body: bytes) -> tuple[int, bytes, list[int]]:
        seen.append(body)
        return answer(path, body)

    n.answer_post = counting  # type: ignore[method-assign]
    return seen


def _state(db: Path) -> tuple[list[tuple], int]:
    with sqlite3.connect(db) as conn:
        return (conn.execute("SELECT * FROM chain_events ORDER BY height, kind, supplier").fetchall(),
                conn.execute("SELECT last_height FROM chain_cursor").fetchone()[0])


def _both(url: str, tmp_path: Path, **kw: Any) -> tuple[Any, Any]:
    """The same sync in batches (64 blocks in flight) and block by block."""
    batched = asyncio.run(sync_events(fleet_for(url), tmp_path / "batch.db", concurrency=64, **kw))
    single = asyncio.run(sync_events(fleet_for(url), tmp_path / "single.db", concurrency=1, **kw))
    return batched, single


def _same(batched: Any, single: Any, tmp_path: Path) -> None:
    for name in ("errors", "cursor", "blocks_read", "events_seen", "skipped_types", "fleet_events",
                 "stored", "gaps", "notes"):
        assert getattr(batched, name) == getattr(single, name), name
    if (tmp_path / "single.db").exists():
        assert _state(tmp_path / "batch.db") == _state(tmp_path / "single.db")


def test_batches_read_what_block_by_block_reads(node, tmp_path):
    n, url = node(60, lowest=11)
    n.put(33, block_body(33, [[claim_created(A, "eth", APP, 31, relays=7)]], [
        supplier_slashed(B, "eth", APP, 20, 1_000, 5_000)]))
    posts = _posts(n)
    batched, single = _both(url, tmp_path, backfill=55, timeout=2)
    assert not batched.errors and batched.blocks_read == 50 and batched.gaps == ((6, 10),)
    assert batched.stored == 2 * 10 + 2
    _same(batched, single, tmp_path)
    assert 5 <= len(posts) <= 6  # 50 blocks in batches of 10 (the pruned heights' batch too)


@pytest.mark.parametrize("bad", [
    {"num_relays": json.dumps("12x")},
    {"claimed_upokt": json.dumps("1e99upokt")},
    {"supplier_operator_address": json.dumps("POKT1 bad")},
    {"session_end_block_height": json.dumps("999")},
])
def test_malformed_fleet_event_in_a_batch_is_named_as_block_by_block(node, tmp_path, bad):
    n, url = node(40)
    event = claim_created(A, "eth", APP, 31)
    for attr in event["attributes"]:
        if attr["key"] in bad:
            attr["value"] = bad[attr["key"]]
    n.put(33, block_body(33, [[event]], []))
    batched, single = _both(url, tmp_path, backfill=40, timeout=2)
    assert len(batched.errors) == 1 and "height 33" in batched.errors[0]
    _same(batched, single, tmp_path)


def test_truncated_body_in_a_batch(node, tmp_path):
    n, url = node(40)
    n.raw[22] = n.blocks[20][:100]
    batched, single = _both(url, tmp_path, backfill=40, timeout=2)
    assert len(batched.errors) == 1 and "height 22" in batched.errors[0] and "malformed JSON" in batched.errors[0]
    _same(batched, single, tmp_path)


@pytest.mark.parametrize("lie", ["refuse", "swap", "duplicate", "missing", "garbage", "object", "others"])
def test_batch_answers_that_lie_are_read_again(node, tmp_path, lie):
    n, url = node(40)
    answer = n.answer_post

    def lying(path: str, body: bytes) -> tuple[int, bytes, list[int]]:
        status, raw, heights = answer(path, body)
        if lie == "refuse":
            return 405, b"405 method not allowed\n", heights
        if lie == "garbage":
            return 200, b"[" + raw[:-3], heights
        if lie == "object":
            return 200, b'{"jsonrpc":"2.0","id":-1,"error":{"code":-32600,"message":"Invalid Request",' \
                        b'"data":"batch request exceeds maximum (10) allowed number of requests"}}', heights
        answers = json.loads(raw)
        if lie == "swap":  # each answer under the next call's id: the heights inside disagree
            ids = [a["id"] for a in answers]
            for a, i in zip(answers, ids[1:] + ids[:1]):
                a["id"] = i
        elif lie == "duplicate":
            answers = answers[:1] * len(answers)
        elif lie == "missing":
            answers = answers[::2]
        elif lie == "others":  # every answer the fleet-free block 1, under the asked ids
            for a in answers:
                a["result"] = json.loads(n.answer("/block_results", {"height": ["1"]})[1])["result"]
        return 200, json.dumps(answers).encode(), heights

    n.answer_post = lying  # type: ignore[method-assign]
    batched, single = _both(url, tmp_path, backfill=40, timeout=2)
    assert not batched.errors and batched.blocks_read == 40 and batched.stored == 16
    _same(batched, single, tmp_path)


def test_hanging_batch_ends_in_bounded_time(node, tmp_path):
    n, url = node(30)
    n.hang.add(12)
    start = time.monotonic()
    result = asyncio.run(sync_events(fleet_for(url), tmp_path / "s.db", timeout=0.3, backfill=30))
    assert time.monotonic() - start < 5
    assert result.errors and "height 12" in result.errors[0]
    assert _state(tmp_path / "s.db")[1] == 11


def test_credentials_of_the_node_url_are_sent_and_never_shown(node, tmp_path):
    n, url = node(20)
    n.raw[15] = b'{"jsonrpc":"2.0","id":-1,"result":{"height":"15","txs_results":7}}'
    secret = url.replace("http://", "http://user:hunter2@") + "/?token=sekrit"
    result = asyncio.run(sync_events(fleet_for(secret), tmp_path / "s.db", backfill=20, timeout=2))
    assert result.errors and "height 15" in result.errors[0]
    text = json.dumps(result.as_dict())
    assert "hunter2" not in text and "sekrit" not in text
