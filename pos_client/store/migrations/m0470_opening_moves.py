"""Opening balances by member and feed position: a till's view moves them (ARCHITECTURE.md, "First pull").

A till no longer takes other tills' entries for members it does not follow: head office sends each changed
member's balance instead, and the till moves the member's opening balance by a further row (the difference,
at the change's feed position), never by editing one. The table stays append-only; a member's opening
balance is the sum of its rows (indexed by member and floor; several may share a floor: a followed member's
history and a balance at one position), so the invariant is still balance = opening + ledger sum.
"""

from __future__ import annotations

import sqlite3

DDL = (
    "CREATE TABLE opening_balances_keyed (member_id TEXT NOT NULL REFERENCES members(member_id),"
    " points INTEGER NOT NULL, floor INTEGER NOT NULL)",
    "INSERT INTO opening_balances_keyed (member_id, points, floor)"
    " SELECT member_id, points, floor FROM opening_balances",
    "DROP TABLE opening_balances",  # its append-only triggers go with it (a DROP fires no DELETE trigger)
    "ALTER TABLE opening_balances_keyed RENAME TO opening_balances",
    "CREATE INDEX idx_opening_balances_member ON opening_balances (member_id, floor)",
    "CREATE TRIGGER opening_balances_no_update BEFORE UPDATE ON opening_balances"
    " BEGIN SELECT RAISE(ABORT, 'opening balances are append-only'); END",
    "CREATE TRIGGER opening_balances_no_delete BEFORE DELETE ON opening_balances"
    " BEGIN SELECT RAISE(ABORT, 'opening balances are append-only'); END",
)


def apply(db: sqlite3.Connection) -> None:
    for statement in DDL:
        db.execute(statement)
