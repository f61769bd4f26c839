"""Client diversity as it runs: each client's share of the full nodes of each chain, on each
layer (execution and consensus) on its own, against ``max_client_share``.

Counts what is observed, not what was planned: fleetctl's containers that are running (from each
host's engine: execution nodes, their consensus clients, and Erigon nodes labelled as running
Caplin, which counts as its own consensus client) and the adopted endpoints that answer,
identified by their own version (an execution endpoint by ``web3_clientVersion``: declared as Geth
but answering as Erigon counts as Erigon; a consensus endpoint by the Beacon API's
``/eth/v1/node/version``), each counted in its own layer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fleetctl.core.redact import safe_url
from fleetctl.spec.model import Fleet

_PREFIXES = {"geth/": "geth", "nethermind/": "nethermind", "erigon/": "erigon", "besu/": "besu", "reth/": "reth"}
#: The longest web3_clientVersion believed (Geth's is ~60 characters), the answer read.
MAX_VERSION = 200
MAX_ANSWER = 65536
_BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "web3_clientVersion", "params": []}).encode()


_CL_PREFIXES = {"lighthouse/": "lighthouse", "prysm/": "prysm", "teku/": "teku", "nimbus/": "nimbus",
                "lodestar/": "lodestar", "caplin/": "caplin", "erigon/": "caplin", "grandine/": "grandine"}
LAYERS = ("execution", "consensus")


def client_of(version: str, layer: str = "execution") -> str | None:
    v = version.lower()
    prefixes = _CL_PREFIXES if layer == "consensus" else _PREFIXES
    return next((c for p, c in prefixes.items() if v.startswith(p)), None)


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


def read_beacon_version(status: int, body: bytes) -> tuple[str | None, str]:
    """(client, detail) from a Beacon API ``/eth/v1/node/version`` answer (``{"data": {"version":
    "Lighthouse/v5.3.0-..."}}``); hostile input, checked as :func:`read_version` checks its own."""
    if not 200 <= status < 300:
        return None, f"no answer (HTTP {status})"
    if body.count(b"[") + body.count(b"{") > 64:
        return None, "no answer (not a Beacon API answer: nested too deeply)"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return None, "no answer (not JSON)"
    data = answer.get("data") if isinstance(answer, dict) else None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version or len(version) > MAX_VERSION or not version.isprintable():
        return None, "not a client version (data.version of /eth/v1/node/version is no short printable string)"
    return client_of(version, "consensus"), version


async def _probe_all(urls: Sequence[str], timeout: float, layers: Sequence[str] | None = None) -> list[tuple[str | None, str]]:
    """Every URL at once over fleetctl's HTTP client (``user:password@`` sent as Basic auth, the
    query kept, no redirect followed, bodies bounded), each within ``timeout`` in all. ``layers``
    (default: all execution) says which answer each speaks: JSON-RPC or the Beacon API."""
    from urllib.parse import urlsplit, urlunsplit

    from fleetctl.core.httpclient import HttpError, HttpPool

    async with HttpPool(max_body=MAX_ANSWER) as pool:
        async def one(url: str, layer: str) -> tuple[str | None, str]:
            try:
                async with asyncio.timeout(timeout):
                    if layer == "consensus":
                        parts = urlsplit(url)
                        target = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/eth/v1/node/version"))
                        response = await pool.request("GET", target, headers={"Accept": "application/json"},
                                                      idempotent=True)
                    else:
                        response = await pool.request("POST", url, body=_BODY,
                                                      headers={"Content-Type": "application/json"},
                                                      idempotent=True)
            except TimeoutError:
                return None, f"no answer within {timeout:g} s"
            except HttpError as exc:
                return None, f"no answer ({exc.kind})"
            if layer == "consensus":
                return read_beacon_version(response.status, response.body)
            return read_version(response.status, response.body)

        return list(await asyncio.gather(*(one(u, l) for u, l in zip(urls, layers or ["execution"] * len(urls)))))


def probe_client(url: str, timeout: float = 3.0) -> tuple[str | None, str]:
    """(client, detail) from web3_clientVersion; client None when it answers no known version."""
    return asyncio.run(_probe_all([url], timeout))[0]


def diversity(fleet: Fleet, observed: dict[str, Any], probe_timeout: float = 3.0) -> dict[str, Any]:
    """Per chain and layer: each client's count and share, and the clients above the share.

    ``chains[cid]`` holds ``execution`` and ``consensus`` (each: total, counts, shares, status,
    over_quota) and, as before this report had layers, the execution layer's figures at its top."""
    from fleetctl.spec.model import consensus_clients_of

    counts: dict[str, dict[str, dict[str, int]]] = {}
    for cid, chain in fleet.chains.items():
        cl = dict.fromkeys(consensus_clients_of(chain), 0)
        if chain.erigon_consensus == "caplin" and "erigon" in chain.clients:
            cl["caplin"] = 0
        counts[cid] = {"execution": dict.fromkeys(chain.clients, 0), "consensus": cl}
    notes: list[str] = []

    def add(cid: str, layer: str, client: str) -> None:
        layer_counts = counts[cid][layer]
        layer_counts[client] = layer_counts.get(client, 0) + 1

    for st in observed.values():
        if not st.reachable:
            notes.append(f"{st.name}: unreachable ({st.error}): its nodes are not counted")
            continue
        for c in st.containers:
            if not c.running or c.chain not in counts or not c.client:
                continue
            if c.role == "node":
                add(c.chain, "execution", c.client)
                if getattr(c, "consensus", None) == "caplin":  # Erigon's own consensus layer
                    add(c.chain, "consensus", "caplin")
            elif c.role == "consensus":
                add(c.chain, "consensus", c.client)
    endpoints = fleet.endpoints
    probes = asyncio.run(_probe_all([e.url for e in endpoints], probe_timeout, [e.layer for e in endpoints])) if endpoints else []
    for e, (client, detail) in zip(endpoints, probes):
        if client is None:
            notes.append(f"{e.name}: adopted endpoint {safe_url(e.url)}: {detail}: not counted")
            continue
        if client != e.client:
            notes.append(f"{e.name}: declared {e.client} but answers as {detail}")
        add(e.chain, e.layer, client)
    chains: dict[str, Any] = {}
    worst = "OK"
    rank = {"OK": 0, "UNKNOWN": 1, "WARNING": 2}
    for cid, chain in fleet.chains.items():
        entry: dict[str, Any] = {"quota": chain.max_client_share}
        for layer in LAYERS:
            layer_counts = counts[cid][layer]
            total = sum(layer_counts.values())
            shares = {c: (n / total if total else 0.0) for c, n in layer_counts.items()}
            over = [c for c, s in shares.items() if s > chain.max_client_share + 1e-9]
            status = "WARNING" if over else ("UNKNOWN" if total == 0 and chain.replicas > 0 else "OK")
            entry[layer] = {"total": total, "shares": {c: round(s, 4) for c, s in shares.items()},
                            "counts": layer_counts, "status": status, "over_quota": over}
        # The chain's status: its worse layer; the execution layer's figures also at the top level.
        entry["status"] = max((entry[layer]["status"] for layer in LAYERS), key=rank.__getitem__)
        for key in ("total", "shares", "counts", "over_quota"):
            entry[key] = entry["execution"][key]
        chains[cid] = entry
        worst = max(worst, entry["status"], key=rank.__getitem__)
    if worst == "OK" and any(not st.reachable for st in observed.values()):
        worst = "UNKNOWN"
    return {"status": worst, "chains": chains, "notes": notes}
