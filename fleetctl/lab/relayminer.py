#!/usr/bin/env python3
"""A RelayMiner stand-in for the fleetctl test lab: it proxies relays and does nothing else.

The real RelayMiner (``pocketd relayminer start``) validates relay requests against on-chain
sessions, signs the responses, builds the session trees and submits claims and proofs. This
stand-in does none of that (no keys, no signing, no sessions, no claims, no chain access): it
reads the real configuration file and moves the JSON-RPC bodies between a client and the
supplier's backend, so that a lab can check the path *client -> RelayMiner -> balancer -> nodes*
that fleetctl deploys. It runs in a container that bind-mounts the host's ``/usr`` read-only,
so it is one file using the standard library and PyYAML (Debian's python3-yaml)::

    /usr/bin/python3 relayminer.py relayminer start --config /etc/pocketd/relayminer/config.yaml

Command line
    ``relayminer start --config FILE`` (``--config=FILE`` too), as for ``pocketd``; every other
    flag (``--chain-id``, ``--keyring-backend``, ``--home``, ...) is accepted and ignored, with
    one stderr line naming them.

Configuration (the RelayMiner YAML; see poktroll's relayminer config schema)
    ``suppliers[]``: ``service_id``, ``listen_url`` (http only) and ``service_config``
    (``backend_url``, optional ``authentication {username, password}`` and ``headers``);
    ``request_timeout_seconds`` / ``default_request_timeout_seconds`` (default 30);
    ``max_body_size`` / ``default_max_body_size`` (default "1MB"); ``metrics {enabled, addr}``.
    The signing keys, ``smt_store_path``, ``pocket_node`` and the other keys are read past.

Relays
    One HTTP server per distinct ``listen_url`` (suppliers that share one share the server). A
    request goes to the supplier named by the ``Target-Service-Id`` header, else by the first
    path segment (``POST /eth`` -> service ``eth``, the rest of the path is passed on), else to
    the only supplier of that listener; otherwise it is answered 400. The body is POSTed to the
    supplier's ``backend_url`` and the backend's status, content type and body are returned;
    a backend that cannot be reached gives 502 with a JSON-RPC error.

Metrics (when ``metrics.enabled``; ``GET /metrics`` on ``metrics.addr``, ``:PORT`` = all
interfaces), Prometheus text, with the names the real RelayMiner uses:
    ``relayminer_requests_total{service_id}``, ``relayminer_requests_success_total{service_id}``
    and ``relayminer_requests_errors_total{service_id}``.

Once every listener is up it prints ``ready relays=URL[,URL...] metrics=ADDR|off``; SIGTERM
and SIGINT stop it.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import signal
import sys
import threading
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

DEFAULT_TIMEOUT_S = 30  # the schema's default_request_timeout_seconds
DEFAULT_MAX_BODY = "1MB"  # the schema's default_max_body_size
SIZE_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
JSON_TYPE = "application/json"
SERVICE_HEADER = "Target-Service-Id"


class ConfigError(Exception):
    """The configuration file cannot be served; the message says why."""


@dataclass(frozen=True)
class Supplier:
    """One ``suppliers[]`` entry, as far as relaying needs it."""

    service_id: str
    listen: tuple[str, int]
    backend: urllib.parse.SplitResult
    headers: dict[str, str]
    timeout_s: float
    max_body: int


def parse_size(text: str) -> int:
    """``"1MB"`` -> 1000000 (the schema's ``^[0-9]+(B|KB|MB|GB|TB)$``)."""
    match = re.fullmatch(r"([0-9]+)(B|KB|MB|GB|TB)", str(text))
    if not match:
        raise ConfigError(f"invalid body size {text!r}: expected a number and B, KB, MB, GB or TB")
    return int(match.group(1)) * SIZE_UNITS[match.group(2)]


def parse_listen_url(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"listen_url {url!r}: the stand-in serves http://HOST:PORT only")
    return parts.hostname, parts.port or 80


def parse_addr(addr: str) -> tuple[str, int]:
    """A metrics address, ``HOST:PORT`` or ``:PORT`` (all interfaces, as Go's net.Listen reads it:
    the real RelayMiner accepts that form; fleetctl's role always writes an explicit address)."""
    host, sep, port = str(addr).rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"metrics.addr {addr!r}: expected HOST:PORT or :PORT")
    return host or "0.0.0.0", int(port)


