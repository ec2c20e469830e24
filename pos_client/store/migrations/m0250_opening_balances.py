"""Opening balances: what a first pull's snapshot (sync/snapshot.py) gave a member instead of its history.

A till that pulls the directory as of one feed position holds no other till's entries up to it: each
member's balance then starts from head office's balance there (less this till's own entries, which it holds),
kept here once, append-only like the ledger. The till's invariant becomes balance = opening + ledger sum
(`store.ledger.ledger_sum`, the doctor's and the backup's checks).
"""

from __future__ import annotations

import sqlite3

DDL = (
    "CREATE TABLE opening_balances (member_id TEXT PRIMARY KEY REFERENCES members(member_id),"
    " points INTEGER NOT NULL, floor INTEGER NOT NULL)",
    "CREATE TRIGGER opening_balances_no_update BEFORE UPDATE ON opening_balances"
    " BEGIN SELECT RAISE(ABORT, 'opening balances are append-only'); END",
    "CREATE TRIGGER opening_balances_no_delete BEFORE DELETE ON opening_balances"
    " BEGIN SELECT RAISE(ABORT, 'opening balances are append-only'); END",
)


def apply(db: sqlite3.Connection) -> None:
    for statement in DDL:
        db.execute(statement)
