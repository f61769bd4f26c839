"""A small HTTP/1.1 client on asyncio for the health sweep's many short JSON exchanges.

Why not aiohttp: ``fleetctl health`` runs from cron every minute and sends well over a thousand
small requests per run (a balance per supplier, two JSON-RPC round trips per endpoint). aiohttp
spends ~0.25 ms of CPU per request and ~0.1 s importing; this client ~0.06 ms and nothing
(measured on the health benchmark: 1,000 requests, 0.28 s of CPU against 0.07 s), which is most
of the run's CPU on a small machine. It does only what those exchanges need, and does it fully:

* HTTP/1.1 with keep-alive connections pooled per origin (scheme, host, port), reused only
  after a complete response; ``Connection: close``, an HTTP/1.0 response or a body delimited
  by the connection's end close it instead;
* bodies by ``Content-Length``, ``Transfer-Encoding: chunked`` (trailers skipped) or until
  close; interim ``1xx`` responses skipped; a body larger than ``max_body`` is refused;
* framing read strictly, as a hostile server may send anything: a status is three digits, a
  ``Content-Length`` is digits (repeated only with the same value, RFC 9110 8.6), a chunk-size
  is hex digits with optional chunk extensions on a line of at most 1 KiB (RFC 9112 7.1; no
  sign, ``0x``, ``_`` or spaces that ``int()`` would take), ``chunked`` is the only transfer
  coding; anything else is an :class:`HttpError`;
* memory bounded per pool, not per answer: all the answers one pool (one sweep) is reading
  hold at most ``max_in_flight`` bytes together (default 64 MiB, give or take one byte per
  waiting connection, plus for a moment the copy of the one answer being completed). A read
  happens only once its bytes are granted; a connection that gets none pauses until another
  answer gives bytes back, or until its caller's own deadline ends the request. It cannot
  deadlock: all answers but the largest stay within ``max_in_flight - max_body`` (less 320 KiB
  for heads and framing), so the largest can always read on to ``max_body``; an answer that
  alone exceeds the budget (when it is set below ``max_body``) fails with a line naming its
  endpoint (credentials redacted);
* https through the standard library's ``ssl`` with the system's CAs and host name checks;
* no proxies, no redirects (a 3xx is returned as it is), no cookies, no compression.

Time limits belong to the caller (``asyncio.timeout`` around :meth:`HttpPool.request`); a
request cancelled half way aborts its connection, so a late answer never lands in the next
request's lap. A connection that the server closed while idle (a keep-alive timeout) is noticed
on reuse and the request is sent once more on a new connection, before any answer was read, if
it is idempotent (a webhook POST is never sent twice). ``user:password@`` in a URL is sent as
HTTP Basic authorization.

Errors are :class:`HttpError` with a one-line ``reason`` and a ``kind``: ``connect`` (refused,
unreachable, DNS), ``closed`` (the server closed without answering), ``protocol`` (not HTTP,
truncated, too large).
"""

from __future__ import annotations

import asyncio
import errno
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from fleetctl.core.records import record

if TYPE_CHECKING:
    import ssl

__all__ = ["HttpError", "HttpPool", "Response"]

DEFAULT_MAX_BODY = 32 * 1024 * 1024
#: Bytes of answers one pool holds at once, all its connections together (see the module's doc).
DEFAULT_MAX_IN_FLIGHT = 64 * 1024 * 1024
MAX_HEAD = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_READ = 256 * 1024  # the most one socket read takes (asyncio's own read size)
_IDLE_READ = 1024  # a read by a connection not reading an answer: only a close or stray bytes
_MAX_CHUNK_LINE = 1024  # a chunk-size line with its extensions
_SLACK = MAX_HEAD + _READ  # what an answer holds beyond its body: its head, one read's framing

# RFC 9112 7.1: chunk-size [ chunk-ext ] ; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
#: a request target made only of RFC 3986 path and query characters (no fragment, space or
#: control character, which urlsplit would remove or split off): taken as it is (see _origin)
_PLAIN_TARGET = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]+)?")
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t !\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN
                         + rb"|" + _QUOTED + rb"))?)*")


def _content_length(value: str) -> int:
    """RFC 9110 8.6: 1*DIGIT; a list of the same value (repeated headers) counts once."""
    lengths = set()
    for item in value.split(","):
        item = item.strip(" \t")
        if not (item.isascii() and item.isdigit()):
            raise HttpError("invalid Content-Length", "protocol")
        digits = item.lstrip("0") or "0"
        lengths.add(int(digits) if len(digits) <= 30 else 10 ** 30)  # beyond any max_body
    if len(lengths) != 1:
        raise HttpError("conflicting Content-Length values", "protocol")
    return lengths.pop()


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


