"""fleet.yml ``chains:``: each service's clients, replicas, network, placement, consensus layer and
adopted endpoints (with their consensus/execution pairs)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fleetctl.spec.errors import quote
from fleetctl.spec.model import (
    CAPLIN,
    CHAIN_MODES,
    CONSENSUS_CLIENTS,
    DEFAULT_ERIGON_CONSENSUS,
    DEFAULT_MAX_CLIENT_SHARE,
    ERIGON_CONSENSUS,
    KNOWN_CLIENTS,
    KNOWN_CONSENSUS_CLIENTS,
    NETWORK_SUPPORT,
    NETWORKS,
    PROVISIONED_CLIENTS,
    Chain,
    Endpoint,
)
from fleetctl.spec.sections.common import NAME, Ctx, closest, listing, shown_url
from fleetctl.spec.yamlsafe import Y

SERVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,42}$")
MORSE_CHAIN_ID = re.compile(r"^[0-9A-Fa-f]{4}\Z")  # \Z: $ would let "0021\n" through (Go hex refuses it)
# Plausible bounds: a value beyond them is a typo or an attack, never a fleet (each error names
# its bound). replicas 10^7 would keep `plan --offline` busy for minutes; 10^21 or .inf worse.
MAX_REPLICAS = 1000  # full nodes of one chain


def load_chains(ctx: Ctx, node: Y, protocol: str, host_names: set[str], host_groups: dict[str, set[str]]) -> dict[str, Chain]:
    body = ctx.mapping(node, "chains", set(node.keys) if node.kind == "map" else set())
    if body is None:
        return {}
    if not body:
        ctx.err(node, "chains", "must define at least one chain (service id)")
    chains: dict[str, Chain] = {}
    endpoint_names: dict[str, Y] = {}
    for cid, cnode in body.items():
        fld = f"chains.{cid}"
        if not SERVICE_ID.match(cid):
            ctx.err(node.keys[cid], fld, "a service id is 1-42 letters, digits, '_' or '-'")
            continue
        c = ctx.mapping(cnode, fld, CHAIN_KEYS, {"clients", "replicas"})
        if c is None:
            continue
        before = len(ctx.errors)
        clients: list[str] = []
        if "clients" in c:
            for i, item in enumerate(ctx.seq(c["clients"], f"{fld}.clients", nonempty=True) or []):
                name = ctx.string(item, f"{fld}.clients[{i}]")
                if name is None:
                    continue
                if name not in PROVISIONED_CLIENTS:
                    ctx.err(item, f"{fld}.clients[{i}]", f"{quote(name)} is not one of: {', '.join(PROVISIONED_CLIENTS)}")
                elif name in clients:
                    ctx.err(item, f"{fld}.clients[{i}]", f"{quote(name)} is listed twice")
                else:
                    clients.append(name)
        replicas = ctx.integer(c["replicas"], f"{fld}.replicas", 0, MAX_REPLICAS) if "replicas" in c else None
        share = DEFAULT_MAX_CLIENT_SHARE
        if "max_client_share" in c:
            share = ctx.number(c["max_client_share"], f"{fld}.max_client_share", lo_exclusive=0, hi=1) or share
        mode = "full"
        if "mode" in c:
            m = ctx.string(c["mode"], f"{fld}.mode")
            if m is not None and m not in CHAIN_MODES:
                ctx.err(c["mode"], f"{fld}.mode", f"{quote(m)} is not one of: {', '.join(CHAIN_MODES)}")
            mode = m or mode
        morse_id = None
        if "morse_chain_id" in c:
            mc = c["morse_chain_id"]
            if mc.kind == "scalar" and isinstance(mc.value, int) and not isinstance(mc.value, bool):
                ctx.err(mc, f"{fld}.morse_chain_id", "must be a quoted 4-digit string such as \"0021\" (unquoted, YAML reads a number)")
            else:
                morse_id = ctx.string(mc, f"{fld}.morse_chain_id", MORSE_CHAIN_ID, "a 4-hex-digit relay chain id such as \"0021\"")
        elif protocol == "morse":
            ctx.err(cnode, f"{fld}.morse_chain_id", "required with protocol morse (the relay chain id, e.g. \"0021\")")
        placed_on: list[str] = []
        if "hosts" in c:
            for i, item in enumerate(ctx.seq(c["hosts"], f"{fld}.hosts", nonempty=True) or []):
                name = ctx.string(item, f"{fld}.hosts[{i}]")
                if name is None:
                    continue
                members = host_groups.get(name) or ([name] if name in host_names else None)
                if members is None:
                    ctx.missing_ref(item, f"{fld}.hosts[{i}]", f"no host or group {quote(name)} in hosts.yml")
                    continue
                placed_on.extend(m for m in sorted(members) if m not in placed_on)
        network: str | None = "mainnet"
        if "network" in c:
            network = ctx.string(c["network"], f"{fld}.network")
            if network is not None and network not in NETWORKS:
                ctx.err(c["network"], f"{fld}.network", f"{quote(network)} is not one of: {', '.join(NETWORKS)}")
                network = None
        if network is not None and "clients" in c and c["clients"].kind == "seq":
            for i, item in enumerate(c["clients"].value):
                if item.value in clients:
                    _runs(ctx, item, f"{fld}.clients[{i}]", item.value, network)
        consensus_clients = _consensus_clients(ctx, c["consensus_clients"], f"{fld}.consensus_clients", network) if "consensus_clients" in c else ()
        checkpoint = _checkpoint_url(ctx, c["checkpoint_sync_url"], f"{fld}.checkpoint_sync_url") if "checkpoint_sync_url" in c else None
        erigon_consensus = _erigon(ctx, c["erigon"], f"{fld}.erigon") if "erigon" in c else DEFAULT_ERIGON_CONSENSUS
        endpoints: list[Endpoint] = []
        pairs: list[tuple[Y, str, str]] = []
        if "endpoints" in c:
            for i, enode in enumerate(ctx.seq(c["endpoints"], f"{fld}.endpoints") or []):
                efld = f"{fld}.endpoints[{i}]"
                e = ctx.mapping(enode, efld, {"name", "url", "client", "host", "pair"}, {"name", "url", "client"})
                if e is None or not {"name", "url", "client"} <= e.keys():
                    continue
                ename = ctx.string(e["name"], f"{efld}.name", NAME, "a name (letters, digits, '.', '-', '_')")
                url = ctx.url(e["url"], f"{efld}.url")
                client = ctx.string(e["client"], f"{efld}.client")
                if client is not None and client not in KNOWN_CLIENTS and client not in KNOWN_CONSENSUS_CLIENTS:
                    ctx.err(e["client"], f"{efld}.client", f"{quote(client)} is not one of: {', '.join(KNOWN_CLIENTS)} "
                            f"(execution) or {', '.join(KNOWN_CONSENSUS_CLIENTS)} (consensus)")
                    client = None
                elif client is not None and network is not None and not _runs(ctx, e["client"], f"{efld}.client", client, network):
                    client = None
                pair = None
                if "pair" in e:
                    pair = ctx.string(e["pair"], f"{efld}.pair", NAME, "an endpoint name")
                    if pair is not None and client is not None and client not in KNOWN_CONSENSUS_CLIENTS:
                        ctx.err(e["pair"], f"{efld}.pair", f"only a consensus endpoint names its pair ({client} is an execution client)")
                        pair = None
                    elif pair is not None:
                        pairs.append((e["pair"], f"{efld}.pair", pair))
                host = None
                if "host" in e:
                    host = ctx.string(e["host"], f"{efld}.host")
                    if host is not None and host not in host_names:
                        ctx.missing_ref(e["host"], f"{efld}.host", f"no host {quote(host)} in hosts.yml")
                        host = None
                if ename is not None and ename in endpoint_names:
                    ctx.err(e["name"], f"{efld}.name", f"endpoint name {quote(ename)} is used twice (first at line {endpoint_names[ename].line})")
                elif ename is not None:
                    endpoint_names[ename] = e["name"]
                if ename and url and client:
                    endpoints.append(Endpoint(name=ename, url=url, client=client, chain=cid, host=host, pair=pair))
            _check_pairs(ctx, cid, endpoints, pairs, c["endpoints"])
        if len(ctx.errors) == before and replicas is not None and network is not None:
            chains[cid] = Chain(id=cid, clients=tuple(clients), replicas=replicas, max_client_share=share, mode=mode,
                                morse_chain_id=morse_id, endpoints=tuple(endpoints), hosts=tuple(placed_on), network=network,
                                consensus_clients=consensus_clients, checkpoint_sync_url=checkpoint,
                                erigon_consensus=erigon_consensus)
    return chains


CHAIN_KEYS = {"clients", "replicas", "max_client_share", "mode", "morse_chain_id", "endpoints", "hosts", "network",
              "consensus_clients", "checkpoint_sync_url", "erigon"}


def _runs(ctx: Ctx, node: Y, fld: str, client: str, network: str) -> bool:
    """Whether ``client`` runs ``network`` (an error at ``node`` when it does not); clients
    fleetctl has no support table for (an adopted besu, reth or grandine) are taken as declared."""
    support = NETWORK_SUPPORT.get(client)
    if support is None or network in support:
        return True
    layer = (*CONSENSUS_CLIENTS, CAPLIN) if client in KNOWN_CONSENSUS_CLIENTS else PROVISIONED_CLIENTS
    others = [c for c in layer if network in NETWORK_SUPPORT.get(c, ())]
    ctx.err(node, fld, f"{quote(client)} does not run {network} (those that do: {', '.join(others)})")
    return False


def _consensus_clients(ctx: Ctx, node: Y, fld: str, network: str | None) -> tuple[str, ...]:
    """``consensus_clients: [lighthouse, ...]``: known names, each once, each running ``network``."""
    out: list[str] = []
    for i, item in enumerate(ctx.seq(node, fld, nonempty=True) or []):
        name = ctx.string(item, f"{fld}[{i}]")
        if name is None:
            continue
        if name == CAPLIN:
            ctx.err(item, f"{fld}[{i}]", "'caplin' is Erigon's embedded consensus layer, not a client to pair: "
                    "it is chosen with 'erigon: {consensus: caplin}' (the default)")
        elif name not in CONSENSUS_CLIENTS:
            hint = closest(name, set(CONSENSUS_CLIENTS))
            ctx.err(item, f"{fld}[{i}]", f"{quote(name)} is not one of: {', '.join(CONSENSUS_CLIENTS)}"
                    + (f" (did you mean {quote(hint)}?)" if hint else ""))
        elif name in out:
            ctx.err(item, f"{fld}[{i}]", f"{quote(name)} is listed twice")
        elif network is None or _runs(ctx, item, f"{fld}[{i}]", name, network):
            out.append(name)
    return tuple(out)


def _checkpoint_url(ctx: Ctx, node: Y, fld: str) -> str | None:
    """A trusted beacon API's base URL (http/https, a host; the clients append their own path,
    so a query string or a fragment would break it: both refused). The URL may carry
    ``user:password@``; an error never shows it (the safe form only)."""
    text = ctx.url(node, fld)
    if text is None:
        return None
    if urlsplit(text).query or "?" in text:
        ctx.err(node, fld, f"{shown_url(text)}: a query string ('?...') is refused: the clients append their own "
                "path to a checkpoint sync URL (give the beacon API's base URL)")
        return None
    return text


def _erigon(ctx: Ctx, node: Y, fld: str) -> str:
    """``erigon: {consensus: caplin | external}``."""
    body = ctx.mapping(node, fld, {"consensus"})
    if not body or "consensus" not in body:
        return DEFAULT_ERIGON_CONSENSUS
    value = ctx.string(body["consensus"], f"{fld}.consensus")
    if value is not None and value not in ERIGON_CONSENSUS:
        ctx.err(body["consensus"], f"{fld}.consensus", f"{quote(value)} is not one of: {', '.join(ERIGON_CONSENSUS)} "
                "(caplin: Erigon's embedded consensus layer; external: a consensus client beside it)")
        return DEFAULT_ERIGON_CONSENSUS
    return value or DEFAULT_ERIGON_CONSENSUS


def _check_pairs(ctx: Ctx, cid: str, endpoints: list[Endpoint], pairs: list[tuple[Y, str, str]], node: Y) -> None:
    """Each consensus endpoint's ``pair`` names an adopted execution endpoint of the same chain,
    and no execution endpoint is driven by two consensus endpoints (the Engine API is one to one)."""
    execution = {e.name for e in endpoints if e.layer == "execution"}
    taken: dict[str, Y] = {}
    for pos, fld, name in pairs:
        if name not in execution:
            ctx.err(pos, fld, f"no adopted execution endpoint {quote(name)} under chains.{cid}.endpoints"
                    + (f" (execution endpoints: {listing(execution)})" if execution else ""))
        elif name in taken:
            ctx.err(pos, fld, f"{quote(name)} is already paired with a consensus endpoint (line {taken[name].line}): "
                    "an execution client is driven by one consensus client")
        else:
            taken[name] = pos
