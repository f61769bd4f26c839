"""The state store as an attacker or a careless operator leaves it: corrupted rows, a stuck
writer holding its lock, a read-only file, a FIFO, a folder made by ``stake --batch``.

``fleetctl stakes`` (a subprocess, against the hostile Pocket server on 127.0.0.1) must end with
its status line and exit 0-3, UNKNOWN with one line saying which store, which row and what to
do; a lock costs at most the caller's bound and is named as a lock.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from hostile_pocket_server import HostileChain, assert_sane, shannon_address, write_inventory
from fleetctl.state.db import StoreLocked, StoreReadOnly, connect
from fleetctl.state.stakes import HistoryStore

A = shannon_address("store-a")


@pytest.fixture()
def chain():
    server = HostileChain("shannon", [A])
    yield server
    server.close()


def stakes(inventory: Path, state: Path, *args: str, timeout: float = 60) -> Any:
    return run_cli("-i", str(inventory), "stakes", *args, env={"FLEETCTL_STATE_DIR": str(state)},
                   timeout=timeout)


def recorded(chain: HostileChain, tmp_path: Path) -> tuple[Path, Path, Path]:
    """An inventory and a store that holds one OK run of it."""
    inventory = write_inventory(tmp_path / "inv", chain.url, [("a", A)])
    state = tmp_path / "state"
    doc = assert_sane(stakes(inventory, state, "-o", "json"), "json")
    assert doc["status"] == "OK" and doc["recorded"] is True
    return inventory, state, state / "fleetctl.db"


# ----------------------------------------------------------------------------- corrupted rows


@pytest.mark.parametrize("table, column, value, problem", [
    ("samples", "reasons", "not json", "reasons is not JSON"),
    ("samples", "reasons", '{"a": 1}', "reasons is JSON but not a list of strings"),
    ("samples", "stake_upokt", "lots", "stake_upokt is the text 'lots', not an integer"),
    ("samples", "stake_upokt", 1.5, "stake_upokt is float 1.5, not an integer"),
    ("samples", "stake_upokt", -7, "stake_upokt is negative"),
    ("samples", "status", "BOGUS", "status is the text 'BOGUS', not one of OK"),
    ("samples", "jailed", "yes", "jailed is the text 'yes', not 0 or 1"),
    ("runs", "height", "tall", "height is the text 'tall', not an integer"),
])
def test_corrupted_row_is_unknown_with_the_row_and_the_fix(chain, tmp_path, table, column, value, problem):
    inventory, state, db = recorded(chain, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE {table} SET {column} = ?", (value,))
    chain.routes[f"/pokt-network/poktroll/supplier/supplier/{A}"]["supplier"]["stake"]["amount"] = "1999000000"
    runs = [(("-o", "json"), "json"), (("--nagios",), "nagios"), ((), "table")]
    if column in ("stake_upokt", "height"):  # what a run that does not record reads
        runs.append((("--no-record", "-o", "json"), "json"))
    else:
        assert_sane(stakes(inventory, state, "--no-record", "-o", "json"), "json")
    for args, mode in runs:
        proc = stakes(inventory, state, *args)
        assert_sane(proc, mode)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        text = proc.stdout + proc.stderr
        assert f"state store {db}: {table} row 1: {problem}" in text, text
        assert f"DELETE FROM {table} WHERE id = 1" in text
    # the fix it names works
    with sqlite3.connect(db) as conn:
        conn.execute(f"DELETE FROM {table} WHERE id = 1")
    assert stakes(inventory, state, "-o", "json").returncode == 0


@pytest.mark.parametrize("column, value, problem", [
    ("balance_upokt", "lots", "balance_upokt is the text 'lots', not an integer"),
    ("slashed_upokt", -3, "slashed_upokt is negative"),
    ("name", b"\x00", "name is a blob"),
    ("jailed", "yes", "jailed is the text 'yes', not 0 or 1"),
])
def test_a_corrupted_row_of_an_unchanged_supplier_is_still_said(chain, tmp_path, column, value, problem):
    """The chain has not changed since the stored sample: a recording run compares the stored
    row with what it would write without decoding it, but a column not of its schema's type is
    still found and named (never taken for "unchanged"). (SQLite's column affinity turns some
    odd values into good ones before anything reads them: an integer name into text, 0.0 into 0.)"""
    inventory, state, db = recorded(chain, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE samples SET {column} = ?", (value,))
    proc = stakes(inventory, state, "-o", "json")
    assert_sane(proc, "json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"state store {db}: samples row 1: {problem}" in proc.stdout + proc.stderr


def test_corrupted_row_in_history_view_is_one_line(chain, tmp_path):
    inventory, state, db = recorded(chain, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE samples SET status = 'BOGUS'")
    for args, mode in ((("--nagios",), "nagios"), (("-o", "json"), "json"), ((), "table")):
        proc = run_cli("stakes", "--history", A, "--db", str(db), *args)
        assert_sane(proc, mode)
        assert proc.returncode == 3 and "samples row 1: status is the text 'BOGUS'" in proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- locks

HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE runs SET status = status")
else:
    conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(60)
"""


