"""fleetctl.core.httpclient against hostile servers: memory held by answers, and strict framing.

The servers are raw asyncio sockets on 127.0.0.1 written for each case. What is checked:

* memory: one pool (one sweep) never holds more than its budget of answer bytes, however many
  answers arrive at once; the resident size of a real client process reading dozens of huge
  answers at once is measured (psutil and the kernel's peak), not estimated;
* the budget serialises, it does not deadlock: answers that together exceed it all arrive, one
  after the other, and an answer that alone exceeds it fails with a line naming the endpoint
  (its credentials redacted);
* framing: a chunk-size is 1*HEXDIG with optional chunk extensions (RFC 9112, 7.1), a
  Content-Length is digits, once or repeated identically (RFC 9110, 8.6); everything else
  (``-3``, ``+3``, `` 3``, ``0x3``, ``3_0``, ``5, 6``...) is a clean :class:`HttpError`; and
  hypothesis checks the parser on random valid and invalid framing split at random points.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetctl.core.httpclient import HttpError, HttpPool, Response, _Conn

LIMIT = 10.0
MiB = 1024 * 1024


# ----------------------------------------------------------------------------- raw servers

Answer = Callable[[str, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """``async with Server(answer) as srv``: every request (head only) gets ``answer(target, writer)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                await self.answer(target, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0)
        await self._server.wait_closed()


SLICE = memoryview(b"x" * (256 * 1024))


async def send_body(writer: asyncio.StreamWriter, size: int, framing: str) -> None:
    """``size`` bytes of body after a head that frames it by ``framing``, written in 256 KiB
    slices with drain() (the server itself holds little)."""
    if framing == "length":
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
    elif framing == "chunked":
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    else:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    left = size
    while left:
        piece = SLICE[:min(left, len(SLICE))]
        if framing == "chunked":
            writer.write(f"{len(piece):x}\r\n".encode())
            writer.write(piece)
            writer.write(b"\r\n")
        else:
            writer.write(piece)
        left -= len(piece)
        await writer.drain()
    if framing == "chunked":
        writer.write(b"0\r\n\r\n")
    await writer.drain()
    if framing == "close":
        writer.close()


def sized(framing: str | None = None) -> Answer:
    """An answer of ``/<bytes>[/<framing>]`` bytes."""

    async def answer(target: str, writer: asyncio.StreamWriter) -> None:
        parts = target.partition("?")[0].strip("/").split("/")
        await send_body(writer, int(parts[0]), framing or (parts[1] if len(parts) > 1 else "length"))

    return answer


async def call(pool: HttpPool, url: str, limit: float = LIMIT) -> Response:
    async with asyncio.timeout(limit):
        return await pool.request("GET", url)


async def fails(pool: HttpPool, url: str, limit: float = LIMIT) -> HttpError:
    with pytest.raises(HttpError) as info:
        await call(pool, url, limit)
    assert "\n" not in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- memory

CHILD = textwrap.dedent("""
    import asyncio, json, sys
    from fleetctl.core.httpclient import HttpError, HttpPool

    async def main(base, count, size):
        async with HttpPool() as pool:
            async def one(i):
                framing = ("length", "chunked", "close")[i % 3]
                try:
                    async with asyncio.timeout(120):
                        response = await pool.request("GET", f"{base}/{size}/{framing}?i={i}")
                    return len(response.body)
                except HttpError as exc:
                    return str(exc)
            results = await asyncio.gather(*(one(i) for i in range(count)))
        # VmHWM: this process image's own peak. (getrusage's ru_maxrss is not: Linux carries the
        # parent's high-water mark across fork and exec, so a big pytest process shows through.)
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
        print(json.dumps({"results": results, "peak": peak}))

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
""")


