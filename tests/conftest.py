"""Shared fixtures: paths, a CLI runner (the installed console script), the local lab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
EXAMPLE = REPO / "inventories" / "example"
LAB_INV = REPO / "inventories" / "lab"


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


@pytest.fixture(scope="session")
def lab():
    """The local lab, brought up once per session (idempotent) and torn down at the end."""
    if os.environ.get("FLEETCTL_SKIP_LAB"):
        pytest.skip("FLEETCTL_SKIP_LAB is set")
    from fleetctl.lab.manager import Lab

    lab = Lab()
    status = lab.up()
    assert status["up"], status
    yield lab
    lab.down()


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
