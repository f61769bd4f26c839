"""The container image each role runs: the pinned images shipped with the playbooks
(``playbooks/vars/images.yml``), unless the inventory overrides one (a host's ``fleet_images``).
The one image lookup of the planner, health and the workflows."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from fleetctl.core.resources import data_dir

__all__ = ["image_for", "pinned_images"]


@lru_cache(maxsize=1)
def pinned_images() -> dict[str, str]:
    """The images the roles run (playbooks/vars/images.yml), for the spec hash: one per client
    (execution and consensus clients by name; Caplin runs inside Erigon's image)."""
    import yaml

    path = data_dir("playbooks") / "vars" / "images.yml"
    if not path.exists():
        return {}
    return dict((yaml.safe_load(path.read_text()) or {}).get("fleet_pinned_images") or {})


def image_for(kind: str, overrides: Mapping[str, object] | None = None) -> str:
    """The image of ``kind`` (a client, ``haproxy``, ``relayminer``, ``morse``): the override
    (a host's ``fleet_images``), else the pinned image, else ``kind`` itself."""
    return str((overrides or {}).get(kind) or pinned_images().get(kind) or kind)
