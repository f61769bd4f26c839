"""fleetctl scale's planning without a chain: the what-if model and its targets, placing new
identities, the capacity guard, and rewriting fleet.yml (layout kept, validated, backed up)."""

from __future__ import annotations

import stat
import math
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from fleetctl.core.errors import FleetError, UserError
from fleetctl.plan import scale
from fleetctl.spec.address import bech32_encode
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows.scale import add_to_inventory

from conftest import LAB_INV

OWNER = "pokt1r4r48cpagsclw3qvr3wx8fjrcppu4scan5rph0"
# Valid bech32 addresses (the loader checks their checksums), made for these tests.
NEW = [bech32_encode("pokt", bytes([i]) * 20) for i in (1, 2)]


@pytest.fixture()
def inv(tmp_path: Path) -> Path:
    root = tmp_path / "lab"
    shutil.copytree(LAB_INV, root)
    return root


def view(**kw) -> scale.ServiceView:
    base = dict(protocol="shannon", service="eth", chain_id="eth", eligible=100, ours_on_chain=6, ours=6,
                per_session=15, blocks_per_session=20, apps=20, min_stake_upokt=59_500_000_000,
                upokt_per_relay=Fraction(11245, 100000), height=1000)
    base.update(kw)
    return scale.ServiceView(**base)


def exact(N: int, K: int, m: int) -> float:
    return 1 - math.comb(N - m, K) / math.comb(N, K)


def test_model_rows_follow_the_definition(inv: Path) -> None:
    model = scale.model_for(load_inventory(inv), view(), rows=4)
    rows = model.as_dict()["rows"]
    assert [r["m"] for r in rows] == [6, 7, 8, 9, 10]
    for r in rows:
        # adding one of ours adds one to N: N_m = 100 - 6 + m
        assert r["N"] == 94 + r["m"]
        assert r["p_session"] == pytest.approx(exact(r["N"], 15, r["m"]), rel=1e-12)
    # the stake to lock: minimum + the fleet's 10% warning margin + 1 upokt per new identity
    assert rows[1]["stake_upokt"] == 59_500_000_000 + 5_950_000_000 + 1
    assert model.target is None


def test_targets(inv: Path) -> None:
    fleet = load_inventory(inv)
    m = scale.model_for(fleet, view(), target_share="80%")
    assert m.target == 10 and exact(104, 15, 10) >= 0.8 > exact(103, 15, 9)
    assert scale.model_for(fleet, view(), target_share="0.8").target == 10
    assert scale.model_for(fleet, view(), add=3).target == 9
    per = 59_500_000_000 + 5_950_000_000 + 1
    assert scale.model_for(fleet, view(), budget=str(2 * per + 5)).target == 8
    # a share beyond the first rows is still found
    assert scale.model_for(fleet, view(), rows=2, target_share="99%").target > 12


@pytest.mark.parametrize("kw,needle", [
    ({"target_share": "150%"}, "--target-share"),
    ({"target_share": "lots"}, "--target-share"),
    ({"budget": "many"}, "--budget"),
    ({"stake": "-3"}, "--stake"),
])
def test_bad_input_is_one_clear_line(inv: Path, kw: dict, needle: str) -> None:
    with pytest.raises(UserError) as err:
        scale.model_for(load_inventory(inv), view(), **kw)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_unknown_apps_leave_out_only_the_figures_per_day(inv: Path) -> None:
    """The chain does not list the applications: everything that does not depend on them is
    there (N, share, ours per session, rewards per session, stake, marginal share, targets), the
    per-day figures are null, and `missing` says why and how to give them (--apps)."""
    fleet = load_inventory(inv)
    known = scale.model_for(fleet, view(), rows=4).as_dict()
    model = scale.model_for(fleet, view(apps=None), rows=4)
    doc = model.as_dict()
    assert doc["apps"] is None and doc["assumptions"]["apps"]["value"] is None
    assert [m["what"] for m in doc["missing"]] == ["apps"] and doc["missing"][0]["how"] == "--apps N"
    same = ("m", "N", "p_session", "expected_per_session", "stake_upokt", "marginal_p", "rewards_upokt_per_session")
    for row, ref in zip(doc["rows"], known["rows"], strict=True):
        assert {k: row[k] for k in same} == {k: ref[k] for k in same}
        assert all(row[k] is None for k in scale.PER_DAY_FIELDS)
        assert ref["rewards_upokt_per_session"] > 0
    note = model.missing_note()
    assert note and "--apps N" in note and "\n" not in note and "sessions_per_day" in note
    # targets by share, count or budget need no applications
    assert scale.model_for(fleet, view(apps=None), target_share="80%").target == 10
    assert scale.model_for(fleet, view(apps=None), add=3).target == 9
    # --apps fills the gap
    given = scale.model_for(fleet, view(apps=None), apps=20, rows=4)
    assert given.missing == [] and given.assumptions["apps"] == {"value": 20, "from": "--apps"}
    assert given.as_dict()["rows"] == known["rows"]
    # --apply's capacity check needs relays per day: refused, with the way out
    with pytest.raises(UserError, match="--apps N"):
        scale.check_capacity(fleet, "eth", scale.model_for(fleet, view(apps=None), add=1))


