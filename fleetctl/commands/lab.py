"""``fleetctl lab up|down|status|fault``: the local lab, a small real fleet on this machine (root).

The lab's code is imported only when a subcommand runs (never by ``fleetctl --help``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from fleetctl.commands import EXIT_ERROR, EXIT_OK, add_common
from fleetctl.core.errors import UserError


def add_arguments(lab: argparse.ArgumentParser) -> None:
    labsub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    for name, help_text in (
        ("up", "build the lab (idempotent)"),
        ("down", "tear the lab down; leaves no process, namespace or mount"),
        ("status", "what is up"),
    ):
        lp = labsub.add_parser(name, help=help_text, description=help_text)
        add_common(lp, suppress=True)
    fp = labsub.add_parser("fault", help="make a lab client front misbehave (or --clear)",
                           description="make a lab client front misbehave (or --clear): an execution front "
                                       "(lab-h1-geth), a consensus front (lab-h1-lighthouse), or a provisioned "
                                       "node's container by name (<erigon container>-caplin for its Caplin)")
    add_common(fp, suppress=True)
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


def run(args: argparse.Namespace) -> int:
    handler = _SUBCOMMANDS.get(getattr(args, "lab_command", None) or "")
    if handler is None:
        raise UserError("lab: say up, down, status or fault (fleetctl lab --help)")
    return handler(args)


def _lab() -> Any:
    try:
        from fleetlab import manager  # the lab: its own distribution (lab/), never imported by the library
    except ModuleNotFoundError as exc:
        if exc.name != "fleetlab":
            raise
        raise UserError("lab: the lab is not installed: pip install ./lab") from None

    return manager


def lab_up(args: argparse.Namespace) -> int:
    lab = _lab()
    status = lab.Lab().up(progress=args.out.info)
    from fleetctl import views

    views.lab_status(args.out, status)
    return EXIT_OK if status["up"] else EXIT_ERROR


def lab_down(args: argparse.Namespace) -> int:
    lab = _lab()
    left = lab.Lab().down(progress=args.out.info)
    if args.out.json:
        args.out.emit_json({"down": not left, "left": left})
    elif not left:
        args.out.line("lab is down (blackhole route for the lab range kept)")
    if left:  # down waited for its processes (SIGTERM, then SIGKILL) and these are still there
        args.out.error(f"lab down: left behind: {'; '.join(left)}")
    return EXIT_OK if not left else EXIT_ERROR


def lab_status(args: argparse.Namespace) -> int:
    from fleetctl import views

    status = _lab().Lab().status()
    views.lab_status(args.out, status)
    return EXIT_OK if status["up"] else 3


def lab_fault(args: argparse.Namespace) -> int:
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


_SUBCOMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "up": lab_up, "down": lab_down, "status": lab_status, "fault": lab_fault,
}
