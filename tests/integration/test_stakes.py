"""`fleetctl stakes` against the Pocket stand-in: real HTTP, the official Shannon and Morse shapes.

Each test starts its own stand-in on 127.0.0.1 (ports chosen by the OS) from a seed, writes a
temporary inventory whose fleet.yml points at it, and runs the installed ``fleetctl`` as a
subprocess (``conftest.run_cli``) and/or calls the library. Every history store lives in the
test's temporary folder.

Thresholds used throughout: minimum stake 1,000 POKT (set in the stand-in's params), warning
margin 100 POKT, critical margin 20 POKT, minimum operator balance 10 POKT.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from fleetctl.core.levels import Level
from fleetctl.pocket.base import ChainStatus
from fleetctl.state.schema import SCHEMA_VERSION
from fleetctl.state.stakes import HistoryStore, RunRecord, SampleRecord
from fleetctl.pocket.http import JsonClient, QueryError
from fleetctl.pocket.morse import MorseAdapter
from fleetctl.pocket.shannon import ShannonAdapter
from fleetctl.pocket.stakes import check_stakes
from fleetctl.spec.loader import load_inventory
from fleetlab import standin as pocket_standin
from fleetlab.standin import PocketStandin, lab_address

POKT = 1_000_000
MIN = 1_000 * POKT
W = 100 * POKT
C = 20 * POKT
RICH = 50 * POKT
PENALTY = POKT  # proof_missing_penalty in these tests
UNBONDING_SESSIONS, SESSION_BLOCKS = 2, 10
STAKE_YAML = "stake: {warning_margin: 100 POKT, critical_margin: 20 POKT, min_operator_balance: 10 POKT}"
OWNER = lab_address("test-owner")

# The boundary table: every threshold, exactly at it and one upokt beside it.
BOUNDARIES = [
    ("below-minimum", MIN - 1, Level.CRITICAL, "below the minimum"),
    ("at-minimum", MIN, Level.CRITICAL, "at the minimum"),
    ("minimum-plus-1", MIN + 1, Level.CRITICAL, "within the critical margin"),
    ("at-critical", MIN + C, Level.CRITICAL, "within the critical margin"),
    ("above-critical", MIN + C + 1, Level.WARNING, "within the warning margin"),
    ("at-warning", MIN + W, Level.WARNING, "within the warning margin"),
    ("above-warning", MIN + W + 1, Level.OK, None),
]


# ----------------------------------------------------------------------------- fixtures


def shannon_address(name: str) -> str:
    return lab_address(f"stakes-test-{name}")


def morse_address(name: str) -> str:
    return hashlib.sha256(f"stakes-test-{name}".encode()).hexdigest()[:40]


def shannon_seed(suppliers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Suppliers with the test params; every operator rich enough unless a test says not."""
    return {
        "height": 1000,
        "shannon": {
            "params": {"supplier": {"min_stake": MIN}, "proof": {"proof_missing_penalty": PENALTY},
                       "shared": {"num_blocks_per_session": SESSION_BLOCKS,
                                  "supplier_unbonding_period_sessions": UNBONDING_SESSIONS}},
            "suppliers": suppliers,
        },
        "balances": {s["operator_address"]: RICH for s in suppliers},
        **extra,
    }


def morse_seed(nodes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "height": 1000,
        "morse": {"params": {"pos": {"stake_minimum": MIN}}, "nodes": nodes},
        "balances": {n["address"]: RICH for n in nodes},
        **extra,
    }


