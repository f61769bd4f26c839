"""The Scale view of ``fleetctl tui``: the what-if table with its inputs, recomputed as you type, and
``a``: scale apply after a confirmation.

The table is read from a real Pocket stand-in (fleetlab.standin on 127.0.0.1) and compared with
what ``fleetctl scale`` prints for the same inventory; the other tests give the app a fixed
chain reading (a real :class:`~fleetctl.plan.scale.ServiceView`, the what-if computed by the real
``prepare``). The apply's ``execute`` is replaced by functions that emit the workflow's real event
types and return a real :class:`~fleetctl.workflows.scale.ScaleResult` (the real one makes keys
over SSH and runs the playbooks); everything before it (the apply's plan: names, hosts, stake)
is the real ``prepare(apply=True)``.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from fleetlab.standin import PocketStandin, lab_address
from fleetctl.core.errors import UserError
from fleetctl.core.events import Cancelled, CancelToken, HostTask, StepFinished, StepStarted
from fleetctl.plan.scale import NewIdentity, ServiceView
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.tui.screens.scale import ScaleInputs, cli_command, parse_inputs
from fleetctl.workflows import scale as wscale

OWNER = lab_address("tui-scale-owner")
ONCHAIN = [lab_address(f"tui-scale-{i}") for i in range(12)]  # the first two are ours
NEW = [lab_address(f"tui-scale-new-{i}") for i in range(4)]
POKT = 1_000_000


# ----------------------------------------------------------------------------- fixtures


def inventory(root: Path, url: str) -> Path:
    """Three hosts (loopback), eth on three clients, two suppliers of ours with one owner."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text(
        "all:\n  vars:\n    fleet_capacity: {cpus: 8, memory_gb: 32, disk_gb: 4000}\n  hosts:\n"
        "    h1: {ansible_host: 127.0.0.1}\n    h2: {ansible_host: 127.0.0.1}\n    h3: {ansible_host: 127.0.0.1}\n")
    sups = "\n".join(f"  - {{name: sup-{i}, operator_address: '{a}', owner_address: '{OWNER}', services: [eth], "
                     f"host: h{i + 1}}}" for i, a in enumerate(ONCHAIN[:2]))
    profile = "{full: {cpus: 1, memory_gb: 1, disk_gb: 1}}"
    (root / "fleet.yml").write_text(
        f"protocol: shannon\npocket: {{rest_url: '{url}'}}\n"
        "chains:\n  eth: {clients: [geth, nethermind, erigon], replicas: 3, max_client_share: 0.34}\n"
        f"suppliers:\n{sups}\n"
        # a claims store of its own (none yet): relays per session default to 100, never the user's
        "stake: {history_db: state.db}\n"
        f"profiles:\n  geth: {profile}\n  nethermind: {profile}\n  erigon: {profile}\n")
    return root


@pytest.fixture()
def chain() -> Iterator[PocketStandin]:
    seed = {"chain_id": "tui-scale", "height": 1005, "shannon": {
        "params": {"session": {"num_suppliers_per_session": 3}, "shared": {"num_blocks_per_session": 10}},
        "suppliers": [{"operator_address": a, "owner_address": OWNER, "stake_upokt": 60_000 * POKT,
                       "services": ["eth"]} for a in ONCHAIN],
        "applications": [{"address": lab_address(f"tui-scale-app-{i}"), "services": ["eth"]} for i in range(4)]}}
    with PocketStandin(seed) as server:
        yield server


def reading(apps: int | None = 20) -> ServiceView:
    """A fixed chain reading: 100 eligible, 2 of them ours, 15 per session."""
    return ServiceView(protocol="shannon", service="eth", chain_id="eth", eligible=100, ours_on_chain=2, ours=2,
                       per_session=15, blocks_per_session=20, apps=apps, min_stake_upokt=59_500 * POKT,
                       upokt_per_relay=Fraction(11245, 100000), height=1000)


def app_for(inv: Path, *, fetch: Any = None, **options: Any) -> FleetApp:
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "scale", **options}
    return FleetApp(TuiOptions(**opts), fetchers={"scale": fetch} if fetch is not None else None)


async def until(pilot: Any, check: Any, what: str, limit: int = 400) -> None:
    """Wait until ``check()``: no time bound is asserted, the loop gives the workers their turn."""
    for _ in range(limit):
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError(f"never: {what}")


def column(screen: Any, index: int) -> list[str]:
    table = screen.query_one("#scale-table")
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]


def headers(screen: Any) -> list[str]:
    return [str(c.label) for c in screen.query_one("#scale-table").ordered_columns]


