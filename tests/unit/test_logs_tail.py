"""A container's log (fleetctl.workflows.logs.tail) against a fake Docker engine: lines split
across chunks, decoded, cleaned of terminal escapes and secrets; only fleetctl's containers; one
clear error for an unknown host or container or an unreachable engine; a read blocked on a quiet
container ends when the cancel token is set (the stream's SSH channel is closed)."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from conftest import LAB_INV

from fleetctl.core.errors import FleetError
from fleetctl.core.events import CancelToken
from fleetctl.provision import dockerssh
from fleetctl.spec.loader import load_inventory
from fleetctl.spec.model import Endpoint
from fleetctl.workflows import logs

CID = "0123456789ab" * 5 + "cdef"
SECRET_URL = "https://user:hunter2@eth.rpc.example/v3/0123456789abcdef0123456789abcdef"


class _Channel:
    """paramiko's Channel as far as closing goes: closing wakes a blocked read."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


class _Stream:
    """A Docker log stream: the chunks, then (``block``) a read that waits until closed."""

    def __init__(self, chunks, block=False):
        self.chunks = list(chunks)
        self.block = block
        self.channel = _Channel()
        fp = type("ChannelFile", (), {"channel": self.channel})()
        self._response = type("R", (), {"raw": type("Raw", (), {"_fp": type("HTTPResponse", (), {"fp": fp})()})()})()
        self.waited = False

    def __iter__(self):
        yield from self.chunks
        if self.block:
            self.waited = True
            self.channel.closed.wait(30)  # a test that fails leaves after 30 s, not never


class _API:
    def __init__(self, stream, listing=None):
        self.stream = stream
        self.timeout = 15
        self.filters = None
        self.asked = None
        self.listing = listing if listing is not None else [
            {"Id": CID, "Names": ["/eth-geth-1"], "Labels": {"io.fleetctl.managed": "true", "io.fleetctl.name": "eth-geth-1"}},
            {"Id": "f" * 64, "Names": ["/lb-eth"], "Labels": {"io.fleetctl.managed": "true"}},
        ]

    def containers(self, all, filters):
        self.filters = filters
        return self.listing

    def logs(self, cid, **kw):
        self.asked = (cid, kw, self.timeout)
        return self.stream


class _Client:
    def __init__(self, api):
        self.api = api
        self.closed = 0

    def close(self):
        self.closed += 1


@pytest.fixture
def fleet():
    f = load_inventory(LAB_INV)
    cid = next(iter(f.chains))
    ep = Endpoint("paid-rpc", SECRET_URL, "geth", cid)
    return dataclasses.replace(f, chains={**f.chains, cid: dataclasses.replace(f.chains[cid], endpoints=(ep,))})


def _engine(monkeypatch, stream, listing=None):
    client = _Client(_API(stream, listing))
    monkeypatch.setattr(dockerssh, "docker_client", lambda host, **kw: client)
    return client


def test_lines_are_whole_decoded_clean_and_secret_free(monkeypatch, fleet):
    chunks = [b"first li", b"ne\nsecond\r\nthi", b"rd \x1b[32mgreen\x1b[0m and \x1b]0;title\x07done\n",
              b"bad \xff\xfe utf8\n", b"calling " + SECRET_URL.encode() + b" now\n", b"\x00bell\x07\n", b"no newline at the end"]
    client = _engine(monkeypatch, _Stream(chunks))
    with logs.tail(fleet, "lab-h1", "eth-geth-1", lines=50, follow=False) as lines:
        got = list(lines)
    assert got[:4] == ["first line", "second", "third green and done", "bad \ufffd\ufffd utf8"]
    assert "hunter2" not in got[4] and "0123456789abcdef0123456789abcdef" not in got[4] and got[4].startswith("calling https://")
    assert got[5:] == ["bell", "no newline at the end"]
    cid, kw, timeout = client.api.asked
    assert cid == CID and kw == {"stdout": True, "stderr": True, "stream": True, "follow": False, "tail": 50}
    assert timeout == 15  # not following: requests keep their timeout
    assert client.api.filters == {"label": "io.fleetctl.managed=true"} and client.closed >= 1


