"""The views' reads in a second process, so a sweep's CPU never competes with the screen.

A sweep is CPU work in Python (parsing a thousand suppliers' answers, judging them): in a worker
thread it holds the one GIL the UI thread needs, so keys waited behind it, and the first sweep
and the app's start ran one after the other (benchmarks/tui.py). ``fleetctl tui`` therefore
forks a fetch process before it imports textual: the views send it ``(view, id)``, it runs the
same :mod:`fleetctl.tui.fetch` function in a thread of its own with its own
:class:`~fleetctl.core.events.CancelToken`, and sends back the workflow's events and its result
(pickled; the result objects are the library's dataclasses). The first view's request goes out
before textual is even imported, so on two cores the first sweep runs beside the app's start.

Only reads go there (Stakes, Health, Claims, Diversity, Alerts: nothing recorded, nothing
changed). Actions (apply, stake, rotation, muting) and the views whose results later actions
use (Runs' plan, the Fleet tree) stay in the app's own worker threads.

A result's bytes are turned back into objects by the thread that waits for it (the view's
worker), not by the thread that reads the pipe, and not while the operator types: unpickling
Health's 1,500 rows holds the GIL for 16 ms, and a key that came meanwhile waited for it (the
99th percentile of a key press while sweeps run). :attr:`FetchProcess.hold` says when to wait
(the app sets it: a key within the last 0.15 s); :data:`HOLD_MAX_S` bounds the wait. The waits
add up while keys keep coming without a pause: the decoding here (HOLD_MAX_S, 2 s), then the
view's own rows in its worker and their application on the screen (``DEFER_S`` of
:class:`fleetctl.tui.screens.base.RefreshingView`, 2 s each): a result reaches the screen at most
~6 s after it arrived, and as soon as the typing pauses for 0.15 s.

If the process cannot start or dies, the views fetch in their own threads again (the status
line says so once); a result that cannot be pickled comes back as an error naming its type.
The process exits with the app (its end of the pipe closes) and never writes to the terminal.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from fleetctl.core.events import Cancelled, CancelToken

__all__ = ["ROUTED", "FetchProcess", "ProcessGone", "RemoteCall"]

#: the views whose reads the process runs (their results are displayed, never acted on)
ROUTED = frozenset({"stakes", "health", "claims", "diversity", "alerts"})

#: a result waits this long at most (seconds) for the operator to stop typing before it is decoded
HOLD_MAX_S = 2.0


class ProcessGone(RuntimeError):
    """The fetch process is not there any more (the caller fetches in its own thread)."""


class RemoteCall:
    """One request to the process: its events as they come, then its result or its error."""

    def __init__(self, process: FetchProcess, ident: int, view: str) -> None:
        self.process, self.ident, self.view = process, ident, view
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        #: the result as it came (pickled), until the waiting thread decodes it
        self._payload: bytes | None = None
        self._lock = threading.Lock()
        self._listener: Callable[[Any], None] | None = None
        self._last_event: Any = None

    def listen(self, on_event: Callable[[Any], None] | None) -> None:
        """Hear the events from now on, the latest one first (progress that came before)."""
        with self._lock:
            self._listener, last = on_event, self._last_event
        if on_event is not None and last is not None and not self.done.is_set():
            on_event(last)

    def event(self, event: Any) -> None:
        with self._lock:
            listener, self._last_event = self._listener, event
        if listener is not None:
            listener(event)

    def finish(self, result: Any = None, error: BaseException | None = None, payload: bytes | None = None) -> None:
        """The answer: a result, an error, or a result still pickled (``payload``)."""
        self.result, self.error, self._payload = result, error, payload
        self.done.set()

    def wait(self, cancel: CancelToken) -> Any:
        """The result, or the error raised here; a cancelled ``cancel`` cancels the request
        (at once if it was cancelled before the answer came)."""
        while True:
            if cancel.cancelled and not self.done.is_set():
                self.process.cancel(self.ident, cancel.reason or "cancelled")
                cancel.raise_if_cancelled()
            if self.done.wait(0.05):
                break
        if self.error is not None:
            raise self.error
        payload, self._payload = self._payload, None
        if payload is not None:
            self.result = self.process.decode(payload, cancel)
        return self.result


class FetchProcess:
    """The process and the app's end of its pipe; :meth:`submit` is thread-safe."""

    def __init__(self, options: Any, fetches: dict[str, Callable[..., Any]]) -> None:
        """``fetches``: the reads the process may run, by view (module-level functions: a spawned
        process gets them by name; see :func:`fleetctl.tui.fetch.start_process`)."""
        # fork: nothing to import again, a few ms; only while this process has one thread (a fork
        # beside other threads can copy a lock one of them holds). Else spawn (a fresh interpreter).
        method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() \
            else "spawn"
        ctx = multiprocessing.get_context(method)
        mine, theirs = ctx.Pipe(duplex=True)
        self.method = method
        self._conn: Connection = mine
        self._proc = ctx.Process(  # type: ignore[attr-defined]
            target=serve, args=(theirs, options, dict(fetches)), name="fleetctl tui: fetch", daemon=True)
        self._proc.start()
        theirs.close()
        self._send_lock = threading.Lock()
        self._calls: dict[int, RemoteCall] = {}
        self._calls_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.gone: str | None = None
        #: True while results should wait before they are decoded (the operator is typing)
        self.hold: Callable[[], bool] | None = None
        self._reader = threading.Thread(target=self._read, name="fleetctl tui: fetch replies", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.gone is None

    def submit(self, view: str) -> RemoteCall:
        """Ask for ``view``'s read; raises :class:`ProcessGone` if the process is not there."""
        if self.gone is not None:
            raise ProcessGone(self.gone)
        call = RemoteCall(self, next(self._ids), view)
        with self._calls_lock:
            self._calls[call.ident] = call
        try:
            self._send(("fetch", call.ident, view))
        except (OSError, ValueError) as exc:
            self._lost(f"fetch process: {type(exc).__name__}: {exc}")
            raise ProcessGone(self.gone or "fetch process gone") from None
        return call

    def cancel(self, ident: int, reason: str) -> None:
        with self._calls_lock:
            call = self._calls.pop(ident, None)
        if call is not None:
            call.finish(error=Cancelled(reason))
        try:
            self._send(("cancel", ident, reason))
        except (OSError, ValueError):
            pass  # gone: nothing runs there any more

    def close(self, timeout: float = 2.0) -> None:
        """Stop the process (its reads cancelled); waits up to ``timeout`` s, then kills it."""
        if self.gone is None:
            self.gone = "closed"
            try:
                self._send(("stop",))
            except (OSError, ValueError):
                pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(1.0)
        self._conn.close()

    def decode(self, payload: bytes, cancel: CancelToken | None = None) -> Any:
        """A result's bytes as objects, once :attr:`hold` allows it (HOLD_MAX_S at most)."""
        hold, waited = self.hold, 0.0
        while hold is not None and waited < HOLD_MAX_S and hold() and not (cancel and cancel.cancelled):
            time.sleep(0.02)
            waited += 0.02
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            return pickle.loads(payload)  # noqa: S301 - our own child's bytes over our own pipe
        except Exception as exc:  # noqa: BLE001 - e.g. a class that cannot be rebuilt here
            raise RuntimeError(f"fetch process: its result could not be read ({type(exc).__name__}: {exc})"[:300]) from None

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._conn.send(message)

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError, ValueError):
                self._lost("the fetch process exited" if self.gone is None else self.gone)
                return
            except Exception as exc:  # noqa: BLE001 - a reply that cannot be unpickled
                self._lost(f"the fetch process sent what cannot be read ({type(exc).__name__})")
                return
            kind, ident, payload = message
            with self._calls_lock:
                call = self._calls.get(ident) if kind == "event" else self._calls.pop(ident, None)
            if call is None:
                continue  # cancelled meanwhile
            if kind == "result" and isinstance(payload, bytes):
                call.finish(payload=payload)  # decoded by the thread waiting for it (see decode)
                continue
            try:
                value = pickle.loads(payload)  # noqa: S301 - our own child's bytes over our own pipe
            except Exception as exc:  # noqa: BLE001 - e.g. an exception class that cannot be rebuilt
                kind, value = "error", RuntimeError(f"fetch process: its {kind} could not be read "
                                                    f"({type(exc).__name__}: {exc})"[:300])
            if kind == "event":
                call.event(value)
            elif kind == "result":
                call.finish(result=value)
            else:
                call.finish(error=value if isinstance(value, BaseException) else RuntimeError(str(value)))

    def _lost(self, why: str) -> None:
        if self.gone is None:
            self.gone = why
        with self._calls_lock:
            calls, self._calls = list(self._calls.values()), {}
        for call in calls:
            call.finish(error=ProcessGone(self.gone))


