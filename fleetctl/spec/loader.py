"""Load and validate an inventory folder: ``hosts.yml`` (Ansible YAML inventory, with optional
``group_vars/`` and ``host_vars/``) plus ``fleet.yml`` (fleetctl's desired state).

Everything is checked before anything runs; every problem becomes one
``FILE:LINE:COL: field: message`` line, and all of them are reported at once.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from fleetctl.spec import files, yamlsafe
from fleetctl.spec.address import morse_address_problem, shannon_address_problem
from fleetctl.spec.errors import InventoryError, SpecError, quote
from fleetctl.core.units import parse_duration
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
    PROTOCOLS,
    PROVISIONED_CLIENTS,
    UPOKT_PER_POKT,
    Capacity,
    Chain,
    Endpoint,
    Fleet,
    Host,
    SINK_TYPES,
    AlertPolicy,
    HealthPolicy,
    Margin,
    Pocket,
    Secret,
    Sink,
    StakePolicy,
    Supplier,
)
from fleetctl.spec.yamlsafe import Y

HOSTS_FILE = "hosts.yml"
FLEET_FILE = "fleet.yml"
SERVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,42}$")
MORSE_CHAIN_ID = re.compile(r"^[0-9A-Fa-f]{4}\Z")  # \Z: $ would let "0021\n" through (Go hex refuses it)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
AMOUNT = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*(upokt|pokt)\s*$", re.IGNORECASE)
PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
# Plausible bounds: a value beyond them is a typo or an attack, never a fleet (each error names
# its bound). replicas 10^7 would keep `plan --offline` busy for minutes; 10^21 or .inf worse.
MAX_REPLICAS = 1000  # full nodes of one chain
MAX_NEW_SUPPLIERS = 10_000  # identities one `count:` entry creates
MAX_CAPACITY = {"cpus": 4096.0, "memory_gb": 65536.0, "disk_gb": 10_000_000.0}  # one host (10 PB of disk)
MAX_RELAYS_PER_S = 1_000_000.0  # one full node
MAX_LAG_BLOCKS = 1_000_000
MAX_PEERS = 10_000
MAX_LOAD_PER_CPU = 1000.0
MAX_RENOTIFY_S = 30 * 86400.0
#: 10 billion POKT: above the total supply, so no margin or balance can sensibly exceed it.
MAX_UPOKT = 10_000_000_000 * UPOKT_PER_POKT
#: fleetctl's own per-host variables in hosts.yml; any other ``fleet_*`` variable is a typo.
HOST_FLEET_VARS = {
    "fleet_capacity": "capacity when facts cannot be read: {cpus, memory_gb, disk_gb}",
    "fleet_known_hosts": "known_hosts file for this host (else UserKnownHostsFile in ansible_ssh_common_args)",
    # Read by the playbooks (see playbooks/roles/*/defaults); checked here for type only.
    "fleet_docker_host": "Docker engine address on the host (default unix:///var/run/docker.sock)",
    "fleet_config_root": "folder for generated configs on the host (default /etc/fleetctl)",
    "fleet_images": "image overrides per client/role: {geth: IMAGE, ...}",
    "fleet_image_pull": "pull images (default true)",
    "fleet_node_volumes": "extra volumes for execution-client containers",
    "fleet_relayminer_volumes": "extra volumes for the RelayMiner container",
    "fleet_morse_volumes": "extra volumes for the Morse node container",
    "fleet_consensus_volumes": "extra volumes for consensus-client containers",
    "fleet_pocketd": "pocketd command on the host for `fleetctl stake --batch --execute` (default pocketd)",
}


class _Ctx:
    """Collects errors for one file."""

    def __init__(self, display: str, errors: list[SpecError], hosts_usable: bool = True):
        self.file = display
        self.errors = errors
        self.hosts_usable = hosts_usable
        #: references to hosts.yml not checked because hosts.yml itself is unusable
        self.folded = 0

    def missing_ref(self, pos: Y | None, fld: str, message: str) -> None:
        """A name fleet.yml takes from hosts.yml is not there: an error, unless hosts.yml could
        not be read at all; then it only follows from that one, and is counted, not listed."""
        if self.hosts_usable:
            self.err(pos, fld, message)
        else:
            self.folded += 1

    def err(self, pos: Y | tuple[int, int] | None, fld: str, message: str) -> None:
        if isinstance(pos, Y):
            line, col = pos.line, pos.col
        elif pos is None:
            line, col = 1, 1
        else:
            line, col = pos
        self.errors.append(SpecError(self.file, line, col, fld, message))

    def mapping(self, node: Y | None, fld: str, allowed: set[str], required: set[str] = frozenset()) -> dict[str, Y] | None:
        """A mapping with only ``allowed`` keys and all ``required`` ones, or None (error logged)."""
        if node is None or node.kind != "map":
            self.err(node, fld, f"expected a mapping, got {_kind(node)}")
            return None
        for key, pos in node.keys.items():
            if key not in allowed:
                hint = _closest(key, allowed)
                self.err(pos, _join(fld, key), "unknown key" + (f" (did you mean {quote(hint)}?)" if hint else f"; allowed: {_listing(allowed)}"))
        for key in sorted(required - node.value.keys()):
            self.err(node, _join(fld, key), "required")
        return node.value

    def string(self, node: Y, fld: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        if node.kind != "scalar" or not isinstance(node.value, str) or isinstance(node.value, bool):
            hint = " (quote it)" if node.kind == "scalar" and node.value is not None else ""
            self.err(node, fld, f"expected a string, got {_kind(node)}{hint}")
            return None
        if pattern is not None and not pattern.match(node.value):
            self.err(node, fld, f"{quote(node.value)} is not {what or 'valid'}")
            return None
        return node.value

    def integer(self, node: Y, fld: str, lo: int | None = None, hi: int | None = None) -> int | None:
        if isinstance(node.value, yamlsafe.HugeNumber):
            rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            self.err(node, fld, f"{node.value} is out of range (must be {rng})")
            return None
        if node.kind != "scalar" or not isinstance(node.value, int) or isinstance(node.value, bool):
            self.err(node, fld, f"expected an integer, got {_kind(node)}")
            return None
        if (lo is not None and node.value < lo) or (hi is not None and node.value > hi):
            rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            self.err(node, fld, f"{quote(node.value)} is out of range (must be {rng})")
            return None
        return node.value

    def number(self, node: Y, fld: str, lo_exclusive: float | None = None, hi: float | None = None, lo: float | None = None) -> float | None:
        v = node.value
        if node.kind != "scalar" or not isinstance(v, (int, float)) or isinstance(v, bool):
            self.err(node, fld, f"expected a number, got {_kind(node)}")
            return None
        if not math.isfinite(v) or (lo_exclusive is not None and v <= lo_exclusive) or (lo is not None and v < lo) or (hi is not None and v > hi):
            low = f"> {lo_exclusive:g}" if lo_exclusive is not None else f">= {lo:g}" if lo is not None else ""
            high = f"<= {hi:g}" if hi is not None else "finite"
            self.err(node, fld, f"{quote(v)} is out of range (must be {' and '.join(x for x in (low, high) if x)})")
            return None
        return float(v)

    def seq(self, node: Y, fld: str, nonempty: bool = False) -> list[Y] | None:
        if node.kind != "seq":
            self.err(node, fld, f"expected a list, got {_kind(node)}")
            return None
        if nonempty and not node.value:
            self.err(node, fld, "must not be empty")
            return None
        return node.value

    def url(self, node: Y, fld: str, schemes: tuple[str, ...] = ("http", "https"), secret: bool = False) -> str | None:
        """A URL of one of ``schemes``, with a host and no fragment (a query is kept: it is sent).

        An error never quotes a secret: with ``secret`` (a webhook URL holds a token) not the URL at
        all, otherwise its safe form (:func:`fleetctl.core.redact.safe_url`: no user:password, no query
        values, no key-like path segment)."""
        text = self.string(node, fld)
        if text is None:
            return None
        shown = "the URL" if secret else _shown_url(text)
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            self.err(node, fld, f"{shown} is not a valid URL" + ("" if secret else f" ({quote(str(exc))})"))
            return None
        if parts.scheme not in schemes or not parts.hostname or parts.port == 0:
            self.err(node, fld, f"{shown} is not a valid URL (expected {'/'.join(schemes)}://HOST[:PORT])")
            return None
        if parts.fragment or "#" in text:
            self.err(node, fld, f"{shown}: a URL with a fragment ('#...') is refused (a fragment is never sent; remove it)")
            return None
        if any(ord(c) < 33 or ord(c) == 127 for c in text):
            self.err(node, fld, f"{shown}: a URL with spaces or control characters is refused")
            return None
        return text


def _shown_url(text: str) -> str:
    """A URL as an error line may show it: its safe form, or "the URL" when it cannot be parsed."""
    from fleetctl.core.redact import safe_url

    safe = safe_url(text)
    if safe == "<invalid URL>" and "://" not in text:  # "host:port/path": hide the same parts
        safe = safe_url("x://" + text).removeprefix("x://")
    return "the URL" if safe == "<invalid URL>" else quote(safe)


def _listing(names: set[str] | dict[str, Any], limit: int = 100) -> str:
    """``a, b, c`` sorted, cut at a name boundary with ``…`` (an error line stays short)."""
    out = ""
    for name in sorted(names):
        nxt = f"{out}, {name}" if out else name
        if len(nxt) > limit:
            return out + ", …"
        out = nxt
    return out


def _kind(node: Y | None) -> str:
    if node is None:
        return "nothing"
    if node.kind != "scalar":
        return {"map": "a mapping", "seq": "a list"}[node.kind]
    v = node.value
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number"}.get(type(v), f"the string {quote(v)}" if isinstance(v, str) else type(v).__name__)


def _join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.7)
    return found[0] if found else None


def parse_amount(text: Any) -> int | None:
    """An amount in upokt from an integer (upokt) or a string like ``"59,500 POKT"`` / ``"10upokt"``.

    Exact: POKT amounts go through Decimal, and more than six decimals are refused."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text if text >= 0 else None
    if not isinstance(text, str):
        return None
    m = AMOUNT.match(text)
    if not m:
        return None
    digits, unit = m.group(1).replace("_", "").replace(",", ""), m.group(2).lower()
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    scaled = value * (UPOKT_PER_POKT if unit == "pokt" else 1)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


