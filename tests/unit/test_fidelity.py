"""Fidelity to the Go code (issue 12, "found by an independent check"): each test names the
Go source it follows (pokt-network/pocket-core staging @ 29f421ca, pokt-network/poktroll main
@ ab401edc; mirrors under /work/.mirror) and failed on fleetctl before the fix beside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fleetctl.plan import sessions_sim
from fleetctl.pocket import sessions as S
from fleetctl.pocket.sessions import MorseRewardParams, ShannonRewardParams
from fleetctl.spec import address as A
from fleetctl.spec.address import morse_address_problem

from conftest import LAB_INV, REPO

# --------------------------------------------------------------------------- Morse per-chain RTTM
# pocket-core x/nodes/keeper/reward.go CalculateRelayReward (l. 56-78) takes
# GetChainSpecificMultiplier (l. 216-224): RelaysToTokensMultiplierMap[chain] when the chain is
# in the map (after the PerChainRTTM upgrade), else RelaysToTokensMultiplier.


def test_morse_claim_uses_the_chains_multiplier():
    params = MorseRewardParams(relays_to_tokens_multiplier=10_000,
                               relays_to_tokens_multiplier_map={"0021": 4_000})
    assert params.multiplier("0021") == 4_000
    assert params.multiplier("0001") == 10_000       # not in the map: the default
    assert params.multiplier(None) == 10_000
    # 1000 relays on 0021: coins = 4,000,000; fees trunc(11 %) = 440,000
    assert params.claim(1000, chain="0021") == S.ClaimReward(4_000_000, 3_560_000)
    assert params.claim(1000, chain="0001") == S.ClaimReward(10_000_000, 8_900_000)
    assert params.upokt_per_relay("0021") == Fraction(4_000 * 89, 100)
    assert params.upokt_per_relay() == Fraction(10_000 * 89, 100)


def test_morse_params_read_the_map_as_the_chain_serves_it():
    # x/nodes/types/params.go l. 72: json "relays_to_tokens_multiplier_map", map[string]int64
    # (amino JSON writes int64 as strings; /v1/query/allparams gives the raw store JSON).
    pos = {"relays_to_tokens_multiplier": "10000", "dao_allocation": "10", "proposer_allocation": "1",
           "relays_to_tokens_multiplier_map": {"0021": "4000", "0001": 7000}}
    params = MorseRewardParams.from_params(pos)
    assert params.multiplier("0021") == 4_000 and params.multiplier("0001") == 7_000
    assert MorseRewardParams.from_params({**pos, "relays_to_tokens_multiplier_map": '{"0021":"4000"}'}
                                         ).multiplier("0021") == 4_000
    for bad in ({"0021": "-1"}, {"0021": "x"}, {"0021": True}, ["0021"], '{"0021":'):
        with pytest.raises((ValueError, TypeError)):
            MorseRewardParams.from_params({**pos, "relays_to_tokens_multiplier_map": bad})


# --------------------------------------------------------------------------- Morse N < K
# pocket-core x/pocketcore/types/session.go NewSessionNodes l. 125-127: fewer nodes on the chain
# than SessionNodeCount is ErrInsufficientNodes: no session at all, so none of ours serves.


def test_morse_what_if_has_no_session_below_k():
    w = sessions_sim.what_if(protocol="morse", service="eth", N=3, K=5, current=1, extra=4, apps=2,
                  relays_per_session=100)
    by_m = {r["m"]: r for r in w.rows}
    for m in (1, 2, 3):                          # N_m = 3, 4, 5... only m = 3 reaches K = 5
        assert by_m[m]["N"] == 2 + m
    assert by_m[1]["p_session"] == 0.0 and by_m[1]["rewards_upokt_per_day"] == 0
    assert by_m[2]["p_session"] == 0.0 and by_m[2]["expected_per_session"] == 0.0
    assert by_m[3]["p_session"] == 1.0            # N_m == K: every node is in every session
    assert by_m[2]["marginal_p"] == 1.0           # the 5th node makes sessions possible
    # Shannon's hydrator takes every candidate when there are fewer than K (unchanged)
    shannon = sessions_sim.what_if(protocol="shannon", service="eth", N=3, K=5, current=1, extra=1, apps=2,
                        relays_per_session=100)
    assert shannon.rows[0]["p_session"] == 1.0


def test_morse_pick_does_not_count_sessions_that_cannot_exist():
    w = sessions_sim.what_if(protocol="morse", service="eth", N=1, K=5, current=0, extra=0, apps=1,
                  relays_per_session=1)
    assert sessions_sim.pick(w, target_share=0.5) == 4       # 4 of ours + 1 other = K: p = 1
    assert S.p_at_least_one(3, 5, 1, protocol="morse") == 0.0
    assert S.p_at_least_one(3, 5, 1) == 1.0
    assert S.expected_ours(3, 5, 2, protocol="morse") == 0.0


# --------------------------------------------------------------------------- strict hex
# Go's encoding/hex DecodeString (used by pocket-core x/pocketcore/types/crypto.go
# PubKeyVerification l. 76, HashVerification l. 90, NetworkIdentifierVerification l. 27, and
# types/address.go AddressFromHex l. 265) refuses any byte outside 0-9a-fA-F and odd lengths;
# Python's bytes.fromhex skips ASCII whitespace, and a regex's $ matches before a final newline.

GOOD_KEY = "ab" * 32
WHITESPACE = [" ", "\t", "\n", "\r", "\x0b", "\x0c"]


@pytest.mark.parametrize("ws", WHITESPACE)
def test_morse_session_key_refuses_whitespace(ws):
    hashed = "cd" * 32
    for pub, chain, block in ((GOOD_KEY[:-2] + ws + ws + GOOD_KEY[-2:], "0021", hashed),
                              (GOOD_KEY, "00" + ws + ws + "21", hashed),
                              (GOOD_KEY, "0021", hashed + ws + ws)):
        with pytest.raises(ValueError, match="hex"):
            S.morse_session_key(pub, chain, block)


@pytest.mark.parametrize("ws", WHITESPACE)
def test_morse_address_refuses_whitespace(ws):
    address = "a1" * 20
    assert morse_address_problem(address) is None
    assert morse_address_problem(address + ws) is not None
    assert morse_address_problem(address[:20] + ws + address[20:]) is not None


def test_shannon_block_hash_is_strict_hex_too():
    with pytest.raises(ValueError, match="hex"):
        S.shannon_session_id("ab" * 31 + "\nab", "eth", "pokt1x", 1)


@given(st.binary(max_size=40))
def test_hex_decode_round_trip(raw):
    assert A.hex_decode(raw.hex(), "x") == raw
    assert A.hex_decode(raw.hex().upper(), "x") == raw


@given(st.text(max_size=20))
def test_hex_decode_is_gos(text):
    go_ok = len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)
    if go_ok:
        assert A.hex_decode(text, "x") == bytes.fromhex(text)
    else:
        with pytest.raises(ValueError, match="x: "):
            A.hex_decode(text, "x")


def test_morse_adapter_refuses_a_node_address_that_is_not_hex():
    from fleetctl.pocket.http import QueryError
    from fleetctl.pocket.morse import _node_state

    node = {"address": "a1" * 20, "tokens": "1", "status": 2, "jailed": False}
    assert _node_state(node, "n").address == "a1" * 20
    for bad in ("a1" * 20 + "\n", " " + "a1" * 20, "a1" * 19, "zz" * 20):
        with pytest.raises(QueryError, match="address"):
            _node_state({**node, "address": bad}, "n")


# --------------------------------------------------------------------------- Shannon zero mint
# poktroll x/tokenomics/token_logic_module/tlm_relay_burn_equals_mint.go processTokenomicsMint
# l. 130-136: a mint that truncates to 0 is an error; ProcessTokenLogicModules
# (x/tokenomics/keeper/token_logic_modules.go l. 248-249) returns it and SettlePendingClaims
# (x/tokenomics/keeper/settle_pending_claims.go l. 154-164) discards the claim
# (EventClaimDiscarded): nothing is burned, minted or paid, the global-mint share included.


def test_shannon_claim_whose_mint_rounds_to_zero_pays_nothing():
    params = ShannonRewardParams(compute_units_to_tokens_multiplier=1, compute_unit_cost_granularity=1,
                                 mint_ratio=Fraction("0.5"), mint_equals_burn_supplier=Fraction("0.79"),
                                 global_inflation_per_claim=Fraction("0.1"),
                                 mint_allocation_supplier=Fraction("1"))
    assert params.claim(1) == S.ClaimReward(0, 0)     # settlement 1, minted floor(0.5) = 0
    # minted 1: the inflation share is paid (ceil(2 * 0.1) = 1, all of it to the supplier)
    assert params.claim(2) == S.ClaimReward(2, 0 + 1)


# --------------------------------------------------------------------------- RelayMiner on IPv6
# poktroll pkg/relayer/config: listen_url / backend_url are parsed with url.Parse and the
# metrics addr is given to net.Listen("tcp", addr) (host:port, IPv6 in brackets, as
# net.JoinHostPort writes it).

V6 = "fd00:213::11"


def _ipv6_vars() -> dict:
    from fleetctl.plan.diff import make_plan
    from fleetctl.plan.vars import host_vars
    from fleetctl.spec.loader import load_inventory
    return host_vars_for(load_inventory, make_plan, host_vars)


def host_vars_for(load_inventory, make_plan, host_vars) -> dict:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="fidelity-v6-"))
    try:
        shutil.copytree(LAB_INV, root / "inv")
        hosts = root / "inv" / "hosts.yml"
        hosts.write_text(hosts.read_text().replace("ansible_host: 10.213.0.11", f"ansible_host: '{V6}'"))
        fleet_yml = root / "inv" / "fleet.yml"
        fleet_yml.write_text(fleet_yml.read_text().replace("http://10.213.0.11:", f"http://[{V6}]:"))
        fleet = load_inventory(root / "inv")
        assert fleet.hosts["lab-h1"].address == V6
        plan = make_plan(fleet, offline=True)
        out, _ = host_vars(fleet, plan.placement)
        return out["lab-h1"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _render_relayminer(tmp: Path, fleet_relayminer: dict) -> dict:
    exe = Path(sys.executable).parent / "ansible-playbook"
    template = REPO / "playbooks/roles/relayminer/templates/config.yaml.j2"
    (tmp / "vars.yml").write_text(yaml.safe_dump({
        "fleet_relayminer": fleet_relayminer, "relayminer_home": "/home/pocket"}))
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [str(tmp / "vars.yml")],
             "tasks": [{"name": "render", "ansible.builtin.template": {
                 "src": str(template), "dest": str(tmp / "config.yaml"), "mode": "0644"}}]}]
    (tmp / "render.yml").write_text(yaml.safe_dump(play))
    env = {"PATH": f"{exe.parent}:/usr/bin:/bin", "HOME": str(tmp), "ANSIBLE_LOCAL_TEMP": str(tmp / "at"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    proc = subprocess.run([str(exe) if exe.exists() else "ansible-playbook", "-i", "localhost,",
                           str(tmp / "render.yml")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return yaml.safe_load((tmp / "config.yaml").read_text())


def _go_host_port(addr: str) -> tuple[str, int]:
    """net.SplitHostPort: an IPv6 host must be in brackets (a bare one has too many colons)."""
    if addr.startswith("["):
        host, _, port = addr[1:].partition("]:")
        assert host and port.isdigit(), addr
        return host, int(port)
    host, _, port = addr.rpartition(":")
    assert ":" not in host, f"{addr}: too many colons in address"
    return host, int(port)


def test_relayminer_config_for_an_ipv6_host(tmp_path):
    rm = _ipv6_vars()["fleet_relayminer"]
    for supplier in rm["suppliers"]:
        assert urlsplit(supplier["backend_url"]).hostname == V6, supplier
    config = _render_relayminer(tmp_path, rm)
    assert config["suppliers"], config
    import jsonschema

    from conftest import SHARED
    schema = SHARED / "pocket" / "poktroll-relayminer-config.schema.yaml"
    # The schema's metrics.addr pattern ^(:[0-9]+|[^:]+:[0-9]+)$ has no IPv6 form at all; the
    # RelayMiner itself (pkg/relayer/relayminer.go ServeMetrics l. 94) gives the addr to
    # net.Listen, which takes "[fd00:213::11]:9090" (checked below) and refuses it unbracketed.
    # The same for ping.addr (pkg/relayer/relayminer.go ServePing: net.Listen too).
    jsonschema.validate({**config, "metrics": {**config["metrics"], "addr": ":9090"},
                         "ping": {**config["ping"], "addr": ":8081"}},
                        yaml.safe_load(schema.read_text()))
    for supplier in config["suppliers"]:
        for key, url in (("listen_url", supplier["listen_url"]),
                         ("backend_url", supplier["service_config"]["backend_url"])):
            parts = urlsplit(url)
            assert parts.hostname == V6 and parts.port, (key, url)
    assert _go_host_port(config["metrics"]["addr"]) == (V6, rm["metrics_port"])
    assert _go_host_port(config["ping"]["addr"]) == (V6, rm["ping_port"])


def test_morse_chain_urls_for_an_ipv6_host(tmp_path):
    from fleetctl.plan.diff import make_plan
    from fleetctl.plan.vars import host_vars
    from fleetctl.spec.loader import load_inventory

    def load_morse(path):
        import hashlib
        import re

        text = (path / "fleet.yml").read_text().replace("protocol: shannon", "protocol: morse")
        text = text.replace("pocket:\n", "pocket:\n  rpc_url: http://10.213.0.1:8081\n", 1)
        text = re.sub(r"pokt1[0-9a-z]+", lambda m: hashlib.sha256(m[0].encode()).hexdigest()[:40], text)
        (path / "fleet.yml").write_text(text)
        return load_inventory(path)

    hv = host_vars_for(load_morse, make_plan, host_vars)
    assert hv["fleet_morse"]["chains"]
    for chain in hv["fleet_morse"]["chains"]:
        assert urlsplit(chain["url"]).hostname == V6 and urlsplit(chain["url"]).port, chain


def test_relayminer_config_for_an_ipv4_host_is_unchanged(tmp_path):
    from fleetctl.plan.diff import make_plan
    from fleetctl.plan.vars import host_vars
    from fleetctl.spec.loader import load_inventory

    fleet = load_inventory(LAB_INV)
    out, _ = host_vars(fleet, make_plan(fleet, offline=True).placement)
    rm = out["lab-h1"]["fleet_relayminer"]
    config = _render_relayminer(tmp_path, rm)
    assert config["metrics"]["addr"] == f"10.213.0.11:{rm['metrics_port']}"
    assert {s["listen_url"] for s in config["suppliers"]} == {f"http://10.213.0.11:{rm['port']}"}
    assert json.dumps(rm["suppliers"]).count("http://10.213.0.11:") == len(rm["suppliers"])


# --------------------------------------------------------------------------- the same through `fleetctl scale`


def _morse_scale(tmp_path: Path, node_params: list[dict], nodes: int = 0) -> tuple[dict, str]:
    from hostile_pocket_server import HostileChain, morse_address, write_inventory

    from conftest import run_cli

    ours = morse_address("fidelity-m")
    c = HostileChain("morse", [ours])
    try:
        c.routes["/v1/query/nodes"] = {"result": [], "page": 1, "total_pages": 1}
        c.routes["/v1/query/allparams"] = {"node_params": node_params, "app_params": [], "pocket_params": []}
        c.routes["/v1/query/apps"] = {"result": [], "total_apps": 4}
        inventory = write_inventory(tmp_path / "inv", c.url, [("s", ours)], protocol="morse")
        proc = run_cli("-i", str(inventory), "scale", "--service", "eth", "-o", "json", "--stake", "15000000000",
                       timeout=60, env={"FLEETCTL_STATE_DIR": str(tmp_path / "state")})
    finally:
        c.close()
    assert "Traceback" not in proc.stderr and proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.stderr


def test_scale_uses_the_relay_chains_multiplier(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "hostile"))
    doc, _ = _morse_scale(tmp_path, [
        {"param_key": "pos/RelaysToTokensMultiplier", "param_value": "10000"},
        {"param_key": "pos/RelaysToTokensMultiplierMap", "param_value": '{"0021":"4000","0001":"9"}'}])
    text = json.dumps(doc)
    assert Fraction(doc["upokt_per_relay"]) == Fraction(4000 * 89, 100), text[:2000]
    # no session below K on Morse: this fleet's 1 node of K = 5 earns nothing
    assert all(r["p_session"] == 0.0 and r["rewards_upokt_per_session"] == 0
               for r in doc["rows"] if r["N"] < doc["K"]), text[:2000]
    assert any(r["N"] < doc["K"] for r in doc["rows"]) and any(r["p_session"] == 1.0 for r in doc["rows"])


def test_scale_notes_a_bad_multiplier_map(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "hostile"))
    doc, err = _morse_scale(tmp_path, [
        {"param_key": "pos/RelaysToTokensMultiplierMap", "param_value": '{"0021":"-4"}'}])
    assert "RelaysToTokensMultiplierMap" in json.dumps(doc["chain"]["notes"]) + err
    assert Fraction(doc["upokt_per_relay"]) == Fraction(10_000 * 89, 100)


def test_inventory_morse_chain_id_is_strict_hex(tmp_path):
    """A regex's $ matched before the final newline of "0021\\n" (YAML's escape)."""
    from fleetctl.spec.errors import InventoryError
    from fleetctl.spec.loader import load_inventory

    chain_id = "0021\\n"

    shutil.copytree(LAB_INV, tmp_path / "inv")
    fleet_yml = tmp_path / "inv" / "fleet.yml"
    text = fleet_yml.read_text()
    assert 'morse_chain_id: "0021"' in text
    fleet_yml.write_text(text.replace('morse_chain_id: "0021"', f'morse_chain_id: "{chain_id}"'))
    with pytest.raises(InventoryError, match="morse_chain_id"):
        load_inventory(tmp_path / "inv")
