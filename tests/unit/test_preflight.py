"""Preflight's comparison logic and parsers (fleetctl/pocket/preflight.py), without a network."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetctl.pocket.http import QueryError
from fleetlab.standin import lab_address
from fleetctl.workflows.preflight import (
    DEFAULT_FEE_PER_TX_UPOKT,
    ChainSupplier,
    Endpoint,
    Expected,
    Problem,
    Sent,
    check_supplier,
    compare_sent,
    expected_config,
    expected_config_without_plan,
    fee_per_day,
    parse_account,
    parse_fee,
    parse_supplier,
)
from fleetctl.spec.loader import load_inventory
from fleetctl.spec.model import Supplier

OP = "pokt1operator"
URL = "http://10.0.0.1:8500"
REPO = Path(__file__).resolve().parents[2]


def expected(services=("eth",), served=("eth",), url=URL) -> Expected:
    return Expected(Supplier("s1", tuple(services), OP, OP, "h1"), "h1", url,
                    {s: f"http://10.0.0.1:{7600 + i}" for i, s in enumerate(served)},
                    {"query_node_rpc_url": "tcp://10.0.0.9:26657", "tx_node_rpc_url": "tcp://10.0.0.9:26657"})


def chain(services: dict, scheduled=()) -> ChainSupplier:
    return ChainSupplier(OP, OP, 10**12, {s: tuple(Endpoint(u, t) for u, t in eps) for s, eps in services.items()},
                         frozenset(scheduled))


def kinds(problems: list[Problem]) -> set[tuple[str, str | None, str]]:
    return {(p.kind, p.service, p.field) for p in problems}


# ----------------------------------------------------------------------------- comparison


def test_a_supplier_served_as_staked_has_no_problem():
    assert check_supplier(expected(), chain({"eth": [(URL, "JSON_RPC")]})) == []
    # Same place written differently: case, default port made explicit, a trailing slash.
    assert check_supplier(expected(url="http://relay.example:80"),
                          chain({"eth": [("HTTP://Relay.Example/", "JSON_RPC")]})) == []


def test_a_service_on_chain_the_relayminer_does_not_serve_is_a_sanction():
    problems = check_supplier(expected(), chain({"eth": [(URL, "JSON_RPC")], "base": [(URL, "JSON_RPC")]},
                                                scheduled={"base"}))
    assert kinds(problems) == {("SANCTION", "base", "services")}
    assert "service not configured" in problems[0].message and "scheduled" in problems[0].message
    assert problems[0].line().startswith("SANCTION: supplier s1, service base (RelayMiner on h1), services: ")


def test_endpoint_url_type_and_absence_are_sanctions_and_name_both_sides():
    problems = check_supplier(expected(), chain({"eth": [("https://user:pw@elsewhere:9/x?key=abc", "REST")]}))
    assert kinds(problems) == {("SANCTION", "eth", "endpoint.url"), ("SANCTION", "eth", "endpoint.rpc_type")}
    text = " ".join(p.message for p in problems)
    assert "https://***@elsewhere:9/x?key=***" in text and URL in text and "pw" not in text
    assert "on chain REST" in text
    assert kinds(check_supplier(expected(), chain({"eth": []}))) == {("SANCTION", "eth", "endpoints")}


def test_declared_not_staked_and_staked_not_declared_are_warnings():
    wiped = check_supplier(expected(services=("eth", "base"), served=("eth", "base")), chain({"eth": [(URL, "JSON_RPC")]}))
    assert kinds(wiped) == {("WARNING", "base", "services")}
    other = check_supplier(expected(services=("eth",), served=("eth", "base")),
                           chain({"eth": [(URL, "JSON_RPC")], "base": [(URL, "JSON_RPC")]}))
    assert kinds(other) == {("WARNING", "base", "services")}


def test_compare_sent_shows_both_sides():
    sent = Sent(("eth",), URL, "JSON_RPC", 100)
    assert compare_sent(sent, ChainSupplier(OP, OP, 100, {"eth": (Endpoint(URL, "JSON_RPC"),)})) == []
    got = compare_sent(sent, ChainSupplier(OP, OP, 99, {"base": (Endpoint(URL, "JSON_RPC"),)}))
    assert got == ["stake: sent 0.0001 POKT, on chain 0.000099 POKT", "services: sent [eth], on chain [base]"]
    got = compare_sent(sent, ChainSupplier(OP, OP, 100, {"eth": (Endpoint("http://x:1", "JSON_RPC"),
                                                                  Endpoint(URL, "WEBSOCKET"))}))
    assert got == [f"eth endpoints: sent {URL} JSON_RPC, on chain http://x:1 JSON_RPC, {URL} WEBSOCKET"]
    assert compare_sent(sent, ChainSupplier(OP, OP, 100, {})) == ["services: sent [eth], on chain []"]


# ----------------------------------------------------------------------------- parsers


def svc(service="eth", url=URL, rpc_type="JSON_RPC"):
    return {"service_id": service, "endpoints": [{"url": url, "rpc_type": rpc_type, "configs": []}], "rev_share": []}


def supplier_json(services=(), history=()):
    return {"owner_address": OP, "operator_address": OP, "stake": {"denom": "upokt", "amount": "1000"},
            "services": list(services), "unstake_session_end_height": "0", "service_config_history": list(history)}


def update(service, activation, deactivation=0):
    return {"operator_address": OP, "service": service, "activation_height": str(activation),
            "deactivation_height": str(deactivation)}


def test_effective_services_follow_the_history_at_the_height():
    old, new = svc(url="http://old:8500"), svc(url="http://new:8500")
    body = supplier_json([old], [update(old, 1, 120), update(new, 120), update(svc("base"), 1, 100),
                                 update(svc("sol", rpc_type=3), 120)])
    state = parse_supplier(body, "w", height=110)
    assert set(state.services) == {"eth", "sol"}  # base was deactivated at 100
    assert state.services["eth"] == (Endpoint("http://new:8500", "JSON_RPC"),)  # the newest config wins
    assert state.services["sol"][0].rpc_type == "JSON_RPC"  # the enum's number
    assert state.scheduled == {"eth", "sol"} and state.stake_upokt == 1000
    # Without a history (dehydrated, or an older release): the active services.
    plain = parse_supplier(supplier_json([old]), "w", height=110)
    assert plain.services == {"eth": (Endpoint("http://old:8500", "JSON_RPC"),)} and not plain.scheduled


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["services"].append(svc(service="e\x1bth")), "service_id"),
    (lambda b: b["services"].append(svc(service="x" * 43)), "service_id"),
    (lambda b: b["services"].append(svc(url="http://" + "a" * 3000)), "url"),
    (lambda b: b["services"].append(svc(url="http://a\nb")), "url"),
    (lambda b: b["services"].append(svc(rpc_type="SOAP")), "rpc_type"),
    (lambda b: b["services"].append(svc(rpc_type=99)), "rpc_type"),
    (lambda b: b["services"].append(svc(rpc_type=True)), "rpc_type"),
    (lambda b: b.__setitem__("services", {"eth": 1}), "services"),
    (lambda b: b.__setitem__("service_config_history", [update(svc(), "1e9")]), "activation_height"),
    (lambda b: b.__setitem__("service_config_history", [update(svc(), 1, -1)]), "deactivation_height"),
    (lambda b: b.__setitem__("service_config_history", [update(svc(), 1)] * 1001), "more than"),
    (lambda b: b.__setitem__("stake", {"denom": "upokt", "amount": "9" * 41}), "stake"),
    (lambda b: b.__setitem__("operator_address", ["x"]), "operator_address"),
])
def test_hostile_supplier_fields_are_one_line_errors_naming_the_field(mutate, field):
    body = supplier_json([svc()])
    mutate(body)
    with pytest.raises(QueryError) as caught:
        parse_supplier(body, "GET /supplier", height=10)
    assert field in str(caught.value) and "\n" not in str(caught.value)


KEY = base64.b64encode(bytes([3]) + bytes(32)).decode()


def account(**over):
    base = {"@type": "/cosmos.auth.v1beta1.BaseAccount", "address": OP, "account_number": "1", "sequence": "0",
            "pub_key": {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": KEY}}
    base.update(over)
    return {"account": base}


def test_accounts_with_and_without_a_key_and_wrapped_ones():
    assert parse_account(account(), OP, "w").pub_key_type == "/cosmos.crypto.secp256k1.PubKey"
    assert parse_account(account(pub_key=None), OP, "w").pub_key_type is None
    vesting = {"account": {"@type": "/cosmos.vesting.v1beta1.ContinuousVestingAccount",
                           "base_vesting_account": {"base_account": account()["account"]}}}
    assert parse_account(vesting, OP, "w").pub_key_type is not None
    module = {"account": {"@type": "/cosmos.auth.v1beta1.ModuleAccount", "base_account": account(pub_key=None)["account"]}}
    assert parse_account(module, OP, "w").pub_key_type is None


@pytest.mark.parametrize("body", [
    account(address="pokt1someoneelse"),
    account(pub_key="AAAA"),
    account(pub_key={"@type": "/cosmos.crypto.secp256k1.PubKey", "key": "not base64!"}),
    account(pub_key={"@type": "/cosmos.crypto.secp256k1.PubKey", "key": base64.b64encode(b"\x02" * 20).decode()}),
    account(pub_key={"@type": "/cosmos.crypto.secp256k1.PubKey", "key": base64.b64encode(b"\x05" + bytes(32)).decode()}),
    account(account_number="-1"),
    account(sequence="9" * 50),
    {"account": []},
    {"account": {"@type": "x"}},
    [],
])
def test_hostile_accounts_are_query_errors(body):
    with pytest.raises(QueryError):
        parse_account(body, OP, "GET /accounts")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | st.text(max_size=30)
    | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_a_supplier_or_a_query_error(value):
    for body in (value, {**supplier_json([svc()]), "services": value},
                 {**supplier_json(), "service_config_history": [update(value, 1)]},
                 {**supplier_json([svc()]), "stake": value}, supplier_json([{**svc(), "endpoints": value}])):
        try:
            state = parse_supplier(body, "w", height=5)
        except QueryError as exc:
            assert "\n" not in str(exc)
            continue
        for service, endpoints in state.services.items():
            assert 1 <= len(service) <= 42
            assert all(e.url.isprintable() and len(e.url) <= 2048 for e in endpoints)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_an_account_or_a_query_error(value):
    for body in (value, {"account": value}, account(pub_key=value), account(address=value),
                 account(account_number=value)):
        try:
            parse_account(body, OP, "w")
        except QueryError as exc:
            assert "\n" not in str(exc)


# ----------------------------------------------------------------------------- fees, expectations


def test_fee_per_day_is_an_upper_bound_rounded_up():
    # Mainnet: 20 blocks of 30 s = 144 sessions a day, a claim and a proof each.
    assert fee_per_day(DEFAULT_FEE_PER_TX_UPOKT, 20) == 144 * 2 * 300_000
    assert fee_per_day(1, 7) == 823  # 86400 / 210 * 2 = 822.86 -> 823
    assert parse_fee("300000") == 300_000 and parse_fee("0.3 POKT") == 300_000 and parse_fee("5upokt") == 5
    for bad in ("lots", "-1", "1e5", "9" * 30, "0.0000001 POKT"):
        with pytest.raises(ValueError):
            parse_fee(bad)


def test_expected_config_is_what_the_relayminer_template_gets(tmp_path):
    root = tmp_path / "inv"
    root.mkdir()
    (root / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 10.1.0.1}\n    h2: {ansible_host: 'fd00::2'}\n")
    (root / "fleet.yml").write_text(
        "protocol: shannon\npocket: {rest_url: 'http://10.9.9.9:1317', node_rpc_url: 'tcp://10.9.9.9:26657'}\n"
        "chains:\n  eth: {clients: [geth, nethermind, erigon], replicas: 3}\n"
        "  base: {clients: [geth, nethermind, erigon], replicas: 3}\n"
        f"suppliers:\n  - {{name: a, operator_address: {lab_address('a')}, services: [eth], host: h1}}\n"
        f"  - {{name: b, operator_address: {lab_address('b')}, services: [base], host: h2}}\n")
    fleet = load_inventory(root)
    got = expected_config(fleet)
    assert got["a"].endpoint_url == "http://10.1.0.1:8500" and got["b"].endpoint_url == "http://[fd00::2]:8500"
    assert got["a"].served == {"eth": "http://10.1.0.1:7600"}
    assert got["a"].node_urls == {"query_node_rpc_url": "tcp://10.9.9.9:26657", "tx_node_rpc_url": "tcp://10.9.9.9:26657"}
    fallback = expected_config_without_plan(fleet)
    assert fallback["a"] == got["a"] and fallback["b"].served == {"base": "http://[fd00::2]:7601"}
