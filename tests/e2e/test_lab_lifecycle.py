"""`lab down` returns once its processes are gone (exited and reaped), leaves no process,
namespace, mount or link behind and keeps the blackhole route; `lab up` after it rebuilds
everything, also straight after (`lab down && lab up`); a test that leaves the lab down does not
take the next lab tests with it (the `lab` fixtures bring it back up)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetlab import manager as M

from conftest import fleetctl_bin, run_cli

pytestmark = pytest.mark.lab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(procs: list[M.LabProcess]) -> list[str]:
    """The ones still in the process table (running, or exited and not reaped)."""
    return [p.describe() for p in procs if p.present()]


@pytest.fixture()
def look_alikes(tmp_path):
    """An anvil and a Pocket stand-in started outside the lab (127.0.0.1): not the lab's."""
    procs = []
    anvil = M.find_anvil()
    assert anvil, "anvil is not installed (scripts/setup.sh)"
    env = {k: v for k, v in os.environ.items() if k != M.LAB_ENV}
    procs.append(subprocess.Popen([anvil, "--host", "127.0.0.1", "--port", str(_free_port()), "--silent"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    procs.append(subprocess.Popen([sys.executable, "-m", "fleetlab.standin",
                                   "--shannon-listen", f"127.0.0.1:{_free_port()}",
                                   "--morse-listen", f"127.0.0.1:{_free_port()}",
                                   "--comet-listen", f"127.0.0.1:{_free_port()}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path))
    time.sleep(0.5)
    assert all(p.poll() is None for p in procs)
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_down_leaves_nothing_then_up_again(lab, look_alikes):
    before = M.lab_processes()
    names = {p.name for p in before}
    assert {"anvil", "dockerd", "sshd", "containerd"} <= names, names
    # Only the lab's: the look-alikes outside it are neither counted nor stopped.
    assert not {p.pid for p in look_alikes} & {p.pid for p in before}

    proc = run_cli("lab", "down", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"down": True, "left": []}
    # Straight after: every process of the lab is gone (none still exiting, none a zombie).
    assert _gone(before) == []
    assert M.lab_processes() == []
    assert all(p.poll() is None for p in look_alikes), "lab down stopped a process that is not the lab's"
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


def test_down_and_up_again_at_once(lab):
    """`lab down && lab up` three times over: down never returns while its processes are still
    exiting, so the next up never meets them (ports, pid files, namespaces)."""
    fleetctl = fleetctl_bin()
    for _ in range(3):
        before = M.lab_processes()
        proc = subprocess.run(f"{fleetctl} lab down -q -o json && {fleetctl} lab up -q -o json", shell=True,
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr
        down, up = (json.loads(line) for line in proc.stdout.splitlines())
        assert down == {"down": True, "left": []} and up["up"] is True
        assert _gone(before) == []
        assert M.Lab().status()["up"]


def test_down_kills_what_ignores_sigterm_and_names_what_it_cannot_wait_for(lab):
    """A process of the lab that ignores SIGTERM is killed (SIGKILL after the grace); one that
    exits but is never reaped (its parent, this test, does not wait for it yet) is named on one
    line, exit 1, once the bound is over."""
    env = dict(os.environ, **{M.LAB_ENV: str(M.LAB_DIR)})
    # Detached (setsid -f): init is its parent, as for the lab's own daemons.
    subprocess.run(["setsid", "-f", "sh", "-c", 'trap "" TERM; exec sleep 1001'], env=env, check=True)
    stubborn = None
    deadline = time.monotonic() + 5
    while stubborn is None and time.monotonic() < deadline:
        stubborn = next((p for p in M.lab_processes() if p.name == "sleep"
                         and b"1001" in Path(f"/proc/{p.pid}/cmdline").read_bytes()), None)
        time.sleep(0.05)
    assert stubborn is not None
    orphan = subprocess.Popen(["sleep", "1002"], env=env, start_new_session=True)
    try:
        started = time.monotonic()
        proc = run_cli("lab", "down")
        took = time.monotonic() - started
    finally:
        orphan.kill()
        orphan.wait()
    assert not stubborn.present(), "a lab process that ignores SIGTERM survived lab down"
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if "left behind" in ln]
    assert lines == [f"lab down: left behind: process {orphan.pid} (sleep) (exited, not reaped yet)"], proc.stderr
    bound = M.DOWN_ENGINE_GRACE + 3 * (M.DOWN_GRACE + M.DOWN_KILL_WAIT) + M.DOWN_REAP_WAIT + 10
    assert took < bound, took


LAB_BEFORE: list[M.LabProcess] = []


def test_a_test_that_leaves_the_lab_down(lab):
    """Downs the lab on purpose and does not bring it back: the fixtures must."""
    LAB_BEFORE[:] = M.lab_processes()
    assert run_cli("lab", "down").returncode == 0
    assert not M.Lab().status()["up"]


def test_the_next_lab_test_finds_the_lab_up(lab):
    status = M.Lab().status()
    assert status["up"], status["problems"]
    # brought up again (new processes), not left as it was
    assert LAB_BEFORE and _gone(LAB_BEFORE) == []
