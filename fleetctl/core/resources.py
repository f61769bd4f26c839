"""Where the files that ship with fleetctl are: playbooks/, inventories/ and tui/.

In the repository they sit at the top level; an installed wheel carries them inside the package
as ``fleetctl/playbooks``, ``fleetctl/inventories`` and ``fleetctl/tui`` (see pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # fleetctl/
_REPO = _PACKAGE.parent


def data_dir(name: str) -> Path:
    """The folder of shipped data ``name`` ("playbooks", "inventories", "tui")."""
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _REPO / name


def lab_inventory() -> Path:
    return data_dir("inventories") / "lab"
