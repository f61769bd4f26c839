"""A container's log in ``fleetctl tui`` (``l`` in the Fleet view): the tail read in a worker,
lines in batches into a bounded log, pause (lines held, shown on resume) and follow, search
(highlight, jump to the newest match, n/N), esc back closing the tail (its token cancelled and
``close()`` called), read-only allowed.

The tail is :func:`fleetctl.workflows.logs.tail` stood in by an iterator the test feeds (a quiet
container blocks its reader, as here between feeds); the lab's e2e reads real containers
(tests/e2e/test_fleet_tree_lab.py). The Fleet view's tree comes from ``prepare()`` on an inventory
under tmp_path (loopback addresses, nothing connected to).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path
from typing import Any

import pytest

from fleetctl.core.events import CancelToken
from fleetctl.spec.loader import load_inventory
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.tui.screens.fleet import FleetView
from fleetctl.tui.screens.logs import MATCH_STYLE, MAX_LINES, LogsView
from fleetctl.workflows import fleet as job
from fleetctl.workflows import logs as logs_job

_END = object()


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLEETCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FLEETCTL_INVENTORY", raising=False)


class FakeTail:
    """A LogTail's stand-in: the lines fed, one at a time; between them it blocks as a quiet
    container's follow does; ``close()`` (from any thread) ends it."""

    def __init__(self, cancel: CancelToken | None) -> None:
        self.cancel = cancel
        self.lines: queue.Queue[Any] = queue.Queue()
        self.closed = threading.Event()
        self.done = threading.Event()
        self.close_calls = 0

    def __iter__(self) -> FakeTail:
        return self

    def __next__(self) -> str:
        while not self.closed.is_set():
            try:
                item = self.lines.get(timeout=0.02)
            except queue.Empty:
                continue
            if item is _END:
                break
            return str(item)
        self.done.set()
        raise StopIteration

    def feed(self, *lines: str) -> None:
        for line in lines:
            self.lines.put(line)

    def end(self) -> None:
        self.lines.put(_END)

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()


class Tails:
    """logs.tail stood in: records each call, answers a FakeTail (or raises ``fail``)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.made: list[FakeTail] = []
        self.fail: Exception | None = None

    def __call__(self, fleet: Any, host: str, container: str, *, lines: int = 200, follow: bool = True,
                 cancel: CancelToken | None = None) -> FakeTail:
        self.calls.append({"hosts": sorted(fleet.hosts), "host": host, "container": container, "lines": lines,
                           "follow": follow, "cancel": cancel})
        if self.fail is not None:
            raise self.fail
        tail = FakeTail(cancel)
        self.made.append(tail)
        return tail


@pytest.fixture
def tails(monkeypatch: pytest.MonkeyPatch) -> Tails:
    t = Tails()
    monkeypatch.setattr(logs_job, "tail", t)
    return t


def inventory(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n    h2: {ansible_host: 127.0.0.2}\n")
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
        "chains:\n  eth:\n    clients: [geth, nethermind]\n    replicas: 2\n    max_client_share: 0.5\n"
        "    consensus_clients: [nimbus, lodestar]\n")
    return root


def app_for(inv: Path, **options: Any) -> FleetApp:
    tree = job.prepare(load_inventory(inv))
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "fleet", **options}
    return FleetApp(TuiOptions(**opts), fetchers={"fleet": lambda cancel: tree})


async def until(pilot: Any, check: Any, what: str, limit: int = 3000) -> None:
    for _ in range(limit):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never: {what}")


async def open_logs(pilot: Any, app: FleetApp) -> tuple[FleetView, LogsView, str]:
    """From the Fleet view: open h1's pair, l on its execution container."""
    fleet_view = app.screen
    assert isinstance(fleet_view, FleetView)
    await until(pilot, lambda: fleet_view.refreshed_at is not None, "the tree")
    pair = next(r for r in fleet_view.rows_by_id if r.startswith("h1/h1/pair/"))
    tree = fleet_view.query_one("#tree")
    tree.move_cursor(fleet_view.rows_by_id[pair])
    await pilot.press("enter", "down")
    entry = fleet_view.cursor_entry()
    assert entry is not None and entry.node.kind == "container" and entry.node.data["role"] == "node"
    await pilot.press("l")
    await until(pilot, lambda: isinstance(app.screen, LogsView), "the logs screen")
    screen = app.screen
    assert isinstance(screen, LogsView)
    return fleet_view, screen, entry.node.label