def test_rewards_per_session_agree_with_the_figures_per_day(inv: Path) -> None:
    doc = scale.model_for(load_inventory(inv), view(), rows=3).as_dict()
    per_app = Fraction(doc["sessions_per_day_per_app"])
    for row in doc["rows"]:
        per_day = row["rewards_upokt_per_session"] * per_app * 20
        assert abs(per_day - row["rewards_upokt_per_day"]) <= per_app * 20 + 1


def test_the_table_without_apps_shows_per_session_columns_and_the_note(inv: Path) -> None:
    import io

    from fleetctl import views
    from fleetctl.render import Out

    model = scale.model_for(load_inventory(inv), view(apps=None), rows=2)
    out, err = io.StringIO(), io.StringIO()
    views.scale(Out(stream=out, err=err, quiet=True), model)
    text = out.getvalue()
    assert "apps unknown" in text and "POKT/SESSION" in text.upper() and "POKT/DAY" not in text.upper()
    # the note is not silenced by -q: it explains the columns the table lacks
    assert [ln for ln in err.getvalue().splitlines() if "--apps" in ln] == [model.missing_note()]
    out, err = io.StringIO(), io.StringIO()
    views.scale(Out(fmt="json", stream=out, err=err), model)
    import json

    assert json.loads(out.getvalue())["missing"][0]["what"] == "apps"


def test_new_identities_are_named_after_the_last_and_spread(inv: Path) -> None:
    fleet = load_inventory(inv)
    ids = scale.plan_new_identities(fleet, "eth", 4, prefix="lab-sup")
    assert [i.name for i in ids] == ["lab-sup-7", "lab-sup-8", "lab-sup-9", "lab-sup-10"]
    hosts = [i.host for i in ids]
    assert sorted(set(hosts)) == ["lab-h1", "lab-h2", "lab-h3"] and max(hosts.count(h) for h in hosts) == 2
    assert all(i.owner_address == OWNER and i.services == ("eth",) for i in ids)
    assert [i.host for i in scale.plan_new_identities(fleet, "eth", 2, hosts=["lab-h3"])] == ["lab-h3", "lab-h3"]
    with pytest.raises(UserError, match="--host"):
        scale.plan_new_identities(fleet, "eth", 1, hosts=["nope"])


def test_capacity_guard(inv: Path) -> None:
    text = (inv / "fleet.yml").read_text()
    for client in ("geth", "nethermind", "erigon"):
        text = text.replace(f"  {client}: {{full: {{cpus: 0.25, memory_gb: 0.25, disk_gb: 1}}}}",
                            f"  {client}: {{full: {{cpus: 0.25, memory_gb: 0.25, disk_gb: 1, relays_per_s: 0.5}}}}")
    (inv / "fleet.yml").write_text(text)
    fleet = load_inventory(inv)
    model = scale.model_for(fleet, view(), add=2)
    with pytest.raises(FleetError, match="relays/s"):
        scale.check_capacity(fleet, "eth", model)
    roomy = load_inventory(LAB_INV)  # default 100 relays/s per node: 6 nodes carry it
    scale.check_capacity(roomy, "eth", scale.model_for(roomy, view(), add=2))


