"""The health and stakes sweeps cancelled mid-way (the workflows' CancelToken), on 127.0.0.1:
a slow Pocket stand-in and endpoints that never answer. A cancelled sweep raises Cancelled
within a fraction of its time bound, launches nothing more, records nothing, and is never a
report (so never OK); an uncancelled one with a token is the same report as without.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from fleetctl.core.events import Cancelled, CancelToken, CheckDone, Progress
from fleetctl.core.levels import Level
from fleetctl.health.run import HealthOptions
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows import health as health_job
from fleetctl.workflows import stakes as stakes_job
from fleetlab.standin import PocketStandin, lab_address

MIN = 60_000_000_000
N = 40


def seed(latency_ms: int) -> dict:
    suppliers = [{"operator_address": lab_address(f"cancel-{i}"), "owner_address": lab_address("cancel-owner"),
                  "stake_upokt": MIN + 10**12, "services": ["eth"]} for i in range(N)]
    return {"height": 1000, "latency_ms": latency_ms,
            "shannon": {"params": {"supplier": {"min_stake": MIN}}, "suppliers": suppliers},
            "balances": {s["operator_address"]: 10**12 for s in suppliers}}


def write_inventory(root: Path, url: str, endpoints: list[str] = ()) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1, ansible_connection: local}\n")
    lines = ["protocol: shannon", f"pocket: {{rest_url: '{url}'}}", "chains:", "  eth:",
             "    clients: [geth, nethermind, erigon]", f"    replicas: {max(1, len(endpoints))}"]
    if endpoints:
        lines.append("    endpoints:")
        lines += [f"      - {{name: e{i}, url: '{u}', client: geth, host: h1}}" for i, u in enumerate(endpoints)]
    lines.append("suppliers:")
    lines += [f"  - {{name: s{i}, operator_address: '{lab_address(f'cancel-{i}')}', services: [eth]}}"
              for i in range(N)]
    lines.append("health: {timeout: 8}")
    (root / "fleet.yml").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def slow_chain():
    server = PocketStandin(seed(latency_ms=300)).start()
    yield server
    server.stop()


@pytest.fixture
def silent():
    """TCP listeners that accept and never answer (an endpoint that hangs)."""
    socks = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        socks.append(s)
    yield [f"http://127.0.0.1:{s.getsockname()[1]}" for s in socks]
    for s in socks:
        s.close()


def cancel_after(token: CancelToken, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, token.cancel, args=("operator",))
    timer.start()
    return timer


def test_a_stakes_sweep_cancelled_mid_way_raises_and_records_nothing(slow_chain, tmp_path):
    fleet = load_inventory(write_inventory(tmp_path / "inv", slow_chain.shannon_url))
    db = tmp_path / "state" / "fleetctl.db"
    token = CancelToken()
    events: list[object] = []
    cancel_after(token, 0.5)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        stakes_job.execute(fleet, concurrency=2, timeout=10, db=db, on_event=events.append, cancel=token)
    assert time.monotonic() - started < 2.5  # the whole sweep takes ~12 s at this latency
    assert not any(isinstance(e, CheckDone) for e in events)  # nothing judged, nothing OK
    assert not db.exists()  # nothing recorded


def test_a_stakes_sweep_with_a_token_not_cancelled_is_the_same_report(standin_fast, tmp_path):
    fleet = load_inventory(write_inventory(tmp_path / "inv", standin_fast.shannon_url))
    events: list[object] = []
    report = stakes_job.execute(fleet, db=tmp_path / "a.db", on_event=events.append, cancel=CancelToken())
    plain = stakes_job.execute(fleet, db=tmp_path / "b.db")
    assert report.status is plain.status is Level.OK
    assert [(r.name, r.level) for r in report.suppliers] == [(r.name, r.level) for r in plain.suppliers]
    assert sorted(e.target for e in events if isinstance(e, CheckDone)) == sorted(r.name for r in report.suppliers)
    assert isinstance(events[-1], Progress) and events[-1].done == events[-1].total == N


@pytest.fixture
def standin_fast():
    server = PocketStandin(seed(latency_ms=0)).start()
    yield server
    server.stop()


def test_a_health_sweep_cancelled_mid_way_raises_and_is_never_ok(slow_chain, silent, tmp_path):
    fleet = load_inventory(write_inventory(tmp_path / "inv", slow_chain.shannon_url, silent))
    options = HealthOptions(timeout=8, db=tmp_path / "state" / "fleetctl.db", alerts=False)
    token = CancelToken()
    events: list[object] = []
    cancel_after(token, 0.5)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        health_job.execute(fleet, options, on_event=events.append, cancel=token)
    assert time.monotonic() - started < 3  # uncancelled, the hanging endpoints take the 8 s timeout
    assert not any(isinstance(e, CheckDone) for e in events)
    assert any(isinstance(e, Progress) for e in events)


def test_a_health_sweep_cancelled_before_it_starts_launches_nothing(slow_chain, silent, tmp_path):
    fleet = load_inventory(write_inventory(tmp_path / "inv", slow_chain.shannon_url, silent))
    token = CancelToken()
    token.cancel()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        health_job.execute(fleet, HealthOptions(timeout=8, db=tmp_path / "s.db", alerts=False), cancel=token)
    assert time.monotonic() - started < 1.5