class _Budget:
    """The bytes of answers one pool's connections hold in memory: at most ``limit`` in all.

    A connection asks (:meth:`grant`) before it reads an answer's bytes and settles what it
    actually holds after the read (:meth:`settle`). One rule keeps it free of deadlock: all
    holders but the largest stay within ``shared`` (``limit - max_body - slack``), so the
    largest can always read on up to ``max_body``; a connection granted nothing waits, paused,
    until bytes come back (:meth:`_wake`)."""

    def __init__(self, limit: int, max_body: int) -> None:
        self.limit = limit
        self.shared = max(0, limit - max_body - _SLACK)
        self.used = 0
        self.peak = 0
        self.held: dict[_Conn, int] = {}  # connection -> bytes granted (> 0)
        self.waiting: dict[_Conn, None] = {}  # paused connections, in order

    def grant(self, conn: _Conn, want: int) -> int:
        """Up to ``want`` more bytes for ``conn``: how many (0: wait; -1: it alone is over)."""
        have = self.held.get(conn, 0)
        granted = min(want, self.limit - self.used)
        if self.used - have > self.shared:
            # The others hold more than the shared part: conn may grow only below the largest.
            largest = max(n for c, n in self.held.items() if c is not conn)
            granted = min(granted, self.shared + largest - self.used)
        elif granted <= 0:
            return -1  # conn is the largest and the budget is full: it can never fit
        if granted <= 0:
            return 0
        self.held[conn] = have + granted
        self.used += granted
        self.peak = max(self.peak, self.used)
        return granted

    def settle(self, conn: _Conn, holding: int) -> None:
        """``conn`` now holds ``holding`` bytes: what is left of its grant comes back. (The one
        byte a paused connection may read is never granted: the rule counts grants only.)"""
        have = self.held.get(conn, 0)
        if holding >= have:
            return
        if holding > 0:
            self.held[conn] = holding
        else:
            del self.held[conn]
        self.used -= have - holding
        if self.waiting:
            self._wake()

    def release(self, conn: _Conn) -> None:
        self.waiting.pop(conn, None)
        self.settle(conn, 0)

    def wait(self, conn: _Conn) -> None:
        self.waiting[conn] = None

    def _wake(self) -> None:
        for conn in list(self.waiting):
            if self.used >= self.limit:
                return
            if self.grant(conn, _READ) > 0:
                del self.waiting[conn]
                conn.resume()


