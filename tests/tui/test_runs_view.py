"""The Runs view of ``fleetctl tui``: the plan as a diff per host (a real offline Plan of the lab's
inventory, copied under tmp_path: nothing is connected to), apply's confirmation (refused,
accepted, read-only), per-host progress and the streaming log from real event types, ctrl+x
during a real ansible-runner run on the local host (the playbook of test_apply_cancel in place of
site.yml), quitting during a run, and the stake batch's dry run and execute over the Pocket
stand-in on 127.0.0.1 (the environment of test_stake_batch_cancel).
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from conftest import LAB_INV
from fleetctl.core.errors import FleetError
from fleetctl.core.events import CancelToken, Event, HostTask, StepFinished, StepStarted, Warn
from fleetctl.core.units import format_upokt
from fleetctl.provision.apply import ApplyResult, HostResult, run_playbook_file
from fleetctl.spec.loader import load_inventory
from fleetctl.tui.app import FleetApp
from fleetctl.tui.options import TuiOptions
from fleetctl.tui.screens.runs import HostPlanView, RunsView, StakeBatchView, cli_command, plan_line
from fleetctl.tui.widgets.confirm import ConfirmScreen
from fleetctl.workflows import apply as apply_workflow
from fleetctl.workflows import stake_batch as sb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_preflight_standin import POKT, StakeEnv, on_chain  # noqa: E402
from test_stake_batch_cancel import rows as batch_rows, slow_pocketd  # noqa: E402

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLEETCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("FLEETCTL_INVENTORY", raising=False)


@pytest.fixture()
def inv(tmp_path: Path) -> Path:
    """The lab's inventory, copied: three hosts, planned offline (never connected to)."""
    root = tmp_path / "inv"
    root.mkdir()
    for name in ("hosts.yml", "fleet.yml"):
        shutil.copy(LAB_INV / name, root / name)
    return root


def offline_plan(inv: Path) -> Callable[[CancelToken], Any]:
    fleet = load_inventory(inv)
    return lambda cancel: apply_workflow.prepare(fleet, offline=True, cancel=cancel)


def app_for(inv: Path, *, fetchers: dict[str, Any] | None = None, **options: Any) -> FleetApp:
    opts = {"inventory": str(inv), "refresh_s": 0, "start": "runs", **options}
    return FleetApp(TuiOptions(**opts), fetchers=fetchers if fetchers is not None else {"runs": offline_plan(inv)})


async def until(pilot: Any, cond: Callable[[], Any], what: str, limit: int = 600) -> None:
    """Give the workers their turn until ``cond()``; no time is asserted (the bound only ends a
    test that would otherwise hang)."""
    for _ in range(limit):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


async def loaded(pilot: Any, view: Any) -> None:
    await until(pilot, lambda: view.refreshed_at is not None and not view._inflight or view.error,
                f"{view.crumb} loaded")
    assert view.error is None, view.error


def plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def cells(view: Any, key: str) -> list[str]:
    (row,) = [r for r in view.shown if r.key == key]
    return [plain(c) for c in row.cells]


def notes(app: FleetApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def command_of(app: FleetApp) -> str:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen), screen
    return screen.command


class Recorder:
    """apply.execute's stand-in: records its calls; ``body`` is what the run does."""

    def __init__(self, body: Callable[..., Any]) -> None:
        self.calls: list[dict[str, Any]] = []
        self.body = body

    def __call__(self, fleet: Any, plan: Any, **kwargs: Any) -> Any:
        self.calls.append({"fleet": fleet, "plan": plan, **kwargs})
        return self.body(fleet, plan, **kwargs)


# ----------------------------------------------------------------------------- the plan


