"""Pocket Network stand-in: the official Shannon and Morse query APIs over an in-memory chain.

The lab and the integration tests run this server in place of a live Pocket chain. It answers
with the response shapes of the real servers (field names, string-versus-number encodings,
HTTP status codes and error bodies) and lets a test drive the chain through a small control
API (``/__lab/…``): heights, stakes, slashes, jails, params, balances, faults and latency.

Shannon (poktroll gRPC gateway, spec ``poktroll-openapi.yml``; port 1317 on a real node)
    ``GET /pokt-network/poktroll/supplier/supplier/{operator_address}[?dehydrated=]``
        → ``pocket.supplier.QueryGetSupplierResponse``.
    ``GET /pokt-network/poktroll/supplier/supplier?service_id=&owner_address=&operator_address=
    &dehydrated=&pagination.key=&pagination.offset=&pagination.limit=&pagination.count_total=
    &pagination.reverse=`` → ``pocket.supplier.QueryAllSuppliersResponse`` (list field
        ``supplier``; ``cosmos.base.query.v1beta1.PageResponse`` with base64 ``next_key``).
    ``GET /pokt-network/poktroll/application/application[/{address}]`` → ``QueryAllApplications
        Response`` (list field ``applications``, paginated) / ``QueryGetApplicationResponse``.
    ``GET /pokt-network/poktroll/{application,gateway,proof,service,session,shared,supplier,
    tokenomics}/params`` → ``pocket.<module>.QueryParamsResponse``, seeded with mainnet values
        (``poktroll-bulk_params_main/<module>_params.json``, ``body.messages[0].params``).
    ``GET /pokt-network/poktroll/session/get_session?application_address=&service_id=
    &block_height=`` → ``pocket.session.QueryGetSessionResponse``, suppliers picked as
        ``x/session/keeper/session_hydrator.go`` does (see :meth:`ChainState.query_session`).
    ``GET /pokt-network/poktroll/service/service/{id}`` → ``pocket.service.QueryGetService
        Response`` (``{"service": {"id", "name", "compute_units_per_relay", "owner_address",
        "metadata": null}}``): a seeded service, or one a supplier or application is staked
        for (compute_units_per_relay 1); otherwise ``404 {"code": 5, "message": "service ID
        not found: \"<id>\""}`` (x/service/keeper/query_service.go).
    Cosmos standard routes (not in the poktroll spec): ``GET /cosmos/base/tendermint/v1beta1/
    blocks/latest``, ``GET /cosmos/bank/v1beta1/balances/{address}`` and ``…/by_denom?denom=``,
    ``GET /cosmos/auth/v1beta1/accounts/{address}`` → ``cosmos.auth.v1beta1.QueryAccount
    Response`` (cosmos-sdk v0.50 proto/cosmos/auth/v1beta1/query.proto and auth.proto; the
    ``Any`` written as its ``@type`` and the message's fields): ``{"account": {"@type":
    "/cosmos.auth.v1beta1.BaseAccount", "address", "pub_key": {"@type": "/cosmos.crypto.
    secp256k1.PubKey", "key": "<base64, 33 bytes>"} | null, "account_number": "N", "sequence":
    "N"}}``. The accounts that exist (see "Accounts" below), else ``404 {"code": 5, "message":
    "account <address> not found"}`` (x/auth/keeper/grpc_query.go ``Account``); an address the
    keeper's bech32 codec refuses: ``500 {"code": 2, …}`` (a plain error, gRPC Unknown), the
    decoder's message (``decoding bech32 failed: …``, ``internal logic error: hrp does not match
    bech32 prefix: expected 'pokt' got '<hrp>'``).
    Encoding is the Cosmos SDK gateway's (``JSONPb{OrigName, EmitDefaults}``): 64-bit integers
    as strings, coins as ``{"denom", "amount": "<string>"}``, enums by name, bytes in base64,
    unset messages as ``null``, empty lists as ``[]``. Errors are ``google.rpc.Status``
    ``{"code", "message", "details": []}`` with grpc-gateway v1's HTTP mapping (InvalidArgument
    3 → 400, NotFound 5 → 404, Unimplemented 12 → 501, Internal 13 → 500) and the message the
    keeper produced (``x/supplier/keeper/query_supplier.go``, ``x/session/keeper/…``). A path
    no route matches gets ``501 {"code": 12, "message": "Not Implemented"}``, a known path with
    the wrong method ``501 {"code": 12, "message": "Method Not Allowed"}``.

Morse (pocket-core RPC, spec ``pocket-core-rpc-spec.yaml``; port 8081 on a real node)
    All ``POST`` with a JSON body (``app/cmd/rpc/query.go``): ``/v1/query/height``, ``node``,
    ``nodes``, ``nodeparams``, ``signinginfo``, ``balance``, ``allparams``, ``supportedchains``,
    ``supply``;
    ``GET /v1`` answers the version string. Errors are ``400 {"code": 400, "message": …}``
    (``WriteErrorResponse``) with pocket-core's messages (``validator not found for <hex>``, Go's
    ``encoding/hex`` and ``encoding/json`` errors). Unknown paths get httprouter's plain-text 404,
    a known path with the wrong method 405, a path differing only by case (the spec's
    ``/query/allParams``) a 308 redirect to the registered one (httprouter ``RedirectFixedPath``).
    Node params are amino JSON (64-bit integers as strings, decimals with 18 places), seeded with
    the mainnet genesis ``app_state.pos.params``; other param sets (``allparams``) come from the
    same genesis (``pocketcore``, ``application``, ``auth``, ``gov``).

CometBFT RPC (the full node's RPC, ``pocket.node_rpc_url`` of a RelayMiner; port 26657 on a real
node; optional listener)
    URI over HTTP, as CometBFT v0.38 serves it (``rpc/jsonrpc/server/http_uri_handler.go``; spec
    ``rpc/openapi/openapi.yaml`` of cometbft/cometbft v0.38.x): ``GET /status`` →
    ``{"jsonrpc": "2.0", "id": -1, "result": {"node_info", "sync_info", "validator_info"}}``
    (``ResultStatus``: ``sync_info.latest_block_height`` and every other 64-bit integer a string,
    hashes upper-case hex, times RFC 3339 with nanoseconds, ``catching_up`` a boolean,
    ``node_info.network`` the chain id); ``GET /health`` → ``{"jsonrpc": "2.0", "id": -1,
    "result": {}}``; ``GET /abci_info`` → result ``{"response": {"data": "pocket", "version",
    "last_block_height", "last_block_app_hash"}}`` (``app_version`` 0 is omitted, as
    ``omitempty`` does), with ``Cache-Control: public, max-age=86400``.
    ``GET /block_results?height=H`` (rpc/core/blocks.go ``BlockResults``; no height: the
    latest) → result ``{"height": "H", "txs_results": [ExecTxResult…] | null,
    "finalize_block_events": [Event…] | null, "validator_updates": null,
    "consensus_param_updates": null, "app_hash": "<base64>"}``; an ``ExecTxResult`` is jsonpb
    with defaults: ``{"code": 0, "data": "<base64 TxMsgData>", "log", "info", "gas_wanted":
    "N", "gas_used": "N", "events", "codespace"}``; an ``Event`` is ``{"type", "attributes":
    [{"key", "value", "index": true}]}``. Cacheable once ``height`` is given.
    ``GET /blockchain?minHeight=&maxHeight=`` (``BlockchainInfo`` / ``filterMinMax``: 0 means
    the base / the latest, at most 20, highest first) → result ``{"last_height": "L",
    "block_metas": [{"block_id": {"hash": "<HEX>", "parts": {"total", "hash"}}, "block_size":
    "N", "header": {…}, "num_txs": "N"}]}``; block hashes are those of ``/status`` and
    ``blocks/latest`` (:func:`lab_block_hash`, changed by ``/__lab/reorg``).
    Heights follow ``getHeight``: above the node's latest → HTTP 500 ``{"error": {"code":
    -32603, "message": "Internal error", "data": "height H must be less than or equal to the
    current blockchain height L"}}``; 0 or negative: ``height must be greater than 0, but got
    H``; below the kept history (the last :data:`COMET_HISTORY_BLOCKS` blocks): ``height H is
    not available, lowest height is B``; a malformed value: code -32602 ``Invalid params``.
    Any method is accepted on these paths (Go's mux does not filter). JSON-RPC over HTTP:
    ``POST /`` with ``{"jsonrpc": "2.0", "id": …, "method": "status"|"health"|"abci_info"|
    "block_results"|"blockchain", "params": {"height": "H"} or ["H"]}`` (or a batch) answers
    with that ``id`` (errors with HTTP 200); an unknown method ``{"error": {"code": -32601,
    "message": "Method not found"}}``; an unparsable body 500 with code -32700; an empty body
    the HTML list of endpoints. ``POST /__lab/tx`` (below) is also served here: the RelayMiner
    stand-in "broadcasts" to its node (faults and latency apply to it on this port). Other
    paths get Go's plain-text ``404 page not found``. The node's latest height is the chain's
    (the height ``blocks/latest`` and ``/v1/query/height`` report) minus the lag set with
    ``/__lab/comet``; a node lagging past genesis reports height "0", empty hashes and the Unix
    epoch, as a node with an empty block store does.

Control API (on the Shannon port, JSON in and out, never delayed or faulted)
    ``GET /__lab/state`` whole state, in the seed format below (a seed that reproduces it);
    ``POST /__lab/reset`` back to the seed;
    ``POST /__lab/height`` ``{"height": N}`` or ``{"advance": N}`` → ``{"height"}``;
    ``POST /__lab/shannon/supplier`` upsert → ``{"supplier"}``; ``DELETE …/supplier/{address}``;
    ``POST /__lab/shannon/application`` upsert → ``{"application"}``; ``DELETE …/{address}``;
    ``POST /__lab/shannon/slash`` ``{"operator_address", "amount_upokt"}`` → ``{"supplier",
    "events"}`` (``EventSupplierUnbondingBegin`` with reason BELOW_MIN_STAKE if it unstaked);
    ``POST /__lab/shannon/params`` ``{"module", "params": {…}, "remove": [names]}``
    → ``{"params"}``;
    ``POST /__lab/balance`` ``{"address", "amount_upokt"}``;
    ``POST /__lab/account`` a seed ``accounts`` entry (below; ``"pub_key": null`` goes back to
    the derived presence) → ``{"account"}`` as the auth query shows it;
    ``POST /__lab/morse/node`` upsert, ``POST /__lab/morse/jail`` ``{"address", "jailed",
    "jailed_until", "jailed_blocks_counter", "missed_blocks_counter"}``, ``POST /__lab/morse/slash``
    ``{"address", "amount_upokt"}`` → the node as ``/v1/query/node`` shows it;
    ``POST /__lab/morse/params`` ``{"module": "pos"|"pocketcore"|"application"|"auth"|"gov",
    "params", "remove"}`` → ``{"params"}``;
    ``POST /__lab/comet`` ``{"lag": N, "catching_up": bool}`` (each optional: the ones given
    change) → ``{"comet": {"lag", "catching_up"}}``: the CometBFT node reports the chain height
    minus ``lag`` and ``sync_info.catching_up``;
    ``POST /__lab/fault`` ``{"mode": "none"|"http500"|"http503"|"garbage"|"truncated"|"empty"|
    "hang", "path_prefix": "/…", "count": N}`` (after ``count`` matching requests, back to none;
    it applies to every listener, Shannon, Morse and CometBFT: ``"path_prefix": "/status"``
    targets the CometBFT node alone);
    ``POST /__lab/latency`` ``{"ms": N}`` added before every non-control response (every
    listener);
    ``POST /__lab/tx`` ``{"msg": "MsgCreateClaim"|"MsgSubmitProof", "supplier_operator_address",
    "service_id", "session_end_block_height", "num_relays"}`` (``num_relays`` for claims only):
    a signed message's broadcast, included in the next block H = latest + 1 → ``{"code": 0,
    "height": H, "txhash"}``, or, refused by the msg server, ``{"code": 1, "codespace":
    "undefined", "log": "failed to execute message; message index: 0: rpc error: code =
    FailedPrecondition desc = <reason>", "height": H, "txhash"}``; see "Claims" below;
    ``POST /__lab/events`` ``{"height", "txs_results": [...], "finalize_block_events": [...]}``
    appends those items, any JSON values as given (truncated or unknown events for tests), to
    what ``/block_results`` shows at ``height`` (now or when it is reached) → ``{"height",
    "txs_results": count, "finalize_block_events": count}``;
    ``POST /__lab/reorg`` ``{"height", "txs_results"?, "finalize_block_events"?}`` re-orgs a kept
    height up to the latest: its block hash changes (``/blockchain``, ``/status``,
    ``blocks/latest``, the next block's ``last_block_id``) and its results are replaced by the
    lists given, else its transactions disappear and its finalize-block events stay → ``{"height",
    "hash", "reorgs"}``. Chain state (claims, stakes, balances) is not rolled back.
    Errors: ``{"error": "…"}`` with 400 (bad payload) or 404 (unknown entity or route).

Chain behaviour
    One height for both protocols. It advances by one every ``block_time`` seconds (0 freezes
    it), computed from elapsed time; ``/__lab/height`` re-anchors it. Lab block hashes are
    :func:`lab_block_hash`. Time-driven transitions are applied lazily before each request:
    a Shannon supplier (or application) that started unbonding at ``unstake_session_end_height``
    is removed at the first session end at or after ``unstake_session_end_height +
    <actor>_unbonding_period_sessions * num_blocks_per_session`` and its stake is credited to the
    owner (``x/supplier/keeper/unbond_suppliers.go``); a Morse node whose ``unstaking_time`` has
    passed becomes unstaked (status 0, tokens credited to its output address, else to itself).
    A Shannon slash that leaves the stake below ``min_stake`` auto-unstakes the supplier with
    reason BELOW_MIN_STAKE: ``unstake_session_end_height`` = end of the current session, its
    service configs deactivated at that height (``x/tokenomics/keeper/settle_pending_claims.go``).
    A Morse slash below ``stake_minimum``, or ``jailed_blocks_counter`` above
    ``max_jailed_blocks``, force-unstakes the node: jailed, status 1, ``unstaking_time`` = now +
    ``unstaking_time`` (``x/nodes/keeper/slash.go``, ``valStateChanges.go``; pocket-core waits for
    the session end before the unstaking starts, the stand-in starts it at once). A removed
    param falls back to the module default the keepers use (supplier ``min_stake`` 1 POKT,
    ``num_blocks_per_session`` 10, claim window offsets 1/4, proof window offsets 0/4, …).
    There is no state history: every ``height`` argument reads the current state, and params
    are the current ones at every height; only the CometBFT block results are kept per height.

Claims (x/proof msg server, x/tokenomics settlement; poktroll commit ab401ed; event protos in
``poktroll-protos/`` beside this file)
    Windows of the session ending at E (x/shared/types/session.go): claims are accepted in
    blocks [E + claim_window_open_offset_blocks + 1, claim open + claim_window_close_offset_
    blocks], proofs in [claim close + proof_window_open_offset_blocks, proof open +
    proof_window_close_offset_blocks] (both ends inclusive, x/proof/keeper/session.go).
    ``MsgCreateClaim``: E must be a session end; the supplier must be staked for the service
    at E; the application is the first (by address) staked application of the service whose
    session at E includes the supplier, else the first staked one (the lab's relays do not come
    through sessions, so the chain's "not found in session" refusal is not modelled), else a
    fixed lab address; claimed upokt =
    num_relays × compute_units_per_relay × compute_units_to_tokens_multiplier /
    compute_unit_cost_granularity, truncated (``Claim.GetClaimeduPOKT``, base relay mining
    difficulty); a second claim for the same session updates it (EventClaimUpdated).
    ``MsgSubmitProof``: inside the proof window, for an existing claim; the operator's balance
    must exceed ``proof_submission_fee``, which it pays; a claim whose proof is not required is
    refused ("proof not required", ErrProofNotRequired; a failed message's state changes,
    the fee among them, are discarded).
    Refusals carry the msg server's messages (x/proof/keeper/msg_server_create_claim.go,
    msg_server_submit_proof.go, session.go; errors of x/proof/types/errors.go). The chain wraps
    them in a gRPC status, which has no ABCI code, so the block records code 1, codespace
    "undefined" and the redacted log "internal" (cosmossdk.io/errors ``ABCIInfo`` / ``Redact``);
    the ``/__lab/tx`` answer carries the unredacted reason.
    Transaction events (``txs_results`` of H): the ante handler's ``tx`` events, then
    ``message`` {action, sender, module, msg_index} and the typed event (EventClaimCreated /
    EventClaimUpdated / EventProofSubmitted / EventProofUpdated). Typed events are encoded as
    cosmos-sdk ``TypedEventToEvent`` does: one attribute per proto field, the value its
    protojson (64-bit integers as JSON strings, int32 as numbers, enums by name, coins as
    ``Coin.String()`` strings such as ``"\"320upokt\""``), keys sorted, then ``msg_index``
    (transactions) or ``mode`` = ``EndBlock`` (settlement), every attribute ``index: true``.
    Proof requirement (``ProofRequirementForClaim``): THRESHOLD when claimed upokt >=
    ``proof_requirement_threshold``, else PROBABILISTIC when a deterministic sample in [0, 1) is
    <= ``proof_request_probability``: the first 8 bytes of SHA-256(SHA-256(supplier "/" session
    id "/" num_relays) ‖ the hash of the block before the proof window opens) over 2^64 (the
    chain draws ``poktrand.SeededFloat64`` from the claim hash and the same block's hash);
    else NOT_REQUIRED. Probability 1 or 0, or the threshold, make it certain in tests.
    Settlement, in the finalize-block events of the proof window's close height (x/tokenomics
    module/abci.go ``EndBlocker`` → keeper/settle_pending_claims.go: a claim is settled once the
    block height exceeds E + the four window offsets, i.e. at E + offsets + 1 =
    ``GetProofWindowCloseHeight``; a proof included in that very block still counts, as
    transactions run before the end block). Per claim in creation order: EventClaimSettled
    (proof not required, or proven: settled = claimed capped at the application's stake /
    num_suppliers_per_session, minted = settled × mint_ratio truncated, losses, the owner's
    share minted × mint_equals_burn_claim_distribution.supplier in ``reward_distribution``; a
    settlement of 0 mints and pays nothing, the zero-mint guard of token_logic_modules.go), or
    EventClaimExpired (PROOF_MISSING), or EventClaimDiscarded (a supplier gone, or 0 relays);
    then per expired claim ``slashSupplierStake``: stake -= ``proof_missing_penalty`` (the
    whole stake when smaller), EventSupplierUnbondingBegin (BELOW_MIN_STAKE, once) when it falls
    below ``min_stake`` (the auto-unstake above), then EventSupplierSlashed with
    ``supplier_stake_after_slash``. Settlement is lazy like every time-driven transition:
    however many blocks pass between requests, each due block is settled in height order (with
    the unbonding due by then) before a request is answered. Settled and expired claims stay in
    ``/__lab/state`` while their settlement block is kept.

Accounts (x/auth; lab values where the chain's own cannot be known)
    An account exists for every address with a balance entry (``balances``, ``/__lab/balance``,
    credited stakes), every supplier operator and owner, every application, every address that
    sent a ``/__lab/tx``, and every ``accounts`` entry. Its public key is present when it has
    signed: supplier operators (a stake with services is signed by the operator), applications,
    and addresses that sent a ``/__lab/tx``; others (a balance only, an owner that is not the
    operator) have ``pub_key: null``, as on chain until an account's first transaction. An
    ``accounts`` entry's ``pub_key`` true/false overrides that. The key is :func:`lab_pub_key`
    and the account number :func:`lab_account_number` (deterministic per address, lab values;
    the chain numbers accounts in creation order), unless the entry gives ``account_number``.
    ``sequence`` is the number of transactions the account sent through ``/__lab/tx`` (each,
    accepted or refused, uses one: its ``acc_seq`` event is ``<address>/<sequence>``), starting
    from the entry's ``sequence`` (default 0); the lab pocketd's stake transactions are not
    counted.

Seed / state format (JSON; every field optional; amounts are integers of upokt)::

    {
      "chain_id": "pocket-lab",        # default
      "height": 1,                     # latest height at start
      "block_time": 0,                 # seconds per block; 0 = frozen
      "latency_ms": 0,
      "shannon": {
        "params": {"<module>": {"<field>": <value or null to remove>, ...}, ...},
        "suppliers": [{
          "operator_address": "pokt1…",            # required
          "owner_address": "pokt1…",               # default: the operator address
          "stake_upokt": 59500000000,              # default: supplier min_stake
          "services": ["anvil", {"service_id": "eth", "endpoints": [{"url", "rpc_type", "configs"}],
                                 "rev_share": [{"address", "rev_share_percentage"}]}],
          "activation_height": 1,                  # of those services (upsert default: now)
          "unstake_session_end_height": 0,
          "service_config_history": [{"service": {…}, "activation_height": 1,
                                      "deactivation_height": 0}]   # instead of "services"
        }],
        "applications": [{"address": "pokt1…", "stake_upokt": 1000000000, "services": ["anvil"],
                          "delegatee_gateway_addresses": [], "unstake_session_end_height": 0}],
        "services": [{"id": "anvil", "name": "anvil", "compute_units_per_relay": 1,
                      "owner_address": "pokt1…"}],   # others staked for: 1 CU per relay
        "claims": [{                               # what /__lab/tx made (see "Claims")
          "supplier_operator_address", "service_id", "application_address", "session_id",
          "session_start_block_height", "session_end_block_height", "num_relays",
          "compute_units_per_relay", "claimed_upokt", "created_height", "settlement_height",
          "proof_height": 0,                       # block of the accepted proof, 0 = none
          "state": "claimed",                      # claimed|proven|settled|expired|discarded
          "proof_requirement": null,               # NOT_REQUIRED|PROBABILISTIC|THRESHOLD once known
          "settled_upokt": null, "minted_upokt": null, "penalty_upokt": null,
          "stake_after_upokt": null
        }]
      },
      "morse": {
        "params": {"pos": {…}, "pocketcore": {…}, "application": {…}, "auth": {…}, "gov": {…}},
        "nodes": [{
          "address": "<40 hex>",                   # or derived from public_key
          "public_key": "<64 hex>", "chains": ["0001"], "tokens_upokt": 15000000000,
          "jailed": false, "status": 2, "service_url": "https://…:443", "output_address": "",
          "unstaking_time": "<RFC3339>",
          "signing_info": {"start_height": 0, "index_offset": 0, "jailed_until": "<RFC3339>",
                           "missed_blocks_counter": 0, "jailed_blocks_counter": 0}
        }]
      },
      "balances": {"<pokt1… or hex address>": 123},
      "accounts": [{"address": "pokt1…",           # required; the account exists
                    "pub_key": true,                 # true/false; null or absent: derived
                    "account_number": 7,             # default: lab_account_number(address)
                    "sequence": 0}],                 # txs it sent (export: those of /__lab/tx)
      "comet": {"lag": 0, "catching_up": false},   # the CometBFT node's view (see /__lab/comet)
      "fault": {"mode": "none", "path_prefix": "", "count": null},
      "blocks": {"<height>": {"txs_results": [...], "finalize_block_events": [...],
                              "reorgs": 0}}    # CometBFT block results kept (non-empty ones)
    }

Shannon addresses are checked as bech32 where the chain checks them (session, bank and list
filters): use :func:`lab_address` to make valid ones. The servers bind to loopback or lab-range
addresses only.

CLI: ``python -m fleetlab.pocket_standin --state SEED.json --shannon-listen 127.0.0.1:1317
--morse-listen 127.0.0.1:8081 [--comet-listen 127.0.0.1:26657] [--block-time S] [--latency-ms N]
[--verbose]`` prints ``ready shannon=URL morse=URL`` (and `` comet=URL`` with ``--comet-listen``)
once listening and exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import ipaddress
import json
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib import error as urlerror
from urllib import request as urlrequest
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = [
    "MAINNET_MORSE_PARAMS",
    "MAINNET_SHANNON_PARAMS",
    "ChainState",
    "PocketStandin",
    "SeedError",
    "StandinControl",
    "StandinControlError",
    "bech32_encode",
    "lab_account_number",
    "lab_address",
    "lab_block_hash",
    "lab_pub_key",
    "main",
]

UPOKT = "upokt"
DEFAULT_CHAIN_ID = "pocket-lab"
MORSE_VERSION = "RC-0.12.0"  # pocket-core app/app.go AppVersion at staging 29f421ca
HANG_SECONDS = 30.0
IDLE_TIMEOUT_SECONDS = 75.0
FAULT_MODES = ("none", "http500", "http503", "garbage", "truncated", "empty", "hang")
#: CometBFT of the Pocket full node: poktroll runs the pokt-network/cometbft fork of v0.38
#: (v0.38.19 pseudo-versions at the time of writing; the exact patch level is UNCONFIRMED).
COMET_VERSION = "0.38.19"
COMET_P2P_PROTOCOL, COMET_BLOCK_PROTOCOL = 8, 11  # version/version.go of v0.38
#: Channels a v0.38 full node announces (p2p reactors' channel ids, hex).
COMET_CHANNELS = "40202122233038606100"
#: BaseApp name (poktroll app/app.go ``Name``) and the lab's application version string.
POCKET_APP_NAME = "pocket"
POCKET_APP_VERSION = "fleetlab"


def _coin(amount: int) -> dict[str, str]:
    return {"denom": UPOKT, "amount": str(amount)}


#: Mainnet Shannon params, ``body.messages[0].params`` of poktroll-bulk_params_main/*.json, plus
#: the shared-params fields poktroll-openapi.yml declares that those files predate (the gateway
#: emits their zero value: a session grid anchored at genesis).
MAINNET_SHANNON_PARAMS: dict[str, dict[str, Any]] = {
    "application": {"max_delegated_gateways": "7", "min_stake": _coin(1_000_000_000)},
    "gateway": {"min_stake": _coin(5_000_000_000)},
    "proof": {
        "proof_request_probability": 0.01,
        "proof_requirement_threshold": _coin(100),
        "proof_missing_penalty": _coin(1),
        "proof_submission_fee": _coin(1),
    },
    "service": {"add_service_fee": _coin(3_500_000_000), "target_num_relays": "100000"},
    "session": {"num_suppliers_per_session": "50"},
    "shared": {
        "num_blocks_per_session": "20",
        "grace_period_end_offset_blocks": "10",
        "claim_window_open_offset_blocks": "11",
        "claim_window_close_offset_blocks": "10",
        "proof_window_open_offset_blocks": "1",
        "proof_window_close_offset_blocks": "10",
        "supplier_unbonding_period_sessions": "1429",
        "application_unbonding_period_sessions": "3",
        "compute_units_to_tokens_multiplier": "145990",
        "gateway_unbonding_period_sessions": "3",
        "compute_unit_cost_granularity": "1000000",
        "session_grid_anchor_height": "0",
        "session_number_at_anchor": "0",
    },
    "supplier": {"min_stake": _coin(59_500_000_000), "staking_fee": _coin(1)},
    "tokenomics": {
        "dao_reward_address": "pokt1dr5jtqaaz4wk8wevl33e7vkxsjlphljnjhyq2l",
        "mint_allocation_percentages": {
            "dao": 0.1, "proposer": 0, "supplier": 0.8, "source_owner": 0.1, "application": 0,
        },
        "global_inflation_per_claim": 0.000001,
        "mint_equals_burn_claim_distribution": {
            "dao": 0.045, "proposer": 0.14, "supplier": 0.79, "source_owner": 0.025,
            "application": 0,
        },
        "mint_ratio": 0.975,
        "overservicing_bonus_multiplier": "1",
    },
}

#: Module defaults the poktroll keepers fall back to (x/*/types/params.go) when a param is unset.
SHANNON_PARAM_DEFAULTS: dict[tuple[str, str], int] = {
    ("supplier", "min_stake"): 1_000_000,
    ("application", "min_stake"): 1_000_000,
    ("session", "num_suppliers_per_session"): 15,
    ("shared", "num_blocks_per_session"): 10,
    ("shared", "supplier_unbonding_period_sessions"): 1,
    ("shared", "application_unbonding_period_sessions"): 1,
    ("shared", "session_grid_anchor_height"): 0,
    ("shared", "session_number_at_anchor"): 0,
    ("shared", "grace_period_end_offset_blocks"): 1,
    ("shared", "claim_window_open_offset_blocks"): 1,
    ("shared", "claim_window_close_offset_blocks"): 4,
    ("shared", "proof_window_open_offset_blocks"): 0,
    ("shared", "proof_window_close_offset_blocks"): 4,
}

_MORSE_DAO_OWNER = "a83172b67b5ffbfcb8acb95acc0fd0466a9d4bc4"
_MORSE_ACL_KEYS = (
    "application/ApplicationStakeMinimum", "application/AppUnstakingTime",
    "application/BaseRelaysPerPOKT", "application/MaxApplications", "application/MaximumChains",
    "application/ParticipationRateOn", "application/StabilityAdjustment", "auth/MaxMemoCharacters",
    "auth/TxSigLimit", "gov/acl", "gov/daoOwner", "gov/upgrade", "pocketcore/ClaimExpiration",
    "auth/FeeMultipliers", "pocketcore/ReplayAttackBurnMultiplier", "pos/ProposerPercentage",
    "pocketcore/ClaimSubmissionWindow", "pocketcore/MinimumNumberOfProofs",
    "pocketcore/SessionNodeCount", "pocketcore/SupportedBlockchains", "pos/BlocksPerSession",
    "pos/DAOAllocation", "pos/DowntimeJailDuration", "pos/MaxEvidenceAge", "pos/MaximumChains",
    "pos/MaxJailedBlocks", "pos/MaxValidators", "pos/MinSignedPerWindow",
    "pos/RelaysToTokensMultiplier", "pos/SignedBlocksWindow", "pos/SlashFractionDoubleSign",
    "pos/SlashFractionDowntime", "pos/StakeDenom", "pos/StakeMinimum", "pos/UnstakingTime",
)

#: Mainnet Morse params from pocket-core-mainnet-genesis-from-app-genesis.go.json ``app_state``
#: (``pos`` decimals written the way amino marshals ``sdk.BigDec``: 18 decimal places).
MAINNET_MORSE_PARAMS: dict[str, dict[str, Any]] = {
    "pos": {
        "relays_to_tokens_multiplier": "10000",
        "unstaking_time": "1814000000000000",
        "max_validators": "5000",
        "stake_denom": UPOKT,
        "stake_minimum": "15000000000",
        "session_block_frequency": "4",
        "dao_allocation": "10",
        "proposer_allocation": "1",
        "maximum_chains": "15",
        "max_jailed_blocks": "37960",
        "max_evidence_age": "120000000000",
        "signed_blocks_window": "10",
        "min_signed_per_window": "0.600000000000000000",
        "downtime_jail_duration": "3600000000000",
        "slash_fraction_double_sign": "0.050000000000000000",
        "slash_fraction_downtime": "0.000001000000000000",
    },
    "pocketcore": {
        "session_node_count": "5",
        "proof_waiting_period": "3",
        "supported_blockchains": ["0001", "0021"],
        "claim_expiration": "120",
        "replay_attack_burn_multiplier": "3",
        "minimum_number_of_proofs": "10",
    },
    "application": {
        "unstaking_time": "1814000000000000",
        "max_applications": "9223372036854775807",
        "app_stake_minimum": "1000000",
        "base_relays_per_pokt": "167",
        "stability_adjustment": "0",
        "participation_rate_on": False,
        "maximum_chains": "15",
    },
    "auth": {
        "max_memo_characters": "75",
        "tx_sig_limit": "8",
        "fee_multipliers": {"fee_multiplier": [], "default": "1"},
    },
    "gov": {
        "acl": [{"acl_key": key, "address": _MORSE_DAO_OWNER} for key in _MORSE_ACL_KEYS],
        "dao_owner": _MORSE_DAO_OWNER,
        "upgrade": {"Height": "0", "Version": "0"},
    },
}

#: Param-store keys (``ParamSetPairs`` in pocket-core x/*/types/params.go) of the JSON fields.
_MORSE_PARAM_KEYS: dict[str, dict[str, str]] = {
    "pos": {
        "relays_to_tokens_multiplier": "RelaysToTokensMultiplier",
        "relays_to_tokens_multiplier_map": "RelaysToTokensMultiplierMap",
        "unstaking_time": "UnstakingTime",
        "max_validators": "MaxValidators",
        "stake_denom": "StakeDenom",
        "stake_minimum": "StakeMinimum",
        "session_block_frequency": "BlocksPerSession",
        "dao_allocation": "DAOAllocation",
        "proposer_allocation": "ProposerPercentage",
        "maximum_chains": "MaximumChains",
        "max_jailed_blocks": "MaxJailedBlocks",
        "max_evidence_age": "MaxEvidenceAge",
        "signed_blocks_window": "SignedBlocksWindow",
        "min_signed_per_window": "MinSignedPerWindow",
        "downtime_jail_duration": "DowntimeJailDuration",
        "slash_fraction_double_sign": "SlashFractionDoubleSign",
        "slash_fraction_downtime": "SlashFractionDowntime",
        "servicer_stake_floor_multipler": "ServicerStakeFloorMultiplier",
        "servicer_stake_weight_multipler": "ServicerStakeWeightMultiplier",
        "servicer_stake_weight_ceiling": "ServicerStakeWeightCeiling",
        "servicer_stake_floor_multiplier_exponent": "ServicerStakeFloorMultiplierExponent",
    },
    "pocketcore": {
        "session_node_count": "SessionNodeCount",
        "proof_waiting_period": "ClaimSubmissionWindow",
        "supported_blockchains": "SupportedBlockchains",
        "claim_expiration": "ClaimExpiration",
        "replay_attack_burn_multiplier": "ReplayAttackBurnMultiplier",
        "minimum_number_of_proofs": "MinimumNumberOfProofs",
        "block_byte_size": "BlockByteSize",
    },
    "application": {
        "unstaking_time": "AppUnstakingTime",
        "max_applications": "MaxApplications",
        "app_stake_minimum": "ApplicationStakeMinimum",
        "base_relays_per_pokt": "BaseRelaysPerPOKT",
        "stability_adjustment": "StabilityAdjustment",
        "participation_rate_on": "ParticipationRateOn",
        "maximum_chains": "MaximumChains",
    },
    "auth": {
        "max_memo_characters": "MaxMemoCharacters",
        "tx_sig_limit": "TxSigLimit",
        "fee_multipliers": "FeeMultipliers",
    },
    "gov": {"acl": "acl", "dao_owner": "daoOwner", "upgrade": "upgrade"},
}
#: ``AllParamsReturn`` (pocket-core app/query.go) list that holds each module's params.
_MORSE_ALLPARAMS_FIELDS = {
    "application": "app_params", "auth": "auth_params", "gov": "gov_params",
    "pocketcore": "pocket_params", "pos": "node_params",
}
#: ``sdk.BigDec`` fields of the Morse ``pos`` params (amino writes them with 18 decimals).
_MORSE_DECIMAL_PARAMS = frozenset({
    "min_signed_per_window", "slash_fraction_double_sign", "slash_fraction_downtime",
    "servicer_stake_weight_multipler", "servicer_stake_floor_multiplier_exponent",
})
_MORSE_STATUS_UNSTAKED, _MORSE_STATUS_UNSTAKING, _MORSE_STATUS_STAKED = 0, 1, 2

_RPC_TYPES = ("UNKNOWN_RPC", "GRPC", "WEBSOCKET", "JSON_RPC", "REST", "COMET_BFT")
_CONFIG_OPTIONS = ("UNKNOWN_CONFIG", "TIMEOUT")
_SERVICE_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")  # x/shared/types/service.go
_MAX_SERVICE_ID_LENGTH = 42
_DENOM_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$")  # cosmos-sdk types/coin.go


class SeedError(ValueError):
    """A seed or control payload that does not describe a valid lab state."""


# --------------------------------------------------------------------------- bech32 and hashes

# The stand-in plays the chain, so it checks addresses with its own bech32 code rather than
# fleetctl.spec.address: a bug there must not be able to agree with itself on both sides.
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: Iterable[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    accumulator, bits, out = 0, 0, []
    max_value = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & max_value)
    if pad and bits:
        out.append((accumulator << (to_bits - bits)) & max_value)
    elif not pad and (bits >= from_bits or (accumulator << (to_bits - bits)) & max_value):
        raise ValueError("invalid incomplete group")
    return out


def bech32_encode(hrp: str, payload: bytes) -> str:
    """BIP-173 bech32 string of ``payload`` (8-bit bytes) with human-readable part ``hrp``."""
    data = _convert_bits(payload, 8, 5, pad=True)
    polymod = _bech32_polymod(_bech32_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + checksum)


def _bech32_error(address: str, prefix: str) -> str | None:
    """Why ``sdk.AccAddressFromBech32`` (cosmos-sdk types/address.go) rejects ``address``, or None.

    The messages follow cosmos-sdk's ``bech32.DecodeAndConvert`` over btcutil's ``bech32.Decode``.
    """
    if not address.strip():
        return "empty address string is not allowed"
    if not 8 <= len(address) <= 1023:
        return f"decoding bech32 failed: invalid bech32 string length {len(address)}"
    if any(not 33 <= ord(c) <= 126 for c in address):
        bad = next(c for c in address if not 33 <= ord(c) <= 126)
        return f"decoding bech32 failed: invalid character in string: '{bad}'"
    if address.lower() != address and address.upper() != address:
        return "decoding bech32 failed: string not all lowercase or all uppercase"
    lowered = address.lower()
    separator = lowered.rfind("1")
    if separator < 1 or separator + 7 > len(lowered):
        return f"decoding bech32 failed: invalid separator index {separator}"
    hrp, data_part = lowered[:separator], lowered[separator + 1:]
    for char in data_part:
        if char not in _BECH32_CHARSET:
            return f"decoding bech32 failed: invalid character not part of charset: {ord(char)}"
    data = [_BECH32_CHARSET.index(c) for c in data_part]
    if _bech32_polymod(_bech32_hrp_expand(hrp) + data) != 1:
        polymod = _bech32_polymod(_bech32_hrp_expand(hrp) + data[:-6] + [0] * 6) ^ 1
        expected = "".join(_BECH32_CHARSET[(polymod >> 5 * (5 - i)) & 31] for i in range(6))
        return (f"decoding bech32 failed: invalid checksum (expected {expected} "
                f"got {data_part[-6:]})")
    try:
        payload = _convert_bits(data[:-6], 5, 8, pad=False)
    except ValueError as exc:
        return f"decoding bech32 failed: {exc}"
    if hrp != prefix:
        return f"invalid Bech32 prefix; expected {prefix}, got {hrp}"
    if not payload:
        return "addresses cannot be empty: unknown address"
    if len(payload) > 255:
        return f"address max length is 255, got {len(payload)}: unknown address"
    return None


def lab_address(label: str, hrp: str = "pokt") -> str:
    """A valid, deterministic bech32 account address for ``label`` (20 bytes of its SHA-256)."""
    return bech32_encode(hrp, hashlib.sha256(label.encode("utf-8")).digest()[:20])


def lab_block_hash(height: int) -> bytes:
    """The lab chain's block hash at ``height``: SHA-256 of ``"pocket-lab:<height>"``."""
    return hashlib.sha256(f"pocket-lab:{height}".encode("ascii")).digest()


