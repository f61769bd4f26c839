"""observe honours a CancelToken between hosts: once cancelled it leaves without waiting for the
hosts still being read, and says how many were observed."""

from __future__ import annotations

import time

import pytest

from fleetctl.core.events import Cancelled, CancelToken
from fleetctl.provision import observe as obs
from fleetctl.spec.loader import load_inventory

from conftest import LAB_INV


def test_cancel_between_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = load_inventory(LAB_INV)
    names = sorted(fleet.hosts)
    assert len(names) >= 3

    def fake(host, timeout):
        time.sleep(0.05 if host.name == names[0] else 3.0)
        return obs.HostState(host.name, True)

    monkeypatch.setattr(obs, "_observe_host", fake)
    token = CancelToken()
    seen: list[str] = []

    def on_host(st: obs.HostState) -> None:
        seen.append(st.name)
        token.cancel("test")

    t0 = time.monotonic()
    with pytest.raises(Cancelled, match=f"observe: 1 of {len(names)} hosts observed: test") as info:
        obs.observe(fleet, on_host=on_host, cancel=token)
    assert time.monotonic() - t0 < 2.0 and seen == [names[0]]
    assert info.value.code == 130
    with pytest.raises(Cancelled, match="no host observed"):
        obs.observe(fleet, cancel=token)


def test_no_token_observes_every_host(monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = load_inventory(LAB_INV)
    monkeypatch.setattr(obs, "_observe_host", lambda host, timeout: obs.HostState(host.name, True))
    assert list(obs.observe(fleet)) == sorted(fleet.hosts)
    assert list(obs.observe(fleet, cancel=CancelToken())) == sorted(fleet.hosts)
