"""The README's two commands work as written in a root shell (a fresh Debian 12 has no sudo): the
scripts never call sudo, and run by anyone else they stop at once with one clear line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))


def _commands(text: str) -> list[str]:
    """The script's lines without comments (a `# … sudo …` remark is not a call)."""
    out = []
    for line in text.splitlines():
        code = line.split("#", 1)[0] if not line.lstrip().startswith("echo") else line
        if code.strip():
            out.append(code)
    return out


def test_there_are_scripts() -> None:
    assert {p.name for p in SCRIPTS} >= {"demo.sh", "test.sh", "setup.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_script_calls_sudo(script: Path) -> None:
    calls = [ln for ln in _commands(script.read_text()) if re.search(r"(^|[\s;&|(`$])sudo(\s|$)", ln)]
    assert calls == []


def test_readme_commands_run_as_root_as_written() -> None:
    block = (REPO / "README.md").read_text().split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [ln.split("#", 1)[0].strip() for ln in block.splitlines() if ln.strip()]
    assert commands == ["./scripts/demo.sh", "./scripts/test.sh"]
    for c in commands:
        assert os.access(REPO / c, os.X_OK), f"{c} is not executable"
    # .ci/run runs exactly the README's test command
    ci = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci == ["exec bash scripts/test.sh"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to run as another user")
@pytest.mark.parametrize("name", ["demo.sh", "test.sh", "setup.sh"])
@pytest.mark.parametrize("how", ["exec", "bash"])
def test_not_root_is_one_clear_line(name: str, how: str) -> None:
    script = REPO / "scripts" / name
    argv = [str(script)] if how == "exec" else ["bash", str(script)]
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv],
                          capture_output=True, text=True, timeout=30, cwd="/")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "run as root" in lines[0] and "sudo" not in lines[0], proc.stderr
