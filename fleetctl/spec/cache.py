"""A cache of loaded inventories, keyed by their exact content.

Loading and validating a fleet of a thousand suppliers costs ~0.15 s of CPU (YAML with
positions for FILE:LINE:COL errors, bech32 checks), on every cron run of ``fleetctl health``
even when nothing changed. This keeps the validated :class:`~fleetctl.spec.model.Fleet` of each
inventory version: the key is a SHA-256 over fleetctl's model and loader source, the fleetctl
and Python versions, ``$HOME`` (paths
expand against it), the inventory's absolute path and the names and bytes of every file the
loader may read (hosts.yml/hosts.yaml, fleet.yml, and what Ansible's rules make a variables file
under group_vars/ and host_vars/: see :func:`fleetctl.spec.files.inventory_files`). Those are
read as the loader reads them: regular files only (a FIFO never blocks), refused from their
size before reading (a sparse 4 GiB file costs one ``fstat``); anything else there is never
read. Any change to any of them is another key, so a stale entry is never used; an inventory
with errors is never cached (the loader runs, and reports them).

An inventory that holds a secret is never cached: a URL with ``user:password@``, a query or a
key-like path segment (:func:`fleetctl.core.redact.has_secret`), an inline alert sink or dead-man's
URL, or a host variable that names a password, token or key. Storing those "redacted, plus what
rebuilds them" would mean storing them; leaving them out costs such an inventory the ~0.15 s the
cache saves, which is the simplest choice that keeps every secret where the operator put it.

Entries are pickles in ``~/.cache/fleetctl/inventory-cache.v2/`` (see :func:`cache_dir`; 0600 files
in a 0700 folder). They are
read only when the folder and the file belong to this user and nobody else can write them, so
the cache can never be a way into this process for another account. At most
:data:`KEEP` entries are kept.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import stat
import sys
from pathlib import Path

from fleetctl import __version__
from fleetctl.core.atomic import write_atomic
from fleetctl.spec import files
from fleetctl.spec.model import Fleet

__all__ = ["cache_dir", "holds_secret", "inventory_key", "load_inventory_cached"]

KEEP = 8
DIR_NAME = "inventory-cache.v2"
#: Folders of earlier versions, which stored inventories with their secrets: removed on a miss.
LEGACY_DIRS = ("inventory-cache",)


def cache_base() -> Path:
    """``$FLEETCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/fleetctl``, else ``~/.cache/fleetctl``
    (caches, not state: removing them loses nothing)."""
    explicit = os.environ.get("FLEETCTL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fleetctl"


def cache_dir() -> Path:
    """The inventory cache: :func:`cache_base` then ``inventory-cache.v2/``."""
    return cache_base() / DIR_NAME


#: Host variables whose value is a credential (Ansible's ansible_password, ansible_become_pass,
#: a vault password, an API token...); a ``*_file`` variable names a path, not a secret.
_SECRET_VAR = re.compile(r"pass|secret|token|api_?key|credential|private_key(?!_file)", re.IGNORECASE)


def holds_secret(fleet: Fleet) -> bool:
    """True when ``fleet`` carries a secret in clear (then it is not cached)."""
    from fleetctl.core.redact import has_secret

    urls = [u for u in vars(fleet.pocket).values() if isinstance(u, str) and "://" in u]
    urls += [e.url for e in fleet.endpoints]
    urls += [str(c.checkpoint_sync_url) for c in fleet.chains.values() if getattr(c, "checkpoint_sync_url", None)]
    if any(has_secret(u) for u in urls):
        return True
    secrets = [s.url for s in fleet.alerts.sinks] + ([fleet.alerts.deadman] if fleet.alerts.deadman else [])
    if any(s.inline is not None and _sink_secret(s.inline) for s in secrets):
        return True
    for host in fleet.hosts.values():
        for key, value in host.vars.items():
            if _SECRET_VAR.search(key) and not key.endswith("_file"):
                return True
            if isinstance(value, str) and "://" in value and has_secret(value):
                return True
    return False


def _sink_secret(url: str) -> bool:
    """A sink's token lives in its path (Slack, Discord, webhooks), its userinfo or its query;
    ``http://alertmanager:9093`` holds none."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return bool(parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment)
    except ValueError:
        return True


def _fingerprint(h: hashlib._Hash, root: Path, path: Path, by_content: bool) -> None:
    """Adds one file to the key: its bytes, read as the loader reads them (regular, within the
    size limit); a file that is refused, or that the loader reads only for a host named so,
    by what ``lstat`` says of it (it is never read: no hang, no 4 GB in memory)."""
    name = str(path.relative_to(root))
    if by_content:
        try:
            data = files.read_regular(path)
            h.update(f"{name}\0{len(data)}\0".encode())
            h.update(data)
            return
        except files.Refused as exc:
            h.update(f"{name}\0refused\0{exc.message}\0".encode())
    try:
        st = path.lstat()
        h.update(f"{name}\0stat\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_dev}\0".encode())
    except OSError as exc:
        h.update(f"{name}\0missing\0{exc.errno}\0".encode())


def _code_fingerprint() -> bytes:
    """The model's and the loader's own source: a fleetctl whose Fleet or validation changed
    (an upgrade, a checkout) never reads an entry pickled by another."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("model.py", "loader.py", "yamlsafe.py", "address.py", "units.py", "cache.py", "files.py", "errors.py"):
        try:
            h.update((here / name).read_bytes())
        except OSError:
            h.update(name.encode())
    return h.digest()


def inventory_key(root: Path) -> str:
    h = hashlib.sha256()
    h.update(_code_fingerprint())
    h.update(f"{__version__}\0{sys.version}\0{os.environ.get('HOME', '')}\0{root.resolve()}\0".encode())
    for path, by_content in files.inventory_files(root):
        _fingerprint(h, root, path, by_content)
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
    _drop_legacy(folder.parent)
    if not holds_secret(fleet):
        _store(folder, entry, fleet)
    return fleet


def _drop_legacy(base: Path) -> None:
    import shutil

    for name in LEGACY_DIRS:
        old = base / name
        if _trusted(old, folder=True):
            shutil.rmtree(old, ignore_errors=True)


def _load(root: Path) -> Fleet:
    from fleetctl.spec.loader import load_inventory

    return load_inventory(root)


def _store(folder: Path, entry: Path, fleet: Fleet) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _trusted(folder, folder=True):
            return
        write_atomic(entry, pickle.dumps(fleet, protocol=pickle.HIGHEST_PROTOCOL))  # mode 0600
        entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError):
        pass  # a cache only
