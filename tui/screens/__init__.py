"""One module per view; :mod:`.base` is what every table view shares.

:data:`VIEWS` names each view (its ``:`` command), its aliases and the class that builds it; the
app's modes and the command bar's completion come from here.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["VIEWS", "ViewInfo", "resolve"]


class ViewInfo(NamedTuple):
    name: str
    aliases: tuple[str, ...]
    module: str
    cls: str
    summary: str


VIEWS: tuple[ViewInfo, ...] = (
    ViewInfo("fleet", ("f", "xray", "hosts"), "fleetctl.tui.screens.fleet", "FleetView",
             "hosts, node pairs, containers, RelayMiners, suppliers, balancers"),
    ViewInfo("diversity", ("div", "d"), "fleetctl.tui.screens.diversity", "DiversityView",
             "each client's share per chain and layer against the quota"),
    ViewInfo("stakes", ("s", "stake"), "fleetctl.tui.screens.stakes", "StakesView",
             "every supplier's stake and margin, riskiest first"),
    ViewInfo("health", ("h",), "fleetctl.tui.screens.health", "HealthView",
             "the live health sweep, by level"),
    ViewInfo("scale", ("sc", "whatif"), "fleetctl.tui.screens.scale", "ScaleView",
             "how many identities to add: what they cost and earn"),
    ViewInfo("runs", ("r", "apply", "plan"), "fleetctl.tui.screens.runs", "RunsView",
             "plan, apply and stake batches with live progress"),
    ViewInfo("claims", ("c", "cl"), "fleetctl.tui.screens.claims", "ClaimsView",
             "claims, proofs, settlements and losses per supplier"),
    ViewInfo("alerts", ("a", "al"), "fleetctl.tui.screens.alerts", "AlertsView",
             "firing, pending and muted alerts"),
)


def resolve(word: str) -> ViewInfo | None:
    """The view a ``:`` command names (its name, an alias, or a unique prefix of a name)."""
    w = word.strip().lstrip(":").lower()
    if not w:
        return None
    for v in VIEWS:
        if w == v.name or w in v.aliases:
            return v
    found = [v for v in VIEWS if v.name.startswith(w)]
    return found[0] if len(found) == 1 else None