def lab_pub_key(address: str) -> bytes:
    """The lab's public key of account ``address`` (a lab value, not a real key): 33 bytes shaped
    like a compressed secp256k1 key, 0x02 or 0x03 (the parity of the digest's last byte) then
    SHA-256 of ``"pocket-lab:pubkey:<address>"``. It is not checked to be a point on the curve
    (nothing in the lab verifies signatures)."""
    digest = hashlib.sha256(f"pocket-lab:pubkey:{address.lower()}".encode()).digest()
    return bytes([2 + (digest[-1] & 1)]) + digest


def lab_account_number(address: str) -> int:
    """The lab's account number of ``address`` (a lab value): 1 + the first 4 bytes of SHA-256 of
    ``"pocket-lab:account_number:<address>"`` modulo 10^6. The chain numbers accounts in the
    order they are created; the lab needs a number that does not depend on that order."""
    digest = hashlib.sha256(f"pocket-lab:account_number:{address.lower()}".encode()).digest()
    return 1 + int.from_bytes(digest[:4], "big") % 1_000_000


def _account_address_error(address: str) -> str | None:
    """Why the auth keeper's ``StringToBytes`` (cosmos-sdk codec/address/bech32_codec.go) refuses
    ``address``, as the gRPC status message the gateway shows (code 2, Unknown: these errors
    carry no gRPC code; a wrapped cosmossdk.io/errors error reads ``"<desc>: <msg>"``)."""
    problem = _bech32_error(address, "pokt")
    if problem is None:
        return None
    if problem.startswith("invalid Bech32 prefix"):
        hrp = address.lower()[:address.lower().rfind("1")]
        return f"internal logic error: hrp does not match bech32 prefix: expected 'pokt' got '{hrp}'"
    if problem.endswith(": unknown address"):
        return "unknown address: " + problem[:-len(": unknown address")]
    return problem


