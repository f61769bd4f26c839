"""Sessions (x/session): the session grid and the suppliers a session holds.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fleetlab.standin.addresses import _bech32_error, lab_block_hash
from fleetlab.standin.common import _go_quote
from fleetlab.standin.errors import INTERNAL, INVALID_ARGUMENT, GatewayError
from fleetlab.standin.params import SHANNON_PARAM_DEFAULTS, _param_int
from fleetlab.standin.suppliers import ServiceConfigUpdate, Supplier, _service_id_error


class SessionsMixin:
    """The session grid (x/shared/types/session.go) and ``Query/GetSession``.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def _grid(self, height: int) -> tuple[int, int, int]:
        """(blocks per session, anchor, session number at anchor): ``sessionGridAnchor``."""
        blocks = max(1, self._shared("num_blocks_per_session"))
        anchor = self._shared("session_grid_anchor_height")
        number_at_anchor = self._shared("session_number_at_anchor")
        if anchor <= 0 or anchor > height:
            return blocks, 1, 1
        return blocks, anchor, max(1, number_at_anchor)

    def _session_start(self, height: int) -> int:
        """``GetSessionStartHeight`` (x/shared/types/session.go)."""
        if height <= 0:
            return 0
        blocks, anchor, _ = self._grid(height)
        return anchor + (height - anchor) // blocks * blocks

    def _session_end(self, height: int) -> int:
        if height <= 0:
            return 0
        return self._session_start(height) + self._grid(height)[0] - 1

    def _session_number(self, height: int) -> int:
        if height <= 0:
            return 0
        blocks, anchor, number_at_anchor = self._grid(height)
        return number_at_anchor + (height - anchor) // blocks

    def _session_for(self, app_address: str, service_id: str,
                     height: int) -> tuple[str, list[str]]:
        """(session id, supplier operator addresses) of the session at ``height``, as
        :meth:`query_session` hydrates it (no checks)."""
        start = self._session_start(height)
        block_hash = lab_block_hash(start) if start > 0 else b""
        id_bytes = b".".join([block_hash, service_id.encode(), app_address.encode(),
                              start.to_bytes(8, "little")])
        candidates = sorted(
            ((s, update) for s in self._suppliers.values()
             if (update := s.active_config(service_id, height)) is not None),
            key=lambda pair: (pair[1].activation_height, pair[0].operator_address.encode()))
        wanted = _param_int(self._shannon_params["session"], "num_suppliers_per_session",
                            SHANNON_PARAM_DEFAULTS[("session", "num_suppliers_per_session")])
        if len(candidates) >= wanted:
            def weight(pair: tuple[Supplier, ServiceConfigUpdate]) -> tuple[int, bytes]:
                operator = pair[0].operator_address.encode()
                digest = hashlib.sha3_256(id_bytes + b"." + operator).digest()
                return int.from_bytes(digest[:8], "big", signed=True), operator

            candidates = sorted(candidates, key=weight)[:wanted]
        return hashlib.sha3_256(id_bytes).hexdigest(), [s.operator_address for s, _ in candidates]

    def query_session(self, application_address: str, service_id: str,
                      block_height: int) -> dict[str, Any]:
        """``Query/GetSession`` (x/session/keeper/query_get_session.go, session_hydrator.go).

        Session id = hex SHA3-256 of ``blockHash(start) ‖ "." ‖ serviceId ‖ "." ‖ appAddress ‖
        "." ‖ start (8 bytes little-endian)``. Candidates are the suppliers with a config for the
        service active at the height, in store order (activation height, operator address). With
        fewer than ``num_suppliers_per_session`` all are taken; otherwise each weighs the first
        8 bytes (big-endian, as a signed int64) of SHA3-256(idBytes ‖ "." ‖ operatorAddress) and
        the lightest ``num_suppliers_per_session`` are taken (address breaks ties).
        """
        if problem := _bech32_error(application_address, "pokt"):
            raise GatewayError(INVALID_ARGUMENT,
                               f"{problem}: invalid application address for session")
        if problem := _service_id_error(service_id):
            raise GatewayError(INVALID_ARGUMENT, problem)
        if block_height < 0:
            raise GatewayError(INVALID_ARGUMENT,
                               f"invalid block height for session being retrieved {block_height};"
                               ": invalid block height for session")
        with self._lock:
            current = self._settle()
            height = block_height if block_height > 0 else current
            if height > current:
                raise GatewayError(INTERNAL,
                                   f"block height {height} is ahead of the last committed block "
                                   f"height {current}: error during session hydration")
            start, end = self._session_start(height), self._session_end(height)
            block_hash = lab_block_hash(start) if start > 0 else b""
            id_bytes = b".".join([block_hash, service_id.encode(), application_address.encode(),
                                  start.to_bytes(8, "little")])
            session_id = hashlib.sha3_256(id_bytes).hexdigest()
            app = self._applications.get(application_address)
            if app is None:
                raise GatewayError(INTERNAL, f"could not find app with address "
                                             f"{_go_quote(application_address)} at height {start}: "
                                             "application for session not found not found ")
            if not app.is_active(end):
                raise GatewayError(INTERNAL, f"application {_go_quote(application_address)} is not "
                                             f"active for session {session_id}: "
                                             "application is not active")
            if service_id not in app.service_ids:
                raise GatewayError(INTERNAL,
                                   f"application {_go_quote(application_address)} not staked for "
                                   f"service ID {_go_quote(service_id)}: "
                                   "application in session not staked for requested service")
            candidates = sorted(
                ((s, update) for s in self._suppliers.values()
                 if (update := s.active_config(service_id, height)) is not None),
                key=lambda pair: (pair[1].activation_height, pair[0].operator_address.encode()),
            )
            if not candidates:
                raise GatewayError(INTERNAL,
                                   f"could not find suppliers for service {service_id} at height "
                                   f"{start}: no suppliers not found for session")
            wanted = _param_int(self._shannon_params["session"], "num_suppliers_per_session",
                                SHANNON_PARAM_DEFAULTS[("session", "num_suppliers_per_session")])
            if len(candidates) >= wanted:
                def weight(pair: tuple[Supplier, ServiceConfigUpdate]) -> tuple[int, bytes]:
                    operator = pair[0].operator_address.encode()
                    digest = hashlib.sha3_256(id_bytes + b"." + operator).digest()
                    return int.from_bytes(digest[:8], "big", signed=True), operator

                candidates = sorted(candidates, key=weight)[:wanted]
            return {"session": {
                "header": {
                    "application_address": application_address,
                    "service_id": service_id,
                    "session_id": session_id,
                    "session_start_block_height": str(start),
                    "session_end_block_height": str(end),
                },
                "session_id": session_id,
                "session_number": str(self._session_number(height)),
                "num_blocks_per_session": str(self._grid(height)[0]),
                "application": app.to_wire(),
                "suppliers": [s.to_session_wire(update) for s, update in candidates],
            }}
