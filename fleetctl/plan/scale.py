"""``fleetctl scale``: how many identities to add to win more sessions, what that costs and
earns, and adding them.

What the chain says (:func:`read_service`): N, the identities eligible for the service (Shannon:
suppliers with an active config for it; Morse: staked nodes for its relay chain id); K, the
identities per session (``num_suppliers_per_session`` / ``SessionNodeCount``); the session
length in blocks; how many applications are staked for the service (each has one session per
session period); the minimum stake and the reward parameters. The odds and the what-if table
come from :mod:`fleetctl.pocket.sessions`. Every figure the chain gives can be overridden.

Only the figures per day (sessions, relays, rewards) need the applications' count; when the
chain does not list the applications and ``--apps`` is not given, the what-if still shows the
rest (N, the share of sessions, ours per session, rewards per session, the stake to lock, the
marginal share; a target by share, count or budget), leaves the per-day figures out (null in
JSON, ``missing`` says why and how to give them) with a one-line note on stderr, and exits 0:
the what-if asked for is there. ``--apply`` refuses instead (exit 2): its capacity check needs
the relays per day.

``--apply`` (:func:`plan_new_identities` and :func:`check_capacity` here; making the keys and
rewriting fleet.yml are the scale workflow's, :mod:`fleetctl.workflows.scale`):

1. the new identities are placed on the hosts that serve the service (their RelayMiner signs
   for them), the least loaded first, and refused when the service's backends could not carry
   the relays the new share brings (each full node's relay capacity is a profile value,
   ``profiles: {geth: {full: {relays_per_s: N}}}``, default :data:`DEFAULT_RELAYS_PER_S`);
2. their keys are made by the operator's own keyring on the host: ``pocketd keys add NAME
   --no-backup`` in the RelayMiner's image, on its keyring volume (Morse: ``pocket accounts``
   is not automated); an identity whose key already exists (a re-run after a failure) is read
   back with ``keys show``, never made twice. No private key or mnemonic ever leaves the host;
3. the inventory gains one explicit supplier per identity (fleet.yml rewritten atomically, the
   previous version kept as ``fleet.yml.bak-<time>``, the result validated before it replaces
   the original);
4. the provisioning path applies it (the RelayMiner's config signs for the new keys); staking
   is ``fleetctl stake --batch``.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any, Literal

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError, UserError
from fleetctl.spec.model import Fleet, Supplier

__all__ = [
    "DEFAULT_BLOCK_TIME_S",
    "DEFAULT_RELAYS_PER_S",
    "NewIdentity",
    "ServiceView",
    "plan_new_identities",
    "read_service",
]

#: The what-if's per-day figures: they scale with the applications staked for the service, so
#: they are left out (null) when the chain does not list them and ``--apps`` is not given.
PER_DAY_FIELDS = ("sessions_per_day", "slots_per_day", "relays_per_day", "rewards_upokt_per_day",
                  "marginal_rewards_upokt_per_day")
#: Seconds per block when the operator does not say: Shannon ~30 s (poktroll docs), Morse ~15 min.
DEFAULT_BLOCK_TIME_S = {"shannon": 30.0, "morse": 900.0}
#: Relays per second one full node serves when its profile does not say (a conservative figure
#: for an Ethereum full node answering typical read calls; operators set their own).
DEFAULT_RELAYS_PER_S = 100.0
#: Bounds on what the chain reports for a service (values from outside are hostile input):
#: suppliers per session (mainnet 15, Morse 24), staked applications.
MAX_SESSION_SIZE = 1_000
MAX_APPS = 10_000_000
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@record(frozen=True)
class ServiceView:
    """One service as the chain and the inventory see it."""

    protocol: Literal["shannon", "morse"]
    service: str  # the service id (Shannon) or the chain's name in fleet.yml (Morse)
    chain_id: str  # the id on chain: the service id, or the Morse relay chain id
    eligible: int  # N: identities eligible for the service on chain
    ours_on_chain: int  # ours among them
    ours: int  # ours in the inventory with an address (staked or about to be)
    per_session: int  # K
    blocks_per_session: int
    apps: int | None  # applications staked for the service (None: unknown)
    min_stake_upokt: int | None
    upokt_per_relay: Any  # a Fraction (None: unknown)
    height: int | None
    notes: tuple[str, ...] = ()

    @property
    def current(self) -> int:
        return self.ours

    @property
    def n_with_ours(self) -> int:
        """N once our inventory's identities are all staked."""
        return self.eligible + (self.ours - self.ours_on_chain)

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "service": self.service, "chain_id": self.chain_id,
                "eligible_on_chain": self.eligible, "ours_on_chain": self.ours_on_chain, "ours": self.ours,
                "K": self.per_session, "blocks_per_session": self.blocks_per_session, "apps": self.apps,
                "min_stake_upokt": self.min_stake_upokt,
                "upokt_per_relay": None if self.upokt_per_relay is None else str(self.upokt_per_relay),
                "height": self.height, "notes": list(self.notes)}


