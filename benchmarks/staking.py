#!/usr/bin/env python3
"""`fleetctl stake --batch` (dry run) for 1,000 new suppliers against the by-hand way, same run.

Starts the Pocket stand-in (lab/fleetlab/standin/) on 127.0.0.1 with ``--latency-ms``
of latency on every chain response and nothing staked but the fleet's owner, writes an inventory
declaring 1,000 suppliers with operator addresses the chain does not know yet, and measures:

* ``fleetctl stake --batch -o json`` cold, as a subprocess: it reads the chain (params, every
  supplier: not found), writes one stake config per supplier and the 1,000 commands; wall time,
  peak RSS, and the configs checked (count, parse, every field);
* what an operator does by hand today (poktroll issue #1292: 100 files, 100 commands), scripted
  at machine speed: one supplier at a time, ask the chain whether it is staked, then write its
  config with PyYAML and its command line.

Goal (issue 6): batch staking configs for 1,000 suppliers < 1 s. Prints the figures and the
goal; asserts nothing. Only 127.0.0.1 is used.

    .venv/bin/python benchmarks/staking.py [--suppliers 1000] [--latency-ms 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stakes  # noqa: E402  (benchmarks/stakes.py, beside this file: the stand-in's start)

from fleetlab.standin import lab_address  # noqa: E402

OWNER = lab_address("bench-stake-owner")
GOAL_WALL_S = 1.0


def fleetctl() -> str:
    exe = Path(sys.executable).parent / "fleetctl"
    if not exe.exists():
        sys.exit("fleetctl is not installed beside this Python (run scripts/setup.sh first)")
    return str(exe)


def start_standin(folder: Path, latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    seed = {"height": 5000, "latency_ms": latency_ms, "balances": {OWNER: 10**15}}
    (folder / "seed.json").write_text(json.dumps(seed))
    return stakes.start_standin(folder / "seed.json")


def write_inventory(folder: Path, rest_url: str, addresses: list[str]) -> Path:
    inv = folder / "inventory"
    inv.mkdir()
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    rm-1: {ansible_host: 127.0.0.1, ansible_connection: local}\n")
    suppliers = "\n".join(f"  - {{name: new-{i:04d}, operator_address: {a}, owner_address: {OWNER}, services: [eth], "
                          f"host: rm-1}}" for i, a in enumerate(addresses))
    (inv / "fleet.yml").write_text(
        f"protocol: shannon\npocket:\n  rest_url: '{rest_url}'\n  node_rpc_url: tcp://127.0.0.1:26657\n"
        f"  chain_id: pocket\nchains:\n  eth:\n    clients: [geth, nethermind, erigon]\n    replicas: 3\n"
        f"suppliers:\n{suppliers}\n")
    return inv


def run_fleetctl(inv: Path, out: Path, db: Path) -> tuple[float, float, dict]:
    """A cold run: wall time and peak RSS (os.wait4's rusage of the child)."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen([fleetctl(), "stake", "--batch", "-i", str(inv), "--out", str(out), "--db", str(db),
                                 "-o", "json"], stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if proc.returncode != 0:
            sys.exit(f"fleetctl stake --batch exited {proc.returncode}: {stderr.read().decode()[-500:]}")
        return wall, usage.ru_maxrss / 1024, json.loads(stdout.read())


def by_hand(rest_url: str, addresses: list[str], out: Path) -> float:
    """One supplier at a time: is it staked? then its config file and its command."""
    url = urlsplit(rest_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    started = time.perf_counter()
    conn.request("GET", "/pokt-network/poktroll/supplier/params")
    min_stake = int(json.loads(conn.getresponse().read())["params"]["min_stake"]["amount"])
    commands = []
    for i, address in enumerate(addresses):
        conn.request("GET", f"/pokt-network/poktroll/supplier/supplier/{quote(address)}")
        response = conn.getresponse()
        response.read()
        if response.status != 404:
            continue
        config = {"owner_address": OWNER, "operator_address": address, "stake_amount": f"{min_stake + 1}upokt",
                  "default_rev_share_percent": {OWNER: 100},
                  "services": [{"service_id": "eth", "endpoints": [
                      {"publicly_exposed_url": "http://127.0.0.1:8500", "rpc_type": "JSON_RPC"}]}]}
        path = out / f"new-{i:04d}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        commands.append(f"pocketd tx supplier stake-supplier --config {path} --from {address} --keyring-backend test "
                        f"--chain-id pocket --node tcp://127.0.0.1:26657 --yes")
    (out / "commands.sh").write_text("\n".join(commands) + "\n")
    conn.close()
    return time.perf_counter() - started


def check_configs(out: Path, count: int) -> str:
    files = sorted(p for p in out.rglob("*.yaml"))
    ok = 0
    for f in files:
        doc = yaml.safe_load(f.read_text())
        total = sum((doc.get("default_rev_share_percent") or {}).values())
        if doc.get("operator_address") and doc.get("stake_amount", "").endswith("upokt") and total == 100 \
                and doc.get("services"):
            ok += 1
    return f"{len(files)} configs, {ok} complete (of {count} suppliers)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suppliers", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    addresses = [lab_address(f"bench-new-supplier-{i}") for i in range(args.suppliers)]
    with tempfile.TemporaryDirectory(prefix="fleetctl-bench-stake-") as tmp:
        folder = Path(tmp)
        standin, rest_url = start_standin(folder, args.latency_ms)
        try:
            inv = write_inventory(folder, rest_url, addresses)
            walls, rss, hand = [], [], []
            for r in range(args.runs):
                out = folder / f"out-{r}"
                wall, peak, doc = run_fleetctl(inv, out, folder / f"state-{r}.db")
                walls.append(wall)
                rss.append(peak)
                print(f"[{r + 1}] fleetctl stake --batch: {wall:.3f} s, {peak:.0f} MB; {check_configs(out, args.suppliers)}")
                manual = folder / f"hand-{r}"
                manual.mkdir()
                hand.append(by_hand(rest_url, addresses, manual))
                print(f"[{r + 1}] by hand, one supplier at a time: {hand[-1]:.2f} s; {check_configs(manual, args.suppliers)}")
        finally:
            standin.terminate()
            standin.wait(10)
    med, best, med_hand = statistics.median(walls), min(walls), statistics.median(hand)
    print(f"\n{args.suppliers} new suppliers, {args.latency_ms} ms chain latency, {args.runs} runs each")
    print(f"fleetctl stake --batch (cold, dry run): median {med:.3f} s, best {best:.3f} s, peak {max(rss):.0f} MB")
    print(f"by hand, scripted at machine speed:     median {med_hand:.2f} s ({med_hand / med:.1f}x slower)")
    print(f"goal: batch staking configs for {args.suppliers} suppliers < {GOAL_WALL_S:g} s: "
          f"{'met' if med < GOAL_WALL_S else 'NOT met'} ({med:.3f} s median)")


if __name__ == "__main__":
    main()
