"""``fleetctl rotation out|in BACKEND``: take one backend out of its balancer's rotation, or put it back.

The job is :mod:`fleetctl.workflows.rotation`: ``out`` sets the server to maintenance through
HAProxy's runtime API (over SSH, as ``health --remediate`` does) and records it, so that
``fleetctl health --remediate`` puts it back once its endpoint has been healthy for
``health.remediate_rise`` runs; refused (one line, exit 1, nothing changed) when no other server
of the pool would be left up, in rotation and healthy. ``in`` sets it back to ready and forgets the
record. BACKEND: the server's name as ``fleetctl health`` and HAProxy show it (``eth-geth-1``), or
``host/balancer/server`` when that name is in more than one balancer's pool; an unknown or
ambiguous name is one line with the candidates, exit 2.

Without ``--yes`` the command asks on the terminal (after showing what it will do and the command
line that does it without asking); without a terminal it refuses (exit 2) before reading
anything, as ``apply`` does. ``-o json``: one object (:data:`RotationResult.JSON_KEYS
<fleetctl.workflows.rotation.RotationResult.JSON_KEYS>`). Exit 0 done (or nothing to do), 1
refused or failed, 2 usage (unknown backend, no terminal).
"""

from __future__ import annotations

import argparse
from typing import Any

from fleetctl.commands import EXIT_ERROR, EXIT_OK
from fleetctl.commands._common import confirm, load_or_exit, positive


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("out", "in"), help="out: take the backend out of rotation (maintenance); "
                   "in: put it back (ready)")
    p.add_argument("backend", metavar="BACKEND", help="the server as `fleetctl health` and HAProxy name it "
                   "(eth-geth-1), or host/balancer/server")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    p.add_argument("--db", metavar="PATH", help="state store: what fleetctl took out of rotation (default as for "
                   "health)")
    p.add_argument("--timeout", type=positive(float), metavar="S",
                   help="seconds per check while reading the fleet (default health.timeout, 3)")


def run(args: argparse.Namespace) -> int:
    from fleetctl.workflows import rotation as workflow

    out = args.out
    fleet = load_or_exit(args)
    what = f"rotation {args.action}"
    # A terminal (or --yes) first: nothing is read when the answer could not be asked for.
    confirm(out, None, yes=args.yes, what=what, hint="pass --yes to act without asking")
    plan = workflow.prepare(fleet, args.backend, args.action, db=args.db, timeout=args.timeout)
    if plan.changes and not args.yes:
        show_plan(out, plan, workflow.cli_command(plan))
        verb = (f"Take {plan.server} out of rotation in {plan.balancer} on {plan.host}?" if plan.action == "out"
                else f"Put {plan.server} back into rotation in {plan.balancer} on {plan.host}?")
        if not confirm(out, f"{verb} [y/N] ", yes=False, what=what):
            return EXIT_ERROR
    result = workflow.execute(fleet, plan)
    show_result(out, result)
    return EXIT_OK if result.ok else EXIT_ERROR


def show_plan(out: Any, plan: Any, command: str) -> None:
    """What will happen, before the question (stderr under -o json: stdout holds only the result)."""
    write = out.error if out.json else out.line
    write(f"{plan.target} (chain {plan.chain}): {plan.status}" + (
        f"; endpoint {plan.endpoint_level} ({plan.endpoint_state})" if plan.endpoint_level else "; no health verdict"))
    if plan.endpoint_message and plan.endpoint_level != "OK":
        write(f"  endpoint: {plan.endpoint_message}")
    write(f"  will: {plan.summary}")
    if plan.runtime_command:
        write(f"  runtime API: {plan.runtime_command}")
    others = ", ".join(plan.others_in_rotation) or "none"
    write(f"  {'left' if plan.action == 'out' else 'also'} in rotation and healthy: {others}")
    for warning in plan.warnings:
        write(f"  warning: {warning}")
    write(f"  same as: {command}")


def show_result(out: Any, result: Any) -> None:
    """The result: one line (stdout when done, stderr when refused or failed), or the JSON object."""
    if out.json:
        out.emit_json(result.as_json())
        if not result.ok:
            out.error(result.message)
        return
    if not result.ok:
        out.error(result.message)
        return
    out.line(f"rotation: {result.message}")
    if result.changed or result.plan.changes:
        for warning in result.plan.warnings:
            out.info(f"rotation: warning: {warning}")
