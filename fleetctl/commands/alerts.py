"""``fleetctl alerts list|mute|ack|unmute``: look at and quiet the alert state of ``fleetctl health``.

Each subcommand reads or writes the alert tables of the SQLite store
(:mod:`fleetctl.health.alerts`): ``--db PATH``, else the store the inventory names
(``stake.history_db``, as ``fleetctl stakes`` resolves it). With ``--db`` the inventory is
optional.

* ``list [--all]``: open alerts (pending and firing; ``--all`` adds the resolved ones kept for
  7 days) and the active silences; ``-o json`` gives ``{"db", "alerts": [...], "silences": [...]}``.
* ``mute PATTERN --for DURATION [--reason TEXT]``: hold back the notices of the alerts whose key
  (``execution/eth-*``) or target (``eth-geth-1``) matches PATTERN (fnmatch), including alerts
  that start meanwhile. RESOLVED notices still go out.
* ``ack PATTERN [--for DURATION]``: acknowledge the matching alerts that fire now: no re-notify
  until the ack ends (default 24h, so a forgotten ack cannot hide an incident forever) or the
  alert resolves; an escalation still notifies.
* ``unmute PATTERN|ID``: remove a silence by its id (``3`` or ``#3``), or the silences with that
  pattern or matched by it (``'*'`` removes all), and the acks of the alerts it matches.
* ``repair``: delete the rows of the alert state that are corrupted (written behind fleetctl's
  back, a disk fault): ``list`` and ``health`` name each one (``list`` then exits 1, ``health``
  makes it an UNKNOWN check) and leave it out until it is repaired.

``list`` exits 1 when the store cannot be read (one line), or when some of its rows are
corrupted (the rest is listed, then one line per corrupted row on stderr).

DURATION: ``90s``, ``30m``, ``4h``, ``2d`` or a number of seconds. Mistakes are one line and
exit 2. Only the standard library is imported until a subcommand runs (and then only the store,
no network code). Moved from ``fleetctl/health/alerts_cli.py``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING, Callable

from fleetctl.commands import add_common
from fleetctl.core.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DEFAULT_ACK", "add_arguments", "parse_duration", "run"]

DEFAULT_ACK = "24h"
def parse_duration(text: str, field: str = "--for") -> float:
    """Seconds from ``90s``, ``30m``, ``4h``, ``2d`` or ``3600``; UserError naming ``field``."""
    from fleetctl.workflows.alerts import silence_seconds

    return silence_seconds(text, field)


def add_arguments(parent: argparse.ArgumentParser) -> None:
    """The subcommands of ``alerts`` (the global options of ``alerts`` itself are added by :mod:`fleetctl.cli`)."""
    asub = parent.add_subparsers(dest="alerts_command", metavar="ALERTS_COMMAND")

    def command(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = asub.add_parser(name, help=help_text, description=help_text)
        add_common(p, True)
        p.add_argument("--db", metavar="PATH", help="the store (default: stake.history_db in fleet.yml, "
                       "else $FLEETCTL_STATE_DIR/fleetctl.db, else ~/.local/state/fleetctl/fleetctl.db); "
                       "with --db the inventory is optional")
        p.set_defaults(alerts_func=func)
        return p

    p = command("list", "open alerts (pending, firing) and active silences", cmd_alerts_list)
    p.add_argument("--all", action="store_true", help="also the resolved alerts of the last 7 days")
    p = command("mute", "hold back the notices of matching alerts for a while (RESOLVED still goes out)",
                cmd_alerts_mute)
    p.add_argument("pattern", metavar="PATTERN", help="fnmatch pattern on the alert key "
                   "(execution/eth-*) or target (eth-geth-1)")
    p.add_argument("--for", dest="duration", metavar="DURATION", required=True,
                   help="90s, 30m, 4h, 2d or seconds")
    p.add_argument("--reason", metavar="TEXT", default="", help="why (shown by alerts list)")
    p = command("ack", "acknowledge matching firing alerts: no re-notify until the ack ends or they "
                "resolve (an escalation still notifies)", cmd_alerts_ack)
    p.add_argument("pattern", metavar="PATTERN", help="fnmatch pattern on the alert key or target")
    p.add_argument("--for", dest="duration", metavar="DURATION", default=DEFAULT_ACK,
                   help=f"how long (default {DEFAULT_ACK})")
    p = command("unmute", "remove silences (by id or pattern) and the acks of matching alerts",
                cmd_alerts_unmute)
    p.add_argument("pattern", metavar="PATTERN|ID", help="a silence id from alerts list, or a pattern "
                   "('*' removes every silence)")
    command("repair", "delete the corrupted rows of the alert state (alerts list names them)",
            cmd_alerts_repair)


# ----------------------------------------------------------------------------- helpers


def _when(ts: float | None) -> str:
    from datetime import datetime, timezone

    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%MZ")


def _db_path(args: argparse.Namespace) -> Path:
    """``--db``, else the inventory's store (its errors are printed, exit 2)."""
    from fleetctl.state.db import resolve_db_path

    if getattr(args, "db", None):
        return resolve_db_path(args.db, None)
    inventory = getattr(args, "inventory", None) or os.environ.get("FLEETCTL_INVENTORY")
    if not inventory:
        raise UserError("alerts: no inventory and no --db: pass -i PATH, set FLEETCTL_INVENTORY, "
                        "or pass --db PATH")
    from fleetctl.spec.cache import load_inventory_cached
    from fleetctl.spec.errors import InventoryError

    try:
        fleet = load_inventory_cached(inventory)
    except InventoryError as exc:
        for error in exc.errors:
            args.out.error(str(error))
        raise SystemExit(2) from None
    return resolve_db_path(None, fleet)


