"""The inventory cache: a hit only for the very same bytes, never for a changed or broken
inventory, never from a folder another account could write."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fleetctl.spec import cache, loader
from fleetctl.spec.errors import InventoryError

from conftest import EXAMPLE


@pytest.fixture()
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLEETCTL_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "inv"
    shutil.copytree(EXAMPLE, root)
    return root


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = loader.load_inventory

    def counting(path):  # type: ignore[no-untyped-def]
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(loader, "load_inventory", counting)
    return calls


def test_same_bytes_load_once(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_loads(monkeypatch)
    first = cache.load_inventory_cached(inv)
    second = cache.load_inventory_cached(inv)
    assert len(calls) == 1
    assert second == first and second.summary() == loader.load_inventory(inv).summary()
    entries = list((Path(os.environ["FLEETCTL_CACHE_DIR"]) / cache.DIR_NAME).glob("*.pickle"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("change", ["fleet.yml", "hosts.yml", "group_vars"])
def test_any_change_loads_again(inv: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    calls = _count_loads(monkeypatch)
    cache.load_inventory_cached(inv)
    if change == "group_vars":
        target = next((inv / "group_vars").rglob("*.yml"))
    else:
        target = inv / change
    target.write_text(target.read_text() + "\n# edited\n")
    cache.load_inventory_cached(inv)
    assert len(calls) == 2


def test_a_broken_inventory_is_never_cached(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = inv / "fleet.yml"
    fleet.write_text(fleet.read_text().replace("replicas: 6", "replicas: many", 1))
    for _ in range(2):
        with pytest.raises(InventoryError) as err:
            cache.load_inventory_cached(inv)
        assert any("replicas" in str(e) for e in err.value.errors)
    folder = Path(os.environ["FLEETCTL_CACHE_DIR"]) / cache.DIR_NAME
    assert not list(folder.glob("*.pickle")) if folder.exists() else True


def test_a_folder_others_can_write_is_not_trusted(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_loads(monkeypatch)
    cache.load_inventory_cached(inv)
    folder = Path(os.environ["FLEETCTL_CACHE_DIR"]) / cache.DIR_NAME
    folder.chmod(0o777)
    cache.load_inventory_cached(inv)
    entry = next(folder.glob("*.pickle"))
    folder.chmod(0o700)
    entry.chmod(0o666)
    cache.load_inventory_cached(inv)
    assert len(calls) == 3  # neither a world-writable folder nor a world-writable entry is read
