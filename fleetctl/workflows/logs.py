"""A fleet container's log: its last lines, then the new ones as they come (what the TUI's
``l`` shows), over the host's Docker engine (``ssh://``, verified host keys:
:func:`fleetctl.provision.dockerssh.docker_client`).

Only fleetctl's own containers (labelled ``io.fleetctl.managed=true``) may be read. Each line is
decoded (invalid UTF-8 replaced), its terminal escapes and control characters dropped, and passed
through :func:`fleetctl.core.redact.scrub` with the fleet's endpoint and Pocket URLs as secrets:
a log never shows a secret. A line longer than :data:`LINE_LIMIT` is cut (ending in "…"); one
that never ends is cut every :data:`BUFFER_LIMIT` bytes.

The stream ends when the container stops (the engine ends it), when the caller stops iterating
(``close()``, or leaving a ``with`` block), or when the cancel token is set: a blocked read ends
then too (the stream's SSH channel is closed from a watcher thread; the Docker SDK's own
``CancellableStream.close`` refuses streams over SSH). A host that is not in the inventory or
does not answer, or a container that is not one of fleetctl's on that host: :class:`LogsError`
(one line), raised by :func:`tail` itself before any line is read.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

from fleetctl.core.errors import FleetError
from fleetctl.core.events import CancelToken
from fleetctl.spec.model import Fleet

__all__ = ["BUFFER_LIMIT", "LINE_LIMIT", "MAX_LINES", "LogTail", "LogsError", "tail"]

#: The most past lines one may ask for.
MAX_LINES = 100_000
#: Longest line shown (characters; longer ones end in "…"). Only this much (and a little more)
#: of a line is scrubbed: scrub's URL search grows with the square of a line's length.
LINE_LIMIT = 2000
#: Bytes without a newline after which what came is shown as a line of its own.
BUFFER_LIMIT = 64 * 1024
#: Seconds to connect to a host's engine, and for each request but the followed stream.
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 15.0
#: How often the watcher looks at the cancel token (seconds).
CANCEL_POLL_S = 0.1

_ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")


class LogsError(FleetError):
    """A log that cannot be read: an unknown or unreachable host, a container that is not
    fleetctl's there, an engine that fails. The message is one line, secrets scrubbed."""


def tail(fleet: Fleet, host: str, container: str, *, lines: int = 200, follow: bool = True,
         cancel: CancelToken | None = None) -> LogTail:
    """The last ``lines`` lines of ``container`` on ``host`` and then (``follow``) every new one,
    as they come. Connects and finds the container before it returns (:class:`LogsError`
    otherwise); iterate the result in a worker thread, and close it (or use it in a ``with``
    block) when done. ``cancel``: setting it ends the iteration within about
    :data:`CANCEL_POLL_S` seconds, even while a read waits for a quiet container."""
    if type(lines) is not int or not 0 <= lines <= MAX_LINES:
        raise ValueError(f"lines must be an integer from 0 to {MAX_LINES}, got {lines!r}")
    h = fleet.hosts.get(host)
    if h is None:
        raise LogsError(f"{_show(host)}: no such host in the inventory")
    secrets = _secrets(fleet)
    if cancel is not None and cancel.cancelled:
        return LogTail(None, iter(()), cancel, secrets)
    from fleetctl.provision.dockerssh import docker_client

    try:
        client = docker_client(h, timeout=REQUEST_TIMEOUT_S, connect_timeout=CONNECT_TIMEOUT_S)
    except FleetError as exc:
        raise LogsError(_scrub(str(exc), secrets)) from None
    try:
        cid = _find(client, host, container)
        if follow:
            # A followed log waits as long as the container is quiet: no read timeout (a cancel,
            # a close or the container stopping ends the wait).
            client.api.timeout = None
        stream = client.api.logs(cid, stdout=True, stderr=True, stream=True, follow=follow, tail=lines)
    except LogsError:
        client.close()
        raise
    except Exception as exc:  # docker.errors.APIError, requests and paramiko errors
        client.close()
        raise LogsError(_scrub(f"{host}: reading the log of {container}: {exc}", secrets)) from None
    return LogTail(client, stream, cancel, secrets, where=f"{host}/{_show(container)}")


