"""A small asynchronous JSON client for the Pocket query APIs (over :mod:`fleetctl.core.httpclient`).

One :class:`JsonClient` per endpoint and sweep. It keeps a keep-alive connection pool, bounds
the requests in flight with a semaphore, applies a per-request timeout, and retries only
transient failures (connection errors, timeouts, HTTP 429/502/503/504) with exponential backoff
and jitter, all within one overall deadline. Every other failure (an HTTP error, a body that
is not JSON, a truncated or empty body) raises :class:`QueryError` at once, with a one-line
reason: callers turn it into UNKNOWN, never into a crash or an OK.

Numbers with a fraction are decoded as :class:`decimal.Decimal` and integers as ``int``, so no
amount ever passes through a float.

The base URL may carry credentials: ``user:password@`` becomes HTTP Basic authorization, and its
query string (a gateway's ``?token=…``) is merged into every request, before the request's own
parameters. Neither ever appears in a :class:`QueryError`: every reason is scrubbed with
:func:`fleetctl.core.redact.scrub`, and :attr:`JsonClient.shown_url` is the URL to show or store.
An answer is read up to :data:`MAX_RESPONSE_BYTES` (the largest legitimate one, a listing page
of 1,000 suppliers or nodes, is 1-2 MB).
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fleetctl.core.httpclient import HttpError, HttpPool
from fleetctl.core.jsoncodec import loads
from fleetctl.core.redact import has_secret, safe_url, scrub

__all__ = ["MAX_RESPONSE_BYTES", "TRANSIENT_STATUSES", "JsonClient", "QueryError"]

#: The largest answer read from a Pocket API; a larger one is refused (a protocol error).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024

#: HTTP statuses worth retrying: rate limited, or a proxy/gateway in front of the node failing.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
_REASON_LIMIT = 200


class QueryError(Exception):
    """A query that gave no usable answer. ``str(error)`` is a one-line reason.

    ``status`` is the HTTP status when the server answered with an error and ``body`` its
    decoded JSON body, if any (``google.rpc.Status`` on Shannon, pocket-core's ``{"code",
    "message"}`` on Morse), so adapters can tell "not found" from other errors.
    """

    def __init__(self, reason: str, *, status: int | None = None, body: Any = None,
                 transient: bool = False) -> None:
        super().__init__(_one_line(reason))
        self.status = status
        self.body = body
        self.transient = transient


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _REASON_LIMIT else flat[: _REASON_LIMIT - 1] + "…"


def _error_body(raw: bytes) -> tuple[Any, str | None]:
    """An error response's decoded JSON body (None if it is not JSON) and its ``message``."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None, None
    message = body.get("message") if isinstance(body, dict) else None
    return body, _one_line(message) if isinstance(message, str) else None


def _retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After: <seconds>`` header asks for (HTTP dates are ignored)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


