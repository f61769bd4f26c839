"""fleetctl's local lab (the ``fleetctl-lab`` distribution): a small real fleet on this machine.

``manager`` builds and tears it down (``fleetctl lab up|down|status|fault``), ``seed`` is the lab
chain's starting state, ``standin`` the Pocket chain stand-in (``python -m fleetlab.standin``).
``image-files/`` is package data, not modules: the scripts baked into the lab's images and copied to
its hosts (the client fronts, the pocketd and RelayMiner stand-ins, the Morse node), run there
by the host's ``/usr/bin/python3``; :func:`image_file` finds them wherever the package is.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def images_dir() -> Path:
    """The folder of the scripts the lab bakes into its images (``fleetlab/image-files/``)."""
    return Path(str(files("fleetlab") / "image-files"))


def image_file(name: str) -> Path:
    """One of those scripts (e.g. ``front.py``), by file name."""
    return images_dir() / name