def notices(app: FleetApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def typed(pilot: Any, screen: Any, field: str, text: str) -> None:
    """Clear the input ``field`` and type ``text`` into it, key by key."""
    widget = screen.query_one(f"#scale-{field}")
    widget.focus()
    await pilot.pause()
    widget.value = ""
    await pilot.press(*text)


# ----------------------------------------------------------------------------- pure parts


def test_inputs_are_the_cli_options() -> None:
    assert parse_inputs(ScaleInputs("eth", "add", " 3 ", "")) == {"add": 3}
    assert parse_inputs(ScaleInputs("eth", "target-share", "50%", "250")) == {"target_share": "50%",
                                                                                "relays_per_session": 250.0}
    assert parse_inputs(ScaleInputs("eth", "budget", "120000 POKT", "")) == {"budget": "120000 POKT"}
    assert parse_inputs(ScaleInputs("eth", "budget", "", "")) == {}  # no target: the table alone
    for inputs, needle in [(ScaleInputs("eth", "add", "x", ""), "--add"), (ScaleInputs("eth", "add", "0", ""), "--add"),
                           (ScaleInputs("eth", "target-share", "150%", ""), "--target-share"),
                           (ScaleInputs("eth", "budget", "lots", ""), "--budget"),
                           (ScaleInputs("eth", "add", "2", "-5"), "--relays-per-session"),
                           (ScaleInputs("eth", "add", "2", "nan"), "--relays-per-session")]:
        with pytest.raises(UserError, match=needle):
            parse_inputs(inputs)
    assert cli_command("/srv/my fleet", ScaleInputs("eth", "budget", "120000 POKT", "250")) == \
        "fleetctl -i '/srv/my fleet' scale --service eth --budget '120000 POKT' --relays-per-session 250 --apply --yes"
    assert cli_command("inv", ScaleInputs("eth", "add", "2", ""), apply=False) == "fleetctl -i inv scale --service eth --add 2"


def test_prepare_reading_the_chain_stops_on_its_token(chain: PocketStandin, tmp_path: Path) -> None:
    from fleetctl.spec.loader import load_inventory

    fleet = load_inventory(inventory(tmp_path / "inv", chain.shannon_url))
    token = CancelToken()
    token.cancel("a newer input")
    with pytest.raises(Cancelled):
        wscale.prepare(fleet, "eth", cancel=token)
    assert wscale.prepare(fleet, "eth", cancel=CancelToken()).view.eligible == 12


# ----------------------------------------------------------------------------- the view


def test_the_table_from_the_standin_is_the_clis(chain: PocketStandin, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", chain.shannon_url)
    proc = run_cli("-i", str(inv), "scale", "--service", "eth", "--add", "3", timeout=60)
    assert proc.returncode == 0, proc.stderr
    cli_rows = [line.split() for line in proc.stdout.splitlines()[2:] if line.strip() and line.split()[0][0].isdigit()]

    async def run() -> None:
        app = app_for(inv)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            assert type(screen).__name__ == "ScaleView"
            await until(pilot, lambda: screen.computed >= 1, "the first what-if")
            assert screen.query_one("#scale-service").value == "eth"
            assert column(screen, 0)[:3] == ["2", "3", "4"] and column(screen, 1)[0] == "12"
            await typed(pilot, screen, "amount", "3")
            await until(pilot, lambda: "5*" in column(screen, 0), "the target row")
            tui_rows = [[str(c) for c in screen.query_one("#scale-table").get_row_at(r)]
                        for r in range(screen.query_one("#scale-table").row_count)]
            assert tui_rows == cli_rows  # the same rows, the same cells, as `fleetctl scale`
            assert [h.upper() for h in headers(screen)] == re.split(r"\s{2,}", proc.stdout.splitlines()[1].strip())
            assert str(screen.query_one("#summary").render()) == proc.stdout.splitlines()[0]
            assert screen.error is None and "chain read" in screen.status_text

    asyncio.run(run())


def test_typing_recomputes_and_an_invalid_value_keeps_the_last_table(tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")  # never read: the reading is given
    calls: list[CancelToken] = []

    def fetch(cancel: CancelToken) -> ServiceView:
        calls.append(cancel)
        return reading()

    async def run() -> None:
        app = app_for(inv, fetch=fetch)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.computed >= 1, "the first what-if")
            assert "*" not in "".join(column(screen, 0)) and len(column(screen, 0)) == 11  # 2 … 12, no target
            await typed(pilot, screen, "amount", "4")
            await until(pilot, lambda: "6*" in column(screen, 0), "add 4: the target row")
            pokt_per_day = column(screen, 6)
            assert "scale: add 4: 6 identities (+4)" in str(screen.query_one("#scale-notes").render())
            # relays per session: the rewards change, the shares do not
            shares = column(screen, 2)
            await typed(pilot, screen, "rps", "250")
            await until(pilot, lambda: column(screen, 6) != pokt_per_day, "the rewards at 250 relays per session")
            assert column(screen, 2) == shares
            assert "--relays-per-session 250" in str(screen.query_one("#scale-notes").render())
            # an invalid value: one line naming the option; the last table stays
            before, shown = [column(screen, i) for i in range(9)], screen.computed
            await typed(pilot, screen, "amount", "4x")
            await until(pilot, lambda: screen.input_error is not None, "the error line")
            error = screen.query_one("#scale-error")
            assert error.display and str(error.render()).startswith("--add: expected a whole number")
            await pilot.pause(0.5)  # past the debounce: nothing was computed
            assert [column(screen, i) for i in range(9)] == before and screen.computed == shown
            # a target share instead (the mode select), then a valid value clears the line
            screen.query_one("#scale-mode").value = "target-share"
            await typed(pilot, screen, "amount", "60%")
            await until(pilot, lambda: screen.computed > shown and screen.input_error is None, "the target share")
            assert not error.display
            target = screen.plan.model.target
            assert f"{target}*" in column(screen, 0) and screen.plan.model.how == "target share 60.00%"
            assert len(calls) == 1  # the chain was read once; every keystroke reused it
            # ctrl+r reads the chain again
            await pilot.press("escape", "ctrl+r")
            await until(pilot, lambda: len(calls) == 2 and screen.computed > shown + 1, "a second reading")

    asyncio.run(run())


def test_a_newer_input_cancels_the_older_computation(tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")
    calls: list[CancelToken] = []
    first_started = threading.Event()

    def fetch(cancel: CancelToken) -> ServiceView:
        calls.append(cancel)
        if len(calls) == 1:  # a slow chain: waits until a newer input cancels it
            first_started.set()
            cancel.wait(30)
            cancel.raise_if_cancelled("scale")
        return reading()

    async def run() -> None:
        app = app_for(inv, fetch=fetch)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await until(pilot, first_started.is_set, "the first (slow) reading")
            await typed(pilot, screen, "amount", "3")  # typing goes on while it runs
            assert screen.query_one("#scale-amount").value == "3"
            await until(pilot, lambda: screen.computed >= 1, "the newer what-if")
            assert calls[0].cancelled and calls[0].reason == "a newer input"
            assert not calls[-1].cancelled and "5*" in column(screen, 0)

    asyncio.run(run())


def test_unknown_apps_show_the_per_session_columns(tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")

    async def run() -> None:
        app = app_for(inv, fetch=lambda cancel: {"eth": reading(apps=None)})
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.computed >= 1, "the first what-if")
            assert headers(screen) == ["m", "N", "share", "ours/session", "POKT/session", "stake to lock", "next +1 share"]
            assert "need apps" in str(screen.query_one("#scale-notes").render())

    asyncio.run(run())


# ----------------------------------------------------------------------------- a: scale apply


def fake_execute(calls: list[Any], *, wait_for_cancel: bool = False) -> Any:
    """Stands in for workflows.scale.execute (which makes keys over SSH and runs the playbooks):
    the real event types in the real order, a real ScaleResult; with ``wait_for_cancel`` it stops
    after the keys until its token is cancelled, as the real one does between steps."""

    def execute(fleet: Any, plan: Any, *, on_event: Any = None, cancel: CancelToken | None = None,
                **kw: Any) -> wscale.ScaleResult:
        calls.append((plan, cancel, kw))
        result = wscale.ScaleResult(plan)
        on_event(StepStarted("scale", "create-keys", f"{plan.to_add} key(s)"))
        for ident, address in zip(plan.identities, NEW):
            on_event(HostTask(ident.host, f"key {ident.name}", "changed", address))
            result.created.append(NewIdentity(ident.name, ident.host, ident.services, ident.owner_address, address))
        on_event(StepFinished("scale", "create-keys"))
        result.done.append("create-keys")
        if wait_for_cancel:
            assert cancel is not None
            cancel.wait(30)
        if cancel is not None and cancel.cancelled:
            result.cancelled, result.left = True, ["inventory", "apply"]
            return result
        for step in ("inventory", "apply"):
            on_event(StepStarted("scale", step))
            on_event(StepFinished("scale", step))
            result.done.append(step)
        return result

    return execute


def test_apply_is_refused_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")
    calls: list[Any] = []
    monkeypatch.setattr(wscale, "execute", fake_execute(calls))

    async def run() -> None:
        app = app_for(inv, fetch=lambda cancel: reading(), read_only=True)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.computed >= 1, "the first what-if")
            await typed(pilot, screen, "amount", "2")
            await until(pilot, lambda: "4*" in column(screen, 0), "add 2")
            await pilot.press("escape", "a")  # escape: out of the input, to the table
            await pilot.pause(0.3)
            assert type(app.screen).__name__ == "ScaleView"  # no confirmation
            assert any("read-only: scale apply refused" in n for n in notices(app))
            assert "read-only" in str(screen.query_one("#status").render())

    asyncio.run(run())
    assert calls == []


def test_apply_confirmation_refused_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")
    before = (inv / "fleet.yml").read_bytes()
    calls: list[Any] = []
    monkeypatch.setattr(wscale, "execute", fake_execute(calls))

    async def run() -> None:
        app = app_for(inv, fetch=lambda cancel: reading())
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.computed >= 1, "the first what-if")
            await pilot.press("a")  # no count yet: says how
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "ScaleView"
            assert any("say how many" in n for n in notices(app))
            await typed(pilot, screen, "amount", "2")
            await until(pilot, lambda: "4*" in column(screen, 0), "add 2")
            await pilot.press("escape", "a")
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
            confirm = app.screen
            assert confirm.command == f"fleetctl -i {inv} scale --service eth --add 2 --apply --yes"
            body = "\n".join(confirm.lines)
            assert confirm.lines[:3] == ["eth: 2 → 4 identities (add 2)", "new (2): eth-sup-1 on h1, eth-sup-2 on h2",
                                         f"owner: {OWNER}"]
            stake = 59_500 * POKT + 10 * 59_500 * POKT // 100 + 1  # minimum + the default 10% warning margin + 1
            assert screen.plan.model.assumptions["stake_per_identity_upokt"] == stake
            assert "stake to lock: 130,900.000002 POKT (65,450.000001 POKT each)" in body, body
            assert "at 4: 47.62% of the sessions" in body and "create-keys" in body and "fleet.yml" in body
            await pilot.press("n")
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "ScaleView"
            assert any("not done" in n for n in notices(app))

    asyncio.run(run())
    assert calls == [] and (inv / "fleet.yml").read_bytes() == before


def test_apply_confirmed_runs_the_workflow_and_shows_its_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")
    calls: list[Any] = []
    monkeypatch.setattr(wscale, "execute", fake_execute(calls))

    async def run() -> None:
        app = app_for(inv, fetch=lambda cancel: reading())
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.computed >= 1, "the first what-if")
            screen.query_one("#scale-mode").value = "budget"
            await typed(pilot, screen, "amount", "200000 POKT")  # 3 identities at 65,450 POKT
            await until(pilot, lambda: screen.plan is not None and screen.plan.model.target == 5, "budget")
            await pilot.press("escape", "a")
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
            assert app.screen.command == (f"fleetctl -i {inv} scale --service eth --budget '200000 POKT' "
                                          "--apply --yes")
            await pilot.press("y")
            await until(pilot, lambda: screen.result is not None, "the result")
            lines = screen.query_one("#scale-log").lines
            assert "▶ create-keys: 3 key(s)" in lines and "✓ create-keys" in lines and "✓ apply" in lines
            assert f"  h1: key eth-sup-1: changed {NEW[0]}" in lines
            assert f"added eth-sup-3 on h1: {NEW[2]}" in lines  # the least loaded of the hosts serving eth
            assert "scale: done: create-keys, inventory, apply" in lines
            assert [type(e).__name__ for e in screen.events][:2] == ["StepStarted", "HostTask"]
            assert not screen.applying and any("finished" in n for n in notices(app))

    asyncio.run(run())
    [(plan, token, kw)] = calls
    assert [i.name for i in plan.identities] == ["eth-sup-1", "eth-sup-2", "eth-sup-3"]
    assert token is not None and not token.cancelled and "reload" in kw


