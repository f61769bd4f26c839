"""The HTTP servers: one threading HTTP/1.1 server per listener, faults and latency applied
before the endpoint answers, and :class:`PocketStandin` that runs them over one chain.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fleetlab.standin.comet_rpc import _CometEndpoint
from fleetlab.standin.common import (
    HANG_SECONDS,
    IDLE_TIMEOUT_SECONDS,
    Reply,
    _require_loopback,
)
from fleetlab.standin.control import StandinControl, _ControlAPI
from fleetlab.standin.morse_rpc import _MorseEndpoint
from fleetlab.standin.rest import _ShannonEndpoint
from fleetlab.standin.state import ChainState

_Endpoint = _ShannonEndpoint | _MorseEndpoint | _CometEndpoint


#: Replies of the fault modes that replace the real answer ("truncated" cuts the real one).
_CANNED_FAULTS = {
    "http500": Reply(500, b"Internal Server Error\n", "text/plain; charset=utf-8"),
    "http503": Reply(503, b"Service Unavailable\n", "text/plain; charset=utf-8"),
    "garbage": Reply(200, b"\x00\xff<html>not json{{", "application/json"),
    "empty": Reply(200, b"", "application/json"),
}


class _StandinHTTPServer(ThreadingHTTPServer):
    """A threading HTTP/1.1 server that tracks its connections so ``stop`` can cut them."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], endpoint: _Endpoint,
                 control: _ControlAPI | None, stop_event: threading.Event, verbose: bool) -> None:
        self.endpoint = endpoint
        self.control = control
        self.stop_event = stop_event
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn); bind without any lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, *, active: bool) -> None:
        with self._connections_lock:
            (self._connections.add if active else self._connections.discard)(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler; closes after an HTTP/1.0 request."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    wbufsize = -1  # buffered: headers and body leave in one segment
    disable_nagle_algorithm = True
    server: _StandinHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, active=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, active=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length)

    def _serve(self) -> None:
        if self.request_version != "HTTP/1.1":
            self.close_connection = True
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Reply(400, b"bad request body\n", "text/plain; charset=utf-8"))
            return
        endpoint, control = self.server.endpoint, self.server.control
        split = urlsplit(self.path)
        if control is not None and split.path.startswith(control.PREFIX):
            self._send(control.handle(self.command, split.path, body))
            return
        latency, fault = endpoint.chain.take_fault(split.path)
        if latency > 0:
            self.server.stop_event.wait(latency)
        if fault == "hang":
            self.server.stop_event.wait(HANG_SECONDS)
            self.close_connection = True
            return
        if fault in _CANNED_FAULTS:
            self._send(_CANNED_FAULTS[fault])
            return
        reply = endpoint.handle(self.command, split.path,
                                parse_qs(split.query, keep_blank_values=True), body)
        self._send(reply, truncate=fault == "truncated")

    def _send(self, reply: Reply, *, truncate: bool = False) -> None:
        if truncate:
            self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body[: len(reply.body) // 2] if truncate else reply.body)
        self.wfile.flush()


class PocketStandin:
    """The stand-in servers over one :class:`ChainState`; a context manager.

    ``PocketStandin(seed).start()`` binds the Shannon and Morse ports, and the CometBFT port when
    ``comet_addr`` is given (0 = any free port), and serves in daemon threads; ``stop()`` closes
    listeners and open connections.
    """

    def __init__(self, seed: Mapping[str, Any] | None = None,
                 shannon_addr: tuple[str, int] = ("127.0.0.1", 0),
                 morse_addr: tuple[str, int] = ("127.0.0.1", 0), *,
                 comet_addr: tuple[str, int] | None = None, verbose: bool = False) -> None:
        addresses = [shannon_addr, morse_addr] + ([comet_addr] if comet_addr is not None else [])
        for host, _ in addresses:
            _require_loopback(host)
        self.chain = ChainState(seed)
        self._addresses = tuple(addresses)
        self._verbose = verbose
        self._stop_event = threading.Event()
        self._servers: list[_StandinHTTPServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> PocketStandin:
        if self._servers:
            raise RuntimeError("already started")
        routing: list[tuple[_Endpoint, _ControlAPI | None]] = [
            (_ShannonEndpoint(self.chain), _ControlAPI(self.chain)),
            (_MorseEndpoint(self.chain), None),
        ]
        if len(self._addresses) > 2:
            routing.append((_CometEndpoint(self.chain), None))
        try:
            for address, (endpoint, control) in zip(self._addresses, routing, strict=True):
                server = _StandinHTTPServer(address, endpoint, control, self._stop_event,
                                            self._verbose)
                self._servers.append(server)
                if isinstance(endpoint, _CometEndpoint):
                    endpoint.rpc_address = "tcp://" + self._url_of(server).removeprefix("http://")
        except OSError:
            self.stop()
            raise
        names = ("shannon", "morse", "comet")[:len(self._servers)]
        for server, name in zip(self._servers, names, strict=True):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"pocket-standin-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @staticmethod
    def _url_of(server: _StandinHTTPServer) -> str:
        address = server.server_address
        host, port = str(address[0]), int(address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def _url(self, index: int) -> str:
        if not self._servers:
            raise RuntimeError("not started")
        return self._url_of(self._servers[index])

    @property
    def shannon_url(self) -> str:
        return self._url(0)

    @property
    def morse_url(self) -> str:
        return self._url(1)

    @property
    def comet_url(self) -> str:
        """``http://HOST:PORT`` of the CometBFT RPC listener (``comet_addr`` must be given)."""
        if len(self._addresses) < 3:
            raise RuntimeError("no CometBFT listener: pass comet_addr")
        return self._url(2)

    @property
    def control(self) -> StandinControl:
        return StandinControl(self.shannon_url)

    def stop(self) -> None:
        self._stop_event.set()
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> PocketStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
