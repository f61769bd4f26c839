"""scale: the what-if of one service and adding identities to it (``fleetctl scale``).

:func:`prepare` reads the chain (N, K, the parameters) and builds the what-if
(:class:`~fleetctl.plan.scale.ScaleModel`); for ``--apply`` it also checks the backends' capacity
and names and places the identities to add. It changes nothing: fleet.yml, the hosts and the
keyrings are untouched. :func:`execute` does the apply, one step after the other, and checks its
:class:`~fleetctl.core.events.CancelToken` between steps (never inside the fleet.yml rewrite):

1. ``create-keys``: each key made by the operator's own keyring on the host (``pocketd keys add
   NAME --no-backup`` in the RelayMiner's image, on its keyring volume); a key that exists (a
   re-run after a failure or a cancel) is read back with ``keys show``, never made twice; with
   ``imported`` it must exist. No private key or mnemonic ever leaves the host;
2. ``inventory``: fleet.yml gains one explicit supplier per identity (rewritten atomically, the
   previous version kept as ``fleet.yml.bak-<time>``, the result validated before it replaces the
   original; identities already there are not added again);
3. ``apply``: the inventory reloaded, planned and applied (the RelayMiner's config signs for the
   new keys). Staking is ``fleetctl stake --batch``.

The :class:`ScaleResult` says what was done (the identities with their addresses, the backup, the
apply's result) and what was ``left``. Resuming: stopped before or after step 1, the next
``scale --apply`` names the same identities (fleet.yml is unchanged) and reads their keys back;
stopped after step 2, fleet.yml counts them already and ``fleetctl apply`` finishes the job.

Events: ``StepStarted``/``StepFinished`` (job "scale") per step; per key a ``HostTask``
(task ``key NAME``, status "changed" when made, "ok" when it was there, message the address);
``StepFinished(job="scale", step="plan", data=plan)`` before the playbooks run; then apply's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl.core.atomic import write_atomic
from fleetctl.core.records import record
from fleetctl.core.errors import FleetError, UserError
from fleetctl.core.events import CancelToken, EventSink, HostTask, StepFinished, StepStarted, emit, is_cancelled
from fleetctl.plan.scale import NewIdentity, ScaleModel, ServiceView
from fleetctl.spec.model import Fleet

if TYPE_CHECKING:
    from fleetctl.plan.diff import Plan
    from fleetctl.provision.apply import ApplyResult

__all__ = ["KEYRING_HOME", "STEPS", "ScalePlan", "ScaleResult", "add_to_inventory", "create_keys", "execute",
           "prepare"]

JOB = "scale"
KEYRING_HOME = "/home/pocket/.pocket"  # the RelayMiner role's keyring (playbooks/roles/relayminer)
#: execute's steps, in order
STEPS = ("create-keys", "inventory", "apply")


@record
class ScalePlan:
    """What scale would do: the what-if and, for ``--apply``, the identities to add."""

    service: str
    view: ServiceView
    model: ScaleModel
    apply: bool = False
    #: identities to add (named and placed; no key yet), empty when nothing is to be added
    identities: list[NewIdentity] = field(default_factory=list)
    imported: bool = False

    @property
    def to_add(self) -> int:
        return len(self.identities)


@record
class ScaleResult:
    """What execute did and what it left (``cancelled``: the token stopped it between steps)."""

    plan: ScalePlan
    created: list[NewIdentity] = field(default_factory=list)  # with their operator addresses
    backup: Path | None = None  # the previous fleet.yml (None: not rewritten)
    apply_plan: Plan | None = None
    apply: ApplyResult | None = None
    done: list[str] = field(default_factory=list)  # steps finished
    left: list[str] = field(default_factory=list)  # steps not run (or cut short)
    cancelled: bool = False


def prepare(fleet: Fleet, service: str, *, apply: bool = False, rows: int = 10,
            relays_per_session: float | None = None, upokt_per_relay: float | None = None,
            apps: int | None = None, block_time_s: float | None = None, stake: str | None = None,
            target_share: str | None = None, add: int | None = None, budget: str | None = None,
            timeout: float = 5.0, owner: str | None = None, name_prefix: str | None = None,
            hosts: list[str] | None = None, names: list[str] | None = None, imported: bool = False,
            view: ServiceView | None = None, cancel: CancelToken | None = None) -> ScalePlan:
    """The what-if of ``service`` and, with ``apply``, the identities to add (none when the
    current count reaches the target). Reads the chain (unless ``view`` is given); changes
    nothing. Raises UserError for the options' own mistakes (before the chain is read), for
    ``apply`` without a count; FleetError when the backends could not carry the target;
    Cancelled when ``cancel`` is cancelled while the chain is read (requests in flight dropped)."""
    import asyncio

    from fleetctl.core.aio import until_cancelled
    from fleetctl.plan import scale

    scale.check_options(target_share=target_share, budget=budget, stake=stake, apps=apps)
    if view is None:
        view = asyncio.run(until_cancelled(scale.read_service(fleet, service, timeout=timeout), cancel, JOB))
    model = scale.model_for(fleet, view, rows=rows, relays_per_session=relays_per_session,
                            upokt_per_relay=upokt_per_relay, apps=apps, block_time_s=block_time_s,
                            stake=stake, target_share=target_share, add=add, budget=budget)
    plan = ScalePlan(service, view, model, apply=apply, imported=imported)
    if not apply:
        return plan
    if model.target is None:
        raise UserError("scale --apply: say how many: --target-share, --add or --budget")
    to_add = model.target - view.current
    if to_add <= 0:
        return plan
    scale.check_capacity(fleet, service, model)
    plan.identities = scale.plan_new_identities(fleet, service, to_add, prefix=name_prefix, owner=owner,
                                                hosts=hosts, names=names)
    return plan


def _left_from(step: str) -> list[str]:
    return list(STEPS[STEPS.index(step):])


def execute(fleet: Fleet, plan: ScalePlan, *, on_event: EventSink | None = None, cancel: CancelToken | None = None,
            reload: Callable[[], Fleet] | None = None, key_timeout: float = 60.0, check: bool = False,
            forks: int | None = None, strategy: str = "auto") -> ScaleResult:
    """Add ``plan``'s identities: keys, fleet.yml, apply (module docstring). ``reload``: how the
    rewritten inventory is read again (default: :func:`~fleetctl.spec.loader.load_inventory` of
    its folder). Raises what a step raises (FleetError; Infeasible from the plan); a cancel
    between steps returns the result with ``cancelled`` and the steps ``left``."""
    import asyncio

    from fleetctl.workflows import apply as apply_wf

    result = ScaleResult(plan)
    if not plan.identities:
        return result

    def stopped(step: str) -> bool:
        if is_cancelled(cancel):
            result.cancelled = True
            result.left = _left_from(step)
            return True
        return False

    if stopped("create-keys"):
        return result
    emit(on_event, StepStarted(JOB, "create-keys", f"{len(plan.identities)} key(s)"))
    result.created = asyncio.run(create_keys(fleet, plan.identities, timeout=key_timeout, on_event=on_event,
                                             imported=plan.imported))
    emit(on_event, StepFinished(JOB, "create-keys"))
    result.done.append("create-keys")

    if stopped("inventory"):
        return result
    emit(on_event, StepStarted(JOB, "inventory", str(fleet.root / "fleet.yml")))
    result.backup = add_to_inventory(fleet, result.created)  # all or nothing: never cut short
    detail = (f"{len(result.created)} suppliers added; previous version in {result.backup.name}"
              if result.backup is not None else "")
    emit(on_event, StepFinished(JOB, "inventory", detail=detail))
    result.done.append("inventory")

    if stopped("apply"):
        return result
    emit(on_event, StepStarted(JOB, "apply"))
    if reload is not None:
        fleet = reload()
    else:
        from fleetctl.spec.loader import load_inventory

        fleet = load_inventory(fleet.root)
    result.apply_plan = apply_wf.prepare(fleet, on_event=on_event, cancel=cancel)
    emit(on_event, StepFinished(JOB, "plan", data=result.apply_plan))
    if stopped("apply"):
        return result
    result.apply = apply_wf.execute(fleet, result.apply_plan, check=check, forks=forks, strategy=strategy,
                                    on_event=on_event, cancel=cancel)
    if result.apply.cancelled:
        result.cancelled = True
        result.left = ["apply"]
        return result
    emit(on_event, StepFinished(JOB, "apply", ok=not result.apply.failed_hosts))
    result.done.append("apply")
    return result


# ----------------------------------------------------------------------------- the keys


def _keys_command(fleet: Fleet, host: str, argv: list[str]) -> str:
    """``docker run`` of the host's RelayMiner image on its keyring volume (what the
    relayminer role mounts), running ``pocketd`` with ``argv``."""
    from fleetctl.plan.vars import host_image

    h = fleet.hosts[host]
    image = host_image(fleet, host, "relayminer")
    docker = ["docker"]
    engine = h.vars.get("fleet_docker_host")
    if isinstance(engine, str) and engine and "{{" not in engine:
        docker += ["-H", engine]
    volumes = ["fleet-relayminer-data:/home/pocket"] + [v for v in h.vars.get("fleet_relayminer_volumes") or []
                                                        if isinstance(v, str)]
    cmd = docker + ["run", "--rm", "--network", "none", "--pull", "never"]
    for v in volumes:
        cmd += ["-v", v]
    cmd += [image, *argv]
    return " ".join(shlex.quote(part) for part in cmd)


async def create_keys(fleet: Fleet, identities: list[NewIdentity], *, timeout: float = 60.0,
                      on_event: EventSink | None = None, imported: bool = False) -> list[NewIdentity]:
    """Each identity's key in its host's RelayMiner keyring (made, or read back if it exists;
    ``imported``: it must exist already, imported by the operator, and none is made). One
    HostTask per key: status "changed" (made) or "ok" (there), message its address."""
    import asyncio

    from fleetctl.provision.sshexec import ssh_run

    async def one(ident: NewIdentity) -> NewIdentity:
        host = fleet.hosts[ident.host]
        common = ["--keyring-backend", "test", "--home", KEYRING_HOME]
        show = _keys_command(fleet, ident.host, ["keys", "show", ident.name, "-a", *common])
        res = await ssh_run(host, show, timeout=timeout)
        address = res.stdout.decode(errors="replace").strip() if res.ok else ""
        if not address and imported:
            raise FleetError(f"scale: no key {ident.name!r} in the RelayMiner keyring on {ident.host} "
                             f"(--imported: import it there first: pocketd keys import … --home {KEYRING_HOME})")
        if not address:
            add = _keys_command(fleet, ident.host, ["keys", "add", ident.name, *common, "--no-backup",
                                                    "--output", "json"])
            res = await ssh_run(host, add, timeout=timeout)
            if not res.ok:
                reason = res.error or " ".join(res.stderr.decode(errors="replace").split())[-300:]
                raise FleetError(f"scale: keys add {ident.name} on {ident.host} failed: {reason}")
            try:
                address = str(json.loads(res.stdout)["address"])
            except (ValueError, KeyError, TypeError, RecursionError):
                raise FleetError(f"scale: keys add {ident.name} on {ident.host}: no address in its output") from None
            emit(on_event, HostTask(ident.host, f"key {ident.name}", "changed", address))
        else:
            emit(on_event, HostTask(ident.host, f"key {ident.name}", "ok", address))
        from fleetctl.spec.address import shannon_address_problem

        if problem := shannon_address_problem(address):
            raise FleetError(f"scale: {ident.name} on {ident.host}: the keyring gave an invalid address ({problem})")
        return NewIdentity(ident.name, ident.host, ident.services, ident.owner_address, address)

    return list(await asyncio.gather(*(one(i) for i in identities)))


# ----------------------------------------------------------------------------- the inventory


def _supplier_line(indent: str, ident: NewIdentity) -> str:
    fields = [f"name: {ident.name}", f"operator_address: {ident.operator_address}"]
    if ident.owner_address:
        fields.append(f"owner_address: {ident.owner_address}")
    fields.append(f"services: [{', '.join(ident.services)}]")
    fields.append(f"host: {ident.host}")
    return f"{indent}- {{{', '.join(fields)}}}\n"


def add_to_inventory(fleet: Fleet, identities: list[NewIdentity]) -> Path | None:
    """Append the identities to fleet.yml's ``suppliers:`` (comments and layout kept), validate
    the result, keep a backup, replace atomically. Returns the backup's path (None: nothing to
    add: every identity is already there)."""
    from fleetctl.spec.loader import load_inventory
    from fleetctl.spec.errors import InventoryError

    known = {s.operator_address for s in fleet.suppliers}
    todo = [i for i in identities if i.operator_address not in known]
    if not todo:
        return None
    path = fleet.root / "fleet.yml"
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if re.match(r"^suppliers:\s*(#.*)?$", ln)), None)
    if start is None:
        if re.search(r"^suppliers:", original, re.M):
            raise FleetError(f"{path}: suppliers is not a block list; add the new suppliers by hand")
        text = original + ("" if original.endswith("\n") else "\n") + "suppliers:\n"
        text += "".join(_supplier_line("  ", i) for i in todo)
    else:
        end = start + 1
        last = start
        indent = "  "
        seen_item = False
        while end < len(lines):
            ln = lines[end]
            if ln.strip() and not ln.startswith((" ", "\t", "#", "-")):
                break  # the next top-level key
            if ln.lstrip().startswith("- ") and not seen_item:
                indent = ln[: len(ln) - len(ln.lstrip())]
                seen_item = True
            if ln.strip() and not ln.lstrip().startswith("#"):
                last = end
            end += 1
        insert = "".join(_supplier_line(indent, i) for i in todo)
        if not lines[last].endswith("\n"):
            lines[last] += "\n"
        text = "".join(lines[: last + 1]) + insert + "".join(lines[last + 1:])
    # Validate the new inventory in a copy before it replaces anything.
    with tempfile.TemporaryDirectory(prefix="fleetctl-scale-") as tmp:
        copy = Path(tmp) / "inv"
        copy.mkdir()
        for name in ("hosts.yml", "hosts.yaml"):
            if (fleet.root / name).exists():
                (copy / name).write_bytes((fleet.root / name).read_bytes())
        for sub in ("group_vars", "host_vars"):
            if (fleet.root / sub).is_dir():
                os.symlink(fleet.root / sub, copy / sub)
        (copy / "fleet.yml").write_text(text)
        try:
            load_inventory(copy)
        except InventoryError as exc:
            raise FleetError(f"scale: the updated fleet.yml would not validate ({exc.errors[0]}); nothing written") from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"fleet.yml.bak-{stamp}")
    backup.write_text(original)
    write_atomic(path, text.encode(), mode=path.stat().st_mode & 0o777)  # the operator's mode kept
    return backup