async def test_the_plan_is_a_diff_per_host_and_enter_lists_a_hosts_actions(inv: Path) -> None:
    plan = offline_plan(inv)(CancelToken())
    app = app_for(inv)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen
        assert isinstance(view, RunsView)
        await loaded(pilot, view)
        assert [r.key for r in view.shown] == ["lab-h1", "lab-h2", "lab-h3"]
        for host in ("lab-h1", "lab-h2", "lab-h3"):
            n = sum(1 for a in plan.actions if a.host == host)
            assert n > 0
            assert cells(view, host)[:3] == [host, f"+{n}", ""]  # offline: everything to create, no run yet
        summary = str(view.query_one("#summary").render())
        assert plan_line(plan) in summary and "offline" in summary
        assert view.shown[0].data["changes"] == sum(1 for a in plan.actions if a.host == "lab-h1")

        await pilot.press("enter")
        drill = app.screen
        assert isinstance(drill, HostPlanView) and drill.host == "lab-h1"
        await loaded(pilot, drill)
        mine = [a for a in plan.actions if a.host == "lab-h1"]
        assert [r.data["target"] for r in drill.shown] == [a.target for a in mine]
        assert {plain(r.cells[0]) for r in drill.shown} == {"+"}
        assert "lab-h1 plan" in app.breadcrumbs()
        await pilot.press("escape")
        assert app.screen is view

        await pilot.press("down", "enter")
        drill = app.screen
        assert isinstance(drill, HostPlanView) and drill.host == "lab-h2"
        await loaded(pilot, drill)
        await pilot.press("a")  # apply this host: back on the plan, its confirmation on top
        assert command_of(app) == f"fleetctl -i {inv} apply --limit lab-h2 --yes"
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is view and view.job is None


async def test_the_views_own_fetch_observes_the_hosts_and_shows_the_unreachable(tmp_path: Path) -> None:
    """The real workflow (apply.prepare observing every host over SSH) against 127.0.0.1 ports
    that refuse: each host is UNREACHABLE with the reason, and gets no action."""
    import socket

    holders, ports = [], []
    for _ in range(3):  # bound, never listening: connections are refused
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        holders.append(sock)
        ports.append(sock.getsockname()[1])
    root = tmp_path / "inv"
    root.mkdir()
    shutil.copy(LAB_INV / "fleet.yml", root / "fleet.yml")
    (tmp_path / "known_hosts").write_text("")
    hosts = "".join(f"    lab-h{i + 1}: {{ansible_host: 127.0.0.1, ansible_port: {p}}}\n" for i, p in enumerate(ports))
    (root / "hosts.yml").write_text(
        "all:\n  vars:\n    ansible_user: fleet\n"
        f"    fleet_known_hosts: {tmp_path / 'known_hosts'}\n"
        "    fleet_capacity: {cpus: 2, memory_gb: 8, disk_gb: 50}\n"
        f"  hosts:\n{hosts}")
    app = app_for(root, fetchers={})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            view = app.screen
            assert isinstance(view, RunsView)
            await loaded(pilot, view)
            plan = view.result
            assert not plan.offline and sorted(plan.unreachable) == ["lab-h1", "lab-h2", "lab-h3"]
            for i, host in enumerate(("lab-h1", "lab-h2", "lab-h3")):
                assert cells(view, host)[:2] == [host, "UNREACHABLE"]
                assert f"127.0.0.1:{ports[i]}" in view.shown[i].data["unreachable"]
            summary = str(view.query_one("#summary").render())
            assert summary.startswith("plan: 0 change(s)") and "UNREACHABLE: lab-h1 (" in summary
    finally:
        for sock in holders:
            sock.close()


# ----------------------------------------------------------------------------- apply: refused


