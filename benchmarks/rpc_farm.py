#!/usr/bin/env python3
"""Many execution-client JSON-RPC endpoints on loopback, served by one asyncio process.

The health benchmark (benchmarks/health.py) needs 200 Ethereum JSON-RPC endpoints that answer
like Geth, Nethermind and Erigon over one chain, with a fixed latency, and some that hang.
One process on one event loop serves them all, one listening port each (standard library only)::

    python benchmarks/rpc_farm.py --ports 200 --latency-ms 10 --hang-fraction 0.05

JSON-RPC (POST, single or batch; HTTP/1.1 keep-alive; ``Connection: close`` and a close after
an HTTP/1.0 request or a ``Connection: close`` header, as check_http needs)
    ``web3_clientVersion``   the port's persona, rotating geth, nethermind, erigon by port index
                             (strings of lab/fleetlab/image-files/front.py PERSONAS, two versions each)
    ``eth_syncing``          false
    ``eth_blockNumber``      a head that advances one block every ``--block-time`` seconds from
                             ``--genesis-time``: the same on every port at any instant
    ``net_peerCount``        hex, 20-69 depending on the port
    ``eth_getBlockByNumber`` a block object (number, tag or "latest"); its hash is a function of
                             the number only (same on every port); null above the head
    ``eth_chainId``          ``--chain-id`` (0x1)
    anything else            JSON-RPC error -32601 "the method X does not exist/is not available"
Every answer, GET included (``200 {"ok": true}``, for plain HTTP probes), waits ``--latency-ms``
(``asyncio.sleep``: the loop never blocks).

Hanging ports: ``--hang-fraction F`` designates round(F x ports) ports spread evenly over the
list. While hanging is on (``--hang`` at start, SIGUSR1 turns it on, SIGUSR2 off; each prints
``hang on`` / ``hang off``), those ports accept and read requests and never answer; the
connection is dropped when the client closes it.

Pocket answers (``--pocket-proxy URL``): one more port answers the Pocket REST/RPC requests of
the checkers from what the Pocket stand-in (lab/fleetlab/standin/, at URL, run without latency)
answered the first time it was asked the same thing (method, path and query, body), after the
same ``--latency-ms``. The stand-in's JSON document is kept parsed, and every answer is built
from it and serialized again (a fresh object tree, then ``json.dumps``): the work a gateway does
per answer (it builds the response message from its state and marshals it), on this event loop
rather than in the stand-in's threads (~0.3 ms of CPU per request in a threaded server, competing
with the checker being measured on a 2-CPU machine where a real gateway runs elsewhere). The
official shapes stay the stand-in's. ``--pocket-replay-bytes`` replays the first answer's bytes
instead (no per-answer work: the previous benchmarks' setting, kept for comparison).

Once every port listens it prints ``ready ports=P1,P2,... hanging=I1,I2,...`` (hanging lists the
designated port indexes), plus `` pocket=PORT`` with ``--pocket-proxy`` and `` comet=PORT`` with ``--comet-proxy`` (the
stand-in's CometBFT RPC, answered the same way: the node RPC of ``pocket.node_rpc_url``). It exits on SIGTERM/SIGINT, and when its standard input reaches end
of file if ``--exit-on-stdin-eof`` is given (the benchmark passes a pipe, so the farm stops when
the benchmark dies). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import json
import resource
import signal
import socket
import sys
import time
from typing import Any

HOST = "127.0.0.1"
MAX_BODY = 1 << 20
MAX_HEADER_LINES = 100
IDLE_TIMEOUT_S = 60.0

# As lab/fleetlab/image-files/front.py PERSONAS spells them (kept here so this file needs nothing else).
CLIENT_VERSIONS: dict[str, tuple[str, ...]] = {
    "geth": ("Geth/v1.17.5-stable-9621c6ad/linux-amd64/go1.26.5",
             "Geth/v1.17.4-stable-2b1f7a3e/linux-amd64/go1.26.3"),
    "nethermind": ("Nethermind/v1.39.3+28cbe2a0/linux-x64/dotnet10.0.10",
                   "Nethermind/v1.39.2+6f0d0c57/linux-x64/dotnet10.0.9"),
    "erigon": ("erigon/3.4.4/linux-amd64/go1.26.5",
               "erigon/3.4.3/linux-amd64/go1.26.3"),
}
CLIENTS = ("geth", "nethermind", "erigon")


def client_of(index: int) -> str:
    """The persona of the port at ``index`` (the benchmark's inventory uses the same rule)."""
    return CLIENTS[index % len(CLIENTS)]


def hanging_indexes(count: int, fraction: float) -> list[int]:
    """round(fraction x count) port indexes spread evenly over ``range(count)``."""
    hang = max(0, min(count, round(count * fraction)))
    return sorted({(k * count) // hang for k in range(hang)}) if hang else []


def block_hash(number: int) -> str:
    return "0x" + hashlib.sha256(b"bench-chain:%d" % number).hexdigest()


def hexq(value: int) -> str:
    return hex(value)


class Chain:
    """A head that advances with wall-clock time, the same for every port."""

    def __init__(self, genesis_time: float, base: int, block_time: float) -> None:
        self.genesis_time, self.base, self.block_time = genesis_time, base, block_time

    def head(self) -> int:
        if self.block_time <= 0:
            return self.base
        return self.base + max(0, int((time.time() - self.genesis_time) // self.block_time))

    def block(self, number: int) -> dict[str, Any]:
        timestamp = int(self.genesis_time + (number - self.base) * max(self.block_time, 1))
        digest = hashlib.sha256(b"bench-miner:%d" % number).hexdigest()
        return {
            "number": hexq(number), "hash": block_hash(number), "parentHash": block_hash(number - 1),
            "timestamp": hexq(timestamp), "miner": "0x" + digest[:40],
            "gasLimit": "0x1c9c380", "gasUsed": hexq(0x5f5e10 + number % 0x100000),
            "baseFeePerGas": "0x3b9aca00", "difficulty": "0x0", "totalDifficulty": "0xc70d815d562d3cfa955",
            "nonce": "0x0000000000000000", "extraData": "0x", "size": "0x2a3c",
            "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
            "logsBloom": "0x" + "00" * 256, "mixHash": "0x" + digest[24:] + digest[:24],
            "stateRoot": "0x" + hashlib.sha256(b"bench-state:%d" % number).hexdigest(),
            "receiptsRoot": "0x" + hashlib.sha256(b"bench-receipts:%d" % number).hexdigest(),
            "transactionsRoot": "0x" + hashlib.sha256(b"bench-txs:%d" % number).hexdigest(),
            "transactions": [], "uncles": [], "withdrawals": [],
        }


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, str, dict[str, str], bytes] | None:
    """(method, target, version, headers, body) of the next request; None at the end or on junk."""
    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT_S)
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        return None
    method, target, version = parts
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        hline = await reader.readline()
        if hline in (b"\r\n", b"\n", b""):
            break
        name, _, value = hline.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    if not 0 <= length <= MAX_BODY:
        return None
    body = await reader.readexactly(length) if length else b""
    return method, target, version, headers, body


class Parsed:
    """A JSON document kept parsed (each answer is built from it and serialized again)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def built(value: Any) -> Any:
    """A fresh object tree equal to ``value`` (what a gateway builds for each answer)."""
    if isinstance(value, dict):
        return {key: built(item) for key, item in value.items()}
    if isinstance(value, list):
        return [built(item) for item in value]
    return value


class Farm:
    def __init__(self, args: argparse.Namespace) -> None:
        self.chain = Chain(args.genesis_time, args.base_height, args.block_time)
        self.latency = args.latency_ms / 1000.0
        self.chain_id = args.chain_id
        self.hang_on = args.hang
        self.hanging = set(hanging_indexes(args.ports, args.hang_fraction))
        self.count = args.ports
        self.servers: list[asyncio.base_events.Server] = []
        self.ports: list[int] = []
        self.upstream: str | None = args.pocket_proxy
        #: per (upstream, method, target, body): (status, content type, the document parsed, or its bytes)
        self.replay: dict[tuple[str, str, str, bytes], tuple[int, str, Any]] = {}
        self.replay_bytes: bool = args.pocket_replay_bytes
        self.pocket_port: int | None = None
        #: the stand-in's CometBFT listener (``--comet-proxy``), served the same way on its own port
        self.comet_upstream: str | None = args.comet_proxy
        self.comet_port: int | None = None

    # --- JSON-RPC -------------------------------------------------------------------------

    def call(self, index: int, msg: Any) -> dict[str, Any] | None:
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or not isinstance(msg.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        ident = msg.get("id")
        method, params = msg["method"], msg.get("params") or []
        if method == "web3_clientVersion":
            versions = CLIENT_VERSIONS[client_of(index)]
            result: Any = versions[(index // len(CLIENTS)) % len(versions)]
        elif method == "eth_syncing":
            result = False
        elif method == "eth_blockNumber":
            result = hexq(self.chain.head())
        elif method == "net_peerCount":
            result = hexq(20 + (index * 7) % 50)
        elif method == "eth_chainId":
            result = self.chain_id
        elif method == "net_version":
            result = str(int(self.chain_id, 16))
        elif method == "eth_getBlockByNumber":
            tag = params[0] if isinstance(params, list) and params else None
            head = self.chain.head()
            if tag in ("latest", "pending", "safe", "finalized"):
                number = head
            elif tag == "earliest":
                number = 0
            elif isinstance(tag, str) and tag.startswith("0x"):
                try:
                    number = int(tag, 16)
                except ValueError:
                    number = -1
                if number < 0:
                    return {"jsonrpc": "2.0", "id": ident,
                            "error": {"code": -32602, "message": f"invalid argument 0: hex string {tag!r}"}}
            else:
                return {"jsonrpc": "2.0", "id": ident,
                        "error": {"code": -32602, "message": "invalid argument 0: block number"}}
            result = self.chain.block(number) if number <= head else None
        else:
            return {"jsonrpc": "2.0", "id": ident, "error": {
                "code": -32601, "message": f"the method {method} does not exist/is not available"}}
        if "id" not in msg:
            return None  # a notification
        return {"jsonrpc": "2.0", "id": ident, "result": result}

    def answer(self, index: int, method: str, body: bytes) -> tuple[int, bytes]:
        if method == "GET":
            return 200, b'{"ok":true}\n'
        if method != "POST":
            return 405, b'{"error":"method not allowed"}\n'
        try:
            payload = json.loads(body)
        except ValueError:
            return 200, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}\n'
        if isinstance(payload, list):
            if not payload:
                reply: Any = {"jsonrpc": "2.0", "id": None,
                              "error": {"code": -32600, "message": "empty batch"}}
            else:
                reply = [r for r in (self.call(index, m) for m in payload) if r is not None]
        else:
            reply = self.call(index, payload)
        return 200, (json.dumps(reply, separators=(",", ":")) + "\n").encode() if reply is not None else b""

    # --- HTTP ------------------------------------------------------------------------------

    async def serve(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                                 TimeoutError, ValueError):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, _target, version, headers, body = request
                if self.hang_on and index in self.hanging:
                    # accept, read, never answer: wait for the client to give up
                    while await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT_S):
                        pass
                    break
                close = version != "HTTP/1.1" or headers.get("connection", "").lower() == "close"
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                status, payload = self.answer(index, method, body)
                reason = {200: "OK", 405: "Method Not Allowed"}.get(status, "Error")
                head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(payload)}\r\n"
                        + ("Connection: close\r\n" if close else "") + "\r\n")
                writer.write(head.encode("latin-1") + payload)
                await writer.drain()
                if close:
                    break
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    def _forward(self, upstream: str, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        """The stand-in's answer (blocking; run in a thread, once per distinct request)."""
        import urllib.error
        import urllib.request

        req = urllib.request.Request(upstream.rstrip("/") + target, data=body if method == "POST" else None,
                                     method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers.get("Content-Type", "application/json"), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Content-Type", "application/json"), exc.read()

    async def serve_pocket(self, upstream: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                                 TimeoutError, ValueError, OSError):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, target, version, headers, body = request
                close = version != "HTTP/1.1" or headers.get("connection", "").lower() == "close"
                key = (upstream, method, target, body)
                hit = self.replay.get(key)
                if hit is None:
                    status, ctype, raw = await asyncio.to_thread(self._forward, upstream, method, target, body)
                    document: Any = raw
                    if not self.replay_bytes and "json" in ctype:
                        with contextlib.suppress(ValueError):
                            document = Parsed(json.loads(raw))
                    hit = self.replay[key] = (status, ctype, document)
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                status, ctype, document = hit
                payload = (json.dumps(built(document.value)).encode() if isinstance(document, Parsed)
                           else document)
                head = (f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                        + ("Connection: close\r\n" if close else "") + "\r\n")
                writer.write(head.encode("latin-1") + payload)
                await writer.drain()
                if close:
                    break
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def start(self) -> None:
        if self.upstream:
            server = await asyncio.start_server(functools.partial(self.serve_pocket, self.upstream), HOST, 0,
                                                backlog=1024, reuse_address=True)
            self.servers.append(server)
            self.pocket_port = server.sockets[0].getsockname()[1]
        if self.comet_upstream:
            server = await asyncio.start_server(functools.partial(self.serve_pocket, self.comet_upstream), HOST, 0,
                                                backlog=1024, reuse_address=True)
            self.servers.append(server)
            self.comet_port = server.sockets[0].getsockname()[1]
        for index in range(self.count):
            server = await asyncio.start_server(
                lambda r, w, i=index: self.serve(i, r, w), HOST, 0, backlog=1024, reuse_address=True)
            self.servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(args: argparse.Namespace) -> None:
    farm = Farm(args)
    await farm.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def hang(on: bool) -> None:
        farm.hang_on = on
        print("hang on" if on else "hang off", flush=True)

    loop.add_signal_handler(signal.SIGUSR1, hang, True)
    loop.add_signal_handler(signal.SIGUSR2, hang, False)
    if args.exit_on_stdin_eof:
        stdin_reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin_reader), sys.stdin)

        async def watch() -> None:
            while await stdin_reader.read(4096):
                pass
            stop.set()

        watcher = asyncio.create_task(watch())
    print(f"ready ports={','.join(map(str, farm.ports))} "
          f"hanging={','.join(map(str, sorted(farm.hanging)))}"
          + (f" pocket={farm.pocket_port}" if farm.pocket_port else "")
          + (f" comet={farm.comet_port}" if farm.comet_port else ""), flush=True)
    await stop.wait()
    for server in farm.servers:
        server.close()
    if args.exit_on_stdin_eof:
        watcher.cancel()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--hang-fraction", type=float, default=0.0)
    ap.add_argument("--hang", action="store_true", help="designated ports hang from the start")
    ap.add_argument("--genesis-time", type=float, default=None, help="epoch seconds of --base-height")
    ap.add_argument("--base-height", type=int, default=21_000_000)
    ap.add_argument("--block-time", type=float, default=12.0)
    ap.add_argument("--chain-id", default="0x1")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--pocket-proxy", metavar="URL",
                    help="answer as the Pocket stand-in at URL on one more port (each answer built and serialized)")
    ap.add_argument("--comet-proxy", metavar="URL",
                    help="the same for the stand-in's CometBFT RPC at URL (the node RPC), on one more port")
    ap.add_argument("--pocket-replay-bytes", action="store_true",
                    help="with --pocket-proxy: replay the first answer's bytes (no per-answer work)")
    args = ap.parse_args(argv)
    if args.genesis_time is None:
        args.genesis_time = time.time()
    if not 1 <= args.ports <= 5000:
        ap.error("--ports: 1 to 5000")
    _raise_nofile()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