@pytest.mark.asyncio
async def test_many_concurrent_huge_answers_keep_the_process_small() -> None:
    """36 answers of 24 MiB at once (864 MiB in all, each under the 32 MiB per-answer cap) in a
    real client process: its resident size stays near the 64 MiB budget plus the interpreter,
    and every answer still arrives whole (the budget makes them wait their turn)."""
    count, size = 36, 24 * MiB
    async with Server(sized()) as srv:
        # The child imports fleetctl as this process does (the installed package, or PYTHONPATH).
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, srv.url(""), str(count),
                                                    str(size), stdout=subprocess.PIPE,
                                                    stderr=subprocess.PIPE)
        sampled = 0
        watched = psutil.Process(proc.pid)
        communicate = asyncio.ensure_future(proc.communicate())
        deadline = time.monotonic() + 120
        while not communicate.done() and time.monotonic() < deadline:
            try:
                sampled = max(sampled, watched.memory_info().rss)
            except psutil.Error:
                pass
            await asyncio.sleep(0.005)
        out, err = await asyncio.wait_for(communicate, 5)
    assert proc.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)
    assert report["results"] == [size] * count
    bound = 240 * MiB
    assert sampled < bound, f"resident size reached {sampled / MiB:.0f} MiB (sampled)"
    assert report["peak"] < bound, f"resident size reached {report['peak'] / MiB:.0f} MiB (kernel's peak)"


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_answers_beyond_the_budget_wait_their_turn(framing: str) -> None:
    """12 answers of 3 MiB against a budget of 8 MiB: all arrive, and the pool never held more
    than its budget at once."""
    async with Server(sized(framing)) as srv, HttpPool(max_body=4 * MiB, max_in_flight=8 * MiB) as pool:
        results = await asyncio.gather(*(call(pool, srv.url(f"/{3 * MiB}?i={i}")) for i in range(12)))
        assert [len(r.body) for r in results] == [3 * MiB] * 12
        assert pool.bytes_in_flight == 0
        assert 3 * MiB <= pool.bytes_in_flight_peak <= 8 * MiB


@pytest.mark.asyncio
async def test_a_stalled_big_answer_does_not_starve_small_ones() -> None:
    """One server sends 3 MiB of a chunked answer and stalls; 50 small answers from another
    server still arrive (the stalled one holds its bytes, not the whole budget)."""

    async def stall(target: str, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(f"{3 * MiB:x}\r\n".encode() + b"s" * (3 * MiB - 10))
        await writer.drain()
        await asyncio.sleep(30)

    async with Server(stall) as bad, Server(sized()) as good, \
            HttpPool(max_body=4 * MiB, max_in_flight=8 * MiB) as pool:
        stalled = asyncio.ensure_future(call(pool, bad.url("/"), limit=5))
        await asyncio.sleep(0.3)
        small = await asyncio.gather(*(call(pool, good.url(f"/{20_000}?i={i}"), limit=3) for i in range(50)))
        assert [len(r.body) for r in small] == [20_000] * 50
        stalled.cancel()
        await asyncio.gather(stalled, return_exceptions=True)
        assert pool.bytes_in_flight == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_an_answer_larger_than_the_budget_alone_fails_naming_the_endpoint(framing: str) -> None:
    async with Server(sized(framing)) as srv, HttpPool(max_body=32 * MiB, max_in_flight=1 * MiB) as pool:
        url = f"http://ops:hunter2@127.0.0.1:{srv.port}/{4 * MiB}?apikey=s3cret"
        exc = await fails(pool, url)
        text = str(exc)
        assert exc.kind == "protocol"
        assert "memory budget" in text and "1 MiB" in text, text
        assert f"127.0.0.1:{srv.port}/{4 * MiB}" in text, text
        assert "hunter2" not in text and "s3cret" not in text and "ops" not in text, text
        assert pool.bytes_in_flight == 0


@pytest.mark.asyncio
async def test_bad_budget_refused() -> None:
    with pytest.raises(ValueError):
        HttpPool(max_in_flight=0)


# ----------------------------------------------------------------------------- framing (servers)

HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

BAD_CHUNK_SIZES = [b"-3", b"+3", b" 3", b"\t3", b"0x3", b"3_0", b"3 ", b"3\t", b"", b"g", b"3g", b"-0",
                   b"+0", b"0x0", b"\xd9\xa3", b"3;", b"3;=x", b"3; a=\"open", b"3;a=b c", b"3;a b",
                   b"3;a=\"x\"y", b"3\x00", b"3\n", b"\n3", b"0" * 2000 + b"3", b"3;" + b"a" * 2000]


def chunked_answer(size_line: bytes) -> Answer:
    async def answer(target: str, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD_CHUNKED + size_line + b"\r\nabc\r\n0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(10)

    return answer


@pytest.mark.asyncio
@pytest.mark.parametrize("size_line", BAD_CHUNK_SIZES, ids=lambda v: repr(v[:20]))
async def test_malformed_chunk_size_is_a_clean_error(size_line: bytes) -> None:
    async with Server(chunked_answer(size_line)) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=3)
        assert exc.kind == "protocol"
        assert "chunk" in str(exc)


@pytest.mark.asyncio
@pytest.mark.parametrize("size_line", [b"3", b"003", b"3;a", b"3;a=b", b"3 ;a=b", b"3\t; a = \"q \\\" x\"",
                                       b"3;a;b=c;d=\"\"", b"0003;name=\"v\\\\\""], ids=repr)
async def test_valid_chunk_size_lines_are_read(size_line: bytes) -> None:
    async with Server(chunked_answer(size_line)) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url())).body == b"abc"


