"""``fleetctl stake --batch``: stake every supplier of the inventory the chain does not know yet.

Staking a hundred suppliers by hand is a hundred files and a hundred commands (poktroll issue
#1292); this writes the files, gives the commands, and runs them on a host when told to. The
protocol part (the config format, the command lines, a transaction's outcome) is
:mod:`fleetctl.pocket.staking`; this module is the job.

The job (the :mod:`fleetctl.workflows` contract)
    :func:`prepare` reads the chain, the state store and the preflight, and says what would be
    staked, with each config's text and command: nothing is written, sent or recorded.
    :func:`write_configs` writes the configs (the dry run's only effect). :func:`execute` sends
    the ``to_stake`` entries from ``options.host``, reporting each supplier as typed events
    (:class:`~fleetctl.core.events.StepStarted`/``StepFinished`` per supplier, ``Progress``,
    ``Warn``); a :class:`~fleetctl.core.events.CancelToken` stops it *between* suppliers, never
    in the middle of a transaction: a command that started runs to its end, is recorded and read
    back; those after it are not sent (``not_attempted``, reason "not attempted (cancelled)") and
    the report says ``cancelled``. :func:`run_batch` is the three in a row, as the CLI runs them.

Selection
    The suppliers of fleet.yml with an operator address (``--only NAME,…`` narrows them),
    read through the stake monitor's adapter (:func:`fleetctl.pocket.stakes.adapter_for`,
    :meth:`~fleetctl.pocket.base.PocketAdapter.read_suppliers`): ``NOT_FOUND`` ones are staked;
    staked, unbonding or unstaked ones are left alone; one the chain could not be read for is
    reported and never staked blind.

Shannon stake configs, one per supplier, ``<out>/<name>.yaml``, 0644 (no secret in them), written
atomically: ``owner_address`` (fleet.yml's, else the operator: custodial), ``operator_address``,
``stake_amount`` (``--stake``, else the chain's ``min_stake`` plus the fleet's warning margin plus
1 upokt: :func:`~fleetctl.pocket.stakes.topup_to_ok` from zero, so a new supplier is not born in
WARNING), ``default_rev_share_percent``, and per service one endpoint, the RelayMiner of the
supplier's host as the placement puts it: ``http://<host address>:8500``
(:data:`fleetctl.plan.model.RELAYMINER_PORT`, :mod:`fleetctl.plan.vars`), ``JSON_RPC``. ``--out``
defaults to ``<state dir>/stake/<inventory>-<hash>/``, beside the store.

Commands: ``--keyring host`` (default): ``<pocketd>`` is the host's ``fleet_pocketd`` (default
``pocketd``) and HOME ``--home`` (default ``~/.pocket``); ``--keyring relayminer``: pocketd runs in
the host's RelayMiner image on its keyring volume, where ``fleetctl scale --apply`` makes the keys
(``docker run --rm --network host -v fleet-relayminer-data:/home/pocket -v DIR:DIR:ro IMAGE tx
supplier stake-supplier … --home /home/pocket/.pocket``), for the suppliers of that host only.

Preflight (Shannon): before anything is sent, :mod:`fleetctl.workflows.preflight` checks the
suppliers about to be staked (each service served by its host's RelayMiner in the plan, the
operator account and its balance against the stake and fees, the RelayMiner's node URLs, each
backend through its balancer). A problem that would get them sanctioned refuses an ``--execute``
batch (exit 1, nothing sent) unless ``--skip-preflight``; a dry run lists the problems and says
that ``--execute`` would refuse. The report carries the preflight (``-o json``: ``preflight``).

Dry run (the default): configs written, commands given, nothing executed, nothing recorded.

``--execute --host NAME``: the configs go to the host (``/var/tmp/fleetctl-stake-<batch>/``,
removed when the run ends) and ``playbooks/stake.yml`` runs the commands there through
ansible-runner (as ``fleetctl apply`` runs ``site.yml``), one at a time, stopping at the first
that fails (non-zero exit, or a TxResponse whose ``code`` is not 0) or when the job is cancelled
(the playbook skips every command after a stop file appears on the controller). Each result is
recorded in the SQLite store (``stakes_batch``, :mod:`fleetctl.state`) as its event arrives:
``pending`` before the run, then ``submitted`` with its txhash or ``failed`` with the reason; a
command never reached is forgotten. Then the chain is read until the submitted suppliers show
(``--wait``, default 60 s): ``confirmed``; each is read back hydrated and compared with what its
transaction sent (services, each one's endpoint URL and RPC type, the stake): a difference makes
it ``mismatch`` (exit 1), with both sides shown (a stake update has wiped services: poktroll
#1687, #1794).

Resuming: a supplier the chain shows is never sent again (and a submitted one it now shows is
marked confirmed); one whose last record is ``submitted`` or ``pending`` and that the chain does
not show yet is *not* resent until ``--confirm-timeout`` (default 10 min) has passed since, as
its transaction may still land; a ``failed`` one is sent again; one confirmed earlier that the
chain no longer knows was unstaked, and is staked again only with ``--restake``. Records are
claimed in one write transaction (:mod:`fleetctl.state.batches`), so two batches running at once do not both send.
A cancelled batch resumes the same way: what it sent is on chain or awaiting, what it did not
send has no record.

Morse: dry run only. Per node ``pocket nodes stake custodial|non-custodial …``
(:func:`fleetctl.pocket.staking.morse_stake_command`) and the node's ``<name>.chains.json`` (its
host's balancers, as the morse_node role writes it). The service URI is
``http://<host address>:8081`` (pocket-core's RPC port).

Nothing here reads, writes or shows a private key: the keyring stays on the host. Nothing here
prints: the fronts render the report and the events (:func:`step_line` gives the CLI's lines).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetctl.core.records import record
from fleetctl.core.errors import FleetError, UserError
from fleetctl.core.events import (
    CancelToken, Event, EventSink, Progress, StepFinished, StepStarted, Warn, emit, is_cancelled,
)
from fleetctl.pocket.base import ChainStatus, SupplierState, settle
from fleetctl.pocket.http import QueryError
from fleetctl.pocket.staking import (
    DEFAULT_HOME, MORSE_RPC_PORT, RELAYMINER_HOME, RELAYMINER_VOLUME, home_word, morse_stake_command,
    render_config, shell, stake_supplier_command, tx_outcome,
)
from fleetctl.core.units import format_upokt
from fleetctl.spec.model import Fleet, Supplier
from fleetctl.state.db import StateError, ensure_state_dir, resolve_db_path

if TYPE_CHECKING:
    from fleetctl.state.batches import BatchRecord

__all__ = [
    "CANCELLED_REASON",
    "DEFAULT_CONFIRM_TIMEOUT_S",
    "DEFAULT_HOME",
    "DEFAULT_WAIT_S",
    "JOB",
    "BatchEntry",
    "BatchOptions",
    "BatchReport",
    "execute",
    "execute_batch",
    "prepare",
    "prepare_batch",
    "run_batch",
    "stake_command",
    "step_line",
    "write_configs",
]

JOB = "stake"
DEFAULT_WAIT_S = 60.0
DEFAULT_CONFIRM_TIMEOUT_S = 600.0
DEFAULT_TIMEOUT_S = 5.0
REMOTE_DIR = "/var/tmp/fleetctl-stake-{batch}"
KEYRINGS = ("host", "relayminer")
CANCELLED_REASON = "not attempted (cancelled)"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
#: How often the stop-file watcher looks at the token (a cheap read; the playbook reads the file
#: before each command, so a cancel lands before the next supplier).
_WATCH_S = 0.1

#: Entry statuses. Before executing: to_stake, staked (already on chain), awaiting (sent earlier,
#: not visible yet), gone (confirmed earlier, no longer on chain), skipped (another host's
#: keyring), unreadable, unplaced. After: submitted, confirmed, failed, not_attempted.
STATUSES = ("to_stake", "staked", "awaiting", "gone", "skipped", "unreadable", "unplaced",
            "submitted", "confirmed", "mismatch", "failed", "not_attempted")


@record(frozen=True)
class BatchOptions:
    only: tuple[str, ...] = ()
    stake_upokt: int | None = None
    out_dir: str | None = None
    host: str | None = None
    keyring: str = "host"  # host | relayminer
    home: str | None = None
    fees: str | None = None
    rev_share: Mapping[str, int] | None = None
    db: str | None = None
    restake: bool = False
    wait_s: float = DEFAULT_WAIT_S
    confirm_timeout_s: float = DEFAULT_CONFIRM_TIMEOUT_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: Send even when the preflight finds problems that would get the new suppliers sanctioned.
    skip_preflight: bool = False


@record
class BatchEntry:
    """One supplier of the batch: what the chain says, its config and command, the outcome."""

    name: str
    operator_address: str
    owner_address: str
    host: str | None
    services: tuple[str, ...]
    status: str
    reason: str | None = None
    config: str | None = None  # local path
    config_sha256: str | None = None
    command: str | None = None
    txhash: str | None = None
    error: str | None = None
    chains_json: str | None = None  # Morse
    #: The config's text, until :func:`write_configs` writes it to ``config`` (not reported).
    text: str | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "operator_address": self.operator_address,
                "owner_address": self.owner_address, "host": self.host,
                "services": list(self.services), "status": self.status, "reason": self.reason,
                "config": self.config, "config_sha256": self.config_sha256,
                "command": self.command, "txhash": self.txhash, "error": self.error,
                "chains_json": self.chains_json}


@record
class BatchReport:
    protocol: str
    dry_run: bool
    out_dir: str
    db: str
    chain_url: str
    height: int | None = None
    min_stake_upokt: int | None = None
    stake_upokt: int | None = None
    batch_id: str | None = None
    host: str | None = None
    keyring: str = "host"
    entries: list[BatchEntry] = field(default_factory=list)
    message: str | None = None  # why the batch could not run at all
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None
    #: :class:`fleetctl.pocket.preflight.PreflightReport` of the suppliers to stake (Shannon).
    preflight: Any = None
    #: The job was cancelled: what was sent is reported, what was not is ``not_attempted``.
    cancelled: bool = False

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.status] = counts.get(e.status, 0) + 1
        return counts

    @property
    def commands(self) -> list[str]:
        """The commands to run (dry run) or that ran (executed: submitted, confirmed, failed)."""
        wanted = ("to_stake",) if self.dry_run else ("submitted", "confirmed", "failed")
        return [e.command for e in self.entries if e.command and e.status in wanted]

    @property
    def left(self) -> list[BatchEntry]:
        """The entries a cancelled (or stopped) batch did not send."""
        return [e for e in self.entries if e.status == "not_attempted"]

    @property
    def exit_code(self) -> int:
        """0 nothing went wrong; 1 the chain could not be read, or something failed; 130 cancelled."""
        if self.cancelled:
            return 130
        if self.message:
            return 1
        bad = ("unreadable", "unplaced", "failed", "mismatch") + (() if self.dry_run else ("not_attempted",))
        return 1 if any(e.status in bad for e in self.entries) else 0

    def as_dict(self) -> dict[str, Any]:
        out = {"protocol": self.protocol, "dry_run": self.dry_run, "batch_id": self.batch_id,
               "host": self.host, "keyring": self.keyring, "out": self.out_dir, "db": self.db,
               "chain": {"url": self.chain_url, "height": self.height,
                         "min_stake_upokt": self.min_stake_upokt},
               "stake_upokt": self.stake_upokt, "message": self.message, "notes": self.notes,
               "counts": self.counts(), "seconds": self.seconds,
               "preflight": None if self.preflight is None else self.preflight.as_dict(),
               "suppliers": [e.as_dict() for e in self.entries], "commands": self.commands}
        if self.cancelled:  # an uncancelled run's keys stay what they were
            out["cancelled"] = True
        return out


def step_line(event: Event) -> str | None:
    """The CLI's progress line of one of this job's events (None: not shown)."""
    if isinstance(event, StepFinished) and event.job == JOB:
        return f"stake: {event.step}: {event.detail}"
    if isinstance(event, StepStarted) and event.job == JOB and event.step == "read-back":
        return f"stake: {event.detail}"
    if isinstance(event, Warn) and event.job == JOB:
        return f"stake: {event.message}"
    return None


# ----------------------------------------------------------------------------- configs


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_public(path: Path, text: str) -> str:
    """``text`` into ``path`` (0644, replaced atomically); its sha256."""
    data = text.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o644)  # whatever the umask
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def _file_name(name: str, suffix: str) -> str:
    return _SAFE_NAME.sub("_", name) + suffix


def default_out_dir(fleet: Fleet, db: str | None) -> Path:
    """``<state dir>/stake/<inventory folder>-<hash of its path>``, beside the store."""
    root = fleet.root.resolve()
    tag = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return resolve_db_path(db, fleet).parent / "stake" / f"{_SAFE_NAME.sub('_', root.name)}-{tag}"


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def _placement(fleet: Fleet) -> dict[str, str]:
    """Supplier name -> host, as the planner places suppliers (pinned ones on their host)."""
    from fleetctl.plan.placement import place_suppliers

    return {sp.supplier: sp.host for sp in place_suppliers(fleet, {}, [])}


def write_configs(report: BatchReport, options: BatchOptions) -> BatchReport:
    """Write the configs :func:`prepare` rendered (0644, atomically): the dry run's only effect."""
    todo = [e for e in report.entries if e.text is not None and e.config is not None]
    if not todo:
        return report
    out_dir = Path(report.out_dir)
    if not options.out_dir:
        ensure_state_dir(Path(report.db).parent)  # the state folder is 0700 whoever makes it first
    out_dir.mkdir(parents=True, exist_ok=True)
    for e in todo:
        assert e.text is not None and e.config is not None
        _write_public(Path(e.config), e.text)
        e.text = None
    return report