def _clone(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists and scalars), faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _go_quote(text: str) -> str:
    """Go's ``%q`` for the printable strings the chain formats into its error messages."""
    return json.dumps(text, ensure_ascii=False)


# --------------------------------------------------------------------------- time formatting

_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def _parse_rfc3339(text: str, where: str) -> int | None:
    """Nanoseconds since the Unix epoch of an RFC 3339 time; None for Go's zero time."""
    match = _RFC3339_RE.match(text)
    if not match:
        raise SeedError(f"{where}: expected an RFC 3339 time, got {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if int(year) <= 1:
        return None
    tz: tzinfo = UTC
    if offset not in ("Z", "z"):
        tz = datetime.strptime(offset.replace(":", ""), "%z").tzinfo or UTC
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          tzinfo=tz)
    except ValueError as exc:
        raise SeedError(f"{where}: {exc}") from None
    nanos = int((fraction or "0").ljust(9, "0"))
    seconds = int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    return seconds * 1_000_000_000 + nanos


def _utc_parts(nanos: int) -> tuple[str, int]:
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"), fraction


def _go_time(nanos: int | None) -> str:
    """Go ``time.Time`` JSON (RFC 3339 with trailing zeros of the fraction trimmed)."""
    if nanos is None:
        return "0001-01-01T00:00:00Z"
    base, fraction = _utc_parts(nanos)
    return f"{base}.{fraction:09d}".rstrip("0").rstrip(".") + "Z"


def _proto_timestamp(nanos: int) -> str:
    """``google.protobuf.Timestamp`` JSON (0, 3, 6 or 9 fractional digits)."""
    base, fraction = _utc_parts(nanos)
    text = f"{base}.{fraction:09d}"
    for _ in range(2):
        if text.endswith("000"):
            text = text[:-3]
    return text.removesuffix(".000") + "Z"


# --------------------------------------------------------------------------- typed seed readers


def _get(obj: Mapping[str, Any], key: str, default: Any) -> Any:
    value = obj.get(key, default)
    return default if value is None else value