# ---------------------------------------------------------------------------------------------
# hosts.yml (Ansible YAML inventory)
# ---------------------------------------------------------------------------------------------


class _Group:
    def __init__(self, name: str):
        self.name = name
        self.vars: dict[str, Y] = {}
        self.children: set[str] = set()
        self.hosts: set[str] = set()
        self.parents: set[str] = set()


class _HostsView:
    """What fleet.yml may refer to in hosts.yml: every declared host and group, even those
    whose variables have errors (so one bad variable is one error, not one per reference)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.groups: dict[str, set[str]] = {}
        #: False when hosts.yml could not be read at all: references to it are not checked
        self.usable = True


def _load_hosts(root: Path, errors: list[SpecError], view: _HostsView) -> dict[str, Host]:
    """The hosts with their merged variables; ``view`` gets every declared host and group."""
    path = files.hosts_file(root)
    ctx = _Ctx(str(path), errors)
    view.usable = False
    if not os.path.lexists(path):
        ctx.errors.append(SpecError(str(path), 0, 0, "", "missing: an inventory needs hosts.yml (Ansible YAML inventory)"))
        return {}
    tree, errs = yamlsafe.load_file(str(path), ansible=True)
    errors.extend(errs)
    if tree is None:
        if not errs:
            ctx.err(None, "", "empty file: expected groups such as 'all:' with 'hosts:'")
        return {}
    top = ctx.mapping(tree, "", set(tree.keys) if tree.kind == "map" else set())
    if top is None:
        return {}
    groups: dict[str, _Group] = {"all": _Group("all")}
    host_inline: dict[str, list[tuple[Y, str]]] = {}
    host_pos: dict[str, Y] = {}

    def walk_group(name: str, node: Y, fld: str) -> None:
        group = groups.setdefault(name, _Group(name))
        if node.kind == "scalar" and node.value is None:
            return
        body = ctx.mapping(node, fld, {"hosts", "vars", "children"})
        if body is None:
            return
        if "vars" in body:
            v = ctx.mapping(body["vars"], _join(fld, "vars"), set(body["vars"].keys) if body["vars"].kind == "map" else set())
            if v:
                group.vars.update(v)
        if "hosts" in body:
            hnode = body["hosts"]
            if not (hnode.kind == "scalar" and hnode.value is None):
                hosts = ctx.mapping(hnode, _join(fld, "hosts"), set(hnode.keys) if hnode.kind == "map" else set())
                for hname, hval in (hosts or {}).items():
                    hfld = _join(_join(fld, "hosts"), hname)
                    if not NAME.match(hname):
                        ctx.err(hnode.keys[hname], hfld, "host names are letters, digits, '.', '-' and '_'")
                        continue
                    group.hosts.add(hname)
                    host_pos.setdefault(hname, hval)
                    if hval.kind == "scalar" and hval.value is None:
                        host_inline.setdefault(hname, [])
                        continue
                    if hval.kind != "map":
                        ctx.err(hval, hfld, f"expected the host's variables as a mapping, got {_kind(hval)}")
                        continue
                    host_inline.setdefault(hname, []).append((hval, hfld))
        if "children" in body:
            cnode = body["children"]
            children = ctx.mapping(cnode, _join(fld, "children"), set(cnode.keys) if cnode.kind == "map" else set())
            for cname, cval in (children or {}).items():
                if cname == "all":
                    ctx.err(cnode.keys[cname], _join(_join(fld, "children"), cname), "'all' cannot be a child group")
                    continue
                group.children.add(cname)
                groups.setdefault(cname, _Group(cname)).parents.add(name)
                walk_group(cname, cval, _join(_join(fld, "children"), cname))

    for gname, gnode in top.items():
        walk_group(gname, gnode, gname)

    # Every host is in 'all'; groups not under 'all' hang off it (as Ansible does).
    for g in groups.values():
        if g.name != "all" and not g.parents:
            g.parents.add("all")
            groups["all"].children.add(g.name)

    group_file_vars = _vars_dir(root / "group_vars", set(groups), "group", errors)
    host_file_vars = _vars_dir(root / "host_vars", set(host_inline), "host", errors)

    depth: dict[str, int] = {}

    def group_depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name in depth:
            return depth[name]
        if name in seen:
            return 0
        parents = groups[name].parents
        d = 0 if not parents else 1 + max(group_depth(p, seen + (name,)) for p in parents)
        depth[name] = d
        return d

    def member_groups(hname: str) -> list[str]:
        found = {g.name for g in groups.values() if hname in g.hosts}
        stack = list(found)
        while stack:
            for parent in groups[stack.pop()].parents:
                if parent not in found:
                    found.add(parent)
                    stack.append(parent)
        found.add("all")
        return sorted(found, key=lambda n: (group_depth(n), n))

    hosts: dict[str, Host] = {}
    view.usable = bool(host_inline)
    view.names = set(host_inline)
    for hname in sorted(host_inline):
        layered: list[tuple[dict[str, Y], str]] = []
        gnames = member_groups(hname)
        for gname in gnames:
            if gname != "all":
                view.groups.setdefault(gname, set()).add(hname)
        for gname in gnames:
            layered.append((groups[gname].vars, str(path)))
            if gname in group_file_vars:
                layered.append(group_file_vars[gname])
        for hval, _ in host_inline[hname]:
            layered.append((hval.value, str(path)))
        if hname in host_file_vars:
            layered.append(host_file_vars[hname])
        merged: dict[str, tuple[Y, str]] = {}
        for layer, fname in layered:
            for k, v in layer.items():
                merged[k] = (v, fname)
        host = _build_host(hname, merged, tuple(g for g in gnames if g != "all"), errors)
        if host is not None:
            hosts[hname] = host
    if not host_inline and not errors:
        ctx.err(tree, "", "no hosts: add them under 'all: {hosts: {NAME: {...}}}'")
    return hosts


def _vars_dir(base: Path, known: set[str], kind: str, errors: list[SpecError]) -> dict[str, tuple[dict[str, Y], str]]:
    """Ansible's group_vars/ or host_vars/ (see :mod:`fleetctl.spec.files`): for each NAME the
    first of NAME, NAME.yml, NAME.yaml, NAME.json, a folder read recursively → {NAME: (vars, file)}.
    An entry that names no group (host) is an error: a typo would silently do nothing."""
    out: dict[str, tuple[dict[str, Y], str]] = {}
    if not base.is_dir():
        return out
    for name in sorted(known):
        found = files.vars_files(base, name)
        if found is None:
            continue
        for f in found[1]:
            tree, errs = yamlsafe.load_file(str(f), ansible=True)
            errors.extend(errs)
            if tree is None:
                continue
            ctx = _Ctx(str(f), errors)
            body = ctx.mapping(tree, "", set(tree.keys) if tree.kind == "map" else set())
            if body:
                prev = out.get(name, ({}, str(f)))[0]
                out[name] = ({**prev, **body}, str(f))
    for entry in files.vars_candidates(base):
        stem, ext = os.path.splitext(entry.name)
        if entry.name in known or (ext in files.VARS_EXTENSIONS and stem in known):
            continue
        if ext in files.VARS_EXTENSIONS:
            errors.append(SpecError(str(entry), 1, 1, "", f"no {kind} named {quote(entry.name if not ext or entry.is_dir() else stem)} in hosts.yml"))
    return out


def _build_host(name: str, hv: dict[str, tuple[Y, str]], groups: tuple[str, ...], errors: list[SpecError]) -> Host | None:
    ok = True

    def get(key: str, conv: Callable[[_Ctx, Y, str], Any]) -> Any:
        nonlocal ok
        if key not in hv:
            return None
        node, fname = hv[key]
        before = len(errors)
        value = conv(_Ctx(fname, errors), node, f"{name}.{key}")
        ok = ok and len(errors) == before
        return value

    for key, (node, fname) in hv.items():
        if key.startswith("fleet_") and key not in HOST_FLEET_VARS:
            hint = _closest(key, HOST_FLEET_VARS)
            errors.append(SpecError(fname, node.line, node.col, f"{name}.{key}", "unknown fleetctl variable" + (f" (did you mean {quote(hint)}?)" if hint else f"; known: {_listing(HOST_FLEET_VARS)}")))
            ok = False

    address = get("ansible_host", lambda c, n, f: c.string(n, f)) or name
    port = get("ansible_port", lambda c, n, f: c.integer(n, f, 1, 65535)) or 22
    user = get("ansible_user", lambda c, n, f: c.string(n, f)) or "root"
    connection = get("ansible_connection", lambda c, n, f: c.string(n, f)) or "ssh"
    identity = get("ansible_ssh_private_key_file", lambda c, n, f: c.string(n, f))
    known = get("fleet_known_hosts", lambda c, n, f: c.string(n, f))
    if known is None:
        for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
            args = get(key, lambda c, n, f: c.string(n, f))
            found = _known_hosts_from_args(args) if args else None
            if found:
                known = found
    capacity = get("fleet_capacity", _capacity)
    get("fleet_docker_host", lambda c, n, f: c.string(n, f))
    get("fleet_config_root", lambda c, n, f: c.string(n, f))
    get("fleet_images", lambda c, n, f: _string_map(c, n, f))
    get("fleet_image_pull", lambda c, n, f: _boolean(c, n, f))
    get("fleet_node_volumes", lambda c, n, f: _string_list(c, n, f))
    get("fleet_relayminer_volumes", lambda c, n, f: _string_list(c, n, f))
    get("fleet_morse_volumes", lambda c, n, f: _string_list(c, n, f))
    get("fleet_consensus_volumes", lambda c, n, f: _string_list(c, n, f))
    if not ok:
        return None
    plain = {k: v.plain() for k, (v, _) in hv.items()}
    return Host(
        name=name,
        address=address,
        port=port,
        user=user,
        identity_file=os.path.expanduser(identity) if identity else None,
        known_hosts=os.path.expanduser(known) if known else None,
        capacity=capacity,
        groups=groups,
        connection=connection,
        vars=plain,
    )


def _string_map(ctx: _Ctx, node: Y, fld: str) -> dict[str, str] | None:
    body = ctx.mapping(node, fld, set(node.keys) if node.kind == "map" else set())
    if body is None:
        return None
    return {k: v for k, v in ((k, ctx.string(n, _join(fld, k))) for k, n in body.items()) if v is not None}


def _string_list(ctx: _Ctx, node: Y, fld: str) -> list[str] | None:
    items = ctx.seq(node, fld)
    return None if items is None else [x for x in (ctx.string(n, f"{fld}[{i}]") for i, n in enumerate(items)) if x is not None]


def _boolean(ctx: _Ctx, node: Y, fld: str) -> bool | None:
    if node.kind != "scalar" or not isinstance(node.value, bool):
        ctx.err(node, fld, f"expected true or false, got {_kind(node)}")
        return None
    return node.value


def _known_hosts_from_args(args: str) -> str | None:
    """UserKnownHostsFile from ``-o UserKnownHostsFile=PATH`` in Ansible's ssh args, if any."""
    try:
        words = shlex.split(args)
    except ValueError:
        return None
    for i, w in enumerate(words):
        opt = w[2:] if w.startswith("-o") and len(w) > 2 else (words[i + 1] if w == "-o" and i + 1 < len(words) else "")
        key, _, value = opt.partition("=")
        if key.strip().lower() == "userknownhostsfile" and value.strip():
            return value.strip().split()[0]
    return None


