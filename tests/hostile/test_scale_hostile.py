"""`fleetctl scale` against a chain that lies: what it reads for the what-if (suppliers per
session, session length, minimum stake, the application list and its pagination, Morse's
allparams) is checked for type and range where it is parsed. A bad value is one clear line and
a non-zero exit, or a note and a figure left out, never a traceback or a what-if built on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from hostile_pocket_server import HostileChain, coin, morse_address, shannon_address, write_inventory

A = shannon_address("scale-a")
M = morse_address("scale-m")
PREFIX = "/pokt-network/poktroll"


@pytest.fixture()
def chain():
    made: list[HostileChain] = []

    def make(protocol: str) -> HostileChain:
        c = HostileChain(protocol, [A if protocol == "shannon" else M])
        if protocol == "shannon":
            c.routes[f"{PREFIX}/session/params"] = {"params": {"num_suppliers_per_session": "15"}}
            c.routes[f"{PREFIX}/application/application"] = {
                "applications": [{"service_configs": [{"service_id": "eth"}]}] * 3,
                "pagination": {"next_key": None, "total": "3"}}
        else:
            c.routes["/v1/query/nodes"] = {"result": [], "page": 1, "total_pages": 1}
            c.routes["/v1/query/allparams"] = {"node_params": [], "app_params": [], "pocket_params": []}
            c.routes["/v1/query/apps"] = {"result": [], "total_apps": 4}
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def scale(tmp_path: Path, c: HostileChain, *args: str) -> Any:
    inventory = write_inventory(tmp_path / "inv", c.url, [("s", A if c.protocol == "shannon" else M)],
                                protocol=c.protocol)
    proc = run_cli("-i", str(inventory), "scale", "--service", "eth", *args, timeout=60,
                   env={"FLEETCTL_STATE_DIR": str(tmp_path / "state")})
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text[-3000:]
    return proc


def test_a_sane_chain_gives_the_what_if(tmp_path, chain):
    proc = scale(tmp_path, chain("shannon"), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["chain"]["min_stake_upokt"] == 1_000_000_000


@pytest.mark.parametrize("route, answer, fragment", [
    ("/supplier/params", {"params": {"min_stake": coin("0")}}, "min_stake.amount: 0 is below 1"),
    ("/supplier/params", {"params": {"min_stake": coin("9" * 500)}}, "a 500-digit number is beyond"),
    ("/supplier/params", {"params": {"min_stake": coin("-1")}}, "(negative)"),
    ("/session/params", {"params": {"num_suppliers_per_session": str(10**30)}}, "num_suppliers_per_session"),
    ("/application/application", {"applications": [], "pagination": {"next_key": ["x"]}},
     "pagination.next_key is not a page key"),
])
def test_a_hostile_value_is_one_line_and_a_failure(tmp_path, chain, route, answer, fragment):
    c = chain("shannon")
    c.routes[PREFIX + route] = answer
    proc = scale(tmp_path, c, "-o", "json")
    if route == "/application/application":
        # Only the count of applications is lost: the what-if stands, the per-day figures
        # are left out and the note says why.
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["apps"] is None and fragment in proc.stderr + json.dumps(doc), (proc.stderr, doc)
        return
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr


@pytest.mark.parametrize("pagination", ["a string", 7, ["list"], {"next_key": 12}])
def test_application_pagination_of_any_shape_is_no_crash(tmp_path, chain, pagination):
    c = chain("shannon")
    c.routes[f"{PREFIX}/application/application"] = {"applications": [], "pagination": pagination}
    proc = scale(tmp_path, c, "-o", "json")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("key, value", [
    ("pos/StakeMinimum", "0"), ("pos/StakeMinimum", "1_000"), ("pos/StakeMinimum", "9" * 400),
    ("pocketcore/SessionNodeCount", "-3"), ("pos/BlocksPerSession", ["4"]),
    ("pos/RelaysToTokensMultiplier", "1e400"),
])
def test_morse_allparams_values_are_checked(tmp_path, chain, key, value):
    c = chain("morse")
    group = "pocket_params" if key.startswith("pocketcore/") else "node_params"
    c.routes["/v1/query/allparams"] = {"node_params": [], "app_params": [], "pocket_params": [],
                                       group: [{"param_key": key, "param_value": value}]}
    proc = scale(tmp_path, c, "-o", "json", "--stake", "15000000000")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    facts = doc["chain"]
    assert key in json.dumps(facts["notes"]) + proc.stderr, (doc, proc.stderr)
    if key == "pos/StakeMinimum":
        assert facts["min_stake_upokt"] is None
    assert 1 <= facts["K"] <= 1000 and facts["blocks_per_session"] >= 1
