"""The embedded backend: one SQLite file, no configuration, writers serialised by BEGIN IMMEDIATE."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from headoffice.store.db import SQLITE, Db, Row, T
from headoffice.store.migrations.v0002_bounds import constraint_name
from headoffice.store.sql import SqlStore

_BALANCE_CHECK = f"CHECK constraint failed: {constraint_name('balances', 'points')}"

# the keys as one JSON array, numbered in its order (`WHERE true`: an upsert's SELECT needs a WHERE clause)
_FEED_FROM_JSON = ("INSERT INTO feed (server_seq, entity, key) SELECT ? + j.key + 1, ?, j.value FROM json_each(?) j"
                   " WHERE true ON CONFLICT (entity, key) DO UPDATE SET server_seq = excluded.server_seq")


class SqliteDb(Db):
    """A WAL-mode SQLite connection in autocommit mode; transactions are begun explicitly."""

    dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=10000"):
            self._conn.execute(pragma)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self._conn.executemany(sql, rows).rowcount if rows else 0

    def within_bounds(self, write: Callable[[], T]) -> T | None:
        """Under a savepoint, undone when the balances' CHECK (schema v2) refused: a push then reads the balances
        and quarantines what would leave the bounds. Reading a thousand balances first, every push, to find the
        none that ever do cost ~5% of the raw write of its rows (issue 15: ingest rate)."""
        self._conn.execute("SAVEPOINT within_bounds")
        try:
            out = write()
        except sqlite3.IntegrityError as exc:
            if _BALANCE_CHECK not in str(exc):
                raise  # the whole transaction rolls back
            self._conn.execute("ROLLBACK TO within_bounds")
            self._conn.execute("RELEASE within_bounds")
            return None
        self._conn.execute("RELEASE within_bounds")
        return out

    def feed_rows(self, entity: str, keys: Sequence[str], base: int) -> None:
        """One statement over a JSON array of the keys: a push moves a thousand members' `balance` rows, and
        one upsert per row cost 1.5-2x as much (issue 15: ingest rate). Keys holding NUL, which SQLite's JSON
        functions may not carry exactly, take the statement per row."""
        if len(keys) < 2 or any("\x00" in k for k in keys):
            super().feed_rows(entity, keys, base)
            return
        self._conn.execute(_FEED_FROM_JSON, (base, entity, json.dumps(keys, ensure_ascii=False)))

    @contextmanager
    def _write_txn(self) -> Iterator[None]:
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def _read_txn(self) -> Iterator[None]:
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._conn.close()


class SqliteStore(SqlStore):
    """The store on one SQLite file (created if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(SqliteDb(path))
