"""hosts.yml (an Ansible YAML inventory) with its ``group_vars/`` and ``host_vars/``: every host with
its merged variables, and what fleet.yml may refer to (:class:`HostsView`)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetctl.spec import files, yamlsafe
from fleetctl.spec.errors import SpecError, quote
from fleetctl.spec.model import Host
from fleetctl.spec.sections.common import (
    NAME,
    Ctx,
    closest,
    join,
    kind_of,
    listing,
    read_boolean,
    read_capacity,
    read_string_list,
    read_string_map,
)
from fleetctl.spec.yamlsafe import Y

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


class _Group:
    def __init__(self, name: str):
        self.name = name
        self.vars: dict[str, Y] = {}
        self.children: set[str] = set()
        self.hosts: set[str] = set()
        self.parents: set[str] = set()


class HostsView:
    """What fleet.yml may refer to in hosts.yml: every declared host and group, even those
    whose variables have errors (so one bad variable is one error, not one per reference)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.groups: dict[str, set[str]] = {}
        #: False when hosts.yml could not be read at all: references to it are not checked
        self.usable = True


def load_hosts(root: Path, errors: list[SpecError], view: HostsView) -> dict[str, Host]:
    """The hosts with their merged variables; ``view`` gets every declared host and group."""
    path = files.hosts_file(root)
    ctx = Ctx(str(path), errors)
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
            v = ctx.mapping(body["vars"], join(fld, "vars"), set(body["vars"].keys) if body["vars"].kind == "map" else set())
            if v:
                group.vars.update(v)
        if "hosts" in body:
            hnode = body["hosts"]
            if not (hnode.kind == "scalar" and hnode.value is None):
                hosts = ctx.mapping(hnode, join(fld, "hosts"), set(hnode.keys) if hnode.kind == "map" else set())
                for hname, hval in (hosts or {}).items():
                    hfld = join(join(fld, "hosts"), hname)
                    if not NAME.match(hname):
                        ctx.err(hnode.keys[hname], hfld, "host names are letters, digits, '.', '-' and '_'")
                        continue
                    group.hosts.add(hname)
                    host_pos.setdefault(hname, hval)
                    if hval.kind == "scalar" and hval.value is None:
                        host_inline.setdefault(hname, [])
                        continue
                    if hval.kind != "map":
                        ctx.err(hval, hfld, f"expected the host's variables as a mapping, got {kind_of(hval)}")
                        continue
                    host_inline.setdefault(hname, []).append((hval, hfld))
        if "children" in body:
            cnode = body["children"]
            children = ctx.mapping(cnode, join(fld, "children"), set(cnode.keys) if cnode.kind == "map" else set())
            for cname, cval in (children or {}).items():
                if cname == "all":
                    ctx.err(cnode.keys[cname], join(join(fld, "children"), cname), "'all' cannot be a child group")
                    continue
                group.children.add(cname)
                groups.setdefault(cname, _Group(cname)).parents.add(name)
                walk_group(cname, cval, join(join(fld, "children"), cname))

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
            ctx = Ctx(str(f), errors)
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

    def get(key: str, conv: Callable[[Ctx, Y, str], Any]) -> Any:
        nonlocal ok
        if key not in hv:
            return None
        node, fname = hv[key]
        before = len(errors)
        value = conv(Ctx(fname, errors), node, f"{name}.{key}")
        ok = ok and len(errors) == before
        return value

    for key, (node, fname) in hv.items():
        if key.startswith("fleet_") and key not in HOST_FLEET_VARS:
            hint = closest(key, HOST_FLEET_VARS)
            errors.append(SpecError(fname, node.line, node.col, f"{name}.{key}", "unknown fleetctl variable" + (f" (did you mean {quote(hint)}?)" if hint else f"; known: {listing(HOST_FLEET_VARS)}")))
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
    capacity = get("fleet_capacity", read_capacity)
    get("fleet_docker_host", lambda c, n, f: c.string(n, f))
    get("fleet_config_root", lambda c, n, f: c.string(n, f))
    get("fleet_images", lambda c, n, f: read_string_map(c, n, f))
    get("fleet_image_pull", lambda c, n, f: read_boolean(c, n, f))
    get("fleet_node_volumes", lambda c, n, f: read_string_list(c, n, f))
    get("fleet_relayminer_volumes", lambda c, n, f: read_string_list(c, n, f))
    get("fleet_morse_volumes", lambda c, n, f: read_string_list(c, n, f))
    get("fleet_consensus_volumes", lambda c, n, f: read_string_list(c, n, f))
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