@pytest.fixture()
def standin() -> Iterator[Callable[[dict[str, Any]], PocketStandin]]:
    """Start a stand-in from a seed; every one started is stopped at the end of the test."""
    started: list[PocketStandin] = []

    def start(seed: dict[str, Any]) -> PocketStandin:
        server = PocketStandin(seed).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def write_inventory(root: Path, url: str, suppliers: list[tuple[str, str]], *,
                    protocol: str = "shannon", owner: str | None = None,
                    extra: str = STAKE_YAML) -> Path:
    """An inventory folder whose fleet.yml points its pocket URL at ``url``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    owner_yaml = f", owner_address: {owner}" if owner else ""
    lines = [f"  - {{name: {name}, operator_address: '{address}'{owner_yaml}, services: [eth]}}"
             for name, address in suppliers]
    pocket = f"rest_url: '{url}'" if protocol == "shannon" else f"rpc_url: '{url}'"
    (root / "fleet.yml").write_text(
        f"protocol: {protocol}\npocket: {{{pocket}}}\n"
        "chains:\n  eth: {clients: [geth], replicas: 1, morse_chain_id: '0021'}\n"
        + ("suppliers:\n" + "\n".join(lines) + "\n" if lines else "")
        + extra + "\n")
    return root


def stakes_cli(inventory: Path, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
    """``fleetctl -i INVENTORY stakes ARGS`` with the default history under ``state``."""
    return run_cli("-i", str(inventory), "stakes", *args, env={"FLEETCTL_STATE_DIR": str(state)},
                   timeout=60)


def stakes_json(inventory: Path, *args: str, state: Path) -> tuple[int, dict[str, Any]]:
    proc = stakes_cli(inventory, "-o", "json", *args, state=state)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in doc["suppliers"]}


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ----------------------------------------------------------------------------- Shannon


def test_shannon_boundary_table_cli_and_library(standin, tmp_path):
    suppliers = [{"operator_address": shannon_address(name), "stake_upokt": stake}
                 for name, stake, _, _ in BOUNDARIES]
    suppliers.append({"operator_address": shannon_address("unbonding"), "stake_upokt": MIN + 5 * W,
                      "unstake_session_end_height": 990})
    server = standin(shannon_seed(suppliers))
    names = [(name, shannon_address(name)) for name, *_ in BOUNDARIES]
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [*names, ("unbonding", shannon_address("unbonding"))])

    code, doc = stakes_json(inventory, state=tmp_path)
    assert code == 2 and doc["status"] == "CRITICAL"
    rows = by_name(doc)
    for name, stake, level, reason in BOUNDARIES:
        row = rows[name]
        assert row["status"] == level.name, (name, row)
        assert row["stake_upokt"] == stake and row["min_stake_upokt"] == MIN
        assert row["margin_upokt"] == stake - MIN
        assert (row["warning_margin_upokt"], row["critical_margin_upokt"]) == (W, C)
        assert row["topup_upokt"] == max(0, MIN + W + 1 - stake)
        assert row["penalties_to_minimum"] == max(0, stake - MIN) // PENALTY
        if reason is None:
            assert row["reasons"] == []
        else:
            assert reason in row["reasons"][0], row
        for key in ("stake_upokt", "min_stake_upokt", "margin_upokt", "topup_upokt",
                    "penalties_to_minimum", "operator_balance_upokt"):
            assert type(row[key]) is int, (key, row[key])
    unbonding = rows["unbonding"]
    end = 990 + UNBONDING_SESSIONS * SESSION_BLOCKS
    assert unbonding["status"] == "CRITICAL" and unbonding["unbonding_end_height"] == end
    assert unbonding["reasons"] == [f"unbonding unexpectedly, ends at height {end}"]
    # riskiest first: CRITICAL rows by margin, then WARNING, then OK
    assert [s["status"] for s in doc["suppliers"]] == ["CRITICAL"] * 5 + ["WARNING"] * 2 + ["OK"]
    assert doc["suppliers"][0]["name"] == "below-minimum"

    report = check_stakes(load_inventory(inventory), db=tmp_path / "library.db")
    assert report.exit_code == 2
    assert {s.name: s.level for s in report.suppliers} == {
        **{name: level for name, _, level, _ in BOUNDARIES}, "unbonding": Level.CRITICAL}

    table = stakes_cli(inventory, "--no-record", state=tmp_path)
    assert table.returncode == 2
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["SUPPLIER", "STATUS", "CHAIN"]
    assert lines[1].split()[:3] == ["below-minimum", "CRITICAL", "staked"]
    assert lines[-1].startswith("stakes: CRITICAL at height 1000 - 2 warning, 5 critical of 8; "
                                "below-minimum: stake 999.999999 POKT below the minimum")

    nagios = stakes_cli(inventory, "--nagios", "--no-record", state=tmp_path)
    assert nagios.returncode == 2
    line = nagios.stdout.strip()
    assert "\n" not in line
    assert line.startswith("STAKES CRITICAL - 2 warning, 5 critical of 8; below-minimum: stake ")
    assert f"'above-critical_margin'={C + 1};{W};{C};0" in line.split(" | ")[1]
    assert f"'above-warning_margin'={W + 1};{W};{C};0" in line


def test_percent_thresholds_with_mainnet_minimum(standin, tmp_path):
    """The lab's fleet.yml thresholds (10 % / 2 % of 59,500 POKT) on the mainnet params."""
    minimum = 59_500 * POKT
    cases = {"lab-sup-4": minimum + 3_500 * POKT, "ok": minimum + 5_950 * POKT + 1,
             "warn-edge": minimum + 5_950 * POKT, "crit-edge": minimum + 1_190 * POKT}
    seed = {"shannon": {"suppliers": [{"operator_address": shannon_address(n), "stake_upokt": s}
                                      for n, s in cases.items()]},
            "balances": {shannon_address(n): RICH for n in cases}}
    server = standin(seed)
    inventory = write_inventory(
        tmp_path / "inv", server.shannon_url, [(n, shannon_address(n)) for n in cases],
        extra="stake: {warning_margin: 10%, critical_margin: 2%, min_operator_balance: 10 POKT}")
    proc = stakes_cli(inventory, "--nagios", state=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout.startswith("STAKES CRITICAL - 2 warning, 1 critical of 4; crit-edge: margin")
    assert "'lab-sup-4_margin'=3500000000;5950000000;1190000000;0" in proc.stdout
    code, doc = stakes_json(inventory, "--no-record", state=tmp_path)
    rows = by_name(doc)
    assert code == 2
    assert [rows[n]["status"] for n in cases] == ["WARNING", "OK", "WARNING", "CRITICAL"]
    assert rows["lab-sup-4"]["margin_percent"] == 5.88
    assert rows["lab-sup-4"]["penalties"] == [  # mainnet proof_missing_penalty: 1 upokt
        {"name": "proof_missing", "burn_upokt": 1, "to_minimum": 3_500 * POKT}]


def test_operator_balance_below_minimum_is_a_warning(standin, tmp_path):
    poor, rich = shannon_address("poor"), shannon_address("rich")
    seed = shannon_seed([{"operator_address": a, "stake_upokt": MIN + 10 * W} for a in (poor, rich)])
    seed["balances"][poor] = 10 * POKT - 1
    server = standin(seed)
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("poor", poor), ("rich", rich)])
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert code == 1 and rows["rich"]["status"] == "OK"
    assert rows["poor"]["status"] == "WARNING"
    assert rows["poor"]["operator_balance_upokt"] == 10 * POKT - 1
    assert rows["poor"]["reasons"] == ["operator balance 9.999999 POKT below 10 POKT"]


def test_slash_between_runs_is_a_warning_with_the_amount(standin, tmp_path):
    address = shannon_address("slashed")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("slashed", address)])
    code, doc = stakes_json(inventory, state=tmp_path)
    assert code == 0 and doc["recorded"] is True
    assert doc["history_db"] == str(tmp_path / "fleetctl.db")

    server.control.slash_supplier(address, 3 * PENALTY + 7)  # still far above every threshold
    code, doc = stakes_json(inventory, state=tmp_path)
    row = by_name(doc)["slashed"]
    assert code == 1 and row["status"] == "WARNING"
    assert row["slashed_upokt"] == 3 * PENALTY + 7
    assert row["previous_stake_upokt"] == MIN + 10 * W
    assert row["reasons"] == ["slashed: stake down 3.000007 POKT since the last run "
                              "(2,000 POKT at height 1000)"]
    nagios = stakes_cli(inventory, "--nagios", "--no-record", state=tmp_path)
    assert nagios.returncode == 0  # compared with the run just recorded: nothing new

    code, doc = stakes_json(inventory, state=tmp_path)
    assert code == 0 and by_name(doc)["slashed"]["slashed_upokt"] is None

    for key in ("slashed", address):  # by name (from the inventory) or by address
        code, trend = stakes_json(inventory, "--history", key, state=tmp_path)
        assert code == 0 and trend["address"] == address
        assert [s["status"] for s in trend["samples"]] == ["OK", "WARNING", "OK"]
        assert trend["slashes"] == [{
            "checked_at": trend["samples"][1]["checked_at"], "height": 1000,
            "amount_upokt": 3 * PENALTY + 7, "stake_before_upokt": MIN + 10 * W,
            "stake_after_upokt": MIN + 10 * W - 3 * PENALTY - 7}]
    table = stakes_cli(inventory, "--history", "slashed", state=tmp_path)
    assert table.returncode == 0
    assert "WARNING: slashed 3.000007 POKT at " in table.stdout
    # the store alone is enough for --history
    alone = run_cli("stakes", "--history", address, "--db", str(tmp_path / "fleetctl.db"),
                    "--nagios")
    assert alone.returncode == 0
    assert alone.stdout.strip() == (f"STAKES OK - {address}: 3 change(s) recorded, 1 slash(es), "
                                    "3.000007 POKT lost")


