"""The chain's clock: its height from elapsed time, and the time-driven transitions (settlement,
unbonding, Morse unstaking) applied lazily before each request.
"""

from __future__ import annotations

import time
from typing import Any

from fleetlab.standin.common import SeedError, _as_int
from fleetlab.standin.morse import _MORSE_STATUS_UNSTAKED, _MORSE_STATUS_UNSTAKING
from fleetlab.standin.params import SHANNON_PARAM_DEFAULTS, _param_int


class ClockMixin:
    """Height, block times and the lazy transitions due by the current height.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def _height(self) -> int:
        if self._block_time <= 0:
            return self._anchor_height
        return self._anchor_height + int((time.monotonic() - self._anchor_monotonic)
                                         // self._block_time)

    def _block_time_ns(self, height: int) -> int:
        """Header time of ``height``: the anchor's wall time plus one block time per block."""
        return self._anchor_wall_ns + int((height - self._anchor_height)
                                          * self._block_time * 1_000_000_000)

    def _shared(self, name: str) -> int:
        return _param_int(self._shannon_params["shared"], name,
                          SHANNON_PARAM_DEFAULTS[("shared", name)])

    def _shared_or(self, name: str, default: int) -> int:
        return _param_int(self._shannon_params["shared"], name, default)

    def _settle(self) -> int:
        """Apply the settlements, unbonding and unstaking that are due; return the height."""
        height = self._height()
        self._process_claims(height)
        self._unbond_due(height)
        now_ns = time.time_ns()
        for node in self._nodes.values():
            if (node.status == _MORSE_STATUS_UNSTAKING and node.unstaking_time_ns is not None
                    and node.unstaking_time_ns <= now_ns):
                self._credit(node.output_address or node.address, node.tokens_upokt)
                node.tokens_upokt = 0
                node.status = _MORSE_STATUS_UNSTAKED
                node.unstaking_time_ns = None
        self._prune(height)
        return height

    def _unbond_due(self, height: int) -> None:
        """Remove the suppliers and applications whose unbonding period ended by ``height``."""
        blocks = max(1, self._shared("num_blocks_per_session"))
        supplier_period = self._shared("supplier_unbonding_period_sessions") * blocks
        for operator, supplier in list(self._suppliers.items()):
            end = supplier.unstake_session_end_height
            if end and height >= self._session_end(end + supplier_period):
                del self._suppliers[operator]
                self._credit(supplier.owner_address, supplier.stake_upokt)
        app_period = self._shared("application_unbonding_period_sessions") * blocks
        for address, app in list(self._applications.items()):
            end = app.unstake_session_end_height
            if end and height >= self._session_end(end + app_period):
                del self._applications[address]
                self._credit(app.address, app.stake_upokt)

    def height(self) -> int:
        """The latest height."""
        with self._lock:
            return self._settle()

    def set_height(self, *, height: Any = None, advance: Any = None) -> int:
        """Jump to ``height`` or ``advance`` blocks; the block clock restarts from there."""
        with self._lock:
            current = self._settle()
            if (height is None) == (advance is None):
                raise SeedError("give exactly one of 'height' and 'advance'")
            target = (_as_int(height, "height", minimum=1) if height is not None
                      else current + _as_int(advance, "advance"))
            self._anchor_height = target
            self._anchor_monotonic = time.monotonic()
            self._anchor_wall_ns = time.time_ns()
            return self._settle()
