"""fleet.yml ``protocol:`` and ``pocket:`` (where fleetctl reads the chain)."""

from __future__ import annotations

from fleetctl.spec.errors import quote
from fleetctl.spec.model import PROTOCOLS, Pocket
from fleetctl.spec.sections.common import Ctx
from fleetctl.spec.yamlsafe import Y


def load_protocol(ctx: Ctx, top: dict[str, Y]) -> str:
    """``protocol: shannon | morse`` (shannon when absent or wrong: the error is logged)."""
    protocol = "shannon"
    if "protocol" in top:
        p = ctx.string(top["protocol"], "protocol")
        if p is not None and p not in PROTOCOLS:
            ctx.err(top["protocol"], "protocol", f"{quote(p)} is not one of: {', '.join(PROTOCOLS)}")
        elif p is not None:
            protocol = p
    return protocol


def load_pocket(ctx: Ctx, node: Y | None, protocol: str, tree: Y) -> Pocket:
    need = "rest_url" if protocol == "shannon" else "rpc_url"
    if node is None:
        ctx.err(tree, "pocket", f"required: where to read the chain ('pocket: {{{need}: URL}}')")
        return Pocket()
    body = ctx.mapping(node, "pocket", {"rest_url", "rpc_url", "node_rpc_url", "grpc_url", "chain_id"}, {need})
    if body is None:
        return Pocket()
    vals: dict[str, str | None] = {}
    for key in ("rest_url", "rpc_url", "node_rpc_url", "grpc_url"):
        if key in body:
            schemes = ("http", "https", "tcp") if key == "node_rpc_url" else ("http", "https", "tcp", "grpc", "grpcs") if key == "grpc_url" else ("http", "https")
            vals[key] = ctx.url(body[key], f"pocket.{key}", schemes)
    if "chain_id" in body:
        vals["chain_id"] = ctx.string(body["chain_id"], "pocket.chain_id")
    return Pocket(**vals)