def shown(screen: LogsView) -> list[str]:
    return list(screen.query_one("#log").lines)


def test_follow_pause_resume_and_back_closes_the_tail(tmp_path: Path, tails: Tails) -> None:
    inv = inventory(tmp_path / "inv")

    async def run() -> None:
        app = app_for(inv, read_only=True)  # reading a log changes nothing: allowed read-only
        async with app.run_test(size=(100, 30)) as pilot:
            fleet_view, screen, name = await open_logs(pilot, app)
            assert app.breadcrumbs() == f"fleetctl ▸ fleet ▸ {name} logs"
            await until(pilot, lambda: tails.made, "the tail opened")
            (call,) = tails.calls
            assert (call["host"], call["container"], call["lines"], call["follow"]) == ("h1", name, 200, True)
            assert call["hosts"] == ["h1", "h2"] and isinstance(call["cancel"], CancelToken)
            tail = tails.made[0]

            tail.feed("first", "second", "[bold]not markup[/bold] \u2028 one line")
            await until(pilot, lambda: len(shown(screen)) == 3, "3 lines")
            assert shown(screen) == ["first", "second", "[bold]not markup[/bold]   one line"]
            assert "following" in screen.status_text and screen.status_text.endswith(" · 3 lines")

            await pilot.press("space")  # pause: the tail keeps reading, the lines are held
            assert screen.paused and "paused" in screen.status_text
            tail.feed("fourth", "fifth")
            await until(pilot, lambda: screen.received == 5, "5 lines read")
            assert len(shown(screen)) == 3 and list(screen.held) == ["fourth", "fifth"]
            assert "2 new held (space)" in screen.status_text
            await pilot.press("space")  # resume: the held lines shown, following again
            assert shown(screen)[-2:] == ["fourth", "fifth"] and not screen.paused and not screen.held
            tail.feed("sixth")
            await until(pilot, lambda: shown(screen)[-1:] == ["sixth"], "followed")
            await pilot.press("p", "p")  # p does the same
            assert not screen.paused

            await pilot.press("escape")  # back: the tail closed, its token cancelled
            assert app.screen is fleet_view
            assert tail.close_calls >= 1 and call["cancel"].cancelled
            await until(pilot, tail.done.is_set, "the reader ended")

    asyncio.run(run())


def test_search_highlights_jumps_and_esc_clears_first(tmp_path: Path, tails: Tails) -> None:
    inv = inventory(tmp_path / "inv")

    async def run() -> None:
        app = app_for(inv)
        async with app.run_test(size=(100, 30)) as pilot:
            fleet_view, screen, _ = await open_logs(pilot, app)
            await until(pilot, lambda: tails.made, "the tail opened")
            tail = tails.made[0]
            tail.feed("a ok", "b error one", "c ok", "d ERROR two", "e ok")
            await until(pilot, lambda: len(shown(screen)) == 5, "5 lines")
            log = screen.query_one("#log")

            await pilot.press("slash", *"err(or)")
            assert screen.pattern is not None and screen.match_lines() == [1, 3]
            assert "/err(or): 2 match(es)" in screen.status_text
            styled = log.highlighter(log.__class__._process_line(shown(screen)[3]))
            spans = [(styled.plain[sp.start:sp.end], str(sp.style)) for sp in styled.spans]
            assert ("ERROR", MATCH_STYLE) in spans  # case-insensitive
            await pilot.press("enter")  # to the newest match; paused there
            assert log.current == 3 and screen.paused and "(at 2)" in screen.status_text
            marked = log.render_line(3 - log.scroll_offset.y)  # the current match's line stands out
            assert any(seg.style is not None and seg.style.reverse for seg in marked)
            assert not any(seg.style is not None and seg.style.reverse for seg in log.render_line(1 - log.scroll_offset.y))
            assert log.has_focus
            await pilot.press("n")  # newer: none after it, wraps to the oldest
            assert log.current == 1
            await pilot.press("N")  # older: none before it, wraps to the newest
            assert log.current == 3
            await pilot.press("N")
            assert log.current == 1
            tail.feed("f error three")  # held while paused on a match
            await until(pilot, lambda: screen.received == 6, "6 lines read")
            assert screen.match_lines() == [1, 3]

            await pilot.press("escape")  # clears the search, stays
            assert app.screen is screen and screen.pattern is None and log.matches.pattern is None
            assert not screen.prompt.is_open
            await pilot.press("space")  # follow again: the held line shown
            assert shown(screen)[-1] == "f error three"
            await pilot.press("slash", *"[unclosed")  # no regex: matched literally
            assert screen.match_lines() == []
            await pilot.press("escape")
            tail.feed("datadir=/var/lib/geth")
            await until(pilot, lambda: screen.received == 7, "7 lines read")
            await pilot.press("slash", *"=/var/")  # '/' in the search is a character
            assert screen.pattern is not None and screen.pattern.pattern == "=/var/"
            assert screen.match_lines() == [len(shown(screen)) - 1]
            await pilot.press("escape", "escape")  # the search, then back
            assert app.screen is fleet_view and tail.close_calls >= 1

    asyncio.run(run())


