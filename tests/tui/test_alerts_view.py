"""The Alerts view of ``fleetctl tui`` over a real alert store (fleetctl.health.alerts) in tmp_path.

Rows come firing first, then pending, muted and acked, then the silences; ``m`` mutes, ``a``
acknowledges and ``u`` unmutes the selected row after asking how long and confirming with the
exact ``fleetctl alerts`` command, and the store shows it; a bad duration, a refused
confirmation and ``--read-only`` change nothing; a failed refresh is shown and the next good one
clears it without moving the cursor off its alert.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from pathlib import Path
from typing import Any

from fleetctl.health.alerts import AlertStore, Observation
from fleetctl.spec.model import AlertPolicy
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.workflows.alerts import list_alerts


def inventory(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (root / "fleet.yml").write_text("protocol: shannon\npocket: {rest_url: 'http://127.0.0.1:9'}\n"
                                    "chains:\n  eth: {clients: [geth], replicas: 1}\n")
    return root


def obs(target: str, level: str = "CRITICAL", kind: str = "execution") -> Observation:
    return Observation(target, kind, level, f"{target} is {level.lower()}", {"chain": "eth"})


def seed(db: Path, *, extra: tuple[str, ...] = ()) -> None:
    """eth-a firing, eth-b firing under a wider silence, eth-e firing and acked, eth-c pending."""
    store = AlertStore(db)
    now = time.time()
    firing = [obs("eth-a"), obs("eth-b", "WARNING"), obs("eth-e"), *(obs(t) for t in extra)]
    store.record_run(firing, AlertPolicy(after=1), run_started_at=now - 20, now=now - 20)
    store.record_run([*firing, obs("eth-c", "WARNING")], AlertPolicy(after=3), run_started_at=now - 10, now=now - 10)
    store.mute("execution/eth-b*", now + 3600, "maintenance", now=now)
    assert [a.key for a in store.ack("execution/eth-e", now + 7200, now=now)] == ["execution/eth-e"]


def app_for(inv: Path, db: Path, **options: Any) -> FleetApp:
    fetchers = options.pop("fetchers", None)
    return FleetApp(TuiOptions(**{"inventory": str(inv), "refresh_s": 0, "start": "alerts", "db": str(db),
                                  **options}), fetchers=fetchers)


async def refreshed(pilot: Any, screen: Any, after: float | None = None, limit: int = 400) -> None:
    """Wait until ``screen`` applied a refresh newer than ``after`` (or failed one); no time is asserted."""
    for _ in range(limit):
        await pilot.pause(0.05)
        if screen.refreshed_at is not None and screen.refreshed_at != after and not screen._inflight:
            return
        if screen.error and not screen._inflight:
            return
    raise AssertionError(f"no refresh: {screen.status_text} {screen.error}")


async def until(pilot: Any, check: Any, what: str, limit: int = 400) -> None:
    for _ in range(limit):
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError(f"never happened: {what}")


def statuses(screen: Any) -> list[tuple[str, str]]:
    return [(str(r.cells[0]), str(r.cells[2])) for r in screen.shown]


def state(db: Path) -> tuple[list[tuple[str, str, bool, bool]], list[tuple[str, str]]]:
    listed = list_alerts(db)
    return ([(a.key, a.state, bool(a.muted_until), bool(a.acked_until)) for a in listed.alerts],
            [(s.pattern, s.reason) for s in listed.silences])


def notices(app: FleetApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def select(screen: Any, key: str) -> None:
    keys = [r.key for r in screen.shown]
    screen.query_one("#table").move_cursor(row=keys.index(key), animate=False)


def test_rows_firing_pending_muted_acked_then_silences(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fleetctl.db"
    seed(db)

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), db)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert screen.error is None
            assert statuses(screen) == [("firing", "execution/eth-a"), ("pending", "execution/eth-c"),
                                        ("muted", "execution/eth-b"), ("acked", "execution/eth-e"),
                                        ("silence", "#1 execution/eth-b*")]
            assert "maintenance; matches execution/eth-b" in str(screen.shown[-1].cells[-1])
            summary = str(screen.query_one("#summary").render())
            assert "1 firing, 1 pending, 1 muted, 1 acked; 1 silence(s)" in summary
            await pilot.press("d")
            assert '"key": "execution/eth-a"' in app.screen.text and '"runs": 2' in app.screen.text
    asyncio.run(run())


def test_mute_asks_confirms_with_the_cli_command_and_the_store_shows_it(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fleetctl.db"
    seed(db)
    before = state(db)

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), db)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            assert screen.current_row().key == "alert:execution/eth-a"
            # refused at the confirmation: nothing changes
            await pilot.press("m")
            assert type(app.screen).__name__ == "DurationScreen"
            assert app.screen.query_one("#duration").value == "1h"
            await pilot.press("enter")
            assert type(app.screen).__name__ == "ConfirmScreen"
            command = app.screen.command
            assert command == f"fleetctl alerts mute execution/eth-a --for 1h --db {shlex.quote(str(db))}"
            await pilot.press("n")
            assert app.screen is screen and state(db) == before
            # accepted, with a reason (quoted in the command): the store has the silence
            await pilot.press("m")
            duration = app.screen.query_one("#duration")
            duration.value = "30m"
            app.screen.query_one("#duration-reason").value = "rolling upgrade"
            await pilot.press("enter")
            assert app.screen.command == (f"fleetctl alerts mute execution/eth-a --for 30m --reason 'rolling upgrade' "
                                          f"--db {shlex.quote(str(db))}")
            await pilot.press("y")
            await until(pilot, lambda: ("execution/eth-a", "rolling upgrade") in state(db)[1], "the mute")
            alerts = {k: muted for k, _, muted, _ in state(db)[0]}
            assert alerts["execution/eth-a"] is True and alerts["execution/eth-c"] is False
            # the view refreshed after it: eth-a is muted now, the cursor still on it
            await until(pilot, lambda: ("muted", "execution/eth-a") in statuses(screen), "the refresh")
            assert screen.current_row().key == "alert:execution/eth-a"
            assert any(n.startswith("muted execution/eth-a until ") for n in notices(app))
    asyncio.run(run())


def test_ack_and_unmute(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fleetctl.db"
    seed(db)

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), db)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            # a pending alert cannot be acknowledged: said, nothing asked
            select(screen, "alert:execution/eth-c")
            await pilot.press("a")
            assert app.screen is screen
            assert any("only a firing alert can be acknowledged" in n for n in notices(app))
            # ack eth-a with the CLI's default (24h)
            select(screen, "alert:execution/eth-a")
            await pilot.press("a")
            assert app.screen.query_one("#duration").value == "24h"
            await pilot.press("enter")
            assert app.screen.command == f"fleetctl alerts ack execution/eth-a --for 24h --db {shlex.quote(str(db))}"
            await pilot.press("y")
            await until(pilot, lambda: ("execution/eth-a", "firing", False, True) in state(db)[0], "the ack")
            await until(pilot, lambda: ("acked", "execution/eth-a") in statuses(screen), "the refresh")
            # unmute on the silence row: by its id
            select(screen, "silence:1")
            await pilot.press("u")
            assert app.screen.command == f"fleetctl alerts unmute 1 --db {shlex.quote(str(db))}"
            await pilot.press("y")
            await until(pilot, lambda: state(db)[1] == [], "the unmute")
            await until(pilot, lambda: ("firing", "execution/eth-b") in statuses(screen), "the refresh")
            # unmute on an acked alert: its key (removes the ack)
            select(screen, "alert:execution/eth-e")
            await pilot.press("u")
            assert app.screen.command == f"fleetctl alerts unmute execution/eth-e --db {shlex.quote(str(db))}"
            await pilot.press("y")
            await until(pilot, lambda: ("execution/eth-e", "firing", False, False) in state(db)[0], "the ack removed")
            assert any("1 silence(s)/ack(s) removed" in n for n in notices(app))
            # an alert neither muted nor acked: nothing to unmute
            select(screen, "alert:execution/eth-c")
            await pilot.press("u")
            assert app.screen is screen and any("neither muted nor acked" in n for n in notices(app))
    asyncio.run(run())


def test_a_bad_duration_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fleetctl.db"
    seed(db)
    before = state(db)

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), db)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            await pilot.press("m")
            modal = app.screen
            for bad in ("soon", "0", "-5m", "99999d", ""):
                modal.query_one("#duration").value = bad
                await pilot.press("enter")
                assert app.screen is modal, bad  # still asking: no confirmation
                error = str(modal.query_one("#duration-error").render())
                assert "is not a duration" in error and "\n" not in error.strip(), bad
            await pilot.press("escape")
            assert app.screen is screen
            assert any("mute execution/eth-a: not done" in n for n in notices(app))
            assert state(db) == before
    asyncio.run(run())


def test_read_only_refuses_and_the_store_is_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fleetctl.db"
    seed(db)
    before = state(db)

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), db, read_only=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            for key, what in (("m", "mute"), ("a", "ack")):
                await pilot.press(key)
                assert app.screen is screen, key  # nothing asked, nothing confirmed
                assert any(f"read-only: {what} refused" in n for n in notices(app))
            select(screen, "silence:1")
            await pilot.press("u")
            assert app.screen is screen and any("read-only: unmute refused" in n for n in notices(app))
            await pilot.pause()
            assert state(db) == before
    asyncio.run(run())


def test_refresh_error_shown_then_cleared_with_the_cursor_kept(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fleetctl.db"
    seed(db)
    broken = {"on": False}

    def fetch(cancel: Any) -> Any:
        if broken["on"]:
            raise OSError("disk on fire")
        return list_alerts(db)

    async def run() -> None:
        app = app_for(inventory(tmp_path / "inv"), db, fetchers={"alerts": fetch})
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await refreshed(pilot, screen)
            select(screen, "alert:execution/eth-b")
            index = screen.query_one("#table").cursor_row
            broken["on"] = True
            before = screen.refreshed_at
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert screen.error and "refresh failed" in screen.error and "OSError: disk on fire" in screen.error
            assert "disk on fire" in str(screen.query_one("#status").render())
            assert screen.current_row().key == "alert:execution/eth-b"  # the rows stay
            # meanwhile two more alerts fire: they sort before eth-b, which moves down
            AlertStore(db).record_run([obs(t) for t in ("eth-a", "eth-b", "eth-e", "eth-c", "eth-0", "eth-1")],
                                      AlertPolicy(after=1), run_started_at=time.time(), now=time.time())
            broken["on"] = False
            await pilot.press("ctrl+r")
            await refreshed(pilot, screen, before)
            assert screen.error is None
            assert "refresh failed" not in str(screen.query_one("#status").render())
            assert screen.current_row().key == "alert:execution/eth-b"
            assert screen.query_one("#table").cursor_row == index + 2
    asyncio.run(run())
