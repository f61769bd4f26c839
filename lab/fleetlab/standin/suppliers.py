"""Shannon actors (suppliers, applications, their services) and the chain's queries and
control of them (x/supplier, x/application, x/service).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fleetlab.standin.addresses import _bech32_error, lab_address
from fleetlab.standin.common import (
    SeedError,
    _as_int,
    _as_list,
    _as_object,
    _as_str,
    _check_keys,
    _clone,
    _coin,
    _enum_name,
    _get,
    _go_quote,
)
from fleetlab.standin.errors import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    ControlError,
    GatewayError,
)
from fleetlab.standin.params import SHANNON_PARAM_DEFAULTS, _param_int
from fleetlab.standin.rest import PageRequest

_RPC_TYPES = ("UNKNOWN_RPC", "GRPC", "WEBSOCKET", "JSON_RPC", "REST", "COMET_BFT")


_CONFIG_OPTIONS = ("UNKNOWN_CONFIG", "TIMEOUT")


_SERVICE_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")  # x/shared/types/service.go


_MAX_SERVICE_ID_LENGTH = 42


#: Owner of the services the lab does not seed explicitly.
_LAB_SERVICE_OWNER = lab_address("lab-service-owner")


def _service_id_error(service_id: str) -> str | None:
    """``sharedtypes.IsValidServiceId`` (x/shared/types/service.go) message, or None."""
    if not service_id:
        return "empty service ID: invalid service ID"
    if len(service_id) > _MAX_SERVICE_ID_LENGTH:
        return (f"service ID '{service_id}' exceeds maximum length: {_MAX_SERVICE_ID_LENGTH}: "
                "invalid service ID")
    if not _SERVICE_ID_RE.match(service_id):
        return f"service ID '{service_id}' contains invalid characters: invalid service ID"
    return None


@dataclass
class ServiceConfigUpdate:
    """``pocket.shared.ServiceConfigUpdate``: one service config and when it is active."""

    service: dict[str, Any]  # pocket.shared.SupplierServiceConfig, wire form
    activation_height: int
    deactivation_height: int = 0

    def is_active(self, height: int) -> bool:
        """``ServiceConfigUpdate.IsActive`` (x/shared/types/service_config_update.go)."""
        if self.activation_height > height:
            return False
        return self.deactivation_height == 0 or height < self.deactivation_height

    def to_wire(self, operator_address: str) -> dict[str, Any]:
        return {
            "operator_address": operator_address,
            "service": _clone(self.service),
            "activation_height": str(self.activation_height),
            "deactivation_height": str(self.deactivation_height),
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "service": _clone(self.service),
            "activation_height": self.activation_height,
            "deactivation_height": self.deactivation_height,
        }


def _supplier_service_config(entry: Any, owner: str, where: str) -> dict[str, Any]:
    """A ``pocket.shared.SupplierServiceConfig`` in wire form from a service id or config object."""
    if isinstance(entry, str):
        entry = {"service_id": entry}
    entry = _as_object(entry, where)
    _check_keys(entry, ("service_id", "endpoints", "rev_share"), where)
    service_id = _as_str(entry.get("service_id"), f"{where}.service_id")
    if problem := _service_id_error(service_id):
        raise SeedError(f"{where}.service_id: {problem}")
    default_endpoint = {"url": f"https://relayminer.lab.invalid/{service_id}",
                        "rpc_type": "JSON_RPC"}
    endpoints = []
    for i, endpoint in enumerate(_as_list(_get(entry, "endpoints", [default_endpoint]),
                                          f"{where}.endpoints")):
        here = f"{where}.endpoints[{i}]"
        endpoint = _as_object(endpoint, here)
        _check_keys(endpoint, ("url", "rpc_type", "configs"), here)
        configs = [
            {
                "key": _enum_name(_get(_as_object(option, f"{here}.configs[{j}]"), "key", 0),
                                  _CONFIG_OPTIONS, f"{here}.configs[{j}].key"),
                "value": _as_str(_get(option, "value", ""), f"{here}.configs[{j}].value"),
            }
            for j, option in enumerate(_as_list(_get(endpoint, "configs", []), f"{here}.configs"))
        ]
        endpoints.append({
            "url": _as_str(endpoint.get("url"), f"{here}.url"),
            "rpc_type": _enum_name(_get(endpoint, "rpc_type", "JSON_RPC"), _RPC_TYPES,
                                   f"{here}.rpc_type"),
            "configs": configs,
        })
    rev_share = [
        {
            "address": _as_str(_as_object(share, f"{where}.rev_share[{i}]").get("address"),
                               f"{where}.rev_share[{i}].address"),
            "rev_share_percentage": str(_as_int(share.get("rev_share_percentage"),
                                                f"{where}.rev_share[{i}].rev_share_percentage")),
        }
        for i, share in enumerate(_as_list(
            _get(entry, "rev_share", [{"address": owner, "rev_share_percentage": 100}]),
            f"{where}.rev_share"))
    ]
    return {"service_id": service_id, "endpoints": endpoints, "rev_share": rev_share}


@dataclass
class Supplier:
    """A Shannon supplier (``pocket.shared.Supplier``) with its service config history."""

    operator_address: str
    owner_address: str
    stake_upokt: int
    unstake_session_end_height: int
    history: list[ServiceConfigUpdate]

    @classmethod
    def from_seed(cls, obj: Any, default_stake: int, default_activation: int,
                  where: str) -> Supplier:
        obj = _as_object(obj, where)
        _check_keys(obj, ("operator_address", "owner_address", "stake_upokt", "services",
                          "activation_height", "unstake_session_end_height",
                          "service_config_history"), where)
        operator = _as_str(obj.get("operator_address"), f"{where}.operator_address")
        if not operator:
            raise SeedError(f"{where}.operator_address: must not be empty")
        owner = _as_str(_get(obj, "owner_address", operator), f"{where}.owner_address")
        if "service_config_history" in obj:
            history = []
            for i, update in enumerate(_as_list(obj["service_config_history"],
                                                f"{where}.service_config_history")):
                here = f"{where}.service_config_history[{i}]"
                update = _as_object(update, here)
                _check_keys(update, ("operator_address", "service", "activation_height",
                                     "deactivation_height"), here)
                history.append(ServiceConfigUpdate(
                    service=_supplier_service_config(update.get("service"), owner,
                                                     f"{here}.service"),
                    activation_height=_as_int(_get(update, "activation_height", 1),
                                              f"{here}.activation_height"),
                    deactivation_height=_as_int(_get(update, "deactivation_height", 0),
                                                f"{here}.deactivation_height"),
                ))
        else:
            activation = _as_int(_get(obj, "activation_height", default_activation),
                                 f"{where}.activation_height")
            services = _as_list(_get(obj, "services", []), f"{where}.services")
            history = [
                ServiceConfigUpdate(
                    _supplier_service_config(entry, owner, f"{where}.services[{i}]"), activation)
                for i, entry in enumerate(services)
            ]
        return cls(
            operator_address=operator,
            owner_address=owner,
            stake_upokt=_as_int(_get(obj, "stake_upokt", default_stake), f"{where}.stake_upokt"),
            unstake_session_end_height=_as_int(_get(obj, "unstake_session_end_height", 0),
                                               f"{where}.unstake_session_end_height"),
            history=history,
        )

    def active_config(self, service_id: str, height: int) -> ServiceConfigUpdate | None:
        return next((u for u in self.history
                     if u.service["service_id"] == service_id and u.is_active(height)), None)

    def to_wire(self, height: int, *, dehydrated: bool = False) -> dict[str, Any]:
        """``pocket.shared.Supplier`` as the supplier query hydrates it at ``height``.

        Hydrated (``hydrateFullSupplierServiceConfigs``): services active at ``height`` and the
        whole history; dehydrated: active services without ``rev_share``, no history.
        """
        services = [_clone(u.service) for u in self.history if u.is_active(height)]
        if dehydrated:
            for service in services:
                service["rev_share"] = []
        history = [] if dehydrated else [u.to_wire(self.operator_address) for u in self.history]
        return self._wire(services, history)

    def to_session_wire(self, update: ServiceConfigUpdate) -> dict[str, Any]:
        """The supplier as ``getServiceConfigsSuppliers`` puts it in a session: one service."""
        return self._wire([_clone(update.service)], [])

    def _wire(self, services: list[dict[str, Any]],
              history: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "owner_address": self.owner_address,
            "operator_address": self.operator_address,
            "stake": _coin(self.stake_upokt),
            "services": services,
            "unstake_session_end_height": str(self.unstake_session_end_height),
            "service_config_history": history,
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "operator_address": self.operator_address,
            "owner_address": self.owner_address,
            "stake_upokt": self.stake_upokt,
            "unstake_session_end_height": self.unstake_session_end_height,
            "service_config_history": [u.to_seed() for u in self.history],
        }


@dataclass
class Application:
    """A Shannon application (``pocket.application.Application``)."""

    address: str
    stake_upokt: int
    service_ids: list[str]
    delegatee_gateway_addresses: list[str]
    unstake_session_end_height: int

    @classmethod
    def from_seed(cls, obj: Any, default_stake: int, where: str) -> Application:
        obj = _as_object(obj, where)
        _check_keys(obj, ("address", "stake_upokt", "services", "delegatee_gateway_addresses",
                          "unstake_session_end_height"), where)
        service_ids = [
            _as_str(s.get("service_id") if isinstance(s, dict) else s, f"{where}.services[{i}]")
            for i, s in enumerate(_as_list(_get(obj, "services", []), f"{where}.services"))
        ]
        for i, service_id in enumerate(service_ids):
            if problem := _service_id_error(service_id):
                raise SeedError(f"{where}.services[{i}]: {problem}")
        address = _as_str(obj.get("address"), f"{where}.address")
        if not address:
            raise SeedError(f"{where}.address: must not be empty")
        return cls(
            address=address,
            stake_upokt=_as_int(_get(obj, "stake_upokt", default_stake), f"{where}.stake_upokt"),
            service_ids=service_ids,
            delegatee_gateway_addresses=[
                _as_str(a, f"{where}.delegatee_gateway_addresses[{i}]")
                for i, a in enumerate(_as_list(_get(obj, "delegatee_gateway_addresses", []),
                                               f"{where}.delegatee_gateway_addresses"))
            ],
            unstake_session_end_height=_as_int(_get(obj, "unstake_session_end_height", 0),
                                               f"{where}.unstake_session_end_height"),
        )

    def is_active(self, height: int) -> bool:
        """``Application.IsActive``: an unbonding app serves until its unstake session ends."""
        return self.unstake_session_end_height == 0 or height <= self.unstake_session_end_height

    def to_wire(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "stake": _coin(self.stake_upokt),
            "service_configs": [{"service_id": s} for s in self.service_ids],
            "delegatee_gateway_addresses": list(self.delegatee_gateway_addresses),
            "pending_undelegations": {},
            "unstake_session_end_height": str(self.unstake_session_end_height),
            "pending_transfer": None,
            "per_session_spend_limit": None,
            "service_config_history": [],
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "stake_upokt": self.stake_upokt,
            "services": list(self.service_ids),
            "delegatee_gateway_addresses": list(self.delegatee_gateway_addresses),
            "unstake_session_end_height": self.unstake_session_end_height,
        }


class SuppliersMixin:
    """Suppliers, applications and services: the gateway queries and the control upserts.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def _service_wire(self, service_id: str) -> dict[str, Any] | None:
        """``pocket.shared.Service`` of a seeded service, or of one a supplier or application
        is staked for (compute_units_per_relay 1, the lab's service owner); None if unknown."""
        seeded = self._services.get(service_id)
        if seeded is None:
            staked = any(u.service["service_id"] == service_id
                         for s in self._suppliers.values() for u in s.history) or any(
                service_id in a.service_ids for a in self._applications.values())
            if not staked:
                return None
            seeded = {"id": service_id, "name": service_id, "compute_units_per_relay": 1,
                      "owner_address": _LAB_SERVICE_OWNER}
        return {"id": seeded["id"], "name": seeded["name"],
                "compute_units_per_relay": str(seeded["compute_units_per_relay"]),
                "owner_address": seeded["owner_address"], "metadata": None}

    def query_service(self, service_id: str) -> dict[str, Any]:
        """``Query/Service`` (x/service/keeper/query_service.go)."""
        with self._lock:
            self._settle()
            service = self._service_wire(service_id)
        if service is None:
            raise GatewayError(NOT_FOUND, f"service ID not found: {_go_quote(service_id)}")
        return {"service": service}

    def query_supplier(self, operator_address: str, *, dehydrated: bool) -> dict[str, Any]:
        """``Query/Supplier`` (x/supplier/keeper/query_supplier.go)."""
        with self._lock:
            height = self._settle()
            supplier = self._suppliers.get(operator_address)
            if supplier is None:
                raise GatewayError(NOT_FOUND, f"supplier with operator address: "
                                              f"{_go_quote(operator_address)}: supplier not found")
            return {"supplier": supplier.to_wire(height, dehydrated=dehydrated)}

    def query_suppliers(self, *, service_id: str, operator_address: str, owner_address: str,
                        dehydrated: bool, page: PageRequest) -> dict[str, Any]:
        """``Query/AllSuppliers`` with its filters (AND) and Cosmos pagination."""
        if service_id and (problem := _service_id_error(service_id)):
            raise GatewayError(INVALID_ARGUMENT, f"{problem}: invalid service ID")
        for label, address in (("operator", operator_address), ("owner", owner_address)):
            if address and (problem := _bech32_error(address, "pokt")):
                raise GatewayError(INVALID_ARGUMENT, f"invalid {label} address {address}; "
                                                     f"({problem}): invalid address")
        with self._lock:
            height = self._settle()
            if operator_address and not service_id and not owner_address:
                supplier = self._suppliers.get(operator_address)
                found = [] if supplier is None else [
                    supplier.to_wire(height, dehydrated=dehydrated)]
                return {"supplier": found, "pagination": None}
            matching = [
                (f"{s.operator_address}/".encode(), s.to_wire(height, dehydrated=dehydrated))
                for s in self._suppliers.values()
                if (not service_id or s.active_config(service_id, height) is not None)
                and (not owner_address or s.owner_address == owner_address)
                and (not operator_address or s.operator_address == operator_address)
            ]
        items, pagination = page.apply(matching)
        return {"supplier": items, "pagination": pagination}

    def query_application(self, address: str) -> dict[str, Any]:
        """``Query/Application`` (x/application/keeper/query_application.go)."""
        with self._lock:
            self._settle()
            app = self._applications.get(address)
            if app is None:
                raise GatewayError(NOT_FOUND, f"application with address {address} not found")
            return {"application": app.to_wire()}

    def query_applications(self, *, delegatee_gateway_address: str,
                           page: PageRequest) -> dict[str, Any]:
        """``Query/AllApplications`` with its gateway filter and Cosmos pagination (store
        order: address)."""
        if delegatee_gateway_address and (problem := _bech32_error(delegatee_gateway_address, "pokt")):
            raise GatewayError(INVALID_ARGUMENT, f"invalid gateway address {delegatee_gateway_address}; "
                                                 f"({problem}): invalid address")
        with self._lock:
            self._settle()
            matching = [
                (f"{a.address}/".encode(), a.to_wire())
                for _, a in sorted(self._applications.items())
                if not delegatee_gateway_address or delegatee_gateway_address in a.delegatee_gateway_addresses
            ]
        items, pagination = page.apply(matching)
        return {"applications": items, "pagination": pagination}

    def upsert_supplier(self, obj: Any) -> dict[str, Any]:
        with self._lock:
            height = self._settle()
            minimum = _param_int(self._shannon_params["supplier"], "min_stake",
                                 SHANNON_PARAM_DEFAULTS[("supplier", "min_stake")])
            supplier = Supplier.from_seed(obj, minimum, height, "supplier")
            self._suppliers[supplier.operator_address] = supplier
            return {"supplier": supplier.to_wire(height)}

    def delete_supplier(self, operator_address: str) -> dict[str, Any]:
        with self._lock:
            self._settle()
            if self._suppliers.pop(operator_address, None) is None:
                raise ControlError(404, f"no supplier {operator_address}")
            return {"deleted": operator_address}

    def slash_supplier(self, operator_address: Any, amount_upokt: Any) -> dict[str, Any]:
        """Burn stake as a missing-proof penalty does; auto-unstake below ``min_stake``.

        Returns ``{"supplier", "events"}``; ``events`` holds the chain's
        ``EventSupplierUnbondingBegin`` (reason BELOW_MIN_STAKE) when the slash unstaked it.
        """
        operator_address = _as_str(operator_address, "operator_address")
        amount = _as_int(amount_upokt, "amount_upokt")
        with self._lock:
            height = self._settle()
            supplier = self._suppliers.get(operator_address)
            if supplier is None:
                raise ControlError(404, f"no supplier {operator_address}")
            supplier.stake_upokt -= min(amount, supplier.stake_upokt)
            events = []
            session_end = self._unstake_below_min(supplier, height)
            if session_end is not None:
                events.append({
                    "type": "pocket.supplier.EventSupplierUnbondingBegin",
                    "reason": "SUPPLIER_UNBONDING_REASON_BELOW_MIN_STAKE",
                    "session_end_height": str(session_end),
                    "unbonding_end_height": str(session_end),  # as settle_pending_claims.go sets it
                })
            return {"supplier": supplier.to_wire(height), "events": events}

    def upsert_application(self, obj: Any) -> dict[str, Any]:
        with self._lock:
            self._settle()
            minimum = _param_int(self._shannon_params["application"], "min_stake",
                                 SHANNON_PARAM_DEFAULTS[("application", "min_stake")])
            app = Application.from_seed(obj, minimum, "application")
            self._applications[app.address] = app
            return {"application": app.to_wire()}

    def delete_application(self, address: str) -> dict[str, Any]:
        with self._lock:
            self._settle()
            if self._applications.pop(address, None) is None:
                raise ControlError(404, f"no application {address}")
            return {"deleted": address}
