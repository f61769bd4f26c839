"""RelayMiner health beyond "metrics reachable": error and drop ratios between runs, the block
height it sees (behind its Pocket node, stalled while the chain moves) and its ping server.

Series names as poktroll's pkg/relayer/metrics.go has them (Subsystem ``relayminer``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from fleetctl.health import services as sv
from fleetctl.health.services import RelayMinerLimits, RelayMinerState, assess_relayminer
from fleetctl.core.levels import Level

NOW = 1_800_000_000.0


def page(requests: float = 1000, errors: float = 0, dropped: float = 0, height: int | None = 5000) -> str:
    """A RelayMiner's /metrics as its Go client renders it (labels as metrics.go declares)."""
    lines = [
        "# HELP relayminer_requests_total Total number of requests processed, labeled by service ID.",
        "# TYPE relayminer_requests_total counter",
        f'relayminer_requests_total{{service_id="eth",supplier_operator_address="pokt1a"}} {requests / 2:g}',
        f'relayminer_requests_total{{service_id="base",supplier_operator_address="pokt1a"}} {requests / 2:g}',
        "# TYPE relayminer_requests_errors_total counter",
        f'relayminer_requests_errors_total{{service_id="eth"}} {errors:g}',
        "# TYPE relayminer_relays_dropped_total counter",
        f'relayminer_relays_dropped_total{{reason="mining_channel_full",service_id="eth",'
        f'supplier_operator_address="pokt1a"}} {dropped:g}',
        'relayminer_relay_duration_seconds_bucket{service_id="eth",status_code="200",le="+Inf"} 12',
    ]
    if height is not None:
        lines += ["# TYPE relayminer_block_height_current gauge", f"relayminer_block_height_current {height}"]
    return "\n".join(lines) + "\n"


