"""Where each chain's common height will be: what lets step 2 of the execution probe (the block
hash at the chain's common height, :mod:`fleetctl.health.execution`) ride in step 1's batch.

After every sweep that records state, ``<state db>.heads.json`` keeps, per chain, the common
height the sweep compared at, when, and the chain's block time as measured between runs. The
next sweep predicts the height from them (no new block before a whole block time has passed)
and asks each endpoint for that block in its first batch. A prediction is only ever a hint: a
file of the wrong shape, an implausible value or one from more than a day ago predicts nothing,
and a wrong prediction only means step 2 asks as it always does.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["load_heads", "next_entry", "predict", "save_heads"]

SUFFIX = ".heads.json"
#: a prediction from older figures than this is not made
MAX_AGE_S = 86_400.0
#: block times believed (seconds)
MIN_BLOCK_S, MAX_BLOCK_S = 0.05, 3_600.0
_MAX_HEIGHT = 2**53
_MAX_BYTES = 1 << 20


def _path(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


def _entry(value: Any) -> dict[str, Any] | None:
    """A chain's entry if every figure is of its type and range, else None."""
    if not isinstance(value, dict):
        return None
    t, h, bt = value.get("t"), value.get("h"), value.get("bt")
    if not isinstance(t, float | int) or isinstance(t, bool) or not math.isfinite(t) or t <= 0:
        return None
    if not isinstance(h, int) or isinstance(h, bool) or not 0 <= h <= _MAX_HEIGHT:
        return None
    if bt is not None and (not isinstance(bt, float | int) or isinstance(bt, bool) or not math.isfinite(bt)
                           or not MIN_BLOCK_S <= bt <= MAX_BLOCK_S):
        return None
    return {"t": float(t), "h": h, "bt": None if bt is None else float(bt)}


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


def predict(entry: dict[str, Any] | None, now: float) -> int | None:
    """The common height expected at ``now``: the last one, plus one per whole block time since."""
    if entry is None or not 0 <= now - entry["t"] <= MAX_AGE_S:
        return None
    bt = entry["bt"]
    return entry["h"] if bt is None else entry["h"] + int((now - entry["t"]) // bt)


def next_entry(entry: dict[str, Any] | None, now: float, height: int) -> dict[str, Any]:
    """The entry after a sweep compared at ``height`` at ``now``: the block time measured from
    the last entry (averaged with the last measure), kept while the height stands still,
    forgotten when it went back (another chain, a reset)."""
    bt = None if entry is None else entry["bt"]
    if entry is not None and height > entry["h"] and now > entry["t"]:
        measured = (now - entry["t"]) / (height - entry["h"])
        bt = measured if bt is None else (bt + measured) / 2
        bt = min(MAX_BLOCK_S, max(MIN_BLOCK_S, bt))
    elif entry is not None and height < entry["h"]:
        bt = None
    return {"t": now, "h": height, "bt": bt}


def save_heads(db: Path, heads: dict[str, dict[str, Any]]) -> None:
    """Atomically; a file that cannot be written only means no prediction next time."""
    path = _path(db)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(heads, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        pass