def _ours(fleet: Fleet, service: str) -> list[Supplier]:
    return [s for s in fleet.suppliers if service in s.services and s.operator_address]


async def read_service(fleet: Fleet, service: str, *, timeout: float = 5.0) -> ServiceView:
    """N, K and the rest for ``service`` from the fleet's Pocket URL. Raises FleetError with
    one line when the chain cannot be read."""
    from fleetctl.pocket.http import QueryError
    from fleetctl.pocket.stakes import adapter_for

    if service not in fleet.chains:
        raise UserError(f"--service: no chain {service!r} in fleet.yml (chains: {', '.join(fleet.chains)})")
    chain = fleet.chains[service]
    adapter = adapter_for(fleet, timeout=timeout, concurrency=16, deadline=4 * timeout)
    ours = _ours(fleet, service)
    mine = {s.operator_address for s in ours}
    try:
        async with adapter:
            if fleet.protocol == "shannon":
                return await _read_shannon(adapter, service, ours, mine)
            if not chain.morse_chain_id:
                raise UserError(f"chains.{service}.morse_chain_id is needed with protocol morse")
            return await _read_morse(adapter, service, chain.morse_chain_id, ours, mine)
    except QueryError as exc:
        raise FleetError(f"scale: cannot read the chain at {adapter.url}: {exc}") from None


