#!/usr/bin/env python3
"""`fleetctl claims`: one cron run reading 120 new blocks with 1,000 suppliers' events, against the
same read done block by block sequentially, same run, same node.

A CometBFT node stand-in (tests/integration/comet_events_node.py, stdlib HTTP server) runs in a
subprocess on 127.0.0.1 with ``--latency-ms`` (default 10) on every answer. Its 120 blocks carry,
for each of ``--suppliers`` fleet suppliers, one claim's life in the chain's shapes (poktroll
v0.1.34 typed events in /block_results): the claim (tx event), a proof for one in four, the
settlement (end-block event), and for one in fifty an expiry and a slash instead; plus the same
for ``--others`` suppliers not in the fleet, and the bank/settlement-batch events every block has.
The store starts with its cursor 120 blocks below the node's head, so each run reads exactly those
120 blocks (and /status, /blockchain, the params).

Measured, median of ``--runs``:

* ``fleetctl claims -o json`` cold, as a subprocess (what cron runs: bytecode compiled and the
  inventory cache filled by one uncounted run, as the previous cron run leaves them), against
  the same command reading block by block (``--concurrency 1``: one GET per block, each
  awaited before the next, the same decoder and parser): wall time;
* ``sync_events`` in-process (the read and the store, no interpreter start, no inventory load),
  against the same ``sync_events`` reading block by block (concurrency 1);
* a plain sequential reader (urllib, one request per block, json + the same parser), for scale.

The node answers JSON-RPC batches (``POST /``, an array of ``block_results`` calls) as CometBFT
v0.38 does, with the stored bodies under each call's id, and the latency once per HTTP request
(per answer for a GET, per batch for a batch) as for every benchmark here.

Goal (issue 12): >= 10x faster than block by block, < 2 s. Prints figures; asserts nothing.

Measured here 2026-12-04 (2 cores shared with other jobs, load 2-5), median of 5 (50 ms: of 3);
"before" is this harness on the code before batches and msgspec (64 GETs in flight, json), run
alternately with "after" (two rounds each; the baselines moved between 1.5 and 2.2 s):

    latency  what                  before                     after (batches of 10, msgspec)
    10 ms    cron run (cold)       0.548-0.650 s  3.0-3.5x    0.429-0.531 s  3.6-4.0x
    10 ms    read in-process       0.293-0.472 s  4.3-5.6x    0.166-0.222 s  7.2-8.9x
    50 ms    cron run (cold)       (B: 1.134 s  6.6x)         0.583 s  11.5x  (baseline 6.70 s)
    50 ms    read in-process       (B: 0.554 s  12.3x)        0.297 s  21.6x  (baseline 6.42 s)
    cold start: python -c pass 0.020 s, fleetctl claims --help 0.063 s (+43 ms)

At 10 ms the < 2 s goal is met and >= 10x is not, by the read (<= 8.9x) nor by the cron run (<= 4x):
120 blocks at 10 ms are 1.2 s of waiting to save, and the cron run spends ~0.27 s before and
after the read that the baseline spends too (interpreter and imports ~0.1 s, the 1,000-supplier
inventory from its cache ~0.05 s, the report over the store and its JSON ~0.07 s): even a read
of 0 s would make it (1.76 / 0.27 =) 6.5x. At 50 ms both goals are met. The figures move by
+-30% with the machine's load; ratios less.

    .venv/bin/python benchmarks/claims.py [--suppliers 1000] [--blocks 120] [--latency-ms 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lab"))  # fleetlab (the lab distribution), when not installed
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from comet_events_node import (  # noqa: E402
    block_body,
    claim_created,
    claim_expired,
    claim_settled,
    noise_events,
    proof_submitted,
    supplier_slashed,
)
from fleetctl.pocket.claims import BATCH_SIZE, DEFAULT_CONCURRENCY, sync_events  # noqa: E402
from fleetctl.pocket.events import _schema, parse_block_results  # noqa: E402
from fleetctl.state.db import connect  # noqa: E402
from fleetlab.standin import lab_address  # noqa: E402

GOAL_SPEEDUP, GOAL_WALL_S = 10.0, 2.0
HEAD = 10_000


def build_blocks(fleet: list[str], others: list[str], blocks: int) -> dict[int, dict]:
    """Heights HEAD-blocks+1..HEAD; 20-block sessions; claim created at E+2, proof at E+6, settled
    (or expired + slashed) at E+10, spread over the sessions ending in the window."""
    first = HEAD - blocks + 1
    ends = [e for e in range(first - 20, HEAD, 20) if first <= e + 10 <= HEAD and first <= e + 2]
    txs: dict[int, list[list[dict]]] = {h: [] for h in range(first, HEAD + 1)}
    end_events: dict[int, list[dict]] = {h: noise_events() for h in range(first, HEAD + 1)}
    apps = [lab_address(f"bench-app-{i}") for i in range(20)]
    for index, supplier in enumerate(fleet + others):
        end = ends[index % len(ends)]
        app = apps[index % len(apps)]
        relays = 100 + index % 900
        claimed = relays * 40
        txs[end + 2].append([claim_created(supplier, "eth", app, end, relays, relays, claimed)])
        if index % 50 == 7:
            end_events[end + 10] += [claim_expired(supplier, "eth", app, end, relays, relays, claimed),
                                     supplier_slashed(supplier, "eth", app, end, 1_000_000, 59_000_000_000)]
            continue
        if index % 4 == 0:
            txs[end + 6].append([proof_submitted(supplier, "eth", app, end, relays, relays, claimed)])
        end_events[end + 10].append(claim_settled(supplier, "eth", app, end, relays, relays, claimed,
                                                  requirement=2 if index % 4 == 0 else 0))
    return {h: block_body(h, txs[h], end_events[h]) for h in range(first, HEAD + 1)}


def start_node(folder: Path, blocks: dict[int, dict], latency_ms: int) -> tuple[subprocess.Popen, str]:
    spec = folder / "node.json"
    spec.write_text(json.dumps({"latest": HEAD, "latency": latency_ms / 1000, "asyncio": True,
                                "blocks": {str(h): b for h, b in blocks.items()}}))
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "integration" / "comet_events_node.py"),
                             str(spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def seeded_store(folder: Path, url: str, blocks: int) -> Path:
    """A store whose cursor for ``url`` is ``blocks`` below the head (no hash: no re-org check)."""
    path = folder / "seed" / "fleetctl.db"
    path.parent.mkdir(mode=0o700)
    conn = connect(path, create=True)
    assert conn is not None
    conn.execute("INSERT INTO chain_cursor (endpoint, last_height, last_hash, block_time_ms, updated_at) "
                 "VALUES (?, ?, NULL, 30000, 0)", (url, HEAD - blocks))
    conn.close()
    return path


def fresh(seed: Path, folder: Path, name: str) -> Path:
    target = folder / name
    target.mkdir(mode=0o700)
    shutil.copy(seed, target / "fleetctl.db")
    return target


def write_inventory(folder: Path, url: str, fleet: list[str]) -> Path:
    inv = folder / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    lines = "\n".join(f"  - {{name: s{i}, operator_address: '{a}', services: [eth]}}" for i, a in enumerate(fleet))
    (inv / "fleet.yml").write_text(f"protocol: shannon\npocket: {{rest_url: '{url}', node_rpc_url: '{url}'}}\n"
                                   f"chains:\n  eth: {{clients: [geth], replicas: 1}}\nsuppliers:\n{lines}\n")
    return inv


def plain_reader(url: str, fleet: frozenset[str], blocks: int) -> int:
    """One request per block over urllib, json.loads, the same parser; the fleet events found."""
    found = 0
    for height in range(HEAD - blocks + 1, HEAD + 1):
        with urllib.request.urlopen(f"{url}/block_results?height={height}", timeout=10) as answer:
            body = json.loads(answer.read())
        found += len(parse_block_results(body, height=height, endpoint=url, suppliers=fleet))
    return found


def cold_env(state: Path, pycache: Path) -> dict[str, str]:
    """A cron job's environment: bytecode compiled once and kept (``pip install`` compiles it;
    here a private PYTHONPYCACHEPREFIX warmed by one uncounted run, which also fills the
    inventory cache as the previous cron run would have), no inventory default."""
    env = {**os.environ, "FLEETCTL_STATE_DIR": str(state), "PYTHONPYCACHEPREFIX": str(pycache),
           # its own inventory cache (the shared ~/.cache one keeps 8 inventories: other jobs'
           # runs would evict this one between runs)
           "FLEETCTL_CACHE_DIR": str(pycache.parent / "cache")}
    for name in ("FLEETCTL_INVENTORY", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def cold_start(pycache: Path, runs: int) -> tuple[float, float]:
    """Median wall time of ``python -c pass`` and of ``fleetctl claims --help``."""
    exe = Path(sys.executable).parent / "fleetctl"
    env = cold_env(pycache, pycache)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs + 1):
        for target, argv in zip(times, ([sys.executable, "-c", "pass"], [str(exe), "claims", "--help"])):
            start = time.perf_counter()
            subprocess.run(argv, env=env, capture_output=True, check=True)
            target.append(time.perf_counter() - start)
    return statistics.median(times[0][1:]), statistics.median(times[1][1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suppliers", type=int, default=1000)
    parser.add_argument("--others", type=int, default=1000, help="suppliers not in the fleet")
    parser.add_argument("--blocks", type=int, default=120)
    parser.add_argument("--latency-ms", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    exe = Path(sys.executable).parent / "fleetctl"
    fleet = [lab_address(f"bench-claims-{i}") for i in range(args.suppliers)]
    others = [lab_address(f"bench-claims-other-{i}") for i in range(args.others)]
    blocks = build_blocks(fleet, others, args.blocks)
    size = sum(len(json.dumps(b, separators=(",", ":"))) for b in blocks.values())
    events = sum(len(t["events"]) for b in blocks.values() for t in (b["result"]["txs_results"] or [])) + \
        sum(len(b["result"]["finalize_block_events"] or []) for b in blocks.values())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        node, url = start_node(folder, blocks, args.latency_ms)
        try:
            seed = seeded_store(folder, url, args.blocks)
            inv = write_inventory(folder, url, fleet)
            ns = SimpleNamespace(pocket=SimpleNamespace(node_rpc_url=url, rest_url=url),
                                 suppliers=[SimpleNamespace(name=f"s{i}", operator_address=a)
                                            for i, a in enumerate(fleet)])
            pycache = folder / "pycache"
            cli, cli_seq, lib, seq, plain = [], [], [], [], []
            fleet_events = stored = 0
            for run in range(-1, args.runs):  # run -1 compiles the bytecode: not counted
                for target, extra in ((cli, []), (cli_seq, ["--concurrency", "1"])):
                    state = fresh(seed, folder, f"cli{run + 1}{len(extra)}")
                    start = time.perf_counter()
                    proc = subprocess.run([str(exe), "-i", str(inv), "claims", "-o", "json", *extra],
                                          env=cold_env(state, pycache), capture_output=True, text=True)
                    if run >= 0:
                        target.append(time.perf_counter() - start)
                    doc = json.loads(proc.stdout)
                    if doc["sync"]["errors"] or doc["sync"]["blocks_read"] != args.blocks:
                        sys.exit(f"fleetctl claims did not read the {args.blocks} blocks: {doc['sync']}")
                if run < 0:
                    continue
                for target, concurrency in ((lib, DEFAULT_CONCURRENCY), (seq, 1)):
                    state = fresh(seed, folder, f"lib{run}-{concurrency}")
                    start = time.perf_counter()
                    result = asyncio.run(sync_events(ns, state / "fleetctl.db", timeout=10,
                                                     concurrency=concurrency))
                    target.append(time.perf_counter() - start)
                    assert not result.errors and result.blocks_read == args.blocks, result.errors
                    fleet_events, stored = result.fleet_events, result.stored
                start = time.perf_counter()
                plain_reader(url, frozenset(fleet), args.blocks)
                plain.append(time.perf_counter() - start)
            with sqlite3.connect(state / "fleetctl.db") as conn:
                rows = conn.execute("SELECT COUNT(*) FROM chain_events").fetchone()[0]
            python_pass, claims_help = cold_start(pycache, args.runs)
        finally:
            assert node.stdin is not None
            node.stdin.close()
            node.wait(timeout=10)
    med = statistics.median
    print(f"{args.blocks} blocks, {events:,} events ({size / 1e6:.1f} MB of /block_results), "
          f"{fleet_events:,} of them the fleet's ({args.suppliers:,} suppliers; {args.others:,} others), "
          f"{args.latency_ms} ms latency per answer; {stored:,} rows stored ({rows:,} in the store); "
          f"median of {args.runs} runs; decoder: {'msgspec (typed)' if _schema() else 'json'}")
    print(f"cold start: python -c pass {python_pass:.3f} s, fleetctl claims --help {claims_help:.3f} s "
          f"(+{(claims_help - python_pass) * 1000:.0f} ms)")
    print(f"{'reader':<62} {'wall':>8}  {'speed-up':>8}")
    rows_out = [
        ("cron run: fleetctl claims -o json (cold subprocess)", med(cli), med(cli_seq)),
        ("baseline cron run: the same, --concurrency 1 (block by block)", med(cli_seq), med(cli_seq)),
        (f"read only: sync_events in-process, {DEFAULT_CONCURRENCY} blocks in flight (batches of "
         f"{BATCH_SIZE})", med(lib), med(seq)),
        ("baseline read: sync_events block by block (concurrency 1)", med(seq), med(seq)),
        ("plain sequential reader (urllib + json + the same parser)", med(plain), med(seq)),
    ]
    for name, wall, base in rows_out:
        print(f"{name:<62} {wall:>7.3f}s  {base / wall:>7.1f}x")
    for what, ours, base in (("cron run", med(cli), med(cli_seq)), ("read", med(lib), med(seq))):
        speedup = base / ours
        print(f"goal (>= {GOAL_SPEEDUP:g}x, < {GOAL_WALL_S:g} s), {what}: {speedup:.1f}x, {ours:.3f} s -> "
              f"{'met' if speedup >= GOAL_SPEEDUP and ours < GOAL_WALL_S else 'NOT met'}")


if __name__ == "__main__":
    main()
