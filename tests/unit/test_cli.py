"""The command line as a user and a CI pipeline see it: exit codes, one-line errors, JSON."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from conftest import EXAMPLE, LAB_INV, run_cli


def test_version_both_ways():
    from fleetctl import __version__

    assert run_cli("--version").stdout.strip() == f"fleetctl {__version__}"
    proc = subprocess.run([sys.executable, "-m", "fleetctl", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fleetctl {__version__}"


def test_help_lists_commands():
    out = run_cli("--help").stdout
    for cmd in ("validate", "inventory", "lab"):
        assert cmd in out


def test_validate_ok_and_global_options_anywhere():
    for args in (("-i", str(EXAMPLE), "validate"), ("validate", "-i", str(EXAMPLE)), ("validate", "--inventory", str(EXAMPLE), "--no-color")):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("ok: shannon: 8 hosts, 2 chains"), proc.stdout
    proc = run_cli("validate", env={"FLEETCTL_INVENTORY": str(LAB_INV)})
    assert proc.returncode == 0 and "3 hosts" in proc.stdout


def test_validate_json():
    proc = run_cli("-o", "json", "validate", "-i", str(EXAMPLE))
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["errors"] == []


def test_bad_inventory_gives_one_line_errors_and_exit_2(tmp_path):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 10.0.0.1}\n")
    (tmp_path / "fleet.yml").write_text("pocket: {rest_url: 'http://127.0.0.1:1'}\nchains:\n  eth: {clients: [geth], replicas: two}\nsupplier: []\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    proc = run_cli("validate", "-i", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"{tmp_path}/fleet.yml:3:36: chains.eth.replicas: expected an integer, got the string 'two'",
        f"{tmp_path}/fleet.yml:4:1: supplier: unknown key (did you mean 'suppliers'?)",
    ], lines
    assert "Traceback" not in proc.stderr
    proc = run_cli("validate", "-i", str(tmp_path), "-o", "json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    assert doc["errors"][0] == {"file": f"{tmp_path}/fleet.yml", "line": 3, "column": 36, "field": "chains.eth.replicas",
                                "message": "expected an integer, got the string 'two'"}
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing changed


def test_no_inventory_is_a_usage_error():
    proc = run_cli("validate")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "fleetctl: no inventory: pass -i PATH or set FLEETCTL_INVENTORY (see inventories/example)"


def test_unknown_command_and_option():
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("validate", "--frob").returncode == 2
    proc = run_cli("lab")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_inventory_views():
    doc = json.loads(run_cli("inventory", "-i", str(EXAMPLE), "-o", "json").stdout)
    assert set(doc) == {"protocol", "pocket", "hosts", "chains", "suppliers"}
    assert len(doc["suppliers"]) == 26 and doc["suppliers"][-1]["state"] == "to-create"
    hosts = json.loads(run_cli("inventory", "hosts", "-i", str(EXAMPLE), "-o", "json").stdout)
    assert list(hosts) == ["hosts"] and hosts["hosts"][0]["name"] == "el-ams-1"
    table = run_cli("inventory", "chains", "-i", str(EXAMPLE)).stdout.splitlines()
    assert table[0].split() == ["CHAIN", "CLIENTS", "REPLICAS", "MAX_SHARE", "MODE", "MORSE_ID", "ADOPTED"]
    assert table[1].split()[:3] == ["eth", "geth,nethermind,erigon", "6"]


def test_secrets_in_host_vars_are_not_shown(tmp_path):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n      ansible_become_password: hunter2-secret\n")
    (tmp_path / "fleet.yml").write_text("pocket: {rest_url: 'http://127.0.0.1:1'}\nchains:\n  eth: {clients: [geth], replicas: 1}\n")
    for fmt in ("table", "json"):
        proc = run_cli("inventory", "-i", str(tmp_path), "-o", fmt)
        assert proc.returncode == 0 and "hunter2" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("argv", [["--help"], ["-i", str(EXAMPLE), "validate"], ["-i", str(EXAMPLE), "inventory"]])
def test_start_up_imports_stay_light(argv):
    code = (
        "import sys\nfrom fleetctl.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('docker', 'paramiko', 'textual', 'ansible_runner', 'ansible') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert proc.stderr.strip().endswith("HEAVY="), proc.stderr


def test_lab_needs_root_and_says_so():
    if os.geteuid() != 0:
        proc = run_cli("lab", "up")
    else:
        # Drop to nobody for this one command.
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "fleetctl", "lab", "up"],
                              capture_output=True, text=True, cwd="/", env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == "fleetctl: the lab needs root (network namespaces, sshd, dockerd): run it as root"


def test_stakes_start_up_stays_light(tmp_path):
    """cron runs `fleetctl stakes` every minute: no docker, paramiko, textual or ansible_runner.
    The gateway is a closed loopback port, so the run ends UNKNOWN at once."""
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (tmp_path / "fleet.yml").write_text(
        "pocket: {rest_url: 'http://127.0.0.1:9'}\nchains:\n  eth: {clients: [geth], replicas: 1}\n"
        "suppliers:\n  - {operator_address: pokt1e8ksudsrczj875u87wzmn6t2639qhmhlwk3re2, services: [eth]}\n")
    argv = ["-i", str(tmp_path), "stakes", "--no-record", "--timeout", "0.5"]
    code = (
        "import sys\nfrom fleetctl.cli import main\n"
        f"rc = main({argv!r})\n"
        "heavy = sorted(m for m in ('docker', 'paramiko', 'textual', 'ansible_runner') if m in sys.modules)\n"
        "sys.stderr.write(f'RC={rc} HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert proc.stderr.strip().endswith("RC=3 HEAVY="), proc.stderr


_ONE_RUN = """
import atexit, sys, threading, time
import fleetctl.cli as cli
from fleetctl.commands._common import one_run_gc