def test_slash_below_minimum_unstakes_and_is_critical(standin, tmp_path):
    address = shannon_address("falls")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 2 * POKT}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("falls", address)])
    assert stakes_cli(inventory, state=tmp_path).returncode == 2  # within the critical margin
    server.control.slash_supplier(address, 3 * POKT)  # the chain auto-unstakes it (BELOW_MIN_STAKE)
    code, doc = stakes_json(inventory, state=tmp_path)
    row = by_name(doc)["falls"]
    assert code == 2 and row["chain_status"] == "unbonding"
    assert row["reasons"][0] == "stake 999 POKT below the minimum 1,000 POKT"
    assert row["reasons"][1].startswith("unbonding unexpectedly, ends at height ")
    assert row["reasons"][2].startswith("slashed: stake down 3 POKT")
    assert row["penalties_to_minimum"] == 0


def test_unknown_supplier_then_unstaked_supplier(standin, tmp_path):
    staked, ghost = shannon_address("staked"), shannon_address("ghost")
    server = standin(shannon_seed([{"operator_address": staked, "stake_upokt": MIN + 10 * W}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [("staked", staked), ("ghost", ghost)])
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert code == 3 and rows["staked"]["status"] == "OK"
    assert rows["ghost"]["status"] == "UNKNOWN"
    assert rows["ghost"]["reasons"] == ["not staked / unknown to the chain"]
    server.control.delete_supplier(staked)  # unbonded and removed from the chain
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert code == 2 and rows["staked"]["status"] == "CRITICAL"
    assert rows["staked"]["reasons"] == [
        "unstaked: no longer on the chain (staked with 2,000 POKT at height 1000)"]
    assert rows["ghost"]["status"] == "UNKNOWN"


def test_planned_suppliers_are_skipped(standin, tmp_path):
    address = shannon_address("real")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("real", address)])
    fleet_yml = inventory / "fleet.yml"
    fleet_yml.write_text(fleet_yml.read_text().replace(
        "suppliers:\n", "suppliers:\n  - {count: 3, name_prefix: later, services: [eth]}\n"))
    code, doc = stakes_json(inventory, state=tmp_path)
    assert code == 0 and doc["skipped_planned"] == 3
    assert [s["name"] for s in doc["suppliers"]] == ["real"]


@pytest.mark.parametrize("module, param, reason", [
    ("supplier", "min_stake", "missing field min_stake"),
    ("proof", "proof_missing_penalty", "missing field proof_missing_penalty"),
    ("shared", "num_blocks_per_session", "missing field num_blocks_per_session"),
])
def test_shannon_param_missing_is_unknown(standin, tmp_path, module, param, reason):
    healthy, below = shannon_address("healthy"), shannon_address("below")
    server = standin(shannon_seed([{"operator_address": healthy, "stake_upokt": MIN + 10 * W},
                                   {"operator_address": below, "stake_upokt": MIN - 1}]))
    server.control.set_shannon_params(module, remove=[param])
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [("healthy", healthy), ("below", below)])
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert rows["healthy"]["status"] == "UNKNOWN"
    assert any(reason in r for r in rows["healthy"]["reasons"]), rows["healthy"]
    # what is still known stays known: without min_stake nothing is; without the others the
    # supplier below the minimum is still CRITICAL
    expected = "UNKNOWN" if param == "min_stake" else "CRITICAL"
    assert rows["below"]["status"] == expected
    assert code == (3 if param == "min_stake" else 2)


def test_shannon_param_malformed_is_unknown(standin, tmp_path):
    address = shannon_address("p")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    server.control.set_shannon_params("supplier", {"min_stake": {"denom": "uatom", "amount": 5}})
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("p", address)])
    code, doc = stakes_json(inventory, state=tmp_path)
    assert code == 3
    assert "denom 'uatom', expected 'upokt'" in by_name(doc)["p"]["reasons"][0]


@pytest.mark.parametrize("stake, reason", [
    (None, "missing field stake"),
    ({"denom": "upokt"}, "missing field amount"),
    ({"denom": "upokt", "amount": "12.5"}, "expected an integer, got '12.5'"),
    ({"denom": "upokt", "amount": "-5"}, "expected an integer, got '-5'"),
    ({"denom": "uatom", "amount": "70000000000"}, "denom 'uatom'"),
    ("drop", "missing field stake"),
])
def test_shannon_stake_field_missing_or_malformed_is_unknown(standin, tmp_path, monkeypatch,
                                                             stake, reason):
    broken, fine = shannon_address("broken"), shannon_address("fine")
    original = pocket_standin.Supplier._wire

    def wire(self: Any, services: Any, history: Any) -> dict[str, Any]:
        out = original(self, services, history)
        if self.operator_address == broken:
            if stake == "drop":
                del out["stake"]
            else:
                out["stake"] = stake
        return out

    monkeypatch.setattr(pocket_standin.Supplier, "_wire", wire)
    server = standin(shannon_seed([{"operator_address": a, "stake_upokt": MIN + 10 * W}
                                   for a in (broken, fine)]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [("broken", broken), ("fine", fine)])
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert code == 3 and rows["fine"]["status"] == "OK"
    assert rows["broken"]["status"] == "UNKNOWN" and rows["broken"]["stake_upokt"] is None
    assert reason in rows["broken"]["reasons"][0], rows["broken"]


@pytest.mark.parametrize("mode, reason", [
    ("http500", "HTTP 500"),
    ("garbage", "malformed JSON"),
    ("truncated", "truncated response"),
    ("empty", "empty response"),
    ("http503", "HTTP 503"),
    ("hang", "no answer within 0.5 s"),
])
def test_shannon_faults_on_one_supplier_are_unknown(standin, tmp_path, mode, reason):
    broken, fine = shannon_address("broken"), shannon_address("fine")
    server = standin(shannon_seed([{"operator_address": a, "stake_upokt": MIN + 10 * W}
                                   for a in (broken, fine)]))
    server.control.set_fault(mode, path_prefix=f"/pokt-network/poktroll/supplier/supplier/{broken}")
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [("broken", broken), ("fine", fine)])
    started = time.monotonic()
    code, doc = stakes_json(inventory, "--timeout", "0.5", state=tmp_path)
    assert time.monotonic() - started < 15
    rows = by_name(doc)
    assert code == 3 and doc["status"] == "UNKNOWN"
    assert rows["fine"]["status"] == "OK"
    assert rows["broken"]["status"] == "UNKNOWN"
    assert rows["broken"]["reasons"][0].startswith("unreadable: ")
    assert reason in rows["broken"]["reasons"][0], rows["broken"]


@pytest.mark.parametrize("mode, count, level", [
    ("http503", 3, "OK"),  # transient: retried (4 attempts), then answered
    ("http500", 1, "UNKNOWN"),  # not transient: never retried, even though the next would pass
    ("truncated", 1, "UNKNOWN"),
    ("garbage", 1, "UNKNOWN"),
])
def test_only_transient_errors_are_retried(standin, tmp_path, mode, count, level):
    address = shannon_address("flaky")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    server.control.set_fault(mode, path_prefix=f"/pokt-network/poktroll/supplier/supplier/{address}",
                             count=count)
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("flaky", address)])
    code, doc = stakes_json(inventory, state=tmp_path)
    assert by_name(doc)["flaky"]["status"] == level, doc
    assert code == (0 if level == "OK" else 3)