BAD_CONTENT_LENGTHS = ["-1", "+5", "5_0", "0x5", "5 5", "1e3", "5, 6", "5,", ",5", "5,,5", "\xb2", "\xb95",
                       "99999999999999999999999999", "1" * 5000, "", "5;", "0b101", "5\x0b"]


def length_answer(value: str, body: bytes = b"hello") -> Answer:
    async def answer(target: str, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n".encode("latin-1") + body)
        await writer.drain()
        await asyncio.sleep(10)

    return answer


@pytest.mark.asyncio
@pytest.mark.parametrize("value", BAD_CONTENT_LENGTHS, ids=lambda v: repr(v[:20]))
async def test_malformed_content_length_is_a_clean_error(value: str) -> None:
    async with Server(length_answer(value)) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=3)
        assert exc.kind == "protocol"
        assert "Content-Length" in str(exc) or "larger than" in str(exc)


@pytest.mark.asyncio
async def test_repeated_content_length_headers_must_agree() -> None:
    async def answer(target: str, writer: asyncio.StreamWriter) -> None:
        same = target == "/same"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: " + (b"5" if same else b"3")
                     + b"\r\n\r\nhello")
        await writer.drain()

    async with Server(answer) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url("/same"))).body == b"hello"
        assert "Content-Length" in str(await fails(pool, srv.url("/differ")))


@pytest.mark.asyncio
@pytest.mark.parametrize("value,body", [("5, 5", b"hello"), ("005", b"hello"), ("0", b""), ("5,5", b"hello")])
async def test_valid_content_lengths(value: str, body: bytes) -> None:
    async with Server(length_answer(value, body)) as srv, HttpPool() as pool:
        assert (await call(pool, srv.url())).body == body


@pytest.mark.asyncio
@pytest.mark.parametrize("coding", ["gzip", "gzip, chunked", "chunked, chunked", "notchunked", "chunked;q=1",
                                    "identity"])
async def test_transfer_codings_other_than_chunked_are_refused(coding: str) -> None:
    async def answer(target: str, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {coding}\r\n\r\n3\r\nabc\r\n0\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(10)

    async with Server(answer) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=3)
        assert "Transfer-Encoding" in str(exc)


@pytest.mark.asyncio
@pytest.mark.parametrize("status_line", [b"HTTP/1.1 \xb2\xb2\xb2 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1 20 OK",
                                         b"HTTP/1.1 +20 OK", b"HTTP/1.1 -200 OK"], ids=repr)
