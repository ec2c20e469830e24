"""The ledger's hash chain (issue 11, finding 4): `prev_hash` and `entry_hash` on every entry, backfilled.

Each entry's hash covers its content and the hash of the same till's entry before it in seq order
(`wire.ledger_chain`), so `doctor`, the day's upkeep and head office notice an entry changed, damaged or
removed. Existing rows get theirs here, per (store, till) in seq order, as `ledger.append` would have given
them. The append-only triggers are lifted for the backfill only (the same transaction puts them back, as
they were: m0060 may have rebuilt the table with its own), so nothing else can change a row meanwhile.
"""

from __future__ import annotations

import sqlite3

from wire.ledger_chain import CHAIN_COLUMNS, chain_hash

_BATCH = 5000


def apply(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE ledger ADD COLUMN prev_hash TEXT")
    db.execute("ALTER TABLE ledger ADD COLUMN entry_hash TEXT")
    triggers = [(r[0], r[1]) for r in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger' AND sql IS NOT NULL")]
    update_guards = [(name, sql) for name, sql in triggers if " UPDATE " in f" {sql.upper()} "]
    for name, _ in update_guards:
        db.execute(f'DROP TRIGGER "{name}"')
    _backfill(db)
    for _, sql in update_guards:
        db.execute(sql)


def _backfill(db: sqlite3.Connection) -> None:
    """Per till, in seq order, a batch at a time (each read done before its rows are written)."""
    cols = ", ".join(CHAIN_COLUMNS)
    tills = db.execute("SELECT DISTINCT store_id, till_id FROM ledger ORDER BY 1, 2").fetchall()
    for store_id, till_id in tills:
        prev: str | None = None
        last_seq = -1
        while True:
            rows = db.execute(f"SELECT {cols} FROM ledger WHERE store_id = ? AND till_id = ? AND seq > ?"
                              " ORDER BY seq LIMIT ?", (store_id, till_id, last_seq, _BATCH)).fetchall()
            if not rows:
                break
            updates = []
            for row in rows:
                entry_hash = chain_hash(prev, tuple(row))
                updates.append((prev, entry_hash, row[0]))
                prev = entry_hash
            last_seq = int(rows[-1][4])
            db.executemany("UPDATE ledger SET prev_hash = ?, entry_hash = ? WHERE entry_id = ?", updates)