def test_inventory_gains_explicit_suppliers_layout_kept(inv: Path) -> None:
    fleet = load_inventory(inv)
    before = (inv / "fleet.yml").read_text()
    ids = [scale.NewIdentity("lab-sup-7", "lab-h2", ("eth",), OWNER, NEW[0]),
           scale.NewIdentity("lab-sup-8", "lab-h3", ("eth",), OWNER, NEW[1])]
    backup = add_to_inventory(fleet, ids)
    assert backup is not None and backup.read_text() == before
    after = (inv / "fleet.yml").read_text()
    # every original line is still there, in order; two lines were added to the suppliers list
    assert [ln for ln in after.splitlines() if ln not in before.splitlines()] == [
        f"  - {{name: lab-sup-7, operator_address: {NEW[0]}, owner_address: {OWNER}, services: [eth], host: lab-h2}}",
        f"  - {{name: lab-sup-8, operator_address: {NEW[1]}, owner_address: {OWNER}, services: [eth], host: lab-h3}}"]
    assert after.index("lab-sup-8") < after.index("# Lab hosts are small")
    reloaded = load_inventory(inv)
    assert [s.name for s in reloaded.suppliers][-2:] == ["lab-sup-7", "lab-sup-8"]
    assert reloaded.suppliers[-1].host == "lab-h3"
    # nothing to add the second time
    assert add_to_inventory(reloaded, ids) is None
    assert (inv / "fleet.yml").read_text() == after


def test_an_inventory_that_would_not_validate_is_not_written(inv: Path) -> None:
    fleet = load_inventory(inv)
    before = (inv / "fleet.yml").read_text()
    clash = [scale.NewIdentity("lab-sup-1", "lab-h2", ("eth",), OWNER, NEW[0])]  # a name already taken
    with pytest.raises(FleetError, match="would not validate"):
        add_to_inventory(fleet, clash)
    assert (inv / "fleet.yml").read_text() == before
    assert not list(inv.glob("fleet.yml.bak-*"))


def test_given_names_are_used_and_checked(inv: Path) -> None:
    fleet = load_inventory(inv)
    ids = scale.plan_new_identities(fleet, "eth", 2, names=["imp-a", "imp-b"])
    assert [i.name for i in ids] == ["imp-a", "imp-b"]
    with pytest.raises(UserError, match="2 names for 3"):
        scale.plan_new_identities(fleet, "eth", 3, names=["imp-a", "imp-b"])
    with pytest.raises(UserError, match="already a supplier"):
        scale.plan_new_identities(fleet, "eth", 1, names=["lab-sup-1"])


@pytest.mark.parametrize("argv,needle", [
    (["--target-share", "2"], "--target-share"),
    (["--budget", "lots"], "--budget"),
    (["--stake", "x"], "--stake"),
    (["--apps", "-1"], "--apps"),
])
def test_option_mistakes_are_refused_before_the_chain_is_asked(inv: Path, argv: list[str], needle: str) -> None:
    # The chain URL is a closed loopback port: an input mistake must be reported first.
    from conftest import run_cli

    fleet_yml = inv / "fleet.yml"
    fleet_yml.write_text(fleet_yml.read_text().replace("http://10.213.0.1:1317", "http://127.0.0.1:9"))
    proc = run_cli("scale", "-i", str(inv), "--service", "eth", *argv)
    assert proc.returncode == 2 and proc.stderr.startswith(f"fleetctl: {needle}"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_rewritten_fleet_yml_keeps_the_operators_mode(inv: Path) -> None:
    (inv / "fleet.yml").chmod(0o640)
    fleet = load_inventory(inv)
    assert add_to_inventory(fleet, [scale.NewIdentity("lab-sup-7", "lab-h2", ("eth",), OWNER, NEW[0])]) is not None
    assert stat.S_IMODE((inv / "fleet.yml").stat().st_mode) == 0o640
    assert sorted(p.name for p in inv.iterdir() if p.name.startswith(".")) == []  # no temporary file left
