"""fleet.yml ``profiles:``: the operator's own sizing of a client in a mode, and its relay capacity."""

from __future__ import annotations

from typing import Any

from fleetctl.spec.model import (
    CAPLIN,
    CHAIN_MODES,
    CONSENSUS_CLIENTS,
    PROVISIONED_CLIENTS,
)
from fleetctl.spec.sections.common import Ctx, read_capacity
from fleetctl.spec.yamlsafe import Y

MAX_RELAYS_PER_S = 1_000_000.0  # one full node


def load_profiles(ctx: Ctx, node: Y) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], float]]:
    """``profiles: {geth: {full: {cpus, memory_gb, disk_gb, relays_per_s}}}``: the operator's own
    sizing (the three resources together) and each node's relay capacity (alone or with them)."""
    from fleetctl.spec.model import Resources

    out: dict[tuple[str, str], Any] = {}
    relays: dict[tuple[str, str], float] = {}
    body = ctx.mapping(node, "profiles", {*PROVISIONED_CLIENTS, *CONSENSUS_CLIENTS, CAPLIN})
    for client, cnode in (body or {}).items():
        modes = ctx.mapping(cnode, f"profiles.{client}", set(CHAIN_MODES))
        for mode, mnode in (modes or {}).items():
            fld = f"profiles.{client}.{mode}"
            keys = set(mnode.keys) if mnode.kind == "map" else set()
            if "relays_per_s" in keys:
                value = ctx.number(mnode.value["relays_per_s"], f"{fld}.relays_per_s", lo_exclusive=0, hi=MAX_RELAYS_PER_S)
                if value is not None:
                    relays[(client, mode)] = value
                if keys == {"relays_per_s"}:
                    continue
            resources = {k: v for k, v in (mnode.value.items() if mnode.kind == "map" else ()) if k != "relays_per_s"}
            cap = read_capacity(ctx, Y("map", resources, mnode.line, mnode.col, keys={k: mnode.keys[k] for k in resources})
                                if mnode.kind == "map" else mnode, fld)
            if cap is not None:
                out[(client, mode)] = Resources(cap.cpus, cap.memory_gb, cap.disk_gb)
    return out, relays
