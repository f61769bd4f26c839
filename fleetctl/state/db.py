"""The state store's file: where it is, how it is opened, migrated and written.

Where: ``--db PATH``, else ``stake.history_db`` in fleet.yml (relative to the inventory folder),
else ``$FLEETCTL_STATE_DIR/fleetctl.db``, else ``~/.local/state/fleetctl/fleetctl.db``. The file
is created 0600 (SQLite gives its ``-wal`` and ``-shm`` files the same mode) in a 0700 folder.

Cron runs may overlap: the store is in WAL mode (readers never wait for the writer), waits up
to ``busy_timeout_s`` for a lock instead of failing, and each run reads the previous state and
writes its own in one ``BEGIN IMMEDIATE`` transaction (:func:`transaction`), so two runs never
both claim the same slash and a killed run leaves nothing half-written. The wait is the
caller's to choose, so that it fits inside the caller's own time bound: a store held by a stuck
writer (another process in ``BEGIN IMMEDIATE``, or holding an exclusive lock) raises
:class:`StoreLocked` ("state store PATH is locked by another process") once it has passed.

A store is never made more accessible than it is: a file the user made read-only (no owner
write bit, e.g. 0444) is refused for writing (:class:`StoreReadOnly`) and read without writing,
and only the group and other bits of a writable one are taken away. A row that is not what the
schema says raises :class:`StoreCorrupt`, one line naming the store, the table and row, and
what to do.

The schema grows by the ordered :data:`fleetctl.state.schema.MIGRATIONS`, recorded in
``PRAGMA user_version``: a file at version *n* is brought to ``SCHEMA_VERSION`` in place, in
one ``BEGIN IMMEDIATE`` transaction, by running every migration above *n* in order (a failed
upgrade rolls back and leaves the file as it was; two processes upgrading at once serialize
on the lock and the second finds nothing left to do). Existing rows are kept.

This module imports only the standard library (and :mod:`fleetctl.state.schema`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from fleetctl.state import schema

__all__ = [
    "BUSY_TIMEOUT_S",
    "DB_NAME",
    "HistoryError",
    "StateError",
    "StoreCorrupt",
    "StoreLocked",
    "StoreReadOnly",
    "begin",
    "connect",
    "default_db_path",
    "ensure_state_dir",
    "resolve_db_path",
    "store_error",
    "transaction",
    "write_locked",
]

DB_NAME = "fleetctl.db"
#: How long :func:`connect` waits for another process's lock unless its caller says.
BUSY_TIMEOUT_S = 30.0


class StateError(Exception):
    """The state store cannot be opened, read or written; a one-line reason."""


#: The name the store's error had before the state package (kept for callers and tests).
HistoryError = StateError


class StoreLocked(StateError):
    """Another process held the store's lock for longer than the caller would wait."""

    def __init__(self, path: Path, waited_s: float) -> None:
        super().__init__(f"state store {path} is locked by another process (waited {waited_s:g} s)")
        self.path = path
        self.waited_s = waited_s


class StoreReadOnly(StateError):
    """The store's file has no owner write bit: fleetctl does not write to it."""


class StoreCorrupt(StateError):
    """A row of the store is not what the schema says (one line: store, table, row, the fix)."""


def default_db_path() -> Path:
    """``$FLEETCTL_STATE_DIR/fleetctl.db``, else ``~/.local/state/fleetctl/fleetctl.db``."""
    state_dir = os.environ.get("FLEETCTL_STATE_DIR")
    base = Path(state_dir) if state_dir else Path.home() / ".local" / "state" / "fleetctl"
    return base / DB_NAME


class _StakeSection(Protocol):
    @property
    def history_db(self) -> str | None: ...


class _Inventory(Protocol):
    """What :func:`resolve_db_path` reads of a fleet (a :class:`fleetctl.spec.model.Fleet`)."""

    @property
    def stake(self) -> _StakeSection: ...

    @property
    def root(self) -> Path: ...


def resolve_db_path(explicit: str | os.PathLike[str] | None, fleet: _Inventory | None) -> Path:
    """``--db``, else fleet.yml's ``stake.history_db`` (relative to the inventory), else default."""
    if explicit:
        return Path(explicit).expanduser()
    if fleet is not None and fleet.stake.history_db:
        configured = Path(fleet.stake.history_db).expanduser()
        return configured if configured.is_absolute() else fleet.root / configured
    return default_db_path()


@contextlib.contextmanager
def transaction(path: Path, *, write: bool,
                busy_timeout_s: float = BUSY_TIMEOUT_S) -> Iterator[sqlite3.Connection | None]:
    """The one transaction helper: ``BEGIN IMMEDIATE`` when writing (one writer at a time;
    creates and migrates the file), else ``BEGIN`` (a read never creates the file: yields None
    when it does not exist). Commits when the block ends, rolls back when it raises; an
    ``sqlite3`` error (in the block too) becomes the one-line :class:`StateError` of
    :func:`store_error`. The connection is closed either way."""
    conn = connect(path, create=write, busy_timeout_s=busy_timeout_s)
    if conn is None:
        yield None
        return
    try:
        with begin(conn, write=write):
            yield conn
    except sqlite3.Error as exc:
        raise store_error(path, exc, busy_timeout_s) from None
    finally:
        conn.close()  # without COMMIT: rolled back


