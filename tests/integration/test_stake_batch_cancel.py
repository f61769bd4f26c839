"""A ``stake --batch --execute`` cancelled between suppliers (the workflow's CancelToken), on
127.0.0.1: the Pocket stand-in chain and the lab pocketd run by the real playbook through
ansible-runner on the local host (the environment of test_preflight_standin's stake tests).

The first supplier's transaction is sent, recorded and read back; the cancel lands while its
command is still running, so the others are never sent ("not attempted (cancelled)", no record
in the store); a rerun sends exactly those and converges.
"""

from __future__ import annotations

import shlex
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from fleetctl.core.events import CancelToken, StepFinished, Warn
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows import stake_batch as sb
from test_preflight_standin import POCKETD, POKT, StakeEnv, on_chain


@pytest.fixture
def stake_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEETCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FLEETCTL_CACHE_DIR", str(tmp_path / "cache"))
    e = StakeEnv(tmp_path)
    yield e
    e.stop()


def slow_pocketd(env: StakeEnv, marks: Path) -> str:
    """The lab pocketd, then a mark (a transaction was sent) and 3 s before the command ends."""
    marks.mkdir()
    script = env.tmp / "slow-pocketd"
    script.write_text("#!/bin/sh\n"
                      f"env POCKETD_LAB_CONTROL={shlex.quote(env.proxy.url)} {shlex.quote(sys.executable)} "
                      f"{shlex.quote(str(POCKETD))} \"$@\"\nrc=$?\n"
                      f"mktemp {shlex.quote(str(marks))}/sent.XXXXXX >/dev/null\nsleep 3\nexit $rc\n")
    script.chmod(0o755)
    return str(script)


def options(env: StakeEnv) -> sb.BatchOptions:
    return sb.BatchOptions(out_dir=str(env.tmp / "out"), host="local-h1", home=str(env.home), db=str(env.db),
                           wait_s=10, timeout_s=2)


def rows(env: StakeEnv) -> dict[str, str]:
    with sqlite3.connect(env.db) as conn:
        return dict(conn.execute("SELECT name, state FROM stakes_batch").fetchall())


def test_a_batch_cancelled_after_its_first_supplier_sends_nothing_more_and_a_rerun_converges(stake_env):
    env = stake_env
    names = ["c-1", "c-2", "c-3"]
    addresses = [env.add_key(n) for n in names]
    for a in addresses:
        env.control.set_balance(a, 100_000 * POKT)
    marks = env.tmp / "marks"
    normal = env.hosts["local-h1"]["fleet_pocketd"]
    env.hosts["local-h1"]["fleet_pocketd"] = slow_pocketd(env, marks)
    env.write()

    token = CancelToken()
    events: list[object] = []

    def cancel_once_sent() -> None:  # the operator's key press, while the first command still runs
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not any(marks.iterdir()):
            time.sleep(0.05)
        token.cancel("operator")

    watcher = threading.Thread(target=cancel_once_sent, daemon=True)
    watcher.start()
    report = sb.run_batch(load_inventory(env.root), options(env), execute=True, on_event=events.append,
                          cancel=token)
    watcher.join()

    by_name = {e.name: e for e in report.entries}
    assert by_name["c-1"].status == "confirmed", report.as_dict()
    assert [by_name[n].status for n in ("c-2", "c-3")] == ["not_attempted", "not_attempted"]
    assert {by_name[n].reason for n in ("c-2", "c-3")} == {sb.CANCELLED_REASON}
    assert report.cancelled and report.exit_code == 130 and report.as_dict()["cancelled"] is True
    assert [e.name for e in report.left] == ["c-2", "c-3"]
    assert len(list(marks.iterdir())) == 1  # one transaction sent
    assert on_chain(env, addresses[0]) is not None
    assert on_chain(env, addresses[1]) is None and on_chain(env, addresses[2]) is None
    assert rows(env) == {"c-1": "confirmed"}  # what was not sent has no record: the rerun sends it
    finished = [e for e in events if isinstance(e, StepFinished) and e.job == "stake"]
    assert [(e.step, e.ok) for e in finished] == [("c-1", True)]
    assert any(isinstance(e, Warn) and e.data.get("left") == ["c-2", "c-3"] for e in events)

    env.hosts["local-h1"]["fleet_pocketd"] = normal
    env.write()
    again = sb.run_batch(load_inventory(env.root), options(env), execute=True, cancel=CancelToken())
    statuses = {e.name: e.status for e in again.entries}
    assert statuses == {"c-1": "staked", "c-2": "confirmed", "c-3": "confirmed"}, again.as_dict()
    assert not again.cancelled and again.exit_code == 0 and "cancelled" not in again.as_dict()
    assert rows(env) == {n: "confirmed" for n in names}
    assert all(on_chain(env, a) is not None for a in addresses)


def test_a_batch_cancelled_before_it_sends_claims_and_sends_nothing(stake_env):
    env = stake_env
    address = env.add_key("d-1")
    env.control.set_balance(address, 100_000 * POKT)
    fleet = load_inventory(env.root)
    report = sb.prepare(fleet, options(env), execute=True)
    sb.write_configs(report, options(env))
    token = CancelToken()
    token.cancel()
    report = sb.execute(fleet, report, options(env), cancel=token)
    (entry,) = report.entries
    assert (entry.status, entry.reason) == ("not_attempted", sb.CANCELLED_REASON)
    assert report.cancelled and report.commands == []
    assert on_chain(env, address) is None
    assert not env.db.exists() or rows(env) == {}


def test_prepare_writes_nothing(stake_env, tmp_path):
    env = stake_env
    env.add_key("p-1")
    report = sb.prepare(load_inventory(env.root), options(env))
    (entry,) = report.entries
    assert entry.status == "to_stake" and entry.config and entry.command
    assert not Path(entry.config).exists() and not (env.tmp / "out").exists()
    assert not env.db.exists()
    sb.write_configs(report, options(env))
    assert Path(entry.config).read_text().startswith("# fleetctl stake --batch: supplier p-1")
