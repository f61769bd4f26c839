"""How the CLI shows library results (tables for people, JSON for pipelines)."""

from __future__ import annotations

from typing import Any

from fleetctl.render import Out
from fleetctl.spec.model import Fleet


def inventory_dict(fleet: Fleet, section: str = "all") -> dict[str, Any]:
    hosts = [
        {
            "name": h.name,
            "address": h.address,
            "port": h.port,
            "user": h.user,
            "groups": list(h.groups),
            "capacity": None if h.capacity is None else {"cpus": h.capacity.cpus, "memory_gb": h.capacity.memory_gb, "disk_gb": h.capacity.disk_gb},
        }
        for h in fleet.hosts.values()
    ]
    chains = [
        {
            "id": c.id,
            "clients": list(c.clients),
            "replicas": c.replicas,
            "max_client_share": c.max_client_share,
            "mode": c.mode,
            "morse_chain_id": c.morse_chain_id,
            "endpoints": [{"name": e.name, "url": e.url, "client": e.client, "host": e.host} for e in c.endpoints],
        }
        for c in fleet.chains.values()
    ]
    suppliers = [
        {
            "name": s.name,
            "operator_address": s.operator_address,
            "owner_address": s.owner_address,
            "services": list(s.services),
            "host": s.host,
            "state": "to-create" if s.planned else "declared",
        }
        for s in fleet.suppliers
    ]
    full = {"protocol": fleet.protocol, "pocket": {k: v for k, v in vars(fleet.pocket).items() if v}, "hosts": hosts, "chains": chains, "suppliers": suppliers}
    if section == "all":
        return full
    return {section: full[section]}


def inventory(out: Out, fleet: Fleet, section: str) -> None:
    data = inventory_dict(fleet, section)
    if out.json:
        out.emit_json(data)
        return
    if section == "all":
        out.line(fleet.summary())
        out.line()
    if "hosts" in data:
        out.table(
            ["host", "address", "groups", "cpus", "memory_gb", "disk_gb"],
            [
                [h["name"], f"{h['user']}@{h['address']}:{h['port']}", ",".join(h["groups"]) or "-",
                 *(("-", "-", "-") if h["capacity"] is None else (f"{h['capacity']['cpus']:g}", f"{h['capacity']['memory_gb']:g}", f"{h['capacity']['disk_gb']:g}"))]
                for h in data["hosts"]
            ],
        )
    if "chains" in data:
        if section == "all":
            out.line()
        out.table(
            ["chain", "clients", "replicas", "max_share", "mode", "morse_id", "adopted"],
            [[c["id"], ",".join(c["clients"]), c["replicas"], f"{c['max_client_share']:g}", c["mode"], c["morse_chain_id"] or "-",
              ", ".join(f"{e['name']}({e['client']})" for e in c["endpoints"]) or "-"] for c in data["chains"]],
        )
    if "suppliers" in data:
        if section == "all":
            out.line()
        out.table(
            ["supplier", "operator_address", "services", "host", "state"],
            [[s["name"], s["operator_address"] or "-", ",".join(s["services"]), s["host"] or "(placed)", s["state"]] for s in data["suppliers"]],
        )


def lab_status(out: Out, status: dict[str, Any]) -> None:
    if out.json:
        out.emit_json(status)
        return
    state = "up" if status["up"] else ("partial" if status.get("partial") else "down")
    out.line(f"lab: {out.paint(state)}   range {status['network']}   blackhole {'yes' if status['blackhole'] else 'NO'}   dir {status['dir']}")
    if status.get("problems"):
        for p in status["problems"]:
            out.line(f"  ! {p}")
    if status["hosts"]:
        out.table(
            ["host", "address", "netns", "sshd", "dockerd", "containers"],
            [[h["name"], h["address"], _yn(h["netns"]), _yn(h["sshd"]), _yn(h["dockerd"]), h.get("containers", "-")] for h in status["hosts"]],
            title="",
        )
    services = status.get("services", [])
    if services:
        out.line()
        out.table(["service", "url", "state"], [[s["name"], s["url"], "up" if s["up"] else "down"] for s in services], status_col=2)


def _yn(v: bool) -> str:
    return "up" if v else "down"


def plan(out: Out, plan: Any, only_changes: bool = False) -> None:
    if out.json:
        out.emit_json(plan.as_dict())
        return
    for host, err in sorted(plan.unreachable.items()):
        out.error(f"{host}: UNREACHABLE: {err}")
    rows = [[a.host, a.action, a.target, a.role, a.chain or "-", a.client or "-", a.reason]
            for a in plan.actions if not (only_changes and a.action == "leave")]
    if rows:
        out.table(["host", "action", "target", "role", "chain", "client", "reason"], rows)
    for note in plan.placement.notes:
        out.info(f"note: {note}")
    by = {k: sum(1 for a in plan.actions if a.action == k) for k in ("create", "recreate", "remove", "leave")}
    out.line(f"plan: {plan.changes} change(s): {by['create']} to create, {by['recreate']} to recreate, "
             f"{by['remove']} to remove, {by['leave']} unchanged" + (" (offline: against an empty fleet)" if plan.offline else ""))


def apply_result(out: Out, result: Any, plan: Any) -> None:
    if out.json:
        doc = result.as_dict()
        doc["plan"] = plan.as_dict()
        out.emit_json(doc)
        return
    out.table(["host", "status", "ok", "changed", "failed"],
              [[h, r.status, r.ok, r.changed, r.failed] for h, r in sorted(result.hosts.items())], status_col=1)
    for h in result.failed_hosts:
        for m in result.hosts[h].messages[:3]:
            out.error(f"{h}: {m}")
    verb = "would change" if result.check else "changed"
    tail = f"; FAILED on {', '.join(result.failed_hosts)} (re-run apply once they are back)" if result.failed_hosts else ""
    out.line(f"apply: {result.changes} {verb} in {result.seconds:.1f} s{tail}")


def diversity(out: Out, report: dict[str, Any]) -> None:
    if out.json:
        out.emit_json(report)
        return
    rows = []
    for cid, c in report["chains"].items():
        for client, n in sorted(c["counts"].items()):
            share = c["shares"].get(client, 0.0)
            status = "WARNING" if client in c["over_quota"] else "OK"
            rows.append([cid, client, n, f"{share:.0%}", f"{c['quota']:.0%}", status])
    out.table(["chain", "client", "nodes", "share", "quota", "status"], rows, status_col=5)
    for note in report["notes"]:
        out.info(f"note: {note}")
    out.line(f"diversity: {out.paint(report['status'])}")