def load_suppliers(config: dict[str, Any]) -> list[Supplier]:
    default_timeout = config.get("default_request_timeout_seconds") or DEFAULT_TIMEOUT_S
    default_max_body = parse_size(config.get("default_max_body_size") or DEFAULT_MAX_BODY)
    entries = config.get("suppliers")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("suppliers: at least one supplier is required")
    suppliers: list[Supplier] = []
    for index, entry in enumerate(entries):
        where = f"suppliers[{index}]"
        try:
            service_id = str(entry["service_id"])
            listen = parse_listen_url(entry["listen_url"])
            service = entry["service_config"]
            backend = urllib.parse.urlsplit(service["backend_url"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{where}: missing {exc}") from None
        if backend.scheme not in ("http", "https") or not backend.hostname:
            raise ConfigError(f"{where}: backend_url must be an http(s) URL for the stand-in")
        headers = {str(k): str(v) for k, v in (service.get("headers") or {}).items()}
        auth = service.get("authentication") or {}
        if auth.get("username") or auth.get("password"):
            token = f"{auth.get('username', '')}:{auth.get('password', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        max_body = parse_size(entry["max_body_size"]) if entry.get("max_body_size") else default_max_body
        suppliers.append(Supplier(service_id, listen, backend, headers,
                                  float(entry.get("request_timeout_seconds") or default_timeout), max_body))
    seen = Counter((s.listen, s.service_id) for s in suppliers)
    duplicated = sorted(f"{sid} on {host}:{port}" for ((host, port), sid), n in seen.items() if n > 1)
    if duplicated:
        raise ConfigError(f"service configured twice on one listener: {', '.join(duplicated)}")
    return suppliers


# --- relays ---------------------------------------------------------------------------------


class Metrics:
    """Per-service counters, rendered in the Prometheus text format."""

    FAMILIES = (
        ("relayminer_requests_total", "Total number of requests processed, labeled by service ID."),
        ("relayminer_requests_success_total", "Total number of successful requests processed, labeled by service ID."),
        ("relayminer_requests_errors_total", "Total number of error events."),
    )

    def __init__(self, service_ids: Sequence[str]) -> None:
        self._lock = threading.Lock()
        self._counts = {name: Counter({sid: 0 for sid in service_ids}) for name, _ in self.FAMILIES}

    def count(self, service_id: str, ok: bool) -> None:
        with self._lock:
            self._counts["relayminer_requests_total"][service_id] += 1
            self._counts["relayminer_requests_success_total" if ok else "relayminer_requests_errors_total"][service_id] += 1

    def render(self) -> bytes:
        lines = []
        with self._lock:
            for name, help_text in self.FAMILIES:
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                lines += [f'{name}{{service_id="{sid}"}} {n}' for sid, n in sorted(self._counts[name].items())]
        return ("\n".join(lines) + "\n").encode()


def forward(supplier: Supplier, path: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    """POST ``body`` to the supplier's backend: (status, content type, body). OSError and
    http.client.HTTPException propagate."""
    backend = supplier.backend
    connection_class = http.client.HTTPSConnection if backend.scheme == "https" else http.client.HTTPConnection
    target = (backend.path.rstrip("/") + path) or "/"
    if backend.query:
        target += "?" + backend.query
    connection = connection_class(backend.hostname, backend.port, timeout=supplier.timeout_s)
    try:
        connection.request("POST", target, body, {"Content-Type": content_type, **supplier.headers})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", JSON_TYPE), response.read()
    finally:
        connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 suppliers: dict[str, Supplier], metrics: Metrics) -> None:
        self.suppliers = suppliers
        self.metrics = metrics
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped and reset connections are routine; anything else is a bug to show."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per relay would drown the container log."""

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: int, message: str) -> None:
        error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}}
        self._send(status, JSON_TYPE, json.dumps(error).encode())


