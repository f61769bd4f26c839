"""Load and validate an inventory folder: ``hosts.yml`` (Ansible YAML inventory, with optional
``group_vars/`` and ``host_vars/``) plus ``fleet.yml`` (fleetctl's desired state).

Everything is checked before anything runs; every problem becomes one
``FILE:LINE:COL: field: message`` line, and all of them are reported at once.

This module reads the files and calls one checker per section, in order
(:mod:`fleetctl.spec.sections`: hosts, pocket, chains, suppliers, stake, profiles, health,
alerts), then orders the errors they collect.
"""

from __future__ import annotations

import os
from pathlib import Path

from fleetctl.core.units import parse_duration
from fleetctl.spec import yamlsafe
from fleetctl.spec.errors import InventoryError, SpecError
from fleetctl.spec.model import AlertPolicy, Fleet, HealthPolicy, Host, StakePolicy
from fleetctl.spec.sections.alerts import ALERT_KEYS, load_alerts
from fleetctl.spec.sections.chains import load_chains
from fleetctl.core.units import parse_amount
from fleetctl.spec.sections.common import Ctx
from fleetctl.spec.sections.health import HEALTH_KEYS, load_health
from fleetctl.spec.sections.hosts import HostsView, load_hosts
from fleetctl.spec.sections.pocket import load_pocket, load_protocol
from fleetctl.spec.sections.profiles import load_profiles
from fleetctl.spec.sections.stake import load_stake
from fleetctl.spec.sections.suppliers import load_suppliers

__all__ = ["ALERT_KEYS", "FLEET_FILE", "FLEET_KEYS", "HEALTH_KEYS", "HOSTS_FILE", "load_inventory", "parse_amount",
           "parse_duration", "resolve_root"]

HOSTS_FILE = "hosts.yml"
FLEET_FILE = "fleet.yml"
FLEET_KEYS = {"protocol", "pocket", "chains", "suppliers", "stake", "profiles", "health", "alerts"}


def _load_fleet(root: Path, hosts: dict[str, Host], view: HostsView, errors: list[SpecError], ctx: Ctx) -> Fleet | None:
    path = root / FLEET_FILE
    host_names = view.names
    if not os.path.lexists(path):
        ctx.errors.append(SpecError(str(path), 0, 0, "", "missing: an inventory needs fleet.yml (fleetctl's desired state)"))
        return None
    tree, errs = yamlsafe.load_file(str(path))
    errors.extend(errs)
    if tree is None:
        if not errs:
            ctx.err(None, "", "empty file: expected at least 'chains:' and 'suppliers:'")
        return None
    top = ctx.mapping(tree, "", FLEET_KEYS, {"chains"})
    if top is None:
        return None

    protocol = load_protocol(ctx, top)
    pocket = load_pocket(ctx, top.get("pocket"), protocol, tree)
    chains = load_chains(ctx, top["chains"], protocol, host_names, view.groups) if "chains" in top else {}
    # Services are checked against every declared chain id, so one bad chain does not make
    # every supplier that serves it an error too.
    declared = set(top["chains"].value) if "chains" in top and top["chains"].kind == "map" else set()
    suppliers = load_suppliers(ctx, top["suppliers"], protocol, declared, host_names) if "suppliers" in top else ()
    stake = load_stake(ctx, top["stake"]) if "stake" in top else StakePolicy()
    profiles, relay_capacity = load_profiles(ctx, top["profiles"]) if "profiles" in top else (None, {})
    health = load_health(ctx, top["health"]) if "health" in top else HealthPolicy()
    alerts = load_alerts(ctx, top["alerts"]) if "alerts" in top else AlertPolicy()
    if errors:
        return None
    return Fleet(root=root, protocol=protocol, pocket=pocket, chains=chains, suppliers=suppliers, hosts=hosts, stake=stake,
                 health=health, alerts=alerts, profiles=profiles, relay_capacity=relay_capacity)


def resolve_root(path: str | os.PathLike[str]) -> Path:
    """An inventory folder; a path to its hosts.yml or fleet.yml also names it."""
    p = Path(path)
    if p.is_file() and p.name in (HOSTS_FILE, FLEET_FILE, "hosts.yaml"):
        return p.parent
    return p


def load_inventory(path: str | os.PathLike[str]) -> Fleet:
    """Load and validate an inventory folder; raises InventoryError listing every problem."""
    root = resolve_root(path)
    if not root.is_dir():
        raise InventoryError([SpecError(str(root), 0, 0, "", "not an inventory folder (expected a folder with hosts.yml and fleet.yml)")])
    errors: list[SpecError] = []
    view = HostsView()
    hosts = load_hosts(root, errors, view)
    hosts_errors = len(errors)
    ctx = Ctx(str(root / FLEET_FILE), errors, hosts_usable=view.usable)
    fleet = _load_fleet(root, hosts, view, errors, ctx)
    if not view.usable:
        # The root cause first (hosts.yml, its vars), then what else is wrong, then a count of
        # the references to hosts.yml that could not be checked because of it.
        first, rest = sorted(set(errors[:hosts_errors])), sorted(set(errors[hosts_errors:]))
        fold = [SpecError(ctx.file, 0, 0, "", f"... and {ctx.folded} error{'s' if ctx.folded != 1 else ''} that follow from it: "
                          "hosts and groups named here are checked once hosts.yml loads")] if ctx.folded else []
        raise InventoryError(first + rest + fold, ordered=True)
    if errors or fleet is None:
        raise InventoryError(errors)
    return fleet
