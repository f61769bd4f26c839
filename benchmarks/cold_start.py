#!/usr/bin/env python3
"""Cold start of `fleetctl --help` (and `fleetctl validate`) against `python -c pass`.

Cron runs fleetctl every minute, so start-up is a feature. Prints the median and p90 of N
runs of each command, measured in the same run, interleaved so machine noise hits both alike.
Goal (issue 2): `fleetctl --help` within 150 ms of the bare interpreter.

    python benchmarks/cold_start.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def fleetctl() -> str:
    exe = Path(sys.executable).parent / "fleetctl"
    if not exe.exists():
        sys.exit("fleetctl is not installed beside this Python (run scripts/setup.sh, then .venv/bin/python benchmarks/cold_start.py)")
    return str(exe)


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    exe = fleetctl()
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "fleetctl --help": [exe, "--help"],
        "fleetctl validate (example inventory)": [exe, "-i", str(REPO / "inventories/example"), "validate"],
    }
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for cmd in cases.values():  # warm the page cache once
        timed(cmd)
    for _ in range(args.runs):
        for name, cmd in cases.items():
            samples[name].append(timed(cmd))
    base = statistics.median(samples["python -c pass (baseline)"])
    print(f"cold start, {args.runs} runs each, interleaved ({os.cpu_count()} cpus)")
    print(f"{'command':42} {'median ms':>10} {'p90 ms':>8} {'+ms vs baseline':>16}")
    for name, vals in samples.items():
        vals.sort()
        med = statistics.median(vals)
        p90 = vals[int(len(vals) * 0.9) - 1]
        extra = "" if name.startswith("python") else f"{(med - base) * 1000:+.0f}"
        print(f"{name:42} {med * 1000:10.1f} {p90 * 1000:8.1f} {extra:>16}")
    over = (statistics.median(samples["fleetctl --help"]) - base) * 1000
    print(f"goal: fleetctl --help < +150 ms over the baseline: {'met' if over < 150 else 'NOT met'} ({over:+.0f} ms)")


if __name__ == "__main__":
    main()