class JsonClient:
    """JSON over HTTP to one base URL; use as ``async with JsonClient(url) as client``.

    ``timeout`` bounds each attempt, ``deadline`` (seconds from entering the context) bounds
    everything including retries and waits for a free slot, ``concurrency`` bounds the
    requests in flight (and the pooled connections), ``attempts`` counts the first try.
    """

    def __init__(self, base_url: str, *, timeout: float = 5.0, deadline: float = 20.0,
                 concurrency: int = 64, attempts: int = 4, backoff: float = 0.1,
                 max_body: int = MAX_RESPONSE_BYTES) -> None:
        if concurrency < 1 or attempts < 1 or timeout <= 0 or deadline <= 0 or max_body < 1:
            raise ValueError("concurrency, attempts and max_body must be >= 1, timeout and deadline > 0")
        self.base_url = base_url.strip()
        try:
            parts = urlsplit(self.base_url)
            root = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
            query = parts.query
        except ValueError:  # left for the HTTP client to refuse, in one line
            root, query = self.base_url.rstrip("/"), ""
        #: Requests go to ``root + path + ?query``; the base query comes first.
        self._root = root
        self._query = query
        #: The URL as it may be shown or stored (:func:`fleetctl.core.redact.safe_url`).
        self.shown_url = safe_url(root + (f"?{query}" if query else ""))
        self._secret = has_secret(self.base_url)
        self.max_body = max_body
        self.timeout = timeout
        self.deadline = deadline
        self.concurrency = concurrency
        self.attempts = attempts
        self.backoff = backoff
        self._session: HttpPool | None = None
        self._semaphore = asyncio.Semaphore(concurrency)
        self._expires = 0.0

    async def __aenter__(self) -> JsonClient:
        self._session = HttpPool(headers={"Accept": "application/json"}, max_body=self.max_body)
        self._expires = asyncio.get_running_loop().time() + self.deadline
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """``GET base_url + path`` with a query string; the decoded JSON body."""
        return await self._request("GET", path, params=params)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """``POST base_url + path`` with a JSON body; the decoded JSON body."""
        return await self._request("POST", path, body=json.dumps(body).encode())

    async def post_raw(self, path: str, body: bytes) -> Any:
        """``POST base_url + path`` with ``body`` as it is (JSON the caller wrote, e.g. a batch)."""
        return await self._request("POST", path, body=body)

    async def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                       body: bytes | None = None) -> Any:
        try:
            return await self._attempts(method, path, params=params, body=body)
        except QueryError as exc:
            if not self._secret:
                raise
            clean = scrub(str(exc), [self.base_url], sink_style=False, limit=_REASON_LIMIT)
            if clean == str(exc):
                raise
            raise QueryError(clean, status=exc.status, body=exc.body,
                             transient=exc.transient) from None

    async def _attempts(self, method: str, path: str, *, params: dict[str, str] | None = None,
                        body: bytes | None = None) -> Any:
        if self._session is None:
            raise RuntimeError("JsonClient used outside 'async with'")
        loop = asyncio.get_running_loop()
        url = self._root + path + (f"?{self._query}" if self._query else "")
        headers = {"Content-Type": "application/json"} if body is not None else None
        last: QueryError | None = None
        tries = 0
        while tries < self.attempts:
            remaining = self._expires - loop.time()
            if remaining <= 0:
                break
            tries += 1
            retry_after = 0.0
            try:
                # A slot first (waited for within the deadline only when none is free: a sweep's
                # workers match the slots), then one timer for the request from the moment it
                # goes out (a timer moved or nested per request cost ~5-15 us of CPU each).
                if self._semaphore.locked():
                    async with asyncio.timeout(remaining):
                        await self._semaphore.acquire()
                else:
                    await self._semaphore.acquire()  # free: taken at once
                try:
                    async with asyncio.timeout_at(loop.time() + max(0.001, min(self.timeout,
                                                                               self._expires - loop.time()))):
                        # Every Pocket query only reads (Morse's are POSTs): safe to send again.
                        response = await self._session.request(method, url, params=params, body=body,
                                                               headers=headers, idempotent=True)
                finally:
                    self._semaphore.release()
                raw = response.body
                status = response.status
                retry_after = _retry_after(response.headers.get("retry-after"))
            except TimeoutError:
                if loop.time() >= self._expires:
                    break
                last = QueryError(f"{path}: no answer within {self.timeout:g} s", transient=True)
            except HttpError as exc:
                if exc.kind == "protocol":
                    raise QueryError(f"{path}: {exc}") from None
                last = QueryError(f"{path}: {exc}", transient=True)
            else:
                if status == 200:
                    return _decode(path, raw)
                error, message = _error_body(raw)
                reason = f"{path}: HTTP {status}" + (f": {message}" if message else "")
                if status not in TRANSIENT_STATUSES:
                    raise QueryError(reason, status=status, body=error)
                last = QueryError(reason, status=status, body=error, transient=True)
            if tries == self.attempts:
                break
            base = self.backoff * 2 ** (tries - 1)
            import random  # only on a retry: ~1 ms of every cron run's start-up otherwise

            delay = max(retry_after, base + random.uniform(0, base))
            if delay >= self._expires - loop.time():
                break
            await asyncio.sleep(delay)
        if last is None:
            raise QueryError(f"{path}: no answer within the {self.deadline:g} s deadline")
        raise QueryError(f"{last} (after {tries} attempt{'s' if tries > 1 else ''})",
                         status=last.status, body=last.body, transient=True)


def _decode(path: str, raw: bytes) -> Any:
    if not raw.strip():
        raise QueryError(f"{path}: empty response")
    try:
        # json.loads(raw, parse_float=Decimal)'s values and errors, through msgspec when it can
        return loads(raw, decimal=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise QueryError(f"{path}: malformed JSON ({exc})") from None
    except RecursionError:
        raise QueryError(f"{path}: malformed JSON (nested too deeply)") from None
