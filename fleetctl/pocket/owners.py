"""Which owner each supplier had on the chain, remembered between runs.

Most fleet.yml files declare operators, not owners; without an owner, every supplier costs a
query of its own (1,000 suppliers: 1,000 requests). The chain names each supplier's owner in
its answer, so a sweep remembers them here and the next sweep lists each owner's suppliers in a
page (``QueryAllSuppliers`` filtered by ``owner_address``) instead. A cache, not state: kept
under :func:`~fleetctl.spec.cache.cache_base` (``owners.v1/``), one file per chain URL (its
credentials never part of the name or the file), written whole and renamed (0600); a file that
is missing, unreadable or malformed is an empty memory. A stale entry costs one query: a
supplier the listing does not return is read by its address, as without the memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from fleetctl.core.atomic import write_json
from fleetctl.core.redact import scrub
from fleetctl.spec.cache import cache_base

__all__ = ["MAX_ENTRIES", "load", "path_for", "save"]

DIR_NAME = "owners.v1"
#: more addresses than any fleet has; a file beyond it is not read
MAX_ENTRIES = 200_000
_MAX_BYTES = 64 * 1024 * 1024


def _valid(address: object) -> bool:
    return isinstance(address, str) and 0 < len(address) <= 128 and address.isprintable()


def path_for(url: str) -> Path:
    """The memory of the chain at ``url`` (the file name is a digest: no credentials in it)."""
    digest = hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()[:24]
    return cache_base() / DIR_NAME / f"{digest}.json"


def load(url: str) -> dict[str, str]:
    """operator -> owner, as remembered for ``url``; {} if nothing usable is there."""
    path = path_for(url)
    try:
        if path.stat().st_size > _MAX_BYTES:
            return {}
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    owners = doc.get("owners") if isinstance(doc, dict) else None
    if not isinstance(owners, dict) or len(owners) > MAX_ENTRIES:
        return {}
    return {k: v for k, v in owners.items() if _valid(k) and _valid(v)}


def save(url: str, owners: Mapping[str, str]) -> bool:
    """Remember ``owners`` for ``url`` (whole file, atomically); False if it could not be written
    (a cache: the sweep goes on)."""
    path = path_for(url)
    entries = {k: v for k, v in owners.items() if _valid(k) and _valid(v)}
    if len(entries) > MAX_ENTRIES:
        return False
    return write_json(path, {"url": scrub(url, sink_style=False, limit=400), "owners": entries}, sort_keys=True)