async def test_malformed_status_is_a_clean_error(status_line: bytes) -> None:
    async def answer(target: str, writer: asyncio.StreamWriter) -> None:
        writer.write(status_line + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(10)

    async with Server(answer) as srv, HttpPool() as pool:
        exc = await fails(pool, srv.url(), limit=3)
        assert exc.kind == "protocol"


# ----------------------------------------------------------------------------- framing (hypothesis)


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False
        self.paused = False

    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def feed(conn: _Conn, data: bytes) -> None:
    """Hand ``data`` to the connection as the event loop would."""
    if hasattr(conn, "buffer_updated"):
        while data and not conn.closed:
            buf = conn.get_buffer(len(data))
            n = min(len(buf), len(data))
            buf[:n] = data[:n]
            conn.buffer_updated(n)
            data = data[n:]
    else:
        conn.data_received(data)


LOOP = asyncio.new_event_loop()


def exchange(pieces: list[bytes], max_body: int = 10_000) -> Response | HttpError:
    """The outcome of one response arriving in ``pieces``: a Response, or the HttpError."""

    async def run() -> Response | HttpError:
        conn = _Conn(max_body)
        conn.connection_made(FakeTransport())  # type: ignore[arg-type]
        waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n")
        for piece in pieces:
            if waiter.done():
                break
            feed(conn, piece)
        if not waiter.done():
            conn.connection_lost(None)
        exc = waiter.exception()
        if exc is not None:
            assert isinstance(exc, HttpError), repr(exc)
            assert "\n" not in str(exc)
            return exc
        return waiter.result()

    return LOOP.run_until_complete(run())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return [p for p in out if p]


TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(TCHAR, min_size=1, max_size=6)
quoted = st.lists(st.sampled_from(list(" \tabc!#=;,") + ['\\"', "\\\\"]), max_size=6).map(lambda s: '"' + "".join(s) + '"')
ows = st.sampled_from(["", " ", "\t", " \t"])
ext = st.tuples(ows, ows, tokens, st.one_of(st.none(), st.tuples(ows, ows, st.one_of(tokens, quoted)))).map(
    lambda t: f"{t[0]};{t[1]}{t[2]}" + ("" if t[3] is None else f"{t[3][0]}={t[3][1]}{t[3][2]}"))
exts = st.lists(ext, max_size=3).map("".join)


def size_text(n: int, zeros: int, upper: bool) -> str:
    text = "0" * zeros + f"{n:x}"
    return text.upper() if upper else text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=6), zeros=st.integers(0, 3),
       upper=st.booleans(), extensions=st.lists(exts, min_size=7, max_size=7),
       trailers=st.lists(st.sampled_from(["X-A: 1", "x-b:", "Checksum: abc def"]), max_size=2),
       cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_valid_chunked_framing_is_read_whole_however_it_is_split(chunks: list[bytes], zeros: int, upper: bool,
                                                                 extensions: list[str], trailers: list[str],
                                                                 cuts: list[int]) -> None:
    raw = HEAD_CHUNKED
    for chunk, extension in zip(chunks, extensions):
        raw += f"{size_text(len(chunk), zeros, upper)}{extension}\r\n".encode() + chunk + b"\r\n"
    raw += f"{'0' * (zeros + 1)}{extensions[-1]}\r\n".encode()
    raw += "".join(f"{t}\r\n" for t in trailers).encode() + b"\r\n"
    outcome = exchange(split(raw, cuts))
    assert isinstance(outcome, Response), outcome
    assert outcome.body == b"".join(chunks)


