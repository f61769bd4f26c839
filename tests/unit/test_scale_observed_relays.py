"""Issue 12: ``scale`` takes the relays per session the fleet's own claims show (the claims
store), says so, and falls back to 100 with why when there are none."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

from conftest import LAB_INV
from fleetctl.plan import scale
from fleetctl.plan import sessions_sim as sessions
from fleetctl.state.db import connect
from fleetctl.spec.loader import load_inventory


def view(**kw) -> scale.ServiceView:
    base = dict(protocol="shannon", service="eth", chain_id="eth", eligible=100, ours_on_chain=6, ours=6,
                per_session=15, blocks_per_session=20, apps=20, min_stake_upokt=59_500_000_000,
                upokt_per_relay=Fraction(11245, 100000), height=1000)
    base.update(kw)
    return scale.ServiceView(**base)


def store_with_claims(path: Path, supplier: str, relays: list[int], service: str = "eth") -> None:
    conn = connect(path, create=True)
    assert conn is not None
    try:
        conn.executemany(
            "INSERT INTO chain_events (height, kind, supplier, service, application, session_end, num_relays) "
            "VALUES (?, 'claim_created', ?, ?, 'app1', ?, ?)",
            [(100 + 10 * i, supplier, service, 90 + 10 * i, n) for i, n in enumerate(relays)])
    finally:
        conn.close()


def test_scale_uses_the_relays_per_session_of_the_fleets_own_claims(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    shutil.copytree(LAB_INV, root)
    fleet = load_inventory(root)
    ours = next(s.operator_address for s in fleet.suppliers if s.operator_address)
    db = tmp_path / "state.db"
    store_with_claims(db, ours, [300, 500])
    store_with_claims(db, "pokt1notours", [10_000])
    model = scale.model_for(fleet, view(), rows=2, history_db=db)
    a = model.assumptions["relays_per_session"]
    assert a["value"] == 400 and a["from"].startswith("observed: the fleet's own claims of eth (claims store ")
    assert model.what_if.relays_per_session == 400
    # an explicit figure wins
    assert scale.model_for(fleet, view(), rows=2, history_db=db, relays_per_session=7).assumptions[
        "relays_per_session"] == {"value": 7, "from": "--relays-per-session"}
    # no claims for this service: 100, and why
    other = scale.model_for(fleet, view(service="base"), rows=2, history_db=db).assumptions["relays_per_session"]
    assert other["value"] == 100 and other["from"].startswith("default: no claims of the fleet's suppliers")
    # no store at all: the same
    none = scale.model_for(fleet, view(), rows=2, history_db=tmp_path / "absent.db").assumptions["relays_per_session"]
    assert none["value"] == 100 and "pass --relays-per-session R" in none["from"]


def test_an_unreadable_store_falls_back_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a sqlite file at all" * 100)
    value, source = sessions.observed_relays_per_session(bad, ["pokt1x"], "eth")
    assert value == 100 and source.startswith("default: claims store unreadable (")
    assert "\n" not in source