def test_balance_unreadable_is_unknown(standin, tmp_path):
    address = shannon_address("b")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    server.control.set_fault("http500", path_prefix="/cosmos/bank/")
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("b", address)])
    code, doc = stakes_json(inventory, state=tmp_path)
    row = by_name(doc)["b"]
    assert code == 3 and row["status"] == "UNKNOWN"
    assert row["reasons"][0].startswith("operator balance unreadable: ")
    assert row["stake_upokt"] == MIN + 10 * W  # what was read is still shown


def test_endpoint_down_is_unknown_in_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    inventory = write_inventory(tmp_path / "inv", url, [("a", shannon_address("a"))])
    started = time.monotonic()
    table = stakes_cli(inventory, state=tmp_path)
    assert time.monotonic() - started < 15
    assert table.returncode == 3 and table.stdout == ""
    lines = table.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stakes: UNKNOWN: cannot read the chain at {url}: ")
    nagios = stakes_cli(inventory, "--nagios", state=tmp_path)
    assert nagios.returncode == 3
    assert nagios.stdout.startswith(f"STAKES UNKNOWN - cannot read the chain at {url}: ")
    assert "|" not in nagios.stdout
    code, doc = stakes_json(inventory, state=tmp_path)
    assert code == 3 and doc["status"] == "UNKNOWN" and doc["suppliers"] == []
    assert doc["message"].startswith("cannot read the chain")
    # the run is still recorded, as an UNKNOWN run without samples
    with sqlite3.connect(tmp_path / "fleetctl.db") as conn:
        assert conn.execute("SELECT status, height FROM runs").fetchall() == [("UNKNOWN", None)] * 3


def test_endpoint_answering_garbage_everywhere_is_unknown(standin, tmp_path):
    server = standin(shannon_seed([]))
    server.control.set_fault("garbage")
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("a", shannon_address("a"))])
    proc = stakes_cli(inventory, "--nagios", state=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout.startswith("STAKES UNKNOWN - cannot read the chain at ")
    assert "malformed JSON" in proc.stdout


def test_owner_listing_reads_the_fleet_in_one_request(standin, tmp_path):
    """With owners declared, suppliers come from one listing; odd ones fall back to a query."""
    addresses = [shannon_address(f"owned-{i}") for i in range(7)]
    suppliers = [{"operator_address": a, "owner_address": OWNER, "stake_upokt": MIN + 10 * W}
                 for a in addresses]
    suppliers[6]["owner_address"] = lab_address("someone-else")  # fleet.yml is out of date
    server = standin(shannon_seed(suppliers))
    # every per-address query fails: only the listing can read them
    server.control.set_fault("http500", path_prefix="/pokt-network/poktroll/supplier/supplier/")
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [(f"owned-{i}", a) for i, a in enumerate(addresses)]
                                + [("ghost", shannon_address("ghost"))], owner=OWNER)
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert [rows[f"owned-{i}"]["status"] for i in range(6)] == ["OK"] * 6
    assert "HTTP 500" in rows["owned-6"]["reasons"][0]  # not in the owner's listing: queried
    assert "HTTP 500" in rows["ghost"]["reasons"][0]
    # a failed listing falls back to one query per supplier
    server.control.set_fault("http500", path_prefix="/pokt-network/poktroll/supplier/supplier",
                             count=1)
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert [rows[f"owned-{i}"]["status"] for i in range(7)] == ["OK"] * 7
    assert rows["ghost"]["reasons"] == ["not staked / unknown to the chain"]
    assert code == 3


