"""The scale workflow without a chain or hosts: prepare changes nothing (fleet.yml and its folder
untouched) and names the identities to add; execute with a token already cancelled makes no key,
rewrites nothing and says every step is left; steps that meet a cancel between them stop there."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from fleetctl.core.errors import UserError
from fleetctl.core.events import CancelToken, HostTask, StepFinished, StepStarted
from fleetctl.plan import scale
from fleetctl.spec.address import bech32_encode
from fleetctl.spec.loader import load_inventory
from fleetctl.workflows import scale as wscale

from conftest import LAB_INV

NEW = [bech32_encode("pokt", bytes([i]) * 20) for i in (1, 2)]


@pytest.fixture()
def inv(tmp_path: Path) -> Path:
    root = tmp_path / "lab"
    shutil.copytree(LAB_INV, root)
    return root


def view() -> scale.ServiceView:
    return scale.ServiceView(protocol="shannon", service="eth", chain_id="eth", eligible=100, ours_on_chain=6, ours=6,
                             per_session=15, blocks_per_session=20, apps=20, min_stake_upokt=59_500_000_000,
                             upokt_per_relay=Fraction(11245, 100000), height=1000)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_has_no_side_effects(inv: Path) -> None:
    fleet = load_inventory(inv)
    before = snapshot(inv)
    what_if = wscale.prepare(fleet, "eth", view=view(), relays_per_session=100, add=2)
    assert what_if.identities == [] and what_if.model.target == 8
    plan = wscale.prepare(fleet, "eth", apply=True, view=view(), relays_per_session=100, add=2)
    assert [i.name for i in plan.identities] == ["eth-sup-1", "eth-sup-2"] and plan.to_add == 2
    assert all(i.operator_address is None for i in plan.identities)  # no key yet
    assert snapshot(inv) == before
    with pytest.raises(UserError, match="say how many"):
        wscale.prepare(fleet, "eth", apply=True, view=view(), relays_per_session=100)


def test_execute_cancelled_before_the_keys_does_nothing_and_says_what_is_left(inv: Path) -> None:
    fleet = load_inventory(inv)
    before = snapshot(inv)
    plan = wscale.prepare(fleet, "eth", apply=True, view=view(), relays_per_session=100, add=2)
    token = CancelToken()
    token.cancel()
    events: list = []
    result = wscale.execute(fleet, plan, on_event=events.append, cancel=token)
    assert result.cancelled and result.done == [] and result.left == ["create-keys", "inventory", "apply"]
    assert result.created == [] and result.backup is None and result.apply is None
    assert events == []
    assert snapshot(inv) == before


def test_a_cancel_after_the_keys_leaves_fleet_yml_and_apply(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = load_inventory(inv)
    plan = wscale.prepare(fleet, "eth", apply=True, view=view(), relays_per_session=100, add=2)
    token = CancelToken()
    before = snapshot(inv)

    async def fake_keys(fleet, identities, *, timeout, on_event, imported):
        out = []
        for ident, address in zip(identities, NEW):
            on_event(HostTask(ident.host, f"key {ident.name}", "changed", address))
            out.append(scale.NewIdentity(ident.name, ident.host, ident.services, ident.owner_address, address))
        token.cancel()  # while the keys are made: honoured once they are
        return out

    monkeypatch.setattr(wscale, "create_keys", fake_keys)
    events: list = []
    result = wscale.execute(fleet, plan, on_event=events.append, cancel=token)
    assert result.cancelled and result.done == ["create-keys"] and result.left == ["inventory", "apply"]
    assert [i.operator_address for i in result.created] == NEW
    assert snapshot(inv) == before  # fleet.yml not rewritten
    assert events[0] == StepStarted("scale", "create-keys", "2 key(s)")
    assert events[-1] == StepFinished("scale", "create-keys")


def test_a_cancel_after_the_inventory_leaves_only_apply(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = load_inventory(inv)
    plan = wscale.prepare(fleet, "eth", apply=True, view=view(), relays_per_session=100, add=2)
    token = CancelToken()

    async def fake_keys(fleet, identities, *, timeout, on_event, imported):
        return [scale.NewIdentity(i.name, i.host, i.services, i.owner_address, a) for i, a in zip(identities, NEW)]

    real_add = wscale.add_to_inventory

    def add_then_cancel(fleet, identities):
        token.cancel()  # during the rewrite: it is finished, never cut short
        return real_add(fleet, identities)

    monkeypatch.setattr(wscale, "create_keys", fake_keys)
    monkeypatch.setattr(wscale, "add_to_inventory", add_then_cancel)
    events: list = []
    result = wscale.execute(fleet, plan, on_event=events.append, cancel=token)
    assert result.cancelled and result.done == ["create-keys", "inventory"] and result.left == ["apply"]
    assert result.backup is not None and result.backup.exists()
    assert [s.name for s in load_inventory(inv).suppliers][-2:] == ["eth-sup-1", "eth-sup-2"]
    assert StepFinished("scale", "inventory", detail=f"2 suppliers added; previous version in {result.backup.name}") \
        in events


def test_nothing_to_add_is_nothing_done(inv: Path) -> None:
    fleet = load_inventory(inv)
    plan = wscale.ScalePlan("eth", view(), scale.model_for(fleet, view(), relays_per_session=100), apply=True)
    result = wscale.execute(fleet, plan)
    assert not result.cancelled and result.done == [] and result.left == []