def test_buffers_are_bounded(tmp_path: Path, tails: Tails) -> None:
    inv = inventory(tmp_path / "inv")

    async def run() -> None:
        app = app_for(inv)
        async with app.run_test(size=(100, 30)) as pilot:
            _, screen, _ = await open_logs(pilot, app)
            await until(pilot, lambda: tails.made, "the tail opened")
            tail = tails.made[0]
            tail.feed(*(f"line {i}" for i in range(MAX_LINES + 1000)))
            await until(pilot, lambda: screen.received == MAX_LINES + 1000, "every line read")
            assert len(shown(screen)) == MAX_LINES and shown(screen)[0] == "line 1000"
            await pilot.press("space")
            tail.feed(*(f"more {i}" for i in range(MAX_LINES + 10)))
            await until(pilot, lambda: screen.received == 2 * MAX_LINES + 1010, "every line read again")
            assert len(screen.held) == MAX_LINES and screen.held[0] == "more 10"
            assert f"{MAX_LINES + 10} new held, last {MAX_LINES} kept (space)" in screen.status_text
            assert shown(screen)[-1] == f"line {MAX_LINES + 999}"  # paused: nothing new on screen
            await pilot.press("space")
            assert len(shown(screen)) == MAX_LINES and shown(screen)[0] == "more 10"
            assert shown(screen)[-1] == f"more {MAX_LINES + 9}"

    asyncio.run(run())


def test_a_log_that_cannot_be_read_or_ends_says_so(tmp_path: Path, tails: Tails) -> None:
    inv = inventory(tmp_path / "inv")

    async def run() -> None:
        app = app_for(inv)
        async with app.run_test(size=(100, 30)) as pilot:
            tails.fail = logs_job.LogsError("h1: no fleetctl container named x (fleetctl runs none there)")
            fleet_view, screen, _ = await open_logs(pilot, app)
            await until(pilot, lambda: screen.ended is not None, "the failure")
            assert screen.error == "h1: no fleetctl container named x (fleetctl runs none there)"
            assert "log failed" in screen.status_text
            assert "no fleetctl container named x" in str(screen.query_one("#status").render())
            await pilot.press("escape")
            assert app.screen is fleet_view

            tails.fail = None
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LogsView) and app.screen is not screen, "logs again")
            screen = app.screen
            await until(pilot, lambda: len(tails.made) == 1, "the tail opened")
            tails.made[0].feed("last words")
            tails.made[0].end()  # the container stopped
            await until(pilot, lambda: screen.ended is not None, "the end")
            assert shown(screen) == ["last words"] and screen.error is None
            assert "log ended: the container stopped or the stream closed" in screen.status_text

    asyncio.run(run())


def test_quitting_with_a_log_open_closes_the_tail(tmp_path: Path, tails: Tails) -> None:
    inv = inventory(tmp_path / "inv")
    holder: list[FakeTail] = []

    async def run() -> None:
        app = app_for(inv)
        async with app.run_test(size=(100, 30)) as pilot:
            await open_logs(pilot, app)
            await until(pilot, lambda: tails.made, "the tail opened")
            holder.append(tails.made[0])
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(run())
    (tail,) = holder
    assert tail.close_calls >= 1 and tail.cancel is not None and tail.cancel.cancelled
    assert tail.done.wait(5)
