"""fleetctl.core.httpclient (and the JsonClient on top of it) against real servers on 127.0.0.1.

Every server here is a raw asyncio socket server started by the test itself, on a port the OS
picks, that sends exactly the bytes a case needs: a response split one byte per TCP segment,
a body cut short, a connection reset, an endless header. Each server counts the connections it
accepts and records every request it reads (connection number, request line, headers, body),
so pooling and retries are checked from the server's side, not from the client's word.

Nothing of the client is mocked. TLS uses a throwaway CA and certificates made with the
``cryptography`` package; the client is never told to trust them except through the
standard ``SSL_CERT_FILE`` variable that OpenSSL itself reads (the pool still uses
``ssl.create_default_context()``).

The header and trailer limits, a reset ending a close-delimited body, POSTs never sent twice,
the stale-connection retry on a new connection and URL credentials were bugs these tests found.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import errno
import ipaddress
import json
import random
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fleetctl.core.httpclient import MAX_HEAD, HttpError, HttpPool, Response
from fleetctl.pocket.http import JsonClient, QueryError

pytestmark = pytest.mark.asyncio

LIMIT = 5.0  # no single client call in these tests may take longer (a hang fails, never blocks)


# ----------------------------------------------------------------------------- raw servers


@dataclass
class Req:
    conn: int
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes
    at: float

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def names(self, name: str) -> list[str]:
        return [k for k, _ in self.headers if k.lower() == name.lower()]


class Peer:
    """One accepted connection, driven by a test's handler."""

    def __init__(self, server: RawServer, index: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server, self.index, self.reader, self.writer = server, index, reader, writer

    async def read_request(self) -> Req | None:
        """The next request on this connection (head and Content-Length body); None at its end."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        req = Req(self.index, method, target, version, headers, b"", head,
                  asyncio.get_running_loop().time())
        length = int(req.header("content-length") or 0)
        try:
            req.body = await self.reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        self.server.requests.append(req)
        return req

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        await asyncio.sleep(0)  # drain() does not yield while the kernel takes it all: let the client run

    async def send_slowly(self, data: bytes, pause: float = 0.001) -> None:
        """One byte per TCP segment (asyncio sets TCP_NODELAY; the pause lets each one go)."""
        for i in range(len(data)):
            self.writer.write(data[i:i + 1])
            await self.writer.drain()
            await asyncio.sleep(pause)

    def close(self) -> None:
        self.writer.close()

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), not a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def closed_by_client(self) -> bool:
        return self.writer.transport.is_closing() or self.reader.at_eof() \
            or self.reader.exception() is not None


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    """``async with RawServer(handler) as srv``: listens on 127.0.0.1; ``srv.url(path)``."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.port = port
        self.connections = 0
        self.requests: list[Req] = []
        self.peers: list[Peer] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.AbstractServer | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def targets(self) -> list[str]:
        return [r.target for r in self.requests]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self, self.connections, reader, writer)
        self.connections += 1
        self.peers.append(peer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(peer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass  # the test is over, or the client went away: nothing to report
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  ssl=self.ssl_context, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for peer in self.peers:
            peer.writer.transport.abort()
        await asyncio.sleep(0)
        await self._server.wait_closed()


def http(status: int = 200, body: bytes = b"", *, reason: str = "OK", version: str = "HTTP/1.1",
         headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (), length: bool = True) -> bytes:
    """The bytes of one response; ``length=False`` leaves Content-Length out."""
    lines = [f"{version} {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answer_each(make: Callable[[Req, Peer], Any]) -> Handler:
    """A keep-alive handler: every request on the connection gets ``make(req, peer)`` (bytes,
    or an awaitable of bytes; None sends nothing and ends the connection)."""

    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            out = make(req, peer)
            if asyncio.iscoroutine(out):
                out = await out
            if out is None:
                return
            await peer.send(out)

    return handler


def echo_target(req: Req, peer: Peer) -> bytes:
    return http(body=req.target.encode())


async def call(pool: HttpPool, url: str, method: str = "GET", limit: float = LIMIT, **kw: Any) -> Response:
    async with asyncio.timeout(limit):
        return await pool.request(method, url, **kw)


async def fails(pool: HttpPool, url: str, method: str = "GET", limit: float = LIMIT, **kw: Any) -> HttpError:
    with pytest.raises(HttpError) as info:
        await call(pool, url, method, limit, **kw)
    assert "\n" not in str(info.value)
    return info.value


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, never listened, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- bodies and pooling


async def test_content_length_body_and_request_bytes() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"result":"0x10"}'

    def make(req: Req, peer: Peer) -> bytes:
        return http(body=body, headers=[("Content-Type", "application/json"), ("X-Served-By", "raw")])

    async with RawServer(answer_each(make)) as srv, HttpPool(user_agent="ua-test") as pool:
        r = await call(pool, srv.url("/v1/status?x=1"))
        assert r.status == 200
        assert r.body == body
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-served-by"] == "raw"
        assert r.headers["content-length"] == str(len(body))
        [req] = srv.requests
        assert (req.method, req.target, req.version) == ("GET", "/v1/status?x=1", "HTTP/1.1")
        assert req.header("Host") == f"127.0.0.1:{srv.port}"
        assert req.header("User-Agent") == "ua-test"
        assert req.header("Content-Length") is None  # a GET without a body says nothing of length
        assert req.body == b""


async def test_keep_alive_reuses_one_connection() -> None:
    async with RawServer(answer_each(echo_target)) as srv, HttpPool() as pool:
        for i in range(6):
            r = await call(pool, srv.url(f"/n/{i}"))
            assert r.body == f"/n/{i}".encode()
        assert srv.connections == 1
        assert [r.conn for r in srv.requests] == [0] * 6
        # a different origin (another server) gets its own connection, the first one stays pooled
        async with RawServer(answer_each(echo_target)) as other:
            assert (await call(pool, other.url("/o"))).body == b"/o"
            assert (await call(pool, srv.url("/n/again"))).body == b"/n/again"
            assert other.connections == 1
        assert srv.connections == 1


@pytest.mark.parametrize("version,headers,pooled", [
    ("HTTP/1.1", [("Connection", "close")], False),
    ("HTTP/1.1", [("Connection", "Close")], False),
    ("HTTP/1.0", [], False),
    ("HTTP/1.0", [("Connection", "keep-alive")], True),
    ("HTTP/1.1", [("Connection", "keep-alive")], True),
])
async def test_close_and_http10_are_not_pooled(version: str, headers: list[tuple[str, str]],
                                               pooled: bool) -> None:
    # The server itself keeps every connection open and would answer again on it: only the
    # client's own decision makes the second request open a new connection.
    def make(req: Req, peer: Peer) -> bytes:
        return http(body=req.target.encode(), version=version, headers=headers)

    async with RawServer(answer_each(make)) as srv, HttpPool() as pool:
        for i in range(3):
            r = await call(pool, srv.url(f"/{i}"))
            assert (r.status, r.body) == (200, f"/{i}".encode())
        assert srv.connections == (1 if pooled else 3)


async def test_close_delimited_body() -> None:
    async def handler(peer: Peer) -> None:
        req = await peer.read_request()
        assert req is not None
        await peer.send(http(headers=[("Content-Type", "text/plain")], length=False))
        for piece in (b"first part, ", b"second part, ", b"the end"):
            await asyncio.sleep(0.01)
            await peer.send(piece)
        await asyncio.sleep(0.01)
        peer.close()
        await asyncio.sleep(10)  # never answers another request on this connection

    async with RawServer(handler) as srv, HttpPool() as pool:
        r = await call(pool, srv.url("/a"))
        assert (r.status, r.body) == (200, b"first part, second part, the end")
        r = await call(pool, srv.url("/b"))
        assert r.body == b"first part, second part, the end"
        assert srv.connections == 2


async def test_chunked_with_extensions_and_trailers_then_reuse() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
               b"5;name=value\r\nhello\r\n"
               b"1;a=b;c\r\n \r\n"
               b"A ; quoted=\"x;y\"\r\nchunked wo\r\n"
               b"3\r\nrld\r\n"
               b"0;last=1\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")

    def make(req: Req, peer: Peer) -> bytes:
        return chunked if req.target == "/chunked" else http(body=b"after")

    async with RawServer(answer_each(make)) as srv, HttpPool() as pool:
        r = await call(pool, srv.url("/chunked"))
        assert (r.status, r.body) == (200, b"hello chunked world")
        assert "x-checksum" not in r.headers  # trailers are skipped, not mixed into the head
        # every trailer byte was consumed: the same connection serves the next request
        assert (await call(pool, srv.url("/next"))).body == b"after"
        assert srv.connections == 1


async def test_chunked_one_byte_per_segment() -> None:
    payload = b"".join(b"%x;ext=%d\r\n%s\r\n" % (len(p), i, p)
                       for i, p in enumerate([b"one ", b"two ", b"three"]))
    response = (b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Slow: yes\r\n\r\n"
                + payload + b"0\r\nX-T: 1\r\n\r\n")

    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            if req.target == "/slow":
                await peer.send_slowly(response)
            else:
                await peer.send(http(body=b"quick"))

    async with RawServer(handler) as srv, HttpPool() as pool:
        r = await call(pool, srv.url("/slow"))
        assert (r.status, r.body, r.headers["x-slow"]) == (200, b"one two three", "yes")
        assert (await call(pool, srv.url("/quick"))).body == b"quick"
        r = await call(pool, srv.url("/slow"))  # parser state reset between responses
        assert r.body == b"one two three"
        assert srv.connections == 1


async def test_content_length_body_one_byte_per_segment() -> None:
    body = json.dumps({"result": list(range(20))}).encode()

    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            await peer.send_slowly(http(body=body, headers=[("X-N", req.target)]))

    async with RawServer(handler) as srv, HttpPool() as pool:
        for i in range(2):
            r = await call(pool, srv.url(f"/{i}"))
            assert (r.body, r.headers["x-n"]) == (body, f"/{i}")
        assert srv.connections == 1


async def test_interim_1xx_responses_are_skipped() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n")
            await asyncio.sleep(0.02)
            await peer.send(b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
            await asyncio.sleep(0.02)
            await peer.send(http(201, b"created", reason="Created", headers=[("X-Final", "1")]))

    async with RawServer(handler) as srv, HttpPool() as pool:
        for _ in range(2):
            r = await call(pool, srv.url("/"), "POST", body=b"{}")
            assert (r.status, r.body) == (201, b"created")
            assert r.headers["x-final"] == "1"
            assert "x-interim" not in r.headers and "link" not in r.headers
        assert srv.connections == 1


@pytest.mark.parametrize("status,headers", [
    (204, []),
    (304, [("Content-Length", "1234"), ("ETag", '"v1"')]),  # a 304's length is the would-be body's
    (204, [("Transfer-Encoding", "chunked")]),
])
async def test_no_body_statuses(status: int, headers: list[tuple[str, str]]) -> None:
    def make(req: Req, peer: Peer) -> bytes:
        if req.target == "/empty":
            return http(status, reason="X", headers=headers, length=False)
        return http(body=b"next")

    async with RawServer(answer_each(make)) as srv, HttpPool() as pool:
        r = await call(pool, srv.url("/empty"), limit=2)
        assert (r.status, r.body) == (status, b"")
        # no body was waited for, and nothing was left over: the connection is reused
        assert (await call(pool, srv.url("/then"))).body == b"next"
        assert srv.connections == 1


async def test_repeated_headers_joined_and_names_lower_case() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Multi: x\r\nSET-COOKIE: b=2\r\n"
           b"x-multi:y\r\nContent-TYPE:  text/plain  \r\nX-Empty:\r\nContent-Length: 2\r\n\r\nok")

    async with RawServer(answer_each(lambda req, peer: raw)) as srv, HttpPool() as pool:
        r = await call(pool, srv.url())
        assert r.headers["set-cookie"] == "a=1, b=2"
        assert r.headers["x-multi"] == "x, y"
        assert r.headers["content-type"] == "text/plain"
        assert r.headers["x-empty"] == ""
        assert all(name == name.lower() for name in r.headers)
        assert r.body == b"ok"


# ----------------------------------------------------------------------------- errors


async def test_connection_refused() -> None:
    async with HttpPool() as pool:
        exc = await fails(pool, f"http://127.0.0.1:{refused_port()}/x")
    assert exc.kind == "connect"
    assert str(exc) == "connection refused"
    assert exc.errno == errno.ECONNREFUSED


async def test_closed_without_answer_on_fresh_connection() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        peer.close()

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url("/x"))
        assert exc.kind == "closed"
        assert "without an answer" in str(exc)
        assert srv.targets() == ["/x"]  # a fresh connection: not sent again
        assert srv.connections == 1


