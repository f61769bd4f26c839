"""``fleetctl stake --batch``: the command line of :mod:`fleetctl.workflows.stake_batch`.

``fleetctl stake --batch [--out DIR] [--execute --host NAME] [--stake AMOUNT] [--only NAME,…]
[--db PATH] [--keyring host|relayminer] [--home DIR] [--fees F] [--rev-share ADDR=PCT,…]
[--restake] [--wait S] [--confirm-timeout S] [--skip-preflight] [-o json]``

Output: a table of the suppliers (status and why) then the commands, grouped by the host they
run on (``-q``: the commands alone); ``-o json``: :meth:`BatchReport.as_dict`. Exit code 0 when
nothing went wrong, 1 when the chain could not be read or a stake failed (the next run resumes),
2 for a usage mistake (one line naming the field). Only the standard library is imported until
the command runs.

Registered in :data:`fleetctl.commands.commands_dict` (moved from ``fleetctl/pocket/staking_cli.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

from fleetctl.commands._common import load_or_exit
from fleetctl.core.errors import UserError

__all__ = ["add_arguments", "render", "run"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``stake`` (the global options are added by :mod:`fleetctl.cli`)."""
    p.add_argument("--batch", action="store_true", help="every supplier with an operator address that the chain "
                   "does not know (the only mode so far; required)")
    p.add_argument("--only", metavar="NAME,...", help="only these suppliers (names in fleet.yml)")
    p.add_argument("--out", dest="out_dir", metavar="DIR", help="where the stake configs go (default: a folder beside the state "
                   "store, <state dir>/stake/<inventory>-<hash>)")
    p.add_argument("--stake", metavar="AMOUNT", help="stake of each supplier (\"60000 POKT\", 60000000000upokt); "
                   "default: the chain's min_stake + fleet.yml's warning margin + 1 upokt")
    p.add_argument("--rev-share", metavar="ADDR=PCT,...", help="default_rev_share_percent of every config "
                   "(whole percents summing to 100; default: the owner 100)")
    p.add_argument("--execute", action="store_true", help="copy the configs to --host and run the commands there "
                   "(playbooks/stake.yml through ansible-runner), one at a time, stopping at the first failure")
    p.add_argument("--host", metavar="NAME", help="the inventory host that holds the signing keys")
    p.add_argument("--keyring", choices=("host", "relayminer"), default="host",
                   help="host: the host's fleet_pocketd with --home (default); relayminer: pocketd in the host's "
                   "RelayMiner image on its keyring volume, where `fleetctl scale --apply` makes the keys")
    p.add_argument("--home", metavar="DIR", help="pocketd --home of the keyring on the host (--keyring host; "
                   "default ~/.pocket)")
    p.add_argument("--fees", metavar="AMOUNT", help="pocketd --fees for each transaction, e.g. 1upokt")
    p.add_argument("--db", metavar="PATH", help="the state store (default: stake.history_db in fleet.yml, else "
                   "$FLEETCTL_STATE_DIR/fleetctl.db, else ~/.local/state/fleetctl/fleetctl.db)")
    p.add_argument("--restake", action="store_true", help="also stake suppliers an earlier batch staked that the "
                   "chain no longer knows (unstaked)")
    p.add_argument("--wait", type=_seconds, metavar="S", default=None,
                   help="after --execute, seconds to wait for the chain to show the staked suppliers (default 60)")
    p.add_argument("--confirm-timeout", type=_seconds, metavar="S", default=None,
                   help="a transaction sent earlier that the chain does not show is not resent before this many "
                   "seconds (default 600)")
    p.add_argument("--timeout", type=_seconds, metavar="S", default=None, help="seconds per chain query (default 5)")
    p.add_argument("--skip-preflight", action="store_true", help="send even when the preflight (run on the "
                   "suppliers to stake before anything is sent: services served by their RelayMiner, operator "
                   "accounts, balances, node URLs, backends) finds problems that would get them sanctioned")


