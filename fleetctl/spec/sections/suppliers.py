"""fleet.yml ``suppliers:``: explicit suppliers (an operator address each) and ``count:`` batches of
identities to create."""

from __future__ import annotations

from fleetctl.spec.address import morse_address_problem, shannon_address_problem
from fleetctl.spec.errors import quote
from fleetctl.spec.model import Supplier
from fleetctl.spec.sections.common import NAME, Ctx, listing
from fleetctl.spec.yamlsafe import Y

MAX_NEW_SUPPLIERS = 10_000  # identities one `count:` entry creates


def load_suppliers(ctx: Ctx, node: Y, protocol: str, chains: set[str], host_names: set[str]) -> tuple[Supplier, ...]:
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
                    ctx.err(item, f"{fld}.services[{j}]", f"no chain {quote(sid)} under 'chains'" + (f" (defined: {listing(chains)})" if chains else ""))
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
                generated = f"{prefix}-{k}"
                if generated in seen_name:
                    ctx.err(snode, fld, f"generated name {quote(generated)} clashes with another supplier (first at line {seen_name[generated].line}); set name_prefix")
                    break
                seen_name[generated] = snode
                out.append(Supplier(name=generated, services=tuple(services), owner_address=owner, host=host))
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