def _capacity(ctx: _Ctx, node: Y, fld: str) -> Capacity | None:
    keys = {"cpus", "memory_gb", "disk_gb"}
    body = ctx.mapping(node, fld, keys, keys)
    if body is None or not keys <= body.keys():
        return None
    vals = [ctx.number(body[k], _join(fld, k), lo_exclusive=0, hi=MAX_CAPACITY[k]) for k in ("cpus", "memory_gb", "disk_gb")]
    if any(v is None for v in vals):
        return None
    return Capacity(*vals)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# fleet.yml
# ---------------------------------------------------------------------------------------------

FLEET_KEYS = {"protocol", "pocket", "chains", "suppliers", "stake", "profiles", "health", "alerts"}


def _load_fleet(root: Path, hosts: dict[str, Host], view: _HostsView, errors: list[SpecError], ctx: _Ctx) -> Fleet | None:
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

    protocol = "shannon"
    if "protocol" in top:
        p = ctx.string(top["protocol"], "protocol")
        if p is not None and p not in PROTOCOLS:
            ctx.err(top["protocol"], "protocol", f"{quote(p)} is not one of: {', '.join(PROTOCOLS)}")
        elif p is not None:
            protocol = p

    pocket = _pocket(ctx, top.get("pocket"), protocol, tree)
    chains = _chains(ctx, top["chains"], protocol, host_names, view.groups) if "chains" in top else {}
    # Services are checked against every declared chain id, so one bad chain does not make
    # every supplier that serves it an error too.
    declared = set(top["chains"].value) if "chains" in top and top["chains"].kind == "map" else set()
    suppliers = _suppliers(ctx, top["suppliers"], protocol, declared, host_names) if "suppliers" in top else ()
    stake = _stake(ctx, top["stake"]) if "stake" in top else StakePolicy()
    profiles, relay_capacity = _profiles(ctx, top["profiles"]) if "profiles" in top else (None, {})
    health = _health(ctx, top["health"]) if "health" in top else HealthPolicy()
    alerts = _alerts(ctx, top["alerts"]) if "alerts" in top else AlertPolicy()
    if errors:
        return None
    return Fleet(root=root, protocol=protocol, pocket=pocket, chains=chains, suppliers=suppliers, hosts=hosts, stake=stake,
                 health=health, alerts=alerts, profiles=profiles, relay_capacity=relay_capacity)


