"""The state store's schema: one ordered list of migrations (:data:`MIGRATIONS`).

Migration *n* brings a file from ``PRAGMA user_version`` *n - 1* to *n*; :func:`fleetctl.state.db.connect`
runs those above a file's version, in order, in one transaction, and records the new version.
Version 1: the stake history (:mod:`fleetctl.state.stakes`). Version 2: the alert state and
its outbox (:mod:`fleetctl.state.alerts`, :mod:`fleetctl.state.outbox`) and the remediations
(:mod:`fleetctl.state.remediation`). Version 3: ``stakes_batch`` (:mod:`fleetctl.state.batches`).
Version 4: ``chain_events`` and ``chain_cursor`` (:mod:`fleetctl.state.claims`).

Append only: never edit a migration that has shipped.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

#: Version 1: the stake history (``runs``, ``samples``).
_V1 = (
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        checked_at TEXT NOT NULL,       -- ISO 8601 UTC
        protocol TEXT NOT NULL,
        url TEXT NOT NULL,
        height INTEGER,                 -- NULL: the chain could not be read
        status TEXT NOT NULL,           -- OK, WARNING, CRITICAL, UNKNOWN
        message TEXT
    )""",
    """CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        address TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        chain_status TEXT,              -- staked, unbonding, unstaked, not_found (NULL: unread)
        jailed INTEGER NOT NULL,
        stake_upokt INTEGER,
        min_stake_upokt INTEGER,
        balance_upokt INTEGER,
        slashed_upokt INTEGER,
        reasons TEXT NOT NULL           -- JSON list of strings
    )""",
    "CREATE INDEX samples_by_address ON samples(address, id)",
)

