"""The stake transactions of ``fleetctl stake --batch --execute`` (``stakes_batch``, schema
version 3), one row per supplier and batch. The batch's decisions (what to send, what to resume)
are :mod:`fleetctl.workflows.stake_batch`'s; this module only stores them.

A supplier's newest row (the highest rowid) is what the next batch resumes from: ``pending``
(about to be sent, or the run died while sending), ``submitted`` (the chain accepted the tx:
``txhash``), ``confirmed`` (the chain shows the supplier), ``failed`` (``error``, one line).
Rows are claimed in one ``BEGIN IMMEDIATE`` transaction (:func:`fleetctl.state.db.begin`), so
two batches running at once never both send.

Errors are :class:`~fleetctl.state.db.StateError` with one line the stake front shows after
``stake: ``: "the store PATH cannot be read: …", "the store PATH cannot be written: …", or
"the store PATH: …" (an SQLite error inside a write).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fleetctl.core.records import record
from fleetctl.state.db import StateError, begin, connect

__all__ = ["BatchRecord", "BatchStore", "Pending", "latest"]


@record(frozen=True)
class BatchRecord:
    """A supplier's newest ``stakes_batch`` row."""

    batch_id: str
    state: str
    txhash: str | None
    error: str | None
    updated_at: float
    config_sha256: str


@record(frozen=True)
class Pending:
    """A supplier a batch is about to send: the row :meth:`BatchStore.claim` records for it."""

    name: str
    operator_address: str
    config_sha256: str | None


def latest(conn: sqlite3.Connection | None, addresses: Sequence[str]) -> dict[str, BatchRecord]:
    """Each address's newest ``stakes_batch`` row."""
    if conn is None or not addresses:
        return {}
    wanted = set(addresses)
    rows = conn.execute(
        "SELECT operator_address, batch_id, state, txhash, error, updated_at, config_sha256 "
        "FROM stakes_batch WHERE rowid IN (SELECT max(rowid) FROM stakes_batch GROUP BY operator_address)")
    return {r[0]: BatchRecord(*r[1:]) for r in rows if r[0] in wanted}


class BatchStore:
    """The ``stakes_batch`` table of the store at ``path`` (created by the first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, addresses: Sequence[str]) -> dict[str, BatchRecord]:
        """Each address's newest row (none when the store does not exist yet)."""
        try:
            conn = connect(self.path, create=False)
        except (OSError, sqlite3.Error, StateError) as exc:
            raise StateError(f"the store {self.path} cannot be read: {exc}") from None
        try:
            return latest(conn, addresses)
        finally:
            if conn is not None:
                conn.close()

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            conn = connect(self.path, create=True)
            assert conn is not None
        except (OSError, sqlite3.Error, StateError) as exc:
            raise StateError(f"the store {self.path} cannot be written: {exc}") from None
        try:
            with begin(conn, write=True):
                return work(conn)
        except sqlite3.Error as exc:
            raise StateError(f"the store {self.path}: {exc}") from None
        finally:
            conn.close()

    def claim(self, batch_id: str, host: str, pending: Sequence[Pending],
              in_doubt: Callable[[BatchRecord], bool]) -> list[BatchRecord | None]:
        """Record a ``pending`` row for each supplier no other batch has in flight (its newest
        row is not ``in_doubt``), checked in the same transaction, so concurrent batches never
        both send. For each of ``pending``, in order: None when claimed, else the newest row of
        the batch that has it in flight (not claimed)."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> list[BatchRecord | None]:
            previous = latest(conn, [p.operator_address for p in pending])
            held: list[BatchRecord | None] = []
            for p in pending:
                record = previous.get(p.operator_address)
                if record is not None and in_doubt(record):
                    held.append(record)
                    continue
                conn.execute(
                    "INSERT INTO stakes_batch (batch_id, name, operator_address, config_sha256, state, "
                    "updated_at, host) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    (batch_id, p.name, p.operator_address, p.config_sha256, now, host))
                held.append(None)
            return held

        result: list[BatchRecord | None] = self._write(work)
        return result

    def update(self, batch_id: str, address: str, state: str, *, txhash: str | None = None,
               error: str | None = None) -> None:
        """One supplier's row of ``batch_id`` becomes ``state`` (a txhash, once known, stays)."""
        self._write(lambda conn: conn.execute(
            "UPDATE stakes_batch SET state = ?, txhash = coalesce(?, txhash), error = ?, updated_at = ? "
            "WHERE batch_id = ? AND operator_address = ?", (state, txhash, error, time.time(), batch_id, address)))

    def confirm(self, addresses: Sequence[str]) -> None:
        """Mark each address's newest row confirmed (a submitted/pending one the chain now shows)."""
        if not addresses:
            return

        def work(conn: sqlite3.Connection) -> None:
            for address, rec in latest(conn, addresses).items():
                if rec.state in ("pending", "submitted", "failed"):
                    conn.execute("UPDATE stakes_batch SET state = 'confirmed', error = NULL, updated_at = ? "
                                 "WHERE batch_id = ? AND operator_address = ?", (time.time(), rec.batch_id, address))

        self._write(work)

    def forget(self, batch_id: str, addresses: Sequence[str]) -> None:
        """Drop the pending rows of commands that never ran."""
        if addresses:
            self._write(lambda conn: conn.executemany(
                "DELETE FROM stakes_batch WHERE batch_id = ? AND operator_address = ? AND state = 'pending'",
                [(batch_id, a) for a in addresses]))
