"""Opening the till database: WAL, synchronous=FULL, foreign keys, and schema migrations.

A printed balance must survive a power cut, hence synchronous=FULL. Connections run in
autocommit mode and every write goes through `write_txn`, one BEGIN IMMEDIATE ... COMMIT,
so a sale, its lines, its ledger entries and the balance land together or not at all.

Migrations cannot lose data: the pending ones run together in one transaction, after an online
backup of the database (`pre-migration-<last applied>-<time>.db` in the backup directory), and a
database a newer version migrated is refused instead of being half understood.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pos_client.store.migrations as migrations_pkg
from pos_client.domain.errors import UsageError
from pos_client.store import faults
from pos_client.store.integrity import note_damage, stop_file, stopped_at

SNAPSHOT_WAIT_S = 2.0  # how long a write on a shared connection waits for another thread's read of an older snapshot
BACKUP_DIR_NAME = "backups"  # beside the database unless `[backup] dir` says otherwise


class SchemaTooNew(UsageError):
    """The database was migrated by a newer version of the till (exit 2): never guess at its schema."""

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


class TillConnection(sqlite3.Connection):
    """A till database connection that knows its stopped-writing marker (`store.integrity`): `write_txn`
    refuses every write while it exists. `write_lock` is held by `write_txn` (re-entrant: a nested one joins):
    the WAL checkpointer's thread takes it to write on this connection between sales (`store.checkpoint`)."""

    stop_marker: str | None = None
    write_lock: threading.RLock | None = None


def connect(path: str | Path, *, migrate: bool = True, backup_dir: Path | None = None) -> sqlite3.Connection:
    """Open the database with the till's pragmas and bring its schema up to date.

    Before migrating a database that holds data, a copy goes to `backup_dir` (default: `backups/`
    beside the database file)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, factory=TillConnection)
    conn.write_lock = threading.RLock()
    if str(path) != ":memory:":
        conn.stop_marker = str(stop_file(Path(path)))
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if migrate:
        where = backup_dir
        if where is None and str(path) != ":memory:":
            where = Path(path).parent / BACKUP_DIR_NAME
        try:
            apply_migrations(conn, backup_dir=where)
        except BaseException:
            conn.close()
            raise
    return conn


def online_copy(conn: sqlite3.Connection, dest: Path) -> None:
    """Copy the open database to `dest` with SQLite's online backup (a consistent snapshot while the
    till sells), as a file only its owner reads (0600: it holds the head-office token), in rollback
    journal mode so the copy is one self-contained file. `dest` must not exist."""
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    target = sqlite3.connect(str(dest), isolation_level=None)
    try:
        conn.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
        target.execute("PRAGMA synchronous=FULL")
    finally:
        target.close()
    with dest.open("rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def write_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One durable write transaction; nested use joins the outer one.

    Refused (`StoppedWriting`, exit 5) while the database is marked damaged; a storage fault inside it (disk
    full, read-only, file-size limit, damage) rolls it back and becomes a `StorageFault` in words. Held under the
    connection's `write_lock` when it has one, so another thread's write on it never lands inside this one."""
    lock = getattr(conn, "write_lock", None)
    if lock is None:
        with _txn(conn) as joined:
            yield joined
        return
    with lock, _txn(conn) as joined:
        yield joined


def _begin(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE. On a connection threads share (one with a `write_lock`: the till's), another thread's read
    still stepping holds it at an older snapshot, where BEGIN IMMEDIATE fails at once (SQLITE_BUSY_SNAPSHOT) rather
    than waiting: that read ends with its statement, so the BEGIN is tried again for up to `SNAPSHOT_WAIT_S`."""
    deadline = time.monotonic() + SNAPSHOT_WAIT_S
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if (exc.sqlite_errorcode != sqlite3.SQLITE_BUSY_SNAPSHOT or getattr(conn, "write_lock", None) is None
                    or time.monotonic() > deadline):
                raise
        time.sleep(0.002)


@contextmanager
def _txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    if conn.in_transaction:
        yield conn
        return
    marker = getattr(conn, "stop_marker", None)
    if marker is not None and (refusal := stopped_at(marker)) is not None:
        raise refusal
    try:
        _begin(conn)
    except sqlite3.Error as exc:
        raise (faults.as_fault(exc) if faults.is_storage_error(exc) else exc) from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:  # the disk that failed the write may fail this too: SQLite rolls back on reopen
                pass
        if isinstance(exc, sqlite3.Error) and faults.is_storage_error(exc):
            if marker is not None and faults.is_damage(exc):
                note_damage(marker, exc)
            raise faults.as_fault(exc) from exc
        raise


def now_iso() -> str:
    """UTC timestamp with microseconds, sortable as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _migration_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(migrations_pkg.__path__) if m.name.startswith("m")]
    return sorted(names)


def migration_names() -> list[str]:
    """Every migration this version of the till knows, in the order they apply."""
    return _migration_modules()


def schema_version(conn: sqlite3.Connection) -> str | None:
    """The last migration applied (None for a database no migration has touched)."""
    try:
        row = conn.execute("SELECT MAX(name) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row and row[0] else None


def check_not_newer(done: set[str], known: list[str]) -> None:
    """Refuse a database that a newer version of the till migrated (a name this code does not know)."""
    unknown = sorted(done - set(known))
    if unknown:
        raise SchemaTooNew(
            f"this till database was upgraded by a newer version of pos-client (schema {max(unknown)}; this"
            f" version knows up to {known[-1] if known else 'none'}; unknown migrations: {', '.join(unknown)}):"
            " run the newer version, or restore a backup made before the upgrade")


def apply_migrations(conn: sqlite3.Connection, *, backup_dir: Path | None = None) -> list[str]:
    """Apply every migration module not yet recorded, all in one transaction.

    Migrations are named `mNNNN_what.py` with an `apply(conn)` taking the connection; they are
    tracked by name so capabilities can add theirs independently. With pending migrations on a
    database that already has a schema, an online backup goes to `backup_dir` first (named for the
    schema version it holds); a failing migration rolls every pending one back.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    known = _migration_modules()
    done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    check_not_newer(done, known)
    if all(name in done for name in known):
        return []
    if done and backup_dir is not None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        online_copy(conn, backup_dir / f"pre-migration-{max(done)}-{stamp}.db")
    applied: list[str] = []
    with write_txn(conn):
        done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}  # another process may have won
        for name in known:
            if name in done:
                continue
            module = importlib.import_module(f"pos_client.store.migrations.{name}")
            module.apply(conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now_iso()))
            applied.append(name)
    return applied
