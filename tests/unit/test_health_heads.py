"""fleetctl.health.heads (the predicted common height) and the batch that carries it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetctl.health import execution as ex
from fleetctl.health.heads import MAX_AGE_S, VISIBLE_AFTER_S, load_heads, next_entry, predict, save_heads


def test_prediction_from_the_compared_block_and_the_block_time() -> None:
    # block 500 (compared 2 below the head) has timestamp 1000; a block every 12 s
    entry = {"h": 500, "ts": 1000, "bt": 12.0}
    # the last sweep saw head 502 (timestamp 1024): the same until block 503 (1036) is seen
    assert predict(entry, 1024.5, 2) == 500
    assert predict(entry, 1036.0 + VISIBLE_AFTER_S - 0.01, 2) == 500
    assert predict(entry, 1036.0 + VISIBLE_AFTER_S, 2) == 501
    assert predict(entry, 1024.0 + 60 + VISIBLE_AFTER_S, 2) == 505  # a cron minute later: 5 blocks
    assert predict(entry, 900.0, 2) == 500  # never below the last one
    assert predict({"h": 500, "ts": 1000, "bt": None}, 1060.0, 2) == 500  # no block time yet
    assert predict(entry, 1000.0 + MAX_AGE_S + 1, 2) is None
    assert predict(entry, 1000.0 - MAX_AGE_S - 1, 2) is None
    assert predict(None, 1000.0, 2) is None


def test_the_block_time_comes_from_the_blocks_timestamps() -> None:
    first = next_entry(None, 500, 1000)
    assert first == {"h": 500, "ts": 1000, "bt": None}
    second = next_entry(first, 505, 1060)
    assert second["bt"] == 12.0
    assert next_entry(second, 505, 1060)["bt"] == 12.0  # standing still keeps it
    assert next_entry(second, 507, 1090)["bt"] == 15.0  # the chain's own time, whatever the runs'
    assert next_entry(second, 400, 1100)["bt"] is None  # went back: another chain, a reset
    assert next_entry(second, 506, 1000)["bt"] is None
    assert next_entry({"h": 0, "ts": 1, "bt": None}, 1, 10**9)["bt"] == 3600.0  # bounded


def test_files_of_the_wrong_shape_predict_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    assert load_heads(db) == {}
    save_heads(db, {"eth": next_entry(None, 5, 1000)})
    assert load_heads(db) == {"eth": {"h": 5, "ts": 1000, "bt": None}}
    path = db.with_name("state.db.heads.json")
    for junk, kept in [
        ("{", {}), ("[]", {}), ('{"eth": 1}', {}),
        ('{"eth": {"ts": 1, "h": 2, "bt": 12}, "gnosis": {"ts": 1, "h": 2.5}}', {"eth": {"ts": 1, "h": 2, "bt": 12.0}}),
        ('{"eth": {"ts": 1, "h": true}}', {}), ('{"eth": {"ts": NaN, "h": 2}}', {}),
        ('{"eth": {"ts": 1, "h": 2, "bt": 0.001}}', {}), ('{"eth": {"ts": 1, "h": 2, "bt": 1e9}}', {}),
        ('{"eth": {"ts": 1, "h": 9007199254740993}}', {}), ('{"eth": {"ts": -1, "h": 2}}', {}),
        ('{"eth": {"ts": 1e12, "h": 2}}', {}), ('{"eth": {"h": 2}}', {}),
    ]:
        path.write_text(junk)
        assert load_heads(db) == kept, junk
    path.write_bytes(b" " * (2 << 20))
    assert load_heads(db) == {}


def test_the_batch_carries_the_predicted_block() -> None:
    assert ex._batch_body(None) == ex._BATCH_BODY
    calls = json.loads(ex._batch_body(48))
    assert [c["method"] for c in calls] == [*ex.BATCH, "eth_getBlockByNumber"]
    assert calls[-1]["params"] == ["0x30", False] and calls[-1]["id"] == len(ex.BATCH)


def probe(answer: object, spec: int | None = 48) -> ex.ExecProbe:
    p = ex.ExecProbe(ex.ExecTarget("e", "eth", "http://127.0.0.1:1", "geth"))
    p.spec_height, p.spec_answer = spec, answer
    return p


HASH = "0x" + "ab" * 32


@pytest.mark.parametrize(("answer", "spec", "taken"), [
    ({"id": 4, "result": {"number": "0x30", "hash": HASH}}, 48, True),
    ({"id": 4, "result": {"number": "0x30", "hash": HASH}}, 47, False),  # another height predicted
    ({"id": 4, "result": {"number": "0x31", "hash": HASH}}, 48, False),  # asked again, judged then
    ({"id": 4, "result": {"number": "0x30", "hash": "0x12"}}, 48, False),
    ({"id": 4, "result": None}, 48, False),  # not there yet when asked: asked again
    ({"id": 4, "error": {"code": -32000, "message": "x"}}, 48, False),
    ({"id": 4, "error": {"code": -32000}, "result": {"number": "0x30", "hash": HASH}}, 48, False),
    ("garbage", 48, False),
    (None, None, False),
])
def test_a_predicted_block_is_taken_only_when_it_is_the_block_asked(answer: object, spec: int | None,
                                                                    taken: bool) -> None:
    p = probe(answer, spec)
    assert ex.take_predicted_hash(p, 48) is taken
    assert (p.block_hash, p.hash_height) == ((HASH, 48) if taken else (None, None))
    assert p.block_time is None  # these blocks carry no timestamp


@pytest.mark.parametrize(("stamp", "kept"), [("0x5f5e1000", 0x5f5e1000), ("0x0", None), ("12", None), (None, None),
                                             ("0x" + "f" * 16, None)])
def test_a_block_timestamp_is_kept_only_when_plausible(stamp: object, kept: int | None) -> None:
    p = probe({"id": 4, "result": {"number": "0x30", "hash": HASH, "timestamp": stamp}})
    assert ex.take_predicted_hash(p, 48) and p.block_time == kept
