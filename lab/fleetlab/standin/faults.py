"""Injected failures and latency: the fault plan and the chain's control of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleetlab.standin.common import (
    FAULT_MODES,
    SeedError,
    _as_int,
    _as_str,
    _check_keys,
    _get,
)


@dataclass
class FaultPlan:
    """Injected failure for non-control requests whose path starts with ``path_prefix``."""

    mode: str = "none"
    path_prefix: str = ""
    remaining: int | None = None  # None: until changed

    @classmethod
    def from_seed(cls, obj: Mapping[str, Any], where: str) -> FaultPlan:
        _check_keys(obj, ("mode", "path_prefix", "count"), where)
        mode = _as_str(_get(obj, "mode", "none"), f"{where}.mode")
        if mode not in FAULT_MODES:
            raise SeedError(f"{where}.mode: expected one of {', '.join(FAULT_MODES)}, "
                            f"got {mode!r}")
        if mode == "none":
            return cls()
        count = obj.get("count")
        return cls(mode, _as_str(_get(obj, "path_prefix", ""), f"{where}.path_prefix"),
                   None if count is None else _as_int(count, f"{where}.count", minimum=1))

    def to_wire(self) -> dict[str, Any]:
        return {"mode": self.mode, "path_prefix": self.path_prefix, "count": self.remaining}


class FaultsMixin:
    """Faults and latency of the non-control requests (every listener).

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def set_fault(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the fault plan (``{"mode", "path_prefix", "count"}``); return it."""
        plan = FaultPlan.from_seed(obj, "fault")
        with self._lock:
            self._fault = plan
            return plan.to_wire()

    def set_latency(self, ms: Any) -> int:
        with self._lock:
            self._latency_ms = _as_int(ms, "ms")
            return self._latency_ms

    def take_fault(self, path: str) -> tuple[float, str]:
        """(latency seconds, fault mode or "none") for one non-control request to ``path``."""
        with self._lock:
            plan = self._fault
            mode = "none"
            if plan.mode != "none" and path.startswith(plan.path_prefix):
                mode = plan.mode
                if plan.remaining is not None:
                    plan.remaining -= 1
                    if plan.remaining <= 0:
                        self._fault = FaultPlan()
            return self._latency_ms / 1000.0, mode
