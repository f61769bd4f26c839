"""`fleetctl diversity` asks each adopted endpoint its web3_clientVersion (a consensus endpoint its
Beacon API version): the answer is hostile input. A deep or huge body, a version that is no short
printable string, a redirect, a slow drip or a hang is "not counted" with one short note (and an
UNKNOWN CheckDone), within the probe's timeout, never a traceback, never an escape sequence on the
operator's terminal, and never the endpoint's credentials; a cancel drops the probes in flight."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fleetctl.core.events import Cancelled, CancelToken, CheckDone
from fleetctl.core.levels import Level
from fleetctl.plan.diversity import check_diversity, diversity, read_version
from fleetctl.spec.loader import load_inventory

USER, PASSWORD, TOKEN = "opsuser", "pw-Div3rs1ty-77", "tok-Div3rs1ty-88"


class Endpoint:
    """An HTTP/1.1 server on 127.0.0.1 whose every answer is ``behaviour(request) -> bytes|None``
    (None: hold the connection open), run on its own loop in a thread."""

    def __init__(self, behaviour: Any) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            request = head + await reader.readexactly(length)
            self.requests.append(request)
            answer = self.behaviour(request)
            if answer is None:
                await asyncio.sleep(60)
            elif callable(answer):
                await answer(writer)
            else:
                writer.write(answer)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def http(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


def version(text: Any) -> bytes:
    return http(json.dumps({"jsonrpc": "2.0", "id": 1, "result": text}).encode())


async def drip(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n")
    for _ in range(200):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.2)


@pytest.fixture()
def endpoints():
    made: list[Endpoint] = []

    def make(behaviour: Any) -> Endpoint:
        made.append(Endpoint(behaviour))
        return made[-1]

    yield make
    for e in made:
        e.close()


def fleet_with(tmp_path: Path, urls: list[str]) -> Any:
    root = tmp_path / "inv"
    root.mkdir()
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    eps = "\n".join(f"      - {{name: ep{i}, url: '{u}', client: geth, host: h1}}" for i, u in enumerate(urls))
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
        f"chains:\n  eth:\n    clients: [geth, erigon]\n    replicas: {max(2, len(urls))}\n"
        f"    endpoints:\n{eps}\n")
    return load_inventory(root)


HOSTILE = {
    "deep-json": http(b"[" * 60_000 + b"]" * 60_000),
    "huge-body": http(b" " * 70_000 + b"{}"),
    "version-a-list": version(["Geth/v1.14"]),
    "version-a-number": version(12345),
    "version-huge": version("Geth/" + "v" * 5000),
    "version-escape": version("Geth/v1.14.0\x1b[2J\x1b]0;pwned\x07"),
    "not-json": http(b"<html>502 Bad Gateway</html>"),
    "http-500": http(b"{}", "500 Internal Server Error"),
    "chunk-negative": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_answer_is_not_counted_with_one_short_note(tmp_path, endpoints, name):
    ep = endpoints(lambda request: HOSTILE[name])
    good = endpoints(lambda request: version("Geth/v1.14.0-stable/linux-amd64/go1.22"))
    fleet = fleet_with(tmp_path, [f"http://127.0.0.1:{ep.port}", f"http://127.0.0.1:{good.port}"])
    report = diversity(fleet, {}, probe_timeout=2)
    assert report["chains"]["eth"]["counts"] == {"geth": 1, "erigon": 0}, report
    (note,) = report["notes"]
    assert note.startswith("ep0: ") and "not counted" in note, note
    assert len(note) < 200 and note.isprintable(), note


def test_a_redirect_is_not_followed(tmp_path, endpoints):
    elsewhere = endpoints(lambda request: version("Geth/v1.14.0"))
    ep = endpoints(lambda request: http(b"", "307 Temporary Redirect",
                                        f"Location: http://127.0.0.1:{elsewhere.port}/\r\n"))
    report = diversity(fleet_with(tmp_path, [f"http://127.0.0.1:{ep.port}"]), {}, probe_timeout=2)
    assert report["chains"]["eth"]["total"] == 0 and elsewhere.requests == []
    assert "HTTP 307" in report["notes"][0]


@pytest.mark.parametrize("behaviour", ["hang", "drip"])
def test_a_hanging_or_dripping_endpoint_costs_one_timeout(tmp_path, endpoints, behaviour):
    ep = endpoints(lambda request: None if behaviour == "hang" else drip)
    fleet = fleet_with(tmp_path, [f"http://127.0.0.1:{ep.port}"] * 1)
    start = time.monotonic()
    report = diversity(fleet, {}, probe_timeout=1)
    assert time.monotonic() - start < 3
    assert "no answer within 1 s" in report["notes"][0]


def test_credentials_in_the_url_are_sent_and_never_shown(tmp_path, endpoints):
    import base64

    expected = b"Authorization: Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode())

    def answer(request: bytes) -> bytes:
        if expected not in request or f"key={TOKEN}".encode() not in request.split(b"\r\n")[0]:
            return http(b"{}", "401 Unauthorized")
        return version("Erigon/v3.0.0")

    ep = endpoints(answer)
    down = f"http://{USER}:{PASSWORD}@127.0.0.1:9/rpc?key={TOKEN}"
    fleet = fleet_with(tmp_path, [f"http://{USER}:{PASSWORD}@127.0.0.1:{ep.port}/rpc?key={TOKEN}", down])
    report = diversity(fleet, {}, probe_timeout=2)
    assert report["chains"]["eth"]["counts"] == {"geth": 0, "erigon": 1}, report
    text = json.dumps(report)
    for secret in (USER, PASSWORD, TOKEN):
        assert secret not in text, text
    assert any("http://***@127.0.0.1:9/rpc?key=***" in n for n in report["notes"]), report["notes"]


def test_read_version_accepts_only_short_printable_strings():
    assert read_version(200, version("Nethermind/v1.29.0")[-200:].split(b"\r\n\r\n")[-1]) == (
        "nethermind", "Nethermind/v1.29.0")
    assert read_version(200, b'{"result": "anvil/v1.7.1"}') == (None, "anvil/v1.7.1")
    assert read_version(200, b'{"result": ""}')[0] is None
    assert read_version(503, b'{"result": "Geth/v1"}') == (None, "no answer (HTTP 503)")


# --- the async job: check_diversity, its events and its cancel token ---------------------------------

def beacon(data: Any) -> bytes:
    return http(json.dumps({"data": data}).encode())


def fleet_with_layers(tmp_path: Path, execution: list[str], consensus: list[str]) -> Any:
    """eth with execution endpoints declared geth and consensus endpoints declared lighthouse."""
    root = tmp_path / "inv2"
    root.mkdir()
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    eps = [f"      - {{name: el{i}, url: '{u}', client: geth, host: h1}}" for i, u in enumerate(execution)]
    eps += [f"      - {{name: cl{i}, url: '{u}', client: lighthouse, host: h1}}" for i, u in enumerate(consensus)]
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
        "chains:\n  eth:\n    clients: [geth, erigon]\n    replicas: 2\n    consensus_clients: [lighthouse, teku]\n"
        "    endpoints:\n" + "\n".join(eps) + "\n")
    return load_inventory(root)


GARBAGE_VERSIONS = {
    "empty": version(""),
    "null": version(None),
    "object": version({"name": "Geth"}),
    "bool": version(True),
    "nul-byte": version("Geth/v1.14\x00"),
    "newline": version("Geth/v1.14\nErigon/v3"),
    "201-chars": version("Geth/" + "1" * 196),
    "no-result": http(json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}}).encode()),
    "top-level-list": http(b'[{"result": "Geth/v1.14"}]'),
    "not-json": http(b"Geth/v1.14.0"),
    "truncated-json": http(b'{"result": "Geth/v1.'),
    "nan": http(b'{"result": NaN}'),
    **HOSTILE,
}


@pytest.mark.parametrize("name", list(GARBAGE_VERSIONS))
def test_check_diversity_counts_no_garbage_version_and_says_unknown_for_it(tmp_path, endpoints, name):
    ep = endpoints(lambda request: GARBAGE_VERSIONS[name])
    good = endpoints(lambda request: version("Geth/v1.14.0-stable/linux-amd64/go1.22"))
    fleet = fleet_with_layers(tmp_path, [f"http://127.0.0.1:{ep.port}", f"http://127.0.0.1:{good.port}"], [])
    events: list = []
    report = asyncio.run(check_diversity(fleet, {}, probe_timeout=2, on_event=events.append))
    (eth,) = report.chains
    assert dict(eth.execution.counts) == {"geth": 1, "erigon": 0}
    bad, fine = report.probes
    assert bad.client is None and bad.detail.isprintable() and len(bad.detail) < 200, bad
    assert fine.client == "geth"
    probes = {e.target: e for e in events if e.target in ("el0", "el1")}
    assert probes["el0"].level is Level.UNKNOWN and "not counted" in probes["el0"].summary
    assert probes["el1"].level is Level.OK
    assert all(isinstance(e, CheckDone) and e.job == "diversity" for e in events)
    assert [e.target for e in events][-1] == "eth" and len(events) == 3
    # geth is 100% of the execution layer (WARNING) and no consensus client answers (UNKNOWN):
    # the chain and the run are UNKNOWN (UNKNOWN outranks WARNING), exit code 3
    assert eth.execution.level is Level.WARNING and eth.consensus.level is Level.UNKNOWN
    assert eth.level is report.level is Level.UNKNOWN and report.exit_code == 3


BEACON_GARBAGE = {
    "data-a-string": beacon("Lighthouse/v5"),
    "version-a-number": beacon({"version": 5}),
    "version-escape": beacon({"version": "Lighthouse/v5\x1b]0;pwned\x07"}),
    "version-huge": beacon({"version": "Lighthouse/" + "v" * 500}),
    "not-json": http(b"<html>ok</html>"),
    "deep": http(b'{"data":' + b"[" * 100 + b"]" * 100 + b"}"),
}


@pytest.mark.parametrize("name", list(BEACON_GARBAGE))
def test_a_hostile_beacon_version_is_not_counted(tmp_path, endpoints, name):
    ep = endpoints(lambda request: BEACON_GARBAGE[name])
    good = endpoints(lambda request: beacon({"version": "teku/v24.10.0/linux-x86_64/-eclipseadoptium-openjdk64bitservervm-java-21"}))
    fleet = fleet_with_layers(tmp_path, [], [f"http://127.0.0.1:{ep.port}", f"http://127.0.0.1:{good.port}"])
    report = asyncio.run(check_diversity(fleet, {}, probe_timeout=2))
    assert dict(report.chains[0].consensus.counts) == {"lighthouse": 0, "teku": 1, "caplin": 0}
    assert ep.requests and ep.requests[0].startswith(b"GET /eth/v1/node/version HTTP/1.1")
    note = next(n for n in report.notes if n.startswith("cl0: "))
    assert "not counted" in note and note.isprintable() and len(note) < 200, note


def test_a_timeout_is_one_unknown_check_within_the_probe_timeout(tmp_path, endpoints):
    hang = endpoints(lambda request: None)
    fleet = fleet_with_layers(tmp_path, [f"http://127.0.0.1:{hang.port}"], [f"http://127.0.0.1:{hang.port}"])
    events: list = []
    start = time.monotonic()
    report = asyncio.run(check_diversity(fleet, {}, probe_timeout=1, on_event=events.append))
    assert time.monotonic() - start < 3
    assert [(e.target, e.level) for e in events] == [("el0", Level.UNKNOWN), ("cl0", Level.UNKNOWN),
                                                     ("eth", Level.UNKNOWN)] or \
        [(e.target, e.level) for e in events] == [("cl0", Level.UNKNOWN), ("el0", Level.UNKNOWN),
                                                  ("eth", Level.UNKNOWN)]
    assert all(p.client is None and p.detail == "no answer within 1 s" for p in report.probes)
    assert report.level is Level.UNKNOWN


def test_cancel_drops_the_probes_in_flight(tmp_path, endpoints):
    hang = endpoints(lambda request: None)
    fleet = fleet_with_layers(tmp_path, [f"http://127.0.0.1:{hang.port}"] * 3, [])
    token = CancelToken()
    timer = threading.Timer(0.3, token.cancel, args=("operator pressed q",))
    timer.start()
    start = time.monotonic()
    events: list = []
    with pytest.raises(Cancelled, match="diversity: operator pressed q"):
        asyncio.run(check_diversity(fleet, {}, probe_timeout=30, on_event=events.append, cancel=token))
    assert time.monotonic() - start < 2 and events == []
    assert len(hang.requests) == 3  # they were in flight, and were dropped
