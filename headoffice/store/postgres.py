"""The PostgreSQL backend (psycopg 3) for a chain that outgrows one file.

Writers take one transaction-scoped advisory lock, so server_seq values are handed out and
committed in order even with several head-office processes: a pull cursor never skips a row.
A till's bookkeeping (`Db.note`) hands out no server_seq and skips that lock; a push (`Db.write_late`)
takes it only at its first server_seq, after its reads and checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any

import msgspec
import psycopg
from msgspec.structs import astuple

from headoffice.store.db import POSTGRES, Db, Row, T
from headoffice.store.migrations.v0002_bounds import constraint_name
from headoffice.store.sql import SqlStore

WRITE_LOCK = 0x5EC0_0001
_LOCK_SQL = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_BALANCE_CHECK = constraint_name("balances", "points")
# a push's `balance` feed rows from its per-member sums `s`: MERGE, not INSERT ... ON CONFLICT DO UPDATE, whose
# speculative insertion cost ~30% more per row (every row conflicts: a member's row moves each push, issue 15).
# Safe without ON CONFLICT's guard because every feed writer holds the chain-wide advisory lock (server_seq).
_FEED_MERGE = (" MERGE INTO feed f USING s ON f.entity = 'balance' AND f.key = s.member_id"
               " WHEN MATCHED THEN UPDATE SET server_seq = ? + s.o"
               " WHEN NOT MATCHED THEN INSERT (server_seq, entity, key) VALUES (? + s.o, 'balance', s.member_id)")
_COPY_FROM = 50  # from this many rows a bulk insert goes through COPY
_COPY_LEDGER_FROM = 500  # from this many entries a push's rows go by COPY: below, the one statement's
# fewer round trips under the chain-wide lock (4, not 6) cost less than its row-by-row insert (issue 15)


class PostgresDb(Db):
    """One autocommit psycopg connection; transactions are opened explicitly (writes under the advisory lock)."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__()
        self._conn = psycopg.connect(url, autocommit=True)
        self._in_txn = False
        self._serial = False  # this transaction holds the advisory lock
        self._due: tuple[str, ...] = ()  # BEGIN and the lock, asked for, sent ahead of the next statement

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._conn.cursor() as cur:
            due = self._due
            if not due:
                cur.execute(self.dialect.sql(sql), tuple(params))
                return cur.fetchall() if cur.description else []
            self._due = ()
            with self._conn.pipeline() as pipe:  # BEGIN, the lock and the statement in one round trip
                for statement in due:
                    self._conn.execute(statement)
                cur.execute(self.dialect.sql(sql), tuple(params))
                pipe.sync()
                return cur.fetchall() if cur.description else []

    def _take_lock(self) -> None:
        """Send what is due (BEGIN, the lock) before a statement that cannot carry it in its round trip."""
        if self._due:
            self.execute("SELECT 1")

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        self._take_lock()
        with self._conn.cursor() as cur:
            cur.executemany(self.dialect.sql(sql), rows)
            return max(cur.rowcount, 0)

    def insert_new(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """COPY straight into the table under a savepoint: a push of new rows (the usual one) costs one COPY.
        When a row hits a unique key (a replay, a reused seq) the database's constraint refuses the COPY; the
        savepoint is rolled back and the rows go through a temporary table and INSERT ... ON CONFLICT DO NOTHING."""
        if len(rows) < _COPY_FROM:
            return super().insert_new(table, columns, rows)
        self._take_lock()
        cols = ", ".join(columns)
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                _copy(cur, f"COPY {table} ({cols}) FROM STDIN", rows)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            pass
        return self._through_temp(table, columns, rows, "ON CONFLICT DO NOTHING")

    def append_ledger(self, columns: Sequence[str], records: Sequence[Any], now: str) -> list[Row]:
        """A big push (every entry new) in three round trips under the chain-wide lock: the counter moved
        once for the rows and a `balance` feed row per member, the rows by COPY (PostgreSQL's fastest write;
        a row-by-row INSERT from a JSON array cost twice as much, issue 15), then the balances and their feed
        rows in one statement, from the per-member sums of the rows (all taken, or the COPY fails). A replay
        or a reused seq makes the ledger's unique keys refuse the COPY: the savepoint is rolled back and the
        batch goes through `_append_some`, where ON CONFLICT DO NOTHING keeps what is new. Idempotency stays
        the database's constraints' either way."""
        if len(records) < _COPY_LEDGER_FROM:
            return self._append_some(columns, records, now)
        self.serialise()
        sums: dict[str, int] = {}
        for r in records:
            sums[r.member_id] = sums.get(r.member_id, 0) + r.points
        members = sorted(sums)  # the feed rows follow the rows in member_id order
        n, m = len(records), len(members)
        self._due = (*self._due, "SAVEPOINT append_ledger")
        base = int(self.value("UPDATE meta SET value = value + ? WHERE key = 'server_seq' RETURNING value - ?",
                              (n + m, n + m)))
        cols = ", ".join(columns)
        try:
            with self._conn.cursor() as cur:
                _copy(cur, f"COPY ledger (server_seq, {cols}, received_at) FROM STDIN",
                      [(base + i, *astuple(r), now) for i, r in enumerate(records, 1)])
        except psycopg.errors.UniqueViolation:
            self._conn.execute("ROLLBACK TO SAVEPOINT append_ledger")
            return self._append_some(columns, records, now)
        self._due = (*self._due, "RELEASE SAVEPOINT append_ledger")
        self.execute(  # the per-member sums as two array literals: no read-back of the rows, no sort in SQL
            "WITH s AS (SELECT * FROM unnest(?::text[], ?::bigint[]) WITH ORDINALITY AS u(member_id, points, o)),"
            " moved AS (INSERT INTO balances (member_id, points, updated_at) SELECT member_id, points, ? FROM s"
            " ON CONFLICT (member_id) DO UPDATE"
            " SET points = balances.points + excluded.points, updated_at = excluded.updated_at)"
            + _FEED_MERGE, (_text_array(members), "{" + ",".join(str(sums[k]) for k in members) + "}", now,
                            base + n, base + n))
        return [(r.member_id, r.points) for r in records]

    def _append_some(self, columns: Sequence[str], records: Sequence[Any], now: str) -> list[Row]:
        """`append_ledger` in one statement that keeps only what the unique keys let in (a small push, a
        replay): the rows from one JSON array, numbered in order, the balances and feed rows of what was taken.
        One counter move covers the rows and a feed row per member of the batch (a member whose entries were all
        replays leaves a gap, as a refused row does); the feed rows follow the rows, by member_id."""
        self.serialise()
        n, members = len(records), len({r.member_id for r in records})
        cols = ", ".join(columns)
        return self.execute(
            "WITH top AS (UPDATE meta SET value = value + ? WHERE key = 'server_seq' RETURNING value - ? AS base),"
            f" taken AS (INSERT INTO ledger (server_seq, {cols}, received_at)"
            f" SELECT top.base + r.ordinality, {', '.join(f'r.{c}' for c in columns)}, ? FROM top,"
            " json_populate_recordset(NULL::ledger, ?::json) WITH ORDINALITY AS r ORDER BY r.ordinality"
            " ON CONFLICT DO NOTHING RETURNING member_id, points),"
            " moved AS (INSERT INTO balances (member_id, points, updated_at)"
            " SELECT member_id, SUM(points), ? FROM taken GROUP BY member_id ON CONFLICT (member_id) DO UPDATE"
            " SET points = balances.points + excluded.points, updated_at = excluded.updated_at),"
            " fed AS (INSERT INTO feed (server_seq, entity, key)"
            " SELECT top.base + ? + row_number() OVER (ORDER BY m.member_id), 'balance', m.member_id"
            " FROM top, (SELECT DISTINCT member_id FROM taken) m"
            " ON CONFLICT (entity, key) DO UPDATE SET server_seq = excluded.server_seq)"
            " SELECT member_id, points FROM taken",
            (n + members, n + members, now, _json(records), now, n))

    def within_bounds(self, write: Callable[[], T]) -> T | None:
        """Under a savepoint (sent with the next statement, no round trip of its own), undone when the balances'
        CHECK refused: the push then reads the balances and quarantines what would leave the bounds. Reading a
        thousand balances first, every push, to find the none that ever do cost ~7% of a push (issue 15)."""
        self.serialise()  # the lock before the savepoint: a rollback to it must not give the lock back
        self._due = (*self._due, "SAVEPOINT within_bounds")
        try:
            out = write()
        except psycopg.errors.CheckViolation as exc:
            if exc.diag.constraint_name != _BALANCE_CHECK:
                raise  # the whole transaction rolls back
            self._due = ()  # the savepoint went out with the statement that failed
            self._conn.execute("ROLLBACK TO SAVEPOINT within_bounds")
            self._conn.execute("RELEASE SAVEPOINT within_bounds")
            return None
        self._due = (*self._due, "RELEASE SAVEPOINT within_bounds")  # with the next statement, or at COMMIT
        return out

    def upsert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], on_conflict: str) -> None:
        """Many rows: one INSERT ... SELECT FROM unnest(one array per column) ... ON CONFLICT."""
        if len(rows) < _COPY_FROM:
            super().upsert(table, columns, rows, on_conflict)
            return
        arrays = [list(col) for col in zip(*rows, strict=True)]
        casts = ", ".join(f"%s::{_array_type(a)}" for a in arrays)
        self.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({casts})"
                     f" ON CONFLICT {on_conflict}", arrays)

    def rows_in(self, sql: str, keys: Sequence[Any]) -> list[Row]:
        """One query whatever the number of keys: `= ANY(array)` (one statement shape, one round trip)."""
        if not keys:
            return []
        if all(isinstance(k, str) for k in keys):  # a push's thousand member ids: a literal, not psycopg's list
            return self.execute(sql.replace("IN ({marks})", "= ANY(%s::text[])"), [_text_array(keys)])
        return self.execute(sql.replace("IN ({marks})", "= ANY(%s)"), [list(keys)])

    def _through_temp(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], conflict: str) -> int:
        """COPY into a session temporary table shaped like `table`, then one INSERT ... SELECT; rows inserted."""
        cols = ", ".join(columns)
        with self._conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS _bulk_{table} (LIKE {table} INCLUDING DEFAULTS)"
                        " ON COMMIT DELETE ROWS")
            _copy(cur, f"COPY _bulk_{table} ({cols}) FROM STDIN", rows)
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _bulk_{table} ORDER BY 1 {conflict}")
            taken = max(cur.rowcount, 0)
            cur.execute(f"TRUNCATE _bulk_{table}")
        return taken

    def _write_txn(self) -> AbstractContextManager[None]:
        return self._txn(serial=True)

    def _late_txn(self) -> AbstractContextManager[None]:
        """A push: its reads and its own till's rows first; the advisory lock at its first server_seq."""
        return self._txn(serial=False)

    def _note_txn(self) -> AbstractContextManager[None]:
        """Row upserts only (till bookkeeping): PostgreSQL's row locks suffice, no advisory lock."""
        return self._txn(serial=False)

    def serialise(self) -> None:
        """The chain-wide advisory lock, once per transaction (released at its commit or rollback), sent with
        the next statement: the lock's round trip is not one more the holder makes."""
        if self._in_txn and not self._serial:
            self._serial = True
            self._due = (*self._due, _LOCK_SQL)

    @contextmanager
    def _txn(self, serial: bool) -> Iterator[None]:
        """One transaction (joined when one is open); `serial`: the chain-wide advisory lock that orders
        server_seq writers, so a pull never skips a row committed late (a serial write joining a late one
        takes it at that point)."""
        if self._in_txn:
            if serial:
                self.serialise()
            yield
            return
        with self._begun("BEGIN"):
            if serial:
                self.serialise()
            yield

    @contextmanager
    def _read_txn(self) -> Iterator[None]:
        if self._in_txn:
            yield
            return
        with self._begun("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"):
            yield

    @contextmanager
    def _begun(self, begin: str) -> Iterator[None]:
        """A transaction whose BEGIN goes out with its first statement (one round trip fewer for every
        transaction, two for a lone read: BEGIN, the statement, COMMIT were three); committed on the way out,
        rolled back on an error; nothing to end when no statement was sent."""
        self._in_txn, self._serial, self._due = True, False, (begin,)
        try:
            yield
        except BaseException:
            if self._sent(begin):
                with suppress(psycopg.Error):  # a broken connection: the pool drops it (not IDLE)
                    self._conn.execute("ROLLBACK")
            raise
        else:
            if self._sent(begin):  # what is still due (a RELEASE) COMMIT does anyway
                self._conn.execute("COMMIT")
        finally:
            self._in_txn, self._serial, self._due = False, False, ()

    def _sent(self, begin: str) -> bool:
        """Whether this transaction's BEGIN went out (it is due until its first statement)."""
        return not self._due or self._due[0] != begin

    def close(self) -> None:
        with self.lock:
            self._conn.close()


def _array_type(values: Sequence[Any]) -> str:
    """The PostgreSQL array type of one column's values (whole numbers are bigint, the rest text)."""
    present = [v for v in values if v is not None]
    return "bigint[]" if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) else "text[]"


def _text_array(keys: Sequence[str]) -> str:
    """A text[] literal of `keys`, each quoted (a fifth of psycopg's dump of a list of 1,000 strings)."""
    joined = '","'.join(keys)
    if "\\" in joined or joined.count('"') != 2 * (len(keys) - 1):  # a key holding `\` or `"`: escape them
        joined = '","'.join(k.replace("\\", "\\\\").replace('"', '\\"') for k in keys)
    return '{"' + joined + '"}'


def _json(records: Sequence[Any]) -> str:
    """The records as one JSON array of objects (what json_populate_recordset reads)."""
    return msgspec.json.encode(records).decode()


def _copy(cur: psycopg.Cursor[Any], statement: str, rows: Sequence[Sequence[Any]]) -> None:
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


class PostgresStore(SqlStore):
    """The store on a PostgreSQL database (tables created if missing)."""

    def __init__(self, url: str) -> None:
        super().__init__(PostgresDb(url))