@pytest.mark.parametrize("partial", [
    http(body=b"x" * 100)[:-60],  # Content-Length 100, 40 bytes sent
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",  # no final CRLF
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",  # the head itself cut
    b"HTTP/1.1 100 Continue\r\n\r\n",  # only an interim answer
])
async def test_closed_mid_response_is_truncated(partial: bytes) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(partial)
        await asyncio.sleep(0.02)
        peer.close()

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url("/x"))
        assert exc.kind == "protocol"
        assert "truncated" in str(exc)
        assert srv.connections == 1  # bytes came back: never sent again


@pytest.mark.parametrize("answer", [
    b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\nInvalid SSH identification string.\r\n\r\n",
    b"hello there\r\n\r\n",
    b"HTTP/2 200\r\n\r\n",
    b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
    b"\x15\x03\x01\x00\x02\x02\x16\r\n\r\n",  # a TLS alert, as an https port answers plain HTTP
])
async def test_not_http(answer: bytes) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(answer)
        await asyncio.sleep(10)  # stays open: the client must not wait for the close

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url("/"), limit=2)
        assert exc.kind == "protocol"
        assert "not HTTP" in str(exc)


async def test_not_http_then_closed() -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"SSH-2.0-OpenSSH_9.6\r\n")
        await peer.read_request()
        await peer.send(b"Protocol mismatch.\r\n")
        peer.close()

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url("/"))
        assert exc.kind == "protocol"


