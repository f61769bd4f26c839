"""Where the files that ship with fleetctl are: playbooks/, inventories/ and tui/.

In the repository they sit at the top level; an installed wheel carries them as the packages
``fleetctl.playbooks``, ``fleetctl.inventories`` and ``fleetctl.tui`` (see pyproject.toml)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """The folder of shipped data ``name`` ("playbooks", "inventories", "tui")."""
    try:
        found = Path(str(resources.files(f"fleetctl.{name}")))
        if found.is_dir():
            return found
    except (ModuleNotFoundError, TypeError):
        pass
    return _REPO / name


def lab_inventory() -> Path:
    return data_dir("inventories") / "lab"