def _profiles(ctx: _Ctx, node: Y) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], float]]:
    """``profiles: {geth: {full: {cpus, memory_gb, disk_gb, relays_per_s}}}``: the operator's own
    sizing (the three resources together) and each node's relay capacity (alone or with them)."""
    from fleetctl.plan.model import Resources

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
            cap = _capacity(ctx, Y("map", resources, mnode.line, mnode.col, keys={k: mnode.keys[k] for k in resources})
                            if mnode.kind == "map" else mnode, fld)
            if cap is not None:
                out[(client, mode)] = Resources(cap.cpus, cap.memory_gb, cap.disk_gb)
    return out, relays


def _pocket(ctx: _Ctx, node: Y | None, protocol: str, tree: Y) -> Pocket:
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


def _chains(ctx: _Ctx, node: Y, protocol: str, host_names: set[str], host_groups: dict[str, set[str]]) -> dict[str, Chain]:
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


def _runs(ctx: _Ctx, node: Y, fld: str, client: str, network: str) -> bool:
    """Whether ``client`` runs ``network`` (an error at ``node`` when it does not); clients
    fleetctl has no support table for (an adopted besu, reth or grandine) are taken as declared."""
    support = NETWORK_SUPPORT.get(client)
    if support is None or network in support:
        return True
    layer = (*CONSENSUS_CLIENTS, CAPLIN) if client in KNOWN_CONSENSUS_CLIENTS else PROVISIONED_CLIENTS
    others = [c for c in layer if network in NETWORK_SUPPORT.get(c, ())]
    ctx.err(node, fld, f"{quote(client)} does not run {network} (those that do: {', '.join(others)})")
    return False