def _as_int(value: Any, where: str, *, minimum: int = 0) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SeedError(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise SeedError(f"{where}: must be >= {minimum}, got {value}")
    return value


def _as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SeedError(f"{where}: expected a string, got {value!r}")
    return value


def _as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SeedError(f"{where}: expected true or false, got {value!r}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SeedError(f"{where}: expected a list, got {value!r}")
    return value


def _as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected an object, got {value!r}")
    return value


def _check_keys(obj: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Reject fields a seed or payload object does not define (typos would be silent)."""
    if unknown := sorted(set(obj) - set(allowed)):
        raise SeedError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _service_id_error(service_id: str) -> str | None:
    """``sharedtypes.IsValidServiceId`` (x/shared/types/service.go) message, or None."""
    if not service_id:
        return "empty service ID: invalid service ID"
    if len(service_id) > _MAX_SERVICE_ID_LENGTH:
        return (f"service ID '{service_id}' exceeds maximum length: {_MAX_SERVICE_ID_LENGTH}: "
                "invalid service ID")
    if not _SERVICE_ID_RE.match(service_id):
        return f"service ID '{service_id}' contains invalid characters: invalid service ID"
    return None


def _enum_name(value: Any, names: tuple[str, ...], where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value in names:
        return value
    raise SeedError(f"{where}: expected one of {', '.join(names)}, got {value!r}")


# --------------------------------------------------------------------------- Shannon actors


@dataclass
class ServiceConfigUpdate:
    """``pocket.shared.ServiceConfigUpdate``: one service config and when it is active."""

    service: dict[str, Any]  # pocket.shared.SupplierServiceConfig, wire form
    activation_height: int
    deactivation_height: int = 0

    def is_active(self, height: int) -> bool:
        """``ServiceConfigUpdate.IsActive`` (x/shared/types/service_config_update.go)."""
        if self.activation_height > height:
            return False
        return self.deactivation_height == 0 or height < self.deactivation_height

    def to_wire(self, operator_address: str) -> dict[str, Any]:
        return {
            "operator_address": operator_address,
            "service": _clone(self.service),
            "activation_height": str(self.activation_height),
            "deactivation_height": str(self.deactivation_height),
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "service": _clone(self.service),
            "activation_height": self.activation_height,
            "deactivation_height": self.deactivation_height,
        }


def _supplier_service_config(entry: Any, owner: str, where: str) -> dict[str, Any]:
    """A ``pocket.shared.SupplierServiceConfig`` in wire form from a service id or config object."""
    if isinstance(entry, str):
        entry = {"service_id": entry}
    entry = _as_object(entry, where)
    _check_keys(entry, ("service_id", "endpoints", "rev_share"), where)
    service_id = _as_str(entry.get("service_id"), f"{where}.service_id")
    if problem := _service_id_error(service_id):
        raise SeedError(f"{where}.service_id: {problem}")
    default_endpoint = {"url": f"https://relayminer.lab.invalid/{service_id}",
                        "rpc_type": "JSON_RPC"}
    endpoints = []
    for i, endpoint in enumerate(_as_list(_get(entry, "endpoints", [default_endpoint]),
                                          f"{where}.endpoints")):
        here = f"{where}.endpoints[{i}]"
        endpoint = _as_object(endpoint, here)
        _check_keys(endpoint, ("url", "rpc_type", "configs"), here)
        configs = [
            {
                "key": _enum_name(_get(_as_object(option, f"{here}.configs[{j}]"), "key", 0),
                                  _CONFIG_OPTIONS, f"{here}.configs[{j}].key"),
                "value": _as_str(_get(option, "value", ""), f"{here}.configs[{j}].value"),
            }
            for j, option in enumerate(_as_list(_get(endpoint, "configs", []), f"{here}.configs"))
        ]
        endpoints.append({
            "url": _as_str(endpoint.get("url"), f"{here}.url"),
            "rpc_type": _enum_name(_get(endpoint, "rpc_type", "JSON_RPC"), _RPC_TYPES,
                                   f"{here}.rpc_type"),
            "configs": configs,
        })
    rev_share = [
        {
            "address": _as_str(_as_object(share, f"{where}.rev_share[{i}]").get("address"),
                               f"{where}.rev_share[{i}].address"),
            "rev_share_percentage": str(_as_int(share.get("rev_share_percentage"),
                                                f"{where}.rev_share[{i}].rev_share_percentage")),
        }
        for i, share in enumerate(_as_list(
            _get(entry, "rev_share", [{"address": owner, "rev_share_percentage": 100}]),
            f"{where}.rev_share"))
    ]
    return {"service_id": service_id, "endpoints": endpoints, "rev_share": rev_share}


@dataclass
class Supplier:
    """A Shannon supplier (``pocket.shared.Supplier``) with its service config history."""

    operator_address: str
    owner_address: str
    stake_upokt: int
    unstake_session_end_height: int
    history: list[ServiceConfigUpdate]

    @classmethod
    def from_seed(cls, obj: Any, default_stake: int, default_activation: int,
                  where: str) -> Supplier:
        obj = _as_object(obj, where)
        _check_keys(obj, ("operator_address", "owner_address", "stake_upokt", "services",
                          "activation_height", "unstake_session_end_height",
                          "service_config_history"), where)
        operator = _as_str(obj.get("operator_address"), f"{where}.operator_address")
        if not operator:
            raise SeedError(f"{where}.operator_address: must not be empty")
        owner = _as_str(_get(obj, "owner_address", operator), f"{where}.owner_address")
        if "service_config_history" in obj:
            history = []
            for i, update in enumerate(_as_list(obj["service_config_history"],
                                                f"{where}.service_config_history")):
                here = f"{where}.service_config_history[{i}]"
                update = _as_object(update, here)
                _check_keys(update, ("operator_address", "service", "activation_height",
                                     "deactivation_height"), here)
                history.append(ServiceConfigUpdate(
                    service=_supplier_service_config(update.get("service"), owner,
                                                     f"{here}.service"),
                    activation_height=_as_int(_get(update, "activation_height", 1),
                                              f"{here}.activation_height"),
                    deactivation_height=_as_int(_get(update, "deactivation_height", 0),
                                                f"{here}.deactivation_height"),
                ))
        else:
            activation = _as_int(_get(obj, "activation_height", default_activation),
                                 f"{where}.activation_height")
            services = _as_list(_get(obj, "services", []), f"{where}.services")
            history = [
                ServiceConfigUpdate(
                    _supplier_service_config(entry, owner, f"{where}.services[{i}]"), activation)
                for i, entry in enumerate(services)
            ]
        return cls(
            operator_address=operator,
            owner_address=owner,
            stake_upokt=_as_int(_get(obj, "stake_upokt", default_stake), f"{where}.stake_upokt"),
            unstake_session_end_height=_as_int(_get(obj, "unstake_session_end_height", 0),
                                               f"{where}.unstake_session_end_height"),
            history=history,
        )

    def active_config(self, service_id: str, height: int) -> ServiceConfigUpdate | None:
        return next((u for u in self.history
                     if u.service["service_id"] == service_id and u.is_active(height)), None)

    def to_wire(self, height: int, *, dehydrated: bool = False) -> dict[str, Any]:
        """``pocket.shared.Supplier`` as the supplier query hydrates it at ``height``.

        Hydrated (``hydrateFullSupplierServiceConfigs``): services active at ``height`` and the
        whole history; dehydrated: active services without ``rev_share``, no history.
        """
        services = [_clone(u.service) for u in self.history if u.is_active(height)]
        if dehydrated:
            for service in services:
                service["rev_share"] = []
        history = [] if dehydrated else [u.to_wire(self.operator_address) for u in self.history]
        return self._wire(services, history)

    def to_session_wire(self, update: ServiceConfigUpdate) -> dict[str, Any]:
        """The supplier as ``getServiceConfigsSuppliers`` puts it in a session: one service."""
        return self._wire([_clone(update.service)], [])

    def _wire(self, services: list[dict[str, Any]],
              history: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "owner_address": self.owner_address,
            "operator_address": self.operator_address,
            "stake": _coin(self.stake_upokt),
            "services": services,
            "unstake_session_end_height": str(self.unstake_session_end_height),
            "service_config_history": history,
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "operator_address": self.operator_address,
            "owner_address": self.owner_address,
            "stake_upokt": self.stake_upokt,
            "unstake_session_end_height": self.unstake_session_end_height,
            "service_config_history": [u.to_seed() for u in self.history],
        }


@dataclass
class Application:
    """A Shannon application (``pocket.application.Application``)."""

    address: str
    stake_upokt: int
    service_ids: list[str]
    delegatee_gateway_addresses: list[str]
    unstake_session_end_height: int

    @classmethod
    def from_seed(cls, obj: Any, default_stake: int, where: str) -> Application:
        obj = _as_object(obj, where)
        _check_keys(obj, ("address", "stake_upokt", "services", "delegatee_gateway_addresses",
                          "unstake_session_end_height"), where)
        service_ids = [
            _as_str(s.get("service_id") if isinstance(s, dict) else s, f"{where}.services[{i}]")
            for i, s in enumerate(_as_list(_get(obj, "services", []), f"{where}.services"))
        ]
        for i, service_id in enumerate(service_ids):
            if problem := _service_id_error(service_id):
                raise SeedError(f"{where}.services[{i}]: {problem}")
        address = _as_str(obj.get("address"), f"{where}.address")
        if not address:
            raise SeedError(f"{where}.address: must not be empty")
        return cls(
            address=address,
            stake_upokt=_as_int(_get(obj, "stake_upokt", default_stake), f"{where}.stake_upokt"),
            service_ids=service_ids,
            delegatee_gateway_addresses=[
                _as_str(a, f"{where}.delegatee_gateway_addresses[{i}]")
                for i, a in enumerate(_as_list(_get(obj, "delegatee_gateway_addresses", []),
                                               f"{where}.delegatee_gateway_addresses"))
            ],
            unstake_session_end_height=_as_int(_get(obj, "unstake_session_end_height", 0),
                                               f"{where}.unstake_session_end_height"),
        )

    def is_active(self, height: int) -> bool:
        """``Application.IsActive``: an unbonding app serves until its unstake session ends."""
        return self.unstake_session_end_height == 0 or height <= self.unstake_session_end_height

    def to_wire(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "stake": _coin(self.stake_upokt),
            "service_configs": [{"service_id": s} for s in self.service_ids],
            "delegatee_gateway_addresses": list(self.delegatee_gateway_addresses),
            "pending_undelegations": {},
            "unstake_session_end_height": str(self.unstake_session_end_height),
            "pending_transfer": None,
            "per_session_spend_limit": None,
            "service_config_history": [],
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "stake_upokt": self.stake_upokt,
            "services": list(self.service_ids),
            "delegatee_gateway_addresses": list(self.delegatee_gateway_addresses),
            "unstake_session_end_height": self.unstake_session_end_height,
        }


# --------------------------------------------------------------------------- Morse actors


@dataclass
class SigningInfo:
    """``ValidatorSigningInfo`` (pocket-core x/nodes/types/nodes.pb.go)."""

    start_height: int = 0
    index_offset: int = 0
    jailed_until_ns: int | None = None
    missed_blocks_counter: int = 0
    jailed_blocks_counter: int = 0

    @classmethod
    def from_seed(cls, obj: Any, where: str) -> SigningInfo:
        obj = _as_object(obj, where)
        _check_keys(obj, ("address", "start_height", "index_offset", "jailed_until",
                          "missed_blocks_counter", "jailed_blocks_counter"), where)
        until = obj.get("jailed_until")
        return cls(
            start_height=_as_int(_get(obj, "start_height", 0), f"{where}.start_height"),
            index_offset=_as_int(_get(obj, "index_offset", 0), f"{where}.index_offset"),
            jailed_until_ns=None if until is None else _parse_rfc3339(
                _as_str(until, f"{where}.jailed_until"), f"{where}.jailed_until"),
            missed_blocks_counter=_as_int(_get(obj, "missed_blocks_counter", 0),
                                          f"{where}.missed_blocks_counter"),
            jailed_blocks_counter=_as_int(_get(obj, "jailed_blocks_counter", 0),
                                          f"{where}.jailed_blocks_counter"),
        )

    def to_wire(self, address: str) -> dict[str, Any]:
        return {
            "address": address,
            "start_height": self.start_height,
            "index_offset": self.index_offset,
            "jailed_until": _go_time(self.jailed_until_ns),
            "missed_blocks_counter": self.missed_blocks_counter,
            "jailed_blocks_counter": self.jailed_blocks_counter,
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "start_height": self.start_height,
            "index_offset": self.index_offset,
            "jailed_until": _go_time(self.jailed_until_ns),
            "missed_blocks_counter": self.missed_blocks_counter,
            "jailed_blocks_counter": self.jailed_blocks_counter,
        }


_HEX_RE = re.compile(r"^[0-9a-fA-F]*$")


#: The lab DAO's tokens in ``/v1/query/supply`` (mainnet's DAO held ~ 10^14 upokt).
MORSE_DAO_UPOKT = 100_000_000_000_000

@dataclass
class MorseNode:
    """A Morse node (``Validator``, pocket-core x/nodes/types/validator.go)."""

    address: str
    public_key: str
    jailed: bool
    status: int
    chains: list[str]
    service_url: str
    tokens_upokt: int
    unstaking_time_ns: int | None
    output_address: str
    signing_info: SigningInfo = field(default_factory=SigningInfo)

    @classmethod
    def from_seed(cls, obj: Any, default_tokens: int, where: str) -> MorseNode:
        obj = _as_object(obj, where)
        _check_keys(obj, ("address", "public_key", "jailed", "status", "chains", "service_url",
                          "tokens_upokt", "unstaking_time", "output_address", "signing_info"),
                    where)
        public_key = obj.get("public_key")
        if public_key is not None:
            public_key = _as_str(public_key, f"{where}.public_key").lower()
            if not _HEX_RE.match(public_key) or len(public_key) != 64:
                raise SeedError(f"{where}.public_key: expected 64 hex digits")
        if "address" in obj:
            address = _as_str(obj["address"], f"{where}.address").lower()
        elif public_key is not None:
            address = hashlib.sha256(bytes.fromhex(public_key)).digest()[:20].hex()
        else:
            raise SeedError(f"{where}: needs an address or a public_key")
        if not _HEX_RE.match(address) or len(address) != 40:
            raise SeedError(f"{where}.address: expected 40 hex digits, got {address!r}")
        if public_key is None:
            public_key = hashlib.sha256(f"pocket-lab-pubkey:{address}".encode()).hexdigest()
        status = _as_int(_get(obj, "status", _MORSE_STATUS_STAKED), f"{where}.status")
        if status > _MORSE_STATUS_STAKED:
            raise SeedError(f"{where}.status: expected 0 (unstaked), 1 (unstaking) or 2 (staked)")
        output = _as_str(_get(obj, "output_address", ""), f"{where}.output_address").lower()
        if output and (not _HEX_RE.match(output) or len(output) != 40):
            raise SeedError(f"{where}.output_address: expected 40 hex digits or ''")
        unstaking = obj.get("unstaking_time")
        return cls(
            address=address,
            public_key=public_key,
            jailed=_as_bool(_get(obj, "jailed", False), f"{where}.jailed"),
            status=status,
            chains=[_as_str(c, f"{where}.chains[{i}]")
                    for i, c in enumerate(_as_list(_get(obj, "chains", []), f"{where}.chains"))],
            service_url=_as_str(
                _get(obj, "service_url", f"https://node-{address[:8]}.lab.invalid:443"),
                f"{where}.service_url"),
            tokens_upokt=_as_int(_get(obj, "tokens_upokt", default_tokens),
                                 f"{where}.tokens_upokt"),
            unstaking_time_ns=None if unstaking is None else _parse_rfc3339(
                _as_str(unstaking, f"{where}.unstaking_time"), f"{where}.unstaking_time"),
            output_address=output,
            signing_info=SigningInfo.from_seed(_get(obj, "signing_info", {}),
                                               f"{where}.signing_info"),
        )

    def to_wire(self) -> dict[str, Any]:
        """``JSONValidator`` (``Validator.MarshalJSON``): what /v1/query/node and nodes show."""
        return {
            "address": self.address,
            "public_key": self.public_key,
            "jailed": self.jailed,
            "status": self.status,
            "chains": list(self.chains) or None,
            "service_url": self.service_url,
            "tokens": str(self.tokens_upokt),
            "unstaking_time": _go_time(self.unstaking_time_ns),
            "output_address": self.output_address,
            "reward_delegators": None,
        }

    def to_seed(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "public_key": self.public_key,
            "chains": list(self.chains),
            "tokens_upokt": self.tokens_upokt,
            "jailed": self.jailed,
            "status": self.status,
            "service_url": self.service_url,
            "output_address": self.output_address,
            "unstaking_time": _go_time(self.unstaking_time_ns),
            "signing_info": self.signing_info.to_seed(),
        }


# --------------------------------------------------------------------------- params merging


def _merge_params(current: dict[str, Any], changes: Mapping[str, Any], where: str,
                  *, decimals: frozenset[str] = frozenset()) -> None:
    """Merge ``changes`` into wire-form params; ``None`` removes a field.

    Integers given for an existing coin or 64-bit (string-encoded) field are converted to the
    wire encoding, so tests may write ``{"min_stake": 100}``; fields in ``decimals`` are written
    the way amino writes ``sdk.BigDec`` (18 decimal places).
    """
    for name, value in changes.items():
        here = f"{where}.{name}"
        old = current.get(name)
        if value is None:
            current.pop(name, None)
        elif name in decimals:
            current[name] = _bigdec(value, here)
        elif isinstance(old, dict) and set(old) == {"denom", "amount"}:
            if isinstance(value, dict):
                value = {"denom": _as_str(_get(value, "denom", UPOKT), f"{here}.denom"),
                         "amount": str(_as_int(value.get("amount"), f"{here}.amount"))}
            else:
                value = _coin(_as_int(value, here))
            current[name] = value
        elif isinstance(old, str) and re.fullmatch(r"-?\d+", old):
            current[name] = str(_as_int(value, here, minimum=-(2**63)))
        else:
            current[name] = _clone(value)


def _bigdec(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SeedError(f"{where}: expected a decimal, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SeedError(f"{where}: expected a decimal, got {value!r}") from None
    return f"{number:.18f}"


def _param_int(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if isinstance(value, dict):
        value = value.get("amount")
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _amino_param_value(value: Any) -> str:
    """``QueryAllParams`` value: amino JSON of the param, unquoted when it is a JSON string."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- errors


class GatewayError(Exception):
    """A gRPC status the gateway writes as ``google.rpc.Status`` (grpc-gateway v1)."""

    HTTP_STATUS: ClassVar[Mapping[int, int]] = {2: 500, 3: 400, 5: 404, 12: 501, 13: 500}

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, INTERNAL = 3, 5, 12, 13
UNKNOWN = 2
#: ``@type`` of the account and key the auth query answers (cosmos-sdk x/auth/types,
#: crypto/keys/secp256k1).
BASE_ACCOUNT_TYPE = "/cosmos.auth.v1beta1.BaseAccount"
SECP256K1_PUBKEY_TYPE = "/cosmos.crypto.secp256k1.PubKey"


class MorseError(Exception):
    """An error pocket-core's RPC writes as ``400 {"code": 400, "message": …}``."""


class ControlError(Exception):
    """A control-API failure: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- fault plan


@dataclass
class FaultPlan:
    """Injected failure for non-control requests whose path starts with ``path_prefix``."""

    mode: str = "none"
    path_prefix: str = ""
    remaining: int | None = None  # None: until changed

    @classmethod
    def from_seed(cls, obj: Mapping[str, Any], where: str) -> FaultPlan:
        _check_keys(obj, ("mode", "path_prefix", "count"), where)
        mode = _as_str(_get(obj, "mode", "none"), f"{where}.mode")
        if mode not in FAULT_MODES:
            raise SeedError(f"{where}.mode: expected one of {', '.join(FAULT_MODES)}, "
                            f"got {mode!r}")
        if mode == "none":
            return cls()
        count = obj.get("count")
        return cls(mode, _as_str(_get(obj, "path_prefix", ""), f"{where}.path_prefix"),
                   None if count is None else _as_int(count, f"{where}.count", minimum=1))

    def to_wire(self) -> dict[str, Any]:
        return {"mode": self.mode, "path_prefix": self.path_prefix, "count": self.remaining}


# --------------------------------------------------------------------------- claims and events

#: Blocks of CometBFT history the stand-in keeps (``/block_results``, ``/blockchain``); older
#: heights answer as a pruned node does (``height H is not available, lowest height is B``).
COMET_HISTORY_BLOCKS = 10_000
#: ``pocket.proof.ProofRequirementReason`` and ``ClaimProofStatus`` (proto/pocket/proof/types.proto).
_PROOF_REQUIREMENTS = ("NOT_REQUIRED", "PROBABILISTIC", "THRESHOLD")
_PROOF_STATUS_PENDING, _PROOF_STATUS_VALIDATED = 0, 1
_CLAIM_STATES = ("claimed", "proven", "settled", "expired", "discarded")
#: Owner of the services the lab does not seed explicitly.
_LAB_SERVICE_OWNER = lab_address("lab-service-owner")
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


@dataclass
class BlockRecord:
    """What ``/block_results`` shows for one height: its transactions' results and its
    finalize-block events, plus how many times the lab re-orged it (which changes its hash)."""

    txs_results: list[Any] = field(default_factory=list)
    finalize_block_events: list[Any] = field(default_factory=list)
    reorgs: int = 0

    @classmethod
    def from_seed(cls, obj: Any, where: str) -> BlockRecord:
        obj = _as_object(obj, where)
        _check_keys(obj, ("txs_results", "finalize_block_events", "reorgs"), where)
        return cls(_clone(_as_list(_get(obj, "txs_results", []), f"{where}.txs_results")),
                   _clone(_as_list(_get(obj, "finalize_block_events", []),
                                   f"{where}.finalize_block_events")),
                   _as_int(_get(obj, "reorgs", 0), f"{where}.reorgs"))

    def to_seed(self) -> dict[str, Any]:
        return {"txs_results": _clone(self.txs_results),
                "finalize_block_events": _clone(self.finalize_block_events),
                "reorgs": self.reorgs}


class CometRPCError(Exception):
    """A CometBFT RPC error (``RPCError{code, message, data}``, rpc/jsonrpc/types)."""

    def __init__(self, code: int, message: str, data: str) -> None:
        super().__init__(data)
        self.code, self.message, self.data = code, message, data


def _comet_internal(data: str) -> CometRPCError:
    return CometRPCError(-32603, "Internal error", data)


def _comet_height_arg(value: Any, name: str, *, uri: bool) -> int | None:
    """An ``int64`` (or ``*int64``) RPC argument: URI text or a JSON-RPC param; None if absent.

    URI args follow ``http_uri_handler.go`` (integer text, a JSON string, else cmtjson's
    error); JSON-RPC params accept a JSON string or number, as cmtjson decodes ``int64``.
    """
    where = "http" if uri else "json"
    if value is None or value == "":
        return None
    text = value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CometRPCError(-32602, "Invalid params",
                            f"error converting {where} params to arguments: {name}: "
                            f"expected an integer, got {json.dumps(value)}")
    if isinstance(value, int):
        return value
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    elif uri and text.lower().startswith("0x"):
        raise CometRPCError(-32602, "Invalid params", "error converting http params to "
                            "arguments: got a hex string arg, but expected 'int64'")
    if not re.fullmatch(r"-?\d+", text) or not -(2**63) <= int(text) < 2**63:
        first = text[:1] or '"'
        raise CometRPCError(-32602, "Invalid params",
                            f"error converting {where} params to arguments: invalid character "
                            f"{_go_char(first)} looking for beginning of value")
    return int(text)


class _TxRefused(Exception):
    """A message the msg server refuses: ``status.Error(code, message)`` as gRPC prints it."""

    def __init__(self, grpc_code: str, message: str) -> None:
        super().__init__(f"rpc error: code = {grpc_code} desc = {message}")


def _go_float_text(value: Any) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)`` of a float64 param (shortest exact digits)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------- the chain


def _account_entry(obj: Any, where: str) -> dict[str, Any]:
    """A seed ``accounts`` entry, checked: ``address`` (bech32 ``pokt1…``), optional ``pub_key``
    (true/false; null or absent: derived), ``account_number``, ``sequence``."""
    obj = _as_object(obj, where)
    _check_keys(obj, ("address", "pub_key", "account_number", "sequence"), where)
    address = _as_str(obj.get("address"), f"{where}.address")
    if problem := _bech32_error(address, "pokt"):
        raise SeedError(f"{where}.address: {problem}")
    entry: dict[str, Any] = {"address": address}
    if obj.get("pub_key") is not None:
        entry["pub_key"] = _as_bool(obj["pub_key"], f"{where}.pub_key")
    for name in ("account_number", "sequence"):
        if obj.get(name) is not None:
            entry[name] = _as_int(obj[name], f"{where}.{name}")
    return entry


class ChainState:
    """The lab chain: Shannon and Morse state, params, balances, height and faults.

    Every public method takes the one lock, applies the time-driven transitions due so far and
    returns plain JSON values (wire form for the query methods), so callers never share
    mutable state with it.
    """

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._seed = _clone(dict(seed or {}))
        self._load(self._seed)

    # ---- loading and exporting

    def _load(self, seed: Mapping[str, Any]) -> None:
        seed = _as_object(dict(seed), "seed")
        _check_keys(seed, ("chain_id", "height", "block_time", "latency_ms", "shannon", "morse",
                           "balances", "accounts", "comet", "fault", "blocks"), "seed")
        fault = FaultPlan.from_seed(_as_object(_get(seed, "fault", {}), "seed.fault"), "seed.fault")
        chain_id = _as_str(_get(seed, "chain_id", DEFAULT_CHAIN_ID), "seed.chain_id")
        height = _as_int(_get(seed, "height", 1), "seed.height", minimum=1)
        block_time = _get(seed, "block_time", 0)
        if (isinstance(block_time, bool) or not isinstance(block_time, (int, float))
                or block_time < 0):
            raise SeedError(f"seed.block_time: expected seconds >= 0, got {block_time!r}")
        latency_ms = _as_int(_get(seed, "latency_ms", 0), "seed.latency_ms")
        comet = _as_object(_get(seed, "comet", {}), "seed.comet")
        _check_keys(comet, ("lag", "catching_up"), "seed.comet")
        comet_lag = _as_int(_get(comet, "lag", 0), "seed.comet.lag")
        comet_catching_up = _as_bool(_get(comet, "catching_up", False), "seed.comet.catching_up")

        shannon = _as_object(_get(seed, "shannon", {}), "seed.shannon")
        _check_keys(shannon, ("params", "suppliers", "applications", "services", "claims"),
                    "seed.shannon")
        shannon_params = _clone(MAINNET_SHANNON_PARAMS)
        for module, changes in _as_object(_get(shannon, "params", {}),
                                          "seed.shannon.params").items():
            if module not in shannon_params:
                raise SeedError(f"seed.shannon.params: unknown module {module!r}")
            where = f"seed.shannon.params.{module}"
            _merge_params(shannon_params[module], _as_object(changes, where), where)
        morse = _as_object(_get(seed, "morse", {}), "seed.morse")
        _check_keys(morse, ("params", "nodes"), "seed.morse")
        morse_params = _clone(MAINNET_MORSE_PARAMS)
        for module, changes in _as_object(_get(morse, "params", {}), "seed.morse.params").items():
            if module not in morse_params:
                raise SeedError(f"seed.morse.params: unknown module {module!r}")
            where = f"seed.morse.params.{module}"
            _merge_params(morse_params[module], _as_object(changes, where), where,
                          decimals=_MORSE_DECIMAL_PARAMS if module == "pos" else frozenset())

        supplier_min = _param_int(shannon_params["supplier"], "min_stake",
                                  SHANNON_PARAM_DEFAULTS[("supplier", "min_stake")])
        suppliers: dict[str, Supplier] = {}
        entries = _as_list(_get(shannon, "suppliers", []), "seed.shannon.suppliers")
        for i, entry in enumerate(entries):
            supplier = Supplier.from_seed(entry, supplier_min, 1, f"seed.shannon.suppliers[{i}]")
            suppliers[supplier.operator_address] = supplier
        app_min = _param_int(shannon_params["application"], "min_stake",
                             SHANNON_PARAM_DEFAULTS[("application", "min_stake")])
        applications: dict[str, Application] = {}
        for i, entry in enumerate(_as_list(_get(shannon, "applications", []),
                                           "seed.shannon.applications")):
            app = Application.from_seed(entry, app_min, f"seed.shannon.applications[{i}]")
            applications[app.address] = app
        node_min = _param_int(morse_params["pos"], "stake_minimum", 0)
        nodes: dict[str, MorseNode] = {}
        for i, entry in enumerate(_as_list(_get(morse, "nodes", []), "seed.morse.nodes")):
            node = MorseNode.from_seed(entry, node_min, f"seed.morse.nodes[{i}]")
            nodes[node.address] = node
        balances = {
            _as_str(address, "seed.balances").lower(): _as_int(amount, f"seed.balances.{address}")
            for address, amount in _as_object(_get(seed, "balances", {}), "seed.balances").items()
        }
        accounts: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(_as_list(_get(seed, "accounts", []), "seed.accounts")):
            account = _account_entry(entry, f"seed.accounts[{i}]")
            accounts[account["address"].lower()] = account
        services: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(_as_list(_get(shannon, "services", []),
                                           "seed.shannon.services")):
            where = f"seed.shannon.services[{i}]"
            entry = _as_object(entry, where)
            _check_keys(entry, ("id", "name", "compute_units_per_relay", "owner_address"), where)
            service_id = _as_str(entry.get("id"), f"{where}.id")
            if problem := _service_id_error(service_id):
                raise SeedError(f"{where}.id: {problem}")
            services[service_id] = {
                "id": service_id,
                "name": _as_str(_get(entry, "name", service_id), f"{where}.name"),
                "compute_units_per_relay": _as_int(_get(entry, "compute_units_per_relay", 1),
                                                   f"{where}.compute_units_per_relay",
                                                   minimum=1),
                "owner_address": _as_str(_get(entry, "owner_address", _LAB_SERVICE_OWNER),
                                         f"{where}.owner_address"),
            }
        claims: dict[tuple[str, str], Claim] = {}
        for i, entry in enumerate(_as_list(_get(shannon, "claims", []), "seed.shannon.claims")):
            claim = Claim.from_seed(entry, f"seed.shannon.claims[{i}]")
            claims[claim.key()] = claim
        blocks: dict[int, BlockRecord] = {}
        for key, entry in _as_object(_get(seed, "blocks", {}), "seed.blocks").items():
            if not re.fullmatch(r"[1-9]\d*", key):
                raise SeedError(f"seed.blocks: expected heights as keys, got {key!r}")
            blocks[int(key)] = BlockRecord.from_seed(entry, f"seed.blocks.{key}")

        self._chain_id = chain_id
        self._proposer = hashlib.sha256(f"pocket-lab-proposer:{chain_id}".encode()).digest()[:20]
        self._proposer_valcons = bech32_encode("poktvalcons", self._proposer)
        self._block_time = float(block_time)
        self._anchor_height = height
        self._anchor_monotonic = time.monotonic()
        self._anchor_wall_ns = time.time_ns()
        self._latency_ms = latency_ms
        self._comet_lag = comet_lag
        self._comet_catching_up = comet_catching_up
        self._fault = fault
        self._shannon_params = shannon_params
        self._morse_params = morse_params
        self._suppliers = suppliers
        self._applications = applications
        self._nodes = nodes
        self._balances = balances
        self._services = services
        self._claims = claims
        self._blocks = blocks
        self._tx_count = sum(len(b.txs_results) for b in blocks.values())
        self._accounts = {k: {n: v for n, v in a.items() if n != "sequence"}
                          for k, a in accounts.items()}
        # Last sequence each account signed with (-1: none), keyed by lower-case address.
        self._sequences: dict[str, int] = {k: a["sequence"] - 1 for k, a in accounts.items()
                                           if a.get("sequence")}
        self._pruned_base = 0
        self._next_settlement = 0  # lowest settlement height of a pending claim (0: none known)

    def export(self) -> dict[str, Any]:
        """The whole state in the seed format: a seed that reproduces it."""
        with self._lock:
            height = self._settle()

            def params_with_removals(current: Mapping[str, dict[str, Any]],
                                     mainnet: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
                return {module: {**{k: None for k in mainnet[module] if k not in values},
                                 **_clone(values)}
                        for module, values in current.items()}

            return {
                "chain_id": self._chain_id,
                "height": height,
                "block_time": self._block_time,
                "latency_ms": self._latency_ms,
                "shannon": {
                    "params": params_with_removals(self._shannon_params, MAINNET_SHANNON_PARAMS),
                    "suppliers": [s.to_seed() for s in self._suppliers.values()],
                    "applications": [a.to_seed() for a in self._applications.values()],
                    "services": [dict(s) for s in self._services.values()],
                    "claims": [c.to_seed() for c in self._claims.values()],
                },
                "morse": {
                    "params": params_with_removals(self._morse_params, MAINNET_MORSE_PARAMS),
                    "nodes": [n.to_seed() for n in self._nodes.values()],
                },
                "balances": dict(self._balances),
                "accounts": self._export_accounts(),
                "comet": {"lag": self._comet_lag, "catching_up": self._comet_catching_up},
                "fault": self._fault.to_wire(),
                "blocks": {str(h): b.to_seed() for h, b in sorted(self._blocks.items())},
            }

    def reset(self) -> int:
        """Back to the seed the chain was created with (height re-anchored to now)."""
        with self._lock:
            self._load(self._seed)
            return self._settle()

    # ---- height, time and lazy transitions

    def _height(self) -> int:
        if self._block_time <= 0:
            return self._anchor_height
        return self._anchor_height + int((time.monotonic() - self._anchor_monotonic)
                                         // self._block_time)

    def _block_time_ns(self, height: int) -> int:
        """Header time of ``height``: the anchor's wall time plus one block time per block."""
        return self._anchor_wall_ns + int((height - self._anchor_height)
                                          * self._block_time * 1_000_000_000)

    def _shared(self, name: str) -> int:
        return _param_int(self._shannon_params["shared"], name,
                          SHANNON_PARAM_DEFAULTS[("shared", name)])

    def _grid(self, height: int) -> tuple[int, int, int]:
        """(blocks per session, anchor, session number at anchor): ``sessionGridAnchor``."""
        blocks = max(1, self._shared("num_blocks_per_session"))
        anchor = self._shared("session_grid_anchor_height")
        number_at_anchor = self._shared("session_number_at_anchor")
        if anchor <= 0 or anchor > height:
            return blocks, 1, 1
        return blocks, anchor, max(1, number_at_anchor)

    def _session_start(self, height: int) -> int:
        """``GetSessionStartHeight`` (x/shared/types/session.go)."""
        if height <= 0:
            return 0
        blocks, anchor, _ = self._grid(height)
        return anchor + (height - anchor) // blocks * blocks

    def _session_end(self, height: int) -> int:
        if height <= 0:
            return 0
        return self._session_start(height) + self._grid(height)[0] - 1

    def _session_number(self, height: int) -> int:
        if height <= 0:
            return 0
        blocks, anchor, number_at_anchor = self._grid(height)
        return number_at_anchor + (height - anchor) // blocks

    def _credit(self, address: str, amount: int) -> None:
        key = address.lower()
        self._balances[key] = self._balances.get(key, 0) + amount

    def _settle(self) -> int:
        """Apply the settlements, unbonding and unstaking that are due; return the height."""
        height = self._height()
        self._process_claims(height)
        self._unbond_due(height)
        now_ns = time.time_ns()
        for node in self._nodes.values():
            if (node.status == _MORSE_STATUS_UNSTAKING and node.unstaking_time_ns is not None
                    and node.unstaking_time_ns <= now_ns):
                self._credit(node.output_address or node.address, node.tokens_upokt)
                node.tokens_upokt = 0
                node.status = _MORSE_STATUS_UNSTAKED
                node.unstaking_time_ns = None
        self._prune(height)
        return height

    def _unbond_due(self, height: int) -> None:
        """Remove the suppliers and applications whose unbonding period ended by ``height``."""
        blocks = max(1, self._shared("num_blocks_per_session"))
        supplier_period = self._shared("supplier_unbonding_period_sessions") * blocks
        for operator, supplier in list(self._suppliers.items()):
            end = supplier.unstake_session_end_height
            if end and height >= self._session_end(end + supplier_period):
                del self._suppliers[operator]
                self._credit(supplier.owner_address, supplier.stake_upokt)
        app_period = self._shared("application_unbonding_period_sessions") * blocks
        for address, app in list(self._applications.items()):
            end = app.unstake_session_end_height
            if end and height >= self._session_end(end + app_period):
                del self._applications[address]
                self._credit(app.address, app.stake_upokt)

    def height(self) -> int:
        """The latest height."""
        with self._lock:
            return self._settle()

    def set_height(self, *, height: Any = None, advance: Any = None) -> int:
        """Jump to ``height`` or ``advance`` blocks; the block clock restarts from there."""
        with self._lock:
            current = self._settle()
            if (height is None) == (advance is None):
                raise SeedError("give exactly one of 'height' and 'advance'")
            target = (_as_int(height, "height", minimum=1) if height is not None
                      else current + _as_int(advance, "advance"))
            self._anchor_height = target
            self._anchor_monotonic = time.monotonic()
            self._anchor_wall_ns = time.time_ns()
            return self._settle()

    # ---- faults and latency

    def set_fault(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the fault plan (``{"mode", "path_prefix", "count"}``); return it."""
        plan = FaultPlan.from_seed(obj, "fault")
        with self._lock:
            self._fault = plan
            return plan.to_wire()

    def set_latency(self, ms: Any) -> int:
        with self._lock:
            self._latency_ms = _as_int(ms, "ms")
            return self._latency_ms

    def take_fault(self, path: str) -> tuple[float, str]:
        """(latency seconds, fault mode or "none") for one non-control request to ``path``."""
        with self._lock:
            plan = self._fault
            mode = "none"
            if plan.mode != "none" and path.startswith(plan.path_prefix):
                mode = plan.mode
                if plan.remaining is not None:
                    plan.remaining -= 1
                    if plan.remaining <= 0:
                        self._fault = FaultPlan()
            return self._latency_ms / 1000.0, mode

    # ---- the CometBFT node

    def set_comet(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Change the node's ``lag`` (blocks behind the chain) and/or ``catching_up``."""
        _check_keys(obj, ("lag", "catching_up"), "comet")
        lag = None if obj.get("lag") is None else _as_int(obj["lag"], "lag")
        catching_up = (None if obj.get("catching_up") is None
                       else _as_bool(obj["catching_up"], "catching_up"))
        with self._lock:
            if lag is not None:
                self._comet_lag = lag
            if catching_up is not None:
                self._comet_catching_up = catching_up
            return {"lag": self._comet_lag, "catching_up": self._comet_catching_up}

    def _comet_block(self, height: int) -> tuple[str, str, str]:
        """(block hash, app hash, time) of ``height`` as CometBFT writes them (upper-case hex,
        Go ``time.Time``); the same block as ``blocks/latest``. Before the first block: empty
        hashes and the Unix epoch (``time.Unix(0, 0)``), what rpc/core/status.go reports for an
        empty block store."""
        if height < 1:
            return "", "", _go_time(0)
        app_hash = hashlib.sha256(f"pocket-lab:app:{height}".encode()).digest()
        return (self._block_hash(height).hex().upper(), app_hash.hex().upper(),
                _go_time(self._block_time_ns(height)))

    def comet_status(self, rpc_address: str) -> dict[str, Any]:
        """``ResultStatus`` (rpc/core/types/responses.go) of the lab's full node."""
        with self._lock:
            height = max(0, self._settle() - self._comet_lag)
            chain_id, catching_up = self._chain_id, self._comet_catching_up
            latest = self._comet_block(height)
            base = self._history_base(self._height())
            earliest = self._comet_block(base if height >= 1 else 0)
        node_key = hashlib.sha256(f"pocket-lab-node-key:{chain_id}".encode()).digest()
        validator_key = hashlib.sha256(f"pocket-lab-validator-key:{chain_id}".encode()).digest()
        return {
            "node_info": {
                "protocol_version": {"p2p": str(COMET_P2P_PROTOCOL),
                                     "block": str(COMET_BLOCK_PROTOCOL), "app": "0"},
                # p2p.ID: hex of the node key's address (SHA-256 of the ed25519 key, 20 bytes).
                "id": hashlib.sha256(node_key).digest()[:20].hex(),
                # Reported, not bound: CometBFT's default p2p laddr, as a real node's /status says.
                "listen_addr": "tcp://0.0.0.0:26656",
                "network": chain_id,
                "version": COMET_VERSION,
                "channels": COMET_CHANNELS,
                "moniker": "fleetlab-full-node",
                "other": {"tx_index": "on", "rpc_address": rpc_address},
            },
            "sync_info": {
                "latest_block_hash": latest[0],
                "latest_app_hash": latest[1],
                "latest_block_height": str(height),
                "latest_block_time": latest[2],
                "earliest_block_hash": earliest[0],
                "earliest_app_hash": earliest[1],
                "earliest_block_height": str(base if height >= 1 else 0),
                "earliest_block_time": earliest[2],
                "catching_up": catching_up,
            },
            "validator_info": {
                "address": hashlib.sha256(validator_key).digest()[:20].hex().upper(),
                "pub_key": {"type": "tendermint/PubKeyEd25519", "value": _b64(validator_key)},
                "voting_power": "0",  # a full node, not in the validator set
            },
        }

    def comet_abci_info(self) -> dict[str, Any]:
        """``ResultABCIInfo``: BaseApp ``Info`` (``omitempty`` drops zero values)."""
        with self._lock:
            height = max(0, self._settle() - self._comet_lag)
        response: dict[str, Any] = {"data": POCKET_APP_NAME, "version": POCKET_APP_VERSION}
        if height >= 1:
            response["last_block_height"] = str(height)
            response["last_block_app_hash"] = _b64(
                hashlib.sha256(f"pocket-lab:app:{height}".encode()).digest())
        return {"response": response}

    # ---- services (x/service)

    def _service_wire(self, service_id: str) -> dict[str, Any] | None:
        """``pocket.shared.Service`` of a seeded service, or of one a supplier or application
        is staked for (compute_units_per_relay 1, the lab's service owner); None if unknown."""
        seeded = self._services.get(service_id)
        if seeded is None:
            staked = any(u.service["service_id"] == service_id
                         for s in self._suppliers.values() for u in s.history) or any(
                service_id in a.service_ids for a in self._applications.values())
            if not staked:
                return None
            seeded = {"id": service_id, "name": service_id, "compute_units_per_relay": 1,
                      "owner_address": _LAB_SERVICE_OWNER}
        return {"id": seeded["id"], "name": seeded["name"],
                "compute_units_per_relay": str(seeded["compute_units_per_relay"]),
                "owner_address": seeded["owner_address"], "metadata": None}

    def query_service(self, service_id: str) -> dict[str, Any]:
        """``Query/Service`` (x/service/keeper/query_service.go)."""
        with self._lock:
            self._settle()
            service = self._service_wire(service_id)
        if service is None:
            raise GatewayError(NOT_FOUND, f"service ID not found: {_go_quote(service_id)}")
        return {"service": service}

    # ---- CometBFT history: blocks, their results, re-orgs

    def _history_base(self, height: int) -> int:
        return max(1, height - COMET_HISTORY_BLOCKS + 1)

    def _block(self, height: int) -> BlockRecord:
        record = self._blocks.get(height)
        if record is None:
            record = self._blocks[height] = BlockRecord()
        return record

    def _block_hash(self, height: int) -> bytes:
        """The block hash at ``height``: :func:`lab_block_hash`, changed by each lab re-org."""
        record = self._blocks.get(height)
        if record is None or not record.reorgs:
            return lab_block_hash(height)
        return hashlib.sha256(f"pocket-lab:{height}:reorg:{record.reorgs}".encode()).digest()

    def _prune(self, height: int) -> None:
        base = self._history_base(height)
        if base <= self._pruned_base:
            return
        self._pruned_base = base
        for old in [h for h in self._blocks if h < base]:
            del self._blocks[old]
        for key in [k for k, c in self._claims.items()
                    if c.state not in ("claimed", "proven") and c.settlement_height < base]:
            del self._claims[key]

    def _comet_latest(self) -> int:
        return max(0, self._settle() - self._comet_lag)

    def _comet_get_height(self, latest: int, height: int | None) -> int:
        """``Environment.getHeight`` (rpc/core/env.go of CometBFT v0.38)."""
        if height is None:
            return latest
        if height <= 0:
            raise _comet_internal(f"height must be greater than 0, but got {height}")
        if height > latest:
            raise _comet_internal(f"height {height} must be less than or equal to the current "
                                  f"blockchain height {latest}")
        base = self._history_base(self._height())
        if height < base:
            raise _comet_internal(f"height {height} is not available, lowest height is {base}")
        return height

    def comet_block_results(self, height: int | None) -> dict[str, Any]:
        """``ResultBlockResults`` (rpc/core/blocks.go ``BlockResults``) of ``height``."""
        with self._lock:
            height = self._comet_get_height(self._comet_latest(), height)
            record = self._blocks.get(height) or BlockRecord()
            app_hash = hashlib.sha256(f"pocket-lab:app:{height}".encode()).digest()
            return {
                "height": str(height),
                "txs_results": _clone(record.txs_results) or None,
                "finalize_block_events": _clone(record.finalize_block_events) or None,
                "validator_updates": None,
                "consensus_param_updates": None,
                "app_hash": _b64(app_hash),
            }

    def comet_blockchain(self, min_height: int | None, max_height: int | None) -> dict[str, Any]:
        """``ResultBlockchainInfo`` (``BlockchainInfo`` with ``filterMinMax``): at most 20
        ``BlockMeta``, highest first."""
        low, high = min_height or 0, max_height or 0
        with self._lock:
            latest = self._comet_latest()
            base = self._history_base(self._height()) if latest else 0
            if low < 0 or high < 0:
                raise _comet_internal("heights must be non-negative")
            low = max(base, low or 1)
            high = min(latest, high or latest)
            low = max(low, high - 20 + 1)
            if low > high:
                raise _comet_internal(f"min height {low} can't be greater than max height {high}")
            metas = [self._block_meta(h) for h in range(high, low - 1, -1)]
            return {"last_height": str(latest), "block_metas": metas}

    def _block_id(self, height: int) -> dict[str, Any]:
        if height < 1:
            return {"hash": "", "parts": {"total": 0, "hash": ""}}
        parts = hashlib.sha256(f"pocket-lab:parts:{height}".encode()).digest()
        return {"hash": self._block_hash(height).hex().upper(),
                "parts": {"total": 1, "hash": parts.hex().upper()}}

    def _block_meta(self, height: int) -> dict[str, Any]:
        """``types.BlockMeta`` in CometBFT's JSON (cmtjson: ``int`` and ``int64`` as strings)."""
        record = self._blocks.get(height) or BlockRecord()

        def digest(label: str, at: int = height) -> str:
            return hashlib.sha256(f"pocket-lab:{label}:{at}".encode()).hexdigest().upper()

        empty = hashlib.sha256(b"").hexdigest().upper()
        num_txs = len(record.txs_results)
        return {
            "block_id": self._block_id(height),
            "block_size": str(700 + 400 * num_txs),
            "header": {
                "version": {"block": str(COMET_BLOCK_PROTOCOL), "app": "0"},
                "chain_id": self._chain_id,
                "height": str(height),
                "time": _go_time(self._block_time_ns(height)),
                "last_block_id": self._block_id(height - 1),
                "last_commit_hash": digest("last_commit"),
                "data_hash": digest("data") if num_txs else empty,
                "validators_hash": digest("validators", 0),
                "next_validators_hash": digest("validators", 0),
                "consensus_hash": digest("consensus", 0),
                "app_hash": hashlib.sha256(f"pocket-lab:app:{height - 1}".encode())
                .hexdigest().upper(),
                "last_results_hash": digest("results", height - 1),
                "evidence_hash": empty,
                "proposer_address": self._proposer.hex().upper(),
            },
            "num_txs": str(num_txs),
        }

    def inject_events(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Append raw ``txs_results`` / ``finalize_block_events`` items at ``height`` (any JSON
        values: tests use it for truncated or unknown events)."""
        _check_keys(obj, ("height", "txs_results", "finalize_block_events"), "events")
        height = _as_int(obj.get("height"), "height", minimum=1)
        txs = _as_list(_get(obj, "txs_results", []), "txs_results")
        finalize = _as_list(_get(obj, "finalize_block_events", []), "finalize_block_events")
        with self._lock:
            current = self._settle()
            if height < self._history_base(current):
                raise SeedError(f"height: {height} is below the kept history")
            record = self._block(height)
            record.txs_results.extend(_clone(txs))
            record.finalize_block_events.extend(_clone(finalize))
            return {"height": height, "txs_results": len(record.txs_results),
                    "finalize_block_events": len(record.finalize_block_events)}

    def reorg(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Re-org ``height`` (at most the latest): its block hash changes and its results are
        replaced (``txs_results`` / ``finalize_block_events`` given, else its transactions
        are dropped and its finalize-block events kept). Claims, stakes and balances are not
        rolled back: only what the CometBFT RPC shows for that block changes."""
        _check_keys(obj, ("height", "txs_results", "finalize_block_events"), "reorg")
        height = _as_int(obj.get("height"), "height", minimum=1)
        txs = obj.get("txs_results")
        finalize = obj.get("finalize_block_events")
        with self._lock:
            current = self._settle()
            if not self._history_base(current) <= height <= current:
                raise SeedError(f"height: expected a kept height up to {current}, got {height}")
            record = self._block(height)
            record.reorgs += 1
            record.txs_results = _clone(_as_list(txs, "txs_results")) if txs is not None else []
            if finalize is not None:
                record.finalize_block_events = _clone(_as_list(finalize,
                                                               "finalize_block_events"))
            return {"height": height, "hash": self._block_hash(height).hex().upper(),
                    "reorgs": record.reorgs}

    # ---- claims and proofs (x/proof), settlement (x/tokenomics)

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

    def _session_for(self, app_address: str, service_id: str,
                     height: int) -> tuple[str, list[str]]:
        """(session id, supplier operator addresses) of the session at ``height``, as
        :meth:`query_session` hydrates it (no checks)."""
        start = self._session_start(height)
        block_hash = lab_block_hash(start) if start > 0 else b""
        id_bytes = b".".join([block_hash, service_id.encode(), app_address.encode(),
                              start.to_bytes(8, "little")])
        candidates = sorted(
            ((s, update) for s in self._suppliers.values()
             if (update := s.active_config(service_id, height)) is not None),
            key=lambda pair: (pair[1].activation_height, pair[0].operator_address.encode()))
        wanted = _param_int(self._shannon_params["session"], "num_suppliers_per_session",
                            SHANNON_PARAM_DEFAULTS[("session", "num_suppliers_per_session")])
        if len(candidates) >= wanted:
            def weight(pair: tuple[Supplier, ServiceConfigUpdate]) -> tuple[int, bytes]:
                operator = pair[0].operator_address.encode()
                digest = hashlib.sha3_256(id_bytes + b"." + operator).digest()
                return int.from_bytes(digest[:8], "big", signed=True), operator

            candidates = sorted(candidates, key=weight)[:wanted]
        return hashlib.sha3_256(id_bytes).hexdigest(), [s.operator_address for s, _ in candidates]

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

    def _shared_or(self, name: str, default: int) -> int:
        return _param_int(self._shannon_params["shared"], name, default)

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

    def claims(self) -> list[dict[str, Any]]:
        with self._lock:
            self._settle()
            return [c.to_seed() for c in self._claims.values()]

    # ---- Shannon queries

    def query_supplier(self, operator_address: str, *, dehydrated: bool) -> dict[str, Any]:
        """``Query/Supplier`` (x/supplier/keeper/query_supplier.go)."""
        with self._lock:
            height = self._settle()
            supplier = self._suppliers.get(operator_address)
            if supplier is None:
                raise GatewayError(NOT_FOUND, f"supplier with operator address: "
                                              f"{_go_quote(operator_address)}: supplier not found")
            return {"supplier": supplier.to_wire(height, dehydrated=dehydrated)}

    def query_suppliers(self, *, service_id: str, operator_address: str, owner_address: str,
                        dehydrated: bool, page: PageRequest) -> dict[str, Any]:
        """``Query/AllSuppliers`` with its filters (AND) and Cosmos pagination."""
        if service_id and (problem := _service_id_error(service_id)):
            raise GatewayError(INVALID_ARGUMENT, f"{problem}: invalid service ID")
        for label, address in (("operator", operator_address), ("owner", owner_address)):
            if address and (problem := _bech32_error(address, "pokt")):
                raise GatewayError(INVALID_ARGUMENT, f"invalid {label} address {address}; "
                                                     f"({problem}): invalid address")
        with self._lock:
            height = self._settle()
            if operator_address and not service_id and not owner_address:
                supplier = self._suppliers.get(operator_address)
                found = [] if supplier is None else [
                    supplier.to_wire(height, dehydrated=dehydrated)]
                return {"supplier": found, "pagination": None}
            matching = [
                (f"{s.operator_address}/".encode(), s.to_wire(height, dehydrated=dehydrated))
                for s in self._suppliers.values()
                if (not service_id or s.active_config(service_id, height) is not None)
                and (not owner_address or s.owner_address == owner_address)
                and (not operator_address or s.operator_address == operator_address)
            ]
        items, pagination = page.apply(matching)
        return {"supplier": items, "pagination": pagination}

    def query_application(self, address: str) -> dict[str, Any]:
        """``Query/Application`` (x/application/keeper/query_application.go)."""
        with self._lock:
            self._settle()
            app = self._applications.get(address)
            if app is None:
                raise GatewayError(NOT_FOUND, f"application with address {address} not found")
            return {"application": app.to_wire()}

    def query_applications(self, *, delegatee_gateway_address: str,
                           page: PageRequest) -> dict[str, Any]:
        """``Query/AllApplications`` with its gateway filter and Cosmos pagination (store
        order: address)."""
        if delegatee_gateway_address and (problem := _bech32_error(delegatee_gateway_address, "pokt")):
            raise GatewayError(INVALID_ARGUMENT, f"invalid gateway address {delegatee_gateway_address}; "
                                                 f"({problem}): invalid address")
        with self._lock:
            self._settle()
            matching = [
                (f"{a.address}/".encode(), a.to_wire())
                for _, a in sorted(self._applications.items())
                if not delegatee_gateway_address or delegatee_gateway_address in a.delegatee_gateway_addresses
            ]
        items, pagination = page.apply(matching)
        return {"applications": items, "pagination": pagination}

    def query_params(self, module: str) -> dict[str, Any]:
        with self._lock:
            return {"params": _clone(self._shannon_params[module])}

    def query_session(self, application_address: str, service_id: str,
                      block_height: int) -> dict[str, Any]:
        """``Query/GetSession`` (x/session/keeper/query_get_session.go, session_hydrator.go).

        Session id = hex SHA3-256 of ``blockHash(start) ‖ "." ‖ serviceId ‖ "." ‖ appAddress ‖
        "." ‖ start (8 bytes little-endian)``. Candidates are the suppliers with a config for the
        service active at the height, in store order (activation height, operator address). With
        fewer than ``num_suppliers_per_session`` all are taken; otherwise each weighs the first
        8 bytes (big-endian, as a signed int64) of SHA3-256(idBytes ‖ "." ‖ operatorAddress) and
        the lightest ``num_suppliers_per_session`` are taken (address breaks ties).
        """
        if problem := _bech32_error(application_address, "pokt"):
            raise GatewayError(INVALID_ARGUMENT,
                               f"{problem}: invalid application address for session")
        if problem := _service_id_error(service_id):
            raise GatewayError(INVALID_ARGUMENT, problem)
        if block_height < 0:
            raise GatewayError(INVALID_ARGUMENT,
                               f"invalid block height for session being retrieved {block_height};"
                               ": invalid block height for session")
        with self._lock:
            current = self._settle()
            height = block_height if block_height > 0 else current
            if height > current:
                raise GatewayError(INTERNAL,
                                   f"block height {height} is ahead of the last committed block "
                                   f"height {current}: error during session hydration")
            start, end = self._session_start(height), self._session_end(height)
            block_hash = lab_block_hash(start) if start > 0 else b""
            id_bytes = b".".join([block_hash, service_id.encode(), application_address.encode(),
                                  start.to_bytes(8, "little")])
            session_id = hashlib.sha3_256(id_bytes).hexdigest()
            app = self._applications.get(application_address)
            if app is None:
                raise GatewayError(INTERNAL, f"could not find app with address "
                                             f"{_go_quote(application_address)} at height {start}: "
                                             "application for session not found not found ")
            if not app.is_active(end):
                raise GatewayError(INTERNAL, f"application {_go_quote(application_address)} is not "
                                             f"active for session {session_id}: "
                                             "application is not active")
            if service_id not in app.service_ids:
                raise GatewayError(INTERNAL,
                                   f"application {_go_quote(application_address)} not staked for "
                                   f"service ID {_go_quote(service_id)}: "
                                   "application in session not staked for requested service")
            candidates = sorted(
                ((s, update) for s in self._suppliers.values()
                 if (update := s.active_config(service_id, height)) is not None),
                key=lambda pair: (pair[1].activation_height, pair[0].operator_address.encode()),
            )
            if not candidates:
                raise GatewayError(INTERNAL,
                                   f"could not find suppliers for service {service_id} at height "
                                   f"{start}: no suppliers not found for session")
            wanted = _param_int(self._shannon_params["session"], "num_suppliers_per_session",
                                SHANNON_PARAM_DEFAULTS[("session", "num_suppliers_per_session")])
            if len(candidates) >= wanted:
                def weight(pair: tuple[Supplier, ServiceConfigUpdate]) -> tuple[int, bytes]:
                    operator = pair[0].operator_address.encode()
                    digest = hashlib.sha3_256(id_bytes + b"." + operator).digest()
                    return int.from_bytes(digest[:8], "big", signed=True), operator

                candidates = sorted(candidates, key=weight)[:wanted]
            return {"session": {
                "header": {
                    "application_address": application_address,
                    "service_id": service_id,
                    "session_id": session_id,
                    "session_start_block_height": str(start),
                    "session_end_block_height": str(end),
                },
                "session_id": session_id,
                "session_number": str(self._session_number(height)),
                "num_blocks_per_session": str(self._grid(height)[0]),
                "application": app.to_wire(),
                "suppliers": [s.to_session_wire(update) for s, update in candidates],
            }}

    def query_latest_block(self) -> dict[str, Any]:
        """``cosmos.base.tendermint.v1beta1.GetLatestBlockResponse`` for the lab chain."""
        with self._lock:
            height = self._settle()
            stamp = _proto_timestamp(self._block_time_ns(height))
            chain_id, proposer, valcons = self._chain_id, self._proposer, self._proposer_valcons
            hashes = {at: self._block_hash(at) for at in (height - 1, height) if at >= 1}

        def block_hash(at: int) -> bytes:
            return hashes[at]

        def digest(label: str, at: int = height) -> str:
            return _b64(hashlib.sha256(f"pocket-lab:{label}:{at}".encode()).digest())

        def block_id(at: int) -> dict[str, Any]:
            if at < 1:
                return {"hash": "", "part_set_header": {"total": 0, "hash": ""}}
            return {"hash": _b64(block_hash(at)),
                    "part_set_header": {"total": 1, "hash": digest("parts", at)}}

        def block(proposer_address: str) -> dict[str, Any]:
            return {
                "header": {
                    "version": {"block": "11", "app": "0"},
                    "chain_id": chain_id,
                    "height": str(height),
                    "time": stamp,
                    "last_block_id": block_id(height - 1),
                    "last_commit_hash": digest("last_commit"),
                    "data_hash": _b64(hashlib.sha256(b"").digest()),
                    "validators_hash": digest("validators"),
                    "next_validators_hash": digest("validators"),
                    "consensus_hash": digest("consensus"),
                    "app_hash": digest("app"),
                    "last_results_hash": _b64(hashlib.sha256(b"").digest()),
                    "evidence_hash": _b64(hashlib.sha256(b"").digest()),
                    "proposer_address": proposer_address,
                },
                "data": {"txs": []},
                "evidence": {"evidence": []},
                "last_commit": {
                    "height": str(height - 1),
                    "round": 0,
                    "block_id": block_id(height - 1),
                    "signatures": [{
                        "block_id_flag": "BLOCK_ID_FLAG_COMMIT",
                        "validator_address": _b64(proposer),
                        "timestamp": stamp,
                        "signature": _b64(hashlib.sha512(f"sig:{height}".encode()).digest()),
                    }],
                },
            }

        return {
            "block_id": block_id(height),
            "block": block(_b64(proposer)),
            "sdk_block": block(valcons),
        }

    def query_bank_balance(self, address: str, denom: str | None) -> dict[str, Any]:
        """``cosmos.bank.v1beta1`` ``AllBalances`` (``denom`` None) or ``Balance``."""
        if denom is not None and not _DENOM_RE.match(denom):
            raise GatewayError(INVALID_ARGUMENT, f"invalid denom: {denom}")
        if problem := _bech32_error(address, "pokt"):
            raise GatewayError(INVALID_ARGUMENT, f"invalid address: {problem}")
        with self._lock:
            self._settle()
            amount = self._balances.get(address.lower(), 0)
        if denom is not None:
            return {"balance": {"denom": denom, "amount": str(amount if denom == UPOKT else 0)}}
        balances = [_coin(amount)] if amount else []
        return {"balances": balances, "pagination": {"next_key": None, "total": str(len(balances))}}

    # ---- auth accounts

    def _export_accounts(self) -> list[dict[str, Any]]:
        """Seed ``accounts``: the seeded or upserted ones and every account that signed."""
        entries = []
        for key in sorted(set(self._accounts) | set(self._sequences)):
            entry = dict(self._accounts.get(key) or {"address": key})
            if self._sequences.get(key, -1) >= 0:
                entry["sequence"] = self._sequences[key] + 1
            entries.append(entry)
        return entries

    def _account_wire(self, address: str) -> dict[str, Any] | None:
        """The ``BaseAccount`` of ``address`` as the gateway writes an ``Any`` (``@type`` then
        the message's fields), or None when the chain has no such account. Caller holds the
        lock."""
        key = address.lower()
        override = self._accounts.get(key, {})
        operators = {s.operator_address.lower() for s in self._suppliers.values()}
        signers = operators | {a.lower() for a in self._applications}
        sequence = self._sequences.get(key, -1) + 1
        exists = (key in self._accounts or key in self._balances or key in signers
                  or key in self._sequences
                  or any(s.owner_address.lower() == key for s in self._suppliers.values()))
        if not exists:
            return None
        signed = override.get("pub_key")
        if signed is None:
            signed = key in signers or sequence > 0
        pub_key = ({"@type": SECP256K1_PUBKEY_TYPE, "key": _b64(lab_pub_key(key))}
                   if signed else None)
        number = override.get("account_number")
        return {
            "@type": BASE_ACCOUNT_TYPE,
            "address": key,  # the canonical (lower-case) bech32 form, as the chain prints it
            "pub_key": pub_key,
            "account_number": str(lab_account_number(key) if number is None else number),
            "sequence": str(sequence),
        }

    def query_account(self, address: str) -> dict[str, Any]:
        """``cosmos.auth.v1beta1`` ``Account`` (x/auth/keeper/grpc_query.go) →
        ``QueryAccountResponse``."""
        if problem := _account_address_error(address):
            raise GatewayError(UNKNOWN, problem)
        with self._lock:
            self._settle()
            account = self._account_wire(address)
        if account is None:
            raise GatewayError(NOT_FOUND, f"account {address} not found")
        return {"account": account}

    def upsert_account(self, obj: Any) -> dict[str, Any]:
        """``POST /__lab/account``: a seed ``accounts`` entry (creates the account, overrides
        its key presence, number or sequence) → ``{"account"}`` as the query shows it."""
        entry = _account_entry(obj, "account")
        key = entry["address"].lower()
        with self._lock:
            self._settle()
            if "sequence" in entry:
                self._sequences[key] = entry.pop("sequence") - 1
            merged = {**self._accounts.get(key, {}), **entry}
            if obj.get("pub_key", False) is None:  # null: back to the derived presence
                merged.pop("pub_key", None)
            self._accounts[key] = merged
            account = self._account_wire(entry["address"])
        return {"account": account}

    # ---- Morse queries

    def morse_node(self, address: str) -> dict[str, Any]:
        """``QueryNode`` (pocket-core app/query.go)."""
        with self._lock:
            self._settle()
            node = self._nodes.get(address)
            if node is None:
                raise MorseError(f"validator not found for {address}")
            return node.to_wire()

    def morse_nodes(self, *, staking_status: int, jailed_status: int, blockchain: str,
                    page: int, per_page: int) -> dict[str, Any]:
        """``QueryNodes``: ``QueryValidatorsParams.IsValid`` filter, then ``paginate``."""
        with self._lock:
            self._settle()
            nodes = [
                n.to_wire() for _, n in sorted(self._nodes.items())
                if (jailed_status != 1 or n.jailed) and (jailed_status != 2 or not n.jailed)
                and (staking_status == 0 or n.status == staking_status)
                and (not blockchain or blockchain in n.chains)
            ]
        return _morse_paginate(nodes, page, per_page)

    def morse_signing_infos(self, address: str, page: int, per_page: int) -> dict[str, Any]:
        """``QuerySigningInfos``: one node's signing info, or all of them, paginated."""
        with self._lock:
            self._settle()
            if address:
                node = self._nodes.get(address)
                if node is None:
                    return {"result": None, "total_pages": 0, "page": 0}
                infos = [node.signing_info.to_wire(address)]
            else:
                infos = [n.signing_info.to_wire(a) for a, n in sorted(self._nodes.items())]
        return _morse_paginate(infos, page, per_page)

    def morse_node_params(self) -> dict[str, Any]:
        with self._lock:
            params: dict[str, Any] = _clone(self._morse_params["pos"])
            return params

    def morse_all_params(self) -> dict[str, Any]:
        """``QueryAllParams``: every param as ``{"param_key": "<module>/<Key>", "param_value"}``."""
        wrapped = {"acl": "gov/non_map_acl", "upgrade": "gov/upgrade"}
        with self._lock:
            out: dict[str, Any] = {}
            for module, values in self._morse_params.items():
                keys = _MORSE_PARAM_KEYS[module]
                pairs = []
                for name, value in values.items():
                    if module == "gov" and name in wrapped:
                        value = {"type": wrapped[name], "value": value}
                    pairs.append({"param_key": f"{module}/{keys.get(name, name)}",
                                  "param_value": _amino_param_value(value)})
                # a module without params is a nil slice in Go: null
                out[_MORSE_ALLPARAMS_FIELDS[module]] = sorted(
                    pairs, key=lambda p: p["param_key"]) or None
            return out

    def morse_supported_chains(self) -> dict[str, Any]:
        with self._lock:
            chains = self._morse_params["pocketcore"].get("supported_blockchains") or []
            return {"supported_chains": list(chains)}

    def morse_supply(self) -> dict[str, Any]:
        """``QuerySupplyResponse`` (pocket-core-rpc-spec.yaml, ``/v1/query/supply``): as
        pocket-core's ``app/cmd/rpc/query.go`` builds it, total = staked (nodes + apps + DAO)
        plus the unstaked tokens; here the unstaked tokens are the accounts' balances and the
        DAO holds a fixed MORSE_DAO_UPOKT."""
        with self._lock:
            self._settle()
            node_staked = sum(n.tokens_upokt for n in self._nodes.values() if n.status != 0)
            total_staked = node_staked + MORSE_DAO_UPOKT
            unstaked = sum(self._balances.values())
            return {"node_staked": node_staked, "app_staked": 0, "dao": MORSE_DAO_UPOKT,
                    "total_staked": total_staked, "total_unstaked": unstaked,
                    "total": total_staked + unstaked}

    def morse_balance(self, address: str) -> dict[str, Any]:
        with self._lock:
            self._settle()
            return {"balance": self._balances.get(address, 0)}

    # ---- control: Shannon

    def upsert_supplier(self, obj: Any) -> dict[str, Any]:
        with self._lock:
            height = self._settle()
            minimum = _param_int(self._shannon_params["supplier"], "min_stake",
                                 SHANNON_PARAM_DEFAULTS[("supplier", "min_stake")])
            supplier = Supplier.from_seed(obj, minimum, height, "supplier")
            self._suppliers[supplier.operator_address] = supplier
            return {"supplier": supplier.to_wire(height)}

    def delete_supplier(self, operator_address: str) -> dict[str, Any]:
        with self._lock:
            self._settle()
            if self._suppliers.pop(operator_address, None) is None:
                raise ControlError(404, f"no supplier {operator_address}")
            return {"deleted": operator_address}

    def slash_supplier(self, operator_address: Any, amount_upokt: Any) -> dict[str, Any]:
        """Burn stake as a missing-proof penalty does; auto-unstake below ``min_stake``.

        Returns ``{"supplier", "events"}``; ``events`` holds the chain's
        ``EventSupplierUnbondingBegin`` (reason BELOW_MIN_STAKE) when the slash unstaked it.
        """
        operator_address = _as_str(operator_address, "operator_address")
        amount = _as_int(amount_upokt, "amount_upokt")
        with self._lock:
            height = self._settle()
            supplier = self._suppliers.get(operator_address)
            if supplier is None:
                raise ControlError(404, f"no supplier {operator_address}")
            supplier.stake_upokt -= min(amount, supplier.stake_upokt)
            events = []
            session_end = self._unstake_below_min(supplier, height)
            if session_end is not None:
                events.append({
                    "type": "pocket.supplier.EventSupplierUnbondingBegin",
                    "reason": "SUPPLIER_UNBONDING_REASON_BELOW_MIN_STAKE",
                    "session_end_height": str(session_end),
                    "unbonding_end_height": str(session_end),  # as settle_pending_claims.go sets it
                })
            return {"supplier": supplier.to_wire(height), "events": events}

    def upsert_application(self, obj: Any) -> dict[str, Any]:
        with self._lock:
            self._settle()
            minimum = _param_int(self._shannon_params["application"], "min_stake",
                                 SHANNON_PARAM_DEFAULTS[("application", "min_stake")])
            app = Application.from_seed(obj, minimum, "application")
            self._applications[app.address] = app
            return {"application": app.to_wire()}

    def delete_application(self, address: str) -> dict[str, Any]:
        with self._lock:
            self._settle()
            if self._applications.pop(address, None) is None:
                raise ControlError(404, f"no application {address}")
            return {"deleted": address}

    def update_shannon_params(self, module: Any, changes: Any, remove: Any) -> dict[str, Any]:
        return self._update_params(self._shannon_params, module, changes, remove, frozenset())

    def set_balance(self, address: Any, amount_upokt: Any) -> dict[str, Any]:
        address = _as_str(address, "address")
        amount = _as_int(amount_upokt, "amount_upokt")
        with self._lock:
            self._balances[address.lower()] = amount
            return {"address": address, "amount_upokt": amount}

    # ---- control: Morse

    def upsert_morse_node(self, obj: Any) -> dict[str, Any]:
        with self._lock:
            self._settle()
            minimum = _param_int(self._morse_params["pos"], "stake_minimum", 0)
            node = MorseNode.from_seed(obj, minimum, "node")
            self._nodes[node.address] = node
            return node.to_wire()

    def _morse_target(self, address: Any) -> MorseNode:
        address = _as_str(address, "address").lower()
        node = self._nodes.get(address)
        if node is None:
            raise ControlError(404, f"no node {address}")
        return node

    def _force_unstake(self, node: MorseNode) -> None:
        """``ForceValidatorUnstake``: jail, then unstake for ``unstaking_time``."""
        node.jailed = True
        if node.status == _MORSE_STATUS_STAKED:
            node.status = _MORSE_STATUS_UNSTAKING
            node.unstaking_time_ns = time.time_ns() + _param_int(self._morse_params["pos"],
                                                                 "unstaking_time", 0)

    def jail_morse_node(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Jail or unjail; past ``max_jailed_blocks`` jailed blocks the node is force-unstaked."""
        _check_keys(obj, ("address", "jailed", "jailed_until", "jailed_blocks_counter",
                          "missed_blocks_counter"), "jail")
        jailed = _as_bool(obj.get("jailed", True), "jailed")
        until = obj.get("jailed_until")
        until_ns = None if until is None else _parse_rfc3339(_as_str(until, "jailed_until"),
                                                             "jailed_until")
        with self._lock:
            self._settle()
            node = self._morse_target(obj.get("address"))
            info = node.signing_info
            node.jailed = jailed
            if jailed:
                jail_ns = _param_int(self._morse_params["pos"], "downtime_jail_duration", 0)
                info.jailed_until_ns = until_ns if until is not None else time.time_ns() + jail_ns
                if obj.get("jailed_blocks_counter") is not None:
                    info.jailed_blocks_counter = _as_int(obj["jailed_blocks_counter"],
                                                         "jailed_blocks_counter")
            else:  # UnjailValidator → ResetSigningInfo
                info.jailed_blocks_counter = info.missed_blocks_counter = info.index_offset = 0
            if obj.get("missed_blocks_counter") is not None:
                info.missed_blocks_counter = _as_int(obj["missed_blocks_counter"],
                                                     "missed_blocks_counter")
            if info.jailed_blocks_counter > _param_int(self._morse_params["pos"],
                                                       "max_jailed_blocks", 37960):
                self._force_unstake(node)
            return node.to_wire()

    def slash_morse_node(self, address: Any, amount_upokt: Any) -> dict[str, Any]:
        """Burn tokens; below ``stake_minimum`` the node is force-unstaked (x/nodes slash.go)."""
        amount = _as_int(amount_upokt, "amount_upokt")
        with self._lock:
            self._settle()
            node = self._morse_target(address)
            node.tokens_upokt -= min(amount, node.tokens_upokt)
            if node.tokens_upokt < _param_int(self._morse_params["pos"], "stake_minimum", 0):
                self._force_unstake(node)
            return node.to_wire()

    def update_morse_params(self, module: Any, changes: Any, remove: Any) -> dict[str, Any]:
        decimals = _MORSE_DECIMAL_PARAMS if module == "pos" else frozenset()
        return self._update_params(self._morse_params, module, changes, remove, decimals)

    def _update_params(self, store: dict[str, dict[str, Any]], module: Any, changes: Any,
                       remove: Any, decimals: frozenset[str]) -> dict[str, Any]:
        module = _as_str(module, "module")
        if module not in store:
            raise SeedError(f"module: expected one of {', '.join(sorted(store))}, got {module!r}")
        changes = dict(_as_object(changes if changes is not None else {}, "params"))
        for name in _as_list(remove if remove is not None else [], "remove"):
            changes[_as_str(name, "remove[]")] = None
        with self._lock:
            updated = _clone(store[module])
            _merge_params(updated, changes, f"params.{module}", decimals=decimals)
            store[module] = updated
            return {"params": _clone(updated)}


def _morse_paginate(items: list[dict[str, Any]], page: int, per_page: int) -> dict[str, Any]:
    """``paginate`` (pocket-core app/query.go) after ``checkPagination``.

    ``total_pages`` is ``ceil(len / len(this page))`` exactly as pocket-core computes it (so a
    short last page reports more pages); a page past the end is the empty ``Page{}``.
    """
    page = page if page > 0 else 1
    limit = per_page if per_page > 0 else 30
    start, end = (page - 1) * limit, min(page * limit, len(items))
    if start >= len(items):
        return {"result": None, "total_pages": 0, "page": 0}
    total_pages = max(1, -(-len(items) // (end - start)))
    return {"result": items[start:end], "total_pages": total_pages, "page": page}


# --------------------------------------------------------------------------- request decoding


@dataclass(frozen=True)
class PageRequest:
    """``cosmos.base.query.v1beta1.PageRequest`` applied as ``query.Paginate`` does."""

    key: bytes = b""
    offset: int = 0
    limit: int = 0
    count_total: bool = False
    reverse: bool = False

    def apply(self, items: list[tuple[bytes, Any]]) -> tuple[list[Any], dict[str, Any]]:
        """Page of ``(store key, value)`` items and its ``PageResponse``.

        Keys order the store; ``next_key`` is the key of the first item after the page. A
        missing limit means 100 with ``count_total``; ``total`` is only counted on the offset
        path, as in the SDK.
        """
        if self.offset > 0 and self.key:
            raise GatewayError(INTERNAL,
                               "invalid request, either offset or key is expected, got both")
        limit, count_total = (self.limit, self.count_total) if self.limit else (100, True)
        ordered = sorted(items, key=lambda kv: kv[0], reverse=self.reverse)
        if self.key:
            start = next((i for i, (k, _) in enumerate(ordered)
                          if (k <= self.key if self.reverse else k >= self.key)), len(ordered))
            total = 0
        else:
            start = self.offset
            total = len(ordered) if count_total else 0
        page = ordered[start:start + limit]
        rest = ordered[start + limit:]
        next_key = _b64(rest[0][0]) if rest else None
        return [v for _, v in page], {"next_key": next_key, "total": str(total)}


class _GatewayQuery:
    """Query-string fields parsed as grpc-gateway v1 ``PopulateQueryParameters`` parses them."""

    def __init__(self, raw: Mapping[str, list[str]]) -> None:
        self._raw = raw

    def text(self, name: str) -> str:
        return self._raw.get(name, [""])[0]

    def has(self, name: str) -> bool:
        return name in self._raw

    def integer(self, name: str, *, signed: bool) -> int:
        if not self.has(name):
            return 0
        value = self.text(name)
        func = "ParseInt" if signed else "ParseUint"
        if not re.fullmatch(r"[+-]?\d+" if signed else r"\d+", value):
            raise GatewayError(INVALID_ARGUMENT,
                               f"strconv.{func}: parsing {_go_quote(value)}: invalid syntax")
        number = int(value)
        if not (-(2**63) <= number < 2**63 if signed else number < 2**64):
            raise GatewayError(INVALID_ARGUMENT,
                               f"strconv.{func}: parsing {_go_quote(value)}: value out of range")
        return number

    def boolean(self, name: str) -> bool:
        if not self.has(name):
            return False
        value = self.text(name)
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise GatewayError(INVALID_ARGUMENT,
                           f"strconv.ParseBool: parsing {_go_quote(value)}: invalid syntax")

    def bytes_(self, name: str) -> bytes:
        """``runtime.Bytes``: standard base64, else URL-safe base64 (both strict)."""
        value = self.text(name).encode("utf-8")
        for altchars in (b"+/", b"-_"):
            try:
                return base64.b64decode(value, altchars=altchars, validate=True)
            except ValueError:
                continue
        alphabet = re.compile(rb"[A-Za-z0-9+/=]")
        bad = next((i for i in range(len(value)) if not alphabet.match(value, i)), len(value))
        raise GatewayError(INVALID_ARGUMENT, f"illegal base64 data at input byte {bad}")

    def page(self) -> PageRequest:
        return PageRequest(
            key=self.bytes_("pagination.key") if self.text("pagination.key") else b"",
            offset=self.integer("pagination.offset", signed=False),
            limit=self.integer("pagination.limit", signed=False),
            count_total=self.boolean("pagination.count_total"),
            reverse=self.boolean("pagination.reverse"),
        )


class _GoFloat(float):
    """A JSON number with a fraction or exponent, remembering its text for Go-style errors."""

    literal: str


def _parse_go_float(text: str) -> _GoFloat:
    number = _GoFloat(text)
    number.literal = text
    return number


@dataclass(frozen=True)
class _GoStruct:
    """A Go request struct of pocket-core's RPC: its name and JSON fields (name → Go type)."""

    name: str
    fields: Mapping[str, str | _GoStruct]


_INT_RANGES = {"int": 63, "int64": 63, "types.StakeStatus": 31}
_HEIGHT_PARAMS = _GoStruct("rpc.HeightParams", {"height": "int64"})
_HEIGHT_ADDR_PARAMS = _GoStruct("rpc.HeightAndAddrParams", {"height": "int64", "address": "string"})
_PAGINATED_ADDR_PARAMS = _GoStruct("rpc.PaginatedHeightAndAddrParams", {
    "height": "int64", "address": "string", "page": "int", "per_page": "int"})
_VALIDATOR_OPTS = _GoStruct("types.QueryValidatorsParams", {
    "staking_status": "types.StakeStatus", "jailed_status": "int", "blockchain": "string",
    "page": "int", "per_page": "int"})
_NODES_PARAMS = _GoStruct("rpc.HeightAndValidatorOptsParams", {"height": "int64",
                                                                "opts": _VALIDATOR_OPTS})


def _go_json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _GoFloat):
        return f"number {value.literal}"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_char(char: str) -> str:
    return {"'": r"'\''", '"': "'\"'"}.get(char, f"'{char}'")


def _go_syntax_error(exc: json.JSONDecodeError) -> str:
    """An ``encoding/json`` syntax error message for what Python's decoder rejected."""
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected end of JSON input"
    char = _go_char(exc.doc[exc.pos])
    if exc.msg.startswith("Extra data"):
        return f"invalid character {char} after top-level value"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {char} after object key"
    if exc.msg.startswith("Expecting ','"):
        return f"invalid character {char} after object key:value pair"
    return f"invalid character {char} looking for beginning of value"


def _decode_go_body(body: bytes, struct: _GoStruct) -> dict[str, Any]:
    """``PopModel`` (pocket-core app/cmd/rpc/server.go): ``json.Unmarshal`` into ``struct``.

    An empty body leaves the defaults; fields match case-insensitively; unknown fields are
    ignored; a type mismatch or a syntax error raises ``MorseError`` with Go's message.
    """
    if not body:
        return _decode_go_object({}, struct, "")
    try:
        value = json.loads(body.decode("utf-8"), parse_float=_parse_go_float)
    except UnicodeDecodeError:
        raise MorseError("invalid character looking for beginning of value") from None
    except json.JSONDecodeError as exc:
        raise MorseError(_go_syntax_error(exc)) from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise MorseError(f"json: cannot unmarshal {_go_json_kind(value).split(' ')[0]} "
                         f"into Go value of type {struct.name}")
    return _decode_go_object(value, struct, struct.name.split(".")[-1] + ".")


def _decode_go_object(value: Mapping[str, Any], struct: _GoStruct, prefix: str) -> dict[str, Any]:
    """Decode ``value`` into ``struct``'s fields; ``prefix`` names the field path in errors."""
    out: dict[str, Any] = {name: (_decode_go_object({}, kind, "") if isinstance(kind, _GoStruct)
                                  else ("" if kind == "string" else 0))
                           for name, kind in struct.fields.items()}
    for key, item in value.items():
        name = key if key in struct.fields else next(
            (f for f in struct.fields if f.lower() == key.lower()), None)
        if name is None or item is None:
            continue
        kind = struct.fields[name]
        path = f"{prefix}{name}"
        if isinstance(kind, _GoStruct):
            if not isinstance(item, dict):
                raise MorseError(f"json: cannot unmarshal {_go_json_kind(item).split(' ')[0]} into "
                                 f"Go struct field {path} of type {kind.name}")
            out[name] = _decode_go_object(item, kind, f"{path}.")
            continue
        if kind == "string":
            ok = isinstance(item, str)
        else:
            bits = _INT_RANGES[kind]
            ok = (isinstance(item, int) and not isinstance(item, (bool, _GoFloat))
                  and -(2**bits) <= item < 2**bits)
        if not ok:
            raise MorseError(f"json: cannot unmarshal {_go_json_kind(item)} into Go struct field "
                             f"{path} of type {kind}")
        out[name] = item
    return out


def _morse_address(raw: str) -> str:
    """``sdk.AddressFromHex`` (pocket-core types/address.go) with Go's ``encoding/hex`` errors."""
    if raw == "":
        return ""
    data = raw.encode("utf-8")

    def invalid(byte: int) -> MorseError:
        char = chr(byte)
        shown = f" {_go_char(char)}" if char.isprintable() else ""
        return MorseError(f"encoding/hex: invalid byte: U+{byte:04X}{shown}")

    hex_bytes = b"0123456789abcdefABCDEF"
    for i in range(1, len(data), 2):
        for byte in (data[i - 1], data[i]):
            if byte not in hex_bytes:
                raise invalid(byte)
    if len(data) % 2:
        if data[-1] not in hex_bytes:
            raise invalid(data[-1])
        raise MorseError("encoding/hex: odd length hex string")
    if len(data) != 40:
        raise MorseError("Incorrect address length")
    return raw.lower()


# --------------------------------------------------------------------------- HTTP plumbing


@dataclass(frozen=True)
class Reply:
    """One HTTP response, fully buffered."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _go_json_bytes(value: Any, *, sort_keys: bool, newline: bool) -> bytes:
    """Go ``encoding/json`` output: compact, HTML-safe escapes, optional sorted keys and newline."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return (text + ("\n" if newline else "")).encode("utf-8")


_SHANNON_PARAM_MODULES = tuple(sorted(MAINNET_SHANNON_PARAMS))


class _ShannonEndpoint:
    """The poktroll gateway routes and the Cosmos routes."""

    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        params = "|".join(_SHANNON_PARAM_MODULES)
        self._routes: list[tuple[re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            (re.compile(r"/pokt-network/poktroll/supplier/supplier/(?P<address>[^/]+)"),
             lambda q, address: chain.query_supplier(address, dehydrated=q.boolean("dehydrated"))),
            (re.compile(r"/pokt-network/poktroll/supplier/supplier"),
             lambda q: chain.query_suppliers(
                 service_id=q.text("service_id"), operator_address=q.text("operator_address"),
                 owner_address=q.text("owner_address"), dehydrated=q.boolean("dehydrated"),
                 page=q.page())),
            (re.compile(r"/pokt-network/poktroll/application/application/(?P<address>[^/]+)"),
             lambda q, address: chain.query_application(address)),
            (re.compile(r"/pokt-network/poktroll/application/application"),
             lambda q: chain.query_applications(
                 delegatee_gateway_address=q.text("delegatee_gateway_address"), page=q.page())),
            (re.compile(rf"/pokt-network/poktroll/(?P<module>{params})/params"),
             lambda q, module: chain.query_params(module)),
            (re.compile(r"/pokt-network/poktroll/service/service/(?P<service_id>[^/]+)"),
             lambda q, service_id: chain.query_service(service_id)),
            (re.compile(r"/pokt-network/poktroll/session/get_session"),
             lambda q: chain.query_session(q.text("application_address"), q.text("service_id"),
                                           q.integer("block_height", signed=True))),
            (re.compile(r"/cosmos/base/tendermint/v1beta1/blocks/latest"),
             lambda q: chain.query_latest_block()),
            (re.compile(r"/cosmos/auth/v1beta1/accounts/(?P<address>[^/]+)"),
             lambda q, address: chain.query_account(address)),
            (re.compile(r"/cosmos/bank/v1beta1/balances/(?P<address>[^/]+)/by_denom"),
             lambda q, address: chain.query_bank_balance(address, q.text("denom"))),
            (re.compile(r"/cosmos/bank/v1beta1/balances/(?P<address>[^/]+)"),
             lambda q, address: chain.query_bank_balance(address, None)),
        ]

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        for pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method != "GET":
                return self._status(UNIMPLEMENTED, "Method Not Allowed", with_height=False)
            try:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                return self._ok(handler(_GatewayQuery(query), **args))
            except GatewayError as exc:
                return self._status(exc.code, exc.message)
        return self._status(UNIMPLEMENTED, "Not Implemented", with_height=False)

    def _height_header(self) -> tuple[tuple[str, str], ...]:
        return (("Grpc-Metadata-X-Cosmos-Block-Height", str(self.chain.height())),)

    def _ok(self, payload: dict[str, Any]) -> Reply:
        return Reply(200, _json_bytes(payload), headers=self._height_header())

    def _status(self, code: int, message: str, *, with_height: bool = True) -> Reply:
        body = _json_bytes({"code": code, "message": message, "details": []})
        return Reply(GatewayError.HTTP_STATUS[code], body,
                     headers=self._height_header() if with_height else ())


class _ControlAPI:
    """``/__lab/…``: JSON in, JSON out; see the module docstring for the routes."""

    PREFIX = "/__lab/"

    def __init__(self, chain: ChainState) -> None:
        self._chain = chain

    def handle(self, method: str, path: str, body: bytes) -> Reply:
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else {}
            if not isinstance(payload, dict):
                raise SeedError("expected a JSON object")
            result = self._route(method, path, payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._error(400, f"invalid JSON: {exc}")
        except SeedError as exc:
            return self._error(400, str(exc))
        except ControlError as exc:
            return self._error(exc.status, exc.message)
        return Reply(200, _json_bytes(result))

    @staticmethod
    def _error(status: int, message: str) -> Reply:
        return Reply(status, _json_bytes({"error": message}))

    def _route(self, method: str, path: str, p: dict[str, Any]) -> Any:
        chain = self._chain
        posts: dict[str, Callable[[], Any]] = {
            "/__lab/reset": lambda: {"height": chain.reset()},
            "/__lab/height": lambda: {"height": chain.set_height(height=p.get("height"),
                                                                 advance=p.get("advance"))},
            "/__lab/shannon/supplier": lambda: chain.upsert_supplier(p),
            "/__lab/shannon/application": lambda: chain.upsert_application(p),
            "/__lab/shannon/slash": lambda: chain.slash_supplier(p.get("operator_address"),
                                                                 p.get("amount_upokt")),
            "/__lab/shannon/params": lambda: chain.update_shannon_params(
                p.get("module"), p.get("params"), p.get("remove")),
            "/__lab/balance": lambda: chain.set_balance(p.get("address"), p.get("amount_upokt")),
            "/__lab/account": lambda: chain.upsert_account(p),
            "/__lab/morse/node": lambda: chain.upsert_morse_node(p),
            "/__lab/morse/jail": lambda: chain.jail_morse_node(p),
            "/__lab/morse/slash": lambda: chain.slash_morse_node(p.get("address"),
                                                                 p.get("amount_upokt")),
            "/__lab/morse/params": lambda: chain.update_morse_params(
                p.get("module", "pos"), p.get("params"), p.get("remove")),
            "/__lab/comet": lambda: {"comet": chain.set_comet(p)},
            "/__lab/fault": lambda: {"fault": chain.set_fault(p)},
            "/__lab/latency": lambda: {"latency_ms": chain.set_latency(p.get("ms"))},
            "/__lab/tx": lambda: chain.submit_tx(p),
            "/__lab/events": lambda: chain.inject_events(p),
            "/__lab/reorg": lambda: chain.reorg(p),
        }
        deletes = {"/__lab/shannon/supplier/": chain.delete_supplier,
                   "/__lab/shannon/application/": chain.delete_application}
        if method == "GET" and path == "/__lab/state":
            return chain.export()
        if method == "POST" and path in posts:
            return posts[path]()
        if method == "DELETE":
            for prefix, delete in deletes.items():
                if path.startswith(prefix) and len(path) > len(prefix):
                    return delete(unquote(path[len(prefix):]))
        raise ControlError(404, f"no control route {method} {path}")


_MORSE_JSON = "application/json; charset=utf-8"
_MORSE_JSON_UPPER = "application/json; charset=UTF-8"


class _MorseEndpoint:
    """pocket-core's RPC routes (app/cmd/rpc/server.go ``GetRoutes``)."""

    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        self._routes: dict[str, tuple[str, Callable[[bytes], Reply]]] = {
            "/v1": ("GET", self._version),
            "/v1/query/height": ("POST", self._height),
            "/v1/query/node": ("POST", self._node),
            "/v1/query/nodes": ("POST", self._nodes),
            "/v1/query/nodeparams": ("POST", self._node_params),
            "/v1/query/signinginfo": ("POST", self._signing_info),
            "/v1/query/balance": ("POST", self._balance),
            "/v1/query/allparams": ("POST", self._all_params),
            "/v1/query/supportedchains": ("POST", self._supported_chains),
            "/v1/query/supply": ("POST", self._supply),
        }
        self._folded = {path.lower(): path for path in self._routes}

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        route = self._routes.get(path)
        if route is None:
            fixed = self._folded.get(path.lower().rstrip("/")) if path != "/" else None
            if fixed is None:
                return Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return Reply(301 if method == "GET" else 308, b"", "text/html; charset=utf-8",
                         (("Location", quote(fixed)),))
        allowed, handler = route
        if method != allowed:
            return Reply(405, b"Method Not Allowed\n", "text/plain; charset=utf-8",
                         (("Allow", f"{allowed}, OPTIONS"),))
        try:
            return handler(body)
        except MorseError as exc:
            return Reply(400, _go_json_bytes({"code": 400, "message": str(exc)}, sort_keys=False,
                                             newline=True), _MORSE_JSON_UPPER)

    @staticmethod
    def _json_response(value: Any) -> Reply:
        """``WriteJSONResponse``: re-encoded through a map, so keys sorted, newline-terminated."""
        return Reply(200, _go_json_bytes(value, sort_keys=True, newline=True), _MORSE_JSON)

    def _version(self, body: bytes) -> Reply:
        return Reply(200, _go_json_bytes(MORSE_VERSION, sort_keys=False, newline=False),
                     _MORSE_JSON_UPPER)

    def _height(self, body: bytes) -> Reply:
        return self._json_response({"height": self.chain.height()})

    def _node(self, body: bytes) -> Reply:
        params = _decode_go_body(body, _HEIGHT_ADDR_PARAMS)
        return self._json_response(self.chain.morse_node(_morse_address(params["address"])))

    def _nodes(self, body: bytes) -> Reply:
        opts = _decode_go_body(body, _NODES_PARAMS)["opts"]
        page = self.chain.morse_nodes(
            staking_status=opts["staking_status"], jailed_status=opts["jailed_status"],
            blockchain=opts["blockchain"], page=opts["page"] or 1,
            per_page=opts["per_page"] or 1000)
        return Reply(200, _go_json_bytes(page, sort_keys=False, newline=False), _MORSE_JSON_UPPER)

    def _node_params(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return self._json_response(self.chain.morse_node_params())

    def _signing_info(self, body: bytes) -> Reply:
        params = _decode_go_body(body, _PAGINATED_ADDR_PARAMS)
        return self._json_response(self.chain.morse_signing_infos(
            _morse_address(params["address"]), params["page"], params["per_page"]))

    def _balance(self, body: bytes) -> Reply:
        params = _decode_go_body(body, _HEIGHT_ADDR_PARAMS)
        return self._json_response(self.chain.morse_balance(_morse_address(params["address"])))

    def _all_params(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return self._json_response(self.chain.morse_all_params())

    def _supply(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return self._json_response(self.chain.morse_supply())

    def _supported_chains(self, body: bytes) -> Reply:
        _decode_go_body(body, _HEIGHT_PARAMS)
        return Reply(200, _go_json_bytes(self.chain.morse_supported_chains(), sort_keys=False,
                                         newline=False), _MORSE_JSON_UPPER)


_COMET_JSON = "application/json"
_GO_NOT_FOUND = Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")


class _CometEndpoint:
    """CometBFT v0.38's RPC server (rpc/jsonrpc/server): URI routes and JSON-RPC on ``/``."""

    #: The one control route the node's listener also answers (the RelayMiner's "broadcast").
    TX_ROUTE = "/__lab/tx"

    def __init__(self, chain: ChainState) -> None:
        self.chain = chain
        self.rpc_address = ""  # tcp://HOST:PORT of the listener, set once it is bound
        self._control = _ControlAPI(chain)
        #: method → (argument names, call, cacheable with these args) as rpc/core/routes.go
        #: registers them (``Cacheable()``: always; ``Cacheable("height")``: once it is given).
        self._methods: dict[str, tuple[tuple[str, ...], Callable[..., dict[str, Any]],
                                       Callable[[dict[str, Any]], bool]]] = {
            "abci_info": ((), lambda: chain.comet_abci_info(), lambda a: True),
            "block_results": (("height",), lambda height: chain.comet_block_results(height),
                              lambda a: a.get("height") is not None),
            "blockchain": (("minHeight", "maxHeight"),
                           lambda minHeight, maxHeight: chain.comet_blockchain(minHeight,
                                                                               maxHeight),
                           lambda a: True),
            "health": ((), lambda: {}, lambda a: False),
            "status": ((), lambda: chain.comet_status(self.rpc_address), lambda a: False),
        }

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        if path == self.TX_ROUTE:
            return self._control.handle(method, path, body)
        if path == "/":
            return self._json_rpc(body)
        entry = self._methods.get(path[1:]) if path.startswith("/") else None
        if entry is None:
            return _GO_NOT_FOUND
        names, call, cacheable = entry
        try:
            args = {name: _comet_height_arg(query.get(name, [""])[0], name, uri=True)
                    for name in names}
            result = call(**args)
        except CometRPCError as exc:
            # URI requests carry no id: the server answers with -1 (URIClientRequestID).
            return Reply(500, self._encode({"jsonrpc": "2.0", "id": -1, "error": {
                "code": exc.code, "message": exc.message, "data": exc.data}}), _COMET_JSON)
        headers = (("Cache-Control", "public, max-age=86400"),) if cacheable(args) else ()
        return Reply(200, self._encode({"jsonrpc": "2.0", "id": -1, "result": result}),
                     _COMET_JSON, headers)

    @staticmethod
    def _encode(value: Any) -> bytes:
        return _go_json_bytes(value, sort_keys=False, newline=False)

    def _json_rpc(self, body: bytes) -> Reply:
        """``makeJSONRPCHandler``: one request or a batch; notifications (no id) get nothing."""
        if not body:
            # writeListOfEndpoints (rpc/jsonrpc/server/http_json_handler.go).
            host = self.rpc_address.removeprefix("tcp://")
            links = ["", ""]
            for name, (names, _, _) in sorted(self._methods.items()):
                link = f"//{host}/{name}" + ("?" + "&".join(f"{a}=_" for a in names)
                                             if names else "")
                links[bool(names)] += f'<a href="{link}">{link}</a></br>'
            page = ("<html><body><br>Available endpoints:<br>" + links[0]
                    + "<br>Endpoints that require arguments:<br>" + links[1] + "</body></html>")
            return Reply(200, page.encode(), "text/html")
        try:
            parsed = json.loads(body)
            if not isinstance(parsed, (dict, list)):
                raise ValueError(f"cannot unmarshal {type(parsed).__name__} into RPCRequest")
        except (ValueError, UnicodeDecodeError) as exc:
            error = {"code": -32700, "message": "Parse error. Invalid JSON",
                     "data": f"error unmarshaling request: {exc}"}
            return Reply(500, self._encode({"jsonrpc": "2.0", "error": error}), _COMET_JSON)
        requests = parsed if isinstance(parsed, list) else [parsed]
        responses: list[dict[str, Any]] = []
        cache = True
        for request in requests:
            if not isinstance(request, dict) or request.get("id") is None:
                continue
            entry = self._methods.get(str(request.get("method", "")))
            if entry is None:
                cache = False
                responses.append({"jsonrpc": "2.0", "id": request["id"],
                                  "error": {"code": -32601, "message": "Method not found"}})
                continue
            names, call, cacheable = entry
            try:
                args = self._json_rpc_args(names, request.get("params"))
                result = call(**args)
            except CometRPCError as exc:
                cache = False
                responses.append({"jsonrpc": "2.0", "id": request["id"], "error": {
                    "code": exc.code, "message": exc.message, "data": exc.data}})
                continue
            cache = cache and cacheable(args)
            responses.append({"jsonrpc": "2.0", "id": request["id"], "result": result})
        if not responses:
            return Reply(200, b"", "text/plain; charset=utf-8")
        headers = (("Cache-Control", "public, max-age=86400"),) if cache else ()
        return Reply(200, self._encode(responses[0] if len(responses) == 1 else responses),
                     _COMET_JSON, headers)

    @staticmethod
    def _json_rpc_args(names: tuple[str, ...], params: Any) -> dict[str, Any]:
        """``jsonParamsToArgs``: params by name (an object) or by position (an array)."""
        if params is None:
            params = {}
        if isinstance(params, list):
            if len(params) > len(names):
                raise CometRPCError(-32602, "Invalid params", "error converting json params to "
                                    f"arguments: expected {len(names)} parameters "
                                    f"({list(names)}), got {len(params)} ({params})")
            params = dict(zip(names, params, strict=False))
        if not isinstance(params, dict):
            raise CometRPCError(-32602, "Invalid params", "error converting json params to "
                                "arguments: unknown type for JSON params")
        return {name: _comet_height_arg(params.get(name), name, uri=False) for name in names}


_Endpoint = _ShannonEndpoint | _MorseEndpoint | _CometEndpoint

#: Replies of the fault modes that replace the real answer ("truncated" cuts the real one).
_CANNED_FAULTS = {
    "http500": Reply(500, b"Internal Server Error\n", "text/plain; charset=utf-8"),
    "http503": Reply(503, b"Service Unavailable\n", "text/plain; charset=utf-8"),
    "garbage": Reply(200, b"\x00\xff<html>not json{{", "application/json"),
    "empty": Reply(200, b"", "application/json"),
}


class _StandinHTTPServer(ThreadingHTTPServer):
    """A threading HTTP/1.1 server that tracks its connections so ``stop`` can cut them."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], endpoint: _Endpoint,
                 control: _ControlAPI | None, stop_event: threading.Event, verbose: bool) -> None:
        self.endpoint = endpoint
        self.control = control
        self.stop_event = stop_event
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn); bind without any lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, *, active: bool) -> None:
        with self._connections_lock:
            (self._connections.add if active else self._connections.discard)(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler; closes after an HTTP/1.0 request."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    wbufsize = -1  # buffered: headers and body leave in one segment
    disable_nagle_algorithm = True
    server: _StandinHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, active=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, active=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length)

    def _serve(self) -> None:
        if self.request_version != "HTTP/1.1":
            self.close_connection = True
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Reply(400, b"bad request body\n", "text/plain; charset=utf-8"))
            return
        endpoint, control = self.server.endpoint, self.server.control
        split = urlsplit(self.path)
        if control is not None and split.path.startswith(control.PREFIX):
            self._send(control.handle(self.command, split.path, body))
            return
        latency, fault = endpoint.chain.take_fault(split.path)
        if latency > 0:
            self.server.stop_event.wait(latency)
        if fault == "hang":
            self.server.stop_event.wait(HANG_SECONDS)
            self.close_connection = True
            return
        if fault in _CANNED_FAULTS:
            self._send(_CANNED_FAULTS[fault])
            return
        reply = endpoint.handle(self.command, split.path,
                                parse_qs(split.query, keep_blank_values=True), body)
        self._send(reply, truncate=fault == "truncated")

    def _send(self, reply: Reply, *, truncate: bool = False) -> None:
        if truncate:
            self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body[: len(reply.body) // 2] if truncate else reply.body)
        self.wfile.flush()


#: The local lab's address range (fleetlab.manager.LAB_RANGE, blackholed in the root namespace).
LAB_RANGE = ipaddress.ip_network("10.213.0.0/16")


def _require_loopback(host: str) -> None:
    """The stand-in binds and is reached only on loopback or inside the lab's own range."""
    try:
        addr = ipaddress.ip_address(host)
        allowed = addr.is_loopback or addr in LAB_RANGE
    except ValueError:
        allowed = False
    if not allowed:
        raise ValueError(f"the stand-in only uses loopback or lab ({LAB_RANGE}) IP addresses, not {host!r}")


# --------------------------------------------------------------------------- public API


class PocketStandin:
    """The stand-in servers over one :class:`ChainState`; a context manager.

    ``PocketStandin(seed).start()`` binds the Shannon and Morse ports, and the CometBFT port when
    ``comet_addr`` is given (0 = any free port), and serves in daemon threads; ``stop()`` closes
    listeners and open connections.
    """

    def __init__(self, seed: Mapping[str, Any] | None = None,
                 shannon_addr: tuple[str, int] = ("127.0.0.1", 0),
                 morse_addr: tuple[str, int] = ("127.0.0.1", 0), *,
                 comet_addr: tuple[str, int] | None = None, verbose: bool = False) -> None:
        addresses = [shannon_addr, morse_addr] + ([comet_addr] if comet_addr is not None else [])
        for host, _ in addresses:
            _require_loopback(host)
        self.chain = ChainState(seed)
        self._addresses = tuple(addresses)
        self._verbose = verbose
        self._stop_event = threading.Event()
        self._servers: list[_StandinHTTPServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> PocketStandin:
        if self._servers:
            raise RuntimeError("already started")
        routing: list[tuple[_Endpoint, _ControlAPI | None]] = [
            (_ShannonEndpoint(self.chain), _ControlAPI(self.chain)),
            (_MorseEndpoint(self.chain), None),
        ]
        if len(self._addresses) > 2:
            routing.append((_CometEndpoint(self.chain), None))
        try:
            for address, (endpoint, control) in zip(self._addresses, routing, strict=True):
                server = _StandinHTTPServer(address, endpoint, control, self._stop_event,
                                            self._verbose)
                self._servers.append(server)
                if isinstance(endpoint, _CometEndpoint):
                    endpoint.rpc_address = "tcp://" + self._url_of(server).removeprefix("http://")
        except OSError:
            self.stop()
            raise
        names = ("shannon", "morse", "comet")[:len(self._servers)]
        for server, name in zip(self._servers, names, strict=True):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"pocket-standin-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @staticmethod
    def _url_of(server: _StandinHTTPServer) -> str:
        address = server.server_address
        host, port = str(address[0]), int(address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def _url(self, index: int) -> str:
        if not self._servers:
            raise RuntimeError("not started")
        return self._url_of(self._servers[index])

    @property
    def shannon_url(self) -> str:
        return self._url(0)

    @property
    def morse_url(self) -> str:
        return self._url(1)

    @property
    def comet_url(self) -> str:
        """``http://HOST:PORT`` of the CometBFT RPC listener (``comet_addr`` must be given)."""
        if len(self._addresses) < 3:
            raise RuntimeError("no CometBFT listener: pass comet_addr")
        return self._url(2)

    @property
    def control(self) -> StandinControl:
        return StandinControl(self.shannon_url)

    def stop(self) -> None:
        self._stop_event.set()
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> PocketStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class StandinControlError(RuntimeError):
    """A control-API call answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class StandinControl:
    """Client of the control API (``/__lab/…`` on the Shannon port), for tests and the lab CLI."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        host = urlsplit(base_url).hostname or ""
        _require_loopback(host)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urlrequest.build_opener(urlrequest.ProxyHandler({}))

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None,
              key: str | None = None) -> dict[str, Any]:
        """One control request; the JSON object answered (or its ``key`` member)."""
        data = None if payload is None else _json_bytes(
            {k: v for k, v in payload.items() if v is not None})
        req = urlrequest.Request(self.base_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                result = json.loads(response.read())
        except urlerror.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except (ValueError, AttributeError):
                message = str(exc.reason)
            raise StandinControlError(exc.code, str(message)) from None
        result = result if key is None else result[key]
        if not isinstance(result, dict):
            raise StandinControlError(200, f"unexpected control answer {result!r}")
        return result

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/__lab/state")

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/__lab/reset", {})

    def set_height(self, height: int) -> int:
        return int(self._call("POST", "/__lab/height", {"height": height})["height"])

    def advance(self, blocks: int) -> int:
        return int(self._call("POST", "/__lab/height", {"advance": blocks})["height"])

    def upsert_supplier(self, supplier: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/supplier", supplier, "supplier")

    def delete_supplier(self, operator_address: str) -> None:
        self._call("DELETE", f"/__lab/shannon/supplier/{quote(operator_address)}")

    def slash_supplier(self, operator_address: str, amount_upokt: int) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/slash", {
            "operator_address": operator_address, "amount_upokt": amount_upokt}, "supplier")

    def upsert_application(self, application: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/application", application, "application")

    def delete_application(self, address: str) -> None:
        self._call("DELETE", f"/__lab/shannon/application/{quote(address)}")

    def set_shannon_params(self, module: str, params: Mapping[str, Any] | None = None,
                           remove: Iterable[str] | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/shannon/params", {
            "module": module, "params": params, "remove": None if remove is None else list(remove),
        }, "params")

    def set_balance(self, address: str, amount_upokt: int) -> None:
        self._call("POST", "/__lab/balance", {"address": address, "amount_upokt": amount_upokt})

    def set_account(self, address: str, *, pub_key: bool | None = None,
                    account_number: int | None = None,
                    sequence: int | None = None) -> dict[str, Any]:
        """``POST /__lab/account`` (None leaves a field as it is) → the account as queried."""
        return self._call("POST", "/__lab/account", {
            "address": address, "pub_key": pub_key, "account_number": account_number,
            "sequence": sequence}, "account")

    def upsert_morse_node(self, node: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/node", node)

    def jail_morse_node(self, address: str, jailed: bool = True, *, jailed_until: str | None = None,
                        jailed_blocks_counter: int | None = None,
                        missed_blocks_counter: int | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/jail", {
            "address": address, "jailed": jailed, "jailed_until": jailed_until,
            "jailed_blocks_counter": jailed_blocks_counter,
            "missed_blocks_counter": missed_blocks_counter,
        })

    def slash_morse_node(self, address: str, amount_upokt: int) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/slash",
                          {"address": address, "amount_upokt": amount_upokt})

    def set_morse_params(self, params: Mapping[str, Any] | None = None, *, module: str = "pos",
                         remove: Iterable[str] | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/morse/params", {
            "module": module, "params": params, "remove": None if remove is None else list(remove),
        }, "params")

    def set_fault(self, mode: str, *, path_prefix: str | None = None,
                  count: int | None = None) -> dict[str, Any]:
        return self._call("POST", "/__lab/fault",
                          {"mode": mode, "path_prefix": path_prefix, "count": count}, "fault")

    def set_latency(self, ms: int) -> int:
        return int(self._call("POST", "/__lab/latency", {"ms": ms})["latency_ms"])

    def submit_tx(self, msg: str, supplier_operator_address: str, service_id: str,
                  session_end_block_height: int, num_relays: int | None = None) -> dict[str, Any]:
        """``POST /__lab/tx``: ``{"code", "height", …}`` (a refused message is not an error)."""
        return self._call("POST", "/__lab/tx", {
            "msg": msg, "supplier_operator_address": supplier_operator_address,
            "service_id": service_id, "session_end_block_height": session_end_block_height,
            "num_relays": num_relays})

    def inject_events(self, height: int, *, txs_results: list[Any] | None = None,
                      finalize_block_events: list[Any] | None = None) -> dict[str, Any]:
        """Append raw results and events at ``height`` (``POST /__lab/events``)."""
        return self._call("POST", "/__lab/events", {
            "height": height, "txs_results": txs_results,
            "finalize_block_events": finalize_block_events})

    def reorg(self, height: int, *, txs_results: list[Any] | None = None,
              finalize_block_events: list[Any] | None = None) -> dict[str, Any]:
        """Re-org ``height`` (``POST /__lab/reorg``): ``{"height", "hash", "reorgs"}``."""
        return self._call("POST", "/__lab/reorg", {
            "height": height, "txs_results": txs_results,
            "finalize_block_events": finalize_block_events})

    def set_comet(self, *, lag: int | None = None,
                  catching_up: bool | None = None) -> dict[str, Any]:
        """The CometBFT node's ``lag`` behind the chain and ``catching_up`` (None: unchanged)."""
        return self._call("POST", "/__lab/comet", {"lag": lag, "catching_up": catching_up},
                          "comet")


# --------------------------------------------------------------------------- CLI


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]")
    try:
        _require_loopback(host)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in until SIGTERM or SIGINT; print ``ready shannon=URL morse=URL``
    (`` comet=URL`` appended with ``--comet-listen``)."""
    parser = argparse.ArgumentParser(
        prog="python -m fleetlab.pocket_standin",
        description="Pocket Network stand-in (Shannon REST + Morse RPC [+ CometBFT RPC])")
    parser.add_argument("--state", type=Path, help="seed state JSON file (see module docs)")
    parser.add_argument("--shannon-listen", type=_listen_address, default=("127.0.0.1", 1317))
    parser.add_argument("--morse-listen", type=_listen_address, default=("127.0.0.1", 8081))
    parser.add_argument("--comet-listen", type=_listen_address,
                        help="also serve the full node's CometBFT RPC here (HOST:PORT)")
    parser.add_argument("--block-time", type=float, help="seconds per block (0 = frozen)")
    parser.add_argument("--latency-ms", type=int, help="latency added to every chain response")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    try:
        seed = json.loads(args.state.read_text(encoding="utf-8")) if args.state else {}
        if not isinstance(seed, dict):
            raise SeedError("seed: expected a JSON object")
        if args.block_time is not None:
            seed["block_time"] = args.block_time
        if args.latency_ms is not None:
            seed["latency_ms"] = args.latency_ms
        standin = PocketStandin(seed, args.shannon_listen, args.morse_listen,
                                comet_addr=args.comet_listen, verbose=args.verbose)
        standin.start()
    except (OSError, ValueError) as exc:
        print(f"pocket_standin: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    comet = f" comet={standin.comet_url}" if args.comet_listen else ""
    print(f"ready shannon={standin.shannon_url} morse={standin.morse_url}{comet}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
