"""``fleetctl tui``: the app's chrome over a real Pocket stand-in (fleetlab.standin on 127.0.0.1).

The Stakes view is the table view under test here (the other views have their own files): the
app switches views with ``:``, filters live, describes and drills down, keeps the cursor on the
same supplier across refreshes while the chain changes under it, shows a refresh error and
recovers from it, refuses changes in read-only mode and quits with exit code 0. The command's
own checks (terminal, --refresh, --view, a bad inventory) run the installed console script.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual import events

from conftest import run_cli
from fleetlab.standin import PocketStandin, lab_address
from fleetctl.core.levels import Level
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.tui.rows import bar, describe_text, parse_filter, Row

POKT = 1_000_000
MIN = 1_000 * POKT
NAMES = {"risky": MIN + 10 * POKT, "middle": MIN + 60 * POKT, "safe": MIN + 500 * POKT,
         "safer": MIN + 700 * POKT}


def addr(name: str) -> str:
    return lab_address(f"tui-test-{name}")


@pytest.fixture()
def chain() -> Iterator[PocketStandin]:
    suppliers = [{"operator_address": addr(n), "stake_upokt": s} for n, s in NAMES.items()]
    seed = {"height": 1000,
            "shannon": {"params": {"supplier": {"min_stake": MIN}, "proof": {"proof_missing_penalty": POKT},
                                   "shared": {"num_blocks_per_session": 10,
                                              "supplier_unbonding_period_sessions": 2}},
                        "suppliers": suppliers},
            "balances": {addr(n): 50 * POKT for n in NAMES}}
    server = PocketStandin(seed).start()
    yield server
    server.stop()


def inventory(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    lines = "\n".join(f"  - {{name: {n}, operator_address: '{addr(n)}', services: [eth]}}" for n in NAMES)
    (root / "fleet.yml").write_text(
        f"protocol: shannon\npocket: {{rest_url: '{url}'}}\n"
        "chains:\n  eth: {clients: [geth], replicas: 1}\n"
        f"suppliers:\n{lines}\n"
        "stake: {warning_margin: 100 POKT, critical_margin: 20 POKT, min_operator_balance: 10 POKT}\n")
    return root


def app_for(inv: Path, tmp_path: Path, **options: Any) -> FleetApp:
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "stakes", "db": str(tmp_path / "state.db"), **options}
    return FleetApp(TuiOptions(**opts))


async def refreshed(pilot: Any, screen: Any, after: float | None = None, limit: int = 400) -> None:
    """Wait until ``screen`` applied a refresh newer than ``after`` (or failed one): no time bound
    is asserted, the loop only gives the worker thread its turn."""
    for _ in range(limit):
        await pilot.pause(0.05)
        if screen.refreshed_at is not None and screen.refreshed_at != after and not screen._inflight:
            return
        if screen.error and not screen._inflight:
            return
    raise AssertionError(f"no refresh: {screen.status_text} {screen.error}")


def names(screen: Any) -> list[str]:
    return [str(r.cells[1]) for r in screen.shown]


# ----------------------------------------------------------------------------- pure parts


def test_filter_regex_invert_and_literal() -> None:
    rows = [Row("a", ("OK", "lab-sup-1")), Row("b", ("CRITICAL", "lab-sup-22")), Row("c", ("OK", "x[1"))]
    assert [r.key for r in parse_filter("sup-2").apply(rows)] == ["b"]
    assert [r.key for r in parse_filter("!sup").apply(rows)] == ["c"]
    assert [r.key for r in parse_filter("^ok").apply(rows)] == ["a", "c"]  # case-insensitive regex
    f = parse_filter("x[1")  # not a regex: matched literally
    assert f.literal and [r.key for r in f.apply(rows)] == ["c"]
    assert [r.key for r in parse_filter("").apply(rows)] == ["a", "b", "c"]


def test_bar_and_describe() -> None:
    assert bar(0.5, 4) == "██  " and bar(None, 3) == "?  " and bar(2.0, 2) == "██"
    assert bar(0.0, 10, mark=0.5)[5] == "│" and bar(1.0, 10, mark=0.5)[5] == "┃"
    text = describe_text({"url": "http://user:hunter2@10.0.0.1:8545/key/abc", "level": Level.WARNING})
    assert "hunter2" not in text and '"WARNING"' in text


# ----------------------------------------------------------------------------- the app


def test_views_filter_describe_drill_and_quit(chain: PocketStandin, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", chain.shannon_url)
    from fleetctl.workflows.stakes import execute
    from fleetctl.spec.loader import load_inventory

    execute(load_inventory(inv), db=tmp_path / "state.db")  # one recorded run: the history to drill into
    chain.control.slash_supplier(addr("risky"), 5 * POKT)
    execute(load_inventory(inv), db=tmp_path / "state.db")

    async def run() -> None:
        app = app_for(inv, tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert app.current_mode == "stakes" and screen.error is None
            assert names(screen) == ["risky", "middle", "safe", "safer"]  # riskiest first
            assert screen.shown[0].level is Level.CRITICAL
            # live filter, inverted, cleared
            await pilot.press("slash", *"saf")
            assert names(screen) == ["safe", "safer"]
            await pilot.press("backspace", "backspace", "backspace", "exclamation_mark", *"saf")
            assert names(screen) == ["risky", "middle"]
            await pilot.press("enter")  # keeps the filter, back to the table
            assert screen.filter.text == "!saf" and "filter /!saf" in screen.status_text
            await pilot.press("escape")
            assert names(screen) == ["risky", "middle", "safe", "safer"] and not screen.filter
            # the cursor followed "middle" (the one row every filter step kept); back to the top
            assert screen.current_row().cells[1] == "middle"
            await pilot.press("up")
            # describe: every field of the supplier
            await pilot.press("d")
            assert type(app.screen).__name__ == "DescribeScreen"
            assert f'"address": "{addr("risky")}"' in app.screen.text
            assert '"penalties_to_minimum"' in app.screen.text
            await pilot.press("escape")
            assert app.screen is screen
            # drill down: the history with its slash, breadcrumbs, back
            await pilot.press("enter")
            history = app.screen
            assert type(history).__name__ == "StakeHistoryView"
            await refreshed(pilot, history)
            assert app.breadcrumbs() == "fleetctl ▸ stakes ▸ risky history"
            assert len(history.shown) == 2 and "1 slash" in str(history.query_one("#slashes").render())
            await pilot.press("escape")
            assert app.screen is screen
            # the command bar: an alias, an unknown word (a notice, no switch), back again
            await pilot.press("colon", *"s", "enter")
            assert app.current_mode == "stakes"
            await pilot.press("colon", *"nope", "enter")
            assert app.current_mode == "stakes"
            assert any("no view 'nope'" in str(n.message) for n in app._notifications)
            # help lists the view's keys and the app's
            await pilot.press("question_mark")
            help_rows = app.screen.rows
            keys = {r[1] for r in help_rows}
            assert {"filter", "describe", "open", "refresh", "command", "quit"} <= keys
            await pilot.press("escape")
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(run())


def test_cursor_kept_across_refresh_and_refresh_error_recovered(chain: PocketStandin, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", chain.shannon_url)

    async def run() -> None:
        app = app_for(inv, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            await pilot.press("down", "down")  # on "safe"
            assert screen.current_row().cells[1] == "safe"
            # the chain changes under it: "safe" is slashed to the riskiest and moves up
            chain.control.slash_supplier(addr("safe"), 495 * POKT)
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert names(screen)[0] == "safe"
            assert screen.current_row().cells[1] == "safe"  # the cursor followed the supplier
            # the inventory breaks: the error shows, the rows stay, the next good refresh clears it
            good = (inv / "fleet.yml").read_text()
            (inv / "fleet.yml").write_text(good.replace("protocol: shannon", "protocol: nonsense"))
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert screen.error and "refresh failed" in screen.error and "protocol" in screen.error
            assert names(screen)[0] == "safe" and screen.current_row().cells[1] == "safe"
            (inv / "fleet.yml").write_text(good)
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert screen.error is None and screen.current_row().cells[1] == "safe"
    asyncio.run(run())


def test_read_only_refuses_and_says_so(chain: PocketStandin, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", chain.shannon_url)

    async def run() -> None:
        app = app_for(inv, tmp_path, read_only=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await refreshed(pilot, app.screen)
            assert app.refuse_if_read_only("apply") is True
            await pilot.pause()
            assert any("read-only: apply refused" in str(n.message) for n in app._notifications)
            assert "read-only" in str(app.screen.query_one("#status").render())
        writable = app_for(inv, tmp_path)
        async with writable.run_test(size=(80, 24)):
            assert writable.refuse_if_read_only("apply") is False
    asyncio.run(run())


def test_confirmation_shows_the_cli_command_refused_and_accepted(chain: PocketStandin, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", chain.shannon_url)
    done: list[str] = []

    async def run() -> None:
        app = app_for(inv, tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            app.confirm("apply", ["lab-h1: 2 to create"], "fleetctl apply --limit lab-h1 --yes",
                        lambda: done.append("yes"))
            await pilot.pause()
            assert "fleetctl apply --limit lab-h1 --yes" in str(app.screen.query_one("#confirm-command").render())
            await pilot.press("n")
            assert done == []
            app.confirm("apply", ["lab-h1"], "fleetctl apply --yes", lambda: done.append("yes"))
            await pilot.pause()
            await pilot.press("y")
            assert done == ["yes"]
    asyncio.run(run())


# ----------------------------------------------------------------------------- the command


def test_command_needs_a_terminal_and_checks_its_options(chain: PocketStandin, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", chain.shannon_url)
    proc = run_cli("-i", str(inv), "tui", timeout=30)  # stdin/stdout are pipes here
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "needs a terminal" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("-i", str(inv), "tui", "--refresh", "0.2s", timeout=30)
    assert proc.returncode == 2 and "--refresh" in proc.stderr
    proc = run_cli("-i", str(inv), "tui", "--view", "nope", timeout=30)
    assert proc.returncode == 2 and "--view 'nope'" in proc.stderr
    (inv / "fleet.yml").write_text("protocol: shannon\nchains: [\n")
    proc = run_cli("-i", str(inv), "tui", timeout=30)
    assert proc.returncode == 2 and "fleet.yml" in proc.stderr and "Traceback" not in proc.stderr


def test_help_and_other_commands_do_not_import_textual() -> None:
    code = ("import sys\nfrom fleetctl.cli import main\n"
            "for argv in (['--help'], ['tui', '--help'], ['validate', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('textual' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


# ----------------------------------------------------------------------------- the fetch process


@pytest.fixture()
def process_for(tmp_path: Path) -> Iterator[Any]:
    from fleetctl.tui.fetch import start_process

    started: list[Any] = []

    def start(options: TuiOptions) -> Any:
        started.append(start_process(options))
        return started[-1]
    yield start
    for p in started:
        p.close()
        assert not p._proc.is_alive()


def test_first_read_asked_before_the_app_is_the_first_views(chain: PocketStandin, tmp_path: Path,
                                                              process_for: Any) -> None:
    """fleetctl tui asks the fetch process for the first view's read before textual is imported;
    the view shows that result (read before the chain changed), and its next refresh reads anew
    (in the process too)."""
    from fleetctl.tui.fetch import Prefetch
    from fleetctl.tui.source import Source

    inv = inventory(tmp_path / "inv", chain.shannon_url)
    options = TuiOptions(inventory=str(inv), refresh_s=0, start="stakes", db=str(tmp_path / "state.db"))
    source = Source(options, process=process_for(options))
    prefetch = Prefetch("stakes", source)
    assert prefetch.call.done.wait(60)  # read now: "middle" is second
    chain.control.slash_supplier(addr("safer"), 695 * POKT)  # ... and now "safer" is the riskiest

    async def run() -> None:
        app = FleetApp(options, source=source, prefetch=prefetch)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert names(screen) == ["risky", "middle", "safe", "safer"]  # what was prefetched
            assert prefetch.taken and prefetch.take() is None  # once
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert names(screen)[0] == "safer"  # a read of its own
            await pilot.press(":", *"health", "enter")  # another view never takes it
            await pilot.pause(0.2)
            assert app.fetcher(app.screen) is None
    asyncio.run(run())


def test_fetch_process_reads_what_a_thread_reads_errors_cancel_and_death(chain: PocketStandin, tmp_path: Path,
                                                                         process_for: Any) -> None:
    from fleetctl.core.events import Cancelled, CancelToken
    from fleetctl.tui import fetch
    from fleetctl.tui.fetch_process import ProcessGone
    from fleetctl.tui.source import Source, SourceError

    inv = inventory(tmp_path / "inv", chain.shannon_url)
    options = TuiOptions(inventory=str(inv), refresh_s=0, start="stakes", db=str(tmp_path / "state.db"))
    process = process_for(options)
    remote, local = Source(options, process=process), Source(options)
    a = fetch.run("stakes", remote, CancelToken())
    b = fetch.run("stakes", local, CancelToken())
    assert [s.as_dict() for s in a.suppliers] == [s.as_dict() for s in b.suppliers]
    assert a.nagios_line().split(" | ")[0] == b.nagios_line().split(" | ")[0]
    # a bad inventory: the process's error is the one a thread would raise
    good = (inv / "fleet.yml").read_text()
    (inv / "fleet.yml").write_text(good.replace("protocol: shannon", "protocol: nonsense"))
    with pytest.raises(SourceError, match="protocol") as remote_error:
        fetch.run("stakes", remote, CancelToken())
    with pytest.raises(SourceError) as local_error:
        fetch.run("stakes", local, CancelToken())
    assert str(remote_error.value) == str(local_error.value)
    (inv / "fleet.yml").write_text(good)
    # cancelled: the wait ends at once with Cancelled; the process goes on serving
    token = CancelToken()
    call = process.submit("health")
    token.cancel("view closed")
    with pytest.raises(Cancelled):
        call.wait(token)
    assert fetch.run("alerts", remote, CancelToken()) is not None
    # a view that is not read there is refused by the process (never run twice)
    with pytest.raises(ProcessGone):
        process.submit("runs").wait(CancelToken())
    # the process dies: the calls in flight end with ProcessGone, reads fall back to the thread
    process._proc.kill()
    process._proc.join(5)
    for _ in range(100):
        if not process.alive:
            break
        process._reader.join(0.02)
    assert not process.alive and "exited" in str(process.gone)
    c = fetch.run("stakes", remote, CancelToken())
    assert [s.name for s in c.suppliers] == [s.name for s in b.suppliers]


def test_a_result_is_decoded_by_its_waiter_once_the_typing_pauses(chain: PocketStandin, tmp_path: Path,
                                                                 process_for: Any, monkeypatch: Any) -> None:
    """Unpickling a big result holds the GIL (Health: 16 ms): the pipe's reader thread leaves it
    to the thread that waits for the result, which waits while ``hold()`` says the operator types
    (HOLD_MAX_S at most); a cancel during the hold ends the wait; bytes that cannot be decoded are
    an error, not a crash."""
    import threading

    from fleetctl.core.events import Cancelled, CancelToken
    from fleetctl.tui import fetch_process
    from fleetctl.tui.fetch_process import RemoteCall

    from fleetctl.tui import fetch
    from fleetctl.tui.source import Source

    inv = inventory(tmp_path / "inv", chain.shannon_url)
    options = TuiOptions(inventory=str(inv), refresh_s=0, start="stakes", db=str(tmp_path / "state.db"))
    process = process_for(options)
    names = [s.name for s in fetch.run("stakes", Source(options), CancelToken()).suppliers]  # read here
    typing = threading.Event()
    typing.set()
    asked_by: set[str] = set()

    def hold() -> bool:
        asked_by.add(threading.current_thread().name)
        return typing.is_set()
    process.hold = hold
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(process.submit("stakes").wait(CancelToken())), name="waiter")
    waiter.start()
    waiter.join(1.5)
    assert waiter.is_alive() and not got and asked_by == {"waiter"}  # arrived, held, decoded by nobody
    typing.clear()
    waiter.join(5)
    assert not waiter.is_alive() and [s.name for s in got[0].suppliers] == names
    # cancelled while held: Cancelled, at once
    typing.set()
    token = CancelToken()
    call = process.submit("stakes")
    call.done.wait(10)
    threading.Timer(0.2, token.cancel, args=("view closed",)).start()
    with pytest.raises(Cancelled):
        call.wait(token)
    # the hold is bounded (typing that never pauses)
    monkeypatch.setattr(fetch_process, "HOLD_MAX_S", 0.3)
    assert [s.name for s in process.submit("stakes").wait(CancelToken()).suppliers] == names
    # bytes that are not a pickle: an error naming the cause
    process.hold = None
    broken = RemoteCall(process, 99, "stakes")
    broken.finish(payload=b"not a pickle")
    with pytest.raises(RuntimeError, match="could not be read"):
        broken.wait(CancelToken())


def test_remote_call_replays_the_latest_event_then_follows() -> None:
    from fleetctl.core.events import CancelToken
    from fleetctl.tui.fetch_process import RemoteCall

    call = RemoteCall(None, 1, "fleet")  # type: ignore[arg-type]
    seen: list[str] = []
    call.event("1/3")
    call.event("2/3")
    call.listen(seen.append)
    call.event("3/3")
    call.finish(result="tree")
    assert seen == ["2/3", "3/3"] and call.wait(CancelToken()) == "tree"
    failed = RemoteCall(None, 2, "stakes")  # type: ignore[arg-type]
    failed.finish(error=ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        failed.wait(CancelToken())


def test_rows_are_built_off_the_screens_thread_and_a_bad_result_is_an_error(chain: PocketStandin,
                                                                              tmp_path: Path) -> None:
    import threading

    from fleetctl.tui.screens.stakes import StakesView

    inv = inventory(tmp_path / "inv", chain.shannon_url)
    threads: list[str] = []
    real = StakesView.rows

    def rows(self: Any, result: Any) -> Any:
        threads.append(threading.current_thread().name)
        if getattr(self, "_break", False):
            raise KeyError("stake")
        return real(self, result)

    async def run() -> None:
        app = app_for(inv, tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert threads and threading.main_thread().name not in threads
            screen._break = True
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            for _ in range(200):
                await pilot.pause(0.05)
                if screen.error:
                    break
            assert screen.error and "refresh failed" in screen.error and "KeyError" in screen.error
            assert screen.refreshed_at == before and names(screen)[0] == "risky"  # the rows stay
    StakesView.rows = rows  # type: ignore[method-assign]
    try:
        asyncio.run(run())
    finally:
        StakesView.rows = real  # type: ignore[method-assign]


def test_a_summary_that_grows_gets_its_lines(chain: PocketStandin, tmp_path: Path) -> None:
    """The summary line's height follows its text: a short one, then one that wraps at 80
    columns, shows whole (a refresh updates it without re-laying out the screen only when the
    text is the same)."""
    inv = inventory(tmp_path / "inv", chain.shannon_url)
    healthy = {n: MIN + 900 * POKT for n in NAMES}
    for n, s in healthy.items():
        chain.control.upsert_supplier({"operator_address": addr(n), "stake_upokt": s, "services": ["eth"]})

    async def run() -> None:
        app = app_for(inv, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            summary = screen.query_one("#summary")
            assert summary.size.height == 1, screen.summary(screen.result)
            chain.control.slash_supplier(addr("risky"), 895 * POKT)
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            await pilot.pause(0.1)
            text = screen.summary(screen.result)
            assert len(text) > 78 and summary.size.height >= 2, (text, summary.size)
    asyncio.run(run())


def test_the_filter_line_keeps_the_focus_on_the_table(chain: PocketStandin, tmp_path: Path) -> None:
    """k9s' way: '/' opens a line in the status bar and the table keeps the focus (the footer
    and the layout never change); letters the app or the view bind (q, d, ':', '/') are text
    while it is open; cursor keys still move the table's cursor; a paste lands in it."""
    inv = inventory(tmp_path / "inv", chain.shannon_url)

    async def run() -> None:
        app = app_for(inv, tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            table = screen.query_one("#table")
            def footer() -> list[tuple[str, str]]:  # the keys it lists (their drawing varies with the width)
                return [(k.key, k.description) for k in app.screen.query("FooterKey")]

            footer_keys = footer()
            for _ in range(100):  # the footer lists the bindings once it has recomposed (later under load)
                if footer_keys:
                    break
                await pilot.pause(0.05)
                footer_keys = footer()
            await pilot.press("slash")
            assert screen.prompt.is_open and app.focused is table
            status = screen.query_one("#status")
            assert str(status.render()).startswith("/ ") and "filter (regex" in str(status.render())
            await pilot.press("q", "d", "colon", "slash")
            assert app.is_running and app.screen is screen and not screen.query_one("CommandBar").display
            assert screen.filter.text == "qd:/" and names(screen) == []
            await pilot.press("ctrl+u")
            assert screen.filter.text == "" and names(screen) == ["risky", "middle", "safe", "safer"]
            await pilot.press("down", "down")  # the table's, while the line stays open
            assert table.cursor_row == 2 and screen.prompt.is_open
            app.screen.post_message(events.Paste("saf\nignored"))
            await pilot.pause()
            assert screen.filter.text == "saf" and names(screen) == ["safe", "safer"]
            assert str(status.render()).startswith("/saf")
            await pilot.press("enter")  # kept; the line closes, the status line says the filter
            assert not screen.prompt.is_open and screen.filter.text == "saf"
            assert not str(status.render()).startswith("/") and "filter /saf" in str(status.render())
            await pilot.press("d")  # a binding again: describe
            assert type(app.screen).__name__ == "DescribeScreen"
            await pilot.press("escape")
            await pilot.press("slash")
            assert screen.prompt.value == "saf"  # reopened with the filter in force
            await pilot.press("escape")  # clears and closes
            assert not screen.prompt.is_open and not screen.filter and len(names(screen)) == 4
            assert footer() == footer_keys and footer_keys
            assert app.focused is table
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(run())


def test_a_refresh_waits_while_the_operator_types_but_not_for_ever(chain: PocketStandin, tmp_path: Path) -> None:
    """"Never blocks typing": a sweep that ends while keys come is turned into rows and applied
    once they pause (its CPU work would take the keys' turn), and at DEFER_S at the latest."""
    import time

    inv = inventory(tmp_path / "inv", chain.shannon_url)

    async def run() -> None:
        app = app_for(inv, tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            done: list[float] = []

            def recorded(cancel: Any) -> Any:
                result = screen.fetch(app.source, cancel)
                done.append(time.monotonic())
                return result

            app.fetchers["stakes"] = recorded

            async def type_until(stop: Any, limit: float) -> None:
                start = time.monotonic()
                while not stop() and time.monotonic() - start < limit:
                    await pilot.press("down" if len(done) % 2 else "up")
                    await pilot.pause(0.03)

            # 1. the sweep ends while keys come: nothing applied until they pause
            screen.DEFER_S = 30.0
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await type_until(lambda: bool(done) and time.monotonic() - done[0] > 0.6, 20)
            assert done, "the sweep did not end"
            assert screen.refreshed_at == before and screen._inflight
            await refreshed(pilot, screen, before)  # no keys now: applied
            assert screen.refreshed_at != before
            # 2. keys without a pause: applied at DEFER_S anyway
            screen.DEFER_S = 0.5
            done.clear()
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await type_until(lambda: screen.refreshed_at != before, 20)
            assert screen.refreshed_at != before and done
            assert time.monotonic() - done[0] < 10

    asyncio.run(run())