def _consensus_clients(ctx: _Ctx, node: Y, fld: str, network: str | None) -> tuple[str, ...]:
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
            hint = _closest(name, set(CONSENSUS_CLIENTS))
            ctx.err(item, f"{fld}[{i}]", f"{quote(name)} is not one of: {', '.join(CONSENSUS_CLIENTS)}"
                    + (f" (did you mean {quote(hint)}?)" if hint else ""))
        elif name in out:
            ctx.err(item, f"{fld}[{i}]", f"{quote(name)} is listed twice")
        elif network is None or _runs(ctx, item, f"{fld}[{i}]", name, network):
            out.append(name)
    return tuple(out)


def _checkpoint_url(ctx: _Ctx, node: Y, fld: str) -> str | None:
    """A trusted beacon API's base URL (http/https, a host; the clients append their own path,
    so a query string or a fragment would break it: both refused). The URL may carry
    ``user:password@``; an error never shows it (the safe form only)."""
    text = ctx.url(node, fld)
    if text is None:
        return None
    if urlsplit(text).query or "?" in text:
        ctx.err(node, fld, f"{_shown_url(text)}: a query string ('?...') is refused: the clients append their own "
                "path to a checkpoint sync URL (give the beacon API's base URL)")
        return None
    return text


def _erigon(ctx: _Ctx, node: Y, fld: str) -> str:
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


