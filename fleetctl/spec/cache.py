"""A cache of loaded inventories, keyed by their exact content.

Loading and validating a fleet of a thousand suppliers costs ~0.15 s of CPU (YAML with
positions for FILE:LINE:COL errors, bech32 checks), on every cron run of ``fleetctl health``
even when nothing changed. This keeps the validated :class:`~fleetctl.spec.model.Fleet` of each
inventory version: the key is a SHA-256 over fleetctl's model and loader source, the fleetctl
and Python versions, ``$HOME`` (paths
expand against it), the inventory's absolute path and the names and bytes of every file the
loader may read (hosts.yml/hosts.yaml, fleet.yml, group_vars/ and host_vars/). Any change to any
of them is another key, so a stale entry is never used; an inventory with errors is never
cached (the loader runs, and reports them).

Entries are pickles in ``~/.cache/fleetctl/inventory-cache/`` (see :func:`cache_dir`; 0600 files
in a 0700 folder). They are
read only when the folder and the file belong to this user and nobody else can write them, so
the cache can never be a way into this process for another account. At most
:data:`KEEP` entries are kept.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path

from fleetctl import __version__
from fleetctl.spec.model import Fleet

__all__ = ["cache_dir", "inventory_key", "load_inventory_cached"]

KEEP = 8
DIR_NAME = "inventory-cache"


def cache_dir() -> Path:
    """``$FLEETCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/fleetctl``, else ``~/.cache/fleetctl``
    (a cache, not state: removing it loses nothing), then ``inventory-cache/``."""
    explicit = os.environ.get("FLEETCTL_CACHE_DIR")
    if explicit:
        base = Path(explicit)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "fleetctl"
    return base / DIR_NAME


def _files(root: Path) -> list[Path]:
    found = [root / name for name in ("hosts.yml", "hosts.yaml", "fleet.yml") if (root / name).is_file()]
    for sub in ("group_vars", "host_vars"):
        base = root / sub
        if base.is_dir():
            found.extend(sorted(p for p in base.rglob("*") if p.is_file()))
    return found


def _code_fingerprint() -> bytes:
    """The model's and the loader's own source: a fleetctl whose Fleet or validation changed
    (an upgrade, a checkout) never reads an entry pickled by another."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("model.py", "loader.py", "yamlsafe.py", "address.py", "units.py", "cache.py"):
        try:
            h.update((here / name).read_bytes())
        except OSError:
            h.update(name.encode())
    return h.digest()


def inventory_key(root: Path) -> str:
    h = hashlib.sha256()
    h.update(_code_fingerprint())
    h.update(f"{__version__}\0{sys.version}\0{os.environ.get('HOME', '')}\0{root.resolve()}\0".encode())
    for f in _files(root):
        data = f.read_bytes()
        h.update(f"{f.relative_to(root)}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _trusted(path: Path, *, folder: bool) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        return False
    return stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)


def load_inventory_cached(path: str | os.PathLike[str]) -> Fleet:
    """:func:`~fleetctl.spec.loader.load_inventory`, from the cache when the inventory is
    byte-for-byte one loaded before. Raises what the loader raises. (The loader and YAML are
    imported only on a miss.)"""
    root = Path(path)
    if root.is_file() and root.name in ("hosts.yml", "hosts.yaml", "fleet.yml"):
        root = root.parent
    if not root.is_dir():
        return _load(root)
    try:
        key = inventory_key(root)
    except OSError:
        return _load(root)
    folder = cache_dir()
    entry = folder / f"{key}.pickle"
    if _trusted(folder, folder=True) and _trusted(entry, folder=False):
        try:
            with open(entry, "rb") as fh:
                fleet = pickle.load(fh)
            if isinstance(fleet, Fleet):
                return fleet
        except Exception:  # an unreadable or outdated entry: load for real
            pass
    fleet = _load(root)
    _store(folder, entry, fleet)
    return fleet


def _load(root: Path) -> Fleet:
    from fleetctl.spec.loader import load_inventory

    return load_inventory(root)


def _store(folder: Path, entry: Path, fleet: Fleet) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _trusted(folder, folder=True):
            return
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)  # mode 0600
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(fleet, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, entry)
        entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError):
        pass  # a cache only
