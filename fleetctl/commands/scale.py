"""``fleetctl scale``: how many identities to add to win more sessions (--what-if), and adding them (--apply)."""

from __future__ import annotations

import argparse

from fleetctl.commands import EXIT_ERROR, EXIT_OK
from fleetctl.commands._common import confirm, load_or_exit, positive


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service", required=True, metavar="ID", help="the chain (service id) in fleet.yml")
    p.add_argument("--what-if", action="store_true", help="print the table (the default without --apply)")
    p.add_argument("--rows", type=positive(int), default=10, metavar="K", help="rows for current … current+K (default 10)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--target-share", metavar="P", help="the smallest count whose session share reaches P (0.5 or 50%%)")
    how.add_argument("--add", type=positive(int), metavar="N", help="add N identities")
    how.add_argument("--budget", metavar="POKT", help="as many identities as this stake budget allows (\"120000 POKT\")")
    p.add_argument("--relays-per-session", type=positive(float), metavar="R",
                   help="relays one of ours serves per session it is in (your observed figure; default 100)")
    p.add_argument("--upokt-per-relay", type=positive(float), metavar="X", help="override the chain's reward per relay")
    p.add_argument("--apps", type=int, metavar="N", help="applications staked for the service (default: from the chain; "
                   "when the chain does not list them the what-if leaves out the figures per day, says so and exits 0)")
    p.add_argument("--block-time", type=positive(float), metavar="S", help="seconds per block (default 30 Shannon, 900 Morse)")
    p.add_argument("--stake", metavar="AMOUNT", help="stake per new identity (default: minimum + warning margin + 1 upokt)")
    p.add_argument("--timeout", type=positive(float), default=5.0, metavar="S", help="seconds per chain query")
    p.add_argument("--apply", action="store_true", help="make the keys on the hosts, add the identities to fleet.yml "
                   "and apply (staking is `fleetctl stake --batch`)")
    p.add_argument("--yes", "-y", action="store_true", help="with --apply: do not ask (needed without a terminal)")
    p.add_argument("--owner", metavar="ADDRESS", help="owner address of the new identities (default: the service's one owner)")
    p.add_argument("--name-prefix", metavar="P", help="names P-1, P-2, … (default <service>-sup)")
    p.add_argument("--host", action="append", metavar="NAME", help="place the new identities on these hosts only")
    p.add_argument("--names", metavar="NAME,...", help="keyring names of the new identities, instead of <prefix>-N")
    p.add_argument("--imported", action="store_true", help="the keys exist already in the RelayMiners' keyrings "
                   "(imported by you): use them, make none")


def run(args: argparse.Namespace) -> int:
    from fleetctl import views
    from fleetctl.commands._common import apply_cancelled, infeasible
    from fleetctl.plan.model import Infeasible
    from fleetctl.progress import Progress, ScaleSteps, sigint_cancels
    from fleetctl.workflows import scale as workflow

    from fleetctl.plan import scale

    out = args.out
    # The options' own mistakes before the inventory is read (as always).
    scale.check_options(target_share=args.target_share, budget=args.budget, stake=args.stake, apps=args.apps)
    fleet = load_or_exit(args)
    names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
    plan = workflow.prepare(fleet, args.service, apply=args.apply, rows=args.rows,
                            relays_per_session=args.relays_per_session, upokt_per_relay=args.upokt_per_relay,
                            apps=args.apps, block_time_s=args.block_time, stake=args.stake,
                            target_share=args.target_share, add=args.add, budget=args.budget, timeout=args.timeout,
                            owner=args.owner, name_prefix=args.name_prefix, hosts=args.host, names=names,
                            imported=args.imported)
    model = plan.model
    if not args.apply:
        views.scale(out, model)
        return EXIT_OK
    if not plan.identities:
        views.scale(out, model)
        out.info(f"scale: {plan.view.current} identities already reach the target: nothing to add")
        return EXIT_OK
    to_add = plan.to_add
    where = ", ".join(f"{i.name} on {i.host}" for i in plan.identities)
    if not confirm(out, f"Add {to_add} identit{'y' if to_add == 1 else 'ies'} ({where})? [y/N] ", yes=args.yes,
                   what="scale --apply", cancelled="scale"):
        return EXIT_ERROR
    steps = ScaleSteps(out, Progress(sorted(fleet.hosts), stream=out.err, quiet=out.quiet or out.json))
    try:
        with sigint_cancels(out, "scale") as cancel:
            result = workflow.execute(fleet, plan, on_event=steps, cancel=cancel, reload=lambda: load_or_exit(args))
    except Infeasible as exc:
        infeasible(args, exc)
    finally:
        steps.finish()
    if result.apply is not None and not out.json:
        views.apply_result(out, result.apply, result.apply_plan)
    if result.cancelled:
        if result.apply is not None:
            return apply_cancelled(out, result.apply)
        done = ", ".join(result.done) or "nothing"
        hint = ("fleetctl apply finishes it" if "inventory" in result.done
                else "scale --apply again reuses the keys made")
        out.error(f"scale: cancelled; done: {done}; left: {', '.join(result.left)} ({hint})")
        return 130
    assert result.apply is not None and result.apply_plan is not None
    code = EXIT_OK if not result.apply.failed_hosts and not result.apply_plan.unreachable else EXIT_ERROR
    views.scale(out, model, added=result.created)
    out.info("scale: next, fund each new operator with its stake and fees, then stake them: fleetctl stake --batch "
             "--keyring relayminer (a dry run; --execute --host NAME stakes)")
    return code
