"""Shared fixtures: paths, a CLI runner (the installed console script), the local lab."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
EXAMPLE = REPO / "inventories" / "example"
LAB_INV = REPO / "inventories" / "lab"


def lab_image(name: str) -> Path:
    """A file the lab bakes into its images (``fleetlab/image-files/NAME``, e.g. ``front.py``), from
    the fleetlab that is imported: the checkout's in dev, the installed wheel's in CI."""
    from importlib.resources import files

    return Path(str(files("fleetlab") / "image-files" / name))


def lab_script(name: str) -> ModuleType:
    """The image script ``NAME.py`` as a module, loaded by file path (it is package data, not a
    fleetlab module), once per run: cached in sys.modules as ``fleetlab_images_NAME``."""
    key = f"fleetlab_images_{name}"
    if key in sys.modules:
        return sys.modules[key]
    path = lab_image(f"{name}.py")
    spec = importlib.util.spec_from_file_location(key, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # dataclasses look their module up there while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module


def fleetctl_bin() -> str:
    """The console script of the venv running the tests (what `pip install .` made)."""
    candidate = Path(sys.executable).parent / "fleetctl"
    return str(candidate) if candidate.exists() else shutil.which("fleetctl") or "fleetctl"


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "FLEETCTL_INVENTORY"}
    full_env.update(env or {})
    proc = subprocess.run([fleetctl_bin(), *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"fleetctl {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def lab_is_up(lab) -> bool:
    return bool(lab.status()["up"])


def ensure_lab_up(lab) -> None:
    """Bring the lab (back) up unless it is: its status costs ~50 ms when it is up."""
    if not lab_is_up(lab):
        status = lab.up()
        assert status["up"], status["problems"]


@pytest.fixture(scope="session")
def lab_session():
    """The lab for the whole run: torn down at the end (it is brought up by `lab` and the guard)."""
    if os.environ.get("FLEETCTL_SKIP_LAB"):
        pytest.skip("FLEETCTL_SKIP_LAB is set")
    from fleetlab.manager import Lab

    lab = Lab()
    yield lab
    lab.down()


def pytest_collection_modifyitems(config, items):
    """A test that uses the lab (the `lab` fixture, directly or through another fixture) is a
    `lab` test whether or not its module says so: scripts/test.sh runs `-m lab` and `-m "not
    lab"` side by side, and only one of them may touch the lab."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if ("lab" in names or "lab_session" in names) and not item.get_closest_marker("lab"):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="module")
def lab(lab_session):
    """The local lab, up at the start of every module that uses it (so the module's own
    fixtures meet a lab that is up even when an earlier module's test left it down)."""
    ensure_lab_up(lab_session)
    return lab_session


@pytest.fixture(autouse=True)
def _lab_guard(request):
    """Every test that needs the lab (the `lab` fixture, directly or through another fixture, or
    the `lab` mark) starts with it up, and whatever the test did (downed it on purpose, failed
    half-way through a teardown of its own), the lab is up again after it: one failing lab test
    does not take the next ones with it."""
    if os.environ.get("FLEETCTL_SKIP_LAB") or not (
            "lab" in request.fixturenames or request.node.get_closest_marker("lab")):
        yield
        return
    lab = request.getfixturevalue("lab_session")
    ensure_lab_up(lab)
    yield
    ensure_lab_up(lab)


def wipe_managed() -> None:
    """Remove every fleetctl-managed container and fleet volume from the lab's hosts."""
    from fleetctl.plan.model import LABEL_MANAGED
    from fleetctl.provision.dockerssh import docker_client
    from fleetctl.spec.loader import load_inventory

    fleet = load_inventory(LAB_INV)
    for host in fleet.hosts.values():
        client = docker_client(host)
        try:
            for c in client.containers.list(all=True, filters={"label": f"{LABEL_MANAGED}=true"}):
                c.remove(force=True)
            for v in client.volumes.list():
                if v.name.startswith("fleet-"):
                    v.remove(force=True)
        finally:
            client.close()


def apply_json(root: Path, *extra: str) -> tuple[int, dict]:
    proc = run_cli("apply", "-i", str(root), "-o", "json", "--yes", *extra, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"apply exited {proc.returncode}: {proc.stdout}\n{proc.stderr}") from None