# ----------------------------------------------------------------------------- commands


def _literal_var(fleet: Fleet, host: str, name: str) -> str | None:
    value = fleet.hosts[host].vars.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{host}.{name}: expected a command (a non-empty string)")
    if "{{" in value or "{%" in value:
        raise UserError(f"{host}.{name}: a templated value cannot be run by fleetctl stake; give it literally")
    return value.strip()


def _relayminer_prefix(fleet: Fleet, host: str, config_dir: str) -> str:
    """``docker run`` of the host's RelayMiner image on its keyring volume (as the relayminer
    role mounts it), with the stake configs' folder read-only and the host's network."""
    from fleetctl.plan.vars import host_image

    h = fleet.hosts[host]
    docker = ["docker"]
    engine = h.vars.get("fleet_docker_host")
    if isinstance(engine, str) and engine and "{{" not in engine:
        docker += ["-H", engine]
    volumes = [RELAYMINER_VOLUME, f"{config_dir}:{config_dir}:ro"]
    volumes += [v for v in h.vars.get("fleet_relayminer_volumes") or [] if isinstance(v, str)]
    cmd = docker + ["run", "--rm", "--network", "host", "--pull", "never"]
    for v in volumes:
        cmd += ["-v", v]
    return shell(cmd + [host_image(fleet, host, "relayminer")])


