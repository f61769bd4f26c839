"""What `pip install .` ships: the data the commands need, wherever the package is installed."""

from __future__ import annotations

from pathlib import Path

import fleetctl
from fleetctl.core.resources import data_dir, lab_inventory

from conftest import REPO


def test_shipped_data_is_found():
    assert (data_dir("inventories") / "example" / "fleet.yml").is_file()
    assert (data_dir("inventories") / "example" / "group_vars" / "relayminers.yml").is_file()
    assert (lab_inventory() / "hosts.yml").is_file()
    assert (data_dir("playbooks")).is_dir()
    assert (data_dir("tui") / "__init__.py").is_file()
    assert (Path(fleetctl.__file__).parent / "lab" / "front.py").is_file()


def test_non_editable_install_carries_its_own_copy():
    installed = Path(fleetctl.__file__).resolve().parent
    if installed == REPO / "fleetctl":
        # Running from the checkout (editable install): the data is the checkout's own.
        assert data_dir("inventories") == REPO / "inventories"
        return
    for name in ("inventories", "playbooks", "tui"):
        assert data_dir(name).resolve() == installed / name, name
