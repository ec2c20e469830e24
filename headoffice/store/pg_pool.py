"""A PostgreSQL store whose request threads run side by side, each on a pooled connection.

`PostgresDb` is one connection behind one process-wide lock: a worker serves one database call at a time.
Here each thread borrows a connection for its outermost transaction (or lone statement) and gives it back,
so a worker's pulls and reads overlap; writers still queue on PostgreSQL's advisory lock, which is what
keeps server_seq in commit order across every worker (`postgres.py`). psycopg_pool is not a dependency of
the project, so the pool is the few lines below: fixed size, connections opened when first needed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from headoffice.store.db import Db, Row
from headoffice.store.postgres import PostgresDb
from headoffice.store.sql import SqlStore

DEFAULT_SIZE = 8
# threads per worker inside a server_seq write: half the default pool. A push holds the chain-wide lock only
# from its first server_seq (`Db.write_late`), so several do their reads and checks side by side; the other
# half of the pool is left to the pulls, which need no lock.
WRITERS = 4
WAIT_SECONDS = 30.0  # a request waits this long for a free connection, then fails (a 500, counted)


class Pool:
    """At most `size` autocommit connections; a broken one is dropped and reopened on next use."""

    def __init__(self, url: str, size: int = DEFAULT_SIZE, wait: float = WAIT_SECONDS) -> None:
        if size < 1:
            raise ValueError(f"a pool holds at least one connection, not {size}")
        self._url = url
        self._wait = wait
        self._free: queue.LifoQueue[psycopg.Connection[Any] | None] = queue.LifoQueue()
        for _ in range(size):
            self._free.put(None)  # a slot: opened on first use
        self.size = size

    def get(self) -> psycopg.Connection[Any]:
        try:
            conn = self._free.get(timeout=self._wait)
        except queue.Empty:
            raise TimeoutError(f"no database connection free within {self._wait:.0f} s ({self.size} in the pool)"
                               ) from None
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(self._url, autocommit=True)
            except BaseException:
                self._free.put(None)
                raise
        return conn

    def put(self, conn: psycopg.Connection[Any]) -> None:
        healthy = not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if not healthy:
            conn.close()
        self._free.put(conn if healthy else None)

    def close(self) -> None:
        for _ in range(self.size):
            try:
                conn = self._free.get(timeout=self._wait)
            except queue.Empty:
                return  # a connection still lent out: the process is ending anyway
            if conn is not None:
                conn.close()


class _Bound(threading.local):
    """The connection this thread borrowed, and whether it is inside a transaction."""

    conn: psycopg.Connection[Any] | None = None
    in_txn: bool = False
    serial: bool = False
    due: tuple[str, ...] = ()


class PooledPostgresDb(PostgresDb):
    """`PostgresDb`'s SQL and transactions, on the calling thread's borrowed connection, without its lock."""

    def __init__(self, url: str, size: int = DEFAULT_SIZE, writers: int = WRITERS) -> None:
        Db.__init__(self)  # not PostgresDb's: its one connection is what the pool replaces
        self.pool = Pool(url, size)
        self._writers = threading.BoundedSemaphore(max(1, min(writers, size - 1)) if size > 1 else 1)
        self._bound = _Bound()

    @property
    def _conn(self) -> psycopg.Connection[Any]:
        conn = self._bound.conn
        if conn is None:
            raise RuntimeError("no connection borrowed by this thread")
        return conn

    @_conn.setter
    def _conn(self, conn: psycopg.Connection[Any]) -> None:
        self._bound.conn = conn

    @property
    def _in_txn(self) -> bool:
        return self._bound.in_txn

    @_in_txn.setter
    def _in_txn(self, value: bool) -> None:
        self._bound.in_txn = value

    @property
    def _serial(self) -> bool:
        return self._bound.serial

    @_serial.setter
    def _serial(self, value: bool) -> None:
        self._bound.serial = value

    @property
    def _due(self) -> tuple[str, ...]:
        return self._bound.due

    @_due.setter
    def _due(self, value: tuple[str, ...]) -> None:
        self._bound.due = value

    @contextmanager
    def _borrowed(self) -> Iterator[None]:
        """Borrow a connection for the outermost call on this thread; nested calls use the same one."""
        if self._bound.conn is not None:
            yield
            return
        conn = self._bound.conn = self.pool.get()
        try:
            yield
        finally:
            self._bound.conn = None
            self._bound.in_txn = False
            self._bound.serial = False
            self._bound.due = ()
            self.pool.put(conn)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._borrowed():
            return super().execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        with self._borrowed():
            return super().executemany(sql, rows)

    def insert_new(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        with self._borrowed():
            return super().insert_new(table, columns, rows)

    def upsert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], on_conflict: str) -> None:
        with self._borrowed():
            super().upsert(table, columns, rows, on_conflict)

    def rows_in(self, sql: str, keys: Sequence[Any]) -> list[Row]:
        with self._borrowed():
            return super().rows_in(sql, keys)

    @contextmanager
    def write(self) -> Iterator[None]:
        """A server_seq write: at most `writers` of this worker's threads hold a connection for one.

        Only one push at a time gets PostgreSQL's advisory lock, chain-wide; a push that queued for it while
        holding a pooled connection took that connection from the pulls (200-till load test: 10+ connections
        waiting on the lock, pulls seconds behind them). Queued here, a push holds no connection.
        """
        if self._bound.conn is not None:  # joining this thread's transaction
            with self._write_txn():
                yield
            return
        with self._writers, self._borrowed(), self._write_txn():
            yield

    @contextmanager
    def write_late(self) -> Iterator[None]:
        """A push: counted among the `writers` like `write`, its advisory lock taken at its first server_seq."""
        if self._bound.conn is not None:
            with self._late_txn():
                yield
            return
        with self._writers, self._borrowed(), self._late_txn():
            yield

    @contextmanager
    def note(self) -> Iterator[None]:
        with self._borrowed(), self._note_txn():
            yield

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._borrowed(), self._read_txn():
            yield

    def close(self) -> None:
        self.pool.close()


class PooledPostgresStore(SqlStore):
    """The store on PostgreSQL with `size` pooled connections (one `headoffice serve` worker's)."""

    def __init__(self, url: str, size: int = DEFAULT_SIZE) -> None:
        super().__init__(PooledPostgresDb(url, size))


def open_pooled(url: str, size: int = DEFAULT_SIZE) -> SqlStore:
    """The pooled store for a postgresql:// URL (SQLite has one writer per file: it is never pooled)."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"a connection pool needs a postgresql:// database, not {url!r}")
    return PooledPostgresStore(url, size)
