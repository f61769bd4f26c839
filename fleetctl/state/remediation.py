"""The backends ``fleetctl health --remediate`` took out of their balancers' rotation
(``remediations``, schema version 2), one row per (host, balancer, server). The decisions are
:mod:`fleetctl.health.remediate`'s; this module only stores them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fleetctl.state.db import BUSY_TIMEOUT_S, transaction

__all__ = ["pulled", "pulled_servers", "record"]


def pulled(path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> list[tuple[Any, ...]]:
    """Every row: (host, balancer, server, reason, pulled_at, healthy_runs, last_run_started).
    Opens the store for writing (it is created and migrated if need be)."""
    with transaction(path, write=True, busy_timeout_s=busy_timeout_s) as conn:
        assert conn is not None
        return conn.execute("SELECT host, balancer, server, reason, pulled_at, healthy_runs, last_run_started "
                            "FROM remediations").fetchall()


def pulled_servers(path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> list[tuple[Any, ...]]:
    """Every row's (host, balancer, server), read only: the file is opened read-only as it is
    (never created, migrated or switched to WAL), and a store that does not exist or cannot be
    read (no such table yet, locked past ``busy_timeout_s``, not a database) has none."""
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout_s)
        try:
            return conn.execute("SELECT host, balancer, server FROM remediations").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def record(path: Path, action: str, key: tuple[str, str, str], *, reason: str, pulled_at: str,
           run_started: float, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Store one action on the backend ``key`` (host, balancer, server): ``pull`` (taken out of
    rotation: its healthy runs start from 0), ``restore``/``forget`` (the row goes), ``count``
    (one more healthy run; only a run newer than the last one that counted moves it),
    ``reset`` (healthy runs back to 0). Any other action changes nothing."""
    with transaction(path, write=True, busy_timeout_s=busy_timeout_s) as conn:
        assert conn is not None
        if action == "pull":
            conn.execute("INSERT INTO remediations (host, balancer, server, reason, pulled_at, healthy_runs, "
                         "last_run_started) VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (host, balancer, server) "
                         "DO UPDATE SET reason = excluded.reason, healthy_runs = 0, "
                         "last_run_started = excluded.last_run_started",
                         (*key, reason, pulled_at, run_started))
        elif action in ("restore", "forget"):
            conn.execute("DELETE FROM remediations WHERE host = ? AND balancer = ? AND server = ?", key)
        elif action == "count":
            # One count per run, however many runs overlap: only a newer run moves it.
            conn.execute("UPDATE remediations SET healthy_runs = healthy_runs + 1, last_run_started = ? "
                         "WHERE host = ? AND balancer = ? AND server = ? "
                         "AND (last_run_started IS NULL OR last_run_started < ?)", (run_started, *key, run_started))
        elif action == "reset":
            conn.execute("UPDATE remediations SET healthy_runs = 0, last_run_started = ? "
                         "WHERE host = ? AND balancer = ? AND server = ?", (run_started, *key))
