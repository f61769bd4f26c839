"""What `pip install .` ships: the data the commands need, wherever the package is installed."""

from __future__ import annotations

import importlib.util
from importlib.resources import files
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


def test_the_lab_is_its_own_distribution():
    """fleetctl ships without the lab; fleetlab (lab/) carries it, its image scripts as package
    data (files, not modules), the stand-in's spec files beside it."""
    assert not (Path(fleetctl.__file__).parent / "lab").exists()
    images = files("fleetlab") / "image-files"
    for name in ("front.py", "beacon_front.py", "pocketd.py", "relayminer.py", "morse_node.py"):
        assert (images / name).is_file(), name
    assert not (images / "__init__.py").is_file()
    assert (images / "beacon-APIs" / "beacon-node-oapi.yaml").is_file()
    assert (files("fleetlab") / "standin" / "cometbft-rpc" / "openapi.yaml").is_file()
    assert (files("fleetlab") / "standin" / "poktroll-protos" / "pocket" / "proof" / "event.proto").is_file()
    for name in ("front", "beacon_front", "pocketd", "relayminer", "morse_node"):
        assert importlib.util.find_spec(f"fleetlab.{name}") is None, name


def test_non_editable_install_carries_its_own_copy():
    installed = Path(fleetctl.__file__).resolve().parent
    if installed == REPO / "fleetctl":
        # Running from the checkout (editable install): the data is the checkout's own.
        assert data_dir("inventories") == REPO / "inventories"
        return
    for name in ("inventories", "playbooks", "tui"):
        assert data_dir(name).resolve() == installed / name, name


def test_every_package_of_the_checkout_is_in_the_wheel():
    """Both pyprojects (fleetctl's, the lab's) list their packages by name: a new one missing
    there would be left out of the wheel (and of every non-editable install) while the
    checkout's tests still pass. fleetctl lists no lab package."""
    import tomllib

    for root, package in ((REPO, "fleetctl"), (REPO / "lab", "fleetlab")):
        listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
        found = {".".join(init.parent.relative_to(root).parts) for init in (root / package).rglob("__init__.py")}
        assert found - listed == set(), root
        assert not any(name.startswith(("fleetctl.lab", "fleetlab.image")) for name in listed), root
