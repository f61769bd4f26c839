"""The ``fleetctl`` command line: parse, call the library, render, exit code.

Start-up is kept light (cron runs ``fleetctl health`` every minute): only argparse and the
standard library are imported here; each command imports what it needs when it runs, so
``fleetctl --help`` and ``fleetctl validate`` never import docker, paramiko, textual or
ansible_runner.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from fleetctl import __version__

from fleetctl.core.errors import FleetError, UserError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _add_common(p: argparse.ArgumentParser, suppress: bool) -> None:
    """Global options, accepted before or after the command (``fleetctl -o json validate`` or
    ``fleetctl validate -o json``); after the command they default to SUPPRESS so they do not
    overwrite values given before it."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    g = p.add_argument_group("global options")
    g.add_argument("-i", "--inventory", metavar="PATH", default=d(None),
                   help="inventory folder (hosts.yml + fleet.yml); default $FLEETCTL_INVENTORY")
    g.add_argument("-o", "--output", choices=("table", "json"), default=d("table"), help="output format")
    g.add_argument("-q", "--quiet", action="store_true", default=d(False), help="only results and errors")
    g.add_argument("-v", "--verbose", action="count", default=d(0), help="more detail (repeat for more)")
    g.add_argument("--no-color", action="store_true", default=d(False), help="no ANSI colours (also $NO_COLOR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetctl",
        description="Fleet manager for Pocket Network node operators: diverse full nodes behind "
        "Pocket nodes, horizontal scaling, stake and health monitoring.",
        epilog="Exit codes: 0 ok, 1 error, 2 usage or invalid inventory; health/stakes follow Nagios (0-3).",
    )
    parser.add_argument("--version", action="version", version=f"fleetctl {__version__}")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _add_common(p, suppress=True)
        p.set_defaults(func=func)
        return p

    command("validate", "check an inventory without touching anything", cmd_validate)
    p = command("inventory", "show the inventory's hosts, chains and suppliers", cmd_inventory)
    p.add_argument("section", nargs="?", choices=("all", "hosts", "chains", "suppliers"), default="all")

    p = command("plan", "what apply would change: desired (fleet.yml) against what runs", cmd_plan)
    p.add_argument("--offline", action="store_true", help="plan against an empty fleet without connecting anywhere")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 0 no changes, 2 changes, 1 error (as Terraform)")
    p.add_argument("--vars-out", metavar="FILE", help="also write the playbooks' variables as an inventory file, for "
                   "`ansible-playbook -i HOSTS.yml -i FILE playbooks/site.yml`")
    p = command("apply", "converge the fleet to fleet.yml through the playbooks (ansible-runner)", cmd_apply)
    p.add_argument("--check", action="store_true", help="dry run: report what would change, change nothing")
    p.add_argument("--diff", action="store_true", help="show file differences (with --check: change nothing)")
    p.add_argument("--limit", metavar="HOSTS", help="only these hosts (comma-separated)")
    p.add_argument("--forks", type=int, metavar="N", help="hosts in parallel (Ansible forks)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    p.add_argument("--strategy", choices=("auto", "mitogen", "pipelining", "default"), default="auto",
                   help="how Ansible reaches hosts: auto (mitogen if installed, else pipelining; the default), "
                   "mitogen, pipelining, or default (Ansible's own settings)")
    command("diversity", "each client's share of the running full nodes per chain and layer (execution, consensus), against the quota", cmd_diversity)
    p = command("stakes", "stake, margin, penalties and operator balance of every supplier against fleet.yml's "
                "stake thresholds; exit code is Nagios (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)", cmd_stakes)
    p.add_argument("--history", metavar="ADDRESS", help="show the recorded trend of one supplier (address or name) "
                   "and the slashes in it, without querying the chain")
    p.add_argument("--db", metavar="PATH", help="history store (default: stake.history_db in fleet.yml, else "
                   "$FLEETCTL_STATE_DIR/fleetctl.db, else ~/.local/state/fleetctl/fleetctl.db)")
    p.add_argument("--concurrency", type=_positive(int), metavar="N", help="queries in flight (default 64)")
    p.add_argument("--timeout", type=_positive(float), metavar="S",
                   help="seconds per request (default 5); the whole sweep gives up after 4 times that")
    p.add_argument("--no-record", action="store_true", help="compare with the history without appending this run")
    p.add_argument("--nagios", action="store_true", help="print only the Nagios status line, with perfdata")

    p = command("preflight", "will the suppliers be served and paid for: services on chain against the RelayMiner "
                "config fleetctl writes, operator account and public key, balance against fees, the RelayMiners' "
                "node URLs, each backend through its balancer; one line per problem; exit 0 OK, 1 warnings "
                "(or bad input), 2 something would be sanctioned", cmd_preflight)
    p.add_argument("--only", metavar="NAME,...", help="only these suppliers (names in fleet.yml)")
    p.add_argument("--timeout", metavar="S", help="seconds per request (default 5)")
    p.add_argument("--concurrency", metavar="N", help="requests in flight (default 64)")
    p.add_argument("--fee-per-tx", metavar="AMOUNT", help="fee of one claim or proof transaction (default "
                   "300000 upokt: 200,000 gas at 1 upokt x 1.5, an upper bound)")

    p = command("claims", "what the chain paid and took per supplier and service (claims, proofs, settlements, "
                "expired claims, slashes; Shannon only) and the proofs still missing, from the node's "
                "/block_results since the last run; exit code is Nagios (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
                cmd_claims)
    p.add_argument("--db", metavar="PATH", help="state store (default as for stakes)")
    p.add_argument("--backfill", type=_positive(int), metavar="N",
                   help="blocks read back from the latest on the first run (default 1000)")
    p.add_argument("--sessions", type=_positive(int), metavar="N", help="the last N sessions in the table (default 4)")
    p.add_argument("--warn-blocks", type=_positive(int), metavar="N", help="WARNING when a required proof is "
                   "missing and its window closes within N blocks (default half the proof window)")
    p.add_argument("--concurrency", type=_positive(int), metavar="N", help="blocks read at once, in batches of 10 (default 128; 1: one by one)")
    p.add_argument("--timeout", type=_positive(float), metavar="S", help="seconds per request (default 5)")
    p.add_argument("--no-record", action="store_true", help="read and report without storing the events")
    p.add_argument("--nagios", action="store_true", help="print only the Nagios status line, with perfdata")

    p = command("health", "check everything in the fleet at once: execution clients (sync, lag, block-hash "
                "agreement, peers, version), balancers, RelayMiners, Pocket nodes, stakes and hosts; "
                "exit code is Nagios (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)", cmd_health)
    p.add_argument("--nagios", action="store_true", help="print only the Nagios status line, with perfdata")
    p.add_argument("--prom-file", metavar="PATH", help="also write the metrics in Prometheus text format for "
                   "node_exporter's textfile collector (atomically; default health.textfile in fleet.yml)")
    p.add_argument("--timeout", type=_positive(float), metavar="S",
                   help="seconds per check (default health.timeout, 3); the whole sweep ends within 3x that + 1 s")
    p.add_argument("--concurrency", type=_positive(int), metavar="N", help="requests in flight (default 128)")
    p.add_argument("--db", metavar="PATH", help="state store: stake history, alerts, remediation (default as for stakes)")
    p.add_argument("--remediate", action="store_true", help="take DIVERGED, lagging or syncing backends out of "
                   "their balancer's rotation and put them back once healthy (never the last healthy one)")
    p.add_argument("--no-alerts", action="store_true", help="check only: no alert state, no notifications, "
                   "no dead-man's switch ping")
    p.add_argument("--no-record", action="store_true", help="change no state (stake history, alerts, remediation)")

    p = command("scale", "how many identities to add to win more sessions, what they cost and earn "
                "(--what-if, the default), and adding them (--apply)", cmd_scale)
    p.add_argument("--service", required=True, metavar="ID", help="the chain (service id) in fleet.yml")
    p.add_argument("--what-if", action="store_true", help="print the table (the default without --apply)")
    p.add_argument("--rows", type=_positive(int), default=10, metavar="K", help="rows for current … current+K (default 10)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--target-share", metavar="P", help="the smallest count whose session share reaches P (0.5 or 50%%)")
    how.add_argument("--add", type=_positive(int), metavar="N", help="add N identities")
    how.add_argument("--budget", metavar="POKT", help="as many identities as this stake budget allows (\"120000 POKT\")")
    p.add_argument("--relays-per-session", type=_positive(float), metavar="R",
                   help="relays one of ours serves per session it is in (your observed figure; default 100)")
    p.add_argument("--upokt-per-relay", type=_positive(float), metavar="X", help="override the chain's reward per relay")
    p.add_argument("--apps", type=int, metavar="N", help="applications staked for the service (default: from the chain; "
                   "when the chain does not list them the what-if leaves out the figures per day, says so and exits 0)")
    p.add_argument("--block-time", type=_positive(float), metavar="S", help="seconds per block (default 30 Shannon, 900 Morse)")
    p.add_argument("--stake", metavar="AMOUNT", help="stake per new identity (default: minimum + warning margin + 1 upokt)")
    p.add_argument("--timeout", type=_positive(float), default=5.0, metavar="S", help="seconds per chain query")
    p.add_argument("--apply", action="store_true", help="make the keys on the hosts, add the identities to fleet.yml "
                   "and apply (staking is `fleetctl stake --batch`)")
    p.add_argument("--yes", "-y", action="store_true", help="with --apply: do not ask (needed without a terminal)")
    p.add_argument("--owner", metavar="ADDRESS", help="owner address of the new identities (default: the service's one owner)")
    p.add_argument("--name-prefix", metavar="P", help="names P-1, P-2, … (default <service>-sup)")
    p.add_argument("--host", action="append", metavar="NAME", help="place the new identities on these hosts only")
    p.add_argument("--names", metavar="NAME,...", help="keyring names of the new identities, instead of <prefix>-N")
    p.add_argument("--imported", action="store_true", help="the keys exist already in the RelayMiners' keyrings "
                   "(imported by you): use them, make none")

    from fleetctl.health import alerts_cli

    alerts_cli.add_parser(sub, _add_common)

    from fleetctl.pocket import staking_cli

    staking_cli.add_parser(sub, _add_common)

    p = command("exporter", "serve the health sweep's metrics on /metrics for Prometheus, sweeping in the "
                "background (binds to 127.0.0.1 unless --listen says otherwise)", cmd_exporter)
    p.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9877", help="where to serve (default 127.0.0.1:9877)")
    p.add_argument("--interval", type=_positive(float), metavar="S", default=60.0, help="seconds between sweeps (default 60)")
    p.add_argument("--timeout", type=_positive(float), metavar="S", help="seconds per check (default health.timeout)")
    p.add_argument("--concurrency", type=_positive(int), metavar="N", help="requests in flight (default 128)")
    p.add_argument("--db", metavar="PATH", help="state store (stake history), as for health")

    lab = command("lab", "the local lab: a small real fleet on this machine (root)", cmd_lab_help)
    labsub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    for name, help_text, func in (
        ("up", "build the lab (idempotent)", cmd_lab_up),
        ("down", "tear the lab down; leaves no process, namespace or mount", cmd_lab_down),
        ("status", "what is up", cmd_lab_status),
    ):
        lp = labsub.add_parser(name, help=help_text, description=help_text)
        _add_common(lp, suppress=True)
        lp.set_defaults(func=func)
    fp = labsub.add_parser("fault", help="make a lab client front misbehave (or --clear)",
                           description="make a lab client front misbehave (or --clear): an execution front "
                                       "(lab-h1-geth), a consensus front (lab-h1-lighthouse), or a provisioned "
                                       "node's container by name (<erigon container>-caplin for its Caplin)")
    _add_common(fp, suppress=True)
    fp.set_defaults(func=cmd_lab_fault)
    fp.add_argument("front", help="front name from `fleetctl lab status` (e.g. lab-h1-geth, lab-h1-lighthouse) "
                                  "or a provisioned container's name")
    fp.add_argument("--relayminer", choices=("skip_claims", "skip_proofs", "drop_relays", "none"),
                    help="a provisioned RelayMiner (HOST/relayminer, e.g. lab-h2/relayminer): skip its claims or "
                         "proofs, drop its relays, or none")
    fp.add_argument("--lag", type=int, metavar="N", help="serve a head N blocks (slots) behind")
    fp.add_argument("--syncing", choices=("on", "off"), help="report syncing (eth_syncing; Beacon API is_syncing)")
    fp.add_argument("--optimistic", choices=("on", "off"), help="consensus: is_optimistic / execution_optimistic")
    fp.add_argument("--el-offline", choices=("on", "off"), help="consensus: el_offline, the head stops")
    fp.add_argument("--finalized-root-other", choices=("on", "off"), help="consensus: another finalized root (another chain)")
    fp.add_argument("--peers", type=int, metavar="N", help="report N peers")
    fp.add_argument("--not-initialized", choices=("on", "off"), help="consensus: /eth/v1/node/health answers 503")
    fp.add_argument("--diverge-at", type=int, metavar="HEIGHT", help="serve a different chain from HEIGHT on")
    fp.add_argument("--delay-ms", type=int, metavar="MS", help="answer slowly")
    fp.add_argument("--error", choices=("rpc", "http", "off"), help="answer with JSON-RPC or HTTP errors")
    fp.add_argument("--garbage", choices=("on", "off"), help="answer with a body that is not JSON")
    fp.add_argument("--refuse", choices=("on", "off"), help="refuse connections")
    fp.add_argument("--clear", action="store_true", help="remove every fault")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    from fleetctl.render import Out

    out = Out(fmt=args.output, quiet=args.quiet, verbose=args.verbose, color=False if args.no_color else None)
    args.out = out
    try:
        return args.func(args)
    except FleetError as exc:
        out.error(f"fleetctl: {exc}")
        return exc.code
    except KeyboardInterrupt:
        out.error("fleetctl: interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`fleetctl ... | head`); nothing left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def _inventory_path(args: argparse.Namespace) -> str:
    path = args.inventory or os.environ.get("FLEETCTL_INVENTORY")
    if not path:
        raise UserError("no inventory: pass -i PATH or set FLEETCTL_INVENTORY (see inventories/example)")
    return path


def _load(args: argparse.Namespace):
    """Load the inventory or print every error (one line each) and exit 2."""
    from fleetctl.spec.cache import load_inventory_cached
    from fleetctl.spec.errors import InventoryError

    try:
        return load_inventory_cached(_inventory_path(args)), None
    except InventoryError as exc:
        return None, exc.errors


def cmd_validate(args: argparse.Namespace) -> int:
    out = args.out
    fleet, errors = _load(args)
    if out.json:
        out.emit_json({"ok": fleet is not None, "summary": fleet.summary() if fleet else None,
                       "errors": [e.as_dict() for e in errors or []]})
    elif fleet is not None:
        out.line(f"{out.paint('ok', 'OK')}: {fleet.summary()}")
    else:
        for e in errors or []:
            out.error(str(e))
    return EXIT_OK if fleet is not None else EXIT_USAGE


def cmd_inventory(args: argparse.Namespace) -> int:
    from fleetctl import views

    out = args.out
    fleet, errors = _load(args)
    if fleet is None:
        for e in errors or []:
            out.error(str(e))
        return EXIT_USAGE
    views.inventory(out, fleet, args.section)
    return EXIT_OK


def _load_or_exit(args: argparse.Namespace):
    fleet, errors = _load(args)
    if fleet is None:
        for e in errors or []:
            args.out.error(str(e))
        raise SystemExit(EXIT_USAGE)
    return fleet


def _make_plan(args: argparse.Namespace, fleet, offline: bool = False):
    from fleetctl.plan.diff import make_plan
    from fleetctl.plan.model import Infeasible

    try:
        return make_plan(fleet, offline=offline, progress=args.out.debug)
    except Infeasible as exc:
        for reason in exc.reasons:
            args.out.error(f"infeasible: {reason}")
        raise SystemExit(EXIT_ERROR) from None


def cmd_plan(args: argparse.Namespace) -> int:
    from fleetctl import views

    fleet = _load_or_exit(args)
    plan = _make_plan(args, fleet, offline=args.offline)
    if args.vars_out:
        from fleetctl.provision.apply import write_vars_inventory

        write_vars_inventory(args.vars_out, plan.vars)
    views.plan(args.out, plan)
    if plan.unreachable:
        return EXIT_ERROR
    if args.detailed_exitcode:
        return 2 if plan.changes else EXIT_OK
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from fleetctl import views
    from fleetctl.provision.apply import Progress, run_playbooks

    out = args.out
    fleet = _load_or_exit(args)
    limit = [h.strip() for h in args.limit.split(",") if h.strip()] if args.limit else None
    for h in limit or []:
        if h not in fleet.hosts:
            raise UserError(f"--limit: no host {h!r} in the inventory")
    plan = _make_plan(args, fleet)
    if not out.json:
        views.plan(out, plan, only_changes=True)
    if not args.check and not args.yes:
        if not sys.stdin.isatty():
            raise UserError("apply: no terminal to confirm on; pass --yes to apply without asking")
    if plan.changes and not args.check and not args.yes:
        answer = input(f"Apply {plan.changes} change(s) to {len(plan.changed_hosts())} host(s)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.error("apply: cancelled, nothing changed")
            return EXIT_ERROR
    hosts = limit or sorted(fleet.hosts)
    progress = Progress(hosts, stream=out.err, quiet=out.quiet or out.json)
    result = run_playbooks(fleet, plan.vars, check=args.check, diff=args.diff, limit=limit, forks=args.forks,
                           strategy=args.strategy, progress=progress)
    views.apply_result(out, result, plan)
    return EXIT_OK if not result.failed_hosts and not plan.unreachable else EXIT_ERROR


def cmd_scale(args: argparse.Namespace) -> int:
    import asyncio

    from fleetctl import views
    from fleetctl.plan import scale

    out = args.out
    scale.check_options(target_share=args.target_share, budget=args.budget, stake=args.stake, apps=args.apps)
    fleet = _load_or_exit(args)
    view = asyncio.run(scale.read_service(fleet, args.service, timeout=args.timeout))
    model = scale.model_for(fleet, view, rows=args.rows, relays_per_session=args.relays_per_session,
                            upokt_per_relay=args.upokt_per_relay, apps=args.apps, block_time_s=args.block_time,
                            stake=args.stake, target_share=args.target_share, add=args.add, budget=args.budget)
    if not args.apply:
        views.scale(out, model)
        return EXIT_OK
    if model.target is None:
        raise UserError("scale --apply: say how many: --target-share, --add or --budget")
    to_add = model.target - view.current
    if to_add <= 0:
        views.scale(out, model)
        out.info(f"scale: {view.current} identities already reach the target: nothing to add")
        return EXIT_OK
    scale.check_capacity(fleet, args.service, model)
    names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
    identities = scale.plan_new_identities(fleet, args.service, to_add, prefix=args.name_prefix,
                                           owner=args.owner, hosts=args.host, names=names)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("scale --apply: no terminal to confirm on; pass --yes")
        where = ", ".join(f"{i.name} on {i.host}" for i in identities)
        if input(f"Add {to_add} identit{'y' if to_add == 1 else 'ies'} ({where})? [y/N] ").strip().lower() not in ("y", "yes"):
            out.error("scale: cancelled, nothing changed")
            return EXIT_ERROR
    created = asyncio.run(scale.create_keys(fleet, identities, on_step=out.info, imported=args.imported))
    backup = scale.add_to_inventory(fleet, created)
    if backup is not None:
        out.info(f"scale: fleet.yml updated ({len(created)} suppliers added; previous version in {backup.name})")
    fleet = _load_or_exit(args)
    code = _apply_plan(args, fleet, check=False)
    views.scale(out, model, added=created)
    out.info("scale: next, fund each new operator with its stake and fees, then stake them: fleetctl stake --batch "
             "--keyring relayminer (a dry run; --execute --host NAME stakes)")
    return code


def _apply_plan(args: argparse.Namespace, fleet, *, check: bool, limit: list[str] | None = None) -> int:
    """Plan and run the playbooks (what `apply --yes` does), rendering the result."""
    from fleetctl import views
    from fleetctl.provision.apply import Progress, run_playbooks

    out = args.out
    plan = _make_plan(args, fleet)
    if not out.json:
        views.plan(out, plan, only_changes=True)
    hosts = limit or sorted(fleet.hosts)
    progress = Progress(hosts, stream=out.err, quiet=out.quiet or out.json)
    result = run_playbooks(fleet, plan.vars, check=check, diff=getattr(args, "diff", False), limit=limit,
                           forks=getattr(args, "forks", None), strategy=getattr(args, "strategy", "auto"),
                           progress=progress)
    if not out.json:
        views.apply_result(out, result, plan)
    return EXIT_OK if not result.failed_hosts and not plan.unreachable else EXIT_ERROR


def cmd_diversity(args: argparse.Namespace) -> int:
    from fleetctl import views
    from fleetctl.plan.diversity import diversity
    from fleetctl.provision.observe import observe

    fleet = _load_or_exit(args)
    report = diversity(fleet, observe(fleet))
    views.diversity(args.out, report)
    return {"OK": 0, "WARNING": 1, "CRITICAL": 2}.get(report["status"], 3)


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` above zero."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value
    return parse


def cmd_stakes(args: argparse.Namespace) -> int:
    from fleetctl import views

    try:
        return _stakes(args)
    except Exception as exc:  # noqa: BLE001 - stakes always ends with its status line and 0-3
        from fleetctl.core.redact import scrub

        views.stakes_unusable(args.out, [scrub(f"internal error ({type(exc).__name__}: {exc})",
                                               sink_style=False, limit=300)], nagios=args.nagios)
        return 3


def _stakes(args: argparse.Namespace) -> int:
    from fleetctl import views

    out = args.out
    fleet = None
    # --history with --db reads only the store: the inventory is optional then.
    if not (args.history and args.db) or args.inventory or os.environ.get("FLEETCTL_INVENTORY"):
        try:
            fleet, errors = _load(args)
        except UserError as exc:
            fleet, errors = None, [exc]
        if fleet is None:
            views.stakes_unusable(out, [str(e) for e in errors or []], nagios=args.nagios)
            return 3
    if args.history:
        from fleetctl.pocket.history import HistoryError, trend_for

        try:
            trend = trend_for(args.history, fleet, args.db, busy_timeout_s=args.timeout or 5.0)
        except HistoryError as exc:
            views.stakes_unusable(out, [f"history unavailable: {exc}"], nagios=args.nagios)
            return 3
        views.stake_trend(out, trend, nagios=args.nagios)
        return int(trend.level)
    from fleetctl.pocket import stakes

    assert fleet is not None
    report = stakes.check_stakes(
        fleet,
        concurrency=args.concurrency or stakes.DEFAULT_CONCURRENCY,
        timeout=args.timeout or stakes.DEFAULT_TIMEOUT_S,
        db=args.db,
        record=not args.no_record,
    )
    views.stakes(out, report, nagios=args.nagios)
    return report.exit_code


def cmd_preflight(args: argparse.Namespace) -> int:
    """Exit 0 / 1 / 2 whatever happens: bad input and anything unforeseen are 1 (never 2, which
    means "would be sanctioned"), with one line and no traceback."""
    from fleetctl import views

    try:
        return _preflight(args)
    except Exception as exc:  # noqa: BLE001 - preflight always ends with one line and 0-2
        from fleetctl.core.redact import scrub

        text = str(exc) if isinstance(exc, FleetError) else f"internal error ({type(exc).__name__}: {exc})"
        views.preflight_unusable(args.out, [scrub(text, sink_style=False, limit=300)])
        return 1


def _preflight(args: argparse.Namespace) -> int:
    from fleetctl import views

    out = args.out
    try:
        timeout = float(args.timeout) if args.timeout is not None else 5.0
        concurrency = int(args.concurrency) if args.concurrency is not None else 64
    except ValueError:
        views.preflight_unusable(out, [f"--timeout/--concurrency: expected a number, got "
                                       f"{args.timeout if args.timeout is not None else args.concurrency!r}"])
        return 1
    if not (0 < timeout <= 600) or not (0 < concurrency <= 10_000):
        views.preflight_unusable(out, ["--timeout: 0 to 600 s; --concurrency: 1 to 10000"])
        return 1
    from fleetctl.pocket import preflight

    fee = preflight.DEFAULT_FEE_PER_TX_UPOKT
    if args.fee_per_tx is not None:
        try:
            fee = preflight.parse_fee(args.fee_per_tx)
        except ValueError as exc:
            views.preflight_unusable(out, [str(exc)])
            return 1
    fleet, errors = _load(args)
    if fleet is None:
        views.preflight_unusable(out, [str(e) for e in errors or []])
        return 1
    only = tuple(n.strip() for n in (args.only or "").split(",") if n.strip())
    report = preflight.run_preflight(fleet, only=only, timeout=timeout, concurrency=concurrency, fee_per_tx=fee)
    views.preflight(out, report)
    return report.exit_code


def cmd_claims(args: argparse.Namespace) -> int:
    import gc

    from fleetctl import views

    # One run, then exit: what is loaded by now (modules, the inventory) lives to the end, so it
    # is left out of every collection the block answers' many small objects trigger.
    gc.freeze()
    try:
        return _claims(args)
    except Exception as exc:  # noqa: BLE001 - claims always ends with its status line and 0-3
        from fleetctl.core.redact import scrub

        views.claims_unusable(args.out, scrub(f"internal error ({type(exc).__name__}: {exc})",
                                              sink_style=False, limit=300), nagios=args.nagios)
        return 3


def _claims(args: argparse.Namespace) -> int:
    from fleetctl import views

    try:
        fleet, errors = _load(args)
    except UserError as exc:
        fleet, errors = None, [exc]
    if fleet is None:
        views.claims_unusable(args.out, "; ".join(str(e) for e in errors or []) or "no inventory",
                              nagios=args.nagios)
        return 3
    if fleet.protocol != "shannon":
        # Morse has no claim events in block results fleetctl reads: UNKNOWN, never a false OK.
        views.claims_unusable(args.out, f"claims are Shannon only; this fleet is {fleet.protocol} "
                              "(use 'fleetctl stakes')", nagios=args.nagios)
        return 3
    from fleetctl.pocket import claims
    from fleetctl.pocket.history import HistoryError, resolve_db_path

    try:
        path = resolve_db_path(args.db, fleet)
    except HistoryError as exc:
        views.claims_unusable(args.out, str(exc), nagios=args.nagios)
        return 3
    timeout = args.timeout or claims.DEFAULT_TIMEOUT_S
    report = claims.run_claims(
        fleet, path, timeout=timeout, backfill=args.backfill or claims.DEFAULT_BACKFILL,
        concurrency=args.concurrency or claims.DEFAULT_CONCURRENCY, record=not args.no_record,
        warn_blocks=args.warn_blocks, sessions=args.sessions or claims.DEFAULT_SESSIONS)
    views.claims(args.out, report, nagios=args.nagios)
    return report.exit_code


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0-3 and one status line in every output mode, whatever happens (Nagios reads a
    traceback's exit 1 as WARNING and loses every other check)."""
    from fleetctl import views

    out = args.out
    try:
        fleet, errors = _load(args)
    except UserError as exc:
        fleet, errors = None, [exc]
    except Exception as exc:  # noqa: BLE001 - the top-level guard
        from fleetctl.core.redact import scrub

        fleet, errors = None, [scrub(f"{type(exc).__name__}: {exc}", sink_style=False)]
    if fleet is None:
        # The check itself cannot run: UNKNOWN (3), with the reasons on stderr.
        for e in errors or []:
            out.error(str(e))
        first = str(errors[0]).splitlines()[0][:300] if errors else "no inventory"
        if args.prom_file:
            _health_textfile(out, args.prom_file, None, f"inventory unusable: {first}")
        if args.nagios:
            out.line(f"HEALTH UNKNOWN - inventory unusable: {first}")
        elif out.json:
            out.emit_json({"status": "UNKNOWN", "error": "inventory unusable", "errors": [str(e) for e in errors or []],
                           "checks": []})
        else:
            out.line(f"health: UNKNOWN - inventory unusable: {first}")
        return 3
    from fleetctl.health.run import HealthOptions, failed_report, run_health

    if args.remediate and args.no_record:
        raise UserError("health: --remediate needs its state (what it took out of rotation); drop --no-record")
    options = HealthOptions(timeout=args.timeout, concurrency=args.concurrency, db=args.db,
                            record=not args.no_record, alerts=not args.no_alerts, remediate=args.remediate)
    report = run_health(fleet, options, on_step=out.debug)
    code = report.exit_code
    prom = args.prom_file or fleet.health.textfile
    if prom and not _health_textfile(out, prom, report, None):
        code = 3
    try:
        views.health(out, report, nagios=args.nagios)
    except Exception as exc:  # noqa: BLE001 - rendering failed: still a status line
        report = failed_report(exc, report.duration_s, fleet)
        views.health(out, report, nagios=args.nagios)
        return 3
    return code if 0 <= code <= 3 else 3


def _health_textfile(out, path: str, report, error: str | None) -> bool:
    """Write health's metrics for node_exporter (a report that says UNKNOWN when ``report`` is
    None); False with one line on stderr when it cannot be written."""
    from fleetctl.health.report import HealthReport, write_textfile

    if report is None:
        report = HealthReport(checked_at="", duration_s=0.0, checks=[], error=error)
    try:
        write_textfile(os.path.expanduser(path), report)
        return True
    except OSError as exc:
        out.error(f"health: cannot write {path}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001
        out.error(f"health: cannot write {path}: {type(exc).__name__}")
    return False


def cmd_exporter(args: argparse.Namespace) -> int:
    from fleetctl.health.exporter import Exporter, parse_listen
    from fleetctl.health.run import HealthOptions, run_health
    from fleetctl.spec.cache import load_inventory_cached

    out = args.out
    host, port = parse_listen(args.listen)
    _load_or_exit(args)  # a broken inventory at start is a usage error, not a silent exporter
    path = _inventory_path(args)
    options = HealthOptions(timeout=args.timeout, concurrency=args.concurrency, db=args.db, alerts=False)
    exporter = Exporter(lambda: load_inventory_cached(path), lambda fleet: run_health(fleet, options),
                        interval=args.interval, log=out.info)
    if host not in ("127.0.0.1", "::1", "localhost"):
        out.info(f"exporter: listening on {host}, not loopback: anyone who reaches it reads the fleet's state")
    try:
        exporter.run(host, port)
    except OSError as exc:
        raise FleetError(f"exporter: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return EXIT_OK


def cmd_lab_help(args: argparse.Namespace) -> int:
    raise UserError("lab: say up, down, status or fault (fleetctl lab --help)")


def _lab():
    from fleetctl.lab import manager

    return manager


def cmd_lab_up(args: argparse.Namespace) -> int:
    lab = _lab()
    status = lab.Lab().up(progress=args.out.info)
    from fleetctl import views

    views.lab_status(args.out, status)
    return EXIT_OK if status["up"] else EXIT_ERROR


def cmd_lab_down(args: argparse.Namespace) -> int:
    lab = _lab()
    left = lab.Lab().down(progress=args.out.info)
    if args.out.json:
        args.out.emit_json({"down": not left, "left": left})
    elif not left:
        args.out.line("lab is down (blackhole route for the lab range kept)")
    if left:  # down waited for its processes (SIGTERM, then SIGKILL) and these are still there
        args.out.error(f"lab down: left behind: {'; '.join(left)}")
    return EXIT_OK if not left else EXIT_ERROR


def cmd_lab_status(args: argparse.Namespace) -> int:
    from fleetctl import views

    status = _lab().Lab().status()
    views.lab_status(args.out, status)
    return EXIT_OK if status["up"] else 3


def cmd_lab_fault(args: argparse.Namespace) -> int:
    faults: dict[str, object] = {}
    if args.lag is not None:
        faults["lag"] = args.lag
    if args.syncing:
        faults["syncing"] = args.syncing == "on"
    if args.diverge_at is not None:
        faults["diverge_at"] = args.diverge_at
    if args.delay_ms is not None:
        faults["delay_ms"] = args.delay_ms
    if args.error:
        faults["error"] = None if args.error == "off" else args.error
    if args.garbage:
        faults["garbage"] = args.garbage == "on"
    if args.refuse:
        faults["refuse"] = args.refuse == "on"
    for key in ("optimistic", "el_offline", "finalized_root_other", "not_initialized"):
        if getattr(args, key):
            faults[key] = getattr(args, key) == "on"
    if args.peers is not None:
        faults["peers"] = args.peers
    if args.relayminer:
        faults["relayminer"] = args.relayminer
    if not faults and not args.clear:
        raise UserError("lab fault: say what to inject (--lag, --syncing, --diverge-at, --delay-ms, --error, --garbage, --refuse, "
                        "--peers; consensus: --optimistic, --el-offline, --finalized-root-other, --not-initialized; "
                        "RelayMiner: --relayminer) or --clear")
    now = _lab().Lab().fault(args.front, faults, clear=args.clear)
    if args.out.json:
        args.out.emit_json({"front": args.front, "faults": now})
    else:
        args.out.line(f"{args.front}: " + (", ".join(f"{k}={v}" for k, v in sorted(now.items()) if v not in (None, False, 0)) or "no faults"))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