def run(args: argparse.Namespace) -> int:
    from fleetctl.pocket import staking
    from fleetctl.workflows import stake_batch

    out = args.out
    if not args.batch:
        raise UserError("stake: say --batch (stake every supplier the chain does not know yet)")
    if args.execute and not args.host:
        raise UserError("--execute: say on which host the commands run: --host NAME")
    if args.home and args.keyring == "relayminer":
        raise UserError("--home: the RelayMiner keyring's home is fixed (/home/pocket/.pocket); drop --home")
    fleet = load_or_exit(args)
    only = tuple(n.strip() for n in (args.only or "").split(",") if n.strip())
    options = stake_batch.BatchOptions(
        only=only,
        stake_upokt=staking.parse_stake(args.stake) if args.stake else None,
        out_dir=args.out_dir,
        host=args.host,
        keyring=args.keyring,
        home=args.home,
        fees=args.fees,
        rev_share=staking.parse_rev_share(args.rev_share) if args.rev_share else None,
        db=args.db,
        restake=args.restake,
        wait_s=stake_batch.DEFAULT_WAIT_S if args.wait is None else args.wait,
        confirm_timeout_s=(stake_batch.DEFAULT_CONFIRM_TIMEOUT_S if args.confirm_timeout is None
                           else args.confirm_timeout),
        timeout_s=args.timeout or stake_batch.DEFAULT_TIMEOUT_S,
        skip_preflight=args.skip_preflight,
    )
    quiet = out.quiet or out.json
    from fleetctl.progress import Progress

    # The playbook's per-host progress (as apply draws it) and the batch's own lines.
    progress = Progress([args.host] if args.host else [], stream=out.err, quiet=quiet)
    try:
        report = stake_batch.run_batch(fleet, options, execute=args.execute, on_event=progress,
                                       on_step=(lambda s: None) if quiet else out.info)
    finally:
        progress.finish()
    render(out, report)
    return report.exit_code


def _detail(e: Any) -> str:
    if e.status in ("submitted", "confirmed") and e.txhash:
        return f"txhash {e.txhash}" + (f"; {e.reason}" if e.reason else "")
    if e.status in ("failed", "mismatch"):
        return e.error or ""
    if e.status == "to_stake":
        return e.config or ""
    return e.reason or ""


def render(out: Any, report: Any) -> None:
    from fleetctl.core.units import format_upokt

    if out.json:
        out.emit_json(report.as_dict())
    else:
        if not out.quiet:
            counts = report.counts()
            mode = "dry run" if report.dry_run else f"on {report.host}, batch {report.batch_id}"
            head = f"stake --batch ({mode}): " + (", ".join(f"{n} {s.replace('_', ' ')}" for s, n in
                                                           sorted(counts.items())) or "no supplier selected")
            if report.stake_upokt is not None:
                head += f"; stake {format_upokt(report.stake_upokt)} each"
                if report.min_stake_upokt is not None:
                    head += f" (min_stake {format_upokt(report.min_stake_upokt)})"
            out.line(head)
            if report.entries:
                out.table(("name", "host", "status", "detail"),
                          [(e.name, e.host or "-", e.status, _detail(e)) for e in report.entries])
        by_host: dict[str, list[str]] = {}
        run_on = {e.command: (report.host if not report.dry_run else e.host) for e in report.entries if e.command}
        for command in report.commands:
            by_host.setdefault(run_on.get(command) or "-", []).append(command)
        for host, commands in by_host.items():
            if not out.quiet:
                out.line("")
                verb = "ran" if not report.dry_run else "to run"
                where = f"{report.out_dir} copied to the host" if report.dry_run else "the host"
                out.line(f"# {verb} on {host} (configs: {where})")
            for command in commands:
                out.line(command)
        if not report.commands and not out.quiet and report.message is None:
            out.line("nothing to stake")
    if report.preflight is not None:  # one line per problem, on stderr (stdout stays the commands)
        for problem in report.preflight.problems:
            out.error(f"stake: preflight: {problem.line()}")
    for note in report.notes:
        out.info(f"stake: {note}")
    if report.message:
        out.error(f"stake: {report.message}")
    # What went wrong, on stderr whatever the format (cron mails it; -q hides the table).
    for e in report.entries:
        if e.status == "failed":
            out.error(f"stake: {e.name} failed: {e.error}")
        elif e.status == "mismatch":
            out.error(f"stake: {e.name}: read back: {e.error}")
        elif e.status in ("unreadable", "unplaced"):
            out.error(f"stake: {e.name}: {e.reason}")
    never = [e.name for e in report.entries if e.status == "not_attempted"]
    if never:
        out.error(f"stake: not sent (the batch stopped before them): {', '.join(never)}; "
                  "fix the failure and run it again: it resumes")