def _recorded_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, float]]:
    """Every request fleetctl's HTTP client sends from now on: (event, path, time), the events
    "sent" (the request goes out, after any wait for a slot), "answered" and "dropped"."""
    from fleetctl.core import httpclient

    log: list[tuple[str, str, float]] = []
    original = httpclient.HttpPool.request

    async def request(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        path = url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
        log.append(("sent", path, time.monotonic()))
        try:
            answer = await original(self, method, url, **kwargs)
        except BaseException:
            log.append(("dropped", path, time.monotonic()))
            raise
        log.append(("answered", path, time.monotonic()))
        return answer

    monkeypatch.setattr(httpclient.HttpPool, "request", request)
    return log


def _suppliers_of(owner: str, addresses: list[str]) -> list[Any]:
    from fleetctl.spec.model import Supplier

    return [Supplier(f"s{i}", ("eth",), a, owner) for i, a in enumerate(addresses)]


def test_the_chain_read_sends_the_listing_before_the_balances(standin, monkeypatch):
    """Height and params first (each module's params once), then the owner's listing (the
    largest answer), then the balances: first come, first served, whatever order the reads were
    started in."""
    from fleetctl.pocket.stakes import read_chain

    addresses = [shannon_address(f"o{i}") for i in range(8)]
    server = standin(shannon_seed([{"operator_address": a, "owner_address": OWNER, "stake_upokt": MIN + 10 * W}
                                   for a in addresses]))
    log = _recorded_requests(monkeypatch)
    adapter = ShannonAdapter(JsonClient(server.shannon_url, concurrency=1))  # one at a time: the queue's order
    chain = asyncio.run(read_chain(adapter, _suppliers_of(OWNER, addresses)))
    assert isinstance(chain.height, int) and len(chain.readings) == 8
    sent = [path for event, path, _ in log if event == "sent"]
    listing = sent.index("pokt-network/poktroll/supplier/supplier")
    balances = [i for i, path in enumerate(sent) if path.startswith("cosmos/bank/")]
    assert sent[0] == "cosmos/base/tendermint/v1beta1/blocks/latest"
    assert len(balances) == 8 and listing < min(balances), sent
    assert all("params" in path or "supply" in path for path in sent[1:listing]), sent
    # the stake params and the fee estimate's claim params share one read of each module
    assert sorted(p for p in sent if p.endswith("/params")) == [
        f"pokt-network/poktroll/{m}/params" for m in ("proof", "shared", "supplier")], sent


def test_the_suppliers_are_read_beside_the_height_not_after_it(standin, monkeypatch):
    """The listing and the balances go out while the height is still on its way (one round
    trip less), and their answers are used once the height is in."""
    from fleetctl.pocket.stakes import read_chain

    addresses = [shannon_address(f"b{i}") for i in range(6)]
    server = standin(shannon_seed([{"operator_address": a, "owner_address": OWNER, "stake_upokt": MIN + 10 * W}
                                   for a in addresses]))
    server.control.set_latency(150)
    log = _recorded_requests(monkeypatch)
    adapter = ShannonAdapter(JsonClient(server.shannon_url, concurrency=32))
    chain = asyncio.run(read_chain(adapter, _suppliers_of(OWNER, addresses)))
    assert isinstance(chain.height, int)
    assert {a: r.balance for a, r in chain.readings.items()} == {a: RICH for a in addresses}
    height_answered = next(t for event, path, t in log if event == "answered" and path.endswith("blocks/latest"))
    first_balance = min(t for event, path, t in log if event == "sent" and path.startswith("cosmos/bank/"))
    listing = next(t for event, path, t in log if event == "sent" and path.endswith("supplier/supplier"))
    assert first_balance < height_answered and listing < height_answered


def test_an_unreadable_height_drops_the_supplier_reads_in_flight(standin, monkeypatch):
    """The chain is unreadable without its height: the reads already out are cancelled (none
    outlives the read, none is judged), whether or not they would have answered."""
    from fleetctl.pocket.stakes import read_chain

    addresses = [shannon_address(f"u{i}") for i in range(6)]
    server = standin(shannon_seed([{"operator_address": a, "owner_address": OWNER, "stake_upokt": MIN + 10 * W}
                                   for a in addresses]))
    server.control.set_fault("garbage", path_prefix="/cosmos/base/tendermint/")  # not JSON: no retry
    log = _recorded_requests(monkeypatch)
    adapter = ShannonAdapter(JsonClient(server.shannon_url, concurrency=32, timeout=30, deadline=60))
    cancelled: list[str] = []

    async def never(address: str) -> int:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(address)
            raise
        return 0

    monkeypatch.setattr(adapter, "balance", never)
    started = time.monotonic()
    chain = asyncio.run(read_chain(adapter, _suppliers_of(OWNER, addresses)))
    assert time.monotonic() - started < 10
    assert isinstance(chain.height, QueryError) and "malformed JSON" in str(chain.height)
    assert chain.readings == {} and sorted(cancelled) == sorted(addresses)
    sent = [path for event, path, _ in log if event == "sent"]
    ended = [path for event, path, _ in log if event in ("answered", "dropped")]
    assert sorted(sent) == sorted(ended)  # nothing left running


def test_a_chain_read_cancelled_as_it_starts_leaves_nothing_running(standin, monkeypatch):
    """A cancel landing on the read's first yield (the one that lets the listing queue ahead of
    the balances) still cancels every read it started: none outlives it."""
    from fleetctl.pocket.stakes import read_chain

    addresses = [shannon_address(f"y{i}") for i in range(4)]
    server = standin(shannon_seed([{"operator_address": a, "owner_address": OWNER, "stake_upokt": MIN + 10 * W}
                                   for a in addresses]))
    adapter = ShannonAdapter(JsonClient(server.shannon_url, concurrency=8, timeout=30, deadline=60))
    events: list[str] = []

    async def main() -> list[asyncio.Task[Any]]:
        outer = asyncio.ensure_future(read_chain(adapter, _suppliers_of(OWNER, addresses)))

        async def read_suppliers(suppliers: Any) -> dict[str, Any]:
            outer.cancel()  # read_chain is on its yield right now: the listing's first step runs
            events.append("listing started")
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                events.append("listing cancelled")
                raise
            return {}

        async def balance(address: str) -> int:
            events.append("balance")
            return 0

        monkeypatch.setattr(adapter, "read_suppliers", read_suppliers)
        monkeypatch.setattr(adapter, "balance", balance)
        with pytest.raises(asyncio.CancelledError):
            await outer
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]

    started = time.monotonic()
    left = asyncio.run(main())
    assert left == [] and events == ["listing started", "listing cancelled"]
    assert time.monotonic() - started < 10


def test_concurrent_runs_share_one_history_store(standin, tmp_path):
    addresses = [shannon_address(f"c{i}") for i in range(20)]
    server = standin(shannon_seed([{"operator_address": a, "stake_upokt": MIN + 10 * W + i}
                                   for i, a in enumerate(addresses)]))
    server.control.set_latency(5)
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [(f"c{i}", a) for i, a in enumerate(addresses)])
    db = tmp_path / "state" / "shared.db"  # fresh: the runs race to create it too
    env = {**{k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}}
    argv = [str(Path(sys.executable).parent / "fleetctl"), "-i", str(inventory), "-o", "json",
            "stakes", "--db", str(db)]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env) for _ in range(8)]
    results = [(p.wait(timeout=60), *p.communicate()) for p in runs]
    for code, out, err in results:
        assert code == 0, err
        assert json.loads(out)["recorded"] is True
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*), count(DISTINCT checked_at) > 0 FROM runs").fetchone()[0] == 8
        # one sample per supplier: the later runs saw nothing change
        assert conn.execute("SELECT count(*), count(DISTINCT address) FROM samples").fetchone() == (20, 20)
    server.control.slash_supplier(addresses[3], 1)
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env) for _ in range(4)]
    docs = [json.loads(p.communicate(timeout=60)[0]) for p in runs]
    # overlapping runs never both claim the slash: exactly one reports it
    assert sorted(by_name(d)["c3"]["slashed_upokt"] or 0 for d in docs) == [0, 0, 0, 1]


def test_history_transactions_serialize_read_and_write(tmp_path):
    """A run that reads while another holds the store sees that run's record, not the state
    before it (BEGIN IMMEDIATE): two overlapping runs cannot both compare with the same past."""
    store = HistoryStore(tmp_path / "race.db")

    def run_record(stake: int) -> RunRecord:
        sample = SampleRecord("a", "a", "OK", "staked", False, stake, 1, 1, None, ())
        return RunRecord("t", "shannon", "http://127.0.0.1:1", 1, "OK", None, (sample,))

    with store.run(write=True) as run:
        run.record(run_record(100))
    first_read, seen = threading.Event(), {}

    def slow_run() -> None:
        with store.run(write=True) as run:
            seen["slow"] = run.previous(["a"])["a"].stake_upokt
            first_read.set()
            time.sleep(0.3)
            run.record(run_record(90))

    thread = threading.Thread(target=slow_run)
    thread.start()
    assert first_read.wait(5)
    with store.run(write=True) as run:
        seen["fast"] = run.previous(["a"])["a"].stake_upokt
        run.record(run_record(90))
    thread.join(5)
    assert seen == {"slow": 100, "fast": 90}
    assert [s.record.stake_upokt for s in store.trend("a").samples] == [100, 90]  # unchanged: 1 row


