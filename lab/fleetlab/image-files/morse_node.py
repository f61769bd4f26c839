#!/usr/bin/env python3
"""A Morse node (pocket-core) stand-in for the lab: it relays, and nothing else.

It runs where the real image runs (``pocket start --mainnet`` with the node's data directory,
default ``/home/app/.pocket``), reads ``config/chains.json`` there on every relay (pocket-core
RC-0.8+ hot-reloads it) and answers ``POST /v1/client/relay`` by forwarding ``payload.data`` to
the URL that chains.json maps the relay's chain id (``proof.blockchain``) to, as pocket-core's
servicer does (x/pocketcore/types/service.go: executeHTTPRelay).  No keys, sessions, proofs or
Tendermint: it exists so the lab can run the ``morse_node`` role and send a relay through it.

``GET /v1`` answers the version. ``POST /v1/query/height`` answers ``{"height": N}``, the height
of the network this node follows: the upstream Pocket RPC ``POCKET_NETWORK_RPC`` (``http://IP:PORT``,
loopback or the lab range only; its ``POST /v1/query/height``) minus a lag, so a test can make the
node fall behind. Without an upstream, or when it fails, the answer is pocket-core's error,
``400 {"code": 400, "message": "…"}`` (``WriteErrorResponse``): the node is not a chain.

Env: ``POCKET_RPC_LISTEN`` (ADDR:PORT, default every interface, port 8081), ``POCKET_NETWORK_RPC``,
``POCKET_HEIGHT_LAG`` (blocks, default 0), ``POCKET_DATADIR``.
Lab control (JSON): ``POST /__lab/height_lag`` ``{"lag": N}`` → ``{"lag": N}``; ``GET
/__lab/height_lag`` → ``{"lag", "upstream"}``; a bad payload gets ``400 {"error": "…"}``.

Standard library only (runs on the host's /usr/bin/python3).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

VERSION = "RC-0.12.0-fleetlab"
#: pocket-core's RPC port (config.json rpc_port default).
RPC_PORT = 8081
#: The only addresses an upstream may have: loopback and the lab's range (blackholed outside).
LAB_RANGE = ipaddress.ip_network("10.213.0.0/16")
UPSTREAM_TIMEOUT = 5.0
#: pocket-core's Content-Type of ``WriteJSONResponse`` (utf-8) and ``WriteErrorResponse`` (UTF-8).
JSON_OK, JSON_ERROR = "application/json; charset=utf-8", "application/json; charset=UTF-8"


def upstream_url(text: str) -> str:
    """``POCKET_NETWORK_RPC``: ``http(s)://IP:PORT`` on loopback or in the lab range."""
    parts = urlsplit(text.strip())
    try:
        addr = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        raise ValueError(f"POCKET_NETWORK_RPC: expected http://IP:PORT, got {text!r}") from None
    if parts.scheme not in ("http", "https") or not (addr.is_loopback or addr in LAB_RANGE):
        raise ValueError(f"POCKET_NETWORK_RPC: only http(s) to loopback or {LAB_RANGE}, not {text!r}")
    return text.strip().rstrip("/")


def height_lag(value: object, where: str = "lag") -> int:
    """Blocks behind the network: an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: expected an integer >= 0, got {value!r}")
    return value


#: Upstream requests never go through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def network_height(upstream: str) -> int:
    """The upstream's ``POST /v1/query/height`` (``{"height": N}``)."""
    req = urllib.request.Request(upstream + "/v1/query/height", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    with _OPENER.open(req, timeout=UPSTREAM_TIMEOUT) as resp:
        height = json.loads(resp.read())["height"]
    if isinstance(height, bool) or not isinstance(height, int):
        raise ValueError(f"height is not an integer: {height!r}")
    return height


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
    upstream: str | None = None
    lag = 0

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: object, content_type: str = "application/json",
              *, go: bool = False) -> None:
        """``go``: compact JSON ending in a newline, as pocket-core's encoder writes it."""
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode() if go else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1":
            self._send(200, VERSION)
        elif self.path == "/__lab/height_lag":
            self._send(200, {"lag": Handler.lag, "upstream": Handler.upstream})
        else:
            self._send(404, {"code": 404, "message": "not found"})

    def _height(self) -> None:
        if Handler.upstream is None:
            self._send(400, {"code": 400, "message": "no network to follow: POCKET_NETWORK_RPC is not set"
                             " (the lab's Morse node stand-in has no chain of its own)"}, JSON_ERROR, go=True)
            return
        try:
            height = network_height(Handler.upstream)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._send(400, {"code": 400, "message": f"network height from {Handler.upstream}: {exc}"},
                       JSON_ERROR, go=True)
            return
        self._send(200, {"height": max(0, height - Handler.lag)}, JSON_OK, go=True)

    def _set_lag(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or set(body) != {"lag"}:
                raise ValueError('expected {"lag": N}')
            Handler.lag = height_lag(body["lag"])
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, {"lag": Handler.lag})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/__lab/height_lag":
            self._set_lag(raw)
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"code": 400, "message": "invalid JSON"})
            return
        if self.path == "/v1/query/height":
            self._height()
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
    try:
        network = os.environ.get("POCKET_NETWORK_RPC", "").strip()
        Handler.upstream = upstream_url(network) if network else None
        lag = os.environ.get("POCKET_HEIGHT_LAG", "").strip() or "0"
        Handler.lag = height_lag(int(lag) if lag.isdigit() else lag, "POCKET_HEIGHT_LAG")
    except ValueError as exc:
        print(f"morse_node: {exc}", file=sys.stderr)
        return 2
    # Like pocket-core's default RPC laddr, every interface of the host (here: the lab host's
    # namespace, which has no route out); POCKET_RPC_LISTEN=ADDR:PORT narrows it.
    listen = os.environ.get("POCKET_RPC_LISTEN", "")
    host, _, port = listen.rpartition(":") if listen else ("", "", str(RPC_PORT))
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, _stop)
    print(f"ready rpc=:{server.server_address[1]} chains={Handler.chains_file} "
          f"network={Handler.upstream or '-'} lag={Handler.lag}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
