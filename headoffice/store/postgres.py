"""The PostgreSQL backend (psycopg 3) for a chain that outgrows one file.

Writers take one transaction-scoped advisory lock, so server_seq values are handed out and
committed in order even with several head-office processes: a pull cursor never skips a row.
A till's bookkeeping (`Db.note`) hands out no server_seq and skips that lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from headoffice.store.db import POSTGRES, Db, Row
from headoffice.store.sql import SqlStore

WRITE_LOCK = 0x5EC0_0001
_COPY_FROM = 50  # from this many rows a bulk insert goes through COPY


class PostgresDb(Db):
    """One autocommit psycopg connection; transactions are opened explicitly (writes under the advisory lock)."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__()
        self._conn = psycopg.connect(url, autocommit=True)
        self._in_txn = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._conn.cursor() as cur:
            cur.execute(self.dialect.sql(sql), tuple(params))
            return cur.fetchall() if cur.description else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._conn.cursor() as cur:
                cur.executemany(self.dialect.sql(sql), rows)

    def insert_ignore(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY into a temporary table, then one INSERT ... SELECT: several times faster than executemany."""
        if len(rows) < _COPY_FROM:
            super().insert_ignore(table, columns, rows)
            return
        cols = ", ".join(columns)
        with self._conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS _bulk_{table} (LIKE {table} INCLUDING DEFAULTS)"
                        " ON COMMIT DELETE ROWS")
            with cur.copy(f"COPY _bulk_{table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _bulk_{table} ORDER BY 1"
                        " ON CONFLICT DO NOTHING")
            cur.execute(f"TRUNCATE _bulk_{table}")

    @contextmanager
    def _write_txn(self) -> Iterator[None]:
        if self._in_txn:
            yield
            return
        with self._conn.transaction():
            self._in_txn = True
            try:
                self.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
                yield
            finally:
                self._in_txn = False

    @contextmanager
    def _note_txn(self) -> Iterator[None]:
        """Row upserts only (till bookkeeping): PostgreSQL's row locks suffice, no advisory lock."""
        if self._in_txn:
            yield
            return
        with self._conn.transaction():
            self._in_txn = True
            try:
                yield
            finally:
                self._in_txn = False

    @contextmanager
    def _read_txn(self) -> Iterator[None]:
        if self._in_txn:
            yield
            return
        self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._in_txn = True
        try:
            yield
        finally:
            self._in_txn = False
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._conn.close()


class PostgresStore(SqlStore):
    """The store on a PostgreSQL database (tables created if missing)."""

    def __init__(self, url: str) -> None:
        super().__init__(PostgresDb(url))
