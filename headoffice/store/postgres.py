"""The PostgreSQL backend (psycopg 3) for a chain that outgrows one file.

Writers take one transaction-scoped advisory lock, so server_seq values are handed out and
committed in order even with several head-office processes: a pull cursor never skips a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from headoffice.store.sql import SqlStore

WRITE_LOCK = 0x5EC0_0001


class PostgresStore(SqlStore):
    BIGINT = "BIGINT"
    SEQ_PK = "BIGINT PRIMARY KEY"

    def __init__(self, url: str):
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._in_txn = False
        super().__init__()

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._conn.cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)  # type: ignore[arg-type]

    def _insert_ignore(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY into a temporary table, then one INSERT ... SELECT: several times faster than executemany."""
        if len(rows) < 50:
            super()._insert_ignore(table, columns, rows)
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
    def _write(self) -> Iterator[None]:
        if self._in_txn:
            yield
            return
        with self._conn.transaction():
            self._in_txn = True
            try:
                self._execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
                yield
            finally:
                self._in_txn = False

    @contextmanager
    def _read(self) -> Iterator[None]:
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
        with self._lock:
            self._conn.close()
