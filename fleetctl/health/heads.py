"""Where each chain's common height will be: what lets step 2 of the execution probe (the block
hash at the chain's common height, :mod:`fleetctl.health.execution`) ride in step 1's batch.

After every sweep that records state, ``<state db>.heads.json`` keeps, per chain, the height
the sweep compared hashes at, that block's timestamp, and the chain's block time measured from
the timestamps of the blocks compared by successive runs (chain time, not the runs' times). The
next sweep predicts the common height from them: the head is the last block whose timestamp is
at least :data:`VISIBLE_AFTER_S` old (a block is seen a little after its timestamp), and the
common height ``hash_depth`` below it. Until a block time is known the prediction is the last
height. A prediction is only ever a hint: a file of the wrong shape, an implausible value or
figures more than a day old predict nothing, and a wrong prediction only means step 2 asks as
it always does.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fleetctl.core.atomic import write_json

__all__ = ["MAX_TIMESTAMP", "load_heads", "next_entry", "predict", "save_heads"]

SUFFIX = ".heads.json"
#: a prediction from figures older than this is not made
MAX_AGE_S = 86_400.0
#: block times believed (seconds)
MIN_BLOCK_S, MAX_BLOCK_S = 0.05, 3_600.0
#: how long after its timestamp a new block is taken to be everyone's head
VISIBLE_AFTER_S = 1.0
_MAX_HEIGHT = 2**53
#: a block timestamp believed (seconds since the epoch, before 2100-01-01)
MAX_TIMESTAMP = 4_102_444_800
_MAX_BYTES = 1 << 20


def _path(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


def _number(value: Any, low: float, high: float) -> bool:
    return (isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value)
            and low <= value <= high)


def _entry(value: Any) -> dict[str, Any] | None:
    """A chain's entry if every figure is of its type and range, else None."""
    if not isinstance(value, dict):
        return None
    h, ts, bt = value.get("h"), value.get("ts"), value.get("bt")
    if not isinstance(h, int) or not _number(h, 0, _MAX_HEIGHT) or not isinstance(ts, int | float) \
            or not _number(ts, 1, MAX_TIMESTAMP):
        return None
    if bt is not None and not _number(bt, MIN_BLOCK_S, MAX_BLOCK_S):
        return None
    return {"h": h, "ts": int(ts), "bt": None if bt is None else float(bt)}


def load_heads(db: Path) -> dict[str, dict[str, Any]]:
    """The entries of the chains whose figures are believed; {} when there is no usable file."""
    try:
        with _path(db).open("rb") as fh:
            raw = fh.read(_MAX_BYTES + 1)
        data = json.loads(raw) if len(raw) <= _MAX_BYTES else None
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: e for k, v in data.items() if isinstance(k, str) and (e := _entry(v)) is not None}


def predict(entry: dict[str, Any] | None, now: float, depth: int) -> int | None:
    """The common height expected at ``now`` (``depth`` blocks below the head)."""
    if entry is None or not -MAX_AGE_S <= now - entry["ts"] <= MAX_AGE_S:
        return None
    bt = entry["bt"]
    if bt is None:
        return entry["h"]
    # the head: the block with the latest timestamp at least VISIBLE_AFTER_S ago
    return max(entry["h"], entry["h"] + int((now - VISIBLE_AFTER_S - entry["ts"]) // bt) - depth)


def next_entry(entry: dict[str, Any] | None, height: int, timestamp: int) -> dict[str, Any]:
    """The entry after a sweep compared at ``height`` (whose block has ``timestamp``): the block
    time from the last entry's block to this one, kept while the height stands still, forgotten
    when the height or the time went back (another chain, a reset)."""
    bt = None if entry is None else entry["bt"]
    if entry is not None and height > entry["h"] and timestamp > entry["ts"]:
        bt = min(MAX_BLOCK_S, max(MIN_BLOCK_S, (timestamp - entry["ts"]) / (height - entry["h"])))
    elif entry is not None and (height < entry["h"] or timestamp < entry["ts"]):
        bt = None
    return {"h": height, "ts": timestamp, "bt": bt}


def save_heads(db: Path, heads: dict[str, dict[str, Any]]) -> None:
    """Atomically; a file that cannot be written only means no prediction next time."""
    write_json(_path(db), heads)
