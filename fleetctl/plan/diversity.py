"""Client diversity as it runs: each client's share of the full nodes of each chain.

Counts what is observed, not what was planned: fleetctl's node containers that are running
(from each host's engine) and the adopted endpoints that answer, identified by their own
``web3_clientVersion`` (an endpoint declared as Geth that answers as Erigon counts as Erigon).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import urllib.request
from typing import Any

from fleetctl.spec.model import Fleet

_PREFIXES = {"geth/": "geth", "nethermind/": "nethermind", "erigon/": "erigon", "besu/": "besu", "reth/": "reth"}


def client_of(version: str) -> str | None:
    v = version.lower()
    return next((c for p, c in _PREFIXES.items() if v.startswith(p)), None)


def probe_client(url: str, timeout: float = 3.0) -> tuple[str | None, str]:
    """(client, detail) from web3_clientVersion; client None when the endpoint does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "web3_clientVersion", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read(65536))
        version = str(answer.get("result") or "")
    except (OSError, ValueError, AttributeError) as exc:
        return None, f"no answer ({exc.__class__.__name__})"
    return client_of(version), version


def diversity(fleet: Fleet, observed: dict[str, Any], probe_timeout: float = 3.0) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {cid: {c: 0 for c in chain.clients} for cid, chain in fleet.chains.items()}
    notes: list[str] = []
    for st in observed.values():
        if not st.reachable:
            notes.append(f"{st.name}: unreachable ({st.error}): its nodes are not counted")
            continue
        for c in st.containers:
            if c.role == "node" and c.running and c.chain in counts and c.client:
                counts[c.chain][c.client] = counts[c.chain].get(c.client, 0) + 1
    endpoints = fleet.endpoints
    with cf.ThreadPoolExecutor(max_workers=max(1, min(32, len(endpoints)))) as pool:
        probes = list(pool.map(lambda e: probe_client(e.url, probe_timeout), endpoints))
    for e, (client, detail) in zip(endpoints, probes):
        if client is None:
            notes.append(f"{e.name}: {detail}" if not detail.startswith("no answer") else f"{e.name}: adopted endpoint {e.url} does not answer: not counted")
            continue
        if client != e.client:
            notes.append(f"{e.name}: declared {e.client} but answers as {detail}")
        counts[e.chain][client] = counts[e.chain].get(client, 0) + 1
    chains: dict[str, Any] = {}
    worst = "OK"
    for cid, chain in fleet.chains.items():
        total = sum(counts[cid].values())
        shares = {c: (n / total if total else 0.0) for c, n in counts[cid].items()}
        over = [c for c, s in shares.items() if s > chain.max_client_share + 1e-9]
        status = "WARNING" if over else ("UNKNOWN" if total == 0 and chain.replicas > 0 else "OK")
        if status == "WARNING" or (status == "UNKNOWN" and worst == "OK"):
            worst = status if worst != "WARNING" else worst
        chains[cid] = {"quota": chain.max_client_share, "total": total, "shares": {c: round(s, 4) for c, s in shares.items()},
                       "counts": counts[cid], "status": status, "over_quota": over}
    if worst == "OK" and any(not st.reachable for st in observed.values()):
        worst = "UNKNOWN"
    return {"status": worst, "chains": chains, "notes": notes}
