"""fleetctl.core.aio.run_sync: uvloop's loop when installed (a dependency), the standard one with
FLEETCTL_EVENT_LOOP=asyncio; the coroutine's value comes back either way."""

from __future__ import annotations

import asyncio

import pytest

from fleetctl.core.aio import LOOP_ENV, loop_factory, run_sync


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_by_default_and_the_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(LOOP_ENV, raising=False)
    assert loop_factory() is uvloop.new_event_loop
    assert run_sync(_loop_module()).startswith("uvloop")
    for value in ("asyncio", " AsyncIO "):
        monkeypatch.setenv(LOOP_ENV, value)
        assert loop_factory() is None
        assert run_sync(_loop_module()).startswith("asyncio")


def test_an_exception_comes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOOP_ENV, raising=False)

    async def boom() -> None:
        raise ValueError("bad answer")

    with pytest.raises(ValueError, match="bad answer"):
        run_sync(boom())
