"""The inventory loader on good and bad inventories: every error is one FILE:LINE:COL line."""

from __future__ import annotations

import dataclasses
import textwrap
import time
from pathlib import Path

import pytest

from fleetctl.spec.errors import InventoryError
from fleetctl.spec.loader import load_inventory, parse_amount
from fleetctl.spec.model import Margin

from conftest import EXAMPLE, LAB_INV

HOSTS = """\
all:
  hosts:
    h1: {ansible_host: 10.0.0.1}
    h2: {ansible_host: 10.0.0.2, fleet_capacity: {cpus: 8, memory_gb: 32, disk_gb: 2000}}
"""
A1 = "pokt1e8ksudsrczj875u87wzmn6t2639qhmhlwk3re2"
A2 = "pokt14we02e5vz9akwxdh5rfg3emm5nlx7p2tlchmp6"
OWNER = "pokt1r4r48cpagsclw3qvr3wx8fjrcppu4scan5rph0"
FLEET = f"""\
pocket:
  rest_url: http://127.0.0.1:1317
chains:
  eth:
    clients: [geth, nethermind, erigon]
    replicas: 3
suppliers:
  - operator_address: {A1}
    services: [eth]
"""


def inv(tmp_path: Path, fleet: str = FLEET, hosts: str = HOSTS, extra: dict[str, str] | None = None) -> Path:
    (tmp_path / "fleet.yml").write_text(textwrap.dedent(fleet))
    (tmp_path / "hosts.yml").write_text(textwrap.dedent(hosts))
    for name, text in (extra or {}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    return [str(dataclasses.replace(e, file=Path(e.file).name)) for e in exc.value.errors]


def test_shipped_inventories_load():
    example = load_inventory(EXAMPLE)
    assert len(example.hosts) >= 6 and len(example.suppliers) >= 20
    assert {c for ch in example.chains.values() for c in ch.clients} == {"geth", "nethermind", "erigon"}
    assert all(h.address.endswith(".example") for h in example.hosts.values())
    # group_vars/relayminers.yml gives the relay miners their capacity
    assert example.hosts["rm-fra-1"].capacity.cpus == 8
    assert example.hosts["el-hel-1"].port == 2222
    assert sum(1 for s in example.suppliers if s.planned) == 4
    lab = load_inventory(LAB_INV)
    assert sorted(lab.hosts) == ["lab-h1", "lab-h2", "lab-h3"]
    assert lab.hosts["lab-h1"].known_hosts == "/var/lib/fleetctl-lab/ssh/known_hosts"
    assert lab.hosts["lab-h1"].identity_file == "/var/lib/fleetctl-lab/ssh/id_ed25519"
    # each lab host: an adopted execution front and the consensus front that drives it
    assert len(lab.endpoints) == 6
    eth = lab.chains["eth"]
    assert [e.name for e in eth.execution_endpoints] == ["lab-h1-geth", "lab-h2-nethermind", "lab-h3-erigon"]
    assert {e.name: e.pair for e in eth.consensus_endpoints} == {
        "lab-h1-lighthouse": "lab-h1-geth", "lab-h2-prysm": "lab-h2-nethermind", "lab-h3-teku": "lab-h3-erigon"}
    assert eth.consensus_clients == ("nimbus", "lodestar") and eth.erigon_consensus == "caplin"
    # the example shows every option of the consensus layer, with .example hosts only
    ex = example.chains["eth"]
    assert ex.checkpoint_sync_url and ".example" in ex.checkpoint_sync_url
    assert ex.consensus_endpoints and example.chains["gnosis"].erigon_consensus == "external"


def test_minimal_inventory_defaults(tmp_path):
    fleet = load_inventory(inv(tmp_path))
    assert fleet.protocol == "shannon"
    eth = fleet.chains["eth"]
    assert eth.max_client_share == 0.34 and eth.mode == "full" and eth.endpoints == ()
    assert fleet.hosts["h1"].port == 22 and fleet.hosts["h1"].user == "root"
    assert fleet.hosts["h2"].capacity.disk_gb == 2000
    assert fleet.suppliers[0].operator_address == A1 and not fleet.suppliers[0].planned


def test_path_to_a_file_names_its_folder(tmp_path):
    root = inv(tmp_path)
    assert load_inventory(root / "fleet.yml").root == root


@pytest.mark.parametrize(
    "fleet, expected",
    [
        (FLEET.replace("replicas: 3", "replicas: three"), "fleet.yml:6:15: chains.eth.replicas: expected an integer, got the string 'three'"),
        (FLEET.replace("replicas: 3", "replicas: -1"), "fleet.yml:6:15: chains.eth.replicas: -1 is out of range (must be between 0 and 1000)"),
        (FLEET.replace("replicas: 3", "replicas: 3\n    max_client_shares: 0.5"), "fleet.yml:7:5: chains.eth.max_client_shares: unknown key (did you mean 'max_client_share'?)"),
        (FLEET.replace("replicas: 3", "replicas: 3\n    max_client_share: 1.5"), "fleet.yml:7:23: chains.eth.max_client_share: 1.5 is out of range (must be > 0 and <= 1)"),
        (FLEET.replace("replicas: 3", "replicas: 3\n    max_client_share: 0"), "fleet.yml:7:23: chains.eth.max_client_share: 0 is out of range (must be > 0 and <= 1)"),
        (FLEET.replace("geth, nethermind", "geth, besu"), "fleet.yml:5:21: chains.eth.clients[1]: 'besu' is not one of: geth, nethermind, erigon"),
        (FLEET.replace("geth, nethermind", "geth, geth"), "fleet.yml:5:21: chains.eth.clients[1]: 'geth' is listed twice"),
        (FLEET.replace("replicas: 3", "replicas: 3\n    morse_chain_id: 0021"), 'fleet.yml:7:21: chains.eth.morse_chain_id: must be a quoted 4-digit string such as "0021" (unquoted, YAML reads a number)'),
        (FLEET.replace("replicas: 3", "replicas: 3\n    mode: archival"), "fleet.yml:7:11: chains.eth.mode: 'archival' is not one of: full, archive"),
        (FLEET.replace(A1, A1[:-1] + "3"), f"fleet.yml:8:23: suppliers[0].operator_address: invalid shannon address '{A1[:-1]}3': bad bech32 checksum (a typo in the address?)"),
        (FLEET.replace(A1, "cosmos1e8ksudsrczj875u87wzmn6t2639qhmhlwk3re2"), "fleet.yml:8:23: suppliers[0].operator_address: invalid shannon address 'cosmos1e8ksudsrczj875u87wzmn6t2639qhmhlwk3re2': bad bech32 checksum (a typo in the address?)"),
        (FLEET.replace("services: [eth]", "services: [eht]"), "fleet.yml:9:16: suppliers[0].services[0]: no chain 'eht' under 'chains' (defined: eth)"),
        (FLEET.replace("services: [eth]", "services: []"), "fleet.yml:9:15: suppliers[0].services: must not be empty"),
        (FLEET.replace("services: [eth]", "services: [eth]\n    host: h9"), "fleet.yml:10:11: suppliers[0].host: no host 'h9' in hosts.yml"),
        (FLEET.replace("    services: [eth]", "    services: [eth]\n  - operator_address: " + A1 + "\n    services: [eth]"), f"fleet.yml:10:23: suppliers[1].operator_address: {A1} appears twice (first at line 8)"),
        (FLEET.replace("  - operator_address: " + A1, "  - services_: x\n    operator_address: " + A1), "fleet.yml:8:5: suppliers[0].services_: unknown key (did you mean 'services'?)"),
        (FLEET.replace("  rest_url: http://127.0.0.1:1317", "  rest_url: 127.0.0.1:1317"), "fleet.yml:2:13: pocket.rest_url: '127.0.0.1:1317' is not a valid URL (expected http/https://HOST[:PORT])"),
        (FLEET.replace("pocket:\n  rest_url: http://127.0.0.1:1317\n", ""), "fleet.yml:1:1: pocket: required: where to read the chain ('pocket: {rest_url: URL}')"),
        (FLEET.replace("pocket:", "protocol: shanon\npocket:"), "fleet.yml:1:11: protocol: 'shanon' is not one of: shannon, morse"),
        (FLEET + "stake:\n  warning_margin: 5 apples\n", "fleet.yml:11:19: stake.warning_margin: expected an amount (\"5000 POKT\", \"5000000000upokt\", an integer of upokt) or a percentage of the minimum stake (\"10%\"), got the string '5 apples'"),
        (FLEET + "stake:\n  warning_margin: 1%\n  critical_margin: 5%\n", "fleet.yml:11:19: stake.warning_margin: 1% is below critical_margin 5% (WARNING must come before CRITICAL)"),
        (FLEET + "stakes: {}\n", "fleet.yml:10:1: stakes: unknown key (did you mean 'stake'?)"),
        (FLEET.replace("suppliers:\n", "suppliers:\n  - count: 0\n    services: [eth]\n"), "fleet.yml:8:12: suppliers[0].count: 0 is out of range (must be between 1 and 10000)"),
        (FLEET.replace("suppliers:\n", "suppliers:\n  - count: 2\n    operator_address: " + A2 + "\n    services: [eth]\n"), "fleet.yml:9:5: suppliers[0].operator_address: unknown key (did you mean 'owner_address'?)"),
        (FLEET.replace("    clients: [geth, nethermind, erigon]\n", "    clients: [geth, nethermind, erigon]\n    endpoints:\n      - {name: old, url: 'ftp://x', client: geth, host: h1}\n"), "fleet.yml:7:26: chains.eth.endpoints[0].url: 'ftp://x' is not a valid URL (expected http/https://HOST[:PORT])"),
        (FLEET.replace("    clients: [geth, nethermind, erigon]\n", "    clients: [geth, nethermind, erigon]\n    endpoints:\n      - {name: old, url: 'http://x:8545', client: parity}\n"), "fleet.yml:7:51: chains.eth.endpoints[0].client: 'parity' is not one of: geth, nethermind, erigon, besu, reth (execution) or lighthouse, prysm, teku, nimbus, lodestar, caplin, grandine (consensus)"),
        ("chains: [eth]\n", "fleet.yml:1:9: chains: expected a mapping, got a list"),
        ("- just\n- a list\n", "fleet.yml:1:1: expected a mapping, got a list"),
        ("chains: {eth: {clients: [geth], replicas: 1}\n", "fleet.yml:2:1: invalid YAML: did not find expected ',' or '}'"),
        ("a: 1\na: 2\n", "fleet.yml:2:1: duplicate key 'a' (first at line 1)"),
    ],
)
def test_bad_fleet(tmp_path, fleet, expected):
    errs = errors_of(inv(tmp_path, fleet))
    assert expected in errs, errs


def test_morse_rules(tmp_path):
    fleet = FLEET.replace("pocket:\n  rest_url: http://127.0.0.1:1317", "protocol: morse\npocket:\n  rpc_url: http://127.0.0.1:8081")
    errs = errors_of(inv(tmp_path, fleet))
    assert any("chains.eth.morse_chain_id: required with protocol morse" in e for e in errs), errs
    assert any("suppliers[0].operator_address: invalid morse address" in e for e in errs), errs
    ok = fleet.replace("replicas: 3", 'replicas: 3\n    morse_chain_id: "0021"').replace(A1, "A" * 40)
    loaded = load_inventory(inv(tmp_path, ok))
    assert loaded.protocol == "morse" and loaded.suppliers[0].operator_address == "a" * 40


def test_one_bad_chain_does_not_cascade(tmp_path):
    errs = errors_of(inv(tmp_path, FLEET.replace("replicas: 3", "replicas: x")))
    assert len(errs) == 1, errs


def test_count_form(tmp_path):
    fleet = FLEET + f"  - count: 3\n    name_prefix: eth-new\n    owner_address: {OWNER}\n    services: [eth]\n    host: h2\n"
    loaded = load_inventory(inv(tmp_path, fleet))
    planned = [s for s in loaded.suppliers if s.planned]
    assert [s.name for s in planned] == ["eth-new-1", "eth-new-2", "eth-new-3"]
    assert all(s.host == "h2" and s.owner_address == OWNER for s in planned)


@pytest.mark.parametrize(
    "hosts, expected",
    [
        (HOSTS.replace("fleet_capacity", "fleet_capacty"), "hosts.yml:4:49: h2.fleet_capacty: unknown fleetctl variable (did you mean 'fleet_capacity'?)"),
        (HOSTS.replace("cpus: 8", "cpus: -8"), "hosts.yml:4:57: h2.fleet_capacity.cpus: -8 is out of range (must be > 0 and <= 4096)"),
        (HOSTS.replace("disk_gb: 2000", "disk: 2000"), "hosts.yml:4:75: h2.fleet_capacity.disk: unknown key (did you mean 'disk_gb'?)"),
        (HOSTS.replace("ansible_host: 10.0.0.1", "ansible_host: 10.0.0.1, ansible_port: 70000"), "hosts.yml:3:48: h1.ansible_port: 70000 is out of range (must be between 1 and 65535)"),
        (HOSTS.replace("  hosts:", "  host:"), "hosts.yml:2:3: all.host: unknown key (did you mean 'hosts'?)"),
        ("all:\n  hosts:\n    h1: [1, 2]\n", "hosts.yml:3:9: all.hosts.h1: expected the host's variables as a mapping, got a list"),
    ],
)
def test_bad_hosts(tmp_path, hosts, expected):
    errs = errors_of(inv(tmp_path, hosts=hosts))
    assert expected in errs, errs


def test_group_and_host_vars_precedence(tmp_path):
    hosts = """\
    all:
      vars: {ansible_user: base, ansible_port: 2200}
      children:
        web:
          vars: {ansible_user: web}
          hosts:
            h1: {ansible_host: 10.0.0.1}
            h2: {ansible_host: 10.0.0.2, ansible_user: inline}
    """
    extra = {
        "group_vars/all.yml": "fleet_capacity: {cpus: 1, memory_gb: 1, disk_gb: 1}\n",
        "group_vars/web/ssh.yml": "ansible_ssh_common_args: '-o UserKnownHostsFile=/etc/fleet/known_hosts'\n",
        "host_vars/h2.yml": "ansible_port: 2222\nansible_become_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
    }
    fleet = load_inventory(inv(tmp_path, hosts=hosts, extra=extra))
    h1, h2 = fleet.hosts["h1"], fleet.hosts["h2"]
    assert (h1.user, h1.port, h1.groups) == ("web", 2200, ("web",))
    assert (h2.user, h2.port) == ("inline", 2222)
    assert h1.known_hosts == "/etc/fleet/known_hosts" and h1.capacity.cpus == 1
    assert "6162" not in repr(h2.vars["ansible_become_password"])


def test_vars_file_for_unknown_group_is_an_error(tmp_path):
    errs = errors_of(inv(tmp_path, extra={"group_vars/relayminer.yml": "x: 1\n"}))
    assert any("relayminer.yml:1:1: no group named 'relayminer' in hosts.yml" in e for e in errs), errs


def test_missing_files(tmp_path):
    (tmp_path / "fleet.yml").write_text(FLEET)
    errs = errors_of(tmp_path)
    assert any("hosts.yml" in e and "missing" in e for e in errs), errs
    errs = errors_of(tmp_path / "nope")
    assert any("not an inventory folder" in e for e in errs), errs


def test_hostile_yaml_refused_fast(tmp_path):
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
    )
    cases = {
        "custom tag": ("x: !!python/object/apply:os.system ['true']\n", "is not allowed (plain YAML only)"),
        "local tag": ("x: !include other.yml\n", "tag '!include' is not allowed"),
        "alias bomb": (bomb, "alias bomb"),
        "merge bomb": ("b: &b {}\n" + "".join(f"m{i}: &m{i} {{<<: [{', '.join(['*' + ('b' if i == 1 else f'm{i-1}')] * 8)}]}}\n" for i in range(1, 9)), "alias bomb"),
        "deep nesting": ("x: " + "[" * 100_000 + "\n", "nesting deeper than 64 levels"),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / "fleet.yml").write_text(text)
        (tmp_path / "hosts.yml").write_text(HOSTS)
        t0 = time.monotonic()
        errs = errors_of(tmp_path)
        assert time.monotonic() - t0 < 5, name  # a guard against hangs, not a benchmark
        assert any(expected in e for e in errs), (name, errs)


