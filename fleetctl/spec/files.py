"""Which files of an inventory folder are read, and reading one safely (standard library only:
the inventory cache uses this on every command, before YAML is imported).

* Regular files only: a FIFO, a socket, a device or a folder where a file is expected is
  refused from ``stat``/``fstat`` (opened with ``O_NONBLOCK``, so even a FIFO swapped in between
  never blocks), never read: no hang.
* Refused by size before reading: a file larger than :data:`MAX_BYTES` costs one ``fstat``, not
  its size in memory; the read itself stops at the limit if the file grows meanwhile.
* ``group_vars/`` and ``host_vars/`` follow Ansible's rules (``DataLoader.find_vars_files``):
  for a group or host NAME the first of ``NAME``, ``NAME.yml``, ``NAME.yaml``, ``NAME.json``
  that exists; a folder is read recursively, files with one of those extensions or none;
  hidden files and backups (``~``) are skipped. Nothing else there is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["MAX_BYTES", "VARS_EXTENSIONS", "Refused", "read_regular", "hosts_file", "vars_files", "vars_candidates",
           "inventory_files", "vars_like"]

MAX_BYTES = int(os.environ.get("FLEETCTL_MAX_YAML_BYTES", 4 * 1024 * 1024))
#: Ansible's default YAML_FILENAME_EXTENSIONS, tried in this order after the bare name.
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
#: Nested folders followed under group_vars/NAME/ (Ansible recurses; a symlink loop must not).
MAX_DEPTH = 8
_CHUNK = 1 << 20


class Refused(Exception):
    """A file that is not read: ``message`` says why (one line, no contents)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "special file"


def check_regular(st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"not a regular file ({_kind(st.st_mode)})")
    if st.st_size > limit:
        raise Refused(f"file is {st.st_size} bytes, more than the {limit}-byte limit for an inventory file")


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; :class:`Refused` otherwise."""
    limit = MAX_BYTES if limit is None else limit
    try:
        check_regular(os.stat(path), limit)  # a device or FIFO is not even opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Refused(f"cannot read: {exc.strerror or exc}") from None
    try:
        check_regular(os.fstat(fd), limit)  # what was opened, should it have been swapped
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise Refused(f"file grew past the {limit}-byte limit for an inventory file while being read")
        return b"".join(chunks)
    except OSError as exc:
        raise Refused(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def hosts_file(root: Path) -> Path:
    """hosts.yml, else hosts.yaml when only that one exists."""
    path, alt = root / "hosts.yml", root / "hosts.yaml"
    if not os.path.lexists(path) and os.path.lexists(alt):
        return alt
    return path


def vars_like(name: str) -> bool:
    """Not hidden, not a backup."""
    return not name.startswith(".") and not name.endswith("~")


def _walk(folder: Path, depth: int, seen: set[tuple[int, int]]) -> list[Path]:
    """Ansible's ``_get_dir_vars_files``: sorted, recursive into folders without an extension."""
    try:
        st = folder.stat()
        if (st.st_dev, st.st_ino) in seen or depth > MAX_DEPTH:
            return []
        seen.add((st.st_dev, st.st_ino))
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    out: list[Path] = []
    for name in names:
        if not vars_like(name):
            continue
        p = folder / name
        ext = os.path.splitext(name)[1]
        if p.is_dir():
            if not ext:
                out.extend(_walk(p, depth + 1, seen))
        elif ext in VARS_EXTENSIONS:
            out.append(p)  # a FIFO or device here is refused when read, not silently skipped
    return out


def vars_files(base: Path, name: str) -> tuple[Path, list[Path]] | None:
    """The entry of ``base`` that holds NAME's variables and the files to read, or None (also
    for a group name that is not a plain file name: ``../x`` never leaves the folder)."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        return None
    for ext in VARS_EXTENSIONS:
        entry = base / f"{name}{ext}"
        if os.path.exists(entry):
            if entry.is_dir():
                return entry, _walk(entry, 0, set())
            return entry, [entry]
    return None


def vars_candidates(base: Path) -> list[Path]:
    """Every entry of group_vars/ or host_vars/ that is not hidden or a backup, sorted."""
    try:
        return [base / n for n in sorted(os.listdir(base)) if vars_like(n)]
    except OSError:
        return []


def inventory_files(root: Path) -> list[tuple[Path, bool]]:
    """Every file the loader may read, as (path, by_content): hosts.yml (or hosts.yaml),
    fleet.yml, and under group_vars/ and host_vars/ every entry named NAME or NAME.yml/.yaml/.json
    and the files of folders there. Which NAMEs count is known only once hosts.yml is parsed, and
    names may hold dots, so an entry with another extension is listed with ``by_content`` False:
    it is fingerprinted from its metadata (the loader reads it only for a host named so)."""
    found = [(hosts_file(root), True), (root / "fleet.yml", True)]
    for sub in ("group_vars", "host_vars"):
        base = root / sub
        if not base.is_dir():
            continue
        for entry in vars_candidates(base):
            if entry.is_dir():
                found.extend((p, True) for p in _walk(entry, 0, set()))
            else:
                found.append((entry, os.path.splitext(entry.name)[1] in VARS_EXTENSIONS))
    return found