class RelayHandler(_Handler):
    def _route(self) -> tuple[Supplier | None, str]:
        """The supplier a request is for, and the path to pass on to its backend."""
        suppliers = self.server.suppliers
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        named = self.headers.get(SERVICE_HEADER)
        if named:
            return suppliers.get(named), path
        first, _, rest = path.lstrip("/").partition("/")
        if first in suppliers:
            return suppliers[first], ("/" + rest) if rest else ""
        if len(suppliers) == 1:
            return next(iter(suppliers.values())), path
        return None, path

    def do_POST(self) -> None:
        supplier, path = self._route()
        if supplier is None:
            known = ", ".join(sorted(self.server.suppliers))
            self._send_error(400, f"unknown service: set the {SERVICE_HEADER} header or POST /SERVICE_ID ({known})")
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._send_error(411, "Content-Length required")
            return
        if int(length) > supplier.max_body:
            self.server.metrics.count(supplier.service_id, ok=False)
            self.close_connection = True  # the body is not read
            self._send_error(413, f"request body over {supplier.max_body} bytes")
            return
        body = self.rfile.read(int(length))
        try:
            status, content_type, answer = forward(supplier, path, body, self.headers.get("Content-Type", JSON_TYPE))
        except (OSError, http.client.HTTPException) as exc:
            self.server.metrics.count(supplier.service_id, ok=False)
            self._send_error(502, f"backend {supplier.backend.geturl()} unavailable: {type(exc).__name__}: {exc}")
            return
        self.server.metrics.count(supplier.service_id, ok=200 <= status < 300)
        self._send(status, content_type, answer)


class MetricsHandler(_Handler):
    def do_GET(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/metrics":
            self._send(404, "text/plain", b"not found: see /metrics\n")
            return
        self._send(200, "text/plain; version=0.0.4", self.server.metrics.render())


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> tuple[str, list[str]]:
    """(config path, ignored flags) from ``relayminer start --config FILE ...``."""
    if list(argv[:2]) != ["relayminer", "start"]:
        raise ConfigError("usage: relayminer.py relayminer start --config FILE [flags ignored]")
    config, ignored = None, []
    rest = list(argv[2:])
    while rest:
        arg = rest.pop(0)
        if arg == "--config" and rest:
            config = rest.pop(0)
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        else:
            ignored.append(arg)
    if not config:
        raise ConfigError("--config FILE is required")
    return config, ignored


def main(argv: Sequence[str] | None = None) -> int:
    try:
        path, ignored = parse_args(sys.argv[1:] if argv is None else argv)
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
        if not isinstance(config, dict):
            raise ConfigError(f"{path}: not a YAML mapping")
        suppliers = load_suppliers(config)
        metrics_config = config.get("metrics") or {}
        metrics_addr = parse_addr(metrics_config.get("addr") or ":9090") if metrics_config.get("enabled") else None
    except (ConfigError, OSError, yaml.YAMLError) as exc:
        print(f"relayminer: {exc}", file=sys.stderr)
        return 2
    if ignored:
        print(f"relayminer: stand-in ignores: {' '.join(ignored)}", file=sys.stderr, flush=True)

    metrics = Metrics(sorted({s.service_id for s in suppliers}))
    by_listener: dict[tuple[str, int], dict[str, Supplier]] = {}
    for supplier in suppliers:
        by_listener.setdefault(supplier.listen, {})[supplier.service_id] = supplier
    servers: list[_Server] = []
    try:
        for address, routes in by_listener.items():
            servers.append(_Server(address, RelayHandler, routes, metrics))
        if metrics_addr:
            servers.append(_Server(metrics_addr, MetricsHandler, {}, metrics))
    except OSError as exc:
        print(f"relayminer: cannot listen: {exc}", file=sys.stderr)
        return 1
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    relays = ",".join(f"http://{host}:{port}" for host, port in by_listener)
    shown = f"{metrics_addr[0]}:{metrics_addr[1]}" if metrics_addr else "off"
    print(f"ready relays={relays} metrics={shown}", flush=True)
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
