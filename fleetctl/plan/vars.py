"""From a placement to the playbooks' variables, per host, and the containers they will run.

The variables are the contract with ``playbooks/`` (see each role's defaults).  Every container
gets a spec hash over everything that shapes it (image, ports, flags' inputs, backends, config);
a running container with another hash is recreated, one with the same hash is left alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from fleetctl.core.records import record
from fleetctl.core import layout
from fleetctl.core.images import image_for
from fleetctl.plan import model as pm
from fleetctl.spec.model import CAPLIN, Fleet



@record(frozen=True)
class Desired:
    """One container fleetctl wants on a host."""

    host: str
    name: str
    role: str  # node | consensus | balancer | relayminer | morse
    spec: str
    chain: str | None = None
    client: str | None = None
    #: ``execution`` (a node) or ``consensus`` (its consensus client); None for the others
    layer: str | None = None
    #: the pair a node or consensus container belongs to: the execution node's name
    pair: str | None = None


def host_image(fleet: Fleet, host: str, kind: str) -> str:
    """The image ``kind`` runs as on ``host`` (:func:`fleetctl.core.images.image_for` with the
    host's ``fleet_images`` overrides)."""
    return image_for(kind, fleet.hosts[host].vars.get("fleet_images"))


def _spec(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def url_host_of(address: str) -> str:
    """The host part of a URL or ``host:port`` for ``address``: an IPv6 address in brackets
    (RFC 3986 3.2.2; Go's url.Parse and net.SplitHostPort need them), anything else as is."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def host_vars(fleet: Fleet, placement: pm.Placement) -> tuple[dict[str, dict[str, Any]], list[Desired]]:
    """Per-host variables for the playbooks, and the list of desired containers."""
    out: dict[str, dict[str, Any]] = {h: {"fleet_nodes": [], "fleet_balancers": [], "fleet_relayminer": None, "fleet_morse": None}
                                      for h in fleet.hosts}
    desired: list[Desired] = []
    for n in placement.nodes:
        addr = fleet.hosts[n.host].address
        chain = fleet.chains[n.chain]
        caplin = n.consensus == CAPLIN
        # The execution container owns the pair's network namespace and publishes the consensus
        # side's ports too, so they shape it; with Caplin it runs the consensus layer itself.
        spec_in = {"image": host_image(fleet, n.host, n.client), "client": n.client, "chain": n.chain, "mode": n.mode,
                   "network": chain.network, "addr": addr, "slot": n.slot, "consensus": n.consensus,
                   "beacon_port": n.beacon_port, "cl_p2p_port": n.cl_p2p_port, "cl_metrics_port": n.cl_metrics_port}
        if caplin:
            spec_in["checkpoint_sync_url"] = chain.checkpoint_sync_url
        spec = _spec(spec_in)
        consensus: dict[str, Any] = {
            "client": n.consensus, "name": n.consensus_name, "beacon_port": n.beacon_port, "p2p_port": n.cl_p2p_port,
            "metrics_port": n.cl_metrics_port, "checkpoint_sync_url": chain.checkpoint_sync_url, "spec": None,
        }
        if n.consensus_name is not None:
            # Joins the execution container's namespace: a recreated execution container
            # recreates its consensus client (its spec is part of this one).
            consensus["spec"] = _spec({"execution": spec, "image": host_image(fleet, n.host, n.consensus),
                                       "client": n.consensus, "chain": n.chain, "network": chain.network, "addr": addr,
                                       "slot": n.slot, "checkpoint_sync_url": chain.checkpoint_sync_url,
                                       "beacon_port": n.beacon_port, "p2p_port": n.cl_p2p_port,
                                       "metrics_port": n.cl_metrics_port, "authrpc_port": n.authrpc_port})
        out[n.host]["fleet_nodes"].append({
            "name": n.name, "chain": n.chain, "client": n.client, "mode": n.mode, "network": chain.network,
            "listen_address": addr, "slot": n.slot, "rpc_port": n.rpc_port, "p2p_port": n.p2p_port,
            "metrics_port": n.metrics_port, "authrpc_port": n.authrpc_port, "spec": spec, "consensus": consensus,
        })
        desired.append(Desired(n.host, n.name, "node", spec, n.chain, n.client, "execution", n.name))
        if n.consensus_name is not None:
            desired.append(Desired(n.host, n.consensus_name, "consensus", consensus["spec"], n.chain, n.consensus,
                                   "consensus", n.name))
    for b in placement.balancers:
        addr = fleet.hosts[b.host].address
        backends = []
        for be in b.backends:
            u = urlsplit(be.url)
            backends.append({"name": be.name, "client": be.client, "address": u.hostname, "port": u.port or 80})
        entry = {"name": b.name, "chain": b.chain, "listen_address": addr, "port": b.port,
                 "stats_port": b.port + layout.BALANCER_STATS_OFFSET, "backends": backends}
        spec = entry["spec"] = _spec({**entry, "image": host_image(fleet, b.host, "haproxy")})
        out[b.host]["fleet_balancers"].append(entry)
        desired.append(Desired(b.host, b.name, "balancer", spec, b.chain))
    by_host: dict[str, list[pm.SupplierPlacement]] = {}
    for sp in placement.suppliers:
        by_host.setdefault(sp.host, []).append(sp)
    lb_port = {(b.host, b.chain): b.port for b in placement.balancers}
    for host, sps in sorted(by_host.items()):
        addr = fleet.hosts[host].address
        url_host = url_host_of(addr)
        services = sorted({s for sp in sps for s in sp.services})
        if fleet.protocol == "shannon":
            rm: dict[str, Any] = {
                "listen_address": addr,
                "port": layout.RELAYMINER_PORT,
                "metrics_port": layout.RELAYMINER_METRICS_PORT,
                "ping_port": layout.RELAYMINER_PING_PORT,
                "signing_key_names": sorted(sp.supplier for sp in sps),
                "pocket_node": {
                    "query_node_rpc_url": fleet.pocket.node_rpc_url or "tcp://127.0.0.1:26657",
                    "query_node_grpc_url": fleet.pocket.grpc_url or "tcp://127.0.0.1:9090",
                    "tx_node_rpc_url": fleet.pocket.node_rpc_url or "tcp://127.0.0.1:26657",
                },
                "suppliers": [{"service_id": s, "backend_url": f"http://{url_host}:{lb_port[(host, s)]}"} for s in services if (host, s) in lb_port],
            }
            rm["spec"] = _spec({**rm, "image": host_image(fleet, host, "relayminer")})
            out[host]["fleet_relayminer"] = rm
            desired.append(Desired(host, "relayminer", "relayminer", rm["spec"]))
        else:
            morse: dict[str, Any] = {"chains": [{"id": fleet.chains[s].morse_chain_id, "url": f"http://{url_host}:{lb_port[(host, s)]}"}
                                                for s in services if (host, s) in lb_port and fleet.chains[s].morse_chain_id]}
            morse["spec"] = _spec({**morse, "image": host_image(fleet, host, "morse")})
            out[host]["fleet_morse"] = morse
            desired.append(Desired(host, "pocket-morse", "morse", morse["spec"]))
    return out, desired