class LogTail(Iterator[str]):
    """The lines of one container's log (see :func:`tail`); thread-safe :meth:`close`."""

    def __init__(self, client: Any, stream: Any, cancel: CancelToken | None, secrets: list[str],
                 where: str = "") -> None:
        self._client = client
        self._stream = stream
        self._secrets = secrets
        self._where = where
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._lines = self._read()
        if cancel is not None and client is not None:
            threading.Thread(target=self._watch, args=(cancel,), name="fleetctl-logs-cancel", daemon=True).start()

    def __iter__(self) -> LogTail:
        return self

    def __next__(self) -> str:
        return next(self._lines)

    def __enter__(self) -> LogTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """End the stream (a read blocked in another thread returns) and the connection."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        _close_stream(self._stream)
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # closing a connection that failed already
                pass

    def _watch(self, cancel: CancelToken) -> None:
        while not self._closed.is_set():
            if cancel.wait(CANCEL_POLL_S):
                self.close()
                return

    def _read(self) -> Iterator[str]:
        buf = b""
        if self._closed.is_set():
            return
        try:
            for chunk in self._stream:
                if self._closed.is_set():
                    return
                if not isinstance(chunk, bytes):
                    continue
                parts = (buf + chunk).split(b"\n")
                buf = parts.pop()
                for part in parts:
                    if self._closed.is_set():
                        return
                    yield self._clean(part)
                while len(buf) > BUFFER_LIMIT:
                    head, buf = buf[:BUFFER_LIMIT], buf[BUFFER_LIMIT:]
                    yield self._clean(head)
            if buf and not self._closed.is_set():
                yield self._clean(buf)
        except Exception as exc:
            if self._closed.is_set():
                return
            raise LogsError(_scrub(f"{self._where}: the log stream failed: {exc}", self._secrets)) from None
        finally:
            self.close()

    def _clean(self, raw: bytes) -> str:
        text = _ESCAPES.sub(b"", raw.rstrip(b"\r")).decode("utf-8", errors="replace")
        return _scrub(_CONTROL.sub("", text)[: LINE_LIMIT + 100], self._secrets)


def _find(client: Any, host: str, container: str) -> str:
    """The id of fleetctl's container named ``container`` on the engine (LogsError if none)."""
    from fleetctl.core import layout

    raw = client.api.containers(all=True, filters={"label": f"{layout.LABEL_MANAGED}=true"})
    names = []
    for c in raw if isinstance(raw, list) else []:
        if not isinstance(c, dict):
            continue
        labels = c.get("Labels")
        labels = labels if isinstance(labels, dict) else {}
        listed = c.get("Names")
        listed = listed if isinstance(listed, list) else []
        name = labels.get(layout.LABEL_NAME) or (listed[0].lstrip("/") if listed and isinstance(listed[0], str) else None)
        if not isinstance(name, str):
            continue
        if name == container:
            cid = c.get("Id")
            if not isinstance(cid, str) or not _CONTAINER_ID.fullmatch(cid):
                raise LogsError(f"{host}: the engine gave {container} no usable id")
            return cid
        names.append(name)
    there = ", ".join(_show(n) for n in sorted(names)[:12]) + (", …" if len(names) > 12 else "")
    raise LogsError(f"{host}: no fleetctl container named {_show(container)}"
                    + (f" (there: {there})" if names else " (fleetctl runs none there)"))


def _close_stream(stream: Any) -> None:
    """Close a Docker log stream so a read blocked on it returns: over SSH its paramiko
    channel (closing it wakes the reader), else the SDK's own close (a plain socket)."""
    try:
        fp = stream._response.raw._fp.fp  # http.client's file over the connection's socket
    except AttributeError:  # not a Docker stream (no connection), or its body is read already
        return
    try:
        channel = getattr(fp, "channel", None)
        if channel is not None:
            channel.close()
        else:
            stream.close()
    except Exception:  # closed meanwhile
        pass


def _secrets(fleet: Fleet) -> list[str]:
    """The URLs whose secret parts never show: the endpoints', the Pocket node's, the beacon
    checkpoints'."""
    p = fleet.pocket
    urls = [p.rest_url, p.rpc_url, p.node_rpc_url, p.grpc_url, *(e.url for e in fleet.endpoints),
            *(c.checkpoint_sync_url for c in fleet.chains.values())]
    return [u for u in urls if u]


def _scrub(text: str, secrets: list[str]) -> str:
    from fleetctl.core.redact import scrub

    return scrub(text, secrets, sink_style=False, limit=LINE_LIMIT)


def _show(name: object) -> str:
    """A name as a message may show it: no control characters, at most 80 characters."""
    text = _CONTROL.sub("", str(name))
    return text if len(text) <= 80 else text[:79] + "…"
