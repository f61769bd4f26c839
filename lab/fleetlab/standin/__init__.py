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
        not found: "<id>""}`` (x/service/keeper/query_service.go).
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
    ``GET /abci_query?path=&data=&height=&prove=`` (rpc/core/abci.go ``ABCIQuery``; routes.go
    ``"path,data,height,prove"``, never cacheable) → result ``{"response": ResponseQuery}``, the
    application's answer (:mod:`fleetlab.standin.abci`: cosmos-sdk v0.50.13 baseapp/abci.go
    ``Query``, ``handleQueryGRPC``, ``CreateQueryContext``, ``gRPCErrorToSDKError``). One gRPC
    route is modelled, ``/cosmos.bank.v1beta1.Query/Balance`` (x/bank/keeper/grpc_query.go
    ``Balance``): ``data`` is a protobuf ``QueryBalanceRequest`` (``address`` 1, ``denom`` 2;
    ``cosmos-protos/``), the answer ``{"value": "<base64 of QueryBalanceResponse{balance (1):
    Coin{denom (1), amount (2)}}>", "height": "H"}``, ``amount`` a decimal string ("0" for an
    account or denom without balance: the keeper's zero coin; the number REST's ``…/by_denom``
    shows), H the height asked, 0 meaning the node's latest (the one ``/status`` reports; any
    height up to it reads the current balances). Application errors are results, not RPC errors:
    ``{"response": {"code": N, "log": "…", "height": "H", "codespace": "sdk"}}`` (cmtjson writes
    every member ``omitempty``: ``code`` a number, ``height`` a string and absent when 0), the
    ``log`` a cosmossdk.io/errors wrap, ``"<message>: <description>"`` (errors/abci.go
    ``ABCIInfo``, types/errors/errors.go codes). ``Balance``'s refusals, code 18 with the height:
    ``rpc error: code = InvalidArgument desc = invalid denom: <denom>: invalid request``
    (``sdk.ValidateDenom``, checked first, an empty denom included) and ``… desc = invalid
    address: <error>: invalid request``, the bech32 codec's error (``decoding bech32 failed: …``,
    ``hrp does not match bech32 prefix: expected 'pokt' got '<hrp>': internal logic error``,
    ``empty address string is not allowed``; codec/address/bech32_codec.go). Undecodable
    ``data``: code 18 with the height, ``<gogoproto error>: invalid request`` (``unexpected
    EOF``, ``proto: QueryBalanceRequest: illegal tag 0 (wire type 0)``, ``proto: wrong wireType
    = 0 for field Address``, …; x/bank/types/query.pb.go). ``CreateQueryContext``'s, without a
    height: above the latest, code 26 ``cannot query with height in the future; please provide
    a valid height: invalid height``; negative, code 18 ``cannot query with height < 0; please
    provide a valid height: invalid request``; ``prove`` at a height <= 1, code 18 ``cannot
    query with proof when height <= 1; …``; a node without blocks (lag past genesis), code 26
    ``pocket is not ready; please wait for first block: invalid height``. Another path: code 6
    ``unknown query path: unknown request`` (empty: ``no query path provided: unknown
    request``; ``/cosmos.tx.v1beta1.Service/BroadcastTx``: code 18 ``can't route a broadcast tx
    message: invalid request``), no height; a real node also answers its other gRPC query
    services and ``/app``, ``/store``, ``/p2p``, which the stand-in does not model. Arguments
    are decoded as the server does (http_uri_handler.go ``httpParamsToArgs``,
    http_json_handler.go ``jsonParamsToArgs``, libs/json): over URI ``path`` a quoted JSON
    string (or ``0x`` hex), ``data`` ``0x`` hex (or a quoted string: its bytes), ``height`` an
    integer, ``prove`` ``true``/``false``; in JSON-RPC ``path`` a string, ``data`` plain hex
    (no ``0x``), ``height`` a JSON *string* (``"height": 0`` is refused: ``invalid 64-bit
    integer encoding "0", expected string``; cmtjson's int64), ``prove`` a boolean, params by
    position all four; a request without ``params`` makes the server's call panic (HTTP 500,
    id -1, ``reflect: Call with too few input arguments``). Refused arguments: -32602 ``Invalid
    params``, ``error converting http|json params to arguments: <error>``.
    Heights follow ``getHeight``: above the node's latest → HTTP 500 ``{"error": {"code":
    -32603, "message": "Internal error", "data": "height H must be less than or equal to the
    current blockchain height L"}}``; 0 or negative: ``height must be greater than 0, but got
    H``; below the kept history (the last :data:`COMET_HISTORY_BLOCKS` blocks): ``height H is
    not available, lowest height is B``; a malformed value: code -32602 ``Invalid params``.
    Any method is accepted on these paths (Go's mux does not filter). JSON-RPC over HTTP:
    ``POST /`` with ``{"jsonrpc": "2.0", "id": …, "method": "status"|"health"|"abci_info"|
    "abci_query"|"block_results"|"blockchain", "params": {"height": "H"} or ["H"]}`` (or a
    batch) answers with that ``id`` (errors with HTTP 200; a batch of one with one object, not
    an array); an unknown method ``{"error": {"code": -32601, "message": "Method not found"}}``;
    an unparsable body 500 with code -32700; an empty body the HTML list of endpoints. Batch
    limit (http_server.go ``PreChecksHandler``, before any route, on every path): with
    ``max_request_batch_size`` > 0 (10, CometBFT's default, config/config.go; 0 = no limit; set
    with ``/__lab/comet``) a body that is a JSON array of more requests is refused as a whole,
    HTTP 200 with one object and no id: ``{"jsonrpc": "2.0", "error": {"code": -32600,
    "message": "Invalid Request", "data": "batch request exceeds maximum (10) allowed number of
    requests"}}``. Faults and latency apply as on the other routes (a JSON-RPC call's path is
    ``/``; ``"path_prefix": "/abci_query"`` targets the URI form alone). ``POST /__lab/tx`` (below) is also served here: the RelayMiner
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
    ``POST /__lab/comet`` ``{"lag": N, "catching_up": bool, "max_request_batch_size": N}`` (each
    optional: the ones given change) → ``{"comet": {"lag", "catching_up",
    "max_request_batch_size"}}``: the CometBFT node reports the chain height minus ``lag`` and
    ``sync_info.catching_up``, and refuses JSON-RPC batches of more than
    ``max_request_batch_size`` requests (0: no limit);
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
``poktroll-protos/`` beside this package)
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
    ``Coin.String()`` strings such as ``""320upokt""``), keys sorted, then ``msg_index``
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
      "comet": {"lag": 0, "catching_up": false,    # the CometBFT node's view (see /__lab/comet)
                "max_request_batch_size": 10},
      "fault": {"mode": "none", "path_prefix": "", "count": null},
      "blocks": {"<height>": {"txs_results": [...], "finalize_block_events": [...],
                              "reorgs": 0}}    # CometBFT block results kept (non-empty ones)
    }

