#!/usr/bin/env python3
"""`fleetctl stakes` on 1,000 Shannon suppliers against a sequential reader, same run.

Starts the Pocket stand-in (lab/fleetlab/standin/) in a subprocess on 127.0.0.1 with
1,000 staked suppliers and, by default (``--pocket built``), the JSON-RPC farm's Pocket port in
front of it (benchmarks/rpc_farm.py): each answer built from the stand-in's document and
serialized again, the work a gateway does per answer, after 10 ms of latency, on one event loop
(the threaded stand-in spends ~0.3 ms of CPU per request in its threads, which on a 2-CPU
machine compete with the reader being measured, where a real gateway runs elsewhere);
``--pocket standin`` reads the stand-in itself with its own 10 ms latency (earlier figures).
Writes an inventory that declares them all, then measures:

* `fleetctl stakes -o json` cold, as a subprocess (what cron runs): wall time and peak RSS
  (``os.wait4``'s rusage of that child), over ``--runs`` runs;
* a sequential baseline that reads the same facts one request at a time over one keep-alive
  connection (height, the three param sets, then each supplier and its operator balance).

The goals are measured on an inventory that declares each supplier's owner, as operators do
(inventories/example): fleetctl then reads the suppliers with one listing of the owner's and
queries each operator balance. The same fleet without owners is measured too, as most fleets
are: its first run reads each supplier by its address (nothing remembered yet: a fresh
FLEETCTL_CACHE_DIR), the later ones by the owner the chain named then (fleetctl/pocket/owners.py).

Goals (issue "stake and slashing monitor"): >= 20x faster than the baseline, < 2 s, < 150 MB.
Prints the figures and the goals; asserts nothing.

    .venv/bin/python benchmarks/stakes.py [--suppliers 1000] [--latency-ms 10] [--runs 3]
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
from urllib.parse import urlsplit

from fleetlab.standin import lab_address

MIN_STAKE = 59_500_000_000
OWNER = lab_address("bench-owner")
GOAL_SPEEDUP, GOAL_WALL_S, GOAL_RSS_MB = 20.0, 2.0, 150.0


def fleetctl() -> str:
    exe = Path(sys.executable).parent / "fleetctl"
    if not exe.exists():
        sys.exit("fleetctl is not installed beside this Python (run scripts/setup.sh, then "
                 ".venv/bin/python benchmarks/stakes.py)")
    return str(exe)


def write_inputs(folder: Path, count: int, latency_ms: int) -> tuple[Path, list[str]]:
    """The stand-in's seed: ``count`` suppliers of one owner, margins from 0 to 19,800 POKT."""
    addresses = [lab_address(f"bench-supplier-{i}") for i in range(count)]
    seed = {
        "height": 5000,
        "latency_ms": latency_ms,
        "shannon": {"suppliers": [
            {"operator_address": a, "owner_address": OWNER, "services": ["eth"],
             "stake_upokt": MIN_STAKE + 200_000_000 * (i % 100)} for i, a in enumerate(addresses)]},
        "balances": {a: 50_000_000 for a in addresses},
    }
    state = folder / "seed.json"
    state.write_text(json.dumps(seed))
    return state, addresses


def write_inventory(folder: Path, url: str, addresses: list[str], *, owners: bool) -> Path:
    """An inventory declaring every supplier (with its owner address or without)."""
    inventory = folder / ("inventory" if owners else "inventory-no-owners")
    inventory.mkdir()
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    owner = f", owner_address: {OWNER}" if owners else ""
    suppliers = "\n".join(f"  - {{name: bench-{i}, operator_address: {a}{owner}, services: [eth]}}"
                          for i, a in enumerate(addresses))
    (inventory / "fleet.yml").write_text(
        f"protocol: shannon\npocket: {{rest_url: '{url}'}}\n"
        f"chains:\n  eth: {{clients: [geth], replicas: 1}}\nsuppliers:\n{suppliers}\n"
        f"stake: {{warning_margin: 10%, critical_margin: 2%, min_operator_balance: '10 POKT'}}\n")
    return inventory


def standin_argv(state: Path, comet: bool = False) -> list[str]:
    """The Pocket stand-in on loopback, ephemeral ports, seeded from ``state`` (also used by
    benchmarks/health.py and benchmarks/staking.py); ``comet``: its CometBFT RPC listener too."""
    return [sys.executable, "-m", "fleetlab.standin", "--state", str(state),
            "--shannon-listen", "127.0.0.1:0", "--morse-listen", "127.0.0.1:0",
            *(["--comet-listen", "127.0.0.1:0"] if comet else [])]


def shannon_url(proc: subprocess.Popen[str]) -> str:
    """The Shannon URL from the stand-in's ``ready …`` line (the process is killed if it fails)."""
    return standin_urls(proc)["shannon"]


def standin_urls(proc: subprocess.Popen[str]) -> dict[str, str]:
    """The URLs of the stand-in's ``ready shannon=… morse=… [comet=…]`` line (the process is
    killed if it fails)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        sys.exit(f"the stand-in did not start: {line!r}")
    return dict(part.split("=", 1) for part in line.split()[1:])


def start_standin(state: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(standin_argv(state), stdout=subprocess.PIPE, text=True)
    return proc, shannon_url(proc)


def start_farm(upstream: str, latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    """The farm's Pocket port in front of ``upstream`` (one JSON-RPC port besides, unused)."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "rpc_farm.py"), "--ports", "1",
         "--latency-ms", str(latency_ms), "--pocket-proxy", upstream, "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    fields = dict(part.split("=", 1) for part in line.split()[1:]) if line.startswith("ready ") else {}
    if "pocket" not in fields:
        proc.kill()
        sys.exit(f"the farm did not start: {line!r}")
    return proc, f"http://127.0.0.1:{fields['pocket']}"


