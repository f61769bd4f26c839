"""`fleetctl claims` against a node that lies: /block_results the parser and the sync must survive.

Hypothesis feeds :func:`fleetctl.pocket.events.parse_block_results` the recorded bodies
(tests/fixtures/events) with one part replaced by arbitrary JSON, and arbitrary JSON outright:
nothing but :class:`EventError` may escape, and a fleet event it returns has in-range values.
Then a stand-in CometBFT node on 127.0.0.1 (tests/integration/comet_events_node.py) serves
truncated events, unknown event types, wrong types, huge numbers, a pruned height gap, a re-org
of the last block, deep JSON and a hanging height to :func:`sync_events` and the real
``fleetctl claims``: one clear line naming endpoint, height and field, no traceback, no hang, no
false OK, no credential of the configured URL anywhere.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import sys
import time
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
    claim_expired,
    event,
    noise_events,
    supplier_slashed,
)
from conftest import run_cli  # noqa: E402
from fleetctl.pocket.base import MAX_HEIGHT, SUPPLY_CEILING_UPOKT  # noqa: E402
from fleetctl.pocket.claims import sync_events  # noqa: E402
from fleetctl.pocket.events import MAX_RELAYS, EventError, parse_block_results  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
ADDR = json.loads((FIXTURES / "addresses.json").read_text())
A, B, APP = ADDR["a"], ADDR["b"], ADDR["app"]
FLEET = frozenset({A, B})
EP = "http://node.test:26657"
BODIES = {1234: json.loads((FIXTURES / "block_results_v0.1.34.json").read_text()),
          99: json.loads((FIXTURES / "block_results_embedded_claim.json").read_text())}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
    | st.text(max_size=30) | st.sampled_from(["1e400", "NaN", "-1", "9" * 60, "5upokt", "\"5\"",
                                              "{}", "[", "\"pokt1\"", "PROOF_MISSING"]),
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


def _assert_plausible(events: list) -> None:
    for e in events:
        assert e.supplier in FLEET
        assert 1 <= e.session_end <= e.height
        for amount in (e.claimed_upokt, e.settled_upokt, e.minted_upokt, e.penalty_upokt, e.stake_after_upokt):
            assert amount is None or 0 <= amount <= SUPPLY_CEILING_UPOKT
        for count in (e.num_relays, e.compute_units):
            assert count is None or 0 <= count <= MAX_RELAYS
        assert e.reason is None or ("\n" not in e.reason and len(e.reason) <= 160)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(height=st.sampled_from(sorted(BODIES)), data=st.data(), value=json_values,
       as_attribute=st.booleans())
def test_parser_one_part_replaced(height, data, value, as_attribute):
    path = data.draw(st.sampled_from(PATHS[height]))
    # attribute values are JSON text: replace them by the JSON of the value half of the time
    if as_attribute and path and path[-1] == "value":
        value = json.dumps(value)
    body = _replace(BODIES[height], path, value)
    try:
        events = parse_block_results(body, height=height, endpoint=EP, suppliers=FLEET)
    except EventError as exc:
        assert str(exc).startswith(f"{EP} height {height}: ") and "\n" not in str(exc)
        return
    _assert_plausible(events)


@settings(max_examples=300, deadline=None)
@given(body=json_values)
def test_parser_arbitrary_json(body):
    try:
        _assert_plausible(parse_block_results(body, height=7, endpoint=EP, suppliers=FLEET))
    except EventError:
        pass


def _fleet_event(**change: str) -> dict:
    ev = claim_created(A, "eth", APP, 90)
    for attr in ev["attributes"]:
        if attr["key"] in change:
            attr["value"] = change[attr["key"]]
    return ev


@pytest.mark.parametrize("change,field", [
    ({"num_relays": '"' + "9" * 60 + '"'}, "num_relays"),
    ({"num_relays": '"1000000000000001"'}, "num_relays"),  # above MAX_RELAYS
    ({"claimed_upokt": '"' + "9" * 30 + 'upokt"'}, "claimed_upokt"),
    ({"claimed_upokt": '"-5upokt"'}, "claimed_upokt"),
    ({"claimed_upokt": '"5uatom"'}, "claimed_upokt"),
    ({"num_relays": '{"a": 1}'}, "num_relays"),
    ({"num_relays": '"1.5"'}, "num_relays"),
    ({"session_end_block_height": '"1000"'}, "session_end_block_height"),  # after the block
    ({"session_end_block_height": '"0"'}, "session_end_block_height"),
    ({"supplier_operator_address": '"' + "[" * 50000 + '"'}, "supplier_operator_address"),
    ({"service_id": '"eth\\nFAKE OK"'}, "service_id"),
    ({"application_address": "[" * 100000}, "application_address"),  # deep JSON
    ({"num_claimed_compute_units": "null"}, "num_claimed_compute_units"),
])
def test_wrong_types_and_huge_numbers_name_the_field(change, field):
    body = block_body(100, [[_fleet_event(**change)]], [])
    with pytest.raises(EventError) as info:
        parse_block_results(body, height=100, endpoint=EP, suppliers=FLEET)
    assert f"EventClaimCreated.{field}" in str(info.value)
    assert len(str(info.value)) <= 200 and "\n" not in str(info.value)


def test_truncated_event_missing_fields():
    ev = claim_created(A, "eth", APP, 90)
    ev["attributes"] = [a for a in ev["attributes"] if a["key"] != "claimed_upokt"]
    with pytest.raises(EventError, match="missing field claimed_upokt"):
        parse_block_results(block_body(100, [[ev]], []), height=100, endpoint=EP, suppliers=FLEET)
    ev["attributes"] = ev["attributes"][:2]  # cut short, supplier gone
    with pytest.raises(EventError, match="supplier_operator_address"):
        parse_block_results(block_body(100, [[ev]], []), height=100, endpoint=EP, suppliers=FLEET)


def test_unknown_types_are_skipped_and_counted():
    body = block_body(100, [[event("pocket.proof.EventFutureThing", {"x": "1"}, {}),
                             {"type": "message", "attributes": None}]],
                      [*noise_events(), event("pocket.tokenomics.EventNew", {"supplier_operator_address": A}, {})])
    counts: dict[str, int] = {}
    assert parse_block_results(body, height=100, endpoint=EP, suppliers=FLEET, counts=counts) == []
    assert counts["skipped"] == 5


@pytest.mark.parametrize("mangle", [
    lambda r: r.update(txs_results={"a": 1}),
    lambda r: r.update(finalize_block_events="x"),
    lambda r: r.update(height="abc"),
    lambda r: r["txs_results"].append({"code": "0", "events": []}),
    lambda r: r["txs_results"].append(["not a tx"]),
    lambda r: r["finalize_block_events"].append({"type": 5}),
])
def test_envelope_wrong_types(mangle):
    body = block_body(100, [[claim_created(A, "eth", APP, 90)]], noise_events())
    mangle(body["result"])
    with pytest.raises(EventError, match=f"^{EP} height 100: "):
        parse_block_results(body, height=100, endpoint=EP, suppliers=FLEET)


def test_parser_is_fast_on_other_suppliers_events():
    others = [claim_created(f"pokt1other{i:04d}", "eth", APP, 90) for i in range(3000)]
    body = json.loads(json.dumps(block_body(100, [others], [])))
    start = time.perf_counter()
    for _ in range(10):
        assert parse_block_results(body, height=100, endpoint=EP, suppliers=FLEET) == []
    assert (time.perf_counter() - start) / 10 < 0.05  # 3,000 events filtered in well under 50 ms


# ----------------------------------------------------------------------------- the sync, over HTTP


def fleet_for(url: str, suppliers=(A, B)) -> SimpleNamespace:
    return SimpleNamespace(pocket=SimpleNamespace(node_rpc_url=url, rest_url=None),
                           suppliers=[SimpleNamespace(name=f"sup-{i}", operator_address=a)
                                      for i, a in enumerate(suppliers)])


@pytest.fixture
def node():
    started: list[CometNode] = []

    def make(latest: int, **kw: Any) -> tuple[CometNode, str]:
        n = CometNode(latest, **kw)
        started.append(n)
        return n, n.start()

    yield make
    for n in started:
        n.stop()


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT height, kind, supplier, claimed_upokt FROM chain_events ORDER BY height, kind").fetchall()


def cursor(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT last_height FROM chain_cursor").fetchone()[0]


def test_height_gap_is_a_note_and_skipped(node, tmp_path):
    n, url = node(60, lowest=41)
    n.put(50, block_body(50, [[claim_created(A, "eth", APP, 45)]], []))
    db = tmp_path / "s.db"
    result = asyncio.run(sync_events(fleet_for(url), db, timeout=2, backfill=40))
    assert not result.errors
    assert result.gaps == ((21, 40),)
    assert any("heights 21-40 not served by the node (pruned): skipped" in n for n in result.notes)
    assert result.cursor == 60 and cursor(db) == 60
    assert rows(db) == [(50, "claim_created", A, 1000)]


def test_truncated_body_is_unknown_and_read_again(node, tmp_path):
    n, url = node(30)
    n.put(20, block_body(20, [[claim_created(A, "eth", APP, 15)]], []))
    n.put(25, block_body(25, [[claim_created(B, "eth", APP, 24)]], []))
    full = n.blocks[20]
    n.raw[20] = full[: len(full) // 2]
    db = tmp_path / "s.db"
    result = asyncio.run(sync_events(fleet_for(url), db, timeout=2))
    assert len(result.errors) == 1 and "height 20" in result.errors[0] and "malformed JSON" in result.errors[0]
    assert result.level.name == "UNKNOWN" and cursor(db) == 19
    assert rows(db) == [(25, "claim_created", B, 1000)]  # later blocks are kept (idempotent)
    del n.raw[20]
    again = asyncio.run(sync_events(fleet_for(url), db, timeout=2))
    assert not again.errors and again.first == 20 and cursor(db) == 30
    assert [r[0] for r in rows(db)] == [20, 25]


def test_reorg_of_the_last_block_is_read_again(node, tmp_path):
    n, url = node(40)
    n.put(40, block_body(40, [[claim_created(A, "eth", APP, 35, claimed=111)]], []))
    db = tmp_path / "s.db"
    asyncio.run(sync_events(fleet_for(url), db, timeout=2))
    assert rows(db) == [(40, "claim_created", A, 111)]
    # block 40 is replaced by another block 40 (other hash, other events), then 41 comes
    n.hashes[40] = "AB" * 32
    n.put(40, block_body(40, [[claim_created(B, "eth", APP, 35, claimed=222)]], []))
    n.latest = 41
    result = asyncio.run(sync_events(fleet_for(url), db, timeout=2))
    assert result.reorg == 40 and result.first == 40 and not result.errors
    assert rows(db) == [(40, "claim_created", B, 222)]
    # and once more: nothing changes (the stored hash is the new one)
    again = asyncio.run(sync_events(fleet_for(url), db, timeout=2))
    assert again.reorg is None and again.stored == 0 and rows(db) == [(40, "claim_created", B, 222)]


def test_hanging_height_ends_the_run_in_bounded_time(node, tmp_path):
    n, url = node(30)
    n.hang.add(12)
    db = tmp_path / "s.db"
    start = time.monotonic()
    result = asyncio.run(sync_events(fleet_for(url), db, timeout=0.3, backfill=30))
    assert time.monotonic() - start < 5
    assert result.errors and "height 12" in result.errors[0]
    assert cursor(db) == 11


def test_hanging_status_is_unknown(node, tmp_path):
    n, url = node(30)
    n.latency = 5
    start = time.monotonic()
    result = asyncio.run(sync_events(fleet_for(url), tmp_path / "s.db", timeout=0.2))
    assert time.monotonic() - start < 4 and result.errors and result.latest is None


def test_status_lies(node, tmp_path):
    n, url = node(30)
    for raw in (b'{"result":{"sync_info":{"latest_block_height":"' + b"9" * 50 + b'"}}}',
                b'{"result":{"sync_info":{"latest_block_height":-3}}}', b'[' * 100000, b'{"result": 5}'):
        n.status_raw = raw
        result = asyncio.run(sync_events(fleet_for(url), tmp_path / "s.db", timeout=0.5))
        assert result.errors and result.latest is None and "\n" not in result.errors[0]
    assert MAX_HEIGHT  # heights above it are refused by parse_height


def _inventory(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (root / "fleet.yml").write_text(
        f"protocol: shannon\npocket: {{rest_url: 'http://127.0.0.1:9', node_rpc_url: '{url}'}}\n"
        "chains:\n  eth: {clients: [geth], replicas: 1}\n"
        f"suppliers:\n  - {{name: sup-a, operator_address: '{A}', services: [eth]}}\n")
    return root


def test_cli_malformed_event_with_secret_url(node, tmp_path):
    n, url = node(30)
    bad = claim_created(A, "eth", APP, 25)
    for attr in bad["attributes"]:
        if attr["key"] == "num_relays":
            attr["value"] = '"lots"'
    n.put(26, block_body(26, [[bad]], []))
    secret_url = url.replace("http://", "http://operator:hunter2secret@") + "/?token=sekrit-token-123"
    inventory = _inventory(tmp_path / "inv", secret_url)
    env = {"FLEETCTL_STATE_DIR": str(tmp_path / "state")}
    for args in ([], ["--nagios"], ["-o", "json"]):
        proc = run_cli("-i", str(inventory), "claims", "--timeout", "1", *args, env=env, timeout=60)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 3, output
        assert "Traceback" not in output
        assert "hunter2secret" not in output and "sekrit-token-123" not in output
        assert "height 26" in output and "num_relays" in output
    assert b"hunter2secret" not in (tmp_path / "state" / "fleetctl.db").read_bytes()
    assert b"sekrit-token-123" not in (tmp_path / "state" / "fleetctl.db").read_bytes()


def test_cli_node_unreachable_is_unknown(tmp_path):
    inventory = _inventory(tmp_path / "inv", "http://127.0.0.1:9")
    proc = run_cli("-i", str(inventory), "claims", "--nagios", "--timeout", "0.3",
                   env={"FLEETCTL_STATE_DIR": str(tmp_path / "state")}, timeout=60)
    assert proc.returncode == 3 and proc.stdout.startswith("CLAIMS UNKNOWN - ")
    assert len(proc.stdout.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_slash_of_the_fleet_in_lying_block_still_critical(node, tmp_path):
    """One bad block (UNKNOWN) never hides a slash read from a good one (CRITICAL wins)."""
    n, url = node(30)
    n.put(20, block_body(20, [], [claim_expired(A, "eth", APP, 10), supplier_slashed(A, "eth", APP, 10, 5, 10)]))
    n.raw[25] = b'{"result": {"height": "25", "txs_results": 7}}'
    inventory = _inventory(tmp_path / "inv", url)
    proc = run_cli("-i", str(inventory), "claims", "--nagios", "--timeout", "1",
                   env={"FLEETCTL_STATE_DIR": str(tmp_path / "state")}, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith("CLAIMS CRITICAL - ")


def test_old_events_are_pruned_so_the_store_does_not_grow_forever(node, tmp_path):
    from fleetctl.pocket import claims as claims_module

    n, url = node(5000, block_time_s=30.0)  # 30 s blocks: 2,880 a day
    n.put(10, block_body(10, [[claim_created(A, "eth", APP, 5)]], []))
    n.put(4990, block_body(4990, [[claim_created(A, "eth", APP, 4985)]], []))
    db = tmp_path / "s.db"
    asyncio.run(sync_events(fleet_for(url), db, timeout=5, backfill=5000))
    assert [r[0] for r in rows(db)] == [10, 4990]
    old = claims_module.RETENTION_DAYS
    claims_module.RETENTION_DAYS = 1  # keep 2,880 blocks
    try:
        n.latest = 5001
        asyncio.run(sync_events(fleet_for(url), db, timeout=5))
    finally:
        claims_module.RETENTION_DAYS = old
    assert [r[0] for r in rows(db)] == [4990]
