"""fleetctl.core.atomic.write_atomic: whole files, exact modes, nothing left behind on failure,
and a health run that no longer imports tempfile (and shutil, bz2, lzma with it)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fleetctl.core.atomic import write_atomic


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000])
@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        target = tmp_path / "f.json"
        write_atomic(target, b"{}", mode=mode)
        write_atomic(target, b"[1]", mode=mode, fsync=True)  # over an existing file
    finally:
        os.umask(old)
    assert target.read_bytes() == b"[1]" and stat.S_IMODE(target.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_failed_replace_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "inside").write_text("x")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError):
        write_atomic(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"] and (target / "inside").read_text() == "x"


def test_a_missing_folder_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomic(tmp_path / "no" / "f", b"x")


def test_a_symlink_planted_at_the_temporary_name_is_not_written_through(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """O_EXCL: a name taken (here a symlink to another file, the name made predictable) fails the
    write; the file the link points to and the target are untouched."""
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / f".f.{os.getpid()}.{'00' * 6}.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "f", b"new")
    assert victim.read_text() == "keep" and not (tmp_path / "f").exists()


def test_overlapping_writers_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "cache.json"
    bodies = [bytes([65 + n]) * 200_000 for n in range(8)]
    threads = [threading.Thread(target=write_atomic, args=(target, b)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in bodies
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_the_health_path_does_not_import_tempfile() -> None:
    code = ("import sys\n"
            "import fleetctl.cli, fleetctl.commands.health, fleetctl.workflows.health, fleetctl.health.run, "
            "fleetctl.health.sweep, fleetctl.health.report, fleetctl.health.heads, fleetctl.spec.cache, "
            "fleetctl.pocket.owners, fleetctl.views\n"
            "print(sorted(m for m in ('tempfile', 'shutil', 'bz2', 'lzma') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_write_json_makes_the_folder_and_says_when_it_could_not(tmp_path: Path) -> None:
    from fleetctl.core.atomic import write_json

    target = tmp_path / "state" / "x.json"
    assert write_json(target, {"b": 1, "a": [1, 2]}, sort_keys=True)
    assert target.read_text() == '{"a":[1,2],"b":1}'
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700 and stat.S_IMODE(target.stat().st_mode) == 0o600
    (tmp_path / "file").write_text("")
    assert write_json(tmp_path / "file" / "x.json", {}) is False  # a file where the folder should be
