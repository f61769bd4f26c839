"""The ``fleetctl`` entry point: the top-level parser, then the selected command's module.

Start-up is kept light (cron runs ``fleetctl health`` every minute): only argparse, the standard
library and the command registry (:mod:`fleetctl.commands`) are imported here. A command's
module is imported, and its arguments added, only when that command is parsed, so
``fleetctl --help`` imports no command and ``fleetctl validate`` only its own (and never
docker, paramiko, textual or ansible_runner).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from fleetctl import __version__
from fleetctl.commands import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    commands_dict,
    get_command,
    is_one_run,
)
from fleetctl.commands import add_common as _add_common
from fleetctl.core.errors import FleetError

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "run"]


def _columns() -> int:
    """What ``shutil.get_terminal_size().columns`` says (COLUMNS, else the terminal on stdout,
    else 80), without importing shutil (with bz2, lzma and fnmatch: ~2 ms of every cron run)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, its width found by :func:`_columns` (argparse makes one for every
    argument it adds, to check its metavar, and each imported shutil for the width)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


class _CommandParser(argparse.ArgumentParser):
    """A command's parser, made (argparse's own set-up) and filled in (its module imported, the
    global options and its own arguments added) the first time it parses or formats its help:
    argparse lists every command in ``fleetctl --help`` from its name and help alone, and a run
    of one command does not set up the other fifteen parsers (~4 ms of every cron run)."""

    def __init__(self, *args: Any, command: str | None = None, **kwargs: Any) -> None:
        self._command = command
        kwargs.setdefault("formatter_class", _Formatter)
        self._deferred: tuple[tuple[Any, ...], dict[str, Any]] | None = (args, kwargs)

    def _made(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            super().__init__(*deferred[0], **deferred[1])

    def __getattr__(self, name: str) -> Any:
        # anything argparse reads before the parser is made makes it first
        if self.__dict__.get("_deferred") is None:
            raise AttributeError(name)
        self._made()
        return getattr(self, name)

    def _fill(self) -> None:
        self._made()
        name, self._command = self._command, None
        if name is not None:
            module = get_command(name)
            _add_common(self, suppress=True)
            module.add_arguments(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._fill()
        return super().parse_known_args(*args, **kwargs)

    def _parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._fill()
        return super()._parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self._fill()
        return super().format_usage()

    def format_help(self) -> str:
        self._fill()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetctl",
        formatter_class=_Formatter,
        description="Fleet manager for Pocket Network node operators: diverse full nodes behind "
        "Pocket nodes, horizontal scaling, stake and health monitoring.",
        epilog="Exit codes: 0 ok, 1 error, 2 usage or invalid inventory; health/stakes follow Nagios (0-3).",
    )
    parser.add_argument("--version", action="version", version=f"fleetctl {__version__}")
    _add_common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    for name, info in commands_dict.items():
        sub.add_parser(name, help=info.summary, description=info.summary, command=name)
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
        return get_command(args.command).run(args)
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


def run() -> None:
    """The console script: :func:`main`, then the process ends with its exit code.

    After a one-run command (health, stakes, claims: what cron runs every minute) the process
    ends without the interpreter's teardown, which frees every module and object one by one
    (~12 ms of CPU after a 1,000-supplier health run): the output is flushed and the atexit
    handlers run first, as at a normal exit. A flush that fails (the reader went away), a
    thread still running, or a profiler or tracer at work (cProfile, coverage, a debugger: they
    write what they found after the program returns) takes the standard way out."""
    code = main()
    if is_one_run() and sys.getprofile() is None and sys.gettrace() is None:
        import threading

        if threading.active_count() == 1 and _flushed():
            import atexit

            atexit._run_exitfuncs()  # (they run once: the standard exit below would not repeat them)
            if _flushed():  # what they wrote too
                os._exit(code)
    sys.exit(code)


def _flushed() -> bool:
    """stdout and stderr flushed; False when that failed (the standard exit reports it as it
    always does)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return False
    return True


if __name__ == "__main__":
    run()
