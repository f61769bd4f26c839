"""Supplier staking, the protocol part: stake configs, stake command lines, what a stake
transaction answered. No I/O here: ``fleetctl stake --batch`` (selection, the state store's batch
records, running the commands on a host, reading the chain back) is the workflow
:mod:`fleetctl.workflows.stake_batch`.

Shannon stake configs (the official format, ``poktroll-supplier_stake_config_example.yaml``,
checked as ``x/supplier/config/supplier_configs_reader.go`` reads it), one per supplier
    ``owner_address``, ``operator_address``, ``stake_amount`` (upokt), ``default_rev_share_percent``
    (``{owner: 100}``, or ``--rev-share ADDR=PCT,…`` summing to 100), and per service one
    endpoint, the RelayMiner of the supplier's host, ``JSON_RPC`` (:func:`render_config`).

Shannon command (:func:`stake_supplier_command`)
    ``<pocketd> tx supplier stake-supplier --config FILE --from <operator address>
    --keyring-backend test --home HOME --chain-id <pocket.chain_id> --node <pocket.node_rpc_url>
    --yes --output json [--fees F]``. The signer is the *operator*: poktroll's
    ``MsgStakeSupplier.ValidateBasic`` refuses a message with services that the operator does
    not sign ("only the operator account is authorized to update the service configurations"),
    and the signer's balance pays the stake (poktroll's supplier staking docs). Its outcome
    (:func:`tx_outcome`): the TxResponse on stdout, ``code`` 0 or why not.

Morse (:func:`morse_stake_command`): ``pocket nodes stake custodial <address> <amount> <chains>
<serviceURI> mainnet 10000 false`` (owner = operator or none), else ``pocket nodes stake
non-custodial <operator public key> <output address> …`` with the key read on the node
(``pocket accounts show``), as pocket-core's ``app/cmd/cli/stake.go`` takes them.

Nothing here reads, writes or prints a private key.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from fleetctl.core.errors import UserError
from fleetctl.spec.model import Supplier

__all__ = [
    "DEFAULT_HOME",
    "MORSE_FEE_UPOKT",
    "MORSE_NETWORK",
    "MORSE_RPC_PORT",
    "RELAYMINER_HOME",
    "RELAYMINER_VOLUME",
    "home_word",
    "morse_stake_command",
    "parse_rev_share",
    "parse_stake",
    "render_config",
    "shell",
    "stake_supplier_command",
    "tx_outcome",
]

DEFAULT_HOME = "~/.pocket"  # pocketd's own default home (app.DefaultNodeHome)
RELAYMINER_HOME = "/home/pocket/.pocket"  # the relayminer role's keyring (fleetctl scale's keys)
RELAYMINER_VOLUME = "fleet-relayminer-data:/home/pocket"
MORSE_NETWORK = "mainnet"
MORSE_FEE_UPOKT = 10_000  # pocket-core's default transaction fee (0.01 POKT)
from fleetctl.core.layout import MORSE_RPC_PORT  # noqa: E402  (pocket-core DefaultRPCPort: where a node serves relays)


# ----------------------------------------------------------------------------- inputs


def parse_stake(text: str) -> int:
    """``--stake``: "60000 POKT", "60000000000upokt" or an integer of upokt; UserError otherwise."""
    from fleetctl.core.units import parse_amount_option

    value = parse_amount_option(text)
    if not value:
        raise UserError(f"--stake: expected an amount above 0 such as \"60000 POKT\" or 60000000000 "
                        f"(upokt), got {text!r}")
    return value


def parse_rev_share(text: str) -> dict[str, int]:
    """``--rev-share ADDR=PCT,ADDR=PCT``: valid pokt addresses, whole percents summing to 100."""
    from fleetctl.spec.address import shannon_address_problem

    shares: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        address, sep, pct = part.partition("=")
        address = address.strip()
        if not sep or not pct.strip().isdigit():
            raise UserError(f"--rev-share: expected ADDRESS=PERCENT, got {part!r}")
        if problem := shannon_address_problem(address):
            raise UserError(f"--rev-share: {address}: {problem}")
        if address in shares:
            raise UserError(f"--rev-share: {address} is given twice")
        percent = int(pct)
        if not 0 < percent <= 100:
            raise UserError(f"--rev-share: {address}: {percent} is not between 1 and 100")
        shares[address] = percent
    if sum(shares.values()) != 100:
        raise UserError(f"--rev-share: the shares sum to {sum(shares.values())}, not 100")
    return shares


# ----------------------------------------------------------------------------- configs


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(text)


def render_config(supplier: Supplier, *, owner: str, stake_upokt: int, endpoint_url: str,
                  rev_share: Mapping[str, int], host: str) -> str:
    """The stake config of one supplier in the official format (deterministic: same input, same
    bytes, so its sha256 names the config)."""
    lines = [
        f"# fleetctl stake --batch: supplier {supplier.name}, served by the RelayMiner of {host}.",
        "# Stake it with: pocketd tx supplier stake-supplier --config THIS_FILE --from <operator>",
        f"owner_address: {owner}",
        f"operator_address: {supplier.operator_address}",
        f"stake_amount: {stake_upokt}upokt",
        "default_rev_share_percent:",
        *(f"  {address}: {pct}" for address, pct in rev_share.items()),
        "services:",
    ]
    for service in supplier.services:
        lines += [f"  - service_id: {_q(service)}",
                  "    endpoints:",
                  f"      - publicly_exposed_url: {_q(endpoint_url)}",
                  "        rpc_type: JSON_RPC"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- commands


def shell(parts: Sequence[str]) -> str:
    """``parts`` as one POSIX shell command line, each word quoted."""
    return " ".join(shlex.quote(p) for p in parts)


def home_word(home: str) -> str:
    """``--home``'s value for a POSIX shell: a leading ``~/`` is left for the shell to expand."""
    if home == "~":
        return "~"
    if home.startswith("~/"):
        return "~/" + shlex.quote(home[2:]) if home[2:] else "~/"
    return shlex.quote(home)


