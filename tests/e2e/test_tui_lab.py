"""``fleetctl tui`` end to end on the lab, as an operator sees it: the real command in a tmux
pane (a real terminal), its screen read with ``capture-pane``, keys sent with ``send-keys``.

The lab fleet is applied once; the TUI starts on the Health view refreshing every 3 s; the test
switches views with ``:``, injects a fault with ``fleetctl lab fault`` and sees it in Health
within a refresh, takes the faulty backend out of rotation from the TUI (``r``, confirmed) and
checks HAProxy's own stats, quits with ``q`` and checks the exit code and that the terminal left
the alternate screen (restored)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import LAB_INV, apply_json, fleetctl_bin, run_cli, wipe_managed
from fleetlab import manager as M

pytestmark = pytest.mark.lab

FAULTY = "lab-h1-geth"  # an adopted execution front behind every host's lb-eth


class Pane:
    """One tmux server (its own socket) with one 160x48 pane running a shell."""

    def __init__(self, tmp: Path) -> None:
        self.socket = f"fleetctl-tui-{uuid.uuid4().hex[:8]}"
        self.target = "tui"
        self.exit_file = tmp / "tui-exit"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        self.env = {**env, "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        self.tmux("new-session", "-d", "-s", self.target, "-x", "160", "-y", "48", "bash --norc --noprofile")

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20,
                              env=self.env)
        if proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def run(self, command: str) -> None:
        self.tmux("send-keys", "-t", self.target, "-l", f"{command}; echo $? > {shlex.quote(str(self.exit_file))}")
        self.tmux("send-keys", "-t", self.target, "Enter")

    def keys(self, *keys: str, literal: bool = False, pause: float = 0.05) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.target, *(["-l"] if literal else []), key)
            time.sleep(pause)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def wait_for(self, what: str, check: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.25)
        raise AssertionError(f"{what}: not on screen within {timeout:.0f} s; screen was:\n{text}")

    def alternate_on(self) -> bool:
        return self.tmux("display-message", "-p", "-t", self.target, "#{alternate_on}").strip() == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


def stats(host_address: str) -> dict[str, str]:
    """Server -> status on a host's lb-eth (HAProxy's stats CSV)."""
    with urllib.request.urlopen(f"http://{host_address}:7700/stats;csv", timeout=5) as resp:
        rows = resp.read().decode().splitlines()
    header = rows[0][2:].split(",")
    out = {}
    for row in rows[1:]:
        cells = dict(zip(header, row.split(",")))
        if cells.get("pxname") == "eth-nodes" and cells.get("svname") not in ("FRONTEND", "BACKEND"):
            out[cells["svname"]] = cells["status"]
    return out


def lab_fault(*args: str) -> None:
    proc = run_cli("lab", "fault", *args, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def inv(lab, tmp_path_factory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("tui") / "lab"
    shutil.copytree(LAB_INV, root)
    with open(root / "fleet.yml", "a") as fh:  # the lab's hosts share this machine's CPUs
        fh.write("\nhealth:\n  load_warning: 50\n  load_critical: 100\n")
    wipe_managed()
    rc, res = apply_json(root)
    assert rc == 0, res
    yield root
    lab_fault(FAULTY, "--clear")
    run_cli("rotation", "in", f"lab-h1/lb-eth/{FAULTY}", "-i", str(root), "--yes", timeout=60)
    wipe_managed()


@pytest.fixture()
def pane(tmp_path: Path) -> Iterator[Pane]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/setup.sh installs it)")
    p = Pane(tmp_path)
    yield p
    p.close()


def test_tui_on_the_lab(inv: Path, pane: Pane, tmp_path: Path) -> None:
    lab_fault(FAULTY, "--clear")
    db = tmp_path / "state.db"
    pane.run(f"{shlex.quote(fleetctl_bin())} -i {shlex.quote(str(inv))} tui --refresh 3s --view health "
             f"--db {shlex.quote(str(db))}")
    pane.wait_for("the Health view with the fleet's endpoints",
                           lambda s: "fleetctl ▸ health" in s and FAULTY in s and "eth-geth-1" in s)
    assert pane.alternate_on()
    # switching views with the command bar, each showing its own rows
    for word, view, needle in (("stakes", "stakes", "lab-sup-1"), ("fleet", "fleet", "lab-h2"),
                               ("diversity", "diversity", "nethermind"), ("alerts", "alerts", "firing"),
                               ("claims", "claims", "lab-sup-2"), ("runs", "runs", "lab-h3"),
                               ("scale", "scale", "eligible"), ("h", "health", FAULTY)):
        pane.keys(":")
        pane.type(word)
        pane.keys("Enter")
        pane.wait_for(f":{word} shows the {view} view with {needle}",
                      lambda s, v=view, n=needle: s.splitlines()[0].strip() == f"fleetctl ▸ {v}" and n in s)
    # a fault injected from outside shows within a refresh (3 s) plus a sweep
    lab_fault(FAULTY, "--lag", "20")
    pane.wait_for(f"{FAULTY} lagging", lambda s: any(FAULTY in line and "lag" in line.lower()
                                                              for line in s.splitlines()), timeout=30)
    # open lab-h1's balancer (its pool: each server's HAProxy status beside its endpoint's health),
    # select the faulty server, take it out of rotation: the confirmation names the CLI command
    pane.keys("/")
    pane.type("lab-h1/lb-eth")
    pane.keys("Enter", "Enter", pause=0.6)  # an operator's pace: the filter closes, then the row opens
    pane.wait_for("lab-h1's pool", lambda s: "lab-h1/lb-eth" in s.splitlines()[0] and "lab-h3-erigon" in s)
    pane.keys("/")
    pane.type(FAULTY)
    pane.keys("Enter", "r", pause=0.6)
    # (the command line wraps inside the dialog: its words are checked, not the whole line)
    pane.wait_for("the confirmation", lambda s: "same as:" in s and "rotation out" in s.replace("\n", " ")
                  or ("same as:" in s and "otation out" in s and "Yes (y)" in s), timeout=60)
    pane.keys("y")
    pane.wait_for("taken out of lab-h1's rotation", lambda s: stats(M.HOSTS[0].address).get(FAULTY) == "MAINT",
                  timeout=60)
    assert M.HOSTS[0].name == "lab-h1"
    assert all(stats(h.address).get(FAULTY) != "MAINT" for h in M.HOSTS[1:])  # the other pools untouched
    # (an operator's pace: esc then a key within tmux's escape-time would read as alt+key)
    pane.keys("Escape", "Escape", pause=0.8)
    pane.wait_for("back on the Health view", lambda s: s.splitlines()[0].strip() == "fleetctl ▸ health")
    # quit: exit code 0, the terminal left the alternate screen
    pane.keys("q")
    pane.wait_for("the shell back", lambda s: pane.exit_file.exists(), timeout=30)
    assert pane.exit_file.read_text().strip() == "0"
    assert not pane.alternate_on()
    assert "Traceback" not in pane.screen()
