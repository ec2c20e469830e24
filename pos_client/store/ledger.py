"""The append-only points ledger and the per-member balance kept in the same transaction.

Entries are keyed by UUID (a replay never counts twice) and by (store, till, seq), the
till's own gap-free sequence that sync pushes in order. Rows are never updated or deleted
(triggers enforce it); corrections are new entries of kind adjust/reverse. Each entry carries the till's
hash chain (`prev_hash`, `entry_hash`: `wire.ledger_chain`), computed here in the same transaction, which
`doctor`, the day's upkeep and head office verify (`store.integrity`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import uuid_utils

from pos_client.domain.bounds import BALANCE, CENTS, POINTS, require
from pos_client.domain.errors import RefusedInput
from pos_client.store.db import now_iso, write_txn
from wire.ledger_chain import chain_hash

KINDS = frozenset({"earn", "redeem", "adjust", "reverse", "expire", "bonus"})


@dataclass(frozen=True)
class Entry:
    """One ledger entry to append; ids and sequence are assigned on append when absent."""

    member_id: str
    kind: str
    points: int
    sale_id: str | None = None
    amount_cents: int = 0
    operator: str | None = None
    reason: str | None = None
    ref: str | None = None
    entry_id: str | None = None
    created_at: str | None = None


def new_id() -> str:
    """A UUID version 7 (RFC 9562) as 32 hex digits: unique without coordination, like uuid4, but
    time-ordered, so new ledger rows, sales and members land at the same end of their primary-key
    indexes instead of on random pages of a 10-million-row B-tree (bench: import at chain scale).

    uuid-utils (Rust) also keeps ids made in the same millisecond in order (RFC 9562 counter)."""
    return uuid_utils.uuid7().hex


def next_seq(conn: sqlite3.Connection, store_id: str, till_id: str) -> int:
    """The till's next own seq: past its ledger and past `till_state.seq_floor` (what head office holds,
    set after a restore). A till restored from a backup adds nothing until its sync has brought back the
    entries it pushed after that backup (`store.backup`, `sync.recover`): their seqs are taken."""
    return _chain_head(conn, store_id, till_id)[0]


def _chain_head(conn: sqlite3.Connection, store_id: str, till_id: str) -> tuple[int, str | None]:
    """The next seq and the hash it links to (`last_hash`), in one statement: an append inside a sale's
    transaction asks once instead of twice."""
    row = conn.execute(
        "SELECT (SELECT seq FROM ledger WHERE store_id = ?1 AND till_id = ?2 ORDER BY seq DESC LIMIT 1),"
        " (SELECT entry_hash FROM ledger WHERE store_id = ?1 AND till_id = ?2 ORDER BY seq DESC LIMIT 1),"
        " (SELECT value FROM till_state WHERE key = 'seq_floor'),"
        " (SELECT value FROM till_state WHERE key = 'restored_seq')", (store_id, till_id)).fetchone()
    if row[3] is not None:
        raise RefusedInput("this till was restored from a backup and has not synced since: run `pos-client sync`"
                           " (head office sends back the points given after the backup) before adding points")
    return max(int(row[0] or 0), int(row[2] or 0)) + 1, (str(row[1]) if row[1] else None)


def append(
    conn: sqlite3.Connection, store_id: str, till_id: str, entries: Iterable[Entry]
) -> list[str]:
    """Append entries and move balances, all in one transaction (joins an open one)."""
    ids: list[str] = []
    with write_txn(conn):
        seq, prev = _chain_head(conn, store_id, till_id)
        ts = now_iso()
        for e in entries:
            if e.kind not in KINDS:
                raise ValueError(f"unknown ledger kind {e.kind!r}")
            if not isinstance(e.points, int) or isinstance(e.points, bool):
                raise TypeError("points are integers")
            require(POINTS, e.points)  # wire.bounds: what head office and every other till can store
            require(CENTS, e.amount_cents, "amount_cents")
            entry_id = e.entry_id or new_id()
            content = (entry_id, e.member_id, store_id, till_id, seq, e.kind, e.points, e.sale_id,
                       e.amount_cents, e.created_at or ts, e.operator, e.reason, e.ref)
            entry_hash = chain_hash(prev, content)
            conn.execute(
                "INSERT INTO ledger (entry_id, member_id, store_id, till_id, seq, kind, points, sale_id,"
                " amount_cents, created_at, operator, reason, ref, prev_hash, entry_hash)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (*content, prev, entry_hash),
            )
            prev = entry_hash
            add_to_balance(conn, e.member_id, e.points, ts)
            ids.append(entry_id)
            seq += 1
    return ids


def last_hash(conn: sqlite3.Connection, store_id: str, till_id: str) -> str | None:
    """The hash the till's next entry links to: its last entry's (None before its first, or an unhashed one)."""
    row = conn.execute("SELECT entry_hash FROM ledger WHERE store_id = ? AND till_id = ? ORDER BY seq DESC LIMIT 1",
                       (store_id, till_id)).fetchone()
    return str(row[0]) if row and row[0] else None


def chained(conn: sqlite3.Connection, store_id: str, till_id: str,
            rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows of the till's own new entries (the 13 chain columns, in seq order, appended in bulk by the
    importer) with their `prev_hash` and `entry_hash` added: call inside the transaction that inserts them."""
    prev = last_hash(conn, store_id, till_id)
    out = []
    for row in rows:
        entry_hash = chain_hash(prev, row)
        out.append((*row, prev, entry_hash))
        prev = entry_hash
    return out