def stake_supplier_command(prefix: str, config: str, operator: str, *, home: str, chain_id: str,
                           node: str, fees: str | None) -> str:
    """``<prefix> tx supplier stake-supplier …``: ``prefix`` runs pocketd (already a shell
    fragment), ``home`` is a shell word (:func:`home_word`)."""
    head = shell(["tx", "supplier", "stake-supplier", "--config", config, "--from", operator,
                  "--keyring-backend", "test"])
    tail = ["--chain-id", chain_id, "--node", node, "--yes", "--output", "json"] + (["--fees", fees] if fees else [])
    return f"{prefix} {head} --home {home} {shell(tail)}"


def morse_stake_command(operator: str, owner: str, stake_upokt: int, chain_ids: Sequence[str],
                        service_uri: str) -> str:
    """``pocket nodes stake custodial|non-custodial …`` of one Morse node."""
    tail = [str(stake_upokt), ",".join(chain_ids), service_uri, MORSE_NETWORK, str(MORSE_FEE_UPOKT), "false"]
    if owner == operator:
        return shell(["pocket", "nodes", "stake", "custodial", operator, *tail])
    pubkey = (f'"$(pocket accounts show {shlex.quote(operator)} '
              "| awk '/^Public Key:/ {print $3}')\"")
    return f"pocket nodes stake non-custodial {pubkey} " + shell([owner, *tail])


# ----------------------------------------------------------------------------- outcomes


def tx_outcome(res: Mapping[str, Any], ok: bool) -> tuple[str | None, str | None]:
    """(txhash, error) of one stake command's result: the TxResponse on stdout, else why not."""
    stdout = str(res.get("stdout") or "")
    tx: dict[str, Any] | None = None
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                candidate = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(candidate, dict) and "txhash" in candidate:
                tx = candidate
                break
    txhash = str(tx["txhash"]) if tx and tx.get("txhash") else None
    if ok and tx is not None and tx.get("code") == 0:
        return txhash, None
    if tx is not None and tx.get("code") not in (0, None):
        log = " ".join(str(tx.get("raw_log") or "").split())
        return txhash, f"the chain refused it (code {tx.get('code')}, {tx.get('codespace') or '-'}): {log}"[:400]
    stderr = [ln.strip() for ln in str(res.get("stderr") or "").splitlines() if ln.strip()]
    reason = stderr[-1] if stderr else str(res.get("msg") or "no TxResponse in its output")
    rc = res.get("rc")
    return txhash, (f"exit {rc}: {reason}" if rc not in (None, 0) else reason)[:400]
