"""``fleetctl preflight``: will the fleet's suppliers be served, paid for and left unsanctioned?

Run before staking (``fleetctl stake --batch`` runs it on the suppliers it is about to stake,
before anything is sent) and from cron. Shannon only (Morse has no RelayMiner). For each
supplier of fleet.yml with an operator address (``--only`` narrows them):

Services on chain against the RelayMiner configuration fleetctl writes
    The expected configuration is computed from the plan, never read over SSH:
    :func:`fleetctl.plan.placement.plan_placement` then :func:`fleetctl.plan.vars.host_vars`
    give each host's ``fleet_relayminer`` (the variables ``playbooks/roles/relayminer/templates/
    config.yaml.j2`` renders): the services its RelayMiner serves (``suppliers[].service_id``, each
    through ``backend_url``, the host's balancer for the chain), its listener
    ``http://<host address>:8500`` and its ``pocket_node`` URLs. A supplier pinned to a host
    (``host:``) is exact; an unpinned one is placed as a fresh plan places it (as ``stake
    --batch`` does), which is where it runs unless an earlier plan put it elsewhere.
    The supplier is read hydrated (``GET /pokt-network/poktroll/supplier/supplier/{operator}``,
    ``services`` and ``service_config_history``); its services *on chain* are those active now
    and those scheduled (an update activates at the next session start, poktroll
    ``x/supplier/keeper/msg_server_stake_supplier.go``): per service the newest config not
    deactivated at the chain's height. Then, per service:

    * on chain and not served by its host's RelayMiner: **sanction** (PATH's permanent
      "service not configured" sanction);
    * an endpoint whose URL is not the RelayMiner's listener, or whose ``rpc_type`` is not
      ``JSON_RPC`` (the one type fleetctl's RelayMiner config serves, through its default
      ``backend_url``; the type ``stake --batch`` writes): **sanction** (relays go where nothing
      answers them, or ask for a type nothing serves); no endpoint at all: **sanction**;
    * on chain and served but not in fleet.yml's services of this supplier: warning;
    * in fleet.yml and not on chain (a stake update that wiped services, poktroll #1687): warning
      (the supplier is never in that service's sessions).

The operator account exists with a public key
    ``GET /cosmos/auth/v1beta1/accounts/{address}`` (Cosmos SDK auth,
    ``x/auth/keeper/grpc_query.go`` ``Account``; poktroll-openapi.yml does not list it): ``account`` is a ``BaseAccount`` (or wraps one:
    ``base_account``, ``base_vesting_account.base_account``); ``pub_key`` is null until the
    account signs its first transaction. poktroll's supplier cheat sheet (``docusaurus/docs/
    1_operate/1_cheat_sheets/4_supplier_cheatsheet.md``, "Suppliers staked on behalf of
    owners"): "Suppliers WITHOUT onchain public keys for their operators CANNOT sign Relay
    Responses and will be sanctioned by PATH" (gateways verify a relay response's signature with
    the operator's on-chain key). So for a staked supplier a missing account or a missing
    public key is a **sanction**; for one not staked yet it is expected: ``stake --batch`` has
    the operator sign the stake (its services need the operator's signature), which sets the
    key; its account must exist, though, holding the stake and the fee (warning otherwise). A key
    that is not secp256k1 (the type a RelayMiner signs with) is a warning.

The operator balance covers the fees (bank balance of upokt)
    The RelayMiner pays for each session's claim (``MsgCreateClaim``, one transaction per
    supplier and session end height: it batches the session's claims, ``pkg/relayer/session/
    claim.go``) and, when required, its proof (``MsgSubmitProof``, batched likewise). Upper bound
    per day: ``2 × sessions per day × fee per transaction`` with sessions per day
    ``86400 / (num_blocks_per_session × block time)`` (shared params; block time 30 s, as
    ``fleetctl scale`` assumes) and the fee per transaction ``--fee-per-tx`` (default 300,000
    upokt = 0.3 POKT: 200,000 gas, the Cosmos SDK default gas limit, at 1 upokt per gas with
    the 1.5 adjustment poktroll's operator guides use, ``--gas=auto --gas-prices=1upokt
    --gas-adjustment=1.5``; at the network's minimum price of 0.000001 upokt a transaction
    costs 1 upokt, so this is an upper bound). Below one transaction's fee: **sanction** for a
    staked supplier (no claim or required proof can be paid: rewards lost, the chain slashes
    ``proof_missing_penalty`` per missed proof); below one day's bound: warning. For a supplier
    still to stake: below its stake plus one fee, warning (the stake transaction would fail).

The RelayMiner's node URLs answer
    ``pocket_node.query_node_rpc_url`` and ``tx_node_rpc_url`` (``tcp://`` read as ``http://``,
    as the template writes them; ``query_node_grpc_url`` is not checked): CometBFT ``GET /status``
    (without ``pocket.node_rpc_url`` the plan writes each host's own 127.0.0.1:26657, which cannot
    be reached from here: UNKNOWN); no answer or not a CometBFT status:
    **sanction** (a RelayMiner without its node cannot check sessions nor submit claims);
    ``catching_up``: warning. Checked from where fleetctl runs, which is where ``fleetctl
    health`` checks them from too.

Each service's backend answers through its balancer
    ``POST backend_url`` ``eth_blockNumber`` (JSON-RPC 2.0) within ``--timeout``: no answer, an
    HTTP or JSON-RPC error, or a result that is not a QUANTITY: **sanction** (every relay of the
    service would fail the same way).

Output: one :class:`Problem` per problem, naming the supplier(s), the service and the field.
Exit code (:attr:`PreflightReport.exit_code`): 0 nothing found, 1 warnings or something could
not be checked (a chain value unreadable is UNKNOWN, never OK), 2 anything that would be
sanctioned. Every value from the chain or an endpoint is hostile: parsed with the checked
helpers of :mod:`fleetctl.pocket.base` (type and range) and :mod:`fleetctl.health.values`; a
bad one makes that one check UNKNOWN. URLs are shown through :func:`fleetctl.core.redact.safe_url`
and every reason is scrubbed of the configured URLs' secrets.

The read-back after a stake transaction (:func:`compare_sent`) uses the same parser: the
supplier as the chain stores it against the services, endpoints and stake that were sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from urllib.parse import quote, urlsplit

from fleetctl.core.levels import Level

from fleetctl.pocket.base import field as member, parse_height, parse_int, settle
from fleetctl.pocket.http import QueryError
from fleetctl.core.redact import has_secret, safe_url, scrub
from fleetctl.spec.model import Fleet, Supplier, format_upokt

__all__ = [
    "DEFAULT_FEE_PER_TX_UPOKT",
    "DEFAULT_TIMEOUT_S",
    "EXPECTED_RPC_TYPE",
    "Account",
    "BadInput",
    "ChainSupplier",
    "Endpoint",
    "Expected",
    "PreflightReport",
    "Problem",
    "Sent",
    "check_supplier",
    "compare_sent",
    "expected_config",
    "expected_config_without_plan",
    "fee_per_day",
    "parse_account",
    "parse_fee",
    "parse_supplier",
    "preflight",
    "relayminer_url",
    "run_preflight",
]

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONCURRENCY = 64
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


class BadInput(Exception):
    """A usage mistake found while preparing the checks (an unknown --only name)."""


@dataclass(frozen=True)
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


@dataclass
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


@dataclass(frozen=True)
class Endpoint:
    url: str
    rpc_type: str


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    key = base.get("pub_key")
    if key is None:
        return Account(found, None)
    if not isinstance(key, dict):
        raise QueryError(f"{what}.account.pub_key: expected an object or null")
    kind = _text(member(key, "@type", where=f"{what}.account.pub_key"), f"{what}.account.pub_key.@type")
    if kind == SECP256K1:
        raw = member(key, "key", where=f"{what}.account.pub_key")
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
    from fleetctl.spec.loader import parse_amount as parse_text_amount

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


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def relayminer_url(fleet: Fleet, host: str) -> str:
    """The URL a supplier served on ``host`` publishes on chain: its RelayMiner's listener
    (``listen_url`` of the template: ``http://<host address>:8500``), IPv6 in brackets."""
    from fleetctl.plan.model import RELAYMINER_PORT

    return f"http://{_url_host(fleet.hosts[host].address)}:{RELAYMINER_PORT}"


@dataclass(frozen=True)
class Expected:
    """What fleetctl's plan makes a supplier's RelayMiner serve."""

    supplier: Supplier
    host: str
    endpoint_url: str
    #: service id -> backend_url of the RelayMiner config on the host (through its balancer)
    served: Mapping[str, str]
    #: pocket_node key -> URL (query_node_rpc_url, tx_node_rpc_url)
    node_urls: Mapping[str, str]


def expected_config(fleet: Fleet) -> dict[str, Expected]:
    """Supplier name -> what its host's RelayMiner serves, from the plan (no I/O).
    Raises :class:`fleetctl.plan.model.Infeasible` when the plan cannot be made."""
    from fleetctl.plan.placement import plan_placement
    from fleetctl.plan.vars import host_vars

    placement = plan_placement(fleet, {})
    variables, _ = host_vars(fleet, placement)
    by_name = {s.name: s for s in fleet.suppliers}
    found: dict[str, Expected] = {}
    for sp in placement.suppliers:
        rm = variables.get(sp.host, {}).get("fleet_relayminer")
        supplier = by_name.get(sp.supplier)
        if not rm or supplier is None:
            continue
        served = {str(s["service_id"]): str(s["backend_url"]) for s in rm.get("suppliers") or []}
        nodes = {k: str(rm["pocket_node"][k]) for k in ("query_node_rpc_url", "tx_node_rpc_url")}
        found[sp.supplier] = Expected(supplier, sp.host, relayminer_url(fleet, sp.host), served, nodes)
    return found


def expected_config_without_plan(fleet: Fleet) -> dict[str, Expected]:
    """:func:`expected_config` for a fleet whose plan is infeasible (its nodes cannot be placed):
    the RelayMiner part only, as :func:`fleetctl.plan.vars.host_vars` writes it: the suppliers
    placed as the planner places them, each host serving its suppliers' chains through its
    balancer on ``BALANCER_PORT_BASE`` + the chain's index in fleet.yml."""
    from fleetctl.plan.model import BALANCER_PORT_BASE
    from fleetctl.plan.placement import _place_suppliers

    port = {cid: BALANCER_PORT_BASE + i for i, cid in enumerate(fleet.chains)}
    placements = _place_suppliers(fleet, {}, [])
    on_host: dict[str, set[str]] = {}
    for sp in placements:
        on_host.setdefault(sp.host, set()).update(s for s in sp.services if s in port)
    nodes = {k: fleet.pocket.node_rpc_url or "tcp://127.0.0.1:26657" for k in ("query_node_rpc_url", "tx_node_rpc_url")}
    by_name = {s.name: s for s in fleet.suppliers}
    found = {}
    for sp in placements:
        addr = fleet.hosts[sp.host].address
        served = {s: f"http://{_url_host(addr)}:{port[s]}" for s in sorted(on_host[sp.host])}
        found[sp.supplier] = Expected(by_name[sp.supplier], sp.host, relayminer_url(fleet, sp.host), served, nodes)
    return found


def _norm_url(url: str) -> str:
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
    want = _norm_url(expected.endpoint_url)
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
            if _norm_url(ep.url) != want:
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


@dataclass(frozen=True)
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
        if [(_norm_url(e.url), e.rpc_type) for e in got] != [(_norm_url(e.url), e.rpc_type) for e in want]:
            shown = ", ".join(f"{safe_url(e.url)} {e.rpc_type}" for e in got) or "none"
            differences.append(f"{service} endpoints: sent {safe_url(sent.endpoint_url)} {sent.rpc_type}, "
                               f"on chain {shown}")
    return differences


# ----------------------------------------------------------------------------- reading


class _Probe:
    """One HTTP pool for every RelayMiner node and balancer; a bounded number in flight."""

    def __init__(self, concurrency: int, timeout: float) -> None:
        from fleetctl.core.httpclient import HttpPool

        self.pool = HttpPool(headers={"Accept": "application/json"}, max_body=1024 * 1024)
        self.semaphore = asyncio.Semaphore(concurrency)
        self.timeout = timeout

    async def json(self, method: str, url: str, body: Any = None) -> Any:
        from fleetctl.core.httpclient import HttpError

        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else None
        async with self.semaphore:
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self.pool.request(method, url, body=data, headers=headers, idempotent=True)
            except TimeoutError:
                raise QueryError(f"no answer within {self.timeout:g} s") from None
            except HttpError as exc:
                raise QueryError(str(exc)) from None
        if response.status != 200:
            raise QueryError(f"HTTP {response.status}")
        try:
            return json.loads(response.body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise QueryError(f"answered a body that is not JSON ({len(response.body)} bytes)") from None


async def _node_status(probe: _Probe, url: str) -> tuple[int, bool]:
    from fleetctl.health.services import comet_url, parse_comet_status, with_path
    from fleetctl.health.values import BadValue

    body = await probe.json("GET", with_path(comet_url(url), "/status"))
    try:
        return parse_comet_status(body)
    except BadValue as exc:
        raise QueryError(f"not a CometBFT status: {exc}") from None


async def _block_number(probe: _Probe, url: str) -> int:
    from fleetctl.health.values import BadValue, hex_quantity, one_line

    body = await probe.json("POST", url, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    if not isinstance(body, dict):
        raise QueryError("not a JSON-RPC response object")
    if body.get("error") is not None:
        error = body["error"]
        text = error.get("message") if isinstance(error, dict) else error
        raise QueryError(f"JSON-RPC error: {one_line(text, 80)}")
    try:
        return hex_quantity(body.get("result"), "result")
    except BadValue as exc:
        raise QueryError(f"eth_blockNumber {exc}") from None


async def _hydrated_supplier(client: Any, address: str, height: int) -> ChainSupplier | None:
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


async def _account(client: Any, address: str) -> Account | None:
    route = f"/cosmos/auth/v1beta1/accounts/{quote(address, safe='')}"
    try:
        reply = await client.get(route)
    except QueryError as exc:
        if exc.status == 404 and isinstance(exc.body, dict) and exc.body.get("code") == _GRPC_NOT_FOUND:
            return None
        raise
    return parse_account(reply, address, route)


async def _blocks_per_session(client: Any) -> int:
    route = f"{_PREFIX}/shared/params"
    reply = await client.get(route)
    return parse_height(member(reply, "params", "num_blocks_per_session", where=route),
                        f"{route} params.num_blocks_per_session", minimum=1)


def _group(values: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, name in values:
        grouped.setdefault(key, []).append(name)
    return grouped


async def preflight(fleet: Fleet, *, only: Sequence[str] = (), new: Mapping[str, int] | None = None,
                    timeout: float = DEFAULT_TIMEOUT_S, concurrency: int = DEFAULT_CONCURRENCY,
                    fee_per_tx: int = DEFAULT_FEE_PER_TX_UPOKT) -> PreflightReport:
    """Check the suppliers named in ``only`` (default: every one with an operator address).

    ``new`` maps operator addresses about to be staked to their stake (``stake --batch``): the
    chain is not asked about their services (what is sent is checked against the RelayMiner
    instead), a missing public key is expected, and the balance must cover the stake."""
    secrets = [u for u in (fleet.pocket.rest_url, fleet.pocket.node_rpc_url) if u and has_secret(u)]
    report = PreflightReport(protocol=fleet.protocol, chain_url=safe_url(fleet.pocket.rest_url or ""),
                             checked_at=datetime.now(UTC).isoformat(timespec="seconds"), fee_per_tx_upokt=fee_per_tx)
    try:
        await _run(fleet, report, only, dict(new or {}), timeout, concurrency, fee_per_tx)
    except BadInput as exc:
        report.message = str(exc)
    except Exception as exc:  # noqa: BLE001 - preflight always ends with a report
        report.message = f"internal error ({type(exc).__name__}: {exc})"
    clean = [Problem(p.level, p.field, scrub(p.message, secrets, sink_style=False, limit=400), p.suppliers,
                     p.service, p.host) for p in report.problems]
    order = {Level.CRITICAL: 0, Level.UNKNOWN: 1, Level.WARNING: 2, Level.OK: 3}
    report.problems = sorted(clean, key=lambda p: (order[p.level], p.suppliers, p.service or "", p.field))
    if report.message:
        report.message = scrub(report.message, secrets, sink_style=False, limit=400)
    return report


async def _run(fleet: Fleet, report: PreflightReport, only: Sequence[str], new: dict[str, int],
               timeout: float, concurrency: int, fee_per_tx: int) -> None:
    from fleetctl.plan.model import Infeasible
    from fleetctl.pocket.stakes import adapter_for

    if fleet.protocol != "shannon":
        report.message = "Shannon only: a Morse node has no RelayMiner and no supplier services"
        return
    if not fleet.pocket.rest_url:
        report.message = "fleet.yml pocket.rest_url is not set: the chain cannot be read"
        return
    by_name = {s.name: s for s in fleet.suppliers}
    for name in only:
        if name not in by_name:
            raise BadInput(f"--only: no supplier named {name!r} in fleet.yml")
    wanted = set(only)
    targets = [s for s in fleet.suppliers if s.operator_address and (not wanted or s.name in wanted)]
    report.suppliers = [s.name for s in targets]
    planned = sum(1 for s in fleet.suppliers if s.planned and (not wanted or s.name in wanted))
    if planned:
        report.notes.append(f"{planned} planned supplier(s) without an operator address not checked")
    try:
        expected = expected_config(fleet)
    except Infeasible as exc:
        expected = expected_config_without_plan(fleet)
        report.notes.append(f"the plan is infeasible ({'; '.join(exc.reasons)[:200]}): the RelayMiner config "
                            "is taken as fleetctl writes it for the suppliers and chains alone")
    for s in targets:
        if s.name not in expected:
            report.problems.append(Problem(Level.CRITICAL, "host", "no RelayMiner serves it: the plan puts it on no "
                                           "host with a RelayMiner", (s.name,), None))

    probe = _Probe(concurrency, timeout)
    adapter = adapter_for(fleet, timeout=timeout, concurrency=concurrency, deadline=timeout * 4)
    try:
        async with adapter:
            client = adapter.client
            height, blocks = await asyncio.gather(settle(adapter.height()), settle(_blocks_per_session(client)))
            if isinstance(height, QueryError):
                report.message = f"cannot read the chain at {adapter.url}: {height}"
                height = None
            else:
                report.height = height
            if isinstance(blocks, QueryError):
                report.problems.append(Problem(Level.UNKNOWN, "fees", f"no fee estimate per day: {blocks}"))
                blocks = None
            else:
                report.fee_per_day_upokt = fee_per_day(fee_per_tx, blocks)
            here = [s for s in targets if s.name in expected]
            hosts = sorted({expected[s.name].host for s in here})
            nodes = _group((url, expected[s.name].host) for s in here for url in expected[s.name].node_urls.values())
            backends = _group((expected[s.name].served[svc], f"{expected[s.name].host}\0{svc}")
                              for s in here for svc in expected[s.name].served)
            if not fleet.pocket.node_rpc_url:
                # The plan then writes tcp://127.0.0.1:26657: each host's own node, not reachable from here.
                nodes = {}
                if here:
                    report.problems.append(Problem(Level.UNKNOWN, "pocket_node", (
                        "fleet.yml pocket.node_rpc_url is not set: each RelayMiner uses 127.0.0.1:26657 on its "
                        "host, which cannot be checked from here"), tuple(s.name for s in here)))
            jobs = [_check_node(probe, url, sorted(set(on)), here, expected, report) for url, on in nodes.items()]
            jobs += [_check_backend(probe, url, sorted(set(on)), here, expected, report) for url, on in backends.items()]
            if height is not None:
                jobs += [_check_chain(client, adapter, s, expected.get(s.name), new, height, fee_per_tx, report)
                         for s in targets]
            await asyncio.gather(*jobs)
            if not hosts:
                report.notes.append("no RelayMiner in the plan")
    finally:
        await probe.pool.close()


def _suppliers_on(host: str, suppliers: Sequence[Supplier], expected: Mapping[str, Expected],
                  service: str | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in suppliers if expected[s.name].host == host
                 and (service is None or service in expected[s.name].served))


async def _check_node(probe: _Probe, url: str, hosts: list[str], suppliers: Sequence[Supplier],
                      expected: Mapping[str, Expected], report: PreflightReport) -> None:
    keys = sorted({k for s in suppliers for k, u in expected[s.name].node_urls.items() if u == url})
    what = f"pocket_node.{'/'.join(keys)}"
    result = await settle(_node_status(probe, url))
    for host in hosts:
        who = _suppliers_on(host, suppliers, expected)
        if isinstance(result, QueryError):
            report.problems.append(Problem(Level.CRITICAL, what, (
                f"{safe_url(url)} /status: {result}: the RelayMiner cannot read sessions nor submit claims"),
                who, None, host))
        elif result[1]:
            report.problems.append(Problem(Level.WARNING, what, f"{safe_url(url)} is catching up (height "
                                           f"{result[0]:,}): sessions and claims lag", who, None, host))


async def _check_backend(probe: _Probe, url: str, on: list[str], suppliers: Sequence[Supplier],
                         expected: Mapping[str, Expected], report: PreflightReport) -> None:
    result = await settle(_block_number(probe, url))
    if not isinstance(result, QueryError):
        return
    for key in on:
        host, service = key.split("\0", 1)
        report.problems.append(Problem(Level.CRITICAL, "backend", (
            f"eth_blockNumber through the balancer {safe_url(url)}: {result}: every relay of the service "
            "would fail"), _suppliers_on(host, suppliers, expected, service), service, host))


async def _check_chain(client: Any, adapter: Any, supplier: Supplier, expected: Expected | None,
                       new: Mapping[str, int], height: int, fee_per_tx: int, report: PreflightReport) -> None:
    assert supplier.operator_address is not None
    address, who = supplier.operator_address, (supplier.name,)
    host = expected.host if expected else None
    state, account, balance = await asyncio.gather(
        settle(_hydrated_supplier(client, address, height)) if address not in new else _none(),
        settle(_account(client, address)), settle(adapter.balance(address)))
    problems = report.problems
    staking = address in new or state is None
    if isinstance(state, QueryError):
        problems.append(Problem(Level.UNKNOWN, "supplier", f"unreadable: {state}", who, None, host))
        staking = False
    elif state is not None and expected is not None:
        problems.extend(check_supplier(expected, state))
    elif address in new and expected is not None:
        for service in supplier.services:
            if service not in expected.served:
                problems.append(Problem(Level.CRITICAL, "services", (
                    f"would be staked for it, but the RelayMiner on {expected.host} does not serve it "
                    "(no balancer for it on that host): gateways would sanction it for good"), who, service, host))
    elif state is None:
        report.notes.append(f"{supplier.name}: not staked: its services on chain were not compared")

    if isinstance(account, QueryError):
        problems.append(Problem(Level.UNKNOWN, "account", f"operator account unreadable: {account}", who, None, host))
    elif account is None:
        if staking:
            problems.append(Problem(Level.WARNING, "account", (
                f"operator account {address} does not exist on chain: fund it with the stake and fees "
                "before staking (the stake transaction fails without it)"), who, None, host))
        else:
            problems.append(Problem(Level.CRITICAL, "account", (
                f"operator account {address} does not exist on chain: no public key to verify its relay "
                "responses with (PATH sanctions it) and nothing to pay claim fees with"), who, None, host))
    elif account.pub_key_type is None and not staking:
        problems.append(Problem(Level.CRITICAL, "account.pub_key", (
            f"operator account {address} has no public key on chain (it never signed a transaction): "
            "gateways cannot verify its relay responses and PATH sanctions it; send any transaction "
            "--from the operator (e.g. 1upokt to yourself)"), who, None, host))
    elif account.pub_key_type is not None and account.pub_key_type != SECP256K1:
        problems.append(Problem(Level.WARNING, "account.pub_key", (
            f"public key of type {account.pub_key_type[:60]}, not {SECP256K1}: not a key a RelayMiner "
            "signs with"), who, None, host))

    day = report.fee_per_day_upokt
    if isinstance(balance, QueryError):
        problems.append(Problem(Level.UNKNOWN, "balance", f"operator balance unreadable: {balance}", who, None, host))
    elif staking:
        stake = new.get(address)
        if stake is not None and balance < stake + fee_per_tx:
            problems.append(Problem(Level.WARNING, "balance", (
                f"operator balance {format_upokt(balance)} is below the stake {format_upokt(stake)} plus one "
                f"fee ({format_upokt(fee_per_tx)}): the stake transaction would fail"), who, None, host))
        elif stake is not None and day is not None and balance < stake + day:
            problems.append(Problem(Level.WARNING, "balance", (
                f"operator balance {format_upokt(balance)} leaves less than a day of claim and proof fees "
                f"({format_upokt(day)} at most) after the stake {format_upokt(stake)}"), who, None, host))
    elif balance < fee_per_tx:
        problems.append(Problem(Level.CRITICAL, "balance", (
            f"operator balance {format_upokt(balance)} cannot pay one claim or proof ({format_upokt(fee_per_tx)} "
            "per transaction, --fee-per-tx): rewards are lost and every missed proof is slashed"), who, None, host))
    elif day is not None and balance < day:
        hours = balance * 24 // day
        problems.append(Problem(Level.WARNING, "balance", (
            f"operator balance {format_upokt(balance)} covers about {hours} h of claim and proof fees "
            f"(at most {format_upokt(day)} a day at {format_upokt(fee_per_tx)} per transaction)"), who, None, host))


async def _none() -> None:
    return None


def run_preflight(fleet: Fleet, **kwargs: Any) -> PreflightReport:
    """:func:`preflight` from synchronous code (its own event loop)."""
    box: list[PreflightReport] = []

    async def main() -> None:
        box.append(await preflight(fleet, **kwargs))

    asyncio.run(main())
    return box[0]
