"""asyncio helpers every job shares: await a coroutine unless a CancelToken is cancelled first
(the sweeps, diversity, claims), and run one coroutine from synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
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


def run_sync(coro: Awaitable[T]) -> T:
    """``asyncio.run`` without formatting a big result's repr (the main task returns nothing)."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