@pytest.mark.parametrize("value", ["abc", "-1", ""])
async def test_invalid_content_length(value: str) -> None:
    raw = f"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\nbody".encode()

    async with RawServer(answer_each(lambda req, peer: raw)) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=2)
        assert exc.kind == "protocol"
        assert "Content-Length" in str(exc)


async def test_oversized_content_length_refused_before_the_body() -> None:
    sent = {"bytes": 0}

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        for _ in range(200):  # up to 200 MB if the client kept reading
            await peer.send(b"x" * 1_000_000)
            sent["bytes"] += 1_000_000

    async with RawServer(handler) as srv, HttpPool(max_body=1000) as pool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        exc = await fails(pool, srv.url(), limit=3)
        assert exc.kind == "protocol"
        assert "larger than 1000 bytes" in str(exc)
        assert loop.time() - started < 1.0
        await asyncio.sleep(0.1)
        assert sent["bytes"] < 20_000_000  # the client hung up instead of draining it


async def test_content_length_at_max_body_is_accepted() -> None:
    def make(req: Req, peer: Peer) -> bytes:
        return http(body=b"y" * int(req.target[1:]))

    async with RawServer(answer_each(make)) as srv, HttpPool(max_body=1000) as pool:
        assert len((await call(pool, srv.url("/1000"))).body) == 1000
        assert (await fails(pool, srv.url("/1001"))).kind == "protocol"


async def test_oversized_chunked_body_refused_without_reading_it_all() -> None:
    sent = {"chunks": 0}

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(5000):  # 5000 chunks of 4 KiB; never the last chunk
            await peer.send(b"1000\r\n" + b"z" * 4096 + b"\r\n")
            sent["chunks"] += 1

    async with RawServer(handler) as srv, HttpPool(max_body=10_000) as pool:
        exc = await fails(pool, srv.url(), limit=3)
        assert exc.kind == "protocol"
        assert "larger than 10000 bytes" in str(exc)
        await asyncio.sleep(0.1)
        assert sent["chunks"] < 1000


