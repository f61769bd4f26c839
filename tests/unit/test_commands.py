"""The command registry: `fleetctl --help` imports no command, `fleetctl X` only X's module, and
every registered command's module has its entry points."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from fleetctl.commands import commands_dict

from conftest import EXAMPLE, REPO


def _fleetctl_modules(argv: list[str]) -> tuple[int, list[str]]:
    """Run fleetctl's main in a fresh interpreter; its exit code and the fleetctl modules it imported."""
    code = (
        "import sys\nfrom fleetctl.cli import main\n"
        f"try:\n    rc = main({argv!r})\nexcept SystemExit as exc:\n    rc = exc.code\n"
        "sys.stderr.write('\\nMODULES=' + ','.join(sorted(m for m in sys.modules if m.startswith('fleetctl'))) "
        "+ f'\\nRC={rc}')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)
    tail = proc.stderr.rsplit("\nMODULES=", 1)
    assert len(tail) == 2, proc.stderr
    modules, rc = tail[1].split("\nRC=")
    return int(rc), modules.split(",")


def test_help_imports_no_command_module():
    rc, modules = _fleetctl_modules(["--help"])
    assert rc == 0
    commands = [m for m in modules if m.startswith("fleetctl.commands")]
    assert commands == ["fleetctl.commands"], commands


def test_no_command_prints_help_and_exits_2():
    rc, modules = _fleetctl_modules([])
    assert rc == 2
    assert [m for m in modules if m.startswith("fleetctl.commands.")] == []


@pytest.mark.parametrize("argv", [["-i", str(EXAMPLE), "validate"], ["validate", "-o", "json", "-i", str(EXAMPLE)],
                                  ["--inventory", str(EXAMPLE), "-q", "inventory", "hosts"]])
def test_a_command_imports_only_its_own_module(argv):
    rc, modules = _fleetctl_modules(argv)
    assert rc == 0
    name = next(a for a in argv if a in commands_dict)
    commands = {m for m in modules if m.startswith("fleetctl.commands.")}
    assert commands == {f"fleetctl.commands.{name}", "fleetctl.commands._common"}, commands


def test_command_help_imports_only_its_own_module():
    rc, modules = _fleetctl_modules(["stake", "--help"])
    assert rc == 0
    commands = {m for m in modules if m.startswith("fleetctl.commands.")}
    assert commands == {"fleetctl.commands.stake", "fleetctl.commands._common"}, commands


@pytest.mark.parametrize("name", sorted(commands_dict))
def test_every_registered_command_has_its_entry_points(name):
    info = commands_dict[name]
    assert info.module_path == f"fleetctl.commands.{name}"
    assert info.summary and "%" not in info.summary
    module = importlib.import_module(info.module_path)
    assert callable(module.add_arguments) and callable(module.run)
    parser = argparse.ArgumentParser(prog=f"fleetctl {name}")
    module.add_arguments(parser)  # adds its own arguments without error


def test_the_registry_is_what_help_lists():
    from fleetctl.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(commands_dict)
    assert [a.dest for a in sub._choices_actions] == list(commands_dict)
    assert [a.help for a in sub._choices_actions] == [i.summary for i in commands_dict.values()]


def test_the_command_fronts_left_the_library():
    for gone in ("fleetctl.pocket.staking_cli", "fleetctl.health.alerts_cli"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(gone)
    assert not any(p.name.endswith("_cli.py") for p in (REPO / "fleetctl").rglob("*.py")
                   if "commands" not in p.parts)


def test_confirm_keeps_each_commands_messages(monkeypatch):
    from fleetctl.commands._common import confirm
    from fleetctl.core.errors import UserError

    class Out:
        def __init__(self):
            self.errors: list[str] = []

        def error(self, text):
            self.errors.append(text)

    out = Out()
    assert confirm(out, "sure? ", yes=True, what="apply") is True
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(UserError, match=r"^apply: no terminal to confirm on; pass --yes to apply without asking$"):
        confirm(out, None, yes=False, what="apply", hint="pass --yes to apply without asking")
    with pytest.raises(UserError, match=r"^scale --apply: no terminal to confirm on; pass --yes$"):
        confirm(out, "Add 1 identity? ", yes=False, what="scale --apply", cancelled="scale")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert confirm(out, None, yes=False, what="apply") is True  # nothing to ask
    monkeypatch.setattr("builtins.input", lambda q: "n")
    assert confirm(out, "Add 1 identity? ", yes=False, what="scale --apply", cancelled="scale") is False
    assert out.errors == ["scale: cancelled, nothing changed"]
    monkeypatch.setattr("builtins.input", lambda q: " Yes ")
    assert confirm(out, "Apply? ", yes=False, what="apply") is True


@pytest.mark.parametrize("sub", ["up", "down", "status"])
def test_lab_commands_without_the_lab_installed_say_so_in_one_line(sub):
    """fleetlab is its own distribution: without it, `fleetctl lab X` is one line, exit 2."""
    code = ("import sys; sys.modules['fleetlab'] = None\n"  # import fleetlab -> ModuleNotFoundError
            "from fleetctl.cli import main\n"
            f"sys.exit(main(['lab', '{sub}']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == "fleetctl: lab: the lab is not installed: pip install ./lab\n"
