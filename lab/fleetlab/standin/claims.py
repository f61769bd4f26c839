"""Claims and proofs (x/proof): the claim record, typed events, ``/__lab/tx`` and the msg
server's checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from fleetlab.standin.addresses import _bech32_error, lab_address
from fleetlab.standin.common import (
    UPOKT,
    SeedError,
    _as_int,
    _as_object,
    _as_str,
    _b64,
    _check_keys,
    _get,
    _go_json_bytes,
    _go_quote,
)
from fleetlab.standin.errors import _TxRefused
from fleetlab.standin.params import _param_int
from fleetlab.standin.suppliers import _service_id_error

#: ``pocket.proof.ProofRequirementReason`` and ``ClaimProofStatus`` (proto/pocket/proof/types.proto).
_PROOF_REQUIREMENTS = ("NOT_REQUIRED", "PROBABILISTIC", "THRESHOLD")


_PROOF_STATUS_PENDING, _PROOF_STATUS_VALIDATED = 0, 1


_CLAIM_STATES = ("claimed", "proven", "settled", "expired", "discarded")


#: The application of claims for a service no application is staked for.
_LAB_FALLBACK_APP = lab_address("lab-application")


_GAS_WANTED = 200_000


def _typed_event(type_name: str, fields: Mapping[str, Any],
                 extra: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """``sdk.TypedEventToEvent`` (cosmos-sdk types/events.go) of a proto message.

    Each field becomes an attribute whose value is its protojson encoding (``ProtoMarshalJSON``:
    OrigName, EmitDefaults; 64-bit integers as JSON strings, int32 as numbers, enums by name,
    messages as objects), keys sorted; then ``extra`` attributes (``msg_index`` for a message's
    events, ``mode`` for end-block events) as BaseApp appends them, unquoted. Every attribute is
    marked for indexing, as ``MarkEventsToIndex`` does with the default (empty) index set.
    """
    attributes = [{"key": key, "value": _go_json_bytes(fields[key], sort_keys=False,
                                                      newline=False).decode("utf-8"),
                   "index": True} for key in sorted(fields)]
    attributes += [{"key": key, "value": value, "index": True} for key, value in extra]
    return {"type": type_name, "attributes": attributes}


def _coin_string(amount: int) -> str:
    """``sdk.Coin.String()``: ``"<amount>upokt"``."""
    return f"{amount}{UPOKT}"


def _proto_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _tx_msg_data(type_url: str) -> bytes:
    """``cosmos.base.abci.v1beta1.TxMsgData{msg_responses: [Any{type_url}]}`` (protobuf)."""
    any_bytes = b"\x0a" + _proto_varint(len(type_url)) + type_url.encode()
    return b"\x12" + _proto_varint(len(any_bytes)) + any_bytes


@dataclass
class Claim:
    """A Shannon claim (``pocket.proof.Claim``) and what the chain decided about it.

    ``state`` is ``claimed`` (pending, no proof), ``proven`` (pending, proof accepted),
    ``settled``, ``expired`` or ``discarded``; ``proof_requirement`` is known from the proof
    window's seed block on (the block before the proof window opens).
    """

    supplier_operator_address: str
    service_id: str
    application_address: str
    session_id: str
    session_start_block_height: int
    session_end_block_height: int
    num_relays: int
    compute_units_per_relay: int
    claimed_upokt: int
    created_height: int
    settlement_height: int
    proof_height: int = 0
    state: str = "claimed"
    proof_requirement: str | None = None
    settled_upokt: int | None = None
    minted_upokt: int | None = None
    penalty_upokt: int | None = None
    stake_after_upokt: int | None = None

    SEED_FIELDS: ClassVar[tuple[str, ...]] = (
        "supplier_operator_address", "service_id", "application_address", "session_id",
        "session_start_block_height", "session_end_block_height", "num_relays",
        "compute_units_per_relay", "claimed_upokt", "created_height", "settlement_height",
        "proof_height", "state", "proof_requirement", "settled_upokt", "minted_upokt",
        "penalty_upokt", "stake_after_upokt")

    @property
    def num_claimed_compute_units(self) -> int:
        return self.num_relays * self.compute_units_per_relay

    @property
    def proof_status(self) -> int:
        return _PROOF_STATUS_VALIDATED if self.proof_height else _PROOF_STATUS_PENDING

    def key(self) -> tuple[str, str]:
        return self.session_id, self.supplier_operator_address

    def base_fields(self) -> dict[str, Any]:
        """Fields every claim event of poktroll's protos carries (newest shape)."""
        return {
            "service_id": self.service_id,
            "application_address": self.application_address,
            "session_end_block_height": str(self.session_end_block_height),
            "claim_proof_status_int": self.proof_status,
            "supplier_operator_address": self.supplier_operator_address,
        }

    def amount_fields(self) -> dict[str, Any]:
        # Base relay mining difficulty: estimated compute units = claimed compute units and
        # num_estimated_relays = estimated compute units / compute units per relay.
        return {
            "num_relays": str(self.num_relays),
            "num_claimed_compute_units": str(self.num_claimed_compute_units),
            "num_estimated_compute_units": str(self.num_claimed_compute_units),
            "num_estimated_relays": str(self.num_relays),
            "claimed_upokt": _coin_string(self.claimed_upokt),
        }

    @classmethod
    def from_seed(cls, obj: Any, where: str) -> Claim:
        obj = _as_object(obj, where)
        _check_keys(obj, cls.SEED_FIELDS, where)
        ints = {"session_start_block_height", "session_end_block_height", "num_relays",
                "compute_units_per_relay", "claimed_upokt", "created_height",
                "settlement_height", "proof_height"}
        optional_ints = {"settled_upokt", "minted_upokt", "penalty_upokt", "stake_after_upokt"}
        values: dict[str, Any] = {}
        for name in cls.SEED_FIELDS:
            here = f"{where}.{name}"
            value = obj.get(name)
            if name in ints:
                values[name] = _as_int(_get(obj, name, 0), here)
            elif name in optional_ints:
                values[name] = None if value is None else _as_int(value, here)
            elif name == "state":
                state = _as_str(_get(obj, name, "claimed"), here)
                if state not in _CLAIM_STATES:
                    raise SeedError(f"{here}: expected one of {', '.join(_CLAIM_STATES)}")
                values[name] = state
            elif name == "proof_requirement":
                if value is not None and value not in _PROOF_REQUIREMENTS:
                    raise SeedError(f"{here}: expected one of {', '.join(_PROOF_REQUIREMENTS)}")
                values[name] = value
            else:
                values[name] = _as_str(value, here)
        return cls(**values)

    def to_seed(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SEED_FIELDS}