async def test_oversized_single_chunk_refused_at_its_size_line() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\nabc")
        await asyncio.sleep(10)

    async with RawServer(handler) as srv, HttpPool(max_body=10_000) as pool:
        exc = await fails(pool, srv.url(), limit=2)
        assert (exc.kind, "larger than" in str(exc)) == ("protocol", True)


async def test_oversized_close_delimited_body() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(http(length=False))
        for _ in range(100):
            await peer.send(b"w" * 10_000)
        await asyncio.sleep(10)

    async with RawServer(handler) as srv, HttpPool(max_body=50_000) as pool:
        exc = await fails(pool, srv.url(), limit=2)
        assert (exc.kind, "larger than 50000 bytes" in str(exc)) == ("protocol", True)


@pytest.mark.parametrize("body,message", [
    (b"zz\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
    (b"\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
    (b"5\r\nhelloXX0\r\n\r\n", "invalid chunk framing"),
    (b"-5\r\nhello\r\n0\r\n\r\n", "invalid chunk"),
    (b"1" * 2000, "invalid chunk size line"),  # a size line that never ends
])
async def test_invalid_chunked_framing(body: bytes, message: str) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        await asyncio.sleep(10)

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=2)
        assert exc.kind == "protocol"
        assert message in str(exc)


async def test_oversized_headers_streamed() -> None:
    sent = {"bytes": 0}

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n")
        for i in range(2000):  # ~8 MB of header lines, never the blank line
            await peer.send(b"X-Pad-%d: %s\r\n" % (i, b"p" * 4000))
            sent["bytes"] += 4000

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=3)
        assert exc.kind == "protocol"
        assert "headers too large" in str(exc)
        await asyncio.sleep(0.1)
        assert sent["bytes"] < 2_000_000


async def test_oversized_headers_arriving_whole() -> None:
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(100))
    assert len(pad) > MAX_HEAD * 1.5

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n" + pad + b"Content-Length: 2\r\n\r\nok")
        await asyncio.sleep(10)

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=2)
        assert "headers too large" in str(exc)


async def test_endless_trailer_is_refused() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: ")
        for _ in range(200):  # 2 MB of one trailer line against max_body 64 KiB
            await peer.send(b"t" * 10_000)
        await asyncio.sleep(10)

    async with RawServer(handler) as srv, HttpPool(max_body=64 * 1024) as pool:
        exc = await fails(pool, srv.url(), limit=1.5)
        assert exc.kind == "protocol"


async def test_close_delimited_body_cut_by_reset_is_truncated() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(http(length=False) + b'{"result": "0x1')
        await asyncio.sleep(0.05)
        peer.reset()

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url())
        assert exc.kind == "protocol"
        assert "truncated" in str(exc)


async def test_unsolicited_bytes_on_idle_connection_drop_it() -> None:
    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            await peer.send(http(body=req.target.encode()))
            if req.target == "/chatty":
                await asyncio.sleep(0.02)
                await peer.send(http(body=b"NOBODY ASKED"))  # while the connection is idle

    async with RawServer(handler) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url("/chatty"))).body == b"/chatty"
        await asyncio.sleep(0.1)
        assert (await call(pool, srv.url("/next"))).body == b"/next"
        assert srv.connections == 2


async def test_bytes_after_the_response_drop_the_connection() -> None:
    # A server that sends more than its Content-Length (here a whole second response in the same
    # segment): the extra bytes must never become the answer to the next request.
    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            if req.target == "/overlong":
                await peer.send(http(body=b"abc") + http(body=b"SMUGGLED"))
            else:
                await peer.send(http(body=req.target.encode()))

    async with RawServer(handler) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url("/overlong"))).body == b"abc"
        assert (await call(pool, srv.url("/next"))).body == b"/next"
        assert srv.connections == 2


# ----------------------------------------------------------------------------- stale keep-alive


async def test_idle_connection_closed_by_server_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        req = await peer.read_request()
        assert req is not None
        await peer.send(http(body=req.target.encode()))  # keep-alive, by HTTP/1.1 default
        await asyncio.sleep(0.02)
        peer.close()  # the server's keep-alive timeout

    async with RawServer(handler) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url("/1"))).body == b"/1"
        await asyncio.sleep(0.1)
        assert (await call(pool, srv.url("/2"))).body == b"/2"
        assert srv.connections == 2
        assert srv.targets() == ["/1", "/2"]


@pytest.mark.parametrize("how", ["close-after-reading", "reset-without-reading"])
async def test_stale_connection_request_sent_again_on_a_new_one(how: str) -> None:
    # Connection 0 answers once, then dies when the next request arrives (the race with a
    # keep-alive timeout: the client wrote before it could see the close). Later connections
    # answer normally.
    async def handler(peer: Peer) -> None:
        if peer.index > 0:
            return await answer_each(echo_target)(peer)
        req = await peer.read_request()
        assert req is not None
        await peer.send(http(body=req.target.encode()))
        if how == "close-after-reading":
            await peer.read_request()
            peer.close()
        else:
            await peer.reader.read(1)  # bytes of the next request have arrived; most unread
            peer.reset()

    async with RawServer(handler) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url("/1"))).body == b"/1"
        assert (await call(pool, srv.url("/2"))).body == b"/2"
        assert srv.connections == 2
        assert srv.requests[-1].conn == 1 and srv.requests[-1].target == "/2"
        assert srv.targets().count("/2") == (2 if how == "close-after-reading" else 1)
        assert (await call(pool, srv.url("/3"))).body == b"/3"  # the new connection is pooled
        assert srv.connections == 2


