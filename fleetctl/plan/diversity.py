"""Client diversity as it runs: each client's share of the full nodes of each chain.

Counts what is observed, not what was planned: fleetctl's node containers that are running
(from each host's engine) and the adopted endpoints that answer, identified by their own
``web3_clientVersion`` (an endpoint declared as Geth that answers as Erigon counts as Erigon).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fleetctl.redact import safe_url
from fleetctl.spec.model import Fleet

_PREFIXES = {"geth/": "geth", "nethermind/": "nethermind", "erigon/": "erigon", "besu/": "besu", "reth/": "reth"}
#: The longest web3_clientVersion believed (Geth's is ~60 characters), the answer read.
MAX_VERSION = 200
MAX_ANSWER = 65536
_BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "web3_clientVersion", "params": []}).encode()


def client_of(version: str) -> str | None:
    v = version.lower()
    return next((c for p, c in _PREFIXES.items() if v.startswith(p)), None)


def read_version(status: int, body: bytes) -> tuple[str | None, str]:
    """(client, detail) from a web3_clientVersion answer. The answer is hostile input: anything
    but a short printable string is no version, and ``detail`` is one short line."""
    if not 200 <= status < 300:
        return None, f"no answer (HTTP {status})"
    # A version answer has one object; a body of nested brackets is refused before the JSON
    # decoder recurses into it.
    if body.count(b"[") + body.count(b"{") > 64:
        return None, "no answer (not a JSON-RPC answer: nested too deeply)"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None, "no answer (not JSON)"
    version = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(version, str) or not version or len(version) > MAX_VERSION \
            or not version.isprintable():
        return None, "not a client version (web3_clientVersion result is no short printable string)"
    return client_of(version), version


async def _probe_all(urls: Sequence[str], timeout: float) -> list[tuple[str | None, str]]:
    """Every URL at once over fleetctl's HTTP client (``user:password@`` sent as Basic auth, the
    query kept, no redirect followed, bodies bounded), each within ``timeout`` in all."""
    from fleetctl.httpclient import HttpError, HttpPool

    async with HttpPool(max_body=MAX_ANSWER) as pool:
        async def one(url: str) -> tuple[str | None, str]:
            try:
                async with asyncio.timeout(timeout):
                    response = await pool.request("POST", url, body=_BODY,
                                                  headers={"Content-Type": "application/json"},
                                                  idempotent=True)
            except TimeoutError:
                return None, f"no answer within {timeout:g} s"
            except HttpError as exc:
                return None, f"no answer ({exc.kind})"
            return read_version(response.status, response.body)

        return list(await asyncio.gather(*(one(u) for u in urls)))


def probe_client(url: str, timeout: float = 3.0) -> tuple[str | None, str]:
    """(client, detail) from web3_clientVersion; client None when it answers no known version."""
    return asyncio.run(_probe_all([url], timeout))[0]


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
    probes = asyncio.run(_probe_all([e.url for e in endpoints], probe_timeout)) if endpoints else []
    for e, (client, detail) in zip(endpoints, probes):
        if client is None:
            notes.append(f"{e.name}: adopted endpoint {safe_url(e.url)}: {detail}: not counted")
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
