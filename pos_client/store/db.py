"""Opening the till database: WAL, synchronous=FULL, foreign keys, and schema migrations.

A printed balance must survive a power cut, hence synchronous=FULL. Connections run in
autocommit mode and every write goes through `write_txn`, one BEGIN IMMEDIATE ... COMMIT,
so a sale, its lines, its ledger entries and the balance land together or not at all.
"""

from __future__ import annotations

import importlib
import pkgutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pos_client.store.migrations as migrations_pkg

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


def connect(path: str | Path, *, migrate: bool = True) -> sqlite3.Connection:
    """Open the database with the till's pragmas and bring its schema up to date."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if migrate:
        apply_migrations(conn)
    return conn


@contextmanager
def write_txn(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One durable write transaction; nested use joins the outer one."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now_iso() -> str:
    """UTC timestamp with microseconds, sortable as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _migration_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(migrations_pkg.__path__) if m.name.startswith("m")]
    return sorted(names)


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration module not yet recorded, each in its own transaction.

    Migrations are named `mNNNN_what.py` with an `apply(conn)` taking the connection;
    they are tracked by name so capabilities can add theirs independently.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    applied: list[str] = []
    for name in _migration_modules():
        if name in done:
            continue
        module = importlib.import_module(f"pos_client.store.migrations.{name}")
        with write_txn(conn):
            module.apply(conn)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now_iso()))
        applied.append(name)
    return applied
