"""One connection, its transactions and its SQL dialect, shared by every head-office repository.

The repositories (members, ledger, documents, ...) write their SQL once, with `?` placeholders and
portable SQL (ON CONFLICT, RETURNING); everything that differs between SQLite and PostgreSQL lives
in a `Db` subclass (how to open, lock and bulk-load) and its `Dialect` (column types, placeholders).
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

Row = tuple[Any, ...]
T = TypeVar("T")

# an entity appears in the change feed once, at its latest change (headoffice.store.feed)
FEED_UPSERT = ("INSERT INTO feed (server_seq, entity, key) VALUES (?, ?, ?)"
               " ON CONFLICT (entity, key) DO UPDATE SET server_seq = excluded.server_seq")


@dataclass(frozen=True)
class Dialect:
    """The SQL differences between backends: integer column types and the placeholder style."""

    bigint: str
    seq_pk: str
    placeholder: str = "?"
    row_lock: str = ""  # appended to a SELECT that locks its rows until commit (SQLite's write is one writer)

    def sql(self, text: str) -> str:
        """Repositories write `?`; a backend with another paramstyle gets its own."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def ddl(self, text: str) -> str:
        """Fill the schema's {BIGINT} and {SEQ_PK} column types."""
        return text.replace("{BIGINT}", self.bigint).replace("{SEQ_PK}", self.seq_pk)


SQLITE = Dialect(bigint="INTEGER", seq_pk="INTEGER PRIMARY KEY")
POSTGRES = Dialect(bigint="BIGINT", seq_pk="BIGINT PRIMARY KEY", placeholder="%s", row_lock=" FOR UPDATE")


class Db(ABC):
    """A DB-API connection used by one process: writers serialised, reads on one snapshot.

    One re-entrant lock guards the connection (the HTTP server calls the store from a thread
    pool); a write or read opened inside another joins it, so a repository method can be called
    on its own or from inside a push's single transaction.
    """

    dialect: Dialect

    def __init__(self) -> None:
        self.lock = threading.RLock()

    # --- what a backend provides --------------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; its rows (empty when it returns none)."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement per row (nothing when there are no rows); the rows they changed."""

    @abstractmethod
    def _write_txn(self) -> AbstractContextManager[None]:
        """Begin (or join) a serialised write transaction; commit on exit, roll back on error."""

    @abstractmethod
    def _read_txn(self) -> AbstractContextManager[None]:
        """Begin (or join) a read on one snapshot."""

    @abstractmethod
    def close(self) -> None: ...

    # --- shared on top ----------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[None]:
        """One serialised write transaction (nested calls join the outer one)."""
        with self.lock, self._write_txn():
            yield

    @contextmanager
    def write_late(self) -> Iterator[None]:
        """A write transaction that queues for the chain-wide writer lock only at `serialise()` (the first
        server_seq takes it): a push's reads, checks and its own till's rows go before, not under, the lock
        every push in the chain waits on (issue 15)."""
        with self.lock, self._late_txn():
            yield

    @contextmanager
    def write_till(self, store_id: str, till_id: str) -> Iterator[None]:
        """A serialised write that changes a till's row (a revocation, a new code), taking that row's lock
        before the chain-wide writer lock: the order a push takes them (it locks its till's row to read
        high_seq, then the chain-wide lock at its first server_seq). In the other order a revocation and the
        till's push in flight deadlocked on PostgreSQL (issue 15)."""
        with self.write_late():
            self.execute("SELECT 1 FROM tills WHERE store_id = ? AND till_id = ?" + self.dialect.row_lock,
                         (store_id, till_id))
            self.serialise()
            yield

    def _late_txn(self) -> AbstractContextManager[None]:
        """A backend whose every write is already serial (SQLite's BEGIN IMMEDIATE) opens a plain write."""
        return self._write_txn()

    def serialise(self) -> None:
        """Take the chain-wide writer lock now if this transaction does not hold it (`ChangeFeed.alloc` calls
        it before handing out server_seq values); nothing to do where every write is serial already."""
        return None

    def _note_txn(self) -> AbstractContextManager[None]:
        """A write that takes no server_seq; a backend may skip its chain-wide writer lock for it."""
        return self._write_txn()

    @contextmanager
    def note(self) -> Iterator[None]:
        """A till's bookkeeping (last contact, last pull, request counters): a row upsert that hands out no
        server_seq, so it need not queue behind every push's chain-wide lock (issue 15: it did, and pushes
        waited on pulls)."""
        with self.lock, self._note_txn():
            yield

    @contextmanager
    def read(self) -> Iterator[None]:
        """A consistent read (one snapshot)."""
        with self.lock, self._read_txn():
            yield

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row, or None."""
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the one row a query always returns (a count, a counter)."""
        rows = self.execute(sql, params)
        if not rows:
            raise LookupError(f"no row from: {sql}")
        return rows[0][0]

    def insert_new(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Bulk insert skipping rows that hit a unique key; how many were inserted (the ingest hot path:
        when all were, the caller knows what it wrote without reading it back; backends may do better)."""
        return self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(len(columns))})"
                                " ON CONFLICT DO NOTHING", rows)

    def append_ledger(self, columns: Sequence[str], records: Sequence[Any], now: str) -> list[Row] | None:
        """Hand out server_seq values, insert the new of these ledger records (structs whose fields are `columns`)
        numbered in order, move the balances by what was taken, record a `balance` feed row per member moved,
        and return the (member_id, points) taken, all in one statement; None where the backend has no such
        statement (the caller does it step by step)."""
        return None

    def within_bounds(self, write: Callable[[], T]) -> T | None:
        """Run `write`, which moves balances, where the database's own CHECK refuses a balance outside
        `wire.bounds.BALANCE`: its result, or None with nothing of it kept when the check refused. None at once
        here: the caller reads the balances it moves first (a backend may do better)."""
        return None

    def feed_rows(self, entity: str, keys: Sequence[str], base: int) -> None:
        """Put each of `keys` (unique) in the change feed at server_seq base + 1, base + 2, ... in order, moving
        the ones already there; one statement per key here, one for them all where the backend can."""
        self.executemany(FEED_UPSERT, [(base + i + 1, entity, k) for i, k in enumerate(keys)])

    def upsert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], on_conflict: str) -> None:
        """INSERT each row `ON CONFLICT <on_conflict>` (keys unique within `rows`): one statement per row here,
        one for them all where the backend can (a push moves a thousand balances)."""
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(len(columns))})"
                         f" ON CONFLICT {on_conflict}", rows)

    def rows_in(self, sql: str, keys: Sequence[Any]) -> list[Row]:
        """`sql` (with one `{marks}` for an IN list) run over `keys` in chunks; all the rows."""
        out: list[Row] = []
        for part in chunks(keys):
            out += self.execute(sql.format(marks=marks(len(part))), part)
        return out


def now_iso() -> str:
    """UTC, microseconds: sorts as text in both backends."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sha256(secret: str) -> str:
    """Codes and tokens are stored hashed: a copy of the database signs no one in."""
    return hashlib.sha256(secret.encode()).hexdigest()


def chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """Slices small enough for an `IN (...)` list on either backend."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def marks(n: int) -> str:
    """`?, ?, ?` for an `IN (...)` list of n values."""
    return ", ".join("?" * n)