async def test_stale_retry_happens_once_only() -> None:
    # Every connection answers its first request and closes on the second without answering:
    # the retry on a new connection fails too, and the error comes back (no loop).
    async def handler(peer: Peer) -> None:
        req = await peer.read_request()
        assert req is not None
        if req.target == "/warm":
            await peer.send(http(body=b"warm"))
            await peer.read_request()
        peer.close()

    async with RawServer(handler) as srv, HttpPool() as pool:
        await call(pool, srv.url("/warm"))
        exc = await fails(pool, srv.url("/x"))
        assert exc.kind == "closed"
        assert srv.targets() == ["/warm", "/x", "/x"]
        assert srv.connections == 2


async def test_post_not_sent_twice_on_a_fresh_connection() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()  # read it all (the alert was delivered), then hang up
        peer.close()

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url("/hook"), "POST", body=b'{"alert":1}')
        assert exc.kind == "closed"
        assert [(r.method, r.body) for r in srv.requests] == [("POST", b'{"alert":1}')]
        assert srv.connections == 1


async def test_post_not_resent_on_a_reused_connection() -> None:
    async def handler(peer: Peer) -> None:
        if peer.index > 0:
            return await answer_each(lambda req, p: http(body=b"accepted"))(peer)
        await peer.read_request()
        await peer.send(http(body=b"first accepted"))
        await peer.read_request()  # the second alert, read in full...
        peer.close()  # ...then the connection dropped before the answer

    async with RawServer(handler) as srv, HttpPool() as pool:
        await call(pool, srv.url("/hook"), "POST", body=b'{"alert":1}')
        try:
            await call(pool, srv.url("/hook"), "POST", body=b'{"alert":2}')
        except HttpError:
            pass
        bodies = [r.body for r in srv.requests]
        assert bodies.count(b'{"alert":2}') == 1, bodies


async def test_stale_retry_goes_to_a_new_connection_not_the_next_idle_one() -> None:
    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            if req.target.startswith("/warm"):
                await asyncio.sleep(0.05)  # overlap, so the pool opens three connections
                await peer.send(http(body=b"warm"))
            elif peer.index < 3:
                peer.close()  # old connections die on their next request
                return
            else:
                await peer.send(http(body=b"fresh"))

    async with RawServer(handler) as srv, HttpPool() as pool:
        await asyncio.gather(*(call(pool, srv.url(f"/warm{i}")) for i in range(3)))
        assert srv.connections == 3
        assert (await call(pool, srv.url("/x"))).body == b"fresh"
        assert srv.targets().count("/x") <= 2, srv.targets()


# ----------------------------------------------------------------------------- cancellation


async def test_timeout_never_leaks_a_late_answer_into_the_next_request() -> None:
    found_closed: list[bool] = []

    async def handler(peer: Peer) -> None:
        # Strictly in order on each connection: had the client reused the timed-out connection,
        # its next request would be answered with "/slow".
        while (req := await peer.read_request()) is not None:
            if req.target == "/slow":
                await asyncio.sleep(0.4)
                found_closed.append(peer.closed_by_client())
            await peer.send(http(body=req.target.encode()))

    async with RawServer(handler) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url("/warm"))).body == b"/warm"  # slow goes on a pooled conn
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.15):
                await pool.request("GET", srv.url("/slow"))
        assert (await call(pool, srv.url("/second"))).body == b"/second"
        await asyncio.sleep(0.4)  # the late answer has been written (or tried) by now
        assert (await call(pool, srv.url("/third"))).body == b"/third"
        slow = next(r for r in srv.requests if r.target == "/slow")
        second = next(r for r in srv.requests if r.target == "/second")
        assert second.conn != slow.conn
        assert found_closed == [True]  # the client aborted the connection when it gave up


async def test_timeout_mid_body_aborts_the_connection() -> None:
    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            if req.target == "/half":
                await peer.send(http(body=b"A" * 100)[:-50])
                await asyncio.sleep(0.3)
                await peer.send(b"A" * 50)
            else:
                await peer.send(http(body=req.target.encode()))

    async with RawServer(handler) as srv, HttpPool() as pool:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await pool.request("GET", srv.url("/half"))
        await asyncio.sleep(0.3)
        assert (await call(pool, srv.url("/after"))).body == b"/after"
        assert srv.connections == 2


async def test_task_cancel_aborts_and_pool_stays_usable() -> None:
    async def handler(peer: Peer) -> None:
        while (req := await peer.read_request()) is not None:
            if req.target == "/hang":
                await asyncio.sleep(0.3)
            await peer.send(http(body=req.target.encode()))

    async with RawServer(handler) as srv, HttpPool() as pool:
        tasks = [asyncio.create_task(pool.request("GET", srv.url("/hang"))) for _ in range(5)]
        await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        await asyncio.sleep(0.35)
        bodies = await asyncio.gather(*(call(pool, srv.url(f"/ok{i}")) for i in range(5)))
        assert [b.body for b in bodies] == [f"/ok{i}".encode() for i in range(5)]


# ----------------------------------------------------------------------------- request shape