class HttpError(Exception):
    """No usable response. ``str()`` is one line; ``kind`` says what went wrong."""

    def __init__(self, reason: str, kind: str, errno_: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind  # connect | closed | protocol
        self.errno = errno_


@record(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


class _Conn(asyncio.BufferedProtocol):
    """One connection: writes a request, parses one response at a time, reading only the bytes
    its pool's budget grants (``get_buffer`` is asked before every read)."""

    def __init__(self, max_body: int, budget: _Budget | None = None, scratch: memoryview | None = None) -> None:
        self.max_body = max_body
        self.budget = budget if budget is not None else _Budget(1 << 62, max_body)
        self.scratch = scratch if scratch is not None else memoryview(bytearray(_READ))
        self.url = ""  # of the current request, for the budget's error
        self.paused = False
        self._chunk_bytes = 0
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.got_bytes = False  # any byte of the current response
        self.keep_alive = True
        self._head: tuple[int, dict[str, str], str] | None = None
        self._mode = ""  # length | chunked | close
        self._need = 0
        self._chunks: list[bytes | bytearray] = []
        self._chunk_state = "size"  # size | data | crlf | trailer
        self._body_len = 0
        self._trailer = 0

    # -- protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _reading(self) -> bool:
        return not self.closed and self.waiter is not None and not self.waiter.done()

    def _holding(self) -> int:
        return len(self.buf) + self._chunk_bytes

    def get_buffer(self, sizehint: int) -> memoryview:
        if not self._reading():
            return self.scratch[:_IDLE_READ]  # idle: stray bytes or a close, dropped at once
        room = self.budget.held.get(self, 0) - self._holding()
        while room <= 0:
            granted = self.budget.grant(self, _READ)
            if granted < 0:
                from fleetctl.core.redact import safe_url

                self._fail(HttpError(f"answer larger than the {_mib(self.budget.limit)} memory budget for "
                                     f"answers in flight ({safe_url(self.url)})", "protocol"))
                return self.scratch[:_IDLE_READ]
            if granted == 0:
                # Wait for bytes to come back; this read takes one byte at most, settled below.
                self.paused = True
                self.budget.wait(self)
                assert self.transport is not None
                self.transport.pause_reading()
                return self.scratch[:1]
            room = self.budget.held[self] - self._holding()  # <= 0 only after such a byte
        return self.scratch[:min(room, _READ)]

    def resume(self) -> None:
        """Bytes were granted while paused: read again."""
        if self.paused:
            self.paused = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def buffer_updated(self, nbytes: int) -> None:
        if self.closed:
            return
        if not self._reading():
            # Bytes nobody asked for (a server talking out of turn): this connection is unusable.
            self.keep_alive = False
            self.abort()
            return
        self.got_bytes = True
        self.buf += self.scratch[:nbytes]
        try:
            response = self._parse()
        except HttpError as exc:
            self._fail(exc)
            return
        except Exception as exc:  # a parser bug must end this request, never hang it
            self._fail(HttpError(f"unreadable answer ({type(exc).__name__})", "protocol"))
            return
        if response is not None:
            self._done()
            assert self.waiter is not None
            self.waiter.set_result(response)
        else:
            self.budget.settle(self, self._holding())

    def _done(self) -> None:
        """The answer is complete (or abandoned): its bytes go back to the budget."""
        self._chunks = []
        self._chunk_bytes = 0
        self.budget.release(self)
        self.resume()

    def _fail(self, exc: HttpError) -> None:
        self.keep_alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.abort()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self._head is not None and self._mode == "close" and exc is None:
                status, headers, _ = self._head
                body = bytes(self.buf)
                self.buf = bytearray()
                self._done()
                self.waiter.set_result(Response(status, headers, body))
            elif self.got_bytes:
                self.waiter.set_exception(HttpError("truncated response (the connection closed mid-response)",
                                                    "protocol"))
            else:
                self.waiter.set_exception(HttpError("connection closed without an answer", "closed"))
        self._done()

    # -- use
    def send(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.got_bytes = False
        self._head = None
        self.transport.write(data)
        return self.waiter

    def abort(self) -> None:
        self.closed = True
        self._done()
        if self.transport is not None:
            self.transport.abort()

    def reusable(self) -> bool:
        return not self.closed and self.keep_alive and not self.buf and not self.paused \
            and self.transport is not None and not self.transport.is_closing()

    # -- parsing
    def _parse(self) -> Response | None:
        while self._head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end > MAX_HEAD or (end < 0 and len(self.buf) > MAX_HEAD):
                raise HttpError("response headers too large", "protocol")
            if end < 0:
                return None
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[:end + 4]
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or len(parts[0]) != 8 or not parts[0].startswith("HTTP/1.") \
                    or not (len(parts[1]) == 3 and parts[1].isascii() and parts[1].isdigit()) \
                    or not 100 <= int(parts[1]) <= 599:
                raise HttpError("answered something that is not HTTP", "protocol")
            status = int(parts[1])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    continue
                key = name.strip(" \t").lower()
                value = value.strip(" \t")
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            if 100 <= status < 200 and status != 101:
                continue  # an interim response: the real one follows
            version = parts[0]
            conn = headers.get("connection", "").lower()
            if version == "HTTP/1.0" and "keep-alive" not in conn or "close" in conn:
                self.keep_alive = False
            if status in _NO_BODY_STATUSES:
                self._mode, self._need = "length", 0
            elif "transfer-encoding" in headers:
                codings = [c.strip(" \t").lower() for c in headers["transfer-encoding"].split(",")]
                if [c for c in codings if c] != ["chunked"]:
                    raise HttpError("unsupported Transfer-Encoding (only chunked is read)", "protocol")
                self._mode, self._chunk_state, self._chunks, self._body_len = "chunked", "size", [], 0
                self._chunk_bytes = self._trailer = 0
            elif "content-length" in headers:
                self._need = _content_length(headers["content-length"])
                if self._need > self.max_body:
                    raise HttpError(f"answer larger than {self.max_body} bytes", "protocol")
                if self._need > self.budget.limit:
                    from fleetctl.core.redact import safe_url

                    raise HttpError(f"answer larger than the {_mib(self.budget.limit)} memory budget for "
                                    f"answers in flight ({safe_url(self.url)})", "protocol")
                self._mode = "length"
            else:
                self._mode = "close"
                self.keep_alive = False
            self._head = (status, headers, version)
        status, headers, _ = self._head
        if self._mode == "length":
            if len(self.buf) < self._need:
                return None
            if len(self.buf) == self._need:
                body = bytes(self.buf)
                self.buf = bytearray()
            else:
                body = bytes(self.buf[:self._need])
                del self.buf[:self._need]
            return Response(status, headers, body)
        if self._mode == "close":
            if len(self.buf) > self.max_body:
                raise HttpError(f"answer larger than {self.max_body} bytes", "protocol")
            return None
        return self._parse_chunked(status, headers)

    def _parse_chunked(self, status: int, headers: dict[str, str]) -> Response | None:
        while True:
            if self._chunk_state == "size":
                end = self.buf.find(b"\r\n", 0, _MAX_CHUNK_LINE + 2)
                if end < 0:
                    if len(self.buf) > _MAX_CHUNK_LINE:
                        raise HttpError("invalid chunk size line (longer than 1 KiB)", "protocol")
                    return None
                match = _CHUNK_LINE.fullmatch(self.buf, 0, end)
                if match is None:
                    raise HttpError("invalid chunk size (RFC 9112: hex digits, optional extensions)", "protocol")
                digits = match.group(1).lstrip(b"0") or b"0"
                size = int(digits, 16) if len(digits) <= 16 else 1 << 64
                del self.buf[:end + 2]
                if size == 0:
                    self._chunk_state = "trailer"
                    continue
                self._body_len += size
                if self._body_len > self.max_body:
                    raise HttpError(f"answer larger than {self.max_body} bytes", "protocol")
                self._need, self._chunk_state = size, "data"
            elif self._chunk_state == "data":
                if len(self.buf) < self._need + 2:
                    return None
                if self.buf[self._need:self._need + 2] != b"\r\n":
                    raise HttpError("invalid chunk framing", "protocol")
                self._chunks.append(self.buf[:self._need])
                self._chunk_bytes += self._need
                del self.buf[:self._need + 2]
                self._chunk_state = "size"
            else:  # trailer: header lines until an empty one, MAX_HEAD in all
                end = self.buf.find(b"\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEAD:
                        raise HttpError("response trailers too large", "protocol")
                    return None
                self._trailer += end + 2
                if self._trailer > MAX_HEAD:
                    raise HttpError("response trailers too large", "protocol")
                line = bytes(self.buf[:end])
                del self.buf[:end + 2]
                if not line:
                    body = b"".join(self._chunks)
                    self._chunks, self._chunk_bytes = [], 0
                    return Response(status, headers, body)


#: urlencode()d query strings by their pairs: a sweep sends the same few (``denom=upokt`` a
#: thousand times); bounded, small ones only
_QUERIES: dict[tuple[tuple[str, str], ...], str] = {}


def _query(params: Mapping[str, str]) -> str:
    key = tuple(params.items())
    if not all(type(k) is str and type(v) is str for k, v in key):
        return urlencode(params)  # 1, True and 1.0 are equal keys but not the same text
    text = _QUERIES.get(key)
    if text is None:
        text = urlencode(params)
        if len(key) <= 4 and len(text) <= 256 and len(_QUERIES) < 256:
            _QUERIES[key] = text
    return text


def _connect_reason(exc: OSError, host: str, port: int) -> str:
    code = exc.errno
    if code == errno.ECONNREFUSED:
        return "connection refused"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "host unreachable (no route)"
    if code == errno.ETIMEDOUT:
        return "connection timed out"
    reason = getattr(exc, "reason", None)
    if type(exc).__module__ == "ssl" and reason:
        return f"TLS: {reason}"
    text = exc.strerror or str(exc) or type(exc).__name__
    if "Name or service not known" in text or "nodename nor servname" in text:
        return f"cannot resolve {host}"
    return f"cannot connect to {host}:{port}: {text}"


class HttpPool:
    """Keep-alive connections per origin; :meth:`request` sends one request and reads its answer."""

    def __init__(self, *, max_body: int = DEFAULT_MAX_BODY, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 user_agent: str = "fleetctl", headers: Mapping[str, str] | None = None) -> None:
        if max_body < 0 or max_in_flight < 1:
            raise ValueError("max_body must be >= 0 and max_in_flight >= 1")
        self.max_body = max_body
        self._budget = _Budget(max_in_flight, max_body)
        self._scratch = memoryview(bytearray(_READ))  # every read lands here first (one loop, in turn)
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._all: set[_Conn] = set()
        self._ssl: ssl.SSLContext | None = None  # made on the first https request
        self._base_headers = {"User-Agent": user_agent, **(headers or {})}
        self._origins: dict[str, tuple[str, str, int, str, str | None]] = {}

    def _origin(self, url: str) -> tuple[str, str, int, str, str | None]:
        """(scheme, host, port, target, authorization) of ``url``, cached per URL (the sweep
        repeats them); ``user:password@`` in the URL becomes HTTP Basic authorization."""
        hit = self._origins.get(url)
        if hit is not None:
            return hit
        # A thousand suppliers' URLs differ in their path only: the origin part is parsed once
        # and a plain target taken as it is (what urlsplit gives for it), not each URL parsed.
        start = url.find("://") + 3
        cut = url.find("/", start) if start > 2 else -1
        if cut > 0 and "?" not in url[start:cut] and "#" not in url[start:cut] \
                and _PLAIN_TARGET.fullmatch(url, cut) is not None:
            head = self._origin(url[:cut])
            return (head[0], head[1], head[2], url[cut:], head[4])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}", "connect")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise HttpError("invalid port in the URL", "connect") from None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        auth = None
        if parts.username is not None:
            import base64
            from urllib.parse import unquote

            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            auth = "Basic " + base64.b64encode(pair).decode()
        origin = (parts.scheme, parts.hostname, port, target, auth)
        if len(self._origins) < 100_000:
            self._origins[url] = origin
        return origin

    async def _open(self, scheme: str, host: str, port: int) -> _Conn:
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            if self._ssl is None:
                import ssl  # only for https: ~10 ms to import, more to load the CAs

                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            _, conn = await loop.create_connection(lambda: _Conn(self.max_body, self._budget, self._scratch),
                                                   host, port, ssl=context,
                                                   server_hostname=host if context else None)
        except OSError as exc:
            raise HttpError(_connect_reason(exc, host, port), "connect", exc.errno) from None
        self._all.add(conn)
        return conn

    async def request(self, method: str, url: str, *, body: bytes | None = None,
                      params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None,
                      idempotent: bool | None = None) -> Response:
        """Send one request and read its answer.

        ``idempotent`` (default: GET, HEAD, OPTIONS, PUT, DELETE) allows the one automatic
        retry when a pooled connection turns out to have been closed by the server: a request
        that is not (a webhook POST) is never sent twice (RFC 9112, 9.3.1.1); callers whose POST
        only reads (JSON-RPC queries) say ``idempotent=True``."""
        scheme, host, port, target, auth = self._origin(url)
        if params:
            target += ("&" if "?" in target else "?") + _query(params)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
        key = (scheme, host, port)
        default_port = 443 if scheme == "https" else 80
        shown = f"[{host}]" if ":" in host else host  # an IPv6 literal
        lines = [f"{method} {target} HTTP/1.1", f"Host: {shown if port == default_port else f'{shown}:{port}'}"]
        extra = {**self._base_headers, **({"Authorization": auth} if auth else {}), **(headers or {})}
        for name, value in extra.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise HttpError(f"invalid header {name!r}", "protocol")
            lines.append(f"{name}: {value}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        idle = self._idle.setdefault(key, [])
        fresh_only = False
        while True:
            conn = None
            while idle and not fresh_only:
                candidate = idle.pop()
                if candidate.reusable():
                    conn = candidate
                    break
                self._all.discard(candidate)
            reused = conn is not None
            if conn is None:
                conn = await self._open(scheme, host, port)
            conn.url = url
            try:
                response = await conn.send(data)
            except HttpError as exc:
                self._all.discard(conn)
                conn.abort()
                if reused and exc.kind == "closed" and idempotent and not fresh_only:
                    fresh_only = True  # the server had closed it: once more, on a new connection
                    continue
                raise
            except BaseException:
                # Cancelled (a timeout) or failed half way: the connection's state is unknown.
                self._all.discard(conn)
                conn.abort()
                raise
            if conn.reusable():
                conn.waiter = None
                idle.append(conn)
            else:
                self._all.discard(conn)
                conn.abort()
            return response

    @property
    def bytes_in_flight(self) -> int:
        """Bytes of answers this pool holds now (granted to its connections)."""
        return self._budget.used

    @property
    def bytes_in_flight_peak(self) -> int:
        return self._budget.peak

    async def close(self) -> None:
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()

    async def __aenter__(self) -> HttpPool:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