def stake_command(fleet: Fleet, host: str, config: str, operator: str, *, keyring: str, home: str | None,
                  fees: str | None) -> str:
    """The exact ``pocketd tx supplier stake-supplier`` command line for ``host``."""
    if keyring == "relayminer":
        prefix = _relayminer_prefix(fleet, host, str(Path(config).parent))
        home_arg = shlex.quote(RELAYMINER_HOME)
    else:
        prefix = _literal_var(fleet, host, "fleet_pocketd") or "pocketd"
        home_arg = home_word(home or DEFAULT_HOME)
    return stake_supplier_command(prefix, config, operator, home=home_arg, chain_id=fleet.pocket.chain_id or "",
                                  node=fleet.pocket.node_rpc_url or "", fees=fees)


# ----------------------------------------------------------------------------- the store


class _Store:
    """The ``stakes_batch`` records (:class:`fleetctl.state.batches.BatchStore`), their errors
    as the stake front shows them ("stake: the store PATH …")."""

    def __init__(self, path: Path) -> None:
        from fleetctl.state.batches import BatchStore

        self._store = BatchStore(path)

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except StateError as exc:
            raise FleetError(f"stake: {exc}") from None

    def read(self, addresses: Sequence[str]) -> dict[str, BatchRecord]:
        result: dict[str, BatchRecord] = self._call(self._store.read, addresses)
        return result

    def claim(self, batch_id: str, host: str, entries: Sequence[BatchEntry], in_doubt: Callable[[BatchRecord], bool]
              ) -> list[BatchEntry]:
        """Record ``pending`` rows for the entries no other batch has in flight (checked in the
        same transaction, so concurrent batches never both send); the entries claimed. The
        others become ``awaiting``."""
        from fleetctl.state.batches import Pending

        held = self._call(self._store.claim, batch_id, host,
                          [Pending(e.name, e.operator_address, e.config_sha256) for e in entries], in_doubt)
        claimed = []
        for e, previous in zip(entries, held, strict=True):
            if previous is not None:
                e.status, e.reason = "awaiting", _awaiting_reason(previous)
            else:
                claimed.append(e)
        return claimed

    def update(self, batch_id: str, address: str, state: str, *, txhash: str | None = None,
               error: str | None = None) -> None:
        self._call(self._store.update, batch_id, address, state, txhash=txhash, error=error)

    def confirm(self, addresses: Sequence[str]) -> None:
        self._call(self._store.confirm, addresses)

    def forget(self, batch_id: str, addresses: Sequence[str]) -> None:
        self._call(self._store.forget, batch_id, addresses)


