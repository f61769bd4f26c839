"""fleetctl.health.heads (the predicted common height) and the batch that carries it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetctl.health import execution as ex
from fleetctl.health.heads import MAX_AGE_S, load_heads, next_entry, predict, save_heads


def test_prediction_from_the_last_height_and_the_block_time() -> None:
    entry = {"t": 1000.0, "h": 500, "bt": 12.0}
    assert predict(entry, 1000.0) == 500
    assert predict(entry, 1011.9) == 500  # no new block before a whole block time
    assert predict(entry, 1060.0) == 505
    assert predict({"t": 1000.0, "h": 500, "bt": None}, 1060.0) == 500  # no block time yet
    assert predict(entry, 999.0) is None  # a clock that went back
    assert predict(entry, 1000.0 + MAX_AGE_S + 1) is None
    assert predict(None, 1000.0) is None


def test_the_block_time_is_measured_between_runs() -> None:
    first = next_entry(None, 1000.0, 500)
    assert first == {"t": 1000.0, "h": 500, "bt": None}
    second = next_entry(first, 1060.0, 505)
    assert second["bt"] == 12.0
    assert next_entry(second, 1070.0, 505)["bt"] == 12.0  # standing still keeps it
    assert next_entry(second, 1120.0, 510)["bt"] == 12.0
    assert next_entry(second, 1090.0, 510)["bt"] == 9.0  # the average with the new measure
    assert next_entry(second, 1100.0, 400)["bt"] is None  # went back: another chain, a reset
    assert next_entry({"t": 0.5, "h": 0, "bt": None}, 10**9, 1)["bt"] == 3600.0  # bounded


def test_files_of_the_wrong_shape_predict_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    assert load_heads(db) == {}
    save_heads(db, {"eth": next_entry(None, 1000.0, 5)})
    assert load_heads(db) == {"eth": {"t": 1000.0, "h": 5, "bt": None}}
    path = db.with_name("state.db.heads.json")
    for junk, kept in [
        ("{", {}), ("[]", {}), ('{"eth": 1}', {}),
        ('{"eth": {"t": 1, "h": 2, "bt": 12}, "gnosis": {"t": 1, "h": 2.5}}', {"eth": {"t": 1.0, "h": 2, "bt": 12.0}}),
        ('{"eth": {"t": 1, "h": true}}', {}), ('{"eth": {"t": NaN, "h": 2}}', {}),
        ('{"eth": {"t": 1, "h": 2, "bt": 0.001}}', {}), ('{"eth": {"t": 1, "h": 2, "bt": 1e9}}', {}),
        ('{"eth": {"t": 1, "h": 9007199254740993}}', {}), ('{"eth": {"t": -1, "h": 2}}', {}),
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
