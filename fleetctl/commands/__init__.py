"""The commands of ``fleetctl``, one module each, and their registry.

:data:`commands_dict` (pip's model) maps each command's name to the module that implements it
and the one-line help ``fleetctl --help`` lists. Only this registry is imported to build the
top-level parser: a command's module is imported, and its arguments added, when that command is
parsed (``fleetctl X ...`` or ``fleetctl X --help``), so ``fleetctl --help`` imports none.

Each command module has ``add_arguments(parser)`` (the command's own arguments; the global
options are added by :mod:`fleetctl.cli`) and ``run(args) -> int`` (the exit code). Shared
helpers (loading the inventory, confirming) are in :mod:`fleetctl.commands._common`.

A new command: a module here with those two functions, and one line in :data:`commands_dict`
(its position is its place in ``fleetctl --help``).
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import NamedTuple

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "CommandInfo", "add_common", "commands_dict", "get_command",
           "is_one_run", "mark_one_run"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

_one_run = False


def mark_one_run() -> None:
    """The command running is one run, then exit (health, stakes, claims: what cron runs): the
    console script may end the process without the interpreter's teardown (:func:`fleetctl.cli.run`)."""
    global _one_run
    _one_run = True


def is_one_run() -> bool:
    return _one_run


def add_common(p: argparse.ArgumentParser, suppress: bool) -> None:
    """Global options, accepted before or after the command (``fleetctl -o json validate`` or
    ``fleetctl validate -o json``); after the command they default to SUPPRESS so they do not
    overwrite values given before it. Every command's parser (and subcommand's) has them."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    g = p.add_argument_group("global options")
    g.add_argument("-i", "--inventory", metavar="PATH", default=d(None),
                   help="inventory folder (hosts.yml + fleet.yml); default $FLEETCTL_INVENTORY")
    g.add_argument("-o", "--output", choices=("table", "json"), default=d("table"), help="output format")
    g.add_argument("-q", "--quiet", action="store_true", default=d(False), help="only results and errors")
    g.add_argument("-v", "--verbose", action="count", default=d(0), help="more detail (repeat for more)")
    g.add_argument("--no-color", action="store_true", default=d(False), help="no ANSI colours (also $NO_COLOR)")


class CommandInfo(NamedTuple):
    module_path: str
    summary: str


commands_dict: dict[str, CommandInfo] = {
    "validate": CommandInfo("fleetctl.commands.validate", "check an inventory without touching anything"),
    "inventory": CommandInfo("fleetctl.commands.inventory", "show the inventory's hosts, chains and suppliers"),
    "plan": CommandInfo("fleetctl.commands.plan", "what apply would change: desired (fleet.yml) against what runs"),
    "apply": CommandInfo("fleetctl.commands.apply",
                         "converge the fleet to fleet.yml through the playbooks (ansible-runner)"),
    "diversity": CommandInfo("fleetctl.commands.diversity", "each client's share of the running full nodes per "
                             "chain and layer (execution, consensus), against the quota"),
    "stakes": CommandInfo("fleetctl.commands.stakes", "stake, margin, penalties and operator balance of every "
                          "supplier against fleet.yml's stake thresholds; exit code is Nagios (0 OK, 1 WARNING, "
                          "2 CRITICAL, 3 UNKNOWN)"),
    "preflight": CommandInfo("fleetctl.commands.preflight", "will the suppliers be served and paid for: services "
                             "on chain against the RelayMiner config fleetctl writes, operator account and public "
                             "key, balance against fees, the RelayMiners' node URLs, each backend through its "
                             "balancer; one line per problem; exit 0 OK, 1 warnings (or bad input), 2 something "
                             "would be sanctioned"),
    "claims": CommandInfo("fleetctl.commands.claims", "what the chain paid and took per supplier and service "
                          "(claims, proofs, settlements, expired claims, slashes; Shannon only) and the proofs "
                          "still missing, from the node's /block_results since the last run; exit code is Nagios "
                          "(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"),
    "health": CommandInfo("fleetctl.commands.health", "check everything in the fleet at once: execution clients "
                          "(sync, lag, block-hash agreement, peers, version), balancers, RelayMiners, Pocket nodes, "
                          "stakes and hosts; exit code is Nagios (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"),
    "rotation": CommandInfo("fleetctl.commands.rotation", "take one backend out of its balancer's rotation "
                            "(recorded: health --remediate puts it back once healthy; never the last healthy one), "
                            "or put it back"),
    "scale": CommandInfo("fleetctl.commands.scale", "how many identities to add to win more sessions, what they "
                         "cost and earn (--what-if, the default), and adding them (--apply)"),
    "alerts": CommandInfo("fleetctl.commands.alerts", "alert state of `fleetctl health`: list, mute, acknowledge"),
    "stake": CommandInfo("fleetctl.commands.stake", "stake the inventory's suppliers the chain does not know yet: "
                         "one stake config each, the exact pocketd commands (a dry run), or run them on a host "
                         "with --execute --host NAME"),
    "exporter": CommandInfo("fleetctl.commands.exporter", "serve the health sweep's metrics on /metrics for "
                            "Prometheus, sweeping in the background (binds to 127.0.0.1 unless --listen says "
                            "otherwise)"),
    "tui": CommandInfo("fleetctl.commands.tui", "the operator's terminal app: fleet, diversity, stakes, health, "
                       "scale, runs, claims and alerts views, live, with every action one key away"),
    "lab": CommandInfo("fleetctl.commands.lab", "the local lab: a small real fleet on this machine (root)"),
}


def get_command(name: str) -> ModuleType:
    """The module of command ``name`` (imported now); KeyError for a name not registered."""
    return importlib.import_module(commands_dict[name].module_path)