def rfc_chunk_size_line(line: bytes) -> bool:
    """The test's own reading of RFC 9112, 7.1: chunk-size [ chunk-ext ], by hand (no regex)."""
    i = 0
    hexdig = b"0123456789abcdefABCDEF"
    while i < len(line) and line[i] in hexdig:
        i += 1
    if i == 0:
        return False
    tchar = TCHAR.encode()
    while i < len(line):
        while i < len(line) and line[i] in b" \t":
            i += 1
        if i == len(line) or line[i] != ord(";"):
            return False
        i += 1
        while i < len(line) and line[i] in b" \t":
            i += 1
        start = i
        while i < len(line) and line[i] in tchar:
            i += 1
        if i == start:
            return False
        j = i
        while j < len(line) and line[j] in b" \t":
            j += 1
        if j < len(line) and line[j] == ord("="):
            i = j + 1
            while i < len(line) and line[i] in b" \t":
                i += 1
            if i < len(line) and line[i] == ord('"'):
                i += 1
                while True:
                    if i >= len(line):
                        return False
                    c = line[i]
                    if c == ord('"'):
                        i += 1
                        break
                    if c == ord("\\"):
                        if i + 1 >= len(line) or not (line[i + 1] in b"\t " or 0x21 <= line[i + 1] <= 0x7e
                                                      or line[i + 1] >= 0x80):
                            return False
                        i += 2
                        continue
                    if not (c in b"\t " or c == 0x21 or 0x23 <= c <= 0x5b or 0x5d <= c <= 0x7e or c >= 0x80):
                        return False
                    i += 1
            else:
                start = i
                while i < len(line) and line[i] in tchar:
                    i += 1
                if i == start:
                    return False
    return True


hostile_lines = st.lists(st.sampled_from([b"0", b"3", b"a", b"F", b"-", b"+", b"x", b"_", b" ", b"\t", b";", b"=",
                                          b'"', b"\\", b"k", b",", b"\x00", b"\xff", b"\n"]),
                         min_size=0, max_size=12).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(line=hostile_lines, cuts=st.lists(st.integers(0, 200), max_size=4))
def test_chunk_size_line_accepted_exactly_when_rfc_9112_says_so(line: bytes, cuts: list[int]) -> None:
    payload = b"abc"  # a size of 3 reads it whole
    raw = HEAD_CHUNKED + line + b"\r\n" + payload + b"\r\n0\r\n\r\n"
    outcome = exchange(split(raw, cuts), max_body=1 << 20)
    if not rfc_chunk_size_line(line):
        assert isinstance(outcome, HttpError), (line, outcome)
        assert outcome.kind == "protocol"
        return
    size = int(re.match(rb"[0-9a-fA-F]+", line).group(), 16)  # type: ignore[union-attr]
    if size == 0:
        assert isinstance(outcome, Response) and outcome.body == b"", (line, outcome)
    elif size == len(payload):
        assert isinstance(outcome, Response) and outcome.body == payload, (line, outcome)
    else:
        assert isinstance(outcome, HttpError), (line, outcome)  # the framing after it is wrong


@settings(max_examples=300, deadline=None)
@given(value=st.lists(st.sampled_from(list("0123456789") + [" ", ",", "+", "-", "_", "x", "\t", "e", "\xb2"]),
                      max_size=10).map("".join))
def test_content_length_accepted_exactly_when_rfc_9110_says_so(value: str) -> None:
    raw = f"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n".encode("latin-1") + b"z" * 30
    outcome = exchange([raw], max_body=20)
    elements = [v.strip(" \t") for v in value.strip(" \t").split(",")]
    valid = all(e and e.isascii() and e.isdigit() for e in elements) and len({int(e) for e in elements}) == 1
    if not valid:
        assert isinstance(outcome, HttpError), (value, outcome)
        return
    length = int(elements[0])
    if length > 20:
        assert isinstance(outcome, HttpError) and "larger than" in str(outcome), (value, outcome)
    else:
        assert isinstance(outcome, Response) and outcome.body == b"z" * length, (value, outcome)


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(st.binary(max_size=300),
                     st.binary(max_size=200).map(lambda b: HEAD_CHUNKED + b),
                     st.binary(max_size=200).map(lambda b: b"HTTP/1.1 200 OK\r\n" + b)),
       cuts=st.lists(st.integers(0, 400), max_size=6), max_body=st.integers(0, 100))
def test_any_bytes_give_a_response_or_an_http_error(raw: bytes, cuts: list[int], max_body: int) -> None:
    outcome = exchange(split(raw, cuts), max_body=max_body)
    if isinstance(outcome, Response):
        assert len(outcome.body) <= max_body
        assert 100 <= outcome.status <= 599