def add_to_balance(conn: sqlite3.Connection, member_id: str, points: int, ts: str | None = None) -> int:
    """Move a member's balance and return it; only call inside the transaction that wrote the ledger rows.

    One statement: the balances CHECK (m0060, `BALANCE`) refuses a balance out of range before it is
    written (points are within `POINTS`, so the sum never overflows int64 into a float), and the refusal
    is worded here; the statement failing leaves the row and the caller's transaction as they were."""
    try:
        row = conn.execute(
            "INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?) ON CONFLICT(member_id)"
            " DO UPDATE SET points = points + excluded.points, updated_at = excluded.updated_at RETURNING points",
            (member_id, points, ts or now_iso())).fetchone()
    except sqlite3.IntegrityError as exc:
        now = balance(conn, member_id)
        if BALANCE.holds(now + points):
            raise
        raise RefusedInput(f"the balance would be {now + points:,} points, outside {BALANCE.low:,} to"
                           f" {BALANCE.high:,}: nothing was recorded") from exc
    return int(row[0])


def add_to_balances(conn: sqlite3.Connection, deltas: Iterable[tuple[str, int]], ts: str) -> None:
    """`add_to_balance` for many members in one executemany (a bulk import). A sum out of `BALANCE` fails the
    statement on the table's CHECK (sqlite3.IntegrityError) with earlier members' rows already moved: the caller
    runs it under a savepoint and words the refusal (`services.importer`)."""
    conn.executemany(
        "INSERT INTO balances (member_id, points, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(member_id) DO UPDATE SET points = points + excluded.points, updated_at = excluded.updated_at",
        [(m, p, ts) for m, p in deltas])


def balance(conn: sqlite3.Connection, member_id: str) -> int:
    row = conn.execute("SELECT points FROM balances WHERE member_id = ?", (member_id,)).fetchone()
    return int(row[0]) if row else 0


def ledger_sum(conn: sqlite3.Connection, member_id: str) -> int:
    """The balance recomputed from the ledger and the opening balance's rows (a first pull's, and each move of
    a balance head office sent: sync/apply.py): the invariant checks compare it to `balance`."""
    row = conn.execute("SELECT COALESCE((SELECT SUM(points) FROM ledger WHERE member_id = ?), 0)"
                       " + COALESCE((SELECT SUM(points) FROM opening_balances WHERE member_id = ?), 0)",
                       (member_id, member_id)).fetchone()
    return int(row[0])


def history(conn: sqlite3.Connection, member_id: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT entry_id, kind, points, sale_id, amount_cents, created_at, store_id, till_id, reason "
        "FROM ledger WHERE member_id = ? ORDER BY created_at DESC, seq DESC LIMIT ?",
        (member_id, limit),
    )
    return [dict(r) for r in rows]
