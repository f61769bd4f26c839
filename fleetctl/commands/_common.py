"""What every command shares: the inventory (:func:`load`, :func:`load_or_exit`), the plan
(:func:`make_plan`), one confirmation (:func:`confirm`) and argparse types (:func:`positive`).

Only the standard library at import; the library is imported when a helper runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from fleetctl.commands import EXIT_ERROR, EXIT_USAGE
from fleetctl.core.errors import UserError

__all__ = ["confirm", "inventory_path", "load", "load_or_exit", "make_plan", "positive"]


def inventory_path(args: argparse.Namespace) -> str:
    """``-i PATH``, else ``$FLEETCTL_INVENTORY``; UserError (exit 2) when neither is given."""
    path = args.inventory or os.environ.get("FLEETCTL_INVENTORY")
    if not path:
        raise UserError("no inventory: pass -i PATH or set FLEETCTL_INVENTORY (see inventories/example)")
    return path


def load(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(fleet, None)``, or ``(None, errors)`` when the inventory is invalid (the caller says so)."""
    from fleetctl.spec.cache import load_inventory_cached
    from fleetctl.spec.errors import InventoryError

    try:
        return load_inventory_cached(inventory_path(args)), None
    except InventoryError as exc:
        return None, exc.errors


def load_or_exit(args: argparse.Namespace) -> Any:
    """The fleet, or every inventory error on stderr (one line each) and exit 2."""
    fleet, errors = load(args)
    if fleet is None:
        for e in errors or []:
            args.out.error(str(e))
        raise SystemExit(EXIT_USAGE)
    return fleet


def make_plan(args: argparse.Namespace, fleet: Any, offline: bool = False) -> Any:
    """The plan of ``fleet``, or each reason it cannot be placed on stderr and exit 1."""
    from fleetctl.plan.diff import make_plan as make
    from fleetctl.plan.model import Infeasible

    try:
        return make(fleet, offline=offline, progress=args.out.debug)
    except Infeasible as exc:
        infeasible(args, exc)


def infeasible(args: argparse.Namespace, exc: Any) -> None:
    """Each reason a plan cannot be placed on stderr, then exit 1."""
    for reason in exc.reasons:
        args.out.error(f"infeasible: {reason}")
    raise SystemExit(EXIT_ERROR) from None


def apply_cancelled(out: Any, result: Any) -> int:
    """A cancelled apply's one line: where it stopped and what is left; exit 130, as for ^C."""
    where = f"before '{result.stopped_before}'" if result.stopped_before else "before its first task"
    done = f"{len(result.tasks_done)} task(s) done" if result.tasks_done else "no task done"
    left = f"; not finished on {', '.join(result.hosts_left)}" if result.hosts_left else ""
    out.error(f"apply: cancelled {where} ({done}){left}; run apply again to converge")
    return 130


def confirm(out: Any, question: str | None, *, yes: bool, what: str, hint: str = "pass --yes",
            cancelled: str | None = None) -> bool:
    """Ask before changing anything: True to go ahead.

    ``yes`` (``--yes``, or nothing that needs asking such as a dry run): True without asking.
    Otherwise a terminal is needed even when there is nothing to ask (UserError, exit 2:
    ``"{what}: no terminal to confirm on; {hint}"``); ``question`` None: True; else the
    question is asked on the terminal and anything but y/yes is ``"{cancelled or what}:
    cancelled, nothing changed"`` on stderr and False.
    """
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(f"{what}: no terminal to confirm on; {hint}")
    if question is None:
        return True
    if input(question).strip().lower() not in ("y", "yes"):
        out.error(f"{cancelled or what}: cancelled, nothing changed")
        return False
    return True


def positive(kind: Callable[[str], float]) -> Callable[[str], float]:
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


#: Young objects a one-run command holds before a collection (the interpreter's default: 700).
ONE_RUN_GC_THRESHOLD = 200_000


def one_run_gc() -> None:
    """For a command that runs once, then exits (health, stakes, claims: what cron runs), called
    before it imports its modules and loads the inventory: what is loaded by now lives to the end,
    so it is kept out of every collection (gc.freeze), and the young generation is collected only
    when :data:`ONE_RUN_GC_THRESHOLD` more container objects are alive than at the last collection,
    instead of 700. A 1,000-supplier health run peaks at 50,000-100,000 young objects and its
    cycles hold ~600 objects: at 20,000 the collector ran 3 times in the sweep and 40 times during
    the imports, ~10 ms of CPU to free those 600; at 200,000 it does not run. What this can hold
    back is bounded by those 200,000 objects (a run's garbage, freed at its exit); a larger fleet
    collects every 200,000. The long-lived front ends (the TUI, the exporter) keep the default.
    The process may also end without the interpreter's teardown
    (:func:`fleetctl.commands.mark_one_run`)."""
    import gc

    from fleetctl.commands import mark_one_run

    mark_one_run()

    gc.freeze()
    threshold = gc.get_threshold()
    if threshold[0]:  # 0: collection disabled by the caller; left so
        gc.set_threshold(max(threshold[0], ONE_RUN_GC_THRESHOLD), *threshold[1:])
