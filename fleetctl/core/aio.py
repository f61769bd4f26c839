"""asyncio helpers every job shares: await a coroutine unless a CancelToken is cancelled first
(the sweeps, diversity, claims), and run one coroutine from synchronous code."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fleetctl.core.events import Cancelled, CancelToken

T = TypeVar("T")

#: How often a cancellable job looks at its token while its requests are in flight (50 ms).
POLL_S = 0.05


async def until_cancelled(coro: Awaitable[T], cancel: CancelToken | None, job: str) -> T:
    """``await coro``; when ``cancel`` is cancelled first, its task is cancelled (requests not
    started never start, those in flight are dropped) and :class:`Cancelled` is raised."""
    if cancel is None:
        return await coro
    task = asyncio.ensure_future(coro)
    try:
        while not task.done():
            if cancel.cancelled:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise Cancelled(f"{job}: {cancel.reason}")
            await asyncio.wait({task}, timeout=POLL_S)
    except asyncio.CancelledError:
        task.cancel()
        raise
    return task.result()


#: FLEETCTL_EVENT_LOOP=asyncio runs the standard library's loop even when uvloop is installed
LOOP_ENV = "FLEETCTL_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (libuv: the sweeps' per-request loop overhead, a
    large part of their CPU; see the README's figures) unless FLEETCTL_EVENT_LOOP=asyncio;
    else None (the standard loop)."""
    if os.environ.get(LOOP_ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_sync(coro: Awaitable[T]) -> T:
    """``asyncio.run`` on the fastest loop there is (:func:`loop_factory`), without formatting a
    big result's repr: on Python 3.11, restoring the SIGINT handler formats a ``repr`` of the
    main task, result included (0.09 s for a 1,200-check report); the main task returns nothing
    and the result goes around it."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())
    return box[0]