async def test_query_params_encoding() -> None:
    async with RawServer(answer_each(echo_target)) as srv, HttpPool() as pool:
        params = {"a": "1 2", "b": "x&y=z", "c": "é/ü", "d": "", "e": "+%#?"}
        expected = "a=1+2&b=x%26y%3Dz&c=%C3%A9%2F%C3%BC&d=&e=%2B%25%23%3F"
        r = await call(pool, srv.url("/q"), params=params)
        assert r.body == f"/q?{expected}".encode()
        r = await call(pool, srv.url("/q?fixed=1"), params={"k": "v w"})
        assert r.body == b"/q?fixed=1&k=v+w"
        r = await call(pool, f"http://127.0.0.1:{srv.port}", params={"k": "v"})
        assert r.body == b"/?k=v"
        r = await call(pool, srv.url("/frag#section"))  # the fragment is never sent
        assert r.body == b"/frag"
        # the URL cache does not keep params from one call into the next
        assert (await call(pool, srv.url("/q"))).body == b"/q"


async def test_host_header_with_explicit_port() -> None:
    async with RawServer(answer_each(echo_target)) as srv, HttpPool() as pool:
        await call(pool, srv.url("/"))
        await call(pool, f"http://127.0.0.1:{srv.port}")
        assert [r.header("Host") for r in srv.requests] == [f"127.0.0.1:{srv.port}"] * 2
        assert all(len(r.names("Host")) == 1 for r in srv.requests)


async def test_host_header_without_default_port() -> None:
    try:
        srv = RawServer(answer_each(echo_target), port=80)
        await srv.__aenter__()
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.1:80 ({exc.strerror})")
    try:
        async with HttpPool() as pool:
            assert (await call(pool, "http://127.0.0.1/a")).body == b"/a"
            assert (await call(pool, "http://127.0.0.1:80/b")).body == b"/b"
        assert [r.header("Host") for r in srv.requests] == ["127.0.0.1", "127.0.0.1"]
        assert srv.connections == 1  # the same origin, with or without ":80"
    finally:
        await srv.__aexit__()


@pytest.mark.parametrize("headers", [
    {"X-Evil": "v\r\nX-Injected: 1"},
    {"X-Evil": "v\nX-Injected: 1"},
    {"X-Evil": "v\r"},
    {"X-Evil\r\nX-Injected": "1"},
])
async def test_header_injection_refused(headers: dict[str, str]) -> None:
    async with RawServer(answer_each(echo_target)) as srv:
        async with HttpPool() as pool:
            exc = await fails(pool, srv.url("/"), headers=headers)
            assert exc.kind == "protocol"
        async with HttpPool(headers=headers) as pool:  # base headers are checked the same way
            await fails(pool, srv.url("/"))
        assert srv.connections == 0  # refused before anything was sent


async def test_bodies_and_content_length() -> None:
    async with RawServer(answer_each(echo_target)) as srv, HttpPool() as pool:
        await call(pool, srv.url("/post-none"), "POST")
        await call(pool, srv.url("/post-empty"), "POST", body=b"")
        await call(pool, srv.url("/put"), "PUT", body=b"abc")
        await call(pool, srv.url("/patch"), "PATCH")
        await call(pool, srv.url("/get"))
        await call(pool, srv.url("/delete"), "DELETE")
        big = bytes(random.Random(1).randbytes(300_000))
        await call(pool, srv.url("/big"), "POST", body=big, headers={"Content-Type": "x/y"})
        by = {r.target: r for r in srv.requests}
        assert by["/post-none"].header("Content-Length") == "0"
        assert by["/post-empty"].header("Content-Length") == "0"
        assert by["/patch"].header("Content-Length") == "0"
        assert (by["/put"].header("Content-Length"), by["/put"].body) == ("3", b"abc")
        assert by["/get"].header("Content-Length") is None
        assert by["/delete"].header("Content-Length") is None
        assert by["/big"].body == big and by["/big"].header("Content-Type") == "x/y"
        assert srv.connections == 1


async def test_request_headers_override_base_headers() -> None:
    async with RawServer(answer_each(echo_target)) as srv, \
            HttpPool(user_agent="base-ua", headers={"Accept": "text/plain", "X-Base": "1"}) as pool:
        await call(pool, srv.url("/"), headers={"Accept": "application/json", "X-Req": "2"})
        [req] = srv.requests
        assert req.header("Accept") == "application/json" and len(req.names("Accept")) == 1
        assert (req.header("X-Base"), req.header("X-Req"), req.header("User-Agent")) == ("1", "2", "base-ua")


async def test_url_credentials_sent_as_basic_auth() -> None:
    async with RawServer(answer_each(echo_target)) as srv, HttpPool() as pool:
        await call(pool, f"http://user:s3cret@127.0.0.1:{srv.port}/rpc")
        [req] = srv.requests
        assert req.header("Authorization") == "Basic " + base64.b64encode(b"user:s3cret").decode()


async def test_the_origin_parsed_once_gives_what_urlsplit_gives() -> None:
    """URLs that differ in their path only (a thousand suppliers' balances) parse the origin once
    and take a plain target as it is: for every URL, the same (scheme, host, port, target,
    authorization) as parsing the whole URL, and the same refusals."""
    from urllib.parse import urlsplit

    def whole(url: str) -> Any:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "refused"
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "refused"
        auth = None
        if parts.username is not None:
            auth = "Basic " + base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        return (parts.scheme, parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                auth)

    pool = HttpPool()
    urls = ["http://127.0.0.1:8080/cosmos/bank/v1beta1/balances/pokt1abc", "http://127.0.0.1:8080/a?x=1&y=%20",
            "http://h/p?", "http://h/p#frag", "http://h:1/a b", "http://u:p@h:9/x/y", "http://h?a=/b", "http://h#a/b",
            "HTTP://Host.Example/a", "http://h//x", " http://h/x", "http://h/\tx", "http://h/x\n", "http://[::1]:80/x",
            "http://h:99999/x", "https://h/x?y=1#z", "ftp://h/x", "http:///x", "127.0.0.1:80/x", "http://h:80/x;p=1",
            "http://h/x?a=b?c", "http://h/%zz", "http://h/é", "http://user@h/x"]
    for _ in range(2):  # the second time from the cached origins
        for url in urls:
            try:
                got: Any = pool._origin(url)
            except HttpError:
                got = "refused"
            assert got == whole(url), url