Shannon addresses are checked as bech32 where the chain checks them (session, bank and list
filters): use :func:`lab_address` to make valid ones. The servers bind to loopback or lab-range
addresses only.

CLI: ``python -m fleetlab.standin --state SEED.json --shannon-listen 127.0.0.1:1317
--morse-listen 127.0.0.1:8081 [--comet-listen 127.0.0.1:26657] [--block-time S] [--latency-ms N]
[--verbose]`` prints ``ready shannon=URL morse=URL`` (and `` comet=URL`` with ``--comet-listen``)
once listening and exits cleanly on SIGTERM or SIGINT.


Modules, one concern each: ``common`` (constants, encodings, seed readers), ``errors``,
``addresses`` (bech32, lab addresses and hashes), ``params``, ``faults``, ``clock`` (height and
the lazy transitions), ``accounts`` (x/auth, x/bank), ``suppliers`` (suppliers, applications,
services), ``sessions``, ``claims`` (x/proof), ``settlement`` (x/tokenomics), ``blocks`` and
``comet`` (the CometBFT history and node), ``abci`` (the application's ABCI query: the bank
balance route and its protobuf), ``morse``; ``state`` composes them into
:class:`ChainState`. Over it: ``rest`` (the Shannon gateway), ``morse_rpc``, ``comet_rpc``,
``control`` (``/__lab/…`` and its client), ``server`` (:class:`PocketStandin`), ``__main__``.
The spec files followed are kept beside them: ``cometbft-rpc/``, ``poktroll-protos/`` and
``cosmos-protos/``.
"""

from __future__ import annotations

from fleetlab.standin.addresses import (
    bech32_encode,
    lab_account_number,
    lab_address,
    lab_block_hash,
    lab_pub_key,
)
from fleetlab.standin.blocks import COMET_HISTORY_BLOCKS, BlockRecord
from fleetlab.standin.claims import Claim
from fleetlab.standin.common import SeedError
from fleetlab.standin.control import StandinControl, StandinControlError
from fleetlab.standin.morse import MorseNode, SigningInfo
from fleetlab.standin.params import MAINNET_MORSE_PARAMS, MAINNET_SHANNON_PARAMS
from fleetlab.standin.server import PocketStandin
from fleetlab.standin.state import ChainState
from fleetlab.standin.suppliers import Application, ServiceConfigUpdate, Supplier

__all__ = [
    "COMET_HISTORY_BLOCKS",
    "MAINNET_MORSE_PARAMS",
    "MAINNET_SHANNON_PARAMS",
    "Application",
    "BlockRecord",
    "ChainState",
    "Claim",
    "MorseNode",
    "PocketStandin",
    "SeedError",
    "ServiceConfigUpdate",
    "SigningInfo",
    "StandinControl",
    "StandinControlError",
    "Supplier",
    "bech32_encode",
    "lab_account_number",
    "lab_address",
    "lab_block_hash",
    "lab_pub_key",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """The CLI (``python -m fleetlab.standin``); see :mod:`fleetlab.standin.__main__`."""
    from fleetlab.standin.__main__ import main as run

    return run(argv)