def test_a_line_that_never_ends_is_cut(monkeypatch, fleet):
    _engine(monkeypatch, _Stream([b"x" * (logs.BUFFER_LIMIT + 10), b"\n"]))
    got = list(logs.tail(fleet, "lab-h1", "eth-geth-1", follow=False))
    assert len(got) == 2 and len(got[0]) == logs.LINE_LIMIT and got[0].endswith("…") and got[1] == "x" * 10


def test_cancel_ends_a_blocked_follow(monkeypatch, fleet):
    stream = _Stream([b"one\n", b"two\n"], block=True)
    client = _engine(monkeypatch, stream)
    token = CancelToken()
    tail = logs.tail(fleet, "lab-h1", "eth-geth-1", cancel=token)
    assert client.api.asked[2] is None  # following: no read timeout on a quiet container
    assert next(tail) == "one" and next(tail) == "two"
    done = threading.Event()
    rest: list[str] = []

    def reader():
        rest.extend(tail)
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    token.cancel("operator")
    assert done.wait(20), "the blocked read did not end on cancel"
    assert rest == [] and stream.channel.closed.is_set() and tail.closed and client.closed >= 1


def test_close_from_another_thread_ends_it_too(monkeypatch, fleet):
    stream = _Stream([], block=True)
    _engine(monkeypatch, stream)
    tail = logs.tail(fleet, "lab-h1", "eth-geth-1")
    threading.Timer(0.05, tail.close).start()
    assert list(tail) == [] and stream.waited
    tail.close()  # twice: harmless


def test_cancelled_before_it_starts_connects_nowhere(monkeypatch, fleet):
    monkeypatch.setattr(dockerssh, "docker_client", lambda *a, **k: pytest.fail("connected"))
    token = CancelToken()
    token.cancel()
    assert list(logs.tail(fleet, "lab-h1", "eth-geth-1", cancel=token)) == []


def test_unknown_container_is_one_clear_line(monkeypatch, fleet):
    client = _engine(monkeypatch, _Stream([]))
    with pytest.raises(logs.LogsError) as err:
        logs.tail(fleet, "lab-h1", "sshd")
    assert str(err.value) == "lab-h1: no fleetctl container named sshd (there: eth-geth-1, lb-eth)"
    assert client.api.asked is None and client.closed == 1


def test_hostile_listing_is_no_container(monkeypatch, fleet):
    listing = [None, "x", {"Labels": "no", "Names": "no"}, {"Names": [7]},
               {"Id": "../../etc", "Names": ["/eth-geth-1"], "Labels": {}},
               {"Id": CID, "Names": ["/evil\x1b[2J"], "Labels": {}}]
    _engine(monkeypatch, _Stream([]), listing)
    with pytest.raises(logs.LogsError, match="no usable id"):
        logs.tail(fleet, "lab-h1", "eth-geth-1")
    with pytest.raises(logs.LogsError) as err:
        logs.tail(fleet, "lab-h1", "nope")
    assert "\x1b" not in str(err.value)


def test_unknown_or_unreachable_host(monkeypatch, fleet):
    with pytest.raises(logs.LogsError, match="^lab-h9: no such host in the inventory$"):
        logs.tail(fleet, "lab-h9", "eth-geth-1")

    def down(host, **kw):
        raise FleetError(f"{host.name}: cannot reach {host.address}:{host.port} (Connection refused)")

    monkeypatch.setattr(dockerssh, "docker_client", down)
    with pytest.raises(logs.LogsError, match=r"^lab-h2: cannot reach 10\.213\.0\.12:22 \(Connection refused\)$"):
        logs.tail(fleet, "lab-h2", "eth-geth-1")


@pytest.mark.parametrize("lines", [-1, logs.MAX_LINES + 1, 1.5, "200", True, None])
def test_lines_must_be_a_sane_count(fleet, lines):
    with pytest.raises(ValueError):
        logs.tail(fleet, "lab-h1", "eth-geth-1", lines=lines)
