"""How the CLI shows library results (tables for people, JSON for pipelines)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetctl.render import Out
from fleetctl.spec.model import Fleet

if TYPE_CHECKING:  # the report's type only: the diversity job loads when the command runs
    from fleetctl.plan.diversity import DiversityReport


def inventory_dict(fleet: Fleet, section: str = "all") -> dict[str, Any]:
    """The inventory as ``inventory -o json`` shows it: URLs in their safe form (no user:password,
    no query values, no key-like path segment; :func:`fleetctl.core.redact.safe_url`)."""
    from fleetctl.core.redact import safe_url

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
            "endpoints": [{"name": e.name, "url": safe_url(e.url), "client": e.client, "host": e.host} for e in c.endpoints],
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
    pocket = {k: (safe_url(v) if k.endswith("_url") else v) for k, v in vars(fleet.pocket).items() if v}
    full = {"protocol": fleet.protocol, "pocket": pocket, "hosts": hosts, "chains": chains, "suppliers": suppliers}
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


def diversity(out: Out, report: DiversityReport) -> None:
    """``fleetctl diversity``: a row per chain, layer and client (a client above the quota is
    WARNING), the notes, the overall level; ``-o json``: :meth:`DiversityReport.as_dict`."""
    if out.json:
        out.emit_json(report.as_dict())
        return
    rows = []
    for c in report.chains:
        for layer in (c.execution, c.consensus):
            for client, n in sorted(layer.counts.items()):
                share = round(layer.shares.get(client, 0.0), 4)
                status = "WARNING" if client in layer.over_quota else "OK"
                rows.append([c.chain, layer.layer, client, n, f"{share:.0%}", f"{c.quota:.0%}", status])
    out.table(["chain", "layer", "client", "nodes", "share", "quota", "status"], rows, status_col=6)
    for note in report.notes:
        out.info(f"note: {note}")
    out.line(f"diversity: {out.paint(report.level.name)}")


# ---------------------------------------------------------------------------------------------
# stakes (fleetctl.pocket.stakes computes; these only lay out)
# ---------------------------------------------------------------------------------------------

from typing import TYPE_CHECKING  # noqa: E402 - this section's own imports

from fleetctl.core.units import format_upokt  # noqa: E402

if TYPE_CHECKING:  # importing them for real would load the stake sweep for every command
    from fleetctl.state.stakes import Trend
    from fleetctl.pocket.stakes import StakeReport


def _pokt(amount: int | None) -> str:
    """An upokt amount in POKT without the unit (the table's footer names it); '-' if unknown."""
    return "-" if amount is None else format_upokt(amount).removesuffix(" POKT")


def stakes_unusable(out: Out, problems: list[str], nagios: bool) -> None:
    """The check could not run (no or invalid inventory, unusable history): UNKNOWN."""
    if nagios:
        out.line(f"STAKES UNKNOWN - {problems[0] if problems else 'no inventory'}")
    elif out.json:
        out.emit_json({"status": "UNKNOWN", "message": "; ".join(problems), "suppliers": []})
    elif len(problems) == 1:
        out.error(f"stakes: UNKNOWN: {problems[0]}")
    else:
        for problem in problems:
            out.error(problem)
        out.error(f"stakes: UNKNOWN: {len(problems)} problems above" if problems
                  else "stakes: UNKNOWN: no inventory")


def _nagios_or_json(out: Out, report: Any, nagios: bool) -> bool:
    """Render ``report`` as its Nagios line or as JSON if asked; True when done."""
    if nagios:
        out.line(report.nagios_line())
    elif out.json:
        out.emit_json(report.as_dict())
    return nagios or out.json


def stakes(out: Out, report: StakeReport, nagios: bool = False) -> None:
    """The report as one Nagios line, as JSON, or as a table riskiest first."""
    if _nagios_or_json(out, report, nagios):
        return
    if report.height is None:
        out.error(f"stakes: UNKNOWN: {report.message}")
        return
    rows = []
    for s in report.suppliers:
        chain = "-" if s.chain_status is None else s.chain_status.value
        if s.jailed:
            chain += "+jailed"
        margin_pct = "-" if s.margin_bp is None else f"{s.margin_bp / 100:.2f}%"
        absorbs = "-" if not s.penalties else (
            f"{s.penalties_to_minimum:,}" if s.penalties_to_minimum is not None else "unlimited")
        runway = ("-" if s.fees_per_day_upokt is None or s.balance_upokt is None else
                  "unbounded" if s.fee_runway_days is None else f"{s.fee_runway_days:,.1f} d")
        rows.append([s.name, s.level.name, chain, _pokt(s.stake_upokt), _pokt(s.min_stake_upokt),
                     _pokt(s.margin_upokt), margin_pct, _pokt(s.balance_upokt), absorbs,
                     _pokt(s.topup_upokt) if s.topup_upokt else "-", runway, "; ".join(s.reasons)])
    if rows:
        out.table(["supplier", "status", "chain", "stake", "minimum", "margin", "margin%", "balance",
                   "penalties", "top-up", "fee runway", "reasons"], rows, status_col=1)
        out.info("amounts in POKT; penalties: how many the stake absorbs before it falls below the "
                 "minimum (Shannon: missed proofs until auto-unstake); top-up: what restores the warning "
                 "margin; fee runway: days the operator balance pays its claim and proof fees")
        sources = list(dict.fromkeys(s.fee_source.split(":")[0] for s in report.suppliers if s.fee_source))
        if sources:
            out.info("fees a day from: " + ", ".join(sources) + " (-o json: fee_source per supplier)")
    if report.skipped_planned:
        out.info(f"{report.skipped_planned} planned supplier(s) skipped (no operator address yet)")
    out.info(f"history: recorded in {report.history_db}" if report.recorded
             else f"history: not recorded ({report.history_db})")
    out.line(f"stakes: {out.paint(report.status.name)} at height {report.height} - {report.summary()}")


def stake_trend(out: Out, trend: Trend, nagios: bool = False) -> None:
    """One supplier's recorded changes and the slashes in them."""
    summary = trend.summary()
    if nagios:
        out.line(f"STAKES {trend.level.name} - {summary}")
        return
    if out.json:
        out.emit_json(trend.as_dict())
        return
    if not trend.samples:
        out.error(f"stakes: no history for {trend.address} in {trend.db}")
        return
    slashed = {x.sample_index: x.amount_upokt for x in trend.slashes}
    rows = []
    for index, sample in enumerate(trend.samples):
        r = sample.record
        slash = slashed.get(index)
        rows.append([sample.checked_at, sample.height if sample.height is not None else "-",
                     r.status, r.chain_status or "-", _pokt(r.stake_upokt),
                     f"-{_pokt(slash)}" if slash else "", _pokt(r.balance_upokt),
                     "; ".join(r.reasons)])
    out.table(["checked_at", "height", "status", "chain", "stake", "slashed", "balance", "reasons"],
              rows, status_col=2)
    for x in trend.slashes:
        out.line(f"{out.paint('WARNING')}: slashed {_pokt(x.amount_upokt)} POKT at {x.checked_at} "
                 f"(height {x.height}): {_pokt(x.stake_before_upokt)} -> {_pokt(x.stake_after_upokt)}")
    out.line(f"history: {out.paint(trend.level.name)} - {summary} ({trend.db})")


def claims_unusable(out: Out, problem: str, nagios: bool) -> None:
    """``fleetctl claims`` could not run (no inventory, a Morse fleet, …): UNKNOWN."""
    if nagios:
        out.line(f"CLAIMS UNKNOWN - {problem}".replace("|", "/"))
    elif out.json:
        out.emit_json({"status": "UNKNOWN", "message": problem, "rows": [], "at_risk": []})
    else:
        out.error(f"claims: UNKNOWN: {problem}")


def claims(out: Out, report: Any, nagios: bool = False) -> None:
    """Per supplier and service: the last sessions and the last 24 h; then the proofs pending."""
    if _nagios_or_json(out, report, nagios):
        return
    if report.latest_height is None:
        out.error(f"claims: UNKNOWN: {report.message}")
        return

    def lost(t: Any) -> str:
        return ", ".join(f"{r} {v:,}" for r, v in sorted(t.lost_upokt.items())) or "-"

    rows = []
    for r in report.rows:
        for window, t in (("sessions", r.sessions), ("24h", r.day)):
            rows.append([r.name, r.service, window, f"{t.claims:,}", f"{t.relays:,}",
                         f"{t.compute_units:,}", f"{t.claimed_upokt:,}", f"{t.proven_upokt:,}",
                         f"{t.settled_upokt:,}", lost(t),
                         f"{t.slashes} (-{t.slashed_upokt:,})" if t.slashes else "0"])
    if rows:
        out.table(["supplier", "service", "window", "claims", "relays", "CUs", "claimed", "proven",
                   "settled", "lost by reason", "slashes"], rows)
        ends = ", ".join(str(e) for e in report.session_ends)
        time_note = "assumed 30 s blocks" if report.block_time_assumed else "the node's block time"
        out.info(f"amounts in upokt; sessions: ending at {ends or '-'}; 24h: the last "
                 f"{report.blocks_per_day:,} blocks ({time_note})")
    else:
        out.info("no claims of the fleet's suppliers in the blocks read")
    if report.at_risk:
        out.table(["supplier", "service", "session end", "claimed", "proof", "window", "blocks left",
                   "status"],
                  [[a.name, a.service, a.session_end, f"{a.claimed_upokt:,}",
                    "required" if a.requirement == "THRESHOLD" else "possibly (probabilistic)",
                    f"{a.proof_window[0]}-{a.proof_window[1]}", a.blocks_left, a.level.name]
                   for a in report.at_risk], status_col=7)
    for name, level, message in report.checks:
        if level.name != "OK":
            out.line(f"{out.paint(level.name)}: {name}: {message}")
    for note in report.notes:
        out.info(f"note: {note}")
    sync = report.sync
    if sync is not None and sync.first is not None:
        out.info(f"read blocks {sync.first:,}-{sync.last:,} ({sync.blocks_read:,} blocks, "
                 f"{sync.fleet_events:,} fleet events, {sync.stored:,} new) from {sync.endpoint}; "
                 + (f"stored in {report.history_db}" if sync.recorded else "not stored (--no-record)"))
    out.line(f"claims: {out.paint(report.status.name)} at height {report.latest_height} - {report.summary()}")


def _health_target(check: Any) -> str:
    """Suppliers by name (the JSON keeps the address as the target)."""
    name = check.facts.get("name") if check.kind == "stake" else None
    return f"{name} ({check.target[:10]}…{check.target[-4:]})" if name and len(check.target) > 16 else check.target


def health(out: Out, report: Any, nagios: bool = False) -> None:
    """The health report as one Nagios line, as JSON, or as a table of the problems (every
    check with -v) and a count of the checks that are OK."""
    if _nagios_or_json(out, report, nagios):
        return
    if report.error is not None:
        out.line(f"health: {out.paint('UNKNOWN')} in {report.duration_s:.2f} s - {report.error}")
        return
    ordered = report.ordered()
    shown = ordered if out.verbose else [c for c in ordered if c.level.name != "OK"]
    if shown:
        out.table(["status", "kind", "target", "message"],
                  [[c.level.name, c.kind, _health_target(c), c.message] for c in shown], status_col=0)
    ok: dict[str, int] = {}
    for c in ordered:
        if c.level.name == "OK":
            ok[c.kind] = ok.get(c.kind, 0) + 1
    if ok and not out.verbose:
        out.info("OK: " + ", ".join(f"{n} {kind}" for kind, n in ok.items()) + " (-v lists them)")
    for action in report.remediation:  # actions are results: shown even with -q
        out.error(f"remediation: {action.get('message')}")
    alerts = report.alerts or {}
    if alerts.get("sent") or alerts.get("errors"):
        out.info(f"alerts: {alerts.get('sent', 0)} notification(s) sent" +
                 "".join(f"; {e}" for e in alerts.get("errors", [])))
    for note in report.notes:
        out.info(note)
    out.line(f"health: {out.paint(report.status.name)} in {report.duration_s:.2f} s - {report.summary()}")


def scale(out: Out, model: Any, added: list[Any] | None = None) -> None:
    """The what-if table of `fleetctl scale` (the target row marked), or its JSON."""
    doc = model.as_dict()
    if added is not None:
        doc["added"] = [{"name": i.name, "host": i.host, "operator_address": i.operator_address,
                         "owner_address": i.owner_address, "services": list(i.services)} for i in added]
    if out.json:
        out.emit_json(doc)
        if (missing := model.missing_note()) is not None:
            out.info(missing)
        return
    v = model.view
    apps = model.assumptions["apps"]["value"]
    out.line(f"{v.service} ({v.protocol}): N={v.n_with_ours:,} eligible (ours {v.current}, {v.ours_on_chain} staked), "
             f"K={v.per_session} per session, {v.blocks_per_session} blocks per session, "
             + (f"{apps:,} apps" if apps is not None else "apps unknown"))

    def pokt(upokt: Any) -> str:
        """Whole POKT with thousands separators, and up to 6 decimals (exact: integer upokt)."""
        if upokt is None:
            return "-"
        whole, frac = divmod(int(upokt), 1_000_000)
        return f"{whole:,}" + (f".{frac:06d}".rstrip("0") if frac else "")

    def num(x: Any, fmt: str = ",.1f") -> str:
        return "-" if x is None else format(float(x), fmt)

    per_day = apps is not None  # the per-day figures need the applications' count
    rows = []
    for r in doc["rows"]:
        mark = "*" if model.target is not None and r["m"] == model.target else ""
        row = [f"{r['m']}{mark}", f"{r['N']:,}", f"{100 * r['p_session']:.2f}%", num(r["expected_per_session"], ".3f")]
        if per_day:
            row += [num(r["sessions_per_day"]), num(r.get("relays_per_day"), ",.0f"), pokt(r.get("rewards_upokt_per_day"))]
        else:
            row += [pokt(r.get("rewards_upokt_per_session"))]
        row += [pokt(r.get("stake_upokt")), f"+{100 * (r.get('marginal_p') or 0):.2f}%"]
        if per_day:
            row += [pokt(r.get("marginal_rewards_upokt_per_day"))]
        rows.append(row)
    headers = ["m", "N", "share", "ours/session"]
    headers += ["sessions/day", "relays/day", "POKT/day"] if per_day else ["POKT/session"]
    headers += ["stake to lock", "next +1 share"] + (["next +1 POKT/day"] if per_day else [])
    out.table(headers, rows)
    for name, a in model.assumptions.items():
        if isinstance(a, dict) and a.get("from", "").startswith(("default", "observed")):
            out.info(f"assumed {name} = {a['value']} ({a['from']})")
    for note in v.notes:
        out.info(f"note: {note}")
    if (missing := model.missing_note()) is not None:
        out.error(missing)  # not silenced by -q: the table lacks columns for it
    if model.target is not None:
        out.line(f"scale: {model.how}: {model.target} identities ({model.target - v.current:+d})")
    for i in added or []:
        out.line(f"added {i.name} on {i.host}: {i.operator_address}")


def preflight_unusable(out: Out, problems: list[str]) -> None:
    """Preflight could not run (no or invalid inventory, a bad option): one line each, exit 1."""
    problems = problems or ["no inventory"]
    if out.json:
        out.emit_json({"status": "WARNING", "exit_code": 1, "message": "; ".join(problems), "problems": []})
        return
    for problem in problems[:-1]:
        out.error(problem)
    out.error(f"preflight: not checked: {problems[-1]}")


def preflight(out: Out, report: Any) -> None:
    """One line per problem (stdout; -q keeps them), then the summary; -o json: the report."""
    if out.json:
        out.emit_json(report.as_dict())
        return
    for problem in report.problems:
        line = problem.line()
        kind, _, rest = line.partition(":")
        status = {"SANCTION": "CRITICAL", "WARNING": "WARNING"}.get(kind, "UNKNOWN")
        out.line(f"{out.paint(kind, status)}:{rest}")
    for note in report.notes:
        out.info(f"preflight: note: {note}")
    if report.message and report.problems:
        out.error(f"preflight: {report.message}")
    summary = report.summary()
    if report.exit_code == 0:
        out.line(summary)
    elif report.message and not report.problems:
        out.error(summary)
    else:
        out.line(summary)