class ClaimsMixin:
    """``MsgCreateClaim`` and ``MsgSubmitProof`` through ``/__lab/tx``, their windows and
    proof requirement.

    State and lock: :class:`fleetlab.standin.state.ChainState`.
    """

    def _windows(self, session_end: int) -> tuple[int, int, int, int]:
        """(claim open, claim close, proof open, proof close) heights of the session ending at
        ``session_end`` (x/shared/types/session.go ``GetClaimWindowOpenHeight`` …; both ends
        inclusive, as x/proof/keeper/session.go ``validateClaimWindow`` checks them)."""
        claim_open = session_end + self._shared("claim_window_open_offset_blocks") + 1
        claim_close = claim_open + self._shared("claim_window_close_offset_blocks")
        proof_open = claim_close + self._shared("proof_window_open_offset_blocks")
        return (claim_open, claim_close, proof_open,
                proof_open + self._shared("proof_window_close_offset_blocks"))

    def _proof_param(self, name: str, default: int) -> int:
        return _param_int(self._shannon_params["proof"], name, default)

    def _proof_requirement(self, claim: Claim) -> str:
        """``ProofRequirementForClaim`` (x/proof/keeper/msg_server_submit_proof.go): THRESHOLD
        when the claimed upokt reach ``proof_requirement_threshold``; else PROBABILISTIC when a
        sample in [0, 1) is <= ``proof_request_probability``. The stand-in's sample is
        deterministic: the first 8 bytes (big-endian) of SHA-256(SHA-256(supplier ‖ "/" ‖
        session id ‖ "/" ‖ num_relays) ‖ hash of the block before the proof window opens) over
        2^64 (poktroll seeds ``poktrand.SeededFloat64`` with the claim hash and that block's
        hash; the generator differs, the seed block is the same)."""
        if claim.proof_requirement is None:
            threshold = self._proof_param("proof_requirement_threshold", 20_000_000)
            if claim.claimed_upokt >= threshold:
                claim.proof_requirement = "THRESHOLD"
            else:
                seed_block = self._windows(claim.session_end_block_height)[2] - 1
                claim_hash = hashlib.sha256(
                    f"{claim.supplier_operator_address}/{claim.session_id}/"
                    f"{claim.num_relays}".encode()).digest()
                digest = hashlib.sha256(claim_hash + self._block_hash(seed_block)).digest()
                sample = int.from_bytes(digest[:8], "big") / 2**64
                probability = self._shannon_params["proof"].get("proof_request_probability",
                                                                0.25)
                try:
                    probability = float(probability)
                except (TypeError, ValueError):
                    probability = 0.25
                claim.proof_requirement = ("PROBABILISTIC" if sample <= probability
                                           else "NOT_REQUIRED")
        return claim.proof_requirement

    def submit_tx(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /__lab/tx``: a MsgCreateClaim or MsgSubmitProof included in the next block.

        Returns ``{"code": 0, "height", "txhash"}``, or ``{"code": 1, "codespace":
        "undefined", "log": <the msg server's error>, "height", "txhash"}`` for a message the
        msg server refuses; either way the transaction is in ``txs_results`` of ``height``.
        """
        _check_keys(obj, ("msg", "supplier_operator_address", "service_id",
                          "session_end_block_height", "num_relays"), "tx")
        msg = _as_str(obj.get("msg"), "msg")
        if msg not in ("MsgCreateClaim", "MsgSubmitProof"):
            raise SeedError(f"msg: expected MsgCreateClaim or MsgSubmitProof, got {msg!r}")
        operator = _as_str(obj.get("supplier_operator_address"), "supplier_operator_address")
        if problem := _bech32_error(operator, "pokt"):
            raise SeedError(f"supplier_operator_address: {problem}")
        service_id = _as_str(obj.get("service_id"), "service_id")
        if problem := _service_id_error(service_id):
            raise SeedError(f"service_id: {problem}")
        session_end = _as_int(obj.get("session_end_block_height"), "session_end_block_height",
                              minimum=1)
        if msg == "MsgCreateClaim":
            num_relays = _as_int(obj.get("num_relays"), "num_relays")
        elif obj.get("num_relays") is not None:
            raise SeedError("num_relays: only for MsgCreateClaim")
        with self._lock:
            height = self._settle() + 1  # included in the next block
            self._tx_count += 1
            txhash = hashlib.sha256(f"pocket-lab:tx:{self._tx_count}".encode()).hexdigest().upper()
            try:
                if msg == "MsgCreateClaim":
                    event = self._create_claim(operator, service_id, session_end, num_relays,
                                               height)
                else:
                    event = self._submit_proof(operator, service_id, session_end, height)
            except _TxRefused as refused:
                self._block(height).txs_results.append(self._tx_result(
                    msg, operator, None, code=1, log="internal", codespace="undefined"))
                return {"code": 1, "codespace": "undefined",
                        "log": f"failed to execute message; message index: 0: {refused}",
                        "height": height, "txhash": txhash}
            self._block(height).txs_results.append(self._tx_result(msg, operator, event))
            return {"code": 0, "height": height, "txhash": txhash}

    def _tx_result(self, msg: str, operator: str, event: dict[str, Any] | None, *,
                   code: int = 0, log: str = "", codespace: str = "") -> dict[str, Any]:
        """An ``ExecTxResult`` (jsonpb EmitDefaults, as CometBFT writes it): the ante handler's
        ``tx`` events, then the message's ``message`` event and its typed event (each with
        ``msg_index``); a failed message leaves only the ante events."""
        key = operator.lower()
        self._sequences[key] = sequence = self._sequences.get(key, -1) + 1
        signature = hashlib.sha512(f"pocket-lab:sig:{operator}:{sequence}".encode()).digest()
        events: list[dict[str, Any]] = [
            {"type": "tx", "attributes": [{"key": "fee", "value": "", "index": True},
                                          {"key": "fee_payer", "value": operator,
                                           "index": True}]},
            {"type": "tx", "attributes": [{"key": "acc_seq", "value": f"{operator}/{sequence}",
                                           "index": True}]},
            {"type": "tx", "attributes": [{"key": "signature", "value": _b64(signature),
                                           "index": True}]},
        ]
        data = ""
        if event is not None:
            events.append({"type": "message", "attributes": [
                {"key": "action", "value": f"/pocket.proof.{msg}", "index": True},
                {"key": "sender", "value": operator, "index": True},
                {"key": "module", "value": "proof", "index": True},
                {"key": "msg_index", "value": "0", "index": True}]})
            events.append(event)
            data = _b64(_tx_msg_data(f"/pocket.proof.{msg}Response"))
        gas_used = 60_000 + 40 * sum(len(json.dumps(e)) for e in events) // 10
        return {"code": code, "data": data, "log": log, "info": "",
                "gas_wanted": str(_GAS_WANTED), "gas_used": str(min(gas_used, _GAS_WANTED)),
                "events": events, "codespace": codespace}

    def _claim_event(self, type_name: str, claim: Claim) -> dict[str, Any]:
        return _typed_event(type_name, {**claim.amount_fields(), **claim.base_fields()},
                            [("msg_index", "0")])

    def _create_claim(self, operator: str, service_id: str, session_end: int, num_relays: int,
                      height: int) -> dict[str, Any]:
        """``CreateClaim`` (x/proof/keeper/msg_server_create_claim.go) at ``height``."""
        if self._session_end(session_end) != session_end:
            raise _TxRefused("InvalidArgument", f"session end height {session_end} is not the "
                             "end of a session: invalid session end height")
        supplier = self._suppliers.get(operator)
        if supplier is None or supplier.active_config(service_id, session_end) is None:
            raise _TxRefused("InvalidArgument", f"supplier operator address {_go_quote(operator)}"
                             f" not staked for service {_go_quote(service_id)} at height "
                             f"{session_end}: supplier not found")
        apps = [a for _, a in sorted(self._applications.items())
                if service_id in a.service_ids and a.is_active(session_end)]
        # The lab's relays do not come through sessions: when no application's session has the
        # supplier, the claim is for the first application (the chain would refuse it with
        # "supplier operator address … not found in session ID …: supplier not found").
        app_address = apps[0].address if apps else _LAB_FALLBACK_APP
        for app in apps:
            if operator in self._session_for(app.address, service_id, session_end)[1]:
                app_address = app.address
                break
        session_id = self._session_for(app_address, service_id, session_end)[0]
        claim_open, claim_close, _, proof_close = self._windows(session_end)
        if height < claim_open:
            raise _TxRefused("FailedPrecondition", f"current block height ({height}) is less than "
                             f"the session's earliest claim commit height ({claim_open}): claim "
                             "attempted outside of the session's claim window")
        if height > claim_close:
            raise _TxRefused("FailedPrecondition", f"current block height ({height}) is greater "
                             f"than session claim window close height ({claim_close}): claim "
                             "attempted outside of the session's claim window")
        service = self._service_wire(service_id) or {"compute_units_per_relay": "1"}
        cupr = int(service["compute_units_per_relay"])
        multiplier = self._shared_or("compute_units_to_tokens_multiplier", 42_000_000)
        granularity = max(1, self._shared_or("compute_unit_cost_granularity", 1_000_000))
        claimed = num_relays * cupr * multiplier // granularity
        existing = self._claims.get((session_id, operator))
        claim = Claim(operator, service_id, app_address, session_id,
                      self._session_start(session_end), session_end, num_relays, cupr, claimed,
                      created_height=height, settlement_height=proof_close)
        self._claims[claim.key()] = claim
        self._next_settlement = min(self._next_settlement, claim.settlement_height)
        return self._claim_event("pocket.proof.EventClaimUpdated" if existing else
                                 "pocket.proof.EventClaimCreated", claim)

    def _submit_proof(self, operator: str, service_id: str, session_end: int,
                      height: int) -> dict[str, Any]:
        """``SubmitProof`` (x/proof/keeper/msg_server_submit_proof.go) at ``height``."""
        _, _, proof_open, proof_close = self._windows(session_end)
        if height < proof_open:
            raise _TxRefused("FailedPrecondition", f"current block height ({height}) is less than "
                             f"session's earliest proof commit height ({proof_open}): proof "
                             "attempted outside of the session's proof window")
        if height > proof_close:
            raise _TxRefused("FailedPrecondition", f"current block height ({height}) is greater "
                             f"than session proof window close height ({proof_close}): proof "
                             "attempted outside of the session's proof window")
        claim = next((c for c in self._claims.values()
                      if c.supplier_operator_address == operator and c.service_id == service_id
                      and c.session_end_block_height == session_end
                      and c.state in ("claimed", "proven")), None)
        if claim is None:
            raise _TxRefused("FailedPrecondition", "claim not found")
        fee = self._proof_param("proof_submission_fee", 0)
        balance = self._balances.get(operator.lower(), 0)
        if balance <= 0:
            raise _TxRefused("FailedPrecondition",
                             "account has no spendable coins: not enough funds to submit proof")
        if balance <= fee:
            raise _TxRefused("FailedPrecondition", f"account has {balance}, but the proof "
                             f"submission fee is {_coin_string(fee)}: not enough funds to "
                             "submit proof")
        if self._proof_requirement(claim) == "NOT_REQUIRED":
            # A failed message's state changes (the fee just deducted) are discarded.
            raise _TxRefused("FailedPrecondition", "proof not required")
        self._balances[operator.lower()] = balance - fee
        existing = claim.proof_height != 0
        # The proof module's end blocker validates it in the same block: VALIDATED.
        claim.proof_height, claim.state = height, "proven"
        return self._claim_event("pocket.proof.EventProofUpdated" if existing else
                                 "pocket.proof.EventProofSubmitted", claim)

    def claims(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle()
            return [c.to_seed() for c in self._claims.values()]
