"""fleet.yml ``alerts:``: when a problem fires, how often it repeats, where it goes (sinks, whose URLs
are secrets: inline, from an environment variable or from a file), and the dead man's switch."""

from __future__ import annotations

import os
import re
from typing import Any

from fleetctl.spec.errors import quote
from fleetctl.spec.model import SINK_TYPES, AlertPolicy, Secret, Sink
from fleetctl.spec.sections.common import NAME, Ctx, read_duration
from fleetctl.spec.yamlsafe import Y

MAX_RENOTIFY_S = 30 * 86400.0
ALERT_KEYS = {"after", "renotify", "min_level", "sinks", "deadman_url", "timeout"}
SINK_KEYS = {"type", "name", "url", "url_env", "url_file"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _secret(ctx: Ctx, body: dict[str, Y], node: Y, fld: str, key: str = "url") -> Secret | None:
    """``url`` (inline), ``url_env`` (an environment variable) or ``url_file`` (a 0600 file): exactly one."""
    given = [k for k in (key, f"{key}_env", f"{key}_file") if k in body]
    if len(given) != 1:
        ctx.err(node, fld, f"give exactly one of {key}, {key}_env (an environment variable) or {key}_file (a file readable only by you)")
        return None
    k = given[0]
    if k == key:
        text = ctx.url(body[k], f"{fld}.{k}", secret=True)
        return Secret(inline=text) if text else None
    if k.endswith("_env"):
        v = body[k].value
        if isinstance(v, str) and "://" in v:  # the URL itself, put where its variable's name goes
            ctx.err(body[k], f"{fld}.{k}", "expected the name of an environment variable, got a URL (not shown: put it in the variable)")
            return None
        name = ctx.string(body[k], f"{fld}.{k}", ENV_NAME, "an environment variable name")
        return Secret(env=name) if name else None
    path = ctx.string(body[k], f"{fld}.{k}")
    return Secret(file=os.path.expanduser(path)) if path else None


def load_alerts(ctx: Ctx, node: Y) -> AlertPolicy:
    """fleet.yml ``alerts:``: when a problem fires, how often it repeats, where it goes."""
    body = ctx.mapping(node, "alerts", ALERT_KEYS)
    default = AlertPolicy()
    if body is None:
        return default
    vals: dict[str, Any] = {}
    if "after" in body:
        after = ctx.integer(body["after"], "alerts.after", 1, 1000)
        if after is not None:
            vals["after"] = after
    if "renotify" in body:
        renotify = read_duration(ctx, body["renotify"], "alerts.renotify", hi=MAX_RENOTIFY_S)
        if renotify is not None:
            vals["renotify_s"] = renotify
    if "timeout" in body:
        timeout = read_duration(ctx, body["timeout"], "alerts.timeout", lo_exclusive=0, hi=120)
        if timeout is not None:
            vals["timeout_s"] = timeout
    if "min_level" in body:
        level = ctx.string(body["min_level"], "alerts.min_level")
        if level is not None and level.upper() not in ("WARNING", "CRITICAL"):
            ctx.err(body["min_level"], "alerts.min_level", f"{quote(level)} is not one of: WARNING, CRITICAL")
        elif level is not None:
            vals["min_level"] = level.upper()
    if "deadman_url" in body:
        d = body["deadman_url"]
        if d.kind == "map":
            inner = ctx.mapping(d, "alerts.deadman_url", {"url", "url_env", "url_file"})
            secret = _secret(ctx, inner, d, "alerts.deadman_url") if inner is not None else None
        else:
            text = ctx.url(d, "alerts.deadman_url", secret=True)
            secret = Secret(inline=text) if text else None
        if secret is not None:
            vals["deadman"] = secret
    if "sinks" in body:
        sinks: list[Sink] = []
        names: set[str] = set()
        for i, snode in enumerate(ctx.seq(body["sinks"], "alerts.sinks") or []):
            fld = f"alerts.sinks[{i}]"
            s = ctx.mapping(snode, fld, SINK_KEYS, {"type"})
            if s is None or "type" not in s:
                continue
            kind = ctx.string(s["type"], f"{fld}.type")
            if kind is not None and kind not in SINK_TYPES:
                ctx.err(s["type"], f"{fld}.type", f"{quote(kind)} is not one of: {', '.join(SINK_TYPES)}")
                kind = None
            name = ctx.string(s["name"], f"{fld}.name", NAME, "a name (letters, digits, '.', '-', '_')") if "name" in s else kind
            secret = _secret(ctx, s, snode, fld)
            if kind is None or name is None or secret is None:
                continue
            if name in names:
                name = f"{name}-{i + 1}" if "name" not in s else name
                if name in names:
                    ctx.err(s.get("name", snode), f"{fld}.name", f"sink name {quote(name)} is used twice")
                    continue
            names.add(name)
            sinks.append(Sink(type=kind, url=secret, name=name))
        vals["sinks"] = tuple(sinks)
    return AlertPolicy(**{**default.__dict__, **vals})
