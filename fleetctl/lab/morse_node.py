#!/usr/bin/env python3
"""A Morse node (pocket-core) stand-in for the lab: it relays, and nothing else.

It runs where the real image runs (``pocket start --mainnet`` with the node's data directory,
default ``/home/app/.pocket``), reads ``config/chains.json`` there on every relay (pocket-core
RC-0.8+ hot-reloads it) and answers ``POST /v1/client/relay`` by forwarding ``payload.data`` to
the URL that chains.json maps the relay's chain id (``proof.blockchain``) to, as pocket-core's
servicer does (x/pocketcore/types/service.go: executeHTTPRelay).  No keys, sessions, proofs or
Tendermint: it exists so the lab can run the ``morse_node`` role and send a relay through it.

``GET /v1`` answers the version, ``POST /v1/query/height`` a fixed height (the node is not a chain).
Standard library only (runs on the host's /usr/bin/python3).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VERSION = "RC-0.12.0-fleetlab"
#: pocket-core's RPC port (config.json rpc_port default).
RPC_PORT = 8081


def data_dir(argv: list[str]) -> Path:
    for i, arg in enumerate(argv):
        if arg == "--datadir" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--datadir="):
            return Path(arg.split("=", 1)[1])
    return Path(os.environ.get("POCKET_DATADIR", "/home/app/.pocket"))


def chains(path: Path) -> dict[str, str]:
    """chains.json: ``[{"id": "0021", "url": "http://...", "basic_auth": {...}}]`` → {id: url}."""
    return {str(c["id"]): str(c["url"]) for c in json.loads(path.read_text())}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    chains_file: Path

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1":
            self._send(200, VERSION)
        else:
            self._send(404, {"code": 404, "message": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"code": 400, "message": "invalid JSON"})
            return
        if self.path == "/v1/query/height":
            self._send(200, {"height": 0})
            return
        if self.path != "/v1/client/relay":
            self._send(404, {"code": 404, "message": "not found"})
            return
        try:
            chain = str(body["proof"]["blockchain"])
            data = str(body["payload"]["data"]).encode()
            url = chains(self.chains_file).get(chain)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            self._send(400, {"code": 400, "message": f"bad relay: {exc}"})
            return
        if url is None:
            self._send(400, {"code": 26, "codespace": "pocketcore", "message": f"the non-native chain {chain} is not supported by this node"})
            return
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                answer = resp.read().decode()
        except (OSError, urllib.error.URLError) as exc:
            self._send(400, {"code": 28, "codespace": "pocketcore", "message": f"http execution error: {exc}"})
            return
        self._send(200, {"response": answer, "signature": ""})


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    if argv[:2] != ["pocket", "start"] and argv[:1] != ["start"]:
        print("usage: morse_node.py pocket start [--mainnet|--testnet] [--datadir DIR]", file=sys.stderr)
        return 2
    Handler.chains_file = data_dir(argv) / "config" / "chains.json"
    # Like pocket-core's default RPC laddr, every interface of the host (here: the lab host's
    # namespace, which has no route out); POCKET_RPC_LISTEN=ADDR:PORT narrows it.
    listen = os.environ.get("POCKET_RPC_LISTEN", "")
    host, _, port = listen.rpartition(":") if listen else ("", "", str(RPC_PORT))
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, _stop)
    print(f"ready rpc=:{port} chains={Handler.chains_file}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