async def test_apply_is_refused_in_read_only_mode_and_nothing_runs(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute = Recorder(lambda *a, **k: pytest.fail("execute called"))
    monkeypatch.setattr(apply_workflow, "execute", execute)
    app = app_for(inv, read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen
        await loaded(pilot, view)
        for key in ("a", "A"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is view  # no confirmation
        assert sum("read-only: apply refused" in n for n in notes(app)) == 2
        assert execute.calls == [] and view.job is None


async def test_a_refused_confirmation_runs_nothing(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute = Recorder(lambda *a, **k: pytest.fail("execute called"))
    monkeypatch.setattr(apply_workflow, "execute", execute)
    app = app_for(inv)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen
        await loaded(pilot, view)
        await pilot.press("a")  # the selected host
        assert command_of(app) == f"fleetctl -i {inv} apply --limit lab-h1 --yes"
        body = str(app.screen.query_one("#confirm-body").render())
        assert "lab-h1" in body and "+ lab-h1:" in body and "lab-h2" not in body
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is view and "Apply" in notes(app)[-1] and "not done" in notes(app)[-1]

        await pilot.press("A")  # every host: no --limit
        assert command_of(app) == f"fleetctl -i {inv} apply --yes"
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("space")  # marked hosts: --limit h1,h3
        await pilot.press("down", "down", "space")
        assert cells(view, "lab-h1")[0] == "✓ lab-h1" and cells(view, "lab-h3")[0] == "✓ lab-h3"
        await pilot.press("a")
        assert command_of(app) == f"fleetctl -i {inv} apply --limit lab-h1,lab-h3 --yes"
        await pilot.press("n")
        await pilot.pause()
        assert execute.calls == [] and view.job is None and view.run is None


async def test_the_command_is_quoted_for_a_shell() -> None:
    options = TuiOptions(inventory="/srv/my fleet", db="/var/lib/state db/f.db")
    assert cli_command(options, "stake", "--batch", "--db", str(options.db)) == \
        "fleetctl -i '/srv/my fleet' stake --batch --db '/var/lib/state db/f.db'"


async def test_the_command_names_no_inventory_when_the_environment_does(inv: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCTL_INVENTORY", str(inv))
    app = app_for(inv)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot, app.screen)
        await pilot.press("a")
        assert command_of(app) == "fleetctl apply --limit lab-h1 --yes"
        await pilot.press("n")


# ----------------------------------------------------------------------------- apply: running


async def test_events_stream_into_the_host_rows_and_the_log(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    sent = threading.Event()

    def run(fleet: Any, plan: Any, *, limit: Any, on_event: Callable[[Event], None], cancel: CancelToken,
            **_: Any) -> ApplyResult:
        script: list[Event] = [
            StepStarted("apply", "play", "Deploy the fleet's containers"),
            StepStarted("apply", "task", "Run container eth-geth-1"),
            HostTask("lab-h1", "Run container eth-geth-1", "started"),
            HostTask("lab-h1", "Run container eth-geth-1", "changed"),
            HostTask("lab-h2", "Run container eth-geth-1", "ok"),
            StepStarted("apply", "task", "Run container lb-eth"),
            HostTask("lab-h2", "Run container lb-eth", "failed", "engine gone http://user:secret@10.213.0.12:2375"),
            HostTask("lab-h1", "Run container lb-eth", "started"),
        ]
        for ev in script:
            on_event(ev)
        sent.set()
        assert release.wait(120)
        on_event(HostTask("lab-h1", "Run container lb-eth", "ok"))
        return ApplyResult({"lab-h1": HostResult(ok=2, changed=1),
                            "lab-h2": HostResult(ok=1, failed=1, messages=["Run container lb-eth: engine gone"])},
                           rc=2, seconds=3.25, check=False)

    execute = Recorder(run)
    monkeypatch.setattr(apply_workflow, "execute", execute)
    app = app_for(inv, fetchers={"runs": offline_plan(inv), "stakes": lambda cancel: (_ for _ in ()).throw(
        FleetError("no chain in this test"))})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            view = app.screen
            assert isinstance(view, RunsView)
            await loaded(pilot, view)
            await pilot.press("A", "y")
            await until(pilot, lambda: sent.is_set() and view.run is not None
                        and view.run.hosts["lab-h1"].task == "Run container lb-eth", "the events shown")
            (call,) = execute.calls
            assert call["limit"] is None and call["plan"] is view.result and not call["cancel"].cancelled
            assert cells(view, "lab-h1")[2:] == ["running", "1", "1", "1", "0", "Run container lb-eth"]
            assert cells(view, "lab-h2")[2:6] == ["failed", "2", "1", "0"]
            assert "engine gone" in cells(view, "lab-h2")[7] and "secret" not in cells(view, "lab-h2")[7]
            assert cells(view, "lab-h3")[2:] == ["queued", "0", "0", "0", "0", ""]
            log = list(view.log_widget.plain)
            assert log[0] == f"$ fleetctl -i {inv} apply --yes"
            assert "TASK [Run container eth-geth-1]" in log and "lab-h1: changed: Run container eth-geth-1" in log
            assert any(line.startswith("lab-h2: failed: Run container lb-eth: engine gone") for line in log)
            assert not any("secret" in line for line in log)
            assert "task 'Run container lb-eth'" in view.job_text and "ctrl+x cancels" in view.job_text

            # The view stays responsive: a second apply is refused, the filter types, views switch.
            await pilot.press("a")
            await pilot.pause()
            assert app.screen is view and "an apply is running" in notes(app)[-1] and len(execute.calls) == 1
            await pilot.press("slash", "f", "a", "i", "l")
            await pilot.pause()
            assert [r.key for r in view.shown] == ["lab-h2"]
            await pilot.press("escape")
            assert len(view.shown) == 3
            await pilot.press("colon", *"stakes", "enter")
            await until(pilot, lambda: app.current_mode == "stakes", "the stakes view")
            await pilot.press("colon", *"runs", "enter")
            await until(pilot, lambda: app.screen is view, "back to runs")

            planned = view.refreshed_at
            release.set()
            await until(pilot, lambda: view.job is not None and view.job.done, "the run's end")
            assert cells(view, "lab-h1")[2:7] == ["changed", "2", "2", "1", "0"]
            assert cells(view, "lab-h2")[2] == "failed"
            line = "apply: 1 changed in 3.2 s; FAILED on lab-h2 (re-run apply once they are back)"
            assert view.job_text == line and view.log_widget.plain[-1] == line
            assert view.slot.running() is None
            # planned again after the run (what is left to converge); the run's columns stay
            await until(pilot, lambda: view.refreshed_at != planned and not view._inflight, "a new plan")
            assert cells(view, "lab-h1")[2] == "changed"
    finally:
        release.set()  # a failed test does not leave the run waiting


# ----------------------------------------------------------------------------- ctrl+x, quit

PLAYBOOK = """\
- name: three slow steps
  hosts: all
  gather_facts: false
  tasks:
    - name: first
      ansible.builtin.command: sleep 3
    - name: second
      ansible.builtin.shell: sleep 0.2 && touch {marks}/second
    - name: third
      ansible.builtin.shell: touch {marks}/third
"""


async def test_ctrl_x_stops_a_real_ansible_run_before_its_next_task(inv: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """apply.execute runs a real playbook through ansible-runner on this machine (the host lab-h1
    reached over a local connection): ctrl+x while the first task runs stops it before the next."""
    marks = tmp_path / "marks"
    marks.mkdir()
    playbook = tmp_path / "pb.yml"
    playbook.write_text(PLAYBOOK.format(marks=marks))
    hosts = tmp_path / "local-hosts.yml"
    hosts.write_text("all:\n  hosts:\n    lab-h1:\n      ansible_connection: local\n"
                     "      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n")

    def run(fleet: Any, plan: Any, *, limit: Any, on_event: Any, cancel: CancelToken, **_: Any) -> ApplyResult:
        return run_playbook_file(playbook, [hosts], {h: {} for h in limit}, limit=limit, strategy="default",
                                 on_event=on_event, cancel=cancel)

    execute = Recorder(run)
    monkeypatch.setattr(apply_workflow, "execute", execute)
    app = app_for(inv)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.screen
        assert isinstance(view, RunsView)
        await loaded(pilot, view)
        await pilot.press("a", "y")
        await until(pilot, lambda: view.run is not None and view.run.hosts["lab-h1"].task == "first",
                    "the first task running", limit=2400)
        await pilot.press("ctrl+x")
        (call,) = execute.calls
        token = call["cancel"]
        assert token.cancelled and call["limit"] == ["lab-h1"] and call["plan"] is view.result
        assert cells(view, "lab-h1")[2] == "stopping"
        await until(pilot, lambda: view.job.done, "the run stopped", limit=2400)
        result = view.run.result
        assert result is not None and result.cancelled, (view.run.error, view.job_text)
        assert result.tasks_done == ["first"] and result.stopped_before == "second"
        assert not (marks / "second").exists() and not (marks / "third").exists()
        line = ("apply: cancelled before 'second' (1 task(s) done); not finished on lab-h1; "
                "run apply again to converge")
        assert view.job_text == line and line in view.log_widget.plain
        # Nothing is shown as done that was not: the host is not finished; its one task counted.
        assert cells(view, "lab-h1")[2:7] == ["not finished", "1", "1", "1", "0"]
        assert cells(view, "lab-h1")[7] == "stopped before 'second'"
        log = list(view.log_widget.plain)
        assert "TASK [first]" in log and "lab-h1: changed: first" in log, log
        # ansible announces the next task; the gate stops it before it reaches the host
        assert not [x for x in log if x.startswith("lab-h1:") and ("second" in x or "third" in x)], log
        assert cells(view, "lab-h2")[2] == ""  # not targeted


async def test_quitting_during_a_run_cancels_its_token_first(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[CancelToken] = []
    started = threading.Event()
    stopped = threading.Event()

    def run(fleet: Any, plan: Any, *, limit: Any, on_event: Any, cancel: CancelToken, **_: Any) -> ApplyResult:
        seen.append(cancel)
        on_event(HostTask("lab-h1", "first", "started"))
        started.set()
        cancel.wait(120)  # the workflow's safe point: it returns once cancelled
        stopped.set()
        return ApplyResult({"lab-h1": HostResult()}, 0, 0.1, False, cancelled=True, stopped_before="first",
                           hosts_left=["lab-h1"])

    monkeypatch.setattr(apply_workflow, "execute", Recorder(run))
    app = app_for(inv)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen
        await loaded(pilot, view)
        await pilot.press("a", "y")
        await until(pilot, started.is_set, "the run started")
        assert not seen[0].cancelled
        await pilot.press("q")
        await pilot.pause()
    assert seen[0].cancelled and seen[0].reason == "the TUI closed"
    assert stopped.wait(30)


async def test_ctrl_x_with_nothing_running_does_nothing(inv: Path) -> None:
    app = app_for(inv)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen
        await loaded(pilot, view)
        assert view.check_action("cancel_job", ()) is None  # shown greyed in the footer
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert view.job is None and app.screen is view


# ----------------------------------------------------------------------------- stake batch


@pytest.fixture
def stake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    e = StakeEnv(tmp_path)
    # The TUI runs the batch with the CLI's defaults; the stand-in's keyring is under tmp_path.
    monkeypatch.setattr(sb, "DEFAULT_HOME", str(e.home))
    yield e
    e.stop()


def stake_app(env: StakeEnv, **options: Any) -> FleetApp:
    return app_for(env.root, fetchers={"runs": offline_plan(env.root)}, db=str(env.db), **options)


async def open_batch(pilot: Any, app: FleetApp) -> StakeBatchView:
    await loaded(pilot, app.screen)
    await pilot.press("s")
    view = app.screen
    assert isinstance(view, StakeBatchView)
    await loaded(pilot, view)
    return view


async def test_stake_batch_dry_run_rows_and_a_refused_confirmation(stake_env: StakeEnv) -> None:
    env = stake_env
    fresh = env.add_key("n-1")
    env.control.set_balance(fresh, 100_000 * POKT)
    done = env.add_key("n-2")
    env.stake_on_chain(done, [])
    app = stake_app(env)
    async with app.run_test(size=(160, 48)) as pilot:
        view = await open_batch(pilot, app)
        report = view.result
        assert isinstance(report, sb.BatchReport) and report.dry_run and report.stake_upokt
        row = cells(view, "n-1")
        assert row[:4] == ["n-1", "local-h1", "to stake", "eth"]
        # what would be sent: the exact command (the host's pocketd), with the stake in the summary
        assert row[4] == (report.entries[0].command or "") and "stake-supplier" in row[4] and fresh in row[4]
        assert row[4].startswith(str(env.hosts["local-h1"]["fleet_pocketd"]).split()[0])
        assert cells(view, "n-2")[2] == "staked" and cells(view, "n-2")[4].startswith("already on chain")
        summary = str(view.query_one("#summary").render())
        assert summary.startswith("stake --batch (dry run): 1 staked, 1 to stake; "
                                  f"stake {format_upokt(report.stake_upokt)} each")
        assert not (env.tmp / "out").exists() and not env.db.exists()  # a dry run writes nothing
        assert "stake batch" in app.breadcrumbs()

        await pilot.press("e")
        assert command_of(app) == (f"fleetctl -i {env.root} stake --batch --execute --host local-h1 "
                                   f"--db {env.db}")
        body = str(app.screen.query_one("#confirm-body").render())
        assert f"n-1 ({fresh}): eth on local-h1" in body and "n-2" not in body
        await pilot.press("n")
        await pilot.pause()
        assert view.job is None and on_chain(env, fresh) is None and not env.db.exists()

        await pilot.press("escape")  # back to the plan
        assert isinstance(app.screen, RunsView)


async def test_stake_batch_refused_in_read_only_mode(stake_env: StakeEnv) -> None:
    env = stake_env
    env.add_key("r-1")
    app = stake_app(env, read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        view = await open_batch(pilot, app)
        await pilot.press("e")
        await pilot.pause()
        assert app.screen is view and "read-only: stake batch refused" in notes(app)[-1]
        assert view.job is None


async def test_stake_batch_executed_and_cancelled_between_suppliers(stake_env: StakeEnv) -> None:
    """ctrl+x once the first transaction was sent: it is recorded and read back, the others are
    never sent; the rows say which (the workflow's report, not the view's guess)."""
    env = stake_env
    names = ["c-1", "c-2", "c-3"]
    addresses = [env.add_key(n) for n in names]
    for a in addresses:
        env.control.set_balance(a, 100_000 * POKT)
    marks = env.tmp / "marks"
    env.hosts["local-h1"]["fleet_pocketd"] = slow_pocketd(env, marks)
    env.write()
    app = stake_app(env)
    async with app.run_test(size=(160, 48)) as pilot:
        view = await open_batch(pilot, app)
        assert [cells(view, n)[2] for n in names] == ["to stake"] * 3
        await pilot.press("e", "y")
        await until(pilot, lambda: marks.exists() and any(marks.iterdir()), "a transaction sent", limit=4800)
        await pilot.press("ctrl+x")
        job = view.job
        assert job is not None and job.token.cancelled
        await pilot.press("escape")  # not while it runs
        assert app.screen is view
        await until(pilot, lambda: job.done, "the batch's end", limit=4800)
        report = view.result
        assert report.cancelled and not report.dry_run, report.as_dict()
        assert [cells(view, n)[2] for n in names] == ["confirmed", "not attempted", "not attempted"]
        assert cells(view, "c-1")[4].startswith("txhash ")
        assert cells(view, "c-2")[4] == sb.CANCELLED_REASON
        line = "stake batch: cancelled: 2 supplier(s) not sent (c-2, c-3); the next run resumes"
        assert view.job_text == line and line in view.log_widget.plain
        assert any(x.startswith("stake: c-1: submitted, txhash") for x in view.log_widget.plain)
        assert len(list(marks.iterdir())) == 1
        assert on_chain(env, addresses[0]) is not None and on_chain(env, addresses[1]) is None
        assert batch_rows(env) == {"c-1": "confirmed"}
        assert f"--host local-h1 --db {env.db}" in view.log_widget.plain[0]


async def test_warn_and_step_events_have_log_lines() -> None:
    from fleetctl.tui.widgets.run_log import event_line

    assert event_line(HostTask("h", "t", "started")) is None
    assert plain(event_line(StepFinished("stake", "s-1", False, "FAILED: boom"))) == "stake: s-1: FAILED: boom"
    assert plain(event_line(Warn("stake", "cancelled: 2 supplier(s) not sent"))) == \
        "stake: warning: cancelled: 2 supplier(s) not sent"
    assert plain(event_line(HostTask("h", "t", "failed", "see https://u:pw@example.invalid/x"))).count("pw") == 0
