"""The stakes path against a chain that lies: hostile Shannon REST and Morse RPC answers.

Two halves. Hypothesis strategies feed the Shannon and Morse parsers arbitrary JSON (huge
integers, strings where numbers go, lists where objects go, and valid answers with one part
replaced) and assert that nothing but the documented QueryError ever escapes and that an
out-of-range value is never OK. Then hostile servers on 127.0.0.1 serve such bodies to the real
``fleetctl stakes`` (a subprocess), which must exit 0-3 with its status line, no traceback, and no
credential of the configured URL in its output or its state store.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from hostile_pocket_server import (
    HEIGHT,
    MIN,
    POKT,
    RICH,
    STAKE,
    SUPPLIER,
    HostileChain,
    assert_sane,
    coin,
    morse_address,
    morse_node,
    shannon_address,
    shannon_supplier,
    write_inventory,
)
from fleetctl.pocket import stakes as stakes_mod
from fleetctl.core.levels import Level
from fleetctl.pocket.base import (
    MAX_HEIGHT,
    SUPPLY_CEILING_UPOKT,
    ChainStatus,
    StakeParams,
    SupplierState,
)
from fleetctl.pocket.http import MAX_RESPONSE_BYTES, JsonClient, QueryError, _decode
from fleetctl.pocket.morse import MorseAdapter
from fleetctl.pocket.shannon import ShannonAdapter
from fleetctl.pocket.stakes import evaluate, read_chain
from fleetctl.spec.loader import load_inventory
from fleetctl.spec.model import Margin, StakePolicy, Supplier

A = shannon_address("a")
M = morse_address("m")
TOKEN, PASSWORD = "tok3nS3cr3tValue42", "pw-S3cr3t-9876"


@pytest.fixture()
def chains():
    made: list[HostileChain] = []

    def make(protocol: str, addresses: list[str], **kw: Any) -> HostileChain:
        chain = HostileChain(protocol, addresses, **kw)
        made.append(chain)
        return chain

    yield make
    for chain in made:
        chain.close()


def stakes(inventory: Path, state: Path, *args: str) -> Any:
    return run_cli("-i", str(inventory), "stakes", *args, env={"FLEETCTL_STATE_DIR": str(state)},
                   timeout=60)


# ----------------------------------------------------------------------------- hypothesis

KEYS = ["block", "header", "height", "params", "min_stake", "denom", "amount", "supplier",
        "operator_address", "stake", "unstake_session_end_height", "balance", "pagination",
        "next_key", "proof_missing_penalty", "num_blocks_per_session",
        "supplier_unbonding_period_sessions", "tokens", "status", "jailed", "address", "result",
        "total_pages", "total", "stake_minimum", "slash_fraction_downtime",
        "slash_fraction_double_sign", "max_jailed_blocks", "jailed_until", "jailed_blocks_counter",
        "unstaking_time", "code", "message"]

HUGE = st.one_of(st.integers(min_value=2**62, max_value=2**70), st.just(10**40), st.just(-(10**40)),
                 st.integers(min_value=SUPPLY_CEILING_UPOKT - 2, max_value=SUPPLY_CEILING_UPOKT + 2))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**6), max_value=10**6), HUGE,
    HUGE.map(str), st.from_regex(r"[-+]?[0-9]{1,60}", fullmatch=True), st.just("9" * 5000),
    st.sampled_from(["upokt", "uatom", "", "0x10", "1e3", "NaN", "12.5", "0.05", "1", "0",
                     "0001-01-01T00:00:00Z", A, M, "٣"]),
    st.decimals(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=6)),
    max_leaves=25)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return out


def mutated(valid: Any) -> st.SearchStrategy[Any]:
    """``valid`` with one part (a leaf or a whole subtree) replaced by hostile JSON."""
    return st.tuples(st.sampled_from(_paths(valid)), JSON).map(lambda pv: _replace(valid, *pv))


class FakeClient:
    """What an adapter needs of a JsonClient: ``answers`` by path (one for all when not a dict)."""

    shown_url = "http://fake.invalid"

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def _answer(self, path: str) -> Any:
        if path in self.answers:
            return copy.deepcopy(self.answers[path])
        raise QueryError(f"{path}: HTTP 404", status=404, body={"code": 5})

    async def get(self, path: str, params: Any = None) -> Any:
        return self._answer(path)

    async def post(self, path: str, body: Any) -> Any:
        return self._answer(path)


def shannon_answers(stake: Any = str(STAKE)) -> dict[str, Any]:
    return {
        "/cosmos/base/tendermint/v1beta1/blocks/latest": {"block": {"header": {"height": str(HEIGHT)}}},
        "/pokt-network/poktroll/supplier/params": {"params": {"min_stake": coin(str(MIN))}},
        "/pokt-network/poktroll/proof/params": {"params": {"proof_missing_penalty": coin(str(POKT))}},
        "/pokt-network/poktroll/shared/params": {"params": {"num_blocks_per_session": "10",
                                                            "supplier_unbonding_period_sessions": "2"}},
        f"{SUPPLIER}/{A}": {"supplier": shannon_supplier(A, stake)},
        SUPPLIER: {"supplier": [shannon_supplier(A, stake)], "pagination": {"next_key": None}},
        f"/cosmos/bank/v1beta1/balances/{A}/by_denom": {"balance": coin(str(RICH))},
    }


def morse_answers(tokens: Any = str(STAKE)) -> dict[str, Any]:
    return {
        "/v1/query/height": {"height": HEIGHT},
        "/v1/query/nodeparams": {"stake_minimum": str(MIN), "max_jailed_blocks": "37960",
                                 "slash_fraction_downtime": "0.000001000000000000",
                                 "slash_fraction_double_sign": "0.050000000000000000"},
        "/v1/query/node": morse_node(M, tokens),
        "/v1/query/signinginfo": {"result": [{"jailed_until": "2999-01-01T00:00:00Z",
                                              "jailed_blocks_counter": "5"}]},
        "/v1/query/nodes": {"result": [morse_node(M, tokens)], "total_pages": 1, "page": 1},
        "/v1/query/balance": {"balance": RICH},
        "/v1/query/supply": {"total": 2 * 10**15},
    }


def check_state(state: Any) -> None:
    assert isinstance(state, SupplierState)
    if state.status is not ChainStatus.NOT_FOUND:
        assert type(state.stake_upokt) is int and 0 <= state.stake_upokt <= SUPPLY_CEILING_UPOKT
    for height in (state.unstake_session_end_height, state.jailed_blocks):
        assert height is None or (type(height) is int and 0 <= height <= MAX_HEIGHT)
    assert isinstance(state.jailed, bool)


def check_params(params: StakeParams) -> None:
    assert params.min_stake_upokt is None or 0 <= params.min_stake_upokt <= SUPPLY_CEILING_UPOKT
    for p in params.penalties:
        assert p.flat_upokt is None or 0 <= p.flat_upokt <= SUPPLY_CEILING_UPOKT
        assert p.fraction is None or 0 <= p.fraction <= 1
    assert params.max_jailed_blocks is None or 0 <= params.max_jailed_blocks <= MAX_HEIGHT


async def exercise(adapter: Any, address: str) -> None:
    """Every parser of ``adapter``: only QueryError may escape, every value is in range."""
    for call, check in (
        (adapter.height, lambda h: type(h) is int and 1 <= h <= MAX_HEIGHT),
        (lambda: adapter.supplier(address), check_state),
        (lambda: adapter.balance(address), lambda b: type(b) is int and 0 <= b <= SUPPLY_CEILING_UPOKT),
        (adapter.total_supply, lambda s: s is None or 1 <= s <= SUPPLY_CEILING_UPOKT),
        (lambda: adapter.suppliers_for_service("eth"), lambda states: [check_state(s) for s in states]),
    ):
        try:
            value = await call()
        except QueryError:
            continue
        assert check(value) is not False, value
    check_params(await adapter.stake_params())  # problems are reported, never raised


ROUTES_SHANNON = list(shannon_answers())
ROUTES_MORSE = list(morse_answers())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_shannon_parsers_raise_only_query_error(data):
    answers = shannon_answers()
    route = data.draw(st.sampled_from(ROUTES_SHANNON))
    answers[route] = data.draw(st.one_of(JSON, mutated(answers[route])))
    asyncio.run(exercise(ShannonAdapter(FakeClient(answers)), A))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_morse_parsers_raise_only_query_error(data):
    answers = morse_answers()
    route = data.draw(st.sampled_from(ROUTES_MORSE))
    answers[route] = data.draw(st.one_of(JSON, mutated(answers[route])))
    if route == "/v1/query/node" and isinstance(answers[route], dict):
        answers[route]["jailed"] = data.draw(st.one_of(st.booleans(), JSON))
    asyncio.run(exercise(MorseAdapter(FakeClient(answers)), M))


def in_range_amount(value: Any) -> bool:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value) if len(value) < 50 else -1
    return type(value) is int and 0 <= value <= SUPPLY_CEILING_UPOKT


HOSTILE_AMOUNT = st.one_of(JSON, HUGE, HUGE.map(str)).filter(lambda v: not in_range_amount(v))
POLICY = StakePolicy(warning_margin=Margin(upokt=100 * POKT), critical_margin=Margin(upokt=20 * POKT),
                     min_operator_balance_upokt=10 * POKT)


def sweep(adapter: Any, address: str) -> Any:
    supplier = Supplier(name="s", services=("eth",), operator_address=address)
    chain = asyncio.run(read_chain(adapter, [supplier]))
    assert not isinstance(chain.height, QueryError)
    return evaluate(supplier, chain.readings[address], chain.params, POLICY, None)


@settings(max_examples=150, deadline=None)
@given(HOSTILE_AMOUNT, st.sampled_from(["stake", "balance", "min_stake"]))
def test_shannon_out_of_range_amount_is_never_ok(value, where):
    answers = shannon_answers()
    if where == "stake":
        answers[f"{SUPPLIER}/{A}"]["supplier"]["stake"]["amount"] = value
    elif where == "balance":
        answers[f"/cosmos/bank/v1beta1/balances/{A}/by_denom"]["balance"]["amount"] = value
    else:
        answers["/pokt-network/poktroll/supplier/params"]["params"]["min_stake"]["amount"] = value
    report = sweep(ShannonAdapter(FakeClient(answers)), A)
    assert report.level is Level.UNKNOWN, report


@settings(max_examples=150, deadline=None)
@given(HOSTILE_AMOUNT, st.sampled_from(["tokens", "balance", "stake_minimum"]))
def test_morse_out_of_range_amount_is_never_ok(value, where):
    answers = morse_answers()
    if where == "tokens":
        answers["/v1/query/node"]["tokens"] = value
    elif where == "balance":
        answers["/v1/query/balance"]["balance"] = value
    else:
        answers["/v1/query/nodeparams"]["stake_minimum"] = value
    report = sweep(MorseAdapter(FakeClient(answers)), M)
    assert report.level is Level.UNKNOWN, report


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2 * 10**15 + 1, max_value=SUPPLY_CEILING_UPOKT), st.booleans())
def test_morse_amount_above_the_chains_supply_is_unknown(amount, as_balance):
    answers = morse_answers()
    if as_balance:
        answers["/v1/query/balance"]["balance"] = amount
    else:
        answers["/v1/query/node"]["tokens"] = str(amount)
    report = sweep(MorseAdapter(FakeClient(answers)), M)
    assert report.level is Level.UNKNOWN
    assert "above the chain's whole supply" in report.reasons[0]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v, default=str).encode()),
                 st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n + b"]" * n),
                 st.integers(min_value=1, max_value=200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)))
def test_decode_raises_only_query_error(raw):
    try:
        _decode("/x", raw)
    except QueryError:
        pass


# ----------------------------------------------------------------------------- hostile servers


def shannon_set_supplier(field: str, value: Any):
    def mutate(chain: HostileChain) -> None:
        answer = chain.routes[f"{SUPPLIER}/{A}"]["supplier"]
        if field == "stake":
            answer["stake"]["amount"] = value
        elif field == "stake_object":
            answer["stake"] = value
        else:
            answer[field] = value
    return mutate


def shannon_route(route: str, value: Any):
    def mutate(chain: HostileChain) -> None:
        chain.routes[route] = value
    return mutate


def morse_set_node(field: str, value: Any):
    def mutate(chain: HostileChain) -> None:
        chain.nodes[M][field] = value
    return mutate


def morse_route(route: str, value: Any):
    def mutate(chain: HostileChain) -> None:
        chain.routes[route] = value
    return mutate


def morse_balance(value: Any):
    def mutate(chain: HostileChain) -> None:
        chain.balances[M] = value
    return mutate


ROUTE_A = f"{SUPPLIER}/{A}"
BALANCE_A = f"/cosmos/bank/v1beta1/balances/{A}/by_denom"
BLOCK = "/cosmos/base/tendermint/v1beta1/blocks/latest"
DEEP = b'{"supplier": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

# (id, protocol, mutation, whole sweep unreadable?, fragment of the reason or message)
CASES = [
    ("stake-5000-digits", "shannon", shannon_set_supplier("stake", "9" * 5000), False,
     f"{ROUTE_A} supplier.stake.amount: a 5000-digit number is beyond any plausible supply"),
    ("stake-beyond-int64", "shannon", shannon_set_supplier("stake", str(2**63)), False,
     f"{ROUTE_A} supplier.stake.amount: 9223372036854775808 is beyond any plausible supply"),
    ("stake-1e40-string", "shannon", shannon_set_supplier("stake", str(10**40)), False,
     f"{ROUTE_A} supplier.stake.amount: "),
    ("stake-1e40-number", "shannon", shannon_set_supplier("stake", 10**40), False,
     f"{ROUTE_A} supplier.stake.amount: 10000000000000000000000000000000000000000 is beyond"),
    ("stake-negative-string", "shannon", shannon_set_supplier("stake", "-5"), False,
     f"{ROUTE_A} supplier.stake.amount: expected an integer, got '-5' (negative)"),
    ("stake-negative-number", "shannon", shannon_set_supplier("stake", -5), False,
     f"{ROUTE_A} supplier.stake.amount: -5 is negative"),
    ("stake-a-list", "shannon", shannon_set_supplier("stake_object", ["1000"]), False,
     f"{ROUTE_A} supplier.stake: expected a coin object"),
    ("supplier-a-list", "shannon", shannon_route(ROUTE_A, {"supplier": [1, 2]}), False,
     f"{ROUTE_A} supplier: expected a supplier object"),
    ("supplier-nested-deep", "shannon", shannon_route(ROUTE_A, DEEP), False,
     "nested too deeply"),
    ("unstake-beyond-int64", "shannon", shannon_set_supplier("unstake_session_end_height", str(2**63)),
     False, f"{ROUTE_A} supplier.unstake_session_end_height: 9223372036854775808 is beyond any plausible height"),
    ("unstake-far-beyond-chain", "shannon", shannon_set_supplier("unstake_session_end_height", "1000000000"),
     False, "unstake_session_end_height 1,000,000,000 is far beyond the chain's height 1,000"),
    ("balance-5000-digits", "shannon", shannon_route(BALANCE_A, {"balance": coin("9" * 5000)}), False,
     f"operator balance unreadable: {BALANCE_A} balance.amount: a 5000-digit number is beyond"),
    ("min-stake-1e40", "shannon", shannon_route("/pokt-network/poktroll/supplier/params",
                                                {"params": {"min_stake": coin(str(10**40))}}), False,
     "chain params: /pokt-network/poktroll/supplier/params params.min_stake.amount: "),
    ("min-stake-zero", "shannon", shannon_route("/pokt-network/poktroll/supplier/params",
                                                {"params": {"min_stake": coin("0")}}), False,
     "chain params: /pokt-network/poktroll/supplier/params params.min_stake.amount: 0 is below 1"),
    ("height-beyond-int64", "shannon", shannon_route(BLOCK, {"block": {"header": {"height": str(2**70)}}}),
     True, f"{BLOCK} block.header.height: 1180591620717411303424 is beyond any plausible height"),
    ("height-400-digits", "shannon", shannon_route(BLOCK, {"block": {"header": {"height": "4" * 400}}}),
     True, f"{BLOCK} block.header.height: a 400-digit number is beyond"),
    ("tokens-5000-digits", "morse", morse_set_node("tokens", "9" * 5000), False,
     f"/v1/query/node {M} tokens: a 5000-digit number is beyond any plausible supply"),
    ("tokens-1e40", "morse", morse_set_node("tokens", str(10**40)), False,
     f"/v1/query/node {M} tokens: "),
    ("tokens-negative", "morse", morse_set_node("tokens", "-5"), False,
     f"/v1/query/node {M} tokens: expected an integer, got '-5' (negative)"),
    ("tokens-above-supply", "morse", morse_set_node("tokens", str(3 * 10**15)), False,
     "stake 3,000,000,000,000,000 upokt is above the chain's whole supply"),
    ("morse-balance-beyond-int64", "morse", morse_balance(2**63), False,
     f"operator balance unreadable: /v1/query/balance {M} balance: 9223372036854775808 is beyond"),
    ("morse-height-beyond-int64", "morse", morse_route("/v1/query/height", {"height": 2**70}), True,
     "/v1/query/height height: 1180591620717411303424 is beyond any plausible height"),
    ("morse-node-a-list", "morse", morse_route("/v1/query/node", [morse_node(M)]), False,
     f"/v1/query/node {M}: expected a node object"),
    ("stake-minimum-zero", "morse", morse_route("/v1/query/nodeparams", {
        "stake_minimum": "0", "max_jailed_blocks": "1", "slash_fraction_downtime": "0",
        "slash_fraction_double_sign": "0"}), False, "chain params: /v1/query/nodeparams stake_minimum: 0 is below 1"),
    ("stake-minimum-5000-digits", "morse", morse_route("/v1/query/nodeparams", {
        "stake_minimum": "9" * 5000, "max_jailed_blocks": "1", "slash_fraction_downtime": "0",
        "slash_fraction_double_sign": "0"}), False, "chain params: /v1/query/nodeparams stake_minimum: a 5000"),
]


@pytest.mark.parametrize("protocol, mutate, unreadable, fragment",
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_hostile_chain_value_is_unknown_with_its_endpoint_and_field(chains, tmp_path, protocol, mutate,
                                                                   unreadable, fragment):
    address = A if protocol == "shannon" else M
    chain = chains(protocol, [address])
    mutate(chain)
    inventory = write_inventory(tmp_path / "inv", chain.url, [("s", address)], protocol=protocol)
    state = tmp_path / "state"
    doc = assert_sane(stakes(inventory, state, "-o", "json"), "json", state=state)
    assert doc["status"] == "UNKNOWN", doc
    if unreadable:
        assert doc["suppliers"] == [] and fragment in doc["message"], doc["message"]
    else:
        (row,) = doc["suppliers"]
        assert row["status"] == "UNKNOWN", row
        assert any(fragment in r for r in row["reasons"]), row["reasons"]
    # The run was recorded: nothing out of range reached SQLite, and it reads back.
    with sqlite3.connect(state / "fleetctl.db") as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("UNKNOWN",)]
    nagios = stakes(inventory, state, "--nagios", "--no-record")
    assert_sane(nagios, "nagios", state=state)
    assert nagios.stdout.startswith("STAKES UNKNOWN - ") and nagios.returncode == 3
    table = stakes(inventory, state, "--no-record")
    assert_sane(table, "table", state=state)
    assert table.returncode == 3


@pytest.mark.parametrize("pagination", [
    "garbage", ["next"], {"next_key": ["a", "b"]}, {"next_key": {"k": 1}}, {"next_key": 7},
    {"next_key": "c2FtZQ=="},  # the same key again and again
    "endless",  # a new key every page
])
def test_hostile_owner_listing_pagination_falls_back_to_one_query_each(chains, tmp_path, pagination):
    addresses = [shannon_address(f"owned-{i}") for i in range(6)]
    owner = shannon_address("owner")
    chain = chains("shannon", addresses)
    listing = chain.routes[SUPPLIER]
    pages = iter(range(10**9))
    if pagination == "endless":
        chain.routes[SUPPLIER] = lambda q, b: {**listing, "pagination": {"next_key": f"k{next(pages)}"}}
    else:
        listing["pagination"] = pagination
    inventory = write_inventory(tmp_path / "inv", chain.url, [(f"s{i}", a) for i, a in enumerate(addresses)],
                                owner=owner)
    started = time.monotonic()
    doc = assert_sane(stakes(inventory, tmp_path / "state", "-o", "json", "--timeout", "2"), "json")
    assert time.monotonic() - started < 30
    if pagination == "endless":
        # 1,000 pages at most, within the sweep's deadline: what is left of it reads the rest
        assert doc["status"] in ("OK", "UNKNOWN"), doc
    else:
        assert doc["status"] == "OK", doc  # each supplier read on its own instead
    assert sum(1 for t in chain.seen if t.startswith(f"{SUPPLIER}?")) <= 1001


def test_response_larger_than_the_cap_is_refused(chains):
    chain = chains("shannon", [A])
    padded = b'{"block": {"header": {"height": "1000"}}}' + b" " * (MAX_RESPONSE_BYTES + 1)
    chain.routes[BLOCK] = padded

    async def read() -> Any:
        async with ShannonAdapter(JsonClient(chain.url, timeout=5)) as adapter:
            return await adapter.height()

    with pytest.raises(QueryError, match="larger than"):
        asyncio.run(read())
    assert MAX_RESPONSE_BYTES <= 16 * 1024 * 1024  # x 64 requests in flight stays bounded


# ----------------------------------------------------------------------------- credentials


@pytest.mark.parametrize("protocol", ["shannon", "morse"])
def test_url_query_token_and_basic_auth_are_sent_and_never_shown(chains, tmp_path, protocol):
    address = A if protocol == "shannon" else M
    chain = chains(protocol, [address], token=("apikey", TOKEN), basic=("fleetops", PASSWORD))
    url = chain.url_with(basic=("fleetops", PASSWORD), token=("apikey", TOKEN))
    inventory = write_inventory(tmp_path / "inv", url, [("s", address)], protocol=protocol)
    state = tmp_path / "state"
    secrets = (TOKEN, PASSWORD)
    doc = assert_sane(stakes(inventory, state, "-o", "json"), "json", secrets, state)
    assert doc["status"] == "OK", doc  # every request carried the token: none was refused
    assert doc["url"] == f"http://***@127.0.0.1:{chain.url.rsplit(':', 1)[1]}?apikey=***"
    assert all(f"apikey={TOKEN}" in t for t in chain.seen)
    for args in (("--nagios",), ()):
        assert_sane(stakes(inventory, state, *args), "nagios" if args else "table", secrets, state)
    with sqlite3.connect(state / "fleetctl.db") as conn:
        urls = {u for (u,) in conn.execute("SELECT url FROM runs")}
    assert urls == {doc["url"]}


@pytest.mark.parametrize("protocol", ["shannon", "morse"])
def test_gateway_echoing_the_credentials_never_leaks_them(chains, tmp_path, protocol):
    address = A if protocol == "shannon" else M
    chain = chains(protocol, [address])
    url = chain.url_with(basic=("fleetops", PASSWORD), token=("apikey", TOKEN))

    def echo(q: Any, b: Any) -> Any:
        return 500, {"code": 13, "message": f"upstream {url} refused apikey={TOKEN} for "
                                            f"fleetops:{PASSWORD} ({TOKEN})"}

    for route in list(chain.routes):
        chain.routes[route] = echo
    inventory = write_inventory(tmp_path / "inv", url, [("s", address)], protocol=protocol)
    state = tmp_path / "state"
    for args, mode in ((("-o", "json"), "json"), (("--nagios",), "nagios"), ((), "table")):
        proc = stakes(inventory, state, *args)
        assert_sane(proc, mode, (TOKEN, PASSWORD), state)
        assert proc.returncode == 3


def test_unreachable_endpoint_with_credentials_is_shown_redacted(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://fleetops:{PASSWORD}@127.0.0.1:{port}/gw?apikey={TOKEN}"
    inventory = write_inventory(tmp_path / "inv", url, [("s", A)])
    state = tmp_path / "state"
    for args, mode in ((("-o", "json"), "json"), (("--nagios",), "nagios"), ((), "table")):
        proc = stakes(inventory, state, "--timeout", "0.5", *args)
        assert_sane(proc, mode, (TOKEN, PASSWORD), state)
        assert f"cannot read the chain at http://***@127.0.0.1:{port}/gw?apikey=***" in proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- guards


def test_a_bug_in_one_suppliers_evaluation_makes_only_it_unknown(chains, tmp_path, monkeypatch):
    b = shannon_address("b")
    chain = chains("shannon", [A, b])
    inventory = write_inventory(tmp_path / "inv", chain.url, [("a", A), ("b", b)])
    real = stakes_mod.evaluate

    def buggy(supplier: Any, *args: Any) -> Any:
        if supplier.name == "b":
            raise ZeroDivisionError("a bug")
        return real(supplier, *args)

    monkeypatch.setattr(stakes_mod, "evaluate", buggy)
    report = stakes_mod.check_stakes(load_inventory(inventory), db=tmp_path / "x.db")
    rows = {s.name: s for s in report.suppliers}
    assert rows["a"].level is Level.OK
    assert rows["b"].level is Level.UNKNOWN
    assert rows["b"].reasons == ("internal error while evaluating (ZeroDivisionError: a bug)",)
    assert report.exit_code == 3


def test_a_bug_in_one_read_makes_only_that_supplier_unknown(chains, tmp_path, monkeypatch):
    b = shannon_address("b")
    chain = chains("shannon", [A, b])
    inventory = write_inventory(tmp_path / "inv", chain.url, [("a", A), ("b", b)])
    real = ShannonAdapter.balance

    async def buggy(self: Any, address: str) -> int:
        if address == b:
            raise KeyError("oops")
        return await real(self, address)

    monkeypatch.setattr(ShannonAdapter, "balance", buggy)
    report = stakes_mod.check_stakes(load_inventory(inventory), db=tmp_path / "x.db")
    rows = {s.name: s for s in report.suppliers}
    assert rows["a"].level is Level.OK and rows["b"].level is Level.UNKNOWN
    assert "internal error while reading (KeyError" in rows["b"].reasons[0]


def test_anything_unexpected_is_an_unknown_report(chains, tmp_path, monkeypatch):
    chain = chains("shannon", [A])
    url = chain.url_with(token=("apikey", TOKEN))
    inventory = write_inventory(tmp_path / "inv", url, [("a", A)])

    async def broken(*args: Any) -> Any:
        raise RuntimeError(f"boom at {url}")

    monkeypatch.setattr(stakes_mod, "read_chain", broken)
    report = stakes_mod.check_stakes(load_inventory(inventory), db=tmp_path / "x.db")
    assert report.exit_code == 3 and report.message.startswith("internal error (RuntimeError: boom at ")
    assert TOKEN not in report.nagios_line()


@pytest.mark.parametrize("mode", ["json", "nagios", "table"])
def test_cli_prints_its_status_line_whatever_raises(chains, tmp_path, monkeypatch, capsys, mode):
    from fleetctl.cli import main

    chain = chains("shannon", [A])
    inventory = write_inventory(tmp_path / "inv", chain.url, [("a", A)])

    def broken(*args: Any, **kw: Any) -> Any:
        raise TypeError(f"unforeseen, apikey={TOKEN} in http://u:{PASSWORD}@h/?apikey={TOKEN}")

    monkeypatch.setattr(stakes_mod, "sweep_stakes", broken)  # what the stakes job runs
    monkeypatch.setenv("FLEETCTL_STATE_DIR", str(tmp_path / "state"))
    args = {"json": ["-o", "json"], "nagios": ["--nagios"], "table": []}[mode]
    code = main(["-i", str(inventory), "stakes", *args])
    out, err = capsys.readouterr()
    assert code == 3
    assert PASSWORD not in out + err
    if mode == "json":
        assert json.loads(out)["status"] == "UNKNOWN"
    elif mode == "nagios":
        assert out.startswith("STAKES UNKNOWN - internal error (TypeError: unforeseen")
    else:
        assert err.startswith("stakes: UNKNOWN: internal error (TypeError: unforeseen")


def test_fraction_with_a_huge_exponent_is_refused_at_once():
    from fleetctl.pocket.base import parse_fraction

    started = time.monotonic()
    for value in ("1e-999999999", Decimal("1e-999999999"), Decimal("1e999999999"), "9" * 5000):
        with pytest.raises(QueryError):
            parse_fraction(value, "f")
    assert time.monotonic() - started < 1
