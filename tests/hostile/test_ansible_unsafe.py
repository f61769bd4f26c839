"""What fleetctl writes for Ansible is data, never a template.

fleet.yml, the chain and the hosts themselves are not Ansible's to template: a
``{{ lookup('pipe', …) }}`` in ``pocket.node_rpc_url`` once went verbatim into the variables file
that ``apply`` and ``plan --vars-out`` hand to Ansible, and ran on the controller when Ansible
read it. Here the attacker writes such lookups (each one would create its own
``/tmp/PWNED-<random>-<field>`` file) into every fleet.yml field that reaches the playbooks, then:

* ``fleetctl plan --offline --vars-out`` and a real ``ansible-playbook`` (local connection) that
  prints the variables, renders the roles' real templates (RelayMiner config, HAProxy config)
  with them and includes roles by a name read from them, as playbooks/site.yml does;
* ``stake --batch``'s path: the real ``playbooks/stake.yml`` through ``run_playbooks``
  (ansible-runner, local connection) with the stake commands fleetctl builds (``--chain-id``,
  ``--node``), run by a stand-in pocketd that records its arguments;
* hypothesis: any structure of strings written by :func:`write_vars_inventory` and read back the
  way Ansible reads inventory files (trusted) comes out of Ansible's own templar unchanged.

Every case checks that no PWNED file appeared and that the values came back literally.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, run_cli
from fleetctl.provision.apply import write_vars_inventory

PLAYBOOKS = REPO / "playbooks"
OPERATOR = "pokt1e8ksudsrczj875u87wzmn6t2639qhmhlwk3re2"
OWNER = "pokt1r4r48cpagsclw3qvr3wx8fjrcppu4scan5rph0"


def lookup(tag: str, quote: str = "'") -> str:
    """A template that creates /tmp/PWNED-<tag> when Ansible renders it (no spaces: URLs refuse
    them; double quotes survive the shell quoting of a stake command)."""
    return f"{{{{lookup({quote}pipe{quote},{quote}touch${{IFS}}/tmp/PWNED-{tag}{quote})}}}}"


@pytest.fixture
def token() -> Any:
    tag = secrets.token_hex(6)
    yield tag
    for path in Path("/tmp").glob(f"PWNED-{tag}*"):
        path.unlink()


def pwned(tag: str) -> list[str]:
    return sorted(p.name for p in Path("/tmp").glob(f"PWNED-{tag}*"))


def ansible_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def inventory(root: Path, tag: str, *, pocketd: str | None = None) -> Path:
    """A one-host inventory (local connection) whose fleet.yml carries a lookup in every field
    that reaches the playbooks and passes validation."""
    root.mkdir(parents=True, exist_ok=True)
    host_vars = {"ansible_host": "127.0.0.1"}
    if pocketd:
        host_vars["fleet_pocketd"] = pocketd
    (root / "hosts.yml").write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "fleet_capacity": {"cpus": 64, "memory_gb": 512, "disk_gb": 20000}},
        "hosts": {"rm-1": host_vars}}}, indent=1))
    (root / "fleet.yml").write_text(json.dumps({
        "protocol": "shannon",
        "pocket": {"rest_url": "http://127.0.0.1:9/",
                   "node_rpc_url": "tcp://127.0.0.1:26657/" + lookup(f"{tag}-node_rpc_url"),
                   "grpc_url": "tcp://127.0.0.1:9090/" + lookup(f"{tag}-grpc_url"),
                   "chain_id": lookup(f"{tag}-chain_id", '"')},
        "chains": {"eth": {"clients": ["geth", "nethermind"], "replicas": 2, "max_client_share": 0.5}},
        "suppliers": [{"name": "sup-1", "operator_address": OPERATOR, "owner_address": OWNER,
                       "services": ["eth"], "host": "rm-1"}],
        "profiles": {c: {"full": {"cpus": 0.25, "memory_gb": 0.25, "disk_gb": 1}} for c in ("geth", "nethermind")},
    }, indent=1))
    return root


READ_PLAYBOOK = """
- hosts: all
  gather_facts: false
  vars_files:
    - {defaults}
  tasks:
    - name: The variables as Ansible reads them
      ansible.builtin.copy:
        content: "{{{{ {{'relayminer': fleet_relayminer, 'balancers': fleet_balancers, 'nodes': fleet_nodes}} | to_json }}}}"
        dest: "{out}/read.json"
        mode: "0600"
    - name: The RelayMiner role's own template
      ansible.builtin.template:
        src: {playbooks}/roles/relayminer/templates/config.yaml.j2
        dest: "{out}/relayminer.yaml"
        mode: "0600"
    - name: The balancer role's own template
      ansible.builtin.template:
        src: {playbooks}/roles/balancer/templates/haproxy.cfg.j2
        dest: "{out}/haproxy-{{{{ fleet_balancer.name }}}}.cfg"
        mode: "0600"
      loop: "{{{{ fleet_balancers }}}}"
      loop_control:
        loop_var: fleet_balancer
    - name: A role picked by a name read from the variables (as site.yml picks a node's client)
      ansible.builtin.include_role:
        name: "{{{{ fleet_node.client }}}}"
      loop: "{{{{ fleet_nodes }}}}"
      loop_control:
        loop_var: fleet_node
"""


def test_plan_vars_out_then_ansible_reads_every_value_literally(tmp_path: Path, token: str) -> None:
    inv = inventory(tmp_path / "inv", token)
    vars_file = tmp_path / "vars.yml"
    proc = run_cli("-i", str(inv), "plan", "--offline", "--vars-out", str(vars_file))
    assert proc.returncode == 0, proc.stderr
    assert pwned(token) == []
    assert stat.S_IMODE(vars_file.stat().st_mode) == 0o600

    out = tmp_path / "out"
    out.mkdir()
    roles = tmp_path / "roles"
    for client in ("geth", "nethermind"):  # stand-ins for the node roles (which need Docker)
        (roles / client / "tasks").mkdir(parents=True)
        (roles / client / "tasks" / "main.yml").write_text(
            "- ansible.builtin.copy: {content: '{{ fleet_node | to_json }}', dest: '%s/node-{{ fleet_node.name }}.json',"
            " mode: '0600'}\n" % out)
    # The roles' defaults, as play vars: without the variables fleetctl writes (play vars
    # would override the inventory's, where role defaults give way to them).
    defaults: dict[str, Any] = {}
    for role in ("fleet", "relayminer", "balancer"):
        defaults.update(yaml.safe_load((PLAYBOOKS / "roles" / role / "defaults" / "main.yml").read_text()) or {})
    written = yaml.safe_load(vars_file.read_text().replace("!unsafe ", ""))["all"]["hosts"]["rm-1"]
    (tmp_path / "defaults.yml").write_text(json.dumps({k: v for k, v in defaults.items() if k not in written}))
    playbook = tmp_path / "read.yml"
    playbook.write_text(READ_PLAYBOOK.format(playbooks=PLAYBOOKS, out=out, defaults=tmp_path / "defaults.yml"))
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(roles), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    run = subprocess.run([ansible_bin("ansible-playbook"), "-i", str(inv / "hosts.yml"), "-i", str(vars_file),
                          str(playbook)], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert pwned(token) == [], run.stdout[-3000:]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]

    read = json.loads((out / "read.json").read_text())
    node_rpc = "tcp://127.0.0.1:26657/" + lookup(f"{token}-node_rpc_url")
    grpc = "tcp://127.0.0.1:9090/" + lookup(f"{token}-grpc_url")
    assert read["relayminer"]["pocket_node"] == {"query_node_rpc_url": node_rpc, "query_node_grpc_url": grpc,
                                                 "tx_node_rpc_url": node_rpc}
    assert read["relayminer"]["signing_key_names"] == ["sup-1"]
    assert {n["client"] for n in read["nodes"]} == {"geth", "nethermind"}
    config = (out / "relayminer.yaml").read_text()
    assert json.dumps(node_rpc.replace("tcp://", "http://", 1)) in config
    assert json.dumps(grpc.replace("tcp://", "http://", 1)) in config
    assert "server eth-geth-1 127.0.0.1:8545" in (out / "haproxy-lb-eth.cfg").read_text()
    assert sorted(p.name for p in out.glob("node-*.json")) == ["node-eth-geth-1.json", "node-eth-nethermind-1.json"]


def test_stake_playbook_runs_the_commands_with_chain_values_as_data(tmp_path: Path, token: str) -> None:
    """``stake --batch --execute``'s path: the commands fleetctl builds carry pocket.chain_id and
    pocket.node_rpc_url; playbooks/stake.yml runs them through ansible-runner."""
    from fleetctl.workflows.stake_batch import stake_command
    from fleetctl.progress import Progress
    from fleetctl.provision.apply import run_playbooks
    from fleetctl.spec.loader import load_inventory

    record = tmp_path / "argv.json"
    pocketd = tmp_path / "pocketd"
    pocketd.write_text(f"#!{sys.executable}\nimport json, sys\n"
                       f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
                       "print(json.dumps({'code': 0, 'txhash': 'AB12'}))\n")
    pocketd.chmod(0o755)
    fleet = load_inventory(inventory(tmp_path / "inv", token, pocketd=str(pocketd)))
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "sup-1.yaml").write_text("owner_address: x\n")
    remote = tmp_path / "remote"
    cmd = stake_command(fleet, "rm-1", f"{remote}/sup-1.yaml", OPERATOR, keyring="host", home=str(tmp_path / "home"),
                        fees=None)
    variables = {"rm-1": {"fleet_stake_local_dir": str(stage), "fleet_stake_remote_dir": str(remote),
                          "fleet_stake_items": [{"name": "sup-1", "operator_address": OPERATOR,
                                                 "config": f"{remote}/sup-1.yaml", "cmd": cmd}]}}
    result = run_playbooks(fleet, variables, limit=["rm-1"], playbook="stake.yml",
                           progress=Progress(["rm-1"], quiet=True), strategy="default")
    assert pwned(token) == []
    assert not result.failed_hosts, result.as_dict()
    argv = json.loads(record.read_text())
    assert argv[argv.index("--chain-id") + 1] == lookup(f"{token}-chain_id", '"')
    assert argv[argv.index("--node") + 1] == "tcp://127.0.0.1:26657/" + lookup(f"{token}-node_rpc_url")


@pytest.mark.parametrize("field,value", [
    ("name", "{{lookup('pipe','touch${IFS}/tmp/PWNED-%s-name')}}"),
    ("operator_address", "{{lookup('pipe','touch${IFS}/tmp/PWNED-%s-operator')}}"),
    ("services", ["{{lookup('pipe','touch${IFS}/tmp/PWNED-%s-service')}}"]),
])
def test_a_template_in_a_supplier_field_is_refused_at_validation(tmp_path: Path, token: str, field: str,
                                                                 value: Any) -> None:
    """Supplier fields are names, addresses and chain names: a template is not one of them."""
    inv = inventory(tmp_path / "inv", "unused")
    fleet = json.loads((inv / "fleet.yml").read_text())
    fleet["suppliers"][0][field] = [v % token for v in value] if isinstance(value, list) else value % token
    (inv / "fleet.yml").write_text(json.dumps(fleet, indent=1))
    proc = run_cli("-i", str(inv), "plan", "--offline", "--vars-out", str(tmp_path / "vars.yml"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"suppliers[0].{field}" in proc.stderr or "suppliers" in proc.stderr
    assert not (tmp_path / "vars.yml").exists()
    assert pwned(token) == []


# ----------------------------------------------------------------------------- any structure

ATOMS = ["{{", "}}", "{%", "%}", "{#", "#}", " 7*7 ", "lookup('pipe','id')", "'", '"', "\\", ":", "- ", "#",
         "\n", "\t", "null", "true", "0x1F", "~", "&a", "*a", "!unsafe ", "é", "€", "\u2028", "${IFS}", "0021", "=",
         "<<", "1e3", "2024-01-01", "yes", "on", ".inf", "-", "?", "[", "]", ","]
texts = st.lists(st.sampled_from(ATOMS) | st.text(alphabet="abc{}%#-_ ", max_size=4), max_size=6).map("".join)
leaves = st.one_of(texts, st.integers(-10**6, 10**6), st.booleans(), st.none())
trees = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(texts, inner, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(variables=st.dictionaries(st.sampled_from(["fleet_nodes", "fleet_relayminer", "fleet_remove", "fleet_x"]),
                                 trees, min_size=1, max_size=3))
def test_any_strings_written_come_back_from_ansibles_templar_unchanged(variables: dict[str, Any]) -> None:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    with tempfile.TemporaryDirectory() as tmp:
        path = write_vars_inventory(Path(tmp) / "vars.yml", {"rm-1": variables})
        loader = DataLoader()
        # As Ansible reads an inventory or vars file: its strings are trusted as templates
        # unless tagged !unsafe.
        data = loader.load_from_file(str(path), trusted_as_template=True)
        read = data["all"]["hosts"]["rm-1"]
        assert read == variables
        templar = Templar(loader=loader, variables={})
        assert templar.template(read) == variables