def test_history_location_and_no_record(standin, tmp_path):
    address = shannon_address("h")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("h", address)])
    state = tmp_path / "state"
    proc = stakes_cli(inventory, "--no-record", state=state)
    assert proc.returncode == 0 and not state.exists()  # --no-record creates nothing
    proc = stakes_cli(inventory, "--history", "h", state=state)
    assert proc.returncode == 3 and not state.exists()
    assert proc.stderr.strip() == f"stakes: no history for {address} in {state / 'fleetctl.db'}"
    assert stakes_cli(inventory, state=state).returncode == 0
    assert stat.S_IMODE((state / "fleetctl.db").stat().st_mode) == 0o600
    fleet_yml = inventory / "fleet.yml"
    fleet_yml.write_text(fleet_yml.read_text().replace(
        "min_operator_balance: 10 POKT}", "min_operator_balance: 10 POKT, history_db: db/stakes.db}"))
    code, doc = stakes_json(inventory, state=state)
    assert code == 0 and doc["history_db"] == str(inventory / "db" / "stakes.db")  # inventory-relative
    assert (inventory / "db" / "stakes.db").exists()
    code, doc = stakes_json(inventory, "--db", str(tmp_path / "cli.db"), state=state)
    assert code == 0 and doc["history_db"] == str(tmp_path / "cli.db")
    assert (tmp_path / "cli.db").exists()


def test_unusable_history_is_unknown_not_ok(standin, tmp_path):
    address = shannon_address("h")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("h", address)])
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    code, doc = stakes_json(inventory, "--db", str(db), state=tmp_path)
    assert code == 3 and doc["status"] == "UNKNOWN" and doc["recorded"] is False
    assert "schema version 99 is newer" in doc["message"]
    assert by_name(doc)["h"]["status"] == "OK"  # the chain facts are still reported


def test_invalid_inventory_is_unknown(tmp_path):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (tmp_path / "fleet.yml").write_text("protocol: shannon\npocket: {rest_url: nope}\n")
    proc = run_cli("-i", str(tmp_path), "stakes", "--nagios")
    assert proc.returncode == 3
    assert proc.stdout.startswith("STAKES UNKNOWN - ")
    assert run_cli("stakes").returncode == 3  # no inventory at all


def test_thousand_suppliers_in_one_sweep(standin, tmp_path):
    addresses = [shannon_address(f"k{i}") for i in range(1000)]
    server = standin(shannon_seed([{"operator_address": a, "stake_upokt": MIN + 10 * W + i}
                                   for i, a in enumerate(addresses)]))
    server.control.set_latency(20)  # one by one: >= 2,000 x 20 ms = 40 s
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [(f"k{i}", a) for i, a in enumerate(addresses)])
    fleet = load_inventory(inventory)
    started = time.monotonic()
    report = check_stakes(fleet, db=tmp_path / "k.db")
    assert time.monotonic() - started < 15
    assert report.exit_code == 0 and len(report.suppliers) == 1000
    assert report.counts() == {"ok": 1000, "warning": 0, "critical": 0, "unknown": 0}
    line = report.nagios_line()
    assert len(line.encode()) < 4096
    assert line.endswith("| 'suppliers'=1000 'ok'=1000 'warning'=0 'critical'=0 'unknown'=0 "
                         f"'min_margin'={10 * W};{W};{C};0")


def test_client_bounds_concurrency_and_keeps_a_deadline(standin):
    server = standin(shannon_seed([]))
    server.control.set_latency(50)

    async def burst(concurrency: int, count: int) -> float:
        async with JsonClient(server.shannon_url, concurrency=concurrency) as client:
            started = time.monotonic()
            await asyncio.gather(*(client.get("/pokt-network/poktroll/supplier/params")
                                   for _ in range(count)))
            return time.monotonic() - started

    elapsed = asyncio.run(burst(4, 40))
    assert 10 * 0.05 <= elapsed < 40 * 0.05  # 4 at a time: 10 rounds, far from 40 in a row

    server.control.set_latency(0)
    server.control.set_fault("hang")

    async def hang() -> float:
        async with JsonClient(server.shannon_url, timeout=0.2, deadline=0.7) as client:
            started = time.monotonic()
            with pytest.raises(QueryError) as caught:
                await client.get("/pokt-network/poktroll/supplier/params")
            assert "no answer within 0.2 s" in str(caught.value)
            return time.monotonic() - started

    assert asyncio.run(hang()) < 1.5  # the deadline cuts the retries short


def test_shannon_adapter_lists_by_service_across_pages(standin, monkeypatch):
    from fleetctl.pocket import shannon

    monkeypatch.setattr(shannon, "_PAGE_LIMIT", 3)
    suppliers = [{"operator_address": shannon_address(f"l{i}"), "stake_upokt": MIN + i,
                  "services": ["eth"] if i % 2 else ["anvil"]} for i in range(10)]
    suppliers[1]["unstake_session_end_height"] = 1005
    server = standin(shannon_seed(suppliers))

    async def listing() -> list[Any]:
        async with ShannonAdapter(JsonClient(server.shannon_url)) as adapter:
            return await adapter.suppliers_for_service("eth")

    states = asyncio.run(listing())
    assert sorted(s.address for s in states) == sorted(shannon_address(f"l{i}") for i in range(1, 10, 2))
    unbonding = {s.address: s for s in states}[shannon_address("l1")]
    assert unbonding.status is ChainStatus.UNBONDING and unbonding.stake_upokt == MIN + 1


# ----------------------------------------------------------------------------- Morse


def test_morse_boundary_table_and_states(standin, tmp_path):
    nodes = [{"address": morse_address(name), "tokens_upokt": stake, "chains": ["0021"]}
             for name, stake, _, _ in BOUNDARIES]
    nodes += [
        {"address": morse_address("unstaking"), "tokens_upokt": MIN + 5 * W, "status": 1,
         "unstaking_time": "2999-01-01T00:00:00Z"},
        {"address": morse_address("unstaked"), "tokens_upokt": 0, "status": 0},
        {"address": morse_address("jailed"), "tokens_upokt": MIN + 5 * W, "jailed": True,
         "signing_info": {"jailed_until": "2999-02-03T04:05:06Z", "jailed_blocks_counter": 60}},
    ]
    server = standin(morse_seed(nodes))
    names = [n for n, *_ in BOUNDARIES] + ["unstaking", "unstaked", "jailed", "ghost"]
    inventory = write_inventory(tmp_path / "inv", server.morse_url,
                                [(n, morse_address(n)) for n in names], protocol="morse")
    code, doc = stakes_json(inventory, state=tmp_path)
    assert code == 2 and doc["protocol"] == "morse"
    rows = by_name(doc)
    for name, stake, level, reason in BOUNDARIES:
        assert rows[name]["status"] == level.name, rows[name]
        assert rows[name]["stake_upokt"] == stake and rows[name]["min_stake_upokt"] == MIN
        if reason:
            assert reason in rows[name]["reasons"][0]
    assert rows["unstaking"]["status"] == "CRITICAL"
    assert rows["unstaking"]["reasons"] == ["unbonding unexpectedly, ends at 2999-01-01T00:00:00Z"]
    assert rows["unstaking"]["unbonding_end_time"] == "2999-01-01T00:00:00Z"
    assert rows["unstaked"]["status"] == "CRITICAL" and "unstaked" in rows["unstaked"]["reasons"]
    jailed = rows["jailed"]
    assert jailed["status"] == "CRITICAL" and jailed["jailed"] is True
    assert jailed["jailed_until"] == "2999-02-03T04:05:06Z"
    assert jailed["reasons"] == ["jailed until 2999-02-03T04:05:06Z, force-unstaked after 37900 "
                                 "more jailed blocks"]
    assert rows["ghost"]["status"] == "UNKNOWN"
    assert rows["ghost"]["reasons"] == ["not staked / unknown to the chain"]
    # mainnet slash fractions: downtime 0.000001, double sign 0.05 of the stake in whole POKT
    penalties = {p["name"]: p for p in rows["above-warning"]["penalties"]}
    assert penalties["downtime"]["burn_upokt"] == 1_100  # 1,100 POKT of power x 0.000001
    assert penalties["double_sign"]["burn_upokt"] == 55 * POKT
    assert penalties["double_sign"]["to_minimum"] == 1  # 100.000001 POKT over: one 55 POKT burn
    assert rows["above-warning"]["penalties_to_minimum"] == 1

    table = stakes_cli(inventory, "--no-record", state=tmp_path)
    assert "staked+jailed" in table.stdout and table.returncode == 2
    # without its signing info a jailed node is still CRITICAL, only until when is unknown
    server.control.set_fault("http500", path_prefix="/v1/query/signinginfo")
    code, doc = stakes_json(inventory, "--no-record", state=tmp_path)
    assert by_name(doc)["jailed"]["reasons"] == ["jailed"]
    assert by_name(doc)["jailed"]["status"] == "CRITICAL"