async def test_bad_urls() -> None:
    async with HttpPool() as pool:
        for url in ("ftp://127.0.0.1/x", "http:///nohost", "127.0.0.1:80/x", "http://127.0.0.1:99999/"):
            exc = await fails(pool, url)
            assert exc.kind == "connect", url


# ----------------------------------------------------------------------------- concurrency


async def test_200_concurrent_requests_each_get_their_own_answer() -> None:
    rng = random.Random(7)

    async def make(req: Req, peer: Peer) -> bytes:
        await asyncio.sleep(rng.random() * 0.01)
        rid = req.header("X-Request-Id")
        return http(body=json.dumps({"id": rid, "path": req.target}).encode())

    async with RawServer(answer_each(make)) as srv, HttpPool() as pool:
        sem = asyncio.Semaphore(50)

        async def one(i: int) -> tuple[int, Response]:
            async with sem:
                return i, await call(pool, srv.url(f"/item/{i}"), headers={"X-Request-Id": str(i)})

        for round_ in range(2):
            results = await asyncio.gather(*(one(i) for i in range(200)))
            for i, r in results:
                assert json.loads(r.body) == {"id": str(i), "path": f"/item/{i}"}
        assert len(srv.requests) == 400  # nothing sent twice
        assert sorted(int(r.header("X-Request-Id") or -1) for r in srv.requests) == \
            sorted(list(range(200)) * 2)
        assert srv.connections <= 50  # the semaphore bounds the connections; the pool reuses them


# ----------------------------------------------------------------------------- TLS