def hold(db: Path, how: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db), how], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("how, args", [
    ("immediate", ()),  # a stuck writer: recording waits for it
    ("exclusive", ("--no-record",)),  # an exclusive lock: even reading waits
])
def test_store_locked_by_a_stuck_process_costs_a_bounded_wait_and_says_so(chain, tmp_path, how, args):
    inventory, state, db = recorded(chain, tmp_path)
    holder = hold(db, how)
    try:
        started = time.monotonic()
        proc = stakes(inventory, state, "--timeout", "1", "-o", "json", *args)
        elapsed = time.monotonic() - started
        doc = assert_sane(proc, "json")
        assert elapsed < 4 * 1 + 1 + 2, elapsed  # the chain's deadline, one timeout for the store
        assert doc["status"] == "UNKNOWN" and doc["recorded"] is False
        assert doc["message"] == f"history unavailable: state store {db} is locked by another process (waited 1 s)"
        assert doc["suppliers"][0]["status"] == "OK"  # what the chain says is still shown
        assert "not read in time" not in proc.stdout
        if how == "exclusive":  # the history view waits no longer either
            started = time.monotonic()
            view = run_cli("stakes", "--history", A, "--db", str(db), "--timeout", "1", "--nagios")
            assert time.monotonic() - started < 4
            assert_sane(view, "nagios")
            assert view.stdout.startswith(f"STAKES UNKNOWN - history unavailable: state store {db} is locked")
    finally:
        holder.kill()
        holder.wait()


def test_connect_and_store_raise_store_locked_within_the_callers_bound(chain, tmp_path):
    _, _, db = recorded(chain, tmp_path)
    holder = hold(db, "immediate")
    try:
        for attempt in (lambda: HistoryStore(db, busy_timeout_s=0.3).run(write=True).__enter__(),):
            started = time.monotonic()
            with pytest.raises(StoreLocked) as caught:
                attempt()
            assert 0.25 < time.monotonic() - started < 1.5
            assert str(caught.value) == f"state store {db} is locked by another process (waited 0.3 s)"
            assert caught.value.path == db and caught.value.waited_s == 0.3
        conn = connect(db, create=False, busy_timeout_s=0.3)  # WAL: a reader is not blocked by a writer
        assert conn is not None
        conn.close()
    finally:
        holder.kill()
        holder.wait()


# ----------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("mode", [0o444, 0o400])
def test_read_only_store_is_never_made_writable(chain, tmp_path, mode):
    inventory, state, db = recorded(chain, tmp_path)
    os.chmod(db, mode)
    proc = stakes(inventory, state, "-o", "json")
    doc = assert_sane(proc, "json")
    assert stat.S_IMODE(db.stat().st_mode) == mode  # not silently 0600 again
    assert doc["status"] == "UNKNOWN" and doc["recorded"] is False
    assert doc["message"].startswith(f"history unavailable: state store {db} is read-only (mode {mode:04o})")
    nagios = stakes(inventory, state, "--nagios")
    assert_sane(nagios, "nagios")
    assert nagios.stdout.startswith(f"STAKES UNKNOWN - 0 warning, 0 critical of 1; history unavailable: "
                                    f"state store {db} is read-only")
    # reading it is still fine, and changes nothing
    doc = assert_sane(stakes(inventory, state, "-o", "json", "--no-record"), "json")
    assert doc["status"] == "OK", doc
    assert stat.S_IMODE(db.stat().st_mode) == mode
    with pytest.raises(StoreReadOnly):
        connect(db, create=True)


def test_writable_store_only_loses_group_and_other_bits(chain, tmp_path):
    inventory, state, db = recorded(chain, tmp_path)
    os.chmod(db, 0o664)
    assert_sane(stakes(inventory, state, "-o", "json"), "json")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_fifo_as_the_store_is_refused_at_once(chain, tmp_path):
    inventory = write_inventory(tmp_path / "inv", chain.url, [("a", A)])
    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)
    for args in (("--db", str(fifo)), ("--db", str(fifo), "--no-record")):
        started = time.monotonic()
        doc = assert_sane(stakes(inventory, tmp_path / "state", "-o", "json", *args, timeout=30), "json")
        assert time.monotonic() - started < 10
        assert doc["message"] == f"history unavailable: state store {fifo} is not a regular file"


def test_unwritable_store_folder_is_one_line(chain, tmp_path):
    inventory = write_inventory(tmp_path / "inv", chain.url, [("a", A)])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = stakes(inventory, tmp_path / "state", "--nagios", "--db", str(blocker / "fleetctl.db"))
    assert_sane(proc, "nagios")
    assert proc.returncode == 3
    assert f"history unavailable: state store {blocker / 'fleetctl.db'}: Not a directory" in proc.stdout


@pytest.mark.parametrize("maker", ["stakes", "stake-batch"])
def test_state_folder_is_0700_whoever_makes_it_first(tmp_path, maker):
    chain = HostileChain("shannon", [A])
    try:
        if maker == "stake-batch":
            # the supplier is unknown to the chain: stake --batch writes its config beside the store
            del chain.routes[f"/pokt-network/poktroll/supplier/supplier/{A}"]
        inventory = write_inventory(tmp_path / "inv", chain.url, [("a", A)],
                                    pocket_extra=", node_rpc_url: 'http://127.0.0.1:9', chain_id: pocket-lab")
        state = tmp_path / "deep" / "state"
        env = {"FLEETCTL_STATE_DIR": str(state)}
        if maker == "stakes":
            proc = run_cli("-i", str(inventory), "stakes", "-o", "json", env=env, timeout=60)
        else:
            proc = run_cli("-i", str(inventory), "stake", "--batch", env=env, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        if maker == "stake-batch":
            assert any((state / "stake").iterdir())
    finally:
        chain.close()