def test_morse_slash_and_jail_between_runs(standin, tmp_path):
    address = morse_address("node")
    server = standin(morse_seed([{"address": address, "tokens_upokt": MIN + 10 * W}]))
    inventory = write_inventory(tmp_path / "inv", server.morse_url, [("node", address)],
                                protocol="morse")
    assert stakes_cli(inventory, state=tmp_path).returncode == 0
    server.control.slash_morse_node(address, 55 * POKT)
    code, doc = stakes_json(inventory, state=tmp_path)
    row = by_name(doc)["node"]
    assert code == 1 and row["slashed_upokt"] == 55 * POKT
    assert row["reasons"] == ["slashed: stake down 55 POKT since the last run (2,000 POKT at height 1000)"]
    server.control.jail_morse_node(address, jailed_until="2999-01-01T00:00:00Z")
    code, doc = stakes_json(inventory, state=tmp_path)
    row = by_name(doc)["node"]
    assert code == 2 and row["jailed"] is True
    assert row["reasons"][0].startswith("jailed until 2999-01-01T00:00:00Z")


@pytest.mark.parametrize("param", ["stake_minimum", "slash_fraction_double_sign", "max_jailed_blocks"])
def test_morse_param_missing_is_unknown(standin, tmp_path, param):
    address = morse_address("node")
    server = standin(morse_seed([{"address": address, "tokens_upokt": MIN + 10 * W}]))
    server.control.set_morse_params(remove=[param])
    inventory = write_inventory(tmp_path / "inv", server.morse_url, [("node", address)],
                                protocol="morse")
    code, doc = stakes_json(inventory, state=tmp_path)
    row = by_name(doc)["node"]
    assert code == 3 and row["status"] == "UNKNOWN"
    assert any(f"missing field {param}" in r for r in row["reasons"]), row


def test_morse_tokens_missing_and_faults_are_unknown(standin, tmp_path, monkeypatch):
    broken, fine, hung = morse_address("broken"), morse_address("fine"), morse_address("hung")
    original = pocket_standin.MorseNode.to_wire

    def wire(self: Any) -> dict[str, Any]:
        out = original(self)
        if self.address == broken:
            del out["tokens"]
        return out

    monkeypatch.setattr(pocket_standin.MorseNode, "to_wire", wire)
    server = standin(morse_seed([{"address": a, "tokens_upokt": MIN + 10 * W}
                                 for a in (broken, fine, hung)]))
    server.control.set_fault("hang", path_prefix="/v1/query/balance")
    inventory = write_inventory(tmp_path / "inv", server.morse_url,
                                [("broken", broken), ("fine", fine)], protocol="morse")
    code, doc = stakes_json(inventory, "--timeout", "0.3", state=tmp_path)
    rows = by_name(doc)
    assert code == 3
    assert "missing field tokens" in rows["broken"]["reasons"][0]
    assert rows["fine"]["status"] == "UNKNOWN"
    assert rows["fine"]["reasons"][0].startswith("operator balance unreadable: ")


