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
