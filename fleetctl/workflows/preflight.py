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
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import field
from functools import partial
from datetime import UTC, datetime
from typing import Any

from fleetctl.core.records import record
from fleetctl.core.events import Cancelled, CancelToken, CheckDone, EventSink, emit
from fleetctl.core.levels import Level
from fleetctl.core.redact import has_secret, safe_url, scrub
from fleetctl.pocket.base import settle
from fleetctl.pocket.http import QueryError
from fleetctl.pocket.preflight import (
    DEFAULT_FEE_PER_TX_UPOKT,
    EXPECTED_RPC_TYPE,
    SECP256K1,
    Account,
    ChainSupplier,
    Endpoint,
    Expected,
    PreflightReport,
    Problem,
    Sent,
    blocks_per_session,
    check_supplier,
    compare_sent,
    fee_per_day,
    hydrated_supplier,
    parse_account,
    parse_fee,
    parse_supplier,
    read_account,
)
from fleetctl.core.units import format_upokt
from fleetctl.spec.model import Fleet, Supplier

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_FEE_PER_TX_UPOKT",
    "DEFAULT_TIMEOUT_S",
    "EXPECTED_RPC_TYPE",
    "JOB",
    "Account",
    "BadInput",
    "ChainSupplier",
    "Endpoint",
    "Expected",
    "PreflightPlan",
    "PreflightReport",
    "Problem",
    "Sent",
    "check_supplier",
    "compare_sent",
    "execute",
    "expected_config",
    "expected_config_without_plan",
    "fee_per_day",
    "parse_account",
    "parse_fee",
    "parse_supplier",
    "prepare",
    "preflight",
    "relayminer_url",
    "run_preflight",
]

JOB = "preflight"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONCURRENCY = 64


class BadInput(Exception):
    """A usage mistake found while preparing the checks (an unknown --only name)."""



# ----------------------------------------------------------------------------- expectations


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def relayminer_url(fleet: Fleet, host: str) -> str:
    """The URL a supplier served on ``host`` publishes on chain: its RelayMiner's listener
    (``listen_url`` of the template: ``http://<host address>:8500``), IPv6 in brackets."""
    from fleetctl.core.layout import RELAYMINER_PORT

    return f"http://{_url_host(fleet.hosts[host].address)}:{RELAYMINER_PORT}"


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
    from fleetctl.core.layout import BALANCER_PORT_BASE
    from fleetctl.plan.placement import place_suppliers

    port = {cid: BALANCER_PORT_BASE + i for i, cid in enumerate(fleet.chains)}
    placements = place_suppliers(fleet, {}, [])
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