class Teardown:  # a module global: freed at the interpreter's teardown, never after os._exit
    def __del__(self):
        sys.stderr.write("teardown ran\\n")
        sys.stderr.flush()

keep = Teardown()

def command(argv=None):
    if "one-run" in sys.argv:
        one_run_gc()
    if "thread" in sys.argv:
        threading.Thread(target=lambda: (time.sleep(0.3), sys.stderr.write("thread done\\n"))).start()
    atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
    atexit.register(lambda: sys.stdout.write("!"))  # held in stdout's buffer: flushed too
    if "closed" in sys.argv:
        time.sleep(0.2)  # the reader goes away meanwhile
        sys.stdout.write("x" * 100)  # held in the buffer until the end
        return 3
    sys.stdout.write("x" * 1_000_000)  # more than a pipe holds: flushed before the end
    return 3

cli.main = command
if "profiled" in sys.argv:
    import cProfile
    profile = cProfile.Profile()
    profile.enable()
    try:
        cli.run()
    finally:  # a profiler writes its report once the program returns
        profile.disable()
        sys.stderr.write("profile written\\n")
else:
    cli.run()
"""


#: stdout block-buffered, as under cron (PYTHONUNBUFFERED would write through)
_BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.parametrize("mode", ["one-run", "plain", "one-run thread", "one-run profiled"])
def test_the_console_script_ends_a_one_run_command_without_teardown(mode):
    """health/stakes/claims (one run, then exit) end without the interpreter's teardown: the
    whole output, the exit code and the atexit handlers as at a normal exit; another command,
    or a thread still running, takes the standard way out."""
    proc = subprocess.run([sys.executable, "-c", _ONE_RUN, *mode.split()], capture_output=True, text=True,
                          cwd="/", timeout=60, env=_BUFFERED)
    assert proc.returncode == 3 and proc.stdout == "x" * 1_000_000 + "!"
    assert "atexit ran" in proc.stderr
    if mode == "one-run thread":
        assert "thread done" in proc.stderr  # joined, as at a standard exit
    elif mode == "one-run profiled":
        assert "profile written" in proc.stderr  # run() returned: the standard way out
    else:
        assert ("teardown ran" in proc.stderr) is (mode == "plain"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_one_run_command_whose_reader_went_away_exits_as_before():
    """`fleetctl health -o json | head -c 0`: the flush fails; the standard exit handles it, as
    it does for every other command."""
    outcomes = []
    for mode in ("one-run", "plain"):
        proc = subprocess.Popen([sys.executable, "-c", _ONE_RUN, mode, "closed"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd="/", env=_BUFFERED)
        proc.stdout.close()  # the reader went away before the output was flushed
        err = proc.stderr.read()
        outcomes.append((proc.wait(timeout=60), err))
    (code, err), (plain_code, plain_err) = outcomes
    assert code == plain_code == 120  # Python's exit status when flushing stdout fails at exit
    assert err == plain_err.replace("teardown ran\n", "") and "BrokenPipeError" in err and "Traceback" not in err


def test_only_the_command_that_runs_has_its_parser_made():
    """`fleetctl X` sets up X's parser alone (~4 ms of every cron run for the fifteen others);
    the top-level help still lists every command with its summary."""
    from fleetctl.cli import build_parser
    from fleetctl.commands import commands_dict

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(commands_dict)
    assert all(p._deferred is not None for p in sub.choices.values())
    args = parser.parse_args(["-i", str(EXAMPLE), "validate"])
    assert args.command == "validate" and args.inventory == str(EXAMPLE)
    made = sorted(name for name, p in sub.choices.items() if p._deferred is None)
    assert made == ["validate"]
    text = build_parser().format_help()
    assert all(name in text and info.summary.split()[0] in text for name, info in commands_dict.items())
    lazy = sub.choices["health"]
    assert lazy.prog.endswith(" health") and lazy._deferred is None  # any attribute read makes it


def test_parsing_a_command_does_not_import_shutil_and_help_keeps_its_width(monkeypatch):
    """argparse makes a help formatter for every argument it adds, and its own imports shutil for
    the terminal's width (with bz2, lzma, fnmatch: ~2 ms of every cron run): fleetctl's finds the
    same width without it."""
    import argparse

    from fleetctl.cli import _Formatter

    code = ("import sys\nfrom fleetctl.cli import build_parser\n"
            "build_parser().parse_args(['health', '-i', 'x', '-o', 'json'])\n"
            "print(sorted(m for m in ('shutil', 'bz2', 'lzma') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    for columns in ("57", "200", "", "junk", "-5"):
        monkeypatch.setenv("COLUMNS", columns)
        assert _Formatter("fleetctl")._width == argparse.HelpFormatter("fleetctl")._width
    monkeypatch.delenv("COLUMNS")
    assert _Formatter("fleetctl")._width == argparse.HelpFormatter("fleetctl")._width
    monkeypatch.setenv("COLUMNS", "60")
    text = run_cli("health", "--help").stdout
    assert text and max(len(line) for line in text.splitlines()) <= 58