def _awaiting_reason(rec: BatchRecord) -> str:
    when = datetime.fromtimestamp(rec.updated_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    sent = f"submitted ({rec.txhash})" if rec.state == "submitted" else "maybe sent (the run stopped while sending)"
    return f"{sent} by batch {rec.batch_id} at {when}, not on chain yet: not resent before the confirm timeout"


# ----------------------------------------------------------------------------- the chain


@record(frozen=True)
class _ChainView:
    url: str
    height: int | QueryError
    min_stake: int | None
    problems: tuple[str, ...]
    states: Mapping[str, SupplierState | QueryError]


async def _read_chain(fleet: Fleet, targets: Sequence[Supplier], timeout: float) -> _ChainView:
    """Height, minimum stake and each target's state, through the stake monitor's adapter."""
    from fleetctl.pocket.stakes import adapter_for

    adapter = adapter_for(fleet, timeout=timeout)
    async with adapter:
        height, params = await asyncio.gather(settle(adapter.height()), adapter.stake_params())
        if isinstance(height, QueryError):
            return _ChainView(adapter.url, height, None, params.problems, {})
        states = await adapter.read_suppliers(targets) if targets else {}
    return _ChainView(adapter.url, height, params.min_stake_upokt, params.problems, states)


async def _read_back(fleet: Fleet, addresses: Sequence[str], wait_s: float, timeout: float) -> dict[str, Any]:
    """Each address the chain shows within ``wait_s`` seconds, read hydrated (its services and
    their history) as :func:`fleetctl.pocket.preflight.parse_supplier` reads it. An address whose
    answer cannot be parsed is left out (not on chain yet, as far as this run can tell)."""
    from fleetctl.pocket.preflight import ChainSupplier, hydrated_supplier
    from fleetctl.pocket.stakes import adapter_for

    found: dict[str, Any] = {}
    deadline = time.monotonic() + wait_s
    adapter = adapter_for(fleet, timeout=timeout)
    async with adapter:
        while True:
            left = [a for a in addresses if a not in found]
            height = await settle(adapter.height())
            at = height if isinstance(height, int) else 0
            states = await asyncio.gather(*(settle(hydrated_supplier(adapter.client, a, at)) for a in left))
            found.update((a, s) for a, s in zip(left, states, strict=True) if isinstance(s, ChainSupplier))
            if len(found) == len(addresses) or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


# ----------------------------------------------------------------------------- prepare


def _select(fleet: Fleet, only: Sequence[str]) -> list[Supplier]:
    declared = [s for s in fleet.suppliers if s.operator_address]
    if not only:
        return declared
    by_name = {s.name: s for s in fleet.suppliers}
    for name in only:
        if name not in by_name:
            raise UserError(f"--only: no supplier named {name!r} in fleet.yml")
        if not by_name[name].operator_address:
            raise UserError(f"--only: {name} has no operator address yet (fleetctl scale --apply creates its key)")
    wanted = set(only)
    return [s for s in declared if s.name in wanted]


def prepare(fleet: Fleet, options: BatchOptions, *, execute: bool = False, preflight: bool = True,
            on_event: EventSink | None = None, cancel: CancelToken | None = None) -> BatchReport:
    """Read the chain and the store, pick the suppliers to stake, render their configs and build
    their commands (for ``options.host`` when executing), then run the preflight on them
    (``preflight``). Side-effect free: nothing is written, sent or recorded (the configs are in
    the entries until :func:`write_configs`)."""
    report = prepare_batch(fleet, options, execute=execute)
    if preflight:
        if cancel is not None:
            cancel.raise_if_cancelled("stake --batch")
        _preflight(fleet, report, options, execute, on_event)
    return report


def prepare_batch(fleet: Fleet, options: BatchOptions, *, execute: bool = False) -> BatchReport:
    """:func:`prepare` without the preflight."""
    if options.keyring not in KEYRINGS:
        raise UserError(f"--keyring: expected one of {', '.join(KEYRINGS)}, got {options.keyring!r}")
    if options.host is not None and options.host not in fleet.hosts:
        raise UserError(f"--host: no host {options.host!r} in the inventory")
    if execute and options.host is None:
        raise UserError("--execute: say on which host the commands run: --host NAME")
    if fleet.protocol == "shannon":
        if not fleet.pocket.chain_id:
            raise UserError("fleet.yml pocket.chain_id: stake --batch needs it (pocketd's --chain-id)")
        if not fleet.pocket.node_rpc_url:
            raise UserError("fleet.yml pocket.node_rpc_url: stake --batch needs it (pocketd's --node)")
    elif execute:
        raise UserError("--execute: Morse staking is a dry run only; run the printed `pocket nodes stake` "
                        "commands on each node")
    if options.keyring == "relayminer" and fleet.protocol != "shannon":
        raise UserError("--keyring relayminer: Shannon only")
    db = resolve_db_path(options.db, fleet)
    out_dir = Path(options.out_dir).expanduser() if options.out_dir else default_out_dir(fleet, options.db)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out: {out_dir} is not a folder")
    targets = _select(fleet, options.only)

    try:
        chain = asyncio.run(_read_chain(fleet, targets, options.timeout_s))
    except ValueError as exc:  # no pocket URL for the protocol
        raise UserError(str(exc)) from None
    report = BatchReport(protocol=fleet.protocol, dry_run=not execute, out_dir=str(out_dir), db=str(db),
                         chain_url=chain.url, host=options.host, keyring=options.keyring)
    if isinstance(chain.height, QueryError):
        report.message = f"cannot read the chain at {chain.url}: {chain.height}"
        return report
    report.height = chain.height
    report.min_stake_upokt = chain.min_stake
    if options.stake_upokt is not None:
        stake = options.stake_upokt
        if chain.min_stake is not None and stake < chain.min_stake:
            raise UserError(f"--stake: {format_upokt(stake)} is below the chain's min_stake "
                            f"{format_upokt(chain.min_stake)}")
    elif chain.min_stake is None:
        report.message = ("the chain's minimum stake cannot be read (" + "; ".join(chain.problems)
                          + "): pass --stake AMOUNT")
        return report
    else:
        from fleetctl.pocket.stakes import topup_to_ok

        stake = topup_to_ok(0, chain.min_stake, fleet.stake.warning_margin.of(chain.min_stake),
                            fleet.stake.critical_margin.of(chain.min_stake))
    if chain.min_stake is not None:
        from fleetctl.core.levels import Level
        from fleetctl.pocket.stakes import stake_level

        level = stake_level(stake, chain.min_stake, fleet.stake.warning_margin.of(chain.min_stake),
                            fleet.stake.critical_margin.of(chain.min_stake))
        if level is not Level.OK:
            report.notes.append(f"a stake of {format_upokt(stake)} is {level.name} from the start "
                                f"(min_stake {format_upokt(chain.min_stake)}, fleet.yml stake margins)")
    report.stake_upokt = stake

    try:
        history = _Store(db).read([s.operator_address for s in targets if s.operator_address])
    except FleetError as exc:
        if execute:
            raise
        history = {}
        report.notes.append(f"{exc}; resume state unknown")
    placement = _placement(fleet)
    now = time.time()
    for s in targets:
        assert s.operator_address is not None
        host = placement.get(s.name)
        entry = BatchEntry(s.name, s.operator_address, s.owner_address or s.operator_address, host,
                           s.services, "to_stake")
        report.entries.append(entry)
        state = chain.states.get(s.operator_address)
        previous = history.get(s.operator_address)
        if isinstance(state, QueryError) or state is None:
            entry.status, entry.reason = "unreadable", f"the chain could not be read for it: {state}"
        elif state.status is not ChainStatus.NOT_FOUND:
            entry.status = "staked"
            entry.reason = f"already on chain ({state.status.value}, {format_upokt(state.stake_upokt or 0)})"
        elif host is None:
            entry.status, entry.reason = "unplaced", "no host serves it (pin it with host: in fleet.yml)"
        elif previous is not None and previous.state in ("pending", "submitted") and \
                now - previous.updated_at < options.confirm_timeout_s:
            entry.status, entry.reason = "awaiting", _awaiting_reason(previous)
        elif previous is not None and previous.state == "confirmed" and not options.restake:
            entry.status = "gone"
            entry.reason = (f"staked by batch {previous.batch_id} and no longer on chain (unstaked?): "
                            "not staked again without --restake")
        elif options.keyring == "relayminer" and options.host is not None and host != options.host:
            entry.status = "skipped"
            entry.reason = f"its key is in the RelayMiner keyring of {host}: run with --host {host}"
    todo = [e for e in report.entries if e.status == "to_stake"]
    if fleet.protocol == "shannon":
        _shannon_files(fleet, report, todo, out_dir, options, stake, execute)
    else:
        _morse_files(fleet, report, todo, out_dir, stake)
    return report


def _shannon_files(fleet: Fleet, report: BatchReport, todo: list[BatchEntry], out_dir: Path,
                   options: BatchOptions, stake: int, execute: bool) -> None:
    from fleetctl.workflows.preflight import relayminer_url

    suppliers = {s.name: s for s in fleet.suppliers}
    if execute:
        report.batch_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    remote = REMOTE_DIR.format(batch=report.batch_id) if execute else None
    for e in todo:
        assert e.host is not None
        url = relayminer_url(fleet, e.host)  # the RelayMiner's listener, as preflight expects it
        text = render_config(suppliers[e.name], owner=e.owner_address, stake_upokt=stake, endpoint_url=url,
                             rev_share=options.rev_share or {e.owner_address: 100}, host=e.host)
        path = out_dir / _file_name(e.name, ".yaml")
        e.config, e.config_sha256, e.text = str(path), _sha256(text), text
        run_on = options.host if execute else e.host
        assert run_on is not None
        config = f"{remote}/{path.name}" if remote else str(path)
        e.command = stake_command(fleet, run_on, config, e.operator_address, keyring=options.keyring,
                                  home=options.home, fees=options.fees)


def _morse_files(fleet: Fleet, report: BatchReport, todo: list[BatchEntry], out_dir: Path, stake: int) -> None:
    from fleetctl.core.layout import BALANCER_PORT_BASE

    port = {cid: BALANCER_PORT_BASE + i for i, cid in enumerate(fleet.chains)}
    for e in todo:
        assert e.host is not None
        addr = _url_host(fleet.hosts[e.host].address)
        chains = [{"id": fleet.chains[s].morse_chain_id, "url": f"http://{addr}:{port[s]}",
                   "basic_auth": {"username": "", "password": ""}}
                  for s in e.services if s in fleet.chains and fleet.chains[s].morse_chain_id]
        if not chains:
            e.status, e.reason = "unplaced", "none of its services has a morse_chain_id in fleet.yml"
            continue
        path = out_dir / _file_name(e.name, ".chains.json")
        text = json.dumps(chains, indent=2) + "\n"
        e.chains_json = str(path)
        e.config, e.config_sha256, e.text = str(path), _sha256(text), text
        e.command = morse_stake_command(e.operator_address, e.owner_address, stake,
                                        [str(c["id"]) for c in chains], f"http://{addr}:{MORSE_RPC_PORT}")


def _preflight(fleet: Fleet, report: BatchReport, options: BatchOptions, execute: bool,
               on_event: EventSink | None = None) -> None:
    """:func:`fleetctl.workflows.preflight.preflight` of the suppliers about to be staked, before
    anything is sent: a problem that would get them sanctioned refuses an ``--execute`` batch
    (``report.message``) unless ``--skip-preflight``; a dry run shows what would be refused."""
    todo = [e for e in report.entries if e.status == "to_stake"]
    if fleet.protocol != "shannon" or report.message is not None or not todo or report.stake_upokt is None:
        return
    if options.skip_preflight:
        report.notes.append("preflight skipped (--skip-preflight): the new suppliers' services, accounts, "
                            "RelayMiner node URLs and backends were not checked")
        return
    from fleetctl.workflows.preflight import run_preflight

    pre = run_preflight(fleet, only=[e.name for e in todo], new={e.operator_address: report.stake_upokt for e in todo},
                        timeout=options.timeout_s)
    report.preflight = pre
    if pre.message:
        report.notes.append(f"preflight incomplete: {pre.message}")
    sanctioned = pre.sanctioned
    if not sanctioned:
        return
    text = (f"preflight: {len(sanctioned)} problem(s) would get the new suppliers sanctioned (listed above); "
            "fix them, or pass --skip-preflight to send anyway")
    if execute:
        report.message = "not sending anything: " + text
    else:
        report.notes.append(f"--execute would refuse this batch: {text}")


# ----------------------------------------------------------------------------- execute


class _StopFile:
    """A file on the controller that makes the playbook skip every command after it appears
    (``when: … is not exists``, read before each command): set when the token is cancelled, by
    a watcher thread, so a cancel lands between two suppliers and never inside a command."""

    def __init__(self, path: Path, cancel: CancelToken | None) -> None:
        self.path, self.cancel = path, cancel
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _touch(self) -> None:
        self.path.touch()

    def start(self) -> None:
        if self.cancel is None:
            return
        if self.cancel.cancelled:
            self._touch()
            return

        def watch() -> None:
            assert self.cancel is not None
            while not self._done.is_set():
                if self.cancel.wait(_WATCH_S):
                    self._touch()
                    return

        self._thread = threading.Thread(target=watch, name="fleetctl-stake-cancel", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


def execute(fleet: Fleet, report: BatchReport, options: BatchOptions, *, on_event: EventSink | None = None,
            cancel: CancelToken | None = None) -> BatchReport:
    """Send the report's ``to_stake`` entries from ``options.host`` (one at a time, stopping at the
    first failure or, between two suppliers, at a cancel), recording each result, then wait for
    the chain to show the ones sent. ``on_event`` gets this job's events and the playbook's own
    (:func:`fleetctl.provision.apply.runner_events`: a front draws per-host progress from them)."""
    from fleetctl.provision.apply import run_playbooks

    assert options.host is not None and report.batch_id is not None
    host, batch_id = options.host, report.batch_id
    store = _Store(Path(report.db))
    # Confirm what an earlier batch sent and the chain now shows.
    store.confirm([e.operator_address for e in report.entries if e.status == "staked"])
    todo = [e for e in report.entries if e.status == "to_stake"]
    if not todo:
        return report
    if is_cancelled(cancel):  # nothing claimed, nothing sent
        for e in todo:
            e.status, e.reason = "not_attempted", CANCELLED_REASON
        report.cancelled = True
        return report
    now = time.time()
    claimed = store.claim(batch_id, host, todo, lambda rec: rec.state in ("pending", "submitted")
                          and now - rec.updated_at < options.confirm_timeout_s)
    if not claimed:
        return report
    remote = REMOTE_DIR.format(batch=batch_id)
    stage = Path(tempfile.mkdtemp(prefix="fleetctl-stake-"))
    control = Path(tempfile.mkdtemp(prefix="fleetctl-stake-ctl-"))  # the stop file: not copied to the host
    stop = _StopFile(control / "stop", cancel)
    by_address = {e.operator_address: e for e in claimed}
    order = [e.operator_address for e in claimed]
    seen: set[str] = set()
    total = len(claimed)

    def started(index: int) -> None:
        if on_event is not None and index < total and not stop.path.exists():
            emit(on_event, StepStarted(JOB, claimed[index].name, f"sending from {host}"))

    def on_item(item: Mapping[str, Any], ok: bool, res: Mapping[str, Any]) -> None:
        entry = by_address.get(str(item.get("operator_address")))
        if entry is None or entry.operator_address in seen:
            return
        seen.add(entry.operator_address)
        txhash, error = tx_outcome(res, ok)
        try:
            if error is None:
                entry.status, entry.txhash = "submitted", txhash
                store.update(batch_id, entry.operator_address, "submitted", txhash=txhash)
                emit(on_event, StepFinished(JOB, entry.name, True, f"submitted, txhash {txhash}"))
            elif res.get("unreachable") or "expected time frame" in str(res.get("msg") or ""):
                # The connection went, or the command timed out: it may have been sent. The record
                # stays pending, so no batch resends it before the confirm timeout.
                entry.status, entry.error = "failed", f"no answer from the host while it ran: {error}"
                entry.reason = "may have been sent: not resent before the confirm timeout"
                emit(on_event, StepFinished(JOB, entry.name, False, "no answer while it ran (may have been sent)"))
            else:
                entry.status, entry.txhash, entry.error = "failed", txhash, error
                store.update(batch_id, entry.operator_address, "failed", txhash=txhash, error=error)
                emit(on_event, StepFinished(JOB, entry.name, False, f"FAILED: {error}"))
        except FleetError as exc:  # the store failed: keep going, the report says it
            report.notes.append(f"{entry.name}: not recorded: {exc}")
        emit(on_event, Progress(JOB, len(seen), total, "suppliers"))
        if ok:
            started(order.index(entry.operator_address) + 1)

    def on_runner_event(ev: dict[str, Any]) -> None:
        kind = ev.get("event", "")
        data = ev.get("event_data") or {}
        if kind in ("runner_item_on_ok", "runner_item_on_failed"):
            res = data.get("res") or {}
            item = res.get("item") if isinstance(res, Mapping) else None
            if isinstance(item, Mapping):
                on_item(item, kind == "runner_item_on_ok", res)
        elif kind == "playbook_on_task_start" and isinstance(data, Mapping) and data.get("task") == STAKE_TASK:
            started(0)

    t0 = time.monotonic()
    finished = False
    try:
        os.chmod(stage, 0o755)
        for e in claimed:
            assert e.config is not None
            shutil.copy2(e.config, stage / Path(e.config).name)
            os.chmod(stage / Path(e.config).name, 0o644)
        items = [{"name": e.name, "operator_address": e.operator_address,
                  "config": f"{remote}/{Path(e.config or '').name}", "cmd": e.command} for e in claimed]
        variables = {host: {"fleet_stake_local_dir": str(stage), "fleet_stake_remote_dir": remote,
                            "fleet_stake_items": items, "fleet_stake_stop_file": str(stop.path)}}
        stop.start()
        try:
            # The token is this job's, not the playbook's: apply's would stop before the next task,
            # which here is the clean-up of the host; the stop file stops between two commands.
            result = run_playbooks(fleet, variables, limit=[host], playbook="stake.yml", on_event=on_event,
                                   on_runner_event=on_runner_event)
        except FleetError as exc:
            report.message = f"the playbook failed on {host}: {exc}"
            result = None
        finally:
            stop.stop()
        # ansible-runner returned: every event has been handled, so a command without a result
        # never ran (the loop stopped before it, was cancelled, or the host was never reached).
        finished = True
        if result is not None and result.failed_hosts and not seen:
            outcome = result.hosts.get(host)
            detail = "; ".join(outcome.messages[:2]) if outcome else ""
            report.message = (f"{host} {outcome.status if outcome else 'failed'} before any stake "
                              f"command ran" + (f": {detail}" if detail else ""))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        cancelled = stop.path.exists()
        shutil.rmtree(control, ignore_errors=True)
        never = [e for e in claimed if e.operator_address not in seen]
        if finished:
            stopped = cancelled and not any(e.status == "failed" for e in claimed)
            for e in never:
                e.status = "not_attempted"
                e.reason = CANCELLED_REASON if stopped else "not sent: the batch stopped before it"
            report.cancelled = cancelled and bool(never) and report.message is None
            store.forget(batch_id, [e.operator_address for e in never])
        else:  # interrupted: whatever had no result yet may have been sent; it stays pending
            for e in never:
                e.status, e.reason = "failed", "interrupted: may have been sent; not resent before the confirm timeout"
    if report.cancelled:
        emit(on_event, Warn(JOB, f"cancelled: {len(never)} supplier(s) not sent "
                                 f"({', '.join(e.name for e in never)}); the next run resumes",
                            {"left": [e.name for e in never]}))
    # What was sent is read back even when cancelled: a transaction is never left half-reported.
    submitted = [e for e in claimed if e.status == "submitted"]
    if submitted:
        from fleetctl.pocket.preflight import EXPECTED_RPC_TYPE, Sent, compare_sent
        from fleetctl.workflows.preflight import relayminer_url

        emit(on_event, StepStarted(JOB, "read-back", f"waiting up to {options.wait_s:g} s for the chain to show "
                                                     f"{len(submitted)} supplier(s)"))
        assert report.stake_upokt is not None
        sent = {e.operator_address: Sent(e.services, relayminer_url(fleet, e.host or host), EXPECTED_RPC_TYPE,
                                         report.stake_upokt) for e in submitted}
        shown = asyncio.run(_read_back(fleet, list(sent), options.wait_s, options.timeout_s))
        for e in submitted:
            state = shown.get(e.operator_address)
            if state is None:
                e.reason = "submitted, not on chain yet: the next run checks it before sending anything"
                continue
            e.status = "confirmed"
            # Read back: what the chain stored against what the transaction sent (a stake update has
            # wiped services before: poktroll #1687, #1794).
            differences = compare_sent(sent[e.operator_address], state)
            if differences:
                e.status = "mismatch"
                e.error = "the chain stored something else than was sent: " + "; ".join(differences)
                emit(on_event, Warn(JOB, f"{e.name}: MISMATCH: {e.error}"))
        store.confirm([e.operator_address for e in submitted if e.status in ("confirmed", "mismatch")])
    report.seconds = round(time.monotonic() - t0, 2)
    return report


#: The playbook's task that runs the stake commands (its start announces the first supplier).
STAKE_TASK = "Stake each supplier"


def execute_batch(fleet: Fleet, report: BatchReport, options: BatchOptions, *,
                  on_step: Callable[[str], None] = lambda s: None,
                  on_event: EventSink | None = None, cancel: CancelToken | None = None, **_: Any) -> BatchReport:
    """:func:`execute` with the CLI's string callback (``on_step``: :func:`step_line` of each event)."""
    return execute(fleet, report, options, on_event=_sink(on_step, on_event), cancel=cancel)


def _sink(on_step: Callable[[str], None], on_event: EventSink | None) -> EventSink:
    def sink(event: Event) -> None:
        line = step_line(event)
        if line is not None:
            on_step(line)
        if on_event is not None:
            on_event(event)

    return sink


def run_batch(fleet: Fleet, options: BatchOptions, *, execute: bool = False,
              on_step: Callable[[str], None] = lambda s: None,
              on_event: EventSink | None = None, cancel: CancelToken | None = None, **_: Any) -> BatchReport:
    """:func:`prepare`, :func:`write_configs`, then :func:`execute` when ``execute``. ``on_step``:
    the CLI's lines (:func:`step_line`); ``on_event``: every event (the playbook's included)."""
    report = prepare(fleet, options, execute=execute, on_event=on_event, cancel=cancel)
    write_configs(report, options)
    if execute and report.message is None:
        unreadable = [e.name for e in report.entries if e.status == "unreadable"]
        if unreadable:
            report.message = (f"not sending anything: the chain could not be read for {', '.join(unreadable)} "
                              "(it may be staked already)")
            return report
        report = execute_batch(fleet, report, options, on_step=on_step, on_event=on_event, cancel=cancel)
    return report
