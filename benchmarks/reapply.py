#!/usr/bin/env python3
"""No-change re-apply on the lab's hosts: fleetctl apply against plain ansible-playbook.

Same playbooks, same variables, same three hosts, measured in one run, interleaved:
  * ansible-playbook with default settings (the baseline an operator would run by hand);
  * fleetctl apply --strategy default: fleetctl's own overhead (observe, plan, runner) on top
    of the same Ansible settings (goal: < 10 %);
  * fleetctl apply with pipelining, and with mitogen (its default when installed) (goal: >= 2x
    faster than the baseline).
Needs root and the lab (it runs `fleetctl lab up` and converges the lab fleet first).

    .venv/bin/python benchmarks/reapply.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    fleetctl = str(BIN / "fleetctl")
    from fleetctl.core.resources import data_dir, lab_inventory

    inv = lab_inventory()
    run([fleetctl, "lab", "up", "-q"])
    run([fleetctl, "apply", "-i", str(inv), "--yes", "-q"])  # converge first: every measured run is a no-change run
    work = Path(tempfile.mkdtemp(prefix="fleetctl-bench-"))
    vars_file = work / "vars.yml"
    run([fleetctl, "plan", "-i", str(inv), "--vars-out", str(vars_file), "-q"])
    plain = [str(BIN / "ansible-playbook"), "-i", str(inv / "hosts.yml"), "-i", str(vars_file), str(data_dir("playbooks") / "site.yml")]
    try:
        import ansible_mitogen  # noqa: F401
        has_mitogen = True
    except ImportError:
        has_mitogen = False
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "ansible-playbook, default settings (baseline)": (plain, {}),
        "fleetctl apply --strategy default": ([fleetctl, "apply", "-i", str(inv), "--yes", "-q", "--strategy", "default"], {}),
        "fleetctl apply --strategy pipelining": ([fleetctl, "apply", "-i", str(inv), "--yes", "-q", "--strategy", "pipelining"], {}),
    }
    if has_mitogen:
        cases["fleetctl apply (mitogen, its default)"] = ([fleetctl, "apply", "-i", str(inv), "--yes", "-q"], {})
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for i in range(args.runs):
        for name, (cmd, env) in cases.items():
            # a fresh ControlPath folder per run for the baseline too: no warm SSH masters
            cp = {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / f"cp-{i}-{len(samples[name])}")}
            samples[name].append(run(cmd, {**env, **cp}))
    base = statistics.median(samples["ansible-playbook, default settings (baseline)"])
    print(f"no-change re-apply on {len(list((inv / 'hosts.yml').read_text().split('ansible_host:'))) - 1} lab hosts, {args.runs} runs each, interleaved")
    print(f"{'command':48} {'median s':>9} {'vs baseline':>12}")
    for name, vals in samples.items():
        med = statistics.median(vals)
        print(f"{name:48} {med:9.2f} {med / base:11.2f}x")
    overhead = statistics.median(samples["fleetctl apply --strategy default"]) / base - 1
    slow = ("ansible-playbook, default settings (baseline)", "fleetctl apply --strategy default")
    fast = min(statistics.median(v) for k, v in samples.items() if k not in slow)
    print(f"goal: fleetctl overhead < 10%: {overhead:+.0%} ({'met' if overhead < 0.10 else 'NOT met'})")
    print(f"goal: >= 2x faster than the baseline: {base / fast:.2f}x ({'met' if base / fast >= 2 else 'NOT met'})"
          + ("" if has_mitogen else " (mitogen not installed)"))


if __name__ == "__main__":
    main()
