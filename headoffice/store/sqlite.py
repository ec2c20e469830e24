"""The embedded backend: one SQLite file, no configuration, writers serialised by BEGIN IMMEDIATE."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from headoffice.store.db import SQLITE, Db, Row
from headoffice.store.sql import SqlStore


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
