#!/usr/bin/env python3
"""The full nodes behind benchmarks/tui.py's 300 containers: one asyncio process on 127.0.0.1.

``fleetctl health`` finds a host's fleetctl-managed containers with ``docker ps`` (over SSH, or
``sh -c`` for ``ansible_connection: local``) and probes each node pair on the ports its slot
label gives: the execution client's JSON-RPC on ``RPC_PORT_BASE + PORT_STRIDE x slot`` and the
consensus client's Beacon API on ``BEACON_PORT_BASE + PORT_STRIDE x slot``. This serves both for
``--pairs`` pairs (2 x pairs containers), picking the first slots whose two ports are free on
127.0.0.1, and prints ``ready slots=S1,S2,...`` once every port listens; benchmarks/tui.py
writes the matching ``docker ps`` lines (a stand-in ``docker`` first on the PATH).

* JSON-RPC: benchmarks/rpc_farm.py's answers (its Geth/Nethermind/Erigon personas by pair
  index, its chain: pass the farm's ``--genesis-time`` so both agree on the head);
* Beacon API (GET, the six paths the health sweep reads, plus a header by root): health 200,
  not syncing, head slot = the execution head (one EL block per slot, as the lab's
  beacon_front.py), finalized two epochs back, the persona's version (the pinned images').

Every answer waits ``--latency-ms``. Exits on SIGTERM/SIGINT and, with ``--exit-on-stdin-eof``,
when its standard input closes (benchmarks/tui.py passes a pipe). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rpc_farm  # noqa: E402  (benchmarks/rpc_farm.py)

from fleetctl.core import layout  # noqa: E402

HOST = "127.0.0.1"
CONSENSUS = ("lighthouse", "prysm", "teku", "nimbus", "lodestar")
BEACON_VERSIONS = {
    "lighthouse": "Lighthouse/v8.2.2-5f4b3c1/x86_64-linux",
    "prysm": "Prysm/v7.1.6/9d2c1a0e (linux amd64)",
    "teku": "teku/v26.8.0/linux-x86_64/-eclipseadoptium-openjdk64bitservervm-java-21",
    "nimbus": "Nimbus/v26.7.0-3c1e2f4-stateofus",
    "lodestar": "Lodestar/v1.46.0/7a3b9e1",
}
SLOTS_PER_EPOCH = 32
MAX_SLOT = (65_535 - layout.RPC_PORT_BASE) // layout.PORT_STRIDE


def consensus_of(index: int) -> str:
    return CONSENSUS[index % len(CONSENSUS)]


def root_of(slot: int) -> str:
    """A block root that names its slot (so a header asked by root is found again)."""
    return "0x" + f"{0xbe:02x}" + f"{slot:062x}"


def slot_of(root: str) -> int | None:
    if len(root) != 66 or not root.startswith("0xbe"):
        return None
    try:
        return int(root[4:], 16)
    except ValueError:
        return None


class Beacon:
    def __init__(self, chain: rpc_farm.Chain) -> None:
        self.chain = chain

    def header(self, slot: int) -> dict[str, Any]:
        return {"execution_optimistic": False, "finalized": False, "data": {
            "root": root_of(slot), "canonical": True,
            "header": {"message": {"slot": str(slot), "proposer_index": str(slot % 4096),
                                   "parent_root": root_of(slot - 1), "state_root": "0x" + "11" * 32,
                                   "body_root": "0x" + "22" * 32},
                       "signature": "0x" + "33" * 96}}}

    def answer(self, index: int, path: str) -> tuple[int, bytes]:
        head = self.chain.head()
        finalized = max(0, head // SLOTS_PER_EPOCH - 2)
        doc: Any
        if path == "/eth/v1/node/health":
            return 200, b""
        if path == "/eth/v1/node/syncing":
            doc = {"data": {"head_slot": str(head), "sync_distance": "0", "is_syncing": False,
                            "is_optimistic": False, "el_offline": False}}
        elif path == "/eth/v1/beacon/headers/head":
            doc = self.header(head)
        elif path.startswith("/eth/v1/beacon/headers/"):
            slot = slot_of(path.rsplit("/", 1)[1])
            if slot is None or slot > head:
                return 404, b'{"code":404,"message":"NOT_FOUND: beacon block"}'
            doc = self.header(slot)
        elif path == "/eth/v1/beacon/states/head/finality_checkpoints":
            cp = {"epoch": str(finalized), "root": root_of(finalized * SLOTS_PER_EPOCH)}
            doc = {"execution_optimistic": False, "finalized": False,
                   "data": {"previous_justified": cp, "current_justified": cp, "finalized": cp}}
        elif path == "/eth/v1/node/peer_count":
            doc = {"data": {"disconnected": "3", "connecting": "0", "connected": str(40 + index % 30),
                            "disconnecting": "0"}}
        elif path == "/eth/v1/node/version":
            doc = {"data": {"version": BEACON_VERSIONS[consensus_of(index)]}}
        else:
            return 404, b'{"code":404,"message":"not found"}'
        return 200, json.dumps(doc, separators=(",", ":")).encode()


async def serve_beacon(beacon: Beacon, latency: float, index: int, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                             TimeoutError, ValueError):
        while True:
            request = await rpc_farm._read_request(reader)
            if request is None:
                break
            method, target, version, headers, _body = request
            close = version != "HTTP/1.1" or headers.get("connection", "").lower() == "close"
            if latency > 0:
                await asyncio.sleep(latency)
            status, payload = beacon.answer(index, target.split("?", 1)[0]) if method == "GET" else (405, b"")
            head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                    + ("Connection: close\r\n" if close else "") + "\r\n")
            writer.write(head.encode("latin-1") + payload)
            await writer.drain()
            if close:
                break
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


def _bind(port: int) -> socket.socket | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((HOST, port))
    except OSError:
        s.close()
        return None
    s.listen(1024)
    s.setblocking(False)
    return s


async def run(args: argparse.Namespace) -> None:
    farm = rpc_farm.Farm(SimpleNamespace(genesis_time=args.genesis_time, base_height=args.base_height,
                                         block_time=args.block_time, latency_ms=args.latency_ms,
                                         chain_id="0x1", hang=False, ports=args.pairs, hang_fraction=0.0,
                                         pocket_proxy=None))
    beacon = Beacon(farm.chain)
    latency = args.latency_ms / 1000.0
    servers: list[asyncio.base_events.Server] = []
    slots: list[int] = []
    slot = 0
    while len(slots) < args.pairs and slot <= MAX_SLOT:
        rpc = _bind(layout.RPC_PORT_BASE + layout.PORT_STRIDE * slot)
        bn = _bind(layout.BEACON_PORT_BASE + layout.PORT_STRIDE * slot) if rpc else None
        if rpc is None or bn is None:
            if rpc is not None:
                rpc.close()
            slot += 1
            continue
        index = len(slots)
        servers.append(await asyncio.start_server(lambda r, w, i=index: farm.serve(i, r, w), sock=rpc))
        servers.append(await asyncio.start_server(
            lambda r, w, i=index: serve_beacon(beacon, latency, i, r, w), sock=bn))
        slots.append(slot)
        slot += 1
    if len(slots) < args.pairs:
        print(f"error: only {len(slots)} free slot pairs on {HOST}", flush=True)
        return
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = None
    if args.exit_on_stdin_eof:
        stdin_reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin_reader), sys.stdin)

        async def watch() -> None:
            while await stdin_reader.read(4096):
                pass
            stop.set()

        watcher = asyncio.create_task(watch())
    print(f"ready slots={','.join(map(str, slots))}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    if watcher is not None:
        watcher.cancel()
    # connections still open (keep-alive clients) would be cancelled one by one, each with a
    # traceback: a stand-in has nothing to flush, so it just ends
    sys.stdout.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=150)
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--genesis-time", type=float, default=None)
    ap.add_argument("--base-height", type=int, default=21_000_000)
    ap.add_argument("--block-time", type=float, default=12.0)
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    args = ap.parse_args(argv)
    if args.genesis_time is None:
        args.genesis_time = time.time()
    if not 1 <= args.pairs <= 1000:
        ap.error("--pairs: 1 to 1000")
    rpc_farm._raise_nofile()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
