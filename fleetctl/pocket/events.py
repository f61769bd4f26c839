"""The chain's claim, proof, settlement and slash events of one block, for the fleet's suppliers.

Source: CometBFT v0.38 RPC ``GET /block_results?height=H`` (the JSON-RPC envelope
``{"jsonrpc","id","result":{"height","txs_results":[{"code","events":[…]}…],
"finalize_block_events":[…],…}}``). Transaction events (claims and proofs) are in
``txs_results[i].events``; the end-block events of ``x/tokenomics`` (settled, expired, slashed,
discarded) only in ``finalize_block_events``. A transaction whose ``code`` is not 0 has failed
and its events are ignored.

Typed events are written by Cosmos SDK 0.50 ``TypedEventToEvent``: one attribute per proto field
(snake_case names), each value the field's protojson: (u)int64 and string fields are JSON
strings (``"\\"123\\""``), int32 fields JSON numbers (``"11"``), enums their name as a JSON
string (``"\\"PROOF_MISSING\\""``), messages JSON objects. Protos: pokt-network/poktroll
``proto/pocket/proof/event.proto`` and ``proto/pocket/tokenomics/event.proto`` at ab401ed
(v0.1.34): amounts are ``Coin.String()`` strings (``"320upokt"``) and the claim's identity is
flat (``supplier_operator_address``, ``service_id``, ``application_address``,
``session_end_block_height``; ``EventClaimSettled.proof_requirement_int``). Releases before
poktroll #1672/#1673 embedded ``claim`` (a ``pocket.proof.Claim``: ``supplier_operator_address``
and ``session_header{application_address, service_id, session_end_block_height}``), wrote
amounts as ``Coin`` objects (``{"denom":"upokt","amount":"320"}``) and the settled event's
``proof_requirement`` as an enum name: both shapes are read.

Every value read is checked for type and plausible range; an event of a fleet supplier that is
malformed raises :class:`EventError` (one line: endpoint, height, field, problem). An event of
another supplier is skipped before its other fields are parsed (most of a block's events are
other suppliers'), and so is every event type not in :data:`TYPES` (counted in
``counts["skipped"]``, never an error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fleetctl.core.records import record
from fleetctl.pocket.base import parse_amount, parse_height, parse_int
from fleetctl.pocket.http import QueryError

__all__ = ["KINDS", "TYPES", "ChainEvent", "ClaimParams", "EventError", "Unusable", "answer_error", "answer_id",
           "decode_answers", "parse_answer", "parse_block_results", "parse_coin"]

KINDS = ("claim_created", "claim_updated", "proof_submitted", "proof_updated",
         "claim_settled", "claim_expired", "supplier_slashed", "claim_discarded")

#: Event type -> kind. Tx events (x/proof) and end-block events (x/tokenomics).
TYPES = {
    "pocket.proof.EventClaimCreated": "claim_created",
    "pocket.proof.EventClaimUpdated": "claim_updated",
    "pocket.proof.EventProofSubmitted": "proof_submitted",
    "pocket.proof.EventProofUpdated": "proof_updated",
    "pocket.tokenomics.EventClaimSettled": "claim_settled",
    "pocket.tokenomics.EventClaimExpired": "claim_expired",
    "pocket.tokenomics.EventSupplierSlashed": "supplier_slashed",
    "pocket.tokenomics.EventClaimDiscarded": "claim_discarded",
}

#: ``pocket.proof.ProofRequirementReason`` (proof/types.proto).
PROOF_REQUIREMENTS = ("NOT_REQUIRED", "PROBABILISTIC", "THRESHOLD")
#: ``pocket.tokenomics.ClaimExpirationReason`` (tokenomics/event.proto).
EXPIRATION_REASONS = ("EXPIRATION_REASON_UNSPECIFIED", "PROOF_MISSING", "PROOF_INVALID")
#: No claim counts more relays or compute units than this (a thousand billion); a larger
#: number is a broken or hostile node, not a session's work.
MAX_RELAYS = 10**15
_ADDRESS = re.compile(r"[a-z0-9]{1,128}")
#: poktroll service ids: letters, digits, '_', '-' and '.' (x/shared/types/service.go), short.
_SERVICE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_COIN = re.compile(r"([0-9]{1,40})upokt")
_MAX_ATTRIBUTES = 64
_MAX_REASON = 160


class EventError(QueryError):
    """A fleet supplier's event that cannot be read: ``"<endpoint> height H: <field>: <problem>"``."""