def test_morse_endpoint_down_is_unknown(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    inventory = write_inventory(tmp_path / "inv", url, [("node", morse_address("node"))],
                                protocol="morse")
    proc = stakes_cli(inventory, "--nagios", state=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout.startswith(f"STAKES UNKNOWN - cannot read the chain at {url}: ")


def test_morse_adapter_lists_nodes_by_chain(standin):
    nodes = [{"address": morse_address(f"m{i}"), "tokens_upokt": MIN + i,
              "chains": ["0021"] if i % 2 else ["0001"]} for i in range(6)]
    server = standin(morse_seed(nodes))

    async def listing() -> list[Any]:
        async with MorseAdapter(JsonClient(server.morse_url)) as adapter:
            return await adapter.suppliers_for_service("0021")

    states = asyncio.run(listing())
    assert sorted((s.address, s.stake_upokt) for s in states) == sorted(
        (morse_address(f"m{i}"), MIN + i) for i in (1, 3, 5))


# ----------------------------------------------------------------------------- start-up


def test_stakes_start_up_stays_light(standin, tmp_path):
    address = shannon_address("light")
    server = standin(shannon_seed([{"operator_address": address, "stake_upokt": MIN + 10 * W}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("light", address)])
    argv = ["-i", str(inventory), "stakes", "--db", str(tmp_path / "l.db")]
    code = (
        "import sys\nfrom fleetctl.cli import main\n"
        f"rc = main({argv!r})\n"
        "heavy = sorted(m for m in ('docker', 'paramiko', 'textual', 'ansible_runner', 'ansible')"
        " if m in sys.modules)\n"
        "sys.stderr.write(f'RC={rc} HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                          timeout=60)
    assert proc.stderr.strip().endswith("RC=0 HEAVY="), proc.stderr


def test_missed_proofs_until_auto_unstake_and_fee_runway(standin, tmp_path):
    """Issue 12: (stake - min_stake) / proof_missing_penalty with its levels, and the operator's
    fee runway: estimated from the params until the claims store holds its claims, then from them."""
    import sqlite3

    stakes = {"many": MIN + 50 * PENALTY, "few": MIN + 8 * PENALTY + PENALTY // 2, "fewer": MIN + 2 * PENALTY}
    seed = shannon_seed([{"operator_address": shannon_address(n), "stake_upokt": s} for n, s in stakes.items()])
    seed["shannon"]["params"]["proof"].update({"proof_submission_fee": 3, "proof_request_probability": 0.25})
    server = standin(seed)
    inventory = write_inventory(
        tmp_path / "inv", server.shannon_url, [(n, shannon_address(n)) for n in stakes],
        extra="stake: {warning_margin: 0 POKT, critical_margin: 0 POKT, min_operator_balance: 10 POKT, "
              "missed_proofs_warning: 10, missed_proofs_critical: 3, fee_runway_warning: 7d, tx_fee: 2upokt, "
              "history_db: state.db}")
    code, doc = stakes_json(inventory, state=tmp_path)
    rows = by_name(doc)
    assert code == 2
    assert {n: (rows[n]["status"], rows[n]["missed_proofs_to_unstake"]) for n in stakes} == {
        "many": ("OK", 50), "few": ("WARNING", 8), "fewer": ("CRITICAL", 2)}
    assert rows["few"]["reasons"] == ["8 missed proofs until auto-unstake ((stake - min_stake) / proof_missing_penalty "
                                      "1 POKT; WARNING at 10 or fewer)"]
    # no claims stored: 86,400 s / (30 s x 10 blocks) = 288 sessions a day x (2 + 0.25 x (2 + 3)) upokt
    many = rows["many"]
    assert many["fees_per_day_upokt"] == 288 * 2 + 72 * 5
    assert many["fee_source"].startswith("estimate, no claims stored yet: 1 service(s) x 288 sessions a day")
    assert many["fee_runway_days"] == round(RICH / (288 * 2 + 72 * 5), 2)

    # the claims store now holds 100 blocks of "many"'s claims (one a block) and 20 proofs
    store = inventory / "state.db"
    with sqlite3.connect(store) as conn:
        rows_in = [(h, "claim_created", shannon_address("many"), "eth", "app", h - 5, 10, 10, 10)
                   for h in range(901, 1001)]
        rows_in += [(h, "proof_submitted", shannon_address("many"), "eth", "app", h - 9, None, None, 10)
                    for h in range(901, 1001, 5)]
        conn.executemany("INSERT INTO chain_events (height, kind, supplier, service, application, session_end, "
                         "num_relays, compute_units, claimed_upokt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows_in)
    code, doc = stakes_json(inventory, "--no-record", state=tmp_path)
    many = by_name(doc)["many"]
    # 100 blocks of a 2,880-block day: x 28.8 -> 2,880 claims (2 upokt) and 576 proofs (2 + 3 upokt) a day
    assert many["fees_per_day_upokt"] == 2_880 * 2 + 576 * 5
    assert many["fee_source"].startswith("claims store: 2880.0 claims and 576.0 proofs a day")
    assert many["status"] == "OK" and many["fee_runway_days"] == round(RICH / (2_880 * 2 + 576 * 5), 2)
    assert by_name(doc)["few"]["fee_source"].startswith("estimate")  # nothing stored for it
    # a balance that pays less than 7 days of those fees: WARNING with the figure and its source
    server.control.set_balance(shannon_address("many"), 6 * (2_880 * 2 + 576 * 5))
    code, doc = stakes_json(inventory, "--no-record", state=tmp_path)
    many = by_name(doc)["many"]
    assert many["status"] == "WARNING"
    assert many["reasons"][-1].startswith("fee runway 6.0 days: operator balance")
    assert "claims store: 2880.0 claims" in many["reasons"][-1]


def test_the_table_shows_the_fee_runway_and_its_source(standin, tmp_path):
    server = standin(shannon_seed([{"operator_address": shannon_address("one"), "stake_upokt": MIN + 50 * PENALTY}]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url, [("one", shannon_address("one"))])
    proc = stakes_cli(inventory, "--no-record", state=tmp_path)
    assert "FEE RUNWAY" in proc.stdout.splitlines()[0]
    assert "fees a day from: estimate, no claims stored yet" in proc.stdout + proc.stderr


def test_owners_the_chain_named_are_remembered_and_a_wrong_memory_costs_only_queries(standin, tmp_path):
    """fleet.yml declares no owner: the first run reads each supplier by its address and keeps
    the owner the chain names (pocket/owners.py); the next runs list that owner's suppliers in
    one page. A memory that is garbage or names the wrong owner changes no answer."""
    from fleetctl.pocket import owners

    addresses = [shannon_address(f"undeclared-{i}") for i in range(8)]
    server = standin(shannon_seed([{"operator_address": a, "owner_address": OWNER, "stake_upokt": MIN + 10 * W}
                                   for a in addresses]))
    inventory = write_inventory(tmp_path / "inv", server.shannon_url,
                                [(f"undeclared-{i}", a) for i, a in enumerate(addresses)])
    cache = tmp_path / "cache"
    env = {"FLEETCTL_STATE_DIR": str(tmp_path / "state"), "FLEETCTL_CACHE_DIR": str(cache)}

    def run() -> dict[str, dict[str, Any]]:
        proc = run_cli("-i", str(inventory), "-o", "json", "stakes", "--no-record", env=env, timeout=60)
        assert "Traceback" not in proc.stderr, proc.stderr
        return by_name(json.loads(proc.stdout))

    def all_ok(rows: dict[str, dict[str, Any]]) -> bool:
        return [rows[f"undeclared-{i}"]["status"] for i in range(8)] == ["OK"] * 8

    assert all_ok(run())
    files = list((cache / owners.DIR_NAME).glob("*.json"))
    assert len(files) == 1 and (files[0].stat().st_mode & 0o777) == 0o600
    memory = json.loads(files[0].read_text())["owners"]
    assert memory == {a: OWNER for a in addresses}
    # every per-address query fails now: only a listing by the remembered owner reads them
    server.control.set_fault("http500", path_prefix="/pokt-network/poktroll/supplier/supplier/")
    assert all_ok(run())
    # garbage in the memory: an empty memory (queries, which fail here: UNKNOWN, never a crash)
    files[0].write_text("{not json")
    rows = run()
    assert all("HTTP 500" in rows[f"undeclared-{i}"]["reasons"][0] for i in range(8))
    # the wrong owner remembered: its listing lacks them, each is read by its address, the memory mended
    server.control.set_fault("none")
    files[0].write_text(json.dumps({"owners": {a: lab_address("someone-else") for a in addresses}}))
    assert all_ok(run())
    assert json.loads(files[0].read_text())["owners"] == {a: OWNER for a in addresses}
    # a declared owner needs no memory: nothing is read or written for it
    files[0].unlink()
    declared = write_inventory(tmp_path / "inv2", server.shannon_url,
                               [(f"undeclared-{i}", a) for i, a in enumerate(addresses)], owner=OWNER)
    proc = run_cli("-i", str(declared), "-o", "json", "stakes", "--no-record", env=env, timeout=60)
    assert all_ok(by_name(json.loads(proc.stdout))) and not list((cache / owners.DIR_NAME).glob("*.json"))