def run_fleetctl(argv: list[str], cache: Path | None = None) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MB), exit code and stdout of one cold run (``cache``: its
    FLEETCTL_CACHE_DIR)."""
    env = {**os.environ, **({"FLEETCTL_CACHE_DIR": str(cache)} if cache else {})}
    with tempfile.TemporaryFile("w+") as stdout:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        return wall, usage.ru_maxrss / 1024, proc.returncode, stdout.read()


def sequential_read(url: str, addresses: list[str]) -> float:
    """Seconds to read height, params, and every supplier and balance, one request at a time."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    paths = ["/cosmos/base/tendermint/v1beta1/blocks/latest"] + [
        f"/pokt-network/poktroll/{m}/params" for m in ("supplier", "proof", "shared")]
    for address in addresses:
        paths.append(f"/pokt-network/poktroll/supplier/supplier/{address}?dehydrated=true")
        paths.append(f"/cosmos/bank/v1beta1/balances/{address}/by_denom?denom=upokt")
    start = time.perf_counter()
    for path in paths:
        conn.request("GET", path)
        response = conn.getresponse()
        json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suppliers", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pocket", choices=("built", "standin"), default="built",
                    help="the farm's Pocket port building every answer (default), or the threaded stand-in itself")
    args = ap.parse_args()
    exe = fleetctl()
    with tempfile.TemporaryDirectory(prefix="fleetctl-bench-stakes-") as tmp:
        folder = Path(tmp)
        built = args.pocket == "built"
        state, addresses = write_inputs(folder, args.suppliers, 0 if built else args.latency_ms)
        standin, url = start_standin(state)
        farm = None
        try:
            if built:
                farm, url = start_farm(url, args.latency_ms)
                sequential_read(url, addresses)  # the farm fetches each document once: not timed
                print(f"Pocket answers built and serialized per request by the farm ({args.latency_ms} ms latency)")
            else:
                print(f"Pocket answers from the threaded stand-in itself ({args.latency_ms} ms latency)")
            figures: dict[str, tuple[float, float]] = {}
            for owners in (True, False):
                inventory = write_inventory(folder, url, addresses, owners=owners)
                argv = [exe, "-i", str(inventory), "-o", "json", "stakes",
                        "--db", str(folder / f"history-{owners}.db")]
                cache = folder / f"cache-{owners}"  # fresh: nothing remembered before the first run
                walls, rss = [], []
                for run in range(args.runs + (0 if owners else 1)):
                    wall, peak, code, out = run_fleetctl(argv, cache)
                    doc = json.loads(out)
                    kind = "owners" if owners else ("no owners, first run" if run == 0 else "no owners, remembered")
                    print(f"fleetctl stakes ({kind}): {wall:.2f} s, "
                          f"{peak:.0f} MB peak RSS, exit {code}, {len(doc['suppliers'])} suppliers, "
                          f"{doc['counts']}")
                    if kind == "no owners, first run":
                        figures["first"] = (wall, peak)
                        continue
                    walls.append(wall)
                    rss.append(peak)
                figures["owners" if owners else "remembered"] = (statistics.median(walls), max(rss))
            baseline = sequential_read(url, addresses)
        finally:
            for proc in (farm, standin):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=10)
    wall, peak = figures["owners"]
    speedup = baseline / wall
    print(f"\n{args.suppliers} suppliers, {args.latency_ms} ms latency per response, "
          f"{os.cpu_count()} cpus, {args.runs} cold runs each")
    print(f"{'':44} {'wall s':>8} {'peak MB':>8} {'speedup':>8}")
    for key, label in (("owners", "owners declared: 1 listing"),
                       ("first", "no owners, first run: a query each"),
                       ("remembered", "no owners, later runs: owners remembered")):
        w, m = figures[key]
        print(f"{'fleetctl stakes (' + label + ')':56} {w:8.2f} {m:8.0f} {baseline / w:7.1f}x")
    print(f"{'sequential reader (baseline)':56} {baseline:8.2f}")
    w, _ = figures["remembered"]
    print(f"issue 15, no owners declared (later runs): >= 25x: {'met' if baseline / w >= 25 else 'NOT met'} "
          f"({baseline / w:.1f}x); <= 0.4 s: {'met' if w <= 0.4 else 'NOT met'} ({w:.2f} s)")
    print(f"goal: >= {GOAL_SPEEDUP:g}x faster: {'met' if speedup >= GOAL_SPEEDUP else 'NOT met'} "
          f"({speedup:.1f}x, owners declared)")
    print(f"goal: < {GOAL_WALL_S:g} s: {'met' if wall < GOAL_WALL_S else 'NOT met'} ({wall:.2f} s)")
    print(f"goal: < {GOAL_RSS_MB:g} MB: {'met' if peak < GOAL_RSS_MB else 'NOT met'} "
          f"({peak:.0f} MB)")


if __name__ == "__main__":
    main()