def _check_pairs(ctx: _Ctx, cid: str, endpoints: list[Endpoint], pairs: list[tuple[Y, str, str]], node: Y) -> None:
    """Each consensus endpoint's ``pair`` names an adopted execution endpoint of the same chain,
    and no execution endpoint is driven by two consensus endpoints (the Engine API is one to one)."""
    execution = {e.name for e in endpoints if e.layer == "execution"}
    taken: dict[str, Y] = {}
    for pos, fld, name in pairs:
        if name not in execution:
            ctx.err(pos, fld, f"no adopted execution endpoint {quote(name)} under chains.{cid}.endpoints"
                    + (f" (execution endpoints: {_listing(execution)})" if execution else ""))
        elif name in taken:
            ctx.err(pos, fld, f"{quote(name)} is already paired with a consensus endpoint (line {taken[name].line}): "
                    "an execution client is driven by one consensus client")
        else:
            taken[name] = pos


def _suppliers(ctx: _Ctx, node: Y, protocol: str, chains: set[str], host_names: set[str]) -> tuple[Supplier, ...]:
    items = ctx.seq(node, "suppliers")
    if items is None:
        return ()
    check_addr = shannon_address_problem if protocol == "shannon" else morse_address_problem
    seen_addr: dict[str, Y] = {}
    seen_name: dict[str, Y] = {}
    out: list[Supplier] = []
    explicit = {"name", "operator_address", "owner_address", "services", "host"}
    batch = {"count", "name_prefix", "owner_address", "services", "host"}
    for i, snode in enumerate(items):
        fld = f"suppliers[{i}]"
        is_batch = snode.kind == "map" and "count" in snode.value
        s = ctx.mapping(snode, fld, batch if is_batch else explicit, {"count", "services"} if is_batch else {"operator_address", "services"})
        if s is None:
            continue
        before = len(ctx.errors)

        def address(key: str) -> str | None:
            a = ctx.string(s[key], f"{fld}.{key}")
            if a is None:
                return None
            problem = check_addr(a)
            if problem:
                ctx.err(s[key], f"{fld}.{key}", f"invalid {protocol} address {quote(a)}: {problem}")
                return None
            # bech32 and hex are case-insensitive: one spelling, so a duplicate is seen as one
            # and the address matches the chain's (lower-case) answers.
            return a.lower()

        services: list[str] = []
        if "services" in s:
            for j, item in enumerate(ctx.seq(s["services"], f"{fld}.services", nonempty=True) or []):
                sid = ctx.string(item, f"{fld}.services[{j}]")
                if sid is None:
                    continue
                if sid not in chains:
                    ctx.err(item, f"{fld}.services[{j}]", f"no chain {quote(sid)} under 'chains'" + (f" (defined: {_listing(chains)})" if chains else ""))
                elif sid in services:
                    ctx.err(item, f"{fld}.services[{j}]", f"{quote(sid)} is listed twice")
                else:
                    services.append(sid)
        host = None
        if "host" in s:
            host = ctx.string(s["host"], f"{fld}.host")
            if host is not None and host not in host_names:
                ctx.missing_ref(s["host"], f"{fld}.host", f"no host {quote(host)} in hosts.yml")
        owner = address("owner_address") if "owner_address" in s else None
        if is_batch:
            count = ctx.integer(s["count"], f"{fld}.count", 1, MAX_NEW_SUPPLIERS)
            prefix = ctx.string(s["name_prefix"], f"{fld}.name_prefix", NAME, "a name prefix") if "name_prefix" in s else f"new-{'-'.join(services) or 'supplier'}"
            if count is None or prefix is None or len(ctx.errors) != before:
                continue
            for k in range(1, count + 1):
                name = f"{prefix}-{k}"
                if name in seen_name:
                    ctx.err(snode, fld, f"generated name {quote(name)} clashes with another supplier (first at line {seen_name[name].line}); set name_prefix")
                    break
                seen_name[name] = snode
                out.append(Supplier(name=name, services=tuple(services), owner_address=owner, host=host))
            continue
        op = address("operator_address") if "operator_address" in s else None
        if op is not None and op in seen_addr:
            ctx.err(s["operator_address"], f"{fld}.operator_address", f"{op} appears twice (first at line {seen_addr[op].line})")
        elif op is not None:
            seen_addr[op] = s["operator_address"]
        name = ctx.string(s["name"], f"{fld}.name", NAME, "a name (letters, digits, '.', '-', '_')") if "name" in s else (op[:14] + "…" + op[-4:] if op else None)
        if name is not None and name in seen_name and "name" in s:
            ctx.err(s["name"], f"{fld}.name", f"name {quote(name)} is used twice (first at line {seen_name[name].line})")
        elif name is not None:
            seen_name[name] = s.get("name", snode)
        if len(ctx.errors) == before and op is not None and name is not None:
            out.append(Supplier(name=name, services=tuple(services), operator_address=op, owner_address=owner, host=host))
    return tuple(out)