@record(frozen=True, slots=True)
class ChainEvent:
    """One event of a fleet supplier's claim (identified by supplier, service, application and
    session end height), as stored in ``chain_events``."""

    height: int
    kind: str
    supplier: str
    service: str
    application: str
    session_end: int
    num_relays: int | None = None
    compute_units: int | None = None  # num_claimed_compute_units
    claimed_upokt: int | None = None
    settled_upokt: int | None = None
    minted_upokt: int | None = None
    reason: str | None = None  # PROOF_MISSING / PROOF_INVALID / the discard error
    penalty_upokt: int | None = None
    stake_after_upokt: int | None = None
    proof_requirement: str | None = None  # NOT_REQUIRED / PROBABILISTIC / THRESHOLD


class _Bad(Exception):
    """A field problem inside one event: ``field: problem`` (wrapped into an EventError)."""


def parse_coin(value: Any, what: str) -> int:
    """upokt of ``Coin.String()`` (``"320upokt"``) or of a ``Coin`` object (older releases)."""
    if isinstance(value, str):
        match = _COIN.fullmatch(value)
        if match is None:
            raise QueryError(f"{what}: expected '<integer>upokt', got {_shown(value)}")
        digits = match.group(1)
        if len(digits) <= 17:  # below SUPPLY_CEILING_UPOKT (10^17): no further check needed
            return int(digits)
        return parse_amount(digits, what)
    if isinstance(value, dict):
        denom = value.get("denom")
        if denom != "upokt":
            raise QueryError(f"{what}: denom {_shown(denom)}, expected 'upokt'")
        return parse_amount(value.get("amount"), f"{what}.amount")
    raise QueryError(f"{what}: expected a coin, got {_shown(value)}")


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:24]!r}… ({len(value)} characters)"
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    return repr(value)[:40]


def _json(raw: Any, what: str) -> Any:
    """The protojson value of one attribute (its ``value`` is JSON text)."""
    if not isinstance(raw, str):
        raise _Bad(f"{what}: expected a string value, got {_shown(raw)}")
    # Fast paths: a plain JSON string without escapes ("\"pokt1…\""), a small plain integer.
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"' and "\\" not in raw and '"' not in raw[1:-1]:
        return raw[1:-1]
    if 0 < len(raw) <= 18 and raw.isascii() and raw.isdigit() and (raw[0] != "0" or len(raw) == 1):
        return int(raw)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise _Bad(f"{what}: not JSON ({_shown(raw)})") from None


