"""Preflight's protocol part: what the chain says of a supplier and its operator, parsed and
compared. The checks themselves (what the plan makes each RelayMiner serve, the node URLs and
backends probed, the report) are the job :mod:`fleetctl.workflows.preflight`.

:func:`parse_supplier` reads a hydrated ``pocket.shared.Supplier`` (its effective service configs,
active or scheduled), :func:`parse_account` a ``QueryAccountResponse``; :func:`check_supplier`
compares a staked supplier with what its RelayMiner serves (:class:`Expected`);
:func:`compare_sent` is the read-back after a stake transaction. Every value from the chain is
hostile: parsed with the checked helpers of :mod:`fleetctl.pocket.base` (type and range); a bad one
is a :class:`~fleetctl.pocket.http.QueryError`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import field
from fractions import Fraction
from typing import Any
from urllib.parse import quote, urlsplit

from fleetctl.core.records import record
from fleetctl.core.levels import Level
from fleetctl.core.redact import safe_url
from fleetctl.pocket.base import field as member, parse_height, parse_int
from fleetctl.pocket.http import QueryError
from fleetctl.core.units import format_upokt
from fleetctl.spec.model import Supplier

__all__ = [
    "BLOCK_TIME_S",
    "DEFAULT_FEE_PER_TX_UPOKT",
    "EXPECTED_RPC_TYPE",
    "RPC_TYPES",
    "SECP256K1",
    "Account",
    "ChainSupplier",
    "Endpoint",
    "Expected",
    "PreflightReport",
    "Problem",
    "Sent",
    "blocks_per_session",
    "check_supplier",
    "compare_sent",
    "fee_per_day",
    "hydrated_supplier",
    "norm_url",
    "parse_account",
    "parse_fee",
    "parse_supplier",
    "read_account",
]

#: Seconds per Shannon block, as ``fleetctl scale`` assumes (poktroll's docs: about 30 s).
BLOCK_TIME_S = 30
#: 200,000 gas (the Cosmos SDK's default gas limit) x 1 upokt per gas x 1.5 adjustment.
DEFAULT_FEE_PER_TX_UPOKT = 300_000
#: Transactions a RelayMiner sends per supplier and session at most: a claim and a proof.
TXS_PER_SESSION = 2
#: ``pocket.shared.RPCType`` (proto/pocket/shared/service.proto), by number.
RPC_TYPES = ("UNKNOWN_RPC", "GRPC", "WEBSOCKET", "JSON_RPC", "REST", "COMET_BFT")
#: The type fleetctl's RelayMiner config serves (its default backend) and ``stake --batch`` writes.
EXPECTED_RPC_TYPE = "JSON_RPC"
SECP256K1 = "/cosmos.crypto.secp256k1.PubKey"
#: poktroll x/shared/types/service.go: ``^[a-zA-Z0-9_-]+$``, at most 42 characters.
_SERVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,42}")
_MAX_URL = 2048
#: More configs, endpoints or history entries than this in one supplier is not believed.
_MAX_ITEMS = 1000
_GRPC_NOT_FOUND = 5
_PREFIX = "/pokt-network/poktroll"


# ----------------------------------------------------------------------------- problems


@record(frozen=True)
class Problem:
    """One problem: CRITICAL = would be sanctioned, WARNING, or UNKNOWN (could not check)."""

    level: Level
    field: str
    message: str
    suppliers: tuple[str, ...] = ()
    service: str | None = None
    host: str | None = None

    @property
    def kind(self) -> str:
        return {Level.CRITICAL: "SANCTION", Level.WARNING: "WARNING"}.get(self.level, "UNKNOWN")

    def who(self) -> str:
        if not self.suppliers:
            return f"RelayMiner on {self.host}" if self.host else "-"
        if len(self.suppliers) <= 3:
            return ",".join(self.suppliers)
        return f"{','.join(self.suppliers[:3])} and {len(self.suppliers) - 3} more"

    def line(self) -> str:
        where = f"supplier {self.who()}, service {self.service or '-'}"
        if self.host and self.suppliers:
            where += f" (RelayMiner on {self.host})"
        return f"{self.kind}: {where}, {self.field}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.kind, "status": self.level.name, "suppliers": list(self.suppliers),
                "service": self.service, "host": self.host, "field": self.field,
                "message": self.message}


@record
class PreflightReport:
    protocol: str
    chain_url: str
    checked_at: str
    height: int | None = None
    suppliers: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fee_per_tx_upokt: int = DEFAULT_FEE_PER_TX_UPOKT
    fee_per_day_upokt: int | None = None
    #: Why nothing could be checked at all (the chain unreadable, the plan infeasible …).
    message: str | None = None

    @property
    def sanctioned(self) -> list[Problem]:
        return [p for p in self.problems if p.level is Level.CRITICAL]

    @property
    def exit_code(self) -> int:
        """0 nothing found; 1 warnings, unknowns or nothing checked; 2 something would be sanctioned."""
        if self.sanctioned:
            return 2
        return 1 if self.problems or self.message else 0

    def summary(self) -> str:
        if self.message and not self.problems:
            return f"preflight: not checked: {self.message}"
        counts = {k: sum(1 for p in self.problems if p.kind == k) for k in ("SANCTION", "WARNING", "UNKNOWN")}
        n = len(self.suppliers)
        if not self.problems:
            return f"preflight: OK, {n} supplier{'s' if n != 1 else ''} checked"
        text = (f"preflight: {counts['SANCTION']} would be sanctioned, {counts['WARNING']} warning"
                f"{'s' if counts['WARNING'] != 1 else ''}, {counts['UNKNOWN']} not checkable; "
                f"{n} supplier{'s' if n != 1 else ''} checked")
        return text + (f"; {self.message}" if self.message else "")

    def as_dict(self) -> dict[str, Any]:
        return {"status": {0: "OK", 1: "WARNING", 2: "SANCTION"}[self.exit_code],
                "exit_code": self.exit_code, "protocol": self.protocol, "chain": {"url": self.chain_url,
                "height": self.height}, "checked_at": self.checked_at, "message": self.message,
                "suppliers": list(self.suppliers), "fee_per_tx_upokt": self.fee_per_tx_upokt,
                "fee_per_day_upokt": self.fee_per_day_upokt, "notes": list(self.notes),
                "problems": [p.as_dict() for p in self.problems]}


# ----------------------------------------------------------------------------- parsers


@record(frozen=True)
class Endpoint:
    url: str
    rpc_type: str


@record(frozen=True)
class ChainSupplier:
    """A supplier as the chain has it: its effective service configs (active or scheduled)."""

    address: str
    owner: str
    stake_upokt: int
    services: Mapping[str, tuple[Endpoint, ...]]
    scheduled: frozenset[str] = frozenset()
    unbonding: bool = False


def _text(value: Any, what: str, *, limit: int = 128) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        shown = f"a {type(value).__name__}" if not isinstance(value, str) else (
            "an empty string" if not value else f"{len(value)} characters" if len(value) > limit
            else "a string with control characters")
        raise QueryError(f"{what}: expected a string of at most {limit} printable characters, got {shown}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    """A JSON array (null or absent is empty, as protojson's EmitDefaults may write it)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise QueryError(f"{what}: expected a list, got a {type(value).__name__}")
    if len(value) > _MAX_ITEMS:
        raise QueryError(f"{what}: {len(value)} entries, more than {_MAX_ITEMS}")
    return value


def _rpc_type(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(RPC_TYPES):
        return RPC_TYPES[value]
    if isinstance(value, str) and value in RPC_TYPES:
        return value
    shown = repr(value)[:24] if isinstance(value, (str, int)) else f"a {type(value).__name__}"
    raise QueryError(f"{what}: expected an RPC type ({', '.join(RPC_TYPES)}), got {shown}")


def _service_config(obj: Any, what: str) -> tuple[str, tuple[Endpoint, ...]]:
    """A ``pocket.shared.SupplierServiceConfig``: its service id and endpoints."""
    if not isinstance(obj, dict):
        raise QueryError(f"{what}: expected a service config object")
    service = member(obj, "service_id", where=what)
    if not isinstance(service, str) or not _SERVICE_ID.fullmatch(service):
        shown = repr(service)[:24] if isinstance(service, str) else f"a {type(service).__name__}"
        raise QueryError(f"{what}.service_id: not a service id ({shown})")
    endpoints = []
    for i, ep in enumerate(_list(obj.get("endpoints"), f"{what}.endpoints")):
        here = f"{what}.endpoints[{i}]"
        if not isinstance(ep, dict):
            raise QueryError(f"{here}: expected an endpoint object")
        url = _text(member(ep, "url", where=here), f"{here}.url", limit=_MAX_URL)
        endpoints.append(Endpoint(url, _rpc_type(ep.get("rpc_type", 0), f"{here}.rpc_type")))
    return service, tuple(endpoints)


def parse_supplier(obj: Any, what: str, *, height: int) -> ChainSupplier:
    """A hydrated ``pocket.shared.Supplier`` (``what`` names endpoint and field). Per service the
    effective config: from ``service_config_history``, the newest (highest activation height)
    not deactivated at ``height``; without a history (dehydrated, or an older release), the
    active ``services``."""
    from fleetctl.pocket.shannon import _coin

    if not isinstance(obj, dict):
        raise QueryError(f"{what}: expected a supplier object")
    address = _text(member(obj, "operator_address", where=what), f"{what}.operator_address")
    owner = obj.get("owner_address")
    owner = _text(owner, f"{what}.owner_address") if owner not in (None, "") else address
    stake = _coin(member(obj, "stake", where=what), f"{what}.stake")
    unstake = parse_height(obj.get("unstake_session_end_height", "0"), f"{what}.unstake_session_end_height")
    active: dict[str, tuple[Endpoint, ...]] = {}
    for i, entry in enumerate(_list(obj.get("services"), f"{what}.services")):
        service, endpoints = _service_config(entry, f"{what}.services[{i}]")
        active[service] = endpoints
    best: dict[str, tuple[int, tuple[Endpoint, ...]]] = {}
    history = _list(obj.get("service_config_history"), f"{what}.service_config_history")
    for i, update in enumerate(history):
        here = f"{what}.service_config_history[{i}]"
        if not isinstance(update, dict):
            raise QueryError(f"{here}: expected a service config update object")
        service, endpoints = _service_config(member(update, "service", where=here), f"{here}.service")
        activation = parse_height(update.get("activation_height", "0"), f"{here}.activation_height")
        deactivation = parse_height(update.get("deactivation_height", "0"), f"{here}.deactivation_height")
        if deactivation and deactivation <= height:
            continue
        if service not in best or activation >= best[service][0]:
            best[service] = (activation, endpoints)
    if history:
        services = {s: eps for s, (_, eps) in best.items()}
        scheduled = frozenset(s for s, (act, _) in best.items() if act > height)
    else:
        services, scheduled = active, frozenset()
    return ChainSupplier(address, owner, stake, services, scheduled, bool(unstake))


@record(frozen=True)
class Account:
    address: str
    #: ``@type`` of the public key, None when the account never signed (no key on chain).
    pub_key_type: str | None


def parse_account(body: Any, address: str, what: str) -> Account:
    """``QueryAccountResponse``: the base account's address and public key, checked."""
    account = member(body, "account", where=what)
    if not isinstance(account, dict):
        raise QueryError(f"{what}: account is not an object")
    base = account
    for path in (("base_account",), ("base_vesting_account", "base_account")):
        if "address" in base:
            break
        inner: Any = account
        for key in path:
            inner = inner.get(key) if isinstance(inner, dict) else None
        if isinstance(inner, dict):
            base = inner
    found = _text(member(base, "address", where=what), f"{what}.account.address")
    if found != address:
        raise QueryError(f"{what}: the chain answered for another account ({found[:80]})")
    for name in ("account_number", "sequence"):
        if name in base:
            parse_int(base[name], f"{what}.account.{name}")
    pub_key = base.get("pub_key")
    if pub_key is None:
        return Account(found, None)
    if not isinstance(pub_key, dict):
        raise QueryError(f"{what}.account.pub_key: expected an object or null")
    kind = _text(member(pub_key, "@type", where=f"{what}.account.pub_key"), f"{what}.account.pub_key.@type")
    if kind == SECP256K1:
        raw = member(pub_key, "key", where=f"{what}.account.pub_key")
        try:
            decoded = base64.b64decode(raw, validate=True) if isinstance(raw, str) and len(raw) <= 100 else b""
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 33 or decoded[0] not in (2, 3):
            raise QueryError(f"{what}.account.pub_key.key: not a compressed secp256k1 key")
    return Account(found, kind)


def parse_fee(text: str) -> int:
    """``--fee-per-tx``: upokt as digits, or an amount such as ``"0.3 POKT"``/``"300000upokt"``;
    ValueError with a one-line reason."""
    from fleetctl.core.units import parse_amount as parse_text_amount

    value = int(text) if text.strip().isdigit() and len(text.strip()) <= 20 else parse_text_amount(text.strip())
    if value is None or value > 10**17:
        raise ValueError(f"--fee-per-tx: expected an amount such as 300000 (upokt) or \"0.3 POKT\", got {text!r}")
    return value


def fee_per_day(fee_per_tx: int, blocks_per_session: int, block_time_s: int = BLOCK_TIME_S) -> int:
    """Upper bound of one supplier's claim and proof fees per day, in upokt (rounded up)."""
    sessions = Fraction(86_400, blocks_per_session * block_time_s)
    total = sessions * TXS_PER_SESSION * fee_per_tx
    return -((-total.numerator) // total.denominator)


# ----------------------------------------------------------------------------- expectations


@record(frozen=True)
class Expected:
    """What fleetctl's plan makes a supplier's RelayMiner serve."""

    supplier: Supplier
    host: str
    endpoint_url: str
    #: service id -> backend_url of the RelayMiner config on the host (through its balancer)
    served: Mapping[str, str]
    #: pocket_node key -> URL (query_node_rpc_url, tx_node_rpc_url)
    node_urls: Mapping[str, str]



def norm_url(url: str) -> str:
    """A URL compared as the same place: scheme and host case-folded, a trailing '/' dropped,
    the default port made explicit."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
        host = parts.hostname or ""
    except ValueError:
        return url.strip()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host.lower()}:{port}{parts.path.rstrip('/')}" + (
        f"?{parts.query}" if parts.query else "")


# ----------------------------------------------------------------------------- comparisons


def check_supplier(expected: Expected, chain: ChainSupplier) -> list[Problem]:
    """The services and endpoints of a staked supplier against what its RelayMiner serves."""
    name = expected.supplier.name
    who = (name,)
    problems: list[Problem] = []
    want = norm_url(expected.endpoint_url)
    for service in sorted(chain.services):
        endpoints = chain.services[service]
        when = " (scheduled: activates at the next session)" if service in chain.scheduled else ""
        if service not in expected.served:
            problems.append(Problem(Level.CRITICAL, "services", (
                f"staked on chain{when}, but the RelayMiner on {expected.host} does not serve it: gateways "
                "sanction the supplier for good ('service not configured'); add it to the supplier's "
                "services in fleet.yml and apply, or restake without it"), who, service, expected.host))
            continue
        if not endpoints:
            problems.append(Problem(Level.CRITICAL, "endpoints", f"no endpoint on chain{when}: relays cannot "
                                    f"reach the RelayMiner at {expected.endpoint_url}", who, service, expected.host))
        for ep in endpoints:
            if norm_url(ep.url) != want:
                problems.append(Problem(Level.CRITICAL, "endpoint.url", (
                    f"on chain {safe_url(ep.url)}{when}, the RelayMiner listens at {expected.endpoint_url}: "
                    "relays go where nothing serves them"), who, service, expected.host))
            if ep.rpc_type != EXPECTED_RPC_TYPE:
                problems.append(Problem(Level.CRITICAL, "endpoint.rpc_type", (
                    f"on chain {ep.rpc_type}{when}, the RelayMiner serves {EXPECTED_RPC_TYPE} only "
                    f"(its default backend)"), who, service, expected.host))
        if service not in expected.supplier.services:
            problems.append(Problem(Level.WARNING, "services", (
                f"staked on chain and served by the RelayMiner on {expected.host} (another supplier's), "
                f"but not in fleet.yml's services of {name}"), who, service, expected.host))
    for service in expected.supplier.services:
        if service not in chain.services:
            problems.append(Problem(Level.WARNING, "services", (
                "in fleet.yml, not staked on chain (a stake update without it, or wiped: poktroll #1687): "
                "the supplier is in none of its sessions; restake with every service"), who, service,
                expected.host))
    return problems


@record(frozen=True)
class Sent:
    """What a stake transaction sent for one supplier (its config file's content)."""

    services: tuple[str, ...]
    endpoint_url: str
    rpc_type: str
    stake_upokt: int


def compare_sent(sent: Sent, chain: ChainSupplier) -> list[str]:
    """Differences between what a stake sent and what the chain stored (empty: the same), each
    with both sides shown."""
    differences = []
    if chain.stake_upokt != sent.stake_upokt:
        differences.append(f"stake: sent {format_upokt(sent.stake_upokt)}, on chain {format_upokt(chain.stake_upokt)}")
    if set(chain.services) != set(sent.services):
        differences.append(f"services: sent [{', '.join(sorted(sent.services))}], on chain "
                           f"[{', '.join(sorted(chain.services))}]")
    want = [Endpoint(sent.endpoint_url, sent.rpc_type)]
    for service in sorted(set(chain.services) & set(sent.services)):
        got = list(chain.services[service])
        if [(norm_url(e.url), e.rpc_type) for e in got] != [(norm_url(e.url), e.rpc_type) for e in want]:
            shown = ", ".join(f"{safe_url(e.url)} {e.rpc_type}" for e in got) or "none"
            differences.append(f"{service} endpoints: sent {safe_url(sent.endpoint_url)} {sent.rpc_type}, "
                               f"on chain {shown}")
    return differences


# ----------------------------------------------------------------------------- chain reads


async def hydrated_supplier(client: Any, address: str, height: int) -> ChainSupplier | None:
    """The supplier as the chain stores it (None: not staked)."""
    route = f"{_PREFIX}/supplier/supplier/{quote(address, safe='')}"
    try:
        reply = await client.get(route)
    except QueryError as exc:
        if exc.status == 404 and isinstance(exc.body, dict) and exc.body.get("code") == _GRPC_NOT_FOUND:
            return None
        raise
    state = parse_supplier(member(reply, "supplier", where=route), f"{route} supplier", height=height)
    if state.address != address:
        raise QueryError(f"{route}: the chain answered for {state.address[:80]}")
    return state


async def read_account(client: Any, address: str) -> Account | None:
    route = f"/cosmos/auth/v1beta1/accounts/{quote(address, safe='')}"
    try:
        reply = await client.get(route)
    except QueryError as exc:
        if exc.status == 404 and isinstance(exc.body, dict) and exc.body.get("code") == _GRPC_NOT_FOUND:
            return None
        raise
    return parse_account(reply, address, route)


async def blocks_per_session(client: Any) -> int:
    route = f"{_PREFIX}/shared/params"
    reply = await client.get(route)
    return parse_height(member(reply, "params", "num_blocks_per_session", where=route),
                        f"{route} params.num_blocks_per_session", minimum=1)
