"""`lab down` leaves no process, namespace, mount or link behind, and keeps the blackhole route;
`lab up` after it rebuilds everything."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fleetctl.lab import manager as M

from conftest import run_cli

pytestmark = pytest.mark.lab


def _lab_processes() -> list[str]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("/var/lib/fleetctl-lab" in cmd or "/run/fleetctl-lab" in cmd or "fleetlab-h" in cmd
                or (f"--host {M.BRIDGE_IP}" in cmd) or "pocket_standin" in cmd):
            out.append(f"{entry.name}: {cmd}")
    return out


def test_down_leaves_nothing_then_up_again(lab):
    proc = run_cli("lab", "down", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"down": True, "left": []}
    assert _lab_processes() == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "fleetlab-" not in netns
    mounts = Path("/proc/self/mountinfo").read_text()
    assert "fleetctl-lab" not in mounts and "fleetlab-" not in mounts
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert M.BRIDGE not in links and "fl-h" not in links
    # Safety stays: a lab address still goes nowhere while the lab is down.
    assert "blackhole" in subprocess.run(["ip", "route", "show", M.LAB_RANGE], capture_output=True, text=True).stdout
    status = run_cli("lab", "status", "-o", "json")
    assert status.returncode == 3 and json.loads(status.stdout)["up"] is False
    # down twice is fine
    assert run_cli("lab", "down").returncode == 0

    proc = run_cli("lab", "up", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["up"] is True