@contextlib.contextmanager
def begin(conn: sqlite3.Connection, *, write: bool) -> Iterator[sqlite3.Connection]:
    """One transaction on an open connection of :func:`connect`: ``BEGIN IMMEDIATE`` when
    writing, else ``BEGIN``; ``COMMIT`` when the block ends, ``ROLLBACK`` when it raises. An
    ``sqlite3`` error goes on as it is, for a caller that words it its own way;
    :func:`transaction` (open, begin, close, one-line errors) is this plus the connection."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def write_locked(path: Path, wait: float) -> bool:
    """True when another process holds the store's write lock for longer than ``wait`` seconds
    (a stuck writer); False when the lock was free, the store does not exist, or it cannot be
    opened (anything else is the store's own problem, reported where it is used). Takes the
    lock for an instant and changes nothing: no migration, no WAL switch, no file created."""
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=wait,
                               isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc) or "busy" in str(exc)
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def store_error(path: Path, exc: BaseException, busy_timeout_s: float) -> StateError:
    """The one-line :class:`StateError` for an ``sqlite3`` or OS error on the store."""
    if isinstance(exc, StateError):
        return exc
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        return StateError(f"state store {path}: {exc.strerror or exc}{where}")
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return StoreLocked(path, busy_timeout_s)
    if "readonly" in text or "read-only" in text:
        return StoreReadOnly(f"state store {path} cannot be written ({text}): check its and its "
                             "folder's permissions, or pass --no-record")
    if "not a database" in text or "malformed" in text:
        return StateError(f"state store {path} is not a usable SQLite file ({text}): move it "
                            "aside; the next run starts a new one")
    return StateError(f"state store {path}: {text}")


def ensure_state_dir(folder: Path) -> None:
    """Create ``folder`` 0700 (whatever the umask) if it does not exist; its parents as
    ``mkdir -p`` does. A folder that exists is left as it is."""
    if folder.is_dir():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return  # made by another process meanwhile (or not a folder: opening the store says)
    os.chmod(folder, 0o700)


def connect(path: Path, *, create: bool,
            busy_timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection | None:
    """An autocommit connection to the store at ``path`` (WAL, busy timeout, schema brought to
    ``SCHEMA_VERSION``), or None when it does not exist and ``create`` is false. A created
    file is 0600 in a 0700 folder (:func:`ensure_state_dir`); an existing one only loses its
    group and other bits, and one without its owner write bit is refused for writing
    (:class:`StoreReadOnly`) and opened read-only for reading.

    Every wait for another process's lock ends after ``busy_timeout_s`` with
    :class:`StoreLocked`. Raises :class:`StateError` (one line) for anything else that goes
    wrong; the caller closes the connection."""
    try:
        return _connect(path, create, busy_timeout_s)
    except (OSError, sqlite3.Error) as exc:
        raise store_error(path, exc, busy_timeout_s) from None


def _connect(path: Path, create: bool, busy_timeout_s: float) -> sqlite3.Connection | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        if not create:
            return None
        ensure_state_dir(path.parent)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise StateError(f"state store {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    read_only = not mode & stat.S_IWUSR
    if create and read_only:
        raise StoreReadOnly(f"state store {path} is read-only (mode {mode:04o}): fleetctl does not "
                            f"make it writable; 'chmod u+w {path}' to record again, or pass --no-record")
    if create and mode & 0o077:
        os.chmod(path, mode & ~0o077)  # tighten only: never add a bit the user took away
    if read_only:
        from urllib.parse import quote

        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True,
                               timeout=busy_timeout_s, isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")
        if read_only:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != schema.SCHEMA_VERSION:
                raise StoreReadOnly(f"state store {path} is read-only (mode {mode:04o}) and at "
                                    f"schema version {version}, not {schema.SCHEMA_VERSION}: "
                                    f"'chmod u+w {path}' so that it can be upgraded")
            return conn
        mode_name = _wal(conn, busy_timeout_s)
        if mode_name != "wal":
            raise StateError(f"{path}: cannot use WAL mode (journal_mode is {mode_name})")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(path, conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _wal(conn: sqlite3.Connection, busy_timeout_s: float = BUSY_TIMEOUT_S) -> str:
    """Put the file in WAL mode (it stays so); the journal mode it is in.

    Switching needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting (the busy handler is not called), while another process holds any lock:
    e.g. when several cron runs create or upgrade a fresh file together. So the mode is read
    first (a file already in WAL needs no switch), and the switch is retried for up to
    ``busy_timeout_s``."""
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode == "wal":
        return mode
    give_up = time.monotonic() + busy_timeout_s
    delay = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > give_up:
                raise
        time.sleep(min(delay, max(0.0, give_up - time.monotonic())))
        delay = min(delay * 2, 0.1)


def _migrate(path: Path, conn: sqlite3.Connection) -> None:
    """Run the migrations above the file's ``user_version``, in order, in one transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == schema.SCHEMA_VERSION:
        return
    if version > schema.SCHEMA_VERSION:
        raise StateError(f"{path}: schema version {version} is newer than this "
                         f"fleetctl's ({schema.SCHEMA_VERSION}); upgrade fleetctl")
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated it while this one waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise StateError(f"{path}: schema version {version} is newer than this "
                             f"fleetctl's ({schema.SCHEMA_VERSION}); upgrade fleetctl")
        for statements in schema.MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