@dataclass
class Certs:
    ca: Path
    good_cert: Path
    good_key: Path
    other_cert: Path  # signed by the CA, for another name only
    other_key: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    crypto = pytest.importorskip("cryptography")
    assert crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tmp = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)

    def write_key(key: Any, path: Path) -> None:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetctl test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    (tmp / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(names: list[x509.GeneralName], stem: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        (tmp / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, tmp / f"{stem}.key")

    leaf([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], "good")
    leaf([x509.DNSName("other.invalid")], "other")
    return Certs(tmp / "ca.pem", tmp / "good.pem", tmp / "good.key", tmp / "other.pem",
                 tmp / "other.key")


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


async def test_tls_untrusted_certificate_refused(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, ctx: None)  # the server's failed handshake is expected
    async with RawServer(answer_each(echo_target),
                         ssl_context=server_context(certs.good_cert, certs.good_key)) as srv, \
            HttpPool() as pool:
        exc = await fails(pool, srv.url("/secret"))
        assert exc.kind == "connect"
        assert str(exc).startswith("TLS:") or "certificate" in str(exc).lower()
        assert "CERTIFICATE_VERIFY_FAILED" in str(exc)
        assert srv.requests == []  # nothing was sent over the unverified connection
        # and again: the pool does not remember a failed handshake as a usable connection
        assert (await fails(pool, srv.url("/secret"))).kind == "connect"
        assert srv.requests == []


async def test_tls_plain_http_server_on_https_url() -> None:
    async def handler(peer: Peer) -> None:
        await peer.reader.read(100)  # a ClientHello: answered the way an HTTP server answers junk
        await peer.send(http(400, b"bad request", reason="Bad Request", headers=[("Connection", "close")]))
        peer.close()

    async with RawServer(handler) as srv, HttpPool() as pool:
        exc = await fails(pool, f"https://127.0.0.1:{srv.port}/")
        assert exc.kind == "connect"
        assert str(exc).startswith("TLS:")


async def test_tls_trusted_ca_keep_alive_and_hostname_check(certs: Certs,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool's own default context trusts what OpenSSL's SSL_CERT_FILE names: our test CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, ctx: None)
    async with RawServer(answer_each(echo_target),
                         ssl_context=server_context(certs.good_cert, certs.good_key)) as srv, \
            HttpPool() as pool:
        for i in range(3):
            r = await call(pool, srv.url(f"/tls/{i}"), "POST", body=b"{}")
            assert (r.status, r.body) == (200, f"/tls/{i}".encode())
        assert srv.connections == 1
        assert srv.requests[0].header("Host") == f"127.0.0.1:{srv.port}"
    # signed by the trusted CA, but for another name: the host name check refuses it
    async with RawServer(answer_each(echo_target),
                         ssl_context=server_context(certs.other_cert, certs.other_key)) as srv, \
            HttpPool() as pool:
        exc = await fails(pool, srv.url("/"))
        assert exc.kind == "connect" and "CERTIFICATE_VERIFY_FAILED" in str(exc)
        assert srv.requests == []


# ----------------------------------------------------------------------------- JsonClient


async def test_json_client_retries_503_with_retry_after() -> None:
    async def make(req: Req, peer: Peer) -> bytes:
        if len(srv.requests) == 1:
            return http(503, b'{"message": "busy"}', reason="Service Unavailable",
                        headers=[("Retry-After", "0.4")])
        return http(body=b'{"height": 12, "ratio": 1.25, "list": [1, 2.5]}')

    async with RawServer(answer_each(make)) as srv:
        async with JsonClient(srv.url(""), backoff=0.01, timeout=2, deadline=5) as client:
            result = await client.get("/v1/height", params={"q": "a b"})
        assert result == {"height": 12, "ratio": Decimal("1.25"), "list": [1, Decimal("2.5")]}
        assert isinstance(result["height"], int) and isinstance(result["ratio"], Decimal)
        assert srv.targets() == ["/v1/height?q=a+b"] * 2
        assert srv.requests[1].at - srv.requests[0].at >= 0.39  # Retry-After was honoured
        assert srv.requests[0].header("Accept") == "application/json"
        assert srv.connections == 1  # the 503's connection was reused for the retry


async def test_json_client_404_raises_at_once() -> None:
    def make(req: Req, peer: Peer) -> bytes:
        return http(404, b'{"code": 5, "message": "supplier\\nnot found"}', reason="Not Found")

    async with RawServer(answer_each(make)) as srv:
        async with JsonClient(srv.url(""), backoff=0.01) as client:
            with pytest.raises(QueryError) as info:
                await client.post("/v1/query", {"address": "pokt1x"})
        exc = info.value
        assert exc.status == 404
        assert exc.body == {"code": 5, "message": "supplier\nnot found"}
        assert str(exc) == "/v1/query: HTTP 404: supplier not found"
        assert exc.transient is False
        assert len(srv.requests) == 1  # not retried
        [req] = srv.requests
        assert json.loads(req.body) == {"address": "pokt1x"}
        assert req.header("Content-Type") == "application/json"
        assert req.header("Content-Length") == str(len(req.body))


async def test_json_client_truncated_body() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(http(body=b'{"balance": "100000000"}')[:-8])
        await asyncio.sleep(0.02)
        peer.close()

    async with RawServer(handler) as srv:
        async with JsonClient(srv.url(""), backoff=0.01) as client:
            with pytest.raises(QueryError) as info:
                await client.get("/bank/balance")
        assert "truncated response" in str(info.value)
        assert str(info.value).startswith("/bank/balance: ")
        assert len(srv.requests) == 1  # a protocol error is not transient


async def test_json_client_deadline_bounds_retries() -> None:
    def make(req: Req, peer: Peer) -> bytes:
        return http(503, b"{}", reason="Service Unavailable", headers=[("Retry-After", "0")])

    loop = asyncio.get_running_loop()
    async with RawServer(answer_each(make)) as srv:
        async with JsonClient(srv.url(""), backoff=0.02, attempts=1000, timeout=1, deadline=0.6) as client:
            started = loop.time()
            with pytest.raises(QueryError) as info:
                await client.get("/x")
            elapsed = loop.time() - started
        assert elapsed < 0.6 + 0.2
        assert info.value.transient is True and info.value.status == 503
        assert "HTTP 503" in str(info.value) and "attempts" in str(info.value)
        assert 3 <= len(srv.requests) < 100


async def test_json_client_deadline_bounds_a_hanging_server() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await asyncio.sleep(30)

    loop = asyncio.get_running_loop()
    async with RawServer(handler) as srv:
        async with JsonClient(srv.url(""), backoff=0.01, timeout=0.2, deadline=0.7) as client:
            started = loop.time()
            with pytest.raises(QueryError) as info:
                await client.get("/x")
            elapsed = loop.time() - started
        assert 0.6 <= elapsed < 0.7 + 0.2
        assert info.value.transient is True
        assert "no answer within" in str(info.value)
        assert 2 <= srv.connections <= 4  # each timed-out attempt aborted its connection


async def test_json_client_waiting_for_a_slot_is_bounded_by_the_deadline() -> None:
    """One slot, a server that never answers: the request holding the slot times out per
    attempt, the others wait for it within the deadline; every caller gets its answer by then
    (none hangs on the slot) and the slot is free again afterwards."""
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await asyncio.sleep(30)

    loop = asyncio.get_running_loop()
    async with RawServer(handler) as srv:
        async with JsonClient(srv.url(""), backoff=0.01, timeout=0.25, deadline=0.7, concurrency=1) as client:
            started = loop.time()
            outcomes = await asyncio.gather(*(client.get(f"/x{i}") for i in range(4)), return_exceptions=True)
            elapsed = loop.time() - started
            assert not client._semaphore.locked()
        assert elapsed < 0.7 + 0.3
        assert all(isinstance(o, QueryError) and "no answer within" in str(o) for o in outcomes), outcomes
        assert any("deadline" in str(o) for o in outcomes)  # waited for the slot until the deadline
        assert 1 <= srv.connections <= 4  # one request out at a time


async def test_json_client_connection_failures_are_retried() -> None:
    async def handler(peer: Peer) -> None:
        req = await peer.read_request()
        if peer.index < 2:
            peer.close()  # dropped without an answer, twice
            return
        assert req is not None
        await peer.send(http(body=b'{"ok": true}'))

    async with RawServer(handler) as srv:
        async with JsonClient(srv.url(""), backoff=0.01, attempts=4) as client:
            assert await client.get("/x") == {"ok": True}
        assert srv.connections == 3

    async with JsonClient(f"http://127.0.0.1:{refused_port()}", backoff=0.01, attempts=3) as client:
        with pytest.raises(QueryError) as info:
            await client.get("/x")
    assert "connection refused" in str(info.value) and "after 3 attempts" in str(info.value)
    assert info.value.transient is True