def test_ctrl_x_during_the_apply_cancels_its_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(tmp_path / "inv", "http://127.0.0.1:9")
    calls: list[Any] = []
    monkeypatch.setattr(wscale, "execute", fake_execute(calls, wait_for_cancel=True))

    async def run() -> None:
        app = app_for(inv, fetch=lambda cancel: reading())
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.computed >= 1, "the first what-if")
            await typed(pilot, screen, "amount", "1")
            await until(pilot, lambda: "3*" in column(screen, 0), "add 1")
            await pilot.press("escape", "a")
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: "✓ create-keys" in screen.query_one("#scale-log").lines, "the keys")
            assert screen.applying and screen.result is None
            await pilot.press("a")  # one apply at a time
            await pilot.pause(0.1)
            assert any("running" in n for n in notices(app))
            screen.query_one("#scale-amount").focus()  # ctrl+x wins over the input's cut
            await pilot.press("ctrl+x")
            await until(pilot, lambda: screen.result is not None, "the cancelled result")
            assert calls[0][1].cancelled
            assert screen.result.cancelled and screen.result.left == ["inventory", "apply"]
            assert ("scale: cancelled; done: create-keys; left: inventory, apply "
                    "(scale --apply again reuses the keys made)") in screen.query_one("#scale-log").lines
            assert not screen.applying

    asyncio.run(run())