# ------------------------------------------------------------------------ the process's side

def serve(conn: Connection, options: Any, fetches: dict[str, Callable[..., Any]]) -> None:
    """The fetch process: run each request in a thread, send events and the result back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c is the app's key, never this process's
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the terminal is the app's: nothing here may write to it
        os.dup2(devnull, fd)
    from fleetctl.tui.source import Source

    source = Source(options)
    lock = threading.Lock()
    tokens: dict[int, CancelToken] = {}

    def send(message: tuple[str, int, Any]) -> None:
        # (kind, id, the value pickled apart): the app reads the id even when the value fails
        kind, ident, value = message
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - said to the view instead
            kind, payload = "error", pickle.dumps(RuntimeError(
                f"fetch process: a {type(value).__name__} could not be sent ({type(exc).__name__}: {exc})"[:300]))
        with lock:
            try:
                conn.send((kind, ident, payload))
            except (OSError, ValueError):
                pass  # the app is gone

    def run(ident: int, view: str, token: CancelToken) -> None:
        try:
            result = fetches[view](source, token, lambda e: send(("event", ident, e)))
        except BaseException as exc:  # noqa: BLE001 - the view shows it, as it would its own
            send(("error", ident, exc))
        else:
            send(("result", ident, result))
        finally:
            tokens.pop(ident, None)

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break  # the app exited
        kind = message[0]
        if kind == "stop":
            break
        if kind == "cancel":
            token = tokens.get(message[1])
            if token is not None:
                token.cancel(message[2])
        elif kind == "fetch":
            ident, view = message[1], message[2]
            token = tokens[ident] = CancelToken()
            if view not in fetches:
                send(("error", ident, ProcessGone(f"fetch process: {view!r} is not read here")))
                continue
            threading.Thread(target=run, args=(ident, view, token), daemon=True,
                             name=f"fetch {view} #{ident}").start()
    for token in list(tokens.values()):
        token.cancel("fleetctl tui quit")