def test_big_file_refused_from_its_size(tmp_path):
    root = inv(tmp_path)
    with open(root / "fleet.yml", "wb") as fh:
        fh.truncate(6 * 1024 * 1024)
    errs = errors_of(root)
    assert any("more than the 4194304-byte limit" in e for e in errs), errs


def test_not_utf8(tmp_path):
    root = inv(tmp_path)
    (root / "fleet.yml").write_bytes(b"chains: \xff\xfe\n")
    assert any("not UTF-8" in e for e in errors_of(root))


def test_amounts_and_margins():
    assert parse_amount("59,500 POKT") == 59_500_000_000
    assert parse_amount("0.000001 POKT") == 1
    assert parse_amount("0.0000001 POKT") is None
    assert parse_amount("10upokt") == 10
    assert parse_amount(12) == 12 and parse_amount(-1) is None and parse_amount(True) is None
    assert Margin(percent=10).of(59_500_000_000) == 5_950_000_000
    assert Margin(percent=3.33).of(100) == 4  # rounds up: never optimistic
    assert Margin(upokt=7).of(10**12) == 7


def test_many_suppliers_load_quickly(tmp_path):
    """10,000 suppliers stay under the size limit and load (a hang guard, not a benchmark)."""
    from fleetctl.spec.address import bech32_encode
    import hashlib

    lines = [FLEET.split("suppliers:")[0] + "suppliers:"]
    for i in range(10_000):
        a = bech32_encode("pokt", hashlib.sha256(str(i).encode()).digest()[:20])
        lines.append(f"  - {{operator_address: {a}, services: [eth], host: h{1 + i % 2}}}")
    root = inv(tmp_path, "\n".join(lines) + "\n")
    fleet = load_inventory(root)
    assert len(fleet.suppliers) == 10_000