def _group(values: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, name in values:
        grouped.setdefault(key, []).append(name)
    return grouped


async def preflight(fleet: Fleet, *, only: Sequence[str] = (), new: Mapping[str, int] | None = None,
                    timeout: float = DEFAULT_TIMEOUT_S, concurrency: int = DEFAULT_CONCURRENCY,
                    fee_per_tx: int = DEFAULT_FEE_PER_TX_UPOKT, on_event: EventSink | None = None,
                    cancel: CancelToken | None = None) -> PreflightReport:
    """Check the suppliers named in ``only`` (default: every one with an operator address).

    ``new`` maps operator addresses about to be staked to their stake (``stake --batch``): the
    chain is not asked about their services (what is sent is checked against the RelayMiner
    instead), a missing public key is expected, and the balance must cover the stake.

    Each check done is a :class:`~fleetctl.core.events.CheckDone` to ``on_event`` (target: the
    node URL, the backend URL or the supplier; its worst problem's level, OK without one). A
    cancelled ``cancel`` stops launching checks, cancels those in flight and raises
    :class:`~fleetctl.core.events.Cancelled`: a cancelled preflight never reports OK."""
    secrets = [u for u in (fleet.pocket.rest_url, fleet.pocket.node_rpc_url) if u and has_secret(u)]
    report = PreflightReport(protocol=fleet.protocol, chain_url=safe_url(fleet.pocket.rest_url or ""),
                             checked_at=datetime.now(UTC).isoformat(timespec="seconds"), fee_per_tx_upokt=fee_per_tx)
    try:
        await _run(fleet, report, only, dict(new or {}), timeout, concurrency, fee_per_tx, on_event, cancel)
    except Cancelled:
        raise
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
               timeout: float, concurrency: int, fee_per_tx: int, on_event: EventSink | None = None,
               cancel: CancelToken | None = None) -> None:
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

    if cancel is not None:
        cancel.raise_if_cancelled(JOB)
    probe = _Probe(concurrency, timeout)
    adapter = adapter_for(fleet, timeout=timeout, concurrency=concurrency, deadline=timeout * 4)
    try:
        async with adapter:
            client = adapter.client
            height_read, blocks_read = await asyncio.gather(settle(adapter.height()),
                                                            settle(blocks_per_session(client)))
            height: int | None = None
            if isinstance(height_read, QueryError):
                report.message = f"cannot read the chain at {adapter.url}: {height_read}"
            else:
                height = report.height = height_read
            if isinstance(blocks_read, QueryError):
                report.problems.append(Problem(Level.UNKNOWN, "fees", f"no fee estimate per day: {blocks_read}"))
            else:
                report.fee_per_day_upokt = fee_per_day(fee_per_tx, blocks_read)
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
            jobs: list[tuple[str, Callable[[Any], Awaitable[None]]]] = [
                (safe_url(url), partial(_check_node, probe, url, sorted(set(on)), here, expected))
                for url, on in nodes.items()]
            jobs += [(safe_url(url), partial(_check_backend, probe, url, sorted(set(on)), here, expected))
                     for url, on in backends.items()]
            if height is not None:
                jobs += [(s.name, partial(_check_chain, client, adapter, s, expected.get(s.name), new, height,
                                          fee_per_tx)) for s in targets]
            await _checks(jobs, report, on_event, cancel)
            if not hosts:
                report.notes.append("no RelayMiner in the plan")
    finally:
        await probe.pool.close()


class _Part:
    """One check's view of the report: its own problems (merged when it ends), the shared notes."""

    __slots__ = ("fee_per_day_upokt", "notes", "problems")

    def __init__(self, report: PreflightReport) -> None:
        self.problems: list[Problem] = []
        self.notes = report.notes
        self.fee_per_day_upokt = report.fee_per_day_upokt


_ORDER = {Level.CRITICAL: 0, Level.UNKNOWN: 1, Level.WARNING: 2, Level.OK: 3}


async def _checks(jobs: Sequence[tuple[str, Callable[[Any], Awaitable[None]]]], report: PreflightReport,
                  on_event: EventSink | None, cancel: CancelToken | None) -> None:
    """Run the checks concurrently (each bounded by the probe's and the client's limits); each
    one's problems join the report when it ends, with a CheckDone event. On cancel: no check is
    started any more, those in flight are cancelled, and Cancelled is raised."""
    skipped: list[str] = []

    async def one(target: str, check: Callable[[Any], Awaitable[None]]) -> None:
        if cancel is not None and cancel.cancelled:
            skipped.append(target)
            return
        part = _Part(report)
        await check(part)
        report.problems.extend(part.problems)
        if on_event is not None:
            level = min((p.level for p in part.problems), key=_ORDER.__getitem__, default=Level.OK)
            summary = part.problems[0].message[:200] if part.problems else ""
            emit(on_event, CheckDone(JOB, target, level, summary))

    tasks = [asyncio.ensure_future(one(target, check)) for target, check in jobs]
    if cancel is None:
        await asyncio.gather(*tasks)
        return
    pending: set[asyncio.Future[None]] = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, timeout=_POLL_S, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a check's own bug ends the run as before (an internal error)
            if cancel.cancelled and pending:
                break
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    if pending or skipped:
        raise Cancelled(f"{JOB}: {cancel.reason} ({len(pending) + len(skipped)} of {len(tasks)} checks not done)")


#: How often a cancellable preflight looks at its token while checks are in flight.
_POLL_S = 0.05


