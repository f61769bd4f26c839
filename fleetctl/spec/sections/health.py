"""fleet.yml ``health:``: the health sweep's timeouts and WARNING/CRITICAL thresholds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetctl.spec.model import HealthPolicy
from fleetctl.spec.sections.common import Ctx, read_duration, read_percent
from fleetctl.spec.yamlsafe import Y

MAX_LAG_BLOCKS = 1_000_000
MAX_PEERS = 10_000
MAX_LOAD_PER_CPU = 1000.0
HEALTH_KEYS = {
    "timeout", "slow", "concurrency", "lag_warning", "lag_critical", "hash_depth", "min_peers",
    "disk_warning", "disk_critical", "memory_warning", "memory_critical", "load_warning",
    "load_critical", "pocket_lag_warning", "pocket_lag_critical", "remediate_rise", "textfile",
    "slot_lag_warning", "slot_lag_critical", "relayminer_error_warning", "relayminer_error_critical",
    "relayminer_dropped_warning", "relayminer_dropped_critical", "relayminer_stall_warning",
    "relayminer_stall_critical",
}


def load_health(ctx: Ctx, node: Y) -> HealthPolicy:
    """fleet.yml ``health:``; every key optional (see HealthPolicy for the defaults)."""
    body = ctx.mapping(node, "health", HEALTH_KEYS)
    default = HealthPolicy()
    if body is None:
        return default
    vals: dict[str, Any] = {}

    def take(key: str, attr: str, conv: Callable[[Y, str], Any]) -> None:
        if key in body:
            value = conv(body[key], f"health.{key}")
            if value is not None:
                vals[attr] = value

    take("timeout", "timeout_s", lambda n, f: read_duration(ctx, n, f, lo_exclusive=0, hi=300))
    take("slow", "slow_s", lambda n, f: read_duration(ctx, n, f, lo_exclusive=0, hi=300))
    take("concurrency", "concurrency", lambda n, f: ctx.integer(n, f, 1, 10_000))
    for key in ("lag_warning", "lag_critical", "pocket_lag_warning", "pocket_lag_critical", "slot_lag_warning",
                "slot_lag_critical"):
        take(key, key, lambda n, f: ctx.integer(n, f, 1, MAX_LAG_BLOCKS))
    take("hash_depth", "hash_depth", lambda n, f: ctx.integer(n, f, 0, 1000))
    take("min_peers", "min_peers", lambda n, f: ctx.integer(n, f, 0, MAX_PEERS))
    take("remediate_rise", "remediate_rise", lambda n, f: ctx.integer(n, f, 1, 1000))
    for key in ("disk_warning", "disk_critical", "memory_warning", "memory_critical"):
        take(key, f"{key}_pct", lambda n, f: read_percent(ctx, n, f))
    for key in ("load_warning", "load_critical"):
        take(key, key, lambda n, f: ctx.number(n, f, lo_exclusive=0, hi=MAX_LOAD_PER_CPU))
    take("textfile", "textfile", lambda n, f: ctx.string(n, f))
    for key in ("relayminer_error_warning", "relayminer_error_critical", "relayminer_dropped_warning",
                "relayminer_dropped_critical"):
        take(key, key, lambda n, f: None if (pct := read_percent(ctx, n, f)) is None else pct / 100)
    for key in ("relayminer_stall_warning", "relayminer_stall_critical"):
        take(key, f"{key}_s", lambda n, f: read_duration(ctx, n, f, lo_exclusive=0, hi=30 * 86400))
    policy = HealthPolicy(**{**default.__dict__, **vals})
    # A WARNING threshold must be reached before the CRITICAL one.
    for warn, crit, key, more_is_worse in (
        ("lag_warning", "lag_critical", "lag_warning", True),
        ("pocket_lag_warning", "pocket_lag_critical", "pocket_lag_warning", True),
        ("slot_lag_warning", "slot_lag_critical", "slot_lag_warning", True),
        ("load_warning", "load_critical", "load_warning", True),
        ("disk_warning_pct", "disk_critical_pct", "disk_warning", False),
        ("memory_warning_pct", "memory_critical_pct", "memory_warning", False),
        ("relayminer_error_warning", "relayminer_error_critical", "relayminer_error_warning", True),
        ("relayminer_dropped_warning", "relayminer_dropped_critical", "relayminer_dropped_warning", True),
        ("relayminer_stall_warning_s", "relayminer_stall_critical_s", "relayminer_stall_warning", True),
    ):
        w, c = getattr(policy, warn), getattr(policy, crit)
        if (w > c) if more_is_worse else (w < c):
            where = body.get(key) or body.get(key.replace("warning", "critical")) or node
            ctx.err(where, f"health.{key}", f"{w:g} must come before {key.replace('warning', 'critical')} {c:g} (WARNING before CRITICAL)")
    return policy