def _margin(ctx: _Ctx, node: Y, fld: str) -> Margin | None:
    v = node.value if node.kind == "scalar" else None
    if isinstance(v, str) and PERCENT.match(v):
        pct = float(PERCENT.match(v).group(1))  # type: ignore[union-attr]
        if pct > 1000:
            ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (at most 1000%)")
            return None
        return Margin(percent=pct)
    amount = parse_amount(v)
    if amount is None:
        ctx.err(node, fld, f"expected an amount (\"5000 POKT\", \"5000000000upokt\", an integer of upokt) or a percentage of the minimum stake (\"10%\"), got {_kind(node)}")
        return None
    if not _amount_in_range(ctx, node, fld, amount):
        return None
    return Margin(upokt=amount)


def _amount_in_range(ctx: _Ctx, node: Y, fld: str, amount: int) -> bool:
    if amount > MAX_UPOKT:
        ctx.err(node, fld, f"{quote(node.value)} is out of range (at most {MAX_UPOKT // UPOKT_PER_POKT:,} POKT, more than the total supply)")
        return False
    return True


def _stake(ctx: _Ctx, node: Y) -> StakePolicy:
    body = ctx.mapping(node, "stake", {"warning_margin", "critical_margin", "min_operator_balance", "history_db",
                                       "missed_proofs_warning", "missed_proofs_critical", "fee_runway_warning",
                                       "tx_fee"})
    if body is None:
        return StakePolicy()
    default = StakePolicy()
    warning = _margin(ctx, body["warning_margin"], "stake.warning_margin") if "warning_margin" in body else default.warning_margin
    critical = _margin(ctx, body["critical_margin"], "stake.critical_margin") if "critical_margin" in body else default.critical_margin
    balance = default.min_operator_balance_upokt
    if "min_operator_balance" in body:
        b = parse_amount(body["min_operator_balance"].value if body["min_operator_balance"].kind == "scalar" else None)
        if b is None:
            ctx.err(body["min_operator_balance"], "stake.min_operator_balance", "expected an amount such as \"10 POKT\" or an integer of upokt")
        elif _amount_in_range(ctx, body["min_operator_balance"], "stake.min_operator_balance", b):
            balance = b
    history = ctx.string(body["history_db"], "stake.history_db") if "history_db" in body else None
    extra: dict[str, Any] = {}
    for key in ("missed_proofs_warning", "missed_proofs_critical"):
        if key in body and (n := ctx.integer(body[key], f"stake.{key}", 0, 10**12)) is not None:
            extra[key] = n
    if extra.get("missed_proofs_warning", default.missed_proofs_warning) < extra.get(
            "missed_proofs_critical", default.missed_proofs_critical):
        ctx.err(body.get("missed_proofs_warning") or body.get("missed_proofs_critical") or node,
                "stake.missed_proofs_warning", "must be at least missed_proofs_critical (WARNING before CRITICAL)")
    if "fee_runway_warning" in body:
        seconds = _duration(ctx, body["fee_runway_warning"], "stake.fee_runway_warning", hi=3650 * 86400)
        if seconds is not None:
            extra["fee_runway_warning_days"] = seconds / 86400
    if "tx_fee" in body:
        fee_node = body["tx_fee"]
        fee = parse_amount(fee_node.value if fee_node.kind == "scalar" else None)
        if fee is None:
            ctx.err(fee_node, "stake.tx_fee", "expected an amount such as \"1upokt\", \"0.2 POKT\" or an integer of upokt")
        elif _amount_in_range(ctx, fee_node, "stake.tx_fee", fee):
            extra["tx_fee_upokt"] = fee
    if warning and critical:
        same_unit = (warning.upokt is None) == (critical.upokt is None)
        if same_unit and (warning.upokt or warning.percent or 0) < (critical.upokt or critical.percent or 0):
            ctx.err(body.get("warning_margin", node), "stake.warning_margin", f"{warning} is below critical_margin {critical} (WARNING must come before CRITICAL)")
    return StakePolicy(warning_margin=warning or default.warning_margin, critical_margin=critical or default.critical_margin, min_operator_balance_upokt=balance, history_db=history, **extra)