class _store_path:  # noqa: N801 - the store's path, as the renderers below name it (store.path)
    def __init__(self, path: Path) -> None:
        self.path = path


def _pattern(text: str, field: str = "PATTERN") -> str:
    pattern = (text or "").strip()
    if not pattern:
        raise UserError(f"{field}: empty; give an alert key, target or fnmatch pattern (alerts list shows them)")
    if "\n" in pattern:
        raise UserError(f"{field}: must be one line")
    return pattern


# ----------------------------------------------------------------------------- commands


def run(args: argparse.Namespace) -> int:
    """The subcommand given (``alerts`` alone is a usage error)."""
    func = getattr(args, "alerts_func", None)
    if func is None:
        raise UserError("alerts: say list, mute, ack or unmute (fleetctl alerts --help)")
    return func(args)


def cmd_alerts_list(args: argparse.Namespace) -> int:
    from fleetctl.workflows import alerts as job

    out = args.out
    listed = job.list_alerts(_db_path(args), include_resolved=args.all)
    store, now = _store_path(listed.db), listed.now
    alerts, silences, corrupt = listed.alerts, listed.silences, listed.corrupt
    if out.json:
        out.emit_json({"db": str(store.path), "alerts": [a.as_dict() for a in alerts],
                       "silences": [s.as_dict() for s in silences],
                       "corrupt": [{**c.as_dict(), "message": c.line(store.path)} for c in corrupt]})
        for c in corrupt:
            out.error(f"fleetctl: alerts: {c.line(store.path)}")
        return 1 if corrupt else 0
    if not alerts:
        out.line("no alerts" + (" (none resolved in the last 7 days either)" if args.all else ""))
    else:
        rows = []
        for a in alerts:
            if a.state == "resolved":
                quiet = f"resolved {_when(a.resolved_at)}"
            elif a.muted_until:
                quiet = f"muted until {_when(a.muted_until)}"
            elif a.acked_until and a.acked_until > now:
                quiet = f"acked until {_when(a.acked_until)}"
            else:
                quiet = ""
            notified = f"{a.notifications}x, last {_when(a.notified_at)}" if a.notified_at else "-"
            rows.append([a.key, a.level, a.state, _when(a.since), a.runs, notified, quiet, a.message])
        out.table(["key", "level", "state", "since", "runs", "notified", "muted/acked", "message"],
                  rows, status_col=1)
    for s in silences:
        reason = f" ({s.reason})" if s.reason else ""
        out.line(f"silence #{s.id}: {s.pattern} until {_when(s.until)}{reason}, "
                 f"matches {len(s.matches)} open alert(s)")
    for c in corrupt:
        out.error(f"fleetctl: alerts: {c.line(store.path)}")
    return 1 if corrupt else 0


def cmd_alerts_mute(args: argparse.Namespace) -> int:
    pattern = _pattern(args.pattern)
    seconds = parse_duration(args.duration)
    from fleetctl.workflows import alerts as job

    now = time.time()
    store = _store_path(_db_path(args))
    silence = job.mute(store.path, pattern, seconds, args.reason or "", now=now)
    if args.out.json:
        args.out.emit_json({"db": str(store.path), "silence": silence.as_dict()})
    else:
        matches = f": {', '.join(silence.matches)}" if silence.matches else ""
        args.out.line(f"muted {pattern} until {_when(silence.until)} (silence #{silence.id}; "
                      f"{len(silence.matches)} open alert(s) match{matches})")
    return 0


def cmd_alerts_ack(args: argparse.Namespace) -> int:
    pattern = _pattern(args.pattern)
    seconds = parse_duration(args.duration)
    from fleetctl.workflows import alerts as job

    now = time.time()
    store = _store_path(_db_path(args))
    acked = job.ack(store.path, pattern, seconds, now=now)
    if not acked:
        raise UserError(f"ack: no firing alert matches {pattern!r} (fleetctl alerts list shows them)")
    if args.out.json:
        from datetime import datetime, timezone

        args.out.emit_json({"db": str(store.path), "until": datetime.fromtimestamp(
            now + seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "acked": [a.as_dict() for a in acked]})
    else:
        args.out.line(f"acked {len(acked)} alert(s) until {_when(now + seconds)}: "
                      + ", ".join(a.key for a in acked))
    return 0


def cmd_alerts_unmute(args: argparse.Namespace) -> int:
    pattern = _pattern(args.pattern, "PATTERN|ID")
    from fleetctl.workflows import alerts as job

    store = _store_path(_db_path(args))
    removed = job.unmute(store.path, pattern)
    if not removed:
        raise UserError(f"unmute: no silence or ack matches {pattern!r} (fleetctl alerts list shows them)")
    if args.out.json:
        args.out.emit_json({"db": str(store.path), "removed": removed})
    else:
        args.out.line(f"unmuted {pattern}: {removed} silence(s)/ack(s) removed")
    return 0


def cmd_alerts_repair(args: argparse.Namespace) -> int:
    from fleetctl.workflows import alerts as job

    store = _store_path(_db_path(args))
    deleted = job.repair(store.path)
    if args.out.json:
        args.out.emit_json({"db": str(store.path), "deleted": [c.as_dict() for c in deleted]})
    elif not deleted:
        args.out.line(f"{store.path}: no corrupted rows in the alert state")
    else:
        for c in deleted:
            args.out.line(f"{c.action} {c.describe()}")
        args.out.line(f"{store.path}: {len(deleted)} corrupted row(s) repaired")
    return 0
