"""The RelayMiner check played from the hostile side: a metrics page whose block height, error or
drop counters are garbage, a previous-readings file written by anyone, and hostile servers on
127.0.0.1 (a ping server that hangs, answers garbage statuses, a metrics page that lies about
its block height). Never an exception, never OK for garbage, never a hang."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetctl.health import execution as ex
from fleetctl.health import services as sv
from fleetctl.core.levels import Level

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_800_000_000.0
SERIES = ["relayminer_requests_total", "relayminer_requests_errors_total", "relayminer_relays_dropped_total",
          "relayminer_block_height_current", 'relayminer_relays_dropped_total{reason="x"}',
          'relayminer_block_height_current{a="b"}']
value = st.one_of(st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", "-5", "1e400", "1e13", "12.5", "7", "0", "--", "1_000",
                                   "99999999999999999999"]),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10, 10**14).map(str))


class Page:
    def __init__(self, text: str) -> None:
        self.text = text

    async def fetch(self, method: str, url: str, timeout: float, body: bytes | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        return 200, self.text.encode(), 0.01


@SETTINGS
@given(lines=st.lists(st.builds(lambda n, v: f"{n} {v}", st.sampled_from(SERIES), value), min_size=1, max_size=8),
       node=st.one_of(st.none(), st.integers(0, 10**12)))
def test_any_metrics_never_crash_and_a_bad_height_or_counter_is_never_ok(lines, node):
    read = sv.RelayMinerRead("h", "http://h.invalid:9090/metrics")
    text = "\n".join(lines)
    asyncio.run(sv.read_relayminer(Page(text), read, 1.0))  # type: ignore[arg-type]
    level, message, values, _ = sv.assess_relayminer(read, node_height=node, now=NOW)
    assert "\n" not in message
    if level is Level.OK:
        for v in values.values():
            assert math.isfinite(v) and v >= 0
        height = values.get("block_height")
        assert height is None or (height.is_integer() and height <= 10**12)
        for ratio in ("error_ratio", "dropped_ratio"):
            assert values.get(ratio, 0) <= 1


def test_a_block_height_that_is_not_a_height_is_unknown():
    for bad in ("-5", "1e400", "NaN", "+Inf", "12.5", "1e13"):
        read = sv.RelayMinerRead("h", "u")
        text = f"relayminer_requests_total 5\nrelayminer_block_height_current {bad}\n"
        asyncio.run(sv.read_relayminer(Page(text), read, 1.0))  # type: ignore[arg-type]
        level, message, _, _ = sv.assess_relayminer(read, node_height=100, now=NOW)
        assert level is Level.UNKNOWN and "relayminer_block_height_current" in message, (bad, message)


def test_a_dropped_counter_that_is_not_a_count_is_unknown():
    for bad in ("-1", "+Inf", "NaN", "1e400"):
        read = sv.RelayMinerRead("h", "u")
        asyncio.run(sv.read_relayminer(Page(f"relayminer_relays_dropped_total {bad}\n"), read, 1.0))  # type: ignore[arg-type]
        assert sv.assess_relayminer(read, now=NOW)[0] is Level.UNKNOWN, bad


json_any = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
                                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10)),
                        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                st.dictionaries(st.text(max_size=12), inner, max_size=6)),
                        max_leaves=20)
state_entry = st.fixed_dictionaries({}, optional={k: json_any for k in (
    "at", "requests", "errors", "dropped", "height", "height_since")})


@SETTINGS
@given(data=st.one_of(json_any, st.dictionaries(st.text(max_size=8), st.one_of(state_entry, json_any), max_size=4)))
def test_any_previous_readings_file_never_crashes_the_check(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("rm") / "state.db.relayminers.json"
    path.write_text(json.dumps(data, allow_nan=True))
    states = sv.load_states(path, [])
    read = sv.RelayMinerRead("h", "u")
    asyncio.run(sv.read_relayminer(Page("relayminer_requests_total 50\nrelayminer_block_height_current 7\n"),
                                   read, 1.0))  # type: ignore[arg-type]
    for prev in states.values():
        level, message, values, state = sv.assess_relayminer(read, previous=prev, now=NOW)
        assert level in Level and state is not None
        assert all(math.isfinite(v) for v in values.values())


# ----------------------------------------------------------------------------- hostile servers


async def _server(handler) -> tuple[asyncio.AbstractServer, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _http(status: str, body: bytes = b"") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nContent-Type: text/plain\r\n\r\n").encode() + body


def test_a_hanging_ping_server_costs_one_timeout_and_is_a_warning_not_a_hang():
    async def main() -> tuple[Level, str, float]:
        async def metrics(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_http("200 OK", b"relayminer_requests_total 10\nrelayminer_block_height_current 9\n"))
            await writer.drain()
            writer.close()

        async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)

        m_server, m_port = await _server(metrics)
        p_server, p_port = await _server(hang)
        http = ex.Http(4)
        read = sv.RelayMinerRead("h", f"http://127.0.0.1:{m_port}/metrics", ping_url=f"http://127.0.0.1:{p_port}/")
        t0 = time.monotonic()
        try:
            await sv.read_relayminer(http, read, 0.5)
        finally:
            await http.close()
            m_server.close()
            p_server.close()
        level, message, _, _ = sv.assess_relayminer(read, node_height=9, now=NOW)
        return level, message, time.monotonic() - t0

    level, message, took = asyncio.run(main())
    assert level is Level.WARNING and "ping server unreachable" in message, message
    assert took < 2.0


def test_a_ping_server_answering_garbage_statuses_is_never_ok():
    for status in ("500 Internal Server Error", "200 OK", "404 Not Found", "504 Gateway Timeout"):
        async def main(status: str = status) -> tuple[Level, str]:
            async def metrics(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(_http("200 OK", b"relayminer_requests_total 10\n"))
                await writer.drain()
                writer.close()

            async def ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(_http(status, b"<html>nope</html>"))
                await writer.drain()
                writer.close()

            m_server, m_port = await _server(metrics)
            p_server, p_port = await _server(ping)
            http = ex.Http(4)
            read = sv.RelayMinerRead("h", f"http://127.0.0.1:{m_port}/metrics",
                                     ping_url=f"http://127.0.0.1:{p_port}/")
            try:
                await sv.read_relayminer(http, read, 1.0)
            finally:
                await http.close()
                m_server.close()
                p_server.close()
            level, message, _, _ = sv.assess_relayminer(read, now=NOW)
            return level, message

        level, message = asyncio.run(main())
        if status.startswith("200"):
            # 2xx is the ping server's success (it answers 204); anything else is not
            assert level is Level.OK, message
        else:
            assert level in (Level.WARNING, Level.CRITICAL) and f"ping: HTTP {status[:3]}" in message, message