#: Version 2: the alert state machine and its outbox (:mod:`fleetctl.health.alerts`), and the
#: backends ``fleetctl health --remediate`` took out of rotation. Times are unix seconds
#: (REAL) unless a column says otherwise; levels are names (OK, WARNING, CRITICAL, UNKNOWN).
_V2 = (
    """CREATE TABLE alert_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_run_started REAL NOT NULL  -- run_started_at of the newest run applied
    )""",
    """CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,              -- kind/target
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        state TEXT NOT NULL,            -- pending, firing, resolved
        level TEXT NOT NULL,            -- the level of the last run that saw the problem
        message TEXT NOT NULL,
        labels TEXT NOT NULL,           -- JSON object of strings
        runs INTEGER NOT NULL,          -- consecutive runs with the problem
        first_seen REAL NOT NULL,       -- when the problem was first seen (pending since)
        last_run REAL NOT NULL,         -- run_started_at of the last run that saw it
        fired_at REAL,
        notified_at REAL,               -- the last firing notice enqueued (NULL: none yet)
        notified_level TEXT,            -- the level that notice carried
        notifications INTEGER NOT NULL DEFAULT 0,
        held INTEGER NOT NULL DEFAULT 0,  -- a notice was held back by a mute
        acked_until REAL,
        resolved_at REAL,
        resolved_message TEXT
    )""",
    # One open (pending or firing) alert per key; resolved ones are history.
    "CREATE UNIQUE INDEX alerts_open ON alerts(key) WHERE state != 'resolved'",
    "CREATE INDEX alerts_by_state ON alerts(state, resolved_at)",
    """CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        pattern TEXT NOT NULL,          -- fnmatch pattern on an alert's key or target
        until REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,           -- firing, resolved, event
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        level TEXT NOT NULL,            -- firing/event: the level; resolved: OK
        previous_level TEXT,            -- the level last notified before this one, if any
        message TEXT NOT NULL,
        labels TEXT NOT NULL,           -- JSON object of strings
        started_at REAL NOT NULL,       -- the incident's start (fired_at; events: created_at)
        created_at REAL NOT NULL,
        repeat INTEGER NOT NULL DEFAULT 0,  -- 0: first notice; n: n-th notice after it
        fanned_out INTEGER NOT NULL DEFAULT 0  -- outbox rows made for the configured sinks
    )""",
    "CREATE INDEX notifications_fan_out ON notifications(fanned_out, id)",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        notification_id INTEGER NOT NULL REFERENCES notifications(id),
        sink TEXT NOT NULL,             -- the sink's name
        key TEXT NOT NULL,              -- the notification's key (delivery order per key)
        state TEXT NOT NULL,            -- queued, delivered, dropped
        created_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_until REAL,               -- claimed by a run until then (NULL: unclaimed)
        claim_token TEXT,
        last_error TEXT,                -- one line, URLs redacted
        done_at REAL                    -- delivered or dropped at
    )""",
    "CREATE INDEX outbox_due ON outbox(state, sink, key, id)",
    """CREATE TABLE remediations (
        host TEXT NOT NULL,             -- inventory host of the balancer
        balancer TEXT NOT NULL,         -- HAProxy name, e.g. lb-eth
        server TEXT NOT NULL,           -- backend server name, e.g. eth-geth-1
        reason TEXT NOT NULL,
        pulled_at TEXT NOT NULL,        -- ISO 8601 UTC
        healthy_runs INTEGER NOT NULL DEFAULT 0,
        last_run_started REAL,          -- unix time of the run that last updated it
        PRIMARY KEY (host, balancer, server)
    )""",
)

#: Version 3: the stake transactions of ``fleetctl stake --batch --execute``
#: (:mod:`fleetctl.state.batches`), one row per supplier and batch. A supplier's newest row (the
#: highest rowid) is what the next batch resumes from: ``pending`` (about to be sent, or the run
#: died while sending), ``submitted`` (the chain accepted the tx: ``txhash``), ``confirmed`` (the
#: chain shows the supplier), ``failed`` (``error``, one line).
_V3 = (
    """CREATE TABLE stakes_batch (
        batch_id TEXT NOT NULL,         -- one per --execute run: 20261202T030405Z-1a2b3c
        name TEXT NOT NULL,             -- the supplier's name in fleet.yml
        operator_address TEXT NOT NULL,
        config_sha256 TEXT NOT NULL,    -- of the stake config file sent
        state TEXT NOT NULL CHECK (state IN ('pending', 'submitted', 'confirmed', 'failed')),
        txhash TEXT,
        error TEXT,
        updated_at REAL NOT NULL,       -- unix seconds
        host TEXT,                      -- the inventory host the command ran on
        PRIMARY KEY (batch_id, operator_address)
    )""",
    "CREATE INDEX stakes_batch_by_address ON stakes_batch(operator_address)",
)

#: Version 4: the chain's claim, proof, settlement and slash events of the fleet's suppliers
#: (:mod:`fleetctl.state.claims`, read from CometBFT ``/block_results``), and how far each
#: node's blocks have been read. A claim is (supplier, service, application, session_end); the
#: UNIQUE key makes a height read twice (overlapping cron runs, a re-read after a re-org)
#: change nothing. Amounts are upokt; NULL: the event does not carry the field.
_V4 = (
    """CREATE TABLE chain_events (
        id INTEGER PRIMARY KEY,
        height INTEGER NOT NULL,
        kind TEXT NOT NULL,             -- claim_created, proof_submitted, claim_settled, ...
        supplier TEXT NOT NULL,         -- operator address
        service TEXT NOT NULL,
        application TEXT NOT NULL,
        session_end INTEGER NOT NULL,
        num_relays INTEGER,
        compute_units INTEGER,
        claimed_upokt INTEGER,
        settled_upokt INTEGER,
        minted_upokt INTEGER,
        reason TEXT,                    -- PROOF_MISSING, PROOF_INVALID, a discard error
        penalty_upokt INTEGER,
        stake_after_upokt INTEGER,
        proof_requirement TEXT,         -- NOT_REQUIRED, PROBABILISTIC, THRESHOLD
        UNIQUE (height, kind, supplier, service, application, session_end)
    )""",
    "CREATE INDEX chain_events_by_supplier ON chain_events(supplier, session_end)",
    "CREATE INDEX chain_events_by_claim ON chain_events(session_end, supplier, service, application)",
    """CREATE TABLE chain_cursor (
        endpoint TEXT PRIMARY KEY,      -- the node RPC URL as shown (no credentials)
        last_height INTEGER NOT NULL,   -- every height up to this one has been read
        last_hash TEXT,                 -- its block hash (a re-org of it is re-read)
        block_time_ms INTEGER,          -- recent average block time, for "per day"
        updated_at REAL NOT NULL        -- unix seconds
    )""",
)

#: The schema's history: migration *n* brings a file from version *n - 1* to *n*. Append only:
#: never edit a migration that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)