def _duration(ctx: _Ctx, node: Y, fld: str, lo_exclusive: float | None = None, hi: float | None = None) -> float | None:
    v = node.value if node.kind == "scalar" else None
    seconds = parse_duration(v)
    if seconds is None and isinstance(v, (int, float, str)) and not isinstance(v, bool) and parse_duration(v, finite=False) is not None:
        ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (must be a finite duration" + (f" <= {hi:g} s)" if hi is not None else ")"))
        return None
    if seconds is None:
        ctx.err(node, fld, f"expected a duration such as 30s, 5m, 4h, 1d or a number of seconds, got {_kind(node)}")
        return None
    if (lo_exclusive is not None and seconds <= lo_exclusive) or (hi is not None and seconds > hi):
        low = f"> {lo_exclusive:g} s" if lo_exclusive is not None else ""
        high = f"<= {hi:g} s" if hi is not None else ""
        ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (must be {' and '.join(x for x in (low, high) if x)})")
        return None
    return seconds


def _percent(ctx: _Ctx, node: Y, fld: str) -> float | None:
    v = node.value if node.kind == "scalar" else None
    if isinstance(v, str) and PERCENT.match(v):
        pct = float(PERCENT.match(v).group(1))  # type: ignore[union-attr]
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        pct = float(v)
    else:
        ctx.err(node, fld, f"expected a percentage such as \"20%\", got {_kind(node)}")
        return None
    if not 0 <= pct <= 100:
        ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (0% to 100%)")
        return None
    return pct


HEALTH_KEYS = {
    "timeout", "slow", "concurrency", "lag_warning", "lag_critical", "hash_depth", "min_peers",
    "disk_warning", "disk_critical", "memory_warning", "memory_critical", "load_warning",
    "load_critical", "pocket_lag_warning", "pocket_lag_critical", "remediate_rise", "textfile",
    "slot_lag_warning", "slot_lag_critical", "relayminer_error_warning", "relayminer_error_critical",
    "relayminer_dropped_warning", "relayminer_dropped_critical", "relayminer_stall_warning",
    "relayminer_stall_critical",
}


def _health(ctx: _Ctx, node: Y) -> HealthPolicy:
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

    take("timeout", "timeout_s", lambda n, f: _duration(ctx, n, f, lo_exclusive=0, hi=300))
    take("slow", "slow_s", lambda n, f: _duration(ctx, n, f, lo_exclusive=0, hi=300))
    take("concurrency", "concurrency", lambda n, f: ctx.integer(n, f, 1, 10_000))
    for key in ("lag_warning", "lag_critical", "pocket_lag_warning", "pocket_lag_critical", "slot_lag_warning",
                "slot_lag_critical"):
        take(key, key, lambda n, f: ctx.integer(n, f, 1, MAX_LAG_BLOCKS))
    take("hash_depth", "hash_depth", lambda n, f: ctx.integer(n, f, 0, 1000))
    take("min_peers", "min_peers", lambda n, f: ctx.integer(n, f, 0, MAX_PEERS))
    take("remediate_rise", "remediate_rise", lambda n, f: ctx.integer(n, f, 1, 1000))
    for key in ("disk_warning", "disk_critical", "memory_warning", "memory_critical"):
        take(key, f"{key}_pct", lambda n, f: _percent(ctx, n, f))
    for key in ("load_warning", "load_critical"):
        take(key, key, lambda n, f: ctx.number(n, f, lo_exclusive=0, hi=MAX_LOAD_PER_CPU))
    take("textfile", "textfile", lambda n, f: ctx.string(n, f))
    for key in ("relayminer_error_warning", "relayminer_error_critical", "relayminer_dropped_warning",
                "relayminer_dropped_critical"):
        take(key, key, lambda n, f: None if (pct := _percent(ctx, n, f)) is None else pct / 100)
    for key in ("relayminer_stall_warning", "relayminer_stall_critical"):
        take(key, f"{key}_s", lambda n, f: _duration(ctx, n, f, lo_exclusive=0, hi=30 * 86400))
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


ALERT_KEYS = {"after", "renotify", "min_level", "sinks", "deadman_url", "timeout"}
SINK_KEYS = {"type", "name", "url", "url_env", "url_file"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _secret(ctx: _Ctx, body: dict[str, Y], node: Y, fld: str, key: str = "url") -> Secret | None:
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


def _alerts(ctx: _Ctx, node: Y) -> AlertPolicy:
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
        renotify = _duration(ctx, body["renotify"], "alerts.renotify", hi=MAX_RENOTIFY_S)
        if renotify is not None:
            vals["renotify_s"] = renotify
    if "timeout" in body:
        timeout = _duration(ctx, body["timeout"], "alerts.timeout", lo_exclusive=0, hi=120)
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


# ---------------------------------------------------------------------------------------------


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
    view = _HostsView()
    hosts = _load_hosts(root, errors, view)
    hosts_errors = len(errors)
    ctx = _Ctx(str(root / FLEET_FILE), errors, hosts_usable=view.usable)
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
