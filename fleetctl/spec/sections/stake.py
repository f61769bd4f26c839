"""fleet.yml ``stake:``: the stake margins, the operator's minimum balance, the missed-proof levels,
the fee runway and the transaction fee."""

from __future__ import annotations

from typing import Any

from fleetctl.core.units import UPOKT_PER_POKT, parse_amount
from fleetctl.spec.errors import quote
from fleetctl.spec.model import Margin, StakePolicy
from fleetctl.spec.sections.common import (
    PERCENT,
    Ctx,
    kind_of,
    read_duration,
)
from fleetctl.spec.yamlsafe import Y

#: 10 billion POKT: above the total supply, so no margin or balance can sensibly exceed it.
MAX_UPOKT = 10_000_000_000 * UPOKT_PER_POKT


def _margin(ctx: Ctx, node: Y, fld: str) -> Margin | None:
    v = node.value if node.kind == "scalar" else None
    if isinstance(v, str) and PERCENT.match(v):
        pct = float(PERCENT.match(v).group(1))  # type: ignore[union-attr]
        if pct > 1000:
            ctx.err(node, fld, f"{quote(v, bare=True)} is out of range (at most 1000%)")
            return None
        return Margin(percent=pct)
    amount = parse_amount(v)
    if amount is None:
        ctx.err(node, fld, f"expected an amount (\"5000 POKT\", \"5000000000upokt\", an integer of upokt) or a percentage of the minimum stake (\"10%\"), got {kind_of(node)}")
        return None
    if not _amount_in_range(ctx, node, fld, amount):
        return None
    return Margin(upokt=amount)


def _amount_in_range(ctx: Ctx, node: Y, fld: str, amount: int) -> bool:
    if amount > MAX_UPOKT:
        ctx.err(node, fld, f"{quote(node.value)} is out of range (at most {MAX_UPOKT // UPOKT_PER_POKT:,} POKT, more than the total supply)")
        return False
    return True


def load_stake(ctx: Ctx, node: Y) -> StakePolicy:
    body = ctx.mapping(node, "stake", {"warning_margin", "critical_margin", "min_operator_balance", "history_db",
                                       "missed_proofs_warning", "missed_proofs_critical", "fee_runway_warning",
                                       "tx_fee"})
    if body is None:
        return StakePolicy()
    default = StakePolicy()
    warning = _margin(ctx, body["warning_margin"], "stake.warning_margin") if "warning_margin" in body else default.warning_margin
    critical = _margin(ctx, body["critical_margin"], "stake.critical_margin") if "critical_margin" in body else default.critical_margin
    balance = default.min_operator_balance_upokt
    if "min_operator_balance" in body:
        b = parse_amount(body["min_operator_balance"].value if body["min_operator_balance"].kind == "scalar" else None)
        if b is None:
            ctx.err(body["min_operator_balance"], "stake.min_operator_balance", "expected an amount such as \"10 POKT\" or an integer of upokt")
        elif _amount_in_range(ctx, body["min_operator_balance"], "stake.min_operator_balance", b):
            balance = b
    history = ctx.string(body["history_db"], "stake.history_db") if "history_db" in body else None
    extra: dict[str, Any] = {}
    for key in ("missed_proofs_warning", "missed_proofs_critical"):
        if key in body and (n := ctx.integer(body[key], f"stake.{key}", 0, 10**12)) is not None:
            extra[key] = n
    if extra.get("missed_proofs_warning", default.missed_proofs_warning) < extra.get(
            "missed_proofs_critical", default.missed_proofs_critical):
        ctx.err(body.get("missed_proofs_warning") or body.get("missed_proofs_critical") or node,
                "stake.missed_proofs_warning", "must be at least missed_proofs_critical (WARNING before CRITICAL)")
    if "fee_runway_warning" in body:
        seconds = read_duration(ctx, body["fee_runway_warning"], "stake.fee_runway_warning", hi=3650 * 86400)
        if seconds is not None:
            extra["fee_runway_warning_days"] = seconds / 86400
    if "tx_fee" in body:
        fee_node = body["tx_fee"]
        fee = parse_amount(fee_node.value if fee_node.kind == "scalar" else None)
        if fee is None:
            ctx.err(fee_node, "stake.tx_fee", "expected an amount such as \"1upokt\", \"0.2 POKT\" or an integer of upokt")
        elif _amount_in_range(ctx, fee_node, "stake.tx_fee", fee):
            extra["tx_fee_upokt"] = fee
    if warning and critical:
        same_unit = (warning.upokt is None) == (critical.upokt is None)
        if same_unit and (warning.upokt or warning.percent or 0) < (critical.upokt or critical.percent or 0):
            ctx.err(body.get("warning_margin", node), "stake.warning_margin", f"{warning} is below critical_margin {critical} (WARNING must come before CRITICAL)")
    return StakePolicy(warning_margin=warning or default.warning_margin, critical_margin=critical or default.critical_margin, min_operator_balance_upokt=balance, history_db=history, **extra)