async def _read_shannon(adapter: Any, service: str, ours: list[Supplier], mine: set[str | None]) -> ServiceView:
    import asyncio

    from fleetctl.pocket.base import field, parse_amount, parse_int
    from fleetctl.pocket.http import QueryError

    client = adapter.client
    prefix = "/pokt-network/poktroll"
    suppliers, session, shared, supplier_params, height = await asyncio.gather(
        adapter.suppliers_for_service(service),
        client.get(f"{prefix}/session/params"), client.get(f"{prefix}/shared/params"),
        client.get(f"{prefix}/supplier/params"), adapter.height())
    notes: list[str] = []
    k = parse_int(field(session, "params", "num_suppliers_per_session", where="session params"),
                  "num_suppliers_per_session", minimum=1, maximum=MAX_SESSION_SIZE)
    shared_p = field(shared, "params", where="shared params")
    blocks = parse_int(field(shared_p, "num_blocks_per_session", where="shared params"),
                       "num_blocks_per_session", minimum=1)
    # A minimum of 0 is no minimum: no chain runs so, and every stake would look safe.
    min_stake = parse_amount(field(supplier_params, "params", "min_stake", "amount", where="supplier params"),
                             "supplier params min_stake.amount", minimum=1)
    # Rewards: the supplier's share of a relay's settlement through both token logic modules
    # (fleetctl.pocket.sessions.ShannonRewardParams reads them as the chain does).
    upokt_per_relay = None
    try:
        from fleetctl.pocket.sessions import ShannonRewardParams

        tokenomics = await client.get(f"{prefix}/tokenomics/params")
        cupr = 1
        try:
            svc = await client.get(f"{prefix}/service/service/{service}")
            cupr = parse_int(field(svc, "service", "compute_units_per_relay", where="service"), "cupr", minimum=1)
        except QueryError:
            notes.append(f"compute_units_per_relay of {service} not readable: 1 assumed")
        rewards = ShannonRewardParams.from_params(shared_p, field(tokenomics, "params", where="tokenomics params"),
                                                  compute_units_per_relay=cupr)
        upokt_per_relay = rewards.upokt_per_relay()
    except (QueryError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        notes.append(f"reward parameters not readable ({str(exc)[:200]}): rewards unknown unless --upokt-per-relay")
    apps = None
    try:
        apps = await _count_apps(client, prefix, service)
    except QueryError as exc:
        notes.append(f"applications not readable ({exc}): pass --apps")
    on_chain = {s.address for s in suppliers}
    return ServiceView("shannon", service, service, len(on_chain), len(on_chain & mine), len(ours), k, blocks,
                       apps, min_stake, upokt_per_relay, height, tuple(notes))


async def _count_apps(client: Any, prefix: str, service: str) -> int:
    """Applications staked for ``service`` (every page of the application list)."""
    from fleetctl.pocket.base import MAX_PAGES
    from fleetctl.pocket.http import QueryError

    count, key, seen = 0, None, set()
    for _ in range(MAX_PAGES):
        params = {"pagination.limit": "1000"}
        if key:
            params["pagination.key"] = key
        reply = await client.get(f"{prefix}/application/application", params)
        apps = reply.get("applications") if isinstance(reply, dict) else None
        if not isinstance(apps, list):
            raise QueryError("application list: no applications field")
        for app in apps:
            configs = app.get("service_configs") if isinstance(app, dict) else None
            if any(isinstance(c, dict) and c.get("service_id") == service for c in configs or []):
                count += 1
        pagination = reply.get("pagination")
        key = pagination.get("next_key") if isinstance(pagination, dict) else None
        if not key:
            return count
        if not isinstance(key, str) or len(key) > 1024:
            raise QueryError("application list: pagination.next_key is not a page key")
        if key in seen:
            return count
        seen.add(key)
    raise QueryError(f"application list: more than {MAX_PAGES} pages")


async def _read_morse(adapter: Any, service: str, relay_chain: str, ours: list[Supplier],
                      mine: set[str | None]) -> ServiceView:
    import asyncio

    from fleetctl.pocket.base import parse_amount, parse_int
    from fleetctl.pocket.http import QueryError

    nodes, params, height = await asyncio.gather(
        adapter.suppliers_for_service(relay_chain), adapter.client.post("/v1/query/allparams", {"height": 0}),
        adapter.height())
    values: dict[str, Any] = {}
    for group in ("node_params", "app_params", "pocket_params"):
        for item in (params.get(group) or []) if isinstance(params, dict) else []:
            if isinstance(item, dict):
                values[str(item.get("param_key"))] = item.get("param_value")
    notes: list[str] = []

    def number(key: str, default: int | None, minimum: int = 0) -> int | None:
        # allparams gives every value as a string, some JSON-quoted ("\"10000\"").
        raw = values.get(key)
        try:
            if not isinstance(raw, str | int) or isinstance(raw, bool):
                raise QueryError(f"/v1/query/allparams {key}: missing or not a number")
            text = raw.strip('"') if isinstance(raw, str) else raw
            return parse_amount(text, f"/v1/query/allparams {key}", minimum=minimum)
        except QueryError as exc:
            notes.append(f"{exc}" + (f": {default} assumed" if default is not None else ""))
            return default

    k = min(number("pocketcore/SessionNodeCount", 5, minimum=1) or 5, MAX_SESSION_SIZE)
    blocks = number("pos/BlocksPerSession", 4, minimum=1) or 4
    min_stake = number("pos/StakeMinimum", None, minimum=1)
    from fleetctl.pocket.sessions import MorseRewardParams, parse_rttm_map

    multiplier = number("pos/RelaysToTokensMultiplier", 10_000)
    dao = number("pos/DAOAllocation", 10)
    proposer = number("pos/ProposerPercentage", 1)
    # The per-chain map (pocket-core reward.go GetChainSpecificMultiplier l. 216-224): raw store
    # JSON in allparams ("" or absent when unset); a bad one is a note and the default is used.
    try:
        rttm_map = parse_rttm_map(values.get("pos/RelaysToTokensMultiplierMap"))
    except ValueError as exc:
        notes.append(f"/v1/query/allparams pos/RelaysToTokensMultiplierMap: {exc}: pos/RelaysToTokensMultiplier used")
        rttm_map = {}
    upokt_per_relay = None if multiplier is None else MorseRewardParams(
        relays_to_tokens_multiplier=multiplier, dao_allocation=dao or 0, proposer_allocation=proposer or 0,
        relays_to_tokens_multiplier_map=rttm_map,
    ).upokt_per_relay(relay_chain)
    apps = None
    try:
        reply = await adapter.client.post("/v1/query/apps", {"height": 0, "opts": {
            "staking_status": 2, "blockchain": relay_chain, "page": 1, "per_page": 1}})
        apps = parse_int(reply.get("total_apps") or 0, "/v1/query/apps total_apps",
                         maximum=MAX_APPS) if isinstance(reply, dict) else None
    except (QueryError, ValueError, TypeError):
        notes.append("applications not readable: pass --apps")
    mine_lower = {a.lower() for a in mine if a}
    on_chain = {s.address.lower() for s in nodes}
    return ServiceView("morse", service, relay_chain, len(on_chain), len(on_chain & mine_lower), len(ours), k,
                       blocks, apps, min_stake, upokt_per_relay, height, tuple(notes))


# ----------------------------------------------------------------------------- new identities


@record(frozen=True)
class NewIdentity:
    name: str
    host: str
    services: tuple[str, ...]
    owner_address: str | None
    operator_address: str | None = None  # once its key exists


def _relays_per_s(fleet: Fleet, client: str, mode: str) -> float:
    return float(fleet.relay_capacity.get((client, mode)) or DEFAULT_RELAYS_PER_S)


def backend_capacity_relays_per_s(fleet: Fleet, service: str) -> float:
    """What the service's full nodes can serve: replicas by client (the plan's split when the
    fleet is planned offline) × each client's relay capacity."""
    from fleetctl.plan.diff import make_plan

    chain = fleet.chains[service]
    plan = make_plan(fleet, offline=True)
    counts = plan.placement.counts.get(service) or {}
    if not counts:
        return chain.replicas * DEFAULT_RELAYS_PER_S
    return sum(n * _relays_per_s(fleet, client, chain.mode) for client, n in counts.items())


def plan_new_identities(fleet: Fleet, service: str, count: int, *, prefix: str | None = None,
                        owner: str | None = None, hosts: list[str] | None = None,
                        names: list[str] | None = None) -> list[NewIdentity]:
    """Names and hosts for ``count`` new identities of ``service`` (least loaded hosts first);
    ``names``: the keyring names to use (keys the operator imported), instead of new ones."""
    if count <= 0:
        return []
    if names is not None:
        if len(names) != count:
            raise UserError(f"--names: {len(names)} names for {count} new identities")
        taken_names = {s.name for s in fleet.suppliers}
        for n in names:
            if not KEY_NAME.match(n):
                raise UserError(f"--names: {n!r} is not a key name (letters, digits, '.', '-', '_')")
            if n in taken_names:
                raise UserError(f"--names: {n!r} is already a supplier in fleet.yml")
    ours = [s for s in fleet.suppliers if service in s.services]
    owners = {s.owner_address for s in ours if s.owner_address}
    if owner is None:
        if len(owners) != 1:
            raise UserError("--owner: the new identities need an owner address (the service's suppliers "
                            f"have {len(owners) or 'no'} distinct owners)")
        owner = next(iter(owners))
    candidates = hosts or sorted({s.host for s in ours if s.host} or set(fleet.chains[service].hosts)
                                 or set(fleet.hosts))
    for h in candidates:
        if h not in fleet.hosts:
            raise UserError(f"--host: no host {h!r} in the inventory")
    load = {h: sum(1 for s in fleet.suppliers if s.host == h) for h in candidates}
    prefix = prefix or f"{service}-sup"
    if not KEY_NAME.match(prefix):
        raise UserError(f"--name-prefix: {prefix!r} is not a name (letters, digits, '.', '-', '_')")
    taken = {s.name for s in fleet.suppliers}
    numbers = [int(m.group(1)) for n in taken if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", n))]
    nxt = max(numbers, default=0) + 1
    out = []
    for index in range(count):
        if names is not None:
            name = names[index]
        else:
            while f"{prefix}-{nxt}" in taken:
                nxt += 1
            name = f"{prefix}-{nxt}"
        taken.add(name)
        host = min(candidates, key=lambda h: (load[h], h))
        load[host] += 1
        out.append(NewIdentity(name, host, (service,), owner))
    return out


# ----------------------------------------------------------------------------- the what-if


@record
class ScaleModel:
    """The what-if of one service and, when asked, the count to reach."""

    view: ServiceView
    what_if: Any  # fleetctl.pocket.sessions.WhatIf
    target: int | None
    assumptions: dict[str, Any]
    how: str | None = None  # what picked the target
    #: Inputs the chain did not give and the operator did not pass: each names the row fields
    #: left out (null) for want of it and how to give it.
    missing: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        doc = dict(self.what_if.as_dict())
        doc.update({"protocol": self.view.protocol, "target": self.target, "how": self.how,
                    "chain": self.view.as_dict(), "assumptions": self.assumptions, "missing": self.missing})
        if any(m["what"] == "apps" for m in self.missing):
            doc["apps"] = None
        return doc

    def missing_note(self) -> str | None:
        """One line: what is left out and how to give it (None: nothing is)."""
        if not self.missing:
            return None
        parts = [f"{', '.join(m['needed_for'])} need {m['what']} ({m['why']}): pass {m['how']}" for m in self.missing]
        return "scale: " + "; ".join(parts) + "; the rest of the table does not depend on it"


def _amount(text: str) -> int | None:
    """``"60000 POKT"``, ``"60000000000upokt"``, or digits alone (upokt, as in fleet.yml)."""
    from fleetctl.core.units import parse_amount_option

    return parse_amount_option(text)


def check_options(*, target_share: str | None = None, budget: str | None = None, stake: str | None = None,
                  apps: int | None = None) -> None:
    """The options' own mistakes, before anything is read from the chain (one line, exit 2)."""
    if target_share is not None:
        _share(target_share)
    if budget is not None and _amount(budget) is None:
        raise UserError(f"--budget: expected an amount such as \"120000 POKT\", got {budget!r}")
    if stake is not None and _amount(stake) is None:
        raise UserError(f"--stake: expected an amount such as \"60000 POKT\" or an integer of upokt, got {stake!r}")
    if apps is not None and apps < 0:
        raise UserError("--apps: must be 0 or more")


def _share(text: str) -> float:
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise UserError(f"--target-share: expected a share such as 0.5 or 50%, got {text!r}") from None
    if not 0 < value < 1:
        raise UserError(f"--target-share: {text!r} is not between 0 and 1 (0% and 100%), exclusive")
    return value


def model_for(fleet: Fleet, view: ServiceView, *, rows: int = 10, relays_per_session: float | None = None,
              upokt_per_relay: float | None = None, apps: int | None = None, block_time_s: float | None = None,
              stake: str | None = None, target_share: str | None = None, add: int | None = None,
              budget: str | None = None, history_db: Any = None) -> ScaleModel:
    """The what-if table (current … current+rows, extended to reach a target) and the target.
    Relays per session: ``relays_per_session``, else (Shannon) what the fleet's own claims in the
    claims store (``history_db``, default the state store) show, else 100; the assumptions say which."""
    from fractions import Fraction

    from fleetctl.plan import sessions_sim as sessions

    assumptions: dict[str, Any] = {}
    if apps is not None and apps < 0:
        raise UserError("--apps: must be 0 or more")
    n_apps = apps if apps is not None else view.apps
    missing: list[dict[str, Any]] = []
    if n_apps is None:
        # Only the figures per day scale with the applications; the odds, the share, the stake
        # and the rewards per session do not: those are shown, the others are left out (null).
        missing.append({"what": "apps", "needed_for": list(PER_DAY_FIELDS), "how": "--apps N",
                        "why": f"the chain did not list the applications staked for {view.service}"})
        assumptions["apps"] = {"value": None, "from": "unknown (pass --apps N)"}
    else:
        assumptions["apps"] = {"value": n_apps, "from": "--apps" if apps is not None else "chain"}
    block_time = block_time_s or DEFAULT_BLOCK_TIME_S[view.protocol]
    assumptions["block_time_s"] = {"value": block_time, "from": "--block-time" if block_time_s else "default"}
    if relays_per_session is not None:
        rps, rps_from = relays_per_session, "--relays-per-session"
    elif view.protocol == "shannon":  # the fleet's own claims (issue 12), else 100 and why
        from fleetctl.state.db import resolve_db_path

        rps, rps_from = sessions.observed_relays_per_session(
            history_db if history_db is not None else resolve_db_path(None, fleet),
            [s.operator_address for s in fleet.suppliers if s.operator_address], view.service)
    else:
        rps, rps_from = sessions.DEFAULT_RELAYS_PER_SESSION, "default (pass your observed figure)"
    assumptions["relays_per_session"] = {"value": rps, "from": rps_from}
    per_relay = Fraction(str(upokt_per_relay)) if upokt_per_relay is not None else view.upokt_per_relay
    assumptions["upokt_per_relay"] = {"value": None if per_relay is None else float(per_relay),
                                      "from": "--upokt-per-relay" if upokt_per_relay is not None else "chain"}
    amount = _amount
    if stake is not None:
        stake_upokt = amount(stake)
        if stake_upokt is None:
            raise UserError(f"--stake: expected an amount such as \"60000 POKT\" or an integer of upokt, got {stake!r}")
    elif view.min_stake_upokt is not None:
        margin = fleet.stake.warning_margin.of(view.min_stake_upokt)
        stake_upokt = view.min_stake_upokt + margin + 1
    else:
        raise UserError("scale: the chain's minimum stake is unknown; pass --stake AMOUNT")
    assumptions["stake_per_identity_upokt"] = stake_upokt
    budget_upokt = None
    if budget is not None:
        budget_upokt = amount(budget)
        if budget_upokt is None:
            raise UserError(f"--budget: expected an amount such as \"120000 POKT\", got {budget!r}")
    share = _share(target_share) if target_share is not None else None

    def build(extra: int) -> Any:
        wi = sessions.what_if(protocol=view.protocol, service=view.service, N=view.n_with_ours,
                              K=view.per_session, current=view.current, extra=extra, apps=n_apps or 0,
                              blocks_per_session=view.blocks_per_session, block_time_s=block_time,
                              relays_per_session=rps, upokt_per_relay=per_relay,
                              stake_per_supplier_upokt=stake_upokt)
        per_session = wi.relays_per_session * wi.upokt_per_relay  # upokt for one of ours in one session
        for row in wi.rows:
            m, n_m = row["m"], row["N"]
            # Morse: fewer than K nodes on the chain make no session (pocket-core session.go
            # NewSessionNodes l. 125-127); Shannon takes them all.
            no_session = view.protocol == "morse" and n_m < view.per_session
            ours = Fraction(0) if m == 0 or view.per_session == 0 or no_session else (
                Fraction(m) if n_m <= view.per_session else Fraction(view.per_session * m, n_m))
            row["rewards_upokt_per_session"] = int(ours * per_session)
            if n_apps is None:
                row.update(dict.fromkeys(PER_DAY_FIELDS))
        return wi

    extra = rows
    if add is not None:
        extra = max(extra, add)
    if budget_upokt is not None:
        extra = max(extra, min(budget_upokt // max(1, stake_upokt), 100_000))
    wi = build(extra)
    target, how = None, None
    if share is not None:
        limit = 100_000
        target = sessions.pick(wi, target_share=share)
        while target is None and extra < limit:
            extra = min(limit, extra * 4 + 16)
            wi = build(extra)
            target = sessions.pick(wi, target_share=share)
        if target is None:
            raise UserError(f"--target-share {target_share}: not reached with {limit:,} more identities")
        how = f"target share {share:.2%}"
    elif add is not None:
        target, how = sessions.pick(wi, add=add), f"add {add}"
    elif budget_upokt is not None:
        target, how = sessions.pick(wi, budget_upokt=budget_upokt), f"budget {budget}"
    return ScaleModel(view, wi, target, assumptions, how, missing)


def check_capacity(fleet: Fleet, service: str, model: ScaleModel) -> None:
    """Refuse a target whose expected relays the service's backends cannot carry (and one
    whose relays are unknown: the check needs the applications' count)."""
    if any(m["what"] == "apps" for m in model.missing):
        raise UserError(f"scale --apply: the backends' capacity check needs the relays per day, which need the "
                        f"number of applications staked for {service} (the chain did not list them): pass --apps N")
    row = next((r for r in _rows(model) if r["m"] == model.target), None)
    if row is None or row.get("relays_per_day") is None:
        return
    need = float(row["relays_per_day"]) / 86400
    have = backend_capacity_relays_per_s(fleet, service)
    if need > have:
        raise FleetError(f"scale: {model.target} identities would bring ~{need:,.1f} relays/s to {service}, "
                         f"its backends serve {have:,.1f} (profiles.<client>.<mode>.relays_per_s, default "
                         f"{DEFAULT_RELAYS_PER_S:g} per node): add replicas or raise the profile first")


def _rows(model: ScaleModel) -> list[dict[str, Any]]:
    doc = model.what_if.as_dict()
    return list(doc.get("rows") or [])