def _text(value: Any, what: str, pattern: re.Pattern[str], kind: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _Bad(f"{what}: not {kind} ({_shown(value)})")
    return value


def _number(raw: Any, what: str, *, maximum: int = MAX_RELAYS) -> int:
    # The common case, "\"123\"" (a uint64 as the SDK writes it), without a call: the same
    # result as _json's plain-string fast path followed by the digit check below.
    if type(raw) is str and 2 < len(raw) <= 17 and raw[0] == '"' and raw[-1] == '"':
        digits = raw[1:-1]
        if digits.isascii() and digits.isdigit():
            number = int(digits)
            if number <= maximum:
                return number
    value = _json(raw, what)
    if type(value) is str and 0 < len(value) <= 15 and value.isascii() and value.isdigit():
        number = int(value)  # the common case, without parse_int's general checks
        if number <= maximum:
            return number
    try:
        return parse_int(value, what, maximum=maximum)
    except QueryError as exc:
        raise _Bad(str(exc)) from None


def _coin(raw: Any, what: str) -> int:
    value = _json(raw, what)
    try:
        return parse_coin(value, what)
    except QueryError as exc:
        raise _Bad(str(exc)) from None


def _enum(raw: Any, what: str, names: tuple[str, ...]) -> str:
    """A protojson enum: its name (as the SDK writes it) or its number."""
    value = _json(raw, what)
    if isinstance(value, str) and value in names:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    raise _Bad(f"{what}: not one of {', '.join(names)} ({_shown(value)})")


def _attributes(event: dict[str, Any], where: str) -> dict[str, Any]:
    attributes = event.get("attributes")
    if attributes is None:
        return {}
    if not isinstance(attributes, list):
        raise _Bad(f"{where}.attributes: expected a list, got {_shown(attributes)}")
    if len(attributes) > _MAX_ATTRIBUTES:
        raise _Bad(f"{where}.attributes: {len(attributes)} attributes (at most {_MAX_ATTRIBUTES})")
    try:
        return {attribute["key"]: attribute.get("value") for attribute in attributes}
    except (TypeError, KeyError, AttributeError):
        pass
    for index, attribute in enumerate(attributes):
        if not isinstance(attribute, dict) or not isinstance(attribute.get("key"), str):
            raise _Bad(f"{where}.attributes[{index}]: expected {{key, value}}")
    raise _Bad(f"{where}.attributes: expected {{key, value}} objects")  # pragma: no cover


def _identity(attrs: Mapping[str, Any], where: str) -> tuple[str, Any, dict[str, Any] | None]:
    """The supplier (only it: the cheap filter) and, for the older shape, the embedded claim."""
    if "supplier_operator_address" in attrs:
        supplier = _json(attrs["supplier_operator_address"], f"{where}.supplier_operator_address")
        return _text(supplier, f"{where}.supplier_operator_address", _ADDRESS, "an address"), None, None
    if "claim" in attrs:
        claim = _json(attrs["claim"], f"{where}.claim")
        if not isinstance(claim, dict):
            raise _Bad(f"{where}.claim: expected an object, got {_shown(claim)}")
        supplier = claim.get("supplier_operator_address")
        return _text(supplier, f"{where}.claim.supplier_operator_address", _ADDRESS,
                     "an address"), None, claim
    raise _Bad(f"{where}: missing field supplier_operator_address (and no claim)")


def _event(kind: str, attrs: Mapping[str, Any], supplier: str, claim: dict[str, Any] | None,
           height: int, where: str) -> ChainEvent:
    def need(name: str) -> Any:
        if name not in attrs or attrs[name] is None:
            raise _Bad(f"{where}: missing field {name}")
        return attrs[name]

    if claim is None:
        service = _text(_json(need("service_id"), f"{where}.service_id"), f"{where}.service_id",
                        _SERVICE, "a service id")
        application = _text(_json(need("application_address"), f"{where}.application_address"),
                            f"{where}.application_address", _ADDRESS, "an address")
        session_end = _number(need("session_end_block_height"), f"{where}.session_end_block_height",
                              maximum=10**12)
    else:
        header = claim.get("session_header")
        if not isinstance(header, dict):
            raise _Bad(f"{where}.claim.session_header: expected an object, got {_shown(header)}")
        service = _text(header.get("service_id"), f"{where}.claim.session_header.service_id",
                        _SERVICE, "a service id")
        application = _text(header.get("application_address"),
                            f"{where}.claim.session_header.application_address", _ADDRESS, "an address")
        try:
            session_end = parse_height(header.get("session_end_block_height"),
                                       f"{where}.claim.session_header.session_end_block_height")
        except QueryError as exc:
            raise _Bad(str(exc)) from None
    if not 1 <= session_end <= height:
        raise _Bad(f"{where}.session_end_block_height: {session_end} is not between 1 and the "
                   f"block's height {height}")
    values: dict[str, Any] = {}
    if kind == "supplier_slashed":
        values["penalty_upokt"] = _coin(need("proof_missing_penalty"), f"{where}.proof_missing_penalty")
        if "supplier_stake_after_slash" in attrs:
            values["stake_after_upokt"] = _coin(attrs["supplier_stake_after_slash"],
                                                f"{where}.supplier_stake_after_slash")
    elif kind == "claim_discarded":
        error = _json(need("error"), f"{where}.error")
        if not isinstance(error, str):
            raise _Bad(f"{where}.error: expected a string, got {_shown(error)}")
        values["reason"] = " ".join(error.split())[:_MAX_REASON] or "discarded"
    else:
        values["num_relays"] = _number(need("num_relays"), f"{where}.num_relays")
        values["compute_units"] = _number(need("num_claimed_compute_units"),
                                          f"{where}.num_claimed_compute_units")
        values["claimed_upokt"] = _coin(need("claimed_upokt"), f"{where}.claimed_upokt")
        if kind == "claim_expired":
            values["reason"] = _enum(need("expiration_reason"), f"{where}.expiration_reason",
                                     EXPIRATION_REASONS)
        elif kind == "claim_settled":
            if "proof_requirement_int" in attrs:
                values["proof_requirement"] = _enum(attrs["proof_requirement_int"],
                                                    f"{where}.proof_requirement_int", PROOF_REQUIREMENTS)
            elif "proof_requirement" in attrs:
                values["proof_requirement"] = _enum(attrs["proof_requirement"],
                                                    f"{where}.proof_requirement", PROOF_REQUIREMENTS)
            for name, key in (("settled_upokt", "settled_upokt"), ("minted_upokt", "minted_upokt")):
                if attrs.get(key) is not None:
                    values[name] = _coin(attrs[key], f"{where}.{key}")
            settled = values.get("settled_upokt")
            if settled is not None and settled > values["claimed_upokt"]:
                raise _Bad(f"{where}.settled_upokt: {settled} is above claimed_upokt "
                           f"{values['claimed_upokt']}")
    return ChainEvent(height, kind, supplier, service, application, session_end, **values)


def _plain(raw: Any) -> str | None:
    """The text of an attribute value that is a plain JSON string (no escapes), else None."""
    if type(raw) is str and len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        inner = raw[1:-1]
        if "\\" not in inner and '"' not in inner:
            return inner
    return None


def _plain_uint(raw: Any, maximum: int) -> int | None:
    text = _plain(raw)
    if text is not None and 0 < len(text) <= 15 and text.isascii() and text.isdigit():
        number = int(text)
        if number <= maximum:
            return number
    return None


def _plain_coin(raw: Any) -> int | None:
    text = _plain(raw)
    if text is not None:
        match = _COIN.fullmatch(text)
        if match is not None and len(match.group(1)) <= 17:
            return int(match.group(1))
    return None


#: What _quick reads of the claim kinds (the newest shape, every value as the SDK writes it).
_QUICK_KINDS = frozenset({"claim_created", "claim_updated", "proof_submitted", "proof_updated",
                          "claim_settled", "claim_expired"})


def _quick(kind: str, attrs: Mapping[str, Any], supplier: str, height: int) -> ChainEvent | None:
    """:func:`_event` for the common case, in one pass without the per-field calls: a claim
    event of the newest shape whose values are all plain (a string without escapes, a uint64
    of at most 15 digits, ``"<n>upokt"`` below 10^17). None for anything else, which
    :func:`_event` then reads (and names, if it is wrong): the same event either way."""
    if kind not in _QUICK_KINDS:
        return None
    service = _plain(attrs.get("service_id"))
    application = _plain(attrs.get("application_address"))
    session_end = _plain_uint(attrs.get("session_end_block_height"), 10**12)
    relays = _plain_uint(attrs.get("num_relays"), MAX_RELAYS)
    units = _plain_uint(attrs.get("num_claimed_compute_units"), MAX_RELAYS)
    claimed = _plain_coin(attrs.get("claimed_upokt"))
    if service is None or application is None or session_end is None or relays is None \
            or units is None or claimed is None or not 1 <= session_end <= height \
            or not _SERVICE.fullmatch(service) or not _ADDRESS.fullmatch(application):
        return None
    reason = requirement = settled = minted = None
    if kind == "claim_expired":
        reason = _plain(attrs.get("expiration_reason"))
        if reason not in EXPIRATION_REASONS:
            return None
    elif kind == "claim_settled":
        raw = attrs.get("proof_requirement_int")
        if raw is None or raw not in ("0", "1", "2"):
            return None
        requirement = PROOF_REQUIREMENTS[int(raw)]
        for key in ("settled_upokt", "minted_upokt"):
            if attrs.get(key) is not None:
                amount = _plain_coin(attrs[key])
                if amount is None:
                    return None
                if key == "settled_upokt":
                    settled = amount
                else:
                    minted = amount
        if settled is not None and settled > claimed:
            return None
    return ChainEvent(height, kind, supplier, service, application, session_end, relays, units,
                      claimed, settled, minted, reason, None, None, requirement)


def parse_block_results(body: Any, *, height: int, endpoint: str,
                        suppliers: frozenset[str] | None,
                        counts: dict[str, int] | None = None) -> list[ChainEvent]:
    """The fleet's events in one ``/block_results`` answer (the JSON-RPC envelope or its
    ``result``), tx events first, then end-block events, in the block's order.

    ``suppliers``: the fleet's operator addresses (None: every supplier). ``endpoint`` is the
    node as it may be shown (:func:`fleetctl.core.redact.safe_url`). ``counts`` (if given) gets
    ``events`` (all events seen), ``skipped`` (types not read), ``other`` (other suppliers') and
    ``failed_txs`` added. Raises :class:`EventError` for an answer that is not block results
    of ``height`` or a malformed fleet event."""
    def fail(problem: str) -> EventError:
        return EventError(f"{endpoint} height {height}: {problem}")

    if isinstance(body, dict) and "result" not in body and "error" in body:
        raise fail(f"error: {_shown(body.get('error'))}")
    result = body["result"] if isinstance(body, dict) and "result" in body else body
    if not isinstance(result, dict):
        raise fail(f"result: expected an object, got {_shown(result)}")
    try:
        answered = parse_height(result.get("height"), "result.height", minimum=1)
    except QueryError as exc:
        raise fail(str(exc)) from None
    if answered != height:
        raise fail(f"result.height: the node answered for height {answered}")
    groups: list[tuple[str, Any]] = []
    txs = result.get("txs_results")
    if txs is not None:
        if not isinstance(txs, list):
            raise fail(f"txs_results: expected a list, got {_shown(txs)}")
        for index, tx in enumerate(txs):
            if not isinstance(tx, dict):
                raise fail(f"txs_results[{index}]: expected an object, got {_shown(tx)}")
            code = tx.get("code", 0)
            if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < 2**32:
                raise fail(f"txs_results[{index}].code: expected an integer, got {_shown(code)}")
            if code != 0:
                if counts is not None:
                    counts["failed_txs"] = counts.get("failed_txs", 0) + 1
                continue
            groups.append((f"txs_results[{index}].events", tx.get("events")))
    for name in ("finalize_block_events", "end_block_events"):  # end_block_events: CometBFT < 0.38
        groups.append((name, result.get(name)))
    found: list[ChainEvent] = []
    seen = skipped = other = 0
    for where, events in groups:
        if events is None:
            continue
        if not isinstance(events, list):
            raise fail(f"{where}: expected a list, got {_shown(events)}")
        seen += len(events)
        for index, event in enumerate(events):
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise fail(f"{where}[{index}]: expected an event {{type, attributes}}")
            kind = TYPES.get(event["type"])
            if kind is None:
                skipped += 1
                continue
            at = f"{where}[{index}] {event['type']}"
            try:
                attrs = _attributes(event, at)
                supplier, _, claim = _identity(attrs, at)
                if suppliers is not None and supplier not in suppliers:
                    other += 1
                    continue
                found.append(_event(kind, attrs, supplier, claim, height, at))
            except _Bad as exc:
                raise fail(str(exc)) from None
    if counts is not None:
        counts["events"] = counts.get("events", 0) + seen
        counts["skipped"] = counts.get("skipped", 0) + skipped
        counts["other"] = counts.get("other", 0) + other
    return found


# ----------------------------------------------------------------------------- raw answers

#: (msgspec, decoder of one answer, decoder of a batch, the answer type) once built; False
#: without msgspec.
_SCHEMA: Any = None


def _schema() -> Any:
    """msgspec decoders of the parts of a ``/block_results`` answer the parser reads, built on
    first use (None when msgspec is not installed). Typed: every other field (``data``,
    ``log``, ``gas_*``, ``index``, ``app_hash``…) is skipped without building an object, and
    any value of another type than the parser accepts fails the decode (then the answer goes
    through :func:`parse_block_results` on the plain JSON, which names the field)."""
    global _SCHEMA
    if _SCHEMA is None:
        try:
            import msgspec
        except ImportError:
            _SCHEMA = False
            return None
        def d(name: str, fields: list[tuple[Any, ...]]) -> Any:
            # gc=False: decoded answers hold no reference cycles; thousands of them per run
            # would otherwise be traversed by every collection while they live.
            return msgspec.defstruct(name, fields, gc=False)

        # Types built at run time (msgspec reads them): values to mypy, not aliases.
        attr: Any = d("Attr", [("key", str), ("value", str | None, None)])
        event: Any = d("Event", [("type", str), ("attributes", list[attr] | None, None)])
        events: Any = list[event] | None
        tx: Any = d("Tx", [("code", int, 0), ("events", events, None)])
        result: Any = d("Result", [("height", str), ("txs_results", list[tx] | None, None),
                                   ("finalize_block_events", events, None), ("end_block_events", events, None)])
        answer: Any = d("Answer", [("result", result | None, None),
                                   ("error", msgspec.Raw, msgspec.Raw(b"")),  # b"": no error member
                                   ("id", int | str | None, None)])
        _SCHEMA = (msgspec, msgspec.json.Decoder(answer), msgspec.json.Decoder(list[answer]), answer)
    return _SCHEMA or None


class Unusable(Exception):
    """An answer the fast path does not judge: read it again by the reference path."""


def decode_answers(raw: bytes, *, batch: bool) -> list[Any]:
    """The answers in one raw JSON-RPC body (one answer, or a batch's array), each either a
    typed answer (msgspec, when installed and the body has the expected types) or the plain
    JSON value (``json``, numbers with a fraction as Decimal, as the JSON client decodes).
    Raises :class:`Unusable` for a body that is not JSON (or not an array for a batch)."""
    schema = _schema()
    if schema is not None:
        msgspec, one, many, _ = schema
        try:
            return list(many.decode(raw)) if batch else [one.decode(raw)]
        except (msgspec.DecodeError, RecursionError):
            pass  # the plain decode below decides (a type the schema does not take, or not JSON)
    try:
        from decimal import Decimal

        value = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise Unusable("not JSON") from None
    if batch:
        if not isinstance(value, list):
            raise Unusable("not a batch")
        return value
    return [value]


def answer_id(answer: Any) -> Any:
    """The JSON-RPC id of a decoded answer (typed or plain); None when there is none."""
    if isinstance(answer, dict):
        return answer.get("id")
    return getattr(answer, "id", None) if _is_typed(answer) else None


def answer_error(answer: Any) -> dict[str, Any] | None:
    """``{"error": <its error member>}`` when a decoded answer (typed or plain) has an
    ``error`` member, even ``null`` (what :func:`fleetctl.pocket.claims` classifies as the
    JSON client's answers are); None when it has none."""
    if isinstance(answer, dict):
        return {"error": answer["error"]} if "error" in answer else None
    if not _is_typed(answer) or not answer.error:
        return None
    try:
        return {"error": json.loads(bytes(answer.error))}
    except (ValueError, RecursionError):  # pragma: no cover - msgspec checked it is JSON
        return {"error": None}


def _is_typed(answer: Any) -> bool:
    return bool(_SCHEMA) and type(answer) is _SCHEMA[3]


def parse_answer(answer: Any, *, height: int, endpoint: str, suppliers: frozenset[str] | None,
                 counts: dict[str, int] | None = None) -> list[ChainEvent]:
    """:func:`parse_block_results` of one decoded answer (see :func:`decode_answers`): the
    same events, and for a typed answer the same checks on the values (their types are the
    schema's). Raises :class:`Unusable` when a typed answer has no result or a value the
    parser refuses: the caller reads that block again by the reference path, which names the
    field exactly as it always does."""
    if not _is_typed(answer):
        return parse_block_results(answer, height=height, endpoint=endpoint, suppliers=suppliers,
                                   counts=counts)
    result = answer.result
    if result is None:
        raise Unusable("no result")
    try:
        if parse_height(result.height, "result.height", minimum=1) != height:
            raise Unusable("another height")
    except QueryError:
        raise Unusable("result.height") from None
    groups: list[Any] = []
    failed = 0
    for tx in result.txs_results or ():
        if not 0 <= tx.code < 2**32:
            raise Unusable("code")
        if tx.code != 0:
            failed += 1
        elif tx.events is not None:
            groups.append(tx.events)
    for events in (result.finalize_block_events, result.end_block_events):
        if events is not None:
            groups.append(events)
    found: list[ChainEvent] = []
    seen = skipped = other = 0
    for events in groups:
        seen += len(events)
        for event in events:
            kind = TYPES.get(event.type)
            if kind is None:
                skipped += 1
                continue
            attributes = event.attributes
            if attributes is not None and len(attributes) > _MAX_ATTRIBUTES:
                raise Unusable("attributes")
            attrs = {a.key: a.value for a in attributes} if attributes else {}
            try:
                supplier, _, claim = _identity(attrs, "")
                if suppliers is not None and supplier not in suppliers:
                    other += 1
                    continue
                event = _quick(kind, attrs, supplier, height) if claim is None else None
                found.append(event or _event(kind, attrs, supplier, claim, height, ""))
            except _Bad:
                raise Unusable("event") from None
    if counts is not None:
        for key, value in (("events", seen), ("skipped", skipped), ("other", other),
                           ("failed_txs", failed)):
            if value or key != "failed_txs":
                counts[key] = counts.get(key, 0) + value
    return found


@record(frozen=True, slots=True)
class ClaimParams:
    """The shared and proof params a claim's windows and proof requirement follow (read at the
    latest height). A param that could not be read is None and named in ``problems``.

    Windows, as poktroll ``x/shared/types/session.go`` computes them from a session's end E:
    the claim window opens at ``E + claim_window_open_offset_blocks + 1``
    (``GetClaimWindowOpenHeight``) and closes ``claim_window_close_offset_blocks`` later; the
    proof window opens ``proof_window_open_offset_blocks`` after the claim window closes and
    closes ``proof_window_close_offset_blocks`` after it opens (``GetProofWindowCloseHeight`` =
    E + the four offsets + 1). A proof is accepted up to and including that height
    (``x/proof/keeper/session.go`` ``validateProofWindow``). The claim is settled or expires in
    the end-block of that same height: ``x/tokenomics/keeper/settle_pending_claims.go`` skips a
    claim while ``blockHeight <= E + GetSessionEndToProofWindowCloseBlocks`` (the four offsets,
    without the +1), and ``GetExpiringClaimsIterator`` takes the session ends
    ``blockHeight - (offsets + 1)``. The chain uses the params in effect at E
    (``GetParamsAtHeight``); fleetctl uses the latest ones (the same unless they changed since).
    """

    num_blocks_per_session: int | None = None
    claim_window_open_offset_blocks: int | None = None
    claim_window_close_offset_blocks: int | None = None
    proof_window_open_offset_blocks: int | None = None
    proof_window_close_offset_blocks: int | None = None
    proof_requirement_threshold_upokt: int | None = None
    #: ``proof_request_probability`` as an exact fraction in [0, 1].
    proof_request_probability: Any = None
    proof_missing_penalty_upokt: int | None = None
    proof_submission_fee_upokt: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def windows_known(self) -> bool:
        return None not in (self.claim_window_open_offset_blocks, self.claim_window_close_offset_blocks,
                            self.proof_window_open_offset_blocks, self.proof_window_close_offset_blocks)

    def proof_window(self, session_end: int) -> tuple[int, int] | None:
        """(open, close) heights of the proof window of the session ending at ``session_end``."""
        if not self.windows_known:
            return None
        claim_close = (session_end + self.claim_window_open_offset_blocks + 1  # type: ignore[operator]
                       + self.claim_window_close_offset_blocks)
        proof_open = claim_close + self.proof_window_open_offset_blocks  # type: ignore[operator]
        return proof_open, proof_open + self.proof_window_close_offset_blocks  # type: ignore[operator]

    def settlement_height(self, session_end: int) -> int | None:
        """The block in whose end-block the claim is settled or expires: the proof window's
        close height (a proof in that very block still counts: txs run before the end-block)."""
        window = self.proof_window(session_end)
        return None if window is None else window[1]
