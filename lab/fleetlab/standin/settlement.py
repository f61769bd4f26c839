"""Settlement (x/tokenomics): each due block's claims settled, expired or discarded, and the
slashes of missing proofs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fleetlab.standin.claims import (
    _PROOF_REQUIREMENTS,
    Claim,
    _coin_string,
    _typed_event,
)
from fleetlab.standin.common import _go_quote
from fleetlab.standin.params import SHANNON_PARAM_DEFAULTS, _go_float_text, _param_int
from fleetlab.standin.suppliers import Supplier


class SettlementMixin:
    """The end-block settlement of claims and the slashes and auto-unstakes it causes.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def _process_claims(self, height: int) -> None:
        """Settle every claim whose settlement block is at or below ``height``, block by
        block, each in the end-block of its proof window's close height (x/tokenomics
        module/abci.go ``EndBlocker`` → keeper/settle_pending_claims.go ``SettlePendingClaims``:
        a claim is ripe once the block height exceeds session end + the claim and proof window
        offsets, i.e. at ``GetProofWindowCloseHeight``)."""
        if self._next_settlement > height:
            return
        pending = [c.settlement_height for c in self._claims.values()
                   if c.state in ("claimed", "proven") and c.settlement_height > height]
        due = sorted(((c.settlement_height, i, c) for i, c in enumerate(self._claims.values())
                      if c.state in ("claimed", "proven") and c.settlement_height <= height),
                     key=lambda t: (t[0], t[1]))
        # Nothing to look at again before the next pending settlement (new claims lower it).
        self._next_settlement = min(pending, default=height + 1)
        by_height: dict[int, list[Claim]] = {}
        for settle_at, _, claim in due:
            by_height.setdefault(settle_at, []).append(claim)
        for settle_at, claims in by_height.items():
            self._unbond_due(settle_at)
            self._settle_claims(settle_at, claims)

    def _settle_claims(self, height: int, claims: list[Claim]) -> None:
        """One block's settlement: EventClaimSettled / EventClaimExpired / EventClaimDiscarded
        per claim in order, then each expired claim's slash (EventSupplierUnbondingBegin when it
        falls below min_stake, then EventSupplierSlashed), as SettlePendingClaims then
        ExecutePendingExpiredResults → slashSupplierStake emit them; ``mode`` EndBlock."""
        mode = [("mode", "EndBlock")]
        events: list[dict[str, Any]] = []
        expired: list[Claim] = []
        for claim in claims:
            supplier = self._suppliers.get(claim.supplier_operator_address)
            problem = None
            if supplier is None:
                problem = (f"supplier with operator address {_go_quote(claim.supplier_operator_address)}"
                           " not found")
            elif claim.num_relays == 0:
                problem = "root hash has zero relays: invalid root hash"
            if problem is not None:
                claim.state = "discarded"
                error = (f"[UNEXPECTED ERROR] Critical error during claim settlement during "
                         f"session {_go_quote(claim.session_id)} for operator "
                         f"{claim.supplier_operator_address} and service {claim.service_id}. Claim "
                         f"will be discarded to prevent chain halt: {problem}: internal claim "
                         "settlement error")
                events.append(_typed_event("pocket.tokenomics.EventClaimDiscarded",
                                           {**claim.base_fields(), "error": error}, mode))
                continue
            assert supplier is not None
            requirement = self._proof_requirement(claim)
            if requirement != "NOT_REQUIRED" and not claim.proof_height:
                claim.state = "expired"
                events.append(_typed_event("pocket.tokenomics.EventClaimExpired", {
                    **claim.amount_fields(), **claim.base_fields(),
                    "expiration_reason": "PROOF_MISSING"}, mode))
                expired.append(claim)
                continue
            events.append(self._settle_claim(claim, supplier, requirement, mode))
        for claim in expired:
            events.extend(self._slash_for_claim(claim, height, mode))
        self._block(height).finalize_block_events.extend(events)

    def _settle_claim(self, claim: Claim, supplier: Supplier, requirement: str,
                      mode: list[tuple[str, str]]) -> dict[str, Any]:
        """Relay burn equals mint, simplified: settled = claimed capped at the application's
        stake / num_suppliers_per_session (the legacy per-supplier cap of
        ``ensureClaimAmountLimits``; redistribution of unused budget is not modelled); minted =
        settled × mint_ratio truncated (``computeSettlementBreakdown``, event_claim_settled.go);
        the application's stake is burnt by settled and the supplier's owner is credited with
        minted × mint_equals_burn_claim_distribution.supplier. A settlement amount of 0 skips
        the token logic modules (token_logic_modules.go: nothing minted, burnt or paid)."""
        tokenomics = self._shannon_params["tokenomics"]
        app = self._applications.get(claim.application_address)
        settled = claim.claimed_upokt
        if app is not None:
            per_session = max(1, _param_int(
                self._shannon_params["session"], "num_suppliers_per_session",
                SHANNON_PARAM_DEFAULTS[("session", "num_suppliers_per_session")]))
            settled = min(settled, app.stake_upokt // per_session)
        ratio_text = _go_float_text(tokenomics.get("mint_ratio", 1))
        minted = int(Decimal(settled) * Decimal(ratio_text))
        distribution: dict[str, str] = {}
        if settled > 0:
            if app is not None:
                app.stake_upokt -= min(settled, app.stake_upokt)
            share_text = _go_float_text(
                (tokenomics.get("mint_equals_burn_claim_distribution") or {}).get("supplier", 0))
            owner_share = int(Decimal(minted) * Decimal(share_text))
            if owner_share > 0:
                self._credit(supplier.owner_address, owner_share)
                distribution[supplier.owner_address] = _coin_string(owner_share)
        claim.state = "settled"
        claim.settled_upokt, claim.minted_upokt = settled, minted
        return _typed_event("pocket.tokenomics.EventClaimSettled", {
            **claim.amount_fields(), **claim.base_fields(),
            "proof_requirement_int": _PROOF_REQUIREMENTS.index(requirement),
            "reward_distribution": distribution,
            "reward_distribution_detailed": [
                {"recipient_address": address, "op_reason":
                 "TLM_RELAY_BURN_EQUALS_MINT_SUPPLIER_SHAREHOLDER_REWARD_DISTRIBUTION",
                 "amount": amount} for address, amount in distribution.items()],
            "settled_upokt": _coin_string(settled),
            "mint_ratio": ratio_text,
            "session_id": claim.session_id,
            "supplier_owner_address": supplier.owner_address,
            "minted_upokt": _coin_string(minted),
            "overservicing_loss_upokt": _coin_string(max(0, claim.claimed_upokt - settled)),
            "deflation_loss_upokt": _coin_string(max(0, settled - minted)),
        }, mode)

    def _slash_for_claim(self, claim: Claim, height: int,
                         mode: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """``slashSupplierStake``: stake -= proof_missing_penalty (all of it when smaller),
        auto-unstake below min_stake (once), EventSupplierSlashed."""
        supplier = self._suppliers.get(claim.supplier_operator_address)
        if supplier is None:
            return []
        penalty = min(self._proof_param("proof_missing_penalty", 320_000_000),
                      supplier.stake_upokt)
        supplier.stake_upokt -= penalty
        claim.penalty_upokt, claim.stake_after_upokt = penalty, supplier.stake_upokt
        events: list[dict[str, Any]] = []
        session_end = self._unstake_below_min(supplier, height)
        if session_end is not None:
            events.append(_typed_event("pocket.supplier.EventSupplierUnbondingBegin", {
                "supplier": supplier.to_wire(height),
                "reason": "SUPPLIER_UNBONDING_REASON_BELOW_MIN_STAKE",
                "session_end_height": str(session_end),
                "unbonding_end_height": str(session_end),
            }, mode))
        events.append(_typed_event("pocket.tokenomics.EventSupplierSlashed", {
            **claim.base_fields(),
            "proof_missing_penalty": _coin_string(penalty),
            "supplier_stake_after_slash": _coin_string(supplier.stake_upokt),
        }, mode))
        return events

    def _unstake_below_min(self, supplier: Supplier, height: int) -> int | None:
        """Start unbonding a supplier whose stake fell below ``min_stake`` (not twice): its
        unstake session end is the end of ``height``'s session and its service configs are
        deactivated there (settle_pending_claims.go). Returns that height, or None."""
        minimum = _param_int(self._shannon_params["supplier"], "min_stake",
                             SHANNON_PARAM_DEFAULTS[("supplier", "min_stake")])
        if supplier.stake_upokt >= minimum or supplier.unstake_session_end_height:
            return None
        session_end = self._session_end(height)
        supplier.unstake_session_end_height = session_end
        for update in supplier.history:
            if update.deactivation_height == 0 or update.deactivation_height > session_end:
                update.deactivation_height = session_end
        return session_end
