"""``fleetctl exporter``: the health sweep's metrics on ``/metrics`` for Prometheus.

prometheus_client's HTTP server answers scrapes from the latest sweep (a scrape never waits
for one); a background loop sweeps every ``interval`` seconds, reloading the inventory each
time (an edit takes effect at the next sweep; an inventory that no longer loads keeps the last
good one and says so in ``fleetctl_exporter_inventory_ok``). The exporter records stake
history like ``fleetctl health`` does, but sends no notifications and remediates nothing:
alerting belongs to Prometheus and Alertmanager once a fleet is scraped.

It binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from fleetctl.core.errors import UserError
from fleetctl.health.report import HealthReport, metric_families

__all__ = ["Exporter", "parse_listen"]

DEFAULT_LISTEN = "127.0.0.1:9877"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9877`` for IPv6) → (host, port); UserError with one line if bad."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen: expected HOST:PORT such as {DEFAULT_LISTEN}, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise UserError(f"--listen: {host!r} is not an IP address (give one, e.g. 127.0.0.1)") from None
    return host, int(port)


class Exporter:
    """The collector prometheus_client calls on each scrape, and the loop that feeds it."""

    def __init__(self, load: Callable[[], Any], sweep: Callable[[Any], HealthReport], interval: float,
                 log: Callable[[str], None] = lambda s: None) -> None:
        self._load = load
        self._sweep = sweep
        self.interval = interval
        self._log = log
        self._lock = threading.Lock()
        self.report: HealthReport | None = None
        self.fleet: Any = None
        self.inventory_ok = False
        self.inventory_error: str | None = None
        self.sweeps = 0
        self.last_sweep = 0.0
        self.stop = threading.Event()

    # prometheus_client collector protocol
    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            report, ok, sweeps, last = self.report, self.inventory_ok, self.sweeps, self.last_sweep
        inv = GaugeMetricFamily("fleetctl_exporter_inventory_ok", "1 if the inventory loaded at the last sweep")
        inv.add_metric([], 1.0 if ok else 0.0)
        yield inv
        count = CounterMetricFamily("fleetctl_exporter_sweeps", "Health sweeps done since start")
        count.add_metric([], float(sweeps))
        yield count
        stamp = GaugeMetricFamily("fleetctl_exporter_last_sweep_timestamp_seconds",
                                  "Unix time the last sweep finished (0: none yet)")
        stamp.add_metric([], last)
        yield stamp
        if report is not None:
            yield from metric_families(report)

    def sweep_once(self) -> None:
        try:
            fleet = self._load()
            ok, error = True, None
        except Exception as exc:  # an inventory error: keep the last good one
            fleet, ok, error = self.fleet, False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if error and error != self.inventory_error:
            self._log(f"exporter: inventory unusable, keeping the last good one: {error}")
        self.inventory_error = error
        report = self._sweep(fleet) if fleet is not None else None
        with self._lock:
            self.fleet = fleet
            self.inventory_ok = ok
            if report is not None:
                self.report = report
                self.sweeps += 1
                self.last_sweep = time.time()
        if report is not None:
            self._log(f"exporter: {report.status.name} in {report.duration_s:.2f} s, {len(report.checks)} checks")

    def run(self, host: str, port: int) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        server, thread = start_http_server(port, addr=host, registry=registry)
        self._log(f"exporter: serving http://{host}:{port}/metrics, sweeping every {self.interval:g} s")
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop.set())
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    self.sweep_once()
                except Exception as exc:  # noqa: BLE001 - one bad sweep never stops the exporter
                    self._log(f"exporter: sweep failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
                self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            server.shutdown()
            server.server_close()