def _suppliers_on(host: str, suppliers: Sequence[Supplier], expected: Mapping[str, Expected],
                  service: str | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in suppliers if expected[s.name].host == host
                 and (service is None or service in expected[s.name].served))


async def _check_node(probe: _Probe, url: str, hosts: list[str], suppliers: Sequence[Supplier],
                      expected: Mapping[str, Expected], report: Any) -> None:
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
                         expected: Mapping[str, Expected], report: Any) -> None:
    result = await settle(_block_number(probe, url))
    if not isinstance(result, QueryError):
        return
    for key in on:
        host, service = key.split("\0", 1)
        report.problems.append(Problem(Level.CRITICAL, "backend", (
            f"eth_blockNumber through the balancer {safe_url(url)}: {result}: every relay of the service "
            "would fail"), _suppliers_on(host, suppliers, expected, service), service, host))


async def _check_chain(client: Any, adapter: Any, supplier: Supplier, expected: Expected | None,
                       new: Mapping[str, int], height: int, fee_per_tx: int, report: Any) -> None:
    assert supplier.operator_address is not None
    address, who = supplier.operator_address, (supplier.name,)
    host = expected.host if expected else None
    state, account, balance = await asyncio.gather(
        settle(hydrated_supplier(client, address, height)) if address not in new else _none(),
        settle(read_account(client, address)), settle(adapter.balance(address)))
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


# ----------------------------------------------------------------------------- the job


@record(frozen=True)
class PreflightPlan:
    """What :func:`execute` will read (no I/O to know it): the suppliers, and where each
    RelayMiner's node URLs and backends are probed."""

    suppliers: tuple[str, ...]
    hosts: tuple[str, ...]
    node_urls: tuple[str, ...]
    backends: tuple[str, ...]
    notes: tuple[str, ...] = ()
    message: str | None = None
    checks: int = field(default=0)


def prepare(fleet: Fleet, *, only: Sequence[str] = ()) -> PreflightPlan:
    """What a preflight of ``only`` (default: every supplier with an operator address) checks;
    side-effect free. A usage mistake (an unknown name) is the plan's ``message``."""
    from fleetctl.plan.model import Infeasible

    if fleet.protocol != "shannon":
        return PreflightPlan((), (), (), (), message="Shannon only: a Morse node has no RelayMiner and no "
                                                     "supplier services")
    by_name = {s.name: s for s in fleet.suppliers}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        return PreflightPlan((), (), (), (), message=f"--only: no supplier named {unknown[0]!r} in fleet.yml")
    wanted = set(only)
    targets = [s for s in fleet.suppliers if s.operator_address and (not wanted or s.name in wanted)]
    notes = []
    try:
        expected = expected_config(fleet)
    except Infeasible:
        expected = expected_config_without_plan(fleet)
        notes.append("the plan is infeasible: the RelayMiner config is taken as fleetctl writes it")
    here = [s for s in targets if s.name in expected]
    nodes = sorted({safe_url(u) for s in here for u in expected[s.name].node_urls.values()}) \
        if fleet.pocket.node_rpc_url else []
    backends = sorted({safe_url(u) for s in here for u in expected[s.name].served.values()})
    return PreflightPlan(tuple(s.name for s in targets), tuple(sorted({expected[s.name].host for s in here})),
                         tuple(nodes), tuple(backends), tuple(notes),
                         checks=len(targets) + len(nodes) + len(backends))


def execute(fleet: Fleet, *, only: Sequence[str] = (), new: Mapping[str, int] | None = None,
            timeout: float = DEFAULT_TIMEOUT_S, concurrency: int = DEFAULT_CONCURRENCY,
            fee_per_tx: int = DEFAULT_FEE_PER_TX_UPOKT, on_event: EventSink | None = None,
            cancel: CancelToken | None = None) -> PreflightReport:
    """:func:`preflight` from synchronous code: the report (exit code 0/1/2), CheckDone events,
    :class:`~fleetctl.core.events.Cancelled` when cancelled."""
    return run_preflight(fleet, only=only, new=new, timeout=timeout, concurrency=concurrency,
                         fee_per_tx=fee_per_tx, on_event=on_event, cancel=cancel)