class FakeHttp:
    def __init__(self, answers: dict[str, tuple[int, bytes] | Exception]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def fetch(self, method: str, url: str, timeout: float, body: bytes | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        self.asked.append(url)
        for prefix, answer in self.answers.items():
            if url.startswith(prefix):
                if isinstance(answer, Exception):
                    raise answer
                return answer[0], answer[1], 0.01
        raise sv.RpcFailure("connection refused")


def read(text: str, *, ping: tuple[int, bytes] | Exception | None = None) -> sv.RelayMinerRead:
    answers: dict[str, Any] = {"http://rm:9090/metrics": (200, text.encode())}
    r = sv.RelayMinerRead("rm-host", "http://rm:9090/metrics")
    if ping is not None:
        r.ping_url = "http://rm:8081/"
        answers["http://rm:8081/"] = ping
    asyncio.run(sv.read_relayminer(FakeHttp(answers), r, 1.0))  # type: ignore[arg-type]
    return r


def test_real_series_are_read_and_a_healthy_relayminer_is_ok():
    r = read(page(requests=1000, errors=2, dropped=0, height=5000))
    level, message, values, state = assess_relayminer(r, node_height=5001, now=NOW)
    assert level is Level.OK, message
    assert values["relays_total"] == 1000 and values["relay_errors_total"] == 2
    assert values["block_height"] == 5000 and values["error_ratio"] == 0.002 and values["dropped_ratio"] == 0
    assert "block height 5,000" in message
    assert state == RelayMinerState(at=NOW, requests=1000, errors=2, dropped=0, height=5000, height_since=NOW)


def test_error_ratio_between_runs_not_over_the_whole_window():
    prev = RelayMinerState(at=NOW - 300, requests=100_000, errors=100, dropped=0, height=4990, height_since=NOW - 300)
    # 1,000 new relays, 300 new errors: 30% in the last 5 min, though only 0.4% since start
    r = read(page(requests=101_000, errors=400, height=5000))
    level, message, values, _ = assess_relayminer(r, previous=prev, node_height=5000, now=NOW)
    assert level is Level.CRITICAL, message
    assert "30.0% of relays errors in the last 5 min (300 of 1,000" in message
    assert values["error_ratio"] == 0.3
    # 6% is a WARNING (default 5%), below 5% OK
    r = read(page(requests=101_000, errors=160, height=5000))
    assert assess_relayminer(r, previous=prev, node_height=5000, now=NOW)[0] is Level.WARNING
    r = read(page(requests=101_000, errors=140, height=5000))
    assert assess_relayminer(r, previous=prev, node_height=5000, now=NOW)[0] is Level.OK


def test_dropped_relays_rising_is_a_warning_then_critical():
    prev = RelayMinerState(at=NOW - 60, requests=1000, errors=0, dropped=0, height=5000, height_since=NOW - 60)
    r = read(page(requests=2000, dropped=20, height=5001))  # 2% of the new relays never claimed
    level, message, values, _ = assess_relayminer(r, previous=prev, node_height=5001, now=NOW)
    assert level is Level.WARNING and "2.0% of relays dropped" in message and values["dropped_ratio"] == 0.02
    r = read(page(requests=2000, dropped=200, height=5001))
    assert assess_relayminer(r, previous=prev, node_height=5001, now=NOW)[0] is Level.CRITICAL


def test_a_restart_judges_over_the_fresh_counters_and_few_relays_are_not_judged():
    prev = RelayMinerState(at=NOW - 60, requests=50_000, errors=10, dropped=0, height=5000, height_since=NOW - 60)
    r = read(page(requests=100, errors=50, height=5001))  # counters reset: 50% since it restarted
    level, message, _, _ = assess_relayminer(r, previous=prev, node_height=5001, now=NOW)
    assert level is Level.CRITICAL and "since it restarted" in message
    r = read(page(requests=10, errors=9, height=5001))  # 10 relays: nothing to say about a rate
    level, message, values, _ = assess_relayminer(r, node_height=5001, now=NOW)
    assert level is Level.OK and "too few to judge" in message and "error_ratio" not in values


def test_block_height_behind_its_pocket_node():
    r = read(page(height=5000))
    level, message, values, _ = assess_relayminer(r, node_height=5007, now=NOW)
    assert level is Level.WARNING and "block height 5,000 is 7 behind its Pocket node (5,007)" in message
    assert values["lag_blocks"] == 7
    assert assess_relayminer(r, node_height=5030, now=NOW)[0] is Level.CRITICAL
    limits = RelayMinerLimits(lag_warning=10, lag_critical=50)
    assert assess_relayminer(r, node_height=5030, now=NOW, limits=limits)[0] is Level.WARNING


def test_block_height_stalled_across_runs():
    prev = RelayMinerState(at=NOW - 60, requests=1000, errors=0, dropped=0, height=5000, height_since=NOW - 400)
    r = read(page(height=5000))
    level, message, values, state = assess_relayminer(r, previous=prev, now=NOW)  # node height unknown
    assert level is Level.WARNING and "block height stalled at 5,000 for 6 min" in message
    assert state is not None and state.height_since == NOW - 400 and values["height_unchanged_seconds"] == 400
    prev = RelayMinerState(at=NOW - 60, requests=1000, errors=0, dropped=0, height=5000, height_since=NOW - 1000)
    assert assess_relayminer(r, previous=prev, now=NOW)[0] is Level.CRITICAL
    # the whole chain stopped (its node is at the same height): that is the node's check, not this one
    level, message, _, _ = assess_relayminer(r, previous=prev, node_height=5000, now=NOW)
    assert level is Level.OK, message
    # it moved: the clock starts again
    _, _, _, state = assess_relayminer(read(page(height=5001)), previous=prev, now=NOW)
    assert state is not None and state.height_since == NOW


def test_no_block_height_series_is_said_not_judged():
    r = read(page(height=None))
    level, message, values, _ = assess_relayminer(r, node_height=5000, now=NOW)
    assert level is Level.OK and "no relayminer_block_height_current series" in message
    assert "block_height" not in values


def test_ping_server():
    ok = read(page(), ping=(204, b""))
    level, message, values, _ = assess_relayminer(ok, node_height=5000, now=NOW)
    assert level is Level.OK and "ping OK" in message and values["ping_up"] == 1
    bad = read(page(), ping=(502, b""))
    level, message, values, _ = assess_relayminer(bad, node_height=5000, now=NOW)
    assert level is Level.CRITICAL and "ping: HTTP 502" in message and values["ping_up"] == 0
    down = read(page(), ping=sv.RpcFailure("connection refused"))
    level, message, _, _ = assess_relayminer(down, node_height=5000, now=NOW)
    assert level is Level.WARNING and "ping server unreachable: connection refused" in message


def test_unreachable_metrics_keep_the_previous_state():
    prev = RelayMinerState(at=NOW - 60, requests=1, errors=0, dropped=0)
    r = sv.RelayMinerRead("rm-host", "http://rm:9090/metrics")
    asyncio.run(sv.read_relayminer(FakeHttp({}), r, 1.0))  # type: ignore[arg-type]
    level, message, _, state = assess_relayminer(r, previous=prev, now=NOW)
    assert level is Level.CRITICAL and "metrics unreachable" in message and state is prev


def test_states_round_trip_and_a_bad_file_is_ignored(tmp_path: Path):
    db = tmp_path / "state.db"
    path = sv.state_path(db)
    states = {"a": RelayMinerState(NOW, 10, 1, 0, 7, NOW - 5), "b": RelayMinerState(NOW, 0, 0, 0)}
    sv.save_states(path, states)
    assert sv.load_states(path) == states
    path.write_text(json.dumps({"a": {"at": NOW, "requests": -1, "errors": 0, "dropped": 0},
                                "b": states["b"].as_json()}))
    assert sv.load_states(path) == {"b": states["b"]}  # the bad entry starts afresh
    path.write_text("[1, 2")
    notes: list[str] = []
    assert sv.load_states(path, notes) == {} and "ignored" in notes[0]


def test_policy_thresholds_reach_the_limits():
    from fleetctl.spec.model import HealthPolicy

    p = HealthPolicy(relayminer_error_warning=0.5, relayminer_error_critical=0.9, relayminer_stall_warning_s=10,
                     pocket_lag_warning=2, pocket_lag_critical=3)
    lim = RelayMinerLimits.of(p)
    assert (lim.error_warning, lim.error_critical, lim.stall_warning_s, lim.lag_warning, lim.lag_critical) == (
        0.5, 0.9, 10, 2, 3)


def test_the_sweep_reads_the_ping_server_the_fleets_config_enables():
    from fleetctl.health import sweep as sw
    from fleetctl.plan import model as pm
    from fleetctl.spec.model import Host

    assert pm.RELAYMINER_PING_PORT == 8081
    assert sw._ping_url(Host("h", "10.0.0.5")) == "http://10.0.0.5:8081/"
    assert sw._ping_url(Host("h", "fd00:213::11")) == "http://[fd00:213::11]:8081/"


def test_fleet_yml_keys_for_the_relayminer_thresholds(tmp_path: Path):
    from conftest import LAB_INV
    import shutil

    from fleetctl.spec.errors import InventoryError
    from fleetctl.spec.loader import load_inventory

    root = tmp_path / "lab"
    shutil.copytree(LAB_INV, root)
    text = (root / "fleet.yml").read_text()
    assert "\nhealth:" not in text
    (root / "fleet.yml").write_text(text + "health:\n  relayminer_error_warning: 2%\n  relayminer_error_critical: 10%\n"
                                    "  relayminer_dropped_warning: 0.5%\n  relayminer_stall_warning: 2m\n"
                                    "  relayminer_stall_critical: 10m\n")
    h = load_inventory(root).health
    assert (h.relayminer_error_warning, h.relayminer_error_critical, h.relayminer_dropped_warning) == (0.02, 0.1, 0.005)
    assert (h.relayminer_stall_warning_s, h.relayminer_stall_critical_s) == (120, 600)
    (root / "fleet.yml").write_text(text + "health:\n  relayminer_stall_warning: 1h\n  relayminer_stall_critical: 5m\n"
                                    "  relayminer_error_warning: lots\n")
    try:
        load_inventory(root)
    except InventoryError as exc:
        message = str(exc)
    else:
        raise AssertionError("loaded")
    assert "health.relayminer_error_warning: expected a percentage" in message
    assert "health.relayminer_stall_warning" in message and "WARNING before CRITICAL" in message
